//! Real-kernel media repair tests: a video track from one
//! `ferrtc::PeerConnection` to another, each in its own Linux network
//! namespace, through a middle namespace where the kernel drops datagrams
//! or the path is cut (the lab of `netns_common`).
//!
//! ```text
//!  ns "…-a"                    ns "…-m" (no IP forwarding)                ns "…-b"
//!  peer A 10.201.1.2 ──veth── 10.201.1.1 [relay] 10.201.2.1 ──veth── 10.201.2.2 peer B
//!  RtpSender (app)             nft: random UDP drop / drop all UDP        RtpReceiver (app)
//! ```
//!
//! What is real kernel and what is userspace:
//! - **Kernel**: the namespaces, veths and routes; every socket (the peers'
//!   and the relay's, bound inside the namespaces by `setns`); **loss**,
//!   an nftables rule on the middle namespace's input hook (`numgen random
//!   mod 100 < N drop`: RTP, RTX and RTCP in both directions face it once,
//!   unseeded, drawn by the kernel; the peers' veths carry one datagram
//!   per packet, see [`Lab::one_datagram_per_packet`], else the rule would
//!   draw once per UDP GSO train of up to a frame's packets); the **path
//!   cut**, a second nftables
//!   table that drops every UDP datagram on that hook, added and deleted
//!   by the test (it acts at once; a veth coming up would deliver nothing
//!   for about 0.5 s more).
//! - **Userspace**: the one-way **delay**, from the relay task in the test
//!   process (no `tc netem` on this kernel, see `netns_common`); the
//!   **application**: the test writes synthetic VP8-like frames on the
//!   sender every 33 ms, answers keyframe requests, and reads whole frames
//!   from the receiver. ferrtc does the rest as in a call: packetization,
//!   SRTP, NACK (RFC 4585 §6.2.1) and RTX (RFC 4588) from a 1 s send
//!   history, the jitter buffer, PLI (RFC 4585 §6.3.1) when a frame is lost
//!   for good.
//!
//! The frames are not VP8 (nothing decodes them) but follow its one rule
//! that ferrtc reads: bit 0 of byte 0 is clear on a keyframe (RFC 6386
//! §9.1). Each carries its number and a CRC-32, so that a frame that
//! arrives torn, twice, out of order or after a hole is told.
//!
//! The tests need root, `ip` and `nft`, and run only with
//! `FERRTC_INTEROP=1` (then anything missing is a failure, not a skip).

#[path = "netns_common/mod.rs"]
mod netns_common;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrtc::{
    EncodedFrame, MediaKind, MediaStream, MediaStreamTrack, PeerConnectionEvent,
    PeerConnectionState, RtpReceiver, RtpSender, RtpSenderEvent, Stats,
};
use ferrtc_interop::interop_enabled;
use netns_common::{Impairment, Lab, Observed, Peers, Relay, Side, negotiate, saw};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use tokio::sync::mpsc;

/// One frame every 33 ms (30 fps).
const FRAME_INTERVAL: Duration = Duration::from_millis(33);

// ---------------------------------------------------------------- frames

/// Frame `n`: byte 0 is 0x10 for a keyframe and 0x11 otherwise (VP8's
/// frame tag bit 0), then `n` (4 bytes, big-endian), bytes drawn from a
/// generator seeded by `n`, and a CRC-32 of everything before. 3,000 to
/// 5,000 bytes, so each frame spans three to five RTP packets.
fn frame(n: u32, key: bool) -> Vec<u8> {
    let len = 3000 + (n as usize * 797) % 2001;
    let mut f = vec![0u8; len];
    f[0] = if key { 0x10 } else { 0x11 };
    f[1..5].copy_from_slice(&n.to_be_bytes());
    StdRng::seed_from_u64(u64::from(n)).fill_bytes(&mut f[5..len - 4]);
    let crc = crc32fast::hash(&f[..len - 4]);
    f[len - 4..].copy_from_slice(&crc.to_be_bytes());
    f
}

/// Checks that `got` is a whole frame as [`frame`] makes them, flagged a
/// keyframe by the receiver exactly when it is one; returns its number
/// and whether it is a keyframe.
fn check_frame(got: &EncodedFrame) -> (u32, bool) {
    let data = &got.data[..];
    assert!(data.len() >= 9, "a frame of {} bytes", data.len());
    let n = u32::from_be_bytes([data[1], data[2], data[3], data[4]]);
    let key = data[0] & 1 == 0;
    assert_eq!(got.keyframe, key, "frame {n}: keyframe flag");
    assert!(
        *data == frame(n, key),
        "frame {n}: {} bytes, not the frame written (torn or corrupted)",
        data.len()
    );
    (n, key)
}

