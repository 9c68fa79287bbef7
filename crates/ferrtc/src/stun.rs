//! The STUN servers of a configuration: IP literals apply at once, host
//! names are looked up in a task of their own (`tokio::net::lookup_host`,
//! with a timeout), so that neither the runtime nor the connection's setup
//! waits for DNS. The addresses found join the literals when they arrive;
//! a name that does not resolve is logged and left out.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use crate::Error;
use crate::config::{Configuration, ServerUrl};
use crate::driver::{Command, CommandQueue, StunUpdate};

/// How long the lookup of one STUN server name may take.
pub(crate) const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// The STUN servers of a configuration.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct StunServers {
    /// Servers given as IP literals: usable at once.
    pub(crate) ready: Vec<SocketAddr>,
    /// Servers given by name, with their ports: looked up later.
    pub(crate) names: Vec<(String, u16)>,
}

impl StunServers {
    /// Parses the configuration's ICE server URLs (errors for those that
    /// do not parse); TURN URLs are checked and logged (the TURN client is
    /// not there yet).
    pub(crate) fn of(configuration: &Configuration) -> Result<Self, Error> {
        let mut servers = StunServers::default();
        for url in configuration.ice_servers.iter().flat_map(|s| &s.urls) {
            let parsed = ServerUrl::parse(url)?;
            if let ServerUrl::Turn { .. } = parsed {
                tracing::warn!("TURN server {url} accepted but not used yet");
                continue;
            }
            match parsed.literal() {
                Some(addr) => servers.ready.push(addr),
                None => {
                    let (host, port) = parsed.host_port();
                    servers.names.push((host.to_owned(), port));
                }
            }
        }
        Ok(servers)
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
                tracing::warn!("STUN server {host}:{port}: no address");
            }
            Ok(addrs) => found.extend(addrs),
            Err(e) => tracing::warn!("STUN server {host}:{port} not resolved: {e}"),
        }
    }
    found
}

/// The system resolver, off the runtime's threads.
async fn system_lookup(host: String, port: u16) -> io::Result<Vec<SocketAddr>> {
    Ok(tokio::net::lookup_host((host.as_str(), port))
        .await?
        .collect())
}

/// Looks `servers`' names up in a task of their own, then gives the
/// connection's task the literals and the addresses found as the STUN
/// servers of configuration `generation` (a later configuration wins over
/// a lookup still running for an earlier one). Nothing to do without names.
pub(crate) fn spawn_lookups(
    servers: StunServers,
    generation: u64,
    commands: std::sync::Weak<CommandQueue>,
) {
    if servers.names.is_empty() {
        return;
    }
    tokio::spawn(async move {
        let found = resolve(&servers.names, LOOKUP_TIMEOUT, system_lookup).await;
        if found.is_empty() {
            return;
        }
        let mut all = servers.ready;
        all.extend(found);
        // The connection may be gone meanwhile: nothing to tell then.
        if let Some(commands) = commands.upgrade() {
            let _ = commands.send(Command::SetStunServers(Box::new(StunUpdate {
                servers: all,
                generation,
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
                crate::IceServer::new("turn:10.0.0.1"),
            ],
            ..Default::default()
        };
        let servers = StunServers::of(&configuration).unwrap();
        assert_eq!(servers.ready, vec!["127.0.0.1:3478".parse().unwrap()]);
        assert_eq!(servers.names, names(&[("localhost", 3479)]));
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

    #[tokio::test(flavor = "current_thread")]
    async fn a_name_the_resolver_rejects_gives_no_address() {
        // A NUL byte: refused before any query leaves the process.
        let found = resolve(&names(&[("bad\0name", 1)]), LOOKUP_TIMEOUT, system_lookup).await;
        assert!(found.is_empty());
    }
}
