//! Payloaders (an encoded frame into RTP payloads within an MTU) and
//! depacketizers (RTP payloads back into a frame) per codec, with keyframe
//! detection from a single packet.
//!
//! A payloader returns the payloads of one frame in order; the caller puts
//! each in a packet with the frame's timestamp and sets the marker bit on the
//! last one (video, RFC 3551 §4.1 and each payload format). A depacketizer
//! appends the media of each payload, in sequence order, to the frame being
//! assembled (the [`crate::jitter`] buffer does the ordering).

mod av1;
mod g711;
mod h264;
mod opus;
mod vp8;
mod vp9;

pub use av1::{Av1Depacketizer, Av1Payloader};
pub use g711::{G711Depacketizer, G711Payloader};
pub use h264::{H264Depacketizer, H264Payloader, PacketizationMode};
pub use opus::{OpusDepacketizer, OpusPayloader};
pub use vp8::{Vp8Depacketizer, Vp8Descriptor, Vp8Payloader};
pub use vp9::{Vp9Depacketizer, Vp9Descriptor, Vp9Payloader};

use thiserror::Error;

use crate::packet::{Extensions, PayloadType, RtpPacket};

/// Why a frame could not be packetized or a payload depacketized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum CodecError {
    /// An empty frame or payload.
    #[error("empty {0}")]
    Empty(&'static str),
    /// A payload shorter than its descriptor or aggregation says.
    #[error("truncated {0}")]
    Truncated(&'static str),
    /// The MTU cannot hold even the smallest packet of this format.
    #[error("MTU {mtu} too small, at least {needed} needed")]
    MtuTooSmall {
        /// The smallest payload size that works.
        needed: usize,
        /// The MTU given.
        mtu: usize,
    },
    /// A unit that this format cannot split is larger than the MTU (an Opus
    /// frame, a NAL unit in packetization mode 0).
    #[error("unit of {size} bytes does not fit in MTU {mtu} and cannot be split")]
    TooLarge {
        /// The unit's size.
        size: usize,
        /// The MTU given.
        mtu: usize,
    },
    /// A packet type the format defines but this crate does not take.
    #[error("unsupported {0}")]
    Unsupported(&'static str),
    /// A fragment whose start was lost.
    #[error("fragment without its start")]
    MissingStart,
}

/// Turns encoded frames into RTP payloads.
pub trait Payloader {
    /// The payloads of `frame`, in order, each at most `mtu` bytes.
    fn payload(&mut self, mtu: usize, frame: &[u8]) -> Result<Vec<Vec<u8>>, CodecError>;

    /// The same payloads as [`Self::payload`], handed to `emit` one by one
    /// as pieces to write back to back (say a payload descriptor, then a
    /// range of `frame`), `true` with the frame's last one: a sender copies
    /// the pieces before the last into the packet it owns and shares a
    /// last piece that lies within `frame` (see [`crate::PlainPacket`]).
    /// An error comes before the first payload is emitted. Payloaders that
    /// can cut without copying override it (VP8, VP9, H.264, Opus, G.711);
    /// the default copies through [`Self::payload`] (AV1).
    fn payload_pieces(
        &mut self,
        mtu: usize,
        frame: &[u8],
        emit: &mut dyn FnMut(&[&[u8]], bool),
    ) -> Result<(), CodecError> {
        let payloads = self.payload(mtu, frame)?;
        let last = payloads.len().saturating_sub(1);
        for (i, p) in payloads.iter().enumerate() {
            emit(&[p], i == last);
        }
        Ok(())
    }
}

/// Turns RTP payloads back into encoded frames.
pub trait Depacketizer {
    /// Appends the media of one payload to `frame`. Payloads of a frame come
    /// in sequence order; a frame starts with an empty `frame`.
    fn depacketize(&mut self, payload: &[u8], frame: &mut Vec<u8>) -> Result<(), CodecError>;

    /// Whether `payload` is the first of a frame.
    fn is_frame_start(&self, payload: &[u8]) -> bool;

    /// Whether `payload` belongs to the start of a keyframe (a frame a
    /// decoder can start from).
    fn is_keyframe(&self, payload: &[u8]) -> bool;

    /// Whether `payload` is the first of a frame even though the packets
    /// before it are lost. Where parts of a frame can come before the packet
    /// [`Self::is_frame_start`] names (H.264 parameter sets before a slice,
    /// an AV1 sequence header before a frame), only a start nothing can
    /// precede counts.
    fn is_frame_start_after_loss(&self, payload: &[u8]) -> bool {
        self.is_frame_start(payload)
    }
}

/// The codecs this crate packetizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// Opus (RFC 7587).
    Opus,
    /// G.711 µ-law (RFC 3551 §4.5.14).
    Pcmu,
    /// G.711 A-law (RFC 3551 §4.5.14).
    Pcma,
    /// VP8 (RFC 7741).
    Vp8,
    /// VP9 (RFC 9628).
    Vp9,
    /// H.264 (RFC 6184) in a packetization mode.
    H264(PacketizationMode),
    /// AV1 (AOM RTP payload format).
    Av1,
}

impl Codec {
    /// Every codec, each H.264 mode once.
    pub const ALL: [Codec; 8] = [
        Codec::Opus,
        Codec::Pcmu,
        Codec::Pcma,
        Codec::Vp8,
        Codec::Vp9,
        Codec::H264(PacketizationMode::SingleNal),
        Codec::H264(PacketizationMode::NonInterleaved),
        Codec::Av1,
    ];

    /// Whether the codec carries video (frames end with the marker bit).
    pub fn is_video(self) -> bool {
        !matches!(self, Codec::Opus | Codec::Pcmu | Codec::Pcma)
    }

    /// A fresh payloader.
    pub fn payloader(self) -> Box<dyn Payloader + Send> {
        match self {
            Codec::Opus => Box::new(OpusPayloader),
            Codec::Pcmu | Codec::Pcma => Box::new(G711Payloader),
            Codec::Vp8 => Box::new(Vp8Payloader::new(0)),
            Codec::Vp9 => Box::new(Vp9Payloader::new(0)),
            Codec::H264(mode) => Box::new(H264Payloader::new(mode)),
            Codec::Av1 => Box::new(Av1Payloader),
        }
    }

    /// A fresh depacketizer.
    pub fn depacketizer(self) -> Box<dyn Depacketizer + Send> {
        match self {
            Codec::Opus => Box::new(OpusDepacketizer),
            Codec::Pcmu | Codec::Pcma => Box::new(G711Depacketizer),
            Codec::Vp8 => Box::new(Vp8Depacketizer),
            Codec::Vp9 => Box::new(Vp9Depacketizer),
            Codec::H264(_) => Box::new(H264Depacketizer),
            Codec::Av1 => Box::new(Av1Depacketizer::default()),
        }
    }
}

/// Turns frames into the RTP packets of one stream (RFC 3550 §5.1):
/// consecutive sequence numbers, the frame's timestamp on each packet, the
/// marker bit on the last packet of a video frame, and the given header
/// extensions on every packet.
pub struct Packetizer {
    codec: Codec,
    payloader: Box<dyn Payloader + Send>,
    payload_type: PayloadType,
    ssrc: u32,
    sequence: u16,
}

impl std::fmt::Debug for Packetizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Packetizer")
            .field("codec", &self.codec)
            .field("payload_type", &self.payload_type)
            .field("ssrc", &self.ssrc)
            .field("sequence", &self.sequence)
            .finish()
    }
}

