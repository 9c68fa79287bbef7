//! The hosts' TCP stacks: connections, segments in order, retransmission.
//!
//! A deliberately small model of TCP (RFC 9293), enough for protocols that
//! run over it to meet what a real path does to them:
//!
//! - **Open.** A SYN crosses the links (and NATs) to the listener's host,
//!   which answers with a SYN-ACK (the acceptor's endpoint hears
//!   [`StreamEvent::Accepted`] then), or with a reset if nothing listens
//!   there ([`ConnectError::Refused`]). The opener hears
//!   [`StreamEvent::Connected`] when the SYN-ACK arrives: one round trip.
//! - **Reliable, in order.** Every segment (SYN, SYN-ACK, data, FIN) carries a
//!   number per direction; the receiver hands them to its endpoint in order
//!   and discards copies. Acknowledgements are not packets: a segment counts
//!   as acknowledged when it reaches the peer's stack (the SYN when the
//!   SYN-ACK or reset is back). A segment not acknowledged within the
//!   retransmission timeout is sent again, the timeout doubled each time
//!   (RFC 6298 §5.5); a lost segment arrives late, after its timeout, and
//!   holds back the ones behind it.
//! - **Timeouts.** Each sender keeps the RFC 6298 estimator: the RTO starts
//!   at 1 s (§2.1), then follows SRTT + 4 RTTVAR from round-trip samples
//!   (the SYN's measured; a data segment's taken as twice its one-way time;
//!   none from retransmitted segments, Karn's rule), at least 200 ms (as
//!   Linux) and at most 60 s. The SYN is sent [`SYN_RETRIES`] + 1 times; a
//!   data segment [`DATA_RETRIES`] + 1 times, then the connection is given
//!   up ([`CloseReason::TimedOut`]).
//! - **Close.** A FIN follows what was sent; the peer hears
//!   [`StreamEvent::Closed`] once everything before it arrived. No half
//!   close: the peer's stack then drops what its endpoint had not yet sent
//!   and answers with its own FIN (RFC 9293 §3.6, CLOSE-WAIT straight to
//!   LAST-ACK), and what was already in flight to the closed end is
//!   acknowledged and discarded there (counted). Both FINs cross in a
//!   simultaneous close. An end is forgotten once its FIN is acknowledged
//!   and the peer's has arrived (a TIME-WAIT without the 2 MSL wait: a late
//!   copy of a segment then meets no connection and is dropped).
//! - **Windows.** At most min(cwnd, [`WINDOW`]) segments are in flight per
//!   direction; the rest of a write (cut into [`MSS`] segments) waits in the
//!   sender's backlog. The congestion window starts at 10 segments (RFC
//!   6928), grows by one per acknowledgement (slow start, RFC 5681 §3.1)
//!   and falls to 1 after a retransmission timeout. A rate-limited link
//!   queues or tail-drops segments like datagrams.
//!
//! Not modelled: fast retransmit and congestion avoidance (losses are only
//! repaired by timeouts), receive buffers (the endpoint takes every byte at
//! once), half close, keepalives, simultaneous open, the 2 MSL wait of
//! TIME-WAIT, resets in answer to segments for unknown connections (they are
//! dropped and counted), byte-granular sequence numbers, TCP through
//! hairpinning NATs, connections from a host to itself (refused as
//! [`ConnectError::InvalidAddress`]).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::event::{Side, TcpHeader, Timer};
use super::*;
use crate::stream::{CloseReason, ConnId, ConnectError, MSS, StreamCommand, StreamEvent};

/// Times a SYN is sent again before the connect fails: with the 1 s initial
/// RTO, at 1 s and 3 s; it fails at 7 s.
pub const SYN_RETRIES: u32 = 2;

/// Times a segment of an open connection is sent again before the
/// connection is given up.
pub const DATA_RETRIES: u32 = 8;

/// Most segments in flight (sent, not yet acknowledged) per direction: a
/// fixed window of 64 KiB or so, the classic receive window without
/// window scaling (RFC 9293 §3.8.6). More waits in a backlog.
pub const WINDOW: usize = 44;

/// RFC 6928: the initial congestion window, in segments.
const INITIAL_CWND: usize = 10;

