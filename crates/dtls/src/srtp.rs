//! DTLS-SRTP (RFC 5764): protection profiles and the SRTP master keys
//! derived from the DTLS exporter.

use std::fmt;

use crate::config::Role;

/// An SRTP protection profile negotiated in the `use_srtp` extension
/// (RFC 5764 §4.1.2, AES-GCM profiles from RFC 7714 §14.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SrtpProfile {
    /// `SRTP_AES128_CM_HMAC_SHA1_80` (0x0001): AES-128 counter mode, 80-bit HMAC-SHA1 tag.
    Aes128CmSha1_80,
    /// `SRTP_AES128_CM_HMAC_SHA1_32` (0x0002): AES-128 counter mode, 32-bit HMAC-SHA1 tag.
    Aes128CmSha1_32,
    /// `SRTP_AEAD_AES_128_GCM` (0x0007), RFC 7714.
    AeadAes128Gcm,
    /// `SRTP_AEAD_AES_256_GCM` (0x0008), RFC 7714.
    AeadAes256Gcm,
}

impl SrtpProfile {
    /// Every profile, in ferrtc's order of preference (the default of
    /// [`Config::srtp_profiles`](crate::Config::srtp_profiles)).
    pub const ALL: [SrtpProfile; 4] = [
        Self::AeadAes128Gcm,
        Self::AeadAes256Gcm,
        Self::Aes128CmSha1_80,
        Self::Aes128CmSha1_32,
    ];

    /// The profile for a code point, if known.
    pub fn from_id(id: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.id() == id)
    }

    /// The IANA "DTLS-SRTP Protection Profiles" code point.
    pub fn id(self) -> u16 {
        match self {
            Self::Aes128CmSha1_80 => 0x0001,
            Self::Aes128CmSha1_32 => 0x0002,
            Self::AeadAes128Gcm => 0x0007,
            Self::AeadAes256Gcm => 0x0008,
        }
    }

    /// The registry name, e.g. `SRTP_AEAD_AES_128_GCM` (as OpenSSL spells it too).
    pub fn name(self) -> &'static str {
        match self {
            Self::Aes128CmSha1_80 => "SRTP_AES128_CM_SHA1_80",
            Self::Aes128CmSha1_32 => "SRTP_AES128_CM_SHA1_32",
            Self::AeadAes128Gcm => "SRTP_AEAD_AES_128_GCM",
            Self::AeadAes256Gcm => "SRTP_AEAD_AES_256_GCM",
        }
    }

    /// SRTP master key length in bytes.
    pub fn master_key_len(self) -> usize {
        match self {
            Self::Aes128CmSha1_80 | Self::Aes128CmSha1_32 | Self::AeadAes128Gcm => 16,
            Self::AeadAes256Gcm => 32,
        }
    }

    /// SRTP master salt length in bytes (14 for AES-CM, 12 for AES-GCM per RFC 7714 §12).
    pub fn master_salt_len(self) -> usize {
        match self {
            Self::Aes128CmSha1_80 | Self::Aes128CmSha1_32 => 14,
            Self::AeadAes128Gcm | Self::AeadAes256Gcm => 12,
        }
    }

    /// Bytes taken from the `EXTRACTOR-dtls_srtp` exporter: two keys and two salts.
    pub fn keying_material_len(self) -> usize {
        2 * (self.master_key_len() + self.master_salt_len())
    }
}

impl fmt::Display for SrtpProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One direction's SRTP master key and master salt.
#[derive(Clone, PartialEq, Eq)]
pub struct SrtpMasterKey {
    /// The SRTP master key.
    pub key: Vec<u8>,
    /// The SRTP master salt.
    pub salt: Vec<u8>,
}

impl fmt::Debug for SrtpMasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Secrets are never printed.
        write!(
            f,
            "SrtpMasterKey({} + {} bytes)",
            self.key.len(),
            self.salt.len()
        )
    }
}

/// The SRTP keys of a DTLS-SRTP association: the negotiated profile and the
/// client's and server's write keys, split from the exporter output as
/// RFC 5764 §4.2 lays it out:
/// `client_key | server_key | client_salt | server_salt`.
#[derive(Clone, PartialEq, Eq)]
pub struct SrtpKeys {
    /// The negotiated protection profile.
    pub profile: SrtpProfile,
    /// Keys the DTLS client protects its outbound SRTP with.
    pub client_write: SrtpMasterKey,
    /// Keys the DTLS server protects its outbound SRTP with.
    pub server_write: SrtpMasterKey,
    role: Role,
}

