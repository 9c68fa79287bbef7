//! PNG (ISO/IEC 15948, W3C PNG 2nd edition) for still pictures: a writer
//! of 8-bit RGB pictures whose image data is a zlib stream (RFC 1950) of
//! stored, uncompressed deflate blocks (RFC 1951 §3.2.4), and a reader of
//! that same subset (any filter type, stored blocks only) that checks
//! every chunk's CRC and the stream's Adler-32.
//!
//! ```
//! use ferrtc_media::image::RgbImage;
//! use ferrtc_media::png;
//!
//! let img = RgbImage::new(2, 1, vec![255, 0, 0, 0, 0, 255]).unwrap();
//! let bytes = png::write_rgb(&img);
//! assert_eq!(&bytes[1..4], b"PNG");
//! assert_eq!(png::read_rgb(&bytes).unwrap(), img);
//! ```

use thiserror::Error;

use crate::image::{ImageError, MAX_DIMENSION, RgbImage};

/// The eight bytes every PNG starts with (PNG §5.2).
pub const SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];

/// The most bytes one stored deflate block holds (RFC 1951 §3.2.4).
const STORED_MAX: usize = 0xffff;

/// The most image data bytes one IDAT chunk gets from the writer.
const IDAT_MAX: usize = 1 << 20;

/// Adler-32's modulus (RFC 1950 §8.2).
const ADLER_MOD: u32 = 65_521;

/// Why bytes are not a PNG this module reads.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PngError {
    /// The first eight bytes are not the PNG signature.
    #[error("not a PNG (bad signature)")]
    Signature,
    /// The data ends inside a chunk or the image data.
    #[error("truncated PNG: {0}")]
    Truncated(&'static str),
    /// A chunk whose CRC does not match its type and data.
    #[error("chunk {chunk}: CRC mismatch")]
    Crc {
        /// The chunk type, as text.
        chunk: String,
    },
    /// A chunk out of place or of the wrong size.
    #[error("malformed PNG: {0}")]
    Malformed(&'static str),
    /// A valid PNG this reader does not handle.
    #[error("unsupported PNG: {0}")]
    Unsupported(&'static str),
    /// The image data's zlib stream is malformed.
    #[error("bad zlib stream: {0}")]
    Zlib(&'static str),
    /// The picture size is out of range.
    #[error(transparent)]
    Image(#[from] ImageError),
}

/// Adler-32 of `data` (RFC 1950 §8.2).
pub fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    // 5552 bytes is the longest run whose sums cannot overflow a u32.
    for chunk in data.chunks(5552) {
        for &byte in chunk {
            a += u32::from(byte);
            b += a;
        }
        a %= ADLER_MOD;
        b %= ADLER_MOD;
    }
    (b << 16) | a
}

/// Appends one chunk (PNG §5.3): length, type, data, CRC-32 of type and
/// data.
fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    // Chunks are at most IDAT_MAX bytes here, far below 2^31.
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.finalize().to_be_bytes());
}

/// `raw` as a zlib stream of stored deflate blocks.
fn zlib_stored(raw: &[u8]) -> Vec<u8> {
    let blocks = raw.len().div_ceil(STORED_MAX).max(1);
    let mut out = Vec::with_capacity(raw.len() + blocks * 5 + 6);
    // CMF: deflate, 32 KiB window; FLG: no dictionary, level 0, and the
    // check bits that make CMF*256 + FLG a multiple of 31 (RFC 1950 §2.2).
    out.extend_from_slice(&[0x78, 0x01]);
    let mut pieces = raw.chunks(STORED_MAX).peekable();
    if pieces.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(piece) = pieces.next() {
        // BFINAL on the last block, BTYPE 00; the rest of the byte pads
        // to the byte boundary where LEN starts.
        out.push(u8::from(pieces.peek().is_none()));
        let len = piece.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(piece);
    }
    out.extend_from_slice(&adler32(raw).to_be_bytes());
    out
}

/// The PNG of an RGB picture: IHDR (8-bit truecolour, not interlaced),
/// the rows with filter type 0 in stored deflate blocks over IDAT chunks,
/// IEND.
pub fn write_rgb(image: &RgbImage) -> Vec<u8> {
    let stride = image.width() as usize * 3;
    let mut raw = Vec::with_capacity((stride + 1) * image.height() as usize);
    for row in image.data().chunks(stride) {
        raw.push(0);
        raw.extend_from_slice(row);
    }
    let data = zlib_stored(&raw);
    let mut out = Vec::with_capacity(data.len() + 64 + data.len() / IDAT_MAX * 12);
    out.extend_from_slice(&SIGNATURE);
    let mut ihdr = [0u8; 13];
    ihdr[0..4].copy_from_slice(&image.width().to_be_bytes());
    ihdr[4..8].copy_from_slice(&image.height().to_be_bytes());
    // Bit depth 8, colour type 2 (truecolour), deflate, adaptive
    // filtering, no interlace (PNG §11.2.2).
    ihdr[8..13].copy_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    for piece in data.chunks(IDAT_MAX) {
        chunk(&mut out, b"IDAT", piece);
    }
    chunk(&mut out, b"IEND", &[]);
    out
}

/// A cursor over the bytes being read.
struct Bytes<'a> {
    rest: &'a [u8],
}

