//! Opus (RFC 6716) through libopus at 48 kHz, the rate WebRTC's Opus
//! uses on the wire (RFC 7587 §4.1).
#![allow(unsafe_code)]

use std::ffi::c_int;
use std::ptr::NonNull;

use super::CodecError;
use super::ffi;

/// Opus's sample rate here: 48 kHz.
pub const SAMPLE_RATE: u32 = 48_000;

/// The most samples per channel one packet decodes to: 120 ms at 48 kHz
/// (RFC 6716 §3.2.5).
const MAX_PACKET_SAMPLES: usize = 5760;

/// The largest packet the encoder is given room for (RFC 6716 §3.4 R5
/// bounds a frame to 1275 bytes; a packet of several is bigger).
const MAX_PACKET_BYTES: usize = 4000;

/// Mono or stereo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channels {
    /// One channel.
    Mono = 1,
    /// Two channels, interleaved left then right.
    Stereo = 2,
}

impl Channels {
    /// The number of channels.
    pub fn count(self) -> usize {
        self as usize
    }
}

/// An Opus encoder (application "audio") at 48 kHz.
#[derive(Debug)]
pub struct OpusEncoder {
    raw: NonNull<ffi::OpusEnc>,
    channels: Channels,
}

// SAFETY: the libopus state is used through `&mut self` only and holds no
// thread-local state.
unsafe impl Send for OpusEncoder {}

impl OpusEncoder {
    /// An encoder of `channels` at `bitrate` bit/s (6000..=510000).
    pub fn new(channels: Channels, bitrate: u32) -> Result<OpusEncoder, CodecError> {
        if !(6_000..=510_000).contains(&bitrate) {
            return Err(CodecError::Invalid(
                "Opus bitrate must be 6000..=510000 bit/s",
            ));
        }
        let mut err: c_int = 0;
        // SAFETY: integers in, a valid `err`; NULL or an encoder we own.
        let raw =
            unsafe { ffi::ferrtc_opus_enc_new(channels as c_int, bitrate as c_int, &mut err) };
        let raw = NonNull::new(raw).ok_or_else(|| opus("encoder init", err))?;
        Ok(OpusEncoder { raw, channels })
    }

    /// Encodes one frame of interleaved PCM: 2.5, 5, 10, 20, 40 or 60 ms
    /// (120 to 2880 samples per channel). Returns the packet.
    pub fn encode(&mut self, pcm: &[i16]) -> Result<Vec<u8>, CodecError> {
        let n = self.channels.count();
        let samples = pcm.len() / n;
        if pcm.len() % n != 0 || ![120, 240, 480, 960, 1920, 2880].contains(&samples) {
            return Err(CodecError::Invalid(
                "an Opus frame is 2.5, 5, 10, 20, 40 or 60 ms of whole samples",
            ));
        }
        let mut out = vec![0u8; MAX_PACKET_BYTES];
        // SAFETY: `pcm` holds `samples * channels` samples, `out` has
        // MAX_PACKET_BYTES bytes of room.
        let len = unsafe {
            ffi::ferrtc_opus_enc_encode(
                self.raw.as_ptr(),
                pcm.as_ptr(),
                samples as c_int,
                out.as_mut_ptr(),
                MAX_PACKET_BYTES as c_int,
            )
        };
        let len = usize::try_from(len).map_err(|_| opus("encode", len))?;
        out.truncate(len);
        Ok(out)
    }
}

impl Drop for OpusEncoder {
    fn drop(&mut self) {
        // SAFETY: ours, freed once.
        unsafe { ffi::ferrtc_opus_enc_free(self.raw.as_ptr()) }
    }
}

/// An Opus decoder at 48 kHz.
#[derive(Debug)]
pub struct OpusDecoder {
    raw: NonNull<ffi::OpusDec>,
    channels: Channels,
}

// SAFETY: as for the encoder.
unsafe impl Send for OpusDecoder {}

