//! Runs the signaling server and the demo web app alone (no bot), the way
//! `ferrtc signal` will:
//!
//! ```text
//! cargo run -p ferrtc-signal --example serve -- [--listen 127.0.0.1:8080]
//! ```
//!
//! Prints `listening on http://ADDR/` on stdout once the socket is bound
//! (port 0 picks a free port), and stops on Ctrl-C.

use std::net::SocketAddr;

use ferrtc_signal::{SignalConfig, serve_with_shutdown};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut listen: SocketAddr = ([127, 0, 0, 1], 8080).into();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => {
                let value = args.next().unwrap_or_default();
                listen = value.parse().map_err(|e| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        format!("--listen {value:?}: {e}"),
                    )
                })?;
            }
            other => {
                eprintln!("usage: serve [--listen ADDR]   (unknown argument {other:?})");
                std::process::exit(2);
            }
        }
    }
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("listening on http://{}/", listener.local_addr()?);
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    serve_with_shutdown(listener, SignalConfig::default(), shutdown).await
}
