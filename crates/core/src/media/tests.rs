//! Unit tests of the media session on hostile input: SRTP keyed from known
//! DTLS-SRTP material, so the test can forge valid packets from the peer.

use bytes::Bytes;
use std::time::{Duration, Instant, SystemTime};

use ferrtc_dtls::{Role, SrtpKeys, SrtpProfile};
use ferrtc_jsep::{
    Codec as SdpCodec, EXT_MID, HeaderExtension, IceCredentials, Jsep, JsepConfig, NegotiatedMedia,
    TransceiverId, TransceiverInit,
};
use ferrtc_rtp::codec::Codec;
use ferrtc_rtp::repair::HistoryConfig;
use ferrtc_rtp::rtcp::{Nack, RtcpPacket};
use ferrtc_rtp::{ExtensionId, PayloadType, RtpPacket};
use ferrtc_sdp::{Direction, MediaKind};
use ferrtc_srtp::{Config, Context, ProtectionProfile};

use super::codec::Negotiated;
use super::receiver::Receiver;
use super::sender::{Sender, StreamSeeds};
use super::{MediaConfig, MediaSession};

const MID_ID: u8 = 4;

/// The next datagram `session` sends at `now`.
fn transmit(session: &mut MediaSession, now: Instant) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    session.poll_transmit(now, &mut buf).then_some(buf)
}

/// A sending stream (SSRC 7, RTX SSRC 8, first sequence number
/// `sequence`) of `codecs` on `id`, writing the mid extension when `mid`.
fn add_sender(
    session: &mut MediaSession,
    id: TransceiverId,
    codecs: Vec<SdpCodec>,
    mid: bool,
    sequence: u16,
) {
    let header_extensions = match mid {
        true => vec![HeaderExtension::new(u16::from(MID_ID), EXT_MID)],
        false => vec![],
    };
    let negotiated = NegotiatedMedia {
        mid: "v".into(),
        direction: Direction::SendOnly,
        codecs,
        header_extensions,
        send_rids: vec![],
        recv_rids: vec![],
        remote_ssrcs: vec![],
        remote_msid: None,
    };
    let seeds = StreamSeeds {
        ssrc: 7,
        rtx_ssrc: 8,
        sequence,
        rtx_sequence: 0,
        timestamp: 0,
    };
    let sender = Sender::new(&negotiated, seeds, HistoryConfig::default(), None).unwrap();
    session.senders.insert((id, 0), sender);
}

/// A keyed session (our side is the DTLS server) and the peer's SRTP
/// context, which protects what the session unprotects.
fn keyed(now: Instant) -> (MediaSession, Context, TransceiverId) {
    let material: Vec<u8> = (0..56u8).collect();
    let profile = SrtpProfile::AeadAes128Gcm;
    let ours = SrtpKeys::from_keying_material(profile, Role::Server, &material).unwrap();
    let mut session = MediaSession::new(MediaConfig::default());
    session.start_srtp(now, &ours);
    let remote = ours.remote();
    let peer = Context::new(
        ProtectionProfile::AeadAes128Gcm,
        &remote.key,
        &remote.salt,
        Config::default().with_max_streams(100_000),
    )
    .unwrap();
    // Transceiver ids come from JSEP, which owns the transceivers.
    let mut jsep = Jsep::new(JsepConfig::new(
        1,
        IceCredentials::new("ufrag", "passwordpasswordpassword"),
        vec![],
    ));
    let id = jsep.add_transceiver(TransceiverInit::new(MediaKind::Video, Direction::SendRecv));
    session.mid_ext = ExtensionId::new(MID_ID);
    (session, peer, id)
}

/// A session receiving VP8 on SSRC 100 (one packet in), its peer's SRTP
/// context and the receiving transceiver.
fn receiving_vp8(now: Instant, wall: SystemTime) -> (MediaSession, Context, TransceiverId) {
    let (mut session, mut peer, id) = keyed(now);
    session
        .receivers
        .insert(id, Receiver::new("v".into(), vec![vp8()], Vec::new(), 2000));
    let mut d = forged(&mut peer, 100, 1, 96, Some(b"v"));
    assert!(session.handle_receive(now, wall, &mut d));
    (session, peer, id)
}

fn vp8() -> Negotiated {
    Negotiated {
        codec: Codec::Vp8,
        payload_type: PayloadType::new(96).unwrap(),
        clock_rate: 90_000,
        rtx: PayloadType::new(97),
        nack: true,
        pli: true,
    }
}

/// Writes a 100-byte frame of 20 ms on transceiver `id`'s only layer.
fn write_100_byte_frame(
    session: &mut MediaSession,
    now: Instant,
    wall: SystemTime,
    id: TransceiverId,
    keyframe: bool,
) {
    session
        .write_frame(
            now,
            wall,
            id,
            None,
            Bytes::from(vec![0x10; 100]),
            Duration::from_millis(20),
            keyframe,
        )
        .unwrap();
}

/// VP8 (payload type 96) with NACK feedback (RFC 4585 §4.2).
fn vp8_with_nack() -> SdpCodec {
    SdpCodec::new(96, "VP8", 90_000, None).with_feedback(&[("nack", None)])
}

fn forged(peer: &mut Context, ssrc: u32, seq: u16, pt: u8, mid: Option<&[u8]>) -> Vec<u8> {
    let payload = [0x10, 1, 2, 3];
    let mut p = RtpPacket::new(PayloadType::new(pt).unwrap(), seq, 1000, ssrc, &payload);
    p.marker = true;
    if let Some(mid) = mid {
        p.extensions
            .insert(ExtensionId::new(MID_ID).unwrap(), mid)
            .unwrap();
    }
    let mut v = p.to_vec();
    peer.protect_rtp(&mut v).unwrap();
    v
}

#[test]
fn a_flood_of_new_ssrcs_is_bounded_and_counted() {
    let now = Instant::now();
    let wall = SystemTime::now();
    let (mut session, mut peer, id) = keyed(now);
    session
        .receivers
        .insert(id, Receiver::new("v".into(), vec![vp8()], Vec::new(), 2000));
    let n = 2000u32;
    for i in 0..n {
        let mut d = forged(&mut peer, 0x1000 + i, 1, 96, Some(b"v"));
        let _ = session.handle_receive(now, wall, &mut d);
    }
    let s = session.stats();
    let limit = MediaConfig::default().max_ssrcs;
    assert!(session.bound_ssrcs() <= limit);
    // Every SSRC past the table's bound is dropped: by the demux, or by
    // SRTP once its own bound of streams is reached.
    assert_eq!(
        s.ssrcs_over_limit + s.srtp_failures,
        u64::from(n) - limit as u64,
        "{s:?}"
    );
    // One stream per receiver: a new SSRC replaces the old one.
    assert!(session.held_packets() <= 1);

    // Without a mid, an SSRC not bound and a payload type nobody
    // negotiated name no receiver.
    let before = session.stats();
    for i in 0..50 {
        let mut d = forged(&mut peer, 0x9000_0000 + i, 1, 50, None);
        let _ = session.handle_receive(now, wall, &mut d);
    }
    let after = session.stats();
    assert_eq!(
        (after.unroutable_rtp - before.unroutable_rtp)
            + (after.srtp_failures - before.srtp_failures),
        50
    );
}

#[test]
fn a_packet_without_mid_reaches_its_receiver_by_ssrc_then_payload_type() {
    let now = Instant::now();
    let wall = SystemTime::now();
    let (mut session, mut peer, id) = keyed(now);
    session
        .receivers
        .insert(id, Receiver::new("v".into(), vec![vp8()], Vec::new(), 2000));
    // RFC 8843 §9.2: no mid, unknown SSRC, a payload type one receiver has.
    let mut d = forged(&mut peer, 42, 1, 96, None);
    assert!(session.handle_receive(now, wall, &mut d));
    assert_eq!(session.bound_ssrcs(), 1);
    assert_eq!(
        session.receivers[&id].layers()[0].counters.packets_received,
        1
    );
    assert_eq!(session.stats().unroutable_rtp, 0);
}

