//! `ferrtc turn`, the binary: where it listens (stdout), users-file and
//! TURN REST API credentials (an allocation by the ferrtc-turn client),
//! bad flags (exit 2 with a clear message), and `GET /metrics`.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::TempPath;
use ferrtc_turn::server::rest_password;
use ferrtc_turn::{Client, ClientConfig, Event, RequestError};

/// A running `ferrtc turn` and the addresses it printed.
struct Turn {
    child: Child,
    udp: SocketAddr,
    tcp: SocketAddr,
    metrics: Option<SocketAddr>,
    lines: Vec<String>,
}

impl Drop for Turn {
    fn drop(&mut self) {
        common::kill_group(&mut self.child);
    }
}

fn start(args: &[&str]) -> Turn {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferrtc"))
        .arg("turn")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("ferrtc turn starts");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut lines = Vec::new();
    // A udp and a tcp line per `--listen`, then the tls and metrics ones.
    let listens = args.iter().filter(|a| **a == "--listen").count().max(1);
    let want = 2 * listens
        + usize::from(args.contains(&"--metrics"))
        + usize::from(args.contains(&"--tls-listen"));
    for _ in 0..want {
        let mut line = String::new();
        stdout.read_line(&mut line).expect("a stdout line");
        lines.push(line.trim_end().to_owned());
    }
    let addr = |prefix: &str| {
        lines
            .iter()
            .find_map(|l| l.strip_prefix(prefix))
            .map(|a| a.trim_end_matches("/metrics").parse().expect("an address"))
    };
    Turn {
        udp: addr("listening on udp ").expect("a udp line"),
        tcp: addr("listening on tcp ").expect("a tcp line"),
        metrics: addr("metrics on http://"),
        lines,
        child,
    }
}

/// A users file holding `text`, removed when dropped.
fn users_file(text: &str) -> TempPath {
    // Tests run in parallel: one file per call.
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    TempPath::file(
        format!("ferrtc-turn-users-{}-{}", std::process::id(), n),
        text,
    )
}

/// A loopback UDP socket of the family of `server`.
fn client_socket(server: SocketAddr) -> UdpSocket {
    UdpSocket::bind(if server.is_ipv6() {
        "[::1]:0"
    } else {
        "127.0.0.1:0"
    })
    .unwrap()
}

/// Drives a client of `server` over UDP, handing each of its events to
/// `until`, and returns the first event `until` says ends the run.
fn drive(
    server: SocketAddr,
    user: &str,
    password: &str,
    mut until: impl FnMut(&mut Client, &Event) -> bool,
) -> Event {
    let socket = client_socket(server);
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut client = Client::new(ClientConfig::new(server, user, password), Instant::now());
    let end = Instant::now() + Duration::from_secs(10);
    let mut buf = Vec::new();
    let mut data = [0u8; 2048];
    while Instant::now() < end {
        while let Some(t) = client.poll_transmit(Instant::now(), &mut buf) {
            socket.send_to(&buf, t.destination).unwrap();
        }
        while let Some(e) = client.poll_event() {
            if until(&mut client, &e) {
                return e;
            }
        }
        if let Ok((n, from)) = socket.recv_from(&mut data) {
            client.handle_receive(Instant::now(), from, &data[..n]);
        }
        if client.poll_timeout().is_some_and(|t| t <= Instant::now()) {
            client.handle_timeout(Instant::now());
        }
    }
    panic!("no answer from ferrtc turn");
}

/// Drives a client over UDP until it allocates or fails.
fn allocate(server: SocketAddr, user: &str, password: &str) -> Event {
    drive(server, user, password, |_, e| {
        matches!(e, Event::Allocated { .. } | Event::Failed { .. })
    })
}

/// Allocates as `user`, then asks for a permission towards `peer` (RFC
/// 8656 §10.1): `PermissionCreated` or the `Failed` event. A permission
/// sends nothing to the peer.
fn permission(server: SocketAddr, user: &str, password: &str, peer: IpAddr) -> Event {
    drive(server, user, password, |client, e| match e {
        Event::Allocated { .. } => {
            client.create_permission(peer, Instant::now()).unwrap();
            false
        }
        Event::PermissionCreated { .. } | Event::Failed { .. } => true,
        _ => false,
    })
}

fn rejected(e: &Event) -> Option<u16> {
    match e {
        Event::Failed {
            error: RequestError::Rejected { code, .. },
            ..
        } => Some(*code),
        _ => None,
    }
}

