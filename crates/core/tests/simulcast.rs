//! Simulcast (RFC 8853) between two `ferrtc-core` peer connections on the
//! simulated network: each side sends three layers (rids `q`, `h`, `f`)
//! on one m-section, each layer its own RTP stream (SSRC, RTX SSRC,
//! numbering, history, reports) named by the RFC 8852 rid extension; the
//! receiver splits them by rid into one stream per layer, each with its
//! own jitter buffer, NACK and PLI. Loss is repaired per layer, an
//! inactive layer sends nothing, a keyframe request names its layer, and
//! `getStats()` has one `outbound-rtp` and one `inbound-rtp` per layer.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime};

use ferrtc_core::{
    Config, Event, InboundRtpStats, MediaKind, OutboundRtpStats, PeerConnection,
    PeerConnectionState, RtpTransceiverDirection, RtpTransceiverInit, SendEncoding, Stats,
    TransceiverId,
};
use ferrtc_sim::{Endpoint, HostId, LinkConfig, Network, Transmit};

const RIDS: [&str; 3] = ["q", "h", "f"];

struct Peer {
    pc: PeerConnection,
    events: Vec<Event>,
}

impl Endpoint for Peer {
    fn handle_receive(&mut self, now: Instant, source: SocketAddr, dest: SocketAddr, data: &[u8]) {
        self.pc
            .handle_receive(now, source, dest, &mut data.to_vec());
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        let t = self.pc.poll_transmit(now, buf)?;
        Some(Transmit {
            source: t.source,
            destination: t.destination,
        })
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.pc.poll_timeout()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.pc.handle_timeout(now);
    }
}

fn peer(seed: u8, ip: IpAddr, now: Instant) -> Peer {
    let mut config = Config::default();
    config.rng_seed = Some([seed; 32]);
    let mut pc = PeerConnection::new(config, now, SystemTime::now()).unwrap();
    pc.add_local_host(now, SocketAddr::new(ip, 5000)).unwrap();
    Peer {
        pc,
        events: Vec::new(),
    }
}

/// Two peers, each with a send-only simulcast video transceiver towards
/// the other (`a_sends`, `b_sends`) and the receiving transceiver the
/// other's offer made (`a_receives`, `b_receives`).
struct Call {
    net: Network,
    a: HostId<Peer>,
    b: HostId<Peer>,
    a_sends: TransceiverId,
    b_sends: TransceiverId,
    a_receives: TransceiverId,
    b_receives: TransceiverId,
}

fn simulcast_init() -> RtpTransceiverInit {
    RtpTransceiverInit {
        direction: RtpTransceiverDirection::SendOnly,
        send_encodings: RIDS
            .iter()
            .map(|r| SendEncoding { rid: (*r).into() })
            .collect(),
        ..RtpTransceiverInit::default()
    }
}

impl Call {
    fn new(seed: u64, link: LinkConfig) -> Call {
        let mut net = Network::new(seed);
        let (ip_a, ip_b): (IpAddr, IpAddr) =
            ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let now = net.now();
        let a = net.add_host([ip_a], link, peer(1, ip_a, now)).unwrap();
        let b = net.add_host([ip_b], link, peer(2, ip_b, now)).unwrap();
        let a_sends = net
            .endpoint_mut(&a)
            .pc
            .add_transceiver(MediaKind::Video, simulcast_init())
            .unwrap();
        let mut call = Call {
            net,
            a,
            b,
            a_sends,
            b_sends: a_sends,
            a_receives: a_sends,
            b_receives: a_sends,
        };
        // a offers its layers; b answers that it receives them.
        call.negotiate(a, b);
        call.b_receives = call.other_transceiver(b, &[]);
        let up = call.run_until(Duration::from_secs(10), |c| {
            c.net.endpoint_mut(&c.a).pc.connection_state() == PeerConnectionState::Connected
                && c.net.endpoint_mut(&c.b).pc.connection_state() == PeerConnectionState::Connected
        });
        assert!(up, "the peers did not connect");
        // b adds its own layers and offers them; a answers.
        call.b_sends = call
            .net
            .endpoint_mut(&b)
            .pc
            .add_transceiver(MediaKind::Video, simulcast_init())
            .unwrap();
        call.negotiate(b, a);
        call.a_receives = call.other_transceiver(a, &[a_sends]);
        call.run(Duration::from_millis(100));
        for (host, sends) in [(a, call.a_sends), (b, call.b_sends)] {
            assert_eq!(
                call.net.endpoint_mut(&host).pc.send_rids(sends),
                RIDS.map(String::from),
                "every offered rid is agreed"
            );
        }
        call
    }

