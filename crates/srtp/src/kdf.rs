//! SRTP key derivation (RFC 3711 §4.3) with key derivation rate 0.
//!
//! The same AES-CM PRF serves the AES-GCM profiles (RFC 7714 §11), with the
//! 96-bit master salt padded to 112 bits with zeros on the right, and AES-256
//! for the 256-bit master key (RFC 6188 §7).

use aws_lc_rs::cipher::{AES_128, AES_256, EncryptingKey, EncryptionContext, UnboundCipherKey};
use aws_lc_rs::iv::FixedLength;

use crate::Error;

/// The key derivation labels of RFC 3711 §4.3.1 and §4.3.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Label {
    RtpEncryption = 0x00,
    RtpAuthentication = 0x01,
    RtpSalt = 0x02,
    RtcpEncryption = 0x03,
    RtcpAuthentication = 0x04,
    RtcpSalt = 0x05,
}

/// The session key derivation function: AES in counter mode keyed with the master key.
pub(crate) struct Kdf {
    prf: EncryptingKey,
    /// The master salt, left-aligned in the 112-bit field (zero-padded for GCM salts).
    salt: [u8; 14],
}

impl Kdf {
    /// `master_key` must be 16 or 32 bytes, `master_salt` at most 14 bytes; the
    /// caller has checked both against the profile.
    pub(crate) fn new(master_key: &[u8], master_salt: &[u8]) -> Result<Self, Error> {
        let alg = if master_key.len() == 32 {
            &AES_256
        } else {
            &AES_128
        };
        let key = UnboundCipherKey::new(alg, master_key).map_err(|_| Error::Crypto {
            operation: "key derivation key setup",
        })?;
        let prf = EncryptingKey::ctr(key).map_err(|_| Error::Crypto {
            operation: "key derivation key setup",
        })?;
        let mut salt = [0u8; 14];
        let n = master_salt.len().min(14);
        salt[..n].copy_from_slice(&master_salt[..n]);
        Ok(Self { prf, salt })
    }

    /// Fills `out` with the session key for `label`.
    ///
    /// RFC 3711 §4.3.1: with kdr = 0, r = 0, so key_id = label || 0^48 and
    /// x = key_id XOR master_salt; the PRF output is AES-CM with IV = x * 2^16.
    pub(crate) fn derive(&self, label: Label, out: &mut [u8]) -> Result<(), Error> {
        let mut iv = [0u8; 16];
        iv[..14].copy_from_slice(&self.salt);
        // The label sits 7 bytes from the right end of the 112-bit x.
        iv[7] ^= label as u8;
        out.fill(0);
        self.prf
            .less_safe_encrypt(out, EncryptionContext::Iv128(FixedLength::from(iv)))
            .map_err(|_| Error::Crypto {
                operation: "key derivation",
            })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::hex;

    // RFC 3711 Appendix B.3: key derivation test vectors.
    const MASTER_KEY: &str = "E1F97A0D3E018BE0D64FA32C06DE4139";
    const MASTER_SALT: &str = "0EC675AD498AFEEBB6960B3AABE6";

    fn derive(label: Label, len: usize) -> Vec<u8> {
        let kdf = Kdf::new(&hex(MASTER_KEY), &hex(MASTER_SALT)).unwrap();
        let mut out = vec![0u8; len];
        kdf.derive(label, &mut out).unwrap();
        out
    }

    #[test]
    fn rfc3711_b3_cipher_key() {
        assert_eq!(
            derive(Label::RtpEncryption, 16),
            hex("C61E7A93744F39EE10734AFE3FF7A087")
        );
    }

    #[test]
    fn rfc3711_b3_cipher_salt() {
        assert_eq!(
            derive(Label::RtpSalt, 14),
            hex("30CBBC08863D8C85D49DB34A9AE1")
        );
    }

    #[test]
    fn rfc3711_b3_authentication_key() {
        // Appendix B.3 lists 94 bytes of output; the first 20 are the HMAC-SHA1 key.
        assert_eq!(
            derive(Label::RtpAuthentication, 20),
            hex("CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4")
        );
    }

    #[test]
    fn labels_give_distinct_keys() {
        let labels = [
            Label::RtpEncryption,
            Label::RtpAuthentication,
            Label::RtpSalt,
            Label::RtcpEncryption,
            Label::RtcpAuthentication,
            Label::RtcpSalt,
        ];
        let keys: Vec<Vec<u8>> = labels.iter().map(|l| derive(*l, 16)).collect();
        for i in 0..keys.len() {
            for j in i + 1..keys.len() {
                assert_ne!(
                    keys[i], keys[j],
                    "labels {:?} and {:?}",
                    labels[i], labels[j]
                );
            }
        }
    }
}
