//! W3C webrtc-pc §5.4 `setCodecPreferences(codecs)`: the checks it makes
//! on the list and the offer a list it takes produces.

use std::time::{Instant, SystemTime};

use ferrtc_core::{Config, MediaKind, PeerConnection, RtpCodec, RtpTransceiverInit, TransceiverId};

fn peer() -> PeerConnection {
    let mut config = Config::default();
    config.rng_seed = Some([7; 32]);
    PeerConnection::new(config, Instant::now(), SystemTime::now()).unwrap()
}

/// The payload types of the first `m=` line of `sdp`.
/// A peer with one video transceiver, and the video capabilities.
fn video_peer() -> (PeerConnection, TransceiverId, Vec<RtpCodec>) {
    let mut pc = peer();
    let video = pc
        .add_transceiver(MediaKind::Video, RtpTransceiverInit::default())
        .unwrap();
    (
        pc,
        video,
        PeerConnection::codec_capabilities(&MediaKind::Video),
    )
}

fn m_line_formats(sdp: &str) -> Vec<String> {
    let m = sdp.lines().find(|l| l.starts_with("m=")).unwrap();
    m.split(' ').skip(3).map(str::to_owned).collect()
}

/// webrtc-pc §5.4 setCodecPreferences step "if the intersection between
/// codecs and getCapabilities(kind).codecs only contains RTX, RED or FEC
/// codecs or comfort noise, or is an empty set, throw an
/// InvalidModificationError" (so that there is always something to
/// offer): a list of RTX entries alone, or of telephone events alone (no
/// audio codec either), is refused and the preferences stay as they were.
#[test]
fn codec_preferences_without_a_media_codec_are_refused() {
    let now = Instant::now();
    let mut pc = peer();
    let video = pc
        .add_transceiver(MediaKind::Video, RtpTransceiverInit::default())
        .unwrap();
    let rtx: Vec<_> = PeerConnection::codec_capabilities(&MediaKind::Video)
        .into_iter()
        .filter(|c| c.is_rtx())
        .collect();
    assert!(!rtx.is_empty());
    assert_eq!(
        pc.set_codec_preferences(video, rtx).unwrap_err().name(),
        "InvalidModificationError"
    );
    let audio = pc
        .add_transceiver(MediaKind::Audio, RtpTransceiverInit::default())
        .unwrap();
    let events: Vec<_> = PeerConnection::codec_capabilities(&MediaKind::Audio)
        .into_iter()
        .filter(|c| c.name.eq_ignore_ascii_case("telephone-event"))
        .collect();
    assert!(!events.is_empty());
    assert_eq!(
        pc.set_codec_preferences(audio, events).unwrap_err().name(),
        "InvalidModificationError"
    );
    // The defaults are still offered.
    pc.set_local_description(now, None).unwrap();
    let offer = pc.local_description().unwrap().sdp;
    assert!(offer.contains("VP8/90000"), "{offer}");
    assert!(offer.contains("opus/48000"), "{offer}");
}

/// webrtc-pc §5.4 setCodecPreferences step "remove any duplicate values in
/// codecs, ensuring that the first occurrence of each value remains in
/// place": a codec listed twice is offered once (RFC 8866 §5.14: a payload
/// type appears once on the `m=` line).
#[test]
fn a_codec_listed_twice_in_the_preferences_is_offered_once() {
    let now = Instant::now();
    let (mut pc, video, caps) = video_peer();
    let vp8 = caps.iter().find(|c| c.name == "VP8").unwrap().clone();
    let vp9 = caps.iter().find(|c| c.name == "VP9").unwrap().clone();
    pc.set_codec_preferences(video, vec![vp9.clone(), vp8.clone(), vp9.clone(), vp8])
        .unwrap();
    pc.set_local_description(now, None).unwrap();
    let offer = pc.local_description().unwrap().sdp;
    let formats = m_line_formats(&offer);
    assert_eq!(
        formats,
        vec![vp9.payload_type.to_string(), "96".into()],
        "{offer}"
    );
    let rtpmaps = offer.lines().filter(|l| l.starts_with("a=rtpmap:")).count();
    assert_eq!(rtpmaps, 2, "{offer}");
}

/// W3C webrtc-pc §5.4 `setCodecPreferences` removes duplicates by codec
/// value (mimeType, clockRate, channels, sdpFmtpLine): VP9 given VP8's
/// payload type is not VP8's duplicate, so VP8 is not silently dropped
/// (the list is refused, or both are offered).
#[test]
fn a_codec_with_another_codecs_payload_type_is_not_a_duplicate() {
    let now = Instant::now();
    let (mut pc, video, caps) = video_peer();
    let vp8 = caps.iter().find(|c| c.name == "VP8").unwrap().clone();
    let mut vp9 = caps.iter().find(|c| c.name == "VP9").unwrap().clone();
    vp9.payload_type = vp8.payload_type;
    match pc.set_codec_preferences(video, vec![vp9, vp8]) {
        Err(e) => assert_eq!(e.name(), "InvalidModificationError"),
        Ok(()) => {
            pc.set_local_description(now, None).unwrap();
            let offer = pc.local_description().unwrap().sdp;
            assert!(offer.contains("VP8/90000"), "VP8 silently dropped: {offer}");
        }
    }
}

/// W3C webrtc-pc §5.4 removes duplicates by codec value
/// (mimeType, clockRate, channels, sdpFmtpLine; an RTCRtpCodec has no
/// payload type): VP8 listed twice, the second time with another payload
/// type, is one codec and is offered once.
#[test]
fn the_same_codec_under_two_payload_types_is_offered_once() {
    let now = Instant::now();
    let (mut pc, video, caps) = video_peer();
    let vp8 = caps.iter().find(|c| c.name == "VP8").unwrap().clone();
    let used: Vec<u8> = caps.iter().map(|c| c.payload_type).collect();
    let free = (96u8..128).find(|pt| !used.contains(pt)).unwrap();
    let mut again = vp8.clone();
    again.payload_type = free;
    match pc.set_codec_preferences(video, vec![vp8, again]) {
        Err(e) => assert_eq!(e.name(), "InvalidModificationError"),
        Ok(()) => {
            pc.set_local_description(now, None).unwrap();
            let offer = pc.local_description().unwrap().sdp;
            assert_eq!(offer.matches("VP8/90000").count(), 1, "{offer}");
        }
    }
}
