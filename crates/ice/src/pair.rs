//! Candidate pairs and their states (RFC 8445 §6.1.2).

use std::net::SocketAddr;
use std::time::Instant;

use ferrtc_stun::TransactionId;

use crate::event::RoundTrip;

/// The state of a candidate pair in the check list (RFC 8445 §6.1.2.6;
/// W3C webrtc-stats `RTCStatsIceCandidatePairState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[doc(alias = "RTCStatsIceCandidatePairState")]
pub enum PairState {
    /// Not checked until a pair with the same foundation succeeds.
    Frozen,
    /// Ready to be checked.
    Waiting,
    /// A check is in flight.
    InProgress,
    /// A check succeeded: the pair is valid.
    Succeeded,
    /// The check failed or timed out.
    Failed,
}

/// One local base (a host candidate) paired with one remote candidate.
#[derive(Debug)]
pub(crate) struct Pair {
    /// Index into the agent's host candidates.
    pub local: usize,
    /// Index into the agent's remote candidates.
    pub remote: usize,
    /// Pair priority (RFC 8445 §6.1.2.3), recomputed on a role change.
    pub priority: u64,
    pub state: PairState,
    /// The check of this pair in flight, if any.
    pub transaction: Option<TransactionId>,
    /// In the triggered-check queue.
    pub queued: bool,
    /// The next check carries USE-CANDIDATE (controlling, RFC 8445 §8.1.1).
    pub use_candidate: bool,
    /// USE-CANDIDATE arrived before our own check succeeded (controlled,
    /// RFC 8445 §7.3.1.5): nominate on success.
    pub nominate_on_success: bool,
    /// Nominated (RFC 8445 §8.1.1).
    pub nominated: bool,
    /// Nominating checks of this valid pair that got no answer.
    pub nomination_failures: u8,
    /// The peer sent an authenticated check over this pair: data from it
    /// is accepted even before our own check succeeds.
    pub inbound_ok: bool,
    /// When the last authenticated check from the peer arrived on this pair.
    pub inbound_at: Option<Instant>,
    /// The address the peer saw our check come from (XOR-MAPPED-ADDRESS):
    /// a server- or peer-reflexive local candidate when it is not the base.
    pub mapped: Option<SocketAddr>,
    /// Round trips measured on this pair's checks.
    pub round_trip: RoundTrip,
}

impl Pair {
    pub(crate) fn new(local: usize, remote: usize, priority: u64, state: PairState) -> Self {
        Pair {
            local,
            remote,
            priority,
            state,
            transaction: None,
            queued: false,
            use_candidate: false,
            nominate_on_success: false,
            nominated: false,
            nomination_failures: 0,
            inbound_ok: false,
            inbound_at: None,
            mapped: None,
            round_trip: RoundTrip::default(),
        }
    }

    /// Valid pairs are those whose check succeeded (RFC 8445 §7.2.5.3.2).
    pub(crate) fn is_valid(&self) -> bool {
        self.state == PairState::Succeeded
    }

    /// Still waiting for a result.
    pub(crate) fn is_pending(&self) -> bool {
        matches!(
            self.state,
            PairState::Frozen | PairState::Waiting | PairState::InProgress
        )
    }
}

/// Pair priority (RFC 8445 §6.1.2.3): with G the controlling agent's
/// candidate priority and D the controlled agent's,
/// `2^32 * min(G, D) + 2 * max(G, D) + (G > D ? 1 : 0)`.
pub(crate) fn pair_priority(controlling: bool, local: u32, remote: u32) -> u64 {
    let (g, d) = if controlling {
        (u64::from(local), u64::from(remote))
    } else {
        (u64::from(remote), u64::from(local))
    };
    (g.min(d) << 32) + 2 * g.max(d) + u64::from(g > d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_priority_is_symmetric_between_the_two_agents() {
        // Both agents compute the same number for the same pair.
        let a = pair_priority(true, 2_130_706_431, 1_694_498_815);
        let b = pair_priority(false, 1_694_498_815, 2_130_706_431);
        assert_eq!(a, b);
        assert_eq!(a, (1_694_498_815u64 << 32) + 2 * 2_130_706_431u64 + 1);
    }

    #[test]
    fn pair_priority_orders_by_the_lower_candidate_first() {
        let high = pair_priority(true, 1000, 900);
        let low = pair_priority(true, 5000, 800);
        assert!(high > low);
    }
}
