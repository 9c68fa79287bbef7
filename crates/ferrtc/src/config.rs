//! `RTCConfiguration` and its parts (W3C webrtc-pc §4.2).

use std::net::{IpAddr, SocketAddr};

pub use ferrtc_core::{BundlePolicy, Certificate};

use crate::Error;

/// One entry of `iceServers` (W3C `RTCIceServer`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[doc(alias = "RTCIceServer")]
pub struct IceServer {
    /// `stun:host[:port]`, `turn:host[:port][?transport=udp|tcp]` or `turns:...`.
    /// An IP literal host applies at once; a host name is looked up in the
    /// background (at most 5 s, never blocking the runtime or connection
    /// setup), and the server is used once found. A name that does not
    /// resolve is logged and left out.
    pub urls: Vec<String>,
    /// TURN username.
    pub username: Option<String>,
    /// TURN credential.
    pub credential: Option<String>,
}

impl IceServer {
    /// A server with one URL and no credentials.
    pub fn new(url: impl Into<String>) -> Self {
        IceServer {
            urls: vec![url.into()],
            ..IceServer::default()
        }
    }
}

/// `RTCIceTransportPolicy`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[doc(alias = "RTCIceTransportPolicy")]
pub enum IceTransportPolicy {
    /// Every candidate type.
    #[default]
    All,
    /// Relayed candidates only: host and server-reflexive candidates are
    /// neither signalled nor paired (the sockets only talk to TURN servers).
    Relay,
}

/// `RTCRtcpMuxPolicy`: only `require` exists in browsers today.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[doc(alias = "RTCRtcpMuxPolicy")]
pub enum RtcpMuxPolicy {
    /// RTP and RTCP share the transport (RFC 5761).
    #[default]
    Require,
}

