//! Opus packets and Opus in Ogg: the TOC byte (RFC 6716 §3.1) gives a
//! packet's duration; the identification header `OpusHead`, the comment
//! header `OpusTags` and granule positions at 48 kHz come from RFC 7845.

use std::io::{Read, Write};

use crate::ogg::{OggError, PacketReader, PacketWriter};

/// Opus granule positions and durations count samples at 48 kHz (RFC 7845 §4).
pub const SAMPLE_RATE: u32 = 48_000;
/// The longest an Opus packet may last: 120 ms (RFC 6716 §3.2.5).
pub const MAX_PACKET_SAMPLES: u32 = 5760;

/// An error in an Opus packet or an Opus-in-Ogg stream.
#[derive(Debug, thiserror::Error)]
pub enum OpusError {
    /// The Ogg layer failed.
    #[error(transparent)]
    Ogg(#[from] OggError),
    /// A packet is empty (RFC 6716 §3.4 R1).
    #[error("empty Opus packet")]
    EmptyPacket,
    /// A code 3 packet has no frame count byte (RFC 6716 §3.2.5).
    #[error("code 3 Opus packet without its frame count byte")]
    MissingFrameCount,
    /// A code 3 packet counts zero frames (RFC 6716 §3.4 R5).
    #[error("code 3 Opus packet with zero frames")]
    ZeroFrames,
    /// A packet lasts more than 120 ms (RFC 6716 §3.4 R5).
    #[error("Opus packet of {samples} samples at 48 kHz exceeds 120 ms")]
    TooLong {
        /// Its duration in 48 kHz samples.
        samples: u32,
    },
    /// The first packet is not a valid `OpusHead` (RFC 7845 §5.1).
    #[error("bad OpusHead: {0}")]
    BadHead(&'static str),
    /// The second packet is not a valid `OpusTags` (RFC 7845 §5.2).
    #[error("bad OpusTags: {0}")]
    BadTags(&'static str),
    /// The stream ends before its headers.
    #[error("Ogg stream ends before the {0} header")]
    MissingHeader(&'static str),
    /// An audio packet is invalid.
    #[error("Opus packet {index} on Ogg page {page}: {source}")]
    BadPacket {
        /// Index of the audio packet (0 is the first after the headers).
        index: u64,
        /// Index of the Ogg page it ends on.
        page: u64,
        /// What is wrong with it.
        source: Box<OpusError>,
    },
}

/// The audio bandwidth a TOC configuration codes (RFC 6716 §3.1, Table 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bandwidth {
    /// 4 kHz.
    Narrowband,
    /// 6 kHz.
    Mediumband,
    /// 8 kHz.
    Wideband,
    /// 12 kHz.
    SuperWideband,
    /// 20 kHz.
    Fullband,
}

/// The coding mode a TOC configuration selects (RFC 6716 §3.1, Table 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// SILK only.
    Silk,
    /// SILK and CELT.
    Hybrid,
    /// CELT only.
    Celt,
}

/// The TOC byte of an Opus packet (RFC 6716 §3.1): `config` (5 bits),
/// `s` stereo flag, `c` frame count code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Toc(pub u8);

impl Toc {
    /// The configuration number, 0..=31.
    pub fn config(self) -> u8 {
        self.0 >> 3
    }

    /// Whether the packet is stereo.
    pub fn stereo(self) -> bool {
        self.0 & 0x04 != 0
    }

    /// The frame count code, 0..=3 (RFC 6716 §3.2).
    pub fn code(self) -> u8 {
        self.0 & 0x03
    }

    /// The mode of the configuration (RFC 6716 Table 2).
    pub fn mode(self) -> Mode {
        match self.config() {
            0..=11 => Mode::Silk,
            12..=15 => Mode::Hybrid,
            _ => Mode::Celt,
        }
    }

    /// The bandwidth of the configuration (RFC 6716 Table 2).
    pub fn bandwidth(self) -> Bandwidth {
        match self.config() {
            0..=3 | 16..=19 => Bandwidth::Narrowband,
            4..=7 => Bandwidth::Mediumband,
            8..=11 | 20..=23 => Bandwidth::Wideband,
            12 | 13 | 24..=27 => Bandwidth::SuperWideband,
            _ => Bandwidth::Fullband,
        }
    }

    /// One frame's duration in samples at 48 kHz (RFC 6716 Table 2):
    /// SILK 10/20/40/60 ms, Hybrid 10/20 ms, CELT 2.5/5/10/20 ms.
    pub fn frame_samples(self) -> u32 {
        let c = self.config();
        match c {
            0..=11 => [480, 960, 1920, 2880][usize::from(c % 4)],
            12..=15 => [480, 960][usize::from(c % 2)],
            _ => [120, 240, 480, 960][usize::from(c % 4)],
        }
    }
}

/// The number of frames in an Opus packet (RFC 6716 §3.2): 1 for code 0,
/// 2 for codes 1 and 2, the count byte's low 6 bits for code 3.
pub fn frame_count(packet: &[u8]) -> Result<u32, OpusError> {
    let &toc = packet.first().ok_or(OpusError::EmptyPacket)?;
    match Toc(toc).code() {
        0 => Ok(1),
        1 | 2 => Ok(2),
        _ => {
            let &count = packet.get(1).ok_or(OpusError::MissingFrameCount)?;
            match u32::from(count & 0x3f) {
                0 => Err(OpusError::ZeroFrames),
                m => Ok(m),
            }
        }
    }
}

/// A packet's duration in samples at 48 kHz: frames times frame size
/// (RFC 6716 §3.1, §3.2); more than 120 ms is an error (§3.4 R5).
pub fn packet_samples(packet: &[u8]) -> Result<u32, OpusError> {
    let frames = frame_count(packet)?;
    let samples = frames * Toc(packet[0]).frame_samples();
    if samples > MAX_PACKET_SAMPLES {
        return Err(OpusError::TooLong { samples });
    }
    Ok(samples)
}

/// The identification header `OpusHead` (RFC 7845 §5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpusHead {
    /// Version; the upper four bits must be 0 (RFC 7845 §5.1). Written as 1.
    pub version: u8,
    /// Output channel count, at least 1.
    pub channels: u8,
    /// Samples at 48 kHz to discard from the decoder output at the start.
    pub pre_skip: u16,
    /// The input's sample rate, informational (0: unspecified).
    pub input_sample_rate: u32,
    /// Output gain in Q7.8 dB.
    pub output_gain: i16,
    /// Channel mapping family (0: mono/stereo, one stream).
    pub mapping_family: u8,
    /// For families other than 0: stream count, coupled count and the
    /// mapping table (one byte per channel).
    pub mapping: Option<ChannelMapping>,
}

/// The channel mapping table of an `OpusHead` (RFC 7845 §5.1.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelMapping {
    /// Number of Opus streams in each packet.
    pub streams: u8,
    /// How many of them are stereo.
    pub coupled: u8,
    /// For each output channel, the decoded channel it takes.
    pub table: Vec<u8>,
}

