//! Sending side: per-stream send queues with round-robin scheduling at message
//! boundaries, fragmentation (RFC 9260 §6.9), the retransmission queue of
//! outstanding chunks, SACK processing (§6.2.1), congestion control (§7.2:
//! slow start, congestion avoidance, fast retransmit and fast recovery), the
//! RTO (§6.3, Karn's rule) and PR-SCTP abandonment (RFC 3758 §3.5).
//!
//! Messages are stored once as [`Bytes`]; fragments and retransmissions are
//! slices of it, so sending allocates nothing per packet.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::chunk::{self, DATA_HEADER_LEN, Data, I_DATA_HEADER_LEN, IData, Sack, flag};
use crate::tsn::unwrap_u32;
use crate::{Error, Event, Reliability, SendOptions, Stats};

/// Most DATA chunks outstanding at once (sent, not yet cumulatively acked).
const MAX_OUTSTANDING_CHUNKS: usize = 8192;

#[derive(Debug)]
struct OutMessage {
    data: Bytes,
    offset: usize,
    ppid: u32,
    unordered: bool,
    /// SSN (DATA, low 16 bits) or MID (I-DATA); taken from the stream
    /// when the first fragment gets its TSN (see [`Sender::take_seq`]).
    seq: u32,
    /// Next fragment sequence number (I-DATA).
    fsn: u32,
    max_rtx: Option<u16>,
    expires: Option<Instant>,
    id: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StreamState {
    Open,
    /// `reset_stream` called: no new messages; the request goes out once drained.
    ResetQueued,
    /// The reset request is in flight.
    Resetting,
}

#[derive(Debug)]
struct OutStream {
    queue: VecDeque<OutMessage>,
    /// Next SSN / ordered MID.
    next_ordered: u32,
    /// Next unordered MID (I-DATA only; DATA sends SSN 0 unordered).
    next_unordered: u32,
    buffered: usize,
    low_threshold: usize,
    state: StreamState,
    /// Requests with this stream's reset refused in a row (RFC 6525 §4.4).
    reset_refusals: u32,
}

impl Default for OutStream {
    fn default() -> Self {
        Self {
            queue: VecDeque::new(),
            next_ordered: 0,
            next_unordered: 0,
            buffered: 0,
            low_threshold: 0,
            state: StreamState::Open,
            reset_refusals: 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    InFlight,
    /// Acknowledged by a gap block (may still be reneged; kept until cum ack).
    Acked,
    ToRetransmit,
    Abandoned,
}

#[derive(Debug)]
struct Sent {
    tsn: u64,
    stream: u16,
    seq: u32,
    fsn: u32,
    ppid: u32,
    flags: u8,
    data: Bytes,
    sent_at: Instant,
    transmissions: u32,
    state: ChunkState,
    misses: u8,
    /// Marked for fast retransmit since it was last sent by T3-rtx or
    /// first sent: ineligible for a subsequent fast retransmit (RFC 9260
    /// §7.2.4 step 5), so that miss indications from data sent before the
    /// retransmission do not send it again and again.
    fast_retransmitted: bool,
    /// Reneged once (§6.2.1 D iv): a later acknowledgement of it may be of
    /// a retransmission or of an old SACK, so it gives no RTT sample.
    reneged: bool,
    msg: u64,
    max_rtx: Option<u16>,
    expires: Option<Instant>,
}

/// Congestion control and RTO parameters.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SenderConfig {
    pub mtu: usize,
    pub initial_cwnd: usize,
    pub max_send_buffer: usize,
    pub max_message_size: usize,
    pub rto_initial: Duration,
    pub rto_min: Duration,
    pub rto_max: Duration,
}

/// What a SACK changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct SackOutcome {
    /// The cumulative TSN ack point moved.
    pub progress: bool,
    /// Some DATA chunk was newly acknowledged, cumulatively or by a gap
    /// block: the peer is reachable (RFC 9260 §8.1).
    pub acked: bool,
}

/// The send side of an association.
#[derive(Debug)]
pub(crate) struct Sender {
    cfg: SenderConfig,
    outbound_streams: u16,
    next_tsn: u64,
    cum_ack: u64,
    outstanding: VecDeque<Sent>,
    flight: usize,
    to_retransmit: usize,
    /// Chunks in `outstanding` acknowledged by a gap block only.
    gap_acked: usize,
    /// Scratch for [`Sender::handle_sack`]: the valid gap blocks of a SACK.
    sack_blocks: Vec<(u64, u64)>,
    fast_rtx_pending: bool,
    cwnd: usize,
    ssthresh: usize,
    partial_bytes_acked: usize,
    peer_rwnd: usize,
    /// The last SACK advertised a zero window (RFC 9260 §6.1 rule A).
    peer_window_closed: bool,
    /// A SACK arrived since T3-rtx last expired: the peer is reachable.
    sack_since_t3: bool,
    recovery_exit: Option<u64>,
    srtt: Option<Duration>,
    rttvar: Duration,
    rto: Duration,
    t3: Option<Instant>,
    streams: HashMap<u16, OutStream>,
    ready: VecDeque<u16>,
    /// Stream in the middle of a fragmented message (fragments take consecutive TSNs).
    current: Option<u16>,
    /// I-DATA: the stream whose message is spread over several chunks; at
    /// most one at a time (see [`Sender::next_stream`]).
    spread: Option<u16>,
    buffered_total: usize,
    next_msg: u64,
    forward_tsn: bool,
    /// I-DATA and I-FORWARD-TSN in use (RFC 8260).
    idata: bool,
    advanced_peer_ack: u64,
    forward_tsn_pending: bool,
}

impl Sender {
    /// Frees queue capacity when nothing is outstanding or buffered.
    pub(crate) fn trim_idle(&mut self) {
        if !self.outstanding.is_empty() || self.buffered_total > 0 {
            return;
        }
        if self.outstanding.capacity() > 0 {
            self.outstanding = VecDeque::new();
        }
        if self.sack_blocks.capacity() > 0 {
            self.sack_blocks = Vec::new();
        }
        if self.ready.is_empty() && self.ready.capacity() > 0 {
            self.ready = VecDeque::new();
        }
        for s in self.streams.values_mut() {
            if s.queue.is_empty() && s.queue.capacity() > 0 {
                s.queue = VecDeque::new();
            }
        }
    }

