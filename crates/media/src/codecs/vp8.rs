//! VP8 (RFC 6386) through libvpx: a real-time encoder of I420 pictures
//! and a decoder back to I420.
#![allow(unsafe_code)]

use std::ffi::{c_int, c_uint};
use std::ptr::NonNull;

use super::CodecError;
use super::ffi;
use crate::image::{I420Image, MAX_DIMENSION};

/// How a [`Vp8Encoder`] encodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vp8Config {
    /// Picture width in pixels (1..=16383).
    pub width: u32,
    /// Picture height in pixels (1..=16383).
    pub height: u32,
    /// Frames per second (the encoder's timebase).
    pub fps: u32,
    /// Target bitrate in kbit/s (constant bitrate).
    pub bitrate_kbps: u32,
    /// A keyframe at least every this many frames.
    pub keyframe_interval: u32,
}

impl Default for Vp8Config {
    /// 640x480 at 30 fps, 1 Mbit/s, a keyframe every 3 s.
    fn default() -> Self {
        Vp8Config {
            width: 640,
            height: 480,
            fps: 30,
            bitrate_kbps: 1000,
            keyframe_interval: 90,
        }
    }
}

/// One compressed VP8 frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vp8Frame {
    /// The frame as RTP's VP8 payload descriptor expects it after its
    /// header (RFC 7741 §4.3): the whole compressed frame.
    pub data: Vec<u8>,
    /// A keyframe (intra frame, RFC 6386 §9.1): a decoder can start here.
    pub keyframe: bool,
}

/// A real-time VP8 encoder (libvpx, constant bitrate, no lookahead: one
/// frame out per picture in).
#[derive(Debug)]
pub struct Vp8Encoder {
    raw: NonNull<ffi::Vp8Enc>,
    config: Vp8Config,
}

// SAFETY: the libvpx context is used through `&mut self` only and holds
// no thread-local state; moving it between threads is allowed.
unsafe impl Send for Vp8Encoder {}

impl Vp8Encoder {
    /// An encoder for `config`.
    pub fn new(config: Vp8Config) -> Result<Vp8Encoder, CodecError> {
        let in_range = |d: u32| (1..=MAX_DIMENSION).contains(&d);
        if !in_range(config.width) || !in_range(config.height) {
            return Err(CodecError::Invalid("width and height must be 1..=16383"));
        }
        if config.fps == 0 || config.fps > 1000 {
            return Err(CodecError::Invalid("fps must be 1..=1000"));
        }
        if config.bitrate_kbps == 0 || config.bitrate_kbps > 100_000 {
            return Err(CodecError::Invalid("bitrate must be 1..=100000 kbit/s"));
        }
        let mut err: c_int = 0;
        // SAFETY: plain integers in; `err` is a valid pointer; the result
        // is NULL or an encoder we own.
        let raw = unsafe {
            ffi::ferrtc_vp8_enc_new(
                config.width as c_uint,
                config.height as c_uint,
                config.fps as c_uint,
                config.bitrate_kbps as c_uint,
                config.keyframe_interval as c_uint,
                &mut err,
            )
        };
        let raw = NonNull::new(raw).ok_or_else(|| vpx("encoder init", err))?;
        Ok(Vp8Encoder { raw, config })
    }

    /// The encoder's configuration.
    pub fn config(&self) -> Vp8Config {
        self.config
    }

    /// Encodes one picture of the configured size; a keyframe when
    /// `force_keyframe` (a receiver asked for one with PLI or FIR).
    /// Returns the frames the encoder produced for it (one in real-time
    /// mode).
    pub fn encode(
        &mut self,
        picture: &I420Image,
        force_keyframe: bool,
    ) -> Result<Vec<Vp8Frame>, CodecError> {
        let want = (self.config.width, self.config.height);
        let got = (picture.width(), picture.height());
        if got != want {
            return Err(CodecError::SizeMismatch { got, want });
        }
        let cw = picture.chroma_width() as usize;
        // SAFETY: the planes hold `stride * rows` bytes each (I420Image's
        // invariant, with the size checked above to be the encoder's); the
        // shim copies them before returning.
        let code = unsafe {
            ffi::ferrtc_vp8_enc_encode(
                self.raw.as_ptr(),
                picture.y().as_ptr(),
                picture.width() as usize,
                picture.u().as_ptr(),
                cw,
                picture.v().as_ptr(),
                cw,
                c_int::from(force_keyframe),
            )
        };
        if code != ffi::VPX_OK {
            return Err(vpx("encode", code));
        }
        let mut frames = Vec::new();
        loop {
            let mut data: *const u8 = std::ptr::null();
            let mut len = 0usize;
            let mut key: c_int = 0;
            // SAFETY: valid out-pointers; the data stays valid until the
            // next encode, and is copied at once.
            let more = unsafe {
                ffi::ferrtc_vp8_enc_next(self.raw.as_ptr(), &mut data, &mut len, &mut key)
            };
            if more != 1 || data.is_null() {
                break;
            }
            // SAFETY: libvpx gave `len` bytes at `data`.
            let bytes = unsafe { std::slice::from_raw_parts(data, len) };
            frames.push(Vp8Frame {
                data: bytes.to_vec(),
                keyframe: key != 0,
            });
        }
        Ok(frames)
    }
}

