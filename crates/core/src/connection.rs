//! The sans-IO peer connection: JSEP, ICE, DTLS, SCTP and data channels on
//! one bundled transport.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Instant, SystemTime};

use ferrtc_datachannel::DataChannels;
use ferrtc_dtls::{Certificate, Dtls, HashAlgorithm, Role, TransportState};
use ferrtc_ice::{Agent, Credentials};
use ferrtc_jsep::{IceCredentials, Jsep, JsepConfig};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::config::Config;

use crate::error::Error;
use crate::event::{
    Event, IceConnectionState, IceGatheringState, PeerConnectionState, SignalingState,
};
use crate::media::MediaSlot;
use crate::stats::{self, StatsReport};

pub use ferrtc_ice::Transmit;
pub use media::{RtpTransceiverInit, TrackInfo, TransceiverInfo};

// The connection in parts a reader can name; each adds an `impl
// PeerConnection` block over the fields declared here.
mod channels;
mod dtmf;
mod identity;
mod media;
mod signaling;
mod transport;

use transport::IceGenerations;

/// DTLS datagrams held while the DTLS transport does not exist yet (the
/// peer's ClientHello may beat our own view of the negotiation).
const MAX_EARLY_DTLS: usize = 8;

/// Upper bound on event-processing rounds per input; each round drains
/// every engine, so this only guards against a bug looping forever.
const MAX_PROCESS_ROUNDS: usize = 64;

/// Counters of the connection itself (the engines keep their own).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectionStats {
    /// Datagrams from validated pairs that were neither STUN nor DTLS
    /// (RFC 7983), or DTLS before any transport existed and over the hold limit.
    pub dropped_datagrams: u64,
    /// RTP/RTCP datagrams dropped (before SRTP keys, failing SRTP, not
    /// parsing, no receiver, ...; [`PeerConnection::media_stats`] says why).
    pub dropped_rtp: u64,
    /// SCTP messages dropped: unknown stream, bad DCEP, bad UTF-8, deprecated PPID.
    pub dropped_messages: u64,
    /// Datagrams sent.
    pub datagrams_sent: u64,
    /// Datagrams received (all, before ICE).
    pub datagrams_received: u64,
}

