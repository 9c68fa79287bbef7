//! The DTLS 1.2 engine between two ferrtc transports: key types, suites,
//! groups, alerts, the record layer's defences, cookies, determinism and
//! the in-place data path.

mod common;

use std::time::{Duration, Instant};

use common::{Ours, connect, pump, wall};
use ferrtc_dtls::{
    AlertDescription, Certificate, CipherSuite, Config, Dtls, Error, Event, KeyType, NamedGroup,
    ProtocolError, Role, TransportState,
};

const DAY: Duration = Duration::from_secs(86_400);

fn cert(key: KeyType) -> Certificate {
    Certificate::generate_with(key, wall(), DAY).expect("certificate")
}

fn send_both_ways(now: Instant, c: &mut Ours, s: &mut Ours) {
    c.dtls
        .send_application_data(b"from client")
        .expect("client send");
    s.dtls
        .send_application_data(b"from server")
        .expect("server send");
    pump(now, c, s);
    assert_eq!(s.received(), [b"from client".to_vec()]);
    assert_eq!(c.received(), [b"from server".to_vec()]);
}

#[test]
fn every_pairing_of_ecdsa_and_rsa_certificates_connects() {
    let now = Instant::now();
    let config = Config::default();
    for (ck, sk) in [
        (KeyType::EcdsaP256, KeyType::EcdsaP256),
        (KeyType::Rsa2048, KeyType::EcdsaP256),
        (KeyType::EcdsaP256, KeyType::Rsa2048),
        (KeyType::Rsa2048, KeyType::Rsa2048),
    ] {
        let (cc, sc) = (cert(ck), cert(sk));
        let (mut c, mut s) = connect(now, &config, &cc, &config, &sc);
        assert!(
            c.connected() && s.connected(),
            "{ck:?} -> {sk:?}: {:?} {:?}",
            c.events,
            s.events
        );
        let suite = c.dtls.cipher_suite().expect("suite");
        let expected = match sk {
            KeyType::Rsa2048 => CipherSuite::EcdheRsaAes128Gcm,
            _ => CipherSuite::EcdheEcdsaAes128Gcm,
        };
        assert_eq!(suite, expected, "the server's key picks the suite");
        assert_eq!(c.dtls.peer_certificate(), Some(sc.der()));
        assert_eq!(s.dtls.peer_certificate(), Some(cc.der()));
        assert_eq!(
            c.srtp().map(|k| k.keying_material()),
            s.srtp().map(|k| k.keying_material())
        );
        send_both_ways(now, &mut c, &mut s);
    }
}

#[test]
fn each_cipher_suite_negotiates_and_carries_data() {
    let now = Instant::now();
    let ecdsa = cert(KeyType::EcdsaP256);
    let rsa = cert(KeyType::Rsa2048);
    let client_cert = cert(KeyType::EcdsaP256);
    for suite in CipherSuite::ALL {
        let mut client_config = Config::default();
        client_config.cipher_suites = vec![suite];
        let server_cert = match suite {
            CipherSuite::EcdheRsaAes128Gcm | CipherSuite::EcdheRsaAes256Gcm => &rsa,
            _ => &ecdsa,
        };
        let (mut c, mut s) = connect(
            now,
            &client_config,
            &client_cert,
            &Config::default(),
            server_cert,
        );
        assert!(c.connected() && s.connected(), "{suite:?}");
        assert_eq!(c.dtls.cipher_suite(), Some(suite));
        assert_eq!(s.dtls.cipher_suite(), Some(suite));
        send_both_ways(now, &mut c, &mut s);
    }
}

#[test]
fn no_common_suite_for_the_server_key_is_a_handshake_failure_alert() {
    let now = Instant::now();
    let mut client_config = Config::default();
    client_config.cipher_suites = vec![CipherSuite::EcdheRsaAes128Gcm];
    let (c, s) = connect(
        now,
        &client_config,
        &cert(KeyType::EcdsaP256),
        &Config::default(),
        &cert(KeyType::EcdsaP256),
    );
    assert!(matches!(
        s.failure(),
        Some(Error::Protocol {
            sent: AlertDescription::HandshakeFailure,
            reason: ProtocolError::NoCommonCipherSuite
        })
    ));
    assert_eq!(
        c.failure(),
        Some(&Error::AlertReceived {
            description: AlertDescription::HandshakeFailure
        })
    );
}

