//! W3C webrtc-pc §6.1 and §6.2: the `open` and `closing` events of a data
//! channel fire exactly when the spec says, whatever state its handle was
//! made in and whichever side's close reaches the engine first.

use std::time::Duration;

use ferrtc::{DataChannelEvent, DataChannelState};
use tokio::time::timeout;

mod common;

use common::connected_pair;

const WAIT: Duration = Duration::from_secs(10);

/// W3C webrtc-pc §6.1 "announce the data channel" (steps 8-10): a channel
/// the peer created in-band is made `open` without the event, the
/// `datachannel` event fires, and then, still open, the channel is
/// announced as open: its `open` event fires, although its handle was made
/// open.
#[tokio::test(flavor = "current_thread")]
async fn a_channel_the_peer_created_fires_open() {
    let (_a, _b, send, recv) = connected_pair().await;
    assert_eq!(recv.ready_state(), DataChannelState::Open);
    send.send_text("hello").await.unwrap();
    // The first subscription gets the events from before it too.
    let mut seen = Vec::new();
    loop {
        let ev = timeout(WAIT, recv.recv()).await.expect("no event");
        match ev {
            Some(DataChannelEvent::Message(_)) | None => {
                seen.push(ev);
                break;
            }
            other => seen.push(other),
        }
    }
    assert_eq!(
        seen.first(),
        Some(&Some(DataChannelEvent::Open)),
        "the peer's channel must fire open before its first message; saw {seen:?}"
    );
}

/// W3C webrtc-pc §6.2 closing procedure, step 4: "Unless the procedure
/// was initiated by channel.close, set [[ReadyState]] to closing and fire
/// an event named closing". Once `close()` returned (readyState already
/// `closing`), the peer's close arriving before the task handed our close
/// to the engine must not fire `closing`. Made deterministic here by keeping our
/// close op behind messages blocked in the driver (the association's send
/// buffer full, the peer not reading), so the peer's reset is what the
/// engine sees first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_closing_event_after_close_when_the_peer_closes_meanwhile() {
    use ferrtc::DataChannelInit;
    let a = common::pc(1);
    let b = common::pc(2);
    let (_first, _first_b, mut later) = common::connect_keeping_channels(&a, &b, "first").await;
    // Enough channels to fill the association's 16 MiB send buffer at
    // 1 MiB each (the handle's high-water mark).
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for i in 0..24 {
        let dc = a
            .create_data_channel(&format!("c{i}"), DataChannelInit::default())
            .await
            .unwrap();
        timeout(WAIT, dc.wait_open()).await.unwrap().unwrap();
        let peer = timeout(WAIT, later.recv()).await.unwrap().unwrap();
        ours.push(dc);
        theirs.push(peer);
    }
    let chunk = vec![7u8; 64 * 1024];
    for dc in &ours {
        while dc.buffered_amount() < 1024 * 1024 - chunk.len() {
            timeout(WAIT, dc.send_binary(&chunk))
                .await
                .unwrap()
                .unwrap();
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let x = ours.last().unwrap();
    let x_peer = theirs.last().unwrap();
    let mut events = x.subscribe();
    x.close();
    assert_eq!(x.ready_state(), DataChannelState::Closing);
    // The peer closes too: its reset reaches us while our close waits.
    x_peer.close();
    let mut seen = Vec::new();
    let collect = async {
        while let Some(ev) = events.recv().await {
            let end = ev == DataChannelEvent::Close;
            seen.push(ev);
            if end {
                break;
            }
        }
    };
    let _ = timeout(Duration::from_secs(3), collect).await;
    assert!(
        !seen.contains(&DataChannelEvent::Closing),
        "close() was called first: no closing event (W3C §6.2); saw {seen:?}"
    );
}

/// W3C webrtc-pc §6.2: a channel created on a connection whose SCTP
/// transport is already up fires `open` too, although the engine opens it
/// at once and its handle is made open.
#[tokio::test(flavor = "current_thread")]
async fn a_channel_created_once_connected_fires_open() {
    let (a, _b, _send, _recv) = connected_pair().await;
    let dc = a
        .create_data_channel("late", ferrtc::DataChannelInit::default())
        .await
        .unwrap();
    timeout(WAIT, dc.wait_open()).await.unwrap().unwrap();
    dc.close();
    let mut seen = Vec::new();
    while let Ok(Some(ev)) = timeout(WAIT, dc.recv()).await {
        seen.push(ev);
    }
    assert!(
        seen.contains(&DataChannelEvent::Open),
        "no open event for a channel created once connected; saw {seen:?}"
    );
}
