//! The cryptography of DTLS 1.2, all on aws-lc-rs: cipher suites, the TLS
//! PRF (RFC 5246 §5), key derivation with the extended master secret
//! (RFC 7627), the exporter (RFC 5705), ECDHE key shares (RFC 8422), the
//! signatures of ServerKeyExchange and CertificateVerify, and the AES-GCM
//! record protection (RFC 5288).

use std::fmt;

use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::agreement::{self, PrivateKey, UnparsedPublicKey};
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair as _, RsaKeyPair};
use aws_lc_rs::{digest, hmac};
use x509_cert::der::Decode;

use crate::error::ProtocolError;

/// The source of every random byte the engine chooses itself: randoms,
/// cookie secret, ECDHE private keys. A cryptographically secure RNG.
pub(crate) struct Rng(Box<dyn rand::CryptoRng + Send + Sync>);

impl Rng {
    pub(crate) fn new(rng: impl rand::CryptoRng + Send + Sync + 'static) -> Self {
        Rng(Box::new(rng))
    }

    /// The operating system's RNG.
    pub(crate) fn system() -> Self {
        use rand::TryRngCore;
        Rng::new(rand::rngs::OsRng.unwrap_err())
    }

    pub(crate) fn fill(&mut self, out: &mut [u8]) {
        self.0.fill_bytes(out);
    }

    pub(crate) fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        self.fill(&mut out);
        out
    }
}

impl fmt::Debug for Rng {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Rng")
    }
}

/// The hash of the PRF and of the handshake transcript.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PrfHash {
    Sha256,
    Sha384,
}

impl PrfHash {
    fn hmac(self) -> hmac::Algorithm {
        match self {
            Self::Sha256 => hmac::HMAC_SHA256,
            Self::Sha384 => hmac::HMAC_SHA384,
        }
    }

    pub(crate) fn digest(self, data: &[u8]) -> digest::Digest {
        let alg = match self {
            Self::Sha256 => &digest::SHA256,
            Self::Sha384 => &digest::SHA384,
        };
        digest::digest(alg, data)
    }
}

/// The four ECDHE AES-GCM suites (RFC 5289).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CipherSuite {
    /// `TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256` (0xC02B).
    EcdheEcdsaAes128Gcm,
    /// `TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384` (0xC02C).
    EcdheEcdsaAes256Gcm,
    /// `TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256` (0xC02F).
    EcdheRsaAes128Gcm,
    /// `TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384` (0xC030).
    EcdheRsaAes256Gcm,
}

impl CipherSuite {
    /// All suites, in our order of preference.
    pub const ALL: [CipherSuite; 4] = [
        Self::EcdheEcdsaAes128Gcm,
        Self::EcdheRsaAes128Gcm,
        Self::EcdheEcdsaAes256Gcm,
        Self::EcdheRsaAes256Gcm,
    ];

    /// The IANA code point.
    pub fn id(self) -> u16 {
        match self {
            Self::EcdheEcdsaAes128Gcm => 0xc02b,
            Self::EcdheEcdsaAes256Gcm => 0xc02c,
            Self::EcdheRsaAes128Gcm => 0xc02f,
            Self::EcdheRsaAes256Gcm => 0xc030,
        }
    }

    /// The suite for a code point, if we support it.
    pub fn from_id(id: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.id() == id)
    }

    pub(crate) fn prf_hash(self) -> PrfHash {
        match self {
            Self::EcdheEcdsaAes128Gcm | Self::EcdheRsaAes128Gcm => PrfHash::Sha256,
            Self::EcdheEcdsaAes256Gcm | Self::EcdheRsaAes256Gcm => PrfHash::Sha384,
        }
    }

    pub(crate) fn key_len(self) -> usize {
        match self.prf_hash() {
            PrfHash::Sha256 => 16,
            PrfHash::Sha384 => 32,
        }
    }

    fn aead(self) -> &'static aead::Algorithm {
        match self.prf_hash() {
            PrfHash::Sha256 => &aead::AES_128_GCM,
            PrfHash::Sha384 => &aead::AES_256_GCM,
        }
    }

    /// Which certificate key the suite authenticates with.
    pub(crate) fn key_kind(self) -> KeyKind {
        match self {
            Self::EcdheEcdsaAes128Gcm | Self::EcdheEcdsaAes256Gcm => KeyKind::Ecdsa,
            Self::EcdheRsaAes128Gcm | Self::EcdheRsaAes256Gcm => KeyKind::Rsa,
        }
    }
}

