//! Zero-copy view of a received STUN message (RFC 8489 §5, §6.3, §14).

use aws_lc_rs::hmac;

use crate::attribute::{Attribute, padded};
use crate::attribute_type as t;
use crate::credentials::{fingerprint, hmac, mac_matches};
use crate::header::{HEADER_LEN, MAGIC_COOKIE, split_message_type};
use crate::{Class, Error, Method, TransactionId};

/// Most attributes [`Message::parse`] accepts in one message. A hostile
/// message cannot make the parser (or any later walk) do more work than this.
pub const MAX_ATTRIBUTES: usize = 64;

/// A parsed STUN message: a validated view into the datagram it came from
/// (RFC 8489 §5). Attribute values are decoded lazily by
/// [`Message::attributes`] and borrow from the datagram.
///
/// Attributes that RFC 8489 tells receivers to ignore are not shown: anything
/// after MESSAGE-INTEGRITY except MESSAGE-INTEGRITY-SHA256 and FINGERPRINT
/// (§14.5), anything after MESSAGE-INTEGRITY-SHA256 except FINGERPRINT
/// (§14.6), and anything after FINGERPRINT (§14.7).
///
/// ```
/// use ferrtc_stun::{Attribute, Class, Message, MessageBuilder, Method, TransactionId};
///
/// let mut buf = Vec::new();
/// let tid = TransactionId([7; 12]);
/// let mut b = MessageBuilder::new(&mut buf, Class::Request, Method::BINDING, tid);
/// b.add(&Attribute::Username("alice:bob"))?;
/// b.add_message_integrity(b"secret");
/// b.add_fingerprint();
/// b.finish();
///
/// let msg = Message::parse(&buf)?;
/// assert_eq!((msg.class(), msg.method()), (Class::Request, Method::BINDING));
/// msg.verify_message_integrity(b"secret")?;
/// msg.verify_fingerprint()?;
/// assert_eq!(msg.attributes().next(), Some(Ok(Attribute::Username("alice:bob"))));
/// # Ok::<(), ferrtc_stun::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Message<'a> {
    bytes: &'a [u8],
    class: Class,
    method: Method,
    tid: TransactionId,
    /// Offsets (from the start of the message) of the attribute headers of
    /// the visible integrity and fingerprint attributes.
    message_integrity: Option<usize>,
    message_integrity_sha256: Option<usize>,
    fingerprint: Option<usize>,
}

/// One attribute TLV as found on the wire.
#[derive(Clone, Copy)]
struct RawAttribute<'a> {
    /// Offset of the attribute header from the start of the message.
    offset: usize,
    typ: u16,
    value: &'a [u8],
}

/// Walks the attribute TLVs of a message body. Yields `Err` once and stops
/// on a malformed TLV.
struct RawAttributes<'a> {
    bytes: &'a [u8],
    offset: usize,
    done: bool,
}

impl<'a> Iterator for RawAttributes<'a> {
    type Item = Result<RawAttribute<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let rest = self.bytes.get(self.offset..).unwrap_or_default();
        if rest.is_empty() {
            self.done = true;
            return None;
        }
        let result = read_tlv(rest, self.offset);
        match &result {
            Ok(raw) => self.offset += 4 + padded(raw.value.len()),
            Err(_) => self.done = true,
        }
        Some(result)
    }
}

/// Reads the attribute TLV at the front of `rest`, which starts `offset`
/// bytes into the message (RFC 8489 §14: type, length, value, padding).
fn read_tlv(rest: &[u8], offset: usize) -> Result<RawAttribute<'_>, Error> {
    let (head, after) = rest
        .split_first_chunk::<4>()
        .ok_or(Error::AttributeOverflow { typ: 0, len: 0 })?;
    let typ = u16::from_be_bytes([head[0], head[1]]);
    let len = u16::from_be_bytes([head[2], head[3]]);
    let overflow = Error::AttributeOverflow { typ, len };
    // The value is padded to a multiple of 4 bytes, and the padding must be
    // there too.
    if padded(usize::from(len)) > after.len() {
        return Err(overflow);
    }
    let value = after.get(..usize::from(len)).ok_or(overflow)?;
    Ok(RawAttribute { offset, typ, value })
}

/// Which attributes a receiver still looks at, after integrity and
/// fingerprint attributes (RFC 8489 §14.5-§14.7).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
enum Stage {
    #[default]
    Open,
    AfterIntegrity,
    AfterIntegritySha256,
    AfterFingerprint,
}

