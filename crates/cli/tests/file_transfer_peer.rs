//! `ferrtc recv` and `ferrtc send` against an in-process peer that speaks
//! the file framing (crates/cli/src/file.rs) itself, correctly or not: bad
//! control messages, wrong sizes and hashes, names that try to leave the
//! directory, hang-ups mid-way. Each must end in a clear error and exit 1,
//! never a panic, a hang or a write outside `--out DIR`.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::TempPath;
use ferrtc::{
    Configuration, DataChannel, DataChannelEvent, DataChannelInit, DataChannelMessage,
    IceCandidateInit, PeerConnection, PeerConnectionEvent, SessionDescription,
};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

const TIMEOUT: Duration = Duration::from_secs(20);

/// A running `ferrtc send|recv` joined to an in-process connection.
struct Run {
    child: Child,
    /// Lines to the child's stdin; an empty string closes it.
    lines: mpsc::UnboundedSender<String>,
    pc: PeerConnection,
}

fn line(v: &Value) -> String {
    format!("{v}\n")
}

/// A fresh directory for one test, removed when dropped.
fn scratch(name: &str) -> TempPath {
    TempPath::dir(format!("ferrtc-file-peer-{}-{name}", std::process::id()))
}

/// Starts `ferrtc ARGS` with stdio signaling relayed to a new connection;
/// the channels the child opens go to the returned receiver. With
/// `offer`, the connection first makes a channel of that label and sends
/// its offer, before any of its candidates.
async fn start(
    args: &[&std::ffi::OsStr],
    offer: Option<&str>,
) -> (
    Run,
    mpsc::UnboundedReceiver<DataChannel>,
    Option<DataChannel>,
) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferrtc"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("ferrtc binary runs");
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        while let Some(line) = rx.recv().await {
            if line.is_empty() {
                break;
            }
            if stdin.write_all(line.as_bytes()).await.is_err() || stdin.flush().await.is_err() {
                break;
            }
        }
    });
    let pc = PeerConnection::new(Configuration::default()).unwrap();
    let mut offered = None;
    if let Some(label) = offer {
        offered = Some(
            pc.create_data_channel(label, DataChannelInit::default())
                .await
                .unwrap(),
        );
        let offer = pc.create_offer().await.unwrap();
        pc.set_local_description(Some(offer.clone())).await.unwrap();
        tx.send(line(&json!({"type":"offer","sdp":offer.sdp})))
            .unwrap();
    }
    let (ctx, crx) = mpsc::unbounded_channel();
    let relay_pc = pc.clone();
    let to_child = tx.clone();
    tokio::spawn(async move {
        let pc = relay_pc;
        let mut lines = BufReader::new(stdout).lines();
        loop {
            tokio::select! {
                l = lines.next_line() => {
                    let Ok(Some(l)) = l else { break };
                    let v: Value = serde_json::from_str(&l).expect("stdout carries JSON lines only");
                    match v["type"].as_str() {
                        Some("offer") => {
                            pc.set_remote_description(SessionDescription::offer(v["sdp"].as_str().unwrap())).await.unwrap();
                            let answer = pc.create_answer().await.unwrap();
                            pc.set_local_description(Some(answer.clone())).await.unwrap();
                            let _ = to_child.send(line(&json!({"type":"answer","sdp":answer.sdp})));
                        }
                        Some("answer") => {
                            pc.set_remote_description(SessionDescription::answer(v["sdp"].as_str().unwrap())).await.unwrap();
                        }
                        Some("candidate") => {
                            let c: IceCandidateInit = serde_json::from_value(v).unwrap();
                            let _ = pc.add_ice_candidate(c).await;
                        }
                        other => panic!("unexpected line type {other:?}"),
                    }
                }
                ev = pc.next_event() => match ev {
                    Some(PeerConnectionEvent::IceCandidate(c)) => {
                        let mut v = serde_json::to_value(&c).unwrap();
                        v["type"] = json!("candidate");
                        let _ = to_child.send(line(&v));
                    }
                    Some(PeerConnectionEvent::DataChannel(dc)) => { let _ = ctx.send(dc); }
                    Some(_) => {}
                    None => break,
                }
            }
        }
    });
    (
        Run {
            child,
            lines: tx,
            pc,
        },
        crx,
        offered,
    )
}