/// A WebRTC peer connection as a sans-IO state machine (W3C
/// `RTCPeerConnection` without the I/O): it owns the ICE agent, the DTLS
/// transport, the SCTP association and the data channels of one
/// connection, bundled on one transport, and runs JSEP.
///
/// # Drive contract
///
/// The caller owns the UDP sockets and the clock; the connection does work
/// only inside its inputs. One pass, after creating it and after every
/// input, drains everything:
///
/// 1. **input**: one of [`handle_receive`](Self::handle_receive),
///    [`handle_timeout`](Self::handle_timeout) or an API call (`send`,
///    `set_remote_description`, `add_ice_candidate`, ...), each with the
///    current `now`;
/// 2. [`poll_transmit`](Self::poll_transmit) until `None`, sending each
///    datagram from `Transmit::source` to `Transmit::destination`;
/// 3. [`poll_event`](Self::poll_event) until `None` (it only pops: the
///    events of the pass are all queued once `poll_transmit` said `None`);
/// 4. [`poll_timeout`](Self::poll_timeout): call `handle_timeout` when that
///    instant comes.
///
/// After such a pass `poll_transmit` and `poll_event` both return `None`
/// until the next input. Handling an event (an application sending from an
/// `open` handler, a candidate trickled to the other side) is an input:
/// the pass repeats from 2.
///
/// Outbound, datagrams leave the engines in this order: ICE's own checks,
/// DTLS records, then SRTP/SRTCP datagrams (media, already protected and
/// queued by `write_frame`, NACK answers and reports), then SCTP packets
/// pulled one at a time into DTLS. Media goes before data so that a large
/// data transfer cannot delay frames; SCTP's congestion control yields to
/// the media it competes with. A media pacer belongs where the media
/// queue is drained (`MediaSession::poll_transmit`): it would release
/// packets on its own schedule, adding its release instant to the
/// `poll_timeout` of step 4.
///
/// Every input takes the caller's current time `now`: the connection keeps
/// no clock of its own, so a timer or a message lifetime (PR-SCTP
/// `maxPacketLifeTime`) is always counted from the true time of the call.
/// The wall time, which only the certificate check needs, runs on from
/// the one given to [`new`](Self::new) with `now`.
///
/// # Data path (RFC 7983)
///
/// Every datagram goes to ICE first, which keeps STUN and drops data from
/// unvalidated addresses; the rest is demultiplexed by its first byte:
/// 20..=63 to DTLS, whose application data is SCTP (RFC 8261), whose
/// messages are DCEP (RFC 8832) or channel data (RFC 8831).
#[doc(alias = "RTCPeerConnection")]
pub struct PeerConnection {
    config: Config,
    rng: StdRng,
    certificate: Certificate,
    /// The instant and the wall time given to [`PeerConnection::new`]: the
    /// wall time at a later `now` is counted on from them (the certificate
    /// is checked when DTLS starts, not only at construction).
    clock_origin: (Instant, SystemTime),
    jsep: Jsep,
    credentials: Credentials,
    ice: Option<Agent>,
    /// Local UDP sockets, and TCP listening addresses for ICE-TCP (RFC 6544).
    hosts: Vec<(SocketAddr, ferrtc_ice::Protocol)>,
    gathering: bool,
    /// The caller is still finding ICE servers: gathering stays open.
    gathering_held: bool,
    candidate_mid: String,
    candidate_index: u16,
    dtls: Option<Dtls>,
    /// The DTLS transport could not be created (`Dtls::new` refused, an
    /// expired certificate say): it counts as `failed`.
    dtls_failed: bool,
    /// The DTLS transport state last told ([`Event::DtlsStateChange`]).
    dtls_told: Option<TransportState>,
    /// The DTLS transport was connected once: closed after that is the
    /// peer's (or our) close; closed before is a handshake that failed.
    dtls_connected_once: bool,
    early_dtls: VecDeque<Vec<u8>>,
    dtls_role: Option<Role>,
    sctp_remote_port: u16,
    remote_max_message_size: usize,
    /// The data channels and the SCTP association under them.
    channels: DataChannels,
    /// SRTP, senders, receivers and RTCP of the transceivers JSEP owns.
    media: MediaSlot,
    events: VecDeque<Event>,
    scratch: Vec<u8>,
    signaling: SignalingState,
    ice_state: IceConnectionState,
    /// The numbers of the ICE generations (RFC 8445 §9) by their local
    /// ufrag, and by their remote one: candidates and pairs of a new
    /// generation are new objects whose stats take new ids even on the
    /// same addresses (W3C webrtc-stats: an id names one object over the
    /// connection's life), while credentials restored by a rollback (RFC
    /// 8829 §4.1.10.2) give back the numbers, hence the ids, they had.
    local_generations: IceGenerations,
    remote_generations: IceGenerations,
    /// The number of the local credentials in use: that of the local
    /// candidates.
    local_generation: u32,
    /// The number of the remote credentials the agent has: that of the
    /// pairs of its check list.
    remote_generation: u32,
    /// The numbers of the local and remote ufrags the selected pair was
    /// selected under: a pair of the last generation carries data until
    /// a pair of the new one is selected.
    selected_generation: (u32, u32),
    gathering_state: IceGatheringState,
    state: PeerConnectionState,
    negotiation_needed: bool,
    closed: bool,
    stats: ConnectionStats,
    /// `restartIce()` was called: the next offer carries new credentials.
    restart_pending: bool,
    /// An applied local offer of ours restarts ICE and waits for its answer.
    restart_offered: bool,
    /// That offer was rolled back (W3C webrtc-pc §4.4.1.6: the credentials
    /// to replace stay until an answer commits others): the restart is
    /// still needed, and the next offer carries credentials drawn then (the
    /// agent restarts to them when that offer is applied).
    restart_wanted: bool,
    /// Candidates of a restart, held until its offer is applied locally
    /// (W3C: gathering belongs to `setLocalDescription`).
    held_candidates: Vec<Event>,
    /// The local credentials drawn for a restart the agent has not made:
    /// an answer to the peer's ICE restart offer, or the offer of a restart
    /// whose first offer was rolled back; the agent restarts to them once
    /// that description is applied (see `PeerConnection::sync_ice`). Kept
    /// until the session is stable, so a pranswer and its final answer
    /// carry the same ones.
    restart_answer: Option<Box<Credentials>>,
    /// Peer identity (W3C webrtc-identity): our IdP and assertion, the
    /// peer's validated identity.
    identity: crate::identity::Identity,
}

