//! Receiving side: the data tracker (cumulative TSN, gap-ack blocks,
//! duplicates; RFC 9260 §6.2), reassembly of fragments (§6.9) and in-order
//! delivery per stream (§6.6), with PR-SCTP's FORWARD-TSN (RFC 3758 §3.6).
//!
//! Memory is bounded: every fragment and every completed message waiting
//! for its turn costs its payload plus [`ENTRY_OVERHEAD`], and the sum never
//! passes the hard limit (twice the advertised receive window).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use crate::chunk::{self, Data, IData, flag};
use crate::tsn::{unwrap_u16, unwrap_u32};
use crate::{Error, Event, Message};

/// Accounting cost of one buffered fragment or message beyond its payload,
/// so that a flood of tiny messages is bounded too.
pub(crate) const ENTRY_OVERHEAD: usize = 64;
/// At most this many duplicate TSNs are reported per SACK.
const MAX_DUPS: usize = 16;
/// At most this many gap-ack blocks are reported per SACK.
const MAX_GAP_BLOCKS: usize = 64;
/// A DATA chunk this far beyond the cumulative TSN is dropped.
const MAX_TSN_AHEAD: u64 = 1 << 16;

/// A run of DATA fragments of one message with consecutive TSNs, kept as
/// one buffer (RFC 9260 §6.9): fragments that arrive in order are appended
/// where they land, so reassembly copies each byte once and never walks
/// the fragments again. Keyed in `fragments` by its first TSN.
#[derive(Debug)]
struct Run {
    /// TSN of the run's last fragment.
    last: u64,
    /// BEGIN of the first fragment, END of the last, UNORDERED.
    flags: u8,
    stream: u16,
    ssn: u16,
    ppid: u32,
    data: Vec<u8>,
    /// Fragments in the run (each costs [`ENTRY_OVERHEAD`]).
    pieces: usize,
}

impl Run {
    fn cost(&self) -> usize {
        self.data.len() + self.pieces * ENTRY_OVERHEAD
    }

    /// Whether `next`, starting right after this run's last TSN, carries
    /// on the same message (§6.9: the fragments of a message have
    /// consecutive TSNs, the first marked B, the last E).
    fn continues_with(&self, next: &Run) -> bool {
        let unordered = self.flags & flag::UNORDERED;
        self.flags & flag::END == 0
            && next.flags & flag::BEGIN == 0
            && self.stream == next.stream
            && unordered == next.flags & flag::UNORDERED
            && (unordered != 0 || self.ssn == next.ssn)
    }

    /// Appends `next` (which [`continues_with`](Self::continues_with) this).
    fn append(&mut self, next: Run) {
        self.last = next.last;
        self.flags |= next.flags & flag::END;
        self.pieces += next.pieces;
        if self.data.is_empty() {
            self.data = next.data;
        } else {
            self.data.extend_from_slice(&next.data);
        }
    }

    fn complete(&self) -> bool {
        self.flags & (flag::BEGIN | flag::END) == (flag::BEGIN | flag::END)
    }
}

/// An I-DATA message being reassembled (RFC 8260 §2.1), keyed by
/// (stream, unordered, MID). Fragments that arrive in FSN order are
/// appended to `head` where they land; only those ahead of a gap wait in
/// `ahead`, by FSN.
#[derive(Debug, Default)]
struct Partial {
    ppid: Option<u32>,
    last_fsn: Option<u32>,
    /// Payload bytes held (`head` and `ahead`).
    size: usize,
    /// Fragments 0..`next` in order.
    head: Vec<u8>,
    /// The FSN `head` waits for.
    next: u32,
    /// Fragments past a gap.
    ahead: BTreeMap<u32, Vec<u8>>,
}

impl Partial {
    /// Fragments held.
    fn pieces(&self) -> usize {
        self.next as usize + self.ahead.len()
    }

    /// What the partial message counts against the window.
    fn cost(&self) -> usize {
        self.size + self.pieces() * ENTRY_OVERHEAD
    }

    /// Adds fragment `fsn`; returns the payload bytes it added (0 for a
    /// fragment already held, which is dropped).
    fn insert(&mut self, fsn: u32, payload: &[u8]) -> usize {
        if fsn < self.next || self.ahead.contains_key(&fsn) {
            return 0;
        }
        if fsn > self.next {
            self.ahead.insert(fsn, payload.to_vec());
        } else {
            self.head.extend_from_slice(payload);
            self.next += 1;
            while let Some(f) = self.ahead.remove(&self.next) {
                self.head.extend_from_slice(&f);
                self.next += 1;
            }
        }
        self.size += payload.len();
        payload.len()
    }

    /// Whether every fragment from the first (B) to the last (E) is in `head`.
    fn complete(&self) -> bool {
        self.ppid.is_some()
            && self
                .last_fsn
                .is_some_and(|last| u64::from(last) + 1 == u64::from(self.next))
    }
}

/// Where a stream's unwrapped SSN / MID count starts (the wire's 0).
///
/// Unwrapping a 16-bit SSN or 32-bit MID takes the value nearest the next
/// one expected (RFC 1982), which may lie behind it: from 0, SSN 40000 is
/// 25,536 behind. Counted from 0 that would clamp to 0 and pass for the
/// next message; counted from here it is below the next expected, stale,
/// as it is anywhere later in the stream (RFC 9260 §6.6).
const SEQ_BASE: u64 = 1 << 32;

#[derive(Debug)]
struct InStream {
    /// Next SSN to deliver, unwrapped (from [`SEQ_BASE`]).
    next_ssn: u64,
    /// Complete ordered messages waiting for earlier ones, by unwrapped SSN.
    pending: BTreeMap<u64, Message>,
}

impl Default for InStream {
    fn default() -> Self {
        Self {
            next_ssn: SEQ_BASE,
            pending: BTreeMap::new(),
        }
    }
}

/// A chunk held while an incoming reset waits for its last TSN.
#[derive(Debug)]
struct Held {
    flags: u8,
    /// Unwrapped.
    tsn: u64,
    stream: u16,
    /// SSN (DATA) or MID (I-DATA).
    seq: u32,
    /// PPID (DATA, first I-DATA fragment) or FSN (other I-DATA fragments).
    ppid_or_fsn: u32,
    payload: Vec<u8>,
}

impl Held {
    fn cost(&self) -> usize {
        self.payload.len() + ENTRY_OVERHEAD
    }
}

impl DeferredReset {
    /// Whether the reset is of `stream`: an empty list is of every stream
    /// (RFC 6525 §4.1).
    fn covers(&self, stream: u16) -> bool {
        self.streams.is_empty() || self.streams.contains(&stream)
    }

    /// Whether held data shows that `stream`'s next use (with the same U
    /// flag) may have a message at or below `new_cum`, which a FORWARD-TSN
    /// up to it abandons: a held chunk at TSN `t` with SSN / MID `n`, `k`
    /// fragments into its message, puts the next use's first message at
    /// TSN `t - k - n` at the latest (`k` is the I-DATA FSN; for DATA,
    /// one for any fragment but the first). Only then is an entry for the
    /// stream about its next use. A sender
    /// sends nothing on a stream it asked to reset until the reset is
    /// performed (RFC 6525 §5.1.2), and without such data the entry is
    /// about the old use, and applies to it before the reset (an old
    /// message waiting behind the abandoned one is delivered; the next
    /// use's messages are not skipped). One FORWARD-TSN listing both uses
    /// of one stream cannot be told apart.
    fn next_use_abandoned(&self, stream: u16, unordered: bool, new_cum: u64, idata: bool) -> bool {
        self.held.iter().any(|h| {
            h.stream == stream
                && (h.flags & flag::UNORDERED != 0) == unordered
                && h.tsn
                    .saturating_sub(u64::from(h.seq) + Self::fragments_before(h, idata))
                    <= new_cum
        })
    }

