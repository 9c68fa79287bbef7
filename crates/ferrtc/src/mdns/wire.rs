//! The slice of the DNS message format (RFC 1035 §4) that mDNS needs for
//! `.local` host names: for the one-shot querier (RFC 6762 §5.1), a query
//! for the A and AAAA records of one name and the addresses a response
//! gives for it; for the responder (§6), the questions of a query and the
//! answers (address records, NSEC for the types a name lacks, goodbyes).
//!
//! The parser is bounded by the message: every step consumes bytes or
//! fails, compression pointers must go strictly backwards (so they cannot
//! loop), names are at most 255 bytes, and nothing is allocated but the
//! addresses pushed into the caller's vector (at most [`MAX_ADDRS`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// RR type A (RFC 1035 §3.2.2).
const TYPE_A: u16 = 1;
/// RR type AAAA (RFC 3596 §2.1).
const TYPE_AAAA: u16 = 28;
/// Class IN (RFC 1035 §3.2.4).
const CLASS_IN: u16 = 1;
/// Top bit of a question's class: "unicast response requested" (QU,
/// RFC 6762 §5.4); in a record it is the cache-flush bit (§10.2).
const CLASS_TOP_BIT: u16 = 0x8000;
/// Largest name on the wire (RFC 1035 §2.3.4).
const MAX_NAME: usize = 255;
/// Largest label (RFC 1035 §2.3.4).
const MAX_LABEL: usize = 63;
/// Addresses kept from one response for one name.
pub(crate) const MAX_ADDRS: usize = 8;
/// Size of the fixed header (RFC 1035 §4.1.1).
const HEADER_LEN: usize = 12;
/// RR type NSEC (RFC 4034 §4), mDNS's negative answer (RFC 6762 §6.1).
const TYPE_NSEC: u16 = 47;
/// QTYPE and QCLASS "any" (RFC 1035 §3.2.3, §3.2.5).
const ANY: u16 = 255;
/// Questions of one query the responder looks at; the rest are skipped.
pub(crate) const MAX_QUESTIONS: usize = 16;

/// Why an mDNS message or name was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum WireError {
    /// The message ends inside a field.
    #[error("mDNS message truncated at byte {at}")]
    Truncated {
        /// Offset of the field that does not fit.
        at: usize,
    },
    /// The QR bit is clear: a query, not a response (RFC 1035 §4.1.1).
    #[error("mDNS message is not a response")]
    NotAResponse,
    /// The QR bit is set: a response, not a query (RFC 1035 §4.1.1).
    #[error("mDNS message is not a query")]
    NotAQuery,
    /// Opcode or response code other than zero: RFC 6762 §18.3 and §18.11
    /// say such messages are silently ignored.
    #[error("mDNS response with opcode {opcode} and rcode {rcode}")]
    NotStandard {
        /// The opcode field.
        opcode: u8,
        /// The response code field.
        rcode: u8,
    },
    /// A name in the message is malformed.
    #[error("bad name at byte {at} of an mDNS message: {reason}")]
    BadName {
        /// Offset where the problem was found.
        at: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// The name to resolve is not a valid `.local` name.
    #[error("not a resolvable .local name: {0}")]
    NotLocal(&'static str),
}

/// A validated `.local` host name (RFC 6762 §3), as Chromium signals in
/// host candidates: `<uuid>.local`. Compared without regard to ASCII case
/// (RFC 6762 §16).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LocalName(String);

impl LocalName {
    /// Accepts names of letters, digits, `-` and `_` labels (1 to 63 bytes,
    /// 255 on the wire) ending in `.local`, with an optional final dot.
    pub(crate) fn parse(s: &str) -> Result<LocalName, WireError> {
        let s = s.strip_suffix('.').unwrap_or(s);
        let bytes = s.as_bytes();
        let Some(split) = bytes.len().checked_sub(".local".len()) else {
            return Err(WireError::NotLocal("does not end in .local"));
        };
        // The last six bytes are ASCII when they match, so `split` is a
        // character boundary and `get` succeeds.
        let stem = match bytes.get(split..) {
            Some(tail) if tail.eq_ignore_ascii_case(b".local") => s.get(..split).unwrap_or(""),
            _ => return Err(WireError::NotLocal("does not end in .local")),
        };
        if stem.is_empty() {
            return Err(WireError::NotLocal("no label before .local"));
        }
        // Each label costs its length plus one length byte, plus the root.
        if s.len() + 2 > MAX_NAME {
            return Err(WireError::NotLocal("longer than 255 bytes on the wire"));
        }
        for label in s.split('.') {
            if label.is_empty() || label.len() > MAX_LABEL {
                return Err(WireError::NotLocal("label empty or over 63 bytes"));
            }
            if !label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(WireError::NotLocal(
                    "label with a character other than [A-Za-z0-9_-]",
                ));
            }
        }
        Ok(LocalName(s.to_owned()))
    }

    /// The name as given (without a final dot).
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// Writes `name` (dotted, labels of at most 63 bytes) uncompressed.
fn write_name(name: &str, out: &mut Vec<u8>) {
    for label in name.split('.') {
        // Callers give `LocalName`s, whose labels are at most 63 bytes.
        out.push(label.len().min(MAX_LABEL) as u8);
        out.extend_from_slice(
            label
                .as_bytes()
                .get(..MAX_LABEL)
                .unwrap_or(label.as_bytes()),
        );
    }
    out.push(0);
}

/// One question of a query (RFC 1035 §4.1.2), its name in lower case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Question {
    /// The name asked about, dotted, lower case, without a final dot.
    pub(crate) name: String,
    /// QTYPE.
    pub(crate) kind: u16,
    /// The QU bit: the querier asks for a unicast answer (RFC 6762 §5.4).
    pub(crate) unicast: bool,
}