impl std::fmt::Debug for PeerConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerConnection")
            .field("signaling", &self.signaling)
            .field("ice_state", &self.ice_state)
            .field("state", &self.state)
            .field("channels", &self.channels.channels().count())
            .finish_non_exhaustive()
    }
}

impl PeerConnection {
    /// A new connection. `now` starts its clock; `wall_clock` checks (and
    /// dates a generated) certificate.
    pub fn new(config: Config, now: Instant, wall_clock: SystemTime) -> Result<Self, Error> {
        let mut rng = match config.rng_seed {
            Some(seed) => StdRng::from_seed(seed),
            None => StdRng::from_os_rng(),
        };
        let certificate = match &config.certificate {
            // W3C webrtc-pc §4.4.1.1: an expired certificate is refused
            // (InvalidAccessError) by the constructor itself.
            Some(c) => {
                c.check_not_expired(wall_clock)?;
                c.clone()
            }
            None => Certificate::generate(wall_clock)?,
        };
        let credentials = Credentials::random(&mut rng);
        let mut local_generations = IceGenerations::default();
        let local_generation = local_generations.number(credentials.ufrag());
        let fingerprint = certificate.fingerprint(HashAlgorithm::Sha256);
        let mut jsep_config = JsepConfig::new(
            // RFC 8829 §5.2.1: a 63-bit session id.
            rng.random::<u64>() >> 1,
            IceCredentials::new(credentials.ufrag(), credentials.pwd()),
            vec![ferrtc_sdp::Fingerprint::from_digest(
                ferrtc_sdp::HashFunction::Sha256,
                fingerprint.value(),
            )],
        );
        jsep_config.bundle_policy = config.bundle_policy;
        jsep_config.max_message_size = config.max_message_size as u64;
        jsep_config.sdp_limits = config.sdp_limits.clone();
        jsep_config.max_remote_candidates = config.max_remote_candidates;
        let remote_max_message_size = 65_536;
        let channels = DataChannels::new(ferrtc_datachannel::Config {
            max_channels: config.max_channels,
            streams: config.sctp.streams,
            max_message_size: config.max_message_size.min(remote_max_message_size),
            ..ferrtc_datachannel::Config::default()
        });
        let media = MediaSlot::default();
        Ok(PeerConnection {
            media,
            rng,
            certificate,
            clock_origin: (now, wall_clock),
            jsep: Jsep::new(jsep_config),
            credentials,
            ice: None,
            hosts: Vec::new(),
            gathering: false,
            gathering_held: false,
            candidate_mid: "0".into(),
            candidate_index: 0,
            dtls: None,
            dtls_failed: false,
            dtls_told: None,
            dtls_connected_once: false,
            early_dtls: VecDeque::new(),
            dtls_role: None,
            sctp_remote_port: ferrtc_sctp::DEFAULT_PORT,
            remote_max_message_size,
            channels,
            events: VecDeque::new(),
            scratch: Vec::new(),
            signaling: SignalingState::Stable,
            ice_state: IceConnectionState::New,
            local_generation,
            local_generations,
            remote_generations: IceGenerations::default(),
            remote_generation: 0,
            selected_generation: (0, 0),
            gathering_state: IceGatheringState::New,
            state: PeerConnectionState::New,
            negotiation_needed: false,
            closed: false,
            stats: ConnectionStats::default(),
            restart_pending: false,
            restart_offered: false,
            restart_wanted: false,
            held_candidates: Vec::new(),
            restart_answer: None,
            identity: crate::identity::Identity::default(),
            config,
        })
    }

    // ------------------------------------------------------------ accessors

    /// The local certificate (W3C `getConfiguration().certificates`).
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    /// `signalingState`.
    pub fn signaling_state(&self) -> SignalingState {
        self.signaling
    }

    /// `iceConnectionState`.
    pub fn ice_connection_state(&self) -> IceConnectionState {
        self.ice_state
    }

    /// `iceGatheringState`.
    pub fn ice_gathering_state(&self) -> IceGatheringState {
        self.gathering_state
    }

    /// `connectionState`.
    pub fn connection_state(&self) -> PeerConnectionState {
        self.state
    }

    /// Counters of the connection.
    pub fn stats(&self) -> ConnectionStats {
        ConnectionStats {
            dropped_messages: self.channels.stats().messages_dropped(),
            ..self.stats
        }
    }

