//! DTLS 1.2 handshake messages (RFC 5246 §7.4, RFC 6347 §4.2, RFC 8422 §5)
//! and the extensions this engine speaks: encoding and decoding.

use crate::codec::{DecodeError, Reader, Writer};
use crate::record::DTLS_1_2;

/// Handshake message types (RFC 5246 §7.4, RFC 6347 §4.3.2).
pub(crate) mod kind {
    pub(crate) const HELLO_REQUEST: u8 = 0;
    pub(crate) const CLIENT_HELLO: u8 = 1;
    pub(crate) const SERVER_HELLO: u8 = 2;
    pub(crate) const HELLO_VERIFY_REQUEST: u8 = 3;
    pub(crate) const CERTIFICATE: u8 = 11;
    pub(crate) const SERVER_KEY_EXCHANGE: u8 = 12;
    pub(crate) const CERTIFICATE_REQUEST: u8 = 13;
    pub(crate) const SERVER_HELLO_DONE: u8 = 14;
    pub(crate) const CERTIFICATE_VERIFY: u8 = 15;
    pub(crate) const CLIENT_KEY_EXCHANGE: u8 = 16;
    pub(crate) const FINISHED: u8 = 20;
}

/// The 12-byte DTLS handshake header (RFC 6347 §4.2.2).
pub(crate) const HANDSHAKE_HEADER_LEN: usize = 12;

/// A handshake fragment's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FragmentHeader {
    pub(crate) msg_type: u8,
    pub(crate) length: usize,
    pub(crate) message_seq: u16,
    pub(crate) offset: usize,
    pub(crate) fragment_len: usize,
}

impl FragmentHeader {
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(FragmentHeader {
            msg_type: r.u8("handshake type")?,
            length: r.u24("handshake length")?,
            message_seq: r.u16("handshake message_seq")?,
            offset: r.u24("fragment offset")?,
            fragment_len: r.u24("fragment length")?,
        })
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.put_u8(self.msg_type);
        out.put_u24(self.length);
        out.put_u16(self.message_seq);
        out.put_u24(self.offset);
        out.put_u24(self.fragment_len);
    }
}

/// A whole handshake message with its header as if unfragmented, the form
/// that goes into the transcript (RFC 6347 §4.2.6).
pub(crate) fn encode(msg_type: u8, message_seq: u16, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HANDSHAKE_HEADER_LEN + body.len());
    FragmentHeader {
        msg_type,
        length: body.len(),
        message_seq,
        offset: 0,
        fragment_len: body.len(),
    }
    .write(&mut out);
    out.extend_from_slice(body);
    out
}

/// Extension code points.
pub(crate) mod ext {
    pub(crate) const SUPPORTED_GROUPS: u16 = 10;
    pub(crate) const EC_POINT_FORMATS: u16 = 11;
    pub(crate) const SIGNATURE_ALGORITHMS: u16 = 13;
    pub(crate) const USE_SRTP: u16 = 14;
    pub(crate) const EXTENDED_MASTER_SECRET: u16 = 23;
    pub(crate) const RENEGOTIATION_INFO: u16 = 0xff01;
}

/// `TLS_EMPTY_RENEGOTIATION_INFO_SCSV` (RFC 5746 §3.3).
pub(crate) const RENEGOTIATION_SCSV: u16 = 0x00ff;

/// The hello extensions we read and write. Unknown ones are skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Extensions {
    /// `supported_groups`, the groups we know of it (RFC 8422 §5.1.1);
    /// `None` when absent (the peer takes any), empty when it lists none we
    /// know.
    pub(crate) supported_groups: Option<Vec<u16>>,
    pub(crate) ec_point_formats: bool,
    /// `signature_algorithms`, the schemes we know of it (RFC 5246
    /// §7.4.1.4.1); `None` when absent, empty when it lists none we know.
    pub(crate) signature_algorithms: Option<Vec<u16>>,
    /// `use_srtp` profiles; `None` when absent.
    pub(crate) srtp_profiles: Option<Vec<u16>>,
    pub(crate) extended_master_secret: bool,
    /// `renegotiation_info` contents; `None` when absent.
    pub(crate) renegotiation_info: Option<Vec<u8>>,
    /// How many profiles `use_srtp` listed, known to us or not.
    pub(crate) srtp_profile_count: usize,
    /// The `use_srtp` MKI (RFC 5764 §4.1.1); we send an empty one.
    pub(crate) srtp_mki: Vec<u8>,
    /// Types of the extensions present that this engine does not read
    /// (never written; a client refuses them in a ServerHello).
    pub(crate) unknown: Vec<u16>,
}

/// At most this many entries are kept from any list a peer sends.
const MAX_LIST: usize = 64;

