//! The task that owns one connection's sans-IO core and its sockets.
//!
//! Handles send [`Command`]s; the task answers on oneshot channels and
//! pushes events into unbounded channels, never calling user code. SCTP,
//! DTLS and ICE all run inside this one task: no hop between them.

use std::collections::{HashMap, VecDeque};
use std::future::poll_fn;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use ferrtc_core::{
    ChannelId, DataChannelInit, DataChannelState, DtlsTransportState, Event, IceCandidateInit,
    PeerConnection as Core, Protocol, SessionDescription,
};
use tokio::sync::oneshot;

use crate::Error;
use crate::data_channel::{
    ChannelShared, DataChannel, DataChannelEvent, RECEIVE_HIGH_WATER, RECEIVE_LOW_WATER,
    ReceiveGate, Sink,
};
use crate::events::Hub;
use crate::mdns::{Mdns, Publisher, Resolver};
use crate::net::{Sockets, TcpEvent, TcpKind, TcpSockets};
use crate::peer_connection::{PeerConnectionEvent, QueuedEvent, States};

/// Bytes buffered on a channel at which `send` waits (back-pressure).
pub(crate) const SEND_HIGH_WATER: usize = 1024 * 1024;
/// Bytes buffered on a channel at which waiting `send`s wake.
pub(crate) const SEND_LOW_WATER: usize = SEND_HIGH_WATER / 2;

/// Channel operations taken per wake-up before the core is polled for
/// output: a burst of small messages goes out in full packets.
const OPS_BURST: usize = 1024;

/// Room the packets of a frame's RTP header and extensions take, at most
/// (to estimate a frame's packets from the core's RTP MTU).
const RTP_OVERHEAD: usize = 100;

/// Packets the frames of one burst of operations may make: half the
/// core's outbound queue (`MediaConfig::max_queued_datagrams`, past which
/// the core refuses frames; the connections here use the default).
const FRAME_PACKETS_BURST: usize = 4096 / 2;

/// Payload bytes of one RTP packet, at least (estimates a frame's
/// packets): the default `MediaConfig::rtp_mtu` less the overhead.
const FRAME_PAYLOAD: usize = 1200 - RTP_OVERHEAD;

/// Datagrams read per wake-up before the core is polled for output.
const RECV_BURST: usize = 64;

/// Room for one outgoing datagram.
const TRANSMIT_BUF: usize = 2048;

type Reply<T> = oneshot::Sender<Result<T, Error>>;

thread_local! {
    /// Where datagrams are read: one coalesced GRO read is at most 64 KB,
    /// and one read takes up to two.
    static RECEIVE: std::cell::RefCell<Vec<u8>> =
        std::cell::RefCell::new(vec![0; crate::net::READ_BYTES]);
    /// Where the core writes each outgoing datagram.
    static TRANSMIT: std::cell::RefCell<Vec<u8>> =
        std::cell::RefCell::new(Vec::with_capacity(TRANSMIT_BUF));
}

/// What a handle asks of the task.
pub(crate) enum Command {
    /// Panics the task (tests of what the handles see then).
    #[cfg(test)]
    Panic,
    CreateOffer(Reply<SessionDescription>),
    CreateAnswer(Reply<SessionDescription>),
    SetLocal(Option<Box<SessionDescription>>, Reply<()>),
    SetRemote(Box<SessionDescription>, Reply<()>),
    // The larger payloads are boxed: every slot of the command queue is
    // as large as the largest variant.
    AddIceCandidate(Box<IceCandidateInit>, Reply<()>),
    CreateDataChannel(Box<(String, DataChannelInit)>, Reply<DataChannel>),
    RestartIce(Reply<()>),
    /// The STUN servers of configuration `generation` (older ones, from
    /// lookups that finished late, are ignored); lookups send no reply.
    SetStunServers(Box<StunUpdate>),
    Descriptions(oneshot::Sender<Descriptions>),
    States(oneshot::Sender<States>),
    GetStats(oneshot::Sender<ferrtc_core::StatsReport>),
    Close(oneshot::Sender<()>),
    /// Peer identity calls (W3C webrtc-identity), run by `identity.rs`.
    Identity(Box<crate::identity::IdentityCommand>),
    /// Media calls (transceivers, tracks), run by `media/task.rs`.
    Media(Box<crate::media::MediaCommand>),
}

/// The queue of commands from a connection's handles to its task: memory
/// only for commands waiting (a tokio channel keeps room for 32 from the
/// start, in every connection). [`CommandSender`] and [`CommandReceiver`]
/// are its two ends.
#[derive(Default)]
pub(crate) struct CommandQueue {
    state: std::sync::Mutex<CommandState>,
    /// The connection's task ended the media session (`close()`, the last
    /// handle dropped, or the task's end): the media handles refuse work
    /// from then on.
    closing: std::sync::atomic::AtomicBool,
}

#[derive(Default)]
struct CommandState {
    commands: VecDeque<Command>,
    /// The task, waiting for a command: woken by the next push or the
    /// hang-up (under the same lock as the queue, so none is lost).
    waiting: Option<Waker>,
    /// Every handle is gone: the task ends once it has what is queued.
    hung_up: bool,
    /// The task has ended: commands are refused (and their replies, dropped,
    /// tell the callers).
    ended: bool,
    /// The connection's stats as the task ended (W3C webrtc-pc §8.2:
    /// `getStats()` still resolves on a closed connection), set before
    /// `ended`.
    final_stats: Option<Box<ferrtc_core::StatsReport>>,
    /// The task panicked, with this message: calls fail with
    /// [`Error::TaskPanicked`], not [`Error::Closed`]. Set before `ended`.
    panicked: Option<Arc<str>>,
}

impl std::fmt::Debug for CommandQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("CommandQueue")
            .field("queued", &state.commands.len())
            .field("hung_up", &state.hung_up)
            .field("ended", &state.ended)
            .finish()
    }
}

impl CommandQueue {
    /// Marks the connection as closing (see `closing`).
    pub(crate) fn mark_closing(&self) {
        self.closing
            .store(true, std::sync::atomic::Ordering::Release);
    }