impl<'a> Bytes<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], PngError> {
        if self.rest.len() < n {
            return Err(PngError::Truncated(what));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, PngError> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// The bytes of a zlib stream made of stored deflate blocks, at most
/// `limit` of them; compressed blocks are [`PngError::Unsupported`].
fn inflate_stored(stream: &[u8], limit: usize) -> Result<Vec<u8>, PngError> {
    let mut input = Bytes { rest: stream };
    let header = input.take(2, "zlib header")?;
    if header[0] & 0x0f != 8 || header[0] >> 4 > 7 {
        return Err(PngError::Zlib("not deflate with a window up to 32 KiB"));
    }
    if (u16::from(header[0]) * 256 + u16::from(header[1])) % 31 != 0 {
        return Err(PngError::Zlib("header check bits"));
    }
    if header[1] & 0x20 != 0 {
        return Err(PngError::Zlib("a preset dictionary"));
    }
    let mut out = Vec::with_capacity(limit.min(stream.len()));
    loop {
        let b = input.take(1, "deflate block header")?[0];
        if (b >> 1) & 3 != 0 {
            return Err(PngError::Unsupported(
                "compressed deflate blocks (only stored blocks are read)",
            ));
        }
        let lens = input.take(4, "stored block length")?;
        let len = u16::from_le_bytes([lens[0], lens[1]]);
        if u16::from_le_bytes([lens[2], lens[3]]) != !len {
            return Err(PngError::Zlib("stored block LEN and NLEN disagree"));
        }
        let data = input.take(usize::from(len), "stored block data")?;
        if out.len() + data.len() > limit {
            return Err(PngError::Malformed("more image data than the size needs"));
        }
        out.extend_from_slice(data);
        if b & 1 == 1 {
            break;
        }
    }
    if input.u32("Adler-32")? != adler32(&out) {
        return Err(PngError::Zlib("Adler-32 mismatch"));
    }
    Ok(out)
}

/// The Paeth predictor (PNG §9.4).
fn paeth(a: u8, b: u8, c: u8) -> u8 {
    let p = i16::from(a) + i16::from(b) - i16::from(c);
    let (pa, pb, pc) = (
        (p - i16::from(a)).abs(),
        (p - i16::from(b)).abs(),
        (p - i16::from(c)).abs(),
    );
    if pa <= pb && pa <= pc {
        a
    } else if pb <= pc {
        b
    } else {
        c
    }
}

/// Undoes the per-row filters (PNG §9.2) of `raw` (each row a filter type
/// byte then `stride` bytes, 3 bytes a pixel).
fn unfilter(raw: &[u8], stride: usize, height: usize) -> Result<Vec<u8>, PngError> {
    let mut out = vec![0u8; stride * height];
    for row in 0..height {
        let line = &raw[row * (stride + 1)..(row + 1) * (stride + 1)];
        let (kind, src) = (line[0], &line[1..]);
        let (done, cur) = out.split_at_mut(row * stride);
        let prev = if row == 0 {
            None
        } else {
            Some(&done[(row - 1) * stride..])
        };
        let cur = &mut cur[..stride];
        for i in 0..stride {
            let a = if i >= 3 { cur[i - 3] } else { 0 };
            let b = prev.map_or(0, |p| p[i]);
            let c = if i >= 3 {
                prev.map_or(0, |p| p[i - 3])
            } else {
                0
            };
            let predicted = match kind {
                0 => 0,
                1 => a,
                2 => b,
                3 => ((u16::from(a) + u16::from(b)) / 2) as u8,
                4 => paeth(a, b, c),
                _ => return Err(PngError::Malformed("unknown filter type")),
            };
            cur[i] = src[i].wrapping_add(predicted);
        }
    }
    Ok(out)
}

/// Reads an 8-bit RGB, non-interlaced PNG whose image data is in stored
/// deflate blocks (what [`write_rgb`] makes), checking the signature,
/// IHDR, every chunk's CRC and the Adler-32. Ancillary chunks are
/// skipped; anything else is an error, never a panic.
pub fn read_rgb(bytes: &[u8]) -> Result<RgbImage, PngError> {
    let mut input = Bytes { rest: bytes };
    if input
        .take(8, "signature")
        .map_err(|_| PngError::Signature)?
        != SIGNATURE
    {
        return Err(PngError::Signature);
    }
    let mut size = None;
    let mut data = Vec::new();
    loop {
        let len = input.u32("chunk length")?;
        if len > i32::MAX as u32 {
            return Err(PngError::Malformed("chunk length over 2^31 - 1"));
        }
        let kind: [u8; 4] = input
            .take(4, "chunk type")?
            .try_into()
            .map_err(|_| PngError::Truncated("chunk type"))?;
        let body = input.take(len as usize, "chunk data")?;
        let crc = input.u32("chunk CRC")?;
        let mut h = crc32fast::Hasher::new();
        h.update(&kind);
        h.update(body);
        if h.finalize() != crc {
            return Err(PngError::Crc {
                chunk: String::from_utf8_lossy(&kind).into_owned(),
            });
        }
        match (&kind, size) {
            (b"IHDR", None) => {
                if body.len() != 13 {
                    return Err(PngError::Malformed("IHDR is not 13 bytes"));
                }
                let w = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
                let h = u32::from_be_bytes([body[4], body[5], body[6], body[7]]);
                if w == 0 || h == 0 || w > MAX_DIMENSION || h > MAX_DIMENSION {
                    return Err(ImageError::Size {
                        width: w,
                        height: h,
                    }
                    .into());
                }
                if body[8..13] != [8, 2, 0, 0, 0] {
                    return Err(PngError::Unsupported(
                        "only 8-bit RGB, not interlaced, is read",
                    ));
                }
                size = Some((w, h));
            }
            (_, None) => return Err(PngError::Malformed("the first chunk is not IHDR")),
            (b"IHDR", Some(_)) => return Err(PngError::Malformed("a second IHDR")),
            (b"IDAT", Some(_)) => data.extend_from_slice(body),
            (b"IEND", Some((w, h))) => {
                let stride = w as usize * 3;
                let raw = inflate_stored(&data, (stride + 1) * h as usize)?;
                if raw.len() != (stride + 1) * h as usize {
                    return Err(PngError::Truncated("image data"));
                }
                let pixels = unfilter(&raw, stride, h as usize)?;
                return Ok(RgbImage::new(w, h, pixels)?);
            }
            // Ancillary chunks have a lowercase first letter (PNG §5.4).
            (k, Some(_)) if k[0].is_ascii_lowercase() => {}
            (_, Some(_)) => return Err(PngError::Unsupported("an unknown critical chunk")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The chunks of a PNG: (type, data, stored CRC).
    fn chunks(png: &[u8]) -> Vec<([u8; 4], Vec<u8>, u32)> {
        let mut out = Vec::new();
        let mut i = 8;
        while i < png.len() {
            let len = u32::from_be_bytes(png[i..i + 4].try_into().unwrap()) as usize;
            let kind: [u8; 4] = png[i + 4..i + 8].try_into().unwrap();
            let data = png[i + 8..i + 8 + len].to_vec();
            let crc = u32::from_be_bytes(png[i + 8 + len..i + 12 + len].try_into().unwrap());
            out.push((kind, data, crc));
            i += 12 + len;
        }
        out
    }

    fn gradient(w: u32, h: u32) -> RgbImage {
        let data = (0..w * h * 3).map(|i| (i * 7 % 251) as u8).collect();
        RgbImage::new(w, h, data).unwrap()
    }

    #[test]
    fn adler32_matches_rfc_1950_examples() {
        assert_eq!(adler32(b""), 1);
        // The well-known value of "Wikipedia".
        assert_eq!(adler32(b"Wikipedia"), 0x11e6_0398);
        // Long input: the deferred modulo must give the same as per byte.
        let long: Vec<u8> = (0..100_000u32).map(|i| (i % 256) as u8).collect();
        let (mut a, mut b) = (1u32, 0u32);
        for &x in &long {
            a = (a + u32::from(x)) % ADLER_MOD;
            b = (b + a) % ADLER_MOD;
        }
        assert_eq!(adler32(&long), (b << 16) | a);
    }

    #[test]
    fn the_png_has_the_signature_an_ihdr_and_valid_crcs() {
        let png = write_rgb(&gradient(640, 480));
        assert_eq!(png[..8], SIGNATURE);
        let chunks = chunks(&png);
        let kinds: Vec<&[u8; 4]> = chunks.iter().map(|c| &c.0).collect();
        assert_eq!(kinds.first(), Some(&b"IHDR"));
        assert_eq!(kinds.last(), Some(&b"IEND"));
        assert!(kinds[1..kinds.len() - 1].iter().all(|k| *k == b"IDAT"));
        let ihdr = &chunks[0].1;
        assert_eq!(ihdr[..8], [0, 0, 2, 128, 0, 0, 1, 224]);
        assert_eq!(ihdr[8..], [8, 2, 0, 0, 0]);
        for (kind, data, crc) in &chunks {
            let mut h = crc32fast::Hasher::new();
            h.update(kind);
            h.update(data);
            assert_eq!(h.finalize(), *crc, "CRC of {kind:?}");
        }
    }

    #[test]
    fn the_stored_blocks_decode_back_to_the_filtered_rows() {
        let img = gradient(300, 250);
        let png = write_rgb(&img);
        let stream: Vec<u8> = chunks(&png)
            .into_iter()
            .filter(|c| &c.0 == b"IDAT")
            .flat_map(|c| c.1)
            .collect();
        let raw = inflate_stored(&stream, usize::MAX).unwrap();
        assert_eq!(raw.len(), 250 * (1 + 900));
        for (row, line) in raw.chunks(901).enumerate() {
            assert_eq!(line[0], 0, "filter type of row {row}");
            assert_eq!(&line[1..], img.row(row as u32).unwrap());
        }
        // More than one block: 225,250 bytes in blocks of 65,535.
        assert!(stream.len() > raw.len() + 4 * 5);
        assert_eq!(read_rgb(&png).unwrap(), img);
    }

    #[test]
    fn an_empty_stream_is_one_final_empty_block() {
        let z = zlib_stored(&[]);
        assert_eq!(z, [0x78, 0x01, 1, 0, 0, 0xff, 0xff, 0, 0, 0, 1]);
        assert_eq!(inflate_stored(&z, 0).unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn every_filter_type_is_undone() {
        // One 2-pixel row per filter type, 3 rows; the predictor each way.
        let stride = 6;
        let want: Vec<u8> = (0..18).map(|i| (i * 37 % 256) as u8).collect();
        for kind in 0..5u8 {
            let mut raw = Vec::new();
            for row in 0..3 {
                raw.push(kind);
                for i in 0..stride {
                    let a = if i >= 3 {
                        want[row * stride + i - 3]
                    } else {
                        0
                    };
                    let b = if row > 0 {
                        want[(row - 1) * stride + i]
                    } else {
                        0
                    };
                    let c = if row > 0 && i >= 3 {
                        want[(row - 1) * stride + i - 3]
                    } else {
                        0
                    };
                    let p = match kind {
                        0 => 0,
                        1 => a,
                        2 => b,
                        3 => ((u16::from(a) + u16::from(b)) / 2) as u8,
                        _ => paeth(a, b, c),
                    };
                    raw.push(want[row * stride + i].wrapping_sub(p));
                }
            }
            assert_eq!(unfilter(&raw, stride, 3).unwrap(), want, "filter {kind}");
        }
    }

    #[test]
    fn a_flipped_bit_is_a_crc_error_and_truncation_an_error() {
        let png = write_rgb(&gradient(4, 4));
        let mut bad = png.clone();
        bad[20] ^= 1; // inside IHDR's data
        assert_eq!(
            read_rgb(&bad),
            Err(PngError::Crc {
                chunk: "IHDR".into()
            })
        );
        for cut in [0, 7, 8, 20, 33, png.len() - 13, png.len() - 1] {
            assert!(read_rgb(&png[..cut]).is_err(), "cut at {cut}");
        }
        assert_eq!(read_rgb(b"GIF89a.."), Err(PngError::Signature));
    }

    /// `cur` filtered with filter type `kind` (PNG §9.2) over `prev`, the
    /// row above (none for the first); an unknown type leaves it as is.
    fn filter_row(kind: u8, prev: Option<&[u8]>, cur: &[u8]) -> Vec<u8> {
        (0..cur.len())
            .map(|i| {
                let a = if i >= 3 { cur[i - 3] } else { 0 };
                let b = prev.map_or(0, |p| p[i]);
                let c = if i >= 3 {
                    prev.map_or(0, |p| p[i - 3])
                } else {
                    0
                };
                let predicted = match kind {
                    1 => a,
                    2 => b,
                    3 => ((u16::from(a) + u16::from(b)) / 2) as u8,
                    4 => paeth(a, b, c),
                    _ => 0,
                };
                cur[i].wrapping_sub(predicted)
            })
            .collect()
    }

    /// The data of a zlib stream's stored blocks and where its Adler-32
    /// goes, read leniently (no checks but the framing), or `None`.
    fn stored_data(stream: &[u8]) -> Option<(Vec<u8>, usize)> {
        let mut at = 2;
        let mut data = Vec::new();
        loop {
            let b = *stream.get(at)?;
            let len = usize::from(u16::from_le_bytes([
                *stream.get(at + 1)?,
                *stream.get(at + 2)?,
            ]));
            data.extend_from_slice(stream.get(at + 5..at + 5 + len)?);
            at += 5 + len;
            if b & 1 == 1 {
                return Some((data, at));
            }
        }
    }

    /// A PNG of `w`x`h` made of `raw` (filter bytes and rows) with
    /// `ihdr`, whose zlib stream is changed by `zlib` then given back a
    /// matching Adler-32 (when its blocks still frame), in two IDAT
    /// chunks split at `split`; every chunk CRC is valid.
    fn assemble(
        ihdr: &[u8; 13],
        raw: &[u8],
        zlib: &[(proptest::sample::Index, u8)],
        split: proptest::sample::Index,
    ) -> Vec<u8> {
        let mut stream = zlib_stored(raw);
        for (at, xor) in zlib {
            let i = at.index(stream.len());
            stream[i] ^= xor;
        }
        if let Some((data, at)) = stored_data(&stream) {
            stream.truncate(at);
            stream.extend_from_slice(&adler32(&data).to_be_bytes());
        }
        let mut png = SIGNATURE.to_vec();
        chunk(&mut png, b"IHDR", ihdr);
        let (a, b) = stream.split_at(split.index(stream.len() + 1));
        chunk(&mut png, b"IDAT", a);
        chunk(&mut png, b"IDAT", b);
        chunk(&mut png, b"IEND", &[]);
        png
    }

    proptest::proptest! {
        /// `write_rgb`'s output changed past its checksums (filter types
        /// 0-5 per row, changed row bytes, IHDR fields, zlib framing, all
        /// CRCs and the Adler-32 recomputed): IHDR checks, the stored
        /// blocks, unfiltering and Paeth are reached; reading never
        /// panics, and rows with valid filters and nothing else changed
        /// read back at their size.
        #[test]
        fn mutated_pngs_with_valid_checksums_never_panic(
            w in 1u32..7,
            h in 1u32..7,
            filters in proptest::collection::vec(0u8..6, 1..7),
            raw_changes in proptest::collection::vec((proptest::prelude::any::<proptest::sample::Index>(), proptest::prelude::any::<u8>()), 0..3),
            zlib in proptest::collection::vec((proptest::prelude::any::<proptest::sample::Index>(), 1u8..=255), 0..2),
            ihdr_changes in proptest::collection::vec((0usize..13, 1u8..=255), 0..2),
            split in proptest::prelude::any::<proptest::sample::Index>(),
        ) {
            let image = gradient(w, h);
            let stride = w as usize * 3;
            let mut raw = Vec::new();
            for (row, pixels) in image.data().chunks(stride).enumerate() {
                let kind = filters[row % filters.len()];
                let prev = row.checked_sub(1).map(|r| &image.data()[r * stride..(r + 1) * stride]);
                raw.push(kind);
                raw.extend(filter_row(kind, prev, pixels));
            }
            for (at, value) in &raw_changes {
                let i = at.index(raw.len());
                raw[i] = *value;
            }
            let mut ihdr = [0u8; 13];
            ihdr[0..4].copy_from_slice(&w.to_be_bytes());
            ihdr[4..8].copy_from_slice(&h.to_be_bytes());
            ihdr[8..13].copy_from_slice(&[8, 2, 0, 0, 0]);
            for (i, xor) in &ihdr_changes {
                ihdr[*i] ^= xor;
            }
            let read = read_rgb(&assemble(&ihdr, &raw, &zlib, split));
            let valid_filters = raw.chunks(stride + 1).all(|row| row[0] <= 4);
            if zlib.is_empty() && ihdr_changes.is_empty() {
                if valid_filters {
                    let img = read.unwrap();
                    proptest::prop_assert_eq!((img.width(), img.height()), (w, h));
                    if raw_changes.is_empty() {
                        proptest::prop_assert_eq!(img, image);
                    }
                } else {
                    proptest::prop_assert_eq!(read, Err(PngError::Malformed("unknown filter type")));
                }
            }
        }

        #[test]
        fn any_picture_round_trips(w in 1u32..48, h in 1u32..48, seed in proptest::prelude::any::<u32>()) {
            let data = (0..w * h * 3).map(|i| (i.wrapping_mul(seed | 1) >> 3) as u8).collect();
            let img = RgbImage::new(w, h, data).unwrap();
            proptest::prop_assert_eq!(read_rgb(&write_rgb(&img)), Ok(img));
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2000)) {
            let _ = read_rgb(&data);
            let mut png = SIGNATURE.to_vec();
            png.extend_from_slice(&data);
            let _ = read_rgb(&png);
        }

        #[test]
        fn a_changed_byte_never_reads_back_as_the_picture(at in 0usize..400, xor in 1u8..=255) {
            let png = write_rgb(&gradient(8, 8));
            let mut bad = png.clone();
            let i = at % bad.len();
            bad[i] ^= xor;
            // Every byte is covered by the signature, a chunk CRC or the
            // chunk framing: nothing changed reads back as the picture.
            proptest::prop_assert_ne!(read_rgb(&bad), Ok(gradient(8, 8)));
        }
    }
}
