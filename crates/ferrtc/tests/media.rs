//! Media between two `ferrtc::PeerConnection`s in one process over UDP on
//! loopback: tracks, the track event, the sample writer and the frame
//! reader, clones of senders and receivers, `replaceTrack`,
//! `setParameters` and renegotiation.

mod common;

use common::{offer_answer, wait_connected};
use std::time::Duration;

use ferrtc::{
    Configuration, EncodedFrame, MediaKind, MediaStream, MediaStreamTrack, PeerConnection,
    PeerConnectionEvent, PeerConnectionState, RtpReceiver, RtpSender, RtpTransceiverDirection,
    RtpTransceiverInit, Stats, TrackEvent,
};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

/// What a connection's events bring that the tests look at.
struct Watch {
    tracks: UnboundedReceiver<TrackEvent>,
    negotiation_needed: UnboundedReceiver<()>,
}

/// Forwards every candidate of `from` to `to`, and its track and
/// negotiationneeded events to the returned channels.
fn watch(from: &PeerConnection, to: &PeerConnection) -> Watch {
    let (tracks_tx, tracks) = unbounded_channel();
    let (nn_tx, negotiation_needed) = unbounded_channel();
    forward(from.clone(), to.clone(), tracks_tx, nn_tx);
    Watch {
        tracks,
        negotiation_needed,
    }
}

