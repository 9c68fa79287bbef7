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
    pub fn poll_packet(&mut self, now: Instant, audio_clock: u32) -> Option<(DtmfPacket, u32)> {
        let p = self.engine.poll_packet(now)?;
        if p.marker {
            self.base = audio_clock.wrapping_sub(p.timestamp_offset);
        }
        Some((p, self.base.wrapping_add(p.timestamp_offset)))
    }
}
