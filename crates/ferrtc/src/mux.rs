//! Many peer connections on one UDP port: the routing that a server (an
//! SFU, a bot with many callers) needs to stay within one socket.
//!
//! One task reads the socket and hands each datagram to the connection it
//! belongs to (DESIGN.md, "Data path"):
//! - a STUN response (success or error) whose transaction id is that of a
//!   request a connection sent goes to that connection, whatever its
//!   source address (RFC 8489 §6.3: a response carries its request's id),
//!   so connections that ask the same STUN server each get their answers;
//! - a STUN Binding request names its connection by the local username
//!   fragment in USERNAME (RFC 8445 §7.2.2), and teaches the router the
//!   address it came from;
//! - everything else (other STUN responses, DTLS, SCTP, SRTP) is routed by
//!   its source address: one the connection sent to, or one a check of it
//!   came from.
//!
//! The mux cannot authenticate a check (it does not know the passwords that
//! sign MESSAGE-INTEGRITY, RFC 8489 §9.1.3; the connection's ICE agent
//! does, RFC 8445 §7.3), and anyone who saw a fragment can send one from any
//! source address, a peer of another connection on the same mux included.
//! So a check never moves an address routed to one connection to another.
//! Nor does another connection's send, while the address is in use: one a
//! connection sent to (other than a STUN error response, which is what an
//! unauthenticated check gets) stays with it as long as it keeps sending
//! there (a live connection sends consent checks every few seconds, RFC
//! 7675 §5.1). Another connection's send takes an address that only a
//! check taught, or that its owner has not sent to for [`STALE`] (a
//! connection that failed or moved on, whose peer's address a new peer now
//! has, as after a NAT reuses a port): its agent chose that peer. Each
//! connection has at most [`MAX_REMOTES`] addresses of each kind; those it
//! sends to are routed back (unless another connection has them), the
//! least recently used one making room. The mux remembers the last
//! [`MAX_TRANSACTIONS`] requests sent through it.
//!
//! So the remote side of every connection must have an address of its own,
//! as real callers do. Datagrams nobody claims are dropped and counted.
//! Unlike a connection with sockets of its own, each datagram crosses from
//! the reading task to the connection's task. The socket reads through the
//! same batched path as a connection's own ([`crate::net::UdpSocket`]): one
//! read may carry a flight of datagrams from one sender.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use std::collections::VecDeque;
use std::task::{Context, Poll, Waker};

use crate::net::{SHARED_SOCKET_BUF, UdpSocket};

/// Datagrams queued for one connection before more are dropped (as a full
/// socket buffer would).
const QUEUE: usize = 256;

/// Remote addresses routed to one connection, of each [`Origin`] (ICE's
/// own limit on remote candidates is 64).
const MAX_REMOTES: usize = 64;

/// STUN requests (over all connections) whose transaction ids the mux
/// remembers to route their responses, the oldest forgotten first.
const MAX_TRANSACTIONS: usize = 4096;

/// How long after a connection last sent to an address another
/// connection's send may take its route (RFC 7675 §5.1: a live
/// connection's consent checks go out every 4 to 6 s).
const STALE: Duration = Duration::from_secs(30);

/// How often a port's sends to an address routed to it tell the table that
/// it still sends there (see [`STALE`]); sends in between skip the table.
const REFRESH: Duration = Duration::from_secs(1);

/// Reads per wake-up of the reading task.
const BURST: usize = 64;

/// The read buffer: room for one read (up to two coalesced flights).
const RECV_BUF: usize = crate::net::READ_BYTES;

/// One UDP socket shared by many [`crate::PeerConnection`]s (not part of
/// the W3C API): give it to each through
/// [`Configuration::udp_mux`](crate::Configuration::udp_mux), and they all
/// gather the mux's address as their host candidate.
///
/// Cheap to clone; the socket closes when the last clone and the last
/// connection using it are gone.
#[derive(Clone)]
pub struct UdpMux {
    shared: Arc<Shared>,
    _reader: Arc<Reader>,
}

impl std::fmt::Debug for UdpMux {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdpMux")
            .field("local_addr", &self.shared.local)
            .field("dropped", &self.dropped())
            .finish_non_exhaustive()
    }
}

struct Shared {
    socket: UdpSocket,
    local: SocketAddr,
    routes: Mutex<Routes>,
    dropped: AtomicU64,
}

#[derive(Default)]
struct Routes {
    next_id: u64,
    connections: HashMap<u64, Arc<Inbox>>,
    by_ufrag: HashMap<String, u64>,
    by_remote: HashMap<SocketAddr, Route>,
    /// The remote addresses routed to each connection, to count them and
    /// to unroute them on drop.
    remotes_of: HashMap<u64, Remotes>,
    /// The STUN requests connections sent, to route their responses.
    transactions: Transactions,
    /// Ticks once per routing decision: when a route was last used.
    clock: u64,
}

/// Where datagrams from one remote address go.
#[derive(Debug, Clone, Copy)]
struct Route {
    /// The connection.
    id: u64,
    origin: Origin,
    /// [`Routes::clock`] when a datagram last came from the address, or the
    /// connection last routed it by sending.
    used: u64,
    /// When the connection last sent to the address ([`Origin::Send`]);
    /// past [`STALE`], another connection's send may take the address.
    sent: Option<Instant>,
}

impl Route {
    /// Whether another connection's send may take the address at `now`:
    /// only a check taught it, or its connection has not sent to it for
    /// [`STALE`].
    fn yields_to_send(&self, now: Instant) -> bool {
        match (self.origin, self.sent) {
            (Origin::Check, _) | (Origin::Send, None) => true,
            (Origin::Send, Some(sent)) => now.saturating_duration_since(sent) >= STALE,
        }
    }
}

