//! Media between two `ferrtc::PeerConnection`s in one process over UDP on
//! loopback: tracks, the track event, the sample writer and the frame
//! reader, clones of senders and receivers, `replaceTrack`,
//! `setParameters` and renegotiation.

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
                    let _ = tracks.send(t);
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

/// One offer/answer exchange from `offerer` to `answerer`.
async fn negotiate(offerer: &PeerConnection, answerer: &PeerConnection) {
    let offer = offerer.create_offer().await.unwrap();
    offerer
        .set_local_description(Some(offer.clone()))
        .await
        .unwrap();
    answerer.set_remote_description(offer).await.unwrap();
    let answer = answerer.create_answer().await.unwrap();
    answerer
        .set_local_description(Some(answer.clone()))
        .await
        .unwrap();
    offerer.set_remote_description(answer).await.unwrap();
}

async fn wait_connected(pcs: &[&PeerConnection]) {
    for pc in pcs {
        timeout(WAIT, async {
            while pc.connection_state().await != PeerConnectionState::Connected {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("not connected");
    }
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
    let early = video_sender.write_frame(&vp8_frame(0, true), Duration::from_millis(33));
    assert_eq!(early.unwrap_err().name(), "InvalidStateError");

    negotiate(&a, &b).await;
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

    // getStats of a receiver: its inbound-rtp only.
    let stats = video_rx.get_stats().await.unwrap();
    assert_eq!(stats.stats.len(), 1);
    match stats.stats.values().next().unwrap() {
        Stats::InboundRtp(s) => {
            assert_eq!(s.kind, "video");
            assert!(s.frames_received >= 40);
        }
        other => panic!("not inbound-rtp: {other:?}"),
    }
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
    negotiate(&a, &b).await;
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
    let none = sender.write_frame(&vp8_frame(9, true), Duration::from_millis(20));
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
    negotiate(&a, &b).await;
    let first = next_track(&mut wb).await;
    assert_eq!(first.track.kind(), MediaKind::Audio);
    wait_connected(&[&a, &b]).await;
    audio
        .write_frame(&opus_frame(0), Duration::from_millis(20))
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
    negotiate(&a, &b).await;
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
    negotiate(&a, &b).await;
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
