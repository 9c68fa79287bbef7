//! DTMF of a sender (W3C webrtc-pc §7 `RTCDTMFSender`): the tone buffer and
//! playout of `ferrtc-rtp`'s [`DtmfSender`], its RFC 4733 packets put on
//! the audio stream's RTP clock.
//!
//! Timestamps (RFC 4733 §2.5.1.2): an event's RTP timestamp is where the
//! audio stream's media clock stands when the tone starts (the timestamp
//! the next audio frame would carry), every packet of the event repeats it
//! (a segment of a long event adds 0xFFFF per segment, §2.5.1.3), and once
//! the event ends the audio clock moves past the event's end, so audio
//! written after a tone never carries a timestamp inside it. While a tone
//! plays, the tone replaces the audio: frames written then are not sent
//! (the session mutes them; their duration still moves the clock on).

use std::time::Instant;

use ferrtc_rtp::dtmf::{DtmfPacket, DtmfSender, DtmfSenderConfig};

/// The `RTCDTMFSender` of one audio transceiver, made at its first
/// `insert_dtmf`.
#[derive(Debug)]
pub(crate) struct ToneSender {
    /// The W3C tone buffer and playout, producing RFC 4733 packets.
    pub engine: DtmfSender,
    /// The telephone-event clock rate the engine counts in (the audio
    /// codec's).
    clock_rate: u32,
    /// RTP timestamp minus the engine's offset, for the event being sent:
    /// set by the event's first packet.
    base: u32,
    /// Whether an event set `base` yet.
    has_base: bool,
    /// The RTP timestamp where the last event sent ends (so far): audio
    /// clock past it means audio was written since.
    end: u32,
}

impl ToneSender {
    /// A DTMF sender counting in `clock_rate` units from `now`.
    pub fn new(clock_rate: u32, now: Instant) -> Self {
        let config = DtmfSenderConfig {
            clock_rate,
            ..DtmfSenderConfig::default()
        };
        Self {
            engine: DtmfSender::new(config, now),
            clock_rate,
            base: 0,
            has_base: false,
            end: 0,
        }
    }

    /// The clock rate of its packets.
    pub fn clock_rate(&self) -> u32 {
        self.clock_rate
    }

    /// The next packet due by `now` and its RTP timestamp. `audio_clock`
    /// is the timestamp the audio stream's next frame would carry: the
    /// first packet of an event (the marker, RFC 4733 §2.5.1.2) takes it,
    /// and the event's later packets and segments count from there.
    ///
    /// When no audio is written (a track that only carries tones), the
    /// audio clock stands still between events; the event then starts
    /// where the engine's own clock puts it after the previous one, so the
    /// gaps and `,` pauses between tones keep their length on the RTP
    /// timeline (RFC 4733 §2.5.1.2: the timestamp is the event's start).
    /// Once audio was written past the previous event, the audio clock
    /// alone says where the event starts, even when it runs behind the
    /// wall clock.
    pub fn poll_packet(&mut self, now: Instant, audio_clock: u32) -> Option<(DtmfPacket, u32)> {
        let p = self.engine.poll_packet(now)?;
        if p.marker {
            let mut start = audio_clock;
            let audio_written = ahead_of(audio_clock, self.end);
            if self.has_base && !audio_written {
                let by_time = self.base.wrapping_add(p.timestamp_offset);
                if ahead_of(by_time, audio_clock) {
                    start = by_time;
                }
            }
            self.base = start.wrapping_sub(p.timestamp_offset);
            self.has_base = true;
        }
        let timestamp = self.base.wrapping_add(p.timestamp_offset);
        // RFC 4733 §2.3.5: the duration counts from the timestamp.
        self.end = timestamp.wrapping_add(u32::from(p.event.duration));
        Some((p, timestamp))
    }
}

/// `a` is after `b` in RTP timestamp order (within half the range).
fn ahead_of(a: u32, b: u32) -> bool {
    let d = a.wrapping_sub(b);
    d != 0 && d < 0x8000_0000
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::ToneSender;

    /// Runs `d` to `until`, returning the (marker, RTP timestamp) of its
    /// packets; the audio clock stays at `audio` (nothing written).
    fn run(d: &mut ToneSender, start: Instant, until: Duration, audio: u32) -> Vec<(bool, u32)> {
        let mut out = Vec::new();
        let mut now = start;
        while now <= start + until {
            d.engine.handle_timeout(now);
            while let Some((p, ts)) = d.poll_packet(now, audio) {
                out.push((p.marker, ts));
            }
            now += Duration::from_millis(5);
        }
        out
    }

    /// With audio written, an event starts where the audio stands (the
    /// timestamp its next frame would carry), however the audio clock
    /// drifts from the wall clock: here 20 ms frames come every 21 ms, so
    /// after 10 s the audio is half a second behind wall time, and the
    /// second event must not start half a second ahead of it.
    #[test]
    fn with_audio_written_every_event_starts_at_the_audio_clock() {
        let start = Instant::now();
        let mut d = ToneSender::new(48_000, start);
        d.engine.set_can_insert_dtmf(true);
        let mut audio: u32 = 7_000;
        let mut starts = Vec::new();
        let mut now = start;
        for frame in 0..600u32 {
            if frame == 0 || frame == 500 {
                d.engine.insert_dtmf("1", 100, 70).unwrap();
            }
            d.engine.handle_timeout(now);
            while let Some((p, ts)) = d.poll_packet(now, audio) {
                if p.marker {
                    starts.push((ts, audio));
                }
                if p.is_end {
                    // As the session does: audio after the event starts
                    // past its end.
                    let end = ts.wrapping_add(u32::from(p.event.duration));
                    if end.wrapping_sub(audio).wrapping_sub(1) < 0x7fff_ffff {
                        audio = end;
                    }
                }
            }
            // A 20 ms frame (muted or sent, the clock moves on).
            audio = audio.wrapping_add(960);
            now += Duration::from_millis(21);
        }
        assert_eq!(starts.len(), 2, "{starts:?}");
        for (ts, at) in starts {
            assert_eq!(ts, at, "the event starts at the audio clock");
        }
    }

    #[test]
    fn without_audio_the_pause_between_tones_stays_on_the_rtp_timeline() {
        let start = Instant::now();
        let mut d = ToneSender::new(48_000, start);
        d.engine.set_can_insert_dtmf(true);
        d.engine.insert_dtmf("1,1", 100, 70).unwrap();
        let packets = run(&mut d, start, Duration::from_secs(4), 1_000);
        let starts: Vec<u32> = packets.iter().filter(|p| p.0).map(|p| p.1).collect();
        assert_eq!(starts.len(), 2, "{packets:?}");
        assert_eq!(
            starts[0], 1_000,
            "the first event starts at the audio clock"
        );
        // '1' (100 ms), a 70 ms gap, the ',' pause (2 s, W3C: no gap after
        // it): the second '1' starts 2.17 s later, not 100 ms later where
        // the first one ended.
        let between = starts[1].wrapping_sub(starts[0]);
        let want = 48 * 2_170;
        assert!(
            between.abs_diff(want) <= 48 * 10,
            "events {between} ticks apart, want about {want}"
        );
    }
}
