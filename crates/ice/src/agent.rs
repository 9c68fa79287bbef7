//! The sans-IO ICE agent (RFC 8445 full and lite, RFC 8838 trickle,
//! RFC 7675 consent freshness) for one component over UDP.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ferrtc_stun::{Class, Message, Method, TransactionId, is_stun_message, short_term_key};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::Error;
use crate::candidate::{Candidate, CandidateType, Foundation, Transport};
use crate::config::{AgentConfig, Credentials};
use crate::event::{ConnectionState, Event, FailureReason, GatheringState, SelectedPair};
use crate::pair::{Pair, PairState, pair_priority};
use crate::stun_io::{self, CheckRequest, RoleAttr};
use crate::transaction::{Expiry, Schedule, Transaction, TxnKind};

/// Where a datagram goes: the local socket address to send from and the
/// remote address to send to. The payload is in the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Transmit {
    /// The local address (one added with [`Agent::add_local_host`]) to send from.
    pub source: SocketAddr,
    /// The remote address to send to.
    pub destination: SocketAddr,
}

/// What became of a received datagram ([`Agent::handle_receive`]).
#[derive(Debug, PartialEq, Eq)]
pub enum Receive<'a> {
    /// A STUN message for the agent; it was consumed.
    Stun,
    /// Application data from a validated pair, for the layer above.
    Data(&'a [u8]),
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
}

/// A local host candidate: a socket address the caller owns.
#[derive(Debug)]
struct Host {
    candidate: Candidate,
    addr: SocketAddr,
    local_preference: u16,
}

/// A remote candidate with a usable IP address.
#[derive(Debug)]
struct Remote {
    candidate: Candidate,
    addr: SocketAddr,
}

/// The selected pair and what consent freshness needs to keep it
/// (credentials are copied so that it survives an ICE restart).
#[derive(Debug)]
struct Selected {
    pair: SelectedPair,
    /// Index of the pair in the current check list (`None` after a restart).
    index: Option<usize>,
    priority: u64,
    local_ufrag: String,
    remote_ufrag: String,
    remote_key: Vec<u8>,
    /// Last consent response (RFC 7675 §5.1).
    last_consent: Instant,
    next_consent: Instant,
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
        /// `None` for success, else the error code.
        error: Option<u16>,
        /// Which local password signs it (none for 400/401).
        key: Option<KeyRef>,
    },
}

#[derive(Debug, Clone, Copy)]
enum KeyRef {
    Current,
    Previous,
}

/// Most datagrams waiting in the agent's output queue; beyond it responses
/// are dropped (the peer retransmits).
const MAX_QUEUED: usize = 256;

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
/// let mut agent = Agent::new(AgentConfig { controlling: true, seed: 1, ..Default::default() }, now);
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
    schedule: Schedule,
    rng: StdRng,
    controlling: bool,
    tie_breaker: u64,
    local: Credentials,
    local_key: Vec<u8>,
    /// The credentials before a restart, answered until the new pair is selected.
    previous_local: Option<(Credentials, Vec<u8>)>,
    remote: Option<(Credentials, Vec<u8>)>,
    remote_lite: bool,
    hosts: Vec<Host>,
    srflx: Vec<Candidate>,
    stun_servers: Vec<SocketAddr>,
    remotes: Vec<Remote>,
    pairs: Vec<Pair>,
    triggered: VecDeque<usize>,
    transactions: Vec<Transaction>,
    out: VecDeque<Out>,
    events: VecDeque<Event>,
    next_check: Instant,
    remote_end_of_candidates: bool,
    first_valid_at: Option<Instant>,
    /// A pair was nominated in this generation: ordinary checks stop (RFC 8445 §8.1.2).
    nominated: bool,
    /// The controlling agent picked a pair to nominate in this generation.
    nominating: bool,
    selected: Option<Selected>,
    gathering: GatheringState,
    state: ConnectionState,
    prflx_count: u32,
    stats: Stats,
    now: Instant,
}

