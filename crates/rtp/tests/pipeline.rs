//! The receive pipeline end to end, for every codec: packetizer, a lossy and
//! reordering path, NACK from the receiver, answers from the send history as
//! RTX, the jitter buffer and the depacketizer. With repair every frame
//! comes out intact and in order; without it the buffer gives the losses up,
//! asks for a keyframe, and what it does release is intact.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ferrtc_rtp::codec::{Codec, PacketizationMode, Packetizer};
use ferrtc_rtp::jitter::{JitterBuffer, JitterConfig, JitterEvent};
use ferrtc_rtp::repair::{
    HistoryConfig, KeyframeMethod, KeyframeRequester, NackConfig, NackGenerator, SendHistory,
    unwrap_rtx, wrap_rtx,
};
use ferrtc_rtp::report::ReceiveStats;
use ferrtc_rtp::rtcp::{self, Nack, RtcpPacket};
use ferrtc_rtp::{Extensions, PayloadType, RtpPacket};

const MS: Duration = Duration::from_millis(1);
const SSRC: u32 = 0x1111;
const RTX_SSRC: u32 = 0x2222;
const MTU: usize = 1100;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn body(&mut self, len: usize) -> Vec<u8> {
        // No zero bytes, so H.264 bodies never hold a start code.
        (0..len).map(|_| (self.next() % 255 + 1) as u8).collect()
    }
}

fn obu(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut o = vec![kind << 3 | 0x02];
    let mut n = payload.len();
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            o.push(b);
            break;
        }
        o.push(b | 0x80);
    }
    o.extend_from_slice(payload);
    o
}

/// A frame of `codec`, a keyframe when `key`, as its depacketizer writes it.
fn frame(codec: Codec, key: bool, rng: &mut Rng) -> Vec<u8> {
    let size = 200 + (rng.next() % 4000) as usize;
    match codec {
        Codec::Opus => rng.body(80),
        Codec::Pcmu | Codec::Pcma => rng.body(160),
        Codec::Vp8 => [vec![if key { 0x10 } else { 0x11 }], rng.body(size)].concat(),
        Codec::Vp9 => [vec![if key { 0x80 } else { 0x84 }], rng.body(size)].concat(),
        Codec::H264(mode) => {
            let start = [0, 0, 0, 1];
            // NAL units fit the MTU in mode 0, which cannot fragment.
            let size = if mode == PacketizationMode::SingleNal {
                size.min(MTU - 12 - 2)
            } else {
                size
            };
            let slice = if key {
                vec![0x65, 0x88]
            } else {
                vec![0x41, 0x9a]
            };
            let mut f = Vec::new();
            if key {
                f.extend(start.iter().chain(&[0x67, 0x42, 0x00, 0x1f][..]));
                f.extend(start.iter().chain(&[0x68, 0xce, 0x3c, 0x80][..]));
            }
            f.extend(start.iter().chain(&slice));
            f.extend(rng.body(size));
            f
        }
        Codec::Av1 => {
            let mut f = Vec::new();
            if key {
                f.extend(obu(1, &rng.body(12)));
            }
            f.extend(obu(6, &rng.body(size)));
            f
        }
    }
}

struct Run {
    frames_out: Vec<(u32, Vec<u8>)>,
    keyframe_requests: usize,
    plis_answered: usize,
    dropped: usize,
    nacks_sent: usize,
    retransmitted: usize,
    cumulative_lost: i32,
}

