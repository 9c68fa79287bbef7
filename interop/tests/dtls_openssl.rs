//! ferrtc-dtls against OpenSSL's own DTLS 1.2 (`openssl s_server` /
//! `openssl s_client`) over real UDP on loopback, in both roles: the
//! handshake completes with DTLS-SRTP, the exported keying material OpenSSL
//! prints matches ours, application data crosses both ways, and our
//! close_notify ends OpenSSL's session. With ECDSA and with RSA
//! certificates (ECDHE_RSA suites) on either side.
//!
//! Runs only with FERRTC_INTEROP=1 (then a missing `openssl` is a failure).

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant, SystemTime};

use ferrtc_dtls::{
    Certificate, Config, Dtls, Event, Fingerprint, KeyType, Role, SrtpKeys, SrtpProfile,
};

use ferrtc_interop::interop_enabled;

const TIMEOUT: Duration = Duration::from_secs(20);
/// What the brief's reference command offers; OpenSSL exports 60 bytes.
const OPENSSL_PROFILES: &str = "SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80";
const KEYMAT_LEN: &str = "60";
const FROM_FERRTC: &str = "hello-from-ferrtc";
const FROM_OPENSSL: &str = "ping-from-openssl";

/// A child process that is killed when the test ends, pass or fail.
struct Peer {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Peer {
    fn spawn(args: &[&str]) -> Peer {
        let mut child = Command::new("openssl")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("FERRTC_INTEROP=1 but `openssl` could not be started");
        let (tx, lines) = channel();
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let stdin = child.stdin.take();
        Peer {
            child,
            stdin,
            lines,
            seen: Vec::new(),
        }
    }

    fn pump(&mut self) {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
    }

    fn saw(&self, needle: &str) -> bool {
        self.seen.iter().any(|l| l.contains(needle))
    }

    fn wait_for(&mut self, needle: &str) {
        let deadline = Instant::now() + TIMEOUT;
        while !self.saw(needle) {
            assert!(
                Instant::now() < deadline,
                "openssl never printed {needle:?}: {:#?}",
                self.seen
            );
            if let Ok(line) = self.lines.recv_timeout(Duration::from_millis(50)) {
                self.seen.push(line);
            }
        }
    }

    fn send_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .expect("write to openssl");
        stdin.flush().expect("flush openssl stdin");
    }

    /// The exported keying material OpenSSL printed, and the SRTP profile it chose.
    fn keying_material(&self) -> (Vec<u8>, String) {
        let hex = self
            .seen
            .iter()
            .find_map(|l| l.trim().strip_prefix("Keying material: "))
            .unwrap_or_else(|| panic!("no keying material in {:#?}", self.seen));
        let bytes = (0..hex.len() / 2)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex"))
            .collect();
        let profile = self
            .seen
            .iter()
            .find_map(|l| l.trim().strip_prefix("SRTP Extension negotiated, profile="))
            .unwrap_or_else(|| panic!("no SRTP profile in {:#?}", self.seen))
            .to_string();
        (bytes, profile)
    }