/// How a remote address came to be routed to a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// A check carrying the connection's fragment came from it: nothing the
    /// mux can authenticate. At most [`MAX_REMOTES`] per connection, kept
    /// until the connection sends to the address or is gone.
    Check,
    /// The connection sent to it, other than a STUN error response: its
    /// agent chose the address (a signalled candidate, a peer-reflexive one
    /// from an authenticated check, a STUN or TURN server). At most
    /// [`MAX_REMOTES`] per connection, the least recently used making room;
    /// another connection's send takes one not sent to for [`STALE`].
    Send,
}

/// The remote addresses routed to one connection, by [`Origin`].
#[derive(Debug, Default)]
struct Remotes {
    checked: Vec<SocketAddr>,
    sent: Vec<SocketAddr>,
}

impl Remotes {
    fn of(&mut self, origin: Origin) -> &mut Vec<SocketAddr> {
        match origin {
            Origin::Check => &mut self.checked,
            Origin::Send => &mut self.sent,
        }
    }

    fn remove(&mut self, remote: SocketAddr) {
        self.checked.retain(|r| *r != remote);
        self.sent.retain(|r| *r != remote);
    }
}

/// A STUN transaction id (RFC 8489 §5).
type TransactionId = [u8; 12];

/// The STUN requests (any method) connections sent through the mux, by
/// transaction id: a response carries its request's id (RFC 8489 §6.3), so
/// it goes to the connection that asked even when another connection has
/// the address it comes from (two connections asking one STUN server).
///
/// Bounded: the last [`MAX_TRANSACTIONS`] requests, the oldest forgotten
/// first; an entry goes when its response is delivered or its connection
/// is gone. A forgotten one's response is routed by its source address.
#[derive(Debug, Default)]
struct Transactions {
    /// The connection that sent each request, and the request's number.
    by_id: HashMap<TransactionId, (u64, u64)>,
    /// Requests in the order they were sent, by number; those already
    /// answered or forgotten are skipped when they come out.
    order: VecDeque<(TransactionId, u64)>,
    /// The next request's number.
    next: u64,
}

impl Transactions {
    /// Remembers that connection `id` sent request `tid` (again, for a
    /// retransmission).
    fn insert(&mut self, tid: TransactionId, id: u64) {
        let number = self.next;
        self.next += 1;
        self.by_id.insert(tid, (id, number));
        self.order.push_back((tid, number));
        while self.order.len() > MAX_TRANSACTIONS {
            let Some((old, n)) = self.order.pop_front() else {
                break;
            };
            if self
                .by_id
                .get(&old)
                .is_some_and(|&(_, current)| current == n)
            {
                self.by_id.remove(&old);
            }
        }
    }

    /// The connection that sent request `tid`, which is forgotten.
    fn take(&mut self, tid: &TransactionId) -> Option<u64> {
        self.by_id.remove(tid).map(|(id, _)| id)
    }

    /// Forgets connection `id`'s requests.
    fn forget(&mut self, id: u64) {
        self.by_id.retain(|_, (owner, _)| *owner != id);
    }
}

/// What [`Routes::route`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RouteChange {
    /// The address leads to the connection (it may have already);
    /// `evicted` no longer does.
    Routed { evicted: Option<SocketAddr> },
    /// The address stays with the connection that has it, or the
    /// connection has no room for one more of this origin.
    Kept,
}

/// Stops the reading task when the last handle and port are gone.
struct Reader(tokio::task::AbortHandle);

impl Drop for Reader {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Shared {
    fn routes(&self) -> MutexGuard<'_, Routes> {
        // The table holds plain data; a panic elsewhere leaves it usable.
        self.routes.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl UdpMux {
    /// Binds `addr` and starts routing. The IP must be a specific address
    /// (it becomes every connection's host candidate); port 0 picks one.
    /// Must be called within a tokio runtime.
    pub async fn bind(addr: SocketAddr) -> io::Result<UdpMux> {
        if addr.ip().is_unspecified() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a UdpMux needs a specific IP address: it is the host candidate of its connections",
            ));
        }
        // Every connection's bursts meet in this one socket's buffers.
        let socket = UdpSocket::bind(addr)?;
        socket.grow_buffers(SHARED_SOCKET_BUF);
        let local = socket.local_addr()?;
        let shared = Arc::new(Shared {
            socket,
            local,
            routes: Mutex::new(Routes::default()),
            dropped: AtomicU64::new(0),
        });
        let task = tokio::spawn(read_on(Arc::clone(&shared)));
        Ok(UdpMux {
            shared,
            _reader: Arc::new(Reader(task.abort_handle())),
        })
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local
    }

    /// Datagrams that no connection claimed, or whose connection's queue
    /// was full.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// A connection's end of the mux.
    pub(crate) fn port(&self) -> MuxPort {
        let inbox = Arc::new(Inbox::default());
        let mut routes = self.shared.routes();
        let id = routes.next_id;
        routes.next_id += 1;
        routes.connections.insert(id, Arc::clone(&inbox));
        drop(routes);
        MuxPort {
            shared: Arc::clone(&self.shared),
            _reader: Arc::clone(&self._reader),
            id,
            inbox,
            ufrag: String::new(),
            sent: Vec::new(),
        }
    }
}

/// The reading task. A panic while routing (a bug; logged) drops the
/// datagrams of that read, as a full socket buffer would, and reading goes
/// on: one datagram must not leave every connection on the mux deaf.
async fn read_on(shared: Arc<Shared>) {
    loop {
        crate::driver::catch_helper_panic("the UdpMux reader", read(Arc::clone(&shared))).await;
        tokio::task::yield_now().await;
    }
}

