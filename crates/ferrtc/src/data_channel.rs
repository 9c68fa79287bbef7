//! `RTCDataChannel` handles.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

use ferrtc_core::{ChannelId, ChannelInfo, DataChannelState};
use tokio::sync::{Mutex, Notify};

pub use ferrtc_core::{DataChannelInit, DataChannelMessage};

use crate::Error;
use crate::driver::{ChannelOp, CommandQueue, OpQueue, Refused, SEND_HIGH_WATER, SEND_LOW_WATER};
use crate::events::{Hub, Subscription, Weight};

/// An event of one data channel (W3C `open`, `message`,
/// `bufferedamountlow`, `closing`, `close`, `error`), and
/// [`Lagged`](Self::Lagged) when a subscription dropped `error` events.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DataChannelEvent {
    /// `open`.
    Open,
    /// `message`: shared, so that every subscriber gets it without a copy
    /// (`Arc::unwrap_or_clone` takes it out; it copies only while another
    /// subscriber still holds it).
    Message(Arc<DataChannelMessage>),
    /// `bufferedamountlow`.
    BufferedAmountLow,
    /// `closing`.
    Closing,
    /// `close`.
    Close,
    /// `error`: a message `send` accepted could not be sent after all
    /// (the connection refused it later, e.g. a renegotiation lowered the
    /// peer's `max-message-size`). The text says why.
    Error(String),
    /// This subscription fell behind on errors: while
    /// [`DataChannelEvents::MAX_UNREAD_ERRORS`] `error` events waited
    /// unread, this many more came and were dropped, right before the
    /// event that follows. No other event is dropped but a
    /// `bufferedamountlow` published while another waits unread.
    Lagged(u64),
}

/// A channel's event as its hub queues it: with the count of events the
/// subscription dropped right before it.
#[derive(Debug, Clone)]
pub(crate) struct QueuedChannelEvent {
    event: DataChannelEvent,
    dropped_before: u64,
}

impl From<DataChannelEvent> for QueuedChannelEvent {
    fn from(event: DataChannelEvent) -> Self {
        QueuedChannelEvent {
            event,
            dropped_before: 0,
        }
    }
}

/// What a queued message costs beyond its bytes (its slot in the queue
/// and its shared allocation): counted against the receive gate with them,
/// so that empty messages, which carry no byte, are held back too.
const MESSAGE_COST: usize = std::mem::size_of::<QueuedChannelEvent>()
    + std::mem::size_of::<DataChannelMessage>()
    + 2 * std::mem::size_of::<usize>();

/// Every event of a channel but its messages weighs nothing, and nothing
/// holds them back: an unread subscription keeps only what the reader
/// needs of them. W3C webrtc-pc §6.2 fires `bufferedamountlow` at every
/// crossing of the threshold; one waiting unread already tells the reader
/// to look at `bufferedAmount`, so the next ones merge into it. `error`
/// events, one per message refused after `send`, are kept up to a bound
/// and counted past it ([`DataChannelEvent::Lagged`]). The others come
/// once each.
impl Weight for QueuedChannelEvent {
    const MAX_CAPPED: usize = DataChannelEvents::MAX_UNREAD_ERRORS;

    fn weight(&self) -> usize {
        match &self.event {
            DataChannelEvent::Message(m) => m.as_bytes().len() + MESSAGE_COST,
            _ => 0,
        }
    }

    fn coalesces(&self) -> bool {
        self.event == DataChannelEvent::BufferedAmountLow
    }

    fn capped(&self) -> bool {
        matches!(self.event, DataChannelEvent::Error(_))
    }

    fn dropped_before(&self) -> u64 {
        self.dropped_before
    }

    fn set_dropped_before(&mut self, n: u64) {
        self.dropped_before = n;
    }
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

    pub(crate) fn read(&self, bytes: usize) {
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
    /// The core's buffered amount, as of the task's last round.
    pub(crate) buffered: AtomicUsize,
    /// Bytes `send` accepted that the task has not handed to the core yet.
    pub(crate) queued: AtomicUsize,
    /// Set by a `send` about to wait for the buffer to drain.
    waiting: AtomicBool,
    /// Wakes `send`s waiting for room and `wait_open`: the buffer drained
    /// or the state changed.
    wake: Notify,
    threshold: AtomicUsize,
    /// `bufferedAmount` went above the threshold and has not fallen to it
    /// since: the next fall fires `bufferedamountlow`.
    above: AtomicBool,
    /// The connection's `max-message-size`, published by the task.
    pub(crate) max_message_size: Arc<AtomicUsize>,
    /// The channel's subscribers.
    pub(crate) events: Arc<Hub<QueuedChannelEvent>>,
}

impl ChannelShared {
    pub(crate) fn new(
        info: &ChannelInfo,
        gate: Arc<ReceiveGate>,
        max_message_size: Arc<AtomicUsize>,
    ) -> Self {
        let s = ChannelShared {
            state: AtomicU8::new(0),
            id: AtomicU32::new(u32::MAX),
            buffered: AtomicUsize::new(0),
            queued: AtomicUsize::new(0),
            waiting: AtomicBool::new(false),
            wake: Notify::new(),
            threshold: AtomicUsize::new(0),
            above: AtomicBool::new(false),
            events: Arc::new(Hub::new(Some(gate))),
            max_message_size,
        };
        s.set_state(info.ready_state);
        s.set_id(info.id);
        s
    }