#[test]
fn each_group_negotiates() {
    let now = Instant::now();
    let (cc, sc) = (cert(KeyType::EcdsaP256), cert(KeyType::EcdsaP256));
    for group in NamedGroup::ALL {
        let mut client_config = Config::default();
        client_config.groups = vec![group];
        let (mut c, mut s) = connect(now, &client_config, &cc, &Config::default(), &sc);
        assert!(c.connected() && s.connected(), "{group:?}");
        assert_eq!(c.dtls.key_exchange_group(), Some(group));
        assert_eq!(s.dtls.key_exchange_group(), Some(group));
        send_both_ways(now, &mut c, &mut s);
    }
    // The server's own order decides among what the client offers.
    let mut server_config = Config::default();
    server_config.groups = vec![NamedGroup::P384, NamedGroup::X25519];
    let (c, _) = connect(now, &Config::default(), &cc, &server_config, &sc);
    assert_eq!(c.dtls.key_exchange_group(), Some(NamedGroup::P384));
}

#[test]
fn fingerprint_mismatch_sends_bad_certificate_and_the_peer_fails_at_once() {
    let now = Instant::now();
    let config = Config::default();
    for client_is_wrong in [true, false] {
        let (cc, sc, other) = (
            cert(KeyType::EcdsaP256),
            cert(KeyType::EcdsaP256),
            cert(KeyType::EcdsaP256),
        );
        let mut c = Ours::new(&config, &cc, Role::Client, now);
        let mut s = Ours::new(&config, &sc, Role::Server, now);
        if client_is_wrong {
            c.dtls.expect_remote_fingerprints(other.fingerprints());
            s.dtls.expect_remote_fingerprints(cc.fingerprints());
        } else {
            c.dtls.expect_remote_fingerprints(sc.fingerprints());
            s.dtls.expect_remote_fingerprints(other.fingerprints());
        }
        // No time passes: the peer fails on the alert, not on a timer.
        pump(now, &mut c, &mut s);
        let (checker, peer) = if client_is_wrong { (&c, &s) } else { (&s, &c) };
        assert!(
            matches!(checker.failure(), Some(Error::FingerprintMismatch { .. })),
            "{:?}",
            checker.events
        );
        assert_eq!(
            peer.failure(),
            Some(&Error::AlertReceived {
                description: AlertDescription::BadCertificate
            }),
            "client wrong: {client_is_wrong}"
        );
        assert_eq!(peer.dtls.state(), TransportState::Failed);
        assert_eq!(peer.dtls.poll_timeout(), None);
    }
}

/// RFC 8122 §5: with fingerprints of several hash functions, the endpoint
/// "MUST select the set of fingerprints that use its most preferred hash
/// function (out of those offered by the peer)" and the certificate must
/// match one of that set. A SHA-1 fingerprint that matches does not make
/// up for a SHA-256 one that does not; with only a matching SHA-256 one
/// beside a wrong SHA-1 one, the peer connects.
#[test]
fn only_fingerprints_of_the_strongest_hash_offered_are_checked() {
    use ferrtc_dtls::HashAlgorithm;
    let now = Instant::now();
    let config = Config::default();
    let (cc, sc, other) = (
        cert(KeyType::EcdsaP256),
        cert(KeyType::EcdsaP256),
        cert(KeyType::EcdsaP256),
    );
    // The client's SHA-1 fingerprint is right, its SHA-256 one is another
    // certificate's: refused.
    let mut c = Ours::new(&config, &cc, Role::Client, now);
    let mut s = Ours::new(&config, &sc, Role::Server, now);
    c.dtls.expect_remote_fingerprints(sc.fingerprints());
    s.dtls.expect_remote_fingerprints(vec![
        cc.fingerprint(HashAlgorithm::Sha1),
        other.fingerprint(HashAlgorithm::Sha256),
    ]);
    pump(now, &mut c, &mut s);
    assert!(
        matches!(s.failure(), Some(Error::FingerprintMismatch { .. })),
        "{:?}",
        s.events
    );
    assert!(!c.connected());

    // The SHA-256 one is right, the SHA-1 one wrong: the SHA-1 set is not
    // the one checked.
    let mut c = Ours::new(&config, &cc, Role::Client, now);
    let mut s = Ours::new(&config, &sc, Role::Server, now);
    c.dtls.expect_remote_fingerprints(sc.fingerprints());
    s.dtls.expect_remote_fingerprints(vec![
        other.fingerprint(HashAlgorithm::Sha1),
        cc.fingerprint(HashAlgorithm::Sha256),
    ]);
    pump(now, &mut c, &mut s);
    assert!(c.connected() && s.connected(), "{:?}", s.events);
}