#[test]
fn a_huge_nack_list_is_answered_only_up_to_the_bound() {
    let now = Instant::now();
    let wall = SystemTime::now();
    let (mut session, _peer, id) = keyed(now);
    add_sender(
        &mut session,
        id,
        vec![vp8_with_nack(), SdpCodec::rtx(97, 96, 90_000)],
        true,
        100,
    );
    for _ in 0..400 {
        write_100_byte_frame(&mut session, now, wall, id, false);
    }
    while transmit(&mut session, now).is_some() {}
    // The peer asks for 2,000 packets (most of which we never sent) in one
    // NACK.
    let lost: Vec<u16> = (0..2000u16).map(|i| 100u16.wrapping_add(i)).collect();
    let nack = RtcpPacket::Nack(Nack::from_sequences(1, 7, &lost));
    session.handle_rtcp(now, SystemTime::now(), &nack.to_vec().unwrap());
    let limit = MediaConfig::default().max_retransmissions_per_nack;
    let mut resent = 0;
    while transmit(&mut session, now).is_some() {
        resent += 1;
    }
    assert_eq!(resent, limit, "retransmissions of the first {limit} asked");
    assert_eq!(session.stats().nacks_over_limit, 2000 - limit as u64);
    let c = session.senders[&(id, 0)].counters;
    assert_eq!(c.nack_count, 1);
    assert_eq!(c.retransmitted_packets_sent, limit as u64);
}

#[test]
fn a_packet_is_kept_for_nacks_once_it_left_and_resent_exactly_as_it_left() {
    let now = Instant::now();
    let wall = SystemTime::now();
    let (mut session, _peer, id) = keyed(now);
    // NACK without RTX: a retransmission repeats the packet itself.
    add_sender(&mut session, id, vec![vp8_with_nack()], true, 100);
    let nack = RtcpPacket::Nack(Nack::from_sequences(1, 7, &[100]))
        .to_vec()
        .unwrap();
    write_100_byte_frame(&mut session, now, wall, id, true);
    // Asked for before it left: nothing is resent (it leaves anyway).
    session.handle_rtcp(now, SystemTime::now(), &nack);
    let sent: Vec<Vec<u8>> = std::iter::from_fn(|| transmit(&mut session, now)).collect();
    assert_eq!(sent.len(), 1, "the packet, once");
    // Asked for after it left: the very datagram again (same packet, same
    // SRTP index, so the same bytes on the wire).
    session.handle_rtcp(now, SystemTime::now(), &nack);
    assert_eq!(transmit(&mut session, now), Some(sent[0].clone()));
    assert_eq!(transmit(&mut session, now), None);
    let c = session.senders[&(id, 0)].counters;
    assert_eq!((c.packets_sent, c.retransmitted_packets_sent), (2, 1));
}

/// RFC 3550 §6.1: the packets of a compound datagram are each delimited
/// by their length; those before a malformed one are whole and acted on
/// (libwebrtc does the same), the malformed rest is counted as dropped.
#[test]
fn a_compound_whose_last_packet_is_malformed_still_has_its_nack_answered() {
    use ferrtc_rtp::rtcp::{ReceiverReport, write_compound};
    let now = Instant::now();
    let wall = SystemTime::now();
    let (mut session, _peer, id) = keyed(now);
    add_sender(&mut session, id, vec![vp8_with_nack()], true, 100);
    write_100_byte_frame(&mut session, now, wall, id, true);
    let sent = transmit(&mut session, now).expect("the packet leaves");
    let mut datagram = Vec::new();
    write_compound(
        &[
            RtcpPacket::ReceiverReport(ReceiverReport {
                ssrc: 1,
                reports: vec![],
            }),
            RtcpPacket::Nack(Nack::from_sequences(1, 7, &[100])),
        ],
        &mut datagram,
    )
    .unwrap();
    // A last packet whose length runs past the datagram.
    datagram.extend_from_slice(&[0x80, 202, 0, 9, 0, 0, 0, 1]);
    session.handle_rtcp(now, wall, &datagram);
    assert_eq!(transmit(&mut session, now), Some(sent), "100 is resent");
    assert_eq!(session.senders[&(id, 0)].counters.nack_count, 1);
    assert_eq!(session.stats().malformed_rtcp, 1, "the rest is dropped");
    // A malformed first packet drops the datagram whole.
    let mut first = vec![0x80, 201, 0, 9];
    first.extend_from_slice(&datagram);
    session.handle_rtcp(now, wall, &first);
    assert_eq!(session.senders[&(id, 0)].counters.nack_count, 1);
    assert_eq!(session.stats().malformed_rtcp, 2);
}

/// RFC 3550 §6.2: reports every interval. On a stream that flows, a
/// report that comes due within a quarter interval leaves with the
/// packet that woke the connection (no wake-up of its own), and the next
/// is due an interval after this one was: they stay one interval apart.
#[test]
fn reports_ride_with_arriving_packets_one_interval_apart_and_the_timer_sends_them_when_idle() {
    let t0 = Instant::now();
    let wall = SystemTime::now();
    let (mut session, mut peer, id) = keyed(t0);
    session
        .receivers
        .insert(id, Receiver::new("v".into(), vec![vp8()], Vec::new(), 2000));
    let is_report = |d: &[u8]| matches!(d.get(1), Some(200 | 201));
    let interval = session.config.report_interval;
    let mut reports = Vec::new();
    // Packets every 20 ms for 3 s; the timer is served only when due.
    for i in 0..150u16 {
        let now = t0 + Duration::from_millis(20) * u32::from(i);
        if session.poll_timeout(true).is_some_and(|t| t <= now) {
            session.handle_timeout(now, wall);
            while let Some(d) = transmit(&mut session, now) {
                assert!(!is_report(&d), "no report waits for the timer at {now:?}");
            }
        }
        let mut d = forged(&mut peer, 42, i + 1, 96, Some(b"v"));
        assert!(session.handle_receive(now, wall, &mut d));
        while let Some(d) = transmit(&mut session, now) {
            if is_report(&d) {
                reports.push(now - t0);
            }
        }
    }
    // The first is due half an interval after the keys (500 ms), and
    // leaves with the first packet at least 250 ms in.
    let ms = |n: u64| Duration::from_millis(n);
    assert_eq!(reports, [ms(260), ms(1260), ms(2260)]);
    // Idle: the timer sends the next one when it is due, not before.
    let due = session.next_report.unwrap();
    assert_eq!(due - t0, ms(3500), "an interval after the last was due");
    session.handle_timeout(due - ms(1), wall);
    assert!(std::iter::from_fn(|| transmit(&mut session, due)).all(|d| !is_report(&d)));
    session.handle_timeout(due, wall);
    assert!(std::iter::from_fn(|| transmit(&mut session, due)).any(|d| is_report(&d)));
    assert_eq!(session.next_report, Some(due + interval));
    // Served late, by most of an interval: the next still waits three
    // quarters of one, no second report at once.
    let late = due + interval + ms(800);
    session.handle_timeout(late, wall);
    assert!(std::iter::from_fn(|| transmit(&mut session, late)).any(|d| is_report(&d)));
    assert_eq!(session.next_report, Some(late + ms(750)));
}

#[test]
fn before_the_keys_exist_media_is_dropped_and_counted() {
    let mut session = MediaSession::new(MediaConfig::default());
    let mut d = vec![0x80, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 9, 9];
    assert!(!session.handle_receive(Instant::now(), SystemTime::now(), &mut d));
    let mut r = vec![0x80, 200, 0, 1, 0, 0, 0, 1];
    assert!(!session.handle_receive(Instant::now(), SystemTime::now(), &mut r));
    assert_eq!(session.stats().srtp_failures, 1);
    assert_eq!(session.stats().srtcp_failures, 1);
}

#[test]
fn a_full_outbound_queue_refuses_frames_without_a_gap_in_the_sequence() {
    let now = Instant::now();
    let wall = SystemTime::now();
    let (mut session, _peer, id) = keyed(now);
    session.config.max_queued_datagrams = 3;
    add_sender(
        &mut session,
        id,
        vec![SdpCodec::new(96, "VP8", 90_000, None)],
        false,
        65_535,
    );
    let frame = [0x10; 100];
    let d = Duration::from_millis(20);
    for _ in 0..3 {
        write_100_byte_frame(&mut session, now, wall, id, false);
    }
    let err = session
        .write_frame(
            now,
            wall,
            id,
            None,
            Bytes::copy_from_slice(&frame),
            d,
            false,
        )
        .unwrap_err();
    assert!(matches!(err, super::MediaError::QueueFull { limit: 3 }));
    let mut seqs = Vec::new();
    while let Some(p) = transmit(&mut session, now) {
        seqs.push(RtpPacket::parse(&p).unwrap().sequence_number);
    }
    write_100_byte_frame(&mut session, now, wall, id, false);
    let p = transmit(&mut session, now).unwrap();
    seqs.push(RtpPacket::parse(&p).unwrap().sequence_number);
    assert_eq!(seqs, vec![65_535, 0, 1, 2], "consecutive, across the wrap");
    assert_eq!(session.senders[&(id, 0)].counters.frames_sent, 4);
}

