//! The TURN client state machine (RFC 8656 §7-§12) to one server over UDP,
//! TCP or TLS.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use ferrtc_stun::{Attribute, Class, Message, MessageBuilder, Method, TransactionId};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::auth::Auth;
use crate::channel::{self, Channels};
use crate::channel_data::{ChannelData, is_channel_data};
use crate::permission::{self, Permissions};
use crate::transaction::{Expiry, Kind, Retry, Transaction};
use crate::{Error, RequestError};

/// REQUESTED-TRANSPORT value for UDP, the IP protocol number 17 (RFC 8656
/// §18.8): the relay is UDP whatever the transport to the server.
const TRANSPORT_UDP: u8 = 17;
/// ERROR-CODE 401 Unauthenticated (RFC 8489 §14.8).
const UNAUTHENTICATED: u16 = 401;
/// ERROR-CODE 437 Allocation Mismatch (RFC 8656 §18): the server has no
/// allocation for our 5-tuple.
const ALLOCATION_MISMATCH: u16 = 437;
/// ERROR-CODE 438 Stale Nonce (RFC 8489 §14.8).
const STALE_NONCE: u16 = 438;

/// Most datagrams queued for the server; beyond it [`Client::send_to`]
/// fails with [`Error::QueueFull`] and retransmissions are dropped (and
/// counted in [`Stats::dropped_transmits`]).
pub const MAX_QUEUED_TRANSMITS: usize = 256;
/// Most events queued; beyond it [`Event::Data`] is dropped (and counted
/// in [`Stats::dropped_events`]). Other events are always kept: there is at
/// most one per request or timer the caller caused.
pub const MAX_QUEUED_EVENTS: usize = 1024;

/// How the client reaches the TURN server (RFC 8656 §3.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Transport {
    /// UDP: requests are retransmitted (RFC 8489 §6.2.1), ChannelData is
    /// not padded.
    #[default]
    Udp,
    /// TCP: one send per request (RFC 8489 §6.2.2), ChannelData padded to 4
    /// bytes (RFC 8656 §12.5); the caller frames what it reads with
    /// [`crate::StreamDecoder`].
    Tcp,
    /// TLS over TCP (`turns:`, RFC 8656 §3.1): as TCP; the caller owns the
    /// TLS session.
    Tls,
}

impl Transport {
    /// Whether it is a reliable byte stream (TCP or TLS).
    pub fn is_stream(self) -> bool {
        matches!(self, Transport::Tcp | Transport::Tls)
    }
}

/// Configuration of a [`Client`] (RFC 8656 §7.1 Allocate request contents).
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The TURN server's transport address.
    pub server: SocketAddr,
    /// How the server is reached (default UDP).
    pub transport: Transport,
    /// Long-term credential username (RFC 8489 §9.2).
    pub username: String,
    /// Long-term credential password (RFC 8489 §9.2).
    pub password: String,
    /// SOFTWARE attribute for requests (RFC 8489 §14.14), if any.
    pub software: Option<String>,
    /// LIFETIME asked for the allocation (RFC 8656 §7.1; default 600 s);
    /// less than a second asks for one second (LIFETIME 0 would deallocate).
    pub lifetime: Duration,
    /// Seed of the transaction id RNG; `None` seeds from the OS.
    pub seed: Option<u64>,
}

impl ClientConfig {
    /// A configuration over UDP with the default lifetime (600 s), no
    /// SOFTWARE, and an OS-seeded RNG.
    pub fn new(server: SocketAddr, username: &str, password: &str) -> Self {
        ClientConfig {
            server,
            transport: Transport::Udp,
            username: username.to_owned(),
            password: password.to_owned(),
            software: None,
            lifetime: Duration::from_secs(600),
            seed: None,
        }
    }

    /// LIFETIME in seconds for Allocate and Refresh: at least 1 (RFC 8656
    /// §8.1: 0 deletes the allocation).
    fn lifetime_secs(&self) -> u32 {
        u32::try_from(self.lifetime.as_secs())
            .unwrap_or(u32::MAX)
            .max(1)
    }
}

/// A request of the client, named in [`Event::Failed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// Allocate (RFC 8656 §7.1).
    Allocate,
    /// Refresh (RFC 8656 §8.1).
    Refresh,
    /// CreatePermission for a peer IP (RFC 8656 §10.1).
    CreatePermission(IpAddr),
    /// ChannelBind of a channel to a peer (RFC 8656 §11.1).
    ChannelBind(SocketAddr, u16),
}