    /// The transceiver of `host` not in `known` (the one an offer made).
    fn other_transceiver(&mut self, host: HostId<Peer>, known: &[TransceiverId]) -> TransceiverId {
        let b = self.net.endpoint_mut(&host);
        b.pc.transceivers()
            .iter()
            .map(|t| t.id)
            .find(|id| !known.contains(id))
            .expect("the offer made a transceiver")
    }

    fn negotiate(&mut self, from: HostId<Peer>, to: HostId<Peer>) {
        let (offer, answer) = self.renegotiate(from, to);
        assert!(offer.contains("a=simulcast:send q;h;f"), "{offer}");
        assert!(answer.contains("a=simulcast:recv q;h;f"), "{answer}");
    }

    /// An offer from `from` and the answer of `to`, applied; their SDP.
    fn renegotiate(&mut self, from: HostId<Peer>, to: HostId<Peer>) -> (String, String) {
        self.renegotiate_with(from, to, |_| {})
    }

    /// [`Self::renegotiate`] with the answer changed by `edit` on its way.
    fn renegotiate_with(
        &mut self,
        from: HostId<Peer>,
        to: HostId<Peer>,
        edit: impl FnOnce(&mut String),
    ) -> (String, String) {
        let now = self.net.now();
        let offer = self.net.endpoint_mut(&from).pc.create_offer().unwrap();
        let f = &mut self.net.endpoint_mut(&from).pc;
        f.set_local_description(now, Some(offer.clone())).unwrap();
        let t = &mut self.net.endpoint_mut(&to).pc;
        t.set_remote_description(now, offer.clone()).unwrap();
        let answer = t.create_answer().unwrap();
        t.set_local_description(now, Some(answer.clone())).unwrap();
        let mut answer = answer;
        edit(&mut answer.sdp);
        let f = &mut self.net.endpoint_mut(&from).pc;
        f.set_remote_description(now, answer.clone()).unwrap();
        self.signal();
        (offer.sdp, answer.sdp)
    }

    fn signal(&mut self) {
        let now = self.net.now();
        for (from, to) in [(self.a, self.b), (self.b, self.a)] {
            let mut trickled = Vec::new();
            let p = self.net.endpoint_mut(&from);
            while let Some(ev) = p.pc.poll_event() {
                if let Event::IceCandidate(c) = &ev {
                    trickled.push(c.clone());
                }
                p.events.push(ev);
            }
            for c in trickled {
                self.net
                    .endpoint_mut(&to)
                    .pc
                    .add_ice_candidate(now, &c)
                    .unwrap();
            }
        }
    }

    fn run(&mut self, d: Duration) {
        self.net.run_for(d);
        self.signal();
    }

    fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&mut Call) -> bool) -> bool {
        let deadline = self.net.now() + limit;
        while self.net.now() < deadline {
            self.signal();
            if done(self) {
                return true;
            }
            self.net.run_for(Duration::from_millis(5));
        }
        self.signal();
        done(self)
    }

    fn pc(&mut self, host: HostId<Peer>) -> &mut PeerConnection {
        &mut self.net.endpoint_mut(&host).pc
    }

    /// Writes `n` frames on every layer of both senders, one per layer
    /// every 33 ms (layer `l` of frame `i` is [`layer_frame`]), then lets
    /// the network settle.
    fn stream(&mut self, n: usize) {
        let (a, b, a_sends, b_sends) = (self.a, self.b, self.a_sends, self.b_sends);
        for i in 0..n {
            let now = self.net.now();
            for (host, sends) in [(a, a_sends), (b, b_sends)] {
                for (l, rid) in RIDS.iter().enumerate() {
                    let (f, key) = layer_frame(l, i);
                    self.pc(host)
                        .write_frame_for(now, sends, rid, &f, Duration::from_millis(33), key)
                        .unwrap();
                }
            }
            self.run(Duration::from_millis(33));
        }
        self.run(Duration::from_secs(2));
    }
}

