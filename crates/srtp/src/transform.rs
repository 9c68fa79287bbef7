//! The per-packet cryptographic transforms: AES-CM + HMAC-SHA1 (RFC 3711 §4)
//! and AES-GCM (RFC 7714). One `Transform` holds the session keys of one
//! direction of one protocol (SRTP or SRTCP).

use aws_lc_rs::aead::{AES_128_GCM, AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::cipher::{AES_128, EncryptingKey, EncryptionContext, UnboundCipherKey};
use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::hmac;
use aws_lc_rs::iv::FixedLength;

use crate::header::RTCP_CLEAR_HEADER;
use crate::kdf::{Kdf, Label};
use crate::{Error, ProtectionProfile};

/// AES-GCM tag length (RFC 7714 §5.2.1: 16 octets).
const GCM_TAG: usize = 16;
/// Length of the SRTCP E flag and index word.
pub(crate) const SRTCP_TRAILER: usize = 4;
/// The E flag of the SRTCP trailer (RFC 3711 §3.4).
pub(crate) const E_FLAG: u32 = 0x8000_0000;

/// Session keys and primitives for one of SRTP or SRTCP.
// A context holds exactly two of these, so the size of the HMAC state (about
// 1.7 KiB) costs nothing worth a pointer chase per packet.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Transform {
    /// AES-128 in counter mode and HMAC-SHA1 (RFC 3711 §4.1.1, §4.2.1).
    AesCm {
        ctr: EncryptingKey,
        auth: hmac::Key,
        salt: [u8; 14],
        tag_len: usize,
    },
    /// AES-GCM (RFC 7714 §8, §9).
    AesGcm { aead: LessSafeKey, salt: [u8; 12] },
}

fn crypto(operation: &'static str) -> impl Fn(aws_lc_rs::error::Unspecified) -> Error {
    move |_| Error::Crypto { operation }
}

/// Which of the two protocols a transform is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    Srtp,
    Srtcp,
}

impl Transform {
    /// Derives the session keys of `protocol` from the master key (RFC 3711 §4.3).
    pub(crate) fn new(
        profile: ProtectionProfile,
        kdf: &Kdf,
        protocol: Protocol,
    ) -> Result<Self, Error> {
        let (enc, auth, salt) = match protocol {
            Protocol::Srtp => (
                Label::RtpEncryption,
                Label::RtpAuthentication,
                Label::RtpSalt,
            ),
            Protocol::Srtcp => (
                Label::RtcpEncryption,
                Label::RtcpAuthentication,
                Label::RtcpSalt,
            ),
        };
        let mut key = [0u8; 32];
        let key = &mut key[..profile.master_key_len()];
        kdf.derive(enc, key)?;
        if profile.is_aead() {
            let mut session_salt = [0u8; 12];
            kdf.derive(salt, &mut session_salt)?;
            Self::aes_gcm(key, session_salt)
        } else {
            // RFC 3711 §4.2.1: n_a = 160 bits.
            let mut auth_key = [0u8; 20];
            kdf.derive(auth, &mut auth_key)?;
            let mut session_salt = [0u8; 14];
            kdf.derive(salt, &mut session_salt)?;
            let tag_len = match protocol {
                Protocol::Srtp => profile.rtp_tag_len(),
                Protocol::Srtcp => profile.rtcp_tag_len(),
            };
            Self::aes_cm(key, &auth_key, session_salt, tag_len)
        }
    }

