//! Two `ferrtc::PeerConnection`s in one process over real UDP on loopback.

mod common;

use common::{connect, connect_keeping_channels, connected_pair, trickle};

use std::time::Duration;

use ferrtc::{
    Configuration, DataChannel, DataChannelEvent, DataChannelInit, DataChannelMessage,
    DataChannelState, PeerConnection, PeerConnectionEvent, PeerConnectionState, UdpMux,
};

async fn next_message(dc: &DataChannel) -> DataChannelMessage {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), dc.recv()).await {
            Ok(Some(DataChannelEvent::Message(m))) => return std::sync::Arc::unwrap_or_clone(m),
            Ok(Some(_)) => continue,
            other => panic!("no message: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn two_peers_on_loopback_exchange_text_and_binary() {
    let (_a, b, send, recv) = connected_pair().await;
    assert_eq!(recv.label(), "chat");
    assert_eq!(recv.ready_state(), DataChannelState::Open);
    assert_eq!(send.id(), recv.id());
    send.send_text("hello").await.unwrap();
    send.send_binary(&[0, 1, 2]).await.unwrap();
    assert_eq!(
        next_message(&recv).await,
        DataChannelMessage::Text("hello".into())
    );
    assert_eq!(
        next_message(&recv).await,
        DataChannelMessage::Binary(vec![0, 1, 2])
    );
    recv.send_text("back").await.unwrap();
    assert_eq!(
        next_message(&send).await,
        DataChannelMessage::Text("back".into())
    );
    assert_eq!(b.connection_state().await, PeerConnectionState::Connected);
}

#[tokio::test(flavor = "current_thread")]
async fn many_megabytes_pass_with_back_pressure() {
    let (_a, _b, send, recv) = connected_pair().await;
    const COUNT: usize = 512; // 8 MiB of 16 KiB messages
    let writer = tokio::spawn(async move {
        for i in 0..COUNT {
            send.send_binary(&vec![(i % 256) as u8; 16 * 1024])
                .await
                .unwrap();
            assert!(send.buffered_amount() <= 2 * 1024 * 1024);
        }
        send
    });
    for i in 0..COUNT {
        let m = next_message(&recv).await;
        assert_eq!(m.as_bytes().len(), 16 * 1024);
        assert_eq!(m.as_bytes()[0], (i % 256) as u8);
    }
    writer.await.unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn closing_the_channel_fires_close_on_the_peer() {
    let (_a, _b, send, recv) = connected_pair().await;
    send.close();
    loop {
        match tokio::time::timeout(Duration::from_secs(10), recv.recv()).await {
            Ok(Some(DataChannelEvent::Close)) => break,
            Ok(Some(_)) => continue,
            other => panic!("no close: {other:?}"),
        }
    }
    assert_eq!(recv.ready_state(), DataChannelState::Closed);
}

#[tokio::test(flavor = "current_thread")]
async fn get_stats_shows_the_selected_pair_and_channel_counters() {
    let (a, _b, send, recv) = connected_pair().await;
    send.send_text("four").await.unwrap();
    assert_eq!(
        next_message(&recv).await,
        DataChannelMessage::Text("four".into())
    );
    let report = a.get_stats().await.unwrap();
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    let transport = json["T01"].clone();
    assert_eq!(transport["type"], "transport");
    assert_eq!(transport["dtlsState"], "connected");
    let pair = &json[transport["selectedCandidatePairId"].as_str().unwrap()];
    assert_eq!(pair["state"], "succeeded");
    assert!(pair["bytesSent"].as_u64().unwrap() > 0);
    let dc = json
        .as_object()
        .unwrap()
        .values()
        .find(|v| v["type"] == "data-channel")
        .unwrap();
    assert_eq!(dc["bytesSent"], 4);
}

/// W3C webrtc-pc §4.4.1.5 and §8.2: after `close()` every method that
/// would change the connection refuses, but `getStats()` does not: it
/// still resolves, with what the connection counted when it closed (the
/// last report of a call). The data channel's counters and the peer
/// connection's `dataChannelsOpened` are in it.
#[tokio::test(flavor = "current_thread")]
async fn get_stats_after_close_gives_the_counters_the_connection_ended_with() {
    let (a, _b, send, recv) = connected_pair().await;
    send.send_text("four").await.unwrap();
    assert_eq!(
        next_message(&recv).await,
        DataChannelMessage::Text("four".into())
    );
    a.close().await;
    let json = |report: ferrtc::StatsReport| -> serde_json::Value {
        serde_json::from_str(&report.to_json()).unwrap()
    };
    let report = json(a.get_stats().await.expect("getStats after close"));
    let of_type = |kind: &str| {
        report
            .as_object()
            .unwrap()
            .values()
            .find(|v| v["type"] == kind)
            .cloned()
            .unwrap_or_else(|| panic!("no {kind} in {report}"))
    };
    assert_eq!(of_type("data-channel")["bytesSent"], 4);
    assert_eq!(of_type("data-channel")["messagesSent"], 1);
    assert_eq!(of_type("peer-connection")["dataChannelsOpened"], 1);
    // The same on every later call, from any handle.
    let again = json(a.clone().get_stats().await.unwrap());
    assert_eq!(again, report);
}

#[tokio::test(flavor = "current_thread")]
async fn dropping_the_last_handle_closes_the_connection() {
    let a = PeerConnection::new(Configuration::default()).unwrap();
    let b = PeerConnection::new(Configuration::default()).unwrap();
    let send = a
        .create_data_channel("bye", DataChannelInit::default())
        .await
        .unwrap();
    let offer = a.create_offer().await.unwrap();
    a.set_local_description(Some(offer.clone())).await.unwrap();
    b.set_remote_description(offer).await.unwrap();
    let answer = b.create_answer().await.unwrap();
    b.set_local_description(Some(answer.clone())).await.unwrap();
    a.set_remote_description(answer).await.unwrap();
    // Trickle by hand until both ends of candidates, so that no task keeps
    // a handle of `a` afterwards.
    let mut recv = None;
    let (mut a_done, mut b_done) = (false, false);
    while !(a_done && b_done && recv.is_some()) {
        tokio::select! {
            Some(ev) = a.next_event(), if !a_done => {
                if let PeerConnectionEvent::IceCandidate(c) = ev {
                    a_done = c.candidate.is_empty();
                    b.add_ice_candidate(c).await.unwrap();
                }
            }
            Some(ev) = b.next_event() => match ev {
                PeerConnectionEvent::IceCandidate(c) => {
                    b_done |= c.candidate.is_empty();
                    a.add_ice_candidate(c).await.unwrap();
                }
                PeerConnectionEvent::DataChannel(dc) => recv = Some(dc),
                _ => {}
            },
            () = tokio::time::sleep(Duration::from_secs(10)) => panic!("no connection"),
        }
    }
    let recv = recv.unwrap();
    send.wait_open().await.unwrap();
    drop(a);
    // The channel handle alone does not keep the connection alive.
    loop {
        match tokio::time::timeout(Duration::from_secs(10), recv.recv()).await {
            Ok(Some(DataChannelEvent::Close)) => break,
            Ok(Some(_)) => continue,
            other => panic!("no close after the last handle was dropped: {other:?}"),
        }
    }
    assert!(send.send_text("gone").await.is_err());
}

#[tokio::test(flavor = "current_thread")]
async fn buffered_amount_low_fires_when_the_queue_drains() {
    let (_a, _b, send, recv) = connected_pair().await;
    send.set_buffered_amount_low_threshold(64 * 1024);
    assert_eq!(send.buffered_amount_low_threshold(), 64 * 1024);
    for _ in 0..32 {
        send.send_binary(&[7; 16 * 1024]).await.unwrap();
    }
    let drain = tokio::spawn(async move {
        for _ in 0..32 {
            next_message(&recv).await;
        }
    });
    loop {
        match tokio::time::timeout(Duration::from_secs(10), send.recv()).await {
            Ok(Some(DataChannelEvent::BufferedAmountLow)) => break,
            Ok(Some(_)) => continue,
            other => panic!("no bufferedamountlow: {other:?}"),
        }
    }
    drain.await.unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn set_configuration_changes_ice_servers_but_not_the_bundle_policy() {
    let pc = PeerConnection::new(Configuration::default()).unwrap();
    let mut config = pc.get_configuration();
    config.ice_servers = vec![ferrtc::IceServer::new("stun:127.0.0.1:3478")];
    pc.set_configuration(config.clone()).await.unwrap();
    assert_eq!(pc.get_configuration().ice_servers, config.ice_servers);
    config.bundle_policy = ferrtc::BundlePolicy::MaxCompat;
    assert!(matches!(
        pc.set_configuration(config).await,
        Err(ferrtc::Error::InvalidModification("bundlePolicy"))
    ));
    let mut bad = pc.get_configuration();
    bad.ice_servers = vec![ferrtc::IceServer::new("http://nope")];
    assert!(pc.set_configuration(bad).await.is_err());
}

#[tokio::test(flavor = "current_thread")]
async fn host_addresses_limit_gathering_to_the_named_addresses() {
    let config = |seed| Configuration {
        seed: Some([seed; 32]),
        host_addresses: vec![std::net::Ipv4Addr::LOCALHOST.into()],
        ..Default::default()
    };
    let a = PeerConnection::new(config(11)).unwrap();
    let b = PeerConnection::new(config(12)).unwrap();
    let send = a
        .create_data_channel("one-address", DataChannelInit::default())
        .await
        .unwrap();
    let offer = a.create_offer().await.unwrap();
    a.set_local_description(Some(offer.clone())).await.unwrap();
    b.set_remote_description(offer).await.unwrap();
    let answer = b.create_answer().await.unwrap();
    b.set_local_description(Some(answer.clone())).await.unwrap();
    a.set_remote_description(answer).await.unwrap();
    // Every candidate a gathers is on 127.0.0.1; forward them to b by hand.
    let mut gathered = Vec::new();
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(10), a.next_event())
            .await
            .expect("gathering did not finish")
            .unwrap();
        if let PeerConnectionEvent::IceCandidate(c) = ev {
            let end = c.candidate.is_empty();
            if !end {
                gathered.push(c.candidate.clone());
            }
            b.add_ice_candidate(c).await.unwrap();
            if end {
                break;
            }
        }
    }
    assert_eq!(gathered.len(), 1, "{gathered:?}");
    assert!(gathered[0].contains(" 127.0.0.1 "), "{gathered:?}");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    trickle(b.clone(), a.clone(), tx);
    let recv = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("no datachannel event")
        .unwrap();
    send.send(b"over one socket".to_vec(), false).await.unwrap();
    assert_eq!(next_message(&recv).await.as_bytes(), b"over one socket");
}

#[tokio::test(flavor = "current_thread")]
async fn many_connections_share_one_udp_port_through_a_mux() {
    let mux = UdpMux::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let mut pairs = Vec::new();
    for i in 0..8u64 {
        // The callers have sockets of their own; the "server" side shares the mux.
        let caller = PeerConnection::new(Configuration {
            seed: Some([100 + i as u8; 32]),
            host_addresses: vec![std::net::Ipv4Addr::LOCALHOST.into()],
            ..Default::default()
        })
        .unwrap();
        let server = PeerConnection::new(Configuration {
            seed: Some([200 + i as u8; 32]),
            udp_mux: Some(mux.clone()),
            ..Default::default()
        })
        .unwrap();
        let (send, recv) = connect(&caller, &server, &format!("caller-{i}")).await;
        pairs.push((caller, server, send, recv));
    }
    // Every server connection talks through the mux's one address...
    for (_, server, _, _) in &pairs {
        let report = server.get_stats().await.unwrap();
        let local = report
            .stats
            .values()
            .filter_map(|s| match s {
                ferrtc::Stats::LocalCandidate(c) => Some(c.port),
                _ => None,
            })
            .collect::<Vec<_>>();
        assert_eq!(local, vec![mux.local_addr().port()]);
    }
    // ...and each message reaches the connection it was sent on.
    for (i, (_, _, send, _)) in pairs.iter().enumerate() {
        send.send(format!("to server {i}").into_bytes(), false)
            .await
            .unwrap();
    }
    for (i, (_, _, _, recv)) in pairs.iter().enumerate() {
        assert_eq!(recv.label(), format!("caller-{i}"));
        assert_eq!(
            next_message(recv).await.as_bytes(),
            format!("to server {i}").as_bytes()
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_mux_drops_and_counts_datagrams_no_connection_claims() {
    let mux = UdpMux::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let stranger = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    stranger
        .send_to(b"\x16\xfe\xfdnot for anyone", mux.local_addr())
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), async {
        while mux.dropped() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the stray datagram was not counted");
    assert_eq!(mux.dropped(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn a_mux_refuses_an_unspecified_address() {
    let err = UdpMux::bind("0.0.0.0:0".parse().unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

#[tokio::test(flavor = "current_thread")]
async fn a_receiver_that_does_not_read_holds_the_sender_back_and_loses_nothing() {
    let (_a, _b, send, recv) = connected_pair().await;
    const TOTAL: usize = 16 << 20;
    const SIZE: usize = 64 << 10;
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let writer = {
        let (send, sent) = (send.clone(), sent.clone());
        tokio::spawn(async move {
            for i in 0..TOTAL / SIZE {
                send.send(vec![i as u8; SIZE], true).await.unwrap();
                sent.fetch_add(SIZE, std::sync::atomic::Ordering::Relaxed);
            }
        })
    };
    // Nobody reads: the receiving connection stops taking messages from
    // SCTP at 1 MiB unread, its window closes, and the sender stalls with
    // a few MiB out (unread + SCTP window + send buffer), not 16.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let out = sent.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        out < 8 << 20,
        "{out} bytes went out to a receiver that reads nothing"
    );
    // Reading resumes the flow; everything arrives, in order.
    for i in 0..TOTAL / SIZE {
        let m = next_message(&recv).await;
        assert_eq!(m.as_bytes(), &vec![i as u8; SIZE][..], "message {i}");
    }
    writer.await.unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn writers_on_clones_of_one_channel_all_arrive_in_each_writers_order() {
    let (_a, _b, send, recv) = connected_pair().await;
    const WRITERS: usize = 4;
    const PER_WRITER: usize = 128; // 4 × 128 × 16 KiB = 8 MiB, far over the 1 MiB mark
    const SIZE: usize = 16 * 1024;
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let send = send.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..PER_WRITER {
                let mut m = vec![0; SIZE];
                m[0] = w as u8;
                m[1..3].copy_from_slice(&(i as u16).to_be_bytes());
                send.send(m, true).await.unwrap();
            }
        }));
    }
    let mut next = [0usize; WRITERS];
    for _ in 0..WRITERS * PER_WRITER {
        let m = next_message(&recv).await;
        let b = m.as_bytes();
        assert_eq!(b.len(), SIZE);
        let w = usize::from(b[0]);
        let i = usize::from(u16::from_be_bytes([b[1], b[2]]));
        assert_eq!(i, next[w], "writer {w} out of order");
        next[w] += 1;
    }
    assert_eq!(next, [PER_WRITER; WRITERS]);
    for w in writers {
        tokio::time::timeout(Duration::from_secs(10), w)
            .await
            .expect("a writer hung")
            .unwrap();
    }
}

#[tokio::test(flavor = "current_thread")]
async fn send_returns_without_waiting_for_the_connection_task() {
    let (_a, _b, send, recv) = connected_pair().await;
    let before = send.buffered_amount();
    // One poll, without yielding to the connection's task: the message is
    // queued and counted in bufferedAmount at once (W3C).
    let mut sending = std::pin::pin!(send.send_binary(&[9; 1000]));
    let polled = sending
        .as_mut()
        .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()));
    assert!(
        matches!(polled, std::task::Poll::Ready(Ok(()))),
        "send waited: {polled:?}"
    );
    assert!(send.buffered_amount() >= before + 1000);
    assert_eq!(next_message(&recv).await.as_bytes(), &[9; 1000][..]);
}

#[tokio::test(flavor = "current_thread")]
async fn send_reports_state_size_and_text_errors_at_once() {
    let (_a, _b, send, _recv) = connected_pair().await;
    assert!(matches!(
        send.send(vec![0xff, 0xfe], false).await,
        Err(ferrtc::Error::NotUtf8)
    ));
    let too_big = vec![0; 1 << 20];
    assert!(matches!(
        send.send(too_big, true).await,
        Err(ferrtc::Error::Core(ferrtc_core::Error::Type { .. }))
    ));
    let unconnected = PeerConnection::new(Configuration::default()).unwrap();
    let connecting = unconnected
        .create_data_channel("not yet", DataChannelInit::default())
        .await
        .unwrap();
    assert!(matches!(
        connecting.send_text("early").await,
        Err(ferrtc::Error::Core(ferrtc_core::Error::InvalidState { .. }))
    ));
}

/// A runtime shut down with connections on it drops their tasks
/// unfinished: the handles learn that the connection is gone (its
/// channels closed, its event streams ended: no reader waits forever).
#[test]
fn when_the_runtime_shuts_down_the_handles_see_the_connection_end() {
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    let first = runtime();
    let (a, _b, send, _recv) = first.block_on(connected_pair());
    assert_eq!(send.ready_state(), DataChannelState::Open);
    // A reader subscribed while the connection lived.
    let mut events = a.subscribe();
    drop(first);
    assert_eq!(send.ready_state(), DataChannelState::Closed);
    runtime().block_on(async {
        let ended = tokio::time::timeout(Duration::from_secs(10), async {
            while events.recv().await.is_some() {}
        })
        .await;
        assert!(ended.is_ok(), "the connection's event stream ended");
        assert!(send.send_text("late").await.is_err());
        assert_eq!(send.buffered_amount(), 0);
    });
}

/// RFC 8841 §6: a renegotiation may lower the peer's `max-message-size`;
/// the next `send` is checked against the new limit (W3C webrtc-pc §6.2:
/// a TypeError), up to and including it.
#[tokio::test(flavor = "current_thread")]
async fn a_renegotiated_lower_max_message_size_applies_to_the_next_send() {
    let (a, b, send, _recv) = connected_pair().await;
    assert!(send.send(vec![0; 4_000], true).await.is_ok());
    let offer = a.create_offer().await.unwrap();
    a.set_local_description(Some(offer.clone())).await.unwrap();
    b.set_remote_description(offer).await.unwrap();
    let mut answer = b.create_answer().await.unwrap();
    b.set_local_description(Some(answer.clone())).await.unwrap();
    let line = answer
        .sdp
        .lines()
        .find(|l| l.starts_with("a=max-message-size:"))
        .expect("the answer states its max-message-size")
        .to_owned();
    answer.sdp = answer.sdp.replace(&line, "a=max-message-size:3000");
    a.set_remote_description(answer).await.unwrap();
    assert!(matches!(
        send.send(vec![0; 4_000], true).await,
        Err(ferrtc::Error::Core(ferrtc_core::Error::Type { .. }))
    ));
    assert!(send.send(vec![0; 3_000], true).await.is_ok());
}

#[tokio::test(flavor = "current_thread")]
async fn tasks_reading_clones_of_one_channel_each_get_every_message() {
    let (_a, _b, send, recv) = connected_pair().await;
    const READERS: usize = 3;
    const COUNT: usize = 50;
    let mut readers = Vec::new();
    for _ in 0..READERS {
        let clone = recv.clone();
        readers.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for _ in 0..COUNT {
                got.push(next_message(&clone).await.as_bytes().to_vec());
            }
            got
        }));
    }
    // Each reader subscribes at its first `recv`: let them all start.
    for _ in 0..READERS {
        tokio::task::yield_now().await;
    }
    for i in 0..COUNT {
        send.send_text(&format!("message {i}")).await.unwrap();
    }
    let expected: Vec<Vec<u8>> = (0..COUNT)
        .map(|i| format!("message {i}").into_bytes())
        .collect();
    for r in readers {
        assert_eq!(r.await.unwrap(), expected);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn clones_of_a_peer_connection_each_get_every_event() {
    let pc = PeerConnection::new(Configuration {
        host_addresses: vec![std::net::Ipv4Addr::LOCALHOST.into()],
        ..Default::default()
    })
    .unwrap();
    let mut readers = Vec::new();
    for _ in 0..3 {
        let clone = pc.clone();
        readers.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            loop {
                let ev = tokio::time::timeout(Duration::from_secs(10), clone.next_event())
                    .await
                    .expect("gathering did not finish")
                    .unwrap();
                let end =
                    matches!(&ev, PeerConnectionEvent::IceCandidate(c) if c.candidate.is_empty());
                seen.push(format!("{ev:?}"));
                if end {
                    return seen;
                }
            }
        }));
    }
    for _ in 0..3 {
        tokio::task::yield_now().await;
    }
    let _dc = pc
        .create_data_channel("events", DataChannelInit::default())
        .await
        .unwrap();
    let offer = pc.create_offer().await.unwrap();
    pc.set_local_description(Some(offer)).await.unwrap();
    let mut all = Vec::new();
    for r in readers {
        all.push(r.await.unwrap());
    }
    assert!(
        all[0].iter().any(|e| e.starts_with("IceCandidate")),
        "{:?}",
        all[0]
    );
    assert!(all.iter().all(|seen| *seen == all[0]), "{all:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn subscriptions_made_before_the_events_all_see_them() {
    let (_a, _b, send, recv) = connected_pair().await;
    let mut subscriptions: Vec<_> = (0..3).map(|_| recv.clone().subscribe()).collect();
    send.send_text("to everyone").await.unwrap();
    for s in &mut subscriptions {
        let m = loop {
            match tokio::time::timeout(Duration::from_secs(10), s.recv()).await {
                Ok(Some(DataChannelEvent::Message(m))) => break m,
                Ok(Some(_)) => continue,
                other => panic!("no message: {other:?}"),
            }
        };
        assert_eq!(*m, DataChannelMessage::Text("to everyone".into()));
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_clone_that_never_reads_does_not_hold_the_connection_back() {
    let (_a, _b, send, recv) = connected_pair().await;
    let _idle = recv.clone();
    const COUNT: usize = 256; // 4 MiB: four times the receive high-water mark
    let writer = tokio::spawn(async move {
        for i in 0..COUNT {
            send.send(vec![i as u8; 16 * 1024], true).await.unwrap();
        }
    });
    for i in 0..COUNT {
        assert_eq!(next_message(&recv).await.as_bytes()[0], i as u8);
    }
    writer.await.unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn an_unread_subscription_holds_the_connection_back_until_dropped() {
    let (_a, _b, send, recv) = connected_pair().await;
    let stalled = recv.subscribe();
    const COUNT: usize = 256; // 4 MiB
    let writer = tokio::spawn(async move {
        for i in 0..COUNT {
            send.send(vec![i as u8; 16 * 1024], true).await.unwrap();
        }
    });
    let mut got = 0;
    // The unread subscription reaches 1 MiB: the connection stops taking
    // messages, for the reader too.
    while let Ok(Some(ev)) = tokio::time::timeout(Duration::from_millis(500), recv.recv()).await {
        if let DataChannelEvent::Message(m) = ev {
            assert_eq!(m.as_bytes()[0], got as u8);
            got += 1;
        }
    }
    assert!(
        got < COUNT,
        "all {got} messages passed an unread subscription"
    );
    drop(stalled);
    while got < COUNT {
        assert_eq!(next_message(&recv).await.as_bytes()[0], got as u8);
        got += 1;
    }
    writer.await.unwrap();
}

/// A UDP socket on 127.0.0.1 standing for a STUN server: says whether a
/// binding request reaches it within five seconds.
async fn stun_request_arrives(server: &tokio::net::UdpSocket) -> bool {
    let mut buf = [0u8; 1500];
    match tokio::time::timeout(Duration::from_secs(5), server.recv_from(&mut buf)).await {
        // STUN binding request: message type 0x0001, magic cookie 0x2112A442.
        Ok(Ok((n, _))) => n >= 20 && buf[..2] == [0, 1] && buf[4..8] == [0x21, 0x12, 0xa4, 0x42],
        _ => false,
    }
}

/// Starts gathering on `pc` (a channel, an offer, setLocalDescription).
async fn start_gathering(pc: &PeerConnection) -> DataChannel {
    let dc = pc
        .create_data_channel("gather", DataChannelInit::default())
        .await
        .unwrap();
    let offer = pc.create_offer().await.unwrap();
    pc.set_local_description(Some(offer)).await.unwrap();
    dc
}

#[tokio::test(flavor = "current_thread")]
async fn a_stun_server_named_localhost_is_looked_up_and_queried() {
    let server = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = server.local_addr().unwrap().port();
    let pc = PeerConnection::new(Configuration {
        ice_servers: vec![ferrtc::IceServer::new(format!("stun:localhost:{port}"))],
        host_addresses: vec![std::net::Ipv4Addr::LOCALHOST.into()],
        ..Default::default()
    })
    .unwrap();
    let _dc = start_gathering(&pc).await;
    assert!(stun_request_arrives(&server).await, "no binding request");
}

#[tokio::test(flavor = "current_thread")]
async fn set_configuration_looks_a_stun_name_up_in_the_background() {
    let server = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = server.local_addr().unwrap().port();
    let pc = PeerConnection::new(Configuration {
        host_addresses: vec![std::net::Ipv4Addr::LOCALHOST.into()],
        ..Default::default()
    })
    .unwrap();
    let _dc = start_gathering(&pc).await;
    let mut config = pc.get_configuration();
    config.ice_servers = vec![ferrtc::IceServer::new(format!("stun:localhost:{port}"))];
    pc.set_configuration(config).await.unwrap();
    assert!(stun_request_arrives(&server).await, "no binding request");
}

#[tokio::test(flavor = "current_thread")]
async fn a_stun_name_that_does_not_resolve_blocks_neither_new_nor_gathering() {
    let start = std::time::Instant::now();
    // A NUL byte: the resolver refuses it without sending a query anywhere.
    let pc = PeerConnection::new(Configuration {
        ice_servers: vec![ferrtc::IceServer::new("stun:bad\0name:3478")],
        host_addresses: vec![std::net::Ipv4Addr::LOCALHOST.into()],
        ..Default::default()
    })
    .unwrap();
    assert!(start.elapsed() < Duration::from_secs(1));
    let _dc = start_gathering(&pc).await;
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(10), pc.next_event())
            .await
            .expect("gathering did not finish")
            .unwrap();
        if matches!(&ev, PeerConnectionEvent::IceCandidate(c) if c.candidate.is_empty()) {
            break;
        }
    }
}

/// Waits for the end-of-candidates event; the candidate lines before it.
async fn gathered(pc: &PeerConnection) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(10), pc.next_event())
            .await
            .expect("gathering did not finish")
            .unwrap();
        if let PeerConnectionEvent::IceCandidate(c) = ev {
            if c.candidate.is_empty() {
                return lines;
            }
            lines.push(c.candidate);
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_set_configuration_dropped_midway_does_not_hold_gathering_open() {
    let pc = PeerConnection::new(Configuration {
        host_addresses: vec![std::net::Ipv4Addr::LOCALHOST.into()],
        ..Default::default()
    })
    .unwrap();
    let mut config = pc.get_configuration();
    // A name the resolver refuses at once (a NUL byte): the lookup ends
    // with nothing found, which must still release gathering.
    config.ice_servers = vec![ferrtc::IceServer::new("stun:bad\0name:3478")];
    // Polled once (the command is sent), then dropped.
    let mut call = Box::pin(pc.set_configuration(config));
    let first = std::future::poll_fn(|cx| std::task::Poll::Ready(call.as_mut().poll(cx))).await;
    assert!(first.is_pending(), "set_configuration finished in one poll");
    drop(call);
    let _dc = start_gathering(&pc).await;
    gathered(&pc).await;
}

/// A `set_configuration` whose future is dropped once its command is
/// sent (a `select!`, a timeout) is still applied by the connection's
/// task: `getConfiguration()` then gives it (W3C webrtc-pc §4.4.1.7: the
/// configuration set is the one returned), as the servers queried do, and
/// a later call compares against it.
#[tokio::test(flavor = "current_thread")]
async fn a_set_configuration_dropped_after_sending_is_what_get_configuration_gives() {
    let server = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let pc = PeerConnection::new(Configuration {
        host_addresses: vec![std::net::Ipv4Addr::LOCALHOST.into()],
        ..Default::default()
    })
    .unwrap();
    let mut config = pc.get_configuration();
    let addr = server.local_addr().unwrap();
    config.ice_servers = vec![ferrtc::IceServer::new(format!("stun:{addr}"))];
    // Polled once (the command is sent), then dropped.
    let mut call = Box::pin(pc.set_configuration(config.clone()));
    let first = std::future::poll_fn(|cx| std::task::Poll::Ready(call.as_mut().poll(cx))).await;
    assert!(first.is_pending(), "set_configuration finished in one poll");
    drop(call);
    // The task has applied it once a later command is answered.
    let _dc = start_gathering(&pc).await;
    assert!(
        stun_request_arrives(&server).await,
        "the server not queried"
    );
    assert_eq!(pc.get_configuration().ice_servers, config.ice_servers);
}

/// W3C webrtc-pc §6.2 `close()`: the channel is `closing` when it
/// returns, before the connection's task has run, so a `send` right after
/// it fails with an `InvalidStateError` (it used to be accepted and then
/// dropped unseen); the channel then closes on both sides, with no
/// message after the close.
#[tokio::test(flavor = "current_thread")]
async fn a_send_right_after_close_is_refused_and_the_channel_closes_on_both_sides() {
    let (_a, _b, send, recv) = connected_pair().await;
    send.close();
    assert_eq!(send.ready_state(), DataChannelState::Closing);
    let late = send.send_text("late").await;
    assert_eq!(late.map_err(|e| e.name()), Err("InvalidStateError"));
    loop {
        match tokio::time::timeout(Duration::from_secs(10), send.recv()).await {
            Ok(Some(DataChannelEvent::Close)) => break,
            Ok(Some(_)) => continue,
            other => panic!("no close: {other:?}"),
        }
    }
    loop {
        match tokio::time::timeout(Duration::from_secs(10), recv.recv()).await {
            Ok(Some(DataChannelEvent::Close)) => break,
            Ok(Some(DataChannelEvent::Message(m))) => panic!("sent after close: {m:?}"),
            Ok(Some(_)) => continue,
            other => panic!("no close: {other:?}"),
        }
    }
    assert!(send.send_text("after").await.is_err());
}

#[tokio::test(flavor = "current_thread")]
async fn writers_on_another_thread_under_back_pressure_lose_and_reorder_nothing() {
    let (_a, _b, send, recv) = connected_pair().await;
    const WRITERS: usize = 4;
    const PER_WRITER: usize = 2000;
    const SIZE: usize = 1024; // 8 MiB in all
    // The writers run on a runtime of their own, on another OS thread: the
    // back-pressure wake-ups cross threads.
    let writers = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let mut writers = Vec::new();
            for w in 0..WRITERS {
                let send = send.clone();
                writers.push(tokio::spawn(async move {
                    for i in 0..PER_WRITER {
                        let mut m = vec![0; SIZE];
                        m[0] = w as u8;
                        m[1..3].copy_from_slice(&(i as u16).to_be_bytes());
                        send.send(m, true).await.unwrap();
                        assert!(send.buffered_amount() <= 2 * 1024 * 1024);
                    }
                }));
            }
            for w in writers {
                w.await.unwrap();
            }
        });
    });
    let mut next = [0usize; WRITERS];
    for _ in 0..WRITERS * PER_WRITER {
        let m = next_message(&recv).await;
        let b = m.as_bytes();
        let w = usize::from(b[0]);
        assert_eq!(usize::from(u16::from_be_bytes([b[1], b[2]])), next[w]);
        next[w] += 1;
    }
    writers.join().unwrap();
}

