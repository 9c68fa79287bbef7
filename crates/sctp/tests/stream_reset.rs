//! Stream reset (RFC 6525) in memory: what a stream keeps, and what it
//! forgets, once its reset completes and it is used again.

mod common;

use std::time::Instant;

use common::*;
use ferrtc_sctp::{Association, Config, Event, SendOptions, ppid};

/// A completed outgoing reset ends the stream's use (a data channel's
/// close, RFC 8831 §6.7): its `bufferedAmountLow` threshold goes too. Sent
/// again afterwards with no threshold set (0), a large message fires
/// `BufferedAmountLow` once, when the stream's buffered amount reaches 0,
/// not when it crosses the old 50,000.
#[test]
fn a_completed_reset_clears_the_streams_low_threshold() {
    let now = Instant::now();
    let (mut a, mut b) = connected_pair(now, config(1), config(2));
    a.set_buffered_amount_low_threshold(1, 50_000);
    a.send(now, 1, ppid::BINARY, b"old", SendOptions::default())
        .unwrap();
    a.reset_stream(1).unwrap();
    pump(&mut a, &mut b, now);
    assert!(drain(&mut a).1.contains(&Event::OutgoingStreamReset(1)));
    drain(&mut b);
    a.send(
        now,
        1,
        ppid::BINARY,
        &[5u8; 200_000],
        SendOptions::default(),
    )
    .unwrap();
    let mut lows = Vec::new();
    let mut buf = Vec::new();
    for _ in 0..10_000 {
        let Some(_) = a.poll_transmit(now, &mut buf) else {
            break;
        };
        let _ = b.handle_receive(now, &buf);
        while let Some(e) = a.poll_event() {
            if e == Event::BufferedAmountLow(1) {
                lows.push(a.buffered_amount(1));
            }
        }
        while b.poll_transmit(now, &mut buf).is_some() {
            let _ = a.handle_receive(now, &buf);
        }
        drain(&mut b);
        while let Some(e) = a.poll_event() {
            if e == Event::BufferedAmountLow(1) {
                lows.push(a.buffered_amount(1));
            }
        }
    }
    assert_eq!(a.buffered_amount(1), 0, "all sent");
    assert_eq!(lows, [0], "buffered amount at each BufferedAmountLow");
}

/// RE-CONFIG chunk type (RFC 6525 §3.1).
const RE_CONFIG: u8 = 130;
/// Re-configuration Response results (RFC 6525 §4.4).
const SUCCESS_PERFORMED: u32 = 1;
const DENIED: u32 = 2;
const IN_PROGRESS: u32 = 6;
/// Chunk flags (RFC 9260 §3.3.1).
const END: u8 = 0x01;
const BEGIN: u8 = 0x02;

/// A peer driven by hand: the verification tag `b` expects and `a`'s
/// initial TSN, which is also the first Re-configuration Request Sequence
/// Number `b` expects from it (RFC 6525 §5.1.1). One probe message on
/// stream 0 used TSN `isn`; `a` is not used again.
struct Raw {
    tag: u32,
    isn: u32,
    i_data: bool,
}

fn raw_peer(i_data: bool, b_streams: u16) -> (Association, Raw) {
    raw_peer_with(i_data, b_streams, |c| c)
}

/// As [`raw_peer`], with both configurations passed through `tune`.
fn raw_peer_with(i_data: bool, b_streams: u16, tune: fn(Config) -> Config) -> (Association, Raw) {
    let now = Instant::now();
    let cfg = |seed, streams| {
        tune(Config {
            i_data,
            streams,
            ..config(seed)
        })
    };
    let (mut a, mut b) = connected_pair(now, cfg(1, 65_535), cfg(2, b_streams));
    a.send(now, 0, ppid::STRING, b"probe", SendOptions::default())
        .unwrap();
    let mut buf = Vec::new();
    a.poll_transmit(now, &mut buf).unwrap();
    b.handle_receive(now, &buf).unwrap();
    let raw = Raw {
        tag: tag_of(&buf),
        isn: first_data_tsn(&buf),
        i_data,
    };
    drain(&mut b);
    (b, raw)
}

impl Raw {
    /// A DATA (or I-DATA) chunk: ordered, `seq` is the SSN (or MID); an
    /// I-DATA fragment other than the first carries FSN `fsn`.
    fn data(
        &self,
        tsn: u32,
        stream: u16,
        seq: u16,
        flags: u8,
        fsn: u32,
        payload: &[u8],
    ) -> Vec<u8> {
        let mut c = Vec::new();
        if self.i_data {
            let ppid_or_fsn = if flags & BEGIN != 0 {
                ppid::BINARY
            } else {
                fsn
            };
            let v = idata_value(tsn, stream, u32::from(seq), ppid_or_fsn, payload);
            raw_chunk(&mut c, 64, flags, &v);
        } else {
            let v = data_value(tsn, stream, seq, ppid::BINARY, payload);
            raw_chunk(&mut c, 0, flags, &v);
        }
        c
    }

    /// A RE-CONFIG chunk with an Outgoing SSN Reset Request (RFC 6525 §4.1).
    fn reset_request(&self, seq: u32, last_tsn: u32, streams: &[u16]) -> Vec<u8> {
        reconfig_chunk(&[outgoing_reset_param(seq, last_tsn, streams)])
    }

    /// Feeds one chunk to `b`; returns the (sequence number, result) of the
    /// Re-configuration Responses `b` sends back.
    fn feed(&self, b: &mut Association, chunk: &[u8]) -> Vec<(u32, u32)> {
        let now = Instant::now();
        b.handle_receive(now, &raw_packet(self.tag, chunk)).unwrap();
        let mut responses = Vec::new();
        let mut buf = Vec::new();
        while b.poll_transmit(now, &mut buf).is_some() {
            responses.extend(reconfig_responses(&buf));
        }
        responses
    }
}

/// A RE-CONFIG chunk (RFC 6525 §3.1) with these parameters, each but the
/// last padded to 4 bytes (the chunk's padding follows the last).
fn reconfig_chunk(params: &[Vec<u8>]) -> Vec<u8> {
    let mut value = Vec::new();
    for p in params {
        value.resize((value.len() + 3) & !3, 0);
        value.extend_from_slice(p);
    }
    let mut c = Vec::new();
    raw_chunk(&mut c, RE_CONFIG, 0, &value);
    c
}

/// An Outgoing SSN Reset Request Parameter (RFC 6525 §4.1, type 13),
/// Re-configuration Response Sequence Number 0.
fn outgoing_reset_param(seq: u32, last_tsn: u32, streams: &[u16]) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&13u16.to_be_bytes());
    p.extend_from_slice(&((16 + 2 * streams.len()) as u16).to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&0u32.to_be_bytes());
    p.extend_from_slice(&last_tsn.to_be_bytes());
    for s in streams {
        p.extend_from_slice(&s.to_be_bytes());
    }
    p
}

/// An Incoming SSN Reset Request Parameter (RFC 6525 §4.2, type 14).
fn incoming_reset_param(seq: u32, streams: &[u16]) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&14u16.to_be_bytes());
    p.extend_from_slice(&((8 + 2 * streams.len()) as u16).to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    for s in streams {
        p.extend_from_slice(&s.to_be_bytes());
    }
    p
}

/// The parameters of the RE-CONFIG chunks (RFC 6525 §3.1) in a packet,
/// each cut to its length (no padding), with its type.
fn reconfig_params(packet: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    let mut rest = &packet[12..];
    while rest.len() >= 4 {
        let len = u16::from_be_bytes([rest[2], rest[3]]) as usize;
        if rest[0] == RE_CONFIG {
            let mut params = &rest[4..len];
            while params.len() >= 8 {
                let plen = u16::from_be_bytes([params[2], params[3]]) as usize;
                let ty = u16::from_be_bytes([params[0], params[1]]);
                out.push((ty, &params[..plen.min(params.len())]));
                params = &params[((plen.max(4) + 3) & !3).min(params.len())..];
            }
        }
        rest = &rest[((len + 3) & !3).min(rest.len())..];
    }
    out
}

/// The Outgoing SSN Reset Request parameters (RFC 6525 §4.1, type 13) in a
/// packet.
fn outgoing_reset_params(packet: &[u8]) -> Vec<&[u8]> {
    reconfig_params(packet)
        .into_iter()
        .filter(|&(ty, p)| ty == 13 && p.len() >= 16)
        .map(|(_, p)| p)
        .collect()
}

/// The Re-configuration Response Parameters (RFC 6525 §4.4) in a packet.
fn reconfig_responses(packet: &[u8]) -> Vec<(u32, u32)> {
    reconfig_params(packet)
        .into_iter()
        .filter(|&(ty, p)| ty == 16 && p.len() >= 12)
        .map(|(_, p)| {
            let seq = u32::from_be_bytes(p[4..8].try_into().unwrap());
            let result = u32::from_be_bytes(p[8..12].try_into().unwrap());
            (seq, result)
        })
        .collect()
}

