//! Resolution of remote host candidates whose address is an mDNS name
//! (`<uuid>.local`, as Chromium and Safari signal them), with one-shot
//! queries (RFC 6762 §5.1) from an ephemeral port.
//!
//! From a port other than 5353 the query is a "legacy" one, which
//! responders answer by unicast to that port (RFC 6762 §6.7); the QU bit
//! asks for the same (§5.4). Each name gets one query and an answer window
//! of [`LOOKUP_TIMEOUT`]; a name that does not resolve is dropped with a
//! debug log, and the peer's checks still reach us through peer-reflexive
//! discovery (RFC 8445 §7.3.1.3).

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket as StdUdpSocket};
use std::time::{Duration, Instant};

use ferrtc_core::IceCandidateInit;
use tokio::net::UdpSocket;

use super::wire::{self, LocalName};

/// The IPv4 mDNS group and port (RFC 6762 §3).
pub(crate) const MDNS_GROUP: SocketAddr =
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(224, 0, 0, 251)), 5353);

/// How long a lookup waits for an answer.
pub(crate) const LOOKUP_TIMEOUT: Duration = Duration::from_secs(1);

/// Names being looked up at once, per connection.
const MAX_LOOKUPS: usize = 16;

/// Candidates waiting on one name (one per port and transport, usually 1).
const MAX_WAITING: usize = 8;

/// Names remembered once resolved, for candidates that come later.
const MAX_RESOLVED: usize = 32;

/// Largest mDNS message read (RFC 6762 §17: 9000 bytes max; a response
/// with a handful of address records is far smaller).
const RECV_BUF: usize = 1500;

/// One name being resolved and the candidates that carry it.
#[derive(Debug)]
struct Lookup {
    name: LocalName,
    waiting: Vec<IceCandidateInit>,
    deadline: Instant,
}

/// Resolves `.local` candidate addresses of one connection.
#[derive(Debug)]
pub(crate) struct Resolver {
    /// Where queries go: the mDNS group, or a unicast responder in tests.
    target: SocketAddr,
    /// Bound on the first lookup: the same socket twice, the std one to
    /// send (tokio's `try_send_to` refuses until a readiness event came).
    socket: Option<(StdUdpSocket, UdpSocket)>,
    lookups: Vec<Lookup>,
    /// Each name with the one address taken for it.
    resolved: VecDeque<(LocalName, IpAddr)>,
    send_buf: Vec<u8>,
    recv_buf: Vec<u8>,
    addrs: Vec<IpAddr>,
}

impl Resolver {
    /// A resolver that sends its queries to `target`.
    pub(crate) fn new(target: SocketAddr) -> Resolver {
        Resolver {
            target,
            socket: None,
            lookups: Vec::new(),
            resolved: VecDeque::new(),
            send_buf: Vec::new(),
            // Sized when the socket is made: most connections never
            // resolve a name.
            recv_buf: Vec::new(),
            addrs: Vec::new(),
        }
    }

    /// Starts resolving `candidate` if its address is a `.local` name.
    /// Candidates whose name is already resolved are rewritten into
    /// `ready` at once; others are, later, by [`Self::handle_response`].
    pub(crate) fn resolve(
        &mut self,
        now: Instant,
        candidate: &IceCandidateInit,
        ready: &mut Vec<IceCandidateInit>,
    ) {
        let Some(address) = address_field(&candidate.candidate) else {
            return;
        };
        if !address
            .get(address.len().saturating_sub(6)..)
            .is_some_and(|t| t.eq_ignore_ascii_case(".local"))
        {
            return;
        }
        let name = match LocalName::parse(address) {
            Ok(name) => name,
            Err(e) => {
                tracing::debug!("mDNS candidate not resolved: {e}");
                return;
            }
        };
        if let Some((_, ip)) = self.resolved.iter().find(|(n, _)| *n == name) {
            ready.extend(with_address(candidate, *ip));
            return;
        }
        if let Some(lookup) = self.lookups.iter_mut().find(|l| l.name == name) {
            if lookup.waiting.len() < MAX_WAITING {
                lookup.waiting.push(candidate.clone());
            }
            return;
        }
        if self.lookups.len() >= MAX_LOOKUPS {
            tracing::debug!("mDNS: {MAX_LOOKUPS} lookups pending, {name:?} not resolved");
            return;
        }
        if let Err(e) = self.send_query(&name) {
            tracing::debug!("mDNS query for {} not sent: {e}", name.as_str());
            return;
        }
        self.lookups.push(Lookup {
            name,
            waiting: vec![candidate.clone()],
            deadline: now + LOOKUP_TIMEOUT,
        });
    }