#[test]
fn a_connection_without_media_never_builds_its_srtp_contexts() {
    let now = Instant::now();
    let (mut session, _peer, _id) = keyed(now);
    // Keyed (DTLS connected), no stream: report timers pass, nothing is built.
    session.handle_timeout(now + Duration::from_secs(5), SystemTime::now());
    assert!(
        session.srtp.is_none(),
        "SRTP contexts built for a data-only connection"
    );
    assert!(session.poll_timeout(true).is_none());
    // The first media datagram builds them.
    let mut d = vec![0x80, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 9, 9];
    session.handle_receive(now, SystemTime::now(), &mut d);
    assert!(session.srtp.is_some());
}

const RID_ID: u8 = 10;
const REPAIRED_RID_ID: u8 = 11;

/// A packet of the peer with the optional mid, rid and repaired-rid
/// extensions (RFC 8852 §3), `payload` after the header.
#[allow(clippy::too_many_arguments)]
fn forged_named(
    peer: &mut Context,
    ssrc: u32,
    seq: u16,
    pt: u8,
    mid: Option<&[u8]>,
    rid: Option<&[u8]>,
    repaired: Option<&[u8]>,
    payload: &[u8],
) -> Vec<u8> {
    let timestamp = u32::from(seq) * 3000;
    let mut p = RtpPacket::new(PayloadType::new(pt).unwrap(), seq, timestamp, ssrc, payload);
    p.marker = true;
    for (id, value) in [(MID_ID, mid), (RID_ID, rid), (REPAIRED_RID_ID, repaired)] {
        if let Some(v) = value {
            p.extensions
                .insert(ExtensionId::new(id).unwrap(), v)
                .unwrap();
        }
    }
    let mut v = p.to_vec();
    peer.protect_rtp(&mut v).unwrap();
    v
}

/// RFC 8843 §9.2 and RFC 8852 §3: the rid a packet carries binds its SSRC
/// to a layer, which later packets without extensions keep (browsers stop
/// sending them once the SSRC is acknowledged); an RTX SSRC is bound by
/// the repaired rid and repairs its layer; a new SSRC that no rid names
/// cannot be told apart from the layers and is dropped and counted.
#[test]
fn a_simulcast_receiver_binds_each_ssrc_to_the_layer_its_rid_names() {
    let now = Instant::now();
    let wall = SystemTime::now();
    let (mut session, mut peer, id) = keyed(now);
    session.rid_ext = ExtensionId::new(RID_ID);
    session.repaired_rid_ext = ExtensionId::new(REPAIRED_RID_ID);
    let mut r = Receiver::new("v".into(), vec![vp8()], Vec::new(), 2000);
    r.set_rids(vec!["q".into(), "f".into()]);
    session.receivers.insert(id, r);
    // VP8 (RFC 7741 §4.2: S bit; RFC 6386 §9.1: P bit clear) keyframes.
    let key = [0x10, 0, 2, 3];
    let named = |peer: &mut Context, ssrc, seq, rid: &[u8]| {
        forged_named(peer, ssrc, seq, 96, Some(b"v"), Some(rid), None, &key)
    };
    for (ssrc, rid) in [(100, b"q"), (200, b"f")] {
        let mut d = named(&mut peer, ssrc, 1, rid);
        assert!(session.handle_receive(now, wall, &mut d));
    }
    // Later packets of both SSRCs carry nothing but their SSRC.
    for seq in 2..5 {
        for ssrc in [100, 200] {
            let mut d = forged_named(&mut peer, ssrc, seq, 96, None, None, None, &key);
            assert!(session.handle_receive(now, wall, &mut d));
        }
    }
    // The jitter buffer holds a stream's first frame a while for packets
    // before it.
    session.handle_timeout(now + Duration::from_secs(1), wall);
    let layers = session.receivers[&id].layers();
    assert_eq!(layers[0].ssrc(), Some(100));
    assert_eq!(layers[1].ssrc(), Some(200));
    assert_eq!(layers[0].counters.frames_received, 4);
    assert_eq!(layers[1].counters.frames_received, 4);
    // Frames came out tagged with their layer.
    let rids: Vec<_> = std::iter::from_fn(|| session.poll_event())
        .filter_map(|e| match e {
            crate::Event::TrackFrame { rid, .. } => rid,
            _ => None,
        })
        .collect();
    assert_eq!(rids.iter().filter(|r| *r == "q").count(), 4, "{rids:?}");
    assert_eq!(rids.iter().filter(|r| *r == "f").count(), 4, "{rids:?}");

    // RTX (RFC 4588 §4: OSN first) of layer f, named by repaired-rid.
    let mut rtx_payload = 6u16.to_be_bytes().to_vec();
    rtx_payload.extend_from_slice(&key);
    let mut d = forged_named(
        &mut peer,
        201,
        1,
        97,
        Some(b"v"),
        None,
        Some(b"f"),
        &rtx_payload,
    );
    assert!(session.handle_receive(now, wall, &mut d));
    let f = &session.receivers[&id].layers()[1];
    assert_eq!(f.counters.retransmitted_packets_received, 1);
    assert_eq!(
        session.receivers[&id].layers()[0].counters.packets_received,
        4
    );

    // An SSRC no rid named, and a rid not agreed: dropped and counted.
    let mut d = forged_named(&mut peer, 300, 1, 96, Some(b"v"), None, None, &key);
    assert!(!session.handle_receive(now, wall, &mut d));
    let mut d = named(&mut peer, 400, 1, b"x");
    assert!(!session.handle_receive(now, wall, &mut d));
    assert_eq!(session.stats().unroutable_rtp, 2);
}

/// A new negotiation that drops or reorders rids ([q, h, f] to [f, q]):
/// the SSRCs bound to layers follow their rids, and one whose rid is gone
/// is unroutable and counted, never fed to another layer by its old index.
#[test]
fn renegotiated_rids_move_ssrc_bindings_with_their_rids() {
    let now = Instant::now();
    let wall = SystemTime::now();
    let (mut session, mut peer, id) = keyed(now);
    session.rid_ext = ExtensionId::new(RID_ID);
    session
        .receivers
        .insert(id, Receiver::new("v".into(), vec![vp8()], Vec::new(), 2000));
    session.set_receive_rids(id, ["q", "h", "f"].map(String::from).into_iter());
    let key = [0x10, 0, 2, 3];
    for (ssrc, rid) in [(100, b"q"), (200, b"h"), (300, b"f")] {
        let mut d = forged_named(&mut peer, ssrc, 1, 96, Some(b"v"), Some(rid), None, &key);
        assert!(session.handle_receive(now, wall, &mut d));
    }
    session.set_receive_rids(id, ["f", "q"].map(String::from).into_iter());
    // Packets carrying nothing but their SSRC.
    for ssrc in [100, 200, 300] {
        let mut d = forged_named(&mut peer, ssrc, 2, 96, None, None, None, &key);
        session.handle_receive(now, wall, &mut d);
    }
    let layers = session.receivers[&id].layers();
    assert_eq!(layers[0].rid.as_deref(), Some("f"));
    assert_eq!(layers[0].ssrc(), Some(300));
    assert_eq!(layers[1].rid.as_deref(), Some("q"));
    assert_eq!(layers[1].ssrc(), Some(100));
    assert_eq!(layers[0].counters.packets_received, 1);
    assert_eq!(layers[1].counters.packets_received, 1);
    assert_eq!(session.stats().unroutable_rtp, 1, "the h SSRC");
}

