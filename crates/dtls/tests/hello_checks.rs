//! What the client checks in a ServerHello and the server in a ClientHello
//! (RFC 5246 §7.4.1, RFC 5764 §4.1.1), with hand-written hellos.

mod common;

use std::time::{Duration, Instant};

use common::wall;
use ferrtc_dtls::{Certificate, Config, Dtls, Error, Event, KeyType, ProtocolError, Role};

fn cert() -> Certificate {
    Certificate::generate_with(KeyType::EcdsaP256, wall(), Duration::from_secs(86_400))
        .expect("certificate")
}

/// One unencrypted handshake record holding one whole message.
fn record(msg_type: u8, seq: u16, body: &[u8]) -> Vec<u8> {
    let len = &(body.len() as u32).to_be_bytes()[1..];
    let mut hs = vec![msg_type];
    hs.extend_from_slice(len);
    hs.extend_from_slice(&seq.to_be_bytes());
    hs.extend_from_slice(&[0, 0, 0]);
    hs.extend_from_slice(len);
    hs.extend_from_slice(body);
    let mut rec = vec![22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, seq as u8];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

fn extensions(list: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut ext = Vec::new();
    for (id, data) in list {
        ext.extend_from_slice(&id.to_be_bytes());
        ext.extend_from_slice(&(data.len() as u16).to_be_bytes());
        ext.extend_from_slice(data);
    }
    let mut out = (ext.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(&ext);
    out
}

/// A ServerHello for ECDHE_ECDSA_AES128_GCM with the extended master
/// secret, renegotiation_info and `extra`.
fn server_hello(extra: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut body = vec![0xfe, 0xfd];
    body.extend_from_slice(&[3; 32]);
    body.extend_from_slice(&[0, 0xc0, 0x2b, 0]);
    let mut list = vec![(23u16, vec![]), (0xff01, vec![0])];
    list.extend_from_slice(extra);
    body.extend_from_slice(&extensions(&list));
    record(2, 0, &body)
}

/// `use_srtp` selecting AEAD_AES_128_GCM with this MKI.
fn use_srtp(mki: &[u8]) -> (u16, Vec<u8>) {
    let mut data = vec![0, 2, 0, 7, mki.len() as u8];
    data.extend_from_slice(mki);
    (14, data)
}

/// The client's answer to `hello` (an alert, or nothing) and its failure.
fn client_answer(config: &Config, hello: &[u8]) -> (Option<Vec<u8>>, Option<Event>) {
    let now = Instant::now();
    let mut client = Dtls::new(config, &cert(), Role::Client, now, wall()).expect("client");
    let mut buf = Vec::new();
    client.poll_transmit(now, &mut buf).expect("ClientHello");
    client.handle_receive(now, hello);
    let answer = client.poll_transmit(now, &mut buf).map(|_| buf.clone());
    (answer, client.poll_event())
}

fn assert_refused(config: &Config, hello: &[u8], code: u8, reason: &ProtocolError) {
    let (answer, event) = client_answer(config, hello);
    let alert = answer.expect("an alert");
    assert_eq!(&alert[0..1], &[21]);
    assert_eq!(&alert[13..15], &[2, code]);
    match event {
        Some(Event::Failed(Error::Protocol { reason: r, .. })) => assert_eq!(&r, reason),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_server_hello_extension_the_client_did_not_offer_is_an_unsupported_extension() {
    let config = Config::default();
    assert_refused(
        &config,
        &server_hello(&[(0x1234, vec![1])]),
        110,
        &ProtocolError::UnsupportedExtension(0x1234),
    );
    // use_srtp answering a client that offered no SRTP.
    let mut no_srtp = Config::default();
    no_srtp.srtp_profiles = Vec::new();
    assert_refused(
        &no_srtp,
        &server_hello(&[use_srtp(&[])]),
        110,
        &ProtocolError::UnsupportedExtension(14),
    );
    // The same use_srtp answering one that offered it is fine.
    let (answer, event) = client_answer(&config, &server_hello(&[use_srtp(&[])]));
    assert_eq!((answer, event), (None, None));
}

#[test]
fn a_use_srtp_mki_other_than_ours_is_an_illegal_parameter() {
    assert_refused(
        &Config::default(),
        &server_hello(&[use_srtp(&[1, 2, 3])]),
        47,
        &ProtocolError::IllegalParameter("use_srtp MKI differs from ours"),
    );
}

/// A ClientHello of `version` with the extensions we require.
fn client_hello(version: u16, cookie: &[u8], seq: u16) -> Vec<u8> {
    client_hello_with(version, cookie, seq, &[0xc02b], &[23], &[])
}

fn u16s(list: &[u16]) -> Vec<u8> {
    let mut out = ((list.len() * 2) as u16).to_be_bytes().to_vec();
    list.iter()
        .for_each(|v| out.extend_from_slice(&v.to_be_bytes()));
    out
}

fn client_hello_with(
    version: u16,
    cookie: &[u8],
    seq: u16,
    suites: &[u16],
    groups: &[u16],
    extra: &[(u16, Vec<u8>)],
) -> Vec<u8> {
    let mut body = version.to_be_bytes().to_vec();
    body.extend_from_slice(&[7; 32]);
    body.push(0);
    body.push(cookie.len() as u8);
    body.extend_from_slice(cookie);
    body.extend_from_slice(&u16s(suites));
    body.extend_from_slice(&[1, 0]);
    let mut list = vec![(10, u16s(groups)), (23, vec![]), (0xff01, vec![0])];
    list.extend_from_slice(extra);
    body.extend_from_slice(&extensions(&list));
    record(1, seq, &body)
}

/// The server's answer to a hello sent twice, the second time with the cookie.
fn server_answer(suites: &[u16], groups: &[u16], extra: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let now = Instant::now();
    let mut server =
        Dtls::new(&Config::default(), &cert(), Role::Server, now, wall()).expect("server");
    let mut buf = Vec::new();
    server.handle_receive(
        now,
        &client_hello_with(0xfefd, &[], 0, suites, groups, extra),
    );
    server
        .poll_transmit(now, &mut buf)
        .expect("HelloVerifyRequest");
    let cookie = buf[13 + 12 + 3..].to_vec();
    server.handle_receive(
        now,
        &client_hello_with(0xfefd, &cookie, 1, suites, groups, extra),
    );
    server.poll_transmit(now, &mut buf).expect("an answer");
    buf
}

#[test]
fn our_suite_and_group_are_found_after_more_than_64_unknown_entries() {
    // GREASE-like values and suites we do not implement first.
    let mut suites: Vec<u16> = (0..100).map(|i| 0x0a0a + i * 0x10).collect();
    suites.push(0xc02b);
    let mut groups: Vec<u16> = (0..80).map(|i| 0x1a1a + i).collect();
    groups.push(23);
    let answer = server_answer(&suites, &groups, &[]);
    assert_eq!((answer[0], answer[13]), (22, 2), "a ServerHello");
}

/// A list the client sends is its list even when it names nothing we know:
/// no group of ours among its `supported_groups` (RFC 8422 §5.1.1), or no
/// scheme among its `signature_algorithms` (RFC 5246 §7.4.1.4.1), is a
/// fatal `handshake_failure`, not the defaults of an absent extension.
#[test]
fn lists_naming_no_group_or_scheme_of_ours_are_a_handshake_failure_not_absent() {
    // x448 and ffdhe2048 only.
    let answer = server_answer(&[0xc02b], &[30, 256], &[]);
    assert_eq!(
        (answer[0], answer[13], answer[14]),
        (21, 2, 40),
        "{answer:?}"
    );
    // ed25519 and ecdsa_sha1 only.
    let schemes = (13, u16s(&[0x0807, 0x0203]));
    let answer = server_answer(&[0xc02b], &[23], &[schemes]);
    assert_eq!(
        (answer[0], answer[13], answer[14]),
        (21, 2, 40),
        "{answer:?}"
    );
    // Absent signature_algorithms: SHA-256 taken, the hello answered.
    let answer = server_answer(&[0xc02b], &[23], &[]);
    assert_eq!((answer[0], answer[13]), (22, 2), "a ServerHello");
}

#[test]
fn a_hello_with_a_duplicate_extension_after_many_others_does_not_decode() {
    let mut extra: Vec<(u16, Vec<u8>)> = (0..70).map(|i| (0x3000 + i, vec![])).collect();
    let now = Instant::now();
    let mut server =
        Dtls::new(&Config::default(), &cert(), Role::Server, now, wall()).expect("server");
    let mut buf = Vec::new();
    let hello = client_hello_with(0xfefd, &[], 0, &[0xc02b], &[23], &extra);
    server.handle_receive(now, &hello);
    assert!(server.poll_transmit(now, &mut buf).is_some(), "answered");
    extra.push((0x3000 + 69, vec![])); // one beyond the first 64
    let hello = client_hello_with(0xfefd, &[], 0, &[0xc02b], &[23], &extra);
    server.handle_receive(now, &hello);
    assert!(server.poll_transmit(now, &mut buf).is_none(), "dropped");
    assert_eq!(server.stats().fragments_dropped, 1);
}

#[test]
fn the_server_accepts_only_dtls_version_values_of_1_2_or_later() {
    for (version, accepted) in [
        (0xfefd, true),
        (0xfefc, true),
        (0xfe00, true),
        (0xfeff, false),
        (0x0303, false),
        (0xfdff, false),
    ] {
        let now = Instant::now();
        let mut server =
            Dtls::new(&Config::default(), &cert(), Role::Server, now, wall()).expect("server");
        let mut buf = Vec::new();
        server.handle_receive(now, &client_hello(version, &[], 0));
        server
            .poll_transmit(now, &mut buf)
            .expect("HelloVerifyRequest");
        let cookie = buf[13 + 12 + 3..].to_vec();
        server.handle_receive(now, &client_hello(version, &cookie, 1));
        server.poll_transmit(now, &mut buf).expect("an answer");
        if accepted {
            assert_eq!((buf[0], buf[13]), (22, 2), "{version:#06x}: a ServerHello");
        } else {
            assert_eq!(&buf[..1], &[21], "{version:#06x}: an alert");
            assert_eq!(&buf[13..15], &[2, 70], "protocol_version");
            assert_eq!(
                server.poll_event(),
                Some(Event::Failed(Error::Protocol {
                    sent: ferrtc_dtls::AlertDescription::ProtocolVersion,
                    reason: ProtocolError::UnsupportedVersion(version),
                }))
            );
        }
    }
}
