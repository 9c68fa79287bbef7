//! webrtc-rs 0.17: the callback-style async stack (a port of Pion) from
//! before 0.21 rebuilt webrtc-rs over the sans-IO `rtc` core. It runs on the
//! ambient tokio multi-thread runtime and spawns its own tasks (ICE, DTLS,
//! SCTP, one read loop per data channel).
//!
//! Each peer gathers one UDP4 host candidate on 127.0.0.1 (network types
//! UDP4 only, loopback allowed, an IP filter keeping 127.0.0.1), so the agent
//! binds one socket; mDNS is off. Candidates are trickled in-process from
//! `on_ice_candidate`; the remote channel arrives through `on_data_channel`,
//! "open" comes from `on_open` on both ends, and received messages are counted
//! in the `on_message` callback. Back-pressure is the W3C `bufferedamountlow`
//! pattern of the crate's flow-control example:
//! `set_buffered_amount_low_threshold(1 MiB)` plus an `on_buffered_amount_low`
//! handler that wakes the sender; before every `send` the sender reads
//! `buffered_amount()` and waits for that wake-up while it is above 1 MiB, so
//! at most 1 MiB plus one message is ever queued. In practice `send` itself
//! also waits: the SCTP layer caps its pending (not yet sent) queue at
//! 128 KiB, and in runs here `buffered_amount()` (pending + unacknowledged)
//! stayed below 640 KiB, so the 1 MiB wait did not trigger.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};
use tokio::sync::{Notify, oneshot};
use webrtc17::api::APIBuilder;
use webrtc17::api::setting_engine::SettingEngine;
use webrtc17::data_channel::RTCDataChannel;
use webrtc17::data_channel::data_channel_init::RTCDataChannelInit;
use webrtc17::data_channel::data_channel_message::DataChannelMessage;
use webrtc17::ice::mdns::MulticastDnsMode;
use webrtc17::ice::network_type::NetworkType;
use webrtc17::ice_transport::ice_candidate::{RTCIceCandidate, RTCIceCandidateInit};
use webrtc17::peer_connection::RTCPeerConnection;
use webrtc17::peer_connection::configuration::RTCConfiguration;

use crate::proc::cpu_seconds;
use crate::stacks::common::{self, AsyncStack};
use crate::workload::{Sample, Workload};

/// The crate version, pinned with `=0.17.2` in Cargo.toml. (The runner's
/// `crate_version("webrtc")` finds the first `webrtc` entry of Cargo.lock,
/// which cannot tell 0.17 from 0.21 when both are present.)
pub const VERSION: &str = "0.17.2";
/// The sender waits while more than this is buffered (issue 8: 1 MiB).
const SEND_BUFFER: usize = 1 << 20;

fn err(e: webrtc17::Error) -> String {
    e.to_string()
}

/// A peer connection whose only host candidate is 127.0.0.1 over UDP4,
/// mDNS off, and the receiving end of its trickled candidates (the sender
/// is dropped when gathering completes, which ends the trickle task).
async fn peer() -> Result<
    (
        Arc<RTCPeerConnection>,
        UnboundedReceiver<RTCIceCandidateInit>,
    ),
    String,
> {
    let mut settings = SettingEngine::default();
    settings.set_ice_multicast_dns_mode(MulticastDnsMode::Disabled);
    settings.set_network_types(vec![NetworkType::Udp4]);
    settings.set_include_loopback_candidate(true);
    settings.set_ip_filter(Box::new(|ip: IpAddr| ip == IpAddr::V4(Ipv4Addr::LOCALHOST)));
    let api = APIBuilder::new().with_setting_engine(settings).build();
    let pc = Arc::new(
        api.new_peer_connection(RTCConfiguration::default())
            .await
            .map_err(err)?,
    );
    let (tx, rx) = unbounded_channel();
    let tx = Mutex::new(Some(tx));
    pc.on_ice_candidate(Box::new(move |c: Option<RTCIceCandidate>| {
        if let Ok(mut guard) = tx.lock() {
            match c {
                Some(c) => {
                    if let (Some(tx), Ok(init)) = (guard.as_ref(), c.to_json()) {
                        let _ = tx.send(init);
                    }
                }
                // `None` marks the end of gathering.
                None => {
                    guard.take();
                }
            }
        }
        Box::pin(async {})
    }));
    Ok((pc, rx))
}

/// Adds every candidate from `rx` to `to` (trickle ICE, RFC 8838).
fn trickle(mut rx: UnboundedReceiver<RTCIceCandidateInit>, to: Arc<RTCPeerConnection>) {
    tokio::spawn(async move {
        while let Some(c) = rx.recv().await {
            let _ = to.add_ice_candidate(c).await;
        }
    });
}

/// A receiver for the channel's `open` event.
fn opened(dc: &RTCDataChannel) -> oneshot::Receiver<()> {
    let (tx, rx) = oneshot::channel();
    dc.on_open(Box::new(move || {
        let _ = tx.send(());
        Box::pin(async {})
    }));
    rx
}

/// Runs a workload (see [`common::run`]).
pub fn run(w: Workload) -> Result<Sample, String> {
    common::run::<Stack>(w)
}

struct Stack;

impl AsyncStack for Stack {
    const NAME: &'static str = "webrtc-rs 0.17";
    type Pair = Pair;

    fn version() -> String {
        VERSION.into()
    }

    fn open_pair() -> impl Future<Output = Result<Pair, String>> + Send + 'static {
        open_pair()
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
}