/// Sends frames of `codec` (the first `count` checked, more after them until
/// a second before the end) over a path that drops `loss` percent of
/// packets (both ways) and delays each by 20-35 ms (so packets overtake
/// each other), with NACK/RTX repair when `repair` is set.
fn run(
    codec: Codec,
    count: usize,
    loss: u64,
    repair: bool,
    seed: u64,
) -> (Vec<(u32, Vec<u8>)>, Run) {
    let mut rng = Rng(seed);
    let t0 = Instant::now();
    let pt = PayloadType::new(96).unwrap();
    let rtx_pt = PayloadType::new(97).unwrap();
    let interval = if codec.is_video() { 33 * MS } else { 20 * MS };
    let clock: u32 = if codec.is_video() { 90_000 } else { 48_000 };
    let step = (u128::from(clock) * interval.as_millis() / 1000) as u32;

    let mut packetizer = Packetizer::new(codec, pt, SSRC, 40_000u16.wrapping_add(seed as u16));
    let mut history = SendHistory::new(HistoryConfig::default());
    let mut nacks = NackGenerator::new(NackConfig::default());
    let config = JitterConfig {
        // Without NACK there is nothing to wait for beyond reordering.
        max_wait: Duration::from_millis(if repair { 400 } else { 60 }),
        ..if codec.is_video() {
            JitterConfig::VIDEO
        } else {
            JitterConfig::AUDIO
        }
    };
    let mut jitter = JitterBuffer::new(config, codec.depacketizer());
    let mut stats = ReceiveStats::new(SSRC, clock);
    let mut keyframes = KeyframeRequester::new(KeyframeMethod::Pli, 9, SSRC);
    let mut force_keyframe = false;
    // In flight: arrival time -> datagrams (to the receiver: true).
    let mut path: BTreeMap<(Instant, u64), (bool, Vec<u8>)> = BTreeMap::new();
    let mut id = 0u64;
    let mut send =
        |path: &mut BTreeMap<_, _>, rng: &mut Rng, now: Instant, forward: bool, bytes: Vec<u8>| {
            id += 1;
            if !rng.chance(loss) {
                let delay = MS * (20 + (rng.next() % 16) as u32);
                path.insert((now + delay, id), (forward, bytes));
            }
        };

    let mut sent_frames = Vec::new();
    let mut out = Run {
        frames_out: Vec::new(),
        keyframe_requests: 0,
        plis_answered: 0,
        dropped: 0,
        nacks_sent: 0,
        retransmitted: 0,
        cumulative_lost: 0,
    };
    let (mut rtx_seq, mut ts) = (7u16, 1u32);
    let end = t0 + interval * count as u32 + Duration::from_secs(3);
    // The checked frames are sent by then, plus time for their repair.
    let checked_until = t0 + interval * count as u32 + Duration::from_secs(1);
    let mut now = t0;
    let mut next_frame = t0;
    while now < end {
        // The sender: one frame per interval, a keyframe every 30.
        // The stream goes on after the frames checked, as a real one does: a
        // lost last packet is only noticed when a later one arrives.
        if now + Duration::from_secs(1) < end && now >= next_frame {
            let key = sent_frames.len() % 30 == 0 || std::mem::take(&mut force_keyframe);
            let f = frame(codec, key, &mut rng);
            for bytes in packetizer
                .packetize(MTU, ts, &f, &Extensions::new())
                .unwrap()
            {
                let seq = RtpPacket::parse(&bytes).unwrap().sequence_number;
                history.insert(now, seq, bytes.clone().into());
                send(&mut path, &mut rng, now, true, bytes);
            }
            sent_frames.push((ts, f));
            ts = ts.wrapping_add(step);
            next_frame += interval;
        }
        // Deliveries due now.
        while let Some(entry) = path.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let (forward, bytes) = entry.remove();
            if forward {
                let p = RtpPacket::parse(&bytes).unwrap();
                let rtx = p.ssrc == RTX_SSRC;
                let p = if rtx {
                    unwrap_rtx(&p, SSRC, pt).unwrap()
                } else {
                    p
                };
                if p.payload_type == pt && p.ssrc == SSRC {
                    nacks.on_packet(now, p.sequence_number);
                    // The original stream's statistics count its own packets.
                    if !rtx {
                        stats.on_packet(now, p.sequence_number, p.timestamp);
                    }
                    jitter.insert(now, &p);
                }
            } else {
                for packet in rtcp::parse(&bytes).unwrap() {
                    if let RtcpPacket::Pli(_) = packet {
                        // The encoder makes its next frame a keyframe.
                        force_keyframe = true;
                        out.plis_answered += 1;
                    }
                    let RtcpPacket::Nack(n) = packet else {
                        continue;
                    };
                    for s in n.sequences() {
                        let Some(original) = history.resend(now, s, 40 * MS).map(|p| p.to_vec())
                        else {
                            continue;
                        };
                        let original = RtpPacket::parse(&original).unwrap();
                        let mut buf = vec![0; 1500];
                        let len = wrap_rtx(&original, RTX_SSRC, rtx_pt, rtx_seq, &mut buf).unwrap();
                        rtx_seq = rtx_seq.wrapping_add(1);
                        out.retransmitted += 1;
                        send(&mut path, &mut rng, now, true, buf[..len].to_vec());
                    }
                }
            }
        }
        // The receiver: NACKs, timeouts, frames.
        if repair {
            let lost = nacks.poll_nack(now, 40 * MS);
            if !lost.is_empty() {
                out.nacks_sent += 1;
                let bytes = RtcpPacket::Nack(Nack::from_sequences(9, SSRC, &lost))
                    .to_vec()
                    .unwrap();
                send(&mut path, &mut rng, now, false, bytes);
            }
        }
        if let Some(pli) = keyframes.poll_request(now, 100 * MS) {
            send(&mut path, &mut rng, now, false, pli.to_vec().unwrap());
        }
        if jitter.poll_timeout().is_some_and(|t| t <= now) {
            jitter.handle_timeout(now);
        }
        while let Some(e) = jitter.poll_event() {
            match e {
                JitterEvent::Frame(f) => {
                    if f.keyframe {
                        keyframes.keyframe_received();
                    }
                    out.frames_out.push((f.timestamp, f.data))
                }
                JitterEvent::Dropped { first, last } => {
                    // Only the frames checked count; the tail is cut off.
                    if now < checked_until {
                        eprintln!("{codec:?}: dropped {first}..={last} at {:?}", now - t0);
                        out.dropped += 1;
                    }
                }
                JitterEvent::KeyframeNeeded => {
                    keyframes.request();
                    out.keyframe_requests += 1
                }
            }
        }
        now += MS;
    }
    out.cumulative_lost = stats.report_block(now).cumulative_lost;
    (sent_frames, out)
}