/// RFC 6298 §2.1: the RTO before a round trip is measured.
const INITIAL_RTO: Duration = Duration::from_secs(1);
/// The lower bound of the RTO (Linux's; RFC 6298 §2.4 says 1 s).
const MIN_RTO: Duration = Duration::from_millis(200);
/// RFC 6298 §2.5: an upper bound of at least 60 s.
const MAX_RTO: Duration = Duration::from_secs(60);

/// The ephemeral port range (Linux's default `ip_local_port_range`).
const EPHEMERAL: std::ops::RangeInclusive<u16> = 32768..=60999;

/// A segment sent and not yet acknowledged.
#[derive(Debug)]
struct Unacked {
    kind: SegKind,
    payload: Vec<u8>,
    attempt: u32,
    /// When it was first sent.
    sent: Instant,
}

/// RFC 6298 §2: the smoothed round-trip time, its variation and the RTO
/// they give.
#[derive(Debug)]
struct RttEstimator {
    srtt: Option<Duration>,
    rttvar: Duration,
    rto: Duration,
}

impl RttEstimator {
    fn new() -> RttEstimator {
        RttEstimator {
            srtt: None,
            rttvar: Duration::ZERO,
            rto: INITIAL_RTO,
        }
    }

    /// RFC 6298 §2.2 (first sample) and §2.3 (later ones), with alpha 1/8
    /// and beta 1/4; the RTO bounded as §2.4 and §2.5 allow.
    fn sample(&mut self, r: Duration) {
        let srtt = match self.srtt {
            None => {
                self.rttvar = r / 2;
                r
            }
            Some(srtt) => {
                let delta = srtt.abs_diff(r);
                self.rttvar = (self.rttvar.saturating_mul(3) + delta) / 4;
                (srtt.saturating_mul(7).saturating_add(r)) / 8
            }
        };
        self.srtt = Some(srtt);
        let variation = self.rttvar.saturating_mul(4).max(Duration::from_millis(1));
        self.rto = srtt.saturating_add(variation).clamp(MIN_RTO, MAX_RTO);
    }
}

/// One end of a connection, as its host sees it.
#[derive(Debug)]
struct End {
    host: usize,
    local: SocketAddr,
    /// The peer's address as this host sees it (after any NAT).
    remote: SocketAddr,
    /// The endpoint hears of this end (not closed by it nor by the peer).
    open: bool,
    /// The opener got its SYN-ACK (always true for the acceptor).
    connected: bool,
    /// This end's FIN is queued or sent (its endpoint closed, or the peer
    /// did and the stack answered).
    fin_sent: bool,
    /// The peer's FIN was handed over in order: everything the peer sent
    /// arrived.
    fin_received: bool,
    next_seq: u64,
    unacked: BTreeMap<u64, Unacked>,
    rtt: RttEstimator,
    /// The congestion window in segments (RFC 5681 §3.1, counted in
    /// segments): starts at 10 (RFC 6928), one more per acknowledgement up
    /// to [`WINDOW`], back to 1 after a retransmission timeout.
    cwnd: usize,
    /// Segments waiting for room in the window, numbered when they leave.
    backlog: VecDeque<(SegKind, Vec<u8>)>,
    /// The next segment number to hand to the endpoint.
    expected: u64,
    /// Segments that arrived ahead of `expected`.
    early: BTreeMap<u64, (SegKind, Vec<u8>)>,
}

impl End {
    fn new(host: usize, local: SocketAddr, remote: SocketAddr, side: Side) -> End {
        let acceptor = side == Side::Acceptor;
        End {
            host,
            local,
            remote,
            open: true,
            connected: acceptor,
            fin_sent: false,
            fin_received: false,
            next_seq: 0,
            unacked: BTreeMap::new(),
            rtt: RttEstimator::new(),
            cwnd: INITIAL_CWND,
            backlog: VecDeque::new(),
            // The acceptor consumed the SYN (segment 0) on creation.
            expected: u64::from(acceptor),
            early: BTreeMap::new(),
        }
    }

