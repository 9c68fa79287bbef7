//! H.264 byte streams (ITU-T H.264 Annex B): NAL units separated by start
//! codes `00 00 01` or `00 00 00 01`, grouped into access units (frames).
//!
//! Access unit rule (a simplification of H.264 §7.4.1.2.3, enough for
//! files an encoder writes): a new access unit starts at
//! - an access unit delimiter (type 9), whenever the current unit has anything;
//! - an SPS (7), PPS (8) or SEI (6) once the current unit has a slice;
//! - a slice (types 1 and 5) with `first_mb_in_slice == 0` once the current
//!   unit has a slice.
//!
//! Everything else joins the current unit. An access unit is a keyframe when
//! it holds an IDR slice (type 5).

use std::io::{self, Read, Write};

use crate::read::fill_up_to;

/// NAL unit type: coded slice of a non-IDR picture.
pub const NAL_SLICE: u8 = 1;
/// NAL unit type: coded slice data partition A.
pub const NAL_SLICE_DPA: u8 = 2;
/// NAL unit type: coded slice of an IDR picture.
pub const NAL_IDR: u8 = 5;
/// NAL unit type: supplemental enhancement information.
pub const NAL_SEI: u8 = 6;
/// NAL unit type: sequence parameter set.
pub const NAL_SPS: u8 = 7;
/// NAL unit type: picture parameter set.
pub const NAL_PPS: u8 = 8;
/// NAL unit type: access unit delimiter.
pub const NAL_AUD: u8 = 9;
/// The start code the writer puts before each NAL unit.
pub const START_CODE: [u8; 4] = [0, 0, 0, 1];
/// The default limit on one NAL unit: 16 MiB.
pub const DEFAULT_MAX_NAL_SIZE: usize = 16 * 1024 * 1024;
/// The default limit on one access unit (the sum of its NAL units'
/// sizes): 32 MiB.
pub const DEFAULT_MAX_ACCESS_UNIT_SIZE: usize = 32 * 1024 * 1024;

/// An error reading or writing an Annex B byte stream.
#[derive(Debug, thiserror::Error)]
pub enum AnnexBError {
    /// The underlying reader or writer failed.
    #[error("Annex B I/O error {context}: {source}")]
    Io {
        /// What was being read or written.
        context: &'static str,
        /// The I/O error.
        source: io::Error,
    },
    /// Bytes other than zeros come before the first start code.
    #[error("Annex B stream does not start with a start code (byte {offset:#04x} first)")]
    MissingStartCode {
        /// The first nonzero byte.
        offset: u8,
    },
    /// A NAL unit has its forbidden_zero_bit set (H.264 §7.4.1).
    #[error("NAL unit {index}: forbidden_zero_bit is set (header {header:#04x})")]
    ForbiddenBit {
        /// Index of the NAL unit in the stream.
        index: u64,
        /// Its header byte.
        header: u8,
    },
    /// A NAL unit grew beyond the limit.
    #[error("NAL unit {index} exceeds {limit} bytes")]
    NalTooLarge {
        /// Index of the NAL unit.
        index: u64,
        /// The limit.
        limit: usize,
    },
    /// An access unit grew beyond the limit: NAL units that never start a
    /// new one (filler data, slices not at macroblock 0) kept joining it.
    #[error("access unit exceeds {limit} bytes at NAL unit {index}")]
    AccessUnitTooLarge {
        /// Index of the NAL unit that took it over the limit.
        index: u64,
        /// The limit.
        limit: usize,
    },
    /// A NAL unit to write is empty.
    #[error("an empty NAL unit cannot be written")]
    EmptyNal,
}

/// The type of a NAL unit from its header byte (H.264 §7.3.1: low 5 bits).
pub fn nal_type(nal: &[u8]) -> Option<u8> {
    nal.first().map(|h| h & 0x1f)
}

/// Whether a NAL unit type is a coded slice (VCL, types 1..=5).
pub fn is_vcl(nal_type: u8) -> bool {
    (1..=5).contains(&nal_type)
}

/// Splits a whole Annex B buffer into NAL units (without start codes and
/// without the trailing zero bytes before the next start code). Bytes
/// before the first start code are skipped; empty NAL units are dropped.
pub fn split_nal_units(stream: &[u8]) -> Vec<&[u8]> {
    let mut nals = Vec::new();
    let mut start = None;
    let mut i = 0;
    while i + 3 <= stream.len() {
        if stream[i] == 0 && stream[i + 1] == 0 && stream[i + 2] == 1 {
            if let Some(s) = start {
                push_trimmed(&mut nals, &stream[s..i]);
            }
            i += 3;
            start = Some(i);
        } else {
            i += 1;
        }
    }
    if let Some(s) = start {
        push_trimmed(&mut nals, &stream[s..]);
    }
    nals
}

