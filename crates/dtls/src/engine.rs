//! The sans-IO DTLS transport: ferrtc's DTLS 1.2 engine (record layer,
//! flights, the client and server state machines) plus what WebRTC adds on
//! top (fingerprint pinning, DTLS-SRTP keys, W3C transport states).

use std::collections::VecDeque;
use std::ops::Range;
use std::time::{Duration, Instant, SystemTime};

use crate::alert::{AlertDescription, AlertLevel};
use crate::certificate::Certificate;
use crate::client::Client;
use crate::codec::Reader;
use crate::config::{Config, Role};
use crate::cookie::CookieKey;
use crate::crypto::{AEAD_OVERHEAD, RecordCipher, Rng};
use crate::error::{Error, ProtocolError};
use crate::fingerprint::{Fingerprint, HashAlgorithm};
use crate::flight::{Flight, FlightItem, TimerState, later};
use crate::fragment::{self, Inserted, Message, Reassembler};
use crate::handshake::Handshake;
use crate::message::{self, ClientHello, FragmentHeader, HANDSHAKE_HEADER_LEN, kind};
use crate::record::{self, ContentType, DTLS_1_2, HEADER_LEN, MAX_SEQ, RecordHeader, ReplayWindow};
use crate::server::{HelloOutcome, Server};
use crate::srtp::SrtpKeys;

/// Application records received before the peer is authenticated are held
/// back (never delivered unverified); beyond this many they are dropped, as
/// a lossy network would (SCTP retransmits).
const MAX_HELD_RECORDS: usize = 64;

/// Spare datagram buffers kept for reuse.
const MAX_POOLED_BUFFERS: usize = 64;

/// Epoch-1 records that arrive before their keys (reordering) are kept,
/// up to this many, and read once the keys exist.
const MAX_EARLY_RECORDS: usize = 8;
/// ... each at most this long (a handshake record fits an MTU).
const MAX_EARLY_RECORD_LEN: usize = 2048;

/// Datagrams queued before the caller polls; HelloVerifyRequests beyond
/// this are not sent (a flood of ClientHellos costs no memory).
const MAX_QUEUED_DATAGRAMS: usize = 256;

/// Largest plaintext of one record (RFC 5246 §6.2.1), sent or received.
const MAX_PLAINTEXT: usize = 1 << 14;

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
    /// RFC 8261), from [`Dtls::handle_receive`]. Hand the buffer back with
    /// [`Dtls::recycle`] to avoid an allocation per record, or use
    /// [`Dtls::handle_receive_in_place`], which copies nothing.
    ApplicationData(Vec<u8>),
    /// The peer sent `close_notify` (RFC 5246 §7.2.1); ours in answer is
    /// queued for [`Dtls::poll_transmit`].
    Closed,
    /// The transport failed; it is unusable from now on.
    Failed(Error),
}

/// Counters of what the engine dropped or did, for tests and statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Records that authenticated and were processed.
    pub records_received: u64,
    /// Records dropped by the anti-replay window (RFC 6347 §4.1.2.6).
    pub records_replayed: u64,
    /// Records that did not authenticate (tampered or forged).
    pub records_failed_authentication: u64,
    /// Datagrams or records that did not parse, and records of an unknown epoch.
    pub records_malformed: u64,
    /// Handshake fragments dropped: malformed, oversized, too far ahead, of
    /// a message split into too many pieces, or stale. (A fragment that
    /// contradicts what is held starts another version of its message
    /// instead; versions and messages least recently added to give way at
    /// the reassembly bounds.)
    pub fragments_dropped: u64,
    /// HelloVerifyRequests sent (each without keeping state).
    pub hello_verify_requests: u64,
    /// Flights retransmitted (timer or the peer's retransmission).
    pub retransmissions: u64,
    /// Renegotiation attempts refused with `no_renegotiation`.
    pub renegotiations_refused: u64,
    /// Bytes held for handshake reassembly right now.
    pub handshake_bytes_buffered: usize,
}

/// Which state machine drives the handshake.
#[derive(Debug)]
enum Machine {
    Client(Client),
    Server(Server),
    /// A state machine failed; nothing more is processed.
    Aborted,
}

/// The messages of the peer's latest flight, to recognise its
/// retransmission (RFC 6347 §4.2.4) among stale or forged fragments.
#[derive(Debug, Default)]
struct PeerFlight {
    /// `(message_seq, msg_type, length, epoch)` of each message.
    messages: Vec<(u16, u8, usize, u16)>,
    /// We sent a flight since: the next message starts the peer's next one.
    ended: bool,
}

impl PeerFlight {
    fn record(&mut self, msg: &Message) {
        if std::mem::take(&mut self.ended) {
            self.messages.clear();
        }
        self.messages
            .push((msg.seq, msg.msg_type, msg.body.len(), msg.epoch));
    }

    /// Whether a fragment could belong to one of these messages.
    fn contains(&self, fh: &FragmentHeader, epoch: u16) -> bool {
        self.messages
            .contains(&(fh.message_seq, fh.msg_type, fh.length, epoch))
    }
}

/// The record layer's write and read state (RFC 6347 §4.1).
struct Records {
    /// Our current write epoch: 1 once our ChangeCipherSpec went out.
    write_epoch: u16,
    /// Next sequence number per write epoch.
    write_seq: [u64; 2],
    write: Option<RecordCipher>,
    read: Option<RecordCipher>,
    replay: ReplayWindow,
    /// A record of the peer's authenticated in epoch 1: the peer has sent
    /// its ChangeCipherSpec and writes everything, alerts included, in
    /// epoch 1 from then on (RFC 6347 §4.1).
    peer_in_epoch_1: bool,
}

