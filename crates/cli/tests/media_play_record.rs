//! Two `ferrtc peer` processes joined by their stdio signaling: one plays
//! an IVF (VP8) and an Ogg Opus file made here, the other records; the
//! recordings hold the source's frames in order. Both roles each way.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use ferrtc_media::ivf::{FourCc, IvfHeader, IvfReader, IvfWriter};
use ferrtc_media::opus::{OpusHead, OpusReader, OpusTags, OpusWriter};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Child;
use tokio::sync::mpsc;

const TIMEOUT: Duration = Duration::from_secs(20);
/// How long the media flows before `bye`.
const PLAY_FOR: Duration = Duration::from_secs(3);

/// A fresh directory for one test, removed when dropped.
fn temp_dir(name: &str) -> common::TempPath {
    common::TempPath::dir(format!("ferrtc-media-{}-{name}", std::process::id()))
}

/// Synthetic VP8 frames: byte 0 has bit 0 clear on a keyframe (every
/// 30th), which then carries the start code and a 64x48 size; the frame
/// index follows, then filler.
fn vp8_frames() -> Vec<Vec<u8>> {
    (0..60u32)
        .map(|i| {
            let key = i % 30 == 0;
            let mut f = if key {
                vec![0x10, 0, 0, 0x9d, 0x01, 0x2a, 64, 0, 48, 0]
            } else {
                vec![0x11, 0, 0]
            };
            f.extend_from_slice(&i.to_be_bytes());
            let len = 200 + (i as usize * 211) % 2500;
            f.extend((0..len).map(|j| (j as u32 + i) as u8));
            f
        })
        .collect()
}

/// Opus packets: TOC 0xfc (CELT fullband 20 ms, stereo, one frame), then
/// the packet index and filler.
fn opus_packets() -> Vec<Vec<u8>> {
    (0..100u32)
        .map(|i| {
            let mut p = vec![0xfc];
            p.extend_from_slice(&i.to_be_bytes());
            p.extend(std::iter::repeat_n((i % 251) as u8, 60 + (i as usize % 40)));
            p
        })
        .collect()
}

fn write_sources(dir: &Path) -> (PathBuf, PathBuf) {
    let ivf = dir.join("clip.ivf");
    let mut w = IvfWriter::new(
        std::fs::File::create(&ivf).unwrap(),
        IvfHeader::new(FourCc::VP80, 64, 48, 30, 1),
    )
    .unwrap();
    for (pts, f) in vp8_frames().iter().enumerate() {
        w.write_frame(pts as u64, f).unwrap();
    }
    w.finish_seekable().unwrap();
    let ogg = dir.join("tone.ogg");
    let tags = OpusTags {
        vendor: "test".into(),
        comments: Vec::new(),
    };
    let mut w = OpusWriter::new(
        std::fs::File::create(&ogg).unwrap(),
        7,
        &OpusHead::new(2, 48_000),
        &tags,
    )
    .unwrap();
    for p in opus_packets() {
        w.write_packet(&p).unwrap();
    }
    w.finish().unwrap();
    (ivf, ogg)
}

struct Peer {
    child: Child,
    lines: mpsc::UnboundedSender<String>,
}

fn spawn(args: &[String]) -> (Peer, tokio::process::ChildStdout) {
    let (child, stdout, tx) = common::spawn_ferrtc(args);
    (Peer { child, lines: tx }, stdout)
}

/// Copies one peer's stdout lines (which must all be JSON) to the other's
/// stdin.
fn wire(from: tokio::process::ChildStdout, to: mpsc::UnboundedSender<String>) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(from).lines();
        while let Ok(Some(l)) = lines.next_line().await {
            let v: serde_json::Value =
                serde_json::from_str(&l).expect("stdout carries JSON lines only");
            assert!(v["type"].is_string(), "{l}");
            if to.send(format!("{l}\n")).is_err() {
                break;
            }
        }
    });
}

/// How a peer is told to end.
#[derive(Clone, Copy)]
enum End {
    Bye,
    Sigterm,
}

