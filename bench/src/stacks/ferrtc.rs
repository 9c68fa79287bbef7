//! ferrtc: the async `PeerConnection` / `DataChannel` API on a tokio
//! multi-thread runtime, one task per peer connection (the crate's own
//! design). Each peer binds 127.0.0.1 only (`Configuration::host_addresses`),
//! like the other stacks; candidates are trickled in-process from
//! `next_event`.

use std::net::Ipv4Addr;
use std::time::Instant;

use ferrtc::{
    Configuration, DataChannel, DataChannelEvent, DataChannelInit, PeerConnection,
    PeerConnectionEvent, UdpMux,
};

use crate::proc::cpu_seconds;
use crate::stacks::common::{self, AsyncStack};
use crate::workload::{Sample, Workload};

/// Runs a workload (see [`common::run`]).
pub fn run(w: Workload) -> Result<Sample, String> {
    common::run::<Stack>(w)
}

struct Stack;

impl AsyncStack for Stack {
    const NAME: &'static str = "ferrtc";
    type Pair = Pair;

    fn version() -> String {
        crate::crate_version("ferrtc")
    }

    fn open_pair() -> impl Future<Output = Result<Pair, String>> + Send + 'static {
        open_pair(None)
    }

    async fn close(pair: Pair) {
        pair.close().await;
    }

    async fn throughput(bytes: u64, message_size: usize) -> Result<Sample, String> {
        throughput(bytes, message_size).await
    }

    async fn small_messages(count: u64, message_size: usize) -> Result<Sample, String> {
        small_messages(count, message_size).await
    }

    async fn connections(n: usize) -> Result<Sample, String> {
        // Two sockets per pair would pass the open-file hard limit: then the
        // answering sides share one port (ferrtc's `UdpMux`), as a server would.
        let mux = if 2 * n as u64 + 256 > crate::nofile_hard_limit() {
            eprintln!("ferrtc: {n} pairs: answering sides share one UdpMux port");
            Some(
                UdpMux::bind((Ipv4Addr::LOCALHOST, 0).into())
                    .await
                    .map_err(|e| e.to_string())?,
            )
        } else {
            None
        };
        common::connections::<Self, _>(n, move || open_pair(mux.clone())).await
    }
}

/// Both ends of a connected pair and its channel.
struct Pair {
    a: PeerConnection,
    b: PeerConnection,
    send: DataChannel,
    recv: DataChannel,
}

impl Pair {
    async fn close(&self) {
        self.a.close().await;
        self.b.close().await;
    }
}

/// Forwards `from`'s candidates to `to` and its remote channels to `channels`.
fn trickle(
    from: PeerConnection,
    to: PeerConnection,
    channels: tokio::sync::mpsc::UnboundedSender<DataChannel>,
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
                _ => {}
            }
        }
    });
}

/// New pair, one channel, offer/answer, trickle, until the channel is open
/// on both sides.
/// With `mux`, the answering side `b` uses that shared socket instead of
/// one of its own.
async fn open_pair(mux: Option<UdpMux>) -> Result<Pair, String> {
    let e = |e: ferrtc::Error| e.to_string();
    // One host candidate on 127.0.0.1, as every stack here gets.
    let config = || Configuration {
        host_addresses: vec![Ipv4Addr::LOCALHOST.into()],
        ..Default::default()
    };
    let a = PeerConnection::new(config()).map_err(e)?;
    let b = PeerConnection::new(match mux {
        // The mux's address is b's host candidate; no socket of its own.
        Some(mux) => Configuration {
            udp_mux: Some(mux),
            ..Default::default()
        },
        None => config(),
    })
    .map_err(e)?;
    let send = a
        .create_data_channel("bench", DataChannelInit::default())
        .await
        .map_err(e)?;
    let offer = a.create_offer().await.map_err(e)?;
    a.set_local_description(Some(offer.clone()))
        .await
        .map_err(e)?;
    b.set_remote_description(offer).await.map_err(e)?;
    let answer = b.create_answer().await.map_err(e)?;
    b.set_local_description(Some(answer.clone()))
        .await
        .map_err(e)?;
    a.set_remote_description(answer).await.map_err(e)?;
    // Trickle once both descriptions are set (W3C: addIceCandidate before
    // setRemoteDescription is an InvalidStateError); candidates gathered
    // meanwhile wait in the event streams.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    trickle(a.clone(), b.clone(), tx.clone());
    trickle(b.clone(), a.clone(), tx);
    let recv = rx.recv().await.ok_or("no remote channel")?;
    send.wait_open().await.map_err(e)?;
    recv.wait_open().await.map_err(e)?;
    Ok(Pair { a, b, send, recv })
}

/// Sends `count` messages of `size` bytes on the pair's channel (the
/// channel's `send` waits while more than 1 MiB is buffered) and returns the
/// wall-clock and CPU seconds from the first send to the last byte received.
async fn transfer(pair: &Pair, count: u64, size: usize) -> Result<(f64, f64), String> {
    let send = pair.send.clone();
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let writer = tokio::spawn(async move {
        let message = vec![0x5a_u8; size];
        for _ in 0..count {
            send.send(message.clone(), true).await?;
        }
        Ok::<(), ferrtc::Error>(())
    });
    let want = count * size as u64;
    let mut got = 0u64;
    while got < want {
        match pair.recv.recv().await {
            Some(DataChannelEvent::Message(m)) => got += m.as_bytes().len() as u64,
            Some(_) => {}
            None => return Err(format!("channel closed after {got} of {want} bytes")),
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    writer
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    Ok((secs, cpu))
}

async fn throughput(bytes: u64, size: usize) -> Result<Sample, String> {
    let pair = open_pair(None).await?;
    let count = bytes.div_ceil(size as u64);
    let (secs, cpu) = transfer(&pair, count, size).await?;
    pair.close().await;
    Ok(crate::throughput_sample(count * size as u64, secs, cpu))
}

async fn small_messages(count: u64, size: usize) -> Result<Sample, String> {
    let pair = open_pair(None).await?;
    let (secs, cpu) = transfer(&pair, count, size).await?;
    pair.close().await;
    Ok(Sample {
        secs,
        cpu_s: cpu,
        messages_per_s: Some(count as f64 / secs),
        ..Default::default()
    })
}
