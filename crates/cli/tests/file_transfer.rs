//! `ferrtc send FILE` to `ferrtc recv --out DIR`, two processes whose
//! stdio signaling lines are relayed to each other.

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
    let dir = std::env::temp_dir().join(format!("ferrtc-file-test-{}", std::process::id()));
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
    std::fs::remove_dir_all(&dir).unwrap();
}