/// Sends `count` binary messages of `size` bytes (the i-th filled with
/// byte i) on the sending side of every pair.
async fn send_on_each(pairs: &[(DataChannel, DataChannel)], count: usize, size: usize) {
    for (send, _) in pairs {
        for i in 0..count {
            send.send(vec![i as u8; size], true).await.unwrap();
        }
    }
}

/// A connected pair with `count` more channels from `a` to `b`, open on
/// both sides: `(a, b, [(a's end, b's end)])`.
async fn pair_with_channels(
    count: usize,
) -> (
    PeerConnection,
    PeerConnection,
    Vec<(DataChannel, DataChannel)>,
) {
    let a = PeerConnection::new(Configuration {
        seed: Some([1; 32]),
        ..Default::default()
    })
    .unwrap();
    let b = PeerConnection::new(Configuration {
        seed: Some([2; 32]),
        ..Default::default()
    })
    .unwrap();
    let (_send, _recv, mut later) = connect_keeping_channels(&a, &b, "first").await;
    let mut pairs = Vec::new();
    for i in 0..count {
        let label = format!("ch{i}");
        let send = a
            .create_data_channel(&label, DataChannelInit::default())
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(10), send.wait_open())
            .await
            .expect("channel did not open")
            .unwrap();
        let recv = tokio::time::timeout(Duration::from_secs(10), later.recv())
            .await
            .expect("no datachannel event")
            .unwrap();
        assert_eq!(recv.label(), label);
        pairs.push((send, recv));
    }
    (a, b, pairs)
}

