//! Forwarding on str0m, SFU-style as its `chat` example runs one: every
//! `Rtc` (the sender, the forwarder's ingest side, the forwarder's N
//! downstream sides, the N receivers) is driven by **one thread** that
//! sleeps in `epoll_wait` on all their sockets (each peer has its own, on
//! 127.0.0.1; [`Readiness`], shared with the ferrtc-core run) until one is
//! readable or the earliest str0m timeout is due;
//! after every input (`Input::Receive`, `Input::Timeout`) it polls
//! `poll_output` until `Output::Timeout`, sending each transmit with
//! `send_to`.
//!
//! Frame mode (str0m's default, the `chat` example's): the forwarder's
//! ingest `Rtc` gives whole frames (`Event::MediaData`), and each is
//! written on every downstream `Rtc`'s media of the same kind with
//! `Writer::write` (its `Arc<[u8]>` payload shared, not copied), which
//! packetizes anew. Codecs: VP8 and Opus only (`clear_codecs`); header
//! extensions and everything else are str0m's defaults (so its receivers
//! send TWCC feedback). Receivers count their `Event::MediaData` frames
//! ([`Tally`]) and, as packets, the sequence numbers each frame was made
//! of (`MediaData::seq_range`, each once): frame mode shows no packet of a
//! frame it could not complete, which on loopback without loss is none.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpOffer};
use str0m::format::Codec;
use str0m::media::{Direction, Frequency, MediaData, MediaKind, MediaTime, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};

use super::readiness::Readiness;
use super::{
    CONNECT_LIMIT, DRAIN, Frame, Outcome, Res, Schedule, Tally, audio_frame, rss_kib, video_frame,
};
use crate::proc::cpu_seconds;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// One `Rtc` and its socket.
struct Peer {
    rtc: Rtc,
    socket: UdpSocket,
    addr: SocketAddr,
    timeout: Instant,
    connected: bool,
    /// What it got (receivers).
    got: Tally,
    /// The first sequence number of each frame counted (each once).
    firsts: std::collections::HashSet<u64>,
    /// Its video mid (receivers: the other is audio).
    video: Option<Mid>,
    /// The video and audio mids and payload types it sends (senders only).
    send: Option<[(Mid, Pt); 2]>,
}

impl Peer {
    fn new(now: Instant) -> Res<Peer> {
        let mut rtc = Rtc::builder()
            .clear_codecs()
            .enable_vp8(true)
            .enable_opus(true, false)
            .build(now);
        let socket = UdpSocket::bind("127.0.0.1:0").map_err(err)?;
        socket.set_nonblocking(true).map_err(err)?;
        let addr = socket.local_addr().map_err(err)?;
        rtc.add_local_candidate(Candidate::host(addr, "udp").map_err(err)?);
        Ok(Peer {
            rtc,
            socket,
            addr,
            timeout: now,
            connected: false,
            got: Tally::default(),
            firsts: std::collections::HashSet::new(),
            video: None,
            send: None,
        })
    }

    /// The due timeout, then every waiting datagram (when `readable`),
    /// each followed by [`Peer::flush`]; media frames go to `frames`.
    fn drive(
        &mut self,
        now: Instant,
        readable: bool,
        buf: &mut [u8],
        frames: &mut Vec<MediaData>,
    ) -> Res<()> {
        if now >= self.timeout {
            self.rtc.handle_input(Input::Timeout(now)).map_err(err)?;
            self.flush(frames)?;
        }
        while readable && let Ok((n, source)) = self.socket.recv_from(buf) {
            let Some(data) = buf.get(..n) else { continue };
            let Ok(contents) = data.try_into() else {
                continue;
            };
            self.rtc
                .handle_input(Input::Receive(
                    now,
                    Receive {
                        proto: Protocol::Udp,
                        source,
                        destination: self.addr,
                        contents,
                    },
                ))
                .map_err(err)?;
            self.flush(frames)?;
        }
        Ok(())
    }

    /// `poll_output` until `Output::Timeout`.
    fn flush(&mut self, frames: &mut Vec<MediaData>) -> Res<()> {
        loop {
            match self.rtc.poll_output().map_err(err)? {
                Output::Timeout(t) => {
                    self.timeout = t;
                    return Ok(());
                }
                Output::Transmit(t) => {
                    // A full socket buffer is loss, counted at the receiver.
                    let _ = self.socket.send_to(&t.contents, t.destination);
                }
                Output::Event(Event::MediaData(m)) => {
                    let (first, last) = (**m.seq_range.start(), **m.seq_range.end());
                    if self.firsts.insert(first) {
                        self.got.packets += last.saturating_sub(first) + 1;
                        if Some(m.mid) == self.video {
                            self.got.video_frame(&m.data);
                        } else {
                            self.got.audio_frame(m.data.len());
                        }
                    }
                    frames.push(m);
                }
                Output::Event(Event::Connected) => self.connected = true,
                Output::Event(_) => {}
            }
        }
    }

    /// Writes a frame on media `k` (0 video, 1 audio); str0m sends it
    /// after the next `Input::Timeout`, due at once.
    fn write(
        &mut self,
        k: usize,
        now: Instant,
        time: MediaTime,
        data: impl Into<std::sync::Arc<[u8]>>,
    ) -> Res<()> {
        let Some(send) = self.send else {
            return Err("not a sender".into());
        };
        let (mid, pt) = send[k];
        self.rtc
            .writer(mid)
            .ok_or("no writer")?
            .write(pt, now, time, data)
            .map_err(err)?;
        self.timeout = now;
        Ok(())
    }

    fn fd(&self) -> std::os::fd::RawFd {
        self.socket.as_raw_fd()
    }
}

