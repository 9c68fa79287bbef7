//! Encoders and decoders through the system's libvpx (VP8, RFC 6386) and
//! libopus (Opus, RFC 6716), behind the `codecs` feature, and the live
//! sources built on them: a VP8 test pattern and an Opus tone.
//!
//! The libraries are reached through a small C shim (`csrc/`) that turns
//! their configuration structs into a few flat functions; the Rust side
//! sees opaque handles. Each handle is owned by one wrapper that frees it
//! on drop. A frame the library refuses (corrupt, truncated, a delta frame
//! before any keyframe) is an `Err`, never a panic.
//!
//! | module | job |
//! |---|---|
//! | [`vp8`] | [`Vp8Encoder`](vp8::Vp8Encoder) (I420 in, frames out) and [`Vp8Decoder`](vp8::Vp8Decoder) |
//! | [`opus`] | [`OpusEncoder`](opus::OpusEncoder) (PCM in, packets out) and [`OpusDecoder`](opus::OpusDecoder) |
//! | [`source`] | [`TestPatternSource`](source::TestPatternSource) and [`ToneSource`](source::ToneSource): encoded frames with their durations |

use thiserror::Error;

use crate::image::ImageError;

mod ffi;
pub mod opus;
pub mod source;
pub mod vp8;

/// Why an encoder or decoder failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CodecError {
    /// libvpx returned an error.
    #[error("VP8 {op}: {message} (libvpx error {code})")]
    Vpx {
        /// What was being done (`encoder init`, `decode`, ...).
        op: &'static str,
        /// The `vpx_codec_err_t`.
        code: i32,
        /// libvpx's text for it.
        message: String,
    },
    /// libopus returned an error.
    #[error("Opus {op}: {message} (libopus error {code})")]
    Opus {
        /// What was being done.
        op: &'static str,
        /// The Opus error code (negative).
        code: i32,
        /// libopus's text for it.
        message: String,
    },
    /// A picture of the wrong size for the encoder.
    #[error("picture is {got:?}, the encoder takes {want:?}")]
    SizeMismatch {
        /// The picture's width and height.
        got: (u32, u32),
        /// The encoder's.
        want: (u32, u32),
    },
    /// The decoder gave a picture that is not 8-bit I420.
    #[error("the decoded picture is not 8-bit I420")]
    NotI420,
    /// A parameter out of range.
    #[error("invalid parameter: {0}")]
    Invalid(&'static str),
    /// A keyframe stating a picture larger than the decoder accepts.
    #[error("VP8 keyframe of {width}x{height} is over the limit of {max_pixels} pixels")]
    TooLarge {
        /// The width the keyframe states.
        width: u32,
        /// The height it states.
        height: u32,
        /// The decoder's limit.
        max_pixels: u64,
    },
    /// The encoder produced no frame for a picture.
    #[error("the encoder produced no frame")]
    NoOutput,
    /// A picture that cannot be made.
    #[error(transparent)]
    Image(#[from] ImageError),
}
