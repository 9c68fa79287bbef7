//! The `codecs` feature end to end: two `ferrtc peer` processes joined by
//! their stdio signaling, one playing `--play test-pattern --play tone`,
//! the other writing `--snapshot out.png` and recording; the PNG is a
//! 640x480 picture of the bars, the recorded video decodes and the
//! recorded audio is the tone. Without the feature, the three values are
//! refused with exit code 2 and a message naming it.

#[cfg(feature = "codecs")]
mod common;

#[cfg(feature = "codecs")]
mod with_codecs {
    use super::common::TempPath;
    use std::path::{Path, PathBuf};
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    use ferrtc_media::codecs::opus::{Channels, OpusDecoder, rms};
    use ferrtc_media::codecs::vp8::Vp8Decoder;
    use ferrtc_media::ivf::{FourCc, IvfReader};
    use ferrtc_media::opus::OpusReader;
    use ferrtc_media::pattern::BARS;
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    use tokio::process::{Child, Command};
    use tokio::sync::mpsc;
    use tokio::task::JoinHandle;

    const TIMEOUT: Duration = Duration::from_secs(30);
    /// How long the media flows after the snapshot is written.
    const PLAY_ON: Duration = Duration::from_secs(2);

    /// A fresh directory for one test, removed when dropped.
    fn temp_dir(name: &str) -> TempPath {
        TempPath::dir(format!("ferrtc-codecs-{}-{name}", std::process::id()))
    }

    struct Peer {
        child: Child,
        lines: mpsc::UnboundedSender<String>,
        /// The child's stderr, read while it runs (a full pipe would stop
        /// it, with FERRTC_LOG=debug say).
        stderr: JoinHandle<String>,
    }

    fn spawn(args: &[String]) -> (Peer, tokio::process::ChildStdout) {
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
        let mut err = child.stderr.take().unwrap();
        let stderr = tokio::spawn(async move {
            let mut bytes = Vec::new();
            let _ = err.read_to_end(&mut bytes).await;
            String::from_utf8_lossy(&bytes).into_owned()
        });
        let (tx, mut rx) = mpsc::unbounded_channel::<String>();
        tokio::spawn(async move {
            while let Some(line) = rx.recv().await {
                if stdin.write_all(line.as_bytes()).await.is_err() || stdin.flush().await.is_err() {
                    break;
                }
            }
        });
        (
            Peer {
                child,
                lines: tx,
                stderr,
            },
            stdout,
        )
    }

