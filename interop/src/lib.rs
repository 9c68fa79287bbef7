//! Helpers for the interop tests: locating and starting the real peers
//! (Python peers from the project venv, coturn) and driving a sans-IO
//! [`ferrtc_ice::Agent`] over a real UDP socket on loopback.
//!
//! Interop tests run only when `FERRTC_INTEROP=1` ([`interop_enabled`]);
//! then a missing peer is a failure, not a skip.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ferrtc_ice::{Agent, AgentConfig, Event, Receive};

/// Whether interop tests should run (`FERRTC_INTEROP=1`). When not, prints
/// "skipped: set FERRTC_INTEROP=1" so the test output says why it passed.
pub fn interop_enabled() -> bool {
    if std::env::var("FERRTC_INTEROP").as_deref() == Ok("1") {
        true
    } else {
        println!("skipped: set FERRTC_INTEROP=1");
        false
    }
}

/// The Python of the project venv: `FERRTC_PYTHON`, else `../.venv/bin/python`
/// beside this crate.
pub fn python() -> PathBuf {
    match std::env::var_os("FERRTC_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python"),
    }
}

/// A script in `interop/scripts/`.
pub fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join(name)
}

/// A file or directory in the system temp dir, removed (a directory with
/// everything in it) when dropped, so that a test leaves nothing behind
/// whether it passes or panics.
///
/// Declare it before the processes that use it: locals drop in reverse
/// order, so they are gone before the path is removed.
pub struct TempPath(PathBuf);

impl TempPath {
    /// `name` in the temp dir, a leftover of an earlier run removed;
    /// nothing is created (a process of the test makes it).
    pub fn new(name: impl AsRef<Path>) -> TempPath {
        let path = TempPath(std::env::temp_dir().join(name));
        path.remove();
        path
    }

    /// A new, empty directory `name` in the temp dir.
    pub fn dir(name: impl AsRef<Path>) -> TempPath {
        let dir = TempPath::new(name);
        std::fs::create_dir_all(&dir.0)
            .unwrap_or_else(|e| panic!("create {}: {e}", dir.0.display()));
        dir
    }

    /// A file `name` in the temp dir holding `contents`.
    pub fn file(name: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> TempPath {
        let file = TempPath::new(name);
        std::fs::write(&file.0, contents)
            .unwrap_or_else(|e| panic!("write {}: {e}", file.0.display()));
        file
    }

    fn remove(&self) {
        match std::fs::symlink_metadata(&self.0) {
            Ok(meta) if meta.is_dir() => {
                let _ = std::fs::remove_dir_all(&self.0);
            }
            Ok(_) => {
                let _ = std::fs::remove_file(&self.0);
            }
            Err(_) => {}
        }
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        self.remove();
    }
}

impl std::ops::Deref for TempPath {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TempPath {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<std::ffi::OsStr> for TempPath {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.0.as_os_str()
    }
}

/// A UDP port on 127.0.0.1 that was free a moment ago.
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("bind a UDP socket on 127.0.0.1")
}

/// A child process spoken to in lines: we write its stdin, a thread reads
/// its stdout. Its stderr goes to the test's stderr. Killed on drop.
pub struct LinePeer {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl LinePeer {
    /// Starts `program` with `args`; panics (a test failure) if it cannot.
    pub fn spawn(program: &std::path::Path, args: &[&str]) -> LinePeer {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let stdin = child.stdin.take();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        LinePeer {
            child,
            stdin,
            lines,
        }
    }

    /// Writes one line to the child's stdin.
    pub fn send_line(&mut self, line: &str) {
        if let Some(stdin) = &mut self.stdin {
            let _ = writeln!(stdin, "{line}");
            let _ = stdin.flush();
        }
    }

    /// The next stdout line, waiting at most `timeout`.
    pub fn recv_line(&self, timeout: Duration) -> Option<String> {
        self.lines.recv_timeout(timeout).ok()
    }

