//! ferrtc's DTLS engine against dimpl 0.9, an independent DTLS 1.2
//! implementation, in process: both roles, in memory and over the
//! simulated network with loss, reordering and duplication.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use common::{DimplPeer, Ours, wall};
use ferrtc_dtls::{Certificate, Config, Event, Role, SrtpProfile};
use ferrtc_sim::{Endpoint, HostId, Link, LinkConfig, Network, Transmit};

/// Either implementation on a simulated host (two per test: size is no concern).
#[allow(clippy::large_enum_variant)]
enum Engine {
    Ours(Ours),
    Dimpl(DimplPeer),
}

struct Host {
    engine: Engine,
    local: SocketAddr,
    remote: SocketAddr,
}

impl Host {
    fn connected(&self) -> bool {
        match &self.engine {
            Engine::Ours(o) => o.connected(),
            Engine::Dimpl(d) => d.connected,
        }
    }

    fn failed(&self) -> bool {
        match &self.engine {
            Engine::Ours(o) => o.failure().is_some(),
            Engine::Dimpl(d) => d.failed.is_some(),
        }
    }

    /// Keying material and profile id.
    fn keys(&self) -> Option<(Vec<u8>, u16)> {
        match &self.engine {
            Engine::Ours(o) => o.srtp().map(|k| (k.keying_material(), k.profile.id())),
            Engine::Dimpl(d) => d.keys.clone(),
        }
    }
}

