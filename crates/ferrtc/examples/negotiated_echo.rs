//! An answering peer with one out-of-band negotiated data channel
//! (`negotiated: true`, a fixed `id`) that echoes every message with its
//! type. Signaling is JSON lines on stdin/stdout in the browsers' forms,
//! as for `ferrtc peer`; logs go to stderr. Used by the Chromium interop test.
//!
//! ```sh
//! cargo run -p ferrtc --example negotiated_echo -- 7
//! ```

use ferrtc::{
    Configuration, DataChannelEvent, DataChannelInit, DataChannelMessage, IceCandidateInit,
    PeerConnection, PeerConnectionEvent, SdpType, SessionDescription,
};
use tokio::io::{AsyncBufReadExt, BufReader};

fn emit(v: &serde_json::Value) {
    println!("{v}");
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let id: u16 = std::env::args()
        .nth(1)
        .ok_or("usage: negotiated_echo ID")?
        .parse()?;
    let pc = PeerConnection::new(Configuration::default())?;
    let init = DataChannelInit {
        negotiated: true,
        id: Some(id),
        ..DataChannelInit::default()
    };
    let dc = pc.create_data_channel("negotiated", init).await?;
    let echo = dc.clone();
    tokio::spawn(async move {
        while let Some(ev) = echo.recv().await {
            match ev {
                DataChannelEvent::Open => eprintln!("negotiated channel {id} open"),
                DataChannelEvent::Message(m) => {
                    let (data, binary) = match std::sync::Arc::unwrap_or_clone(m) {
                        DataChannelMessage::Text(t) => (t.into_bytes(), false),
                        DataChannelMessage::Binary(b) => (b, true),
                    };
                    if echo.send(data, binary).await.is_err() {
                        break;
                    }
                }
                DataChannelEvent::Close => break,
                _ => {}
            }
        }
    });
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        tokio::select! {
            line = lines.next_line() => {
                let Ok(Some(line)) = line else { break };
                let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                    eprintln!("skipped signaling line: not JSON");
                    continue;
                };
                match v["type"].as_str() {
                    Some("offer") => {
                        let sdp = v["sdp"].as_str().unwrap_or_default();
                        pc.set_remote_description(SessionDescription::offer(sdp)).await?;
                        let answer = pc.create_answer().await?;
                        pc.set_local_description(Some(answer.clone())).await?;
                        if answer.kind == SdpType::Answer {
                            emit(&serde_json::json!({"type": "answer", "sdp": answer.sdp}));
                        }
                    }
                    Some("candidate") => {
                        let c: IceCandidateInit = serde_json::from_value(v)?;
                        if let Err(e) = pc.add_ice_candidate(c).await {
                            eprintln!("skipped candidate: {e}");
                        }
                    }
                    Some("bye") => break,
                    _ => eprintln!("skipped signaling line: unknown type"),
                }
            }
            ev = pc.next_event() => match ev {
                Some(PeerConnectionEvent::IceCandidate(c)) => emit(&serde_json::json!({
                    "type": "candidate",
                    "candidate": c.candidate,
                    "sdpMid": c.sdp_mid,
                    "sdpMLineIndex": c.sdp_m_line_index,
                })),
                Some(_) => {}
                None => break,
            }
        }
    }
    pc.close().await;
    // A read of stdin may still be pending in tokio's blocking pool.
    std::process::exit(0);
}