impl Drop for Vp8Encoder {
    fn drop(&mut self) {
        // SAFETY: we own the encoder and drop it once.
        unsafe { ffi::ferrtc_vp8_enc_free(self.raw.as_ptr()) }
    }
}

/// The most pixels a [`Vp8Decoder`] accepts in a keyframe by default:
/// 4096x2304 (a keyframe states its size, RFC 6386 §9.1, and libvpx
/// allocates for it before decoding anything).
pub const DEFAULT_MAX_PIXELS: u64 = 4096 * 2304;

/// The size a VP8 keyframe states (RFC 6386 §9.1: a 3-byte frame tag
/// with bit 0 clear, the start code 9d 01 2a, then 14-bit width and
/// height), or `None` for an interframe or a frame too short.
pub fn keyframe_size(frame: &[u8]) -> Option<(u32, u32)> {
    let b = frame.get(..10)?;
    if b[0] & 1 != 0 || b[3..6] != [0x9d, 0x01, 0x2a] {
        return None;
    }
    let w = u16::from_le_bytes([b[6], b[7]]) & 0x3fff;
    let h = u16::from_le_bytes([b[8], b[9]]) & 0x3fff;
    Some((u32::from(w), u32::from(h)))
}

/// A VP8 decoder (libvpx).
#[derive(Debug)]
pub struct Vp8Decoder {
    raw: NonNull<ffi::Vp8Dec>,
    /// Frames decoded since the decoder was made.
    decoded: u64,
    /// Keyframes stating more pixels than this are refused.
    max_pixels: u64,
}

// SAFETY: as for the encoder.
unsafe impl Send for Vp8Decoder {}

impl Vp8Decoder {
    /// A decoder; the first frame it takes must be a keyframe. Keyframes
    /// over [`DEFAULT_MAX_PIXELS`] are refused.
    pub fn new() -> Result<Vp8Decoder, CodecError> {
        Vp8Decoder::with_max_pixels(DEFAULT_MAX_PIXELS)
    }

    /// A decoder that refuses keyframes stating more than `max_pixels`
    /// pixels (a peer cannot make it allocate for a 16383x16383 picture).
    pub fn with_max_pixels(max_pixels: u64) -> Result<Vp8Decoder, CodecError> {
        let mut err: c_int = 0;
        // SAFETY: `err` is valid; the result is NULL or ours.
        let raw = unsafe { ffi::ferrtc_vp8_dec_new(&mut err) };
        let raw = NonNull::new(raw).ok_or_else(|| vpx("decoder init", err))?;
        Ok(Vp8Decoder {
            raw,
            decoded: 0,
            max_pixels,
        })
    }

    /// How many pictures came out so far.
    pub fn decoded(&self) -> u64 {
        self.decoded
    }

    /// Decodes one compressed frame: its picture, or `None` when the frame
    /// shows nothing (a hidden frame). A corrupt frame, an empty one or a
    /// delta frame before any keyframe is an `Err`; the decoder can go on
    /// with the next keyframe.
    pub fn decode(&mut self, frame: &[u8]) -> Result<Option<I420Image>, CodecError> {
        if frame.is_empty() {
            return Err(CodecError::Invalid("an empty VP8 frame"));
        }
        if let Some((w, h)) = keyframe_size(frame)
            && u64::from(w) * u64::from(h) > self.max_pixels
        {
            return Err(CodecError::TooLarge {
                width: w,
                height: h,
                max_pixels: self.max_pixels,
            });
        }
        // SAFETY: `frame` is valid for its length; libvpx copies what it
        // keeps.
        let code =
            unsafe { ffi::ferrtc_vp8_dec_decode(self.raw.as_ptr(), frame.as_ptr(), frame.len()) };
        if code != ffi::VPX_OK {
            return Err(vpx("decode", code));
        }
        let mut last = None;
        loop {
            let mut planes: [*const u8; 3] = [std::ptr::null(); 3];
            let mut strides: [c_int; 3] = [0; 3];
            let (mut w, mut h): (c_uint, c_uint) = (0, 0);
            // SAFETY: arrays of three and valid out-pointers.
            let got = unsafe {
                ffi::ferrtc_vp8_dec_next(
                    self.raw.as_ptr(),
                    planes.as_mut_ptr(),
                    strides.as_mut_ptr(),
                    &mut w,
                    &mut h,
                )
            };
            match got {
                0 => break,
                1 => last = Some(copy_picture(planes, strides, w, h)?),
                _ => return Err(CodecError::NotI420),
            }
        }
        if last.is_some() {
            self.decoded += 1;
        }
        Ok(last)
    }
}