/// Starts `ferrtc recv --out DIR --signal stdio` and opens the `file`
/// channel to it, as `ferrtc send` does.
async fn recv_with_channel(dir: &Path) -> (Run, DataChannel) {
    let (run, _channels, dc) = start(
        &[
            "recv".as_ref(),
            "--out".as_ref(),
            dir.as_os_str(),
            "--signal".as_ref(),
            "stdio".as_ref(),
        ],
        Some("file"),
    )
    .await;
    let dc = dc.unwrap();
    tokio::time::timeout(TIMEOUT, dc.wait_open())
        .await
        .expect("open in time")
        .unwrap();
    (run, dc)
}

/// Starts `ferrtc send FILE --signal stdio` and answers it; returns the
/// `file` channel it opens.
async fn send_with_channel(file: &Path) -> (Run, DataChannel) {
    let (run, mut channels, _) = start(
        &[
            "send".as_ref(),
            file.as_os_str(),
            "--signal".as_ref(),
            "stdio".as_ref(),
        ],
        None,
    )
    .await;
    let dc = tokio::time::timeout(TIMEOUT, channels.recv())
        .await
        .expect("channel in time")
        .unwrap();
    (run, dc)
}

/// The next message, or `None` when the channel closes or nothing comes
/// within the timeout.
async fn next_message(dc: &DataChannel) -> Option<DataChannelMessage> {
    loop {
        match tokio::time::timeout(TIMEOUT, dc.recv()).await {
            Ok(Some(DataChannelEvent::Message(m))) => {
                return Some(std::sync::Arc::unwrap_or_clone(m));
            }
            Ok(Some(DataChannelEvent::Close)) | Ok(None) | Err(_) => return None,
            Ok(Some(_)) => continue,
        }
    }
}

/// The receiver's verdict as JSON.
async fn verdict(dc: &DataChannel) -> Value {
    match next_message(dc).await {
        Some(DataChannelMessage::Text(t)) => serde_json::from_str(&t).expect("verdict is JSON"),
        other => panic!("no verdict: {other:?}"),
    }
}

/// Closes the child's stdin (as the real peer's exit does, through the
/// FIFOs or the relay), waits for it to exit, returns its exit code and
/// stderr.
async fn exit(run: Run) -> (Option<i32>, String) {
    let _ = run.lines.send(String::new());
    exited(run).await
}

/// Waits for the child to exit on its own (stdin still open), returns its
/// exit code and stderr.
async fn exited(mut run: Run) -> (Option<i32>, String) {
    let status = tokio::time::timeout(TIMEOUT, run.child.wait())
        .await
        .expect("ferrtc exits in time")
        .unwrap();
    let mut stderr = String::new();
    run.child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .await
        .unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    (status.code(), stderr)
}

fn sha256_hex(data: &[u8]) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Files in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Sends a whole file the way `ferrtc send` does, with `trailer_data` as
/// the bytes whose digest the trailer names.
async fn send_framed(dc: &DataChannel, name: &str, data: &[u8], trailer_data: &[u8]) {
    dc.send_text(&json!({"name": name, "size": data.len()}).to_string())
        .await
        .unwrap();
    for chunk in data.chunks(16 * 1024) {
        dc.send_binary(chunk).await.unwrap();
    }
    dc.send_text(&json!({"sha256": sha256_hex(trailer_data)}).to_string())
        .await
        .unwrap();
}

