//! `ferrtc bench --media`: one sender, one forwarder (the SFU side) and N
//! receivers in one process over real UDP on loopback; the forwarder sends
//! every frame of the sender's video and audio on to each receiver.
//!
//! The stream, in real time for [`MediaOptions::stream`] (`--secs`) after
//! every connection is up:
//! - video: VP8-like frames at [`VIDEO_FPS`] fps making
//!   [`VIDEO_BITRATE`] bit/s, a keyframe ([`KEY_WEIGHT`] times a delta
//!   frame) every [`GOP`] frames (2 s), cut by ferrtc's payloader into RTP
//!   payloads of about 1,200 bytes;
//! - audio: [`AUDIO_BYTES`]-byte Opus-like frames every 20 ms (50 packets/s).
//!
//! The forwarder reads whole frames from its ingest receivers
//! ([`RtpReceiver::subscribe`]) and writes each on every receiver's
//! sender ([`RtpSender::write_frame`]), as `ferrtc demo`'s bot does. Each
//! receiver counts the frames it gets and their bytes. At the drain's end
//! the forwarder stops, the counters stop and the CPU time is read: counts,
//! CPU and seconds cover one interval (the stream's start to the drain's
//! end). Then the receivers' stats (`inbound-rtp` `packetsReceived` −
//! `packetsDiscarded`: each media packet once) give the packets forwarded.
//!
//! The stream is the one `ferrtc-compare forward` (bench/src/forward)
//! sends; a test there checks the two definitions agree.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ferrtc::{
    Configuration, Error, FrameBytes, MediaKind, MediaStream, MediaStreamTrack, PeerConnection,
    PeerConnectionEvent, PeerConnectionState, RtpReceiver, RtpSender, Stats,
};
use serde::Serialize;
use tokio::sync::mpsc;

use super::{cpu_seconds, peak_rss_mib, rss_kib, seed_bytes};

/// Video frames per second.
pub const VIDEO_FPS: u32 = 30;
/// Video bit rate, bit/s.
pub const VIDEO_BITRATE: u64 = 2_500_000;
/// Frames from one keyframe to the next (2 s at 30 fps).
pub const GOP: u64 = 60;
/// A keyframe is this many times the size of a delta frame.
pub const KEY_WEIGHT: u64 = 5;
/// Audio frame interval (Opus, 20 ms).
pub const AUDIO_INTERVAL: Duration = Duration::from_millis(20);
/// Bytes per audio frame.
pub const AUDIO_BYTES: usize = 120;
/// How long after the stream ends the receivers get to drain.
const DRAIN: Duration = Duration::from_millis(500);
/// How long every connection gets to come up.
const CONNECT_LIMIT: Duration = Duration::from_secs(60);
/// How long reading the stats and closing after the stream may take.
const TEARDOWN_LIMIT: Duration = Duration::from_secs(30);

/// Size of a delta frame: a keyframe and `GOP - 1` delta frames make
/// [`VIDEO_BITRATE`] over the group's two seconds.
pub fn delta_frame_bytes() -> usize {
    let gop_bytes = VIDEO_BITRATE / 8 * GOP / u64::from(VIDEO_FPS);
    (gop_bytes / (GOP - 1 + KEY_WEIGHT)) as usize
}

/// Video frame `i`: a VP8 payload header byte (RFC 6386 §9.1: bit 0 clear
/// on a keyframe, every [`GOP`] frames from frame 0), the frame number,
/// then filler.
pub fn video_frame(i: u64) -> Vec<u8> {
    let key = i % GOP == 0;
    let size = if key {
        delta_frame_bytes() * KEY_WEIGHT as usize
    } else {
        delta_frame_bytes()
    };
    let mut f = vec![(i % 251) as u8; size];
    f[0] = if key { 0x10 } else { 0x11 };
    f[1..9].copy_from_slice(&i.to_be_bytes());
    f
}

/// Options of `bench --media`.
#[derive(Debug, Clone, Copy)]
pub struct MediaOptions {
    /// Receivers the forwarder sends to.
    pub receivers: usize,
    /// How long the stream runs.
    pub stream: Duration,
}

