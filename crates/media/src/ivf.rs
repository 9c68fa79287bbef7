//! IVF, the container libvpx writes for VP8, VP9 and AV1 frames: a 32-byte
//! file header then, per frame, a 12-byte frame header and the frame.
//!
//! File header (all integers little-endian):
//!
//! | bytes | field |
//! |---|---|
//! | 0..4 | signature `DKIF` |
//! | 4..6 | version, 0 |
//! | 6..8 | header size, 32 |
//! | 8..12 | fourcc: `VP80`, `VP90`, `AV01` |
//! | 12..14, 14..16 | width, height |
//! | 16..20 | timebase denominator (the rate) |
//! | 20..24 | timebase numerator (the scale) |
//! | 24..28 | frame count |
//! | 28..32 | unused |
//!
//! Frame header: 4 bytes frame size, 8 bytes presentation timestamp in
//! timebase units (numerator/denominator seconds).

use std::io::{self, Read, Seek, SeekFrom, Write};

use crate::read::{fill_up_to, read_up_to};

/// The IVF file signature.
pub const SIGNATURE: [u8; 4] = *b"DKIF";
/// The size of the IVF file header this module writes and expects at least.
pub const HEADER_LEN: usize = 32;
/// The size of an IVF frame header (size, then pts).
pub const FRAME_HEADER_LEN: usize = 12;
/// The default limit on a frame's size: 16 MiB.
pub const DEFAULT_MAX_FRAME_SIZE: u32 = 16 * 1024 * 1024;

/// The codec four-character code of an IVF file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FourCc(pub [u8; 4]);

impl FourCc {
    /// VP8 (RFC 6386).
    pub const VP80: FourCc = FourCc(*b"VP80");
    /// VP9.
    pub const VP90: FourCc = FourCc(*b"VP90");
    /// AV1.
    pub const AV01: FourCc = FourCc(*b"AV01");

    /// Whether this is one of the codecs WebRTC sends in IVF (VP8, VP9, AV1).
    pub fn is_known(self) -> bool {
        matches!(self, Self::VP80 | Self::VP90 | Self::AV01)
    }

    /// Whether `frame`, a frame of this codec, is one a decoder can start
    /// at: a VP8 key frame (RFC 6386 §9.1), a VP9 key frame (VP9 bitstream
    /// §6.2) or an AV1 temporal unit holding a sequence header OBU (AV1
    /// §5.3). `false` for other codecs and frames too short to tell.
    pub fn is_keyframe(self, frame: &[u8]) -> bool {
        match self {
            Self::VP80 => frame.first().is_some_and(|b| b & 1 == 0),
            Self::VP90 => vp9_keyframe(frame),
            Self::AV01 => av1_has_sequence_header(frame),
            _ => false,
        }
    }
}

/// The start of a VP9 uncompressed header: frame_marker `10`, profile
/// (two bits, low bit first, then a reserved bit in profile 3),
/// show_existing_frame, frame_type (0 for a key frame).
fn vp9_keyframe(frame: &[u8]) -> bool {
    let Some(&b) = frame.first() else {
        return false;
    };
    let bit = |n: u32| (b >> (7 - n)) & 1;
    if b >> 6 != 0b10 {
        return false;
    }
    let profile = bit(2) | (bit(3) << 1);
    let next = if profile == 3 { 5 } else { 4 };
    bit(next) == 0 && bit(next + 1) == 0
}

/// Whether an AV1 temporal unit (OBUs in the low-overhead format, each
/// with its size) holds a sequence header OBU (type 1).
fn av1_has_sequence_header(mut data: &[u8]) -> bool {
    while let Some(&header) = data.first() {
        if (header >> 3) & 0x0f == 1 {
            return true;
        }
        if header & 0b10 == 0 {
            // No size field: the OBU runs to the end; nothing follows.
            return false;
        }
        let mut at = if header & 0b100 != 0 { 2 } else { 1 };
        // leb128 size, at most 8 bytes.
        let mut size: u64 = 0;
        for i in 0..8 {
            let Some(&b) = data.get(at) else {
                return false;
            };
            at += 1;
            size |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                break;
            }
        }
        let end = usize::try_from(size).ok().and_then(|n| n.checked_add(at));
        match end.and_then(|end| data.get(end..)) {
            Some(rest) => data = rest,
            None => return false,
        }
    }
    false
}

