//! The media path on str0m: the sans-IO `Rtc`, driven as its documentation
//! asks: after every input (`Input::Receive`, `Input::Timeout`) and after
//! every `Writer::write`, `poll_output` until `Output::Timeout`. Transmits
//! go to the other peer's `handle_input` as `Input::Receive`; frames come
//! out as `Event::MediaData` (str0m's frame-level API, not RTP mode).
//!
//! Both peers keep only VP8 (`clear_codecs().enable_vp8(true)`; str0m adds
//! its RTX); the offerer adds one send-only video media, the answerer
//! accepts it. Header extensions are str0m's standard set; "str0m (no
//! TWCC)" leaves out the transport sequence number, which turns off the
//! TWCC feedback str0m's receiver otherwise sends every 50 ms. Each peer has one host candidate on a made-up address,
//! carried in the SDP, which goes through `to_sdp_string` and back. All
//! other settings are str0m's defaults (no bandwidth estimation, so no
//! pacer).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpOffer};
use str0m::format::Codec;
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid, Pt};
use str0m::net::{Protocol, Receive, Transmit};
use str0m::rtp::{Extension, ExtensionMap};
use str0m::{Candidate, Event, Input, Output, Rtc};

use super::{Call, FrameSource, Res, Tally, check_frames, measure};
use crate::workload::Sample;

/// Most `Input::Timeout`s fed for one instant in a row.
const TIMEOUT_ROUNDS: usize = 4;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// One `Rtc`, what it polled out for the other peer, and whether it
/// reported `Event::Connected`.
struct Peer {
    rtc: Rtc,
    addr: SocketAddr,
    /// When it next wants `Input::Timeout`.
    timeout: Instant,
    out: Vec<Transmit>,
    connected: bool,
}

impl Peer {
    /// A peer with str0m's default header extensions, less the transport
    /// sequence number unless `twcc`.
    fn new(addr: &str, now: Instant, twcc: bool) -> Res<Peer> {
        let mut exts = ExtensionMap::empty();
        for (id, ext) in ExtensionMap::standard().iter() {
            if twcc || *ext != Extension::TransportSequenceNumber {
                exts.set(id, ext.clone());
            }
        }
        let mut rtc = Rtc::builder()
            .clear_codecs()
            .enable_vp8(true)
            .set_extension_map(exts)
            .build(now);
        let addr: SocketAddr = addr.parse().map_err(err)?;
        rtc.add_local_candidate(Candidate::host(addr, "udp").map_err(err)?);
        Ok(Peer {
            rtc,
            addr,
            timeout: now,
            out: Vec::new(),
            connected: false,
        })
    }

    /// `poll_output` until `Output::Timeout`: transmits are queued in
    /// `out`, `Event::MediaData` payloads go to `frames`, other events are
    /// dropped.
    fn poll(&mut self, frames: &mut Vec<Arc<[u8]>>) -> Res<()> {
        loop {
            match self.rtc.poll_output().map_err(err)? {
                Output::Timeout(t) => {
                    self.timeout = t;
                    return Ok(());
                }
                Output::Transmit(t) => self.out.push(t),
                Output::Event(Event::MediaData(m)) => frames.push(m.data),
                Output::Event(Event::Connected) => self.connected = true,
                Output::Event(_) => {}
            }
        }
    }

    /// Feeds `Input::Timeout` while one is due (a bounded number of
    /// times: str0m may ask again for the same instant), polling after
    /// each.
    fn timers(&mut self, now: Instant, frames: &mut Vec<Arc<[u8]>>) -> Res<()> {
        for _ in 0..TIMEOUT_ROUNDS {
            if now < self.timeout {
                break;
            }
            self.rtc.handle_input(Input::Timeout(now)).map_err(err)?;
            self.poll(frames)?;
        }
        Ok(())
    }

    /// Feeds one datagram, then polls.
    fn receive(&mut self, now: Instant, t: &Transmit, frames: &mut Vec<Arc<[u8]>>) -> Res<()> {
        let contents = t.contents.as_ref().try_into().map_err(err)?;
        self.rtc
            .handle_input(Input::Receive(
                now,
                Receive {
                    proto: Protocol::Udp,
                    source: t.source,
                    destination: self.addr,
                    contents,
                },
            ))
            .map_err(err)?;
        self.poll(frames)
    }
}

/// Hands what `from` polled out to `to`; counts it in `tally` when `from`
/// is the sender. Returns how many datagrams moved.
fn deliver(
    from: &mut Peer,
    to: &mut Peer,
    now: Instant,
    frames: &mut Vec<Arc<[u8]>>,
    mut tally: Option<&mut Tally>,
) -> Res<usize> {
    let n = from.out.len();
    // `to` may answer into its own queue while this one drains.
    for t in from.out.drain(..) {
        if let Some(tally) = tally.as_mut() {
            tally.sent(&t.contents);
        }
        to.receive(now, &t, frames)?;
    }
    Ok(n)
}

