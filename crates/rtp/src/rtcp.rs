//! RTCP packets (RFC 3550 §6) and feedback messages (RFC 4585, RFC 5104,
//! REMB, transport-wide congestion control), parsed from compound or
//! reduced-size (RFC 5506) datagrams and written back. Unknown packet types
//! are kept raw and skipped over.

use thiserror::Error;

/// Sender report (RFC 3550 §6.4.1).
pub const PT_SR: u8 = 200;
/// Receiver report (RFC 3550 §6.4.2).
pub const PT_RR: u8 = 201;
/// Source description (RFC 3550 §6.5).
pub const PT_SDES: u8 = 202;
/// Goodbye (RFC 3550 §6.6).
pub const PT_BYE: u8 = 203;
/// Application-defined (RFC 3550 §6.7).
pub const PT_APP: u8 = 204;
/// Transport-layer feedback (RFC 4585 §6.2).
pub const PT_RTPFB: u8 = 205;
/// Payload-specific feedback (RFC 4585 §6.3).
pub const PT_PSFB: u8 = 206;

/// Why bytes are not RTCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RtcpError {
    /// Fewer bytes than the part being read needs.
    #[error("RTCP too short: {what} (packet type {packet_type})")]
    TooShort {
        /// The part being read.
        what: &'static str,
        /// The packet type being parsed (0 before the header is read).
        packet_type: u8,
    },
    /// The version is not 2.
    #[error("RTCP version {0}, expected 2")]
    BadVersion(u8),
    /// The length field runs past the datagram.
    #[error("RTCP length {words} words runs past {available} bytes")]
    BadLength {
        /// The length field plus one.
        words: usize,
        /// Bytes left in the datagram.
        available: usize,
    },
    /// The padding count is zero or longer than the packet body.
    #[error("RTCP padding count {0} invalid")]
    BadPadding(u8),
    /// A transport-cc status symbol of the reserved value 3.
    #[error("transport-cc feedback with a reserved status symbol")]
    BadStatusSymbol,
    /// More items than the 5-bit count can say when writing (31).
    #[error("more than 31 {0} in one RTCP packet")]
    TooMany(&'static str),
    /// A value that does not fit its field when writing.
    #[error("{0} does not fit its field")]
    OutOfRange(&'static str),
    /// Transport-cc feedback naming more packets, all of a datagram's
    /// feedback together, than [`MAX_FEEDBACK_STATUSES`].
    #[error(
        "transport-cc feedback naming more than {MAX_FEEDBACK_STATUSES} packets in one datagram"
    )]
    TooManyStatuses,
    /// A packet that needs padding (a body not a multiple of 32 bits:
    /// transport-cc feedback, or a packet kept raw that came padded) is not
    /// the last of a compound packet: RFC 3550 §6.4.1 pads only the last.
    #[error("a padded RTCP packet (type {0}) that is not the last of a compound packet")]
    PaddedNotLast(u8),
}

/// The most packets the transport-cc feedback of one datagram may name,
/// all its feedback packets together: one feedback's 16-bit count. A
/// run-length chunk names up to 8,191 packets in two bytes (draft-holmer-
/// rmcat-transport-wide-cc-extensions-01 §3.1.3), so without a bound a
/// 1,200-byte datagram could name two million, each to be expanded and
/// matched; a receiver reports what arrived since its last feedback, far
/// fewer.
pub const MAX_FEEDBACK_STATUSES: usize = 65_535;

struct Reader<'a> {
    data: &'a [u8],
    pt: u8,
}

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], RtcpError> {
        if self.data.len() < n {
            return Err(RtcpError::TooShort {
                what,
                packet_type: self.pt,
            });
        }
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        Ok(head)
    }
    fn u8(&mut self, what: &'static str) -> Result<u8, RtcpError> {
        Ok(self.bytes(1, what)?[0])
    }
    fn u16(&mut self, what: &'static str) -> Result<u16, RtcpError> {
        let b = self.bytes(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u24(&mut self, what: &'static str) -> Result<u32, RtcpError> {
        let b = self.bytes(3, what)?;
        Ok(u32::from_be_bytes([0, b[0], b[1], b[2]]))
    }
    fn u32(&mut self, what: &'static str) -> Result<u32, RtcpError> {
        let b = self.bytes(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// A reception report block (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    /// The source this block reports on.
    pub ssrc: u32,
    /// Fraction lost since the last report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative number of packets lost: 24-bit signed (duplicates can make
    /// it negative).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub extended_highest_sequence: u32,
    /// Interarrival jitter in timestamp units.
    pub jitter: u32,
    /// Last SR timestamp (middle 32 bits of its NTP time), 0 if none.
    pub last_sr: u32,
    /// Delay since the last SR in 1/65536 s.
    pub delay_since_last_sr: u32,
}

impl ReportBlock {
    fn read(r: &mut Reader<'_>) -> Result<Self, RtcpError> {
        let ssrc = r.u32("report block")?;
        let fraction_lost = r.u8("report block")?;
        let lost = r.u24("report block")?;
        Ok(Self {
            ssrc,
            fraction_lost,
            // Sign-extend the 24-bit field.
            cumulative_lost: ((lost << 8) as i32) >> 8,
            extended_highest_sequence: r.u32("report block")?,
            jitter: r.u32("report block")?,
            last_sr: r.u32("report block")?,
            delay_since_last_sr: r.u32("report block")?,
        })
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        out.push(self.fraction_lost);
        let lost = self.cumulative_lost.clamp(-0x80_0000, 0x7f_ffff) as u32;
        out.extend_from_slice(&lost.to_be_bytes()[1..]);
        out.extend_from_slice(&self.extended_highest_sequence.to_be_bytes());
        out.extend_from_slice(&self.jitter.to_be_bytes());
        out.extend_from_slice(&self.last_sr.to_be_bytes());
        out.extend_from_slice(&self.delay_since_last_sr.to_be_bytes());
    }
}

/// A sender report (RFC 3550 §6.4.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SenderReport {
    /// The sender's SSRC.
    pub ssrc: u32,
    /// The NTP timestamp of this report (RFC 3550 §4).
    pub ntp_time: u64,
    /// The RTP timestamp of the same instant.
    pub rtp_time: u32,
    /// Packets sent.
    pub packet_count: u32,
    /// Payload octets sent.
    pub octet_count: u32,
    /// Reception reports (at most 31).
    pub reports: Vec<ReportBlock>,
}

/// A receiver report (RFC 3550 §6.4.2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReceiverReport {
    /// The reporter's SSRC.
    pub ssrc: u32,
    /// Reception reports (at most 31).
    pub reports: Vec<ReportBlock>,
}

/// The CNAME item type (RFC 3550 §6.5.1).
pub const SDES_CNAME: u8 = 1;

/// One SDES item (RFC 3550 §6.5): type and up to 255 bytes of text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdesItem {
    /// The item type (1 = CNAME, ..., 8 = PRIV); never 0 (the end marker).
    pub kind: u8,
    /// The item text, at most 255 bytes.
    pub text: Vec<u8>,
}

/// One SDES chunk: a source and its items (RFC 3550 §6.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdesChunk {
    /// The source.
    pub ssrc: u32,
    /// Its items.
    pub items: Vec<SdesItem>,
}

impl SdesChunk {
    /// The CNAME of this chunk, if it has one.
    pub fn cname(&self) -> Option<&[u8]> {
        self.items
            .iter()
            .find(|i| i.kind == SDES_CNAME)
            .map(|i| &i.text[..])
    }
}

/// A source description packet (RFC 3550 §6.5).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sdes {
    /// Chunks (at most 31).
    pub chunks: Vec<SdesChunk>,
}

/// A goodbye packet (RFC 3550 §6.6).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bye {
    /// The sources leaving (at most 31).
    pub sources: Vec<u32>,
    /// The reason for leaving, at most 255 bytes.
    pub reason: Option<Vec<u8>>,
}

/// An application-defined packet (RFC 3550 §6.7).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct App {
    /// The 5-bit subtype.
    pub subtype: u8,
    /// The source.
    pub ssrc: u32,
    /// The 4-character name.
    pub name: [u8; 4],
    /// Application data; written padded with zeros to 32 bits.
    pub data: Vec<u8>,
}

/// One generic NACK FCI entry (RFC 4585 §6.2.1): a lost packet id and a
/// bitmask of the 16 following ones also lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NackPair {
    /// PID: the lost sequence number.
    pub packet_id: u16,
    /// BLP: bit i set means `packet_id + i + 1` is lost too.
    pub lost_bitmask: u16,
}