/// `RTCConfiguration`.
#[derive(Debug, Clone, Default)]
#[doc(alias = "RTCConfiguration")]
pub struct Configuration {
    /// STUN (and, later, TURN) servers.
    pub ice_servers: Vec<IceServer>,
    /// `iceTransportPolicy`.
    pub ice_transport_policy: IceTransportPolicy,
    /// `bundlePolicy`.
    pub bundle_policy: BundlePolicy,
    /// `rtcpMuxPolicy`.
    pub rtcp_mux_policy: RtcpMuxPolicy,
    /// `certificates`: the first one is used; none generates one.
    pub certificates: Vec<Certificate>,
    /// `iceCandidatePoolSize`: accepted; gathering starts at
    /// `setLocalDescription` whatever its value.
    pub ice_candidate_pool_size: u8,
    /// 32-byte seed of the connection's ChaCha RNG, which every secret
    /// comes from (ICE credentials, STUN transaction ids, the SCTP cookie
    /// key); `None` seeds it from the operating system's cryptographic RNG.
    /// Set it only for reproducible test runs.
    pub seed: Option<[u8; 32]>,
    /// Where the mDNS queries that resolve remote `.local` candidates go
    /// (not part of W3C `RTCConfiguration`). `None` is the IPv4 mDNS group
    /// `224.0.0.251:5353` (RFC 6762 §3); a unicast address reaches one
    /// responder directly, which tests use where multicast is unreliable.
    pub mdns_server: Option<SocketAddr>,
    /// Signal each host candidate under a random `<uuid>.local` name
    /// instead of its IP address, as browsers do
    /// (draft-ietf-mmusic-mdns-ice-candidates §3.1.1; not part of W3C
    /// `RTCConfiguration`, where the browser decides). Off by default:
    /// ferrtc runs in servers and command-line tools more often than on
    /// a user's machine, and a peer that cannot resolve the names (one
    /// off the local link, or without mDNS) only reaches our host
    /// candidates through peer-reflexive discovery.
    ///
    /// When on, each host address gets one name for the connection's
    /// life, the related address of server-reflexive candidates becomes
    /// `0.0.0.0 0` (`:: 0`), and an mDNS responder answers A/AAAA queries
    /// for the names (RFC 6762 §6) until the connection closes, then says
    /// goodbye (§10.1): [`Self::mdns_responder`], or the process-wide one
    /// on the mDNS group (`PeerConnection::new` fails if port 5353 cannot
    /// be bound). Cannot change after creation.
    pub mdns_host_candidates: bool,
    /// The responder that answers for the names of
    /// [`Self::mdns_host_candidates`] (not part of W3C `RTCConfiguration`).
    /// `None` is [`MdnsResponder::multicast`](crate::MdnsResponder::multicast),
    /// shared by every connection of the process; a responder bound to a
    /// unicast address serves peers told to query it (their
    /// [`Self::mdns_server`]), as tests do on loopback.
    pub mdns_responder: Option<crate::MdnsResponder>,
    /// The local addresses to bind and gather host candidates on (not part
    /// of W3C `RTCConfiguration`; browsers choose them). Empty, the
    /// default, is loopback (IPv4 and IPv6) plus the addresses of the
    /// default routes. Each address costs one socket: a server holding
    /// thousands of connections can name one address to stay within its
    /// open-file limit.
    pub host_addresses: Vec<IpAddr>,
    /// ICE-TCP (RFC 6544; not part of W3C `RTCConfiguration`, where
    /// browsers decide): listen on a TCP port of each host address and
    /// signal a passive TCP candidate there and an active one, so that a
    /// peer whose UDP is blocked (a browser behind a firewall that lets
    /// only TCP out) can still connect; UDP pairs are preferred when both
    /// work. Off by default: each connection then holds one listening
    /// socket per address. Remote TCP candidates are used whenever this
    /// side has TCP candidates of its own. It cannot change after creation.
    pub tcp_candidates: bool,
    /// Certificates (DER) trusted as roots for TURN servers reached over
    /// TLS (`turns:`), besides the system's trusted roots (not part of W3C
    /// `RTCConfiguration`, where the browser's store decides): for a
    /// private certificate authority. The server's certificate must name the
    /// URL's host (a DNS name, or an IP address for a literal).
    pub tls_trust_anchors: Vec<Vec<u8>>,
    /// One UDP socket shared with other connections (not part of W3C
    /// `RTCConfiguration`): the connection's host candidate is then the
    /// mux's address, and it binds sockets of its own only on the
    /// `host_addresses` given. See [`UdpMux`](crate::UdpMux).
    pub udp_mux: Option<crate::UdpMux>,
    /// `peerIdentity` (W3C webrtc-identity §9.6, the target peer
    /// identity): when set, a remote description whose `a=identity` is
    /// missing or does not validate to exactly this identity (`user@domain`)
    /// is refused by `set_remote_description` with an `OperationError`, and
    /// [`PeerConnection::peer_identity`](crate::PeerConnection::peer_identity)
    /// fails. It cannot change after creation.
    pub peer_identity: Option<String>,
    /// Send RTP as soon as it is written instead of pacing it by the
    /// bandwidth estimate (not part of W3C `RTCConfiguration`; browsers
    /// always pace). Paced, the default, media leaves at 2.5 × the estimate
    /// in short bursts (at most 5 ms when the connection's task runs on
    /// time), audio and retransmissions first, and the
    /// estimate's probes are filled with RTX padding. A forwarder that
    /// cannot adapt what it sends to each viewer's estimate, running many
    /// connections on one thread, may turn it off: the estimate is still
    /// measured and reported. It cannot change after creation.
    pub unpaced_media: bool,
}

/// A parsed ICE server URL (RFC 7064 `stun:`, RFC 7065 `turn:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ServerUrl {
    Stun {
        host: String,
        port: u16,
    },
    Turn {
        host: String,
        port: u16,
        tcp: bool,
        tls: bool,
    },
}

impl ServerUrl {
    pub(crate) fn parse(url: &str) -> Result<ServerUrl, Error> {
        let bad = |reason| Error::InvalidIceServer {
            url: url.to_owned(),
            reason,
        };
        let (scheme, rest) = url.split_once(':').ok_or_else(|| bad("no scheme"))?;
        // RFC 3986 §3.1: a scheme is case-insensitive (`STUN:` is `stun:`).
        let scheme = scheme.to_ascii_lowercase();
        let scheme = scheme.as_str();
        // W3C webrtc-pc "validate an ICE server URL", RFC 7064 §3.1 and
        // RFC 7065 §3.1: a host, a port and (TURN) a transport, nothing
        // else: no user, path or fragment.
        if rest.contains(['@', '/', '#']) {
            return Err(bad(
                "only a host, a port and a transport may follow the scheme",
            ));
        }
        let (hostport, query) = match rest.split_once('?') {
            Some((h, q)) => (h, Some(q)),
            None => (rest, None),
        };
        let default_port = match scheme {
            "stun" | "turn" => 3478,
            "stuns" | "turns" => 5349,
            _ => return Err(bad("scheme must be stun, stuns, turn or turns")),
        };
        let (host, port) = split_host_port(hostport).ok_or_else(|| bad("bad host or port"))?;
        let port = port.unwrap_or(default_port);
        if host.is_empty() {
            return Err(bad("empty host"));
        }
        match scheme {
            "stuns" => Err(Error::UnsupportedIceServer {
                url: url.to_owned(),
                reason: "STUN over TLS (stuns:) is not supported",
            }),
            "stun" => {
                if query.is_some() {
                    return Err(bad("stun URLs take no query"));
                }
                Ok(ServerUrl::Stun { host, port })
            }
            _ => {
                // RFC 7065 §3.1; ABNF literals are case-insensitive (RFC
                // 5234 §2.3).
                let query = query.map(str::to_ascii_lowercase);
                let tcp = match query.as_deref() {
                    None | Some("transport=udp") => false,
                    Some("transport=tcp") => true,
                    Some(_) => return Err(bad("query must be transport=udp or transport=tcp")),
                };
                Ok(ServerUrl::Turn {
                    host,
                    port,
                    tcp,
                    tls: scheme == "turns",
                })
            }
        }
    }

