//! Data channel behaviour end to end: DCEP, ids by role, negotiated
//! channels, reliability settings, buffered amount, closing, and 1,000
//! channels on one association over a lossy `ferrtc-sim` network.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ferrtc_datachannel::{
    ChannelConfig, ChannelMessage, ChannelState, ChannelType, DataChannels, DtlsRole, Event,
};
use ferrtc_sctp::Config;
use ferrtc_sim::{Endpoint, LinkConfig, Network, Transmit};

fn cfg(seed: u64) -> Config {
    Config {
        seed,
        ..Config::default()
    }
}

struct Pair {
    a: DataChannels,
    b: DataChannels,
    now: Instant,
    a_events: Vec<Event>,
    b_events: Vec<Event>,
}

impl Pair {
    fn new() -> Self {
        let now = Instant::now();
        let mut p = Self {
            a: DataChannels::new(cfg(1), DtlsRole::Client),
            b: DataChannels::new(cfg(2), DtlsRole::Server),
            now,
            a_events: Vec::new(),
            b_events: Vec::new(),
        };
        p.a.connect(now);
        p.b.connect(now);
        p.pump();
        assert!(p.a_events.contains(&Event::Connected));
        assert!(p.b_events.contains(&Event::Connected));
        p
    }

    /// Moves packets both ways until quiet, letting timers run.
    fn pump(&mut self) {
        self.pump_dropping(0);
    }

    /// Like `pump`, dropping every `n`th packet each way (0: none).
    fn pump_dropping(&mut self, n: usize) {
        let mut buf = Vec::new();
        let mut count = 0usize;
        let mut lose = move || {
            count += 1;
            n != 0 && count % n == 0
        };
        for _ in 0..100_000 {
            let mut moved = false;
            while self.a.poll_transmit(self.now, &mut buf).is_some() {
                if !lose() {
                    self.b.handle_receive(self.now, &buf);
                }
                moved = true;
            }
            while self.b.poll_transmit(self.now, &mut buf).is_some() {
                if !lose() {
                    self.a.handle_receive(self.now, &buf);
                }
                moved = true;
            }
            while let Some(e) = self.a.poll_event() {
                self.a_events.push(e);
            }
            while let Some(e) = self.b.poll_event() {
                self.b_events.push(e);
            }
            if !moved {
                // Give delayed SACKs and retransmissions their time.
                let next = [self.a.poll_timeout(), self.b.poll_timeout()]
                    .into_iter()
                    .flatten()
                    .min();
                match next {
                    Some(t) if t <= self.now + Duration::from_secs(5) => {
                        self.now = t.max(self.now);
                        self.a.handle_timeout(self.now);
                        self.b.handle_timeout(self.now);
                    }
                    _ => return,
                }
            }
        }
    }

    fn b_messages(&self) -> Vec<&ChannelMessage> {
        self.b_events
            .iter()
            .filter_map(|e| match e {
                Event::Message(m) => Some(m),
                _ => None,
            })
            .collect()
    }
}

#[test]
fn in_band_channel_opens_on_both_sides_with_its_settings() {
    let mut p = Pair::new();
    let config = ChannelConfig {
        protocol: "chat-v1".into(),
        ordered: false,
        channel_type: ChannelType::MaxRetransmits(2),
        ..ChannelConfig::new("room")
    };
    let id = p.a.create_channel(p.now, config.clone()).unwrap();
    assert_eq!(id % 2, 0, "DTLS client picks even ids");
    assert_eq!(p.a.state(id), ChannelState::Connecting);
    p.pump();
    assert!(p.a_events.contains(&Event::Open(id)));
    assert_eq!(p.a.state(id), ChannelState::Open);
    assert!(p.b_events.contains(&Event::Incoming { id, config }));
    let id_b =
        p.b.create_channel(p.now, ChannelConfig::new("other"))
            .unwrap();
    assert_eq!(id_b % 2, 1, "DTLS server picks odd ids");
}