/// Names with directories, `..`, `.`, empty or absolute are refused
/// (nothing may be written outside `--out DIR`), and `recv` exits 1 with
/// the reason even when the sender hangs up as soon as it reads the
/// refusal, as `ferrtc send` does.
#[tokio::test(flavor = "current_thread")]
async fn names_that_leave_the_directory_are_refused_with_the_reason() {
    for name in ["../escape", "a/b", "..", ".", "", "/tmp/escape", "sub/"] {
        let dir = scratch("names");
        let out = dir.join("out");
        std::fs::create_dir(&out).unwrap();
        let (run, dc) = recv_with_channel(&out).await;
        send_framed(&dc, name, b"abc", b"abc").await;
        let v = verdict(&dc).await;
        assert_eq!(v["ok"], false, "{name:?}: {v}");
        let (code, stderr) = exit(run).await;
        assert_eq!(code, Some(1), "{name:?}: {stderr}");
        assert!(
            stderr.contains("refused file name"),
            "{name:?}: the reason is lost: {stderr}"
        );
        assert_eq!(listing(&dir), ["out"], "{name:?}");
        assert!(listing(&out).is_empty(), "{name:?}: {:?}", listing(&out));
    }
}

/// Control messages that do not parse as the framing's JSON (not JSON, a
/// negative or fractional size, missing fields) are refused with a reason
/// in the verdict and in `recv`'s exit message, never a panic.
#[tokio::test(flavor = "current_thread")]
async fn malformed_headers_are_refused_with_the_reason() {
    for header in [
        "not json".to_owned(),
        json!({"name":"x","size":-1}).to_string(),
        json!({"name":"x","size":1.5}).to_string(),
        json!({"name":"x"}).to_string(),
        json!({"sha256":"00"}).to_string(),
    ] {
        let dir = scratch("headers");
        let (run, dc) = recv_with_channel(&dir).await;
        dc.send_text(&header).await.unwrap();
        let v = verdict(&dc).await;
        assert_eq!(v["ok"], false, "{header}: {v}");
        assert!(
            v["error"].as_str().unwrap().contains("bad control message"),
            "{header}: {v}"
        );
        let (code, stderr) = exit(run).await;
        assert_eq!(code, Some(1), "{header}: {stderr}");
        assert!(
            stderr.contains("bad control message"),
            "{header}: the reason is lost: {stderr}"
        );
        assert!(listing(&dir).is_empty(), "{header}: {:?}", listing(&dir));
    }
}

/// A digest that does not match the bytes received fails the transfer
/// (exit 1, the mismatch named), and the bytes are not left under the
/// announced name, where they would pass for the file.
#[tokio::test(flavor = "current_thread")]
async fn a_wrong_sha256_fails_and_leaves_no_file_under_the_name() {
    let dir = scratch("hash");
    let (run, dc) = recv_with_channel(&dir).await;
    send_framed(&dc, "f.bin", b"abc", b"abd").await;
    let v = verdict(&dc).await;
    assert_eq!(v["ok"], false, "{v}");
    let (code, stderr) = exit(run).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("SHA-256 mismatch"), "{stderr}");
    assert!(listing(&dir).is_empty(), "{:?}", listing(&dir));
}

/// A sender that hangs up mid-way: `recv` exits 1 saying how far it got,
/// leaves no partial file, and a file of that name already in the
/// directory is left as it was.
#[tokio::test(flavor = "current_thread")]
async fn a_sender_that_hangs_up_mid_way_leaves_the_directory_as_it_was() {
    let dir = scratch("hangup");
    std::fs::write(dir.join("f.bin"), b"the old one").unwrap();
    let (run, dc) = recv_with_channel(&dir).await;
    dc.send_text(&json!({"name":"f.bin","size":100_000}).to_string())
        .await
        .unwrap();
    dc.send_binary(&[1u8; 5000]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    run.pc.close().await;
    let (code, stderr) = exited(run).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("5000 of 100000 bytes"), "{stderr}");
    assert_eq!(listing(&dir), ["f.bin"]);
    assert!(
        std::fs::read(dir.join("f.bin")).unwrap() == b"the old one",
        "the file already there was overwritten"
    );
}

