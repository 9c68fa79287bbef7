//! Synthetic sources, raw: a test pattern of moving colour bars with a
//! frame counter (pictures for a video encoder) and a sine tone (PCM for
//! an audio encoder). Pure functions of the frame or sample index, so a
//! test can compare what a decoder gives back with what was sent.

use crate::image::{I420Image, ImageError, Yuv};

/// The bars, left to right at frame 0: the colours of SMPTE-style bars at
/// full intensity, then black.
pub const BARS: [[u8; 3]; 8] = [
    [255, 255, 255],
    [255, 255, 0],
    [0, 255, 255],
    [0, 255, 0],
    [255, 0, 255],
    [255, 0, 0],
    [0, 0, 255],
    [0, 0, 0],
];

/// How far the bars move left each frame, in pixels (even, so that bar
/// edges stay on chroma block boundaries).
pub const BAR_STEP: u32 = 4;

/// Digits of the frame counter (the frame number modulo 10^6).
const COUNTER_DIGITS: u32 = 6;

/// 3x5 pixel digits, one row of 3 bits per byte, top row first.
const FONT: [[u8; 5]; 10] = [
    [0b111, 0b101, 0b101, 0b101, 0b111],
    [0b010, 0b110, 0b010, 0b010, 0b111],
    [0b111, 0b001, 0b111, 0b100, 0b111],
    [0b111, 0b001, 0b111, 0b001, 0b111],
    [0b101, 0b101, 0b111, 0b001, 0b001],
    [0b111, 0b100, 0b111, 0b001, 0b111],
    [0b111, 0b100, 0b111, 0b101, 0b111],
    [0b111, 0b001, 0b010, 0b010, 0b010],
    [0b111, 0b101, 0b111, 0b101, 0b111],
    [0b111, 0b101, 0b111, 0b001, 0b111],
];

/// A test pattern: eight vertical colour bars ([`BARS`]) that move left
/// by [`BAR_STEP`] pixels a frame and wrap around, and in the top left
/// corner a black block with the frame number in white digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestPattern {
    width: u32,
    height: u32,
    /// A black picture of the pattern's size, drawn over for each frame.
    blank: I420Image,
}