/// RFC 8852 §3: an SSRC that names another layer leaves its old one, which
/// stops reporting on it (no duplicate report blocks, NACKs or
/// `inbound-rtp`).
#[test]
fn an_ssrc_that_switches_rid_leaves_its_old_layer() {
    let now = Instant::now();
    let wall = SystemTime::now();
    let (mut session, mut peer, id) = keyed(now);
    session.rid_ext = ExtensionId::new(RID_ID);
    session
        .receivers
        .insert(id, Receiver::new("v".into(), vec![vp8()], Vec::new(), 2000));
    session.set_receive_rids(id, ["q", "f"].map(String::from).into_iter());
    let key = [0x10, 0, 2, 3];
    let mut d = forged_named(&mut peer, 100, 1, 96, Some(b"v"), Some(b"q"), None, &key);
    assert!(session.handle_receive(now, wall, &mut d));
    let mut d = forged_named(&mut peer, 100, 2, 96, Some(b"v"), Some(b"f"), None, &key);
    assert!(session.handle_receive(now, wall, &mut d));
    let layers = session.receivers[&id].layers();
    assert_eq!(layers[0].ssrc(), None, "q still holds the SSRC");
    assert_eq!(layers[1].ssrc(), Some(100));
}

/// RFC 3550 §6.5.1: with a sender report per simulcast layer, every SSRC
/// that reports is bound to the CNAME by an SDES chunk of its own.
#[test]
fn every_layer_that_sends_a_report_has_a_cname_chunk() {
    let now = Instant::now();
    let wall = SystemTime::now();
    let (mut session, _peer, id) = keyed(now);
    let negotiated = NegotiatedMedia {
        mid: "v".into(),
        direction: Direction::SendOnly,
        codecs: vec![SdpCodec::new(96, "VP8", 90_000, None)],
        header_extensions: vec![HeaderExtension::new(u16::from(MID_ID), EXT_MID)],
        send_rids: vec!["q".into(), "f".into()],
        recv_rids: vec![],
        remote_ssrcs: vec![],
        remote_msid: None,
    };
    for (layer, (ssrc, rid)) in [(70, "q"), (80, "f")].into_iter().enumerate() {
        let seeds = StreamSeeds {
            ssrc,
            rtx_ssrc: ssrc + 1,
            sequence: 1,
            rtx_sequence: 0,
            timestamp: 0,
        };
        let s = Sender::new(
            &negotiated,
            seeds,
            HistoryConfig::default(),
            Some(rid.into()),
        );
        session.senders.insert((id, layer as u8), s.unwrap());
        session
            .write_frame(
                now,
                wall,
                id,
                Some(rid),
                Bytes::from(vec![0x10; 100]),
                Duration::from_millis(33),
                true,
            )
            .unwrap();
    }
    while transmit(&mut session, now).is_some() {}
    let later = now + Duration::from_secs(2);
    session.handle_timeout(later, wall);
    let mut named = Vec::new();
    let mut reporting = Vec::new();
    for p in sent_rtcp(&mut session, later) {
        match p {
            RtcpPacket::SenderReport(sr) => reporting.push(sr.ssrc),
            RtcpPacket::Sdes(sdes) => named.extend(sdes.chunks.iter().map(|c| c.ssrc)),
            _ => {}
        }
    }
    reporting.sort_unstable();
    named.sort_unstable();
    assert_eq!(reporting, [70, 80]);
    assert_eq!(named, reporting, "a CNAME chunk per reporting SSRC");
}

/// RFC 4585 §6.3.1: a video receiver that sees one packet again after a
/// long outage (300 packets lost), a frame it cannot decode without a
/// keyframe, sends a PLI from its timer even though the sender pauses
/// right after that packet: the request does not wait for the sender's
/// next packet.
#[test]
fn a_lone_packet_after_a_long_video_outage_brings_a_pli_from_the_timer() {
    let t0 = Instant::now();
    let rtt = Duration::from_millis(50);
    let mut r = Receiver::new("v".into(), vec![vp8()], Vec::new(), 2000);
    let mut frames = Vec::new();
    let mut plis = Vec::new();
    // Fires the receiver's timers due by `until`, polling its feedback
    // after each as the session does; PLIs go to `plis` with their time.
    let drive = |r: &mut Receiver, plis: &mut Vec<Instant>, frames: &mut Vec<_>, until| {
        while let Some(due) = r.poll_timeout(rtt).filter(|t| *t <= until) {
            r.handle_timeout(due, frames);
            let sent = r.poll_feedback(due, rtt, 1);
            plis.extend(
                sent.iter()
                    .filter(|p| matches!(p, RtcpPacket::Pli(_)))
                    .map(|_| due),
            );
        }
    };
    // VP8 (RFC 7741 §4.2: S bit; RFC 6386 §9.1: P bit clear on a
    // keyframe), one packet a frame.
    let send = |r: &mut Receiver, plis: &mut Vec<Instant>, frames: &mut Vec<_>, now, seq: u16| {
        let payload = [0x10, u8::from(seq != 0), 2, 3];
        let mut p = RtpPacket::new(
            PayloadType::new(96).unwrap(),
            seq,
            3000 * u32::from(seq),
            0x1234,
            &payload,
        );
        p.marker = true;
        let wire = p.to_vec().len();
        r.receive(now, &p, wire, 0, 1, frames);
        let sent = r.poll_feedback(now, rtt, 1);
        plis.extend(
            sent.iter()
                .filter(|p| matches!(p, RtcpPacket::Pli(_)))
                .map(|_| now),
        );
    };
    let mut now = t0;
    for seq in 0..30u16 {
        drive(&mut r, &mut plis, &mut frames, now);
        send(&mut r, &mut plis, &mut frames, now, seq);
        now += Duration::from_millis(33);
    }
    drive(&mut r, &mut plis, &mut frames, now + Duration::from_secs(1));
    assert_eq!(frames.len(), 30);
    assert!(plis.is_empty());
    // Ten seconds of nothing (packets 30..330 lost), then one packet.
    now += Duration::from_secs(10);
    send(&mut r, &mut plis, &mut frames, now, 330);
    drive(&mut r, &mut plis, &mut frames, now + Duration::from_secs(5));
    assert!(
        plis.first()
            .is_some_and(|t| *t <= now + Duration::from_secs(1)),
        "PLIs sent at {:?}",
        plis.iter().map(|t| *t - now).collect::<Vec<_>>()
    );
    assert_eq!(r.layers()[0].counters.pli_count, plis.len() as u64);
}

/// RFC 4588 §4, RFC 3550 A.1: two retransmissions (RTX) near each other
/// more than 3,000 numbers behind the stream, a late answer to a NACK, are
/// refused as late by the receiver's jitter buffer, not taken for a sender
/// that restarted its numbers: no old frame comes out again after newer
/// ones, and the stream goes on.
#[test]
fn two_late_rtx_retransmissions_far_behind_do_not_move_the_stream_back() {
    let t0 = Instant::now();
    let mut r = Receiver::new("v".into(), vec![vp8()], Vec::new(), 2000);
    let mut frames = Vec::new();
    // VP8 (RFC 7741 §4.2: S bit; RFC 6386 §9.1: P bit clear on a
    // keyframe), one packet a frame.
    let payload = |seq: u16| [0x10, u8::from(seq != 0), 2, 3];
    let media = |seq: u16, payload: &[u8; 4]| {
        let mut p = RtpPacket::new(
            PayloadType::new(96).unwrap(),
            seq,
            3000 * u32::from(seq),
            0x1234,
            payload,
        );
        p.marker = true;
        p.to_vec()
    };
    let mut now = t0;
    let send = |r: &mut Receiver, frames: &mut Vec<_>, now: Instant, bytes: &[u8]| {
        let p = RtpPacket::parse(bytes).unwrap();
        r.receive(now, &p, bytes.len(), 0, 1, frames);
        while let Some(due) = r
            .poll_timeout(Duration::from_millis(50))
            .filter(|t| *t <= now)
        {
            r.handle_timeout(due, frames);
        }
    };
    for seq in 0..=4000u16 {
        send(&mut r, &mut frames, now, &media(seq, &payload(seq)));
        now += Duration::from_millis(10);
    }
    // RTX (RFC 4588 §4: the original sequence number first) of 500, 501.
    for (rtx_seq, osn) in [(0u16, 500u16), (1, 501)] {
        let mut body = osn.to_be_bytes().to_vec();
        body.extend_from_slice(&payload(osn));
        let mut p = RtpPacket::new(PayloadType::new(97).unwrap(), rtx_seq, 0, 0x5678, &body);
        p.marker = true;
        send(&mut r, &mut frames, now, &p.to_vec());
        now += Duration::from_millis(10);
    }
    for seq in 4001..=4010u16 {
        send(&mut r, &mut frames, now, &media(seq, &payload(seq)));
        now += Duration::from_millis(10);
    }
    let seqs: Vec<u16> = frames.iter().map(|(_, f)| f.first_sequence).collect();
    assert_eq!(seqs, (0..=4010).collect::<Vec<u16>>());
    let c = &r.layers()[0].counters;
    assert_eq!(c.retransmitted_packets_received, 2);
    assert_eq!(c.packets_discarded, 2);
}

