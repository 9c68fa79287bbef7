//! Writing STUN messages into a caller-owned buffer (RFC 8489 §5, §14).

use aws_lc_rs::hmac;

use crate::attribute::{Attribute, padded};
use crate::attribute_type as t;
use crate::credentials::{fingerprint, hmac};
use crate::header::{HEADER_LEN, MAGIC_COOKIE, message_type};
use crate::{Class, Error, Method, TransactionId};

/// Where the builder is in the attribute order RFC 8489 §14.5-§14.7 demands:
/// ordinary attributes, then MESSAGE-INTEGRITY, then
/// MESSAGE-INTEGRITY-SHA256, then FINGERPRINT last.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Stage {
    Open,
    Integrity,
    IntegritySha256,
    Fingerprint,
}

/// Builds one STUN message into a caller-owned `Vec<u8>` (no allocation
/// once the buffer has grown to size): the header first, then attributes in
/// the order added, then optionally MESSAGE-INTEGRITY,
/// MESSAGE-INTEGRITY-SHA256 and FINGERPRINT, which the builder computes
/// (RFC 8489 §14.5-§14.7). The header's length field is kept current, so
/// `buf` holds a complete message after every call.
///
/// ```
/// use ferrtc_stun::{Attribute, Class, MessageBuilder, Method, TransactionId, is_stun_message};
///
/// let mut buf = Vec::with_capacity(1500);
/// let mut b = MessageBuilder::new(&mut buf, Class::Request, Method::BINDING, TransactionId([1; 12]));
/// b.add(&Attribute::Priority(0x6e0001ff))?;
/// b.add(&Attribute::IceControlling(42))?;
/// b.add(&Attribute::UseCandidate)?;
/// b.add_message_integrity(b"password");
/// b.add_fingerprint();
/// let len = b.finish();
/// assert_eq!(len, buf.len());
/// assert!(is_stun_message(&buf));
/// # Ok::<(), ferrtc_stun::Error>(())
/// ```
#[derive(Debug)]
pub struct MessageBuilder<'b> {
    buf: &'b mut Vec<u8>,
    tid: TransactionId,
    stage: Stage,
    padding: u8,
}

impl<'b> MessageBuilder<'b> {
    /// Clears `buf` and writes the 20-byte header (RFC 8489 §5).
    pub fn new(buf: &'b mut Vec<u8>, class: Class, method: Method, tid: TransactionId) -> Self {
        buf.clear();
        buf.extend_from_slice(&message_type(class, method).to_be_bytes());
        buf.extend_from_slice(&[0, 0]);
        buf.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        buf.extend_from_slice(&tid.0);
        MessageBuilder {
            buf,
            tid,
            stage: Stage::Open,
            padding: 0,
        }
    }

    /// Sets the byte used to pad attribute values to 32 bits. RFC 8489 §14
    /// says zero (the default); RFC 5389 allowed any value, and the RFC 5769
    /// test vectors pad with 0x20. Only useful to reproduce such messages.
    pub fn set_padding_byte(&mut self, byte: u8) {
        self.padding = byte;
    }

    /// Length of the attributes written so far.
    fn body_len(&self) -> usize {
        self.buf.len() - HEADER_LEN
    }

    /// Sets the header's length field to `len` bytes of attributes.
    fn set_length(&mut self, len: usize) -> Result<(), Error> {
        let len = u16::try_from(len).map_err(|_| Error::MessageTooLong)?;
        if let Some(field) = self.buf.get_mut(2..4) {
            field.copy_from_slice(&len.to_be_bytes());
        }
        Ok(())
    }

    /// Appends one attribute (RFC 8489 §14: type, length, value, padding).
    ///
    /// Errors, leaving the message as it was: MESSAGE-INTEGRITY(-SHA256) and
    /// FINGERPRINT (use the dedicated methods), any attribute after those,
    /// values that break the RFC's limits, and a message that would exceed
    /// 65535 bytes of attributes.
    pub fn add(&mut self, attr: &Attribute<'_>) -> Result<(), Error> {
        let typ = attr.typ();
        if matches!(
            typ,
            t::MESSAGE_INTEGRITY | t::MESSAGE_INTEGRITY_SHA256 | t::FINGERPRINT
        ) {
            return Err(Error::ComputedAttribute { typ });
        }
        if self.stage != Stage::Open {
            return Err(Error::AttributeAfterIntegrity { typ });
        }
        let start = self.buf.len();
        self.buf.extend_from_slice(&typ.to_be_bytes());
        self.buf.extend_from_slice(&[0, 0]);
        let written = attr.encode_value(&self.tid, self.buf).and_then(|()| {
            let value_len = self.buf.len() - start - 4;
            let end = start + 4 + padded(value_len);
            self.set_length(end - HEADER_LEN)?;
            Ok(value_len)
        });
        match written {
            Ok(value_len) => {
                // `encode_value` keeps values within the 16-bit length field.
                let len = value_len as u16;
                if let Some(field) = self.buf.get_mut(start + 2..start + 4) {
                    field.copy_from_slice(&len.to_be_bytes());
                }
                let end = start + 4 + padded(value_len);
                self.buf.resize(end, self.padding);
                Ok(())
            }
            Err(e) => {
                self.buf.truncate(start);
                Err(e)
            }
        }
    }