#[test]
fn partially_reliable_unordered_channel_settings_apply_both_ways_under_loss() {
    let mut p = Pair::new();
    let config = ChannelConfig {
        ordered: false,
        channel_type: ChannelType::MaxRetransmits(0),
        ..ChannelConfig::new("lossy")
    };
    let id = p.a.create_channel(p.now, config).unwrap();
    p.pump();
    assert_eq!(
        p.b.config(id).unwrap().channel_type,
        ChannelType::MaxRetransmits(0)
    );
    for k in 0..300u32 {
        // One message per packet.
        let mut m = vec![0u8; 1000];
        m[..4].copy_from_slice(&k.to_be_bytes());
        p.a.send(p.now, id, &m, true).unwrap();
        p.b.send(p.now, id, &m, true).unwrap();
        if k % 10 == 9 {
            p.pump_dropping(7);
        }
    }
    p.pump();
    let count = |evs: &Vec<Event>| {
        let mut ks: Vec<u32> = evs
            .iter()
            .filter_map(|e| match e {
                Event::Message(m) => Some(u32::from_be_bytes(m.data[..4].try_into().unwrap())),
                _ => None,
            })
            .collect();
        let n = ks.len();
        ks.sort_unstable();
        ks.dedup();
        assert_eq!(ks.len(), n, "no duplicates");
        n
    };
    let (to_b, to_a) = (count(&p.b_events), count(&p.a_events));
    // One packet in seven is lost and never retransmitted: messages go missing,
    // on the creator's side and on the side that learnt the settings by DCEP.
    assert!((200..300).contains(&to_b), "a -> b delivered {to_b} of 300");
    assert!((200..300).contains(&to_a), "b -> a delivered {to_a} of 300");
    assert!(p.a.association().stats().messages_abandoned > 0);
    assert!(p.b.association().stats().messages_abandoned > 0);
}

#[test]
fn channel_created_before_the_association_opens_when_it_comes_up() {
    let now = Instant::now();
    let mut a = DataChannels::new(cfg(1), DtlsRole::Client);
    let id = a.create_channel(now, ChannelConfig::new("early")).unwrap();
    let mut p = Pair {
        a,
        b: DataChannels::new(cfg(2), DtlsRole::Server),
        now,
        a_events: vec![],
        b_events: vec![],
    };
    p.a.connect(now);
    p.b.connect(now);
    p.pump();
    assert!(p.a_events.contains(&Event::Open(id)));
    assert!(
        p.b_events
            .iter()
            .any(|e| matches!(e, Event::Incoming { id: i, .. } if *i == id))
    );
}

#[test]
fn negotiated_channel_needs_no_dcep_and_carries_messages_both_ways() {
    let mut p = Pair::new();
    let c = ChannelConfig {
        negotiated: Some(7),
        ..ChannelConfig::new("neg")
    };
    assert_eq!(p.a.create_channel(p.now, c.clone()).unwrap(), 7);
    assert_eq!(p.b.create_channel(p.now, c).unwrap(), 7);
    p.pump();
    assert!(p.a_events.contains(&Event::Open(7)));
    assert!(p.b_events.contains(&Event::Open(7)));
    assert!(
        !p.b_events
            .iter()
            .any(|e| matches!(e, Event::Incoming { .. }))
    );
    p.a.send(p.now, 7, b"hello", false).unwrap();
    p.b.send(p.now, 7, &[1, 2, 3], true).unwrap();
    p.pump();
    assert_eq!(
        p.b_messages()[0],
        &ChannelMessage {
            id: 7,
            binary: false,
            data: b"hello".to_vec()
        }
    );
    assert!(p.a_events.contains(&Event::Message(ChannelMessage {
        id: 7,
        binary: true,
        data: vec![1, 2, 3]
    })));
}

#[test]
fn empty_string_and_empty_binary_messages_arrive_empty() {
    let mut p = Pair::new();
    let id = p.a.create_channel(p.now, ChannelConfig::new("e")).unwrap();
    p.pump();
    p.a.send(p.now, id, b"", false).unwrap();
    p.a.send(p.now, id, b"", true).unwrap();
    p.pump();
    let m = p.b_messages();
    assert_eq!(
        m[0],
        &ChannelMessage {
            id,
            binary: false,
            data: vec![]
        }
    );
    assert_eq!(
        m[1],
        &ChannelMessage {
            id,
            binary: true,
            data: vec![]
        }
    );
}

#[test]
fn send_on_a_channel_that_is_not_open_is_refused() {
    let mut p = Pair::new();
    let id = p.a.create_channel(p.now, ChannelConfig::new("x")).unwrap();
    assert!(
        p.a.send(p.now, id, b"too early", false).is_err(),
        "connecting"
    );
    assert!(p.a.send(p.now, 999, b"nobody", false).is_err(), "unknown");
}

