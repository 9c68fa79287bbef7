//! Two ferrtc-dtls transports talking over the deterministic simulated network.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime};

use ferrtc_dtls::{
    Certificate, Config, Dtls, Error, Event, Fingerprint, HashAlgorithm, Role, SrtpKeys,
    SrtpProfile, TransportState,
};
use ferrtc_sim::{Endpoint, HostId, Link, LinkConfig, Network, Transmit};

/// One DTLS transport on a simulated host, with a fixed peer address (the
/// ICE layer would have picked it).
struct Peer {
    dtls: Dtls,
    local: SocketAddr,
    remote: SocketAddr,
    events: Vec<Event>,
    largest_datagram: usize,
}

impl Peer {
    fn collect(&mut self) {
        while let Some(event) = self.dtls.poll_event() {
            self.events.push(event);
        }
    }

    fn srtp(&self) -> Option<&SrtpKeys> {
        self.events.iter().find_map(|e| match e {
            Event::Connected { srtp, .. } => srtp.as_ref(),
            _ => None,
        })
    }

    fn connected(&self) -> bool {
        self.events
            .iter()
            .any(|e| matches!(e, Event::Connected { .. }))
    }

    fn failure(&self) -> Option<&Error> {
        self.events.iter().find_map(|e| match e {
            Event::Failed(err) => Some(err),
            _ => None,
        })
    }

    fn received(&self) -> Vec<&[u8]> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::ApplicationData(d) => Some(d.as_slice()),
                _ => None,
            })
            .collect()
    }
}

impl Endpoint for Peer {
    fn handle_receive(&mut self, now: Instant, source: SocketAddr, _: SocketAddr, payload: &[u8]) {
        if source == self.remote {
            self.dtls.handle_receive(now, payload);
        }
        self.collect();
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        let len = self.dtls.poll_transmit(now, buf)?;
        self.largest_datagram = self.largest_datagram.max(len);
        self.collect();
        Some(Transmit {
            source: self.local,
            destination: self.remote,
        })
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.dtls.poll_timeout()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.dtls.handle_timeout(now);
        self.collect();
    }
}

fn wall() -> SystemTime {
    // A fixed wall-clock time: 2026-01-01T00:00:00Z.
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600)
}

/// Patient retransmission so a handshake survives heavy loss.
fn lossy_config(seed: u64) -> Config {
    let mut config = Config::default();
    config.flight_retries = 12;
    config.handshake_timeout = Duration::from_secs(600);
    config.rng_seed = Some(seed);
    config
}

struct Setup {
    net: Network,
    client: HostId<Peer>,
    server: HostId<Peer>,
    client_cert: Certificate,
    server_cert: Certificate,
}

const CLIENT_IP: &str = "192.0.2.1";
const SERVER_IP: &str = "192.0.2.2";

/// Builds a network with a client and a server whose certificates are
/// known to each other, unless `pin` is false.
fn setup(
    seed: u64,
    link: impl Into<Link>,
    client_config: &Config,
    server_config: &Config,
    pin: bool,
) -> Setup {
    let link: Link = link.into();
    let mut net = Network::new(seed);
    let now = net.now();
    let client_ip: IpAddr = CLIENT_IP.parse().expect("ip");
    let server_ip: IpAddr = SERVER_IP.parse().expect("ip");
    let client_addr = SocketAddr::new(client_ip, 5000);
    let server_addr = SocketAddr::new(server_ip, 5000);
    let client_cert = Certificate::generate(wall()).expect("cert");
    let server_cert = Certificate::generate(wall()).expect("cert");
    let mut client_dtls =
        Dtls::new(client_config, &client_cert, Role::Client, now, wall()).expect("client");
    let mut server_dtls =
        Dtls::new(server_config, &server_cert, Role::Server, now, wall()).expect("server");
    if pin {
        client_dtls.expect_remote_fingerprints(server_cert.fingerprints());
        server_dtls.expect_remote_fingerprints(client_cert.fingerprints());
    }
    let peer = |dtls, local, remote| Peer {
        dtls,
        local,
        remote,
        events: Vec::new(),
        largest_datagram: 0,
    };
    let client = net
        .add_host(
            [client_ip],
            link,
            peer(client_dtls, client_addr, server_addr),
        )
        .expect("client host");
    let server = net
        .add_host(
            [server_ip],
            link,
            peer(server_dtls, server_addr, client_addr),
        )
        .expect("server host");
    Setup {
        net,
        client,
        server,
        client_cert,
        server_cert,
    }
}

