//! A connection with `mdns_host_candidates` signals its host candidates
//! under `<uuid>.local` names (draft-ietf-mmusic-mdns-ice-candidates
//! §3.1.1), an `MdnsResponder` answers for them while it lives, and a peer
//! that resolves them connects to the hidden addresses.
//!
//! Everything stays on loopback: the responder is bound to 127.0.0.1 (not
//! the mDNS group) and the resolving peer's `mdns_server` points at it.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket as StdUdpSocket};
use std::time::Duration;

use ferrtc::{
    Configuration, DataChannelEvent, DataChannelInit, DataChannelMessage, IceCandidateInit,
    MdnsResponder, PeerConnection, PeerConnectionEvent, Stats,
};

const WAIT: Duration = Duration::from_secs(10);
const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn loopback_responder(announce: Option<SocketAddr>) -> MdnsResponder {
    MdnsResponder::bind((LOOPBACK, 0).into(), announce).unwrap()
}

/// A peer that publishes `.local` names through `responder`.
fn publishing(responder: &MdnsResponder) -> PeerConnection {
    PeerConnection::new(Configuration {
        mdns_host_candidates: true,
        mdns_responder: Some(responder.clone()),
        host_addresses: vec![LOOPBACK],
        ..Default::default()
    })
    .unwrap()
}

/// A peer that resolves `.local` names by asking `responder`.
fn resolving(responder: &MdnsResponder) -> PeerConnection {
    PeerConnection::new(Configuration {
        mdns_server: Some(responder.local_addr()),
        host_addresses: vec![LOOPBACK],
        ..Default::default()
    })
    .unwrap()
}

/// `pc`'s candidates up to and with the end of candidates.
async fn gathered(pc: &PeerConnection) -> Vec<IceCandidateInit> {
    let mut out = Vec::new();
    loop {
        let ev = tokio::time::timeout(WAIT, pc.next_event())
            .await
            .expect("gathering did not end")
            .unwrap();
        if let PeerConnectionEvent::IceCandidate(c) = ev {
            let end = c.is_end_of_candidates();
            out.push(c);
            if end {
                return out;
            }
        }
    }
}

/// The address field of each candidate (end of candidates left out).
fn addresses(candidates: &[IceCandidateInit]) -> Vec<String> {
    candidates
        .iter()
        .filter(|c| !c.is_end_of_candidates())
        .filter_map(|c| c.candidate.split(' ').nth(4).map(str::to_owned))
        .collect()
}

fn is_uuid_v4_local(name: &str) -> bool {
    let Some(uuid) = name.strip_suffix(".local") else {
        return false;
    };
    let lens: Vec<usize> = uuid.split('-').map(str::len).collect();
    lens == [8, 4, 4, 4, 12]
        && uuid.bytes().all(|b| b == b'-' || b.is_ascii_hexdigit())
        && uuid.as_bytes()[14] == b'4'
}

async fn add_all(pc: &PeerConnection, candidates: Vec<IceCandidateInit>) {
    for c in candidates {
        pc.add_ice_candidate(c).await.unwrap();
    }
}

/// The selected pair's remote candidate (W3C `remote-candidate` stats).
async fn selected_remote(pc: &PeerConnection) -> (String, &'static str) {
    let report = pc.get_stats().await.unwrap();
    match report.first_of_type("remote-candidate") {
        Some(Stats::RemoteCandidate(c)) => (c.address.clone(), c.candidate_type),
        other => panic!("no remote candidate: {other:?}"),
    }
}

