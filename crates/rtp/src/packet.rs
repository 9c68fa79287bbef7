//! RTP packets (RFC 3550 §5.1) with CSRCs, padding and RFC 8285 header
//! extensions: parsed into a borrowed view, written into the caller's buffer.

use thiserror::Error;

/// The fixed RTP header length (RFC 3550 §5.1).
pub const FIXED_HEADER_LEN: usize = 12;
/// The most CSRCs a header can carry (the 4-bit CC field, RFC 3550 §5.1).
pub const MAX_CSRCS: usize = 15;
/// The most header extension elements a [`Extensions`] map holds. A packet
/// with more is refused with [`ParseError::TooManyExtensions`]; browsers send
/// at most a handful.
pub const MAX_EXTENSIONS: usize = 16;

/// The "defined by profile" value of the one-byte header form (RFC 8285 §4.2).
pub const ONE_BYTE_PROFILE: u16 = 0xBEDE;
/// The "defined by profile" value of the two-byte header form, with the four
/// application bits zero (RFC 8285 §4.3: `0x100` then `appbits`).
pub const TWO_BYTE_PROFILE: u16 = 0x1000;

/// Why bytes are not an RTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ParseError {
    /// Fewer bytes than the part being read needs.
    #[error("RTP packet too short: {what} needs {needed} bytes, {available} available")]
    TooShort {
        /// The part being read.
        what: &'static str,
        /// Bytes that part needs.
        needed: usize,
        /// Bytes left.
        available: usize,
    },
    /// The version field is not 2 (RFC 3550 §5.1).
    #[error("RTP version {0}, expected 2")]
    BadVersion(u8),
    /// The padding count is zero or larger than what follows the header
    /// (RFC 3550 §5.1, P bit).
    #[error("RTP padding count {count} invalid with {available} bytes after the header")]
    BadPadding {
        /// The count in the last byte.
        count: u8,
        /// Bytes after the header, padding included.
        available: usize,
    },
    /// A header extension element runs past its block (RFC 8285 §4.2, §4.3).
    #[error("RTP header extension element id {id} at offset {offset} runs past the block")]
    ExtensionOverrun {
        /// The element's id.
        id: u8,
        /// Its offset inside the extension block.
        offset: usize,
    },
    /// More extension elements than [`MAX_EXTENSIONS`].
    #[error("more than {MAX_EXTENSIONS} RTP header extension elements")]
    TooManyExtensions,
}

/// Why a packet or extension could not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum WriteError {
    /// The caller's buffer is smaller than the packet.
    #[error("buffer of {available} bytes, packet needs {needed}")]
    BufferTooSmall {
        /// Bytes the packet needs.
        needed: usize,
        /// Bytes in the buffer.
        available: usize,
    },
    /// An extension value longer than 255 bytes (RFC 8285 §4.3).
    #[error("extension element of {0} bytes, at most 255")]
    ExtensionTooLong(usize),
    /// More elements than [`MAX_EXTENSIONS`], or an extension block longer
    /// than 65535 words.
    #[error("too many RTP header extension elements")]
    TooManyExtensions,
    /// More than [`MAX_CSRCS`] CSRCs.
    #[error("more than 15 CSRCs")]
    TooManyCsrcs,
}

/// An RTP payload type: 7 bits (RFC 3550 §5.1, PT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PayloadType(u8);

impl PayloadType {
    /// The payload type `value`, or `None` above 127.
    pub const fn new(value: u8) -> Option<Self> {
        if value < 128 { Some(Self(value)) } else { None }
    }

    /// The 7-bit value.
    pub const fn get(self) -> u8 {
        self.0
    }
}

/// A negotiated header extension id (RFC 8285 §5, `a=extmap`): 1..=255. Ids
/// 1..=14 fit the one-byte form; 15..=255 need the two-byte form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExtensionId(u8);

impl ExtensionId {
    /// The id `value`, or `None` for 0 (padding, never an id).
    pub const fn new(value: u8) -> Option<Self> {
        if value == 0 { None } else { Some(Self(value)) }
    }

    /// The numeric id.
    pub const fn get(self) -> u8 {
        self.0
    }
}