impl OpusHead {
    /// A mapping family 0 header for `channels` (1 or 2) with the usual
    /// 312-sample pre-skip of libopus at 48 kHz.
    pub fn new(channels: u8, input_sample_rate: u32) -> Self {
        Self {
            version: 1,
            channels,
            pre_skip: 312,
            input_sample_rate,
            output_gain: 0,
            mapping_family: 0,
            mapping: None,
        }
    }

    /// Parses an `OpusHead` packet (RFC 7845 §5.1).
    pub fn parse(p: &[u8]) -> Result<Self, OpusError> {
        if p.len() < 19 {
            return Err(OpusError::BadHead("shorter than 19 bytes"));
        }
        if &p[..8] != b"OpusHead" {
            return Err(OpusError::BadHead("magic is not OpusHead"));
        }
        let version = p[8];
        // A major version above 0 is incompatible (RFC 7845 §5.1 item 2).
        if version & 0xf0 != 0 {
            return Err(OpusError::BadHead("incompatible major version"));
        }
        let channels = p[9];
        if channels == 0 {
            return Err(OpusError::BadHead("zero channels"));
        }
        let mapping_family = p[18];
        let mapping = if mapping_family == 0 {
            if channels > 2 {
                return Err(OpusError::BadHead("family 0 with more than 2 channels"));
            }
            None
        } else {
            let rest = &p[19..];
            if rest.len() < 2 + usize::from(channels) {
                return Err(OpusError::BadHead("channel mapping table truncated"));
            }
            let (streams, coupled) = (rest[0], rest[1]);
            if streams == 0 || coupled > streams {
                return Err(OpusError::BadHead("bad stream or coupled count"));
            }
            Some(ChannelMapping {
                streams,
                coupled,
                table: rest[2..2 + usize::from(channels)].to_vec(),
            })
        };
        Ok(Self {
            version,
            channels,
            pre_skip: u16::from_le_bytes([p[10], p[11]]),
            input_sample_rate: u32::from_le_bytes([p[12], p[13], p[14], p[15]]),
            output_gain: i16::from_le_bytes([p[16], p[17]]),
            mapping_family,
            mapping,
        })
    }