impl Stage {
    /// Whether an attribute of type `typ` is visible now; advances the stage.
    fn admit(&mut self, typ: u16) -> bool {
        let (visible, next) = match (*self, typ) {
            (Stage::AfterFingerprint, _) => (false, Stage::AfterFingerprint),
            (_, t::FINGERPRINT) => (true, Stage::AfterFingerprint),
            (Stage::Open | Stage::AfterIntegrity, t::MESSAGE_INTEGRITY_SHA256) => {
                (true, Stage::AfterIntegritySha256)
            }
            (Stage::Open, t::MESSAGE_INTEGRITY) => (true, Stage::AfterIntegrity),
            (Stage::Open, _) => (true, Stage::Open),
            (stage, _) => (false, stage),
        };
        *self = next;
        visible
    }
}

impl<'a> Message<'a> {
    /// Parses and validates a datagram as a STUN message (RFC 8489 §5, §6.3):
    /// header, magic cookie, length (a multiple of 4 that matches the
    /// datagram), and the attribute TLV layout, with at most
    /// [`MAX_ATTRIBUTES`] attributes. Attribute values are checked when
    /// [`Message::attributes`] decodes them.
    pub fn parse(datagram: &'a [u8]) -> Result<Message<'a>, Error> {
        let (header, body) = datagram
            .split_first_chunk::<HEADER_LEN>()
            .ok_or(Error::TooShort {
                len: datagram.len(),
            })?;
        let [t0, t1, l0, l1, c0, c1, c2, c3, tid @ ..] = *header;
        if t0 & 0xC0 != 0 {
            return Err(Error::NotStun);
        }
        let cookie = u32::from_be_bytes([c0, c1, c2, c3]);
        if cookie != MAGIC_COOKIE {
            return Err(Error::BadMagicCookie { found: cookie });
        }
        let len = u16::from_be_bytes([l0, l1]);
        if len % 4 != 0 {
            return Err(Error::UnalignedLength { len });
        }
        if usize::from(len) != body.len() {
            return Err(Error::LengthMismatch {
                header: usize::from(len),
                actual: body.len(),
            });
        }
        let (class, method) = split_message_type(u16::from_be_bytes([t0, t1]));

        let mut msg = Message {
            bytes: datagram,
            class,
            method,
            tid: TransactionId(tid),
            message_integrity: None,
            message_integrity_sha256: None,
            fingerprint: None,
        };
        let mut stage = Stage::Open;
        for (count, raw) in msg.raw().enumerate() {
            if count >= MAX_ATTRIBUTES {
                return Err(Error::TooManyAttributes {
                    max: MAX_ATTRIBUTES,
                });
            }
            let raw = raw?;
            if stage.admit(raw.typ) {
                match raw.typ {
                    t::MESSAGE_INTEGRITY => msg.message_integrity = Some(raw.offset),
                    t::MESSAGE_INTEGRITY_SHA256 => msg.message_integrity_sha256 = Some(raw.offset),
                    t::FINGERPRINT => msg.fingerprint = Some(raw.offset),
                    _ => {}
                }
            }
        }
        Ok(msg)
    }

    fn raw(&self) -> RawAttributes<'a> {
        RawAttributes {
            bytes: self.bytes,
            offset: HEADER_LEN,
            done: false,
        }
    }

    /// The attributes a receiver processes, in order (structure was validated
    /// by `parse`, so the raw walk cannot fail here).
    fn visible(&self) -> impl Iterator<Item = RawAttribute<'a>> + 'a {
        let mut stage = Stage::Open;
        self.raw()
            .take(MAX_ATTRIBUTES)
            .map_while(Result::ok)
            .filter(move |raw| stage.admit(raw.typ))
    }

    /// The message class (RFC 8489 §5).
    pub fn class(&self) -> Class {
        self.class
    }

    /// The message method (RFC 8489 §5).
    pub fn method(&self) -> Method {
        self.method
    }

    /// The transaction id (RFC 8489 §5).
    pub fn transaction_id(&self) -> TransactionId {
        self.tid
    }

    /// The whole message, header included.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The attributes, decoded, in message order. A malformed value yields
    /// `Err` for that attribute and the walk goes on. Attributes RFC 8489 says
    /// to ignore (after the integrity and fingerprint attributes) are skipped.
    pub fn attributes(&self) -> impl Iterator<Item = Result<Attribute<'a>, Error>> + 'a {
        let tid = self.tid;
        self.visible()
            .map(move |raw| Attribute::decode(raw.typ, raw.value, &tid))
    }