fn run_until_both_settled(s: &mut Setup, limit: Duration) {
    let (client, server) = (s.client, s.server);
    s.net.run_until_condition(limit, |net| {
        let settled = |p: &Peer| p.connected() || p.failure().is_some();
        settled(net.endpoint(&client)) && settled(net.endpoint(&server))
    });
}

#[test]
fn handshake_over_30_percent_loss_derives_the_same_srtp_keys_on_both_sides() {
    // Loss on each host's up-link only, so every datagram crosses exactly one
    // lossy hop: 30% loss in each direction.
    let lossy = LinkConfig::IDEAL
        .with_delay(Duration::from_millis(20))
        .with_loss(0.3);
    let link = Link::new(lossy, LinkConfig::IDEAL);
    for seed in 1..=8 {
        let config = lossy_config(seed);
        let mut s = setup(seed, link, &config, &config, true);
        run_until_both_settled(&mut s, Duration::from_secs(600));
        let client = s.net.endpoint(&s.client);
        let server = s.net.endpoint(&s.server);
        assert_eq!(client.failure(), None, "seed {seed}");
        assert_eq!(server.failure(), None, "seed {seed}");
        let (c, sv) = (
            client.srtp().expect("client keys"),
            server.srtp().expect("server keys"),
        );
        assert_eq!(
            c.profile,
            SrtpProfile::AeadAes128Gcm,
            "our first preference"
        );
        assert_eq!(c.keying_material(), sv.keying_material(), "seed {seed}");
        assert_eq!(c.local(), sv.remote());
        assert_eq!(c.remote(), sv.local());
        assert_ne!(c.local(), c.remote());
        assert_eq!(c.local().key.len(), 16);
        assert_eq!(c.local().salt.len(), 12);
        let lost = s.net.host_link_counters(&s.client).up.lost
            + s.net.host_link_counters(&s.server).up.lost;
        assert!(lost > 0, "seed {seed}: the links really lost datagrams");
    }
}

#[test]
fn connected_reports_the_matching_fingerprint_and_peer_certificate() {
    let config = Config::default();
    let mut s = setup(1, LinkConfig::IDEAL, &config, &config, true);
    run_until_both_settled(&mut s, Duration::from_secs(10));
    let client = s.net.endpoint(&s.client);
    let Some(Event::Connected {
        peer_fingerprint,
        peer_certificate,
        ..
    }) = client.events.first()
    else {
        panic!("first client event is not Connected: {:?}", client.events);
    };
    assert_eq!(*peer_fingerprint, s.server_cert.fingerprints()[0]);
    assert_eq!(peer_certificate.as_slice(), s.server_cert.der());
    assert_eq!(client.dtls.state(), TransportState::Connected);
    assert_eq!(
        s.net.endpoint(&s.server).dtls.peer_certificate(),
        Some(s.client_cert.der())
    );
}

#[test]
fn client_fails_with_fingerprint_mismatch_when_the_server_is_not_the_announced_one() {
    let config = Config::default();
    let mut s = setup(2, LinkConfig::IDEAL, &config, &config, false);
    let impostor = Certificate::generate(wall()).expect("cert");
    let (client, server) = (s.client, s.server);
    s.net
        .endpoint_mut(&client)
        .dtls
        .expect_remote_fingerprints(impostor.fingerprints());
    s.net
        .endpoint_mut(&server)
        .dtls
        .expect_remote_fingerprints(s.client_cert.fingerprints());
    s.net.run_for(Duration::from_secs(60));
    let client = s.net.endpoint(&client);
    match client.failure() {
        Some(Error::FingerprintMismatch { expected, actual }) => {
            assert_eq!(expected, &impostor.fingerprints());
            assert_eq!(actual, &s.server_cert.fingerprints()[0]);
        }
        other => panic!("expected a fingerprint mismatch, got {other:?}"),
    }
    assert!(!client.connected());
    assert_eq!(client.dtls.state(), TransportState::Failed);
    assert_eq!(client.dtls.poll_timeout(), None);
    // The client stopped before sending its Finished: the server never connects.
    assert!(!s.net.endpoint(&server).connected());
}