    /// The next stdout line if one is ready.
    pub fn try_recv_line(&self) -> Option<String> {
        self.lines.try_recv().ok()
    }
}

impl Drop for LinePeer {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// coturn (`turnserver`) on 127.0.0.1 and a free port, as a STUN-only or a
/// TURN server. Killed on drop; its pidfile and log are removed then.
pub struct Coturn {
    child: Child,
    /// Where it listens (UDP, and TCP when started with
    /// [`Coturn::start_turn_streams`]).
    pub addr: SocketAddr,
    /// Where it listens for TLS, when started with
    /// [`Coturn::start_turn_streams`].
    pub tls_addr: Option<SocketAddr>,
    // Removed as fields, after `Drop::drop` has killed the server.
    _pidfile: TempPath,
    log: TempPath,
}

impl Coturn {
    /// Starts `turnserver` and waits (up to 10 s) until it answers; panics
    /// (a test failure) if it cannot be started.
    pub fn start_stun_only() -> Coturn {
        Coturn::spawn(&["--stun-only", "--no-tls"], None)
    }

    /// Starts `turnserver` as a TURN server on 127.0.0.1 and a free port
    /// (UDP only), relaying on 127.0.0.1 to loopback peers, with `auth`
    /// giving the credential options (e.g. `--lt-cred-mech --user
    /// alice:secret --realm ferrtc.test`, or `--use-auth-secret
    /// --static-auth-secret S --realm ferrtc.test`); waits (up to 10 s)
    /// until it answers.
    pub fn start_turn(auth: &[&str]) -> Coturn {
        let mut options = TURN_OPTIONS.to_vec();
        options.extend_from_slice(&["--no-tcp", "--no-tls"]);
        options.extend_from_slice(auth);
        Coturn::spawn(&options, None)
    }

    /// Like [`Coturn::start_turn`], listening on UDP and TCP at
    /// [`Coturn::addr`] (no TLS).
    pub fn start_turn_tcp(auth: &[&str]) -> Coturn {
        let mut options = TURN_OPTIONS.to_vec();
        options.push("--no-tls");
        options.extend_from_slice(auth);
        Coturn::spawn(&options, None)
    }

    /// Like [`Coturn::start_turn`], listening on UDP and TCP at
    /// [`Coturn::addr`] and on TLS at [`Coturn::tls_addr`] with the PEM
    /// certificate chain `cert` and private key `key` (RFC 8656 §3.1).
    pub fn start_turn_streams(auth: &[&str], cert: &Path, key: &Path) -> Coturn {
        let tls_port = free_tcp_port();
        let tls_port_text = tls_port.to_string();
        let (cert, key) = (cert.to_string_lossy(), key.to_string_lossy());
        let mut options = TURN_OPTIONS.to_vec();
        options.extend_from_slice(&[
            "--tls-listening-port",
            &tls_port_text,
            "--cert",
            &cert,
            "--pkey",
            &key,
        ]);
        options.extend_from_slice(auth);
        Coturn::spawn(&options, Some(tls_port))
    }

    /// `turnserver` on 127.0.0.1 and a free port, without DTLS or its CLI,
    /// logging to a file, with `options` added; ready when it answers a
    /// Binding request (up to 10 s), else the test fails with its log.
    fn spawn(options: &[&str], tls_port: Option<u16>) -> Coturn {
        // coturn listens on UDP and TCP at this port: both must be free.
        let port = free_udp_and_tcp_port();
        let pidfile = TempPath::new(format!("ferrtc-coturn-{port}.pid"));
        let log = TempPath::new(format!("ferrtc-coturn-{port}.log"));
        let log_file = std::fs::File::create(&log)
            .unwrap_or_else(|e| panic!("create coturn's log {}: {e}", log.display()));
        let log_err = log_file
            .try_clone()
            .unwrap_or_else(|e| panic!("share coturn's log {}: {e}", log.display()));
        let child = Command::new("turnserver")
            .args(["-n", "--listening-ip", "127.0.0.1", "--listening-port"])
            .arg(port.to_string())
            .args(options)
            .args([
                "--no-dtls",
                "--no-cli",
                "--log-file",
                "stdout",
                "--simple-log",
                "--pidfile",
            ])
            .arg(&pidfile)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log_file))
            .stderr(Stdio::from(log_err))
            .spawn()
            .unwrap_or_else(|e| panic!("FERRTC_INTEROP=1 but `turnserver` could not start: {e}"));
        let mut coturn = Coturn {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            tls_addr: tls_port.map(|p| SocketAddr::from(([127, 0, 0, 1], p))),
            _pidfile: pidfile,
            log,
        };
        coturn.wait_ready(Duration::from_secs(10));
        coturn
    }