    /// Moves the state forward to `state` (a channel's states only go
    /// forward: a `close()` already made it closing when the task saw it
    /// open); returns whether it moved.
    pub(crate) fn set_state(&self, state: DataChannelState) -> bool {
        rank(self.advance(state)) < rank(state)
    }

    /// Moves the state forward to `state`; returns the state before.
    pub(crate) fn advance(&self, state: DataChannelState) -> DataChannelState {
        let before = self.state.fetch_max(rank(state), Ordering::SeqCst);
        self.wake.notify_waiters();
        of_rank(before)
    }

    fn state(&self) -> DataChannelState {
        of_rank(self.state.load(Ordering::SeqCst))
    }

    /// `bufferedAmount`: bytes in the core plus bytes on their way to it.
    fn buffered_amount(&self) -> usize {
        self.buffered
            .load(Ordering::SeqCst)
            .saturating_add(self.queued.load(Ordering::SeqCst))
    }

    /// Publishes the core's buffered amount after the task handed it
    /// `handed` more queued bytes, and wakes waiting senders once the
    /// buffer has drained to [`SEND_LOW_WATER`].
    pub(crate) fn update_buffered(&self, buffered: usize, handed: usize) {
        // The new buffered amount first: a handle reading in between
        // counts the handed bytes twice (too much), never zero times.
        self.buffered.store(buffered, Ordering::SeqCst);
        if handed > 0 {
            self.queued.fetch_sub(handed, Ordering::SeqCst);
        }
        if self.waiting.load(Ordering::SeqCst) && self.buffered_amount() <= SEND_LOW_WATER {
            self.waiting.store(false, Ordering::SeqCst);
            self.wake.notify_waiters();
        }
    }

    /// Notes that `bufferedAmount` is above the threshold, if it is. A
    /// handle calls it after counting bytes and before the task can see
    /// them, so the task never settles a fall it was not told of.
    fn note_if_above(&self) {
        if self.buffered_amount() > self.threshold.load(Ordering::SeqCst) {
            self.above.store(true, Ordering::SeqCst);
        }
    }

    /// W3C webrtc-pc §6.2: whether `bufferedAmount`, as a handle reads
    /// it now, has fallen to the threshold since it was last above it
    /// (at most once per fall). The task asks after publishing the
    /// amount, so a reader of the event that follows sees the amount at
    /// or below the threshold (unless it sent more since).
    pub(crate) fn fell_to_threshold(&self) -> bool {
        // Not once closed: the bytes that left were dropped, not sent.
        let fell = self.state() != DataChannelState::Closed
            && self.above.load(Ordering::SeqCst)
            && self.buffered_amount() <= self.threshold.load(Ordering::SeqCst)
            && self.above.swap(false, Ordering::SeqCst);
        if fell {
            // A send counted between the check and the clear noted its
            // rise before the clear: note it again, after it.
            self.note_if_above();
        }
        fell
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
    pub(crate) shared: Arc<ChannelShared>,
    /// Queued bytes handed to the core since the last update of `shared`.
    pub(crate) handed: usize,
    /// Messages were published quietly since the readers were last woken.
    pub(crate) unwoken: bool,
}

/// A data channel (W3C `RTCDataChannel`). Cheap to clone. A channel
/// handle does not keep its connection alive.
///
/// # Events
///
/// Each handle *value* is a subscriber of its own, from its first
/// [`recv`](Self::recv): it gets every event from then on, and no other
/// handle (clone or not) takes them from it. A clone starts with no
/// subscription, so clones given to writers hold nothing. The first
/// subscription of a channel also gets the events that came before any
/// (a handle read a little after it was made misses nothing).
/// [`subscribe`](Self::subscribe) makes a subscription at a chosen moment.
///
/// Unread messages count once per subscription holding them against the
/// connection's receive buffer (each its bytes and about a hundred more,
/// its place in the queue): at 1 MiB unread the connection stops
/// taking messages from SCTP (back-pressure on the peer, for every channel
/// of the connection) until subscriptions have read down to 512 KiB. A
/// subscription that is not read therefore holds the connection back;
/// drop it (or the handle value) to release what it holds. The other
/// events of a subscription not read stay few: a
/// [`BufferedAmountLow`](DataChannelEvent::BufferedAmountLow) is not
/// queued while another waits unread, and `error` events past
/// [`DataChannelEvents::MAX_UNREAD_ERRORS`] unread are counted
/// ([`DataChannelEvent::Lagged`]), not queued.
#[derive(Debug)]
#[doc(alias = "RTCDataChannel")]
pub struct DataChannel {
    inner: Arc<Inner>,
    /// This handle value's subscription, made by its first `recv`.
    events: Mutex<Option<DataChannelEvents>>,
}

impl Clone for DataChannel {
    /// Another handle of the channel, without a subscription yet.
    fn clone(&self) -> Self {
        DataChannel {
            inner: Arc::clone(&self.inner),
            events: Mutex::new(None),
        }
    }
}

/// A subscription to a channel's events, from [`DataChannel::subscribe`].
/// It does not depend on the handles: it goes on after every
/// [`DataChannel`] of the channel is dropped, until the channel closes.
#[derive(Debug)]
pub struct DataChannelEvents {
    events: Subscription<QueuedChannelEvent>,
    /// The event after a [`DataChannelEvent::Lagged`] just returned.
    after_gap: Option<DataChannelEvent>,
}

impl DataChannelEvents {
    /// `error` events one subscription (and the backlog kept for the first
    /// one) holds unread at most; more are dropped, and the reader learns
    /// how many from [`DataChannelEvent::Lagged`]. Messages are never
    /// dropped, nor other events but a `bufferedamountlow` published
    /// while another waits unread.
    pub const MAX_UNREAD_ERRORS: usize = 64;

