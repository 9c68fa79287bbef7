//! H.264 (RFC 6184): single NAL unit packets, STAP-A aggregation and FU-A
//! fragmentation; packetization modes 0 and 1. Frames are Annex B byte
//! streams (start codes) on both sides.

use super::{CodecError, Depacketizer, Payloader, joined};

const STAP_A: u8 = 24;
const FU_A: u8 = 28;
const NAL_IDR: u8 = 5;
const NAL_SPS: u8 = 7;
const NAL_PPS: u8 = 8;
const NAL_AUD: u8 = 9;
const START_CODE: [u8; 4] = [0, 0, 0, 1];

/// The H.264 packetization mode (RFC 6184 §6, `packetization-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketizationMode {
    /// Mode 0: single NAL unit packets only (§6.2).
    SingleNal,
    /// Mode 1: single NAL, STAP-A and FU-A (§6.3).
    NonInterleaved,
}

/// The NAL units of an Annex B byte stream, without start codes.
pub fn annex_b_nal_units(stream: &[u8]) -> impl Iterator<Item = &[u8]> {
    // Positions right after each 00 00 01 start code.
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= stream.len() {
        if stream[i] == 0 && stream[i + 1] == 0 && stream[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    if starts.is_empty() && !stream.is_empty() {
        // No start code: the whole buffer is one NAL unit.
        starts.push(0);
    }
    let ends: Vec<usize> = starts
        .iter()
        .skip(1)
        .map(|&s| {
            // The next start code begins 3 bytes back; a 4-byte one (or
            // trailing zeros) one more.
            let mut e = s - 3;
            while e > 0 && stream[e - 1] == 0 {
                e -= 1;
            }
            e
        })
        .chain(std::iter::once(stream.len()))
        .collect();
    starts
        .into_iter()
        .zip(ends)
        .map(move |(s, e)| &stream[s..e.max(s)])
        .filter(|n| !n.is_empty())
}

/// H.264 payloader (RFC 6184 §5.7). In mode 1 small NAL units are
/// aggregated into STAP-A packets and large ones fragmented into FU-A; an
/// IDR slice is preceded by the last SPS and PPS seen when its frame lacks
/// them, so a receiver joining at a key frame can decode it.
#[derive(Debug, Clone)]
pub struct H264Payloader {
    mode: PacketizationMode,
    sps: Option<Vec<u8>>,
    pps: Option<Vec<u8>>,
}

impl H264Payloader {
    /// A payloader in `mode`.
    pub fn new(mode: PacketizationMode) -> Self {
        Self {
            mode,
            sps: None,
            pps: None,
        }
    }
}

impl Payloader for H264Payloader {
    fn payload(&mut self, mtu: usize, frame: &[u8]) -> Result<Vec<Vec<u8>>, CodecError> {
        joined(self, mtu, frame)
    }

    /// A single NAL unit packet is the unit, an FU-A its two header bytes
    /// and a part of the unit (pieces of `frame`); a STAP-A is built whole.
    fn payload_pieces(
        &mut self,
        mtu: usize,
        frame: &[u8],
        emit: &mut dyn FnMut(&[&[u8]], bool),
    ) -> Result<(), CodecError> {
        let mut nals: Vec<&[u8]> = Vec::new();
        let mut has_parameter_sets = false;
        let (sps, pps) = (self.sps.take(), self.pps.take());
        let mut new_sps = None;
        let mut new_pps = None;
        for nal in annex_b_nal_units(frame) {
            match nal[0] & 0x1f {
                NAL_SPS => {
                    has_parameter_sets = true;
                    new_sps = Some(nal);
                }
                NAL_PPS => {
                    has_parameter_sets = true;
                    new_pps = Some(nal);
                }
                NAL_IDR if !has_parameter_sets => {
                    if let (Some(s), Some(p)) = (&sps, &pps) {
                        nals.push(s);
                        nals.push(p);
                    }
                    has_parameter_sets = true;
                }
                _ => {}
            }
            nals.push(nal);
        }
        if nals.is_empty() {
            self.sps = sps;
            self.pps = pps;
            return Err(CodecError::Empty("H.264 frame"));
        }
        let mut out = Vec::new();
        let result = match self.mode {
            PacketizationMode::SingleNal => nals.iter().try_for_each(|nal| {
                if nal.len() > mtu {
                    return Err(CodecError::TooLarge {
                        size: nal.len(),
                        mtu,
                    });
                }
                out.push(Packet::Single(nal));
                Ok(())
            }),
            PacketizationMode::NonInterleaved => non_interleaved(mtu, &nals, &mut out),
        };
        // Nothing is emitted before the whole frame is cut: an error
        // comes first.
        if result.is_ok() {
            let last = out.len().saturating_sub(1);
            for (i, p) in out.iter().enumerate() {
                match p {
                    Packet::Single(nal) => emit(&[nal], i == last),
                    Packet::Fu(header, part) => emit(&[header, part], i == last),
                    Packet::StapA(whole) => emit(&[whole], i == last),
                }
            }
        }
        drop(out);
        self.sps = new_sps.map(<[u8]>::to_vec).or(sps);
        self.pps = new_pps.map(<[u8]>::to_vec).or(pps);
        result
    }
}

/// One RTP payload of an H.264 frame.
enum Packet<'a> {
    /// A single NAL unit packet (RFC 6184 §5.6).
    Single(&'a [u8]),
    /// An FU-A (RFC 6184 §5.8): FU indicator and FU header, then a part of
    /// the unit.
    Fu([u8; 2], &'a [u8]),
    /// A STAP-A (RFC 6184 §5.7.1), written whole.
    StapA(Vec<u8>),
}

fn non_interleaved<'a>(
    mtu: usize,
    nals: &[&'a [u8]],
    out: &mut Vec<Packet<'a>>,
) -> Result<(), CodecError> {
    if mtu < 3 {
        return Err(CodecError::MtuTooSmall { needed: 3, mtu });
    }
    let mut pending: Vec<&[u8]> = Vec::new();
    let mut pending_len = 1;
    let flush =
        |pending: &mut Vec<&'a [u8]>, pending_len: &mut usize, out: &mut Vec<Packet<'a>>| {
            match pending.as_slice() {
                [] => {}
                [one] => out.push(Packet::Single(one)),
                many => {
                    // RFC 6184 §5.7.1: STAP-A header with F the OR and NRI the
                    // maximum of the units, then 16-bit sizes and the units.
                    let f = many.iter().fold(0, |a, n| a | n[0] & 0x80);
                    let nri = many.iter().map(|n| n[0] & 0x60).max().unwrap_or(0);
                    let mut p = Vec::with_capacity(*pending_len);
                    p.push(f | nri | STAP_A);
                    for n in many {
                        p.extend_from_slice(&(n.len() as u16).to_be_bytes());
                        p.extend_from_slice(n);
                    }
                    out.push(Packet::StapA(p));
                }
            }
            pending.clear();
            *pending_len = 1;
        };
    for &nal in nals {
        if nal.len() > mtu {
            flush(&mut pending, &mut pending_len, out);
            // RFC 6184 §5.8: FU indicator (F, NRI, 28), FU header (S, E, type).
            let indicator = nal[0] & 0xe0 | FU_A;
            let body = &nal[1..];
            let chunks = body.chunks(mtu - 2);
            let last = chunks.len().saturating_sub(1);
            for (i, c) in chunks.enumerate() {
                let s = if i == 0 { 0x80 } else { 0 };
                let e = if i == last { 0x40 } else { 0 };
                out.push(Packet::Fu([indicator, s | e | nal[0] & 0x1f], c));
            }
            continue;
        }
        // A STAP-A unit size is 16 bits (RFC 6184 §5.7.1).
        let aggregable = nal.len() <= usize::from(u16::MAX);
        if !aggregable || pending_len + 2 + nal.len() > mtu {
            flush(&mut pending, &mut pending_len, out);
        }
        if !aggregable || pending_len + 2 + nal.len() > mtu {
            // Fits alone but not in a STAP-A: a single NAL unit packet.
            out.push(Packet::Single(nal));
        } else {
            pending.push(nal);
            pending_len += 2 + nal.len();
        }
    }
    flush(&mut pending, &mut pending_len, out);
    Ok(())
}

/// H.264 depacketizer (RFC 6184 §5.6-5.8): writes Annex B NAL units.
#[derive(Debug, Clone, Copy, Default)]
pub struct H264Depacketizer;

/// The NAL unit types a payload starts with: the unit itself, each unit of
/// a STAP-A, or the type of an FU-A start.
fn starting_units(payload: &[u8]) -> Vec<(u8, &[u8])> {
    let Some(&h) = payload.first() else {
        return Vec::new();
    };
    match h & 0x1f {
        1..=23 => vec![(h & 0x1f, &payload[1..])],
        STAP_A => {
            let mut out = Vec::new();
            let mut rest = &payload[1..];
            while let [a, b, tail @ ..] = rest {
                let n = usize::from(u16::from_be_bytes([*a, *b]));
                let Some(nal) = tail.get(..n) else { break };
                if let Some(&nh) = nal.first() {
                    out.push((nh & 0x1f, &nal[1..]));
                }
                rest = &tail[n..];
            }
            out
        }
        FU_A => match payload.get(1) {
            Some(&fu) if fu & 0x80 != 0 => vec![(fu & 0x1f, &payload[2..])],
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

impl Depacketizer for H264Depacketizer {
    fn depacketize(&mut self, payload: &[u8], frame: &mut Vec<u8>) -> Result<(), CodecError> {
        let &h = payload.first().ok_or(CodecError::Empty("H.264 payload"))?;
        match h & 0x1f {
            1..=23 => {
                frame.extend_from_slice(&START_CODE);
                frame.extend_from_slice(payload);
            }
            STAP_A => {
                let mut rest = &payload[1..];
                while !rest.is_empty() {
                    let [a, b, tail @ ..] = rest else {
                        return Err(CodecError::Truncated("STAP-A size"));
                    };
                    let n = usize::from(u16::from_be_bytes([*a, *b]));
                    let nal = tail.get(..n).ok_or(CodecError::Truncated("STAP-A unit"))?;
                    if !nal.is_empty() {
                        frame.extend_from_slice(&START_CODE);
                        frame.extend_from_slice(nal);
                    }
                    rest = &tail[n..];
                }
            }
            FU_A => {
                let &fu = payload.get(1).ok_or(CodecError::Truncated("FU header"))?;
                if fu & 0x80 != 0 {
                    frame.extend_from_slice(&START_CODE);
                    frame.push(h & 0xe0 | fu & 0x1f);
                } else if frame.is_empty() {
                    return Err(CodecError::MissingStart);
                }
                frame.extend_from_slice(&payload[2..]);
            }
            0 => return Err(CodecError::Unsupported("NAL unit type 0")),
            _ => {
                return Err(CodecError::Unsupported(
                    "interleaved packetization (STAP-B, MTAP, FU-B)",
                ));
            }
        }
        Ok(())
    }

    fn is_frame_start(&self, payload: &[u8]) -> bool {
        // An access unit starts with SEI, SPS, PPS or an access unit
        // delimiter, or with a slice whose first_mb_in_slice is 0 (ue(v)
        // code "1" in the first bit).
        starting_units(payload)
            .first()
            .is_some_and(|&(t, rest)| match t {
                6..=9 => true,
                1 | 5 => rest.first().is_some_and(|b| b & 0x80 != 0),
                _ => false,
            })
    }

    fn is_keyframe(&self, payload: &[u8]) -> bool {
        starting_units(payload)
            .iter()
            .any(|&(t, _)| t == NAL_IDR || t == NAL_SPS)
    }

    fn is_frame_start_after_loss(&self, payload: &[u8]) -> bool {
        // H.264 §7.4.1.2.3: an access unit delimiter or an SPS comes first
        // in its access unit; a slice may follow lost parameter sets.
        starting_units(payload)
            .first()
            .is_some_and(|&(t, _)| t == NAL_AUD || t == NAL_SPS)
    }
}