impl Agent {
    /// A new agent; `now` is the current time.
    pub fn new(config: AgentConfig, now: Instant) -> Agent {
        let mut rng = StdRng::seed_from_u64(config.seed);
        let local = config
            .credentials
            .clone()
            .unwrap_or_else(|| Credentials::random(&mut rng));
        let tie_breaker = rng.random();
        let local_key = short_term_key(local.pwd());
        let schedule = Schedule {
            rto: config.rto,
            max_rto: config.max_rto.max(config.rto),
            max_transmits: config.max_transmits.max(1),
            final_wait_factor: config.final_wait_factor.max(1),
        };
        Agent {
            // RFC 8445 §6.1.1: a lite agent is always controlled.
            controlling: config.controlling && !config.lite,
            config,
            schedule,
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
            remotes: Vec::new(),
            pairs: Vec::new(),
            triggered: VecDeque::new(),
            transactions: Vec::new(),
            out: VecDeque::new(),
            events: VecDeque::new(),
            next_check: now,
            remote_end_of_candidates: false,
            first_valid_at: None,
            nominated: false,
            nominating: false,
            selected: None,
            gathering: GatheringState::New,
            state: ConnectionState::New,
            prflx_count: 0,
            stats: Stats::default(),
            now,
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

    /// The local candidates gathered so far (host and server-reflexive).
    pub fn local_candidates(&self) -> impl Iterator<Item = &Candidate> {
        self.hosts
            .iter()
            .map(|h| &h.candidate)
            .chain(self.srflx.iter())
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    // ---- configuration inputs ----

    /// Adds a local socket address as a host candidate (RFC 8445 §5.1.1.1).
    /// The candidate comes out as [`Event::LocalCandidate`].
    pub fn add_local_host(&mut self, addr: SocketAddr) -> Result<Candidate, Error> {
        self.check_open()?;
        if self.hosts.iter().any(|h| h.addr == addr) {
            return Err(Error::DuplicateHost(addr));
        }
        if self.hosts.len() >= self.config.max_local_hosts {
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
        });
        self.set_gathering(GatheringState::Gathering);
        self.push_event(Event::LocalCandidate(candidate.clone()));
        let host = self.hosts.len() - 1;
        if !self.config.lite {
            for server in self.stun_servers.clone() {
                self.start_gather(host, server);
            }
            // Pair the new host with the remote candidates already known.
            for r in 0..self.remotes.len() {
                self.add_pair(host, r);
            }
        }
        Ok(candidate)
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
        for host in 0..self.hosts.len() {
            self.start_gather(host, server);
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

    /// Says the peer is an ICE-lite agent (`a=ice-lite`): this agent then
    /// takes the controlling role (RFC 8445 §6.1.1).
    pub fn set_remote_lite(&mut self, lite: bool) {
        self.remote_lite = lite;
        if lite && !self.config.lite && !self.controlling {
            self.set_role(true);
        }
    }

    /// Adds a remote candidate (signalled, or trickled per RFC 8838).
    /// UDP candidates of component 1 with an IP address are used; others
    /// are refused with [`Error::UnsupportedCandidate`] (mDNS names are not
    /// resolved by this crate).
    pub fn add_remote_candidate(&mut self, candidate: Candidate) -> Result<(), Error> {
        self.check_open()?;
        if candidate.component() != 1 {
            return Err(Error::UnsupportedCandidate("component other than 1"));
        }
        if candidate.transport() != Transport::Udp {
            return Err(Error::UnsupportedCandidate("transport other than UDP"));
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
        if let Some(r) = self.remotes.iter().position(|r| r.addr == addr) {
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
            return Err(Error::TooManyCandidates {
                limit: self.config.max_remote_candidates,
            });
        }
        self.remotes.push(Remote { candidate, addr });
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
    /// data (and consent checks) until a new one is selected. The caller
    /// signals the new credentials and candidates, then gives the peer's new
    /// ones to [`Self::set_remote_credentials`] and
    /// [`Self::add_remote_candidate`].
    pub fn restart(&mut self, now: Instant) -> Result<(), Error> {
        self.check_open()?;
        self.now = now;
        let old = std::mem::replace(&mut self.local, Credentials::random(&mut self.rng));
        let old_key = std::mem::replace(&mut self.local_key, short_term_key(self.local.pwd()));
        if self.selected.is_some() {
            self.previous_local = Some((old, old_key));
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
        self.nominated = false;
        self.nominating = false;
        if let Some(s) = &mut self.selected {
            s.index = None;
        }
        // Gather again: same hosts, new credentials.
        self.srflx.clear();
        self.gathering = GatheringState::New;
        for h in 0..self.hosts.len() {
            let pref = self.hosts[h].local_preference;
            let c = self.host_candidate(self.hosts[h].addr, pref);
            self.hosts[h].candidate = c.clone();
            self.set_gathering(GatheringState::Gathering);
            self.push_event(Event::LocalCandidate(c));
            if !self.config.lite {
                for server in self.stun_servers.clone() {
                    self.start_gather(h, server);
                }
            }
        }
        if self.state == ConnectionState::Failed {
            self.set_state(ConnectionState::Checking, None);
        }
        Ok(())
    }

    /// Closes the agent: nothing more is sent; state `closed`.
    pub fn close(&mut self) {
        if self.state == ConnectionState::Closed {
            return;
        }
        self.out.clear();
        self.transactions.clear();
        self.triggered.clear();
        self.selected = None;
        self.set_state(ConnectionState::Closed, None);
    }

    // ---- data path ----

    /// Routes an application datagram of `data.len()` bytes: the caller
    /// sends `data` from `Transmit::source` to `Transmit::destination`.
    /// Fails when no pair is selected or consent was lost (RFC 7675 §5.1).
    pub fn send(&mut self, data: &[u8]) -> Result<Transmit, Error> {
        if self.state == ConnectionState::Closed {
            return Err(Error::Closed);
        }
        let s = self.selected.as_ref().ok_or(Error::NotConnected)?;
        self.stats.bytes_sent += data.len() as u64;
        Ok(Transmit {
            source: s.pair.source,
            destination: s.pair.destination,
        })
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
        self.now = now;
        if self.state == ConnectionState::Closed {
            return Receive::Dropped(DropReason::Closed);
        }
        if !is_stun_message(data) {
            return self.receive_data(source, destination, data);
        }
        let result = self.receive_stun(now, source, destination, data);
        if let Receive::Dropped(_) = result {
            self.stats.dropped_stun += 1;
        }
        self.update_states(now);
        result
    }

    fn receive_data<'a>(
        &mut self,
        source: SocketAddr,
        destination: SocketAddr,
        data: &'a [u8],
    ) -> Receive<'a> {
        // Fast path: the selected pair.
        let on_selected = self
            .selected
            .as_ref()
            .is_some_and(|s| s.pair.destination == source && s.pair.source == destination);
        let ok = on_selected
            || self.pairs.iter().any(|p| {
                (p.is_valid() || p.inbound_ok)
                    && self.hosts[p.local].addr == destination
                    && self.remotes[p.remote].addr == source
            });
        if ok {
            self.stats.bytes_received += data.len() as u64;
            Receive::Data(data)
        } else {
            self.stats.dropped_unvalidated += 1;
            Receive::Dropped(DropReason::Unvalidated)
        }
    }

    fn receive_stun(
        &mut self,
        now: Instant,
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
            Class::Request => self.handle_request(now, &msg, source, destination),
            // Binding indications are keepalives (RFC 8445 §11): nothing to do.
            Class::Indication => Receive::Stun,
            Class::SuccessResponse | Class::ErrorResponse => {
                self.handle_response(now, &msg, source, destination)
            }
        }
    }

    // ---- sans-IO outputs ----

    /// Writes the next datagram to send into `buf` (cleared first) and says
    /// where it goes, or `None`.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        let _ = now;
        while let Some(out) = self.out.pop_front() {
            if let Some(t) = self.write(out, buf) {
                return Some(t);
            }
        }
        None
    }

    /// The next event, or `None`.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Self::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.state == ConnectionState::Closed {
            return None;
        }
        let mut t: Option<Instant> = None;
        let mut at = |i: Instant| t = Some(t.map_or(i, |t| t.min(i)));
        for tx in &self.transactions {
            at(tx.deadline);
        }
        if self.has_check_work() {
            at(self.next_check);
        }
        if self.gathering == GatheringState::Gathering && !self.gathering_pending() {
            at(self.now);
        }
        if let Some(deadline) = self.nomination_deadline() {
            at(deadline);
        }
        if let Some(deadline) = self.nomination_wait_deadline() {
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
            return;
        }
        self.expire_transactions(now);
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

    // ---- internals: candidates and pairs ----

    fn host_candidate(&self, addr: SocketAddr, local_preference: u16) -> Candidate {
        let foundation = Foundation::compute(CandidateType::Host, addr.ip(), None, Transport::Udp);
        let priority = Candidate::compute_priority(CandidateType::Host, local_preference, 1);
        Candidate::new(
            foundation,
            1,
            Transport::Udp,
            priority,
            addr,
            CandidateType::Host,
        )
    }

    fn add_pair(&mut self, host: usize, remote: usize) -> Option<usize> {
        let h = &self.hosts[host];
        let r = &self.remotes[remote];
        // RFC 8445 §6.1.2.2: same address family only.
        if h.addr.is_ipv4() != r.addr.is_ipv4() {
            return None;
        }
        if let Some(i) = self
            .pairs
            .iter()
            .position(|p| p.local == host && p.remote == remote)
        {
            return Some(i);
        }
        if self.pairs.len() >= self.config.max_pairs {
            return None;
        }
        let priority = pair_priority(
            self.controlling,
            h.candidate.priority(),
            r.candidate.priority(),
        );
        // RFC 8445 §6.1.2.6: one pair per foundation starts Waiting; with
        // trickle (RFC 8838 §10), a new pair waits unless its foundation is
        // already being checked.
        let busy = self.pairs.iter().any(|p| {
            matches!(p.state, PairState::Waiting | PairState::InProgress)
                && self.same_foundation(p.local, p.remote, host, remote)
        });
        let state = if busy {
            PairState::Frozen
        } else {
            PairState::Waiting
        };
        self.pairs.push(Pair::new(host, remote, priority, state));
        Some(self.pairs.len() - 1)
    }

    fn same_foundation(&self, h1: usize, r1: usize, h2: usize, r2: usize) -> bool {
        self.hosts[h1].candidate.foundation() == self.hosts[h2].candidate.foundation()
            && self.remotes[r1].candidate.foundation() == self.remotes[r2].candidate.foundation()
    }

    fn recompute_priorities(&mut self) {
        for p in &mut self.pairs {
            p.priority = pair_priority(
                self.controlling,
                self.hosts[p.local].candidate.priority(),
                self.remotes[p.remote].candidate.priority(),
            );
        }
    }

    fn set_role(&mut self, controlling: bool) {
        if self.controlling == controlling {
            return;
        }
        self.controlling = controlling;
        self.recompute_priorities();
        if !controlling {
            self.nominating = false;
            for p in &mut self.pairs {
                p.use_candidate = false;
            }
        }
        self.push_event(Event::RoleChange { controlling });
    }

    // ---- internals: gathering ----

    fn start_gather(&mut self, host: usize, server: SocketAddr) {
        let source = self.hosts[host].addr;
        if source.is_ipv4() != server.is_ipv4() {
            return;
        }
        self.start_transaction(TxnKind::Gather { server }, source, server);
    }

    fn gathering_pending(&self) -> bool {
        self.transactions
            .iter()
            .any(|t| matches!(t.kind, TxnKind::Gather { .. }))
    }

    fn on_gathered(&mut self, base: SocketAddr, server: SocketAddr, mapped: SocketAddr) {
        let Some(host) = self.hosts.iter().find(|h| h.addr == base) else {
            return;
        };
        if self.srflx.iter().any(|c| c.socket_addr() == Some(mapped)) {
            return;
        }
        // RFC 8445 §5.1.1.2 and §5.1.2: srflx priority and foundation; the
        // related address is the base. It is signalled even when equal to
        // the base (no NAT); pairs are formed from bases only (§6.1.2.4).
        let foundation = Foundation::compute(
            CandidateType::ServerReflexive,
            base.ip(),
            Some(server.ip()),
            Transport::Udp,
        );
        let priority =
            Candidate::compute_priority(CandidateType::ServerReflexive, host.local_preference, 1);
        let c = Candidate::new(
            foundation,
            1,
            Transport::Udp,
            priority,
            mapped,
            CandidateType::ServerReflexive,
        )
        .with_related_address(base);
        self.srflx.push(c.clone());
        self.push_event(Event::LocalCandidate(c));
    }

    // ---- internals: transactions ----

    fn new_tid(&mut self) -> TransactionId {
        TransactionId(self.rng.random())
    }

    fn start_transaction(
        &mut self,
        kind: TxnKind,
        source: SocketAddr,
        destination: SocketAddr,
    ) -> TransactionId {
        let id = self.new_tid();
        let t = Transaction::new(id, kind, source, destination, self.now, &self.schedule);
        self.transactions.push(t);
        self.queue(Out::Request(id));
        id
    }

    fn queue(&mut self, out: Out) {
        if self.out.len() < MAX_QUEUED {
            self.out.push_back(out);
        }
    }

    fn expire_transactions(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.transactions.len() {
            if self.transactions[i].deadline > now {
                i += 1;
                continue;
            }
            match self.transactions[i].expire(now, &self.schedule) {
                Expiry::Retransmit => {
                    self.stats.retransmissions += 1;
                    let id = self.transactions[i].id;
                    self.queue(Out::Request(id));
                    i += 1;
                }
                Expiry::TimedOut => {
                    let t = self.transactions.swap_remove(i);
                    self.on_timeout(t);
                }
            }
        }
    }

    fn on_timeout(&mut self, t: Transaction) {
        match t.kind {
            TxnKind::Check { pair, .. } => {
                if t.cancelled {
                    return;
                }
                // RFC 8445 §7.2.5.3.3 / RFC 8489 §6.2.1: no response, failed.
                if let Some(p) = self.pairs.get_mut(pair)
                    && p.transaction == Some(t.id)
                {
                    p.transaction = None;
                    if p.inbound_at.is_some_and(|at| at > t.started) {
                        // The peer's checks reached us on this pair while
                        // ours were lost: the path lives. The peer's check
                        // would have triggered a new one (RFC 8445
                        // §7.3.1.4), so check again rather than fail.
                        p.state = PairState::Waiting;
                        self.enqueue_triggered(pair);
                        return;
                    }
                    p.state = PairState::Failed;
                    if p.use_candidate {
                        // The nomination did not go through. The pair was
                        // valid a moment ago: under heavy loss seven lost
                        // transmissions are not rare, so it stays valid for
                        // a few attempts, then fails and another is tried.
                        p.use_candidate = false;
                        self.nominating = false;
                        if p.nomination_failures < MAX_NOMINATION_FAILURES {
                            p.nomination_failures += 1;
                            p.state = PairState::Succeeded;
                        }
                    }
                }
            }
            // No server-reflexive candidate from this server.
            TxnKind::Gather { .. } => {}
            // Consent is judged by time since the last response.
            TxnKind::Consent => {}
        }
    }

    fn write(&mut self, out: Out, buf: &mut Vec<u8>) -> Option<Transmit> {
        match out {
            Out::Request(id) => {
                let t = self.transactions.iter().find(|t| t.id == id)?;
                let (source, destination) = (t.source, t.destination);
                let ok = match t.kind {
                    TxnKind::Gather { .. } => stun_io::write_server_binding(buf, id),
                    TxnKind::Check {
                        pair,
                        use_candidate,
                        role,
                    } => {
                        let (remote, remote_key) = self.remote.as_ref()?;
                        let p = self.pairs.get(pair)?;
                        let req = CheckRequest {
                            local_ufrag: self.local.ufrag(),
                            remote_ufrag: remote.ufrag(),
                            remote_key,
                            priority: self.prflx_priority(self.hosts[p.local].local_preference),
                            role,
                            use_candidate,
                        };
                        stun_io::write_check(buf, id, &req)
                    }
                    TxnKind::Consent => {
                        let s = self.selected.as_ref()?;
                        let pref = self
                            .hosts
                            .iter()
                            .find(|h| h.addr == source)
                            .map_or(65535, |h| h.local_preference);
                        let req = CheckRequest {
                            local_ufrag: &s.local_ufrag,
                            remote_ufrag: &s.remote_ufrag,
                            remote_key: &s.remote_key,
                            priority: self.prflx_priority(pref),
                            role: self.role_attr(),
                            use_candidate: false,
                        };
                        stun_io::write_check(buf, id, &req)
                    }
                };
                ok.then_some(Transmit {
                    source,
                    destination,
                })
            }
            Out::Response {
                tid,
                source,
                destination,
                error,
                key,
            } => {
                let key: Option<&[u8]> = match key {
                    Some(KeyRef::Current) => Some(&self.local_key),
                    Some(KeyRef::Previous) => Some(&self.previous_local.as_ref()?.1),
                    None => None,
                };
                let ok = match (error, key) {
                    (None, Some(key)) => stun_io::write_success(buf, tid, destination, key),
                    (Some(code), key) => stun_io::write_error(buf, tid, code, key),
                    (None, None) => false,
                };
                self.stats.responses_sent += u64::from(ok);
                ok.then_some(Transmit {
                    source,
                    destination,
                })
            }
        }
    }

    fn prflx_priority(&self, local_preference: u16) -> u32 {
        // RFC 8445 §7.1.1: the priority a peer-reflexive candidate would get.
        Candidate::compute_priority(CandidateType::PeerReflexive, local_preference, 1)
    }

    fn role_attr(&self) -> RoleAttr {
        RoleAttr {
            controlling: self.controlling,
            tie_breaker: self.tie_breaker,
        }
    }

    // ---- internals: checks ----

    fn checks_allowed(&self) -> bool {
        !self.config.lite
            && self.remote.is_some()
            && !matches!(
                self.state,
                ConnectionState::Closed | ConnectionState::Failed
            )
    }

    fn has_check_work(&self) -> bool {
        self.checks_allowed()
            && (!self.triggered.is_empty()
                || (!self.nominated
                    && self
                        .pairs
                        .iter()
                        .any(|p| matches!(p.state, PairState::Waiting | PairState::Frozen))))
    }

    /// One paced check (RFC 8445 §6.1.4.2): the triggered queue first, then
    /// the highest-priority Waiting pair, unfreezing foundations if none.
    fn send_next_check(&mut self, now: Instant) {
        if let Some(i) = self.triggered.pop_front() {
            if let Some(p) = self.pairs.get_mut(i) {
                p.queued = false;
            }
            self.check_pair(now, i);
            return;
        }
        if self.nominated {
            return;
        }
        if !self.pairs.iter().any(|p| p.state == PairState::Waiting) {
            // Unfreeze one pair per foundation not already being checked.
            let mut order: Vec<usize> = (0..self.pairs.len()).collect();
            order.sort_by(|&a, &b| self.pairs[b].priority.cmp(&self.pairs[a].priority));
            for i in order {
                if self.pairs[i].state != PairState::Frozen {
                    continue;
                }
                let (h, r) = (self.pairs[i].local, self.pairs[i].remote);
                let busy = self.pairs.iter().any(|p| {
                    matches!(p.state, PairState::Waiting | PairState::InProgress)
                        && self.same_foundation(p.local, p.remote, h, r)
                });
                if !busy {
                    self.pairs[i].state = PairState::Waiting;
                }
            }
        }
        let best = self
            .pairs
            .iter()
            .enumerate()
            .filter(|(_, p)| p.state == PairState::Waiting)
            .max_by_key(|(_, p)| p.priority)
            .map(|(i, _)| i);
        if let Some(i) = best {
            self.check_pair(now, i);
        }
    }

    fn check_pair(&mut self, _now: Instant, i: usize) {
        let Some(p) = self.pairs.get(i) else { return };
        let source = self.hosts[p.local].addr;
        let destination = self.remotes[p.remote].addr;
        let kind = TxnKind::Check {
            pair: i,
            use_candidate: self.controlling
                && (p.use_candidate || self.config.aggressive_nomination),
            role: self.role_attr(),
        };
        // A new check replaces one in flight (RFC 8445 §7.3.1.4: cancelled).
        if let Some(old) = p.transaction
            && let Some(t) = self.transactions.iter_mut().find(|t| t.id == old)
        {
            t.cancelled = true;
        }
        let id = self.start_transaction(kind, source, destination);
        let p = &mut self.pairs[i];
        p.state = PairState::InProgress;
        p.transaction = Some(id);
        self.stats.checks_sent += 1;
        if self.state == ConnectionState::New {
            self.set_state(ConnectionState::Checking, None);
        }
    }

    fn enqueue_triggered(&mut self, i: usize) {
        if let Some(p) = self.pairs.get_mut(i)
            && !p.queued
        {
            p.queued = true;
            self.triggered.push_back(i);
        }
    }

    /// Handles a Binding request (RFC 8445 §7.3).
    fn handle_request(
        &mut self,
        now: Instant,
        msg: &Message<'_>,
        source: SocketAddr,
        destination: SocketAddr,
    ) -> Receive<'static> {
        let tid = msg.transaction_id();
        let Some(host) = self.hosts.iter().position(|h| h.addr == destination) else {
            return Receive::Dropped(DropReason::UnknownDestination);
        };
        let respond = |agent: &mut Agent, error: Option<u16>, key: Option<KeyRef>| {
            agent.queue(Out::Response {
                tid,
                source: destination,
                destination: source,
                error,
                key,
            });
        };
        let inbound = stun_io::read(msg);
        // RFC 8489 §9.1.3: no USERNAME or MESSAGE-INTEGRITY -> 400.
        let (Some(username), true, false) = (
            inbound.username,
            msg.has_message_integrity(),
            inbound.malformed,
        ) else {
            respond(self, Some(400), None);
            return Receive::Stun;
        };
        let local_ufrag = username.split(':').next().unwrap_or_default();
        let key = if local_ufrag == self.local.ufrag() {
            KeyRef::Current
        } else if self
            .previous_local
            .as_ref()
            .is_some_and(|(c, _)| c.ufrag() == local_ufrag)
        {
            KeyRef::Previous
        } else {
            respond(self, Some(401), None);
            return Receive::Stun;
        };
        let verified = match key {
            KeyRef::Current => msg.verify_message_integrity(&self.local_key),
            KeyRef::Previous => match &self.previous_local {
                Some((_, k)) => msg.verify_message_integrity(k),
                None => return Receive::Dropped(DropReason::UnknownTransaction),
            },
        };
        if verified.is_err() {
            respond(self, Some(401), None);
            return Receive::Stun;
        }
        if msg.unknown_comprehension_required().next().is_some() {
            respond(self, Some(420), Some(key));
            return Receive::Stun;
        }
        // RFC 8445 §7.3.1.1: role conflicts.
        if !self.config.lite
            && let Some(role) = inbound.role
            && role.controlling == self.controlling
        {
            self.stats.role_conflicts += 1;
            let we_win = self.tie_breaker >= role.tie_breaker;
            if self.controlling == we_win {
                // Controlling and larger, or controlled and smaller: the
                // peer must switch.
                respond(self, Some(487), Some(key));
                return Receive::Stun;
            }
            self.set_role(!self.controlling);
        }
        respond(self, None, Some(key));
        if let KeyRef::Previous = key {
            // A check of the generation before a restart: answered (it keeps
            // the old pair's consent alive), but no pairs are formed from it.
            return Receive::Stun;
        }
        if self.state == ConnectionState::New {
            self.set_state(ConnectionState::Checking, None);
        }
        let Some(priority) = inbound.priority else {
            return Receive::Stun;
        };
        // RFC 8445 §7.3.1.3: an unknown source is a peer-reflexive candidate.
        let remote = match self.remotes.iter().position(|r| r.addr == source) {
            Some(r) => r,
            None => {
                if self.remotes.len() >= self.config.max_remote_candidates {
                    return Receive::Stun;
                }
                self.prflx_count += 1;
                let foundation: Foundation = format!("prflx{}", self.prflx_count)
                    .parse()
                    .unwrap_or_else(|_| self.hosts[host].candidate.foundation().clone());
                let c = Candidate::new(
                    foundation,
                    1,
                    Transport::Udp,
                    priority,
                    source,
                    CandidateType::PeerReflexive,
                );
                self.remotes.push(Remote {
                    candidate: c,
                    addr: source,
                });
                self.remotes.len() - 1
            }
        };
        let Some(i) = self.add_pair(host, remote) else {
            return Receive::Stun;
        };
        self.pairs[i].inbound_ok = true;
        self.pairs[i].inbound_at = Some(now);
        let controlled = !self.controlling;
        if self.config.lite {
            // A lite agent does no checks: the pair is valid once the peer's
            // check arrives (RFC 8445 §7.3.1.4 for lite implementations).
            self.pairs[i].state = PairState::Succeeded;
        } else {
            // RFC 8445 §7.3.1.4: triggered checks. Deviation: a check in
            // flight is kept rather than cancelled and sent again; under
            // loss, every retransmission from the peer would otherwise
            // restart our transaction and its retransmission timer.
            match self.pairs[i].state {
                PairState::Succeeded | PairState::InProgress => {}
                PairState::Waiting | PairState::Frozen | PairState::Failed => {
                    self.pairs[i].state = PairState::Waiting;
                    self.enqueue_triggered(i);
                }
            }
        }
        // RFC 8445 §7.3.1.5: nomination by the controlling peer.
        if controlled && inbound.use_candidate {
            if self.pairs[i].is_valid() {
                self.nominate(now, i);
            } else {
                self.pairs[i].nominate_on_success = true;
            }
        }
        Receive::Stun
    }

    /// Handles a Binding response (RFC 8445 §7.2.5).
    fn handle_response(
        &mut self,
        now: Instant,
        msg: &Message<'_>,
        source: SocketAddr,
        destination: SocketAddr,
    ) -> Receive<'static> {
        let tid = msg.transaction_id();
        let Some(idx) = self.transactions.iter().position(|t| t.id == tid) else {
            return Receive::Dropped(DropReason::UnknownTransaction);
        };
        let kind = self.transactions[idx].kind;
        // Authenticate before ending the transaction (RFC 8489 §9.1.4).
        let authentic = match kind {
            TxnKind::Gather { server } => source == server,
            TxnKind::Check { .. } => self
                .remote
                .as_ref()
                .is_some_and(|(_, k)| msg.verify_message_integrity(k).is_ok()),
            TxnKind::Consent => self
                .selected
                .as_ref()
                .is_some_and(|s| msg.verify_message_integrity(&s.remote_key).is_ok()),
        };
        if !authentic {
            return Receive::Dropped(DropReason::UnknownTransaction);
        }
        let t = self.transactions.swap_remove(idx);
        let inbound = stun_io::read(msg);
        let success = msg.class() == Class::SuccessResponse;
        match kind {
            TxnKind::Gather { server } => {
                if let (true, Some(mapped)) = (success, inbound.mapped) {
                    self.on_gathered(t.source, server, mapped);
                }
            }
            TxnKind::Consent => {
                let on_selected = self
                    .selected
                    .as_ref()
                    .is_some_and(|s| s.pair.source == destination && s.pair.destination == source);
                if success && on_selected {
                    self.refresh_consent(now);
                }
            }
            TxnKind::Check {
                pair,
                use_candidate,
                role,
            } => {
                // RFC 8445 §7.2.5.2.1: the response must come back on the
                // same 5-tuple, else the pair fails.
                let symmetric = source == t.destination && destination == t.source;
                let outcome = match (success, symmetric) {
                    (true, true) => Ok(inbound.mapped),
                    (true, false) => Err(None),
                    (false, _) => Err(inbound.error_code),
                };
                self.on_check_response(now, &t, pair, use_candidate, role, outcome);
            }
        }
        Receive::Stun
    }