impl std::fmt::Display for FourCc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for &b in &self.0 {
            if b.is_ascii_graphic() {
                write!(f, "{}", b as char)?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

/// An error reading or writing an IVF file.
#[derive(Debug, thiserror::Error)]
pub enum IvfError {
    /// The underlying reader or writer failed.
    #[error("IVF I/O error {context}: {source}")]
    Io {
        /// What was being read or written.
        context: &'static str,
        /// The I/O error.
        source: io::Error,
    },
    /// The file ended inside the 32-byte file header.
    #[error("IVF file header truncated: {got} of {HEADER_LEN} bytes")]
    TruncatedHeader {
        /// Bytes present.
        got: usize,
    },
    /// The file does not start with `DKIF`.
    #[error("not an IVF file: signature {found:02x?}, expected DKIF")]
    BadSignature {
        /// The first four bytes.
        found: [u8; 4],
    },
    /// The header's version is not 0.
    #[error("unsupported IVF version {0}, expected 0")]
    UnsupportedVersion(u16),
    /// The header size field is below 32.
    #[error("IVF header size {0} is below {HEADER_LEN}")]
    BadHeaderSize(u16),
    /// The file ended inside a frame header or a frame.
    #[error("IVF frame {frame} truncated: {got} of {expected} bytes ({what})")]
    TruncatedFrame {
        /// Index of the frame (0 is the first).
        frame: u64,
        /// `"frame header"` or `"frame data"`.
        what: &'static str,
        /// Bytes expected.
        expected: usize,
        /// Bytes present.
        got: usize,
    },
    /// A frame header announces a frame larger than the limit.
    #[error("IVF frame {frame} is {size} bytes, above the limit of {limit}")]
    FrameTooLarge {
        /// Index of the frame.
        frame: u64,
        /// The announced size.
        size: u32,
        /// The configured limit.
        limit: u32,
    },
    /// A frame to write does not fit the 32-bit size field or the limit.
    #[error("IVF frame of {size} bytes cannot be written (limit {limit})")]
    FrameTooLargeToWrite {
        /// The frame's size.
        size: usize,
        /// The configured limit.
        limit: u32,
    },
}

/// The 32-byte IVF file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IvfHeader {
    /// The codec.
    pub fourcc: FourCc,
    /// Frame width in pixels.
    pub width: u16,
    /// Frame height in pixels.
    pub height: u16,
    /// Timebase denominator: timestamps count `numerator / denominator` seconds.
    pub timebase_denominator: u32,
    /// Timebase numerator.
    pub timebase_numerator: u32,
    /// Frame count as written in the header (writers that cannot seek
    /// leave 0 or a guess here; do not trust it for reading).
    pub frame_count: u32,
}

impl IvfHeader {
    /// A header for `fourcc` at `width`x`height` whose timestamps count
    /// `numerator / denominator` seconds, frame count 0.
    pub fn new(fourcc: FourCc, width: u16, height: u16, denominator: u32, numerator: u32) -> Self {
        Self {
            fourcc,
            width,
            height,
            timebase_denominator: denominator,
            timebase_numerator: numerator,
            frame_count: 0,
        }
    }

    /// The header as its 32 bytes.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..4].copy_from_slice(&SIGNATURE);
        b[4..6].copy_from_slice(&0u16.to_le_bytes());
        b[6..8].copy_from_slice(&(HEADER_LEN as u16).to_le_bytes());
        b[8..12].copy_from_slice(&self.fourcc.0);
        b[12..14].copy_from_slice(&self.width.to_le_bytes());
        b[14..16].copy_from_slice(&self.height.to_le_bytes());
        b[16..20].copy_from_slice(&self.timebase_denominator.to_le_bytes());
        b[20..24].copy_from_slice(&self.timebase_numerator.to_le_bytes());
        b[24..28].copy_from_slice(&self.frame_count.to_le_bytes());
        b
    }

    /// Parses the first 32 bytes of a file; returns the header and the
    /// header size field (which may exceed 32: the rest is skipped).
    pub fn parse(b: &[u8]) -> Result<(Self, u16), IvfError> {
        if b.len() < HEADER_LEN {
            return Err(IvfError::TruncatedHeader { got: b.len() });
        }
        let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let found = [b[0], b[1], b[2], b[3]];
        if found != SIGNATURE {
            return Err(IvfError::BadSignature { found });
        }
        let version = u16_at(4);
        if version != 0 {
            return Err(IvfError::UnsupportedVersion(version));
        }
        let header_size = u16_at(6);
        if usize::from(header_size) < HEADER_LEN {
            return Err(IvfError::BadHeaderSize(header_size));
        }
        Ok((
            Self {
                fourcc: FourCc([b[8], b[9], b[10], b[11]]),
                width: u16_at(12),
                height: u16_at(14),
                timebase_denominator: u32_at(16),
                timebase_numerator: u32_at(20),
                frame_count: u32_at(24),
            },
            header_size,
        ))
    }