impl Packetizer {
    /// A packetizer for `codec` whose first packet has `first_sequence` (a
    /// random value, RFC 3550 §5.1).
    pub fn new(codec: Codec, payload_type: PayloadType, ssrc: u32, first_sequence: u16) -> Self {
        Self {
            codec,
            payloader: codec.payloader(),
            payload_type,
            ssrc,
            sequence: first_sequence,
        }
    }

    /// The sequence number the next packet gets.
    pub fn next_sequence(&self) -> u16 {
        self.sequence
    }

    /// The packets of `frame`, each at most `mtu` bytes, header included.
    pub fn packetize(
        &mut self,
        mtu: usize,
        timestamp: u32,
        frame: &[u8],
        extensions: &Extensions<'_>,
    ) -> Result<Vec<Vec<u8>>, CodecError> {
        let mut header = RtpPacket::new(self.payload_type, 0, timestamp, self.ssrc, &[]);
        header.extensions = *extensions;
        let header_len = header.header_len();
        let room =
            mtu.checked_sub(header_len)
                .filter(|r| *r > 0)
                .ok_or(CodecError::MtuTooSmall {
                    needed: header_len + 1,
                    mtu,
                })?;
        let payloads = self.payloader.payload(room, frame)?;
        let last = payloads.len().saturating_sub(1);
        Ok(payloads
            .iter()
            .enumerate()
            .map(|(i, payload)| {
                let mut p = header;
                p.payload = payload;
                p.sequence_number = self.sequence;
                p.marker = i == last && self.codec.is_video();
                self.sequence = self.sequence.wrapping_add(1);
                p.to_vec()
            })
            .collect())
    }
}

/// [`Payloader::payload`] of a payloader that cuts in pieces: each
/// payload's pieces joined.
fn joined(
    payloader: &mut impl Payloader,
    mtu: usize,
    frame: &[u8],
) -> Result<Vec<Vec<u8>>, CodecError> {
    let mut out = Vec::new();
    payloader.payload_pieces(mtu, frame, &mut |pieces, _| out.push(pieces.concat()))?;
    Ok(out)
}

/// Splits `len` bytes into `n` near-equal parts of at most `max` each.
fn split_sizes(len: usize, max: usize) -> impl ExactSizeIterator<Item = usize> {
    let n = len.div_ceil(max).max(1);
    let base = len / n;
    let extra = len % n;
    (0..n).map(move |i| base + usize::from(i < extra))
}

#[cfg(test)]
mod tests;
