//! The sans-IO ICE agent (RFC 8445 full and lite, RFC 8838 trickle,
//! RFC 7675 consent freshness) for one component over UDP.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use ferrtc_stun::{Class, Message, Method, TransactionId, is_stun_message, short_term_key};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::Error;

mod checks;
mod consent;
mod nomination;
mod pairs;
mod relay;
mod replay;
mod wire;

#[cfg(test)]
mod tests;
use crate::candidate::{Candidate, CandidateType, Foundation, TcpType, Transport};
use crate::config::{AgentConfig, Credentials};
use crate::event::{
    ConnectionState, Event, FailureReason, GatheringState, RoundTrip, SelectedPair,
};
use crate::pair::{Pair, PairState, pair_priority};
use crate::stun_io::{self, CheckRequest, RoleAttr};
use crate::transaction::{Expiry, Schedule, Transaction, TxnKind};

/// Where a datagram goes: the local socket address to send from and the
/// remote address to send to. The payload is in the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Transmit {
    /// The local address (one added with [`Agent::add_local_host`] or
    /// [`Agent::add_local_tcp`]) to send from.
    pub source: SocketAddr,
    /// The remote address to send to.
    pub destination: SocketAddr,
    /// UDP, or one framed message (RFC 4571) on the TCP connection between
    /// the two addresses (RFC 6544): for an active local candidate
    /// (`source` is its `IP:9`) the caller opens it, for a passive one the
    /// peer did.
    pub protocol: Protocol,
}

/// How a datagram or message travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// UDP datagrams.
    Udp,
    /// Messages framed on a TCP connection (RFC 6544 §3, RFC 4571).
    Tcp,
    /// TURN messages on the TCP connection from the IP of `source` to the
    /// TURN server `destination` (RFC 8656 §3.1): STUN messages and
    /// ChannelData delimit themselves (ChannelData padded to 4 bytes,
    /// §12.5), no RFC 4571 length. What the caller reads from it goes,
    /// cut with `ferrtc_turn::StreamDecoder`, to
    /// [`Agent::handle_receive_turn_tcp`].
    TurnTcp,
}

/// What became of a received datagram ([`Agent::handle_receive`]).
#[derive(Debug, PartialEq, Eq)]
pub enum Receive<'a> {
    /// A STUN message for the agent; it was consumed.
    Stun,
    /// Application data from a validated pair, for the layer above.
    Data(&'a [u8]),
    /// Application data from a validated pair through a TURN relay
    /// (unwrapped from ChannelData or a Data indication), for the layer above.
    Relayed(Vec<u8>),
    /// Dropped and counted in [`Stats`].
    Dropped(DropReason),
}

/// Why a received datagram was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// Application data from an address pair ICE has not validated.
    Unvalidated,
    /// A STUN message that does not parse or fails its FINGERPRINT.
    MalformedStun,
    /// A STUN response to no transaction of ours, or one failing its integrity.
    UnknownTransaction,
    /// A STUN message the agent does not handle (not Binding).
    UnsupportedStun,
    /// Sent to an address that is not one of the local hosts.
    UnknownDestination,
    /// The agent is closed.
    Closed,
    /// An authenticated Binding request whose transaction id came lately
    /// from another source: a captured check sent again (RFC 8445
    /// §7.3.1.3, §19). Neither answered nor learned from.
    ReplayedRequest,
}

/// Counters of the agent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Connectivity checks started (first transmissions).
    pub checks_sent: u64,
    /// Request retransmissions.
    pub retransmissions: u64,
    /// Binding responses sent (success and error).
    pub responses_sent: u64,
    /// Role conflicts met (RFC 8445 §7.3.1.1).
    pub role_conflicts: u64,
    /// Application datagrams dropped because their pair is not validated.
    pub dropped_unvalidated: u64,
    /// STUN messages dropped (malformed, unknown transaction, bad integrity).
    pub dropped_stun: u64,
    /// Application bytes sent through [`Agent::send`].
    pub bytes_sent: u64,
    /// Application bytes received on validated pairs.
    pub bytes_received: u64,
    /// TURN requests that failed (RFC 8656; an Allocate failure also
    /// comes out as [`Event::CandidateError`]).
    pub relay_request_failures: u64,
    /// Datagrams a TURN allocation could not take (no permission yet, or
    /// the allocation is gone).
    pub relay_send_failures: u64,
    /// Times the selected pair changed, from none to one, from one to
    /// another, or from one to none (W3C webrtc-stats `RTCTransportStats`
    /// `selectedCandidatePairChanges`).
    pub selected_pair_changes: u64,
}

/// Application data that went over one candidate pair, ICE's own checks
/// left out (W3C webrtc-stats `RTCIceCandidatePairStats` `packetsSent`,
/// `packetsReceived`, `bytesSent`, `bytesReceived`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PairTraffic {
    /// Datagrams sent.
    pub packets_sent: u64,
    /// Datagrams received.
    pub packets_received: u64,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Bytes received.
    pub bytes_received: u64,
}

/// One candidate pair of the agent's check list (RFC 8445 §6.1.2), as
/// [`Agent::candidate_pairs`] shows it: what W3C webrtc-stats
/// `RTCIceCandidatePairStats` reports of each pair. A copy: it does not
/// follow the pair's later checks.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CandidatePairInfo {
    /// The local candidate as the peer sees it: the pair's base (host or
    /// relayed), or over UDP the server- or peer-reflexive address its
    /// check's answer showed (the selected pair's
    /// [`SelectedPair::local`] is made the same way).
    pub local: Candidate,
    /// The remote candidate.
    pub remote: Candidate,
    /// Where its checks stand (RFC 8445 §6.1.2.6).
    pub state: PairState,
    /// Nominated (RFC 8445 §8.1.1).
    pub nominated: bool,
    /// It is the selected pair ([`Agent::selected_pair`]), whose round
    /// trips ([`Agent::selected_pair_round_trip`]) also count its consent
    /// checks.
    pub selected: bool,
    /// Round trips measured on the responses to its connectivity checks
    /// (`responsesReceived`, `totalRoundTripTime`, `currentRoundTripTime`).
    pub round_trip: RoundTrip,
    /// Application data that went between its base and remote address
    /// over its protocol, as [`Agent::selected_pair_traffic`] counts it
    /// (in this generation only: a pair a restart made again on the same
    /// addresses starts from zero; kept for the few pairs that carried
    /// data, zero for the others).
    pub traffic: PairTraffic,
}

/// The pairs that carried data, by generation, protocol, local base and
/// remote address, at most this many: the oldest not selected makes room.
const MAX_PAIR_TRAFFIC: usize = 16;

/// The data counted for one pair of one generation (the restarts before
/// it, see [`Agent::generation`]): W3C webrtc-stats
/// `RTCIceCandidatePairStats` counts per pair, and the pair a restart
/// makes on the same addresses is another pair.
#[derive(Debug)]
struct TrafficEntry {
    generation: u32,
    protocol: Protocol,
    local: SocketAddr,
    remote: SocketAddr,
    traffic: PairTraffic,
}