/// What `b` tells its application, in order: `"m:<payload>"` for a
/// message, `"reset:<stream>"` for an incoming stream reset, `"reset:all"`
/// for the reset of every incoming stream.
fn story(b: &mut Association) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(e) = b.poll_event() {
        match e {
            Event::Message(m) => out.push(format!("m:{}", String::from_utf8_lossy(&m.data))),
            Event::IncomingStreamReset(s) => out.push(format!("reset:{s}")),
            Event::AllIncomingStreamsReset => out.push("reset:all".into()),
            _ => {}
        }
    }
    out
}

/// RFC 6525 §5.2.2 E3 resets "the streams listed", and only streams the
/// association has can be reset: with 10 inbound streams, a request that
/// names streams 1 and 5000 is not performed. It is answered "Denied"
/// (§4.4), as a retransmission of it is; no stream, in range or not, is
/// reported reset to the application (a data channel on stream 1 stays
/// open); and its sequence number is used up, so the peer's next request
/// is performed.
#[test]
fn a_reset_request_naming_a_stream_beyond_the_inbound_count_is_denied() {
    let (mut b, raw) = raw_peer(false, 10);
    let seq = raw.isn;
    let request = raw.reset_request(seq, raw.isn, &[1, 5000]);
    assert_eq!(raw.feed(&mut b, &request), [(seq, DENIED)]);
    assert_eq!(
        story(&mut b),
        Vec::<String>::new(),
        "nothing reported reset"
    );
    assert_eq!(
        raw.feed(&mut b, &request),
        [(seq, DENIED)],
        "retransmission"
    );
    assert_eq!(story(&mut b), Vec::<String>::new());
    let next = raw.reset_request(seq.wrapping_add(1), raw.isn, &[1]);
    assert_eq!(
        raw.feed(&mut b, &next),
        [(seq.wrapping_add(1), SUCCESS_PERFORMED)]
    );
    assert_eq!(story(&mut b), ["reset:1"]);
}

/// A message partly received on a stream when the stream is reset (RFC
/// 6525 §5.2.2 E3: the stream starts again at SSN 0) belongs to the old
/// use of the stream: its fragments are discarded with the reset, free
/// their memory, and a fragment that arrives later on the reused stream
/// cannot complete it (RFC 9260 §6.9 joins fragments by TSN, stream and
/// SSN, all of which the old fragment can share with the new one).
fn a_reset_discards_the_streams_partly_received_message(i_data: bool) {
    let (mut b, raw) = raw_peer(i_data, 65_535);
    let t = raw.isn;
    raw.feed(
        &mut b,
        &raw.data(t.wrapping_add(1), 1, 0, BEGIN, 0, b"old-"),
    );
    assert!(b.receive_buffered() > 0, "the first fragment is held");
    let request = raw.reset_request(raw.isn, t.wrapping_add(1), &[1]);
    assert_eq!(raw.feed(&mut b, &request), [(raw.isn, SUCCESS_PERFORMED)]);
    assert_eq!(story(&mut b), ["reset:1"]);
    assert_eq!(b.receive_buffered(), 0, "the old fragment is gone");
    raw.feed(&mut b, &raw.data(t.wrapping_add(2), 1, 0, END, 1, b"new"));
    assert_eq!(
        story(&mut b),
        Vec::<String>::new(),
        "no message made of both"
    );
}

#[test]
fn a_reset_discards_the_streams_partly_received_message_data() {
    a_reset_discards_the_streams_partly_received_message(false);
}

#[test]
fn a_reset_discards_the_streams_partly_received_message_idata() {
    a_reset_discards_the_streams_partly_received_message(true);
}

/// Stream 1 delivered "old0" (TSN t + 1); the peer asks to reset it with
/// the last TSN t + 2, not received yet, so the reset is deferred ("In
/// progress", RFC 6525 §5.2.2 E2). The association, the raw peer and t.
fn deferred_reset_after_old0(i_data: bool) -> (Association, Raw, u32) {
    let (mut b, raw) = raw_peer(i_data, 65_535);
    let t = raw.isn;
    raw.feed(
        &mut b,
        &raw.data(t.wrapping_add(1), 1, 0, BEGIN | END, 0, b"old0"),
    );
    assert_eq!(story(&mut b), ["m:old0"]);
    let request = raw.reset_request(raw.isn, t.wrapping_add(2), &[1]);
    assert_eq!(raw.feed(&mut b, &request), [(raw.isn, IN_PROGRESS)]);
    (b, raw, t)
}

/// RFC 6525 §5.2.2 E2: a request whose Sender's Last Assigned TSN has not
/// been reached yet is deferred ("In progress"), and DATA for the reset
/// stream with a later TSN "MUST be queued locally and held" until it is;
/// then the reset is performed and the held data processed (E4). Here
/// stream 1 delivered "old0"; "old1" (the last TSN before the reset) is
/// late; the reused stream's first message "new0" (SSN / MID 0) arrives
/// before it. "new0" is neither dropped as stale (SSN 0 is behind the old
/// stream's next SSN 1) nor delivered in the old stream's place: the
/// application sees old1, the reset, then new0.
fn data_past_a_deferred_reset_waits_for_it(i_data: bool) {
    let (mut b, raw, t) = deferred_reset_after_old0(i_data);
    // old1 is TSN t + 2 (late); the request names it as the last TSN.
    let whole = BEGIN | END;
    raw.feed(
        &mut b,
        &raw.data(t.wrapping_add(3), 1, 0, whole, 0, b"new0"),
    );
    assert_eq!(
        story(&mut b),
        Vec::<String>::new(),
        "new0 waits for the reset"
    );
    let responses = raw.feed(
        &mut b,
        &raw.data(t.wrapping_add(2), 1, 1, whole, 0, b"old1"),
    );
    assert_eq!(responses, [(raw.isn, SUCCESS_PERFORMED)]);
    assert_eq!(story(&mut b), ["m:old1", "reset:1", "m:new0"]);
    assert_eq!(b.receive_buffered(), 0);
}

#[test]
fn data_past_a_deferred_reset_waits_for_it_data() {
    data_past_a_deferred_reset_waits_for_it(false);
}

#[test]
fn data_past_a_deferred_reset_waits_for_it_idata() {
    data_past_a_deferred_reset_waits_for_it(true);
}

impl Raw {
    /// A FORWARD-TSN (RFC 3758 §3.2) or, with I-DATA, an I-FORWARD-TSN
    /// (RFC 8260 §2.3) chunk; entries (stream, SSN / MID), ordered.
    fn forward_tsn(&self, new_cum: u32, entries: &[(u16, u32)]) -> Vec<u8> {
        let mut v = new_cum.to_be_bytes().to_vec();
        for &(s, seq) in entries {
            v.extend_from_slice(&s.to_be_bytes());
            if self.i_data {
                v.extend_from_slice(&0u16.to_be_bytes());
                v.extend_from_slice(&seq.to_be_bytes());
            } else {
                v.extend_from_slice(&(seq as u16).to_be_bytes());
            }
        }
        let mut c = Vec::new();
        raw_chunk(&mut c, if self.i_data { 194 } else { 192 }, 0, &v);
        c
    }
}

/// RFC 6525 §5.2.2 E2 with RFC 3758 §3.6 (RFC 8260 §2.3 for I-DATA): a
/// FORWARD-TSN whose new cumulative TSN reaches a deferred reset's last
/// TSN accounts for every TSN up to it, so the reset is performed
/// ("Success - Performed"). Its entry (stream 1, SSN / MID 0) names the reused
/// stream's first message (its new cumulative TSN is past the reset's last
/// TSN + 0, RFC 6525 §5.2.2 numbering): that message, whose first fragment
/// was held for the stream's next use (E2) and whose end was lost, is
/// abandoned after the reset. The application sees the reset, then the
/// stream's next message "new1" (SSN / MID 1); the held fragment is
/// discarded and frees its memory.
///
/// Before: the entry was applied to the stream's old use ahead of the
/// reset, the held fragment was released after it into reassembly below
/// the cumulative TSN, and stream 1 waited for SSN / MID 0 for ever.
fn a_forward_tsn_past_a_deferred_reset_abandons_the_held_data(i_data: bool) {
    let (mut b, raw, t) = deferred_reset_after_old0(i_data);
    // TSN t + 2 (stream 2, SSN / MID 0) is lost; the request names it.
    let whole = BEGIN | END;
    // new0 on the reused stream 1: first fragment t + 3 (held), t + 4 lost.
    raw.feed(
        &mut b,
        &raw.data(t.wrapping_add(3), 1, 0, BEGIN, 0, b"new0-"),
    );
    // Both messages abandoned by the peer.
    let fwd = raw.forward_tsn(t.wrapping_add(4), &[(2, 0), (1, 0)]);
    assert_eq!(raw.feed(&mut b, &fwd), [(raw.isn, SUCCESS_PERFORMED)]);
    assert_eq!(story(&mut b), ["reset:1"]);
    raw.feed(
        &mut b,
        &raw.data(t.wrapping_add(5), 1, 1, whole, 0, b"new1"),
    );
    assert_eq!(
        story(&mut b),
        ["m:new1"],
        "stream 1 skipped its abandoned SSN 0"
    );
    assert_eq!(
        b.receive_buffered(),
        0,
        "the abandoned held fragment is gone"
    );
}

