//! Ogg pages (RFC 3533): reading and writing pages with their CRC, and
//! packets laced across them for one logical bitstream.
//!
//! Page header (RFC 3533 §6), integers little-endian:
//!
//! | bytes | field |
//! |---|---|
//! | 0..4 | capture pattern `OggS` |
//! | 4 | stream structure version, 0 |
//! | 5 | header type: 0x01 continued, 0x02 first page (BOS), 0x04 last page (EOS) |
//! | 6..14 | granule position |
//! | 14..18 | bitstream serial number |
//! | 18..22 | page sequence number |
//! | 22..26 | CRC-32 (polynomial 0x04c11db7, init 0, no reflection, over the page with this field zero) |
//! | 26 | number of segments |
//! | 27.. | segment table (lacing values), then the body |

use std::io::{self, Read, Write};

use crate::read::fill_up_to;

/// The capture pattern that starts every page (RFC 3533 §6).
pub const CAPTURE_PATTERN: [u8; 4] = *b"OggS";
/// The fixed part of a page header, before the segment table.
pub const HEADER_LEN: usize = 27;
/// Header type flag: the page starts with the continuation of a packet.
pub const FLAG_CONTINUED: u8 = 0x01;
/// Header type flag: first page of a logical bitstream (BOS).
pub const FLAG_BOS: u8 = 0x02;
/// Header type flag: last page of a logical bitstream (EOS).
pub const FLAG_EOS: u8 = 0x04;
/// The granule position of a page on which no packet finishes (RFC 3533 §6: -1).
pub const NO_GRANULE: u64 = u64::MAX;
/// The most segments a page holds.
pub const MAX_SEGMENTS: usize = 255;

/// An error reading or writing Ogg.
#[derive(Debug, thiserror::Error)]
pub enum OggError {
    /// The underlying reader or writer failed.
    #[error("Ogg I/O error {context}: {source}")]
    Io {
        /// What was being read or written.
        context: &'static str,
        /// The I/O error.
        source: io::Error,
    },
    /// A page does not start with `OggS`.
    #[error("Ogg page {page}: capture pattern {found:02x?}, expected OggS")]
    BadCapturePattern {
        /// Index of the page in the file (0 is the first).
        page: u64,
        /// The four bytes found.
        found: [u8; 4],
    },
    /// The stream structure version is not 0.
    #[error("Ogg page {page}: unsupported stream structure version {version}")]
    UnsupportedVersion {
        /// Index of the page.
        page: u64,
        /// The version found.
        version: u8,
    },
    /// The input ended inside a page.
    #[error("Ogg page {page} truncated: {got} of {expected} bytes ({what})")]
    Truncated {
        /// Index of the page.
        page: u64,
        /// Which part was cut.
        what: &'static str,
        /// Bytes expected.
        expected: usize,
        /// Bytes present.
        got: usize,
    },
    /// The CRC does not match the page.
    #[error("Ogg page {page}: CRC {found:#010x}, computed {computed:#010x}")]
    BadCrc {
        /// Index of the page.
        page: u64,
        /// The CRC in the page.
        found: u32,
        /// The CRC of the page's bytes.
        computed: u32,
    },
    /// A page of another shape than the logical stream allows.
    #[error("Ogg page {page}: {reason}")]
    BadStream {
        /// Index of the page.
        page: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// A packet grew beyond the configured limit.
    #[error("Ogg packet ending on page {page} exceeds {limit} bytes")]
    PacketTooLarge {
        /// Index of the page.
        page: u64,
        /// The limit.
        limit: usize,
    },
    /// A page to write has more than 255 segments or a body that does
    /// not match its lacing.
    #[error("Ogg page cannot be written: {0}")]
    BadPage(&'static str),
}

/// The Ogg CRC-32 lookup table (polynomial 0x04c11db7, MSB first).
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut r = (i as u32) << 24;
        let mut bit = 0;
        while bit < 8 {
            r = if r & 0x8000_0000 != 0 {
                (r << 1) ^ 0x04c1_1db7
            } else {
                r << 1
            };
            bit += 1;
        }
        table[i] = r;
        i += 1;
    }
    table
};