    /// Segment `seq` reached the peer: it leaves the flight, the window
    /// grows, and the RTT is sampled (Karn's rule, RFC 6298 §3: not from a
    /// retransmitted segment). Acknowledgements are not packets, so a data
    /// segment's round trip is taken as twice its one-way time; the SYN's
    /// is measured (it is acknowledged when the SYN-ACK is back).
    fn acknowledged(&mut self, now: Instant, seq: u64) {
        let Some(segment) = self.unacked.remove(&seq) else {
            return;
        };
        self.cwnd = (self.cwnd + 1).min(WINDOW);
        if segment.attempt == 0 {
            let elapsed = now.saturating_duration_since(segment.sent);
            let rtt = match segment.kind {
                SegKind::Syn => elapsed,
                _ => elapsed.saturating_mul(2),
            };
            self.rtt.sample(rtt);
        }
    }

    /// Nothing left to do: both FINs crossed and all this end sent arrived
    /// (RFC 9293 §3.6: TIME-WAIT or LAST-ACK is over).
    fn finished(&self) -> bool {
        self.fin_sent && self.fin_received && self.unacked.is_empty() && self.backlog.is_empty()
    }
}

#[derive(Debug)]
struct Conn {
    ends: [Option<End>; 2],
    token: u64,
}

impl Conn {
    fn end(&mut self, side: Side) -> Option<&mut End> {
        self.ends[side as usize].as_mut()
    }
}

/// Every host's TCP state, in one table (BTreeMaps: deterministic order).
#[derive(Debug, Default)]
pub(super) struct TcpTable {
    conns: BTreeMap<ConnId, Conn>,
    /// (host, local, remote) -> the connection end there.
    ends: BTreeMap<(usize, SocketAddr, SocketAddr), (ConnId, Side)>,
    listeners: BTreeSet<(usize, SocketAddr)>,
    next_port: BTreeMap<usize, u16>,
    next_conn: u64,
    pub(super) counters: TcpCounters,
}

impl TcpTable {
    pub(super) fn len(&self) -> usize {
        self.conns.len()
    }

    /// Whether a retransmission timer would still do something when it
    /// fires: its segment is unacknowledged, at the attempt the timer was
    /// armed for. Once the segment arrives (or its connection is gone) the
    /// timer is stopped (RFC 6298 §5.2), and must not wake the network.
    pub(super) fn timer_is_armed(&self, timer: &Timer) -> bool {
        self.conns
            .get(&timer.conn)
            .and_then(|c| c.ends[timer.side as usize].as_ref())
            .and_then(|end| end.unacked.get(&timer.seq))
            .is_some_and(|segment| segment.attempt == timer.attempt)
    }

    /// A free ephemeral port on `local` for a connection to `remote`.
    fn ephemeral(&mut self, host: usize, local: IpAddr, remote: SocketAddr) -> Option<u16> {
        let size = usize::from(EPHEMERAL.end() - EPHEMERAL.start()) + 1;
        let next = self.next_port.entry(host).or_insert(*EPHEMERAL.start());
        for _ in 0..size {
            let port = *next;
            *next = if port == *EPHEMERAL.end() {
                *EPHEMERAL.start()
            } else {
                port + 1
            };
            let addr = SocketAddr::new(local, port);
            if !self.ends.contains_key(&(host, addr, remote))
                && !self.listeners.contains(&(host, addr))
            {
                return Some(port);
            }
        }
        None
    }
}

impl Network {
    /// An endpoint's command to its host's stack; `buf` holds the bytes of
    /// a [`StreamCommand::Send`].
    pub(super) fn stream_command(&mut self, host: usize, command: StreamCommand, buf: &[u8]) {
        match command {
            StreamCommand::Listen(addr) => {
                if self.owns(host, addr.ip()) {
                    self.tcp.listeners.insert((host, addr));
                } else {
                    self.tcp.counters.invalid_commands += 1;
                }
            }
            StreamCommand::Connect { from, to, token } => self.connect(host, from, to, token),
            StreamCommand::Send(conn) => {
                if !self.owned_open(host, conn) {
                    self.tcp.counters.invalid_commands += 1;
                    return;
                }
                let side = self.side_of(host, conn);
                for chunk in buf.chunks(MSS) {
                    self.send_segment(conn, side, SegKind::Data, chunk.to_vec());
                }
            }
            StreamCommand::Close(conn) => {
                if !self.owned_open(host, conn) {
                    self.tcp.counters.invalid_commands += 1;
                    return;
                }
                let side = self.side_of(host, conn);
                if let Some(end) = self.tcp.conns.get_mut(&conn).and_then(|c| c.end(side)) {
                    end.open = false;
                    end.fin_sent = true;
                }
                self.tcp.counters.closed += 1;
                self.send_segment(conn, side, SegKind::Fin, Vec::new());
            }
        }
    }