impl Question {
    /// Whether the question asks for an A (`v4`) or AAAA record of class IN.
    fn wants(&self, v4: bool) -> bool {
        self.kind == ANY || self.kind == if v4 { TYPE_A } else { TYPE_AAAA }
    }
}

/// What [`read_query`] found: the query id and the questions.
#[derive(Debug, Default)]
pub(crate) struct Query {
    /// The query id, echoed in legacy unicast answers (RFC 6762 §6.7).
    pub(crate) id: u16,
    /// The questions of class IN or ANY, at most [`MAX_QUESTIONS`].
    pub(crate) questions: Vec<Question>,
}

/// Reads a query (RFC 6762 §5, §18): its id and its questions of class IN
/// (or ANY). Responses, and queries with an opcode or response code other
/// than zero (§18.3, §18.11), are refused; so is anything malformed. The
/// known-answer, authority and additional sections are not read.
pub(crate) fn read_query(msg: &[u8], query: &mut Query) -> Result<(), WireError> {
    query.questions.clear();
    let mut r = Reader { msg, pos: 0 };
    query.id = r.u16()?;
    let flags = r.u16()?;
    if flags & 0x8000 != 0 {
        return Err(WireError::NotAQuery);
    }
    let opcode = ((flags >> 11) & 0xF) as u8;
    let rcode = (flags & 0xF) as u8;
    if opcode != 0 || rcode != 0 {
        return Err(WireError::NotStandard { opcode, rcode });
    }
    let count = r.u16()?;
    r.take(6)?;
    for _ in 0..count {
        let mut name = String::new();
        r.read_name(&mut name)?;
        let kind = r.u16()?;
        let class = r.u16()?;
        if query.questions.len() >= MAX_QUESTIONS {
            continue;
        }
        let class_bits = class & !CLASS_TOP_BIT;
        if class_bits != CLASS_IN && class_bits != ANY {
            continue;
        }
        query.questions.push(Question {
            name,
            kind,
            unicast: class & CLASS_TOP_BIT != 0,
        });
    }
    Ok(())
}

/// How an answer is framed (RFC 6762 §6 and §6.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// A full mDNS response: id 0, no question, the cache-flush bit on our
    /// unique records (§10.2), the TTL given.
    Mdns {
        /// Seconds: 120 for host records (§10), 0 for a goodbye (§10.1).
        ttl: u32,
    },
    /// The answer to a one-shot query from a port other than 5353 (§6.7):
    /// the id and the questions echoed, no cache-flush bit, a TTL of at
    /// most 10 s.
    Legacy {
        /// The query's id.
        id: u16,
    },
}

/// The TTL of legacy unicast answers (RFC 6762 §6.7: at most ten seconds).
pub(crate) const LEGACY_TTL: u32 = 10;