#[test]
fn server_fails_with_fingerprint_mismatch_when_the_client_is_not_the_announced_one() {
    let config = Config::default();
    let mut s = setup(3, LinkConfig::IDEAL, &config, &config, false);
    let other = Certificate::generate(wall()).expect("cert");
    let (client, server) = (s.client, s.server);
    s.net
        .endpoint_mut(&client)
        .dtls
        .expect_remote_fingerprints(s.server_cert.fingerprints());
    s.net
        .endpoint_mut(&server)
        .dtls
        .expect_remote_fingerprints(other.fingerprints());
    s.net.run_for(Duration::from_secs(60));
    let server = s.net.endpoint(&server);
    assert!(matches!(
        server.failure(),
        Some(Error::FingerprintMismatch { .. })
    ));
    assert!(!server.connected());
}

#[test]
fn any_matching_fingerprint_among_several_algorithms_is_accepted() {
    let config = Config::default();
    let mut s = setup(4, LinkConfig::IDEAL, &config, &config, false);
    let (client, server) = (s.client, s.server);
    let unrelated = Certificate::generate(wall()).expect("cert");
    s.net
        .endpoint_mut(&client)
        .dtls
        .expect_remote_fingerprints(vec![
            unrelated.fingerprint(HashAlgorithm::Sha256),
            s.server_cert.fingerprint(HashAlgorithm::Sha384),
        ]);
    s.net
        .endpoint_mut(&server)
        .dtls
        .expect_remote_fingerprints(vec![s.client_cert.fingerprint(HashAlgorithm::Sha1)]);
    run_until_both_settled(&mut s, Duration::from_secs(10));
    assert!(s.net.endpoint(&client).connected());
    assert!(s.net.endpoint(&server).connected());
}

#[test]
fn connected_waits_for_fingerprints_given_after_the_handshake() {
    let config = Config::default();
    let mut s = setup(5, LinkConfig::IDEAL, &config, &config, false);
    s.net.run_for(Duration::from_secs(5));
    let (client, server) = (s.client, s.server);
    assert!(!s.net.endpoint(&client).connected());
    assert_eq!(
        s.net.endpoint(&client).dtls.state(),
        TransportState::Connecting
    );
    // The server is connected in dimpl's eyes but must not talk yet.
    assert!(matches!(
        s.net
            .endpoint_mut(&server)
            .dtls
            .send_application_data(b"too early"),
        Err(Error::NotConnected)
    ));

    let fp = s.server_cert.fingerprints();
    let peer = s.net.endpoint_mut(&client);
    peer.dtls.expect_remote_fingerprints(fp);
    peer.collect();
    assert!(peer.connected());
    assert!(peer.srtp().is_some());
}

#[test]
fn application_data_crosses_both_ways() {
    let config = Config::default();
    let mut s = setup(
        6,
        LinkConfig::IDEAL.with_delay(Duration::from_millis(5)),
        &config,
        &config,
        true,
    );
    run_until_both_settled(&mut s, Duration::from_secs(10));
    let (client, server) = (s.client, s.server);
    for i in 0..10u8 {
        let msg = vec![i; 1000];
        s.net
            .endpoint_mut(&client)
            .dtls
            .send_application_data(&msg)
            .expect("client send");
        s.net
            .endpoint_mut(&server)
            .dtls
            .send_application_data(&[i, i + 1, i + 2])
            .expect("server send");
    }
    s.net.run_for(Duration::from_secs(1));
    let at_server = s.net.endpoint(&server).received();
    let at_client = s.net.endpoint(&client).received();
    assert_eq!(at_server.len(), 10);
    assert_eq!(at_client.len(), 10);
    for i in 0..10u8 {
        assert_eq!(at_server[usize::from(i)], vec![i; 1000].as_slice());
        assert_eq!(at_client[usize::from(i)], &[i, i + 1, i + 2]);
    }
}

