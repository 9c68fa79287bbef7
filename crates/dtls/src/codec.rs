//! Reading and writing the TLS presentation language (RFC 5246 §4): big-endian
//! integers and length-prefixed vectors. The reader never panics: every
//! read is bounds-checked and a short input is a [`DecodeError`].

use std::fmt;

/// A message or record that could not be parsed, with what was being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeError {
    /// The field being read when the input ran out or was invalid.
    pub what: &'static str,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed {}", self.what)
    }
}

/// A cursor over received bytes.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub(crate) fn rest(&self) -> &'a [u8] {
        self.buf
    }

    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let (head, tail) = self.buf.split_at_checked(n).ok_or(DecodeError { what })?;
        self.buf = tail;
        Ok(head)
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(1, what)?[0])
    }

    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub(crate) fn u24(&mut self, what: &'static str) -> Result<usize, DecodeError> {
        let b = self.take(3, what)?;
        Ok(usize::from(b[0]) << 16 | usize::from(b[1]) << 8 | usize::from(b[2]))
    }

    pub(crate) fn u48(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        let b = self.take(6, what)?;
        Ok(b.iter().fold(0u64, |acc, &x| acc << 8 | u64::from(x)))
    }

    /// An `opaque<0..2^8-1>` vector.
    pub(crate) fn vec8(&mut self, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let n = self.u8(what)?;
        self.take(usize::from(n), what)
    }

    /// An `opaque<0..2^16-1>` vector.
    pub(crate) fn vec16(&mut self, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let n = self.u16(what)?;
        self.take(usize::from(n), what)
    }

    /// An `opaque<0..2^24-1>` vector.
    pub(crate) fn vec24(&mut self, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let n = self.u24(what)?;
        self.take(n, what)
    }

    /// Fails unless everything was read.
    pub(crate) fn finish(&self, what: &'static str) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError { what })
        }
    }
}

/// Appends big-endian fields to a buffer.
pub(crate) trait Writer {
    fn put_u8(&mut self, v: u8);
    fn put_u16(&mut self, v: u16);
    fn put_u24(&mut self, v: usize);
    fn put(&mut self, bytes: &[u8]);
    /// Writes a vector with a length prefix of `prefix` bytes (1, 2 or 3),
    /// the body written by `body`.
    fn put_vec(&mut self, prefix: usize, body: impl FnOnce(&mut Self));
}

impl Writer for Vec<u8> {
    fn put_u8(&mut self, v: u8) {
        self.push(v);
    }
    fn put_u16(&mut self, v: u16) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_u24(&mut self, v: usize) {
        let b = (v as u32).to_be_bytes();
        self.extend_from_slice(&b[1..]);
    }
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
    fn put_vec(&mut self, prefix: usize, body: impl FnOnce(&mut Self)) {
        let at = self.len();
        self.extend(std::iter::repeat_n(0, prefix));
        body(self);
        let len = self.len() - at - prefix;
        let bytes = (len as u32).to_be_bytes();
        self[at..at + prefix].copy_from_slice(&bytes[4 - prefix..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_round_trip_and_short_input_is_an_error() {
        let mut out = Vec::new();
        out.put_vec(2, |w| {
            w.put_u8(1);
            w.put_u24(0x020304);
        });
        out.extend_from_slice(&[1, 2, 3, 4, 5, 6]);
        assert_eq!(out, [0, 4, 1, 2, 3, 4, 1, 2, 3, 4, 5, 6]);
        let mut r = Reader::new(&out);
        let mut inner = Reader::new(r.vec16("v").unwrap());
        assert_eq!(inner.u8("a").unwrap(), 1);
        assert_eq!(inner.u24("b").unwrap(), 0x020304);
        assert_eq!(r.u48("c").unwrap(), 0x0102_0304_0506);
        assert!(r.finish("end").is_ok());
        assert_eq!(
            Reader::new(&[0, 5, 1]).vec16("v"),
            Err(DecodeError { what: "v" })
        );
    }
}