/// Frame `i` of layer `l` (VP8, RFC 7741 §4.3: the P bit of the first byte
/// is 0 on a keyframe, one every 30 frames): larger for higher layers,
/// its bytes telling the layer and the frame apart.
fn layer_frame(l: usize, i: usize) -> (Vec<u8>, bool) {
    let key = i % 30 == 0;
    let len = (if key { 3000 } else { 600 + i * 5 }) << l;
    let mut f = vec![if key { 0x10 } else { 0x11 }, l as u8];
    f.extend((0..len).map(|j| (i * 31 + j * (l + 1)) as u8));
    (f, key)
}

/// The frames `events` carried for `transceiver`, by rid, in order.
fn frames_by_rid(
    events: &[Event],
    transceiver: TransceiverId,
) -> BTreeMap<Option<String>, Vec<Vec<u8>>> {
    let mut out: BTreeMap<_, Vec<_>> = BTreeMap::new();
    for e in events {
        if let Event::TrackFrame {
            transceiver: t,
            rid,
            frame,
            ..
        } = e
            && *t == transceiver
        {
            out.entry(rid.clone()).or_default().push(frame.clone());
        }
    }
    out
}

fn stats(pc: &PeerConnection) -> (Vec<InboundRtpStats>, Vec<OutboundRtpStats>) {
    let report = pc.get_stats(SystemTime::now());
    let mut inbound = Vec::new();
    let mut outbound = Vec::new();
    for s in report.stats.values() {
        match s {
            Stats::InboundRtp(s) => inbound.push(s.clone()),
            Stats::OutboundRtp(s) => outbound.push(s.clone()),
            _ => {}
        }
    }
    (inbound, outbound)
}

fn by_rid<'a, T>(all: &'a [T], rid: &str, rid_of: impl Fn(&T) -> Option<&str>) -> &'a T {
    all.iter()
        .find(|s| rid_of(s) == Some(rid))
        .unwrap_or_else(|| panic!("no stream with rid {rid}"))
}

#[test]
fn three_layers_each_way_arrive_whole_and_in_order_over_a_lossy_link_with_rtx_per_layer() {
    let link = LinkConfig::IDEAL
        .with_delay(Duration::from_millis(10))
        .with_loss(0.03);
    let mut call = Call::new(12, link);
    // The stream goes on after the frames checked: a lost tail shows only
    // when a later packet arrives.
    call.stream(65);
    let (a, b) = (call.a, call.b);
    for (receiver, receives, sender) in [(b, call.b_receives, a), (a, call.a_receives, b)] {
        let events = call.net.endpoint_mut(&receiver).events.clone();
        let got = frames_by_rid(&events, receives);
        assert_eq!(
            got.keys().cloned().collect::<Vec<_>>(),
            ["f", "h", "q"].map(|r| Some(r.to_owned())).to_vec(),
            "one stream per rid, nothing without one"
        );
        for (l, rid) in RIDS.iter().enumerate() {
            let frames = &got[&Some((*rid).to_owned())];
            let want: Vec<_> = (0..60).map(|i| layer_frame(l, i).0).collect();
            assert!(frames.len() >= 60, "layer {rid}: {} frames", frames.len());
            assert!(frames[..60] == want, "layer {rid}: whole and in order");
        }
        let (inbound, _) = stats(call.pc(receiver));
        let (_, outbound) = stats(call.pc(sender));
        assert_eq!(inbound.len(), 3, "one inbound-rtp per layer: {inbound:?}");
        assert_eq!(
            outbound.len(),
            3,
            "one outbound-rtp per layer: {outbound:?}"
        );
        let mut ssrcs = Vec::new();
        for rid in RIDS {
            let i = by_rid(&inbound, rid, |s| s.rid.as_deref());
            let o = by_rid(&outbound, rid, |s| s.rid.as_deref());
            assert_eq!(i.ssrc, o.ssrc, "layer {rid}: the same stream");
            assert!(i.nack_count > 0, "layer {rid} NACKs its losses: {i:?}");
            assert!(i.retransmitted_packets_received > 0, "{i:?}");
            assert!(o.retransmitted_packets_sent > 0, "{o:?}");
            // All but a tail frame whose loss no later packet revealed.
            assert!(
                (o.frames_sent - 1..=o.frames_sent).contains(&i.frames_received),
                "layer {rid}: {i:?} {o:?}"
            );
            assert!(o.active);
            ssrcs.push(o.ssrc);
            ssrcs.push(o.rtx_ssrc.expect("RTX negotiated"));
        }
        ssrcs.sort_unstable();
        ssrcs.dedup();
        assert_eq!(ssrcs.len(), 6, "own SSRC and RTX SSRC per layer");
    }
}