/// Reads `dc` until its `close`: the sizes of the messages before it.
async fn messages_until_close(dc: DataChannel) -> Vec<usize> {
    let mut got = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(60), dc.recv()).await {
            Ok(Some(DataChannelEvent::Message(m))) => got.push(m.as_bytes().len()),
            Ok(Some(DataChannelEvent::Close) | None) => return got,
            Ok(Some(_)) => {}
            Err(_) => panic!(
                "channel {} did not close: {} messages",
                dc.label(),
                got.len()
            ),
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn close_comes_after_sends_blocked_on_a_full_sctp_send_buffer() {
    // 32 channels of 1 MiB each: twice SCTP's 16 MiB send buffer, so that
    // the messages of many channels wait in the task when close() comes.
    // (Small messages: the peer's 1 MiB receive buffer must hold a partly
    // received message of every channel at once.)
    const CHANNELS: usize = 32;
    const SIZE: usize = 16 << 10;
    const EACH: usize = 64;
    let (_a, _b, pairs) = pair_with_channels(CHANNELS).await;
    for (send, _) in &pairs {
        for i in 0..EACH {
            send.send(vec![i as u8; SIZE], true).await.unwrap();
        }
        send.close();
    }
    let readers: Vec<_> = pairs
        .iter()
        .map(|(_, recv)| tokio::spawn(messages_until_close(recv.clone())))
        .collect();
    for (i, reader) in readers.into_iter().enumerate() {
        let got = reader.await.unwrap();
        assert_eq!(
            got,
            vec![SIZE; EACH],
            "channel {i} lost messages to close()"
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn buffered_amount_is_zero_after_the_connection_closes_with_blocked_sends() {
    const CHANNELS: usize = 32;
    const SIZE: usize = 16 << 10;
    const EACH: usize = 64;
    let (a, _b, pairs) = pair_with_channels(CHANNELS).await;
    send_on_each(&pairs, EACH, SIZE).await;
    // Let the task take the sends: half of them wait for SCTP's buffer.
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.close().await;
    for (i, (send, _)) in pairs.iter().enumerate() {
        assert_eq!(send.ready_state(), DataChannelState::Closed);
        assert_eq!(send.buffered_amount(), 0, "channel {i}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn buffered_amount_is_zero_after_the_peer_closes_channels_with_blocked_sends() {
    const CHANNELS: usize = 32;
    const SIZE: usize = 16 << 10;
    const EACH: usize = 64;
    let (_a, _b, pairs) = pair_with_channels(CHANNELS).await;
    send_on_each(&pairs, EACH, SIZE).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (_, recv) in &pairs {
        recv.close();
        // Read, or the messages ahead of the close never leave.
        tokio::spawn(messages_until_close(recv.clone()));
    }
    for (i, (send, _)) in pairs.iter().enumerate() {
        let closed = async {
            while send.ready_state() != DataChannelState::Closed {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(30), closed)
            .await
            .unwrap_or_else(|_| panic!("channel {i} did not close"));
        assert_eq!(send.buffered_amount(), 0, "channel {i}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_subscription_outlives_every_handle_and_ends_at_close() {
    let (_a, _b, send, recv) = connected_pair().await;
    let mut events = recv.subscribe();
    drop(recv);
    send.send_text("after the handles").await.unwrap();
    let next = loop {
        let ev = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("no event");
        if !matches!(
            ev,
            Some(DataChannelEvent::Open | DataChannelEvent::BufferedAmountLow)
        ) {
            break ev;
        }
    };
    assert_eq!(
        next,
        Some(DataChannelEvent::Message(std::sync::Arc::new(
            DataChannelMessage::Text("after the handles".into())
        )))
    );
    send.close();
    let mut rest = Vec::new();
    while let Some(ev) = tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("the subscription did not end at close")
    {
        rest.push(ev);
    }
    assert_eq!(rest.last(), Some(&DataChannelEvent::Close));
}

#[tokio::test(flavor = "current_thread")]
async fn the_configuration_applied_last_is_the_one_get_configuration_gives() {
    let first = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let second = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let pc = PeerConnection::new(Configuration {
        host_addresses: vec![std::net::Ipv4Addr::LOCALHOST.into()],
        ..Default::default()
    })
    .unwrap();
    let with = |server: &tokio::net::UdpSocket| {
        let mut config = pc.get_configuration();
        let addr = server.local_addr().unwrap();
        config.ice_servers = vec![ferrtc::IceServer::new(format!("stun:{addr}"))];
        config
    };
    let (config_first, config_second) = (with(&first), with(&second));
    // The first call sends its servers, then is not polled until the
    // second has finished: its reply is seen last.
    let mut early = Box::pin(pc.set_configuration(config_first));
    tokio::select! {
        biased;
        _ = &mut early => panic!("answered without the task"),
        () = std::future::ready(()) => {}
    }
    pc.set_configuration(config_second.clone()).await.unwrap();
    early.await.unwrap();
    // The task applied the second last: that is the configuration.
    assert_eq!(
        pc.get_configuration().ice_servers,
        config_second.ice_servers
    );
    let _dc = start_gathering(&pc).await;
    assert!(
        stun_request_arrives(&second).await,
        "second server not queried"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn channels_waiting_for_the_sctp_send_buffer_take_its_room_in_turn() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    // As above: the first 16 MiB go to SCTP at once, the channels sent
    // last wait in the task and share the room as it frees.
    const CHANNELS: usize = 32;
    const SIZE: usize = 16 << 10;
    const EACH: usize = 64;
    let (_a, _b, pairs) = pair_with_channels(CHANNELS).await;
    send_on_each(&pairs, EACH, SIZE).await;
    let counts: std::sync::Arc<Vec<AtomicUsize>> =
        std::sync::Arc::new((0..CHANNELS).map(|_| AtomicUsize::new(0)).collect());
    // The fewest messages a waiting channel had when the first waiting
    // channel got all of its own.
    let fewest = std::sync::Arc::new(std::sync::OnceLock::new());
    let readers: Vec<_> = pairs
        .iter()
        .enumerate()
        .map(|(i, (_, recv))| {
            let (recv, counts, fewest) = (recv.clone(), counts.clone(), fewest.clone());
            tokio::spawn(async move {
                for _ in 0..EACH {
                    next_message(&recv).await;
                    counts[i].fetch_add(1, Ordering::SeqCst);
                }
                if i >= CHANNELS / 2 {
                    let min = counts[CHANNELS / 2..]
                        .iter()
                        .map(|c| c.load(Ordering::SeqCst))
                        .min()
                        .unwrap();
                    let _ = fewest.set(min);
                }
            })
        })
        .collect();
    for reader in readers {
        reader.await.unwrap();
    }
    let fewest = *fewest.get().unwrap();
    assert!(
        fewest >= EACH / 2,
        "a waiting channel had {fewest} of {EACH} messages through when another had all"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn buffered_amount_is_zero_after_close_overtakes_sends_the_task_never_took() {
    let (a, _b, send, _recv) = connected_pair().await;
    // The task does not run between these: the sends wait in its queue,
    // and the connection's close() (a command, served first) ends it.
    for i in 0..16u8 {
        send.send(vec![i; 16 << 10], true).await.unwrap();
    }
    assert_eq!(send.buffered_amount(), 16 * (16 << 10));
    a.close().await;
    assert_eq!(send.ready_state(), DataChannelState::Closed);
    assert_eq!(send.buffered_amount(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receive_resumes_while_the_task_always_has_work() {
    let a = PeerConnection::new(Configuration::default()).unwrap();
    let b = PeerConnection::new(Configuration::default()).unwrap();
    let (send, recv, mut later) = connect_keeping_channels(&a, &b, "chat").await;
    // b also writes, without pause, on a channel of its own that a reads:
    // its task always has sends or datagrams waiting.
    let back = b
        .create_data_channel("back", DataChannelInit::default())
        .await
        .unwrap();
    let back_recv = tokio::time::timeout(Duration::from_secs(10), later.recv())
        .await
        .expect("no datachannel event")
        .unwrap();
    back.wait_open().await.unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let back_writer = {
        let stop = stop.clone();
        tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                back.send(vec![0; 64], true).await.unwrap();
            }
        })
    };
    let back_reader = tokio::spawn(async move { while back_recv.recv().await.is_some() {} });
    const TOTAL: usize = 4 << 20;
    const SIZE: usize = 64 << 10;
    let writer = tokio::spawn(async move {
        for i in 0..TOTAL / SIZE {
            send.send(vec![i as u8; SIZE], true).await.unwrap();
        }
        send
    });
    // b reads nothing for a while: it stops taking messages at 1 MiB unread.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let read = async {
        for i in 0..TOTAL / SIZE {
            let m = next_message(&recv).await;
            assert_eq!(m.as_bytes(), &vec![i as u8; SIZE][..], "message {i}");
        }
    };
    let result = tokio::time::timeout(Duration::from_secs(20), read).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    result.expect("receive stayed paused while the task always had work");
    writer.await.unwrap();
    back_writer.await.unwrap();
    a.close().await;
    b.close().await;
    back_reader.await.unwrap();
}
