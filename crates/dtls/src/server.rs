//! The DTLS 1.2 server (RFC 6347 §4.2.1, §4.2.4 flights 2, 4 and 6): a
//! stateless cookie exchange, then one state per message it waits for.

use crate::cookie::CookieKey;
use crate::crypto::{KeyShare, NamedGroup, PeerKey, SignatureScheme};
use crate::error::ProtocolError;
use crate::fragment::Message;
use crate::handshake::{Handshake, Params, unexpected};
use crate::message::{
    self, ClientHello, Extensions, RENEGOTIATION_SCSV, ServerHello, ServerKeyExchange, kind,
};
use crate::record::DTLS_1_2;

/// ClientHello versions that mean DTLS 1.2 or later (counting down).
const DTLS_VERSIONS_FROM_1_2: std::ops::RangeInclusive<u16> = 0xfe00..=DTLS_1_2;

/// The server's state after a ClientHello with a valid cookie.
#[derive(Debug)]
pub(crate) enum Server {
    /// No state at all: every ClientHello is answered statelessly until
    /// one returns our cookie.
    AwaitClientHello,
    /// Flight 4 sent; waiting for the client's Certificate.
    AwaitCertificate { kx: KeyShare },
    /// The client's certificate received.
    AwaitKeyExchange { kx: KeyShare, peer: PeerKey },
    /// Keys derived; waiting for the CertificateVerify.
    AwaitCertificateVerify { peer: PeerKey },
    /// Waiting for the client's Finished.
    AwaitFinished,
    /// Flight 6 sent: the handshake is over.
    Done,
}

/// What to do with a ClientHello seen before the cookie exchange.
#[derive(Debug)]
pub(crate) enum HelloOutcome {
    /// Answer with this HelloVerifyRequest body; keep no state.
    Verify(Vec<u8>),
    /// The cookie is ours: flight 4 is built and the server now has state.
    Accepted(Server),
}

impl std::fmt::Debug for KeyShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyShare({:?})", self.group)
    }
}

impl std::fmt::Debug for PeerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PeerKey({:?})", self.kind())
    }
}

/// Handles a ClientHello (whole, unfragmented) while no state is held.
pub(crate) fn on_client_hello(
    hs: &mut Handshake,
    cookies: &CookieKey,
    hello: &ClientHello,
    msg: &Message,
) -> Result<HelloOutcome, ProtocolError> {
    if !cookies.verify(hello) {
        return Ok(HelloOutcome::Verify(message::encode_hello_verify_request(
            &cookies.cookie(hello),
        )));
    }
    // RFC 6347 §4.2.1: a 1.2 server refuses a client that cannot do 1.2
    // (versions count down: 0xfeff is 1.0); only DTLS values (0xfeXX) are
    // versions at all, a TLS 0x0303 is not.
    if !DTLS_VERSIONS_FROM_1_2.contains(&hello.version) {
        return Err(ProtocolError::UnsupportedVersion(hello.version));
    }
    let ext = &hello.extensions;
    let our_kind = hs.key.kind();
    let suite = hs
        .suites
        .iter()
        .copied()
        .find(|s| s.key_kind() == our_kind && hello.cipher_suites.contains(&s.id()))
        .ok_or(ProtocolError::NoCommonCipherSuite)?;
    let group = match &ext.supported_groups {
        None => NamedGroup::P256, // RFC 8422 §4: absent means the peer takes any.
        // RFC 8422 §5.1.1: only a group the client lists (none we know of
        // its list: no common group).
        Some(offered) => hs
            .groups
            .iter()
            .copied()
            .find(|g| offered.contains(&g.id()))
            .ok_or(ProtocolError::NoCommonGroup)?,
    };
    if !hs.groups.contains(&group) {
        return Err(ProtocolError::NoCommonGroup);
    }
    if !ext.extended_master_secret {
        return Err(ProtocolError::NoExtendedMasterSecret);
    }
    if ext
        .renegotiation_info
        .as_ref()
        .is_some_and(|i| !i.is_empty())
    {
        return Err(ProtocolError::BadRenegotiationInfo);
    }
    let secure_renegotiation =
        ext.renegotiation_info.is_some() || hello.cipher_suites.contains(&RENEGOTIATION_SCSV);
    let peer_schemes: Vec<SignatureScheme> = match &ext.signature_algorithms {
        // RFC 5246 §7.4.1.4.1 would default to SHA-1 when absent; take
        // SHA-256.
        None => vec![
            SignatureScheme::EcdsaSha256,
            SignatureScheme::RsaPkcs1Sha256,
        ],
        // Present: only what it lists (none we know: no common scheme).
        Some(offered) => offered
            .iter()
            .filter_map(|id| SignatureScheme::from_id(*id))
            .collect(),
    };
    let scheme = hs
        .key
        .choose_scheme(&peer_schemes)
        .ok_or(ProtocolError::NoCommonSignatureScheme)?;
    // RFC 5764 §4.1.1: the first of OUR profiles that the client offers.
    let srtp = ext.srtp_profiles.as_ref().and_then(|offered| {
        hs.srtp_profiles
            .iter()
            .copied()
            .find(|p| offered.contains(&p.id()))
    });
    let params = Params {
        suite,
        client_random: hello.random,
        server_random: hs.rng.array(),
        srtp,
    };
    hs.params = Some(params);
    hs.group = Some(group);

    // Flight 4. The transcript starts at this ClientHello; our
    // message_seq continues from the client's (RFC 6347 §4.2.2).
    hs.transcript.clear();
    hs.out.clear();
    hs.send_seq = msg.seq;
    hs.record(msg);
    let sh = ServerHello {
        version: DTLS_1_2,
        random: params.server_random,
        session_id: Vec::new(),
        cipher_suite: suite.id(),
        extensions: Extensions {
            ec_point_formats: ext.ec_point_formats,
            srtp_profiles: srtp.map(|p| vec![p.id()]),
            extended_master_secret: true,
            renegotiation_info: secure_renegotiation.then(Vec::new),
            ..Extensions::default()
        },
    };
    hs.push(kind::SERVER_HELLO, &sh.encode(), 0);
    let certificate = message::encode_certificate_list(&[&hs.certificate]);
    hs.push(kind::CERTIFICATE, &certificate, 0);
    let kx = KeyShare::generate(group, &mut hs.rng)?;
    let signed = params.signed_params(&ServerKeyExchange::params(group.id(), &kx.public));
    let signature = hs.key.sign(scheme, &signed)?;
    let ske = ServerKeyExchange {
        group: group.id(),
        public: kx.public.clone(),
        scheme: scheme.id(),
        signature,
    };
    hs.push(kind::SERVER_KEY_EXCHANGE, &ske.encode(), 0);
    // WebRTC authenticates both sides (RFC 8827 §6.5): ask for the
    // client's certificate, ECDSA or RSA.
    let ours: Vec<u16> = SignatureScheme::ALL.iter().map(|s| s.id()).collect();
    hs.push(
        kind::CERTIFICATE_REQUEST,
        &message::encode_certificate_request(&ours),
        0,
    );
    hs.push(kind::SERVER_HELLO_DONE, &[], 0);
    hs.out_expects_reply = true;
    Ok(HelloOutcome::Accepted(Server::AwaitCertificate { kx }))
}

