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
//! count RTP packets from `read_rtp`, and frames: audio packets and video
//! packets with the marker bit (the last of a frame).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
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
    AUDIO_INTERVAL, CONNECT_LIMIT, DRAIN, Frame, Outcome, Res, Schedule, audio_frame, rss_kib,
    video_frame, video_interval,
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

/// Counts a receiver's packets and frames.
fn count(pc: &RTCPeerConnection, packets: Arc<AtomicU64>, frames: Arc<AtomicU64>) {
    pc.on_track(Box::new(move |track: Arc<TrackRemote>, _, _| {
        let (packets, frames) = (packets.clone(), frames.clone());
        tokio::spawn(async move {
            let video = track.kind() == RTPCodecType::Video;
            while let Ok((p, _)) = track.read_rtp().await {
                packets.fetch_add(1, Ordering::Relaxed);
                if !video || p.header.marker {
                    frames.fetch_add(1, Ordering::Relaxed);
                }
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
    let packets = Arc::new(AtomicU64::new(0));
    let frames = Arc::new(AtomicU64::new(0));
    let mut opening = tokio::task::JoinSet::new();
    for _ in 0..n {
        let (video, audio) = (out_video.clone(), out_audio.clone());
        let (packets, frames) = (packets.clone(), frames.clone());
        opening.spawn(tokio::time::timeout(CONNECT_LIMIT, async move {
            let f = peer().await?;
            let r = peer().await?;
            count(&r, packets, frames);
            connect(&f, &r, [video, audio]).await?;
            Ok::<_, String>((f, r))
        }));
    }
    let mut downstream = Vec::with_capacity(n);
    while let Some(leg) = opening.join_next().await {
        downstream.push(
            leg.map_err(err)?
                .map_err(|_| "a receiver did not connect")??,
        );
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
    let cpu_s = cpu_seconds() - cpu0;
    let rss_per_receiver_kib = (rss_kib() - rss_before).max(0.0) / n.max(1) as f64;
    let outcome = Outcome {
        receivers: n,
        setup,
        cpu_s,
        packets: packets.load(Ordering::Relaxed),
        frames_sent: schedule.frames().len() as u64,
        frames_received: frames.load(Ordering::Relaxed),
        rss_per_receiver_kib,
    };
    for (f, r) in &downstream {
        let _ = f.close().await;
        let _ = r.close().await;
    }
    let _ = sender.close().await;
    let _ = ingest.close().await;
    Ok(outcome)
}