    pub(crate) fn new(
        cfg: SenderConfig,
        initial_tsn: u32,
        peer_a_rwnd: u32,
        outbound_streams: u16,
        forward_tsn: bool,
        idata: bool,
    ) -> Self {
        let tsn = (1u64 << 32) + u64::from(initial_tsn);
        Self {
            cfg,
            outbound_streams,
            next_tsn: tsn,
            cum_ack: tsn - 1,
            outstanding: VecDeque::new(),
            flight: 0,
            to_retransmit: 0,
            gap_acked: 0,
            sack_blocks: Vec::new(),
            fast_rtx_pending: false,
            cwnd: cfg.initial_cwnd,
            // RFC 9260 §7.2.1: initial ssthresh is the peer's a_rwnd.
            ssthresh: peer_a_rwnd as usize,
            partial_bytes_acked: 0,
            peer_rwnd: peer_a_rwnd as usize,
            peer_window_closed: false,
            sack_since_t3: false,
            recovery_exit: None,
            srtt: None,
            rttvar: Duration::ZERO,
            rto: cfg.rto_initial,
            t3: None,
            streams: HashMap::new(),
            ready: VecDeque::new(),
            current: None,
            spread: None,
            buffered_total: 0,
            next_msg: 0,
            forward_tsn,
            idata,
            advanced_peer_ack: tsn - 1,
            forward_tsn_pending: false,
        }
    }

    /// Queues a message (RFC 9260 §6.1 "Send" primitive).
    pub(crate) fn enqueue(
        &mut self,
        now: Instant,
        stream: u16,
        ppid: u32,
        data: Bytes,
        opts: SendOptions,
    ) -> Result<(), Error> {
        if stream >= self.outbound_streams {
            return Err(Error::InvalidStream {
                stream,
                count: self.outbound_streams,
            });
        }
        if data.is_empty() {
            return Err(Error::EmptyPayload);
        }
        if data.len() > self.cfg.max_message_size {
            return Err(Error::MessageTooLarge {
                size: data.len(),
                max: self.cfg.max_message_size,
            });
        }
        if self.buffered_total + data.len() > self.cfg.max_send_buffer {
            return Err(Error::SendBufferFull {
                buffered: self.buffered_total,
                limit: self.cfg.max_send_buffer,
            });
        }
        let st = self.streams.entry(stream).or_default();
        if st.state != StreamState::Open {
            return Err(Error::StreamClosing(stream));
        }
        let (max_rtx, expires) = match opts.reliability {
            Reliability::Reliable => (None, None),
            // Without PR-SCTP support at the peer, partial reliability cannot be honoured.
            _ if !self.forward_tsn => (None, None),
            Reliability::MaxRetransmits(n) => (Some(n), None),
            Reliability::MaxLifetime(d) => (None, Some(now + d)),
        };
        st.buffered += counted(ppid, data.len());
        self.buffered_total += data.len();
        let was_empty = st.queue.is_empty();
        st.queue.push_back(OutMessage {
            data,
            offset: 0,
            ppid,
            unordered: opts.unordered,
            seq: 0,
            fsn: 0,
            max_rtx,
            expires,
            id: self.next_msg,
        });
        self.next_msg += 1;
        if was_empty {
            self.ready.push_back(stream);
        }
        Ok(())
    }

    /// Bytes queued on a stream and not yet sent (W3C `bufferedAmount`).
    pub(crate) fn buffered_amount(&self, stream: u16) -> usize {
        self.streams.get(&stream).map_or(0, |s| s.buffered)
    }

    /// Bytes queued on all streams and not yet sent.
    pub(crate) fn buffered_total(&self) -> usize {
        self.buffered_total
    }

    pub(crate) fn set_low_threshold(&mut self, stream: u16, threshold: usize) {
        self.streams.entry(stream).or_default().low_threshold = threshold;
    }

    pub(crate) fn outbound_streams(&self) -> u16 {
        self.outbound_streams
    }

    /// Whether nothing is queued or outstanding (for SHUTDOWN, RFC 9260 §9.2).
    pub(crate) fn is_idle(&self) -> bool {
        self.buffered_total == 0 && self.outstanding.is_empty()
    }

    /// The last TSN assigned (for RE-CONFIG requests, RFC 6525 §4.1).
    pub(crate) fn last_assigned_tsn(&self) -> u32 {
        (self.next_tsn - 1) as u32
    }

    /// Whether the peer acknowledged every TSN up to `tsn` cumulatively
    /// (RFC 9260 §6.2.1).
    pub(crate) fn acked_through(&self, tsn: u32) -> bool {
        unwrap_u32(self.cum_ack, tsn) <= self.cum_ack
    }

    pub(crate) fn rto(&self) -> Duration {
        self.rto
    }

    pub(crate) fn t3(&self) -> Option<Instant> {
        self.t3
    }

    pub(crate) fn fill_stats(&self, stats: &mut Stats) {
        stats.cwnd = self.cwnd;
        stats.srtt = self.srtt;
    }

    /// Marks a stream for reset: it takes no new messages (RFC 8831 §6.7:
    /// queued data is sent first).
    pub(crate) fn queue_reset(&mut self, stream: u16) -> bool {
        let st = self.streams.entry(stream).or_default();
        if st.state != StreamState::Open {
            return false;
        }
        st.state = StreamState::ResetQueued;
        true
    }

    /// The streams whose next use would not start afresh: a sequence
    /// number taken, or messages queued. (A stream without either is at
    /// SSN / MID 0 on both sides, reset or not.) In order.
    pub(crate) fn streams_in_use(&self) -> Vec<u16> {
        let mut v: Vec<u16> = self
            .streams
            .iter()
            .filter(|(_, st)| {
                st.next_ordered != 0 || st.next_unordered != 0 || !st.queue.is_empty()
            })
            .map(|(&id, _)| id)
            .collect();
        v.sort_unstable();
        v
    }

