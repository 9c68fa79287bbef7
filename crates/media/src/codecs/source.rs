//! Live track sources: each call gives the next encoded frame and how
//! long it lasts, ready for an RTP sender's `write_frame`. The caller
//! paces them (see [`crate::pacing`]).

use std::time::Duration;

use super::CodecError;
use super::opus::{Channels, OpusEncoder, SAMPLE_RATE};
use super::vp8::{Vp8Config, Vp8Encoder};
use crate::pattern::{TestPattern, Tone};

/// One encoded frame of a live source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFrame {
    /// The encoded frame (a VP8 frame or an Opus packet).
    pub data: Vec<u8>,
    /// Whether a decoder can start at it (always for audio).
    pub keyframe: bool,
    /// How long it lasts: until the next frame's time.
    pub duration: Duration,
}

/// The time of frame `index` at `fps` frames a second (exact in
/// nanoseconds, so that durations add up without drift).
fn frame_time(index: u64, fps: u32) -> Duration {
    Duration::from_nanos(
        u64::try_from(u128::from(index) * 1_000_000_000 / u128::from(fps.max(1)))
            .unwrap_or(u64::MAX),
    )
}

/// The VP8 test pattern ([`TestPattern`]: moving colour bars and a frame
/// counter) as a live video source.
#[derive(Debug)]
pub struct TestPatternSource {
    pattern: TestPattern,
    encoder: Vp8Encoder,
    /// The next picture's index.
    frame: u64,
}

impl TestPatternSource {
    /// A source encoding the pattern with `config` (size, rate, bitrate).
    pub fn new(config: Vp8Config) -> Result<TestPatternSource, CodecError> {
        Ok(TestPatternSource {
            pattern: TestPattern::new(config.width, config.height)?,
            encoder: Vp8Encoder::new(config)?,
            frame: 0,
        })
    }

    /// The pattern it draws.
    pub fn pattern(&self) -> &TestPattern {
        &self.pattern
    }

    /// The index of the next picture.
    pub fn next_index(&self) -> u64 {
        self.frame
    }

    /// Draws and encodes the next picture, a keyframe when
    /// `force_keyframe`. In real-time mode the encoder gives one frame per
    /// picture; should it give none for one, the next picture is encoded
    /// and the frame covers both pictures' time.
    pub fn next_frame(&mut self, force_keyframe: bool) -> Result<SourceFrame, CodecError> {
        let fps = self.encoder.config().fps;
        let start = self.frame;
        // At most a second of pictures for one frame.
        for _ in 0..fps {
            let picture = self.pattern.picture(self.frame);
            let mut frames = self.encoder.encode(&picture, force_keyframe)?;
            self.frame += 1;
            if !frames.is_empty() {
                // VP8 without partitioned output: one frame per picture.
                let frame = frames.swap_remove(0);
                return Ok(SourceFrame {
                    data: frame.data,
                    keyframe: frame.keyframe,
                    duration: frame_time(self.frame, fps) - frame_time(start, fps),
                });
            }
        }
        Err(CodecError::NoOutput)
    }
}

/// A tone ([`Tone`]) encoded as Opus, mono, 20 ms a packet, as a live
/// audio source.
#[derive(Debug)]
pub struct ToneSource {
    tone: Tone,
    encoder: OpusEncoder,
}

impl ToneSource {
    /// Samples per packet: 20 ms at 48 kHz.
    pub const FRAME_SAMPLES: usize = 960;
    /// The length of a packet.
    pub const FRAME_DURATION: Duration = Duration::from_millis(20);

    /// A tone of `frequency` Hz at half scale, encoded at `bitrate` bit/s.
    pub fn new(frequency: u32, bitrate: u32) -> Result<ToneSource, CodecError> {
        Ok(ToneSource {
            tone: Tone::new(frequency, SAMPLE_RATE, 0.5),
            encoder: OpusEncoder::new(Channels::Mono, bitrate)?,
        })
    }

    /// The next 20 ms packet.
    pub fn next_frame(&mut self) -> Result<SourceFrame, CodecError> {
        let pcm = self.tone.next_samples(Self::FRAME_SAMPLES);
        Ok(SourceFrame {
            data: self.encoder.encode(&pcm)?,
            keyframe: true,
            duration: Self::FRAME_DURATION,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codecs::opus::{OpusDecoder, rms};
    use crate::codecs::vp8::Vp8Decoder;

    #[test]
    fn pattern_frames_last_a_thirtieth_of_a_second_without_drift() {
        let mut src = TestPatternSource::new(Vp8Config {
            width: 64,
            height: 48,
            ..Vp8Config::default()
        })
        .unwrap();
        let total: Duration = (0..30)
            .map(|_| src.next_frame(false).unwrap().duration)
            .sum();
        assert_eq!(total, Duration::from_secs(1));
        assert_eq!(src.next_index(), 30);
    }

    #[test]
    fn the_pattern_source_decodes_to_the_pattern_of_its_index() {
        let mut src = TestPatternSource::new(Vp8Config::default()).unwrap();
        let mut dec = Vp8Decoder::new().unwrap();
        let first = src.next_frame(false).unwrap();
        assert!(first.keyframe);
        let _ = src.next_frame(false).unwrap();
        let forced = src.next_frame(true).unwrap();
        assert!(forced.keyframe);
        // A decoder that starts at the forced keyframe shows picture 2.
        let pic = dec.decode(&forced.data).unwrap().unwrap().to_rgb();
        let want = src.pattern().picture(2).to_rgb();
        let diff: u64 = pic
            .data()
            .iter()
            .zip(want.data())
            .map(|(a, b)| u64::from(a.abs_diff(*b)))
            .sum();
        let mean = diff as f64 / want.data().len() as f64;
        assert!(mean < 6.0, "mean difference {mean}");
    }

    #[test]
    fn tone_packets_decode_to_sound() {
        let mut src = ToneSource::new(440, 32_000).unwrap();
        let mut dec = OpusDecoder::new(Channels::Mono).unwrap();
        let mut pcm = Vec::new();
        for _ in 0..25 {
            let f = src.next_frame().unwrap();
            assert_eq!(f.duration, Duration::from_millis(20));
            pcm.extend(dec.decode(&f.data).unwrap());
        }
        assert_eq!(pcm.len(), 25 * 960);
        assert!(rms(&pcm[12_000..]) > 0.2);
    }
}