    /// The header as a packet.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(19);
        b.extend_from_slice(b"OpusHead");
        b.push(self.version);
        b.push(self.channels);
        b.extend_from_slice(&self.pre_skip.to_le_bytes());
        b.extend_from_slice(&self.input_sample_rate.to_le_bytes());
        b.extend_from_slice(&self.output_gain.to_le_bytes());
        b.push(self.mapping_family);
        if let Some(m) = &self.mapping {
            b.push(m.streams);
            b.push(m.coupled);
            b.extend_from_slice(&m.table);
        }
        b
    }
}

/// The comment header `OpusTags` (RFC 7845 §5.2): a vendor string and
/// `NAME=value` comments.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OpusTags {
    /// The encoder's vendor string.
    pub vendor: String,
    /// User comments, each `NAME=value`.
    pub comments: Vec<String>,
}

impl OpusTags {
    /// Parses an `OpusTags` packet (RFC 7845 §5.2). Strings that are not
    /// UTF-8 are kept with replacement characters.
    pub fn parse(p: &[u8]) -> Result<Self, OpusError> {
        let rest = p
            .strip_prefix(b"OpusTags")
            .ok_or(OpusError::BadTags("magic is not OpusTags"))?;
        let mut r = rest;
        let take_u32 = |r: &mut &[u8]| -> Result<usize, OpusError> {
            if r.len() < 4 {
                return Err(OpusError::BadTags("truncated length"));
            }
            let n = u32::from_le_bytes([r[0], r[1], r[2], r[3]]) as usize;
            *r = &r[4..];
            Ok(n)
        };
        let take_str = |r: &mut &[u8], n: usize| -> Result<String, OpusError> {
            if r.len() < n {
                return Err(OpusError::BadTags("string runs past the packet"));
            }
            let s = String::from_utf8_lossy(&r[..n]).into_owned();
            *r = &r[n..];
            Ok(s)
        };
        let n = take_u32(&mut r)?;
        let vendor = take_str(&mut r, n)?;
        let count = take_u32(&mut r)?;
        // Each comment takes at least 4 bytes: bound the count by the packet.
        if count > r.len() / 4 {
            return Err(OpusError::BadTags("more comments than the packet holds"));
        }
        let mut comments = Vec::with_capacity(count);
        for _ in 0..count {
            let n = take_u32(&mut r)?;
            comments.push(take_str(&mut r, n)?);
        }
        Ok(Self { vendor, comments })
    }

    /// The header as a packet.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(b"OpusTags");
        b.extend_from_slice(&(self.vendor.len() as u32).to_le_bytes());
        b.extend_from_slice(self.vendor.as_bytes());
        b.extend_from_slice(&(self.comments.len() as u32).to_le_bytes());
        for c in &self.comments {
            b.extend_from_slice(&(c.len() as u32).to_le_bytes());
            b.extend_from_slice(c.as_bytes());
        }
        b
    }
}

/// An Opus audio packet read from Ogg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpusPacket {
    /// The packet.
    pub data: Vec<u8>,
    /// Its duration in samples at 48 kHz, from its TOC byte.
    pub samples: u32,
    /// The sum of the durations of the packets before it, in samples at
    /// 48 kHz (0 for the first). Decoders drop the first `pre_skip`
    /// samples of the stream (RFC 7845 §4.2); this count does not.
    pub pts: u64,
    /// The granule position of its page when it is the last packet to end
    /// there (RFC 7845 §4).
    pub granule_position: Option<u64>,
}