    /// AES-CM + HMAC-SHA1 from session keys (`key` 16 bytes).
    pub(crate) fn aes_cm(
        key: &[u8],
        auth_key: &[u8],
        salt: [u8; 14],
        tag_len: usize,
    ) -> Result<Self, Error> {
        let ctr = EncryptingKey::ctr(
            UnboundCipherKey::new(&AES_128, key).map_err(crypto("AES-CM key setup"))?,
        )
        .map_err(crypto("AES-CM key setup"))?;
        let auth = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, auth_key);
        Ok(Self::AesCm {
            ctr,
            auth,
            salt,
            tag_len,
        })
    }

    /// AES-GCM from session keys (`key` 16 or 32 bytes).
    pub(crate) fn aes_gcm(key: &[u8], salt: [u8; 12]) -> Result<Self, Error> {
        let alg = if key.len() == 32 {
            &AES_256_GCM
        } else {
            &AES_128_GCM
        };
        let aead = LessSafeKey::new(UnboundKey::new(alg, key).map_err(crypto("GCM key setup"))?);
        Ok(Self::AesGcm { aead, salt })
    }

    /// Length of the authentication tag this transform writes.
    pub(crate) fn tag_len(&self) -> usize {
        match self {
            Self::AesCm { tag_len, .. } => *tag_len,
            Self::AesGcm { .. } => GCM_TAG,
        }
    }

    /// SRTP: encrypts `packet[header_len..]` and appends the tag.
    pub(crate) fn protect_rtp(
        &self,
        packet: &mut Vec<u8>,
        header_len: usize,
        ssrc: u32,
        index: u64,
    ) -> Result<(), Error> {
        let (header, payload) = packet.split_at_mut(header_len);
        match self {
            Self::AesCm {
                ctr,
                auth,
                salt,
                tag_len,
            } => {
                aes_cm_apply(ctr, salt, ssrc, index, payload)?;
                // RFC 3711 §4.2: the tag covers the authenticated portion || ROC.
                let mut mac = hmac::Context::with_key(auth);
                mac.update(packet);
                mac.update(&roc_of(index).to_be_bytes());
                let tag = mac.sign();
                packet.extend_from_slice(&tag.as_ref()[..*tag_len]);
            }
            Self::AesGcm { aead, salt } => {
                // RFC 7714 §8.2: AAD is the RTP header including CSRCs and extension.
                let nonce = gcm_rtp_iv(salt, ssrc, index);
                let tag = aead
                    .seal_in_place_separate_tag(nonce, Aad::from(&*header), payload)
                    .map_err(crypto("GCM seal"))?;
                packet.extend_from_slice(tag.as_ref());
            }
        }
        Ok(())
    }

    /// SRTP: verifies the tag at the end of `packet` and decrypts in place.
    /// Returns the plaintext RTP packet length.
    pub(crate) fn unprotect_rtp(
        &self,
        packet: &mut [u8],
        header_len: usize,
        ssrc: u32,
        index: u64,
    ) -> Result<usize, Error> {
        let auth_fail = Error::AuthenticationFailed { ssrc, index };
        let tag_start = packet.len() - self.tag_len();
        match self {
            Self::AesCm {
                ctr, auth, salt, ..
            } => {
                let (authenticated, tag) = packet.split_at_mut(tag_start);
                let mut mac = hmac::Context::with_key(auth);
                mac.update(authenticated);
                mac.update(&roc_of(index).to_be_bytes());
                let expected = mac.sign();
                verify_slices_are_equal(&expected.as_ref()[..tag.len()], tag)
                    .map_err(|_| auth_fail)?;
                aes_cm_apply(ctr, salt, ssrc, index, &mut authenticated[header_len..])?;
            }
            Self::AesGcm { aead, salt } => {
                let (header, rest) = packet.split_at_mut(header_len);
                let (ciphertext, tag) = rest.split_at_mut(tag_start - header_len);
                let nonce = gcm_rtp_iv(salt, ssrc, index);
                aead.open_in_place_separate_tag(nonce, Aad::from(&*header), tag, ciphertext)
                    .map_err(|_| auth_fail)?;
            }
        }
        Ok(tag_start)
    }

    /// SRTCP: encrypts (when `encrypt`) and authenticates `packet`, appending the
    /// E flag and index and the tag in the order the profile's RFC gives.
    pub(crate) fn protect_rtcp(
        &self,
        packet: &mut Vec<u8>,
        ssrc: u32,
        index: u32,
        encrypt: bool,
    ) -> Result<(), Error> {
        let trailer = if encrypt { index | E_FLAG } else { index }.to_be_bytes();
        match self {
            Self::AesCm {
                ctr,
                auth,
                salt,
                tag_len,
            } => {
                // RFC 3711 §3.4: encrypted portion || E || SRTCP index || tag.
                if encrypt {
                    aes_cm_apply(
                        ctr,
                        salt,
                        ssrc,
                        u64::from(index),
                        &mut packet[RTCP_CLEAR_HEADER..],
                    )?;
                }
                packet.extend_from_slice(&trailer);
                let tag = hmac::sign(auth, packet);
                packet.extend_from_slice(&tag.as_ref()[..*tag_len]);
            }
            Self::AesGcm { aead, salt } => {
                let nonce = gcm_rtcp_iv(salt, ssrc, index);
                if encrypt {
                    // RFC 7714 §9.2: AAD = header (8 octets) || E || SRTCP index.
                    let mut aad = [0u8; RTCP_CLEAR_HEADER + SRTCP_TRAILER];
                    aad[..RTCP_CLEAR_HEADER].copy_from_slice(&packet[..RTCP_CLEAR_HEADER]);
                    aad[RTCP_CLEAR_HEADER..].copy_from_slice(&trailer);
                    let tag = aead
                        .seal_in_place_separate_tag(
                            nonce,
                            Aad::from(aad),
                            &mut packet[RTCP_CLEAR_HEADER..],
                        )
                        .map_err(crypto("GCM seal"))?;
                    packet.extend_from_slice(tag.as_ref());
                } else {
                    // RFC 7714 §9.3: AAD = whole packet || E || index, empty plaintext.
                    packet.extend_from_slice(&trailer);
                    let tag = aead
                        .seal_in_place_separate_tag(nonce, Aad::from(&packet[..]), &mut [])
                        .map_err(crypto("GCM seal"))?;
                    packet.truncate(packet.len() - SRTCP_TRAILER);
                    packet.extend_from_slice(tag.as_ref());
                }
                // RFC 7714 §9.1: the E flag and SRTCP index follow the tag.
                packet.extend_from_slice(&trailer);
            }
        }
        Ok(())
    }

    /// Where the 4-byte E flag and SRTCP index sit in a packet of `len` bytes
    /// (the caller has checked `len` against the overhead).
    pub(crate) fn rtcp_trailer_offset(&self, len: usize) -> usize {
        match self {
            Self::AesCm { tag_len, .. } => len - tag_len - SRTCP_TRAILER,
            Self::AesGcm { .. } => len - SRTCP_TRAILER,
        }
    }

    /// SRTCP: verifies and decrypts `packet` whose trailer word is `trailer`.
    /// Returns the plaintext RTCP length.
    pub(crate) fn unprotect_rtcp(
        &self,
        packet: &mut [u8],
        ssrc: u32,
        trailer: u32,
    ) -> Result<usize, Error> {
        let index = trailer & !E_FLAG;
        let encrypted = trailer & E_FLAG != 0;
        let auth_fail = Error::AuthenticationFailed {
            ssrc,
            index: u64::from(index),
        };
        let plain_len = packet.len() - self.tag_len() - SRTCP_TRAILER;
        match self {
            Self::AesCm {
                ctr, auth, salt, ..
            } => {
                let (authenticated, tag) = packet.split_at_mut(plain_len + SRTCP_TRAILER);
                let expected = hmac::sign(auth, authenticated);
                verify_slices_are_equal(&expected.as_ref()[..tag.len()], tag)
                    .map_err(|_| auth_fail)?;
                if encrypted {
                    let body = &mut authenticated[RTCP_CLEAR_HEADER..plain_len];
                    aes_cm_apply(ctr, salt, ssrc, u64::from(index), body)?;
                }
            }
            Self::AesGcm { aead, salt } => {
                let nonce = gcm_rtcp_iv(salt, ssrc, index);
                let trailer = trailer.to_be_bytes();
                if encrypted {
                    let mut aad = [0u8; RTCP_CLEAR_HEADER + SRTCP_TRAILER];
                    aad[..RTCP_CLEAR_HEADER].copy_from_slice(&packet[..RTCP_CLEAR_HEADER]);
                    aad[RTCP_CLEAR_HEADER..].copy_from_slice(&trailer);
                    let (body, tag) = packet[RTCP_CLEAR_HEADER..plain_len + GCM_TAG]
                        .split_at_mut(plain_len - RTCP_CLEAR_HEADER);
                    aead.open_in_place_separate_tag(nonce, Aad::from(aad), tag, body)
                        .map_err(|_| auth_fail)?;
                } else {
                    // Move the trailer next to the payload so that the AAD
                    // (packet || E || index) is contiguous; the tag goes to the stack.
                    let mut tag = [0u8; GCM_TAG];
                    tag.copy_from_slice(&packet[plain_len..plain_len + GCM_TAG]);
                    packet[plain_len..plain_len + SRTCP_TRAILER].copy_from_slice(&trailer);
                    let aad = &packet[..plain_len + SRTCP_TRAILER];
                    aead.open_in_place_separate_tag(nonce, Aad::from(aad), &tag, &mut [])
                        .map_err(|_| auth_fail)?;
                }
            }
        }
        Ok(plain_len)
    }
}

