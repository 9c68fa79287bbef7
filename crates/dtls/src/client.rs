//! The DTLS 1.2 client, one state per message it waits for (RFC 6347
//! §4.2.4 flights 1, 3 and 5; RFC 5246 §7.3).

use crate::crypto::{CipherSuite, KeyShare, NamedGroup, PeerKey, SignatureScheme};
use crate::error::ProtocolError;
use crate::fragment::Message;
use crate::handshake::{Handshake, Params, unexpected};
use crate::message::{self, ClientHello, Extensions, ServerHello, ServerKeyExchange, kind};
use crate::record::DTLS_1_2;
use crate::srtp::SrtpProfile;

/// The client's state.
#[derive(Debug)]
pub(crate) enum Client {
    /// Flight 1 or 3 sent; waiting for HelloVerifyRequest or ServerHello.
    AwaitHello { hello: Box<ClientHello> },
    /// ServerHello received.
    AwaitCertificate,
    /// The server's certificate received.
    AwaitKeyExchange { peer: PeerKey },
    /// ServerKeyExchange verified.
    AwaitRequestOrDone { server_kx: (NamedGroup, Vec<u8>) },
    /// CertificateRequest received.
    AwaitDone {
        server_kx: (NamedGroup, Vec<u8>),
        auth: ClientAuth,
    },
    /// Flight 5 sent; waiting for the server's Finished.
    AwaitFinished,
    /// The handshake is over.
    Done,
}

/// Whether and how we authenticate in flight 5 (RFC 5246 §7.4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientAuth {
    /// The server asked for no certificate.
    NotRequested,
    /// It asked, but for a key type or schemes ours cannot serve: an empty
    /// Certificate, and the server decides.
    Empty,
    /// Our certificate, and a CertificateVerify with this scheme.
    Sign(SignatureScheme),
}

impl Client {
    /// Builds flight 1, the first ClientHello (RFC 5246 §7.4.1.2).
    pub(crate) fn start(hs: &mut Handshake) -> Client {
        let random = hs.rng.array();
        let hello = ClientHello {
            version: DTLS_1_2,
            random,
            session_id: Vec::new(),
            cookie: Vec::new(),
            cipher_suites: hs.suites.iter().map(|s| s.id()).collect(),
            extensions: Extensions {
                supported_groups: Some(hs.groups.iter().map(|g| g.id()).collect()),
                ec_point_formats: true,
                signature_algorithms: Some(SignatureScheme::ALL.iter().map(|s| s.id()).collect()),
                srtp_profiles: (!hs.srtp_profiles.is_empty())
                    .then(|| hs.srtp_profiles.iter().map(|p| p.id()).collect()),
                extended_master_secret: true,
                // RFC 5746 §3.4: an empty renegotiation_info, we never renegotiate.
                renegotiation_info: Some(Vec::new()),
                ..Extensions::default()
            },
        };
        hs.push(kind::CLIENT_HELLO, &hello.encode(), 0);
        hs.out_expects_reply = true;
        Client::AwaitHello {
            hello: Box::new(hello),
        }
    }

