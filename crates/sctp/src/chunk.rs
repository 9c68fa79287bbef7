//! Wire format of SCTP packets and chunks (RFC 9260 §3), PR-SCTP's
//! FORWARD-TSN (RFC 3758 §3.2) and RE-CONFIG (RFC 6525 §3.1).
//!
//! Parsing borrows from the packet and never allocates; writing appends to
//! the caller's buffer. Every length is checked; trailing garbage inside a
//! chunk is an error, never a panic.

use crate::Error;

/// SCTP common header length (RFC 9260 §3.1).
pub(crate) const COMMON_HEADER_LEN: usize = 12;
/// DATA chunk header length including the chunk header (RFC 9260 §3.3.1).
pub(crate) const DATA_HEADER_LEN: usize = 16;
/// I-DATA chunk header length including the chunk header (RFC 8260 §2.1).
pub(crate) const I_DATA_HEADER_LEN: usize = 20;

/// Chunk type numbers (RFC 9260 §3.2, RFC 3758, RFC 6525, RFC 8260).
pub(crate) mod ty {
    pub const DATA: u8 = 0;
    pub const INIT: u8 = 1;
    pub const INIT_ACK: u8 = 2;
    pub const SACK: u8 = 3;
    pub const HEARTBEAT: u8 = 4;
    pub const HEARTBEAT_ACK: u8 = 5;
    pub const ABORT: u8 = 6;
    pub const SHUTDOWN: u8 = 7;
    pub const SHUTDOWN_ACK: u8 = 8;
    pub const ERROR: u8 = 9;
    pub const COOKIE_ECHO: u8 = 10;
    pub const COOKIE_ACK: u8 = 11;
    pub const SHUTDOWN_COMPLETE: u8 = 14;
    pub const I_DATA: u8 = 64;
    pub const RE_CONFIG: u8 = 130;
    pub const FORWARD_TSN: u8 = 192;
    pub const I_FORWARD_TSN: u8 = 194;
}

/// Parameter type numbers.
pub(crate) mod param {
    pub const HEARTBEAT_INFO: u16 = 1;
    pub const STATE_COOKIE: u16 = 7;
    pub const OUTGOING_RESET_REQUEST: u16 = 13;
    pub const INCOMING_RESET_REQUEST: u16 = 14;
    pub const RECONFIG_RESPONSE: u16 = 16;
    pub const ADD_OUTGOING_STREAMS: u16 = 17;
    pub const ADD_INCOMING_STREAMS: u16 = 18;
    pub const ZERO_CHECKSUM_ACCEPTABLE: u16 = 0x8001;
    pub const SUPPORTED_EXTENSIONS: u16 = 0x8008;
    pub const FORWARD_TSN_SUPPORTED: u16 = 0xC000;
}

/// Error cause codes (RFC 9260 §3.3.10).
pub(crate) mod cause {
    pub const INVALID_STREAM: u16 = 1;
    pub const UNRECOGNIZED_CHUNK: u16 = 6;
    pub const USER_INITIATED_ABORT: u16 = 12;
    pub const PROTOCOL_VIOLATION: u16 = 13;
}

/// DATA chunk flag bits (RFC 9260 §3.3.1, RFC 7053).
pub(crate) mod flag {
    pub const END: u8 = 0x01;
    pub const BEGIN: u8 = 0x02;
    pub const UNORDERED: u8 = 0x04;
    /// T bit of ABORT and SHUTDOWN-COMPLETE: the tag is reflected.
    pub const T: u8 = 0x01;
}

/// Reads big-endian integers from a slice, failing instead of panicking.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8], what: &'static str) -> Self {
        Self { buf, what }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        if self.buf.len() < n {
            return Err(Error::Truncated {
                what: self.what,
                len: self.buf.len(),
                needed: n,
            });
        }
        let (a, b) = self.buf.split_at(n);
        self.buf = b;
        Ok(a)
    }
    pub(crate) fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.take(1)?[0])
    }
    pub(crate) fn u16(&mut self) -> Result<u16, Error> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    pub(crate) fn u32(&mut self) -> Result<u32, Error> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub(crate) fn rest(self) -> &'a [u8] {
        self.buf
    }
}

/// The SCTP common header (RFC 9260 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CommonHeader {
    pub src_port: u16,
    pub dst_port: u16,
    pub verification_tag: u32,
}