/// A list of 16-bit code points (RFC 5246 §4.3), read to its end (it is
/// bounded by the message length); of its entries only those `known` to
/// this engine are kept, at most [`MAX_LIST`], in the peer's order. Unknown
/// entries (GREASE, suites we lack) thus never push ours out of the list.
fn u16_list(
    data: &[u8],
    what: &'static str,
    known: impl Fn(u16) -> bool,
) -> Result<Vec<u16>, DecodeError> {
    if data.len() % 2 != 0 {
        return Err(DecodeError { what });
    }
    Ok(data
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .filter(|&v| known(v))
        .take(MAX_LIST)
        .collect())
}

fn known_group(id: u16) -> bool {
    crate::crypto::NamedGroup::from_id(id).is_some()
}

fn known_scheme(id: u16) -> bool {
    crate::crypto::SignatureScheme::from_id(id).is_some()
}

fn known_srtp_profile(id: u16) -> bool {
    crate::srtp::SrtpProfile::from_id(id).is_some()
}

fn known_suite(id: u16) -> bool {
    id == RENEGOTIATION_SCSV || crate::crypto::CipherSuite::from_id(id).is_some()
}

impl Extensions {
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut e = Extensions::default();
        if r.is_empty() {
            return Ok(e);
        }
        let mut block = Reader::new(r.vec16("extensions")?);
        // Every type, to find duplicates (RFC 5246 §7.4.1.4) however many
        // extensions there are: at most one per 4 bytes of the message.
        let mut seen = Vec::new();
        while !block.is_empty() {
            let id = block.u16("extension type")?;
            let mut body = Reader::new(block.vec16("extension body")?);
            seen.push(id);
            match id {
                ext::SUPPORTED_GROUPS => {
                    e.supported_groups = Some(u16_list(
                        body.vec16("supported_groups")?,
                        "supported_groups",
                        known_group,
                    )?);
                    body.finish("supported_groups")?;
                }
                ext::EC_POINT_FORMATS => {
                    let formats = body.vec8("ec_point_formats")?;
                    e.ec_point_formats = formats.contains(&0);
                    body.finish("ec_point_formats")?;
                }
                ext::SIGNATURE_ALGORITHMS => {
                    e.signature_algorithms = Some(u16_list(
                        body.vec16("signature_algorithms")?,
                        "signature_algorithms",
                        known_scheme,
                    )?);
                    body.finish("signature_algorithms")?;
                }
                ext::USE_SRTP => {
                    let wire = body.vec16("use_srtp profiles")?;
                    e.srtp_profile_count = wire.len() / 2;
                    let profiles = u16_list(wire, "use_srtp profiles", known_srtp_profile)?;
                    let mki = body.vec8("use_srtp mki")?;
                    body.finish("use_srtp")?;
                    e.srtp_profiles = Some(profiles);
                    e.srtp_mki = mki.to_vec();
                }
                ext::EXTENDED_MASTER_SECRET => {
                    body.finish("extended_master_secret")?;
                    e.extended_master_secret = true;
                }
                ext::RENEGOTIATION_INFO => {
                    let info = body.vec8("renegotiation_info")?;
                    body.finish("renegotiation_info")?;
                    e.renegotiation_info = Some(info.to_vec());
                }
                _ if e.unknown.len() < MAX_LIST => e.unknown.push(id),
                _ => {}
            }
        }
        seen.sort_unstable();
        if seen.windows(2).any(|w| w[0] == w[1]) {
            return Err(DecodeError {
                what: "duplicate extension",
            });
        }
        Ok(e)
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.put_vec(2, |w| {
            if let Some(info) = &self.renegotiation_info {
                w.put_u16(ext::RENEGOTIATION_INFO);
                w.put_vec(2, |w| w.put_vec(1, |w| w.put(info)));
            }
            if self.extended_master_secret {
                w.put_u16(ext::EXTENDED_MASTER_SECRET);
                w.put_u16(0);
            }
            if let Some(groups) = self.supported_groups.as_ref().filter(|g| !g.is_empty()) {
                w.put_u16(ext::SUPPORTED_GROUPS);
                w.put_vec(2, |w| {
                    w.put_vec(2, |w| groups.iter().for_each(|g| w.put_u16(*g)))
                });
            }
            if self.ec_point_formats {
                w.put_u16(ext::EC_POINT_FORMATS);
                w.put_vec(2, |w| w.put_vec(1, |w| w.put_u8(0)));
            }
            if let Some(schemes) = self.signature_algorithms.as_ref().filter(|s| !s.is_empty()) {
                w.put_u16(ext::SIGNATURE_ALGORITHMS);
                w.put_vec(2, |w| {
                    w.put_vec(2, |w| schemes.iter().for_each(|s| w.put_u16(*s)))
                });
            }
            if let Some(profiles) = &self.srtp_profiles {
                w.put_u16(ext::USE_SRTP);
                w.put_vec(2, |w| {
                    w.put_vec(2, |w| profiles.iter().for_each(|p| w.put_u16(*p)));
                    w.put_u8(0); // no MKI
                });
            }
        });
    }
}

