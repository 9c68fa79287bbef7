//! ICE candidates and their SDP form (RFC 8839 §5.1, RFC 8445 §5.1).
//!
//! [`Candidate`] parses and writes the value of the SDP `candidate` attribute
//! exactly as browsers write it, including the extensions Chromium and Firefox
//! add (`generation`, `ufrag`, `network-id`, `network-cost`) and mDNS host
//! names (`<uuid>.local`) in place of addresses.
//!
//! Parsing accepts the value with or without the leading `candidate:` (the
//! SDP line is `a=candidate:...`, the W3C `RTCIceCandidateInit.candidate`
//! string is `candidate:...`, and some signaling strips it). [`Display`]
//! always writes the `candidate:`-prefixed form, the one browsers put in
//! `RTCIceCandidate.candidate`; prefix it with `a=` for the SDP line.
//! [`Candidate::value`] writes the form without the prefix.
//!
//! Known extensions are written back in the order browsers use (`raddr`,
//! `rport`, `tcptype`, `generation`, `ufrag`, `network-id`, `network-cost`),
//! followed by unknown extensions in the order they were received.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// Longest candidate value accepted (after any `candidate:`), in bytes. Real lines are under 200 bytes;
/// the bound keeps hostile input from costing more than a small allocation.
pub const MAX_CANDIDATE_LEN: usize = 1024;

/// Most unknown extension attributes kept on one candidate.
pub const MAX_EXTENSIONS: usize = 16;

/// The attribute name that may lead the value (`candidate:`).
const PREFIX: &str = "candidate:";

/// Why a candidate line was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CandidateError {
    /// The value is longer than [`MAX_CANDIDATE_LEN`].
    #[error("candidate value is {0} bytes, longer than the {MAX_CANDIDATE_LEN}-byte limit")]
    TooLong(usize),
    /// A mandatory field is missing (the line ended early).
    #[error("candidate has no {0}")]
    Missing(&'static str),
    /// A field does not follow the RFC 8839 grammar.
    #[error("invalid candidate {field}: {value:?}")]
    Invalid {
        /// The field that was wrong (`foundation`, `component`, ...).
        field: &'static str,
        /// The text found there.
        value: String,
    },
    /// The keyword `typ` is not where RFC 8839 §5.1 puts it.
    #[error("expected \"typ\" after the port, found {0:?}")]
    ExpectedTyp(String),
    /// An extension attribute name with no value after it.
    #[error("extension {0:?} has no value")]
    ExtensionWithoutValue(String),
    /// The same known extension appears twice.
    #[error("extension {0:?} appears twice")]
    DuplicateExtension(&'static str),
    /// `raddr` without `rport`, or `rport` without `raddr`.
    #[error("raddr and rport must appear together")]
    IncompleteRelatedAddress,
    /// `tcptype` on a UDP candidate, or a TCP candidate without `tcptype`
    /// (RFC 6544 §4.5).
    #[error("tcptype must be present on tcp candidates and absent on udp ones")]
    TcpTypeMismatch,
    /// More than [`MAX_EXTENSIONS`] unknown extensions.
    #[error("more than {MAX_EXTENSIONS} unknown extensions")]
    TooManyExtensions,
}

/// The candidate type (RFC 8445 §5.1.1, `cand-type` in RFC 8839 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[doc(alias = "RTCIceCandidateType")]
pub enum CandidateType {
    /// A candidate on a local interface.
    Host,
    /// A server-reflexive candidate: the address a STUN server saw.
    ServerReflexive,
    /// A peer-reflexive candidate: learned from a connectivity check.
    PeerReflexive,
    /// A relayed candidate allocated on a TURN server.
    Relayed,
}

impl CandidateType {
    /// The recommended type preference (RFC 8445 §5.1.2.2).
    pub fn preference(self) -> u32 {
        match self {
            CandidateType::Host => 126,
            CandidateType::PeerReflexive => 110,
            CandidateType::ServerReflexive => 100,
            CandidateType::Relayed => 0,
        }
    }

    /// The SDP token (`host`, `srflx`, `prflx`, `relay`).
    pub fn as_str(self) -> &'static str {
        match self {
            CandidateType::Host => "host",
            CandidateType::ServerReflexive => "srflx",
            CandidateType::PeerReflexive => "prflx",
            CandidateType::Relayed => "relay",
        }
    }
}