#[test]
fn close_notify_closes_the_other_side() {
    let config = Config::default();
    let mut s = setup(7, LinkConfig::IDEAL, &config, &config, true);
    run_until_both_settled(&mut s, Duration::from_secs(10));
    let (client, server) = (s.client, s.server);
    s.net.endpoint_mut(&client).dtls.close();
    assert_eq!(s.net.endpoint(&client).dtls.state(), TransportState::Closed);
    s.net.run_for(Duration::from_secs(1));
    let server = s.net.endpoint_mut(&server);
    assert_eq!(server.events.last(), Some(&Event::Closed));
    assert_eq!(server.dtls.state(), TransportState::Closed);
    assert_eq!(server.dtls.poll_timeout(), None);
    assert!(matches!(
        server.dtls.send_application_data(b"after close"),
        Err(Error::NotConnected)
    ));
    // Closing locally reports no event of its own.
    assert!(
        !s.net
            .endpoint(&client)
            .events
            .iter()
            .any(|e| matches!(e, Event::Closed))
    );
}

#[test]
fn the_server_picks_by_its_own_srtp_preference_among_what_the_client_offers() {
    use SrtpProfile::*;
    let cases = [
        // (client offers, server prefers, expected)
        (
            vec![Aes128CmSha1_80, AeadAes256Gcm],
            SrtpProfile::ALL.to_vec(),
            Some(AeadAes256Gcm),
        ),
        (
            SrtpProfile::ALL.to_vec(),
            vec![Aes128CmSha1_32, AeadAes128Gcm],
            Some(Aes128CmSha1_32),
        ),
        (
            vec![Aes128CmSha1_32],
            SrtpProfile::ALL.to_vec(),
            Some(Aes128CmSha1_32),
        ),
        (
            SrtpProfile::ALL.to_vec(),
            SrtpProfile::ALL.to_vec(),
            Some(AeadAes128Gcm),
        ),
        (vec![AeadAes128Gcm], vec![AeadAes256Gcm], None),
        (vec![], SrtpProfile::ALL.to_vec(), None),
    ];
    for (i, (offered, preferred, expected)) in cases.into_iter().enumerate() {
        let mut client_config = Config::default();
        client_config.srtp_profiles = offered;
        let mut server_config = Config::default();
        server_config.srtp_profiles = preferred;
        let mut s = setup(8, LinkConfig::IDEAL, &client_config, &server_config, true);
        run_until_both_settled(&mut s, Duration::from_secs(10));
        let client = s.net.endpoint(&s.client);
        let server = s.net.endpoint(&s.server);
        assert!(client.connected() && server.connected(), "case {i}");
        assert_eq!(client.srtp().map(|k| k.profile), expected, "case {i}");
        assert_eq!(server.srtp().map(|k| k.profile), expected, "case {i}");
        if let (Some(c), Some(sv)) = (client.srtp(), server.srtp()) {
            assert_eq!(c.keying_material(), sv.keying_material());
            assert_eq!(c.keying_material().len(), c.profile.keying_material_len());
        }
    }
}

#[test]
fn datagrams_never_exceed_the_configured_mtu() {
    for mtu in [1200, 500, 256] {
        let mut config = Config::default();
        config.mtu = mtu;
        let mut s = setup(9, LinkConfig::IDEAL, &config, &config, true);
        run_until_both_settled(&mut s, Duration::from_secs(10));
        for host in [s.client, s.server] {
            let peer = s.net.endpoint(&host);
            assert!(peer.connected(), "mtu {mtu}: {:?}", peer.events);
            assert!(
                peer.largest_datagram <= mtu,
                "{} > {mtu}",
                peer.largest_datagram
            );
            assert!(peer.largest_datagram > 0);
        }
    }
}