    /// `outcome` is the mapped address of a success on the same 5-tuple,
    /// or the error code of a failure (`None` for a non-symmetric success).
    fn on_check_response(
        &mut self,
        now: Instant,
        t: &Transaction,
        i: usize,
        use_candidate: bool,
        role: RoleAttr,
        outcome: Result<Option<SocketAddr>, Option<u16>>,
    ) {
        let Some(p) = self.pairs.get_mut(i) else {
            return;
        };
        if p.transaction == Some(t.id) {
            p.transaction = None;
        }
        let mapped = match outcome {
            Ok(mapped) => mapped,
            Err(code) => {
                if code == Some(487) {
                    // RFC 8445 §7.2.5.1: switch role (if not switched already)
                    // and check the pair again.
                    self.stats.role_conflicts += 1;
                    if role.controlling == self.controlling {
                        self.set_role(!role.controlling);
                    }
                    self.pairs[i].state = PairState::Waiting;
                    self.enqueue_triggered(i);
                } else if !t.cancelled {
                    self.pairs[i].state = PairState::Failed;
                }
                return;
            }
        };
        let Some(mapped) = mapped else {
            self.pairs[i].state = PairState::Failed;
            return;
        };
        let p = &mut self.pairs[i];
        p.state = PairState::Succeeded;
        p.mapped = Some(mapped);
        self.first_valid_at.get_or_insert(now);
        // RFC 8445 §7.2.5.3.3: unfreeze pairs of the same foundation.
        let (h, r) = (p.local, p.remote);
        for j in 0..self.pairs.len() {
            if self.pairs[j].state == PairState::Frozen
                && self.same_foundation(self.pairs[j].local, self.pairs[j].remote, h, r)
            {
                self.pairs[j].state = PairState::Waiting;
            }
        }
        // Any successful check on the selected pair is consent (RFC 7675 §5.1).
        if self
            .selected
            .as_ref()
            .is_some_and(|s| s.pair.source == t.source && s.pair.destination == t.destination)
        {
            self.refresh_consent(now);
        }
        let nominate = (use_candidate && self.controlling)
            || (self.pairs[i].nominate_on_success && !self.controlling);
        if nominate {
            self.nominate(now, i);
        }
    }