    /// Whether the media session ended (see `closing`).
    pub(crate) fn is_closing(&self) -> bool {
        self.closing.load(std::sync::atomic::Ordering::Acquire)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CommandState> {
        // Only pushes, pops and flags: a panic leaves consistent state.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new queue and its receiving end.
    pub(crate) fn new_pair() -> (Arc<CommandQueue>, CommandReceiver) {
        let queue = Arc::new(CommandQueue::default());
        let rx = CommandReceiver(Arc::clone(&queue));
        (queue, rx)
    }

    /// Queues `cmd`; gives it back once every handle or the task is gone.
    /// A stats request is still taken between the two: the task answers it
    /// while it drains, or drops it as it ends, after leaving its final
    /// report (so the caller always finds one, W3C webrtc-pc §8.2).
    pub(crate) fn send(&self, cmd: Command) -> Result<(), Command> {
        let mut state = self.lock();
        let late_stats = matches!(cmd, Command::GetStats(_)) && !state.ended;
        if (state.hung_up && !late_stats) || state.ended {
            return Err(cmd);
        }
        state.commands.push_back(cmd);
        // The task waits only on an empty queue: only the first command of
        // a batch finds it waiting.
        let waiting = state.waiting.take();
        drop(state);
        if let Some(task) = waiting {
            task.wake();
        }
        Ok(())
    }

    /// The error of a call the ended task did not answer:
    /// [`Error::TaskPanicked`] if it panicked, else [`Error::Closed`].
    pub(crate) fn ended_error(&self) -> Error {
        self.panic_error().unwrap_or(Error::Closed)
    }

    /// [`Error::TaskPanicked`] once the task has panicked (the message is
    /// kept before the task tells any handle it ended), else `None`.
    pub(crate) fn panic_error(&self) -> Option<Error> {
        let message = self.lock().panicked.clone()?;
        Some(Error::TaskPanicked(message))
    }

    /// Keeps `report` for `getStats()` calls after the task ended.
    fn set_final_stats(&self, report: ferrtc_core::StatsReport) {
        self.lock().final_stats = Some(Box::new(report));
    }

    /// The stats the connection ended with, once its task ended (W3C
    /// webrtc-pc §8.2: `getStats()` resolves after `close()` too).
    pub(crate) fn final_stats(&self) -> Option<ferrtc_core::StatsReport> {
        self.lock().final_stats.as_deref().cloned()
    }

    /// Every handle is gone (the handles' shared state was dropped).
    pub(crate) fn hang_up(&self) {
        let waiting = {
            let mut state = self.lock();
            state.hung_up = true;
            state.waiting.take()
        };
        if let Some(task) = waiting {
            task.wake();
        }
    }

    /// The next command; `None` once every handle is gone and the queue is
    /// drained. Cancel-safe: a command leaves the queue only in the poll
    /// that returns it.
    async fn recv(&self) -> Option<Command> {
        poll_fn(|cx| {
            let mut state = self.lock();
            if let Some(cmd) = state.commands.pop_front() {
                if state.commands.is_empty() {
                    state.commands = VecDeque::new();
                }
                return Poll::Ready(Some(cmd));
            }
            if state.hung_up {
                return Poll::Ready(None);
            }
            // Registered under the lock the pushes take: no wake-up is lost.
            register(&mut state.waiting, cx);
            Poll::Pending
        })
        .await
    }
}

/// The task's end of the [`CommandQueue`]: dropped with the task, it
/// refuses later commands and drops those queued (their callers get
/// `Closed`).
pub(crate) struct CommandReceiver(Arc<CommandQueue>);

impl Drop for CommandReceiver {
    fn drop(&mut self) {
        let left = {
            let mut state = self.0.lock();
            state.ended = true;
            // The task's waker would keep its memory while handles live.
            state.waiting = None;
            std::mem::take(&mut state.commands)
        };
        drop(left);
    }
}

/// Keeps `cx`'s waker in `slot` (one task reads a queue: a waker left by
/// an earlier poll of the same task is kept, not cloned again). Called with
/// the queue's lock held.
pub(crate) fn register(slot: &mut Option<Waker>, cx: &Context<'_>) {
    match slot {
        Some(w) if w.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}

// Slots of the command queue stay small.
const _: () = assert!(std::mem::size_of::<Command>() <= 24);

/// The payload of [`Command::SetStunServers`].
pub(crate) struct StunUpdate {
    pub(crate) servers: Vec<std::net::SocketAddr>,
    /// The TURN servers, resolved, with their credentials.
    pub(crate) turn: Vec<ferrtc_core::TurnServer>,
    /// Those of them reached over TLS.
    pub(crate) tls: crate::net::TlsServers,
    /// W3C `iceTransportPolicy` is `"relay"` (from the next gathering);
    /// `None` leaves it (a lookup's update).
    pub(crate) relay_only: Option<bool>,
    /// Names of this configuration's servers are still being looked up
    /// (ICE gathering stays open until an update says they are done).
    pub(crate) lookups_pending: bool,
    pub(crate) generation: u64,
    /// The configuration of a `setConfiguration` call (a lookup's update
    /// has none): stored for `getConfiguration()` once applied.
    pub(crate) configuration: Option<crate::config::Configuration>,
    pub(crate) reply: Option<Reply<()>>,
}

/// What a data channel handle (or a media sender) asks of the task, on
/// the connection's queue of channel operations: one queue, so that one writer's sends and
/// its `close` reach the core in the order made. No answer is awaited.
pub(crate) enum ChannelOp {
    /// A message `send` accepted (its bytes are counted in the channel's
    /// `queued` until the core has them).
    Send {
        channel: ChannelId,
        data: Vec<u8>,
        binary: bool,
        /// The channel's shared state, where the bytes are counted: a
        /// message dropped after its channel left the task is uncounted
        /// there.
        shared: Arc<ChannelShared>,
    },
    Close(ChannelId),
    SetLowThreshold(ChannelId, usize),
    /// A frame `RtpSender::write_frame` accepted (boxed: the queue's
    /// slots stay small).
    Frame(Box<crate::media::FrameOp>),
    /// `RtpSender::set_parameters` (de)activated an encoding: a simulcast
    /// layer by its rid, or (`None`) the one stream of a sender without
    /// simulcast. On this queue, in order with the frames written around
    /// it (a keyframe written right after reactivating its layer is sent,
    /// not muted).
    EncodingActive(Box<(ferrtc_core::TransceiverId, Option<String>, bool)>),
}

/// The queue of channel operations: one per connection, shared by the
/// task (the only reader) and every channel handle. It holds memory only
/// for operations waiting (a tokio channel keeps room for 32 from the
/// start, in every connection).
#[derive(Default)]
pub(crate) struct OpQueue {
    state: std::sync::Mutex<OpState>,
}

#[derive(Default)]
struct OpState {
    ops: VecDeque<ChannelOp>,
    /// The task, waiting for an operation: woken by the next push (under
    /// the same lock as the queue, so none is lost).
    waiting: Option<Waker>,
    /// The task has ended: nothing is taken any more.
    closed: bool,
}

impl std::fmt::Debug for OpQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("OpQueue")
            .field("queued", &state.ops.len())
            .field("closed", &state.closed)
            .finish()
    }
}

impl OpQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, OpState> {
        // Only pushes, pops and a flag: a panic leaves consistent state.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `op` for the task; gives it back if the task has ended.
    pub(crate) fn send(&self, op: ChannelOp) -> Result<(), ChannelOp> {
        self.send_if(op, || true).map_err(|(op, _)| op)
    }

    /// Queues `op` if `admit`, run under the queue's lock, says so: what
    /// `admit` checks or changes is then ordered with every operation
    /// queued before and after it (a channel's `send` and `close`, W3C
    /// webrtc-pc §6.2). Gives `op` back, with whether the task had ended.
    pub(crate) fn send_if(
        &self,
        op: ChannelOp,
        admit: impl FnOnce() -> bool,
    ) -> Result<(), (ChannelOp, Refused)> {
        let mut state = self.lock();
        if state.closed {
            return Err((op, Refused::Ended));
        }
        if !admit() {
            return Err((op, Refused::NotAdmitted));
        }
        state.ops.push_back(op);
        // The task waits only on an empty queue: only the first operation
        // of a batch finds it waiting.
        let waiting = state.waiting.take();
        drop(state);
        if let Some(task) = waiting {
            task.wake();
        }
        Ok(())
    }