impl FromStr for CandidateType {
    type Err = CandidateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "host" => Ok(CandidateType::Host),
            "srflx" => Ok(CandidateType::ServerReflexive),
            "prflx" => Ok(CandidateType::PeerReflexive),
            "relay" => Ok(CandidateType::Relayed),
            _ => Err(invalid("type", s)),
        }
    }
}

impl fmt::Display for CandidateType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The role of a TCP candidate (RFC 6544 §4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[doc(alias = "RTCIceTcpCandidateType")]
pub enum TcpType {
    /// Opens outgoing connections only.
    Active,
    /// Accepts incoming connections only.
    Passive,
    /// Simultaneous open.
    SimultaneousOpen,
}

impl TcpType {
    fn as_str(self) -> &'static str {
        match self {
            TcpType::Active => "active",
            TcpType::Passive => "passive",
            TcpType::SimultaneousOpen => "so",
        }
    }
}

/// The transport of a candidate (`transport` in RFC 8839 §5.1), with the TCP
/// role for TCP candidates (RFC 6544), so that a TCP candidate always has one
/// and a UDP candidate never does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[doc(alias = "RTCIceProtocol")]
pub enum Transport {
    /// UDP.
    Udp,
    /// TCP (RFC 6544) with its `tcptype`.
    Tcp(TcpType),
}

impl Transport {
    /// The IP protocol: UDP, or TCP whatever the role.
    pub fn protocol(self) -> crate::Protocol {
        match self {
            Transport::Udp => crate::Protocol::Udp,
            Transport::Tcp(_) => crate::Protocol::Tcp,
        }
    }
}

/// Where a candidate is: an IP address, or a fully qualified domain name such
/// as the mDNS names (`<uuid>.local`) browsers use to hide host addresses.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CandidateAddress {
    /// An IPv4 or IPv6 address.
    Ip(IpAddr),
    /// A host name (RFC 8839 §5.1 `connection-address` as FQDN).
    Fqdn(Hostname),
}

impl fmt::Display for CandidateAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CandidateAddress::Ip(ip) => ip.fmt(f),
            CandidateAddress::Fqdn(name) => f.write_str(name.as_str()),
        }
    }
}

impl CandidateAddress {
    /// The IP address, unless this is a host name.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            CandidateAddress::Ip(ip) => Some(*ip),
            CandidateAddress::Fqdn(_) => None,
        }
    }
}

impl FromStr for CandidateAddress {
    type Err = CandidateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(CandidateAddress::Ip(ip));
        }
        s.parse().map(CandidateAddress::Fqdn)
    }
}

impl From<IpAddr> for CandidateAddress {
    fn from(ip: IpAddr) -> Self {
        CandidateAddress::Ip(ip)
    }
}

/// A validated host name: 1 to 253 bytes of letters, digits, `-`, `_` and
/// `.`, not all digits and dots (that would be a malformed IPv4 address).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Hostname(String);

impl Hostname {
    /// The name as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Hostname {
    type Err = CandidateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let valid_chars = s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        let numeric = s.bytes().all(|b| b.is_ascii_digit() || b == b'.');
        if s.is_empty() || s.len() > 253 || !valid_chars || numeric {
            return Err(invalid("address", s));
        }
        Ok(Hostname(s.to_owned()))
    }
}

/// A candidate foundation: 1 to 32 `ice-char`s (RFC 8839 §5.1), equal for
/// candidates that share type, base IP, server and transport (RFC 8445 §5.1.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Foundation(String);