/// The contributing sources of a packet (RFC 3550 §5.1, CSRC list): up to 15.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Csrcs {
    list: [u32; MAX_CSRCS],
    len: u8,
}

impl Csrcs {
    /// No contributing source.
    pub const fn new() -> Self {
        Self {
            list: [0; MAX_CSRCS],
            len: 0,
        }
    }

    /// A list from `csrcs`, or `None` with more than 15.
    pub fn from_slice(csrcs: &[u32]) -> Option<Self> {
        let mut out = Self::new();
        for &c in csrcs {
            out.push(c).ok()?;
        }
        Some(out)
    }

    /// Appends a CSRC; refuses a sixteenth.
    pub fn push(&mut self, csrc: u32) -> Result<(), WriteError> {
        let slot = self
            .list
            .get_mut(usize::from(self.len))
            .ok_or(WriteError::TooManyCsrcs)?;
        *slot = csrc;
        self.len += 1;
        Ok(())
    }

    /// The CSRCs in order.
    pub fn as_slice(&self) -> &[u32] {
        &self.list[..usize::from(self.len)]
    }

    /// How many.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Which RFC 8285 header form a block uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtensionForm {
    /// One-byte headers (RFC 8285 §4.2): ids 1..=14, 1 to 16 bytes each.
    OneByte,
    /// Two-byte headers (RFC 8285 §4.3): ids 1..=255, 0 to 255 bytes each,
    /// with the four application bits of the profile value.
    TwoByte {
        /// The `appbits` (low 4 bits of the profile value).
        app_bits: u8,
    },
}