    /// What coturn logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the server answers a bare Binding request (RFC 8489
    /// §5: type 0x0001, length 0, magic cookie, transaction id), so that
    /// tests measure the client, not coturn's start-up; and, with TLS,
    /// until its TLS port accepts connections. Panics with coturn's log if
    /// it does not get there within `limit` or exits.
    fn wait_ready(&mut self, limit: Duration) {
        let probe = UdpSocket::bind("127.0.0.1:0").expect("bind a UDP socket on 127.0.0.1");
        let _ = probe.set_read_timeout(Some(Duration::from_millis(20)));
        let mut request = [0u8; 20];
        request[1] = 0x01;
        request[4..8].copy_from_slice(&0x2112_A442u32.to_be_bytes());
        request[8..].copy_from_slice(b"ferrtc-ready");
        let end = Instant::now() + limit;
        let mut answer = [0u8; 512];
        let mut udp_ready = false;
        while Instant::now() < end {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("turnserver exited ({status}); its log:\n{}", self.log());
            }
            if !udp_ready {
                let _ = probe.send_to(&request, self.addr);
                udp_ready = matches!(probe.recv_from(&mut answer),
                    Ok((n, _)) if n >= 20 && answer[8..20] == request[8..]);
            }
            let tls_ready = self.tls_addr.is_none_or(|a| {
                std::net::TcpStream::connect_timeout(&a, Duration::from_millis(20)).is_ok()
            });
            if udp_ready && tls_ready {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!(
            "turnserver did not answer on {} within {limit:?}; its log:\n{}",
            self.addr,
            self.log()
        );
    }
}

/// Options of every TURN-mode coturn: relay on loopback to loopback peers.
const TURN_OPTIONS: [&str; 3] = ["--relay-ip", "127.0.0.1", "--allow-loopback-peers"];

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Then the pidfile and the log go with their fields.
    }
}

/// A port on 127.0.0.1 free for both UDP and TCP a moment ago (a server
/// that listens on both at one port; a UDP port alone may be taken on TCP
/// by another test running in parallel).
pub fn free_udp_and_tcp_port() -> u16 {
    for _ in 0..64 {
        let port = free_udp_port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no port free for both UDP and TCP on 127.0.0.1")
}

/// A free TCP port on 127.0.0.1 (bound, then released).
pub fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("bind a TCP socket on 127.0.0.1")
}

/// A sans-IO ICE agent driven over one real UDP socket on 127.0.0.1: a
/// blocking loop that sends what the agent wants, feeds it what arrives and
/// its timers.
pub struct IceSocket {
    /// The agent.
    pub agent: Agent,
    /// The socket (its address is the agent's only host candidate).
    pub socket: UdpSocket,
    /// The socket's address.
    pub local: SocketAddr,
    /// Application datagrams received on validated pairs.
    pub received: Vec<Vec<u8>>,
    /// Every event the agent gave.
    pub events: Vec<Event>,
    buf: Vec<u8>,
}

