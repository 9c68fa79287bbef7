//! Candidates trickled the moment they appear, as browsers do: the peer's
//! candidates (and its connectivity checks) arrive before this side has
//! the remote description. The channel must still open within seconds.

use std::time::Duration;

use ferrtc::{
    Configuration, DataChannel, DataChannelEvent, DataChannelInit, DataChannelMessage,
    IceCandidateInit, PeerConnection, PeerConnectionEvent,
};
use tokio::sync::mpsc;

/// Forwards `from`'s candidates to `to` at once. `addIceCandidate` without
/// a remote description is an `InvalidStateError` (W3C webrtc-pc
/// §4.4.1.6), so a candidate refused for that reason waits, as a browser
/// application's queue would, and goes in as soon as `to` has one. The
/// `datachannel` events of `from` go to `channels`.
fn forward(from: PeerConnection, to: PeerConnection, channels: mpsc::UnboundedSender<DataChannel>) {
    tokio::spawn(async move {
        let mut held: Vec<IceCandidateInit> = Vec::new();
        let mut tick = tokio::time::interval(Duration::from_millis(2));
        loop {
            tokio::select! {
                ev = from.next_event() => match ev {
                    Some(PeerConnectionEvent::IceCandidate(c)) => {
                        if !held.is_empty() || to.add_ice_candidate(c.clone()).await.is_err() {
                            assert!(
                                to.remote_description().await.is_none(),
                                "candidate refused with a remote description"
                            );
                            held.push(c);
                        }
                    }
                    Some(PeerConnectionEvent::DataChannel(dc)) => {
                        let _ = channels.send(dc);
                    }
                    Some(_) => {}
                    None => break,
                },
                _ = tick.tick(), if !held.is_empty() => {
                    if to.remote_description().await.is_some() {
                        for c in held.drain(..) {
                            to.add_ice_candidate(c).await.unwrap();
                        }
                    }
                }
            }
        }
    });
}

async fn next_message(dc: &DataChannel) -> DataChannelMessage {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), dc.recv()).await {
            Ok(Some(DataChannelEvent::Message(m))) => return (*m).clone(),
            Ok(Some(_)) => continue,
            other => panic!("no message: {other:?}"),
        }
    }
}

/// Offer/answer with pauses in between, candidates forwarded from the
/// start; the channel is created by the offerer, or by the answerer.
async fn early_trickle(creator_is_offerer: bool, answer_delay: Duration) {
    let loopback = || Configuration {
        host_addresses: vec![std::net::Ipv4Addr::LOCALHOST.into()],
        ..Default::default()
    };
    let offerer = PeerConnection::new(loopback()).unwrap();
    let answerer = PeerConnection::new(loopback()).unwrap();
    let (to_answerer, mut at_answerer) = mpsc::unbounded_channel();
    let (to_offerer, mut at_offerer) = mpsc::unbounded_channel();
    // Events of the offerer carry the channels the answerer opened, and
    // the other way round.
    forward(offerer.clone(), answerer.clone(), to_offerer);
    forward(answerer.clone(), offerer.clone(), to_answerer);

    let first = offerer
        .create_data_channel("data", DataChannelInit::default())
        .await
        .unwrap();
    let offer = offerer.create_offer().await.unwrap();
    offerer
        .set_local_description(Some(offer.clone()))
        .await
        .unwrap();
    // The offerer gathers and trickles; the answerer has no offer yet.
    tokio::time::sleep(Duration::from_millis(50)).await;
    answerer.set_remote_description(offer).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let answer = answerer.create_answer().await.unwrap();
    answerer
        .set_local_description(Some(answer.clone()))
        .await
        .unwrap();
    // The answerer trickles, checks the offerer's candidates, and (as DTLS
    // client) sends its ClientHello, before the offerer has the answer.
    tokio::time::sleep(answer_delay).await;
    offerer.set_remote_description(answer).await.unwrap();

    let open = Duration::from_secs(5);
    let (send, recv) = if creator_is_offerer {
        let recv = tokio::time::timeout(open, at_answerer.recv())
            .await
            .expect("no datachannel event on the answerer within 5 s")
            .unwrap();
        (first, recv)
    } else {
        let send = answerer
            .create_data_channel("from-answerer", DataChannelInit::default())
            .await
            .unwrap();
        let recv = tokio::time::timeout(open, async {
            loop {
                let dc = at_offerer.recv().await.unwrap();
                if dc.label() == "from-answerer" {
                    return dc;
                }
            }
        })
        .await
        .expect("no datachannel event on the offerer within 5 s");
        (send, recv)
    };
    tokio::time::timeout(open, send.wait_open())
        .await
        .expect("channel not open within 5 s")
        .unwrap();
    send.send_text("early").await.unwrap();
    assert_eq!(
        next_message(&recv).await,
        DataChannelMessage::Text("early".into())
    );
    recv.send_binary(&[1, 2, 3]).await.unwrap();
    assert_eq!(
        next_message(&send).await,
        DataChannelMessage::Binary(vec![1, 2, 3])
    );
    offerer.close().await;
    answerer.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn candidates_trickled_before_the_answer_open_the_offerers_channel() {
    early_trickle(true, Duration::from_millis(300)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn candidates_trickled_before_the_answer_open_the_answerers_channel() {
    early_trickle(false, Duration::from_millis(300)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_that_comes_seconds_after_the_answerers_checks_still_opens_the_channel() {
    // The answerer's checks and retransmissions run for a while against
    // an offerer that cannot answer them with checks of its own yet.
    early_trickle(true, Duration::from_millis(2500)).await;
}
