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
