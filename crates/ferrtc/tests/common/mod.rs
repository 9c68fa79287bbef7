//! Setups the integration tests share: peers on loopback, in-process
//! trickle, one offer/answer with a data channel.
// Each test binary uses its own part of this module.
#![allow(dead_code)]

use std::time::Duration;

use ferrtc::{
    Configuration, DataChannel, DataChannelInit, PeerConnection, PeerConnectionEvent,
    PeerConnectionState,
};
use tokio::sync::mpsc;

/// A peer with a fixed seed and the default configuration.
pub fn pc(seed: u8) -> PeerConnection {
    PeerConnection::new(Configuration {
        seed: Some([seed; 32]),
        ..Default::default()
    })
    .unwrap()
}

/// Forwards every candidate of `from` to `to`, and the data channels the
/// peer of `from` opens to `channels`, until `from` closes.
pub fn trickle(
    from: PeerConnection,
    to: PeerConnection,
    channels: mpsc::UnboundedSender<DataChannel>,
) {
    // Subscribed here, not in the task: the first subscription takes the
    // backlog, and a test's own later `subscribe()` must not be first if
    // the task has not run yet (a busy machine, a multi-thread runtime).
    let mut events = from.subscribe();
    tokio::spawn(async move {
        while let Some(ev) = events.recv().await {
            match ev {
                PeerConnectionEvent::IceCandidate(c) => {
                    let _ = to.add_ice_candidate(c).await;
                }
                PeerConnectionEvent::DataChannel(dc) => {
                    let _ = channels.send(dc);
                }
                PeerConnectionEvent::ConnectionStateChange(PeerConnectionState::Closed) => break,
                _ => {}
            }
        }
    });
}

/// Offer/answer between `a` (controlling) and `b` with a channel `label`
/// from `a`: both stable, no candidate exchanged yet.
pub async fn negotiate(a: &PeerConnection, b: &PeerConnection, label: &str) -> DataChannel {
    let channel = a
        .create_data_channel(label, DataChannelInit::default())
        .await
        .unwrap();
    offer_answer(a, b).await;
    channel
}

/// Negotiates a channel `label` from `a` to `b`, trickles candidates both
/// ways and waits until the channel is open on both sides; also gives the
/// channels the peers open later.
pub async fn connect_keeping_channels(
    a: &PeerConnection,
    b: &PeerConnection,
    label: &str,
) -> (
    DataChannel,
    DataChannel,
    mpsc::UnboundedReceiver<DataChannel>,
) {
    let send = negotiate(a, b, label).await;
    // Candidates wait in the event streams until both descriptions are set
    // (addIceCandidate before setRemoteDescription is an error, as in browsers).
    let (tx, mut rx) = mpsc::unbounded_channel();
    trickle(a.clone(), b.clone(), tx.clone());
    trickle(b.clone(), a.clone(), tx);
    let recv = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("no datachannel event")
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), send.wait_open())
        .await
        .expect("channel did not open")
        .unwrap();
    (send, recv, rx)
}

/// [`connect_keeping_channels`] without the later channels.
pub async fn connect(
    a: &PeerConnection,
    b: &PeerConnection,
    label: &str,
) -> (DataChannel, DataChannel) {
    let (send, recv, _later) = connect_keeping_channels(a, b, label).await;
    (send, recv)
}

/// Peers seeded 1 and 2 with an open channel "chat" from the first.
pub async fn connected_pair() -> (PeerConnection, PeerConnection, DataChannel, DataChannel) {
    let a = pc(1);
    let b = pc(2);
    let (send, recv) = connect(&a, &b, "chat").await;
    (a, b, send, recv)
}

/// Forwards every candidate of `from` to `to` (retrying while `to` has no
/// remote description yet); `from`'s track events go to the returned
/// channel. Ends when `from` closes.
pub fn watch_tracks(
    from: &PeerConnection,
    to: &PeerConnection,
) -> mpsc::UnboundedReceiver<ferrtc::TrackEvent> {
    let (tracks, rx) = mpsc::unbounded_channel();
    let mut events = from.subscribe();
    let to = to.clone();
    tokio::spawn(async move {
        while let Some(ev) = events.recv().await {
            match ev {
                PeerConnectionEvent::IceCandidate(c) => {
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
                PeerConnectionEvent::ConnectionStateChange(PeerConnectionState::Closed) => break,
                _ => {}
            }
        }
    });
    rx
}

/// One offer/answer from `offerer` to `answerer`, with what each has.
pub async fn offer_answer(offerer: &PeerConnection, answerer: &PeerConnection) {
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

/// Waits (10 s at most each) until every one of `pcs` is connected.
pub async fn wait_connected(pcs: &[&PeerConnection]) {
    for pc in pcs {
        tokio::time::timeout(Duration::from_secs(10), async {
            while pc.connection_state().await != PeerConnectionState::Connected {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("not connected");
    }
}
