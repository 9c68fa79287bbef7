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
    pub fn poll_packet(&mut self, now: Instant, audio_clock: u32) -> Option<(DtmfPacket, u32)> {
        let p = self.engine.poll_packet(now)?;
        if p.marker {
            let mut start = audio_clock;
            if self.has_base {
                let by_time = self.base.wrapping_add(p.timestamp_offset);
                let ahead = by_time.wrapping_sub(audio_clock);
                if ahead != 0 && ahead < 0x8000_0000 {
                    start = by_time;
                }
            }
            self.base = start.wrapping_sub(p.timestamp_offset);
            self.has_base = true;
        }
        Some((p, self.base.wrapping_add(p.timestamp_offset)))
    }
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