/// The figures of `bench --media --json`.
#[derive(Debug, Serialize)]
pub struct MediaReport {
    /// Frame bytes the receivers got, all of them.
    pub bytes: u64,
    /// Size of a delta video frame, bytes.
    pub message_size: usize,
    /// Receivers asked for (`--connections`).
    pub connections: usize,
    /// Receivers that connected and got the stream.
    pub receivers: usize,
    /// Milliseconds until every connection was up.
    pub setup_ms: f64,
    /// Seconds measured: the stream's start to the drain's end, when
    /// counts and CPU were taken.
    pub secs: f64,
    /// Process CPU seconds over `secs`.
    pub cpu_s: f64,
    /// `bytes` per second of `secs`, MiB.
    pub mib_per_s: f64,
    /// `bytes` per CPU-second of the whole process, MiB.
    pub mib_per_cpu_s: f64,
    /// Distinct media packets the receivers got (`packetsReceived` −
    /// `packetsDiscarded`), all of them.
    pub media_packets_forwarded: u64,
    /// Those per second of `secs`.
    pub media_packets_per_s: f64,
    /// Those per CPU-second of the whole process.
    pub media_packets_per_cpu_s: f64,
    /// Process CPU milliseconds per receiver per second of `secs`.
    pub cpu_ms_per_receiver_s: f64,
    /// Frames written by the sender (video and audio).
    pub frames_sent: u64,
    /// Frames each receiver got, in the order they connected.
    pub frames_per_receiver: Vec<u64>,
    /// Frames the receivers missed, all of them (`frames_sent` × receivers
    /// less the frames they got).
    pub frames_lost: u64,
    /// Frames not sent: refused by `write_frame` (a queue full, not yet
    /// sending) or accepted and then dropped (`RtpSender::dropped_frames`),
    /// on the sender's and the forwarder's senders.
    pub frames_not_written: u64,
    /// Resident memory added by the forwarder's connection and the
    /// receiver's peer, per receiver, KiB.
    pub rss_per_receiver_kib: f64,
    /// Peak resident memory of the process, MiB.
    pub peak_rss_mib: f64,
}

/// Why `bench --media` failed: which leg or phase, and the error under it.
#[derive(Debug)]
pub struct MediaError {
    /// What failed: a leg, a phase.
    pub context: String,
    /// The error under it.
    pub source: Error,
}

impl std::fmt::Display for MediaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.context, self.source)
    }
}

impl std::error::Error for MediaError {}

fn failed(context: impl Into<String>, source: Error) -> MediaError {
    MediaError {
        context: context.into(),
        source,
    }
}

fn timed_out(what: impl std::fmt::Display, limit: Duration) -> MediaError {
    failed(
        format!("{what}: no answer in {} s", limit.as_secs()),
        Error::Io(std::io::ErrorKind::TimedOut.into()),
    )
}

/// A configuration on 127.0.0.1 alone: one socket per peer connection.
/// Unpaced, as a fan-out forwarder that does not adapt to each viewer's
/// estimate runs (and as str0m's SFU mode without bandwidth estimation):
/// with every peer on one busy thread, paced connections read the loop's
/// own delay as congestion.
fn loopback(seed: u64) -> Configuration {
    Configuration {
        seed: Some(seed_bytes(seed)),
        host_addresses: vec![std::net::Ipv4Addr::LOCALHOST.into()],
        unpaced_media: true,
        ..Default::default()
    }
}

