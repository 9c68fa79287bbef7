//! Limits a hostile peer meets in the peer connection: data channels it
//! opens, and DTLS records it sends before the local DTLS transport exists.

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use ferrtc_core::{ChannelId, Config, DataChannelInit, Event, PeerConnection};

/// Two connections wired back to back in memory, in virtual time.
struct Pair {
    now: Instant,
    a: PeerConnection,
    b: PeerConnection,
    a_addr: SocketAddr,
    b_addr: SocketAddr,
    a_events: Vec<Event>,
    b_events: Vec<Event>,
}

impl Pair {
    fn new(a_config: Config, b_config: Config) -> Pair {
        let now = Instant::now();
        let (a_addr, b_addr) = (
            "10.0.0.1:5000".parse().unwrap(),
            "10.0.0.2:5000".parse().unwrap(),
        );
        let mut a = PeerConnection::new(a_config, now, SystemTime::now()).unwrap();
        let mut b = PeerConnection::new(b_config, now, SystemTime::now()).unwrap();
        a.add_local_host(now, a_addr).unwrap();
        b.add_local_host(now, b_addr).unwrap();
        Pair {
            now,
            a,
            b,
            a_addr,
            b_addr,
            a_events: Vec::new(),
            b_events: Vec::new(),
        }
    }

    /// Trickles candidates across and keeps the other events.
    fn signal(&mut self) {
        while let Some(e) = self.a.poll_event() {
            if let Event::IceCandidate(c) = &e {
                // Refused before the remote description; prflx covers it.
                let _ = self.b.add_ice_candidate(self.now, c);
            }
            self.a_events.push(e);
        }
        while let Some(e) = self.b.poll_event() {
            if let Event::IceCandidate(c) = &e {
                let _ = self.a.add_ice_candidate(self.now, c);
            }
            self.b_events.push(e);
        }
    }

