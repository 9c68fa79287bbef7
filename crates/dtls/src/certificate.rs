//! Certificates for DTLS in WebRTC: the W3C `RTCCertificate`.
//!
//! WebRTC endpoints authenticate with self-signed certificates whose
//! fingerprints travel in SDP (RFC 8827 §6.5, RFC 8122). Like browsers we
//! generate ECDSA P-256 keys (W3C webrtc §4.9, `generateCertificate` with
//! `{name: "ECDSA", namedCurve: "P-256"}`) with a 30-day default lifetime,
//! and RSA 2048 keys (RSASSA-PKCS1-v1_5 with SHA-256) on request.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_lc_rs::digest;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, IsCa, KeyPair, PKCS_ECDSA_P256_SHA256,
    PKCS_ECDSA_P384_SHA384, PKCS_RSA_SHA256,
};
use x509_cert::der::Decode;

use crate::crypto::SigningKey;
use crate::error::Error;
use crate::fingerprint::{Fingerprint, HashAlgorithm};

/// Default certificate lifetime, as Chromium and Firefox use.
pub const DEFAULT_VALIDITY: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// Longest lifetime of a generated certificate: W3C webrtc-pc §4.9
/// `generateCertificate` sets an `expires` above 31536000000 ms (365 days)
/// to 31536000000.
const MAX_VALIDITY: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// Largest PEM input [`Certificate::from_pem`] reads.
const MAX_PEM_LEN: usize = 64 * 1024;

/// `notBefore` is backdated by this much to tolerate peers with slow clocks.
const BACKDATE: Duration = Duration::from_secs(24 * 60 * 60);

/// The key type of a generated certificate (W3C `generateCertificate`'s
/// `AlgorithmIdentifier`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum KeyType {
    /// ECDSA on P-256 with SHA-256, what browsers generate (the default).
    #[default]
    EcdsaP256,
    /// RSA 2048 signing with RSASSA-PKCS1-v1_5 and SHA-256 (`{name:
    /// "RSASSA-PKCS1-v1_5", modulusLength: 2048, hash: "SHA-256"}`).
    /// [`Certificate::key_type`] also reports it for an imported RSA key
    /// of another size.
    Rsa2048,
    /// ECDSA on P-384 with SHA-384 (`{name: "ECDSA", namedCurve: "P-384"}`).
    EcdsaP384,
}

/// A DTLS identity: a self-signed X.509 certificate and its private key,
/// the W3C `RTCCertificate`.
///
/// Keep one across restarts with [`to_pem`](Self::to_pem) and
/// [`from_pem`](Self::from_pem), so the fingerprint peers pinned stays valid.
///
/// ```
/// use std::time::SystemTime;
/// use ferrtc_dtls::Certificate;
///
/// let now = SystemTime::now();
/// let cert = Certificate::generate(now)?;
/// let fp = &cert.fingerprints()[0];
/// assert_eq!(fp.algorithm().name(), "sha-256");
/// let again = Certificate::from_pem(&cert.to_pem(), now)?;
/// assert_eq!(again.fingerprints(), cert.fingerprints());
/// # Ok::<(), ferrtc_dtls::Error>(())
/// ```
#[doc(alias = "RTCCertificate")]
#[derive(Clone)]
pub struct Certificate {
    der: Vec<u8>,
    /// PKCS#8 DER of the private key.
    key_pkcs8: Vec<u8>,
    /// The key loaded for signing, shared by every transport using it.
    signing_key: Arc<SigningKey>,
    expires: SystemTime,
}

impl Certificate {
    /// Generates an ECDSA P-256 self-signed certificate valid for
    /// [`DEFAULT_VALIDITY`] (30 days) from `now`.
    ///
    /// The key comes from the system CSPRNG (through aws-lc-rs); it is never
    /// derived from a caller seed.
    pub fn generate(now: SystemTime) -> Result<Self, Error> {
        Self::generate_with_validity(now, DEFAULT_VALIDITY)
    }

    /// Generates an ECDSA P-256 self-signed certificate that expires
    /// `validity` after `now` (W3C `RTCCertificateExpiration.expires`).
    pub fn generate_with_validity(now: SystemTime, validity: Duration) -> Result<Self, Error> {
        Self::generate_with(KeyType::EcdsaP256, now, validity)
    }