#[test]
fn a_forward_tsn_past_a_deferred_reset_abandons_the_held_data_data() {
    a_forward_tsn_past_a_deferred_reset_abandons_the_held_data(false);
}

#[test]
fn a_forward_tsn_past_a_deferred_reset_abandons_the_held_data_idata() {
    a_forward_tsn_past_a_deferred_reset_abandons_the_held_data(true);
}

/// The memory half of the case above, on its own (RFC 3758 §3.6: a
/// partly reassembled message at or below the new cumulative TSN is
/// discarded): the first fragment held for a reset stream's next use (RFC
/// 6525 §5.2.2 E2) of a message the FORWARD-TSN abandons is freed once the
/// reset is performed. Before: it went into reassembly below the
/// cumulative TSN and held window space until a later FORWARD-TSN passed
/// it.
fn a_forward_tsn_past_a_deferred_reset_frees_the_held_fragment(i_data: bool) {
    let (mut b, raw, t) = deferred_reset_after_old0(i_data);
    raw.feed(
        &mut b,
        &raw.data(t.wrapping_add(3), 1, 0, BEGIN, 0, b"new0-"),
    );
    let fwd = raw.forward_tsn(t.wrapping_add(4), &[(2, 0), (1, 0)]);
    assert_eq!(raw.feed(&mut b, &fwd), [(raw.isn, SUCCESS_PERFORMED)]);
    assert_eq!(
        b.receive_buffered(),
        0,
        "the abandoned held fragment is gone"
    );
}

#[test]
fn a_forward_tsn_past_a_deferred_reset_frees_the_held_fragment_data() {
    a_forward_tsn_past_a_deferred_reset_frees_the_held_fragment(false);
}

#[test]
fn a_forward_tsn_past_a_deferred_reset_frees_the_held_fragment_idata() {
    a_forward_tsn_past_a_deferred_reset_frees_the_held_fragment(true);
}

/// RFC 6525 §5.2.2 with §4.4: a request is answered once per sequence
/// number. A request deferred ("In progress", E2) and then sent again under
/// the same sequence number naming a stream the association lacks (only a
/// misbehaving peer does this) is answered "Denied" as a whole: the
/// deferred reset is withdrawn, so when its last TSN arrives nothing is
/// reset, no second answer is sent for that sequence number, and the data
/// held for the stream is processed as if no reset had been asked for. The
/// next request is performed normally.
fn a_denied_request_withdraws_the_deferred_reset_with_its_sequence_number(i_data: bool) {
    let (mut b, raw) = raw_peer(i_data, 10);
    let t = raw.isn;
    let seq = raw.isn;
    let whole = BEGIN | END;
    raw.feed(&mut b, &raw.data(t.wrapping_add(1), 1, 0, whole, 0, b"m0"));
    assert_eq!(story(&mut b), ["m:m0"]);
    let request = raw.reset_request(seq, t.wrapping_add(2), &[1]);
    assert_eq!(raw.feed(&mut b, &request), [(seq, IN_PROGRESS)]);
    raw.feed(&mut b, &raw.data(t.wrapping_add(3), 1, 2, whole, 0, b"m2"));
    let denied = raw.reset_request(seq, t.wrapping_add(2), &[1, 5000]);
    assert_eq!(raw.feed(&mut b, &denied), [(seq, DENIED)]);
    let responses = raw.feed(&mut b, &raw.data(t.wrapping_add(2), 1, 1, whole, 0, b"m1"));
    assert_eq!(responses, [], "no second answer for {seq}");
    assert_eq!(story(&mut b), ["m:m1", "m:m2"], "stream 1 not reset");
    assert_eq!(b.receive_buffered(), 0);
    let next = raw.reset_request(seq.wrapping_add(1), t.wrapping_add(3), &[1]);
    assert_eq!(
        raw.feed(&mut b, &next),
        [(seq.wrapping_add(1), SUCCESS_PERFORMED)]
    );
    assert_eq!(story(&mut b), ["reset:1"]);
}

#[test]
fn a_denied_request_withdraws_the_deferred_reset_with_its_sequence_number_data() {
    a_denied_request_withdraws_the_deferred_reset_with_its_sequence_number(false);
}

#[test]
fn a_denied_request_withdraws_the_deferred_reset_with_its_sequence_number_idata() {
    a_denied_request_withdraws_the_deferred_reset_with_its_sequence_number(true);
}

/// A peer that follows RFC 6525 sends nothing on a stream whose reset it
/// asked for until the reset is performed (ferrtc's own sender: the stream
/// takes no message before `complete_reset`), so while a reset is deferred
/// a FORWARD-TSN's entry for the reset stream names its *old* use. Stream 1
/// sent one unreliable message "old0" (SSN / MID 0, TSN t + 1), then was
/// closed (request, last TSN t + 1); "old0" and stream 2's message at
/// t + 2 are lost and abandoned: the sender's FORWARD-TSN is new cum
/// t + 2, entries (1, 0), (2, 0) (its Advanced.Peer.Ack.Point over two
/// contiguous abandoned chunks). The stream, reused, then sends its first
/// message "new0" (SSN / MID 0, a data channel's DATA_CHANNEL_OPEN), which
/// is delivered: the entry, with nothing of the next use held, applies to
/// the old use.
fn a_forward_tsn_entry_for_the_old_use_past_a_deferred_reset(i_data: bool) {
    let (mut b, raw) = raw_peer(i_data, 65_535);
    let t = raw.isn;
    let request = raw.reset_request(raw.isn, t.wrapping_add(1), &[1]);
    assert_eq!(raw.feed(&mut b, &request), [(raw.isn, IN_PROGRESS)]);
    let fwd = raw.forward_tsn(t.wrapping_add(2), &[(1, 0), (2, 0)]);
    assert_eq!(raw.feed(&mut b, &fwd), [(raw.isn, SUCCESS_PERFORMED)]);
    assert_eq!(story(&mut b), ["reset:1"]);
    raw.feed(
        &mut b,
        &raw.data(t.wrapping_add(3), 1, 0, BEGIN | END, 0, b"new0"),
    );
    assert_eq!(
        story(&mut b),
        ["m:new0"],
        "the reused stream's first message is delivered"
    );
}

#[test]
fn a_forward_tsn_entry_for_the_old_use_past_a_deferred_reset_does_not_skip_the_next_uses_first_message_data()
 {
    a_forward_tsn_entry_for_the_old_use_past_a_deferred_reset(false);
}

#[test]
fn a_forward_tsn_entry_for_the_old_use_past_a_deferred_reset_does_not_skip_the_next_uses_first_message_idata()
 {
    a_forward_tsn_entry_for_the_old_use_past_a_deferred_reset(true);
}

/// The same with a message of the old use waiting in order: "old0" (SSN 0,
/// t + 1) lost and abandoned, "old1" (SSN 1, t + 2) received and waiting
/// for it, then the reset (last TSN t + 2), then stream 2's t + 3 lost and
/// abandoned. A sender that abandoned only "old0" lists (1, 0) (old1 was
/// received; a peer need not be ferrtc: (1, 0) is its largest abandoned SSN).
/// Nothing of the next use is held, so the entry is about the old use: it
/// skips "old0", "old1" is delivered, then the reset.
fn a_forward_tsn_entry_for_the_old_use_delivers_its_waiting_message(i_data: bool) {
    let (mut b, raw) = raw_peer(i_data, 65_535);
    let t = raw.isn;
    raw.feed(
        &mut b,
        &raw.data(t.wrapping_add(2), 1, 1, BEGIN | END, 0, b"old1"),
    );
    let request = raw.reset_request(raw.isn, t.wrapping_add(2), &[1]);
    assert_eq!(raw.feed(&mut b, &request), [(raw.isn, IN_PROGRESS)]);
    let fwd = raw.forward_tsn(t.wrapping_add(3), &[(1, 0), (2, 0)]);
    assert_eq!(raw.feed(&mut b, &fwd), [(raw.isn, SUCCESS_PERFORMED)]);
    assert_eq!(story(&mut b), ["m:old1", "reset:1"]);
}

#[test]
fn a_forward_tsn_entry_for_the_old_use_delivers_its_waiting_message_before_the_reset_data() {
    a_forward_tsn_entry_for_the_old_use_delivers_its_waiting_message(false);
}

#[test]
fn a_forward_tsn_entry_for_the_old_use_delivers_its_waiting_message_before_the_reset_idata() {
    a_forward_tsn_entry_for_the_old_use_delivers_its_waiting_message(true);
}