/// Both ends of a connected pair and its channel.
struct Pair {
    a: Arc<RTCPeerConnection>,
    b: Arc<RTCPeerConnection>,
    send: Arc<RTCDataChannel>,
    recv: Arc<RTCDataChannel>,
}

impl Pair {
    async fn close(&self) {
        let _ = self.a.close().await;
        let _ = self.b.close().await;
    }
}

/// New pair, one reliable ordered channel, offer/answer, trickle, until the
/// channel is open on both sides.
async fn open_pair() -> Result<Pair, String> {
    let (a, a_candidates) = peer().await?;
    let (b, b_candidates) = peer().await?;
    let (remote_tx, mut remote_rx) = unbounded_channel();
    // The crate awaits this handler before it marks the channel open, so
    // the handler only registers `on_open` and hands both out.
    b.on_data_channel(Box::new(move |dc: Arc<RTCDataChannel>| {
        let open = opened(&dc);
        let _ = remote_tx.send((dc, open));
        Box::pin(async {})
    }));
    let init = RTCDataChannelInit {
        ordered: Some(true),
        ..Default::default()
    };
    let send = a
        .create_data_channel("bench", Some(init))
        .await
        .map_err(err)?;
    let send_open = opened(&send);
    let offer = a.create_offer(None).await.map_err(err)?;
    a.set_local_description(offer.clone()).await.map_err(err)?;
    b.set_remote_description(offer).await.map_err(err)?;
    trickle(a_candidates, b.clone());
    let answer = b.create_answer(None).await.map_err(err)?;
    b.set_local_description(answer.clone()).await.map_err(err)?;
    a.set_remote_description(answer).await.map_err(err)?;
    trickle(b_candidates, a.clone());
    let (recv, recv_open) = remote_rx
        .recv()
        .await
        .ok_or("the remote channel never arrived")?;
    recv_open
        .await
        .map_err(|_| "the remote channel never opened")?;
    send_open
        .await
        .map_err(|_| "the local channel never opened")?;
    Ok(Pair { a, b, send, recv })
}

/// Counts bytes received by the `on_message` callback and wakes the waiter
/// once `want` bytes are in or the channel closes.
struct Inbox {
    want: u64,
    got: AtomicU64,
    closed: AtomicBool,
    wake: Notify,
}

impl Inbox {
    /// Waits until `want` bytes arrived; an error if the channel closed first.
    async fn wait(&self) -> Result<(), String> {
        loop {
            let got = self.got.load(Ordering::Acquire);
            if got >= self.want {
                return Ok(());
            }
            if self.closed.load(Ordering::Acquire) {
                return Err(format!("channel closed after {got} of {} bytes", self.want));
            }
            // `notify_one` keeps a permit if nobody waits yet: no lost wake-up.
            self.wake.notified().await;
        }
    }
}

/// Sends `count` messages of `size` bytes (waiting while more than 1 MiB is
/// buffered) and returns the wall-clock and CPU seconds from the first send
/// to the last byte received.
async fn transfer(pair: &Pair, count: u64, size: usize) -> Result<(f64, f64), String> {
    let inbox = Arc::new(Inbox {
        want: count * size as u64,
        got: AtomicU64::new(0),
        closed: AtomicBool::new(false),
        wake: Notify::new(),
    });
    let on_message = inbox.clone();
    pair.recv.on_message(Box::new(move |m: DataChannelMessage| {
        let len = m.data.len() as u64;
        let before = on_message.got.fetch_add(len, Ordering::AcqRel);
        if before < on_message.want && before + len >= on_message.want {
            on_message.wake.notify_one();
        }
        Box::pin(async {})
    }));
    let on_close = inbox.clone();
    pair.recv.on_close(Box::new(move || {
        on_close.closed.store(true, Ordering::Release);
        on_close.wake.notify_one();
        Box::pin(async {})
    }));

    // Back-pressure (W3C bufferedamountlow): wake the sender when the
    // buffered amount falls to 1 MiB or below.
    let low = Arc::new(Notify::new());
    let on_low = low.clone();
    pair.send
        .set_buffered_amount_low_threshold(SEND_BUFFER)
        .await;
    pair.send
        .on_buffered_amount_low(Box::new(move || {
            on_low.notify_one();
            Box::pin(async {})
        }))
        .await;

    let send = pair.send.clone();
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let writer = tokio::spawn(async move {
        let message = Bytes::from(vec![0x5a_u8; size]);
        for _ in 0..count {
            while send.buffered_amount().await > SEND_BUFFER {
                low.notified().await;
            }
            send.send(&message).await?;
        }
        Ok::<(), webrtc17::Error>(())
    });
    inbox.wait().await?;
    let secs = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    writer.await.map_err(|e| e.to_string())?.map_err(err)?;
    Ok((secs, cpu))
}

async fn throughput(bytes: u64, size: usize) -> Result<Sample, String> {
    let pair = open_pair().await?;
    let count = bytes.div_ceil(size as u64);
    let result = transfer(&pair, count, size).await;
    pair.close().await;
    let (secs, cpu) = result?;
    Ok(crate::throughput_sample(count * size as u64, secs, cpu))
}

async fn small_messages(count: u64, size: usize) -> Result<Sample, String> {
    let pair = open_pair().await?;
    let result = transfer(&pair, count, size).await;
    pair.close().await;
    let (secs, cpu) = result?;
    Ok(Sample {
        secs,
        cpu_s: cpu,
        messages_per_s: Some(count as f64 / secs),
        ..Default::default()
    })
}