#[test]
fn with_nack_and_rtx_every_frame_of_every_codec_arrives_intact_in_order_at_5_percent_loss() {
    for (i, codec) in Codec::ALL.into_iter().enumerate() {
        let (sent, run) = run(codec, 120, 5, true, 1 + i as u64);
        eprintln!(
            "{codec:?}: {} frames, {} NACKs, {} retransmitted, {} lost on the original stream",
            sent.len(),
            run.nacks_sent,
            run.retransmitted,
            run.cumulative_lost
        );
        assert!(
            run.retransmitted > 0 && run.nacks_sent > 0,
            "{codec:?}: nothing was repaired"
        );
        assert_eq!(run.dropped, 0, "{codec:?}");
        assert_eq!(run.keyframe_requests, 0, "{codec:?}");
        assert!(run.frames_out.len() >= 120, "{codec:?}");
        for (k, (got, want)) in run.frames_out.iter().zip(&sent[..120]).enumerate() {
            // Compared without printing frames of kilobytes on a failure.
            assert!(
                got == want,
                "{codec:?}: frame {k} differs ({} vs {} bytes)",
                got.1.len(),
                want.1.len()
            );
        }
    }
}

#[test]
fn without_nack_losses_are_given_up_pli_brings_a_keyframe_and_released_frames_are_intact() {
    for (i, codec) in Codec::ALL.into_iter().enumerate() {
        let (sent, run) = run(codec, 120, 5, false, 100 + i as u64);
        assert!(run.dropped > 0, "{codec:?}: 5% loss dropped nothing");
        assert!(
            run.cumulative_lost > 0,
            "{codec:?}: the receiver statistics saw no loss"
        );
        assert_eq!(run.keyframe_requests > 0, codec.is_video(), "{codec:?}");
        let checked: Vec<u32> = sent[..120].iter().map(|(ts, _)| *ts).collect();
        let received_of_checked = run
            .frames_out
            .iter()
            .filter(|(ts, _)| checked.contains(ts))
            .count();
        assert!(received_of_checked < 120, "{codec:?}");
        if codec.is_video() {
            // PLI brings a keyframe after each loss, long before the next
            // periodic one: most frames still come out.
            assert!(
                run.plis_answered > 0,
                "{codec:?}: no PLI reached the sender"
            );
            eprintln!(
                "{codec:?}: {received_of_checked} of 120 frames without repair, {} PLIs",
                run.plis_answered
            );
            assert!(
                received_of_checked >= 60,
                "{codec:?}: only {received_of_checked} of 120 frames"
            );
        }
        let sent: BTreeMap<u32, &Vec<u8>> = sent.iter().map(|(t, f)| (*t, f)).collect();
        let mut last = None;
        for (ts, data) in &run.frames_out {
            assert!(
                Some(data) == sent.get(ts).copied(),
                "{codec:?}: frame at {ts} damaged"
            );
            assert!(last < Some(*ts), "{codec:?}: frames out of order");
            last = Some(*ts);
        }
    }
}
