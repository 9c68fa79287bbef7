//! WHEP viewers on paths of different capacity get different simulcast
//! layers: headless Chromium publishes its fake camera by WHIP as three
//! layers (q/h/f, the demo page's Broadcast), three ferrtc viewers in this
//! test process watch by WHEP, and the one whose path is rate-limited by
//! the kernel gets the low layer while the other two keep the top one.
//!
//! ```text
//!  ns "…-a"                               ns "…-m" (IP forwarding)        ns "…-b"
//!  ferrtc signal, Chromium (WHIP),   ──veth── 10.201.1.1  10.201.2.1 ──veth── viewer 2
//!  viewers 0 and 1 (WHEP)                    tc tbf 300 kbit/s egress to b   (WHEP)
//!  10.201.1.2
//! ```
//!
//! The viewers are `ferrtc::PeerConnection`s, not Chromium pages (a
//! browser per namespace would need its own display of signaling); their
//! sockets are bound in their namespaces (`setns` on the test thread), and
//! their HTTP goes to the server from namespace a. What each viewer gets is
//! read from the VP8 frames it receives: the width in each keyframe's
//! header (RFC 6386 §9.1) is the layer's resolution, and holds for the
//! frames up to the next keyframe (the forwarder switches layers only at
//! keyframes).
//!
//! Needs root, `ip`, `tc` (the `tbf` qdisc), `node`, `/usr/bin/chromium`
//! (or `CHROMIUM`) and `npm ci --prefix interop/browser`. Runs only with
//! FERRTC_INTEROP=1. The namespaces are deleted on drop (and stale ones at
//! the next start).

#[path = "netns_common/mod.rs"]
mod netns_common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrtc::{
    Configuration, IceGatheringState, MediaKind, PeerConnection, PeerConnectionEvent,
    RtpTransceiverDirection, RtpTransceiverInit, SessionDescription,
};
use ferrtc_interop::interop_enabled;
use netns_common::{Lab, PREFIX, Side, run};

/// The constrained path's rate (tc tbf on the middle namespace's veth
/// towards viewer 2): above the low layer, below the middle one.
const LIMIT: &str = "300kbit";
/// How long the viewers watch; the last [`JUDGED`] of it is judged.
const WATCH: Duration = Duration::from_secs(30);
const JUDGED: Duration = Duration::from_secs(10);
const WAIT: Duration = Duration::from_secs(30);
/// How many layer switches the constrained viewer may make in the judged
/// window (a viewer probing up and falling back; more is flapping).
const MAX_SWITCHES: usize = 4;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("interop/ sits in the workspace")
        .to_path_buf()
}

/// Builds the `ferrtc` binary and returns its path.
fn build_ferrtc(root: &Path) -> PathBuf {
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

/// A child process killed when dropped, whatever the test's outcome.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The publisher (node, and the Chromium it launches) in namespace `ns`:
/// asked to stop by closing its stdin; when dropped, its process group is
/// ended (SIGTERM first: playwright closes its browser on it), then every
/// process left in the namespace but this one (Playwright starts Chromium
/// in a process group of its own), so that no browser survives a panic.
struct Publisher {
    child: Child,
    ns: String,
}

impl Publisher {
    /// Closes its stdin: it stops broadcasting and prints its report.
    fn stop(&mut self) {
        drop(self.child.stdin.take());
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.stop();
        let group = format!("-{}", self.child.id());
        let signal = |sig: &str, pid: &str| {
            let _ = Command::new("kill")
                .args([sig, "--", pid])
                .stderr(Stdio::null())
                .status();
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        signal("-TERM", &group);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(100));
        }
        signal("-KILL", &group);
        let _ = self.child.wait();
        let pids = Command::new("ip")
            .args(["netns", "pids", &self.ns])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let me = std::process::id().to_string();
        for pid in pids.split_whitespace().filter(|p| *p != me) {
            signal("-KILL", pid);
        }
    }
}

/// The lines of `from`, read on a thread of their own (so that waiting for
/// one can time out).
fn lines_of(from: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// One HTTP/1.1 request from namespace a (the signaling path is not the
/// one under test): status, `Location`, body.
fn http(
    lab: &Lab,
    port: u16,
    method: &str,
    path: &str,
    content_type: &str,
    body: &str,
) -> (u16, Option<String>, String) {
    let mut stream = lab.enter(lab.peer_ns(Side::A), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect to the server")
    });
    stream.set_read_timeout(Some(WAIT)).expect("timeout");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("request sent");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("a response");
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let location = head.lines().find_map(|l| {
        let (k, v) = l.split_once(": ")?;
        k.eq_ignore_ascii_case("location").then(|| v.to_owned())
    });
    (status, location, body.to_owned())
}

/// What a viewer received: per video frame, when, its size, and the width
/// of the keyframe it follows (0 before the first keyframe).
type Received = Arc<Mutex<Vec<(Instant, usize, u32)>>>;