/// The rollover counter part of a 48-bit SRTP packet index.
fn roc_of(index: u64) -> u32 {
    (index >> 16) as u32
}

/// AES-CM keystream XOR (RFC 3711 §4.1.1):
/// IV = (k_s * 2^16) XOR (SSRC * 2^64) XOR (i * 2^16).
fn aes_cm_apply(
    ctr: &EncryptingKey,
    salt: &[u8; 14],
    ssrc: u32,
    index: u64,
    data: &mut [u8],
) -> Result<(), Error> {
    if data.is_empty() {
        return Ok(());
    }
    let mut iv = [0u8; 16];
    iv[..14].copy_from_slice(salt);
    for (b, s) in iv[4..8].iter_mut().zip(ssrc.to_be_bytes()) {
        *b ^= s;
    }
    for (b, i) in iv[8..14].iter_mut().zip(&index.to_be_bytes()[2..]) {
        *b ^= i;
    }
    ctr.less_safe_encrypt(data, EncryptionContext::Iv128(FixedLength::from(iv)))
        .map_err(crypto("AES-CM"))?;
    Ok(())
}

/// RFC 7714 §8.1: IV = (00 00 || SSRC || ROC || SEQ) XOR salt.
fn gcm_rtp_iv(salt: &[u8; 12], ssrc: u32, index: u64) -> Nonce {
    let mut iv = *salt;
    for (b, s) in iv[2..6].iter_mut().zip(ssrc.to_be_bytes()) {
        *b ^= s;
    }
    for (b, i) in iv[6..12].iter_mut().zip(&index.to_be_bytes()[2..]) {
        *b ^= i;
    }
    Nonce::assume_unique_for_key(iv)
}