impl SrtpKeys {
    /// Splits exporter output (RFC 5764 §4.2). Returns `None` if `material`
    /// is shorter than the profile needs; extra bytes are ignored.
    pub fn from_keying_material(profile: SrtpProfile, role: Role, material: &[u8]) -> Option<Self> {
        let key_len = profile.master_key_len();
        let salt_len = profile.master_salt_len();
        let (client_key, rest) = material.split_at_checked(key_len)?;
        let (server_key, rest) = rest.split_at_checked(key_len)?;
        let (client_salt, rest) = rest.split_at_checked(salt_len)?;
        let (server_salt, _) = rest.split_at_checked(salt_len)?;
        Some(SrtpKeys {
            profile,
            client_write: SrtpMasterKey {
                key: client_key.to_vec(),
                salt: client_salt.to_vec(),
            },
            server_write: SrtpMasterKey {
                key: server_key.to_vec(),
                salt: server_salt.to_vec(),
            },
            role,
        })
    }

    /// Our DTLS role, which says which half is ours.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The keys we protect outbound SRTP/SRTCP with.
    pub fn local(&self) -> &SrtpMasterKey {
        match self.role {
            Role::Client => &self.client_write,
            Role::Server => &self.server_write,
        }
    }

    /// The keys the peer protects its SRTP/SRTCP with (we unprotect with them).
    pub fn remote(&self) -> &SrtpMasterKey {
        match self.role {
            Role::Client => &self.server_write,
            Role::Server => &self.client_write,
        }
    }

    /// The exporter output again, in wire order
    /// (`client_key | server_key | client_salt | server_salt`).
    pub fn keying_material(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.profile.keying_material_len());
        out.extend_from_slice(&self.client_write.key);
        out.extend_from_slice(&self.server_write.key);
        out.extend_from_slice(&self.client_write.salt);
        out.extend_from_slice(&self.server_write.salt);
        out
    }
}

impl fmt::Debug for SrtpKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SrtpKeys")
            .field("profile", &self.profile)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keying_material_splits_into_client_key_server_key_client_salt_server_salt() {
        // 16 + 16 + 14 + 14 bytes, each section filled with a distinct value.
        let mut material = vec![1u8; 16];
        material.extend([2u8; 16]);
        material.extend([3u8; 14]);
        material.extend([4u8; 14]);
        let keys =
            SrtpKeys::from_keying_material(SrtpProfile::Aes128CmSha1_80, Role::Client, &material)
                .expect("60 bytes are enough");
        assert_eq!(keys.client_write.key, vec![1u8; 16]);
        assert_eq!(keys.server_write.key, vec![2u8; 16]);
        assert_eq!(keys.client_write.salt, vec![3u8; 14]);
        assert_eq!(keys.server_write.salt, vec![4u8; 14]);
        assert_eq!(keys.local(), &keys.client_write);
        assert_eq!(keys.remote(), &keys.server_write);
        assert_eq!(keys.keying_material(), material);
    }

    #[test]
    fn server_role_uses_the_server_half_locally() {
        let material: Vec<u8> = (0..88).collect();
        let keys =
            SrtpKeys::from_keying_material(SrtpProfile::AeadAes256Gcm, Role::Server, &material)
                .expect("88 bytes are enough");
        assert_eq!(keys.local().key, (32..64).collect::<Vec<u8>>());
        assert_eq!(keys.local().salt, (76..88).collect::<Vec<u8>>());
        assert_eq!(keys.remote().key, (0..32).collect::<Vec<u8>>());
    }

    #[test]
    fn short_keying_material_is_refused() {
        let material = [0u8; 55];
        assert!(
            SrtpKeys::from_keying_material(SrtpProfile::AeadAes128Gcm, Role::Client, &material)
                .is_none()
        );
    }

    #[test]
    fn keying_material_lengths_match_rfc_5764_and_7714() {
        assert_eq!(SrtpProfile::Aes128CmSha1_80.keying_material_len(), 60);
        assert_eq!(SrtpProfile::AeadAes128Gcm.keying_material_len(), 56);
        assert_eq!(SrtpProfile::AeadAes256Gcm.keying_material_len(), 88);
    }
}
