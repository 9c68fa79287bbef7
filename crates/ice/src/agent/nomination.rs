//! Nomination and the selected pair (RFC 8445 §8.1).

use std::time::Instant;

use super::*;

impl Agent {
    pub(super) fn nomination_deadline(&self) -> Option<Instant> {
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
    ///
    /// The nominating check goes out at once rather than in the next Ta
    /// slot: it re-checks a pair that already carried a check both ways,
    /// so it opens no new NAT binding, which is what pacing (RFC 8445
    /// §14) protects. Waiting a whole Ta (50 ms) would triple the time to
    /// connect on a LAN.
    pub(super) fn nominate_best(&mut self, now: Instant) {
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
        if self.pairs[best].queued {
            self.triggered.retain(|&i| i != best);
            self.pairs[best].queued = false;
        }
        self.check_pair(now, best);
    }

    pub(super) fn maybe_nominate_early(&mut self, now: Instant) {
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

    pub(super) fn nominate(&mut self, now: Instant, i: usize) {
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

    pub(super) fn select(&mut self, now: Instant, i: usize) {
        let p = &self.pairs[i];
        let host = &self.hosts[p.local];
        let remote = &self.remotes[p.remote];
        let protocol = host.protocol();
        let local = self.presented_local(p);
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
        // The same pair again (a nomination repeated), or another: one of
        // other addresses, or of another generation on the same addresses
        // (RFC 8445 §9: its candidates carry new ufrags; W3C webrtc-stats
        // `selectedCandidatePairChanges`). A rollback's credentials are
        // those of the pair before it: the same pair.
        let same = self.selected.as_ref().is_some_and(|s| {
            (s.protocol, s.pair.source, s.pair.destination)
                == (protocol, pair.source, pair.destination)
                && s.local_ufrag == self.local.ufrag()
                && s.remote_ufrag == remote_ufrag
        });
        if !same {
            self.stats.selected_pair_changes += 1;
        }
        self.fallback_deadline = None;
        self.selected = Some(Selected {
            pair: pair.clone(),
            protocol,
            index: Some(i),
            generation: self.generation,
            priority: self.pairs[i].priority,
            local_ufrag: self.local.ufrag().to_owned(),
            remote_ufrag,
            remote_key,
            last_consent: now,
            next_consent,
            round_trip: self.pairs[i].round_trip,
        });
        // The restart (if any) is over: the old credentials retire, and
        // the old pair's traffic with them.
        self.previous_local = None;
        self.forget_old_traffic();
        self.transactions
            .retain(|t| !matches!(t.kind, TxnKind::Consent));
        // Through a relay, data goes as ChannelData from now on.
        self.bind_selected(self.pairs[i].local, pair.destination);
        self.push_event(Event::SelectedPairChange(Box::new(pair)));
        // Connected first, as browsers do; `update_states` moves on to
        // Completed when both sides are done with candidates.
        if self.state != ConnectionState::Completed {
            self.set_state(ConnectionState::Connected, None);
        }
    }

    /// The local candidate of pair `p` as the peer sees it: its base, or
    /// over UDP the server- or peer-reflexive address the peer's answer
    /// showed (XOR-MAPPED-ADDRESS, RFC 8445 §7.2.5.3.1).
    pub(super) fn presented_local(&self, p: &Pair) -> Candidate {
        let host = &self.hosts[p.local];
        match p.mapped {
            // Over TCP the mapped address is the connection's own port,
            // not a candidate (RFC 6544 §7.2.2: no peer-reflexive local ones).
            Some(m) if m != host.addr && host.protocol() == Protocol::Udp => {
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
        }
    }

    pub(super) fn connected_state(&self) -> ConnectionState {
        if self.remote_end_of_candidates && self.gathering == GatheringState::Complete {
            ConnectionState::Completed
        } else {
            ConnectionState::Connected
        }
    }
}