    /// `getStats()`: the peer connection, its transport, the selected
    /// candidate pair with its candidates, every local candidate, the
    /// certificates, the data channels and the RTP streams (`inbound-rtp`,
    /// `outbound-rtp`, `remote-inbound-rtp`, `remote-outbound-rtp`, with
    /// their `codec`s and the senders' `media-source`s) (W3C
    /// webrtc-stats). `wall_clock` gives the `timestamp`s.
    pub fn get_stats(&self, wall_clock: SystemTime) -> StatsReport {
        stats::report(
            &stats::Sources {
                certificate: &self.certificate,
                ice: self.ice.as_ref(),
                ice_state: self.ice_state,
                local_generation: self.local_generation,
                remote_generation: self.remote_generation,
                selected_generation: self.selected_generation,
                local_ufrag: self.credentials.ufrag(),
                dtls: self.dtls.as_ref(),
                dtls_failed: self.dtls_failed,
                dtls_role: self.dtls_role,
                channels: &self.channels,
                counters: self.stats,
                media: self.media.get(),
                transceivers: self.jsep.transceivers(),
            },
            wall_clock,
        )
    }

    // ------------------------------------------------------------ setup

    // ------------------------------------------------------------ JSEP

    fn check_open(&self) -> Result<(), Error> {
        if self.closed {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    // ------------------------------------------------------------ data channels

    // ------------------------------------------------------------ I/O

    /// Writes the next datagram into `buf` and says where it goes: ICE's
    /// own checks first, then DTLS records, pulling one SCTP packet at a
    /// time into DTLS so that nothing queues up between the layers.
    ///
    /// Before it returns `None` it hands up what sending moved in the
    /// engines (a timer's retransmission giving up, say), so that after it
    /// [`poll_event`](Self::poll_event) has every event of the pass.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        for _ in 0..MAX_PROCESS_ROUNDS {
            if let Some(t) = self.next_transmit(now, buf) {
                self.stats.datagrams_sent += 1;
                return Some(t);
            }
            if !self.process(now) {
                break;
            }
        }
        if self.closed
            && let Some(ice) = self.ice.as_mut()
        {
            // Everything of the close (SCTP ABORT, close_notify) is out:
            // ICE may stop now. The deallocation of its TURN allocations
            // (RFC 8656 §8.1) leaves last.
            ice.close();
            if let Some(t) = ice.poll_transmit(now, buf) {
                self.stats.datagrams_sent += 1;
                return Some(t);
            }
        }
        None
    }

    /// The next event, or `None`.
    ///
    /// It only pops the queue: the work happens in the inputs
    /// (`handle_*` and the API calls) and in
    /// [`poll_transmit`](Self::poll_transmit), so once `poll_transmit`
    /// returned `None`, every event of the pass is here.
    pub fn poll_event(&mut self) -> Option<Event> {
        let event = self.events.pop_front();
        if event.is_none() && self.events.capacity() > 0 {
            // Drained: an idle connection keeps no event capacity.
            self.events = VecDeque::new();
        }
        event
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next wanted.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.ice.as_ref().and_then(Agent::poll_timeout),
            self.dtls.as_ref().and_then(Dtls::poll_timeout),
            self.channels.poll_timeout(),
            self.media.poll_timeout(self.media_sending()),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Whether media may leave: the core polls it out only while DTLS is
    /// connected (see `next_transmit`).
    fn media_sending(&self) -> bool {
        self.dtls
            .as_ref()
            .is_some_and(|d| d.state() == TransportState::Connected)
    }

    /// Time reached `now`: runs every engine's due timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due = |t: Option<Instant>| t.is_some_and(|t| t <= now);
        if let Some(ice) = self.ice.as_mut()
            && due(ice.poll_timeout())
        {
            ice.handle_timeout(now);
        }
        if let Some(dtls) = self.dtls.as_mut()
            && due(dtls.poll_timeout())
        {
            dtls.handle_timeout(now);
        }
        if due(self.channels.poll_timeout()) {
            self.channels.handle_timeout(now);
        }
        if due(self.media.poll_timeout(self.media_sending())) {
            let wall = self.wall_clock(now);
            self.media.handle_timeout(now, wall);
        }
        self.process(now);
    }

