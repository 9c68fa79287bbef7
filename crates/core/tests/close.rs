//! W3C webrtc-pc §4.4.1.3 `close()`: whatever state the connection is in,
//! it ends with every state `closed` and later calls refused.

use std::time::{Duration, Instant, SystemTime};

use ferrtc_core::{
    Certificate, Config, DataChannelInit, Error, IceConnectionState, PeerConnection,
    PeerConnectionState, SignalingState, Stats, TurnServer, TurnTransport,
};

fn peer(
    seed: u8,
    certificate: Option<Certificate>,
    now: Instant,
    wall: SystemTime,
) -> PeerConnection {
    let mut config = Config::default();
    config.rng_seed = Some([seed; 32]);
    config.certificate = certificate;
    PeerConnection::new(config, now, wall).unwrap()
}

/// A certificate valid when the connection is made but expired when its
/// DTLS transport starts (the offerer is the DTLS server, which starts as
/// soon as the answer is applied): the transport fails, so the connection
/// is `failed` (webrtc-pc §4.3.3), not closed, and so is its DTLS state. The application's `close()`
/// then closes it like any other: signaling, ICE and connection states
/// `closed`, and later calls refused with an `InvalidStateError`.
#[test]
fn close_after_the_dtls_transport_failed_to_start_closes_every_state() {
    let now = Instant::now();
    let wall = SystemTime::now();
    let short = Certificate::generate_with_validity(wall, Duration::from_secs(3600)).unwrap();
    let mut a = peer(1, Some(short), now, wall);
    let mut b = peer(2, None, now, wall);
    a.create_data_channel(now, "x", DataChannelInit::default())
        .unwrap();
    a.set_local_description(now, None).unwrap();
    b.set_remote_description(now, a.local_description().unwrap())
        .unwrap();
    b.set_local_description(now, None).unwrap();
    let later = now + Duration::from_secs(2 * 3600);
    a.set_remote_description(later, b.local_description().unwrap())
        .unwrap();
    assert_eq!(a.connection_state(), PeerConnectionState::Failed);
    assert_eq!(a.signaling_state(), SignalingState::Stable);
    assert_eq!(a.dtls_state(), Some(ferrtc_dtls::TransportState::Failed));
    let transport = a.get_stats(wall).first_of_type("transport").cloned();
    assert!(
        matches!(&transport, Some(Stats::Transport(t)) if t.dtls_state == "failed"),
        "{transport:?}"
    );
    // A failed connection is not a closed one: it still takes calls.
    a.create_data_channel(later, "y", DataChannelInit::default())
        .unwrap();

    a.close(later);
    assert_eq!(a.signaling_state(), SignalingState::Closed);
    assert_eq!(a.ice_connection_state(), IceConnectionState::Closed);
    assert_eq!(a.connection_state(), PeerConnectionState::Closed);
    assert!(matches!(a.create_offer(), Err(Error::Closed)));
    let mut buf = Vec::new();
    while a.poll_transmit(later, &mut buf).is_some() {}
    assert!(a.is_closed());
}

/// No event fires once `close()` is called (webrtc-pc §4.4.1 close():
/// `[[IsClosed]]` is true, and every event task aborts on it), whatever
/// the engines still finish: here a TURN allocation that was under way
/// times out after the close, which before it would have been an
/// `icecandidateerror` (701).
#[test]
fn no_event_fires_after_close_from_work_the_engines_finish() {
    let now = Instant::now();
    let mut config = Config::default();
    config.rng_seed = Some([1; 32]);
    config.turn_servers = vec![TurnServer {
        server: "192.0.2.99:3478".parse().unwrap(),
        transport: TurnTransport::Udp,
        username: "user".into(),
        credential: "secret".into(),
        host: "192.0.2.99".into(),
    }];
    let mut pc = PeerConnection::new(config, now, SystemTime::now()).unwrap();
    pc.add_local_host(now, "192.0.2.10:5000".parse().unwrap())
        .unwrap();
    pc.create_data_channel(now, "x", DataChannelInit::default())
        .unwrap();
    pc.set_local_description(now, None).unwrap();
    let mut buf = Vec::new();
    while pc.poll_transmit(now, &mut buf).is_some() {}
    while pc.poll_event().is_some() {}

    pc.close(now);
    let mut t = now;
    let mut after = Vec::new();
    for _ in 0..10_000 {
        while pc.poll_transmit(t, &mut buf).is_some() {}
        after.extend(std::iter::from_fn(|| pc.poll_event()));
        let Some(next) = pc.poll_timeout() else {
            break;
        };
        t = next.max(t);
        pc.handle_timeout(t);
    }
    assert!(t > now + Duration::from_secs(30), "the allocation ran out");
    assert_eq!(after, vec![]);
}
