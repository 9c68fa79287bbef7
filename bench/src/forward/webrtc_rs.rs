//! Forwarding on webrtc-rs 0.17 (the callback-style stack), as its
//! `broadcast` example forwards: the forwarder's ingest peer reads RTP
//! packets from each remote track (`TrackRemote::read_rtp`) and writes
//! them, unchanged, on one `TrackLocalStaticRTP` per kind that is added to
//! every downstream peer connection (`write_rtp` sends to each binding,
//! rewriting SSRC and payload type): no depacketizing, no packetizing.
//!
//! Every peer has the default codecs and the default interceptors
//! (`register_default_interceptors`: NACK, RTCP reports, TWCC), as the
//! examples set up, and one UDP4 host candidate on 127.0.0.1 (mDNS off).
//! The sender writes frames with `TrackLocalStaticSample::write_sample`
//! (VP8 and Opus packetizers). Each `RTCRtpSender`'s RTCP is read in a
//! loop, as the examples do, so that the interceptors see it. Receivers
//! log each packet from `read_rtp` (after SRTP) and, at the end, count
//! ([`Track::tally`]) the distinct sequence numbers as packets and, as
//! frames, each audio packet and each video frame number (bytes 1..9 of
//! the frame, after the VP8 descriptor of its first packet) whose packets,
//! first to marker, all came.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc::unbounded_channel;
use webrtc17::api::APIBuilder;
use webrtc17::api::interceptor_registry::register_default_interceptors;
use webrtc17::api::media_engine::{MIME_TYPE_OPUS, MIME_TYPE_VP8, MediaEngine};
use webrtc17::api::setting_engine::SettingEngine;
use webrtc17::ice::mdns::MulticastDnsMode;
use webrtc17::ice::network_type::NetworkType;
use webrtc17::ice_transport::ice_candidate::RTCIceCandidate;
use webrtc17::interceptor::registry::Registry;
use webrtc17::media::Sample;
use webrtc17::peer_connection::RTCPeerConnection;
use webrtc17::peer_connection::configuration::RTCConfiguration;
use webrtc17::peer_connection::peer_connection_state::RTCPeerConnectionState;
use webrtc17::rtp_transceiver::rtp_codec::{RTCRtpCodecCapability, RTPCodecType};
use webrtc17::rtp_transceiver::rtp_sender::RTCRtpSender;
use webrtc17::track::track_local::track_local_static_rtp::TrackLocalStaticRTP;
use webrtc17::track::track_local::track_local_static_sample::TrackLocalStaticSample;
use webrtc17::track::track_local::{TrackLocal, TrackLocalWriter};
use webrtc17::track::track_remote::TrackRemote;

use super::{
    AUDIO_INTERVAL, CONNECT_LIMIT, DRAIN, Frame, Outcome, Res, Schedule, TEARDOWN_LIMIT, Tally,
    audio_frame, frame_number, rss_kib, video_frame, video_frame_len, video_interval,
    vp8_descriptor,
};
use crate::proc::cpu_seconds;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn capability(mime: &str) -> RTCRtpCodecCapability {
    RTCRtpCodecCapability {
        mime_type: mime.to_owned(),
        ..Default::default()
    }
}

/// A peer connection with the default codecs and interceptors and one
/// host candidate on 127.0.0.1.
async fn peer() -> Res<Arc<RTCPeerConnection>> {
    let mut settings = SettingEngine::default();
    settings.set_ice_multicast_dns_mode(MulticastDnsMode::Disabled);
    settings.set_network_types(vec![NetworkType::Udp4]);
    settings.set_include_loopback_candidate(true);
    settings.set_ip_filter(Box::new(|ip: IpAddr| ip == IpAddr::V4(Ipv4Addr::LOCALHOST)));
    let mut media = MediaEngine::default();
    media.register_default_codecs().map_err(err)?;
    let registry = register_default_interceptors(Registry::new(), &mut media).map_err(err)?;
    let api = APIBuilder::new()
        .with_setting_engine(settings)
        .with_media_engine(media)
        .with_interceptor_registry(registry)
        .build();
    Ok(Arc::new(
        api.new_peer_connection(RTCConfiguration::default())
            .await
            .map_err(err)?,
    ))
}