    /// Streams whose reset was queued and whose data is all sent: they go
    /// into the next request, and are marked as in flight.
    ///
    /// The peer answers a request as a whole (RFC 6525 §4.4), so one
    /// stream it refuses would have every stream asked with it refused
    /// too: a stream refused once goes alone, once no stream never refused
    /// is waiting, to tell a stream the peer refuses from one refused with
    /// it. Streams refused alone too are the peer's to refuse: they are
    /// asked together again, so that each is given up within
    /// `max_retransmits` + 1 refusals of its requests, not one stream after
    /// another.
    pub(crate) fn take_drained_resets(&mut self, out: &mut Vec<u16>) {
        let mut refused: Option<(u32, u16)> = None;
        for (&id, st) in &mut self.streams {
            if st.state != StreamState::ResetQueued || !st.queue.is_empty() {
                continue;
            }
            if st.reset_refusals == 0 {
                st.state = StreamState::Resetting;
                out.push(id);
            } else if refused.is_none_or(|r| (st.reset_refusals, id) < r) {
                refused = Some((st.reset_refusals, id));
            }
        }
        match refused {
            _ if !out.is_empty() => {}
            // Refused once, perhaps only for another stream asked with it:
            // asked alone.
            Some((1, id)) => {
                if let Some(st) = self.streams.get_mut(&id) {
                    st.state = StreamState::Resetting;
                    out.push(id);
                }
            }
            // Each refused alone too: the peer refuses them, asked together.
            Some(_) => {
                for (&id, st) in &mut self.streams {
                    if st.state == StreamState::ResetQueued && st.queue.is_empty() {
                        st.state = StreamState::Resetting;
                        out.push(id);
                    }
                }
            }
            None => {}
        }
        out.sort_unstable();
    }

    /// The peer performed the reset: SSN back to 0, stream open again (RFC 6525 §5.2.3).
    ///
    /// The reset ends the stream's use (a data channel's close, RFC 8831
    /// §6.7): its next user starts afresh, with no `bufferedAmountLow`
    /// threshold of the last one's. (Its queue is empty: a stream takes no
    /// message from `reset_stream` until here, and the request goes out
    /// once the queue drained.)
    pub(crate) fn complete_reset(&mut self, stream: u16) {
        if let Some(st) = self.streams.get_mut(&stream) {
            if st.queue.is_empty() {
                self.streams.remove(&stream);
            } else {
                st.next_ordered = 0;
                st.next_unordered = 0;
                st.low_threshold = 0;
                st.state = StreamState::Open;
                st.reset_refusals = 0;
            }
        }
    }

    /// The peer refused a request with the stream's reset (Denied or an
    /// error result, RFC 6525 §4.4): queued again, or, refused more than
    /// `max` times in a row, given up ([`abandon_reset`](Self::abandon_reset)).
    /// Returns whether it was given up.
    pub(crate) fn refuse_reset(&mut self, stream: u16, max: u32) -> bool {
        let Some(st) = self.streams.get_mut(&stream) else {
            return false;
        };
        st.reset_refusals = st.reset_refusals.saturating_add(1);
        if st.reset_refusals > max {
            self.abandon_reset(stream);
            return true;
        }
        st.state = StreamState::ResetQueued;
        false
    }

    /// Puts a stream taken for a request back in the queue (it did not fit).
    pub(crate) fn retry_reset(&mut self, stream: u16) {
        if let Some(st) = self.streams.get_mut(&stream) {
            st.state = StreamState::ResetQueued;
        }
    }

    /// The peer refused the reset for good: the stream takes messages
    /// again, its sequence numbers going on (the peer's side was not reset
    /// either). Its use ended, so its low threshold goes, as with
    /// [`complete_reset`](Self::complete_reset).
    pub(crate) fn abandon_reset(&mut self, stream: u16) {
        if let Some(st) = self.streams.get_mut(&stream) {
            st.state = StreamState::Open;
            st.low_threshold = 0;
            st.reset_refusals = 0;
        }
    }

    // ------------------------------------------------------------ SACK