/// The reused stream's *first* message is abandoned whole (no fragment of
/// it ever arrived), its second is held. Stream 1 delivered "old0" (t + 1);
/// stream 2's t + 2 is lost; the request names t + 2. The peer, having
/// performed the reset, sends "new0" (SSN / MID 0, t + 3, lost, abandoned)
/// and "new1" (SSN / MID 1, t + 4, held). Its FORWARD-TSN (new cum t + 3,
/// entries (2, 0), (1, 0)) abandons new0: the held new1 shows the sender
/// is in the stream's next use, so the entry applies to it after the
/// reset, and new1 is delivered.
fn a_wholly_abandoned_first_message_of_the_next_use(i_data: bool) {
    let (mut b, raw, t) = deferred_reset_after_old0(i_data);
    let whole = BEGIN | END;
    raw.feed(
        &mut b,
        &raw.data(t.wrapping_add(4), 1, 1, whole, 0, b"new1"),
    );
    assert_eq!(story(&mut b), Vec::<String>::new());
    let fwd = raw.forward_tsn(t.wrapping_add(3), &[(2, 0), (1, 0)]);
    assert_eq!(raw.feed(&mut b, &fwd), [(raw.isn, SUCCESS_PERFORMED)]);
    assert_eq!(
        story(&mut b),
        ["reset:1", "m:new1"],
        "new1 is delivered once its abandoned SSN / MID 0 is skipped"
    );
}

#[test]
fn a_wholly_abandoned_first_message_of_the_next_use_does_not_stall_the_stream_data() {
    a_wholly_abandoned_first_message_of_the_next_use(false);
}

#[test]
fn a_wholly_abandoned_first_message_of_the_next_use_does_not_stall_the_stream_idata() {
    a_wholly_abandoned_first_message_of_the_next_use(true);
}

/// The entry names the stream's *old* use although next-use data is held.
/// Stream 1 delivered "old0" (t + 1); its "old1" (SSN / MID 1, t + 2, the
/// request's last TSN) is lost and abandoned, and so are stream 2's t + 3
/// and t + 4. The peer, having reset its side, sends the reused stream's
/// "new0", "new1", "new2" (SSN / MID 0, 1, 2 at t + 5, t + 6, t + 7); new0
/// and new1 are lost (reliable: retransmitted), new2 is held. The sender's
/// FORWARD-TSN (new cumulative TSN t + 4) lists (1, 1) for old1 and
/// (2, 1). The held new2 puts the next use's first message at t + 5 at the
/// latest, above t + 4: nothing of the next use is abandoned, the entry is
/// the old use's, and the retransmitted new0 and new1 (a data channel's
/// DATA_CHANNEL_OPEN and first message) are delivered before new2.
fn an_old_use_entry_with_later_next_use_data_held(i_data: bool) {
    let (mut b, raw) = raw_peer(i_data, 65_535);
    let t = raw.isn;
    let whole = BEGIN | END;
    raw.feed(
        &mut b,
        &raw.data(t.wrapping_add(1), 1, 0, whole, 0, b"old0"),
    );
    assert_eq!(story(&mut b), ["m:old0"]);
    let request = raw.reset_request(raw.isn, t.wrapping_add(2), &[1]);
    assert_eq!(raw.feed(&mut b, &request), [(raw.isn, IN_PROGRESS)]);
    raw.feed(
        &mut b,
        &raw.data(t.wrapping_add(7), 1, 2, whole, 0, b"new2"),
    );
    assert_eq!(story(&mut b), Vec::<String>::new());
    let fwd = raw.forward_tsn(t.wrapping_add(4), &[(1, 1), (2, 1)]);
    assert_eq!(raw.feed(&mut b, &fwd), [(raw.isn, SUCCESS_PERFORMED)]);
    raw.feed(
        &mut b,
        &raw.data(t.wrapping_add(5), 1, 0, whole, 0, b"new0"),
    );
    raw.feed(
        &mut b,
        &raw.data(t.wrapping_add(6), 1, 1, whole, 0, b"new1"),
    );
    assert_eq!(
        story(&mut b),
        ["reset:1", "m:new0", "m:new1", "m:new2"],
        "the next use's first messages are not skipped"
    );
}

#[test]
fn an_old_use_entry_with_later_next_use_data_held_does_not_skip_the_next_use_data() {
    an_old_use_entry_with_later_next_use_data_held(false);
}

#[test]
fn an_old_use_entry_with_later_next_use_data_held_does_not_skip_the_next_use_idata() {
    an_old_use_entry_with_later_next_use_data_held(true);
}

/// The bound t - n is only tight for a message's first fragment. Stream 1 delivered "old0" (t + 1); the request
/// names t + 2 (stream 2, lost, abandoned). The peer, in the stream's next
/// use, sends "new0" (SSN / MID 0, t + 3, lost, abandoned) and "new1"
/// (SSN / MID 1) in two fragments: t + 4 (lost, reliable: retransmitted
/// later) and t + 5 (held). Its FORWARD-TSN (new cum t + 3, entries
/// (2, 0), (1, 0)) abandons new0, as in
/// `a_wholly_abandoned_first_message_of_the_next_use`; only the held chunk
/// is new1's second fragment, which bounds nothing: the entry is the next
/// use's, and new1, once complete, is delivered (it would otherwise wait for
/// SSN / MID 0 for ever).
fn a_wholly_abandoned_first_message_with_a_later_fragment_held(i_data: bool) {
    let (mut b, raw, t) = deferred_reset_after_old0(i_data);
    raw.feed(&mut b, &raw.data(t.wrapping_add(5), 1, 1, END, 1, b"w1"));
    assert_eq!(story(&mut b), Vec::<String>::new());
    let fwd = raw.forward_tsn(t.wrapping_add(3), &[(2, 0), (1, 0)]);
    assert_eq!(raw.feed(&mut b, &fwd), [(raw.isn, SUCCESS_PERFORMED)]);
    assert_eq!(story(&mut b), ["reset:1"]);
    raw.feed(
        &mut b,
        &raw.data(t.wrapping_add(4), 1, 1, BEGIN, 0, b"new1-"),
    );
    assert_eq!(
        story(&mut b),
        ["m:new1-w1"],
        "new1 is delivered once its abandoned SSN / MID 0 is skipped"
    );
}

#[test]
fn an_abandoned_first_message_with_only_a_later_fragment_of_the_next_held_data() {
    a_wholly_abandoned_first_message_with_a_later_fragment_held(false);
}

#[test]
fn an_abandoned_first_message_with_only_a_later_fragment_of_the_next_held_idata() {
    a_wholly_abandoned_first_message_with_a_later_fragment_held(true);
}

/// A held later fragment bounds the next use's first message too: its
/// message (same SSN / MID n) began at t - 1 at the latest, so the first
/// message is at or below t - 1 - n. Stream 1 delivered "old0"
/// (t + 1); the request names t + 2 ("old1", SSN / MID 1, lost, abandoned);
/// stream 2's message at t + 3..t + 4 is abandoned too. In the next use the
/// peer sends "new0" (SSN / MID 0, reliable) in two fragments: t + 5 (lost,
/// retransmitted later) and t + 6 (held). The FORWARD-TSN (new cum t + 4,
/// entries (1, 1), (2, 0)) cannot be about the next use (its SSN / MID 0
/// spans t + 5..t + 6, above the new cumulative TSN): the entry is the old
/// use's. Treating it as the next use's skips new0, a reliable message.
fn an_old_use_entry_with_only_a_later_next_use_fragment_held(i_data: bool) {
    let (mut b, raw, t) = deferred_reset_after_old0(i_data);
    raw.feed(&mut b, &raw.data(t.wrapping_add(6), 1, 0, END, 1, b"w0"));
    assert_eq!(story(&mut b), Vec::<String>::new());
    let fwd = raw.forward_tsn(t.wrapping_add(4), &[(1, 1), (2, 0)]);
    assert_eq!(raw.feed(&mut b, &fwd), [(raw.isn, SUCCESS_PERFORMED)]);
    assert_eq!(story(&mut b), ["reset:1"]);
    raw.feed(
        &mut b,
        &raw.data(t.wrapping_add(5), 1, 0, BEGIN, 0, b"new0-"),
    );
    assert_eq!(
        story(&mut b),
        ["m:new0-w0"],
        "the reliable new0 is delivered, not skipped by the old use's entry"
    );
}

#[test]
fn an_old_use_entry_with_only_a_later_next_use_fragment_held_skips_nothing_data() {
    an_old_use_entry_with_only_a_later_next_use_fragment_held(false);
}

#[test]
fn an_old_use_entry_with_only_a_later_next_use_fragment_held_skips_nothing_idata() {
    an_old_use_entry_with_only_a_later_next_use_fragment_held(true);
}

/// The Outgoing SSN Reset Request parameters (RFC 6525 §4.1) in a packet:
/// their stream lists.
fn outgoing_reset_requests(packet: &[u8]) -> Vec<Vec<u16>> {
    outgoing_reset_params(packet)
        .into_iter()
        .map(|p| {
            p[16..]
                .chunks_exact(2)
                .map(|s| u16::from_be_bytes([s[0], s[1]]))
                .collect()
        })
        .collect()
}