/// W3C webrtc-stats §5.3.5 (`headerBytesReceived`): the RTP header and
/// padding bytes received, retransmissions included, so that
/// `headerBytesReceived + bytesReceived` is every RTP byte the stream
/// received: a padded media packet counts its padding as header, and an
/// RTX packet its original sequence number (RFC 4588 §4; `bytesReceived`
/// counts the media payload it carries).
#[test]
fn header_bytes_received_count_padding_and_the_rtx_original_sequence_number() {
    let now = Instant::now();
    let mut r = Receiver::new("v".into(), vec![vp8()], Vec::new(), 2000);
    let mut frames = Vec::new();
    let mut wire = 0;
    let mut receive = |r: &mut Receiver, bytes: Vec<u8>| {
        wire += bytes.len() as u64;
        r.receive(
            now,
            &RtpPacket::parse(&bytes).unwrap(),
            bytes.len(),
            0,
            1,
            &mut frames,
        );
    };
    let mut first = RtpPacket::new(PayloadType::new(96).unwrap(), 10, 0, 0x1234, &[0x10, 0, 1]);
    first.marker = true;
    first.padding = 7;
    receive(&mut r, first.to_vec());
    // 11 lost, then repaired by RTX.
    let mut third = RtpPacket::new(
        PayloadType::new(96).unwrap(),
        12,
        6000,
        0x1234,
        &[0x10, 1, 3],
    );
    third.marker = true;
    receive(&mut r, third.to_vec());
    let mut body = 11u16.to_be_bytes().to_vec();
    body.extend_from_slice(&[0x10, 1, 2]);
    let mut rtx = RtpPacket::new(PayloadType::new(97).unwrap(), 0, 3000, 0x5678, &body);
    rtx.marker = true;
    receive(&mut r, rtx.to_vec());
    let c = r.layers()[0].counters;
    assert_eq!(
        (c.packets_received, c.retransmitted_packets_received),
        (3, 1)
    );
    assert_eq!((c.bytes_received, c.retransmitted_bytes_received), (9, 3));
    assert_eq!(c.header_bytes_received + c.bytes_received, wire, "{c:?}");
}

/// W3C webrtc-stats §5.3.5: `headerBytesReceived + bytesReceived` is every
/// RTP byte received, so the header counts as it came on the wire: an RFC
/// 8285 extension block with padding bytes between or after its elements
/// (§4.2 allows them anywhere), or in the two-byte form where every element
/// would fit the one-byte form, is longer than ferrtc would write it.
#[test]
fn header_bytes_received_count_the_extension_block_as_it_came_on_the_wire() {
    let now = Instant::now();
    let mut r = Receiver::new("v".into(), vec![vp8()], Vec::new(), 2000);
    let mut frames = Vec::new();
    let mut wire = 0u64;
    let mut receive = |r: &mut Receiver, bytes: Vec<u8>| {
        wire += bytes.len() as u64;
        let len = bytes.len();
        r.receive(
            now,
            &RtpPacket::parse(&bytes).unwrap(),
            len,
            0,
            1,
            &mut frames,
        );
    };
    // One-byte form: element id 1 (one byte of value), then six padding
    // bytes (two words of block body; re-encoded, one word).
    let mut one_byte = vec![0x90, 0x80 | 96, 0, 10, 0, 0, 0, 0, 0, 0, 0x12, 0x34];
    one_byte.extend_from_slice(&[0xBE, 0xDE, 0, 2, 0x10, 0xAA, 0, 0, 0, 0, 0, 0]);
    one_byte.extend_from_slice(&[0x10, 0, 1]);
    receive(&mut r, one_byte);
    // Two-byte form (0x1000) with three one-byte values: 9 bytes of body (3
    // words on the wire; in the one-byte form the writer picks, 2).
    let mut two_byte = vec![0x90, 0x80 | 96, 0, 11, 0, 0, 0x0b, 0xb8, 0, 0, 0x12, 0x34];
    two_byte.extend_from_slice(&[0x10, 0x00, 0, 3]);
    two_byte.extend_from_slice(&[1, 1, 0xAA, 2, 1, 0xBB, 3, 1, 0xCC, 0, 0, 0]);
    two_byte.extend_from_slice(&[0x10, 0, 2]);
    receive(&mut r, two_byte);
    let c = r.layers()[0].counters;
    assert_eq!(c.packets_received, 2, "{c:?}");
    assert_eq!(c.bytes_received, 6, "{c:?}");
    assert_eq!(c.header_bytes_received + c.bytes_received, wire, "{c:?}");
}

/// W3C webrtc-stats §5.3.9: `packetsSent` and `bytesSent` of a
/// `remote-outbound-rtp` are counters, which never go back. The sender
/// report's counts are 32 bits and wrap (RFC 3550 §6.4.1; a 4 Mbit/s
/// stream's octet count wraps within 2.5 hours): the stats carry them on
/// past the wrap, and a report older than the last one (RTCP reordered)
/// takes nothing back.
#[test]
fn remote_outbound_rtp_counts_go_on_past_the_sender_reports_wrap() {
    use ferrtc_rtp::rtcp::SenderReport;
    let now = Instant::now();
    let wall = SystemTime::now();
    let (mut session, _, _) = receiving_vp8(now, wall);
    let report = |session: &mut MediaSession, secs: u64, packet_count, octet_count| {
        let sr = RtcpPacket::SenderReport(SenderReport {
            ssrc: 100,
            ntp_time: secs << 32,
            rtp_time: 0,
            packet_count,
            octet_count,
            reports: Vec::new(),
        });
        session.handle_rtcp(now, wall, &sr.to_vec().unwrap());
        session
            .rtp_stats(0.0, "T01", &[])
            .into_iter()
            .find_map(|s| match s {
                crate::Stats::RemoteOutboundRtp(r) => Some((r.packets_sent, r.bytes_sent)),
                _ => None,
            })
            .unwrap()
    };
    let wrap = 1u64 << 32;
    assert_eq!(
        report(&mut session, 10, 0xffff_fff0, 0xffff_ff00),
        (0xffff_fff0, 0xffff_ff00)
    );
    assert_eq!(
        report(&mut session, 20, 0x10, 0x100),
        (wrap + 0x10, wrap + 0x100)
    );
    // A report from before the last one, arrived late.
    assert_eq!(
        report(&mut session, 15, 0xffff_fff8, 0xffff_ff80),
        (wrap + 0x10, wrap + 0x100)
    );
    assert_eq!(
        report(&mut session, 30, 0x20, 0x200),
        (wrap + 0x20, wrap + 0x200)
    );
}

