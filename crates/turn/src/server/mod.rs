//! A sans-IO TURN server (RFC 8656): long-term credentials (RFC 8489 §9.2)
//! with stateless nonces, the allocation table, permissions, channels,
//! Send/Data indications and ChannelData, quotas, and counters.
//!
//! The [`Server`] owns no socket and no clock. Its driver (the `listen`
//! module, or a test):
//! - feeds every datagram (or TCP/TLS frame) from a client to
//!   [`Server::handle_client`] with its [`FiveTuple`], and acts on the
//!   [`Output`]: a reply in `out` back to the client, data to relay from an
//!   allocation's relay socket to a peer, or a relay socket to open
//!   (then [`Server::relay_opened`]);
//! - feeds every datagram a relay socket receives to [`Server::handle_peer`]
//!   in a buffer with [`PEER_HEADROOM`] bytes before the data: the
//!   ChannelData header or Data indication is written there in place;
//! - calls [`Server::handle_timeout`] at [`Server::poll_timeout`] and closes
//!   the relay sockets of [`ServerEvent::Closed`] allocations.

mod allocation;
mod auth;
mod metrics;
mod own;
mod policy;

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::time::{Duration, Instant};

use ferrtc_stun::{
    AddressFamily, Attribute, Class, Error as StunError, Message, MessageBuilder, Method,
    PasswordAlgorithm, PasswordAlgorithmValue, PasswordAlgorithms, TransactionId,
    UnknownAttributes, attribute_type as t, long_term_key,
};

use crate::{ChannelData, is_channel_data};
use allocation::{Allocation, BindError, TokenBucket};
pub use allocation::{AllocationId, SERVER_CHANNEL_LIFETIME, SERVER_PERMISSION_LIFETIME};
pub use auth::{Credentials, rest_password};
use auth::{LookupError, NonceCheck, Nonces};
pub use ferrtc_stun::AddressFamily as RelayFamily;
pub use metrics::{AuthFailure, Drop, Metrics};
pub use policy::{Forbidden, PeerPolicy};

/// Room a relay buffer must leave before the data for [`Server::handle_peer`]:
/// a STUN header, XOR-PEER-ADDRESS of an IPv6 peer and the DATA attribute
/// header (RFC 8656 §11.3, §12.5).
pub const PEER_HEADROOM: usize = 20 + 24 + 4;
/// Room after the data: padding to 4 bytes (RFC 8489 §14, RFC 8656 §12.5).
pub const PEER_TAILROOM: usize = 3;
/// REQUESTED-TRANSPORT value for UDP (RFC 8656 §18.8): IP protocol 17.
const UDP: u8 = 17;

/// How a client reaches the server (RFC 8656 §3.1, §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// Datagrams on the UDP listener.
    Udp,
    /// A TCP connection: messages are framed, ChannelData padded (§12.5).
    Tcp,
    /// TLS over TCP (`turns:`), framed as TCP.
    Tls,
}

impl Transport {
    /// Whether messages travel on a byte stream (TCP or TLS).
    pub const fn is_stream(self) -> bool {
        !matches!(self, Transport::Udp)
    }
}

/// The client side of an allocation's 5-tuple (RFC 8656 §2): transport,
/// client address, server address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FiveTuple {
    /// UDP, TCP or TLS.
    pub transport: Transport,
    /// The client's address as the server sees it.
    pub client: SocketAddr,
    /// The server's address the client talks to: the listener's, or for
    /// a UDP listener on a wildcard address, the address the client's
    /// datagrams were sent to (answers leave from it, RFC 8489 §6.3).
    pub server: SocketAddr,
}

/// Limits that keep the server's memory and bandwidth bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    /// Allocations one user may hold at once (486 Allocation Quota Reached).
    pub user_allocations: u32,
    /// Allocations on the server (508 Insufficient Capacity).
    pub total_allocations: u32,
    /// Bytes per second one user may relay, both directions together, with
    /// one second of burst; 0 is unlimited. Excess datagrams are dropped.
    pub user_bandwidth: u64,
    /// Permissions per allocation (508 past it).
    pub permissions: usize,
    /// Channel bindings per allocation (508 past it).
    pub channels: usize,
}

impl Default for Quotas {
    /// 10 allocations per user, 10,000 in all, 16 MiB/s per user, 64
    /// permissions and 64 channels per allocation.
    fn default() -> Quotas {
        Quotas {
            user_allocations: 10,
            total_allocations: 10_000,
            user_bandwidth: 16 << 20,
            permissions: 64,
            channels: 64,
        }
    }
}

/// What a [`Server`] needs to know.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The REALM of the long-term credentials (RFC 8489 §9.2).
    pub realm: String,
    /// Who may allocate.
    pub credentials: Credentials,
    /// Which peers may be relayed to (RFC 8656 §21.3).
    pub policy: PeerPolicy,
    /// The family of the relay addresses (REQUESTED-ADDRESS-FAMILY other
    /// than this gets 440, RFC 8656 §7.2).
    pub relay_family: AddressFamily,
    /// Key of the nonce MACs: servers that share it accept each other's nonces.
    pub nonce_key: Vec<u8>,
    /// How long a nonce stays valid (438 Stale Nonce after).
    pub nonce_lifetime: Duration,
    /// Allocation lifetime when the client asks for less (RFC 8656 §7.2: 600 s).
    pub default_lifetime: Duration,
    /// Longest allocation lifetime granted (3600 s).
    pub max_lifetime: Duration,
    /// Limits.
    pub quotas: Quotas,
    /// Largest request accepted (bigger ones get 400); indications and
    /// ChannelData may be as large as their framing allows.
    pub max_request_len: usize,
    /// SOFTWARE attribute of responses (RFC 8489 §14.14), if any.
    pub software: Option<String>,
    /// This host's other addresses, such as its listeners' (the
    /// [`crate::listen`] driver adds those it binds): nothing is relayed to
    /// them, as to the relay addresses (RFC 8656 §21.3: TURN within TURN,
    /// or a service on this host), unless the policy opens them (loopback,
    /// private). The server address of every allocation's 5-tuple (where
    /// its client reached the server, also on a wildcard listener, which
    /// binds no address to add here) is guarded the same way without being
    /// listed, and a UDP one's address and port are refused even where the
    /// policy opens the IP (a TCP/TLS listener's port number may be a UDP
    /// socket's too).
    pub own_addresses: Vec<IpAddr>,
    /// This server's UDP listener addresses (the [`crate::listen`] driver
    /// adds those it binds; a wildcard one names its port): data to one of
    /// them (for a wildcard one, to its port on any of this server's own or
    /// loopback addresses) is the server talking to itself, refused
    /// whatever the policy opens (RFC 8656 §21.3).
    pub udp_listeners: Vec<SocketAddr>,
}

