//! The media path on ferrtc's sans-IO core (`ferrtc_core::PeerConnection`),
//! driven as its own tests drive it: `poll_transmit` into a buffer, that
//! buffer to the other peer's `handle_receive`, `poll_event` for the
//! frames and the trickled candidates, `handle_timeout` when
//! `poll_timeout` is due.
//!
//! The offerer adds one video track restricted to VP8 (and VP8's RTX) with
//! `set_codec_preferences`; the answerer receives it on the transceiver the
//! offer created. Each peer has one host candidate on a made-up address.
//! SRTP: ferrtc's default profile order (AES-128-GCM first), or only
//! AES-256-GCM for the row compared with str0m's cipher.

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use ferrtc_core::{
    Config, Event, MediaKind, PeerConnection, PeerConnectionState, TrackInfo, TransceiverId,
};
use ferrtc_dtls::SrtpProfile;

use super::{Call, FRAME_INTERVAL, FrameSource, Res, Tally, check_frames, measure};
use crate::workload::Sample;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// One peer connection and the datagrams it polled out, waiting for the
/// other peer (buffers reused from frame to frame).
struct Peer {
    pc: PeerConnection,
    out: Vec<(Vec<u8>, SocketAddr, SocketAddr)>,
    queued: usize,
}

impl Peer {
    /// A peer with the default configuration, or with SRTP restricted to
    /// AES-256-GCM when `aes256`.
    fn new(addr: &str, now: Instant, wall: SystemTime, aes256: bool) -> Res<Peer> {
        let mut config = Config::default();
        if aes256 {
            config.dtls.srtp_profiles = vec![SrtpProfile::AeadAes256Gcm];
        }
        let mut pc = PeerConnection::new(config, now, wall).map_err(err)?;
        pc.add_local_host(now, addr.parse().map_err(err)?)
            .map_err(err)?;
        Ok(Peer {
            pc,
            out: Vec::new(),
            queued: 0,
        })
    }

    /// Polls every datagram this peer has to send into `out`.
    fn poll_out(&mut self, now: Instant) {
        loop {
            if self.queued == self.out.len() {
                let none: SocketAddr = ([0, 0, 0, 0], 0).into();
                self.out.push((Vec::with_capacity(1500), none, none));
            }
            let slot = &mut self.out[self.queued];
            match self.pc.poll_transmit(now, &mut slot.0) {
                Some(t) => {
                    slot.1 = t.source;
                    slot.2 = t.destination;
                    self.queued += 1;
                }
                None => return,
            }
        }
    }

    fn timers(&mut self, now: Instant) {
        if self.pc.poll_timeout().is_some_and(|t| t <= now) {
            self.pc.handle_timeout(now);
        }
    }
}

/// Hands what `from` polled out to `to`; counts it in `tally` when `from`
/// is the sender. Returns how many datagrams moved.
fn deliver(from: &mut Peer, to: &mut Peer, now: Instant, tally: Option<&mut Tally>) -> usize {
    let n = from.queued;
    let mut tally = tally;
    for (buf, source, destination) in &mut from.out[..n] {
        if let Some(t) = tally.as_mut() {
            t.sent(buf);
        }
        to.pc.handle_receive(now, *source, *destination, buf);
    }
    from.queued = 0;
    n
}

/// Candidates trickled by `from` go to `to`; other events are dropped.
fn trickle(from: &mut Peer, to: &mut Peer, now: Instant) -> Res<()> {
    while let Some(ev) = from.pc.poll_event() {
        if let Event::IceCandidate(c) = ev {
            to.pc.add_ice_candidate(now, &c).map_err(err)?;
        }
    }
    Ok(())
}