/// The header extension elements of a packet keyed by negotiated id (RFC
/// 8285), borrowing their values. A map: one value per id, in insertion (or
/// wire) order. It holds at most [`MAX_EXTENSIONS`] elements and never
/// allocates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extensions<'a> {
    entries: [(u8, &'a [u8]); MAX_EXTENSIONS],
    len: u8,
    app_bits: u8,
}

impl Default for Extensions<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a> Extensions<'a> {
    /// An empty map.
    pub const fn new() -> Self {
        Self {
            entries: [(0, &[]); MAX_EXTENSIONS],
            len: 0,
            app_bits: 0,
        }
    }

    /// The value of extension `id`, if present.
    pub fn get(&self, id: ExtensionId) -> Option<&'a [u8]> {
        self.iter().find(|(i, _)| *i == id).map(|(_, v)| v)
    }

    /// Sets the value of `id`, replacing an earlier one. Refuses a value
    /// longer than 255 bytes or a map already full.
    pub fn insert(&mut self, id: ExtensionId, value: &'a [u8]) -> Result<(), WriteError> {
        if value.len() > 255 {
            return Err(WriteError::ExtensionTooLong(value.len()));
        }
        let len = usize::from(self.len);
        if let Some(e) = self.entries[..len].iter_mut().find(|e| e.0 == id.0) {
            e.1 = value;
            return Ok(());
        }
        let slot = self
            .entries
            .get_mut(len)
            .ok_or(WriteError::TooManyExtensions)?;
        *slot = (id.0, value);
        self.len += 1;
        Ok(())
    }

    /// Removes `id`, returning its value.
    pub fn remove(&mut self, id: ExtensionId) -> Option<&'a [u8]> {
        let len = usize::from(self.len);
        let at = self.entries[..len].iter().position(|e| e.0 == id.0)?;
        let value = self.entries[at].1;
        self.entries.copy_within(at + 1..len, at);
        self.len -= 1;
        Some(value)
    }

    /// The elements, `(id, value)`, in order.
    pub fn iter(&self) -> impl Iterator<Item = (ExtensionId, &'a [u8])> + '_ {
        self.entries[..usize::from(self.len)]
            .iter()
            .map(|&(id, v)| (ExtensionId(id), v))
    }

    /// How many elements.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Sets the application bits written with the two-byte form (RFC 8285
    /// §4.3, low 4 bits used).
    pub fn set_app_bits(&mut self, bits: u8) {
        self.app_bits = bits & 0x0f;
    }

    /// The form the writer uses: one-byte when every id is 1..=14 and every
    /// value 1..=16 bytes (RFC 8285 §4.1.2), two-byte otherwise or when
    /// application bits are set.
    pub fn form(&self) -> ExtensionForm {
        let one = self.app_bits == 0
            && self
                .iter()
                .all(|(id, v)| (1..=14).contains(&id.0) && (1..=16).contains(&v.len()));
        if one {
            ExtensionForm::OneByte
        } else {
            ExtensionForm::TwoByte {
                app_bits: self.app_bits,
            }
        }
    }

    /// Bytes of the extension block, with its 4-byte header and padding to
    /// a 32-bit boundary; 0 when empty.
    pub fn encoded_len(&self) -> usize {
        if self.is_empty() {
            return 0;
        }
        let per = match self.form() {
            ExtensionForm::OneByte => 1,
            ExtensionForm::TwoByte { .. } => 2,
        };
        let body: usize = self.iter().map(|(_, v)| per + v.len()).sum();
        4 + body.div_ceil(4) * 4
    }

    /// Where [`Self::write`] puts the value of `id`: its offset from the
    /// start of the block (the 4-byte header included), if present.
    fn value_offset(&self, id: ExtensionId) -> Option<usize> {
        let per = match self.form() {
            ExtensionForm::OneByte => 1,
            ExtensionForm::TwoByte { .. } => 2,
        };
        let mut at = 4;
        for (i, v) in self.iter() {
            at += per;
            if i == id {
                return Some(at);
            }
            at += v.len();
        }
        None
    }

    /// Parses an RFC 8285 block body; `None` when `profile` is neither form.
    fn parse(profile: u16, data: &'a [u8]) -> Option<Result<Self, ParseError>> {
        let two = if profile == ONE_BYTE_PROFILE {
            false
        } else if profile & 0xfff0 == TWO_BYTE_PROFILE {
            true
        } else {
            return None;
        };
        let mut out = Self::new();
        out.app_bits = if two { (profile & 0x0f) as u8 } else { 0 };
        let mut at = 0;
        while let Some(&first) = data.get(at) {
            if first == 0 || (!two && first >> 4 == 0) {
                // RFC 8285 §4.2/§4.3: id 0 is padding, one byte, whatever
                // its length bits say (as libwebrtc reads it).
                at += 1;
                continue;
            }
            let (id, len, head) = if two {
                let Some(&len) = data.get(at + 1) else {
                    return Some(Err(ParseError::ExtensionOverrun {
                        id: first,
                        offset: at,
                    }));
                };
                (first, usize::from(len), 2)
            } else {
                let id = first >> 4;
                if id == 15 {
                    // RFC 8285 §4.2: id 15 is reserved; stop processing.
                    break;
                }
                (id, usize::from(first & 0x0f) + 1, 1)
            };
            let Some(value) = data.get(at + head..at + head + len) else {
                return Some(Err(ParseError::ExtensionOverrun { id, offset: at }));
            };
            let id = ExtensionId(id);
            // A repeated id: the first value wins, later ones are ignored.
            if out.get(id).is_none() && out.insert(id, value).is_err() {
                return Some(Err(ParseError::TooManyExtensions));
            }
            at += head + len;
        }
        Some(Ok(out))
    }

    /// Writes the block (header, elements, zero padding) into `buf`, which is
    /// exactly [`Self::encoded_len`] long.
    fn write(&self, buf: &mut [u8]) {
        let form = self.form();
        let profile = match form {
            ExtensionForm::OneByte => ONE_BYTE_PROFILE,
            ExtensionForm::TwoByte { app_bits } => TWO_BYTE_PROFILE | u16::from(app_bits),
        };
        let words = (buf.len() / 4 - 1) as u16;
        buf[..2].copy_from_slice(&profile.to_be_bytes());
        buf[2..4].copy_from_slice(&words.to_be_bytes());
        let mut at = 4;
        for (id, v) in self.iter() {
            match form {
                ExtensionForm::OneByte => {
                    buf[at] = id.0 << 4 | (v.len() as u8 - 1);
                    at += 1;
                }
                ExtensionForm::TwoByte { .. } => {
                    buf[at] = id.0;
                    buf[at + 1] = v.len() as u8;
                    at += 2;
                }
            }
            buf[at..at + v.len()].copy_from_slice(v);
            at += v.len();
        }
        buf[at..].fill(0);
    }
}

