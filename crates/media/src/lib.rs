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
#![forbid(unsafe_code)]

// Also built for unit tests, which run the fuzz entry points on fixed inputs.
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod h264;
pub mod ivf;
pub mod ogg;
pub mod opus;
pub mod pacing;
mod read;
pub mod track;