    // ---- internals: nomination and selection ----

    fn nomination_deadline(&self) -> Option<Instant> {
        // Mirrors the early returns of `nominate_best`, so that a past
        // deadline always leads to a nomination (no busy loop).
        if !self.controlling
            || self.nominating
            || self.nominated
            || !self.checks_allowed()
            || !self.pairs.iter().any(Pair::is_valid)
        {
            return None;
        }
        let first = self.first_valid_at?;
        Some(first + self.config.nomination_timeout)
    }

    /// Regular nomination (RFC 8445 §8.1.1): the controlling agent checks
    /// the best valid pair again with USE-CANDIDATE. It does so once no
    /// pending pair could beat the best valid one, or after the
    /// nomination timeout.
    fn nominate_best(&mut self, _now: Instant) {
        if !self.controlling || self.nominating || self.nominated || !self.checks_allowed() {
            return;
        }
        let Some(best) = self
            .pairs
            .iter()
            .enumerate()
            .filter(|(_, p)| p.is_valid())
            .max_by_key(|(_, p)| p.priority)
            .map(|(i, _)| i)
        else {
            return;
        };
        self.nominating = true;
        self.pairs[best].use_candidate = true;
        // Send the nominating check next, before any other triggered check.
        self.pairs[best].queued = true;
        self.triggered.push_front(best);
    }