    /// Generates a self-signed certificate with a key of `key_type` that
    /// expires `validity` after `now`. RSA key generation takes tens of
    /// milliseconds.
    ///
    /// A `validity` over 365 days is taken as 365 days, as W3C
    /// `generateCertificate` does with its `expires` (webrtc-pc §4.9). A
    /// longer-lived identity can still be imported with
    /// [`from_pem`](Self::from_pem).
    pub fn generate_with(
        key_type: KeyType,
        now: SystemTime,
        validity: Duration,
    ) -> Result<Self, Error> {
        let alg = match key_type {
            KeyType::EcdsaP256 => &PKCS_ECDSA_P256_SHA256,
            KeyType::EcdsaP384 => &PKCS_ECDSA_P384_SHA384,
            KeyType::Rsa2048 => &PKCS_RSA_SHA256,
        };
        let key_pair = KeyPair::generate_for(alg).map_err(Error::CertificateGeneration)?;

        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        // Chromium uses the fixed common name "WebRTC"; the certificate is
        // identified by its fingerprint, never by its name.
        name.push(DnType::CommonName, "WebRTC");
        params.distinguished_name = name;
        params.is_ca = IsCa::NoCa;
        // Firefox refuses two certificates with the same issuer and serial, so
        // the serial must be unique across processes: take it from the (random)
        // public key, 16 bytes with the top bit clear so it stays positive.
        let digest = digest::digest(&digest::SHA256, key_pair.public_key_raw());
        let mut serial = [0u8; 16];
        serial.copy_from_slice(&digest.as_ref()[..16]);
        serial[0] &= 0x7f;
        params.serial_number = Some(serial.to_vec().into());
        let not_before = now.checked_sub(BACKDATE).unwrap_or(SystemTime::UNIX_EPOCH);
        // W3C webrtc-pc §4.9: "If expires is greater than 31536000000, set
        // expires to 31536000000". This also keeps `notAfter` in the range
        // of X.509 dates (a far one would panic in the date conversion).
        let validity = validity.min(MAX_VALIDITY);
        let not_after = now.checked_add(validity).ok_or(Error::InvalidCertificate {
            reason: "validity overflows the time range",
        })?;
        let out_of_range = Error::InvalidCertificate {
            reason: "validity outside the range of X.509 dates",
        };
        params.not_before = x509_time(not_before).ok_or(out_of_range.clone())?;
        params.not_after = x509_time(not_after).ok_or(out_of_range)?;

        let cert = params
            .self_signed(&key_pair)
            .map_err(Error::CertificateGeneration)?;
        let der = cert.der().to_vec();
        // Read the expiry back from the DER so that generated and imported
        // certificates agree to the second (X.509 has no sub-second time).
        let (expires, _) = parse_certificate(&der)?;
        let key_pkcs8 = key_pair.serialize_der();
        let signing_key = SigningKey::from_pkcs8(&key_pkcs8).ok_or(Error::InvalidCertificate {
            reason: "generated key does not load",
        })?;
        Ok(Certificate {
            der,
            key_pkcs8,
            signing_key: Arc::new(signing_key),
            expires,
        })
    }

    /// Imports a certificate and its PKCS#8 private key from PEM (a
    /// `CERTIFICATE` block and a `PRIVATE KEY` block, in any order), as
    /// written by [`to_pem`](Self::to_pem) or `openssl req -x509`.
    ///
    /// Refuses a certificate that has expired at `now`, a key that is not
    /// ECDSA P-256/P-384 or RSA (2048 to 8192 bits), and a key that does not
    /// belong to the certificate.
    pub fn from_pem(pem_text: &str, now: SystemTime) -> Result<Self, Error> {
        if pem_text.len() > MAX_PEM_LEN {
            return Err(Error::InvalidCertificate {
                reason: "PEM input too large",
            });
        }
        let blocks = pem::parse_many(pem_text).map_err(|_| Error::InvalidCertificate {
            reason: "malformed PEM",
        })?;
        let mut der = None;
        let mut key = None;
        for block in blocks {
            match block.tag() {
                "CERTIFICATE" if der.is_none() => der = Some(block.into_contents()),
                "PRIVATE KEY" if key.is_none() => key = Some(block.into_contents()),
                "CERTIFICATE" | "PRIVATE KEY" => {
                    return Err(Error::InvalidCertificate {
                        reason: "more than one certificate or private key in PEM",
                    });
                }
                _ => {}
            }
        }
        let (Some(der), Some(key_pkcs8)) = (der, key) else {
            return Err(Error::InvalidCertificate {
                reason: "PEM needs one CERTIFICATE and one PRIVATE KEY (PKCS#8) block",
            });
        };
        Self::from_der(der, key_pkcs8, now)
    }