/// The width in a VP8 keyframe's header (RFC 6386 §9.1: the 3-byte frame
/// tag, the start code 9d 01 2a, then 14 bits of width).
fn vp8_key_width(frame: &[u8]) -> Option<u32> {
    if frame.first()? & 1 != 0 || frame.get(3..6)? != [0x9d, 0x01, 0x2a] {
        return None;
    }
    let w = u16::from_le_bytes([*frame.get(6)?, *frame.get(7)?]);
    Some(u32::from(w & 0x3fff))
}

/// A WHEP viewer in namespace `side`: its offer by `POST`, its candidates
/// by `PATCH` (RFC 9725 §4.3.1), and a task recording its video frames.
async fn watch(lab: &Lab, side: Side, port: u16) -> (PeerConnection, Received) {
    let pc = lab
        .enter(lab.peer_ns(side), || {
            PeerConnection::new(Configuration::default())
        })
        .expect("a viewer's PeerConnection");
    let mut events = pc.subscribe();
    for kind in [MediaKind::Audio, MediaKind::Video] {
        let init = RtpTransceiverInit {
            direction: Some(RtpTransceiverDirection::RecvOnly),
            ..RtpTransceiverInit::default()
        };
        pc.add_transceiver(kind, init).await.expect("transceiver");
    }
    let offer = pc.create_offer().await.expect("offer");
    pc.set_local_description(Some(offer.clone()))
        .await
        .expect("local offer");
    let mut candidates = Vec::new();
    while let Some(event) = tokio::time::timeout(WAIT, events.recv())
        .await
        .expect("gathering in time")
    {
        match event {
            PeerConnectionEvent::IceCandidate(c) if !c.candidate.is_empty() => candidates.push(c),
            PeerConnectionEvent::IceGatheringStateChange(IceGatheringState::Complete) => break,
            _ => {}
        }
    }
    let (status, location, answer) =
        http(lab, port, "POST", "/whep", "application/sdp", &offer.sdp);
    assert_eq!(status, 201, "a viewer is let in: {answer}");
    pc.set_remote_description(SessionDescription::answer(answer))
        .await
        .expect("the server's answer");
    let ice = |prefix: &str| {
        offer
            .sdp
            .lines()
            .find_map(|l| l.trim_end().strip_prefix(prefix).map(str::to_owned))
            .expect("ICE credentials in the offer")
    };
    let mut frag = format!(
        "a=ice-ufrag:{}\r\na=ice-pwd:{}\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n",
        ice("a=ice-ufrag:"),
        ice("a=ice-pwd:")
    );
    for c in &candidates {
        frag.push_str(&format!("a={}\r\n", c.candidate));
    }
    frag.push_str("a=end-of-candidates\r\n");
    let location = location.expect("a Location");
    let (status, _, body) = http(
        lab,
        port,
        "PATCH",
        &location,
        "application/trickle-ice-sdpfrag",
        &frag,
    );
    assert_eq!(status, 204, "candidates patched: {body}");

    let mut video = loop {
        let event = tokio::time::timeout(WAIT, events.recv())
            .await
            .expect("a video track in time")
            .expect("events go on");
        if let PeerConnectionEvent::Track(t) = event
            && t.track.kind() == MediaKind::Video
        {
            break t.receiver.subscribe();
        }
    };
    let received: Received = Arc::default();
    let log = Arc::clone(&received);
    tokio::spawn(async move {
        let mut width = 0;
        while let Some(frame) = video.recv().await {
            if frame.keyframe
                && let Some(w) = vp8_key_width(&frame.data)
            {
                width = w;
            }
            if let Ok(mut log) = log.lock() {
                log.push((Instant::now(), frame.data.len(), width));
            }
        }
    });
    (pc, received)
}

/// Over the frames received since `since`: the width most of them had, the
/// share of them at it, the bitrate received, and how many times the width
/// changed (layer switches).
fn judge(received: &Received, since: Instant) -> (u32, f64, u64, usize) {
    let log = received.lock().expect("log");
    let frames: Vec<_> = log.iter().filter(|(at, _, _)| *at >= since).collect();
    let mut widths: Vec<u32> = frames.iter().map(|f| f.2).collect();
    widths.sort_unstable();
    let mut best = (0, 0);
    for w in &widths {
        let n = widths.iter().filter(|x| *x == w).count();
        if n > best.1 {
            best = (*w, n);
        }
    }
    let share = best.1 as f64 / frames.len().max(1) as f64;
    let bytes: usize = frames.iter().map(|f| f.1).sum();
    let bps = (bytes as f64 * 8.0 / JUDGED.as_secs_f64()) as u64;
    let switches = frames.windows(2).filter(|w| w[0].2 != w[1].2).count();
    (best.0, share, bps, switches)
}

