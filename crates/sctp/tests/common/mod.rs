//! Test harness: an SCTP association as a `ferrtc-sim` endpoint (each SCTP
//! packet is one datagram, no DTLS), plus in-memory helpers.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Instant;

use ferrtc_sctp::{Association, Config, Event, Message, SendOptions, ppid};
use ferrtc_sim::{Endpoint, Transmit};

/// Pushes data into the association before each transmit opportunity.
pub type Source = Box<dyn FnMut(Instant, &mut Association)>;
/// Checks every received message.
pub type Sink = Box<dyn FnMut(&Message)>;

/// An association on a simulated host.
pub struct Peer {
    pub assoc: Association,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// Non-message events, in order.
    pub events: Vec<Event>,
    /// Received messages when `keep_messages` is set.
    pub messages: Vec<Message>,
    pub keep_messages: bool,
    pub messages_received: u64,
    pub bytes_received: u64,
    pub source: Option<Source>,
    pub sink: Option<Sink>,
    /// When false, events are not polled (an application that stalls).
    pub poll_events: bool,
    pub peak_receive_buffered: usize,
}

impl Peer {
    pub fn new(config: Config, local: SocketAddr, remote: SocketAddr) -> Self {
        Self {
            assoc: Association::new(config),
            local,
            remote,
            events: Vec::new(),
            messages: Vec::new(),
            keep_messages: true,
            messages_received: 0,
            bytes_received: 0,
            source: None,
            sink: None,
            poll_events: true,
            peak_receive_buffered: 0,
        }
    }

    pub fn connected(&self) -> bool {
        self.events.contains(&Event::Connected)
    }

    fn drain(&mut self) {
        self.peak_receive_buffered = self
            .peak_receive_buffered
            .max(self.assoc.receive_buffered());
        if !self.poll_events {
            return;
        }
        while let Some(ev) = self.assoc.poll_event() {
            match ev {
                Event::Message(m) => {
                    self.messages_received += 1;
                    self.bytes_received += m.data.len() as u64;
                    if let Some(sink) = self.sink.as_mut() {
                        sink(&m);
                    }
                    if self.keep_messages {
                        self.messages.push(m);
                    }
                }
                other => self.events.push(other),
            }
        }
    }
}

impl Endpoint for Peer {
    fn handle_receive(&mut self, now: Instant, _src: SocketAddr, _dst: SocketAddr, payload: &[u8]) {
        let _ = self.assoc.handle_receive(now, payload);
        self.drain();
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        if let Some(src) = self.source.as_mut() {
            src(now, &mut self.assoc);
        }
        let out = self.assoc.poll_transmit(now, buf).map(|_| Transmit {
            source: self.local,
            destination: self.remote,
        });
        self.drain();
        out
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.assoc.poll_timeout()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.assoc.handle_timeout(now);
        self.drain();
    }
}

pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

pub fn config(seed: u64) -> Config {
    Config {
        seed: Some(seed),
        ..Config::default()
    }
}

/// Moves packets between two associations in memory until both are quiet.
pub fn pump(a: &mut Association, b: &mut Association, now: Instant) {
    let mut buf = Vec::new();
    for _ in 0..10_000 {
        let mut moved = false;
        while a.poll_transmit(now, &mut buf).is_some() {
            let _ = b.handle_receive(now, &buf);
            moved = true;
        }
        while b.poll_transmit(now, &mut buf).is_some() {
            let _ = a.handle_receive(now, &buf);
            moved = true;
        }
        if !moved {
            return;
        }
    }
    panic!("pump did not settle");
}

/// Two associations connected in memory, their Connected events consumed.
pub fn connected_pair(now: Instant, ca: Config, cb: Config) -> (Association, Association) {
    let mut a = Association::new(ca);
    let mut b = Association::new(cb);
    a.connect(now);
    pump(&mut a, &mut b, now);
    assert_eq!(a.poll_event(), Some(Event::Connected));
    assert_eq!(b.poll_event(), Some(Event::Connected));
    (a, b)
}

/// Drains events, returning messages and other events separately.
pub fn drain(a: &mut Association) -> (Vec<Message>, Vec<Event>) {
    let mut msgs = Vec::new();
    let mut evs = Vec::new();
    while let Some(e) = a.poll_event() {
        match e {
            Event::Message(m) => msgs.push(m),
            e => evs.push(e),
        }
    }
    (msgs, evs)
}

/// Message `k` of a test stream: its index in the first 8 bytes, then a pattern.
pub fn numbered_message(k: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len.max(8)];
    v[..8].copy_from_slice(&k.to_be_bytes());
    for (i, b) in v.iter_mut().enumerate().skip(8) {
        *b = (k as usize).wrapping_mul(31).wrapping_add(i) as u8;
    }
    v
}

/// Checks a numbered message and returns its index.
pub fn check_numbered(data: &[u8]) -> u64 {
    let k = u64::from_be_bytes(data[..8].try_into().unwrap());
    for (i, b) in data.iter().enumerate().skip(8) {
        assert_eq!(
            *b,
            (k as usize).wrapping_mul(31).wrapping_add(i) as u8,
            "corrupt message {k}"
        );
    }
    k
}

