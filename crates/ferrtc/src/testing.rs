//! Helpers shared by the crate's unit tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::{Configuration, DataChannel, DataChannelInit, PeerConnection, PeerConnectionEvent};

/// A waker's target that counts its wake-ups.
#[derive(Default)]
pub(crate) struct Wakes(AtomicUsize);

impl Wakes {
    /// The wake-ups so far.
    pub(crate) fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl std::task::Wake for Wakes {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Two connections on loopback with an open channel from the first:
/// the connections, our channel and the peer's.
pub(crate) async fn connected() -> (PeerConnection, PeerConnection, DataChannel, DataChannel) {
    let pc = || {
        PeerConnection::new(Configuration {
            host_addresses: vec![std::net::Ipv4Addr::LOCALHOST.into()],
            ..Default::default()
        })
        .expect("a connection")
    };
    let (a, b) = (pc(), pc());
    let ours = a
        .create_data_channel("c", DataChannelInit::default())
        .await
        .expect("a channel");
    let offer = a.create_offer().await.expect("an offer");
    a.set_local_description(Some(offer.clone())).await.unwrap();
    b.set_remote_description(offer).await.unwrap();
    let answer = b.create_answer().await.expect("an answer");
    b.set_local_description(Some(answer.clone())).await.unwrap();
    a.set_remote_description(answer).await.unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for (from, to) in [(a.clone(), b.clone()), (b.clone(), a.clone())] {
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Some(ev) = from.next_event().await {
                match ev {
                    PeerConnectionEvent::IceCandidate(c) => {
                        let _ = to.add_ice_candidate(c).await;
                    }
                    PeerConnectionEvent::DataChannel(dc) => {
                        let _ = tx.send(dc);
                    }
                    _ => {}
                }
            }
        });
    }
    let wait = Duration::from_secs(10);
    let theirs = tokio::time::timeout(wait, rx.recv())
        .await
        .expect("the peer's channel in time")
        .expect("the peer's channel");
    tokio::time::timeout(wait, ours.wait_open())
        .await
        .expect("open in time")
        .expect("open");
    (a, b, ours, theirs)
}
