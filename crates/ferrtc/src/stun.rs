//! The STUN and TURN servers of a configuration: IP literals apply at
//! once, host names are looked up in a task of their own
//! (`tokio::net::lookup_host`, with a timeout), so that neither the runtime
//! nor the connection's setup waits for DNS. The addresses found join the
//! literals when they arrive; a name that does not resolve is logged and
//! left out.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use crate::Error;
use crate::config::{Configuration, IceServer, ServerUrl};
use crate::driver::{Command, CommandQueue, StunUpdate};
use ferrtc_core::TurnServer;

/// How long the lookup of one STUN server name may take.
pub(crate) const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// The STUN and TURN servers of a configuration.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct StunServers {
    /// STUN servers given as IP literals: usable at once.
    pub(crate) ready: Vec<SocketAddr>,
    /// STUN servers given by name, with their ports: looked up later.
    pub(crate) names: Vec<(String, u16)>,
    /// TURN servers given as IP literals, with their credentials.
    pub(crate) turn_ready: Vec<TurnServer>,
    /// TURN servers given by name: looked up later.
    pub(crate) turn_names: Vec<TurnName>,
    /// Extra TLS roots for `turns:` servers
    /// ([`Configuration::tls_trust_anchors`]).
    pub(crate) tls_anchors: Vec<Vec<u8>>,
}

/// A TURN server given by name, and its credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TurnName {
    host: String,
    port: u16,
    transport: ferrtc_core::TurnTransport,
    username: String,
    credential: String,
}

impl StunServers {
    /// Parses the configuration's ICE server URLs (errors for those that
    /// do not parse, and for TURN URLs without a username and credential:
    /// W3C webrtc-pc §4.4.1.6 `InvalidAccessError`).
    pub(crate) fn of(configuration: &Configuration) -> Result<Self, Error> {
        let mut servers = StunServers {
            tls_anchors: configuration.tls_trust_anchors.clone(),
            ..StunServers::default()
        };
        for server in &configuration.ice_servers {
            for url in &server.urls {
                servers.add(server, url)?;
            }
        }
        Ok(servers)
    }

    /// Whether some servers are given by name (looked up later).
    pub(crate) fn lookups_pending(&self) -> bool {
        !self.names.is_empty() || !self.turn_names.is_empty()
    }

    /// The servers of [`Self::turn_ready`] reached over TLS.
    pub(crate) fn tls_ready(&self) -> crate::net::TlsServers {
        crate::net::TlsServers::new(&self.turn_ready, &self.tls_anchors)
    }

    /// Leaves the TURN servers out, saying why.
    pub(crate) fn drop_turn(&mut self, why: &str) {
        if !self.turn_ready.is_empty() || !self.turn_names.is_empty() {
            tracing::warn!("TURN servers not used with {why}");
            self.turn_ready.clear();
            self.turn_names.clear();
        }
    }

    fn add(&mut self, server: &IceServer, url: &str) -> Result<(), Error> {
        let parsed = ServerUrl::parse(url)?;
        if let ServerUrl::Turn { tcp, tls, .. } = parsed {
            let (Some(username), Some(credential)) = (&server.username, &server.credential) else {
                return Err(Error::MissingTurnCredentials {
                    url: url.to_owned(),
                });
            };
            // RFC 7065 §3: `turns:` is TLS over TCP whatever `?transport=`.
            // Its host must be a name (or address) a certificate can carry,
            // else the server could only be reached without TLS.
            if tls
                && rustls::pki_types::ServerName::try_from(parsed.host_port().0.to_owned()).is_err()
            {
                return Err(Error::InvalidIceServer {
                    url: url.to_owned(),
                    reason: "a turns: host must be a DNS name or an IP address",
                });
            }
            let transport = if tls {
                ferrtc_core::TurnTransport::Tls
            } else if tcp {
                ferrtc_core::TurnTransport::Tcp
            } else {
                ferrtc_core::TurnTransport::Udp
            };
            match parsed.literal() {
                Some(addr) => self.turn_ready.push(TurnServer {
                    server: addr,
                    transport,
                    username: username.clone(),
                    credential: credential.clone(),
                    host: parsed.host_port().0.to_owned(),
                }),
                None => {
                    let (host, port) = parsed.host_port();
                    self.turn_names.push(TurnName {
                        host: host.to_owned(),
                        port,
                        transport,
                        username: username.clone(),
                        credential: credential.clone(),
                    });
                }
            }
            return Ok(());
        }
        {
            let servers = self;
            match parsed.literal() {
                Some(addr) => servers.ready.push(addr),
                None => {
                    let (host, port) = parsed.host_port();
                    servers.names.push((host.to_owned(), port));
                }
            }
        }
        Ok(())
    }
}

