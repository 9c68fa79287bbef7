//! The MDN "simple RTCDataChannel sample" in Rust: two peer connections in
//! one process, a local one that creates a channel and a remote one that
//! receives it, connected over loopback; lines typed on stdin are sent from
//! the local side and printed by the remote side (end with Ctrl-D).
//!
//! ```sh
//! cargo run -p ferrtc --example simple_data_channel
//! ```

use ferrtc::{
    Configuration, DataChannelEvent, DataChannelInit, DataChannelMessage, PeerConnection,
    PeerConnectionEvent,
};
use tokio::io::{AsyncBufReadExt, BufReader};

/// Forwards `from`'s ICE candidates to `to` (what a signaling server does
/// between two browsers), and hands over the channels the peer opens.
fn signal(
    from: PeerConnection,
    to: PeerConnection,
    channels: tokio::sync::mpsc::UnboundedSender<ferrtc::DataChannel>,
) {
    tokio::spawn(async move {
        while let Some(event) = from.next_event().await {
            match event {
                PeerConnectionEvent::IceCandidate(c) => {
                    let _ = to.add_ice_candidate(c).await;
                }
                PeerConnectionEvent::DataChannel(dc) => {
                    let _ = channels.send(dc);
                }
                PeerConnectionEvent::ConnectionStateChange(s) => {
                    eprintln!("connection state: {}", s.as_str());
                }
                _ => {}
            }
        }
    });
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), ferrtc::Error> {
    // connectPeers()
    let local = PeerConnection::new(Configuration::default())?;
    let remote = PeerConnection::new(Configuration::default())?;
    let send_channel = local
        .create_data_channel("sendChannel", DataChannelInit::default())
        .await?;

    let offer = local.create_offer().await?;
    local.set_local_description(Some(offer.clone())).await?;
    remote.set_remote_description(offer).await?;
    let answer = remote.create_answer().await?;
    remote.set_local_description(Some(answer.clone())).await?;
    local.set_remote_description(answer).await?;

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    signal(local.clone(), remote.clone(), tx.clone());
    signal(remote.clone(), local.clone(), tx);

    // receiveChannelCallback()
    let receive_channel = rx.recv().await.ok_or(ferrtc::Error::Closed)?;
    tokio::spawn(async move {
        while let Some(event) = receive_channel.recv().await {
            match event {
                DataChannelEvent::Message(m) => {
                    if let DataChannelMessage::Text(text) = &*m {
                        println!("received: {text}");
                    }
                }
                DataChannelEvent::Close => break,
                _ => {}
            }
        }
    });

    send_channel.wait_open().await?;
    eprintln!("channel open: type lines to send, Ctrl-D to disconnect");
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        send_channel.send_text(&line).await?;
    }

    // disconnectPeers()
    send_channel.close();
    local.close().await;
    remote.close().await;
    Ok(())
}