    /// How many fragments of its message come before held chunk `h`, at
    /// least: its FSN (I-DATA), or one unless it is a first fragment (DATA).
    fn fragments_before(h: &Held, idata: bool) -> u64 {
        match (h.flags & flag::BEGIN != 0, idata) {
            (true, _) => 0,
            (false, true) => u64::from(h.ppid_or_fsn),
            (false, false) => 1,
        }
    }
}

/// An incoming reset in "deferred reset processing" (RFC 6525 §5.2.2 E2):
/// its streams, its Sender's Last Assigned TSN (unwrapped), and the chunks
/// for those streams with a later TSN, which belong to the streams' next
/// use and wait for the reset.
#[derive(Debug)]
struct DeferredReset {
    streams: HashSet<u16>,
    last: u64,
    held: Vec<Held>,
    /// The part of a FORWARD-TSN / I-FORWARD-TSN that moved the cumulative
    /// TSN past `last` which is about the streams' next use: applied once
    /// the reset is performed (at once, in the same chunk's handling).
    forward: Option<Forward>,
}

/// What a FORWARD-TSN / I-FORWARD-TSN does beyond moving the cumulative
/// TSN: its new cumulative TSN (unwrapped), and its entries (stream,
/// unordered, SSN or MID) that remain to be applied.
#[derive(Debug)]
struct Forward {
    new_cum: u64,
    entries: Vec<(u16, bool, u32)>,
}

/// What the association should do after a DATA chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DataOutcome {
    /// New data accepted.
    Accepted,
    /// Already had it: SACK at once (RFC 9260 §6.2).
    Duplicate,
    /// No room: dropped; the peer will retransmit.
    Dropped,
    /// Stream id out of range: acknowledged and reported (RFC 9260 §6.5).
    InvalidStream,
}

/// Whether a data chunk passed [`Receiver::admit`]'s checks.
enum Admit {
    /// Keep the payload; the unwrapped TSN.
    Accept(u64),
    /// Stop here with this outcome.
    Reject(DataOutcome),
}

/// The receive side of an association.
#[derive(Debug)]
pub(crate) struct Receiver {
    /// Highest TSN received in sequence (unwrapped).
    cum_tsn: u64,
    /// TSNs above `cum_tsn` received.
    received: BTreeSet<u64>,
    dups: Vec<u32>,
    /// DATA fragments being reassembled, in runs keyed by first TSN.
    fragments: BTreeMap<u64, Run>,
    partials: HashMap<(u16, bool, u32), Partial>,
    streams: HashMap<u16, InStream>,
    /// Per stream, the last TSN (unwrapped) before its latest incoming
    /// reset (RFC 6525 §5.2.2); see [`Receiver::refers_to_current_use`].
    /// At most one entry per inbound stream.
    resets: HashMap<u16, u64>,
    /// The incoming reset waiting for its last TSN, if any (one at a time).
    deferred: Option<DeferredReset>,
    /// Partial messages looked at when dropping some (work counter for tests).
    #[cfg(test)]
    partial_visits: usize,
    /// I-DATA in use: ordering by 32-bit MID instead of 16-bit SSN.
    idata: bool,
    /// Bytes held in fragments and pending messages (with overhead).
    buffered: usize,
    inbound_streams: u16,
    max_message_size: usize,
    max_fragments: usize,
    /// Bytes held by undelivered message events (maintained by the association).
    pub(crate) event_bytes: usize,
    pub(crate) window: usize,
}

impl Receiver {
    /// Frees the capacity of empty buffers.
    pub(crate) fn trim_idle(&mut self) {
        if self.dups.is_empty() && self.dups.capacity() > 0 {
            self.dups = Vec::new();
        }
        if self.partials.is_empty() && self.partials.capacity() > 0 {
            self.partials = HashMap::new();
        }
    }

    pub(crate) fn new(
        peer_initial_tsn: u32,
        inbound_streams: u16,
        window: usize,
        max_message_size: usize,
        idata: bool,
    ) -> Self {
        Self {
            cum_tsn: (1u64 << 32) + u64::from(peer_initial_tsn.wrapping_sub(1)),
            received: BTreeSet::new(),
            dups: Vec::new(),
            fragments: BTreeMap::new(),
            partials: HashMap::new(),
            streams: HashMap::new(),
            resets: HashMap::new(),
            deferred: None,
            #[cfg(test)]
            partial_visits: 0,
            idata,
            buffered: 0,
            inbound_streams,
            max_message_size,
            max_fragments: max_message_size / 256 + 16,
            event_bytes: 0,
            window,
        }
    }

    /// The cumulative TSN ack point as sent on the wire.
    pub(crate) fn cum_tsn(&self) -> u32 {
        self.cum_tsn as u32
    }

    /// Bytes held: reassembly, pending and undelivered events.
    pub(crate) fn held(&self) -> usize {
        self.buffered + self.event_bytes
    }

    /// The advertised receiver window (RFC 9260 §6.2).
    pub(crate) fn a_rwnd(&self) -> u32 {
        self.window.saturating_sub(self.held()) as u32
    }

    /// Whether there are gaps (out-of-order TSNs): SACK at once.
    pub(crate) fn has_gaps(&self) -> bool {
        !self.received.is_empty()
    }

    /// The checks a DATA or I-DATA chunk passes before its payload is kept:
    /// duplicates are recorded for the SACK, TSNs too far ahead and chunks
    /// over the memory limit are dropped, an invalid stream is acknowledged
    /// and discarded (RFC 9260 §6.5). An accepted TSN is marked received.
    fn admit(
        &mut self,
        wire_tsn: u32,
        stream: u16,
        payload_len: usize,
        empty: &'static str,
    ) -> Result<Admit, Error> {
        let tsn = unwrap_u32(self.cum_tsn, wire_tsn);
        if tsn <= self.cum_tsn || self.received.contains(&tsn) {
            if self.dups.len() < MAX_DUPS {
                self.dups.push(wire_tsn);
            }
            return Ok(Admit::Reject(DataOutcome::Duplicate));
        }
        if tsn - self.cum_tsn > MAX_TSN_AHEAD {
            return Ok(Admit::Reject(DataOutcome::Dropped));
        }
        if payload_len == 0 {
            return Err(Error::ProtocolViolation(empty));
        }
        if stream >= self.inbound_streams {
            self.mark_received(tsn);
            return Ok(Admit::Reject(DataOutcome::InvalidStream));
        }
        // Hard limit: twice the window (the peer counts payload only, we
        // count overhead too, so a compliant peer may overshoot a little).
        if self.held() + payload_len + ENTRY_OVERHEAD > self.window.saturating_mul(2) {
            return Ok(Admit::Reject(DataOutcome::Dropped));
        }
        self.mark_received(tsn);
        Ok(Admit::Accept(tsn))
    }