/// A sans-IO DTLS 1.2 transport for one WebRTC peer connection
/// (W3C `RTCDtlsTransport`).
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
/// # Zero-copy data path
///
/// [`handle_receive_in_place`](Self::handle_receive_in_place) decrypts
/// application records inside the caller's datagram buffer;
/// [`poll_application_data`](Self::poll_application_data) then yields the
/// plaintext ranges. [`send_application_data_into`](Self::send_application_data_into)
/// encrypts a record straight into the caller's outgoing buffer. Neither
/// allocates.
///
/// # Authentication
///
/// The handshake checks that the peer owns its certificate (the
/// CertificateVerify or ServerKeyExchange signature); this type checks that
/// the certificate is the one the remote SDP announced (RFC 8842 §5.1). Set
/// the fingerprints with [`expect_remote_fingerprints`](Self::expect_remote_fingerprints)
/// before or during the handshake: `Connected` and any application data wait
/// for them, and a mismatch sends a fatal `bad_certificate` alert and fails
/// the transport with [`Error::FingerprintMismatch`].
#[doc(alias = "RTCDtlsTransport")]
pub struct Dtls {
    role: Role,
    state: TransportState,
    mtu: usize,
    initial_rto: Duration,
    flight_retries: usize,
    handshake_timeout: Duration,
    hs: Handshake,
    machine: Machine,
    /// The server's cookie secret (RFC 6347 §4.2.1).
    cookies: Option<CookieKey>,
    reassembler: Reassembler,
    flight: Option<Flight>,
    /// Flights built so far (not counting retransmissions).
    flights_sent: u64,
    peer_flight: PeerFlight,
    /// The whole handshake must be over by then.
    deadline: Option<Instant>,
    records: Records,
    early: Vec<Vec<u8>>,
    stats: Stats,
    expected: Option<Vec<Fingerprint>>,
    /// The expected fingerprint that matched the peer's certificate.
    verified: Option<Fingerprint>,
    srtp: Option<SrtpKeys>,
    transmits: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
    /// Application data received before `Connected`.
    held: VecDeque<Vec<u8>>,
    pool: Vec<Vec<u8>>,
    /// Plaintext ranges of the last in-place datagram, and the next to yield.
    app_ranges: Vec<Range<usize>>,
    app_next: usize,
    /// Reused: the records of the datagram being read, and a copy of a
    /// datagram given by shared reference.
    headers: Vec<RecordHeader>,
    scratch: Vec<u8>,
    last_now: Instant,
}

impl Dtls {
    /// Creates a transport in `role` that will present `certificate`, with
    /// randomness from the operating system (or from
    /// [`Config::rng_seed`] when set).
    ///
    /// Fails with [`Error::CertificateExpired`] if the certificate has expired
    /// at `wall_clock` (the caller's current system time), and with
    /// [`Error::Config`] if the configuration is invalid (an MTU below
    /// [`MIN_MTU`](crate::MIN_MTU)). A client queues its ClientHello at once: poll for it.
    pub fn new(
        config: &Config,
        certificate: &Certificate,
        role: Role,
        now: Instant,
        wall_clock: SystemTime,
    ) -> Result<Self, Error> {
        let rng = match config.rng_seed {
            Some(seed) => {
                use rand::SeedableRng;
                Rng::new(rand::rngs::StdRng::seed_from_u64(seed))
            }
            None => Rng::system(),
        };
        Self::build(config, certificate, role, now, wall_clock, rng)
    }

    /// Like [`new`](Self::new), drawing every random value the engine
    /// chooses (hello randoms, the cookie secret, ECDHE private keys) from
    /// `rng`. Two transports given identically seeded RNGs and the same
    /// inputs send identical bytes, except for ECDSA and RSA-PSS signatures,
    /// whose nonces and salts aws-lc draws itself; RSA PKCS#1 v1.5
    /// signatures (what an RSA certificate signs with) are deterministic.
    pub fn with_rng(
        config: &Config,
        certificate: &Certificate,
        role: Role,
        now: Instant,
        wall_clock: SystemTime,
        rng: impl rand::CryptoRng + Send + Sync + 'static,
    ) -> Result<Self, Error> {
        Self::build(config, certificate, role, now, wall_clock, Rng::new(rng))
    }

    fn build(
        config: &Config,
        certificate: &Certificate,
        role: Role,
        now: Instant,
        wall_clock: SystemTime,
        mut rng: Rng,
    ) -> Result<Self, Error> {
        certificate.check_not_expired(wall_clock)?;
        config.validate()?;
        let cookies = (role == Role::Server).then(|| CookieKey::new(rng.array()));
        let mut hs = Handshake::new(
            rng,
            certificate.signing_key(),
            certificate.der().to_vec(),
            config,
        );
        // A client builds its ClientHello at once; a server waits, stateless.
        let machine = match role {
            Role::Client => Machine::Client(Client::start(&mut hs)),
            Role::Server => Machine::Server(Server::AwaitClientHello),
        };
        let mut dtls = Dtls {
            role,
            state: TransportState::Connecting,
            mtu: config.mtu,
            initial_rto: config.initial_rto,
            flight_retries: config.flight_retries,
            handshake_timeout: config.handshake_timeout,
            hs,
            machine,
            cookies,
            reassembler: Reassembler::default(),
            flight: None,
            flights_sent: 0,
            peer_flight: PeerFlight::default(),
            deadline: None,
            records: Records {
                write_epoch: 0,
                write_seq: [0; 2],
                write: None,
                read: None,
                replay: ReplayWindow::default(),
                peer_in_epoch_1: false,
            },
            early: Vec::new(),
            stats: Stats::default(),
            expected: None,
            verified: None,
            srtp: None,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            held: VecDeque::new(),
            pool: Vec::new(),
            app_ranges: Vec::new(),
            app_next: 0,
            headers: Vec::new(),
            scratch: Vec::new(),
            last_now: now,
        };
        if role == Role::Client {
            dtls.deadline = Some(later(now, dtls.handshake_timeout));
            dtls.send_new_flight(now);
        }
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
        self.hs.peer_certificate.as_deref()
    }

    /// The fingerprints the peer's certificate is pinned to
    /// ([`expect_remote_fingerprints`](Self::expect_remote_fingerprints)).
    pub fn expected_fingerprints(&self) -> Option<&[Fingerprint]> {
        self.expected.as_deref()
    }

    /// The negotiated cipher suite, once the ServerHello is known.
    pub fn cipher_suite(&self) -> Option<crate::crypto::CipherSuite> {
        self.hs.params.map(|p| p.suite)
    }

    /// The ECDHE group of the key exchange, once known.
    pub fn key_exchange_group(&self) -> Option<crate::crypto::NamedGroup> {
        self.hs.group
    }