    /// The host (a name or an IP literal) and the port.
    pub(crate) fn host_port(&self) -> (&str, u16) {
        let (ServerUrl::Stun { host, port } | ServerUrl::Turn { host, port, .. }) = self;
        (host, *port)
    }

    /// The server's address when the host is an IP literal, which needs
    /// no lookup.
    pub(crate) fn literal(&self) -> Option<SocketAddr> {
        let (host, port) = self.host_port();
        let ip: IpAddr = host.parse().ok()?;
        Some(SocketAddr::new(ip, port))
    }
}

fn split_host_port(s: &str) -> Option<(String, Option<u16>)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None if after.is_empty() => None,
            None => return None,
        };
        return Some((host.to_owned(), port));
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => Some((h.to_owned(), Some(p.parse().ok()?))),
        _ => Some((s.to_owned(), None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// W3C webrtc-pc "validate an ICE server URL": a user, a path or a
    /// fragment is a `SyntaxError` (none is part of an RFC 7064/7065 URI);
    /// a scheme not implemented (`stuns:`) is a `NotSupportedError`, not a
    /// plain STUN server.
    #[test]
    fn ice_server_urls_with_a_user_path_or_fragment_or_stuns_are_refused() {
        for bad in [
            "stun:user@stun.example",
            "stun:stun.example/x",
            "stun://stun.example",
            "stun:stun.example#f",
            "turn:turn.example#f",
            "turn:u@turn.example?transport=tcp",
        ] {
            let e = ServerUrl::parse(bad).expect_err(bad);
            assert_eq!(e.name(), "SyntaxError", "{bad}");
        }
        let e = ServerUrl::parse("stuns:stun.example").expect_err("stuns");
        assert_eq!(e.name(), "NotSupportedError");
    }

    #[test]
    fn ice_server_urls_parse_as_the_w3c_forms() {
        assert_eq!(
            ServerUrl::parse("stun:stun.example.org").unwrap(),
            ServerUrl::Stun {
                host: "stun.example.org".into(),
                port: 3478
            }
        );
        assert_eq!(
            ServerUrl::parse("stun:[::1]:19302").unwrap(),
            ServerUrl::Stun {
                host: "::1".into(),
                port: 19302
            }
        );
        assert_eq!(
            ServerUrl::parse("turn:10.0.0.1:3479?transport=tcp").unwrap(),
            ServerUrl::Turn {
                host: "10.0.0.1".into(),
                port: 3479,
                tcp: true,
                tls: false
            }
        );
        assert!(matches!(
            ServerUrl::parse("turns:t.example").unwrap(),
            ServerUrl::Turn {
                port: 5349,
                tls: true,
                ..
            }
        ));
        assert_eq!(
            ServerUrl::parse("stun:[::1]:19302").unwrap().literal(),
            Some("[::1]:19302".parse().unwrap())
        );
        assert_eq!(ServerUrl::parse("stun:localhost").unwrap().literal(), None);
        assert_eq!(
            ServerUrl::parse("TURNS:t.example?Transport=TCP").unwrap(),
            ServerUrl::parse("turns:t.example?transport=tcp").unwrap(),
            "schemes and the transport are case-insensitive"
        );
        assert!(matches!(
            ServerUrl::parse("Stun:h"),
            Ok(ServerUrl::Stun { .. })
        ));
        for bad in [
            "http://x",
            "stun:",
            "stun:host:notaport",
            "turn:h?transport=sctp",
            "stun:h?x=1",
        ] {
            assert!(ServerUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
