//! SRTP protection profiles (RFC 5764 §4.1.2, RFC 7714 §14.2).

/// An SRTP protection profile: the cipher, authentication and key sizes that a
/// DTLS-SRTP handshake (RFC 5764 `use_srtp`) or SDES negotiates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProtectionProfile {
    /// `SRTP_AES128_CM_HMAC_SHA1_80` (0x0001): AES-128 counter mode, 80-bit HMAC-SHA1 tag.
    Aes128CmHmacSha1_80,
    /// `SRTP_AES128_CM_HMAC_SHA1_32` (0x0002): AES-128 counter mode, 32-bit HMAC-SHA1
    /// tag on SRTP and 80-bit on SRTCP (RFC 5764 §4.1.2).
    Aes128CmHmacSha1_32,
    /// `SRTP_AEAD_AES_128_GCM` (0x0007, RFC 7714): AES-128-GCM, 16-byte tag.
    AeadAes128Gcm,
    /// `SRTP_AEAD_AES_256_GCM` (0x0008, RFC 7714): AES-256-GCM, 16-byte tag.
    AeadAes256Gcm,
}

impl ProtectionProfile {
    /// Every profile this crate implements, in order of preference (GCM first: it
    /// is several times cheaper per packet than AES-CM with HMAC-SHA1).
    pub const ALL: [ProtectionProfile; 4] = [
        ProtectionProfile::AeadAes128Gcm,
        ProtectionProfile::AeadAes256Gcm,
        ProtectionProfile::Aes128CmHmacSha1_80,
        ProtectionProfile::Aes128CmHmacSha1_32,
    ];

    /// The profile for a DTLS-SRTP `SRTPProtectionProfile` value, if supported.
    pub fn from_id(id: u16) -> Option<Self> {
        match id {
            0x0001 => Some(Self::Aes128CmHmacSha1_80),
            0x0002 => Some(Self::Aes128CmHmacSha1_32),
            0x0007 => Some(Self::AeadAes128Gcm),
            0x0008 => Some(Self::AeadAes256Gcm),
            _ => None,
        }
    }

    /// The DTLS-SRTP `SRTPProtectionProfile` value (RFC 5764 §4.1.2, RFC 7714 §14.2).
    pub fn id(self) -> u16 {
        match self {
            Self::Aes128CmHmacSha1_80 => 0x0001,
            Self::Aes128CmHmacSha1_32 => 0x0002,
            Self::AeadAes128Gcm => 0x0007,
            Self::AeadAes256Gcm => 0x0008,
        }
    }

    /// Length of the master key in bytes (`cipher_key_length`).
    pub fn master_key_len(self) -> usize {
        match self {
            Self::AeadAes256Gcm => 32,
            _ => 16,
        }
    }

    /// Length of the master salt in bytes: 112 bits for AES-CM, 96 bits for
    /// AES-GCM (RFC 7714 §12).
    pub fn master_salt_len(self) -> usize {
        if self.is_aead() { 12 } else { 14 }
    }

    /// Length of the authentication tag on SRTP packets.
    pub fn rtp_tag_len(self) -> usize {
        match self {
            Self::Aes128CmHmacSha1_80 => 10,
            Self::Aes128CmHmacSha1_32 => 4,
            Self::AeadAes128Gcm | Self::AeadAes256Gcm => 16,
        }
    }

    /// Length of the authentication tag on SRTCP packets.
    pub fn rtcp_tag_len(self) -> usize {
        if self.is_aead() { 16 } else { 10 }
    }

    /// Bytes `protect_rtp` appends to a packet; reserve this much spare capacity.
    pub fn rtp_overhead(self) -> usize {
        self.rtp_tag_len()
    }

    /// Bytes `protect_rtcp` appends to a packet (tag plus the 4-byte E flag and
    /// SRTCP index); reserve this much spare capacity.
    pub fn rtcp_overhead(self) -> usize {
        self.rtcp_tag_len() + 4
    }

    /// Length of the DTLS exporter output for this profile (RFC 5764 §4.2):
    /// two master keys and two master salts.
    pub fn keying_material_len(self) -> usize {
        2 * (self.master_key_len() + self.master_salt_len())
    }

    /// Whether the profile is an AEAD (AES-GCM, RFC 7714) profile.
    pub fn is_aead(self) -> bool {
        matches!(self, Self::AeadAes128Gcm | Self::AeadAes256Gcm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtls_srtp_ids_round_trip_and_unknown_ids_are_none() {
        for p in ProtectionProfile::ALL {
            assert_eq!(ProtectionProfile::from_id(p.id()), Some(p));
        }
        assert_eq!(ProtectionProfile::from_id(0x0003), None);
        assert_eq!(ProtectionProfile::from_id(0xffff), None);
    }

    #[test]
    fn key_and_salt_lengths_follow_rfc_7714_section_12() {
        use ProtectionProfile::*;
        assert_eq!(
            (
                AeadAes128Gcm.master_key_len(),
                AeadAes128Gcm.master_salt_len()
            ),
            (16, 12)
        );
        assert_eq!(
            (
                AeadAes256Gcm.master_key_len(),
                AeadAes256Gcm.master_salt_len()
            ),
            (32, 12)
        );
        assert_eq!(
            (
                Aes128CmHmacSha1_80.master_key_len(),
                Aes128CmHmacSha1_80.master_salt_len()
            ),
            (16, 14)
        );
        assert_eq!(Aes128CmHmacSha1_32.rtp_tag_len(), 4);
        assert_eq!(Aes128CmHmacSha1_32.rtcp_tag_len(), 10);
        assert_eq!(AeadAes256Gcm.keying_material_len(), 88);
        assert_eq!(Aes128CmHmacSha1_80.keying_material_len(), 60);
    }
}