impl Foundation {
    /// Computes a foundation per RFC 8445 §5.1.1.3 from the candidate type,
    /// the base IP address, the STUN/TURN server IP (if any) and the transport.
    /// Equal inputs give equal foundations; the text is a decimal hash, as
    /// Chromium writes it.
    pub fn compute(
        kind: CandidateType,
        base: IpAddr,
        server: Option<IpAddr>,
        transport: Transport,
    ) -> Foundation {
        // FNV-1a, 32 bits: stable across runs and platforms.
        let mut h: u32 = 0x811c_9dc5;
        let mut eat = |bytes: &[u8]| {
            for &b in bytes {
                h ^= u32::from(b);
                h = h.wrapping_mul(0x0100_0193);
            }
        };
        eat(kind.as_str().as_bytes());
        eat(&ip_bytes(base));
        match server {
            Some(ip) => eat(&ip_bytes(ip)),
            None => eat(b"-"),
        }
        eat(match transport {
            Transport::Udp => b"udp",
            Transport::Tcp(_) => b"tcp",
        });
        Foundation(h.to_string())
    }

    /// The foundation text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn ip_bytes(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

fn is_ice_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'+' || b == b'/'
}

impl FromStr for Foundation {
    type Err = CandidateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() || s.len() > 32 || !s.bytes().all(is_ice_char) {
            return Err(invalid("foundation", s));
        }
        Ok(Foundation(s.to_owned()))
    }
}

impl fmt::Display for Foundation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An extension attribute this crate does not interpret, kept as received
/// (`extension-att-name SP extension-att-value` in RFC 8839 §5.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Extension {
    name: String,
    value: String,
}

impl Extension {
    /// Makes an extension; both parts must be non-empty visible ASCII
    /// without spaces (`byte-string` restricted to what survives a round trip).
    pub fn new(name: &str, value: &str) -> Result<Self, CandidateError> {
        let token = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic());
        if !token(name) {
            return Err(invalid("extension name", name));
        }
        if !token(value) {
            return Err(invalid("extension value", value));
        }
        Ok(Extension {
            name: name.to_owned(),
            value: value.to_owned(),
        })
    }

    /// The attribute name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The attribute value.
    pub fn value(&self) -> &str {
        &self.value
    }
}

/// An ICE candidate (RFC 8445 §5.1) as carried in SDP (RFC 8839 §5.1) and in
/// `RTCIceCandidate.candidate`.
///
/// ```
/// use ferrtc_ice::Candidate;
///
/// let line = "candidate:2415766335 1 udp 2122194687 192.0.2.2 40950 typ host generation 0 ufrag YmP6 network-id 1";
/// let c: Candidate = line.parse().unwrap();
/// assert_eq!(c.port(), 40950);
/// assert_eq!(c.to_string(), line);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[doc(alias = "RTCIceCandidate")]
pub struct Candidate {
    foundation: Foundation,
    component: u16,
    transport: Transport,
    priority: u32,
    address: CandidateAddress,
    port: u16,
    kind: CandidateType,
    related: Option<(CandidateAddress, u16)>,
    generation: Option<u32>,
    ufrag: Option<String>,
    network_id: Option<u32>,
    network_cost: Option<u32>,
    extensions: Vec<Extension>,
}

impl Candidate {
    /// A candidate with the mandatory fields and no extensions.
    /// `component` is the component ID (1 for RTP, the only one with BUNDLE and rtcp-mux).
    pub fn new(
        foundation: Foundation,
        component: u16,
        transport: Transport,
        priority: u32,
        address: SocketAddr,
        kind: CandidateType,
    ) -> Self {
        Candidate {
            foundation,
            component: component.clamp(1, 256),
            transport,
            priority,
            address: CandidateAddress::Ip(address.ip()),
            port: address.port(),
            kind,
            related: None,
            generation: None,
            ufrag: None,
            network_id: None,
            network_cost: None,
            extensions: Vec::new(),
        }
    }

    /// Sets the related address (`raddr`/`rport`): the base of a reflexive
    /// candidate or the mapped address of a relayed one (RFC 8839 §5.1).
    pub fn with_related_address(mut self, related: SocketAddr) -> Self {
        self.related = Some((CandidateAddress::Ip(related.ip()), related.port()));
        self
    }

