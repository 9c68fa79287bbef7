//! Connectivity checks: pacing, triggered checks, and the handling of
//! Binding requests and responses (RFC 8445 §6.1.4, §7.2, §7.3).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ferrtc_stun::{Class, Message};

use super::*;

impl Agent {
    pub(super) fn checks_allowed(&self) -> bool {
        !self.config.lite
            && self.remote.is_some()
            && !matches!(
                self.state,
                ConnectionState::Closed | ConnectionState::Failed
            )
    }

    pub(super) fn has_check_work(&self) -> bool {
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
    pub(super) fn send_next_check(&mut self, now: Instant) {
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

    pub(super) fn check_pair(&mut self, _now: Instant, i: usize) {
        let Some(p) = self.pairs.get(i) else { return };
        let source = self.hosts[p.local].addr;
        let destination = self.remotes[p.remote].addr;
        let protocol = self.hosts[p.local].protocol();
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
        let id = self.start_transaction(kind, source, destination, protocol);
        let p = &mut self.pairs[i];
        p.state = PairState::InProgress;
        p.transaction = Some(id);
        self.stats.checks_sent += 1;
        if self.state == ConnectionState::New {
            self.set_state(ConnectionState::Checking, None);
        }
    }

    pub(super) fn enqueue_triggered(&mut self, i: usize) {
        if let Some(p) = self.pairs.get_mut(i)
            && !p.queued
        {
            p.queued = true;
            self.triggered.push_back(i);
        }
    }

    /// Handles a Binding request (RFC 8445 §7.3).
    pub(super) fn handle_request(
        &mut self,
        now: Instant,
        msg: &Message<'_>,
        protocol: Protocol,
        source: SocketAddr,
        destination: SocketAddr,
    ) -> Receive<'static> {
        let tid = msg.transaction_id();
        let Some(host) = self
            .hosts
            .iter()
            .position(|h| h.addr == destination && h.protocol() == protocol)
        else {
            return Receive::Dropped(DropReason::UnknownDestination);
        };
        // W3C iceTransportPolicy "relay": host sockets only talk to servers.
        if self.config.relay_only && self.hosts[host].relay().is_none() {
            return Receive::Dropped(DropReason::UnknownDestination);
        }
        let respond = |agent: &mut Agent, error: Option<u16>, key: Option<KeyRef>| {
            agent.queue(Out::Response {
                tid,
                source: destination,
                destination: source,
                protocol,
                error,
                unknown: Box::default(),
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
            .as_deref()
            .is_some_and(|(c, _)| c.ufrag() == local_ufrag)
        {
            KeyRef::Previous
        } else {
            respond(self, Some(401), None);
            return Receive::Stun;
        };
        let verified = match key {
            KeyRef::Current => msg.verify_message_integrity(&self.local_key),
            KeyRef::Previous => match self.previous_local.as_deref() {
                Some((_, k)) => msg.verify_message_integrity(k),
                None => return Receive::Dropped(DropReason::UnknownTransaction),
            },
        };
        if verified.is_err() {
            respond(self, Some(401), None);
            return Receive::Stun;
        }
        // RFC 8445 §7.3.1.3, §19: an authentic check sent again from
        // another source is a replay; it makes no peer-reflexive candidate.
        if self.recent_requests.is_replay(tid, source) {
            return Receive::Dropped(DropReason::ReplayedRequest);
        }
        // RFC 8489 §6.3.1.1: unknown comprehension-required attributes get
        // a 420 whose UNKNOWN-ATTRIBUTES (§14.13) lists them.
        let unknown: Box<[u16]> = msg
            .unknown_comprehension_required()
            .take(MAX_UNKNOWN_LISTED)
            .collect();
        if !unknown.is_empty() {
            self.queue(Out::Response {
                tid,
                source: destination,
                destination: source,
                protocol,
                error: Some(420),
                unknown,
                key: Some(key),
            });
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
        let remote = match self
            .remotes
            .iter()
            .position(|r| r.addr == source && r.protocol() == protocol)
        {
            Some(r) => r,
            None => {
                if self.remotes.len() >= self.config.max_remote_candidates {
                    return Receive::Stun;
                }
                self.prflx_count += 1;
                let foundation: Foundation = format!("prflx{}", self.prflx_count)
                    .parse()
                    .unwrap_or_else(|_| self.hosts[host].candidate.foundation().clone());
                // RFC 6544 §7.2.2: over TCP, the peer's role is the
                // opposite of the local candidate's.
                let transport = match self.hosts[host].candidate.transport() {
                    Transport::Udp => Transport::Udp,
                    Transport::Tcp(TcpType::Passive) => Transport::Tcp(TcpType::Active),
                    Transport::Tcp(TcpType::Active) => Transport::Tcp(TcpType::Passive),
                    Transport::Tcp(TcpType::SimultaneousOpen) => {
                        Transport::Tcp(TcpType::SimultaneousOpen)
                    }
                };
                let c = Candidate::new(
                    foundation,
                    1,
                    transport,
                    priority,
                    source,
                    CandidateType::PeerReflexive,
                );
                self.remotes.push(Remote {
                    candidate: c,
                    addr: source,
                    // A TCP peer-reflexive remote exists only on the
                    // connection it came on (RFC 6544 §7.2.2).
                    via: (protocol == Protocol::Tcp)
                        .then(|| u16::try_from(host).ok())
                        .flatten(),
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
    pub(super) fn handle_response(
        &mut self,
        now: Instant,
        msg: &Message<'_>,
        protocol: Protocol,
        source: SocketAddr,
        destination: SocketAddr,
    ) -> Receive<'static> {
        let tid = msg.transaction_id();
        let Some(idx) = self
            .transactions
            .iter()
            .position(|t| t.id == tid && t.protocol == protocol)
        else {
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
        if self.transactions.is_empty() {
            self.transactions = Vec::new();
        }
        let inbound = stun_io::read(msg);
        let success = msg.class() == Class::SuccessResponse;
        // Karn's rule: only a request sent once gives an unambiguous round trip.
        let rtt = (success && t.transmits == 1).then(|| now.saturating_duration_since(t.started));
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
                    if let (Some(rtt), Some(s)) = (rtt, self.selected.as_mut()) {
                        s.round_trip.record(rtt);
                    }
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
                if let (Some(rtt), true) = (rtt, symmetric) {
                    self.record_check_round_trip(pair, rtt);
                }
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

    /// Records a check's round trip on its pair, and on the selected pair
    /// when it is that one.
    fn record_check_round_trip(&mut self, i: usize, rtt: Duration) {
        if let Some(p) = self.pairs.get_mut(i) {
            p.round_trip.record(rtt);
        }
        if let Some(s) = self.selected.as_mut().filter(|s| s.index == Some(i)) {
            s.round_trip.record(rtt);
        }
    }

    /// The check of pair `i` just failed (an authenticated error other
    /// than 487, a success that was not symmetric, or one without a mapped
    /// address): if it was the nominating check and no newer check of the
    /// pair is in flight, the nomination is over. RFC 8445 §7.2.5.2.4 and
    /// §8.1.1: the controlling agent nominates another valid pair, so the
    /// pair's USE-CANDIDATE and the agent's `nominating` are cleared (as
    /// a nominating check that times out clears them, `on_timeout`).
    fn nomination_failed(&mut self, i: usize) {
        let Some(p) = self.pairs.get_mut(i) else {
            return;
        };
        if p.use_candidate && p.transaction.is_none() && !p.nominated {
            p.use_candidate = false;
            self.nominating = false;
        }
    }

    /// `outcome` is the mapped address of a success on the same 5-tuple,
    /// or the error code of a failure (`None` for a non-symmetric success).
    pub(super) fn on_check_response(
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
                    self.nomination_failed(i);
                }
                return;
            }
        };
        let Some(mapped) = mapped else {
            // RFC 8445 §7.2.5.2.1 (not symmetric) or no mapped address.
            self.pairs[i].state = PairState::Failed;
            self.nomination_failed(i);
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
        if self.selected.as_ref().is_some_and(|s| {
            s.pair.source == t.source
                && s.pair.destination == t.destination
                && s.protocol == t.protocol
        }) {
            self.refresh_consent(now);
        }
        let nominate = (use_candidate && self.controlling)
            || (self.pairs[i].nominate_on_success && !self.controlling);
        if nominate {
            self.nominate(now, i);
        }
    }
}