    /// `pts` in timebase units as a duration, `None` when the timebase
    /// has a zero denominator or the result overflows.
    pub fn pts_to_duration(&self, pts: u64) -> Option<std::time::Duration> {
        if self.timebase_denominator == 0 {
            return None;
        }
        let nanos = u128::from(pts) * u128::from(self.timebase_numerator) * 1_000_000_000
            / u128::from(self.timebase_denominator);
        let secs = u64::try_from(nanos / 1_000_000_000).ok()?;
        Some(std::time::Duration::new(
            secs,
            (nanos % 1_000_000_000) as u32,
        ))
    }
}

/// One IVF frame: its presentation timestamp and bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IvfFrame {
    /// Presentation timestamp in the header's timebase.
    pub pts: u64,
    /// The encoded frame.
    pub data: Vec<u8>,
}

/// Reads an IVF file from any [`Read`]: the header at construction, then
/// frames one at a time. An I/O error while reading a frame (`WouldBlock`
/// from a non-blocking input) keeps what was read: the next
/// [`IvfReader::next_frame`] goes on from there.
#[derive(Debug)]
pub struct IvfReader<R> {
    reader: R,
    header: IvfHeader,
    max_frame_size: u32,
    frames_read: u64,
    /// The next frame header, `frame_header_got` bytes of it read.
    frame_header: [u8; FRAME_HEADER_LEN],
    frame_header_got: usize,
    /// The frame whose header was read and whose data was not all read
    /// when an I/O error stopped it: its pts and size, and its data so far.
    partial: Option<PartialFrame>,
}

/// A frame read up to an I/O error.
#[derive(Debug)]
struct PartialFrame {
    pts: u64,
    size: u32,
    data: Vec<u8>,
}

impl<R: Read> IvfReader<R> {
    /// Reads the file header; frames above [`DEFAULT_MAX_FRAME_SIZE`] are refused.
    pub fn new(reader: R) -> Result<Self, IvfError> {
        Self::with_max_frame_size(reader, DEFAULT_MAX_FRAME_SIZE)
    }

    /// Reads the file header; frames above `max_frame_size` bytes are refused.
    pub fn with_max_frame_size(mut reader: R, max_frame_size: u32) -> Result<Self, IvfError> {
        let mut b = [0u8; HEADER_LEN];
        let got = read_up_to(&mut reader, &mut b).map_err(|source| IvfError::Io {
            context: "reading the file header",
            source,
        })?;
        let (header, header_size) = IvfHeader::parse(&b[..got])?;
        // A longer header carries fields we do not know: skip them.
        let extra = u64::from(header_size) - HEADER_LEN as u64;
        if extra > 0 {
            let skipped =
                io::copy(&mut (&mut reader).take(extra), &mut io::sink()).map_err(|source| {
                    IvfError::Io {
                        context: "skipping the rest of the file header",
                        source,
                    }
                })?;
            if skipped < extra {
                return Err(IvfError::TruncatedHeader {
                    got: HEADER_LEN + skipped as usize,
                });
            }
        }
        Ok(Self {
            reader,
            header,
            max_frame_size,
            frames_read: 0,
            frame_header: [0; FRAME_HEADER_LEN],
            frame_header_got: 0,
            partial: None,
        })
    }

    /// The file header.
    pub fn header(&self) -> &IvfHeader {
        &self.header
    }

    /// The number of frames read so far.
    pub fn frames_read(&self) -> u64 {
        self.frames_read
    }

    /// The next frame, `Ok(None)` at a clean end of file (between frames).
    pub fn next_frame(&mut self) -> Result<Option<IvfFrame>, IvfError> {
        let frame = self.frames_read;
        let PartialFrame {
            pts,
            size,
            mut data,
        } = match self.partial.take() {
            Some(p) => p,
            None => {
                fill_up_to(
                    &mut self.reader,
                    &mut self.frame_header,
                    &mut self.frame_header_got,
                )
                .map_err(|source| IvfError::Io {
                    context: "reading a frame header",
                    source,
                })?;
                let got = std::mem::take(&mut self.frame_header_got);
                if got == 0 {
                    return Ok(None);
                }
                if got < FRAME_HEADER_LEN {
                    return Err(IvfError::TruncatedFrame {
                        frame,
                        what: "frame header",
                        expected: FRAME_HEADER_LEN,
                        got,
                    });
                }
                let h = &self.frame_header;
                let size = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
                let pts = u64::from_le_bytes([h[4], h[5], h[6], h[7], h[8], h[9], h[10], h[11]]);
                if size > self.max_frame_size {
                    return Err(IvfError::FrameTooLarge {
                        frame,
                        size,
                        limit: self.max_frame_size,
                    });
                }
                PartialFrame {
                    pts,
                    size,
                    data: Vec::new(),
                }
            }
        };
        // Grow with the data actually present, not with the announced size.
        let missing = u64::from(size) - data.len() as u64;
        if let Err(source) = (&mut self.reader).take(missing).read_to_end(&mut data) {
            // `read_to_end` keeps the bytes it read before the error.
            self.partial = Some(PartialFrame { pts, size, data });
            return Err(IvfError::Io {
                context: "reading frame data",
                source,
            });
        }
        if data.len() < size as usize {
            return Err(IvfError::TruncatedFrame {
                frame,
                what: "frame data",
                expected: size as usize,
                got: data.len(),
            });
        }
        self.frames_read += 1;
        Ok(Some(IvfFrame { pts, data }))
    }