    fn exited_within(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A scratch directory removed at the end of the test.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("ferrtc-dtls-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    fn path(&self, name: &str) -> String {
        self.0.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run_openssl(args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("FERRTC_INTEROP=1 but `openssl` could not be run");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Makes an ECDSA P-256 certificate with OpenSSL and returns its fingerprint
/// as OpenSSL computes it.
fn openssl_certificate(dir: &TempDir) -> (String, String, Fingerprint) {
    openssl_certificate_of(
        dir,
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"],
    )
}

/// Makes an RSA 2048 certificate with OpenSSL.
fn openssl_rsa_certificate(dir: &TempDir) -> (String, String, Fingerprint) {
    openssl_certificate_of(dir, &["-newkey", "rsa:2048"])
}

fn openssl_certificate_of(dir: &TempDir, key_args: &[&str]) -> (String, String, Fingerprint) {
    let (cert, key) = (dir.path("cert.pem"), dir.path("key.pem"));
    let mut args = vec!["req", "-x509"];
    args.extend_from_slice(key_args);
    args.extend_from_slice(&[
        "-nodes",
        "-keyout",
        &key,
        "-out",
        &cert,
        "-days",
        "2",
        "-subj",
        "/CN=openssl-interop",
    ]);
    run_openssl(&args);
    let printed = run_openssl(&["x509", "-in", &cert, "-noout", "-fingerprint", "-sha256"]);
    // "sha256 Fingerprint=AB:CD:..." (OpenSSL 3) or "SHA256 Fingerprint=..."
    let hex = printed
        .trim()
        .split_once('=')
        .map(|(_, hex)| hex)
        .expect("fingerprint line");
    let fingerprint = Fingerprint::parse(&format!("sha-256 {hex}")).expect("fingerprint");
    (cert, key, fingerprint)
}

/// Our side: one transport on one UDP socket, driven with real time.
struct Ours {
    dtls: Dtls,
    socket: UdpSocket,
    peer: Option<SocketAddr>,
    keys: Option<SrtpKeys>,
    received: Vec<u8>,
    closed_by_peer: bool,
    failure: Option<ferrtc_dtls::Error>,
}

impl Ours {
    fn new(role: Role, certificate: &Certificate, expected: Fingerprint) -> Ours {
        Self::with_config(role, certificate, expected, &Config::default())
    }

    fn with_config(
        role: Role,
        certificate: &Certificate,
        expected: Fingerprint,
        config: &Config,
    ) -> Ours {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        socket
            .set_read_timeout(Some(Duration::from_millis(10)))
            .expect("timeout");
        let mut dtls =
            Dtls::new(config, certificate, role, Instant::now(), SystemTime::now()).expect("dtls");
        dtls.expect_remote_fingerprints(vec![expected]);
        Ours {
            dtls,
            socket,
            peer: None,
            keys: None,
            received: Vec::new(),
            closed_by_peer: false,
            failure: None,
        }
    }

    /// One turn of the event loop.
    fn turn(&mut self) {
        let mut buf = Vec::new();
        if let Some(peer) = self.peer {
            while self.dtls.poll_transmit(Instant::now(), &mut buf).is_some() {
                self.socket.send_to(&buf, peer).expect("send");
            }
        }
        while let Some(event) = self.dtls.poll_event() {
            match event {
                Event::Connected { srtp, .. } => self.keys = srtp,
                Event::ApplicationData(data) => self.received.extend_from_slice(&data),
                Event::Closed => self.closed_by_peer = true,
                Event::Failed(e) => self.failure = Some(e),
                other => panic!("unexpected event {other:?}"),
            }
        }
        let mut datagram = [0u8; 65536];
        match self.socket.recv_from(&mut datagram) {
            Ok((len, from)) => {
                self.peer.get_or_insert(from);
                self.dtls.handle_receive(Instant::now(), &datagram[..len]);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("recv: {e}"),
        }
        if self
            .dtls
            .poll_timeout()
            .is_some_and(|t| t <= Instant::now())
        {
            self.dtls.handle_timeout(Instant::now());
        }
    }

    fn run_until(
        &mut self,
        openssl: &mut Peer,
        what: &str,
        mut done: impl FnMut(&Ours, &Peer) -> bool,
    ) {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            self.turn();
            openssl.pump();
            if done(self, openssl) {
                return;
            }
            if let Some(e) = &self.failure {
                panic!(
                    "ferrtc-dtls failed while waiting for {what}: {e}; openssl said {:#?}",
                    openssl.seen
                );
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; state {:?}; openssl said {:#?}",
                self.dtls.state(),
                openssl.seen
            );
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// The shared scenario once both sides are running.
fn exchange(ours: &mut Ours, openssl: &mut Peer, expected_profile: SrtpProfile) {
    ours.run_until(openssl, "handshake", |o, p| {
        o.keys.is_some() && p.saw("Keying material: ")
    });

    // Keying material: OpenSSL exported 60 bytes; the TLS PRF is a stream,
    // so our export (the profile's length) must be its prefix (RFC 5705).
    let keys = ours.keys.clone().expect("keys");
    let (theirs, profile) = openssl.keying_material();
    assert_eq!(
        theirs.len().to_string(),
        openssl_keymat_len(expected_profile)
    );
    assert_eq!(profile, keys.profile.name());
    assert_eq!(keys.profile, expected_profile);
    let material = keys.keying_material();
    println!(
        "openssl: profile {profile}, keying material {}",
        hex(&theirs)
    );
    println!(
        "ferrtc:  profile {}, keying material {}",
        keys.profile,
        hex(&material)
    );
    assert_eq!(material.len(), keys.profile.keying_material_len());
    assert_eq!(
        material[..],
        theirs[..material.len()],
        "exported keying material differs"
    );

    // Application data both ways.
    ours.dtls
        .send_application_data(format!("{FROM_FERRTC}\n").as_bytes())
        .expect("send");
    ours.run_until(openssl, "our data at openssl", |_, p| p.saw(FROM_FERRTC));
    openssl.send_line(FROM_OPENSSL);
    ours.run_until(openssl, "openssl's data at ours", |o, _| {
        String::from_utf8_lossy(&o.received).contains(FROM_OPENSSL)
    });

    // Our close_notify ends OpenSSL's session.
    ours.dtls.close();
    ours.turn();
    assert!(
        openssl.exited_within(Duration::from_secs(10)),
        "openssl did not exit after close_notify"
    );
    openssl.pump();
}

/// How many bytes we ask OpenSSL to export: the brief's 60 unless the
/// profile needs more.
fn openssl_keymat_len(profile: SrtpProfile) -> &'static str {
    if profile.keying_material_len() > 60 {
        "88"
    } else {
        KEYMAT_LEN
    }
}

/// Starts `openssl s_server` on a free loopback port, waits until it listens.
fn s_server(dir: &TempDir, profiles: &str, keymat_len: &str) -> (Peer, SocketAddr, Fingerprint) {
    let identity = openssl_certificate(dir);
    s_server_with(identity, &[], profiles, keymat_len)
}

/// `openssl s_server` with a given identity and extra arguments.
fn s_server_with(
    (cert, key, fingerprint): (String, String, Fingerprint),
    extra: &[&str],
    profiles: &str,
    keymat_len: &str,
) -> (Peer, SocketAddr, Fingerprint) {
    let port = {
        let probe = UdpSocket::bind("127.0.0.1:0").expect("bind");
        probe.local_addr().expect("addr").port()
    };
    let accept = format!("127.0.0.1:{port}");
    let mut args = vec![
        "s_server",
        "-dtls1_2",
        "-accept",
        &accept,
        "-naccept",
        "1",
        "-cert",
        &cert,
        "-key",
        &key,
        "-verify",
        "1",
        "-use_srtp",
        profiles,
        "-keymatexport",
        "EXTRACTOR-dtls_srtp",
        "-keymatexportlen",
        keymat_len,
    ];
    args.extend_from_slice(extra);
    let mut openssl = Peer::spawn(&args);
    openssl.wait_for("ACCEPT");
    (openssl, accept.parse().expect("addr"), fingerprint)
}

#[test]
fn ferrtc_client_against_openssl_s_server() {
    if !interop_enabled() {
        return;
    }
    println!("{}", run_openssl(&["version"]).trim());
    let dir = TempDir::new("s_server");
    let (mut openssl, addr, fingerprint) = s_server(&dir, OPENSSL_PROFILES, KEYMAT_LEN);
    let ours_cert = Certificate::generate(SystemTime::now()).expect("cert");
    let mut ours = Ours::new(Role::Client, &ours_cert, fingerprint);
    ours.peer = Some(addr);
    // OpenSSL's server picks its first profile that we offered.
    exchange(&mut ours, &mut openssl, SrtpProfile::AeadAes128Gcm);
    // s_server asked for our certificate (-verify) and printed it.
    assert!(
        openssl.saw("CN = WebRTC") || openssl.saw("CN=WebRTC"),
        "{:#?}",
        openssl.seen
    );
}

#[test]
fn every_srtp_profile_exports_the_same_keys_as_openssl() {
    if !interop_enabled() {
        return;
    }
    for profile in SrtpProfile::ALL {
        let dir = TempDir::new(&format!("profile-{}", profile.id()));
        let (mut openssl, addr, fingerprint) =
            s_server(&dir, profile.name(), openssl_keymat_len(profile));
        let ours_cert = Certificate::generate(SystemTime::now()).expect("cert");
        let mut ours = Ours::new(Role::Client, &ours_cert, fingerprint);
        ours.peer = Some(addr);
        exchange(&mut ours, &mut openssl, profile);
    }
}

#[test]
fn wrong_fingerprint_for_openssl_fails_our_handshake() {
    if !interop_enabled() {
        return;
    }
    let dir = TempDir::new("mismatch");
    let (mut openssl, addr, _) = s_server(&dir, OPENSSL_PROFILES, KEYMAT_LEN);
    let ours_cert = Certificate::generate(SystemTime::now()).expect("cert");
    let someone_else = Certificate::generate(SystemTime::now()).expect("cert");
    let mut ours = Ours::new(
        Role::Client,
        &ours_cert,
        someone_else.fingerprints()[0].clone(),
    );
    ours.peer = Some(addr);
    let deadline = Instant::now() + TIMEOUT;
    while ours.failure.is_none() {
        assert!(
            Instant::now() < deadline,
            "no failure; openssl said {:#?}",
            openssl.seen
        );
        ours.turn();
        openssl.pump();
    }
    assert!(
        matches!(
            ours.failure,
            Some(ferrtc_dtls::Error::FingerprintMismatch { .. })
        ),
        "{:?}",
        ours.failure
    );
    assert!(ours.keys.is_none());
    // We sent bad_certificate, and OpenSSL says so instead of timing out.
    let deadline = Instant::now() + TIMEOUT;
    while !openssl.saw("bad certificate") {
        assert!(
            Instant::now() < deadline,
            "openssl did not report bad_certificate: {:#?}",
            openssl.seen
        );
        if let Ok(line) = openssl.lines.recv_timeout(Duration::from_millis(50)) {
            openssl.seen.push(line);
        }
    }
}

#[test]
fn ferrtc_rsa_client_against_openssl_rsa_s_server_with_ecdhe_rsa() {
    if !interop_enabled() {
        return;
    }
    let dir = TempDir::new("rsa-s_server");
    let identity = openssl_rsa_certificate(&dir);
    let (mut openssl, addr, fingerprint) = s_server_with(
        identity,
        &["-cipher", "ECDHE-RSA-AES128-GCM-SHA256"],
        OPENSSL_PROFILES,
        KEYMAT_LEN,
    );
    let ours_cert = Certificate::generate_with(
        KeyType::Rsa2048,
        SystemTime::now(),
        Duration::from_secs(86_400),
    )
    .expect("rsa cert");
    let mut ours = Ours::new(Role::Client, &ours_cert, fingerprint);
    ours.peer = Some(addr);
    exchange(&mut ours, &mut openssl, SrtpProfile::AeadAes128Gcm);
    assert_eq!(
        ours.dtls.cipher_suite(),
        Some(ferrtc_dtls::CipherSuite::EcdheRsaAes128Gcm)
    );
    assert!(
        openssl.saw("ECDHE-RSA-AES128-GCM-SHA256"),
        "{:#?}",
        openssl.seen
    );
}

#[test]
fn ferrtc_rsa_server_against_openssl_rsa_s_client() {
    if !interop_enabled() {
        return;
    }
    let dir = TempDir::new("rsa-s_client");
    let (cert, key, fingerprint) = openssl_rsa_certificate(&dir);
    let ours_cert = Certificate::generate_with(
        KeyType::Rsa2048,
        SystemTime::now(),
        Duration::from_secs(86_400),
    )
    .expect("rsa cert");
    let mut ours = Ours::new(Role::Server, &ours_cert, fingerprint);
    let connect = ours.socket.local_addr().expect("addr").to_string();
    let mut openssl = Peer::spawn(&[
        "s_client",
        "-dtls1_2",
        "-connect",
        &connect,
        "-cert",
        &cert,
        "-key",
        &key,
        "-nocommands",
        "-use_srtp",
        OPENSSL_PROFILES,
        "-keymatexport",
        "EXTRACTOR-dtls_srtp",
        "-keymatexportlen",
        KEYMAT_LEN,
    ]);
    exchange(&mut ours, &mut openssl, SrtpProfile::AeadAes128Gcm);
    assert_eq!(
        ours.dtls.cipher_suite(),
        Some(ferrtc_dtls::CipherSuite::EcdheRsaAes128Gcm)
    );
}

#[test]
fn ferrtc_server_against_openssl_s_client() {
    if !interop_enabled() {
        return;
    }
    let dir = TempDir::new("s_client");
    let (cert, key, fingerprint) = openssl_certificate(&dir);
    let ours_cert = Certificate::generate(SystemTime::now()).expect("cert");
    let mut ours = Ours::new(Role::Server, &ours_cert, fingerprint);
    let connect = ours.socket.local_addr().expect("addr").to_string();
    let mut openssl = Peer::spawn(&[
        "s_client",
        "-dtls1_2",
        "-connect",
        &connect,
        "-cert",
        &cert,
        "-key",
        &key,
        "-nocommands",
        "-use_srtp",
        OPENSSL_PROFILES,
        "-keymatexport",
        "EXTRACTOR-dtls_srtp",
        "-keymatexportlen",
        KEYMAT_LEN,
    ]);
    // Our server prefers AEAD_AES_128_GCM over AES128_CM_SHA1_80.
    exchange(&mut ours, &mut openssl, SrtpProfile::AeadAes128Gcm);
    // s_client printed our certificate: it is the one we generated.
    assert!(
        openssl.saw("CN = WebRTC") || openssl.saw("CN=WebRTC"),
        "{:#?}",
        openssl.seen
    );
}

#[test]
fn openssl_generated_pem_imports_with_the_same_fingerprint() {
    if !interop_enabled() {
        return;
    }
    let dir = TempDir::new("pem");
    let (cert, key, fingerprint) = openssl_certificate(&dir);
    let pem = std::fs::read_to_string(&cert).expect("cert")
        + &std::fs::read_to_string(&key).expect("key");
    let imported = Certificate::from_pem(&pem, SystemTime::now()).expect("import openssl PEM");
    assert_eq!(imported.fingerprints(), vec![fingerprint]);
}