    /// Processes a SACK (RFC 9260 §6.2.1, §7.2).
    pub(crate) fn handle_sack(
        &mut self,
        now: Instant,
        sack: &Sack<'_>,
        stats: &mut Stats,
    ) -> SackOutcome {
        let cum = unwrap_u32(self.cum_ack, sack.cum_tsn);
        if cum < self.cum_ack || cum >= self.next_tsn {
            // Old SACK out of order, or one acking what was never sent: ignore.
            return SackOutcome::default();
        }
        let flight_before = self.flight;
        let cwnd_full = flight_before + self.cfg.mtu > self.cwnd;
        let progress = cum > self.cum_ack;
        let (mut bytes_acked, mut rtt_sample, mut htna) = self.ack_through(now, cum);
        // Gap ack blocks.
        let len = self.outstanding.len() as u64;
        // Blocks come in ascending order without overlap (RFC 9260 §3.3.4);
        // others are ignored, so one SACK costs at most one pass over the queue.
        let mut next_first = 0u64;
        let mut blocks = std::mem::take(&mut self.sack_blocks);
        blocks.clear();
        for (start, end) in sack.gaps() {
            if start == 0 || end < start {
                continue;
            }
            let first = u64::from(start) - 1;
            let last = (u64::from(end) - 1).min(len.saturating_sub(1));
            if first >= len || first < next_first {
                continue;
            }
            next_first = last + 1;
            blocks.push((first, last));
            for i in first..=last {
                let Some(c) = self.outstanding.get_mut(i as usize) else {
                    break;
                };
                match c.state {
                    ChunkState::InFlight => {
                        self.flight -= c.data.len();
                        bytes_acked += c.data.len();
                        if c.transmissions == 1 && !c.reneged && rtt_sample.is_none() {
                            rtt_sample = Some(now.saturating_duration_since(c.sent_at));
                        }
                    }
                    ChunkState::ToRetransmit => {
                        self.to_retransmit -= 1;
                        bytes_acked += c.data.len();
                    }
                    ChunkState::Acked | ChunkState::Abandoned => continue,
                }
                c.state = ChunkState::Acked;
                self.gap_acked += 1;
                htna = Some(htna.map_or(c.tsn, |h: u64| h.max(c.tsn)));
            }
        }
        if let Some(r) = rtt_sample {
            self.update_rto(r);
        }
        // Leave fast recovery once its exit point is acknowledged (§7.2.4).
        if self.recovery_exit.is_some_and(|exit| cum >= exit) {
            self.recovery_exit = None;
        }
        // Miss indications (§7.2.4).
        let mut newly_missing = false;
        if let Some(htna) = htna {
            for c in self.outstanding.iter_mut() {
                if c.tsn >= htna {
                    break;
                }
                if c.state == ChunkState::InFlight && !c.fast_retransmitted {
                    c.misses = c.misses.saturating_add(1);
                    if c.misses == 3 {
                        // §7.2.4 step 5: fast retransmitted once; a lost
                        // retransmission is left to T3-rtx.
                        c.fast_retransmitted = true;
                        c.state = ChunkState::ToRetransmit;
                        self.flight -= c.data.len();
                        self.to_retransmit += 1;
                        newly_missing = true;
                    }
                }
            }
        }
        self.renege(&blocks);
        self.sack_blocks = blocks;
        if newly_missing {
            self.fast_rtx_pending = true;
            if self.recovery_exit.is_none() {
                stats.fast_retransmits += 1;
                self.ssthresh = (self.cwnd / 2).max(4 * self.cfg.mtu);
                self.cwnd = self.ssthresh;
                self.partial_bytes_acked = 0;
                self.recovery_exit = Some(self.next_tsn - 1);
            }
        }
        // Congestion window growth (§7.2.1, §7.2.2).
        if progress && self.recovery_exit.is_none() && cwnd_full {
            if self.cwnd <= self.ssthresh {
                // Byte counting (RFC 3465 style) rather than one MTU per SACK:
                // a receiver that answers a burst with one SACK (as this one
                // does) would otherwise hold slow start to linear growth.
                // At most doubling per SACK.
                self.cwnd += bytes_acked.min(self.cwnd);
            } else {
                self.partial_bytes_acked += bytes_acked;
                if self.partial_bytes_acked >= self.cwnd {
                    self.partial_bytes_acked -= self.cwnd;
                    self.cwnd += self.cfg.mtu;
                }
            }
        }
        if self.flight == 0 {
            self.partial_bytes_acked = 0;
        }
        self.peer_rwnd = (sack.a_rwnd as usize).saturating_sub(self.flight);
        self.peer_window_closed = sack.a_rwnd == 0;
        self.sack_since_t3 = true;
        // T3-rtx (§6.3.2 R2, R3): it runs while anything is outstanding, so
        // that reneged data (§6.2.1 D iv) and a lost FORWARD-TSN (RFC 3758
        // §3.5 C5) are sent again.
        if self.outstanding.is_empty() {
            self.t3 = None;
        } else if progress || self.t3.is_none() {
            self.t3 = Some(now + self.rto);
        }
        self.update_advanced_ack_point();
        SackOutcome {
            progress,
            acked: bytes_acked > 0,
        }
    }

    /// Acknowledges the outstanding chunks up to `cum` (unwrapped, not
    /// behind the cumulative TSN ack point) and moves that point (RFC 9260
    /// §6.2.1 D). Returns the bytes newly acknowledged, an RTT sample (from
    /// a chunk sent once) and the highest TSN newly acknowledged.
    fn ack_through(&mut self, now: Instant, cum: u64) -> (usize, Option<Duration>, Option<u64>) {
        let mut bytes_acked = 0usize;
        let mut rtt_sample = None;
        let mut htna = None;
        while let Some(front) = self.outstanding.front() {
            if front.tsn > cum {
                break;
            }
            let Some(c) = self.outstanding.pop_front() else {
                break;
            };
            match c.state {
                ChunkState::InFlight => {
                    self.flight -= c.data.len();
                    bytes_acked += c.data.len();
                    if c.transmissions == 1 && !c.reneged {
                        rtt_sample = Some(now.saturating_duration_since(c.sent_at));
                    }
                    htna = Some(c.tsn);
                }
                ChunkState::ToRetransmit => {
                    self.to_retransmit -= 1;
                    bytes_acked += c.data.len();
                    htna = Some(c.tsn);
                }
                ChunkState::Acked => self.gap_acked -= 1,
                ChunkState::Abandoned => {}
            }
        }
        self.cum_ack = cum;
        if self.advanced_peer_ack < cum {
            self.advanced_peer_ack = cum;
        }
        (bytes_acked, rtt_sample, htna)
    }

    /// Processes the Cumulative TSN Ack of a SHUTDOWN chunk (RFC 9260
    /// §9.2: its receiver checks by it "that all its outstanding DATA
    /// chunks have been received"; §3.3.8 gives it a SACK's meaning): the
    /// chunks up to it are acknowledged as by a SACK's cumulative TSN ack.
    /// The chunk carries no gap blocks and no window, so nothing is taken
    /// as reneged, the peer's window is left as the last SACK gave it, and
    /// the congestion window does not grow, nor is the RTT measured. An ack point behind the current
    /// one or past what was sent is ignored, as in a SACK.
    pub(crate) fn handle_cum_ack(&mut self, now: Instant, cum_tsn: u32) -> SackOutcome {
        let cum = unwrap_u32(self.cum_ack, cum_tsn);
        if cum <= self.cum_ack || cum >= self.next_tsn {
            return SackOutcome::default();
        }
        // No RTT sample: the peer sends a SHUTDOWN when its application
        // closes, not when the data arrived.
        self.ack_through(now, cum);
        if self.recovery_exit.is_some_and(|exit| cum >= exit) {
            self.recovery_exit = None;
        }
        if self.flight == 0 {
            self.partial_bytes_acked = 0;
        }
        self.t3 = if self.outstanding.is_empty() {
            None
        } else {
            Some(now + self.rto)
        };
        self.update_advanced_ack_point();
        SackOutcome {
            progress: true,
            acked: true,
        }
    }