    fn maybe_nominate_early(&mut self, now: Instant) {
        if !self.controlling || self.nominating || self.nominated || self.config.lite {
            return;
        }
        let Some(best) = self
            .pairs
            .iter()
            .filter(|p| p.is_valid())
            .map(|p| p.priority)
            .max()
        else {
            return;
        };
        // No pending pair could still beat the best valid one.
        if !self
            .pairs
            .iter()
            .any(|p| p.is_pending() && p.priority > best)
        {
            self.nominate_best(now);
        }
    }

    fn nominate(&mut self, now: Instant, i: usize) {
        let p = &mut self.pairs[i];
        p.nominated = true;
        p.nominate_on_success = false;
        self.nominated = true;
        self.nominating = true;
        let priority = p.priority;
        // With aggressive nomination several pairs may be nominated: the
        // highest-priority one is used (RFC 8445 §8.1.1).
        let better = match &self.selected {
            None => true,
            Some(s) => s.index.is_none() || priority > s.priority,
        };
        if better {
            self.select(now, i);
        }
    }

    fn select(&mut self, now: Instant, i: usize) {
        let p = &self.pairs[i];
        let host = &self.hosts[p.local];
        let remote = &self.remotes[p.remote];
        let local = match p.mapped {
            Some(m) if m != host.addr => {
                let srflx = self.srflx.iter().find(|c| c.socket_addr() == Some(m));
                match srflx {
                    Some(c) => c.clone(),
                    None => Candidate::new(
                        Foundation::compute(
                            CandidateType::PeerReflexive,
                            host.addr.ip(),
                            None,
                            Transport::Udp,
                        ),
                        1,
                        Transport::Udp,
                        self.prflx_priority(host.local_preference),
                        m,
                        CandidateType::PeerReflexive,
                    )
                    .with_related_address(host.addr),
                }
            }
            _ => host.candidate.clone(),
        };
        let pair = SelectedPair {
            local,
            remote: remote.candidate.clone(),
            source: host.addr,
            destination: remote.addr,
        };
        let (remote_ufrag, remote_key) = match &self.remote {
            Some((c, k)) => (c.ufrag().to_owned(), k.clone()),
            None => return,
        };
        let next_consent = now + self.consent_interval();
        self.selected = Some(Selected {
            pair: pair.clone(),
            index: Some(i),
            priority: self.pairs[i].priority,
            local_ufrag: self.local.ufrag().to_owned(),
            remote_ufrag,
            remote_key,
            last_consent: now,
            next_consent,
        });
        // The restart (if any) is over: the old credentials retire.
        self.previous_local = None;
        self.transactions
            .retain(|t| !matches!(t.kind, TxnKind::Consent));
        self.push_event(Event::SelectedPairChange(Box::new(pair)));
        // Connected first, as browsers do; `update_states` moves on to
        // Completed when both sides are done with candidates.
        if self.state != ConnectionState::Completed {
            self.set_state(ConnectionState::Connected, None);
        }
    }

