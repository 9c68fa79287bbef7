//! Certificate fingerprints as carried by the SDP `a=fingerprint` attribute
//! (RFC 8122 §5) and by `RTCCertificate.getFingerprints()` (W3C webrtc §4.9.1).

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::digest;

use crate::error::Error;

/// A hash function usable in an `a=fingerprint` attribute (RFC 8122 §5,
/// "Hash Function Textual Names" registry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HashAlgorithm {
    /// SHA-1 (`sha-1`), still seen from older peers.
    Sha1,
    /// SHA-256 (`sha-256`), what browsers use.
    Sha256,
    /// SHA-384 (`sha-384`).
    Sha384,
    /// SHA-512 (`sha-512`).
    Sha512,
}

impl HashAlgorithm {
    /// Every supported algorithm.
    pub const ALL: [HashAlgorithm; 4] = [Self::Sha1, Self::Sha256, Self::Sha384, Self::Sha512];

    /// The textual name used in SDP, e.g. `sha-256`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "sha-1",
            Self::Sha256 => "sha-256",
            Self::Sha384 => "sha-384",
            Self::Sha512 => "sha-512",
        }
    }

    /// Looks an SDP name up, ignoring ASCII case (RFC 8122 names are case-insensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|alg| alg.name().eq_ignore_ascii_case(name))
    }

    /// Length of the digest in bytes.
    pub fn output_len(self) -> usize {
        self.digest_algorithm().output_len()
    }

    fn digest_algorithm(self) -> &'static digest::Algorithm {
        match self {
            Self::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            Self::Sha256 => &digest::SHA256,
            Self::Sha384 => &digest::SHA384,
            Self::Sha512 => &digest::SHA512,
        }
    }
}

impl fmt::Display for HashAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A certificate fingerprint: a hash of the DER certificate (RFC 8122 §5),
/// the W3C `RTCDtlsFingerprint` dictionary.
///
/// Displays and parses in the SDP form `sha-256 AB:CD:...` (upper-case hex,
/// colon separated).
#[doc(alias = "RTCDtlsFingerprint")]
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Fingerprint {
    algorithm: HashAlgorithm,
    value: Vec<u8>,
}

impl Fingerprint {
    /// Hashes a DER-encoded certificate with `algorithm`.
    pub fn of_der(algorithm: HashAlgorithm, certificate_der: &[u8]) -> Self {
        let digest = digest::digest(algorithm.digest_algorithm(), certificate_der);
        Fingerprint {
            algorithm,
            value: digest.as_ref().to_vec(),
        }
    }

    /// Builds a fingerprint from raw digest bytes, checking their length.
    pub fn new(algorithm: HashAlgorithm, value: Vec<u8>) -> Result<Self, Error> {
        if value.len() != algorithm.output_len() {
            return Err(Error::InvalidFingerprint {
                reason: "digest length does not match the hash algorithm",
            });
        }
        Ok(Fingerprint { algorithm, value })
    }

    /// Parses the value of an `a=fingerprint` attribute: `hash-func SP fingerprint`
    /// (RFC 8122 §5), e.g. `sha-256 AB:CD:...`. Hex is accepted in either case.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let mut parts = text.split_ascii_whitespace();
        let (Some(name), Some(hex), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(Error::InvalidFingerprint {
                reason: "expected `<hash-func> <hex pairs>`",
            });
        };
        let algorithm = HashAlgorithm::from_name(name).ok_or(Error::InvalidFingerprint {
            reason: "unsupported hash function",
        })?;
        let expected = algorithm.output_len();
        // Exact length check before decoding bounds the work and the allocation.
        if hex.len() != expected * 3 - 1 {
            return Err(Error::InvalidFingerprint {
                reason: "wrong number of hex pairs for the hash function",
            });
        }
        let mut value = Vec::with_capacity(expected);
        for pair in hex.split(':') {
            let byte = match pair.as_bytes() {
                [hi, lo] => hex_val(*hi)
                    .zip(hex_val(*lo))
                    .map(|(hi, lo)| (hi << 4) | lo),
                _ => None,
            };
            value.push(byte.ok_or(Error::InvalidFingerprint {
                reason: "expected colon-separated pairs of hex digits",
            })?);
        }
        Fingerprint::new(algorithm, value)
    }

    /// The hash function.
    pub fn algorithm(&self) -> HashAlgorithm {
        self.algorithm
    }

    /// The raw digest bytes.
    pub fn value(&self) -> &[u8] {
        &self.value
    }

    /// The digest as upper-case colon-separated hex, e.g. `AB:CD:...`
    /// (the W3C `RTCDtlsFingerprint.value` and the SDP form).
    pub fn value_hex(&self) -> String {
        let mut out = String::with_capacity(self.value.len() * 3);
        for (i, byte) in self.value.iter().enumerate() {
            if i > 0 {
                out.push(':');
            }
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
        out
    }

    /// Whether this fingerprint is the hash of `certificate_der`.
    pub fn matches_der(&self, certificate_der: &[u8]) -> bool {
        Fingerprint::of_der(self.algorithm, certificate_der) == *self
    }
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.algorithm, self.value_hex())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

impl FromStr for Fingerprint {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Fingerprint::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sha256_of_known_input_is_formatted_upper_case_with_colons() {
        // SHA-256("abc") from FIPS 180-2 appendix B.1.
        let fp = Fingerprint::of_der(HashAlgorithm::Sha256, b"abc");
        assert_eq!(
            fp.to_string(),
            "sha-256 BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:\
             B0:03:61:A3:96:17:7A:9C:B4:10:FF:61:F2:00:15:AD"
        );
    }

    #[test]
    fn parse_accepts_lower_case_hex_and_upper_case_algorithm() {
        let upper = Fingerprint::of_der(HashAlgorithm::Sha1, b"abc").to_string();
        let lower = upper.to_ascii_lowercase().replace("sha-1", "SHA-1");
        assert_eq!(
            Fingerprint::parse(&lower).ok(),
            Some(Fingerprint::of_der(HashAlgorithm::Sha1, b"abc"))
        );
    }

    #[test]
    fn parse_rejects_unknown_algorithm_wrong_length_and_bad_hex() {
        assert!(Fingerprint::parse("md5 AB:CD").is_err());
        assert!(Fingerprint::parse("sha-256 AB:CD").is_err());
        assert!(
            Fingerprint::parse("sha-1 ZZ:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00")
                .is_err()
        );
        assert!(
            Fingerprint::parse("sha-1 000:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:0")
                .is_err()
        );
        assert!(Fingerprint::parse("sha-256").is_err());
        assert!(Fingerprint::parse("").is_err());
    }

    proptest! {
        #[test]
        fn display_then_parse_round_trips(data in proptest::collection::vec(any::<u8>(), 0..64), alg in 0usize..4) {
            let fp = Fingerprint::of_der(HashAlgorithm::ALL[alg], &data);
            prop_assert_eq!(Fingerprint::parse(&fp.to_string()).ok(), Some(fp));
        }

        #[test]
        fn parse_never_panics(text in ".{0,200}") {
            let _ = Fingerprint::parse(&text);
        }
    }
}