    fn update_rto(&mut self, r: Duration) {
        // RFC 9260 §6.3.1 (RFC 6298 style), alpha = 1/8, beta = 1/4.
        match self.srtt {
            None => {
                self.srtt = Some(r);
                self.rttvar = r / 2;
            }
            Some(srtt) => {
                let delta = srtt.abs_diff(r);
                self.rttvar = self.rttvar * 3 / 4 + delta / 4;
                self.srtt = Some(srtt * 7 / 8 + r / 8);
            }
        }
        let rto = self.srtt.unwrap_or(r) + (self.rttvar * 4).max(Duration::from_millis(1));
        self.rto = rto.clamp(self.cfg.rto_min, self.cfg.rto_max);
    }

    /// The T3-rtx timer expired (RFC 9260 §6.3.3, §7.2.3). Returns whether
    /// the expiry counts towards Association.Max.Retrans (§8.1): not when
    /// what timed out is a zero window probe that the peer keeps answering
    /// with SACKs (§6.1 rule A: the receiver may keep its window closed for
    /// an indefinite time, and the unacknowledged probes "SHOULD NOT
    /// increment the error counter").
    pub(crate) fn handle_t3(
        &mut self,
        now: Instant,
        stats: &mut Stats,
        events: &mut VecDeque<Event>,
    ) -> bool {
        stats.t3_expiries += 1;
        let unacked = self
            .outstanding
            .iter()
            .filter(|c| matches!(c.state, ChunkState::InFlight | ChunkState::ToRetransmit))
            .count();
        let answered_probe = self.peer_window_closed && self.sack_since_t3 && unacked <= 1;
        self.sack_since_t3 = false;
        self.rto = (self.rto * 2).min(self.cfg.rto_max);
        self.ssthresh = (self.cwnd / 2).max(4 * self.cfg.mtu);
        self.cwnd = self.cfg.mtu;
        self.partial_bytes_acked = 0;
        self.recovery_exit = None;
        for c in self.outstanding.iter_mut() {
            if c.state == ChunkState::InFlight {
                c.state = ChunkState::ToRetransmit;
                self.flight -= c.data.len();
                self.to_retransmit += 1;
            }
            // Sent again by T3-rtx: a loss of this transmission may be
            // fast-retransmitted once more (§7.2.4).
            c.fast_retransmitted = false;
        }
        self.abandon_expired(now, stats, events);
        self.t3 = if self.outstanding.is_empty() {
            None
        } else {
            Some(now + self.rto)
        };
        !answered_probe
    }

    /// Data the peer acknowledged with a gap block before but not in this
    /// SACK (`blocks`: the indices into `outstanding` that its valid gap
    /// blocks cover, ascending) was reneged: the receiver dropped it (RFC
    /// 9260 §6.2.1 D iv). It is in flight again, with one miss indication
    /// counted towards fast retransmit (§7.2.4); T3-rtx runs while anything
    /// is outstanding. As usrsctp does, a SACK with gap blocks reneges only
    /// below its highest block (a receiver may report only the first
    /// blocks that fit, §3.3.4); one without any reneges all of it.
    fn renege(&mut self, blocks: &[(u64, u64)]) {
        let end = blocks
            .last()
            .map_or(self.outstanding.len() as u64, |&(_, last)| last + 1);
        let mut next_block = blocks.iter().peekable();
        let mut i = 0;
        // Only while a gap-acked chunk is left to find.
        while i < end && self.gap_acked > 0 {
            while next_block.next_if(|&&(_, last)| last < i).is_some() {}
            if let Some(&&(first, last)) = next_block.peek()
                && first <= i
            {
                i = last + 1;
                continue;
            }
            let Some(c) = self.outstanding.get_mut(i as usize) else {
                break;
            };
            i += 1;
            if c.state != ChunkState::Acked {
                continue;
            }
            c.misses = 1;
            c.reneged = true;
            c.state = ChunkState::InFlight;
            self.flight += c.data.len();
            self.gap_acked -= 1;
        }
    }

    // ------------------------------------------------------------ PR-SCTP

    /// Abandons a message (RFC 3758 §3.5): its outstanding chunks, and the
    /// rest of it still in the send queue, which leaves `bufferedAmount`
    /// (with [`Event::BufferedAmountLow`] if that crosses the threshold).
    fn abandon_message(&mut self, msg: u64, stats: &mut Stats, events: &mut VecDeque<Event>) {
        stats.messages_abandoned += 1;
        for c in self.outstanding.iter_mut() {
            if c.msg != msg {
                continue;
            }
            match c.state {
                ChunkState::InFlight => self.flight -= c.data.len(),
                ChunkState::ToRetransmit => self.to_retransmit -= 1,
                ChunkState::Acked => self.gap_acked -= 1,
                ChunkState::Abandoned => {}
            }
            c.state = ChunkState::Abandoned;
        }
        // The unsent rest of a message cut short goes too.
        let first = self
            .outstanding
            .iter()
            .find(|c| c.msg == msg)
            .map(|c| (c.stream, c.sent_at));
        if let Some((s, sent_at)) = first {
            if let Some(st) = self.streams.get_mut(&s) {
                if st.queue.front().is_some_and(|m| m.id == msg) {
                    if let Some(m) = st.queue.pop_front() {
                        let rest = m.data.len() - m.offset;
                        let left = counted(m.ppid, rest);
                        st.buffered -= left;
                        self.buffered_total -= rest;
                        Self::check_low(s, st, left, events);
                        // The peer may hold every fragment sent and
                        // acknowledge them cumulatively: then no chunk
                        // left outstanding would name the message's SSN
                        // (MID) in a FORWARD-TSN, and the peer would wait
                        // for the rest for ever. The rest gets a TSN of its
                        // own, as one abandoned END chunk that is never
                        // sent: only a FORWARD-TSN (RFC 3758 §3.5 C) moves
                        // the peer past it.
                        let mut flags = flag::END;
                        if m.unordered {
                            flags |= flag::UNORDERED;
                        }
                        self.outstanding.push_back(Sent {
                            tsn: self.next_tsn,
                            stream: s,
                            seq: m.seq,
                            fsn: m.fsn,
                            ppid: m.ppid,
                            flags,
                            data: Bytes::new(),
                            sent_at,
                            transmissions: 0,
                            state: ChunkState::Abandoned,
                            misses: 0,
                            fast_retransmitted: false,
                            reneged: false,
                            msg,
                            max_rtx: m.max_rtx,
                            expires: m.expires,
                        });
                        self.next_tsn += 1;
                    }
                    if self.current == Some(s) {
                        self.current = None;
                    }
                    if self.spread == Some(s) {
                        self.spread = None;
                    }
                    if st.queue.is_empty() {
                        self.ready.retain(|x| *x != s);
                    }
                }
            }
        }
        self.update_advanced_ack_point();
    }

