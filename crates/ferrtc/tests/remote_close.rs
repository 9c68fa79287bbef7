//! The peer's `close()` seen from this side, through the tokio driver:
//! W3C webrtc-pc §4.3.3 makes `connectionState` and `iceConnectionState`
//! `closed` only when `[[IsClosed]]`, which only this side's `close()`
//! sets. The peer's close_notify closes the DTLS transport (W3C §5.5),
//! which counts like a connected one; ICE consent to the silent peer then
//! runs out (RFC 7675 §5.1), as a browser's does.

use std::time::Duration;

use ferrtc::{
    DataChannelEvent, DtlsTransportState, IceConnectionState, PeerConnectionEvent,
    PeerConnectionState,
};

mod common;
use common::connected_pair;

/// After the peer closed: the channel is `closed`, the connection is not
/// (it stays `connected`, the DTLS transport being closed by the peer),
/// and it goes `disconnected` once consent checks go unanswered; no
/// `closed` state change ever fires, for the connection or ICE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_peers_close_makes_this_side_disconnected_not_closed() {
    let (a, b, send, _recv) = connected_pair().await;
    let mut events = a.subscribe();
    b.close().await;
    tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(ev) = send.recv().await {
            if ev == DataChannelEvent::Close {
                break;
            }
        }
    })
    .await
    .expect("the channel did not close on the peer's close");
    assert_eq!(a.connection_state().await, PeerConnectionState::Connected);
    assert_ne!(a.ice_connection_state().await, IceConnectionState::Closed);
    // RFC 7675 §5.1: no consent answer for a while makes ICE disconnected
    // (8 s by default).
    let mut states = Vec::new();
    let mut ice = Vec::new();
    let disconnected = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(ev) = events.recv().await {
            match ev {
                PeerConnectionEvent::ConnectionStateChange(s) => {
                    states.push(s);
                    if s == PeerConnectionState::Disconnected {
                        return;
                    }
                }
                PeerConnectionEvent::IceConnectionStateChange(s) => ice.push(s),
                _ => {}
            }
        }
    })
    .await;
    assert!(disconnected.is_ok(), "states {states:?}, ICE {ice:?}");
    assert_eq!(states, vec![PeerConnectionState::Disconnected]);
    assert_eq!(ice, vec![IceConnectionState::Disconnected]);
    a.close().await;
    assert_eq!(a.connection_state().await, PeerConnectionState::Closed);
    assert_eq!(a.dtls_state().await, Some(DtlsTransportState::Closed));
}

/// `dtls_state()` is `None` (W3C `new`) until a description makes the
/// transport, on every clone of the handle, and `closed` after `close()`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dtls_state_is_new_until_a_description_and_closed_after_close() {
    let a = ferrtc::PeerConnection::new(ferrtc::Configuration::default()).expect("new");
    let clones: Vec<_> = (0..3).map(|_| a.clone()).collect();
    let states = futures_states(&clones).await;
    assert_eq!(states, vec![None; 3]);
    a.close().await;
    let states = futures_states(&clones).await;
    assert_eq!(states, vec![Some(DtlsTransportState::Closed); 3]);
}

/// Each clone's `dtls_state()`, asked from its own task.
async fn futures_states(pcs: &[ferrtc::PeerConnection]) -> Vec<Option<DtlsTransportState>> {
    let tasks: Vec<_> = pcs
        .iter()
        .map(|pc| {
            let pc = pc.clone();
            tokio::spawn(async move { pc.dtls_state().await })
        })
        .collect();
    let mut states = Vec::new();
    for t in tasks {
        states.push(t.await.expect("the task panicked"));
    }
    states
}

/// After the peer's close: `DtlsStateChange(Closed)` is told once, no
/// `ConnectionStateChange` with it; a send on the closed channel fails at
/// once; a channel created afterwards closes instead of staying
/// `connecting` until consent runs out. `dtls_state()` says `closed`
/// from the event on, though the connection is still `connected`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_peers_close_dtls_closed_is_told_and_channels_fail_cleanly() {
    let (a, b, send, _recv) = connected_pair().await;
    assert_eq!(a.dtls_state().await, Some(DtlsTransportState::Connected));
    let mut events = a.subscribe();
    b.close().await;
    let told = tokio::time::timeout(Duration::from_secs(5), async {
        let mut seen = Vec::new();
        while let Some(ev) = events.recv().await {
            match ev {
                PeerConnectionEvent::DtlsStateChange(s) => {
                    seen.push(format!("dtls {s:?}"));
                    if s == DtlsTransportState::Closed {
                        return seen;
                    }
                }
                PeerConnectionEvent::ConnectionStateChange(s) => seen.push(format!("pc {s:?}")),
                _ => {}
            }
        }
        seen
    })
    .await
    .expect("DtlsStateChange(Closed) not told");
    assert_eq!(told, vec!["dtls Closed".to_owned()]);
    // The getter agrees with the event while the connection stays up.
    assert_eq!(a.dtls_state().await, Some(DtlsTransportState::Closed));
    assert_eq!(a.connection_state().await, PeerConnectionState::Connected);
    tokio::time::timeout(Duration::from_secs(5), async {
        while send.ready_state() != ferrtc::DataChannelState::Closed {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the channel did not close");
    assert!(send.send_text("late").await.is_err());
    let late = a
        .create_data_channel("late", ferrtc::DataChannelInit::default())
        .await
        .expect("create_data_channel on a connection the peer closed");
    tokio::time::timeout(Duration::from_secs(5), async {
        while late.ready_state() != ferrtc::DataChannelState::Closed {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("a channel created after the peer's close stays connecting");
    a.close().await;
}
