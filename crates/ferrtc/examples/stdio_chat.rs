//! A two-process chat (after MDN's "Signaling and video calling" guide,
//! text only): signaling is JSON lines on stdin/stdout in the browsers'
//! forms, chat lines are typed on the terminal (`/dev/tty`) and received
//! ones are printed on stderr. Wire two of them together with FIFOs:
//!
//! ```sh
//! mkfifo a2b b2a
//! cargo run -p ferrtc --example stdio_chat -- --offer < b2a > a2b   # terminal 1
//! cargo run -p ferrtc --example stdio_chat > b2a < a2b              # terminal 2
//! ```

use ferrtc::{
    Configuration, DataChannel, DataChannelEvent, DataChannelInit, DataChannelMessage,
    IceCandidateInit, PeerConnection, PeerConnectionEvent, SessionDescription,
};
use tokio::io::{AsyncBufReadExt, BufReader};

fn emit(v: serde_json::Value) {
    println!("{v}");
}

/// Prints what the peer says; sends what is typed on the terminal.
fn chat(dc: DataChannel) {
    let reader = dc.clone();
    tokio::spawn(async move {
        while let Some(ev) = reader.recv().await {
            match ev {
                DataChannelEvent::Open => eprintln!("* connected: type to chat"),
                DataChannelEvent::Message(m) => {
                    if let DataChannelMessage::Text(t) = &*m {
                        eprintln!("peer> {t}");
                    }
                }
                DataChannelEvent::Close => {
                    eprintln!("* peer left");
                    break;
                }
                _ => {}
            }
        }
    });
    tokio::spawn(async move {
        let Ok(tty) = tokio::fs::File::open("/dev/tty").await else {
            eprintln!("* no terminal: receive only");
            return;
        };
        if dc.wait_open().await.is_err() {
            return;
        }
        let mut lines = BufReader::new(tty).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if dc.send_text(&line).await.is_err() {
                break;
            }
        }
        dc.close();
    });
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let offering = std::env::args().any(|a| a == "--offer");
    let pc = PeerConnection::new(Configuration::default())?;
    if offering {
        chat(
            pc.create_data_channel("chat", DataChannelInit::default())
                .await?,
        );
        let offer = pc.create_offer().await?;
        pc.set_local_description(Some(offer.clone())).await?;
        emit(serde_json::json!({"type": "offer", "sdp": offer.sdp}));
    }
    let mut signaling = BufReader::new(tokio::io::stdin()).lines();
    loop {
        tokio::select! {
            line = signaling.next_line() => {
                let Ok(Some(line)) = line else { break };
                let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
                let sdp = v["sdp"].as_str().unwrap_or_default().to_owned();
                match v["type"].as_str() {
                    Some("offer") => {
                        pc.set_remote_description(SessionDescription::offer(sdp)).await?;
                        let answer = pc.create_answer().await?;
                        pc.set_local_description(Some(answer.clone())).await?;
                        emit(serde_json::json!({"type": "answer", "sdp": answer.sdp}));
                    }
                    Some("answer") => pc.set_remote_description(SessionDescription::answer(sdp)).await?,
                    Some("candidate") => {
                        let c: IceCandidateInit = serde_json::from_value(v)?;
                        pc.add_ice_candidate(c).await?;
                    }
                    Some("bye") => break,
                    _ => {}
                }
            }
            ev = pc.next_event() => match ev {
                Some(PeerConnectionEvent::IceCandidate(c)) => emit(serde_json::json!({
                    "type": "candidate", "candidate": c.candidate,
                    "sdpMid": c.sdp_mid, "sdpMLineIndex": c.sdp_m_line_index,
                })),
                Some(PeerConnectionEvent::DataChannel(dc)) => chat(dc),
                Some(_) => {}
                None => break,
            }
        }
    }
    pc.close().await;
    // A read of stdin may still be pending in tokio's blocking pool.
    std::process::exit(0);
}