#[test]
fn a_replayed_record_is_dropped_and_counted_and_a_tampered_one_too() {
    let now = Instant::now();
    let config = Config::default();
    let (cc, sc) = (cert(KeyType::EcdsaP256), cert(KeyType::EcdsaP256));
    let (mut c, mut s) = connect(now, &config, &cc, &config, &sc);
    c.dtls.send_application_data(b"once").expect("send");
    let mut record = Vec::new();
    c.dtls.poll_transmit(now, &mut record).expect("record");
    let before = s.dtls.stats();
    s.dtls.handle_receive(now, &record);
    s.dtls.handle_receive(now, &record);
    let mut tampered = record.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x80;
    s.dtls.handle_receive(now, &tampered);
    s.collect();
    assert_eq!(s.received(), [b"once".to_vec()]);
    let after = s.dtls.stats();
    // The duplicate and the tampered copy carry a sequence number already
    // seen: the window drops both before any decryption.
    assert_eq!(after.records_replayed, before.records_replayed + 2);
    assert_eq!(
        after.records_failed_authentication,
        before.records_failed_authentication
    );
    // A tampered record with a new sequence number fails authentication.
    c.dtls.send_application_data(b"twice").expect("send");
    c.dtls.poll_transmit(now, &mut record).expect("record");
    let last = record.len() - 1;
    record[last] ^= 0x80;
    s.dtls.handle_receive(now, &record);
    assert_eq!(
        s.dtls.stats().records_failed_authentication,
        after.records_failed_authentication + 1
    );
    assert_eq!(s.dtls.state(), TransportState::Connected);
}

#[test]
fn malformed_and_oversized_handshake_fragments_are_dropped_and_the_handshake_still_completes() {
    let now = Instant::now();
    let config = Config::default();
    let (cc, sc) = (cert(KeyType::EcdsaP256), cert(KeyType::EcdsaP256));
    let mut c = Ours::new(&config, &cc, Role::Client, now);
    let mut s = Ours::new(&config, &sc, Role::Server, now);
    c.dtls.expect_remote_fingerprints(sc.fingerprints());
    s.dtls.expect_remote_fingerprints(cc.fingerprints());
    // Hostile fragments at the client before the server answers: offset
    // beyond the length, a 16 MiB length, a fragment longer than its record.
    let fragment = |length: u32, offset: u32, frag_len: u32, data: &[u8], seq: u8| {
        let mut hs = vec![2u8];
        hs.extend_from_slice(&length.to_be_bytes()[1..]);
        hs.extend_from_slice(&[0, 1]);
        hs.extend_from_slice(&offset.to_be_bytes()[1..]);
        hs.extend_from_slice(&frag_len.to_be_bytes()[1..]);
        hs.extend_from_slice(data);
        let mut rec = vec![22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, seq];
        rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
        rec.extend_from_slice(&hs);
        rec
    };
    c.dtls.handle_receive(now, &fragment(10, 8, 4, &[0; 4], 1));
    c.dtls
        .handle_receive(now, &fragment(0xff_ffff, 0, 4, &[0; 4], 2));
    c.dtls.handle_receive(now, &fragment(10, 0, 40, &[0; 4], 3));
    assert_eq!(c.dtls.stats().fragments_dropped, 3);
    assert_eq!(c.dtls.stats().handshake_bytes_buffered, 0);
    pump(now, &mut c, &mut s);
    assert!(c.connected() && s.connected());
}

#[test]
fn a_server_keeps_no_state_for_hellos_without_its_cookie() {
    let now = Instant::now();
    let config = Config::default();
    let sc = cert(KeyType::EcdsaP256);
    let mut server = Dtls::new(&config, &sc, Role::Server, now, wall()).expect("server");
    let mut buf = Vec::new();
    // A flood of first ClientHellos from 200 different clients.
    for _ in 0..200 {
        let mut client = Dtls::new(&config, &sc, Role::Client, now, wall()).expect("client");
        client.poll_transmit(now, &mut buf).expect("hello");
        server.handle_receive(now, &buf);
    }
    let stats = server.stats();
    assert_eq!(stats.hello_verify_requests, 200);
    assert_eq!(stats.handshake_bytes_buffered, 0);
    assert_eq!(server.poll_timeout(), None, "no timer, no flight");
    assert_eq!(server.peer_certificate(), None);
    let mut answers = 0;
    while let Some(len) = server.poll_transmit(now, &mut buf) {
        assert!(len < 100, "a HelloVerifyRequest is small: {len}");
        assert_eq!(buf[0], 22);
        assert_eq!(buf[13], 3, "HelloVerifyRequest");
        answers += 1;
    }
    assert_eq!(answers, 200);
    // A real client still gets through afterwards.
    let cc = cert(KeyType::EcdsaP256);
    let mut c = Ours::new(&config, &cc, Role::Client, now);
    let mut s = Ours {
        dtls: server,
        events: Vec::new(),
    };
    c.dtls.expect_remote_fingerprints(sc.fingerprints());
    s.dtls.expect_remote_fingerprints(cc.fingerprints());
    pump(now, &mut c, &mut s);
    assert!(c.connected() && s.connected());
}