    /// `close()`: aborts SCTP, sends DTLS `close_notify`, stops ICE once
    /// those are out. No events follow except the queued ones (W3C
    /// webrtc-pc §4.4.1: nothing fires once `[[IsClosed]]`).
    pub fn close(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        self.closed = true;
        // Every channel is closed without events; the ABORT goes out now.
        self.channels.abort(now);
        if let Some(dtls) = self.dtls.as_mut() {
            while self
                .channels
                .poll_transmit(now, &mut self.scratch)
                .is_some()
            {
                if dtls.send_application_data(&self.scratch).is_err() {
                    break;
                }
            }
        }
        if let Some(dtls) = self.dtls.as_mut() {
            dtls.close();
        }
        self.jsep.close();
        self.signaling = SignalingState::Closed;
        self.ice_state = IceConnectionState::Closed;
        self.state = PeerConnectionState::Closed;
    }

    /// Whether `close()` was called and every closing datagram went out:
    /// the driver may stop.
    pub fn is_closed(&self) -> bool {
        self.closed
            && self
                .ice
                .as_ref()
                .is_none_or(|i| i.connection_state() == IceConnectionState::Closed)
    }

    // ------------------------------------------------------------ events

    /// Drains every engine's events into W3C events until nothing moves.
    /// Returns whether anything moved.
    ///
    /// Once closed, what the engines still finish (the close's own
    /// datagrams, a TURN transaction running out) moves them on but fires
    /// nothing: W3C webrtc-pc §4.4.1 `close()` sets `[[IsClosed]]`, on
    /// which every event task aborts.
    fn process(&mut self, now: Instant) -> bool {
        let queued = self.events.len();
        let any = self.process_rounds(now);
        if self.closed {
            self.events.truncate(queued);
        }
        any
    }

    fn process_rounds(&mut self, now: Instant) -> bool {
        let mut any = false;
        for _ in 0..MAX_PROCESS_ROUNDS {
            let mut moved = false;
            moved |= self.process_ice();
            moved |= self.maybe_start_dtls(now);
            moved |= self.process_dtls(now);
            moved |= self.process_channels();
            moved |= self.process_media();
            self.update_connection_state();
            if !moved {
                break;
            }
            any = true;
        }
        any
    }

    /// The wall time at `now`, counted on from the one given to `new`.
    fn wall_clock(&self, now: Instant) -> SystemTime {
        let (origin, wall) = self.clock_origin;
        wall + now.saturating_duration_since(origin)
    }

    /// W3C webrtc-pc §4.3.3 "update the connection state" (the
    /// `RTCPeerConnectionState` enum): `closed` when `[[IsClosed]]`, else
    /// `failed`, `disconnected`, `new`, `connecting`, `connected` from the
    /// ICE and DTLS transports' states, the first that applies.
    fn update_connection_state(&mut self) {
        if self.closed {
            return;
        }
        let dtls = self.dtls_state();
        if let Some(d) = dtls
            && self.dtls_told != Some(d)
        {
            self.dtls_told = Some(d);
            self.events.push_back(Event::DtlsStateChange(d));
        }
        // A close_notify during the handshake (no keys, no SCTP) leaves a
        // transport that never connected: it counts as failed, not as the
        // connected-then-closed transport of a peer that hung up.
        let dtls = match dtls {
            Some(TransportState::Closed) if !self.dtls_connected_once => {
                Some(TransportState::Failed)
            }
            d => d,
        };
        // `closed` is only ever `[[IsClosed]]` (the local `close()`, above):
        // a DTLS transport the peer closed with close_notify (RFC 5246
        // §7.2.1) is `closed` (W3C §5.5) and counts like a connected one,
        // so the connection stays `connected` until ICE consent to the
        // silent peer runs out (RFC 7675 §5.1): `disconnected`, `failed`.
        let next = match (self.ice_state, dtls) {
            (IceConnectionState::Failed, _) | (_, Some(TransportState::Failed)) => {
                PeerConnectionState::Failed
            }
            (IceConnectionState::Disconnected, _) => PeerConnectionState::Disconnected,
            (
                IceConnectionState::New | IceConnectionState::Closed,
                None | Some(TransportState::Closed),
            ) => PeerConnectionState::New,
            (
                IceConnectionState::Connected
                | IceConnectionState::Completed
                | IceConnectionState::Closed,
                Some(TransportState::Connected | TransportState::Closed),
            ) => PeerConnectionState::Connected,
            _ => PeerConnectionState::Connecting,
        };
        if next != self.state {
            self.state = next;
            self.events.push_back(Event::ConnectionStateChange(next));
        }
    }
}

#[cfg(test)]
mod tests;
