//! What the client and server state machines share: the transcript, our
//! outgoing message sequence, the flight being built, the negotiated
//! secrets and what the engine must act on after a message.

use std::sync::Arc;

use crate::crypto::{CipherSuite, NamedGroup, Rng, Secrets, SigningKey};
use crate::error::ProtocolError;
use crate::flight::FlightItem;
use crate::fragment::Message;
use crate::message;
use crate::srtp::SrtpProfile;

/// What was negotiated in the hellos.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Params {
    pub(crate) suite: CipherSuite,
    pub(crate) client_random: [u8; 32],
    pub(crate) server_random: [u8; 32],
    pub(crate) srtp: Option<SrtpProfile>,
}

impl Params {
    /// The ServerKeyExchange signature input (RFC 8422 §5.4).
    pub(crate) fn signed_params(&self, params: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + params.len());
        out.extend_from_slice(&self.client_random);
        out.extend_from_slice(&self.server_random);
        out.extend_from_slice(params);
        out
    }
}

/// Shared handshake state, owned by the engine.
#[derive(Debug)]
pub(crate) struct Handshake {
    pub(crate) rng: Rng,
    pub(crate) key: Arc<SigningKey>,
    pub(crate) certificate: Vec<u8>,
    /// Our SRTP profiles, suites and groups in order of preference.
    pub(crate) srtp_profiles: Vec<SrtpProfile>,
    pub(crate) suites: Vec<CipherSuite>,
    pub(crate) groups: Vec<NamedGroup>,
    /// The ECDHE group used, once known.
    pub(crate) group: Option<NamedGroup>,
    /// Every handshake message of this handshake so far, as hashed
    /// (RFC 6347 §4.2.6; the first ClientHello and HelloVerifyRequest excluded).
    pub(crate) transcript: Vec<u8>,
    /// Our next `message_seq`.
    pub(crate) send_seq: u16,
    /// The flight being built, and whether it waits for a reply.
    pub(crate) out: Vec<FlightItem>,
    pub(crate) out_expects_reply: bool,
    pub(crate) params: Option<Params>,
    /// Set once the key exchange is done; the engine installs record keys.
    pub(crate) secrets: Option<Secrets>,
    pub(crate) keys_pending: bool,
    /// The peer's leaf certificate, once received.
    pub(crate) peer_certificate: Option<Vec<u8>>,
    pub(crate) peer_certificate_new: bool,
    /// The handshake finished (both Finished verified or sent).
    pub(crate) complete: bool,
}

impl Handshake {
    pub(crate) fn new(
        rng: Rng,
        key: Arc<SigningKey>,
        certificate: Vec<u8>,
        config: &crate::config::Config,
    ) -> Self {
        Handshake {
            rng,
            key,
            certificate,
            srtp_profiles: config.srtp_profiles.clone(),
            suites: config.cipher_suites.clone(),
            groups: config.groups.clone(),
            group: None,
            transcript: Vec::new(),
            send_seq: 0,
            out: Vec::new(),
            out_expects_reply: false,
            params: None,
            secrets: None,
            keys_pending: false,
            peer_certificate: None,
            peer_certificate_new: false,
            complete: false,
        }
    }

    /// Adds one of our messages to the flight being built and to the transcript.
    pub(crate) fn push(&mut self, msg_type: u8, body: &[u8], epoch: u16) {
        let message = message::encode(msg_type, self.send_seq, body);
        self.send_seq = self.send_seq.wrapping_add(1);
        self.transcript.extend_from_slice(&message);
        self.out.push(FlightItem::Handshake { epoch, message });
    }

    /// Adds a received message to the transcript.
    pub(crate) fn record(&mut self, msg: &Message) {
        self.transcript.extend_from_slice(&msg.transcript_bytes());
    }

    /// Derives the master secret with the session hash of the transcript so
    /// far (RFC 7627 §3: up to and including ClientKeyExchange).
    pub(crate) fn derive(&mut self, pre_master_secret: &[u8]) -> Result<(), ProtocolError> {
        let params = self
            .params
            .ok_or(ProtocolError::Internal("no parameters"))?;
        let hash = params.suite.prf_hash();
        let session_hash = hash.digest(&self.transcript);
        let mut master =
            crate::crypto::extended_master_secret(hash, pre_master_secret, session_hash.as_ref());
        self.secrets = Some(Secrets {
            suite: params.suite,
            master,
            client_random: params.client_random,
            server_random: params.server_random,
        });
        crate::crypto::wipe(&mut master);
        self.keys_pending = true;
        Ok(())
    }

    pub(crate) fn secrets(&self) -> Result<&Secrets, ProtocolError> {
        self.secrets
            .as_ref()
            .ok_or(ProtocolError::Internal("no secrets"))
    }

    /// Checks the peer's Finished (RFC 5246 §7.4.9), in constant time.
    pub(crate) fn check_finished(
        &self,
        from_client: bool,
        body: &[u8],
    ) -> Result<(), ProtocolError> {
        let expected = self.secrets()?.verify_data(from_client, &self.transcript);
        aws_lc_rs::constant_time::verify_slices_are_equal(&expected, body)
            .map_err(|_| ProtocolError::BadFinished)
    }

    /// Our Finished, over the transcript so far, in epoch 1.
    pub(crate) fn push_finished(&mut self, from_client: bool) -> Result<(), ProtocolError> {
        let data = self.secrets()?.verify_data(from_client, &self.transcript);
        self.out.push(FlightItem::ChangeCipherSpec);
        self.push(message::kind::FINISHED, &data, 1);
        Ok(())
    }

    /// Stores the peer's leaf certificate.
    pub(crate) fn set_peer_certificate(&mut self, der: Vec<u8>) {
        self.peer_certificate = Some(der);
        self.peer_certificate_new = true;
    }
}

/// The error for a message that does not belong in `state`.
pub(crate) fn unexpected(state: &'static str, msg: &Message) -> ProtocolError {
    ProtocolError::UnexpectedMessage {
        state,
        got: msg.msg_type,
    }
}