impl TrafficEntry {
    fn is(
        &self,
        generation: u32,
        protocol: Protocol,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> bool {
        self.local == local
            && self.remote == remote
            && self.protocol == protocol
            && self.generation == generation
    }
}

/// A local base: a host candidate (a socket address the caller owns) or a
/// relayed candidate (an address on a TURN server, RFC 8445 §5.1.1.2,
/// reached through the allocation `relay`). Checks and data leave from a
/// base; a relayed base's datagrams are wrapped for its server on the way
/// out and unwrapped on the way in, so pairing, checks and consent treat
/// both alike.
#[derive(Debug)]
struct Host {
    candidate: Candidate,
    addr: SocketAddr,
    local_preference: u16,
    /// For a relayed base, the index of its allocation in `Agent::relays`
    /// (at most [`relay::MAX_TURN_SERVERS`]; a byte keeps `Host` as small
    /// as before relays existed).
    relay: Option<u8>,
}

/// A remote candidate with a usable IP address.
#[derive(Debug)]
struct Remote {
    candidate: Candidate,
    addr: SocketAddr,
    /// For a TCP peer-reflexive remote: the index of the local candidate
    /// (in `Agent::hosts`) whose connection it came on; it pairs with that
    /// one only. (Remotes are forgotten before a restart renumbers hosts.)
    via: Option<u16>,
}

impl Host {
    /// For a relayed base, the index of its allocation in `Agent::relays`.
    fn relay(&self) -> Option<usize> {
        self.relay.map(usize::from)
    }

    fn protocol(&self) -> Protocol {
        self.candidate.transport().protocol()
    }
}

impl Remote {
    fn protocol(&self) -> Protocol {
        self.candidate.transport().protocol()
    }
}

/// The selected pair and what consent freshness needs to keep it
/// (credentials are copied so that it survives an ICE restart).
#[derive(Debug)]
struct Selected {
    pair: SelectedPair,
    /// UDP, or TCP for a pair of TCP candidates.
    protocol: Protocol,
    /// Index of the pair in the current check list (`None` after a restart).
    index: Option<usize>,
    /// The generation ([`Agent::generation`]) of its check list: its data
    /// is counted to it.
    generation: u32,
    priority: u64,
    local_ufrag: String,
    remote_ufrag: String,
    remote_key: Vec<u8>,
    /// Last consent response (RFC 7675 §5.1).
    last_consent: Instant,
    next_consent: Instant,
    /// Round trips of the pair's checks, then of its consent checks.
    round_trip: RoundTrip,
}

/// Something to send, built when [`Agent::poll_transmit`] is called.
#[derive(Debug)]
enum Out {
    /// The (re)transmission of a request.
    Request(TransactionId),
    /// A response to a Binding request.
    Response {
        tid: TransactionId,
        source: SocketAddr,
        destination: SocketAddr,
        protocol: Protocol,
        /// `None` for success, else the error code.
        error: Option<u16>,
        /// For a 420: the unknown comprehension-required attribute types
        /// to list in UNKNOWN-ATTRIBUTES (RFC 8489 §14.13); empty otherwise
        /// (an empty box does not allocate).
        unknown: Box<[u16]>,
        /// Which local password signs it (none for 400/401).
        key: Option<KeyRef>,
    },
}

#[derive(Debug, Clone, Copy)]
enum KeyRef {
    Current,
    Previous,
}

/// Frees the capacity of an empty queue (an idle agent holds no buffers).
fn release_if_empty<T>(queue: &mut VecDeque<T>) {
    if queue.is_empty() && queue.capacity() > 0 {
        *queue = VecDeque::new();
    }
}

/// Below this capacity a list's spare room is left until the agent is idle.
const TRIM_FLOOR: usize = 16;

/// Gives back a list's spare capacity: all of it when the agent is `idle`;
/// else only when it is far above use (more than four times the length,
/// past [`TRIM_FLOOR`]), keeping room to double. Amortized O(1) per push,
/// unlike a `shrink_to_fit` between two pushes, which reallocates (and
/// copies the list) on every one of them.
fn trim_list<T>(list: &mut Vec<T>, idle: bool) {
    if idle {
        list.shrink_to_fit();
    } else if list.capacity() > TRIM_FLOOR && list.capacity() > 4 * list.len() {
        list.shrink_to(2 * list.len());
    }
}

/// Most datagrams waiting in the agent's output queue; beyond it responses
/// are dropped (the peer retransmits).
const MAX_QUEUED: usize = 256;

/// Most attribute types listed in the UNKNOWN-ATTRIBUTES of a 420 (the
/// rest are left out; a request has no business carrying more).
const MAX_UNKNOWN_LISTED: usize = 16;

/// Unanswered nominating checks tolerated on one valid pair before it fails.
const MAX_NOMINATION_FAILURES: u8 = 2;

/// Most events waiting to be polled.
const MAX_EVENTS: usize = 1024;

/// A sans-IO ICE agent for one component over UDP (RFC 8445), with trickle
/// (RFC 8838), consent freshness (RFC 7675) and ICE-lite (RFC 8445 §2.5).
///
/// The caller owns the sockets and the clock. Polling order, after creating
/// the agent and after every input (`add_*`, `set_*`, `handle_receive`,
/// `handle_timeout`, `restart`, `close`):
///
/// 1. `poll_transmit` until `None`, sending each datagram from
///    `Transmit::source` to `Transmit::destination`;
/// 2. `poll_event` until `None`;
/// 3. `poll_timeout`, and call `handle_timeout` when that instant is reached
///    (or earlier if another input comes first).
///
/// Application data goes out through [`Agent::send`], which says which
/// addresses to use; received datagrams all go to [`Agent::handle_receive`],
/// which keeps STUN and hands back data from validated pairs.
///
/// ```
/// use std::time::Instant;
/// use ferrtc_ice::{Agent, AgentConfig, Event};
///
/// let now = Instant::now();
/// let mut agent = Agent::new(AgentConfig { controlling: true, seed: Some(1), ..Default::default() }, now);
/// agent.add_local_host("127.0.0.1:5000".parse().unwrap()).unwrap();
/// let mut buf = Vec::new();
/// while agent.poll_transmit(now, &mut buf).is_some() {}
/// assert!(matches!(agent.poll_event(), Some(Event::GatheringStateChange(_))));
/// assert!(matches!(agent.poll_event(), Some(Event::LocalCandidate(_))));
/// ```
#[derive(Debug)]
#[doc(alias = "RTCIceTransport")]
pub struct Agent {
    config: AgentConfig,
    rng: StdRng,
    controlling: bool,
    tie_breaker: u64,
    local: Credentials,
    local_key: Vec<u8>,
    /// The credentials of the selected pair's generation once a restart
    /// replaced them (the first restart's, through any later one), answered
    /// until the new pair is selected.
    /// Boxed: it exists only between a restart and the next selection.
    previous_local: Option<Box<(Credentials, Vec<u8>)>>,
    remote: Option<(Credentials, Vec<u8>)>,
    remote_lite: bool,
    hosts: Vec<Host>,
    srflx: Vec<Candidate>,
    stun_servers: Vec<SocketAddr>,
    turn_servers: Vec<relay::TurnServer>,
    relays: Vec<relay::Relay>,
    remotes: Vec<Remote>,
    pairs: Vec<Pair>,
    triggered: VecDeque<usize>,
    transactions: Vec<Transaction>,
    out: VecDeque<Out>,
    events: VecDeque<Event>,
    next_check: Instant,
    remote_end_of_candidates: bool,
    first_valid_at: Option<Instant>,
    /// After the selected pair's connection closed with other valid pairs
    /// left (`lose_selected`): when to fail if none was selected since.
    fallback_deadline: Option<Instant>,
    /// A pair was nominated in this generation: ordinary checks stop (RFC 8445 §8.1.2).
    nominated: bool,
    /// The controlling agent picked a pair to nominate in this generation.
    nominating: bool,
    selected: Option<Selected>,
    gathering: GatheringState,
    /// Gathering may not complete: the caller is still finding servers.
    gathering_held: bool,
    state: ConnectionState,
    prflx_count: u32,
    /// Recent request transaction ids and their sources (replays).
    recent_requests: replay::RecentRequests,
    stats: Stats,
    /// The ICE restarts so far (RFC 8445 §9): the generation of the
    /// current check list.
    generation: u32,
    /// Data per pair (see [`PairTraffic`]), by generation, protocol, local
    /// base and remote address: the entries of the current check list's
    /// pairs and of the selected pair, which may be of the generation
    /// before.
    traffic: Vec<TrafficEntry>,
    /// The index in `traffic` of the pair last counted.
    traffic_hint: usize,
    now: Instant,
}

impl Agent {
    /// A new agent; `now` is the current time. Its RNG (a ChaCha
    /// generator) is seeded from the operating system's CSPRNG, or from
    /// [`AgentConfig::seed`] when a test sets one; two agents made with the
    /// default configuration never share credentials or tie-breakers.
    pub fn new(config: AgentConfig, now: Instant) -> Agent {
        let rng = match config.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_os_rng(),
        };
        Agent::with_rng(config, now, rng)
    }