#[test]
fn close_reaches_closed_on_both_sides_and_frees_the_id() {
    let mut p = Pair::new();
    let id =
        p.a.create_channel(p.now, ChannelConfig::new("bye"))
            .unwrap();
    p.pump();
    p.a.send(p.now, id, b"last", false).unwrap();
    p.a.close(id).unwrap();
    assert_eq!(p.a.state(id), ChannelState::Closing);
    p.pump();
    assert_eq!(p.b_messages().len(), 1, "data sent before close arrives");
    for evs in [&p.a_events, &p.b_events] {
        assert!(evs.contains(&Event::Closing(id)));
        assert!(evs.contains(&Event::Closed(id)));
    }
    assert_eq!(p.a.state(id), ChannelState::Closed);
    assert_eq!(p.b.state(id), ChannelState::Closed);
    assert_eq!(p.a.channel_count(), 0);
    assert_eq!(p.b.channel_count(), 0);
    // The id can be used again.
    let c = ChannelConfig {
        negotiated: Some(id),
        ..ChannelConfig::new("again")
    };
    p.a.create_channel(p.now, c.clone()).unwrap();
    p.b.create_channel(p.now, c).unwrap();
    p.pump();
    p.a.send(p.now, id, b"new life", false).unwrap();
    p.pump();
    assert_eq!(p.b_messages().last().unwrap().data, b"new life");
}

#[test]
fn buffered_amount_drains_and_fires_the_low_threshold_event() {
    let mut p = Pair::new();
    let id =
        p.a.create_channel(p.now, ChannelConfig::new("bulk"))
            .unwrap();
    p.pump();
    p.a.set_buffered_amount_low_threshold(id, 10_000);
    for _ in 0..100 {
        p.a.send(p.now, id, &[0u8; 16 * 1024], true).unwrap();
    }
    assert_eq!(p.a.buffered_amount(id), 100 * 16 * 1024);
    p.pump();
    assert_eq!(p.a.buffered_amount(id), 0);
    let lows = p
        .a_events
        .iter()
        .filter(|e| **e == Event::BufferedAmountLow(id))
        .count();
    assert_eq!(lows, 1, "fires once when crossing the threshold");
    assert_eq!(p.b_messages().len(), 100);
}

#[test]
fn deprecated_partial_messages_are_dropped_and_counted() {
    // The far side is a bare association that sends PPID 52 on a negotiated channel.
    let now = Instant::now();
    let mut a = DataChannels::new(cfg(1), DtlsRole::Client);
    let mut raw = ferrtc_sctp::Association::new(cfg(2));
    a.connect(now);
    let mut buf = Vec::new();
    for _ in 0..10 {
        while a.poll_transmit(now, &mut buf).is_some() {
            let _ = raw.handle_receive(now, &buf);
        }
        while raw.poll_transmit(now, &mut buf).is_some() {
            a.handle_receive(now, &buf);
        }
    }
    a.create_channel(
        now,
        ChannelConfig {
            negotiated: Some(3),
            ..ChannelConfig::new("n")
        },
    )
    .unwrap();
    let opts = ferrtc_sctp::SendOptions::default();
    raw.send(now, 3, ferrtc_sctp::ppid::BINARY_PARTIAL, b"part", opts)
        .unwrap();
    raw.send(now, 3, ferrtc_sctp::ppid::STRING_PARTIAL, b"part", opts)
        .unwrap();
    raw.send(now, 3, ferrtc_sctp::ppid::BINARY, b"whole", opts)
        .unwrap();
    raw.send(now, 3, 9999, b"unknown ppid", opts).unwrap();
    while raw.poll_transmit(now, &mut buf).is_some() {
        a.handle_receive(now, &buf);
    }
    let mut msgs = Vec::new();
    while let Some(e) = a.poll_event() {
        if let Event::Message(m) = e {
            msgs.push(m);
        }
    }
    assert_eq!(
        msgs,
        vec![ChannelMessage {
            id: 3,
            binary: true,
            data: b"whole".to_vec()
        }]
    );
    assert_eq!(a.stats().partial_messages_dropped, 2);
    assert_eq!(a.stats().messages_dropped, 1);
}

// ---------------------------------------------------------------- over ferrtc-sim

