//! `RTCDataChannel` handles.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

use ferrtc_core::{ChannelId, ChannelInfo, DataChannelState};
use tokio::sync::{Mutex, mpsc, oneshot};

pub use ferrtc_core::{DataChannelInit, DataChannelMessage};

use crate::Error;
use crate::driver::Command;

/// An event of one data channel (W3C `open`, `message`,
/// `bufferedamountlow`, `closing`, `close`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DataChannelEvent {
    /// `open`.
    Open,
    /// `message`.
    Message(DataChannelMessage),
    /// `bufferedamountlow`.
    BufferedAmountLow,
    /// `closing`.
    Closing,
    /// `close`.
    Close,
}

/// Received bytes handed to a connection's channels and not yet read by
/// the application. Above [`RECEIVE_HIGH_WATER`] the connection task stops
/// taking messages from SCTP, whose window then holds the peer back; the
/// reads that bring it to [`RECEIVE_LOW_WATER`] wake the task.
#[derive(Debug, Default)]
pub(crate) struct ReceiveGate {
    queued: AtomicUsize,
    pub(crate) drained: tokio::sync::Notify,
}

/// Unread bytes at which a connection stops taking messages.
pub(crate) const RECEIVE_HIGH_WATER: usize = 1024 * 1024;
/// Unread bytes at which it takes them again.
pub(crate) const RECEIVE_LOW_WATER: usize = RECEIVE_HIGH_WATER / 2;

impl ReceiveGate {
    /// Bytes queued for the application.
    pub(crate) fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    pub(crate) fn add(&self, bytes: usize) {
        self.queued.fetch_add(bytes, Ordering::Relaxed);
    }

    fn read(&self, bytes: usize) {
        let before = self.queued.fetch_sub(bytes, Ordering::Relaxed);
        if before > RECEIVE_LOW_WATER && before - bytes <= RECEIVE_LOW_WATER {
            self.drained.notify_one();
        }
    }
}

/// State the task updates and handles read without asking it.
#[derive(Debug)]
pub(crate) struct ChannelShared {
    state: AtomicU8,
    /// The SCTP stream id, or `u32::MAX` while unknown.
    id: AtomicU32,
    pub(crate) buffered: AtomicUsize,
    threshold: AtomicUsize,
    /// The connection's count of unread received bytes.
    pub(crate) gate: Arc<ReceiveGate>,
}

impl ChannelShared {
    pub(crate) fn new(info: &ChannelInfo, gate: Arc<ReceiveGate>) -> Self {
        let s = ChannelShared {
            state: AtomicU8::new(0),
            id: AtomicU32::new(u32::MAX),
            buffered: AtomicUsize::new(0),
            threshold: AtomicUsize::new(0),
            gate,
        };
        s.set_state(info.ready_state);
        s.set_id(info.id);
        s
    }

    pub(crate) fn set_state(&self, state: DataChannelState) {
        let v = match state {
            DataChannelState::Connecting => 0,
            DataChannelState::Open => 1,
            DataChannelState::Closing => 2,
            DataChannelState::Closed => 3,
        };
        self.state.store(v, Ordering::Relaxed);
    }

    pub(crate) fn set_id(&self, id: Option<u16>) {
        if let Some(id) = id {
            self.id.store(u32::from(id), Ordering::Relaxed);
        }
    }
}

/// The task's side of a channel handle.
#[derive(Debug)]
pub(crate) struct Sink {
    pub(crate) tx: mpsc::UnboundedSender<DataChannelEvent>,
    pub(crate) shared: Arc<ChannelShared>,
}

/// A data channel (W3C `RTCDataChannel`). Cheap to clone; all clones share
/// one event stream. A channel handle does not keep its connection alive.
#[derive(Debug, Clone)]
#[doc(alias = "RTCDataChannel")]
pub struct DataChannel {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    handle: ChannelId,
    info: ChannelInfo,
    shared: Arc<ChannelShared>,
    events: Mutex<mpsc::UnboundedReceiver<DataChannelEvent>>,
    commands: mpsc::WeakUnboundedSender<Command>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Messages nobody will read no longer count against the connection.
        let events = self.events.get_mut();
        while let Ok(ev) = events.try_recv() {
            if let DataChannelEvent::Message(m) = ev {
                self.shared.gate.read(m.as_bytes().len());
            }
        }
    }
}