/// An Incoming SSN Reset Request (RFC 6525 §4.2) asks us to reset our
/// outgoing streams; only streams we have can be reset. One naming streams
/// 1 and 5000 of an association with 10 outbound streams is answered "Denied"
/// (§4.4) as a whole, as an Outgoing SSN Reset Request naming a stream we
/// do not have is, and we send no reset request of our own for it: the peer would deny
/// that, we would ask again at once, for ever, and every later stream reset
/// (each data channel's close) would ride in the same denied request.
#[test]
fn an_incoming_reset_request_naming_a_stream_beyond_the_outbound_count_is_denied() {
    let (mut b, raw) = raw_peer(false, 10);
    assert_eq!(b.outbound_streams(), 10);
    let seq = raw.isn;
    let chunk = incoming_reset_request_for_stream_5000(seq);
    let now = Instant::now();
    b.handle_receive(now, &raw_packet(raw.tag, &chunk)).unwrap();
    let (mut responses, mut requests) = (Vec::new(), Vec::new());
    let mut buf = Vec::new();
    while b.poll_transmit(now, &mut buf).is_some() {
        responses.extend(reconfig_responses(&buf));
        requests.extend(outgoing_reset_requests(&buf));
    }
    assert_eq!(responses, [(seq, DENIED)]);
    assert_eq!(requests, Vec::<Vec<u16>>::new(), "no reset request");
}

/// RFC 6525 §5.2.1: a peer whose answer was lost sends the same Incoming
/// SSN Reset Request again; it gets the same answer (here Denied), not
/// Bad Sequence Number, and nothing is done twice.
#[test]
fn a_retransmitted_incoming_reset_request_gets_the_same_answer() {
    let (mut b, raw) = raw_peer(false, 10);
    let seq = raw.isn;
    let chunk = incoming_reset_request_for_stream_5000(seq);
    let now = Instant::now();
    let mut buf = Vec::new();
    for round in ["first", "again"] {
        b.handle_receive(now, &raw_packet(raw.tag, &chunk)).unwrap();
        let mut responses = Vec::new();
        while b.poll_transmit(now, &mut buf).is_some() {
            responses.extend(reconfig_responses(&buf));
        }
        assert_eq!(responses, [(seq, DENIED)], "{round}");
    }
}

/// A RE-CONFIG chunk with one Incoming SSN Reset Request (RFC 6525 §4.2,
/// parameter type 14) numbered `seq`, for stream 5000.
fn incoming_reset_request_for_stream_5000(seq: u32) -> Vec<u8> {
    reconfig_chunk(&[incoming_reset_param(seq, &[5000])])
}

/// RFC 6525 §3.1, §5.2.1: a RE-CONFIG chunk may carry an Outgoing SSN
/// Reset Request (N) and an Incoming one (N+1); when both answers were
/// lost and the peer sends the chunk again, both requests get the answers
/// they got the first time, the earlier one too (not Bad Sequence Number).
#[test]
fn a_retransmitted_outgoing_and_incoming_reset_pair_gets_the_same_answers() {
    let (mut b, raw) = raw_peer(false, 10);
    let seq = raw.isn;
    let chunk = reconfig_chunk(&[
        // Outgoing SSN Reset Request, N, last TSN the probe's, stream 0.
        outgoing_reset_param(seq, raw.isn, &[0]),
        // Incoming SSN Reset Request, N+1, stream 0.
        incoming_reset_param(seq.wrapping_add(1), &[0]),
    ]);
    let first = raw.feed(&mut b, &chunk);
    assert_eq!(first.len(), 2, "two answers: {first:?}");
    let again = raw.feed(&mut b, &chunk);
    assert_eq!(again, first, "the retransmitted pair is answered alike");
}

/// A RE-CONFIG chunk with one Add Outgoing Streams Request (RFC 6525
/// §4.5, parameter type 17) or Add Incoming Streams Request (§4.6, type
/// 18) numbered `seq`, for `count` new streams.
fn add_streams_request(seq: u32, count: u16, outgoing: bool) -> Vec<u8> {
    let mut p = Vec::new();
    let ty: u16 = if outgoing { 17 } else { 18 };
    p.extend_from_slice(&ty.to_be_bytes());
    p.extend_from_slice(&12u16.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&count.to_be_bytes());
    p.extend_from_slice(&0u16.to_be_bytes());
    let mut chunk = Vec::new();
    raw_chunk(&mut chunk, RE_CONFIG, 0, &p);
    chunk
}

/// RFC 6525 §5.2.5 with §5.2.1: a peer whose answer was lost sends its Add
/// Outgoing Streams Request again; it gets the answer it got the first
/// time (Success - Performed), not Bad Sequence Number, and the streams
/// are added once.
#[test]
fn a_retransmitted_add_outgoing_streams_request_gets_the_same_answer_and_adds_once() {
    let (mut b, raw) = raw_peer(false, 10);
    let before = b.inbound_streams();
    let seq = raw.isn;
    let chunk = add_streams_request(seq, 5, true);
    assert_eq!(raw.feed(&mut b, &chunk), [(seq, SUCCESS_PERFORMED)]);
    assert_eq!(b.inbound_streams(), before + 5);
    assert_eq!(
        raw.feed(&mut b, &chunk),
        [(seq, SUCCESS_PERFORMED)],
        "retransmission"
    );
    assert_eq!(b.inbound_streams(), before + 5, "added once");
}

/// RFC 6525 §5.2.6 with §5.2.1: we do not add outgoing streams at the
/// peer's request, so an Add Incoming Streams Request is Denied; its
/// retransmission is Denied again, not answered Bad Sequence Number.
#[test]
fn a_retransmitted_add_incoming_streams_request_gets_the_same_answer() {
    let (mut b, raw) = raw_peer(false, 10);
    let seq = raw.isn;
    let chunk = add_streams_request(seq, 5, false);
    assert_eq!(raw.feed(&mut b, &chunk), [(seq, DENIED)]);
    assert_eq!(raw.feed(&mut b, &chunk), [(seq, DENIED)], "retransmission");
}

/// The Outgoing SSN Reset Requests (RFC 6525 §4.1) in a packet: their
/// Re-configuration Request Sequence Numbers.
fn outgoing_reset_request_seqs(packet: &[u8]) -> Vec<u32> {
    outgoing_reset_params(packet)
        .into_iter()
        .map(|p| u32::from_be_bytes(p[4..8].try_into().unwrap()))
        .collect()
}

/// The sequence numbers of the Outgoing SSN Reset Requests (RFC 6525
/// §4.1) `b` sends now (the peer gets none of its packets).
fn reset_requests_sent(b: &mut Association, now: Instant) -> Vec<u32> {
    let mut buf = Vec::new();
    let mut seqs = Vec::new();
    while b.poll_transmit(now, &mut buf).is_some() {
        seqs.extend(outgoing_reset_request_seqs(&buf));
    }
    seqs
}

impl Raw {
    /// Answers `b`'s reset request `seq` with `result` (RFC 6525 §4.4).
    fn answer(&self, b: &mut Association, now: Instant, seq: u32, result: u32) {
        b.handle_receive(now, &raw_packet(self.tag, &reconfig_response(seq, result)))
            .unwrap();
    }
}

/// A RE-CONFIG chunk with one Re-configuration Response (RFC 6525 §4.4).
fn reconfig_response(seq: u32, result: u32) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&16u16.to_be_bytes());
    p.extend_from_slice(&12u16.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&result.to_be_bytes());
    let mut chunk = Vec::new();
    raw_chunk(&mut chunk, RE_CONFIG, 0, &p);
    chunk
}

/// A peer that denies every reset request (RFC 6525 §4.4) is asked again
/// after a wait (one RTO, doubling at each refusal in a row), not at once
/// and not for ever: after more
/// than `max_retransmits` (10) refusals in a row the reset is given up
/// ([`Event::OutgoingStreamResetFailed`]), nothing more is asked, and the
/// stream takes messages again. (It was asked again at once after each
/// refusal, without end: a data channel stayed closing for good.)
#[test]
fn a_reset_the_peer_keeps_denying_is_given_up_after_max_retransmits_refusals() {
    let (mut b, raw) = raw_peer(false, 10);
    let mut now = Instant::now();
    b.reset_stream(1).unwrap();
    let (mut requests, mut failed) = (0, Vec::new());
    // Refusals in a row wait longer and longer (up to RTO.max).
    for _ in 0..400 {
        for seq in reset_requests_sent(&mut b, now) {
            requests += 1;
            raw.answer(&mut b, now, seq, DENIED);
        }
        while let Some(e) = b.poll_event() {
            if let Event::OutgoingStreamResetFailed(s) = e {
                failed.push(s);
            }
        }
        now += std::time::Duration::from_millis(500);
        b.handle_timeout(now);
    }
    assert_eq!(requests, 11, "asked max_retransmits + 1 times");
    assert_eq!(failed, [1], "given up once");
    b.send(now, 1, ppid::BINARY, b"again", SendOptions::default())
        .expect("the stream takes messages again");
}

