//! The sans-IO peer connection: JSEP, ICE, DTLS, SCTP and data channels on
//! one bundled transport.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use ferrtc_datachannel::{ChannelType, DcepMessage, Open};
use ferrtc_dtls::{Certificate, Dtls, HashAlgorithm, Role, TransportState};
use ferrtc_ice::{Agent, AgentConfig, Credentials, Receive};
use ferrtc_jsep::{
    AnswerOptions, DtlsRole, IceCredentials, Jsep, JsepConfig, OfferOptions, SdpType,
    SessionDescription,
};
use ferrtc_sctp::{Association, AssociationState, Reliability, SendOptions, ppid};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::channel::{Channel, ChannelId, ChannelInfo, DataChannelInit, DataChannelState};
use crate::config::Config;
use crate::demux::{Demux, classify};
use crate::error::Error;
use crate::event::{
    DataChannelMessage, Event, IceCandidateInit, IceConnectionState, IceGatheringState,
    PeerConnectionState, SignalingState,
};
use crate::stats::{
    self, CandidatePairStats, CandidateStats, CertificateStats, DataChannelStats,
    PeerConnectionStats, SctpTransportStats, Stats, StatsReport, TransportStats,
};

pub use ferrtc_ice::Transmit;

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
    /// RTP/RTCP datagrams dropped (no media yet).
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
/// # Polling order
///
/// The caller owns the UDP sockets and the clock. It tells the connection
/// which local addresses it has ([`add_local_host`](Self::add_local_host)),
/// and after creating it and after every input (any `&mut self` method):
/// 1. [`poll_transmit`](Self::poll_transmit) until `None`, sending each
///    datagram from `Transmit::source` to `Transmit::destination`;
/// 2. [`poll_event`](Self::poll_event) until `None`;
/// 3. [`poll_timeout`](Self::poll_timeout), calling
///    [`handle_timeout`](Self::handle_timeout) when that instant comes.
///
/// Methods without a `now` argument use the latest `now` given.
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
    wall_clock: SystemTime,
    now: Instant,
    jsep: Jsep,
    credentials: Credentials,
    ice: Option<Agent>,
    hosts: Vec<SocketAddr>,
    gathering: bool,
    candidate_mid: String,
    candidate_index: u16,
    remote_ufrag: Option<String>,
    dtls: Option<Dtls>,
    early_dtls: VecDeque<Vec<u8>>,
    dtls_role: Option<Role>,
    sctp: Option<Association>,
    sctp_remote_port: u16,
    remote_max_message_size: usize,
    /// Boxed: a B-tree node has room for 11 entries, so one channel
    /// inline would cost 11 channels' worth of memory.
    channels: BTreeMap<ChannelId, Box<Channel>>,
    by_stream: HashMap<u16, ChannelId>,
    next_channel: u32,
    events: VecDeque<Event>,
    scratch: Vec<u8>,
    signaling: SignalingState,
    ice_state: IceConnectionState,
    gathering_state: IceGatheringState,
    state: PeerConnectionState,
    negotiation_needed: bool,
    closed: bool,
    stats: ConnectionStats,
    channels_opened: u32,
    channels_closed: u32,
    /// `restartIce()` was called: the next offer carries new credentials.
    restart_pending: bool,
    /// Candidates of a restart, held until its offer is applied locally
    /// (W3C: gathering belongs to `setLocalDescription`).
    held_candidates: Vec<Event>,
    /// The peer restarted ICE: our new candidates wait for the answer that
    /// carries the new credentials to be set (RFC 9429 §5.10).
    answer_pending: bool,
    /// Received messages stay in SCTP's receive buffer (see
    /// [`PeerConnection::set_receive_paused`]).
    receive_paused: bool,
}

impl std::fmt::Debug for PeerConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerConnection")
            .field("signaling", &self.signaling)
            .field("ice_state", &self.ice_state)
            .field("state", &self.state)
            .field("channels", &self.channels.len())
            .finish_non_exhaustive()
    }
}