impl ServerConfig {
    /// A configuration with the defaults of RFC 8656 and [`Quotas::default`]:
    /// IPv4 relays, nonces valid 10 minutes, nothing relayed to loopback or
    /// private addresses.
    pub fn new(realm: &str, credentials: Credentials, nonce_key: &[u8]) -> ServerConfig {
        ServerConfig {
            realm: realm.to_owned(),
            credentials,
            policy: PeerPolicy::default(),
            relay_family: AddressFamily::Ipv4,
            nonce_key: nonce_key.to_vec(),
            nonce_lifetime: Duration::from_secs(600),
            default_lifetime: Duration::from_secs(600),
            max_lifetime: Duration::from_secs(3600),
            quotas: Quotas::default(),
            max_request_len: 4096,
            software: Some(concat!("ferrtc-turn ", env!("CARGO_PKG_VERSION")).to_owned()),
            own_addresses: Vec::new(),
            udp_listeners: Vec::new(),
        }
    }
}

/// An Allocate waiting for its relay socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PendingId(pub u64);

/// What the driver does after [`Server::handle_client`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Nothing to send (dropped and counted, or waiting).
    Nothing,
    /// `out` holds a STUN response for the client, on its 5-tuple.
    Reply,
    /// Send `datagram[data]` from the relay socket of `allocation` to `peer`.
    Relay {
        /// Whose relay socket.
        allocation: AllocationId,
        /// Where to.
        peer: SocketAddr,
        /// The application data within the datagram given.
        data: Range<usize>,
    },
    /// Bind a UDP socket on the relay address as `port` says, then call
    /// [`Server::relay_opened`] with `pending`.
    OpenRelay {
        /// The Allocate waiting.
        pending: PendingId,
        /// Which port.
        port: RelayPort,
    },
}

/// Which relay port an Allocate asks for (RFC 8656 §7.2, §14.7 EVEN-PORT,
/// §14.9 RESERVATION-TOKEN).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayPort {
    /// Any port the OS gives (bind port 0).
    Any,
    /// An even port.
    Even,
    /// An even port P, and P + 1 reserved for a later Allocate: the driver
    /// keeps that second socket under the token [`Opened::reservation`] gives.
    EvenReserveNext,
    /// The socket the driver keeps under this reservation token.
    Reserved(u64),
}

/// The outcome of [`Server::relay_opened`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opened {
    /// Send the response in `out` on this 5-tuple.
    pub tuple: FiveTuple,
    /// The allocation, or `None` if it failed (a 508 is in `out`).
    pub allocation: Option<AllocationId>,
    /// For [`RelayPort::EvenReserveNext`]: the token to keep the reserved
    /// socket under (until [`ServerEvent::ReservationExpired`] or a
    /// [`RelayPort::Reserved`] takes it).
    pub reservation: Option<u64>,
}

/// How long a reserved port waits for its Allocate (RFC 8656 §7.2: about 30 s).
pub const RESERVATION_LIFETIME: Duration = Duration::from_secs(30);

/// What happened in the table, for the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerEvent {
    /// A reserved port was not claimed in time: close its socket.
    ReservationExpired(u64),
    /// The allocation is gone (expired or deleted): close its relay socket.
    Closed(AllocationId),
}

/// Data from a peer, framed for the client by [`Server::handle_peer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToClient {
    /// The allocation's 5-tuple: send on it.
    pub tuple: FiveTuple,
    /// The ChannelData message or Data indication within the buffer given.
    pub message: Range<usize>,
}

/// The key and MAC of an authenticated request: its response is signed
/// the same way (RFC 8489 §9.2.4).
#[derive(Debug, Clone)]
struct Signer {
    key: Vec<u8>,
    sha256: bool,
}

/// An authenticated request's user.
struct Authed {
    username: String,
    signer: Signer,
}

/// The attributes of a request that the server looks at, read in one pass.
#[derive(Default)]
struct Attrs<'a> {
    username: Option<&'a str>,
    realm: Option<&'a str>,
    nonce: Option<&'a str>,
    algorithm: Option<PasswordAlgorithmValue<'a>>,
    algorithms: Option<PasswordAlgorithms<'a>>,
    lifetime: Option<u32>,
    peers: Vec<SocketAddr>,
    channel: Option<u16>,
    transport: Option<u8>,
    family: Option<AddressFamily>,
    even_port: Option<bool>,
    reservation: Option<u64>,
    data: Option<&'a [u8]>,
    fingerprint: bool,
}

impl<'a> Attrs<'a> {
    fn read(msg: &Message<'a>) -> Result<Attrs<'a>, StunError> {
        let mut a = Attrs::default();
        for attr in msg.attributes() {
            match attr? {
                Attribute::Username(u) => a.username = Some(u),
                Attribute::Realm(r) => a.realm = Some(r),
                Attribute::Nonce(n) => a.nonce = Some(n),
                Attribute::PasswordAlgorithm(v) => a.algorithm = Some(v),
                Attribute::PasswordAlgorithms(v) => a.algorithms = Some(v),
                Attribute::Lifetime(l) => a.lifetime = Some(l),
                Attribute::XorPeerAddress(p) => a.peers.push(p),
                Attribute::ChannelNumber(c) => a.channel = Some(c),
                Attribute::RequestedTransport(p) => a.transport = Some(p),
                Attribute::RequestedAddressFamily(f) => a.family = Some(f),
                Attribute::EvenPort { reserve } => a.even_port = Some(reserve),
                Attribute::ReservationToken(t) => a.reservation = Some(t),
                Attribute::Data(d) => a.data = Some(d),
                Attribute::Fingerprint(_) => a.fingerprint = true,
                _ => {}
            }
        }
        Ok(a)
    }
}

/// A user with allocations: their count and shared bandwidth bucket.
#[derive(Debug)]
struct User {
    name: String,
    allocations: u32,
    bucket: TokenBucket,
}

/// An Allocate accepted, waiting for the driver's relay socket.
#[derive(Debug)]
struct Pending {
    tuple: FiveTuple,
    tid: TransactionId,
    user: usize,
    /// The USERNAME the allocation is bound to (RFC 8656 §6.2: later
    /// requests must use it; 441 otherwise), `expiry:name` for the REST API.
    username: String,
    signer: Signer,
    lifetime: u32,
    fingerprint: bool,
    port: RelayPort,
}

/// The reason phrase of an error code (RFC 8489 §14.8, RFC 8656 §19).
fn reason(code: u16) -> &'static str {
    match code {
        400 => "Bad Request",
        401 => "Unauthenticated",
        403 => "Forbidden",
        420 => "Unknown Attribute",
        437 => "Allocation Mismatch",
        438 => "Stale Nonce",
        440 => "Address Family not Supported",
        441 => "Wrong Credentials",
        442 => "Unsupported Transport Protocol",
        443 => "Peer Address Family Mismatch",
        486 => "Allocation Quota Reached",
        508 => "Insufficient Capacity",
        _ => "Server Error",
    }
}

