//! In-process interop against dcSCTP (the `dcsctp` crate, Google's dcSCTP in
//! Rust, from the authors of Chromium's SCTP) over `ferrtc-sim`, with loss:
//! handshake both ways, data both ways, PR-SCTP, stream reset, I-DATA
//! offered by the peer (we answer without it), zero checksum.
//!
//! dcsctp 0.1.16 hex-formats every packet in its logging path; these tests
//! move a few MiB at most so that does not matter here.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use dcsctp::api::{
    DcSctpSocket, Message as DcMessage, Options, PpId, SendOptions as DcSendOptions, SocketEvent,
    SocketTime, StreamId, ZERO_CHECKSUM_ALTERNATE_ERROR_DETECTION_METHOD_LOWER_LAYER_DTLS,
};
use ferrtc_sctp::{Config, Event, Reliability, SendOptions, ppid};
use ferrtc_sim::{Endpoint, HostId, LinkConfig, Network, Transmit};

/// Numbered messages to send: (next, total, size, options).
type DcSource = (u64, u64, usize, fn() -> DcSendOptions);

/// A dcSCTP socket on a simulated host.
struct Dc {
    socket: Box<dyn DcSctpSocket>,
    epoch: Instant,
    local: SocketAddr,
    remote: SocketAddr,
    outbox: std::collections::VecDeque<Vec<u8>>,
    connected: bool,
    messages: Vec<DcMessage>,
    incoming_resets: Vec<u16>,
    resets_performed: Vec<u16>,
    /// Packets with a zero checksum field, sent and received.
    zero_sent: usize,
    zero_received: usize,
    /// Numbered messages to send on stream 1: (next, total, size, options).
    source: Option<DcSource>,
}

impl Dc {
    fn new(options: Options, local: SocketAddr, remote: SocketAddr, epoch: Instant) -> Self {
        Self {
            socket: dcsctp::new_socket("dc", &options),
            epoch,
            local,
            remote,
            outbox: Default::default(),
            connected: false,
            messages: Vec::new(),
            incoming_resets: Vec::new(),
            resets_performed: Vec::new(),
            zero_sent: 0,
            zero_received: 0,
            source: None,
        }
    }

    fn time(&self, now: Instant) -> SocketTime {
        SocketTime::zero() + now.saturating_duration_since(self.epoch)
    }

    fn drain(&mut self) {
        while let Some(ev) = self.socket.poll_event() {
            match ev {
                SocketEvent::SendPacket(p) => self.outbox.push_back(p),
                SocketEvent::OnConnected() => self.connected = true,
                SocketEvent::OnIncomingStreamReset(s) => {
                    self.incoming_resets.extend(s.iter().map(|s| s.0))
                }
                SocketEvent::OnStreamsResetPerformed(s) => {
                    self.resets_performed.extend(s.iter().map(|s| s.0))
                }
                _ => {}
            }
        }
        while let Some(m) = self.socket.get_next_message() {
            self.messages.push(m);
        }
    }
}

impl Endpoint for Dc {
    fn handle_receive(&mut self, now: Instant, _s: SocketAddr, _d: SocketAddr, p: &[u8]) {
        let t = self.time(now);
        self.socket.advance_time(t);
        self.zero_received += usize::from(p.get(8..12) == Some(&[0; 4]));
        self.socket.handle_input(p);
        self.drain();
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        if let Some((next, total, size, opts)) = self.source.as_mut() {
            while self.connected
                && *next < *total
                && self.socket.buffered_amount(StreamId(1)) < 4 * *size
            {
                let m = DcMessage::new(
                    StreamId(1),
                    PpId(ppid::BINARY),
                    numbered_message(*next, *size),
                );
                if self.socket.send(m, &opts()).is_err() {
                    break;
                }
                *next += 1;
            }
        }
        let t = self.time(now);
        self.socket.advance_time(t);
        self.drain();
        let p = self.outbox.pop_front()?;
        self.zero_sent += usize::from(p.get(8..12) == Some(&[0; 4]));
        buf.clear();
        buf.extend_from_slice(&p);
        Some(Transmit {
            source: self.local,
            destination: self.remote,
        })
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        if !self.outbox.is_empty() {
            return Some(self.epoch);
        }
        let t = self.socket.poll_timeout();
        if t == SocketTime::infinite_future() {
            return None;
        }
        Some(self.epoch + (t - SocketTime::zero()))
    }
    fn handle_timeout(&mut self, now: Instant) {
        let t = self.time(now);
        self.socket.advance_time(t);
        self.drain();
    }
}