/// A generic NACK (RFC 4585 §6.2.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Nack {
    /// The sender of this feedback.
    pub sender_ssrc: u32,
    /// The media source the losses are in.
    pub media_ssrc: u32,
    /// The FCI entries.
    pub pairs: Vec<NackPair>,
}

impl Nack {
    /// A NACK asking for `lost`, packed into as few pairs as the order
    /// allows (each pair covers 17 consecutive sequence numbers).
    pub fn from_sequences(sender_ssrc: u32, media_ssrc: u32, lost: &[u16]) -> Self {
        let mut pairs: Vec<NackPair> = Vec::new();
        for &seq in lost {
            if let Some(last) = pairs.last_mut() {
                let d = seq.wrapping_sub(last.packet_id);
                if (1..=16).contains(&d) {
                    last.lost_bitmask |= 1 << (d - 1);
                    continue;
                }
                if d == 0 {
                    continue;
                }
            }
            pairs.push(NackPair {
                packet_id: seq,
                lost_bitmask: 0,
            });
        }
        Self {
            sender_ssrc,
            media_ssrc,
            pairs,
        }
    }

    /// Every sequence number asked for, in order.
    pub fn sequences(&self) -> impl Iterator<Item = u16> + '_ {
        self.pairs.iter().flat_map(|p| {
            std::iter::once(p.packet_id).chain(
                (0..16)
                    .filter(move |i| p.lost_bitmask & 1 << i != 0)
                    .map(move |i| p.packet_id.wrapping_add(i + 1)),
            )
        })
    }
}

/// A picture loss indication (RFC 4585 §6.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pli {
    /// The sender of this feedback.
    pub sender_ssrc: u32,
    /// The media source whose picture is lost.
    pub media_ssrc: u32,
}

/// One full intra request entry (RFC 5104 §4.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirEntry {
    /// The source asked for a decoder refresh point.
    pub ssrc: u32,
    /// The command sequence number, increased per new request.
    pub sequence: u8,
}

/// A full intra request (RFC 5104 §4.3.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fir {
    /// The sender of this feedback.
    pub sender_ssrc: u32,
    /// The requests.
    pub entries: Vec<FirEntry>,
}

/// Receiver estimated maximum bitrate (draft-alvestrand-rmcat-remb-03 §2.2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Remb {
    /// The sender of this feedback.
    pub sender_ssrc: u32,
    /// The estimate in bits per second; written as an 18-bit mantissa and a
    /// 6-bit exponent, rounding down.
    pub bitrate: u64,
    /// The sources the estimate applies to (at most 255).
    pub ssrcs: Vec<u32>,
}

/// The fate of one packet in transport-cc feedback
/// (draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1.1). Deltas are
/// in 250 µs ticks from the previous received packet (or the reference time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketStatus {
    /// Not received.
    NotReceived,
    /// Received with a small delta (0..=63.75 ms), one byte.
    SmallDelta(u8),
    /// Received with a large or negative delta, two bytes signed.
    LargeDelta(i16),
}

impl PacketStatus {
    fn symbol(self) -> u16 {
        match self {
            Self::NotReceived => 0,
            Self::SmallDelta(_) => 1,
            Self::LargeDelta(_) => 2,
        }
    }
}

/// Transport-wide congestion control feedback
/// (draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TransportFeedback {
    /// The sender of this feedback.
    pub sender_ssrc: u32,
    /// The media source (often 0 or the first media SSRC).
    pub media_ssrc: u32,
    /// The transport sequence number of the first packet reported.
    pub base_sequence: u16,
    /// The reference time in 64 ms units, 24 bits.
    pub reference_time: u32,
    /// The feedback packet counter, wrapping.
    pub feedback_count: u8,
    /// One status per sequence number from `base_sequence` (at most 65535).
    pub packets: Vec<PacketStatus>,
}

impl TransportFeedback {
    /// Feedback for the packets from `base_sequence` on, given the arrival
    /// time of each in microseconds from any fixed origin (`None`: not
    /// received). The reference time is the first arrival rounded down to
    /// 64 ms; each delta is rounded to 250 µs from the previous reported
    /// time, so errors never add up. A delta beyond ±8.19 s is clamped (the
    /// caller should start a new feedback packet there).
    pub fn from_arrivals(
        sender_ssrc: u32,
        media_ssrc: u32,
        base_sequence: u16,
        feedback_count: u8,
        arrivals: &[Option<i64>],
    ) -> Self {
        let first = arrivals.iter().flatten().next().copied().unwrap_or(0);
        let reference = first.div_euclid(64_000);
        let mut at = reference * 64_000;
        let packets = arrivals
            .iter()
            .map(|a| match *a {
                None => PacketStatus::NotReceived,
                Some(t) => {
                    let ticks = (t - at + 125)
                        .div_euclid(250)
                        .clamp(i64::from(i16::MIN), i64::from(i16::MAX));
                    at += ticks * 250;
                    match u8::try_from(ticks) {
                        Ok(small) => PacketStatus::SmallDelta(small),
                        Err(_) => PacketStatus::LargeDelta(ticks as i16),
                    }
                }
            })
            .collect();
        Self {
            sender_ssrc,
            media_ssrc,
            base_sequence,
            reference_time: (reference as u32) & 0x00ff_ffff,
            feedback_count,
            packets,
        }
    }

    /// The arrival times this feedback reports, in microseconds from the
    /// sender of the feedback's origin (the 24-bit reference time taken as
    /// unsigned), one per packet from `base_sequence`.
    pub fn arrivals(&self) -> Vec<Option<i64>> {
        self.arrivals_iter().collect()
    }

    /// As [`Self::arrivals`], without collecting them (§3.1.5: each delta,
    /// in 250 µs, from the previous received packet, the first from the
    /// reference time).
    pub fn arrivals_iter(&self) -> impl Iterator<Item = Option<i64>> + '_ {
        let mut at = i64::from(self.reference_time) * 64_000;
        self.packets.iter().map(move |p| match *p {
            PacketStatus::NotReceived => None,
            PacketStatus::SmallDelta(d) => {
                at += i64::from(d) * 250;
                Some(at)
            }
            PacketStatus::LargeDelta(d) => {
                at += i64::from(d) * 250;
                Some(at)
            }
        })
    }
}

/// Explicit Congestion Notification bits of a packet (RFC 3168 §5), as
/// RFC 8888 §3.1 echoes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Ecn {
    /// Not ECN-capable (00).
    #[default]
    NotEct,
    /// ECT(1) (01).
    Ect1,
    /// ECT(0) (10).
    Ect0,
    /// Congestion experienced (11).
    Ce,
}

impl Ecn {
    fn from_bits(b: u16) -> Self {
        match b & 3 {
            0 => Self::NotEct,
            1 => Self::Ect1,
            2 => Self::Ect0,
            _ => Self::Ce,
        }
    }

    fn bits(self) -> u16 {
        match self {
            Self::NotEct => 0,
            Self::Ect1 => 1,
            Self::Ect0 => 2,
            Self::Ce => 3,
        }
    }
}

/// The largest arrival time offset, meaning "over range" (RFC 8888 §3.1).
pub const CCFB_ATO_OVER_RANGE: u16 = 0x1fff;

/// One packet's metric block in RFC 8888 feedback (§3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CcfbMetric {
    /// R=0: not received (the other bits are ignored on receipt, written 0).
    NotReceived,
    /// R=1: received.
    Received {
        /// The packet's ECN marking.
        ecn: Ecn,
        /// How long before the report timestamp it arrived, in 1/1024 s
        /// (13 bits; [`CCFB_ATO_OVER_RANGE`] for longer, 0x1ffe for at least
        /// that long).
        arrival_offset: u16,
    },
}

/// The metrics of one RTP stream in RFC 8888 feedback: one per sequence
/// number from `begin_seq`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CcfbStream {
    /// The media source reported on.
    pub ssrc: u32,
    /// The RTP sequence number of the first metric.
    pub begin_seq: u16,
    /// One metric per sequence number.
    pub metrics: Vec<CcfbMetric>,
}

/// RTP Control Protocol feedback for congestion control (RFC 8888 §3.1,
/// RTPFB FMT=11): per stream, whether each packet arrived, when and with
/// what ECN marking, against one report timestamp.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CongestionControlFeedback {
    /// The sender of this feedback.
    pub sender_ssrc: u32,
    /// The streams reported.
    pub streams: Vec<CcfbStream>,
    /// When the report was made: the middle 32 bits of an NTP timestamp.
    pub report_timestamp: u32,
}

