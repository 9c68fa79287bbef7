//! Typed STUN attributes: decoding a value from the wire and encoding it back
//! (RFC 8489 §14, RFC 8656 §18, RFC 8445 §7.1).

use std::net::SocketAddr;

use crate::addr::{self, AddressFamily};
use crate::attribute_type as t;
use crate::{Error, TransactionId};

/// Longest USERNAME a sender may write: "fewer than 509 bytes" (RFC 8489 §14.3).
pub const MAX_USERNAME_LEN: usize = 508;
/// Longest REALM, NONCE, SOFTWARE or reason phrase in bytes (RFC 8489 §14.8-§14.14:
/// fewer than 128 characters, which can be as long as 763 bytes).
pub const MAX_TEXT_LEN: usize = 763;
/// Most characters in REALM, NONCE, SOFTWARE or a reason phrase (RFC 8489 §14).
pub const MAX_TEXT_CHARS: usize = 127;
/// Longest ALTERNATE-DOMAIN value, a DNS name (RFC 8489 §14.16).
pub const MAX_DOMAIN_LEN: usize = 255;
/// Largest value that fits an attribute's 16-bit length field (RFC 8489 §14).
pub const MAX_VALUE_LEN: usize = u16::MAX as usize;

/// A password algorithm for long-term credentials (RFC 8489 §18.5).
///
/// Keys are computed by [`crate::long_term_key`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum PasswordAlgorithm {
    /// MD5 (0x0001): key = MD5(username ":" realm ":" password).
    Md5,
    /// SHA-256 (0x0002): key = SHA-256(username ":" realm ":" password).
    Sha256,
}

impl PasswordAlgorithm {
    /// The algorithm number in the IANA "STUN Password Algorithms" registry.
    pub const fn code(self) -> u16 {
        match self {
            PasswordAlgorithm::Md5 => 0x0001,
            PasswordAlgorithm::Sha256 => 0x0002,
        }
    }

    /// The algorithm with this registry number, if it is one of ours.
    pub const fn from_code(code: u16) -> Option<Self> {
        match code {
            0x0001 => Some(PasswordAlgorithm::Md5),
            0x0002 => Some(PasswordAlgorithm::Sha256),
            _ => None,
        }
    }
}

/// One password algorithm with its parameters, the value of
/// PASSWORD-ALGORITHM and each entry of PASSWORD-ALGORITHMS (RFC 8489 §14.11,
/// §14.12). MD5 and SHA-256 have empty parameters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct PasswordAlgorithmValue<'a> {
    /// Algorithm number (IANA "STUN Password Algorithms").
    pub algorithm: u16,
    /// Algorithm parameters, without padding.
    pub parameters: &'a [u8],
}

impl PasswordAlgorithmValue<'_> {
    /// The algorithm, if this crate knows it.
    pub const fn known(&self) -> Option<PasswordAlgorithm> {
        PasswordAlgorithm::from_code(self.algorithm)
    }
}

impl From<PasswordAlgorithm> for PasswordAlgorithmValue<'static> {
    fn from(alg: PasswordAlgorithm) -> Self {
        PasswordAlgorithmValue {
            algorithm: alg.code(),
            parameters: &[],
        }
    }
}

/// Reads one algorithm entry (algorithm, parameters length, parameters) from
/// the front of `value`; returns it and the rest after its padding.
fn split_algorithm(typ: u16, value: &[u8]) -> Result<(PasswordAlgorithmValue<'_>, &[u8]), Error> {
    let bad = || Error::InvalidAttributeLength {
        typ,
        len: value.len(),
    };
    let (head, rest) = value.split_first_chunk::<4>().ok_or_else(bad)?;
    let algorithm = u16::from_be_bytes([head[0], head[1]]);
    let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
    let parameters = rest.get(..len).ok_or_else(bad)?;
    // RFC 8489 §14.11: parameters are padded to a 32-bit boundary inside the list.
    let rest = rest.get(padded(len).min(rest.len())..).unwrap_or_default();
    Ok((
        PasswordAlgorithmValue {
            algorithm,
            parameters,
        },
        rest,
    ))
}

/// The list of PASSWORD-ALGORITHMS (RFC 8489 §14.11): either a view of the
/// wire bytes (from a parsed message) or a slice given to the builder.
#[derive(Clone, Copy, Debug)]
pub struct PasswordAlgorithms<'a>(AlgList<'a>);