    /// The next operation, if one waits.
    fn try_recv(&self) -> Option<ChannelOp> {
        Self::pop(&mut self.lock())
    }

    fn pop(state: &mut OpState) -> Option<ChannelOp> {
        let op = state.ops.pop_front()?;
        if state.ops.is_empty() {
            crate::events::trim_drained(&mut state.ops);
        }
        Some(op)
    }

    /// The next operation. Cancel-safe: one leaves the queue only in the
    /// poll that returns it.
    async fn recv(&self) -> ChannelOp {
        poll_fn(|cx| {
            let mut state = self.lock();
            if let Some(op) = Self::pop(&mut state) {
                return Poll::Ready(op);
            }
            // Registered under the lock the pushes take: no wake-up is lost.
            register(&mut state.waiting, cx);
            Poll::Pending
        })
        .await
    }

    /// Refuses every later `send` (what is queued stays for `try_recv`).
    fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        // The task's waker would keep its memory while handles live.
        state.waiting = None;
    }
}

/// Why [`OpQueue::send_if`] did not queue an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The connection's task has ended.
    Ended,
    /// The check said no.
    NotAdmitted,
}

/// The six description getters at once.
#[derive(Debug, Clone, Default)]
pub(crate) struct Descriptions {
    pub(crate) local: Option<SessionDescription>,
    pub(crate) remote: Option<SessionDescription>,
    pub(crate) current_local: Option<SessionDescription>,
    pub(crate) pending_local: Option<SessionDescription>,
    pub(crate) current_remote: Option<SessionDescription>,
    pub(crate) pending_remote: Option<SessionDescription>,
}

/// A message waiting for room in the SCTP send buffer.
struct Blocked {
    channel: ChannelId,
    data: Vec<u8>,
    binary: bool,
    shared: Arc<ChannelShared>,
}

/// What waits in a channel's queue of blocked operations: messages, and
/// a `close()` made while messages were blocked (it goes to the core after
/// them, as `close()` promises).
enum Pending {
    Send(Blocked),
    Close,
}

pub(crate) struct Driver {
    core: Core,
    sockets: Sockets,
    /// Resolves remote `.local` candidates.
    mdns: Resolver,
    /// Signals our host candidates under `.local` names, when asked; its
    /// names go (with a goodbye) when the task ends.
    publisher: Option<Box<Publisher>>,
    /// Candidates mDNS resolved, to add to the core.
    resolved: Vec<IceCandidateInit>,
    /// The peer's end-of-candidates, held while mDNS lookups run: given to
    /// the core with no usable candidate, it would fail ICE at once
    /// (RFC 8838 §8) before the resolved ones arrive.
    /// Boxed: rare, and every connection's task would carry its size.
    held_end: Option<Box<IceCandidateInit>>,
    commands: CommandReceiver,
    /// Channel operations, from every channel handle of the connection.
    ops: Arc<OpQueue>,
    /// The core's `max_message_size`, as channel handles see it.
    max_message_size: Arc<AtomicUsize>,
    /// The connection's subscribers.
    events: Arc<Hub<QueuedEvent>>,
    channels: HashMap<ChannelId, Sink>,
    /// Messages waiting for room in the SCTP send buffer, in order, one
    /// queue per channel (with the channel's `close()` if made meanwhile).
    blocked: HashMap<ChannelId, VecDeque<Pending>>,
    /// The channels with a queue in `blocked`, in the order they get the
    /// next room (round robin: none starves the others).
    rotation: VecDeque<ChannelId>,
    /// `close()` callers, answered once the closing datagrams are out.
    closing: Vec<oneshot::Sender<()>>,
    /// Unread received bytes of all channels; above the high water mark
    /// the core is told to leave messages in SCTP.
    gate: Arc<ReceiveGate>,
    receive_paused: bool,
    /// The configuration whose STUN servers the core has.
    stun_generation: u64,
    /// What `getConfiguration()` gives: the configuration applied last,
    /// stored here as it is applied (its caller may be gone by then).
    applied: Arc<std::sync::Mutex<crate::peer_connection::Applied>>,
    /// The core's `peerIdentity` state as every handle's `peer_identity()`
    /// sees it, published by the task after each remote description, when
    /// the connection state changes, and (closed) when the task ends.
    identity: tokio::sync::watch::Sender<crate::identity::Published>,
    /// The media handles' state, by transceiver.
    media: crate::media::MediaTask,
}

impl Drop for Driver {
    /// However the task ends (closed, every handle gone, a panic, the
    /// runtime shut down), every handle learns it, and every
    /// `peer_identity()` waiter (W3C: the promise rejects once the
    /// connection closes).
    fn drop(&mut self) {
        // W3C webrtc-pc §8.2: getStats() keeps working once the connection
        // is closed (from its handles and its senders' and receivers');
        // kept before `finish` answers the close() callers.
        // Not while unwinding: a core that panicked may panic again.
        if !std::thread::panicking() && self.commands.0.lock().panicked.is_none() {
            let report = self.core.get_stats(std::time::SystemTime::now());
            self.commands.0.set_final_stats(report);
        }
        self.identity.send_modify(|p| p.closed = true);
        // Also after a panic, or when the runtime shuts down with the task
        // unfinished: the handles learn the connection is gone (else a
        // reader of its events, or a writer waiting for room, waits
        // forever).
        self.finish();
    }
}

/// Runs the connection's task; a panic in it is kept (with its message)
/// for the handles' calls to report before it unwinds on, through the
/// task's `Drop`, which ends the handles' streams.
pub(crate) async fn run_task(mut driver: Box<Driver>) {
    let commands = Arc::clone(&driver.commands.0);
    // The driver lives out here, not in the polled future: a panic must
    // be recorded before its `Drop` ends the handles' calls.
    let panic = {
        let mut task = std::pin::pin!(driver.run());
        std::future::poll_fn(|cx| {
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| task.as_mut().poll(cx)))
            {
                Ok(Poll::Ready(())) => Poll::Ready(None),
                Ok(Poll::Pending) => Poll::Pending,
                Err(payload) => Poll::Ready(Some(payload)),
            }
        })
        .await
    };
    if let Some(payload) = panic {
        commands.lock().panicked = Some(panic_message(&*payload));
        drop(driver);
        std::panic::resume_unwind(payload)
    }
}

/// The message a panic carried.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> Arc<str> {
    match payload.downcast_ref::<&str>() {
        Some(m) => (*m).into(),
        None => match payload.downcast_ref::<String>() {
            Some(m) => m.as_str().into(),
            None => "a panic without a message".into(),
        },
    }
}

