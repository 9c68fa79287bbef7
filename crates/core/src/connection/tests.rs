//! How the peer connection uses DCEP (RFC 8832) on an SCTP stream: the
//! messages are fed straight into the connection, as the association
//! would deliver them.

use std::time::{Duration, Instant, SystemTime};

use ferrtc_sctp::ppid;

use super::PeerConnection;
use crate::{Config, DataChannelInit, DataChannelState, Error, Event};

fn connection() -> PeerConnection {
    let config = Config {
        rng_seed: Some([3; 32]),
        ..Config::default()
    };
    PeerConnection::new(config, Instant::now(), SystemTime::now()).unwrap()
}

fn dcep(stream: u16, data: &[u8]) -> ferrtc_sctp::Message {
    ferrtc_sctp::Message {
        stream,
        ppid: ppid::DCEP,
        unordered: false,
        data: data.to_vec(),
    }
}

fn events(pc: &mut PeerConnection) -> Vec<Event> {
    std::iter::from_fn(|| pc.poll_event()).collect()
}

/// DATA_CHANNEL_OPEN as RFC 8832 §5.1 lays it out.
fn open_bytes(channel_type: u8, param: u32, label: &str, protocol: &str) -> Vec<u8> {
    let mut b = vec![0x03, channel_type, 0x01, 0x00];
    b.extend_from_slice(&param.to_be_bytes());
    b.extend_from_slice(&(label.len() as u16).to_be_bytes());
    b.extend_from_slice(&(protocol.len() as u16).to_be_bytes());
    b.extend_from_slice(label.as_bytes());
    b.extend_from_slice(protocol.as_bytes());
    b
}

#[test]
fn a_dcep_open_from_the_peer_announces_an_open_channel_with_its_parameters() {
    let mut pc = connection();
    // 0x81: partial reliable by retransmissions, unordered (as Chromium
    // sends for `{ordered: false, maxRetransmits: 0}`).
    pc.on_message(Instant::now(), dcep(3, &open_bytes(0x81, 0, "u", "json")));
    let id = match events(&mut pc).as_slice() {
        [Event::DataChannel(a), Event::ChannelOpen(b)] if a == b => *a,
        other => panic!("unexpected events {other:?}"),
    };
    let info = pc.channel(id).unwrap();
    assert_eq!(info.label, "u");
    assert_eq!(info.protocol, "json");
    assert!(!info.ordered);
    assert_eq!(info.max_retransmits, Some(0));
    assert_eq!(info.max_packet_life_time, None);
    assert!(!info.negotiated);
    assert_eq!(info.id, Some(3));
    assert_eq!(info.ready_state, DataChannelState::Open);
}

#[test]
fn a_timed_dcep_open_gives_the_lifetime_in_milliseconds() {
    let mut pc = connection();
    // 0x02: partial reliable by lifetime, ordered.
    pc.on_message(
        Instant::now(),
        dcep(5, &open_bytes(0x02, 1500, "timed", "")),
    );
    let id = pc.channels().next().unwrap();
    let info = pc.channel(id).unwrap();
    assert!(info.ordered);
    assert_eq!(info.max_packet_life_time, Some(Duration::from_millis(1500)));
    assert_eq!(info.max_retransmits, None);
}

#[test]
fn malformed_dcep_and_opens_on_a_busy_stream_are_dropped_and_counted() {
    let mut pc = connection();
    let before = pc.stats().dropped_messages;
    let mut padded = open_bytes(0x00, 0, "a", "");
    padded.push(0);
    for bad in [&[][..], &[0x02, 0x00], &[0x03, 0x00], &[0x07], &padded] {
        pc.on_message(Instant::now(), dcep(1, bad));
    }
    assert_eq!(pc.stats().dropped_messages, before + 5);
    assert!(events(&mut pc).is_empty());
    assert_eq!(pc.channels().count(), 0);

    pc.on_message(Instant::now(), dcep(1, &open_bytes(0x00, 0, "first", "")));
    pc.on_message(Instant::now(), dcep(1, &open_bytes(0x00, 0, "second", "")));
    assert_eq!(pc.stats().dropped_messages, before + 6);
    assert_eq!(pc.channels().count(), 1);
}