/// A header extension with a profile value other than RFC 8285's, kept raw
/// (RFC 3550 §5.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawExtension<'a> {
    /// The 16-bit "defined by profile" value.
    pub profile: u16,
    /// The extension data, a multiple of 4 bytes.
    pub data: &'a [u8],
}

/// An RTP packet (RFC 3550 §5.1) borrowing its payload and extension values
/// from the parsed bytes (or from the caller, to write one). The version is
/// always 2; the P, X and CC fields follow from `padding`, the extensions and
/// `csrcs`, so they cannot disagree with the contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    /// The marker bit (M): for video, the last packet of a frame.
    pub marker: bool,
    /// The payload type (PT).
    pub payload_type: PayloadType,
    /// The sequence number.
    pub sequence_number: u16,
    /// The RTP timestamp.
    pub timestamp: u32,
    /// The synchronization source.
    pub ssrc: u32,
    /// The contributing sources.
    pub csrcs: Csrcs,
    /// The RFC 8285 header extension elements.
    pub extensions: Extensions<'a>,
    /// A header extension of another profile; when set, it is written instead
    /// of `extensions`.
    pub raw_extension: Option<RawExtension<'a>>,
    /// The payload, without padding.
    pub payload: &'a [u8],
    /// Padding bytes after the payload, the count byte included; 0 for none
    /// (RFC 3550 §5.1, P bit).
    pub padding: u8,
}

fn need(what: &'static str, data: &[u8], needed: usize) -> Result<(), ParseError> {
    if data.len() < needed {
        Err(ParseError::TooShort {
            what,
            needed,
            available: data.len(),
        })
    } else {
        Ok(())
    }
}

impl<'a> RtpPacket<'a> {
    /// A packet with no CSRC, extension or padding.
    pub fn new(
        payload_type: PayloadType,
        sequence_number: u16,
        timestamp: u32,
        ssrc: u32,
        payload: &'a [u8],
    ) -> Self {
        Self {
            marker: false,
            payload_type,
            sequence_number,
            timestamp,
            ssrc,
            csrcs: Csrcs::new(),
            extensions: Extensions::new(),
            raw_extension: None,
            payload,
            padding: 0,
        }
    }