fn trim_trailing_zeros(nal: &[u8]) -> &[u8] {
    let end = nal.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
    &nal[..end]
}

fn push_trimmed<'a>(nals: &mut Vec<&'a [u8]>, nal: &'a [u8]) {
    // The zero before `00 00 01` of a 4-byte start code, and any
    // trailing_zero_8bits, are not part of the NAL unit (Annex B.2).
    let nal = trim_trailing_zeros(nal);
    if !nal.is_empty() {
        nals.push(nal);
    }
}

/// Reads exp-Golomb codes MSB first from RBSP bytes (H.264 §9.1).
struct BitReader<'a> {
    data: &'a [u8],
    bit: usize,
}

impl BitReader<'_> {
    fn read_bit(&mut self) -> Option<u32> {
        let byte = *self.data.get(self.bit / 8)?;
        let b = (byte >> (7 - self.bit % 8)) & 1;
        self.bit += 1;
        Some(u32::from(b))
    }

    /// ue(v): leading zeros, a one, then as many bits (H.264 §9.1).
    fn read_ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.read_bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        let mut value = 0u64;
        for _ in 0..zeros {
            value = (value << 1) | u64::from(self.read_bit()?);
        }
        u32::try_from((1u64 << zeros) - 1 + value).ok()
    }
}

/// `first_mb_in_slice` of a slice NAL unit (H.264 §7.3.3: the first ue(v)
/// of the slice header), read after removing emulation prevention bytes;
/// `None` when the unit is not a slice or is too short.
pub fn first_mb_in_slice(nal: &[u8]) -> Option<u32> {
    if !is_vcl(nal_type(nal)?) {
        return None;
    }
    // Unescape a prefix: `00 00 03` → `00 00` (H.264 §7.4.1). 16 bytes hold
    // any 32-bit ue(v) even with escapes.
    let mut rbsp = Vec::with_capacity(16);
    let mut zeros = 0;
    for &b in nal[1..].iter().take(24) {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        rbsp.push(b);
    }
    BitReader {
        data: &rbsp,
        bit: 0,
    }
    .read_ue()
}

/// An access unit: the NAL units of one frame, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccessUnit {
    /// The NAL units, without start codes.
    pub nals: Vec<Vec<u8>>,
}

impl AccessUnit {
    /// Whether the unit holds an IDR slice (type 5).
    pub fn is_keyframe(&self) -> bool {
        self.nals.iter().any(|n| nal_type(n) == Some(NAL_IDR))
    }

    /// Whether the unit holds a coded slice.
    pub fn has_slice(&self) -> bool {
        self.nals.iter().any(|n| nal_type(n).is_some_and(is_vcl))
    }

    /// The unit as an Annex B byte stream with 4-byte start codes.
    pub fn to_annex_b(&self) -> Vec<u8> {
        let mut b = Vec::new();
        for n in &self.nals {
            b.extend_from_slice(&START_CODE);
            b.extend_from_slice(n);
        }
        b
    }

    /// Whether `nal` starts a new access unit after this one (the rule in
    /// the module documentation).
    pub fn starts_new(&self, nal: &[u8]) -> bool {
        if self.nals.is_empty() {
            return false;
        }
        match nal_type(nal) {
            Some(NAL_AUD) => true,
            Some(NAL_SEI | NAL_SPS | NAL_PPS) => self.has_slice(),
            Some(t) if is_vcl(t) => self.has_slice() && first_mb_in_slice(nal) == Some(0),
            _ => false,
        }
    }
}

/// Reads an Annex B byte stream from any [`Read`]: NAL units one at a time
/// ([`AnnexBReader::next_nal`]) or grouped into access units
/// ([`AnnexBReader::next_access_unit`]); use one or the other.
#[derive(Debug)]
pub struct AnnexBReader<R> {
    reader: R,
    /// Bytes read and not yet returned; starts after a start code once
    /// the first was found.
    buf: Vec<u8>,
    /// Where the unread bytes start in `buf` (dropped at the next fill).
    pos: usize,
    /// Where the search for the next start code resumes in `buf`.
    scan: usize,
    /// Whether the first start code has been found.
    synced: bool,
    eof: bool,
    nals_read: u64,
    max_nal_size: usize,
    max_access_unit_size: usize,
    /// The NAL unit read past the end of the last access unit.
    pending: Option<Vec<u8>>,
    /// The access unit being gathered, and its size, kept over an error.
    current: AccessUnit,
    current_size: usize,
}