    /// Abandons outstanding chunks whose lifetime expired (RFC 3758 §3.5 A3).
    fn abandon_expired(&mut self, now: Instant, stats: &mut Stats, events: &mut VecDeque<Event>) {
        if !self.forward_tsn {
            return;
        }
        let mut expired = Vec::new();
        for c in &self.outstanding {
            if matches!(c.state, ChunkState::InFlight | ChunkState::ToRetransmit)
                && c.expires.is_some_and(|e| e <= now)
                && !expired.contains(&c.msg)
            {
                expired.push(c.msg);
            }
        }
        for m in expired {
            self.abandon_message(m, stats, events);
        }
    }

    /// Moves the Advanced.Peer.Ack.Point over abandoned chunks (RFC 3758 §3.5 C1).
    fn update_advanced_ack_point(&mut self) {
        if !self.forward_tsn {
            return;
        }
        let mut point = self.advanced_peer_ack.max(self.cum_ack);
        for c in &self.outstanding {
            if c.tsn <= point {
                continue;
            }
            if c.state == ChunkState::Abandoned && c.tsn == point + 1 {
                point = c.tsn;
            } else {
                break;
            }
        }
        if point > self.advanced_peer_ack {
            self.advanced_peer_ack = point;
        }
        if self.advanced_peer_ack > self.cum_ack {
            self.forward_tsn_pending = true;
        }
    }

    /// Whether a FORWARD-TSN should be sent.
    pub(crate) fn wants_forward_tsn(&self) -> bool {
        self.forward_tsn_pending && self.advanced_peer_ack > self.cum_ack
    }

    /// Writes a FORWARD-TSN (RFC 3758 §3.2) or, with I-DATA, an
    /// I-FORWARD-TSN (RFC 8260 §2.3) chunk of at most `room` bytes if one
    /// is due.
    ///
    /// Every ordered stream with an abandoned message up to the new
    /// cumulative TSN needs an entry (its highest skipped SSN / MID), or
    /// the receiver waits for that message for ever. When the entries do
    /// not all fit, the new cumulative TSN stops just before the first
    /// abandoned chunk of a stream left out, and the rest is sent in a
    /// later chunk (the SACK for this one re-arms it, as does T3-rtx, RFC
    /// 3758 §3.5). With no room for even the first entry nothing is
    /// written and the chunk stays due, for the next packet.
    pub(crate) fn write_forward_tsn(&mut self, buf: &mut Vec<u8>, room: usize) {
        if !self.wants_forward_tsn() {
            return;
        }
        let ty = if self.idata {
            chunk::ty::I_FORWARD_TSN
        } else {
            chunk::ty::FORWARD_TSN
        };
        let entry_len = if self.idata { 8 } else { 4 };
        // Chunk header and new cumulative TSN: 8 bytes.
        let Some(max_entries) = room.checked_sub(8).map(|r| r / entry_len) else {
            return;
        };
        let mut new_cum = self.advanced_peer_ack;
        // (stream, unordered, highest SSN/MID) of abandoned messages.
        let mut written: Vec<(u16, bool, u32)> = Vec::new();
        for c in &self.outstanding {
            if c.tsn > self.advanced_peer_ack {
                break;
            }
            let unordered = c.flags & flag::UNORDERED != 0;
            if c.state != ChunkState::Abandoned || (unordered && !self.idata) {
                continue;
            }
            if let Some(e) = written
                .iter_mut()
                .find(|(s, u, _)| *s == c.stream && *u == unordered)
            {
                e.2 = c.seq;
            } else if written.len() < max_entries {
                written.push((c.stream, unordered, c.seq));
            } else {
                new_cum = c.tsn - 1;
                break;
            }
        }
        if new_cum <= self.cum_ack {
            return;
        }
        let s = chunk::begin_chunk(buf, ty, 0);
        buf.extend_from_slice(&(new_cum as u32).to_be_bytes());
        for (st, unordered, seq) in written {
            buf.extend_from_slice(&st.to_be_bytes());
            if self.idata {
                buf.extend_from_slice(&u16::from(unordered).to_be_bytes());
                buf.extend_from_slice(&seq.to_be_bytes());
            } else {
                buf.extend_from_slice(&(seq as u16).to_be_bytes());
            }
        }
        chunk::end_chunk(buf, s);
        self.forward_tsn_pending = false;
    }

    /// Re-arms FORWARD-TSN after a timeout (RFC 3758 §3.5 C5).
    pub(crate) fn rearm_forward_tsn(&mut self) {
        if self.advanced_peer_ack > self.cum_ack {
            self.forward_tsn_pending = true;
        }
    }

    // ------------------------------------------------------------ sending

    /// Whether DATA could go out now (retransmissions or new data within the windows).
    pub(crate) fn has_data_to_send(&self) -> bool {
        if self.fast_rtx_pending && self.to_retransmit > 0 {
            return true;
        }
        let window_open = self.flight < self.cwnd;
        window_open && (self.to_retransmit > 0 || (!self.ready.is_empty() && self.rwnd_allows(1)))
    }

    fn rwnd_allows(&self, len: usize) -> bool {
        self.flight == 0 || len <= self.peer_rwnd
    }

