//! The TURN client state machine (RFC 8656 §7-§12) over UDP to one server.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use ferrtc_stun::{Attribute, Class, Message, MessageBuilder, Method, TransactionId};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::auth::Auth;
use crate::channel::Channels;
use crate::channel_data::{ChannelData, is_channel_data};
use crate::permission::Permissions;
use crate::transaction::{Expiry, Kind, Transaction};
use crate::{Error, RequestError};

/// REQUESTED-TRANSPORT value for UDP, the IP protocol number 17 (RFC 8656 §18.8).
const TRANSPORT_UDP: u8 = 17;

/// Configuration of a [`Client`] (RFC 8656 §7.1 Allocate request contents).
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The TURN server's transport address (UDP).
    pub server: SocketAddr,
    /// Long-term credential username (RFC 8489 §9.2).
    pub username: String,
    /// Long-term credential password (RFC 8489 §9.2).
    pub password: String,
    /// SOFTWARE attribute for requests (RFC 8489 §14.14), if any.
    pub software: Option<String>,
    /// LIFETIME asked for the allocation (RFC 8656 §7.1; default 600 s).
    pub lifetime: Duration,
    /// Seed of the transaction id RNG; `None` seeds from the OS.
    pub seed: Option<u64>,
}

impl ClientConfig {
    /// A configuration with the default lifetime (600 s), no SOFTWARE, and an
    /// OS-seeded RNG.
    pub fn new(server: SocketAddr, username: &str, password: &str) -> Self {
        ClientConfig {
            server,
            username: username.to_owned(),
            password: password.to_owned(),
            software: None,
            lifetime: Duration::from_secs(600),
            seed: None,
        }
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
    /// A permission is installed (RFC 8656 §10.3).
    PermissionCreated {
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
    /// Data from a peer, from a Data indication (RFC 8656 §10.6) or
    /// ChannelData (RFC 8656 §12.6).
    Data {
        /// The peer's transport address.
        peer: SocketAddr,
        /// The application data.
        data: Vec<u8>,
    },
    /// A request failed.
    Failed {
        /// Which request.
        request: Request,
        /// Why.
        error: RequestError,
    },
    /// The allocation is gone (deallocated by [`Client::close`], expired or
    /// failed); the client does nothing more.
    Closed,
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
    /// Responses whose MESSAGE-INTEGRITY(-SHA256) failed (RFC 8489 §9.2.5).
    pub bad_integrity: u64,
    /// ChannelData on a channel not bound (RFC 8656 §12.6).
    pub unknown_channel: u64,
    /// Data indications from a peer without permission (RFC 8656 §10.6).
    pub unknown_peer: u64,
    /// Request retransmissions (RFC 8489 §6.2.1).
    pub retransmits: u64,
}

/// Where the allocation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Allocate outstanding.
    Allocating,
    /// Allocated until `expires`, refreshed at `refresh_at`.
    Allocated {
        relayed: SocketAddr,
        expires: Instant,
        refresh_at: Instant,
        refreshing: bool,
    },
    /// Refresh with LIFETIME 0 outstanding (RFC 8656 §8.1).
    Closing,
    /// Done.
    Closed,
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            State::Allocating => "allocating",
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

/// A sans-IO TURN client (RFC 8656) for one allocation on one server over
/// UDP. See the crate documentation for how to drive it.
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
            state: State::Allocating,
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

    fn require_allocated(&self) -> Result<(), Error> {
        match self.state {
            State::Allocated { .. } => Ok(()),
            s => Err(Error::NotAllocated { state: s.name() }),
        }
    }

    /// Asks for a permission for `peer` (RFC 8656 §10.1); refreshed every 4
    /// minutes while data flows to or from it.
    pub fn create_permission(&mut self, peer: IpAddr, now: Instant) -> Result<(), Error> {
        self.require_allocated()?;
        if self.permissions.request(peer) {
            self.start(Kind::CreatePermission { peer }, now, false);
        }
        Ok(())
    }

    /// Binds a channel to `peer` (RFC 8656 §11.1) and returns its number
    /// (0x4000..=0x4FFF); [`Event::ChannelBound`] says when ChannelData
    /// starts being used. The binding installs the permission too (§12.2).
    pub fn bind_channel(&mut self, peer: SocketAddr, now: Instant) -> Result<u16, Error> {
        self.require_allocated()?;
        let (channel, send) = self
            .channels
            .bind(peer)
            .ok_or(Error::ChannelsExhausted { peer })?;
        if send {
            self.start(Kind::ChannelBind { peer, channel }, now, false);
        }
        Ok(channel)
    }

    /// Sends `data` to `peer` through the relay: as ChannelData if a channel
    /// is bound and confirmed (RFC 8656 §12.5), else as a Send indication
    /// (RFC 8656 §10.1), which needs a permission asked for before.
    pub fn send_to(&mut self, peer: SocketAddr, data: &[u8]) -> Result<(), Error> {
        self.require_allocated()?;
        if self.channels.get(&peer).is_some_and(|c| c.confirmed) {
            let mut out = Vec::with_capacity(data.len() + 4);
            let number = self.channels.get(&peer).map_or(0, |c| c.number);
            ChannelData::encode(number, data, &mut out)?;
            self.channels.touch(&peer);
            self.permissions.touch(&peer.ip());
            self.out.push_back(out);
            return Ok(());
        }
        if self.permissions.get(&peer.ip()).is_none() {
            return Err(Error::NoPermission { peer: peer.ip() });
        }
        let tid = TransactionId(self.rng.random());
        let mut out = Vec::with_capacity(data.len() + 64);
        let mut b = MessageBuilder::new(&mut out, Class::Indication, Method::SEND, tid);
        b.add(&Attribute::XorPeerAddress(peer))?;
        b.add(&Attribute::Data(data)).map_err(|e| match e {
            ferrtc_stun::Error::ValueTooLong { .. } | ferrtc_stun::Error::MessageTooLong => {
                Error::DataTooLong { len: data.len() }
            }
            e => Error::Stun(e),
        })?;
        b.finish();
        self.permissions.touch(&peer.ip());
        self.out.push_back(out);
        Ok(())
    }

    /// Deallocates (RFC 8656 §8.1: Refresh with LIFETIME 0); [`Event::Closed`]
    /// follows the response or the timeout. Without an allocation, closes at once.
    pub fn close(&mut self, now: Instant) {
        match self.state {
            State::Allocated { .. } => {
                self.state = State::Closing;
                self.transactions.clear();
                self.start(Kind::Refresh { lifetime: 0 }, now, false);
            }
            State::Closing | State::Closed => {}
            State::Allocating => self.finish(),
        }
    }

    fn finish(&mut self) {
        if self.state != State::Closed {
            self.state = State::Closed;
            self.transactions.clear();
            self.out.clear();
            self.events.push_back(Event::Closed);
        }
    }

    /// Builds and queues a new request of `kind`; `stale_retried` carries
    /// over from the transaction it replaces.
    fn start(&mut self, kind: Kind, now: Instant, stale_retried: bool) {
        let tid = TransactionId(self.rng.random());
        match self.build_request(kind, tid) {
            Ok(bytes) => {
                self.out.push_back(bytes.clone());
                let mut t = Transaction::new(kind, bytes, now);
                t.stale_retried = stale_retried;
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
                let secs = u32::try_from(self.config.lifetime.as_secs()).unwrap_or(u32::MAX);
                b.add(&Attribute::Lifetime(secs))?;
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

    /// A request failed for good.
    fn fail(&mut self, kind: Kind, error: RequestError, now: Instant) {
        let request = match kind {
            Kind::Allocate => Request::Allocate,
            Kind::Refresh { .. } => Request::Refresh,
            Kind::CreatePermission { peer } => Request::CreatePermission(peer),
            Kind::ChannelBind { peer, channel } => Request::ChannelBind(peer, channel),
        };
        self.events.push_back(Event::Failed { request, error });
        match kind {
            Kind::Allocate => self.finish(),
            Kind::Refresh { lifetime: 0 } => self.finish(),
            Kind::Refresh { .. } => {
                if let State::Allocated {
                    expires,
                    refreshing,
                    ..
                } = &mut self.state
                {
                    *refreshing = false;
                    if *expires <= now {
                        self.finish();
                    }
                }
            }
            Kind::CreatePermission { peer } => self.permissions.failed(peer),
            Kind::ChannelBind { peer, .. } => self.channels.failed(&peer),
        }
    }

    /// Feeds a datagram received at `now` from `source` (RFC 8656 §10.6,
    /// §12.6, and responses per RFC 8489 §6.3).
    pub fn handle_receive(&mut self, now: Instant, source: SocketAddr, datagram: &[u8]) {
        if source != self.config.server {
            self.stats.foreign_source += 1;
            return;
        }
        if self.state == State::Closed {
            return;
        }
        if is_channel_data(datagram) {
            self.handle_channel_data(datagram);
            return;
        }
        let Ok(msg) = Message::parse(datagram) else {
            self.stats.malformed += 1;
            return;
        };
        match msg.class() {
            Class::Indication if msg.method() == Method::DATA => self.handle_data_indication(&msg),
            Class::SuccessResponse | Class::ErrorResponse => self.handle_response(&msg, now),
            _ => self.stats.malformed += 1,
        }
    }

    /// ChannelData from the server (RFC 8656 §12.6).
    fn handle_channel_data(&mut self, datagram: &[u8]) {
        let Ok(cd) = ChannelData::parse(datagram) else {
            self.stats.malformed += 1;
            return;
        };
        let Some(peer) = self.channels.peer(cd.channel) else {
            self.stats.unknown_channel += 1;
            return;
        };
        self.channels.touch(&peer);
        self.permissions.touch(&peer.ip());
        self.events.push_back(Event::Data {
            peer,
            data: cd.data.to_vec(),
        });
    }

    /// A Data indication (RFC 8656 §10.6): XOR-PEER-ADDRESS and DATA, from a
    /// peer we have a permission for.
    fn handle_data_indication(&mut self, msg: &Message<'_>) {
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
            return;
        };
        if self.permissions.get(&peer.ip()).is_none() {
            self.stats.unknown_peer += 1;
            return;
        }
        self.permissions.touch(&peer.ip());
        self.events.push_back(Event::Data {
            peer,
            data: data.to_vec(),
        });
    }

    /// A response: matched by transaction id, authenticated, then handled
    /// per method.
    fn handle_response(&mut self, msg: &Message<'_>, now: Instant) {
        let tid = msg.transaction_id();
        let Some(txn) = self.transactions.get(&tid) else {
            self.stats.unmatched_responses += 1;
            return;
        };
        let kind = txn.kind;
        let stale_retried = txn.stale_retried;
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
        // RFC 8489 §9.2.5: a response to an authenticated request must carry
        // valid integrity; unauthenticated error responses (401, 438) pass.
        if let Some(auth) = &self.auth {
            match auth.verify(msg) {
                Some(true) => {}
                Some(false) => {
                    self.stats.bad_integrity += 1;
                    return;
                }
                None if msg.class() == Class::SuccessResponse => {
                    self.stats.bad_integrity += 1;
                    return;
                }
                None => {}
            }
        }
        self.transactions.remove(&tid);
        if msg.class() == Class::ErrorResponse {
            self.handle_error_response(msg, kind, stale_retried, now);
        } else {
            self.handle_success(msg, kind, now);
        }
    }

    fn handle_error_response(
        &mut self,
        msg: &Message<'_>,
        kind: Kind,
        stale_retried: bool,
        now: Instant,
    ) {
        let (code, reason) = msg
            .attributes()
            .find_map(|a| match a {
                Ok(Attribute::ErrorCode { code, reason }) => Some((code, reason.to_owned())),
                _ => None,
            })
            .unwrap_or((0, String::new()));
        match code {
            // RFC 8656 §7.2 / RFC 8489 §9.2.3: the first Allocate is challenged.
            401 if kind == Kind::Allocate && self.auth.is_none() => {
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
            438 if !stale_retried => {
                if let Some(auth) = &mut self.auth
                    && auth.update_nonce(msg)
                {
                    self.start(kind, now, true);
                    return;
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
                self.state = State::Allocated {
                    relayed,
                    expires: now + lifetime,
                    refresh_at: refresh_time(now, lifetime),
                    refreshing: false,
                };
                self.events.push_back(Event::Allocated {
                    relayed,
                    mapped,
                    lifetime,
                });
            }
            Kind::Refresh { lifetime: 0 } => self.finish(),
            Kind::Refresh { .. } => {
                let lifetime = lifetime.unwrap_or(self.config.lifetime);
                if let State::Allocated {
                    expires,
                    refresh_at,
                    refreshing,
                    ..
                } = &mut self.state
                {
                    *expires = now + lifetime;
                    *refresh_at = refresh_time(now, lifetime);
                    *refreshing = false;
                }
                self.events.push_back(Event::Refreshed { lifetime });
            }
            Kind::CreatePermission { peer } => {
                let first = self.permissions.get(&peer).is_none_or(|p| !p.installed);
                self.permissions.installed(peer, now);
                if first {
                    self.events.push_back(Event::PermissionCreated { peer });
                }
            }
            Kind::ChannelBind { peer, channel } => {
                let first = self.channels.get(&peer).is_none_or(|c| !c.confirmed);
                self.channels.confirmed(&peer, now);
                // RFC 8656 §12.2: a ChannelBind installs or refreshes the permission.
                self.permissions.installed(peer.ip(), now);
                if first {
                    self.events.push_back(Event::ChannelBound { peer, channel });
                }
            }
        }
    }

    /// Writes the next datagram for the server into `buf` (cleared first).
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
        let (alloc, perms, chans) = match self.state {
            State::Allocated {
                expires,
                refresh_at,
                refreshing,
                ..
            } => (
                Some(if refreshing { expires } else { refresh_at }),
                self.permissions.next_timeout(),
                self.channels.next_timeout(),
            ),
            _ => (None, None, None),
        };
        [txn, alloc, perms, chans].into_iter().flatten().min()
    }

    /// Runs the timers due at `now`: retransmissions (RFC 8489 §6.2.1),
    /// allocation refresh (RFC 8656 §8), permission and channel refresh
    /// (RFC 8656 §9, §12).
    pub fn handle_timeout(&mut self, now: Instant) {
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
                    self.out.push_back(t.bytes.clone());
                }
                Expiry::TimedOut => {
                    let (kind, transmits) = (t.kind, t.transmits);
                    self.transactions.remove(&id);
                    self.fail(kind, RequestError::Timeout { transmits }, now);
                }
            }
        }
        let State::Allocated {
            expires,
            refresh_at,
            refreshing,
            ..
        } = self.state
        else {
            return;
        };
        if now >= expires {
            self.finish();
            return;
        }
        if !refreshing && now >= refresh_at {
            if let State::Allocated { refreshing, .. } = &mut self.state {
                *refreshing = true;
            }
            let secs = u32::try_from(self.config.lifetime.as_secs()).unwrap_or(u32::MAX);
            self.start(Kind::Refresh { lifetime: secs }, now, false);
        }
        for peer in self.permissions.handle_timeout(now).refresh {
            self.start(Kind::CreatePermission { peer }, now, false);
        }
        for (peer, channel) in self.channels.handle_timeout(now) {
            self.start(Kind::ChannelBind { peer, channel }, now, false);
        }
    }
}