    /// Counters of dropped records, fragments, retransmissions.
    pub fn stats(&self) -> Stats {
        Stats {
            handshake_bytes_buffered: self.reassembler.buffered(),
            ..self.stats
        }
    }

    /// Sets the fingerprints from the remote SDP `a=fingerprint` lines. The
    /// peer's certificate must match one of those with the strongest hash
    /// function among them (RFC 8122 §5: with SHA-1 and SHA-256 given, a
    /// SHA-256 one); fingerprints of weaker hashes are not consulted. May be called
    /// before or during the handshake; if the certificate is already known it
    /// is checked at once.
    pub fn expect_remote_fingerprints(&mut self, fingerprints: Vec<Fingerprint>) {
        if self.is_terminal() {
            return;
        }
        self.expected = Some(fingerprints);
        self.verified = None;
        if self.hs.peer_certificate.is_some() {
            self.verify_peer();
        }
        self.try_complete();
    }

    /// Feeds one received datagram (RFC 7983: first byte 20..=63).
    /// Malformed, forged and replayed records are dropped and counted in
    /// [`stats`](Self::stats). Application data comes out as
    /// [`Event::ApplicationData`].
    pub fn handle_receive(&mut self, now: Instant, datagram: &[u8]) {
        if self.is_terminal() {
            return;
        }
        let mut copy = std::mem::take(&mut self.scratch);
        copy.clear();
        copy.extend_from_slice(datagram);
        self.receive(now, &mut copy, false);
        self.scratch = copy;
    }

    /// Feeds one received datagram and decrypts its application records in
    /// place, inside `datagram`. Their plaintext is then read with
    /// [`poll_application_data`](Self::poll_application_data), which yields
    /// byte ranges of `datagram`, valid until the next call that feeds a
    /// datagram. Nothing is copied or allocated per record once connected;
    /// handshake records and alerts are handled as by
    /// [`handle_receive`](Self::handle_receive). Records that arrive before
    /// `Connected` are held (copied) and later come out as
    /// [`Event::ApplicationData`].
    pub fn handle_receive_in_place(&mut self, now: Instant, datagram: &mut [u8]) {
        self.app_ranges.clear();
        self.app_next = 0;
        if self.is_terminal() {
            return;
        }
        self.receive(now, datagram, true);
    }

    /// The next application record's plaintext from the last
    /// [`handle_receive_in_place`](Self::handle_receive_in_place), as a
    /// range of that datagram (one SCTP packet each, in arrival order).
    pub fn poll_application_data(&mut self) -> Option<Range<usize>> {
        let range = self.app_ranges.get(self.app_next)?.clone();
        self.app_next += 1;
        Some(range)
    }