/// The kind of a certificate's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum KeyKind {
    Ecdsa,
    Rsa,
}

/// `P_hash` of RFC 5246 §5 with `label || seed`, filling `out`.
pub(crate) fn prf(hash: PrfHash, secret: &[u8], label: &[u8], seed: &[&[u8]], out: &mut [u8]) {
    let key = hmac::Key::new(hash.hmac(), secret);
    let with_seed = |ctx: &mut hmac::Context| {
        ctx.update(label);
        for s in seed {
            ctx.update(s);
        }
    };
    // A(1) = HMAC(secret, label || seed)
    let mut ctx = hmac::Context::with_key(&key);
    with_seed(&mut ctx);
    let mut a = ctx.sign();
    let mut written = 0;
    while written < out.len() {
        let mut ctx = hmac::Context::with_key(&key);
        ctx.update(a.as_ref());
        with_seed(&mut ctx);
        let block = ctx.sign();
        let n = block.as_ref().len().min(out.len() - written);
        out[written..written + n].copy_from_slice(&block.as_ref()[..n]);
        written += n;
        a = hmac::sign(&key, a.as_ref());
    }
}

/// The 48-byte master secret with the extended master secret (RFC 7627 §4):
/// `PRF(pre_master_secret, "extended master secret", session_hash)`.
pub(crate) fn extended_master_secret(
    hash: PrfHash,
    pre_master_secret: &[u8],
    session_hash: &[u8],
) -> [u8; 48] {
    let mut out = [0u8; 48];
    prf(
        hash,
        pre_master_secret,
        b"extended master secret",
        &[session_hash],
        &mut out,
    );
    out
}

/// Overwrites secret bytes with zeros before their memory is released
/// (`black_box` keeps the writes from being optimised away as dead).
pub(crate) fn wipe(buf: &mut [u8]) {
    buf.fill(0);
    std::hint::black_box(buf);
}

/// The ECDHE shared secret (the pre-master secret), wiped when dropped.
pub(crate) struct PreMasterSecret(Vec<u8>);

impl std::ops::Deref for PreMasterSecret {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for PreMasterSecret {
    fn drop(&mut self) {
        wipe(&mut self.0);
    }
}

/// The session's secrets once the key exchange is done; the master secret
/// is wiped when dropped.
#[derive(Clone)]
pub(crate) struct Secrets {
    pub(crate) suite: CipherSuite,
    pub(crate) master: [u8; 48],
    pub(crate) client_random: [u8; 32],
    pub(crate) server_random: [u8; 32],
}

impl Secrets {
    /// Finished `verify_data` (RFC 5246 §7.4.9) over the transcript hash.
    pub(crate) fn verify_data(&self, client: bool, transcript: &[u8]) -> [u8; 12] {
        let hash = self.suite.prf_hash();
        let label: &[u8] = if client {
            b"client finished"
        } else {
            b"server finished"
        };
        let mut out = [0u8; 12];
        prf(
            hash,
            &self.master,
            label,
            &[hash.digest(transcript).as_ref()],
            &mut out,
        );
        out
    }

    /// The exporter (RFC 5705 §4) without a context value.
    pub(crate) fn export(&self, label: &[u8], out: &mut [u8]) {
        prf(
            self.suite.prf_hash(),
            &self.master,
            label,
            &[&self.client_random, &self.server_random],
            out,
        );
    }

