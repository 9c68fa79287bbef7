//! webrtc-rs 0.21: the async `PeerConnection` layer over the sans-IO `rtc`
//! core, on its built-in tokio runtime (one driver task per peer
//! connection, spawned on the ambient multi-thread runtime).
//!
//! Each peer binds one UDP socket on 127.0.0.1 (`with_udp_addrs`), mDNS is
//! off; candidates are trickled in-process from `on_ice_candidate`, remote
//! channels arrive through `on_data_channel`, channel events are read with
//! `DataChannel::poll`. Back-pressure is the crate's own send-buffer limit
//! (`with_data_channel_send_buffer_limit`, 1 MiB): `send` waits while the
//! channel holds 1 MiB that SCTP has not released. (Pacing on the
//! `OnBufferedAmountHigh` / `OnBufferedAmountLow` events instead, as the
//! crate's flow-control example does, does not bound the buffer: in a
//! 32 MiB transfer the sender saw two high/low edges and peak RSS reached
//! 45 MiB.)

use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::BytesMut;
use rtc::ice::mdns::MulticastDnsMode;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use webrtc::data_channel::{DataChannel, DataChannelEvent, RTCDataChannelInit};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCIceCandidateInit,
    RTCIceGatheringState, RTCPeerConnectionIceEvent, SettingEngineBuilder,
};

use crate::proc::cpu_seconds;
use crate::stacks::common::{self, AsyncStack};
use crate::workload::{Sample, Workload};

/// The sender waits while more than this is buffered (issue 8: 1 MiB).
const SEND_BUFFER: usize = 1 << 20;

fn err(e: webrtc::error::Error) -> String {
    e.to_string()
}

/// A peer's event handler: hands local candidates (until gathering is
/// complete) and remote data channels to the benchmark's tasks.
struct Handler {
    candidates: Mutex<Option<UnboundedSender<RTCIceCandidateInit>>>,
    channels: UnboundedSender<Arc<dyn DataChannel>>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        let Ok(init) = event.candidate.to_json() else {
            return;
        };
        if let Ok(guard) = self.candidates.lock()
            && let Some(tx) = guard.as_ref()
        {
            let _ = tx.send(init);
        }
    }

    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete
            && let Ok(mut guard) = self.candidates.lock()
        {
            // Dropping the sender ends the trickle task once it has drained.
            guard.take();
        }
    }

    async fn on_data_channel(&self, data_channel: Arc<dyn DataChannel>) {
        let _ = self.channels.send(data_channel);
    }
}

/// A peer connection on loopback UDP with mDNS off, and the receiving end
/// of its candidates.
async fn peer(
    channels: UnboundedSender<Arc<dyn DataChannel>>,
) -> Result<
    (
        Arc<dyn PeerConnection>,
        UnboundedReceiver<RTCIceCandidateInit>,
    ),
    String,
> {
    let (tx, rx) = unbounded_channel();
    let handler = Arc::new(Handler {
        candidates: Mutex::new(Some(tx)),
        channels,
    });
    let settings = SettingEngineBuilder::new()
        .with_multicast_dns_mode(MulticastDnsMode::Disabled)
        .build();
    let pc = PeerConnectionBuilder::new()
        .with_setting_engine(settings)
        .with_handler(handler)
        .with_udp_addrs(vec!["127.0.0.1:0".to_string()])
        .with_data_channel_send_buffer_limit(SEND_BUFFER)
        .build()
        .await
        .map_err(err)?;
    Ok((Arc::new(pc), rx))
}

/// Adds every candidate from `rx` to `to` (trickle ICE, RFC 8838).
fn trickle(mut rx: UnboundedReceiver<RTCIceCandidateInit>, to: Arc<dyn PeerConnection>) {
    tokio::spawn(async move {
        while let Some(c) = rx.recv().await {
            let _ = to.add_ice_candidate(c).await;
        }
    });
}

/// Waits for the channel's `open` event.
async fn wait_open(dc: &Arc<dyn DataChannel>) -> Result<(), String> {
    loop {
        match dc.poll().await {
            Some(DataChannelEvent::OnOpen) => return Ok(()),
            Some(DataChannelEvent::OnClose) | None => return Err("channel closed".into()),
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
    const NAME: &'static str = "webrtc-rs";
    type Pair = Pair;

    fn version() -> String {
        crate::crate_version("webrtc")
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
    a: Arc<dyn PeerConnection>,
    b: Arc<dyn PeerConnection>,
    send: Arc<dyn DataChannel>,
    recv: Arc<dyn DataChannel>,
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
    let (channels, mut remote_channels) = unbounded_channel();
    let (a, a_candidates) = peer(channels.clone()).await?;
    let (b, b_candidates) = peer(channels).await?;
    let init = RTCDataChannelInit {
        ordered: true,
        ..Default::default()
    };
    let send = a
        .create_data_channel("bench", Some(init))
        .await
        .map_err(err)?;
    let offer = a.create_offer(None).await.map_err(err)?;
    a.set_local_description(offer.clone()).await.map_err(err)?;
    b.set_remote_description(offer).await.map_err(err)?;
    trickle(a_candidates, b.clone());
    let answer = b.create_answer(None).await.map_err(err)?;
    b.set_local_description(answer.clone()).await.map_err(err)?;
    a.set_remote_description(answer).await.map_err(err)?;
    trickle(b_candidates, a.clone());
    let recv = remote_channels.recv().await.ok_or("no remote channel")?;
    wait_open(&send).await?;
    wait_open(&recv).await?;
    // The sender's own events (buffered-amount edges, close) must be read
    // or the driver holds them; nothing here needs them.
    let events = send.clone();
    tokio::spawn(async move { while events.poll().await.is_some() {} });
    Ok(Pair { a, b, send, recv })
}

/// Sends `count` messages of `size` bytes (each `send` waits while 1 MiB is
/// buffered) and returns the wall-clock and CPU seconds from the first send
/// to the last byte received.
async fn transfer(pair: &Pair, count: u64, size: usize) -> Result<(f64, f64), String> {
    let send = pair.send.clone();
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let writer = tokio::spawn(async move {
        let message = vec![0x5a_u8; size];
        for _ in 0..count {
            send.send(BytesMut::from(&message[..])).await?;
        }
        Ok::<(), webrtc::error::Error>(())
    });
    let want = count * size as u64;
    let mut got = 0u64;
    while got < want {
        match pair.recv.poll().await {
            Some(DataChannelEvent::OnMessage(m)) => got += m.data.len() as u64,
            Some(DataChannelEvent::OnClose) | None => {
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
    pair.close().await;
    Ok(crate::throughput_sample(count * size as u64, secs, cpu))
}

async fn small_messages(count: u64, size: usize) -> Result<Sample, String> {
    let pair = open_pair().await?;
    let (secs, cpu) = transfer(&pair, count, size).await?;
    pair.close().await;
    Ok(Sample {
        secs,
        cpu_s: cpu,
        messages_per_s: Some(count as f64 / secs),
        ..Default::default()
    })
}