    /// Handles one DATA chunk; complete messages go to `out`.
    pub(crate) fn handle_data(
        &mut self,
        d: &Data<'_>,
        out: &mut VecDeque<Event>,
    ) -> Result<DataOutcome, Error> {
        let tsn = match self.admit(
            d.tsn,
            d.stream,
            d.payload.len(),
            "DATA chunk without user data",
        )? {
            Admit::Accept(tsn) => tsn,
            Admit::Reject(outcome) => return Ok(outcome),
        };
        if self.hold(tsn, d.flags, d.stream, u32::from(d.ssn), d.ppid, d.payload) {
            return Ok(DataOutcome::Accepted);
        }
        self.take_data(tsn, d, out)?;
        Ok(DataOutcome::Accepted)
    }

    /// Keeps an admitted DATA chunk: delivers it, or adds it to reassembly.
    fn take_data(
        &mut self,
        tsn: u64,
        d: &Data<'_>,
        out: &mut VecDeque<Event>,
    ) -> Result<(), Error> {
        let cost = d.payload.len() + ENTRY_OVERHEAD;
        let whole = d.flags & (flag::BEGIN | flag::END) == (flag::BEGIN | flag::END);
        if whole {
            if d.payload.len() > self.max_message_size {
                return Err(Error::MessageTooLarge {
                    size: d.payload.len(),
                    max: self.max_message_size,
                });
            }
            let msg = Message {
                stream: d.stream,
                ppid: d.ppid,
                unordered: d.flags & flag::UNORDERED != 0,
                data: d.payload.to_vec(),
            };
            self.complete(msg, u32::from(d.ssn), out);
        } else {
            self.buffered += cost;
            let run = Run {
                last: tsn,
                flags: d.flags,
                stream: d.stream,
                ssn: d.ssn,
                ppid: d.ppid,
                data: d.payload.to_vec(),
                pieces: 1,
            };
            self.reassemble(tsn, run, out)?;
        }
        Ok(())
    }

    /// Holds a chunk admitted at `tsn` if it is for a stream whose reset
    /// waits and comes after the reset's last TSN (RFC 6525 §5.2.2 E2:
    /// such data "MUST be queued locally and held" until the reset is
    /// performed). It counts against the window like any buffered chunk.
    fn hold(
        &mut self,
        tsn: u64,
        flags: u8,
        stream: u16,
        seq: u32,
        ppid_or_fsn: u32,
        payload: &[u8],
    ) -> bool {
        let Some(d) = self.deferred.as_mut() else {
            return false;
        };
        if tsn <= d.last || !d.covers(stream) {
            return false;
        }
        let held = Held {
            flags,
            tsn,
            stream,
            seq,
            ppid_or_fsn,
            payload: payload.to_vec(),
        };
        self.buffered += held.cost();
        d.held.push(held);
        true
    }

    /// Enters deferred reset processing (RFC 6525 §5.2.2 E2) for `streams`
    /// (none listed: every stream, §4.1) until every TSN up to `last_tsn`
    /// is received. A retransmitted
    /// request keeps what is already held.
    pub(crate) fn defer_reset(&mut self, streams: &[u16], last_tsn: u32) {
        let last = unwrap_u32(self.cum_tsn, last_tsn);
        let streams = streams.iter().copied().collect();
        match self.deferred.as_mut() {
            Some(d) => {
                d.streams = streams;
                d.last = last;
            }
            None => {
                self.deferred = Some(DeferredReset {
                    streams,
                    last,
                    held: Vec::new(),
                    forward: None,
                });
            }
        }
    }

    /// Leaves deferred reset processing once the reset is performed: the
    /// held chunks are processed as if they arrived now (RFC 6525 §5.2.2
    /// E4: "released and processed normally"), in arrival order; then the
    /// part of a FORWARD-TSN that performed the reset and is about the
    /// streams' next use, as it came after them (RFC 3758 §3.6: their
    /// abandoned messages are skipped, their fragments at or below its new
    /// cumulative TSN discarded).
    pub(crate) fn release_held(&mut self, out: &mut VecDeque<Event>) -> Result<(), Error> {
        let Some(d) = self.deferred.take() else {
            return Ok(());
        };
        self.release(d.held, out)?;
        if let Some(f) = d.forward {
            self.forward(f.new_cum, f.entries.into_iter(), out);
        }
        Ok(())
    }

    /// Processes held chunks in arrival order (see [`Self::release_held`]).
    fn release(&mut self, held: Vec<Held>, out: &mut VecDeque<Event>) -> Result<(), Error> {
        let mut held = held.into_iter();
        let mut result = Ok(());
        for h in held.by_ref() {
            self.buffered = self.buffered.saturating_sub(h.cost());
            result = if self.idata {
                let d = IData {
                    flags: h.flags,
                    tsn: h.tsn as u32,
                    stream: h.stream,
                    mid: h.seq,
                    ppid_or_fsn: h.ppid_or_fsn,
                    payload: &h.payload,
                };
                self.take_idata(&d, out)
            } else {
                let d = Data {
                    flags: h.flags,
                    tsn: h.tsn as u32,
                    stream: h.stream,
                    ssn: h.seq as u16,
                    ppid: h.ppid_or_fsn,
                    payload: &h.payload,
                };
                self.take_data(h.tsn, &d, out)
            };
            if result.is_err() {
                break;
            }
        }
        // After an error (the association aborts) the rest is freed.
        for h in held {
            self.buffered = self.buffered.saturating_sub(h.cost());
        }
        result
    }

    fn mark_received(&mut self, tsn: u64) {
        if tsn == self.cum_tsn + 1 {
            self.cum_tsn = tsn;
            while self.received.remove(&(self.cum_tsn + 1)) {
                self.cum_tsn += 1;
            }
        } else {
            self.received.insert(tsn);
        }
    }

    /// Joins the fragment at `tsn` (a run of one) to the runs before and
    /// after it, and delivers the message once one run holds all of it
    /// (§6.9).
    fn reassemble(
        &mut self,
        tsn: u64,
        mut run: Run,
        out: &mut VecDeque<Event>,
    ) -> Result<(), Error> {
        let limits = (self.max_message_size, self.max_fragments);
        let mut first = tsn;
        // The run just before, if this fragment carries it on.
        if let Some((&key, before)) = self.fragments.range_mut(..tsn).next_back()
            && before.last + 1 == tsn
            && before.continues_with(&run)
        {
            Self::check_limits(limits, before, &run)?;
            before.append(run);
            first = key;
            run = match self.fragments.remove(&key) {
                Some(r) => r,
                None => return Ok(()),
            };
        }
        // The run just after, if this one carries on into it.
        if let Some(after) = self.fragments.get(&(run.last + 1))
            && run.continues_with(after)
        {
            Self::check_limits(limits, &run, after)?;
            if let Some(after) = self.fragments.remove(&(run.last + 1)) {
                run.append(after);
            }
        }
        if !run.complete() {
            self.fragments.insert(first, run);
            return Ok(());
        }
        self.buffered = self.buffered.saturating_sub(run.cost());
        let msg = Message {
            stream: run.stream,
            ppid: run.ppid,
            unordered: run.flags & flag::UNORDERED != 0,
            data: run.data,
        };
        self.complete(msg, u32::from(run.ssn), out);
        Ok(())
    }

