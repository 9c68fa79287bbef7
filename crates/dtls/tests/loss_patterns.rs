//! Handshakes under every small pattern of lost datagrams (RFC 6347
//! §4.2.4: a flight is retransmitted on its timer, and answered when the
//! peer retransmits), and at a large MTU (RFC 6347 §4.1: a record carries
//! at most 2^14 bytes of plaintext, the handshake header included).

mod common;

use std::time::{Duration, Instant};

use common::wall;
use ferrtc_dtls::{Certificate, Config, Dtls, Error, Event, KeyType, Role};

const DAY: Duration = Duration::from_secs(86_400);
const LONG: Duration = Duration::from_secs(3600);

/// How a handshake ended; the durations and who failed are read through
/// `Debug`, in failure messages.
#[derive(Debug)]
#[allow(dead_code)]
enum Outcome {
    Connected(Duration),
    /// Who failed (true: client), how, and when.
    Failed(bool, Error, Duration),
    /// Neither side has a timer and the handshake is not over.
    Stuck(Duration),
}

struct Sim {
    c: Dtls,
    s: Dtls,
    c_connected: bool,
    s_connected: bool,
}

fn run(
    cc: &Certificate,
    sc: &Certificate,
    config: &Config,
    lost: &dyn Fn(usize) -> bool,
) -> Outcome {
    let start = Instant::now();
    let mut now = start;
    let mut sim = Sim {
        c: Dtls::new(config, cc, Role::Client, start, wall()).expect("client"),
        s: Dtls::new(config, sc, Role::Server, start, wall()).expect("server"),
        c_connected: false,
        s_connected: false,
    };
    sim.c.expect_remote_fingerprints(sc.fingerprints());
    sim.s.expect_remote_fingerprints(cc.fingerprints());
    let mut buf = Vec::new();
    let mut index = 0;
    for _ in 0..100_000 {
        let mut moved = false;
        while sim.c.poll_transmit(now, &mut buf).is_some() {
            moved = true;
            if !lost(index) {
                sim.s.handle_receive(now, &buf);
            }
            index += 1;
        }
        while sim.s.poll_transmit(now, &mut buf).is_some() {
            moved = true;
            if !lost(index) {
                sim.c.handle_receive(now, &buf);
            }
            index += 1;
        }
        for (client, d) in [(true, &mut sim.c), (false, &mut sim.s)] {
            while let Some(e) = d.poll_event() {
                match e {
                    Event::Connected { .. } if client => sim.c_connected = true,
                    Event::Connected { .. } => sim.s_connected = true,
                    Event::Failed(err) => return Outcome::Failed(client, err, now - start),
                    _ => {}
                }
            }
        }
        if sim.c_connected && sim.s_connected {
            return Outcome::Connected(now - start);
        }
        if moved {
            continue;
        }
        let t = match (sim.c.poll_timeout(), sim.s.poll_timeout()) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => match a.or(b) {
                Some(t) => t,
                None => return Outcome::Stuck(now - start),
            },
        };
        now = now.max(t);
        sim.c.handle_timeout(now);
        sim.s.handle_timeout(now);
    }
    panic!("simulation did not end");
}

fn config(mtu: usize) -> Config {
    let mut config = Config::default();
    config.mtu = mtu;
    config.handshake_timeout = LONG;
    config
}

/// No loss pattern may leave both sides waiting for each other
/// until only the overall handshake deadline ends it. Every pattern of up
/// to 3 lost datagrams among the first 40 (flights 1-6, with the
/// HelloVerifyRequest, fragmented at MTU 300 so flights span datagrams)
/// must connect, or fail by a flight's own retry limit well before the
/// deadline.
#[test]
fn no_loss_pattern_leaves_the_handshake_to_the_deadline() {
    let cc = Certificate::generate_with(KeyType::EcdsaP256, wall(), DAY).unwrap();
    let sc = Certificate::generate_with(KeyType::EcdsaP256, wall(), DAY).unwrap();
    for mtu in [300, 1200] {
        let config = config(mtu);
        let mut bad = Vec::new();
        let n = 40;
        let mut runs = 0;
        let mut check = |losses: &[usize]| {
            runs += 1;
            let outcome = run(&cc, &sc, &config, &|i| losses.contains(&i));
            let ok = match &outcome {
                Outcome::Connected(_) => true,
                Outcome::Failed(_, Error::HandshakeTimeout, t) => *t < LONG,
                _ => false,
            };
            if !ok {
                bad.push((losses.to_vec(), format!("{outcome:?}")));
            }
        };
        check(&[]);
        for a in 0..n {
            check(&[a]);
            for b in a + 1..n {
                check(&[a, b]);
                for c in b + 1..n {
                    check(&[a, b, c]);
                }
            }
        }
        assert!(
            bad.is_empty(),
            "mtu {mtu}: {} of {runs} bad: {:?}",
            bad.len(),
            &bad[..bad.len().min(5)]
        );
    }
}

/// Received epoch-0 records over 2^14 bytes are discarded, so a sender at
/// a large MTU must count the 12-byte handshake header in the 2^14: a
/// Certificate over 2^14 bytes still goes in records the peer (this same
/// engine) reads.
#[test]
fn a_large_certificate_at_a_large_mtu_still_connects() {
    let names: Vec<String> = (0..400)
        .map(|i| format!("host-{i:04}.a-rather-long-subdomain-name.example.com"))
        .collect();
    let params = rcgen::CertificateParams::new(names).unwrap();
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let big = params.self_signed(&key).unwrap();
    let big = Certificate::from_der(big.der().to_vec(), key.serialize_der(), wall()).unwrap();
    assert!(big.der().len() > 1 << 14, "{}", big.der().len());
    let small = Certificate::generate_with(KeyType::EcdsaP256, wall(), DAY).unwrap();
    let mut config = config(60_000);
    config.handshake_timeout = Duration::from_secs(40);
    let outcome = run(&big, &small, &config, &|_| false);
    assert!(matches!(outcome, Outcome::Connected(_)), "{outcome:?}");
}