#[test]
fn the_first_stdout_lines_say_where_it_listens() {
    let users = users_file("alice:pw\n");
    let turn = start(&[
        "--listen",
        "127.0.0.1:0",
        "--users",
        users.to_str().unwrap(),
        "--metrics",
        "127.0.0.1:0",
    ]);
    assert!(
        turn.lines[0].starts_with("listening on udp 127.0.0.1:"),
        "{:?}",
        turn.lines
    );
    assert!(
        turn.lines[1].starts_with("listening on tcp 127.0.0.1:"),
        "{:?}",
        turn.lines
    );
    assert!(
        turn.lines[2].starts_with("metrics on http://127.0.0.1:"),
        "{:?}",
        turn.lines
    );
    assert_eq!(turn.tcp.ip(), turn.udp.ip());
}

#[test]
fn a_user_of_the_users_file_allocates_and_a_wrong_password_does_not() {
    let users = users_file("# who may relay\nalice:wonderland\nbob:builder\n");
    let turn = start(&[
        "--listen",
        "127.0.0.1:0",
        "--users",
        users.to_str().unwrap(),
    ]);
    let ev = allocate(turn.udp, "bob", "builder");
    let Event::Allocated { relayed, .. } = ev else {
        panic!("{ev:?}")
    };
    assert_eq!(
        relayed.ip(),
        turn.udp.ip(),
        "relays on the listen address by default"
    );
    assert_eq!(rejected(&allocate(turn.udp, "bob", "wrong")), Some(401));
}

#[test]
fn turn_rest_api_credentials_work_until_they_expire() {
    let turn = start(&[
        "--listen",
        "127.0.0.1:0",
        "--secret",
        "s3cret",
        "--realm",
        "example.org",
    ]);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let user = format!("{}:carol", now + 3600);
    let ev = allocate(turn.udp, &user, &rest_password(b"s3cret", &user));
    assert!(matches!(ev, Event::Allocated { .. }), "{ev:?}");
    let old = format!("{}:carol", now - 10);
    assert_eq!(
        rejected(&allocate(turn.udp, &old, &rest_password(b"s3cret", &old))),
        Some(401)
    );
    assert_eq!(
        rejected(&allocate(turn.udp, &user, "not the hmac")),
        Some(401)
    );
}

#[test]
fn bad_flags_exit_with_code_2_and_say_why() {
    let users = users_file("x:y\n");
    let users = users.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&[], "--users"),
        (&["--secret", "s", "--tls-listen", "127.0.0.1:0"], "--cert"),
        (
            &["--secret", "s", "--cert", "c.pem", "--key", "k.pem"],
            "--tls-listen",
        ),
        (
            &["--users", "/nonexistent/users.txt"],
            "/nonexistent/users.txt",
        ),
        (&["--secret", "s", "--listen", "not-an-address"], "--listen"),
        (&["--users", users, "--relay-ip", "0.0.0.0"], "--relay-ip"),
        (
            &[
                "--users",
                users,
                "--tls-listen",
                "127.0.0.1:0",
                "--cert",
                "/nonexistent.pem",
                "--key",
                "/nonexistent.pem",
            ],
            "--cert",
        ),
        (&["--users", users, "--no-such-flag"], "--no-such-flag"),
    ];
    for (args, says) in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_ferrtc"))
            .arg("turn")
            .args(*args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(says),
            "{args:?} should mention {says}: {stderr}"
        );
    }
    let bad = users_file("no password here\n");
    let out = Command::new(env!("CARGO_BIN_EXE_ferrtc"))
        .args(["turn", "--users", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 1"));
}

fn get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text
}

#[test]
fn metrics_are_served_as_prometheus_text() {
    let users = users_file("alice:wonderland\n");
    let turn = start(&[
        "--listen",
        "127.0.0.1:0",
        "--users",
        users.to_str().unwrap(),
        "--metrics",
        "127.0.0.1:0",
    ]);
    let metrics = turn.metrics.expect("a metrics line");
    assert!(matches!(
        allocate(turn.udp, "alice", "wonderland"),
        Event::Allocated { .. }
    ));
    assert_eq!(rejected(&allocate(turn.udp, "alice", "wrong")), Some(401));
    let text = get(metrics, "/metrics");
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(
        text.contains("Content-Type: text/plain; version=0.0.4"),
        "{text}"
    );
    assert!(text.contains("\nferrtc_turn_allocations 1\n"), "{text}");
    assert!(
        text.contains("\nferrtc_turn_allocations_total 1\n"),
        "{text}"
    );
    assert!(
        text.contains("ferrtc_turn_auth_failures_total{reason=\"bad_integrity\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("ferrtc_turn_relayed_packets_total{direction=\"to_peer\"} 0\n"),
        "{text}"
    );
    assert!(get(metrics, "/").starts_with("HTTP/1.1 404"));
}

#[test]
fn a_tls_listener_is_announced_after_the_udp_and_tcp_ones() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert_path = TempPath::file(
        format!("ferrtc-turn-cert-{}.pem", std::process::id()),
        cert.cert.pem(),
    );
    let key_path = TempPath::file(
        format!("ferrtc-turn-key-{}.pem", std::process::id()),
        cert.signing_key.serialize_pem(),
    );
    let turn = start(&[
        "--listen",
        "127.0.0.1:0",
        "--secret",
        "s",
        "--tls-listen",
        "127.0.0.1:0",
        "--cert",
        cert_path.to_str().unwrap(),
        "--key",
        key_path.to_str().unwrap(),
    ]);
    assert!(
        turn.lines[2].starts_with("listening on tls 127.0.0.1:"),
        "{:?}",
        turn.lines
    );
    let tls: SocketAddr = turn.lines[2]["listening on tls ".len()..].parse().unwrap();
    // The port accepts connections (the TLS handshake itself is tested in
    // ferrtc-turn's server_client tests).
    TcpStream::connect(tls).expect("the TLS port accepts");
    // A key that is not a key: exit 2.
    std::fs::write(&key_path, "not a key").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ferrtc"))
        .args([
            "turn",
            "--secret",
            "s",
            "--tls-listen",
            "127.0.0.1:0",
            "--cert",
        ])
        .arg(&cert_path)
        .arg("--key")
        .arg(&key_path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("key"));
}