#[test]
fn an_inactive_layer_sends_nothing_until_it_is_active_again() {
    let mut call = Call::new(12, LinkConfig::IDEAL.with_delay(Duration::from_millis(5)));
    let (a, b, sends, receives) = (call.a, call.b, call.a_sends, call.b_receives);
    call.pc(a).set_encoding_active(sends, "h", false).unwrap();
    call.stream(10);
    let (_, outbound) = stats(call.pc(a));
    let h = by_rid(&outbound, "h", |s| s.rid.as_deref());
    assert_eq!((h.packets_sent, h.frames_sent), (0, 0), "{h:?}");
    assert!(!h.active);
    let events = call.net.endpoint_mut(&b).events.clone();
    let got = frames_by_rid(&events, receives);
    assert_eq!(got[&Some("q".to_owned())].len(), 10);
    assert_eq!(got[&Some("f".to_owned())].len(), 10);
    assert!(!got.contains_key(&Some("h".to_owned())), "h sent nothing");

    // Active again: the layer flows (its first frame is a keyframe).
    call.pc(a).set_encoding_active(sends, "h", true).unwrap();
    call.net.endpoint_mut(&b).events.clear();
    call.stream(5);
    let events = call.net.endpoint_mut(&b).events.clone();
    let got = frames_by_rid(&events, receives);
    assert_eq!(got[&Some("h".to_owned())].len(), 5);
}

/// The `outbound-rtp` of each layer of `pc`'s sender, by rid.
fn layers_sent(pc: &PeerConnection) -> BTreeMap<String, OutboundRtpStats> {
    let (_, outbound) = stats(pc);
    outbound
        .into_iter()
        .map(|o| (o.rid.clone().expect("a layer's rid"), o))
        .collect()
}

/// Every layer of `before` is in `now` under the same id and SSRC, its
/// counters not below where they stood (`frozen`: equal to them).
fn layers_kept(
    before: &BTreeMap<String, OutboundRtpStats>,
    now: &BTreeMap<String, OutboundRtpStats>,
    frozen: bool,
    when: &str,
) {
    for (rid, b) in before {
        let o = now
            .get(rid)
            .unwrap_or_else(|| panic!("layer {rid} gone {when}: {now:?}"));
        assert_eq!((&o.id, o.ssrc), (&b.id, b.ssrc), "layer {rid} {when}");
        let counts = |o: &OutboundRtpStats| [o.packets_sent, o.bytes_sent, o.frames_sent];
        for (n, b) in counts(o).into_iter().zip(counts(b)) {
            if frozen {
                assert_eq!(n, b, "layer {rid} {when}: {o:?}");
            } else {
                assert!(n >= b, "layer {rid} {when}: {o:?}");
            }
        }
    }
}