/// One `.local` name we own and the address it stands for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Record<'a> {
    /// The name, dotted, without a final dot.
    pub(crate) name: &'a str,
    /// Its one address (one name per address, draft-ietf-mmusic-mdns-ice-candidates §3.1.1).
    pub(crate) ip: IpAddr,
}

/// Which of a name's two records a response carries (RFC 6762 §6).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Wanted {
    /// Its A or AAAA record, in the answer section.
    pub(crate) address: bool,
    /// The NSEC record saying it has no record of the other address type,
    /// in the additional section (§6.1).
    pub(crate) nsec: bool,
}

impl Wanted {
    /// The address record alone, as a goodbye (§10.1) gives it.
    pub(crate) const ADDRESS: Wanted = Wanted {
        address: true,
        nsec: false,
    };

    /// What `questions` ask of `record` by the standard DNS rules (§6): a
    /// question for its name and for its address type (or ANY) asks for
    /// the address record; one for any other type (or ANY) asks for the
    /// NSEC record that says the name has no such record (§6.1).
    pub(crate) fn by(questions: &[Question], record: &Record<'_>) -> Wanted {
        let v4 = record.ip.is_ipv4();
        let mut wanted = Wanted::default();
        for q in questions
            .iter()
            .filter(|q| q.name.eq_ignore_ascii_case(record.name))
        {
            wanted.address |= q.wants(v4);
            // §6.1: a question for any type the name has no record of
            // (the other address type, TXT, ...) is answered by the NSEC
            // record that says so.
            wanted.nsec |= q.kind == ANY || !q.wants(v4);
        }
        wanted
    }

    /// Whether there is anything to write.
    pub(crate) fn any(self) -> bool {
        self.address || self.nsec
    }
}