    fn connected_state(&self) -> ConnectionState {
        if self.remote_end_of_candidates && self.gathering == GatheringState::Complete {
            ConnectionState::Completed
        } else {
            ConnectionState::Connected
        }
    }

    // ---- internals: consent freshness (RFC 7675) ----

    /// RFC 7675 §5.1: the interval is randomized to 0.8..1.2 of its mean.
    fn consent_interval(&mut self) -> Duration {
        let factor: f64 = self.rng.random_range(0.8..1.2);
        self.config.consent_interval.mul_f64(factor)
    }

    fn refresh_consent(&mut self, now: Instant) {
        if let Some(s) = &mut self.selected {
            s.last_consent = now;
        }
        if self.state == ConnectionState::Disconnected {
            let state = self.connected_state();
            self.set_state(state, None);
        }
    }

    fn consent_timers(&mut self, now: Instant) {
        if self.config.lite {
            return;
        }
        let Some(s) = &self.selected else { return };
        let silent = now.saturating_duration_since(s.last_consent);
        let (source, destination, next_consent) =
            (s.pair.source, s.pair.destination, s.next_consent);
        if silent >= self.config.consent_timeout {
            // RFC 7675 §5.1: consent expired; stop sending on this pair.
            self.selected = None;
            self.transactions
                .retain(|t| !matches!(t.kind, TxnKind::Consent));
            self.set_state(ConnectionState::Failed, Some(FailureReason::ConsentExpired));
            return;
        }
        if silent >= self.config.disconnected_timeout
            && matches!(
                self.state,
                ConnectionState::Connected | ConnectionState::Completed
            )
        {
            self.set_state(
                ConnectionState::Disconnected,
                Some(FailureReason::ConsentMissing),
            );
        }
        if now >= next_consent {
            // One consent transaction at a time.
            self.transactions
                .retain(|t| !matches!(t.kind, TxnKind::Consent));
            self.start_transaction(TxnKind::Consent, source, destination);
            let next = now + self.consent_interval();
            if let Some(s) = &mut self.selected {
                s.next_consent = next;
            }
        }
    }

    // ---- internals: states and events ----

    fn update_states(&mut self, now: Instant) {
        if self.state == ConnectionState::Closed {
            return;
        }
        if self.gathering == GatheringState::Gathering && !self.gathering_pending() {
            self.set_gathering(GatheringState::Complete);
        }
        self.maybe_nominate_early(now);
        if matches!(self.state, ConnectionState::Connected)
            && self.selected.is_some()
            && self.connected_state() == ConnectionState::Completed
        {
            self.set_state(ConnectionState::Completed, None);
        }
        // RFC 8445 §7.2.5.3.3 with RFC 8838 §8: fail once both sides are done
        // and every pair failed.
        if self.selected.is_none()
            && !self.config.lite
            && self.remote_end_of_candidates
            && self.gathering == GatheringState::Complete
            && matches!(self.state, ConnectionState::New | ConnectionState::Checking)
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
            && matches!(self.state, ConnectionState::New | ConnectionState::Checking)
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

    fn set_state(&mut self, state: ConnectionState, reason: Option<FailureReason>) {
        if self.state == state {
            return;
        }
        self.state = state;
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