/// An empty file, and a file that replaces one of the same name: both
/// arrive whole and confirmed.
#[tokio::test(flavor = "current_thread")]
async fn an_empty_file_arrives_and_a_good_file_replaces_its_namesake() {
    let dir = scratch("empty");
    std::fs::write(dir.join("empty.txt"), b"was not empty").unwrap();
    let (run, dc) = recv_with_channel(&dir).await;
    send_framed(&dc, "empty.txt", b"", b"").await;
    let v = verdict(&dc).await;
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["sha256"], sha256_hex(b""), "{v}");
    let (code, stderr) = exit(run).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(listing(&dir), ["empty.txt"]);
    assert_eq!(std::fs::read(dir.join("empty.txt")).unwrap(), b"");
}

/// A receiver that refuses while the file is still being sent (its
/// `{"ok":false,...}` can come at any time, e.g. after the header): `send`
/// stops and exits 1 with the receiver's reason, instead of sending on
/// (or waiting on back-pressure) and failing on the hang-up.
#[tokio::test(flavor = "current_thread")]
async fn the_sender_stops_at_an_early_refusal_with_the_receivers_reason() {
    let dir = scratch("send-refused");
    let src = dir.join("big.bin");
    std::fs::write(&src, vec![7u8; 20 << 20]).unwrap();
    let (run, dc) = send_with_channel(&src).await;
    let header = next_message(&dc).await;
    assert!(
        matches!(&header, Some(DataChannelMessage::Text(t)) if t.contains("big.bin")),
        "{header:?}"
    );
    dc.send_text(&json!({"ok":false,"error":"disk full"}).to_string())
        .await
        .unwrap();
    let (code, stderr) = exited(run).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("receiver refused: disk full"), "{stderr}");
}

/// A verdict that does not confirm the file's digest (none, another one,
/// not the framing's JSON) fails `send` with a message that says what was
/// wrong.
#[tokio::test(flavor = "current_thread")]
async fn the_sender_fails_on_a_verdict_that_does_not_confirm_its_digest() {
    for (verdict, says) in [
        ("{\"ok\":true}", "without its SHA-256"),
        ("{\"ok\":true,\"sha256\":\"00\"}", "SHA-256 00"),
        ("{\"ok\":false}", "receiver refused"),
        ("garbage", "bad control message"),
    ] {
        let dir = scratch("send-verdict");
        let src = dir.join("small.bin");
        std::fs::write(&src, b"hello").unwrap();
        let (run, dc) = send_with_channel(&src).await;
        for _ in 0..3 {
            assert!(next_message(&dc).await.is_some());
        }
        dc.send_text(verdict).await.unwrap();
        let (code, stderr) = exited(run).await;
        assert_eq!(code, Some(1), "{verdict}: {stderr}");
        assert!(stderr.contains(says), "{verdict}: {stderr}");
    }
}

/// A FILE that cannot be read, or an `--out` that is not a directory, is
/// said at once (exit 1, the path named), not after a peer has connected,
/// and without a peer at all.
#[tokio::test(flavor = "current_thread")]
async fn a_missing_file_or_output_directory_fails_before_signaling() {
    let dir = scratch("missing");
    let missing = dir.join("nope");
    for args in [
        vec![
            "send".as_ref(),
            missing.as_os_str(),
            "--signal".as_ref(),
            "stdio".as_ref(),
        ],
        vec![
            "send".as_ref(),
            dir.as_os_str(),
            "--signal".as_ref(),
            "stdio".as_ref(),
        ],
        vec![
            "recv".as_ref(),
            "--out".as_ref(),
            missing.as_os_str(),
            "--signal".as_ref(),
            "stdio".as_ref(),
        ],
    ] {
        // No peer answers, and stdin stays open: only a check made before
        // signaling ends the command.
        let child = Command::new(env!("CARGO_BIN_EXE_ferrtc"))
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("ferrtc binary runs");
        let out = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("{args:?} waited for a peer"))
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(dir.to_str().unwrap()), "{args:?}: {stderr}");
        assert!(
            out.stdout.is_empty(),
            "{args:?} signaled before failing: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

/// The command's own failures are printed as `ferrtc: REASON`, not under
/// the library's `socket:` label (`ferrtc::Error::Io`, for a socket that
/// cannot be opened), which sent users looking for a network problem.
#[tokio::test(flavor = "current_thread")]
async fn the_commands_own_errors_are_not_called_socket_errors() {
    let dir = scratch("labels");
    let missing = dir.join("nope");
    let (run, _channels, _) = start(
        &[
            "send".as_ref(),
            missing.as_os_str(),
            "--signal".as_ref(),
            "stdio".as_ref(),
        ],
        None,
    )
    .await;
    let (code, stderr) = exited(run).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.starts_with(&format!("ferrtc: {}: ", missing.display())),
        "{stderr}"
    );
    let (run, dc) = recv_with_channel(&dir).await;
    send_framed(&dc, "f.bin", b"abc", b"abd").await;
    assert_eq!(verdict(&dc).await["ok"], false);
    let (code, stderr) = exit(run).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("ferrtc: SHA-256 mismatch"), "{stderr}");
    assert!(!stderr.contains("socket:"), "{stderr}");
}