    fn owns(&self, host: usize, ip: IpAddr) -> bool {
        self.hosts.get(host).is_some_and(|h| h.addrs.contains(&ip))
    }

    /// Which side of `conn` lives on `host`. Unambiguous: the two ends of a
    /// connection are on different hosts, as a host cannot connect to
    /// itself (see [`Network::connect`]).
    fn side_of(&self, host: usize, conn: ConnId) -> Side {
        match self.tcp.conns.get(&conn) {
            Some(c) if c.ends[0].as_ref().is_some_and(|e| e.host == host) => Side::Opener,
            _ => Side::Acceptor,
        }
    }

    /// Whether `conn` has an open, connected end on `host`.
    fn owned_open(&self, host: usize, conn: ConnId) -> bool {
        self.tcp.conns.get(&conn).is_some_and(|c| {
            c.ends
                .iter()
                .flatten()
                .any(|e| e.host == host && e.open && e.connected)
        })
    }

    /// An active open (RFC 9293 §3.10.1): a new connection, its SYN sent.
    /// A connection to one of the host's own addresses is refused as an
    /// invalid address: endpoints name connections by [`ConnId`] alone,
    /// which could not tell its two ends apart.
    fn connect(&mut self, host: usize, from: IpAddr, to: SocketAddr, token: u64) {
        self.tcp.counters.connects += 1;
        let valid =
            self.owns(host, from) && from.is_ipv4() == to.is_ipv4() && !self.owns(host, to.ip());
        let port = if valid {
            self.tcp.ephemeral(host, from, to)
        } else {
            None
        };
        let Some(port) = port else {
            self.tcp.counters.invalid_commands += 1;
            let event = StreamEvent::ConnectFailed {
                token,
                remote: to,
                error: ConnectError::InvalidAddress,
            };
            return self.notify(host, event);
        };
        let id = ConnId(self.tcp.next_conn);
        self.tcp.next_conn += 1;
        let local = SocketAddr::new(from, port);
        let opener = End::new(host, local, to, Side::Opener);
        self.tcp.conns.insert(
            id,
            Conn {
                ends: [Some(opener), None],
                token,
            },
        );
        self.tcp.ends.insert((host, local, to), (id, Side::Opener));
        self.send_segment(id, Side::Opener, SegKind::Syn, Vec::new());
    }

    /// Queues a segment of `side`'s direction and sends what the window allows.
    fn send_segment(&mut self, conn: ConnId, side: Side, kind: SegKind, payload: Vec<u8>) {
        let Some(end) = self.tcp.conns.get_mut(&conn).and_then(|c| c.end(side)) else {
            return;
        };
        end.backlog.push_back((kind, payload));
        self.fill_window(conn, side);
    }

    /// Sends backlogged segments while fewer than min(cwnd, [`WINDOW`]) are in flight.
    fn fill_window(&mut self, conn: ConnId, side: Side) {
        loop {
            let Some(end) = self.tcp.conns.get_mut(&conn).and_then(|c| c.end(side)) else {
                return;
            };
            if end.unacked.len() >= end.cwnd.min(WINDOW) {
                return;
            }
            let Some((kind, payload)) = end.backlog.pop_front() else {
                return;
            };
            self.number_and_transmit(conn, side, kind, payload);
        }
    }

    /// Numbers a segment of `side`'s direction, keeps it until it is
    /// acknowledged, and transmits it.
    fn number_and_transmit(&mut self, conn: ConnId, side: Side, kind: SegKind, payload: Vec<u8>) {
        let Some(end) = self.tcp.conns.get_mut(&conn).and_then(|c| c.end(side)) else {
            return;
        };
        let seq = end.next_seq;
        end.next_seq += 1;
        end.unacked.insert(
            seq,
            Unacked {
                kind,
                payload,
                attempt: 0,
                sent: self.now,
            },
        );
        self.transmit_segment(conn, side, seq);
    }

