//! Candidates, pairs and gathering (RFC 8445 §5.1, §6.1.2).

use std::net::SocketAddr;

use super::*;

impl Agent {
    pub(super) fn host_candidate(&self, addr: SocketAddr, local_preference: u16) -> Candidate {
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

    pub(super) fn add_pair(&mut self, host: usize, remote: usize) -> Option<usize> {
        let h = &self.hosts[host];
        // W3C iceTransportPolicy "relay": relayed bases only.
        if self.config.relay_only && h.relay().is_none() {
            return None;
        }
        if !transports_pair(&h.candidate, &self.remotes[remote].candidate) {
            return None;
        }
        if self.remotes[remote]
            .via
            .is_some_and(|via| usize::from(via) != host)
        {
            return None;
        }
        // A relayed base whose allocation is gone carries nothing.
        if let Some(r) = h.relay()
            && (self.relays[r].client.is_closed() || self.relays[r].lost)
        {
            return None;
        }
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
        self.permit_pair(host, remote);
        Some(self.pairs.len() - 1)
    }

    pub(super) fn same_foundation(&self, h1: usize, r1: usize, h2: usize, r2: usize) -> bool {
        self.hosts[h1].candidate.foundation() == self.hosts[h2].candidate.foundation()
            && self.remotes[r1].candidate.foundation() == self.remotes[r2].candidate.foundation()
    }

    pub(super) fn recompute_priorities(&mut self) {
        for p in &mut self.pairs {
            p.priority = pair_priority(
                self.controlling,
                self.hosts[p.local].candidate.priority(),
                self.remotes[p.remote].candidate.priority(),
            );
        }
    }

    pub(super) fn set_role(&mut self, controlling: bool) {
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

    pub(super) fn start_gather(&mut self, host: usize, server: SocketAddr) {
        let source = self.hosts[host].addr;
        if source.is_ipv4() != server.is_ipv4() {
            return;
        }
        self.start_transaction(TxnKind::Gather { server }, source, server, Protocol::Udp);
    }

    pub(super) fn gathering_pending(&self) -> bool {
        self.relays_pending()
            || self
                .transactions
                .iter()
                .any(|t| matches!(t.kind, TxnKind::Gather { .. }))
    }

    pub(super) fn on_gathered(&mut self, base: SocketAddr, server: SocketAddr, mapped: SocketAddr) {
        let Some(host) = self
            .hosts
            .iter()
            .find(|h| h.addr == base && h.protocol() == Protocol::Udp)
        else {
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
}

/// RFC 6544 §6.2: UDP pairs with UDP; over TCP an active candidate pairs
/// with a passive one. A passive local candidate pairs with an active
/// remote only once the peer has connected (a peer-reflexive remote with
/// its real port): a signalled active candidate's port is 9, the discard
/// port, which nothing can be sent to.
fn transports_pair(local: &Candidate, remote: &Candidate) -> bool {
    match (local.transport(), remote.transport()) {
        (Transport::Udp, Transport::Udp) => true,
        (Transport::Tcp(TcpType::Active), Transport::Tcp(TcpType::Passive)) => true,
        (Transport::Tcp(TcpType::Passive), Transport::Tcp(TcpType::Active)) => {
            remote.kind() == CandidateType::PeerReflexive
        }
        _ => false,
    }
}

/// A TCP host candidate (RFC 6544 §4): a passive one at the listening
/// address, an active one at `IP:9` (§4.5: the port of an active candidate
/// is meaningless; 9 as browsers write it). Priority per RFC 6544 §4.2:
/// local preference `2^13 * direction + other` (direction 6 active, 4
/// passive), and a type preference below UDP host candidates (90, as
/// Chromium), so UDP is preferred when both work.
pub(super) fn tcp_candidate(addr: SocketAddr, tcp: TcpType, other: u16) -> Candidate {
    let local_preference = u32::from(tcp_local_preference(tcp, other));
    let priority = (TCP_HOST_TYPE_PREFERENCE << 24) + (local_preference << 8) + 255;
    let foundation = Foundation::compute(CandidateType::Host, addr.ip(), None, Transport::Tcp(tcp));
    Candidate::new(
        foundation,
        1,
        Transport::Tcp(tcp),
        priority,
        addr,
        CandidateType::Host,
    )
}

/// RFC 6544 §4.2: `2^13 * direction-pref + other-pref` (direction 6
/// active, 4 passive, 2 simultaneous open).
pub(super) fn tcp_local_preference(tcp: TcpType, other: u16) -> u16 {
    let direction: u16 = match tcp {
        TcpType::Active => 6,
        TcpType::Passive => 4,
        TcpType::SimultaneousOpen => 2,
    };
    (direction << 13) + (other & 0x1fff)
}

/// The type preference of TCP host candidates (RFC 6544 §4.2 leaves it to
/// the agent; below UDP's 126 as browsers do).
const TCP_HOST_TYPE_PREFERENCE: u32 = 90;