    /// Sets the `ufrag` extension (the username fragment the candidate belongs to).
    pub fn with_ufrag(mut self, ufrag: &str) -> Result<Self, CandidateError> {
        if ufrag.is_empty() || ufrag.len() > 256 || !ufrag.bytes().all(is_ice_char) {
            return Err(invalid("ufrag", ufrag));
        }
        self.ufrag = Some(ufrag.to_owned());
        Ok(self)
    }

    /// Sets the `generation` extension.
    pub fn with_generation(mut self, generation: u32) -> Self {
        self.generation = Some(generation);
        self
    }

    /// The priority of a candidate per RFC 8445 §5.1.2.1:
    /// `2^24 * type_preference + 2^8 * local_preference + (256 - component)`.
    pub fn compute_priority(kind: CandidateType, local_preference: u16, component: u16) -> u32 {
        let component = u32::from(component.clamp(1, 256));
        (kind.preference() << 24) + (u32::from(local_preference) << 8) + (256 - component)
    }

    /// The foundation.
    pub fn foundation(&self) -> &Foundation {
        &self.foundation
    }
    /// The component ID (1 to 256).
    pub fn component(&self) -> u16 {
        self.component
    }
    /// The transport, with the TCP role for TCP candidates.
    pub fn transport(&self) -> Transport {
        self.transport
    }
    /// The priority.
    pub fn priority(&self) -> u32 {
        self.priority
    }
    /// The address: an IP, or a host name such as an mDNS `.local` name.
    pub fn address(&self) -> &CandidateAddress {
        &self.address
    }
    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }
    /// The transport address, when the address is an IP (not a host name).
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        match self.address {
            CandidateAddress::Ip(ip) => Some(SocketAddr::new(ip, self.port)),
            CandidateAddress::Fqdn(_) => None,
        }
    }
    /// The candidate type.
    pub fn kind(&self) -> CandidateType {
        self.kind
    }
    /// The related address and port (`raddr`, `rport`), if present.
    pub fn related_address(&self) -> Option<(&CandidateAddress, u16)> {
        self.related.as_ref().map(|(a, p)| (a, *p))
    }
    /// The `generation` extension (Chromium), if present.
    pub fn generation(&self) -> Option<u32> {
        self.generation
    }
    /// The `ufrag` extension, if present.
    pub fn ufrag(&self) -> Option<&str> {
        self.ufrag.as_deref()
    }
    /// The `network-id` extension (Chromium), if present.
    pub fn network_id(&self) -> Option<u32> {
        self.network_id
    }
    /// The `network-cost` extension (Chromium), if present.
    pub fn network_cost(&self) -> Option<u32> {
        self.network_cost
    }
    /// The extensions this crate does not interpret, in received order.
    pub fn extensions(&self) -> &[Extension] {
        &self.extensions
    }

    /// The attribute value without the leading `candidate:`.
    pub fn value(&self) -> impl fmt::Display + '_ {
        Value(self)
    }
}

struct Value<'a>(&'a Candidate);

impl fmt::Display for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.0;
        let transport = match c.transport {
            Transport::Udp => "udp",
            Transport::Tcp(_) => "tcp",
        };
        write!(
            f,
            "{} {} {} {} {} {} typ {}",
            c.foundation, c.component, transport, c.priority, c.address, c.port, c.kind
        )?;
        if let Some((addr, port)) = &c.related {
            write!(f, " raddr {addr} rport {port}")?;
        }
        if let Transport::Tcp(t) = c.transport {
            write!(f, " tcptype {}", t.as_str())?;
        }
        if let Some(g) = c.generation {
            write!(f, " generation {g}")?;
        }
        if let Some(u) = &c.ufrag {
            write!(f, " ufrag {u}")?;
        }
        if let Some(n) = c.network_id {
            write!(f, " network-id {n}")?;
        }
        if let Some(n) = c.network_cost {
            write!(f, " network-cost {n}")?;
        }
        for e in &c.extensions {
            write!(f, " {} {}", e.name, e.value)?;
        }
        Ok(())
    }
}

