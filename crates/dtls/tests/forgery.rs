//! Forged, stale and spoofed input from an off-path attacker: what it must
//! not make the engine send, change or give up (review findings).

mod common;

use std::time::{Duration, Instant};

use common::wall;
use ferrtc_dtls::{Certificate, Config, Dtls, Event, KeyType, Role, TransportState};

const DAY: Duration = Duration::from_secs(86_400);

fn pair(kt: KeyType, now: Instant) -> (Dtls, Dtls) {
    let ca = Certificate::generate_with(kt, wall(), DAY).expect("certificate");
    let sa = Certificate::generate_with(kt, wall(), DAY).expect("certificate");
    let config = Config::default();
    let mut c = Dtls::new(&config, &ca, Role::Client, now, wall()).expect("client");
    let mut s = Dtls::new(&config, &sa, Role::Server, now, wall()).expect("server");
    c.expect_remote_fingerprints(sa.fingerprints());
    s.expect_remote_fingerprints(ca.fingerprints());
    (c, s)
}

/// Delivers everything both ways until quiet, returning what `a` sent.
fn pump(now: Instant, a: &mut Dtls, b: &mut Dtls) -> Vec<Vec<u8>> {
    let mut buf = Vec::new();
    let mut sent = Vec::new();
    for _ in 0..10 {
        while a.poll_transmit(now, &mut buf).is_some() {
            sent.push(buf.clone());
            b.handle_receive(now, &buf);
        }
        while b.poll_transmit(now, &mut buf).is_some() {
            a.handle_receive(now, &buf);
        }
    }
    sent
}

/// An unencrypted handshake record holding one empty-bodied message.
fn forged_handshake(record_seq: u64, msg_type: u8, msg_seq: u16) -> Vec<u8> {
    let mut d = vec![22, 0xfe, 0xfd, 0, 0];
    d.extend_from_slice(&record_seq.to_be_bytes()[2..]);
    d.extend_from_slice(&12u16.to_be_bytes());
    d.extend_from_slice(&[msg_type, 0, 0, 0]);
    d.extend_from_slice(&msg_seq.to_be_bytes());
    d.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    d
}

/// Datagrams queued at `now`.
fn drain(now: Instant, d: &mut Dtls) -> Vec<Vec<u8>> {
    let mut buf = Vec::new();
    let mut out = Vec::new();
    while d.poll_transmit(now, &mut buf).is_some() {
        out.push(buf.clone());
    }
    out
}

#[test]
fn stale_forged_fragments_do_not_make_the_server_resend_its_flight() {
    let now = Instant::now();
    let (mut c, mut s) = pair(KeyType::Rsa2048, now);
    let mut buf = Vec::new();
    // ClientHello, HelloVerifyRequest, ClientHello with the cookie.
    c.poll_transmit(now, &mut buf).expect("ClientHello");
    s.handle_receive(now, &buf);
    s.poll_transmit(now, &mut buf).expect("HelloVerifyRequest");
    c.handle_receive(now, &buf);
    c.poll_transmit(now, &mut buf).expect("ClientHello 2");
    let hello = buf.clone();
    s.handle_receive(now, &hello);
    assert!(!drain(now, &mut s).is_empty(), "flight 4");
    for i in 0..50 {
        s.handle_receive(now, &forged_handshake(100 + i, 1, 0));
        assert!(
            drain(now, &mut s).is_empty(),
            "forged fragment {i} answered"
        );
    }
    assert_eq!(s.stats().retransmissions, 0);
    // The client's real retransmission is answered, once per period.
    s.handle_receive(now, &hello);
    assert!(!drain(now, &mut s).is_empty(), "a retransmitted hello");
    s.handle_receive(now, &hello);
    assert!(drain(now, &mut s).is_empty(), "again within the period");
    assert_eq!(s.stats().retransmissions, 1);
    let later = now + Duration::from_millis(500);
    s.handle_receive(later, &hello);
    assert!(drain(later, &mut s).is_empty(), "still within the period");
    assert_eq!(s.stats().retransmissions, 1);
}