    /// The record keys (RFC 5246 §6.3): `(client write, server write)`.
    pub(crate) fn record_keys(&self) -> Result<(RecordCipher, RecordCipher), ProtocolError> {
        let kl = self.suite.key_len();
        let mut block = [0u8; 2 * 32 + 2 * 4];
        let block = &mut block[..2 * kl + 8];
        prf(
            self.suite.prf_hash(),
            &self.master,
            b"key expansion",
            &[&self.server_random, &self.client_random],
            block,
        );
        let (client_key, rest) = block.split_at(kl);
        let (server_key, rest) = rest.split_at(kl);
        let (client_iv, server_iv) = rest.split_at(4);
        let keys = RecordCipher::new(self.suite, client_key, client_iv).and_then(|client| {
            Ok((
                client,
                RecordCipher::new(self.suite, server_key, server_iv)?,
            ))
        });
        wipe(block);
        keys
    }
}

impl Drop for Secrets {
    fn drop(&mut self) {
        wipe(&mut self.master);
    }
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the master secret.
        write!(f, "Secrets({:?})", self.suite)
    }
}

/// AES-GCM record protection (RFC 5288 §3): the implicit 4-byte salt from
/// the key block and an 8-byte explicit nonce carried in each record, which
/// is the record's epoch and sequence number (unique per key).
pub(crate) struct RecordCipher {
    key: LessSafeKey,
    salt: [u8; 4],
}

/// Bytes a protected record adds: explicit nonce and tag.
pub(crate) const AEAD_OVERHEAD: usize = 8 + 16;

impl RecordCipher {
    fn new(suite: CipherSuite, key: &[u8], salt: &[u8]) -> Result<Self, ProtocolError> {
        let key =
            UnboundKey::new(suite.aead(), key).map_err(|_| ProtocolError::Internal("AEAD key"))?;
        let mut s = [0u8; 4];
        s.copy_from_slice(salt);
        Ok(RecordCipher {
            key: LessSafeKey::new(key),
            salt: s,
        })
    }

    fn nonce(&self, explicit: [u8; 8]) -> Nonce {
        let mut n = [0u8; 12];
        n[..4].copy_from_slice(&self.salt);
        n[4..].copy_from_slice(&explicit);
        Nonce::assume_unique_for_key(n)
    }

    /// Encrypts `in_out` in place; returns the tag. `seq` is epoch and
    /// sequence number (the explicit nonce and the first AAD field);
    /// `version` is the record header's.
    pub(crate) fn seal(
        &self,
        seq: u64,
        content_type: u8,
        version: u16,
        in_out: &mut [u8],
    ) -> Result<aead::Tag, ProtocolError> {
        let aad = additional_data(seq, content_type, version, in_out.len());
        self.key
            .seal_in_place_separate_tag(self.nonce(seq.to_be_bytes()), Aad::from(aad), in_out)
            .map_err(|_| ProtocolError::Internal("AEAD seal"))
    }

    /// Decrypts a record body (`explicit nonce || ciphertext || tag`) in
    /// place; returns the plaintext's range within `body`, or `None` if the
    /// record does not authenticate. `version` is the one the received
    /// header carries, so that a rewritten header does not authenticate.
    pub(crate) fn open(
        &self,
        seq: u64,
        content_type: u8,
        version: u16,
        body: &mut [u8],
    ) -> Option<std::ops::Range<usize>> {
        if body.len() < AEAD_OVERHEAD {
            return None;
        }
        let mut explicit = [0u8; 8];
        explicit.copy_from_slice(&body[..8]);
        let plain_len = body.len() - AEAD_OVERHEAD;
        let aad = additional_data(seq, content_type, version, plain_len);
        let plain = self
            .key
            .open_in_place(self.nonce(explicit), Aad::from(aad), &mut body[8..])
            .ok()?;
        Some(8..8 + plain.len())
    }
}

/// `seq_num || type || version || length` (RFC 5246 §6.2.3.3, with the
/// DTLS epoch in the top 16 bits of `seq_num`, RFC 6347 §4.1.2.1). The
/// version is the record header's as sent or received.
fn additional_data(seq: u64, content_type: u8, version: u16, len: usize) -> [u8; 13] {
    let mut aad = [0u8; 13];
    aad[..8].copy_from_slice(&seq.to_be_bytes());
    aad[8] = content_type;
    aad[9..11].copy_from_slice(&version.to_be_bytes());
    aad[11..].copy_from_slice(&(len as u16).to_be_bytes());
    aad
}