impl IceSocket {
    /// Binds 127.0.0.1:0 and makes an agent with it as host candidate.
    pub fn bind(config: AgentConfig) -> std::io::Result<IceSocket> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        let local = socket.local_addr()?;
        let mut agent = Agent::new(config, Instant::now());
        agent
            .add_local_host(local)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(IceSocket {
            agent,
            socket,
            local,
            received: Vec::new(),
            events: Vec::new(),
            buf: Vec::with_capacity(2048),
        })
    }

    /// Sends everything the agent has to send and collects its events.
    pub fn flush(&mut self) {
        let now = Instant::now();
        while let Some(t) = self.agent.poll_transmit(now, &mut self.buf) {
            let _ = self.socket.send_to(&self.buf, t.destination);
        }
        while let Some(e) = self.agent.poll_event() {
            self.events.push(e);
        }
    }

    /// One turn of the loop: flush, wait for a datagram or the agent's next
    /// timer (at most `max_wait`), feed it, flush again.
    pub fn turn(&mut self, max_wait: Duration) {
        self.flush();
        let now = Instant::now();
        let wait = self
            .agent
            .poll_timeout()
            .map_or(max_wait, |t| t.saturating_duration_since(now))
            .clamp(Duration::from_millis(1), max_wait);
        let _ = self.socket.set_read_timeout(Some(wait));
        let mut data = [0u8; 2048];
        if let Ok((n, from)) = self.socket.recv_from(&mut data) {
            let now = Instant::now();
            let payload = data.get(..n).unwrap_or_default();
            if let Receive::Data(d) = self.agent.handle_receive(now, from, self.local, payload) {
                self.received.push(d.to_vec());
            }
        }
        let now = Instant::now();
        if self.agent.poll_timeout().is_some_and(|t| t <= now) {
            self.agent.handle_timeout(now);
        }
        self.flush();
    }

    /// Turns until `done` or `limit`; returns whether `done` became true.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&IceSocket) -> bool) -> bool {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            self.flush();
            if done(self) {
                return true;
            }
            self.turn(Duration::from_millis(20));
        }
        done(self)
    }

    /// Sends application data on the selected pair.
    pub fn send(&mut self, data: &[u8]) -> Result<(), String> {
        let mut datagram = data.to_vec();
        let t = self.agent.send(&mut datagram).map_err(|e| e.to_string())?;
        self.socket
            .send_to(&datagram, t.destination)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// The workspace's root directory (the parent of `interop/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("interop/ sits in the workspace")
        .to_path_buf()
}

/// Builds the `ferrtc` binary and returns its path.
pub fn build_ferrtc(root: &Path) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(root)
        .args([
            "build",
            "-q",
            "-p",
            "ferrtc-cli",
            "--bin",
            "ferrtc",
            "--message-format=json",
        ])
        .stderr(Stdio::inherit())
        .output()
        .expect("cargo runs");
    assert!(output.status.success(), "building the ferrtc binary failed");
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|v| v["reason"] == "compiler-artifact" && v["target"]["name"] == "ferrtc")
        .find_map(|v| v["executable"].as_str().map(PathBuf::from))
        .expect("cargo reported the ferrtc executable")
}

/// A process under test (a server); killed when dropped, whatever the
/// test's outcome.
pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Headless Chromium's path (`$CHROMIUM`, else `/usr/bin/chromium`) once
/// it and the Node driver the browser scripts use (`playwright-core`) are
/// installed; a missing one fails the test with the command that installs
/// it.
pub fn chromium(root: &Path) -> String {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} is missing: apt-get install chromium"
    );
    assert!(
        root.join("interop/browser/node_modules/playwright-core")
            .exists(),
        "playwright-core is missing: npm ci --prefix interop/browser"
    );
    chromium
}

/// Starts `ferrtc <args>` (a server listening on port 0) and reads the
/// first line it prints, `listening on URL`: the running server and its
/// URL. `stderr` is where the server's log goes.
pub fn start_listening(ferrtc: &Path, args: &[&str], stderr: Stdio) -> (Server, String) {
    let mut child = Command::new(ferrtc)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap_or_else(|e| panic!("ferrtc {} does not start: {e}", args.join(" ")));
    let stdout = child.stdout.take().expect("piped stdout");
    let server = Server(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("the server prints its address");
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line from the server: {line:?}"))
        .to_owned();
    (server, url)
}

/// Runs the browser script `interop/scripts/<name>` under Node
/// (`$FERRTC_NODE`, else `node`) with `args` and `CHROMIUM` set, its
/// standard error shown: its exit status and standard output, or `None`
/// when it did not finish within `limit` (it is killed then).
pub fn run_browser_script(
    name: &str,
    args: &[&str],
    chromium: &str,
    limit: Duration,
) -> Option<(std::process::ExitStatus, String)> {
    let node = std::env::var("FERRTC_NODE").unwrap_or_else(|_| "node".into());
    let mut browser = Command::new(node)
        .arg(script(name))
        .args(args)
        .env("CHROMIUM", chromium)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node runs");
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = browser.try_wait().expect("wait for node") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = browser.kill();
            let _ = browser.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = browser.wait_with_output().expect("node output");
    Some((status, String::from_utf8_lossy(&output.stdout).into_owned()))
}