/// One chunk as found in a packet: type, flags and value (without padding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawChunk<'a> {
    pub ty: u8,
    pub flags: u8,
    pub value: &'a [u8],
}

/// Splits a packet into its common header and the bytes holding its chunks.
pub(crate) fn parse_header(packet: &[u8]) -> Result<(CommonHeader, &[u8]), Error> {
    let mut r = Reader::new(packet, "common header");
    let src_port = r.u16()?;
    let dst_port = r.u16()?;
    let verification_tag = r.u32()?;
    let _checksum = r.u32()?;
    Ok((
        CommonHeader {
            src_port,
            dst_port,
            verification_tag,
        },
        r.rest(),
    ))
}

/// Iterates over chunks (or TLV parameters: same layout) in a byte region.
/// Stops at the first error; never loops forever (every step consumes at
/// least a header).
#[derive(Debug, Clone)]
pub(crate) struct Tlvs<'a> {
    buf: &'a [u8],
    what: &'static str,
    failed: bool,
}

impl<'a> Tlvs<'a> {
    pub(crate) fn new(buf: &'a [u8], what: &'static str) -> Self {
        Self {
            buf,
            what,
            failed: false,
        }
    }
}

/// A type-length-value item: chunk (type, flags) or parameter (16-bit type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tlv<'a> {
    /// First two bytes: chunk type and flags, or the parameter type.
    pub head: u16,
    /// The value, without header and padding.
    pub value: &'a [u8],
    /// The whole item including header, without padding.
    pub whole: &'a [u8],
}

impl<'a> Iterator for Tlvs<'a> {
    type Item = Result<Tlv<'a>, Error>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.buf.is_empty() {
            return None;
        }
        let fail = |s: &mut Self, e| {
            s.failed = true;
            Some(Err(e))
        };
        if self.buf.len() < 4 {
            return fail(
                self,
                Error::Truncated {
                    what: self.what,
                    len: self.buf.len(),
                    needed: 4,
                },
            );
        }
        let head = u16::from_be_bytes([self.buf[0], self.buf[1]]);
        let length = u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize;
        if length < 4 || length > self.buf.len() {
            return fail(
                self,
                Error::BadLength {
                    what: self.what,
                    length,
                },
            );
        }
        let whole = &self.buf[..length];
        let padded = (length + 3) & !3;
        // The last item's padding may be missing (RFC 9260 §3.2 requires it,
        // but a tolerant reader accepts a packet that ends early).
        self.buf = self.buf.get(padded..).unwrap_or(&[]);
        Some(Ok(Tlv {
            head,
            value: &whole[4..],
            whole,
        }))
    }
}

/// Iterates over the chunks of a packet body.
pub(crate) fn chunks(body: &[u8]) -> impl Iterator<Item = Result<RawChunk<'_>, Error>> {
    Tlvs::new(body, "chunk").map(|t| {
        t.map(|t| RawChunk {
            ty: (t.head >> 8) as u8,
            flags: t.head as u8,
            value: t.value,
        })
    })
}

/// A DATA chunk (RFC 9260 §3.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Data<'a> {
    pub flags: u8,
    pub tsn: u32,
    pub stream: u16,
    pub ssn: u16,
    pub ppid: u32,
    pub payload: &'a [u8],
}

impl<'a> Data<'a> {
    pub(crate) fn parse(flags: u8, value: &'a [u8]) -> Result<Self, Error> {
        let mut r = Reader::new(value, "DATA chunk");
        let tsn = r.u32()?;
        let stream = r.u16()?;
        let ssn = r.u16()?;
        let ppid = r.u32()?;
        Ok(Self {
            flags,
            tsn,
            stream,
            ssn,
            ppid,
            payload: r.rest(),
        })
    }
}

/// An I-DATA chunk (RFC 8260 §2.1): messages identified by MID, fragments by FSN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IData<'a> {
    pub flags: u8,
    pub tsn: u32,
    pub stream: u16,
    pub mid: u32,
    /// The PPID on the first fragment (B bit), the FSN on the others.
    pub ppid_or_fsn: u32,
    pub payload: &'a [u8],
}

impl<'a> IData<'a> {
    pub(crate) fn parse(flags: u8, value: &'a [u8]) -> Result<Self, Error> {
        let mut r = Reader::new(value, "I-DATA chunk");
        let tsn = r.u32()?;
        let stream = r.u16()?;
        let _reserved = r.u16()?;
        let mid = r.u32()?;
        let ppid_or_fsn = r.u32()?;
        Ok(Self {
            flags,
            tsn,
            stream,
            mid,
            ppid_or_fsn,
            payload: r.rest(),
        })
    }
}

