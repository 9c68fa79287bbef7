//! Replayed connectivity checks (RFC 8445 §7.3.1.3, §19; RFC 8489 §5,
//! §6.3.1), and the peer-reflexive remotes that give way to signalled
//! candidates.
//!
//! Checks travel in the clear and MESSAGE-INTEGRITY covers no address: a
//! check seen once on the path can be sent again, unchanged, from any
//! source, and each copy authenticates. Each new source would become a
//! peer-reflexive remote candidate (§7.3.1.3) whose data is accepted, and
//! enough of them would fill `max_remote_candidates` so that the peer's
//! real candidates are refused. A request's transaction id is fresh per
//! transaction (RFC 8489 §5), and its retransmissions come from where it
//! first came: the same id from another source is a replay, and is
//! dropped (so is a retransmission a NAT rebinding moved to a new port;
//! the peer's next check, with a new id, gets through). The agent
//! remembers the last [`MAX_RECENT_REQUESTS`] ids.
//! Replays of a check older than that still add one peer-reflexive remote
//! each; those are never validated (the replayer cannot answer our checks
//! without the peer's password), and [`Agent::add_remote_candidate`] lets
//! a signalled candidate take the place of one of them.

use std::collections::VecDeque;
use std::net::SocketAddr;

use ferrtc_stun::TransactionId;

use super::*;

/// How many recent request transaction ids (with their source) the agent
/// remembers to tell a retransmission from a replay.
pub(super) const MAX_RECENT_REQUESTS: usize = 32;

/// The transaction ids of the last authenticated requests and where each
/// came from, oldest first (at most [`MAX_RECENT_REQUESTS`]).
#[derive(Debug, Default)]
pub(super) struct RecentRequests {
    seen: VecDeque<(TransactionId, SocketAddr)>,
}

impl RecentRequests {
    /// Notes a request `tid` from `source`; whether it is a replay (the
    /// same id came from another source before).
    pub(super) fn is_replay(&mut self, tid: TransactionId, source: SocketAddr) -> bool {
        if let Some((_, from)) = self.seen.iter().find(|(t, _)| *t == tid) {
            return *from != source;
        }
        if self.seen.len() >= MAX_RECENT_REQUESTS {
            self.seen.pop_front();
        }
        self.seen.push_back((tid, source));
        false
    }
}

impl Agent {
    /// A peer-reflexive remote candidate nothing vouches for: none of our
    /// checks to it succeeded, none of its pairs is being nominated (by us,
    /// or by the peer's USE-CANDIDATE waiting for our check) or carries the
    /// selected pair. The one heard from least lately, if any.
    pub(super) fn unverified_prflx_remote(&self) -> Option<usize> {
        let selected = self.selected.as_ref().and_then(|s| s.index);
        let mut best: Option<(usize, Option<Instant>)> = None;
        for (r, remote) in self.remotes.iter().enumerate() {
            if remote.candidate.kind() != CandidateType::PeerReflexive {
                continue;
            }
            let mut last = None;
            let mut vouched = false;
            for (i, p) in self.pairs.iter().enumerate().filter(|(_, p)| p.remote == r) {
                vouched |= p.is_valid()
                    || p.mapped.is_some()
                    || p.nominated
                    || p.nominate_on_success
                    || p.use_candidate
                    || selected == Some(i);
                last = last.max(p.inbound_at);
            }
            if vouched {
                continue;
            }
            if best.is_none_or(|(_, at)| last < at) {
                best = Some((r, last));
            }
        }
        best.map(|(r, _)| r)
    }

    /// Forgets remote candidate `r` and its pairs; the indices of later
    /// remotes and pairs move down, in pairs, the triggered queue, check
    /// transactions (those of the forgotten pairs end) and the selected
    /// pair.
    pub(super) fn forget_remote(&mut self, r: usize) {
        if r >= self.remotes.len() {
            return;
        }
        self.remotes.remove(r);
        let old = std::mem::take(&mut self.pairs);
        let mut moved: Vec<Option<usize>> = Vec::with_capacity(old.len());
        for mut p in old {
            if p.remote == r {
                moved.push(None);
                continue;
            }
            if p.remote > r {
                p.remote -= 1;
            }
            moved.push(Some(self.pairs.len()));
            self.pairs.push(p);
        }
        let to = |i: usize| moved.get(i).copied().flatten();
        self.triggered = self.triggered.iter().filter_map(|&i| to(i)).collect();
        self.transactions.retain_mut(|t| match &mut t.kind {
            TxnKind::Check { pair, .. } => match to(*pair) {
                Some(n) => {
                    *pair = n;
                    true
                }
                None => false,
            },
            TxnKind::Gather { .. } | TxnKind::Consent => true,
        });
        if let Some(s) = &mut self.selected
            && let Some(i) = s.index
        {
            s.index = to(i);
        }
    }
}
