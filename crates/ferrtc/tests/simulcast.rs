//! Simulcast (RFC 8853) between two `ferrtc::PeerConnection`s in one
//! process over UDP on loopback: W3C `sendEncodings` with rids, one task
//! per layer writing on clones of one sender (`write_frame_for`), the
//! receiver's frames tagged with their rid, `getParameters` /
//! `setParameters` of the encodings, and one `outbound-rtp` and one
//! `inbound-rtp` per layer.

mod common;

use common::{offer_answer, pc, watch_tracks};
use std::collections::BTreeMap;
use std::time::Duration;

use ferrtc::{
    EncodedFrame, MediaKind, MediaStreamTrack, PeerConnection, PeerConnectionState,
    RtpEncodingParameters, RtpReceiver, RtpSender, RtpTransceiverDirection, RtpTransceiverInit,
    Stats,
};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);
const RIDS: [&str; 3] = ["q", "h", "f"];

/// a offers, b answers: the answerer getting the offer as `munge` rewrites it
/// (as a peer that takes fewer rids, or no simulcast, would answer).
async fn negotiate_with(
    offerer: &PeerConnection,
    answerer: &PeerConnection,
    munge: impl Fn(String) -> String,
) {
    let offer = offerer.create_offer().await.unwrap();
    assert!(
        offer.sdp.contains("a=simulcast:send q;h;f"),
        "{}",
        offer.sdp
    );
    offerer
        .set_local_description(Some(offer.clone()))
        .await
        .unwrap();
    let mut seen = offer.clone();
    seen.sdp = munge(offer.sdp);
    let all = seen.sdp.contains("a=simulcast:send q;h;f");
    answerer.set_remote_description(seen).await.unwrap();
    let answer = answerer.create_answer().await.unwrap();
    assert!(
        !all || answer.sdp.contains("a=simulcast:recv q;h;f"),
        "{}",
        answer.sdp
    );
    answerer
        .set_local_description(Some(answer.clone()))
        .await
        .unwrap();
    offerer.set_remote_description(answer).await.unwrap();
}

fn encodings() -> Vec<RtpEncodingParameters> {
    RIDS.iter()
        .zip([Some(4.0), Some(2.0), None])
        .map(|(rid, scale)| RtpEncodingParameters {
            scale_resolution_down_by: scale,
            max_bitrate: Some(500_000),
            ..RtpEncodingParameters::with_rid(rid)
        })
        .collect()
}

/// a sends three layers to b; returns a's sender and b's receiver.
async fn simulcast_call() -> (PeerConnection, PeerConnection, RtpSender, RtpReceiver) {
    simulcast_call_with(|sdp| sdp).await
}