/// W3C webrtc-stats §5.3.9: a `remote-outbound-rtp` shows the peer's
/// latest sender report, `remoteTimestamp` its NTP time and `timestamp`
/// its arrival. A report older than the last one (RTCP reordered, RFC
/// 3550 §6.4.1 NTP time earlier) arriving late counts in `reportsSent` but
/// does not take the object back to an earlier time than the counts it
/// shows.
#[test]
fn a_late_older_sender_report_does_not_take_remote_outbound_rtp_back_in_time() {
    use ferrtc_rtp::rtcp::SenderReport;
    let now = Instant::now();
    let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let (mut session, _, _) = receiving_vp8(now, wall);
    let report = |session: &mut MediaSession, wall: SystemTime, ntp_seconds: u64, count| {
        let sr = RtcpPacket::SenderReport(SenderReport {
            ssrc: 100,
            ntp_time: ntp_seconds << 32,
            rtp_time: 0,
            packet_count: count,
            octet_count: count * 10,
            reports: Vec::new(),
        });
        session.handle_rtcp(now, wall, &sr.to_vec().unwrap());
        session
            .rtp_stats(0.0, "T01", &[])
            .into_iter()
            .find_map(|s| match s {
                crate::Stats::RemoteOutboundRtp(r) => Some(r),
                _ => None,
            })
            .unwrap()
    };
    let ntp = 3_900_000_000u64;
    let newer = report(&mut session, wall, ntp + 10, 50);
    let later = wall + Duration::from_secs(1);
    let after = report(&mut session, later, ntp + 5, 25);
    assert_eq!(after.remote_timestamp, newer.remote_timestamp);
    assert_eq!(after.timestamp, newer.timestamp);
    assert_eq!((after.packets_sent, after.bytes_sent), (50, 500));
    assert_eq!(after.reports_sent, 2);
    // The next report in order moves it on.
    let next = report(&mut session, later, ntp + 15, 75);
    assert!(next.remote_timestamp > newer.remote_timestamp);
    assert!(next.timestamp > newer.timestamp);
    assert_eq!(next.packets_sent, 75);
}

/// RFC 3550 A.3, A.8 and §6.4.1: reception statistics are kept per SSRC.
/// A sender that changes codec on its SSRC (another negotiated payload
/// type) goes on with the same stream: its losses so far still count, and
/// its last sender report still shows (W3C webrtc-stats §5.3: the same
/// `inbound-rtp`, whose counters never go back, and its
/// `remote-outbound-rtp`).
#[test]
fn a_codec_change_on_the_same_ssrc_keeps_its_reception_statistics() {
    use ferrtc_rtp::rtcp::SenderReport;
    let now = Instant::now();
    let wall = SystemTime::now();
    let (mut session, mut peer, id) = keyed(now);
    let vp9 = Negotiated {
        codec: Codec::Vp9,
        payload_type: PayloadType::new(98).unwrap(),
        rtx: None,
        ..vp8()
    };
    session.receivers.insert(
        id,
        Receiver::new("v".into(), vec![vp8(), vp9], Vec::new(), 2000),
    );
    // Sequence number 3 is lost.
    for seq in [1, 2, 4, 5] {
        let mut d = forged(&mut peer, 100, seq, 96, Some(b"v"));
        assert!(session.handle_receive(now, wall, &mut d));
    }
    let sr = RtcpPacket::SenderReport(SenderReport {
        ssrc: 100,
        ntp_time: 1 << 32,
        rtp_time: 0,
        packet_count: 5,
        octet_count: 20,
        reports: Vec::new(),
    });
    session.handle_rtcp(now, wall, &sr.to_vec().unwrap());
    let stats = |session: &MediaSession| {
        let all = session.rtp_stats(0.0, "T01", &[]);
        let inbound = all.iter().find_map(|s| match s {
            crate::Stats::InboundRtp(s) => {
                Some((s.id.clone(), s.packets_lost, s.remote_id.clone()))
            }
            _ => None,
        });
        let reports = all.iter().find_map(|s| match s {
            crate::Stats::RemoteOutboundRtp(r) => Some(r.reports_sent),
            _ => None,
        });
        (inbound.unwrap(), reports)
    };
    let before = stats(&session);
    assert_eq!(before.0.1, 1, "one packet lost");
    assert_eq!(before.1, Some(1));
    // The sender goes on with VP9 on the same SSRC.
    let mut d = forged(&mut peer, 100, 6, 98, Some(b"v"));
    assert!(session.handle_receive(now, wall, &mut d));
    assert_eq!(stats(&session), before);
}

/// Sends a sender report about SSRC 100 and reads the `remote-outbound-rtp`
/// of the stream: packets, bytes and remote timestamp.
fn sender_report_seen(
    session: &mut MediaSession,
    ntp_secs: u64,
    packet_count: u32,
    octet_count: u32,
) -> (u64, u64, f64) {
    use ferrtc_rtp::rtcp::SenderReport;
    let now = Instant::now();
    let wall = SystemTime::now();
    let sr = RtcpPacket::SenderReport(SenderReport {
        ssrc: 100,
        ntp_time: ntp_secs << 32,
        rtp_time: 0,
        packet_count,
        octet_count,
        reports: Vec::new(),
    });
    session.handle_rtcp(now, wall, &sr.to_vec().unwrap());
    session
        .rtp_stats(0.0, "T01", &[])
        .into_iter()
        .find_map(|s| match s {
            crate::Stats::RemoteOutboundRtp(r) => {
                Some((r.packets_sent, r.bytes_sent, r.remote_timestamp))
            }
            _ => None,
        })
        .unwrap()
}

/// RFC 3550 §6.4.1: the octet count wraps; a report whose NTP time is
/// later than the last one's is not an older report, however far its
/// count went on (here, SRs lost for an hour of a 5 Mbit/s stream: more
/// than 2^31 octets). Treating it as reordered freezes `bytesSent` until
/// the count wraps past the frozen value again (another ~2^31 octets).
#[test]
fn remote_outbound_bytes_go_on_after_a_gap_of_more_than_half_the_range() {
    let now = Instant::now();
    let wall = SystemTime::now();
    let (mut session, _, _) = receiving_vp8(now, wall);
    let t = 3_900_000_000u64;
    assert_eq!(sender_report_seen(&mut session, t, 10, 1000).1, 1000);
    let gap = 0x8000_0000u32 + 5_000_000;
    let later = sender_report_seen(&mut session, t + 3600, 2_000_000, 1000 + gap);
    assert_eq!(later.1, 1000 + u64::from(gap), "an hour later");
    let next = sender_report_seen(&mut session, t + 3605, 2_002_000, 1000 + gap + 3_000_000);
    assert_eq!(next.1, 1000 + u64::from(gap) + 3_000_000, "five seconds on");
}

/// RFC 3550 A.3: the loss statistics are the SSRC's. A sender that
/// switches codec on its SSRC to one of another clock rate (Opus to
/// PCMU) goes on with the same stream: only the jitter, measured in the
/// old clock's units, starts again (as the comment in `Receiver::receive`
/// says); its lost packets still count.
#[test]
fn a_codec_change_to_another_clock_rate_keeps_the_ssrcs_losses() {
    let now = Instant::now();
    let wall = SystemTime::now();
    let (mut session, mut peer, id) = keyed(now);
    let opus = Negotiated {
        codec: Codec::Opus,
        payload_type: PayloadType::new(111).unwrap(),
        clock_rate: 48_000,
        rtx: None,
        nack: false,
        pli: false,
    };
    let pcmu = Negotiated {
        codec: Codec::Pcmu,
        payload_type: PayloadType::new(0).unwrap(),
        clock_rate: 8_000,
        ..opus
    };
    session.receivers.insert(
        id,
        Receiver::new("v".into(), vec![opus, pcmu], Vec::new(), 2000),
    );
    // Sequence number 3 is lost.
    for seq in [1, 2, 4, 5] {
        let mut d = forged(&mut peer, 100, seq, 111, Some(b"v"));
        assert!(session.handle_receive(now, wall, &mut d));
    }
    let lost = |session: &MediaSession| {
        session
            .rtp_stats(0.0, "T01", &[])
            .into_iter()
            .find_map(|s| match s {
                crate::Stats::InboundRtp(s) => Some(s.packets_lost),
                _ => None,
            })
            .unwrap()
    };
    assert_eq!(lost(&session), 1);
    let mut d = forged(&mut peer, 100, 6, 0, Some(b"v"));
    assert!(session.handle_receive(now, wall, &mut d));
    assert_eq!(
        lost(&session),
        1,
        "the SSRC's loss goes on after the switch"
    );
}

/// A peer that counts again from zero on the same SSRC sends a later
/// report (NTP time ahead) with a smaller count: its counts add on to the
/// ones before (they never go back), neither taken as a wrap of the
/// 32-bit count (4.29 billion packets in 5 s) nor counted twice in the
/// reports after it.
#[test]
fn a_sender_that_counts_again_from_zero_adds_on() {
    let now = Instant::now();
    let wall = SystemTime::now();
    let (mut session, _, _) = receiving_vp8(now, wall);
    let t = 3_900_000_000u64;
    assert_eq!(sender_report_seen(&mut session, t, 1000, 100_000).0, 1000);
    // Five seconds on, the peer's counts started again on the same SSRC.
    let again = sender_report_seen(&mut session, t + 5, 10, 800);
    assert_eq!((again.0, again.1), (1010, 100_800));
    let next = sender_report_seen(&mut session, t + 10, 20, 1600);
    assert_eq!((next.0, next.1), (1020, 101_600));
}