    /// A message may not pass the largest message size nor come in more
    /// fragments than that size allows.
    fn check_limits(limits: (usize, usize), a: &Run, b: &Run) -> Result<(), Error> {
        let (max_message_size, max_fragments) = limits;
        let size = a.data.len() + b.data.len();
        if size > max_message_size {
            return Err(Error::MessageTooLarge {
                size,
                max: max_message_size,
            });
        }
        if a.pieces + b.pieces > max_fragments {
            return Err(Error::ProtocolViolation("message in too many fragments"));
        }
        Ok(())
    }

    /// A message is complete: deliver it now or hold it for stream order (§6.6).
    fn complete(&mut self, msg: Message, seq: u32, out: &mut VecDeque<Event>) {
        if msg.unordered {
            self.deliver(msg, out);
            return;
        }
        let idata = self.idata;
        let st = self.streams.entry(msg.stream).or_default();
        let ssn = if idata {
            unwrap_u32(st.next_ssn, seq)
        } else {
            unwrap_u16(st.next_ssn, seq as u16)
        };
        if ssn < st.next_ssn {
            return; // stale (skipped by FORWARD-TSN): drop.
        }
        if ssn == st.next_ssn {
            st.next_ssn += 1;
            let stream = msg.stream;
            self.deliver(msg, out);
            // Only this stream's next messages can have become deliverable.
            self.drain_stream_of(out, Some(stream));
        } else {
            self.buffered += msg.data.len() + ENTRY_OVERHEAD;
            let stream = msg.stream;
            if let Some(st) = self.streams.get_mut(&stream) {
                st.pending.insert(ssn, msg);
            }
        }
    }

    fn deliver(&mut self, msg: Message, out: &mut VecDeque<Event>) {
        self.event_bytes += msg.data.len() + ENTRY_OVERHEAD;
        out.push_back(Event::Message(msg));
    }

    /// Delivers pending in-order messages on every stream (or only `only`).
    fn drain_stream_of(&mut self, out: &mut VecDeque<Event>, only: Option<u16>) {
        match only {
            Some(id) => self.drain_one(id, out),
            None => {
                let ids: Vec<u16> = self
                    .streams
                    .iter()
                    .filter(|(_, st)| !st.pending.is_empty())
                    .map(|(id, _)| *id)
                    .collect();
                for id in ids {
                    self.drain_one(id, out);
                }
            }
        }
    }

    /// Delivers stream `id`'s pending messages that are next in order.
    fn drain_one(&mut self, id: u16, out: &mut VecDeque<Event>) {
        loop {
            let Some(st) = self.streams.get_mut(&id) else {
                return;
            };
            let Some(entry) = st.pending.first_entry() else {
                return;
            };
            if *entry.key() > st.next_ssn {
                return;
            }
            let stale = *entry.key() < st.next_ssn;
            let m = entry.remove();
            self.buffered = self.buffered.saturating_sub(m.data.len() + ENTRY_OVERHEAD);
            if !stale {
                st.next_ssn += 1;
                self.deliver(m, out);
            }
        }
    }

    /// Handles one I-DATA chunk (RFC 8260 §2.1).
    pub(crate) fn handle_idata(
        &mut self,
        d: &IData<'_>,
        out: &mut VecDeque<Event>,
    ) -> Result<DataOutcome, Error> {
        let tsn = match self.admit(
            d.tsn,
            d.stream,
            d.payload.len(),
            "I-DATA chunk without user data",
        )? {
            Admit::Accept(tsn) => tsn,
            Admit::Reject(outcome) => return Ok(outcome),
        };
        if self.hold(tsn, d.flags, d.stream, d.mid, d.ppid_or_fsn, d.payload) {
            return Ok(DataOutcome::Accepted);
        }
        self.take_idata(d, out)?;
        Ok(DataOutcome::Accepted)
    }

    /// Keeps an admitted I-DATA chunk: delivers it, or adds it to its
    /// partial message.
    fn take_idata(&mut self, d: &IData<'_>, out: &mut VecDeque<Event>) -> Result<(), Error> {
        let cost = d.payload.len() + ENTRY_OVERHEAD;
        let unordered = d.flags & flag::UNORDERED != 0;
        let begin = d.flags & flag::BEGIN != 0;
        let end = d.flags & flag::END != 0;
        if begin && end {
            if d.payload.len() > self.max_message_size {
                return Err(Error::MessageTooLarge {
                    size: d.payload.len(),
                    max: self.max_message_size,
                });
            }
            let msg = Message {
                stream: d.stream,
                ppid: d.ppid_or_fsn,
                unordered,
                data: d.payload.to_vec(),
            };
            self.complete(msg, d.mid, out);
            return Ok(());
        }
        let key = (d.stream, unordered, d.mid);
        let fsn = if begin { 0 } else { d.ppid_or_fsn };
        let p = self.partials.entry(key).or_default();
        if begin {
            p.ppid = Some(d.ppid_or_fsn);
        }
        if end {
            p.last_fsn = Some(fsn);
        }
        let added = p.insert(fsn, d.payload);
        if added > 0 {
            self.buffered += cost;
        }
        if p.size > self.max_message_size {
            return Err(Error::MessageTooLarge {
                size: p.size,
                max: self.max_message_size,
            });
        }
        if p.pieces() > self.max_fragments {
            return Err(Error::ProtocolViolation("message in too many fragments"));
        }
        if p.complete()
            && let Some(p) = self.partials.remove(&key)
        {
            self.buffered = self.buffered.saturating_sub(p.cost());
            let msg = Message {
                stream: d.stream,
                ppid: p.ppid.unwrap_or(0),
                unordered,
                data: p.head,
            };
            self.complete(msg, d.mid, out);
        }
        Ok(())
    }

    /// I-FORWARD-TSN (RFC 8260 §2.3): like FORWARD-TSN, per (stream, U, MID).
    pub(crate) fn handle_iforward_tsn(
        &mut self,
        f: &chunk::IForwardTsn<'_>,
        out: &mut VecDeque<Event>,
    ) -> bool {
        let new_cum = unwrap_u32(self.cum_tsn, f.new_cum_tsn);
        if !self.advance_cum(f.new_cum_tsn) {
            return false;
        }
        self.forward(new_cum, f.entries(), out);
        true
    }

    /// Moves the cumulative TSN to a peer's new cumulative TSN (RFC 3758 §3.6).
    fn advance_cum(&mut self, new_cum_tsn: u32) -> bool {
        let new_cum = unwrap_u32(self.cum_tsn, new_cum_tsn);
        if new_cum <= self.cum_tsn || new_cum - self.cum_tsn > MAX_TSN_AHEAD {
            return false;
        }
        self.cum_tsn = new_cum;
        while let Some(&t) = self.received.first() {
            if t <= self.cum_tsn {
                self.received.remove(&t);
            } else {
                break;
            }
        }
        while self.received.remove(&(self.cum_tsn + 1)) {
            self.cum_tsn += 1;
        }
        true
    }