impl CongestionControlFeedback {
    /// The arrival time of each packet of `stream`, in 1/1024 s before the
    /// report timestamp (`None`: not received or over range).
    pub fn offsets(stream: &CcfbStream) -> impl Iterator<Item = (u16, Option<u16>)> + '_ {
        stream.metrics.iter().enumerate().map(move |(i, m)| {
            let seq = stream.begin_seq.wrapping_add(i as u16);
            match *m {
                CcfbMetric::Received { arrival_offset, .. }
                    if arrival_offset < CCFB_ATO_OVER_RANGE =>
                {
                    (seq, Some(arrival_offset))
                }
                _ => (seq, None),
            }
        })
    }
}

/// An RTCP packet of a type this crate does not model, kept raw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unknown {
    /// The packet type.
    pub packet_type: u8,
    /// The 5-bit count or format field.
    pub count: u8,
    /// The body after the 4-byte header, padding removed. Written back
    /// as is, followed by RFC 3550 §6.4.1 padding (P bit set) when it is
    /// not a multiple of 4 bytes.
    pub body: Vec<u8>,
}

/// One RTCP packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtcpPacket {
    /// Sender report (RFC 3550 §6.4.1).
    SenderReport(SenderReport),
    /// Receiver report (RFC 3550 §6.4.2).
    ReceiverReport(ReceiverReport),
    /// Source description (RFC 3550 §6.5).
    Sdes(Sdes),
    /// Goodbye (RFC 3550 §6.6).
    Bye(Bye),
    /// Application-defined (RFC 3550 §6.7).
    App(App),
    /// Generic NACK (RFC 4585 §6.2.1).
    Nack(Nack),
    /// Transport-wide congestion control feedback.
    TransportFeedback(TransportFeedback),
    /// RFC 8888 congestion control feedback.
    CongestionControlFeedback(CongestionControlFeedback),
    /// Picture loss indication (RFC 4585 §6.3.1).
    Pli(Pli),
    /// Full intra request (RFC 5104 §4.3.1).
    Fir(Fir),
    /// Receiver estimated maximum bitrate.
    Remb(Remb),
    /// Any other packet, kept raw.
    Unknown(Unknown),
}

/// Parses every packet of an RTCP datagram, compound (RFC 3550 §6.1) or
/// reduced-size (RFC 5506 §3.4: any first packet, maybe a single one).
/// Any malformed packet refuses the whole datagram ([`parse_leading`]
/// keeps the packets before it). Never panics.
pub fn parse(data: &[u8]) -> Result<Vec<RtcpPacket>, RtcpError> {
    match parse_leading(data)? {
        (packets, None) => Ok(packets),
        (_, Some(e)) => Err(e),
    }
}

/// Parses the packets of an RTCP datagram up to the first malformed one:
/// the well-formed packets before it, and why the rest was not read
/// (`None`: the whole datagram parsed). A malformed first packet refuses
/// the datagram: RFC 3550 A.2 validates a compound packet by its first
/// packet, and nothing after it can be found without it. A later one
/// ends the datagram there: the packets before it were whole (RFC 3550
/// §6.1: each is delimited by its own length) and are worth acting on,
/// as libwebrtc does; what follows a packet that does not parse cannot be
/// trusted to be delimited. Never panics.
pub fn parse_leading(mut data: &[u8]) -> Result<(Vec<RtcpPacket>, Option<RtcpError>), RtcpError> {
    let mut out = Vec::new();
    let mut statuses = MAX_FEEDBACK_STATUSES;
    while !data.is_empty() {
        match RtcpPacket::parse_within(data, &mut statuses) {
            Ok((packet, len)) => {
                out.push(packet);
                data = &data[len..];
            }
            Err(e) if out.is_empty() => return Err(e),
            Err(e) => return Ok((out, Some(e))),
        }
    }
    Ok((out, None))
}

/// Whether `packets` form a full compound packet (RFC 3550 §6.1): the first
/// an SR or RR, an SDES among them. Reduced-size RTCP (RFC 5506) need not be.
pub fn is_full_compound(packets: &[RtcpPacket]) -> bool {
    matches!(
        packets.first(),
        Some(RtcpPacket::SenderReport(_) | RtcpPacket::ReceiverReport(_))
    ) && packets.iter().any(|p| matches!(p, RtcpPacket::Sdes(_)))
}

/// Writes `packets` back to back as one compound datagram. Only the last
/// may need padding (RFC 3550 §6.4.1: the P bit is set on the last packet
/// only); one before it that does is [`RtcpError::PaddedNotLast`].
pub fn write_compound(packets: &[RtcpPacket], out: &mut Vec<u8>) -> Result<(), RtcpError> {
    for (i, p) in packets.iter().enumerate() {
        let start = out.len();
        p.write(out)?;
        let padded = out.get(start).is_some_and(|b| b & 0x20 != 0);
        if padded && i + 1 < packets.len() {
            let packet_type = out.get(start + 1).copied().unwrap_or_default();
            out.truncate(start);
            return Err(RtcpError::PaddedNotLast(packet_type));
        }
    }
    Ok(())
}

fn read_reports(r: &mut Reader<'_>, count: u8) -> Result<Vec<ReportBlock>, RtcpError> {
    (0..count).map(|_| ReportBlock::read(r)).collect()
}

fn check_count(n: usize, max: usize, what: &'static str) -> Result<u8, RtcpError> {
    if n > max {
        Err(RtcpError::TooMany(what))
    } else {
        Ok(n as u8)
    }
}

impl RtcpPacket {
    /// Parses the first packet of `data`, returning it and its length.
    pub fn parse(data: &[u8]) -> Result<(Self, usize), RtcpError> {
        let mut budget = MAX_FEEDBACK_STATUSES;
        Self::parse_within(data, &mut budget)
    }

