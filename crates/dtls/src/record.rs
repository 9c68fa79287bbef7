//! The DTLS record layer (RFC 6347 §4.1): record headers, the split of a
//! datagram into records, and the anti-replay window (§4.1.2.6).

use crate::codec::{DecodeError, Reader};

/// `DTLSPlaintext.version` for DTLS 1.2 (`{254, 253}`).
pub(crate) const DTLS_1_2: u16 = 0xfefd;
/// DTLS 1.0 (`{254, 255}`), which ClientHellos and HelloVerifyRequests may
/// carry in the record header (RFC 6347 §4.2.1).
pub(crate) const DTLS_1_0: u16 = 0xfeff;

/// Length of a record header.
pub(crate) const HEADER_LEN: usize = 13;

/// Largest sequence number (48 bits).
pub(crate) const MAX_SEQ: u64 = (1 << 48) - 1;

/// Record content types (RFC 5246 §6.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ContentType {
    ChangeCipherSpec = 20,
    Alert = 21,
    Handshake = 22,
    ApplicationData = 23,
}

impl ContentType {
    fn from_u8(v: u8) -> Option<Self> {
        match v {
            20 => Some(Self::ChangeCipherSpec),
            21 => Some(Self::Alert),
            22 => Some(Self::Handshake),
            23 => Some(Self::ApplicationData),
            _ => None,
        }
    }
}

/// A parsed record header and where its body lies in the datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RecordHeader {
    pub(crate) content_type: ContentType,
    /// `DTLSPlaintext.version` as received (authenticated in epoch 1).
    pub(crate) version: u16,
    pub(crate) epoch: u16,
    pub(crate) seq: u64,
    /// The body's byte range within the datagram.
    pub(crate) body: std::ops::Range<usize>,
}

impl RecordHeader {
    /// Epoch and sequence number as one 64-bit value (the AEAD's `seq_num`).
    pub(crate) fn full_seq(&self) -> u64 {
        u64::from(self.epoch) << 48 | self.seq
    }
}

/// Splits a datagram into records (RFC 6347 §4.1.1: several records may
/// share a datagram; a record never spans two). Returns the headers in
/// order; parsing stops at the first malformed record, whose error is
/// returned with the records before it.
pub(crate) fn split_records(
    datagram: &[u8],
    out: &mut Vec<RecordHeader>,
) -> Result<(), DecodeError> {
    let mut r = Reader::new(datagram);
    while !r.is_empty() {
        let start = datagram.len() - r.rest().len();
        let ct = r.u8("record content type")?;
        let version = r.u16("record version")?;
        let epoch = r.u16("record epoch")?;
        let seq = r.u48("record sequence number")?;
        let body = r.vec16("record body")?;
        let content_type = ContentType::from_u8(ct).ok_or(DecodeError {
            what: "record content type",
        })?;
        if version != DTLS_1_2 && version != DTLS_1_0 {
            return Err(DecodeError {
                what: "record version",
            });
        }
        let body_start = start + HEADER_LEN;
        out.push(RecordHeader {
            content_type,
            version,
            epoch,
            seq,
            body: body_start..body_start + body.len(),
        });
    }
    Ok(())
}

/// Writes a record header for a body of `len` bytes.
pub(crate) fn write_header(
    out: &mut Vec<u8>,
    content_type: ContentType,
    version: u16,
    seq: u64,
    len: usize,
) {
    out.push(content_type as u8);
    out.extend_from_slice(&version.to_be_bytes());
    // epoch (16 bits) and sequence number (48 bits)
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&(len as u16).to_be_bytes());
}

/// The sliding anti-replay window of RFC 6347 §4.1.2.6 (64 records wide),
/// checked before decryption and updated only after a record authenticates.
#[derive(Debug, Clone, Default)]
pub(crate) struct ReplayWindow {
    /// Highest sequence number accepted so far, if any.
    top: Option<u64>,
    /// Bit `i` set: `top - i` was received.
    bits: u64,
}

impl ReplayWindow {
    /// Whether `seq` is new and inside the window.
    pub(crate) fn check(&self, seq: u64) -> bool {
        match self.top {
            None => true,
            Some(top) if seq > top => true,
            Some(top) => {
                let back = top - seq;
                back < 64 && self.bits & (1 << back) == 0
            }
        }
    }

    /// Marks `seq` received (after it authenticated).
    pub(crate) fn mark(&mut self, seq: u64) {
        match self.top {
            None => {
                self.top = Some(seq);
                self.bits = 1;
            }
            Some(top) if seq > top => {
                let shift = seq - top;
                self.bits = if shift >= 64 { 0 } else { self.bits << shift };
                self.bits |= 1;
                self.top = Some(seq);
            }
            Some(top) => {
                let back = top - seq;
                if back < 64 {
                    self.bits |= 1 << back;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_window_refuses_duplicates_and_records_older_than_64() {
        let mut w = ReplayWindow::default();
        for seq in [5, 3, 100, 99, 40] {
            assert!(w.check(seq), "{seq}");
            w.mark(seq);
        }
        for seq in [5, 3, 100, 99] {
            assert!(!w.check(seq), "{seq} replayed");
        }
        assert!(w.check(37), "inside the window, never seen");
        assert!(!w.check(36), "64 behind the top");
        assert!(w.check(101));
    }

    #[test]
    fn datagram_splits_into_records_and_a_truncated_one_is_an_error() {
        let mut d = Vec::new();
        write_header(&mut d, ContentType::Handshake, DTLS_1_2, 1 << 48 | 7, 2);
        d.extend_from_slice(&[1, 2]);
        write_header(&mut d, ContentType::Alert, DTLS_1_0, 3, 2);
        d.extend_from_slice(&[2, 40]);
        let mut out = Vec::new();
        split_records(&d, &mut out).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].epoch, 1);
        assert_eq!(out[0].seq, 7);
        assert_eq!(&d[out[1].body.clone()], &[2, 40]);
        out.clear();
        assert!(split_records(&d[..d.len() - 1], &mut out).is_err());
        assert_eq!(out.len(), 1);
    }
}