/// Continues the Ogg CRC-32 (RFC 3533 §6: polynomial 0x04c11db7, initial
/// value 0, no reflection, no final XOR) of the bytes before over `bytes`.
pub fn crc32_update(mut crc: u32, bytes: &[u8]) -> u32 {
    for &b in bytes {
        crc = (crc << 8) ^ CRC_TABLE[(((crc >> 24) as u8) ^ b) as usize];
    }
    crc
}

/// The Ogg CRC-32 of `bytes` (RFC 3533 §6).
pub fn crc32(bytes: &[u8]) -> u32 {
    crc32_update(0, bytes)
}

/// One Ogg page (RFC 3533 §6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Header type flags: [`FLAG_CONTINUED`], [`FLAG_BOS`], [`FLAG_EOS`].
    pub header_type: u8,
    /// Granule position; [`NO_GRANULE`] when no packet finishes here.
    pub granule_position: u64,
    /// Bitstream serial number.
    pub serial: u32,
    /// Page sequence number in the logical bitstream.
    pub sequence: u32,
    /// The segment table: lacing values, each 0..=255.
    pub segments: Vec<u8>,
    /// The body: the sum of the lacing values in bytes.
    pub body: Vec<u8>,
}

impl Page {
    /// Whether the page starts with the rest of a packet begun on an earlier page.
    pub fn is_continued(&self) -> bool {
        self.header_type & FLAG_CONTINUED != 0
    }

    /// Whether this is the first page of its logical bitstream.
    pub fn is_bos(&self) -> bool {
        self.header_type & FLAG_BOS != 0
    }

    /// Whether this is the last page of its logical bitstream.
    pub fn is_eos(&self) -> bool {
        self.header_type & FLAG_EOS != 0
    }

    /// The page as bytes with its CRC filled in.
    pub fn to_bytes(&self) -> Result<Vec<u8>, OggError> {
        if self.segments.len() > MAX_SEGMENTS {
            return Err(OggError::BadPage("more than 255 segments"));
        }
        let laced: usize = self.segments.iter().map(|&s| usize::from(s)).sum();
        if laced != self.body.len() {
            return Err(OggError::BadPage("body length differs from the lacing"));
        }
        let mut b = Vec::with_capacity(HEADER_LEN + self.segments.len() + self.body.len());
        b.extend_from_slice(&CAPTURE_PATTERN);
        b.push(0);
        b.push(self.header_type);
        b.extend_from_slice(&self.granule_position.to_le_bytes());
        b.extend_from_slice(&self.serial.to_le_bytes());
        b.extend_from_slice(&self.sequence.to_le_bytes());
        b.extend_from_slice(&[0; 4]);
        b.push(self.segments.len() as u8);
        b.extend_from_slice(&self.segments);
        b.extend_from_slice(&self.body);
        let crc = crc32(&b);
        b[22..26].copy_from_slice(&crc.to_le_bytes());
        Ok(b)
    }
}

/// Reads Ogg pages from any [`Read`], checking each CRC. The input must be
/// a sequence of pages from its first byte (no resynchronisation on
/// garbage: a bad capture pattern is an error). An I/O error inside a page
/// (`WouldBlock` from a non-blocking input) keeps what was read: the next
/// [`PageReader::next_page`] goes on from there.
#[derive(Debug)]
pub struct PageReader<R> {
    reader: R,
    pages_read: u64,
    /// The page being read, as far as it was read.
    header: [u8; HEADER_LEN],
    header_got: usize,
    segments: Vec<u8>,
    segments_got: usize,
    body: Vec<u8>,
    body_got: usize,
}

/// A page read whole and not yet checked: header, segment table, body.
type PageParts = ([u8; HEADER_LEN], Vec<u8>, Vec<u8>);

/// A part of the page being read, filled up to its length.
struct Part<'a> {
    buf: &'a mut [u8],
    got: &'a mut usize,
    what: &'static str,
}

impl<R: Read> PageReader<R> {
    /// A reader at the start of the input.
    pub fn new(reader: R) -> Self {
        Self {
            reader,
            pages_read: 0,
            header: [0; HEADER_LEN],
            header_got: 0,
            segments: Vec::new(),
            segments_got: 0,
            body: Vec::new(),
            body_got: 0,
        }
    }

