//! The task that owns one connection's sans-IO core and its sockets.
//!
//! Handles send [`Command`]s; the task answers on oneshot channels and
//! pushes events into unbounded channels, never calling user code. SCTP,
//! DTLS and ICE all run inside this one task: no hop between them.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use ferrtc_core::{
    ChannelId, DataChannelInit, DataChannelState, Event, IceCandidateInit, PeerConnection as Core,
    SessionDescription,
};
use tokio::sync::{mpsc, oneshot};

use crate::Error;
use crate::data_channel::{
    ChannelShared, DataChannel, DataChannelEvent, RECEIVE_HIGH_WATER, RECEIVE_LOW_WATER,
    ReceiveGate, Sink,
};
use crate::mdns::Resolver;
use crate::net::Sockets;
use crate::peer_connection::{PeerConnectionEvent, States};

/// Bytes buffered on a channel above which `send` waits (back-pressure).
pub(crate) const SEND_HIGH_WATER: usize = 1024 * 1024;

/// Datagrams read per wake-up before the core is polled for output.
const RECV_BURST: usize = 64;

/// Room for one outgoing datagram.
const TRANSMIT_BUF: usize = 2048;

type Reply<T> = oneshot::Sender<Result<T, Error>>;

thread_local! {
    /// Where datagrams are read: one coalesced GRO read is at most 64 KB.
    static RECEIVE: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; 65_536]);
    /// Where the core writes each outgoing datagram.
    static TRANSMIT: std::cell::RefCell<Vec<u8>> =
        std::cell::RefCell::new(Vec::with_capacity(TRANSMIT_BUF));
}

/// What a handle asks of the task.
pub(crate) enum Command {
    CreateOffer(Reply<SessionDescription>),
    CreateAnswer(Reply<SessionDescription>),
    SetLocal(Option<SessionDescription>, Reply<()>),
    SetRemote(SessionDescription, Reply<()>),
    // The larger payloads are boxed: every command channel allocates room
    // for 32 commands up front, so the size of the largest variant counts
    // once per connection, 10,000 times in a busy process.
    AddIceCandidate(Box<IceCandidateInit>, Reply<()>),
    CreateDataChannel(Box<(String, DataChannelInit)>, Reply<DataChannel>),
    Send {
        channel: ChannelId,
        data: Vec<u8>,
        binary: bool,
        reply: Reply<()>,
    },
    CloseChannel(ChannelId),
    RestartIce(Reply<()>),
    SetStunServers(Vec<std::net::SocketAddr>, Reply<()>),
    SetLowThreshold(ChannelId, usize),
    Descriptions(oneshot::Sender<Descriptions>),
    States(oneshot::Sender<States>),
    GetStats(oneshot::Sender<ferrtc_core::StatsReport>),
    Close(oneshot::Sender<()>),
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

/// A `send` waiting for the channel's buffer to drain.
struct Blocked {
    channel: ChannelId,
    data: Vec<u8>,
    binary: bool,
    reply: Reply<()>,
}

pub(crate) struct Driver {
    core: Core,
    sockets: Sockets,
    /// Resolves remote `.local` candidates.
    mdns: Resolver,
    /// Candidates mDNS resolved, to add to the core.
    resolved: Vec<IceCandidateInit>,
    /// The peer's end-of-candidates, held while mDNS lookups run: given to
    /// the core with no usable candidate, it would fail ICE at once
    /// (RFC 8838 §8) before the resolved ones arrive.
    held_end: Option<IceCandidateInit>,
    commands: mpsc::UnboundedReceiver<Command>,
    /// Handed to channel handles (weak, so that they do not keep the
    /// connection alive).
    weak: mpsc::WeakUnboundedSender<Command>,
    events: mpsc::UnboundedSender<PeerConnectionEvent>,
    channels: HashMap<ChannelId, Sink>,
    blocked: VecDeque<Blocked>,
    /// `close()` callers, answered once the closing datagrams are out.
    closing: Vec<oneshot::Sender<()>>,
    /// Unread received bytes of all channels; above the high water mark
    /// the core is told to leave messages in SCTP.
    gate: Arc<ReceiveGate>,
    receive_paused: bool,
}

/// Due core deadlines run without a trip through the timer, at most this
/// many times in a row.
const MAX_DUE_IN_A_ROW: u32 = 8;

impl Driver {
    pub(crate) fn new(
        core: Core,
        sockets: Sockets,
        mdns: Resolver,
        commands: mpsc::UnboundedReceiver<Command>,
        weak: mpsc::WeakUnboundedSender<Command>,
        events: mpsc::UnboundedSender<PeerConnectionEvent>,
    ) -> Driver {
        Driver {
            core,
            sockets,
            mdns,
            resolved: Vec::new(),
            held_end: None,
            commands,
            weak,
            events,
            channels: HashMap::new(),
            blocked: VecDeque::new(),
            closing: Vec::new(),
            gate: Arc::default(),
            receive_paused: false,
        }
    }