    /// FORWARD-TSN (RFC 3758 §3.6): move the cumulative TSN, drop abandoned
    /// fragments, skip the listed SSNs and deliver what becomes in order.
    pub(crate) fn handle_forward_tsn(
        &mut self,
        f: &chunk::ForwardTsn<'_>,
        out: &mut VecDeque<Event>,
    ) -> bool {
        let new_cum = unwrap_u32(self.cum_tsn, f.new_cum_tsn);
        if !self.advance_cum(f.new_cum_tsn) {
            return false;
        }
        let entries = f.streams().map(|(s, ssn)| (s, false, u32::from(ssn)));
        self.forward(new_cum, entries, out);
        true
    }

    /// A FORWARD-TSN / I-FORWARD-TSN past moving the cumulative TSN to
    /// `new_cum`: drops the fragments of abandoned messages, skips the
    /// listed SSNs / MIDs (`entries`: stream, unordered, SSN or MID) and
    /// delivers what becomes in order.
    ///
    /// While a reset waits for its last TSN (RFC 6525 §5.2.2 E2) and
    /// `new_cum` passes it, the entries about the reset streams' next use
    /// (as [`Self::refers_to_current_use`] will judge them after the reset,
    /// and only where held data shows the next use abandoned: see
    /// [`DeferredReset::next_use_abandoned`]) are kept for
    /// [`Self::release_held`]: the reset comes first, then the held
    /// chunks, then these entries, as the peer sent them.
    fn forward(
        &mut self,
        new_cum: u64,
        entries: impl Iterator<Item = (u16, bool, u32)>,
        out: &mut VecDeque<Event>,
    ) {
        let mut later = self
            .deferred
            .as_ref()
            .filter(|d| new_cum > d.last)
            .map(|_| Forward {
                new_cum,
                entries: Vec::new(),
            });
        // DATA runs hold one message each: one that starts at or below the
        // new cumulative TSN belongs to an abandoned message.
        while let Some(entry) = self.fragments.first_entry() {
            if *entry.key() > new_cum {
                break;
            }
            let run = entry.remove();
            self.buffered = self.buffered.saturating_sub(run.cost());
        }
        // The entries fold into the last SSN / MID skipped per (stream, U),
        // then one pass over the partial I-DATA messages drops those at or
        // before it: linear in entries plus partials, where a pass per
        // entry was their product.
        let mut skip: HashMap<(u16, bool), u32> = HashMap::new();
        for (stream, unordered, seq) in entries {
            if let (Some(f), Some(d)) = (later.as_mut(), self.deferred.as_ref())
                && d.covers(stream)
                && new_cum > d.last + u64::from(seq)
                && d.next_use_abandoned(stream, unordered, new_cum, self.idata)
            {
                f.entries.push((stream, unordered, seq));
                continue;
            }
            if !self.refers_to_current_use(stream, seq, new_cum) {
                continue;
            }
            if self.idata {
                skip.entry((stream, unordered))
                    .and_modify(|m| {
                        if seq.wrapping_sub(*m) < 1 << 31 {
                            *m = seq;
                        }
                    })
                    .or_insert(seq);
            }
            if !unordered {
                let idata = self.idata;
                if let Some(st) = self.streams.get_mut(&stream) {
                    let seq = if idata {
                        unwrap_u32(st.next_ssn, seq)
                    } else {
                        unwrap_u16(st.next_ssn, seq as u16)
                    };
                    if seq >= st.next_ssn {
                        st.next_ssn = seq + 1;
                    }
                } else {
                    let st = self.streams.entry(stream).or_default();
                    st.next_ssn = SEQ_BASE + u64::from(seq) + 1;
                }
            }
        }
        if !skip.is_empty() {
            self.drop_partials(|s, u, m| {
                skip.get(&(s, u))
                    .is_some_and(|mid| mid.wrapping_sub(m) < 1 << 31)
            });
        }
        if let Some(f) = later
            && let Some(d) = self.deferred.as_mut()
        {
            match d.forward.as_mut() {
                // Not performed after an earlier one (the association does
                // at once): the later chunk's entries come after.
                Some(earlier) => {
                    earlier.new_cum = f.new_cum;
                    earlier.entries.extend(f.entries);
                }
                None => d.forward = Some(f),
            }
        }
        self.drain_stream_of(out, None);
    }

    /// Whether a FORWARD-TSN / I-FORWARD-TSN entry skipping `seq` (SSN or
    /// MID) on `stream`, in a chunk whose new cumulative TSN is `new_cum`,
    /// can be about the stream's use since its last incoming reset.
    ///
    /// A sender lists a stream while abandoned chunks of it are not yet
    /// acknowledged, so a FORWARD-TSN sent after the stream was reset here
    /// (RFC 6525 §5.2.2: its SSNs / MIDs start again at 0) may still name
    /// an SSN of its previous use. Taken as it stands, it would make the
    /// reused stream skip its first messages. After the reset, which came
    /// after TSN L, the message numbered k has a TSN of at least L + 1 + k;
    /// an entry for it needs the new cumulative TSN to have reached that.
    /// Anything else is about the stream's previous use: ignored.
    fn refers_to_current_use(&mut self, stream: u16, seq: u32, new_cum: u64) -> bool {
        let Some(&last) = self.resets.get(&stream) else {
            return true;
        };
        let max_seq = if self.idata {
            u64::from(u32::MAX)
        } else {
            u64::from(u16::MAX)
        };
        if new_cum > last + max_seq {
            // Past any number the stream could reuse: forget the reset.
            self.resets.remove(&stream);
            return true;
        }
        new_cum > last + u64::from(seq)
    }

    /// Whether every TSN up to `last_tsn` has been received (RFC 6525 §5.2.2).
    pub(crate) fn reached(&self, last_tsn: u32) -> bool {
        unwrap_u32(self.cum_tsn, last_tsn) <= self.cum_tsn
    }

    /// Resets the incoming SSNs of `streams` to 0 (RFC 6525 §5.2.2), the
    /// peer's reset request having named `last_tsn` as the last TSN sent
    /// before it. A message partly received on a reset stream belongs to
    /// its old use and can never be completed: its fragments go, DATA runs
    /// that start at or before `last_tsn` in one pass over the runs, and
    /// partial I-DATA messages in one pass over the partials, however many
    /// streams the request lists. (Otherwise the old fragments would hold
    /// window space for good, and could join a fragment of the new use
    /// with the same SSN, RFC 9260 §6.9.)
    ///
    /// An empty list resets every stream (RFC 6525 §4.1): those this side
    /// holds anything for (a stream without state starts at 0 anyway).
    /// Returns the streams reset.
    pub(crate) fn reset_streams(&mut self, streams: &[u16], last_tsn: u32) -> Vec<u16> {
        let last = unwrap_u32(self.cum_tsn, last_tsn);
        let streams = if streams.is_empty() {
            self.streams_in_use()
        } else {
            streams.to_vec()
        };
        let mut reset = HashSet::with_capacity(streams.len());
        for &stream in &streams {
            if stream < self.inbound_streams {
                self.resets.insert(stream, last);
            }
            if let Some(st) = self.streams.remove(&stream) {
                for m in st.pending.values() {
                    self.buffered = self.buffered.saturating_sub(m.data.len() + ENTRY_OVERHEAD);
                }
            }
            reset.insert(stream);
        }
        self.drop_runs(|first, run| first <= last && reset.contains(&run.stream));
        self.drop_partials(|s, _, _| reset.contains(&s));
        streams
    }