/// [`simulcast_call`], b getting a's offer as `munge` rewrites it.
async fn simulcast_call_with(
    munge: impl Fn(String) -> String,
) -> (PeerConnection, PeerConnection, RtpSender, RtpReceiver) {
    let (a, b) = (pc(1), pc(2));
    let _wa = watch_tracks(&a, &b);
    let mut wb = watch_tracks(&b, &a);
    let transceiver = a
        .add_transceiver(
            MediaKind::Video,
            RtpTransceiverInit {
                direction: Some(RtpTransceiverDirection::SendOnly),
                send_encodings: encodings(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let sender = transceiver.sender();
    sender
        .replace_track(Some(&MediaStreamTrack::new(MediaKind::Video, "camera")))
        .await
        .unwrap();
    negotiate_with(&a, &b, munge).await;
    let track = timeout(WAIT, wb.recv()).await.expect("track").unwrap();
    for pc in [&a, &b] {
        timeout(WAIT, async {
            while pc.connection_state().await != PeerConnectionState::Connected {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("not connected");
    }
    (a, b, sender, track.receiver)
}

/// Frame `seq` of layer `l`: a VP8 keyframe (byte 0 bit 0 clear, RFC 6386
/// §9.1), then the layer and the number, longer for higher layers.
fn layer_frame(l: u8, seq: u8) -> Vec<u8> {
    let mut f = vec![0x10, l, seq];
    f.extend(std::iter::repeat_n(l, (300 + usize::from(seq) * 40) << l));
    f
}

async fn recv(receiver: &RtpReceiver) -> EncodedFrame {
    timeout(WAIT, receiver.recv_frame())
        .await
        .expect("no frame")
        .expect("frames ended")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_task_per_layer_on_clones_of_one_sender_and_each_layer_arrives_in_order_with_its_rid() {
    let (_a, _b, sender, receiver) = simulcast_call().await;
    // The receiver subscribes before any frame.
    let mut frames = receiver.subscribe();
    let mut writers = Vec::new();
    for (l, rid) in RIDS.iter().enumerate() {
        let s = sender.clone();
        writers.push(tokio::spawn(async move {
            for seq in 0..15u8 {
                let f = layer_frame(l as u8, seq);
                s.write_frame_for(rid, &f, Duration::from_millis(33))
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    let mut got: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for _ in 0..45 {
        let f = timeout(WAIT, frames.recv()).await.expect("frame").unwrap();
        let rid = f.rid.clone().expect("a simulcast frame names its rid");
        let l = RIDS.iter().position(|r| *r == rid).unwrap() as u8;
        assert_eq!(f.data[1], l, "layer {rid} carries its own frames");
        assert_eq!(*f.data, *layer_frame(l, f.data[2]), "whole");
        got.entry(rid).or_default().push(f.data[2]);
    }
    for rid in RIDS {
        assert_eq!(
            got[rid],
            (0..15).collect::<Vec<u8>>(),
            "layer {rid} in order"
        );
    }

    // One outbound-rtp per layer (with its rid) on the sender, one
    // inbound-rtp per layer on the receiver.
    let out = sender.get_stats().await.unwrap();
    let mut out_rids: Vec<_> = out
        .stats
        .values()
        .filter_map(|s| match s {
            Stats::OutboundRtp(o) => Some((o.rid.clone(), o.frames_sent)),
            _ => None,
        })
        .collect();
    out_rids.sort();
    assert_eq!(
        out_rids,
        [("f", 15), ("h", 15), ("q", 15)].map(|(r, n)| (Some(r.to_owned()), n))
    );
    let inbound = receiver.get_stats().await.unwrap();
    let mut in_rids: Vec<_> = inbound
        .stats
        .values()
        .filter_map(|s| match s {
            Stats::InboundRtp(i) => Some((i.rid.clone(), i.frames_received)),
            _ => None,
        })
        .collect();
    in_rids.sort();
    assert_eq!(in_rids, out_rids);
}

#[tokio::test(flavor = "current_thread")]
async fn set_parameters_deactivates_one_layer_and_keeps_the_rids() {
    let (_a, _b, sender, receiver) = simulcast_call().await;
    let mut params = sender.get_parameters();
    assert_eq!(params.encodings, encodings());
    // W3C webrtc-pc §5.2: the rids cannot change.
    let mut renamed = params.clone();
    renamed.encodings[1].rid = Some("x".into());
    let err = sender.set_parameters(renamed).unwrap_err();
    assert_eq!(err.name(), "InvalidModificationError", "{err}");
    params.encodings[1].active = false;
    sender.set_parameters(params).unwrap();
    assert!(!sender.get_parameters().encodings[1].active);
    // A frame for the inactive layer is accepted and not sent; an unknown
    // rid is refused.
    let mut frames = receiver.subscribe();
    for seq in 0..3u8 {
        for (l, rid) in RIDS.iter().enumerate() {
            sender
                .write_frame_for(rid, layer_frame(l as u8, seq), Duration::from_millis(33))
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let err = sender
        .write_frame_for("x", layer_frame(0, 0), Duration::from_millis(33))
        .unwrap_err();
    assert_eq!(err.name(), "InvalidAccessError", "{err}");
    let mut rids = Vec::new();
    for _ in 0..6 {
        let f = timeout(WAIT, frames.recv()).await.expect("frame").unwrap();
        rids.push(f.rid.unwrap());
    }
    assert!(!rids.contains(&"h".to_owned()), "{rids:?}");
    let more = timeout(Duration::from_millis(300), frames.recv()).await;
    assert!(more.is_err(), "h sent nothing: {more:?}");
    // Without a rid a frame goes to the first active layer.
    sender
        .write_frame(layer_frame(0, 9), Duration::from_millis(33))
        .unwrap();
    assert_eq!(recv(&receiver).await.rid.as_deref(), Some("q"));
    // The core stopped the layer: its outbound-rtp says inactive and it
    // sent no RTP, and b saw no stream of it.
    let out = sender.get_stats().await.unwrap();
    let h = out
        .stats
        .values()
        .find_map(|s| match s {
            Stats::OutboundRtp(o) if o.rid.as_deref() == Some("h") => Some(o.clone()),
            _ => None,
        })
        .expect("an outbound-rtp for h");
    assert!(!h.active, "{h:?}");
    assert_eq!(h.packets_sent, 0, "{h:?}");
    let inbound = receiver.get_stats().await.unwrap();
    assert!(
        !inbound
            .stats
            .values()
            .any(|s| matches!(s, Stats::InboundRtp(i) if i.ssrc == h.ssrc)),
        "b received h's SSRC"
    );
    // With q stopped as well, a frame without rid written right after
    // goes to f, the first layer still active.
    let mut params = sender.get_parameters();
    params.encodings[0].active = false;
    sender.set_parameters(params).unwrap();
    sender
        .write_frame(layer_frame(2, 10), Duration::from_millis(33))
        .unwrap();
    assert_eq!(recv(&receiver).await.rid.as_deref(), Some("f"));
    // A layer turned on again takes the frame written right after: the
    // change travels in order with the frames.
    let mut params = sender.get_parameters();
    params.encodings[1].active = true;
    sender.set_parameters(params).unwrap();
    sender
        .write_frame_for("h", layer_frame(1, 11), Duration::from_millis(33))
        .unwrap();
    assert_eq!(recv(&receiver).await.rid.as_deref(), Some("h"));
}

#[tokio::test(flavor = "current_thread")]
async fn send_encodings_are_checked_trimmed_to_four_and_a_lone_rid_dropped_as_add_transceiver_does()
{
    let a = pc(3);
    let add = |send_encodings| {
        let a = a.clone();
        async move {
            a.add_transceiver(
                MediaKind::Video,
                RtpTransceiverInit {
                    send_encodings,
                    ..Default::default()
                },
            )
            .await
        }
    };
    let twice = vec![
        RtpEncodingParameters::with_rid("a"),
        RtpEncodingParameters::with_rid("a"),
    ];
    assert_eq!(add(twice).await.unwrap_err().name(), "TypeError");
    let unnamed = vec![
        RtpEncodingParameters::with_rid("a"),
        RtpEncodingParameters::default(),
    ];
    assert_eq!(add(unnamed).await.unwrap_err().name(), "TypeError");
    let bad = vec![RtpEncodingParameters::with_rid("a b")];
    assert_eq!(add(bad).await.unwrap_err().name(), "TypeError");
    let small = vec![RtpEncodingParameters {
        scale_resolution_down_by: Some(0.5),
        ..RtpEncodingParameters::with_rid("a")
    }];
    assert_eq!(add(small).await.unwrap_err().name(), "RangeError");
    // More than four are trimmed from the tail (W3C: maxN is the user
    // agent's), and a lone encoding loses its rid.
    let five = ["a", "b", "c", "d", "e"]
        .map(RtpEncodingParameters::with_rid)
        .to_vec();
    let trimmed = add(five).await.unwrap().sender().get_parameters().encodings;
    assert_eq!(
        trimmed,
        ["a", "b", "c", "d"].map(RtpEncodingParameters::with_rid)
    );
    let solo = pc(4);
    let lone = solo
        .add_transceiver(
            MediaKind::Video,
            RtpTransceiverInit {
                send_encodings: vec![RtpEncodingParameters::with_rid("a")],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        lone.sender().get_parameters().encodings,
        [RtpEncodingParameters::default()]
    );
    let offer = solo.create_offer().await.unwrap();
    assert!(!offer.sdp.contains("a=rid:"), "{}", offer.sdp);
    assert!(!offer.sdp.contains("a=simulcast:"), "{}", offer.sdp);
    let ok = add(encodings()).await.unwrap();
    assert_eq!(ok.sender().get_parameters().encodings, encodings());
}

/// W3C webrtc-pc §4.4.1.6: an answer that agrees to fewer rids cuts the
/// sender's encodings to them; a frame for a rid no longer negotiated is
/// refused at once.
#[tokio::test(flavor = "current_thread")]
async fn an_answer_removing_a_rid_cuts_the_encodings_and_refuses_its_frames() {
    let (_a, _b, sender, receiver) = simulcast_call_with(|sdp| {
        sdp.replace("a=simulcast:send q;h;f", "a=simulcast:send q;f")
            .replace("a=rid:h send\r\n", "")
    })
    .await;
    let rids: Vec<_> = sender
        .get_parameters()
        .encodings
        .into_iter()
        .map(|e| e.rid)
        .collect();
    assert_eq!(rids, [Some("q".to_owned()), Some("f".to_owned())]);
    let err = sender
        .write_frame_for("h", layer_frame(1, 0), Duration::from_millis(33))
        .unwrap_err();
    assert_eq!(err.name(), "InvalidAccessError", "{err}");
    sender
        .write_frame_for("f", layer_frame(2, 0), Duration::from_millis(33))
        .unwrap();
    assert_eq!(recv(&receiver).await.rid.as_deref(), Some("f"));
}

/// W3C webrtc-pc §4.4.1.6 (RFC 8829 §3.7): an answer without simulcast
/// leaves the first encoding only, whose frames are the one stream.
#[tokio::test(flavor = "current_thread")]
async fn an_answer_refusing_simulcast_keeps_the_first_encoding_as_the_one_stream() {
    let (_a, _b, sender, receiver) = simulcast_call_with(|sdp| {
        sdp.split_inclusive("\r\n")
            .filter(|l| !l.starts_with("a=rid:") && !l.starts_with("a=simulcast:"))
            .collect()
    })
    .await;
    let encodings = sender.get_parameters().encodings;
    assert_eq!(encodings.len(), 1, "{encodings:?}");
    assert_eq!(encodings[0].rid.as_deref(), Some("q"));
    let err = sender
        .write_frame_for("f", layer_frame(2, 0), Duration::from_millis(33))
        .unwrap_err();
    assert_eq!(err.name(), "InvalidAccessError", "{err}");
    sender
        .write_frame_for("q", layer_frame(0, 0), Duration::from_millis(33))
        .unwrap();
    let f = recv(&receiver).await;
    assert_eq!(f.rid, None);
    assert_eq!(*f.data, *layer_frame(0, 0));
}

/// The `active` of each `outbound-rtp` of `sender`, polled until it is
/// `want` (about a second): the last seen otherwise.
async fn outbound_active(sender: &RtpSender, want: &[bool]) -> Vec<bool> {
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
        if seen == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    seen
}

/// W3C webrtc-pc §4.4.1.6 and §5.2: an answer that agrees to one rid of
/// three leaves one encoding (its rid kept), sent as the layer of that
/// rid; `active: false` on it reaches that stream (its `outbound-rtp`
/// says inactive, and it sends no sender report).
#[tokio::test(flavor = "current_thread")]
async fn the_one_agreed_layer_set_inactive_is_reported_inactive() {
    let (_a, _b, sender, receiver) = simulcast_call_with(|sdp| {
        sdp.replace("a=simulcast:send q;h;f", "a=simulcast:send h")
            .replace("a=rid:q send\r\n", "")
            .replace("a=rid:f send\r\n", "")
    })
    .await;
    let encodings = sender.get_parameters().encodings;
    assert_eq!(encodings.len(), 1, "{encodings:?}");
    assert_eq!(encodings[0].rid.as_deref(), Some("h"));
    sender
        .write_frame(layer_frame(1, 0), Duration::from_millis(33))
        .unwrap();
    assert_eq!(recv(&receiver).await.rid.as_deref(), Some("h"));
    assert_eq!(outbound_active(&sender, &[true]).await, [true]);
    let mut p = sender.get_parameters();
    p.encodings[0].active = false;
    sender.set_parameters(p).unwrap();
    assert!(!sender.get_parameters().encodings[0].active);
    assert_eq!(outbound_active(&sender, &[false]).await, [false]);
}

/// W3C webrtc-pc §4.4.1.6: the first layer set inactive before
/// negotiation, then an answer refusing simulcast: the sender keeps that
/// encoding alone, still inactive, and the one stream that carries it
/// stays inactive (`outbound-rtp` active: false).
#[tokio::test(flavor = "current_thread")]
async fn an_inactive_first_layer_stays_inactive_when_simulcast_is_refused() {
    let (a, b) = (pc(1), pc(2));
    let _wa = watch_tracks(&a, &b);
    let _wb = watch_tracks(&b, &a);
    let transceiver = a
        .add_transceiver(
            MediaKind::Video,
            RtpTransceiverInit {
                direction: Some(RtpTransceiverDirection::SendOnly),
                send_encodings: encodings(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let sender = transceiver.sender();
    sender
        .replace_track(Some(&MediaStreamTrack::new(MediaKind::Video, "camera")))
        .await
        .unwrap();
    let mut p = sender.get_parameters();
    p.encodings[0].active = false;
    sender.set_parameters(p).unwrap();
    negotiate_with(&a, &b, |sdp| {
        sdp.split_inclusive("\r\n")
            .filter(|l| !l.starts_with("a=rid:") && !l.starts_with("a=simulcast:"))
            .collect()
    })
    .await;
    let encodings = sender.get_parameters().encodings;
    assert_eq!(encodings.len(), 1, "{encodings:?}");
    assert!(!encodings[0].active, "{encodings:?}");
    assert_eq!(outbound_active(&sender, &[false]).await, [false]);
}

/// W3C webrtc-pc §4.4.1.6 cuts `[[SendEncodings]]` to
/// the first encoding once an answer refuses simulcast, and later offers
/// are made from what is left (§4.4.1.5 createOffer, RFC 8829 §5.2.2): a
/// re-offer must not offer the removed layers again. Otherwise a peer
/// that now accepts them gets three streams while `getParameters` shows
/// one encoding, and the other two can never be set inactive.
#[tokio::test(flavor = "current_thread")]
async fn a_reoffer_after_simulcast_was_refused_does_not_bring_the_cut_layers_back() {
    let (a, b, sender, _receiver) = simulcast_call_with(|sdp| {
        sdp.split_inclusive("\r\n")
            .filter(|l| !l.starts_with("a=rid:") && !l.starts_with("a=simulcast:"))
            .collect()
    })
    .await;
    assert_eq!(sender.get_parameters().encodings.len(), 1);
    let offer = a.create_offer().await.unwrap();
    let reoffers_layers = offer.sdp.contains("a=simulcast:");
    // Let the answerer take what was offered, as a peer that supports
    // simulcast would.
    a.set_local_description(Some(offer.clone())).await.unwrap();
    b.set_remote_description(offer.clone()).await.unwrap();
    let answer = b.create_answer().await.unwrap();
    b.set_local_description(Some(answer.clone())).await.unwrap();
    a.set_remote_description(answer).await.unwrap();
    let encodings = sender.get_parameters().encodings.len();
    let streams = outbound_active(&sender, &[true]).await.len();
    assert!(
        !reoffers_layers && encodings == streams,
        "re-offer has simulcast: {reoffers_layers}; {encodings} encoding(s) in getParameters, \
         {streams} outbound-rtp\n{}",
        offer.sdp
    );
}

/// An answer agreeing to rid `h` alone leaves encoding `h` (W3C webrtc-pc
/// §4.4.1.6), so the next offer has no simulcast and its answer none: that
/// encoding is the one stream, and `active: false` on it reaches that
/// stream.
#[tokio::test(flavor = "current_thread")]
async fn the_kept_encoding_set_inactive_after_a_later_refusal_stops_its_stream() {
    let (a, b, sender, _receiver) = simulcast_call_with(|sdp| {
        sdp.replace("a=simulcast:send q;h;f", "a=simulcast:send h")
            .replace("a=rid:q send\r\n", "")
            .replace("a=rid:f send\r\n", "")
    })
    .await;
    assert_eq!(
        sender.get_parameters().encodings[0].rid.as_deref(),
        Some("h")
    );
    let offer = a.create_offer().await.unwrap();
    assert!(!offer.sdp.contains("a=simulcast:"), "{}", offer.sdp);
    offer_answer(&a, &b).await;
    let encodings = sender.get_parameters().encodings;
    assert_eq!(encodings.len(), 1, "{encodings:?}");
    assert_eq!(encodings[0].rid.as_deref(), Some("h"));
    assert_eq!(outbound_active(&sender, &[true]).await, [true]);
    let mut p = sender.get_parameters();
    p.encodings[0].active = false;
    sender.set_parameters(p).unwrap();
    assert!(!sender.get_parameters().encodings[0].active);
    assert_eq!(outbound_active(&sender, &[false]).await, [false]);
}