/// Builds a packet with a valid CRC32c from chunks, for the given tag.
pub fn raw_packet(tag: u32, chunks: &[u8]) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&5000u16.to_be_bytes());
    p.extend_from_slice(&5000u16.to_be_bytes());
    p.extend_from_slice(&tag.to_be_bytes());
    p.extend_from_slice(&[0; 4]);
    p.extend_from_slice(chunks);
    let crc = crc32c::crc32c(&p);
    p[8..12].copy_from_slice(&crc.to_le_bytes());
    p
}

/// Appends a chunk (type, flags, value) with padding.
pub fn raw_chunk(out: &mut Vec<u8>, ty: u8, flags: u8, value: &[u8]) {
    out.push(ty);
    out.push(flags);
    out.extend_from_slice(&((value.len() + 4) as u16).to_be_bytes());
    out.extend_from_slice(value);
    while out.len() % 4 != 0 {
        out.push(0);
    }
}

/// A DATA chunk value.
pub fn data_value(tsn: u32, stream: u16, ssn: u16, ppid: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&tsn.to_be_bytes());
    v.extend_from_slice(&stream.to_be_bytes());
    v.extend_from_slice(&ssn.to_be_bytes());
    v.extend_from_slice(&ppid.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// The verification tag `to` expects, learnt from a packet `to` sent (its
/// packets carry the peer's tag; we need `to`'s own): take it from a packet
/// the *other* side sent to `to`.
pub fn tag_of(packet_to_it: &[u8]) -> u32 {
    u32::from_be_bytes(packet_to_it[4..8].try_into().unwrap())
}

/// The chunk types in a packet, in order.
pub fn chunk_types(packet: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = &packet[12..];
    while rest.len() >= 4 {
        out.push(rest[0]);
        let len = u16::from_be_bytes([rest[2], rest[3]]) as usize;
        let padded = (len + 3) & !3;
        if len < 4 || padded > rest.len() {
            break;
        }
        rest = &rest[padded..];
    }
    out
}

/// Learns the tag `b` expects by capturing a packet `a` sends it.
pub fn tag_expected_by_b(
    a: &mut ferrtc_sctp::Association,
    b: &mut ferrtc_sctp::Association,
    now: Instant,
) -> u32 {
    a.send(now, 0, ppid::STRING, b"probe", SendOptions::default())
        .unwrap();
    let mut buf = Vec::new();
    a.poll_transmit(now, &mut buf).unwrap();
    b.handle_receive(now, &buf).unwrap();
    pump(a, b, now);
    drain(b);
    tag_of(&buf)
}

/// Our next TSN as `b` expects it: the cumulative TSN from b's SACK + 1.
pub fn next_tsn_for(
    b: &mut ferrtc_sctp::Association,
    now: Instant,
    a: &mut ferrtc_sctp::Association,
) -> u32 {
    // Send one more message and read b's SACK.
    a.send(now, 0, ppid::STRING, b"x", SendOptions::default())
        .unwrap();
    let mut buf = Vec::new();
    a.poll_transmit(now, &mut buf).unwrap();
    let tsn = first_data_tsn(&buf);
    b.handle_receive(now, &buf).unwrap();
    pump(a, b, now);
    drain(b);
    tsn.wrapping_add(1)
}

/// The TSN of the first DATA or I-DATA chunk in a packet.
pub fn first_data_tsn(packet: &[u8]) -> u32 {
    let mut rest = &packet[12..];
    loop {
        let len = u16::from_be_bytes([rest[2], rest[3]]) as usize;
        if rest[0] == 0 || rest[0] == 64 {
            return u32::from_be_bytes(rest[4..8].try_into().unwrap());
        }
        rest = &rest[(len + 3) & !3..];
    }
}

/// A SACK chunk value (RFC 9260 §3.3.4) without duplicate TSNs; gap
/// blocks as (start, end) offsets from `cum`.
pub fn sack_value(cum: u32, a_rwnd: u32, gaps: &[(u16, u16)]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&cum.to_be_bytes());
    v.extend_from_slice(&a_rwnd.to_be_bytes());
    v.extend_from_slice(&(gaps.len() as u16).to_be_bytes());
    v.extend_from_slice(&0u16.to_be_bytes());
    for (s, e) in gaps {
        v.extend_from_slice(&s.to_be_bytes());
        v.extend_from_slice(&e.to_be_bytes());
    }
    v
}

/// An I-DATA chunk value (RFC 8260 §2.1): PPID on the first fragment,
/// FSN on the others.
pub fn idata_value(tsn: u32, stream: u16, mid: u32, ppid_or_fsn: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&tsn.to_be_bytes());
    v.extend_from_slice(&stream.to_be_bytes());
    v.extend_from_slice(&0u16.to_be_bytes());
    v.extend_from_slice(&mid.to_be_bytes());
    v.extend_from_slice(&ppid_or_fsn.to_be_bytes());
    v.extend_from_slice(payload);
    v
}