/// Connects `a` (offering one send-only video media) to `b`; returns the
/// mid, the VP8 payload type and the virtual time reached.
fn connect(a: &mut Peer, b: &mut Peer, mut now: Instant) -> Res<(Mid, Pt, Instant)> {
    let mut change = a.rtc.sdp_api();
    let mid = change.add_media(MediaKind::Video, Direction::SendOnly, None, None, None);
    let (offer, pending) = change.apply().ok_or("no offer")?;
    let offer = SdpOffer::from_sdp_string(&offer.to_sdp_string()).map_err(err)?;
    let answer = b.rtc.sdp_api().accept_offer(offer).map_err(err)?;
    let answer = SdpAnswer::from_sdp_string(&answer.to_sdp_string()).map_err(err)?;
    a.rtc
        .sdp_api()
        .accept_answer(pending, answer)
        .map_err(err)?;
    let mut ignored = Vec::new();
    let deadline = now + super::CONNECT_LIMIT;
    while now < deadline {
        a.timers(now, &mut ignored)?;
        b.timers(now, &mut ignored)?;
        loop {
            let moved = deliver(a, b, now, &mut ignored, None)?;
            if moved + deliver(b, a, now, &mut ignored, None)? == 0 {
                break;
            }
        }
        if a.connected && b.connected {
            let writer = a.rtc.writer(mid).ok_or("no writer for the video mid")?;
            let pt = writer
                .payload_params()
                .find(|p| p.spec().codec == Codec::Vp8)
                .map(|p| p.pt())
                .ok_or("VP8 not negotiated")?;
            return Ok((mid, pt, now));
        }
        now += Duration::from_millis(5);
    }
    Err("the peers did not connect".into())
}

/// The two peers connected, and what a frame needs.
struct Pair<'s> {
    a: Peer,
    b: Peer,
    mid: Mid,
    pt: Pt,
    source: &'s FrameSource,
    /// The frame being written.
    buf: Vec<u8>,
    /// The number of the next frame the receiver should give back.
    next: u64,
    /// Frames given back, not yet checked.
    got: Vec<Arc<[u8]>>,
    /// Events of the sender: none carry frames.
    none: Vec<Arc<[u8]>>,
}

impl Call for Pair<'_> {
    fn frame(&mut self, i: u64, now: Instant, tally: &mut Tally) -> Res<()> {
        let Pair {
            a, b, got, none, ..
        } = self;
        self.source.frame(i, &mut self.buf);
        let t0 = Instant::now();
        // The writer takes the frame as an `Arc<[u8]>`: one copy, as an
        // application with its encoder's output in a buffer would make.
        let rtp_time = MediaTime::new(i * 3000, Frequency::NINETY_KHZ);
        a.rtc
            .writer(self.mid)
            .ok_or("no writer")?
            .write(
                self.pt,
                now,
                rtp_time,
                Arc::<[u8]>::from(self.buf.as_slice()),
            )
            .map_err(err)?;
        tally.send += t0.elapsed();
        loop {
            // 1. The sender's datagrams out. str0m queues the written frame
            //    and asks for a timeout at once: the media (packetized, SRTP
            //    protected) comes out of the poll after that
            //    `Input::Timeout`.
            let t0 = Instant::now();
            a.poll(none)?;
            a.timers(now, none)?;
            tally.send += t0.elapsed();
            // 2. Into the receiver (each input followed by poll_output),
            //    then its due timers; its frames out, its feedback queued.
            let t0 = Instant::now();
            let moved = deliver(a, b, now, got, Some(tally))?;
            b.timers(now, got)?;
            tally.receive += t0.elapsed();
            tally.frames += check_frames(self.source, &mut self.next, got.iter().map(|f| &f[..]))?;
            got.clear();
            // 3. What the receiver sends back, into the sender.
            let back = deliver(b, a, now, none, None)?;
            tally.feedback += back as u64;
            if moved + back == 0 {
                return Ok(());
            }
        }
    }

    fn received(&self) -> u64 {
        self.next
    }
}

/// Connects, then [`measure`]s `frames` frames; without the TWCC
/// extension (so without TWCC feedback) unless `twcc`.
pub fn run(source: &FrameSource, frames: u64, twcc: bool) -> Res<Sample> {
    str0m::crypto::from_feature_flags().install_process_default();
    let start = Instant::now();
    let mut a = Peer::new("10.0.0.1:5000", start, twcc)?;
    let mut b = Peer::new("10.0.0.2:5000", start, twcc)?;
    let (mid, pt, connected) = connect(&mut a, &mut b, start)?;
    let mut pair = Pair {
        a,
        b,
        mid,
        pt,
        source,
        buf: Vec::with_capacity(source.size()),
        next: 0,
        got: Vec::new(),
        none: Vec::new(),
    };
    measure(&mut pair, source, connected, frames)
}
