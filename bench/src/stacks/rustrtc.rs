//! rustrtc: its tokio-based `PeerConnection` on a tokio multi-thread
//! runtime, driven as the crate's own benchmark example drives it.
//!
//! Each peer gathers one host candidate on 127.0.0.1 (`bind_ip`, IPv6 off;
//! mDNS and UPnP are off by default); candidates are trickled in-process
//! from `subscribe_ice_candidates`, the remote channel arrives as
//! `PeerConnectionEvent::DataChannel`, channel events are read with
//! `DataChannel::recv`. The channel is asked to be ordered (rustrtc's
//! default is unordered) and reliable. Back-pressure is the crate's own
//! gate: `send_data` waits while more than `sctp_max_buffered_amount` is
//! queued or in flight, set to the workload's 1 MiB (default 256 KiB).

use std::sync::Arc;
use std::time::Instant;

use rustrtc::transports::datachannel::{DataChannel, DataChannelConfig};
use rustrtc::{
    DataChannelEvent, IceCandidate, IceGatheringState, PeerConnection, PeerConnectionEvent,
    RtcConfiguration, RtcConfigurationBuilder,
};
use tokio::sync::broadcast;

use crate::proc::cpu_seconds;
use crate::stacks::common::{self, AsyncStack};
use crate::workload::{Sample, Workload};

/// The sender waits while more than this is buffered (issue 8: 1 MiB).
const SEND_BUFFER: usize = 1 << 20;

fn err(e: rustrtc::RtcError) -> String {
    e.to_string()
}

/// Loopback host candidates only, IPv4, send gate at the workload's 1 MiB.
fn config() -> RtcConfiguration {
    RtcConfigurationBuilder::new()
        .bind_ip("127.0.0.1".to_string())
        .disable_ipv6(true)
        .sctp_max_buffered_amount(SEND_BUFFER)
        .build()
}

/// Adds `from`'s candidates to `to` (trickle ICE, RFC 8838) until `from`
/// has finished gathering.
fn trickle(mut rx: broadcast::Receiver<IceCandidate>, from: &PeerConnection, to: PeerConnection) {
    let mut gathering = from.subscribe_ice_gathering_state();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                c = rx.recv() => match c {
                    Ok(c) => {
                        let _ = to.add_ice_candidate(c);
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                changed = gathering.changed() => {
                    if changed.is_err() || *gathering.borrow() == IceGatheringState::Complete {
                        break;
                    }
                }
            }
        }
        // Candidates sent before the state changed are still queued.
        while let Ok(c) = rx.try_recv() {
            let _ = to.add_ice_candidate(c);
        }
    });
}

/// Waits for the channel's `open` event.
async fn wait_open(dc: &DataChannel) -> Result<(), String> {
    loop {
        match dc.recv().await {
            Some(DataChannelEvent::Open) => return Ok(()),
            Some(DataChannelEvent::Close) | None => return Err("channel closed".into()),
            Some(_) => {}
        }
    }
}

/// Runs a workload (see [`common::run`]).
pub fn run(w: Workload) -> Result<Sample, String> {
    common::run::<Stack>(w)
}

struct Stack;

impl AsyncStack for Stack {
    const NAME: &'static str = "rustrtc";
    type Pair = Pair;

    fn version() -> String {
        crate::crate_version("rustrtc")
    }

    fn open_pair() -> impl Future<Output = Result<Pair, String>> + Send + 'static {
        open_pair()
    }

    async fn close(pair: Pair) {
        pair.close();
    }

    async fn throughput(bytes: u64, message_size: usize) -> Result<Sample, String> {
        throughput(bytes, message_size).await
    }

    async fn small_messages(count: u64, message_size: usize) -> Result<Sample, String> {
        small_messages(count, message_size).await
    }
}

/// Both ends of a connected pair and its channel.
struct Pair {
    a: PeerConnection,
    b: PeerConnection,
    send: Arc<DataChannel>,
    recv: Arc<DataChannel>,
}

impl Pair {
    fn close(&self) {
        self.a.close();
        self.b.close();
    }
}

/// New pair, one reliable ordered channel, offer/answer, trickle, until the
/// channel is open on both sides.
async fn open_pair() -> Result<Pair, String> {
    let a = PeerConnection::new(config());
    let b = PeerConnection::new(config());
    let init = DataChannelConfig {
        ordered: true,
        ..Default::default()
    };
    let send = a.create_data_channel("bench", Some(init)).map_err(err)?;
    // Subscribed before `create_offer`, which starts gathering.
    let a_candidates = a.subscribe_ice_candidates();
    let b_candidates = b.subscribe_ice_candidates();
    let offer = a.create_offer().await.map_err(err)?;
    a.set_local_description(offer.clone()).map_err(err)?;
    b.set_remote_description(offer).await.map_err(err)?;
    trickle(a_candidates, &a, b.clone());
    let answer = b.create_answer().await.map_err(err)?;
    b.set_local_description(answer.clone()).map_err(err)?;
    a.set_remote_description(answer).await.map_err(err)?;
    trickle(b_candidates, &b, a.clone());
    let recv = loop {
        match b.recv().await {
            Some(PeerConnectionEvent::DataChannel(dc)) => break dc,
            Some(_) => {}
            None => return Err("no remote channel".into()),
        }
    };
    wait_open(&send).await?;
    wait_open(&recv).await?;
    Ok(Pair { a, b, send, recv })
}

/// Sends `count` messages of `size` bytes (`send_data` waits while 1 MiB is
/// buffered) and returns the wall-clock and CPU seconds from the first send
/// to the last byte received.
async fn transfer(pair: &Pair, count: u64, size: usize) -> Result<(f64, f64), String> {
    let pc = pair.a.clone();
    let id = pair.send.id;
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let writer = tokio::spawn(async move {
        let message = vec![0x5a_u8; size];
        for _ in 0..count {
            pc.send_data(id, &message).await?;
        }
        Ok::<(), rustrtc::RtcError>(())
    });
    let want = count * size as u64;
    let mut got = 0u64;
    while got < want {
        match pair.recv.recv().await {
            Some(DataChannelEvent::Message(m)) => got += m.len() as u64,
            Some(DataChannelEvent::Close) | None => {
                return Err(format!("channel closed after {got} of {want} bytes"));
            }
            Some(_) => {}
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    writer.await.map_err(|e| e.to_string())?.map_err(err)?;
    Ok((secs, cpu))
}

async fn throughput(bytes: u64, size: usize) -> Result<Sample, String> {
    let pair = open_pair().await?;
    let count = bytes.div_ceil(size as u64);
    let (secs, cpu) = transfer(&pair, count, size).await?;
    pair.close();
    Ok(crate::throughput_sample(count * size as u64, secs, cpu))
}

async fn small_messages(count: u64, size: usize) -> Result<Sample, String> {
    let pair = open_pair().await?;
    let (secs, cpu) = transfer(&pair, count, size).await?;
    pair.close();
    Ok(Sample {
        secs,
        cpu_s: cpu,
        messages_per_s: Some(count as f64 / secs),
        ..Default::default()
    })
}