    /// Puts the unacknowledged segment `seq` on the wire and arms its timer.
    fn transmit_segment(&mut self, conn: ConnId, side: Side, seq: u64) {
        let now = self.now;
        let Some(end) = self.tcp.conns.get_mut(&conn).and_then(|c| c.end(side)) else {
            return;
        };
        let rto = end.rtt.rto;
        let Some(segment) = end.unacked.get(&seq) else {
            return;
        };
        let (host, source, destination) = (end.host, end.local, end.remote);
        let (kind, attempt) = (segment.kind, segment.attempt);
        let mut payload = self.pool.pop().unwrap_or_default();
        payload.extend_from_slice(&segment.payload);
        self.tcp.counters.segments_sent += 1;
        self.tcp.counters.bytes_sent += payload.len() as u64;
        let backoff = rto.saturating_mul(1 << attempt.min(16)).min(MAX_RTO);
        self.push_event(
            now + backoff,
            What::Retransmit(Timer {
                conn,
                side,
                seq,
                attempt,
            }),
        );
        let header = TcpHeader {
            conn,
            from: side,
            kind,
            seq,
        };
        self.send(
            host,
            Datagram {
                source,
                destination,
                payload,
                tcp: Some(header),
            },
        );
    }

    /// A retransmission timer fired: send the segment again if it is
    /// still unacknowledged, or give up.
    pub(super) fn tcp_timer(&mut self, timer: Timer) {
        let Some(end) = self
            .tcp
            .conns
            .get_mut(&timer.conn)
            .and_then(|c| c.end(timer.side))
        else {
            return;
        };
        let Some(segment) = end.unacked.get_mut(&timer.seq) else {
            return; // Acknowledged meanwhile.
        };
        if segment.attempt != timer.attempt {
            return;
        }
        let limit = match segment.kind {
            SegKind::Syn => SYN_RETRIES,
            _ => DATA_RETRIES,
        };
        if segment.attempt >= limit {
            return self.give_up(timer.conn, timer.side);
        }
        segment.attempt += 1;
        // RFC 5681 §3.1: after a retransmission timeout, one segment.
        end.cwnd = 1;
        self.tcp.counters.retransmits += 1;
        self.transmit_segment(timer.conn, timer.side, timer.seq);
    }

    /// Retransmissions ran out: this end is dropped, its endpoint told.
    fn give_up(&mut self, conn: ConnId, side: Side) {
        let Some(c) = self.tcp.conns.get_mut(&conn) else {
            return;
        };
        let token = c.token;
        let Some(end) = c.ends[side as usize].take() else {
            return;
        };
        self.tcp.ends.remove(&(end.host, end.local, end.remote));
        if !end.connected {
            self.tcp.counters.timed_out += 1;
            let event = StreamEvent::ConnectFailed {
                token,
                remote: end.remote,
                error: ConnectError::TimedOut,
            };
            self.notify(end.host, event);
        } else {
            self.tcp.counters.reset += 1;
            if end.open {
                let event = StreamEvent::Closed {
                    conn,
                    reason: CloseReason::TimedOut,
                };
                self.notify(end.host, event);
            }
        }
        // The peer's end, closed with nothing left to send, waited for this
        // end's FIN, which will not come now (FIN-WAIT-2 would time out, RFC
        // 9293 §3.10.7.4): it is forgotten too.
        if let Some(c) = self.tcp.conns.get_mut(&conn) {
            let peer = &mut c.ends[side.other() as usize];
            if peer
                .as_ref()
                .is_some_and(|e| !e.open && e.unacked.is_empty() && e.backlog.is_empty())
                && let Some(e) = peer.take()
            {
                self.tcp.ends.remove(&(e.host, e.local, e.remote));
            }
        }
        self.reap(conn);
    }