    /// [`Self::parse`], with transport-cc feedback naming at most
    /// `statuses` packets (the datagram's budget left, reduced by what it
    /// names).
    fn parse_within(data: &[u8], statuses: &mut usize) -> Result<(Self, usize), RtcpError> {
        if data.len() < 4 {
            return Err(RtcpError::TooShort {
                what: "header",
                packet_type: 0,
            });
        }
        if data[0] >> 6 != 2 {
            return Err(RtcpError::BadVersion(data[0] >> 6));
        }
        let padded = data[0] & 0x20 != 0;
        let count = data[0] & 0x1f;
        let pt = data[1];
        let words = usize::from(u16::from_be_bytes([data[2], data[3]])) + 1;
        let len = words * 4;
        if len > data.len() {
            return Err(RtcpError::BadLength {
                words,
                available: data.len(),
            });
        }
        let mut body = &data[4..len];
        if padded {
            let n = body.last().copied().unwrap_or(0);
            if n == 0 || usize::from(n) > body.len() {
                return Err(RtcpError::BadPadding(n));
            }
            body = &body[..body.len() - usize::from(n)];
        }
        let r = &mut Reader { data: body, pt };
        let packet = match (pt, count) {
            (PT_SR, _) => Self::SenderReport(SenderReport {
                ssrc: r.u32("sender info")?,
                ntp_time: u64::from(r.u32("sender info")?) << 32 | u64::from(r.u32("sender info")?),
                rtp_time: r.u32("sender info")?,
                packet_count: r.u32("sender info")?,
                octet_count: r.u32("sender info")?,
                // Profile-specific extensions after the blocks are ignored.
                reports: read_reports(r, count)?,
            }),
            (PT_RR, _) => Self::ReceiverReport(ReceiverReport {
                ssrc: r.u32("ssrc")?,
                reports: read_reports(r, count)?,
            }),
            (PT_SDES, _) => Self::Sdes(parse_sdes(r, count)?),
            (PT_BYE, _) => {
                let sources = (0..count)
                    .map(|_| r.u32("bye source"))
                    .collect::<Result<_, _>>()?;
                let reason = if r.data.is_empty() {
                    None
                } else {
                    let n = r.u8("bye reason")?;
                    Some(r.bytes(usize::from(n), "bye reason")?.to_vec())
                };
                Self::Bye(Bye { sources, reason })
            }
            (PT_APP, _) => Self::App(App {
                subtype: count,
                ssrc: r.u32("app")?,
                name: r.bytes(4, "app name")?.try_into().unwrap_or_default(),
                data: r.data.to_vec(),
            }),
            (PT_RTPFB, 1) => {
                let sender_ssrc = r.u32("feedback header")?;
                let media_ssrc = r.u32("feedback header")?;
                let mut pairs = Vec::with_capacity(r.data.len() / 4);
                while r.data.len() >= 4 {
                    pairs.push(NackPair {
                        packet_id: r.u16("nack")?,
                        lost_bitmask: r.u16("nack")?,
                    });
                }
                Self::Nack(Nack {
                    sender_ssrc,
                    media_ssrc,
                    pairs,
                })
            }
            (PT_RTPFB, 15) => Self::TransportFeedback(parse_twcc(r, statuses)?),
            (PT_RTPFB, 11) => Self::CongestionControlFeedback(parse_ccfb(r)?),
            (PT_PSFB, 1) => Self::Pli(Pli {
                sender_ssrc: r.u32("feedback header")?,
                media_ssrc: r.u32("feedback header")?,
            }),
            (PT_PSFB, 4) => {
                let sender_ssrc = r.u32("feedback header")?;
                r.u32("feedback header")?;
                let mut entries = Vec::with_capacity(r.data.len() / 8);
                while r.data.len() >= 8 {
                    let ssrc = r.u32("fir")?;
                    let sequence = r.u8("fir")?;
                    r.bytes(3, "fir")?;
                    entries.push(FirEntry { ssrc, sequence });
                }
                Self::Fir(Fir {
                    sender_ssrc,
                    entries,
                })
            }
            (PT_PSFB, 15) if body.get(8..12) == Some(b"REMB") => {
                let sender_ssrc = r.u32("feedback header")?;
                r.bytes(8, "remb")?;
                let n = r.u8("remb")?;
                let v = r.u24("remb")?;
                // draft-alvestrand-rmcat-remb-03 §2.2: mantissa << exp,
                // saturated where it would not fit 64 bits (an exponent up
                // to 63 can say more than 2^64 bit/s).
                let (mantissa, exp) = (u64::from(v & 0x3ffff), v >> 18);
                let bitrate = if mantissa.leading_zeros() >= exp {
                    mantissa << exp
                } else {
                    u64::MAX
                };
                let ssrcs = (0..n)
                    .map(|_| r.u32("remb ssrc"))
                    .collect::<Result<_, _>>()?;
                Self::Remb(Remb {
                    sender_ssrc,
                    bitrate,
                    ssrcs,
                })
            }
            _ => Self::Unknown(Unknown {
                packet_type: pt,
                count,
                body: body.to_vec(),
            }),
        };
        Ok((packet, len))
    }

    /// The packet as bytes, appended to `out`.
    pub fn write(&self, out: &mut Vec<u8>) -> Result<(), RtcpError> {
        let start = out.len();
        out.extend_from_slice(&[0x80, 0, 0, 0]);
        let mut padded = false;
        let (count, pt) = match self {
            Self::SenderReport(sr) => {
                out.extend_from_slice(&sr.ssrc.to_be_bytes());
                out.extend_from_slice(&sr.ntp_time.to_be_bytes());
                out.extend_from_slice(&sr.rtp_time.to_be_bytes());
                out.extend_from_slice(&sr.packet_count.to_be_bytes());
                out.extend_from_slice(&sr.octet_count.to_be_bytes());
                sr.reports.iter().for_each(|b| b.write(out));
                (check_count(sr.reports.len(), 31, "report blocks")?, PT_SR)
            }
            Self::ReceiverReport(rr) => {
                out.extend_from_slice(&rr.ssrc.to_be_bytes());
                rr.reports.iter().for_each(|b| b.write(out));
                (check_count(rr.reports.len(), 31, "report blocks")?, PT_RR)
            }
            Self::Sdes(s) => {
                for c in &s.chunks {
                    out.extend_from_slice(&c.ssrc.to_be_bytes());
                    for i in &c.items {
                        if i.kind == 0 || i.text.len() > 255 {
                            return Err(RtcpError::OutOfRange("SDES item"));
                        }
                        out.push(i.kind);
                        out.push(i.text.len() as u8);
                        out.extend_from_slice(&i.text);
                    }
                    // RFC 3550 §6.5: a null item ends the chunk, then zeros to
                    // the next 32-bit boundary (at least one null octet).
                    out.push(0);
                    while (out.len() - start) % 4 != 0 {
                        out.push(0);
                    }
                }
                (check_count(s.chunks.len(), 31, "SDES chunks")?, PT_SDES)
            }
            Self::Bye(b) => {
                b.sources
                    .iter()
                    .for_each(|s| out.extend_from_slice(&s.to_be_bytes()));
                if let Some(reason) = &b.reason {
                    let n = u8::try_from(reason.len())
                        .map_err(|_| RtcpError::OutOfRange("BYE reason"))?;
                    out.push(n);
                    out.extend_from_slice(reason);
                    while (out.len() - start) % 4 != 0 {
                        out.push(0);
                    }
                }
                (check_count(b.sources.len(), 31, "BYE sources")?, PT_BYE)
            }
            Self::App(a) => {
                out.extend_from_slice(&a.ssrc.to_be_bytes());
                out.extend_from_slice(&a.name);
                out.extend_from_slice(&a.data);
                while (out.len() - start) % 4 != 0 {
                    out.push(0);
                }
                (
                    check_count(usize::from(a.subtype), 31, "APP subtype")?,
                    PT_APP,
                )
            }
            Self::Nack(n) => {
                out.extend_from_slice(&n.sender_ssrc.to_be_bytes());
                out.extend_from_slice(&n.media_ssrc.to_be_bytes());
                for p in &n.pairs {
                    out.extend_from_slice(&p.packet_id.to_be_bytes());
                    out.extend_from_slice(&p.lost_bitmask.to_be_bytes());
                }
                (1, PT_RTPFB)
            }
            Self::TransportFeedback(t) => {
                write_twcc(t, out)?;
                // Padded with the P bit, as libwebrtc writes transport-cc
                // feedback.
                padded = pad_to_word(out, start);
                (15, PT_RTPFB)
            }
            Self::CongestionControlFeedback(c) => {
                write_ccfb(c, out)?;
                (11, PT_RTPFB)
            }
            Self::Pli(p) => {
                out.extend_from_slice(&p.sender_ssrc.to_be_bytes());
                out.extend_from_slice(&p.media_ssrc.to_be_bytes());
                (1, PT_PSFB)
            }
            Self::Fir(f) => {
                out.extend_from_slice(&f.sender_ssrc.to_be_bytes());
                out.extend_from_slice(&[0; 4]);
                for e in &f.entries {
                    out.extend_from_slice(&e.ssrc.to_be_bytes());
                    out.extend_from_slice(&[e.sequence, 0, 0, 0]);
                }
                (4, PT_PSFB)
            }
            Self::Remb(r) => {
                out.extend_from_slice(&r.sender_ssrc.to_be_bytes());
                out.extend_from_slice(&[0; 4]);
                out.extend_from_slice(b"REMB");
                out.push(check_count(r.ssrcs.len(), 255, "REMB sources")?);
                let mut exp = 0u32;
                while r.bitrate >> exp > 0x3ffff {
                    exp += 1;
                }
                let v = exp << 18 | (r.bitrate >> exp) as u32;
                out.extend_from_slice(&v.to_be_bytes()[1..]);
                r.ssrcs
                    .iter()
                    .for_each(|s| out.extend_from_slice(&s.to_be_bytes()));
                (15, PT_PSFB)
            }
            Self::Unknown(u) => {
                out.extend_from_slice(&u.body);
                // The body was read with its padding removed: padding again
                // with the P bit gives the same body back, where zeros
                // would become part of it.
                padded = pad_to_word(out, start);
                (
                    check_count(usize::from(u.count), 31, "count")?,
                    u.packet_type,
                )
            }
        };
        let words = (out.len() - start) / 4 - 1;
        let words = u16::try_from(words).map_err(|_| RtcpError::OutOfRange("RTCP length"))?;
        out[start] = 0x80 | u8::from(padded) << 5 | count;
        out[start + 1] = pt;
        out[start + 2..start + 4].copy_from_slice(&words.to_be_bytes());
        Ok(())
    }

    /// The packet as a new vector.
    pub fn to_vec(&self) -> Result<Vec<u8>, RtcpError> {
        let mut v = Vec::new();
        self.write(&mut v)?;
        Ok(v)
    }
}