    /// Every stream with state here (its sequence numbers, a message
    /// waiting for earlier ones or in pieces), in order.
    fn streams_in_use(&self) -> Vec<u16> {
        let mut v: Vec<u16> = self
            .streams
            .keys()
            .copied()
            .chain(self.fragments.values().map(|r| r.stream))
            .chain(self.partials.keys().map(|k| k.0))
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Drops the DATA fragment runs for which `skip(first TSN, run)`
    /// holds, in one pass, and frees what they held.
    fn drop_runs(&mut self, skip: impl Fn(u64, &Run) -> bool) {
        if self.fragments.is_empty() {
            return;
        }
        let mut freed = 0;
        self.fragments.retain(|&first, run| {
            let skipped = skip(first, run);
            if skipped {
                freed += run.cost();
            }
            !skipped
        });
        self.buffered = self.buffered.saturating_sub(freed);
    }

    /// Drops the partial I-DATA messages for which `skip(stream, unordered,
    /// MID)` holds, in one pass, and frees what they held.
    fn drop_partials(&mut self, skip: impl Fn(u16, bool, u32) -> bool) {
        if self.partials.is_empty() {
            return;
        }
        let mut freed = 0;
        #[cfg(test)]
        let visits = &mut self.partial_visits;
        self.partials.retain(|&(s, u, m), p| {
            #[cfg(test)]
            {
                *visits += 1;
            }
            let skipped = skip(s, u, m);
            if skipped {
                freed += p.cost();
            }
            !skipped
        });
        self.buffered = self.buffered.saturating_sub(freed);
    }

    /// Sets the number of inbound streams (after an Add Streams request).
    pub(crate) fn set_inbound_streams(&mut self, n: u16) {
        self.inbound_streams = n;
    }

    /// Number of inbound streams.
    pub(crate) fn inbound_streams(&self) -> u16 {
        self.inbound_streams
    }

    /// Writes a SACK chunk (RFC 9260 §3.3.4) and clears the duplicate list.
    pub(crate) fn write_sack(&mut self, buf: &mut Vec<u8>, room: usize) {
        let s = chunk::begin_chunk(buf, chunk::ty::SACK, 0);
        buf.extend_from_slice(&(self.cum_tsn as u32).to_be_bytes());
        buf.extend_from_slice(&self.a_rwnd().to_be_bytes());
        let counts_at = buf.len();
        buf.extend_from_slice(&[0; 4]);
        let max_blocks = (room.saturating_sub(16 + self.dups.len() * 4) / 4).min(MAX_GAP_BLOCKS);
        let mut blocks = 0u16;
        let mut run: Option<(u64, u64)> = None;
        let base = self.cum_tsn;
        for &t in &self.received {
            if usize::from(blocks) >= max_blocks || t - base > u64::from(u16::MAX) {
                break;
            }
            match run {
                Some((a, b)) if t == b + 1 => run = Some((a, t)),
                Some((a, b)) => {
                    buf.extend_from_slice(&((a - base) as u16).to_be_bytes());
                    buf.extend_from_slice(&((b - base) as u16).to_be_bytes());
                    blocks += 1;
                    run = Some((t, t));
                }
                None => run = Some((t, t)),
            }
        }
        if let Some((a, b)) = run {
            if usize::from(blocks) < max_blocks {
                buf.extend_from_slice(&((a - base) as u16).to_be_bytes());
                buf.extend_from_slice(&((b - base) as u16).to_be_bytes());
                blocks += 1;
            }
        }
        let ndups = self.dups.len() as u16;
        for d in self.dups.drain(..) {
            buf.extend_from_slice(&d.to_be_bytes());
        }
        buf[counts_at..counts_at + 2].copy_from_slice(&blocks.to_be_bytes());
        buf[counts_at + 2..counts_at + 4].copy_from_slice(&ndups.to_be_bytes());
        chunk::end_chunk(buf, s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::Sack;

    fn data(tsn: u32, flags: u8, ssn: u16, payload: &[u8]) -> Data<'_> {
        Data {
            flags,
            tsn,
            stream: 1,
            ssn,
            ppid: 53,
            payload,
        }
    }

    fn messages(out: &mut VecDeque<Event>) -> Vec<Vec<u8>> {
        out.drain(..)
            .filter_map(|e| match e {
                Event::Message(m) => Some(m.data),
                _ => None,
            })
            .collect()
    }

    const BE: u8 = flag::BEGIN | flag::END;

    #[test]
    fn ordered_messages_wait_for_earlier_ones() {
        let mut r = Receiver::new(100, 10, 1 << 20, 1 << 18, false);
        let mut out = VecDeque::new();
        r.handle_data(&data(101, BE, 1, b"b"), &mut out).unwrap();
        assert!(out.is_empty(), "SSN 1 waits for SSN 0");
        r.handle_data(&data(100, BE, 0, b"a"), &mut out).unwrap();
        assert_eq!(messages(&mut out), vec![b"a".to_vec(), b"b".to_vec()]);
        assert_eq!(r.cum_tsn(), 101);
    }

    #[test]
    fn fragments_reassemble_in_any_order() {
        let mut r = Receiver::new(0, 10, 1 << 20, 1 << 18, false);
        let mut out = VecDeque::new();
        r.handle_data(&data(2, flag::END, 0, b"c"), &mut out)
            .unwrap();
        r.handle_data(&data(0, flag::BEGIN, 0, b"a"), &mut out)
            .unwrap();
        assert!(out.is_empty());
        r.handle_data(&data(1, 0, 0, b"b"), &mut out).unwrap();
        assert_eq!(messages(&mut out), vec![b"abc".to_vec()]);
        assert_eq!(r.held(), r.event_bytes, "no fragment left behind");
    }

    #[test]
    fn a_long_message_reassembles_whole_from_fragments_in_any_order() {
        // 40 fragments of one message, arriving in order, reversed, and
        // shuffled (each later fragment joins the runs on both sides).
        let pieces: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i; 3]).collect();
        let whole: Vec<u8> = pieces.concat();
        let in_order: Vec<usize> = (0..40).collect();
        let reversed: Vec<usize> = (0..40).rev().collect();
        let shuffled: Vec<usize> = (0..40).map(|i| (i * 17) % 40).collect();
        for order in [in_order, reversed, shuffled] {
            let mut r = Receiver::new(0, 10, 1 << 20, 1 << 18, false);
            let mut out = VecDeque::new();
            for (n, &i) in order.iter().enumerate() {
                let flags = match i {
                    0 => flag::BEGIN,
                    39 => flag::END,
                    _ => 0,
                };
                r.handle_data(&data(i as u32, flags, 0, &pieces[i]), &mut out)
                    .unwrap();
                if n < 39 {
                    assert!(out.is_empty(), "delivered before the last fragment");
                }
            }
            assert_eq!(messages(&mut out), vec![whole.clone()], "order {order:?}");
            assert!(r.fragments.is_empty());
            assert_eq!(r.held(), r.event_bytes, "no fragment left behind");
        }
    }