impl fmt::Display for Candidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}", Value(self))
    }
}

/// At most 64 characters of `value`: error text stays bounded on hostile input.
fn clip(value: &str) -> String {
    value.chars().take(64).collect()
}

fn invalid(field: &'static str, value: &str) -> CandidateError {
    CandidateError::Invalid {
        field,
        value: clip(value),
    }
}

fn parse_num<T: FromStr>(field: &'static str, s: &str) -> Result<T, CandidateError> {
    // Digits only: `u32::from_str` would also take a leading '+'.
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(field, s));
    }
    s.parse().map_err(|_| invalid(field, s))
}

fn set_once<T>(slot: &mut Option<T>, name: &'static str, v: T) -> Result<(), CandidateError> {
    if slot.is_some() {
        return Err(CandidateError::DuplicateExtension(name));
    }
    *slot = Some(v);
    Ok(())
}

impl FromStr for Candidate {
    type Err = CandidateError;

    /// Parses the attribute value, with or without the leading `candidate:`
    /// (RFC 8839 §5.1 grammar). Fields are separated by one or more spaces.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.strip_prefix(PREFIX).unwrap_or(s);
        if s.len() > MAX_CANDIDATE_LEN {
            return Err(CandidateError::TooLong(s.len()));
        }
        let mut it = s.split(' ').filter(|t| !t.is_empty());
        let mut next = |field: &'static str| it.next().ok_or(CandidateError::Missing(field));

        let foundation: Foundation = next("foundation")?.parse()?;
        let component: u16 = parse_num("component", next("component")?)?;
        if !(1..=256).contains(&component) {
            return Err(invalid("component", &component.to_string()));
        }
        let transport_tok = next("transport")?;
        let is_tcp = if transport_tok.eq_ignore_ascii_case("udp") {
            false
        } else if transport_tok.eq_ignore_ascii_case("tcp") {
            true
        } else {
            return Err(invalid("transport", transport_tok));
        };
        let priority: u32 = parse_num("priority", next("priority")?)?;
        let address: CandidateAddress = next("address")?.parse()?;
        let port: u16 = parse_num("port", next("port")?)?;
        let typ = next("typ")?;
        if typ != "typ" {
            return Err(CandidateError::ExpectedTyp(clip(typ)));
        }
        let kind: CandidateType = next("candidate type")?.parse()?;