/// Connects `a` (offering one VP8 track) to `b`; returns the sender's
/// transceiver and the virtual time reached.
fn connect(a: &mut Peer, b: &mut Peer, mut now: Instant) -> Res<(TransceiverId, Instant)> {
    let video =
        a.pc.add_track(TrackInfo {
            id: "camera".into(),
            kind: MediaKind::Video,
            stream_ids: vec!["bench".into()],
        })
        .map_err(err)?;
    let caps = PeerConnection::codec_capabilities(&MediaKind::Video);
    let vp8 = caps
        .iter()
        .find(|c| c.name.eq_ignore_ascii_case("VP8"))
        .map(|c| c.payload_type)
        .ok_or("no VP8 in ferrtc's codecs")?;
    let only_vp8 = caps
        .into_iter()
        .filter(|c| c.payload_type == vp8 || c.apt() == Some(vp8))
        .collect();
    a.pc.set_codec_preferences(video, only_vp8).map_err(err)?;
    let offer = a.pc.create_offer().map_err(err)?;
    a.pc.set_local_description(now, Some(offer.clone()))
        .map_err(err)?;
    b.pc.set_remote_description(now, offer).map_err(err)?;
    let answer = b.pc.create_answer().map_err(err)?;
    b.pc.set_local_description(now, Some(answer.clone()))
        .map_err(err)?;
    a.pc.set_remote_description(now, answer).map_err(err)?;
    let deadline = now + super::CONNECT_LIMIT;
    while now < deadline {
        loop {
            trickle(a, b, now)?;
            trickle(b, a, now)?;
            a.poll_out(now);
            let moved = deliver(a, b, now, None);
            b.poll_out(now);
            if moved + deliver(b, a, now, None) == 0 {
                break;
            }
        }
        if a.pc.connection_state() == PeerConnectionState::Connected
            && b.pc.connection_state() == PeerConnectionState::Connected
        {
            return Ok((video, now));
        }
        now += Duration::from_millis(5);
        a.timers(now);
        b.timers(now);
    }
    Err("the peers did not connect".into())
}

/// The two peers connected, and what a frame needs.
struct Pair<'s> {
    a: Peer,
    b: Peer,
    video: TransceiverId,
    source: &'s FrameSource,
    /// The frame being written.
    buf: Vec<u8>,
    /// The number of the next frame the receiver should give back.
    next: u64,
    /// Frames given back, not yet checked.
    got: Vec<Vec<u8>>,
}

impl Call for Pair<'_> {
    fn frame(&mut self, i: u64, now: Instant, tally: &mut Tally) -> Res<()> {
        let Pair { a, b, got, .. } = self;
        self.source.frame(i, &mut self.buf);
        let t0 = Instant::now();
        a.pc.write_frame(
            now,
            self.video,
            &self.buf,
            FRAME_INTERVAL,
            FrameSource::keyframe(i),
        )
        .map_err(err)?;
        tally.send += t0.elapsed();
        loop {
            // 1. The sender's due timers, its datagrams out (write_frame
            //    packetized and protected the frame; poll_transmit copies
            //    the datagrams out).
            let t0 = Instant::now();
            a.timers(now);
            a.poll_out(now);
            tally.send += t0.elapsed();
            // 2. Into the receiver, its due timers, its frames out, its
            //    feedback polled out.
            let t0 = Instant::now();
            let moved = deliver(a, b, now, Some(tally));
            b.timers(now);
            while let Some(ev) = b.pc.poll_event() {
                if let Event::TrackFrame {
                    frame, keyframe, ..
                } = ev
                {
                    if keyframe != FrameSource::keyframe(self.next + got.len() as u64) {
                        return Err("keyframe flag wrong".into());
                    }
                    got.push(frame);
                }
            }
            b.poll_out(now);
            tally.receive += t0.elapsed();
            tally.frames +=
                check_frames(self.source, &mut self.next, got.iter().map(Vec::as_slice))?;
            got.clear();
            // 3. What the receiver sends back, into the sender.
            let back = deliver(b, a, now, None);
            tally.feedback += back as u64;
            while a.pc.poll_event().is_some() {}
            if moved + back == 0 {
                return Ok(());
            }
        }
    }

    fn received(&self) -> u64 {
        self.next
    }
}

/// Connects, then [`measure`]s `frames` frames; SRTP with AES-256-GCM
/// when `aes256` (else ferrtc's default, AES-128-GCM).
pub fn run(source: &FrameSource, frames: u64, aes256: bool) -> Res<Sample> {
    let start = Instant::now();
    let wall = SystemTime::now();
    let mut a = Peer::new("10.0.0.1:5000", start, wall, aes256)?;
    let mut b = Peer::new("10.0.0.2:5000", start, wall, aes256)?;
    let (video, connected) = connect(&mut a, &mut b, start)?;
    let mut pair = Pair {
        a,
        b,
        video,
        source,
        buf: Vec::with_capacity(source.size()),
        next: 0,
        got: Vec::new(),
    };
    measure(&mut pair, source, connected, frames)
}