/// RFC 7714 §9.1: IV = (00 00 || SSRC || 00 00 || 0 || SRTCP index) XOR salt.
fn gcm_rtcp_iv(salt: &[u8; 12], ssrc: u32, index: u32) -> Nonce {
    let mut iv = *salt;
    for (b, s) in iv[2..6].iter_mut().zip(ssrc.to_be_bytes()) {
        *b ^= s;
    }
    for (b, i) in iv[8..12].iter_mut().zip(index.to_be_bytes()) {
        *b ^= i;
    }
    Nonce::assume_unique_for_key(iv)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::hex;

    /// RFC 3711 Appendix B.2: AES-CM keystream for session key
    /// 2B7E151628AED2A6ABF7158809CF4F3C, session salt F0F1..FD, SSRC 0, index 0.
    #[test]
    fn rfc3711_b2_aes_cm_keystream() {
        let ctr = EncryptingKey::ctr(
            UnboundCipherKey::new(&AES_128, &hex("2B7E151628AED2A6ABF7158809CF4F3C")).unwrap(),
        )
        .unwrap();
        let salt: [u8; 14] = hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD").try_into().unwrap();
        let mut keystream = vec![0u8; 0x10000 * 16];
        aes_cm_apply(&ctr, &salt, 0, 0, &mut keystream).unwrap();
        let block = |n: usize| keystream[n * 16..n * 16 + 16].to_vec();
        assert_eq!(block(0), hex("E03EAD0935C95E80E166B16DD92B4EB4"));
        assert_eq!(block(1), hex("D23513162B02D0F72A43A2FE4A5F97AB"));
        assert_eq!(block(2), hex("41E95B3BB0A2E8DD477901E4FCA894C0"));
        assert_eq!(block(0xfeff), hex("EC8CDF7398607CB0F2D21675EA9EA1E4"));
        assert_eq!(block(0xff00), hex("362B7C3C6773516318A077D7FC5073AE"));
        assert_eq!(block(0xff01), hex("6A2CC3787889374FBEB4C81B17BA6C44"));
    }

    /// RFC 7714 §16.1 / §17.1: the IVs for SSRC 0x5501a0b2 seq 0xf17b and SRTCP
    /// SSRC "Mars" index 0x5d4 under salt "Quid pro quo".
    #[test]
    fn rfc7714_gcm_ivs() {
        let salt: [u8; 12] = hex("517569642070726f2071756f").try_into().unwrap();
        assert_eq!(
            gcm_rtp_iv(&salt, 0x5501a0b2, 0xf17b).as_ref(),
            &hex("51753c6580c2726f20718414")[..]
        );
        assert_eq!(
            gcm_rtcp_iv(&salt, 0x4d617273, 0x5d4).as_ref(),
            &hex("517524055203726f207170bb")[..]
        );
    }
}
