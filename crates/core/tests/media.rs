//! Media between two `ferrtc-core` peer connections on the simulated
//! network: transceivers negotiated through JSEP, SRTP keyed from
//! DTLS-SRTP, frames written on one side and read whole on the other,
//! NACK/RTX under loss, PLI after a burst, hostile datagrams dropped and
//! counted, and the `inbound-rtp`/`outbound-rtp` stats.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime};

use ferrtc_core::{
    Config, Event, InboundRtpStats, MediaKind, OutboundRtpStats, PeerConnection,
    PeerConnectionState, Stats, TrackInfo, TransceiverId,
};
use ferrtc_sim::{Endpoint, HostId, LinkConfig, Network, Transmit};

/// Drops some received datagrams: `(payload type, whether to drop)`.
type Filter = Box<dyn FnMut(u8) -> bool>;

struct Peer {
    pc: PeerConnection,
    events: Vec<Event>,
    /// Decides, by RTP payload type (the header is in the clear under
    /// SRTP), which received RTP packets the test loses on purpose.
    filter: Option<Filter>,
    /// (when, bytes) of every RTP datagram sent.
    sent_rtp: Vec<(Instant, usize)>,
    /// The transport-wide sequence number (the only two-byte extension
    /// element these peers send) and the payload type of every RTP
    /// datagram sent, in sending order (the header is in the clear under
    /// SRTP).
    sent_transport_seq: Vec<(u16, u8)>,
    /// The SSRC and sequence number of every RTP datagram sent.
    sent_streams: Vec<(u32, u16)>,
}

impl Endpoint for Peer {
    fn handle_receive(&mut self, now: Instant, source: SocketAddr, dest: SocketAddr, data: &[u8]) {
        let rtp =
            matches!(data.first(), Some(128..=191)) && !matches!(data.get(1), Some(192..=223));
        if rtp
            && let (Some(f), Some(pt)) = (self.filter.as_mut(), data.get(1))
            && f(pt & 0x7f)
        {
            return;
        }
        self.pc
            .handle_receive(now, source, dest, &mut data.to_vec());
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        let t = self.pc.poll_transmit(now, buf)?;
        if matches!(buf.first(), Some(128..=191)) && !matches!(buf.get(1), Some(192..=223)) {
            self.sent_rtp.push((now, buf.len()));
            // The header only: the P bit would read the padding count
            // from the SRTP tag.
            let mut header = buf.clone();
            header[0] &= !0x20;
            if let Ok(p) = ferrtc_rtp::RtpPacket::parse(&header) {
                self.sent_streams.push((p.ssrc, p.sequence_number));
                if let Some((_, v)) = p.extensions.iter().find(|(_, v)| v.len() == 2) {
                    self.sent_transport_seq
                        .push((u16::from_be_bytes([v[0], v[1]]), header[1] & 0x7f));
                }
            }
        }
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

struct Pair {
    net: Network,
    a: HostId<Peer>,
    b: HostId<Peer>,
}

fn peer(seed: u8, ip: IpAddr, now: Instant) -> Peer {
    peer_with(seed, ip, now, false)
}

fn peer_with(seed: u8, ip: IpAddr, now: Instant, pacing: bool) -> Peer {
    let mut config = Config::default();
    config.media.pacing = pacing;
    config.rng_seed = Some([seed; 32]);
    let mut pc = PeerConnection::new(config, now, SystemTime::now()).unwrap();
    pc.add_local_host(now, SocketAddr::new(ip, 5000)).unwrap();
    Peer {
        pc,
        events: Vec::new(),
        filter: None,
        sent_rtp: Vec::new(),
        sent_transport_seq: Vec::new(),
        sent_streams: Vec::new(),
    }
}

impl Pair {
    fn new(seed: u64, link: LinkConfig) -> Pair {
        Self::new_with(seed, link, false)
    }

    /// With `pacing`, a paces its RTP (`MediaConfig::pacing`).
    fn new_with(seed: u64, link: LinkConfig, pacing: bool) -> Pair {
        let mut net = Network::new(seed);
        let (ip_a, ip_b): (IpAddr, IpAddr) =
            ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let now = net.now();
        let a = net
            .add_host([ip_a], link, peer_with(1, ip_a, now, pacing))
            .unwrap();
        let b = net.add_host([ip_b], link, peer(2, ip_b, now)).unwrap();
        Pair { net, a, b }
    }

    fn a(&mut self) -> &mut Peer {
        self.net.endpoint_mut(&self.a)
    }

    fn b(&mut self) -> &mut Peer {
        self.net.endpoint_mut(&self.b)
    }

    fn negotiate(&mut self) {
        let now = self.net.now();
        let offer = self.a().pc.create_offer().unwrap();
        self.a()
            .pc
            .set_local_description(now, Some(offer.clone()))
            .unwrap();
        self.b().pc.set_remote_description(now, offer).unwrap();
        let answer = self.b().pc.create_answer().unwrap();
        self.b()
            .pc
            .set_local_description(now, Some(answer.clone()))
            .unwrap();
        self.a().pc.set_remote_description(now, answer).unwrap();
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

    fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&mut Pair) -> bool) -> bool {
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
}

/// The offerer's video and audio senders.
struct Call {
    pair: Pair,
    video: TransceiverId,
    audio: TransceiverId,
    video_mid: String,
    audio_mid: String,
}

/// a adds a VP8 video track and an Opus audio track, b answers with the
/// transceivers the offer created; both connect.
fn call(seed: u64, link: LinkConfig) -> Call {
    call_with(seed, link, false)
}

fn call_with(seed: u64, link: LinkConfig, pacing: bool) -> Call {
    let mut pair = Pair::new_with(seed, link, pacing);
    let video = pair
        .a()
        .pc
        .add_track(TrackInfo {
            id: "camera".into(),
            kind: MediaKind::Video,
            stream_ids: vec!["stream".into()],
        })
        .unwrap();
    let audio = pair
        .a()
        .pc
        .add_track(TrackInfo {
            id: "mic".into(),
            kind: MediaKind::Audio,
            stream_ids: vec!["stream".into()],
        })
        .unwrap();
    pair.signal();
    assert!(
        pair.a().events.contains(&Event::NegotiationNeeded),
        "add_track fires negotiationneeded"
    );
    pair.negotiate();
    pair.signal();
    // W3C: setRemoteDescription fires `track` for what the peer sends.
    let tracks = pair
        .b()
        .events
        .iter()
        .filter(|e| matches!(e, Event::Track { .. }))
        .count();
    assert_eq!(tracks, 2, "track events at setRemoteDescription");
    let up = pair.run_until(Duration::from_secs(10), |p| {
        p.a().pc.connection_state() == PeerConnectionState::Connected
            && p.b().pc.connection_state() == PeerConnectionState::Connected
    });
    assert!(up, "the peers did not connect");
    let mids: Vec<_> = pair.a().pc.transceivers();
    let mid = |id| {
        mids.iter()
            .find(|t| t.id == id)
            .and_then(|t| t.mid.clone())
            .unwrap()
    };
    Call {
        video_mid: mid(video),
        audio_mid: mid(audio),
        pair,
        video,
        audio,
    }
}

/// The VP8 frame `i`: a keyframe every 30 (RFC 7741 §4.3: the P bit of the
/// first byte is 0 on a keyframe), over several packets, numbered.
fn vp8_frame(i: usize) -> (Vec<u8>, bool) {
    vp8_frame_as(i, i % 30 == 0)
}

fn opus_frame(i: usize) -> Vec<u8> {
    (0..120).map(|j| (i * 13 + j) as u8).collect()
}

fn frames(events: &[Event], want_mid: &str) -> Vec<(Vec<u8>, bool)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::TrackFrame {
                mid,
                frame,
                keyframe,
                ..
            } if mid == want_mid => Some((frame.clone(), *keyframe)),
            _ => None,
        })
        .collect()
}

/// The VP8 frame `i`, a keyframe when `key` (RFC 7741 §4.3: the P bit of
/// the first byte is 0 on a keyframe).
fn vp8_frame_as(i: usize, key: bool) -> (Vec<u8>, bool) {
    let len = if key { 4000 } else { 900 + i * 7 };
    let mut f = vec![if key { 0x10 } else { 0x11 }];
    f.extend((0..len).map(|j| (i * 31 + j) as u8));
    (f, key)
}

/// Writes `n` video and audio frames, one of each every 20 ms, then lets
/// the network settle. `each` runs before frame `i` and returns whether to
/// make it a keyframe out of turn (answering a keyframe request, as an
/// application does). Returns the video frames written.
fn stream(
    call: &mut Call,
    n: usize,
    mut each: impl FnMut(usize, &mut Pair) -> bool,
) -> Vec<(Vec<u8>, bool)> {
    let (video, audio) = (call.video, call.audio);
    let mut written = Vec::new();
    for i in 0..n {
        let force = each(i, &mut call.pair);
        let now = call.pair.net.now();
        let (f, key) = if force {
            vp8_frame_as(i, true)
        } else {
            vp8_frame(i)
        };
        let a = call.pair.a();
        a.pc.write_frame(now, video, &f, Duration::from_millis(20), key)
            .unwrap();
        a.pc.write_frame(now, audio, opus_frame(i), Duration::from_millis(20), false)
            .unwrap();
        written.push((f, key));
        call.pair.run(Duration::from_millis(20));
    }
    call.pair.run(Duration::from_secs(2));
    written
}