/// Copies libvpx's picture (planes with padding) into a packed I420Image.
fn copy_picture(
    planes: [*const u8; 3],
    strides: [c_int; 3],
    width: c_uint,
    height: c_uint,
) -> Result<I420Image, CodecError> {
    let (w, h) = (width as usize, height as usize);
    if w == 0 || h == 0 || planes.iter().any(|p| p.is_null()) {
        return Err(CodecError::NotI420);
    }
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let mut out: [Vec<u8>; 3] = Default::default();
    for (i, (pw, ph)) in [(w, h), (cw, ch), (cw, ch)].into_iter().enumerate() {
        let stride = usize::try_from(strides[i]).map_err(|_| CodecError::NotI420)?;
        if stride < pw {
            return Err(CodecError::NotI420);
        }
        let mut plane = Vec::with_capacity(pw * ph);
        for row in 0..ph {
            // SAFETY: libvpx's plane `i` holds `ph` rows of `stride` bytes
            // for a picture of this size and format (checked I420 by the
            // shim).
            let line = unsafe { std::slice::from_raw_parts(planes[i].add(row * stride), pw) };
            plane.extend_from_slice(line);
        }
        out[i] = plane;
    }
    let [y, u, v] = out;
    Ok(I420Image::from_planes(width, height, y, u, v)?)
}

impl Drop for Vp8Decoder {
    fn drop(&mut self) {
        // SAFETY: we own the decoder and drop it once.
        unsafe { ffi::ferrtc_vp8_dec_free(self.raw.as_ptr()) }
    }
}