struct World {
    net: Network,
    ours: HostId<Peer>,
    theirs: HostId<Dc>,
}

fn world(seed: u64, link: LinkConfig, ours: Config, theirs: Options) -> World {
    let mut net = Network::new(seed);
    let a = addr("10.0.0.1:5000");
    let b = addr("10.0.0.2:5000");
    let epoch = net.now();
    let ideal = LinkConfig::IDEAL.with_delay(link.delay);
    let ours = net.add_host([a.ip()], link, Peer::new(ours, a, b)).unwrap();
    let theirs = net
        .add_host([b.ip()], ideal, Dc::new(theirs, b, a, epoch))
        .unwrap();
    World { net, ours, theirs }
}

fn lossy() -> LinkConfig {
    LinkConfig::IDEAL
        .with_delay(Duration::from_millis(10))
        .with_loss(0.1)
        .with_duplicate(0.02)
}

fn connect(w: &mut World, we_initiate: bool) {
    let now = w.net.now();
    if we_initiate {
        w.net.endpoint_mut(&w.ours).assoc.connect(now);
    } else {
        w.net.endpoint_mut(&w.theirs).socket.connect();
    }
    let (a, b) = (w.ours, w.theirs);
    assert!(
        w.net
            .run_until_condition(Duration::from_secs(120), |n| n.endpoint(&a).connected()
                && n.endpoint(&b).connected),
        "no association with dcsctp"
    );
}

#[test]
fn handshake_and_data_both_ways_when_we_initiate() {
    let mut w = world(1, lossy(), config(1), Options::default());
    connect(&mut w, true);
    let now = w.net.now();
    w.net
        .endpoint_mut(&w.ours)
        .assoc
        .send(
            now,
            3,
            ppid::STRING,
            b"hello dcsctp",
            SendOptions::default(),
        )
        .unwrap();
    let m = DcMessage::new(StreamId(4), PpId(ppid::BINARY), b"hello ferrtc".to_vec());
    w.net
        .endpoint_mut(&w.theirs)
        .socket
        .send(m, &DcSendOptions::default())
        .unwrap();
    w.net.run_for(Duration::from_secs(10));
    let theirs = &w.net.endpoint(&w.theirs).messages;
    assert_eq!(theirs.len(), 1);
    assert_eq!((theirs[0].stream_id.0, theirs[0].ppid.0), (3, ppid::STRING));
    assert_eq!(theirs[0].payload, b"hello dcsctp");
    let ours = &w.net.endpoint(&w.ours).messages;
    assert_eq!(ours.len(), 1);
    assert_eq!((ours[0].stream, ours[0].ppid), (4, ppid::BINARY));
    assert_eq!(ours[0].data, b"hello ferrtc");
}

#[test]
fn handshake_when_dcsctp_initiates_and_simultaneous_open() {
    let mut w = world(2, lossy(), config(1), Options::default());
    connect(&mut w, false);
    let mut w = world(
        3,
        LinkConfig::IDEAL.with_delay(Duration::from_millis(5)),
        config(1),
        Options::default(),
    );
    let now = w.net.now();
    w.net.endpoint_mut(&w.ours).assoc.connect(now);
    w.net.endpoint_mut(&w.theirs).socket.connect();
    let (a, b) = (w.ours, w.theirs);
    assert!(
        w.net
            .run_until_condition(Duration::from_secs(30), |n| n.endpoint(&a).connected()
                && n.endpoint(&b).connected)
    );
}

#[test]
fn reliable_ordered_bulk_both_ways_through_loss() {
    let count = 128u64; // 2 MiB of 16 KiB messages each way.
    let mut w = world(4, lossy(), config(1), Options::default());
    connect(&mut w, true);
    let mut next = 0u64;
    w.net.endpoint_mut(&w.ours).source = Some(Box::new(move |now, a| {
        while next < count && a.buffered_amount(1) < 64 * 1024 {
            let m = numbered_message(next, 16 * 1024);
            if a.send(now, 1, ppid::BINARY, &m, SendOptions::RELIABLE_ORDERED)
                .is_err()
            {
                break;
            }
            next += 1;
        }
    }));
    w.net.endpoint_mut(&w.theirs).source = Some((0, count, 16 * 1024, DcSendOptions::default));
    let (a, b) = (w.ours, w.theirs);
    assert!(w.net.run_until_condition(Duration::from_secs(600), |n| {
        n.endpoint(&a).messages.len() as u64 == count
            && n.endpoint(&b).messages.len() as u64 == count
    }));
    let ours: Vec<u64> = w
        .net
        .endpoint(&a)
        .messages
        .iter()
        .map(|m| check_numbered(&m.data))
        .collect();
    let theirs: Vec<u64> = w
        .net
        .endpoint(&b)
        .messages
        .iter()
        .map(|m| check_numbered(&m.payload))
        .collect();
    assert_eq!(ours, (0..count).collect::<Vec<_>>());
    assert_eq!(theirs, (0..count).collect::<Vec<_>>());
}