/// RFC 6525 §4.4 answers a request as a whole: a peer that refuses the
/// reset of one stream refuses every stream asked with it. Streams reset
/// together whose request was refused are asked again each in a request of
/// its own, so a stream the peer always refuses (here 1) is given up alone
/// and the others (here 2) are reset. (Refusals were counted per
/// association: stream 2 was refused along with stream 1 until both were
/// given up.)
#[test]
fn a_stream_the_peer_always_refuses_does_not_take_the_others_reset_with_it() {
    let (mut b, raw) = raw_peer(false, 10);
    let mut now = Instant::now();
    b.reset_stream(1).unwrap();
    b.reset_stream(2).unwrap();
    let mut buf = Vec::new();
    let (mut asked, mut events) = (Vec::new(), Vec::new());
    // Refusals in a row wait longer and longer (up to RTO.max).
    for _ in 0..400 {
        let mut requests = Vec::new();
        while b.poll_transmit(now, &mut buf).is_some() {
            let seqs = outgoing_reset_request_seqs(&buf);
            requests.extend(seqs.into_iter().zip(outgoing_reset_requests(&buf)));
        }
        for (seq, streams) in requests {
            let result = if streams.contains(&1) {
                DENIED
            } else {
                SUCCESS_PERFORMED
            };
            asked.push(streams);
            raw.answer(&mut b, now, seq, result);
        }
        events.extend(reset_outcomes(&mut b));
        now += std::time::Duration::from_millis(500);
        b.handle_timeout(now);
    }
    assert_eq!(asked[0], [1, 2], "first asked together");
    assert_eq!(events, ["reset:2", "failed:1"], "asked: {asked:?}");
    let refused = asked.iter().filter(|s| s.contains(&1)).count();
    assert_eq!(refused, 11, "stream 1 asked max_retransmits + 1 times");
}

/// RFC 6525 §5.1.1: an unanswered reset request is sent again when its
/// timer expires, and each expiry counts toward the association's error
/// counter as a T3-rtx one does (RFC 9260 §8.1): past `max_retransmits`
/// the association ends (it was sent again for ever, the count never
/// checked).
#[test]
fn an_unanswered_reset_request_ends_the_association_after_max_retransmits() {
    let mut now = Instant::now();
    let quiet = |seed| Config {
        heartbeat_interval: None,
        ..config(seed)
    };
    let (mut a, _b) = connected_pair(now, quiet(1), quiet(2));
    a.reset_stream(1).unwrap();
    let mut buf = Vec::new();
    let mut requests = 0;
    let mut closed = None;
    for _ in 0..40 {
        while a.poll_transmit(now, &mut buf).is_some() {
            requests += outgoing_reset_request_seqs(&buf).len();
        }
        while let Some(e) = a.poll_event() {
            if let Event::Closed(reason) = e {
                closed = Some(reason);
            }
        }
        if closed.is_some() {
            break;
        }
        let Some(t) = a.poll_timeout() else { break };
        now = now.max(t);
        a.handle_timeout(now);
    }
    assert_eq!(closed, Some(ferrtc_sctp::CloseReason::Timeout));
    assert_eq!(requests, 11, "sent, then again at each of 10 expiries");
}

/// RFC 6525 §4.1: an Outgoing SSN Reset Request that lists no stream
/// resets every stream. Every stream that had messages starts again at SSN
/// 0, every stream is reported reset, and the request is answered Success -
/// Performed. (It reset nothing and was answered Performed all the same,
/// so the peer's next messages, from SSN 0, were taken for old ones.)
#[test]
fn a_reset_request_listing_no_stream_resets_every_stream() {
    let (mut b, raw) = raw_peer(false, 10);
    let (isn, seq) = (raw.isn, raw.isn);
    let t = |k: u32| isn.wrapping_add(k);
    raw.feed(&mut b, &raw.data(t(1), 1, 0, BEGIN | END, 0, b"a"));
    raw.feed(&mut b, &raw.data(t(2), 2, 0, BEGIN | END, 0, b"b"));
    assert_eq!(story(&mut b), ["m:a", "m:b"]);
    let request = raw.reset_request(seq, t(2), &[]);
    assert_eq!(raw.feed(&mut b, &request), [(seq, SUCCESS_PERFORMED)]);
    assert_eq!(story(&mut b), ["reset:all"]);
    raw.feed(&mut b, &raw.data(t(3), 1, 0, BEGIN | END, 0, b"c"));
    raw.feed(&mut b, &raw.data(t(4), 0, 0, BEGIN | END, 0, b"d"));
    assert_eq!(story(&mut b), ["m:c", "m:d"], "the streams' next use");
}

/// The same request while data before its last TSN is missing waits for it
/// (RFC 6525 §5.2.2 E2): data of any stream after the last TSN belongs to
/// the streams' next use, is held, and is delivered after the reset.
#[test]
fn a_deferred_reset_listing_no_stream_holds_every_streams_next_use() {
    let (mut b, raw) = raw_peer(false, 10);
    let (isn, seq) = (raw.isn, raw.isn);
    let t = |k: u32| isn.wrapping_add(k);
    let request = raw.reset_request(seq, t(1), &[]);
    assert_eq!(raw.feed(&mut b, &request), [(seq, IN_PROGRESS)]);
    raw.feed(&mut b, &raw.data(t(2), 0, 0, BEGIN | END, 0, b"next"));
    assert_eq!(story(&mut b), Vec::<String>::new(), "held");
    assert_eq!(
        raw.feed(&mut b, &raw.data(t(1), 0, 1, BEGIN | END, 0, b"old")),
        [(seq, SUCCESS_PERFORMED)]
    );
    assert_eq!(story(&mut b), ["m:old", "reset:all", "m:next"]);
}

/// The (stream, SSN) of the DATA chunks (RFC 9260 §3.3.1) in a packet.
fn data_streams_and_ssns(packet: &[u8]) -> Vec<(u16, u16)> {
    let mut out = Vec::new();
    let mut rest = &packet[12..];
    while rest.len() >= 4 {
        let len = u16::from_be_bytes([rest[2], rest[3]]) as usize;
        if rest[0] == 0 && len >= 16 {
            let stream = u16::from_be_bytes([rest[8], rest[9]]);
            let ssn = u16::from_be_bytes([rest[10], rest[11]]);
            out.push((stream, ssn));
        }
        rest = &rest[((len + 3) & !3).min(rest.len())..];
    }
    out
}

/// RFC 6525 §4.2: an Incoming SSN Reset Request that lists no stream asks
/// us to reset every outgoing stream; we do it with our own Outgoing SSN
/// Reset Request (§5.2.3), here for the streams we have used (1 and 3: a
/// stream never used is at SSN 0 already). Once the peer performs it the
/// streams are reported reset and start again at SSN 0. (It was answered
/// Success - Nothing to do and nothing was reset, so our next messages
/// went on from SSN 1 while the peer's side waited for SSN 0.)
#[test]
fn an_incoming_reset_request_listing_no_stream_resets_every_outgoing_stream() {
    const SUCCESS_NOTHING: u32 = 0;
    let (mut b, raw) = raw_peer(false, 10);
    let now = Instant::now();
    let mut buf = Vec::new();
    for stream in [1, 3] {
        b.send(now, stream, ppid::BINARY, b"old", SendOptions::default())
            .unwrap();
    }
    let mut sent = Vec::new();
    while b.poll_transmit(now, &mut buf).is_some() {
        sent.extend(data_streams_and_ssns(&buf));
    }
    assert_eq!(sent, [(1, 0), (3, 0)]);
    let seq = raw.isn;
    let chunk = reconfig_chunk(&[incoming_reset_param(seq, &[])]);
    b.handle_receive(now, &raw_packet(raw.tag, &chunk)).unwrap();
    let (mut responses, mut requests, mut request_seqs) = (Vec::new(), Vec::new(), Vec::new());
    while b.poll_transmit(now, &mut buf).is_some() {
        responses.extend(reconfig_responses(&buf));
        requests.extend(outgoing_reset_requests(&buf));
        request_seqs.extend(outgoing_reset_request_seqs(&buf));
    }
    assert_eq!(responses, [(seq, SUCCESS_NOTHING)]);
    assert_eq!(requests, [vec![1, 3]], "our own reset of every used stream");
    let answer = reconfig_response(request_seqs[0], SUCCESS_PERFORMED);
    b.handle_receive(now, &raw_packet(raw.tag, &answer))
        .unwrap();
    let (_, events) = drain(&mut b);
    let reset: Vec<_> = events
        .into_iter()
        .filter(|e| matches!(e, Event::OutgoingStreamReset(_)))
        .collect();
    assert_eq!(
        reset,
        [Event::OutgoingStreamReset(1), Event::OutgoingStreamReset(3)]
    );
    b.send(now, 1, ppid::BINARY, b"new", SendOptions::default())
        .unwrap();
    let mut sent = Vec::new();
    while b.poll_transmit(now, &mut buf).is_some() {
        sent.extend(data_streams_and_ssns(&buf));
    }
    assert_eq!(sent, [(1, 0)], "the stream's next use starts at SSN 0");
}

