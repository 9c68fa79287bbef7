//! The sans-IO DTLS transport: dimpl's DTLS 1.2 engine plus what WebRTC
//! adds on top (fingerprint pinning, DTLS-SRTP keys, W3C transport states).

use std::collections::VecDeque;
use std::time::{Instant, SystemTime};

use dimpl::Output;

use crate::certificate::Certificate;
use crate::config::{Config, Role};
use crate::error::Error;
use crate::fingerprint::{Fingerprint, HashAlgorithm};
use crate::srtp::{SrtpKeys, SrtpProfile};

/// Application records received before the peer is authenticated are held
/// back (never delivered unverified); beyond this many they are dropped, as
/// a lossy network would (SCTP retransmits).
const MAX_HELD_RECORDS: usize = 64;

/// Spare datagram buffers kept for reuse.
const MAX_POOLED_BUFFERS: usize = 64;

/// Upper bound on outputs drained from dimpl in one go; dimpl always ends a
/// drain with a timeout long before this, the bound only guards against a
/// bug turning into an endless loop.
const MAX_OUTPUTS_PER_DRAIN: usize = 4096;

/// Initial size of the scratch buffer dimpl writes records into.
const SCRATCH_LEN: usize = 2048;

thread_local! {
    /// The buffer dimpl writes each output record into before it is copied
    /// into a queued datagram: one per thread rather than one per transport,
    /// since it only lives for the length of a drain.
    static SCRATCH: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Takes the thread's scratch buffer (a fresh one if a caller up the stack
/// holds it), at least [`SCRATCH_LEN`] bytes long.
fn take_scratch() -> Vec<u8> {
    let mut scratch = SCRATCH.take();
    if scratch.len() < SCRATCH_LEN {
        scratch.resize(SCRATCH_LEN, 0);
    }
    scratch
}

/// The state of the transport, the W3C `RTCDtlsTransportState`.
#[doc(alias = "RTCDtlsTransportState")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportState {
    /// The handshake is in progress (or waiting for the remote fingerprint).
    Connecting,
    /// The handshake completed and the peer's certificate matched the
    /// expected fingerprint.
    Connected,
    /// Closed by `close()` or by the peer's `close_notify`.
    Closed,
    /// Failed: handshake error, timeout or fingerprint mismatch.
    Failed,
}

/// What the transport reports to the layer above, from [`Dtls::poll_event`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// The handshake completed and the peer is authenticated.
    Connected {
        /// DTLS-SRTP keys, if the peer negotiated `use_srtp` (RFC 5764).
        srtp: Option<SrtpKeys>,
        /// The expected fingerprint the peer's certificate matched.
        peer_fingerprint: Fingerprint,
        /// The peer's certificate in DER (W3C `getRemoteCertificates()`).
        peer_certificate: Vec<u8>,
    },
    /// One DTLS application data record (for WebRTC: one SCTP packet,
    /// RFC 8261). Hand the buffer back with [`Dtls::recycle`] to avoid an
    /// allocation per record.
    ApplicationData(Vec<u8>),
    /// The peer sent `close_notify` (RFC 5246 §7.2.1).
    Closed,
    /// The transport failed; it is unusable from now on.
    Failed(Error),
}

/// A sans-IO DTLS 1.2 transport for one WebRTC peer connection
/// (W3C `RTCDtlsTransport`), driven on [dimpl].
///
/// It never touches a socket or the clock: the ICE layer feeds it datagrams
/// and time, and sends what it produces on the selected candidate pair.
///
/// # Polling order
///
/// After creating the transport and after every call to
/// [`handle_receive`](Self::handle_receive), [`handle_timeout`](Self::handle_timeout),
/// [`send_application_data`](Self::send_application_data),
/// [`expect_remote_fingerprints`](Self::expect_remote_fingerprints) or
/// [`close`](Self::close), the caller:
/// 1. calls [`poll_transmit`](Self::poll_transmit) until it returns `None`,
///    sending each datagram;
/// 2. calls [`poll_event`](Self::poll_event) until it returns `None`;
/// 3. arms a timer for [`poll_timeout`](Self::poll_timeout) and calls
///    `handle_timeout` when it fires.
///
/// `now` must not go backwards; an earlier instant is treated as the latest one seen.
///
/// # Authentication
///
/// dimpl checks that the peer owns its certificate; this type checks that the
/// certificate is the one the remote SDP announced (RFC 8842 §5.1). Set the
/// fingerprints with [`expect_remote_fingerprints`](Self::expect_remote_fingerprints)
/// before or during the handshake: `Connected` and any application data wait
/// for them, and a mismatch fails the transport with
/// [`Error::FingerprintMismatch`].
#[doc(alias = "RTCDtlsTransport")]
pub struct Dtls {
    engine: dimpl::Dtls,
    role: Role,
    state: TransportState,
    allowed_profiles: Vec<SrtpProfile>,
    expected: Option<Vec<Fingerprint>>,
    /// The peer's certificate (DER), once dimpl has seen it.
    peer_cert: Option<Vec<u8>>,
    /// The expected fingerprint that matched `peer_cert`.
    verified: Option<Fingerprint>,
    srtp: Option<SrtpKeys>,
    /// dimpl finished its handshake (we may still wait for the fingerprint).
    engine_connected: bool,
    transmits: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
    /// Application data received before `Connected`.
    held: VecDeque<Vec<u8>>,
    pool: Vec<Vec<u8>>,
    timeout: Option<Instant>,
    last_now: Instant,
}