    /// Appends DATA chunks to `buf` while the packet has room (`limit` is the
    /// packet size limit) and the windows allow; returns whether any was written.
    pub(crate) fn fill(
        &mut self,
        now: Instant,
        buf: &mut Vec<u8>,
        limit: usize,
        stats: &mut Stats,
        events: &mut VecDeque<Event>,
    ) -> bool {
        let mut wrote = false;
        // Retransmissions first (§6.1 rule C; §7.2.4 fast retransmit ignores cwnd for one packet).
        if self.to_retransmit > 0 {
            let bypass = std::mem::take(&mut self.fast_rtx_pending);
            let mut i = 0;
            // Whether every chunk before `i` is acknowledged or abandoned:
            // chunk `i` is then the first the peer still owes an ack for.
            let mut head = true;
            while i < self.outstanding.len() && self.to_retransmit > 0 {
                let (state, len, msg, expired, exhausted) = {
                    let c = &self.outstanding[i];
                    (
                        c.state,
                        c.data.len(),
                        c.msg,
                        c.expires.is_some_and(|e| e <= now),
                        c.max_rtx.is_some_and(|m| c.transmissions > u32::from(m)),
                    )
                };
                if state != ChunkState::ToRetransmit {
                    head &= matches!(state, ChunkState::Acked | ChunkState::Abandoned);
                    i += 1;
                    continue;
                }
                if self.forward_tsn && (expired || exhausted) {
                    self.abandon_message(msg, stats, events);
                    i += 1;
                    continue;
                }
                if buf.len() + self.header_len() + len > limit {
                    break;
                }
                if !bypass && self.flight >= self.cwnd {
                    break;
                }
                let idata = self.idata;
                let c = &mut self.outstanding[i];
                write_chunk(
                    buf,
                    idata,
                    c.flags,
                    c.tsn as u32,
                    c.stream,
                    c.seq,
                    c.ppid,
                    c.fsn,
                    &c.data,
                );
                c.state = ChunkState::InFlight;
                c.transmissions += 1;
                c.misses = 0;
                c.sent_at = now;
                self.flight += len;
                self.to_retransmit -= 1;
                stats.data_chunks_retransmitted += 1;
                wrote = true;
                if head {
                    // The first outstanding chunk goes again (abandoned
                    // ones before it wait only for a FORWARD-TSN): T3-rtx is
                    // restarted (RFC 9260 §7.2.4 step 4, §6.3.2 R3), so that
                    // it gets a whole RTO to be acknowledged, not what is
                    // left of a timer started a round trip before.
                    self.t3 = Some(now + self.rto);
                    head = false;
                }
                i += 1;
            }
            if wrote && self.t3.is_none() {
                self.t3 = Some(now + self.rto);
            }
            if self.to_retransmit > 0 {
                return wrote;
            }
        }
        // New data (§6.1 rules A, B). The chunk count in flight is capped too,
        // so that tiny messages cannot make the retransmission queue huge.
        while self.flight < self.cwnd && self.outstanding.len() < MAX_OUTSTANDING_CHUNKS {
            let room = limit.saturating_sub(buf.len() + self.header_len());
            if room < 64.min(self.cfg.mtu / 4) {
                break;
            }
            let Some(stream) = self.next_stream(room) else {
                break;
            };
            let Some(st) = self.streams.get_mut(&stream) else {
                self.ready.retain(|s| *s != stream);
                self.current = None;
                continue;
            };
            let Some(m) = st.queue.front_mut() else {
                self.ready.retain(|s| *s != stream);
                self.current = None;
                continue;
            };
            // Lifetime expired before the first byte went out: drop it, no TSN needed.
            if m.offset == 0 && m.expires.is_some_and(|e| e <= now) {
                let len = m.data.len();
                let left = counted(m.ppid, len);
                st.queue.pop_front();
                st.buffered -= left;
                self.buffered_total -= len;
                stats.messages_abandoned += 1;
                Self::check_low(stream, st, left, events);
                if st.queue.is_empty() {
                    self.ready.retain(|s| *s != stream);
                }
                continue;
            }
            let remaining = m.data.len() - m.offset;
            let take = remaining.min(room);
            if !(self.flight == 0 || take <= self.peer_rwnd) {
                break;
            }
            if m.offset == 0 {
                m.seq = Self::take_seq(
                    &mut st.next_ordered,
                    &mut st.next_unordered,
                    m.unordered,
                    self.idata,
                );
            }
            let mut flags = 0;
            if m.offset == 0 {
                flags |= flag::BEGIN;
            }
            if take == remaining {
                flags |= flag::END;
            }
            if m.unordered {
                flags |= flag::UNORDERED;
            }
            let done = take == remaining;
            let payload = if m.offset == 0 && done {
                // A message in one chunk moves whole: a slice would turn a
                // `Vec`-backed `Bytes` into a shared one (an allocation).
                std::mem::take(&mut m.data)
            } else {
                m.data.slice(m.offset..m.offset + take)
            };
            let tsn = self.next_tsn;
            self.next_tsn += 1;
            let fsn = m.fsn;
            m.fsn = m.fsn.wrapping_add(1);
            write_chunk(
                buf, self.idata, flags, tsn as u32, stream, m.seq, m.ppid, fsn, &payload,
            );
            self.outstanding.push_back(Sent {
                tsn,
                stream,
                seq: m.seq,
                fsn,
                ppid: m.ppid,
                flags,
                data: payload,
                sent_at: now,
                transmissions: 1,
                state: ChunkState::InFlight,
                misses: 0,
                fast_retransmitted: false,
                reneged: false,
                msg: m.id,
                max_rtx: m.max_rtx,
                expires: m.expires,
            });
            m.offset += take;
            self.flight += take;
            self.peer_rwnd = self.peer_rwnd.saturating_sub(take);
            let left = counted(m.ppid, take);
            st.buffered -= left;
            self.buffered_total -= take;
            stats.data_chunks_sent += 1;
            wrote = true;
            Self::check_low(stream, st, left, events);
            if done {
                st.queue.pop_front();
                self.current = None;
                if self.spread == Some(stream) {
                    self.spread = None;
                }
                // Round robin at message boundaries.
                if let Some(pos) = self.ready.iter().position(|s| *s == stream) {
                    self.ready.remove(pos);
                }
                if !st.queue.is_empty() {
                    self.ready.push_back(stream);
                }
            } else if self.idata {
                // I-DATA lets messages interleave (RFC 8260): round robin per
                // fragment, with one message spread at a time.
                self.spread = Some(stream);
                if let Some(pos) = self.ready.iter().position(|s| *s == stream) {
                    self.ready.remove(pos);
                }
                self.ready.push_back(stream);
            } else {
                self.current = Some(stream);
            }
        }
        if wrote && self.t3.is_none() {
            self.t3 = Some(now + self.rto);
        }
        wrote
    }