    fn new(events: Subscription<QueuedChannelEvent>) -> Self {
        DataChannelEvents {
            events,
            after_gap: None,
        }
    }

    /// The next event, or `None` once the channel is closed and drained.
    /// [`DataChannelEvent::Lagged`] comes where `error` events were
    /// dropped.
    ///
    /// Cancel-safe: an event is taken only by the poll that returns it.
    pub async fn recv(&mut self) -> Option<DataChannelEvent> {
        if let Some(event) = self.after_gap.take() {
            return Some(event);
        }
        let queued = self.events.recv().await?;
        if queued.dropped_before > 0 {
            self.after_gap = Some(queued.event);
            return Some(DataChannelEvent::Lagged(queued.dropped_before));
        }
        Some(queued.event)
    }

    /// Events this subscription holds unread.
    #[cfg(test)]
    pub(crate) fn unread_len(&self) -> usize {
        self.events.unread_len() + usize::from(self.after_gap.is_some())
    }
}

#[derive(Debug)]
struct Inner {
    handle: ChannelId,
    info: ChannelInfo,
    shared: Arc<ChannelShared>,
    /// The connection's queue of channel operations (a channel handle
    /// does not keep the connection alive: the task ends with the last
    /// `PeerConnection` handle whatever this queue holds).
    ops: Arc<OpQueue>,
    /// The connection's command queue, where a panic of its task is kept:
    /// calls then fail with [`Error::TaskPanicked`] (holding it does not
    /// keep the connection alive either).
    commands: Arc<CommandQueue>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The last handle is gone: nobody can subscribe any more, and
        // what waited for a first subscriber no longer counts as unread.
        // Subscriptions already made go on: the task ends them when the
        // channel closes.
        self.shared.events.drop_backlog();
    }
}

impl DataChannel {
    pub(crate) fn new(
        handle: ChannelId,
        info: ChannelInfo,
        shared: Arc<ChannelShared>,
        ops: Arc<OpQueue>,
        commands: Arc<CommandQueue>,
    ) -> Self {
        DataChannel {
            inner: Arc::new(Inner {
                handle,
                info,
                shared,
                ops,
                commands,
            }),
            events: Mutex::new(None),
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
        self.inner.shared.state()
    }

    /// `bufferedAmount`: bytes `send` accepted and not yet sent. It grows
    /// at once when `send` returns (W3C) and falls as the connection task
    /// sends.
    pub fn buffered_amount(&self) -> usize {
        self.inner.shared.buffered_amount()
    }

    /// `bufferedAmountLowThreshold`.
    pub fn buffered_amount_low_threshold(&self) -> usize {
        self.inner.shared.threshold.load(Ordering::SeqCst)
    }

    /// Sets `bufferedAmountLowThreshold`; [`DataChannelEvent::BufferedAmountLow`]
    /// fires when [`buffered_amount`](Self::buffered_amount) falls from
    /// above it to it or below (W3C webrtc-pc §6.2), once per fall, after
    /// the amount a handle reads has fallen: a writer that waits for the
    /// event while the amount is above the threshold is woken.
    pub fn set_buffered_amount_low_threshold(&self, threshold: usize) {
        let shared = &self.inner.shared;
        // W3C webrtc-pc §6.2: only a fall from above the new threshold
        // fires. Clear, then store, then note: a task that reads the new
        // threshold finds the flag cleared (no event for a raise), and a
        // send counted meanwhile shows in the note's read or notes after
        // the clear.
        shared.above.store(false, Ordering::SeqCst);
        shared.threshold.store(threshold, Ordering::SeqCst);
        shared.note_if_above();
        let _ = self
            .inner
            .ops
            .send(ChannelOp::SetLowThreshold(self.inner.handle, threshold));
    }

    /// Sends a text message (PPID 51).
    pub async fn send_text(&self, text: &str) -> Result<(), Error> {
        self.send_checked(text.as_bytes().to_vec(), false).await
    }

    /// Sends a binary message (PPID 53).
    pub async fn send_binary(&self, data: &[u8]) -> Result<(), Error> {
        self.send_checked(data.to_vec(), true).await
    }

    /// `send()`: queues a message (text, which must be UTF-8, when
    /// `binary` is false) and returns without waiting for the connection
    /// task, as a browser's `send()` does.
    ///
    /// Errors are those the call itself can tell: the channel is not open
    /// (W3C `InvalidStateError`), the message is over the peer's
    /// `max-message-size` (W3C `TypeError`; see [`Error::name`]),
    /// the text is not UTF-8 ([`Error::NotUtf8`]), or the connection is
    /// gone ([`Error::Closed`]; [`Error::TaskPanicked`] after its task
    /// panicked, whatever else). A failure found later (the channel closed
    /// meanwhile) shows as a [`DataChannelEvent::Close`] or
    /// [`DataChannelEvent::Error`].
    ///
    /// Back-pressure, instead of the W3C unbounded buffer: while the
    /// buffered amount (queued for the task plus buffered in SCTP) is
    /// 1 MiB or more, `send` waits until it has drained to half that.
    /// Several writers on clones of one channel may each pass the mark by
    /// one message. One writer's messages go out in the order sent.
    pub async fn send(&self, data: Vec<u8>, binary: bool) -> Result<(), Error> {
        // W3C webrtc-pc §6.2 send(): the state first (step "not open:
        // InvalidStateError"), then the message, as `send_text` and
        // `send_binary` do: a closed channel or a panicked task is told
        // so whatever the bytes.
        self.check_open()?;
        if !binary && std::str::from_utf8(&data).is_err() {
            return Err(Error::NotUtf8);
        }
        self.send_checked(data, binary).await
    }

    /// `send` once the text is known to be UTF-8.
    async fn send_checked(&self, data: Vec<u8>, binary: bool) -> Result<(), Error> {
        self.check_sendable(data.len())?;
        self.wait_for_room().await?;
        self.enqueue(data, binary)
    }

    /// The errors `send` reports at once: state and size.
    fn check_sendable(&self, len: usize) -> Result<(), Error> {
        self.check_open()?;
        let max = self.inner.shared.max_message_size.load(Ordering::Relaxed);
        if len > max {
            // W3C webrtc-pc §6.2 send(): over maxMessageSize is a TypeError.
            return Err(ferrtc_core::Error::type_error(format!(
                "message of {len} bytes exceeds the max-message-size {max}"
            ))
            .into());
        }
        Ok(())
    }

    /// The state check of `send`: the channel must be open.
    fn check_open(&self) -> Result<(), Error> {
        if self.ready_state() != DataChannelState::Open {
            return Err(self.not_open());
        }
        Ok(())
    }

    /// Waits while the channel's buffered amount is at the high-water
    /// mark; fails if the channel stops being open meanwhile.
    async fn wait_for_room(&self) -> Result<(), Error> {
        let shared = &self.inner.shared;
        if shared.buffered_amount() < SEND_HIGH_WATER {
            return Ok(());
        }
        loop {
            let woken = shared.wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            // Announce the wait, then look again: the task either sees the
            // flag or this sees the drained buffer (both are SeqCst).
            shared.waiting.store(true, Ordering::SeqCst);
            if self.ready_state() != DataChannelState::Open {
                return Err(self.not_open());
            }
            if shared.buffered_amount() < SEND_HIGH_WATER {
                return Ok(());
            }
            woken.await;
        }
    }

    /// Counts the message as buffered and queues it for the task.
    fn enqueue(&self, data: Vec<u8>, binary: bool) -> Result<(), Error> {
        let len = data.len();
        let shared = &self.inner.shared;
        shared.queued.fetch_add(len, Ordering::SeqCst);
        // Before the task can see the bytes (a refused send may leave a
        // fall to report that did not happen: one event too many, never
        // one too few).
        shared.note_if_above();
        let op = ChannelOp::Send {
            channel: self.inner.handle,
            data,
            binary,
            shared: Arc::clone(shared),
        };
        // Checked under the queue's lock: a `close()` from another clone
        // either comes after this message or refuses it, never drops it
        // after `send` accepted it (W3C webrtc-pc §6.2).
        let admit = || self.ready_state() == DataChannelState::Open;
        match self.inner.ops.send_if(op, admit) {
            Ok(()) => Ok(()),
            Err((_, refused)) => {
                shared.queued.fetch_sub(len, Ordering::SeqCst);
                Err(match refused {
                    Refused::Ended => self.inner.commands.ended_error(),
                    Refused::NotAdmitted => self.not_open(),
                })
            }
        }
    }

    /// The next event of this handle value's subscription (made by the
    /// first call; see [Events](Self#events)), or `None` once the channel
    /// is closed and drained.
    pub async fn recv(&self) -> Option<DataChannelEvent> {
        let mut events = self.events.lock().await;
        events.get_or_insert_with(|| self.subscribe()).recv().await
    }

    /// A new subscription: every event of the channel from now on (and
    /// those that came before any subscription, if it is the first).
    pub fn subscribe(&self) -> DataChannelEvents {
        DataChannelEvents::new(self.inner.shared.events.subscribe())
    }

    /// Waits until the channel is open; `Err(Closed)` if it closed first
    /// (`Err(TaskPanicked)` if its connection's task panicked).
    /// Reads no event: it watches the state.
    pub async fn wait_open(&self) -> Result<(), Error> {
        let shared = &self.inner.shared;
        loop {
            let woken = shared.wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            match self.ready_state() {
                DataChannelState::Open => return Ok(()),
                DataChannelState::Closing | DataChannelState::Closed => {
                    return Err(self.inner.commands.panic_error().unwrap_or(Error::Closed));
                }
                DataChannelState::Connecting => woken.await,
            }
        }
    }

    /// The error of a call the channel's state refuses: W3C webrtc-pc §6.2
    /// `InvalidStateError`, or [`Error::TaskPanicked`] once the connection's
    /// task panicked (which closed the channel: the panic is kept before the
    /// channel is closed).
    fn not_open(&self) -> Error {
        self.inner
            .commands
            .panic_error()
            .unwrap_or_else(|| not_open(self.inner.handle))
    }

    /// `close()`: closes the channel (stream reset, RFC 8831 §6.7) after
    /// the messages already sent. As W3C webrtc-pc §6.2 says, the channel
    /// is `closing` when this returns: `send` then fails with an
    /// `InvalidStateError` on every clone, `wait_open` returns
    /// `Err(Closed)`, and a channel still connecting fires no `open`.
    pub fn close(&self) {
        let shared = &self.inner.shared;
        // Under the queue's lock, with the close op: every message `send`
        // accepted before it goes out first, none after it is accepted.
        let _ = self
            .inner
            .ops
            .send_if(ChannelOp::Close(self.inner.handle), || {
                // W3C close() steps 2-3: nothing more once closing or closed.
                shared.set_state(DataChannelState::Closing)
            });
    }
}

/// A state's place in the only order a channel's states go (W3C
/// `RTCDataChannelState`).
fn rank(state: DataChannelState) -> u8 {
    match state {
        DataChannelState::Connecting => 0,
        DataChannelState::Open => 1,
        DataChannelState::Closing => 2,
        DataChannelState::Closed => 3,
    }
}

/// The state of [`rank`] `r`.
fn of_rank(r: u8) -> DataChannelState {
    match r {
        0 => DataChannelState::Connecting,
        1 => DataChannelState::Open,
        2 => DataChannelState::Closing,
        _ => DataChannelState::Closed,
    }
}

/// W3C webrtc-pc §6.2 `send()` on a channel that is not open: an
/// `InvalidStateError`.
fn not_open(channel: ChannelId) -> Error {
    ferrtc_core::Error::invalid_state(format!("data channel {channel:?} is not open")).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::connected;

    /// W3C webrtc-pc §6.2: `bufferedamountlow` fires at every crossing of
    /// the threshold. A writer that never reads its channel's events must
    /// not make them pile up: a crossing while one waits unread is not
    /// queued again. Messages are never dropped.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_writer_that_never_reads_crosses_the_low_threshold_often_with_its_events_bounded() {
        const MESSAGES: usize = 10;
        const CROSSINGS: usize = 2_000;
        let (_a, _b, ours, theirs) = connected().await;
        // Takes what came before (`open`); then never read while sending.
        let mut events = ours.subscribe();
        for n in 0..MESSAGES {
            theirs.send_text(&n.to_string()).await.expect("sent");
        }
        // The default threshold is 0: each message crosses it once sent.
        for _ in 0..CROSSINGS {
            ours.send_binary(&[7]).await.expect("sent");
            while ours.buffered_amount() > 0 {
                tokio::time::sleep(Duration::from_micros(100)).await;
            }
        }
        // The peer's messages have all arrived.
        tokio::time::timeout(Duration::from_secs(10), async {
            while events.unread_len() < MESSAGES + 2 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await
        .expect("the messages in time");
        assert_eq!(
            events.unread_len(),
            MESSAGES + 2,
            "open, the messages and one bufferedamountlow"
        );
        assert_eq!(events.recv().await, Some(DataChannelEvent::Open));
        let mut texts = Vec::new();
        let mut low = 0;
        for _ in 0..MESSAGES + 1 {
            match events.recv().await {
                Some(DataChannelEvent::Message(m)) => {
                    texts.push(String::from_utf8_lossy(m.as_bytes()).into_owned());
                }
                Some(DataChannelEvent::BufferedAmountLow) => low += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(low, 1);
        let sent: Vec<String> = (0..MESSAGES).map(|n| n.to_string()).collect();
        assert_eq!(texts, sent, "every message, in order");
        // Read, it fires again at the next crossing.
        ours.send_binary(&[7]).await.expect("sent");
        let next = tokio::time::timeout(Duration::from_secs(10), events.recv()).await;
        assert_eq!(
            next.ok().flatten(),
            Some(DataChannelEvent::BufferedAmountLow)
        );
    }

    fn hub() -> (Arc<Hub<QueuedChannelEvent>>, Arc<ReceiveGate>) {
        let gate = Arc::new(ReceiveGate::default());
        (Arc::new(Hub::new(Some(Arc::clone(&gate)))), gate)
    }

    /// Empty messages carry no byte (RFC 8831 §6.6: one padding byte on
    /// the wire) but still cost memory: the receive gate holds a peer that
    /// sends only those back too.
    #[test]
    fn unread_empty_messages_count_against_the_receive_gate() {
        let (hub, gate) = hub();
        let _unread = hub.subscribe();
        let empty = DataChannelMessage::Binary(Vec::new());
        hub.publish(DataChannelEvent::Message(Arc::new(empty)).into());
        assert!(gate.queued() > 0);
        let per_message = gate.queued();
        let n = RECEIVE_HIGH_WATER / per_message + 1;
        for _ in 1..n {
            hub.publish(
                DataChannelEvent::Message(Arc::new(DataChannelMessage::Binary(Vec::new()))).into(),
            );
        }
        assert!(
            gate.queued() > RECEIVE_HIGH_WATER,
            "the task stops taking messages"
        );
    }

    fn text(t: &str) -> DataChannelEvent {
        DataChannelEvent::Message(Arc::new(DataChannelMessage::Text(t.into())))
    }

    /// `error` events published past the bound by [`lows_messages_and_errors`].
    const EXTRA_ERRORS: u64 = 10;

    fn lows_messages_and_errors(hub: &Hub<QueuedChannelEvent>) {
        let publish = |e: DataChannelEvent| assert!(hub.publish(e.into()));
        publish(DataChannelEvent::BufferedAmountLow);
        publish(text("a"));
        publish(DataChannelEvent::BufferedAmountLow);
        let errors = DataChannelEvents::MAX_UNREAD_ERRORS + EXTRA_ERRORS as usize;
        for n in 0..errors {
            publish(DataChannelEvent::Error(n.to_string()));
        }
        publish(DataChannelEvent::BufferedAmountLow);
        publish(text("b"));
        publish(DataChannelEvent::Close);
    }

    async fn expect_one_low_every_message_and_the_errors_bounded(events: &mut DataChannelEvents) {
        assert_eq!(
            events.recv().await,
            Some(DataChannelEvent::BufferedAmountLow)
        );
        assert_eq!(events.recv().await, Some(text("a")));
        for n in 0..DataChannelEvents::MAX_UNREAD_ERRORS {
            assert_eq!(
                events.recv().await,
                Some(DataChannelEvent::Error(n.to_string()))
            );
        }
        assert_eq!(
            events.recv().await,
            Some(DataChannelEvent::Lagged(EXTRA_ERRORS))
        );
        assert_eq!(events.recv().await, Some(text("b")));
        assert_eq!(events.recv().await, Some(DataChannelEvent::Close));
        assert_eq!(events.unread_len(), 0);
    }

    /// The unread `bufferedamountlow` absorbs the next ones wherever it
    /// stands (messages came after it); `error` events past the bound are
    /// counted and told before the next event; nothing else is dropped.
    #[tokio::test(flavor = "current_thread")]
    async fn an_unread_subscription_keeps_one_low_event_every_message_and_a_bounded_count_of_errors()
     {
        let (hub, _gate) = hub();
        let mut events = DataChannelEvents::new(hub.subscribe());
        lows_messages_and_errors(&hub);
        expect_one_low_every_message_and_the_errors_bounded(&mut events).await;
    }

    /// The same for the backlog, before anyone subscribed.
    #[tokio::test(flavor = "current_thread")]
    async fn the_backlog_keeps_one_low_event_every_message_and_a_bounded_count_of_errors() {
        let (hub, _gate) = hub();
        lows_messages_and_errors(&hub);
        let mut events = DataChannelEvents::new(hub.subscribe());
        expect_one_low_every_message_and_the_errors_bounded(&mut events).await;
    }
}

#[cfg(test)]
mod buffered_amount_low {
    use super::*;
    use crate::testing::connected;

    /// The next `bufferedamountlow` of `events`, other events skipped;
    /// `Err` if none comes within 5 s.
    async fn low_within_5_s(
        events: &mut DataChannelEvents,
    ) -> Result<(), tokio::time::error::Elapsed> {
        tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match events.recv().await {
                    Some(DataChannelEvent::BufferedAmountLow) => return,
                    Some(_) => {}
                    None => panic!("closed"),
                }
            }
        })
        .await
    }

    /// W3C webrtc-pc §6.2: `bufferedamountlow` fires once `bufferedAmount`
    /// has decreased to the threshold; a writer that reads the event and
    /// then looks at `bufferedAmount` (having sent nothing since) must not
    /// see it above the threshold, or the usual writer loop ("while
    /// bufferedAmount > threshold, wait for bufferedamountlow") waits for an
    /// event that never comes.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_writer_woken_by_bufferedamountlow_sees_the_buffered_amount_at_the_threshold() {
        const THRESHOLD: usize = 64 * 1024;
        const ROUNDS: usize = 300;
        let (_a, _b, ours, theirs) = connected().await;
        tokio::spawn(async move { while theirs.recv().await.is_some() {} });
        ours.set_buffered_amount_low_threshold(THRESHOLD);
        let mut events = ours.subscribe();
        let mut stale = Vec::new();
        for round in 0..ROUNDS {
            for _ in 0..8 {
                ours.send_binary(&[0; 16 * 1024]).await.expect("sent");
            }
            // The writer's loop: wait while above the threshold.
            while ours.buffered_amount() > THRESHOLD {
                let ev = low_within_5_s(&mut events).await;
                let now = ours.buffered_amount();
                if ev.is_err() {
                    panic!(
                        "round {round}: no bufferedamountlow in 5 s with bufferedAmount {now} \
                         (threshold {THRESHOLD}); stale reads before: {stale:?}"
                    );
                }
                if now > THRESHOLD {
                    stale.push((round, now));
                }
            }
        }
        assert!(
            stale.is_empty(),
            "bufferedamountlow read with bufferedAmount above the threshold: {stale:?}"
        );
    }