    /// The number of pages read so far (the next page's index).
    pub fn pages_read(&self) -> u64 {
        self.pages_read
    }

    /// Fills `part` from the input. An I/O error keeps what was read; the
    /// input ending inside the part is [`OggError::Truncated`], except
    /// where a page would start. (`next_page` forgets the page on any
    /// other error than I/O.)
    fn fill(reader: &mut R, page: u64, part: Part<'_>) -> Result<(), OggError> {
        fill_up_to(reader, part.buf, part.got).map_err(|source| OggError::Io {
            context: "reading a page",
            source,
        })?;
        let got = *part.got;
        // Nothing at all where a page would start is the clean end of input.
        if got < part.buf.len() && !(got == 0 && part.what == "page header") {
            return Err(OggError::Truncated {
                page,
                what: part.what,
                expected: part.buf.len(),
                got,
            });
        }
        Ok(())
    }

    /// Forgets the page being read: the next read starts a new one.
    fn reset(&mut self) {
        self.header_got = 0;
        self.segments_got = 0;
        self.body_got = 0;
    }

    /// The next page, `Ok(None)` at a clean end of input (between pages).
    pub fn next_page(&mut self) -> Result<Option<Page>, OggError> {
        let page = self.pages_read;
        let read = self.read_page(page);
        if !matches!(read, Err(OggError::Io { .. })) {
            self.reset();
        }
        let (mut h, segments, body) = match read? {
            Some(parts) => parts,
            None => return Ok(None),
        };
        let found_crc = u32::from_le_bytes([h[22], h[23], h[24], h[25]]);
        h[22..26].fill(0);
        let computed = crc32_update(crc32_update(crc32(&h), &segments), &body);
        if computed != found_crc {
            return Err(OggError::BadCrc {
                page,
                found: found_crc,
                computed,
            });
        }
        self.pages_read += 1;
        let u32_at = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        Ok(Some(Page {
            header_type: h[5],
            granule_position: u64::from_le_bytes([
                h[6], h[7], h[8], h[9], h[10], h[11], h[12], h[13],
            ]),
            serial: u32_at(14),
            sequence: u32_at(18),
            segments,
            body,
        }))
    }

    /// Reads the rest of the page begun (the header, the segment table,
    /// the body), `Ok(None)` at a clean end of input.
    fn read_page(&mut self, page: u64) -> Result<Option<PageParts>, OggError> {
        let header = Part {
            buf: &mut self.header,
            got: &mut self.header_got,
            what: "page header",
        };
        Self::fill(&mut self.reader, page, header)?;
        if self.header_got == 0 {
            return Ok(None);
        }
        let h = self.header;
        let found = [h[0], h[1], h[2], h[3]];
        if found != CAPTURE_PATTERN {
            return Err(OggError::BadCapturePattern { page, found });
        }
        if h[4] != 0 {
            return Err(OggError::UnsupportedVersion {
                page,
                version: h[4],
            });
        }
        if self.segments_got == 0 {
            self.segments.resize(usize::from(h[26]), 0);
        }
        let segments = Part {
            buf: &mut self.segments,
            got: &mut self.segments_got,
            what: "segment table",
        };
        Self::fill(&mut self.reader, page, segments)?;
        if self.body_got == 0 {
            let body_len: usize = self.segments.iter().map(|&s| usize::from(s)).sum();
            self.body.resize(body_len, 0);
        }
        let body = Part {
            buf: &mut self.body,
            got: &mut self.body_got,
            what: "body",
        };
        Self::fill(&mut self.reader, page, body)?;
        Ok(Some((
            h,
            std::mem::take(&mut self.segments),
            std::mem::take(&mut self.body),
        )))
    }
}

/// A packet reassembled from the pages of one logical bitstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// The packet's bytes.
    pub data: Vec<u8>,
    /// The granule position of the page this packet ends on, when it is
    /// the last packet to end there (RFC 3533 §6); `None` otherwise.
    pub granule_position: Option<u64>,
    /// Index (in the file) of the page the packet ends on.
    pub page: u64,
    /// Whether the packet ends on the stream's EOS page.
    pub eos: bool,
}

/// The default limit on a reassembled packet: 1 MiB.
pub const DEFAULT_MAX_PACKET_SIZE: usize = 1024 * 1024;