/// `send FIFO` (a named pipe, not a regular file) fails at once, exit 1,
/// instead of waiting for a writer to open the pipe.
#[tokio::test(flavor = "current_thread")]
async fn send_of_a_fifo_fails_at_once_instead_of_waiting_for_a_writer() {
    let dir = scratch("fifo");
    let fifo = dir.join("pipe");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let (mut run, _channels, _) = start(
        &[
            "send".as_ref(),
            fifo.as_os_str(),
            "--signal".as_ref(),
            "stdio".as_ref(),
        ],
        None,
    )
    .await;
    let status = tokio::time::timeout(Duration::from_secs(10), run.child.wait()).await;
    let _ = run.child.kill().await;
    let status = status.expect("send FIFO still running after 10 s (blocked opening it)");
    assert_eq!(status.unwrap().code(), Some(1));
}

/// A `recv` ended by SIGINT, SIGTERM or SIGHUP (the terminal closed, an
/// ssh session dropped) mid-transfer leaves no `.ferrtc-recv-*.part`
/// behind: a failed transfer leaves `--out` as it was.
#[tokio::test(flavor = "current_thread")]
async fn recv_ended_by_a_signal_leaves_no_temporary_file() {
    for signal in ["INT", "TERM", "HUP"] {
        let dir = scratch(&format!("sig-{signal}"));
        let (run, dc) = recv_with_channel(&dir).await;
        dc.send_text(&json!({"name":"f.bin","size":100_000}).to_string())
            .await
            .unwrap();
        dc.send_binary(&[1u8; 5000]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let during = listing(&dir);
        assert_eq!(during.len(), 1, "{signal}: {during:?}");
        assert!(
            during[0].starts_with(".ferrtc-recv-"),
            "{signal}: {during:?}"
        );
        let pid = run.child.id().unwrap().to_string();
        let sent = std::process::Command::new("kill")
            .args(["-s", signal, &pid])
            .status()
            .unwrap();
        assert!(sent.success());
        let mut run = run;
        let status = tokio::time::timeout(TIMEOUT, run.child.wait())
            .await
            .expect("recv exits")
            .unwrap();
        let left = listing(&dir);
        assert!(
            left.is_empty(),
            "SIG{signal} ({status}) left {left:?} in --out"
        );
    }
}

/// A command started with SIGHUP ignored (`nohup`) keeps it ignored: a
/// hangup does not end it (watching SIGHUP would replace the ignoring).
#[tokio::test(flavor = "current_thread")]
async fn a_hangup_ignored_as_nohup_leaves_it_does_not_end_recv() {
    let dir = scratch("nohup");
    let mut child = Command::new("sh")
        .args([
            "-c",
            r#"trap '' HUP; exec "$0" recv --out "$1" --signal stdio"#,
            env!("CARGO_BIN_EXE_ferrtc"),
            dir.to_str().unwrap(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Up and waiting for an offer, its signal handlers set (a hangup
    // before that is ignored all the same).
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(child.try_wait().unwrap(), None);
    let pid = child.id().unwrap().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-s", "HUP", &pid])
        .status()
        .unwrap();
    assert!(sent.success());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let still = child.try_wait().unwrap();
    let _ = child.kill().await;
    assert_eq!(still, None, "recv ended on an ignored SIGHUP");
}