/// Candidates of `from` go to `to` (trickle ICE).
fn trickle(from: &Arc<RTCPeerConnection>, to: &Arc<RTCPeerConnection>) {
    let (tx, mut rx) = unbounded_channel();
    from.on_ice_candidate(Box::new(move |c: Option<RTCIceCandidate>| {
        if let Some(init) = c.and_then(|c| c.to_json().ok()) {
            let _ = tx.send(init);
        }
        Box::pin(async {})
    }));
    let to = to.clone();
    tokio::spawn(async move {
        while let Some(c) = rx.recv().await {
            for _ in 0..1000 {
                if to.add_ice_candidate(c.clone()).await.is_ok() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    });
}

/// Reads a sender's RTCP so the interceptors get it (as the examples do).
fn drain_rtcp(sender: Arc<RTCRtpSender>) {
    tokio::spawn(async move {
        let mut buf = vec![0u8; 1500];
        while sender.read(&mut buf).await.is_ok() {}
    });
}

/// Adds `tracks` to `a`, offers to `b`, answers, waits until both are
/// connected.
async fn connect(
    a: &Arc<RTCPeerConnection>,
    b: &Arc<RTCPeerConnection>,
    tracks: [Arc<dyn TrackLocal + Send + Sync>; 2],
) -> Res<()> {
    for t in tracks {
        drain_rtcp(a.add_track(t).await.map_err(err)?);
    }
    trickle(a, b);
    trickle(b, a);
    let offer = a.create_offer(None).await.map_err(err)?;
    a.set_local_description(offer.clone()).await.map_err(err)?;
    b.set_remote_description(offer).await.map_err(err)?;
    let answer = b.create_answer(None).await.map_err(err)?;
    b.set_local_description(answer.clone()).await.map_err(err)?;
    a.set_remote_description(answer).await.map_err(err)?;
    for pc in [a, b] {
        loop {
            match pc.connection_state() {
                RTCPeerConnectionState::Connected => break,
                RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed => {
                    return Err("a peer connection failed".into());
                }
                _ => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    }
    Ok(())
}

/// The packets one receiving track got, logged as they come.
#[derive(Default)]
struct Track {
    video: bool,
    /// Extended sequence number, marker bit, payload bytes, and the frame
    /// number when the packet starts a video frame.
    packets: Vec<(i64, bool, usize, Option<u64>)>,
    last: Option<i64>,
}

impl Track {
    fn log(&mut self, seq: u16, marker: bool, payload: &[u8]) {
        // RFC 3550 §A.1: the sequence number extended by the nearest wrap.
        let ext = match self.last {
            None => i64::from(seq),
            Some(last) => last + i64::from(seq.wrapping_sub(last as u16) as i16),
        };
        self.last = Some(self.last.map_or(ext, |l| l.max(ext)));
        let start = if self.video {
            vp8_descriptor(payload)
                .filter(|(_, start)| *start)
                .and_then(|(n, _)| frame_number(&payload[n..]))
        } else {
            None
        };
        self.packets.push((ext, marker, payload.len(), start));
    }

    /// Distinct packets; whole frames, each once.
    fn tally(&self) -> Tally {
        let mut packets = self.packets.clone();
        packets.sort_by_key(|p| p.0);
        packets.dedup_by_key(|p| p.0);
        let mut t = Tally {
            packets: packets.len() as u64,
            ..Default::default()
        };
        if !self.video {
            for p in &packets {
                t.audio_frame(p.2);
            }
            return t;
        }
        let mut seen = std::collections::HashSet::new();
        let mut i = 0;
        while i < packets.len() {
            let Some(f) = packets[i].3 else {
                i += 1;
                continue;
            };
            // Contiguous from the first packet to the marker.
            let mut j = i;
            while !packets[j].1
                && packets
                    .get(j + 1)
                    .is_some_and(|n| n.0 == packets[j].0 + 1 && n.3.is_none())
            {
                j += 1;
            }
            if packets[j].1 && seen.insert(f) {
                t.frames += 1;
                t.bytes += video_frame_len(f) as u64;
            }
            i = j + 1;
        }
        t
    }
}

/// Logs a receiver's packets in `tracks` until `stop`.
fn count(
    pc: &RTCPeerConnection,
    tracks: Arc<Mutex<Vec<Arc<Mutex<Track>>>>>,
    stop: Arc<AtomicBool>,
) {
    pc.on_track(Box::new(move |remote: Arc<TrackRemote>, _, _| {
        let track = Arc::new(Mutex::new(Track {
            video: remote.kind() == RTPCodecType::Video,
            ..Default::default()
        }));
        if let Ok(mut all) = tracks.lock() {
            all.push(track.clone());
        }
        let stop = stop.clone();
        tokio::spawn(async move {
            while let Ok((p, _)) = remote.read_rtp().await {
                let Ok(mut t) = track.lock() else { break };
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                t.log(p.header.sequence_number, p.header.marker, &p.payload);
            }
        });
        Box::pin(async {})
    }));
}

/// Runs the workload with `n` receivers for `length`.
pub fn run(n: usize, length: Duration) -> Res<Outcome> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(err)?;
    runtime.block_on(forward(n, length))
}

async fn forward(n: usize, length: Duration) -> Res<Outcome> {
    let started = Instant::now();
    // The forwarder's two local tracks, each bound to every downstream peer.
    let out_video = Arc::new(TrackLocalStaticRTP::new(
        capability(MIME_TYPE_VP8),
        "video".into(),
        "sfu".into(),
    ));
    let out_audio = Arc::new(TrackLocalStaticRTP::new(
        capability(MIME_TYPE_OPUS),
        "audio".into(),
        "sfu".into(),
    ));

    let sender = peer().await?;
    let ingest = peer().await?;
    {
        let (video, audio) = (out_video.clone(), out_audio.clone());
        ingest.on_track(Box::new(move |track: Arc<TrackRemote>, _, _| {
            let out = if track.kind() == RTPCodecType::Video {
                video.clone()
            } else {
                audio.clone()
            };
            tokio::spawn(async move {
                while let Ok((p, _)) = track.read_rtp().await {
                    // No binding yet, or one closed: the packet is dropped.
                    let _ = out.write_rtp(&p).await;
                }
            });
            Box::pin(async {})
        }));
    }
    let in_video = Arc::new(TrackLocalStaticSample::new(
        capability(MIME_TYPE_VP8),
        "video".into(),
        "sender".into(),
    ));
    let in_audio = Arc::new(TrackLocalStaticSample::new(
        capability(MIME_TYPE_OPUS),
        "audio".into(),
        "sender".into(),
    ));
    tokio::time::timeout(
        CONNECT_LIMIT,
        connect(&sender, &ingest, [in_video.clone(), in_audio.clone()]),
    )
    .await
    .map_err(|_| "the ingest leg did not connect")??;

    let rss_before = rss_kib();
    let tracks = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut opening = tokio::task::JoinSet::new();
    for i in 0..n {
        let (video, audio) = (out_video.clone(), out_audio.clone());
        let (tracks, stop) = (tracks.clone(), stop.clone());
        opening.spawn(async move {
            let leg = tokio::time::timeout(CONNECT_LIMIT, async move {
                let f = peer().await?;
                let r = peer().await?;
                count(&r, tracks, stop);
                connect(&f, &r, [video, audio]).await?;
                Ok::<_, String>((f, r))
            });
            (i, leg.await)
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

    let schedule = Schedule::new(length);
    let audio = Bytes::from(audio_frame());
    let cpu0 = cpu_seconds();
    let t0 = tokio::time::Instant::now();
    for (at, frame) in schedule.frames() {
        tokio::time::sleep_until(t0 + *at).await;
        let (track, sample) = match frame {
            Frame::Video(i) => (
                &in_video,
                Sample {
                    data: Bytes::from(video_frame(*i)),
                    duration: video_interval(),
                    ..Default::default()
                },
            ),
            Frame::Audio(_) => (
                &in_audio,
                Sample {
                    data: audio.clone(),
                    duration: AUDIO_INTERVAL,
                    ..Default::default()
                },
            ),
        };
        track.write_sample(&sample).await.map_err(err)?;
    }
    tokio::time::sleep_until(t0 + length + DRAIN).await;
    // One moment for counts and CPU: the receivers stop logging (the
    // sender is done; what the forwarder still sends is not counted),
    // then the CPU time is read.
    stop.store(true, Ordering::Relaxed);
    let cpu_s = cpu_seconds() - cpu0;
    let elapsed = t0.elapsed();
    let rss_per_receiver_kib = (rss_kib() - rss_before).max(0.0) / n.max(1) as f64;
    let mut got = Tally::default();
    for t in tracks.lock().map_err(|_| "a counter panicked")?.iter() {
        got.add(&t.lock().map_err(|_| "a counter panicked")?.tally());
    }
    let outcome = Outcome {
        receivers: n,
        setup,
        elapsed,
        cpu_s,
        got,
        frames_sent: schedule.frames().len() as u64,
        rss_per_receiver_kib,
    };
    let teardown = async {
        for (f, r) in &downstream {
            let _ = f.close().await;
            let _ = r.close().await;
        }
        let _ = sender.close().await;
        let _ = ingest.close().await;
    };
    tokio::time::timeout(TEARDOWN_LIMIT, teardown)
        .await
        .map_err(|_| "closing after the stream timed out")?;
    Ok(outcome)
}