#[derive(Clone, Copy, Debug)]
enum AlgList<'a> {
    Wire(&'a [u8]),
    List(&'a [PasswordAlgorithmValue<'a>]),
}

impl<'a> PasswordAlgorithms<'a> {
    /// A list to write with [`crate::MessageBuilder::add`].
    pub const fn new(list: &'a [PasswordAlgorithmValue<'a>]) -> Self {
        PasswordAlgorithms(AlgList::List(list))
    }

    /// Validates and wraps wire bytes.
    fn from_wire(value: &'a [u8]) -> Result<Self, Error> {
        let mut rest = value;
        while !rest.is_empty() {
            rest = split_algorithm(t::PASSWORD_ALGORITHMS, rest)?.1;
        }
        Ok(PasswordAlgorithms(AlgList::Wire(value)))
    }

    /// The algorithms, in order of preference.
    pub fn iter(&self) -> impl Iterator<Item = PasswordAlgorithmValue<'a>> + 'a {
        let (mut wire, list): (&'a [u8], &'a [PasswordAlgorithmValue<'a>]) = match self.0 {
            AlgList::Wire(w) => (w, &[]),
            AlgList::List(l) => (&[], l),
        };
        // Wire bytes were validated by `from_wire`, so errors cannot occur here;
        // stop quietly if they did.
        let from_wire = core::iter::from_fn(move || {
            let (alg, rest) = split_algorithm(t::PASSWORD_ALGORITHMS, wire).ok()?;
            wire = rest;
            Some(alg)
        });
        list.iter().copied().chain(from_wire)
    }
}

impl PartialEq for PasswordAlgorithms<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}
impl Eq for PasswordAlgorithms<'_> {}

/// The attribute types listed in UNKNOWN-ATTRIBUTES (RFC 8489 §14.13): a view
/// of wire bytes or a slice given to the builder.
#[derive(Clone, Copy, Debug)]
pub struct UnknownAttributes<'a>(TypeList<'a>);

#[derive(Clone, Copy, Debug)]
enum TypeList<'a> {
    Wire(&'a [u8]),
    List(&'a [u16]),
}

impl<'a> UnknownAttributes<'a> {
    /// A list to write with [`crate::MessageBuilder::add`].
    pub const fn new(types: &'a [u16]) -> Self {
        UnknownAttributes(TypeList::List(types))
    }

    /// The listed attribute types.
    pub fn iter(&self) -> impl Iterator<Item = u16> + 'a {
        let (wire, list): (&'a [u8], &'a [u16]) = match self.0 {
            TypeList::Wire(w) => (w, &[]),
            TypeList::List(l) => (&[], l),
        };
        list.iter().copied().chain(
            wire.chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]])),
        )
    }

    /// Number of listed types.
    pub fn len(&self) -> usize {
        match self.0 {
            TypeList::Wire(w) => w.len() / 2,
            TypeList::List(l) => l.len(),
        }
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl PartialEq for UnknownAttributes<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}
impl Eq for UnknownAttributes<'_> {}

