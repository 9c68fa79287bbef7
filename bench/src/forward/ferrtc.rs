//! Forwarding on ferrtc: the public async API on a tokio current-thread
//! runtime (the one the `ferrtc` binary runs everything on, and one thread
//! as str0m's loop), one peer connection per leg end, each on its own
//! socket on 127.0.0.1 (`Configuration::host_addresses`).
//!
//! Every leg (sender → forwarder, forwarder → receiver i) is one pair: the
//! sending end adds a video and an audio track (`add_track`; VP8 and Opus
//! are ferrtc's first codecs), offers, the other end answers, candidates
//! are trickled in-process. The forwarder subscribes to each ingest
//! receiver (`RtpReceiver::subscribe`) and writes every frame on the N
//! senders of that kind (`RtpSender::write_frame(&frame.data)`: the
//! received bytes shared, not copied), one task per kind, as `ferrtc
//! demo`'s bot forwards. Receivers count whole frames from a
//! subscription ([`Tally`]); distinct packets come from their
//! `inbound-rtp` stats (`packetsReceived` − `packetsDiscarded`), read
//! after the forwarder stopped.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrtc::{
    Configuration, Error, FrameBytes, MediaKind, MediaStream, MediaStreamTrack, PeerConnection,
    PeerConnectionEvent, PeerConnectionState, RtpReceiver, RtpSender, Stats,
};
use tokio::sync::mpsc;

use super::{
    AUDIO_INTERVAL, CONNECT_LIMIT, DRAIN, Frame, Outcome, Res, Schedule, TEARDOWN_LIMIT, Tally,
    audio_frame, rss_kib, video_frame, video_interval,
};
use crate::proc::cpu_seconds;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn loopback(seed: u64) -> Configuration {
    let mut s = [0u8; 32];
    s[..8].copy_from_slice(&seed.to_le_bytes());
    Configuration {
        seed: Some(s),
        host_addresses: vec![Ipv4Addr::LOCALHOST.into()],
        // As str0m's default here (no bandwidth estimation): a fan-out
        // forwarder that does not adapt to each viewer's estimate (see
        // bench/README.md).
        unpaced_media: true,
        ..Default::default()
    }
}

