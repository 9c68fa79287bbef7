//! The public async API from several tasks at once, on clones of one
//! handle, on a multi-thread and on a current-thread runtime (each test
//! runs on both). Every test is bounded by a timeout (nothing hangs),
//! checks that each call returns a result the W3C spec allows, that
//! nothing the API promises to deliver is lost or delivered twice, and
//! that the state at the end is consistent.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ferrtc::{
    DataChannelEvent, DataChannelState, MediaKind, MediaStream, MediaStreamTrack, PeerConnection,
    PeerConnectionEvent, RtpSender, SdpType, SignalingState, TrackEvent,
};
use tokio::sync::mpsc::unbounded_channel;
use tokio::task::JoinSet;
use tokio::time::timeout;

mod common;

use common::{connected_pair, offer_answer, pc, wait_connected, watch_tracks};

/// What any one test may take, at most.
const WAIT: Duration = Duration::from_secs(10);

/// Runs `$body` (an async fn) as two tests in a module `$name`: on a
/// multi-thread runtime and on a current-thread one.
macro_rules! on_both_runtimes {
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn multi_thread() {
                super::bounded(super::$body()).await;
            }

            #[tokio::test(flavor = "current_thread")]
            async fn current_thread() {
                super::bounded(super::$body()).await;
            }
        }
    };
}

/// Runs a test body within [`WAIT`] twice over.
async fn bounded(body: impl std::future::Future<Output = ()>) {
    timeout(WAIT * 2, body).await.expect("the test hung");
}

/// Joins every task of `set` within [`WAIT`]; a panic in one fails the test.
async fn join_all<T: 'static>(mut set: JoinSet<T>, what: &str) -> Vec<T> {
    let mut out = Vec::new();
    let all = async {
        while let Some(r) = set.join_next().await {
            out.push(r.unwrap_or_else(|e| panic!("a {what} task panicked: {e}")));
        }
    };
    timeout(WAIT, all)
        .await
        .unwrap_or_else(|_| panic!("a {what} task hung"));
    out
}

/// W3C webrtc-pc §6.2 `close()` sets `readyState` to `closing` at once,
/// and `send()` on a channel that is not open throws an
/// `InvalidStateError`; the closing procedure sends the messages queued
/// before it. So, with writers on clones of one channel racing a
/// `close()` on another clone, every `send` either fails with an
/// `InvalidStateError` or its message reaches the peer exactly once, in
/// its writer's order; a `send` after `close()` returned fails; and the
/// readers on clones of both ends see the channel end.
async fn sends_on_clones_racing_close_fail_or_arrive_exactly_once() {
    const WRITERS: u8 = 4;
    let (_a, _b, send, recv) = connected_pair().await;
    // The peer's application reads every message until the channel ends.
    let peer = {
        let recv = recv.clone();
        tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(ev) = recv.recv().await {
                if let DataChannelEvent::Message(m) = ev {
                    got.push(m.as_bytes().to_vec());
                }
            }
            got
        })
    };
    let mut readers = JoinSet::new();
    for _ in 0..2 {
        let dc = send.clone();
        readers.spawn(async move {
            let mut last = None;
            while let Some(ev) = dc.recv().await {
                last = Some(ev);
            }
            last
        });
    }
    let mut writers = JoinSet::new();
    for w in 0..WRITERS {
        let dc = send.clone();
        writers.spawn(async move {
            let mut accepted = Vec::new();
            for i in 0..100_000u32 {
                let mut m = vec![w];
                m.extend_from_slice(&i.to_be_bytes());
                match dc.send_binary(&m).await {
                    Ok(()) => accepted.push(m),
                    Err(e) => {
                        assert_eq!(e.name(), "InvalidStateError", "writer {w}: {e}");
                        return accepted;
                    }
                }
                if i % 4 == 0 {
                    tokio::task::yield_now().await;
                }
            }
            panic!("writer {w} was never refused");
        });
    }
    tokio::time::sleep(Duration::from_millis(30)).await;
    let closer = send.clone();
    closer.close();
    assert_ne!(
        closer.ready_state(),
        DataChannelState::Open,
        "W3C close(): readyState is closing at once"
    );
    let late = closer.send_text("after close").await;
    assert_eq!(
        late.as_ref().map_err(ferrtc::Error::name),
        Err("InvalidStateError"),
        "a send after close() returned"
    );
    let accepted: Vec<Vec<u8>> = join_all(writers, "writer").await.concat();
    let got = timeout(WAIT, peer)
        .await
        .expect("the peer's channel never ended")
        .expect("the peer's reader panicked");
    let unique: HashSet<&Vec<u8>> = got.iter().collect();
    assert_eq!(unique.len(), got.len(), "a message arrived twice");
    for w in 0..WRITERS {
        let sent: Vec<&Vec<u8>> = accepted.iter().filter(|m| m[0] == w).collect();
        let arrived: Vec<&Vec<u8>> = got.iter().filter(|m| m[0] == w).collect();
        assert_eq!(
            arrived.len(),
            sent.len(),
            "writer {w}: {} messages accepted, {} arrived",
            sent.len(),
            arrived.len()
        );
        assert_eq!(arrived, sent, "writer {w}: out of order");
    }
    for last in join_all(readers, "reader").await {
        assert_eq!(last, Some(DataChannelEvent::Close));
    }
    assert_eq!(send.ready_state(), DataChannelState::Closed);
    assert_eq!(send.buffered_amount(), 0);
}
on_both_runtimes!(
    sends_on_clones_racing_close,
    sends_on_clones_racing_close_fail_or_arrive_exactly_once
);

