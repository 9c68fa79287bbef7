//! ferrtc-srtp against libsrtp2 (through pylibsrtp in the project venv): packets
//! protected by one are unprotected by the other, for every profile, RTP across
//! a sequence number wrap (ROC 0 -> 1) and RTCP, both directions.
//!
//! Runs only with FERRTC_INTEROP=1; then a missing Python or pylibsrtp fails.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use ferrtc_srtp::{Config, Context, ProtectionProfile};

fn enabled() -> bool {
    if std::env::var("FERRTC_INTEROP").as_deref() == Ok("1") {
        true
    } else {
        println!("skipped: set FERRTC_INTEROP=1");
        false
    }
}

fn python() -> PathBuf {
    match std::env::var_os("FERRTC_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python"),
    }
}

/// The libsrtp side: interop/scripts/srtp_libsrtp.py, one request per line.
struct Libsrtp {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Libsrtp {
    fn start() -> Self {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/srtp_libsrtp.py");
        let mut child = Command::new(python())
            .arg(&script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {} {}: {e}",
                    python().display(),
                    script.display()
                )
            });
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        Self {
            child,
            stdin,
            stdout,
        }
    }

    /// Runs `op` over `packets` on one fresh libsrtp session.
    fn run(
        &mut self,
        op: &str,
        profile: ProtectionProfile,
        key: &[u8],
        packets: &[Vec<u8>],
    ) -> Vec<Result<Vec<u8>, String>> {
        let list: Vec<String> = packets.iter().map(|p| to_hex(p)).collect();
        writeln!(
            self.stdin,
            "{op} {} {} {}",
            profile.id(),
            to_hex(key),
            list.join(",")
        )
        .expect("write to libsrtp script");
        self.stdin.flush().expect("flush");
        let mut line = String::new();
        self.stdout
            .read_line(&mut line)
            .expect("read from libsrtp script");
        assert!(
            !line.is_empty(),
            "libsrtp script exited (is pylibsrtp installed?)"
        );
        line.trim()
            .split(',')
            .map(|item| match item.strip_prefix("ERR:") {
                Some(err) => Err(err.to_string()),
                None => Ok(from_hex(item)),
            })
            .collect()
    }
}

impl Drop for Libsrtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex from script"))
        .collect()
}

/// Master key and salt for `profile`, and their concatenation as libsrtp takes it.
fn keys(profile: ProtectionProfile) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let key: Vec<u8> = (0..profile.master_key_len())
        .map(|i| (i * 7 + 1) as u8)
        .collect();
    let salt: Vec<u8> = (0..profile.master_salt_len())
        .map(|i| (i * 13 + 5) as u8)
        .collect();
    let joined = [key.clone(), salt.clone()].concat();
    (key, salt, joined)
}

fn context(profile: ProtectionProfile) -> Context {
    context_with(profile, Config::default())
}

fn context_with(profile: ProtectionProfile, config: Config) -> Context {
    let (key, salt, _) = keys(profile);
    Context::new(profile, &key, &salt, config).expect("context")
}

/// RTP packets across a wrap: seq 65500..=65535 then 0..60, varying sizes,
/// some with CSRCs and a header extension.
fn rtp_stream(ssrc: u32) -> Vec<Vec<u8>> {
    (65500u16..=65535)
        .chain(0..60)
        .enumerate()
        .map(|(n, seq)| {
            let mut p = vec![0x80, 96];
            p.extend_from_slice(&seq.to_be_bytes());
            p.extend_from_slice(&(n as u32 * 960).to_be_bytes());
            p.extend_from_slice(&ssrc.to_be_bytes());
            if n % 3 == 1 {
                p[0] |= 0x02; // two CSRCs
                p.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 2]);
            }
            if n % 4 == 2 {
                p[0] |= 0x10; // one-byte header extension, 1 word
                p.extend_from_slice(&[0xbe, 0xde, 0x00, 0x01, 0x30, n as u8, 0, 0]);
            }
            p.extend((0..(n * 17) % 1100 + 1).map(|i| (i + n) as u8));
            p
        })
        .collect()
}

fn rtcp_stream(ssrc: u32) -> Vec<Vec<u8>> {
    (0..40usize)
        .map(|n| {
            let mut p = vec![0x80, 201, 0, 1];
            p.extend_from_slice(&ssrc.to_be_bytes());
            p.extend((0..n * 4).map(|i| (i ^ n) as u8));
            p
        })
        .collect()
}

fn check_ferrtc_to_libsrtp(rtcp: bool) {
    let mut libsrtp = Libsrtp::start();
    for profile in ProtectionProfile::ALL {
        let (_, _, joined) = keys(profile);
        let mut tx = context(profile);
        let plain = if rtcp {
            rtcp_stream(0x1111_2222)
        } else {
            rtp_stream(0x1111_2222)
        };
        let protected: Vec<Vec<u8>> = plain
            .iter()
            .map(|p| {
                let mut p = p.clone();
                if rtcp {
                    tx.protect_rtcp(&mut p)
                } else {
                    tx.protect_rtp(&mut p)
                }
                .expect("ferrtc protect");
                p
            })
            .collect();
        if !rtcp {
            assert_eq!(
                tx.outbound_roc(0x1111_2222),
                Some(1),
                "stream crossed the wrap"
            );
        }
        let op = if rtcp { "unprotect_rtcp" } else { "unprotect" };
        let got = libsrtp.run(op, profile, &joined, &protected);
        assert_eq!(got.len(), plain.len());
        for (i, (got, want)) in got.iter().zip(&plain).enumerate() {
            assert_eq!(got.as_ref(), Ok(want), "{profile:?} {op} packet {i}");
        }
    }
}