/// The PASSWORD-ALGORITHMS the server offers (RFC 8489 §9.2.4), preferred first.
const OFFERED: [PasswordAlgorithmValue<'static>; 2] = [
    PasswordAlgorithmValue {
        algorithm: 0x0002,
        parameters: &[],
    },
    PasswordAlgorithmValue {
        algorithm: 0x0001,
        parameters: &[],
    },
];

/// A sans-IO TURN server: see the module documentation for how to drive it.
#[derive(Debug)]
pub struct Server {
    config: ServerConfig,
    nonces: Nonces,
    /// Unix time at `epoch`, to turn an `Instant` into wall-clock seconds
    /// (nonce and REST credential expiry).
    unix_epoch: u64,
    epoch: Instant,
    allocations: HashMap<AllocationId, Allocation>,
    /// The relayed addresses of the allocations, and how many are on each
    /// IP: data to one of those IPs may only go to a relay socket (two
    /// clients of this server relaying to each other), never to another
    /// port there (the listeners: TURN in TURN; any local service).
    relayed: std::collections::HashSet<SocketAddr>,
    relay_ips: own::Counted<IpAddr>,
    /// The server addresses of the allocations' 5-tuples: the listener
    /// addresses clients reached, also those of a wildcard listener.
    listeners: own::Listeners,
    by_tuple: HashMap<FiveTuple, AllocationId>,
    pending: HashMap<PendingId, Pending>,
    pending_by_tuple: HashMap<FiveTuple, (PendingId, TransactionId)>,
    /// Reserved ports (RFC 8656 §7.2 EVEN-PORT R bit): token, expiry.
    reservations: HashMap<u64, Instant>,
    users: HashMap<String, usize>,
    user_slots: Vec<Option<User>>,
    free_slots: Vec<usize>,
    next_id: u64,
    events: VecDeque<ServerEvent>,
    metrics: Metrics,
    /// Scratch for the Data indication header (reused: no allocation per packet).
    scratch: Vec<u8>,
}