/// RFC 6525 §5.1.1: an unanswered reset request is retransmitted on a
/// timer run like T3-rtx, whose RTO doubles at each expiry up to RTO.max
/// (RFC 9260 §6.3.3 E2). With an RTO of 1 s and RTO.max of 5 s, the
/// request goes out again after 1, 2, 4, 5 and 5 s. Once answered, the
/// next request's timer starts from the RTO again. (It was sent again
/// every RTO, never backing off.)
#[test]
fn an_unanswered_reset_request_is_retransmitted_with_a_doubling_timeout() {
    use std::time::Duration;
    let start = Instant::now();
    let cfg = |seed| Config {
        heartbeat_interval: None,
        rto_initial: Duration::from_secs(1),
        rto_max: Duration::from_secs(5),
        ..config(seed)
    };
    let (mut a, mut b) = connected_pair(start, cfg(1), cfg(2));
    let mut now = start;
    let mut buf = Vec::new();
    // Runs `a`'s timers without delivering anything; returns the seconds
    // since `from` at which each reset request went out.
    let mut lost = |a: &mut Association, now: &mut Instant, expiries: usize| {
        let from = *now;
        let mut at = Vec::new();
        for _ in 0..=expiries {
            while a.poll_transmit(*now, &mut buf).is_some() {
                if !outgoing_reset_request_seqs(&buf).is_empty() {
                    at.push((*now - from).as_secs());
                }
            }
            let Some(t) = a.poll_timeout() else { break };
            *now = (*now).max(t);
            a.handle_timeout(*now);
        }
        at
    };
    a.reset_stream(1).unwrap();
    assert_eq!(lost(&mut a, &mut now, 5), [0, 1, 3, 7, 12, 17]);
    // The next retransmission, due since the last expiry, reaches the
    // peer, which performs the reset.
    pump(&mut a, &mut b, now);
    assert!(drain(&mut a).1.contains(&Event::OutgoingStreamReset(1)));
    a.reset_stream(2).unwrap();
    assert_eq!(lost(&mut a, &mut now, 2), [0, 1, 3], "from the RTO again");
}

/// RFC 6525 §4.1: a request listing no stream resets every incoming
/// stream, also one the peer never sent on, and the application is told
/// so. A negotiated data channel whose peer side was silent is closed by
/// the peer's reset all the same (RFC 8831 §6.7); told only of the streams
/// the peer had sent on (here 1), the channel on stream 3 stayed open (or,
/// closing, waited for good for the peer's reset).
#[test]
fn a_reset_of_every_stream_tells_of_every_stream_also_one_the_peer_never_sent_on() {
    let (mut b, raw) = raw_peer(false, 10);
    let (isn, seq) = (raw.isn, raw.isn);
    let t = |k: u32| isn.wrapping_add(k);
    raw.feed(&mut b, &raw.data(t(1), 1, 0, BEGIN | END, 0, b"a"));
    assert_eq!(story(&mut b), ["m:a"]);
    let request = raw.reset_request(seq, t(1), &[]);
    assert_eq!(raw.feed(&mut b, &request), [(seq, SUCCESS_PERFORMED)]);
    assert_eq!(story(&mut b), ["reset:all"], "one event for every stream");
}

/// A peer that refuses every reset (RFC 6525 §4.4 Denied) has nine
/// streams closed at once given up within max_retransmits + 1 refusals of
/// the requests that ask them, plus at most one request of each stream
/// alone (to tell a stream the peer refuses from one refused with it):
/// not one stream after another, each after max_retransmits + 1 requests
/// an RTO apart, which kept hundreds of channels closed together Closing
/// for hours.
#[test]
fn a_peer_refusing_every_reset_gives_up_many_streams_in_bounded_requests() {
    let (mut b, raw) = raw_peer(false, 10);
    let start = Instant::now();
    let mut now = start;
    for s in 1..=9 {
        b.reset_stream(s).unwrap();
    }
    let (mut requests, mut failed) = (0, Vec::new());
    let mut last_failed_at = start;
    for _ in 0..1000 {
        for seq in reset_requests_sent(&mut b, now) {
            requests += 1;
            raw.answer(&mut b, now, seq, DENIED);
        }
        while let Some(e) = b.poll_event() {
            if let Event::OutgoingStreamResetFailed(s) = e {
                failed.push(s);
                last_failed_at = now;
            }
        }
        if failed.len() == 9 {
            break;
        }
        let Some(t) = b.poll_timeout() else { break };
        now = now.max(t);
        b.handle_timeout(now);
    }
    failed.sort_unstable();
    assert_eq!(failed, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert!(
        requests <= 11 + 9,
        "{requests} refused requests, the last stream given up after {:?}",
        last_failed_at - start
    );
}

/// A refused request (RFC 6525 §4.4 Denied) is asked again after a wait
/// that doubles at each refusal in a row, up to RTO.max, as the timer of
/// an unanswered request does (§5.1.1, RFC 9260 §6.3.3 E2). With an RTO
/// of 1 s and RTO.max of 5 s, a peer that keeps refusing is asked at 0,
/// 1, 3, 7, 12 and 17 s. (It was asked again every RTO.)
#[test]
fn a_refused_reset_is_asked_again_after_a_doubling_wait() {
    use std::time::Duration;
    let (mut b, raw) = raw_peer_with(false, 10, |c| Config {
        heartbeat_interval: None,
        rto_initial: Duration::from_secs(1),
        rto_max: Duration::from_secs(5),
        ..c
    });
    let start = Instant::now();
    let mut now = start;
    b.reset_stream(1).unwrap();
    let mut at = Vec::new();
    for _ in 0..100 {
        for seq in reset_requests_sent(&mut b, now) {
            at.push((now - start).as_secs());
            raw.answer(&mut b, now, seq, DENIED);
        }
        if at.len() >= 6 {
            break;
        }
        let Some(t) = b.poll_timeout() else { break };
        now = now.max(t);
        b.handle_timeout(now);
    }
    assert_eq!(at, [0, 1, 3, 7, 12, 17], "seconds at which it was asked");
}

/// What `b` tells of its outgoing resets, in order: `"reset:<stream>"`,
/// `"failed:<stream>"` (given up), and `"closed"` if the association ends.
fn reset_outcomes(b: &mut Association) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(e) = b.poll_event() {
        match e {
            Event::OutgoingStreamReset(s) => out.push(format!("reset:{s}")),
            Event::OutgoingStreamResetFailed(s) => out.push(format!("failed:{s}")),
            Event::Closed(_) => out.push("closed".into()),
            _ => {}
        }
    }
    out
}

/// Runs `b`'s reset requests against a peer that answers the `n`th one
/// (from 0) with `answer(n)` (`None`: the request is lost), driving `b`'s
/// timers, until `b` is quiet or closed; returns the number of requests and `b`'s reset events
/// (`"reset:<stream>"`, `"failed:<stream>"`, `"closed"`).
fn answer_requests(
    b: &mut Association,
    raw: &Raw,
    answer: impl Fn(usize) -> Option<u32>,
) -> (usize, Vec<String>) {
    let mut now = Instant::now();
    let (mut requests, mut events) = (0, Vec::new());
    for _ in 0..1000 {
        for seq in reset_requests_sent(b, now) {
            let result = answer(requests);
            requests += 1;
            if let Some(result) = result {
                raw.answer(b, now, seq, result);
            }
        }
        events.extend(reset_outcomes(b));
        let Some(t) = b.poll_timeout() else { break };
        now = now.max(t);
        b.handle_timeout(now);
    }
    (requests, events)
}

/// RFC 6525 §4.4: "In progress" (result 6) is no refusal: the peer is
/// still working on the request (waiting for data up to its last TSN,
/// §5.2.2 E2), and the request is sent again later. The peer answers, so
/// the waits do not count toward the association's error counter (RFC
/// 9260 §8.1): ten "In progress" answers, one request lost, then
/// "Performed" reset the stream. (Each wait counted as an unanswered
/// timeout: with the lost request's, eleven ended the association.)
#[test]
fn a_reset_answered_in_progress_is_asked_again_without_ending_the_association() {
    let (mut b, raw) = raw_peer_with(false, 10, |c| Config {
        heartbeat_interval: None,
        ..c
    });
    b.reset_stream(1).unwrap();
    let (requests, events) = answer_requests(&mut b, &raw, |n| match n {
        0..10 => Some(IN_PROGRESS),
        10 => None,
        _ => Some(SUCCESS_PERFORMED),
    });
    assert_eq!(events, ["reset:1"]);
    assert_eq!(requests, 12);
    assert_eq!(b.state(), ferrtc_sctp::AssociationState::Established);
}