/// W3C webrtc-stats §5.3 (lifetime of RTP monitored objects): an
/// encoding set inactive (`active: false`) and a transceiver negotiated
/// `inactive` keep their RTP streams; only a dropped layer, a new SSRC or
/// a stopped transceiver end one. Each layer's `outbound-rtp` stays under
/// its id through renegotiations, its counters frozen while it does not
/// send, and the layers go on where they stood when they send again.
#[test]
fn simulcast_layers_keep_their_outbound_rtp_while_inactive_and_across_renegotiation() {
    let mut call = Call::new(15, LinkConfig::IDEAL.with_delay(Duration::from_millis(5)));
    let (a, b, sends) = (call.a, call.b, call.a_sends);
    call.stream(5);
    let before = layers_sent(call.pc(a));
    assert_eq!(before.len(), 3, "{before:?}");

    call.pc(a).set_encoding_active(sends, "h", false).unwrap();
    call.renegotiate(a, b);
    call.run(Duration::from_millis(200));
    layers_kept(&before, &layers_sent(call.pc(a)), false, "after a re-offer");
    assert!(!layers_sent(call.pc(a))["h"].active);

    call.pc(a)
        .set_direction(sends, RtpTransceiverDirection::Inactive)
        .unwrap();
    call.renegotiate(a, b);
    call.run(Duration::from_millis(200));
    let paused = layers_sent(call.pc(a));
    layers_kept(&before, &paused, false, "while inactive");
    call.run(Duration::from_secs(1));
    layers_kept(&paused, &layers_sent(call.pc(a)), true, "while inactive");

    call.pc(a)
        .set_direction(sends, RtpTransceiverDirection::SendOnly)
        .unwrap();
    call.pc(a).set_encoding_active(sends, "h", true).unwrap();
    call.negotiate(a, b);
    call.stream(5);
    let after = layers_sent(call.pc(a));
    layers_kept(&before, &after, false, "sending again");
    for (rid, o) in &after {
        assert!(
            o.frames_sent >= before[rid].frames_sent + 5,
            "layer {rid} goes on from where it stood: {o:?}"
        );
    }
}

/// W3C webrtc-stats §5.3: a renegotiation that drops a simulcast layer
/// ends that layer's RTP stream only; the layers still agreed keep
/// theirs (SSRC, `outbound-rtp` id, counters) and go on sending.
#[test]
fn a_renegotiation_that_drops_a_layer_keeps_the_other_layers_streams() {
    let mut call = Call::new(16, LinkConfig::IDEAL.with_delay(Duration::from_millis(5)));
    let (a, b, sends) = (call.a, call.b, call.a_sends);
    call.stream(5);
    let before = layers_sent(call.pc(a));
    // b's answer agrees to q and f only (RFC 8853 §5.3: an answerer may
    // remove rids).
    let (_, answer) = call.renegotiate_with(a, b, |sdp| {
        *sdp = sdp
            .replace("a=simulcast:recv q;h;f", "a=simulcast:recv q;f")
            .replace("a=rid:h recv\r\n", "");
    });
    assert!(answer.contains("a=simulcast:recv q;f"), "{answer}");
    assert_eq!(call.pc(a).send_rids(sends), ["q", "f"]);
    let now = call.net.now();
    for rid in ["q", "f"] {
        let (f, key) = layer_frame(0, 0);
        call.pc(a)
            .write_frame_for(now, sends, rid, &f, Duration::from_millis(33), key)
            .unwrap();
    }
    call.run(Duration::from_millis(200));
    let after = layers_sent(call.pc(a));
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        ["f", "q"],
        "the dropped layer's stream ended: {after:?}"
    );
    let kept: BTreeMap<_, _> = before.into_iter().filter(|(r, _)| r != "h").collect();
    layers_kept(&kept, &after, false, "after the renegotiation");
    for (rid, o) in &after {
        assert_eq!(o.frames_sent, kept[rid].frames_sent + 1, "{rid}: {o:?}");
    }
}