// `a_dcep_ack_lets_an_unordered_channel_send_unordered` moved with the
// channel table to ferrtc-datachannel (src/engine.rs tests).

#[test]
fn a_dcep_ack_on_an_unknown_stream_changes_nothing() {
    let mut pc = connection();
    pc.on_message(Instant::now(), dcep(9, &[0x02]));
    assert!(events(&mut pc).is_empty());
    assert_eq!(pc.channels().count(), 0);
}

#[test]
fn max_packet_life_time_beyond_what_dcep_carries_is_refused() {
    let mut pc = connection();
    let init = |ms| DataChannelInit {
        max_packet_life_time: Some(Duration::from_millis(ms)),
        ..DataChannelInit::default()
    };
    assert!(matches!(
        pc.create_data_channel(Instant::now(), "long", init(65_536)),
        Err(Error::Type { .. })
    ));
    let id = pc
        .create_data_channel(Instant::now(), "longest", init(65_535))
        .unwrap();
    assert_eq!(
        pc.channel(id).unwrap().max_packet_life_time,
        Some(Duration::from_millis(65_535))
    );
}

/// RFC 8839 §5.4 `ice-char`: 64 symbols, 6 bits of randomness each.
fn ice_char_bits(s: &str) -> usize {
    assert!(
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/'),
        "{s:?} is not made of ice-chars"
    );
    s.len() * 6
}

#[test]
fn two_default_connections_draw_different_ice_credentials() {
    let now = Instant::now();
    let a = PeerConnection::new(Config::default(), now, SystemTime::now()).unwrap();
    let b = PeerConnection::new(Config::default(), now, SystemTime::now()).unwrap();
    assert_ne!(a.credentials.ufrag(), b.credentials.ufrag());
    assert_ne!(a.credentials.pwd(), b.credentials.pwd());
}

#[test]
fn equal_32_byte_seeds_give_equal_credentials_and_offers() {
    let now = Instant::now();
    let certificate = connection().certificate().clone();
    let seeded = |seed: [u8; 32]| {
        let config = Config {
            rng_seed: Some(seed),
            certificate: Some(certificate.clone()),
            ..Config::default()
        };
        PeerConnection::new(config, now, SystemTime::now()).unwrap()
    };
    let (mut a, mut b, c) = (seeded([9; 32]), seeded([9; 32]), seeded([10; 32]));
    assert_eq!(a.credentials, b.credentials);
    assert_ne!(a.credentials, c.credentials);
    a.create_data_channel(now, "x", DataChannelInit::default())
        .unwrap();
    b.create_data_channel(now, "x", DataChannelInit::default())
        .unwrap();
    assert_eq!(a.create_offer().unwrap(), b.create_offer().unwrap());
}

#[test]
fn ice_credentials_carry_the_randomness_rfc_8445_asks_for() {
    // RFC 8445 §5.3: at least 24 bits of randomness in the ufrag, 128 in
    // the password.
    let pc = PeerConnection::new(Config::default(), Instant::now(), SystemTime::now()).unwrap();
    assert!(ice_char_bits(pc.credentials.ufrag()) >= 24);
    assert!(ice_char_bits(pc.credentials.pwd()) >= 128);
    assert_eq!(pc.local_ufrag(), pc.credentials.ufrag());
}