impl Dtls {
    /// Creates a transport in `role` that will present `certificate`.
    ///
    /// Fails with [`Error::CertificateExpired`] if the certificate has expired
    /// at `wall_clock` (the caller's current system time), and with
    /// [`Error::Config`] if the configuration is invalid (for example an MTU
    /// below dimpl's minimum of 64 bytes). A client queues its
    /// ClientHello at once: poll for it.
    pub fn new(
        config: &Config,
        certificate: &Certificate,
        role: Role,
        now: Instant,
        wall_clock: SystemTime,
    ) -> Result<Self, Error> {
        certificate.check_not_expired(wall_clock)?;
        let engine_config = config.engine_config()?;
        let mut engine = dimpl::Dtls::new_12(engine_config, certificate.to_dimpl(), now);
        engine.set_active(role == Role::Client);
        let mut dtls = Dtls {
            engine,
            role,
            state: TransportState::Connecting,
            allowed_profiles: config.srtp_profiles.clone(),
            expected: None,
            peer_cert: None,
            verified: None,
            srtp: None,
            engine_connected: false,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            held: VecDeque::new(),
            pool: Vec::new(),
            timeout: None,
            last_now: now,
        };
        dtls.engine.handle_timeout(now).map_err(engine_error)?;
        dtls.drain();
        Ok(dtls)
    }

    /// Our role in the handshake.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The current W3C transport state.
    pub fn state(&self) -> TransportState {
        self.state
    }

    /// The peer's certificate (DER) once the handshake has shown it, even
    /// before it is verified.
    pub fn peer_certificate(&self) -> Option<&[u8]> {
        self.peer_cert.as_deref()
    }

    /// Sets the fingerprints from the remote SDP `a=fingerprint` lines. The
    /// peer's certificate must match at least one of them. May be called
    /// before or during the handshake; if the certificate is already known it
    /// is checked at once.
    pub fn expect_remote_fingerprints(&mut self, fingerprints: Vec<Fingerprint>) {
        if self.is_terminal() {
            return;
        }
        self.expected = Some(fingerprints);
        self.verified = None;
        if self.peer_cert.is_some() {
            self.verify_peer();
        }
        self.try_complete();
    }

    /// Feeds one received datagram (RFC 7983: first byte 20..=63).
    /// Malformed or replayed records are dropped silently by dimpl.
    pub fn handle_receive(&mut self, now: Instant, datagram: &[u8]) {
        if self.is_terminal() {
            return;
        }
        let now = self.advance(now);
        let result = self
            .engine
            .handle_timeout(now)
            .and_then(|()| self.engine.handle_packet(datagram));
        if let Err(e) = result {
            self.fail(engine_error(e));
            return;
        }
        self.drain();
    }