#[test]
fn a_whep_viewer_on_a_rate_limited_path_gets_the_low_layer_while_the_others_keep_the_top_one() {
    if !interop_enabled() {
        return;
    }
    let root = workspace_root();
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
    let ferrtc = build_ferrtc(&root);

    let tag = "whepc";
    let lab = Lab::new(tag);
    let (a, b) = (
        lab.peer_ns(Side::A).to_owned(),
        lab.peer_ns(Side::B).to_owned(),
    );
    let middle = format!("{PREFIX}{}-{tag}-m", std::process::id());
    // The middle namespace routes between a and b; its veth towards b
    // sends at most LIMIT (a token bucket with a short queue).
    #[rustfmt::skip]
    run("ip", &["netns", "exec", &middle, "sysctl", "-qw", "net.ipv4.ip_forward=1"], None);
    #[rustfmt::skip]
    run("ip", &["netns", "exec", &middle, "tc", "qdisc", "add", "dev", Side::B.middle_dev(),
                "root", "tbf", "rate", LIMIT, "burst", "16kb", "latency", "150ms"], None);
    // Namespace a talks to itself (the page's server is on 127.0.0.1,
    // a secure context for getUserMedia).
    run("ip", &["-n", &a, "link", "set", "lo", "up"], None);
    let _ = b;

    let mut server = Command::new("ip")
        .args(["netns", "exec", &a])
        .arg(&ferrtc)
        .args(["signal", "--listen", "0.0.0.0:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("ferrtc signal starts");
    let stdout = server.stdout.take().expect("piped stdout");
    let server = Killed(server);
    let server_lines = lines_of(stdout);
    let line = server_lines
        .recv_timeout(WAIT)
        .expect("the server prints its address in time");
    let addr: SocketAddr = line
        .trim()
        .strip_prefix("listening on http://")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line from the server: {line:?}"));
    let port = addr.port();

    let node = std::env::var("FERRTC_NODE").unwrap_or_else(|_| "node".into());
    // It broadcasts until its stdin closes (at most 10 minutes); in a
    // process group of its own, ended on drop.
    let mut child = Command::new("ip")
        .args(["netns", "exec", &a, &node])
        .arg(root.join("interop/scripts/whep_constrained.mjs"))
        .arg(format!("http://127.0.0.1:{port}/"))
        .arg("600")
        .env("CHROMIUM", &chromium)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .process_group(0)
        .spawn()
        .expect("node runs");
    let lines = lines_of(child.stdout.take().expect("piped stdout"));
    let mut publisher = Publisher {
        child,
        ns: a.clone(),
    };
    let first = lines
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_default();
    assert_eq!(first, "broadcasting", "Chromium broadcasts by WHIP");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let judged = rt.block_on(async {
        // The publisher's encoder ramps up its layers first.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let mut viewers = Vec::new();
        for side in [Side::A, Side::A, Side::B] {
            viewers.push(watch(&lab, side, port).await);
        }
        tokio::time::sleep(WATCH - JUDGED).await;
        let since = Instant::now();
        tokio::time::sleep(JUDGED).await;
        let judged: Vec<_> = viewers.iter().map(|(_, r)| judge(r, since)).collect();
        for (pc, _) in &viewers {
            pc.close().await;
        }
        judged
    });
    // Told to stop, the publisher reports what it sent.
    publisher.stop();
    let report = lines.recv_timeout(WAIT).unwrap_or_default();
    drop(publisher);
    drop(server);
    println!("viewers (width, share of frames, bit/s, switches): {judged:?}");
    println!("publisher: {report}");

    let sent: serde_json::Value = serde_json::from_str(&report).unwrap_or_default();
    let rids: Vec<&str> = sent["layers_sent"]
        .as_array()
        .map(|l| l.iter().filter_map(|l| l["rid"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        rids,
        ["f", "h", "q"],
        "Chromium sends three layers: {report}"
    );
    let [(w0, s0, _, _), (w1, s1, _, _), (w2, s2, r2, n2)] = judged[..] else {
        panic!("three viewers: {judged:?}");
    };
    let top = w0.max(w1);
    assert!(
        w0 == top && w1 == top,
        "the free viewers keep one top layer: {judged:?}"
    );
    // Most of the time: a probe or a dip of the estimate may move a free
    // viewer down for a few seconds (the estimator needs ~3 s to recover).
    assert!(s0 > 0.75 && s1 > 0.75, "and stay on it: {judged:?}");
    assert!(
        w2 > 0 && w2 * 4 <= top,
        "the constrained viewer gets the quarter-size layer: {judged:?}"
    );
    // Most of the time: a failed probe up holds it ~3 s on the middle one.
    assert!(s2 > 0.6, "most of the time: {judged:?}");
    assert!(r2 < 300_000, "within its path's rate: {judged:?}");
    assert!(
        n2 <= MAX_SWITCHES,
        "the constrained viewer does not flap between layers: {judged:?}"
    );
    drop(lab);
    assert!(
        !run("ip", &["netns", "list"], None)
            .contains(&format!("{PREFIX}{}-{tag}", std::process::id())),
        "the namespaces are gone"
    );
}