/// The sender's wall clock stepped back (an NTP correction of an hour):
/// its reports after the step, older by NTP time but with their packet
/// counts ahead, are taken, and the LSR our receiver reports echo is the
/// latest report's (else the peer's round-trip time would be lost for the
/// hour).
#[test]
fn sender_reports_after_the_senders_clock_stepped_back_are_taken() {
    let now = Instant::now();
    let wall = SystemTime::now();
    let (mut session, _, id) = receiving_vp8(now, wall);
    let t = 3_900_000_000u64;
    assert_eq!(sender_report_seen(&mut session, t + 3600, 100, 1000).0, 100);
    sender_report_seen(&mut session, t + 5, 200, 2000);
    let (packets, _, _) = sender_report_seen(&mut session, t + 10, 300, 3000);
    let lsr = session
        .receivers
        .get_mut(&id)
        .unwrap()
        .report_blocks(now)
        .next()
        .unwrap()
        .last_sr;
    assert_eq!(
        lsr,
        ferrtc_rtp::report::NtpTime((t + 10) << 32).middle(),
        "the LSR echoed is the latest report's"
    );
    assert_eq!(packets, 300, "the latest report's count");
}

/// A later report (NTP time ahead) whose packet count is ahead but whose
/// octet count is behind: the 32-bit octet count cannot have wrapped
/// (2^32 octets in 150 packets would be 28 MB a packet, RTP payloads are
/// under 64 KiB), so the peer counted again from zero on the SSRC.
/// `bytesSent` must not jump by 4.29 GB.
#[test]
fn an_octet_count_behind_with_the_packet_count_ahead_is_a_restart_not_a_wrap() {
    let now = Instant::now();
    let wall = SystemTime::now();
    let (mut session, _, _) = receiving_vp8(now, wall);
    let t = 3_900_000_000u64;
    assert_eq!(sender_report_seen(&mut session, t, 100, 120_000).1, 120_000);
    // The peer started counting again; five seconds on it sent 250
    // packets of 160 octets.
    let (packets, bytes, _) = sender_report_seen(&mut session, t + 5, 250, 40_000);
    assert!(packets >= 250, "{packets}");
    assert!(
        bytes <= 120_000 + (packets - 100) * 65_535,
        "{bytes} bytes after {packets} packets: an impossible octet wrap"
    );
}

/// RTCP reordered across a restart of the peer's counts: the report sent
/// just before the restart arrives after the first one after it. It is
/// older by NTP time; taking it (its count is "ahead" of the restarted
/// one) counts the packets before the restart twice.
#[test]
fn a_report_from_before_a_restart_that_arrives_late_is_not_counted_twice() {
    let now = Instant::now();
    let wall = SystemTime::now();
    let (mut session, _, _) = receiving_vp8(now, wall);
    let t = 3_900_000_000u64;
    sender_report_seen(&mut session, t, 900, 90_000);
    // Sent at t + 10, after the restart: 5 packets since.
    sender_report_seen(&mut session, t + 10, 5, 500);
    // Sent at t + 5, before the restart (1000 packets then), arrives last.
    let (packets, bytes, _) = sender_report_seen(&mut session, t + 5, 1000, 100_000);
    // At most 1000 before the restart and 5 after it.
    assert!(packets <= 1005, "{packets} packets");
    assert!(bytes <= 100_500, "{bytes} bytes");
}

/// RFC 4585 §6.2.1: a packet the jitter buffer gave up on (its wait over,
/// the frame dropped and a keyframe asked for) would come too late to be
/// used, so the receiver stops asking for it: no NACK names it after the
/// give-up, however long the round trip leaves between the retries.
#[test]
fn a_packet_the_jitter_buffer_gave_up_is_no_longer_nacked() {
    let t0 = Instant::now();
    let rtt = Duration::from_millis(300);
    let mut r = Receiver::new("v".into(), vec![vp8()], Vec::new(), 2000);
    let mut frames = Vec::new();
    // (time, sequence) of every NACKed number, and when the give-up came.
    let mut nacked: Vec<(Instant, u16)> = Vec::new();
    let mut given_up_at: Option<Instant> = None;
    let mut step = |r: &mut Receiver, now: Instant| {
        for p in r.poll_feedback(now, rtt, 1) {
            if let RtcpPacket::Nack(n) = p {
                nacked.extend(n.sequences().map(|s| (now, s)));
            }
        }
        if given_up_at.is_none() && r.layers()[0].counters.packets_given_up > 0 {
            given_up_at = Some(now);
        }
    };
    let mut now = t0;
    for seq in 0..120u16 {
        // Fire the timers due before this packet, as the session does.
        while let Some(due) = r.poll_timeout(rtt).filter(|t| *t <= now) {
            r.handle_timeout(due, &mut frames);
            step(&mut r, due);
        }
        if seq != 10 {
            // VP8 (RFC 7741 §4.2: S bit; RFC 6386 §9.1: P bit clear on a
            // keyframe), one packet a frame.
            let payload = [0x10, u8::from(seq != 0), 2, 3];
            let mut p = RtpPacket::new(
                PayloadType::new(96).unwrap(),
                seq,
                3000 * u32::from(seq),
                0x1234,
                &payload,
            );
            p.marker = true;
            let wire = p.to_vec().len();
            r.receive(now, &p, wire, 0, 1, &mut frames);
            step(&mut r, now);
        }
        now += Duration::from_millis(33);
    }
    let given_up_at = given_up_at.expect("the lost packet is given up");
    assert!(nacked.iter().any(|&(_, s)| s == 10), "10 is asked for");
    let after: Vec<Duration> = nacked
        .iter()
        .filter(|&&(t, s)| s == 10 && t > given_up_at)
        .map(|&(t, _)| t - given_up_at)
        .collect();
    assert!(after.is_empty(), "10 NACKed after its give-up: {after:?}");
}

/// RFC 3550 A.1: a sender that restarts its numbers far lower is followed
/// by the jitter buffer once its second packet comes; the NACK generator
/// follows it too, asking for the new numbering's losses (it used to take
/// every new number for a late one until the stream passed the old
/// highest, and asked for none).
#[test]
fn a_sender_that_restarts_its_numbers_lower_has_its_new_losses_nacked() {
    let rtt = Duration::from_millis(100);
    let mut r = Receiver::new("v".into(), vec![vp8()], Vec::new(), 2000);
    let mut frames = Vec::new();
    let mut nacked = Vec::new();
    let mut feedback = |r: &mut Receiver, now: Instant| {
        for f in r.poll_feedback(now, rtt, 1) {
            if let RtcpPacket::Nack(n) = f {
                nacked.extend(n.sequences());
            }
        }
    };
    let mut now = Instant::now();
    let old = (0..30u16).map(|i| 40_000 + i);
    let new = (0..30u16).map(|i| 10_000 + i).filter(|&s| s != 10_010);
    for (i, seq) in old.chain(new).enumerate() {
        // Fire the timers due before this packet, as the session does.
        while let Some(due) = r.poll_timeout(rtt).filter(|t| *t <= now) {
            r.handle_timeout(due, &mut frames);
            feedback(&mut r, due);
        }
        // VP8, one packet a frame, the first a keyframe.
        let payload = [0x10, u8::from(i != 0), 2, 3];
        let mut p = RtpPacket::new(
            PayloadType::new(96).unwrap(),
            seq,
            3000 * i as u32,
            0x1234,
            &payload,
        );
        p.marker = true;
        let wire = p.to_vec().len();
        r.receive(now, &p, wire, 0, 1, &mut frames);
        feedback(&mut r, now);
        now += Duration::from_millis(33);
    }
    assert_eq!(nacked.first(), Some(&10_010), "{nacked:?}");
    assert!(nacked.iter().all(|&s| s == 10_010), "{nacked:?}");
}