    /// Drives retransmission timers (RFC 6347 §4.2.4); call at or after
    /// [`poll_timeout`](Self::poll_timeout).
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.is_terminal() {
            return;
        }
        let now = self.advance(now);
        if let Err(e) = self.engine.handle_timeout(now) {
            self.fail(engine_error(e));
            return;
        }
        self.drain();
    }

    /// Writes the next datagram to send into `buf` (replacing its contents)
    /// and returns its length, or `None` when nothing is queued. A timer that
    /// is due at `now` is run first.
    ///
    /// The buffer is swapped with an internal one, so no copy or allocation
    /// happens per datagram once buffers have circulated.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<usize> {
        if self.transmits.is_empty() && self.timeout.is_some_and(|t| t <= now) {
            self.handle_timeout(now);
        }
        let mut datagram = self.transmits.pop_front()?;
        std::mem::swap(buf, &mut datagram);
        self.recycle(datagram);
        Some(buf.len())
    }

    /// The next event for the layer above.
    pub fn poll_event(&mut self) -> Option<Event> {
        let event = self.events.pop_front();
        if event.is_none() && self.events.capacity() > 0 {
            // Drained: an idle transport keeps no event capacity (records
            // arrive as events, so under load this is one allocation a burst).
            self.events = VecDeque::new();
        }
        event
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next wanted; `None`
    /// once closed or failed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.is_terminal() {
            return None;
        }
        self.timeout
    }

    /// Sends one application data record (for WebRTC: one SCTP packet,
    /// which must fit the MTU with the record overhead).
    ///
    /// Fails with [`Error::NotConnected`] before `Connected` or after close;
    /// an engine error fails the transport (and is also reported as
    /// [`Event::Failed`]).
    pub fn send_application_data(&mut self, data: &[u8]) -> Result<(), Error> {
        if self.state != TransportState::Connected {
            return Err(Error::NotConnected);
        }
        if let Err(e) = self.engine.send_application_data(data) {
            let err = engine_error(e);
            self.fail(err.clone());
            return Err(err);
        }
        self.drain();
        Ok(())
    }

    /// Closes the transport, sending `close_notify` if the handshake had
    /// completed (RFC 5246 §7.2.1). Poll for the alert afterwards. Closing
    /// twice does nothing. No [`Event::Closed`] is reported for a local close.
    pub fn close(&mut self) {
        if self.is_terminal() {
            return;
        }
        self.state = TransportState::Closed;
        self.held.clear();
        match self.engine.close() {
            Ok(()) => self.drain_packets_only(),
            Err(e) => tracing::debug!("dimpl close failed: {e}"),
        }
    }

    /// Returns a buffer (from [`Event::ApplicationData`] or elsewhere) for reuse.
    pub fn recycle(&mut self, mut buf: Vec<u8>) {
        if self.pool.len() < MAX_POOLED_BUFFERS {
            buf.clear();
            self.pool.push(buf);
        }
    }

    fn is_terminal(&self) -> bool {
        matches!(self.state, TransportState::Closed | TransportState::Failed)
    }

    fn advance(&mut self, now: Instant) -> Instant {
        self.last_now = self.last_now.max(now);
        self.last_now
    }

    fn fail(&mut self, error: Error) {
        if self.is_terminal() {
            return;
        }
        tracing::debug!("DTLS transport failed: {error}");
        self.state = TransportState::Failed;
        self.transmits.clear();
        self.held.clear();
        self.srtp = None;
        self.events.push_back(Event::Failed(error));
    }

    /// Drains dimpl's output until its `Timeout`, as dimpl requires after
    /// every mutation, sorting datagrams and events into our queues.
    fn drain(&mut self) {
        let mut scratch = take_scratch();
        let failure = self.drain_into(&mut scratch);
        SCRATCH.set(scratch);
        if let Some(e) = failure {
            self.fail(e);
            return;
        }
        // Check the certificate as soon as dimpl shows it, so a client never
        // sends its key exchange and Finished to an impostor.
        if self.peer_cert.is_some() && self.verified.is_none() && self.expected.is_some() {
            self.verify_peer();
        }
        self.try_complete();
    }

    /// Drains dimpl's output through `scratch`; returns an error that
    /// fails the transport.
    fn drain_into(&mut self, scratch: &mut Vec<u8>) -> Option<Error> {
        let mut failure = None;
        for _ in 0..MAX_OUTPUTS_PER_DRAIN {
            match self.engine.poll_output(scratch) {
                Output::Packet(p) => {
                    let mut buf = self.pool.pop().unwrap_or_default();
                    buf.extend_from_slice(p);
                    self.transmits.push_back(buf);
                }
                Output::BufferTooSmall { needed } => scratch.resize(needed, 0),
                Output::Timeout(at) => {
                    self.timeout = Some(at);
                    break;
                }
                Output::Connected => self.engine_connected = true,
                Output::PeerCert(der) if self.peer_cert.is_none() => {
                    self.peer_cert = Some(der.to_vec());
                }
                Output::KeyingMaterial(material, profile) => {
                    match self.srtp_keys(&material, profile) {
                        Ok(keys) => self.srtp = Some(keys),
                        Err(e) => {
                            failure = Some(e);
                            break;
                        }
                    }
                }
                Output::ApplicationData(data) => {
                    let mut buf = self.pool.pop().unwrap_or_default();
                    buf.extend_from_slice(data);
                    if self.state == TransportState::Connected {
                        self.events.push_back(Event::ApplicationData(buf));
                    } else if self.held.len() < MAX_HELD_RECORDS {
                        self.held.push_back(buf);
                    }
                }
                Output::CloseNotify
                    if matches!(
                        self.state,
                        TransportState::Connecting | TransportState::Connected
                    ) =>
                {
                    self.state = TransportState::Closed;
                    self.held.clear();
                    self.events.push_back(Event::Closed);
                }
                _ => {}
            }
        }
        failure
    }

    /// After a local close: keep the `close_notify` datagram, ignore the rest.
    fn drain_packets_only(&mut self) {
        let mut scratch = take_scratch();
        for _ in 0..MAX_OUTPUTS_PER_DRAIN {
            match self.engine.poll_output(&mut scratch) {
                Output::Packet(p) => {
                    let mut buf = self.pool.pop().unwrap_or_default();
                    buf.extend_from_slice(p);
                    self.transmits.push_back(buf);
                }
                Output::BufferTooSmall { needed } => scratch.resize(needed, 0),
                Output::Timeout(_) => break,
                _ => {}
            }
        }
        SCRATCH.set(scratch);
    }

    /// RFC 8842 §5.1: the certificate must match a remote fingerprint.
    fn verify_peer(&mut self) {
        let (Some(expected), Some(der)) = (&self.expected, &self.peer_cert) else {
            return;
        };
        match expected.iter().find(|fp| fp.matches_der(der)) {
            Some(fp) => self.verified = Some(fp.clone()),
            None => {
                let algorithm = expected
                    .first()
                    .map_or(HashAlgorithm::Sha256, Fingerprint::algorithm);
                let error = Error::FingerprintMismatch {
                    expected: expected.clone(),
                    actual: Fingerprint::of_der(algorithm, der),
                };
                self.fail(error);
            }
        }
    }

    /// Emits `Connected` once dimpl is done and the peer is verified, then
    /// releases application data that arrived early.
    fn try_complete(&mut self) {
        if self.state != TransportState::Connecting || !self.engine_connected {
            return;
        }
        if self.expected.is_none() {
            return; // wait for expect_remote_fingerprints
        }
        let Some(der) = self.peer_cert.clone() else {
            self.fail(Error::NoPeerCertificate);
            return;
        };
        let Some(peer_fingerprint) = self.verified.clone() else {
            return; // verify_peer already failed the transport
        };
        self.state = TransportState::Connected;
        // The handshake's flights are over: free the buffers that carried
        // them; data buffers circulate from here on, as many as a burst needs.
        self.pool = Vec::new();
        self.transmits.shrink_to_fit();
        self.events.push_back(Event::Connected {
            srtp: self.srtp.take(),
            peer_fingerprint,
            peer_certificate: der,
        });
        while let Some(data) = self.held.pop_front() {
            self.events.push_back(Event::ApplicationData(data));
        }
        self.held = VecDeque::new();
    }

    /// Splits the exporter output (RFC 5764 §4.2) after checking the profile
    /// against the configuration.
    fn srtp_keys(&self, material: &[u8], profile: dimpl::SrtpProfile) -> Result<SrtpKeys, Error> {
        let profile = SrtpProfile::from_dimpl(profile).ok_or(Error::UnknownSrtpProfile)?;
        if !self.allowed_profiles.contains(&profile) {
            return Err(Error::SrtpProfileNotAllowed { profile });
        }
        SrtpKeys::from_keying_material(profile, self.role, material)
            .ok_or(Error::UnknownSrtpProfile)
    }
}

impl std::fmt::Debug for Dtls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dtls")
            .field("role", &self.role)
            .field("state", &self.state)
            .field("engine", &self.engine)
            .finish_non_exhaustive()
    }
}

fn engine_error(error: dimpl::Error) -> Error {
    match error {
        dimpl::Error::Timeout(_) => Error::HandshakeTimeout,
        other => Error::Protocol(other),
    }
}