    fn send_query(&mut self, name: &LocalName) -> io::Result<()> {
        if self.socket.is_none() {
            self.socket = Some(bind_for(self.target)?);
            self.recv_buf.resize(RECV_BUF, 0);
        }
        wire::write_query(name, &mut self.send_buf);
        match &self.socket {
            Some((socket, _)) => socket.send_to(&self.send_buf, self.target).map(|_| ()),
            None => Err(io::Error::other("no socket")),
        }
    }

    /// Whether any lookup is waiting for an answer.
    pub(crate) fn busy(&self) -> bool {
        !self.lookups.is_empty()
    }

    /// When the oldest lookup gives up.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.lookups.iter().map(|l| l.deadline).min()
    }

    /// Drops the lookups whose time is up.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        self.lookups.retain(|l| {
            let alive = l.deadline > now;
            if !alive {
                tracing::debug!("mDNS: no answer for {}", l.name.as_str());
            }
            alive
        });
    }

    /// Waits for a datagram on the query socket; never returns while there
    /// is none. Returns the sender and the length, read into an internal
    /// buffer that [`Self::handle_response`] reads.
    pub(crate) async fn recv(&mut self) -> io::Result<(SocketAddr, usize)> {
        match &self.socket {
            Some((_, socket)) => socket
                .recv_from(&mut self.recv_buf)
                .await
                .map(|(len, from)| (from, len)),
            None => std::future::pending().await,
        }
    }

    /// Reads the datagram [`Self::recv`] returned: each pending name it
    /// answers is resolved, and its candidates are rewritten into `ready`
    /// with one of its addresses (the first IPv6 one, else the first IPv4).
    pub(crate) fn handle_response(
        &mut self,
        from: SocketAddr,
        len: usize,
        ready: &mut Vec<IceCandidateInit>,
    ) {
        // Answers come from a responder's port 5353 (RFC 6762 §6.7), or
        // from the configured unicast responder.
        if from.port() != MDNS_GROUP.port() && from != self.target {
            return;
        }
        let msg = self.recv_buf.get(..len).unwrap_or_default();
        let mut i = 0;
        while i < self.lookups.len() {
            self.addrs.clear();
            let Some(lookup) = self.lookups.get(i) else {
                break;
            };
            if let Err(e) = wire::read_response(msg, &lookup.name, &mut self.addrs) {
                tracing::debug!("mDNS response from {from} refused: {e}");
                return;
            }
            let Some(ip) = one_address(&self.addrs) else {
                i += 1;
                continue;
            };
            let lookup = self.lookups.swap_remove(i);
            tracing::debug!(
                "mDNS: {} is {:?}, {ip} taken",
                lookup.name.as_str(),
                self.addrs
            );
            ready.extend(lookup.waiting.iter().filter_map(|c| with_address(c, ip)));
            if self.resolved.len() >= MAX_RESOLVED {
                self.resolved.pop_front();
            }
            self.resolved.push_back((lookup.name, ip));
        }
    }
}

/// The one address a name stands for among those it resolved to:
/// draft-ietf-mmusic-mdns-ice-candidates §3.2.1, the agent "MUST take
/// exactly one of the resolved IP addresses and ignore the others", the
/// first IPv6 one if there is one, else the first IPv4 one.
fn one_address(addrs: &[IpAddr]) -> Option<IpAddr> {
    addrs
        .iter()
        .find(|ip| ip.is_ipv6())
        .or_else(|| addrs.first())
        .copied()
}

