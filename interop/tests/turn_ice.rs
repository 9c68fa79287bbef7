//! Two `ferrtc::PeerConnection`s with `iceTransportPolicy: "relay"` reach
//! each other only through coturn (`turnserver`) on 127.0.0.1: every
//! candidate they signal is relayed, the selected pair runs relay to relay,
//! and a data channel carries messages both ways. Wrong credentials give
//! an `icecandidateerror` with the server's 401 and no candidate.
//!
//! Runs only with FERRTC_INTEROP=1; then a missing `turnserver` fails.
#![allow(missing_docs)]

use std::time::Duration;

use ferrtc::{
    Configuration, DataChannel, DataChannelEvent, DataChannelInit, DataChannelMessage, IceServer,
    IceTransportPolicy, PeerConnection, PeerConnectionEvent, PeerConnectionState,
};
use ferrtc_interop::{Coturn, TempPath, interop_enabled};
use tokio::sync::mpsc;

mod pc_common;
mod turn_server_common;

const TIMEOUT: Duration = Duration::from_secs(20);

fn relay_only(turn: &Coturn, credential: &str) -> Configuration {
    relay_only_at(&format!("turn:{}", turn.addr), credential)
}

fn relay_only_at(url: &str, credential: &str) -> Configuration {
    Configuration {
        ice_servers: vec![IceServer {
            urls: vec![url.to_owned()],
            username: Some("alice".into()),
            credential: Some(credential.into()),
        }],
        ice_transport_policy: IceTransportPolicy::Relay,
        // Loopback only: the host candidates (never signalled) use it.
        host_addresses: vec!["127.0.0.1".parse().unwrap()],
        ..Configuration::default()
    }
}

fn start_coturn() -> Coturn {
    Coturn::start_turn(&[
        "--lt-cred-mech",
        "--user",
        "alice:secret",
        "--realm",
        "ferrtc.test",
    ])
}

/// Forwards `from`'s candidates to `to`, recording each candidate line in
/// `seen`; sends `from`'s data channels to `channels`.
fn trickle(
    from: PeerConnection,
    to: PeerConnection,
    seen: mpsc::UnboundedSender<String>,
    channels: mpsc::UnboundedSender<DataChannel>,
) {
    tokio::spawn(async move {
        while let Some(ev) = from.next_event().await {
            match ev {
                PeerConnectionEvent::IceCandidate(c) => {
                    let _ = seen.send(c.candidate.clone());
                    if to.add_ice_candidate(c).await.is_err() {
                        break;
                    }
                }
                PeerConnectionEvent::DataChannel(dc) => {
                    let _ = channels.send(dc);
                }
                _ => {}
            }
        }
    });
}

