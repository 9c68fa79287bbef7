//! Relayed candidates through TURN servers (RFC 8445 §5.1.1.2, RFC 8656).
//!
//! Each TURN server gets one allocation, made from the first local host of
//! its address family. Once allocated, the relayed address becomes a base
//! like a host (`Host::relay` says which allocation carries it): pairs,
//! checks and consent use it unchanged. At the edges of the agent:
//! - out: a datagram whose source is a relayed base goes to the allocation
//!   ([`ferrtc_turn::Client::send_to`]: ChannelData once a channel is bound,
//!   else a Send indication) and leaves from the host socket to the server;
//! - in: datagrams from the server (ChannelData, and STUN other than
//!   Binding) go to the allocation; what a peer sent comes back out as if
//!   it had arrived from the peer on the relayed address.
//!
//! A permission is asked for each remote candidate paired with a relayed
//! base (RFC 8656 §10), and asked for again at the next send to that peer
//! once it lapsed (once per lapse: a refusal is not asked again at every
//! send). A request that failed transiently (5xx, RFC 8489 §6.3.4, or no
//! answer) is asked again at a send after a back-off, a few times. A
//! channel is bound to the peer of a selected
//! relayed pair (RFC 8656 §12), so data pays 4 bytes of framing instead of
//! a Send indication's 36.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use ferrtc_stun::{Method, is_stun_message};
use ferrtc_turn::{Client, ClientConfig, Event as TurnEvent, Request, is_channel_data};

use crate::TurnTransport;

use super::*;

/// A TURN server from the configuration (W3C `RTCIceServer` with a
/// `turn:` URL), resolved to an address.
#[derive(Debug, Clone)]
pub(super) struct TurnServer {
    pub server: SocketAddr,
    pub transport: TurnTransport,
    pub username: String,
    pub password: String,
}

/// One allocation on a TURN server.
#[derive(Debug)]
pub(super) struct Relay {
    pub client: Client,
    /// The host socket that talks to the server.
    pub host_addr: SocketAddr,
    /// Index of the relayed base in `Agent::hosts`, once allocated.
    pub base: Option<usize>,
    /// Allocating (a gathering step: gathering completes once it is done).
    pub pending: bool,
    /// Its TCP connection to the server closed: the server deleted the
    /// allocation with it (RFC 8656 §3.1).
    pub lost: bool,
    /// Peers whose permission is to be asked for (again) at a send
    /// (RFC 8656 §9): one whose installed permission lapsed, one whose
    /// request failed transiently (after a back-off), and, while its
    /// request is outstanding, one asked for and not installed yet. A
    /// peer the server refused for good (403, RFC 8656 §10.2) is not
    /// here: asking at every send would only be refused at every send.
    pub ask_again: HashMap<IpAddr, AskAgain>,
}

/// A permission the agent asks for again (RFC 8656 §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct AskAgain {
    /// The next send to the peer from this instant on asks; `None` while
    /// a request is outstanding.
    pub(super) at: Option<Instant>,
    /// Transient failures in a row of the requests for it.
    pub(super) failures: u32,
}

impl AskAgain {
    /// An installed permission that lapsed at `now`: asked again at the
    /// next send.
    pub(super) fn lapsed(now: Instant) -> AskAgain {
        AskAgain {
            at: Some(now),
            failures: 0,
        }
    }
}

/// Transient failures of a permission's requests that are asked again
/// (RFC 8489 §6.3.4: a client resending after a 5xx must limit how many
/// times, and should to 4).
pub(super) const PERMISSION_RETRIES: u32 = 4;
/// The wait after a permission's first transient failure; it doubles at
/// each: 1, 2, 4, 8 s, 15 s in all, so that requests the server answers
/// with a 5xx are all asked again within the default 30 s consent timeout
/// (RFC 7675 §5.1). A request nothing answers takes 39.5 s alone to fail
/// (RFC 8489 §6.2.1), past that timeout: asking again after one helps only
/// under a longer consent timeout.
pub(super) const PERMISSION_RETRY_WAIT: Duration = Duration::from_secs(1);

