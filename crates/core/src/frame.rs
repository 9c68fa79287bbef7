//! The bytes of a frame an application writes.

use bytes::Bytes;

/// The bytes of one encoded frame for
/// [`PeerConnection::write_frame`](crate::PeerConnection::write_frame)
/// (not W3C): borrowed bytes (`&[u8]`, `&Vec<u8>`, `&[u8; N]`) are copied once;
/// owned or shared ones (`Vec<u8>`, [`Bytes`], `&Bytes` such as a received
/// frame's bytes) are taken without a copy, so one frame written
/// on many senders is held once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameBytes(Bytes);

impl FrameBytes {
    /// The bytes.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

impl From<&[u8]> for FrameBytes {
    fn from(b: &[u8]) -> Self {
        Self(Bytes::copy_from_slice(b))
    }
}

impl<const N: usize> From<&[u8; N]> for FrameBytes {
    fn from(b: &[u8; N]) -> Self {
        Self(Bytes::copy_from_slice(b))
    }
}

impl From<&Vec<u8>> for FrameBytes {
    fn from(b: &Vec<u8>) -> Self {
        Self(Bytes::copy_from_slice(b))
    }
}

impl From<Vec<u8>> for FrameBytes {
    fn from(b: Vec<u8>) -> Self {
        Self(Bytes::from(b))
    }
}

impl From<Bytes> for FrameBytes {
    fn from(b: Bytes) -> Self {
        Self(b)
    }
}

impl From<&Bytes> for FrameBytes {
    fn from(b: &Bytes) -> Self {
        Self(b.clone())
    }
}