async fn end(mut peer: Peer, how: End) -> String {
    match how {
        End::Bye => peer.lines.send("{\"type\":\"bye\"}\n".into()).unwrap(),
        End::Sigterm => {
            // The shell's builtin `kill`: /usr/bin/kill is not everywhere.
            let pid = peer.child.id().expect("running").to_string();
            let status = std::process::Command::new("sh")
                .args(["-c", r#"kill -s TERM "$1""#, "sh", &pid])
                .status()
                .unwrap();
            assert!(status.success());
        }
    }
    let status = tokio::time::timeout(TIMEOUT, peer.child.wait())
        .await
        .expect("ferrtc peer exits")
        .unwrap();
    let mut stderr = String::new();
    peer.child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .await
        .unwrap();
    assert!(status.success(), "exit status {status}: {stderr}");
    stderr
}

/// `got` is a run of `source` from some frame on, looping: every frame
/// whole and in order.
fn assert_run_of<T: PartialEq + std::fmt::Debug>(got: &[T], source: &[T], what: &str) {
    let start = source
        .iter()
        .position(|f| *f == got[0])
        .unwrap_or_else(|| panic!("{what}: the first recorded frame is not in the source"));
    for (j, f) in got.iter().enumerate() {
        assert_eq!(
            f,
            &source[(start + j) % source.len()],
            "{what}: recorded frame {j} differs"
        );
    }
}

fn check_recordings(dir: &Path) {
    let mut ivf = None;
    let mut ogg = None;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("track-"), "{name}");
        match path.extension().and_then(|e| e.to_str()) {
            Some("ivf") => ivf = Some(path),
            Some("ogg") => ogg = Some(path),
            other => panic!("unexpected recording {other:?}"),
        }
    }
    let ivf = ivf.expect("no IVF recorded");
    let reader = IvfReader::new(std::fs::File::open(&ivf).unwrap()).unwrap();
    let header = *reader.header();
    assert_eq!(header.fourcc, FourCc::VP80);
    assert_eq!((header.width, header.height), (64, 48));
    assert_eq!(
        (header.timebase_denominator, header.timebase_numerator),
        (90_000, 1)
    );
    let (pts, frames): (Vec<u64>, Vec<Vec<u8>>) =
        reader.map(|f| f.unwrap()).map(|f| (f.pts, f.data)).unzip();
    assert_eq!(header.frame_count as usize, frames.len(), "frame count");
    assert!(frames.len() >= 30, "only {} video frames", frames.len());
    assert_run_of(&frames, &vp8_frames(), "video");
    // 30 fps on the 90 kHz RTP clock: 3000 ticks a frame, across the
    // loop's wrap too. A frame of 33.333333 ms is 2999.99997 ticks: the
    // core carries the fraction, so frame n is at 3000 n less at most one
    // tick (nothing lost, no jump, no pause, no drift).
    assert_eq!(pts[0], 0, "the first frame at pts 0");
    for (n, p) in pts.iter().enumerate() {
        let want = 3000 * n as u64;
        assert!(
            *p == want || *p + 1 == want,
            "video pts of frame {n} is {p}, not {want}: {pts:?}"
        );
    }

    let ogg = ogg.expect("no Ogg recorded");
    let reader = OpusReader::new(std::fs::File::open(&ogg).unwrap()).unwrap();
    assert_eq!(reader.head().channels, 2);
    let packets: Vec<_> = reader.map(|p| p.unwrap()).collect();
    assert!(packets.len() >= 50, "only {} audio packets", packets.len());
    // Each 20 ms packet advances the 48 kHz RTP clock by 960: a page's
    // granule position is the end of its last packet.
    let mut granules = 0;
    for (i, p) in packets.iter().enumerate() {
        if let Some(g) = p.granule_position {
            assert_eq!(g, 960 * (i as u64 + 1), "granule of audio packet {i}");
            granules += 1;
        }
    }
    assert!(granules > 0, "no page granule in the recording");
    let packets: Vec<Vec<u8>> = packets.into_iter().map(|p| p.data).collect();
    assert_run_of(&packets, &opus_packets(), "audio");
}