    /// Copies one peer's stdout lines to the other's stdin.
    fn wire(from: tokio::process::ChildStdout, to: mpsc::UnboundedSender<String>) {
        tokio::spawn(async move {
            let mut lines = BufReader::new(from).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                if to.send(format!("{l}\n")).is_err() {
                    break;
                }
            }
        });
    }

    /// Sends `bye`; the peer's stderr once it exited 0.
    async fn end(mut peer: Peer) -> String {
        peer.lines.send("{\"type\":\"bye\"}\n".into()).unwrap();
        let status = tokio::time::timeout(TIMEOUT, peer.child.wait())
            .await
            .expect("ferrtc peer exits")
            .unwrap();
        let stderr = tokio::time::timeout(TIMEOUT, peer.stderr)
            .await
            .expect("stderr closes")
            .unwrap();
        assert!(status.success(), "exit status {status}: {stderr}");
        stderr
    }

    fn near(a: [u8; 3], b: [u8; 3], tolerance: u8) -> bool {
        (0..3).all(|c| a[c].abs_diff(b[c]) <= tolerance)
    }

    /// The PNG is 640x480 and its middle row shows each bar colour over
    /// most of a bar's width (80 pixels), the counter block black.
    fn check_snapshot(path: &Path) {
        let bytes = std::fs::read(path).expect("the snapshot exists");
        let img = ferrtc_media::png::read_rgb(&bytes).expect("a PNG with valid CRCs");
        assert_eq!((img.width(), img.height()), (640, 480));
        for (i, colour) in BARS.iter().enumerate() {
            let columns = (0..640)
                .filter(|&x| near(img.pixel(x, 240).unwrap(), *colour, 40))
                .count();
            assert!(
                (64..=96).contains(&columns),
                "bar {i} {colour:?} covers {columns} columns of the middle row"
            );
        }
        assert!(
            near(img.pixel(18, 18).unwrap(), [0, 0, 0], 40),
            "counter block"
        );
    }

    /// Every recorded VP8 frame decodes, from a keyframe on, to 640x480.
    fn check_video(path: &Path) {
        let reader = IvfReader::new(std::fs::File::open(path).unwrap()).unwrap();
        let header = *reader.header();
        assert_eq!(header.fourcc, FourCc::VP80);
        assert_eq!((header.width, header.height), (640, 480));
        let mut dec = Vp8Decoder::new().unwrap();
        let frames: Vec<_> = reader.map(|f| f.unwrap().data).collect();
        assert!(frames.len() >= 30, "only {} video frames", frames.len());
        for (i, f) in frames.iter().enumerate() {
            let picture = dec
                .decode(f)
                .unwrap_or_else(|e| panic!("video frame {i}: {e}"))
                .expect("a picture");
            assert_eq!((picture.width(), picture.height()), (640, 480));
        }
    }

    /// The recorded Opus decodes to a tone of about 440 Hz, well above
    /// silence.
    fn check_audio(path: &Path) {
        let reader = OpusReader::new(std::fs::File::open(path).unwrap()).unwrap();
        let mut dec = OpusDecoder::new(Channels::Mono).unwrap();
        let mut pcm = Vec::new();
        for p in reader {
            pcm.extend(dec.decode(&p.unwrap().data).expect("the packet decodes"));
        }
        assert!(pcm.len() >= 48_000, "only {} samples", pcm.len());
        // The last second, past the encoder's start.
        let tail = &pcm[pcm.len() - 48_000..];
        let level = rms(tail);
        assert!(level > 0.2, "rms {level}");
        let crossings = tail.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
        assert!(
            (860..=900).contains(&crossings),
            "{crossings} sign changes in 1 s"
        );
    }

    async fn snapshot_of_the_test_pattern(name: &str, player_offers: bool) {
        let dir = temp_dir(name);
        let png = dir.join("out.png");
        let out = dir.join("rec");
        let base = ["peer", "--signal", "stdio"].map(String::from);
        let mut player = base.to_vec();
        player.extend(["--play", "test-pattern", "--play", "tone"].map(String::from));
        let mut viewer = base.to_vec();
        viewer.extend([
            "--snapshot".into(),
            png.display().to_string(),
            "--record".into(),
            out.display().to_string(),
        ]);
        if player_offers {
            player.push("--offer".into());
        } else {
            viewer.push("--offer".into());
        }
        let (p, p_out) = spawn(&player);
        let (v, v_out) = spawn(&viewer);
        wire(p_out, v.lines.clone());
        wire(v_out, p.lines.clone());
        let start = Instant::now();
        while !png.exists() {
            assert!(start.elapsed() < TIMEOUT, "no snapshot after {TIMEOUT:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(PLAY_ON).await;
        let v_err = end(v).await;
        let p_err = end(p).await;
        assert!(!p_err.contains("ERROR"), "player: {p_err}");
        assert!(!v_err.contains("ERROR"), "viewer: {v_err}");
        assert!(
            v_err.contains("snapshot 640x480 written to"),
            "viewer: {v_err}"
        );
        check_snapshot(&png);
        let mut recorded: Vec<PathBuf> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        recorded.sort_by_key(|p| p.extension().map(|e| e.to_owned()));
        let ext: Vec<_> = recorded
            .iter()
            .map(|p| p.extension().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(ext, ["ivf", "ogg"], "{recorded:?}");
        check_video(&recorded[0]);
        check_audio(&recorded[1]);
    }

    /// Synthetic H.264 access units (SPS, PPS and an IDR slice every
    /// 15th, else one slice, no zero bytes) as an Annex B file.
    fn write_h264(path: &Path) {
        let mut bytes = Vec::new();
        for i in 0..45u8 {
            let mut slice = vec![if i % 15 == 0 { 0x65 } else { 0x41 }, 0x88, i + 1];
            slice.extend((0..300 + usize::from(i) * 20).map(|j| 1 + (j as u8 ^ i) % 250));
            let mut nals = vec![slice];
            if i % 15 == 0 {
                nals.insert(0, vec![0x68, 0xce, 0x3c, 0x80]);
                nals.insert(0, vec![0x67, 0x42, 0xc0, 0x1f, 0xda, 0x01, 0x40]);
            }
            for nal in nals {
                bytes.extend_from_slice(&[0, 0, 0, 1]);
                bytes.extend_from_slice(&nal);
            }
        }
        std::fs::write(path, bytes).unwrap();
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_later_vp8_track_is_snapshotted_when_the_first_video_is_h264() {
        let dir = temp_dir("h264-first");
        let png = dir.join("out.png");
        let h264 = dir.join("clip.h264");
        write_h264(&h264);
        let base = ["peer", "--signal", "stdio"].map(String::from);
        let mut player = base.to_vec();
        player.extend([
            "--offer".into(),
            "--play".into(),
            h264.display().to_string(),
        ]);
        player.extend(["--play", "test-pattern"].map(String::from));
        let mut viewer = base.to_vec();
        viewer.extend(["--snapshot".into(), png.display().to_string()]);
        let (p, p_out) = spawn(&player);
        let (v, v_out) = spawn(&viewer);
        wire(p_out, v.lines.clone());
        wire(v_out, p.lines.clone());
        let start = Instant::now();
        while !png.exists() {
            assert!(start.elapsed() < TIMEOUT, "no snapshot after {TIMEOUT:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let v_err = end(v).await;
        let _ = end(p).await;
        assert!(!v_err.contains("ERROR"), "viewer: {v_err}");
        check_snapshot(&png);
    }

    #[test]
    fn a_snapshot_into_a_missing_directory_is_a_usage_error() {
        let dir = temp_dir("missing");
        let png = dir.join("not-there").join("out.png");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ferrtc"))
            .args(["peer", "--signal", "stdio", "--snapshot"])
            .arg(&png)
            .stdin(Stdio::null())
            .output()
            .expect("ferrtc runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("--snapshot") && stderr.contains("does not exist"),
            "{stderr}"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_answerer_snapshots_the_offerers_test_pattern_and_hears_its_tone() {
        snapshot_of_the_test_pattern("offer-plays", true).await;
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_offerer_snapshots_the_answerers_test_pattern_and_hears_its_tone() {
        snapshot_of_the_test_pattern("answer-plays", false).await;
    }
}

#[cfg(not(feature = "codecs"))]
#[test]
fn without_the_feature_generated_sources_and_snapshots_are_usage_errors() {
    for args in [
        &["peer", "--play", "test-pattern"][..],
        &["peer", "--play", "tone"],
        &["peer", "--snapshot", "out.png"],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ferrtc"))
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("ferrtc runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("`codecs` feature"), "{args:?}: {stderr}");
    }
}