impl Endpoint for Host {
    fn handle_receive(&mut self, now: Instant, source: SocketAddr, _: SocketAddr, payload: &[u8]) {
        if source != self.remote {
            return;
        }
        match &mut self.engine {
            Engine::Ours(o) => {
                o.dtls.handle_receive(now, payload);
                o.collect();
            }
            Engine::Dimpl(d) => d.handle_receive(now, payload),
        }
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        match &mut self.engine {
            Engine::Ours(o) => {
                o.dtls.poll_transmit(now, buf)?;
                o.collect();
            }
            Engine::Dimpl(d) => {
                let datagram = d.poll_transmit()?;
                buf.clear();
                buf.extend_from_slice(&datagram);
            }
        }
        Some(Transmit {
            source: self.local,
            destination: self.remote,
        })
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        match &mut self.engine {
            Engine::Ours(o) => o.dtls.poll_timeout(),
            Engine::Dimpl(d) => d.timeout,
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        match &mut self.engine {
            Engine::Ours(o) => {
                o.dtls.handle_timeout(now);
                o.collect();
            }
            Engine::Dimpl(d) => d.handle_timeout(now),
        }
    }
}

fn patient(seed: u64) -> Config {
    let mut config = Config::default();
    config.flight_retries = 12;
    config.handshake_timeout = Duration::from_secs(600);
    config.rng_seed = Some(seed);
    config
}

struct Run {
    net: Network,
    ours: HostId<Host>,
    dimpl: HostId<Host>,
    ours_cert: Certificate,
}

/// Runs ferrtc in `ours_role` against dimpl over `link`.
fn run(seed: u64, ours_role: Role, link: Link, lossy: bool) -> Run {
    let mut net = Network::new(seed);
    let now = net.now();
    let ours_ip: IpAddr = "192.0.2.1".parse().unwrap();
    let dimpl_ip: IpAddr = "192.0.2.2".parse().unwrap();
    let ours_addr = SocketAddr::new(ours_ip, 5000);
    let dimpl_addr = SocketAddr::new(dimpl_ip, 5000);
    let ours_cert = Certificate::generate(wall()).unwrap();
    let dimpl_cert = Certificate::generate(wall()).unwrap();
    let config = if lossy {
        patient(seed)
    } else {
        Config::default()
    };
    let mut ours = Ours::new(&config, &ours_cert, ours_role, now);
    ours.dtls
        .expect_remote_fingerprints(dimpl_cert.fingerprints());
    let dimpl_role = match ours_role {
        Role::Client => Role::Server,
        Role::Server => Role::Client,
    };
    let dimpl = DimplPeer::new(&dimpl_cert, dimpl_role, now, lossy, seed);
    let a = net
        .add_host(
            [ours_ip],
            link,
            Host {
                engine: Engine::Ours(ours),
                local: ours_addr,
                remote: dimpl_addr,
            },
        )
        .unwrap();
    let b = net
        .add_host(
            [dimpl_ip],
            link,
            Host {
                engine: Engine::Dimpl(dimpl),
                local: dimpl_addr,
                remote: ours_addr,
            },
        )
        .unwrap();
    net.run_until_condition(Duration::from_secs(600), |net| {
        let settled = |h: &Host| h.connected() || h.failed();
        settled(net.endpoint(&a)) && settled(net.endpoint(&b))
    });
    Run {
        net,
        ours: a,
        dimpl: b,
        ours_cert,
    }
}

fn check(run: &Run, what: &str) {
    let ours = run.net.endpoint(&run.ours);
    let dimpl = run.net.endpoint(&run.dimpl);
    let ours_cert = &run.ours_cert;
    assert!(ours.connected(), "{what}: ours not connected");
    assert!(dimpl.connected(), "{what}: dimpl not connected");
    let (Engine::Ours(o), Engine::Dimpl(d)) = (&ours.engine, &dimpl.engine) else {
        unreachable!()
    };
    assert_eq!(d.peer_cert.as_deref(), Some(ours_cert.der()), "{what}");
    let ours_keys = ours.keys().expect("our keys");
    let (dimpl_material, dimpl_profile) = dimpl.keys().expect("dimpl keys");
    // The server's preference decides: ours is AEAD_AES_128_GCM first,
    // dimpl's AEAD_AES_256_GCM.
    let expected = match o.dtls.role() {
        Role::Server => SrtpProfile::AeadAes128Gcm,
        Role::Client => SrtpProfile::AeadAes256Gcm,
    };
    assert_eq!(ours_keys.1, expected.id(), "{what}");
    assert_eq!(dimpl_profile, ours_keys.1, "{what}");
    assert_eq!(ours_keys.0, dimpl_material, "{what}: keying material");
    assert!(o.failure().is_none());
}

#[test]
fn ferrtc_client_and_dimpl_server_connect_and_exchange_data() {
    let mut r = run(1, Role::Client, LinkConfig::IDEAL.into(), false);
    check(&r, "client");
    exchange(&mut r);
}

#[test]
fn dimpl_client_and_ferrtc_server_connect_and_exchange_data() {
    let mut r = run(2, Role::Server, LinkConfig::IDEAL.into(), false);
    check(&r, "server");
    exchange(&mut r);
}

/// Application data both ways, moved by hand.
fn exchange(r: &mut Run) {
    let Engine::Dimpl(mut d) = std::mem::replace(
        &mut r.net.endpoint_mut(&r.dimpl).engine,
        Engine::Ours(Ours::new(
            &Config::default(),
            &r.ours_cert,
            Role::Server,
            Instant::now(),
        )),
    ) else {
        unreachable!()
    };
    let Engine::Ours(o) = &mut r.net.endpoint_mut(&r.ours).engine else {
        unreachable!()
    };
    let now = Instant::now();
    o.dtls.send_application_data(b"to dimpl").unwrap();
    d.send(b"to ferrtc");
    let mut buf = Vec::new();
    while o.dtls.poll_transmit(now, &mut buf).is_some() {
        d.handle_receive(now, &buf);
    }
    while let Some(p) = d.poll_transmit() {
        o.dtls.handle_receive(now, &p);
    }
    o.collect();
    assert_eq!(d.received, [b"to dimpl".to_vec()]);
    assert!(
        o.events
            .contains(&Event::ApplicationData(b"to ferrtc".to_vec()))
    );
}

#[test]
fn against_dimpl_over_loss_reordering_and_duplication_in_both_roles() {
    let messy = LinkConfig::IDEAL
        .with_delay(Duration::from_millis(10))
        .with_jitter(Duration::from_millis(15))
        .with_duplicate(0.2)
        .with_reorder(0.3, Duration::from_millis(40))
        .with_loss(0.3);
    let link = Link::new(messy, LinkConfig::IDEAL);
    let (mut lost, mut duplicated, mut reordered) = (0, 0, 0);
    for seed in 1..=6 {
        for role in [Role::Client, Role::Server] {
            let r = run(seed, role, link, true);
            check(&r, &format!("seed {seed}, ours {role:?}"));
            for up in [
                r.net.host_link_counters(&r.ours).up,
                r.net.host_link_counters(&r.dimpl).up,
            ] {
                lost += up.lost;
                duplicated += up.duplicated;
                reordered += up.reordered;
            }
        }
    }
    assert!(
        lost > 0 && duplicated > 0 && reordered > 0,
        "the links really lost ({lost}), duplicated ({duplicated}) and reordered ({reordered})"
    );
}