struct Host {
    dc: DataChannels,
    local: SocketAddr,
    remote: SocketAddr,
    events: Vec<Event>,
    /// Channels to open and close, one after another: (next to open, total).
    script: Option<(u32, u32)>,
    current: Option<u16>,
    opened: u32,
    closed: u32,
}

impl Host {
    fn new(seed: u64, role: DtlsRole, local: &str, remote: &str) -> Self {
        Self {
            dc: DataChannels::new(cfg(seed), role),
            local: local.parse().unwrap(),
            remote: remote.parse().unwrap(),
            events: Vec::new(),
            script: None,
            current: None,
            opened: 0,
            closed: 0,
        }
    }

    fn step_script(&mut self, now: Instant) {
        while let Some(e) = self.dc.poll_event() {
            match &e {
                Event::Open(id) if Some(*id) == self.current => {
                    self.opened += 1;
                    self.dc
                        .send(now, *id, format!("hello on {id}").as_bytes(), false)
                        .unwrap();
                    self.dc.close(*id).unwrap();
                }
                Event::Closed(id) if Some(*id) == self.current => {
                    self.closed += 1;
                    self.current = None;
                }
                _ => {}
            }
            self.events.push(e);
        }
        if let Some((next, total)) = self.script {
            if self.current.is_none() && next < total && self.events.contains(&Event::Connected) {
                let id = self
                    .dc
                    .create_channel(now, ChannelConfig::new(&format!("c{next}")))
                    .unwrap();
                self.current = Some(id);
                self.script = Some((next + 1, total));
            }
        }
    }
}

impl Endpoint for Host {
    fn handle_receive(&mut self, now: Instant, _s: SocketAddr, _d: SocketAddr, p: &[u8]) {
        self.dc.handle_receive(now, p);
        self.step_script(now);
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        self.step_script(now);
        let out = self.dc.poll_transmit(now, buf).map(|_| Transmit {
            source: self.local,
            destination: self.remote,
        });
        self.step_script(now);
        out
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        self.dc.poll_timeout()
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.dc.handle_timeout(now);
        self.step_script(now);
    }
}

#[test]
fn a_thousand_channels_open_and_close_on_one_association_through_loss() {
    let mut net = Network::new(21);
    let lossy = LinkConfig::IDEAL
        .with_delay(Duration::from_millis(5))
        .with_loss(0.05)
        .with_duplicate(0.02);
    let ideal = LinkConfig::IDEAL.with_delay(Duration::from_millis(5));
    let mut client = Host::new(1, DtlsRole::Client, "10.0.0.1:5000", "10.0.0.2:5000");
    client.script = Some((0, 1000));
    let a = net
        .add_host(["10.0.0.1".parse().unwrap()], lossy, client)
        .unwrap();
    let b = net
        .add_host(
            ["10.0.0.2".parse().unwrap()],
            ideal,
            Host::new(2, DtlsRole::Server, "10.0.0.2:5000", "10.0.0.1:5000"),
        )
        .unwrap();
    let now = net.now();
    net.endpoint_mut(&a).dc.connect(now);
    net.endpoint_mut(&b).dc.connect(now);
    let done =
        net.run_until_condition(Duration::from_secs(3600), |n| n.endpoint(&a).closed == 1000);
    let (ha, hb) = (net.endpoint(&a), net.endpoint(&b));
    assert!(done, "opened {} closed {}", ha.opened, ha.closed);
    let incoming = hb
        .events
        .iter()
        .filter(|e| matches!(e, Event::Incoming { .. }))
        .count();
    let messages = hb
        .events
        .iter()
        .filter(|e| matches!(e, Event::Message(_)))
        .count();
    let closed_b = hb
        .events
        .iter()
        .filter(|e| matches!(e, Event::Closed(_)))
        .count();
    assert_eq!(incoming, 1000, "the peer saw every channel");
    assert_eq!(
        messages, 1000,
        "every channel carried its message before closing"
    );
    net.run_for(Duration::from_secs(5));
    let hb = net.endpoint(&b);
    let closed_b2 = hb
        .events
        .iter()
        .filter(|e| matches!(e, Event::Closed(_)))
        .count();
    assert!(closed_b2 >= closed_b);
    assert_eq!(closed_b2, 1000, "the peer reached closed for every channel");
    assert_eq!(net.endpoint(&a).dc.channel_count(), 0);
    assert_eq!(net.endpoint(&b).dc.channel_count(), 0);
}