    /// A TCP segment reached `host`'s stack (after its down-link).
    pub(super) fn tcp_arrive(&mut self, host: usize, datagram: Datagram) {
        let Some(header) = datagram.tcp else {
            return self.recycle(datagram.payload);
        };
        let key = (host, datagram.destination, datagram.source);
        match header.kind {
            SegKind::Syn => self.syn_arrive(host, &datagram, header),
            SegKind::Rst => {
                let opener = (header.conn, Side::Opener);
                if self.tcp.ends.get(&key) == Some(&opener) && !self.opener_connected(header.conn) {
                    self.refused(header.conn);
                } else {
                    // A reset for an attempt already refused (a duplicated
                    // SYN drew two) or given up, or one that answered an
                    // earlier SYN of an attempt since accepted: it
                    // acknowledges nothing outstanding, so it resets
                    // nothing (RFC 9293 §3.10.7.4, RFC 5961 §3).
                    self.tcp.counters.no_connection += 1;
                }
            }
            SegKind::SynAck | SegKind::Data | SegKind::Fin => {
                let side = header.from.other();
                if self.tcp.ends.get(&key) == Some(&(header.conn, side)) {
                    return self.segment_arrive(header, datagram.payload);
                }
                self.tcp.counters.no_connection += 1;
            }
        }
        self.recycle(datagram.payload);
    }

    /// A connection request: accepted if something listens, else a reset.
    fn syn_arrive(&mut self, host: usize, datagram: &Datagram, header: TcpHeader) {
        let (local, remote) = (datagram.destination, datagram.source);
        if self.tcp.ends.contains_key(&(host, local, remote)) {
            // The SYN again: our SYN-ACK retransmits on its own timer.
            self.tcp.counters.duplicates += 1;
            return;
        }
        if !self.tcp.listeners.contains(&(host, local)) {
            // RFC 9293 §3.10.7.1: a SYN to a closed port gets a reset (the
            // attempt is counted as refused once, when a reset reaches it).
            let reset = TcpHeader {
                kind: SegKind::Rst,
                from: Side::Acceptor,
                seq: 0,
                ..header
            };
            let payload = self.take_buffer();
            let rst = Datagram {
                source: local,
                destination: remote,
                payload,
                tcp: Some(reset),
            };
            self.tcp.counters.segments_sent += 1;
            return self.send(host, rst);
        }
        let Some(conn) = self.tcp.conns.get_mut(&header.conn) else {
            // The opener gave up meanwhile, or was refused already.
            self.tcp.counters.no_connection += 1;
            return;
        };
        if conn.ends[Side::Acceptor as usize].is_some() {
            // Accepted already, from another address (its NAT mapping changed).
            self.tcp.counters.no_connection += 1;
            return;
        }
        conn.ends[Side::Acceptor as usize] = Some(End::new(host, local, remote, Side::Acceptor));
        self.tcp
            .ends
            .insert((host, local, remote), (header.conn, Side::Acceptor));
        self.tcp.counters.accepted += 1;
        let event = StreamEvent::Accepted {
            conn: header.conn,
            local,
            remote,
        };
        self.notify(host, event);
        self.send_segment(header.conn, Side::Acceptor, SegKind::SynAck, Vec::new());
    }

    /// Whether the opener of `conn` got its SYN-ACK.
    fn opener_connected(&self, conn: ConnId) -> bool {
        self.tcp
            .conns
            .get(&conn)
            .and_then(|c| c.ends[Side::Opener as usize].as_ref())
            .is_some_and(|end| end.connected)
    }

    /// The opener's SYN met a closed port, and the opener still waits for
    /// an answer (SYN-SENT): the attempt fails. If a later SYN of the same
    /// attempt was accepted meanwhile (the reset answered an earlier one),
    /// that acceptor end stays: its SYN-ACK now finds no connection, and it
    /// is given up after its retransmissions like any end whose peer went
    /// away, so its endpoint hears the connection end.
    fn refused(&mut self, conn: ConnId) {
        let Some(c) = self.tcp.conns.get_mut(&conn) else {
            return;
        };
        let token = c.token;
        let Some(end) = c.ends[Side::Opener as usize].take() else {
            return;
        };
        self.tcp.ends.remove(&(end.host, end.local, end.remote));
        self.tcp.counters.refused += 1;
        let event = StreamEvent::ConnectFailed {
            token,
            remote: end.remote,
            error: ConnectError::Refused,
        };
        self.notify(end.host, event);
        self.reap(conn);
    }