/// Runs `work`, the job of one of the helper tasks ferrtc spawns besides
/// the connection's own (named `what` in the log). A panic in it is
/// caught and logged, and gives `None`: the caller then ends what the task
/// was doing as a failure would (a name lookup finds nothing, a TCP
/// connection is closed), so that no one waits for a result that cannot
/// come. `work` is dropped before this returns.
pub(crate) async fn catch_helper_panic<F: Future>(what: &str, work: F) -> Option<F::Output> {
    let mut work = std::pin::pin!(work);
    let caught = std::future::poll_fn(|cx| {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work.as_mut().poll(cx))) {
            Ok(Poll::Ready(out)) => Poll::Ready(Ok(out)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(payload)),
        }
    })
    .await;
    match caught {
        Ok(out) => Some(out),
        Err(payload) => {
            tracing::error!(
                "{what} panicked (a bug in ferrtc: please report it): {}",
                panic_message(&*payload)
            );
            None
        }
    }
}

/// Due core deadlines run without a trip through the timer, at most this
/// many times in a row.
const MAX_DUE_IN_A_ROW: u32 = 8;

impl Driver {
    pub(crate) fn new(
        core: Core,
        sockets: Sockets,
        mdns: Mdns,
        commands: CommandReceiver,
        events: Arc<Hub<QueuedEvent>>,
        identity: tokio::sync::watch::Sender<crate::identity::Published>,
        applied: Arc<std::sync::Mutex<crate::peer_connection::Applied>>,
    ) -> Driver {
        let ops: Arc<OpQueue> = Arc::default();
        let max_message_size = Arc::new(AtomicUsize::new(core.max_message_size()));
        let media = crate::media::MediaTask::new(crate::media::Link {
            commands: Arc::clone(&commands.0),
            ops: Arc::clone(&ops),
        });
        Driver {
            media,
            core,
            sockets,
            mdns: mdns.resolver,
            publisher: mdns.publisher.map(Box::new),
            resolved: Vec::new(),
            held_end: None,
            commands,
            ops,
            max_message_size,
            events,
            channels: HashMap::new(),
            blocked: HashMap::new(),
            rotation: VecDeque::new(),
            closing: Vec::new(),
            gate: Arc::default(),
            receive_paused: false,
            stun_generation: 0,
            applied,
            identity,
        }
    }

    /// Publishes the core's `peerIdentity` state: always after a remote
    /// description (`every`: a waiter learns even of a failure equal to the
    /// last one), else only when it changed.
    fn publish_identity(&self, every: bool) {
        let state = self.core.peer_identity_state();
        self.identity.send_if_modified(|p| {
            let changed = every || p.state != state;
            p.state = state;
            changed
        });
    }

    /// Publishes what a description changed before its call returns (W3C
    /// webrtc-pc §4.4.1.5: the transceivers' state, then the `track`
    /// events, precede the promise's resolution): the transceivers' state,
    /// then the core's events, the `track` events of one description
    /// together (their streams grouped by msid).
    fn publish_description(&mut self) {
        // Only a description changes the channels' size limit: stored
        // before the reply, so a `send` right after the call sees it.
        self.max_message_size
            .store(self.core.max_message_size(), Ordering::Relaxed);
        self.media.sync(&self.core);
        let mut tracks = Vec::new();
        while let Some(ev) = self.core.poll_event() {
            match ev {
                Event::Track { .. } => tracks.push(ev),
                ev => {
                    self.publish_tracks(&mut tracks);
                    self.dispatch(ev);
                }
            }
        }
        self.publish_tracks(&mut tracks);
        self.media.wake();
    }

    /// Publishes `track` events of one description, with one stream per
    /// msid holding every track of it.
    fn publish_tracks(&mut self, tracks: &mut Vec<Event>) {
        if tracks.is_empty() {
            return;
        }
        for ev in self.media.track_events(&self.core, std::mem::take(tracks)) {
            self.events
                .publish(PeerConnectionEvent::Track(Box::new(ev)).into());
        }
    }