    /// Delivers datagrams both ways until both are quiet, then fires timers
    /// at the next deadline.
    fn step(&mut self) {
        let mut buf = Vec::new();
        loop {
            self.signal();
            let mut moved = false;
            while let Some(t) = self.a.poll_transmit(self.now, &mut buf) {
                self.b
                    .handle_receive(self.now, t.source, t.destination, &mut buf);
                moved = true;
            }
            while let Some(t) = self.b.poll_transmit(self.now, &mut buf) {
                self.a
                    .handle_receive(self.now, t.source, t.destination, &mut buf);
                moved = true;
            }
            if !moved {
                break;
            }
        }
        let next = [self.a.poll_timeout(), self.b.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        self.now = next
            .unwrap_or(self.now)
            .max(self.now + Duration::from_millis(1));
        self.a.handle_timeout(self.now);
        self.b.handle_timeout(self.now);
    }

    fn run_until(&mut self, mut done: impl FnMut(&Pair) -> bool) -> bool {
        let end = self.now + Duration::from_secs(30);
        while self.now < end {
            if done(self) {
                return true;
            }
            self.step();
        }
        done(self)
    }

    fn offer_answer(&mut self) {
        let offer = self.a.create_offer().unwrap();
        self.a
            .set_local_description(self.now, Some(offer.clone()))
            .unwrap();
        self.b.set_remote_description(self.now, offer).unwrap();
        let answer = self.b.create_answer().unwrap();
        self.b
            .set_local_description(self.now, Some(answer.clone()))
            .unwrap();
        self.a.set_remote_description(self.now, answer).unwrap();
    }
}

fn count(events: &[Event], f: impl Fn(&Event) -> bool) -> usize {
    events.iter().filter(|e| f(e)).count()
}

fn config(seed: u8, max_channels: usize) -> Config {
    let mut c = Config::default();
    c.rng_seed = Some([seed; 32]);
    c.max_channels = max_channels;
    c
}

#[test]
fn by_default_1024_channels_are_created_and_the_next_is_refused() {
    let now = Instant::now();
    let mut pc = PeerConnection::new(Config::default(), now, SystemTime::now()).unwrap();
    for i in 0..1024 {
        pc.create_data_channel(now, &format!("c{i}"), DataChannelInit::default())
            .unwrap();
    }
    // W3C webrtc-pc §6.1 createDataChannel: no stream left is an OperationError.
    assert!(matches!(
        pc.create_data_channel(now, "over", DataChannelInit::default()),
        Err(ferrtc_core::Error::Operation { .. })
    ));
    assert_eq!(pc.channels().count(), 1024);
}

#[test]
fn channels_a_peer_opens_past_max_channels_are_refused_and_counted() {
    let mut pair = Pair::new(config(1, 1024), config(2, 4));
    let first = pair
        .a
        .create_data_channel(pair.now, "first", DataChannelInit::default())
        .unwrap();
    pair.offer_answer();
    assert!(pair.run_until(|p| {
        p.b_events
            .iter()
            .any(|e| matches!(e, Event::DataChannel(_)))
    }));
    let dropped_before = pair.b.stats().dropped_messages;

    // The peer opens 40 more channels with DCEP; b holds at most 4 in all.
    let more: Vec<ChannelId> = (0..40)
        .map(|i| {
            pair.a
                .create_data_channel(pair.now, &format!("c{i}"), DataChannelInit::default())
                .unwrap()
        })
        .collect();
    pair.run_until(|p| p.b.stats().dropped_messages >= dropped_before + 37);
    for _ in 0..100 {
        pair.step();
    }
    assert_eq!(pair.b.channels().count(), 4);
    assert_eq!(
        count(&pair.b_events, |e| matches!(e, Event::DataChannel(_))),
        4
    );
    assert_eq!(pair.b.stats().dropped_messages, dropped_before + 37);
    // The channels b accepted still work.
    let on_b = pair.b.channels().next().unwrap();
    pair.b.send(pair.now, on_b, b"still here", true).unwrap();
    assert!(pair.run_until(|p| p.a_events.iter().any(|e| matches!(
        e,
        Event::ChannelMessage { message, .. } if message.as_bytes() == b"still here"
    ))));
    assert!(pair.a.channel(first).is_some());
    assert_eq!(more.len(), 40);
}

#[test]
fn dtls_records_before_the_answer_are_held_up_to_a_bound_and_the_rest_dropped() {
    // The answerer (DTLS client) can send its ClientHello before the
    // offerer has the answer: the offerer holds a few such records, and
    // drops and counts the rest of a flood.
    let mut pair = Pair::new(config(1, 1024), config(2, 1024));
    pair.a
        .create_data_channel(pair.now, "chat", DataChannelInit::default())
        .unwrap();
    let offer = pair.a.create_offer().unwrap();
    pair.a
        .set_local_description(pair.now, Some(offer.clone()))
        .unwrap();
    pair.b.set_remote_description(pair.now, offer).unwrap();
    let answer = pair.b.create_answer().unwrap();
    pair.b
        .set_local_description(pair.now, Some(answer.clone()))
        .unwrap();
    // Let b's checks reach a so that a accepts data from b's address.
    for _ in 0..20 {
        pair.step();
    }
    let before = pair.a.stats().dropped_datagrams;
    let mut record = vec![22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4];
    record.extend_from_slice(&[1, 0, 0, 0]);
    for _ in 0..1_000 {
        pair.a
            .handle_receive(pair.now, pair.b_addr, pair.a_addr, &mut record);
    }
    let dropped = pair.a.stats().dropped_datagrams - before;
    assert!(
        dropped >= 1_000 - 8,
        "only {dropped} of 1000 early records dropped"
    );
    assert!(dropped < 1_000, "no early record was held");
    // The connection still comes up once the answer arrives.
    pair.a.set_remote_description(pair.now, answer).unwrap();
    assert!(pair.run_until(|p| {
        p.a_events
            .iter()
            .any(|e| matches!(e, Event::ChannelOpen(_)))
    }));
}

#[test]
fn the_connection_applies_its_configured_sdp_and_candidate_limits() {
    let now = Instant::now();
    let mut offerer = PeerConnection::new(config(1, 16), now, SystemTime::now()).unwrap();
    offerer
        .add_local_host(now, "127.0.0.1:5000".parse().unwrap())
        .unwrap();
    offerer
        .create_data_channel(now, "x", DataChannelInit::default())
        .unwrap();
    let offer = offerer.create_offer().unwrap();

    let mut small = config(2, 16);
    small.sdp_limits.max_bytes = offer.sdp.len() - 1;
    let mut strict = PeerConnection::new(small, now, SystemTime::now()).unwrap();
    assert!(strict.set_remote_description(now, offer.clone()).is_err());

    let mut few = config(3, 16);
    few.max_remote_candidates = 2;
    let mut answerer = PeerConnection::new(few, now, SystemTime::now()).unwrap();
    answerer.set_remote_description(now, offer).unwrap();
    let candidate = |port: u16| ferrtc_core::IceCandidateInit {
        candidate: format!("candidate:1 1 udp 2130706431 127.0.0.1 {port} typ host"),
        sdp_mid: Some("0".into()),
        sdp_m_line_index: Some(0),
        username_fragment: None,
    };
    answerer.add_ice_candidate(now, &candidate(6001)).unwrap();
    answerer.add_ice_candidate(now, &candidate(6002)).unwrap();
    assert!(answerer.add_ice_candidate(now, &candidate(6003)).is_err());
}