    /// Writers on clones of one channel, each with its own subscription,
    /// each running the W3C writer loop ("while bufferedAmount > threshold,
    /// wait for bufferedamountlow"): every fall reaches every
    /// subscription, so none of them waits for good.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writers_on_clones_waiting_for_bufferedamountlow_all_finish() {
        const THRESHOLD: usize = 32 * 1024;
        let (_a, _b, ours, theirs) = connected().await;
        tokio::spawn(async move { while theirs.recv().await.is_some() {} });
        ours.set_buffered_amount_low_threshold(THRESHOLD);
        let mut writers = tokio::task::JoinSet::new();
        for w in 0..3 {
            let dc = ours.clone();
            writers.spawn(async move {
                let mut events = dc.subscribe();
                for round in 0..40 {
                    for _ in 0..4 {
                        dc.send_binary(&[w; 16 * 1024]).await.expect("sent");
                    }
                    while dc.buffered_amount() > THRESHOLD {
                        let low = low_within_5_s(&mut events).await;
                        assert!(
                            low.is_ok(),
                            "writer {w}, round {round}: no bufferedamountlow in 5 s with \
                             bufferedAmount {}",
                            dc.buffered_amount()
                        );
                    }
                }
            });
        }
        while let Some(done) = writers.join_next().await {
            done.expect("a writer finished");
        }
    }
}