    /// The first attribute of type `typ`, decoded, if present.
    pub fn attribute(&self, typ: u16) -> Option<Result<Attribute<'a>, Error>> {
        let tid = self.tid;
        self.visible()
            .find(|raw| raw.typ == typ)
            .map(|raw| Attribute::decode(raw.typ, raw.value, &tid))
    }

    /// The attributes as raw `(type, value)` pairs, in message order, with the
    /// same skipping rules as [`Message::attributes`].
    pub fn raw_attributes(&self) -> impl Iterator<Item = (u16, &'a [u8])> + 'a {
        self.visible().map(|raw| (raw.typ, raw.value))
    }

    /// The comprehension-required attribute types (below 0x8000) that this
    /// crate does not understand, in order: a server answers a request that
    /// has any with 420 (Unknown Attribute) listing them in
    /// UNKNOWN-ATTRIBUTES (RFC 8489 §6.3.1.1, §14.13).
    pub fn unknown_comprehension_required(&self) -> impl Iterator<Item = u16> + 'a {
        self.visible()
            .map(|raw| raw.typ)
            .filter(|&typ| t::is_comprehension_required(typ) && !t::is_known(typ))
    }

    /// Whether the message carries MESSAGE-INTEGRITY.
    pub fn has_message_integrity(&self) -> bool {
        self.message_integrity.is_some()
    }

    /// Whether the message carries MESSAGE-INTEGRITY-SHA256.
    pub fn has_message_integrity_sha256(&self) -> bool {
        self.message_integrity_sha256.is_some()
    }

    /// Whether the message carries FINGERPRINT.
    pub fn has_fingerprint(&self) -> bool {
        self.fingerprint.is_some()
    }

    /// The value of the attribute whose header is at `offset`, and the bytes
    /// the MAC or CRC covers: the header with its length field set to end
    /// right after this attribute (RFC 8489 §14.5), then everything before it.
    fn covered(&self, offset: usize) -> (&'a [u8], [u8; 2], &'a [u8], &'a [u8]) {
        let value_len = self
            .bytes
            .get(offset + 2..offset + 4)
            .map_or(0, |l| usize::from(u16::from_be_bytes([l[0], l[1]])));
        let value = self
            .bytes
            .get(offset + 4..offset + 4 + value_len)
            .unwrap_or_default();
        // The total fits: `offset + 4 + padded(len)` is within a datagram whose
        // length fits in the 16-bit header field plus 20.
        let adjusted = (offset + 4 + padded(value_len) - HEADER_LEN) as u16;
        let type_bytes = self.bytes.get(..2).unwrap_or_default();
        let before = self.bytes.get(4..offset).unwrap_or_default();
        (value, adjusted.to_be_bytes(), type_bytes, before)
    }

    /// Checks MESSAGE-INTEGRITY, HMAC-SHA1 with `key` (RFC 8489 §14.5), in
    /// constant time. `key` comes from [`crate::short_term_key`] or
    /// [`crate::long_term_key`].
    pub fn verify_message_integrity(&self, key: &[u8]) -> Result<(), Error> {
        const NAME: &str = "MESSAGE-INTEGRITY";
        let offset = self
            .message_integrity
            .ok_or(Error::MissingIntegrity(NAME))?;
        let (value, len, typ, before) = self.covered(offset);
        if value.len() != 20 {
            return Err(Error::InvalidAttributeLength {
                typ: t::MESSAGE_INTEGRITY,
                len: value.len(),
            });
        }
        let tag = hmac(
            hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            key,
            &[typ, &len, before],
        );
        if mac_matches(tag.as_ref(), value) {
            Ok(())
        } else {
            Err(Error::IntegrityMismatch(NAME))
        }
    }

    /// Checks MESSAGE-INTEGRITY-SHA256, HMAC-SHA256 with `key` truncated to
    /// the 16..=32 bytes the attribute carries (RFC 8489 §14.6), in constant
    /// time.
    pub fn verify_message_integrity_sha256(&self, key: &[u8]) -> Result<(), Error> {
        const NAME: &str = "MESSAGE-INTEGRITY-SHA256";
        let offset = self
            .message_integrity_sha256
            .ok_or(Error::MissingIntegrity(NAME))?;
        let (value, len, typ, before) = self.covered(offset);
        if !(16..=32).contains(&value.len()) || value.len() % 4 != 0 {
            return Err(Error::InvalidAttributeLength {
                typ: t::MESSAGE_INTEGRITY_SHA256,
                len: value.len(),
            });
        }
        let tag = hmac(hmac::HMAC_SHA256, key, &[typ, &len, before]);
        if mac_matches(tag.as_ref(), value) {
            Ok(())
        } else {
            Err(Error::IntegrityMismatch(NAME))
        }
    }

    /// Checks FINGERPRINT (RFC 8489 §14.7): `Err` if it is absent or wrong.
    pub fn verify_fingerprint(&self) -> Result<(), Error> {
        let offset = self.fingerprint.ok_or(Error::MissingFingerprint)?;
        let (value, len, typ, before) = self.covered(offset);
        let found: [u8; 4] = value
            .try_into()
            .map_err(|_| Error::InvalidAttributeLength {
                typ: t::FINGERPRINT,
                len: value.len(),
            })?;
        let found = u32::from_be_bytes(found);
        let expected = fingerprint(&[typ, &len, before]);
        if found == expected {
            Ok(())
        } else {
            Err(Error::FingerprintMismatch { found, expected })
        }
    }
}
