//! The bytes of a frame an application writes.

use bytes::Bytes;

/// The bytes of one encoded frame for
/// [`PeerConnection::write_frame`](crate::PeerConnection::write_frame)
/// (not W3C): borrowed bytes (`&[u8]`, `&Vec<u8>`, `&[u8; N]`) are copied once;
/// owned or shared ones (`Vec<u8>`, [`Bytes`], `&Bytes` such as a received
/// frame's bytes) are taken without a copy (a `Vec` with more than twice
/// its length in capacity is shrunk first), so one frame written on many
/// senders is held once. The send history keeps what it was given for
/// up to a second: a `Bytes` that is a small slice of a large buffer keeps
/// the whole buffer alive that long.
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
    /// Taken without a copy, unless the vector holds more than twice its
    /// length: then it is shrunk first, since the send history keeps the
    /// frame's allocation for as long as it keeps the frame's packets.
    fn from(mut b: Vec<u8>) -> Self {
        if b.capacity() / 2 > b.len() {
            b.shrink_to_fit();
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vector_with_much_room_to_spare_is_shrunk_before_it_is_kept() {
        let mut encoded = Vec::with_capacity(4000);
        encoded.extend_from_slice(&[1; 120]);
        let kept = FrameBytes::from(encoded).into_bytes();
        assert_eq!(kept, vec![1u8; 120]);
        // `Bytes` holds an exact-size vector as a boxed slice: its
        // conversion back is without a copy exactly when nothing was left
        // over, which the shrink made so.
        let back: Vec<u8> = kept.into();
        assert!(back.capacity() < 4000, "{}", back.capacity());
        let full = vec![2u8; 100];
        let at = full.as_ptr();
        assert_eq!(
            FrameBytes::from(full).into_bytes().as_ptr(),
            at,
            "not copied"
        );
    }
}