    #[test]
    fn a_message_in_more_fragments_than_its_size_allows_is_a_protocol_violation() {
        // 1 KiB messages: at most 1024 / 256 + 16 = 20 fragments.
        let mut r = Receiver::new(0, 10, 1 << 20, 1024, false);
        let mut out = VecDeque::new();
        r.handle_data(&data(0, flag::BEGIN, 0, b"x"), &mut out)
            .unwrap();
        let mut result = Ok(DataOutcome::Accepted);
        for tsn in 1..30 {
            result = r.handle_data(&data(tsn, 0, 0, b"x"), &mut out);
            if result.is_err() {
                break;
            }
        }
        assert!(matches!(result, Err(Error::ProtocolViolation(_))));
    }

    #[test]
    fn a_forward_tsn_drops_the_fragments_of_an_abandoned_message() {
        let mut r = Receiver::new(0, 10, 1 << 20, 1 << 18, false);
        let mut out = VecDeque::new();
        // TSN 1 (the middle) never comes; the sender abandons TSNs 0-2.
        r.handle_data(&data(0, flag::BEGIN, 0, b"head"), &mut out)
            .unwrap();
        r.handle_data(&data(2, flag::END, 0, b"tail"), &mut out)
            .unwrap();
        assert!(r.held() > 0);
        // New cumulative TSN 2; stream 1 skips SSN 0 (RFC 3758 §3.2).
        let value = [0, 0, 0, 2, 0, 1, 0, 0];
        let fwd = chunk::ForwardTsn::parse(&value).unwrap();
        assert!(r.handle_forward_tsn(&fwd, &mut out));
        assert!(r.fragments.is_empty());
        assert_eq!(r.held(), 0);
        // The stream goes on with the next message.
        r.handle_data(&data(3, BE, 1, b"next"), &mut out).unwrap();
        assert_eq!(messages(&mut out), vec![b"next".to_vec()]);
    }

    #[test]
    fn duplicates_are_reported_once_in_the_next_sack() {
        let mut r = Receiver::new(0, 10, 1 << 20, 1 << 18, false);
        let mut out = VecDeque::new();
        r.handle_data(&data(0, BE, 0, b"a"), &mut out).unwrap();
        let again = r.handle_data(&data(0, BE, 0, b"a"), &mut out).unwrap();
        assert_eq!(again, DataOutcome::Duplicate);
        let mut buf = Vec::new();
        r.write_sack(&mut buf, 1000);
        let sack = Sack::parse(&buf[4..]).unwrap();
        assert_eq!(sack.dup_count(), 1);
        buf.clear();
        r.write_sack(&mut buf, 1000);
        assert_eq!(Sack::parse(&buf[4..]).unwrap().dup_count(), 0);
    }

    #[test]
    fn sack_reports_gap_blocks_relative_to_cum_tsn() {
        let mut r = Receiver::new(10, 10, 1 << 20, 1 << 18, false);
        let mut out = VecDeque::new();
        for (tsn, ssn) in [(10, 0), (12, 2), (13, 3), (15, 5)] {
            r.handle_data(&data(tsn, BE, ssn, b"x"), &mut out).unwrap();
        }
        let mut buf = Vec::new();
        r.write_sack(&mut buf, 1000);
        let sack = Sack::parse(&buf[4..]).unwrap();
        assert_eq!(sack.cum_tsn, 10);
        assert_eq!(sack.gaps().collect::<Vec<_>>(), vec![(2, 3), (5, 5)]);
    }

    #[test]
    fn oversized_reassembly_is_refused() {
        let mut r = Receiver::new(0, 10, 1 << 20, 4, false);
        let mut out = VecDeque::new();
        r.handle_data(&data(0, flag::BEGIN, 0, b"abc"), &mut out)
            .unwrap();
        let e = r.handle_data(&data(1, 0, 0, b"def"), &mut out);
        assert!(matches!(e, Err(Error::MessageTooLarge { .. })));
    }

    #[test]
    fn receive_memory_is_bounded_by_twice_the_window() {
        let mut r = Receiver::new(0, 10, 4096, 1 << 18, false);
        let mut out = VecDeque::new();
        let payload = [0u8; 100];
        let mut dropped = 0;
        // Never-ending fragments (no END), all out of order after TSN 0.
        for tsn in 1..1000u32 {
            if r.handle_data(&data(tsn, 0, 0, &payload), &mut out).unwrap() == DataOutcome::Dropped
            {
                dropped += 1;
            }
        }
        assert!(r.held() <= 8192, "held {}", r.held());
        assert!(dropped > 900);
    }