/// Why a STUN server name gave no address.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LookupError {
    /// No answer in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The resolver failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Looks up one name with `lookup`, within `timeout`.
async fn lookup_one<F, Fut>(
    host: &str,
    port: u16,
    timeout: Duration,
    lookup: &F,
) -> Result<Vec<SocketAddr>, LookupError>
where
    F: Fn(String, u16) -> Fut,
    Fut: Future<Output = io::Result<Vec<SocketAddr>>>,
{
    match tokio::time::timeout(timeout, lookup(host.to_owned(), port)).await {
        Ok(found) => Ok(found?),
        Err(_) => Err(LookupError::Timeout(timeout)),
    }
}

/// The addresses of every name, each looked up within `timeout`; names
/// that fail are logged and left out.
pub(crate) async fn resolve<F, Fut>(
    names: &[(String, u16)],
    timeout: Duration,
    lookup: F,
) -> Vec<SocketAddr>
where
    F: Fn(String, u16) -> Fut,
    Fut: Future<Output = io::Result<Vec<SocketAddr>>>,
{
    let mut found = Vec::new();
    for (host, port) in names {
        match lookup_one(host, *port, timeout, &lookup).await {
            Ok(addrs) if addrs.is_empty() => {
                tracing::warn!("ICE server {host}:{port}: no address");
            }
            Ok(addrs) => found.extend(addrs),
            Err(e) => tracing::warn!("ICE server {host}:{port} not resolved: {e}"),
        }
    }
    found
}

/// A name whose lookup panics, in tests: a `.invalid` name (RFC 6761
/// §6.4), which no resolver answers anyway.
#[cfg(test)]
pub(crate) const PANICKING_NAME: &str = "lookup-panics.invalid";

/// The system resolver, off the runtime's threads.
async fn system_lookup(host: String, port: u16) -> io::Result<Vec<SocketAddr>> {
    #[cfg(test)]
    if host == PANICKING_NAME {
        panic!("test hook: the lookup of {host} panics");
    }
    Ok(tokio::net::lookup_host((host.as_str(), port))
        .await?
        .collect())
}

/// Looks `servers`' names up: the STUN servers (the literals and the
/// addresses found) and the TURN servers (likewise).
async fn look_up(servers: &StunServers) -> (Vec<SocketAddr>, Vec<TurnServer>) {
    let found = resolve(&servers.names, LOOKUP_TIMEOUT, system_lookup).await;
    let mut turn = servers.turn_ready.clone();
    let mut turn_found = false;
    for t in &servers.turn_names {
        let name = [(t.host.clone(), t.port)];
        // One address per name (one allocation per server): IPv4 when
        // there is one, the family every network routes.
        let addrs = resolve(&name, LOOKUP_TIMEOUT, system_lookup).await;
        if let Some(addr) = addrs.iter().find(|a| a.is_ipv4()).or(addrs.first()) {
            turn_found = true;
            turn.push(TurnServer {
                server: *addr,
                transport: t.transport,
                username: t.username.clone(),
                credential: t.credential.clone(),
                host: t.host.clone(),
            });
        }
    }
    if found.is_empty() && !turn_found {
        tracing::debug!("no ICE server name resolved");
    }
    let mut all = servers.ready.clone();
    all.extend(found);
    (all, turn)
}