    /// The stream whose message gets the next chunk, `room` bytes of
    /// payload being left in the packet.
    ///
    /// DATA: the message being fragmented, else the next stream in round
    /// robin at message boundaries. I-DATA (RFC 8260 §1) lets fragments of
    /// messages on different streams interleave, but the receiver has to
    /// hold every partially received message (RFC 9260 §6.9) within its
    /// window (§6.2): with several large messages interleaved (32 streams of
    /// 256 KiB against a 1 MiB window), the window fills with partials of
    /// all of them, none can complete, and the association stalls until it
    /// fails (a receiver may drop what is beyond its window, §6.2). So at
    /// most one message is spread over several chunks at a time: a stream
    /// whose next message would not fit whole in this chunk waits for its
    /// turn to come again, and the spread message's next fragment goes in
    /// its place. Messages that fit whole still go between the fragments:
    /// small messages do not wait behind a large one, which is what
    /// interleaving is for. (dcSCTP and usrsctp keep a message's fragments
    /// together unless interleaving too.)
    fn next_stream(&mut self, room: usize) -> Option<u16> {
        if let Some(s) = self.current {
            return Some(s);
        }
        let front = *self.ready.front()?;
        let Some(spread) = self.spread.filter(|s| *s != front) else {
            return Some(front);
        };
        if !self.idata || self.fits_whole(front, room) {
            return Some(front);
        }
        if !self.is_spread(spread) {
            // Abandoned or reset meanwhile: the front may start its own.
            self.spread = None;
            return Some(front);
        }
        self.ready.rotate_left(1);
        Some(spread)
    }

    /// Whether the next message of `stream` can go whole in `room` bytes
    /// (or has nothing to send: the caller drops the stream from `ready`).
    fn fits_whole(&self, stream: u16, room: usize) -> bool {
        self.streams
            .get(&stream)
            .and_then(|st| st.queue.front())
            .is_none_or(|m| m.offset > 0 || m.data.len() <= room)
    }

    /// Whether the next message of `stream` is partly sent.
    fn is_spread(&self, stream: u16) -> bool {
        self.streams
            .get(&stream)
            .and_then(|st| st.queue.front())
            .is_some_and(|m| m.offset > 0)
    }

    /// The SSN / MID of a message whose first fragment is getting its TSN.
    ///
    /// Taken here, not at [`enqueue`](Self::enqueue): a message may still
    /// be dropped from the queue before any of it is sent (its lifetime
    /// over, RFC 3758 §3.5), and the peer never hears of a message that got
    /// no TSN, so a number taken for it would leave a hole in the stream's
    /// sequence that no FORWARD-TSN ever fills: the receiver would wait
    /// for it for ever (RFC 9260 §6.6: ordered delivery by SSN; RFC 8260
    /// §2.1: MIDs of a stream, ordered and unordered each, are consecutive).
    /// DATA sends unordered messages with SSN 0 (RFC 9260 §3.3.1).
    fn take_seq(
        next_ordered: &mut u32,
        next_unordered: &mut u32,
        unordered: bool,
        idata: bool,
    ) -> u32 {
        let counter = match (unordered, idata) {
            (false, _) => next_ordered,
            (true, true) => next_unordered,
            (true, false) => return 0,
        };
        let seq = *counter;
        *counter = counter.wrapping_add(1);
        seq
    }

    fn header_len(&self) -> usize {
        if self.idata {
            I_DATA_HEADER_LEN
        } else {
            DATA_HEADER_LEN
        }
    }

    fn check_low(stream: u16, st: &OutStream, sent: usize, events: &mut VecDeque<Event>) {
        let before = st.buffered + sent;
        if before > st.low_threshold && st.buffered <= st.low_threshold {
            events.push_back(Event::BufferedAmountLow(stream));
        }
    }
}

/// The bytes `len` bytes of a message with `ppid` count in its stream's
/// `bufferedAmount`. W3C webrtc-pc `send()` counts the bytes of the
/// application's data; an empty message goes as one byte with the "empty"
/// PPID (RFC 8831 §6.6), which is not the application's, so it counts 0,
/// as a DCEP message (DATA_CHANNEL_OPEN / ACK, PPID 50, RFC 8832) does.
fn counted(ppid: u32, len: usize) -> usize {
    match ppid {
        crate::ppid::STRING_EMPTY | crate::ppid::BINARY_EMPTY | crate::ppid::DCEP => 0,
        _ => len,
    }
}

/// Writes one DATA (RFC 9260 §3.3.1) or I-DATA (RFC 8260 §2.1) chunk.
#[allow(clippy::too_many_arguments)]
fn write_chunk(
    buf: &mut Vec<u8>,
    idata: bool,
    flags: u8,
    tsn: u32,
    stream: u16,
    seq: u32,
    ppid: u32,
    fsn: u32,
    payload: &[u8],
) {
    if idata {
        let ppid_or_fsn = if flags & flag::BEGIN != 0 { ppid } else { fsn };
        chunk::write_idata(
            buf,
            &IData {
                flags,
                tsn,
                stream,
                mid: seq,
                ppid_or_fsn,
                payload,
            },
        );
    } else {
        chunk::write_data(
            buf,
            &Data {
                flags,
                tsn,
                stream,
                ssn: seq as u16,
                ppid,
                payload,
            },
        );
    }
}