/// ClientHello (RFC 6347 §4.2.1, RFC 5246 §7.4.1.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClientHello {
    pub(crate) version: u16,
    pub(crate) random: [u8; 32],
    pub(crate) session_id: Vec<u8>,
    pub(crate) cookie: Vec<u8>,
    pub(crate) cipher_suites: Vec<u16>,
    pub(crate) extensions: Extensions,
}

impl ClientHello {
    pub(crate) fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let version = r.u16("client_version")?;
        let mut random = [0u8; 32];
        random.copy_from_slice(r.take(32, "random")?);
        let session_id = r.vec8("session_id")?;
        if session_id.len() > 32 {
            return Err(DecodeError { what: "session_id" });
        }
        let cookie = r.vec8("cookie")?;
        let cipher_suites = u16_list(r.vec16("cipher_suites")?, "cipher_suites", known_suite)?;
        let compression = r.vec8("compression_methods")?;
        if !compression.contains(&0) {
            return Err(DecodeError {
                what: "compression_methods (no null)",
            });
        }
        let extensions = Extensions::read(&mut r)?;
        r.finish("ClientHello")?;
        Ok(ClientHello {
            version,
            random,
            session_id: session_id.to_vec(),
            cookie: cookie.to_vec(),
            cipher_suites,
            extensions,
        })
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        out.put_u16(self.version);
        out.put(&self.random);
        out.put_vec(1, |w| w.put(&self.session_id));
        out.put_vec(1, |w| w.put(&self.cookie));
        out.put_vec(2, |w| self.cipher_suites.iter().for_each(|s| w.put_u16(*s)));
        out.put_vec(1, |w| w.put_u8(0));
        self.extensions.write(&mut out);
        out
    }
}

/// HelloVerifyRequest (RFC 6347 §4.2.1).
pub(crate) fn decode_hello_verify_request(body: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let mut r = Reader::new(body);
    let _version = r.u16("server_version")?;
    let cookie = r.vec8("cookie")?;
    r.finish("HelloVerifyRequest")?;
    Ok(cookie.to_vec())
}

pub(crate) fn encode_hello_verify_request(cookie: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(3 + cookie.len());
    // RFC 6347 §4.2.1: DTLS 1.0 here whatever version follows.
    out.put_u16(crate::record::DTLS_1_0);
    out.put_vec(1, |w| w.put(cookie));
    out
}

/// ServerHello (RFC 5246 §7.4.1.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServerHello {
    pub(crate) version: u16,
    pub(crate) random: [u8; 32],
    pub(crate) session_id: Vec<u8>,
    pub(crate) cipher_suite: u16,
    pub(crate) extensions: Extensions,
}

impl ServerHello {
    pub(crate) fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let version = r.u16("server_version")?;
        let mut random = [0u8; 32];
        random.copy_from_slice(r.take(32, "random")?);
        let session_id = r.vec8("session_id")?.to_vec();
        let cipher_suite = r.u16("cipher_suite")?;
        if r.u8("compression_method")? != 0 {
            return Err(DecodeError {
                what: "compression_method",
            });
        }
        let extensions = Extensions::read(&mut r)?;
        r.finish("ServerHello")?;
        Ok(ServerHello {
            version,
            random,
            session_id,
            cipher_suite,
            extensions,
        })
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        out.put_u16(DTLS_1_2);
        out.put(&self.random);
        out.put_vec(1, |w| w.put(&self.session_id));
        out.put_u16(self.cipher_suite);
        out.put_u8(0);
        self.extensions.write(&mut out);
        out
    }
}

/// At most this many certificates are read from a chain; WebRTC sends one.
const MAX_CHAIN: usize = 8;

/// Certificate (RFC 5246 §7.4.2): the chain, leaf first.
pub(crate) fn decode_certificate(body: &[u8]) -> Result<Vec<Vec<u8>>, DecodeError> {
    let mut r = Reader::new(body);
    let mut list = Reader::new(r.vec24("certificate_list")?);
    r.finish("Certificate")?;
    let mut chain = Vec::new();
    while !list.is_empty() {
        let cert = list.vec24("certificate")?;
        if chain.len() < MAX_CHAIN {
            chain.push(cert.to_vec());
        }
    }
    Ok(chain)
}

/// A Certificate message body with `chain` (empty: no certificate).
pub(crate) fn encode_certificate_list(chain: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(chain.iter().map(|c| c.len() + 3).sum::<usize>() + 3);
    out.put_vec(3, |w| {
        chain.iter().for_each(|der| w.put_vec(3, |w| w.put(der)))
    });
    out
}