impl TestPattern {
    /// A pattern of `width`x`height` pixels.
    pub fn new(width: u32, height: u32) -> Result<TestPattern, ImageError> {
        let blank = I420Image::filled(width, height, Yuv::from_rgb([0; 3]))?;
        Ok(TestPattern {
            width,
            height,
            blank,
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The width of one bar (at least 2 pixels).
    fn bar_width(&self) -> u32 {
        (self.width / BARS.len() as u32).max(2) & !1
    }

    /// The bar colour (an index into [`BARS`]) at column `x` of frame
    /// `frame`.
    pub fn bar_at(&self, frame: u64, x: u32) -> usize {
        let bar = u64::from(self.bar_width());
        let period = bar * BARS.len() as u64;
        let shift = frame.wrapping_mul(u64::from(BAR_STEP)) % period;
        (((u64::from(x) + shift) % period) / bar) as usize
    }

    /// The rectangle of the frame counter: x, y, width, height.
    pub fn counter_rect(&self) -> (u32, u32, u32, u32) {
        let scale = (self.height / 60).max(1);
        let margin = 2 * scale;
        let w = COUNTER_DIGITS * 4 * scale + margin * 2 - scale;
        let h = 5 * scale + margin * 2;
        (margin, margin, w, h)
    }

    /// The picture of frame `frame`.
    pub fn picture(&self, frame: u64) -> I420Image {
        let black = Yuv::from_rgb([0; 3]);
        let mut img = self.blank.clone();
        let colours = BARS.map(Yuv::from_rgb);
        // Runs of one bar colour, two columns at a time (even edges).
        let mut x = 0;
        while x < self.width {
            let bar = self.bar_at(frame, x);
            let mut end = x + 2;
            while end < self.width && self.bar_at(frame, end) == bar {
                end += 2;
            }
            img.fill_rect(x, 0, end - x, self.height, colours[bar]);
            x = end;
        }
        let (cx, cy, cw, ch) = self.counter_rect();
        img.fill_rect(cx, cy, cw, ch, black);
        let scale = (self.height / 60).max(1);
        let white = Yuv::from_rgb([255; 3]);
        let mut n = frame % 10u64.pow(COUNTER_DIGITS);
        for d in (0..COUNTER_DIGITS).rev() {
            let digit = (n % 10) as usize;
            n /= 10;
            let left = cx + 2 * scale + d * 4 * scale;
            for (row, bits) in FONT[digit].iter().enumerate() {
                for col in 0..3 {
                    if bits & (0b100 >> col) != 0 {
                        img.fill_rect(
                            left + col * scale,
                            cy + 2 * scale + row as u32 * scale,
                            scale,
                            scale,
                            white,
                        );
                    }
                }
            }
        }
        img
    }
}

/// A sine tone as 16-bit PCM, mono: sample `n` is
/// `amplitude * sin(2π f n / rate)`, continuous across frames.
#[derive(Debug, Clone)]
pub struct Tone {
    frequency: u32,
    rate: u32,
    amplitude: f64,
    /// The next sample's index, modulo the tone's period in samples.
    next: u64,
}

impl Tone {
    /// A tone of `frequency` Hz at `rate` samples per second, at
    /// `amplitude` (0.0..=1.0 of full scale).
    pub fn new(frequency: u32, rate: u32, amplitude: f64) -> Tone {
        Tone {
            frequency,
            rate: rate.max(1),
            amplitude: amplitude.clamp(0.0, 1.0) * f64::from(i16::MAX),
            next: 0,
        }
    }

    /// The next `samples` samples.
    pub fn next_samples(&mut self, samples: usize) -> Vec<i16> {
        let rate = u64::from(self.rate);
        let f = u64::from(self.frequency);
        (0..samples)
            .map(|_| {
                // f * n mod rate keeps the phase exact however long it runs.
                let phase = (f * self.next % rate) as f64 / rate as f64;
                self.next = (self.next + 1) % rate;
                (self.amplitude * (std::f64::consts::TAU * phase).sin()).round() as i16
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_zero_has_the_bars_in_order() {
        let p = TestPattern::new(640, 480).unwrap();
        let img = p.picture(0).to_rgb();
        for (i, colour) in BARS.iter().enumerate() {
            let x = i as u32 * 80 + 40;
            let got = img.pixel(x, 240).unwrap();
            for c in 0..3 {
                assert!(
                    got[c].abs_diff(colour[c]) <= 2,
                    "bar {i}: {got:?} vs {colour:?}"
                );
            }
        }
    }

    #[test]
    fn the_bars_move_left_by_the_step_each_frame() {
        let p = TestPattern::new(640, 480).unwrap();
        for x in [100, 300, 636] {
            assert_eq!(p.bar_at(5, x), p.bar_at(0, x + 5 * BAR_STEP));
        }
        // A full cycle later the picture repeats, the counter aside.
        assert_eq!(p.bar_at(160, 17), p.bar_at(0, 17));
    }

    #[test]
    fn the_counter_block_differs_between_frames_and_the_bars_do_not_cover_it() {
        let p = TestPattern::new(640, 480).unwrap();
        let (x, y, w, h) = p.counter_rect();
        let (a, b) = (p.picture(1), p.picture(161));
        // Same bar positions (161 = 1 + a full cycle), other digits.
        assert_eq!(a.pixel(400, 300), b.pixel(400, 300));
        let differs = (y..y + h).any(|yy| (x..x + w).any(|xx| a.pixel(xx, yy) != b.pixel(xx, yy)));
        assert!(differs);
        // The block's corner is black.
        assert_eq!(a.pixel(x, y), Some(Yuv::from_rgb([0; 3])));
    }

    #[test]
    fn a_zero_size_pattern_is_refused() {
        assert!(TestPattern::new(0, 10).is_err());
        assert!(TestPattern::new(20_000, 10).is_err());
    }

    #[test]
    fn the_tone_has_its_frequency_and_amplitude() {
        let mut t = Tone::new(440, 48_000, 0.5);
        let a = t.next_samples(960);
        let b = t.next_samples(47_040);
        let all: Vec<i16> = a.into_iter().chain(b).collect();
        // 440 cycles a second: 880 sign changes.
        let crossings = all.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
        assert!((878..=882).contains(&crossings), "{crossings}");
        let peak = all.iter().map(|s| s.unsigned_abs()).max().unwrap();
        assert!((16_300..=16_400).contains(&peak), "{peak}");
    }
}