/// W3C webrtc-pc §4.4.1 (the operations chain): two `createOffer()`
/// calls from two tasks run one after the other, never interleaved; both
/// resolve with an offer; each task's `setLocalDescription` of its offer
/// either applies or (W3C §4.4.1.5: not the last offer created) fails with
/// an `InvalidModificationError`; at the end the connection is in
/// `have-local-offer` with the local description one of the two.
async fn create_offer_from_two_tasks_runs_in_turn() {
    let a = pc(11);
    a.create_data_channel("x", Default::default())
        .await
        .unwrap();
    let mut tasks = JoinSet::new();
    for _ in 0..2 {
        let a = a.clone();
        tasks.spawn(async move {
            let offer = a.create_offer().await.expect("createOffer");
            assert_eq!(offer.kind, SdpType::Offer);
            let applied = a.set_local_description(Some(offer.clone())).await;
            if let Err(e) = &applied {
                assert_eq!(e.name(), "InvalidModificationError", "{e}");
            }
            (offer, applied.is_ok())
        });
    }
    let results = join_all(tasks, "createOffer").await;
    assert!(results.iter().any(|(_, ok)| *ok), "no offer applied");
    assert_eq!(a.signaling_state().await, SignalingState::HaveLocalOffer);
    let local = a.local_description().await.expect("a local description");
    assert!(
        results.iter().any(|(o, ok)| *ok && o.sdp == local.sdp),
        "the local description is none of the offers applied"
    );
    a.close().await;
}
on_both_runtimes!(
    create_offer_from_two_tasks,
    create_offer_from_two_tasks_runs_in_turn
);

