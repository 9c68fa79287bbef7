//! `ferrtc bench --media`: one sender, one forwarder (the SFU side) and N
//! receivers in one process over real UDP on loopback; the forwarder sends
//! every frame of the sender's video and audio on to each receiver.
//!
//! The stream, in real time for [`STREAM`] after every connection is up:
//! - video: VP8-like frames at [`VIDEO_FPS`] fps making
//!   [`VIDEO_BITRATE`] bit/s, a keyframe ([`KEY_WEIGHT`] times a delta
//!   frame) every [`GOP`] frames (2 s), cut by ferrtc's payloader into RTP
//!   payloads of about 1,200 bytes;
//! - audio: [`AUDIO_BYTES`]-byte Opus-like frames every 20 ms (50 packets/s).
//!
//! The forwarder reads whole frames from its ingest receivers
//! ([`RtpReceiver::subscribe`]) and writes each on every receiver's
//! sender ([`RtpSender::write_frame`]), as `ferrtc demo`'s bot does. Each
//! receiver counts the frames it gets; at the end the receivers' stats
//! (`inbound-rtp` `packetsReceived`) give the packets forwarded.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ferrtc::{
    Configuration, Error, MediaKind, MediaStream, MediaStreamTrack, PeerConnection,
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
    /// Frame bytes the forwarder was to send: all frames, to every
    /// receiver.
    pub bytes: u64,
    /// Size of a delta video frame, bytes.
    pub message_size: usize,
    /// Receivers that connected and got the stream.
    pub receivers: usize,
    /// Milliseconds until every connection was up.
    pub setup_ms: f64,
    /// Seconds the stream ran.
    pub secs: f64,
    /// Process CPU seconds from the stream's start to the end of the drain.
    pub cpu_s: f64,
    /// Media bytes forwarded per second (frame bytes to all receivers).
    pub mib_per_s: f64,
    /// RTP packets the receivers got (`packetsReceived`), all of them.
    pub media_packets_forwarded: u64,
    /// Those per second of stream.
    pub media_packets_per_s: f64,
    /// Those per CPU-second of the whole process.
    pub media_packets_per_cpu_s: f64,
    /// Process CPU milliseconds per receiver per second of stream.
    pub cpu_ms_per_receiver_s: f64,
    /// Frames written by the sender (video and audio).
    pub frames_sent: u64,
    /// Frames the receivers missed, all of them (`frames_sent` × receivers
    /// less the frames they got).
    pub frames_lost: u64,
    /// Frames `write_frame` refused (the sender's or a forwarder's queue
    /// full, or not yet sending).
    pub frames_not_written: u64,
    /// Resident memory added by the forwarder's connection and the
    /// receiver's peer, per receiver, KiB.
    pub rss_per_receiver_kib: f64,
    /// Peak resident memory of the process, MiB.
    pub peak_rss_mib: f64,
}