    /// A new agent drawing its credentials (RFC 8445 §5.3: at least 128
    /// bits of randomness in the password), tie-breaker and STUN
    /// transaction ids (RFC 8489 §5: cryptographically random) from `rng`,
    /// a ChaCha generator seeded from the OS or from 32 bytes;
    /// [`AgentConfig::seed`] is not used.
    pub fn with_rng(config: AgentConfig, now: Instant, mut rng: StdRng) -> Agent {
        let local = config
            .credentials
            .clone()
            .unwrap_or_else(|| Credentials::random(&mut rng));
        let tie_breaker = rng.random();
        let local_key = short_term_key(local.pwd());
        Agent {
            // RFC 8445 §6.1.1: a lite agent is always controlled.
            controlling: config.controlling && !config.lite,
            config,
            rng,
            tie_breaker,
            local,
            local_key,
            previous_local: None,
            remote: None,
            remote_lite: false,
            hosts: Vec::new(),
            srflx: Vec::new(),
            stun_servers: Vec::new(),
            turn_servers: Vec::new(),
            relays: Vec::new(),
            remotes: Vec::new(),
            pairs: Vec::new(),
            triggered: VecDeque::new(),
            transactions: Vec::new(),
            out: VecDeque::new(),
            events: VecDeque::new(),
            next_check: now,
            remote_end_of_candidates: false,
            first_valid_at: None,
            fallback_deadline: None,
            nominated: false,
            nominating: false,
            selected: None,
            gathering: GatheringState::New,
            gathering_held: false,
            state: ConnectionState::New,
            prflx_count: 0,
            recent_requests: replay::RecentRequests::default(),
            stats: Stats::default(),
            generation: 0,
            traffic: Vec::new(),
            traffic_hint: 0,
            now,
        }
    }

    /// The retransmission schedule of the configuration (computed, not
    /// stored: an agent per connection, thousands of connections).
    pub(super) fn schedule(&self) -> Schedule {
        Schedule {
            rto: self.config.rto,
            max_rto: self.config.max_rto.max(self.config.rto),
            max_transmits: self.config.max_transmits.max(1),
            final_wait_factor: self.config.final_wait_factor.max(1),
        }
    }

    // ---- accessors ----

    /// The local credentials to signal (`a=ice-ufrag`, `a=ice-pwd`).
    pub fn local_credentials(&self) -> &Credentials {
        &self.local
    }

    /// Whether the agent is in the controlling role now.
    pub fn is_controlling(&self) -> bool {
        self.controlling
    }

    /// Whether the agent runs as ICE-lite (signal `a=ice-lite`).
    pub fn is_lite(&self) -> bool {
        self.config.lite
    }

    /// The connection state.
    pub fn connection_state(&self) -> ConnectionState {
        self.state
    }

    /// The gathering state.
    pub fn gathering_state(&self) -> GatheringState {
        self.gathering
    }

    /// The selected pair, if any.
    pub fn selected_pair(&self) -> Option<&SelectedPair> {
        self.selected.as_ref().map(|s| &s.pair)
    }

    /// The local and remote ufrags of the ICE generation the selected pair
    /// was selected in (RFC 8445 §9: after a restart it carries data until
    /// a pair of the new generation is selected), `(local, remote)`.
    pub fn selected_pair_ufrags(&self) -> Option<(&str, &str)> {
        self.selected
            .as_ref()
            .map(|s| (s.local_ufrag.as_str(), s.remote_ufrag.as_str()))
    }

    /// Round-trip figures of the selected pair (W3C
    /// `RTCIceCandidatePairStats.currentRoundTripTime` and friends).
    pub fn selected_pair_round_trip(&self) -> Option<RoundTrip> {
        self.selected.as_ref().map(|s| s.round_trip)
    }