        let mut raddr = None;
        let mut rport = None;
        let mut tcp_type = None;
        let mut generation = None;
        let mut ufrag = None;
        let mut network_id = None;
        let mut network_cost = None;
        let mut extensions = Vec::new();
        while let Some(name) = it.next() {
            let value = it
                .next()
                .ok_or_else(|| CandidateError::ExtensionWithoutValue(clip(name)))?;
            match name {
                "raddr" => set_once(&mut raddr, "raddr", value.parse::<CandidateAddress>()?)?,
                "rport" => set_once(&mut rport, "rport", parse_num::<u16>("rport", value)?)?,
                "tcptype" => {
                    let t = match value {
                        "active" => TcpType::Active,
                        "passive" => TcpType::Passive,
                        "so" => TcpType::SimultaneousOpen,
                        _ => return Err(invalid("tcptype", value)),
                    };
                    set_once(&mut tcp_type, "tcptype", t)?;
                }
                "generation" => set_once(
                    &mut generation,
                    "generation",
                    parse_num::<u32>("generation", value)?,
                )?,
                "ufrag" => {
                    if value.len() > 256 || !value.bytes().all(is_ice_char) {
                        return Err(invalid("ufrag", value));
                    }
                    set_once(&mut ufrag, "ufrag", value.to_owned())?;
                }
                "network-id" => set_once(
                    &mut network_id,
                    "network-id",
                    parse_num::<u32>("network-id", value)?,
                )?,
                "network-cost" => set_once(
                    &mut network_cost,
                    "network-cost",
                    parse_num::<u32>("network-cost", value)?,
                )?,
                _ => {
                    if extensions.len() >= MAX_EXTENSIONS {
                        return Err(CandidateError::TooManyExtensions);
                    }
                    extensions.push(Extension::new(name, value)?);
                }
            }
        }
        let related = match (raddr, rport) {
            (Some(a), Some(p)) => Some((a, p)),
            (None, None) => None,
            _ => return Err(CandidateError::IncompleteRelatedAddress),
        };
        let transport = match (is_tcp, tcp_type) {
            (false, None) => Transport::Udp,
            (true, Some(t)) => Transport::Tcp(t),
            _ => return Err(CandidateError::TcpTypeMismatch),
        };
        Ok(Candidate {
            foundation,
            component,
            transport,
            priority,
            address,
            port,
            kind,
            related,
            generation,
            ufrag,
            network_id,
            network_cost,
            extensions,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Candidate, CandidateError> {
        s.parse()
    }

    #[test]
    fn parses_every_field_of_a_chromium_srflx_line() {
        let c = parse(
            "candidate:842163049 1 udp 1677729535 203.0.113.7 61665 typ srflx raddr 192.0.2.2 rport 40950 generation 0 ufrag YmP6 network-id 1 network-cost 10",
        )
        .unwrap();
        assert_eq!(c.foundation().as_str(), "842163049");
        assert_eq!(c.component(), 1);
        assert_eq!(c.transport(), Transport::Udp);
        assert_eq!(c.priority(), 1_677_729_535);
        assert_eq!(c.socket_addr(), Some("203.0.113.7:61665".parse().unwrap()));
        assert_eq!(c.kind(), CandidateType::ServerReflexive);
        let (raddr, rport) = c.related_address().unwrap();
        assert_eq!(raddr.to_string(), "192.0.2.2");
        assert_eq!(rport, 40950);
        assert_eq!(c.generation(), Some(0));
        assert_eq!(c.ufrag(), Some("YmP6"));
        assert_eq!(c.network_id(), Some(1));
        assert_eq!(c.network_cost(), Some(10));
    }

    #[test]
    fn accepts_the_value_without_the_candidate_prefix_and_writes_it_with() {
        let c = parse("1 1 udp 2130706431 10.0.0.1 5000 typ host").unwrap();
        assert_eq!(
            c.to_string(),
            "candidate:1 1 udp 2130706431 10.0.0.1 5000 typ host"
        );
        assert_eq!(
            c.value().to_string(),
            "1 1 udp 2130706431 10.0.0.1 5000 typ host"
        );
    }

    #[test]
    fn transport_is_case_insensitive_in_and_lower_case_out() {
        let c = parse("candidate:1 1 UDP 2130706431 10.0.0.1 5000 typ host").unwrap();
        assert_eq!(c.transport(), Transport::Udp);
        assert_eq!(
            c.to_string(),
            "candidate:1 1 udp 2130706431 10.0.0.1 5000 typ host"
        );
        let t = parse("candidate:1 1 TcP 1518280447 10.0.0.1 9 typ host tcptype passive").unwrap();
        assert_eq!(t.transport(), Transport::Tcp(TcpType::Passive));
    }

    #[test]
    fn mdns_host_names_are_kept_as_fqdn() {
        let line = "candidate:3157384914 1 udp 2113937151 9a2d4b56-c6d3-4d7a-a1c4-1d5c8c2b0e6f.local 54321 typ host generation 0 network-cost 999";
        let c = parse(line).unwrap();
        assert!(matches!(c.address(), CandidateAddress::Fqdn(_)));
        assert_eq!(c.socket_addr(), None);
        assert_eq!(c.to_string(), line);
    }

    #[test]
    fn unknown_extensions_are_kept_in_order() {
        let line = "candidate:1 1 udp 2130706431 10.0.0.1 5000 typ host zeta 1 alpha x";
        let c = parse(line).unwrap();
        let names: Vec<_> = c.extensions().iter().map(|e| e.name()).collect();
        assert_eq!(names, ["zeta", "alpha"]);
        assert_eq!(c.to_string(), line);
    }

    #[test]
    fn errors_name_the_wrong_field() {
        let cases = [
            ("candidate:", CandidateError::Missing("foundation")),
            ("candidate:1 1 udp", CandidateError::Missing("priority")),
            (
                "candidate:1 0 udp 1 10.0.0.1 1 typ host",
                invalid("component", "0"),
            ),
            (
                "candidate:1 1 sctp 1 10.0.0.1 1 typ host",
                invalid("transport", "sctp"),
            ),
            (
                "candidate:1 1 udp 99999999999 10.0.0.1 1 typ host",
                invalid("priority", "99999999999"),
            ),
            (
                "candidate:1 1 udp 1 10.0.0.1 70000 typ host",
                invalid("port", "70000"),
            ),
            (
                "candidate:1 1 udp 1 10.0.0.1 1 type host",
                CandidateError::ExpectedTyp("type".into()),
            ),
            (
                "candidate:1 1 udp 1 10.0.0.1 1 typ bogus",
                invalid("type", "bogus"),
            ),
            (
                "candidate:1 1 udp 1 10.0.0.1 1 typ host generation",
                CandidateError::ExtensionWithoutValue("generation".into()),
            ),
            (
                "candidate:1 1 udp 1 10.0.0.1 1 typ srflx raddr 10.0.0.2",
                CandidateError::IncompleteRelatedAddress,
            ),
            (
                "candidate:1 1 udp 1 10.0.0.1 1 typ host tcptype active",
                CandidateError::TcpTypeMismatch,
            ),
            (
                "candidate:1 1 tcp 1 10.0.0.1 1 typ host",
                CandidateError::TcpTypeMismatch,
            ),
            (
                "candidate:1 1 udp 1 10.0.0.1 1 typ host generation 0 generation 1",
                CandidateError::DuplicateExtension("generation"),
            ),
            (
                "candidate:a_b 1 udp 1 10.0.0.1 1 typ host",
                invalid("foundation", "a_b"),
            ),
            (
                "candidate:1 1 udp 1 300.1.1.1 1 typ host",
                invalid("address", "300.1.1.1"),
            ),
            (
                "candidate:1 1 udp +1 10.0.0.1 1 typ host",
                invalid("priority", "+1"),
            ),
        ];
        for (line, want) in cases {
            assert_eq!(parse(line), Err(want), "{line}");
        }
    }

    #[test]
    fn overlong_lines_are_rejected_before_parsing() {
        let value = format!("1 1 udp 1 10.0.0.1 1 typ host x {}", "y".repeat(2000));
        let line = format!("candidate:{value}");
        assert_eq!(parse(&line), Err(CandidateError::TooLong(value.len())));
    }

    #[test]
    fn priority_follows_the_rfc_8445_formula() {
        // RFC 8445 §5.1.2.1 with the recommended type preferences (§5.1.2.2).
        assert_eq!(
            Candidate::compute_priority(CandidateType::Host, 65535, 1),
            2_130_706_431
        );
        assert_eq!(
            Candidate::compute_priority(CandidateType::ServerReflexive, 65535, 1),
            (100 << 24) + (65535 << 8) + 255
        );
        assert_eq!(
            Candidate::compute_priority(CandidateType::Relayed, 0, 2),
            254
        );
    }

    #[test]
    fn foundations_are_equal_exactly_when_type_base_server_and_transport_are() {
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let s: IpAddr = "198.51.100.1".parse().unwrap();
        let f = |k, base, srv, t| Foundation::compute(k, base, srv, t);
        let host = f(CandidateType::Host, a, None, Transport::Udp);
        assert_eq!(host, f(CandidateType::Host, a, None, Transport::Udp));
        assert_ne!(host, f(CandidateType::Host, b, None, Transport::Udp));
        assert_ne!(
            host,
            f(CandidateType::ServerReflexive, a, Some(s), Transport::Udp)
        );
        assert_ne!(
            host,
            f(
                CandidateType::Host,
                a,
                None,
                Transport::Tcp(TcpType::Active)
            )
        );
        assert!(host.as_str().parse::<Foundation>().is_ok());
    }
}