/// Reassembles the packets of one logical bitstream (RFC 3533 §5, lacing):
/// the first BOS page's serial number picks the stream; pages of other
/// serials are skipped.
#[derive(Debug)]
pub struct PacketReader<R> {
    pages: PageReader<R>,
    serial: Option<u32>,
    /// Sequence number of the last page of the stream read.
    last_sequence: Option<u32>,
    /// Packets completed and not yet returned.
    ready: std::collections::VecDeque<Packet>,
    /// A packet begun on an earlier page.
    partial: Vec<u8>,
    /// Whether `partial` holds the start of a packet.
    in_packet: bool,
    ended: bool,
    max_packet_size: usize,
}

impl<R: Read> PacketReader<R> {
    /// A reader at the start of the input.
    pub fn new(reader: R) -> Self {
        Self {
            pages: PageReader::new(reader),
            serial: None,
            last_sequence: None,
            ready: Default::default(),
            partial: Vec::new(),
            in_packet: false,
            ended: false,
            max_packet_size: DEFAULT_MAX_PACKET_SIZE,
        }
    }

    /// Refuses packets above `limit` bytes (default [`DEFAULT_MAX_PACKET_SIZE`]).
    pub fn set_max_packet_size(&mut self, limit: usize) {
        self.max_packet_size = limit;
    }

    /// The serial number of the stream being read, once its BOS page was read.
    pub fn serial(&self) -> Option<u32> {
        self.serial
    }

    /// The next packet, `Ok(None)` at the end of the stream (its EOS page or
    /// the end of input between packets).
    pub fn next_packet(&mut self) -> Result<Option<Packet>, OggError> {
        loop {
            if let Some(p) = self.ready.pop_front() {
                return Ok(Some(p));
            }
            if self.ended {
                return Ok(None);
            }
            let index = self.pages.pages_read();
            let Some(page) = self.pages.next_page()? else {
                if self.in_packet {
                    return Err(OggError::BadStream {
                        page: index,
                        reason: "input ends inside a packet",
                    });
                }
                self.ended = true;
                return Ok(None);
            };
            match self.serial {
                None if page.is_bos() => self.serial = Some(page.serial),
                None => {
                    return Err(OggError::BadStream {
                        page: index,
                        reason: "first page is not a BOS page",
                    });
                }
                Some(s) if s != page.serial => continue,
                Some(_) if page.is_bos() => {
                    return Err(OggError::BadStream {
                        page: index,
                        reason: "second BOS page for the stream",
                    });
                }
                Some(_) => {}
            }
            self.take_page(page, index)?;
        }
    }

    fn take_page(&mut self, page: Page, index: u64) -> Result<(), OggError> {
        if let Some(last) = self.last_sequence {
            if page.sequence != last.wrapping_add(1) {
                return Err(OggError::BadStream {
                    page: index,
                    reason: "page sequence number skips (a page was lost)",
                });
            }
        }
        self.last_sequence = Some(page.sequence);
        if page.is_continued() != self.in_packet {
            return Err(OggError::BadStream {
                page: index,
                reason: if self.in_packet {
                    "packet left unfinished by the page before"
                } else {
                    "continued flag without a packet to continue"
                },
            });
        }
        let eos = page.is_eos();
        let mut offset = 0;
        let mut finished = Vec::new();
        for &lace in &page.segments {
            let len = usize::from(lace);
            if self.partial.len() + len > self.max_packet_size {
                return Err(OggError::PacketTooLarge {
                    page: index,
                    limit: self.max_packet_size,
                });
            }
            self.partial
                .extend_from_slice(&page.body[offset..offset + len]);
            offset += len;
            self.in_packet = true;
            // A lacing value below 255 ends the packet (RFC 3533 §5).
            if lace < 255 {
                finished.push(std::mem::take(&mut self.partial));
                self.in_packet = false;
            }
        }
        let count = finished.len();
        for (i, data) in finished.into_iter().enumerate() {
            let last = i + 1 == count;
            self.ready.push_back(Packet {
                data,
                granule_position: (last && page.granule_position != NO_GRANULE)
                    .then_some(page.granule_position),
                page: index,
                eos: eos && last && !self.in_packet,
            });
        }
        if eos {
            if self.in_packet {
                return Err(OggError::BadStream {
                    page: index,
                    reason: "EOS page ends inside a packet",
                });
            }
            self.ended = true;
        }
        Ok(())
    }
}