impl Server {
    /// Handles the next message of the client's flight 5.
    pub(crate) fn handle(self, hs: &mut Handshake, msg: &Message) -> Result<Server, ProtocolError> {
        match (self, msg.msg_type) {
            (Server::AwaitCertificate { kx }, kind::CERTIFICATE) => {
                let leaf = message::decode_certificate(&msg.body)?
                    .into_iter()
                    .next()
                    .ok_or(ProtocolError::BadCertificate("client sent no certificate"))?;
                let peer = PeerKey::from_certificate(&leaf)?;
                hs.set_peer_certificate(leaf);
                hs.record(msg);
                Ok(Server::AwaitKeyExchange { kx, peer })
            }
            (Server::AwaitKeyExchange { kx, peer }, kind::CLIENT_KEY_EXCHANGE) => {
                let public = message::decode_client_key_exchange(&msg.body)?;
                let pre_master_secret = kx.agree(&public)?;
                hs.record(msg);
                hs.derive(&pre_master_secret)?;
                Ok(Server::AwaitCertificateVerify { peer })
            }
            (Server::AwaitCertificateVerify { peer }, kind::CERTIFICATE_VERIFY) => {
                let (id, sig) = message::decode_signed(&msg.body)?;
                let scheme = SignatureScheme::from_id(id).ok_or(
                    ProtocolError::IllegalParameter("signature scheme not offered"),
                )?;
                // RFC 5246 §7.4.8: over every message before this one.
                peer.verify(scheme, &hs.transcript, &sig)?;
                hs.record(msg);
                Ok(Server::AwaitFinished)
            }
            (Server::AwaitFinished, kind::FINISHED) => {
                hs.check_finished(true, &msg.body)?;
                hs.record(msg);
                hs.push_finished(false)?;
                hs.out_expects_reply = false;
                hs.complete = true;
                Ok(Server::Done)
            }
            (state, _) => Err(unexpected(state.name(), msg)),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Server::AwaitClientHello => "server awaiting ClientHello",
            Server::AwaitCertificate { .. } => "server awaiting Certificate",
            Server::AwaitKeyExchange { .. } => "server awaiting ClientKeyExchange",
            Server::AwaitCertificateVerify { .. } => "server awaiting CertificateVerify",
            Server::AwaitFinished => "server awaiting Finished",
            Server::Done => "server done",
        }
    }
}