/// Pads the packet that begins at `start` in `out` to a 32-bit boundary
/// with RFC 3550 §6.4.1 padding: zeros, the last octet the count of padding
/// octets. Returns whether it padded (the P bit to set).
fn pad_to_word(out: &mut Vec<u8>, start: usize) -> bool {
    let pad = (4 - (out.len() - start) % 4) % 4;
    if pad == 0 {
        return false;
    }
    out.extend(std::iter::repeat_n(0, pad - 1));
    out.push(pad as u8);
    true
}

fn parse_sdes(r: &mut Reader<'_>, count: u8) -> Result<Sdes, RtcpError> {
    let mut chunks = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        let start = r.data.len();
        let ssrc = r.u32("sdes chunk")?;
        let mut items = Vec::new();
        loop {
            let kind = r.u8("sdes item")?;
            if kind == 0 {
                break;
            }
            let n = r.u8("sdes item")?;
            items.push(SdesItem {
                kind,
                text: r.bytes(usize::from(n), "sdes item")?.to_vec(),
            });
        }
        // Skip to the next 32-bit boundary of the chunk.
        let used = start - r.data.len();
        let pad = (4 - used % 4) % 4;
        r.bytes(pad.min(r.data.len()), "sdes padding")?;
        chunks.push(SdesChunk { ssrc, items });
    }
    Ok(Sdes { chunks })
}

fn parse_twcc(r: &mut Reader<'_>, statuses: &mut usize) -> Result<TransportFeedback, RtcpError> {
    // draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1.
    let sender_ssrc = r.u32("feedback header")?;
    let media_ssrc = r.u32("feedback header")?;
    let base_sequence = r.u16("transport-cc")?;
    let count = usize::from(r.u16("transport-cc")?);
    // Checked before anything is expanded.
    *statuses = statuses
        .checked_sub(count)
        .ok_or(RtcpError::TooManyStatuses)?;
    let reference_time = r.u24("transport-cc")?;
    let feedback_count = r.u8("transport-cc")?;
    let mut symbols: Vec<u8> = Vec::with_capacity(count);
    while symbols.len() < count {
        let chunk = r.u16("packet chunk")?;
        if chunk & 0x8000 == 0 {
            // §3.1.3 run length chunk: T=0, S (2), run length (13).
            let s = (chunk >> 13) as u8 & 3;
            let run = usize::from(chunk & 0x1fff).min(count - symbols.len());
            symbols.extend(std::iter::repeat_n(s, run));
        } else if chunk & 0x4000 == 0 {
            // §3.1.4 status vector, one-bit symbols (14).
            symbols.extend((0..14).rev().map(|i| (chunk >> i) as u8 & 1));
        } else {
            // §3.1.4 status vector, two-bit symbols (7).
            symbols.extend((0..7).rev().map(|i| (chunk >> (2 * i)) as u8 & 3));
        }
    }
    symbols.truncate(count);
    let mut packets = Vec::with_capacity(count);
    for s in symbols {
        packets.push(match s {
            0 => PacketStatus::NotReceived,
            1 => PacketStatus::SmallDelta(r.u8("receive delta")?),
            2 => PacketStatus::LargeDelta(r.u16("receive delta")? as i16),
            _ => return Err(RtcpError::BadStatusSymbol),
        });
    }
    Ok(TransportFeedback {
        sender_ssrc,
        media_ssrc,
        base_sequence,
        reference_time,
        feedback_count,
        packets,
    })
}

fn parse_ccfb(r: &mut Reader<'_>) -> Result<CongestionControlFeedback, RtcpError> {
    // RFC 8888 §3.1: sender SSRC, report blocks per stream, report timestamp last.
    let sender_ssrc = r.u32("feedback header")?;
    let Some(split) = r.data.len().checked_sub(4) else {
        return Err(RtcpError::TooShort {
            what: "ccfb report timestamp",
            packet_type: r.pt,
        });
    };
    let (blocks, ts) = r.data.split_at(split);
    let report_timestamp = u32::from_be_bytes([ts[0], ts[1], ts[2], ts[3]]);
    let b = &mut Reader {
        data: blocks,
        pt: r.pt,
    };
    let mut streams = Vec::new();
    while !b.data.is_empty() {
        let ssrc = b.u32("ccfb stream")?;
        let begin_seq = b.u16("ccfb stream")?;
        let n = usize::from(b.u16("ccfb stream")?);
        let raw = b.bytes(2 * n, "ccfb metrics")?;
        let metrics = raw
            .chunks_exact(2)
            .map(|m| {
                let v = u16::from_be_bytes([m[0], m[1]]);
                if v & 0x8000 == 0 {
                    CcfbMetric::NotReceived
                } else {
                    CcfbMetric::Received {
                        ecn: Ecn::from_bits(v >> 13),
                        arrival_offset: v & 0x1fff,
                    }
                }
            })
            .collect();
        if n % 2 == 1 {
            b.bytes(2, "ccfb padding")?;
        }
        streams.push(CcfbStream {
            ssrc,
            begin_seq,
            metrics,
        });
    }
    r.data = &[];
    Ok(CongestionControlFeedback {
        sender_ssrc,
        streams,
        report_timestamp,
    })
}

fn write_ccfb(c: &CongestionControlFeedback, out: &mut Vec<u8>) -> Result<(), RtcpError> {
    out.extend_from_slice(&c.sender_ssrc.to_be_bytes());
    for s in &c.streams {
        let n = u16::try_from(s.metrics.len())
            .map_err(|_| RtcpError::OutOfRange("ccfb num_reports"))?;
        out.extend_from_slice(&s.ssrc.to_be_bytes());
        out.extend_from_slice(&s.begin_seq.to_be_bytes());
        out.extend_from_slice(&n.to_be_bytes());
        for m in &s.metrics {
            let v = match *m {
                CcfbMetric::NotReceived => 0,
                CcfbMetric::Received {
                    ecn,
                    arrival_offset,
                } => {
                    if arrival_offset > CCFB_ATO_OVER_RANGE {
                        return Err(RtcpError::OutOfRange("ccfb arrival time offset"));
                    }
                    0x8000 | ecn.bits() << 13 | arrival_offset
                }
            };
            out.extend_from_slice(&v.to_be_bytes());
        }
        // §3.1: two octets of zero padding after an odd number of metrics.
        if n % 2 == 1 {
            out.extend_from_slice(&[0, 0]);
        }
    }
    out.extend_from_slice(&c.report_timestamp.to_be_bytes());
    Ok(())
}