#[test]
fn partial_reliability_both_ways_drops_some_and_keeps_order() {
    let count = 1500u64;
    let mut w = world(5, lossy(), config(1), Options::default());
    connect(&mut w, true);
    let mut next = 0u64;
    w.net.endpoint_mut(&w.ours).source = Some(Box::new(move |now, a| {
        let opts = SendOptions {
            unordered: false,
            reliability: Reliability::MaxRetransmits(0),
        };
        while next < count && a.buffered_amount(1) < 8 * 1024 {
            if a.send(now, 1, ppid::BINARY, &numbered_message(next, 500), opts)
                .is_err()
            {
                break;
            }
            next += 1;
        }
    }));
    fn pr() -> DcSendOptions {
        DcSendOptions {
            max_retransmissions: Some(0),
            ..Default::default()
        }
    }
    w.net.endpoint_mut(&w.theirs).source = Some((0, count, 500, pr));
    w.net.run_for(Duration::from_secs(120));
    let ours: Vec<u64> = w
        .net
        .endpoint(&w.ours)
        .messages
        .iter()
        .map(|m| check_numbered(&m.data))
        .collect();
    let theirs: Vec<u64> = w
        .net
        .endpoint(&w.theirs)
        .messages
        .iter()
        .map(|m| check_numbered(&m.payload))
        .collect();
    for (who, got) in [("ferrtc", &ours), ("dcsctp", &theirs)] {
        assert!(
            got.windows(2).all(|p| p[0] < p[1]),
            "{who}: in order, no duplicates"
        );
        assert!((got.len() as u64) < count, "{who}: some messages dropped");
        assert!(
            got.len() as u64 > count * 8 / 10,
            "{who}: most arrive ({})",
            got.len()
        );
        // The very last message may itself be lost; the ones before must not stall.
        assert!(
            *got.last().unwrap() >= count - 10,
            "{who}: stream flows to the end"
        );
    }
}

#[test]
fn stream_reset_both_ways() {
    let mut w = world(6, lossy(), config(1), Options::default());
    connect(&mut w, true);
    let now = w.net.now();
    w.net
        .endpoint_mut(&w.ours)
        .assoc
        .send(
            now,
            2,
            ppid::STRING,
            b"before reset",
            SendOptions::default(),
        )
        .unwrap();
    w.net.endpoint_mut(&w.ours).assoc.reset_stream(2).unwrap();
    w.net
        .endpoint_mut(&w.theirs)
        .socket
        .reset_streams(&[StreamId(5)])
        .unwrap();
    w.net.run_for(Duration::from_secs(30));
    assert!(
        w.net
            .endpoint(&w.ours)
            .events
            .contains(&Event::OutgoingStreamReset(2))
    );
    assert_eq!(w.net.endpoint(&w.theirs).incoming_resets, vec![2]);
    assert_eq!(w.net.endpoint(&w.theirs).messages.len(), 1);
    assert!(
        w.net
            .endpoint(&w.ours)
            .events
            .contains(&Event::IncomingStreamReset(5))
    );
    assert_eq!(w.net.endpoint(&w.theirs).resets_performed, vec![5]);
}

#[test]
fn i_data_with_an_interleaving_peer_both_ways() {
    let theirs = Options {
        enable_message_interleaving: true,
        ..Options::default()
    };
    let mut w = world(7, lossy(), config(1), theirs);
    connect(&mut w, false);
    assert!(w.net.endpoint(&w.ours).assoc.i_data_in_use());
    let now = w.net.now();
    // Large messages on two streams, both ways: they interleave on the wire.
    for (k, stream) in [(0u64, 1u16), (1, 2), (2, 1), (3, 2)] {
        let m = DcMessage::new(
            StreamId(stream),
            PpId(ppid::BINARY),
            numbered_message(k, 60_000),
        );
        w.net
            .endpoint_mut(&w.theirs)
            .socket
            .send(m, &DcSendOptions::default())
            .unwrap();
        let data = numbered_message(k, 60_000);
        let ours = &mut w.net.endpoint_mut(&w.ours).assoc;
        ours.send(now, stream, ppid::BINARY, &data, SendOptions::default())
            .unwrap();
    }
    w.net.run_for(Duration::from_secs(30));
    let mut ours: Vec<(u16, u64)> = w
        .net
        .endpoint(&w.ours)
        .messages
        .iter()
        .map(|m| (m.stream, check_numbered(&m.data)))
        .collect();
    let mut theirs: Vec<(u16, u64)> = w
        .net
        .endpoint(&w.theirs)
        .messages
        .iter()
        .map(|m| (m.stream_id.0, check_numbered(&m.payload)))
        .collect();
    // Per stream in order; across streams any order.
    for got in [&mut ours, &mut theirs] {
        got.sort_by_key(|(s, _)| *s);
        assert_eq!(*got, vec![(1, 0), (1, 2), (2, 1), (2, 3)]);
    }
}