/// Appends an I-DATA chunk.
pub(crate) fn write_idata(buf: &mut Vec<u8>, d: &IData<'_>) {
    let s = begin_chunk(buf, ty::I_DATA, d.flags);
    buf.extend_from_slice(&d.tsn.to_be_bytes());
    buf.extend_from_slice(&d.stream.to_be_bytes());
    buf.extend_from_slice(&[0, 0]);
    buf.extend_from_slice(&d.mid.to_be_bytes());
    buf.extend_from_slice(&d.ppid_or_fsn.to_be_bytes());
    buf.extend_from_slice(d.payload);
    end_chunk(buf, s);
}

/// An I-FORWARD-TSN chunk (RFC 8260 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IForwardTsn<'a> {
    pub new_cum_tsn: u32,
    entries: &'a [u8],
}

impl<'a> IForwardTsn<'a> {
    pub(crate) fn parse(value: &'a [u8]) -> Result<Self, Error> {
        let mut r = Reader::new(value, "I-FORWARD-TSN chunk");
        let new_cum_tsn = r.u32()?;
        let entries = r.rest();
        if entries.len() % 8 != 0 {
            return Err(Error::BadLength {
                what: "I-FORWARD-TSN chunk",
                length: value.len(),
            });
        }
        Ok(Self {
            new_cum_tsn,
            entries,
        })
    }
    /// (stream, unordered, MID) of skipped messages.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (u16, bool, u32)> + 'a {
        self.entries.chunks_exact(8).map(|b| {
            (
                u16::from_be_bytes([b[0], b[1]]),
                b[3] & 1 != 0,
                u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            )
        })
    }
}

/// Fixed part of INIT and INIT-ACK (RFC 9260 §3.3.2, §3.3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Init<'a> {
    pub initiate_tag: u32,
    pub a_rwnd: u32,
    pub outbound_streams: u16,
    pub inbound_streams: u16,
    pub initial_tsn: u32,
    pub params: &'a [u8],
}

impl<'a> Init<'a> {
    pub(crate) fn parse(value: &'a [u8]) -> Result<Self, Error> {
        let mut r = Reader::new(value, "INIT chunk");
        Ok(Self {
            initiate_tag: r.u32()?,
            a_rwnd: r.u32()?,
            outbound_streams: r.u16()?,
            inbound_streams: r.u16()?,
            initial_tsn: r.u32()?,
            params: r.rest(),
        })
    }
}

/// Capabilities negotiated through INIT parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct InitCaps {
    pub forward_tsn: bool,
    pub reconfig: bool,
    pub zero_checksum: bool,
    /// I-DATA and I-FORWARD-TSN (RFC 8260).
    pub i_data: bool,
}

/// Parameters of INIT / INIT-ACK we act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct InitParams<'a> {
    pub caps: InitCaps,
    pub cookie: Option<&'a [u8]>,
}

/// Error Detection Method identifier for DTLS (RFC 9653 §5).
pub(crate) const EDMID_DTLS: u32 = 1;

impl<'a> InitParams<'a> {
    /// Reads the optional parameters; unknown ones follow the high bits of their
    /// type (RFC 9260 §3.2.1): `0x` stop processing, `1x` skip.
    pub(crate) fn parse(params: &'a [u8]) -> Result<Self, Error> {
        let mut out = Self::default();
        for p in Tlvs::new(params, "INIT parameter") {
            let p = p?;
            match p.head {
                param::STATE_COOKIE => out.cookie = Some(p.value),
                param::FORWARD_TSN_SUPPORTED => out.caps.forward_tsn = true,
                param::SUPPORTED_EXTENSIONS => {
                    for &c in p.value {
                        match c {
                            ty::FORWARD_TSN => out.caps.forward_tsn = true,
                            ty::RE_CONFIG => out.caps.reconfig = true,
                            ty::I_DATA => out.caps.i_data = true,
                            _ => {}
                        }
                    }
                }
                param::ZERO_CHECKSUM_ACCEPTABLE => {
                    let mut r = Reader::new(p.value, "zero checksum parameter");
                    out.caps.zero_checksum = r.u32()? == EDMID_DTLS;
                }
                // Known and not used over DTLS: addresses (5, 6), cookie
                // preservative (9), host name (11), supported address types (12).
                5 | 6 | 9 | 11 | 12 => {}
                other if other & 0x8000 == 0 => break,
                _ => {}
            }
        }
        Ok(out)
    }
}