async fn next_message(dc: &DataChannel) -> DataChannelMessage {
    loop {
        match tokio::time::timeout(TIMEOUT, dc.recv()).await {
            Ok(Some(DataChannelEvent::Message(m))) => return std::sync::Arc::unwrap_or_clone(m),
            Ok(Some(_)) => continue,
            other => panic!("no message: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn relay_only_peers_connect_through_coturn_and_signal_relayed_candidates_only() {
    if !interop_enabled() {
        return;
    }
    let turn = start_coturn();
    let a = PeerConnection::new(relay_only(&turn, "secret")).unwrap();
    let b = PeerConnection::new(relay_only(&turn, "secret")).unwrap();
    let dc = a
        .create_data_channel("relayed", DataChannelInit::default())
        .await
        .unwrap();
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let (chan_tx, mut chans) = mpsc::unbounded_channel();
    let offer = a.create_offer().await.unwrap();
    a.set_local_description(Some(offer.clone())).await.unwrap();
    b.set_remote_description(offer).await.unwrap();
    let answer = b.create_answer().await.unwrap();
    b.set_local_description(Some(answer.clone())).await.unwrap();
    a.set_remote_description(answer).await.unwrap();
    // Candidates once both descriptions are in (one before its remote
    // description would be refused); the first subscriber of each
    // connection also gets the events from before it subscribed.
    trickle(a.clone(), b.clone(), seen_tx.clone(), chan_tx.clone());
    trickle(b.clone(), a.clone(), seen_tx, chan_tx);

    tokio::time::timeout(TIMEOUT, dc.wait_open())
        .await
        .expect("the channel opens through the relay in time")
        .unwrap();
    let remote = tokio::time::timeout(TIMEOUT, chans.recv())
        .await
        .expect("b gets the channel")
        .unwrap();
    // Both ways, a large message included (ChannelData carries each
    // DTLS record; SCTP fragments the message).
    let big: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    dc.send_text("through the relay").await.unwrap();
    dc.send_binary(&big).await.unwrap();
    assert_eq!(
        next_message(&remote).await,
        DataChannelMessage::Text("through the relay".into())
    );
    assert_eq!(next_message(&remote).await, DataChannelMessage::Binary(big));
    remote.send_text("and back").await.unwrap();
    assert_eq!(
        next_message(&dc).await,
        DataChannelMessage::Text("and back".into())
    );

    // Every candidate signalled is relayed (or the end-of-candidates mark).
    let mut lines = Vec::new();
    while let Ok(l) = seen.try_recv() {
        lines.push(l);
    }
    let relayed: Vec<_> = lines.iter().filter(|l| !l.is_empty()).collect();
    assert!(relayed.len() >= 2, "candidates: {lines:?}");
    for l in &relayed {
        assert!(l.contains(" typ relay "), "a non-relayed candidate: {l}");
        // The relay policy hides the local and public address.
        assert!(l.contains(" raddr 0.0.0.0 rport 0"), "{l}");
    }

    // The selected pair is relay to relay, in the W3C stats.
    let stats = a.get_stats().await.unwrap();
    let json = serde_json::to_value(&stats).unwrap().to_string();
    assert!(json.contains("\"candidateType\":\"relay\""), "{json}");
    assert!(!json.contains("\"candidateType\":\"host\""), "{json}");
    assert_eq!(a.connection_state().await, PeerConnectionState::Connected);

    // ICE restart through the relay (RFC 8445 §9): new credentials, the
    // same allocations, new relayed candidates of the new generation, and
    // the channel carries on.
    a.restart_ice().await.unwrap();
    let offer = a.create_offer().await.unwrap();
    a.set_local_description(Some(offer.clone())).await.unwrap();
    b.set_remote_description(offer).await.unwrap();
    let answer = b.create_answer().await.unwrap();
    b.set_local_description(Some(answer.clone())).await.unwrap();
    a.set_remote_description(answer).await.unwrap();
    dc.send_text("after the restart").await.unwrap();
    assert_eq!(
        next_message(&remote).await,
        DataChannelMessage::Text("after the restart".into())
    );
    let restarted = tokio::time::timeout(TIMEOUT, async {
        loop {
            let l = seen.recv().await.expect("candidates go on");
            if !l.is_empty() {
                return l;
            }
        }
    })
    .await
    .expect("relayed candidates of the new generation");
    assert!(restarted.contains(" typ relay "), "{restarted}");
    let stats = serde_json::to_value(a.get_stats().await.unwrap())
        .unwrap()
        .to_string();
    assert!(stats.contains("\"candidateType\":\"relay\""), "{stats}");
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "current_thread")]
async fn wrong_turn_credentials_give_an_ice_candidate_error_with_the_servers_401() {
    if !interop_enabled() {
        return;
    }
    let turn = start_coturn();
    let a = PeerConnection::new(relay_only(&turn, "not-the-secret")).unwrap();
    a.create_data_channel("x", DataChannelInit::default())
        .await
        .unwrap();
    let offer = a.create_offer().await.unwrap();
    a.set_local_description(Some(offer)).await.unwrap();
    let error = tokio::time::timeout(TIMEOUT, async {
        loop {
            match a.next_event().await {
                Some(PeerConnectionEvent::IceCandidate(c)) => {
                    assert!(c.candidate.is_empty(), "a candidate was gathered: {c:?}");
                }
                Some(PeerConnectionEvent::IceCandidateError {
                    server,
                    error_code,
                    error_text,
                }) => return (server, error_code, error_text),
                Some(_) => {}
                None => panic!("no icecandidateerror"),
            }
        }
    })
    .await
    .expect("icecandidateerror in time");
    assert_eq!(error.0, turn.addr);
    assert_eq!(error.1, 401, "{error:?}");
}

/// `a` and `b` (relay-only) connect over a channel `a` opens, carry 200 kB
/// one way and a text back, and `a`'s selected relay is reached over
/// `protocol` (W3C `relayProtocol`); returns the candidate lines both
/// signalled.
async fn relayed_peers_talk(
    a: &PeerConnection,
    b: &PeerConnection,
    protocol: &str,
) -> mpsc::UnboundedReceiver<String> {
    let dc = a
        .create_data_channel(&format!("over-{protocol}"), DataChannelInit::default())
        .await
        .unwrap();
    let offer = a.create_offer().await.unwrap();
    a.set_local_description(Some(offer.clone())).await.unwrap();
    b.set_remote_description(offer).await.unwrap();
    let answer = b.create_answer().await.unwrap();
    b.set_local_description(Some(answer.clone())).await.unwrap();
    a.set_remote_description(answer).await.unwrap();
    let (seen_tx, seen) = mpsc::unbounded_channel();
    let (chan_tx, mut chans) = mpsc::unbounded_channel();
    trickle(a.clone(), b.clone(), seen_tx.clone(), chan_tx.clone());
    trickle(b.clone(), a.clone(), seen_tx, chan_tx);
    tokio::time::timeout(TIMEOUT, dc.wait_open())
        .await
        .unwrap_or_else(|_| panic!("the channel opens through the relay over {protocol} in time"))
        .unwrap();
    let remote = tokio::time::timeout(TIMEOUT, chans.recv())
        .await
        .expect("b gets the channel")
        .unwrap();
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    dc.send_binary(&big).await.unwrap();
    assert_eq!(next_message(&remote).await, DataChannelMessage::Binary(big));
    let back = format!("back over {protocol}");
    remote.send_text(&back).await.unwrap();
    assert_eq!(next_message(&dc).await, DataChannelMessage::Text(back));
    let stats = serde_json::to_value(a.get_stats().await.unwrap())
        .unwrap()
        .to_string();
    let want = format!("\"relayProtocol\":\"{protocol}\"");
    assert!(stats.contains(&want), "{stats}");
    seen
}

#[tokio::test(flavor = "current_thread")]
async fn relay_only_peers_connect_through_coturn_over_tcp() {
    if !interop_enabled() {
        return;
    }
    let turn = Coturn::start_turn_tcp(&[
        "--lt-cred-mech",
        "--user",
        "alice:secret",
        "--realm",
        "ferrtc.test",
    ]);
    let url = format!("turn:{}?transport=tcp", turn.addr);
    let a = PeerConnection::new(relay_only_at(&url, "secret")).unwrap();
    let b = PeerConnection::new(relay_only_at(&url, "secret")).unwrap();
    // W3C relayProtocol: the allocation is reached over TCP.
    relayed_peers_talk(&a, &b, "tcp").await;

    // The server goes away: its TCP connections close, and with them the
    // allocations (RFC 8656 §3.1); the relayed pair fails at once rather
    // than after the 30 s consent timeout.
    drop(turn);
    let failed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if a.connection_state().await == PeerConnectionState::Failed {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(failed.is_ok(), "still {:?}", a.connection_state().await);
    a.close().await;
    b.close().await;
}

/// A self-signed certificate for `name` (a DNS name or an IP address) as
/// PEM files, and its DER for `tls_trust_anchors`.
struct TestCert {
    der: Vec<u8>,
    /// Both removed when dropped.
    cert: TempPath,
    key: TempPath,
}

impl TestCert {
    fn new(name: &str) -> TestCert {
        let certified =
            rcgen::generate_simple_self_signed(vec![name.to_owned()]).expect("a certificate");
        let unique = format!(
            "ferrtc-turns-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock after 1970")
                .as_nanos()
        );
        let cert = TempPath::file(format!("{unique}.crt"), certified.cert.pem());
        let key = TempPath::file(
            format!("{unique}.key"),
            certified.signing_key.serialize_pem(),
        );
        TestCert {
            der: certified.cert.der().to_vec(),
            cert,
            key,
        }
    }
}

/// Two relay-only peers through the TURN server of `url` (TLS, trusting
/// `anchor`) exchange messages; the relay is reached over TLS.
async fn relay_only_peers_talk_over_tls(url: &str, anchor: &[u8]) {
    let config = || Configuration {
        tls_trust_anchors: vec![anchor.to_vec()],
        ..relay_only_at(url, "secret")
    };
    let a = PeerConnection::new(config()).unwrap();
    let b = PeerConnection::new(config()).unwrap();
    // W3C relayProtocol: the allocation is reached over TLS.
    let mut seen = relayed_peers_talk(&a, &b, "tls").await;
    // Every candidate signalled is relayed (an empty one ends the list).
    let mut relayed = 0;
    while let Ok(line) = seen.try_recv() {
        assert!(line.is_empty() || line.contains("typ relay"), "{line}");
        relayed += usize::from(!line.is_empty());
    }
    assert!(relayed >= 2, "{relayed} relayed candidates");
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "current_thread")]
async fn relay_only_peers_connect_through_coturn_over_tls_checking_its_certificate() {
    if !interop_enabled() {
        return;
    }
    let cert = TestCert::new("localhost");
    let turn = Coturn::start_turn_streams(
        &[
            "--lt-cred-mech",
            "--user",
            "alice:secret",
            "--realm",
            "ferrtc.test",
        ],
        &cert.cert,
        &cert.key,
    );
    let tls = turn.tls_addr.expect("coturn's TLS port");
    // By name: the certificate names `localhost`, which resolves to loopback.
    let url = format!("turns:localhost:{}", tls.port());
    relay_only_peers_talk_over_tls(&url, &cert.der).await;
}

#[tokio::test(flavor = "current_thread")]
async fn relay_only_peers_connect_through_ferrtc_turn_over_tls() {
    if !interop_enabled() {
        return;
    }
    let cert = TestCert::new("127.0.0.1");
    let users = ferrtc_interop::TempPath::file(
        format!("ferrtc-turns-users-{}", std::process::id()),
        "alice:secret\n",
    );
    let turn = turn_server_common::ferrtc_turn(
        &pc_common::ferrtc_bin(),
        &[
            "--users",
            users.to_str().unwrap(),
            "--allow-loopback",
            "--tls-listen",
            "127.0.0.1:0",
            "--cert",
            cert.cert.to_str().unwrap(),
            "--key",
            cert.key.to_str().unwrap(),
        ],
    );
    let tls = turn.tls.expect("a TLS listener");
    // An IP literal: the certificate must carry it as an IP address.
    relay_only_peers_talk_over_tls(&format!("turns:{tls}"), &cert.der).await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_turn_server_whose_certificate_is_not_trusted_gives_no_relayed_candidate() {
    if !interop_enabled() {
        return;
    }
    let cert = TestCert::new("localhost");
    let turn = Coturn::start_turn_streams(
        &[
            "--lt-cred-mech",
            "--user",
            "alice:secret",
            "--realm",
            "ferrtc.test",
        ],
        &cert.cert,
        &cert.key,
    );
    let tls = turn.tls_addr.expect("coturn's TLS port");
    // Trusted, but issued for another name than the URL's host.
    let other = TestCert::new("turn.example");
    for (url, anchors) in [
        (format!("turns:localhost:{}", tls.port()), Vec::new()),
        (
            format!("turns:localhost:{}", tls.port()),
            vec![other.der.clone()],
        ),
        (
            format!("turns:127.0.0.1:{}", tls.port()),
            vec![cert.der.clone()],
        ),
    ] {
        let a = PeerConnection::new(Configuration {
            tls_trust_anchors: anchors,
            ..relay_only_at(&url, "secret")
        })
        .unwrap();
        a.create_data_channel("x", DataChannelInit::default())
            .await
            .unwrap();
        let offer = a.create_offer().await.unwrap();
        a.set_local_description(Some(offer)).await.unwrap();
        // Gathering ends with no candidate: the handshake failed.
        tokio::time::timeout(TIMEOUT, async {
            loop {
                match a.next_event().await {
                    Some(PeerConnectionEvent::IceCandidate(c)) if c.candidate.is_empty() => {
                        return;
                    }
                    Some(PeerConnectionEvent::IceCandidate(c)) => {
                        panic!("{url}: a candidate was gathered: {c:?}")
                    }
                    Some(_) => {}
                    None => panic!("{url}: no end of candidates"),
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{url}: gathering never ended"));
        a.close().await;
    }
}