impl PeerConnection {
    /// A new connection. `now` starts its clock; `wall_clock` checks (and
    /// dates a generated) certificate.
    pub fn new(config: Config, now: Instant, wall_clock: SystemTime) -> Result<Self, Error> {
        let mut rng = StdRng::seed_from_u64(config.seed);
        let certificate = match &config.certificate {
            Some(c) => c.clone(),
            None => Certificate::generate(wall_clock)?,
        };
        let credentials = Credentials::random(&mut rng);
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
        Ok(PeerConnection {
            rng,
            certificate,
            wall_clock,
            now,
            jsep: Jsep::new(jsep_config),
            credentials,
            ice: None,
            hosts: Vec::new(),
            gathering: false,
            candidate_mid: "0".into(),
            candidate_index: 0,
            remote_ufrag: None,
            dtls: None,
            early_dtls: VecDeque::new(),
            dtls_role: None,
            sctp: None,
            sctp_remote_port: ferrtc_sctp::DEFAULT_PORT,
            remote_max_message_size: 65_536,
            channels: BTreeMap::new(),
            by_stream: HashMap::new(),
            next_channel: 0,
            events: VecDeque::new(),
            scratch: Vec::new(),
            signaling: SignalingState::Stable,
            ice_state: IceConnectionState::New,
            gathering_state: IceGatheringState::New,
            state: PeerConnectionState::New,
            negotiation_needed: false,
            closed: false,
            stats: ConnectionStats::default(),
            channels_opened: 0,
            channels_closed: 0,
            restart_pending: false,
            held_candidates: Vec::new(),
            answer_pending: false,
            receive_paused: false,
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

    /// `localDescription`.
    pub fn local_description(&self) -> Option<SessionDescription> {
        self.jsep.local_description()
    }

    /// `remoteDescription`.
    pub fn remote_description(&self) -> Option<SessionDescription> {
        self.jsep.remote_description()
    }

    /// `currentLocalDescription`.
    pub fn current_local_description(&self) -> Option<SessionDescription> {
        self.jsep.current_local_description()
    }

    /// `pendingLocalDescription`.
    pub fn pending_local_description(&self) -> Option<SessionDescription> {
        self.jsep.pending_local_description()
    }

    /// `currentRemoteDescription`.
    pub fn current_remote_description(&self) -> Option<SessionDescription> {
        self.jsep.current_remote_description()
    }

    /// `pendingRemoteDescription`.
    pub fn pending_remote_description(&self) -> Option<SessionDescription> {
        self.jsep.pending_remote_description()
    }

    /// The selected candidate pair, once ICE has one.
    pub fn selected_pair(&self) -> Option<&ferrtc_ice::SelectedPair> {
        self.ice.as_ref().and_then(Agent::selected_pair)
    }

    /// Counters of the connection.
    pub fn stats(&self) -> ConnectionStats {
        self.stats
    }

    /// Counters of the ICE agent, once it exists.
    pub fn ice_stats(&self) -> Option<ferrtc_ice::Stats> {
        self.ice.as_ref().map(|a| *a.stats())
    }

    /// Counters of the SCTP association, once it exists.
    pub fn sctp_stats(&self) -> Option<ferrtc_sctp::Stats> {
        self.sctp.as_ref().map(Association::stats)
    }

    /// The DTLS transport state, once the transport exists.
    pub fn dtls_state(&self) -> Option<TransportState> {
        self.dtls.as_ref().map(Dtls::state)
    }

    /// The attributes of a data channel.
    pub fn channel(&self, id: ChannelId) -> Option<ChannelInfo> {
        self.channels.get(&id).map(|c| ChannelInfo::from(&**c))
    }

    /// Every data channel that is not closed, in creation order.
    pub fn channels(&self) -> impl Iterator<Item = ChannelId> + '_ {
        self.channels
            .iter()
            .filter(|(_, c)| c.state != DataChannelState::Closed)
            .map(|(id, _)| *id)
    }

    /// `bufferedAmount` of a channel: bytes queued and not yet sent.
    pub fn buffered_amount(&self, id: ChannelId) -> usize {
        match (self.channels.get(&id).and_then(|c| c.stream), &self.sctp) {
            (Some(stream), Some(sctp)) => sctp.buffered_amount(stream),
            _ => 0,
        }
    }

    /// Sets `bufferedAmountLowThreshold` of a channel.
    pub fn set_buffered_amount_low_threshold(
        &mut self,
        id: ChannelId,
        threshold: usize,
    ) -> Result<(), Error> {
        let c = self
            .channels
            .get_mut(&id)
            .ok_or(Error::UnknownChannel(id))?;
        c.low_threshold = threshold;
        if let (Some(stream), Some(sctp)) = (c.stream, self.sctp.as_mut()) {
            sctp.set_buffered_amount_low_threshold(stream, threshold);
        }
        Ok(())
    }

    /// The remote `max-message-size` (RFC 8841 §6), the largest message
    /// `send` accepts.
    pub fn max_message_size(&self) -> usize {
        self.remote_max_message_size
            .min(self.config.max_message_size)
    }

    /// `getStats()`: the peer connection, its transport, the selected
    /// candidate pair with its candidates, every local candidate, the
    /// certificates and the data channels (W3C webrtc-stats). `wall_clock`
    /// gives the `timestamp`s.
    pub fn get_stats(&self, wall_clock: SystemTime) -> StatsReport {
        let timestamp = wall_clock
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0);
        let mut report = StatsReport::default();
        report.insert(Stats::PeerConnection(PeerConnectionStats {
            id: "P".into(),
            timestamp,
            data_channels_opened: self.channels_opened,
            data_channels_closed: self.channels_closed,
        }));
        let transport_id = "T01".to_owned();
        let cert = |id: String, der: &[u8]| {
            let f = ferrtc_dtls::Fingerprint::of_der(HashAlgorithm::Sha256, der);
            Stats::Certificate(CertificateStats {
                id,
                timestamp,
                fingerprint: ferrtc_sdp::Fingerprint::from_digest(
                    ferrtc_sdp::HashFunction::Sha256,
                    f.value(),
                )
                .hex()
                .to_owned(),
                fingerprint_algorithm: "sha-256".into(),
                base64_certificate: stats::base64(der),
            })
        };
        let local_cert = cert("CF-local".into(), self.certificate.der());
        let local_cert_id = local_cert.id().to_owned();
        report.insert(local_cert);
        let remote_cert_id = self
            .dtls
            .as_ref()
            .and_then(Dtls::peer_certificate)
            .map(|der| {
                let c = cert("CF-remote".into(), der);
                let id = c.id().to_owned();
                report.insert(c);
                id
            });
        let candidate = |id: String, c: &ferrtc_ice::Candidate| CandidateStats {
            id,
            timestamp,
            transport_id: transport_id.clone(),
            address: c.address().to_string(),
            port: c.port(),
            protocol: match c.transport() {
                ferrtc_ice::Transport::Udp => "udp",
                _ => "tcp",
            },
            candidate_type: c.kind().as_str(),
            priority: c.priority(),
            foundation: c.foundation().as_str().to_owned(),
        };
        let candidate_id = |side: &str, c: &ferrtc_ice::Candidate| {
            format!("I{side}-{}-{}-{}", c.address(), c.port(), c.kind().as_str())
        };
        let mut pair_id = None;
        if let Some(ice) = &self.ice {
            for c in ice.local_candidates() {
                report.insert(Stats::LocalCandidate(candidate(candidate_id("L", c), c)));
            }
            if let Some(p) = ice.selected_pair() {
                let (l, r) = (candidate_id("L", &p.local), candidate_id("R", &p.remote));
                report.insert(Stats::LocalCandidate(candidate(l.clone(), &p.local)));
                report.insert(Stats::RemoteCandidate(candidate(r.clone(), &p.remote)));
                let id = format!("CP{l}_{r}");
                let rtt = ice.selected_pair_round_trip().unwrap_or_default();
                report.insert(Stats::CandidatePair(CandidatePairStats {
                    id: id.clone(),
                    timestamp,
                    transport_id: transport_id.clone(),
                    local_candidate_id: l,
                    remote_candidate_id: r,
                    state: "succeeded",
                    nominated: true,
                    bytes_sent: ice.stats().bytes_sent,
                    bytes_received: ice.stats().bytes_received,
                    current_round_trip_time: rtt.current.map(|d| d.as_secs_f64()),
                    total_round_trip_time: rtt.total.as_secs_f64(),
                    responses_received: rtt.responses_received,
                }));
                pair_id = Some(id);
            }
        }
        let ice_stats = self.ice_stats().unwrap_or_default();
        report.insert(Stats::Transport(TransportStats {
            id: transport_id.clone(),
            timestamp,
            packets_sent: self.stats.datagrams_sent,
            packets_received: self.stats.datagrams_received,
            bytes_sent: ice_stats.bytes_sent,
            bytes_received: ice_stats.bytes_received,
            ice_role: self.ice.as_ref().map(|i| {
                if i.is_controlling() {
                    "controlling"
                } else {
                    "controlled"
                }
            }),
            ice_local_username_fragment: self.credentials.ufrag().to_owned(),
            ice_state: ice_state_str(self.ice_state),
            dtls_state: match self.dtls_state() {
                None => "new",
                Some(TransportState::Connecting) => "connecting",
                Some(TransportState::Connected) => "connected",
                Some(TransportState::Closed) => "closed",
                Some(TransportState::Failed) => "failed",
            },
            dtls_role: self.dtls_role.map(|r| match r {
                Role::Client => "client",
                Role::Server => "server",
            }),
            selected_candidate_pair_id: pair_id,
            local_certificate_id: local_cert_id,
            remote_certificate_id: remote_cert_id,
        }));
        if let Some(sctp) = &self.sctp {
            let s = sctp.stats();
            report.insert(Stats::SctpTransport(SctpTransportStats {
                id: "S01".into(),
                timestamp,
                transport_id: transport_id.clone(),
                smoothed_round_trip_time: s.srtt.map(|d| d.as_secs_f64()),
                congestion_window: s.cwnd as u64,
                unack_data: sctp.send_buffered() as u64,
            }));
        }
        for (id, c) in &self.channels {
            report.insert(Stats::DataChannel(DataChannelStats {
                id: format!("D{}", id.index()),
                timestamp,
                label: c.label.clone(),
                protocol: c.protocol.clone(),
                data_channel_identifier: c.stream,
                state: c.state.as_str(),
                messages_sent: c.stats.messages_sent,
                bytes_sent: c.stats.bytes_sent,
                messages_received: c.stats.messages_received,
                bytes_received: c.stats.bytes_received,
            }));
        }
        report
    }

    // ------------------------------------------------------------ setup

    /// Adds a local UDP socket address the caller receives on; it becomes a
    /// host candidate once gathering starts (at the first
    /// `set_local_description`, as W3C webrtc-pc §4.4.1.5 says).
    pub fn add_local_host(&mut self, addr: SocketAddr) -> Result<(), Error> {
        if self.closed {
            return Err(Error::Closed);
        }
        if self.hosts.contains(&addr) {
            return Ok(());
        }
        self.hosts.push(addr);
        if self.gathering
            && let Some(ice) = self.ice.as_mut()
        {
            ice.add_local_host(addr)?;
        }
        self.process();
        Ok(())
    }

    /// Replaces the STUN servers (W3C `setConfiguration` with new
    /// `iceServers`): servers not known before are queried at once when
    /// gathering has started, else at its start.
    pub fn set_stun_servers(&mut self, servers: Vec<SocketAddr>) -> Result<(), Error> {
        self.check_open()?;
        if self.gathering
            && let Some(ice) = self.ice.as_mut()
        {
            for s in servers
                .iter()
                .filter(|s| !self.config.stun_servers.contains(s))
            {
                ice.add_stun_server(*s)?;
            }
        }
        self.config.stun_servers = servers;
        self.process();
        Ok(())
    }

    // ------------------------------------------------------------ JSEP

    /// `createOffer` (RFC 8829 §5.2); after `restart_ice` it carries new
    /// ICE credentials (§5.2.1 `iceRestart`).
    pub fn create_offer(&mut self) -> Result<SessionDescription, Error> {
        self.check_open()?;
        let options = OfferOptions {
            ice_restart: self.restart_pending.then(|| self.jsep_credentials()),
        };
        Ok(self.jsep.create_offer(options)?)
    }

    /// `createAnswer` (RFC 8829 §5.3); answers an ICE restart with the new
    /// local credentials (§5.3.1).
    pub fn create_answer(&mut self) -> Result<SessionDescription, Error> {
        self.check_open()?;
        let options = AnswerOptions {
            ice_credentials: self
                .jsep
                .remote_ice_restart()
                .then(|| self.jsep_credentials()),
        };
        Ok(self.jsep.create_answer(options)?)
    }

    /// `restartIce()` (W3C webrtc-pc §4.4.1.6, RFC 8445 §9): new local ICE
    /// credentials and a fresh gathering; the current pair keeps carrying
    /// data until the new one is selected. Fires `negotiationneeded`: the
    /// next offer restarts ICE on both sides.
    pub fn restart_ice(&mut self) -> Result<(), Error> {
        self.check_open()?;
        let Some(ice) = self.ice.as_mut() else {
            // Nothing negotiated yet: the first offer starts fresh anyway.
            return Ok(());
        };
        ice.restart(self.now)?;
        self.credentials = ice.local_credentials().clone();
        self.restart_pending = true;
        self.negotiation_needed = false;
        if self.signaling == SignalingState::Stable {
            self.negotiation_needed = true;
            self.events.push_back(Event::NegotiationNeeded);
        }
        self.process();
        Ok(())
    }

    fn jsep_credentials(&self) -> IceCredentials {
        IceCredentials::new(self.credentials.ufrag(), self.credentials.pwd())
    }

    /// `setLocalDescription`; `None` is the parameterless form, which
    /// creates and applies an offer or an answer as the state requires.
    pub fn set_local_description(&mut self, desc: Option<SessionDescription>) -> Result<(), Error> {
        self.check_open()?;
        let desc = match desc {
            Some(d) => d,
            None => match self.jsep.signaling_state() {
                SignalingState::HaveRemoteOffer | SignalingState::HaveLocalPranswer => {
                    self.create_answer()?
                }
                _ => self.create_offer()?,
            },
        };
        let kind = desc.kind;
        self.jsep.set_local_description(desc)?;
        let released = match kind {
            SdpType::Offer => std::mem::take(&mut self.restart_pending),
            SdpType::Answer | SdpType::Pranswer | SdpType::Rollback => {
                std::mem::take(&mut self.answer_pending)
            }
        };
        if released {
            self.events.extend(self.held_candidates.drain(..));
        }
        if kind != SdpType::Rollback {
            self.ensure_ice(kind == SdpType::Offer);
            self.note_local_mid();
            self.start_gathering()?;
        }
        self.after_signaling();
        Ok(())
    }

    /// `setRemoteDescription`. Candidates in the SDP are used, as is
    /// `a=end-of-candidates`.
    pub fn set_remote_description(&mut self, desc: SessionDescription) -> Result<(), Error> {
        self.check_open()?;
        let kind = desc.kind;
        self.jsep.set_remote_description(desc)?;
        if kind != SdpType::Rollback {
            self.ensure_ice(kind != SdpType::Offer);
            self.apply_remote_ice(kind == SdpType::Offer)?;
        }
        self.after_signaling();
        Ok(())
    }

    /// `addIceCandidate`; an empty `candidate` means end of candidates.
    /// Candidates the agent cannot use (mDNS `.local` names, TCP) are
    /// accepted and ignored, as browsers do: the peer's checks still reach
    /// us and are answered through peer-reflexive discovery.
    pub fn add_ice_candidate(&mut self, candidate: &IceCandidateInit) -> Result<(), Error> {
        self.check_open()?;
        let added = self.jsep.add_ice_candidate(candidate)?;
        let Some(ice) = self.ice.as_mut() else {
            return Ok(());
        };
        match added {
            None => ice.end_of_remote_candidates(),
            Some((_mid, c)) => match ice.add_remote_candidate(c) {
                Ok(()) => {}
                Err(ferrtc_ice::Error::UnsupportedCandidate(why)) => {
                    tracing::debug!("remote candidate ignored: {why}");
                }
                Err(e) => return Err(e.into()),
            },
        }
        self.process();
        Ok(())
    }

    fn check_open(&self) -> Result<(), Error> {
        if self.closed {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    /// Creates the ICE agent on the first description: the offerer
    /// controls (RFC 8445 §6.1.1; RFC 8829 §5.2.1).
    fn ensure_ice(&mut self, controlling: bool) {
        if self.ice.is_some() {
            return;
        }
        let config = AgentConfig {
            controlling,
            seed: self.rng.random(),
            credentials: Some(self.credentials.clone()),
            ..self.config.ice.clone()
        };
        self.ice = Some(Agent::new(config, self.now));
    }

    /// The mid and index candidates are signalled with: the first
    /// m-section, which carries the bundle transport.
    fn note_local_mid(&mut self) {
        let Some(local) = self.jsep.local_description() else {
            return;
        };
        if let Ok(sdp) = local.sdp.parse::<ferrtc_sdp::SessionDescription>()
            && let Some((i, m)) = sdp.media.iter().enumerate().find(|(_, m)| !m.is_rejected())
            && let Some(mid) = m.mid()
        {
            self.candidate_mid = mid.to_owned();
            self.candidate_index = u16::try_from(i).unwrap_or(0);
        }
    }

    fn start_gathering(&mut self) -> Result<(), Error> {
        if self.gathering {
            return Ok(());
        }
        let Some(ice) = self.ice.as_mut() else {
            return Ok(());
        };
        self.gathering = true;
        for host in &self.hosts {
            if let Err(e) = ice.add_local_host(*host) {
                tracing::warn!("local address {host} not used: {e}");
            }
        }
        for server in &self.config.stun_servers {
            ice.add_stun_server(*server)?;
        }
        Ok(())
    }

    /// Gives ICE the remote credentials and the candidates found in the
    /// remote SDP (RFC 8839 §5.1: non-trickle peers such as aiortc put
    /// them there).
    fn apply_remote_ice(&mut self, is_offer: bool) -> Result<(), Error> {
        let Some(sdp) = self.jsep.remote_sdp() else {
            return Ok(());
        };
        let Some(m) = sdp.media.iter().find(|m| !m.is_rejected()) else {
            return Ok(());
        };
        let ufrag = m.ice_ufrag().or(sdp.ice_ufrag()).map(str::to_owned);
        let pwd = m.ice_pwd().or(sdp.ice_pwd()).map(str::to_owned);
        let candidates: Vec<_> = m.candidates().cloned().collect();
        let end = m.end_of_candidates();
        let lite = sdp.ice_lite();
        let Some(ice) = self.ice.as_mut() else {
            return Ok(());
        };
        if let (Some(ufrag), Some(pwd)) = (ufrag, pwd) {
            if self.remote_ufrag.as_ref().is_some_and(|u| *u != ufrag) {
                // RFC 8445 §9: an offer with new credentials restarts ICE;
                // restart ours too (an answer to our own restart finds
                // ours restarted already).
                if is_offer && !self.restart_pending {
                    ice.restart(self.now)?;
                    self.credentials = ice.local_credentials().clone();
                    self.answer_pending = true;
                }
            }
            ice.set_remote_credentials(&ufrag, &pwd)?;
            self.remote_ufrag = Some(ufrag);
        }
        if lite {
            ice.set_remote_lite(true);
        }
        for c in candidates {
            if let Err(e) = ice.add_remote_candidate(c) {
                tracing::debug!("remote SDP candidate ignored: {e}");
            }
        }
        if end {
            ice.end_of_remote_candidates();
        }
        Ok(())
    }

    /// After any description: states, negotiation-needed, transports.
    fn after_signaling(&mut self) {
        let state = self.jsep.signaling_state();
        if state != self.signaling {
            self.signaling = state;
            self.events.push_back(Event::SignalingStateChange(state));
            if state == SignalingState::Stable {
                self.negotiation_needed = false;
            }
        }
        self.check_negotiation_needed();
        if let Some(t) = self.jsep.transport() {
            self.dtls_role = Some(match t.dtls_role {
                DtlsRole::Client => Role::Client,
                DtlsRole::Server => Role::Server,
            });
            if let Some(sctp) = &t.sctp {
                self.sctp_remote_port = sctp.remote_port;
                self.remote_max_message_size =
                    usize::try_from(sctp.remote_max_message_size).unwrap_or(usize::MAX);
                // RFC 8841 §6.1: 0 means "any size"; keep our own bound.
                if self.remote_max_message_size == 0 {
                    self.remote_max_message_size = self.config.max_message_size;
                }
            }
        }
        self.process();
    }

    /// W3C webrtc-pc §4.7.3: fire `negotiationneeded` once per need, in stable.
    fn check_negotiation_needed(&mut self) {
        if !self.negotiation_needed
            && self.signaling == SignalingState::Stable
            && self.jsep.is_negotiation_needed()
        {
            self.negotiation_needed = true;
            self.events.push_back(Event::NegotiationNeeded);
        }
    }

    // ------------------------------------------------------------ data channels

    /// `createDataChannel`: a channel that opens once SCTP is up (DCEP,
    /// RFC 8832, unless `negotiated`). The first one asks for a data
    /// m-section and fires `negotiationneeded`.
    pub fn create_data_channel(
        &mut self,
        label: &str,
        init: DataChannelInit,
    ) -> Result<ChannelId, Error> {
        self.check_open()?;
        if label.len() > usize::from(u16::MAX) || init.protocol.len() > usize::from(u16::MAX) {
            return Err(Error::InvalidChannelInit(
                "label and protocol are limited to 65535 bytes",
            ));
        }
        let reliability = match (init.max_retransmits, init.max_packet_life_time) {
            (Some(_), Some(_)) => {
                return Err(Error::InvalidChannelInit(
                    "maxRetransmits and maxPacketLifeTime are exclusive",
                ));
            }
            (Some(n), None) => Reliability::MaxRetransmits(n),
            // W3C `maxPacketLifeTime` is an `[EnforceRange] unsigned
            // short` of milliseconds, all DCEP can announce (RFC 8832 §5.1).
            (None, Some(d)) if d > Duration::from_millis(u64::from(u16::MAX)) => {
                return Err(Error::InvalidChannelInit(
                    "maxPacketLifeTime is limited to 65535 ms",
                ));
            }
            (None, Some(d)) => Reliability::MaxLifetime(d),
            (None, None) => Reliability::Reliable,
        };
        if init.negotiated && init.id.is_none() {
            return Err(Error::InvalidChannelInit(
                "a negotiated channel needs an id",
            ));
        }
        if self.channels().count() >= self.config.max_channels {
            return Err(Error::InvalidChannelInit("too many data channels"));
        }
        let stream = match init.id {
            Some(id) if id == u16::MAX => return Err(Error::ChannelIdInUse(id)),
            Some(id) if self.by_stream.contains_key(&id) => {
                return Err(Error::ChannelIdInUse(id));
            }
            Some(id) => Some(id),
            None => None,
        };
        let id = ChannelId(self.next_channel);
        self.next_channel += 1;
        self.channels.insert(
            id,
            Box::new(Channel {
                label: label.to_owned(),
                protocol: init.protocol,
                ordered: init.ordered,
                reliability,
                negotiated: init.negotiated,
                stream,
                state: DataChannelState::Connecting,
                awaiting_ack: false,
                reset_out: false,
                reset_in: false,
                low_threshold: 0,
                stats: Default::default(),
            }),
        );
        if let Some(s) = stream {
            self.by_stream.insert(s, id);
        }
        if self.jsep.data_mid().is_none() {
            self.jsep.request_data_channel();
            self.check_negotiation_needed();
        }
        self.open_pending_channels();
        self.process();
        Ok(id)
    }

    /// `send()` on a channel: text when `binary` is false (the bytes must
    /// be UTF-8; the async API takes `&str` for text), binary otherwise.
    pub fn send(&mut self, id: ChannelId, data: &[u8], binary: bool) -> Result<(), Error> {
        let max = self.max_message_size();
        let c = self
            .channels
            .get_mut(&id)
            .ok_or(Error::UnknownChannel(id))?;
        if c.state != DataChannelState::Open {
            return Err(Error::ChannelNotOpen(id));
        }
        if data.len() > max {
            return Err(Error::MessageTooLarge {
                len: data.len(),
                max,
            });
        }
        let (Some(stream), Some(sctp)) = (c.stream, self.sctp.as_mut()) else {
            return Err(Error::ChannelNotOpen(id));
        };
        // RFC 8831 §6.6: empty messages carry one zero byte and their own PPID.
        let (ppid, payload): (u32, &[u8]) = match (binary, data.is_empty()) {
            (false, false) => (ppid::STRING, data),
            (false, true) => (ppid::STRING_EMPTY, &[0]),
            (true, false) => (ppid::BINARY, data),
            (true, true) => (ppid::BINARY_EMPTY, &[0]),
        };
        sctp.send(self.now, stream, ppid, payload, c.send_options())?;
        c.stats.messages_sent += 1;
        c.stats.bytes_sent += data.len() as u64;
        Ok(())
    }

    /// `close()` on a channel: resets its outgoing stream (RFC 8831 §6.7);
    /// the `close` event follows once the peer reset its side.
    pub fn close_channel(&mut self, id: ChannelId) -> Result<(), Error> {
        let c = self
            .channels
            .get_mut(&id)
            .ok_or(Error::UnknownChannel(id))?;
        match c.state {
            DataChannelState::Closing | DataChannelState::Closed => return Ok(()),
            DataChannelState::Connecting | DataChannelState::Open => {}
        }
        let established = self
            .sctp
            .as_ref()
            .is_some_and(|s| s.state() == AssociationState::Established);
        match c.stream {
            Some(stream) if established && c.state == DataChannelState::Open => {
                c.state = DataChannelState::Closing;
                c.reset_out = true;
                if let Some(sctp) = self.sctp.as_mut()
                    && let Err(e) = sctp.reset_stream(stream)
                {
                    tracing::debug!("stream {stream} reset failed: {e}");
                    self.finish_channel(id);
                }
            }
            _ => self.finish_channel(id),
        }
        self.process();
        Ok(())
    }

    fn finish_channel(&mut self, id: ChannelId) {
        if let Some(c) = self.channels.get_mut(&id)
            && c.state != DataChannelState::Closed
        {
            if c.state != DataChannelState::Connecting {
                self.channels_closed += 1;
            }
            c.state = DataChannelState::Closed;
            if let Some(s) = c.stream {
                self.by_stream.remove(&s);
            }
            self.events.push_back(Event::ChannelClose(id));
        }
    }

    /// RFC 8832 §6: the DTLS client uses even stream ids, the server odd.
    fn allocate_stream(&self, role: Role) -> Option<u16> {
        let start = match role {
            Role::Client => 0,
            Role::Server => 1,
        };
        let limit = self
            .sctp
            .as_ref()
            .map(|s| s.outbound_streams())
            .filter(|n| *n > 0)
            .unwrap_or(self.config.sctp.streams);
        (start..limit)
            .step_by(2)
            .find(|s| !self.by_stream.contains_key(s))
    }

    /// Opens every channel waiting for SCTP (announcing it with
    /// DATA_CHANNEL_OPEN unless negotiated).
    fn open_pending_channels(&mut self) {
        let established = self
            .sctp
            .as_ref()
            .is_some_and(|s| s.state() == AssociationState::Established);
        let Some(role) = self.dtls_role else {
            return;
        };
        let pending: Vec<ChannelId> = self
            .channels
            .iter()
            .filter(|(_, c)| c.state == DataChannelState::Connecting)
            .map(|(id, _)| *id)
            .collect();
        for id in pending {
            let stream = match self.channels.get(&id).and_then(|c| c.stream) {
                Some(s) => s,
                None => match self.allocate_stream(role) {
                    Some(s) => {
                        self.by_stream.insert(s, id);
                        if let Some(c) = self.channels.get_mut(&id) {
                            c.stream = Some(s);
                        }
                        s
                    }
                    None => {
                        tracing::warn!("no free SCTP stream for a data channel");
                        self.finish_channel(id);
                        continue;
                    }
                },
            };
            if !established {
                continue;
            }
            let Some(c) = self.channels.get_mut(&id) else {
                continue;
            };
            let Some(sctp) = self.sctp.as_mut() else {
                return;
            };
            if c.low_threshold > 0 {
                sctp.set_buffered_amount_low_threshold(stream, c.low_threshold);
            }
            if !c.negotiated {
                self.scratch.clear();
                DcepMessage::Open(Open {
                    ordered: c.ordered,
                    channel_type: ChannelType::from_reliability(c.reliability),
                    priority: 256,
                    label: c.label.clone(),
                    protocol: c.protocol.clone(),
                })
                .write(&mut self.scratch);
                // RFC 8832 §6: OPEN goes reliable and ordered; so does
                // our data until the ACK comes.
                if let Err(e) = sctp.send(
                    self.now,
                    stream,
                    ppid::DCEP,
                    &self.scratch,
                    SendOptions::RELIABLE_ORDERED,
                ) {
                    tracing::warn!("DATA_CHANNEL_OPEN on stream {stream} failed: {e}");
                    self.finish_channel(id);
                    continue;
                }
                c.awaiting_ack = true;
            }
            c.state = DataChannelState::Open;
            self.channels_opened += 1;
            self.events.push_back(Event::ChannelOpen(id));
        }
    }

    // ------------------------------------------------------------ I/O

    /// A datagram arrived from `source` on the local address `destination`.
    pub fn handle_receive(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        datagram: &[u8],
    ) {
        self.now = now;
        self.stats.datagrams_received += 1;
        let Some(ice) = self.ice.as_mut() else {
            self.stats.dropped_datagrams += 1;
            return;
        };
        match ice.handle_receive(now, source, destination, datagram) {
            Receive::Data(data) => match classify(data) {
                Demux::Dtls => match self.dtls.as_mut() {
                    Some(dtls) => dtls.handle_receive(now, data),
                    None if self.early_dtls.len() < MAX_EARLY_DTLS => {
                        self.early_dtls.push_back(data.to_vec());
                    }
                    None => self.stats.dropped_datagrams += 1,
                },
                Demux::Rtp => self.stats.dropped_rtp += 1,
                Demux::Stun | Demux::Other => self.stats.dropped_datagrams += 1,
            },
            Receive::Stun | Receive::Dropped(_) => {}
        }
        self.process();
    }

    /// Writes the next datagram into `buf` and says where it goes: ICE's
    /// own checks first, then DTLS records, pulling one SCTP packet at a
    /// time into DTLS so that nothing queues up between the layers.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        self.now = now;
        let transmit = self.next_transmit(now, buf);
        if transmit.is_some() {
            self.stats.datagrams_sent += 1;
        } else if self.closed
            && let Some(ice) = self.ice.as_mut()
        {
            // Everything of the close (SCTP ABORT, close_notify) is out:
            // ICE may stop now.
            ice.close();
        }
        transmit
    }

    fn next_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        let ice = self.ice.as_mut()?;
        if let Some(t) = ice.poll_transmit(now, buf) {
            return Some(t);
        }
        let dtls = self.dtls.as_mut()?;
        loop {
            if dtls.poll_transmit(now, buf).is_some() {
                match ice.send(buf) {
                    Ok(t) => return Some(t),
                    Err(e) => {
                        tracing::trace!("DTLS datagram not sent: {e}");
                        continue;
                    }
                }
            }
            let sctp = self.sctp.as_mut()?;
            sctp.poll_transmit(now, &mut self.scratch)?;
            if let Err(e) = dtls.send_application_data(&self.scratch) {
                tracing::debug!("SCTP packet not sent: {e}");
                return None;
            }
        }
    }

    /// The next event, or `None`.
    pub fn poll_event(&mut self) -> Option<Event> {
        if self.events.is_empty() {
            self.process();
        }
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
            self.sctp.as_ref().and_then(Association::poll_timeout),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Time reached `now`: runs every engine's due timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
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
        if let Some(sctp) = self.sctp.as_mut()
            && due(sctp.poll_timeout())
        {
            sctp.handle_timeout(now);
        }
        self.process();
    }

    /// `close()`: aborts SCTP, sends DTLS `close_notify`, stops ICE once
    /// those are out. No events follow except the queued ones.
    pub fn close(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        for c in self.channels.values_mut() {
            c.state = DataChannelState::Closed;
        }
        self.by_stream.clear();
        if let Some(sctp) = self.sctp.as_mut() {
            sctp.abort(self.now);
            if let Some(dtls) = self.dtls.as_mut() {
                while sctp.poll_transmit(self.now, &mut self.scratch).is_some() {
                    if dtls.send_application_data(&self.scratch).is_err() {
                        break;
                    }
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

    /// Stops or resumes handing received messages up. While paused they
    /// stay in SCTP's receive buffer, whose advertised window then closes
    /// and holds the peer back (RFC 9260 §6.2): a driver pauses while its
    /// application is not reading, so a peer cannot make it queue without
    /// bound. Resuming delivers what waited, and reopens the window.
    pub fn set_receive_paused(&mut self, paused: bool) {
        if self.receive_paused == paused {
            return;
        }
        self.receive_paused = paused;
        if !paused {
            self.process();
        }
    }

    /// The local ICE username fragment (`a=ice-ufrag`, RFC 8839 §5.4); it
    /// changes with an ICE restart. A driver that serves many connections
    /// on one socket routes connectivity checks by it
    /// ([`crate::check_recipient`]).
    pub fn local_ufrag(&self) -> &str {
        self.credentials.ufrag()
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
    fn process(&mut self) {
        for _ in 0..MAX_PROCESS_ROUNDS {
            let mut moved = false;
            moved |= self.process_ice();
            moved |= self.maybe_start_dtls();
            moved |= self.process_dtls();
            moved |= self.process_sctp();
            self.update_connection_state();
            if !moved {
                break;
            }
        }
    }

    fn process_ice(&mut self) -> bool {
        let Some(ice) = self.ice.as_mut() else {
            return false;
        };
        let mut moved = false;
        while let Some(ev) = ice.poll_event() {
            moved = true;
            match ev {
                ferrtc_ice::Event::LocalCandidate(c) => {
                    let ev = Event::IceCandidate(IceCandidateInit {
                        candidate: c.to_string(),
                        sdp_mid: Some(self.candidate_mid.clone()),
                        sdp_m_line_index: Some(self.candidate_index),
                        username_fragment: Some(self.credentials.ufrag().to_owned()),
                    });
                    if self.restart_pending || self.answer_pending {
                        self.held_candidates.push(ev);
                    } else {
                        self.events.push_back(ev);
                    }
                }
                ferrtc_ice::Event::GatheringStateChange(s) => {
                    if s != self.gathering_state {
                        self.gathering_state = s;
                        self.events.push_back(Event::IceGatheringStateChange(s));
                    }
                    if s == IceGatheringState::Complete {
                        // W3C webrtc-pc §4.4.1.3: the end-of-candidates
                        // indication is an icecandidate with an empty candidate.
                        let ev = Event::IceCandidate(IceCandidateInit {
                            candidate: String::new(),
                            sdp_mid: Some(self.candidate_mid.clone()),
                            sdp_m_line_index: Some(self.candidate_index),
                            username_fragment: Some(self.credentials.ufrag().to_owned()),
                        });
                        if self.restart_pending || self.answer_pending {
                            self.held_candidates.push(ev);
                        } else {
                            self.events.push_back(ev);
                        }
                    }
                }
                ferrtc_ice::Event::ConnectionStateChange { state, reason } => {
                    if let Some(r) = reason {
                        tracing::info!("ICE {state:?}: {r}");
                    }
                    if state != self.ice_state && !self.closed {
                        self.ice_state = state;
                        self.events
                            .push_back(Event::IceConnectionStateChange(state));
                    }
                }
                ferrtc_ice::Event::SelectedPairChange(p) => {
                    tracing::debug!("selected pair {} -> {}", p.source, p.destination);
                }
                _ => {}
            }
        }
        moved
    }

    /// The DTLS server starts as soon as the roles are known; the client
    /// once ICE has a pair to send its ClientHello on (else the first
    /// flight would be lost and wait a full retransmission timeout).
    fn maybe_start_dtls(&mut self) -> bool {
        if self.dtls.is_some() || self.closed {
            return false;
        }
        let (Some(role), Some(transport)) = (self.dtls_role, self.jsep.transport()) else {
            return false;
        };
        let selected = self
            .ice
            .as_ref()
            .is_some_and(|i| i.selected_pair().is_some());
        if role == Role::Client && !selected {
            return false;
        }
        let mut fingerprints = Vec::new();
        for f in &transport.remote_fingerprints {
            let hash = f.hash.normalized();
            match HashAlgorithm::from_name(hash.as_str())
                .map(|a| ferrtc_dtls::Fingerprint::new(a, f.digest()))
            {
                Some(Ok(fp)) => fingerprints.push(fp),
                _ => tracing::debug!("remote fingerprint {} ignored", hash.as_str()),
            }
        }
        // The DTLS engine draws its randomness from the system unless
        // `config.dtls.rng_seed` asks otherwise: seeding it per connection
        // would make every connection build its own engine configuration.
        match Dtls::new(
            &self.config.dtls,
            &self.certificate,
            role,
            self.now,
            self.wall_clock,
        ) {
            Ok(mut dtls) => {
                dtls.expect_remote_fingerprints(fingerprints);
                while let Some(d) = self.early_dtls.pop_front() {
                    dtls.handle_receive(self.now, &d);
                }
                self.dtls = Some(dtls);
            }
            Err(e) => {
                tracing::warn!("DTLS transport not created: {e}");
                self.state = PeerConnectionState::Failed;
                self.events
                    .push_back(Event::ConnectionStateChange(PeerConnectionState::Failed));
                self.closed = true;
            }
        }
        true
    }

    fn process_dtls(&mut self) -> bool {
        let Some(dtls) = self.dtls.as_mut() else {
            return false;
        };
        let mut moved = false;
        let mut peer_closed = false;
        while let Some(ev) = dtls.poll_event() {
            moved = true;
            match ev {
                ferrtc_dtls::Event::Connected { .. } => {
                    tracing::debug!("DTLS connected as {:?}", dtls.role());
                    if self.jsep.transport().is_some_and(|t| t.sctp.is_some())
                        && self.sctp.is_none()
                    {
                        let mut config = self.config.sctp.clone();
                        config.seed = self.rng.random();
                        config.local_port = self.jsep.config().sctp_port;
                        config.remote_port = self.sctp_remote_port;
                        config.max_message_size = self.config.max_message_size;
                        // RFC 8841 §5 / RFC 8831 §6.2: both sides send INIT
                        // (simultaneous open works).
                        let mut sctp = Association::new(config);
                        sctp.connect(self.now);
                        self.sctp = Some(sctp);
                    }
                }
                ferrtc_dtls::Event::ApplicationData(record) => {
                    if let Some(sctp) = self.sctp.as_mut()
                        && let Err(e) = sctp.handle_receive(self.now, &record)
                    {
                        tracing::debug!("SCTP packet dropped: {e}");
                    }
                    dtls.recycle(record);
                }
                ferrtc_dtls::Event::Closed => {
                    tracing::debug!("peer closed DTLS");
                    peer_closed = true;
                }
                ferrtc_dtls::Event::Failed(e) => {
                    tracing::warn!("DTLS failed: {e}");
                }
                _ => {}
            }
        }
        if peer_closed {
            for id in self.channels.keys().copied().collect::<Vec<_>>() {
                self.finish_channel(id);
            }
        }
        moved
    }

    fn process_sctp(&mut self) -> bool {
        let mut moved = false;
        while !self.receive_paused
            && let Some(ev) = self.sctp.as_mut().and_then(Association::poll_event)
        {
            moved = true;
            match ev {
                ferrtc_sctp::Event::Connected => {
                    tracing::debug!("SCTP established");
                    self.open_pending_channels();
                }
                ferrtc_sctp::Event::Message(m) => self.on_message(m),
                ferrtc_sctp::Event::IncomingStreamReset(stream) => {
                    let Some(&id) = self.by_stream.get(&stream) else {
                        continue;
                    };
                    let Some(c) = self.channels.get_mut(&id) else {
                        continue;
                    };
                    c.reset_in = true;
                    if !c.reset_out {
                        // RFC 8831 §6.7: answer the peer's reset with ours.
                        c.reset_out = true;
                        c.state = DataChannelState::Closing;
                        self.events.push_back(Event::ChannelClosing(id));
                        if let Some(sctp) = self.sctp.as_mut()
                            && sctp.reset_stream(stream).is_err()
                        {
                            self.finish_channel(id);
                        }
                    } else {
                        self.finish_channel(id);
                    }
                }
                ferrtc_sctp::Event::OutgoingStreamReset(stream) => {
                    let Some(&id) = self.by_stream.get(&stream) else {
                        continue;
                    };
                    if self.channels.get(&id).is_some_and(|c| c.reset_in) {
                        self.finish_channel(id);
                    }
                }
                ferrtc_sctp::Event::BufferedAmountLow(stream) => {
                    if let Some(&id) = self.by_stream.get(&stream) {
                        self.events.push_back(Event::ChannelBufferedAmountLow(id));
                    }
                }
                ferrtc_sctp::Event::Closed(reason) => {
                    tracing::debug!("SCTP closed: {reason:?}");
                    for id in self.channels.keys().copied().collect::<Vec<_>>() {
                        self.finish_channel(id);
                    }
                }
                _ => {}
            }
        }
        moved
    }

    fn on_message(&mut self, m: ferrtc_sctp::Message) {
        if m.ppid == ppid::DCEP {
            self.on_dcep(m.stream, &m.data);
            return;
        }
        let Some(&id) = self.by_stream.get(&m.stream) else {
            self.stats.dropped_messages += 1;
            return;
        };
        let message = match m.ppid {
            ppid::STRING => match String::from_utf8(m.data) {
                Ok(s) => DataChannelMessage::Text(s),
                Err(_) => {
                    self.stats.dropped_messages += 1;
                    return;
                }
            },
            ppid::STRING_EMPTY => DataChannelMessage::Text(String::new()),
            ppid::BINARY => DataChannelMessage::Binary(m.data),
            ppid::BINARY_EMPTY => DataChannelMessage::Binary(Vec::new()),
            _ => {
                self.stats.dropped_messages += 1;
                return;
            }
        };
        let Some(c) = self.channels.get_mut(&id) else {
            return;
        };
        // RFC 8832 §6: data on the stream implies the peer got our OPEN.
        c.awaiting_ack = false;
        c.stats.messages_received += 1;
        c.stats.bytes_received += message.as_bytes().len() as u64;
        self.events.push_back(Event::ChannelMessage {
            channel: id,
            message,
        });
    }

    fn on_dcep(&mut self, stream: u16, data: &[u8]) {
        let message = match DcepMessage::parse(data) {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!("stream {stream}: {e}");
                self.stats.dropped_messages += 1;
                return;
            }
        };
        match message {
            DcepMessage::Ack => {
                if let Some(c) = self
                    .by_stream
                    .get(&stream)
                    .and_then(|id| self.channels.get_mut(id))
                {
                    c.awaiting_ack = false;
                }
            }
            DcepMessage::Open(open) => {
                if self.by_stream.contains_key(&stream)
                    || self.channels().count() >= self.config.max_channels
                {
                    tracing::debug!("DATA_CHANNEL_OPEN on busy stream {stream} ignored");
                    self.stats.dropped_messages += 1;
                    return;
                }
                let id = ChannelId(self.next_channel);
                self.next_channel += 1;
                self.channels.insert(
                    id,
                    Box::new(Channel {
                        label: open.label,
                        protocol: open.protocol,
                        ordered: open.ordered,
                        reliability: open.channel_type.reliability(),
                        negotiated: false,
                        stream: Some(stream),
                        state: DataChannelState::Open,
                        awaiting_ack: false,
                        reset_out: false,
                        reset_in: false,
                        low_threshold: 0,
                        stats: Default::default(),
                    }),
                );
                self.by_stream.insert(stream, id);
                self.scratch.clear();
                DcepMessage::Ack.write(&mut self.scratch);
                if let Some(sctp) = self.sctp.as_mut()
                    && let Err(e) = sctp.send(
                        self.now,
                        stream,
                        ppid::DCEP,
                        &self.scratch,
                        SendOptions::RELIABLE_ORDERED,
                    )
                {
                    tracing::debug!("DATA_CHANNEL_ACK on stream {stream} failed: {e}");
                }
                self.channels_opened += 1;
                self.events.push_back(Event::DataChannel(id));
                self.events.push_back(Event::ChannelOpen(id));
            }
        }
    }

    /// W3C webrtc-pc §4.3.3 "update the connection state".
    fn update_connection_state(&mut self) {
        if self.closed {
            return;
        }
        let dtls = self.dtls.as_ref().map(Dtls::state);
        let next = match (self.ice_state, dtls) {
            (IceConnectionState::Failed, _) | (_, Some(TransportState::Failed)) => {
                PeerConnectionState::Failed
            }
            (IceConnectionState::Disconnected, _) => PeerConnectionState::Disconnected,
            (IceConnectionState::Closed, _) | (_, Some(TransportState::Closed)) => {
                PeerConnectionState::Closed
            }
            (
                IceConnectionState::Connected | IceConnectionState::Completed,
                Some(TransportState::Connected),
            ) => PeerConnectionState::Connected,
            (IceConnectionState::New, None) => PeerConnectionState::New,
            _ => PeerConnectionState::Connecting,
        };
        if next != self.state {
            self.state = next;
            self.events.push_back(Event::ConnectionStateChange(next));
        }
    }
}

/// The W3C `RTCIceTransportState` string.
fn ice_state_str(s: IceConnectionState) -> &'static str {
    match s {
        IceConnectionState::New => "new",
        IceConnectionState::Checking => "checking",
        IceConnectionState::Connected => "connected",
        IceConnectionState::Completed => "completed",
        IceConnectionState::Disconnected => "disconnected",
        IceConnectionState::Failed => "failed",
        IceConnectionState::Closed => "closed",
    }
}

#[cfg(test)]
mod tests;