/// A hand-written ClientHello with a cookie, for refusals.
fn client_hello(cookie: &[u8], suites: &[u16], extensions: &[(u16, Vec<u8>)], seq: u16) -> Vec<u8> {
    let mut body = vec![0xfe, 0xfd];
    body.extend_from_slice(&[7; 32]);
    body.push(0);
    body.push(cookie.len() as u8);
    body.extend_from_slice(cookie);
    body.extend_from_slice(&((suites.len() * 2) as u16).to_be_bytes());
    suites
        .iter()
        .for_each(|s| body.extend_from_slice(&s.to_be_bytes()));
    body.extend_from_slice(&[1, 0]);
    let mut ext = Vec::new();
    for (id, data) in extensions {
        ext.extend_from_slice(&id.to_be_bytes());
        ext.extend_from_slice(&(data.len() as u16).to_be_bytes());
        ext.extend_from_slice(data);
    }
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut hs = vec![1u8];
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&seq.to_be_bytes());
    hs.extend_from_slice(&[0, 0, 0]);
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    let mut rec = vec![22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, seq as u8];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

/// Sends the hello twice (the second time with the server's cookie) and
/// returns the server's answer to the second.
fn answer_with_cookie(server: &mut Dtls, suites: &[u16], extensions: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let now = Instant::now();
    let mut buf = Vec::new();
    server.handle_receive(now, &client_hello(&[], suites, extensions, 0));
    server
        .poll_transmit(now, &mut buf)
        .expect("HelloVerifyRequest");
    let cookie = buf[13 + 12 + 3..].to_vec();
    server.handle_receive(now, &client_hello(&cookie, suites, extensions, 1));
    server.poll_transmit(now, &mut buf).expect("answer");
    buf
}

#[test]
fn a_client_without_extended_master_secret_is_refused_with_handshake_failure() {
    let sc = cert(KeyType::EcdsaP256);
    let groups = (10u16, vec![0, 2, 0, 23]);
    let mut server = Dtls::new(
        &Config::default(),
        &sc,
        Role::Server,
        Instant::now(),
        wall(),
    )
    .unwrap();
    let answer = answer_with_cookie(&mut server, &[0xc02b], std::slice::from_ref(&groups));
    assert_eq!(&answer[..1], &[21], "an alert record");
    assert_eq!(&answer[13..15], &[2, 40], "fatal handshake_failure");
    assert!(matches!(
        server.poll_event(),
        Some(Event::Failed(Error::Protocol {
            reason: ProtocolError::NoExtendedMasterSecret,
            ..
        }))
    ));
    // With it the same hello is answered with a ServerHello.
    let mut server = Dtls::new(
        &Config::default(),
        &sc,
        Role::Server,
        Instant::now(),
        wall(),
    )
    .unwrap();
    let answer = answer_with_cookie(&mut server, &[0xc02b], &[groups, (23, vec![])]);
    assert_eq!(answer[0], 22);
    assert_eq!(answer[13], 2, "ServerHello");
}