    /// A numbered segment reached the end it is for: acknowledged to its
    /// sender, then handed over in order.
    fn segment_arrive(&mut self, header: TcpHeader, payload: Vec<u8>) {
        let now = self.now;
        let Some(conn) = self.tcp.conns.get_mut(&header.conn) else {
            return self.recycle(payload);
        };
        if let Some(sender) = conn.end(header.from) {
            sender.acknowledged(now, header.seq);
        }
        if header.kind == SegKind::SynAck
            && let Some(opener) = conn.end(Side::Opener)
        {
            opener.acknowledged(now, 0);
        }
        let token = conn.token;
        self.fill_window(header.conn, header.from);
        let Some(end) = self
            .tcp
            .conns
            .get_mut(&header.conn)
            .and_then(|c| c.end(header.from.other()))
        else {
            return self.recycle(payload);
        };
        if header.seq < end.expected || end.early.contains_key(&header.seq) {
            self.tcp.counters.duplicates += 1;
            return self.recycle(payload);
        }
        end.early.insert(header.seq, (header.kind, payload));
        let mut ready = Vec::new();
        while let Some(segment) = end.early.remove(&end.expected) {
            end.expected += 1;
            ready.push(segment);
        }
        let host = end.host;
        let (local, remote) = (end.local, end.remote);
        let id = header.conn;
        for (kind, bytes) in ready {
            let Some(end) = self
                .tcp
                .conns
                .get_mut(&id)
                .and_then(|c| c.end(header.from.other()))
            else {
                break;
            };
            let was_open = end.open;
            let mut answer_fin = false;
            let event = match kind {
                SegKind::SynAck => {
                    end.connected = true;
                    self.tcp.counters.established += 1;
                    Some(StreamEvent::Connected {
                        token,
                        conn: id,
                        local,
                        remote,
                    })
                }
                SegKind::Data => {
                    if was_open {
                        self.tcp.counters.bytes_delivered += bytes.len() as u64;
                    } else {
                        // The endpoint closed: acknowledged, then dropped.
                        self.tcp.counters.discarded += 1;
                    }
                    Some(StreamEvent::Data {
                        conn: id,
                        bytes: &bytes,
                    })
                }
                SegKind::Fin => {
                    end.open = false;
                    end.fin_received = true;
                    answer_fin = !end.fin_sent;
                    Some(StreamEvent::Closed {
                        conn: id,
                        reason: CloseReason::ByPeer,
                    })
                }
                SegKind::Syn | SegKind::Rst => None,
            };
            if let Some(event) = event.filter(|_| was_open) {
                self.notify(host, event);
            }
            self.recycle(bytes);
            if answer_fin {
                self.passive_close(id, header.from.other());
            }
        }
        self.reap(id);
    }

    /// The peer's FIN arrived and this end had not closed: with no half
    /// close, the peer takes nothing more, so what waits in the backlog is
    /// dropped (counted as discarded) and a FIN answers (RFC 9293 §3.6,
    /// CLOSE-WAIT then LAST-ACK at once). Segments already in flight still
    /// reach the peer's stack, which acknowledges and discards them.
    fn passive_close(&mut self, conn: ConnId, side: Side) {
        let Some(end) = self.tcp.conns.get_mut(&conn).and_then(|c| c.end(side)) else {
            return;
        };
        end.fin_sent = true;
        let before = end.backlog.len();
        end.backlog.retain(|(kind, _)| *kind != SegKind::Data);
        self.tcp.counters.discarded += (before - end.backlog.len()) as u64;
        self.send_segment(conn, side, SegKind::Fin, Vec::new());
    }

    /// Forgets the ends of `conn` that are finished, and `conn` once none is left.
    fn reap(&mut self, conn: ConnId) {
        let Some(c) = self.tcp.conns.get_mut(&conn) else {
            return;
        };
        for slot in &mut c.ends {
            if slot.as_ref().is_some_and(End::finished)
                && let Some(end) = slot.take()
            {
                self.tcp.ends.remove(&(end.host, end.local, end.remote));
            }
        }
        if c.ends.iter().all(Option::is_none) {
            self.tcp.conns.remove(&conn);
        }
    }

    /// Hands an event to `host`'s endpoint.
    fn notify(&mut self, host: usize, event: StreamEvent<'_>) {
        let now = self.now;
        if let Some(h) = self.hosts.get_mut(host) {
            h.endpoint.handle_stream(now, event);
        }
    }
}