/// A frame as the receiving application saw it.
#[derive(Debug, Clone, Copy)]
struct Got {
    n: u32,
    key: bool,
    at: Instant,
}

/// Checks the order of what was delivered: numbers strictly increase, and
/// any frame after a hole (a number skipped) is a keyframe: a frame that
/// depends on a lost one must not be delivered. Returns the holes, as
/// (last frame before, first frame after).
fn check_order(got: &[Got]) -> Vec<(u32, u32)> {
    let mut holes = Vec::new();
    for w in got.windows(2) {
        let (prev, next) = (w[0], w[1]);
        assert!(
            next.n > prev.n,
            "frame {} delivered after frame {}: out of order or twice",
            next.n,
            prev.n
        );
        if next.n != prev.n + 1 {
            assert!(
                next.key,
                "frame {} delivered after a hole (frames {}..{} missing) but it is not a \
                 keyframe: it depends on a lost frame",
                next.n,
                prev.n + 1,
                next.n
            );
            holes.push((prev.n, next.n));
        }
    }
    holes
}

// ---------------------------------------------------------------- the call

/// A connected pair with one video track from A to B.
struct Call {
    peers: Peers,
    /// A's sender of the track.
    sender: RtpSender,
    /// B's receiver of it, from the `track` event.
    receiver: RtpReceiver,
}

/// Makes the peers in the lab, adds a video track on A, negotiates, takes
/// B's `track` event and waits until both sides are connected.
async fn video_call(lab: &Lab, relay: &Arc<Relay>, limit: Duration) -> Call {
    let start = Instant::now();
    let mut peers = Peers::start(lab, relay);
    let stream = MediaStream::with_id("netns");
    let sender = peers
        .a
        .add_track(&MediaStreamTrack::new(MediaKind::Video, "cam"), &[&stream])
        .await
        .expect("addTrack");
    negotiate(&peers.a, &peers.b, &peers.gate).await;
    let receiver = tokio::time::timeout(limit, async {
        while let Some(ev) = peers.b_events.recv().await {
            if let PeerConnectionEvent::Track(t) = ev {
                return Some(t.receiver);
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
    .unwrap_or_else(|| panic!("no track event on B within {limit:?}"));
    let codec = receiver.get_parameters().codecs[0]
        .name
        .to_ascii_uppercase();
    assert_eq!(codec, "VP8", "the frames are VP8-like: VP8 must be sent");
    let connected = |side| {
        move |s: &[netns_common::Seen]| {
            saw(s, side, |w| {
                matches!(w, Observed::Connection(PeerConnectionState::Connected))
            })
        }
    };
    let up = peers
        .timeline
        .wait_for(start, limit, |s| {
            connected(Side::A)(s) && connected(Side::B)(s)
        })
        .await;
    if !up {
        peers.timeline.print();
    }
    assert!(up, "both sides should be connected within {limit:?}");
    println!("connected in {:.2} s", start.elapsed().as_secs_f64());
    Call {
        peers,
        sender,
        receiver,
    }
}

/// What the sending application did.
#[derive(Debug, Default)]
struct Written {
    /// When each frame was written, by number.
    at: Vec<Instant>,
    /// The keyframes written (frame 0 and those answering a request).
    keyframes: Vec<u32>,
    /// When each keyframe request came.
    requests: Vec<Instant>,
}

/// The sending application: writes frames `0..count` every 33 ms, frame 0
/// a keyframe and the next one after each keyframe request
/// ([`RtpSenderEvent::KeyframeRequest`]) also; `at_frame(n)` runs just
/// before frame `n` is written (where a test changes the path).
fn spawn_writer(
    sender: &RtpSender,
    count: u32,
    at_frame: impl Fn(u32) + Send + 'static,
) -> (Arc<Mutex<Written>>, tokio::task::JoinHandle<()>) {
    let written = Arc::new(Mutex::new(Written::default()));
    let (requests_tx, mut requests) = mpsc::unbounded_channel();
    let events = sender.clone();
    let log = Arc::clone(&written);
    tokio::spawn(async move {
        while let Some(ev) = events.next_event().await {
            if ev == RtpSenderEvent::KeyframeRequest {
                log.lock().expect("log").requests.push(Instant::now());
                let _ = requests_tx.send(());
            }
        }
    });
    let sender = sender.clone();
    let log = Arc::clone(&written);
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(FRAME_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        for n in 0..count {
            tick.tick().await;
            at_frame(n);
            let mut key = n == 0;
            while requests.try_recv().is_ok() {
                key = true;
            }
            sender
                .write_frame(frame(n, key), FRAME_INTERVAL)
                .unwrap_or_else(|e| panic!("write_frame {n}: {e}"));
            let mut w = log.lock().expect("log");
            w.at.push(Instant::now());
            if key {
                w.keyframes.push(n);
            }
        }
    });
    (written, task)
}

/// The receiving application: reads frames until frame `last` (or a later
/// one) arrives, checking each; fails if none comes for `limit`.
async fn read_until(receiver: &RtpReceiver, last: u32, limit: Duration) -> Vec<Got> {
    let mut got: Vec<Got> = Vec::new();
    while got.last().is_none_or(|g| g.n < last) {
        let f = tokio::time::timeout(limit, receiver.recv_frame())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "no frame for {limit:?} after frame {:?}",
                    got.last().map(|g| g.n)
                )
            })
            .expect("the receiver ended");
        let (n, key) = check_frame(&f);
        got.push(Got {
            n,
            key,
            at: Instant::now(),
        });
    }
    got
}

