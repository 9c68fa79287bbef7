//! Remote host candidates signalled with mDNS `.local` names (as Chromium
//! sends them) are resolved and used as host candidates.
//!
//! Multicast on loopback is unreliable in containers, so the peers send
//! their queries to a unicast fake responder on 127.0.0.1
//! (`Configuration::mdns_server`), which answers the way responders answer
//! one-shot queries from a port other than 5353 (RFC 6762 §6.7).

mod common;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrtc::{Configuration, IceCandidateInit, PeerConnection, PeerConnectionEvent, Stats};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

type Names = Arc<Mutex<HashMap<String, IpAddr>>>;

const WAIT: Duration = Duration::from_secs(10);

/// A responder that answers A/AAAA queries for the names in `names`, and
/// reports each name it answered.
async fn fake_responder(names: Names) -> (SocketAddr, mpsc::UnboundedReceiver<String>) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        while let Ok((len, from)) = socket.recv_from(&mut buf).await {
            let Some((name, wire_name)) = question_name(&buf[..len]) else {
                continue;
            };
            let Some(ip) = names.lock().unwrap().get(&name).copied() else {
                continue;
            };
            let (kind, rdata): (u16, Vec<u8>) = match ip {
                IpAddr::V4(v4) => (1, v4.octets().to_vec()),
                IpAddr::V6(v6) => (28, v6.octets().to_vec()),
            };
            // Header: id echoed, QR + AA, no question, one answer.
            let mut m = vec![buf[0], buf[1], 0x84, 0x00, 0, 0, 0, 1, 0, 0, 0, 0];
            m.extend_from_slice(wire_name);
            m.extend_from_slice(&kind.to_be_bytes());
            m.extend_from_slice(&[0, 1, 0, 0, 0, 10]); // IN, TTL 10 (§6.7)
            m.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
            m.extend_from_slice(&rdata);
            socket.send_to(&m, from).await.unwrap();
            let _ = tx.send(name);
        }
    });
    (addr, rx)
}

/// The first question's name, dotted and as its wire bytes.
fn question_name(msg: &[u8]) -> Option<(String, &[u8])> {
    let mut at = 12;
    let mut labels = Vec::new();
    loop {
        let n = usize::from(*msg.get(at)?);
        if n == 0 {
            return Some((labels.join("."), &msg[12..=at]));
        }
        labels.push(String::from_utf8(msg.get(at + 1..at + 1 + n)?.to_vec()).ok()?);
        at += 1 + n;
    }
}

/// Waits for the end of `pc`'s candidates and returns them, each host
/// candidate's address replaced by a `.local` name recorded in `names`
/// (one name per address, as Chromium does), when `names` is given.
async fn gathered(pc: &PeerConnection, peer: u32, names: Option<&Names>) -> Vec<IceCandidateInit> {
    let mut out = Vec::new();
    let mut by_ip: HashMap<String, String> = HashMap::new();
    loop {
        let ev = tokio::time::timeout(WAIT, pc.next_event())
            .await
            .expect("gathering did not end")
            .unwrap();
        let PeerConnectionEvent::IceCandidate(mut c) = ev else {
            continue;
        };
        if c.is_end_of_candidates() {
            out.push(c);
            return out;
        }
        let mut fields: Vec<String> = c.candidate.split(' ').map(str::to_owned).collect();
        if let Some(names) = names
            && fields.get(7).map(String::as_str) == Some("host")
        {
            let ip = fields[4].clone();
            let next = by_ip.len();
            let name = by_ip
                .entry(ip.clone())
                .or_insert_with(|| format!("{peer:08x}-0000-4000-8000-{next:012x}.local"))
                .clone();
            names
                .lock()
                .unwrap()
                .insert(name.clone(), ip.parse().unwrap());
            fields[4] = name;
            c.candidate = fields.join(" ");
        }
        out.push(c);
    }
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

fn peer(seed: u8, mdns_server: SocketAddr) -> PeerConnection {
    PeerConnection::new(Configuration {
        seed: Some([seed; 32]),
        mdns_server: Some(mdns_server),
        ..Default::default()
    })
    .unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn local_names_of_both_peers_resolve_to_host_candidates() {
    let names = Names::default();
    let (responder, mut answered) = fake_responder(names.clone()).await;
    let a = peer(1, responder);
    let b = peer(2, responder);
    let channel = common::negotiate(&a, &b, "chat").await;
    let from_a = gathered(&a, 0xa, Some(&names)).await;
    let from_b = gathered(&b, 0xb, Some(&names)).await;
    assert!(
        from_a
            .iter()
            .chain(&from_b)
            .all(|c| c.is_end_of_candidates() || c.candidate.contains(".local "))
    );

    // `a` resolves `b`'s names before any check can flow (neither side has
    // a usable address yet), so its checks go to host candidates.
    let b_names: Vec<String> = names
        .lock()
        .unwrap()
        .keys()
        .filter(|n| n.starts_with("0000000b"))
        .cloned()
        .collect();
    add_all(&a, from_b).await;
    let mut pending = b_names.clone();
    while !pending.is_empty() {
        let name = tokio::time::timeout(WAIT, answered.recv())
            .await
            .expect("no mDNS query from a")
            .unwrap();
        pending.retain(|n| *n != name);
    }
    add_all(&b, from_a).await;

    tokio::time::timeout(WAIT, channel.wait_open())
        .await
        .expect("channel did not open")
        .unwrap();
    let (address, kind) = selected_remote(&a).await;
    assert_eq!(kind, "host");
    let resolved = names.lock().unwrap().clone();
    assert!(
        b_names.iter().any(|n| resolved[n].to_string() == address),
        "{address} is not one of b's hidden addresses"
    );
    // `b` may have learnt `a` as peer-reflexive first; its address is an IP.
    let (address, _) = selected_remote(&b).await;
    assert!(address.parse::<IpAddr>().is_ok(), "{address}");
}

#[tokio::test(flavor = "current_thread")]
async fn unanswered_names_still_connect_through_peer_reflexive_discovery() {
    // A responder that never answers.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let names = Names::default();
    let a = peer(3, silent_addr);
    let b = peer(4, silent_addr);
    let channel = common::negotiate(&a, &b, "chat").await;
    let from_a = gathered(&a, 0xa, None).await;
    let from_b = gathered(&b, 0xb, Some(&names)).await;
    add_all(&a, from_b).await;
    add_all(&b, from_a).await;

    tokio::time::timeout(WAIT, channel.wait_open())
        .await
        .expect("channel did not open")
        .unwrap();
    let (address, kind) = selected_remote(&a).await;
    assert_eq!(kind, "prflx");
    assert!(address.parse::<IpAddr>().is_ok(), "{address}");
    let mut query = [0u8; 512];
    let (len, _) = silent.recv_from(&mut query).unwrap();
    assert!(len > 12, "a sent its query to the configured server");
}