async fn play_and_record(name: &str, player_offers: bool, recorder_end: End) {
    let dir = temp_dir(name);
    let (ivf, ogg) = write_sources(&dir);
    let out = dir.join("out");
    let mut player: Vec<String> = ["peer", "--signal", "stdio"].map(String::from).to_vec();
    let mut recorder = player.clone();
    player.extend([
        "--play".into(),
        ivf.display().to_string(),
        "--play".into(),
        ogg.display().to_string(),
    ]);
    recorder.extend(["--record".into(), out.display().to_string()]);
    if player_offers {
        player.push("--offer".into());
    } else {
        recorder.push("--offer".into());
    }
    let (p, p_out) = spawn(&player);
    let (r, r_out) = spawn(&recorder);
    wire(p_out, r.lines.clone());
    wire(r_out, p.lines.clone());
    tokio::time::sleep(PLAY_FOR).await;
    let r_err = end(r, recorder_end).await;
    let p_err = end(p, End::Bye).await;
    assert!(!p_err.contains("ERROR"), "player: {p_err}");
    assert!(!r_err.contains("ERROR"), "recorder: {r_err}");
    check_recordings(&out);
}

#[tokio::test(flavor = "current_thread")]
async fn offerer_plays_ivf_and_ogg_and_the_answerer_records_them() {
    play_and_record("offer-plays", true, End::Bye).await;
}

