//! W3C webrtc-pc §4.4.1 `close()`, called from several
//! tasks on clones of one `PeerConnection` while others wait on its events
//! and channels. Nothing may hang: every `close()` returns, every event
//! stream ends, every channel reads `closed` with nothing buffered, and
//! channel waiters return.

use std::time::Duration;

use ferrtc::{
    DataChannel, DataChannelInit, DataChannelState, PeerConnection, PeerConnectionEvent,
    PeerConnectionState, SignalingState,
};
use tokio::task::JoinSet;

mod common;

use common::{connected_pair, pc};

/// Spawns waiters on every kind of thing a handle can wait on, then
/// several closers, on clones of `a`; checks that all of them end.
async fn close_from_many_tasks(a: PeerConnection, channels: Vec<DataChannel>, writers: bool) {
    let mut waiters = JoinSet::new();
    for i in 0..4 {
        let a2 = a.clone();
        waiters.spawn(async move {
            let mut n = 0usize;
            while a2.next_event().await.is_some() {
                n += 1;
            }
            format!("next_event {i} ended after {n}")
        });
        let mut sub = a.subscribe();
        waiters.spawn(async move {
            let mut last = None;
            while let Some(ev) = sub.recv().await {
                last = Some(ev);
            }
            // W3C §4.4.1 close(): no event, no state change to closed.
            assert!(
                !matches!(
                    last,
                    Some(PeerConnectionEvent::ConnectionStateChange(
                        PeerConnectionState::Closed
                    ))
                ),
                "a state change after close: {last:?}"
            );
            format!("subscription {i} ended")
        });
    }
    for (c, dc) in channels.iter().enumerate() {
        for i in 0..2 {
            let dc = dc.clone();
            waiters.spawn(async move {
                let mut last = None;
                while let Some(ev) = dc.recv().await {
                    last = Some(ev);
                }
                assert_eq!(dc.ready_state(), DataChannelState::Closed);
                format!("channel {c} recv {i} ended, last {last:?}")
            });
        }
        let dc2 = dc.clone();
        waiters.spawn(async move {
            let r = dc2.wait_open().await;
            format!("channel {c} wait_open {r:?}")
        });
        let dc3 = dc.clone();
        if writers {
            waiters.spawn(async move {
                // A writer: sends until refused.
                let mut sent = 0;
                loop {
                    match dc3.send_binary(&[0u8; 8192]).await {
                        Ok(()) => sent += 1,
                        Err(_) => break,
                    }
                    if dc3.ready_state() != DataChannelState::Open {
                        break;
                    }
                    tokio::task::yield_now().await;
                }
                format!("channel {c} writer stopped after {sent}")
            });
        }
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut closers = JoinSet::new();
    for i in 0..4 {
        let a = a.clone();
        closers.spawn(async move {
            a.close().await;
            // Calls after close answer at once.
            assert_eq!(a.signaling_state().await, SignalingState::Closed);
            assert_eq!(a.connection_state().await, PeerConnectionState::Closed);
            assert!(a.create_offer().await.is_err());
            a.close().await;
            format!("closer {i} done")
        });
    }
    let all = async {
        while let Some(r) = closers.join_next().await {
            r.expect("a closer panicked");
        }
        while let Some(r) = waiters.join_next().await {
            r.expect("a waiter panicked");
        }
    };
    tokio::time::timeout(Duration::from_secs(15), all)
        .await
        .expect("a close() caller or a waiter hung after close()");
    for (c, dc) in channels.iter().enumerate() {
        assert_eq!(dc.ready_state(), DataChannelState::Closed, "channel {c}");
        assert_eq!(dc.buffered_amount(), 0, "channel {c}");
        assert!(dc.send_text("late").await.is_err());
    }
}

async fn pair_test(writers: bool) {
    let (a, b, send, recv) = connected_pair().await;
    let more = a
        .create_data_channel("y", DataChannelInit::default())
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), more.wait_open())
        .await
        .expect("second channel did not open")
        .unwrap();
    // The peer's application reads: a channel's close comes after the
    // messages before it (a reader that stops reading holds them, and the
    // close, back).
    let reader = recv.clone();
    tokio::spawn(async move { while reader.recv().await.is_some() {} });
    close_from_many_tasks(a, vec![send, more], writers).await;
    // The peer learns it: its channel closes.
    let closed = async {
        while recv.ready_state() != DataChannelState::Closed {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    if tokio::time::timeout(Duration::from_secs(15), closed)
        .await
        .is_err()
    {
        panic!(
            "the peer's channel did not close: peer connection {:?}, ice {:?}, channel {:?}",
            b.connection_state().await,
            b.ice_connection_state().await,
            recv.ready_state()
        );
    }
    drop(b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_from_many_tasks_while_others_wait_on_a_connected_pair() {
    pair_test(false).await;
}

/// The same with writers filling the SCTP send buffer when close() comes:
/// the peer must still learn of the close (SCTP ABORT, DTLS close_notify).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_from_many_tasks_while_writers_fill_the_send_buffer_reaches_the_peer() {
    pair_test(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_from_many_tasks_while_a_channel_is_still_connecting() {
    let a = pc(3);
    let dc = a
        .create_data_channel("never", DataChannelInit::default())
        .await
        .unwrap();
    a.set_local_description(None).await.unwrap();
    close_from_many_tasks(a, vec![dc], true).await;
}

#[tokio::test(flavor = "current_thread")]
async fn close_from_many_tasks_on_one_thread() {
    let (a, _b, send, _recv) = connected_pair().await;
    close_from_many_tasks(a, vec![send], true).await;
}