    /// Drives retransmission timers (RFC 6347 §4.2.4); call at or after
    /// [`poll_timeout`](Self::poll_timeout).
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.is_terminal() {
            return;
        }
        let now = self.advance(now);
        if self.deadline.is_some_and(|d| now >= d) {
            self.fail(Error::HandshakeTimeout, None);
            return;
        }
        let Some(flight) = &mut self.flight else {
            return;
        };
        match flight.on_timeout(now) {
            TimerState::Idle => {}
            TimerState::Retransmit => {
                self.stats.retransmissions += 1;
                self.transmit_flight();
            }
            TimerState::GiveUp => self.fail(Error::HandshakeTimeout, None),
        }
    }

    /// Writes the next datagram to send into `buf` (replacing its contents)
    /// and returns its length, or `None` when nothing is queued. A timer that
    /// is due at `now` is run first.
    ///
    /// The buffer is swapped with an internal one, so no copy or allocation
    /// happens per datagram once buffers have circulated.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<usize> {
        if self.transmits.is_empty() && self.poll_timeout().is_some_and(|t| t <= now) {
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
            // Drained: an idle transport keeps no event capacity.
            self.events = VecDeque::new();
        }
        event
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next wanted; `None`
    /// once connected, closed or failed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.is_terminal() || self.hs.complete {
            return None;
        }
        let flight = self.flight.as_ref().and_then(Flight::deadline);
        match (flight, self.deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Sends one application data record (for WebRTC: one SCTP packet,
    /// which should fit the MTU with the 37 bytes of record overhead),
    /// queued for [`poll_transmit`](Self::poll_transmit).
    ///
    /// Fails with [`Error::NotConnected`] before `Connected` or after close,
    /// and with [`Error::RecordTooLarge`] above 16 KiB.
    pub fn send_application_data(&mut self, data: &[u8]) -> Result<(), Error> {
        let mut buf = self.pool.pop().unwrap_or_default();
        buf.clear();
        match self.send_application_data_into(data, &mut buf) {
            Ok(_) => {
                self.transmits.push_back(buf);
                Ok(())
            }
            Err(e) => {
                self.recycle(buf);
                Err(e)
            }
        }
    }

    /// Encrypts one application data record straight into `out` (appended;
    /// several records may share a datagram up to the MTU) and returns the
    /// record's length. No intermediate buffer: the plaintext is copied
    /// once, into `out`, and sealed there.
    pub fn send_application_data_into(
        &mut self,
        data: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<usize, Error> {
        if self.state != TransportState::Connected {
            return Err(Error::NotConnected);
        }
        if data.len() > MAX_PLAINTEXT {
            return Err(Error::RecordTooLarge {
                len: data.len(),
                max: MAX_PLAINTEXT,
            });
        }
        let start = out.len();
        if let Err(e) = self.write_record(out, ContentType::ApplicationData, 1, &[data]) {
            out.truncate(start);
            let err = Error::Protocol {
                sent: e.alert(),
                reason: e.clone(),
            };
            self.fail(err.clone(), Some(e.alert()));
            return Err(err);
        }
        Ok(out.len() - start)
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
        self.flight = None;
        if self.hs.complete {
            self.send_alert(AlertLevel::Warning, AlertDescription::CloseNotify);
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

    /// Fails the transport, queueing a fatal `alert` for the peer if given.
    fn fail(&mut self, error: Error, alert: Option<AlertDescription>) {
        if self.is_terminal() {
            return;
        }
        tracing::debug!("DTLS transport failed: {error}");
        self.transmits.clear();
        if let Some(alert) = alert {
            self.send_alert(AlertLevel::Fatal, alert);
        }
        self.state = TransportState::Failed;
        self.machine = Machine::Aborted;
        self.flight = None;
        self.held.clear();
        self.early.clear();
        self.events.push_back(Event::Failed(error));
    }

    fn fail_protocol(&mut self, reason: ProtocolError) {
        let sent = reason.alert();
        self.fail(Error::Protocol { sent, reason }, Some(sent));
    }

    // ----- receiving -----

    /// Reads every record of a datagram (RFC 6347 §4.1.1).
    fn receive(&mut self, now: Instant, datagram: &mut [u8], in_place: bool) {
        let now = self.advance(now);
        let mut headers = std::mem::take(&mut self.headers);
        headers.clear();
        if record::split_records(datagram, &mut headers).is_err() {
            self.stats.records_malformed += 1;
        }
        let mut peer_retransmitted = false;
        let flights_sent = self.flights_sent;
        for h in &headers {
            if self.is_terminal() {
                break;
            }
            self.receive_record(now, h, datagram, in_place, &mut peer_retransmitted);
        }
        self.headers = headers;
        // A flight this datagram made us build has just gone out: the
        // duplicates it also carried are no reason to send it twice.
        if peer_retransmitted
            && self.flights_sent == flights_sent
            && !self.is_terminal()
            && let Some(flight) = &mut self.flight
            && flight.may_answer_peer(now, self.initial_rto)
        {
            // RFC 6347 §4.2.4: the peer lost our flight; send it again.
            self.stats.retransmissions += 1;
            self.transmit_flight();
        }
    }

    fn receive_record(
        &mut self,
        now: Instant,
        h: &RecordHeader,
        datagram: &mut [u8],
        in_place: bool,
        peer_retransmitted: &mut bool,
    ) {
        if !self.version_allowed(h) {
            self.stats.records_malformed += 1;
            return;
        }
        let plain = match h.epoch {
            // RFC 5246 §6.2.1: at most 2^14 bytes of plaintext. Anyone can
            // forge an unprotected record: an invalid one is silently
            // discarded (RFC 6347 §4.1.2.7), not fatal.
            0 if h.body.len() > MAX_PLAINTEXT => {
                self.stats.records_malformed += 1;
                return;
            }
            0 => h.body.clone(),
            1 => {
                let Some(cipher) = &self.records.read else {
                    // Reordered ahead of the key exchange: keep a few.
                    if self.early.len() < MAX_EARLY_RECORDS
                        && !self.hs.complete
                        && h.body.len() <= MAX_EARLY_RECORD_LEN
                    {
                        let start = h.body.start - HEADER_LEN;
                        self.early.push(datagram[start..h.body.end].to_vec());
                    }
                    return;
                };
                if !self.records.replay.check(h.seq) {
                    self.stats.records_replayed += 1;
                    return;
                }
                let body = &mut datagram[h.body.clone()];
                match cipher.open(h.full_seq(), h.content_type as u8, h.version, body) {
                    // RFC 5246 §6.2.3, RFC 8446 §5.2: more than 2^14 bytes
                    // of plaintext is a fatal record_overflow; the record
                    // authenticated, so the peer did send it.
                    Some(r) if r.len() > MAX_PLAINTEXT => {
                        self.fail_protocol(ProtocolError::RecordOverflow { len: r.len() });
                        return;
                    }
                    Some(r) => {
                        self.records.replay.mark(h.seq);
                        self.records.peer_in_epoch_1 = true;
                        h.body.start + r.start..h.body.start + r.end
                    }
                    None => {
                        self.stats.records_failed_authentication += 1;
                        return;
                    }
                }
            }
            _ => {
                self.stats.records_malformed += 1;
                return;
            }
        };
        self.stats.records_received += 1;
        match h.content_type {
            ContentType::Handshake => {
                self.receive_handshake(now, h, &datagram[plain], peer_retransmitted);
            }
            // The epoch of each record says which keys protect it; a CCS
            // only needs to be well formed (RFC 5246 §7.1).
            ContentType::ChangeCipherSpec => {
                if datagram[plain] != [1] {
                    self.stats.records_malformed += 1;
                }
            }
            ContentType::Alert => self.receive_alert(h.epoch, &datagram[plain]),
            ContentType::ApplicationData if h.epoch == 1 => {
                self.receive_application_data(datagram, plain, in_place)
            }
            ContentType::ApplicationData => self.stats.records_malformed += 1,
        }
    }

    /// Once the version is negotiated (ServerHello), records carry DTLS
    /// 1.2 (RFC 6347 §4.1); a server still accepts a retransmitted
    /// ClientHello in a DTLS 1.0 record (§4.2.1).
    fn version_allowed(&self, h: &RecordHeader) -> bool {
        h.version == DTLS_1_2
            || self.hs.params.is_none()
            || self.role == Role::Server
                && h.epoch == 0
                && h.content_type == ContentType::Handshake
                && !self.hs.complete
    }

    fn receive_application_data(&mut self, datagram: &[u8], plain: Range<usize>, in_place: bool) {
        if self.role == Role::Server && self.flight.is_some() {
            // The client sends data only after our Finished reached it:
            // flight 6 will not be needed again.
            self.flight = None;
        }
        match self.state {
            TransportState::Connected if in_place => self.app_ranges.push(plain),
            TransportState::Connected => {
                let mut buf = self.pool.pop().unwrap_or_default();
                buf.extend_from_slice(&datagram[plain]);
                self.events.push_back(Event::ApplicationData(buf));
            }
            TransportState::Connecting
                if self.hs.complete && self.held.len() < MAX_HELD_RECORDS =>
            {
                self.held.push_back(datagram[plain].to_vec());
            }
            _ => {}
        }
    }

    /// RFC 5246 §7.2.
    fn receive_alert(&mut self, epoch: u16, body: &[u8]) {
        let [level, code] = body else {
            self.stats.records_malformed += 1;
            return;
        };
        if epoch == 0 && (self.hs.complete || self.records.peer_in_epoch_1) {
            // Once the peer writes in epoch 1, its alerts are protected: a
            // plaintext one is forged and, as any invalid record, silently
            // discarded (RFC 6347 §4.1.2.7). Having our read keys is not
            // enough: until its ChangeCipherSpec the peer still alerts in
            // epoch 0 (a server refusing our Finished, say).
            return;
        }
        if matches!(self.machine, Machine::Server(Server::AwaitClientHello)) {
            // No peer has shown it can receive at its address (RFC 6347
            // §4.2.1): a spoofed alert must not end a stateless server.
            return;
        }
        let description = AlertDescription::from_code(*code);
        match (AlertLevel::from_u8(*level), description) {
            (_, AlertDescription::CloseNotify) => {
                if matches!(
                    self.state,
                    TransportState::Connecting | TransportState::Connected
                ) {
                    self.state = TransportState::Closed;
                    self.held.clear();
                    self.flight = None;
                    self.events.push_back(Event::Closed);
                    // RFC 5246 §7.2.1: answer with a close_notify of our own.
                    if self.hs.complete {
                        self.send_alert(AlertLevel::Warning, AlertDescription::CloseNotify);
                    }
                }
            }
            (Some(AlertLevel::Warning), _) => {
                tracing::debug!("DTLS warning alert {description} ignored");
            }
            _ => {
                self.transmits.clear();
                self.fail(Error::AlertReceived { description }, None);
            }
        }
    }

    /// A handshake record: one or more fragments (RFC 6347 §4.2.3).
    fn receive_handshake(
        &mut self,
        now: Instant,
        h: &RecordHeader,
        body: &[u8],
        peer_retransmitted: &mut bool,
    ) {
        let mut r = Reader::new(body);
        while !r.is_empty() && !self.is_terminal() {
            let Ok(fh) = FragmentHeader::read(&mut r) else {
                self.stats.fragments_dropped += 1;
                return;
            };
            let Ok(data) = r.take(fh.fragment_len, "fragment") else {
                self.stats.fragments_dropped += 1;
                return;
            };
            if matches!(self.machine, Machine::Server(Server::AwaitClientHello)) {
                self.stateless_client_hello(now, h, &fh, data);
                continue;
            }
            // Once complete, epoch-0 handshake records can only be the
            // peer's final flight again; a renegotiation comes in epoch 1.
            let stale =
                self.hs.complete && h.epoch == 0 || fh.message_seq < self.reassembler.next_seq();
            if stale {
                if !fragment::well_formed(&fh, data) || !self.peer_flight.contains(&fh, h.epoch) {
                    self.stats.fragments_dropped += 1;
                } else if self.peer_flight.ended {
                    // RFC 6347 §4.2.4: the peer resends a flight we have
                    // answered, so our answer was (likely) lost.
                    *peer_retransmitted = true;
                }
                // Otherwise it resends the flight we are still receiving:
                // it has our previous flight, and sending that again would
                // only draw one more copy of its flight (a ping-pong).
                continue;
            }
            match self.reassembler.insert(&fh, h.epoch, data) {
                Inserted::Kept => self.drive_handshake(now),
                Inserted::Old | Inserted::Dropped => self.stats.fragments_dropped += 1,
            }
        }
    }

    /// A server with no state answers a ClientHello without our cookie
    /// with a HelloVerifyRequest and forgets it (RFC 6347 §4.2.1).
    fn stateless_client_hello(
        &mut self,
        now: Instant,
        h: &RecordHeader,
        fh: &FragmentHeader,
        data: &[u8],
    ) {
        if h.epoch != 0
            || fh.msg_type != kind::CLIENT_HELLO
            || fh.offset != 0
            || fh.fragment_len != fh.length
        {
            self.stats.fragments_dropped += 1;
            return;
        }
        let Ok(hello) = ClientHello::decode(data) else {
            self.stats.fragments_dropped += 1;
            return;
        };
        let Some(cookies) = &self.cookies else {
            return;
        };
        let msg = Message {
            msg_type: fh.msg_type,
            seq: fh.message_seq,
            epoch: 0,
            body: data.to_vec(),
        };
        match crate::server::on_client_hello(&mut self.hs, cookies, &hello, &msg) {
            Ok(HelloOutcome::Verify(body)) => {
                if self.transmits.len() >= MAX_QUEUED_DATAGRAMS {
                    return;
                }
                // RFC 6347 §4.2.1: the request reuses the hello's record
                // sequence number and message_seq; our counters stay put.
                let message = message::encode(kind::HELLO_VERIFY_REQUEST, fh.message_seq, &body);
                let mut out = self.pool.pop().unwrap_or_default();
                out.clear();
                record::write_header(
                    &mut out,
                    ContentType::Handshake,
                    DTLS_1_2,
                    h.seq,
                    message.len(),
                );
                out.extend_from_slice(&message);
                self.transmits.push_back(out);
                self.stats.hello_verify_requests += 1;
            }
            Ok(HelloOutcome::Accepted(server)) => {
                self.machine = Machine::Server(server);
                self.peer_flight.record(&msg);
                self.reassembler.reset(fh.message_seq.wrapping_add(1));
                self.deadline = Some(later(now, self.handshake_timeout));
                self.send_new_flight(now);
            }
            Err(e) => self.fail_protocol(e),
        }
    }

    /// Feeds complete messages, in order, to the state machine.
    fn drive_handshake(&mut self, now: Instant) {
        while let Some(msg) = self.reassembler.pop() {
            if self.is_terminal() {
                return;
            }
            if self.hs.complete {
                // RFC 5746 §4.2/§4.4: no renegotiation, in either direction.
                self.stats.renegotiations_refused += 1;
                self.send_alert(AlertLevel::Warning, AlertDescription::NoRenegotiation);
                continue;
            }
            if msg.msg_type == kind::HELLO_REQUEST && self.role == Role::Client {
                continue; // RFC 5246 §7.4.1.1: ignored during a handshake
            }
            self.peer_flight.record(&msg);
            // Finished is the one message under the new keys.
            let epoch = u16::from(msg.msg_type == kind::FINISHED);
            if msg.epoch != epoch {
                self.fail_protocol(crate::handshake::unexpected("wrong epoch", &msg));
                return;
            }
            let result = match std::mem::replace(&mut self.machine, Machine::Aborted) {
                Machine::Client(c) => c.handle(&mut self.hs, &msg).map(Machine::Client),
                Machine::Server(s) => s.handle(&mut self.hs, &msg).map(Machine::Server),
                Machine::Aborted => return,
            };
            match result {
                Ok(machine) => self.machine = machine,
                Err(e) => {
                    self.fail_protocol(e);
                    return;
                }
            }
            // The peer's flight is arriving: ours reached it.
            if let Some(f) = &mut self.flight {
                f.stop_timer();
            }
            if self.hs.keys_pending && self.install_keys().is_err() {
                return;
            }
            if self.hs.peer_certificate_new {
                self.hs.peer_certificate_new = false;
                self.verify_peer();
                if self.is_terminal() {
                    return;
                }
            }
            if !self.hs.out.is_empty() {
                self.send_new_flight(now);
            }
            if self.hs.complete {
                self.handshake_complete();
            }
        }
        self.receive_early_records(now);
    }

    fn install_keys(&mut self) -> Result<(), ()> {
        self.hs.keys_pending = false;
        let keys = self.hs.secrets().and_then(|s| s.record_keys());
        let (client, server) = match keys {
            Ok(k) => k,
            Err(e) => {
                self.fail_protocol(e);
                return Err(());
            }
        };
        let (write, read) = match self.role {
            Role::Client => (client, server),
            Role::Server => (server, client),
        };
        self.records.write = Some(write);
        self.records.read = Some(read);
        Ok(())
    }

    /// Reads the epoch-1 records that overtook the key exchange, once the
    /// keys exist. Called after [`drive_handshake`](Self::drive_handshake)'s
    /// loop, never inside it: the records may complete the handshake, and
    /// the loop must not run again inside itself.
    fn receive_early_records(&mut self, now: Instant) {
        if self.records.read.is_none() || self.is_terminal() {
            return;
        }
        for mut record in std::mem::take(&mut self.early) {
            let mut headers = Vec::new();
            if record::split_records(&record, &mut headers).is_ok()
                && let Some(h) = headers.first()
            {
                let mut ignored = false;
                self.receive_record(now, h, &mut record, false, &mut ignored);
            }
        }
    }

    fn handshake_complete(&mut self) {
        self.deadline = None;
        if self.role == Role::Client {
            self.flight = None;
        }
        self.early = Vec::new();
        if let Some(p) = self.hs.params.and_then(|p| p.srtp)
            && let Ok(secrets) = self.hs.secrets()
        {
            // RFC 5764 §4.2: keys from the exporter (RFC 5705).
            let mut material = [0u8; 88];
            let material = &mut material[..p.keying_material_len()];
            secrets.export(b"EXTRACTOR-dtls_srtp", material);
            self.srtp = SrtpKeys::from_keying_material(p, self.role, material);
            crate::crypto::wipe(material);
        }
        // Record keys and SRTP keys are derived: the master secret has
        // served (no resumption, no renegotiation) and is wiped.
        self.hs.secrets = None;
        self.try_complete();
    }

    /// RFC 8842 §5.1: the certificate must match a remote fingerprint; and
    /// RFC 8122 §5: one of those of the most preferred hash function among
    /// those the peer gave (the longest digest: SHA-512 over SHA-384 over
    /// SHA-256 over SHA-1), so that a weaker one cannot stand in for it.
    fn verify_peer(&mut self) {
        let (Some(expected), Some(der)) = (&self.expected, &self.hs.peer_certificate) else {
            return;
        };
        let preferred = expected
            .iter()
            .map(Fingerprint::algorithm)
            .max_by_key(|a| a.output_len());
        match expected
            .iter()
            .filter(|fp| Some(fp.algorithm()) == preferred)
            .find(|fp| fp.matches_der(der))
        {
            Some(fp) => self.verified = Some(fp.clone()),
            None => {
                let algorithm = preferred.unwrap_or(HashAlgorithm::Sha256);
                let error = Error::FingerprintMismatch {
                    expected: expected.clone(),
                    actual: Fingerprint::of_der(algorithm, der),
                };
                // The peer learns at once instead of timing out.
                self.fail(error, Some(AlertDescription::BadCertificate));
            }
        }
    }

    /// Emits `Connected` once the handshake is done and the peer is
    /// verified, then releases application data that arrived early.
    fn try_complete(&mut self) {
        if self.state != TransportState::Connecting || !self.hs.complete {
            return;
        }
        if self.expected.is_none() {
            return; // wait for expect_remote_fingerprints
        }
        let Some(der) = self.hs.peer_certificate.clone() else {
            self.fail(
                Error::NoPeerCertificate,
                Some(AlertDescription::HandshakeFailure),
            );
            return;
        };
        let Some(peer_fingerprint) = self.verified.clone() else {
            return; // verify_peer already failed the transport
        };
        self.state = TransportState::Connected;
        // The handshake is over: free what carried it.
        self.pool = Vec::new();
        self.transmits.shrink_to_fit();
        self.hs.transcript = Vec::new();
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

    // ----- sending -----

    /// Makes the flight the state machine built the current one and sends it.
    fn send_new_flight(&mut self, now: Instant) {
        let items = std::mem::take(&mut self.hs.out);
        let timer = self
            .hs
            .out_expects_reply
            .then_some((self.initial_rto, self.flight_retries));
        self.flight = Some(Flight::new(items, now, timer));
        self.flights_sent += 1;
        self.peer_flight.ended = true;
        self.transmit_flight();
    }

    /// Sends the current flight, packing records into datagrams of at most
    /// the MTU and fragmenting messages that do not fit (RFC 6347 §4.1.1.1).
    fn transmit_flight(&mut self) {
        let Some(flight) = self.flight.take() else {
            return;
        };
        let mut datagram = self.pool.pop().unwrap_or_default();
        datagram.clear();
        let mut result = Ok(());
        for item in &flight.items {
            match item {
                FlightItem::ChangeCipherSpec => {
                    if datagram.len() + HEADER_LEN + 1 > self.mtu {
                        self.push_datagram(&mut datagram);
                    }
                    result = result.and(self.write_record(
                        &mut datagram,
                        ContentType::ChangeCipherSpec,
                        0,
                        &[&[1]],
                    ));
                    self.records.write_epoch = 1;
                }
                FlightItem::Handshake { epoch, message } => {
                    let overhead = HEADER_LEN
                        + HANDSHAKE_HEADER_LEN
                        + if *epoch == 1 { AEAD_OVERHEAD } else { 0 };
                    // A ClientHello always goes whole: a stateless server
                    // cannot reassemble one (RFC 6347 §4.2.1), and at
                    // MIN_MTU it fits.
                    let max = if message.first() == Some(&kind::CLIENT_HELLO) {
                        usize::MAX
                    } else {
                        // The record's plaintext is the fragment and its
                        // header: at most 2^14 bytes (RFC 6347 §4.1).
                        self.mtu
                            .saturating_sub(overhead)
                            .min(MAX_PLAINTEXT - HANDSHAKE_HEADER_LEN)
                    };
                    fragment::fragments(message, max, |fh, data| {
                        if datagram.len() + overhead + data.len() > self.mtu {
                            self.push_datagram(&mut datagram);
                        }
                        let mut head = Vec::with_capacity(HANDSHAKE_HEADER_LEN);
                        fh.write(&mut head);
                        result = std::mem::replace(&mut result, Ok(())).and(self.write_record(
                            &mut datagram,
                            ContentType::Handshake,
                            *epoch,
                            &[&head, data],
                        ));
                    });
                }
            }
        }
        self.push_datagram(&mut datagram);
        self.flight = Some(flight);
        if let Err(e) = result {
            self.fail_protocol(e);
        }
    }

    fn push_datagram(&mut self, datagram: &mut Vec<u8>) {
        if !datagram.is_empty() {
            let next = self.pool.pop().unwrap_or_default();
            self.transmits.push_back(std::mem::replace(datagram, next));
            datagram.clear();
        }
    }

    /// Appends one record of `parts` (concatenated) in `epoch`, sealed in
    /// place when the epoch is 1 (RFC 5246 §6.2.3.3).
    fn write_record(
        &mut self,
        out: &mut Vec<u8>,
        content_type: ContentType,
        epoch: u16,
        parts: &[&[u8]],
    ) -> Result<(), ProtocolError> {
        let index = usize::from(epoch.min(1));
        let seq = self.records.write_seq[index];
        if seq > MAX_SEQ {
            return Err(ProtocolError::Internal("record sequence numbers exhausted"));
        }
        self.records.write_seq[index] = seq + 1;
        let full_seq = u64::from(epoch) << 48 | seq;
        let plain_len: usize = parts.iter().map(|p| p.len()).sum();
        if epoch == 0 {
            record::write_header(out, content_type, DTLS_1_2, full_seq, plain_len);
            parts.iter().for_each(|p| out.extend_from_slice(p));
            return Ok(());
        }
        let cipher = self
            .records
            .write
            .as_ref()
            .ok_or(ProtocolError::Internal("no write keys"))?;
        record::write_header(
            out,
            content_type,
            DTLS_1_2,
            full_seq,
            plain_len + AEAD_OVERHEAD,
        );
        out.extend_from_slice(&full_seq.to_be_bytes());
        let start = out.len();
        parts.iter().for_each(|p| out.extend_from_slice(p));
        let tag = cipher.seal(full_seq, content_type as u8, DTLS_1_2, &mut out[start..])?;
        out.extend_from_slice(tag.as_ref());
        Ok(())
    }

    /// Queues an alert in our current write epoch.
    fn send_alert(&mut self, level: AlertLevel, description: AlertDescription) {
        let mut out = self.pool.pop().unwrap_or_default();
        out.clear();
        let epoch = self.records.write_epoch;
        let body = [level.to_u8(), description.code()];
        if self
            .write_record(&mut out, ContentType::Alert, epoch, &[&body])
            .is_ok()
        {
            self.transmits.push_back(out);
        }
    }
}

impl std::fmt::Debug for Dtls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dtls")
            .field("role", &self.role)
            .field("state", &self.state)
            .field("machine", &self.machine)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wall() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600)
    }

    fn connected_pair(now: Instant) -> (Dtls, Dtls) {
        let (ca, sa) = (
            Certificate::generate(wall()).unwrap(),
            Certificate::generate(wall()).unwrap(),
        );
        let config = Config::default();
        let mut c = Dtls::new(&config, &ca, Role::Client, now, wall()).unwrap();
        let mut s = Dtls::new(&config, &sa, Role::Server, now, wall()).unwrap();
        c.expect_remote_fingerprints(sa.fingerprints());
        s.expect_remote_fingerprints(ca.fingerprints());
        pump(now, &mut c, &mut s);
        assert_eq!(c.state(), TransportState::Connected);
        assert_eq!(s.state(), TransportState::Connected);
        (c, s)
    }

    fn pump(now: Instant, a: &mut Dtls, b: &mut Dtls) {
        let mut buf = Vec::new();
        for _ in 0..10 {
            while a.poll_transmit(now, &mut buf).is_some() {
                b.handle_receive(now, &buf);
            }
            while b.poll_transmit(now, &mut buf).is_some() {
                a.handle_receive(now, &buf);
            }
        }
    }

    #[test]
    fn renegotiation_is_refused_with_a_no_renegotiation_warning_in_both_directions() {
        let now = Instant::now();
        let (mut c, mut s) = connected_pair(now);
        // A new ClientHello from the client, and a HelloRequest from the
        // server, each under the epoch-1 keys with the next message_seq.
        for (from_client, msg_type) in [(true, kind::CLIENT_HELLO), (false, kind::HELLO_REQUEST)] {
            let (from, to) = if from_client {
                (&mut c, &mut s)
            } else {
                (&mut s, &mut c)
            };
            let body: &[u8] = if from_client {
                &[0xfe, 0xfd, 1, 2, 3]
            } else {
                &[]
            };
            let message = message::encode(msg_type, from.hs.send_seq, body);
            let mut datagram = Vec::new();
            from.write_record(&mut datagram, ContentType::Handshake, 1, &[&message])
                .unwrap();
            to.handle_receive(now, &datagram);
            assert_eq!(to.stats().renegotiations_refused, 1);
            let mut alert = Vec::new();
            to.poll_transmit(now, &mut alert).expect("warning");
            assert_eq!(alert[0], 21, "an alert record");
            assert_eq!(&alert[3..5], &[0, 1], "under the epoch-1 keys");
            from.handle_receive(now, &alert);
            assert_eq!(from.state(), TransportState::Connected, "a warning only");
            assert_eq!(to.state(), TransportState::Connected);
        }
        while c.poll_event().is_some() {}
        while s.poll_event().is_some() {}
        c.send_application_data(b"still up").unwrap();
        pump(now, &mut c, &mut s);
        assert_eq!(
            s.poll_event(),
            Some(Event::ApplicationData(b"still up".to_vec()))
        );
    }

    /// The client's flight 5 with its Finished (epoch 1) and the
    /// CertificateVerify ahead of the ClientKeyExchange: the early record
    /// completes the handshake once the keys exist, and completion runs
    /// once (its SRTP keys went out with `Connected`, none are left over).
    #[test]
    fn an_early_finished_completes_the_handshake_once() {
        let now = Instant::now();
        let (ca, sa) = (
            Certificate::generate(wall()).unwrap(),
            Certificate::generate(wall()).unwrap(),
        );
        let config = Config::default();
        let mut c = Dtls::new(&config, &ca, Role::Client, now, wall()).unwrap();
        let mut s = Dtls::new(&config, &sa, Role::Server, now, wall()).unwrap();
        c.expect_remote_fingerprints(sa.fingerprints());
        s.expect_remote_fingerprints(ca.fingerprints());
        let mut buf = Vec::new();
        let mut flight5 = Vec::new();
        for _ in 0..4 {
            while c.poll_transmit(now, &mut buf).is_some() {
                if c.records.write_epoch == 1 {
                    flight5.extend_from_slice(&buf);
                } else {
                    s.handle_receive(now, &buf);
                }
            }
            while s.poll_transmit(now, &mut buf).is_some() {
                c.handle_receive(now, &buf);
            }
        }
        let mut headers = Vec::new();
        record::split_records(&flight5, &mut headers).unwrap();
        let records: Vec<Vec<u8>> = headers
            .iter()
            .map(|h| flight5[h.body.start - HEADER_LEN..h.body.end].to_vec())
            .collect();
        let kinds: Vec<u8> = headers.iter().map(|h| flight5[h.body.start]).collect();
        let cke = kinds
            .iter()
            .position(|k| *k == kind::CLIENT_KEY_EXCHANGE)
            .expect("ClientKeyExchange");
        for (i, r) in records.iter().enumerate() {
            if i != cke {
                s.handle_receive(now, r);
            }
        }
        assert_eq!(s.early.len(), 1, "the Finished waits for its keys");
        s.handle_receive(now, &records[cke]);
        assert_eq!(s.state(), TransportState::Connected);
        let connected = std::iter::from_fn(|| s.poll_event())
            .filter(|e| matches!(e, Event::Connected { .. }))
            .count();
        assert_eq!(connected, 1);
        assert!(s.srtp.is_none(), "handshake_complete ran again");
        pump(now, &mut c, &mut s);
        assert_eq!(c.state(), TransportState::Connected);
    }

    #[test]
    fn the_master_secret_is_dropped_once_the_handshake_is_complete() {
        let now = Instant::now();
        let (c, s) = connected_pair(now);
        assert!(c.hs.secrets.is_none());
        assert!(s.hs.secrets.is_none());
        assert!(c.records.read.is_some() && s.records.write.is_some());
    }

    #[test]
    fn wiped_secrets_are_zero() {
        let mut secret = crate::crypto::Secrets {
            suite: crate::crypto::CipherSuite::EcdheEcdsaAes128Gcm,
            master: [7; 48],
            client_random: [1; 32],
            server_random: [2; 32],
        };
        crate::crypto::wipe(&mut secret.master);
        assert_eq!(secret.master, [0; 48]);
    }

    /// RFC 5246 §6.2.3 and RFC 8446 §5.2: a record whose decrypted
    /// plaintext exceeds 2^14 bytes ends the connection with a fatal
    /// `record_overflow` alert. It authenticated, so the peer really sent
    /// it (RFC 6347 §4.1.2.7 allows a fatal alert for an invalid record).
    /// 2^14 bytes exactly is delivered.
    #[test]
    fn an_authenticated_record_over_2_14_bytes_is_a_fatal_record_overflow() {
        let now = Instant::now();
        let (mut c, mut s) = connected_pair(now);
        while c.poll_event().is_some() {}
        while s.poll_event().is_some() {}
        for len in [MAX_PLAINTEXT, MAX_PLAINTEXT + 1] {
            let data = vec![7u8; len];
            let mut datagram = Vec::new();
            c.write_record(&mut datagram, ContentType::ApplicationData, 1, &[&data])
                .unwrap();
            s.handle_receive(now, &datagram);
            if len == MAX_PLAINTEXT {
                assert_eq!(s.poll_event(), Some(Event::ApplicationData(data)));
                continue;
            }
            assert_eq!(s.state(), TransportState::Failed);
            assert_eq!(
                s.poll_event(),
                Some(Event::Failed(Error::Protocol {
                    sent: AlertDescription::RecordOverflow,
                    reason: ProtocolError::RecordOverflow { len },
                }))
            );
            let mut alert = Vec::new();
            s.poll_transmit(now, &mut alert).expect("the alert");
            c.handle_receive(now, &alert);
            assert_eq!(c.state(), TransportState::Failed);
            assert_eq!(
                c.poll_event(),
                Some(Event::Failed(Error::AlertReceived {
                    description: AlertDescription::RecordOverflow,
                }))
            );
        }
    }

    #[test]
    fn an_unauthenticated_alert_after_the_handshake_is_ignored() {
        let now = Instant::now();
        let (mut c, _s) = connected_pair(now);
        let forged = [21, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 99, 0, 2, 2, 40];
        c.handle_receive(now, &forged);
        assert_eq!(c.state(), TransportState::Connected);
    }
}