/// The ECDHE groups (RFC 8422 §5.1.1, RFC 7748).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NamedGroup {
    /// `x25519` (29).
    X25519,
    /// `secp256r1` (23).
    P256,
    /// `secp384r1` (24).
    P384,
}

impl NamedGroup {
    /// All groups, in our order of preference.
    pub const ALL: [NamedGroup; 3] = [Self::X25519, Self::P256, Self::P384];

    /// The IANA code point.
    pub fn id(self) -> u16 {
        match self {
            Self::X25519 => 29,
            Self::P256 => 23,
            Self::P384 => 24,
        }
    }

    /// The group for a code point, if we support it.
    pub fn from_id(id: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.id() == id)
    }

    fn algorithm(self) -> &'static agreement::Algorithm {
        match self {
            Self::X25519 => &agreement::X25519,
            Self::P256 => &agreement::ECDH_P256,
            Self::P384 => &agreement::ECDH_P384,
        }
    }

    fn private_len(self) -> usize {
        match self {
            Self::X25519 | Self::P256 => 32,
            Self::P384 => 48,
        }
    }
}

/// Our ephemeral ECDHE key, drawn from the engine's RNG.
pub(crate) struct KeyShare {
    pub(crate) group: NamedGroup,
    private: PrivateKey,
    pub(crate) public: Vec<u8>,
}

impl KeyShare {
    pub(crate) fn generate(group: NamedGroup, rng: &mut Rng) -> Result<Self, ProtocolError> {
        // A random scalar is out of range for the NIST curves with
        // probability about 2^-32; draw again then.
        for _ in 0..8 {
            let mut bytes = [0u8; 48];
            let bytes = &mut bytes[..group.private_len()];
            rng.fill(bytes);
            let private = PrivateKey::from_private_key(group.algorithm(), bytes);
            wipe(bytes); // aws-lc holds its own copy of the scalar
            if let Ok(private) = private {
                let public = private
                    .compute_public_key()
                    .map_err(|_| ProtocolError::Internal("ECDHE public key"))?
                    .as_ref()
                    .to_vec();
                return Ok(KeyShare {
                    group,
                    private,
                    public,
                });
            }
        }
        Err(ProtocolError::Internal("ECDHE private key"))
    }

    /// The shared secret with the peer's public value (the pre-master secret).
    pub(crate) fn agree(&self, peer: &[u8]) -> Result<PreMasterSecret, ProtocolError> {
        agreement::agree(
            &self.private,
            UnparsedPublicKey::new(self.group.algorithm(), peer),
            ProtocolError::BadKeyShare,
            |secret| Ok(PreMasterSecret(secret.to_vec())),
        )
    }
}

/// TLS 1.2 signature schemes (RFC 8446 §4.2.3 code points, RFC 5246 pairs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureScheme {
    /// `ecdsa_secp256r1_sha256` (0x0403).
    EcdsaSha256,
    /// `ecdsa_secp384r1_sha384` (0x0503).
    EcdsaSha384,
    /// `rsa_pkcs1_sha256` (0x0401).
    RsaPkcs1Sha256,
    /// `rsa_pkcs1_sha384` (0x0501).
    RsaPkcs1Sha384,
    /// `rsa_pkcs1_sha512` (0x0601).
    RsaPkcs1Sha512,
    /// `rsa_pss_rsae_sha256` (0x0804).
    RsaPssSha256,
    /// `rsa_pss_rsae_sha384` (0x0805).
    RsaPssSha384,
    /// `rsa_pss_rsae_sha512` (0x0806).
    RsaPssSha512,
}

impl SignatureScheme {
    /// What we offer and verify, in order of preference.
    pub const ALL: [SignatureScheme; 8] = [
        Self::EcdsaSha256,
        Self::EcdsaSha384,
        Self::RsaPkcs1Sha256,
        Self::RsaPssSha256,
        Self::RsaPkcs1Sha384,
        Self::RsaPssSha384,
        Self::RsaPkcs1Sha512,
        Self::RsaPssSha512,
    ];

