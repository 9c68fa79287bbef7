//! `ferrtc bench`: pairs of peer connections in one process over real UDP
//! on loopback; setup time, throughput, CPU time and peak memory.

use std::time::{Duration, Instant};

use ferrtc::{
    Configuration, DataChannel, DataChannelEvent, DataChannelInit, PeerConnection,
    PeerConnectionEvent,
};
use serde::Serialize;

/// Options of the bench subcommand.
#[derive(Debug, Clone, Copy)]
pub struct BenchOptions {
    /// Payload bytes moved over each pair.
    pub bytes: u64,
    /// Size of each message.
    pub message_size: usize,
    /// Number of connection pairs.
    pub connections: usize,
    /// Print one JSON object instead of text.
    pub json: bool,
}

/// The figures, as `--json` prints them (DESIGN.md).
#[derive(Debug, Serialize)]
pub struct Report {
    bytes: u64,
    message_size: usize,
    connections: usize,
    setup_ms: f64,
    secs: f64,
    mib_per_s: f64,
    cpu_s: f64,
    peak_rss_mib: f64,
}

/// Forwards candidates from `from` to `to`, and remote channels to `channels`.
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

struct Pair {
    _a: PeerConnection,
    _b: PeerConnection,
    send: DataChannel,
    recv: DataChannel,
}

async fn open_pair(seed: u64) -> Result<Pair, ferrtc::Error> {
    let a = PeerConnection::new(Configuration {
        seed: Some(seed),
        ..Default::default()
    })?;
    let b = PeerConnection::new(Configuration {
        seed: Some(seed + 1),
        ..Default::default()
    })?;
    let send = a
        .create_data_channel("bench", DataChannelInit::default())
        .await?;
    let offer = a.create_offer().await?;
    a.set_local_description(Some(offer.clone())).await?;
    b.set_remote_description(offer).await?;
    let answer = b.create_answer().await?;
    b.set_local_description(Some(answer.clone())).await?;
    a.set_remote_description(answer).await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    trickle(a.clone(), b.clone(), tx.clone());
    trickle(b.clone(), a.clone(), tx);
    let recv = rx.recv().await.ok_or(ferrtc::Error::Closed)?;
    send.wait_open().await?;
    Ok(Pair {
        _a: a,
        _b: b,
        send,
        recv,
    })
}

async fn transfer(pair: &Pair, bytes: u64, message_size: usize) -> Result<(), ferrtc::Error> {
    let send = pair.send.clone();
    let writer = tokio::spawn(async move {
        let message = vec![0x5a_u8; message_size];
        let mut left = bytes;
        while left > 0 {
            let n = left.min(message_size as u64) as usize;
            send.send(message[..n].to_vec(), true).await?;
            left -= n as u64;
        }
        Ok::<(), ferrtc::Error>(())
    });
    let mut got = 0u64;
    while got < bytes {
        match pair.recv.recv().await {
            Some(DataChannelEvent::Message(m)) => got += m.as_bytes().len() as u64,
            Some(_) => {}
            None => return Err(ferrtc::Error::Closed),
        }
    }
    writer.await.map_err(|_| ferrtc::Error::Closed)?
}

/// Runs the benchmark and prints its report.
pub async fn run(opts: BenchOptions) -> Result<(), ferrtc::Error> {
    let message_size = opts.message_size.max(1);
    let start = Instant::now();
    let mut opening = Vec::new();
    for i in 0..opts.connections {
        opening.push(tokio::spawn(open_pair(1 + 2 * i as u64)));
    }
    let mut pairs = Vec::new();
    for task in opening {
        match tokio::time::timeout(Duration::from_secs(30), task).await {
            Ok(Ok(Ok(pair))) => pairs.push(pair),
            Ok(Ok(Err(e))) => tracing::warn!("a pair failed to open: {e}"),
            _ => tracing::warn!("a pair did not open in 30 s"),
        }
    }
    let setup = start.elapsed();
    let cpu_before = cpu_seconds();
    let t0 = Instant::now();
    let mut transfers = Vec::new();
    let pairs = std::sync::Arc::new(pairs);
    for i in 0..pairs.len() {
        let pairs = pairs.clone();
        transfers.push(tokio::spawn(async move {
            transfer(&pairs[i], opts.bytes, message_size).await
        }));
    }
    for t in transfers {
        t.await.map_err(|_| ferrtc::Error::Closed)??;
    }
    let secs = t0.elapsed().as_secs_f64();
    let total = opts.bytes as f64 * pairs.len() as f64;
    let report = Report {
        bytes: opts.bytes,
        message_size,
        connections: pairs.len(),
        setup_ms: setup.as_secs_f64() * 1000.0,
        secs,
        mib_per_s: if secs > 0.0 {
            total / (1024.0 * 1024.0) / secs
        } else {
            0.0
        },
        cpu_s: cpu_seconds() - cpu_before,
        peak_rss_mib: peak_rss_mib(),
    };
    if opts.json {
        println!("{}", serde_json::to_string(&report).unwrap_or_default());
    } else {
        println!(
            "{} pair(s) open in {:.1} ms; {} bytes each in {:.3} s: {:.1} MiB/s; {:.2} CPU-s; peak RSS {:.1} MiB",
            report.connections,
            report.setup_ms,
            report.bytes,
            report.secs,
            report.mib_per_s,
            report.cpu_s,
            report.peak_rss_mib
        );
    }
    if report.connections < opts.connections {
        return Err(ferrtc::Error::Closed);
    }
    Ok(())
}

/// User plus system CPU time of the process (Linux `/proc/self/stat`,
/// in clock ticks of 1/100 s, the value on every Linux target).
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name, which is in parentheses.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line; `rest` starts at field 3.
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (ticks(11) + ticks(12)) as f64 / 100.0
}

/// Peak resident set size (`VmHWM` of `/proc/self/status`), MiB.
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}