/// ServerKeyExchange for ECDHE (RFC 8422 §5.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServerKeyExchange {
    pub(crate) group: u16,
    pub(crate) public: Vec<u8>,
    pub(crate) scheme: u16,
    pub(crate) signature: Vec<u8>,
}

/// `curve_type` `named_curve` (RFC 8422 §5.4).
const NAMED_CURVE: u8 = 3;

impl ServerKeyExchange {
    /// The `ServerECDHParams` bytes the signature covers (after the randoms).
    pub(crate) fn params(group: u16, public: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + public.len());
        out.put_u8(NAMED_CURVE);
        out.put_u16(group);
        out.put_vec(1, |w| w.put(public));
        out
    }

    pub(crate) fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        if r.u8("curve_type")? != NAMED_CURVE {
            return Err(DecodeError { what: "curve_type" });
        }
        let group = r.u16("named_curve")?;
        let public = r.vec8("ECDH public")?.to_vec();
        let scheme = r.u16("signature algorithm")?;
        let signature = r.vec16("signature")?.to_vec();
        r.finish("ServerKeyExchange")?;
        Ok(ServerKeyExchange {
            group,
            public,
            scheme,
            signature,
        })
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Self::params(self.group, &self.public);
        out.put_u16(self.scheme);
        out.put_vec(2, |w| w.put(&self.signature));
        out
    }
}

/// `ClientCertificateType` values (RFC 5246 §7.4.4, RFC 8422 §5.5).
pub(crate) const RSA_SIGN: u8 = 1;
pub(crate) const ECDSA_SIGN: u8 = 64;

/// CertificateRequest (RFC 5246 §7.4.4): certificate types and schemes.
pub(crate) fn decode_certificate_request(body: &[u8]) -> Result<(Vec<u8>, Vec<u16>), DecodeError> {
    let mut r = Reader::new(body);
    let types = r.vec8("certificate_types")?.to_vec();
    let schemes = u16_list(
        r.vec16("supported_signature_algorithms")?,
        "supported_signature_algorithms",
        known_scheme,
    )?;
    let _authorities = r.vec16("certificate_authorities")?;
    r.finish("CertificateRequest")?;
    Ok((types, schemes))
}

pub(crate) fn encode_certificate_request(schemes: &[u16]) -> Vec<u8> {
    let mut out = Vec::new();
    out.put_vec(1, |w| {
        w.put_u8(RSA_SIGN);
        w.put_u8(ECDSA_SIGN);
    });
    out.put_vec(2, |w| schemes.iter().for_each(|s| w.put_u16(*s)));
    out.put_u16(0);
    out
}

/// ClientKeyExchange for ECDHE (RFC 8422 §5.7): the client's public value.
pub(crate) fn decode_client_key_exchange(body: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let mut r = Reader::new(body);
    let public = r.vec8("ECDH public")?.to_vec();
    r.finish("ClientKeyExchange")?;
    Ok(public)
}

pub(crate) fn encode_client_key_exchange(public: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + public.len());
    out.put_vec(1, |w| w.put(public));
    out
}

/// CertificateVerify (RFC 5246 §7.4.8): scheme and signature.
pub(crate) fn decode_signed(body: &[u8]) -> Result<(u16, Vec<u8>), DecodeError> {
    let mut r = Reader::new(body);
    let scheme = r.u16("signature algorithm")?;
    let sig = r.vec16("signature")?.to_vec();
    r.finish("CertificateVerify")?;
    Ok((scheme, sig))
}

pub(crate) fn encode_signed(scheme: u16, sig: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + sig.len());
    out.put_u16(scheme);
    out.put_vec(2, |w| w.put(sig));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_hello_round_trips() {
        let hello = ClientHello {
            version: DTLS_1_2,
            random: [9; 32],
            session_id: vec![],
            cookie: vec![1, 2, 3],
            cipher_suites: vec![0xc02b, RENEGOTIATION_SCSV],
            extensions: Extensions {
                supported_groups: Some(vec![29, 23]),
                ec_point_formats: true,
                signature_algorithms: Some(vec![0x0403]),
                srtp_profiles: Some(vec![7, 1]),
                srtp_profile_count: 2,
                extended_master_secret: true,
                renegotiation_info: Some(vec![]),
                ..Extensions::default()
            },
        };
        assert_eq!(ClientHello::decode(&hello.encode()), Ok(hello));
    }

    #[test]
    fn truncated_or_trailing_bytes_are_decode_errors() {
        let body = encode_certificate_list(&[&[1, 2, 3]]);
        assert_eq!(decode_certificate(&body), Ok(vec![vec![1, 2, 3]]));
        assert!(decode_certificate(&body[..body.len() - 1]).is_err());
        let mut long = body.clone();
        long.push(0);
        assert!(decode_certificate(&long).is_err());
    }
}
