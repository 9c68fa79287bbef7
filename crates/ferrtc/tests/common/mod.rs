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
    tokio::spawn(async move {
        while let Some(ev) = from.next_event().await {
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
    let offer = a.create_offer().await.unwrap();
    a.set_local_description(Some(offer.clone())).await.unwrap();
    b.set_remote_description(offer).await.unwrap();
    let answer = b.create_answer().await.unwrap();
    b.set_local_description(Some(answer.clone())).await.unwrap();
    a.set_remote_description(answer).await.unwrap();
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