/// "In progress" for ever is bounded all the same: with every TSN up to
/// the request's last acknowledged (here no data was sent), after more
/// than `max_retransmits` (10) such answers in a row the reset is given up
/// ([`Event::OutgoingStreamResetFailed`]) as a refused one is, the
/// association stays up and the stream takes messages again.
#[test]
fn a_reset_the_peer_keeps_answering_in_progress_is_given_up_after_max_retransmits() {
    let (mut b, raw) = raw_peer_with(false, 10, |c| Config {
        heartbeat_interval: None,
        ..c
    });
    b.reset_stream(1).unwrap();
    let (requests, events) = answer_requests(&mut b, &raw, |_| Some(IN_PROGRESS));
    assert_eq!(events, ["failed:1"]);
    assert_eq!(requests, 11, "asked max_retransmits + 1 times");
    assert_eq!(b.state(), ferrtc_sctp::AssociationState::Established);
    b.send(
        Instant::now(),
        1,
        ppid::BINARY,
        b"again",
        SendOptions::default(),
    )
    .expect("the stream takes messages again");
}

/// RFC 6525 §4.2, §5.2.3: the peer's Incoming SSN Reset Request has us
/// reset the outgoing streams it lists, after their queued messages. The
/// application is told ([`Event::OutgoingStreamResetRequested`]): for a
/// data channel that reset is its side closing (RFC 8831 §6.7), and the
/// stream takes no new message meanwhile. A message queued before the
/// request goes first, covered by the request's last TSN. (Nothing was
/// told, and a data channel went on sending on a stream its peer took
/// for closed.)
#[test]
fn an_incoming_reset_request_is_told_to_the_application_and_queued_data_goes_first() {
    let (mut b, raw) = raw_peer(false, 10);
    let now = Instant::now();
    b.send(now, 1, ppid::BINARY, b"before", SendOptions::default())
        .unwrap();
    let chunk = reconfig_chunk(&[incoming_reset_param(raw.isn, &[1])]);
    b.handle_receive(now, &raw_packet(raw.tag, &chunk)).unwrap();
    let (_, events) = drain(&mut b);
    assert_eq!(events, [Event::OutgoingStreamResetRequested(1)]);
    assert_eq!(
        b.send(now, 1, ppid::BINARY, b"after", SendOptions::default()),
        Err(ferrtc_sctp::Error::StreamClosing(1))
    );
    let mut buf = Vec::new();
    let mut sent = Vec::new();
    while b.poll_transmit(now, &mut buf).is_some() {
        sent.extend(data_streams_and_ssns(&buf).into_iter().map(|_| "data"));
        sent.extend(outgoing_reset_requests(&buf).into_iter().map(|_| "reset"));
    }
    assert_eq!(sent, ["data", "reset"]);
}

/// RFC 6525 §4.2: each of the peer's Incoming SSN Reset Requests that
/// queues a reset of a stream is counted for that stream as it arrives,
/// before its event is polled (a data channel layer holding events back
/// tells by it that a request waits); a request for a stream being reset
/// already queues nothing, and is not counted.
#[test]
fn the_peers_reset_requests_are_counted_per_stream_as_they_arrive() {
    let (mut b, raw) = raw_peer(false, 10);
    let now = Instant::now();
    assert_eq!(b.peer_reset_requests(1), 0);
    let chunk = reconfig_chunk(&[incoming_reset_param(raw.isn, &[1])]);
    b.handle_receive(now, &raw_packet(raw.tag, &chunk)).unwrap();
    assert_eq!(
        b.peer_reset_requests(1),
        1,
        "counted before the event is polled"
    );
    let chunk = reconfig_chunk(&[incoming_reset_param(raw.isn.wrapping_add(1), &[1, 3])]);
    b.handle_receive(now, &raw_packet(raw.tag, &chunk)).unwrap();
    assert_eq!(
        b.peer_reset_requests(1),
        1,
        "stream 1 is being reset already"
    );
    assert_eq!(b.peer_reset_requests(3), 1);
    assert_eq!(b.peer_reset_requests(2), 0);
    let (_, events) = drain(&mut b);
    assert_eq!(
        events,
        [
            Event::OutgoingStreamResetRequested(1),
            Event::OutgoingStreamResetRequested(3)
        ]
    );
}

/// RFC 6525 §5.2.2: the peer answers "In progress" while our data up to
/// the request's last TSN has not all arrived, and performs the reset
/// once it has. Given up meanwhile, our stream's sequence numbers would
/// go on while the peer's start again. So the request is not given up
/// while that data is unacknowledged, however many such answers come:
/// here the peer keeps its window closed (RFC 9260 §6.1 rule A: it may,
/// for an indefinite time), dropping our zero window probes, for fifteen
/// "In progress" answers, then takes the data and performs the reset.
/// (After `max_retransmits`, 10, answers the reset was given up.)
#[test]
fn a_reset_answered_in_progress_is_not_given_up_while_its_data_is_unacknowledged() {
    const SACK: u8 = 3;
    let (mut b, raw) = raw_peer_with(false, 10, |c| Config {
        heartbeat_interval: None,
        ..c
    });
    let mut now = Instant::now();
    b.send(now, 1, ppid::BINARY, b"before", SendOptions::default())
        .unwrap();
    b.reset_stream(1).unwrap();
    let mut buf = Vec::new();
    let (mut tsn, mut requests, mut events) = (None, 0, Vec::new());
    for _ in 0..1000 {
        let mut answers = Vec::new();
        while b.poll_transmit(now, &mut buf).is_some() {
            if chunk_types(&buf).contains(&0) {
                tsn.get_or_insert(first_data_tsn(&buf));
            }
            let mut sack = Vec::new();
            let data = tsn.expect("the data goes first");
            if requests < 15 {
                // Window closed: the data is dropped, not acknowledged.
                raw_chunk(
                    &mut sack,
                    SACK,
                    0,
                    &sack_value(data.wrapping_sub(1), 0, &[]),
                );
            } else {
                raw_chunk(&mut sack, SACK, 0, &sack_value(data, 100_000, &[]));
            }
            answers.push(sack);
            for seq in outgoing_reset_request_seqs(&buf) {
                let result = if requests < 15 {
                    IN_PROGRESS
                } else {
                    SUCCESS_PERFORMED
                };
                requests += 1;
                if let Some(a) = answers.last_mut() {
                    a.extend_from_slice(&reconfig_response(seq, result));
                }
            }
        }
        for a in answers {
            b.handle_receive(now, &raw_packet(raw.tag, &a)).unwrap();
        }
        events.extend(reset_outcomes(&mut b));
        if !events.is_empty() {
            break;
        }
        let Some(t) = b.poll_timeout() else { break };
        now = now.max(t);
        b.handle_timeout(now);
    }
    assert_eq!(events, ["reset:1"], "after {requests} requests");
    assert_eq!(requests, 16);
    assert_eq!(b.state(), ferrtc_sctp::AssociationState::Established);
}

/// The wait before a refused reset is asked again doubles at each refusal
/// in a row (RFC 6525 §5.1.1 with RFC 9260 §6.3.3 E2); a request given up
/// ends the row, also one given up after "In progress" answers (§4.4).
/// Here stream 1 is refused twice (the wait grows to 2 s), then answered
/// "In progress" until given up; stream 3's reset, refused once, is asked
/// again one RTO (1 s) later. (The wait went on doubling from stream 1's
/// refusals: 4 s.)
#[test]
fn a_reset_given_up_after_in_progress_answers_ends_the_refusals_in_a_row() {
    use std::time::Duration;
    let (mut b, raw) = raw_peer_with(false, 10, |c| Config {
        heartbeat_interval: None,
        rto_initial: Duration::from_secs(1),
        rto_max: Duration::from_secs(60),
        ..c
    });
    let start = Instant::now();
    let mut now = start;
    b.reset_stream(1).unwrap();
    let (mut requests, mut stream_3_at) = (0, Vec::new());
    for _ in 0..1000 {
        for seq in reset_requests_sent(&mut b, now) {
            let result = match requests {
                0 | 1 => DENIED,
                2..=12 => IN_PROGRESS,
                13 => DENIED,
                _ => SUCCESS_PERFORMED,
            };
            if requests >= 13 {
                stream_3_at.push(now - start);
            }
            requests += 1;
            raw.answer(&mut b, now, seq, result);
        }
        let mut given_up = false;
        while let Some(e) = b.poll_event() {
            given_up |= e == Event::OutgoingStreamResetFailed(1);
        }
        if given_up {
            b.reset_stream(3).unwrap();
            continue;
        }
        if stream_3_at.len() == 2 {
            break;
        }
        let Some(t) = b.poll_timeout() else { break };
        now = now.max(t);
        b.handle_timeout(now);
    }
    assert_eq!(stream_3_at.len(), 2, "stream 3 asked twice");
    assert_eq!(stream_3_at[1] - stream_3_at[0], Duration::from_secs(1));
}
