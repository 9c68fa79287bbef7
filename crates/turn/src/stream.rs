//! Framing on a TCP or TLS connection to the server (RFC 8656 §12.5,
//! RFC 8489 §6.2.2): the byte stream carries STUN messages (their length is
//! in the header) and ChannelData padded to a multiple of 4 bytes. The
//! [`StreamDecoder`] turns bytes read from the stream into whole frames for
//! [`crate::Client::handle_receive`]; it owns no socket and no TLS session.

use crate::Error;
use crate::channel_data::{CHANNEL_DATA_HEADER_LEN, MAX_CHANNEL, stream_frame_len};

/// STUN header length (RFC 8489 §5).
const STUN_HEADER_LEN: usize = 20;
/// The magic cookie in bytes 4..8 of a STUN header (RFC 8489 §5).
const MAGIC_COOKIE: [u8; 4] = 0x2112_A442u32.to_be_bytes();

/// The longest frame on a stream: ChannelData with 65535 bytes of data,
/// padded (RFC 8656 §12.4, §12.5).
pub const MAX_STREAM_FRAME_LEN: usize = stream_frame_len(u16::MAX as usize);
/// How many unframed bytes a [`StreamDecoder`] holds at most: two of the
/// longest frames.
pub const STREAM_BUFFER_LIMIT: usize = 2 * MAX_STREAM_FRAME_LEN;

/// Cuts a TCP/TLS byte stream from a TURN server into STUN messages and
/// ChannelData frames (RFC 8656 §12.5). Push what the stream gave with
/// [`Self::push`], then take frames with [`Self::next_frame`] until it
/// returns `Ok(None)`. An error means framing is lost: close the connection.
#[derive(Debug, Default)]
pub struct StreamDecoder {
    buf: Vec<u8>,
    /// Bytes at the front of `buf` already handed out as frames.
    consumed: usize,
    /// The first framing error; every later call returns it.
    failed: Option<Error>,
}

impl StreamDecoder {
    /// An empty decoder.
    pub fn new() -> Self {
        StreamDecoder::default()
    }

    /// Bytes buffered and not yet handed out as frames.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.consumed
    }

    /// Appends bytes read from the stream. Errors (and keeps nothing) if
    /// the buffer would exceed [`STREAM_BUFFER_LIMIT`].
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), Error> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        self.buf.drain(..self.consumed);
        self.consumed = 0;
        if self.buf.len() + bytes.len() > STREAM_BUFFER_LIMIT {
            return Err(Error::StreamBufferFull {
                buffered: self.buf.len(),
                pushed: bytes.len(),
            });
        }
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    /// The next whole frame (a STUN message, or ChannelData with its
    /// padding), or `Ok(None)` until more bytes arrive.
    pub fn next_frame(&mut self) -> Result<Option<&[u8]>, Error> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let rest = &self.buf[self.consumed..];
        let len = match frame_len(rest) {
            Ok(Some(len)) if rest.len() >= len => len,
            Ok(_) => return Ok(None),
            Err(e) => {
                self.failed = Some(e.clone());
                return Err(e);
            }
        };
        let start = self.consumed;
        self.consumed += len;
        Ok(self.buf.get(start..start + len))
    }
}

/// The length of the frame at the start of `bytes` once its header is
/// there: `Ok(None)` if more bytes are needed to tell.
fn frame_len(bytes: &[u8]) -> Result<Option<usize>, Error> {
    let Some(head) = bytes.first_chunk::<CHANNEL_DATA_HEADER_LEN>() else {
        return Ok(None);
    };
    let garbage = Error::StreamGarbage { byte: head[0] };
    let length = usize::from(u16::from_be_bytes([head[2], head[3]]));
    match head[0] >> 6 {
        // STUN (RFC 8489 §5): length a multiple of 4, then the magic cookie.
        0b00 => {
            if length % 4 != 0 {
                return Err(garbage);
            }
            if let Some(cookie) = bytes.get(4..8)
                && cookie != MAGIC_COOKIE
            {
                return Err(garbage);
            }
            Ok(Some(STUN_HEADER_LEN + length))
        }
        // ChannelData (RFC 8656 §12.4): 0x4000..=0x4FFF, padded on streams.
        0b01 => {
            if u16::from_be_bytes([head[0], head[1]]) > MAX_CHANNEL {
                return Err(garbage);
            }
            Ok(Some(stream_frame_len(length)))
        }
        _ => Err(garbage),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stun(len: u16) -> Vec<u8> {
        let mut m = vec![0x01, 0x01];
        m.extend_from_slice(&len.to_be_bytes());
        m.extend_from_slice(&MAGIC_COOKIE);
        m.extend_from_slice(&[7; 12]);
        m.extend(std::iter::repeat_n(0xAB, usize::from(len)));
        m
    }

    #[test]
    fn frames_split_anywhere_come_out_whole() {
        let mut stream = stun(8);
        stream.extend_from_slice(&[0x40, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5, 0, 0, 0]);
        stream.extend_from_slice(&stun(0));
        let mut d = StreamDecoder::new();
        let mut frames = Vec::new();
        for b in &stream {
            d.push(std::slice::from_ref(b)).unwrap();
            while let Some(f) = d.next_frame().unwrap() {
                frames.push(f.to_vec());
            }
        }
        assert_eq!(frames.len(), 3);
        assert_eq!(frames[0], stun(8));
        assert_eq!(frames[1].len(), 12, "ChannelData with its padding");
        assert_eq!(frames[2], stun(0));
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn garbage_loses_framing_for_good() {
        let mut d = StreamDecoder::new();
        d.push(&[0x80, 0, 0, 0]).unwrap();
        assert_eq!(d.next_frame(), Err(Error::StreamGarbage { byte: 0x80 }));
        assert!(d.push(&stun(0)).is_err());
        // A STUN header without the magic cookie, a channel above 0x4FFF,
        // an unaligned STUN length.
        for bad in [
            &[0x01, 0x01, 0, 0, 1, 2, 3, 4][..],
            &[0x50, 0x00, 0, 0],
            &[0x01, 0x01, 0, 3],
        ] {
            let mut d = StreamDecoder::new();
            d.push(bad).unwrap();
            assert!(matches!(d.next_frame(), Err(Error::StreamGarbage { .. })));
        }
    }

    #[test]
    fn the_buffer_is_bounded() {
        let mut d = StreamDecoder::new();
        // A ChannelData header announcing 65535 bytes, then more than fits.
        d.push(&[0x40, 0x00, 0xFF, 0xFF]).unwrap();
        d.push(&vec![0; MAX_STREAM_FRAME_LEN]).unwrap();
        assert!(d.next_frame().unwrap().is_some());
        let big = vec![0; STREAM_BUFFER_LIMIT];
        assert!(matches!(d.push(&big), Err(Error::StreamBufferFull { .. })));
    }
}
