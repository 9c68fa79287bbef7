//! `ferrtc send FILE` to `ferrtc recv --out DIR`, two processes whose
//! stdio signaling lines are relayed to each other.

mod common;

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

fn spawn(args: &[&std::ffi::OsStr]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ferrtc"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("ferrtc binary runs")
}

/// Copies `from`'s stdout lines into `to`'s stdin.
fn pipe(from: &mut Child, to: &mut Child) {
    let mut lines = BufReader::new(from.stdout.take().unwrap()).lines();
    let mut stdin = to.stdin.take().unwrap();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            if stdin
                .write_all(format!("{line}\n").as_bytes())
                .await
                .is_err()
            {
                break;
            }
        }
    });
}

#[tokio::test(flavor = "current_thread")]
async fn a_100_mib_file_moves_intact_from_send_to_recv() {
    let dir = common::TempPath::dir(format!("ferrtc-file-test-{}", std::process::id()));
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let src = dir.join("payload.bin");
    // 100 MiB and one byte, so the last message is a partial one.
    let data: Vec<u8> = (0..104_857_601u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&src, &data).unwrap();

    let mut sender = spawn(&[
        "send".as_ref(),
        src.as_os_str(),
        "--signal".as_ref(),
        "stdio".as_ref(),
    ]);
    let mut receiver = spawn(&[
        "recv".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
        "--signal".as_ref(),
        "stdio".as_ref(),
    ]);
    pipe(&mut sender, &mut receiver);
    pipe(&mut receiver, &mut sender);
    let limit = Duration::from_secs(60);
    let s = tokio::time::timeout(limit, sender.wait())
        .await
        .expect("sender exits")
        .unwrap();
    let r = tokio::time::timeout(limit, receiver.wait())
        .await
        .expect("receiver exits")
        .unwrap();
    assert!(s.success() && r.success(), "sender {s}, receiver {r}");
    assert_eq!(std::fs::read(out.join("payload.bin")).unwrap(), data);
}

/// Stops (SIGSTOP) a process: it neither exits nor closes its pipes, as a
/// machine that vanished from the network.
fn freeze(child: &Child) {
    let pid = child.id().expect("still running").to_string();
    let status = std::process::Command::new("sh")
        .args(["-c", r#"kill -s STOP "$1""#, "sh", &pid])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Bytes written so far under `out` (the receiver's temporary file).
fn received_bytes(out: &std::path::Path) -> u64 {
    std::fs::read_dir(out)
        .map(|d| {
            d.filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Starts a transfer of a 16 GiB (sparse) file, freezes one side once it
/// is under way, and returns the other side's exit code and how long it
/// took to give up.
async fn transfer_with_a_frozen(side: &str) -> (Option<i32>, Duration, Vec<String>) {
    let dir = common::TempPath::dir(format!("ferrtc-file-frozen-{side}-{}", std::process::id()));
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let src = dir.join("big.bin");
    std::fs::File::create(&src)
        .unwrap()
        .set_len(16 << 30)
        .unwrap();
    let mut sender = spawn(&[
        "send".as_ref(),
        src.as_os_str(),
        "--signal".as_ref(),
        "stdio".as_ref(),
    ]);
    let mut receiver = spawn(&[
        "recv".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
        "--signal".as_ref(),
        "stdio".as_ref(),
    ]);
    pipe(&mut sender, &mut receiver);
    pipe(&mut receiver, &mut sender);
    // Under way: the receiver has written its first MiB (however fast the
    // machine, 16 GiB are far from done then).
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while received_bytes(&out) < 1 << 20 {
        assert!(
            std::time::Instant::now() < deadline,
            "the transfer never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (frozen, other) = if side == "sender" {
        (&mut sender, &mut receiver)
    } else {
        (&mut receiver, &mut sender)
    };
    freeze(frozen);
    let start = std::time::Instant::now();
    let status = tokio::time::timeout(Duration::from_secs(120), other.wait())
        .await
        .map(|s| s.unwrap().code());
    let took = start.elapsed();
    let _ = frozen.kill().await;
    let left: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    (status.unwrap_or(None), took, left)
}

/// A sender that vanishes mid-way (frozen: no bye, no end of input, no
/// packets): once the connection has failed (ICE consent lost, RFC 7675
/// §5.1, W3C connectionState `failed` about 30 s later), `recv` gives up
/// with exit 1 and leaves no partial file, instead of waiting minutes for
/// SCTP to give up too.
#[tokio::test(flavor = "current_thread")]
async fn recv_gives_up_when_the_connection_to_a_vanished_sender_fails() {
    let (code, took, left) = transfer_with_a_frozen("sender").await;
    assert_eq!(code, Some(1), "recv after {took:?}");
    assert!(
        took < Duration::from_secs(60),
        "recv gave up after {took:?}"
    );
    assert!(left.is_empty(), "{left:?}");
}

/// The other way round: `send` gives up once the connection to a vanished
/// receiver has failed, rather than waiting on back-pressure.
#[tokio::test(flavor = "current_thread")]
async fn send_gives_up_when_the_connection_to_a_vanished_receiver_fails() {
    let (code, took, _) = transfer_with_a_frozen("receiver").await;
    assert_eq!(code, Some(1), "send after {took:?}");
    assert!(
        took < Duration::from_secs(60),
        "send gave up after {took:?}"
    );
}
