//! `ferrtc turn`: the TURN server (RFC 8656) on UDP, TCP and TLS, with
//! long-term credentials from a users file and/or the TURN REST API shared
//! secret, and Prometheus counters over HTTP. See docs/turn.md.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use ferrtc_turn::listen::{ListenConfig, start, tls_config};
use ferrtc_turn::server::{Credentials, PeerPolicy, RelayFamily, ServerConfig};

/// Where `ferrtc turn` listens without `--listen`: UDP and TCP on the TURN
/// port of every IPv4 interface, as coturn does.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 3478);
/// The realm without `--realm`.
pub const DEFAULT_REALM: &str = "ferrtc";

/// The command line of `ferrtc turn`, checked.
#[derive(Debug)]
pub struct TurnOptions {
    /// `--listen`: UDP and TCP listeners (empty: [`DEFAULT_LISTEN`]).
    pub listen: Vec<SocketAddr>,
    /// `--tls-listen`: the TLS listener.
    pub tls_listen: Option<SocketAddr>,
    /// `--cert`: PEM certificate chain of the TLS listener.
    pub cert: Option<PathBuf>,
    /// `--key`: PEM private key of the TLS listener.
    pub key: Option<PathBuf>,
    /// `--realm`: REALM of the long-term credentials (RFC 8489 §9.2).
    pub realm: String,
    /// `--users`: `name:password` lines.
    pub users: Option<PathBuf>,
    /// `--secret`: the TURN REST API shared secret.
    pub secret: Option<String>,
    /// `--relay-ip`: where relay sockets bind.
    pub relay_ip: Option<IpAddr>,
    /// `--allow-loopback`: relay to loopback peers.
    pub allow_loopback: bool,
    /// `--allow-private`: relay to private and link-local peers.
    pub allow_private: bool,
    /// `--metrics`: where to serve `GET /metrics`.
    pub metrics: Option<SocketAddr>,
}

/// A flag value that cannot work: exit code 2, like a usage error.
#[derive(Debug)]
pub struct UsageError(pub String);

/// The server configuration and listeners of `opts`, or why not.
fn configure(opts: &TurnOptions) -> Result<(ListenConfig, ServerConfig), UsageError> {
    let users = match &opts.users {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| UsageError(format!("--users {}: {e}", path.display())))?;
            Credentials::parse_users(&text)
                .map_err(|e| UsageError(format!("--users {}: {e}", path.display())))?
        }
        None => Default::default(),
    };
    if opts.users.is_none() && opts.secret.is_none() {
        return Err(UsageError(
            "turn needs credentials: --users FILE (name:password lines) and/or --secret S".into(),
        ));
    }
    if opts.secret.as_deref() == Some("") {
        return Err(UsageError("--secret must not be empty".into()));
    }
    let tls = match (opts.tls_listen, &opts.cert, &opts.key) {
        (None, None, None) => None,
        (Some(addr), Some(cert), Some(key)) => {
            let read = |p: &PathBuf, what: &str| {
                std::fs::read(p).map_err(|e| UsageError(format!("--{what} {}: {e}", p.display())))
            };
            let config = tls_config(&read(cert, "cert")?, &read(key, "key")?)
                .map_err(|e| UsageError(format!("--cert/--key: {e}")))?;
            Some((addr, config))
        }
        _ => {
            return Err(UsageError(
                "--tls-listen, --cert and --key go together".into(),
            ));
        }
    };
    let listen = if opts.listen.is_empty() {
        vec![DEFAULT_LISTEN]
    } else {
        opts.listen.clone()
    };
    let relay_ip = opts
        .relay_ip
        .unwrap_or_else(|| default_relay_ip(listen[0].ip()));
    if relay_ip.is_unspecified() || relay_ip.is_multicast() {
        return Err(UsageError(format!(
            "--relay-ip {relay_ip}: needs a unicast address of this host"
        )));
    }
    // Servers that share the REST secret share the nonce key too, so a nonce
    // from one is good at another behind the same DNS name.
    let nonce_key = match &opts.secret {
        Some(s) => format!("ferrtc-turn nonce key\n{s}").into_bytes(),
        None => {
            let mut k = vec![0u8; 32];
            aws_lc_rs::rand::fill(&mut k).map_err(|_| UsageError("no randomness".into()))?;
            k
        }
    };
    let mut config = ServerConfig::new(
        &opts.realm,
        Credentials::new(users, opts.secret.as_deref()),
        &nonce_key,
    );
    config.policy = PeerPolicy {
        allow_loopback: opts.allow_loopback,
        allow_private: opts.allow_private,
    };
    config.relay_family = RelayFamily::of(&relay_ip);
    let listen = ListenConfig {
        udp: listen.clone(),
        tcp: listen,
        tls: tls.iter().map(|(a, _)| *a).collect(),
        tls_config: tls.map(|(_, c)| c),
        relay_ip,
        metrics: opts.metrics,
    };
    Ok((listen, config))
}

/// The relay address when `--relay-ip` is not given: the listen address,
/// or, for a wildcard listen address, the address this host would use
/// towards the internet (a routing-table lookup: a UDP `connect` sends
/// nothing), else 127.0.0.1.
fn default_relay_ip(listen: IpAddr) -> IpAddr {
    if !listen.is_unspecified() {
        return listen;
    }
    let probe = || -> std::io::Result<IpAddr> {
        let s = std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
        // TEST-NET-1 (RFC 5737): routed like any remote address, never contacted.
        s.connect((Ipv4Addr::new(192, 0, 2, 1), 9))?;
        Ok(s.local_addr()?.ip())
    };
    probe()
        .ok()
        .filter(|ip| !ip.is_unspecified())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

/// Checks the options (a [`UsageError`] is exit code 2).
pub fn check(opts: &TurnOptions) -> Result<(), UsageError> {
    configure(opts).map(|_| ())
}

/// Runs the server until SIGINT or SIGTERM. The first stdout lines say where
/// it listens: `listening on udp ADDR`, `listening on tcp ADDR`,
/// `listening on tls ADDR`, then `metrics on http://ADDR/metrics`.
pub async fn run(opts: TurnOptions) -> Result<(), crate::demo::BoxError> {
    let (listen, config) = configure(&opts).map_err(|e| e.0)?;
    let relay_ip = listen.relay_ip;
    let running = start(listen, config).await?;
    let mut lines = String::new();
    for (i, udp) in running.udp.iter().enumerate() {
        lines.push_str(&format!("listening on udp {udp}\n"));
        if let Some(tcp) = running.tcp.get(i) {
            lines.push_str(&format!("listening on tcp {tcp}\n"));
        }
    }
    for tls in &running.tls {
        lines.push_str(&format!("listening on tls {tls}\n"));
    }
    if let Some(m) = running.metrics {
        lines.push_str(&format!("metrics on http://{m}/metrics\n"));
    }
    {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        out.write_all(lines.as_bytes())?;
        out.flush()?;
    }
    tracing::info!("relaying from {relay_ip}");
    let running = Arc::new(running);
    wait_for_signal().await;
    drop(running);
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Shown after `ferrtc turn --help`.
pub const AFTER_HELP: &str = "Defaults: 10 allocations and 16 MiB/s per user, 10000 allocations in all; \
lifetimes 600 s (at most 3600 s); nonces valid 600 s.\n\
Example: ferrtc turn --listen 127.0.0.1:3478 --users users.txt --allow-loopback --metrics 127.0.0.1:9641";