    /// The code point.
    pub fn id(self) -> u16 {
        match self {
            Self::EcdsaSha256 => 0x0403,
            Self::EcdsaSha384 => 0x0503,
            Self::RsaPkcs1Sha256 => 0x0401,
            Self::RsaPkcs1Sha384 => 0x0501,
            Self::RsaPkcs1Sha512 => 0x0601,
            Self::RsaPssSha256 => 0x0804,
            Self::RsaPssSha384 => 0x0805,
            Self::RsaPssSha512 => 0x0806,
        }
    }

    /// The scheme for a code point, if we support it.
    pub fn from_id(id: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.id() == id)
    }

    fn key_kind(self) -> KeyKind {
        match self {
            Self::EcdsaSha256 | Self::EcdsaSha384 => KeyKind::Ecdsa,
            _ => KeyKind::Rsa,
        }
    }
}

/// The public key of the peer's certificate.
pub(crate) enum PeerKey {
    P256(Vec<u8>),
    P384(Vec<u8>),
    /// PKCS#1 `RSAPublicKey` DER.
    Rsa(Vec<u8>),
}

const OID_EC: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_P384: &str = "1.3.132.0.34";
const OID_RSA: &str = "1.2.840.113549.1.1.1";

impl PeerKey {
    /// Reads the subject public key of a DER certificate.
    pub(crate) fn from_certificate(der: &[u8]) -> Result<Self, ProtocolError> {
        let cert = x509_cert::Certificate::from_der(der)
            .map_err(|_| ProtocolError::BadCertificate("not X.509 DER"))?;
        let spki = cert.tbs_certificate().subject_public_key_info();
        let key = spki
            .subject_public_key
            .as_bytes()
            .ok_or(ProtocolError::BadCertificate("public key bit string"))?
            .to_vec();
        match spki.algorithm.oid.to_string().as_str() {
            OID_RSA => Ok(PeerKey::Rsa(key)),
            OID_EC => {
                let curve: x509_cert::der::asn1::ObjectIdentifier = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.decode_as().ok())
                    .ok_or(ProtocolError::BadCertificate("EC parameters"))?;
                match curve.to_string().as_str() {
                    OID_P256 => Ok(PeerKey::P256(key)),
                    OID_P384 => Ok(PeerKey::P384(key)),
                    _ => Err(ProtocolError::BadCertificate("unsupported curve")),
                }
            }
            _ => Err(ProtocolError::BadCertificate("unsupported key type")),
        }
    }

    pub(crate) fn kind(&self) -> KeyKind {
        match self {
            PeerKey::P256(_) | PeerKey::P384(_) => KeyKind::Ecdsa,
            PeerKey::Rsa(_) => KeyKind::Rsa,
        }
    }

    /// Verifies a signature made with `scheme` over `message`.
    pub(crate) fn verify(
        &self,
        scheme: SignatureScheme,
        message: &[u8],
        sig: &[u8],
    ) -> Result<(), ProtocolError> {
        use SignatureScheme as S;
        let (alg, key): (&'static dyn signature::VerificationAlgorithm, &[u8]) =
            match (self, scheme) {
                (PeerKey::P256(k), S::EcdsaSha256) => (&signature::ECDSA_P256_SHA256_ASN1, k),
                (PeerKey::P256(k), S::EcdsaSha384) => (&signature::ECDSA_P256_SHA384_ASN1, k),
                (PeerKey::P384(k), S::EcdsaSha256) => (&signature::ECDSA_P384_SHA256_ASN1, k),
                (PeerKey::P384(k), S::EcdsaSha384) => (&signature::ECDSA_P384_SHA384_ASN1, k),
                (PeerKey::Rsa(k), S::RsaPkcs1Sha256) => (&signature::RSA_PKCS1_2048_8192_SHA256, k),
                (PeerKey::Rsa(k), S::RsaPkcs1Sha384) => (&signature::RSA_PKCS1_2048_8192_SHA384, k),
                (PeerKey::Rsa(k), S::RsaPkcs1Sha512) => (&signature::RSA_PKCS1_2048_8192_SHA512, k),
                (PeerKey::Rsa(k), S::RsaPssSha256) => (&signature::RSA_PSS_2048_8192_SHA256, k),
                (PeerKey::Rsa(k), S::RsaPssSha384) => (&signature::RSA_PSS_2048_8192_SHA384, k),
                (PeerKey::Rsa(k), S::RsaPssSha512) => (&signature::RSA_PSS_2048_8192_SHA512, k),
                _ => return Err(ProtocolError::NoCommonSignatureScheme),
            };
        signature::UnparsedPublicKey::new(alg, key)
            .verify(message, sig)
            .map_err(|_| ProtocolError::BadSignature)
    }
}

