//! Forwarding on ferrtc's sans-IO core (`ferrtc_core::PeerConnection`),
//! SFU-style in the same way as the str0m run drives str0m: every peer (the
//! sender, the forwarder's ingest side, the forwarder's N downstream sides,
//! the N receivers) is driven by **one thread** that sleeps in `epoll_wait` on
//! all their sockets (each peer has its own, on 127.0.0.1) until one is
//! readable or the earliest timeout is due; a peer that is readable, due or
//! was written to runs its due timers (`handle_timeout`), takes what its
//! socket has (`handle_receive`; at most 32 reads a pass, the rest at the
//! next), and is polled out: `poll_transmit` until empty, each datagram
//! sent, then `poll_event`.
//!
//! Sockets are ferrtc's [`BatchUdpSocket`], which sends and reads as
//! ferrtc's own connections do: a video frame's datagrams to one peer
//! leave with one `sendmsg` (segmentation offload) and are read with one
//! `recvmmsg` (receive offload), where the str0m run's plain sockets make
//! one `send_to` and one `recv_from` per datagram (str0m leaves its I/O to
//! the application). The forwarder takes each whole frame of the
//! ingest side (`Event::TrackFrame`) and writes it on every downstream
//! side's sender of the same kind (`write_frame`, its bytes shared, not
//! copied), which packetizes anew; media is unpaced
//! (`MediaConfig::pacing` off), as in the `ferrtc` run. Receivers count
//! whole frames from their `TrackFrame` events ([`Tally`]) and, as
//! packets, their `inbound-rtp` `packetsReceived` − `packetsDiscarded`,
//! read once the stream's interval is over.

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant, SystemTime};

use ferrtc::BatchUdpSocket;
use ferrtc_core::{
    Bytes, Config, Event, MediaKind, PeerConnection, PeerConnectionState, Stats, TrackInfo,
    TransceiverId,
};

use super::readiness::Readiness;
use super::{
    AUDIO_INTERVAL, CONNECT_LIMIT, DRAIN, Frame, GOP, Outcome, Res, Schedule, Tally, audio_frame,
    rss_kib, video_frame, video_interval,
};
use crate::proc::cpu_seconds;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// One peer connection and its socket.
struct Peer {
    pc: PeerConnection,
    socket: BatchUdpSocket,
    addr: SocketAddr,
    /// When its timers are next due (`None`: none), as its last
    /// `poll_timeout` said.
    timeout: Option<Instant>,
    /// Given input since (a frame written, candidates): driven at once.
    poked: bool,
    connected: bool,
    /// Its own candidates, for the other end of its leg.
    candidates: Vec<ferrtc_core::IceCandidateInit>,
    /// What it got (receivers).
    got: Tally,
    /// Its video transceiver (receivers: frames on any other are audio).
    video: Option<TransceiverId>,
    /// Its video and audio senders (sending peers only).
    send: Option<[TransceiverId; 2]>,
}

/// The buffers every peer's drive uses in turn.
struct Buffers {
    /// What one read takes ([`BatchUdpSocket::RECV_BUFFER`]).
    read: Vec<u8>,
    /// One datagram polled out.
    transmit: Vec<u8>,
}

/// A frame out of a peer: `(video, bytes, keyframe)`.
type Out = (bool, Bytes, bool);

impl Peer {
    fn new(now: Instant, wall: SystemTime) -> Res<Peer> {
        let mut config = Config::default();
        // As the `ferrtc` run's `unpaced_media`: a fan-out forwarder that
        // does not adapt to each viewer's estimate (see bench/README.md).
        config.media.pacing = false;
        let mut pc = PeerConnection::new(config, now, wall).map_err(err)?;
        let socket = BatchUdpSocket::bind(([127, 0, 0, 1], 0).into()).map_err(err)?;
        let addr = socket.local_addr();
        pc.add_local_host(now, addr).map_err(err)?;
        Ok(Peer {
            pc,
            socket,
            addr,
            timeout: Some(now),
            poked: false,
            connected: false,
            candidates: Vec::new(),
            got: Tally::default(),
            video: None,
            send: None,
        })
    }

    /// The due timers, then every waiting datagram (when `readable`), then
    /// everything polled out; frames go to `frames`.
    fn drive(&mut self, now: Instant, readable: bool, bufs: &mut Buffers, frames: &mut Vec<Out>) {
        self.poked = false;
        if self.timeout.is_some_and(|t| t <= now) {
            self.pc.handle_timeout(now);
        }
        if readable {
            let (pc, addr) = (&mut self.pc, self.addr);
            // An error of the read (none is expected on loopback) is a
            // datagram lost.
            let _ = self.socket.recv(&mut bufs.read, |from, datagram| {
                pc.handle_receive(now, from, addr, datagram)
            });
        }
        self.flush(now, &mut bufs.transmit, frames);
    }