/// Whether a failed CreatePermission may succeed if sent again: the
/// server had an error or is out of capacity (5xx, RFC 8489 §6.3.4; 508,
/// RFC 8656 §10.2), or nothing answered (RFC 8489 §6.2.1). Others (403 for
/// a peer it will not relay to, 400...) fail the same again.
fn is_transient(error: &ferrtc_turn::RequestError) -> bool {
    match error {
        ferrtc_turn::RequestError::Rejected { code, .. } => (500..600).contains(code),
        ferrtc_turn::RequestError::Timeout { .. } => true,
        _ => false,
    }
}

/// Most TURN servers an agent uses.
pub const MAX_TURN_SERVERS: usize = 8;

impl Agent {
    /// Adds a TURN server to gather a relayed candidate from (RFC 8445
    /// §5.1.1.2, RFC 8656 §7): one allocation, made from a local host that
    /// can reach it (now, or when such a host is added), over `transport`
    /// (UDP, or TCP: [`Protocol::TurnTcp`]; TLS is the caller's to run as
    /// TCP), with the long-term credentials `username` and `password` (W3C
    /// `RTCIceServer.username` and `.credential`).
    pub fn add_turn_server(
        &mut self,
        server: SocketAddr,
        transport: TurnTransport,
        username: &str,
        password: &str,
    ) -> Result<(), Error> {
        self.check_open()?;
        if self.config.lite {
            return Err(Error::NotInLiteMode("TURN servers"));
        }
        // One allocation per server and transport: `turn:h?transport=udp`
        // and `turn:h?transport=tcp` are two servers.
        if let Some(known) = self
            .turn_servers
            .iter_mut()
            .find(|t| t.server == server && t.transport == transport)
        {
            // New credentials (W3C setConfiguration) serve the next
            // allocation: after an ICE restart, or when this one failed.
            known.username = username.to_owned();
            known.password = password.to_owned();
            return Ok(());
        }
        if self.turn_servers.len() >= MAX_TURN_SERVERS {
            return Err(Error::TooManyCandidates {
                limit: MAX_TURN_SERVERS,
            });
        }
        self.turn_servers.push(TurnServer {
            server,
            transport,
            username: username.to_owned(),
            password: password.to_owned(),
        });
        let t = self.turn_servers.len() - 1;
        let host = self
            .hosts
            .iter()
            .find(|h| h.relay().is_none() && can_reach(h, server))
            .map(|h| h.addr);
        match host {
            Some(host_addr) => self.start_allocation(t, host_addr),
            // W3C: 701, the server cannot be reached (from any address yet;
            // a host added later that can starts the allocation).
            None if !self.hosts.is_empty() => self.push_event(Event::CandidateError {
                server,
                code: 701,
                text: "no local address can reach the TURN server".into(),
            }),
            None => {}
        }
        Ok(())
    }

    /// How the allocation behind the relayed candidate at `relayed` reaches
    /// its server (W3C `RTCIceCandidateStats.relayProtocol`), if that is one
    /// of ours.
    pub fn relay_transport(&self, relayed: SocketAddr) -> Option<TurnTransport> {
        let h = self.hosts.iter().find(|h| h.addr == relayed)?;
        Some(self.relays[h.relay()?].client.transport())
    }

    /// Starts the allocations that `host_addr` can make: TURN servers with
    /// none yet that it can reach.
    pub(super) fn allocate_from(&mut self, host_addr: SocketAddr) {
        let Some(host) = self
            .hosts
            .iter()
            .find(|h| h.addr == host_addr && h.relay().is_none() && h.protocol() == Protocol::Udp)
        else {
            return;
        };
        let reachable: Vec<usize> = (0..self.turn_servers.len())
            .filter(|&t| {
                let (server, transport) =
                    (self.turn_servers[t].server, self.turn_servers[t].transport);
                can_reach(host, server)
                    && !self
                        .relays
                        .iter()
                        .any(|r| r.client.server() == server && r.client.transport() == transport)
            })
            .collect();
        for t in reachable {
            self.start_allocation(t, host_addr);
        }
    }