#[test]
fn a_malformed_server_hello_is_a_decode_error_and_an_unexpected_one_an_unexpected_message() {
    let now = Instant::now();
    let cc = cert(KeyType::EcdsaP256);
    let record = |msg_type: u8, body: &[u8]| {
        let mut hs = vec![msg_type];
        hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        hs.extend_from_slice(&[0, 0, 0, 0, 0]);
        hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        hs.extend_from_slice(body);
        let mut rec = vec![22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 1];
        rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
        rec.extend_from_slice(&hs);
        rec
    };
    // A well-formed ServerHello with renegotiation_info but without the
    // extended master secret (RFC 7627), which we require.
    let mut no_ems = vec![0xfe, 0xfd];
    no_ems.extend_from_slice(&[3; 32]);
    no_ems.extend_from_slice(&[0, 0xc0, 0x2b, 0]);
    no_ems.extend_from_slice(&[0, 5, 0xff, 0x01, 0, 1, 0]);
    for (msg_type, body, alert, code) in [
        (
            2u8,
            vec![0xfe, 0xfd, 1, 2],
            AlertDescription::DecodeError,
            50u8,
        ),
        (14u8, vec![], AlertDescription::UnexpectedMessage, 10u8),
        (2u8, no_ems, AlertDescription::HandshakeFailure, 40u8),
    ] {
        let mut client = Dtls::new(&Config::default(), &cc, Role::Client, now, wall()).unwrap();
        let mut buf = Vec::new();
        client.poll_transmit(now, &mut buf).expect("hello");
        client.handle_receive(now, &record(msg_type, &body));
        client.poll_transmit(now, &mut buf).expect("alert");
        assert_eq!(buf[0], 21);
        assert_eq!(&buf[13..15], &[2, code]);
        match client.poll_event() {
            Some(Event::Failed(Error::Protocol { sent, .. })) => assert_eq!(sent, alert),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn two_seeded_runs_with_rsa_certificates_send_identical_bytes() {
    let (cc, sc) = (cert(KeyType::Rsa2048), cert(KeyType::Rsa2048));
    let run = || {
        let now = Instant::now();
        let mut config = Config::default();
        config.rng_seed = Some(42);
        let mut server_config = Config::default();
        server_config.rng_seed = Some(43);
        let (c, s) = {
            let mut c = Ours::new(&config, &cc, Role::Client, now);
            let mut s = Ours::new(&server_config, &sc, Role::Server, now);
            c.dtls.expect_remote_fingerprints(sc.fingerprints());
            s.dtls.expect_remote_fingerprints(cc.fingerprints());
            let log = pump(now, &mut c, &mut s);
            assert!(c.connected() && s.connected());
            (log, c.srtp().map(|k| k.keying_material()))
        };
        (c, s)
    };
    let (first, keys1) = run();
    let (second, keys2) = run();
    assert!(first.len() >= 4);
    assert_eq!(first, second, "every datagram identical");
    assert_eq!(keys1, keys2);
    // And a different seed changes them.
    let mut config = Config::default();
    config.rng_seed = Some(44);
    let now = Instant::now();
    let mut c = Ours::new(&config, &cc, Role::Client, now);
    let mut hello = Vec::new();
    c.dtls.poll_transmit(now, &mut hello).expect("hello");
    assert_ne!(hello, first[0].1);
}

#[test]
fn records_decrypt_in_place_and_encrypt_into_the_callers_buffer() {
    let now = Instant::now();
    let config = Config::default();
    let (cc, sc) = (cert(KeyType::EcdsaP256), cert(KeyType::EcdsaP256));
    let (mut c, mut s) = connect(now, &config, &cc, &config, &sc);
    // Two records in one datagram, written straight into our buffer.
    let mut datagram = Vec::with_capacity(1500);
    let first = c
        .dtls
        .send_application_data_into(b"first packet", &mut datagram)
        .expect("seal");
    let second = c
        .dtls
        .send_application_data_into(&[9u8; 1100], &mut datagram)
        .expect("seal");
    assert_eq!(datagram.len(), first + second);
    assert_eq!(first, 13 + 8 + 12 + 16);
    s.dtls.handle_receive_in_place(now, &mut datagram);
    let a = s.dtls.poll_application_data().expect("first");
    let b = s.dtls.poll_application_data().expect("second");
    assert_eq!(s.dtls.poll_application_data(), None);
    assert_eq!(&datagram[a], b"first packet");
    assert_eq!(&datagram[b], &[9u8; 1100][..]);
    assert!(s.dtls.poll_event().is_none(), "nothing went through events");
    // The old path still works for the same transport.
    c.dtls.send_application_data(b"queued").expect("send");
    pump(now, &mut c, &mut s);
    assert_eq!(s.received(), [b"queued".to_vec()]);
    // Too large for a record.
    assert!(matches!(
        c.dtls.send_application_data(&vec![0; 20_000]),
        Err(Error::RecordTooLarge { .. })
    ));
}

#[test]
fn close_notify_reaches_the_peer_and_then_nothing_is_accepted() {
    let now = Instant::now();
    let config = Config::default();
    let (cc, sc) = (cert(KeyType::Rsa2048), cert(KeyType::EcdsaP256));
    let (mut c, mut s) = connect(now, &config, &cc, &config, &sc);
    s.dtls.close();
    let log = pump(now, &mut c, &mut s);
    assert_eq!(c.events.last(), Some(&Event::Closed));
    // Each side sent one close_notify: ours, then the answer.
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(log.iter().all(|(_, d)| d[0] == 21 && d[3..5] == [0, 1]));
    assert_eq!(c.dtls.state(), TransportState::Closed);
    assert_eq!(s.dtls.state(), TransportState::Closed);
}

#[test]
fn application_data_before_the_finished_is_not_delivered_unverified() {
    // The limits test covers the held queue; here the retransmission timer
    // stops once connected.
    let now = Instant::now();
    let config = Config::default();
    let (cc, sc) = (cert(KeyType::EcdsaP256), cert(KeyType::EcdsaP256));
    let (c, s) = connect(now, &config, &cc, &config, &sc);
    assert_eq!(c.dtls.poll_timeout(), None);
    assert_eq!(s.dtls.poll_timeout(), None);
    assert_eq!(c.dtls.stats().retransmissions, 0);
}

#[test]
fn a_lost_final_flight_is_recovered_by_retransmission() {
    let start = Instant::now();
    let config = Config::default();
    let (cc, sc) = (cert(KeyType::EcdsaP256), cert(KeyType::EcdsaP256));
    let mut c = Ours::new(&config, &cc, Role::Client, start);
    let mut s = Ours::new(&config, &sc, Role::Server, start);
    c.dtls.expect_remote_fingerprints(sc.fingerprints());
    s.dtls.expect_remote_fingerprints(cc.fingerprints());
    let mut buf = Vec::new();
    let mut now = start;
    // Deliver everything except the server's first transmission of flight 6.
    let mut dropped_flight_6 = false;
    for _ in 0..20 {
        while c.dtls.poll_transmit(now, &mut buf).is_some() {
            s.dtls.handle_receive(now, &buf);
        }
        s.collect();
        while s.dtls.poll_transmit(now, &mut buf).is_some() {
            if s.connected() && !dropped_flight_6 {
                dropped_flight_6 = true;
                continue;
            }
            c.dtls.handle_receive(now, &buf);
        }
        c.collect();
        if c.connected() {
            break;
        }
        now = c
            .dtls
            .poll_timeout()
            .unwrap_or(now + Duration::from_secs(1));
    }
    assert!(dropped_flight_6);
    assert!(c.connected() && s.connected());
    assert!(c.dtls.stats().retransmissions >= 1);
    assert!(s.dtls.stats().retransmissions >= 1);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

    /// A handshake with one datagram corrupted never panics, in either
    /// direction, whatever the state it hits; and the survivor either
    /// connects or fails cleanly.
    #[test]
    fn a_corrupted_handshake_datagram_never_panics(
        pick in 0usize..12,
        how in 0u8..4,
        material in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
    ) {
        let now = Instant::now();
        let config = Config::default();
        let (cc, sc) = (fixed_cert(0), fixed_cert(1));
        let mut c = Dtls::new(&config, cc, Role::Client, now, wall()).unwrap();
        let mut s = Dtls::new(&config, sc, Role::Server, now, wall()).unwrap();
        c.expect_remote_fingerprints(sc.fingerprints());
        s.expect_remote_fingerprints(cc.fingerprints());
        let mut buf = Vec::new();
        let mut n = 0;
        for _ in 0..16 {
            while c.poll_transmit(now, &mut buf).is_some() {
                if n == pick {
                    corrupt(&mut buf, how, &material);
                }
                n += 1;
                s.handle_receive(now, &buf);
            }
            while s.poll_transmit(now, &mut buf).is_some() {
                if n == pick {
                    corrupt(&mut buf, how, &material);
                }
                n += 1;
                c.handle_receive(now, &buf);
            }
        }
        while c.poll_event().is_some() {}
        while s.poll_event().is_some() {}
    }
}

fn fixed_cert(i: usize) -> &'static Certificate {
    static CERTS: std::sync::OnceLock<[Certificate; 2]> = std::sync::OnceLock::new();
    &CERTS.get_or_init(|| [cert(KeyType::EcdsaP256), cert(KeyType::Rsa2048)])[i]
}

fn corrupt(buf: &mut Vec<u8>, how: u8, material: &[u8]) {
    match how {
        0 => buf.iter_mut().zip(material).for_each(|(b, m)| *b = *m),
        1 => buf.iter_mut().zip(material).for_each(|(b, m)| *b ^= *m),
        2 => buf.truncate(material.first().map_or(0, |&n| usize::from(n))),
        _ => *buf = material.to_vec(),
    }
}

/// Flips the last byte of the first handshake message of `msg_type` in a
/// plaintext datagram; returns whether one was found.
fn tamper_message(datagram: &mut [u8], msg_type: u8) -> bool {
    let mut at = 0;
    while at + 13 <= datagram.len() {
        let len = usize::from(u16::from_be_bytes([datagram[at + 11], datagram[at + 12]]));
        let body = at + 13;
        if datagram[at] == 22 && datagram[body] == msg_type && body + len <= datagram.len() {
            datagram[body + len - 1] ^= 0x01;
            return true;
        }
        at = body + len;
    }
    false
}

#[test]
fn a_bad_server_key_exchange_signature_is_a_decrypt_error() {
    for key in [KeyType::EcdsaP256, KeyType::Rsa2048] {
        let now = Instant::now();
        let config = Config::default();
        let (cc, sc) = (cert(KeyType::EcdsaP256), cert(key));
        let mut c = Ours::new(&config, &cc, Role::Client, now);
        let mut s = Ours::new(&config, &sc, Role::Server, now);
        c.dtls.expect_remote_fingerprints(sc.fingerprints());
        s.dtls.expect_remote_fingerprints(cc.fingerprints());
        let mut buf = Vec::new();
        let mut tampered = false;
        for _ in 0..6 {
            while c.dtls.poll_transmit(now, &mut buf).is_some() {
                s.dtls.handle_receive(now, &buf);
            }
            while s.dtls.poll_transmit(now, &mut buf).is_some() {
                tampered |= tamper_message(&mut buf, 12);
                c.dtls.handle_receive(now, &buf);
            }
        }
        c.collect();
        s.collect();
        assert!(tampered);
        assert!(
            matches!(
                c.failure(),
                Some(Error::Protocol {
                    sent: AlertDescription::DecryptError,
                    reason: ProtocolError::BadSignature
                })
            ),
            "{key:?}: {:?}",
            c.events
        );
        assert_eq!(
            s.failure(),
            Some(&Error::AlertReceived {
                description: AlertDescription::DecryptError
            })
        );
    }
}

#[test]
fn rsa_certificates_fragment_to_a_small_mtu() {
    let now = Instant::now();
    let mut config = Config::default();
    config.mtu = 256;
    let (cc, sc) = (cert(KeyType::Rsa2048), cert(KeyType::Rsa2048));
    let mut c = Ours::new(&config, &cc, Role::Client, now);
    let mut s = Ours::new(&config, &sc, Role::Server, now);
    c.dtls.expect_remote_fingerprints(sc.fingerprints());
    s.dtls.expect_remote_fingerprints(cc.fingerprints());
    let log = pump(now, &mut c, &mut s);
    assert!(c.connected() && s.connected());
    assert!(
        log.iter().all(|(_, d)| d.len() <= 256),
        "every datagram fits"
    );
    assert!(
        log.len() > 12,
        "the certificates were fragmented: {}",
        log.len()
    );
}

#[test]
fn a_callers_rng_decides_the_hello_random() {
    use rand::SeedableRng;
    let now = Instant::now();
    let cc = fixed_cert(0);
    let hello = |seed: u64| {
        let rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut d = Dtls::with_rng(&Config::default(), cc, Role::Client, now, wall(), rng).unwrap();
        let mut buf = Vec::new();
        d.poll_transmit(now, &mut buf).expect("hello");
        buf
    };
    assert_eq!(hello(5), hello(5));
    assert_ne!(hello(5), hello(6));
    // The random sits after the record header, the handshake header and
    // the version.
    let (a, b) = (hello(5), hello(6));
    assert_ne!(a[13 + 12 + 2..13 + 12 + 34], b[13 + 12 + 2..13 + 12 + 34]);
}

#[test]
fn an_imported_p384_key_reports_p384_and_a_p384_certificate_connects() {
    // A P-384 identity made elsewhere (as `openssl req -x509` would).
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).expect("key");
    let mut params = rcgen::CertificateParams::new(vec!["p384".into()]).expect("params");
    params.not_before = time_of(wall() - DAY);
    params.not_after = time_of(wall() + DAY);
    let der = params
        .self_signed(&key)
        .expect("certificate")
        .der()
        .to_vec();
    let imported = Certificate::from_der(der, key.serialize_der(), wall()).expect("import");
    assert_eq!(imported.key_type(), KeyType::EcdsaP384);
    assert_eq!(
        Certificate::from_pem(&imported.to_pem(), wall())
            .expect("PEM")
            .key_type(),
        KeyType::EcdsaP384
    );
    let generated = cert(KeyType::EcdsaP384);
    assert_eq!(generated.key_type(), KeyType::EcdsaP384);
    let now = Instant::now();
    let config = Config::default();
    let (mut c, mut s) = connect(now, &config, &imported, &config, &generated);
    assert!(
        c.connected() && s.connected(),
        "{:?} {:?}",
        c.events,
        s.events
    );
    send_both_ways(now, &mut c, &mut s);
}

fn time_of(t: std::time::SystemTime) -> time::OffsetDateTime {
    time::OffsetDateTime::from(t)
}

/// `datagram` without its epoch-0 handshake records whose first message is
/// of type `msg_type` (a loss of just those records).
fn without_message(datagram: &[u8], msg_type: u8) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = datagram;
    while rest.len() >= 13 {
        let len = usize::from(u16::from_be_bytes([rest[11], rest[12]]));
        let Some(record) = rest.get(..13 + len) else {
            break;
        };
        let plain_handshake = record[0] == 22 && record[3..5] == [0, 0];
        if !(plain_handshake && record.get(13) == Some(&msg_type)) {
            out.extend_from_slice(record);
        }
        rest = &rest[13 + len..];
    }
    out
}