/// What the client reports (RFC 8656).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The allocation exists (RFC 8656 §7.3).
    Allocated {
        /// XOR-RELAYED-ADDRESS: the relayed transport address.
        relayed: SocketAddr,
        /// XOR-MAPPED-ADDRESS: our address as the server sees it.
        mapped: SocketAddr,
        /// LIFETIME granted.
        lifetime: Duration,
    },
    /// A Refresh succeeded (RFC 8656 §8.3).
    Refreshed {
        /// LIFETIME granted.
        lifetime: Duration,
    },
    /// A permission asked for with [`Client::create_permission`] is
    /// installed (RFC 8656 §10.3); reported once, not for its refreshes,
    /// nor for one a ChannelBind installed ([`Event::ChannelBound`]).
    PermissionCreated {
        /// The peer IP.
        peer: IpAddr,
    },
    /// A permission lapsed (RFC 8656 §9): unused until its lifetime ran
    /// out, or its refreshes kept failing. Sends to the IP fail from now on.
    PermissionExpired {
        /// The peer IP.
        peer: IpAddr,
    },
    /// A channel is bound (RFC 8656 §11.3); ChannelData is used from now on.
    ChannelBound {
        /// The peer.
        peer: SocketAddr,
        /// The channel number.
        channel: u16,
    },
    /// A channel binding lapsed (RFC 8656 §12): unused, or its rebinds kept
    /// failing. Data to the peer goes in Send indications again (if the
    /// permission lives).
    ChannelExpired {
        /// The peer.
        peer: SocketAddr,
        /// The channel number.
        channel: u16,
    },
    /// Data from a peer, from a Data indication (RFC 8656 §10.6) or
    /// ChannelData (RFC 8656 §12.6). [`Client::receive`] gives the same
    /// without a copy.
    Data {
        /// The peer's transport address.
        peer: SocketAddr,
        /// The application data.
        data: Vec<u8>,
    },
    /// A request failed for good. A failed refresh of an existing
    /// allocation, permission or channel is not reported here: it is tried
    /// again until the lifetime runs out ([`Event::Closed`],
    /// [`Event::PermissionExpired`], [`Event::ChannelExpired`]).
    Failed {
        /// Which request.
        request: Request,
        /// Why.
        error: RequestError,
    },
    /// The allocation is gone (deallocated by [`Client::close`], expired,
    /// failed, or unknown to the server: 437); the client does nothing more.
    Closed,
}

/// Application data from a peer, borrowed from the datagram it came in
/// (RFC 8656 §10.6, §12.6); see [`Client::receive`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerData<'a> {
    /// The peer's transport address.
    pub peer: SocketAddr,
    /// The application data.
    pub data: &'a [u8],
}

/// A datagram to send, written by [`Client::poll_transmit`] into the
/// caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// Where it goes: always the server.
    pub destination: SocketAddr,
}

/// Counters of what the client dropped or repeated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams neither STUN nor ChannelData, or malformed.
    pub malformed: u64,
    /// Datagrams from an address other than the server.
    pub foreign_source: u64,
    /// Responses matching no outstanding transaction.
    pub unmatched_responses: u64,
    /// Responses without valid MESSAGE-INTEGRITY(-SHA256) once credentials
    /// are known, other than 401 and 438 (RFC 8489 §9.2.5): ignored.
    pub bad_integrity: u64,
    /// ChannelData on a channel not bound (RFC 8656 §12.6).
    pub unknown_channel: u64,
    /// Data indications from a peer without an installed permission
    /// (RFC 8656 §10.6).
    pub unknown_peer: u64,
    /// Request retransmissions (RFC 8489 §6.2.1).
    pub retransmits: u64,
    /// Failed refreshes of the allocation, a permission or a channel (each
    /// tried again with back-off).
    pub refresh_failures: u64,
    /// Datagrams not queued: [`MAX_QUEUED_TRANSMITS`] reached.
    pub dropped_transmits: u64,
    /// Data events not queued: [`MAX_QUEUED_EVENTS`] reached.
    pub dropped_events: u64,
}

/// When the allocation's next Refresh is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RefreshTimer {
    /// When to send it (or retry it).
    due: Instant,
    /// A Refresh is outstanding.
    in_flight: bool,
    /// After failures: the back-off.
    retry: Option<Retry>,
}