#[test]
fn i_data_partial_reliability_uses_i_forward_tsn() {
    let count = 1000u64;
    let theirs = Options {
        enable_message_interleaving: true,
        ..Options::default()
    };
    let mut w = world(9, lossy(), config(1), theirs);
    connect(&mut w, true);
    assert!(w.net.endpoint(&w.ours).assoc.i_data_in_use());
    let mut next = 0u64;
    w.net.endpoint_mut(&w.ours).source = Some(Box::new(move |now, a| {
        let opts = SendOptions {
            unordered: false,
            reliability: Reliability::MaxRetransmits(0),
        };
        while next < count && a.buffered_amount(1) < 8 * 1024 {
            if a.send(now, 1, ppid::BINARY, &numbered_message(next, 2000), opts)
                .is_err()
            {
                break;
            }
            next += 1;
        }
    }));
    fn pr() -> DcSendOptions {
        DcSendOptions {
            max_retransmissions: Some(0),
            ..Default::default()
        }
    }
    w.net.endpoint_mut(&w.theirs).source = Some((0, count, 2000, pr));
    w.net.run_for(Duration::from_secs(120));
    let ours: Vec<u64> = w
        .net
        .endpoint(&w.ours)
        .messages
        .iter()
        .map(|m| check_numbered(&m.data))
        .collect();
    let theirs: Vec<u64> = w
        .net
        .endpoint(&w.theirs)
        .messages
        .iter()
        .map(|m| check_numbered(&m.payload))
        .collect();
    for (who, got) in [("ferrtc", &ours), ("dcsctp", &theirs)] {
        assert!(
            got.windows(2).all(|p| p[0] < p[1]),
            "{who}: in order, no duplicates"
        );
        assert!((got.len() as u64) < count, "{who}: some messages dropped");
        assert!(
            got.len() as u64 > count * 6 / 10,
            "{who}: most arrive ({})",
            got.len()
        );
        // Skipped messages must not stall the ordered stream (the very last
        // one may itself be lost).
        assert!(
            *got.last().unwrap() >= count - 10,
            "{who}: stream flows to the end"
        );
    }
}

#[test]
fn zero_checksum_is_negotiated_with_dcsctp() {
    let theirs = Options {
        zero_checksum_alternate_error_detection_method:
            ZERO_CHECKSUM_ALTERNATE_ERROR_DETECTION_METHOD_LOWER_LAYER_DTLS,
        ..Options::default()
    };
    let ours = Config {
        zero_checksum: true,
        ..config(1)
    };
    let mut w = world(
        8,
        LinkConfig::IDEAL.with_delay(Duration::from_millis(5)),
        ours,
        theirs,
    );
    connect(&mut w, true);
    assert!(w.net.endpoint(&w.ours).assoc.zero_checksum_in_use());
    let now = w.net.now();
    w.net
        .endpoint_mut(&w.ours)
        .assoc
        .send(now, 1, ppid::BINARY, &[9; 3000], SendOptions::default())
        .unwrap();
    let m = DcMessage::new(StreamId(1), PpId(ppid::BINARY), vec![8; 3000]);
    w.net
        .endpoint_mut(&w.theirs)
        .socket
        .send(m, &DcSendOptions::default())
        .unwrap();
    w.net.run_for(Duration::from_secs(5));
    assert_eq!(w.net.endpoint(&w.theirs).messages.len(), 1);
    assert_eq!(w.net.endpoint(&w.ours).messages.len(), 1);
    let dc = w.net.endpoint(&w.theirs);
    assert!(
        dc.zero_sent > 0,
        "dcsctp sent zero-checksum packets we accepted"
    );
    assert!(
        dc.zero_received > 0,
        "we sent zero-checksum packets dcsctp accepted"
    );
}