    /// `poll_transmit` until empty, then `poll_event` until empty.
    fn flush(&mut self, now: Instant, buf: &mut Vec<u8>, frames: &mut Vec<Out>) {
        while let Some(t) = self.pc.poll_transmit(now, buf) {
            self.socket.send(t.destination, buf);
        }
        self.socket.flush();
        while let Some(ev) = self.pc.poll_event() {
            match ev {
                Event::TrackFrame {
                    transceiver,
                    frame,
                    keyframe,
                    ..
                } => {
                    let video = Some(transceiver) == self.video;
                    if video {
                        self.got.video_frame(&frame);
                    } else {
                        self.got.audio_frame(frame.len());
                    }
                    frames.push((video, Bytes::from(frame), keyframe));
                }
                Event::IceCandidate(c) => self.candidates.push(c),
                Event::ConnectionStateChange(PeerConnectionState::Connected) => {
                    self.connected = true;
                }
                _ => {}
            }
        }
        self.timeout = self.pc.poll_timeout();
    }

    /// Writes a frame on sender `k` (0 video, 1 audio); it leaves at this
    /// peer's next drive, at once.
    fn write(
        &mut self,
        k: usize,
        now: Instant,
        frame: impl Into<ferrtc_core::FrameBytes>,
        keyframe: bool,
    ) -> Res<()> {
        let send = self.send.ok_or("not a sender")?;
        let duration = if k == 0 {
            video_interval()
        } else {
            AUDIO_INTERVAL
        };
        self.pc
            .write_frame(now, send[k], frame, duration, keyframe)
            .map_err(err)?;
        self.poked = true;
        Ok(())
    }

    fn fd(&self) -> std::os::fd::RawFd {
        self.socket.as_raw_fd()
    }

    /// Distinct media packets it got: `inbound-rtp` `packetsReceived` less
    /// `packetsDiscarded` (duplicates, late packets, RTX padding).
    fn distinct_packets(&self) -> u64 {
        self.pc
            .get_stats(SystemTime::now())
            .stats
            .values()
            .map(|s| match s {
                Stats::InboundRtp(s) => s.packets_received.saturating_sub(s.packets_discarded),
                _ => 0,
            })
            .sum()
    }
}

/// `a` adds a video and an audio track and offers them to `b`, which
/// answers; the SDP goes through text as signaling would carry it.
fn negotiate(a: &mut Peer, b: &mut Peer, now: Instant) -> Res<()> {
    let mut track = |id: &str, kind| {
        a.pc.add_track(TrackInfo {
            id: id.into(),
            kind,
            stream_ids: vec!["bench".into()],
        })
        .map_err(err)
    };
    let video = track("video", MediaKind::Video)?;
    let audio = track("audio", MediaKind::Audio)?;
    a.send = Some([video, audio]);
    let offer = a.pc.create_offer().map_err(err)?;
    a.pc.set_local_description(now, Some(offer.clone()))
        .map_err(err)?;
    b.pc.set_remote_description(now, offer).map_err(err)?;
    let answer = b.pc.create_answer().map_err(err)?;
    b.pc.set_local_description(now, Some(answer.clone()))
        .map_err(err)?;
    a.pc.set_remote_description(now, answer).map_err(err)?;
    b.video =
        b.pc.transceivers()
            .iter()
            .find(|t| t.kind == MediaKind::Video)
            .map(|t| t.id);
    Ok(())
}

/// All peers: `[sender, ingest, (forwarder i, receiver i)...]`; each
/// even-numbered peer is the offering end of a leg, the next one its
/// answering end.
struct Sfu {
    peers: Vec<Peer>,
    readiness: Readiness,
    bufs: Buffers,
    /// Frames out of the ingest side, to forward.
    ingest: Vec<Out>,
    /// Frames out of any other peer (counted, dropped).
    other: Vec<Out>,
}