    /// Handles the next message of the server's flight.
    pub(crate) fn handle(self, hs: &mut Handshake, msg: &Message) -> Result<Client, ProtocolError> {
        match (self, msg.msg_type) {
            (Client::AwaitHello { mut hello }, kind::HELLO_VERIFY_REQUEST) => {
                // RFC 6347 §4.2.1: the same hello again with the cookie; the
                // first hello and the request stay out of the transcript.
                hello.cookie = message::decode_hello_verify_request(&msg.body)?;
                hs.transcript.clear();
                hs.push(kind::CLIENT_HELLO, &hello.encode(), 0);
                hs.out_expects_reply = true;
                Ok(Client::AwaitHello { hello })
            }
            (Client::AwaitHello { hello }, kind::SERVER_HELLO) => {
                let sh = ServerHello::decode(&msg.body)?;
                hs.params = Some(check_server_hello(hs, &hello, &sh)?);
                hs.record(msg);
                Ok(Client::AwaitCertificate)
            }
            (Client::AwaitCertificate, kind::CERTIFICATE) => {
                let chain = message::decode_certificate(&msg.body)?;
                let leaf = chain
                    .into_iter()
                    .next()
                    .ok_or(ProtocolError::BadCertificate("server sent no certificate"))?;
                let peer = PeerKey::from_certificate(&leaf)?;
                let suite = hs
                    .params
                    .ok_or(ProtocolError::Internal("no parameters"))?
                    .suite;
                if peer.kind() != suite.key_kind() {
                    return Err(ProtocolError::BadCertificate(
                        "key does not fit the cipher suite",
                    ));
                }
                hs.set_peer_certificate(leaf);
                hs.record(msg);
                Ok(Client::AwaitKeyExchange { peer })
            }
            (Client::AwaitKeyExchange { peer }, kind::SERVER_KEY_EXCHANGE) => {
                let ske = ServerKeyExchange::decode(&msg.body)?;
                let group = NamedGroup::from_id(ske.group)
                    .filter(|g| hs.groups.contains(g))
                    .ok_or(ProtocolError::IllegalParameter("group not offered"))?;
                hs.group = Some(group);
                let scheme = SignatureScheme::from_id(ske.scheme).ok_or(
                    ProtocolError::IllegalParameter("signature scheme not offered"),
                )?;
                let params = hs.params.ok_or(ProtocolError::Internal("no parameters"))?;
                let signed =
                    params.signed_params(&ServerKeyExchange::params(ske.group, &ske.public));
                peer.verify(scheme, &signed, &ske.signature)?;
                hs.record(msg);
                Ok(Client::AwaitRequestOrDone {
                    server_kx: (group, ske.public),
                })
            }
            (Client::AwaitRequestOrDone { server_kx }, kind::CERTIFICATE_REQUEST) => {
                let (types, schemes) = message::decode_certificate_request(&msg.body)?;
                let wanted = match hs.key.kind() {
                    crate::crypto::KeyKind::Ecdsa => message::ECDSA_SIGN,
                    crate::crypto::KeyKind::Rsa => message::RSA_SIGN,
                };
                let schemes: Vec<_> = schemes
                    .into_iter()
                    .filter_map(SignatureScheme::from_id)
                    .collect();
                let auth = match hs.key.choose_scheme(&schemes) {
                    Some(scheme) if types.contains(&wanted) => ClientAuth::Sign(scheme),
                    _ => ClientAuth::Empty,
                };
                hs.record(msg);
                Ok(Client::AwaitDone { server_kx, auth })
            }
            (Client::AwaitRequestOrDone { server_kx }, kind::SERVER_HELLO_DONE) => {
                server_hello_done(hs, msg, server_kx, ClientAuth::NotRequested)
            }
            (Client::AwaitDone { server_kx, auth }, kind::SERVER_HELLO_DONE) => {
                server_hello_done(hs, msg, server_kx, auth)
            }
            (Client::AwaitFinished, kind::FINISHED) => {
                hs.check_finished(false, &msg.body)?;
                hs.record(msg);
                hs.complete = true;
                Ok(Client::Done)
            }
            (state, _) => Err(unexpected(state.name(), msg)),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Client::AwaitHello { .. } => "client awaiting ServerHello",
            Client::AwaitCertificate => "client awaiting Certificate",
            Client::AwaitKeyExchange { .. } => "client awaiting ServerKeyExchange",
            Client::AwaitRequestOrDone { .. } => "client awaiting CertificateRequest",
            Client::AwaitDone { .. } => "client awaiting ServerHelloDone",
            Client::AwaitFinished => "client awaiting Finished",
            Client::Done => "client done",
        }
    }
}