const CHUNK: usize = 64 * 1024;

/// What each NAL unit of an access unit costs beyond its bytes: its `Vec`
/// in [`AccessUnit::nals`], counted twice for that list's growth.
const NAL_BOOKKEEPING: usize = 2 * std::mem::size_of::<Vec<u8>>();

impl<R: Read> AnnexBReader<R> {
    /// A reader; NAL units above [`DEFAULT_MAX_NAL_SIZE`] are refused.
    pub fn new(reader: R) -> Self {
        Self::with_max_nal_size(reader, DEFAULT_MAX_NAL_SIZE)
    }

    /// A reader refusing NAL units above `max_nal_size` bytes.
    pub fn with_max_nal_size(reader: R, max_nal_size: usize) -> Self {
        Self {
            reader,
            buf: Vec::new(),
            pos: 0,
            scan: 0,
            synced: false,
            eof: false,
            nals_read: 0,
            max_nal_size,
            max_access_unit_size: DEFAULT_MAX_ACCESS_UNIT_SIZE,
            pending: None,
            current: AccessUnit::default(),
            current_size: 0,
        }
    }

    /// Refuses access units that hold more than `limit` bytes (default
    /// [`DEFAULT_MAX_ACCESS_UNIT_SIZE`]): their NAL units' bytes, and 48
    /// bytes of bookkeeping for each.
    pub fn set_max_access_unit_size(&mut self, limit: usize) {
        self.max_access_unit_size = limit;
    }