    /// Imports a DER certificate and PKCS#8 DER private key, with the checks
    /// of [`from_pem`](Self::from_pem).
    pub fn from_der(der: Vec<u8>, key_pkcs8: Vec<u8>, now: SystemTime) -> Result<Self, Error> {
        let (expires, cert_public_key) = parse_certificate(&der)?;
        let signing_key = SigningKey::from_pkcs8(&key_pkcs8).ok_or(Error::InvalidCertificate {
            reason: "private key is not a PKCS#8 ECDSA P-256/P-384 or RSA key",
        })?;
        if signing_key.public_key() != cert_public_key {
            return Err(Error::InvalidCertificate {
                reason: "private key does not match the certificate",
            });
        }
        let cert = Certificate {
            der,
            key_pkcs8,
            signing_key: Arc::new(signing_key),
            expires,
        };
        cert.check_not_expired(now)?;
        Ok(cert)
    }

    /// Exports the certificate and its PKCS#8 private key as PEM.
    ///
    /// The output contains the private key: store it as a secret.
    pub fn to_pem(&self) -> String {
        pem::encode_many(&[
            pem::Pem::new("CERTIFICATE", self.der.clone()),
            pem::Pem::new("PRIVATE KEY", self.key_pkcs8.clone()),
        ])
    }

    /// When the certificate stops being valid (its `notAfter`), the W3C
    /// `RTCCertificate.expires`.
    pub fn expires(&self) -> SystemTime {
        self.expires
    }

    /// Whether the certificate has expired at `now`.
    pub fn is_expired(&self, now: SystemTime) -> bool {
        now >= self.expires
    }

    /// Fails with [`Error::CertificateExpired`] if the certificate has expired at `now`.
    pub fn check_not_expired(&self, now: SystemTime) -> Result<(), Error> {
        if self.is_expired(now) {
            return Err(Error::CertificateExpired {
                not_after: self.expires,
                now,
            });
        }
        Ok(())
    }

    /// The fingerprints to announce in SDP (W3C `getFingerprints()`): one
    /// SHA-256 fingerprint, as browsers give.
    pub fn fingerprints(&self) -> Vec<Fingerprint> {
        vec![self.fingerprint(HashAlgorithm::Sha256)]
    }

    /// The fingerprint with a chosen hash function.
    pub fn fingerprint(&self, algorithm: HashAlgorithm) -> Fingerprint {
        Fingerprint::of_der(algorithm, &self.der)
    }

    /// The certificate in DER.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The private key in PKCS#8 DER. A secret: for handing the identity to
    /// another DTLS implementation (tests use it with dimpl).
    pub fn private_key_der(&self) -> &[u8] {
        &self.key_pkcs8
    }

    /// The key type.
    pub fn key_type(&self) -> KeyType {
        match *self.signing_key {
            SigningKey::EcdsaP256(_) => KeyType::EcdsaP256,
            SigningKey::EcdsaP384(_) => KeyType::EcdsaP384,
            SigningKey::Rsa(_) => KeyType::Rsa2048,
        }
    }

    pub(crate) fn signing_key(&self) -> Arc<SigningKey> {
        Arc::clone(&self.signing_key)
    }
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the private key.
        f.debug_struct("Certificate")
            .field("fingerprint", &self.fingerprint(HashAlgorithm::Sha256))
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

/// `t` as a date of the `time` crate, or `None` out of what X.509 can
/// write (years 0 to 9999), where `OffsetDateTime::from` or the encoder
/// would panic.
fn x509_time(t: SystemTime) -> Option<time::OffsetDateTime> {
    let epoch = time::OffsetDateTime::UNIX_EPOCH;
    let date = match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => epoch.checked_add(time::Duration::try_from(after).ok()?),
        Err(before) => epoch.checked_sub(time::Duration::try_from(before.duration()).ok()?),
    }?;
    // RFC 5280 §4.1.2.5.2: GeneralizedTime has a four-digit year.
    (0..=9999).contains(&date.year()).then_some(date)
}