impl Server {
    /// A server started at `now`, when the wall clock read `unix_now`
    /// seconds since 1970.
    pub fn new(config: ServerConfig, now: Instant, unix_now: u64) -> Server {
        Server {
            nonces: Nonces::new(&config.nonce_key, config.nonce_lifetime),
            config,
            unix_epoch: unix_now,
            epoch: now,
            allocations: HashMap::new(),
            relayed: std::collections::HashSet::new(),
            relay_ips: own::Counted::default(),
            listeners: own::Listeners::default(),
            by_tuple: HashMap::new(),
            pending: HashMap::new(),
            pending_by_tuple: HashMap::new(),
            reservations: HashMap::new(),
            users: HashMap::new(),
            user_slots: Vec::new(),
            free_slots: Vec::new(),
            next_id: 1,
            events: VecDeque::new(),
            metrics: Metrics::default(),
            scratch: Vec::with_capacity(64),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The counters now.
    pub fn metrics(&self) -> Metrics {
        let mut m = self.metrics.clone();
        m.allocations_current = self.allocations.len() as u64;
        m
    }

    /// Whether the 5-tuple has an allocation (a TCP/TLS connection
    /// without one is only waiting to authenticate).
    pub fn has_allocation(&self, tuple: FiveTuple) -> bool {
        self.by_tuple.contains_key(&tuple)
    }

    /// Allocations alive.
    pub fn allocation_count(&self) -> usize {
        self.allocations.len()
    }

    /// The relayed address of an allocation.
    pub fn relayed_address(&self, id: AllocationId) -> Option<SocketAddr> {
        self.allocations.get(&id).map(|a| a.relayed)
    }

    fn unix(&self, now: Instant) -> u64 {
        self.unix_epoch + now.saturating_duration_since(self.epoch).as_secs()
    }

    fn next(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Handles one message from a client: a STUN request or indication, or
    /// ChannelData (over TCP/TLS the driver has cut the stream into
    /// messages, RFC 8656 §12.5). Replies go into `out`.
    pub fn handle_client(
        &mut self,
        now: Instant,
        tuple: FiveTuple,
        datagram: &[u8],
        out: &mut Vec<u8>,
    ) -> Output {
        if is_channel_data(datagram) {
            return self.channel_data(now, tuple, datagram);
        }
        let Ok(msg) = Message::parse(datagram) else {
            self.metrics.drop(Drop::Malformed);
            return Output::Nothing;
        };
        if msg.has_fingerprint() && msg.verify_fingerprint().is_err() {
            self.metrics.drop(Drop::Malformed);
            return Output::Nothing;
        }
        match msg.class() {
            Class::Request => self.request(now, tuple, &msg, out),
            Class::Indication if msg.method() == Method::SEND => {
                self.send_indication(now, tuple, &msg, datagram)
            }
            _ => {
                self.metrics.drop(Drop::Unexpected);
                Output::Nothing
            }
        }
    }

    fn request(
        &mut self,
        now: Instant,
        tuple: FiveTuple,
        msg: &Message<'_>,
        out: &mut Vec<u8>,
    ) -> Output {
        let (method, tid) = (msg.method(), msg.transaction_id());
        let fp = msg.has_fingerprint();
        if msg.as_bytes().len() > self.config.max_request_len {
            return self.error(out, method, tid, 400, None, None, fp, now);
        }
        // RFC 8489 §6.3.1: unknown comprehension-required attributes get a
        // 420; so does DONT-FRAGMENT, which this server cannot honour
        // (RFC 8656 §7.2 step 3). Checked once authentication is done
        // (RFC 8489 §6.3), so the 420 is signed like any answer to an
        // authenticated request (§9.2.4).
        let mut unknown: Vec<u16> = msg.unknown_comprehension_required().take(16).collect();
        if method == Method::ALLOCATE && msg.attribute(t::DONT_FRAGMENT).is_some() {
            unknown.push(t::DONT_FRAGMENT);
        }
        let attrs = match Attrs::read(msg) {
            Ok(a) => a,
            Err(_) => return self.error(out, method, tid, 400, None, None, fp, now),
        };
        if method == Method::BINDING {
            // Binding is not authenticated: unknown attributes first.
            if !unknown.is_empty() {
                return self.unknown_attributes(out, method, tid, &unknown, None, fp);
            }
            // A TURN server is a STUN server too (RFC 8656 §2.1).
            let client = tuple.client;
            return self.write(
                out,
                |b| {
                    let mut b = MessageBuilder::new(b, Class::SuccessResponse, method, tid);
                    b.add(&Attribute::XorMappedAddress(client))?;
                    Ok(b)
                },
                None,
                fp,
            );
        }
        if ![
            Method::ALLOCATE,
            Method::REFRESH,
            Method::CREATE_PERMISSION,
            Method::CHANNEL_BIND,
        ]
        .contains(&method)
        {
            return self.error(out, method, tid, 400, None, None, fp, now);
        }
        let authed = match self.authenticate(now, tuple, msg, &attrs) {
            Ok(a) => a,
            Err((code, challenge)) => {
                let challenge = challenge.then_some(tuple.client.ip());
                return self.error(out, method, tid, code, None, challenge, fp, now);
            }
        };
        if !unknown.is_empty() {
            let signer = Some(&authed.signer);
            return self.unknown_attributes(out, method, tid, &unknown, signer, fp);
        }
        let result = match method {
            Method::ALLOCATE => self.allocate(now, tuple, tid, &attrs, authed, fp),
            Method::REFRESH => self
                .refresh(now, tuple, &attrs, &authed)
                .map(|lifetime| (lifetime, authed)),
            Method::CREATE_PERMISSION => self
                .create_permission(now, tuple, &attrs, &authed)
                .map(|()| (None, authed)),
            _ => self
                .channel_bind(now, tuple, &attrs, &authed)
                .map(|()| (None, authed)),
        };
        match result {
            Err((code, signer)) => {
                self.error(out, method, tid, code, signer.as_ref(), None, fp, now)
            }
            Ok((Some(Step::Open(pending)), _)) => match self.pending.get(&pending) {
                Some(p) => Output::OpenRelay {
                    pending,
                    port: p.port,
                },
                None => Output::Nothing,
            },
            Ok((Some(Step::Allocated(id)), authed)) => {
                // A retransmission: its first answer, the token included
                // while the port is still reserved.
                let token = self
                    .allocations
                    .get(&id)
                    .and_then(|a| a.reservation)
                    .filter(|t| self.reservations.get(t).is_some_and(|e| *e > now));
                self.allocate_success(out, id, tuple, tid, &authed.signer, fp, now, token)
            }
            Ok((Some(Step::Lifetime(lifetime)), authed)) => self.write(
                out,
                |b| {
                    let mut b = MessageBuilder::new(b, Class::SuccessResponse, method, tid);
                    b.add(&Attribute::Lifetime(lifetime))?;
                    Ok(b)
                },
                Some(&authed.signer),
                fp,
            ),
            Ok((None, authed)) => self.write(
                out,
                |b| Ok(MessageBuilder::new(b, Class::SuccessResponse, method, tid)),
                Some(&authed.signer),
                fp,
            ),
        }
    }

    /// Long-term credential checks of RFC 8489 §9.2.4. The error is the code
    /// and whether to challenge (REALM, NONCE, PASSWORD-ALGORITHMS).
    fn authenticate(
        &mut self,
        now: Instant,
        tuple: FiveTuple,
        msg: &Message<'_>,
        a: &Attrs<'_>,
    ) -> Result<Authed, (u16, bool)> {
        let sha256 = msg.has_message_integrity_sha256();
        if !sha256 && !msg.has_message_integrity() {
            return Err((401, true));
        }
        let (Some(username), Some(realm), Some(nonce)) = (a.username, a.realm, a.nonce) else {
            self.metrics.auth_failure(AuthFailure::Malformed);
            return Err((400, false));
        };
        match self.nonces.check(nonce, self.unix(now), tuple.client.ip()) {
            NonceCheck::Valid => {}
            NonceCheck::Expired => {
                self.metrics.auth_failure(AuthFailure::StaleNonce);
                return Err((438, true));
            }
            NonceCheck::Invalid => {
                self.metrics.auth_failure(AuthFailure::InvalidNonce);
                return Err((438, true));
            }
        }
        // Our nonces carry the "password algorithms" feature bit: the
        // request either names none (MD5) or echoes our list and picks one.
        let alg = match (a.algorithms, a.algorithm) {
            (None, None) => PasswordAlgorithm::Md5,
            (Some(list), Some(chosen)) => {
                let known = chosen
                    .known()
                    .filter(|_| OFFERED.iter().any(|o| o.algorithm == chosen.algorithm));
                match known {
                    Some(alg) if list.iter().eq(OFFERED.iter().copied()) => alg,
                    _ => {
                        self.metrics.auth_failure(AuthFailure::Malformed);
                        return Err((400, false));
                    }
                }
            }
            _ => {
                self.metrics.auth_failure(AuthFailure::Malformed);
                return Err((400, false));
            }
        };
        let password = match self.config.credentials.password(username, self.unix(now)) {
            Ok(p) => p,
            Err(LookupError::UnknownUser) => {
                self.metrics.auth_failure(AuthFailure::UnknownUser);
                return Err((401, true));
            }
            Err(LookupError::Expired) => {
                self.metrics.auth_failure(AuthFailure::ExpiredCredential);
                return Err((401, true));
            }
        };
        let key = long_term_key(username, &self.config.realm, &password, alg);
        let ok = realm == self.config.realm
            && if sha256 {
                msg.verify_message_integrity_sha256(&key).is_ok()
            } else {
                msg.verify_message_integrity(&key).is_ok()
            };
        if !ok {
            self.metrics.auth_failure(AuthFailure::BadIntegrity);
            return Err((401, true));
        }
        Ok(Authed {
            username: username.to_owned(),
            signer: Signer { key, sha256 },
        })
    }

    /// The allocation of `tuple`, if it belongs to the authenticated user
    /// (437 without one, 441 for another user's, RFC 8656 §5, §7.2).
    fn owned(
        &mut self,
        tuple: FiveTuple,
        authed: &Authed,
    ) -> Result<AllocationId, (u16, Option<Signer>)> {
        let signer = Some(authed.signer.clone());
        let id = *self.by_tuple.get(&tuple).ok_or((437, signer.clone()))?;
        let alloc = self.allocations.get(&id).ok_or((437, signer.clone()))?;
        if alloc.username != authed.username {
            self.metrics.auth_failure(AuthFailure::WrongCredentials);
            return Err((441, signer));
        }
        Ok(id)
    }

    /// The lifetime granted for a requested one (RFC 8656 §7.2, §8.2):
    /// the default if less is asked, at most the maximum.
    fn grant(&self, requested: Option<u32>) -> u32 {
        let default = self.config.default_lifetime.as_secs() as u32;
        let max = self.config.max_lifetime.as_secs() as u32;
        requested.unwrap_or(default).clamp(default.min(max), max)
    }

    /// Allocate (RFC 8656 §7.2).
    fn allocate(
        &mut self,
        now: Instant,
        tuple: FiveTuple,
        tid: TransactionId,
        a: &Attrs<'_>,
        authed: Authed,
        fp: bool,
    ) -> StepResult {
        let signer = Some(authed.signer.clone());
        if let Some(&id) = self.by_tuple.get(&tuple) {
            // A retransmission gets the same answer; anything else is 437.
            return match self.allocations.get(&id) {
                Some(alloc) if alloc.tid == tid.0 && alloc.username == authed.username => {
                    Ok((Some(Step::Allocated(id)), authed))
                }
                _ => Err((437, signer)),
            };
        }
        if let Some(&(id, pending_tid)) = self.pending_by_tuple.get(&tuple) {
            return if pending_tid == tid {
                Ok((Some(Step::Open(id)), authed))
            } else {
                Err((437, signer))
            };
        }
        match a.transport {
            None => return Err((400, signer)),
            Some(UDP) => {}
            Some(_) => return Err((442, signer)),
        }
        // RFC 8656 §7.2 steps 5-7: a token excludes EVEN-PORT and
        // REQUESTED-ADDRESS-FAMILY; an unknown token gets 508.
        let port = match (a.reservation, a.even_port) {
            (Some(_), Some(_)) => return Err((400, signer)),
            (Some(_), None) if a.family.is_some() => return Err((400, signer)),
            // The token is taken only once every check below has passed: a
            // refused Allocate leaves it (and its socket) to its expiry.
            (Some(token), None) => match self.reservations.get(&token) {
                Some(r) if *r > now => RelayPort::Reserved(token),
                Some(_) => {
                    // Expired, not yet swept: the driver closes its socket.
                    self.reservations.remove(&token);
                    self.events
                        .push_back(ServerEvent::ReservationExpired(token));
                    return Err((508, signer));
                }
                None => return Err((508, signer)),
            },
            (None, Some(true))
                if self.reservations.len() >= self.config.quotas.total_allocations as usize =>
            {
                return Err((508, signer));
            }
            (None, Some(true)) => RelayPort::EvenReserveNext,
            (None, Some(false)) => RelayPort::Even,
            (None, None) => RelayPort::Any,
        };
        if a.family.is_some_and(|f| f != self.config.relay_family) {
            return Err((440, signer));
        }
        // Quotas are per user: the TURN REST API's `expiry:name` counts as
        // `name` (a fresh credential is not a fresh quota).
        let quota_name = quota_name(&authed.username).to_owned();
        let user = self.users.get(&quota_name).copied();
        if let Some(u) = user
            && self
                .user_slots
                .get(u)
                .and_then(Option::as_ref)
                .is_some_and(|u| u.allocations >= self.config.quotas.user_allocations)
        {
            return Err((486, signer));
        }
        if self.config.quotas.user_allocations == 0 {
            return Err((486, signer));
        }
        if self.allocations.len() + self.pending.len()
            >= self.config.quotas.total_allocations as usize
        {
            return Err((508, signer));
        }
        if let RelayPort::Reserved(token) = port {
            self.reservations.remove(&token);
        }
        let user = match user {
            Some(u) => u,
            None => self.add_user(&quota_name, now),
        };
        if let Some(Some(u)) = self.user_slots.get_mut(user) {
            u.allocations += 1;
        }
        let id = PendingId(self.next());
        let lifetime = self.grant(a.lifetime);
        self.pending.insert(
            id,
            Pending {
                tuple,
                tid,
                user,
                username: authed.username.clone(),
                signer: authed.signer.clone(),
                lifetime,
                fingerprint: fp,
                port,
            },
        );
        self.pending_by_tuple.insert(tuple, (id, tid));
        Ok((Some(Step::Open(id)), authed))
    }

    fn add_user(&mut self, name: &str, now: Instant) -> usize {
        let user = User {
            name: name.to_owned(),
            allocations: 0,
            bucket: TokenBucket::new(self.config.quotas.user_bandwidth, now),
        };
        let slot = match self.free_slots.pop() {
            Some(i) => {
                self.user_slots[i] = Some(user);
                i
            }
            None => {
                self.user_slots.push(Some(user));
                self.user_slots.len() - 1
            }
        };
        self.users.insert(name.to_owned(), slot);
        slot
    }

    fn release_user(&mut self, slot: usize) {
        let Some(Some(user)) = self.user_slots.get_mut(slot) else {
            return;
        };
        user.allocations = user.allocations.saturating_sub(1);
        if user.allocations == 0 {
            let name = std::mem::take(&mut user.name);
            self.users.remove(&name);
            self.user_slots[slot] = None;
            self.free_slots.push(slot);
        }
    }

    /// The driver's answer to [`Output::OpenRelay`]: the relay socket's
    /// address, or `None` if no socket could be bound (508). Writes the
    /// response into `out` and returns the 5-tuple to send it on; `None` if
    /// the pending Allocate is unknown.
    pub fn relay_opened(
        &mut self,
        now: Instant,
        pending: PendingId,
        relayed: Option<SocketAddr>,
        out: &mut Vec<u8>,
    ) -> Option<Opened> {
        let p = self.pending.remove(&pending)?;
        self.pending_by_tuple.remove(&p.tuple);
        let Some(relayed) = relayed else {
            self.release_user(p.user);
            self.error(
                out,
                Method::ALLOCATE,
                p.tid,
                508,
                Some(&p.signer),
                None,
                p.fingerprint,
                now,
            );
            return Some(Opened {
                tuple: p.tuple,
                allocation: None,
                reservation: None,
            });
        };
        let id = AllocationId(self.next());
        let username = p.username;
        let expires = now + Duration::from_secs(u64::from(p.lifetime));
        self.allocations.insert(
            id,
            Allocation::new(
                p.tuple, p.user, username, relayed, expires, p.tid.0, p.lifetime,
            ),
        );
        self.relayed.insert(relayed);
        self.relay_ips.add(relayed.ip());
        self.listeners
            .add(p.tuple.server, p.tuple.transport == Transport::Udp);
        self.by_tuple.insert(p.tuple, id);
        self.metrics.allocations_total += 1;
        let reservation = (p.port == RelayPort::EvenReserveNext).then(|| {
            let token = self.nonces.token(self.next_id);
            self.next_id += 1;
            self.reservations.insert(token, now + RESERVATION_LIFETIME);
            token
        });
        if let Some(alloc) = self.allocations.get_mut(&id) {
            alloc.reservation = reservation;
        }
        self.allocate_success(
            out,
            id,
            p.tuple,
            p.tid,
            &p.signer,
            p.fingerprint,
            now,
            reservation,
        );
        Some(Opened {
            tuple: p.tuple,
            allocation: Some(id),
            reservation,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn allocate_success(
        &mut self,
        out: &mut Vec<u8>,
        id: AllocationId,
        tuple: FiveTuple,
        tid: TransactionId,
        signer: &Signer,
        fp: bool,
        now: Instant,
        reservation: Option<u64>,
    ) -> Output {
        let Some(alloc) = self.allocations.get(&id) else {
            return Output::Nothing;
        };
        let (relayed, left) = (
            alloc.relayed,
            alloc.expires.saturating_duration_since(now).as_secs() as u32,
        );
        self.write(
            out,
            |b| {
                let mut b = MessageBuilder::new(b, Class::SuccessResponse, Method::ALLOCATE, tid);
                b.add(&Attribute::XorRelayedAddress(relayed))?;
                b.add(&Attribute::Lifetime(left))?;
                b.add(&Attribute::XorMappedAddress(tuple.client))?;
                if let Some(token) = reservation {
                    b.add(&Attribute::ReservationToken(token))?;
                }
                Ok(b)
            },
            Some(signer),
            fp,
        )
    }

    /// Refresh (RFC 8656 §8.2): LIFETIME 0 deletes the allocation.
    fn refresh(
        &mut self,
        now: Instant,
        tuple: FiveTuple,
        a: &Attrs<'_>,
        authed: &Authed,
    ) -> Result<Option<Step>, (u16, Option<Signer>)> {
        let id = self.owned(tuple, authed)?;
        if a.family.is_some_and(|f| f != self.config.relay_family) {
            return Err((443, Some(authed.signer.clone())));
        }
        if a.lifetime == Some(0) {
            self.remove(id);
            return Ok(Some(Step::Lifetime(0)));
        }
        let lifetime = self.grant(a.lifetime);
        if let Some(alloc) = self.allocations.get_mut(&id) {
            alloc.expires = now + Duration::from_secs(u64::from(lifetime));
            alloc.lifetime = lifetime;
        }
        Ok(Some(Step::Lifetime(lifetime)))
    }

    /// Checks peers of CreatePermission or ChannelBind: family (443) and
    /// policy (403, RFC 8656 §21.3).
    fn check_peers(
        &mut self,
        id: AllocationId,
        peers: &[SocketAddr],
        signer: &Signer,
    ) -> Result<(), (u16, Option<Signer>)> {
        let family = self
            .allocations
            .get(&id)
            .map(|a| AddressFamily::of(&a.relayed.ip()));
        for peer in peers {
            if Some(AddressFamily::of(&peer.ip())) != family {
                return Err((443, Some(signer.clone())));
            }
            if self.config.policy.check(peer.ip()).is_err() || peer.port() == 0 {
                self.metrics.forbidden_peers += 1;
                return Err((403, Some(signer.clone())));
            }
        }
        Ok(())
    }

    /// CreatePermission (RFC 8656 §10.2).
    fn create_permission(
        &mut self,
        now: Instant,
        tuple: FiveTuple,
        a: &Attrs<'_>,
        authed: &Authed,
    ) -> Result<(), (u16, Option<Signer>)> {
        let id = self.owned(tuple, authed)?;
        if a.peers.is_empty() {
            return Err((400, Some(authed.signer.clone())));
        }
        // The port of a permission's peer does not matter (§9): only 0 is refused below.
        let peers: Vec<SocketAddr> = a
            .peers
            .iter()
            .map(|p| SocketAddr::new(p.ip(), p.port().max(1)))
            .collect();
        self.check_peers(id, &peers, &authed.signer)?;
        let ips: Vec<IpAddr> = a.peers.iter().map(SocketAddr::ip).collect();
        let max = self.config.quotas.permissions;
        let alloc = self
            .allocations
            .get_mut(&id)
            .ok_or((437, Some(authed.signer.clone())))?;
        if !alloc.permissions_fit(&ips, max) {
            return Err((508, Some(authed.signer.clone())));
        }
        for ip in ips {
            alloc.permit(ip, now);
        }
        Ok(())
    }

    /// ChannelBind (RFC 8656 §11.2, §12): also installs the permission.
    fn channel_bind(
        &mut self,
        now: Instant,
        tuple: FiveTuple,
        a: &Attrs<'_>,
        authed: &Authed,
    ) -> Result<(), (u16, Option<Signer>)> {
        let id = self.owned(tuple, authed)?;
        let signer = Some(authed.signer.clone());
        let (Some(number), [peer]) = (a.channel, a.peers.as_slice()) else {
            return Err((400, signer));
        };
        self.check_peers(id, &[*peer], &authed.signer)?;
        let (max_channels, max_perms) =
            (self.config.quotas.channels, self.config.quotas.permissions);
        let alloc = self.allocations.get_mut(&id).ok_or((437, signer.clone()))?;
        if !alloc.permissions_fit(&[peer.ip()], max_perms) {
            return Err((508, signer));
        }
        match alloc.bind(number, *peer, now, max_channels) {
            Ok(()) => {}
            Err(BindError::TooMany) => return Err((508, signer)),
            Err(BindError::OutOfRange | BindError::NumberTaken | BindError::PeerTaken) => {
                return Err((400, signer));
            }
        }
        alloc.permit(peer.ip(), now);
        Ok(())
    }

    /// Whether the user of `alloc` may relay `bytes` more now.
    fn within_bandwidth(&mut self, user: usize, bytes: usize, now: Instant) -> bool {
        match self.user_slots.get_mut(user) {
            Some(Some(u)) => u.bucket.take(bytes, now),
            _ => true,
        }
    }

    /// A Send indication (RFC 8656 §11.2): relayed if a permission exists.
    fn send_indication(
        &mut self,
        now: Instant,
        tuple: FiveTuple,
        msg: &Message<'_>,
        datagram: &[u8],
    ) -> Output {
        let Some(&id) = self.by_tuple.get(&tuple) else {
            self.metrics.drop(Drop::NoAllocation);
            return Output::Nothing;
        };
        // RFC 8489 §6.3.2: an indication with an unknown
        // comprehension-required attribute is discarded.
        if msg.unknown_comprehension_required().next().is_some() {
            self.metrics.drop(Drop::Malformed);
            return Output::Nothing;
        }
        // One pass, nothing collected: this is the data path of clients
        // without channels. Exactly one XOR-PEER-ADDRESS and a DATA.
        let (mut peer, mut data, mut peers) = (None, None, 0);
        for attr in msg.attributes() {
            match attr {
                Ok(Attribute::XorPeerAddress(p)) => {
                    peer = Some(p);
                    peers += 1;
                }
                Ok(Attribute::Data(d)) => data = Some(d),
                Ok(_) => {}
                Err(_) => peers = 2,
            }
        }
        let (Some(peer), Some(data), 1) = (peer, data, peers) else {
            self.metrics.drop(Drop::Malformed);
            return Output::Nothing;
        };
        let start = data.as_ptr() as usize - datagram.as_ptr() as usize;
        self.relay_to_peer(now, id, peer, start..start + data.len())
    }

    /// ChannelData from a client (RFC 8656 §12.6).
    fn channel_data(&mut self, now: Instant, tuple: FiveTuple, datagram: &[u8]) -> Output {
        let Some(&id) = self.by_tuple.get(&tuple) else {
            self.metrics.drop(Drop::NoAllocation);
            return Output::Nothing;
        };
        let Ok(cd) = ChannelData::parse(datagram) else {
            self.metrics.drop(Drop::Malformed);
            return Output::Nothing;
        };
        let peer = match self
            .allocations
            .get(&id)
            .and_then(|a| a.channel(cd.channel, now))
        {
            Some(c) => c.peer,
            None => {
                self.metrics.drop(Drop::NoChannel);
                return Output::Nothing;
            }
        };
        self.relay_to_peer(now, id, peer, 4..4 + cd.data.len())
    }

    fn relay_to_peer(
        &mut self,
        now: Instant,
        id: AllocationId,
        peer: SocketAddr,
        data: Range<usize>,
    ) -> Output {
        let Some(alloc) = self.allocations.get(&id) else {
            self.metrics.drop(Drop::NoAllocation);
            return Output::Nothing;
        };
        if !alloc.permitted(peer.ip(), now) {
            self.metrics.drop(Drop::NoPermission);
            return Output::Nothing;
        }
        // RFC 8656 §21.3: nothing goes to this server's own addresses (TURN
        // within TURN, a service on this host). A relay IP the operator
        // opened on purpose (--allow-loopback for peers on this host) is not
        // guarded: the rule is for a public one. A UDP listener address a
        // client reached (the server address of a UDP 5-tuple, also on a
        // wildcard listener) is refused whatever the policy: a datagram
        // there is the server talking to itself.
        let opened = (peer.ip().is_loopback() && self.config.policy.allow_loopback)
            || (is_private_ip(peer.ip()) && self.config.policy.allow_private);
        let own = self.relay_ips.contains(&peer.ip())
            || self.listeners.is_own_ip(&peer.ip())
            || self.config.own_addresses.contains(&peer.ip());
        let listener = self.listeners.is_listener(&peer)
            || self.config.udp_listeners.iter().any(|l| {
                l.port() == peer.port()
                    && (l.ip() == peer.ip()
                        || l.ip().is_unspecified() && (own || peer.ip().is_loopback()))
            });
        if listener || (!opened && own && !self.relayed.contains(&peer)) {
            self.metrics.drop(Drop::OwnAddress);
            return Output::Nothing;
        }
        let user = alloc.user;
        if !self.within_bandwidth(user, data.len(), now) {
            self.metrics.drop(Drop::Bandwidth);
            return Output::Nothing;
        }
        self.metrics.packets_to_peer += 1;
        self.metrics.bytes_to_peer += data.len() as u64;
        Output::Relay {
            allocation: id,
            peer,
            data,
        }
    }

    /// A datagram from `peer` on the relay socket of `allocation`, lying in
    /// `buf[data]` with [`PEER_HEADROOM`] bytes before and [`PEER_TAILROOM`]
    /// after it. Frames it for the client in place (RFC 8656 §11.3 Data
    /// indication, or §12.5 ChannelData when a channel is bound) if a
    /// permission for the peer exists (§9); `None` if dropped (counted).
    pub fn handle_peer(
        &mut self,
        now: Instant,
        allocation: AllocationId,
        peer: SocketAddr,
        buf: &mut [u8],
        data: Range<usize>,
    ) -> Option<ToClient> {
        let Some(alloc) = self.allocations.get(&allocation) else {
            self.metrics.drop(Drop::NoAllocation);
            return None;
        };
        if !alloc.permitted(peer.ip(), now) {
            self.metrics.drop(Drop::NoPermission);
            return None;
        }
        let channel = alloc.channel_to(peer, now).map(|c| c.number);
        let (user, tuple) = (alloc.user, alloc.tuple);
        let len = data.len();
        if data.start < PEER_HEADROOM
            || data.start > data.end
            || data.end + PEER_TAILROOM > buf.len()
            || len > usize::from(u16::MAX) - PEER_HEADROOM
        {
            self.metrics.drop(Drop::NoHeadroom);
            return None;
        }
        if !self.within_bandwidth(user, len, now) {
            self.metrics.drop(Drop::Bandwidth);
            return None;
        }
        let message = if let Some(number) = channel {
            // RFC 8656 §12.5: over TCP/TLS the message is padded to 4 bytes.
            let start = data.start - 4;
            buf[start..start + 2].copy_from_slice(&number.to_be_bytes());
            buf[start + 2..start + 4].copy_from_slice(&(len as u16).to_be_bytes());
            let end = if tuple.transport.is_stream() {
                // The message's own length padded, wherever it lies in `buf`.
                let padded = start + crate::stream_frame_len(len);
                buf[data.end..padded].fill(0);
                padded
            } else {
                data.end
            };
            start..end
        } else {
            // A Data indication (RFC 8656 §11.3): header and XOR-PEER-ADDRESS
            // built in the scratch buffer, then the DATA attribute header;
            // all copied before the data, padding after.
            let n = self.next();
            let mut tid = [0u8; 12];
            tid[4..].copy_from_slice(&n.to_be_bytes());
            let mut scratch = std::mem::take(&mut self.scratch);
            let mut b = MessageBuilder::new(
                &mut scratch,
                Class::Indication,
                Method::DATA,
                TransactionId(tid),
            );
            let built = b.add(&Attribute::XorPeerAddress(peer)).is_ok();
            b.finish();
            let padded = (len + 3) & !3;
            let head = scratch.len() + 4;
            let body = scratch.len() - 20 + 4 + padded;
            let start = data.start - head;
            if built {
                buf[start..start + scratch.len()].copy_from_slice(&scratch);
                buf[start + 2..start + 4].copy_from_slice(&(body as u16).to_be_bytes());
                let attr = start + scratch.len();
                buf[attr..attr + 2].copy_from_slice(&t::DATA.to_be_bytes());
                buf[attr + 2..attr + 4].copy_from_slice(&(len as u16).to_be_bytes());
                buf[data.end..data.start + padded].fill(0);
            }
            self.scratch = scratch;
            if !built {
                self.metrics.drop(Drop::Malformed);
                return None;
            }
            start..data.start + padded
        };
        self.metrics.packets_to_client += 1;
        self.metrics.bytes_to_client += len as u64;
        Some(ToClient { tuple, message })
    }

    /// Deletes an allocation and tells the driver.
    fn remove(&mut self, id: AllocationId) {
        if let Some(alloc) = self.allocations.remove(&id) {
            self.relayed.remove(&alloc.relayed);
            self.relay_ips.remove(&alloc.relayed.ip());
            self.listeners
                .remove(alloc.tuple.server, alloc.tuple.transport == Transport::Udp);
            self.by_tuple.remove(&alloc.tuple);
            self.release_user(alloc.user);
            self.events.push_back(ServerEvent::Closed(id));
            // Its reserved port (unless claimed already) goes with it: else
            // a user could hold a reserved socket per deleted allocation,
            // beyond its quota.
            if let Some(token) = alloc.reservation
                && self.reservations.remove(&token).is_some()
            {
                self.events
                    .push_back(ServerEvent::ReservationExpired(token));
            }
        }
    }

    /// Counts a message its driver could not even frame (a TCP stream that
    /// is neither STUN nor ChannelData).
    pub fn count_malformed(&mut self) {
        self.metrics.drop(Drop::Malformed);
    }

    /// The client's TCP or TLS connection of `tuple` closed: its allocation
    /// goes with it (RFC 8656 §3.1), and an Allocate waiting for a relay
    /// socket is forgotten.
    pub fn close_tuple(&mut self, tuple: FiveTuple) {
        if let Some(id) = self.by_tuple.get(&tuple).copied() {
            self.remove(id);
        }
        if let Some((pending, _)) = self.pending_by_tuple.remove(&tuple)
            && let Some(p) = self.pending.remove(&pending)
        {
            self.release_user(p.user);
        }
    }

    /// Expires allocations (RFC 8656 §5), permissions and channel bindings.
    pub fn handle_timeout(&mut self, now: Instant) {
        let expired: Vec<AllocationId> = self
            .allocations
            .iter()
            .filter(|(_, a)| a.expires <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            self.remove(id);
        }
        for alloc in self.allocations.values_mut() {
            alloc.expire(now);
        }
        let events = &mut self.events;
        self.reservations.retain(|token, expires| {
            let keep = *expires > now;
            if !keep {
                events.push_back(ServerEvent::ReservationExpired(*token));
            }
            keep
        });
    }

    /// When [`Self::handle_timeout`] next has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        // Reserved ports (RFC 8656 §7.2) expire on their own, long before
        // the allocation that reserved them.
        self.allocations
            .values()
            .map(Allocation::next_expiry)
            .chain(self.reservations.values().copied())
            .min()
    }

    /// The next event for the driver.
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }

    /// Writes a message built by `build` into `out`, signed with `signer`
    /// (RFC 8489 §9.2.4: the same integrity attribute as the request) and
    /// with a FINGERPRINT if the request had one.
    fn write<'b>(
        &self,
        out: &'b mut Vec<u8>,
        build: impl FnOnce(&'b mut Vec<u8>) -> Result<MessageBuilder<'b>, StunError>,
        signer: Option<&Signer>,
        fp: bool,
    ) -> Output {
        // Only to authenticated clients: unsigned answers (challenges,
        // Binding) go to addresses that may be spoofed, and stay small.
        let software = self.config.software.as_deref().filter(|_| signer.is_some());
        let result = build(out).and_then(|mut b| {
            if let Some(s) = software {
                b.add(&Attribute::Software(s))?;
            }
            match signer {
                Some(Signer { key, sha256: true }) => {
                    b.try_add_message_integrity_sha256(key, 32)?
                }
                Some(Signer { key, sha256: false }) => b.try_add_message_integrity(key)?,
                None => {}
            }
            if fp {
                b.try_add_fingerprint()?;
            }
            Ok(b.finish())
        });
        match result {
            Ok(_) => Output::Reply,
            Err(_) => Output::Nothing,
        }
    }

    /// A 420 Unknown Attribute response listing `unknown` (RFC 8489 §6.3.1),
    /// signed with `signer` for an authenticated request.
    fn unknown_attributes(
        &mut self,
        out: &mut Vec<u8>,
        method: Method,
        tid: TransactionId,
        unknown: &[u16],
        signer: Option<&Signer>,
        fp: bool,
    ) -> Output {
        self.metrics.error_response(420);
        self.write(
            out,
            |b| {
                let mut b = MessageBuilder::new(b, Class::ErrorResponse, method, tid);
                b.add(&Attribute::ErrorCode {
                    code: 420,
                    reason: reason(420),
                })?;
                b.add(&Attribute::UnknownAttributes(UnknownAttributes::new(
                    unknown,
                )))?;
                Ok(b)
            },
            signer,
            fp,
        )
    }

    /// An error response (RFC 8489 §6.3.4), with a challenge (REALM, a fresh
    /// NONCE, PASSWORD-ALGORITHMS) for 401 and 438.
    #[allow(clippy::too_many_arguments)]
    fn error(
        &mut self,
        out: &mut Vec<u8>,
        method: Method,
        tid: TransactionId,
        code: u16,
        signer: Option<&Signer>,
        challenge: Option<IpAddr>,
        fp: bool,
        now: Instant,
    ) -> Output {
        self.metrics.error_response(code);
        let nonce = challenge.map(|ip| self.nonces.issue(self.unix(now), ip));
        let realm = self.config.realm.as_str();
        let signer = signer.filter(|_| nonce.is_none());
        self.write(
            out,
            |b| {
                let mut b = MessageBuilder::new(b, Class::ErrorResponse, method, tid);
                b.add(&Attribute::ErrorCode {
                    code,
                    reason: reason(code),
                })?;
                if let Some(nonce) = &nonce {
                    b.add(&Attribute::Realm(realm))?;
                    b.add(&Attribute::Nonce(nonce))?;
                    b.add(&Attribute::PasswordAlgorithms(PasswordAlgorithms::new(
                        &OFFERED,
                    )))?;
                }
                Ok(b)
            },
            signer,
            fp,
        )
    }
}

/// What a request handler decided.
enum Step {
    /// Wait for the relay socket.
    Open(PendingId),
    /// Answer an Allocate with the allocation (a retransmission).
    Allocated(AllocationId),
    /// Answer with a LIFETIME.
    Lifetime(u32),
}

type StepResult = Result<(Option<Step>, Authed), (u16, Option<Signer>)>;

#[cfg(test)]
mod tests;

/// RFC 1918, RFC 6598 shared and unique local addresses.
fn is_private_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_private() || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => (v6.segments()[0] & 0xfe00) == 0xfc00,
    }
}

/// The user a quota belongs to: `name` of a TURN REST API username
/// `expiry:name`, else the username.
fn quota_name(username: &str) -> &str {
    match username.split_once(':') {
        Some((expiry, name))
            if !expiry.is_empty() && expiry.bytes().all(|b| b.is_ascii_digit()) =>
        {
            name
        }
        _ => username,
    }
}