/// Looks `servers`' names up in a task of their own, then gives the
/// connection's task the literals and the addresses found as the STUN
/// servers of configuration `generation` (a later configuration wins over
/// a lookup still running for an earlier one), which also ends the hold on
/// ICE gathering. A lookup that panics (logged) counts as one that found
/// nothing: the literals are given all the same, and gathering still
/// reaches `complete`. Nothing to do without names.
pub(crate) fn spawn_lookups(
    servers: StunServers,
    generation: u64,
    commands: std::sync::Weak<CommandQueue>,
) {
    if servers.names.is_empty() && servers.turn_names.is_empty() {
        return;
    }
    tokio::spawn(async move {
        let looked_up =
            crate::driver::catch_helper_panic("the lookup of ICE server names", look_up(&servers))
                .await;
        // Sent even when nothing was found: it ends the hold on gathering.
        let (all, turn) =
            looked_up.unwrap_or_else(|| (servers.ready.clone(), servers.turn_ready.clone()));
        // The connection may be gone meanwhile: nothing to tell then.
        if let Some(commands) = commands.upgrade() {
            let tls = crate::net::TlsServers::new(&turn, &servers.tls_anchors);
            let _ = commands.send(Command::SetStunServers(Box::new(StunUpdate {
                servers: all,
                turn,
                tls,
                relay_only: None,
                lookups_pending: false,
                generation,
                configuration: None,
                reply: None,
            })));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[(&str, u16)]) -> Vec<(String, u16)> {
        list.iter().map(|(h, p)| ((*h).to_owned(), *p)).collect()
    }

    #[test]
    fn ip_literals_are_ready_and_names_wait_for_a_lookup() {
        let configuration = Configuration {
            ice_servers: vec![
                crate::IceServer::new("stun:127.0.0.1:3478"),
                crate::IceServer::new("stun:localhost:3479"),
            ],
            ..Default::default()
        };
        let servers = StunServers::of(&configuration).unwrap();
        assert_eq!(servers.ready, vec!["127.0.0.1:3478".parse().unwrap()]);
        assert_eq!(servers.names, names(&[("localhost", 3479)]));
    }

    fn turn(url: &str, username: Option<&str>, credential: Option<&str>) -> Configuration {
        Configuration {
            ice_servers: vec![crate::IceServer {
                urls: vec![url.to_owned()],
                username: username.map(str::to_owned),
                credential: credential.map(str::to_owned),
            }],
            ..Default::default()
        }
    }

    #[test]
    fn turn_servers_carry_their_credentials_and_names_wait_for_a_lookup() {
        let literal = StunServers::of(&turn("turn:10.0.0.1", Some("u"), Some("p"))).unwrap();
        assert_eq!(
            literal.turn_ready,
            vec![TurnServer {
                server: "10.0.0.1:3478".parse().unwrap(),
                transport: ferrtc_core::TurnTransport::Udp,
                username: "u".into(),
                credential: "p".into(),
                host: "10.0.0.1".into(),
            }]
        );
        assert!(literal.ready.is_empty() && literal.turn_names.is_empty());
        let named = StunServers::of(&turn(
            "turn:turn.example:3479?transport=udp",
            Some("u"),
            Some("p"),
        ))
        .unwrap();
        assert!(named.turn_ready.is_empty());
        assert_eq!(named.turn_names.len(), 1);
        assert_eq!(
            (named.turn_names[0].host.as_str(), named.turn_names[0].port),
            ("turn.example", 3479)
        );
    }

    #[test]
    fn a_turn_server_without_credentials_is_an_invalid_access_error() {
        for (u, c) in [(None, Some("p")), (Some("u"), None), (None, None)] {
            let e = StunServers::of(&turn("turn:10.0.0.1", u, c)).unwrap_err();
            assert_eq!(e.name(), "InvalidAccessError", "{e}");
        }
    }

    #[test]
    fn turn_over_tcp_and_over_tls_are_used_and_tls_keeps_the_host_name() {
        let tcp = StunServers::of(&turn("turn:10.0.0.1?transport=tcp", Some("u"), Some("p")));
        assert_eq!(
            tcp.unwrap().turn_ready[0].transport,
            ferrtc_core::TurnTransport::Tcp
        );
        // RFC 7065 §3: `turns:` defaults to port 5349, TLS over TCP.
        let tls = StunServers::of(&turn("turns:10.0.0.1", Some("u"), Some("p"))).unwrap();
        assert_eq!(tls.turn_ready[0].transport, ferrtc_core::TurnTransport::Tls);
        assert_eq!(tls.turn_ready[0].server, "10.0.0.1:5349".parse().unwrap());
        assert!(!tls.tls_ready().is_empty());
        let named = StunServers::of(&turn("turns:turn.example:443", Some("u"), Some("p"))).unwrap();
        assert_eq!(named.turn_names[0].host, "turn.example");
        assert_eq!(
            named.turn_names[0].transport,
            ferrtc_core::TurnTransport::Tls
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn localhost_resolves_through_the_system_resolver() {
        let found = resolve(
            &names(&[("localhost", 3478)]),
            LOOKUP_TIMEOUT,
            system_lookup,
        )
        .await;
        assert!(
            found
                .iter()
                .any(|a| a.ip().is_loopback() && a.port() == 3478),
            "{found:?}"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_lookup_that_never_answers_times_out_and_the_other_names_still_resolve() {
        // "slow" never answers (a resolver that hangs); "fast" does.
        let lookup = |host: String, port: u16| async move {
            if host == "slow" {
                std::future::pending::<()>().await;
            }
            Ok(vec![SocketAddr::from(([127, 0, 0, 1], port))])
        };
        let start = std::time::Instant::now();
        let found = resolve(
            &names(&[("slow", 1), ("fast", 2)]),
            Duration::from_millis(100),
            lookup,
        )
        .await;
        assert_eq!(found, vec![SocketAddr::from(([127, 0, 0, 1], 2))]);
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    /// A lookup task that panics ends as one that found nothing: the
    /// hold on gathering ends, and gathering completes (end of
    /// candidates, state `complete`).
    #[tokio::test(flavor = "current_thread")]
    async fn a_lookup_that_panics_still_lets_gathering_complete() {
        let pc = crate::PeerConnection::new(Configuration {
            ice_servers: vec![crate::IceServer::new(format!("stun:{PANICKING_NAME}:3478"))],
            host_addresses: vec![std::net::Ipv4Addr::LOCALHOST.into()],
            ..Default::default()
        })
        .unwrap();
        let _dc = pc
            .create_data_channel("gather", crate::DataChannelInit::default())
            .await
            .unwrap();
        let offer = pc.create_offer().await.unwrap();
        pc.set_local_description(Some(offer)).await.unwrap();
        loop {
            let ev = tokio::time::timeout(Duration::from_secs(10), pc.next_event())
                .await
                .expect("gathering did not complete")
                .unwrap();
            if matches!(&ev, crate::PeerConnectionEvent::IceCandidate(c) if c.candidate.is_empty())
            {
                break;
            }
        }
        assert_eq!(
            pc.ice_gathering_state().await,
            crate::IceGatheringState::Complete
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_name_the_resolver_rejects_gives_no_address() {
        // A NUL byte: refused before any query leaves the process.
        let found = resolve(&names(&[("bad\0name", 1)]), LOOKUP_TIMEOUT, system_lookup).await;
        assert!(found.is_empty());
    }
}