    /// Parses an RTP packet (RFC 3550 §5.1, RFC 8285). Never panics.
    pub fn parse(data: &'a [u8]) -> Result<Self, ParseError> {
        need("fixed header", data, FIXED_HEADER_LEN)?;
        let b0 = data[0];
        if b0 >> 6 != 2 {
            return Err(ParseError::BadVersion(b0 >> 6));
        }
        let has_padding = b0 & 0x20 != 0;
        let has_extension = b0 & 0x10 != 0;
        let cc = usize::from(b0 & 0x0f);
        let mut at = FIXED_HEADER_LEN;
        need("CSRC list", data, at + 4 * cc)?;
        let mut csrcs = Csrcs::new();
        for c in data[at..at + 4 * cc].chunks_exact(4) {
            let _ = csrcs.push(u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
        }
        at += 4 * cc;
        let mut extensions = Extensions::new();
        let mut raw_extension = None;
        if has_extension {
            // RFC 3550 §5.3.1: profile (16), length in words (16), data.
            need("extension header", data, at + 4)?;
            let profile = u16::from_be_bytes([data[at], data[at + 1]]);
            let words = usize::from(u16::from_be_bytes([data[at + 2], data[at + 3]]));
            at += 4;
            need("extension data", data, at + 4 * words)?;
            let body = &data[at..at + 4 * words];
            match Extensions::parse(profile, body) {
                Some(parsed) => extensions = parsed?,
                None => {
                    raw_extension = Some(RawExtension {
                        profile,
                        data: body,
                    })
                }
            }
            at += 4 * words;
        }
        let rest = &data[at..];
        let mut padding = 0;
        if has_padding {
            let count = rest.last().copied().unwrap_or(0);
            if count == 0 || usize::from(count) > rest.len() {
                return Err(ParseError::BadPadding {
                    count,
                    available: rest.len(),
                });
            }
            padding = count;
        }
        Ok(Self {
            marker: data[1] & 0x80 != 0,
            payload_type: PayloadType(data[1] & 0x7f),
            sequence_number: u16::from_be_bytes([data[2], data[3]]),
            timestamp: u32::from_be_bytes([data[4], data[5], data[6], data[7]]),
            ssrc: u32::from_be_bytes([data[8], data[9], data[10], data[11]]),
            csrcs,
            extensions,
            raw_extension,
            payload: &rest[..rest.len() - usize::from(padding)],
            padding,
        })
    }

    /// Bytes of the header: fixed part, CSRCs and extension block.
    pub fn header_len(&self) -> usize {
        let ext = match self.raw_extension {
            Some(raw) => 4 + raw.data.len().div_ceil(4) * 4,
            None => self.extensions.encoded_len(),
        };
        FIXED_HEADER_LEN + 4 * self.csrcs.len() + ext
    }

    /// Where [`Self::write_header`] puts the value of header extension `id`
    /// (RFC 8285): its offset from the start of the packet, if the packet
    /// carries it. A sender writes a header once and patches a value that
    /// changes per packet (a transport-wide sequence number) there.
    pub fn extension_value_offset(&self, id: ExtensionId) -> Option<usize> {
        if self.raw_extension.is_some() {
            return None;
        }
        let block = self.extensions.value_offset(id)?;
        Some(FIXED_HEADER_LEN + 4 * self.csrcs.len() + block)
    }

    /// Bytes of the whole packet as [`Self::write`] writes it.
    pub fn encoded_len(&self) -> usize {
        self.header_len() + self.payload.len() + usize::from(self.padding)
    }

    /// Writes the header only into `buf`, returning its length; the payload
    /// follows it at that offset (for payloaders writing in place).
    pub fn write_header(&self, buf: &mut [u8]) -> Result<usize, WriteError> {
        let len = self.header_len();
        if buf.len() < len {
            return Err(WriteError::BufferTooSmall {
                needed: len,
                available: buf.len(),
            });
        }
        let raw_words = self.raw_extension.map(|r| r.data.len().div_ceil(4));
        if raw_words.is_some_and(|w| w > 0xffff) || self.extensions.encoded_len() > 4 * 0x10000 {
            return Err(WriteError::TooManyExtensions);
        }
        let has_ext = self.raw_extension.is_some() || !self.extensions.is_empty();
        buf[0] = 0x80
            | if self.padding > 0 { 0x20 } else { 0 }
            | if has_ext { 0x10 } else { 0 }
            | self.csrcs.len() as u8;
        buf[1] = u8::from(self.marker) << 7 | self.payload_type.0;
        buf[2..4].copy_from_slice(&self.sequence_number.to_be_bytes());
        buf[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        buf[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        let mut at = FIXED_HEADER_LEN;
        for c in self.csrcs.as_slice() {
            buf[at..at + 4].copy_from_slice(&c.to_be_bytes());
            at += 4;
        }
        match (self.raw_extension, raw_words) {
            (Some(raw), Some(words)) => {
                buf[at..at + 2].copy_from_slice(&raw.profile.to_be_bytes());
                buf[at + 2..at + 4].copy_from_slice(&(words as u16).to_be_bytes());
                let end = at + 4 + 4 * words;
                buf[at + 4..at + 4 + raw.data.len()].copy_from_slice(raw.data);
                buf[at + 4 + raw.data.len()..end].fill(0);
            }
            _ if !self.extensions.is_empty() => self.extensions.write(&mut buf[at..len]),
            _ => {}
        }
        Ok(len)
    }

    /// Writes the packet into `buf`, returning its length.
    pub fn write(&self, buf: &mut [u8]) -> Result<usize, WriteError> {
        let len = self.encoded_len();
        if buf.len() < len {
            return Err(WriteError::BufferTooSmall {
                needed: len,
                available: buf.len(),
            });
        }
        let at = self.write_header(buf)?;
        buf[at..at + self.payload.len()].copy_from_slice(self.payload);
        let pad_at = at + self.payload.len();
        if self.padding > 0 {
            buf[pad_at..len - 1].fill(0);
            buf[len - 1] = self.padding;
        }
        Ok(len)
    }

    /// The packet as a new vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = vec![0; self.encoded_len()];
        let _ = self.write(&mut v);
        v
    }
}

/// Whether `data` looks like RTP rather than RTCP on a muxed port (RFC 5761
/// §4: RTCP packet types 192..=223 in the second byte).
pub fn is_rtp(data: &[u8]) -> bool {
    matches!(data, [b0, b1, ..] if b0 >> 6 == 2 && !(192..=223).contains(b1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn id(v: u8) -> ExtensionId {
        ExtensionId::new(v).unwrap()
    }

    fn header(first: u8, ext: &[u8]) -> Vec<u8> {
        let mut p = vec![
            first,
            0x80 | 111,
            0x12,
            0x34,
            0,
            0,
            0x30,
            0x39,
            0xde,
            0xad,
            0xbe,
            0xef,
        ];
        p.extend_from_slice(ext);
        p
    }

    #[test]
    fn one_byte_extension_example_of_rfc8285_section_4_2_parses() {
        // RFC 8285 §4.2 figure: ID1 L=0 (1 byte), ID2 L=1 (2 bytes), two
        // padding bytes, ID3 L=3 (4 bytes); 3 words of data.
        let ext = [
            0xbe, 0xde, 0x00, 0x03, //
            0x10, 0xaa, 0x21, 0xbb, //
            0xbb, 0x00, 0x00, 0x33, //
            0xcc, 0xcc, 0xcc, 0xcc,
        ];
        let mut data = header(0x90, &ext);
        data.extend_from_slice(b"payload");
        let p = RtpPacket::parse(&data).unwrap();
        assert!(p.marker);
        assert_eq!(p.payload_type.get(), 111);
        assert_eq!(p.sequence_number, 0x1234);
        assert_eq!(p.timestamp, 12345);
        assert_eq!(p.ssrc, 0xdeadbeef);
        assert_eq!(p.extensions.len(), 3);
        assert_eq!(p.extensions.get(id(1)), Some(&[0xaa][..]));
        assert_eq!(p.extensions.get(id(2)), Some(&[0xbb, 0xbb][..]));
        assert_eq!(p.extensions.get(id(3)), Some(&[0xcc; 4][..]));
        assert_eq!(p.payload, b"payload");
        assert_eq!(p.extensions.form(), ExtensionForm::OneByte);
    }

    #[test]
    fn two_byte_extension_example_of_rfc8285_section_4_3_parses() {
        // RFC 8285 §4.3 figure: ID1 L=0, ID2 L=1, one padding byte, ID3 L=4.
        let ext = [
            0x10, 0x00, 0x00, 0x03, //
            0x01, 0x00, 0x02, 0x01, //
            0xbb, 0x00, 0x03, 0x04, //
            0xcc, 0xcc, 0xcc, 0xcc,
        ];
        let data = header(0x90, &ext);
        let p = RtpPacket::parse(&data).unwrap();
        assert_eq!(p.extensions.get(id(1)), Some(&[][..]));
        assert_eq!(p.extensions.get(id(2)), Some(&[0xbb][..]));
        assert_eq!(p.extensions.get(id(3)), Some(&[0xcc; 4][..]));
        assert!(p.payload.is_empty());
        // An empty value forces the two-byte form when written back.
        assert_eq!(p.extensions.form(), ExtensionForm::TwoByte { app_bits: 0 });
        // Written back without the inter-element padding, same elements.
        let again = p.to_vec();
        assert_eq!(&again[12..16], &[0x10, 0x00, 0x00, 0x03]);
        assert_eq!(RtpPacket::parse(&again).unwrap().extensions, p.extensions);
    }

    #[test]
    fn a_one_byte_element_with_id_0_is_a_single_padding_byte() {
        let ext = [0xbe, 0xde, 0x00, 0x01, 0x03, 0x10, 0xaa, 0x00];
        let data = header(0x90, &ext);
        let p = RtpPacket::parse(&data).unwrap();
        assert_eq!(
            p.extensions.iter().collect::<Vec<_>>(),
            vec![(id(1), &[0xaa][..])]
        );
    }

    #[test]
    fn a_repeated_id_keeps_its_first_value() {
        let ext = [0xbe, 0xde, 0x00, 0x01, 0x10, 0xaa, 0x10, 0xbb];
        let data = header(0x90, &ext);
        let p = RtpPacket::parse(&data).unwrap();
        assert_eq!(
            p.extensions.iter().collect::<Vec<_>>(),
            vec![(id(1), &[0xaa][..])]
        );
    }

    #[test]
    fn one_byte_id_15_stops_extension_processing() {
        let ext = [0xbe, 0xde, 0x00, 0x01, 0x10, 0xaa, 0xf0, 0x77];
        let data = header(0x90, &ext);
        let p = RtpPacket::parse(&data).unwrap();
        assert_eq!(p.extensions.len(), 1);
    }

    #[test]
    fn unknown_extension_profile_is_kept_raw_and_written_back() {
        let ext = [0x12, 0x34, 0x00, 0x01, 1, 2, 3, 4];
        let data = header(0x90, &ext);
        let p = RtpPacket::parse(&data).unwrap();
        assert!(p.extensions.is_empty());
        assert_eq!(
            p.raw_extension,
            Some(RawExtension {
                profile: 0x1234,
                data: &[1, 2, 3, 4]
            })
        );
        assert_eq!(p.to_vec(), data);
    }

    #[test]
    fn csrcs_and_padding_are_read_and_excluded_from_the_payload() {
        let mut data = header(0xa2, &[0, 0, 0, 1, 0, 0, 0, 2]);
        data.extend_from_slice(&[9, 9, 0, 0, 3]);
        let p = RtpPacket::parse(&data).unwrap();
        assert_eq!(p.csrcs.as_slice(), &[1, 2]);
        assert_eq!(p.payload, &[9, 9]);
        assert_eq!(p.padding, 3);
        assert_eq!(p.to_vec(), data);
    }

    #[test]
    fn malformed_packets_are_refused_with_the_reason() {
        assert!(matches!(
            RtpPacket::parse(&[0x80; 11]),
            Err(ParseError::TooShort {
                what: "fixed header",
                ..
            })
        ));
        assert_eq!(
            RtpPacket::parse(&header(0x40, &[])),
            Err(ParseError::BadVersion(1))
        );
        assert!(matches!(
            RtpPacket::parse(&header(0x81, &[])),
            Err(ParseError::TooShort {
                what: "CSRC list",
                ..
            })
        ));
        assert!(matches!(
            RtpPacket::parse(&header(0x90, &[0xbe, 0xde])),
            Err(ParseError::TooShort {
                what: "extension header",
                ..
            })
        ));
        assert!(matches!(
            RtpPacket::parse(&header(0x90, &[0xbe, 0xde, 0xff, 0xff, 0, 0, 0, 0])),
            Err(ParseError::TooShort {
                what: "extension data",
                ..
            })
        ));
        assert_eq!(
            RtpPacket::parse(&header(0x90, &[0xbe, 0xde, 0, 1, 0x13, 1, 2, 3])),
            Err(ParseError::ExtensionOverrun { id: 1, offset: 0 })
        );
        assert_eq!(
            RtpPacket::parse(&header(0xa0, &[1, 2, 0])),
            Err(ParseError::BadPadding {
                count: 0,
                available: 3
            })
        );
        assert_eq!(
            RtpPacket::parse(&header(0xa0, &[1, 9])),
            Err(ParseError::BadPadding {
                count: 9,
                available: 2
            })
        );
        assert_eq!(
            RtpPacket::parse(&header(0xa0, &[])),
            Err(ParseError::BadPadding {
                count: 0,
                available: 0
            })
        );
    }

    #[test]
    fn extensions_map_replaces_removes_and_bounds_its_entries() {
        let mut e = Extensions::new();
        e.insert(id(3), b"a").unwrap();
        e.insert(id(3), b"bb").unwrap();
        assert_eq!(e.get(id(3)), Some(&b"bb"[..]));
        assert_eq!(e.remove(id(3)), Some(&b"bb"[..]));
        assert!(e.is_empty());
        for i in 1..=16 {
            e.insert(id(i), b"x").unwrap();
        }
        assert_eq!(e.insert(id(17), b"x"), Err(WriteError::TooManyExtensions));
        assert_eq!(
            e.insert(id(1), &[0; 256]),
            Err(WriteError::ExtensionTooLong(256))
        );
    }

    #[test]
    fn writing_into_a_short_buffer_is_refused() {
        let p = RtpPacket::new(PayloadType::new(96).unwrap(), 1, 2, 3, b"abc");
        let mut buf = [0; 14];
        assert_eq!(
            p.write(&mut buf),
            Err(WriteError::BufferTooSmall {
                needed: 15,
                available: 14
            })
        );
    }

    #[test]
    fn rtp_and_rtcp_are_told_apart_by_the_second_byte() {
        assert!(is_rtp(&header(0x80, &[])));
        assert!(!is_rtp(&[0x80, 200, 0, 1]));
        assert!(!is_rtp(&[0x80]));
    }

    type Parts = (
        bool,
        u8,
        u16,
        u32,
        u32,
        Vec<u32>,
        Vec<(u8, Vec<u8>)>,
        Vec<u8>,
        u8,
        u8,
    );

    fn packet_parts() -> impl Strategy<Value = Parts> {
        (
            any::<bool>(),
            0u8..128,
            any::<u16>(),
            any::<u32>(),
            any::<u32>(),
            proptest::collection::vec(any::<u32>(), 0..=15),
            proptest::collection::vec(
                (1u8..=255, proptest::collection::vec(any::<u8>(), 0..40)),
                0..=8,
            ),
            proptest::collection::vec(any::<u8>(), 0..200),
            any::<u8>(),
            0u8..16,
        )
    }

    proptest! {
        #[test]
        fn any_packet_round_trips_through_write_and_parse(
            (marker, pt, seq, ts, ssrc, csrcs, exts, payload, padding, app_bits) in packet_parts()
        ) {
            let mut p = RtpPacket::new(PayloadType::new(pt).unwrap(), seq, ts, ssrc, &payload);
            p.marker = marker;
            p.padding = padding;
            p.csrcs = Csrcs::from_slice(&csrcs).unwrap();
            for (i, v) in &exts {
                p.extensions.insert(id(*i), v).unwrap();
            }
            if app_bits % 3 == 0 {
                p.extensions.set_app_bits(app_bits);
            }
            let bytes = p.to_vec();
            prop_assert_eq!(bytes.len(), p.encoded_len());
            for (i, v) in p.extensions.iter() {
                let at = p.extension_value_offset(i).unwrap();
                prop_assert_eq!(&bytes[at..at + v.len()], v);
            }
            if let Some(absent) = (1..=255).map(id).find(|i| p.extensions.get(*i).is_none()) {
                prop_assert_eq!(p.extension_value_offset(absent), None);
            }
            let q = RtpPacket::parse(&bytes).unwrap();
            if p.extensions.is_empty() {
                p.extensions = Extensions::new();
            }
            prop_assert_eq!(q.marker, p.marker);
            prop_assert_eq!(q.csrcs, p.csrcs);
            prop_assert_eq!(q.payload, p.payload);
            prop_assert_eq!(q.padding, p.padding);
            prop_assert_eq!(q.extensions.iter().collect::<Vec<_>>(), p.extensions.iter().collect::<Vec<_>>());
            prop_assert_eq!(q.to_vec(), bytes);
        }

        #[test]
        fn parsing_arbitrary_bytes_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(p) = RtpPacket::parse(&data) {
                prop_assert!(p.encoded_len() <= data.len() + 3);
            }
        }
    }
}