fn vpx(op: &'static str, code: c_int) -> CodecError {
    CodecError::Vpx {
        op,
        code,
        message: ffi::vpx_error(code),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::Yuv;
    use crate::pattern::{BARS, TestPattern};

    fn small() -> Vp8Config {
        Vp8Config {
            width: 160,
            height: 120,
            ..Vp8Config::default()
        }
    }

    #[test]
    fn the_first_frame_is_a_keyframe_and_one_can_be_forced() {
        let mut enc = Vp8Encoder::new(small()).unwrap();
        let pattern = TestPattern::new(160, 120).unwrap();
        let keys: Vec<bool> = (0..6)
            .map(|i| {
                let frames = enc.encode(&pattern.picture(i), i == 4).unwrap();
                assert_eq!(frames.len(), 1, "frame {i}");
                frames[0].keyframe
            })
            .collect();
        assert_eq!(keys, [true, false, false, false, true, false]);
    }

    #[test]
    fn a_picture_of_another_size_is_refused() {
        let mut enc = Vp8Encoder::new(small()).unwrap();
        let img = I420Image::filled(162, 120, Yuv::from_rgb([0; 3])).unwrap();
        assert_eq!(
            enc.encode(&img, false),
            Err(CodecError::SizeMismatch {
                got: (162, 120),
                want: (160, 120)
            })
        );
        assert!(Vp8Encoder::new(Vp8Config { fps: 0, ..small() }).is_err());
    }

    #[test]
    fn decoded_colours_are_near_the_pattern() {
        let mut enc = Vp8Encoder::new(Vp8Config::default()).unwrap();
        let mut dec = Vp8Decoder::new().unwrap();
        let pattern = TestPattern::new(640, 480).unwrap();
        for i in 0..10u64 {
            let frames = enc.encode(&pattern.picture(i), false).unwrap();
            let picture = dec.decode(&frames[0].data).unwrap().expect("a picture");
            assert_eq!((picture.width(), picture.height()), (640, 480));
            let rgb = picture.to_rgb();
            // The middle of each bar, well away from its edges.
            for x in (40..640).step_by(80) {
                let want = BARS[pattern.bar_at(i, x)];
                let got = rgb.pixel(x, 300).unwrap();
                for c in 0..3 {
                    assert!(
                        got[c].abs_diff(want[c]) <= 24,
                        "frame {i} x {x}: {got:?} vs {want:?}"
                    );
                }
            }
        }
        assert_eq!(dec.decoded(), 10);
    }

    #[test]
    fn a_keyframe_over_the_pixel_limit_is_refused_before_decoding() {
        let mut enc = Vp8Encoder::new(small()).unwrap();
        let key = enc
            .encode(&TestPattern::new(160, 120).unwrap().picture(0), true)
            .unwrap();
        assert_eq!(keyframe_size(&key[0].data), Some((160, 120)));
        let mut dec = Vp8Decoder::with_max_pixels(160 * 119).unwrap();
        assert_eq!(
            dec.decode(&key[0].data),
            Err(CodecError::TooLarge {
                width: 160,
                height: 120,
                max_pixels: 160 * 119
            })
        );
        let mut dec = Vp8Decoder::with_max_pixels(160 * 120).unwrap();
        assert!(dec.decode(&key[0].data).unwrap().is_some());
    }

    #[test]
    fn a_corrupt_or_headless_frame_is_an_error_not_a_panic() {
        let mut dec = Vp8Decoder::new().unwrap();
        assert!(dec.decode(&[]).is_err());
        // A delta frame (bit 0 set) before any keyframe.
        assert!(dec.decode(&[0x01, 0x00, 0x00, 0x11, 0x22]).is_err());
        // A keyframe header with no data after it.
        assert!(
            dec.decode(&[0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01])
                .is_err()
        );
        // A real keyframe, truncated and with flipped bytes: Err or a
        // picture, never a crash; the next good keyframe decodes.
        let mut enc = Vp8Encoder::new(small()).unwrap();
        let key = enc
            .encode(&TestPattern::new(160, 120).unwrap().picture(0), true)
            .unwrap();
        let key = &key[0].data;
        let _ = dec.decode(&key[..key.len() / 3]);
        let mut flipped = key.clone();
        for b in flipped.iter_mut().skip(10).step_by(7) {
            *b ^= 0x5a;
        }
        let _ = dec.decode(&flipped);
        assert!(dec.decode(key).unwrap().is_some());
    }

    /// One real 160x120 keyframe, encoded once.
    fn keyframe() -> &'static [u8] {
        &clip()[0]
    }

    /// A real 160x120 keyframe and the four delta frames after it,
    /// encoded once.
    fn clip() -> &'static [Vec<u8>] {
        static CLIP: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
        CLIP.get_or_init(|| {
            let mut enc = Vp8Encoder::new(small()).unwrap();
            let pattern = TestPattern::new(160, 120).unwrap();
            (0..5)
                .map(|i| {
                    enc.encode(&pattern.picture(i), i == 0)
                        .unwrap()
                        .swap_remove(0)
                        .data
                })
                .collect()
        })
    }

    /// The decoder's pixel cap in the property below: the clip's size, so
    /// that a mutated keyframe stating a larger size must be refused.
    const CAP: u64 = 160 * 120;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(96))]
        /// A real keyframe and its delta frames with bytes changed (in
        /// the frame tag and size too), cut short or not: each frame
        /// decodes to an `Err` or a picture within the decoder's pixel
        /// cap, and the decoder still takes the real keyframe after.
        #[test]
        fn mutated_frames_never_crash_the_decoder(
            changes in proptest::collection::vec(
                (0usize..5, proptest::prelude::any::<proptest::sample::Index>(), 1u8..=255),
                0..6,
            ),
            cut in proptest::option::of((0usize..5, proptest::prelude::any::<proptest::sample::Index>())),
            size in proptest::option::of((1u16..400, 1u16..300)),
            big_cap in proptest::prelude::any::<bool>(),
        ) {
            let mut frames = clip().to_vec();
            if let Some((w, h)) = size {
                // The size the keyframe states (RFC 6386 §9.1), scaling
                // bits kept.
                let key = &mut frames[0];
                for (at, d) in [(6, w), (8, h)] {
                    let old = u16::from_le_bytes([key[at], key[at + 1]]);
                    key[at..at + 2].copy_from_slice(&(d | old & 0xc000).to_le_bytes());
                }
            }
            for (f, at, xor) in changes {
                let i = at.index(frames[f].len());
                frames[f][i] ^= xor;
            }
            if let Some((f, at)) = cut {
                let n = at.index(frames[f].len());
                frames[f].truncate(n);
            }
            let cap = if big_cap { DEFAULT_MAX_PIXELS } else { CAP };
            let mut dec = Vp8Decoder::with_max_pixels(cap).unwrap();
            for f in &frames {
                if let Ok(Some(p)) = dec.decode(f) {
                    let pixels = u64::from(p.width()) * u64::from(p.height());
                    proptest::prop_assert!(pixels <= cap, "{}x{}", p.width(), p.height());
                }
            }
            let picture = dec.decode(keyframe());
            proptest::prop_assert!(matches!(picture, Ok(Some(_))), "{:?}", picture.map(|_| ()));
        }

        /// Arbitrary bytes alone: an `Err` or a picture within the cap.
        #[test]
        fn arbitrary_bytes_never_crash_the_decoder(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 1..600),
        ) {
            let mut dec = Vp8Decoder::with_max_pixels(CAP).unwrap();
            if let Ok(Some(p)) = dec.decode(&data) {
                proptest::prop_assert!(u64::from(p.width()) * u64::from(p.height()) <= CAP);
            }
        }
    }
}