/// Our certificate's private key, ready to sign.
pub(crate) enum SigningKey {
    EcdsaP256(EcdsaKeyPair),
    EcdsaP384(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::EcdsaP256(_) => "SigningKey(ECDSA P-256)",
            Self::EcdsaP384(_) => "SigningKey(ECDSA P-384)",
            Self::Rsa(_) => "SigningKey(RSA)",
        })
    }
}

impl SigningKey {
    /// Loads a PKCS#8 key: ECDSA P-256, P-384 or RSA.
    pub(crate) fn from_pkcs8(pkcs8: &[u8]) -> Option<Self> {
        if let Ok(k) = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8) {
            return Some(Self::EcdsaP256(k));
        }
        if let Ok(k) = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P384_SHA384_ASN1_SIGNING, pkcs8) {
            return Some(Self::EcdsaP384(k));
        }
        RsaKeyPair::from_pkcs8(pkcs8).ok().map(Self::Rsa)
    }

    /// The public key as it appears in the certificate's SPKI bit string.
    pub(crate) fn public_key(&self) -> Vec<u8> {
        match self {
            Self::EcdsaP256(k) | Self::EcdsaP384(k) => k.public_key().as_ref().to_vec(),
            Self::Rsa(k) => k.public_key().as_ref().to_vec(),
        }
    }

    pub(crate) fn kind(&self) -> KeyKind {
        match self {
            Self::EcdsaP256(_) | Self::EcdsaP384(_) => KeyKind::Ecdsa,
            Self::Rsa(_) => KeyKind::Rsa,
        }
    }

    /// The scheme we sign with among those the peer accepts, in our
    /// preference (RSA PKCS#1 v1.5 first: deterministic and universal).
    pub(crate) fn choose_scheme(&self, peer: &[SignatureScheme]) -> Option<SignatureScheme> {
        use SignatureScheme as S;
        let ours: &[SignatureScheme] = match self {
            Self::EcdsaP256(_) => &[S::EcdsaSha256],
            Self::EcdsaP384(_) => &[S::EcdsaSha384],
            Self::Rsa(_) => &[
                S::RsaPkcs1Sha256,
                S::RsaPssSha256,
                S::RsaPkcs1Sha384,
                S::RsaPssSha384,
                S::RsaPkcs1Sha512,
                S::RsaPssSha512,
            ],
        };
        ours.iter().copied().find(|s| peer.contains(s))
    }

    /// Signs `message`. ECDSA nonces and RSA-PSS salts come from aws-lc's
    /// own RNG, so those signatures differ between runs; RSA PKCS#1 v1.5
    /// signatures are deterministic.
    pub(crate) fn sign(
        &self,
        scheme: SignatureScheme,
        message: &[u8],
    ) -> Result<Vec<u8>, ProtocolError> {
        use SignatureScheme as S;
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let fail = |_| ProtocolError::Internal("signing");
        match (self, scheme) {
            (Self::EcdsaP256(k), S::EcdsaSha256) | (Self::EcdsaP384(k), S::EcdsaSha384) => {
                Ok(k.sign(&rng, message).map_err(fail)?.as_ref().to_vec())
            }
            (Self::Rsa(k), s) if s.key_kind() == KeyKind::Rsa => {
                let padding: &'static dyn signature::RsaEncoding = match s {
                    S::RsaPkcs1Sha256 => &signature::RSA_PKCS1_SHA256,
                    S::RsaPkcs1Sha384 => &signature::RSA_PKCS1_SHA384,
                    S::RsaPkcs1Sha512 => &signature::RSA_PKCS1_SHA512,
                    S::RsaPssSha256 => &signature::RSA_PSS_SHA256,
                    S::RsaPssSha384 => &signature::RSA_PSS_SHA384,
                    _ => &signature::RSA_PSS_SHA512,
                };
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(padding, &rng, message, &mut sig).map_err(fail)?;
                Ok(sig)
            }
            _ => Err(ProtocolError::NoCommonSignatureScheme),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prf_sha256_matches_the_published_test_vector() {
        // The widely used TLS 1.2 PRF test vector (IETF TLS list, 2009):
        // secret 9b be 43 6b..., label "test label", 100 bytes.
        let secret = hex("9bbe436ba940f017b17652849a71db35");
        let seed = hex("a0ba9f936cda311827a6f796ffd5198c");
        let mut out = [0u8; 100];
        prf(PrfHash::Sha256, &secret, b"test label", &[&seed], &mut out);
        assert_eq!(
            out[..16],
            hex("e3f229ba727be17b8d122620557cd453")[..],
            "first 16 bytes of the vector"
        );
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len() / 2)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn record_cipher_round_trips_and_rejects_tampering() {
        let secrets = Secrets {
            suite: CipherSuite::EcdheEcdsaAes128Gcm,
            master: [7; 48],
            client_random: [1; 32],
            server_random: [2; 32],
        };
        let (client, _) = secrets.record_keys().unwrap();
        let (client_again, _) = secrets.record_keys().unwrap();
        let seq = 1u64 << 48 | 5;
        let mut body = vec![0u8; 8];
        body.extend_from_slice(&seq.to_be_bytes());
        body.truncate(8);
        body[..8].copy_from_slice(&seq.to_be_bytes());
        body.extend_from_slice(b"hello");
        let v = crate::record::DTLS_1_2;
        let tag = client.seal(seq, 23, v, &mut body[8..]).unwrap();
        body.extend_from_slice(tag.as_ref());
        let mut tampered = body.clone();
        let mut other_version = body.clone();
        let range = client_again.open(seq, 23, v, &mut body).unwrap();
        assert_eq!(&body[range], b"hello");
        tampered[9] ^= 1;
        assert!(client_again.open(seq, 23, v, &mut tampered).is_none());
        // RFC 5246 §6.2.3.3: the header's version is authenticated.
        assert!(
            client_again
                .open(seq, 23, crate::record::DTLS_1_0, &mut other_version)
                .is_none()
        );
    }

    #[test]
    fn every_signature_scheme_signs_and_verifies_with_certificate_keys() {
        use crate::certificate::{Certificate, KeyType};
        let wall =
            std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_767_225_600);
        let day = std::time::Duration::from_secs(86_400);
        for key_type in [KeyType::EcdsaP256, KeyType::Rsa2048] {
            let cert = Certificate::generate_with(key_type, wall, day).unwrap();
            let key = SigningKey::from_pkcs8(cert.private_key_der()).unwrap();
            let peer = PeerKey::from_certificate(cert.der()).unwrap();
            let mut verified = 0;
            for scheme in SignatureScheme::ALL {
                if key.choose_scheme(&[scheme]).is_none() {
                    assert!(key.sign(scheme, b"transcript").is_err(), "{scheme:?}");
                    continue;
                }
                let sig = key.sign(scheme, b"transcript").unwrap();
                peer.verify(scheme, b"transcript", &sig).unwrap();
                assert_eq!(
                    peer.verify(scheme, b"transcripT", &sig),
                    Err(ProtocolError::BadSignature)
                );
                verified += 1;
            }
            let expected = if key_type == KeyType::Rsa2048 { 6 } else { 1 };
            assert_eq!(verified, expected, "{key_type:?}");
        }
    }

    #[test]
    fn key_shares_of_every_group_agree() {
        let mut rng = Rng::system();
        for group in NamedGroup::ALL {
            let a = KeyShare::generate(group, &mut rng).unwrap();
            let b = KeyShare::generate(group, &mut rng).unwrap();
            assert_eq!(*a.agree(&b.public).unwrap(), *b.agree(&a.public).unwrap());
            assert!(matches!(
                a.agree(&[4, 1, 2]),
                Err(ProtocolError::BadKeyShare)
            ));
        }
    }
}