impl DataChannel {
    pub(crate) fn new(
        handle: ChannelId,
        info: ChannelInfo,
        shared: Arc<ChannelShared>,
        events: mpsc::UnboundedReceiver<DataChannelEvent>,
        commands: mpsc::WeakUnboundedSender<Command>,
    ) -> Self {
        DataChannel {
            inner: Arc::new(Inner {
                handle,
                info,
                shared,
                events: Mutex::new(events),
                commands,
            }),
        }
    }

    /// `label`.
    pub fn label(&self) -> &str {
        &self.inner.info.label
    }

    /// `protocol`.
    pub fn protocol(&self) -> &str {
        &self.inner.info.protocol
    }

    /// `ordered`.
    pub fn ordered(&self) -> bool {
        self.inner.info.ordered
    }

    /// `maxRetransmits`.
    pub fn max_retransmits(&self) -> Option<u16> {
        self.inner.info.max_retransmits
    }

    /// `maxPacketLifeTime`.
    pub fn max_packet_life_time(&self) -> Option<Duration> {
        self.inner.info.max_packet_life_time
    }

    /// `negotiated`.
    pub fn negotiated(&self) -> bool {
        self.inner.info.negotiated
    }

    /// `id`: the SCTP stream id, once the DTLS role settled it.
    pub fn id(&self) -> Option<u16> {
        u16::try_from(self.inner.shared.id.load(Ordering::Relaxed)).ok()
    }

    /// `readyState`.
    pub fn ready_state(&self) -> DataChannelState {
        match self.inner.shared.state.load(Ordering::Relaxed) {
            0 => DataChannelState::Connecting,
            1 => DataChannelState::Open,
            2 => DataChannelState::Closing,
            _ => DataChannelState::Closed,
        }
    }

    /// `bufferedAmount`: bytes queued and not yet sent, as of the
    /// connection task's last round.
    pub fn buffered_amount(&self) -> usize {
        self.inner.shared.buffered.load(Ordering::Relaxed)
    }

    /// `bufferedAmountLowThreshold`.
    pub fn buffered_amount_low_threshold(&self) -> usize {
        self.inner.shared.threshold.load(Ordering::Relaxed)
    }

    /// Sets `bufferedAmountLowThreshold`; [`DataChannelEvent::BufferedAmountLow`]
    /// fires when the buffered amount falls to it.
    pub fn set_buffered_amount_low_threshold(&self, threshold: usize) {
        self.inner
            .shared
            .threshold
            .store(threshold, Ordering::Relaxed);
        self.command(Command::SetLowThreshold(self.inner.handle, threshold));
    }

    /// Sends a text message (PPID 51).
    pub async fn send_text(&self, text: &str) -> Result<(), Error> {
        self.send(text.as_bytes().to_vec(), false).await
    }

    /// Sends a binary message (PPID 53).
    pub async fn send_binary(&self, data: &[u8]) -> Result<(), Error> {
        self.send(data.to_vec(), true).await
    }

    /// Sends a message; resolves once it is queued. While more than 1 MiB
    /// waits on this channel, it waits for the buffer to drain first
    /// (back-pressure, instead of the W3C unbounded buffer).
    pub async fn send(&self, data: Vec<u8>, binary: bool) -> Result<(), Error> {
        let (tx, rx) = oneshot::channel();
        self.command(Command::Send {
            channel: self.inner.handle,
            data,
            binary,
            reply: tx,
        });
        rx.await.map_err(|_| Error::Closed)?
    }

    /// The next event, or `None` once the channel is closed and drained.
    pub async fn recv(&self) -> Option<DataChannelEvent> {
        let event = self.inner.events.lock().await.recv().await;
        if let Some(DataChannelEvent::Message(m)) = &event {
            self.inner.shared.gate.read(m.as_bytes().len());
        }
        event
    }

    /// Waits until the channel is open; `Err(Closed)` if it closed first.
    pub async fn wait_open(&self) -> Result<(), Error> {
        loop {
            match self.ready_state() {
                DataChannelState::Open => return Ok(()),
                DataChannelState::Closing | DataChannelState::Closed => return Err(Error::Closed),
                DataChannelState::Connecting => {}
            }
            match self.recv().await {
                Some(DataChannelEvent::Open) => return Ok(()),
                Some(DataChannelEvent::Close) | None => return Err(Error::Closed),
                Some(_) => {}
            }
        }
    }

    /// `close()`: closes the channel (stream reset, RFC 8831 §6.7).
    pub fn close(&self) {
        self.command(Command::CloseChannel(self.inner.handle));
    }

    fn command(&self, cmd: Command) {
        if let Some(tx) = self.inner.commands.upgrade() {
            let _ = tx.send(cmd);
        }
    }
}
