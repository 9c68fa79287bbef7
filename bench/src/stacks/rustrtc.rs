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
use std::time::{Duration, Instant};

use rustrtc::transports::datachannel::{DataChannel, DataChannelConfig};
use rustrtc::{
    DataChannelEvent, IceCandidate, IceGatheringState, PeerConnection, PeerConnectionEvent,
    RtcConfiguration, RtcConfigurationBuilder,
};
use tokio::sync::broadcast;

use crate::proc::{cpu_seconds, median, peak_rss_mib, rss_mib};
use crate::workload::{Sample, Workload};

/// The sender waits while more than this is buffered (issue 8: 1 MiB).
const SEND_BUFFER: usize = 1 << 20;
/// Pairs opened at the same time in the connections workload.
const BATCH: usize = 64;
/// A connections run that has not finished by then is reported as failed.
const CONNECTIONS_LIMIT: Duration = Duration::from_secs(120);
/// One pair of the setup workload must open within this.
const SETUP_LIMIT: Duration = Duration::from_secs(30);

pub fn run(w: Workload) -> Result<Sample, String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let mut sample = rt.block_on(async move {
        match w {
            Workload::Throughput {
                bytes,
                message_size,
            } => throughput(bytes, message_size).await,
            Workload::Setup { rounds } => setup(rounds).await,
            Workload::Connections { pairs } => connections(pairs).await,
            Workload::SmallMessages {
                count,
                message_size,
            } => small_messages(count, message_size).await,
        }
    })?;
    sample.stack = "rustrtc".into();
    sample.version = crate::crate_version("rustrtc");
    sample.peak_rss_mib = peak_rss_mib();
    Ok(sample)
}

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

async fn setup(rounds: usize) -> Result<Sample, String> {
    let mut ms = Vec::with_capacity(rounds);
    let cpu0 = cpu_seconds();
    let t_all = Instant::now();
    for _ in 0..rounds {
        let t0 = Instant::now();
        let pair = tokio::time::timeout(SETUP_LIMIT, open_pair())
            .await
            .map_err(|_| format!("a pair did not open within {} s", SETUP_LIMIT.as_secs()))??;
        ms.push(t0.elapsed().as_secs_f64() * 1000.0);
        pair.close();
    }
    Ok(Sample {
        secs: t_all.elapsed().as_secs_f64(),
        cpu_s: cpu_seconds() - cpu0,
        setup_median_ms: Some(median(&mut ms)),
        ..Default::default()
    })
}

async fn connections(n: usize) -> Result<Sample, String> {
    let rss0 = rss_mib();
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let mut pairs = Vec::with_capacity(n);
    let result = tokio::time::timeout(CONNECTIONS_LIMIT, async {
        while pairs.len() < n {
            let batch = BATCH.min(n - pairs.len());
            let tasks: Vec<_> = (0..batch).map(|_| tokio::spawn(open_pair())).collect();
            for t in tasks {
                pairs.push(t.await.map_err(|e| e.to_string())??);
            }
        }
        Ok::<(), String>(())
    })
    .await;
    let secs = t0.elapsed().as_secs_f64();
    let outcome = match result {
        Ok(Ok(())) => Ok(crate::connections_sample(
            n,
            secs,
            cpu_seconds() - cpu0,
            rss0,
        )),
        Ok(Err(e)) => Err(format!("{} of {n} pairs open, then: {e}", pairs.len())),
        Err(_) => Err(format!(
            "{} of {n} pairs open after {} s",
            pairs.len(),
            CONNECTIONS_LIMIT.as_secs()
        )),
    };
    for p in &pairs {
        p.close();
    }
    outcome
}