    /// The local candidates gathered so far (host and server-reflexive).
    pub fn local_candidates(&self) -> impl Iterator<Item = &Candidate> {
        let relay_only = self.config.relay_only;
        self.hosts
            .iter()
            .filter(move |h| !relay_only || h.relay().is_some())
            .map(|h| &h.candidate)
            .chain(self.srflx.iter())
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The application data that went over the selected pair (not over
    /// pairs selected before it), if a pair is selected.
    pub fn selected_pair_traffic(&self) -> Option<PairTraffic> {
        let s = self.selected.as_ref()?;
        Some(self.traffic_entry(s.generation, s.protocol, s.pair.source, s.pair.destination))
    }

    /// The pairs of the current check list (RFC 8445 §6.1.2; emptied by a
    /// restart, so a pair still selected from the generation before is
    /// not among them), at most [`AgentConfig::max_pairs`], in the order
    /// they were formed. Read-only: for statistics (W3C webrtc-stats
    /// `RTCIceCandidatePairStats`).
    pub fn candidate_pairs(&self) -> impl Iterator<Item = CandidatePairInfo> + '_ {
        let selected = self.selected.as_ref().and_then(|s| s.index);
        self.pairs.iter().enumerate().map(move |(i, p)| {
            let host = &self.hosts[p.local];
            let remote = &self.remotes[p.remote];
            CandidatePairInfo {
                local: self.presented_local(p),
                remote: remote.candidate.clone(),
                state: p.state,
                nominated: p.nominated,
                selected: selected == Some(i),
                round_trip: p.round_trip,
                traffic: self.traffic_entry(
                    self.generation,
                    host.protocol(),
                    host.addr,
                    remote.addr,
                ),
            }
        })
    }

    /// What was counted for the pair of `generation` from `local` to
    /// `remote` over `protocol`; zero if nothing.
    fn traffic_entry(
        &self,
        generation: u32,
        protocol: Protocol,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> PairTraffic {
        self.traffic
            .iter()
            .find(|e| e.is(generation, protocol, local, remote))
            .map(|e| e.traffic)
            .unwrap_or_default()
    }

    /// The generation whose pair from `local` to `remote` over `protocol`
    /// data is counted to: the selected pair's if it is on those
    /// addresses (it may be of the generation before a restart), else
    /// the current check list's.
    pub(super) fn traffic_generation(
        &self,
        protocol: Protocol,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> u32 {
        match &self.selected {
            Some(s)
                if s.pair.source == local
                    && s.pair.destination == remote
                    && s.protocol == protocol =>
            {
                s.generation
            }
            _ => self.generation,
        }
    }

    /// Forgets the traffic of pairs that are neither in the current check
    /// list nor selected (after a restart or a selection).
    pub(super) fn forget_old_traffic(&mut self) {
        let generation = self.generation;
        let selected = self
            .selected
            .as_ref()
            .map(|s| (s.generation, s.protocol, s.pair.source, s.pair.destination));
        self.traffic.retain(|e| {
            e.generation == generation || selected.is_some_and(|(g, p, l, r)| e.is(g, p, l, r))
        });
    }

    /// The traffic entry of the pair of `generation` from `local` to
    /// `remote` over `protocol`, made if there is none.
    pub(super) fn traffic_of(
        &mut self,
        generation: u32,
        protocol: Protocol,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> &mut PairTraffic {
        // Every datagram of the selected pair comes here: the entry of the
        // last one is tried first.
        let hint = self
            .traffic
            .get(self.traffic_hint)
            .filter(|e| e.is(generation, protocol, local, remote))
            .map(|_| self.traffic_hint);
        let i = match hint.or_else(|| {
            self.traffic
                .iter()
                .position(|e| e.is(generation, protocol, local, remote))
        }) {
            Some(i) => i,
            None => {
                if self.traffic.len() >= MAX_PAIR_TRAFFIC {
                    let selected = self
                        .selected
                        .as_ref()
                        .map(|s| (s.generation, s.protocol, s.pair.source, s.pair.destination));
                    let old = self
                        .traffic
                        .iter()
                        .position(|e| !selected.is_some_and(|(g, p, l, r)| e.is(g, p, l, r)))
                        .unwrap_or(0);
                    self.traffic.remove(old);
                }
                self.traffic.push(TrafficEntry {
                    generation,
                    protocol,
                    local,
                    remote,
                    traffic: PairTraffic::default(),
                });
                self.traffic.len() - 1
            }
        };
        self.traffic_hint = i;
        &mut self.traffic[i].traffic
    }

    // ---- configuration inputs ----

    /// Adds a local socket address as a host candidate (RFC 8445 §5.1.1.1).
    /// The candidate comes out as [`Event::LocalCandidate`] (unless
    /// [`AgentConfig::relay_only`]: the socket then only talks to TURN
    /// servers).
    pub fn add_local_host(&mut self, addr: SocketAddr) -> Result<Candidate, Error> {
        self.check_open()?;
        if self
            .hosts
            .iter()
            .any(|h| h.addr == addr && h.protocol() == Protocol::Udp)
        {
            return Err(Error::DuplicateHost(addr));
        }
        if self.hosts.iter().filter(|h| h.relay().is_none()).count() >= self.config.max_local_hosts
        {
            return Err(Error::TooManyCandidates {
                limit: self.config.max_local_hosts,
            });
        }
        // RFC 8445 §5.1.2.1: distinct local preferences, the first highest.
        let index = u16::try_from(self.hosts.len()).unwrap_or(u16::MAX);
        let local_preference = u16::MAX.saturating_sub(index);
        let candidate = self.host_candidate(addr, local_preference);
        self.hosts.push(Host {
            candidate: candidate.clone(),
            addr,
            local_preference,
            relay: None,
        });
        self.set_gathering(GatheringState::Gathering);
        if !self.config.relay_only {
            self.push_event(Event::LocalCandidate(candidate.clone()));
        }
        let host = self.hosts.len() - 1;
        if !self.config.lite {
            if !self.config.relay_only {
                for server in self.stun_servers.clone() {
                    self.start_gather(host, server);
                }
                // Pair the new host with the remote candidates already known.
                for r in 0..self.remotes.len() {
                    self.add_pair(host, r);
                }
            }
            self.allocate_from(addr);
        }
        Ok(candidate)
    }

    /// Adds TCP host candidates for ICE-TCP (RFC 6544) on the IP of
    /// `listener`, a TCP socket address the caller listens on: a passive
    /// candidate there (the peer connects to it), and an active one at
    /// `IP:9` (this side connects to the peer's passive candidates: a
    /// [`Transmit`] with [`Protocol::Tcp`] from `IP:9` asks the caller to
    /// open a connection to its destination, or to use the one it has).
    /// Messages on either kind of connection go to
    /// [`Self::handle_receive_tcp`]. Returns the two candidates.
    pub fn add_local_tcp(&mut self, listener: SocketAddr) -> Result<[Candidate; 2], Error> {
        self.check_open()?;
        if self.config.lite {
            return Err(Error::NotInLiteMode("TCP candidates"));
        }
        let active_addr = SocketAddr::new(listener.ip(), 9);
        if self
            .hosts
            .iter()
            .any(|h| h.protocol() == Protocol::Tcp && (h.addr == listener || h.addr == active_addr))
        {
            return Err(Error::DuplicateHost(listener));
        }
        if self.hosts.len() + 2 > self.config.max_local_hosts {
            return Err(Error::TooManyCandidates {
                limit: self.config.max_local_hosts,
            });
        }
        // RFC 6544 §4.2 "other-preference": distinct per IP, the first highest.
        let tcp_hosts = self
            .hosts
            .iter()
            .filter(|h| h.protocol() == Protocol::Tcp)
            .count();
        let other = 0x1fff_u16.saturating_sub(u16::try_from(tcp_hosts / 2).unwrap_or(0x1fff));
        let passive = self.push_tcp_host(listener, TcpType::Passive, other);
        let active = self.push_tcp_host(active_addr, TcpType::Active, other);
        Ok([passive, active])
    }

    fn push_tcp_host(&mut self, addr: SocketAddr, tcp: TcpType, other: u16) -> Candidate {
        let candidate = pairs::tcp_candidate(addr, tcp, other);
        self.hosts.push(Host {
            candidate: candidate.clone(),
            addr,
            // RFC 6544 §4.2: direction and other preference, as in the
            // candidate's priority (and so in the PRIORITY of its checks).
            local_preference: pairs::tcp_local_preference(tcp, other),
            relay: None,
        });
        self.set_gathering(GatheringState::Gathering);
        if !self.config.relay_only {
            self.push_event(Event::LocalCandidate(candidate.clone()));
            let host = self.hosts.len() - 1;
            for r in 0..self.remotes.len() {
                self.add_pair(host, r);
            }
        }
        candidate
    }

    /// Adds a STUN server to learn server-reflexive candidates from, one per
    /// local host of the same address family (RFC 8445 §5.1.1.2).
    pub fn add_stun_server(&mut self, server: SocketAddr) -> Result<(), Error> {
        self.check_open()?;
        if self.config.lite {
            return Err(Error::NotInLiteMode("STUN servers"));
        }
        if self.stun_servers.contains(&server) {
            return Ok(());
        }
        self.stun_servers.push(server);
        if self.config.relay_only {
            return Ok(());
        }
        for host in 0..self.hosts.len() {
            if self.hosts[host].relay().is_none() && self.hosts[host].protocol() == Protocol::Udp {
                self.start_gather(host, server);
            }
        }
        Ok(())
    }

    /// Sets the peer's credentials (`a=ice-ufrag`, `a=ice-pwd`). New
    /// credentials from the peer mean it restarted ICE: call
    /// [`Self::restart`] first, else this returns
    /// [`Error::RemoteCredentialsChanged`] (RFC 8445 §9).
    pub fn set_remote_credentials(&mut self, ufrag: &str, pwd: &str) -> Result<(), Error> {
        self.check_open()?;
        let creds = Credentials::new(ufrag, pwd)?;
        if let Some((current, _)) = &self.remote {
            return if *current == creds {
                Ok(())
            } else {
                Err(Error::RemoteCredentialsChanged)
            };
        }
        let key = short_term_key(creds.pwd());
        self.remote = Some((creds, key));
        Ok(())
    }

    /// The peer's credentials, once set; a restart forgets them until the
    /// peer's new ones are given to [`Self::set_remote_credentials`].
    pub fn remote_credentials(&self) -> Option<&Credentials> {
        self.remote.as_ref().map(|(c, _)| c)
    }

    /// Says the peer is an ICE-lite agent (`a=ice-lite`): this agent then
    /// takes the controlling role (RFC 8445 §6.1.1).
    pub fn set_remote_lite(&mut self, lite: bool) {
        self.remote_lite = lite;
        if lite && !self.config.lite && !self.controlling {
            self.set_role(true);
        }
    }

    /// Adds a remote candidate (signalled, or trickled per RFC 8838).
    /// UDP and TCP (active, passive) candidates of component 1 with an IP
    /// address are used; others
    /// are refused with [`Error::UnsupportedCandidate`] (mDNS names are not
    /// resolved by this crate). Past [`AgentConfig::max_remote_candidates`]
    /// a peer-reflexive remote that none of the agent's checks validated
    /// (and that is not being nominated) is forgotten to make room; with
    /// none, [`Error::TooManyCandidates`].
    pub fn add_remote_candidate(&mut self, candidate: Candidate) -> Result<(), Error> {
        self.check_open()?;
        if candidate.component() != 1 {
            return Err(Error::UnsupportedCandidate("component other than 1"));
        }
        if candidate.transport() == Transport::Tcp(TcpType::SimultaneousOpen) {
            return Err(Error::UnsupportedCandidate("TCP simultaneous open"));
        }
        let Some(addr) = candidate.socket_addr() else {
            return Err(Error::UnsupportedCandidate("host name (mDNS) address"));
        };
        if addr.port() == 0 || addr.ip().is_unspecified() {
            return Err(Error::UnsupportedCandidate("unspecified address or port 0"));
        }
        if let (Some(u), Some((creds, _))) = (candidate.ufrag(), &self.remote)
            && u != creds.ufrag()
        {
            return Err(Error::UfragMismatch);
        }
        if let Some(r) = self
            .remotes
            .iter()
            .position(|r| r.addr == addr && r.protocol() == candidate.transport().protocol())
        {
            // Already known (a peer-reflexive one learned from a check, or a
            // redundant srflx): keep one, with the signalled type and the
            // higher priority (RFC 8445 §7.3.1.3, §6.1.2.4).
            let known = &mut self.remotes[r];
            if known.candidate.kind() == CandidateType::PeerReflexive
                || candidate.priority() > known.candidate.priority()
            {
                known.candidate = candidate;
                self.recompute_priorities();
            }
            return Ok(());
        }
        if self.remotes.len() >= self.config.max_remote_candidates {
            // A peer-reflexive remote nothing vouches for (one a replayed
            // check may have made, `replay.rs`) gives way to the peer's
            // signalled candidate.
            let Some(r) = self.unverified_prflx_remote() else {
                return Err(Error::TooManyCandidates {
                    limit: self.config.max_remote_candidates,
                });
            };
            self.forget_remote(r);
        }
        self.remotes.push(Remote {
            candidate,
            addr,
            via: None,
        });
        let r = self.remotes.len() - 1;
        for h in 0..self.hosts.len() {
            self.add_pair(h, r);
        }
        Ok(())
    }

    /// The peer signalled the end of its candidates (RFC 8838 §8): the agent
    /// may now declare failure when every pair has failed.
    pub fn end_of_remote_candidates(&mut self) {
        self.remote_end_of_candidates = true;
        let now = self.now;
        self.update_states(now);
    }

    /// ICE restart (RFC 8445 §9): new local credentials, the check list
    /// emptied, candidates gathered again. The selected pair keeps carrying
    /// data (and consent checks) until a new one is selected; if it is
    /// lost first (its consent expires, RFC 7675 §5.1), it is dropped and
    /// the state goes to [`ConnectionState::Checking`], not `Failed`: the
    /// new generation is still checked when its candidates come. A
    /// `Completed` agent goes back to `Connected` (gathering and checks
    /// start over), a `Failed` one to `Checking`. The caller
    /// signals the new credentials and candidates, then gives the peer's new
    /// ones to [`Self::set_remote_credentials`] and
    /// [`Self::add_remote_candidate`].
    pub fn restart(&mut self, now: Instant) -> Result<(), Error> {
        self.check_open()?;
        let credentials = Credentials::random(&mut self.rng);
        self.restart_with(now, credentials)
    }

    /// [`Self::restart`] with local credentials the caller chose: those it
    /// already put in a description (an answer to the peer's restart,
    /// created before it is applied), or the ones a rollback restores
    /// (RFC 8829 §4.1.10.2). Restarting to the credentials in use starts a
    /// new check list all the same.
    pub fn restart_with(&mut self, now: Instant, credentials: Credentials) -> Result<(), Error> {
        self.check_open()?;
        self.now = now;
        let old = std::mem::replace(&mut self.local, credentials);
        let old_key = std::mem::replace(&mut self.local_key, short_term_key(self.local.pwd()));
        // The credentials answered for the selected pair's generation: on
        // a restart during a restart (the pair still of a generation
        // before the last), those kept at the first one stay, or the
        // peer's checks on the pair in use would get 401s and its consent
        // (RFC 7675 §5.1) expire.
        if self.selected.as_ref().is_some_and(|s| s.index.is_some()) {
            self.previous_local = Some(Box::new((old, old_key)));
        }
        self.remote = None;
        self.remotes.clear();
        self.pairs.clear();
        self.triggered.clear();
        self.transactions
            .retain(|t| matches!(t.kind, TxnKind::Consent));
        self.out.retain(|o| matches!(o, Out::Request(_)));
        self.remote_end_of_candidates = false;
        self.first_valid_at = None;
        self.fallback_deadline = None;
        self.nominated = false;
        self.nominating = false;
        if let Some(s) = &mut self.selected {
            s.index = None;
        }
        // A new generation: its pairs are new pairs (W3C webrtc-stats
        // `RTCIceCandidatePairStats`), counted from zero, even on the
        // selected pair's addresses; the selected pair's data keeps
        // counting to its own generation.
        self.generation = self.generation.wrapping_add(1);
        self.forget_old_traffic();
        // Gather again: same hosts, new credentials; allocations that
        // failed or ended are made again.
        self.srflx.clear();
        self.gathering = GatheringState::New;
        self.restart_relays();
        for h in 0..self.hosts.len() {
            let relayed = self.hosts[h].relay().is_some();
            let udp = self.hosts[h].protocol() == Protocol::Udp;
            let pref = self.hosts[h].local_preference;
            let c = match (
                self.relay_candidate_again(h),
                self.hosts[h].candidate.transport(),
            ) {
                (Some(c), _) => c,
                (None, Transport::Tcp(t)) => {
                    pairs::tcp_candidate(self.hosts[h].addr, t, pref & 0x1fff)
                }
                (None, Transport::Udp) => self.host_candidate(self.hosts[h].addr, pref),
            };
            self.hosts[h].candidate = c.clone();
            self.set_gathering(GatheringState::Gathering);
            if relayed || !self.config.relay_only {
                self.push_event(Event::LocalCandidate(c));
            }
            if !self.config.lite && !relayed && udp && !self.config.relay_only {
                for server in self.stun_servers.clone() {
                    self.start_gather(h, server);
                }
            }
        }
        match self.state {
            ConnectionState::Failed => self.set_state(ConnectionState::Checking, None),
            // Gathering and checks start over: no longer completed (W3C
            // webrtc-pc §5.6), still connected on the selected pair;
            // completed again once the new generation is done.
            ConnectionState::Completed => self.set_state(ConnectionState::Connected, None),
            _ => {}
        }
        Ok(())
    }

    /// Closes the agent: nothing more is sent but the deallocation of TURN
    /// allocations (RFC 8656 §8.1); state `closed`.
    pub fn close(&mut self) {
        if self.state == ConnectionState::Closed {
            return;
        }
        let now = self.now;
        self.close_relays(now);
        self.out.clear();
        self.transactions.clear();
        self.triggered.clear();
        if self.selected.take().is_some() {
            self.stats.selected_pair_changes += 1;
        }
        self.set_state(ConnectionState::Closed, None);
    }

    // ---- data path ----

    /// Routes the application datagram in `buf`: the caller sends `buf`
    /// from `Transmit::source` to `Transmit::destination`. On a pair
    /// through a TURN relay `buf` is rewritten for the server (ChannelData
    /// or a Send indication, RFC 8656; it may then hold a TURN message
    /// that was waiting, the data following from
    /// [`Self::poll_transmit`]). Fails when no pair is selected, consent
    /// was lost (RFC 7675 §5.1), or the relay cannot take it.
    pub fn send(&mut self, buf: &mut Vec<u8>) -> Result<Transmit, Error> {
        if self.state == ConnectionState::Closed {
            return Err(Error::Closed);
        }
        let s = self.selected.as_ref().ok_or(Error::NotConnected)?;
        let t = Transmit {
            source: s.pair.source,
            destination: s.pair.destination,
            protocol: s.protocol,
        };
        let generation = s.generation;
        self.stats.bytes_sent += buf.len() as u64;
        let pair = self.traffic_of(generation, t.protocol, t.source, t.destination);
        pair.packets_sent += 1;
        pair.bytes_sent += buf.len() as u64;
        self.route(t, buf).ok_or(Error::RelayRefused)
    }

    /// A datagram arrived from `source` on the local socket `destination`.
    /// STUN is consumed; data from a validated pair is handed back borrowed.
    pub fn handle_receive<'a>(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        data: &'a [u8],
    ) -> Receive<'a> {
        self.receive(now, Protocol::Udp, source, destination, data)
    }

    /// One message, its RFC 4571 framing removed, arrived on the TCP
    /// connection between `source` and the local candidate `destination`
    /// (RFC 6544): a passive candidate's listening address for a connection
    /// the peer opened, an active candidate's `IP:9` for one the caller
    /// opened for a [`Transmit`] from it. Handled as
    /// [`Self::handle_receive`] handles a datagram.
    pub fn handle_receive_tcp<'a>(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        message: &'a [u8],
    ) -> Receive<'a> {
        self.receive(now, Protocol::Tcp, source, destination, message)
    }