/// A configuration on 127.0.0.1 alone: one socket per peer connection.
fn loopback(seed: u64) -> Configuration {
    Configuration {
        seed: Some(seed_bytes(seed)),
        host_addresses: vec![std::net::Ipv4Addr::LOCALHOST.into()],
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
                PeerConnectionEvent::ConnectionStateChange(PeerConnectionState::Closed) => break,
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
        while pc.connection_state().await != PeerConnectionState::Connected {
            if pc.connection_state().await == PeerConnectionState::Failed {
                return Err(Error::Closed);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
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
/// (counted), a closed connection ends the run.
fn write(sender: &RtpSender, frame: &[u8], duration: Duration, dropped: &AtomicU64) -> bool {
    match sender.write_frame(frame, duration) {
        Ok(()) => true,
        Err(Error::Closed) => false,
        Err(_) => {
            dropped.fetch_add(1, Ordering::Relaxed);
            true
        }
    }
}

/// Forwards every frame of `from` to each of `to`, as an SFU would.
fn forward(from: &RtpReceiver, to: Vec<RtpSender>, duration: Duration, dropped: Arc<AtomicU64>) {
    let mut frames = from.subscribe();
    tokio::spawn(async move {
        while let Some(frame) = frames.recv().await {
            for sender in &to {
                write(sender, &frame.data, duration, &dropped);
            }
        }
    });
}

/// Counts the frames a receiver gets.
fn count(receiver: &RtpReceiver, counter: Arc<AtomicU64>) {
    let mut frames = receiver.subscribe();
    tokio::spawn(async move {
        while frames.recv().await.is_some() {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
}

/// Runs the forwarding benchmark.
pub async fn run(opts: MediaOptions) -> Result<MediaReport, Error> {
    let n = opts.receivers.max(1);
    let started = Instant::now();
    // The sender to the forwarder's ingest side.
    let ingest = tokio::time::timeout(CONNECT_LIMIT, open_leg(1))
        .await
        .map_err(|_| Error::Closed)??;
    let rss_before = rss_kib();
    let mut downstream = Vec::with_capacity(n);
    let mut opening = tokio::task::JoinSet::new();
    for i in 0..n {
        opening.spawn(tokio::time::timeout(
            CONNECT_LIMIT,
            open_leg(3 + 2 * i as u64),
        ));
    }
    while let Some(leg) = opening.join_next().await {
        match leg {
            Ok(Ok(Ok(leg))) => downstream.push(leg),
            Ok(Ok(Err(e))) => return Err(e),
            _ => return Err(Error::Closed),
        }
    }
    let setup_ms = started.elapsed().as_secs_f64() * 1000.0;

    let dropped = Arc::new(AtomicU64::new(0));
    let received = Arc::new(AtomicU64::new(0));
    for leg in &downstream {
        for r in &leg.receivers {
            count(r, received.clone());
        }
    }
    let video_interval = Duration::from_secs(1) / VIDEO_FPS;
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
        forward(r, to, duration, dropped.clone());
    }

    // The stream, in real time.
    let cpu_before = cpu_seconds();
    let t0 = tokio::time::Instant::now();
    let (mut video_i, mut audio_i) = (0u64, 0u64);
    let audio_frame = vec![0xfc_u8; AUDIO_BYTES];
    let mut frame_bytes = 0u64;
    loop {
        // Frame i at i/fps s exactly (a truncated interval would drift).
        let next_video = t0 + Duration::from_nanos(video_i * 1_000_000_000 / u64::from(VIDEO_FPS));
        let next_audio = t0 + AUDIO_INTERVAL * audio_i as u32;
        let next = next_video.min(next_audio);
        if next.duration_since(t0) >= opts.stream {
            break;
        }
        tokio::time::sleep_until(next).await;
        if next == next_video {
            let f = video_frame(video_i);
            frame_bytes += f.len() as u64;
            write(&ingest.video, &f, video_interval, &dropped);
            video_i += 1;
        } else {
            frame_bytes += AUDIO_BYTES as u64;
            write(&ingest.audio, &audio_frame, AUDIO_INTERVAL, &dropped);
            audio_i += 1;
        }
    }
    tokio::time::sleep(DRAIN).await;
    let cpu_s = cpu_seconds() - cpu_before;
    let secs = opts.stream.as_secs_f64();
    let rss_per_receiver_kib = (rss_kib() - rss_before).max(0.0) / n as f64;

    let mut packets = 0u64;
    for leg in &downstream {
        if let Ok(report) = leg.b.get_stats().await {
            for s in report.stats.values() {
                if let Stats::InboundRtp(s) = s {
                    packets += s.packets_received;
                }
            }
        }
    }
    let frames_sent = video_i + audio_i;
    let got = received.load(Ordering::Relaxed);
    for leg in downstream.iter().chain(std::iter::once(&ingest)) {
        leg.a.close().await;
        leg.b.close().await;
    }
    Ok(MediaReport {
        bytes: frame_bytes * n as u64,
        message_size: delta_frame_bytes(),
        receivers: n,
        setup_ms,
        secs,
        cpu_s,
        mib_per_s: (frame_bytes * n as u64) as f64 / (1024.0 * 1024.0) / secs,
        media_packets_forwarded: packets,
        media_packets_per_s: packets as f64 / secs,
        media_packets_per_cpu_s: if cpu_s > 0.0 {
            packets as f64 / cpu_s
        } else {
            0.0
        },
        cpu_ms_per_receiver_s: cpu_s * 1000.0 / n as f64 / secs,
        frames_sent,
        frames_lost: (frames_sent * n as u64).saturating_sub(got),
        frames_not_written: dropped.load(Ordering::Relaxed),
        rss_per_receiver_kib,
        peak_rss_mib: peak_rss_mib(),
    })
}