    /// Appends an integrity attribute of type `typ` whose value is the MAC
    /// (truncated to `len` bytes) over the message so far, with the length
    /// field already counting the attribute (RFC 8489 §14.5, §14.6).
    fn add_mac(
        &mut self,
        typ: u16,
        alg: hmac::Algorithm,
        key: &[u8],
        len: usize,
    ) -> Result<(), Error> {
        self.set_length(self.body_len() + 4 + len)?;
        let tag = hmac(alg, key, &[self.buf.as_slice()]);
        let mac = tag.as_ref().get(..len).unwrap_or(tag.as_ref());
        self.buf.extend_from_slice(&typ.to_be_bytes());
        self.buf
            .extend_from_slice(&(mac.len() as u16).to_be_bytes());
        self.buf.extend_from_slice(mac);
        Ok(())
    }

    /// Appends MESSAGE-INTEGRITY, HMAC-SHA1 keyed with `key` (RFC 8489
    /// §14.5), or returns why it cannot: it must come before
    /// MESSAGE-INTEGRITY-SHA256 and FINGERPRINT, once, and fit the message.
    pub fn try_add_message_integrity(&mut self, key: &[u8]) -> Result<(), Error> {
        if self.stage >= Stage::Integrity {
            return Err(Error::AttributeAfterIntegrity {
                typ: t::MESSAGE_INTEGRITY,
            });
        }
        self.add_mac(
            t::MESSAGE_INTEGRITY,
            hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            key,
            20,
        )?;
        self.stage = Stage::Integrity;
        Ok(())
    }

    /// Appends MESSAGE-INTEGRITY, HMAC-SHA1 keyed with `key` (RFC 8489
    /// §14.5). `key` comes from [`crate::short_term_key`] or
    /// [`crate::long_term_key`].
    ///
    /// Calling it twice, after MESSAGE-INTEGRITY-SHA256 or FINGERPRINT, or on
    /// a message already at the 64 KiB limit is API misuse: it then writes
    /// nothing (and asserts in debug builds). [`Self::try_add_message_integrity`]
    /// reports that as an error instead.
    pub fn add_message_integrity(&mut self, key: &[u8]) {
        let result = self.try_add_message_integrity(key);
        debug_assert!(result.is_ok(), "add_message_integrity: {result:?}");
    }

    /// Appends MESSAGE-INTEGRITY-SHA256 truncated to `len` bytes (16..=32, a
    /// multiple of 4; RFC 8489 §14.6), or returns why it cannot.
    pub fn try_add_message_integrity_sha256(
        &mut self,
        key: &[u8],
        len: usize,
    ) -> Result<(), Error> {
        if !(16..=32).contains(&len) || len % 4 != 0 {
            return Err(Error::InvalidValue {
                typ: t::MESSAGE_INTEGRITY_SHA256,
                reason: "length must be 16..=32 and a multiple of 4",
            });
        }
        if self.stage >= Stage::IntegritySha256 {
            return Err(Error::AttributeAfterIntegrity {
                typ: t::MESSAGE_INTEGRITY_SHA256,
            });
        }
        self.add_mac(t::MESSAGE_INTEGRITY_SHA256, hmac::HMAC_SHA256, key, len)?;
        self.stage = Stage::IntegritySha256;
        Ok(())
    }

    /// Appends MESSAGE-INTEGRITY-SHA256, the full 32-byte HMAC-SHA256 keyed
    /// with `key` (RFC 8489 §14.6). May follow MESSAGE-INTEGRITY.
    ///
    /// Misuse (twice, after FINGERPRINT, no room) writes nothing and asserts
    /// in debug builds; see [`Self::try_add_message_integrity_sha256`].
    pub fn add_message_integrity_sha256(&mut self, key: &[u8]) {
        let result = self.try_add_message_integrity_sha256(key, 32);
        debug_assert!(result.is_ok(), "add_message_integrity_sha256: {result:?}");
    }

    /// Appends FINGERPRINT, the CRC-32 of the message so far xor 0x5354554e,
    /// with the length field already counting it (RFC 8489 §14.7), or
    /// returns why it cannot (twice, or no room).
    pub fn try_add_fingerprint(&mut self) -> Result<(), Error> {
        if self.stage >= Stage::Fingerprint {
            return Err(Error::AttributeAfterIntegrity {
                typ: t::FINGERPRINT,
            });
        }
        self.set_length(self.body_len() + 8)?;
        let crc = fingerprint(&[self.buf.as_slice()]);
        self.buf.extend_from_slice(&t::FINGERPRINT.to_be_bytes());
        self.buf.extend_from_slice(&4u16.to_be_bytes());
        self.buf.extend_from_slice(&crc.to_be_bytes());
        self.stage = Stage::Fingerprint;
        Ok(())
    }

    /// Appends FINGERPRINT (RFC 8489 §14.7); it must be last.
    ///
    /// Misuse (twice, no room) writes nothing and asserts in debug builds;
    /// see [`Self::try_add_fingerprint`].
    pub fn add_fingerprint(&mut self) {
        let result = self.try_add_fingerprint();
        debug_assert!(result.is_ok(), "add_fingerprint: {result:?}");
    }

    /// Ends the message and returns its total length; `buf` holds it.
    pub fn finish(self) -> usize {
        self.buf.len()
    }
}