    /// One TURN message (a STUN message or ChannelData, cut from the stream
    /// with `ferrtc_turn::StreamDecoder`) arrived from the TURN server
    /// `source` on the TCP connection the caller opened for a
    /// [`Protocol::TurnTcp`] transmit from `destination`.
    pub fn handle_receive_turn_tcp<'a>(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        message: &'a [u8],
    ) -> Receive<'a> {
        self.receive(now, Protocol::TurnTcp, source, destination, message)
    }

    /// The TCP connection between the local candidate address `local` and
    /// `remote` closed (or could not be opened): pairs on it fail, and if
    /// the selected pair was one of them, it is given up as consent would
    /// give it up (RFC 7675 §5.1), so that another pair or a restart can
    /// take over.
    ///
    /// Also for the TCP connection of a TURN allocation (a
    /// [`Protocol::TurnTcp`] transmit's addresses): the server deleted the
    /// allocation with it (RFC 8656 §3.1), so pairs through it fail now and
    /// an ICE restart allocates again.
    pub fn handle_tcp_closed(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr) {
        self.now = now;
        if self.turn_connection_closed(local, remote) {
            self.update_states(now);
            return;
        }
        let on = |agent: &Agent, p: &Pair| {
            agent.hosts[p.local].protocol() == Protocol::Tcp
                && agent.hosts[p.local].addr == local
                && agent.remotes[p.remote].addr == remote
        };
        let closed: Vec<usize> = (0..self.pairs.len())
            .filter(|&i| on(self, &self.pairs[i]))
            .collect();
        self.fail_gone_pairs(now, &closed);
        if self.selected.as_ref().is_some_and(|s| {
            s.protocol == Protocol::Tcp && s.pair.source == local && s.pair.destination == remote
        }) {
            self.lose_selected(FailureReason::ConnectionClosed);
        }
        self.update_states(now);
    }

    /// Pairs `gone` fail now: their connection or allocation is gone.
    /// Their checks end with them, and a nomination in flight on one of
    /// them is given up and another valid pair nominated (RFC 8445
    /// §8.1.1), else the agent would wait for its answer for good.
    pub(super) fn fail_gone_pairs(&mut self, now: Instant, gone: &[usize]) {
        let mut nomination_lost = false;
        for &i in gone {
            let p = &mut self.pairs[i];
            p.state = PairState::Failed;
            p.inbound_ok = false;
            p.transaction = None;
            if p.use_candidate && !p.nominated {
                p.use_candidate = false;
                nomination_lost = true;
            }
        }
        if nomination_lost {
            self.nominating = false;
            self.nominate_best(now);
        }
    }

    fn receive<'a>(
        &mut self,
        now: Instant,
        proto: Protocol,
        source: SocketAddr,
        destination: SocketAddr,
        data: &'a [u8],
    ) -> Receive<'a> {
        self.now = now;
        if self.state == ConnectionState::Closed {
            // The deallocations still hear their answers (a 438 is retried).
            if proto != Protocol::Tcp
                && let Some(r) = self.relay_of_datagram(proto, source, destination, data)
            {
                self.relays[r].client.handle_receive(now, source, data);
            }
            return Receive::Dropped(DropReason::Closed);
        }
        if proto != Protocol::Tcp
            && !self.relays.is_empty()
            && let Some(r) = self.relay_of_datagram(proto, source, destination, data)
        {
            return self.receive_relayed(now, r, source, data);
        }
        if proto == Protocol::TurnTcp {
            // From no allocation of ours.
            self.stats.dropped_stun += 1;
            return Receive::Dropped(DropReason::UnknownDestination);
        }
        if !is_stun_message(data) {
            return self.receive_data(proto, source, destination, data);
        }
        let result = self.receive_stun(now, proto, source, destination, data);
        if let Receive::Dropped(_) = result {
            self.stats.dropped_stun += 1;
        }
        self.update_states(now);
        result
    }

    fn receive_data<'a>(
        &mut self,
        proto: Protocol,
        source: SocketAddr,
        destination: SocketAddr,
        data: &'a [u8],
    ) -> Receive<'a> {
        if self.is_validated(proto, source, destination) {
            self.stats.bytes_received += data.len() as u64;
            let generation = self.traffic_generation(proto, destination, source);
            let pair = self.traffic_of(generation, proto, destination, source);
            pair.packets_received += 1;
            pair.bytes_received += data.len() as u64;
            Receive::Data(data)
        } else {
            self.stats.dropped_unvalidated += 1;
            Receive::Dropped(DropReason::Unvalidated)
        }
    }

    /// Whether data from `source` to the local base `destination` is on a
    /// validated pair (or one the peer checked, RFC 8445 §7.3.1.4).
    fn is_validated(&self, proto: Protocol, source: SocketAddr, destination: SocketAddr) -> bool {
        // Fast path: the selected pair.
        let on_selected = self.selected.as_ref().is_some_and(|s| {
            s.pair.destination == source && s.pair.source == destination && s.protocol == proto
        });
        on_selected
            || self.pairs.iter().any(|p| {
                (p.is_valid() || p.inbound_ok)
                    && self.hosts[p.local].addr == destination
                    && self.remotes[p.remote].addr == source
                    && self.hosts[p.local].protocol() == proto
            })
    }

    fn receive_stun(
        &mut self,
        now: Instant,
        proto: Protocol,
        source: SocketAddr,
        destination: SocketAddr,
        data: &[u8],
    ) -> Receive<'static> {
        let Ok(msg) = Message::parse(data) else {
            return Receive::Dropped(DropReason::MalformedStun);
        };
        if msg.has_fingerprint() && msg.verify_fingerprint().is_err() {
            return Receive::Dropped(DropReason::MalformedStun);
        }
        if msg.method() != Method::BINDING {
            return Receive::Dropped(DropReason::UnsupportedStun);
        }
        match msg.class() {
            Class::Request => self.handle_request(now, &msg, proto, source, destination),
            // Binding indications are keepalives (RFC 8445 §11): nothing to do.
            Class::Indication => Receive::Stun,
            Class::SuccessResponse | Class::ErrorResponse => {
                self.handle_response(now, &msg, proto, source, destination)
            }
        }
    }

    // ---- sans-IO outputs ----

    /// Writes the next datagram to send into `buf` (cleared first) and says
    /// where it goes, or `None`.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        while let Some(out) = self.out.pop_front() {
            if let Some(t) = self.write(out, buf)
                && let Some(t) = self.route(t, buf)
            {
                return Some(t);
            }
        }
        if let Some(t) = self.poll_relays(now, buf) {
            return Some(t);
        }
        // Connected, the agent sends a check every few seconds: an idle
        // agent keeps no queue capacity.
        release_if_empty(&mut self.out);
        release_if_empty(&mut self.triggered);
        self.trim_lists();
        None
    }

    /// The candidate and pair lists: while they grow (gathering, trickle,
    /// checks) only capacity far above use goes back ([`trim_list`]); once
    /// the agent is idle they keep no spare room at all (they hold a
    /// handful of entries, and Vec's first growth makes room for four).
    fn trim_lists(&mut self) {
        let idle = self.is_idle();
        trim_list(&mut self.hosts, idle);
        trim_list(&mut self.srflx, idle);
        trim_list(&mut self.remotes, idle);
        trim_list(&mut self.pairs, idle);
    }

    /// Nominated in this generation, no check waiting and no gathering
    /// transaction open: the lists change again only with a late candidate
    /// or a restart (RFC 8445 §8.1.2: ordinary checks stop once a pair is
    /// nominated), so freeing their spare room now happens once, not on
    /// every push.
    fn is_idle(&self) -> bool {
        self.nominated && !self.has_check_work() && !self.gathering_pending()
    }

    /// The next event, or `None`.
    pub fn poll_event(&mut self) -> Option<Event> {
        let event = self.events.pop_front();
        if event.is_none() {
            release_if_empty(&mut self.events);
        }
        event
    }

    /// When [`Self::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.state == ConnectionState::Closed {
            // Deallocations (RFC 8656 §8.1) until they are answered.
            return self.relays_timeout();
        }
        let mut t: Option<Instant> = None;
        let mut at = |i: Instant| t = Some(t.map_or(i, |t| t.min(i)));
        if let Some(relays) = self.relays_timeout() {
            at(relays);
        }
        for tx in &self.transactions {
            at(tx.deadline);
        }
        if self.has_check_work() {
            at(self.next_check);
        }
        // Gathering with nothing left to wait for completes at the next
        // call. While the caller holds it open (server names being looked
        // up) it cannot complete, and `hold_gathering(false)` completes it
        // itself: no deadline then, or the driver would spin on a timer
        // that stays due (RFC 8838 §8: end-of-candidates comes last).
        if self.gathering == GatheringState::Gathering
            && !self.gathering_held
            && !self.gathering_pending()
        {
            at(self.now);
        }
        if let Some(deadline) = self.nomination_deadline() {
            at(deadline);
        }
        if let Some(deadline) = self.nomination_wait_deadline() {
            at(deadline);
        }
        if let Some(deadline) = self.fallback_deadline.filter(|_| self.selected.is_none()) {
            at(deadline);
        }
        if let Some(s) = &self.selected
            && !self.config.lite
        {
            at(s.next_consent);
            if matches!(
                self.state,
                ConnectionState::Connected | ConnectionState::Completed
            ) {
                at(s.last_consent + self.config.disconnected_timeout);
            }
            at(s.last_consent + self.config.consent_timeout);
        }
        t
    }

    /// Time reached `now`: retransmissions, paced checks, nomination,
    /// consent checks and timeouts.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        if self.state == ConnectionState::Closed {
            self.relays_handle_timeout(now);
            return;
        }
        self.expire_transactions(now);
        self.relays_handle_timeout(now);
        if now >= self.next_check && self.has_check_work() {
            self.send_next_check(now);
            self.next_check = now + self.config.ta;
        }
        if let Some(deadline) = self.nomination_deadline()
            && now >= deadline
        {
            self.nominate_best(now);
        }
        self.consent_timers(now);
        self.update_states(now);
    }

    // ---- internals: states and events ----

    /// Sets [`AgentConfig::relay_only`] (W3C `iceTransportPolicy` changed
    /// by `setConfiguration`). Call it just before [`Self::restart`] or
    /// [`Self::restart_with`]: a policy applies to a whole gathering, and
    /// changing it mid-way would leave the candidates already signalled
    /// outside it.
    pub fn set_relay_only(&mut self, relay_only: bool) {
        self.config.relay_only = relay_only;
    }

    /// Holds gathering open (`hold`) or lets it complete: while the caller
    /// is still finding STUN or TURN servers (names being looked up),
    /// gathering must not complete, or the peer hears end-of-candidates
    /// (RFC 8838 §8) before the server-reflexive and relayed candidates,
    /// and an agent with nothing else (a relay-only one) fails at once.
    pub fn hold_gathering(&mut self, now: Instant, hold: bool) {
        self.gathering_held = hold;
        self.update_states(now);
    }

    fn update_states(&mut self, now: Instant) {
        if self.state == ConnectionState::Closed {
            return;
        }
        if self.gathering == GatheringState::Gathering
            && !self.gathering_held
            && !self.gathering_pending()
        {
            self.set_gathering(GatheringState::Complete);
        }
        self.maybe_nominate_early(now);
        // Completed needs a pair of the current generation: after a
        // restart the old one carries data until the new one is chosen.
        if matches!(self.state, ConnectionState::Connected)
            && self.selected.as_ref().is_some_and(|s| s.index.is_some())
            && self.connected_state() == ConnectionState::Completed
        {
            self.set_state(ConnectionState::Completed, None);
        }
        // RFC 8445 §7.2.5.3.3 with RFC 8838 §8: fail once both sides are done
        // and every pair failed (also after the selected pair's connection
        // closed and the pairs left to take over failed too).
        if self.selected.is_none()
            && !self.config.lite
            && self.remote_end_of_candidates
            && self.gathering == GatheringState::Complete
            && self.awaits_selection()
            && self.triggered.is_empty()
            && self.pairs.iter().all(|p| p.state == PairState::Failed)
        {
            let reason = if self.pairs.is_empty() {
                FailureReason::NoCandidatePairs
            } else {
                FailureReason::AllPairsFailed {
                    pairs: self.pairs.len(),
                }
            };
            self.set_state(ConnectionState::Failed, Some(reason));
        }
        if let Some(deadline) = self.nomination_wait_deadline()
            && now >= deadline
        {
            self.set_state(ConnectionState::Failed, Some(FailureReason::NoNomination));
        }
        // No pair took over from the one whose connection closed.
        if self.selected.is_none()
            && self.state == ConnectionState::Disconnected
            && self.fallback_deadline.is_some_and(|d| now >= d)
        {
            self.fallback_deadline = None;
            self.set_state(
                ConnectionState::Failed,
                Some(FailureReason::ConnectionClosed),
            );
        }
    }

    /// A controlled agent with valid pairs but no nomination, nothing left to
    /// check and no check from the peer for the consent timeout gives up:
    /// the controlling peer is gone (it failed on its side, or vanished).
    fn nomination_wait_deadline(&self) -> Option<Instant> {
        let waiting = !self.controlling
            && !self.config.lite
            && self.selected.is_none()
            && self.remote_end_of_candidates
            && self.gathering == GatheringState::Complete
            && self.awaits_selection()
            && self.triggered.is_empty()
            && !self.pairs.iter().any(Pair::is_pending)
            && self.pairs.iter().any(Pair::is_valid);
        if !waiting {
            return None;
        }
        let last = self
            .pairs
            .iter()
            .filter_map(|p| p.inbound_at)
            .chain(self.first_valid_at)
            .max()?;
        Some(last + self.config.consent_timeout)
    }

    /// No pair is selected yet (new, checking), or none any more since the
    /// selected pair's connection closed (disconnected, another valid pair
    /// to be nominated: `lose_selected`).
    fn awaits_selection(&self) -> bool {
        match self.state {
            ConnectionState::New | ConnectionState::Checking => true,
            ConnectionState::Disconnected => self.selected.is_none(),
            _ => false,
        }
    }

    fn set_state(&mut self, state: ConnectionState, reason: Option<FailureReason>) {
        if self.state == state {
            return;
        }
        self.state = state;
        if state != ConnectionState::Disconnected {
            // The fallback wait ends with the disconnection, however it ends.
            self.fallback_deadline = None;
        }
        self.push_event(Event::ConnectionStateChange { state, reason });
    }

    fn set_gathering(&mut self, state: GatheringState) {
        if self.gathering == state {
            return;
        }
        self.gathering = state;
        self.push_event(Event::GatheringStateChange(state));
    }

    fn push_event(&mut self, e: Event) {
        if self.events.len() < MAX_EVENTS {
            self.events.push_back(e);
        }
    }

    fn check_open(&self) -> Result<(), Error> {
        if self.state == ConnectionState::Closed {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }
}