    /// Runs until `close()` or until every `PeerConnection` handle is gone.
    pub(crate) async fn run(&mut self) {
        self.sockets.set_ufrag(self.core.local_ufrag());
        let mut due_in_a_row = 0;
        // One timer for the task's life, moved when the deadline moves (a
        // new one per wake-up would enter and leave tokio's timer wheel
        // every time), and armed again after it fired.
        let timer = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(timer);
        let mut armed: Option<Instant> = None;
        loop {
            // Here as well as on the gate's wake-up: under constant traffic
            // the branches before that one always win.
            self.unpause_if_drained();
            self.flush();
            if self.core.is_closed() {
                break;
            }
            let core_deadline = self.core.poll_timeout();
            // A deadline that is already due (ICE's first check once a
            // remote candidate arrives) runs now: tokio's timer rounds it up
            // to its next millisecond tick, a millisecond of every setup.
            // Bounded, so that a deadline that stays due cannot spin.
            let now = Instant::now();
            if core_deadline.is_some_and(|t| t <= now) && due_in_a_row < MAX_DUE_IN_A_ROW {
                due_in_a_row += 1;
                self.core.handle_timeout(now);
                continue;
            }
            due_in_a_row = 0;
            let deadline = match (core_deadline, self.mdns.poll_timeout()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if let Some(t) = deadline
                && armed != Some(t)
            {
                timer.as_mut().reset(tokio::time::Instant::from_std(t));
                armed = Some(t);
            }
            tokio::select! {
                biased;
                cmd = self.commands.0.recv() => match cmd {
                    Some(cmd) => {
                        self.command(cmd);
                        // An ICE restart changes the fragment checks carry.
                        self.sockets.set_ufrag(self.core.local_ufrag());
                    }
                    None => {
                        tracing::debug!("last handle dropped: closing");
                        self.close_core();
                    }
                },
                // Before the sockets, as sends were when they were commands,
                // so that a peer flooding us does not starve our sends; and
                // each burst of sends reads what arrived meanwhile, so that
                // many busy writers do not starve the sockets either.
                op = self.ops.recv() => {
                    self.channel_ops(op);
                    self.receive_burst();
                }
                () = self.gate.drained.notified(), if self.receive_paused => {
                    self.unpause_if_drained();
                }
                () = self.sockets.readable() => self.receive_burst(),
                r = self.mdns.recv() => match r {
                    Ok((from, len)) => {
                        self.mdns.handle_response(from, len, &mut self.resolved);
                        self.add_resolved();
                    }
                    Err(e) => tracing::debug!("mDNS recv: {e}"),
                },
                () = &mut timer, if deadline.is_some() => {
                    armed = None;
                    let now = Instant::now();
                    self.mdns.handle_timeout(now);
                    self.add_resolved();
                    if core_deadline.is_some_and(|t| t <= now) {
                        self.core.handle_timeout(now);
                    }
                }
            }
        }
        // Its end (the handles told) is `Driver::drop`'s: the same
        // whether the loop ended or the task was dropped unfinished.
    }

    /// Tells every handle the task is gone: channels closed, their
    /// buffered counts settled, the event streams ended, the media handles
    /// ended, later sends refused, `close()` callers answered. The final
    /// flush of closing datagrams happened in `flush`.
    fn finish(&mut self) {
        let ids: Vec<ChannelId> = self.channels.keys().copied().collect();
        for id in ids {
            self.drop_blocked(id);
        }
        for sink in self.channels.values_mut() {
            let handed = std::mem::take(&mut sink.handed);
            sink.shared.update_buffered(0, handed);
            sink.shared.set_state(DataChannelState::Closed);
            sink.shared.events.publish(DataChannelEvent::Close.into());
            sink.shared.events.close();
        }
        self.media.end();
        self.events.close();
        // Sends accepted that the task never took: uncount them.
        self.ops.close();
        while let Some(op) = self.ops.try_recv() {
            if let ChannelOp::Send { data, shared, .. } = op {
                shared.update_buffered(0, data.len());
            }
        }
        for (_, queue) in self.blocked.drain() {
            for p in queue {
                if let Pending::Send(b) = p {
                    b.shared.update_buffered(0, b.data.len());
                }
            }
        }
        self.rotation.clear();
        for r in self.closing.drain(..) {
            let _ = r.send(());
        }
    }

    /// Reads up to [`RECV_BURST`] datagrams that are already there (none
    /// waits), for one round of output; the buffer is per thread (a read
    /// takes up to two GRO groups of up to 64 KB each).
    fn receive_burst(&mut self) {
        let now = Instant::now();
        RECEIVE.with_borrow_mut(|buf| {
            for _ in 0..RECV_BURST {
                let Some((local, read)) = self.sockets.try_recv(buf) else {
                    break;
                };
                for (at, group) in read.groups() {
                    for datagram in buf[at..at + group.len].chunks_mut(group.segment) {
                        self.core.handle_receive(now, group.from, local, datagram);
                    }
                }
            }
        });
        // TCP's messages wake the same branch (no select branch of their
        // own: its future would sit in every connection's task).
        for _ in 0..RECV_BURST {
            let Some(event) = self.sockets.tcp.as_mut().and_then(|t| t.try_recv()) else {
                break;
            };
            self.receive_tcp(event);
        }
    }

    /// A message or connection change from the TCP side.
    fn receive_tcp(&mut self, event: TcpEvent) {
        let Some(tcp) = self.sockets.tcp.as_mut() else {
            return;
        };
        let now = Instant::now();
        match tcp.handle(event) {
            Some(TcpEvent::Message {
                kind: TcpKind::Ice,
                local,
                remote,
                mut data,
            }) => self.core.handle_receive_tcp(now, remote, local, &mut data),
            Some(TcpEvent::Message {
                kind: TcpKind::Turn,
                local,
                remote,
                mut data,
            }) => self
                .core
                .handle_receive_turn_tcp(now, remote, local, &mut data),
            // ICE-TCP or TURN over TCP: the agent fails what ran on it.
            Some(TcpEvent::Closed { local, remote, .. }) => {
                self.core.handle_tcp_closed(now, local, remote);
            }
            _ => {}
        }
    }

    /// Takes messages from SCTP again once the application has read the
    /// unread bytes down to [`RECEIVE_LOW_WATER`].
    fn unpause_if_drained(&mut self) {
        if self.receive_paused && self.gate.queued() <= RECEIVE_LOW_WATER {
            self.receive_paused = false;
            self.core.set_receive_paused(Instant::now(), false);
        }
    }

    /// Drops the blocked queue of a channel that closed, uncounting its
    /// messages from the channel's buffered amount.
    fn drop_blocked(&mut self, id: ChannelId) {
        let Some(queue) = self.blocked.remove(&id) else {
            return;
        };
        self.rotation.retain(|c| *c != id);
        for p in queue {
            if let Pending::Send(b) = p {
                tracing::debug!("message dropped: the channel closed after send");
                b.shared
                    .update_buffered(b.shared.buffered.load(Ordering::SeqCst), b.data.len());
            }
        }
    }

    fn close_core(&mut self) {
        // First: a writer that sees the transceivers stopped by `close`
        // also sees the connection closed (`Error::Closed`).
        self.media.end();
        self.core.close(Instant::now());
        for (_, sink) in self.channels.iter() {
            sink.shared.set_state(DataChannelState::Closed);
        }
    }

    /// Sends everything the core has, dispatches its events, retries
    /// blocked sends; repeats while anything moved.
    fn flush(&mut self) {
        let now = Instant::now();
        loop {
            // One datagram buffer per thread, not per connection: it is
            // only used within this call.
            TRANSMIT.with_borrow_mut(|buf| {
                while let Some(t) = self.core.poll_transmit(now, buf) {
                    match (t.protocol, &mut self.sockets.tcp) {
                        (Protocol::Udp, _) => self.sockets.send(t.source, t.destination, buf),
                        (Protocol::Tcp, Some(tcp)) => tcp.send(t.source, t.destination, buf),
                        (Protocol::Tcp, None) => {}
                        (Protocol::TurnTcp, tcp) => tcp
                            .get_or_insert_with(|| Box::new(TcpSockets::new()))
                            .send_turn(t.source, t.destination, buf),
                    }
                }
            });
            self.sockets.flush();
            let mut moved = false;
            while let Some(ev) = self.core.poll_event() {
                moved = true;
                self.dispatch(ev);
            }
            moved |= self.retry_blocked();
            if !moved {
                break;
            }
        }
        for (id, sink) in &mut self.channels {
            let handed = std::mem::take(&mut sink.handed);
            sink.shared
                .update_buffered(self.core.buffered_amount(*id), handed);
            if sink.shared.fell_to_threshold() {
                sink.shared
                    .events
                    .publish(DataChannelEvent::BufferedAmountLow.into());
            }
            if std::mem::take(&mut sink.unwoken) {
                sink.shared.events.wake();
            }
        }
        self.media.wake();
    }

    fn dispatch(&mut self, ev: Event) {
        let to_pc = match ev {
            Event::IceCandidate(c) => match &mut self.publisher {
                Some(p) => match p.conceal(c) {
                    Some(c) => PeerConnectionEvent::IceCandidate(c),
                    None => return,
                },
                None => PeerConnectionEvent::IceCandidate(c),
            },
            Event::IceGatheringStateChange(s) => PeerConnectionEvent::IceGatheringStateChange(s),
            Event::IceConnectionStateChange(s) => PeerConnectionEvent::IceConnectionStateChange(s),
            Event::AvailableOutgoingBitrate { bitrate } => {
                PeerConnectionEvent::AvailableOutgoingBitrate(bitrate)
            }
            Event::IceCandidateError {
                server,
                error_code,
                error_text,
            } => PeerConnectionEvent::IceCandidateError {
                server,
                error_code,
                error_text,
            },
            Event::ConnectionStateChange(s) => {
                // DTLS connected (the certificate is checked) or failed.
                self.publish_identity(false);
                self.media.set_connection_state(&self.core, s);
                PeerConnectionEvent::ConnectionStateChange(s)
            }
            Event::DtlsStateChange(s) => {
                // The peer's close_notify: no SRTP leaves any more.
                self.media.check_dtls_closed(&self.core);
                PeerConnectionEvent::DtlsStateChange(s)
            }
            Event::SignalingStateChange(s) => PeerConnectionEvent::SignalingStateChange(s),
            Event::NegotiationNeeded => PeerConnectionEvent::NegotiationNeeded,
            Event::DataChannel(id) => match self.new_channel_handle(id) {
                Some(dc) => PeerConnectionEvent::DataChannel(dc),
                None => return,
            },
            Event::ChannelOpen(id) => {
                self.notify_channel(id, DataChannelState::Open, DataChannelEvent::Open);
                return;
            }
            Event::ChannelMessage { channel, message } => {
                if let Some(sink) = self.channels.get_mut(&channel) {
                    // The hub counts the bytes against the gate. Readers
                    // are woken once per flush, at its end.
                    sink.unwoken |= sink
                        .shared
                        .events
                        .publish_quietly(DataChannelEvent::Message(Arc::new(message)).into());
                }
                if !self.receive_paused && self.gate.queued() > RECEIVE_HIGH_WATER {
                    // The application is not keeping up: let SCTP's window
                    // hold the peer back instead of queueing without bound.
                    self.receive_paused = true;
                    self.core.set_receive_paused(Instant::now(), true);
                }
                return;
            }
            // The core's event follows SCTP's buffer alone; the handle's
            // `bufferedAmount` also counts bytes on their way to it, so
            // the event is fired on that amount, in `flush`.
            Event::ChannelBufferedAmountLow(_) => return,
            Event::ChannelClosing(id) => {
                self.notify_channel(id, DataChannelState::Closing, DataChannelEvent::Closing);
                return;
            }
            Event::ChannelClose(id) => {
                self.notify_channel(id, DataChannelState::Closed, DataChannelEvent::Close);
                self.drop_blocked(id);
                if let Some(sink) = self.channels.remove(&id) {
                    // What the core had is gone with the stream, and the
                    // handed bytes are no longer queued.
                    sink.shared.update_buffered(0, sink.handed);
                    sink.shared.events.close();
                }
                return;
            }
            ev @ (Event::Track { .. }
            | Event::TrackFrame { .. }
            | Event::KeyframeRequested { .. }
            | Event::DtmfToneChange { .. }
            | Event::DtmfReceived { .. }) => match self.media.handle_event(&mut self.core, ev) {
                Some(track) => PeerConnectionEvent::Track(Box::new(track)),
                None => return,
            },
            _ => return,
        };
        self.events.publish(to_pc.into());
    }

    fn notify_channel(&mut self, id: ChannelId, state: DataChannelState, ev: DataChannelEvent) {
        // Before the state: a handle that sees `open` sees the limit too.
        self.max_message_size
            .store(self.core.max_message_size(), Ordering::Relaxed);
        if let Some(sink) = self.channels.get(&id) {
            let before = sink.shared.advance(state);
            if let Some(info) = self.core.channel(id) {
                sink.shared.set_id(info.id);
            }
            let publish = match state {
                // W3C webrtc-pc §6.1 "announce the channel as open": also
                // for a handle made open (the peer's channel, or one made
                // on a connected association), not once `close()` made it
                // closing (its close op is on its way).
                DataChannelState::Open => {
                    !matches!(before, DataChannelState::Closing | DataChannelState::Closed)
                }
                // §6.2 closing procedure step 4: no `closing` event when
                // `close()` started the procedure.
                DataChannelState::Closing => {
                    !matches!(before, DataChannelState::Closing | DataChannelState::Closed)
                }
                _ => true,
            };
            if publish {
                sink.shared.events.publish(ev.into());
            }
        }
    }

    fn new_channel_handle(&mut self, id: ChannelId) -> Option<DataChannel> {
        let info = self.core.channel(id)?;
        let shared = Arc::new(ChannelShared::new(
            &info,
            Arc::clone(&self.gate),
            Arc::clone(&self.max_message_size),
        ));
        self.channels.insert(
            id,
            Sink {
                shared: shared.clone(),
                handed: 0,
                unwoken: false,
            },
        );
        Some(DataChannel::new(
            id,
            info,
            shared,
            Arc::clone(&self.ops),
            Arc::clone(&self.commands.0),
        ))
    }

    /// Adds the candidates mDNS resolved, as if signalled with an IP, then
    /// the held end-of-candidates once no lookup is left.
    fn add_resolved(&mut self) {
        for c in self.resolved.drain(..) {
            if let Err(e) = self.core.add_ice_candidate(Instant::now(), &c) {
                tracing::debug!("resolved candidate {} not added: {e}", c.candidate);
            }
        }
        if !self.mdns.busy()
            && let Some(end) = self.held_end.take()
            && let Err(e) = self.core.add_ice_candidate(Instant::now(), &end)
        {
            tracing::debug!("end of candidates not applied: {e}");
        }
    }

    /// Runs `first` and the operations queued behind it, up to
    /// [`OPS_BURST`], before the next round of output.
    ///
    /// Frames count against a budget of half the core's outbound queue
    /// (estimated in packets by size): the burst ends before the frames it
    /// hands the core could fill that queue, so that the output round
    /// empties it before more come.
    fn channel_ops(&mut self, first: ChannelOp) {
        let mut packets = 0;
        let mut next = Some(first);
        for _ in 0..OPS_BURST {
            let Some(op) = next.take().or_else(|| self.ops.try_recv()) else {
                break;
            };
            if let ChannelOp::Frame(f) = &op {
                packets += f.data.len() / FRAME_PAYLOAD + 1;
            }
            self.channel_op(op);
            if packets >= FRAME_PACKETS_BURST {
                break;
            }
        }
        self.media.end_burst();
    }

    fn channel_op(&mut self, op: ChannelOp) {
        match op {
            ChannelOp::Send {
                channel,
                data,
                binary,
                shared,
            } => self.send(Blocked {
                channel,
                data,
                binary,
                shared,
            }),
            // After the messages of the channel still blocked: `close()`
            // comes after the messages already sent.
            ChannelOp::Close(id) => match self.blocked.get_mut(&id) {
                Some(queue) => queue.push_back(Pending::Close),
                None => self.close_channel(id),
            },
            // The async API fires `bufferedamountlow` itself (in `flush`,
            // on the handle's amount); the core keeps the threshold for
            // its own event and stats.
            ChannelOp::SetLowThreshold(id, n) => {
                if let Err(e) = self.core.set_buffered_amount_low_threshold(id, n) {
                    tracing::debug!("threshold: {e}");
                }
            }
            ChannelOp::Frame(frame) => self.media.write(&mut self.core, *frame),
            ChannelOp::EncodingActive(change) => {
                let (id, rid, active) = *change;
                let applied = match rid {
                    Some(rid) => self.core.set_encoding_active(id, &rid, active),
                    None => self.core.set_stream_active(id, active),
                };
                if let Err(e) = applied {
                    tracing::debug!("active not applied: {e}");
                }
            }
        }
    }

    fn close_channel(&mut self, id: ChannelId) {
        if let Err(e) = self.core.close_channel(Instant::now(), id) {
            tracing::debug!("close channel: {e}");
        }
    }

    /// Hands blocked messages to the core, each channel's in order, one
    /// message per channel in turn (round robin), until the SCTP send
    /// buffer is full again; true if any moved.
    fn retry_blocked(&mut self) -> bool {
        let mut moved = false;
        while let Some(channel) = self.rotation.pop_front() {
            let Some(p) = self.blocked.get_mut(&channel).and_then(VecDeque::pop_front) else {
                self.blocked.remove(&channel);
                continue;
            };
            match p {
                Pending::Send(b) => {
                    if let Err(b) = self.core_send(b) {
                        // Still full: back to the head of its queue, and
                        // this channel first when room comes.
                        self.blocked
                            .entry(channel)
                            .or_default()
                            .push_front(Pending::Send(b));
                        self.rotation.push_front(channel);
                        break;
                    }
                }
                Pending::Close => self.close_channel(channel),
            }
            moved = true;
            if self.blocked.get(&channel).is_some_and(|q| !q.is_empty()) {
                self.rotation.push_back(channel);
            } else {
                self.blocked.remove(&channel);
            }
        }
        moved
    }

    /// Queues a blocked message behind those of its channel.
    fn queue(&mut self, b: Blocked) {
        let channel = b.channel;
        let queue = self.blocked.entry(channel).or_default();
        if queue.is_empty() {
            self.rotation.push_back(channel);
        }
        queue.push_back(Pending::Send(b));
    }

    /// A new message: behind earlier blocked ones of its channel (order),
    /// or in turn while any channel waits for room (fairness), else to
    /// the core.
    fn send(&mut self, b: Blocked) {
        if !self.rotation.is_empty() {
            self.queue(b);
            return;
        }
        if let Err(b) = self.core_send(b) {
            self.queue(b);
        }
    }

    /// Gives a message to the core; gives it back when the SCTP send
    /// buffer is full. A refusal `send` could not foresee (the channel
    /// closed meanwhile, or the peer's limit fell) drops the message: the
    /// channel's `close` tells the first, an `error` event the others.
    fn core_send(&mut self, b: Blocked) -> Result<(), Blocked> {
        let result = self.core.send(Instant::now(), b.channel, &b.data, b.binary);
        if result
            .as_ref()
            .is_err_and(ferrtc_core::Error::is_send_buffer_full)
        {
            return Err(b);
        }
        let Some(sink) = self.channels.get_mut(&b.channel) else {
            // The channel closed and left: nothing will hand its bytes on.
            b.shared
                .update_buffered(b.shared.buffered.load(Ordering::SeqCst), b.data.len());
            return Ok(());
        };
        sink.handed += b.data.len();
        match result {
            Ok(()) => {}
            Err(ferrtc_core::Error::InvalidState { .. } | ferrtc_core::Error::Closed) => {
                tracing::debug!("message dropped: the channel closed after send");
            }
            Err(e) => {
                tracing::debug!("message dropped: {e}");
                sink.shared
                    .events
                    .publish(DataChannelEvent::Error(e.to_string()).into());
            }
        }
        Ok(())
    }

    fn set_stun_servers(
        &mut self,
        servers: Vec<std::net::SocketAddr>,
        turn: Vec<ferrtc_core::TurnServer>,
        tls: crate::net::TlsServers,
        (relay_only, lookups_pending): (Option<bool>, bool),
        (generation, configuration): (u64, Option<crate::config::Configuration>),
        reply: Option<Reply<()>>,
    ) {
        let result = if generation < self.stun_generation {
            tracing::debug!("STUN servers of an earlier configuration ignored");
            Ok(())
        } else {
            let now = Instant::now();
            let result = self
                .core
                .set_stun_servers(now, servers)
                .and_then(|()| self.core.set_turn_servers(now, turn))
                .map_err(Error::from);
            if generation >= self.stun_generation {
                self.core.hold_gathering(now, lookups_pending);
                if let Some(relay_only) = relay_only {
                    self.core.set_ice_transport_policy(relay_only);
                }
            }
            // A failed configuration does not count: lookups of the one
            // the core still has may still land.
            if result.is_ok() {
                self.stun_generation = generation;
                self.sockets.set_tls_servers(tls);
                // W3C webrtc-pc §4.4.1.7: the configuration set is the one
                // `getConfiguration()` returns, stored whether or not its
                // caller still waits for this reply.
                if let Some(configuration) = configuration {
                    let mut applied = self.applied.lock().unwrap_or_else(|e| e.into_inner());
                    if generation > applied.generation {
                        *applied = crate::peer_connection::Applied {
                            generation,
                            configuration,
                        };
                    }
                }
            }
            result
        };
        match reply {
            Some(r) => {
                let _ = r.send(result);
            }
            None => {
                if let Err(e) = result {
                    tracing::debug!("STUN servers not applied: {e}");
                }
            }
        }
    }

    fn command(&mut self, cmd: Command) {
        match cmd {
            #[cfg(test)]
            Command::Panic => panic!("test hook: the task panics"),
            Command::CreateOffer(r) => {
                let _ = r.send(self.core.create_offer().map_err(Error::from));
            }
            Command::CreateAnswer(r) => {
                let _ = r.send(self.core.create_answer().map_err(Error::from));
            }
            Command::SetLocal(d, r) => {
                let result = self
                    .core
                    .set_local_description(Instant::now(), d.map(|d| *d))
                    .map_err(Error::from);
                // Before the reply: a handle read once the call returns
                // sees the transceivers as the description left them.
                self.publish_description();
                let _ = r.send(result);
            }
            Command::SetRemote(d, r) => {
                let result = self
                    .core
                    .set_remote_description(Instant::now(), *d)
                    .map_err(Error::from);
                // Before the reply: a caller that stops waiting for it
                // cannot keep the state from the other handles.
                self.publish_identity(true);
                self.publish_description();
                let _ = r.send(result);
            }
            Command::AddIceCandidate(c, r) if c.is_end_of_candidates() && self.mdns.busy() => {
                self.held_end = Some(c);
                let _ = r.send(Ok(()));
            }
            Command::AddIceCandidate(c, r) => {
                let result = self
                    .core
                    .add_ice_candidate(Instant::now(), &c)
                    .map_err(Error::from);
                if result.is_ok() {
                    self.mdns.resolve(Instant::now(), &c, &mut self.resolved);
                    self.add_resolved();
                }
                let _ = r.send(result);
            }
            Command::CreateDataChannel(args, r) => {
                let (label, init) = *args;
                let result = self
                    .core
                    .create_data_channel(Instant::now(), &label, init)
                    .map_err(Error::from)
                    .and_then(|id| self.new_channel_handle(id).ok_or(Error::Closed));
                let _ = r.send(result);
            }
            Command::SetStunServers(update) => {
                let StunUpdate {
                    servers,
                    turn,
                    tls,
                    relay_only,
                    lookups_pending,
                    generation,
                    configuration,
                    reply,
                } = *update;
                let flags = (relay_only, lookups_pending);
                let applied = (generation, configuration);
                self.set_stun_servers(servers, turn, tls, flags, applied, reply);
            }
            Command::RestartIce(r) => {
                let _ = r.send(self.core.restart_ice(Instant::now()).map_err(Error::from));
            }
            Command::Descriptions(r) => {
                let _ = r.send(Descriptions {
                    local: self.core.local_description(),
                    remote: self.core.remote_description(),
                    current_local: self.core.current_local_description(),
                    pending_local: self.core.pending_local_description(),
                    current_remote: self.core.current_remote_description(),
                    pending_remote: self.core.pending_remote_description(),
                });
            }
            Command::States(r) => {
                let _ = r.send(States {
                    signaling: self.core.signaling_state(),
                    ice_connection: self.core.ice_connection_state(),
                    ice_gathering: self.core.ice_gathering_state(),
                    connection: self.core.connection_state(),
                    // Closed once this side is, whether or not a
                    // description had made the transport.
                    dtls: if self.core.is_closed() {
                        Some(DtlsTransportState::Closed)
                    } else {
                        self.core.dtls_state()
                    },
                });
            }
            Command::GetStats(r) => {
                let _ = r.send(self.core.get_stats(std::time::SystemTime::now()));
            }
            Command::Close(r) => {
                self.close_core();
                self.closing.push(r);
            }
            Command::Identity(c) => c.run(&mut self.core),
            Command::Media(c) => {
                self.media.run(*c, &mut self.core);
                return;
            }
        }
        // A description or `close` may change every transceiver.
        self.media.sync(&self.core);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn commands_queued_before_the_hang_up_still_reach_the_task() {
        let (tx, rx) = CommandQueue::new_pair();
        let (reply, _answer) = oneshot::channel();
        assert!(tx.send(Command::Close(reply)).is_ok());
        tx.hang_up();
        assert!(matches!(rx.0.recv().await, Some(Command::Close(_))));
        assert!(rx.0.recv().await.is_none());
        let (reply, _answer) = oneshot::channel();
        assert!(tx.send(Command::Close(reply)).is_err());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn commands_to_an_ended_task_are_refused_and_queued_ones_answer_closed() {
        let (tx, rx) = CommandQueue::new_pair();
        let (reply, answer) = oneshot::channel();
        assert!(tx.send(Command::Close(reply)).is_ok());
        drop(rx);
        assert!(answer.await.is_err());
        let (reply, _answer) = oneshot::channel();
        assert!(tx.send(Command::Close(reply)).is_err());
    }

    /// A channel handle for the operations the tests queue.
    fn a_channel() -> ChannelId {
        let now = Instant::now();
        let mut core = Core::new(
            ferrtc_core::Config::default(),
            now,
            std::time::SystemTime::now(),
        )
        .expect("a connection");
        core.create_data_channel(now, "c", DataChannelInit::default())
            .expect("a channel")
    }

    /// Polls `fut` once with `waker`.
    fn poll_once<F: std::future::Future>(fut: F, waker: &Waker) -> Poll<F::Output> {
        let mut fut = std::pin::pin!(fut);
        fut.as_mut().poll(&mut Context::from_waker(waker))
    }

    #[test]
    fn a_task_waiting_on_an_empty_queue_is_woken_by_the_next_push_or_the_hang_up() {
        let wakes = Arc::new(crate::testing::Wakes::default());
        let waker = Waker::from(Arc::clone(&wakes));
        let woken = || wakes.count();

        let ops = OpQueue::default();
        assert!(poll_once(ops.recv(), &waker).is_pending());
        assert_eq!(woken(), 0);
        let channel = a_channel();
        assert!(ops.send(ChannelOp::SetLowThreshold(channel, 1)).is_ok());
        assert_eq!(woken(), 1, "the push woke the waiting task");
        // A second push while the first waits: the task is already woken.
        assert!(ops.send(ChannelOp::SetLowThreshold(channel, 2)).is_ok());
        assert!(poll_once(ops.recv(), &waker).is_ready());
        assert!(poll_once(ops.recv(), &waker).is_ready());
        // Waiting again (its `recv` dropped in between, as `select!` does).
        assert!(poll_once(ops.recv(), &waker).is_pending());
        assert!(ops.send(ChannelOp::SetLowThreshold(channel, 3)).is_ok());
        assert_eq!(woken(), 2, "a push after waiting again wakes it again");

        let (commands, rx) = CommandQueue::new_pair();
        assert!(poll_once(rx.0.recv(), &waker).is_pending());
        let (reply, _answer) = oneshot::channel();
        assert!(commands.send(Command::Close(reply)).is_ok());
        assert_eq!(woken(), 3, "a command wakes the waiting task");
        assert!(matches!(
            poll_once(rx.0.recv(), &waker),
            Poll::Ready(Some(Command::Close(_)))
        ));
        assert!(poll_once(rx.0.recv(), &waker).is_pending());
        commands.hang_up();
        assert_eq!(woken(), 4, "the hang-up wakes the waiting task");
        assert!(matches!(poll_once(rx.0.recv(), &waker), Poll::Ready(None)));
    }

    /// Several tasks on other threads push to one queue, in bursts and one
    /// at a time, while the task waits, runs or has dropped a `recv` it
    /// raced against something else (as the driver's `select!` does every
    /// turn): every push reaches it and it never waits forever.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn pushes_from_several_tasks_all_wake_the_task_that_reads_the_queues() {
        const TASKS: usize = 8;
        const EACH: usize = 500;
        let (commands, rx) = CommandQueue::new_pair();
        let ops = Arc::new(OpQueue::default());
        let channel = a_channel();
        let mut pushers = Vec::new();
        for t in 0..TASKS {
            let (commands, ops) = (Arc::clone(&commands), Arc::clone(&ops));
            pushers.push(tokio::spawn(async move {
                for i in 0..EACH {
                    let (reply, _) = oneshot::channel();
                    assert!(commands.send(Command::Close(reply)).is_ok());
                    assert!(ops.send(ChannelOp::SetLowThreshold(channel, i)).is_ok());
                    if (i + t) % 7 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
            }));
        }
        let reader = {
            let ops = Arc::clone(&ops);
            tokio::spawn(async move {
                let (mut got_commands, mut got_ops) = (0, 0);
                let mut turn = 0u32;
                while got_commands < TASKS * EACH || got_ops < TASKS * EACH {
                    turn += 1;
                    tokio::select! {
                        biased;
                        cmd = rx.0.recv() => {
                            assert!(cmd.is_some());
                            got_commands += 1;
                        }
                        _ = ops.recv(), if got_ops < TASKS * EACH => got_ops += 1,
                        // Every few turns a branch that wins at once: both
                        // receives are dropped after registering.
                        () = std::future::ready(()), if turn % 5 == 0 => {}
                    }
                }
                (rx, got_commands, got_ops)
            })
        };
        for p in pushers {
            p.await.expect("a pusher panicked");
        }
        let (rx, got_commands, got_ops) = tokio::time::timeout(Duration::from_secs(30), reader)
            .await
            .expect("the reader got every push (no lost wake-up)")
            .expect("the reader panicked");
        assert_eq!((got_commands, got_ops), (TASKS * EACH, TASKS * EACH));
        // The hang-up wakes a reader waiting on the empty queue.
        let waiting = tokio::spawn(async move { rx.0.recv().await.is_none() });
        tokio::task::yield_now().await;
        commands.hang_up();
        assert!(
            tokio::time::timeout(Duration::from_secs(30), waiting)
                .await
                .expect("the hang-up woke the reader")
                .expect("the reader panicked")
        );
    }
}

#[cfg(test)]
mod media_burst_tests {
    /// The burst bounds are the core's default media limits (the driver
    /// never configures others).
    #[test]
    fn burst_bounds_follow_the_cores_default_media_config() {
        let media = ferrtc_core::MediaConfig::default();
        assert_eq!(super::FRAME_PACKETS_BURST, media.max_queued_datagrams / 2);
        assert_eq!(super::FRAME_PAYLOAD + super::RTP_OVERHEAD, media.rtp_mtu);
    }
}