/// A STUN attribute, decoded (RFC 8489 §14, TURN RFC 8656 §18, ICE RFC 8445
/// §7.1). Borrowed values point into the parsed datagram (zero copy).
///
/// Text values are checked to be UTF-8 and passed through as they are: the
/// OpaqueString profile (RFC 8265) that RFC 8489 asks for on USERNAME, REALM
/// and passwords is not applied by this crate.
#[non_exhaustive]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Attribute<'a> {
    /// MAPPED-ADDRESS (RFC 8489 §14.1): the reflexive address, not XORed.
    MappedAddress(SocketAddr),
    /// XOR-MAPPED-ADDRESS (RFC 8489 §14.2): the reflexive transport address.
    XorMappedAddress(SocketAddr),
    /// USERNAME (RFC 8489 §14.3).
    Username(&'a str),
    /// USERHASH (RFC 8489 §14.4): SHA-256(username ":" realm), 32 bytes.
    UserHash(&'a [u8]),
    /// MESSAGE-INTEGRITY (RFC 8489 §14.5): HMAC-SHA1, 20 bytes.
    MessageIntegrity(&'a [u8]),
    /// MESSAGE-INTEGRITY-SHA256 (RFC 8489 §14.6): HMAC-SHA256, 16 to 32 bytes.
    MessageIntegritySha256(&'a [u8]),
    /// FINGERPRINT (RFC 8489 §14.7): CRC-32 of the message xor 0x5354554e.
    Fingerprint(u32),
    /// ERROR-CODE (RFC 8489 §14.8): code 300..=699 and a reason phrase.
    ErrorCode {
        /// The error code, class * 100 + number.
        code: u16,
        /// The reason phrase.
        reason: &'a str,
    },
    /// REALM (RFC 8489 §14.9).
    Realm(&'a str),
    /// NONCE (RFC 8489 §14.10).
    Nonce(&'a str),
    /// PASSWORD-ALGORITHMS (RFC 8489 §14.11).
    PasswordAlgorithms(PasswordAlgorithms<'a>),
    /// PASSWORD-ALGORITHM (RFC 8489 §14.12).
    PasswordAlgorithm(PasswordAlgorithmValue<'a>),
    /// UNKNOWN-ATTRIBUTES (RFC 8489 §14.13), in a 420 response.
    UnknownAttributes(UnknownAttributes<'a>),
    /// SOFTWARE (RFC 8489 §14.14).
    Software(&'a str),
    /// ALTERNATE-SERVER (RFC 8489 §14.15), in a 300 response.
    AlternateServer(SocketAddr),
    /// ALTERNATE-DOMAIN (RFC 8489 §14.16).
    AlternateDomain(&'a str),
    /// PRIORITY (RFC 8445 §7.1.1): the peer-reflexive priority.
    Priority(u32),
    /// USE-CANDIDATE (RFC 8445 §7.1.2): nomination flag.
    UseCandidate,
    /// ICE-CONTROLLED (RFC 8445 §7.1.3): the sender's tie-breaker.
    IceControlled(u64),
    /// ICE-CONTROLLING (RFC 8445 §7.1.3): the sender's tie-breaker.
    IceControlling(u64),
    /// CHANNEL-NUMBER (RFC 8656 §18.1): 0x4000..=0x4FFF.
    ChannelNumber(u16),
    /// LIFETIME (RFC 8656 §18.2), in seconds.
    Lifetime(u32),
    /// XOR-PEER-ADDRESS (RFC 8656 §18.3).
    XorPeerAddress(SocketAddr),
    /// DATA (RFC 8656 §18.4): the application datagram.
    Data(&'a [u8]),
    /// XOR-RELAYED-ADDRESS (RFC 8656 §18.5).
    XorRelayedAddress(SocketAddr),
    /// REQUESTED-ADDRESS-FAMILY (RFC 8656 §18.6).
    RequestedAddressFamily(AddressFamily),
    /// EVEN-PORT (RFC 8656 §18.7).
    EvenPort {
        /// The R bit: also reserve the next-higher port.
        reserve: bool,
    },
    /// REQUESTED-TRANSPORT (RFC 8656 §18.8): an IP protocol number (17 = UDP).
    RequestedTransport(u8),
    /// DONT-FRAGMENT (RFC 8656 §18.9).
    DontFragment,
    /// RESERVATION-TOKEN (RFC 8656 §18.10).
    ReservationToken(u64),
    /// ADDITIONAL-ADDRESS-FAMILY (RFC 8656 §18.11).
    AdditionalAddressFamily(AddressFamily),
    /// ADDRESS-ERROR-CODE (RFC 8656 §18.12).
    AddressErrorCode {
        /// The family the error is about.
        family: AddressFamily,
        /// The error code, class * 100 + number.
        code: u16,
        /// The reason phrase.
        reason: &'a str,
    },
    /// ICMP (RFC 8656 §18.13), in a Data indication.
    ///
    /// Laid out as the RFC 8656 §18.13 figure draws it: 16 reserved bits, a 7-bit
    /// type and a 9-bit code, then 32 bits of error data. (Some stacks read
    /// type and code as one byte each; the RFC figure is followed here.)
    Icmp {
        /// ICMP type, 0..=127 (ICMP error types all fit).
        typ: u8,
        /// ICMP code, 0..=511.
        code: u16,
        /// Error data (the next-hop MTU for "packet too big" /
        /// "fragmentation needed", else zero).
        data: u32,
    },
    /// An attribute this crate does not type, kept raw.
    Unknown {
        /// Attribute type.
        typ: u16,
        /// Value, without padding.
        value: &'a [u8],
    },
}

/// `n` rounded up to a multiple of 4 (RFC 8489 §14: attributes are 32-bit aligned).
pub(crate) const fn padded(n: usize) -> usize {
    (n + 3) & !3
}

fn fixed<const N: usize>(typ: u16, value: &[u8]) -> Result<[u8; N], Error> {
    value.try_into().map_err(|_| Error::InvalidAttributeLength {
        typ,
        len: value.len(),
    })
}

fn text(typ: u16, value: &[u8]) -> Result<&str, Error> {
    core::str::from_utf8(value).map_err(|_| Error::InvalidUtf8 { typ })
}

/// Decodes class/number into a code (RFC 8489 §14.8).
fn error_code(typ: u16, class: u8, number: u8) -> Result<u16, Error> {
    if !(3..=6).contains(&class) || number > 99 {
        return Err(Error::InvalidErrorCode { typ, class, number });
    }
    Ok(u16::from(class) * 100 + u16::from(number))
}

fn family(typ: u16, value: &[u8]) -> Result<AddressFamily, Error> {
    let [f, _, _, _] = fixed::<4>(typ, value)?;
    AddressFamily::from_u8(typ, f)
}

impl<'a> Attribute<'a> {
    /// The attribute type code (IANA "STUN Attributes" registry).
    pub const fn typ(&self) -> u16 {
        match self {
            Attribute::MappedAddress(_) => t::MAPPED_ADDRESS,
            Attribute::XorMappedAddress(_) => t::XOR_MAPPED_ADDRESS,
            Attribute::Username(_) => t::USERNAME,
            Attribute::UserHash(_) => t::USERHASH,
            Attribute::MessageIntegrity(_) => t::MESSAGE_INTEGRITY,
            Attribute::MessageIntegritySha256(_) => t::MESSAGE_INTEGRITY_SHA256,
            Attribute::Fingerprint(_) => t::FINGERPRINT,
            Attribute::ErrorCode { .. } => t::ERROR_CODE,
            Attribute::Realm(_) => t::REALM,
            Attribute::Nonce(_) => t::NONCE,
            Attribute::PasswordAlgorithms(_) => t::PASSWORD_ALGORITHMS,
            Attribute::PasswordAlgorithm(_) => t::PASSWORD_ALGORITHM,
            Attribute::UnknownAttributes(_) => t::UNKNOWN_ATTRIBUTES,
            Attribute::Software(_) => t::SOFTWARE,
            Attribute::AlternateServer(_) => t::ALTERNATE_SERVER,
            Attribute::AlternateDomain(_) => t::ALTERNATE_DOMAIN,
            Attribute::Priority(_) => t::PRIORITY,
            Attribute::UseCandidate => t::USE_CANDIDATE,
            Attribute::IceControlled(_) => t::ICE_CONTROLLED,
            Attribute::IceControlling(_) => t::ICE_CONTROLLING,
            Attribute::ChannelNumber(_) => t::CHANNEL_NUMBER,
            Attribute::Lifetime(_) => t::LIFETIME,
            Attribute::XorPeerAddress(_) => t::XOR_PEER_ADDRESS,
            Attribute::Data(_) => t::DATA,
            Attribute::XorRelayedAddress(_) => t::XOR_RELAYED_ADDRESS,
            Attribute::RequestedAddressFamily(_) => t::REQUESTED_ADDRESS_FAMILY,
            Attribute::EvenPort { .. } => t::EVEN_PORT,
            Attribute::RequestedTransport(_) => t::REQUESTED_TRANSPORT,
            Attribute::DontFragment => t::DONT_FRAGMENT,
            Attribute::ReservationToken(_) => t::RESERVATION_TOKEN,
            Attribute::AdditionalAddressFamily(_) => t::ADDITIONAL_ADDRESS_FAMILY,
            Attribute::AddressErrorCode { .. } => t::ADDRESS_ERROR_CODE,
            Attribute::Icmp { .. } => t::ICMP,
            Attribute::Unknown { typ, .. } => *typ,
        }
    }

    /// Decodes the value of an attribute of type `typ`. `tid` is the
    /// message's transaction id, needed by the XOR-*-ADDRESS attributes.
    pub fn decode(typ: u16, value: &'a [u8], tid: &TransactionId) -> Result<Self, Error> {
        let bad_len = || Error::InvalidAttributeLength {
            typ,
            len: value.len(),
        };
        Ok(match typ {
            t::MAPPED_ADDRESS => Attribute::MappedAddress(addr::decode(typ, value, None)?),
            t::XOR_MAPPED_ADDRESS => {
                Attribute::XorMappedAddress(addr::decode(typ, value, Some(tid))?)
            }
            t::USERNAME => Attribute::Username(text(typ, value)?),
            t::USERHASH => {
                fixed::<32>(typ, value)?;
                Attribute::UserHash(value)
            }
            t::MESSAGE_INTEGRITY => {
                fixed::<20>(typ, value)?;
                Attribute::MessageIntegrity(value)
            }
            t::MESSAGE_INTEGRITY_SHA256 => {
                // RFC 8489 §14.6: at least 16, at most 32, a multiple of 4.
                if !(16..=32).contains(&value.len()) || value.len() % 4 != 0 {
                    return Err(bad_len());
                }
                Attribute::MessageIntegritySha256(value)
            }
            t::FINGERPRINT => Attribute::Fingerprint(u32::from_be_bytes(fixed(typ, value)?)),
            t::ERROR_CODE => {
                let (head, reason) = value.split_first_chunk::<4>().ok_or_else(bad_len)?;
                Attribute::ErrorCode {
                    code: error_code(typ, head[2] & 0x07, head[3])?,
                    reason: text(typ, reason)?,
                }
            }
            t::REALM => Attribute::Realm(text(typ, value)?),
            t::NONCE => Attribute::Nonce(text(typ, value)?),
            t::PASSWORD_ALGORITHMS => {
                Attribute::PasswordAlgorithms(PasswordAlgorithms::from_wire(value)?)
            }
            t::PASSWORD_ALGORITHM => {
                let (alg, rest) = split_algorithm(typ, value)?;
                if !rest.is_empty() || alg.parameters.len() != value.len() - 4 {
                    return Err(bad_len());
                }
                Attribute::PasswordAlgorithm(alg)
            }
            t::UNKNOWN_ATTRIBUTES => {
                if value.len() % 2 != 0 {
                    return Err(bad_len());
                }
                Attribute::UnknownAttributes(UnknownAttributes(TypeList::Wire(value)))
            }
            t::SOFTWARE => Attribute::Software(text(typ, value)?),
            t::ALTERNATE_SERVER => Attribute::AlternateServer(addr::decode(typ, value, None)?),
            t::ALTERNATE_DOMAIN => Attribute::AlternateDomain(text(typ, value)?),
            t::PRIORITY => Attribute::Priority(u32::from_be_bytes(fixed(typ, value)?)),
            t::USE_CANDIDATE => {
                fixed::<0>(typ, value)?;
                Attribute::UseCandidate
            }
            t::ICE_CONTROLLED => Attribute::IceControlled(u64::from_be_bytes(fixed(typ, value)?)),
            t::ICE_CONTROLLING => Attribute::IceControlling(u64::from_be_bytes(fixed(typ, value)?)),
            t::CHANNEL_NUMBER => {
                let [a, b, _, _] = fixed::<4>(typ, value)?;
                Attribute::ChannelNumber(u16::from_be_bytes([a, b]))
            }
            t::LIFETIME => Attribute::Lifetime(u32::from_be_bytes(fixed(typ, value)?)),
            t::XOR_PEER_ADDRESS => Attribute::XorPeerAddress(addr::decode(typ, value, Some(tid))?),
            t::DATA => Attribute::Data(value),
            t::XOR_RELAYED_ADDRESS => {
                Attribute::XorRelayedAddress(addr::decode(typ, value, Some(tid))?)
            }
            t::REQUESTED_ADDRESS_FAMILY => Attribute::RequestedAddressFamily(family(typ, value)?),
            t::EVEN_PORT => {
                let [flags] = fixed::<1>(typ, value)?;
                Attribute::EvenPort {
                    reserve: flags & 0x80 != 0,
                }
            }
            t::REQUESTED_TRANSPORT => {
                let [protocol, _, _, _] = fixed::<4>(typ, value)?;
                Attribute::RequestedTransport(protocol)
            }
            t::DONT_FRAGMENT => {
                fixed::<0>(typ, value)?;
                Attribute::DontFragment
            }
            t::RESERVATION_TOKEN => {
                Attribute::ReservationToken(u64::from_be_bytes(fixed(typ, value)?))
            }
            t::ADDITIONAL_ADDRESS_FAMILY => Attribute::AdditionalAddressFamily(family(typ, value)?),
            t::ADDRESS_ERROR_CODE => {
                let (head, reason) = value.split_first_chunk::<4>().ok_or_else(bad_len)?;
                Attribute::AddressErrorCode {
                    family: AddressFamily::from_u8(typ, head[0])?,
                    code: error_code(typ, head[2] & 0x07, head[3])?,
                    reason: text(typ, reason)?,
                }
            }
            t::ICMP => {
                let [_, _, hi, lo, d0, d1, d2, d3] = fixed::<8>(typ, value)?;
                // RFC 8656 §18.13: 7-bit type, 9-bit code.
                let word = u16::from_be_bytes([hi, lo]);
                Attribute::Icmp {
                    typ: (word >> 9) as u8,
                    code: word & 0x01FF,
                    data: u32::from_be_bytes([d0, d1, d2, d3]),
                }
            }
            _ => Attribute::Unknown { typ, value },
        })
    }

    /// Appends the value (without header or padding) to `out`, checking the
    /// limits RFC 8489 / RFC 8656 put on senders. On error `out` is unchanged.
    pub(crate) fn encode_value(&self, tid: &TransactionId, out: &mut Vec<u8>) -> Result<(), Error> {
        let start = out.len();
        let result = self.encode_unchecked(tid, out);
        let len = out.len() - start;
        let result = result.and_then(|()| {
            if len > MAX_VALUE_LEN {
                Err(Error::ValueTooLong {
                    typ: self.typ(),
                    len,
                    max: MAX_VALUE_LEN,
                })
            } else {
                Ok(())
            }
        });
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    fn encode_unchecked(&self, tid: &TransactionId, out: &mut Vec<u8>) -> Result<(), Error> {
        let typ = self.typ();
        match *self {
            Attribute::MappedAddress(a) | Attribute::AlternateServer(a) => {
                addr::encode(&a, None, out)
            }
            Attribute::XorMappedAddress(a)
            | Attribute::XorPeerAddress(a)
            | Attribute::XorRelayedAddress(a) => addr::encode(&a, Some(tid), out),
            Attribute::Username(s) => {
                check_len(typ, s.len(), MAX_USERNAME_LEN)?;
                out.extend_from_slice(s.as_bytes());
            }
            Attribute::UserHash(h) => {
                if h.len() != 32 {
                    return Err(Error::InvalidValue {
                        typ,
                        reason: "USERHASH must be 32 bytes",
                    });
                }
                out.extend_from_slice(h);
            }
            Attribute::MessageIntegrity(_)
            | Attribute::MessageIntegritySha256(_)
            | Attribute::Fingerprint(_) => return Err(Error::ComputedAttribute { typ }),
            Attribute::ErrorCode { code, reason } => {
                check_text(typ, reason)?;
                push_error_code(typ, code, out)?;
                out.extend_from_slice(reason.as_bytes());
            }
            Attribute::Realm(s) | Attribute::Nonce(s) | Attribute::Software(s) => {
                check_text(typ, s)?;
                out.extend_from_slice(s.as_bytes());
            }
            Attribute::PasswordAlgorithms(list) => {
                for alg in list.iter() {
                    push_algorithm(typ, &alg, out)?;
                    out.resize(padded(out.len()), 0);
                }
            }
            Attribute::PasswordAlgorithm(alg) => push_algorithm(typ, &alg, out)?,
            Attribute::UnknownAttributes(list) => {
                for ty in list.iter() {
                    out.extend_from_slice(&ty.to_be_bytes());
                }
            }
            Attribute::AlternateDomain(s) => {
                check_len(typ, s.len(), MAX_DOMAIN_LEN)?;
                out.extend_from_slice(s.as_bytes());
            }
            Attribute::Priority(p) => out.extend_from_slice(&p.to_be_bytes()),
            Attribute::UseCandidate | Attribute::DontFragment => {}
            Attribute::IceControlled(v)
            | Attribute::IceControlling(v)
            | Attribute::ReservationToken(v) => out.extend_from_slice(&v.to_be_bytes()),
            Attribute::ChannelNumber(n) => {
                // RFC 8656 §18.1: channel number then 16 RFFU bits.
                out.extend_from_slice(&n.to_be_bytes());
                out.extend_from_slice(&[0, 0]);
            }
            Attribute::Lifetime(secs) => out.extend_from_slice(&secs.to_be_bytes()),
            Attribute::Data(d) => {
                check_len(typ, d.len(), MAX_VALUE_LEN)?;
                out.extend_from_slice(d);
            }
            Attribute::RequestedAddressFamily(f) | Attribute::AdditionalAddressFamily(f) => {
                out.extend_from_slice(&[f.to_u8(), 0, 0, 0]);
            }
            Attribute::EvenPort { reserve } => out.push(if reserve { 0x80 } else { 0 }),
            Attribute::RequestedTransport(p) => out.extend_from_slice(&[p, 0, 0, 0]),
            Attribute::AddressErrorCode {
                family,
                code,
                reason,
            } => {
                check_text(typ, reason)?;
                let at = out.len();
                push_error_code(typ, code, out)?;
                // RFC 8656 §18.12: the family replaces the first reserved byte.
                if let Some(b) = out.get_mut(at) {
                    *b = family.to_u8();
                }
                out.extend_from_slice(reason.as_bytes());
            }
            Attribute::Icmp {
                typ: icmp_type,
                code,
                data,
            } => {
                if icmp_type > 0x7F || code > 0x01FF {
                    return Err(Error::InvalidValue {
                        typ,
                        reason: "ICMP type must fit 7 bits and code 9 bits",
                    });
                }
                let word = u16::from(icmp_type) << 9 | code;
                out.extend_from_slice(&[0, 0]);
                out.extend_from_slice(&word.to_be_bytes());
                out.extend_from_slice(&data.to_be_bytes());
            }
            Attribute::Unknown { typ, value } => {
                if matches!(
                    typ,
                    t::MESSAGE_INTEGRITY | t::MESSAGE_INTEGRITY_SHA256 | t::FINGERPRINT
                ) {
                    return Err(Error::ComputedAttribute { typ });
                }
                check_len(typ, value.len(), MAX_VALUE_LEN)?;
                out.extend_from_slice(value);
            }
        }
        Ok(())
    }
}

fn check_len(typ: u16, len: usize, max: usize) -> Result<(), Error> {
    if len > max {
        Err(Error::ValueTooLong { typ, len, max })
    } else {
        Ok(())
    }
}

/// RFC 8489 §14.8-§14.14: fewer than 128 characters and at most 763 bytes.
fn check_text(typ: u16, s: &str) -> Result<(), Error> {
    check_len(typ, s.len(), MAX_TEXT_LEN)?;
    let chars = s.chars().count();
    if chars > MAX_TEXT_CHARS {
        return Err(Error::ValueTooLong {
            typ,
            len: chars,
            max: MAX_TEXT_CHARS,
        });
    }
    Ok(())
}

/// Writes 21 reserved bits, the class (3 bits) and the number (8 bits)
/// (RFC 8489 §14.8).
fn push_error_code(typ: u16, code: u16, out: &mut Vec<u8>) -> Result<(), Error> {
    if !(300..=699).contains(&code) {
        return Err(Error::InvalidValue {
            typ,
            reason: "error code must be in 300..=699",
        });
    }
    // Both fit a byte: class is 3..=6 and number 0..=99.
    let class = (code / 100) as u8;
    let number = (code % 100) as u8;
    out.extend_from_slice(&[0, 0, class, number]);
    Ok(())
}

fn push_algorithm(
    typ: u16,
    alg: &PasswordAlgorithmValue<'_>,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let len = u16::try_from(alg.parameters.len()).map_err(|_| Error::ValueTooLong {
        typ,
        len: alg.parameters.len(),
        max: MAX_VALUE_LEN,
    })?;
    out.extend_from_slice(&alg.algorithm.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(alg.parameters);
    Ok(())
}