/// Hands `from`'s candidates to `to` (again until `to` has the
/// description); sends `from`'s remote tracks' receivers to `tracks`.
fn trickle(from: PeerConnection, to: PeerConnection, tracks: mpsc::UnboundedSender<RtpReceiver>) {
    let mut events = from.subscribe();
    tokio::spawn(async move {
        while let Some(ev) = events.recv().await {
            match ev {
                PeerConnectionEvent::IceCandidate(c) => {
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

/// A connected pair carrying a video and an audio track from `a` to `b`.
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

/// Writes a frame unless `stop`; a refusal (queue full) is counted as a
/// drop, a closed connection ends the run (`false`).
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

/// Runs the workload with `n` receivers for `length`.
pub fn run(n: usize, length: Duration) -> Res<Outcome> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(err)?;
    runtime.block_on(forward(n, length))
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

async fn forward(n: usize, length: Duration) -> Res<Outcome> {
    let started = Instant::now();
    let ingest = tokio::time::timeout(CONNECT_LIMIT, open_leg(1))
        .await
        .map_err(|_| "the ingest leg did not connect")?
        .map_err(|e| format!("the ingest leg: {e}"))?;
    let rss_before = rss_kib();
    let mut opening = tokio::task::JoinSet::new();
    for i in 0..n {
        opening.spawn(async move {
            (
                i,
                tokio::time::timeout(CONNECT_LIMIT, open_leg(3 + 2 * i as u64)).await,
            )
        });
    }
    let mut downstream = Vec::with_capacity(n);
    while let Some(leg) = opening.join_next().await {
        match leg.map_err(err)? {
            (_, Ok(Ok(leg))) => downstream.push(leg),
            (i, Ok(Err(e))) => return Err(format!("receiver {i}: {e}")),
            (i, Err(_)) => {
                return Err(format!(
                    "receiver {i} did not connect in {} s",
                    CONNECT_LIMIT.as_secs()
                ));
            }
        }
    }
    let setup = started.elapsed();

    // Set at the drain's end: the forwarder and the counters stop there.
    let stop = Arc::new(AtomicBool::new(false));
    let dropped = Arc::new(AtomicU64::new(0));
    let mut tallies = Vec::new();
    for leg in &downstream {
        for r in &leg.receivers {
            let mut frames = r.subscribe();
            let video = r.track().kind() == MediaKind::Video;
            let tally = Arc::new(Mutex::new(Tally::default()));
            tallies.push(tally.clone());
            let stop = stop.clone();
            tokio::spawn(async move {
                while let Some(frame) = frames.recv().await {
                    let Ok(mut t) = tally.lock() else { break };
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    if video {
                        t.video_frame(&frame.data);
                    } else {
                        t.audio_frame(frame.data.len());
                    }
                }
            });
        }
    }
    let closed = Arc::new(AtomicBool::new(false));
    let mut forwarders = Vec::new();
    for r in &ingest.receivers {
        let (to, duration): (Vec<RtpSender>, _) = match r.track().kind() {
            MediaKind::Video => (
                downstream.iter().map(|l| l.video.clone()).collect(),
                video_interval(),
            ),
            MediaKind::Audio => (
                downstream.iter().map(|l| l.audio.clone()).collect(),
                AUDIO_INTERVAL,
            ),
        };
        let mut frames = r.subscribe();
        let (dropped, closed) = (dropped.clone(), closed.clone());
        forwarders.push(tokio::spawn(async move {
            while let Some(frame) = frames.recv().await {
                for sender in &to {
                    if !write(sender, &frame.data, duration, &dropped) {
                        closed.store(true, Ordering::Relaxed);
                    }
                }
            }
        }));
    }

    let schedule = Schedule::new(length);
    let audio = audio_frame();
    let cpu0 = cpu_seconds();
    let t0 = tokio::time::Instant::now();
    for (at, frame) in schedule.frames() {
        tokio::time::sleep_until(t0 + *at).await;
        let written = match frame {
            Frame::Video(i) => write(&ingest.video, video_frame(*i), video_interval(), &dropped),
            Frame::Audio(_) => write(&ingest.audio, &audio, AUDIO_INTERVAL, &dropped),
        };
        if !written || closed.load(Ordering::Relaxed) {
            return Err("a connection closed during the stream".into());
        }
    }
    tokio::time::sleep_until(t0 + length + DRAIN).await;
    // One moment for counts and CPU: the forwarder stops, the receivers'
    // counters stop, then the CPU time is read.
    for f in &forwarders {
        f.abort();
    }
    stop.store(true, Ordering::Relaxed);
    let cpu_s = cpu_seconds() - cpu0;
    let elapsed = t0.elapsed();
    let rss_per_receiver_kib = (rss_kib() - rss_before).max(0.0) / n.max(1) as f64;
    let mut got = Tally::default();
    for t in &tallies {
        got.add(&*t.lock().map_err(|_| "a counter panicked")?);
    }
    // Nothing is forwarded any more: the packet counts read now are those
    // of the interval (a late retransmission at most).
    let teardown = async {
        for (i, leg) in downstream.iter().enumerate() {
            got.packets += distinct_packets(&leg.b)
                .await
                .map_err(|e| format!("receiver {i}'s stats: {e}"))?;
        }
        for leg in &downstream {
            let write_dropped = leg.video.dropped_frames() + leg.audio.dropped_frames();
            dropped.fetch_add(write_dropped, Ordering::Relaxed);
        }
        dropped.fetch_add(
            ingest.video.dropped_frames() + ingest.audio.dropped_frames(),
            Ordering::Relaxed,
        );
        for leg in downstream.iter().chain(std::iter::once(&ingest)) {
            leg.a.close().await;
            leg.b.close().await;
        }
        Ok::<_, String>(())
    };
    tokio::time::timeout(TEARDOWN_LIMIT, teardown)
        .await
        .map_err(|_| "the stats and close after the stream timed out")??;
    let not_written = dropped.load(Ordering::Relaxed);
    if not_written > 0 {
        eprintln!("ferrtc: {not_written} frames not written (refused or dropped by a sender)");
    }
    Ok(Outcome {
        receivers: n,
        setup,
        elapsed,
        cpu_s,
        got,
        frames_sent: schedule.frames().len() as u64,
        rss_per_receiver_kib,
    })
}