    /// Runs until `close()` or until every `PeerConnection` handle is gone.
    pub(crate) async fn run(mut self: Box<Self>) {
        self.sockets.set_ufrag(self.core.local_ufrag());
        let mut due_in_a_row = 0;
        loop {
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
            let sleep = async {
                match deadline {
                    Some(t) => tokio::time::sleep_until(tokio::time::Instant::from_std(t)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                cmd = self.commands.recv() => match cmd {
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
                () = self.sockets.readable() => {
                    let now = Instant::now();
                    // A burst per wake-up, answered by one round of output;
                    // the buffer is per thread (GRO reads are up to 64 KB).
                    RECEIVE.with_borrow_mut(|buf| {
                        for _ in 0..RECV_BURST {
                            let Some((local, remote, len, segment)) = self.sockets.try_recv(buf) else {
                                break;
                            };
                            for datagram in buf[..len].chunks(segment) {
                                self.core.handle_receive(now, remote, local, datagram);
                            }
                        }
                    });
                }
                () = self.gate.drained.notified(), if self.receive_paused => {
                    if self.gate.queued() <= RECEIVE_LOW_WATER {
                        self.receive_paused = false;
                        self.core.set_receive_paused(false);
                    }
                }
                r = self.mdns.recv() => match r {
                    Ok((from, len)) => {
                        self.mdns.handle_response(from, len, &mut self.resolved);
                        self.add_resolved();
                    }
                    Err(e) => tracing::debug!("mDNS recv: {e}"),
                },
                () = sleep => {
                    let now = Instant::now();
                    self.mdns.handle_timeout(now);
                    self.add_resolved();
                    if core_deadline.is_some_and(|t| t <= now) {
                        self.core.handle_timeout(now);
                    }
                }
            }
        }
        // Final flush of closing datagrams happened in `flush`; tell every channel.
        for sink in self.channels.values() {
            sink.shared.set_state(DataChannelState::Closed);
            let _ = sink.tx.send(DataChannelEvent::Close);
        }
        for b in self.blocked.drain(..) {
            let _ = b.reply.send(Err(Error::Closed));
        }
        for r in self.closing.drain(..) {
            let _ = r.send(());
        }
    }

    fn close_core(&mut self) {
        self.core.close();
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
                    self.sockets.send(t.source, t.destination, buf);
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
        for (id, sink) in &self.channels {
            sink.shared
                .buffered
                .store(self.core.buffered_amount(*id), Ordering::Relaxed);
        }
    }

    fn dispatch(&mut self, ev: Event) {
        let to_pc = match ev {
            Event::IceCandidate(c) => PeerConnectionEvent::IceCandidate(c),
            Event::IceGatheringStateChange(s) => PeerConnectionEvent::IceGatheringStateChange(s),
            Event::IceConnectionStateChange(s) => PeerConnectionEvent::IceConnectionStateChange(s),
            Event::ConnectionStateChange(s) => PeerConnectionEvent::ConnectionStateChange(s),
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
                if let Some(sink) = self.channels.get(&channel) {
                    let len = message.as_bytes().len();
                    if sink.tx.send(DataChannelEvent::Message(message)).is_ok() {
                        self.gate.add(len);
                    }
                }
                if !self.receive_paused && self.gate.queued() > RECEIVE_HIGH_WATER {
                    // The application is not keeping up: let SCTP's window
                    // hold the peer back instead of queueing without bound.
                    self.receive_paused = true;
                    self.core.set_receive_paused(true);
                }
                return;
            }
            Event::ChannelBufferedAmountLow(id) => {
                if let Some(sink) = self.channels.get(&id) {
                    let _ = sink.tx.send(DataChannelEvent::BufferedAmountLow);
                }
                return;
            }
            Event::ChannelClosing(id) => {
                self.notify_channel(id, DataChannelState::Closing, DataChannelEvent::Closing);
                return;
            }
            Event::ChannelClose(id) => {
                self.notify_channel(id, DataChannelState::Closed, DataChannelEvent::Close);
                self.channels.remove(&id);
                return;
            }
            _ => return,
        };
        let _ = self.events.send(to_pc);
    }

    fn notify_channel(&mut self, id: ChannelId, state: DataChannelState, ev: DataChannelEvent) {
        if let Some(sink) = self.channels.get(&id) {
            sink.shared.set_state(state);
            if let Some(info) = self.core.channel(id) {
                sink.shared.set_id(info.id);
            }
            let _ = sink.tx.send(ev);
        }
    }

    fn new_channel_handle(&mut self, id: ChannelId) -> Option<DataChannel> {
        let info = self.core.channel(id)?;
        let shared = Arc::new(ChannelShared::new(&info, Arc::clone(&self.gate)));
        let (tx, rx) = mpsc::unbounded_channel();
        self.channels.insert(
            id,
            Sink {
                tx,
                shared: shared.clone(),
            },
        );
        Some(DataChannel::new(id, info, shared, rx, self.weak.clone()))
    }

    /// Adds the candidates mDNS resolved, as if signalled with an IP, then
    /// the held end-of-candidates once no lookup is left.
    fn add_resolved(&mut self) {
        for c in self.resolved.drain(..) {
            if let Err(e) = self.core.add_ice_candidate(&c) {
                tracing::debug!("resolved candidate {} not added: {e}", c.candidate);
            }
        }
        if !self.mdns.busy()
            && let Some(end) = self.held_end.take()
            && let Err(e) = self.core.add_ice_candidate(&end)
        {
            tracing::debug!("end of candidates not applied: {e}");
        }
    }

    fn retry_blocked(&mut self) -> bool {
        let mut moved = false;
        let mut i = 0;
        while i < self.blocked.len() {
            let b = &self.blocked[i];
            if self.core.buffered_amount(b.channel) >= SEND_HIGH_WATER {
                i += 1;
                continue;
            }
            let Some(b) = self.blocked.remove(i) else {
                break;
            };
            moved = true;
            self.try_send(b);
        }
        moved
    }

    fn try_send(&mut self, b: Blocked) {
        // Later sends on a channel wait behind earlier blocked ones (order).
        let queued_behind = self.blocked.iter().any(|o| o.channel == b.channel);
        if queued_behind || self.core.buffered_amount(b.channel) >= SEND_HIGH_WATER {
            self.blocked.push_back(b);
            return;
        }
        match self.core.send(b.channel, &b.data, b.binary) {
            Err(ferrtc_core::Error::Sctp(ferrtc_sctp::Error::SendBufferFull { .. })) => {
                self.blocked.push_back(b);
            }
            r => {
                let _ = b.reply.send(r.map_err(Error::from));
            }
        }
    }

    fn command(&mut self, cmd: Command) {
        match cmd {
            Command::CreateOffer(r) => {
                let _ = r.send(self.core.create_offer().map_err(Error::from));
            }
            Command::CreateAnswer(r) => {
                let _ = r.send(self.core.create_answer().map_err(Error::from));
            }
            Command::SetLocal(d, r) => {
                let _ = r.send(self.core.set_local_description(d).map_err(Error::from));
            }
            Command::SetRemote(d, r) => {
                let _ = r.send(self.core.set_remote_description(d).map_err(Error::from));
            }
            Command::AddIceCandidate(c, r) if c.is_end_of_candidates() && self.mdns.busy() => {
                self.held_end = Some(*c);
                let _ = r.send(Ok(()));
            }
            Command::AddIceCandidate(c, r) => {
                let result = self.core.add_ice_candidate(&c).map_err(Error::from);
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
                    .create_data_channel(&label, init)
                    .map_err(Error::from)
                    .and_then(|id| self.new_channel_handle(id).ok_or(Error::Closed));
                let _ = r.send(result);
            }
            Command::Send {
                channel,
                data,
                binary,
                reply,
            } => self.try_send(Blocked {
                channel,
                data,
                binary,
                reply,
            }),
            Command::SetStunServers(servers, r) => {
                let _ = r.send(self.core.set_stun_servers(servers).map_err(Error::from));
            }
            Command::RestartIce(r) => {
                let _ = r.send(self.core.restart_ice().map_err(Error::from));
            }
            Command::CloseChannel(id) => {
                if let Err(e) = self.core.close_channel(id) {
                    tracing::debug!("close channel: {e}");
                }
            }
            Command::SetLowThreshold(id, n) => {
                if let Err(e) = self.core.set_buffered_amount_low_threshold(id, n) {
                    tracing::debug!("threshold: {e}");
                }
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
                });
            }
            Command::GetStats(r) => {
                let _ = r.send(self.core.get_stats(std::time::SystemTime::now()));
            }
            Command::Close(r) => {
                self.close_core();
                self.closing.push(r);
            }
        }
    }
}
