//! ICE-TCP (RFC 6544) between two `ferrtc::PeerConnection`s on loopback:
//! only their TCP candidates are signalled, so the connection can only form
//! over a TCP connection from one side's active candidate to the other's
//! listener. A data channel then carries messages from several tasks on
//! clones of one handle, and the stats name the TCP pair. And what a
//! listener holds for connections that never send a check.

use std::net::SocketAddr;
use std::time::Duration;

use ferrtc::{
    Configuration, DataChannel, DataChannelEvent, DataChannelInit, DataChannelMessage,
    PeerConnection, PeerConnectionEvent,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;

const TIMEOUT: Duration = Duration::from_secs(20);

fn tcp_config() -> Configuration {
    Configuration {
        tcp_candidates: true,
        host_addresses: vec!["127.0.0.1".parse().unwrap()],
        ..Configuration::default()
    }
}

/// Forwards `from`'s TCP candidates (and end of candidates) to `to`, and
/// counts the candidates of each kind it saw; sends `from`'s data channels
/// to `channels`.
fn trickle_tcp_only(
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
                    if c.candidate.is_empty() || c.candidate.contains(" tcp ") {
                        let _ = to.add_ice_candidate(c).await;
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

/// The offer and answer go to the peers with their UDP candidates removed.
fn without_udp_candidates(sdp: &str) -> String {
    sdp.split("\r\n")
        .filter(|l| !(l.starts_with("a=candidate:") && l.contains(" udp ")))
        .collect::<Vec<_>>()
        .join("\r\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_peers_that_only_see_tcp_candidates_connect_over_ice_tcp() {
    let a = PeerConnection::new(tcp_config()).unwrap();
    let b = PeerConnection::new(tcp_config()).unwrap();
    let dc = a
        .create_data_channel("tcp", DataChannelInit::default())
        .await
        .unwrap();
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let (chan_tx, mut chans) = mpsc::unbounded_channel();
    let offer = a.create_offer().await.unwrap();
    a.set_local_description(Some(offer.clone())).await.unwrap();
    b.set_remote_description(ferrtc::SessionDescription::offer(without_udp_candidates(
        &offer.sdp,
    )))
    .await
    .unwrap();
    let answer = b.create_answer().await.unwrap();
    b.set_local_description(Some(answer.clone())).await.unwrap();
    a.set_remote_description(ferrtc::SessionDescription::answer(without_udp_candidates(
        &answer.sdp,
    )))
    .await
    .unwrap();
    // Candidates once both descriptions are in (a candidate before its
    // remote description would be refused); the first subscriber of each
    // connection also gets the events from before it subscribed.
    trickle_tcp_only(a.clone(), b.clone(), seen_tx.clone(), chan_tx.clone());
    trickle_tcp_only(b.clone(), a.clone(), seen_tx, chan_tx);

    tokio::time::timeout(TIMEOUT, dc.wait_open())
        .await
        .expect("the channel opens over TCP in time")
        .unwrap();
    let remote = tokio::time::timeout(TIMEOUT, chans.recv())
        .await
        .expect("b gets the channel")
        .unwrap();

    // Several tasks on clones of one channel handle, then one large message
    // (SCTP fragments it over the framed stream).
    let mut tasks = Vec::new();
    for t in 0..4u8 {
        let dc = dc.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..25u8 {
                dc.send_binary(&[t, i]).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut got = Vec::new();
    for _ in 0..100 {
        match next_message(&remote).await {
            DataChannelMessage::Binary(b) => got.push((b[0], b[1])),
            other => panic!("{other:?}"),
        }
    }
    for t in 0..4u8 {
        let from_t: Vec<u8> = got.iter().filter(|m| m.0 == t).map(|m| m.1).collect();
        assert_eq!(
            from_t,
            (0..25).collect::<Vec<u8>>(),
            "task {t}'s messages in order"
        );
    }
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    remote.send_binary(&big).await.unwrap();
    assert_eq!(next_message(&dc).await, DataChannelMessage::Binary(big));

    // Both kinds of TCP candidate were gathered, and the pair in use is TCP.
    let mut lines = Vec::new();
    while let Ok(l) = seen.try_recv() {
        lines.push(l);
    }
    assert!(
        lines.iter().any(|l| l.contains("tcptype passive")),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("tcptype active")),
        "{lines:?}"
    );
    let stats = serde_json::to_value(a.get_stats().await.unwrap()).unwrap();
    let pair = stats
        .as_object()
        .unwrap()
        .values()
        .find(|s| s["type"] == "candidate-pair" && s["nominated"] == true)
        .unwrap_or_else(|| panic!("no nominated pair: {stats}"));
    let local = &stats[pair["localCandidateId"].as_str().unwrap()];
    assert_eq!(local["protocol"], "tcp", "{local}");
    a.close().await;
    b.close().await;
}

/// With TCP candidates on, the UDP host candidates are gathered, and so
/// trickled, first: the peer pairs them before the TCP ones (which RFC
/// 6544 §4.2 ranks below), so a valid TCP pair is never nominated while a
/// UDP pair could still form. Two peers that see every candidate of the
/// other, each trickled as it comes, pick a UDP pair.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_tcp_candidates_on_udp_is_gathered_first_and_chosen() {
    let a = PeerConnection::new(tcp_config()).unwrap();
    let b = PeerConnection::new(tcp_config()).unwrap();
    let (a_events, b_events) = (a.subscribe(), b.subscribe());
    let dc = a
        .create_data_channel("both", DataChannelInit::default())
        .await
        .unwrap();
    let offer = a.create_offer().await.unwrap();
    a.set_local_description(Some(offer.clone())).await.unwrap();
    b.set_remote_description(offer).await.unwrap();
    let answer = b.create_answer().await.unwrap();
    b.set_local_description(Some(answer.clone())).await.unwrap();
    a.set_remote_description(answer).await.unwrap();
    let (a_seen, b_seen) = (a.clone(), b.clone());
    let forward = |mut events: ferrtc::PeerConnectionEvents, to: PeerConnection| {
        tokio::spawn(async move {
            let mut candidates = Vec::new();
            while let Ok(Some(ev)) = tokio::time::timeout(TIMEOUT, events.recv()).await {
                if let PeerConnectionEvent::IceCandidate(c) = ev {
                    let end = c.candidate.is_empty();
                    candidates.push(c.candidate.clone());
                    let _ = to.add_ice_candidate(c).await;
                    if end {
                        break;
                    }
                }
            }
            candidates
        })
    };
    let from_a = forward(a_events, b_seen);
    let from_b = forward(b_events, a_seen);
    tokio::time::timeout(TIMEOUT, dc.wait_open())
        .await
        .expect("the channel opens in time")
        .unwrap();
    for candidates in [from_a.await.unwrap(), from_b.await.unwrap()] {
        let first_tcp = candidates.iter().position(|c| c.contains(" tcp "));
        let last_udp = candidates.iter().rposition(|c| c.contains(" udp "));
        assert!(
            first_tcp.is_some() && last_udp < first_tcp,
            "UDP then TCP: {candidates:?}"
        );
    }
    for pc in [&a, &b] {
        let stats = serde_json::to_value(pc.get_stats().await.unwrap()).unwrap();
        let pair = stats
            .as_object()
            .unwrap()
            .values()
            .find(|s| s["type"] == "candidate-pair" && s["nominated"] == true)
            .unwrap_or_else(|| panic!("no nominated pair: {stats}"));
        let local = &stats[pair["localCandidateId"].as_str().unwrap()];
        assert_eq!(local["protocol"], "udp", "{local}");
    }
    a.close().await;
    b.close().await;
}

/// How long a listener waits for an accepted connection's first message
/// (`FIRST_MESSAGE_TIMEOUT` in `src/net/tcp.rs`).
const FIRST_MESSAGE_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections the listeners hold at once (`MAX_ACCEPTED`).
const MAX_ACCEPTED: usize = 16;

/// The address of `pc`'s passive candidate (its ICE-TCP listener), once
/// gathered.
async fn passive_candidate(pc: &PeerConnection) -> SocketAddr {
    let _dc = pc
        .create_data_channel("x", DataChannelInit::default())
        .await
        .unwrap();
    let offer = pc.create_offer().await.unwrap();
    pc.set_local_description(Some(offer)).await.unwrap();
    tokio::time::timeout(TIMEOUT, async {
        while let Some(ev) = pc.next_event().await {
            if let PeerConnectionEvent::IceCandidate(c) = ev
                && c.candidate.contains("tcptype passive")
            {
                let f: Vec<&str> = c.candidate.split(' ').collect();
                return SocketAddr::new(f[4].parse().unwrap(), f[5].parse().unwrap());
            }
        }
        panic!("no passive candidate")
    })
    .await
    .expect("a passive candidate in time")
}

/// Opens a connection to `to` that announces a 65535-byte frame and sends
/// nothing more; reports on `closed` when the listener closes it.
async fn silent_connection(to: SocketAddr, closed: mpsc::UnboundedSender<Instant>) {
    let mut s = TcpStream::connect(to).await.unwrap();
    s.write_all(&[0xff, 0xff]).await.unwrap();
    tokio::spawn(async move {
        let mut b = [0u8; 1];
        // EOF or a reset: either way the listener let go of it.
        while let Ok(1) = s.read(&mut b).await {}
        let _ = closed.send(Instant::now());
    });
}

/// A passive candidate is open to anyone (RFC 6544 §8, RFC 8445 §19), so
/// connections that never send their first message (a connectivity check)
/// are bounded from the accept on: the listeners hold at most
/// `MAX_ACCEPTED` of them, each until `FIRST_MESSAGE_TIMEOUT`, and close
/// every one past that as soon as it is accepted (they held a socket, a
/// task and a 64 KiB buffer each, so a few hundred per second ran a process
/// out of file descriptors). Once the held ones time out, a new connection
/// is held again.
///
/// Not timing-fragile: a connection closed before `FIRST_MESSAGE_TIMEOUT`
/// has passed since the first connect can only have been closed by the
/// bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_to_the_passive_candidate_are_bounded() {
    const SILENT: usize = 4 * MAX_ACCEPTED;
    let pc = PeerConnection::new(tcp_config()).unwrap();
    let target = passive_candidate(&pc).await;

    let start = Instant::now();
    let (closed_tx, mut closed) = mpsc::unbounded_channel();
    for _ in 0..SILENT {
        silent_connection(target, closed_tx.clone()).await;
    }
    let mut refused = 0;
    while refused < SILENT - MAX_ACCEPTED {
        match tokio::time::timeout_at(start + FIRST_MESSAGE_TIMEOUT, closed.recv()).await {
            Ok(Some(at)) if at < start + FIRST_MESSAGE_TIMEOUT => refused += 1,
            _ => break,
        }
    }
    assert_eq!(
        refused,
        SILENT - MAX_ACCEPTED,
        "{} of {SILENT} silent connections still held before any could time out",
        SILENT - refused
    );
    // The ones held were held until their first message was overdue.
    for _ in 0..MAX_ACCEPTED {
        let at = tokio::time::timeout(TIMEOUT, closed.recv())
            .await
            .expect("the held connections are closed when their first message is overdue")
            .unwrap();
        assert!(
            at >= start + FIRST_MESSAGE_TIMEOUT,
            "a held connection was closed after {:?}",
            at - start
        );
    }
    // Their places are free again.
    silent_connection(target, closed_tx).await;
    assert!(
        tokio::time::timeout(Duration::from_secs(1), closed.recv())
            .await
            .is_err(),
        "a connection after the silent ones timed out was refused"
    );
    pc.close().await;
}

/// With every place taken by connections that sent nothing, a connection
/// that sends its connectivity check at once (a real peer's) still gets in:
/// the connection silent the longest is closed to make room, and the one
/// that spoke is kept past the first-message timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_checks_at_once_gets_in_past_silent_connections() {
    let pc = PeerConnection::new(tcp_config()).unwrap();
    let target = passive_candidate(&pc).await;
    let start = Instant::now();
    let (closed_tx, mut closed) = mpsc::unbounded_channel();
    for _ in 0..MAX_ACCEPTED {
        silent_connection(target, closed_tx.clone()).await;
    }
    // RFC 4571 framing: a 20-byte STUN Binding request (RFC 8489 §5).
    let mut check = vec![0x00, 0x14, 0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
    check.extend_from_slice(&[7; 12]);
    let mut speaker = TcpStream::connect(target).await.unwrap();
    speaker.write_all(&check).await.unwrap();
    let evicted = tokio::time::timeout_at(start + FIRST_MESSAGE_TIMEOUT, closed.recv())
        .await
        .expect("the oldest silent connection makes room before any could time out");
    assert!(evicted.is_some());
    // Past the first-message timeout, the speaker is still open.
    tokio::time::sleep_until(start + FIRST_MESSAGE_TIMEOUT + Duration::from_secs(1)).await;
    let mut b = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_millis(200), speaker.read(&mut b)).await;
    assert!(
        !matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "the connection that checked at once was closed: {read:?}"
    );
    pc.close().await;
}