#[tokio::test(flavor = "current_thread")]
async fn answerer_plays_ivf_and_ogg_and_the_offerer_records_them() {
    play_and_record("answer-plays", false, End::Bye).await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_recorder_ended_by_sigterm_finishes_its_files() {
    play_and_record("sigterm", true, End::Sigterm).await;
}

/// Synthetic H.264 access units: SPS, PPS and an IDR slice every 15th,
/// else one non-IDR slice; every slice has `first_mb_in_slice` 0 (the top
/// bit after the NAL header set) and no zero bytes, so no start code is
/// emulated.
fn h264_units() -> Vec<Vec<Vec<u8>>> {
    (0..45u8)
        .map(|i| {
            let body: Vec<u8> = (0..300 + usize::from(i) * 20)
                .map(|j| 1 + (j as u8 ^ i) % 250)
                .collect();
            let mut slice = vec![if i % 15 == 0 { 0x65 } else { 0x41 }, 0x88, i + 1];
            slice.extend(body);
            if i % 15 == 0 {
                vec![
                    vec![0x67, 0x42, 0xc0, 0x1f, 0xda, 0x01, 0x40],
                    vec![0x68, 0xce, 0x3c, 0x80],
                    slice,
                ]
            } else {
                vec![slice]
            }
        })
        .collect()
}

fn read_units(path: &Path) -> Vec<Vec<Vec<u8>>> {
    let mut reader = ferrtc_media::h264::AnnexBReader::new(std::fs::File::open(path).unwrap());
    let mut out = Vec::new();
    while let Some(au) = reader.next_access_unit().unwrap() {
        out.push(au.nals);
    }
    out
}

#[tokio::test(flavor = "current_thread")]
async fn an_h264_file_is_played_and_recorded_as_annex_b() {
    let dir = temp_dir("h264");
    let source = dir.join("clip.h264");
    let mut bytes = Vec::new();
    for au in h264_units() {
        for nal in au {
            bytes.extend_from_slice(&[0, 0, 0, 1]);
            bytes.extend_from_slice(&nal);
        }
    }
    std::fs::write(&source, bytes).unwrap();
    assert_eq!(read_units(&source), h264_units(), "the source parses back");
    let out = dir.join("out");
    let args = |extra: &[&str]| -> Vec<String> {
        ["peer", "--signal", "stdio"]
            .iter()
            .chain(extra)
            .map(|s| s.to_string())
            .collect()
    };
    let (p, p_out) = spawn(&args(&["--offer", "--play", &source.display().to_string()]));
    let (r, r_out) = spawn(&args(&["--record", &out.display().to_string()]));
    wire(p_out, r.lines.clone());
    wire(r_out, p.lines.clone());
    tokio::time::sleep(PLAY_FOR).await;
    let r_err = end(r, End::Bye).await;
    let p_err = end(p, End::Bye).await;
    assert!(!p_err.contains("ERROR"), "player: {p_err}");
    assert!(!r_err.contains("ERROR"), "recorder: {r_err}");
    let recorded: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(recorded[0].extension().unwrap(), "h264");
    let units = read_units(&recorded[0]);
    assert!(units.len() >= 30, "only {} access units", units.len());
    assert_run_of(&units, &h264_units(), "h264");
}

/// The tones the peer logged, in order, from its stderr lines ending in
/// `dtmf received: X`.
fn tones_logged(stderr: &str) -> String {
    stderr
        .lines()
        .filter_map(|l| l.trim_end().rsplit_once("dtmf received: "))
        .map(|(_, tone)| tone.to_owned())
        .collect()
}

/// `--dtmf` on one peer, the tones logged by the other; `sender_offers`
/// picks the roles (an offerer without media asks for audio with
/// `--record`, so that an answering sender has an m-section to send on).
async fn dtmf_between_peers(name: &str, sender_offers: bool) {
    let dir = temp_dir(name);
    let mut sender: Vec<String> = ["peer", "--signal", "stdio", "--dtmf", "1#a,9"]
        .map(String::from)
        .to_vec();
    let mut hearer: Vec<String> = ["peer", "--signal", "stdio"].map(String::from).to_vec();
    if sender_offers {
        sender.push("--offer".into());
    } else {
        hearer.extend(["--offer".into(), "--record".into()]);
        hearer.push(dir.join("out").display().to_string());
    }
    let (s, s_out) = spawn(&sender);
    let (h, h_out) = spawn(&hearer);
    wire(s_out, h.lines.clone());
    wire(h_out, s.lines.clone());
    // Three tones of 100 ms with 70 ms gaps, and a 2 s pause before the last.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let h_err = end(h, End::Bye).await;
    let s_err = end(s, End::Bye).await;
    assert!(!s_err.contains("ERROR"), "sender: {s_err}");
    assert_eq!(tones_logged(&h_err), "1#A9", "hearer: {h_err}");
    assert!(s_err.contains("dtmf sent: 1#a,9"), "sender: {s_err}");
}

#[tokio::test(flavor = "current_thread")]
async fn dtmf_tones_of_an_offerer_are_logged_by_the_answerer_in_order() {
    dtmf_between_peers("dtmf-offerer", true).await;
}

#[tokio::test(flavor = "current_thread")]
async fn dtmf_tones_of_an_answerer_are_logged_by_the_offerer_in_order() {
    dtmf_between_peers("dtmf-answerer", false).await;
}

/// An IVF whose frames all have one pts lasts no time: looped, it would
/// send every frame at once forever. `--play` refuses it at once, as a
/// file it cannot read (exit code 1), with a message on stderr and
/// nothing on stdout.
#[test]
fn a_file_of_zero_duration_is_refused() {
    let dir = temp_dir("zero-duration");
    let path = dir.join("still.ivf");
    let mut w = IvfWriter::new(
        std::fs::File::create(&path).unwrap(),
        IvfHeader::new(FourCc::VP80, 64, 48, 30, 1),
    )
    .unwrap();
    for f in vp8_frames().iter().take(5) {
        w.write_frame(7, f).unwrap();
    }
    w.finish_seekable().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ferrtc"))
        .args(["peer", "--signal", "stdio", "--offer", "--play"])
        .arg(&path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + TIMEOUT;
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("ferrtc peer did not refuse the file");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("lasts no time"), "{stderr}");
    assert!(out.stdout.is_empty(), "no offer for a refused file");
}