/// W3C webrtc-pc §4.4.1.5 `addIceCandidate()`: from several tasks while
/// another sets the remote description, each call before the description
/// fails with an `InvalidStateError` and each after it succeeds, however
/// often the same candidate comes again (the copies used to fill the
/// remote description up to its limit of 256 candidates, and then fail
/// with an `OperationError`); the peers then connect.
async fn add_ice_candidate_from_many_tasks_during_set_remote_description() {
    let a = pc(12);
    let b = pc(13);
    let dc = a
        .create_data_channel("x", Default::default())
        .await
        .unwrap();
    let mut a_events = a.subscribe();
    let offer = a.create_offer().await.unwrap();
    a.set_local_description(Some(offer.clone())).await.unwrap();
    // a's candidates, to the end of candidates.
    let mut candidates = Vec::new();
    timeout(WAIT, async {
        while let Some(ev) = a_events.recv().await {
            if let PeerConnectionEvent::IceCandidate(c) = ev {
                let end = c.candidate.is_empty();
                candidates.push(c);
                if end {
                    break;
                }
            }
        }
    })
    .await
    .expect("a gathered");
    let real: Vec<_> = candidates
        .iter()
        .filter(|c| !c.candidate.is_empty())
        .cloned()
        .collect();
    assert!(!real.is_empty());
    let described = Arc::new(AtomicBool::new(false));
    let mut adders = JoinSet::new();
    for t in 0..4 {
        let (b, real, described) = (b.clone(), real.clone(), Arc::clone(&described));
        adders.spawn(async move {
            for round in 0..20 {
                for c in &real {
                    let after = described.load(Ordering::SeqCst);
                    match b.add_ice_candidate(c.clone()).await {
                        Ok(()) => {}
                        Err(e) => {
                            assert!(!after, "task {t} round {round}: {e} after the description");
                            assert_eq!(e.name(), "InvalidStateError", "{e}");
                        }
                    }
                }
                tokio::task::yield_now().await;
            }
        });
    }
    tokio::task::yield_now().await;
    b.set_remote_description(offer).await.unwrap();
    described.store(true, Ordering::SeqCst);
    join_all(adders, "addIceCandidate").await;
    for c in &real {
        b.add_ice_candidate(c.clone()).await.unwrap();
    }
    let answer = b.create_answer().await.unwrap();
    b.set_local_description(Some(answer.clone())).await.unwrap();
    a.set_remote_description(answer).await.unwrap();
    // b's candidates reach a; a's are all added already.
    let (tx, _rx) = unbounded_channel();
    common::trickle(b.clone(), a.clone(), tx);
    timeout(WAIT, dc.wait_open())
        .await
        .expect("the channel did not open")
        .unwrap();
    a.close().await;
    b.close().await;
}
on_both_runtimes!(
    add_ice_candidate_during_set_remote_description,
    add_ice_candidate_from_many_tasks_during_set_remote_description
);

/// A call from `a` to `b` with one track of `kind`: the sender and the
/// peer's track event.
async fn call(
    seed: u8,
    kind: MediaKind,
) -> (PeerConnection, PeerConnection, RtpSender, TrackEvent) {
    let a = pc(seed);
    let b = pc(seed + 1);
    let _ = watch_tracks(&a, &b);
    let mut tracks = watch_tracks(&b, &a);
    let stream = MediaStream::with_id("s");
    let sender = a
        .add_track(&MediaStreamTrack::new(kind, "t"), &[&stream])
        .await
        .unwrap();
    offer_answer(&a, &b).await;
    let track = timeout(WAIT, tracks.recv())
        .await
        .expect("no track event")
        .unwrap();
    wait_connected(&[&a, &b]).await;
    (a, b, sender, track)
}

/// A VP8 keyframe (RFC 6386 §9.1: bit 0 of byte 0 clear) from `writer`,
/// number `seq`.
fn keyframe(writer: u8, seq: u16) -> Vec<u8> {
    let mut f = vec![0x10, writer];
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend(std::iter::repeat_n(writer, 300));
    f
}