impl Sfu {
    /// One pass: poll the sockets (until `until` at the latest), drive
    /// every peer that is readable or due, forward what the ingest gave.
    fn step(&mut self, until: Instant) -> Res<()> {
        let earliest = self
            .peers
            .iter()
            .filter_map(|p| {
                if p.poked {
                    Some(until.min(Instant::now()))
                } else {
                    p.timeout
                }
            })
            .min()
            .unwrap_or(until);
        self.readiness.wait(earliest.min(until));
        let now = Instant::now();
        for i in 0..self.peers.len() {
            let readable = self.readiness.is_ready(i);
            let p = &mut self.peers[i];
            if !readable && !p.poked && p.timeout.is_none_or(|t| now < t) {
                continue;
            }
            let out = if i == 1 {
                &mut self.ingest
            } else {
                &mut self.other
            };
            p.drive(now, readable, &mut self.bufs, out);
            self.other.clear();
            // Candidates to the other end of the leg (set up in-process).
            if !self.peers[i].candidates.is_empty() {
                let candidates = std::mem::take(&mut self.peers[i].candidates);
                let to = &mut self.peers[i ^ 1];
                for c in &candidates {
                    to.pc.add_ice_candidate(now, c).map_err(err)?;
                }
                to.poked = true;
            }
            // The forwarder: every frame of the ingest on each downstream
            // side (due now: this pass or the next sends them).
            for (video, frame, keyframe) in std::mem::take(&mut self.ingest) {
                let k = usize::from(!video);
                for f in (2..self.peers.len()).step_by(2) {
                    let peer = &mut self.peers[f];
                    if peer.connected {
                        peer.write(k, now, frame.clone(), keyframe)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Waits on the sockets of the peers from `first` on.
    fn watch(&mut self, first: usize) -> Res<()> {
        for (i, p) in self.peers.iter().enumerate().skip(first) {
            self.readiness.add(p.fd(), i)?;
        }
        Ok(())
    }

    /// Drives every peer until all are connected.
    fn connect(&mut self) -> Res<()> {
        let deadline = Instant::now() + CONNECT_LIMIT;
        while !self.peers.iter().all(|p| p.connected) {
            if Instant::now() > deadline {
                return Err("not every peer connected".into());
            }
            self.step(Instant::now() + Duration::from_millis(10))?;
        }
        Ok(())
    }
}

/// Runs the workload with `n` receivers for `length`.
pub fn run(n: usize, length: Duration) -> Res<Outcome> {
    let started = Instant::now();
    let wall = SystemTime::now();
    let mut sfu = Sfu {
        peers: vec![Peer::new(started, wall)?, Peer::new(started, wall)?],
        readiness: Readiness::new()?,
        bufs: Buffers {
            read: vec![0; BatchUdpSocket::RECV_BUFFER],
            transmit: Vec::new(),
        },
        ingest: Vec::new(),
        other: Vec::new(),
    };
    let (s, f0) = sfu.peers.split_at_mut(1);
    negotiate(&mut s[0], &mut f0[0], started)?;
    sfu.watch(0)?;
    sfu.connect()?;
    let rss_before = rss_kib();
    for _ in 0..n {
        let now = Instant::now();
        let mut f = Peer::new(now, SystemTime::now())?;
        let mut r = Peer::new(now, SystemTime::now())?;
        negotiate(&mut f, &mut r, now)?;
        sfu.peers.push(f);
        sfu.peers.push(r);
    }
    sfu.watch(2)?;
    sfu.connect()?;
    let setup = started.elapsed();

    let schedule = Schedule::new(length);
    let audio = Bytes::from(audio_frame());
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let mut next = 0;
    let frames = schedule.frames();
    while t0.elapsed() < length + DRAIN {
        let now = Instant::now();
        while let Some(&(at, frame)) = frames.get(next)
            && t0 + at <= now
        {
            let sender = &mut sfu.peers[0];
            match frame {
                Frame::Video(i) => sender.write(0, now, video_frame(i), i % GOP == 0)?,
                Frame::Audio(_) => sender.write(1, now, audio.clone(), false)?,
            }
            next += 1;
        }
        let until = frames
            .get(next)
            .map_or(t0 + length + DRAIN, |(at, _)| t0 + *at);
        sfu.step(until)?;
    }
    // The one thread that drives every peer stopped: counts and CPU are
    // of the same moment.
    let cpu_s = cpu_seconds() - cpu0;
    let elapsed = t0.elapsed();
    let rss_per_receiver_kib = (rss_kib() - rss_before).max(0.0) / n.max(1) as f64;
    let mut got = Tally::default();
    for r in sfu.peers.iter().skip(3).step_by(2) {
        got.add(&r.got);
        got.packets += r.distinct_packets();
    }
    Ok(Outcome {
        receivers: n,
        setup,
        elapsed,
        cpu_s,
        got,
        frames_sent: frames.len() as u64,
        rss_per_receiver_kib,
    })
}
