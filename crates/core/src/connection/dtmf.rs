//! DTMF: the W3C `RTCDTMFSender` of an audio sender (webrtc-pc §7),
//! `insertDTMF`, `toneBuffer` and `canInsertDTMF`, handed to the media
//! session, which sends the tones as RFC 4733 telephone events on the
//! sender's stream. Its `tonechange` is [`crate::Event::DtmfToneChange`];
//! tones the peer sends arrive as [`crate::Event::DtmfReceived`].

use std::time::{Duration, Instant};

use ferrtc_jsep::TransceiverId;
use ferrtc_sdp::{Direction, MediaKind};

use super::PeerConnection;
use crate::PeerConnectionState;
use crate::error::Error;
use crate::media::MediaError;

impl PeerConnection {
    /// `sender.dtmf.insertDTMF(tones, duration, interToneGap)` (W3C
    /// webrtc-pc §7.2): replaces the sender's tone buffer with `tones`
    /// (`0`-`9`, `A`-`D`, `#`, `*`, either case, and `,` for a 2 s pause)
    /// and plays them as RFC 4733 telephone events on the sender's SSRC,
    /// with the negotiated telephone-event payload type at the audio
    /// codec's clock rate (48000 Hz for Opus). `duration` is clamped to
    /// 40..=6000 ms and `inter_tone_gap` to 30..=6000 ms. Each tone fires
    /// [`crate::Event::DtmfToneChange`] as it starts, and an empty one ends
    /// the buffer. An empty `tones` clears the buffer (a tone playing ends
    /// as it would). While a tone plays, frames written on the sender are
    /// not sent (the tone replaces the audio; their duration still moves
    /// the RTP clock on), and audio after it continues past the event's
    /// timestamps (RFC 4733 §2.5.1.2).
    ///
    /// Fails with an `InvalidStateError` when the transceiver is stopped,
    /// the connection is not `connected`, its `currentDirection` does not send, it is not audio, its sender
    /// has no track (`replace_track(None)`), its first
    /// encoding is inactive, or no telephone-event was negotiated at its
    /// codec's clock rate (W3C `canInsertDTMF` false); with an
    /// `InvalidCharacterError` ([`Error::InvalidCharacter`]) for a character
    /// that is not a tone (its cause is [`MediaError::Dtmf`] with
    /// [`ferrtc_rtp::dtmf::DtmfError::InvalidCharacterError`]); with an
    /// `InvalidAccessError` for a transceiver of another connection.
    pub fn insert_dtmf(
        &mut self,
        now: Instant,
        sender: TransceiverId,
        tones: &str,
        duration: Duration,
        inter_tone_gap: Duration,
    ) -> Result<(), Error> {
        self.check_open()?;
        self.check_can_insert_dtmf(sender)?;
        let wall = self.wall_clock(now);
        Ok(self.media.insert_dtmf(
            now,
            wall,
            sender,
            tones,
            millis(duration),
            millis(inter_tone_gap),
        )?)
    }

    /// `sender.dtmf.toneBuffer` (W3C webrtc-pc §7.2): the tones still to
    /// play, uppercased; empty for a sender that never inserted DTMF (and
    /// for a video sender, which has no `RTCDTMFSender`). Fails with an
    /// `InvalidAccessError` for a transceiver of another connection.
    pub fn dtmf_tone_buffer(&self, sender: TransceiverId) -> Result<String, Error> {
        self.transceiver(sender)?;
        Ok(self.media.tone_buffer(sender))
    }

    /// `sender.dtmf.canInsertDTMF` (W3C webrtc-pc §7.2): whether
    /// [`insert_dtmf`](Self::insert_dtmf) would accept tones now: a
    /// `connected` connection, an audio transceiver, not stopped, whose
    /// `currentDirection` sends, whose
    /// sender has a track, whose first encoding is active (webrtc-pc §7.2 "determine if DTMF can be
    /// sent"; while inactive no telephone event leaves either), with a
    /// telephone-event negotiated at its codec's clock rate. Fails with an
    /// `InvalidAccessError` for a transceiver of another connection.
    pub fn can_insert_dtmf(&self, sender: TransceiverId) -> Result<bool, Error> {
        self.transceiver(sender)?;
        Ok(self.check_can_insert_dtmf(sender).is_ok())
    }

    /// webrtc-pc §7.2 insertDTMF steps 2-3 (and `canInsertDTMF`).
    fn check_can_insert_dtmf(&self, sender: TransceiverId) -> Result<(), Error> {
        let t = self.transceiver(sender)?;
        if t.is_stopped() {
            return Err(MediaError::Stopped(sender).into());
        }
        if t.kind() != &MediaKind::Audio {
            return Err(MediaError::NotSending(sender, "not audio: no RTCDTMFSender").into());
        }
        // "Determine if DTMF can be sent", step 4: only a `connected`
        // connection can (not one `disconnected` or `failed`, whose SRTP
        // keys are still there).
        if self.state != PeerConnectionState::Connected {
            return Err(MediaError::NotSending(sender, "the connection is not connected").into());
        }
        // "Determine if DTMF can be sent", step 5: a sender without a
        // track (`replaceTrack(null)`) cannot.
        if t.init().track_id.is_none() {
            return Err(MediaError::NotSending(sender, "the sender has no track").into());
        }
        if !matches!(
            t.current_direction(),
            Some(Direction::SendRecv | Direction::SendOnly)
        ) {
            return Err(MediaError::NotSending(sender, "currentDirection does not send").into());
        }
        if !self.media.can_insert_dtmf(sender) {
            return Err(MediaError::NotSending(
                sender,
                "no telephone-event negotiated at the audio codec's clock rate, \
                 the first encoding is inactive, or DTLS has not keyed SRTP yet",
            )
            .into());
        }
        Ok(())
    }
}

/// Whole milliseconds, saturating (the engine clamps them).
fn millis(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}
