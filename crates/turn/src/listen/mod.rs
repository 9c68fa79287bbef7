//! The tokio driver of the TURN [`Server`]: UDP, TCP and TLS listeners
//! (RFC 8656 §3.1), one relay UDP socket per allocation, and the Prometheus
//! counters over HTTP.
//!
//! One [`std::sync::Mutex`] guards the sans-IO server and the socket
//! tables; it is never held across an `.await`, and every send under it is
//! a non-blocking `try_send` (a full socket buffer drops the datagram, as a
//! router would). Each relay socket has a task that receives into one
//! buffer with [`PEER_HEADROOM`] in front, so the ChannelData header or Data
//! indication is written in place and the datagram is sent from there: no
//! copy and no allocation per packet on the UDP path. Over TCP/TLS each
//! message to the client is copied once into the connection's write queue.

mod http;
mod stream;
mod udp;

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;

use crate::server::{
    AllocationId, FiveTuple, Metrics, Output, PEER_HEADROOM, PEER_TAILROOM, PendingId, RelayPort,
    Server, ServerConfig, ServerEvent, Transport,
};

/// Largest UDP payload received.
const MAX_DATAGRAM: usize = 65_535;
/// Socket buffer asked for on listeners and relay sockets.
const SOCKET_BUFFER: usize = 4 << 20;

/// Where to listen and relay.
#[derive(Debug, Clone)]
pub struct ListenConfig {
    /// UDP listeners.
    pub udp: Vec<SocketAddr>,
    /// TCP listeners.
    pub tcp: Vec<SocketAddr>,
    /// TLS listeners, with the certificate chain and key they present.
    pub tls: Vec<SocketAddr>,
    /// The rustls configuration of the TLS listeners (required if `tls` is not empty).
    pub tls_config: Option<Arc<rustls::ServerConfig>>,
    /// The address relay sockets bind to (port 0: the OS picks).
    pub relay_ip: IpAddr,
    /// Where to serve `GET /metrics`, if anywhere.
    pub metrics: Option<SocketAddr>,
}

/// Errors starting the listeners.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// A listener could not bind.
    #[error("cannot listen on {transport} {addr}: {source}")]
    Bind {
        /// "udp", "tcp", "tls" or "http".
        transport: &'static str,
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: io::Error,
    },
    /// TLS listeners without a TLS configuration.
    #[error("TLS listeners need a certificate and key")]
    NoTlsConfig,
}

/// The mutable state behind the lock.
struct Core {
    server: Server,
    relays: HashMap<AllocationId, Relay>,
    /// UDP listeners by bound address.
    udp: HashMap<SocketAddr, Arc<udp::Listener>>,
    streams: HashMap<FiveTuple, stream::Writer>,
    /// Sockets of reserved ports (EVEN-PORT with the R bit), by token.
    reserved: HashMap<u64, UdpSocket>,
    relay_ip: IpAddr,
    out: Vec<u8>,
    /// Datagrams a full socket buffer or write queue refused.
    send_drops: u64,
}

struct Relay {
    socket: Arc<UdpSocket>,
    task: JoinHandle<()>,
    /// The client's 5-tuple: over TCP or TLS, its connection is told when
    /// the allocation goes.
    tuple: FiveTuple,
}