/// Writes a response (RFC 6762 §6) into `out`: for each record, its A or
/// AAAA record in the answer section and its NSEC record (§6.1) in the
/// additional section, as its [`Wanted`] says. A legacy answer echoes
/// `questions` (§6.7); a multicast one carries none. Returns the number of
/// records written.
pub(crate) fn write_response(
    framing: Framing,
    records: &[(Record<'_>, Wanted)],
    questions: &[Question],
    out: &mut Vec<u8>,
) -> usize {
    out.clear();
    let (id, ttl, flush) = match framing {
        Framing::Mdns { ttl } => (0, ttl, CLASS_TOP_BIT),
        Framing::Legacy { id } => (id, LEGACY_TTL, 0),
    };
    // Header: QR and AA (§18.2, §18.4).
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&[0x84, 0x00, 0, 0, 0, 0, 0, 0, 0, 0]);
    let mut echoed = 0u16;
    if let Framing::Legacy { .. } = framing {
        for q in questions {
            write_name(&q.name, out);
            out.extend_from_slice(&q.kind.to_be_bytes());
            out.extend_from_slice(&CLASS_IN.to_be_bytes());
            echoed += 1;
        }
    }
    let mut answers = 0u16;
    for (r, _) in records.iter().filter(|(_, w)| w.address) {
        let v4 = r.ip.is_ipv4();
        write_name(r.name, out);
        let kind = if v4 { TYPE_A } else { TYPE_AAAA };
        out.extend_from_slice(&kind.to_be_bytes());
        out.extend_from_slice(&(CLASS_IN | flush).to_be_bytes());
        out.extend_from_slice(&ttl.to_be_bytes());
        match r.ip {
            IpAddr::V4(ip) => {
                out.extend_from_slice(&4u16.to_be_bytes());
                out.extend_from_slice(&ip.octets());
            }
            IpAddr::V6(ip) => {
                out.extend_from_slice(&16u16.to_be_bytes());
                out.extend_from_slice(&ip.octets());
            }
        }
        answers += 1;
    }
    let negatives: Vec<&Record<'_>> = records
        .iter()
        .filter(|(_, w)| w.nsec)
        .map(|(r, _)| r)
        .collect();
    // RFC 6762 §6.1: NSEC saying which address type the name has.
    for r in negatives.iter().copied() {
        write_name(r.name, out);
        out.extend_from_slice(&TYPE_NSEC.to_be_bytes());
        out.extend_from_slice(&(CLASS_IN | flush).to_be_bytes());
        out.extend_from_slice(&ttl.to_be_bytes());
        let bitmap: &[u8] = if r.ip.is_ipv4() {
            // Window 0, 1 byte: type 1 (A) is bit 1.
            &[0, 1, 0x40]
        } else {
            // Window 0, 4 bytes: type 28 (AAAA) is bit 28.
            &[0, 4, 0, 0, 0, 0x08]
        };
        // Next domain name: the name itself, uncompressed (§6.1).
        let rdlength = r.name.len() + 2 + bitmap.len();
        out.extend_from_slice(&(rdlength as u16).to_be_bytes());
        write_name(r.name, out);
        out.extend_from_slice(bitmap);
    }
    let set = |out: &mut Vec<u8>, at: usize, v: u16| {
        if let Some(b) = out.get_mut(at..at + 2) {
            b.copy_from_slice(&v.to_be_bytes());
        }
    };
    set(out, 4, echoed);
    set(out, 6, answers);
    set(out, 10, negatives.len() as u16);
    usize::from(answers) + negatives.len()
}

/// Writes a one-shot query (RFC 6762 §5.1) into `out`: two questions, A
/// and AAAA of `name`, both with the QU bit set (§5.4) so the responder
/// may answer by unicast. The query id is zero (§18.1).
pub(crate) fn write_query(name: &LocalName, out: &mut Vec<u8>) {
    out.clear();
    // Header (RFC 1035 §4.1.1): id 0, flags 0 (standard query), QDCOUNT 2.
    out.extend_from_slice(&[0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0]);
    for label in name.as_str().split('.') {
        // LocalName::parse bounds every label to 63 bytes.
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out.extend_from_slice(&TYPE_A.to_be_bytes());
    out.extend_from_slice(&(CLASS_IN | CLASS_TOP_BIT).to_be_bytes());
    // Second question: the same name by a pointer to offset 12 (§4.1.4).
    out.extend_from_slice(&[0xC0, HEADER_LEN as u8]);
    out.extend_from_slice(&TYPE_AAAA.to_be_bytes());
    out.extend_from_slice(&(CLASS_IN | CLASS_TOP_BIT).to_be_bytes());
}

/// Reads a response and pushes the addresses it gives for `name` (A and
/// AAAA records in the answer, authority and additional sections, RFC 6762
/// §6) into `out`, without duplicates and at most [`MAX_ADDRS`] in all.
/// Records with TTL 0 are goodbyes (§10.1) and give nothing.
pub(crate) fn read_response(
    msg: &[u8],
    name: &LocalName,
    out: &mut Vec<IpAddr>,
) -> Result<(), WireError> {
    let mut r = Reader { msg, pos: 0 };
    let _id = r.u16()?;
    let flags = r.u16()?;
    if flags & 0x8000 == 0 {
        return Err(WireError::NotAResponse);
    }
    let opcode = ((flags >> 11) & 0xF) as u8;
    let rcode = (flags & 0xF) as u8;
    if opcode != 0 || rcode != 0 {
        return Err(WireError::NotStandard { opcode, rcode });
    }
    let questions = r.u16()?;
    let records = u32::from(r.u16()?) + u32::from(r.u16()?) + u32::from(r.u16()?);
    // Questions are echoed in unicast replies to legacy queries (§6.7).
    for _ in 0..questions {
        r.skip_name()?;
        r.take(4)?;
    }
    for _ in 0..records {
        let matches = r.name_equals(name.as_str())?;
        let kind = r.u16()?;
        let class = r.u16()? & !CLASS_TOP_BIT;
        let ttl = r.u32()?;
        let len = usize::from(r.u16()?);
        let data = r.take(len)?;
        if !matches || class != CLASS_IN || ttl == 0 || out.len() >= MAX_ADDRS {
            continue;
        }
        let ip = match (kind, <[u8; 4]>::try_from(data), <[u8; 16]>::try_from(data)) {
            (TYPE_A, Ok(v4), _) => IpAddr::V4(Ipv4Addr::from(v4)),
            (TYPE_AAAA, _, Ok(v6)) => IpAddr::V6(Ipv6Addr::from(v6)),
            _ => continue,
        };
        if !out.contains(&ip) {
            out.push(ip);
        }
    }
    Ok(())
}

/// A cursor over a whole message (names may point anywhere before them).
struct Reader<'a> {
    msg: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let at = self.pos;
        let bytes = at
            .checked_add(n)
            .and_then(|end| self.msg.get(at..end))
            .ok_or(WireError::Truncated { at })?;
        self.pos += n;
        Ok(bytes)
    }

    fn u16(&mut self) -> Result<u16, WireError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, WireError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn skip_name(&mut self) -> Result<(), WireError> {
        self.walk_name(|_, _| {})
    }

    /// Reads the name at the cursor and says whether it equals `want`
    /// (dotted, no final dot) without regard to ASCII case.
    fn name_equals(&mut self, want: &str) -> Result<bool, WireError> {
        let want = want.as_bytes();
        let mut equal = true;
        let mut read = 0usize;
        self.walk_name(|offset, label| {
            // `offset` is where the label starts in the dotted name: after
            // the dot that precedes it, if any.
            let dot = usize::from(offset > 0);
            if equal {
                let expected = want.get(offset - dot..offset + label.len());
                // A dot byte inside a label is data, not a separator
                // (RFC 1035 §3.1): such a label matches none of our labels.
                equal = !label.contains(&b'.')
                    && expected.is_some_and(|e| {
                        (dot == 0 || e[0] == b'.') && e[dot..].eq_ignore_ascii_case(label)
                    });
            }
            read = offset + label.len();
        })?;
        Ok(equal && read == want.len())
    }

    /// Reads the name at the cursor into `out`, dotted, in lower case.
    /// Labels with bytes other than letters, digits, `-` and `_` are kept
    /// as `?`s: such a name matches none of ours.
    fn read_name(&mut self, out: &mut String) -> Result<(), WireError> {
        out.clear();
        self.walk_name(|offset, label| {
            if offset > 0 {
                out.push('.');
            }
            out.extend(label.iter().map(|&b| {
                if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                    char::from(b.to_ascii_lowercase())
                } else {
                    '?'
                }
            }));
        })
    }

    /// Walks the name at the cursor (following compression pointers,
    /// RFC 1035 §4.1.4), calling `label(offset, bytes)` for each label with
    /// its offset in the dotted name, and leaves the cursor after it.
    fn walk_name(&mut self, mut label: impl FnMut(usize, &[u8])) -> Result<(), WireError> {
        let mut at = self.pos;
        // Where the cursor goes once the name is read: after the first pointer.
        let mut resume = None;
        // Pointers must go strictly below this, so that they cannot loop.
        let mut limit = self.pos;
        // Bytes of the dotted name read so far.
        let mut read = 0usize;
        loop {
            let len_byte = *self.msg.get(at).ok_or(WireError::Truncated { at })?;
            match len_byte & 0xC0 {
                0x00 if len_byte == 0 => {
                    at += 1;
                    break;
                }
                0x00 => {
                    let n = usize::from(len_byte);
                    let bytes = self
                        .msg
                        .get(at + 1..at + 1 + n)
                        .ok_or(WireError::Truncated { at })?;
                    let dot = usize::from(read > 0);
                    if read + dot + n > MAX_NAME {
                        return Err(WireError::BadName {
                            at,
                            reason: "longer than 255 bytes",
                        });
                    }
                    label(read + dot, bytes);
                    read += dot + n;
                    at += 1 + n;
                }
                0xC0 => {
                    let low = *self.msg.get(at + 1).ok_or(WireError::Truncated { at })?;
                    let target = usize::from(len_byte & 0x3F) << 8 | usize::from(low);
                    if target >= limit {
                        return Err(WireError::BadName {
                            at,
                            reason: "compression pointer not strictly backwards",
                        });
                    }
                    resume.get_or_insert(at + 2);
                    limit = target;
                    at = target;
                }
                // 0x40 and 0x80: extended label types (RFC 6891 §5), unused.
                _ => {
                    return Err(WireError::BadName {
                        at,
                        reason: "reserved label type",
                    });
                }
            }
        }
        self.pos = resume.unwrap_or(at);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NAME: &str = "1f5e7a3c-2b4d-4e6f-8a9b-0c1d2e3f4a5b.local";

    fn name() -> LocalName {
        LocalName::parse(NAME).unwrap()
    }

    /// A response shaped like the legacy unicast answer Avahi and Apple's
    /// mDNSResponder give a one-shot query (RFC 6762 §6.7): the id and
    /// questions echoed, the A record in the answer section with a pointer
    /// to the question's name, and the AAAA record in the additional section.
    fn captured_response() -> Vec<u8> {
        let mut m = vec![0x00, 0x00, 0x84, 0x00, 0, 1, 0, 1, 0, 0, 0, 1];
        m.push(36);
        m.extend_from_slice(&NAME.as_bytes()[..36]);
        m.push(5);
        m.extend_from_slice(b"local");
        m.push(0);
        m.extend_from_slice(&[0, 1, 0x80, 1]); // A, IN|QU
        // Answer: name by pointer, A, IN|cache-flush, TTL 120, 192.168.1.23.
        m.extend_from_slice(&[0xC0, 12, 0, 1, 0x80, 1, 0, 0, 0, 120, 0, 4, 192, 168, 1, 23]);
        // Additional: name by pointer, AAAA, TTL 120, 2001:db8::17.
        m.extend_from_slice(&[0xC0, 12, 0, 28, 0x80, 1, 0, 0, 0, 120, 0, 16]);
        m.extend_from_slice(&"2001:db8::17".parse::<Ipv6Addr>().unwrap().octets());
        m
    }

    #[test]
    fn query_asks_for_a_and_aaaa_with_the_qu_bit_and_id_zero() {
        let mut q = Vec::new();
        write_query(&name(), &mut q);
        assert_eq!(&q[..12], &[0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0]);
        assert_eq!(q[12], 36);
        assert_eq!(&q[13..49], &NAME.as_bytes()[..36]);
        assert_eq!(&q[49..56], b"\x05local\x00");
        assert_eq!(&q[56..60], &[0, 1, 0x80, 1]);
        assert_eq!(&q[60..], &[0xC0, 12, 0, 28, 0x80, 1]);
    }

    #[test]
    fn captured_response_gives_both_addresses() {
        let mut out = Vec::new();
        read_response(&captured_response(), &name(), &mut out).unwrap();
        assert_eq!(
            out,
            vec![
                "192.168.1.23".parse::<IpAddr>().unwrap(),
                "2001:db8::17".parse().unwrap()
            ]
        );
    }

    #[test]
    fn names_compare_without_regard_to_case() {
        let upper = LocalName::parse(&NAME.to_ascii_uppercase()).unwrap();
        let mut out = Vec::new();
        read_response(&captured_response(), &upper, &mut out).unwrap();
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn records_for_another_name_or_with_ttl_zero_give_nothing() {
        let other = LocalName::parse("other.local").unwrap();
        let mut out = Vec::new();
        read_response(&captured_response(), &other, &mut out).unwrap();
        assert!(out.is_empty());
        // A goodbye (TTL 0, RFC 6762 §10.1) for the right name.
        let mut goodbye = captured_response();
        for ttl_at in [66, 82] {
            goodbye[ttl_at..ttl_at + 4].copy_from_slice(&[0, 0, 0, 0]);
        }
        read_response(&goodbye, &name(), &mut out).unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn a_name_that_is_a_prefix_of_the_wanted_one_does_not_match() {
        let longer = LocalName::parse("x.1f5e7a3c-2b4d-4e6f-8a9b-0c1d2e3f4a5b.local").unwrap();
        let mut out = Vec::new();
        read_response(&captured_response(), &longer, &mut out).unwrap();
        assert!(out.is_empty());
    }

    /// RFC 1035 §3.1: a name is a sequence of labels, and a label's bytes
    /// are its own; a single label `abc.local` (a dot byte inside it) is
    /// not the two-label name `abc` `local` that was asked for, and its
    /// records answer nothing we asked.
    #[test]
    fn a_label_with_a_dot_inside_is_not_two_labels() {
        let asked = LocalName::parse("abc.local").unwrap();
        let mut m = vec![0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0];
        m.push(9);
        m.extend_from_slice(b"abc.local");
        m.push(0);
        m.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 120, 0, 4, 10, 0, 0, 1]);
        let mut out = Vec::new();
        read_response(&m, &asked, &mut out).unwrap();
        assert!(out.is_empty(), "{out:?}");
    }

    #[test]
    fn queries_and_error_responses_are_refused() {
        let mut q = Vec::new();
        write_query(&name(), &mut q);
        let mut out = Vec::new();
        assert_eq!(
            read_response(&q, &name(), &mut out),
            Err(WireError::NotAResponse)
        );
        let mut m = captured_response();
        m[3] = 0x03; // NXDOMAIN
        assert!(matches!(
            read_response(&m, &name(), &mut out),
            Err(WireError::NotStandard { rcode: 3, .. })
        ));
    }

    #[test]
    fn compression_loops_and_forward_pointers_are_refused() {
        let mut out = Vec::new();
        // One question whose name is a pointer to itself.
        let self_loop = [0, 0, 0x84, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1];
        assert!(matches!(
            read_response(&self_loop, &name(), &mut out),
            Err(WireError::BadName { .. })
        ));
        // A label, then a pointer back to that label: would loop forever.
        let back_loop = [
            0, 0, 0x84, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, b'a', 0xC0, 12, 0, 1, 0, 1,
        ];
        assert!(matches!(
            read_response(&back_loop, &name(), &mut out),
            Err(WireError::BadName { .. })
        ));
    }

    #[test]
    fn truncated_responses_are_refused_at_every_length() {
        let full = captured_response();
        let mut out = Vec::new();
        for len in 0..full.len() {
            assert!(
                read_response(&full[..len], &name(), &mut out).is_err(),
                "length {len}"
            );
        }
    }

    #[test]
    fn only_well_formed_local_names_are_accepted() {
        assert_eq!(
            LocalName::parse("abc.local.").unwrap().as_str(),
            "abc.local"
        );
        assert!(LocalName::parse("abc.LOCAL").is_ok());
        for bad in [
            "local",
            ".local",
            "example.com",
            "a..local",
            "a b.local",
            "a\u{e9}.local",
            &format!("{}.local", "a".repeat(64)),
            &format!("{}local", "abcdefg.".repeat(32)),
        ] {
            assert!(LocalName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_query_gives_its_id_and_its_questions_in_lower_case() {
        let mut q = Vec::new();
        write_query(&LocalName::parse("AbC.local").unwrap(), &mut q);
        q[0..2].copy_from_slice(&[0xbe, 0xef]);
        let mut query = Query::default();
        read_query(&q, &mut query).unwrap();
        assert_eq!(query.id, 0xbeef);
        let got: Vec<(&str, u16, bool)> = query
            .questions
            .iter()
            .map(|q| (q.name.as_str(), q.kind, q.unicast))
            .collect();
        assert_eq!(
            got,
            [("abc.local", TYPE_A, true), ("abc.local", TYPE_AAAA, true)]
        );
        // A response is not a query.
        assert_eq!(
            read_query(&captured_response(), &mut query),
            Err(WireError::NotAQuery)
        );
    }

    proptest! {
        #[test]
        fn arbitrary_queries_never_panic(msg in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut query = Query::default();
            let _ = read_query(&msg, &mut query);
            prop_assert!(query.questions.len() <= MAX_QUESTIONS);
        }

        #[test]
        fn arbitrary_bytes_never_panic(msg in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut out = Vec::new();
            let _ = read_response(&msg, &name(), &mut out);
            prop_assert!(out.len() <= MAX_ADDRS);
        }

        #[test]
        fn mutated_responses_never_panic(flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
            let mut msg = captured_response();
            for (at, byte) in flips {
                let i = at % msg.len();
                msg[i] = byte;
            }
            let mut out = Vec::new();
            let _ = read_response(&msg, &name(), &mut out);
            prop_assert!(out.len() <= MAX_ADDRS);
        }

        #[test]
        fn every_valid_name_round_trips_through_query_and_answer(stem in "[a-z0-9-]{1,63}") {
            let name = LocalName::parse(&format!("{stem}.local")).unwrap();
            let mut msg = Vec::new();
            write_query(&name, &mut msg);
            // Turn the query into a response with one A answer pointing at the question.
            msg[2] = 0x84;
            msg[5] = 1;
            msg[7] = 1;
            let second_question = msg.len() - 6;
            msg.truncate(second_question);
            msg.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 10, 0, 4, 10, 0, 0, 1]);
            let mut out = Vec::new();
            read_response(&msg, &name, &mut out).unwrap();
            prop_assert_eq!(out, vec![IpAddr::from([10, 0, 0, 1])]);
        }
    }
}
