//! TLS to TURN servers (`turns:`, RFC 8656 §3.1; RFC 7065 §3): which
//! servers speak TLS, the name each certificate must carry, and the client
//! configuration that checks it (the system's trusted roots and
//! [`crate::Configuration::tls_trust_anchors`]).
//!
//! The system's roots are read once per process, off the runtime's
//! threads, at the first TLS connection; a connection that only uses UDP
//! never reads them.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// The system's trusted roots, read once.
static SYSTEM_ROOTS: OnceLock<Arc<[CertificateDer<'static>]>> = OnceLock::new();

/// The TURN servers of one connection that are reached over TLS.
#[derive(Debug, Default)]
pub(crate) struct TlsServers {
    /// Server address -> the name its certificate must carry.
    names: Vec<(SocketAddr, ServerName<'static>)>,
    /// Extra roots (DER), from the configuration.
    anchors: Arc<[Vec<u8>]>,
}

/// Why a TLS connection to a TURN server did not open.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TlsError {
    /// The handshake failed (the certificate did not verify, say).
    #[error("TLS handshake: {0}")]
    Handshake(#[source] std::io::Error),
    /// No root to check the certificate against.
    #[error("TLS client configuration: {0}")]
    Config(#[from] rustls::Error),
}

impl TlsServers {
    /// The TLS servers among `servers`, with extra roots `anchors`. A host
    /// that is no valid DNS name or IP address never gets here (the URL is
    /// refused when parsed); one is logged and left out all the same.
    pub(crate) fn new(servers: &[ferrtc_core::TurnServer], anchors: &[Vec<u8>]) -> TlsServers {
        let mut tls = TlsServers {
            names: Vec::new(),
            anchors: anchors.into(),
        };
        for s in servers {
            if s.transport != ferrtc_core::TurnTransport::Tls {
                continue;
            }
            match ServerName::try_from(s.host.clone()) {
                Ok(name) => tls.add(s.server, name),
                Err(e) => tracing::warn!("TURN server {}: bad TLS name: {e}", s.host),
            }
        }
        tls
    }

    /// One server and its name. The agent keeps one allocation per
    /// address, so one name per address: the first stands.
    fn add(&mut self, server: SocketAddr, name: ServerName<'static>) {
        match self.names.iter().find(|(addr, _)| *addr == server) {
            Some((_, known)) if *known != name => tracing::warn!(
                "TURN server {server}: named {known:?} already, {name:?} not used for it"
            ),
            Some(_) => {}
            None => self.names.push((server, name)),
        }
    }

    /// Takes the servers and roots of a new configuration, keeping the
    /// servers known before: the ICE agent never forgets a TURN server
    /// (its allocation may still be in use), so an address once reached
    /// over TLS is never reached without it.
    pub(crate) fn merge(&mut self, newer: TlsServers) {
        self.anchors = newer.anchors;
        for (server, name) in newer.names {
            self.add(server, name);
        }
    }

    /// Whether no server is reached over TLS.
    pub(crate) fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The name `server`'s certificate must carry, if it is a TLS server.
    pub(crate) fn name(&self, server: SocketAddr) -> Option<ServerName<'static>> {
        self.names
            .iter()
            .find(|(addr, _)| *addr == server)
            .map(|(_, name)| name.clone())
    }

    /// What a connection to `server` needs to open its TLS session, if
    /// `server` is reached over TLS. The roots are read by the
    /// connection's own task (see [`Connector::connect`]).
    pub(crate) fn connector(&self, server: SocketAddr) -> Option<Connector> {
        let name = self.name(server)?;
        Some(Connector {
            name,
            anchors: self.anchors.clone(),
        })
    }
}

/// What one connection needs to run the TLS handshake.
#[derive(Debug, Clone)]
pub(crate) struct Connector {
    /// The name the server's certificate must carry.
    name: ServerName<'static>,
    anchors: Arc<[Vec<u8>]>,
}

impl Connector {
    /// Runs the TLS handshake on `stream`. Each connection builds its own
    /// client configuration: a connection opens one per TLS server.
    pub(crate) async fn connect(self, stream: TcpStream) -> Result<TlsStream<TcpStream>, TlsError> {
        let config = client_config(&system_roots().await, &self.anchors)?;
        TlsConnector::from(config)
            .connect(self.name, stream)
            .await
            .map_err(TlsError::Handshake)
    }
}

/// The system's trusted roots (`rustls-native-certs`: the platform's
/// store; on Linux the usual bundle paths, `SSL_CERT_FILE` and
/// `SSL_CERT_DIR` when set), read once per process off the runtime.
async fn system_roots() -> Arc<[CertificateDer<'static>]> {
    if let Some(roots) = SYSTEM_ROOTS.get() {
        return roots.clone();
    }
    let read = tokio::task::spawn_blocking(|| {
        let found = rustls_native_certs::load_native_certs();
        for e in &found.errors {
            tracing::debug!("system TLS roots: {e}");
        }
        Arc::<[CertificateDer<'static>]>::from(found.certs)
    })
    .await;
    match read {
        Ok(roots) => SYSTEM_ROOTS.get_or_init(|| roots).clone(),
        // A read that panicked (logged) trusts no system root this time
        // (only the configuration's anchors); the next connection reads
        // again.
        Err(e) => {
            tracing::error!("reading the system TLS roots failed: {e}");
            Arc::from(Vec::new())
        }
    }
}

/// A client configuration trusting `system` and `anchors` (certificates
/// that do not parse as roots are skipped).
fn client_config(
    system: &[CertificateDer<'static>],
    anchors: &[Vec<u8>],
) -> Result<Arc<rustls::ClientConfig>, rustls::Error> {
    let mut roots = rustls::RootCertStore::empty();
    let extra = anchors.iter().map(|a| CertificateDer::from(a.clone()));
    let (_, ignored) = roots.add_parsable_certificates(system.iter().cloned().chain(extra));
    if ignored > 0 {
        tracing::debug!("{ignored} TLS roots did not parse");
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(
        host: &str,
        addr: &str,
        transport: ferrtc_core::TurnTransport,
    ) -> ferrtc_core::TurnServer {
        ferrtc_core::TurnServer {
            server: addr.parse().unwrap(),
            transport,
            username: "u".into(),
            credential: "p".into(),
            host: host.into(),
        }
    }

    #[test]
    fn only_tls_servers_are_named_and_literals_are_ip_names() {
        let servers = TlsServers::new(
            &[
                server(
                    "turn.example",
                    "192.0.2.1:5349",
                    ferrtc_core::TurnTransport::Tls,
                ),
                server(
                    "192.0.2.2",
                    "192.0.2.2:5349",
                    ferrtc_core::TurnTransport::Tls,
                ),
                server(
                    "plain.example",
                    "192.0.2.3:3478",
                    ferrtc_core::TurnTransport::Tcp,
                ),
            ],
            &[],
        );
        assert_eq!(
            servers.name("192.0.2.1:5349".parse().unwrap()),
            Some(ServerName::try_from("turn.example").unwrap())
        );
        assert!(matches!(
            servers.name("192.0.2.2:5349".parse().unwrap()),
            Some(ServerName::IpAddress(_))
        ));
        assert_eq!(servers.name("192.0.2.3:3478".parse().unwrap()), None);
    }

    #[test]
    fn a_later_configuration_never_turns_a_tls_server_into_a_plain_one() {
        let tls = ferrtc_core::TurnTransport::Tls;
        let mut servers = TlsServers::new(&[server("turn.example", "192.0.2.1:5349", tls)], &[]);
        servers.merge(TlsServers::new(
            &[server("other.example", "192.0.2.2:5349", tls)],
            &[b"root".to_vec()],
        ));
        assert!(servers.name("192.0.2.1:5349".parse().unwrap()).is_some());
        assert!(servers.name("192.0.2.2:5349".parse().unwrap()).is_some());
        assert_eq!(&*servers.anchors, &[b"root".to_vec()]);
        // A second name for the same address does not replace the first.
        servers.merge(TlsServers::new(
            &[server("third.example", "192.0.2.1:5349", tls)],
            &[],
        ));
        assert_eq!(
            servers.name("192.0.2.1:5349".parse().unwrap()),
            Some(ServerName::try_from("turn.example").unwrap())
        );
    }

    #[test]
    fn a_host_that_is_no_dns_name_is_left_out() {
        let servers = TlsServers::new(
            &[server(
                "bad name!",
                "192.0.2.1:5349",
                ferrtc_core::TurnTransport::Tls,
            )],
            &[],
        );
        assert!(servers.is_empty());
    }
}