/// Checks the ServerHello against what we offered.
fn check_server_hello(
    hs: &Handshake,
    hello: &ClientHello,
    sh: &ServerHello,
) -> Result<Params, ProtocolError> {
    if sh.version != DTLS_1_2 {
        return Err(ProtocolError::UnsupportedVersion(sh.version));
    }
    let suite = CipherSuite::from_id(sh.cipher_suite)
        .filter(|s| hs.suites.contains(s))
        .ok_or(ProtocolError::IllegalParameter("cipher suite not offered"))?;
    // RFC 7627 §5.2: we require the extended master secret.
    if !sh.extensions.extended_master_secret {
        return Err(ProtocolError::NoExtendedMasterSecret);
    }
    // RFC 5746 §3.4: on an initial handshake it must be empty if present.
    if sh
        .extensions
        .renegotiation_info
        .as_ref()
        .is_some_and(|info| !info.is_empty())
    {
        return Err(ProtocolError::BadRenegotiationInfo);
    }
    check_server_extensions(hello, sh)?;
    // RFC 5764 §4.1.1: one profile, one we offered.
    let srtp = match &sh.extensions.srtp_profiles {
        None => None,
        Some(list) => match list.as_slice() {
            [id] if sh.extensions.srtp_profile_count == 1 => Some(
                SrtpProfile::from_id(*id)
                    .filter(|p| hs.srtp_profiles.contains(p))
                    .ok_or(ProtocolError::IllegalParameter("SRTP profile not offered"))?,
            ),
            [] if sh.extensions.srtp_profile_count == 1 => {
                return Err(ProtocolError::IllegalParameter("SRTP profile not offered"));
            }
            _ => {
                return Err(ProtocolError::IllegalParameter(
                    "use_srtp must select one profile",
                ));
            }
        },
    };
    Ok(Params {
        suite,
        client_random: hello.random,
        server_random: sh.random,
        srtp,
    })
}

/// RFC 5246 §7.4.1.4: a ServerHello extension must answer one we offered.
/// RFC 5764 §4.1.1: a non-empty MKI that differs from ours (we offer none)
/// is an `illegal_parameter`.
fn check_server_extensions(hello: &ClientHello, sh: &ServerHello) -> Result<(), ProtocolError> {
    let ext = &sh.extensions;
    if let Some(&id) = ext.unknown.first() {
        return Err(ProtocolError::UnsupportedExtension(id));
    }
    if ext.srtp_profiles.is_some() && hello.extensions.srtp_profiles.is_none() {
        return Err(ProtocolError::UnsupportedExtension(message::ext::USE_SRTP));
    }
    if !ext.srtp_mki.is_empty() && ext.srtp_mki != hello.extensions.srtp_mki {
        return Err(ProtocolError::IllegalParameter(
            "use_srtp MKI differs from ours",
        ));
    }
    Ok(())
}

/// ServerHelloDone (RFC 5246 §7.4.5, an empty body) ends flight 4.
fn server_hello_done(
    hs: &mut Handshake,
    msg: &Message,
    server_kx: (NamedGroup, Vec<u8>),
    auth: ClientAuth,
) -> Result<Client, ProtocolError> {
    if !msg.body.is_empty() {
        return Err(ProtocolError::Decode(crate::codec::DecodeError {
            what: "ServerHelloDone",
        }));
    }
    hs.record(msg);
    send_flight_5(hs, server_kx, auth)?;
    Ok(Client::AwaitFinished)
}

/// Flight 5: [Certificate], ClientKeyExchange, [CertificateVerify],
/// ChangeCipherSpec, Finished (RFC 5246 §7.3).
fn send_flight_5(
    hs: &mut Handshake,
    (group, server_public): (NamedGroup, Vec<u8>),
    auth: ClientAuth,
) -> Result<(), ProtocolError> {
    match auth {
        ClientAuth::NotRequested => {}
        ClientAuth::Empty => hs.push(kind::CERTIFICATE, &message::encode_certificate_list(&[]), 0),
        ClientAuth::Sign(_) => {
            let body = message::encode_certificate_list(&[&hs.certificate]);
            hs.push(kind::CERTIFICATE, &body, 0);
        }
    }
    let share = KeyShare::generate(group, &mut hs.rng)?;
    let pre_master_secret = share.agree(&server_public)?;
    hs.push(
        kind::CLIENT_KEY_EXCHANGE,
        &message::encode_client_key_exchange(&share.public),
        0,
    );
    hs.derive(&pre_master_secret)?;
    if let ClientAuth::Sign(scheme) = auth {
        // RFC 5246 §7.4.8: over every message so far.
        let sig = hs.key.sign(scheme, &hs.transcript)?;
        hs.push(
            kind::CERTIFICATE_VERIFY,
            &message::encode_signed(scheme.id(), &sig),
            0,
        );
    }
    hs.push_finished(true)?;
    hs.out_expects_reply = true;
    Ok(())
}