#[test]
fn refusals_carry_the_w3c_exception_kind_and_the_lower_layer_cause() {
    let now = Instant::now();
    let mut pc = connection();
    // webrtc-pc §4.4.1.6: addIceCandidate without a remote description.
    let candidate = crate::IceCandidateInit {
        candidate: "candidate:1 1 udp 2130706431 127.0.0.1 6000 typ host".into(),
        sdp_mid: Some("0".into()),
        sdp_m_line_index: Some(0),
        username_fragment: None,
    };
    let e = pc.add_ice_candidate(now, &candidate).unwrap_err();
    assert!(matches!(e, Error::InvalidState { .. }), "{e:?}");
    assert_eq!(e.name(), "InvalidStateError");
    assert!(e.cause::<ferrtc_jsep::JsepError>().is_some());
    // SDP that does not parse.
    let garbage = crate::SessionDescription {
        kind: crate::SdpType::Offer,
        sdp: "v=0\r\nthis is not sdp\r\n".into(),
    };
    let e = pc.set_remote_description(now, garbage).unwrap_err();
    assert!(matches!(e, Error::Syntax { .. }), "{e:?}");
    // RTCDataChannelInit: both lifetime and retransmits is a TypeError.
    let both = DataChannelInit {
        max_retransmits: Some(1),
        max_packet_life_time: Some(Duration::from_millis(10)),
        ..DataChannelInit::default()
    };
    let e = pc.create_data_channel(now, "x", both).unwrap_err();
    assert_eq!(e.name(), "TypeError");
    // send() on a channel that is not open.
    let id = pc
        .create_data_channel(now, "x", DataChannelInit::default())
        .unwrap();
    let e = pc.send(now, id, b"early", false).unwrap_err();
    assert!(matches!(e, Error::InvalidState { .. }), "{e:?}");
    assert!(!e.is_send_buffer_full());
    // A negotiated id already in use is an OperationError.
    let fixed = DataChannelInit {
        negotiated: true,
        id: Some(8),
        ..DataChannelInit::default()
    };
    pc.create_data_channel(now, "a", fixed.clone()).unwrap();
    let e = pc.create_data_channel(now, "b", fixed).unwrap_err();
    assert!(matches!(e, Error::Operation { .. }), "{e:?}");
    // Everything after close() is the one Closed.
    pc.close(now);
    assert!(matches!(pc.create_offer(), Err(Error::Closed)));
    assert!(matches!(
        pc.add_ice_candidate(now, &candidate),
        Err(Error::Closed)
    ));
}

#[test]
fn a_stun_server_given_after_an_idle_spell_is_queried_from_the_true_time() {
    // The ICE agent keeps the time of its last input; a gathering
    // transaction started from it after a long idle spell was already
    // overdue, and given up, when it started.
    let t0 = Instant::now();
    let mut pc = connection();
    pc.add_local_host(t0, "10.0.0.1:5000".parse().unwrap())
        .unwrap();
    pc.create_data_channel(t0, "x", DataChannelInit::default())
        .unwrap();
    pc.set_local_description(t0, None).unwrap();
    let mut buf = Vec::new();
    while pc.poll_transmit(t0, &mut buf).is_some() {}
    events(&mut pc);
    if let Some(t) = pc.poll_timeout() {
        pc.handle_timeout(t);
    }
    // W3C setConfiguration with a new STUN server, a minute later.
    let later = t0 + Duration::from_secs(60);
    let server: std::net::SocketAddr = "10.0.0.9:3478".parse().unwrap();
    pc.set_stun_servers(later, vec![server]).unwrap();
    assert!(
        pc.poll_timeout().is_some_and(|t| t >= later),
        "a timer was due before the call that set it: {:?}",
        pc.poll_timeout().map(|t| later - t)
    );
    let sent = pc
        .poll_transmit(later, &mut buf)
        .expect("no Binding request");
    assert_eq!(sent.destination, server);
}

#[test]
fn an_offer_with_an_empty_sdp_is_the_parameterless_set_local_description() {
    let mut pc = connection();
    let now = Instant::now();
    pc.create_data_channel(now, "chat", DataChannelInit::default())
        .unwrap();
    pc.set_local_description(now, Some(ferrtc_jsep::SessionDescription::offer("")))
        .unwrap();
    let local = pc
        .local_description()
        .expect("an offer was created and applied");
    assert!(local.sdp.contains("m=application"));
}