fn check_libsrtp_to_ferrtc(rtcp: bool) {
    let mut libsrtp = Libsrtp::start();
    for profile in ProtectionProfile::ALL {
        let (_, _, joined) = keys(profile);
        let plain = if rtcp {
            rtcp_stream(0x3333_4444)
        } else {
            rtp_stream(0x3333_4444)
        };
        let op = if rtcp { "protect_rtcp" } else { "protect" };
        let protected = libsrtp.run(op, profile, &joined, &plain);
        let mut rx = context(profile);
        for (i, (p, want)) in protected.into_iter().zip(&plain).enumerate() {
            let mut p = p.unwrap_or_else(|e| panic!("{profile:?} libsrtp {op} packet {i}: {e}"));
            let len = if rtcp {
                rx.unprotect_rtcp(&mut p)
            } else {
                rx.unprotect_rtp(&mut p)
            }
            .unwrap_or_else(|e| panic!("{profile:?} ferrtc unprotect packet {i}: {e}"));
            assert_eq!(&p[..len], &want[..], "{profile:?} packet {i}");
        }
        if !rtcp {
            assert_eq!(
                rx.inbound_roc(0x3333_4444),
                Some(1),
                "stream crossed the wrap"
            );
        }
    }
}

#[test]
fn libsrtp_unprotects_rtp_protected_by_ferrtc_across_roc_wrap() {
    if enabled() {
        check_ferrtc_to_libsrtp(false);
    }
}

#[test]
fn ferrtc_unprotects_rtp_protected_by_libsrtp_across_roc_wrap() {
    if enabled() {
        check_libsrtp_to_ferrtc(false);
    }
}

#[test]
fn libsrtp_unprotects_rtcp_protected_by_ferrtc() {
    if enabled() {
        check_ferrtc_to_libsrtp(true);
    }
}

#[test]
fn ferrtc_unprotects_rtcp_protected_by_libsrtp() {
    if enabled() {
        check_libsrtp_to_ferrtc(true);
    }
}

#[test]
fn libsrtp_rejects_a_tampered_ferrtc_packet_and_a_replay() {
    if !enabled() {
        return;
    }
    let mut libsrtp = Libsrtp::start();
    for profile in ProtectionProfile::ALL {
        let (_, _, joined) = keys(profile);
        let mut tx = context(profile);
        let mut good = rtp_stream(5)[0].clone();
        tx.protect_rtp(&mut good).expect("protect");
        let mut tampered = good.clone();
        tampered[12] ^= 1;
        let got = libsrtp.run(
            "unprotect",
            profile,
            &joined,
            &[tampered, good.clone(), good],
        );
        assert!(got[0].is_err(), "{profile:?}: tampered packet accepted");
        assert!(got[1].is_ok(), "{profile:?}: {:?}", got[1]);
        assert!(got[2].is_err(), "{profile:?}: replay accepted");
    }
}

#[test]
fn unencrypted_srtcp_interoperates_both_ways() {
    // SRTCP with the E flag clear (RFC 3711 §3.4; for GCM the whole packet is
    // AAD, RFC 7714 §9.3): authenticated, payload in the clear.
    if !enabled() {
        return;
    }
    let mut libsrtp = Libsrtp::start();
    for profile in ProtectionProfile::ALL {
        let (_, _, joined) = keys(profile);
        let plain = rtcp_stream(0x5555_6666);

        let mut tx = context_with(profile, Config::default().with_encrypt_rtcp(false));
        let protected: Vec<Vec<u8>> = plain
            .iter()
            .map(|p| {
                let mut p = p.clone();
                tx.protect_rtcp(&mut p).expect("ferrtc protect_rtcp");
                p
            })
            .collect();
        for (p, want) in protected.iter().zip(&plain) {
            assert_eq!(
                &p[..want.len()],
                &want[..],
                "{profile:?}: payload stays clear"
            );
        }
        let got = libsrtp.run("unprotect_rtcp_auth_only", profile, &joined, &protected);
        for (i, (got, want)) in got.iter().zip(&plain).enumerate() {
            assert_eq!(
                got.as_ref(),
                Ok(want),
                "{profile:?} libsrtp unprotect packet {i}"
            );
        }

        let from_libsrtp = libsrtp.run("protect_rtcp_auth_only", profile, &joined, &plain);
        let mut rx = context(profile);
        for (i, (p, want)) in from_libsrtp.into_iter().zip(&plain).enumerate() {
            let mut p = p.unwrap_or_else(|e| panic!("{profile:?} libsrtp protect {i}: {e}"));
            assert_eq!(
                &p[..want.len()],
                &want[..],
                "{profile:?}: libsrtp left payload clear"
            );
            let len = rx
                .unprotect_rtcp(&mut p)
                .unwrap_or_else(|e| panic!("{profile:?} ferrtc unprotect packet {i}: {e}"));
            assert_eq!(&p[..len], &want[..], "{profile:?} packet {i}");
        }
    }
}