    fn fill(&mut self) -> Result<(), AnnexBError> {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.scan = self.scan.saturating_sub(self.pos);
            self.pos = 0;
        }
        let old = self.buf.len();
        self.buf.resize(old + CHUNK, 0);
        let mut got = 0;
        let read = fill_up_to(&mut self.reader, &mut self.buf[old..], &mut got);
        // Only what was read stays, also on an error: the next call after
        // a `WouldBlock` goes on from there.
        self.buf.truncate(old + got);
        read.map_err(|source| AnnexBError::Io {
            context: "reading the stream",
            source,
        })?;
        if got < CHUNK {
            self.eof = true;
        }
        Ok(())
    }

    /// Position of the next `00 00 01` in `buf` from `scan`.
    fn find_start_code(&mut self) -> Option<usize> {
        let b = &self.buf;
        let mut i = self.scan;
        while i + 3 <= b.len() {
            if b[i + 2] > 1 {
                i += 3;
            } else if b[i] == 0 && b[i + 1] == 0 && b[i + 2] == 1 {
                return Some(i);
            } else {
                i += 1;
            }
        }
        // The last two bytes may begin a start code the next fill completes.
        self.scan = i.min(b.len().saturating_sub(2)).max(self.pos);
        None
    }

    /// The next NAL unit (without start code), `Ok(None)` at end of stream.
    pub fn next_nal(&mut self) -> Result<Option<Vec<u8>>, AnnexBError> {
        if let Some(n) = self.pending.take() {
            return Ok(Some(n));
        }
        loop {
            if !self.synced {
                match self.find_start_code() {
                    Some(p) => {
                        if let Some(&b) = self.buf[..p].iter().find(|&&b| b != 0) {
                            return Err(AnnexBError::MissingStartCode { offset: b });
                        }
                        self.buf.drain(..p + 3);
                        self.scan = 0;
                        self.synced = true;
                    }
                    None if self.eof => {
                        return match self.buf.iter().find(|&&b| b != 0) {
                            Some(&b) => Err(AnnexBError::MissingStartCode { offset: b }),
                            None => Ok(None),
                        };
                    }
                    None => {
                        if let Some(&b) = self.buf.iter().find(|&&b| b != 0) {
                            return Err(AnnexBError::MissingStartCode { offset: b });
                        }
                        // Only zeros so far: leading_zero_8bits (H.264
                        // §B.2), any number of them. Keep the last two,
                        // which may begin the start code the next read
                        // completes, and drop the rest, so that the buffer
                        // (and the scan above) stays one read chunk long.
                        let drop = self.buf.len().saturating_sub(2);
                        self.buf.drain(..drop);
                        self.scan = 0;
                        self.fill()?;
                    }
                }
                continue;
            }
            let nal = match self.find_start_code() {
                Some(p) => {
                    let nal = trim_trailing_zeros(&self.buf[self.pos..p]).to_vec();
                    self.pos = p + 3;
                    self.scan = self.pos;
                    nal
                }
                None if self.eof => {
                    if self.buf.len() == self.pos {
                        return Ok(None);
                    }
                    let nal = trim_trailing_zeros(&self.buf[self.pos..]).to_vec();
                    self.buf.clear();
                    self.pos = 0;
                    self.scan = 0;
                    nal
                }
                None => {
                    if self.buf.len() - self.pos > self.max_nal_size.saturating_add(4) {
                        return Err(AnnexBError::NalTooLarge {
                            index: self.nals_read,
                            limit: self.max_nal_size,
                        });
                    }
                    self.fill()?;
                    continue;
                }
            };
            if nal.is_empty() {
                continue;
            }
            let index = self.nals_read;
            if nal.len() > self.max_nal_size {
                return Err(AnnexBError::NalTooLarge {
                    index,
                    limit: self.max_nal_size,
                });
            }
            if nal[0] & 0x80 != 0 {
                return Err(AnnexBError::ForbiddenBit {
                    index,
                    header: nal[0],
                });
            }
            self.nals_read += 1;
            return Ok(Some(nal));
        }
    }

    /// The next access unit (the rule in the module documentation),
    /// `Ok(None)` at end of stream. An access unit above the limit
    /// ([`AnnexBReader::set_max_access_unit_size`]) is an error: Annex B
    /// has no size field (H.264 §B.1), and NAL units that never start a
    /// new unit would otherwise join this one without end; the next call
    /// goes on with the NAL units after it. An I/O error (`WouldBlock`
    /// from a non-blocking source) loses nothing: the next call goes on
    /// with the unit it was gathering.
    pub fn next_access_unit(&mut self) -> Result<Option<AccessUnit>, AnnexBError> {
        while let Some(nal) = self.next_nal()? {
            if self.current.starts_new(&nal) {
                self.pending = Some(nal);
                self.current_size = 0;
                return Ok(Some(std::mem::take(&mut self.current)));
            }
            let (au, size) = (&mut self.current, &mut self.current_size);
            // What the unit holds: the NAL unit's allocation and its place
            // in `nals` (which may be twice its length while it grows), so
            // that tiny NAL units cannot hold many times the limit.
            *size = size.saturating_add(nal.capacity() + NAL_BOOKKEEPING);
            if *size > self.max_access_unit_size {
                // What was gathered is given up: the next call starts
                // afresh from the NAL units after it (the rest of the
                // oversized unit, if it has more, come as a unit of
                // their own).
                *au = AccessUnit::default();
                *size = 0;
                return Err(AnnexBError::AccessUnitTooLarge {
                    // The NAL unit just returned by next_nal (from
                    // `pending` too: it was counted when first read).
                    index: self.nals_read.saturating_sub(1),
                    limit: self.max_access_unit_size,
                });
            }
            au.nals.push(nal);
        }
        self.current_size = 0;
        let au = std::mem::take(&mut self.current);
        Ok((!au.nals.is_empty()).then_some(au))
    }
}

/// Writes NAL units as an Annex B byte stream with 4-byte start codes.
#[derive(Debug)]
pub struct AnnexBWriter<W> {
    writer: W,
}

impl<W: Write> AnnexBWriter<W> {
    /// A writer.
    pub fn new(writer: W) -> Self {
        Self { writer }
    }

    /// Writes one NAL unit (without start code) after `00 00 00 01`.
    pub fn write_nal(&mut self, nal: &[u8]) -> Result<(), AnnexBError> {
        if nal.is_empty() {
            return Err(AnnexBError::EmptyNal);
        }
        let io = |source| AnnexBError::Io {
            context: "writing a NAL unit",
            source,
        };
        self.writer.write_all(&START_CODE).map_err(io)?;
        self.writer.write_all(nal).map_err(io)
    }

    /// Writes every NAL unit of an access unit.
    pub fn write_access_unit(&mut self, au: &AccessUnit) -> Result<(), AnnexBError> {
        au.nals.iter().try_for_each(|n| self.write_nal(n))
    }

    /// Flushes and returns the writer.
    pub fn finish(mut self) -> Result<W, AnnexBError> {
        self.writer.flush().map_err(|source| AnnexBError::Io {
            context: "flushing",
            source,
        })?;
        Ok(self.writer)
    }
}