    /// ICE restart: allocations that failed or ended are forgotten, with
    /// their relayed bases (the check list is empty now, so no pair points
    /// at them), and made again, with the credentials known now. Those
    /// kept forget the permissions they were to ask for again, but the
    /// selected pair's (consent goes on on it until the new generation
    /// selects, RFC 8445 §9): the pairs of the others are gone, and the
    /// new generation's ask for their own (RFC 8656 §10.1).
    pub(super) fn restart_relays(&mut self) {
        let dead: Vec<bool> = self
            .relays
            .iter()
            .map(|r| r.lost || r.client.is_closed() || (!r.pending && r.base.is_none()))
            .collect();
        if dead.iter().any(|d| *d) {
            let mut renumber = Vec::with_capacity(self.relays.len());
            let mut kept = 0;
            for d in &dead {
                renumber.push((!d).then(|| {
                    kept += 1;
                    kept - 1
                }));
            }
            self.hosts
                .retain(|h| h.relay().is_none_or(|r| renumber[r].is_some()));
            for h in &mut self.hosts {
                h.relay = h.relay().and_then(|r| renumber[r]);
            }
            let mut i = 0;
            self.relays.retain(|_| {
                i += 1;
                !dead[i - 1]
            });
            for (r, relay) in self.relays.iter_mut().enumerate() {
                relay.base = self.hosts.iter().position(|h| h.relay() == Some(r));
            }
        }
        let in_use = self
            .selected
            .as_ref()
            .filter(|s| s.protocol == Protocol::Udp)
            .map(|s| (s.pair.source, s.pair.destination.ip()));
        for relay in &mut self.relays {
            let base = relay.base.map(|b| self.hosts[b].addr);
            relay
                .ask_again
                .retain(|peer, _| base.is_some() && in_use == base.map(|b| (b, *peer)));
        }
        let hosts: Vec<SocketAddr> = self
            .hosts
            .iter()
            .filter(|h| h.relay().is_none())
            .map(|h| h.addr)
            .collect();
        for host in hosts {
            self.allocate_from(host);
        }
    }

    fn start_allocation(&mut self, t: usize, host_addr: SocketAddr) {
        let ts = &self.turn_servers[t];
        let mut config = ClientConfig::new(ts.server, &ts.username, &ts.password);
        config.software = None;
        config.transport = ts.transport;
        let rng = StdRng::from_rng(&mut self.rng);
        let client = Client::with_rng(config, self.now, rng);
        self.relays.push(Relay {
            client,
            host_addr,
            base: None,
            pending: true,
            lost: false,
            ask_again: HashMap::new(),
        });
        self.set_gathering(GatheringState::Gathering);
    }

    /// Whether an allocation is still being made.
    pub(super) fn relays_pending(&self) -> bool {
        self.relays.iter().any(|r| r.pending)
    }

    /// The allocation a datagram from `source` to the host socket
    /// `destination` belongs to, if it is TURN traffic: ChannelData, or STUN
    /// other than Binding (Binding responses from the server answer our
    /// server-reflexive gathering).
    pub(super) fn relay_of_datagram(
        &self,
        proto: Protocol,
        source: SocketAddr,
        destination: SocketAddr,
        data: &[u8],
    ) -> Option<usize> {
        let r = self.relays.iter().position(|r| {
            r.client.server() == source
                && r.host_addr == destination
                && relay_protocol(&r.client) == proto
        })?;
        // On a TURN stream everything is the server's.
        let turn = proto == Protocol::TurnTcp
            || is_channel_data(data)
            || (is_stun_message(data)
                && ferrtc_stun::Message::parse(data).is_ok_and(|m| m.method() != Method::BINDING));
        turn.then_some(r)
    }

