//! The agent's STUN transactions and the datagrams it writes
//! (RFC 8489 §6.2.1, RFC 8445 §7.2.2, §7.3.1).

use std::net::SocketAddr;
use std::time::Instant;

use ferrtc_stun::TransactionId;
use rand::Rng;

use super::*;

impl Agent {
    pub(super) fn new_tid(&mut self) -> TransactionId {
        TransactionId(self.rng.random())
    }

    pub(super) fn start_transaction(
        &mut self,
        kind: TxnKind,
        source: SocketAddr,
        destination: SocketAddr,
        protocol: Protocol,
    ) -> TransactionId {
        let id = self.new_tid();
        let mut schedule = self.schedule();
        if let TxnKind::Check { .. } = kind {
            // RFC 8445 §14.3: RTO = MAX(500 ms, Ta * (Waiting + In-Progress)),
            // with the configured RTO in place of 500 ms.
            let busy = self
                .pairs
                .iter()
                .filter(|p| matches!(p.state, PairState::Waiting | PairState::InProgress))
                .count();
            let paced = self.config.ta * u32::try_from(busy).unwrap_or(u32::MAX);
            schedule.rto = schedule.rto.max(paced).min(schedule.max_rto);
        }
        let t = Transaction::new(
            id,
            kind,
            (source, destination, protocol),
            self.now,
            &schedule,
        );
        self.transactions.push(t);
        self.queue(Out::Request(id));
        id
    }

    pub(super) fn queue(&mut self, out: Out) {
        if self.out.len() < MAX_QUEUED {
            self.out.push_back(out);
        }
    }

    pub(super) fn expire_transactions(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.transactions.len() {
            if self.transactions[i].deadline > now {
                i += 1;
                continue;
            }
            let schedule = self.schedule();
            match self.transactions[i].expire(now, &schedule) {
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
        if self.transactions.is_empty() {
            self.transactions = Vec::new();
        }
    }

    pub(super) fn on_timeout(&mut self, t: Transaction) {
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

    pub(super) fn write(&mut self, out: Out, buf: &mut Vec<u8>) -> Option<Transmit> {
        match out {
            Out::Request(id) => {
                let t = self.transactions.iter().find(|t| t.id == id)?;
                let (source, destination, protocol) = (t.source, t.destination, t.protocol);
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
                            .find(|h| h.addr == source && h.protocol() == s.protocol)
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
                    protocol,
                })
            }
            Out::Response {
                tid,
                source,
                destination,
                protocol,
                error,
                unknown,
                key,
            } => {
                let key: Option<&[u8]> = match key {
                    Some(KeyRef::Current) => Some(&self.local_key),
                    Some(KeyRef::Previous) => Some(&self.previous_local.as_ref()?.1),
                    None => None,
                };
                let ok = match (error, key) {
                    (None, Some(key)) => stun_io::write_success(buf, tid, destination, key),
                    (Some(code), key) => stun_io::write_error(buf, tid, code, &unknown, key),
                    (None, None) => false,
                };
                self.stats.responses_sent += u64::from(ok);
                ok.then_some(Transmit {
                    source,
                    destination,
                    protocol,
                })
            }
        }
    }

    pub(super) fn prflx_priority(&self, local_preference: u16) -> u32 {
        // RFC 8445 §7.1.1: the priority a peer-reflexive candidate would get.
        Candidate::compute_priority(CandidateType::PeerReflexive, local_preference, 1)
    }

    pub(super) fn role_attr(&self) -> RoleAttr {
        RoleAttr {
            controlling: self.controlling,
            tie_breaker: self.tie_breaker,
        }
    }
}