/// Hands `from`'s candidates to `to`; sends `from`'s remote tracks'
/// receivers to `tracks`.
fn trickle(from: PeerConnection, to: PeerConnection, tracks: mpsc::UnboundedSender<RtpReceiver>) {
    let mut events = from.subscribe();
    tokio::spawn(async move {
        while let Some(ev) = events.recv().await {
            match ev {
                PeerConnectionEvent::IceCandidate(c) => {
                    // The peer may not have the description yet (a
                    // candidate before it is refused): try again.
                    for _ in 0..1000 {
                        if to.add_ice_candidate(c.clone()).await.is_ok() {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
                PeerConnectionEvent::Track(t) => {
                    let _ = tracks.send(t.receiver);
                }
                // The subscription ends with this side's `close()`; the
                // peer's close makes this side `failed` once ICE consent
                // runs out (RFC 7675), never `closed` (W3C webrtc-pc §4.3.3).
                PeerConnectionEvent::ConnectionStateChange(
                    PeerConnectionState::Failed | PeerConnectionState::Closed,
                ) => break,
                _ => {}
            }
        }
    });
}

/// A connected pair carrying one video and one audio track from `a` to
/// `b`: `a`'s senders and `b`'s receivers.
struct Leg {
    a: PeerConnection,
    b: PeerConnection,
    video: RtpSender,
    audio: RtpSender,
    receivers: Vec<RtpReceiver>,
}

async fn open_leg(seed: u64) -> Result<Leg, Error> {
    let a = PeerConnection::new(loopback(seed))?;
    let b = PeerConnection::new(loopback(seed + 1))?;
    let stream = MediaStream::new();
    let video = a
        .add_track(
            &MediaStreamTrack::new(MediaKind::Video, "video"),
            &[&stream],
        )
        .await?;
    let audio = a
        .add_track(
            &MediaStreamTrack::new(MediaKind::Audio, "audio"),
            &[&stream],
        )
        .await?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    // Subscribed before the offer, so that no candidate is missed.
    trickle(a.clone(), b.clone(), mpsc::unbounded_channel().0);
    trickle(b.clone(), a.clone(), tx);
    let offer = a.create_offer().await?;
    a.set_local_description(Some(offer.clone())).await?;
    b.set_remote_description(offer).await?;
    let answer = b.create_answer().await?;
    b.set_local_description(Some(answer.clone())).await?;
    a.set_remote_description(answer).await?;
    let mut receivers = Vec::new();
    while receivers.len() < 2 {
        receivers.push(rx.recv().await.ok_or(Error::Closed)?);
    }
    for pc in [&a, &b] {
        loop {
            match pc.connection_state().await {
                PeerConnectionState::Connected => break,
                PeerConnectionState::Failed | PeerConnectionState::Closed => {
                    return Err(Error::Closed);
                }
                _ => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    }
    Ok(Leg {
        a,
        b,
        video,
        audio,
        receivers,
    })
}

/// Writes one frame; a full queue or a not-yet-sending sender drops it
/// (counted); a closed connection is `false`, which ends the run.
fn write(
    sender: &RtpSender,
    frame: impl Into<FrameBytes>,
    duration: Duration,
    dropped: &AtomicU64,
) -> bool {
    match sender.write_frame(frame, duration) {
        Ok(()) => true,
        Err(Error::Closed) => false,
        Err(_) => {
            dropped.fetch_add(1, Ordering::Relaxed);
            true
        }
    }
}

/// Forwards every frame of `from` to each of `to`, as an SFU would; a
/// closed connection sets `closed`.
fn forward(
    from: &RtpReceiver,
    to: Vec<RtpSender>,
    duration: Duration,
    dropped: Arc<AtomicU64>,
    closed: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    let mut frames = from.subscribe();
    tokio::spawn(async move {
        while let Some(frame) = frames.recv().await {
            for sender in &to {
                if !write(sender, &frame.data, duration, &dropped) {
                    closed.store(true, Ordering::Relaxed);
                }
            }
        }
    })
}

/// What one receiver got: frames and their bytes.
#[derive(Default)]
struct Got {
    frames: AtomicU64,
    bytes: AtomicU64,
}

/// Counts the frames a receiver gets until `stop`.
fn count(receiver: &RtpReceiver, got: Arc<Got>, stop: Arc<AtomicBool>) {
    let mut frames = receiver.subscribe();
    tokio::spawn(async move {
        while let Some(frame) = frames.recv().await {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            got.bytes
                .fetch_add(frame.data.len() as u64, Ordering::Relaxed);
            got.frames.fetch_add(1, Ordering::Relaxed);
        }
    });
}

/// Distinct media packets a receiving peer connection got: its
/// `inbound-rtp` `packetsReceived` less `packetsDiscarded` (duplicates,
/// late packets, RTX padding).
async fn distinct_packets(pc: &PeerConnection) -> Result<u64, Error> {
    let report = pc.get_stats().await?;
    Ok(report
        .stats
        .values()
        .map(|s| match s {
            Stats::InboundRtp(s) => s.packets_received.saturating_sub(s.packets_discarded),
            _ => 0,
        })
        .sum())
}

/// Runs the forwarding benchmark.
pub async fn run(opts: MediaOptions) -> Result<MediaReport, MediaError> {
    let n = opts.receivers.max(1);
    let started = Instant::now();
    // The sender to the forwarder's ingest side.
    let ingest = tokio::time::timeout(CONNECT_LIMIT, open_leg(1))
        .await
        .map_err(|_| timed_out("the ingest leg's connection", CONNECT_LIMIT))?
        .map_err(|e| failed("the ingest leg", e))?;
    let rss_before = rss_kib();
    let mut downstream = Vec::with_capacity(n);
    let mut opening = tokio::task::JoinSet::new();
    for i in 0..n {
        opening.spawn(async move {
            let leg = tokio::time::timeout(CONNECT_LIMIT, open_leg(3 + 2 * i as u64)).await;
            (i, leg)
        });
    }
    while let Some(leg) = opening.join_next().await {
        match leg {
            Ok((_, Ok(Ok(leg)))) => downstream.push(leg),
            Ok((i, Ok(Err(e)))) => return Err(failed(format!("receiver {i}'s leg"), e)),
            Ok((i, Err(_))) => {
                return Err(timed_out(
                    format!("receiver {i}'s connection"),
                    CONNECT_LIMIT,
                ));
            }
            Err(_) => return Err(failed("a receiver's setup task panicked", Error::Closed)),
        }
    }
    let setup_ms = started.elapsed().as_secs_f64() * 1000.0;

    let dropped = Arc::new(AtomicU64::new(0));
    let closed = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let got: Vec<Arc<Got>> = (0..n).map(|_| Arc::default()).collect();
    for (leg, got) in downstream.iter().zip(&got) {
        for r in &leg.receivers {
            count(r, got.clone(), stop.clone());
        }
    }
    let video_interval = Duration::from_secs(1) / VIDEO_FPS;
    let mut forwarders = Vec::new();
    for r in &ingest.receivers {
        let (to, duration) = match r.track().kind() {
            MediaKind::Video => (
                downstream.iter().map(|l| l.video.clone()).collect(),
                video_interval,
            ),
            MediaKind::Audio => (
                downstream.iter().map(|l| l.audio.clone()).collect(),
                AUDIO_INTERVAL,
            ),
        };
        forwarders.push(forward(r, to, duration, dropped.clone(), closed.clone()));
    }

    // The stream, in real time.
    let cpu_before = cpu_seconds();
    let t0 = tokio::time::Instant::now();
    let (mut video_i, mut audio_i) = (0u64, 0u64);
    let audio_frame = vec![0xfc_u8; AUDIO_BYTES];
    loop {
        // Frame i at i/fps s exactly (a truncated interval would drift).
        let next_video = t0 + Duration::from_nanos(video_i * 1_000_000_000 / u64::from(VIDEO_FPS));
        let next_audio = t0 + AUDIO_INTERVAL * audio_i as u32;
        let next = next_video.min(next_audio);
        if next.duration_since(t0) >= opts.stream {
            break;
        }
        tokio::time::sleep_until(next).await;
        let written = if next == next_video {
            video_i += 1;
            write(
                &ingest.video,
                video_frame(video_i - 1),
                video_interval,
                &dropped,
            )
        } else {
            audio_i += 1;
            write(&ingest.audio, &audio_frame, AUDIO_INTERVAL, &dropped)
        };
        if !written {
            return Err(failed(
                "the sender's connection during the stream",
                Error::Closed,
            ));
        }
        if closed.load(Ordering::Relaxed) {
            return Err(failed(
                "a receiver's connection during the stream",
                Error::Closed,
            ));
        }
    }
    tokio::time::sleep(DRAIN).await;
    // One moment for counts and CPU: the forwarder and the counters stop,
    // then the CPU time is read.
    for f in &forwarders {
        f.abort();
    }
    stop.store(true, Ordering::Relaxed);
    let cpu_s = cpu_seconds() - cpu_before;
    let secs = t0.elapsed().as_secs_f64();
    let frames_per_receiver: Vec<u64> = got
        .iter()
        .map(|g| g.frames.load(Ordering::Relaxed))
        .collect();
    let bytes: u64 = got.iter().map(|g| g.bytes.load(Ordering::Relaxed)).sum();
    let rss_per_receiver_kib = (rss_kib() - rss_before).max(0.0) / n as f64;

    // Nothing is forwarded any more: the packet counts read now are those
    // of the interval (a late retransmission at most).
    let teardown = async {
        let mut packets = 0u64;
        for (i, leg) in downstream.iter().enumerate() {
            packets += distinct_packets(&leg.b)
                .await
                .map_err(|e| failed(format!("receiver {i}'s stats"), e))?;
        }
        for leg in downstream.iter().chain(std::iter::once(&ingest)) {
            leg.a.close().await;
            leg.b.close().await;
        }
        Ok::<_, MediaError>(packets)
    };
    let packets = tokio::time::timeout(TEARDOWN_LIMIT, teardown)
        .await
        .map_err(|_| timed_out("the stats and close after the stream", TEARDOWN_LIMIT))??;
    let frames_not_written = dropped.load(Ordering::Relaxed)
        + downstream
            .iter()
            .chain(std::iter::once(&ingest))
            .map(|l| l.video.dropped_frames() + l.audio.dropped_frames())
            .sum::<u64>();
    let frames_sent = video_i + audio_i;
    let per_cpu_s = |x: f64| if cpu_s > 0.0 { x / cpu_s } else { 0.0 };
    const MIB: f64 = 1024.0 * 1024.0;
    Ok(MediaReport {
        bytes,
        message_size: delta_frame_bytes(),
        connections: opts.receivers,
        receivers: downstream.len(),
        setup_ms,
        secs,
        cpu_s,
        mib_per_s: bytes as f64 / MIB / secs,
        mib_per_cpu_s: per_cpu_s(bytes as f64 / MIB),
        media_packets_forwarded: packets,
        media_packets_per_s: packets as f64 / secs,
        media_packets_per_cpu_s: per_cpu_s(packets as f64),
        cpu_ms_per_receiver_s: cpu_s * 1000.0 / n as f64 / secs,
        frames_sent,
        frames_lost: (frames_sent * n as u64).saturating_sub(frames_per_receiver.iter().sum()),
        frames_per_receiver,
        frames_not_written,
        rss_per_receiver_kib,
        peak_rss_mib: peak_rss_mib(),
    })
}
