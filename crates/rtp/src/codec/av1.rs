//! AV1 (AOM "RTP Payload Format For AV1" v1.0): the aggregation header
//! (Z, Y, W, N), OBU elements with LEB128 lengths, OBUs fragmented across
//! packets. Frames are temporal units in the low-overhead bitstream format
//! (every OBU with `obu_has_size_field`).

use super::{CodecError, Depacketizer, Payloader};

const OBU_SEQUENCE_HEADER: u8 = 1;
const OBU_TEMPORAL_DELIMITER: u8 = 2;
const OBU_TILE_LIST: u8 = 8;
const OBU_PADDING: u8 = 15;

/// Reads a LEB128 value (AV1 spec §4.10.5), at most 8 bytes; returns it and
/// its length.
pub fn read_leb128(data: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, &b) in data.iter().take(8).enumerate() {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

/// Appends `v` as LEB128.
pub fn write_leb128(mut v: u64, out: &mut Vec<u8>) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn leb128_len(v: usize) -> usize {
    let mut n = 1;
    let mut v = v >> 7;
    while v > 0 {
        n += 1;
        v >>= 7;
    }
    n
}

/// One OBU of a temporal unit: its header bytes (with the size flag cleared)
/// and its payload.
struct Obu<'a> {
    header: u8,
    extension: Option<u8>,
    payload: &'a [u8],
}

fn parse_obus(mut data: &[u8]) -> Result<Vec<Obu<'_>>, CodecError> {
    let mut out = Vec::new();
    while let Some(&header) = data.first() {
        let mut at = 1;
        let extension = if header & 0x04 != 0 {
            at += 1;
            Some(*data.get(1).ok_or(CodecError::Truncated("OBU extension"))?)
        } else {
            None
        };
        let size = if header & 0x02 != 0 {
            let (size, n) = read_leb128(&data[at..]).ok_or(CodecError::Truncated("OBU size"))?;
            at += n;
            usize::try_from(size).map_err(|_| CodecError::Truncated("OBU"))?
        } else {
            data.len() - at
        };
        let payload = data
            .get(at..at.saturating_add(size))
            .ok_or(CodecError::Truncated("OBU"))?;
        out.push(Obu {
            header: header & !0x02,
            extension,
            payload,
        });
        data = &data[at + size..];
    }
    Ok(out)
}

/// AV1 payloader: one OBU element per OBU, each with its LEB128 length (W =
/// 0), fragmented over packets with Y and Z; temporal delimiters, tile lists
/// and padding OBUs are dropped (AOM RTP §5); N on the first packet of a
/// temporal unit holding a sequence header.
#[derive(Debug, Clone, Copy, Default)]
pub struct Av1Payloader;

impl Payloader for Av1Payloader {
    fn payload(&mut self, mtu: usize, frame: &[u8]) -> Result<Vec<Vec<u8>>, CodecError> {
        if mtu < 3 {
            return Err(CodecError::MtuTooSmall { needed: 3, mtu });
        }
        let obus = parse_obus(frame)?;
        let elements: Vec<Vec<u8>> = obus
            .iter()
            .filter(|o| {
                !matches!(
                    o.header >> 3 & 0x0f,
                    OBU_TEMPORAL_DELIMITER | OBU_TILE_LIST | OBU_PADDING
                )
            })
            .map(|o| {
                let mut e = Vec::with_capacity(2 + o.payload.len());
                e.push(o.header);
                e.extend(o.extension);
                e.extend_from_slice(o.payload);
                e
            })
            .collect();
        if elements.is_empty() {
            return Err(CodecError::Empty("AV1 temporal unit"));
        }
        let new_sequence = obus
            .iter()
            .any(|o| o.header >> 3 & 0x0f == OBU_SEQUENCE_HEADER);
        let mut out = Vec::new();
        let mut packet = vec![if new_sequence { 0x08 } else { 0 }];
        for e in &elements {
            let mut rest = &e[..];
            while !rest.is_empty() {
                let space = mtu - packet.len();
                if space < 2 {
                    out.push(std::mem::replace(&mut packet, vec![0]));
                    continue;
                }
                let take = rest.len().min(space - leb128_len(space));
                write_leb128(take as u64, &mut packet);
                packet.extend_from_slice(&rest[..take]);
                rest = &rest[take..];
                if !rest.is_empty() {
                    // Y: the last element continues in the next packet (Z).
                    packet[0] |= 0x40;
                    out.push(std::mem::replace(&mut packet, vec![0x80]));
                }
            }
        }
        if packet.len() > 1 {
            out.push(packet);
        }
        Ok(out)
    }
}