#[test]
fn handshake_without_a_peer_times_out() {
    let mut config = Config::default();
    config.flight_retries = 2;
    let start = Instant::now();
    let cert = Certificate::generate(wall()).expect("cert");
    let mut dtls = Dtls::new(&config, &cert, Role::Client, start, wall()).expect("dtls");
    let mut buf = Vec::new();
    let mut sent = 0;
    let mut now = start;
    for _ in 0..100 {
        while dtls.poll_transmit(now, &mut buf).is_some() {
            sent += 1;
        }
        let Some(next) = dtls.poll_timeout() else {
            break;
        };
        now = next;
        dtls.handle_timeout(now);
    }
    assert_eq!(sent, 3, "ClientHello and two retransmissions");
    assert_eq!(
        dtls.poll_event(),
        Some(Event::Failed(Error::HandshakeTimeout))
    );
    assert_eq!(dtls.state(), TransportState::Failed);
    assert!(now - start >= Duration::from_secs(2), "the RTO backs off");
}

#[test]
fn garbage_datagrams_do_not_disturb_the_handshake() {
    use rand::{Rng, SeedableRng};
    let config = Config::default();
    let start = Instant::now();
    let (ca, sa) = (
        Certificate::generate(wall()).expect("cert"),
        Certificate::generate(wall()).expect("cert"),
    );
    let mut a = Dtls::new(&config, &ca, Role::Client, start, wall()).expect("a");
    let mut b = Dtls::new(&config, &sa, Role::Server, start, wall()).expect("b");
    a.expect_remote_fingerprints(sa.fingerprints());
    b.expect_remote_fingerprints(ca.fingerprints());
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let mut buf = Vec::new();
    for _ in 0..10 {
        for _ in 0..5 {
            let len = rng.random_range(0..300);
            let mut junk: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            if let Some(first) = junk.first_mut() {
                *first = rng.random_range(20..=63); // looks like DTLS to the demux
            }
            a.handle_receive(start, &junk);
            b.handle_receive(start, &junk);
        }
        while a.poll_transmit(start, &mut buf).is_some() {
            b.handle_receive(start, &buf);
        }
        while b.poll_transmit(start, &mut buf).is_some() {
            a.handle_receive(start, &buf);
        }
    }
    assert!(matches!(a.poll_event(), Some(Event::Connected { .. })));
    assert!(matches!(b.poll_event(), Some(Event::Connected { .. })));
}

#[test]
fn an_expired_certificate_is_refused_at_use() {
    let cert =
        Certificate::generate_with_validity(wall(), Duration::from_secs(3600)).expect("cert");
    let later = wall() + Duration::from_secs(7200);
    let err = Dtls::new(
        &Config::default(),
        &cert,
        Role::Server,
        Instant::now(),
        later,
    )
    .expect_err("expired");
    assert!(matches!(err, Error::CertificateExpired { .. }));
}

#[test]
fn sending_before_the_handshake_is_an_error() {
    let cert = Certificate::generate(wall()).expect("cert");
    let mut dtls = Dtls::new(
        &Config::default(),
        &cert,
        Role::Client,
        Instant::now(),
        wall(),
    )
    .expect("dtls");
    assert_eq!(dtls.send_application_data(b"x"), Err(Error::NotConnected));
}

#[test]
fn fingerprint_text_from_sdp_pins_the_peer() {
    let config = Config::default();
    let mut s = setup(10, LinkConfig::IDEAL, &config, &config, false);
    let (client, server) = (s.client, s.server);
    // What the remote SDP carries, round-tripped through text.
    let server_line = s.server_cert.fingerprints()[0].to_string();
    let client_line = s.client_cert.fingerprints()[0].to_string();
    let parse = |line: &str| vec![Fingerprint::parse(line).expect("fingerprint")];
    s.net
        .endpoint_mut(&client)
        .dtls
        .expect_remote_fingerprints(parse(&server_line));
    s.net
        .endpoint_mut(&server)
        .dtls
        .expect_remote_fingerprints(parse(&client_line));
    run_until_both_settled(&mut s, Duration::from_secs(10));
    assert!(s.net.endpoint(&client).connected());
    assert!(s.net.endpoint(&server).connected());
}