/// Where the allocation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Allocate outstanding; `close` was called meanwhile if
    /// `close_requested` (a success is then deallocated at once).
    Allocating { close_requested: bool },
    /// Allocated until `expires`.
    Allocated {
        relayed: SocketAddr,
        expires: Instant,
        refresh: RefreshTimer,
    },
    /// Refresh with LIFETIME 0 outstanding (RFC 8656 §8.1).
    Closing,
    /// Done.
    Closed,
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            State::Allocating { .. } => "allocating",
            State::Allocated { .. } => "allocated",
            State::Closing => "closing",
            State::Closed => "closed",
        }
    }
}

/// When to refresh an allocation of `lifetime` granted at `now`: a minute
/// before expiry, or half-way for short lifetimes.
fn refresh_time(now: Instant, lifetime: Duration) -> Instant {
    let minute = Duration::from_secs(60);
    if lifetime > 2 * minute {
        now + (lifetime - minute)
    } else {
        now + lifetime / 2
    }
}

/// What is kept of a transaction once its response matched it.
#[derive(Debug, Clone, Copy)]
struct Answered {
    kind: Kind,
    stale_retried: bool,
    signed: bool,
}

/// The ERROR-CODE of an error response (0 and "" if missing).
fn error_code(msg: &Message<'_>) -> (u16, String) {
    msg.attributes()
        .find_map(|a| match a {
            Ok(Attribute::ErrorCode { code, reason }) => Some((code, reason.to_owned())),
            _ => None,
        })
        .unwrap_or((0, String::new()))
}

/// A sans-IO TURN client (RFC 8656) for one allocation on one server over
/// UDP, TCP or TLS. See the crate documentation for how to drive it.
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    rng: StdRng,
    state: State,
    auth: Option<Auth>,
    transactions: HashMap<TransactionId, Transaction>,
    permissions: Permissions,
    channels: Channels,
    out: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
    stats: Stats,
}