impl OpusDecoder {
    /// A decoder giving `channels` (a mono packet is decoded to both
    /// channels of a stereo decoder, and the reverse mixes down).
    pub fn new(channels: Channels) -> Result<OpusDecoder, CodecError> {
        let mut err: c_int = 0;
        // SAFETY: as for the encoder.
        let raw = unsafe { ffi::ferrtc_opus_dec_new(channels as c_int, &mut err) };
        let raw = NonNull::new(raw).ok_or_else(|| opus("decoder init", err))?;
        Ok(OpusDecoder { raw, channels })
    }

    /// The channels it decodes to.
    pub fn channels(&self) -> Channels {
        self.channels
    }

    /// Decodes one packet to interleaved PCM. A corrupt packet is an `Err`.
    pub fn decode(&mut self, packet: &[u8]) -> Result<Vec<i16>, CodecError> {
        if packet.is_empty() {
            return Err(CodecError::Invalid("an empty Opus packet"));
        }
        let len = c_int::try_from(packet.len())
            .map_err(|_| CodecError::Invalid("an Opus packet over 2 GiB"))?;
        let mut pcm = vec![0i16; MAX_PACKET_SAMPLES * self.channels.count()];
        // SAFETY: `packet` is valid for `len` bytes; `pcm` has room for
        // MAX_PACKET_SAMPLES samples per channel.
        let samples = unsafe {
            ffi::ferrtc_opus_dec_decode(
                self.raw.as_ptr(),
                packet.as_ptr(),
                len,
                pcm.as_mut_ptr(),
                MAX_PACKET_SAMPLES as c_int,
            )
        };
        let samples = usize::try_from(samples).map_err(|_| opus("decode", samples))?;
        pcm.truncate(samples * self.channels.count());
        Ok(pcm)
    }
}

impl Drop for OpusDecoder {
    fn drop(&mut self) {
        // SAFETY: ours, freed once.
        unsafe { ffi::ferrtc_opus_dec_free(self.raw.as_ptr()) }
    }
}

fn opus(op: &'static str, code: c_int) -> CodecError {
    CodecError::Opus {
        op,
        code,
        message: ffi::opus_error(code),
    }
}

/// The root mean square of PCM samples, as a fraction of full scale.
pub fn rms(pcm: &[i16]) -> f64 {
    if pcm.is_empty() {
        return 0.0;
    }
    let sum: f64 = pcm.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    (sum / pcm.len() as f64).sqrt() / f64::from(i16::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::opus::packet_samples;
    use crate::pattern::Tone;

    #[test]
    fn a_tone_round_trips_with_its_level_and_pitch() {
        let mut enc = OpusEncoder::new(Channels::Mono, 32_000).unwrap();
        let mut dec = OpusDecoder::new(Channels::Stereo).unwrap();
        let mut tone = Tone::new(440, SAMPLE_RATE, 0.5);
        let mut out = Vec::new();
        for _ in 0..50 {
            let packet = enc.encode(&tone.next_samples(960)).unwrap();
            assert_eq!(packet_samples(&packet).unwrap(), 960);
            let pcm = dec.decode(&packet).unwrap();
            assert_eq!(pcm.len(), 960 * 2);
            // The left channel.
            out.extend(pcm.iter().step_by(2));
        }
        // Past the codec's start-up: the last half second.
        let tail = &out[out.len() - 24_000..];
        let level = rms(tail);
        // A sine at half scale has an RMS of 0.5 / sqrt(2) = 0.354.
        assert!((0.3..0.41).contains(&level), "rms {level}");
        let crossings = tail.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
        assert!(
            (430..=450).contains(&crossings),
            "{crossings} sign changes in 0.5 s"
        );
    }

    #[test]
    fn bad_frames_and_packets_are_errors() {
        let mut enc = OpusEncoder::new(Channels::Stereo, 64_000).unwrap();
        assert!(enc.encode(&[0; 961]).is_err());
        assert!(enc.encode(&[0; 1000]).is_err());
        assert!(OpusEncoder::new(Channels::Mono, 10).is_err());
        let mut dec = OpusDecoder::new(Channels::Mono).unwrap();
        assert!(dec.decode(&[]).is_err());
        // Code 3 (RFC 6716 §3.2.5) with a frame count of 0 is invalid.
        assert!(matches!(
            dec.decode(&[0x03, 0x00]),
            Err(CodecError::Opus { .. })
        ));
    }
}