fn forward(
    from: PeerConnection,
    to: PeerConnection,
    tracks: UnboundedSender<TrackEvent>,
    nn: UnboundedSender<()>,
) {
    // Subscribed now, so that nothing published from here on is missed.
    let mut events = from.subscribe();
    tokio::spawn(async move {
        while let Some(ev) = events.recv().await {
            match ev {
                PeerConnectionEvent::IceCandidate(c) => {
                    // The peer may not have our description yet (a
                    // candidate before it is an error, as in browsers).
                    for _ in 0..500 {
                        if to.add_ice_candidate(c.clone()).await.is_ok() {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
                PeerConnectionEvent::Track(t) => {
                    let _ = tracks.send(*t);
                }
                PeerConnectionEvent::NegotiationNeeded => {
                    let _ = nn.send(());
                }
                PeerConnectionEvent::ConnectionStateChange(PeerConnectionState::Closed) => break,
                _ => {}
            }
        }
    });
}

fn pair() -> (PeerConnection, PeerConnection) {
    let pc = |seed| {
        PeerConnection::new(Configuration {
            seed: Some([seed; 32]),
            ..Default::default()
        })
        .unwrap()
    };
    (pc(1), pc(2))
}

async fn next_track(w: &mut Watch) -> TrackEvent {
    timeout(WAIT, w.tracks.recv())
        .await
        .expect("no track event")
        .unwrap()
}

/// A VP8-like frame: opaque bytes whose byte 0 has bit 0 clear on a
/// keyframe (RFC 6386 §9.1); sizes that span several packets.
fn vp8_frame(i: usize, key: bool) -> Vec<u8> {
    let len = 50 + (i * 397) % 3000;
    let mut f: Vec<u8> = (0..len).map(|j| (i + j) as u8).collect();
    f[0] = if key { 0x10 } else { 0x11 };
    f[1..5].copy_from_slice(&(i as u32).to_be_bytes());
    f
}

/// An Opus-like packet: TOC byte of a 20 ms CELT frame, then bytes.
fn opus_frame(i: usize) -> Vec<u8> {
    let mut f = vec![0xfc; 40 + i % 80];
    f[1..5].copy_from_slice(&(i as u32).to_be_bytes());
    f
}

async fn recv(receiver: &RtpReceiver) -> EncodedFrame {
    timeout(WAIT, receiver.recv_frame())
        .await
        .expect("no frame")
        .expect("frames ended")
}

async fn write_paced(sender: &RtpSender, frames: &[Vec<u8>]) {
    for f in frames {
        sender.write_frame(f, Duration::from_millis(20)).unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn packets_sent(report: &ferrtc::StatsReport) -> u64 {
    report
        .stats
        .values()
        .map(|s| match s {
            Stats::OutboundRtp(o) => o.packets_sent,
            _ => 0,
        })
        .sum()
}

#[tokio::test(flavor = "current_thread")]
async fn vp8_and_opus_frames_arrive_whole_and_in_order_with_the_stream_ids() {
    let (a, b) = pair();
    let _wa = watch(&a, &b);
    let mut wb = watch(&b, &a);
    let stream = MediaStream::with_id("stream-1");
    let video = MediaStreamTrack::new(MediaKind::Video, "camera");
    let audio = MediaStreamTrack::new(MediaKind::Audio, "mic");
    let video_sender = a.add_track(&video, &[&stream]).await.unwrap();
    let audio_sender = a.add_track(&audio, &[&stream]).await.unwrap();
    assert_eq!(video_sender.track().unwrap().id(), video.id());
    assert_eq!(a.get_senders().await.len(), 2);
    // Not negotiated yet: refused at once.
    let early = video_sender.write_frame(vp8_frame(0, true), Duration::from_millis(33));
    assert_eq!(early.unwrap_err().name(), "InvalidStateError");

    offer_answer(&a, &b).await;
    let mut by_kind = Vec::new();
    for _ in 0..2 {
        let t = next_track(&mut wb).await;
        assert_eq!(t.streams.len(), 1);
        assert_eq!(t.streams[0].id(), "stream-1");
        // One stream per msid across the description's track events:
        // it holds the audio and the video track (W3C webrtc-pc §4.4.1.6).
        assert_eq!(t.streams[0].get_tracks().len(), 2);
        assert!(t.streams[0].get_track_by_id(t.track.id()).is_some());
        assert_eq!(t.receiver.track().id(), t.track.id());
        assert_eq!(t.transceiver.receiver(), t.receiver);
        by_kind.push((t.track.kind(), t.receiver));
    }
    let video_rx = by_kind
        .iter()
        .find(|(k, _)| *k == MediaKind::Video)
        .unwrap()
        .1
        .clone();
    let audio_rx = by_kind
        .iter()
        .find(|(k, _)| *k == MediaKind::Audio)
        .unwrap()
        .1
        .clone();
    assert_eq!(
        video_rx.get_parameters().codecs[0]
            .name
            .to_ascii_uppercase(),
        "VP8"
    );
    assert_eq!(audio_rx.get_parameters().codecs[0].name, "opus");
    wait_connected(&[&a, &b]).await;

    let video_frames: Vec<Vec<u8>> = (0..40).map(|i| vp8_frame(i, i % 10 == 0)).collect();
    let audio_frames: Vec<Vec<u8>> = (0..40).map(opus_frame).collect();
    let (vs, as_) = (video_sender.clone(), audio_sender.clone());
    let (vf, af) = (video_frames.clone(), audio_frames.clone());
    let writers = tokio::spawn(async move {
        tokio::join!(write_paced(&vs, &vf), write_paced(&as_, &af));
    });
    for (i, want) in video_frames.iter().enumerate() {
        let got = recv(&video_rx).await;
        assert_eq!(&got.data[..], &want[..], "video frame {i}");
        assert_eq!(got.keyframe, i % 10 == 0, "keyframe flag of frame {i}");
    }
    for (i, want) in audio_frames.iter().enumerate() {
        assert_eq!(
            &recv(&audio_rx).await.data[..],
            &want[..],
            "audio frame {i}"
        );
    }
    writers.await.unwrap();

    // getStats of a receiver: its inbound-rtp (and what that references,
    // see sender_and_receiver_get_stats_hold_what_their_rtp_streams_reference).
    let stats = video_rx.get_stats().await.unwrap();
    let inbound: Vec<_> = stats
        .stats
        .values()
        .filter_map(|s| match s {
            Stats::InboundRtp(s) => Some(s),
            _ => None,
        })
        .collect();
    assert_eq!(inbound.len(), 1, "{}", stats.to_json());
    assert_eq!(inbound[0].kind, "video");
    assert!(inbound[0].frames_received >= 40);
    let sent = video_sender.get_stats().await.unwrap();
    assert!(packets_sent(&sent) >= 40);
}

/// A connected pair with one video track from `a` to `b`.
async fn video_call() -> (PeerConnection, PeerConnection, RtpSender, TrackEvent, Watch) {
    let (a, b) = pair();
    let wa = watch(&a, &b);
    let mut wb = watch(&b, &a);
    let stream = MediaStream::with_id("s");
    let sender = a
        .add_track(&MediaStreamTrack::new(MediaKind::Video, "v"), &[&stream])
        .await
        .unwrap();
    offer_answer(&a, &b).await;
    let track = next_track(&mut wb).await;
    wait_connected(&[&a, &b]).await;
    drop(wb);
    (a, b, sender, track, wa)
}

#[tokio::test(flavor = "current_thread")]
async fn every_task_on_a_clone_of_one_receiver_gets_every_frame() {
    let (_a, _b, sender, track, _w) = video_call().await;
    let frames: Vec<Vec<u8>> = (0..30).map(|i| vp8_frame(i, i == 0)).collect();
    let mut readers = Vec::new();
    for _ in 0..3 {
        let rx = track.receiver.clone();
        let n = frames.len();
        readers.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for _ in 0..n {
                got.push(recv(&rx).await.data.to_vec());
            }
            got
        }));
    }
    // The readers subscribe at their first read, before any frame.
    tokio::time::sleep(Duration::from_millis(100)).await;
    write_paced(&sender, &frames).await;
    for r in readers {
        assert_eq!(r.await.unwrap(), frames);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn several_tasks_write_on_clones_of_one_sender() {
    let (_a, _b, sender, track, _w) = video_call().await;
    let mut writers = Vec::new();
    for w in 0..4u8 {
        let s = sender.clone();
        writers.push(tokio::spawn(async move {
            for seq in 0..10u8 {
                // Every frame a keyframe: byte 0 = 0x10, then writer, seq.
                let mut f = vec![0x10, w, seq];
                f.extend(std::iter::repeat_n(w, 200 + usize::from(seq) * 100));
                s.write_frame(&f, Duration::from_millis(10)).unwrap();
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    let mut next = [0u8; 4];
    for _ in 0..40 {
        let f = recv(&track.receiver).await;
        let (w, seq) = (usize::from(f.data[1]), f.data[2]);
        assert_eq!(seq, next[w], "writer {w} out of order");
        assert_eq!(f.data.len(), 3 + 200 + usize::from(seq) * 100);
        next[w] += 1;
    }
    assert_eq!(next, [10; 4]);
}

#[tokio::test(flavor = "current_thread")]
async fn replace_track_switches_the_source_without_renegotiation() {
    let (_a, _b, sender, track, mut wa) = video_call().await;
    while wa.negotiation_needed.try_recv().is_ok() {}
    let screen = MediaStreamTrack::new(MediaKind::Video, "screen");
    sender.replace_track(Some(&screen)).await.unwrap();
    assert_eq!(sender.track().unwrap().id(), screen.id());
    let wrong = sender
        .replace_track(Some(&MediaStreamTrack::new(MediaKind::Audio, "mic")))
        .await;
    assert_eq!(wrong.unwrap_err().name(), "TypeError");
    let frames: Vec<Vec<u8>> = (0..5).map(|i| vp8_frame(i, i == 0)).collect();
    write_paced(&sender, &frames).await;
    for want in &frames {
        assert_eq!(&recv(&track.receiver).await.data[..], &want[..]);
    }
    // No track: nothing to send.
    sender.replace_track(None).await.unwrap();
    assert!(sender.track().is_none());
    let none = sender.write_frame(vp8_frame(9, true), Duration::from_millis(20));
    assert_eq!(none.unwrap_err().name(), "InvalidStateError");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        wa.negotiation_needed.try_recv().is_err(),
        "replaceTrack must not ask for negotiation"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn set_parameters_active_false_stops_the_packets() {
    let (_a, _b, sender, track, _w) = video_call().await;
    // W3C rules first.
    let p = sender.get_parameters();
    assert_eq!(p.encodings.len(), 1);
    assert!(p.encodings[0].active);
    assert_eq!(p.codecs[0].name.to_ascii_uppercase(), "VP8");
    let mut bad = p.clone();
    bad.encodings[0].scale_resolution_down_by = Some(0.5);
    assert_eq!(sender.set_parameters(bad).unwrap_err().name(), "RangeError");
    // A refused call leaves the transaction: the retry works (W3C, WPT
    // RTCRtpSender-setParameters), and only that one uses it.
    sender.set_parameters(p.clone()).unwrap();
    assert_eq!(
        sender.set_parameters(p).unwrap_err().name(),
        "InvalidStateError"
    );
    let mut stale = sender.get_parameters();
    let _newer = sender.get_parameters();
    stale.encodings[0].max_bitrate = Some(300_000);
    assert_eq!(
        sender.set_parameters(stale).unwrap_err().name(),
        "InvalidModificationError"
    );

    let frames: Vec<Vec<u8>> = (0..10).map(|i| vp8_frame(i, i == 0)).collect();
    write_paced(&sender, &frames).await;
    for _ in 0..10 {
        recv(&track.receiver).await;
    }
    let mut p = sender.get_parameters();
    p.encodings[0].active = false;
    p.encodings[0].max_bitrate = Some(500_000);
    p.encodings[0].scale_resolution_down_by = Some(2.0);
    sender.set_parameters(p).unwrap();
    let stored = sender.get_parameters();
    assert_eq!(stored.encodings[0].max_bitrate, Some(500_000));
    assert_eq!(stored.encodings[0].scale_resolution_down_by, Some(2.0));
    assert!(!stored.encodings[0].active);

    let before = packets_sent(&sender.get_stats().await.unwrap());
    let more: Vec<Vec<u8>> = (10..30).map(|i| vp8_frame(i, false)).collect();
    write_paced(&sender, &more).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let after = packets_sent(&sender.get_stats().await.unwrap());
    assert!(before > 0);
    assert_eq!(before, after, "packets sent while inactive");

    // Active again: sending resumes.
    let mut p = sender.get_parameters();
    p.encodings[0].active = true;
    sender.set_parameters(p).unwrap();
    write_paced(&sender, &more[..5]).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(packets_sent(&sender.get_stats().await.unwrap()) > after);
}

/// W3C webrtc-pc §5.2 setParameters: `codecs` is a read-only member, and
/// "any parameter in parameters marked as a read-only parameter with a
/// value different from the corresponding one in
/// [[LastReturnedParameters]]" rejects with an InvalidModificationError
/// (WPT RTCRtpParameters-codecs): the codecs cannot be dropped, reordered
/// or edited through it, and a refused call leaves the transaction.
#[tokio::test(flavor = "current_thread")]
async fn set_parameters_refuses_changed_codecs() {
    let (_a, _b, sender, _track, _w) = video_call().await;
    let p = sender.get_parameters();
    assert!(p.codecs.len() > 1, "{:?}", p.codecs);
    let mut dropped = p.clone();
    dropped.codecs.clear();
    let mut reordered = p.clone();
    reordered.codecs.reverse();
    let mut edited = p.clone();
    edited.codecs[0].payload_type = 33;
    for changed in [dropped, reordered, edited] {
        assert_eq!(
            sender.set_parameters(changed).unwrap_err().name(),
            "InvalidModificationError"
        );
    }
    // The parameters as returned are still taken.
    sender.set_parameters(p).unwrap();
}

/// W3C webrtc-pc §5.2 `RTCRtpEncodingParameters.active` on a sender
/// without simulcast (its one encoding has no rid): `false` stops the
/// encoding, and its `outbound-rtp` (webrtc-stats `active`) says so until
/// it is active again, as for a simulcast layer.
#[tokio::test(flavor = "current_thread")]
async fn the_one_encoding_set_inactive_is_reported_inactive_in_the_stats() {
    let (_a, _b, sender, track, _w) = video_call().await;
    let frames: Vec<Vec<u8>> = (0..5).map(|i| vp8_frame(i, i == 0)).collect();
    write_paced(&sender, &frames).await;
    for _ in 0..5 {
        recv(&track.receiver).await;
    }
    // The change reaches the connection's task in order with the frames:
    // the stats show it shortly after the call.
    let becomes = |want: bool| {
        let sender = sender.clone();
        async move {
            let mut seen = Vec::new();
            for _ in 0..100 {
                seen = sender
                    .get_stats()
                    .await
                    .unwrap()
                    .stats
                    .values()
                    .filter_map(|s| match s {
                        Stats::OutboundRtp(o) => Some(o.active),
                        _ => None,
                    })
                    .collect();
                if seen == [want] {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            panic!("outbound-rtp active {seen:?}, want [{want}]");
        }
    };
    becomes(true).await;
    let mut p = sender.get_parameters();
    assert_eq!(p.encodings[0].rid, None);
    p.encodings[0].active = false;
    sender.set_parameters(p).unwrap();
    becomes(false).await;
    let mut p = sender.get_parameters();
    p.encodings[0].active = true;
    sender.set_parameters(p).unwrap();
    becomes(true).await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_second_track_after_connect_fires_negotiationneeded_and_a_new_track_event() {
    let (a, b) = pair();
    let mut wa = watch(&a, &b);
    let mut wb = watch(&b, &a);
    let stream = MediaStream::with_id("call");
    let audio = a
        .add_track(&MediaStreamTrack::new(MediaKind::Audio, "mic"), &[&stream])
        .await
        .unwrap();
    offer_answer(&a, &b).await;
    let first = next_track(&mut wb).await;
    assert_eq!(first.track.kind(), MediaKind::Audio);
    wait_connected(&[&a, &b]).await;
    audio
        .write_frame(opus_frame(0), Duration::from_millis(20))
        .unwrap();
    recv(&first.receiver).await;
    while wa.negotiation_needed.try_recv().is_ok() {}

    let video = a
        .add_track(&MediaStreamTrack::new(MediaKind::Video, "cam"), &[&stream])
        .await
        .unwrap();
    timeout(WAIT, wa.negotiation_needed.recv())
        .await
        .expect("no negotiationneeded")
        .unwrap();
    offer_answer(&a, &b).await;
    let second = next_track(&mut wb).await;
    assert_eq!(second.track.kind(), MediaKind::Video);
    assert_eq!(second.streams[0].id(), "call");
    assert_ne!(second.transceiver, first.transceiver);
    assert_eq!(b.get_transceivers().await.len(), 2);
    let frames: Vec<Vec<u8>> = (0..5).map(|i| vp8_frame(i, i == 0)).collect();
    write_paced(&video, &frames).await;
    for want in &frames {
        assert_eq!(&recv(&second.receiver).await.data[..], &want[..]);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn transceivers_follow_the_w3c_calls_from_clones_on_several_tasks() {
    let (a, b) = pair();
    let _wa = watch(&a, &b);
    let mut wb = watch(&b, &a);
    let t = a
        .add_transceiver(
            MediaKind::Video,
            RtpTransceiverInit {
                direction: Some(RtpTransceiverDirection::SendOnly),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(t.mid(), None);
    assert_eq!(t.direction(), RtpTransceiverDirection::SendOnly);
    // VP9 first: the answer then sends VP9.
    let vp9: Vec<_> = ferrtc::RtpSender::get_capabilities(MediaKind::Video)
        .into_iter()
        .filter(|c| c.name == "VP9" || (c.is_rtx() && c.apt() == Some(98)))
        .collect();
    t.set_codec_preferences(vp9).await.unwrap();
    let bogus = ferrtc::RtpCodec::new(120, "bogus", 90000, None);
    assert_eq!(
        t.set_codec_preferences(vec![bogus])
            .await
            .unwrap_err()
            .name(),
        "InvalidModificationError"
    );
    t.sender()
        .replace_track(Some(&MediaStreamTrack::new(MediaKind::Video, "v")))
        .await
        .unwrap();
    offer_answer(&a, &b).await;
    let remote = next_track(&mut wb).await;
    // Several tasks on clones read the same state.
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            (
                t.mid(),
                t.current_direction(),
                t.sender().get_parameters().codecs,
            )
        }));
    }
    for task in tasks {
        let (mid, current, codecs) = task.await.unwrap();
        assert_eq!(mid.as_deref(), Some("0"));
        assert_eq!(current, Some(RtpTransceiverDirection::SendOnly));
        assert_eq!(codecs[0].name, "VP9");
    }
    assert_eq!(
        remote.transceiver.current_direction(),
        Some(RtpTransceiverDirection::RecvOnly)
    );
    wait_connected(&[&a, &b]).await;
    // A VP9 keyframe: frame marker 10, profile 0, show_existing 0, key.
    let frame = [0x80, 1, 2, 3];
    t.sender()
        .write_frame(&frame, Duration::from_millis(33))
        .unwrap();
    let got = recv(&remote.receiver).await;
    assert_eq!(&got.data[..], &frame);

    let (t1, t2) = (t.clone(), t.clone());
    let (r1, r2) = tokio::join!(
        t1.set_direction(RtpTransceiverDirection::Inactive),
        t2.stop()
    );
    r1.unwrap();
    r2.unwrap();
    assert!(t.stopped());
    assert_eq!(
        t.set_direction(RtpTransceiverDirection::SendRecv)
            .await
            .unwrap_err()
            .name(),
        "InvalidStateError"
    );
    assert!(a.get_senders().await.is_empty());
    assert_eq!(a.get_transceivers().await.len(), 1);
}

/// W3C RTCDTMFSender over a real connection: tones inserted on a's audio
/// sender come out of b's receiver in order, and every task on a clone of
/// the DTMF sender (and of the receiver) sees every event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dtmf_tones_reach_the_peer_in_order_and_every_clone_sees_the_tonechanges() {
    let (a, b) = pair();
    let _wa = watch(&a, &b);
    let mut wb = watch(&b, &a);
    let stream = MediaStream::with_id("s");
    let sender = a
        .add_track(&MediaStreamTrack::new(MediaKind::Audio, "mic"), &[&stream])
        .await
        .unwrap();
    let video = a
        .add_track(&MediaStreamTrack::new(MediaKind::Video, "cam"), &[&stream])
        .await
        .unwrap();
    assert!(video.dtmf().is_none(), "a video sender has no DTMF sender");
    let dtmf = sender.dtmf().expect("an audio sender has a DTMF sender");
    // Not negotiated yet: canInsertDTMF is false and inserting fails.
    assert!(!dtmf.can_insert_dtmf().await.unwrap());
    assert!(
        dtmf.insert_dtmf("1", Duration::from_millis(100), Duration::from_millis(70))
            .await
            .is_err()
    );
    offer_answer(&a, &b).await;
    let track = next_track(&mut wb).await;
    assert_eq!(track.track.kind(), MediaKind::Audio);
    wait_connected(&[&a, &b]).await;
    assert!(dtmf.can_insert_dtmf().await.unwrap());
    // A character outside 0-9 A-D # * , is refused (W3C webrtc-pc §7.2
    // step 6).
    let refused = dtmf
        .insert_dtmf("1x", Duration::from_millis(100), Duration::from_millis(70))
        .await
        .expect_err("an x is not a tone");
    assert_eq!(refused.name(), "InvalidCharacterError", "{refused}");

    // Each clone gets every tonechange fired after it was made.
    let clones: Vec<_> = (0..3).map(|_| dtmf.clone()).collect();
    let listeners: Vec<_> = clones
        .into_iter()
        .map(|d| {
            tokio::spawn(async move {
                let mut seen = Vec::new();
                loop {
                    let change = timeout(WAIT, d.next_tone_change())
                        .await
                        .expect("tonechange")
                        .expect("open");
                    if change.tone.is_empty() {
                        return seen;
                    }
                    seen.push(change.tone);
                }
            })
        })
        .collect();
    let receivers: Vec<_> = (0..2).map(|_| track.receiver.clone()).collect();
    let hearers: Vec<_> = receivers
        .into_iter()
        .map(|r| {
            tokio::spawn(async move {
                let mut heard = String::new();
                while heard.len() < 3 {
                    let t = timeout(WAIT, r.next_dtmf_tone())
                        .await
                        .expect("a tone")
                        .expect("open");
                    heard.push(t.tone);
                }
                heard
            })
        })
        .collect();
    dtmf.insert_dtmf("1#a", Duration::from_millis(100), Duration::from_millis(70))
        .await
        .unwrap();
    for l in listeners {
        assert_eq!(l.await.unwrap(), ["1", "#", "A"]);
    }
    for h in hearers {
        assert_eq!(h.await.unwrap(), "1#A");
    }
    assert_eq!(dtmf.tone_buffer().await.unwrap(), "");
    a.close().await;
    b.close().await;
}

/// Finding: replies came before the transceivers' state was published, so
/// a caller on another thread read the old `direction`, `stopped`, `mid`
/// or `currentDirection` after the call returned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_is_published_before_each_call_returns_on_a_multi_thread_runtime() {
    let (a, b) = pair();
    let _wa = watch(&a, &b);
    let _wb = watch(&b, &a);
    let t = a
        .add_transceiver(MediaKind::Audio, RtpTransceiverInit::default())
        .await
        .unwrap();
    let directions = [
        RtpTransceiverDirection::RecvOnly,
        RtpTransceiverDirection::SendOnly,
        RtpTransceiverDirection::Inactive,
        RtpTransceiverDirection::SendRecv,
    ];
    for i in 0..2000 {
        let d = directions[i % 4];
        t.set_direction(d).await.unwrap();
        // At once: this task may run on the other worker while the
        // connection's task is still at work.
        assert_eq!(t.direction(), d, "round {i}");
    }
    // And from a blocking thread, as a caller without a runtime would.
    let t2 = t.clone();
    tokio::task::spawn_blocking(move || {
        let rt = tokio::runtime::Handle::current();
        for i in 0..200 {
            let d = directions[i % 4];
            rt.block_on(t2.set_direction(d)).unwrap();
            assert_eq!(t2.direction(), d, "blocking round {i}");
        }
    })
    .await
    .unwrap();
    let offer = a.create_offer().await.unwrap();
    a.set_local_description(Some(offer.clone())).await.unwrap();
    assert_eq!(
        t.mid().as_deref(),
        Some("0"),
        "mid after setLocalDescription"
    );
    b.set_remote_description(offer).await.unwrap();
    let remote = b.get_transceivers().await.remove(0);
    let answer = b.create_answer().await.unwrap();
    b.set_local_description(Some(answer.clone())).await.unwrap();
    a.set_remote_description(answer).await.unwrap();
    // The answerer has no track: it only receives.
    assert_eq!(
        t.current_direction(),
        Some(RtpTransceiverDirection::SendOnly)
    );
    assert!(!t.sender().get_parameters().codecs.is_empty());
    remote.stop().await.unwrap();
    assert!(remote.stopped());
}

/// `replaceTrack` changes the connection's sender track, which `addTrack`
/// and `removeTrack` decide by (W3C webrtc-pc §5.1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replace_track_is_seen_by_add_track_and_remove_track() {
    let (a, b) = pair();
    let mut wa = watch(&a, &b);
    let _wb = watch(&b, &a);
    // addTransceiver, replaceTrack(cam), addTrack(screen): the transceiver
    // has a track, so addTrack makes another.
    let t = a
        .add_transceiver(MediaKind::Video, RtpTransceiverInit::default())
        .await
        .unwrap();
    let cam = MediaStreamTrack::new(MediaKind::Video, "cam");
    t.sender().replace_track(Some(&cam)).await.unwrap();
    let screen = MediaStreamTrack::new(MediaKind::Video, "screen");
    let screen_sender = a.add_track(&screen, &[]).await.unwrap();
    assert_ne!(screen_sender, t.sender(), "addTrack took cam's sender");
    assert_eq!(t.sender().track().unwrap().id(), cam.id());
    assert_eq!(a.get_transceivers().await.len(), 2);

    // addTrack(A), replaceTrack(B): B has a sender, A has none.
    let track_a = MediaStreamTrack::new(MediaKind::Audio, "a");
    let track_b = MediaStreamTrack::new(MediaKind::Audio, "b");
    let sender = a.add_track(&track_a, &[]).await.unwrap();
    sender.replace_track(Some(&track_b)).await.unwrap();
    let again = a.add_track(&track_b, &[]).await;
    assert_eq!(again.unwrap_err().name(), "InvalidAccessError");
    let a_again = a.add_track(&track_a, &[]).await.unwrap();
    assert_ne!(a_again, sender);

    // addTransceiver, negotiate, replaceTrack(mic): no negotiationneeded;
    // removeTrack then stops sending and asks for negotiation.
    offer_answer(&a, &b).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    while wa.negotiation_needed.try_recv().is_ok() {}
    let audio = a
        .get_transceivers()
        .await
        .into_iter()
        .find(|x| x.sender() == a_again)
        .unwrap();
    let mic = MediaStreamTrack::new(MediaKind::Audio, "mic");
    audio.sender().replace_track(Some(&mic)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(wa.negotiation_needed.try_recv().is_err());
    a.remove_track(&audio.sender()).await.unwrap();
    assert!(audio.sender().track().is_none());
    assert_eq!(audio.direction(), RtpTransceiverDirection::RecvOnly);
    timeout(WAIT, wa.negotiation_needed.recv())
        .await
        .expect("removeTrack after replaceTrack fired no negotiationneeded")
        .unwrap();
}

/// `setStreams` puts a track into streams on its own transceiver: the
/// peer's `track` event lists them, and a change asks for negotiation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_streams_names_the_streams_the_peer_sees_the_track_in() {
    let (a, b) = pair();
    let mut wa = watch(&a, &b);
    let mut wb = watch(&b, &a);
    let init = RtpTransceiverInit {
        direction: Some(RtpTransceiverDirection::SendOnly),
        ..RtpTransceiverInit::default()
    };
    let t = a.add_transceiver(MediaKind::Video, init).await.unwrap();
    let cam = MediaStreamTrack::new(MediaKind::Video, "cam");
    t.sender().replace_track(Some(&cam)).await.unwrap();
    let stream = MediaStream::with_id("broadcast");
    t.sender().set_streams(&[&stream]).await.unwrap();
    offer_answer(&a, &b).await;
    let seen = timeout(WAIT, wb.tracks.recv()).await.unwrap().unwrap();
    let ids: Vec<_> = seen.streams.iter().map(|s| s.id().to_owned()).collect();
    assert_eq!(ids, ["broadcast"]);
    // The same streams again change nothing; others do.
    tokio::time::sleep(Duration::from_millis(50)).await;
    while wa.negotiation_needed.try_recv().is_ok() {}
    t.sender().set_streams(&[&stream]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(wa.negotiation_needed.try_recv().is_err());
    t.sender()
        .set_streams(&[&MediaStream::with_id("other")])
        .await
        .unwrap();
    timeout(WAIT, wa.negotiation_needed.recv())
        .await
        .expect("new streams fire negotiationneeded")
        .unwrap();
    // W3C webrtc-pc §5.2: only a closed connection refuses setStreams.
    t.stop().await.unwrap();
    t.sender().set_streams(&[&stream]).await.unwrap();
    a.close().await;
    let closed = t.sender().set_streams(&[&stream]).await;
    assert_eq!(closed.unwrap_err().name(), "InvalidStateError");
}

/// A rollback of a remote offer (W3C webrtc-pc §4.4.1.6) removes the
/// transceivers it created but the one `addTrack` took: handles list what
/// the connection has, the removed one's handle reads stopped, and tasks
/// on clones of the connection see the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolled_back_remote_offers_transceivers_leave_the_list_but_the_one_add_track_took() {
    let a = PeerConnection::new(Configuration::default()).unwrap();
    let b = PeerConnection::new(Configuration::default()).unwrap();
    for kind in [MediaKind::Audio, MediaKind::Video] {
        a.add_transceiver(kind, RtpTransceiverInit::default())
            .await
            .unwrap();
    }
    let offer = a.create_offer().await.unwrap();
    a.set_local_description(Some(offer.clone())).await.unwrap();
    b.set_remote_description(offer).await.unwrap();
    let created = b.get_transceivers().await;
    assert_eq!(created.len(), 2);
    let sender = b
        .add_track(&MediaStreamTrack::new(MediaKind::Audio, "b-mic"), &[])
        .await
        .unwrap();
    b.set_remote_description(ferrtc::SessionDescription {
        kind: ferrtc::SdpType::Rollback,
        sdp: String::new(),
    })
    .await
    .unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..3 {
        let (b, sender) = (b.clone(), sender.clone());
        tasks.spawn(async move {
            let kept = b.get_transceivers().await;
            (
                kept.len(),
                kept[0].kind(),
                kept[0].mid(),
                kept[0].sender() == sender,
            )
        });
    }
    while let Some(seen) = tasks.join_next().await {
        let seen = seen.unwrap();
        assert_eq!((seen.0, seen.1, seen.2), (1, MediaKind::Audio, None));
        assert!(seen.3, "the kept transceiver is the one addTrack took");
    }
    let video = created
        .iter()
        .find(|t| t.kind() == MediaKind::Video)
        .unwrap();
    assert!(video.stopped());
}

/// Past the sender's queue bound `write_frame` fails at once with an
/// `OperationError` instead of dropping frames silently; every frame it
/// accepted arrives.
#[tokio::test(flavor = "current_thread")]
async fn a_burst_past_the_senders_queue_is_refused_at_once_and_nothing_accepted_is_lost() {
    let (_a, _b, sender, track, _w) = video_call().await;
    let mut accepted = Vec::new();
    let mut refused = None;
    // No await: on this runtime the task cannot take any frame meanwhile.
    for i in 0..1500 {
        let f = vp8_frame(i, i == 0);
        match sender.write_frame(&f, Duration::from_millis(1)) {
            Ok(()) => accepted.push(f),
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    assert_eq!(refused.expect("never refused").name(), "OperationError");
    assert_eq!(accepted.len(), RtpSender::MAX_QUEUED_FRAMES);
    for (i, want) in accepted.iter().enumerate() {
        assert_eq!(
            &recv(&track.receiver).await.data[..],
            &want[..],
            "frame {i}"
        );
    }
    assert_eq!(sender.dropped_frames(), 0);
    // The task took them: writing works again.
    sender
        .write_frame(vp8_frame(0, true), Duration::from_millis(1))
        .unwrap();
}

/// A receiver nobody reads holds a bounded backlog: the video frames past
/// it are dropped until a keyframe, which is asked of the sender (a PLI
/// reaching it as a keyframe request); the first frame read is that
/// keyframe and tells how many were dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unread_receiver_drops_to_a_keyframe_asks_for_one_and_tells_the_gap() {
    let (_a, _b, sender, track, _w) = video_call().await;
    let requests = {
        let s = sender.clone();
        tokio::spawn(async move { timeout(WAIT, s.next_event()).await })
    };
    // 400 frames, the first a keyframe: past 256 unread, everything goes.
    let frames: Vec<Vec<u8>> = (0..400).map(|i| vp8_frame(i, i == 0)).collect();
    for chunk in frames.chunks(50) {
        for f in chunk {
            sender.write_frame(f, Duration::from_millis(1)).unwrap();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let request = requests.await.unwrap().expect("no keyframe request");
    assert_eq!(request, Some(ferrtc::RtpSenderEvent::KeyframeRequest));
    let key = vp8_frame(400, true);
    sender.write_frame(&key, Duration::from_millis(1)).unwrap();
    let got = recv(&track.receiver).await;
    assert!(got.keyframe);
    assert_eq!(&got.data[..], &key[..]);
    assert_eq!(got.dropped_before, 400);
}

/// After `close()`: `write_frame` is `Error::Closed` (as documented) and
/// the frame readers end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_close_write_frame_is_closed_and_recv_frame_ends() {
    let (a, b, sender, track, _w) = video_call().await;
    sender
        .write_frame(vp8_frame(0, true), Duration::from_millis(1))
        .unwrap();
    recv(&track.receiver).await;
    let reader = {
        let rx = track.receiver.clone();
        tokio::spawn(async move { timeout(WAIT, rx.recv_frame()).await })
    };
    a.close().await;
    let err = sender
        .write_frame(vp8_frame(1, false), Duration::from_millis(1))
        .unwrap_err();
    assert!(matches!(err, ferrtc::Error::Closed), "{err:?}");
    b.close().await;
    assert_eq!(reader.await.unwrap().expect("recv_frame hangs"), None);
    assert_eq!(track.receiver.recv_frame().await, None);
}

/// After the peer's `close()` (its DTLS close_notify) this side's
/// connection is not `closed` (W3C webrtc-pc §4.3.3: only the local
/// `close()` closes it), but its DTLS transport is (W3C §5.5): no SRTP
/// leaves any more, so `write_frame` refuses with an `InvalidStateError`
/// as it does once the connection failed, instead of queueing frames that
/// can never go out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_peers_close_write_frame_is_an_invalid_state_error() {
    let (a, b, sender, track, _w) = video_call().await;
    sender
        .write_frame(vp8_frame(0, true), Duration::from_millis(1))
        .unwrap();
    recv(&track.receiver).await;
    b.close().await;
    let refused = timeout(WAIT, async {
        loop {
            match sender.write_frame(vp8_frame(1, false), Duration::from_millis(1)) {
                Err(e) => return e,
                Ok(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    })
    .await
    .expect("write_frame still takes frames after the peer closed");
    assert_eq!(refused.name(), "InvalidStateError", "{refused:?}");
    assert_ne!(a.connection_state().await, PeerConnectionState::Closed);
    a.close().await;
}

/// Clones on several tasks of a multi-thread runtime: writers on clones
/// of one sender and readers on clones of one receiver, in parallel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clones_write_and_read_in_parallel_on_a_multi_thread_runtime() {
    let (_a, _b, sender, track, _w) = video_call().await;
    const PER_WRITER: u8 = 20;
    let mut readers = Vec::new();
    for _ in 0..3 {
        let rx = track.receiver.clone();
        readers.push(tokio::spawn(async move {
            let mut next = [0u8; 3];
            for _ in 0..3 * usize::from(PER_WRITER) {
                let f = recv(&rx).await;
                let (w, seq) = (usize::from(f.data[1]), f.data[2]);
                assert_eq!(seq, next[w], "writer {w} out of order");
                next[w] += 1;
            }
            next
        }));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut writers = Vec::new();
    for w in 0..3u8 {
        let s = sender.clone();
        writers.push(tokio::spawn(async move {
            for seq in 0..PER_WRITER {
                let mut f = vec![0x10, w, seq];
                f.extend(std::iter::repeat_n(w, 500));
                s.write_frame(&f, Duration::from_millis(5)).unwrap();
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    for r in readers {
        assert_eq!(r.await.unwrap(), [PER_WRITER; 3]);
    }
}

/// W3C RTCRtpReceiver: the synchronization source of what arrived, with
/// the RTP timestamp of the last frame, and `jitterBufferTarget` with its
/// range, asked from several tasks on clones of the receiver.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_names_its_synchronization_source_and_keeps_its_jitter_buffer_target() {
    let (a, b, sender, track, _w) = video_call().await;
    let receiver = track.receiver;
    assert!(
        receiver
            .get_synchronization_sources()
            .await
            .unwrap()
            .is_empty()
    );
    let frames: Vec<Vec<u8>> = (0..10).map(|i| vp8_frame(i, i == 0)).collect();
    write_paced(&sender, &frames).await;
    let mut last = None;
    for _ in 0..10 {
        last = Some(recv(&receiver).await.rtp_timestamp);
    }
    let tasks: Vec<_> = (0..3)
        .map(|_| {
            let r = receiver.clone();
            tokio::spawn(async move {
                (
                    r.get_synchronization_sources().await.unwrap(),
                    r.get_contributing_sources().await.unwrap(),
                )
            })
        })
        .collect();
    for t in tasks {
        let (ssrcs, csrcs) = t.await.unwrap();
        assert_eq!(ssrcs.len(), 1, "{ssrcs:?}");
        assert_eq!(Some(ssrcs[0].rtp_timestamp), last);
        assert_eq!(ssrcs[0].audio_level, None, "video has no level");
        let age = std::time::SystemTime::now()
            .duration_since(ssrcs[0].timestamp)
            .unwrap_or_default();
        assert!(age < Duration::from_secs(5), "heard {age:?} ago");
        assert!(csrcs.is_empty(), "no mixer, no CSRC: {csrcs:?}");
    }

    assert_eq!(receiver.jitter_buffer_target().await.unwrap(), None);
    let too_long = receiver
        .set_jitter_buffer_target(Some(Duration::from_millis(4001)))
        .await;
    assert!(too_long.is_err(), "{too_long:?}");
    let clone = receiver.clone();
    clone
        .set_jitter_buffer_target(Some(Duration::from_millis(150)))
        .await
        .unwrap();
    assert_eq!(
        receiver.jitter_buffer_target().await.unwrap(),
        Some(Duration::from_millis(150))
    );
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_bitrate_caps_the_bandwidth_estimate_and_its_changes_are_events() {
    let (a, _b, sender, track, _w) = video_call().await;
    let mut events = a.subscribe();
    let mut p = sender.get_parameters();
    p.encodings[0].max_bitrate = Some(200_000);
    sender.set_parameters(p).unwrap();
    // Frames for about 2 s: transport-cc feedback flows, the estimate moves.
    let frames: Vec<Vec<u8>> = (0..100).map(|i| vp8_frame(i, i % 30 == 0)).collect();
    let reader = {
        let receiver = track.receiver.clone();
        tokio::spawn(async move { while receiver.recv_frame().await.is_some() {} })
    };
    for f in &frames {
        sender.write_frame(f, Duration::from_millis(20)).unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut estimates = Vec::new();
    while let Ok(Some(ev)) = timeout(Duration::from_millis(200), events.recv()).await {
        if let PeerConnectionEvent::AvailableOutgoingBitrate(b) = ev {
            estimates.push(b);
        }
    }
    assert!(!estimates.is_empty(), "no availableOutgoingBitrate event");
    assert!(estimates.iter().all(|b| *b <= 200_000), "{estimates:?}");
    let stats = serde_json::to_value(a.get_stats().await.unwrap()).unwrap();
    let pair = stats
        .as_object()
        .unwrap()
        .values()
        .find(|s| s["type"] == "candidate-pair" && s["nominated"] == true)
        .unwrap_or_else(|| panic!("no pair: {stats}"));
    let available = pair["availableOutgoingBitrate"]
        .as_f64()
        .unwrap_or_else(|| panic!("{pair}"));
    assert!(available > 0.0 && available <= 200_000.0, "{pair}");
    reader.abort();
}

#[tokio::test(flavor = "current_thread")]
async fn unpaced_media_is_delivered_and_cannot_change_after_creation() {
    let pc = |seed| {
        PeerConnection::new(Configuration {
            seed: Some([seed; 32]),
            unpaced_media: true,
            ..Default::default()
        })
        .unwrap()
    };
    let (a, b) = (pc(3), pc(4));
    let _wa = watch(&a, &b);
    let mut wb = watch(&b, &a);
    let sender = a
        .add_track(
            &MediaStreamTrack::new(MediaKind::Video, "camera"),
            &[&MediaStream::new()],
        )
        .await
        .unwrap();
    offer_answer(&a, &b).await;
    let track = next_track(&mut wb).await;
    wait_connected(&[&a, &b]).await;
    let frames: Vec<Vec<u8>> = (0..30).map(|i| vp8_frame(i, i == 0)).collect();
    write_paced(&sender, &frames).await;
    for f in &frames {
        assert_eq!(&recv(&track.receiver).await.data[..], &f[..]);
    }
    let mut config = a.get_configuration();
    assert!(config.unpaced_media);
    config.unpaced_media = false;
    assert!(matches!(
        a.set_configuration(config).await,
        Err(ferrtc::Error::InvalidModification("unpacedMedia"))
    ));
}

/// W3C webrtc-pc §5.2 `active`: the one encoding set inactive sends no sender report
/// and no frame; set active again, its frames arrive and sender reports
/// resume (b's remote-outbound-rtp counts them).
#[tokio::test(flavor = "current_thread")]
async fn the_one_encoding_inactive_then_active_again_sends_frames_and_reports() {
    let (_a, b, sender, track, _w) = video_call().await;
    let reports = |b: PeerConnection| async move {
        b.get_stats()
            .await
            .unwrap()
            .stats
            .values()
            .filter_map(|s| match s {
                Stats::RemoteOutboundRtp(r) => Some(r.reports_sent),
                _ => None,
            })
            .sum::<u64>()
    };
    let frames: Vec<Vec<u8>> = (0..5).map(|i| vp8_frame(i, i == 0)).collect();
    write_paced(&sender, &frames).await;
    for _ in 0..5 {
        recv(&track.receiver).await;
    }
    let mut before = 0;
    for _ in 0..300 {
        before = reports(b.clone()).await;
        if before > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(before > 0, "no sender report while active");
    let mut p = sender.get_parameters();
    p.encodings[0].active = false;
    sender.set_parameters(p).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stopped = reports(b.clone()).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(reports(b.clone()).await, stopped, "reports while inactive");
    let mut p = sender.get_parameters();
    p.encodings[0].active = true;
    sender.set_parameters(p).unwrap();
    let frames: Vec<Vec<u8>> = (5..10).map(|i| vp8_frame(i, i == 5)).collect();
    write_paced(&sender, &frames).await;
    for f in &frames {
        assert_eq!(&*recv(&track.receiver).await.data, &f[..]);
    }
    let mut after = stopped;
    for _ in 0..300 {
        after = reports(b.clone()).await;
        if after > stopped {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(after > stopped, "sender reports did not resume");
}

/// W3C webrtc-pc §5.1 `addTransceiver`: a lone sendEncodings entry inactive from
/// addTransceiver: after negotiation its stream says inactive and nothing
/// arrives; set active, frames flow and the stats say active.
#[tokio::test(flavor = "current_thread")]
async fn a_lone_encoding_inactive_before_negotiation_then_active() {
    let (a, b) = pair();
    let _wa = watch(&a, &b);
    let mut wb = watch(&b, &a);
    let t = a
        .add_transceiver(
            MediaKind::Video,
            ferrtc::RtpTransceiverInit {
                direction: Some(ferrtc::RtpTransceiverDirection::SendOnly),
                send_encodings: vec![ferrtc::RtpEncodingParameters {
                    active: false,
                    ..Default::default()
                }],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let sender = t.sender();
    sender
        .replace_track(Some(&MediaStreamTrack::new(MediaKind::Video, "v")))
        .await
        .unwrap();
    offer_answer(&a, &b).await;
    let track = next_track(&mut wb).await;
    wait_connected(&[&a, &b]).await;
    let active = |sender: RtpSender| async move {
        sender
            .get_stats()
            .await
            .unwrap()
            .stats
            .values()
            .filter_map(|s| match s {
                Stats::OutboundRtp(o) => Some(o.active),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(active(sender.clone()).await, [false]);
    sender
        .write_frame(vp8_frame(0, true), Duration::from_millis(20))
        .unwrap();
    let nothing = timeout(Duration::from_millis(300), track.receiver.recv_frame()).await;
    assert!(nothing.is_err(), "a frame arrived while inactive");
    let mut p = sender.get_parameters();
    p.encodings[0].active = true;
    sender.set_parameters(p).unwrap();
    let frames: Vec<Vec<u8>> = (1..4).map(|i| vp8_frame(i, i == 1)).collect();
    write_paced(&sender, &frames).await;
    for f in &frames {
        assert_eq!(&*recv(&track.receiver).await.data, &f[..]);
    }
    assert_eq!(active(sender.clone()).await, [true]);
}

/// The `type`s in a report, sorted, once each.
fn stats_types(report: &ferrtc::StatsReport) -> Vec<&'static str> {
    let mut kinds: Vec<_> = report.stats.values().map(Stats::kind).collect();
    kinds.sort_unstable();
    kinds.dedup();
    kinds
}

/// Every id a report's objects reference (`transportId`, `codecId`,
/// `remoteId`, `localId`, `selectedCandidatePairId`, ...) that names no
/// object of the report.
fn dangling_references(report: &ferrtc::StatsReport) -> Vec<String> {
    let json = serde_json::to_value(report).unwrap();
    let mut dangling = Vec::new();
    for object in json.as_object().unwrap().values() {
        for (member, value) in object.as_object().unwrap() {
            if let Some(id) = value.as_str()
                && member.ends_with("Id")
                && !report.stats.contains_key(id)
            {
                dangling.push(format!("{}.{member} = {id}", object["id"]));
            }
        }
    }
    dangling
}

/// W3C webrtc-pc §8.5, the stats selection algorithm: `getStats()` of a
/// sender gives its `outbound-rtp` objects and every object they reference
/// directly or indirectly (codec, media source, transport, the selected
/// candidate pair and its candidates, the certificates); that of a receiver
/// gives its `inbound-rtp` objects and what they reference. Every id in
/// either report names an object of the same report, and nothing of the
/// other direction or of the peer connection itself is in it.
#[tokio::test(flavor = "current_thread")]
async fn sender_and_receiver_get_stats_hold_what_their_rtp_streams_reference() {
    let (a, _b, sender, track, _wa) = video_call().await;
    let frames: Vec<Vec<u8>> = (0..20).map(|i| vp8_frame(i, i == 0)).collect();
    write_paced(&sender, &frames).await;
    for _ in 0..20 {
        recv(&track.receiver).await;
    }

    let sent = sender.get_stats().await.unwrap();
    assert_eq!(dangling_references(&sent), Vec::<String>::new());
    for kind in [
        "outbound-rtp",
        "codec",
        "media-source",
        "transport",
        "candidate-pair",
        "local-candidate",
        "remote-candidate",
        "certificate",
    ] {
        assert!(
            stats_types(&sent).contains(&kind),
            "{kind} in {}",
            sent.to_json()
        );
    }
    for kind in ["inbound-rtp", "peer-connection", "remote-outbound-rtp"] {
        assert!(
            !stats_types(&sent).contains(&kind),
            "{kind} in {}",
            sent.to_json()
        );
    }

    let received = track.receiver.get_stats().await.unwrap();
    assert_eq!(dangling_references(&received), Vec::<String>::new());
    for kind in ["inbound-rtp", "codec", "transport", "candidate-pair"] {
        assert!(
            stats_types(&received).contains(&kind),
            "{kind} in {}",
            received.to_json()
        );
    }
    for kind in ["outbound-rtp", "media-source", "peer-connection"] {
        assert!(
            !stats_types(&received).contains(&kind),
            "{kind} in {}",
            received.to_json()
        );
    }

    // W3C webrtc-pc §8.2: getStats() still answers once the connection is
    // closed, with what it ended with.
    a.close().await;
    let last = sender.get_stats().await.expect("getStats after close");
    assert_eq!(dangling_references(&last), Vec::<String>::new());
    assert!(
        packets_sent(&last) >= packets_sent(&sent),
        "{}",
        last.to_json()
    );
}

/// Dropping the last `PeerConnection` handle closes the connection as
/// `close()` does; an `RtpSender` kept by the application then answers
/// `get_stats()` with the report the connection ended with (W3C webrtc-pc
/// §8.2), right after the drop as well as later, while the connection's
/// task is still ending.
#[tokio::test(flavor = "current_thread")]
async fn sender_get_stats_right_after_the_last_connection_handle_is_dropped() {
    let (a, b) = pair();
    let sender = a
        .add_track(
            &MediaStreamTrack::new(MediaKind::Video, "v"),
            &[&MediaStream::with_id("s")],
        )
        .await
        .unwrap();
    offer_answer(&a, &b).await;
    // Trickle by hand until both ends of candidates, so that no task keeps
    // a handle of `a` afterwards.
    let (mut a_done, mut b_done) = (false, false);
    let mut receiver = None;
    while !(a_done && b_done && receiver.is_some()) {
        tokio::select! {
            Some(ev) = a.next_event(), if !a_done => {
                if let PeerConnectionEvent::IceCandidate(c) = ev {
                    a_done = c.candidate.is_empty();
                    b.add_ice_candidate(c).await.unwrap();
                }
            }
            Some(ev) = b.next_event() => match ev {
                PeerConnectionEvent::IceCandidate(c) => {
                    b_done |= c.candidate.is_empty();
                    a.add_ice_candidate(c).await.unwrap();
                }
                PeerConnectionEvent::Track(t) => receiver = Some(t.receiver.clone()),
                _ => {}
            },
            () = tokio::time::sleep(WAIT) => panic!("no connection"),
        }
    }
    wait_connected(&[&a, &b]).await;
    let receiver = receiver.unwrap();
    let frames: Vec<Vec<u8>> = (0..5).map(|i| vp8_frame(i, i == 0)).collect();
    write_paced(&sender, &frames).await;
    for _ in 0..5 {
        recv(&receiver).await;
    }
    let before = sender.get_stats().await.unwrap();
    assert!(packets_sent(&before) > 0);

    drop(a);
    let right_after = sender.get_stats().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let later = sender.get_stats().await;
    assert!(
        later
            .as_ref()
            .is_ok_and(|r| packets_sent(r) >= packets_sent(&before)),
        "later: {later:?}"
    );
    assert!(
        right_after.is_ok(),
        "get_stats right after the drop: {right_after:?}; a moment later: Ok"
    );
}
