//! Sans-IO media for ferrtc: the W3C Media Capture model (`MediaStream`,
//! `MediaStreamTrack`) as plain types, and the media files a peer plays and
//! records: IVF (VP8, VP9, AV1), Ogg with Opus (RFC 3533, RFC 7845) and
//! H.264 Annex B (ITU-T H.264 Annex B), with a pacer that releases a file's
//! frames at the file's rate. No socket, no clock: time is passed in.
//!
//! | module | job |
//! |---|---|
//! | [`track`] | `MediaStream`, `MediaStreamTrack`, their events (W3C mediacapture-streams) |
//! | [`ivf`] | IVF file header and frames, reader and writer |
//! | [`ogg`] | Ogg pages with CRC-32, reader and writer (RFC 3533) |
//! | [`opus`] | the Opus TOC byte (RFC 6716 §3.1) and Opus in Ogg (RFC 7845) |
//! | [`h264`] | Annex B start codes, NAL units, access units |
//! | [`pacing`] | a file source released at the file's rate, looped on request |
//! | [`image`] | I420 and RGB pictures, BT.601 conversion |
//! | [`png`] | PNG still pictures: an RGB writer, and a reader of what it writes |
//! | [`pattern`] | a moving colour bar test pattern and a sine tone, raw |
//! | `codecs` | with the `codecs` feature: VP8 and Opus through libvpx and libopus, and the test pattern and tone as encoded live sources |
//!
//! ```
//! use ferrtc_media::ivf::{IvfHeader, IvfReader, IvfWriter, FourCc};
//!
//! let header = IvfHeader::new(FourCc::VP80, 640, 480, 30, 1);
//! let mut writer = IvfWriter::new(Vec::new(), header).unwrap();
//! writer.write_frame(0, b"frame").unwrap();
//! let bytes = writer.finish().unwrap();
//!
//! let mut reader = IvfReader::new(&bytes[..]).unwrap();
//! let frame = reader.next_frame().unwrap().unwrap();
//! assert_eq!((frame.pts, &frame.data[..]), (0, &b"frame"[..]));
//! ```
// The `codecs` feature's FFI modules allow `unsafe` (the crate's lints deny
// it); without the feature there is none at all.
#![cfg_attr(not(feature = "codecs"), forbid(unsafe_code))]

#[cfg(feature = "codecs")]
pub mod codecs;

// Also built for unit tests, which run the fuzz entry points on fixed inputs.
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod h264;
pub mod image;
pub mod ivf;
pub mod ogg;
pub mod opus;
pub mod pacing;
pub mod pattern;
pub mod png;
mod read;
pub mod track;