    /// A datagram from the server of allocation `r`: TURN's own messages
    /// are consumed; what a peer sent through the relay is handled as if it
    /// had arrived from the peer on the relayed address.
    pub(super) fn receive_relayed<'a>(
        &mut self,
        now: Instant,
        r: usize,
        source: SocketAddr,
        data: &[u8],
    ) -> Receive<'a> {
        self.relays[r].client.handle_receive(now, source, data);
        let Some((peer, inner)) = self.relay_events(now, r) else {
            self.update_states(now);
            return Receive::Stun;
        };
        let Some(relayed) = self.relays[r].base.map(|b| self.hosts[b].addr) else {
            return Receive::Dropped(DropReason::UnknownDestination);
        };
        if is_stun_message(&inner) {
            let result = self.receive_stun(now, Protocol::Udp, peer, relayed, &inner);
            if let Receive::Dropped(_) = result {
                self.stats.dropped_stun += 1;
            }
            self.update_states(now);
            return result;
        }
        if self.is_validated(Protocol::Udp, peer, relayed) {
            self.stats.bytes_received += inner.len() as u64;
            let generation = self.traffic_generation(Protocol::Udp, relayed, peer);
            let pair = self.traffic_of(generation, Protocol::Udp, relayed, peer);
            pair.packets_received += 1;
            pair.bytes_received += inner.len() as u64;
            Receive::Relayed(inner)
        } else {
            self.stats.dropped_unvalidated += 1;
            Receive::Dropped(DropReason::Unvalidated)
        }
    }

    /// Drains the events of allocation `r`; returns the peer data among
    /// them (one datagram brings at most one).
    pub(super) fn relay_events(&mut self, now: Instant, r: usize) -> Option<(SocketAddr, Vec<u8>)> {
        let mut data = None;
        while let Some(event) = self.relays[r].client.poll_event() {
            match event {
                TurnEvent::Allocated {
                    relayed, mapped, ..
                } => self.on_allocated(now, r, relayed, mapped),
                TurnEvent::Data { peer, data: d } => data = Some((peer, d)),
                // RFC 8656 §9: the server forgot it; asked again when the
                // agent next sends to the peer.
                TurnEvent::PermissionExpired { peer } => {
                    self.relays[r].ask_again.insert(peer, AskAgain::lapsed(now));
                }
                TurnEvent::PermissionCreated { peer } => {
                    self.relays[r].ask_again.remove(&peer);
                }
                TurnEvent::ChannelBound { peer, .. } => {
                    self.relays[r].ask_again.remove(&peer.ip());
                }
                TurnEvent::Failed { request, error } => {
                    self.stats.relay_request_failures += 1;
                    if let Request::CreatePermission(peer) = request {
                        self.permission_failed(now, r, peer, &error);
                    }
                    if request == Request::Allocate {
                        self.relays[r].pending = false;
                        // W3C `icecandidateerror`: the server gave no candidate.
                        let (code, text) = match &error {
                            ferrtc_turn::RequestError::Rejected { code, reason } => {
                                (*code, reason.clone())
                            }
                            // W3C: 701 when the server cannot be reached.
                            other => (701, other.to_string()),
                        };
                        let server = self.relays[r].client.server();
                        self.push_event(Event::CandidateError { server, code, text });
                    }
                }
                TurnEvent::Closed => {
                    self.relays[r].pending = false;
                    // Pairs through a relay that is gone fail now rather
                    // than at the consent timeout.
                    self.relay_gone(r);
                }
                _ => {}
            }
        }
        data
    }

    /// A CreatePermission for `peer` on allocation `r` failed for good in
    /// the client: a transient failure is asked again at a send after a
    /// back-off, up to [`PERMISSION_RETRIES`] in a row; any other, or one
    /// too many, is not (RFC 8489 §6.3.4).
    fn permission_failed(
        &mut self,
        now: Instant,
        r: usize,
        peer: IpAddr,
        error: &ferrtc_turn::RequestError,
    ) {
        let asked = &mut self.relays[r].ask_again;
        let Some(again) = asked.get_mut(&peer).filter(|a| a.at.is_none()) else {
            return;
        };
        if is_transient(error) && again.failures < PERMISSION_RETRIES {
            again.at = Some(now + PERMISSION_RETRY_WAIT * 2u32.pow(again.failures));
            again.failures += 1;
        } else {
            asked.remove(&peer);
        }
    }

    /// The allocation exists: its relayed address becomes a local
    /// candidate and a base (RFC 8445 §5.1.1.2: related address is the
    /// mapped address the server saw).
    fn on_allocated(&mut self, _now: Instant, r: usize, relayed: SocketAddr, mapped: SocketAddr) {
        self.relays[r].pending = false;
        if self.relays[r].base.is_some() || self.hosts.iter().any(|h| h.addr == relayed) {
            return;
        }
        // RFC 8445 §5.1.2.1: distinct local preferences among relayed
        // candidates (the first free one: a restart may have dropped some).
        let local_preference = (0..=u16::MAX)
            .rev()
            .find(|p| {
                !self
                    .hosts
                    .iter()
                    .any(|h| h.relay().is_some() && h.local_preference == *p)
            })
            .unwrap_or(0);
        let server = self.relays[r].client.server();
        // RFC 8445 §5.1.1.2: the Allocate's XOR-MAPPED-ADDRESS is a
        // server-reflexive candidate too (not under the relay policy).
        if !self.config.relay_only {
            let host = self.relays[r].host_addr;
            self.on_gathered(host, server, mapped);
        }
        // At most MAX_TURN_SERVERS allocations: the index fits a byte.
        let Ok(slot) = u8::try_from(r) else {
            return;
        };
        let candidate = self.relay_candidate(relayed, mapped, server, local_preference);
        self.hosts.push(Host {
            candidate: candidate.clone(),
            addr: relayed,
            local_preference,
            relay: Some(slot),
        });
        let base = self.hosts.len() - 1;
        self.relays[r].base = Some(base);
        self.push_event(Event::LocalCandidate(candidate));
        for remote in 0..self.remotes.len() {
            self.add_pair(base, remote);
        }
    }

    /// A pair with relayed base `base` was formed: ask the server for a
    /// permission for its remote (RFC 8656 §10.1; known peers cost nothing),
    /// unless the peer's last request failed transiently and its back-off
    /// is not over (its failures in a row are kept either way).
    pub(super) fn permit_pair(&mut self, base: usize, remote: usize) {
        let Some(r) = self.hosts[base].relay() else {
            return;
        };
        let peer = self.remotes[remote].addr.ip();
        let now = self.now;
        let relay = &mut self.relays[r];
        // Followed until installed: a transient failure is asked again.
        if relay.client.has_permission(peer) {
            relay.ask_again.remove(&peer);
        } else {
            // One entry per peer (a permission is per IP address, RFC 8656
            // §9), not per pair: a peer already followed keeps its failures
            // in a row and waits out its back-off (RFC 8489 §6.3.4).
            let again = relay.ask_again.entry(peer).or_insert(AskAgain {
                at: None,
                failures: 0,
            });
            match again.at {
                Some(at) if at > now => return,
                _ => again.at = None,
            }
        }
        // Refused only when the allocation is gone: its pairs fail then.
        if relay.client.create_permission(peer, now).is_err() {
            self.stats.relay_send_failures += 1;
        }
    }

    /// The selected pair runs through allocation `r`: bind a channel to its
    /// peer so data goes as ChannelData (RFC 8656 §12).
    pub(super) fn bind_selected(&mut self, base: usize, peer: SocketAddr) {
        let Some(r) = self.hosts[base].relay() else {
            return;
        };
        let now = self.now;
        let _ = self.relays[r].client.bind_channel(peer, now);
    }

    /// Routes a datagram in `buf` for `t`: unchanged from a host base;
    /// through the allocation from a relayed one (the buffer then holds
    /// what goes to the server, maybe a TURN message queued before it).
    pub(super) fn route(&mut self, t: Transmit, buf: &mut Vec<u8>) -> Option<Transmit> {
        if self.relays.is_empty() || t.protocol != Protocol::Udp {
            return Some(t);
        }
        let Some(r) = self
            .hosts
            .iter()
            .find(|h| h.addr == t.source && h.protocol() == Protocol::Udp)
            .and_then(|h| h.relay())
        else {
            return Some(t);
        };
        let now = self.now;
        let relay = &mut self.relays[r];
        if relay.lost {
            self.stats.relay_send_failures += 1;
            return None;
        }
        if let Err(e) = relay.client.send_to(t.destination, buf) {
            // RFC 8656 §9: the permission for the peer lapsed (its
            // refreshes failed, or it went unused for 300 s). The pair is
            // in use, so it is asked for again, once per lapse: this
            // datagram is lost, the next check, consent request or data
            // goes through once the server installed it. A request that
            // failed transiently is asked again so once its back-off
            // passed. One that was refused (RFC 8656 §10.2: 403 for a
            // peer the server will not relay to) is not asked for at
            // every send.
            if let ferrtc_turn::Error::NoPermission { peer } = e
                && let Some(again) = relay.ask_again.get_mut(&peer)
                && again.at.is_some_and(|at| at <= now)
            {
                again.at = None;
                let _ = relay.client.create_permission(peer, now);
            }
            self.stats.relay_send_failures += 1;
            return None;
        }
        let out = relay.client.poll_transmit(now, buf)?;
        Some(Transmit {
            source: relay.host_addr,
            destination: out.destination,
            protocol: relay_protocol(&relay.client),
        })
    }

    /// The next datagram of any allocation (requests, refreshes,
    /// permissions, channel binds, and data queued behind them).
    pub(super) fn poll_relays(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        // A lost allocation sends nothing (its connection would reopen for
        // a server that has forgotten it).
        for relay in self.relays.iter_mut().filter(|r| !r.lost) {
            if let Some(out) = relay.client.poll_transmit(now, buf) {
                return Some(Transmit {
                    source: relay.host_addr,
                    destination: out.destination,
                    protocol: relay_protocol(&relay.client),
                });
            }
        }
        None
    }

    /// The TCP connection from host `local` to TURN server `server` closed:
    /// the server deleted that allocation with it (RFC 8656 §3.1). Its
    /// pairs fail now (not at the next refresh's 437); an ICE restart
    /// allocates again. Returns whether it was one of ours.
    pub(super) fn turn_connection_closed(&mut self, local: SocketAddr, server: SocketAddr) -> bool {
        let Some(r) = self.relays.iter().position(|r| {
            r.host_addr == local
                && r.client.server() == server
                && relay_protocol(&r.client) == Protocol::TurnTcp
                && !r.lost
        }) else {
            return false;
        };
        self.relays[r].lost = true;
        self.relays[r].pending = false;
        self.relay_gone(r);
        true
    }

    /// Allocation `r` is gone (its TCP connection closed, or it ended:
    /// expired, deallocated, or unknown to the server, RFC 8656 §8): its
    /// pairs fail now, and the selected pair, if it ran through it, is
    /// given up as a closed connection (another valid pair takes over).
    fn relay_gone(&mut self, r: usize) {
        let Some(b) = self.relays[r].base else {
            return;
        };
        let gone: Vec<usize> = (0..self.pairs.len())
            .filter(|&i| self.pairs[i].local == b)
            .collect();
        let now = self.now;
        self.fail_gone_pairs(now, &gone);
        let relayed = self.hosts[b].addr;
        if self
            .selected
            .as_ref()
            .is_some_and(|s| s.pair.source == relayed && s.protocol == Protocol::Udp)
        {
            self.lose_selected(FailureReason::ConnectionClosed);
        }
    }

    /// Timers of the allocations.
    pub(super) fn relays_timeout(&self) -> Option<Instant> {
        self.relays
            .iter()
            .filter_map(|r| r.client.poll_timeout())
            .min()
    }

    pub(super) fn relays_handle_timeout(&mut self, now: Instant) {
        for r in 0..self.relays.len() {
            if self.relays[r]
                .client
                .poll_timeout()
                .is_some_and(|t| t <= now)
            {
                self.relays[r].client.handle_timeout(now);
            }
            // Data cannot arrive on a timeout; other events are handled.
            let _ = self.relay_events(now, r);
        }
    }

    /// Deallocates every allocation (RFC 8656 §8.1: Refresh with LIFETIME 0).
    pub(super) fn close_relays(&mut self, now: Instant) {
        for relay in &mut self.relays {
            relay.client.close(now);
        }
    }

    /// The relayed candidate of base `h`, again (ICE restart: same
    /// allocation, new generation).
    pub(super) fn relay_candidate_again(&self, h: usize) -> Option<Candidate> {
        let host = &self.hosts[h];
        let r = host.relay()?;
        let mapped = host
            .candidate
            .related_address()
            .and_then(|(a, port)| a.ip().map(|ip| SocketAddr::new(ip, port)))
            .unwrap_or(host.addr);
        Some(self.relay_candidate(
            host.addr,
            mapped,
            self.relays[r].client.server(),
            host.local_preference,
        ))
    }

    /// A relayed candidate (RFC 8445 §5.1.1.2, §5.1.1.3: its foundation
    /// depends on the type, the base and the server). Under the relay
    /// policy its related address is `0.0.0.0:0` (or `[::]:0`): the point
    /// of that policy is not to reveal the local or public address.
    fn relay_candidate(
        &self,
        relayed: SocketAddr,
        mapped: SocketAddr,
        server: SocketAddr,
        local_preference: u16,
    ) -> Candidate {
        let related = if self.config.relay_only {
            let unspecified = if mapped.is_ipv4() {
                std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
            } else {
                std::net::IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
            };
            SocketAddr::new(unspecified, 0)
        } else {
            mapped
        };
        relay_candidate(relayed, related, server, local_preference)
    }
}

