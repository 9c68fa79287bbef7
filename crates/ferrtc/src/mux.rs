//! Many peer connections on one UDP port: the routing that a server (an
//! SFU, a bot with many callers) needs to stay within one socket.
//!
//! One task reads the socket and hands each datagram to the connection it
//! belongs to (DESIGN.md, "Data path"):
//! - a STUN Binding request names its connection by the local username
//!   fragment in USERNAME (RFC 8445 §7.2.2), and teaches the router the
//!   address it came from;
//! - everything else (STUN responses, DTLS, SCTP, SRTP) is routed by its
//!   source address: one the connection sent to, or one a check of it came
//!   from.
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

use std::collections::VecDeque;
use std::task::{Context, Poll, Waker};

use crate::net::{SHARED_SOCKET_BUF, UdpSocket};

/// Datagrams queued for one connection before more are dropped (as a full
/// socket buffer would).
const QUEUE: usize = 256;

/// Remote addresses routed to one connection (ICE's own limit on remote
/// candidates is 64).
const MAX_REMOTES: usize = 64;

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
    by_remote: HashMap<SocketAddr, u64>,
    /// The remote addresses routed to each connection, to unroute on drop.
    remotes_of: HashMap<u64, Vec<SocketAddr>>,
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
        let task = tokio::spawn(read(Arc::clone(&shared)));
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
            remotes: Vec::new(),
        }
    }
}

/// The reading task: a burst of reads per wake-up, routed under one lock
/// of the table.
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
    /// Routes datagrams from `remote` to connection `id`, unless the
    /// connection has [`MAX_REMOTES`] already: checks carry a fragment
    /// anyone who saw the SDP knows, so a sender could otherwise grow the
    /// table with every source address it can forge.
    fn route_remote(&mut self, remote: SocketAddr, id: u64) {
        if self.by_remote.get(&remote) == Some(&id) {
            return;
        }
        let remotes = self.remotes_of.entry(id).or_default();
        if remotes.len() >= MAX_REMOTES {
            return;
        }
        remotes.push(remote);
        self.by_remote.insert(remote, id);
    }

    /// Hands `data` from `from` to its connection; false when nobody took it.
    fn deliver(&mut self, from: SocketAddr, data: &[u8]) -> bool {
        let id = match ferrtc_core::check_recipient(data).and_then(|u| self.by_ufrag.get(u)) {
            Some(&id) => {
                // The check's source is the connection's peer from now on.
                self.route_remote(from, id);
                id
            }
            None => match self.by_remote.get(&from) {
                Some(&id) => id,
                None => return false,
            },
        };
        self.connections
            .get(&id)
            .is_some_and(|inbox| inbox.push(from, data))
    }
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
    /// Addresses this connection sent to (already routed here).
    remotes: Vec<SocketAddr>,
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

    /// Sends from the shared socket; answers from `destination` come here.
    pub(crate) fn send(&mut self, destination: SocketAddr, data: &[u8]) {
        if !self.remotes.contains(&destination) {
            self.shared.routes().route_remote(destination, self.id);
            self.remotes.push(destination);
        }
        if let Err(e) = self.shared.socket.try_send(destination, data, None) {
            // A full socket buffer is loss, which the protocols recover from.
            tracing::trace!("send to {destination} failed: {e}");
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
        for r in routes.remotes_of.remove(&self.id).unwrap_or_default() {
            if routes.by_remote.get(&r) == Some(&self.id) {
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
        assert_eq!(routes.remotes_of[&0].len(), MAX_REMOTES);
        // Checks are still delivered; data from an unlearned source is not.
        let stranger = SocketAddr::from(([127, 0, 0, 1], 2000));
        assert!(routes.deliver(stranger, &request));
        assert!(!routes.deliver(stranger, b"\x17\xfe\xfd dtls"));
        let learned = SocketAddr::from(([127, 0, 0, 1], 1));
        assert!(routes.deliver(learned, b"\x17\xfe\xfd dtls"));
    }
}