fn write_twcc(t: &TransportFeedback, out: &mut Vec<u8>) -> Result<(), RtcpError> {
    let count = u16::try_from(t.packets.len())
        .map_err(|_| RtcpError::OutOfRange("transport-cc status count"))?;
    if t.reference_time > 0x00ff_ffff {
        return Err(RtcpError::OutOfRange("transport-cc reference time"));
    }
    out.extend_from_slice(&t.sender_ssrc.to_be_bytes());
    out.extend_from_slice(&t.media_ssrc.to_be_bytes());
    out.extend_from_slice(&t.base_sequence.to_be_bytes());
    out.extend_from_slice(&count.to_be_bytes());
    out.extend_from_slice(&t.reference_time.to_be_bytes()[1..]);
    out.push(t.feedback_count);
    let symbols: Vec<u16> = t.packets.iter().map(|p| p.symbol()).collect();
    let mut i = 0;
    while i < symbols.len() {
        let s = symbols[i];
        let run = symbols[i..]
            .iter()
            .take(0x1fff)
            .take_while(|&&x| x == s)
            .count();
        let next14 = &symbols[i..(i + 14).min(symbols.len())];
        let one_bit = next14.iter().all(|&x| x < 2);
        let chunk = if run >= 14 || (run >= 7 && !one_bit) {
            i += run;
            s << 13 | run as u16
        } else if one_bit {
            i += next14.len();
            next14
                .iter()
                .enumerate()
                .fold(0x8000, |c, (k, &x)| c | x << (13 - k))
        } else {
            let next7 = &symbols[i..(i + 7).min(symbols.len())];
            i += next7.len();
            next7
                .iter()
                .enumerate()
                .fold(0xc000, |c, (k, &x)| c | x << (2 * (6 - k)))
        };
        out.extend_from_slice(&chunk.to_be_bytes());
    }
    for p in &t.packets {
        match *p {
            PacketStatus::NotReceived => {}
            PacketStatus::SmallDelta(d) => out.push(d),
            PacketStatus::LargeDelta(d) => out.extend_from_slice(&d.to_be_bytes()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(p: &RtcpPacket) -> RtcpPacket {
        let bytes = p.to_vec().unwrap();
        assert_eq!(bytes.len() % 4, 0);
        let (q, len) = RtcpPacket::parse(&bytes).unwrap();
        assert_eq!(len, bytes.len());
        q
    }

    #[test]
    fn sender_report_with_a_block_reads_every_field() {
        let bytes = [
            0x81, 200, 0, 12, // V=2 RC=1, SR, 13 words
            0, 0, 0, 1, // SSRC
            0xe0, 0, 0, 0, 0x80, 0, 0, 0, // NTP
            0, 0, 0x10, 0, // RTP
            0, 0, 0, 5, 0, 0, 1, 0, // packets, octets
            0, 0, 0, 2, 0x40, 0xff, 0xff, 0xfe, // SSRC 2, 25%, lost -2
            0, 1, 0, 7, 0, 0, 0, 9, 0xaa, 0xbb, 0xcc, 0xdd, 0, 1, 0, 0,
        ];
        let (p, len) = RtcpPacket::parse(&bytes).unwrap();
        assert_eq!(len, 52);
        let RtcpPacket::SenderReport(sr) = &p else {
            panic!("{p:?}")
        };
        assert_eq!(sr.ntp_time, 0xe000_0000_8000_0000);
        assert_eq!(sr.packet_count, 5);
        assert_eq!(sr.reports[0].cumulative_lost, -2);
        assert_eq!(sr.reports[0].fraction_lost, 0x40);
        assert_eq!(sr.reports[0].extended_highest_sequence, 0x10007);
        assert_eq!(sr.reports[0].delay_since_last_sr, 0x10000);
        assert_eq!(p.to_vec().unwrap(), bytes);
    }

    #[test]
    fn sdes_cname_chunk_is_null_terminated_and_word_aligned() {
        let p = RtcpPacket::Sdes(Sdes {
            chunks: vec![SdesChunk {
                ssrc: 7,
                items: vec![SdesItem {
                    kind: SDES_CNAME,
                    text: b"ab".to_vec(),
                }],
            }],
        });
        // ssrc(4) + type, len, "ab" (4) + null and 3 zeros (4) = 12 + header.
        assert_eq!(
            p.to_vec().unwrap(),
            [0x81, 202, 0, 3, 0, 0, 0, 7, 1, 2, b'a', b'b', 0, 0, 0, 0]
        );
        let RtcpPacket::Sdes(s) = round_trip(&p) else {
            panic!()
        };
        assert_eq!(s.chunks[0].cname(), Some(&b"ab"[..]));
    }

    #[test]
    fn nack_packs_sequences_into_pid_and_blp_as_rfc4585_says() {
        let n = Nack::from_sequences(1, 2, &[100, 101, 116, 117, 65535, 0]);
        assert_eq!(
            n.pairs,
            vec![
                NackPair {
                    packet_id: 100,
                    lost_bitmask: 1 | 1 << 15
                },
                NackPair {
                    packet_id: 117,
                    lost_bitmask: 0
                },
                NackPair {
                    packet_id: 65535,
                    lost_bitmask: 1
                },
            ]
        );
        assert_eq!(
            n.sequences().collect::<Vec<_>>(),
            vec![100, 101, 116, 117, 65535, 0]
        );
        assert_eq!(
            round_trip(&RtcpPacket::Nack(n.clone())),
            RtcpPacket::Nack(n)
        );
    }

    #[test]
    fn remb_reads_mantissa_and_exponent() {
        // "REMB", 1 SSRC, exp 3, mantissa 0x3ffff.
        let bytes = [
            0x8f, 206, 0, 5, 0, 0, 0, 1, 0, 0, 0, 0, b'R', b'E', b'M', b'B', 1, 0x0f, 0xff, 0xff,
            0, 0, 0, 9,
        ];
        let (p, _) = RtcpPacket::parse(&bytes).unwrap();
        assert_eq!(
            p,
            RtcpPacket::Remb(Remb {
                sender_ssrc: 1,
                bitrate: 0x3ffff << 3,
                ssrcs: vec![9]
            })
        );
        assert_eq!(p.to_vec().unwrap(), bytes);
    }

    #[test]
    fn rfc8888_feedback_reads_r_ecn_and_arrival_offset_with_padding_after_an_odd_count() {
        let bytes = [
            0x8b, 205, 0, 6, // V=2, FMT=11, RTPFB, 7 words
            0x11, 0x11, 0x11, 0x11, // sender SSRC
            0x22, 0x22, 0x22, 0x22, // stream SSRC
            0, 100, 0, 3, // begin_seq 100, 3 reports
            0xc0, 0x05, // R=1, ECT(0), 5/1024 s
            0x00, 0x00, // not received
            0xff, 0xff, // R=1, CE, over range
            0x00, 0x00, // padding
            0xaa, 0xbb, 0xcc, 0xdd, // report timestamp
        ];
        let (p, len) = RtcpPacket::parse(&bytes).unwrap();
        assert_eq!(len, 28);
        let RtcpPacket::CongestionControlFeedback(c) = &p else {
            panic!("{p:?}");
        };
        assert_eq!(c.report_timestamp, 0xaabb_ccdd);
        let s = &c.streams[0];
        assert_eq!((s.ssrc, s.begin_seq), (0x2222_2222, 100));
        assert_eq!(
            s.metrics,
            [
                CcfbMetric::Received {
                    ecn: Ecn::Ect0,
                    arrival_offset: 5
                },
                CcfbMetric::NotReceived,
                CcfbMetric::Received {
                    ecn: Ecn::Ce,
                    arrival_offset: CCFB_ATO_OVER_RANGE
                },
            ]
        );
        let offsets: Vec<_> = CongestionControlFeedback::offsets(s).collect();
        assert_eq!(offsets, [(100, Some(5)), (101, None), (102, None)]);
        assert_eq!(p.to_vec().unwrap(), bytes);
    }

    #[test]
    fn transport_cc_example_decodes_run_length_and_vector_chunks() {
        // Base 5, 6 packets, ref time 1, count 2; chunks: run of 2 received
        // small (0x2002) then a 2-bit vector: large, not received, small,
        // small; deltas: 4, 8, 0x0100 (large), 1, 2; then padding.
        let body = [
            0, 0, 0, 1, 0, 0, 0, 2, 0, 5, 0, 6, 0, 0, 1, 2, 0x20, 0x02, 0xe1, 0x40, 4, 8, 1, 0, 1,
            2, 0, 2,
        ];
        let mut bytes = vec![0xaf, 205, 0, (body.len() / 4) as u8];
        bytes.extend_from_slice(&body);
        let (p, _) = RtcpPacket::parse(&bytes).unwrap();
        let RtcpPacket::TransportFeedback(t) = &p else {
            panic!("{p:?}")
        };
        assert_eq!(t.base_sequence, 5);
        assert_eq!(t.reference_time, 1);
        assert_eq!(t.feedback_count, 2);
        use PacketStatus::*;
        assert_eq!(
            t.packets,
            vec![
                SmallDelta(4),
                SmallDelta(8),
                LargeDelta(256),
                NotReceived,
                SmallDelta(1),
                SmallDelta(2)
            ]
        );
        assert_eq!(round_trip(&p), p);
    }

    /// Transport-cc feedback naming `count` packets from `base`, all "not
    /// received", in run-length chunks of 8,191: 40 bytes for 65,535.
    fn feedback_of_lost_packets(base: u16, count: u16) -> Vec<u8> {
        let mut p = vec![0x8f, 205, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0];
        p.extend_from_slice(&base.to_be_bytes());
        p.extend_from_slice(&count.to_be_bytes());
        p.extend_from_slice(&[0, 0, 1, 0]);
        for _ in 0..usize::from(count).div_ceil(0x1fff) {
            p.extend_from_slice(&0x1fffu16.to_be_bytes());
        }
        if p.len() % 4 != 0 {
            p.extend_from_slice(&[0, 0]);
        }
        let words = (p.len() / 4 - 1) as u16;
        p[2..4].copy_from_slice(&words.to_be_bytes());
        p
    }

    #[test]
    fn a_datagram_whose_transport_cc_feedback_names_over_65535_packets_is_refused() {
        // One feedback may name 65,535 packets (its 16-bit count).
        let one = feedback_of_lost_packets(0, u16::MAX);
        let parsed = parse(&one).unwrap();
        assert!(
            matches!(&parsed[..], [RtcpPacket::TransportFeedback(f)] if f.packets.len() == 65_535)
        );
        // Two such in 80 bytes would name 131,070: refused before the
        // second is expanded, as a whole datagram refuses any bad packet.
        let mut two = one.clone();
        two.extend_from_slice(&feedback_of_lost_packets(1, u16::MAX));
        assert_eq!(parse(&two), Err(RtcpError::TooManyStatuses));
        // Many small ones, as real receivers send, stay within the bound.
        let mut many = Vec::new();
        for i in 0..20u16 {
            many.extend_from_slice(&feedback_of_lost_packets(i * 100, 100));
        }
        assert_eq!(parse(&many).unwrap().len(), 20);
    }

    #[test]
    fn a_remb_beyond_64_bits_reads_as_the_most_not_as_its_truncated_bits() {
        let remb = |exp: u32, mantissa: u32| {
            let mut p = vec![0x8f, 206, 0, 5, 0, 0, 0, 1, 0, 0, 0, 0];
            p.extend_from_slice(b"REMB");
            p.push(1);
            let v = exp << 18 | mantissa;
            p.extend_from_slice(&v.to_be_bytes()[1..]);
            p.extend_from_slice(&2u32.to_be_bytes());
            match &parse(&p).unwrap()[..] {
                [RtcpPacket::Remb(r)] => r.bitrate,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(remb(10, 1000), 1000 << 10);
        assert_eq!(remb(46, 0x3ffff), 0x3ffff << 46, "the largest that fits");
        // 0x20000 << 47 is 2^64: its bits used to be shifted out, leaving 0,
        // which capped the sender at its minimum.
        assert_eq!(remb(47, 0x20000), u64::MAX);
        assert_eq!(remb(63, 1), 1 << 63);
        assert_eq!(remb(63, 0), 0);
    }

    #[test]
    fn transport_feedback_from_arrivals_reports_them_within_a_quarter_millisecond() {
        // 1 s, then +1 ms, lost, +70 ms (large), 2 ms earlier (negative).
        let arrivals = [
            Some(1_000_000),
            Some(1_001_000),
            None,
            Some(1_071_100),
            Some(1_069_100),
        ];
        let t = TransportFeedback::from_arrivals(1, 2, 65535, 0, &arrivals);
        assert_eq!(t.reference_time, 15);
        use PacketStatus::*;
        assert_eq!(
            t.packets,
            vec![
                SmallDelta(160),
                SmallDelta(4),
                NotReceived,
                LargeDelta(280),
                LargeDelta(-8)
            ]
        );
        let back = t.arrivals();
        for (a, b) in arrivals.iter().zip(&back) {
            assert_eq!(a.is_some(), b.is_some());
            if let (Some(a), Some(b)) = (a, b) {
                assert!((a - b).abs() <= 125, "{a} vs {b}");
            }
        }
        let RtcpPacket::TransportFeedback(again) =
            round_trip(&RtcpPacket::TransportFeedback(t.clone()))
        else {
            panic!()
        };
        assert_eq!(again.arrivals(), back);
    }

    #[test]
    fn compound_and_reduced_size_packets_parse_and_unknown_types_are_kept() {
        let rr = RtcpPacket::ReceiverReport(ReceiverReport {
            ssrc: 1,
            reports: vec![],
        });
        let sdes = RtcpPacket::Sdes(Sdes { chunks: vec![] });
        let unknown = RtcpPacket::Unknown(Unknown {
            packet_type: 207,
            count: 3,
            body: vec![1, 2, 3, 4],
        });
        let pli = RtcpPacket::Pli(Pli {
            sender_ssrc: 1,
            media_ssrc: 2,
        });
        let mut bytes = Vec::new();
        write_compound(
            &[rr.clone(), sdes.clone(), unknown.clone(), pli.clone()],
            &mut bytes,
        )
        .unwrap();
        let all = parse(&bytes).unwrap();
        assert_eq!(all, vec![rr, sdes, unknown, pli.clone()]);
        assert!(is_full_compound(&all));
        // RFC 5506: a lone PLI is a valid reduced-size packet.
        let single = parse(&pli.to_vec().unwrap()).unwrap();
        assert!(!is_full_compound(&single));
        assert_eq!(single, vec![pli]);
    }

    /// RFC 3550 §6.4.1 (P bit): the padding a packet ends with is not part
    /// of its body. A packet kept raw ([`Unknown`], say an XR or a
    /// feedback message of another format) whose body is not a multiple of
    /// 32 bits was padded so by its sender; written back, it must carry
    /// the same body and say its padding is padding, not grow zeros into
    /// its body.
    #[test]
    fn an_unknown_packet_padded_by_its_sender_is_written_back_with_the_same_body() {
        // PT 207 (XR), 5 body bytes then 3 bytes of padding, the last the count.
        let bytes = [0xa0, 207, 0, 2, 1, 2, 3, 4, 5, 0, 0, 3];
        let parsed = parse(&bytes).unwrap();
        assert_eq!(
            parsed,
            vec![RtcpPacket::Unknown(Unknown {
                packet_type: 207,
                count: 0,
                body: vec![1, 2, 3, 4, 5],
            })]
        );
        let mut written = Vec::new();
        write_compound(&parsed, &mut written).unwrap();
        assert_eq!(written, bytes);
        assert_eq!(parse(&written).unwrap(), parsed);
    }

    /// RFC 3550 §6.4.1: "padding MUST only be added to the last individual
    /// packet" (Appendix A.2's check drops a compound whose first packet
    /// has P set). A packet that needs padding is written last, or the
    /// compound is refused, nothing of the refused packet written.
    #[test]
    fn only_the_last_packet_of_a_compound_is_padded() {
        let unknown = RtcpPacket::Unknown(Unknown {
            packet_type: 207,
            count: 0,
            body: vec![1, 2, 3, 4, 5],
        });
        let rr = RtcpPacket::ReceiverReport(ReceiverReport {
            ssrc: 1,
            reports: vec![],
        });
        let mut out = Vec::new();
        assert_eq!(
            write_compound(&[unknown.clone(), rr.clone()], &mut out),
            Err(RtcpError::PaddedNotLast(207))
        );
        assert!(out.is_empty(), "{out:02x?}");
        write_compound(&[rr.clone(), unknown.clone()], &mut out).unwrap();
        assert_eq!(out[0] & 0x20, 0);
        assert_eq!(out[8] & 0x20, 0x20, "the last packet carries the P bit");
        assert_eq!(parse(&out).unwrap(), vec![rr, unknown]);
    }

    /// RFC 3550 §6.1: each packet of a compound datagram is delimited by
    /// its own length, so the packets before a malformed one are whole:
    /// they are kept (as libwebrtc keeps them), with the reason the rest
    /// was not read. A malformed first packet refuses the datagram (RFC
    /// 3550 A.2 validates a compound by its first packet).
    #[test]
    fn the_packets_before_a_malformed_one_are_kept_with_the_reason() {
        let rr = RtcpPacket::ReceiverReport(ReceiverReport {
            ssrc: 1,
            reports: vec![],
        });
        let nack = RtcpPacket::Nack(Nack::from_sequences(1, 2, &[10, 12]));
        let mut bytes = Vec::new();
        write_compound(&[rr.clone(), nack.clone()], &mut bytes).unwrap();
        let whole = bytes.len();
        // A last packet whose length runs past the datagram.
        bytes.extend_from_slice(&[0x80, 206, 0, 9, 0, 0, 0, 1]);
        let bad = RtcpError::BadLength {
            words: 10,
            available: 8,
        };
        assert_eq!(
            parse_leading(&bytes),
            Ok((vec![rr.clone(), nack.clone()], Some(bad)))
        );
        assert_eq!(parse(&bytes), Err(bad));
        // A malformed packet in the middle ends the datagram there.
        let mut middle = Vec::new();
        rr.write(&mut middle).unwrap();
        middle.extend_from_slice(&[0x40, 201, 0, 0]);
        nack.write(&mut middle).unwrap();
        assert_eq!(
            parse_leading(&middle),
            Ok((vec![rr.clone()], Some(RtcpError::BadVersion(1))))
        );
        // A malformed first packet: nothing is taken.
        let mut first = vec![0x80, 201, 0, 9];
        first.extend_from_slice(&bytes[..whole]);
        assert!(parse_leading(&first).is_err());
        assert_eq!(parse_leading(&bytes[..whole]), Ok((vec![rr, nack], None)));
    }

    #[test]
    fn malformed_rtcp_is_refused_with_the_reason() {
        assert_eq!(
            parse(&[0x80, 200]),
            Err(RtcpError::TooShort {
                what: "header",
                packet_type: 0
            })
        );
        assert_eq!(parse(&[0x40, 200, 0, 0]), Err(RtcpError::BadVersion(1)));
        assert_eq!(
            parse(&[0x80, 201, 0, 1, 0, 0, 0]),
            Err(RtcpError::BadLength {
                words: 2,
                available: 7
            })
        );
        assert_eq!(
            parse(&[0xa0, 201, 0, 1, 0, 0, 0, 9]),
            Err(RtcpError::BadPadding(9))
        );
        assert_eq!(
            parse(&[0x81, 201, 0, 1, 0, 0, 0, 1]),
            Err(RtcpError::TooShort {
                what: "report block",
                packet_type: 201
            })
        );
        // A transport-cc run of the reserved symbol 3.
        let mut t = vec![
            0x8f, 205, 0, 5, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0x60, 0x01,
        ];
        t.extend_from_slice(&[0, 0]);
        assert_eq!(parse(&t), Err(RtcpError::BadStatusSymbol));
        let many = RtcpPacket::Bye(Bye {
            sources: vec![0; 32],
            reason: None,
        });
        assert_eq!(many.to_vec(), Err(RtcpError::TooMany("BYE sources")));
    }

    fn block() -> impl Strategy<Value = ReportBlock> {
        (
            any::<u32>(),
            any::<u8>(),
            -0x80_0000i32..0x80_0000,
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
        )
            .prop_map(|(ssrc, f, c, e, j, l, d)| ReportBlock {
                ssrc,
                fraction_lost: f,
                cumulative_lost: c,
                extended_highest_sequence: e,
                jitter: j,
                last_sr: l,
                delay_since_last_sr: d,
            })
    }

    fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(any::<u8>(), 0..max)
    }

    fn status() -> impl Strategy<Value = PacketStatus> {
        prop_oneof![
            Just(PacketStatus::NotReceived),
            any::<u8>().prop_map(PacketStatus::SmallDelta),
            any::<i16>().prop_map(PacketStatus::LargeDelta),
        ]
    }

    fn ccfb_metric() -> impl Strategy<Value = CcfbMetric> {
        prop_oneof![
            Just(CcfbMetric::NotReceived),
            (0u16..4, 0u16..=CCFB_ATO_OVER_RANGE).prop_map(|(e, arrival_offset)| {
                CcfbMetric::Received {
                    ecn: Ecn::from_bits(e),
                    arrival_offset,
                }
            }),
        ]
    }

    fn packet() -> impl Strategy<Value = RtcpPacket> {
        let blocks = || proptest::collection::vec(block(), 0..4);
        prop_oneof![
            (
                any::<u32>(),
                any::<u64>(),
                any::<u32>(),
                any::<u32>(),
                any::<u32>(),
                blocks()
            )
                .prop_map(
                    |(ssrc, ntp_time, rtp_time, packet_count, octet_count, reports)| {
                        RtcpPacket::SenderReport(SenderReport {
                            ssrc,
                            ntp_time,
                            rtp_time,
                            packet_count,
                            octet_count,
                            reports,
                        })
                    }
                ),
            (any::<u32>(), blocks()).prop_map(|(ssrc, reports)| RtcpPacket::ReceiverReport(
                ReceiverReport { ssrc, reports }
            )),
            proptest::collection::vec(
                (
                    any::<u32>(),
                    proptest::collection::vec((1u8..=8, bytes(30)), 0..3)
                ),
                0..4
            )
            .prop_map(|chunks| RtcpPacket::Sdes(Sdes {
                chunks: chunks
                    .into_iter()
                    .map(|(ssrc, items)| SdesChunk {
                        ssrc,
                        items: items
                            .into_iter()
                            .map(|(kind, text)| SdesItem { kind, text })
                            .collect()
                    })
                    .collect()
            })),
            (
                proptest::collection::vec(any::<u32>(), 0..5),
                proptest::option::of(bytes(40))
            )
                .prop_map(|(sources, reason)| RtcpPacket::Bye(Bye { sources, reason })),
            (
                0u8..32,
                any::<u32>(),
                any::<[u8; 4]>(),
                proptest::collection::vec(any::<[u8; 4]>(), 0..4)
            )
                .prop_map(|(subtype, ssrc, name, data)| RtcpPacket::App(App {
                    subtype,
                    ssrc,
                    name,
                    data: data.concat()
                })),
            (
                any::<u32>(),
                any::<u32>(),
                proptest::collection::vec(any::<(u16, u16)>(), 0..6)
            )
                .prop_map(|(s, m, p)| {
                    RtcpPacket::Nack(Nack {
                        sender_ssrc: s,
                        media_ssrc: m,
                        pairs: p
                            .into_iter()
                            .map(|(packet_id, lost_bitmask)| NackPair {
                                packet_id,
                                lost_bitmask,
                            })
                            .collect(),
                    })
                }),
            (
                any::<u32>(),
                any::<u32>(),
                any::<u16>(),
                0u32..1 << 24,
                any::<u8>(),
                proptest::collection::vec(status(), 0..100)
            )
                .prop_map(|(s, m, b, r, c, packets)| RtcpPacket::TransportFeedback(
                    TransportFeedback {
                        sender_ssrc: s,
                        media_ssrc: m,
                        base_sequence: b,
                        reference_time: r,
                        feedback_count: c,
                        packets
                    }
                )),
            (
                any::<u32>(),
                proptest::collection::vec(
                    (
                        any::<u32>(),
                        any::<u16>(),
                        proptest::collection::vec(ccfb_metric(), 0..20)
                    ),
                    0..3
                ),
                any::<u32>()
            )
                .prop_map(|(sender_ssrc, streams, report_timestamp)| {
                    RtcpPacket::CongestionControlFeedback(CongestionControlFeedback {
                        sender_ssrc,
                        streams: streams
                            .into_iter()
                            .map(|(ssrc, begin_seq, metrics)| CcfbStream {
                                ssrc,
                                begin_seq,
                                metrics,
                            })
                            .collect(),
                        report_timestamp,
                    })
                }),
            any::<(u32, u32)>().prop_map(|(s, m)| RtcpPacket::Pli(Pli {
                sender_ssrc: s,
                media_ssrc: m
            })),
            (
                any::<u32>(),
                proptest::collection::vec(any::<(u32, u8)>(), 0..4)
            )
                .prop_map(|(s, e)| RtcpPacket::Fir(Fir {
                    sender_ssrc: s,
                    entries: e
                        .into_iter()
                        .map(|(ssrc, sequence)| FirEntry { ssrc, sequence })
                        .collect()
                })),
            (
                any::<u32>(),
                0u64..1 << 18,
                0u32..40,
                proptest::collection::vec(any::<u32>(), 0..4)
            )
                .prop_map(|(s, m, e, ssrcs)| RtcpPacket::Remb(Remb {
                    sender_ssrc: s,
                    bitrate: m << e,
                    ssrcs
                })),
            (
                207u8..=255,
                0u8..32,
                proptest::collection::vec(any::<[u8; 4]>(), 0..4)
            )
                .prop_map(|(pt, count, b)| RtcpPacket::Unknown(Unknown {
                    packet_type: pt,
                    count,
                    body: b.concat()
                })),
        ]
    }

    proptest! {
        #[test]
        fn every_packet_type_round_trips(packets in proptest::collection::vec(packet(), 1..5)) {
            let mut bytes = Vec::new();
            match write_compound(&packets, &mut bytes) {
                Ok(()) => prop_assert_eq!(parse(&bytes).unwrap(), packets),
                // A packet that needs padding goes last (RFC 3550 §6.4.1):
                // each packet alone still round-trips.
                Err(RtcpError::PaddedNotLast(_)) => {
                    for p in packets {
                        let mut alone = Vec::new();
                        p.write(&mut alone).unwrap();
                        prop_assert_eq!(parse(&alone).unwrap(), vec![p]);
                    }
                }
                Err(e) => prop_assert!(false, "{e}"),
            }
        }

        #[test]
        fn parsing_arbitrary_bytes_never_panics(data in bytes(400)) {
            let _ = parse(&data);
        }
    }
}