/// Returns the certificate's `notAfter` and its raw subject public key.
fn parse_certificate(der: &[u8]) -> Result<(SystemTime, Vec<u8>), Error> {
    let cert = x509_cert::Certificate::from_der(der).map_err(|_| Error::InvalidCertificate {
        reason: "certificate is not valid X.509 DER",
    })?;
    let tbs = cert.tbs_certificate();
    let not_after = tbs.validity().not_after.to_system_time();
    let public_key = tbs
        .subject_public_key_info()
        .subject_public_key
        .as_bytes()
        .ok_or(Error::InvalidCertificate {
            reason: "certificate public key is not a whole number of bytes",
        })?
        .to_vec();
    Ok((not_after, public_key))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(24 * 60 * 60);

    fn t0() -> SystemTime {
        // 2026-01-01T00:00:00Z, a fixed instant so tests do not read the clock.
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600)
    }

    #[test]
    fn generated_certificate_expires_after_thirty_days_by_default() {
        let cert = Certificate::generate(t0()).expect("generate");
        assert_eq!(cert.expires(), t0() + 30 * DAY);
        assert!(!cert.is_expired(t0() + 29 * DAY));
        assert!(cert.is_expired(t0() + 30 * DAY));
    }

    #[test]
    fn validity_is_configurable() {
        let cert = Certificate::generate_with_validity(t0(), 2 * DAY).expect("generate");
        assert_eq!(cert.expires(), t0() + 2 * DAY);
    }

    /// W3C webrtc-pc §4.9 `generateCertificate`: an `expires` above
    /// 31536000000 ms is set to 31536000000 (365 days). A longer validity,
    /// up to one past X.509's last date (RFC 5280 §4.1.2.5, year 9999),
    /// gives a certificate that expires 365 days from now, and never a panic.
    #[test]
    fn validity_over_365_days_is_capped_at_365_days() {
        for validity in [
            366 * DAY,
            Duration::from_secs(400 * 365 * 24 * 60 * 60),
            Duration::from_secs(10_000 * 365 * 24 * 60 * 60),
            Duration::from_millis(u64::MAX),
        ] {
            let cert = Certificate::generate_with_validity(t0(), validity).expect("generate");
            assert_eq!(cert.expires(), t0() + MAX_VALIDITY, "{validity:?}");
        }
        let cert = Certificate::generate_with_validity(t0(), MAX_VALIDITY).expect("generate");
        assert_eq!(cert.expires(), t0() + 365 * DAY);
        // A clock past X.509's last date is an error, not a panic.
        let far = SystemTime::UNIX_EPOCH + Duration::from_secs(300_000_000_000);
        assert!(matches!(
            Certificate::generate(far),
            Err(Error::InvalidCertificate { .. })
        ));
    }

    #[test]
    fn generated_certificate_is_ecdsa_p256_named_webrtc() {
        let cert = Certificate::generate(t0()).expect("generate");
        let parsed = x509_cert::Certificate::from_der(cert.der()).expect("DER");
        let spki = parsed.tbs_certificate().subject_public_key_info();
        assert_eq!(spki.algorithm.oid.to_string(), "1.2.840.10045.2.1"); // id-ecPublicKey
        let curve: x509_cert::der::asn1::ObjectIdentifier = spki
            .algorithm
            .parameters
            .as_ref()
            .expect("curve")
            .decode_as()
            .expect("oid");
        assert_eq!(curve.to_string(), "1.2.840.10045.3.1.7"); // prime256v1
        assert!(
            parsed
                .tbs_certificate()
                .subject()
                .to_string()
                .contains("CN=WebRTC")
        );
    }

    #[test]
    fn two_certificates_have_different_serials_and_fingerprints() {
        let a = Certificate::generate(t0()).expect("generate");
        let b = Certificate::generate(t0()).expect("generate");
        let serial = |c: &Certificate| {
            x509_cert::Certificate::from_der(c.der())
                .expect("DER")
                .tbs_certificate()
                .serial_number()
                .as_bytes()
                .to_vec()
        };
        assert_ne!(serial(&a), serial(&b));
        assert_ne!(a.fingerprints(), b.fingerprints());
    }

    #[test]
    fn fingerprints_are_sha256_of_the_der() {
        let cert = Certificate::generate(t0()).expect("generate");
        let fps = cert.fingerprints();
        assert_eq!(fps.len(), 1);
        assert_eq!(fps[0].algorithm(), HashAlgorithm::Sha256);
        assert_eq!(
            fps[0].value(),
            digest::digest(&digest::SHA256, cert.der()).as_ref()
        );
        assert!(
            cert.fingerprint(HashAlgorithm::Sha512)
                .matches_der(cert.der())
        );
    }

    #[test]
    fn pem_round_trip_keeps_identity_and_expiry() {
        let cert = Certificate::generate(t0()).expect("generate");
        let pem = cert.to_pem();
        assert!(pem.contains("-----BEGIN CERTIFICATE-----"));
        assert!(pem.contains("-----BEGIN PRIVATE KEY-----"));
        let back = Certificate::from_pem(&pem, t0() + DAY).expect("import");
        assert_eq!(back.der(), cert.der());
        assert_eq!(back.expires(), cert.expires());
        assert_eq!(back.to_pem(), pem);
    }

    #[test]
    fn import_refuses_an_expired_certificate() {
        let cert = Certificate::generate_with_validity(t0(), DAY).expect("generate");
        let err = Certificate::from_pem(&cert.to_pem(), t0() + 2 * DAY).expect_err("expired");
        assert!(matches!(err, Error::CertificateExpired { .. }), "{err}");
    }

    #[test]
    fn import_refuses_a_key_from_another_certificate() {
        let a = Certificate::generate(t0()).expect("generate");
        let b = Certificate::generate(t0()).expect("generate");
        let mixed = pem::encode_many(&[
            pem::Pem::new("CERTIFICATE", a.der.clone()),
            pem::Pem::new("PRIVATE KEY", b.key_pkcs8.clone()),
        ]);
        let err = Certificate::from_pem(&mixed, t0()).expect_err("mismatch");
        assert!(matches!(err, Error::InvalidCertificate { .. }), "{err}");
        let rsa = Certificate::generate_with(KeyType::Rsa2048, t0(), DAY).expect("rsa");
        let mixed = pem::encode_many(&[
            pem::Pem::new("CERTIFICATE", a.der.clone()),
            pem::Pem::new("PRIVATE KEY", rsa.key_pkcs8.clone()),
        ]);
        let err = Certificate::from_pem(&mixed, t0()).expect_err("mismatch");
        assert!(matches!(err, Error::InvalidCertificate { .. }), "{err}");
    }

    #[test]
    fn import_refuses_garbage_and_missing_blocks() {
        assert!(Certificate::from_pem("not pem", t0()).is_err());
        let cert = Certificate::generate(t0()).expect("generate");
        let only_cert = pem::encode(&pem::Pem::new("CERTIFICATE", cert.der.clone()));
        assert!(Certificate::from_pem(&only_cert, t0()).is_err());
        let junk = pem::encode_many(&[
            pem::Pem::new("CERTIFICATE", vec![0x30, 0x03, 1, 2, 3]),
            pem::Pem::new("PRIVATE KEY", cert.key_pkcs8.clone()),
        ]);
        assert!(Certificate::from_pem(&junk, t0()).is_err());
    }

    #[test]
    fn rsa_certificate_generates_and_round_trips_through_pem() {
        let cert = Certificate::generate_with(KeyType::Rsa2048, t0(), DAY).expect("rsa");
        assert_eq!(cert.key_type(), KeyType::Rsa2048);
        let parsed = x509_cert::Certificate::from_der(cert.der()).expect("DER");
        let spki = parsed.tbs_certificate().subject_public_key_info();
        assert_eq!(spki.algorithm.oid.to_string(), "1.2.840.113549.1.1.1"); // rsaEncryption
        let back = Certificate::from_pem(&cert.to_pem(), t0()).expect("import");
        assert_eq!(back.fingerprints(), cert.fingerprints());
        assert_eq!(back.key_type(), KeyType::Rsa2048);
        assert_eq!(back.expires(), t0() + DAY);
    }

    /// A clock outside X.509's range of dates gives an error, not a panic,
    /// also before year 0 (GeneralizedTime has four digits, RFC 5280
    /// §4.1.2.5.2); before 1950 (UTCTime's range) the certificate carries
    /// the expiry asked.
    #[test]
    fn a_clock_before_year_zero_is_an_error_not_a_panic() {
        let year = Duration::from_secs(365 * 24 * 60 * 60);
        for years_before_1970 in [100u32, 3000, 5000] {
            let now = SystemTime::UNIX_EPOCH - year * years_before_1970;
            let r = std::panic::catch_unwind(|| Certificate::generate(now));
            match r {
                Err(_) => panic!("panicked {years_before_1970} years before 1970"),
                Ok(Ok(c)) => {
                    // If it succeeded, the expiry read back must be the one asked.
                    let exp = c.expires();
                    assert!(
                        exp <= now + DEFAULT_VALIDITY
                            && exp + Duration::from_secs(1) > now + DEFAULT_VALIDITY,
                        "{years_before_1970}: expires {exp:?} vs {:?}",
                        now + DEFAULT_VALIDITY
                    );
                }
                Ok(Err(_)) => {}
            }
        }
    }
}