/// `a` offers a send-only video and audio media to `b`, which answers;
/// the SDP goes through text as signaling would carry it.
fn negotiate(a: &mut Peer, b: &mut Peer) -> Res<[Mid; 2]> {
    let mut change = a.rtc.sdp_api();
    let video = change.add_media(MediaKind::Video, Direction::SendOnly, None, None, None);
    let audio = change.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
    let (offer, pending) = change.apply().ok_or("no offer")?;
    let offer = SdpOffer::from_sdp_string(&offer.to_sdp_string()).map_err(err)?;
    let answer = b.rtc.sdp_api().accept_offer(offer).map_err(err)?;
    let answer = SdpAnswer::from_sdp_string(&answer.to_sdp_string()).map_err(err)?;
    a.rtc
        .sdp_api()
        .accept_answer(pending, answer)
        .map_err(err)?;
    Ok([video, audio])
}

/// The payload type of `codec` on `a`'s media `mid`.
fn pt(a: &mut Peer, mid: Mid, codec: Codec) -> Res<Pt> {
    a.rtc
        .writer(mid)
        .ok_or("no writer")?
        .payload_params()
        .find(|p| p.spec().codec == codec)
        .map(|p| p.pt())
        .ok_or_else(|| format!("{codec:?} not negotiated"))
}

/// All peers: `[sender, ingest, (forwarder i, receiver i)...]`.
struct Sfu {
    peers: Vec<Peer>,
    readiness: Readiness,
    buf: Vec<u8>,
    /// Frames out of the ingest side, to forward.
    ingest: Vec<MediaData>,
    /// Frames out of any other peer (counted, dropped).
    other: Vec<MediaData>,
    /// The ingest side's video mid (the other is audio).
    ingest_video: Option<Mid>,
}

impl Sfu {
    /// One pass: poll the sockets (until `until` at the latest), drive
    /// every peer that is readable or due, forward what the ingest gave.
    fn step(&mut self, until: Instant) -> Res<()> {
        let earliest = self.peers.iter().map(|p| p.timeout).min().unwrap_or(until);
        self.readiness.wait(earliest.min(until));
        let now = Instant::now();
        for i in 0..self.peers.len() {
            let readable = self.readiness.is_ready(i);
            let p = &mut self.peers[i];
            if !readable && now < p.timeout {
                continue;
            }
            let out = if i == 1 {
                &mut self.ingest
            } else {
                &mut self.other
            };
            p.drive(now, readable, &mut self.buf, out)?;
            self.other.clear();
            // The forwarder: every frame of the ingest on each downstream
            // side (their timeouts are due now: this pass or the next
            // sends them).
            for m in std::mem::take(&mut self.ingest) {
                let k = usize::from(Some(m.mid) != self.ingest_video);
                for f in (2..self.peers.len()).step_by(2) {
                    let peer = &mut self.peers[f];
                    if peer.connected && peer.send.is_some() {
                        peer.write(k, m.network_time, m.time, m.data.clone())?;
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

/// Gives each sending peer `i` its payload types, once connected.
fn senders(sfu: &mut Sfu, mids: &[(usize, [Mid; 2])]) -> Res<()> {
    for &(i, [video, audio]) in mids {
        let p = &mut sfu.peers[i];
        let vp8 = pt(p, video, Codec::Vp8)?;
        let opus = pt(p, audio, Codec::Opus)?;
        p.send = Some([(video, vp8), (audio, opus)]);
    }
    Ok(())
}

/// Runs the workload with `n` receivers for `length`.
pub fn run(n: usize, length: Duration) -> Res<Outcome> {
    str0m::crypto::from_feature_flags().install_process_default();
    let started = Instant::now();
    let mut sfu = Sfu {
        peers: vec![Peer::new(started)?, Peer::new(started)?],
        readiness: Readiness::new()?,
        buf: vec![0; 2048],
        ingest: Vec::new(),
        other: Vec::new(),
        ingest_video: None,
    };
    let (s, f0) = sfu.peers.split_at_mut(1);
    let ingest_mids = negotiate(&mut s[0], &mut f0[0])?;
    sfu.ingest_video = Some(ingest_mids[0]);
    sfu.watch(0)?;
    sfu.connect()?;
    senders(&mut sfu, &[(0, ingest_mids)])?;
    let rss_before = rss_kib();
    let mut mids = Vec::with_capacity(n);
    for i in 0..n {
        let now = Instant::now();
        let mut f = Peer::new(now)?;
        let mut r = Peer::new(now)?;
        let m = negotiate(&mut f, &mut r)?;
        r.video = Some(m[0]);
        mids.push((2 + 2 * i, m));
        sfu.peers.push(f);
        sfu.peers.push(r);
    }
    sfu.watch(2)?;
    sfu.connect()?;
    senders(&mut sfu, &mids)?;
    let setup = started.elapsed();

    let schedule = Schedule::new(length);
    let audio = audio_frame();
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let mut next = 0;
    let frames = schedule.frames();
    let (video_step, audio_step) = (3000u64, 960u64);
    while t0.elapsed() < length + DRAIN {
        let now = Instant::now();
        while let Some(&(at, frame)) = frames.get(next)
            && t0 + at <= now
        {
            let sender = &mut sfu.peers[0];
            match frame {
                Frame::Video(i) => sender.write(
                    0,
                    now,
                    MediaTime::new(i * video_step, Frequency::NINETY_KHZ),
                    video_frame(i),
                )?,
                Frame::Audio(i) => sender.write(
                    1,
                    now,
                    MediaTime::new(i * audio_step, Frequency::FORTY_EIGHT_KHZ),
                    audio.as_slice(),
                )?,
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