fn inbound(pc: &PeerConnection, kind: &str) -> InboundRtpStats {
    let report = pc.get_stats(SystemTime::now());
    report
        .stats
        .values()
        .find_map(|s| match s {
            Stats::InboundRtp(s) if s.kind == kind => Some(s.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no inbound-rtp {kind} in {}", report.to_json()))
}

fn outbound(pc: &PeerConnection, kind: &str) -> OutboundRtpStats {
    let report = pc.get_stats(SystemTime::now());
    report
        .stats
        .values()
        .find_map(|s| match s {
            Stats::OutboundRtp(s) if s.kind == kind => Some(s.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no outbound-rtp {kind} in {}", report.to_json()))
}

#[test]
fn video_and_audio_frames_arrive_whole_and_in_order_with_track_events() {
    let mut call = call(1, LinkConfig::IDEAL.with_delay(Duration::from_millis(10)));
    stream(&mut call, 100, |_, _| false);
    let b = call.pair.b();
    let tracks: Vec<_> = b
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Track {
                mid,
                stream_ids,
                track_id,
                ..
            } => Some((mid.clone(), stream_ids.clone(), track_id.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        tracks.len(),
        2,
        "one track event per transceiver: {tracks:?}"
    );
    for (mid, streams, track) in &tracks {
        assert_eq!(streams, &vec!["stream".to_owned()]);
        let want = if *mid == call.video_mid {
            "camera"
        } else {
            "mic"
        };
        assert_eq!(track.as_deref(), Some(want));
    }
    // Every track event comes before that track's first frame.
    let first_frame = b
        .events
        .iter()
        .position(|e| matches!(e, Event::TrackFrame { .. }))
        .unwrap();
    let last_track = b
        .events
        .iter()
        .rposition(|e| matches!(e, Event::Track { .. }))
        .unwrap();
    assert!(last_track < first_frame);

    let video = frames(&b.events, &call.video_mid);
    let want: Vec<_> = (0..100).map(vp8_frame).collect();
    assert_eq!(video.len(), 100, "video frames");
    assert!(
        video == want,
        "video frames intact, in order, keyframes marked"
    );
    let audio: Vec<_> = frames(&b.events, &call.audio_mid)
        .into_iter()
        .map(|(f, _)| f)
        .collect();
    let want: Vec<_> = (0..100).map(opus_frame).collect();
    assert!(audio == want, "audio frames intact and in order");

    let v_in = inbound(&b.pc, "video");
    let a_in = inbound(&b.pc, "audio");
    assert_eq!(v_in.frames_received, 100);
    assert_eq!(a_in.packets_received, 100);
    assert_eq!(v_in.packets_lost, 0);
    assert_eq!(v_in.mid, call.video_mid);
    let json = b.pc.get_stats(SystemTime::now()).to_json();
    assert!(json.contains("\"type\":\"inbound-rtp\""), "{json}");
    assert!(json.contains("\"packetsReceived\""), "{json}");

    let a = call.pair.a();
    let v_out = outbound(&a.pc, "video");
    let a_out = outbound(&a.pc, "audio");
    assert_eq!(v_out.frames_sent, 100);
    assert_eq!(v_out.key_frames_encoded, 4);
    assert_eq!(v_out.packets_sent, v_in.packets_received);
    assert_eq!(v_out.bytes_sent, v_in.bytes_received);
    assert_eq!(a_out.packets_sent, 100);
    assert_eq!(v_out.retransmitted_packets_sent, 0);
    assert_eq!(a.pc.media_stats(), Default::default());
    // b's receiver reports about a's streams echo a's sender reports: the
    // round-trip time (RFC 3550 §6.4.1), 2 x 10 ms on this link.
    let report = a.pc.get_stats(SystemTime::now());
    let remote = report
        .stats
        .values()
        .find_map(|s| match s {
            Stats::RemoteInboundRtp(s) if s.kind == "video" => Some(s.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no remote-inbound-rtp in {}", report.to_json()));
    let rtt = remote.round_trip_time.expect("an RTT was measured");
    assert!((0.015..0.05).contains(&rtt), "rtt {rtt}");
    assert_eq!(remote.packets_lost, 0);
    assert!(remote.round_trip_time_measurements >= 1);
}

#[test]
fn nack_and_rtx_repair_video_over_a_lossy_link() {
    let link = LinkConfig::IDEAL
        .with_delay(Duration::from_millis(10))
        .with_loss(0.05);
    let mut call = call(7, link);
    // The stream goes on after the 100 frames checked: a lost tail shows
    // only when a later packet arrives.
    stream(&mut call, 105, |_, _| false);
    let b = call.pair.b();
    let video = frames(&b.events, &call.video_mid);
    let want: Vec<_> = (0..100).map(vp8_frame).collect();
    assert!(video.len() >= 100, "no video frame lost: {}", video.len());
    assert!(video[..100] == want, "video frames intact and in order");
    let v_in = inbound(&b.pc, "video");
    assert!(v_in.nack_count > 0, "{v_in:?}");
    assert!(v_in.retransmitted_packets_received > 0, "{v_in:?}");
    let v_out = outbound(&call.pair.a().pc, "video");
    assert!(v_out.nack_count > 0, "{v_out:?}");
    assert!(v_out.retransmitted_packets_sent > 0, "{v_out:?}");
    assert!(v_out.rtx_ssrc.is_some());
}

#[test]
fn a_frame_lost_for_good_brings_a_pli_and_a_keyframe_request() {
    let mut call = call(3, LinkConfig::IDEAL.with_delay(Duration::from_millis(10)));
    let video = call.video;
    let burst = std::rc::Rc::new(std::cell::Cell::new(false));
    let flag = burst.clone();
    // VP8 is payload type 96 and its RTX 97 (JSEP's defaults): frames of
    // the burst are lost, and so is every retransmission.
    call.pair.b().filter = Some(Box::new(move |pt| pt == 97 || (pt == 96 && flag.get())));
    let mut requested_at = None;
    // The jitter buffer gives a gap up after 500 ms: frames 31 and 32 lost
    // for good are given up before the keyframe of frame 60 is due.
    let written = stream(&mut call, 100, |i, pair| {
        burst.set((31..33).contains(&i));
        if requested_at.is_none()
            && pair.a().events.contains(&Event::KeyframeRequested {
                transceiver: video,
                rid: None,
            })
        {
            requested_at = Some(i);
            return true;
        }
        false
    });
    let asked = requested_at.expect("the sender was asked for a keyframe");
    assert!(asked > 33 && asked <= 60, "asked at frame {asked}");
    let b = call.pair.b();
    let v_in = inbound(&b.pc, "video");
    assert!(v_in.pli_count >= 1, "{v_in:?}");
    let got = frames(&b.events, &call.video_mid);
    // Frames before the burst, then from the keyframe that answered the
    // request on: the frames between cannot be decoded.
    let want: Vec<_> = written[..31]
        .iter()
        .chain(&written[asked..])
        .cloned()
        .collect();
    assert!(got == want, "got {} frames, want {}", got.len(), want.len());
    let v_out = outbound(&call.pair.a().pc, "video");
    assert!(v_out.pli_count >= 1, "{v_out:?}");
}

#[test]
fn an_application_asks_for_a_keyframe_and_the_sender_is_told() {
    let mut call = call(4, LinkConfig::IDEAL.with_delay(Duration::from_millis(10)));
    let video = call.video;
    let mid = call.video_mid.clone();
    let received = call
        .pair
        .b()
        .pc
        .transceivers()
        .into_iter()
        .find(|t| t.mid.as_deref() == Some(mid.as_str()))
        .expect("b has the video transceiver")
        .id;
    // No stream yet: nothing to ask.
    let now = call.pair.net.now();
    let early = call.pair.b().pc.request_keyframe(now, received);
    assert!(
        matches!(early, Err(ferrtc_core::Error::InvalidState { .. })),
        "{early:?}"
    );
    let mut asked = None;
    stream(&mut call, 40, |i, pair| {
        if i == 10 {
            let now = pair.net.now();
            pair.b().pc.request_keyframe(now, received).unwrap();
        }
        if asked.is_none()
            && pair.a().events.contains(&Event::KeyframeRequested {
                transceiver: video,
                rid: None,
            })
        {
            asked = Some(i);
            return true;
        }
        false
    });
    // One 10 ms hop after the request, within a frame or two.
    let asked = asked.expect("the sender was asked for a keyframe");
    assert!((11..=12).contains(&asked), "asked at frame {asked}");
    assert!(inbound(&call.pair.b().pc, "video").pli_count >= 1);
    assert!(outbound(&call.pair.a().pc, "video").pli_count >= 1);
}

#[test]
fn malformed_srtp_and_rtcp_are_dropped_and_counted() {
    let mut call = call(5, LinkConfig::IDEAL.with_delay(Duration::from_millis(10)));
    stream(&mut call, 5, |_, _| false);
    let now = call.pair.net.now();
    let b = call.pair.b();
    let pair = b.pc.selected_pair().cloned().unwrap();
    let before = b.pc.media_stats();
    for i in 0..200u32 {
        let mut rtp = vec![0x80, 96];
        rtp.extend(i.to_be_bytes());
        rtp.extend([0u8; 4]);
        rtp.extend(i.wrapping_mul(2_654_435_761).to_be_bytes());
        rtp.extend([0xab; 40]);
        b.pc.handle_receive(now, pair.destination, pair.source, &mut rtp);
        let mut rtcp = vec![0x80, 201, 0, 1, 1, 2, 3, 4, 9, 9, 9];
        b.pc.handle_receive(now, pair.destination, pair.source, &mut rtcp);
        let mut short = vec![0x80];
        b.pc.handle_receive(now, pair.destination, pair.source, &mut short);
    }
    let after = b.pc.media_stats();
    assert_eq!(after.srtp_failures - before.srtp_failures, 400);
    assert_eq!(after.srtcp_failures - before.srtcp_failures, 200);
    let (held, ssrcs) = b.pc.media_held();
    assert!(ssrcs <= 2, "forged SSRCs bound: {ssrcs}");
    assert!(held < 100, "{held}");
    assert_eq!(b.pc.stats().dropped_rtp, 600);
    // Media still flows.
    stream(&mut call, 10, |_, _| false);
    let b = call.pair.b();
    assert_eq!(frames(&b.events, &call.video_mid).len(), 15);
}

fn negotiation_needed(p: &mut Peer) -> bool {
    while let Some(e) = p.pc.poll_event() {
        p.events.push(e);
    }
    let fired = p.events.contains(&Event::NegotiationNeeded);
    p.events.clear();
    fired
}

#[test]
fn transceivers_follow_the_w3c_calls_and_fire_negotiationneeded() {
    let mut pair = Pair::new(9, LinkConfig::IDEAL);
    let a = pair.a();
    let video =
        a.pc.add_transceiver(
            MediaKind::Video,
            ferrtc_core::RtpTransceiverInit {
                direction: ferrtc_core::RtpTransceiverDirection::RecvOnly,
                ..Default::default()
            },
        )
        .unwrap();
    assert!(negotiation_needed(a));
    assert!(
        a.pc.add_transceiver(MediaKind::Application, Default::default())
            .is_err(),
        "only audio and video"
    );
    let t = &a.pc.transceivers()[0];
    assert_eq!(t.id, video);
    assert_eq!(t.kind, MediaKind::Video);
    assert_eq!(t.direction, ferrtc_core::RtpTransceiverDirection::RecvOnly);
    assert_eq!(
        (t.mid.clone(), t.current_direction, t.stopped),
        (None, None, false)
    );
    pair.negotiate();
    let a = pair.a();
    negotiation_needed(a);
    let t = &a.pc.transceivers()[0];
    assert!(t.mid.is_some());
    // b had nothing to send: the answer said inactive (RFC 8829 §5.3.1).
    assert_eq!(
        t.current_direction,
        Some(ferrtc_core::RtpTransceiverDirection::Inactive)
    );

    // b answered with a transceiver the offer created: addTrack reuses it
    // (W3C webrtc-pc §5.1) and turns it to sendrecv.
    let b = pair.b();
    negotiation_needed(b);
    let created = b.pc.transceivers()[0].id;
    let sender =
        b.pc.add_track(TrackInfo {
            id: "cam".into(),
            kind: MediaKind::Video,
            stream_ids: vec!["s".into()],
        })
        .unwrap();
    assert_eq!(sender, created);
    assert_eq!(b.pc.transceivers().len(), 1);
    assert!(matches!(
        b.pc.transceivers()[0].direction,
        ferrtc_core::RtpTransceiverDirection::SendOnly
            | ferrtc_core::RtpTransceiverDirection::SendRecv
    ));
    assert_eq!(b.pc.transceivers()[0].sender_track.as_deref(), Some("cam"));
    assert!(negotiation_needed(b));
    assert!(
        b.pc.add_track(TrackInfo {
            id: "cam".into(),
            kind: MediaKind::Video,
            stream_ids: vec![],
        })
        .is_err(),
        "one sender per track"
    );
    // An audio track finds no free audio transceiver: a new one.
    let mic =
        b.pc.add_track(TrackInfo {
            id: "mic".into(),
            kind: MediaKind::Audio,
            stream_ids: vec![],
        })
        .unwrap();
    assert_ne!(mic, created);
    assert_eq!(b.pc.transceivers().len(), 2);
    b.pc.remove_track(mic).unwrap();
    let t = b.pc.transceivers()[1].clone();
    assert_eq!(t.direction, ferrtc_core::RtpTransceiverDirection::RecvOnly);
    assert_eq!(t.sender_track, None);
    b.pc.set_direction(mic, ferrtc_core::RtpTransceiverDirection::Inactive)
        .unwrap();
    b.pc.stop_transceiver(mic).unwrap();
    assert!(b.pc.transceivers()[1].stopped);
    assert!(
        b.pc.set_direction(mic, ferrtc_core::RtpTransceiverDirection::SendRecv)
            .is_err()
    );
    let now = pair.net.now();
    let err = pair
        .b()
        .pc
        .write_frame(now, mic, &[1], Duration::from_millis(20), false)
        .unwrap_err();
    assert_eq!(err.name(), "InvalidStateError");
}

/// A track that stops sending and sends again keeps its SSRC (the one
/// `a=ssrc` announced), so its sequence numbers go on where they stopped:
/// the SRTP state of the SSRC lives on, and a sequence number sent before
/// would protect a new packet under an index already used (RFC 3711
/// §9.1, RFC 7714 §8.3).
#[test]
fn a_sender_that_stops_and_sends_again_continues_its_sequence_numbers() {
    let mut call = call(11, LinkConfig::default());
    let video = call.video;
    stream(&mut call, 10, |_, _| false);
    let ssrc_of = |p: &mut Pair| {
        let sent = &p.a().sent_streams;
        let (ssrc, _) = *sent.first().unwrap();
        let last = sent.iter().rev().find(|(s, _)| *s == ssrc).unwrap().1;
        (ssrc, last)
    };
    let (ssrc, last) = ssrc_of(&mut call.pair);
    for direction in [
        ferrtc_core::RtpTransceiverDirection::RecvOnly,
        ferrtc_core::RtpTransceiverDirection::SendRecv,
    ] {
        call.pair.a().pc.set_direction(video, direction).unwrap();
        call.pair.negotiate();
        call.pair.run(Duration::from_millis(100));
    }
    let before = call.pair.a().sent_streams.len();
    stream(&mut call, 10, |_, _| false);
    let after: Vec<u16> = call.pair.a().sent_streams[before..]
        .iter()
        .filter(|(s, _)| *s == ssrc)
        .map(|(_, q)| *q)
        .collect();
    assert!(!after.is_empty(), "the video SSRC sends again");
    assert_eq!(after[0], last.wrapping_add(1), "its numbers go on");
    let mut seen = std::collections::HashSet::new();
    let repeated: Vec<_> = call
        .pair
        .a()
        .sent_streams
        .iter()
        .filter(|p| !seen.insert(**p))
        .collect();
    assert!(
        repeated.is_empty(),
        "no (SSRC, sequence) sent twice on a lossless link: {repeated:?}"
    );
}

/// W3C webrtc-stats §5.3 (the RTP statistics hierarchy): a transceiver
/// negotiated not to send and then to send again keeps its RTP stream,
/// and the counters of its `outbound-rtp` and of its track's
/// `media-source` only grow. The peer's `remote-outbound-rtp` comes from
/// our sender reports, whose counts restart only with a new SSRC (RFC
/// 3550 §6.4.1): it does not go back either.
#[test]
fn the_counters_of_a_sender_that_stops_and_sends_again_never_go_back() {
    let mut call = call(11, LinkConfig::IDEAL.with_delay(Duration::from_millis(10)));
    let video = call.video;
    stream(&mut call, 10, |_, _| false);
    fn camera(pc: &PeerConnection) -> Option<u64> {
        pc.get_stats(SystemTime::now())
            .stats
            .values()
            .find_map(|s| match s {
                Stats::MediaSource(m) if m.kind == "video" => m.frames,
                _ => None,
            })
    }
    let before = outbound(&call.pair.a().pc, "video");
    assert_eq!(camera(&call.pair.a().pc), Some(10));
    let remote_before = inbound(&call.pair.b().pc, "video").remote_id.unwrap();
    let remote_sent =
        |pc: &PeerConnection, id: &str| match pc.get_stats(SystemTime::now()).stats.get(id) {
            Some(Stats::RemoteOutboundRtp(r)) => r.packets_sent,
            other => panic!("no remote-outbound-rtp {id}: {other:?}"),
        };
    let sent_before = remote_sent(&call.pair.b().pc, &remote_before);
    assert_eq!(sent_before, before.packets_sent);
    for direction in [
        ferrtc_core::RtpTransceiverDirection::RecvOnly,
        ferrtc_core::RtpTransceiverDirection::SendRecv,
    ] {
        call.pair.a().pc.set_direction(video, direction).unwrap();
        call.pair.negotiate();
        call.pair.run(Duration::from_millis(100));
        assert_eq!(camera(&call.pair.a().pc), Some(10), "while {direction:?}");
    }
    stream(&mut call, 3, |_, _| false);
    let after = outbound(&call.pair.a().pc, "video");
    assert_eq!(after.id, before.id, "the same RTP stream");
    assert_eq!(after.frames_sent, before.frames_sent + 3);
    assert!(after.packets_sent > before.packets_sent, "{after:?}");
    assert!(after.bytes_sent > before.bytes_sent, "{after:?}");
    assert!(after.header_bytes_sent > before.header_bytes_sent);
    assert_eq!(camera(&call.pair.a().pc), Some(13));
    let remote_after = inbound(&call.pair.b().pc, "video").remote_id.unwrap();
    assert_eq!(remote_after, remote_before);
    assert_eq!(
        remote_sent(&call.pair.b().pc, &remote_after),
        after.packets_sent,
        "the sender report counts every packet of the SSRC"
    );
}

/// W3C webrtc-stats §5.3 (lifetime of RTP monitored objects): an RTP
/// stream's object is deleted only when its SSRC is replaced, its
/// simulcast layer is dropped or its transceiver stops. A sender
/// negotiated `recvonly` or `inactive` still has its RTP stream: its
/// `outbound-rtp` stays, under the same id, with the counters where they
/// stood, and with the `remote-inbound-rtp` it names.
#[test]
fn a_sender_negotiated_not_to_send_keeps_its_outbound_rtp_with_frozen_counters() {
    use ferrtc_core::RtpTransceiverDirection::{Inactive, RecvOnly, SendRecv};
    let mut call = call(17, LinkConfig::IDEAL.with_delay(Duration::from_millis(10)));
    let (video, audio) = (call.video, call.audio);
    stream(&mut call, 60, |_, _| false);
    let before = [
        outbound(&call.pair.a().pc, "video"),
        outbound(&call.pair.a().pc, "audio"),
    ];
    for b in &before {
        assert!(b.packets_sent > 0 && b.remote_id.is_some(), "{b:?}");
    }
    for (video_direction, audio_direction) in [(RecvOnly, Inactive), (Inactive, RecvOnly)] {
        let a = &mut call.pair.a().pc;
        a.set_direction(video, video_direction).unwrap();
        a.set_direction(audio, audio_direction).unwrap();
        call.pair.negotiate();
        call.pair.run(Duration::from_secs(2));
        let report = call.pair.a().pc.get_stats(SystemTime::now());
        for b in &before {
            let Some(Stats::OutboundRtp(o)) = report.stats.get(&b.id) else {
                panic!(
                    "{} gone while {video_direction:?}/{audio_direction:?}: {}",
                    b.id,
                    report.to_json()
                );
            };
            let counts = |o: &OutboundRtpStats| {
                (
                    o.ssrc,
                    o.packets_sent,
                    o.bytes_sent,
                    o.header_bytes_sent,
                    o.frames_sent,
                    o.key_frames_encoded,
                )
            };
            assert_eq!(counts(o), counts(b), "frozen while not sending");
            let remote = o.remote_id.as_deref().expect("its remote-inbound-rtp");
            assert!(
                matches!(report.stats.get(remote), Some(Stats::RemoteInboundRtp(_))),
                "{remote} is in the report"
            );
        }
    }
    for t in [video, audio] {
        call.pair.a().pc.set_direction(t, SendRecv).unwrap();
    }
    call.pair.negotiate();
    stream(&mut call, 5, |_, _| false);
    for b in &before {
        let o = outbound(&call.pair.a().pc, b.kind);
        assert_eq!(o.id, b.id, "the same RTP stream");
        assert!(o.packets_sent > b.packets_sent, "{o:?}");
    }
}

/// An H.264 access unit in Annex B: SPS, PPS and an IDR slice for a
/// keyframe, one non-IDR slice otherwise (RFC 6184 §1.3 NAL types); each
/// slice starts a picture (first_mb_in_slice 0: the first bit set).
fn h264_frame(i: usize) -> (Vec<u8>, bool) {
    let key = i % 30 == 0;
    let nal = |header: u8, len: usize| {
        let mut v = vec![0, 0, 0, 1, header, 0x88];
        v.extend((0..len).map(|j| ((i * 17 + j) % 251) as u8 | 1));
        v
    };
    let f = if key {
        [nal(0x67, 10), nal(0x68, 4), nal(0x65, 3000)].concat()
    } else {
        nal(0x41, 700 + i * 5)
    };
    (f, key)
}

#[test]
fn h264_negotiated_by_codec_preferences_is_payloaded_and_reassembled() {
    let mut pair = Pair::new(4, LinkConfig::IDEAL.with_delay(Duration::from_millis(10)));
    let a = pair.a();
    let video =
        a.pc.add_track(TrackInfo {
            id: "camera".into(),
            kind: MediaKind::Video,
            stream_ids: vec!["s".into()],
        })
        .unwrap();
    let h264: Vec<_> = PeerConnection::codec_capabilities(&MediaKind::Video)
        .into_iter()
        .filter(|c| c.name == "H264" || c.apt() == Some(102))
        .filter(|c| c.is_rtx() || c.payload_type == 102)
        .collect();
    assert_eq!(h264.len(), 2, "H.264 and its RTX");
    a.pc.set_codec_preferences(video, h264).unwrap();
    let mut bogus = PeerConnection::codec_capabilities(&MediaKind::Video)[0].clone();
    bogus.name = "MPV".into();
    assert_eq!(
        a.pc.set_codec_preferences(video, vec![bogus])
            .unwrap_err()
            .name(),
        "InvalidModificationError"
    );
    pair.negotiate();
    let answer = pair.a().pc.current_remote_description().unwrap().sdp;
    assert!(
        answer.contains("H264/90000") && !answer.contains("VP8"),
        "{answer}"
    );
    assert!(pair.run_until(Duration::from_secs(10), |p| {
        p.a().pc.connection_state() == PeerConnectionState::Connected
            && p.b().pc.connection_state() == PeerConnectionState::Connected
    }));
    let mut written = Vec::new();
    for i in 0..40 {
        let now = pair.net.now();
        let (f, key) = h264_frame(i);
        pair.a()
            .pc
            .write_frame(now, video, &f, Duration::from_millis(33), key)
            .unwrap();
        written.push((f, key));
        pair.run(Duration::from_millis(33));
    }
    pair.run(Duration::from_secs(1));
    let mid = pair.a().pc.transceivers()[0].mid.clone().unwrap();
    let got = frames(&pair.b().events, &mid);
    assert_eq!(got.len(), 40);
    assert!(
        got == written,
        "H.264 access units intact, keyframes marked"
    );
}

/// The tones a peer received (RFC 4733 events) on `transceiver`, in order.
fn received_tones(events: &[Event]) -> Vec<char> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::DtmfReceived { tone, .. } => Some(*tone),
            _ => None,
        })
        .collect()
}

/// The sender's `tonechange` events on `transceiver`, in order.
fn tone_changes(events: &[Event], transceiver: TransceiverId) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::DtmfToneChange {
                transceiver: t,
                tone,
            } if *t == transceiver => Some(tone.clone()),
            _ => None,
        })
        .collect()
}

/// The instant (ms since `start`) each event matching `want` was seen,
/// stepping the network `step_ms` at a time for `total_ms`, writing a
/// 20 ms Opus frame on a's audio sender every 20 ms.
fn run_with_audio(call: &mut Call, total_ms: u64) -> Vec<(u64, Event)> {
    let audio = call.audio;
    let mut seen = Vec::new();
    let (mut ta, mut tb) = (call.pair.a().events.len(), call.pair.b().events.len());
    for step in 0..total_ms / 20 {
        let now = call.pair.net.now();
        call.pair
            .a()
            .pc
            .write_frame(
                now,
                audio,
                opus_frame(step as usize),
                Duration::from_millis(20),
                false,
            )
            .unwrap();
        call.pair.run(Duration::from_millis(20));
        let ms = (step + 1) * 20;
        let a = &call.pair.a().events;
        seen.extend(a[ta..].iter().map(|e| (ms, e.clone())));
        ta = a.len();
        let b = &call.pair.b().events;
        seen.extend(b[tb..].iter().map(|e| (ms, e.clone())));
        tb = b.len();
    }
    seen
}

#[test]
fn dtmf_tones_inserted_on_one_side_arrive_in_order_with_the_comma_pause() {
    let mut call = call(11, LinkConfig::IDEAL.with_delay(Duration::from_millis(10)));
    let audio = call.audio;
    run_with_audio(&mut call, 200);
    let now = call.pair.net.now();
    let a = call.pair.a();
    assert!(a.pc.can_insert_dtmf(audio).unwrap());
    assert_eq!(a.pc.dtmf_tone_buffer(audio).unwrap(), "");
    let ms = Duration::from_millis;
    a.pc.insert_dtmf(now, audio, "1,#a", ms(100), ms(70))
        .unwrap();
    // The first tone started with the call: the buffer holds the rest.
    assert_eq!(a.pc.dtmf_tone_buffer(audio).unwrap(), ",#A");
    let seen = run_with_audio(&mut call, 3000);
    let at = |tone: char| {
        seen.iter()
            .find_map(|(t, e)| match e {
                Event::DtmfReceived { tone: x, .. } if *x == tone => Some(*t),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{tone} not received"))
    };
    let (one, hash, a_tone) = (at('1'), at('#'), at('A'));
    // "1" (100 ms) and its gap (70 ms), "," (2 s), then "#".
    assert!(
        (2150..=2220).contains(&(hash - one)),
        "1 at {one} ms, # at {hash} ms"
    );
    assert!(
        (160..=190).contains(&(a_tone - hash)),
        "# {hash}, A {a_tone}"
    );

    let b = call.pair.b();
    assert_eq!(received_tones(&b.events), vec!['1', '#', 'A']);
    let b_audio =
        b.pc.transceivers()
            .iter()
            .find(|t| t.mid.as_deref() == Some(call.audio_mid.as_str()))
            .unwrap()
            .id;
    assert!(b.events.iter().all(|e| match e {
        Event::DtmfReceived { transceiver, .. } => *transceiver == b_audio,
        _ => true,
    }));
    // Telephone events never reach the audio frames; they share the
    // stream's sequence numbers without looking like loss.
    let audio_frames: Vec<u32> = b
        .events
        .iter()
        .filter_map(|e| match e {
            Event::TrackFrame {
                mid,
                frame,
                rtp_timestamp,
                ..
            } if *mid == call.audio_mid => {
                assert_eq!(frame.len(), 120, "an Opus frame, not an event");
                Some(*rtp_timestamp)
            }
            _ => None,
        })
        .collect();
    assert!(
        audio_frames
            .windows(2)
            .all(|w| w[1].wrapping_sub(w[0]) < 0x8000_0000 && w[1] != w[0]),
        "audio timestamps move forward past the events"
    );
    let a_in = inbound(&b.pc, "audio");
    assert_eq!(a_in.packets_lost, 0, "{a_in:?}");
    assert_eq!(a_in.packets_discarded, 0, "{a_in:?}");
    assert_eq!(a_in.frames_received, audio_frames.len() as u64);

    let a = call.pair.a();
    assert_eq!(
        tone_changes(&a.events, audio),
        vec!["1", ",", "#", "A", ""],
        "tonechange per tone, then empty"
    );
    assert_eq!(a.pc.dtmf_tone_buffer(audio).unwrap(), "");
    let a_out = outbound(&a.pc, "audio");
    // Frames written while a tone played were not sent: 3 tones x 100 ms.
    assert_eq!(a_out.frames_sent, audio_frames.len() as u64);
    assert!(
        (10 + 150 - 16..=10 + 150 - 14).contains(&a_out.frames_sent),
        "{a_out:?}"
    );
    // Each tone: a first packet, one update, three end packets.
    assert_eq!(a_out.packets_sent, a_out.frames_sent + 15, "{a_out:?}");
    assert_eq!(a_in.packets_received, a_out.packets_sent);
}

#[test]
fn a_lost_dtmf_packet_still_yields_each_tone_once() {
    let mut call = call(12, LinkConfig::IDEAL.with_delay(Duration::from_millis(10)));
    let audio = call.audio;
    // telephone-event/48000 is payload type 110 (JSEP's default, as
    // Chromium): lose the first packet of the first tone, the first and
    // the update of the second, and two of the three end packets of the
    // third.
    let seen = std::rc::Rc::new(std::cell::Cell::new(0));
    let count = seen.clone();
    call.pair.b().filter = Some(Box::new(move |pt| {
        if pt != 110 {
            return false;
        }
        count.set(count.get() + 1);
        [1, 6, 7, 14, 15].contains(&count.get())
    }));
    let now = call.pair.net.now();
    call.pair
        .a()
        .pc
        .insert_dtmf(
            now,
            audio,
            "123",
            Duration::from_millis(100),
            Duration::from_millis(70),
        )
        .unwrap();
    run_with_audio(&mut call, 1000);
    // Five packets a tone: first, one update, three ends.
    assert_eq!(seen.get(), 15, "telephone events on payload type 110");
    assert_eq!(received_tones(&call.pair.b().events), vec!['1', '2', '3']);
    // The stream's statistics count from its first packet received (RFC
    // 3550 A.3): the very first one, lost, is not known as lost.
    assert_eq!(inbound(&call.pair.b().pc, "audio").packets_lost, 4);
    assert_eq!(
        tone_changes(&call.pair.a().events, audio),
        vec!["1", "2", "3", ""]
    );
    // And again, with the same transceiver, later.
    let now = call.pair.net.now();
    call.pair
        .a()
        .pc
        .insert_dtmf(
            now,
            audio,
            "*",
            Duration::from_millis(100),
            Duration::from_millis(70),
        )
        .unwrap();
    run_with_audio(&mut call, 500);
    assert_eq!(
        received_tones(&call.pair.b().events),
        vec!['1', '2', '3', '*']
    );
}

#[test]
fn insert_dtmf_refuses_bad_tones_and_senders_that_cannot_send_dtmf() {
    let mut call = call(13, LinkConfig::IDEAL.with_delay(Duration::from_millis(10)));
    let (audio, video) = (call.audio, call.video);
    let now = call.pair.net.now();
    let ms = Duration::from_millis;
    let a = call.pair.a();
    a.pc.insert_dtmf(now, audio, "9", ms(6000), ms(30)).unwrap();
    // A character that is not a tone: the W3C InvalidCharacterError; the
    // buffer is unchanged.
    let err =
        a.pc.insert_dtmf(now, audio, "12x4", ms(100), ms(70))
            .unwrap_err();
    assert_eq!(err.name(), "InvalidCharacterError", "{err}");
    assert!(matches!(
        err.cause::<ferrtc_core::MediaError>(),
        Some(ferrtc_core::MediaError::Dtmf(
            ferrtc_rtp::dtmf::DtmfError::InvalidCharacterError {
                character: 'x',
                position: 2
            }
        ))
    ));
    assert_eq!(a.pc.dtmf_tone_buffer(audio).unwrap(), "");
    // Video has no RTCDTMFSender.
    assert!(!a.pc.can_insert_dtmf(video).unwrap());
    let err =
        a.pc.insert_dtmf(now, video, "1", ms(100), ms(70))
            .unwrap_err();
    assert_eq!(err.name(), "InvalidStateError");

    // b answered without tracks: its audio transceiver is recvonly.
    let b = call.pair.b();
    let b_audio =
        b.pc.transceivers()
            .iter()
            .find(|t| t.mid.as_deref() == Some(call.audio_mid.as_str()))
            .unwrap()
            .id;
    assert!(!b.pc.can_insert_dtmf(b_audio).unwrap());
    let err =
        b.pc.insert_dtmf(now, b_audio, "1", ms(100), ms(70))
            .unwrap_err();
    assert_eq!(err.name(), "InvalidStateError");
    // A track on it makes its direction sendrecv, but until that is
    // negotiated its currentDirection still does not send.
    let reused =
        b.pc.add_track(TrackInfo {
            id: "mic2".into(),
            kind: MediaKind::Audio,
            stream_ids: vec![],
        })
        .unwrap();
    assert_eq!(reused, b_audio);
    assert_dtmf_refused(&mut b.pc, now, reused, "1");
    // Never negotiated: no currentDirection.
    let fresh =
        b.pc.add_transceiver(MediaKind::Audio, Default::default())
            .unwrap();
    assert_dtmf_refused(&mut b.pc, now, fresh, "1");

    // Stopped.
    let a = call.pair.a();
    a.pc.stop_transceiver(audio).unwrap();
    assert_dtmf_refused(&mut a.pc, now, audio, "1");
}

/// W3C webrtc-pc §7.2 "determine if DTMF can be sent", step 7: a sender
/// whose first encoding is inactive cannot send DTMF (`canInsertDTMF`
/// false, `insertDTMF` an `InvalidStateError`), and tones inserted before
/// it went inactive put no telephone-event packet on the wire: an
/// inactive encoding sends no RTP at all (§5.2 `active`).
#[test]
fn an_inactive_encoding_cannot_insert_dtmf_and_sends_no_telephone_events() {
    let mut call = call(16, LinkConfig::IDEAL.with_delay(Duration::from_millis(10)));
    let audio = call.audio;
    let ms = Duration::from_millis;
    // telephone-event/48000 is payload type 110: count what b receives.
    let events = std::rc::Rc::new(std::cell::Cell::new(0));
    let count = events.clone();
    call.pair.b().filter = Some(Box::new(move |pt| {
        if pt == 110 {
            count.set(count.get() + 1);
        }
        false
    }));
    let now = call.pair.net.now();
    let a = call.pair.a();
    a.pc.insert_dtmf(now, audio, "123", ms(100), ms(70))
        .unwrap();
    a.pc.set_stream_active(audio, false).unwrap();
    assert_dtmf_refused(&mut a.pc, now, audio, "4");
    call.pair.run(Duration::from_secs(1));
    // Only the first packet of '1', queued by the insert itself, left.
    assert_eq!(events.get(), 1, "telephone events on an inactive stream");
    assert_eq!(received_tones(&call.pair.b().events), vec!['1']);
    // Active again: DTMF can be sent.
    let now = call.pair.net.now();
    let a = call.pair.a();
    a.pc.set_stream_active(audio, true).unwrap();
    assert!(a.pc.can_insert_dtmf(audio).unwrap());
    a.pc.insert_dtmf(now, audio, "9", ms(100), ms(70)).unwrap();
    call.pair.run(Duration::from_secs(1));
    assert_eq!(received_tones(&call.pair.b().events), vec!['1', '9']);
}

/// W3C webrtc-pc §7.2: DTMF cannot be sent on `t`: `canInsertDTMF` is
/// false and `insertDTMF` an `InvalidStateError`.
fn assert_dtmf_refused(pc: &mut PeerConnection, now: Instant, t: TransceiverId, tones: &str) {
    assert!(!pc.can_insert_dtmf(t).unwrap());
    let ms = Duration::from_millis;
    let err = pc.insert_dtmf(now, t, tones, ms(100), ms(70)).unwrap_err();
    assert_eq!(err.name(), "InvalidStateError", "{err}");
}

/// W3C webrtc-pc §7.2 "determine if DTMF can be sent", step 5: a sender
/// without a track (`replaceTrack(null)`) cannot send DTMF:
/// `canInsertDTMF` is false and `insertDTMF` an `InvalidStateError`.
#[test]
fn a_sender_without_a_track_cannot_insert_dtmf() {
    let mut call = call(17, LinkConfig::IDEAL.with_delay(Duration::from_millis(10)));
    let audio = call.audio;
    let ms = Duration::from_millis;
    let now = call.pair.net.now();
    let a = call.pair.a();
    assert!(a.pc.can_insert_dtmf(audio).unwrap());
    a.pc.replace_track(audio, None).unwrap();
    assert_dtmf_refused(&mut a.pc, now, audio, "1");
    a.pc.replace_track(audio, Some("mic".into())).unwrap();
    assert!(a.pc.can_insert_dtmf(audio).unwrap());
    a.pc.insert_dtmf(now, audio, "1", ms(100), ms(70)).unwrap();
}

/// W3C webrtc-pc §7.2 "determine if DTMF can be sent", step 4: only a
/// `connected` connection can send DTMF. Once the peer is gone (its
/// consent lapses: `disconnected`, then `failed`), `canInsertDTMF` is
/// false and `insertDTMF` an `InvalidStateError`, though SRTP stays keyed.
#[test]
fn dtmf_cannot_be_inserted_once_the_connection_is_no_longer_connected() {
    let mut call = call(18, LinkConfig::IDEAL.with_delay(Duration::from_millis(10)));
    let audio = call.audio;
    assert!(call.pair.a().pc.can_insert_dtmf(audio).unwrap());
    let now = call.pair.net.now();
    call.pair.b().pc.close(now);
    assert!(call.pair.run_until(Duration::from_secs(60), |p| {
        p.a().pc.connection_state() == PeerConnectionState::Disconnected
    }));
    let now = call.pair.net.now();
    assert_dtmf_refused(&mut call.pair.a().pc, now, audio, "1");
    assert!(call.pair.run_until(Duration::from_secs(60), |p| {
        p.a().pc.connection_state() == PeerConnectionState::Failed
    }));
    let now = call.pair.net.now();
    assert_dtmf_refused(&mut call.pair.a().pc, now, audio, "1");
}

#[test]
fn without_a_negotiated_telephone_event_dtmf_cannot_be_inserted() {
    let mut pair = Pair::new(14, LinkConfig::IDEAL.with_delay(Duration::from_millis(10)));
    let a = pair.a();
    let audio =
        a.pc.add_track(TrackInfo {
            id: "mic".into(),
            kind: MediaKind::Audio,
            stream_ids: vec![],
        })
        .unwrap();
    let opus: Vec<_> = PeerConnection::codec_capabilities(&MediaKind::Audio)
        .into_iter()
        .filter(|c| c.name == "opus")
        .collect();
    a.pc.set_codec_preferences(audio, opus).unwrap();
    pair.negotiate();
    let answer = pair.a().pc.current_remote_description().unwrap().sdp;
    assert!(!answer.contains("telephone-event"), "{answer}");
    let now = pair.net.now();
    let a = pair.a();
    assert!(!a.pc.can_insert_dtmf(audio).unwrap());
    let err =
        a.pc.insert_dtmf(
            now,
            audio,
            "1",
            Duration::from_millis(100),
            Duration::from_millis(70),
        )
        .unwrap_err();
    assert_eq!(err.name(), "InvalidStateError", "{err}");
}

#[test]
fn dtmf_durations_are_clamped_to_40_ms_and_gaps_to_30_ms() {
    let mut call = call(15, LinkConfig::IDEAL.with_delay(Duration::from_millis(10)));
    let audio = call.audio;
    let now = call.pair.net.now();
    let start = now;
    call.pair
        .a()
        .pc
        .insert_dtmf(now, audio, "12", Duration::ZERO, Duration::ZERO)
        .unwrap();
    // The drive contract: one pass leaves nothing due, and the DTMF timer
    // (the first update, 40 ms at the latest) is in poll_timeout.
    let mut changes = Vec::new();
    let a = call.pair.a();
    let mut buf = Vec::new();
    let mut sent = 0;
    while a.pc.poll_transmit(now, &mut buf).is_some() {
        sent += 1;
    }
    assert!(sent >= 1, "the first telephone-event packet leaves at once");
    while let Some(e) = a.pc.poll_event() {
        if let Event::DtmfToneChange { tone, .. } = e {
            changes.push((tone, Duration::ZERO));
        }
    }
    let next = a.pc.poll_timeout().expect("a timer");
    assert!(
        next > now && next <= now + Duration::from_millis(40),
        "{:?}",
        next - now
    );
    for _ in 0..200 {
        call.pair.net.run_for(Duration::from_millis(1));
        let t = call.pair.net.now() - start;
        let a = call.pair.a();
        while let Some(e) = a.pc.poll_event() {
            if let Event::DtmfToneChange { tone, .. } = e {
                changes.push((tone, t));
            }
        }
    }
    let tones: Vec<_> = changes.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(tones, vec!["1", "2", ""], "{changes:?}");
    // "1" fired inside insert_dtmf; "2" after a 40 ms tone and a 30 ms
    // gap, the end after as long again.
    let (second, end) = (changes[1].1, changes[2].1);
    assert!(
        (Duration::from_millis(70)..Duration::from_millis(72)).contains(&second),
        "{second:?}"
    );
    assert!(
        (Duration::from_millis(140)..Duration::from_millis(142)).contains(&end),
        "{end:?}"
    );
}

/// The stats object with `id`, of the type `pick` extracts.
fn by_id<T: Clone>(
    report: &ferrtc_core::StatsReport,
    id: &str,
    pick: impl Fn(&Stats) -> Option<&T>,
) -> T {
    report
        .stats
        .get(id)
        .and_then(pick)
        .cloned()
        .unwrap_or_else(|| panic!("no {id} in {}", report.to_json()))
}

#[test]
fn stats_link_codecs_media_sources_and_remote_outbound_rtp_as_browsers_do() {
    let mut call = call(16, LinkConfig::IDEAL.with_delay(Duration::from_millis(10)));
    stream(&mut call, 60, |_, _| false);

    let a = call.pair.a();
    let report = a.pc.get_stats(SystemTime::now());
    fn codec(s: &Stats) -> Option<&ferrtc_core::CodecStats> {
        match s {
            Stats::Codec(c) => Some(c),
            _ => None,
        }
    }
    fn source(s: &Stats) -> Option<&ferrtc_core::MediaSourceStats> {
        match s {
            Stats::MediaSource(m) => Some(m),
            _ => None,
        }
    }
    fn remote_outbound(s: &Stats) -> Option<&ferrtc_core::RemoteOutboundRtpStats> {
        match s {
            Stats::RemoteOutboundRtp(r) => Some(r),
            _ => None,
        }
    }
    let v_out = outbound(&a.pc, "video");
    let vp8 = by_id(&report, v_out.codec_id.as_deref().unwrap(), codec);
    assert_eq!(vp8.id, "COT01_96");
    assert_eq!(
        (vp8.payload_type, vp8.mime_type.as_str(), vp8.clock_rate),
        (96, "video/VP8", 90000)
    );
    assert_eq!((vp8.channels, vp8.sdp_fmtp_line.clone()), (None, None));
    assert_eq!(vp8.transport_id, v_out.transport_id);
    let a_out = outbound(&a.pc, "audio");
    let opus = by_id(&report, a_out.codec_id.as_deref().unwrap(), codec);
    assert_eq!(opus.id, "COT01_111_minptime=10;useinbandfec=1");
    assert_eq!(
        (
            opus.payload_type,
            opus.mime_type.as_str(),
            opus.clock_rate,
            opus.channels
        ),
        (111, "audio/opus", 48000, Some(2))
    );
    assert_eq!(
        opus.sdp_fmtp_line.as_deref(),
        Some("minptime=10;useinbandfec=1")
    );
    // Only codecs in use: no telephone-event, no RTX, no other video codec.
    let codecs = report
        .stats
        .values()
        .filter(|s| matches!(s, Stats::Codec(_)))
        .count();
    assert_eq!(codecs, 2, "{}", report.to_json());

    let camera = by_id(&report, v_out.media_source_id.as_deref().unwrap(), source);
    assert_eq!(
        (camera.track_identifier.as_str(), camera.kind, camera.frames),
        ("camera", "video", Some(60))
    );
    let mic = by_id(&report, a_out.media_source_id.as_deref().unwrap(), source);
    assert_eq!((mic.track_identifier.as_str(), mic.kind), ("mic", "audio"));
    let seconds = mic.total_samples_duration.unwrap();
    assert!((seconds - 1.2).abs() < 1e-9, "{seconds}");
    assert_eq!(mic.frames, None);

    let b = call.pair.b();
    let report = b.pc.get_stats(SystemTime::now());
    let v_in = inbound(&b.pc, "video");
    assert_eq!(v_in.codec_id.as_deref(), Some("CIT01_96"));
    by_id(&report, "CIT01_96", codec);
    assert_eq!(v_in.frames_decoded, 60);
    assert_eq!(v_in.frames_decoded, v_in.frames_received);
    assert_eq!(v_in.key_frames_decoded, 2, "frames 0 and 30");
    let remote = by_id(&report, v_in.remote_id.as_deref().unwrap(), remote_outbound);
    assert_eq!(remote.local_id, v_in.id);
    assert_eq!(remote.ssrc, v_in.ssrc);
    assert_eq!(remote.codec_id, v_in.codec_id);
    assert_eq!(remote.kind, "video");
    // The last sender report came after the last frame.
    assert_eq!(remote.packets_sent, v_out.packets_sent);
    assert_eq!(remote.bytes_sent, v_out.bytes_sent);
    assert!(remote.reports_sent >= 2, "{remote:?}");
    let now_ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1000.0;
    assert!(
        (remote.remote_timestamp - now_ms).abs() < 60_000.0,
        "{remote:?}"
    );
    let json = report.to_json();
    for field in [
        "\"type\":\"codec\"",
        "\"type\":\"remote-outbound-rtp\"",
        "\"remoteTimestamp\"",
        "\"reportsSent\"",
        "\"remoteId\"",
        "\"codecId\"",
        "\"framesDecoded\"",
        "\"keyFramesDecoded\"",
        "\"mimeType\":\"audio/opus\"",
        "\"sdpFmtpLine\"",
    ] {
        assert!(json.contains(field), "{field} in {json}");
    }
    let json = call.pair.a().pc.get_stats(SystemTime::now()).to_json();
    for field in [
        "\"type\":\"media-source\"",
        "\"trackIdentifier\":\"mic\"",
        "\"totalSamplesDuration\"",
        "\"mediaSourceId\"",
    ] {
        assert!(json.contains(field), "{field} in {json}");
    }
}

#[test]
fn the_rtp_clock_keeps_the_pace_of_durations_that_are_not_whole_ticks() {
    let mut call = call(9, LinkConfig::IDEAL.with_delay(Duration::from_millis(5)));
    let video = call.video;
    // 30 fps: 33.333333 ms a frame, 2999.99997 ticks of the 90 kHz clock.
    let frame = Duration::from_nanos(33_333_333);
    for i in 0..31 {
        let now = call.pair.net.now();
        let (f, key) = vp8_frame(i);
        call.pair
            .a()
            .pc
            .write_frame(now, video, &f, frame, key)
            .unwrap();
        call.pair.run(frame);
    }
    call.pair.run(Duration::from_millis(500));
    let stamps: Vec<u32> = call
        .pair
        .b()
        .events
        .iter()
        .filter_map(|e| match e {
            Event::TrackFrame {
                mid, rtp_timestamp, ..
            } if *mid == call.video_mid => Some(*rtp_timestamp),
            _ => None,
        })
        .collect();
    assert_eq!(stamps.len(), 31);
    let steps: Vec<u32> = stamps.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
    assert!(steps.iter().all(|s| *s == 2999 || *s == 3000), "{steps:?}");
    // One second of frames is one second of clock, less the last fraction
    // of a tick; truncating each frame would lose 30 ticks.
    assert_eq!(stamps[30].wrapping_sub(stamps[0]), 89_999, "{steps:?}");
}

/// The one-way delay of `LinkConfig::IDEAL.with_delay(10 ms)`: the
/// sender's and the receiver's access links.
const ONE_WAY: Duration = Duration::from_millis(20);

/// b's receiver of what a sends as audio or video (from b's `track`
/// events).
fn receiver_of(call: &mut Call, audio: bool) -> TransceiverId {
    let want_mid = if audio {
        call.audio_mid.clone()
    } else {
        call.video_mid.clone()
    };
    call.pair
        .b()
        .events
        .iter()
        .find_map(|e| match e {
            Event::Track {
                transceiver, mid, ..
            } if *mid == want_mid => Some(*transceiver),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no track event for mid {want_mid}"))
}

fn sender_ssrc(pc: &PeerConnection, id: TransceiverId) -> u32 {
    pc.transceivers()
        .iter()
        .find(|t| t.id == id)
        .and_then(|t| t.sender_ssrc)
        .expect("the sender has an SSRC")
}

#[test]
fn synchronization_sources_name_the_stream_with_its_last_rtp_time_and_fade_after_ten_seconds() {
    let before = SystemTime::now();
    let mut call = call(31, LinkConfig::IDEAL.with_delay(Duration::from_millis(10)));
    let after = SystemTime::now();
    let start = call.pair.net.start();
    let audio_rx = receiver_of(&mut call, true);
    let video_rx = receiver_of(&mut call, false);
    let (audio, video) = (call.audio, call.video);
    let now = call.pair.net.now();
    assert!(
        call.pair
            .b()
            .pc
            .synchronization_sources(now, audio_rx)
            .unwrap()
            .is_empty(),
        "nothing received yet"
    );
    // Ten audio frames 20 ms apart, then a video keyframe 300 ms later.
    let mut last_audio = 0;
    let mut audio_sent_at = now;
    for i in 0..10 {
        audio_sent_at = call.pair.net.now();
        last_audio = call
            .pair
            .a()
            .pc
            .write_frame(
                audio_sent_at,
                audio,
                opus_frame(i),
                Duration::from_millis(20),
                false,
            )
            .unwrap();
        call.pair.run(Duration::from_millis(20));
    }
    call.pair.run(Duration::from_millis(280));
    let video_sent_at = call.pair.net.now();
    assert_eq!(video_sent_at - audio_sent_at, Duration::from_millis(300));
    let (key, _) = vp8_frame(0);
    let last_video = call
        .pair
        .a()
        .pc
        .write_frame(video_sent_at, video, &key, Duration::from_millis(33), true)
        .unwrap();
    call.pair.run(Duration::from_millis(200));

    let now = call.pair.net.now();
    let a_audio_ssrc = sender_ssrc(&call.pair.a().pc, audio);
    let a_video_ssrc = sender_ssrc(&call.pair.a().pc, video);
    let b = &call.pair.b().pc;
    let sa = b.synchronization_sources(now, audio_rx).unwrap();
    let sv = b.synchronization_sources(now, video_rx).unwrap();
    assert_eq!(sa.len(), 1, "{sa:?}");
    assert_eq!(sv.len(), 1, "{sv:?}");
    assert_eq!(sa[0].source, a_audio_ssrc);
    assert_eq!(sv[0].source, a_video_ssrc);
    assert_eq!(sa[0].rtp_timestamp, last_audio, "the last frame's RTP time");
    assert_eq!(sv[0].rtp_timestamp, last_video);
    // The same link delay: the wall-clock times are 300 ms apart, as the
    // writes were.
    assert_eq!(
        sv[0].timestamp.duration_since(sa[0].timestamp).unwrap(),
        Duration::from_millis(300)
    );
    // b's wall clock started between `before` and `after` at `start`; the
    // last audio packet arrived one way later than it was written.
    let arrived = audio_sent_at + ONE_WAY - start;
    assert!(sa[0].timestamp >= before + arrived, "{sa:?}");
    assert!(
        sa[0].timestamp <= after + arrived + Duration::from_millis(5),
        "{sa:?}"
    );
    // ferrtc's sender writes no RFC 6464 level; video never has one.
    assert_eq!(sa[0].audio_level, None);
    assert_eq!(sv[0].audio_level, None);
    assert!(b.contributing_sources(now, audio_rx).unwrap().is_empty());

    // W3C webrtc-pc §5.3.1: ten seconds after its last packet, a source is
    // gone; the video one, 300 ms younger, outlives the audio one.
    let audio_arrival = audio_sent_at + ONE_WAY;
    let at = audio_arrival + Duration::from_secs(10);
    assert_eq!(b.synchronization_sources(at, audio_rx).unwrap().len(), 1);
    // (The link's serialisation adds a few microseconds to the arrival.)
    let past = at + Duration::from_millis(1);
    assert!(
        b.synchronization_sources(past, audio_rx)
            .unwrap()
            .is_empty()
    );
    assert_eq!(b.synchronization_sources(past, video_rx).unwrap().len(), 1);
    let later = past + Duration::from_millis(300);
    assert!(
        b.synchronization_sources(later, video_rx)
            .unwrap()
            .is_empty()
    );
    // Run the network past that too: the connection stays up, the tables
    // stay empty.
    call.pair.run(Duration::from_secs(11));
    let now = call.pair.net.now();
    let b = &call.pair.b().pc;
    assert!(b.synchronization_sources(now, audio_rx).unwrap().is_empty());
    assert!(b.synchronization_sources(now, video_rx).unwrap().is_empty());
}

#[test]
fn a_jitter_buffer_target_holds_frames_that_long_after_arrival_and_refuses_over_4000_ms() {
    let mut call = call(32, LinkConfig::IDEAL.with_delay(Duration::from_millis(10)));
    let audio_rx = receiver_of(&mut call, true);
    let video_rx = receiver_of(&mut call, false);
    let now = call.pair.net.now();
    let b = &mut call.pair.b().pc;
    assert_eq!(b.jitter_buffer_target(video_rx).unwrap(), None);
    let err = b
        .set_jitter_buffer_target(now, video_rx, Some(Duration::from_millis(4001)))
        .unwrap_err();
    assert_eq!(err.name(), "RangeError", "{err}");
    assert_eq!(b.jitter_buffer_target(video_rx).unwrap(), None, "unchanged");
    b.set_jitter_buffer_target(now, video_rx, Some(Duration::from_millis(4000)))
        .unwrap();
    assert_eq!(
        b.jitter_buffer_target(video_rx).unwrap(),
        Some(Duration::from_millis(4000))
    );
    let target = Duration::from_millis(300);
    b.set_jitter_buffer_target(now, video_rx, Some(target))
        .unwrap();
    assert_eq!(b.jitter_buffer_target(audio_rx).unwrap(), None);

    // One video and one audio frame every 20 ms for 200 ms; watch when
    // each frame comes out on b, in 5 ms steps.
    let (video_mid, audio_mid) = (call.video_mid.clone(), call.audio_mid.clone());
    let start = call.pair.net.now();
    let mut written = Vec::new();
    let mut seen: Vec<(Duration, String, u32)> = Vec::new();
    let mut from = call.pair.b().events.len();
    for step in 0..120 {
        let now = call.pair.net.now();
        if step % 4 == 0 && step < 40 {
            let i = step / 4;
            let (f, key) = vp8_frame(i);
            let a = &mut call.pair.a().pc;
            let ts = a
                .write_frame(now, call.video, &f, Duration::from_millis(20), key)
                .unwrap();
            a.write_frame(
                now,
                call.audio,
                opus_frame(i),
                Duration::from_millis(20),
                false,
            )
            .unwrap();
            written.push((now - start, ts));
        }
        call.pair.run(Duration::from_millis(5));
        let at = call.pair.net.now() - start;
        let events = &call.pair.b().events;
        for e in &events[from..] {
            if let Event::TrackFrame {
                mid, rtp_timestamp, ..
            } = e
            {
                seen.push((at, mid.clone(), *rtp_timestamp));
            }
        }
        from = events.len();
    }
    let video: Vec<_> = seen.iter().filter(|s| s.1 == video_mid).collect();
    let audio: Vec<_> = seen.iter().filter(|s| s.1 == audio_mid).collect();
    assert_eq!(video.len(), written.len(), "every video frame came out");
    assert_eq!(audio.len(), written.len(), "every audio frame came out");
    for ((sent, ts), (out, _, got)) in written.iter().zip(&video) {
        assert_eq!(ts, got);
        // The first packet arrives 20 ms after the write (two access links
        // of 10 ms): held until 300 ms after that, seen by the end of the
        // 5 ms step it left in.
        let release = *sent + ONE_WAY + target;
        assert!(
            *out >= release,
            "frame {ts} out at {out:?}, before {release:?}"
        );
        assert!(
            *out <= release + Duration::from_millis(5),
            "frame {ts} out at {out:?}, held past {release:?}"
        );
    }
    // Audio has no target: out within its 20 ms start delay and the link's.
    for ((sent, _), (out, _, _)) in written.iter().zip(&audio) {
        assert!(*out < *sent + Duration::from_millis(50), "audio at {out:?}");
    }
    let stats = inbound(&call.pair.b().pc, "video");
    let emitted = stats.jitter_buffer_emitted_count.unwrap();
    assert_eq!(emitted, written.len() as u64);
    let held = stats.jitter_buffer_delay.unwrap();
    assert!(held >= 0.3 * emitted as f64, "{held}");
    assert!(held <= 0.31 * emitted as f64, "{held}");
    let targets = stats.jitter_buffer_target_delay.unwrap();
    assert!((targets - 0.3 * emitted as f64).abs() < 1e-9, "{targets}");
    let audio_stats = inbound(&call.pair.b().pc, "audio");
    assert_eq!(
        audio_stats.jitter_buffer_delay, None,
        "not counted in samples"
    );
}

#[test]
fn a_jitter_buffer_target_can_be_set_before_negotiation_and_is_kept() {
    let now = Instant::now();
    let mut pc = PeerConnection::new(Config::default(), now, SystemTime::now()).unwrap();
    let t = pc
        .add_transceiver(MediaKind::Audio, Default::default())
        .unwrap();
    assert!(pc.synchronization_sources(now, t).unwrap().is_empty());
    assert!(pc.contributing_sources(now, t).unwrap().is_empty());
    assert_eq!(pc.jitter_buffer_target(t).unwrap(), None);
    pc.set_jitter_buffer_target(now, t, Some(Duration::from_millis(80)))
        .unwrap();
    assert_eq!(
        pc.jitter_buffer_target(t).unwrap(),
        Some(Duration::from_millis(80))
    );
    let err = pc
        .set_jitter_buffer_target(now, t, Some(Duration::from_secs(5)))
        .unwrap_err();
    assert_eq!(err.name(), "RangeError");
    assert_eq!(
        pc.jitter_buffer_target(t).unwrap(),
        Some(Duration::from_millis(80))
    );
    // The offer negotiates nothing yet; the target stays.
    let offer = pc.create_offer().unwrap();
    pc.set_local_description(now, Some(offer)).unwrap();
    assert_eq!(
        pc.jitter_buffer_target(t).unwrap(),
        Some(Duration::from_millis(80))
    );
    pc.set_jitter_buffer_target(now, t, None).unwrap();
    assert_eq!(pc.jitter_buffer_target(t).unwrap(), None);
}

fn available_outgoing_bitrate(pc: &PeerConnection) -> Option<f64> {
    pc.get_stats(SystemTime::now())
        .stats
        .values()
        .find_map(|s| match s {
            Stats::CandidatePair(p) => Some(p.available_outgoing_bitrate),
            _ => None,
        })
        .flatten()
}

#[test]
fn transport_cc_feedback_drives_the_available_outgoing_bitrate_of_the_candidate_pair() {
    let link = LinkConfig::IDEAL.with_delay(Duration::from_millis(10));
    let mut call = call(11, link);
    let start = available_outgoing_bitrate(&call.pair.a().pc);
    assert_eq!(start, Some(300_000.0), "the start estimate before feedback");
    stream(&mut call, 150, |_, _| false);
    let a = call.pair.a();
    let grown = available_outgoing_bitrate(&a.pc).unwrap();
    let json = a.pc.get_stats(SystemTime::now()).to_json();
    assert!(json.contains("\"availableOutgoingBitrate\""), "{json}");
    // b's feedback on a's packets reached a's estimator: with no
    // congestion the estimate grows from its start.
    assert!(grown > 300_000.0, "{grown}");
    assert_eq!(a.pc.available_outgoing_bitrate(), Some(grown as u64));
    let announced: Vec<u64> = a
        .events
        .iter()
        .filter_map(|e| match e {
            Event::AvailableOutgoingBitrate { bitrate } => Some(*bitrate),
            _ => None,
        })
        .collect();
    println!("availableOutgoingBitrate events: {announced:?}, now {grown}");
    let last = *announced.last().expect("an event as the estimate moved");
    assert!(
        last.abs_diff(grown as u64) * 10 < last,
        "the last event is within 10 % of now"
    );
    assert!(
        announced
            .windows(2)
            .all(|w| w[0].abs_diff(w[1]) * 10 >= w[0]),
        "each event moved 10 % from the one before"
    );
    // Every sender with a maxBitrate: their sum caps the estimate.
    let (video, audio) = (call.video, call.audio);
    a.pc.set_max_bitrate(video, Some(150_000)).unwrap();
    let one = available_outgoing_bitrate(&a.pc).unwrap();
    assert!(one > 200_000.0, "one sender uncapped: {one} (was {grown})");
    a.pc.set_max_bitrate(audio, Some(50_000)).unwrap();
    assert_eq!(available_outgoing_bitrate(&a.pc), Some(200_000.0));
    // Uncapped again, the estimate grows back with feedback.
    a.pc.set_max_bitrate(video, None).unwrap();
    stream(&mut call, 100, |_, _| false);
    let again = available_outgoing_bitrate(&call.pair.a().pc).unwrap();
    assert!(again > 200_000.0, "{again}");
}

#[test]
fn when_feedback_stops_the_lower_estimate_reaches_the_pacer_and_the_application() {
    let link = LinkConfig::IDEAL.with_delay(Duration::from_millis(10));
    let mut call = call_with(15, link, true);
    stream(&mut call, 100, |_, _| false);
    let before = available_outgoing_bitrate(&call.pair.a().pc).unwrap();
    // Nothing b sends reaches a any more: no feedback while a sends.
    let b = call.pair.b;
    call.pair.net.set_host_link(
        &b,
        ferrtc_sim::Link::new(LinkConfig::IDEAL.with_loss(1.0), link),
    );
    let (video, audio) = (call.video, call.audio);
    for i in 100..500 {
        let now = call.pair.net.now();
        let (f, key) = vp8_frame(i);
        let a = call.pair.a();
        // The pacer may refuse frames once it falls behind: fine here.
        let _ =
            a.pc.write_frame(now, video, &f, Duration::from_millis(20), key);
        let _ =
            a.pc.write_frame(now, audio, opus_frame(i), Duration::from_millis(20), false);
        call.pair.run(Duration::from_millis(20));
    }
    let last_second = call.pair.net.now() - Duration::from_secs(1);
    let a = call.pair.a();
    let after = available_outgoing_bitrate(&a.pc).unwrap();
    let announced = a
        .events
        .iter()
        .rev()
        .find_map(|e| match e {
            Event::AvailableOutgoingBitrate { bitrate } => Some(*bitrate as f64),
            _ => None,
        })
        .unwrap();
    let recent: Vec<(Instant, usize)> = a
        .sent_rtp
        .iter()
        .copied()
        .filter(|(t, _)| *t >= last_second)
        .collect();
    let burst = largest_5_ms_burst(&recent);
    let frame = vp8_frame(499).0.len();
    println!(
        "estimate {before:.0} -> {after:.0} bit/s after 8 s without feedback; \
         last event {announced:.0}; largest 5 ms of RTP in the last second {burst} bytes \
         (frames of {frame})"
    );
    assert!(after < before / 32.0, "{before} -> {after}");
    // The application was told (within the events' 10 % step).
    assert!(
        (announced - after).abs() * 10.0 <= announced,
        "{announced} vs {after}"
    );
    // The pacer follows too: the frames written, more than the estimate
    // lets through, queue and leave spread out (the queue drains within
    // its time limit), not each in one burst at the rate before.
    assert!(burst < frame, "{burst} bytes within 5 ms");
}

#[test]
fn a_bottleneck_the_sender_overruns_brings_the_estimate_below_the_link_rate() {
    // a's sends cross a 300 kbit/s bottleneck (its up-link) with a small
    // queue: the video written (about 450 kbit/s, whatever the estimate
    // says: this test application does not adapt) overflows it.
    let mut call = call(12, LinkConfig::IDEAL.with_delay(Duration::from_millis(10)));
    let a = call.pair.a;
    let slow = LinkConfig::IDEAL
        .with_delay(Duration::from_millis(10))
        .with_rate(37_500, 15_000);
    call.pair.net.set_host_link(
        &a,
        ferrtc_sim::Link::new(
            slow,
            LinkConfig::IDEAL.with_delay(Duration::from_millis(10)),
        ),
    );
    stream(&mut call, 250, |_, _| false);
    let estimate = available_outgoing_bitrate(&call.pair.a().pc).unwrap();
    println!("estimate behind a 300 kbit/s bottleneck: {estimate:.0} bit/s");
    assert!(estimate < 300_000.0, "{estimate}");
}

/// The most RTP bytes sent within any 5 ms.
fn largest_5_ms_burst(sent: &[(Instant, usize)]) -> usize {
    (0..sent.len())
        .map(|i| {
            sent[i..]
                .iter()
                .take_while(|(t, _)| *t < sent[i].0 + Duration::from_millis(5))
                .map(|(_, b)| b)
                .sum()
        })
        .max()
        .unwrap_or(0)
}

/// a's video: `n` frames 20 ms apart, a 30 KB keyframe every 25; returns
/// the frames written.
fn keyframe_stream(call: &mut Call, n: usize) -> Vec<(Vec<u8>, bool)> {
    let mut written = Vec::new();
    for i in 0..n {
        let now = call.pair.net.now();
        let key = i % 25 == 0;
        let (mut f, _) = vp8_frame_as(i, key);
        if key {
            f.resize(30_000, 7);
        }
        let video = call.video;
        call.pair
            .a()
            .pc
            .write_frame(now, video, &f, Duration::from_millis(20), key)
            .unwrap();
        written.push((f, key));
        call.pair.run(Duration::from_millis(20));
    }
    call.pair.run(Duration::from_secs(1));
    written
}

#[test]
fn with_pacing_keyframes_leave_spread_over_time_and_arrive_whole() {
    let run = |pacing: bool| {
        // A 2 Mbit/s path: the estimate (so the pacing rate) finds it.
        let link = LinkConfig::IDEAL
            .with_delay(Duration::from_millis(10))
            .with_rate(250_000, 100_000);
        let mut call = call_with(13, link, pacing);
        let written = keyframe_stream(&mut call, 100);
        let vid = call.video_mid.clone();
        let got = frames(&call.pair.b().events, &vid);
        let a = call.pair.a();
        let burst = largest_5_ms_burst(&a.sent_rtp);
        let estimate = a.pc.available_outgoing_bitrate().unwrap();
        (written, got, burst, estimate)
    };
    let (written, got, unpaced, _) = run(false);
    assert_eq!(got, written);
    let (written, got, paced, estimate) = run(true);
    println!(
        "largest 5 ms of RTP: {unpaced} bytes unpaced, {paced} bytes paced (estimate {estimate} bit/s)"
    );
    assert_eq!(got, written, "paced frames arrive whole and in order");
    // A 30 KB keyframe leaves in one instant unpaced; paced, a 5 ms
    // burst holds at most twice 5 ms at 2.5 x the estimate, and a packet;
    // the estimate stays within the path's 2 Mbit/s and 15 %.
    assert!(estimate < 2_300_000, "{estimate}");
    assert!(unpaced >= 30_000, "{unpaced}");
    let allowed: f64 = 2.0 * 2.5 * 2_300_000.0 / 8.0 * 0.005 + 1500.0;
    assert!(
        (paced as f64) < allowed.min(unpaced as f64),
        "{paced} vs {allowed}"
    );
}

#[test]
fn paced_probes_are_filled_with_rtx_padding_that_the_receiver_drops() {
    let run = |pacing: bool, link: LinkConfig| {
        let mut call = call_with(14, link, pacing);
        let written = stream(&mut call, 150, |_, _| false);
        let vid = call.video_mid.clone();
        let got = frames(&call.pair.b().events, &vid);
        let estimate = available_outgoing_bitrate(&call.pair.a().pc).unwrap();
        let padding = call.pair.a().pc.media_stats().padding_packets;
        let sent = outbound(&call.pair.a().pc, "video");
        let received = inbound(&call.pair.b().pc, "video");
        (written, got, estimate, padding, sent, received)
    };
    let free = LinkConfig::IDEAL.with_delay(Duration::from_millis(10));
    let (_, _, unpaced_estimate, unpaced_padding, ..) = run(false, free);
    let (written, got, estimate, padding, sent, received) = run(true, free);
    println!(
        "estimate after 3 s: {unpaced_estimate} bit/s unpaced (probes filled with media), \
         {estimate} bit/s paced with {padding} padding packets"
    );
    assert_eq!(unpaced_padding, 0, "without a pacer nothing pads");
    assert!(padding > 0, "the start probes outgrow the media and pad");
    assert_eq!(got, written, "media arrives whole and in order");
    // Padding is not media: the receiver counts the media packets only
    // and drops the padding-only RTX packets.
    assert_eq!(received.packets_received, sent.packets_sent);
    assert!(received.packets_discarded >= padding, "{received:?}");
    assert!(
        estimate > unpaced_estimate,
        "padding probes measure beyond the media rate: {estimate} vs {unpaced_estimate}"
    );
    // On a 2 Mbit/s path the probes find its rate and do not overshoot.
    let narrow = free.with_rate(250_000, 60_000);
    let (written, got, estimate, padding, ..) = run(true, narrow);
    println!("on a 2 Mbit/s link: {estimate} bit/s with {padding} padding packets");
    assert_eq!(got, written);
    assert!(padding > 0);
    assert!((1_000_000.0..2_300_000.0).contains(&estimate), "{estimate}");
}

#[test]
fn paced_audio_overtakes_queued_video_and_transport_wide_numbers_follow_the_sending_order() {
    // 30 KB keyframes every 200 ms on a 2 Mbit/s path queue video in the
    // pacer; audio written meanwhile leaves first.
    let link = LinkConfig::IDEAL
        .with_delay(Duration::from_millis(10))
        .with_rate(250_000, 100_000);
    let mut call = call_with(15, link, true);
    let (video, audio) = (call.video, call.audio);
    let mut written = Vec::new();
    for i in 0..150 {
        let now = call.pair.net.now();
        let key = i % 10 == 0;
        let (mut f, _) = vp8_frame_as(i, key);
        if key {
            f.resize(30_000, 7);
        }
        let a = call.pair.a();
        a.pc.write_frame(now, video, &f, Duration::from_millis(20), key)
            .unwrap();
        a.pc.write_frame(now, audio, opus_frame(i), Duration::from_millis(20), false)
            .unwrap();
        written.push((f, key));
        call.pair.run(Duration::from_millis(20));
    }
    call.pair.run(Duration::from_secs(2));
    let vid = call.video_mid.clone();
    assert_eq!(frames(&call.pair.b().events, &vid), written);
    let a = call.pair.a();
    let sent = &a.sent_transport_seq;
    assert!(sent.len() > 500, "{}", sent.len());
    let out_of_order = sent
        .windows(2)
        .filter(|w| w[1].0 != w[0].0.wrapping_add(1))
        .count();
    assert_eq!(out_of_order, 0, "numbers leave in order, without gaps");
    // Audio did overtake video: some audio left between two video packets
    // (by payload type: video sent the most packets, audio the next most).
    let mut counts = std::collections::BTreeMap::<u8, usize>::new();
    for (_, pt) in sent {
        *counts.entry(*pt).or_default() += 1;
    }
    let mut by_count: Vec<(usize, u8)> = counts.into_iter().map(|(pt, n)| (n, pt)).collect();
    by_count.sort_unstable_by(|x, y| y.cmp(x));
    let (video_pt, audio_pt) = (by_count[0].1, by_count[1].1);
    let overtaken = sent
        .windows(3)
        .filter(|w| w[0].1 == video_pt && w[1].1 == audio_pt && w[2].1 == video_pt)
        .count();
    assert!(overtaken > 0, "no audio overtook queued video");
    let estimate = available_outgoing_bitrate(&a.pc).unwrap();
    println!(
        "estimate {estimate} bit/s, {} paced RTP packets, audio between video {overtaken} times",
        sent.len()
    );
    assert!(
        (1_000_000.0..2_300_000.0).contains(&estimate),
        "the estimate finds the path: {estimate}"
    );
}

#[test]
fn paced_packets_left_waiting_when_the_peer_closes_do_not_keep_the_timer_in_the_past() {
    let link = LinkConfig::IDEAL
        .with_delay(Duration::from_millis(10))
        .with_rate(250_000, 100_000);
    let mut call = call_with(16, link, true);
    let video = call.video;
    let now = call.pair.net.now();
    let (mut f, _) = vp8_frame_as(0, true);
    f.resize(200_000, 7);
    call.pair
        .a()
        .pc
        .write_frame(now, video, &f, Duration::from_millis(20), true)
        .unwrap();
    call.pair.run(Duration::from_millis(5));
    let now = call.pair.net.now();
    call.pair.b().pc.close(now);
    call.pair.run(Duration::from_millis(100));
    let now = call.pair.net.now();
    let a = call.pair.a();
    a.pc.handle_timeout(now);
    let next = a.pc.poll_timeout();
    assert!(next.is_none_or(|t| t > now), "{next:?} at {now:?}");
}

/// W3C webrtc-stats §5.3.8 (`RTCOutboundRtpStreamStats.remoteId`): once
/// the peer's receiver reports came (remote-inbound-rtp exists only then,
/// §5.3.7), an `outbound-rtp` names the `remote-inbound-rtp` of its SSRC,
/// which names it back with `localId`; so a sender's `getStats()` (the
/// stats selection algorithm, webrtc-pc §8.5: what its `outbound-rtp`
/// references) holds the round-trip time and loss the peer reported.
#[test]
fn outbound_rtp_names_its_remote_inbound_rtp_with_remote_id() {
    let mut call = call(16, LinkConfig::IDEAL.with_delay(Duration::from_millis(10)));
    let json =
        |call: &mut Call| serde_json::to_value(call.pair.a().pc.get_stats(SystemTime::now()));
    let before = json(&mut call).unwrap();
    for s in before.as_object().unwrap().values() {
        assert_ne!(s["type"], "remote-inbound-rtp", "before any report: {s}");
        assert!(s.get("remoteId").is_none(), "before any report: {s}");
    }

    stream(&mut call, 60, |_, _| false);
    let report = json(&mut call).unwrap();
    let outbound: Vec<_> = report
        .as_object()
        .unwrap()
        .values()
        .filter(|s| s["type"] == "outbound-rtp")
        .collect();
    assert_eq!(outbound.len(), 2);
    for out in outbound {
        let remote_id = out["remoteId"]
            .as_str()
            .unwrap_or_else(|| panic!("no remoteId in {out}"));
        let remote = &report[remote_id];
        assert_eq!(remote["type"], "remote-inbound-rtp", "{report}");
        assert_eq!(remote["localId"], out["id"]);
        assert_eq!(remote["ssrc"], out["ssrc"]);
        // RTCRtpStreamStats.codecId, which remote-inbound-rtp inherits:
        // the codec of the stream it reports on.
        assert!(out["codecId"].is_string(), "{out}");
        assert_eq!(remote["codecId"], out["codecId"], "{report}");
    }

    let a = &call.pair.a().pc;
    let sender = a
        .get_stats(SystemTime::now())
        .select(|s| matches!(s, Stats::OutboundRtp(o) if o.kind == "video"));
    let remote = sender
        .first_of_type("remote-inbound-rtp")
        .unwrap_or_else(|| panic!("no remote-inbound-rtp in {}", sender.to_json()));
    match remote {
        Stats::RemoteInboundRtp(r) => assert!(r.round_trip_time.is_some(), "{r:?}"),
        other => panic!("{other:?}"),
    }
}

/// W3C webrtc-stats §4 (`RTCStats.timestamp`): for statistics that came
/// from a remote source, received RTCP, the timestamp is the time the
/// information arrived, not the time of the `getStats()` call: the
/// `remote-inbound-rtp` (a receiver report, §5.3.7) and
/// `remote-outbound-rtp` (a sender report, §5.3.9) objects keep the
/// arrival time of the report they show however late the report is read,
/// while local objects take the time of the call. (A rate computed over
/// two reads, bytes over time, is over the reports' spacing.)
#[test]
fn remote_rtp_stats_are_stamped_with_the_arrival_of_their_rtcp() {
    let mut call = call(16, LinkConfig::IDEAL.with_delay(Duration::from_millis(10)));
    stream(&mut call, 30, |_, _| false);
    let later = SystemTime::now() + Duration::from_secs(3600);
    let later_ms = later
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1000.0;
    for side in [true, false] {
        let pc = if side {
            &call.pair.a().pc
        } else {
            &call.pair.b().pc
        };
        let first = pc.get_stats(later);
        let second = pc.get_stats(later + Duration::from_secs(10));
        let mut remote = 0;
        for (id, s) in &first.stats {
            let json = serde_json::to_value(s).unwrap();
            let stamp = json["timestamp"].as_f64().unwrap();
            let again = serde_json::to_value(&second.stats[id]).unwrap()["timestamp"]
                .as_f64()
                .unwrap();
            if matches!(s, Stats::RemoteInboundRtp(_) | Stats::RemoteOutboundRtp(_)) {
                remote += 1;
                assert!(stamp < later_ms - 1000.0 * 1800.0, "{json}");
                assert_eq!(stamp, again, "{json}");
            } else {
                assert_eq!(stamp, later_ms, "{json}");
            }
        }
        assert!(remote >= 2, "{}", first.to_json());
    }
}
