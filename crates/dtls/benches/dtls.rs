//! Costs of the DTLS layer: creating a transport, a full in-memory
//! handshake, and application data records (one SCTP packet each).

use std::time::{Instant, SystemTime};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ferrtc_dtls::{Certificate, Config, Dtls, Event, KeyType, Role};

fn pair(config: &Config, a: &Certificate, b: &Certificate, now: Instant) -> (Dtls, Dtls) {
    let wall = SystemTime::now();
    let mut client = Dtls::new(config, a, Role::Client, now, wall).expect("client");
    let mut server = Dtls::new(config, b, Role::Server, now, wall).expect("server");
    client.expect_remote_fingerprints(b.fingerprints());
    server.expect_remote_fingerprints(a.fingerprints());
    (client, server)
}

fn shuttle(from: &mut Dtls, to: &mut Dtls, now: Instant, buf: &mut Vec<u8>) -> usize {
    let mut n = 0;
    while from.poll_transmit(now, buf).is_some() {
        to.handle_receive(now, buf);
        n += 1;
    }
    n
}

fn handshake(client: &mut Dtls, server: &mut Dtls, now: Instant) {
    let mut buf = Vec::new();
    while shuttle(client, server, now, &mut buf) + shuttle(server, client, now, &mut buf) > 0 {}
    assert!(matches!(client.poll_event(), Some(Event::Connected { .. })));
    assert!(matches!(server.poll_event(), Some(Event::Connected { .. })));
}

fn benches(c: &mut Criterion) {
    let wall = SystemTime::now();
    let a = Certificate::generate(wall).expect("cert");
    let b = Certificate::generate(wall).expect("cert");
    let config = Config::default();

    c.bench_function("certificate_generate", |bench| {
        bench.iter(|| Certificate::generate(wall).expect("cert"))
    });
    let (ra, rb) = (
        Certificate::generate_with(KeyType::Rsa2048, wall, ferrtc_dtls::DEFAULT_VALIDITY)
            .expect("rsa"),
        Certificate::generate_with(KeyType::Rsa2048, wall, ferrtc_dtls::DEFAULT_VALIDITY)
            .expect("rsa"),
    );
    c.bench_function("handshake_in_memory_rsa", |bench| {
        bench.iter(|| {
            let now = Instant::now();
            let (mut client, mut server) = pair(&config, &ra, &rb, now);
            handshake(&mut client, &mut server, now);
        })
    });
    c.bench_function("dtls_new_client", |bench| {
        bench.iter(|| Dtls::new(&config, &a, Role::Client, Instant::now(), wall).expect("dtls"))
    });
    c.bench_function("handshake_in_memory", |bench| {
        bench.iter(|| {
            let now = Instant::now();
            let (mut client, mut server) = pair(&config, &a, &b, now);
            handshake(&mut client, &mut server, now);
        })
    });

    let now = Instant::now();
    let (mut client, mut server) = pair(&config, &a, &b, now);
    handshake(&mut client, &mut server, now);
    let payload = vec![0x5a; 1100];
    let mut buf = Vec::with_capacity(1500);
    let mut group = c.benchmark_group("application_data");
    group.throughput(Throughput::Bytes(payload.len() as u64));
    group.bench_function("seal_send_open_1100B", |bench| {
        bench.iter(|| {
            client.send_application_data(&payload).expect("send");
            client.poll_transmit(now, &mut buf).expect("record");
            server.handle_receive(now, &buf);
            match server.poll_event() {
                Some(Event::ApplicationData(data)) => server.recycle(data),
                other => panic!("unexpected {other:?}"),
            }
        })
    });
    // The zero-copy path: sealed into our buffer, opened in place.
    let mut datagram = Vec::with_capacity(1500);
    group.bench_function("seal_into_open_in_place_1100B", |bench| {
        bench.iter(|| {
            datagram.clear();
            client
                .send_application_data_into(&payload, &mut datagram)
                .expect("seal");
            server.handle_receive_in_place(now, &mut datagram);
            server.poll_application_data().expect("plaintext")
        })
    });
    group.finish();
}

criterion_group!(dtls, benches);
criterion_main!(dtls);