/// Whether an allocation on `server` can be made from host base `host`: a
/// UDP host of the server's family, loopback only for a loopback server and
/// IPv6 link-local only for a link-local one (a datagram from 127.0.0.1 to
/// a routed address is refused by the kernel).
fn can_reach(host: &Host, server: SocketAddr) -> bool {
    let (h, s) = (host.addr.ip(), server.ip());
    let link_local = |ip: std::net::IpAddr| match ip {
        std::net::IpAddr::V6(v6) => v6.is_unicast_link_local(),
        std::net::IpAddr::V4(v4) => v4.is_link_local(),
    };
    host.relay().is_none()
        && host.protocol() == Protocol::Udp
        && h.is_ipv4() == s.is_ipv4()
        && h.is_loopback() == s.is_loopback()
        && (!link_local(h) || link_local(s))
}

/// How an allocation's datagrams travel to its server.
fn relay_protocol(client: &Client) -> Protocol {
    match client.transport() {
        TurnTransport::Udp => Protocol::Udp,
        TurnTransport::Tcp | TurnTransport::Tls => Protocol::TurnTcp,
    }
}

/// A relayed candidate (RFC 8445 §5.1.1.2, §5.1.1.3).
fn relay_candidate(
    relayed: SocketAddr,
    mapped: SocketAddr,
    server: SocketAddr,
    local_preference: u16,
) -> Candidate {
    let foundation = Foundation::compute(
        CandidateType::Relayed,
        relayed.ip(),
        Some(server.ip()),
        Transport::Udp,
    );
    let priority = Candidate::compute_priority(CandidateType::Relayed, local_preference, 1);
    Candidate::new(
        foundation,
        1,
        Transport::Udp,
        priority,
        relayed,
        CandidateType::Relayed,
    )
    .with_related_address(mapped)
}
