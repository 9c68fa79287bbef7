//! W3C webrtc-pc §4.4.1.3 `close()`: whatever state the connection is in,
//! it ends with every state `closed` and later calls refused.

use std::time::{Duration, Instant, SystemTime};

use ferrtc_core::{
    Certificate, Config, DataChannelInit, Error, IceConnectionState, PeerConnection,
    PeerConnectionState, SignalingState, Stats,
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
/// is `failed` (webrtc-pc §4.3.3), not closed. The application's `close()`
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