/// RFC 6347 §4.2.4: a retransmitted flight from the peer is answered with
/// ours because it suggests ours was lost. A retransmission of the flight
/// we are still receiving (flight 5, whose ClientKeyExchange keeps getting
/// lost) shows the peer has our flight 4: the server must not answer it
/// with flight 4, which the client would answer again with flight 5 (a
/// ping-pong on top of both timers). The timer alone resends flight 4.
#[test]
fn a_retransmission_of_a_flight_not_yet_answered_is_not_answered_with_the_previous_one() {
    const CLIENT_KEY_EXCHANGE: u8 = 16;
    let start = Instant::now();
    let config = Config::default();
    let (cc, sc) = (cert(KeyType::EcdsaP256), cert(KeyType::EcdsaP256));
    let mut c = Dtls::new(&config, &cc, Role::Client, start, wall()).expect("client");
    let mut s = Dtls::new(&config, &sc, Role::Server, start, wall()).expect("server");
    c.expect_remote_fingerprints(sc.fingerprints());
    s.expect_remote_fingerprints(cc.fingerprints());
    let mut buf = Vec::new();
    let mut deliver = |now: Instant, from: &mut Dtls, to: &mut Dtls, lose_cke: bool| {
        let mut n = 0;
        while from.poll_transmit(now, &mut buf).is_some() {
            n += 1;
            let d = if lose_cke {
                without_message(&buf, CLIENT_KEY_EXCHANGE)
            } else {
                buf.clone()
            };
            if !d.is_empty() {
                to.handle_receive(now, &d);
            }
        }
        n
    };
    // Flights 1 to 4, then flight 5 without its ClientKeyExchange.
    deliver(start, &mut c, &mut s, false);
    deliver(start, &mut s, &mut c, false);
    deliver(start, &mut c, &mut s, false);
    assert!(deliver(start, &mut s, &mut c, false) > 0, "flight 4");
    assert!(deliver(start, &mut c, &mut s, true) > 0, "flight 5");
    assert_eq!(s.stats().retransmissions, 0);
    // The client's timer resends flight 5; its ClientKeyExchange is lost
    // again; the rest is a duplicate to the server, but not a reason to
    // resend flight 4.
    for round in 0..3 {
        let now = c.poll_timeout().expect("flight 5 timer");
        let before = s.stats().retransmissions;
        assert!(deliver(now, &mut c, &mut s, true) > 0);
        assert_eq!(
            s.stats().retransmissions,
            before,
            "round {round}: flight 4 resent in answer to a partial flight 5"
        );
    }
    // Once the whole flight 5 arrives, the server sends flight 6, once
    // (the duplicates of the messages it had are no reason to resend it),
    // and the handshake completes.
    let now = c.poll_timeout().expect("flight 5 timer");
    deliver(now, &mut c, &mut s, false);
    assert_eq!(s.state(), TransportState::Connected);
    assert_eq!(deliver(now, &mut s, &mut c, false), 1, "flight 6, once");
    assert_eq!(s.stats().retransmissions, 0);
    assert_eq!(c.state(), TransportState::Connected);
    assert_eq!(s.state(), TransportState::Connected);
}