/// Relaying to loopback or private peers is refused (403 Forbidden, RFC
/// 8656 §21.3) unless `--allow-loopback` / `--allow-private` opens it; a
/// public peer is always allowed.
#[test]
fn loopback_and_private_peers_are_refused_unless_allowed() {
    let users = users_file("alice:wonderland\n");
    let users = users.to_str().unwrap();
    let loopback: IpAddr = "127.0.0.1".parse().unwrap();
    let private: IpAddr = "10.1.2.3".parse().unwrap();
    let public: IpAddr = "8.8.8.8".parse().unwrap();
    let created = |e: &Event| matches!(e, Event::PermissionCreated { .. });
    let cases: &[(&[&str], bool, bool)] = &[
        (&[], false, false),
        (&["--allow-loopback"], true, false),
        (&["--allow-private"], false, true),
    ];
    for (flags, loopback_ok, private_ok) in cases {
        let mut args = vec!["--listen", "127.0.0.1:0", "--users", users];
        args.extend_from_slice(flags);
        let turn = start(&args);
        let to = |peer| permission(turn.udp, "alice", "wonderland", peer);
        let (l, p) = (to(loopback), to(private));
        assert_eq!(created(&l), *loopback_ok, "{flags:?} loopback: {l:?}");
        assert_eq!(created(&p), *private_ok, "{flags:?} private: {p:?}");
        for refused in [(!loopback_ok).then_some(&l), (!private_ok).then_some(&p)]
            .into_iter()
            .flatten()
        {
            assert_eq!(rejected(refused), Some(403), "{flags:?}: {refused:?}");
        }
        let public = to(public);
        assert!(created(&public), "{flags:?}: a public peer: {public:?}");
    }
}

/// Each `--listen` is announced by its own lines, in the order given.
#[test]
fn each_listener_gets_its_own_first_lines() {
    let users = users_file("alice:wonderland\n");
    let turn = start(&[
        "--listen",
        "127.0.0.1:0",
        "--listen",
        // Another loopback address (127.0.0.0/8), not [::1]: a host may
        // have no IPv6 loopback.
        "127.0.0.2:0",
        "--users",
        users.to_str().unwrap(),
    ]);
    let kinds: Vec<&str> = turn
        .lines
        .iter()
        .map(|l| l.rsplit_once(' ').map_or("", |(k, _)| k))
        .collect();
    assert_eq!(
        kinds,
        [
            "listening on udp",
            "listening on tcp",
            "listening on udp",
            "listening on tcp"
        ],
        "{:?}",
        turn.lines
    );
    assert!(turn.lines[0].contains(" 127.0.0.1:"), "{:?}", turn.lines);
    assert!(turn.lines[2].contains(" 127.0.0.2:"), "{:?}", turn.lines);
    let second: SocketAddr = turn.lines[2]["listening on udp ".len()..].parse().unwrap();
    assert!(matches!(
        allocate(second, "alice", "wonderland"),
        Event::Allocated { .. }
    ));
}

/// The TURN REST API password is base64(HMAC-SHA1(secret, "expiry:name")),
/// here computed apart from ferrtc (`openssl dgst -sha1 -hmac north
/// -binary | base64` of `4102444800:dave`, an expiry in 2100).
#[test]
fn a_rest_api_password_computed_elsewhere_allocates() {
    let turn = start(&["--listen", "127.0.0.1:0", "--secret", "north"]);
    let ev = allocate(turn.udp, "4102444800:dave", "Ytmvur8cfRjVMGJBFRcIsTk65vc=");
    assert!(matches!(ev, Event::Allocated { .. }), "{ev:?}");
}