/// AV1 depacketizer: rebuilds OBUs (with size fields) from elements,
/// joining fragments across packets.
#[derive(Debug, Clone, Default)]
pub struct Av1Depacketizer {
    fragment: Vec<u8>,
}

fn write_obu(element: &[u8], frame: &mut Vec<u8>) -> Result<(), CodecError> {
    let &header = element.first().ok_or(CodecError::Empty("OBU element"))?;
    let head = if header & 0x04 != 0 { 2 } else { 1 };
    let ext = element
        .get(1..head)
        .ok_or(CodecError::Truncated("OBU extension"))?;
    let mut body = &element[head..];
    if header & 0x02 != 0 {
        // A sender may keep obu_has_size_field (AOM RTP §4.3 says it
        // SHOULD clear it): the OBU is its declared size, not the element.
        let (size, n) = read_leb128(body).ok_or(CodecError::Truncated("OBU size"))?;
        let size = usize::try_from(size).map_err(|_| CodecError::Truncated("OBU"))?;
        body = body
            .get(n..n.saturating_add(size))
            .ok_or(CodecError::Truncated("OBU"))?;
    }
    frame.push(header | 0x02);
    frame.extend_from_slice(ext);
    write_leb128(body.len() as u64, frame);
    frame.extend_from_slice(body);
    Ok(())
}

impl Depacketizer for Av1Depacketizer {
    fn depacketize(&mut self, payload: &[u8], frame: &mut Vec<u8>) -> Result<(), CodecError> {
        let (&agg, mut rest) = payload
            .split_first()
            .ok_or(CodecError::Empty("AV1 payload"))?;
        let z = agg & 0x80 != 0;
        let y = agg & 0x40 != 0;
        let w = usize::from(agg >> 4 & 0x03);
        if frame.is_empty() && !z {
            self.fragment.clear();
        }
        let mut elements = Vec::new();
        let mut index = 0;
        while !rest.is_empty() {
            index += 1;
            let len = if w != 0 && index == w {
                rest.len()
            } else {
                let (len, n) =
                    read_leb128(rest).ok_or(CodecError::Truncated("OBU element length"))?;
                rest = &rest[n..];
                usize::try_from(len).unwrap_or(usize::MAX)
            };
            let element = rest
                .get(..len)
                .ok_or(CodecError::Truncated("OBU element"))?;
            elements.push(element);
            rest = &rest[len..];
        }
        let count = elements.len();
        for (i, element) in elements.into_iter().enumerate() {
            let first = i == 0;
            let last = i + 1 == count;
            if first && z {
                if self.fragment.is_empty() {
                    return Err(CodecError::MissingStart);
                }
                self.fragment.extend_from_slice(element);
            } else {
                self.fragment.clear();
                self.fragment.extend_from_slice(element);
            }
            if !(last && y) {
                let whole = std::mem::take(&mut self.fragment);
                write_obu(&whole, frame)?;
                self.fragment = whole;
                self.fragment.clear();
            }
        }
        Ok(())
    }

    fn is_frame_start(&self, payload: &[u8]) -> bool {
        payload.first().is_some_and(|a| a & 0x80 == 0)
    }

    fn is_keyframe(&self, payload: &[u8]) -> bool {
        // N: the first packet of a coded video sequence.
        payload.first().is_some_and(|a| a & 0x08 != 0)
    }

    fn is_frame_start_after_loss(&self, payload: &[u8]) -> bool {
        // A coded video sequence starts (N), or the packet opens with a
        // whole temporal delimiter or sequence header: nothing of the
        // temporal unit precedes either.
        let Some((&agg, rest)) = payload.split_first() else {
            return false;
        };
        if agg & 0x80 != 0 {
            return false;
        }
        if agg & 0x08 != 0 {
            return true;
        }
        let header = if agg >> 4 & 0x03 == 1 {
            rest.first()
        } else {
            read_leb128(rest).and_then(|(_, n)| rest.get(n))
        };
        header
            .is_some_and(|h| matches!(h >> 3 & 0x0f, OBU_SEQUENCE_HEADER | OBU_TEMPORAL_DELIMITER))
    }
}