/// Writes Ogg pages for one logical bitstream: packets are laced into
/// pages of about `target_page_size` bytes of body, at most 255 segments.
#[derive(Debug)]
pub struct PacketWriter<W> {
    writer: W,
    serial: u32,
    sequence: u32,
    /// Segment table and body of the page being filled.
    segments: Vec<u8>,
    body: Vec<u8>,
    /// Granule of the last packet finished on the page being filled.
    granule: Option<u64>,
    /// The page being filled starts with the rest of a packet.
    page_starts_continued: bool,
    /// No page has been written yet: the next one is BOS.
    first: bool,
    target_page_size: usize,
}

/// The default target body size of a written page.
pub const DEFAULT_PAGE_SIZE: usize = 4096;

impl<W: Write> PacketWriter<W> {
    /// A writer for the logical bitstream `serial`.
    pub fn new(writer: W, serial: u32) -> Self {
        Self {
            writer,
            serial,
            sequence: 0,
            segments: Vec::new(),
            body: Vec::new(),
            granule: None,
            page_starts_continued: false,
            first: true,
            target_page_size: DEFAULT_PAGE_SIZE,
        }
    }

    /// Sets the body size after which a page is written (at least 1).
    pub fn set_target_page_size(&mut self, size: usize) {
        self.target_page_size = size.max(1);
    }

    /// The number of pages written so far.
    pub fn pages_written(&self) -> u32 {
        self.sequence
    }

    /// Adds a packet that ends at `granule_position`. The page is written
    /// once it reaches the target size; a packet too big for one page
    /// continues on the next (RFC 3533 §5).
    pub fn write_packet(&mut self, data: &[u8], granule_position: u64) -> Result<(), OggError> {
        // Lacing: 255s then one value below 255 (possibly 0).
        let mut rest = data;
        loop {
            let n = rest.len().min(255);
            self.segments.push(n as u8);
            self.body.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            if n < 255 {
                break;
            }
            if self.segments.len() == MAX_SEGMENTS {
                // The packet goes on: the next page continues it.
                self.write_page(false)?;
                self.page_starts_continued = true;
            }
        }
        self.granule = Some(granule_position);
        if self.body.len() >= self.target_page_size || self.segments.len() == MAX_SEGMENTS {
            self.write_page(false)?;
        }
        Ok(())
    }

    /// Writes the page being filled, if it holds anything.
    pub fn flush_page(&mut self) -> Result<(), OggError> {
        if self.segments.is_empty() {
            return Ok(());
        }
        self.write_page(false)
    }

    fn write_page(&mut self, eos: bool) -> Result<(), OggError> {
        let mut header_type = 0;
        if std::mem::take(&mut self.page_starts_continued) {
            header_type |= FLAG_CONTINUED;
        }
        if self.first {
            header_type |= FLAG_BOS;
        }
        if eos {
            header_type |= FLAG_EOS;
        }
        let page = Page {
            header_type,
            granule_position: self.granule.take().unwrap_or(NO_GRANULE),
            serial: self.serial,
            sequence: self.sequence,
            segments: std::mem::take(&mut self.segments),
            body: std::mem::take(&mut self.body),
        };
        let bytes = page.to_bytes()?;
        self.writer
            .write_all(&bytes)
            .map_err(|source| OggError::Io {
                context: "writing a page",
                source,
            })?;
        self.first = false;
        self.sequence = self.sequence.wrapping_add(1);
        Ok(())
    }

    /// Writes what is left as the EOS page (an empty EOS page when nothing
    /// is left; `last_granule` is its granule position then), flushes and
    /// returns the writer.
    pub fn finish(mut self, last_granule: u64) -> Result<W, OggError> {
        if self.segments.is_empty() {
            self.granule = Some(last_granule);
        }
        self.write_page(true)?;
        self.writer.flush().map_err(|source| OggError::Io {
            context: "flushing",
            source,
        })?;
        Ok(self.writer)
    }
}