/// A socket of the target's family on an ephemeral port; for the mDNS
/// group, with IP TTL 255 (RFC 6762 §11).
fn bind_for(target: SocketAddr) -> io::Result<(StdUdpSocket, UdpSocket)> {
    let bind: SocketAddr = match target {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = StdUdpSocket::bind(bind)?;
    socket.set_nonblocking(true)?;
    if target.ip().is_multicast() && target.is_ipv4() {
        socket.set_multicast_ttl_v4(255)?;
    }
    Ok((socket.try_clone()?, UdpSocket::from_std(socket)?))
}

/// The `connection-address` field of a `candidate:` attribute (RFC 8839
/// §5.1): the fifth field.
fn address_field(candidate: &str) -> Option<&str> {
    let c = candidate.strip_prefix("a=").unwrap_or(candidate);
    if !c.starts_with("candidate:") {
        return None;
    }
    c.split_ascii_whitespace().nth(4)
}

/// The same candidate (foundation, priority, port, type, extensions) with
/// `ip` as its address.
fn with_address(candidate: &IceCandidateInit, ip: IpAddr) -> Option<IceCandidateInit> {
    address_field(&candidate.candidate)?;
    let text: Vec<String> = candidate
        .candidate
        .split_ascii_whitespace()
        .enumerate()
        .map(|(i, field)| {
            if i == 4 {
                ip.to_string()
            } else {
                field.to_owned()
            }
        })
        .collect();
    Some(IceCandidateInit {
        candidate: text.join(" "),
        ..candidate.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn init(candidate: &str) -> IceCandidateInit {
        IceCandidateInit {
            candidate: candidate.to_owned(),
            sdp_mid: Some("0".into()),
            sdp_m_line_index: Some(0),
            ..IceCandidateInit::default()
        }
    }

    #[test]
    fn the_address_is_the_fifth_field_of_the_attribute() {
        let c = "candidate:842163049 1 udp 2122260223 abc.local 50000 typ host generation 0";
        assert_eq!(address_field(c), Some("abc.local"));
        assert_eq!(address_field(&format!("a={c}")), Some("abc.local"));
        assert_eq!(address_field("not a candidate"), None);
    }

    #[test]
    fn a_resolved_candidate_keeps_every_field_but_the_address() {
        let c = init("candidate:842163049 1 udp 2122260223 abc.local 50000 typ host ufrag x");
        let r = with_address(&c, "10.1.2.3".parse().unwrap()).unwrap();
        assert_eq!(
            r.candidate,
            "candidate:842163049 1 udp 2122260223 10.1.2.3 50000 typ host ufrag x"
        );
        assert_eq!(r.sdp_mid, c.sdp_mid);
        assert_eq!(r.sdp_m_line_index, c.sdp_m_line_index);
    }

    /// A unicast answer (RFC 6762 §6.7) giving `ip` for `name`.
    fn answer(name: &str, ip: [u8; 4]) -> Vec<u8> {
        let mut m = vec![0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0];
        for label in name.split('.') {
            m.push(label.len() as u8);
            m.extend_from_slice(label.as_bytes());
        }
        m.extend_from_slice(&[0, 0, 1, 0, 1, 0, 0, 0, 10, 0, 4]);
        m.extend_from_slice(&ip);
        m
    }

    fn deliver(r: &mut Resolver, from: SocketAddr, msg: &[u8], ready: &mut Vec<IceCandidateInit>) {
        r.recv_buf.clear();
        r.recv_buf.extend_from_slice(msg);
        r.handle_response(from, msg.len(), ready);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_answer_rewrites_every_candidate_waiting_on_the_name() {
        let responder = StdUdpSocket::bind("127.0.0.1:0").unwrap();
        let target = responder.local_addr().unwrap();
        let mut r = Resolver::new(target);
        let mut ready = Vec::new();
        let now = Instant::now();
        let c1 = init("candidate:1 1 udp 9 abc.local 1000 typ host");
        let c2 = init("candidate:2 1 udp 8 ABC.local 2000 typ host");
        r.resolve(now, &c1, &mut ready);
        r.resolve(now, &c2, &mut ready);
        // One query for the name, sent to the configured responder.
        let mut q = [0u8; 512];
        let (len, _) = responder.recv_from(&mut q).unwrap();
        assert_eq!(&q[4..6], &[0, 2], "A and AAAA questions");
        assert!(r.busy());
        assert_eq!(r.poll_timeout(), Some(now + LOOKUP_TIMEOUT));
        assert!(len > 12);

        // An answer from a stranger's ephemeral port is not believed.
        let stranger: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        deliver(
            &mut r,
            stranger,
            &answer("abc.local", [10, 0, 0, 7]),
            &mut ready,
        );
        assert!(ready.is_empty());

        deliver(
            &mut r,
            target,
            &answer("abc.local", [10, 0, 0, 7]),
            &mut ready,
        );
        let got: Vec<&str> = ready.iter().map(|c| c.candidate.as_str()).collect();
        assert_eq!(
            got,
            [
                "candidate:1 1 udp 9 10.0.0.7 1000 typ host",
                "candidate:2 1 udp 8 10.0.0.7 2000 typ host"
            ]
        );
        assert!(!r.busy());

        // Later candidates with the name are rewritten at once.
        ready.clear();
        r.resolve(
            now,
            &init("candidate:3 1 udp 7 abc.local 3000 typ host"),
            &mut ready,
        );
        assert_eq!(ready.len(), 1);
        assert!(!r.busy());
    }

    /// draft-ietf-mmusic-mdns-ice-candidates §3.2.1 (ICE Candidate
    /// Processing): when a name resolves to more than one address the agent
    /// "MUST take exactly one of the resolved IP addresses and ignore the
    /// others", and SHOULD take the first IPv6 one if there is one, else
    /// the first IPv4 one. A candidate that comes later with the name gets
    /// the same one address.
    #[tokio::test(flavor = "current_thread")]
    async fn a_name_with_several_addresses_gives_one_candidate_the_first_ipv6() {
        let responder = StdUdpSocket::bind("127.0.0.1:0").unwrap();
        let target = responder.local_addr().unwrap();
        let mut r = Resolver::new(target);
        let mut ready = Vec::new();
        let now = Instant::now();
        r.resolve(
            now,
            &init("candidate:1 1 udp 9 abc.local 1000 typ host"),
            &mut ready,
        );
        // Two A records, then two AAAA records, in one answer.
        let mut msg = answer("abc.local", [10, 0, 0, 7]);
        msg[7] = 4;
        let record = msg[12..].to_vec();
        let mut second = record.clone();
        let ip_at = second.len() - 4;
        second[ip_at..].copy_from_slice(&[10, 0, 0, 8]);
        msg.extend_from_slice(&second);
        for v6 in ["fd00::7", "fd00::8"] {
            let mut aaaa = record[..record.len() - 4 - 10].to_vec();
            aaaa.extend_from_slice(&[0, 28, 0, 1, 0, 0, 0, 10, 0, 16]);
            aaaa.extend_from_slice(&v6.parse::<std::net::Ipv6Addr>().unwrap().octets());
            msg.extend_from_slice(&aaaa);
        }
        deliver(&mut r, target, &msg, &mut ready);
        let got: Vec<&str> = ready.iter().map(|c| c.candidate.as_str()).collect();
        assert_eq!(got, ["candidate:1 1 udp 9 fd00::7 1000 typ host"]);

        // An IPv4-only answer gives its first address.
        ready.clear();
        r.resolve(
            now,
            &init("candidate:2 1 udp 9 def.local 2000 typ host"),
            &mut ready,
        );
        let mut v4 = answer("def.local", [10, 0, 0, 9]);
        v4[7] = 2;
        let mut other = v4[12..].to_vec();
        let ip_at = other.len() - 4;
        other[ip_at..].copy_from_slice(&[10, 0, 0, 10]);
        v4.extend_from_slice(&other);
        deliver(&mut r, target, &v4, &mut ready);
        let got: Vec<&str> = ready.iter().map(|c| c.candidate.as_str()).collect();
        assert_eq!(got, ["candidate:2 1 udp 9 10.0.0.9 2000 typ host"]);

        // Later candidates with a resolved name: the same one address.
        ready.clear();
        r.resolve(
            now,
            &init("candidate:3 1 udp 9 abc.local 3000 typ host"),
            &mut ready,
        );
        let got: Vec<&str> = ready.iter().map(|c| c.candidate.as_str()).collect();
        assert_eq!(got, ["candidate:3 1 udp 9 fd00::7 3000 typ host"]);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn unanswered_lookups_end_at_their_deadline_and_are_bounded() {
        let responder = StdUdpSocket::bind("127.0.0.1:0").unwrap();
        let mut r = Resolver::new(responder.local_addr().unwrap());
        let mut ready = Vec::new();
        let now = Instant::now();
        for i in 0..MAX_LOOKUPS + 4 {
            let c = init(&format!("candidate:1 1 udp 9 n{i}.local 1000 typ host"));
            r.resolve(now, &c, &mut ready);
        }
        assert_eq!(r.lookups.len(), MAX_LOOKUPS);
        r.handle_timeout(now + LOOKUP_TIMEOUT - Duration::from_millis(1));
        assert!(r.busy());
        r.handle_timeout(now + LOOKUP_TIMEOUT);
        assert!(!r.busy());
        assert!(ready.is_empty());
    }

    #[test]
    fn ip_candidates_and_other_names_start_no_lookup() {
        let mut r = Resolver::new(MDNS_GROUP);
        let mut ready = Vec::new();
        let now = Instant::now();
        r.resolve(
            now,
            &init("candidate:1 1 udp 1 192.0.2.1 9 typ host"),
            &mut ready,
        );
        r.resolve(
            now,
            &init("candidate:1 1 udp 1 host.example.com 9 typ host"),
            &mut ready,
        );
        assert!(ready.is_empty());
        assert_eq!(r.poll_timeout(), None);
        assert!(r.socket.is_none());
    }
}