/// RFC 3550 A.1, A.3: a sender restarts its numbers, and two packets of
/// the numbering it left, in order, come late behind the first new ones.
/// The receive statistics follow the restart once, as the jitter buffer
/// and the NACK generator do: the extended highest sequence number of
/// the receiver reports never goes back to the old numbering, and
/// `packetsLost` counts the new numbering's one loss.
#[test]
fn late_packets_of_the_numbering_left_do_not_restart_the_receive_statistics_back() {
    let mut r = Receiver::new("v".into(), vec![vp8()], Vec::new(), 2000);
    let mut frames = Vec::new();
    let mut now = Instant::now();
    let old = 40_000..40_028u16;
    let new: Vec<u16> = (10_000..10_030u16).filter(|&s| s != 10_010).collect();
    let arrivals = old
        .chain(new[..3].iter().copied())
        .chain([40_028, 40_029])
        .chain(new[3..].iter().copied());
    let mut highest = 0;
    for (i, seq) in arrivals.enumerate() {
        // VP8, one packet a frame, the first a keyframe.
        let payload = [0x10, u8::from(i != 0), 2, 3];
        let mut p = RtpPacket::new(
            PayloadType::new(96).unwrap(),
            seq,
            3000 * i as u32,
            0x1234,
            &payload,
        );
        p.marker = true;
        let wire = p.to_vec().len();
        r.receive(now, &p, wire, 0, 1, &mut frames);
        now += Duration::from_millis(33);
        if seq < 20_000 {
            highest = highest.max(u32::from(seq));
        }
        // From the restart's second packet, which A.1 believes.
        if i < 29 {
            continue;
        }
        let block = r.report_blocks(now).next().unwrap();
        let lost = r.layers()[0].loss_and_jitter().0;
        assert!(
            block.extended_highest_sequence == highest && (0..=1).contains(&lost),
            "after {seq}: extended highest {}, packets lost {lost}",
            block.extended_highest_sequence
        );
    }
    assert_eq!(r.layers()[0].loss_and_jitter().0, 1);
}

/// RFC 5104 §4.3.1.1: a FIR's sequence number grows per new request and
/// stays the same on a repetition, which asks for no new keyframe (the
/// requester repeats until one arrives); a new number from the same
/// requester, or another requester, is a new request. `firCount` counts
/// every FIR received.
#[test]
fn a_repeated_fir_asks_the_application_for_no_second_keyframe() {
    use ferrtc_rtp::rtcp::{Fir, FirEntry};
    let now = Instant::now();
    let wall = SystemTime::now();
    let (mut session, _peer, id) = keyed(now);
    add_sender(
        &mut session,
        id,
        vec![SdpCodec::new(96, "VP8", 90_000, None).with_feedback(&[("ccm", Some("fir"))])],
        true,
        100,
    );
    let fir = |requester: u32, sequence: u8| {
        RtcpPacket::Fir(Fir {
            sender_ssrc: requester,
            entries: vec![FirEntry { ssrc: 7, sequence }],
        })
        .to_vec()
        .unwrap()
    };
    let mut requested = Vec::new();
    for (requester, sequence) in [(1, 5), (1, 5), (1, 5), (1, 6), (2, 6), (1, 6)] {
        session.handle_rtcp(now, wall, &fir(requester, sequence));
        let asked = std::iter::from_fn(|| session.poll_event())
            .filter(|e| matches!(e, crate::Event::KeyframeRequested { .. }))
            .count();
        requested.push(asked);
    }
    assert_eq!(requested, [1, 0, 0, 1, 1, 0]);
    assert_eq!(session.senders[&(id, 0)].counters.fir_count, 6);
}

/// ferrtc's own `KeyframeRequester` in FIR mode repeats its request, with
/// the same sequence number, until a keyframe arrives (RFC 5104
/// §4.3.1.1). A repeat one round trip later means the keyframe did not
/// arrive (the FIR or the keyframe was lost); a sender that ignores every
/// repeat never sends the keyframe again, and the receiver stays frozen.
#[test]
fn a_fir_sent_again_because_no_keyframe_arrived_asks_for_one_again() {
    use ferrtc_rtp::repair::{KeyframeMethod, KeyframeRequester};
    let now = Instant::now();
    let wall = SystemTime::now();
    let (mut session, _peer, id) = keyed(now);
    add_sender(
        &mut session,
        id,
        vec![SdpCodec::new(96, "VP8", 90_000, None).with_feedback(&[("ccm", Some("fir"))])],
        true,
        100,
    );
    let mut requester = KeyframeRequester::new(KeyframeMethod::Fir, 1, 7);
    requester.request();
    let rtt = Duration::from_millis(100);
    let mut asked = Vec::new();
    for i in 0..5u32 {
        let at = now + rtt * i;
        let fir = requester.poll_request(at, rtt).expect("a FIR is due");
        session.handle_rtcp(at, wall, &fir.to_vec().unwrap());
        asked.push(
            std::iter::from_fn(|| session.poll_event())
                .filter(|e| matches!(e, crate::Event::KeyframeRequested { .. }))
                .count(),
        );
        // The keyframe sent in answer is lost: no keyframe_received().
    }
    assert!(
        asked[1..].iter().any(|&n| n > 0),
        "the keyframe was asked for once, then never again: {asked:?}"
    );
}

/// A sender whose clock stepped back is followed by its packet count
/// (`sender_reports_after_the_senders_clock_stepped_back_are_taken`); one
/// that restarted its counts earlier must be followed too, not frozen
/// until its clock catches up with the report that showed the restart.
#[test]
fn a_clock_step_back_after_a_count_restart_does_not_freeze_the_counts() {
    let now = Instant::now();
    let wall = SystemTime::now();
    let (mut session, _, _) = receiving_vp8(now, wall);
    let t = 3_900_000_000u64;
    sender_report_seen(&mut session, t, 900, 90_000);
    // Counts start again from zero: 5 packets since.
    let (restarted, _, _) = sender_report_seen(&mut session, t + 10, 5, 500);
    assert_eq!(restarted, 905);
    // Its clock then steps back a minute; the counts go on.
    let (packets, _, _) = sender_report_seen(&mut session, t - 50, 300, 30_000);
    assert_eq!(packets, 1200, "the report after the step back is taken");
}

/// The RTCP packets of what `session` sends at `now`, unprotected with the
/// session's own send keys (as its peer would).
fn sent_rtcp(session: &mut MediaSession, now: Instant) -> Vec<RtcpPacket> {
    let material: Vec<u8> = (0..56u8).collect();
    let ours = SrtpKeys::from_keying_material(SrtpProfile::AeadAes128Gcm, Role::Server, &material)
        .unwrap();
    let mut listener = Context::new(
        ProtectionProfile::AeadAes128Gcm,
        &ours.local().key,
        &ours.local().salt,
        Config::default(),
    )
    .unwrap();
    let mut out = Vec::new();
    while let Some(mut d) = transmit(session, now) {
        if !(200..=206).contains(&d[1]) {
            continue;
        }
        let len = listener.unprotect_rtcp(&mut d).unwrap();
        out.extend(ferrtc_rtp::rtcp::parse(&d[..len]).unwrap());
    }
    out
}

/// RFC 4585 §6.3.1: a video receiver whose jitter buffer overflows past a
/// gap gives the frame up and wants a keyframe; the PLI leaves with the
/// `poll_transmit` that follows the datagrams, not on a timer (no timer
/// reports a request not yet sent).
#[test]
fn the_pli_a_burst_calls_for_leaves_at_the_next_poll_transmit() {
    let now = Instant::now();
    let wall = SystemTime::now();
    let (mut session, mut peer, id) = keyed(now);
    session
        .receivers
        .insert(id, Receiver::new("v".into(), vec![vp8()], Vec::new(), 4));
    // A gap at 2, then more packets than the buffer holds.
    for seq in [1u16, 3, 4, 5, 6, 7, 8] {
        let mut d = forged(&mut peer, 100, seq, 96, Some(b"v"));
        assert!(session.handle_receive(now, wall, &mut d));
    }
    let sent = sent_rtcp(&mut session, now);
    assert!(
        sent.iter().any(|p| matches!(p, RtcpPacket::Pli(_))),
        "no PLI at the poll_transmit after the burst: {sent:?}"
    );
    // Gathered once: a second poll finds nothing new.
    assert!(sent_rtcp(&mut session, now).is_empty());
}