#[test]
fn a_frame_without_rid_goes_to_the_first_active_layer_and_an_unknown_rid_is_refused() {
    let mut call = Call::new(13, LinkConfig::IDEAL.with_delay(Duration::from_millis(5)));
    let (a, b, sends, receives) = (call.a, call.b, call.a_sends, call.b_receives);
    call.pc(a).set_encoding_active(sends, "q", false).unwrap();
    let now = call.net.now();
    let (f, _) = layer_frame(1, 0);
    call.pc(a)
        .write_frame(now, sends, &f, Duration::from_millis(33), true)
        .unwrap();
    let err = call
        .pc(a)
        .write_frame_for(now, sends, "x", &f, Duration::from_millis(33), true)
        .unwrap_err();
    assert!(err.to_string().contains("rid"), "{err}");
    call.run(Duration::from_millis(200));
    let events = call.net.endpoint_mut(&b).events.clone();
    let got = frames_by_rid(&events, receives);
    assert_eq!(got.keys().collect::<Vec<_>>(), [&Some("h".to_owned())]);
}

#[test]
fn a_keyframe_request_for_one_layer_reaches_that_layer_of_the_sender_only() {
    let mut call = Call::new(14, LinkConfig::IDEAL.with_delay(Duration::from_millis(5)));
    let (a, b, sends, receives) = (call.a, call.b, call.a_sends, call.b_receives);
    call.stream(3);
    call.net.endpoint_mut(&a).events.clear();
    let now = call.net.now();
    call.pc(b).request_keyframe_for(now, receives, "f").unwrap();
    call.run(Duration::from_millis(100));
    let asked: Vec<_> = call
        .net
        .endpoint_mut(&a)
        .events
        .iter()
        .filter_map(|e| match e {
            Event::KeyframeRequested { transceiver, rid } if *transceiver == sends => {
                Some(rid.clone())
            }
            _ => None,
        })
        .collect();
    assert_eq!(asked, [Some("f".to_owned())]);
    let (inbound, _) = stats(call.pc(b));
    assert_eq!(by_rid(&inbound, "f", |s| s.rid.as_deref()).pli_count, 1);
    assert_eq!(by_rid(&inbound, "q", |s| s.rid.as_deref()).pli_count, 0);
}

/// RFC 8853 §5.3: an answer agrees to each offered rid once and to four
/// layers at most, the layers the media session receives; the rest are
/// removed from the answer.
#[test]
fn an_answer_agrees_to_at_most_four_distinct_rids() {
    let now = Instant::now();
    let mut a = peer(1, "10.0.0.1".parse().unwrap(), now);
    let mut b = peer(2, "10.0.0.2".parse().unwrap(), now);
    a.pc.add_transceiver(MediaKind::Video, simulcast_init())
        .unwrap();
    let mut offer = a.pc.create_offer().unwrap();
    offer.sdp = offer
        .sdp
        .replace("a=simulcast:send q;h;f", "a=simulcast:send q;h;q;f;x;y")
        .replace(
            "a=rid:f send\r\n",
            "a=rid:f send\r\na=rid:x send\r\na=rid:y send\r\n",
        );
    assert!(offer.sdp.contains("a=rid:y send"), "{}", offer.sdp);
    b.pc.set_remote_description(now, offer).unwrap();
    let answer = b.pc.create_answer().unwrap();
    assert!(
        answer.sdp.contains("a=simulcast:recv q;h;f;x\r\n"),
        "{}",
        answer.sdp
    );
    assert_eq!(answer.sdp.matches("a=rid:").count(), 4, "{}", answer.sdp);
}