#[test]
fn handshake_survives_reordering_duplication_and_jitter() {
    let messy = LinkConfig::IDEAL
        .with_delay(Duration::from_millis(10))
        .with_jitter(Duration::from_millis(15))
        .with_duplicate(0.2)
        .with_reorder(0.3, Duration::from_millis(40))
        .with_loss(0.1);
    let (mut duplicated, mut reordered) = (0, 0);
    for seed in 20..30 {
        let config = lossy_config(seed);
        let mut s = setup(
            seed,
            Link::new(messy, LinkConfig::IDEAL),
            &config,
            &config,
            true,
        );
        run_until_both_settled(&mut s, Duration::from_secs(600));
        let client = s.net.endpoint(&s.client);
        let server = s.net.endpoint(&s.server);
        assert!(client.connected() && server.connected(), "seed {seed}");
        let keys = |p: &Peer| p.srtp().map(SrtpKeys::keying_material);
        assert!(keys(client).is_some());
        assert_eq!(keys(client), keys(server), "seed {seed}");
        let client_up = s.net.host_link_counters(&s.client).up;
        let server_up = s.net.host_link_counters(&s.server).up;
        for up in [client_up, server_up] {
            duplicated += up.duplicated;
            reordered += up.reordered;
        }
    }
    assert!(
        duplicated > 0 && reordered > 0,
        "the links really duplicated ({duplicated}) and reordered ({reordered})"
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Hostile input is normal input: no datagram makes the engine panic,
    /// whatever state it is in.
    #[test]
    fn arbitrary_datagrams_never_panic(
        datagrams in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..1500), 1..8),
        client in proptest::prelude::any::<bool>(),
    ) {
        let cert = Certificate::generate(wall()).expect("cert");
        let role = if client { Role::Client } else { Role::Server };
        let now = Instant::now();
        let mut dtls = Dtls::new(&Config::default(), &cert, role, now, wall()).expect("dtls");
        let mut buf = Vec::new();
        for d in &datagrams {
            dtls.handle_receive(now, d);
            while dtls.poll_transmit(now, &mut buf).is_some() {}
            while dtls.poll_event().is_some() {}
        }
    }
}

#[test]
fn an_mtu_below_the_engine_minimum_is_a_config_error() {
    let mut config = Config::default();
    config.mtu = 10;
    let cert = Certificate::generate(wall()).expect("cert");
    let err = Dtls::new(&config, &cert, Role::Client, Instant::now(), wall()).expect_err("mtu");
    assert!(matches!(err, Error::Config { .. }), "{err}");
}

#[test]
fn huge_timer_durations_are_config_errors_not_panics() {
    let cert = Certificate::generate(wall()).expect("cert");
    let now = Instant::now();
    let huge = Duration::from_secs(u64::MAX / 4);
    for (rto, timeout, reason) in [
        (
            huge,
            Duration::from_secs(40),
            "initial_rto above 60 seconds",
        ),
        (
            Duration::from_secs(61),
            Duration::from_secs(40),
            "initial_rto above 60 seconds",
        ),
        (
            Duration::from_secs(1),
            huge,
            "handshake_timeout zero or above one hour",
        ),
        (
            Duration::from_secs(1),
            Duration::ZERO,
            "handshake_timeout zero or above one hour",
        ),
    ] {
        let mut config = Config::default();
        config.initial_rto = rto;
        config.handshake_timeout = timeout;
        for role in [Role::Client, Role::Server] {
            let err = Dtls::new(&config, &cert, role, now, wall()).expect_err("refused");
            assert_eq!(err, Error::Config { reason }, "{rto:?} {timeout:?}");
        }
    }
    // The largest accepted values run without overflow.
    let mut config = Config::default();
    config.initial_rto = Duration::from_secs(60);
    config.handshake_timeout = ferrtc_dtls::MAX_HANDSHAKE_TIMEOUT;
    let mut dtls = Dtls::new(&config, &cert, Role::Client, now, wall()).expect("dtls");
    let mut buf = Vec::new();
    let mut t = now;
    while let Some(next) = dtls.poll_timeout() {
        t = next;
        while dtls.poll_transmit(t, &mut buf).is_some() {}
        dtls.handle_timeout(t);
    }
    assert_eq!(dtls.state(), ferrtc_dtls::TransportState::Failed);
    assert!(t > now);
}

