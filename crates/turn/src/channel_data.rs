//! ChannelData messages (RFC 8656 §12.4, §12.5): a 4-byte header (channel
//! number, length) and the application data, the relay's compact framing.

use crate::Error;

/// Lowest channel number a client may bind (RFC 8656 §12).
pub const MIN_CHANNEL: u16 = 0x4000;
/// Highest channel number a client may bind (RFC 8656 §12).
pub const MAX_CHANNEL: u16 = 0x4FFF;
/// Length of the ChannelData header (RFC 8656 §12.4).
pub const CHANNEL_DATA_HEADER_LEN: usize = 4;

/// A parsed ChannelData message (RFC 8656 §12.4): a view into the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelData<'a> {
    /// The channel number, 0x4000..=0x4FFF.
    pub channel: u16,
    /// The application data, exactly as many bytes as the length field says.
    pub data: &'a [u8],
}

/// Whether a datagram from the server starts like ChannelData: its first two
/// bits are 0b01 (RFC 8656 §12, RFC 7983 demultiplexing), where STUN has 0b00.
pub fn is_channel_data(datagram: &[u8]) -> bool {
    datagram.first().is_some_and(|b| b & 0xC0 == 0x40)
}

impl<'a> ChannelData<'a> {
    /// Parses one ChannelData message received over UDP (RFC 8656 §12.5):
    /// the length field is authoritative, bytes after the data (padding) are
    /// ignored. Never panics.
    pub fn parse(datagram: &'a [u8]) -> Result<Self, Error> {
        let (head, rest) = datagram
            .split_first_chunk::<CHANNEL_DATA_HEADER_LEN>()
            .ok_or(Error::ChannelDataTooShort {
                len: datagram.len(),
            })?;
        let channel = u16::from_be_bytes([head[0], head[1]]);
        if !(MIN_CHANNEL..=MAX_CHANNEL).contains(&channel) {
            return Err(Error::InvalidChannel { channel });
        }
        let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
        let data = rest.get(..len).ok_or(Error::ChannelDataTruncated {
            channel,
            declared: len,
            available: rest.len(),
        })?;
        Ok(ChannelData { channel, data })
    }

    /// Writes the message into `out` (cleared first), without padding, as
    /// RFC 8656 §12.5 allows over UDP. Errors if `data` exceeds 65535 bytes.
    pub fn encode(channel: u16, data: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        let len = u16::try_from(data.len()).map_err(|_| Error::DataTooLong { len: data.len() })?;
        out.clear();
        out.extend_from_slice(&channel.to_be_bytes());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(data);
        Ok(())
    }

    /// Writes the message into `out` (cleared first) for a stream transport
    /// (TCP, TLS): zero padding up to a multiple of 4 bytes (RFC 8656
    /// §12.5). Errors if `data` exceeds 65535 bytes.
    pub fn encode_padded(channel: u16, data: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        ChannelData::encode(channel, data, out)?;
        out.resize(stream_frame_len(data.len()), 0);
        Ok(())
    }
}

/// How many bytes a ChannelData message with `data_len` bytes of data takes
/// on a stream transport (TCP, TLS): padded to a multiple of 4 (RFC 8656
/// §12.5). Over UDP the message is `4 + data_len` bytes.
pub const fn stream_frame_len(data_len: usize) -> usize {
    (CHANNEL_DATA_HEADER_LEN + data_len + 3) & !3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_length_is_authoritative_over_udp() {
        let mut out = Vec::new();
        ChannelData::encode(0x4001, b"hello", &mut out).unwrap();
        assert_eq!(out, [0x40, 0x01, 0, 5, b'h', b'e', b'l', b'l', b'o']);
        assert!(is_channel_data(&out));
        // Padding after the data (as a TCP sender writes it) is ignored.
        out.extend_from_slice(&[0, 0, 0]);
        let cd = ChannelData::parse(&out).unwrap();
        assert_eq!((cd.channel, cd.data), (0x4001, &b"hello"[..]));
    }

    #[test]
    fn rejects_short_truncated_and_out_of_range() {
        assert!(matches!(
            ChannelData::parse(&[0x40, 0x00, 0]),
            Err(Error::ChannelDataTooShort { len: 3 })
        ));
        assert!(matches!(
            ChannelData::parse(&[0x40, 0x00, 0, 9, 1, 2]),
            Err(Error::ChannelDataTruncated { declared: 9, .. })
        ));
        assert!(matches!(
            ChannelData::parse(&[0x50, 0x00, 0, 0]),
            Err(Error::InvalidChannel { channel: 0x5000 })
        ));
    }

    #[test]
    fn padded_encoding_fills_to_four_bytes() {
        let mut out = Vec::new();
        ChannelData::encode_padded(0x4001, b"hello", &mut out).unwrap();
        assert_eq!(
            out,
            [0x40, 0x01, 0, 5, b'h', b'e', b'l', b'l', b'o', 0, 0, 0]
        );
        ChannelData::encode_padded(0x4001, b"four", &mut out).unwrap();
        assert_eq!(out.len(), 8);
    }

    #[test]
    fn stream_frames_are_padded_to_four_bytes() {
        assert_eq!(stream_frame_len(0), 4);
        assert_eq!(stream_frame_len(1), 8);
        assert_eq!(stream_frame_len(4), 8);
        assert_eq!(stream_frame_len(5), 12);
    }
}