impl Client {
    /// A client that starts allocating at `now` (RFC 8656 §7.1): the first
    /// Allocate, without credentials, is ready in [`Self::poll_transmit`].
    pub fn new(config: ClientConfig, now: Instant) -> Client {
        let rng = match config.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_os_rng(),
        };
        Client::with_rng(config, now, rng)
    }

    /// Like [`Self::new`], drawing transaction ids (RFC 8489 §5) from `rng`.
    pub fn with_rng(config: ClientConfig, now: Instant, rng: StdRng) -> Client {
        let mut c = Client {
            config,
            rng,
            state: State::Allocating {
                close_requested: false,
            },
            auth: None,
            transactions: HashMap::new(),
            permissions: Permissions::default(),
            channels: Channels::default(),
            out: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
        };
        c.start(Kind::Allocate, now, false);
        c
    }

    /// The server's address.
    pub fn server(&self) -> SocketAddr {
        self.config.server
    }

    /// How the server is reached.
    pub fn transport(&self) -> Transport {
        self.config.transport
    }

    /// The relayed transport address, once allocated.
    pub fn relayed_address(&self) -> Option<SocketAddr> {
        match self.state {
            State::Allocated { relayed, .. } => Some(relayed),
            _ => None,
        }
    }

    /// The realm learnt from the server's 401, if any (RFC 8489 §9.2.3).
    pub fn realm(&self) -> Option<&str> {
        self.auth.as_ref().map(|a| a.realm())
    }

    /// The counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Whether the client is done (after [`Event::Closed`]).
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Whether the permission for `peer` is installed on the server
    /// (RFC 8656 §9): only then does data flow to and from it.
    pub fn has_permission(&self, peer: IpAddr) -> bool {
        self.permissions.is_installed(&peer)
    }

    fn require_allocated(&self) -> Result<(), Error> {
        match self.state {
            State::Allocated { .. } => Ok(()),
            s => Err(Error::NotAllocated { state: s.name() }),
        }
    }

    /// Asks for a permission for `peer` (RFC 8656 §10.1); refreshed a
    /// minute before its 300 s run out while data flows to or from it.
    /// Data goes to `peer` only after [`Event::PermissionCreated`].
    pub fn create_permission(&mut self, peer: IpAddr, now: Instant) -> Result<(), Error> {
        self.require_allocated()?;
        if self.permissions.request(peer) {
            self.start(Kind::CreatePermission { peer }, now, false);
        }
        Ok(())
    }

    /// Binds a channel to `peer` (RFC 8656 §11.1) and returns its number
    /// (0x4000..=0x4FFF; never one bound, being bound, or expired less than
    /// [`crate::CHANNEL_REUSE_DELAY`] ago, except that a peer whose binding
    /// expired that recently gets its old number back, RFC 8656 §12);
    /// [`Event::ChannelBound`] says when ChannelData starts being used. The
    /// binding installs the permission too (RFC 8656 §12.3).
    pub fn bind_channel(&mut self, peer: SocketAddr, now: Instant) -> Result<u16, Error> {
        self.require_allocated()?;
        let (channel, send) = self
            .channels
            .bind(peer, now)
            .ok_or(Error::ChannelsExhausted { peer })?;
        if send {
            self.start(Kind::ChannelBind { peer, channel }, now, false);
        }
        Ok(channel)
    }

    /// Sends `data` to `peer` through the relay: as ChannelData if a channel
    /// is bound and confirmed (RFC 8656 §12.5; padded to 4 bytes over TCP
    /// and TLS), else as a Send indication (RFC 8656 §10.1).
    ///
    /// The permission for the peer's IP must be installed: without one the
    /// call fails with [`Error::NoPermission`], while its CreatePermission
    /// (or a ChannelBind to `peer`) is in flight with
    /// [`Error::PermissionPending`] (nothing is queued:
    /// wait for [`Event::PermissionCreated`] or [`Event::ChannelBound`]).
    pub fn send_to(&mut self, peer: SocketAddr, data: &[u8]) -> Result<(), Error> {
        self.require_allocated()?;
        let ip = peer.ip();
        match self.permissions.get(&ip) {
            // A ChannelBind in flight will install it (RFC 8656 §12.3).
            None if self.channels.get(&peer).is_some_and(|c| c.is_binding()) => {
                return Err(Error::PermissionPending { peer: ip });
            }
            None => return Err(Error::NoPermission { peer: ip }),
            Some(p) if !p.is_installed() => return Err(Error::PermissionPending { peer: ip }),
            Some(_) => {}
        }
        if self.out.len() >= MAX_QUEUED_TRANSMITS {
            self.stats.dropped_transmits += 1;
            return Err(Error::QueueFull {
                queued: self.out.len(),
            });
        }
        let mut out = Vec::with_capacity(data.len() + 64);
        if let Some(c) = self.channels.get(&peer).filter(|c| c.is_confirmed()) {
            if self.config.transport.is_stream() {
                ChannelData::encode_padded(c.number, data, &mut out)?;
            } else {
                ChannelData::encode(c.number, data, &mut out)?;
            }
            self.channels.touch(&peer);
        } else {
            let tid = TransactionId(self.rng.random());
            let mut b = MessageBuilder::new(&mut out, Class::Indication, Method::SEND, tid);
            b.add(&Attribute::XorPeerAddress(peer))?;
            b.add(&Attribute::Data(data)).map_err(|e| match e {
                ferrtc_stun::Error::ValueTooLong { .. } | ferrtc_stun::Error::MessageTooLong => {
                    Error::DataTooLong { len: data.len() }
                }
                e => Error::Stun(e),
            })?;
            b.finish();
        }
        self.permissions.touch(&ip);
        self.out.push_back(out);
        Ok(())
    }

    /// Deallocates (RFC 8656 §8.1: Refresh with LIFETIME 0); [`Event::Closed`]
    /// follows the response or the timeout. While the Allocate is in
    /// flight, an allocation it still creates is deallocated at once; if it
    /// fails, the client just stops.
    pub fn close(&mut self, now: Instant) {
        match &mut self.state {
            State::Allocated { .. } => self.deallocate(now),
            State::Allocating { close_requested } => *close_requested = true,
            State::Closing | State::Closed => {}
        }
    }

    /// Sends the Refresh with LIFETIME 0 (RFC 8656 §8.1); nothing else is
    /// outstanding from now on.
    fn deallocate(&mut self, now: Instant) {
        self.state = State::Closing;
        self.transactions.clear();
        self.start(Kind::Refresh { lifetime: 0 }, now, false);
    }

    fn finish(&mut self) {
        if self.state != State::Closed {
            self.state = State::Closed;
            self.transactions.clear();
            self.out.clear();
            self.events.push_back(Event::Closed);
        }
    }

    /// Queues a datagram for the server; false (and counted) if the queue
    /// is full.
    fn push_out(&mut self, bytes: Vec<u8>) -> bool {
        if self.out.len() >= MAX_QUEUED_TRANSMITS {
            self.stats.dropped_transmits += 1;
            return false;
        }
        self.out.push_back(bytes);
        true
    }

    /// Queues an event; [`Event::Data`] beyond [`MAX_QUEUED_EVENTS`] is
    /// dropped and counted.
    fn push_event(&mut self, event: Event) {
        if matches!(event, Event::Data { .. }) && self.events.len() >= MAX_QUEUED_EVENTS {
            self.stats.dropped_events += 1;
            return;
        }
        self.events.push_back(event);
    }

    /// Builds and queues a new request of `kind`; `stale_retried` carries
    /// over from the transaction it replaces.
    fn start(&mut self, kind: Kind, now: Instant, stale_retried: bool) {
        let tid = TransactionId(self.rng.random());
        match self.build_request(kind, tid) {
            Ok(bytes) => {
                // A full queue drops this send; over UDP the retransmission
                // timer sends it again, over a stream the request times out.
                self.push_out(bytes.clone());
                let mut t = Transaction::new(kind, bytes, now, self.config.transport.is_stream());
                t.stale_retried = stale_retried;
                t.signed = self.auth.is_some();
                self.transactions.insert(tid, t);
            }
            Err(_) => self.fail(
                kind,
                RequestError::Malformed("request could not be built"),
                now,
            ),
        }
    }

    /// The bytes of a request (RFC 8656 §7.1, §8.1, §10.1, §11.1).
    fn build_request(&self, kind: Kind, tid: TransactionId) -> Result<Vec<u8>, Error> {
        let method = match kind {
            Kind::Allocate => Method::ALLOCATE,
            Kind::Refresh { .. } => Method::REFRESH,
            Kind::CreatePermission { .. } => Method::CREATE_PERMISSION,
            Kind::ChannelBind { .. } => Method::CHANNEL_BIND,
        };
        let mut out = Vec::with_capacity(256);
        let mut b = MessageBuilder::new(&mut out, Class::Request, method, tid);
        match kind {
            Kind::Allocate => {
                b.add(&Attribute::RequestedTransport(TRANSPORT_UDP))?;
                b.add(&Attribute::Lifetime(self.config.lifetime_secs()))?;
            }
            Kind::Refresh { lifetime } => b.add(&Attribute::Lifetime(lifetime))?,
            Kind::CreatePermission { peer } => {
                b.add(&Attribute::XorPeerAddress(SocketAddr::new(peer, 0)))?;
            }
            Kind::ChannelBind { peer, channel } => {
                b.add(&Attribute::ChannelNumber(channel))?;
                b.add(&Attribute::XorPeerAddress(peer))?;
            }
        }
        if let Some(software) = &self.config.software {
            b.add(&Attribute::Software(software))?;
        }
        if let Some(auth) = &self.auth {
            auth.add_attributes(&mut b)?;
            auth.sign(&mut b)?;
        }
        b.try_add_fingerprint()?;
        b.finish();
        Ok(out)
    }

    /// A request failed at `now`: a refresh of something that exists is
    /// tried again with back-off; anything else is reported.
    fn fail(&mut self, kind: Kind, error: RequestError, now: Instant) {
        let request = match kind {
            Kind::Allocate => Request::Allocate,
            Kind::Refresh { .. } => Request::Refresh,
            Kind::CreatePermission { peer } => Request::CreatePermission(peer),
            Kind::ChannelBind { peer, channel } => Request::ChannelBind(peer, channel),
        };
        // 437 Allocation Mismatch (RFC 8656 §18): the server has no
        // allocation for our 5-tuple, whatever the request: it is gone
        // (RFC 8656 §8.3).
        let mismatch =
            matches!(error, RequestError::Rejected { code, .. } if code == ALLOCATION_MISMATCH);
        if mismatch {
            // RFC 8656 §8.3: a 437 to a deleting Refresh (LIFETIME 0; over
            // UDP, often a retransmission after the answer was lost) means
            // the allocation is gone: the request effectively succeeded.
            if kind != (Kind::Refresh { lifetime: 0 }) {
                self.push_event(Event::Failed { request, error });
            }
            return self.finish();
        }
        match kind {
            Kind::Allocate | Kind::Refresh { lifetime: 0 } => {
                self.push_event(Event::Failed { request, error });
                self.finish();
            }
            Kind::Refresh { .. } => {
                if let State::Allocated { refresh, .. } = &mut self.state {
                    let retry = Retry::after(refresh.retry, now);
                    *refresh = RefreshTimer {
                        due: retry.at,
                        in_flight: false,
                        retry: Some(retry),
                    };
                    self.stats.refresh_failures += 1;
                }
            }
            Kind::CreatePermission { peer } => match self.permissions.failed(peer, now) {
                permission::Failure::NeverInstalled => {
                    self.push_event(Event::Failed { request, error });
                }
                permission::Failure::WillRetry => self.stats.refresh_failures += 1,
                permission::Failure::Unknown => {}
            },
            Kind::ChannelBind { peer, .. } => match self.channels.failed(
                &peer,
                now,
                matches!(error, RequestError::Timeout { .. }),
            ) {
                channel::Failure::NeverConfirmed => {
                    self.push_event(Event::Failed { request, error });
                }
                channel::Failure::WillRetry => self.stats.refresh_failures += 1,
                channel::Failure::Unknown => {}
            },
        }
    }

    /// Feeds a datagram received at `now` from `source` (RFC 8656 §10.6,
    /// §12.6, and responses per RFC 8489 §6.3): over TCP or TLS, one frame
    /// from [`crate::StreamDecoder`] with the server as `source`. Data from
    /// peers comes out as [`Event::Data`].
    pub fn handle_receive(&mut self, now: Instant, source: SocketAddr, datagram: &[u8]) {
        if let Some(d) = self.receive(now, source, datagram) {
            self.push_event(Event::Data {
                peer: d.peer,
                data: d.data.to_vec(),
            });
        }
    }

    /// Like [`Self::handle_receive`], but data from a peer is returned,
    /// borrowed from `datagram`, instead of copied into an [`Event::Data`].
    pub fn receive<'a>(
        &mut self,
        now: Instant,
        source: SocketAddr,
        datagram: &'a [u8],
    ) -> Option<PeerData<'a>> {
        if source != self.config.server {
            self.stats.foreign_source += 1;
            return None;
        }
        if self.state == State::Closed {
            return None;
        }
        if is_channel_data(datagram) {
            return self.handle_channel_data(datagram);
        }
        let Ok(msg) = Message::parse(datagram) else {
            self.stats.malformed += 1;
            return None;
        };
        match msg.class() {
            Class::Indication if msg.method() == Method::DATA => {
                return self.handle_data_indication(&msg);
            }
            Class::SuccessResponse | Class::ErrorResponse => self.handle_response(&msg, now),
            _ => self.stats.malformed += 1,
        }
        None
    }

    /// ChannelData from the server (RFC 8656 §12.6): on a confirmed channel.
    fn handle_channel_data<'a>(&mut self, datagram: &'a [u8]) -> Option<PeerData<'a>> {
        let Ok(cd) = ChannelData::parse(datagram) else {
            self.stats.malformed += 1;
            return None;
        };
        let Some(peer) = self.channels.peer(cd.channel) else {
            self.stats.unknown_channel += 1;
            return None;
        };
        self.channels.touch(&peer);
        self.permissions.touch(&peer.ip());
        Some(PeerData {
            peer,
            data: cd.data,
        })
    }

    /// A Data indication (RFC 8656 §10.6): XOR-PEER-ADDRESS and DATA, from a
    /// peer whose permission is installed.
    fn handle_data_indication<'a>(&mut self, msg: &Message<'a>) -> Option<PeerData<'a>> {
        let (mut peer, mut data) = (None, None);
        for attr in msg.attributes() {
            match attr {
                Ok(Attribute::XorPeerAddress(a)) => peer = Some(a),
                Ok(Attribute::Data(d)) => data = Some(d),
                _ => {}
            }
        }
        let (Some(peer), Some(data)) = (peer, data) else {
            self.stats.malformed += 1;
            return None;
        };
        if !self.permissions.is_installed(&peer.ip()) {
            self.stats.unknown_peer += 1;
            return None;
        }
        self.permissions.touch(&peer.ip());
        Some(PeerData { peer, data })
    }

    /// A response: matched by transaction id, authenticated, then handled
    /// per method.
    fn handle_response(&mut self, msg: &Message<'_>, now: Instant) {
        let tid = msg.transaction_id();
        let Some(txn) = self.transactions.get(&tid) else {
            self.stats.unmatched_responses += 1;
            return;
        };
        let answered = Answered {
            kind: txn.kind,
            stale_retried: txn.stale_retried,
            signed: txn.signed,
        };
        let kind = answered.kind;
        let method_ok = matches!(
            (kind, msg.method()),
            (Kind::Allocate, Method::ALLOCATE)
                | (Kind::Refresh { .. }, Method::REFRESH)
                | (Kind::CreatePermission { .. }, Method::CREATE_PERMISSION)
                | (Kind::ChannelBind { .. }, Method::CHANNEL_BIND)
        );
        if !method_ok {
            self.stats.malformed += 1;
            return;
        }
        let error = (msg.class() == Class::ErrorResponse).then(|| error_code(msg));
        // RFC 8489 §9.2.5: once credentials are known, a response must carry
        // valid integrity, except the unauthenticated 401 and 438; anything
        // else is discarded as if never received (retransmissions go on).
        if let Some(auth) = &self.auth {
            let may_be_unsigned =
                matches!(&error, Some((c, _)) if *c == UNAUTHENTICATED || *c == STALE_NONCE);
            match auth.verify(msg) {
                Some(true) => {}
                None if may_be_unsigned => {}
                Some(false) | None => {
                    self.stats.bad_integrity += 1;
                    return;
                }
            }
        }
        self.transactions.remove(&tid);
        match error {
            Some((code, reason)) => self.handle_error_response(msg, answered, code, reason, now),
            None => self.handle_success(msg, kind, now),
        }
    }

    fn handle_error_response(
        &mut self,
        msg: &Message<'_>,
        answered: Answered,
        code: u16,
        reason: String,
        now: Instant,
    ) {
        let Answered {
            kind,
            stale_retried,
            signed,
        } = answered;
        match code {
            // RFC 8656 §7.2 / RFC 8489 §9.2.3: the first Allocate is
            // challenged. A 401 to a signed request means wrong
            // credentials: it fails below.
            UNAUTHENTICATED if kind == Kind::Allocate && !signed && self.auth.is_none() => {
                if matches!(
                    self.state,
                    State::Allocating {
                        close_requested: true
                    }
                ) {
                    // Closed before any allocation exists: nothing to undo.
                    return self.finish();
                }
                match Auth::from_challenge(msg, &self.config.username, &self.config.password) {
                    Some(Ok(auth)) => {
                        self.auth = Some(auth);
                        self.start(kind, now, stale_retried);
                        return;
                    }
                    Some(Err(error)) => return self.fail(kind, error, now),
                    None => {}
                }
            }
            // RFC 8656 §7.4: 438 Stale Nonce, retry once with the new nonce.
            STALE_NONCE if !stale_retried => {
                if let Some(auth) = &mut self.auth {
                    match auth.update_nonce(msg) {
                        Ok(true) => {
                            self.start(kind, now, true);
                            return;
                        }
                        Ok(false) => {}
                        Err(error) => return self.fail(kind, error, now),
                    }
                }
            }
            _ => {}
        }
        self.fail(kind, RequestError::Rejected { code, reason }, now);
    }

    fn handle_success(&mut self, msg: &Message<'_>, kind: Kind, now: Instant) {
        let (mut relayed, mut mapped, mut lifetime) = (None, None, None);
        for attr in msg.attributes().flatten() {
            match attr {
                Attribute::XorRelayedAddress(a) => relayed = Some(a),
                Attribute::XorMappedAddress(a) => mapped = Some(a),
                Attribute::Lifetime(l) => lifetime = Some(Duration::from_secs(u64::from(l))),
                _ => {}
            }
        }
        match kind {
            Kind::Allocate => {
                let (Some(relayed), Some(mapped), Some(lifetime)) = (relayed, mapped, lifetime)
                else {
                    return self.fail(
                        kind,
                        RequestError::Malformed("Allocate success without relayed/mapped/lifetime"),
                        now,
                    );
                };
                if matches!(
                    self.state,
                    State::Allocating {
                        close_requested: true
                    }
                ) {
                    // close() came while allocating: undo it at once.
                    return self.deallocate(now);
                }
                self.state = State::Allocated {
                    relayed,
                    expires: now + lifetime,
                    refresh: RefreshTimer {
                        due: refresh_time(now, lifetime),
                        in_flight: false,
                        retry: None,
                    },
                };
                self.push_event(Event::Allocated {
                    relayed,
                    mapped,
                    lifetime,
                });
            }
            Kind::Refresh { lifetime: 0 } => self.finish(),
            Kind::Refresh { .. } => {
                let lifetime = lifetime.unwrap_or(self.config.lifetime);
                if lifetime.is_zero() {
                    // The server ended it (RFC 8656 §8.3).
                    return self.finish();
                }
                if let State::Allocated {
                    expires, refresh, ..
                } = &mut self.state
                {
                    *expires = now + lifetime;
                    *refresh = RefreshTimer {
                        due: refresh_time(now, lifetime),
                        in_flight: false,
                        retry: None,
                    };
                }
                self.push_event(Event::Refreshed { lifetime });
            }
            Kind::CreatePermission { peer } => {
                if self.permissions.created(peer, now) {
                    self.push_event(Event::PermissionCreated { peer });
                }
            }
            Kind::ChannelBind { peer, channel } => {
                if self.channels.get(&peer).is_none_or(|c| c.number != channel) {
                    // The binding lapsed meanwhile.
                    return;
                }
                let first = self.channels.confirmed(&peer, now);
                // RFC 8656 §12.3: a ChannelBind installs or refreshes the
                // permission too.
                self.permissions.bound(peer.ip(), now);
                if first {
                    self.push_event(Event::ChannelBound { peer, channel });
                }
            }
        }
    }

    /// Writes the next datagram for the server into `buf` (cleared first):
    /// over TCP or TLS, bytes to write to the stream.
    pub fn poll_transmit(&mut self, _now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        let bytes = self.out.pop_front()?;
        buf.clear();
        buf.extend_from_slice(&bytes);
        Some(Transmit {
            destination: self.config.server,
        })
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Self::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let txn = self.transactions.values().map(|t| t.deadline).min();
        let State::Allocated {
            expires, refresh, ..
        } = self.state
        else {
            return txn;
        };
        let alloc = if refresh.in_flight {
            expires
        } else {
            refresh.due.min(expires)
        };
        [
            txn,
            Some(alloc),
            self.permissions.next_timeout(),
            self.channels.next_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Runs the timers due at `now`: allocation, permission and channel
    /// expiry and refresh (RFC 8656 §8, §9, §12), then retransmissions
    /// (RFC 8489 §6.2.1) of what is still outstanding.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let State::Allocated {
            expires, refresh, ..
        } = self.state
        {
            if now >= expires {
                self.finish();
                return;
            }
            self.permission_and_channel_timers(now);
            if !refresh.in_flight && now >= refresh.due {
                if let State::Allocated { refresh, .. } = &mut self.state {
                    refresh.in_flight = true;
                }
                let lifetime = self.config.lifetime_secs();
                self.start(Kind::Refresh { lifetime }, now, false);
            }
        }
        self.transaction_timers(now);
    }

    /// Lapsed permissions and channels are reported (whatever is in flight
    /// for them is moot: the server forgot them); due refreshes are sent.
    fn permission_and_channel_timers(&mut self, now: Instant) {
        let work = self.permissions.handle_timeout(now);
        for peer in work.expired {
            self.transactions
                .retain(|_, t| t.kind != Kind::CreatePermission { peer });
            self.push_event(Event::PermissionExpired { peer });
        }
        for peer in work.refresh {
            self.start(Kind::CreatePermission { peer }, now, false);
        }
        let work = self.channels.handle_timeout(now);
        for (peer, channel) in work.expired {
            self.transactions
                .retain(|_, t| t.kind != Kind::ChannelBind { peer, channel });
            self.push_event(Event::ChannelExpired { peer, channel });
        }
        for (peer, channel) in work.rebind {
            self.start(Kind::ChannelBind { peer, channel }, now, false);
        }
    }

    /// Retransmissions and timeouts of outstanding requests (RFC 8489
    /// §6.2.1, §6.2.2).
    fn transaction_timers(&mut self, now: Instant) {
        let due: Vec<TransactionId> = self
            .transactions
            .iter()
            .filter(|(_, t)| t.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            let Some(t) = self.transactions.get_mut(&id) else {
                continue;
            };
            match t.expire(now) {
                Expiry::Retransmit => {
                    self.stats.retransmits += 1;
                    let bytes = t.bytes.clone();
                    self.push_out(bytes);
                }
                Expiry::TimedOut => {
                    let (kind, transmits) = (t.kind, t.transmits);
                    self.transactions.remove(&id);
                    self.fail(kind, RequestError::Timeout { transmits }, now);
                }
            }
        }
    }
}