#[test]
fn after_the_handshake_epoch_0_handshake_records_are_neither_new_messages_nor_answered() {
    let now = Instant::now();
    let (mut c, mut s) = pair(KeyType::EcdsaP256, now);
    let flight5 = pump(now, &mut c, &mut s);
    assert_eq!(c.state(), TransportState::Connected);
    assert_eq!(s.state(), TransportState::Connected);
    let refused = (
        c.stats().renegotiations_refused,
        s.stats().renegotiations_refused,
    );
    for i in 0..8u16 {
        c.handle_receive(now, &forged_handshake(500 + u64::from(i), 0, 7 + i));
        s.handle_receive(now, &forged_handshake(500 + u64::from(i), 1, 7 + i));
    }
    assert!(drain(now, &mut c).is_empty(), "no alert per forged message");
    assert!(drain(now, &mut s).is_empty());
    assert_eq!(
        (
            c.stats().renegotiations_refused,
            s.stats().renegotiations_refused
        ),
        refused
    );
    assert_eq!(c.stats().handshake_bytes_buffered, 0);
    assert!(c.stats().fragments_dropped >= 8);
    // The client's final flight again (its last datagrams): the server
    // answers with its own final flight, rate-limited.
    let last = flight5.last().expect("flight 5").clone();
    s.handle_receive(now, &last);
    s.handle_receive(now, &last);
    let resent = drain(now, &mut s);
    assert!(!resent.is_empty(), "flight 6 again");
    assert_eq!(s.stats().retransmissions, 1);
    for d in &resent {
        c.handle_receive(now, d);
    }
    assert_eq!(c.state(), TransportState::Connected);
    while c.poll_event().is_some() {}
    while s.poll_event().is_some() {}
    c.send_application_data(b"still up").expect("send");
    pump(now, &mut c, &mut s);
    assert_eq!(
        s.poll_event(),
        Some(Event::ApplicationData(b"still up".to_vec()))
    );
}

#[test]
fn a_record_whose_header_version_was_rewritten_is_not_delivered() {
    let now = Instant::now();
    let (mut c, mut s) = pair(KeyType::EcdsaP256, now);
    pump(now, &mut c, &mut s);
    assert_eq!(s.state(), TransportState::Connected);
    while s.poll_event().is_some() {}
    let mut buf = Vec::new();
    for (i, version) in [[0xfe, 0xff], [0x03, 0x03], [0xfe, 0xfd]]
        .into_iter()
        .enumerate()
    {
        c.send_application_data(b"hello").expect("send");
        c.poll_transmit(now, &mut buf).expect("record");
        buf[1..3].copy_from_slice(&version);
        s.handle_receive(now, &buf);
        let event = s.poll_event();
        if i < 2 {
            assert_eq!(event, None, "version {version:02x?} accepted");
        } else {
            assert_eq!(event, Some(Event::ApplicationData(b"hello".to_vec())));
        }
    }
    assert_eq!(s.state(), TransportState::Connected);
}

#[test]
fn a_spoofed_alert_does_not_end_a_server_waiting_for_a_cookie() {
    let now = Instant::now();
    let (mut c, mut s) = pair(KeyType::EcdsaP256, now);
    // Fatal handshake_failure and close_notify, unauthenticated, before
    // any ClientHello came back with our cookie.
    s.handle_receive(now, &[21, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2, 2, 40]);
    s.handle_receive(now, &[21, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 2, 0, 2, 1, 0]);
    assert_eq!(s.state(), TransportState::Connecting);
    assert_eq!(s.poll_event(), None);
    pump(now, &mut c, &mut s);
    assert_eq!(c.state(), TransportState::Connected);
    assert_eq!(s.state(), TransportState::Connected);
}

/// RFC 6347 §4.1.2.7 (invalid records are silently discarded) and §4.1:
/// once the peer's records arrive authenticated in epoch 1, the peer writes
/// in epoch 1, so its alerts are protected too; an epoch-0 alert can only
/// be forged. Here the server's flight 6 is lost but its first application
/// record reaches the client: a plaintext fatal alert must not fail the
/// client, which still completes when flight 6 is retransmitted.
#[test]
fn once_the_peer_writes_in_epoch_1_a_plaintext_fatal_alert_is_ignored() {
    let start = Instant::now();
    let (mut c, mut s) = pair(KeyType::EcdsaP256, start);
    let mut buf = Vec::new();
    for _ in 0..10 {
        while c.poll_transmit(start, &mut buf).is_some() {
            s.handle_receive(start, &buf);
        }
        if s.state() == TransportState::Connected {
            break;
        }
        while s.poll_transmit(start, &mut buf).is_some() {
            c.handle_receive(start, &buf);
        }
    }
    assert_eq!(s.state(), TransportState::Connected);
    assert!(!drain(start, &mut s).is_empty(), "flight 6, lost");
    s.send_application_data(b"early").expect("server send");
    for d in drain(start, &mut s) {
        c.handle_receive(start, &d);
    }
    assert_eq!(c.state(), TransportState::Connecting);
    // A forged fatal handshake_failure in epoch 0.
    c.handle_receive(
        start,
        &[21, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 9, 0, 2, 2, 40],
    );
    assert_eq!(c.state(), TransportState::Connecting, "a forged alert");
    assert_eq!(c.poll_event(), None);
    // The client's timer resends flight 5; the server answers with flight 6.
    let later = c.poll_timeout().expect("flight 5 timer");
    for d in drain(later, &mut c) {
        s.handle_receive(later, &d);
    }
    for d in drain(later, &mut s) {
        c.handle_receive(later, &d);
    }
    assert_eq!(c.state(), TransportState::Connected);
}