/// What every task shares.
struct Shared {
    core: Mutex<Core>,
    /// TCP and TLS connections open, on every listener.
    connections: std::sync::atomic::AtomicUsize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Core> {
        // A panic in another task must not stop the relay: take the state as it is.
        self.core.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running TURN server: its bound addresses and tasks. Dropping it stops it.
pub struct Running {
    /// UDP listeners, as bound.
    pub udp: Vec<SocketAddr>,
    /// TCP listeners, as bound.
    pub tcp: Vec<SocketAddr>,
    /// TLS listeners, as bound.
    pub tls: Vec<SocketAddr>,
    /// The metrics HTTP listener, as bound.
    pub metrics: Option<SocketAddr>,
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// The server's counters now.
    pub fn metrics(&self) -> Metrics {
        self.shared.lock().server.metrics()
    }

    /// Waits until every listener task ends (they end on a socket error).
    pub async fn wait(mut self) {
        for t in std::mem::take(&mut self.tasks) {
            let _ = t.await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        let mut core = self.shared.lock();
        for (_, r) in core.relays.drain() {
            r.task.abort();
        }
    }
}

fn bind_err(transport: &'static str, addr: SocketAddr) -> impl FnOnce(io::Error) -> ListenError {
    move |source| ListenError::Bind {
        transport,
        addr,
        source,
    }
}

/// A UDP socket with large buffers, non-blocking, for tokio.
fn udp_socket(addr: SocketAddr) -> io::Result<UdpSocket> {
    let domain = socket2::Domain::for_address(addr);
    let s = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    if addr.is_ipv6() {
        let _ = s.set_only_v6(true);
    }
    let _ = s.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = s.set_send_buffer_size(SOCKET_BUFFER);
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    UdpSocket::from_std(s.into())
}

/// Binds every listener and starts serving with `config`. Must be called
/// inside a tokio runtime.
pub async fn start(listen: ListenConfig, mut config: ServerConfig) -> Result<Running, ListenError> {
    if !listen.tls.is_empty() && listen.tls_config.is_none() {
        return Err(ListenError::NoTlsConfig);
    }
    let unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut udp = Vec::new();
    for &addr in &listen.udp {
        let s = udp_socket(addr)
            .and_then(udp::Listener::new)
            .map_err(bind_err("udp", addr))?;
        udp.push((s.local_addr(), Arc::new(s)));
    }
    let mut tcp = Vec::new();
    for &addr in &listen.tcp {
        let l = TcpListener::bind(addr)
            .await
            .map_err(bind_err("tcp", addr))?;
        tcp.push((l.local_addr().map_err(bind_err("tcp", addr))?, l));
    }
    let mut tls = Vec::new();
    for &addr in &listen.tls {
        let l = TcpListener::bind(addr)
            .await
            .map_err(bind_err("tls", addr))?;
        tls.push((l.local_addr().map_err(bind_err("tls", addr))?, l));
    }
    let metrics = match listen.metrics {
        Some(addr) => {
            let l = TcpListener::bind(addr)
                .await
                .map_err(bind_err("http", addr))?;
            Some((l.local_addr().map_err(bind_err("http", addr))?, l))
        }
        None => None,
    };
    // Nothing is relayed to the listeners' addresses. A wildcard names
    // none: the server guards each address a client reached it at (the
    // destination of its datagrams, the 5-tuple's server address) itself.
    let bound = udp.iter().map(|(a, _)| *a);
    let bound = bound.chain(tcp.iter().chain(&tls).map(|(a, _)| *a));
    let bound = bound.chain(metrics.iter().map(|(a, _)| *a));
    for ip in bound.map(|a| a.ip()) {
        if !ip.is_unspecified() && !config.own_addresses.contains(&ip) {
            config.own_addresses.push(ip);
        }
    }
    // Nor to a UDP listener itself, whatever the policy: the server
    // talking to itself (over TCP/TLS, a client may relay to it too).
    for (addr, _) in &udp {
        if !config.udp_listeners.contains(addr) {
            config.udp_listeners.push(*addr);
        }
    }
    let shared = Arc::new(Shared {
        core: Mutex::new(Core {
            server: Server::new(config, Instant::now(), unix),
            relays: HashMap::new(),
            udp: udp.iter().map(|(a, s)| (*a, s.clone())).collect(),
            streams: HashMap::new(),
            reserved: HashMap::new(),
            relay_ip: listen.relay_ip,
            out: Vec::with_capacity(1024),
            send_drops: 0,
        }),
        connections: std::sync::atomic::AtomicUsize::new(0),
    });
    let mut running = Running {
        udp: udp.iter().map(|(a, _)| *a).collect(),
        tcp: tcp.iter().map(|(a, _)| *a).collect(),
        tls: tls.iter().map(|(a, _)| *a).collect(),
        metrics: metrics.as_ref().map(|(a, _)| *a),
        shared: shared.clone(),
        tasks: Vec::new(),
    };
    for (local, socket) in udp {
        running
            .tasks
            .push(tokio::spawn(serve_udp(shared.clone(), local, socket)));
    }
    for (local, l) in tcp {
        running
            .tasks
            .push(tokio::spawn(stream::accept(shared.clone(), local, l, None)));
    }
    for (local, l) in tls {
        let acceptor = listen
            .tls_config
            .clone()
            .map(tokio_rustls::TlsAcceptor::from);
        running.tasks.push(tokio::spawn(stream::accept(
            shared.clone(),
            local,
            l,
            acceptor,
        )));
    }
    if let Some((_, l)) = metrics {
        running
            .tasks
            .push(tokio::spawn(http::serve(shared.clone(), l)));
    }
    running.tasks.push(tokio::spawn(timers(shared.clone())));
    Ok(running)
}

/// Expires allocations, permissions and channels once a second.
async fn timers(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let mut core = shared.lock();
        core.server.handle_timeout(Instant::now());
        core.close_relays();
    }
}

impl Core {
    /// Closes the relay sockets of allocations the server let go.
    fn close_relays(&mut self) {
        while let Some(event) = self.server.poll_event() {
            match event {
                ServerEvent::Closed(id) => {
                    if let Some(r) = self.relays.remove(&id) {
                        r.task.abort();
                        // Its connection now has `ALLOCATE_WITHIN` to
                        // allocate again, or closes.
                        if let Some(w) = self.streams.get(&r.tuple) {
                            w.allocation_gone();
                        }
                    }
                }
                ServerEvent::ReservationExpired(token) => {
                    self.reserved.remove(&token);
                }
            }
        }
    }

    /// The UDP listener that received on `server`: the one bound there, or
    /// the wildcard one of its family and port.
    fn udp_listener(&self, server: SocketAddr) -> Option<&udp::Listener> {
        let wildcard = match server {
            SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        let listener = self.udp.get(&server);
        let listener = listener.or_else(|| self.udp.get(&SocketAddr::new(wildcard, server.port())));
        listener.map(|l| &**l)
    }

    /// Sends `bytes` to the client of `tuple`: over UDP from the server
    /// address of its 5-tuple (RFC 8489 §6.3, RFC 8656 §2: the address the
    /// client sent to, also on a wildcard listener), or into its
    /// connection's write queue.
    fn send_to_client(&mut self, tuple: FiveTuple, bytes: &[u8]) {
        let sent = match tuple.transport {
            Transport::Udp => self
                .udp_listener(tuple.server)
                .is_some_and(|l| l.try_send(tuple.server, tuple.client, bytes).is_ok()),
            Transport::Tcp | Transport::Tls => {
                self.streams.get(&tuple).is_some_and(|w| w.try_send(bytes))
            }
        };
        if !sent {
            self.send_drops += 1;
        }
    }

    /// Runs one message from a client through the server and acts on the
    /// output. `shared` is for the relay tasks it may start.
    fn client_message(&mut self, shared: &Arc<Shared>, tuple: FiveTuple, msg: &[u8]) {
        let mut out = std::mem::take(&mut self.out);
        match self
            .server
            .handle_client(Instant::now(), tuple, msg, &mut out)
        {
            Output::Nothing => {}
            Output::Reply => {
                self.send_to_client(tuple, &out);
                self.close_relays();
            }
            Output::Relay {
                allocation,
                peer,
                data,
            } => {
                let sent = match (self.relays.get(&allocation), msg.get(data)) {
                    (Some(r), Some(d)) => r.socket.try_send_to(d, peer).is_ok(),
                    _ => false,
                };
                if !sent {
                    self.send_drops += 1;
                }
            }
            Output::OpenRelay { pending, port } => self.open_relay(shared, pending, port, &mut out),
        }
        self.out = out;
    }

    /// Binds a relay socket for a pending Allocate (RFC 8656 §7.2: the
    /// port the OS gives, an even one, or a reserved one), starts its task
    /// and answers the client.
    fn open_relay(
        &mut self,
        shared: &Arc<Shared>,
        pending: PendingId,
        port: RelayPort,
        out: &mut Vec<u8>,
    ) {
        let mut reserved_next = None;
        let socket = match port {
            RelayPort::Any => udp_socket(SocketAddr::new(self.relay_ip, 0)).ok(),
            RelayPort::Even => bind_even(self.relay_ip, false).map(|(s, _)| s),
            RelayPort::EvenReserveNext => bind_even(self.relay_ip, true).map(|(s, next)| {
                reserved_next = next;
                s
            }),
            RelayPort::Reserved(token) => self.reserved.remove(&token),
        };
        let socket = socket.and_then(|s| Some((s.local_addr().ok()?, Arc::new(s))));
        if socket.is_none() {
            tracing::warn!("cannot bind a relay socket ({port:?}) on {}", self.relay_ip);
        }
        let relayed = socket.as_ref().map(|(a, _)| *a);
        let Some(opened) = self
            .server
            .relay_opened(Instant::now(), pending, relayed, out)
        else {
            return;
        };
        if let (Some(id), Some((_, socket))) = (opened.allocation, socket) {
            let task = tokio::spawn(serve_relay(shared.clone(), id, socket.clone()));
            self.relays.insert(
                id,
                Relay {
                    socket,
                    task,
                    tuple: opened.tuple,
                },
            );
        }
        if let (Some(token), Some(next)) = (opened.reservation, reserved_next) {
            self.reserved.insert(token, next);
        }
        self.send_to_client(opened.tuple, out);
    }
}

/// Binds an even relay port (RFC 8656 §14.7) and, with `reserve_next`, the
/// port above it too: asks the OS for ports until one fits (at most 64 tries).
fn bind_even(ip: IpAddr, reserve_next: bool) -> Option<(UdpSocket, Option<UdpSocket>)> {
    for _ in 0..64 {
        let Ok(s) = udp_socket(SocketAddr::new(ip, 0)) else {
            continue;
        };
        let Ok(port) = s.local_addr().map(|a| a.port()) else {
            continue;
        };
        if port % 2 != 0 || port == u16::MAX {
            continue;
        }
        if !reserve_next {
            return Some((s, None));
        }
        if let Ok(next) = udp_socket(SocketAddr::new(ip, port + 1)) {
            return Some((s, Some(next)));
        }
    }
    None
}

/// The UDP listener: every datagram is a client message (RFC 8656 §3.1),
/// of the 5-tuple of its source and the address it was sent to.
async fn serve_udp(shared: Arc<Shared>, local: SocketAddr, socket: Arc<udp::Listener>) {
    // Room for a read coalesced by receive offload (at most 64 KiB).
    let mut buf = vec![0u8; MAX_DATAGRAM + 1];
    loop {
        if let Err(e) = socket.readable().await {
            tracing::error!("udp {local}: {e}");
            return;
        }
        let mut flow = Flow::Full;
        {
            let mut core = shared.lock();
            for _ in 0..RELAY_BATCH {
                let got = match socket.try_recv(&mut buf) {
                    Ok(r) => r,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        flow = Flow::Drained;
                        break;
                    }
                    Err(e) if is_reset(&e) => continue,
                    Err(e) => {
                        tracing::error!("udp {local}: {e}");
                        flow = Flow::Fatal;
                        break;
                    }
                };
                let tuple = FiveTuple {
                    transport: Transport::Udp,
                    client: got.from,
                    server: got.to,
                };
                // One message per datagram (an empty one too: counted as malformed).
                let mut at = 0;
                loop {
                    let end = got.len.min(at + got.segment);
                    core.client_message(&shared, tuple, &buf[at..end]);
                    at = end;
                    if at >= got.len {
                        break;
                    }
                }
            }
        }
        match flow {
            Flow::Drained => {}
            Flow::Full => tokio::task::yield_now().await,
            Flow::Fatal => return,
        }
    }
}

thread_local! {
    /// The receive buffer of every relay socket on this thread, with
    /// [`PEER_HEADROOM`] in front and [`PEER_TAILROOM`] behind: relay tasks
    /// wait for readiness without a buffer and receive into this one, so an
    /// allocation costs no buffer of its own.
    static RELAY_BUF: std::cell::RefCell<Vec<u8>> =
        std::cell::RefCell::new(vec![0u8; PEER_HEADROOM + MAX_DATAGRAM + PEER_TAILROOM]);
}

/// Most datagrams handled per wake-up of one relay socket before yielding.
const RELAY_BATCH: usize = 64;

/// One allocation's relay socket: datagrams from peers, framed in place for
/// the client (RFC 8656 §11.3, §12.5) and sent from the same buffer.
async fn serve_relay(shared: Arc<Shared>, id: AllocationId, socket: Arc<UdpSocket>) {
    loop {
        if socket.readable().await.is_err() {
            return;
        }
        let flow = RELAY_BUF.with_borrow_mut(|buf| {
            let end = PEER_HEADROOM + MAX_DATAGRAM;
            let mut core = shared.lock();
            for _ in 0..RELAY_BATCH {
                let (n, peer) = match socket.try_recv_from(&mut buf[PEER_HEADROOM..end]) {
                    Ok(r) => r,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Flow::Drained,
                    Err(e) if is_reset(&e) => continue,
                    Err(_) => return Flow::Fatal,
                };
                let data = PEER_HEADROOM..PEER_HEADROOM + n;
                if let Some(to) = core.server.handle_peer(Instant::now(), id, peer, buf, data) {
                    core.send_to_client(to.tuple, &buf[to.message]);
                }
            }
            Flow::Full
        });
        match flow {
            Flow::Drained => {}
            // Let the other sockets run after a full batch.
            Flow::Full => tokio::task::yield_now().await,
            Flow::Fatal => return,
        }
    }
}

/// How a batch of receives ended.
enum Flow {
    /// The socket has nothing more now.
    Drained,
    /// The batch is full; more may wait.
    Full,
    /// The socket is broken.
    Fatal,
}

/// ICMP port unreachable from a client or peer that went away (Linux
/// reports it on the next receive, Windows as a reset): not the socket's fault.
fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset
    )
}

/// A rustls server configuration (aws-lc-rs provider, TLS 1.2 and 1.3) from
/// a PEM certificate chain and a PEM private key, for `turns:` listeners.
pub fn tls_config(cert_pem: &[u8], key_pem: &[u8]) -> Result<Arc<rustls::ServerConfig>, String> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("certificate: {e}"))?;
    if certs.is_empty() {
        return Err("certificate: no CERTIFICATE block in the PEM file".into());
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| format!("key: {e}"))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("certificate and key: {e}"))?;
    Ok(Arc::new(config))
}
