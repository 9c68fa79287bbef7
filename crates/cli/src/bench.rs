//! `ferrtc bench`: pairs of peer connections in one process over real UDP
//! on loopback; setup time, throughput, CPU time and peak memory.
//!
//! One run measures, in this order:
//! - setup latency: [`SETUP_ROUNDS`] pairs opened one after the other, from
//!   `new` to the channel open on both sides (`setup_median_ms`);
//! - `--connections N` pairs opened at once (`setup_ms` until all are open,
//!   `rss_per_connection_kib` per peer connection); with N > 1 the
//!   answering side shares one UDP port ([`UdpMux`]), as a server would;
//! - throughput: `--bytes` over each pair in `--message-size` messages with
//!   back-pressure (`mib_per_s`, `cpu_s`);
//! - small messages: [`SMALL_COUNT`] messages of [`SMALL_SIZE`] bytes on the
//!   first pair (`small_messages_per_s`).
//!
//! `--media` runs the media forwarding workload instead ([`media`]): one
//! sender, a forwarder and `--connections` receivers.

mod media;

use std::time::{Duration, Instant};

use ferrtc::{
    Configuration, DataChannel, DataChannelEvent, DataChannelInit, PeerConnection,
    PeerConnectionEvent, UdpMux,
};
use serde::Serialize;

/// Options of the bench subcommand.
#[derive(Debug, Clone, Copy)]
pub struct BenchOptions {
    /// Payload bytes moved over each pair.
    pub bytes: u64,
    /// Size of each message.
    pub message_size: usize,
    /// Number of connection pairs (receivers with `media`).
    pub connections: usize,
    /// Run the media forwarding workload instead of the data channels.
    pub media: bool,
    /// Seconds of media stream (with `media`).
    pub secs: u64,
    /// Print one JSON object instead of text.
    pub json: bool,
}

/// Pairs that handshake at the same time while `--connections` open.
const OPENING: usize = 256;
/// Pairs opened one after the other for the setup latency.
pub const SETUP_ROUNDS: usize = 50;
/// Messages sent for the small-message rate.
pub const SMALL_COUNT: u64 = 100_000;
/// Size of each of those messages.
pub const SMALL_SIZE: usize = 100;

/// The figures, as `--json` prints them (the README lists them).
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
    /// Median of [`SETUP_ROUNDS`] pair setups, `new` to open on both sides.
    setup_median_ms: f64,
    /// Resident memory added by the open pairs, per peer connection.
    rss_per_connection_kib: f64,
    /// [`SMALL_SIZE`]-byte messages received per second.
    small_messages_per_s: f64,
}

/// Forwards each side's candidates to the other, and the first remote
/// channel to `channel`: one task per pair, not one per side, so that the
/// bench's own tasks weigh less in the memory per connection.
fn trickle(
    a: PeerConnection,
    b: PeerConnection,
    channel: tokio::sync::oneshot::Sender<DataChannel>,
) {
    tokio::spawn(async move {
        let mut channel = Some(channel);
        let (mut a_open, mut b_open) = (true, true);
        while a_open || b_open {
            // `next_event` is cancel-safe: the side not chosen loses nothing.
            let (ev, to) = tokio::select! {
                ev = a.next_event(), if a_open => (ev, &b),
                ev = b.next_event(), if b_open => (ev, &a),
            };
            match ev {
                Some(PeerConnectionEvent::IceCandidate(c)) => {
                    let _ = to.add_ice_candidate(c).await;
                }
                Some(PeerConnectionEvent::DataChannel(dc)) => {
                    if let Some(tx) = channel.take() {
                        let _ = tx.send(dc);
                    }
                }
                Some(_) => {}
                None if std::ptr::eq(to, &b) => a_open = false,
                None => b_open = false,
            }
        }
    });
}

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

/// A distinct 32-byte RNG seed per connection of a run, for reproducible
/// runs (a repeated seed would repeat ICE credentials).
pub(crate) fn seed_bytes(n: u64) -> [u8; 32] {
    let mut seed = [0; 32];
    seed[..8].copy_from_slice(&n.to_le_bytes());
    seed
}

/// A configuration on 127.0.0.1 alone: one socket per peer connection, so
/// that 10,000 pairs fit in 20,000 open files.
fn loopback(seed: u64) -> Configuration {
    Configuration {
        seed: Some(seed_bytes(seed)),
        host_addresses: vec![std::net::Ipv4Addr::LOCALHOST.into()],
        ..Default::default()
    }
}