/// The `media-source` of `pc`'s report (one track here).
fn media_source_of(pc: &PeerConnection) -> ferrtc_core::MediaSourceStats {
    let report = pc.get_stats(SystemTime::now());
    report
        .stats
        .values()
        .find_map(|s| match s {
            Stats::MediaSource(m) => Some(m.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no media-source: {}", report.to_json()))
}

/// An answer that agrees to `h` and `f` only (RFC 8853 §5.3: the first
/// layer, `q`, is dropped).
fn drop_q(sdp: &mut String) {
    *sdp = sdp
        .replace("a=simulcast:recv q;h;f", "a=simulcast:recv h;f")
        .replace("a=rid:q recv\r\n", "");
}

/// W3C webrtc-stats: counters never go back under one id. The
/// `media-source` of a simulcast sender counts the frames written on the
/// track; a renegotiation that drops the first layer must not make its
/// `frames` fall to another layer's count.
#[test]
fn media_source_frames_never_go_back_when_the_first_layer_is_dropped() {
    let mut call = Call::new(16, LinkConfig::IDEAL.with_delay(Duration::from_millis(5)));
    let (a, b, sends) = (call.a, call.b, call.a_sends);
    call.pc(a).replace_track(sends, Some("cam".into())).unwrap();
    call.stream(5);
    // Ten more frames on the first layer, `q`, only.
    for i in 5..15 {
        let now = call.net.now();
        let (f, key) = layer_frame(0, i);
        call.pc(a)
            .write_frame_for(now, sends, "q", &f, Duration::from_millis(33), key)
            .unwrap();
        call.run(Duration::from_millis(33));
    }
    let before = media_source_of(call.pc(a));
    assert_eq!(before.frames, Some(15), "{before:?}");
    let (_, answer) = call.renegotiate_with(a, b, drop_q);
    assert!(answer.contains("a=simulcast:recv h;f"), "{answer}");
    assert_eq!(call.pc(a).send_rids(sends), ["h", "f"]);
    call.run(Duration::from_millis(200));
    let after = media_source_of(call.pc(a));
    assert_eq!(after.id, before.id);
    assert!(
        after.frames >= before.frames,
        "media-source frames went back under one id: {before:?} -> {after:?}"
    );
}

/// W3C webrtc-stats §5.3: the `outbound-rtp` of a layer the answer drops
/// (RFC 8853 §5.3) goes from the report, the first layer's as any other.
#[test]
fn a_dropped_first_layer_ends_its_outbound_rtp() {
    let mut call = Call::new(16, LinkConfig::IDEAL.with_delay(Duration::from_millis(5)));
    let (a, b, sends) = (call.a, call.b, call.a_sends);
    call.stream(5);
    call.renegotiate_with(a, b, drop_q);
    assert_eq!(call.pc(a).send_rids(sends), ["h", "f"]);
    call.run(Duration::from_millis(200));
    let after = layers_sent(call.pc(a));
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        ["f", "h"],
        "the dropped layer's stream ended: {after:?}"
    );
}

/// W3C webrtc-stats `RTCVideoSourceStats.frames`: the frames that
/// originated from the source. Frames written after a renegotiation that
/// drops the first layer (RFC 8853 §5.3) are frames of the source: the
/// count moves on, it does not stand still until the new first layer
/// catches up with the old one's.
#[test]
fn media_source_counts_frames_written_after_the_first_layer_is_dropped() {
    let mut call = Call::new(16, LinkConfig::IDEAL.with_delay(Duration::from_millis(5)));
    let (a, b, sends) = (call.a, call.b, call.a_sends);
    call.pc(a).replace_track(sends, Some("cam".into())).unwrap();
    call.stream(5);
    for i in 5..15 {
        let now = call.net.now();
        let (f, key) = layer_frame(0, i);
        call.pc(a)
            .write_frame_for(now, sends, "q", &f, Duration::from_millis(33), key)
            .unwrap();
        call.run(Duration::from_millis(33));
    }
    let before = media_source_of(call.pc(a));
    assert_eq!(before.frames, Some(15), "{before:?}");
    call.renegotiate_with(a, b, drop_q);
    assert_eq!(call.pc(a).send_rids(sends), ["h", "f"]);
    // Five more frames of the track, on each layer still sent.
    for i in 15..20 {
        let now = call.net.now();
        for (l, rid) in [(1, "h"), (2, "f")] {
            let (f, key) = layer_frame(l, i);
            call.pc(a)
                .write_frame_for(now, sends, rid, &f, Duration::from_millis(33), key)
                .unwrap();
        }
        call.run(Duration::from_millis(33));
    }
    let after = media_source_of(call.pc(a));
    assert!(
        after.frames > before.frames,
        "frames written after the drop are not counted: {before:?} -> {after:?}"
    );
}
