//! Consent freshness (RFC 7675) on the selected pair.

use std::time::{Duration, Instant};

use rand::Rng;

use super::*;

impl Agent {
    /// RFC 7675 §5.1: the interval is randomized to 0.8..1.2 of its mean.
    pub(super) fn consent_interval(&mut self) -> Duration {
        let factor: f64 = self.rng.random_range(0.8..1.2);
        self.config.consent_interval.mul_f64(factor)
    }

    pub(super) fn refresh_consent(&mut self, now: Instant) {
        if let Some(s) = &mut self.selected {
            s.last_consent = now;
            s.unconfirmed_successor = false;
        }
        if self.state == ConnectionState::Disconnected {
            let state = self.connected_state();
            self.set_state(state, None);
        }
    }

    pub(super) fn consent_timers(&mut self, now: Instant) {
        if self.config.lite {
            return;
        }
        let Some(s) = &self.selected else { return };
        let silent = now.saturating_duration_since(s.last_consent);
        let (source, destination, protocol, next_consent) = (
            s.pair.source,
            s.pair.destination,
            s.protocol,
            s.next_consent,
        );
        if let Some(i) = self.nominated_successor() {
            // The controlling peer moved to a pair it nominated since:
            // that one is used, not the silent one.
            self.select_successor(now, i);
            return;
        }
        if silent >= self.config.consent_timeout {
            // RFC 7675 §5.1: consent expired; stop sending on this pair.
            self.lose_selected(FailureReason::ConsentExpired);
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
            self.start_transaction(TxnKind::Consent, source, destination, protocol);
            let next = now + self.consent_interval();
            if let Some(s) = &mut self.selected {
                s.next_consent = next;
            }
        }
    }

    /// A controlled agent's selected pair has had no consent response
    /// (RFC 7675 §5.1) for the disconnected timeout.
    pub(super) fn selected_is_silent(&self) -> bool {
        !self.controlling
            && !self.config.lite
            && self.selected.as_ref().is_some_and(|s| {
                self.now.saturating_duration_since(s.last_consent)
                    >= self.config.disconnected_timeout
            })
    }

    /// For a controlled agent whose selected pair went silent
    /// ([`Self::selected_is_silent`]): the highest-priority other valid
    /// pair of this generation that the controlling peer nominated (RFC
    /// 8445 §7.3.1.5) and checked since the selected pair last had
    /// consent. The peer moved to it (its allocation or connection for
    /// the selected pair ended, which this side cannot see); its checks
    /// show it works there. Consent on the selected pair failing is about
    /// that pair alone (RFC 7675 §5.1): the agent fails only when no pair
    /// is left (RFC 8445 §8.1.2). A pair nominated before and not checked
    /// since (aggressive nomination, RFC 8445 §8.1.1) is no sign of that,
    /// and a selected pair that works is kept whatever the peer nominates.
    pub(super) fn nominated_successor(&self) -> Option<usize> {
        if !self.selected_is_silent() {
            return None;
        }
        let s = self.selected.as_ref()?;
        if s.unconfirmed_successor {
            // One move per consent answer: two silent pairs the peer
            // checks must not take turns until consent runs out.
            return None;
        }
        let current = s.index?;
        (0..self.pairs.len())
            .filter(|&i| {
                let p = &self.pairs[i];
                i != current
                    && p.nominated
                    && p.is_valid()
                    && p.inbound_at.is_some_and(|t| t > s.last_consent)
            })
            .max_by_key(|&i| self.pairs[i].priority)
    }

    /// Selects pair `i`, the successor of the silent selected pair
    /// ([`Self::nominated_successor`]). The peer's checks on it are no
    /// consent (RFC 7675 §5.1: only answers to our requests are), so its
    /// consent clock goes on from the silent pair's last answer: a
    /// consent check goes out at once, and if no pair answers, consent
    /// expires when it would have on the silent one.
    pub(super) fn select_successor(&mut self, now: Instant, i: usize) {
        let Some(last_consent) = self.selected.as_ref().map(|s| s.last_consent) else {
            return;
        };
        self.select(now, i);
        if let Some(s) = &mut self.selected {
            s.last_consent = last_consent;
            s.next_consent = now;
            s.unconfirmed_successor = true;
        }
    }

    /// The selected pair is given up (consent expired, RFC 7675 §5.1, or
    /// its TCP connection or TURN allocation is gone): nothing more is
    /// sent on it. Without an ICE restart in progress the connection has
    /// failed. With one (the selected pair belongs to the generation
    /// before it), the new generation's check list (RFC 8445 §9) is what
    /// remains: checks go on and the state is Checking, so that the new
    /// candidates, when they come, are still checked.
    ///
    /// When the pair's connection closed (its TCP connection or TURN
    /// allocation, whose pairs all failed with it) and another valid pair
    /// of the current generation remains, the connection is not failed
    /// (W3C webrtc-pc §5.6: failed once every pair failed or lost
    /// consent) but disconnected: the controlling agent nominates the best
    /// remaining pair (RFC 8445 §8.1.1), the controlled one waits for that
    /// nomination, and either fails when none comes
    /// ([`Self::nomination_wait_deadline`], `update_states`), and at the
    /// latest once the consent timeout passed without a new pair.
    pub(super) fn lose_selected(&mut self, reason: FailureReason) {
        let Some(s) = self.selected.take() else {
            return;
        };
        self.stats.selected_pair_changes += 1;
        self.transactions
            .retain(|t| !matches!(t.kind, TxnKind::Consent));
        if s.index.is_none() {
            self.set_state(ConnectionState::Checking, Some(reason));
        } else if reason == FailureReason::ConnectionClosed && self.pairs.iter().any(Pair::is_valid)
        {
            let now = self.now;
            // The controlled agent: a remaining pair the peer nominated
            // already (its nomination came before this side saw the close)
            // is the one now (RFC 8445 §8.1.1: the nominated pair).
            if !self.controlling
                && let Some(i) = (0..self.pairs.len())
                    .filter(|&i| self.pairs[i].nominated && self.pairs[i].is_valid())
                    .max_by_key(|&i| self.pairs[i].priority)
            {
                self.select(now, i);
                return;
            }
            self.nominated = false;
            self.nominating = false;
            // The wait for a new nomination starts now; without one (or
            // without the peer's end-of-candidates that the other checks
            // need) it fails when consent would have run out.
            self.first_valid_at = Some(now);
            self.fallback_deadline = Some(now + self.config.consent_timeout);
            self.set_state(ConnectionState::Disconnected, Some(reason));
            self.nominate_best(now);
        } else {
            self.set_state(ConnectionState::Failed, Some(reason));
        }
    }
}