/// Opens a pair: `a` offers from a socket of its own; `b` answers from its
/// own socket too, or from `mux`, shared with the other answerers.
async fn open_pair(seed: u64, mux: Option<UdpMux>) -> Result<Pair, ferrtc::Error> {
    let a = PeerConnection::new(loopback(seed))?;
    let b = PeerConnection::new(match mux {
        Some(mux) => Configuration {
            seed: Some(seed_bytes(seed + 1)),
            udp_mux: Some(mux),
            ..Default::default()
        },
        None => loopback(seed + 1),
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
    let (tx, rx) = tokio::sync::oneshot::channel();
    trickle(a.clone(), b.clone(), tx);
    let recv = rx.await.map_err(|_| ferrtc::Error::Closed)?;
    send.wait_open().await?;
    Ok(Pair { a, b, send, recv })
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
    let reader = async {
        let mut got = 0u64;
        while got < bytes {
            match pair.recv.recv().await {
                Some(DataChannelEvent::Message(m)) => got += m.as_bytes().len() as u64,
                Some(_) => {}
                None => return Err(ferrtc::Error::Closed),
            }
        }
        Ok(())
    };
    let mut writer = std::pin::pin!(writer);
    let mut reader = std::pin::pin!(reader);
    tokio::select! {
        // A writer that fails (a message over the peer's max-message-size
        // is a TypeError, W3C webrtc-pc §6.2 `send()`) sends nothing more:
        // its error ends the transfer rather than a wait for the rest.
        done = &mut writer => {
            done.map_err(|_| ferrtc::Error::Closed)??;
            reader.await
        }
        received = &mut reader => {
            received?;
            writer.await.map_err(|_| ferrtc::Error::Closed)?
        }
    }
}

/// Median setup time of [`SETUP_ROUNDS`] pairs opened one at a time, ms.
async fn setup_median_ms(seed: u64) -> Result<f64, ferrtc::Error> {
    let mut times = Vec::with_capacity(SETUP_ROUNDS);
    for i in 0..SETUP_ROUNDS {
        let t = Instant::now();
        let pair = open_pair(seed + 2 * i as u64, None).await?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        pair.close().await;
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// Runs the benchmark and prints its report.
pub async fn run(opts: BenchOptions) -> Result<(), crate::demo::BoxError> {
    if opts.media {
        return run_media(opts).await;
    }
    let message_size = opts.message_size.max(1);
    // Each offering peer connection has a socket of its own: 10,000 pairs
    // need more descriptors than the usual soft limit.
    raise_fd_limit(opts.connections as u64 * 2 + 1024);
    // The first pair pays the process's one-time crypto start-up (aws-lc
    // seeds its entropy pool); open one before timing anything.
    open_pair(1, None).await?.close().await;
    let setup_median_ms = setup_median_ms(1_000_000).await?;

    // With several pairs, the answerers share one UDP port, as a server's
    // connections would (one socket instead of N).
    let mux = if opts.connections > 1 {
        Some(UdpMux::bind((std::net::Ipv4Addr::LOCALHOST, 0).into()).await?)
    } else {
        None
    };
    let rss_before = rss_kib();
    let start = Instant::now();
    // At most OPENING pairs handshake at once, as a server admits callers:
    // ten thousand at once only make each other retransmit.
    let mut opening = tokio::task::JoinSet::new();
    let mut pairs = Vec::new();
    let mut next = 0;
    while next < opts.connections || !opening.is_empty() {
        while next < opts.connections && opening.len() < OPENING {
            let seed = 3 + 2 * next as u64;
            let mux = mux.clone();
            opening.spawn(async move {
                tokio::time::timeout(Duration::from_secs(60), open_pair(seed, mux)).await
            });
            next += 1;
        }
        match opening.join_next().await {
            Some(Ok(Ok(Ok(pair)))) => pairs.push(pair),
            Some(Ok(Ok(Err(e)))) => tracing::warn!("a pair failed to open: {e}"),
            Some(Ok(Err(_))) => tracing::warn!("a pair did not open in 60 s"),
            Some(Err(e)) => tracing::warn!("a pair's task failed: {e}"),
            None => break,
        }
    }
    let setup = start.elapsed();
    let rss_per_connection_kib = if pairs.is_empty() {
        0.0
    } else {
        (rss_kib() - rss_before).max(0.0) / (2 * pairs.len()) as f64
    };
    let cpu_before = cpu_seconds();
    let t0 = Instant::now();
    // Transfers run OPENING pairs at a time too: ten thousand bursts at once
    // only overflow the shared socket's buffer.
    let pairs = std::sync::Arc::new(pairs);
    let mut transfers = tokio::task::JoinSet::new();
    let mut next = 0;
    while next < pairs.len() || !transfers.is_empty() {
        while next < pairs.len() && transfers.len() < OPENING {
            let pairs = pairs.clone();
            let i = next;
            transfers.spawn(async move { transfer(&pairs[i], opts.bytes, message_size).await });
            next += 1;
        }
        match transfers.join_next().await {
            Some(Ok(r)) => r?,
            Some(Err(e)) => return Err(format!("a transfer's task failed: {e}").into()),
            None => break,
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let cpu_s = cpu_seconds() - cpu_before;
    let total = opts.bytes as f64 * pairs.len() as f64;
    let small_messages_per_s = match pairs.first() {
        Some(pair) => {
            let t = Instant::now();
            transfer(pair, SMALL_COUNT * SMALL_SIZE as u64, SMALL_SIZE).await?;
            SMALL_COUNT as f64 / t.elapsed().as_secs_f64()
        }
        None => 0.0,
    };
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
        cpu_s,
        peak_rss_mib: peak_rss_mib(),
        setup_median_ms,
        rss_per_connection_kib,
        small_messages_per_s,
    };
    if opts.json {
        println!("{}", serde_json::to_string(&report).unwrap_or_default());
    } else {
        println!(
            "setup (median of {SETUP_ROUNDS}): {:.2} ms; {} pair(s) open in {:.1} ms, {:.1} KiB per peer connection",
            report.setup_median_ms,
            report.connections,
            report.setup_ms,
            report.rss_per_connection_kib,
        );
        println!(
            "{} bytes each in {:.3} s: {:.1} MiB/s; {:.2} CPU-s; {:.0} messages of {SMALL_SIZE} bytes/s; peak RSS {:.1} MiB",
            report.bytes,
            report.secs,
            report.mib_per_s,
            report.cpu_s,
            report.small_messages_per_s,
            report.peak_rss_mib
        );
    }
    if report.connections < opts.connections {
        // The report is out; the exit code says it is short.
        return Err(format!(
            "only {} of {} connection pairs opened",
            report.connections, opts.connections
        )
        .into());
    }
    Ok(())
}

/// `--media`: the forwarding workload, its report printed.
async fn run_media(opts: BenchOptions) -> Result<(), crate::demo::BoxError> {
    // Two sockets per receiver (the forwarder's and the receiver's).
    raise_fd_limit(opts.connections as u64 * 2 + 1024);
    let report = match media::run(media::MediaOptions {
        receivers: opts.connections,
        stream: Duration::from_secs(opts.secs.max(1)),
    })
    .await
    {
        Ok(report) => report,
        Err(e) => {
            // Which leg or phase failed; the error under it follows.
            eprintln!("ferrtc: bench --media: {}", e.context);
            return Err(e.source.into());
        }
    };
    if opts.json {
        println!("{}", serde_json::to_string(&report).unwrap_or_default());
    } else {
        println!(
            "{} receiver(s) connected in {:.1} ms; {:.1} KiB per receiver (forwarder side and receiver peer)",
            report.receivers, report.setup_ms, report.rss_per_receiver_kib
        );
        println!(
            "{:.1} s of 2.5 Mbit/s video + audio forwarded (stream and drain): {} RTP packets, \
             {:.0} packets/s, {:.0} packets per CPU-s, {:.1} MiB of frames per CPU-s, {:.2} CPU-ms \
             per receiver per second; {} of {} frames lost, {} not written; peak RSS {:.1} MiB",
            report.secs,
            report.media_packets_forwarded,
            report.media_packets_per_s,
            report.media_packets_per_cpu_s,
            report.mib_per_cpu_s,
            report.cpu_ms_per_receiver_s,
            report.frames_lost,
            report.frames_sent * report.receivers as u64,
            report.frames_not_written,
            report.peak_rss_mib
        );
    }
    Ok(())
}

/// Raises the soft limit on open files towards `wanted` (and the hard
/// limit, where the process may); a failure only means fewer pairs open.
#[cfg(unix)]
fn raise_fd_limit(wanted: u64) {
    let Ok((soft, hard)) = rlimit::Resource::NOFILE.get() else {
        return;
    };
    if soft >= wanted {
        return;
    }
    // Root may raise the hard limit too; others stop at it.
    if rlimit::Resource::NOFILE
        .set(wanted, wanted.max(hard))
        .is_ok()
    {
        return;
    }
    if let Err(e) = rlimit::Resource::NOFILE.set(wanted.min(hard), hard) {
        tracing::warn!("cannot raise the open-file limit to {wanted}: {e}");
    }
}

/// Windows has no per-process open-file limit to raise.
#[cfg(not(unix))]
fn raise_fd_limit(_wanted: u64) {}

/// User plus system CPU time of the process (Linux `/proc/self/stat`,
/// in clock ticks of 1/100 s, the value on every Linux target).
pub(crate) fn cpu_seconds() -> f64 {
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
pub(crate) fn peak_rss_mib() -> f64 {
    status_kib("VmHWM:") / 1024.0
}

/// Resident set size now (`VmRSS`), KiB.
pub(crate) fn rss_kib() -> f64 {
    status_kib("VmRSS:")
}

fn status_kib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
}