/// W3C webrtc-pc §5.4 `stop()`: tasks reading frames on clones of a
/// receiver (and on subscriptions) while writers on clones of the peer's
/// sender write all end once the receiving transceiver stops; each got
/// each writer's frames in order, none twice; and the tasks waiting on
/// the connection's events end when it closes.
async fn recv_frame_on_clones_ends_when_the_transceiver_stops() {
    let (a, b, sender, track) = call(21, MediaKind::Video).await;
    let mut readers = JoinSet::new();
    for _ in 0..3 {
        let rx = track.receiver.clone();
        readers.spawn(async move {
            let mut got = Vec::new();
            while let Some(f) = rx.recv_frame().await {
                got.push(f);
            }
            got
        });
        let mut sub = track.receiver.subscribe();
        readers.spawn(async move {
            let mut got = Vec::new();
            while let Some(f) = sub.recv().await {
                got.push(f);
            }
            got
        });
    }
    let mut waiters = JoinSet::new();
    for _ in 0..3 {
        let b = b.clone();
        waiters.spawn(async move { while b.next_event().await.is_some() {} });
        let s = sender.clone();
        waiters.spawn(async move { while s.next_event().await.is_some() {} });
    }
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = JoinSet::new();
    for w in 0..3u8 {
        let (s, stop) = (sender.clone(), Arc::clone(&stop));
        writers.spawn(async move {
            let mut seq = 0u16;
            while !stop.load(Ordering::SeqCst) {
                if s.write_frame(keyframe(w, seq), Duration::from_millis(10))
                    .is_ok()
                {
                    seq += 1;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        });
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    track.transceiver.stop().await.unwrap();
    assert!(track.transceiver.stopped());
    for got in join_all(readers, "frame reader").await {
        let mut next = [0u16; 3];
        for f in got {
            let (w, seq) = (
                usize::from(f.data[1]),
                u16::from_be_bytes([f.data[2], f.data[3]]),
            );
            assert!(seq >= next[w], "writer {w}: frame {seq} after {}", next[w]);
            next[w] = seq + 1;
        }
    }
    // A receiver of a stopped transceiver reads nothing more.
    assert!(track.receiver.clone().recv_frame().await.is_none());
    stop.store(true, Ordering::SeqCst);
    join_all(writers, "writer").await;
    a.close().await;
    b.close().await;
    join_all(waiters, "event waiter").await;
}
on_both_runtimes!(
    recv_frame_on_clones_during_stop,
    recv_frame_on_clones_ends_when_the_transceiver_stops
);

/// W3C webrtc-pc §5.2 `replaceTrack()` and `setParameters()` from several
/// tasks at once while others write frames: every call resolves with a
/// result the spec allows, and at the end the sender's track is the one
/// of the last `replaceTrack` applied, its parameters those of the last
/// `setParameters` applied.
async fn replace_track_set_parameters_and_write_frame_at_once() {
    let (a, b, sender, track) = call(31, MediaKind::Video).await;
    let reader = {
        let rx = track.receiver.clone();
        tokio::spawn(async move {
            let mut n = 0usize;
            while rx.recv_frame().await.is_some() {
                n += 1;
            }
            n
        })
    };
    let mut tasks = JoinSet::new();
    for t in 0..3u8 {
        let s = sender.clone();
        tasks.spawn(async move {
            let mut last = None;
            for i in 0..20 {
                let new = MediaStreamTrack::new(MediaKind::Video, format!("t{t}-{i}"));
                s.replace_track(Some(&new)).await.expect("replaceTrack");
                last = Some(new.label().to_owned());
                tokio::task::yield_now().await;
            }
            last
        });
    }
    for t in 0..3u8 {
        let s = sender.clone();
        tasks.spawn(async move {
            for i in 0..20 {
                let mut p = s.get_parameters();
                p.encodings[0].active = (i + t) % 2 == 0;
                p.encodings[0].max_bitrate = Some(100_000 + u32::from(t));
                match s.set_parameters(p) {
                    Ok(()) => {}
                    // Another task's getParameters came in between (a
                    // newer transaction), or its setParameters used the
                    // last one up (W3C: [[LastReturnedParameters]] null).
                    Err(e) => assert!(
                        ["InvalidModificationError", "InvalidStateError"].contains(&e.name()),
                        "{e}"
                    ),
                }
                tokio::task::yield_now().await;
            }
            None
        });
    }
    for w in 0..3u8 {
        let s = sender.clone();
        tasks.spawn(async move {
            for seq in 0..40u16 {
                if let Err(e) = s.write_frame(keyframe(w, seq), Duration::from_millis(10)) {
                    // The queue for the task is full: an OperationError.
                    assert_eq!(e.name(), "OperationError", "{e}");
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            None
        });
    }
    // Consistent at the end: the track is one of those given, and a
    // getParameters/setParameters pair from here applies.
    let last: Vec<String> = join_all(tasks, "sender")
        .await
        .into_iter()
        .flatten()
        .collect();
    let label = sender.track().expect("a track").label().to_owned();
    assert!(
        last.contains(&label),
        "{label} is no task's last track: {last:?}"
    );
    let mut p = sender.get_parameters();
    p.encodings[0].active = true;
    sender.set_parameters(p.clone()).unwrap();
    assert_eq!(sender.get_parameters().encodings, p.encodings);
    a.close().await;
    b.close().await;
    timeout(WAIT, reader).await.expect("reader hung").unwrap();
}
on_both_runtimes!(
    replace_track_set_parameters_and_write_frame,
    replace_track_set_parameters_and_write_frame_at_once
);

/// W3C webrtc-pc §7.2 `insertDTMF()` racing `stop()` (§5.4): each insert
/// resolves or fails with an `InvalidStateError`; once `stop()` returned
/// inserting fails, `canInsertDTMF` is false, and the tasks waiting for
/// `tonechange` on clones end.
async fn insert_dtmf_racing_stop() {
    let (a, b, sender, _track) = call(41, MediaKind::Audio).await;
    let dtmf = sender.dtmf().expect("an audio sender has a DTMF sender");
    let mut listeners = JoinSet::new();
    for _ in 0..3 {
        let d = dtmf.clone();
        listeners.spawn(async move { while d.next_tone_change().await.is_some() {} });
    }
    let mut inserters = JoinSet::new();
    for t in 0..3 {
        let d = dtmf.clone();
        inserters.spawn(async move {
            for _ in 0..50 {
                match d
                    .insert_dtmf("12", Duration::from_millis(40), Duration::from_millis(30))
                    .await
                {
                    Ok(()) => {}
                    Err(e) => {
                        assert_eq!(e.name(), "InvalidStateError", "task {t}: {e}");
                        return;
                    }
                }
                tokio::task::yield_now().await;
            }
        });
    }
    tokio::task::yield_now().await;
    let transceivers = a.get_transceivers().await;
    let transceiver = transceivers
        .iter()
        .find(|t| t.sender() == sender)
        .expect("the sender's transceiver");
    transceiver.stop().await.unwrap();
    let after = dtmf
        .insert_dtmf("3", Duration::from_millis(40), Duration::from_millis(30))
        .await;
    assert_eq!(after.map_err(|e| e.name()), Err("InvalidStateError"));
    assert!(!dtmf.can_insert_dtmf().await.unwrap());
    join_all(inserters, "insertDTMF").await;
    join_all(listeners, "tonechange").await;
    a.close().await;
    b.close().await;
}
on_both_runtimes!(insert_dtmf_during_stop, insert_dtmf_racing_stop);

/// W3C webrtc-pc §8.2 `getStats()` from many tasks on clones, in a loop,
/// while the connection renegotiates and its channel carries messages:
/// every call resolves, and the connection's own traffic is not starved
/// by the calls (every message arrives, in order, within the timeout).
async fn get_stats_from_many_tasks_during_renegotiation() {
    let (a, b, send, recv) = connected_pair().await;
    let stop = Arc::new(AtomicBool::new(false));
    let mut pollers = JoinSet::new();
    for i in 0..6 {
        let pc = if i % 2 == 0 { a.clone() } else { b.clone() };
        let stop = Arc::clone(&stop);
        pollers.spawn(async move {
            let mut n = 0u32;
            while !stop.load(Ordering::SeqCst) {
                let report = pc.get_stats().await.expect("getStats");
                assert!(
                    report.first_of_type("peer-connection").is_some(),
                    "{report:?}"
                );
                n += 1;
                tokio::task::yield_now().await;
            }
            n
        });
    }
    let reader = tokio::spawn(async move {
        let mut next = 0u32;
        while next < 300 {
            match recv.recv().await {
                Some(DataChannelEvent::Message(m)) => {
                    let n = u32::from_be_bytes(m.as_bytes()[..4].try_into().unwrap());
                    assert_eq!(n, next, "a message lost, twice, or out of order");
                    next += 1;
                }
                Some(_) => {}
                None => panic!("the channel ended"),
            }
        }
    });
    let mut audio = None;
    for i in 0..300u32 {
        send.send_binary(&i.to_be_bytes()).await.unwrap();
        if i == 100 {
            let t = a
                .add_track(&MediaStreamTrack::new(MediaKind::Audio, "mic"), &[])
                .await
                .unwrap();
            offer_answer(&a, &b).await;
            audio = Some(t);
        }
        if i % 10 == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    timeout(WAIT, reader)
        .await
        .expect("the messages were starved")
        .unwrap();
    stop.store(true, Ordering::SeqCst);
    let polls = join_all(pollers, "getStats").await;
    assert!(polls.iter().all(|n| *n > 0));
    assert_eq!(a.signaling_state().await, SignalingState::Stable);
    assert!(audio.is_some());
    a.close().await;
    b.close().await;
}
on_both_runtimes!(
    get_stats_during_renegotiation,
    get_stats_from_many_tasks_during_renegotiation
);

/// W3C webrtc-pc §6.1 `createDataChannel()` from several tasks on clones
/// of a connected peer: every call resolves with its own channel (its
/// label, a stream id of its own), every channel opens, and the peer gets
/// one `datachannel` event for each, none twice.
async fn create_data_channel_from_many_tasks() {
    let a = pc(51);
    let b = pc(52);
    let (_first, _peer_first, mut later) = common::connect_keeping_channels(&a, &b, "first").await;
    let mut tasks = JoinSet::new();
    for t in 0..4 {
        let a = a.clone();
        tasks.spawn(async move {
            let mut made = Vec::new();
            for i in 0..4 {
                let label = format!("c{t}-{i}");
                let dc = a
                    .create_data_channel(&label, Default::default())
                    .await
                    .expect("createDataChannel");
                assert_eq!(dc.label(), label);
                made.push(dc);
            }
            made
        });
    }
    let made: Vec<_> = join_all(tasks, "createDataChannel")
        .await
        .into_iter()
        .flatten()
        .collect();
    for dc in &made {
        timeout(WAIT, dc.wait_open())
            .await
            .expect("a channel did not open")
            .unwrap();
    }
    let ids: HashSet<u16> = made.iter().map(|d| d.id().expect("an id")).collect();
    assert_eq!(ids.len(), made.len(), "two channels share a stream id");
    let mut labels = HashSet::new();
    for _ in 0..made.len() {
        let dc = timeout(WAIT, later.recv())
            .await
            .expect("a datachannel event is missing")
            .unwrap();
        assert!(labels.insert(dc.label().to_owned()), "{} twice", dc.label());
    }
    let expected: HashSet<String> = made.iter().map(|d| d.label().to_owned()).collect();
    assert_eq!(labels, expected);
    a.close().await;
    b.close().await;
}
on_both_runtimes!(
    create_data_channel_from_many_tasks_on_clones,
    create_data_channel_from_many_tasks
);

/// W3C webrtc-pc §5.1 `addTransceiver()` from several tasks while others
/// call `getTransceivers()`: each call gets a transceiver of its own, each
/// list is in creation order (a prefix of the final one), and the final
/// list holds every transceiver once.
async fn add_transceiver_from_many_tasks_while_others_list_them() {
    let a = pc(53);
    let mut adders = JoinSet::new();
    for t in 0..4 {
        let a = a.clone();
        adders.spawn(async move {
            let mut made = Vec::new();
            for i in 0..5 {
                let kind = if (t + i) % 2 == 0 {
                    MediaKind::Audio
                } else {
                    MediaKind::Video
                };
                made.push(
                    a.add_transceiver(kind, Default::default())
                        .await
                        .expect("addTransceiver"),
                );
            }
            made
        });
    }
    let mut listers = JoinSet::new();
    for _ in 0..2 {
        let a = a.clone();
        listers.spawn(async move {
            let mut lists = Vec::new();
            for _ in 0..20 {
                lists.push(a.get_transceivers().await);
                tokio::task::yield_now().await;
            }
            lists
        });
    }
    let made: Vec<_> = join_all(adders, "addTransceiver")
        .await
        .into_iter()
        .flatten()
        .collect();
    let all = a.get_transceivers().await;
    assert_eq!(all.len(), made.len());
    for t in &made {
        assert_eq!(all.iter().filter(|x| *x == t).count(), 1);
    }
    for lists in join_all(listers, "getTransceivers").await {
        for list in lists {
            assert!(list.len() <= all.len());
            assert!(list.iter().zip(&all).all(|(x, y)| x == y), "out of order");
        }
    }
    a.close().await;
}
on_both_runtimes!(
    add_transceiver_while_listing,
    add_transceiver_from_many_tasks_while_others_list_them
);

/// W3C webrtc-pc §4.4.1.5 the parameterless `setLocalDescription()` from
/// two tasks at once: both resolve (the second applies the offer the
/// first made, or a new one), and the connection ends in
/// `have-local-offer` with a local offer.
async fn implicit_set_local_description_from_two_tasks() {
    let a = pc(54);
    a.create_data_channel("x", Default::default())
        .await
        .unwrap();
    let mut tasks = JoinSet::new();
    for _ in 0..2 {
        let a = a.clone();
        tasks.spawn(async move { a.set_local_description(None).await });
    }
    for r in join_all(tasks, "setLocalDescription").await {
        r.expect("a parameterless setLocalDescription failed");
    }
    assert_eq!(a.signaling_state().await, SignalingState::HaveLocalOffer);
    let local = a.local_description().await.expect("a local offer");
    assert_eq!(local.kind, SdpType::Offer);
    a.close().await;
}
on_both_runtimes!(
    implicit_set_local_description_twice,
    implicit_set_local_description_from_two_tasks
);