    fn idata(tsn: u32, flags: u8, mid: u32, ppid_or_fsn: u32, payload: &[u8]) -> IData<'_> {
        IData {
            flags,
            tsn,
            stream: 1,
            mid,
            ppid_or_fsn,
            payload,
        }
    }

    #[test]
    fn interleaved_i_data_messages_reassemble_by_mid_and_fsn() {
        let mut r = Receiver::new(0, 10, 1 << 20, 1 << 18, true);
        let mut out = VecDeque::new();
        // Two unordered messages interleaved fragment by fragment.
        let u = flag::UNORDERED;
        r.handle_idata(&idata(0, u | flag::BEGIN, 7, 53, b"a1"), &mut out)
            .unwrap();
        r.handle_idata(&idata(1, u | flag::BEGIN, 8, 53, b"b1"), &mut out)
            .unwrap();
        r.handle_idata(&idata(2, u | flag::END, 8, 1, b"b2"), &mut out)
            .unwrap();
        assert_eq!(messages(&mut out), vec![b"b1b2".to_vec()]);
        r.handle_idata(&idata(3, u | flag::END, 7, 1, b"a2"), &mut out)
            .unwrap();
        assert_eq!(messages(&mut out), vec![b"a1a2".to_vec()]);
        assert_eq!(r.held(), r.event_bytes);
    }

    #[test]
    fn an_i_data_message_reassembles_from_fragments_in_any_order() {
        // 30 fragments of MID 0 (FSN 0 is B and carries the PPID).
        let pieces: Vec<Vec<u8>> = (0..30u8).map(|i| vec![i; 5]).collect();
        let whole = pieces.concat();
        let in_order: Vec<u32> = (0..30).collect();
        let reversed: Vec<u32> = (0..30).rev().collect();
        let shuffled: Vec<u32> = (0..30).map(|i| (i * 7) % 30).collect();
        for order in [in_order, reversed, shuffled] {
            let mut r = Receiver::new(0, 10, 1 << 20, 1 << 18, true);
            let mut out = VecDeque::new();
            for (n, &fsn) in order.iter().enumerate() {
                let (flags, ppid_or_fsn) = match fsn {
                    0 => (flag::BEGIN, 53),
                    29 => (flag::END, 29),
                    f => (0, f),
                };
                let chunk = idata(fsn, flags, 0, ppid_or_fsn, &pieces[fsn as usize]);
                r.handle_idata(&chunk, &mut out).unwrap();
                if n < 29 {
                    assert!(out.is_empty(), "delivered before the last fragment");
                }
            }
            assert_eq!(messages(&mut out), vec![whole.clone()], "order {order:?}");
            assert!(r.partials.is_empty());
            assert_eq!(r.held(), r.event_bytes, "no fragment left behind");
        }
    }

    #[test]
    fn ordered_i_data_is_delivered_by_mid() {
        let mut r = Receiver::new(0, 10, 1 << 20, 1 << 18, true);
        let mut out = VecDeque::new();
        r.handle_idata(&idata(0, BE, 1, 53, b"second"), &mut out)
            .unwrap();
        assert!(out.is_empty());
        r.handle_idata(&idata(1, BE, 0, 53, b"first"), &mut out)
            .unwrap();
        assert_eq!(
            messages(&mut out),
            vec![b"first".to_vec(), b"second".to_vec()]
        );
    }

    #[test]
    fn i_forward_tsn_drops_partial_and_skips_its_mid() {
        let mut r = Receiver::new(0, 10, 1 << 20, 1 << 18, true);
        let mut out = VecDeque::new();
        r.handle_idata(&idata(0, flag::BEGIN, 0, 53, b"lost"), &mut out)
            .unwrap();
        r.handle_idata(&idata(2, BE, 1, 53, b"next"), &mut out)
            .unwrap();
        let v = [0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0];
        let f = chunk::IForwardTsn::parse(&v).unwrap();
        assert!(r.handle_iforward_tsn(&f, &mut out));
        assert_eq!(messages(&mut out), vec![b"next".to_vec()]);
        assert_eq!(r.held(), r.event_bytes);
    }

    /// RFC 6525 §5.2.2 with I-FORWARD-TSN (RFC 8260 §2.3): after stream 1
    /// was reset following TSN 2, a late I-FORWARD-TSN that still names
    /// its old MID 2 (its new cumulative TSN, 3, is below the TSN 2 + 1 + 2
    /// that a post-reset MID 2 would have) leaves the reused stream alone.
    #[test]
    fn a_late_i_forward_tsn_entry_leaves_a_reset_stream_at_mid_0() {
        let mut r = Receiver::new(0, 10, 1 << 20, 1 << 18, true);
        let mut out = VecDeque::new();
        r.handle_idata(&idata(0, BE, 0, 53, b"m0"), &mut out)
            .unwrap();
        r.handle_idata(&idata(1, BE, 1, 53, b"m1"), &mut out)
            .unwrap();
        // TSN 2 (MID 2) is abandoned; then the stream is reset.
        let v = [0, 0, 0, 2, 0, 1, 0, 0, 0, 0, 0, 2];
        let f = chunk::IForwardTsn::parse(&v).unwrap();
        assert!(r.handle_iforward_tsn(&f, &mut out));
        r.reset_streams(&[1], 2);
        messages(&mut out);
        // Stream 3's TSN 3 abandoned too; the entry for stream 1 is old.
        let v = [0, 0, 0, 3, 0, 1, 0, 0, 0, 0, 0, 2, 0, 3, 0, 0, 0, 0, 0, 0];
        let f = chunk::IForwardTsn::parse(&v).unwrap();
        assert!(r.handle_iforward_tsn(&f, &mut out));
        r.handle_idata(&idata(4, BE, 0, 53, b"new0"), &mut out)
            .unwrap();
        assert_eq!(messages(&mut out), vec![b"new0".to_vec()]);
    }

    /// RFC 8260 §2.3: an I-FORWARD-TSN costs one pass over the partial
    /// messages held, not one per entry. 3,000 partials on stream 1 and a
    /// chunk of 2,001 entries (2,000 for streams holding none, one that
    /// skips MIDs 0..=1499 on stream 1): the partials are looked at 3,000
    /// times (a pass per entry was 6 million), and exactly the skipped
    /// ones go.
    #[test]
    fn an_i_forward_tsn_looks_at_each_partial_once_however_many_entries() {
        const PARTIALS: u32 = 3000;
        let mut r = Receiver::new(0, 4000, 1 << 20, 1 << 18, true);
        let mut out = VecDeque::new();
        // TSN 0 is missing; TSNs 1..=3000 are first fragments of MIDs 0..3000.
        for k in 0..PARTIALS {
            r.handle_idata(&idata(1 + k, flag::BEGIN, k, 53, b"x"), &mut out)
                .unwrap();
        }
        assert_eq!(r.partials.len(), PARTIALS as usize);
        let mut v = 0u32.to_be_bytes().to_vec();
        for s in 2..2002u16 {
            v.extend_from_slice(&s.to_be_bytes());
            v.extend_from_slice(&[0; 6]);
        }
        v.extend_from_slice(&1u16.to_be_bytes());
        v.extend_from_slice(&[0, 0]);
        v.extend_from_slice(&1499u32.to_be_bytes());
        let f = chunk::IForwardTsn::parse(&v).unwrap();
        assert!(r.handle_iforward_tsn(&f, &mut out));
        assert_eq!(r.partial_visits, PARTIALS as usize);
        assert_eq!(r.partials.len(), 1500);
        assert!(
            r.partials
                .keys()
                .all(|&(s, u, m)| s == 1 && !u && m >= 1500)
        );
        assert_eq!(r.held(), 1500 * (1 + ENTRY_OVERHEAD));
        assert_eq!(r.cum_tsn(), PARTIALS, "over the received TSNs");
    }

    /// An incoming reset of many streams drops their partials in one pass.
    #[test]
    fn resetting_many_streams_looks_at_each_partial_once() {
        let mut r = Receiver::new(0, 4000, 1 << 20, 1 << 18, true);
        let mut out = VecDeque::new();
        for k in 0..3000u32 {
            let mut d = idata(k, flag::BEGIN, 0, 53, b"x");
            d.stream = k as u16;
            r.handle_idata(&d, &mut out).unwrap();
        }
        let streams: Vec<u16> = (0..2000).collect();
        r.reset_streams(&streams, 2999);
        assert_eq!(r.partial_visits, 3000);
        assert_eq!(r.partials.len(), 1000);
        assert_eq!(r.held(), 1000 * (1 + ENTRY_OVERHEAD));
    }

    /// RFC 8260 §2.1 / RFC 1982: on a fresh stream, MID 3,000,000,000 is
    /// behind MID 0: dropped as stale, not delivered in MID 0's place.
    #[test]
    fn an_i_data_mid_behind_a_fresh_stream_is_stale() {
        let mut r = Receiver::new(0, 10, 1 << 20, 1 << 18, true);
        let mut out = VecDeque::new();
        r.handle_idata(&idata(0, BE, 3_000_000_000, 53, b"far"), &mut out)
            .unwrap();
        r.handle_idata(&idata(1, BE, 0, 53, b"first"), &mut out)
            .unwrap();
        assert_eq!(messages(&mut out), vec![b"first".to_vec()]);
        assert_eq!(r.held(), r.event_bytes);
    }

    #[test]
    fn forward_tsn_skips_abandoned_ordered_message() {
        let mut r = Receiver::new(0, 10, 1 << 20, 1 << 18, false);
        let mut out = VecDeque::new();
        r.handle_data(&data(0, flag::BEGIN, 0, b"lost-"), &mut out)
            .unwrap();
        r.handle_data(&data(2, BE, 1, b"next"), &mut out).unwrap();
        assert!(out.is_empty());
        let v = [0, 0, 0, 1, 0, 1, 0, 0];
        let f = chunk::ForwardTsn::parse(&v).unwrap();
        assert!(r.handle_forward_tsn(&f, &mut out));
        assert_eq!(messages(&mut out), vec![b"next".to_vec()]);
        assert_eq!(r.cum_tsn(), 2);
        assert_eq!(r.held(), r.event_bytes);
    }
}