/// A one-shot query (RFC 6762 §5.1) for the A record of `name`, as a
/// resolver sends it from an ephemeral port.
fn query(name: &str) -> Vec<u8> {
    let mut m = vec![0x43, 0x21, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    push_name(&mut m, name);
    m.extend_from_slice(&[0, 1, 0, 1]);
    m
}

fn push_name(m: &mut Vec<u8>, name: &str) {
    for label in name.split('.') {
        m.push(label.len() as u8);
        m.extend_from_slice(label.as_bytes());
    }
    m.push(0);
}

/// The (name, TTL, IPv4 address) of every A record in the answer section
/// of `msg`, whose names are uncompressed (as ours are).
fn a_records(msg: &[u8]) -> Vec<(String, u32, Ipv4Addr)> {
    let read_name = |at: &mut usize| {
        let mut labels = Vec::new();
        while msg[*at] != 0 {
            let n = usize::from(msg[*at]);
            labels.push(String::from_utf8_lossy(&msg[*at + 1..*at + 1 + n]).into_owned());
            *at += 1 + n;
        }
        *at += 1;
        labels.join(".")
    };
    let mut at = 12;
    for _ in 0..u16::from_be_bytes([msg[4], msg[5]]) {
        read_name(&mut at);
        at += 4;
    }
    let mut out = Vec::new();
    for _ in 0..u16::from_be_bytes([msg[6], msg[7]]) {
        let name = read_name(&mut at);
        let kind = u16::from_be_bytes([msg[at], msg[at + 1]]);
        let ttl = u32::from_be_bytes([msg[at + 4], msg[at + 5], msg[at + 6], msg[at + 7]]);
        let len = usize::from(u16::from_be_bytes([msg[at + 8], msg[at + 9]]));
        let data = &msg[at + 10..at + 10 + len];
        if kind == 1 && len == 4 {
            out.push((name, ttl, Ipv4Addr::new(data[0], data[1], data[2], data[3])));
        }
        at += 10 + len;
    }
    out
}

#[tokio::test(flavor = "current_thread")]
async fn a_peer_with_local_names_connects_to_a_peer_that_resolves_them() {
    // Goodbyes (RFC 6762 §10.1) go here instead of the mDNS group.
    let listener = tokio::net::UdpSocket::bind((LOOPBACK, 0)).await.unwrap();
    let responder = loopback_responder(Some(listener.local_addr().unwrap()));
    let a = publishing(&responder);
    let b = resolving(&responder);
    let channel = common::negotiate(&a, &b, "chat").await;
    let from_a = gathered(&a).await;
    let from_b = gathered(&b).await;

    // a's host candidates carry one UUID name, never the address.
    let names = addresses(&from_a);
    assert!(!names.is_empty());
    assert!(names.iter().all(|n| is_uuid_v4_local(n)), "{names:?}");
    assert!(names.iter().all(|n| *n == names[0]), "one name per address");
    assert!(from_a.iter().all(|c| !c.candidate.contains("127.0.0.1")));
    assert_eq!(responder.names(), 1);
    assert_eq!(addresses(&from_b), ["127.0.0.1"], "b publishes nothing");

    // b resolves a's name through the responder before any check can
    // flow (a has no candidate of b yet), so its remote is a's host.
    add_all(&b, from_a).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while responder.stats().answers == 0 {
        assert!(tokio::time::Instant::now() < deadline, "b never asked");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    add_all(&a, from_b).await;

    tokio::time::timeout(WAIT, channel.wait_open())
        .await
        .expect("channel did not open")
        .unwrap();
    let (address, kind) = selected_remote(&b).await;
    assert_eq!((address.as_str(), kind), ("127.0.0.1", "host"));

    // A message moves from a to b.
    channel.send_text("over a hidden address").await.unwrap();
    let received = loop {
        match tokio::time::timeout(WAIT, b.next_event()).await {
            Ok(Some(PeerConnectionEvent::DataChannel(dc))) => break dc,
            Ok(Some(_)) => continue,
            other => panic!("no channel on b: {other:?}"),
        }
    };
    let message = loop {
        match tokio::time::timeout(WAIT, received.recv()).await {
            Ok(Some(DataChannelEvent::Message(m))) => break m,
            Ok(Some(_)) => continue,
            other => panic!("no message on b: {other:?}"),
        }
    };
    assert_eq!(
        *message,
        DataChannelMessage::Text("over a hidden address".into())
    );

    // a closes: its name goes, with a goodbye (TTL 0) for it.
    a.close().await;
    drop(a);
    let mut buf = [0u8; 1500];
    let (len, from) = tokio::time::timeout(WAIT, listener.recv_from(&mut buf))
        .await
        .expect("no goodbye")
        .unwrap();
    assert_eq!(from, responder.local_addr());
    assert_eq!(
        a_records(&buf[..len]),
        [(names[0].clone(), 0, Ipv4Addr::LOCALHOST)]
    );
    assert_eq!(responder.names(), 0);
    assert_eq!(responder.stats().goodbyes, 1);

    // And a query for the name gets no answer now.
    let before = responder.stats();
    let asker = StdUdpSocket::bind((LOOPBACK, 0)).unwrap();
    asker
        .send_to(&query(&names[0]), responder.local_addr())
        .unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while responder.stats().queries == before.queries {
        assert!(tokio::time::Instant::now() < deadline, "query not read");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let after = responder.stats();
    assert_eq!(after.answers, before.answers);
    assert_eq!(after.ignored, before.ignored + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_on_clones_of_one_responder_publish_and_withdraw_their_own_names() {
    let responder = loopback_responder(None);
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let responder = responder.clone();
        tasks.push(tokio::spawn(async move {
            let pc = publishing(&responder);
            pc.create_data_channel("x", DataChannelInit::default())
                .await
                .unwrap();
            let offer = pc.create_offer().await.unwrap();
            pc.set_local_description(Some(offer)).await.unwrap();
            let name = addresses(&gathered(&pc).await).remove(0);
            // Anyone on the link may ask; the answer is the hidden address.
            let asker = tokio::net::UdpSocket::bind((LOOPBACK, 0)).await.unwrap();
            asker
                .send_to(&query(&name), responder.local_addr())
                .await
                .unwrap();
            let mut buf = [0u8; 1500];
            let (len, _) = tokio::time::timeout(WAIT, asker.recv_from(&mut buf))
                .await
                .expect("no answer")
                .unwrap();
            assert_eq!(
                a_records(&buf[..len]),
                [(name.clone(), 10, Ipv4Addr::LOCALHOST)],
                "a legacy answer: TTL 10 (RFC 6762 §6.7)"
            );
            (pc, name)
        }));
    }
    let mut connections = Vec::new();
    for t in tasks {
        connections.push(t.await.unwrap());
    }
    let mut names: Vec<&String> = connections.iter().map(|(_, n)| n).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 6, "each connection has its own name");
    assert_eq!(responder.names(), 6);
    assert_eq!(responder.stats().answers, 6);

    for (pc, _) in connections {
        pc.close().await;
    }
    // The tasks end just after `close` returns.
    let deadline = tokio::time::Instant::now() + WAIT;
    while responder.names() > 0 {
        assert!(tokio::time::Instant::now() < deadline, "names left behind");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "current_thread")]
async fn publishing_cannot_be_switched_after_creation() {
    let responder = loopback_responder(None);
    let pc = publishing(&responder);
    let mut changed = pc.get_configuration();
    changed.mdns_host_candidates = false;
    assert!(matches!(
        pc.set_configuration(changed).await,
        Err(ferrtc::Error::InvalidModification(_))
    ));
}

#[tokio::test(flavor = "current_thread")]
async fn garbage_sent_to_the_responder_is_dropped_and_counted_and_it_keeps_answering() {
    let responder = loopback_responder(None);
    let pc = publishing(&responder);
    pc.create_data_channel("x", DataChannelInit::default())
        .await
        .unwrap();
    let offer = pc.create_offer().await.unwrap();
    pc.set_local_description(Some(offer)).await.unwrap();
    let name = addresses(&gathered(&pc).await).remove(0);

    let asker = tokio::net::UdpSocket::bind((LOOPBACK, 0)).await.unwrap();
    let mut truncated = query(&name);
    truncated.truncate(20);
    for garbage in [&[][..], &[0xff; 3][..], &truncated[..]] {
        asker
            .send_to(garbage, responder.local_addr())
            .await
            .unwrap();
    }
    asker
        .send_to(&query(&name), responder.local_addr())
        .await
        .unwrap();
    let mut buf = [0u8; 1500];
    let (len, _) = tokio::time::timeout(WAIT, asker.recv_from(&mut buf))
        .await
        .expect("no answer after the garbage")
        .unwrap();
    assert_eq!(a_records(&buf[..len]), [(name, 10, Ipv4Addr::LOCALHOST)]);
    let stats = responder.stats();
    assert_eq!((stats.malformed, stats.answers), (3, 1));
}