/// The figures of a receiver's `inbound-rtp` stats these tests read
/// (ferrtc does not export the type of the stats object itself); some
/// are only printed.
#[derive(Debug, Clone, Copy)]
#[allow(dead_code)]
struct Inbound {
    packets_received: u64,
    packets_lost: i64,
    packets_discarded: u64,
    nack_count: u64,
    pli_count: u64,
    retransmitted_packets_received: u64,
    frames_received: u64,
}

/// The `inbound-rtp` object of a receiver's `getStats()`.
async fn inbound(receiver: &RtpReceiver) -> Inbound {
    let report = receiver.get_stats().await.expect("receiver getStats");
    report
        .stats
        .values()
        .find_map(|s| match s {
            Stats::InboundRtp(s) => Some(Inbound {
                packets_received: s.packets_received,
                packets_lost: s.packets_lost,
                packets_discarded: s.packets_discarded,
                nack_count: s.nack_count,
                pli_count: s.pli_count,
                retransmitted_packets_received: s.retransmitted_packets_received,
                frames_received: s.frames_received,
            }),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no inbound-rtp in {}", report.to_json()))
}

/// The figures of a sender's `outbound-rtp` stats these tests read; some
/// are only printed.
#[derive(Debug, Clone, Copy)]
#[allow(dead_code)]
struct Outbound {
    packets_sent: u64,
    retransmitted_packets_sent: u64,
    frames_sent: u64,
    key_frames_encoded: u64,
    nack_count: u64,
    pli_count: u64,
}

/// The `outbound-rtp` object of a sender's `getStats()`.
async fn outbound(sender: &RtpSender) -> Outbound {
    let report = sender.get_stats().await.expect("sender getStats");
    report
        .stats
        .values()
        .find_map(|s| match s {
            Stats::OutboundRtp(s) => Some(Outbound {
                packets_sent: s.packets_sent,
                retransmitted_packets_sent: s.retransmitted_packets_sent,
                frames_sent: s.frames_sent,
                key_frames_encoded: s.key_frames_encoded,
                nack_count: s.nack_count,
                pli_count: s.pli_count,
            }),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no outbound-rtp in {}", report.to_json()))
}

/// Seconds from `from` to `to`.
fn secs(from: Instant, to: Instant) -> f64 {
    to.saturating_duration_since(from).as_secs_f64()
}

/// Prints the figures of a test's end.
fn print_stats(lab: &Lab, relay: &Relay, rx: &Inbound, tx: &Outbound) {
    println!(
        "kernel: receive buffers overflowed (A, middle, B) {:?} times; relay forwarded {} \
         datagrams",
        lab.udp_receive_buffer_errors(),
        relay.stats.forwarded.load(Ordering::Relaxed)
    );
    println!("receiver inbound-rtp: {rx:?}");
    println!("sender outbound-rtp: {tx:?}");
}

// ---------------------------------------------------------------- tests

/// 5 % kernel loss each way (RTP, RTX and RTCP alike) and 20 ms one-way
/// delay: NACK and RTX repair every lost packet in time, so all 300
/// frames (10 s of 30 fps video) arrive whole, in order, none skipped,
/// each within a second of being written. The receiver's stats show the
/// NACKs it sent and as many retransmissions received as original packets
/// lost; the sender's, the NACKs it got and the packets it resent.
///
/// A few frames follow the 300: a receiver learns of a lost packet from
/// the next one (RFC 4585 §6.2.1), so the loss of the very last packets
/// sent cannot be repaired by NACK, and the last of the 300 must not be
/// the last sent (it was: a CI run waited 5 s for it in vain).
#[tokio::test(flavor = "current_thread")]
async fn nack_and_rtx_repair_video_through_real_kernel_loss() {
    if !interop_enabled() {
        return;
    }
    const COUNT: u32 = 300;
    const TAIL: u32 = 3;
    let lab = Lab::new("nack");
    lab.one_datagram_per_packet();
    lab.drop_udp_randomly(5);
    let relay = Relay::start(
        &lab,
        Impairment {
            delay: Duration::from_millis(20),
            reorder_percent: 0,
            extra: Duration::ZERO,
            seed: 10,
        },
    );
    // The handshake faces the loss too.
    let call = video_call(&lab, &relay, Duration::from_secs(30)).await;
    let dropped_before = lab.dropped_by_kernel();
    let start = Instant::now();
    let (written, writer) = spawn_writer(&call.sender, COUNT + TAIL, |_| {});
    let got = read_until(&call.receiver, COUNT - 1, Duration::from_secs(5)).await;
    let secs_taken = start.elapsed().as_secs_f64();
    writer.await.expect("writer");
    // The tail but its last frame (whose last packets may be lost unseen),
    // then time for that frame's repairs: the counts below are settled.
    read_until(&call.receiver, COUNT + TAIL - 2, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let holes = check_order(&got);
    assert_eq!(holes, [], "frames lost although NACK could repair them");
    assert_eq!(got.len(), COUNT as usize, "every frame, once");
    assert_eq!(got[0].n, 0);
    let written = std::mem::take(&mut *written.lock().expect("log"));
    let latency: Vec<Duration> = got
        .iter()
        .map(|g| g.at.saturating_duration_since(written.at[g.n as usize]))
        .collect();
    let worst = latency.iter().max().copied().unwrap_or_default();
    let mut sorted = latency.clone();
    sorted.sort();
    let median = sorted[sorted.len() / 2];

    let rx = inbound(&call.receiver).await;
    let tx = outbound(&call.sender).await;
    let dropped = lab.dropped_by_kernel();
    println!(
        "{COUNT} frames in {secs_taken:.1} s, all whole and in order; latency median \
         {:.0} ms, worst {:.0} ms; nft dropped {} datagrams during the media",
        median.as_secs_f64() * 1000.0,
        worst.as_secs_f64() * 1000.0,
        dropped - dropped_before
    );
    print_stats(&lab, &relay, &rx, &tx);
    println!(
        "keyframes written: {:?}; keyframe requests: {}",
        written.keyframes,
        written.requests.len()
    );

    assert!(
        dropped > dropped_before,
        "the kernel dropped nothing during the media: no loss was tested"
    );
    // Original packets lost (RFC 3550 A.3 counts originals only: RTX
    // packets are not in the count of received) ...
    assert!(
        rx.packets_lost > 0,
        "no RTP packet was lost on the way: nothing to repair"
    );
    // ... each repaired by a retransmission, asked for by a NACK.
    assert!(rx.nack_count > 0, "the receiver sent no NACK");
    assert!(
        rx.retransmitted_packets_received >= rx.packets_lost.unsigned_abs(),
        "{} originals lost but only {} retransmissions received: frames could not be whole",
        rx.packets_lost,
        rx.retransmitted_packets_received
    );
    assert!(tx.nack_count > 0, "the sender got no NACK");
    assert!(
        tx.nack_count <= rx.nack_count,
        "the sender got more NACKs than the receiver sent"
    );
    assert!(
        tx.retransmitted_packets_sent >= rx.retransmitted_packets_received,
        "more retransmissions received than sent"
    );
    assert_eq!(tx.frames_sent, u64::from(COUNT + TAIL));
    assert!(rx.frames_received >= u64::from(COUNT + TAIL - 1));
    assert!(
        worst < Duration::from_secs(1),
        "a frame took {worst:?}: repair should take a few round trips"
    );
    call.peers.a.close().await;
    call.peers.b.close().await;
}

/// The path is cut (every UDP datagram dropped in the middle namespace)
/// for 1.5 s in the middle of the stream, longer than the sender's 1 s
/// history: the first frames of the cut are lost beyond what NACK can
/// repair. After the path comes back the receiver gives them up, delivers
/// nothing that depends on them, and asks for a keyframe (PLI); the
/// sending application gets `KeyframeRequest` and makes its next frame a
/// keyframe. Delivered: every frame before the cut, then, after one hole,
/// that keyframe first and every frame after it, in order and whole.
#[tokio::test(flavor = "current_thread")]
async fn a_burst_of_loss_brings_a_pli_and_the_stream_recovers_on_a_keyframe() {
    if !interop_enabled() {
        return;
    }
    /// The first frame written while the path is cut (2 s into the stream).
    const CUT_FRAME: u32 = 60;
    /// The first frame written after it is restored: 46 frames, 1.52 s.
    const RESTORE_FRAME: u32 = CUT_FRAME + 46;
    const COUNT: u32 = RESTORE_FRAME + 90;
    let lab = Arc::new(Lab::new("pli"));
    lab.one_datagram_per_packet();
    let relay = Relay::start(
        &lab,
        Impairment {
            delay: Duration::from_millis(20),
            reorder_percent: 0,
            extra: Duration::ZERO,
            seed: 11,
        },
    );
    let call = video_call(&lab, &relay, Duration::from_secs(20)).await;
    // [cut, restored]
    let path: Arc<Mutex<Option<(Instant, Instant, u64)>>> = Arc::default();
    let cut_at = Arc::new(Mutex::new(None));
    let (path_log, cut_log, path_lab) = (Arc::clone(&path), Arc::clone(&cut_at), Arc::clone(&lab));
    let (written, writer) = spawn_writer(&call.sender, COUNT, move |n| {
        if n == CUT_FRAME {
            path_lab.block_udp();
            *cut_log.lock().expect("path") = Some(Instant::now());
        } else if n == RESTORE_FRAME {
            let dropped = path_lab.unblock_udp();
            let cut = cut_log.lock().expect("path").expect("cut before restored");
            *path_log.lock().expect("path") = Some((cut, Instant::now(), dropped));
        }
    });
    let got = read_until(&call.receiver, COUNT - 1, Duration::from_secs(5)).await;
    writer.await.expect("writer");
    let written = std::mem::take(&mut *written.lock().expect("log"));
    let Some((cut_at, restored_at, blocked)) = *path.lock().expect("path") else {
        panic!("the path was not cut and restored");
    };

    let holes = check_order(&got);
    let rx = inbound(&call.receiver).await;
    let tx = outbound(&call.sender).await;
    print_stats(&lab, &relay, &rx, &tx);
    println!(
        "path cut at frame {CUT_FRAME} for {:.2} s (nft dropped {blocked} datagrams); keyframe requests {:?} s after it came \
         back; keyframes written {:?}; holes in what was delivered {holes:?}",
        secs(cut_at, restored_at),
        written
            .requests
            .iter()
            .map(|t| (secs(restored_at, *t) * 1000.0).round() / 1000.0)
            .collect::<Vec<_>>(),
        written.keyframes
    );

    assert_eq!(got[0].n, 0, "the stream starts at frame 0");
    let [(before, after)] = holes[..] else {
        panic!("one hole expected, where the path was cut: {holes:?}");
    };
    assert_eq!(
        before,
        CUT_FRAME - 1,
        "every frame written before the cut arrives, and none written in the unrepairable \
         start of the cut"
    );
    assert!(
        !written.requests.is_empty(),
        "the sender got no keyframe request"
    );
    assert!(
        written.requests.iter().any(|t| *t >= restored_at),
        "no keyframe request came after the path was restored"
    );
    assert!(
        after >= RESTORE_FRAME && written.keyframes.contains(&after),
        "the first frame after the hole ({after}) must be a keyframe written in answer to a \
         request, after the path came back (frame {RESTORE_FRAME} on)"
    );
    assert_eq!(
        got.last().map(|g| g.n),
        Some(COUNT - 1),
        "every frame from the keyframe on"
    );
    let recovered = got
        .iter()
        .find(|g| g.n == after)
        .map(|g| secs(restored_at, g.at))
        .unwrap_or_default();
    println!(
        "{} frames delivered of {COUNT}; the keyframe {after} was delivered {recovered:.2} s \
         after the path came back",
        got.len()
    );
    assert!(
        recovered < 3.0,
        "the stream took {recovered:.2} s to recover: the PLI should come within a second"
    );
    assert!(rx.pli_count >= 1, "the receiver sent no PLI");
    assert!(tx.pli_count >= 1, "the sender got no PLI");
    assert!(rx.nack_count >= 1, "the receiver did not NACK the hole");
    assert_eq!(
        tx.key_frames_encoded,
        written.keyframes.len() as u64,
        "keyFramesEncoded counts the keyframes written"
    );
    call.peers.a.close().await;
    call.peers.b.close().await;
}