#[cfg(test)]
mod buffered_amount_low_edges {
    use super::*;

    fn shared(threshold: usize) -> ChannelShared {
        let info = ChannelInfo {
            label: String::new(),
            protocol: String::new(),
            ordered: true,
            max_retransmits: None,
            max_packet_life_time: None,
            negotiated: false,
            id: Some(1),
            ready_state: DataChannelState::Open,
            stats: Default::default(),
        };
        let s = ChannelShared::new(
            &info,
            Arc::new(ReceiveGate::default()),
            Arc::new(AtomicUsize::new(usize::MAX)),
        );
        s.threshold.store(threshold, Ordering::SeqCst);
        s
    }

    /// W3C webrtc-pc §6.2: a `send` that takes `bufferedAmount` above the
    /// threshold while the task is settling the previous fall must leave
    /// its own fall to report. The task's check ("above, and the amount at
    /// the threshold") and its clearing of the flag are two steps: a send
    /// counted and noted between them is cleared with the old fall, and
    /// its bytes then fall with no event (a writer waiting for it, having
    /// read the stale event and seen the amount still above, waits for
    /// good).
    #[test]
    fn a_send_during_the_tasks_fall_check_keeps_its_fall_to_report() {
        const THRESHOLD: usize = 0;
        const FOR: Duration = Duration::from_secs(1);
        let s = shared(THRESHOLD);
        let stop = AtomicBool::new(false);
        // Rounds of the task's check, as `flush` makes them.
        let checks = AtomicUsize::new(0);
        let (mut rounds, mut lost) = (0usize, 0usize);
        std::thread::scope(|scope| {
            let (s, stop, checks) = (&s, &stop, &checks);
            scope.spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    s.fell_to_threshold();
                    checks.fetch_add(1, Ordering::SeqCst);
                }
            });
            let start = std::time::Instant::now();
            while start.elapsed() < FOR && lost == 0 {
                rounds += 1;
                // A handle's `enqueue`: count the bytes, then note.
                s.queued.fetch_add(1, Ordering::SeqCst);
                s.note_if_above();
                // Every check that could have read the amount before the
                // byte was counted is over after two more.
                let seen = checks.load(Ordering::SeqCst);
                while checks.load(Ordering::SeqCst) < seen + 2 {
                    std::thread::yield_now();
                }
                // The byte is still counted: above the threshold, so its
                // fall is still to report.
                assert!(s.buffered_amount() > THRESHOLD);
                if !s.above.load(Ordering::SeqCst) {
                    lost += 1;
                }
                // The task sends it: the amount falls to the threshold
                // (the check fires for it), and the next send comes.
                s.queued.fetch_sub(1, Ordering::SeqCst);
            }
            stop.store(true, Ordering::SeqCst);
        });
        assert_eq!(
            lost, 0,
            "after {rounds} sends, one left bufferedAmount above the threshold with no fall \
             to report: its bytes fall with no bufferedamountlow"
        );
    }

    /// Sends until `send` waits for room (the peer, which never reads,
    /// has stopped taking), then reads what `events` got so far (`open`,
    /// falls to 0 while the peer still read).
    async fn fill_until_send_waits(ours: &DataChannel, events: &mut DataChannelEvents) {
        while let Ok(sent) =
            tokio::time::timeout(Duration::from_secs(1), ours.send_binary(&[0; 64 * 1024])).await
        {
            sent.expect("sent");
        }
        // What came so far (`open`, falls to 0 while the peer still read).
        while let Ok(Some(_)) =
            tokio::time::timeout(Duration::from_millis(200), events.recv()).await
        {}
    }

    /// W3C webrtc-pc §6.2: `bufferedamountlow` fires when `bufferedAmount`
    /// *decreases* from above the threshold to it or below. Raising the
    /// threshold over an amount that stays where it is, is no decrease:
    /// no event (the writer that raised it reads the amount itself).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn raising_the_threshold_over_the_amount_fires_no_event() {
        const NEW_THRESHOLD: usize = 4 * 1024 * 1024;
        let (_a, _b, ours, theirs) = crate::testing::connected().await;
        // The peer never reads: once its receive buffer is full, our
        // amount stays above 0 (draining slowly, if at all).
        let _theirs = theirs;
        let mut events = ours.subscribe();
        // Until `send` waits for room: the peer has stopped taking.
        fill_until_send_waits(&ours, &mut events).await;
        assert!(ours.buffered_amount() > 0);
        // Above the old threshold (0), far under the new one: no decrease
        // from above the threshold can follow without a send.
        ours.set_buffered_amount_low_threshold(NEW_THRESHOLD);
        let mut low = 0;
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            while let Some(ev) = events.recv().await {
                if ev == DataChannelEvent::BufferedAmountLow {
                    low += 1;
                }
            }
        })
        .await;
        assert!(
            ours.buffered_amount() > 0,
            "never fell to the old threshold"
        );
        assert_eq!(
            low, 0,
            "bufferedamountlow with no decrease of bufferedAmount from above the threshold"
        );
    }

    /// W3C webrtc-pc §4.4.1.6: `close()` of the connection sets every
    /// channel's readyState to `closed`; no `bufferedamountlow` comes
    /// after that (the bytes were dropped, not sent), only `close`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn closing_the_connection_fires_no_bufferedamountlow() {
        let (a, _b, ours, theirs) = crate::testing::connected().await;
        // The peer never reads: SCTP holds what we sent.
        let _theirs = theirs;
        let mut events = ours.subscribe();
        fill_until_send_waits(&ours, &mut events).await;
        let shared = &ours.inner.shared;
        let (in_sctp, on_the_way) = (
            shared.buffered.load(Ordering::SeqCst),
            shared.queued.load(Ordering::SeqCst),
        );
        assert!(in_sctp > 0, "SCTP holds bytes");
        // Above it now, and it would take SCTP's half to fall to it.
        ours.set_buffered_amount_low_threshold(on_the_way + in_sctp / 2);
        while let Ok(Some(ev)) =
            tokio::time::timeout(Duration::from_millis(200), events.recv()).await
        {
            assert_ne!(ev, DataChannelEvent::BufferedAmountLow, "no fall yet");
        }
        a.close().await;
        assert_eq!(ours.ready_state(), DataChannelState::Closed);
        let mut after_close = Vec::new();
        while let Ok(Some(ev)) = tokio::time::timeout(Duration::from_secs(5), events.recv()).await {
            after_close.push(ev);
        }
        assert_eq!(after_close, vec![DataChannelEvent::Close]);
    }
}