    /// The reader back.
    pub fn into_inner(self) -> R {
        self.reader
    }
}

impl<R: Read> Iterator for IvfReader<R> {
    type Item = Result<IvfFrame, IvfError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_frame().transpose()
    }
}

/// Writes an IVF file to any [`Write`]. The header goes out at construction
/// with the frame count it carries; [`IvfWriter::finish_seekable`] rewrites
/// the count when the writer can [`Seek`], [`IvfWriter::finish`] leaves it
/// as written.
#[derive(Debug)]
pub struct IvfWriter<W> {
    writer: W,
    header: IvfHeader,
    frames_written: u32,
    max_frame_size: u32,
}

impl<W: Write> IvfWriter<W> {
    /// Writes `header` and returns a writer for the frames.
    pub fn new(mut writer: W, header: IvfHeader) -> Result<Self, IvfError> {
        writer
            .write_all(&header.to_bytes())
            .map_err(|source| IvfError::Io {
                context: "writing the file header",
                source,
            })?;
        Ok(Self {
            writer,
            header,
            frames_written: 0,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
        })
    }

    /// Refuses frames above `limit` bytes (default [`DEFAULT_MAX_FRAME_SIZE`]).
    pub fn set_max_frame_size(&mut self, limit: u32) {
        self.max_frame_size = limit;
    }

    /// The header as written.
    pub fn header(&self) -> &IvfHeader {
        &self.header
    }

    /// The number of frames written so far.
    pub fn frames_written(&self) -> u32 {
        self.frames_written
    }

    /// Writes one frame with its presentation timestamp (timebase units).
    pub fn write_frame(&mut self, pts: u64, data: &[u8]) -> Result<(), IvfError> {
        let size = u32::try_from(data.len())
            .ok()
            .filter(|&s| s <= self.max_frame_size)
            .ok_or(IvfError::FrameTooLargeToWrite {
                size: data.len(),
                limit: self.max_frame_size,
            })?;
        let mut h = [0u8; FRAME_HEADER_LEN];
        h[0..4].copy_from_slice(&size.to_le_bytes());
        h[4..12].copy_from_slice(&pts.to_le_bytes());
        let io = |source| IvfError::Io {
            context: "writing a frame",
            source,
        };
        self.writer.write_all(&h).map_err(io)?;
        self.writer.write_all(data).map_err(io)?;
        self.frames_written = self.frames_written.saturating_add(1);
        Ok(())
    }

    /// Flushes and returns the writer; the header's frame count stays as
    /// written at construction.
    pub fn finish(mut self) -> Result<W, IvfError> {
        self.writer.flush().map_err(|source| IvfError::Io {
            context: "flushing",
            source,
        })?;
        Ok(self.writer)
    }
}

impl<W: Write + Seek> IvfWriter<W> {
    /// Rewrites the header's frame count (bytes 24..28) with the number of
    /// frames written, seeks back to the end, flushes and returns the writer.
    /// The header must be at offset 0 of the stream (the writer was made on
    /// an empty file or buffer).
    pub fn finish_seekable(mut self) -> Result<W, IvfError> {
        let io = |source| IvfError::Io {
            context: "fixing the frame count",
            source,
        };
        let end = self.writer.stream_position().map_err(io)?;
        // The header starts where the stream started: end minus what we wrote
        // is unknowable in general, so the header is taken to be at offset 0.
        self.writer.seek(SeekFrom::Start(24)).map_err(io)?;
        self.writer
            .write_all(&self.frames_written.to_le_bytes())
            .map_err(io)?;
        self.writer.seek(SeekFrom::Start(end)).map_err(io)?;
        self.header.frame_count = self.frames_written;
        self.finish()
    }
}