/// Reads: a burst of reads per wake-up, routed under one lock of the table.
async fn read(shared: Arc<Shared>) {
    let mut buf = vec![0u8; RECV_BUF];
    loop {
        if let Err(e) = shared.socket.readable().await {
            tracing::debug!("UdpMux readiness: {e}");
            continue;
        }
        let mut routes = None;
        for _ in 0..BURST {
            let read = match shared.socket.try_recv(&mut buf) {
                Ok(r) => r,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    tracing::debug!("UdpMux recv: {e}");
                    continue;
                }
            };
            let routes = routes.get_or_insert_with(|| shared.routes());
            for (at, group) in read.groups() {
                let data = buf.get(at..at + group.len).unwrap_or_default();
                for datagram in data.chunks(group.segment) {
                    if !routes.deliver(group.from, datagram) {
                        shared.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
    }
}

impl Routes {
    /// Routes datagrams from `remote` to connection `id`, for the reason
    /// `origin`:
    /// - an address another connection has stays there (RFC 8445 §7.3: the
    ///   check that would move it is one the mux cannot authenticate, and
    ///   another connection's agent may answer a forged one), except that
    ///   a [`Origin::Send`] takes one only a check taught, or one its
    ///   connection has not sent to for [`STALE`] ([`Route::yields_to_send`]);
    /// - a connection with [`MAX_REMOTES`] check-taught addresses learns no
    ///   more from checks (they carry a fragment anyone who saw the SDP
    ///   knows, so a sender could otherwise grow the table with every source
    ///   address it can forge); one with [`MAX_REMOTES`] addresses it sent
    ///   to forgets the least recently used of them for a new one.
    fn route(&mut self, remote: SocketAddr, id: u64, origin: Origin) -> RouteChange {
        self.route_at(remote, id, origin, Instant::now())
    }

    /// [`Routes::route`] at time `at`.
    fn route_at(
        &mut self,
        remote: SocketAddr,
        id: u64,
        origin: Origin,
        at: Instant,
    ) -> RouteChange {
        self.clock += 1;
        let now = self.clock;
        let sent = (origin == Origin::Send).then_some(at);
        match self.by_remote.get_mut(&remote) {
            Some(route) if route.id == id => {
                route.used = now;
                if sent.is_some() {
                    route.sent = sent;
                }
                if route.origin == Origin::Send || origin == Origin::Check {
                    return RouteChange::Routed { evicted: None };
                }
                // Taught by a check, sent to now: counted with the sent.
            }
            Some(route) if origin == Origin::Send && route.yields_to_send(at) => {
                let owner = route.id;
                self.unlist(owner, remote);
            }
            Some(_) => return RouteChange::Kept,
            None => {}
        }
        let remotes = self.remotes_of.entry(id).or_default();
        let mut evicted = None;
        if remotes.of(origin).len() >= MAX_REMOTES {
            match origin {
                Origin::Check => return RouteChange::Kept,
                Origin::Send => {
                    let by_remote = &self.by_remote;
                    let lru = remotes
                        .sent
                        .iter()
                        .min_by_key(|r| by_remote.get(r).map_or(0, |route| route.used))
                        .copied();
                    if let Some(old) = lru {
                        remotes.remove(old);
                        self.by_remote.remove(&old);
                    }
                    evicted = lru;
                }
            }
        }
        if origin == Origin::Send {
            // Taught by a check and sent to now, it moves to the sent ones.
            remotes.checked.retain(|r| *r != remote);
        }
        remotes.of(origin).push(remote);
        self.by_remote.insert(
            remote,
            Route {
                id,
                origin,
                used: now,
                sent,
            },
        );
        RouteChange::Routed { evicted }
    }

    /// Takes `remote` off connection `id`'s lists.
    fn unlist(&mut self, id: u64, remote: SocketAddr) {
        if let Some(remotes) = self.remotes_of.get_mut(&id) {
            remotes.remove(remote);
        }
    }

    /// Hands `data` from `from` to its connection; false when nobody took it.
    fn deliver(&mut self, from: SocketAddr, data: &[u8]) -> bool {
        let answered = stun_header(data)
            .filter(|h| h.class.is_response())
            .and_then(|h| self.transactions.take(&h.transaction));
        let id = match answered {
            Some(id) => {
                // RFC 8489 §6.3: the answer to a request the connection
                // sent, whoever has its source address. It teaches no route.
                self.clock += 1;
                let now = self.clock;
                if let Some(route) = self.by_remote.get_mut(&from).filter(|r| r.id == id) {
                    route.used = now;
                }
                id
            }
            None => match ferrtc_core::check_recipient(data).and_then(|u| self.by_ufrag.get(u)) {
                Some(&id) => {
                    // The check goes to the connection it names, whose agent
                    // authenticates it; its source is routed there only if no
                    // other connection has it.
                    self.route(from, id, Origin::Check);
                    id
                }
                None => {
                    self.clock += 1;
                    let now = self.clock;
                    match self.by_remote.get_mut(&from) {
                        Some(route) => {
                            route.used = now;
                            route.id
                        }
                        None => return false,
                    }
                }
            },
        };
        self.connections
            .get(&id)
            .is_some_and(|inbox| inbox.push(from, data))
    }
}

/// The class of a STUN message (RFC 8489 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StunClass {
    Request,
    Indication,
    Success,
    Error,
}

impl StunClass {
    fn is_response(self) -> bool {
        matches!(self, StunClass::Success | StunClass::Error)
    }
}

/// What the mux reads of a STUN message's header (RFC 8489 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct StunHeader {
    class: StunClass,
    transaction: TransactionId,
}

/// The header of `data` if it is a STUN message (RFC 8489 §5: the first
/// two bits zero, the magic cookie, a length that is the rest of the
/// datagram and a multiple of 4); None for anything else.
fn stun_header(data: &[u8]) -> Option<StunHeader> {
    let header = data.get(..20)?;
    if header[0] & 0xc0 != 0 || header[4..8] != [0x21, 0x12, 0xa4, 0x42] {
        return None;
    }
    let length = usize::from(u16::from_be_bytes([header[2], header[3]]));
    if length % 4 != 0 || data.len() != 20 + length {
        return None;
    }
    let class = match u16::from_be_bytes([header[0], header[1]]) & 0x0110 {
        0x0000 => StunClass::Request,
        0x0010 => StunClass::Indication,
        0x0100 => StunClass::Success,
        _ => StunClass::Error,
    };
    let mut transaction = [0; 12];
    transaction.copy_from_slice(&header[8..20]);
    Some(StunHeader { class, transaction })
}

/// A STUN error response (RFC 8489 §5: class bits `11`), which is what an
/// agent answers a check it could not authenticate with (§9.1.3): sending
/// one does not make its destination the connection's peer.
fn is_stun_error_response(data: &[u8]) -> bool {
    stun_header(data).is_some_and(|h| h.class == StunClass::Error)
}

/// One connection's queue of datagrams: at most [`QUEUE`], and memory only
/// for those waiting (a tokio channel would allocate room for 32 at its
/// first datagram and keep it while the connection idles).
#[derive(Default)]
struct Inbox {
    state: Mutex<InboxState>,
}

#[derive(Default)]
struct InboxState {
    datagrams: VecDeque<(SocketAddr, Vec<u8>)>,
    /// The connection's task, waiting for a datagram.
    waker: Option<Waker>,
}

impl Inbox {
    fn lock(&self) -> MutexGuard<'_, InboxState> {
        // Only pushes, pops and a waker swap happen under the lock.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a copy of `data`; false when the queue is full.
    fn push(&self, from: SocketAddr, data: &[u8]) -> bool {
        let mut state = self.lock();
        if state.datagrams.len() >= QUEUE {
            return false;
        }
        state.datagrams.push_back((from, data.to_vec()));
        let waker = state.waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
        true
    }

    fn pop(state: &mut InboxState) -> Option<(SocketAddr, Vec<u8>)> {
        let datagram = state.datagrams.pop_front()?;
        if state.datagrams.is_empty() {
            // Drained: give the room back.
            state.datagrams = VecDeque::new();
        }
        Some(datagram)
    }

    fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<(SocketAddr, Vec<u8>)> {
        let mut state = self.lock();
        match Self::pop(&mut state) {
            Some(datagram) => Poll::Ready(datagram),
            None => {
                match &mut state.waker {
                    Some(w) => w.clone_from(cx.waker()),
                    None => state.waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
        }
    }

    fn try_recv(&self) -> Option<(SocketAddr, Vec<u8>)> {
        Self::pop(&mut self.lock())
    }
}

/// One connection's end of a [`UdpMux`]: its queue of datagrams and the
/// routes that lead to it.
pub(crate) struct MuxPort {
    shared: Arc<Shared>,
    _reader: Arc<Reader>,
    id: u64,
    inbox: Arc<Inbox>,
    /// The username fragment checks to this connection carry.
    ufrag: String,
    /// Addresses this connection's sends routed here ([`Origin::Send`],
    /// at most [`MAX_REMOTES`]), and when a send last told the table so:
    /// sends to them skip the table for [`REFRESH`].
    sent: Vec<(SocketAddr, Instant)>,
}

impl MuxPort {
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.shared.local
    }

    /// Routes checks carrying `ufrag` here (after an ICE restart, instead
    /// of the old fragment).
    pub(crate) fn set_ufrag(&mut self, ufrag: &str) {
        if self.ufrag == ufrag {
            return;
        }
        let mut routes = self.shared.routes();
        if routes.by_ufrag.get(&self.ufrag) == Some(&self.id) {
            routes.by_ufrag.remove(&self.ufrag);
        }
        routes.by_ufrag.insert(ufrag.to_owned(), self.id);
        drop(routes);
        self.ufrag = ufrag.to_owned();
    }

    /// Sends from the shared socket; answers from `destination` come here,
    /// unless another connection has that address (see the module's doc)
    /// or `data` is a STUN error response. The response to a STUN request
    /// comes here wherever it comes from.
    pub(crate) fn send(&mut self, destination: SocketAddr, data: &[u8]) {
        let request = stun_header(data)
            .filter(|h| h.class == StunClass::Request)
            .map(|h| h.transaction);
        let now = Instant::now();
        let route = !is_stun_error_response(data)
            && !self.sent.iter().any(|&(r, told)| {
                r == destination && now.saturating_duration_since(told) < REFRESH
            });
        if request.is_some() || route {
            let mut routes = self.shared.routes();
            if let Some(tid) = request {
                routes.transactions.insert(tid, self.id);
            }
            if route {
                let change = routes.route_at(destination, self.id, Origin::Send, now);
                drop(routes);
                self.note(destination, change, now);
            }
        }
        if let Err(e) = self.shared.socket.try_send(destination, data, None) {
            // A full socket buffer is loss, which the protocols recover from.
            tracing::trace!("send to {destination} failed: {e}");
        }
    }

    /// Keeps the cache of the addresses routed here in step with `change`,
    /// what a send to `destination` at `now` did to the table.
    fn note(&mut self, destination: SocketAddr, change: RouteChange, now: Instant) {
        match change {
            RouteChange::Routed { evicted } => {
                if let Some(old) = evicted {
                    self.sent.retain(|&(r, _)| r != old);
                }
                match self.sent.iter_mut().find(|(r, _)| *r == destination) {
                    Some(entry) => entry.1 = now,
                    None => self.sent.push((destination, now)),
                }
                if self.sent.len() > MAX_REMOTES {
                    // An address another connection took since (its route
                    // here gone stale) may linger: the one told longest ago
                    // goes, and a send to it asks the table again.
                    let oldest = self
                        .sent
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, (_, told))| *told);
                    if let Some((i, _)) = oldest {
                        self.sent.remove(i);
                    }
                }
            }
            // Another connection has it: each send asks again.
            RouteChange::Kept => self.sent.retain(|&(r, _)| r != destination),
        }
    }

    /// Waits for a datagram routed here.
    pub(crate) fn poll_recv(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<(SocketAddr, Vec<u8>)>> {
        self.inbox.poll_recv(cx).map(Some)
    }

    /// A datagram routed here that is already waiting.
    pub(crate) fn try_recv(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        self.inbox.try_recv()
    }
}

impl Drop for MuxPort {
    fn drop(&mut self) {
        let mut routes = self.shared.routes();
        routes.connections.remove(&self.id);
        if routes.by_ufrag.get(&self.ufrag) == Some(&self.id) {
            routes.by_ufrag.remove(&self.ufrag);
        }
        routes.transactions.forget(self.id);
        let remotes = routes.remotes_of.remove(&self.id).unwrap_or_default();
        for r in remotes.checked.into_iter().chain(remotes.sent) {
            if routes
                .by_remote
                .get(&r)
                .is_some_and(|route| route.id == self.id)
            {
                routes.by_remote.remove(&r);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Binding request whose USERNAME is `ufrag:peer`.
    fn check(ufrag: &str) -> Vec<u8> {
        let username = format!("{ufrag}:peer");
        let mut m = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
        m.extend_from_slice(&[7; 12]);
        let len = username.len() as u16;
        m.extend_from_slice(&[0x00, 0x06]);
        m.extend_from_slice(&len.to_be_bytes());
        m.extend_from_slice(username.as_bytes());
        m.resize(m.len().next_multiple_of(4), 0);
        let body = (m.len() - 20) as u16;
        m[2..4].copy_from_slice(&body.to_be_bytes());
        m
    }

    #[test]
    fn checks_from_ever_new_sources_teach_at_most_max_remotes_addresses() {
        let inbox = Arc::new(Inbox::default());
        let mut routes = Routes::default();
        routes.connections.insert(0, Arc::clone(&inbox));
        routes.by_ufrag.insert("frag".into(), 0);
        let request = check("frag");
        for port in 1..=1000u16 {
            let from = SocketAddr::from(([127, 0, 0, 1], port));
            routes.deliver(from, &request);
            let _ = inbox.try_recv();
        }
        assert_eq!(routes.by_remote.len(), MAX_REMOTES);
        assert_eq!(routes.remotes_of[&0].checked.len(), MAX_REMOTES);
        // Checks are still delivered; data from an unlearned source is not.
        let stranger = SocketAddr::from(([127, 0, 0, 1], 2000));
        assert!(routes.deliver(stranger, &request));
        assert!(!routes.deliver(stranger, b"\x17\xfe\xfd dtls"));
        let learned = SocketAddr::from(([127, 0, 0, 1], 1));
        assert!(routes.deliver(learned, b"\x17\xfe\xfd dtls"));
    }

    /// A connection's peer at `victim_peer` has been learned (from its
    /// checks). One Binding request carrying another connection's fragment
    /// (e.g. the attacker's own connection on the same mux), sent with the
    /// victim peer's source address and no MESSAGE-INTEGRITY, must not move
    /// the victim's route: the victim's DTLS/SRTP would go to the
    /// attacker's connection. The mux cannot authenticate a check (RFC 8489
    /// §9.1.3; the agent does, RFC 8445 §7.3), so a check never takes an
    /// address another connection has.
    #[test]
    fn an_unauthenticated_check_does_not_steal_another_connections_route() {
        let victim = Arc::new(Inbox::default());
        let attacker = Arc::new(Inbox::default());
        let mut routes = Routes::default();
        routes.connections.insert(0, Arc::clone(&victim));
        routes.connections.insert(1, Arc::clone(&attacker));
        routes.by_ufrag.insert("vict".into(), 0);
        routes.by_ufrag.insert("evil".into(), 1);
        let victim_peer = SocketAddr::from(([203, 0, 113, 5], 40000));
        assert!(routes.deliver(victim_peer, &check("vict")));
        let _ = victim.try_recv();
        assert!(routes.deliver(victim_peer, b"\x17\xfe\xfd dtls 1"));
        assert!(victim.try_recv().is_some());
        // Spoofed source, no MESSAGE-INTEGRITY at all: still handed to the
        // connection it names (whose agent answers it with a 400).
        let mut forged = check("evil");
        forged[8..20].copy_from_slice(&[1; 12]);
        assert!(routes.deliver(victim_peer, &forged));
        assert!(attacker.try_recv().is_some());
        // The victim peer's next DTLS record:
        assert!(routes.deliver(victim_peer, b"\x17\xfe\xfd dtls 2"));
        assert!(
            victim.try_recv().is_some(),
            "the victim's datagram went to connection {:?}",
            routes.by_remote.get(&victim_peer)
        );
        // Nor, once the victim's connection answered its peer, does the
        // other connection's send (its agent answering a forged check that
        // carries valid MESSAGE-INTEGRITY, whose password the attacker
        // knows for its own connection).
        routes.route(victim_peer, 0, Origin::Send);
        assert_eq!(
            routes.route(victim_peer, 1, Origin::Send),
            RouteChange::Kept
        );
        assert!(routes.deliver(victim_peer, b"\x17\xfe\xfd dtls 3"));
        assert!(victim.try_recv().is_some());
        assert!(attacker.try_recv().is_none());
    }

    /// An address only a check taught (which any sender can forge) goes to
    /// the connection that sends to it: its agent chose that peer after
    /// authenticating it (RFC 8445 §7.3.1.3) or from signalling.
    #[test]
    fn a_connections_send_takes_an_address_only_a_check_taught() {
        let first = Arc::new(Inbox::default());
        let second = Arc::new(Inbox::default());
        let mut routes = Routes::default();
        routes.connections.insert(0, Arc::clone(&first));
        routes.connections.insert(1, Arc::clone(&second));
        routes.by_ufrag.insert("frst".into(), 0);
        let peer = SocketAddr::from(([203, 0, 113, 5], 40000));
        assert!(routes.deliver(peer, &check("frst")));
        let _ = first.try_recv();
        assert_eq!(
            routes.route(peer, 1, Origin::Send),
            RouteChange::Routed { evicted: None }
        );
        assert!(routes.deliver(peer, b"\x17\xfe\xfd dtls"));
        assert!(second.try_recv().is_some());
        assert!(routes.remotes_of[&0].checked.is_empty());
        assert_eq!(routes.remotes_of[&1].sent, [peer]);
        // Once sent to, the address stays: the first connection's send no
        // longer takes it back.
        assert_eq!(routes.route(peer, 0, Origin::Send), RouteChange::Kept);
    }

    /// A connection that stopped sending to an address (its peer went
    /// away, it failed, or a NAT gave its peer's port to someone else) does
    /// not keep it from the connection now talking to a new peer there: the
    /// new connection's agent answers the new peer's checks (RFC 8445
    /// §7.3.1.3, the check authenticated by that agent) and, once the old
    /// owner has sent nothing there for STALE, its send takes the route, so
    /// the new peer's DTLS/SRTP reaches it.
    #[test]
    fn an_address_its_connection_stopped_sending_to_goes_to_the_connection_that_sends_there() {
        let old = Arc::new(Inbox::default());
        let new = Arc::new(Inbox::default());
        let mut routes = Routes::default();
        routes.connections.insert(0, Arc::clone(&old));
        routes.connections.insert(1, Arc::clone(&new));
        routes.by_ufrag.insert("newc".into(), 1);
        let q = SocketAddr::from(([198, 51, 100, 7], 40000));
        let t0 = Instant::now();
        // The old connection last sent to q (a consent check) at t0.
        routes.route_at(q, 0, Origin::Send, t0);
        // Much later the new peer, now at q, checks the new connection...
        assert!(routes.deliver(q, &check("newc")));
        assert!(new.try_recv().is_some());
        // ...which answers it.
        let later = t0 + STALE + Duration::from_secs(1);
        assert_eq!(
            routes.route_at(q, 1, Origin::Send, later),
            RouteChange::Routed { evicted: None }
        );
        assert!(routes.remotes_of[&0].sent.is_empty());
        assert_eq!(routes.remotes_of[&1].sent, [q]);
        // The new peer's DTLS ClientHello:
        assert!(routes.deliver(q, b"\x16\xfe\xfd hello"));
        assert!(new.try_recv().is_some(), "went to the stale connection");
        assert!(old.try_recv().is_none());
        // The new owner is active now: the old one's send does not take it
        // back.
        assert_eq!(
            routes.route_at(q, 0, Origin::Send, later),
            RouteChange::Kept
        );
    }

    /// An address a connection keeps sending to (a live connection's
    /// consent checks go out every few seconds, RFC 7675 §5.1) stays its
    /// own: another connection's send (its agent answering a forged check
    /// signed with a password the attacker knows) does not take it, however
    /// long the route has existed. And a check (which the mux cannot
    /// authenticate, RFC 8489 §9.1.3) moves no route, not even one whose
    /// owner has stopped sending.
    #[test]
    fn an_active_owner_keeps_its_route_against_another_connections_send() {
        let owner = Arc::new(Inbox::default());
        let other = Arc::new(Inbox::default());
        let mut routes = Routes::default();
        routes.connections.insert(0, Arc::clone(&owner));
        routes.connections.insert(1, Arc::clone(&other));
        routes.by_ufrag.insert("othr".into(), 1);
        let peer = SocketAddr::from(([203, 0, 113, 5], 40000));
        let t0 = Instant::now();
        routes.route_at(peer, 0, Origin::Send, t0);
        let mut at = t0;
        for _ in 0..20 {
            // The owner's consent check, then the other's send just
            // within STALE of it.
            routes.route_at(peer, 0, Origin::Send, at);
            let just_within = at + STALE - Duration::from_millis(1);
            assert_eq!(
                routes.route_at(peer, 1, Origin::Send, just_within),
                RouteChange::Kept
            );
            at += Duration::from_secs(5);
        }
        assert!(routes.deliver(peer, b"\x17\xfe\xfd dtls"));
        assert!(owner.try_recv().is_some());
        assert!(other.try_recv().is_none());
        // The owner has not sent there for STALE: a forged check naming
        // the other connection is still handed to it, but the route stays.
        routes.by_remote.get_mut(&peer).unwrap().sent = t0.checked_sub(STALE);
        assert!(routes.deliver(peer, &check("othr")));
        assert!(other.try_recv().is_some());
        assert!(routes.deliver(peer, b"\x17\xfe\xfd dtls"));
        assert!(owner.try_recv().is_some());
        assert!(other.try_recv().is_none());
    }

    /// Routes taught by checks are capped at MAX_REMOTES per connection
    /// (here: unauthenticated checks from 64 ports of anyone who saw the
    /// fragment, which every check carries in clear; equally, a long-lived
    /// peer's address changes). The connection's own sends are still
    /// routed back: the addresses it sends to have a budget of their own.
    #[test]
    fn a_full_route_table_still_routes_answers_to_the_connections_own_sends() {
        let inbox = Arc::new(Inbox::default());
        let mut routes = Routes::default();
        routes.connections.insert(0, Arc::clone(&inbox));
        routes.by_ufrag.insert("frag".into(), 0);
        for port in 1..=64u16 {
            routes.deliver(SocketAddr::from(([198, 51, 100, 66], port)), &check("frag"));
            let _ = inbox.try_recv();
        }
        // The agent selects the peer's new address and sends to it
        // (MuxPort::send routes the destination the same way).
        let peer = SocketAddr::from(([203, 0, 113, 9], 50000));
        routes.route(peer, 0, Origin::Send);
        assert!(
            routes.deliver(peer, b"\x17\xfe\xfd dtls from the peer"),
            "the answer from the address the connection sent to was dropped"
        );
    }

    /// The addresses a connection sends to stay bounded too: past
    /// MAX_REMOTES, the least recently used one (no datagram from it, no
    /// send routing it, for longest) is forgotten for the new one, and
    /// an address in use keeps its route.
    #[test]
    fn sends_to_ever_new_addresses_forget_the_least_recently_used() {
        let inbox = Arc::new(Inbox::default());
        let mut routes = Routes::default();
        routes.connections.insert(0, Arc::clone(&inbox));
        let in_use = SocketAddr::from(([203, 0, 113, 9], 50000));
        routes.route(in_use, 0, Origin::Send);
        let mut evicted = Vec::new();
        for port in 1..=1000u16 {
            let to = SocketAddr::from(([198, 51, 100, 66], port));
            if let RouteChange::Routed { evicted: Some(old) } = routes.route(to, 0, Origin::Send) {
                evicted.push(old);
            }
            // The peer in use keeps talking.
            assert!(routes.deliver(in_use, b"\x17\xfe\xfd dtls"));
            let _ = inbox.try_recv();
        }
        assert_eq!(routes.by_remote.len(), MAX_REMOTES);
        assert_eq!(routes.remotes_of[&0].sent.len(), MAX_REMOTES);
        assert_eq!(evicted.len(), 1000 + 1 - MAX_REMOTES);
        assert!(!evicted.contains(&in_use));
        let newest = SocketAddr::from(([198, 51, 100, 66], 1000));
        assert!(routes.deliver(newest, b"\x17\xfe\xfd dtls"));
        let oldest = SocketAddr::from(([198, 51, 100, 66], 1));
        assert!(!routes.deliver(oldest, b"\x17\xfe\xfd dtls"));
    }

    /// A port's memory of where it sent stays within MAX_REMOTES however
    /// many addresses it sends to, and matches its routes.
    #[tokio::test]
    async fn a_ports_sends_to_ever_new_addresses_stay_bounded() {
        let mux = UdpMux::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let mut port = mux.port();
        for p in 1..=300u16 {
            port.send(SocketAddr::from(([127, 0, 0, 1], p)), b"\x17\xfe\xfd dtls");
        }
        assert_eq!(port.sent.len(), MAX_REMOTES);
        let routes = mux.shared.routes();
        let cached: Vec<_> = port.sent.iter().map(|&(r, _)| r).collect();
        assert_eq!(routes.remotes_of[&port.id].sent, cached);
        assert_eq!(routes.by_remote.len(), MAX_REMOTES);
    }

    /// Through the ports of a real mux: once a connection's route to an
    /// address has gone stale and another connection's send took it, the
    /// old connection's next send there (its cache of the routes it has
    /// aside) asks the table again, finds the address taken, and leaves
    /// the route where it is.
    #[tokio::test]
    async fn a_ports_stale_route_taken_by_another_stays_taken() {
        let mux = UdpMux::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let mut old = mux.port();
        let mut new = mux.port();
        let peer = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let q = peer.local_addr().unwrap();
        old.send(q, b"\x17\xfe\xfd old");
        assert_eq!(old.sent.len(), 1);
        // STALE passes without the old connection sending to q.
        let long_ago = Instant::now()
            .checked_sub(STALE + Duration::from_secs(1))
            .expect("the clock has run for longer than STALE");
        mux.shared.routes().by_remote.get_mut(&q).unwrap().sent = Some(long_ago);
        old.sent[0].1 = long_ago;
        new.send(q, b"\x17\xfe\xfd new");
        assert_eq!(new.sent.len(), 1);
        old.send(q, b"\x17\xfe\xfd old again");
        assert!(old.sent.is_empty());
        peer.send_to(b"\x17\xfe\xfd to new", mux.local_addr())
            .await
            .unwrap();
        assert_eq!(recv(&mut new).await, (q, b"\x17\xfe\xfd to new".to_vec()));
        assert!(old.try_recv().is_none());
    }

    /// A Binding error response (what an agent answers a check it cannot
    /// authenticate with, RFC 8489 §9.1.3) is one; a success response, a
    /// request and DTLS are not.
    #[test]
    fn stun_error_responses_are_told_apart() {
        let mut error = check("frag");
        error[0..2].copy_from_slice(&0x0111u16.to_be_bytes());
        assert!(is_stun_error_response(&error));
        let mut success = check("frag");
        success[0..2].copy_from_slice(&0x0101u16.to_be_bytes());
        assert!(!is_stun_error_response(&success));
        assert!(!is_stun_error_response(&check("frag")));
        assert!(!is_stun_error_response(
            b"\x17\xfe\xfd\x00\x01\x00\x00\x00\x00\x00\x01\x00\x10 dtls dtls"
        ));
        assert!(!is_stun_error_response(&error[..19]));
    }

    /// A STUN message without attributes: `kind` is the message type
    /// (0x0001 a Binding request, 0x0101 its success response, 0x0111 its
    /// error response).
    fn stun(kind: u16, transaction: [u8; 12]) -> Vec<u8> {
        let mut m = kind.to_be_bytes().to_vec();
        m.extend_from_slice(&[0x00, 0x00, 0x21, 0x12, 0xa4, 0x42]);
        m.extend_from_slice(&transaction);
        m
    }

    /// RFC 8489 §6.3: a response carries its request's transaction id. One
    /// whose id the mux does not know (not asked through it, already
    /// answered, or forged) is routed by its source address like any other
    /// datagram: to the connection that has the address, not to one that
    /// only asked something of it.
    #[test]
    fn a_stun_response_with_an_unknown_id_goes_to_the_owner_of_its_source() {
        let owner = Arc::new(Inbox::default());
        let asker = Arc::new(Inbox::default());
        let mut routes = Routes::default();
        routes.connections.insert(0, Arc::clone(&owner));
        routes.connections.insert(1, Arc::clone(&asker));
        let server = SocketAddr::from(([192, 0, 2, 1], 3478));
        routes.route(server, 0, Origin::Send);
        routes.transactions.insert([2; 12], 1);
        assert!(routes.deliver(server, &stun(0x0101, [9; 12])));
        assert!(owner.try_recv().is_some());
        assert!(asker.try_recv().is_none());
        // The asker's own answer (an error response too) reaches it...
        assert!(routes.deliver(server, &stun(0x0111, [2; 12])));
        assert!(asker.try_recv().is_some());
        // ...once: a second answer to the same request is routed by address.
        assert!(routes.deliver(server, &stun(0x0101, [2; 12])));
        assert!(owner.try_recv().is_some());
        assert!(asker.try_recv().is_none());
        // A request carrying a remembered id is not an answer.
        routes.transactions.insert([3; 12], 1);
        assert!(routes.deliver(server, &stun(0x0001, [3; 12])));
        assert!(owner.try_recv().is_some());
    }

    /// The mux remembers at most MAX_TRANSACTIONS requests, over all
    /// connections, however many are sent: the oldest are forgotten (their
    /// answers are routed by address), and a gone connection's at once.
    #[test]
    fn the_remembered_stun_requests_stay_bounded() {
        let mut transactions = Transactions::default();
        for n in 0..10_000u32 {
            let mut tid = [0; 12];
            tid[..4].copy_from_slice(&n.to_be_bytes());
            transactions.insert(tid, u64::from(n % 3));
            // Retransmissions of the same request count as requests too.
            transactions.insert(tid, u64::from(n % 3));
        }
        assert!(transactions.by_id.len() <= MAX_TRANSACTIONS);
        assert!(transactions.order.len() <= MAX_TRANSACTIONS);
        let mut newest = [0; 12];
        newest[..4].copy_from_slice(&9_999u32.to_be_bytes());
        assert_eq!(transactions.take(&newest), Some(0));
        assert_eq!(transactions.take(&[0; 12]), None);
        transactions.forget(1);
        assert!(transactions.by_id.values().all(|&(id, _)| id != 1));
    }

    /// The next datagram routed to `port`.
    async fn recv(port: &mut MuxPort) -> (SocketAddr, Vec<u8>) {
        tokio::time::timeout(
            std::time::Duration::from_secs(5),
            std::future::poll_fn(|cx| port.poll_recv(cx)),
        )
        .await
        .expect("a datagram in time")
        .expect("the port is open")
    }

    /// Several connections on one mux ask the same STUN server for their
    /// server-reflexive address, from the one shared socket. The first to
    /// send has the server's address; each answer must still reach the
    /// connection that asked (RFC 8489 §6.3: by its transaction id), or
    /// the later ones never get a server-reflexive candidate (RFC 8445
    /// §5.1.1.2).
    #[tokio::test]
    async fn connections_asking_one_stun_server_each_get_their_answer() {
        let mux = UdpMux::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let mut a = mux.port();
        let mut b = mux.port();
        a.set_ufrag("aaaa");
        b.set_ufrag("bbbb");
        let server = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let server_addr = server.local_addr().unwrap();
        let mut buf = [0u8; 1500];
        a.send(server_addr, &stun(0x0001, [1; 12]));
        let (_, from) = server.recv_from(&mut buf).await.unwrap();
        server.send_to(&stun(0x0101, [1; 12]), from).await.unwrap();
        assert_eq!(recv(&mut a).await.1[8..20], [1; 12]);
        // b asks the same server a little later.
        b.send(server_addr, &stun(0x0001, [2; 12]));
        let (_, from) = server.recv_from(&mut buf).await.unwrap();
        server.send_to(&stun(0x0101, [2; 12]), from).await.unwrap();
        let got_b = tokio::time::timeout(
            std::time::Duration::from_secs(2),
            std::future::poll_fn(|cx| b.poll_recv(cx)),
        )
        .await;
        assert!(
            matches!(&got_b, Ok(Some((_, d))) if d[8..20] == [2; 12]),
            "b's STUN answer went to a instead: {:?}",
            a.try_recv().map(|(f, d)| (f, d[8..20].to_vec()))
        );
        // The server's address stays a's for everything else.
        server.send_to(b"\x17\xfe\xfd dtls", from).await.unwrap();
        assert_eq!(recv(&mut a).await.1, b"\x17\xfe\xfd dtls");
    }

    /// Through the ports of a real mux: the attacker's connection answers
    /// the forged check with an error response (to the victim peer's
    /// address), and even sends to that address; the victim peer's
    /// datagrams still reach the victim's connection.
    #[tokio::test]
    async fn another_connections_answers_to_a_forged_check_leave_the_route_alone() {
        let mux = UdpMux::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let mut victim = mux.port();
        let mut attacker = mux.port();
        victim.set_ufrag("vict");
        attacker.set_ufrag("evil");
        let peer = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let peer_addr = peer.local_addr().unwrap();
        peer.send_to(&check("vict"), mux.local_addr())
            .await
            .unwrap();
        assert_eq!(recv(&mut victim).await.0, peer_addr);
        let mut success = check("vict");
        success[0..2].copy_from_slice(&0x0101u16.to_be_bytes());
        victim.send(peer_addr, &success);
        // The forged check, "from" the victim's peer.
        peer.send_to(&check("evil"), mux.local_addr())
            .await
            .unwrap();
        assert_eq!(recv(&mut attacker).await.0, peer_addr);
        let mut error = check("evil");
        error[0..2].copy_from_slice(&0x0111u16.to_be_bytes());
        attacker.send(peer_addr, &error);
        attacker.send(peer_addr, b"\x17\xfe\xfd dtls");
        peer.send_to(b"\x17\xfe\xfd dtls", mux.local_addr())
            .await
            .unwrap();
        let (from, data) = recv(&mut victim).await;
        assert_eq!(
            (from, data.as_slice()),
            (peer_addr, &b"\x17\xfe\xfd dtls"[..])
        );
        assert!(attacker.try_recv().is_none());
    }
}