#[test]
fn changing_a_config_after_use_applies_to_the_next_transport() {
    let mut config = Config::default();
    let cert = Certificate::generate(wall()).expect("cert");
    let now = Instant::now();
    let first_flight = |config: &Config| {
        let mut dtls = Dtls::new(config, &cert, Role::Client, now, wall()).expect("dtls");
        let mut buf = Vec::new();
        let mut sizes = Vec::new();
        while let Some(len) = dtls.poll_transmit(now, &mut buf) {
            sizes.push(len);
        }
        sizes
    };
    // The first flight is one ClientHello datagram at the default MTU...
    assert_eq!(first_flight(&config).len(), 1);
    // ...and the same config with a 10-byte MTU is refused for the next one.
    config.mtu = 10;
    let err = Dtls::new(&config, &cert, Role::Client, now, wall()).expect_err("mtu");
    assert!(matches!(err, Error::Config { .. }), "{err}");
}

/// Connects a client and a server over a lossless in-memory link.
fn connected_pair(start: Instant) -> (Dtls, Dtls) {
    let config = Config::default();
    let (ca, sa) = (
        Certificate::generate(wall()).expect("cert"),
        Certificate::generate(wall()).expect("cert"),
    );
    let mut a = Dtls::new(&config, &ca, Role::Client, start, wall()).expect("a");
    let mut b = Dtls::new(&config, &sa, Role::Server, start, wall()).expect("b");
    a.expect_remote_fingerprints(sa.fingerprints());
    b.expect_remote_fingerprints(ca.fingerprints());
    let mut buf = Vec::new();
    for _ in 0..10 {
        while a.poll_transmit(start, &mut buf).is_some() {
            b.handle_receive(start, &buf);
        }
        while b.poll_transmit(start, &mut buf).is_some() {
            a.handle_receive(start, &buf);
        }
    }
    assert!(matches!(a.poll_event(), Some(Event::Connected { .. })));
    assert!(matches!(b.poll_event(), Some(Event::Connected { .. })));
    (a, b)
}

#[test]
fn forged_records_after_the_handshake_do_not_break_the_connection() {
    use rand::{Rng, SeedableRng};
    let start = Instant::now();
    let (mut a, mut b) = connected_pair(start);
    let mut rng = rand::rngs::StdRng::seed_from_u64(12);
    // Record headers (RFC 6347 §4.1) an off-path attacker can write without
    // the keys: every content type, epochs 0 and 1, random bodies.
    for content_type in [20u8, 21, 22, 23, 24, 63] {
        for epoch in [0u16, 1, 2] {
            for _ in 0..20 {
                let len: u16 = rng.random_range(0..200);
                let mut record = vec![content_type, 0xfe, 0xfd];
                record.extend_from_slice(&epoch.to_be_bytes());
                record.extend_from_slice(&rng.random::<[u8; 6]>());
                record.extend_from_slice(&len.to_be_bytes());
                record.extend((0..len).map(|_| rng.random::<u8>()));
                a.handle_receive(start, &record);
                b.handle_receive(start, &record);
            }
        }
    }
    assert_eq!(a.state(), TransportState::Connected, "{:?}", a.poll_event());
    assert_eq!(b.state(), TransportState::Connected, "{:?}", b.poll_event());
    // And data still flows both ways.
    a.send_application_data(b"ping").expect("a sends");
    b.send_application_data(b"pong").expect("b sends");
    let mut buf = Vec::new();
    while a.poll_transmit(start, &mut buf).is_some() {
        b.handle_receive(start, &buf);
    }
    while b.poll_transmit(start, &mut buf).is_some() {
        a.handle_receive(start, &buf);
    }
    let data = |d: &mut Dtls| -> Vec<Vec<u8>> {
        std::iter::from_fn(|| d.poll_event())
            .filter_map(|e| match e {
                Event::ApplicationData(v) => Some(v),
                _ => None,
            })
            .collect()
    };
    assert_eq!(data(&mut b), [b"ping".to_vec()]);
    assert_eq!(data(&mut a), [b"pong".to_vec()]);
}