/// A SACK chunk (RFC 9260 §3.3.4), with gap blocks and duplicates left in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sack<'a> {
    pub cum_tsn: u32,
    pub a_rwnd: u32,
    gaps: &'a [u8],
    dups: &'a [u8],
}

impl<'a> Sack<'a> {
    pub(crate) fn parse(value: &'a [u8]) -> Result<Self, Error> {
        let mut r = Reader::new(value, "SACK chunk");
        let cum_tsn = r.u32()?;
        let a_rwnd = r.u32()?;
        let n_gaps = r.u16()? as usize;
        let n_dups = r.u16()? as usize;
        let rest = r.rest();
        let need = n_gaps * 4 + n_dups * 4;
        if rest.len() != need {
            return Err(Error::BadLength {
                what: "SACK chunk",
                length: value.len(),
            });
        }
        let (gaps, dups) = rest.split_at(n_gaps * 4);
        Ok(Self {
            cum_tsn,
            a_rwnd,
            gaps,
            dups,
        })
    }
    /// Gap ack blocks as (start, end) offsets from the cumulative TSN.
    pub(crate) fn gaps(&self) -> impl Iterator<Item = (u16, u16)> + 'a {
        self.gaps.chunks_exact(4).map(|b| {
            (
                u16::from_be_bytes([b[0], b[1]]),
                u16::from_be_bytes([b[2], b[3]]),
            )
        })
    }
    /// Number of duplicate TSNs reported.
    #[cfg(test)]
    pub(crate) fn dup_count(&self) -> usize {
        self.dups.len() / 4
    }
}

/// A FORWARD-TSN chunk (RFC 3758 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ForwardTsn<'a> {
    pub new_cum_tsn: u32,
    streams: &'a [u8],
}

impl<'a> ForwardTsn<'a> {
    pub(crate) fn parse(value: &'a [u8]) -> Result<Self, Error> {
        let mut r = Reader::new(value, "FORWARD-TSN chunk");
        let new_cum_tsn = r.u32()?;
        let streams = r.rest();
        if streams.len() % 4 != 0 {
            return Err(Error::BadLength {
                what: "FORWARD-TSN chunk",
                length: value.len(),
            });
        }
        Ok(Self {
            new_cum_tsn,
            streams,
        })
    }
    /// (stream, SSN) pairs of skipped ordered messages.
    pub(crate) fn streams(&self) -> impl Iterator<Item = (u16, u16)> + 'a {
        self.streams.chunks_exact(4).map(|b| {
            (
                u16::from_be_bytes([b[0], b[1]]),
                u16::from_be_bytes([b[2], b[3]]),
            )
        })
    }
}

/// A parameter of a RE-CONFIG chunk (RFC 6525 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReconfigParam<'a> {
    /// Outgoing SSN Reset Request (§4.1): the sender resets its outgoing streams.
    OutgoingReset {
        request_seq: u32,
        last_tsn: u32,
        streams: &'a [u8],
    },
    /// Incoming SSN Reset Request (§4.2): the sender asks us to reset ours.
    IncomingReset { request_seq: u32, streams: &'a [u8] },
    /// Re-configuration Response (§4.4).
    Response { response_seq: u32, result: u32 },
    /// Add Outgoing Streams (§4.5) or Add Incoming Streams (§4.6).
    AddStreams {
        request_seq: u32,
        count: u16,
        outgoing: bool,
    },
    /// Anything else (SSN/TSN reset): answered with "Denied".
    Other { request_seq: Option<u32> },
}

/// Stream ids in a reset request.
pub(crate) fn stream_list(b: &[u8]) -> impl Iterator<Item = u16> + '_ {
    b.chunks_exact(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
}