impl OpusPacket {
    /// The duration as a [`std::time::Duration`].
    pub fn duration(&self) -> std::time::Duration {
        std::time::Duration::from_micros(u64::from(self.samples) * 1_000_000 / 48_000)
    }
}

/// Reads an Ogg Opus file (RFC 7845): the two headers at construction,
/// then audio packets with their durations.
#[derive(Debug)]
pub struct OpusReader<R> {
    packets: PacketReader<R>,
    head: OpusHead,
    tags: OpusTags,
    pts: u64,
    index: u64,
}

impl<R: Read> OpusReader<R> {
    /// Reads `OpusHead` and `OpusTags` (RFC 7845 §3: each alone on its page(s)).
    pub fn new(reader: R) -> Result<Self, OpusError> {
        let mut packets = PacketReader::new(reader);
        let head = packets
            .next_packet()?
            .ok_or(OpusError::MissingHeader("OpusHead"))?;
        let head = OpusHead::parse(&head.data)?;
        let tags = packets
            .next_packet()?
            .ok_or(OpusError::MissingHeader("OpusTags"))?;
        let tags = OpusTags::parse(&tags.data)?;
        Ok(Self {
            packets,
            head,
            tags,
            pts: 0,
            index: 0,
        })
    }

    /// The identification header.
    pub fn head(&self) -> &OpusHead {
        &self.head
    }

    /// The comment header.
    pub fn tags(&self) -> &OpusTags {
        &self.tags
    }

    /// The next audio packet, `Ok(None)` at the end of the stream.
    pub fn next_packet(&mut self) -> Result<Option<OpusPacket>, OpusError> {
        let Some(p) = self.packets.next_packet()? else {
            return Ok(None);
        };
        let samples = packet_samples(&p.data).map_err(|e| OpusError::BadPacket {
            index: self.index,
            page: p.page,
            source: Box::new(e),
        })?;
        let pts = self.pts;
        self.pts += u64::from(samples);
        self.index += 1;
        Ok(Some(OpusPacket {
            data: p.data,
            samples,
            pts,
            granule_position: p.granule_position,
        }))
    }
}

impl<R: Read> Iterator for OpusReader<R> {
    type Item = Result<OpusPacket, OpusError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_packet().transpose()
    }
}

/// Writes an Ogg Opus file (RFC 7845): `OpusHead` alone on the first (BOS)
/// page, `OpusTags` alone on the next, then audio packets with granule
/// positions at 48 kHz (the samples of every packet so far, the pre-skip
/// included: RFC 7845 §4), and the EOS flag on the
/// last page at [`OpusWriter::finish`].
#[derive(Debug)]
pub struct OpusWriter<W> {
    pages: PacketWriter<W>,
    granule: u64,
}

impl<W: Write> OpusWriter<W> {
    /// Writes the two header pages for the logical stream `serial`.
    pub fn new(
        writer: W,
        serial: u32,
        head: &OpusHead,
        tags: &OpusTags,
    ) -> Result<Self, OpusError> {
        let mut pages = PacketWriter::new(writer, serial);
        // Header pages have granule position 0 (RFC 7845 §3).
        pages.write_packet(&head.to_bytes(), 0)?;
        pages.flush_page()?;
        pages.write_packet(&tags.to_bytes(), 0)?;
        pages.flush_page()?;
        Ok(Self {
            pages,
            // Granule positions count every decoded sample, the pre-skip
            // ones included: the PCM position is the granule minus the
            // pre-skip (RFC 7845 §4).
            granule: 0,
        })
    }

    /// Sets the body size after which an audio page is written.
    pub fn set_target_page_size(&mut self, size: usize) {
        self.pages.set_target_page_size(size);
    }

    /// Writes one packet; its duration comes from its TOC byte.
    pub fn write_packet(&mut self, packet: &[u8]) -> Result<(), OpusError> {
        let samples = packet_samples(packet)?;
        self.granule += u64::from(samples);
        self.pages.write_packet(packet, self.granule)?;
        Ok(())
    }

    /// The granule position after the packets written so far.
    pub fn granule_position(&self) -> u64 {
        self.granule
    }

    /// Writes the last page with the EOS flag and returns the writer.
    pub fn finish(self) -> Result<W, OpusError> {
        Ok(self.pages.finish(self.granule)?)
    }
}