/// An unencrypted handshake record holding one fragment, as an off-path
/// attacker can send it.
fn forged_fragment(
    record_seq: u64,
    msg_type: u8,
    msg_seq: u16,
    length: usize,
    offset: usize,
    data: &[u8],
) -> Vec<u8> {
    let mut hs = vec![msg_type];
    hs.extend_from_slice(&(length as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&msg_seq.to_be_bytes());
    hs.extend_from_slice(&(offset as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&(data.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(data);
    let mut d = vec![22, 0xfe, 0xfd, 0, 0];
    d.extend_from_slice(&record_seq.to_be_bytes()[2..]);
    d.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    d.extend_from_slice(&hs);
    d
}

/// RFC 6347 §4.2.3: fragments of one message are reassembled; epoch-0
/// fragments are unauthenticated, so one forged fragment that claims a
/// different total length for the next message (here the ServerHello)
/// must not make the real fragments "inconsistent" and stall the message.
#[test]
fn one_forged_fragment_with_another_length_does_not_block_the_real_message() {
    let now = Instant::now();
    let (mut c, mut s) = pair(KeyType::EcdsaP256, now);
    let mut buf = Vec::new();
    // ClientHello, HelloVerifyRequest, ClientHello with the cookie.
    c.poll_transmit(now, &mut buf).expect("ClientHello");
    s.handle_receive(now, &buf);
    s.poll_transmit(now, &mut buf).expect("HelloVerifyRequest");
    c.handle_receive(now, &buf);
    c.poll_transmit(now, &mut buf).expect("ClientHello 2");
    s.handle_receive(now, &buf);
    let flight4 = drain(now, &mut s);
    // The first fragment of flight 4 is the ServerHello's.
    let (msg_type, msg_seq) = (
        flight4[0][13],
        u16::from_be_bytes([flight4[0][17], flight4[0][18]]),
    );
    let real_len = u32::from_be_bytes([0, flight4[0][14], flight4[0][15], flight4[0][16]]) as usize;
    c.handle_receive(
        now,
        &forged_fragment(3, msg_type, msg_seq, real_len + 100, 0, &[0xaa; 8]),
    );
    for d in &flight4 {
        c.handle_receive(now, d);
    }
    assert!(
        !drain(now, &mut c).is_empty(),
        "flight 5 follows the real flight 4"
    );
    assert_eq!(c.state(), TransportState::Connecting);
    // The forged candidate is gone with the message it claimed to be.
    assert_eq!(c.stats().handshake_bytes_buffered, 0);
}

/// RFC 5246 §6.2.1 (and RFC 8446 §5.1): a record's plaintext is at most
/// 2^14 bytes. An unencrypted record over that is invalid, and RFC 6347
/// §4.1.2.7 has DTLS discard invalid records silently: it is not read (its
/// fragment is not buffered), and since anyone can forge it, it does not
/// end the handshake either.
#[test]
fn an_unencrypted_record_over_2_14_bytes_is_discarded_unread() {
    let now = Instant::now();
    let (mut c, mut s) = pair(KeyType::EcdsaP256, now);
    for hello in drain(now, &mut c) {
        s.handle_receive(now, &hello);
    }
    let max = 1 << 14;
    // One ServerHello fragment whose record body is 2^14 + 1 bytes.
    let data = vec![0; max + 1 - 12];
    let oversized = forged_fragment(5, 2, 1, 20_000, 0, &data);
    assert_eq!(oversized.len(), 13 + max + 1);
    c.handle_receive(now, &oversized);
    assert_eq!(c.stats().handshake_bytes_buffered, 0, "read and buffered");
    assert_eq!(c.stats().records_malformed, 1);
    assert_eq!(c.state(), TransportState::Connecting);
    assert!(drain(now, &mut c).is_empty(), "no alert");
    // 2^14 bytes exactly is a record like any other.
    let data = vec![0; max - 12];
    c.handle_receive(now, &forged_fragment(6, 2, 1, 20_000, 0, &data));
    assert_eq!(c.stats().handshake_bytes_buffered, 20_000);
    assert_eq!(c.stats().records_malformed, 1);
    pump(now, &mut c, &mut s);
    assert_eq!(c.state(), TransportState::Connected);
    assert_eq!(s.state(), TransportState::Connected);
}