/// Parses the parameters of a RE-CONFIG chunk.
pub(crate) fn reconfig_params(
    value: &[u8],
) -> impl Iterator<Item = Result<ReconfigParam<'_>, Error>> {
    Tlvs::new(value, "RE-CONFIG parameter").map(|p| {
        let p = p?;
        let mut r = Reader::new(p.value, "RE-CONFIG parameter");
        Ok(match p.head {
            param::OUTGOING_RESET_REQUEST => {
                let request_seq = r.u32()?;
                let _response_seq = r.u32()?;
                let last_tsn = r.u32()?;
                ReconfigParam::OutgoingReset {
                    request_seq,
                    last_tsn,
                    streams: r.rest(),
                }
            }
            param::INCOMING_RESET_REQUEST => {
                let request_seq = r.u32()?;
                ReconfigParam::IncomingReset {
                    request_seq,
                    streams: r.rest(),
                }
            }
            param::RECONFIG_RESPONSE => ReconfigParam::Response {
                response_seq: r.u32()?,
                result: r.u32()?,
            },
            param::ADD_OUTGOING_STREAMS | param::ADD_INCOMING_STREAMS => {
                let request_seq = r.u32()?;
                let count = r.u16()?;
                ReconfigParam::AddStreams {
                    request_seq,
                    count,
                    outgoing: p.head == param::ADD_OUTGOING_STREAMS,
                }
            }
            _ => ReconfigParam::Other {
                request_seq: r.u32().ok(),
            },
        })
    })
}

// ---------------------------------------------------------------- writing

/// Appends zero bytes until `buf.len()` is a multiple of 4.
pub(crate) fn pad(buf: &mut Vec<u8>) {
    while buf.len() % 4 != 0 {
        buf.push(0);
    }
}

/// Writes the common header with a zero checksum (filled in later).
pub(crate) fn write_header(buf: &mut Vec<u8>, h: CommonHeader) {
    buf.extend_from_slice(&h.src_port.to_be_bytes());
    buf.extend_from_slice(&h.dst_port.to_be_bytes());
    buf.extend_from_slice(&h.verification_tag.to_be_bytes());
    buf.extend_from_slice(&[0; 4]);
}

/// Starts a chunk; returns its start offset for [`end_chunk`].
pub(crate) fn begin_chunk(buf: &mut Vec<u8>, ty: u8, flags: u8) -> usize {
    let start = buf.len();
    buf.extend_from_slice(&[ty, flags, 0, 0]);
    start
}

/// Fills in a chunk's (or parameter's) length and pads it.
pub(crate) fn end_chunk(buf: &mut Vec<u8>, start: usize) {
    let len = (buf.len() - start) as u16;
    buf[start + 2..start + 4].copy_from_slice(&len.to_be_bytes());
    pad(buf);
}

/// Starts a parameter; returns its start offset for [`end_chunk`].
pub(crate) fn begin_param(buf: &mut Vec<u8>, ty: u16) -> usize {
    let start = buf.len();
    buf.extend_from_slice(&ty.to_be_bytes());
    buf.extend_from_slice(&[0, 0]);
    start
}

/// Appends a chunk with the given value in one go.
pub(crate) fn write_chunk(buf: &mut Vec<u8>, ty: u8, flags: u8, value: &[u8]) {
    let s = begin_chunk(buf, ty, flags);
    buf.extend_from_slice(value);
    end_chunk(buf, s);
}

/// Appends a DATA chunk.
pub(crate) fn write_data(buf: &mut Vec<u8>, d: &Data<'_>) {
    let s = begin_chunk(buf, ty::DATA, d.flags);
    buf.extend_from_slice(&d.tsn.to_be_bytes());
    buf.extend_from_slice(&d.stream.to_be_bytes());
    buf.extend_from_slice(&d.ssn.to_be_bytes());
    buf.extend_from_slice(&d.ppid.to_be_bytes());
    buf.extend_from_slice(d.payload);
    end_chunk(buf, s);
}

