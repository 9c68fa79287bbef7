//! Limits a hostile peer meets in the DTLS transport: application records
//! it sends before it is authenticated are held only up to a bound.

use std::time::{Duration, Instant, SystemTime};

use ferrtc_dtls::{Certificate, Config, Dtls, Event, Role, TransportState};

fn wall() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600)
}

/// Moves every datagram between the two until both are quiet.
fn pump(now: Instant, a: &mut Dtls, b: &mut Dtls) {
    let mut buf = Vec::new();
    loop {
        let mut moved = false;
        while a.poll_transmit(now, &mut buf).is_some() {
            b.handle_receive(now, &buf);
            moved = true;
        }
        while b.poll_transmit(now, &mut buf).is_some() {
            a.handle_receive(now, &buf);
            moved = true;
        }
        if !moved {
            return;
        }
    }
}

fn events(d: &mut Dtls) -> Vec<Event> {
    std::iter::from_fn(|| d.poll_event()).collect()
}

#[test]
fn records_from_a_peer_not_yet_verified_are_held_up_to_64_and_the_rest_dropped() {
    let now = Instant::now();
    let config = Config::default();
    let client_cert = Certificate::generate(wall()).unwrap();
    let server_cert = Certificate::generate(wall()).unwrap();
    let mut client = Dtls::new(&config, &client_cert, Role::Client, now, wall()).unwrap();
    let mut server = Dtls::new(&config, &server_cert, Role::Server, now, wall()).unwrap();
    // The client knows the server's fingerprint; the server has not had the
    // answer with the client's yet (signaling is slower than the handshake).
    client.expect_remote_fingerprints(server_cert.fingerprints());
    pump(now, &mut client, &mut server);
    assert_eq!(client.state(), TransportState::Connected);
    assert_eq!(server.state(), TransportState::Connecting);

    // The client floods 1000 records the server may not deliver yet.
    for i in 0..1_000u32 {
        client.send_application_data(&i.to_be_bytes()).unwrap();
    }
    pump(now, &mut client, &mut server);
    assert!(
        events(&mut server).is_empty(),
        "nothing is delivered unverified"
    );

    // Verified at last: the first 64 are delivered, in order, no more.
    server.expect_remote_fingerprints(client_cert.fingerprints());
    let delivered: Vec<Vec<u8>> = events(&mut server)
        .into_iter()
        .filter_map(|e| match e {
            Event::ApplicationData(d) => Some(d),
            _ => None,
        })
        .collect();
    let expected: Vec<Vec<u8>> = (0..64u32).map(|i| i.to_be_bytes().to_vec()).collect();
    assert_eq!(delivered, expected);
    assert_eq!(server.state(), TransportState::Connected);

    // Afterwards records flow normally.
    client.send_application_data(b"after").unwrap();
    pump(now, &mut client, &mut server);
    assert!(events(&mut server).contains(&Event::ApplicationData(b"after".to_vec())));
}