/// Appends an error cause with the given value.
pub(crate) fn write_cause(buf: &mut Vec<u8>, code: u16, value: &[u8]) {
    let s = begin_param(buf, code);
    buf.extend_from_slice(value);
    end_chunk(buf, s);
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn any_data_chunk_round_trips(
            flags in 0u8..16, tsn: u32, stream: u16, ssn: u16, ppid: u32,
            payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 1..2000),
        ) {
            let d = Data { flags, tsn, stream, ssn, ppid, payload: &payload };
            let mut buf = Vec::new();
            write_data(&mut buf, &d);
            proptest::prop_assert_eq!(buf.len() % 4, 0);
            let c = chunks(&buf).next().unwrap().unwrap();
            proptest::prop_assert_eq!(Data::parse(c.flags, c.value).unwrap(), d);
        }

        #[test]
        fn chunk_parsers_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
            for c in chunks(&bytes).flatten() {
                let _ = Data::parse(c.flags, c.value);
                let _ = Sack::parse(c.value).map(|s| s.gaps().count());
                let _ = Init::parse(c.value).and_then(|i| InitParams::parse(i.params));
                let _ = ForwardTsn::parse(c.value).map(|f| f.streams().count());
                let _ = reconfig_params(c.value).count();
            }
        }
    }

    #[test]
    fn data_chunk_round_trips() {
        let d = Data {
            flags: flag::BEGIN,
            tsn: 7,
            stream: 3,
            ssn: 9,
            ppid: 51,
            payload: b"hello",
        };
        let mut buf = Vec::new();
        write_data(&mut buf, &d);
        assert_eq!(buf.len(), 24, "16 header + 5 payload + 3 padding");
        let c = chunks(&buf).next().unwrap().unwrap();
        assert_eq!(c.ty, ty::DATA);
        assert_eq!(Data::parse(c.flags, c.value).unwrap(), d);
    }

    #[test]
    fn chunk_with_length_past_the_end_is_an_error() {
        let buf = [0u8, 0, 0, 200, 1, 2, 3, 4];
        let mut it = chunks(&buf);
        assert!(matches!(it.next(), Some(Err(Error::BadLength { .. }))));
        assert!(it.next().is_none(), "iteration stops after an error");
    }

    #[test]
    fn chunk_with_length_below_header_is_an_error() {
        let buf = [0u8, 0, 0, 2];
        assert!(matches!(
            chunks(&buf).next(),
            Some(Err(Error::BadLength { .. }))
        ));
    }

    #[test]
    fn sack_with_inconsistent_counts_is_rejected() {
        let mut v = Vec::new();
        v.extend_from_slice(&1u32.to_be_bytes());
        v.extend_from_slice(&1000u32.to_be_bytes());
        v.extend_from_slice(&5u16.to_be_bytes());
        v.extend_from_slice(&0u16.to_be_bytes());
        assert!(Sack::parse(&v).is_err());
    }

    #[test]
    fn init_params_after_address_types_are_still_read() {
        // Supported Address Types (12) first, as some stacks send it, then
        // Supported Extensions and Forward-TSN-Supported.
        let mut p = Vec::new();
        let s = begin_param(&mut p, 12);
        p.extend_from_slice(&[0, 5, 0, 6]);
        end_chunk(&mut p, s);
        let s = begin_param(&mut p, param::SUPPORTED_EXTENSIONS);
        p.extend_from_slice(&[ty::RE_CONFIG, ty::FORWARD_TSN]);
        end_chunk(&mut p, s);
        let caps = InitParams::parse(&p).unwrap().caps;
        assert!(caps.forward_tsn && caps.reconfig);
    }

    #[test]
    fn unknown_init_param_with_high_bits_00_stops_processing() {
        let mut p = Vec::new();
        let s = begin_param(&mut p, 0x0077);
        end_chunk(&mut p, s);
        let s = begin_param(&mut p, param::FORWARD_TSN_SUPPORTED);
        end_chunk(&mut p, s);
        assert!(!InitParams::parse(&p).unwrap().caps.forward_tsn);
    }

    #[test]
    fn i_data_chunk_round_trips() {
        let d = IData {
            flags: flag::END,
            tsn: 9,
            stream: 4,
            mid: 77,
            ppid_or_fsn: 3,
            payload: b"xyz",
        };
        let mut buf = Vec::new();
        write_idata(&mut buf, &d);
        assert_eq!(buf.len(), 24);
        let c = chunks(&buf).next().unwrap().unwrap();
        assert_eq!(c.ty, ty::I_DATA);
        assert_eq!(IData::parse(c.flags, c.value).unwrap(), d);
    }

    #[test]
    fn i_forward_tsn_lists_stream_direction_and_mid() {
        let v = [0, 0, 0, 10, 0, 1, 0, 1, 0, 0, 0, 5];
        let f = IForwardTsn::parse(&v).unwrap();
        assert_eq!(f.entries().collect::<Vec<_>>(), vec![(1, true, 5)]);
        assert!(IForwardTsn::parse(&v[..10]).is_err());
    }

    #[test]
    fn forward_tsn_lists_skipped_streams() {
        let v = [0, 0, 0, 10, 0, 1, 0, 2, 0, 3, 0, 4];
        let f = ForwardTsn::parse(&v).unwrap();
        assert_eq!(f.new_cum_tsn, 10);
        assert_eq!(f.streams().collect::<Vec<_>>(), vec![(1, 2), (3, 4)]);
    }
}
