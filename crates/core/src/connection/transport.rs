//! The transport: one ICE agent and one DTLS transport for the whole
//! connection (BUNDLE, RFC 8843), the demultiplexing of what ICE accepts
//! (RFC 7983) and the outbound order of the engines. A TURN client joins
//! the ICE agent here, under the demux.

use std::net::SocketAddr;
use std::time::Instant;

use ferrtc_dtls::{Dtls, HashAlgorithm, Role, TransportState};
use ferrtc_ice::{Agent, AgentConfig, Receive};
use ferrtc_sctp::Association;
use rand::SeedableRng;
use rand::rngs::StdRng;

use ferrtc_ice::Credentials;
use ferrtc_jsep::{IceCredentials, SdpType, SessionDescription};

use super::{MAX_EARLY_DTLS, PeerConnection, Transmit};
use crate::demux::{Demux, classify};
use crate::error::Error;
use crate::event::{Event, IceCandidateInit, IceGatheringState, SignalingState};

/// What JSEP's remote description says about ICE.
struct RemoteIce {
    credentials: Option<(String, String)>,
    candidates: Vec<ferrtc_ice::Candidate>,
    end: bool,
    lite: bool,
}

impl PeerConnection {
    /// The selected candidate pair, once ICE has one.
    pub fn selected_pair(&self) -> Option<&ferrtc_ice::SelectedPair> {
        self.ice.as_ref().and_then(Agent::selected_pair)
    }

    /// Counters of the ICE agent, once it exists.
    pub fn ice_stats(&self) -> Option<ferrtc_ice::Stats> {
        self.ice.as_ref().map(|a| *a.stats())
    }

    /// The DTLS transport state (W3C `RTCDtlsTransport.state`), once a
    /// description made the transport: `Failed` when it could not be
    /// made (an expired certificate, say); `None` while it is `new`.
    pub fn dtls_state(&self) -> Option<TransportState> {
        match &self.dtls {
            Some(d) => Some(d.state()),
            None if self.dtls_failed => Some(TransportState::Failed),
            None => None,
        }
    }

    /// The local ICE username fragment (`a=ice-ufrag`, RFC 8839 §5.4); it
    /// changes with an ICE restart. A driver that serves many connections
    /// on one socket routes connectivity checks by it
    /// ([`crate::check_recipient`]).
    pub fn local_ufrag(&self) -> &str {
        self.credentials.ufrag()
    }

    /// Adds a local UDP socket address the caller receives on; it becomes a
    /// host candidate once gathering starts (at the first
    /// `set_local_description`, as W3C webrtc-pc §4.4.1.5 says).
    pub fn add_local_host(&mut self, now: Instant, addr: SocketAddr) -> Result<(), Error> {
        if self.closed {
            return Err(Error::Closed);
        }
        let host = (addr, ferrtc_ice::Protocol::Udp);
        if self.hosts.contains(&host) {
            return Ok(());
        }
        self.hosts.push(host);
        if self.gathering
            && let Some(ice) = ice_at(&mut self.ice, now)
        {
            ice.add_local_host(addr)?;
        }
        self.process(now);
        Ok(())
    }

    /// Adds a TCP address the caller listens on for ICE-TCP (RFC 6544): it
    /// becomes a passive TCP host candidate, with an active one on the same
    /// IP, once gathering starts. Messages on TCP connections go to
    /// [`Self::handle_receive_tcp`]; a [`Transmit`] whose `protocol` is TCP
    /// goes on the connection between its addresses (see
    /// [`ferrtc_ice::Agent::add_local_tcp`]).
    pub fn add_local_tcp(&mut self, now: Instant, listener: SocketAddr) -> Result<(), Error> {
        if self.closed {
            return Err(Error::Closed);
        }
        let host = (listener, ferrtc_ice::Protocol::Tcp);
        if self.hosts.contains(&host) {
            return Ok(());
        }
        self.hosts.push(host);
        if self.gathering
            && let Some(ice) = ice_at(&mut self.ice, now)
        {
            ice.add_local_tcp(listener)?;
        }
        self.process(now);
        Ok(())
    }

    /// Replaces the STUN servers (W3C `setConfiguration` with new
    /// `iceServers`): servers not known before are queried at once when
    /// gathering has started, else at its start.
    pub fn set_stun_servers(
        &mut self,
        now: Instant,
        servers: Vec<SocketAddr>,
    ) -> Result<(), Error> {
        self.check_open()?;
        if self.gathering
            && let Some(ice) = ice_at(&mut self.ice, now)
        {
            for s in servers
                .iter()
                .filter(|s| !self.config.stun_servers.contains(s))
            {
                ice.add_stun_server(*s)?;
            }
        }
        self.config.stun_servers = servers;
        self.process(now);
        Ok(())
    }

    /// W3C `iceTransportPolicy` as `setConfiguration` changed it
    /// (`relay_only` for `"relay"`): it applies from the next gathering, an
    /// ICE restart (RFC 8829 §3.5.3; webrtc-pc §4.4.1.6), not to the
    /// candidates and pairs of the current one.
    pub fn set_ice_transport_policy(&mut self, relay_only: bool) {
        self.config.ice.relay_only = relay_only;
    }

    /// Says whether the caller is still finding STUN or TURN servers (their
    /// names being looked up): while it is, ICE gathering does not
    /// complete, so that end-of-candidates does not reach the peer before
    /// the candidates those servers give. Release it when the lookups end,
    /// found or not.
    pub fn hold_gathering(&mut self, now: Instant, hold: bool) {
        if self.gathering_held == hold {
            return;
        }
        self.gathering_held = hold;
        // Without an agent yet, it takes the hold when it is made.
        if let Some(ice) = self.ice.as_mut() {
            ice.hold_gathering(now, hold);
            self.process(now);
        }
    }

    /// Replaces the TURN servers (W3C `setConfiguration`, or a TURN server
    /// name resolved): servers not known before allocate at once when
    /// gathering has started, else at its start.
    pub fn set_turn_servers(
        &mut self,
        now: Instant,
        servers: Vec<crate::TurnServer>,
    ) -> Result<(), Error> {
        self.check_open()?;
        if self.gathering
            && let Some(ice) = ice_at(&mut self.ice, now)
        {
            for t in servers
                .iter()
                .filter(|t| !self.config.turn_servers.contains(t))
            {
                if let Err(e) =
                    ice.add_turn_server(t.server, t.transport, &t.username, &t.credential)
                {
                    tracing::warn!("TURN server {} not used: {e}", t.server);
                }
            }
        }
        self.config.turn_servers = servers;
        self.process(now);
        Ok(())
    }

    /// Creates the ICE agent on the first description: the offerer
    /// controls (RFC 8445 §6.1.1; RFC 8829 §5.2.1).
    pub(super) fn ensure_ice(&mut self, now: Instant, controlling: bool) {
        if self.ice.is_some() {
            return;
        }
        let config = AgentConfig {
            controlling,
            credentials: Some(self.credentials.clone()),
            ..self.config.ice.clone()
        };
        // The agent's own secrets (transaction ids, restart credentials)
        // come from a 256-bit seed drawn from ours.
        let rng = StdRng::from_rng(&mut self.rng);
        let mut ice = Agent::with_rng(config, now, rng);
        ice.hold_gathering(now, self.gathering_held);
        self.ice = Some(ice);
    }

    pub(super) fn start_gathering(&mut self, now: Instant) -> Result<(), Error> {
        if self.gathering {
            return Ok(());
        }
        let Some(ice) = ice_at(&mut self.ice, now) else {
            return Ok(());
        };
        self.gathering = true;
        for (host, protocol) in &self.hosts {
            let added = match protocol {
                ferrtc_ice::Protocol::Tcp => ice.add_local_tcp(*host).map(|_| ()),
                _ => ice.add_local_host(*host).map(|_| ()),
            };
            if let Err(e) = added {
                tracing::warn!("local address {host} ({protocol:?}) not used: {e}");
            }
        }
        for server in &self.config.stun_servers {
            ice.add_stun_server(*server)?;
        }
        for t in &self.config.turn_servers {
            // A server the agent cannot use is left out (the description
            // is applied already): gathering goes on with the others.
            if let Err(e) = ice.add_turn_server(t.server, t.transport, &t.username, &t.credential) {
                tracing::warn!("TURN server {} not used: {e}", t.server);
            }
        }
        Ok(())
    }

    // ---- ICE credentials: JSEP decides, the agent follows ----
    //
    // JSEP is the one source of truth for the ICE generation in use; the
    // agent follows the descriptions JSEP has applied, and only those:
    //
    // - Local credentials: the agent's are JSEP's
    //   (`Jsep::local_ice_credentials`) except between `restart_ice()` and
    //   the offer that carries the new ones (`restart_pending`: the agent
    //   restarted ahead and holds its candidates).
    // - A remote offer restarts ICE when JSEP says so
    //   (`Jsep::remote_ice_restart`: new ufrag or pwd against
    //   `currentRemoteDescription`, RFC 8839 §4.4.1.1.1), never by a
    //   comparison of our own. The agent restarts (RFC 8445 §9) when our
    //   answer (or pranswer) is applied, with the credentials that answer
    //   carries; until then it keeps running the current generation, and
    //   the restart offer's credentials and candidates stay in JSEP. So a
    //   rollback of that offer (RFC 8829 §4.1.10.2), or an offer replacing
    //   it with the old credentials, has nothing to undo in the agent, and
    //   the next answer carries the credentials the agent uses.
    // - A rollback of our own restart offer restores JSEP's credentials
    //   from before it (RFC 8829 §4.1.10.2): the agent, restarted by
    //   `restart_ice()`, restarts again to those, so whichever side offers
    //   next, the descriptions and the agent agree. The restart is still
    //   wanted (W3C webrtc-pc §4.4.1.6: the credentials to replace stay
    //   until an answer commits others; `restart_wanted`): negotiation is
    //   needed, and the next offer carries credentials drawn then, to
    //   which the agent restarts when that offer is applied.
    // - Remote credentials: the agent's are those of JSEP's remote
    //   description whenever that belongs to the generation the agent runs
    //   (not while our restart offer waits for its answer, nor while the
    //   peer's waits for ours). JSEP refuses an answer that changes them
    //   without a restart, so the agent never sees changed ones without a
    //   restart; should it, the description is refused before anything
    //   changes.

    /// The peer's ICE restart offer waits for our answer: the agent keeps
    /// the current generation until that answer is applied.
    pub(super) fn remote_restart_waits(&self) -> bool {
        self.jsep.remote_ice_restart()
            && self.jsep.signaling_state() == SignalingState::HaveRemoteOffer
    }

    /// The agent remote candidates go to, or `None` while the peer's ICE
    /// restart offer waits for our answer: the candidates stay in JSEP's
    /// remote description, where the restart takes them from. Also `None`
    /// while the agent, restarted by us, waits for the peer's credentials
    /// of the new generation (our restart not offered or not answered
    /// yet): JSEP's remote description is still of the generation before,
    /// and its candidates and end-of-candidates are not the new check
    /// list's (RFC 8445 §9, RFC 8838 §8).
    pub(super) fn ice_for_remote_candidates(&mut self, now: Instant) -> Option<&mut Agent> {
        if self.remote_restart_waits() {
            return None;
        }
        let ice = ice_at(&mut self.ice, now)?;
        ice.remote_credentials().is_some().then_some(ice)
    }

    /// The local credentials of an answer to the peer's ICE restart offer
    /// (RFC 8839 §4.4.1.1.1: new ones): the agent's, when `restart_ice()`
    /// already restarted it for an offer of ours not made yet; else drawn
    /// now, for the agent to restart to when the answer is applied.
    pub(super) fn restart_answer_credentials(&mut self) -> IceCredentials {
        if self.restart_pending {
            return self.jsep_credentials();
        }
        self.drawn_restart_credentials()
    }

    /// Credentials drawn for a restart the agent has not made yet (see
    /// `restart_answer`), the same until the session is stable again.
    pub(super) fn drawn_restart_credentials(&mut self) -> IceCredentials {
        let c = self
            .restart_answer
            .get_or_insert_with(|| Box::new(Credentials::random(&mut self.rng)));
        IceCredentials::new(c.ufrag(), c.pwd())
    }

    /// The remote credentials and candidates of JSEP's remote description,
    /// in its first m-section in use (the bundle transport).
    fn remote_ice(&self) -> Option<RemoteIce> {
        let sdp = self.jsep.remote_sdp()?;
        let m = sdp.media.iter().find(|m| !m.is_rejected())?;
        let ufrag = m.ice_ufrag().or(sdp.ice_ufrag());
        let pwd = m.ice_pwd().or(sdp.ice_pwd());
        Some(RemoteIce {
            credentials: ufrag.zip(pwd).map(|(u, p)| (u.to_owned(), p.to_owned())),
            candidates: m.candidates().cloned().collect(),
            end: m.end_of_candidates(),
            lite: sdp.ice_lite(),
        })
    }

    /// Whether the agent's local credentials must follow JSEP's (a restart).
    fn local_credentials_lag(&self) -> bool {
        let jsep = self.jsep.local_ice_credentials();
        !self.restart_pending
            && self.ice.is_some()
            && (self.credentials.ufrag() != jsep.ufrag || self.credentials.pwd() != jsep.pwd)
    }

    /// Checks, before anything changes, that the agent can take what JSEP
    /// just accepted as the remote description; `setRemoteDescription`
    /// restores JSEP when it cannot (W3C webrtc-pc §4.4.1.6: a refused
    /// description changes nothing).
    pub(super) fn check_remote_ice(&self) -> Result<(), Error> {
        if self.remote_restart_waits() || self.local_credentials_lag() {
            return Ok(());
        }
        let Some((ufrag, pwd)) = self.remote_ice().and_then(|r| r.credentials) else {
            return Ok(());
        };
        let new = Credentials::new(&ufrag, &pwd)?;
        let known = self.ice.as_ref().and_then(Agent::remote_credentials);
        if known.is_some_and(|k| *k != new) {
            return Err(ferrtc_ice::Error::RemoteCredentialsChanged.into());
        }
        Ok(())
    }

    /// Brings the agent in step with JSEP after a description (local or
    /// remote, rollbacks included); `remote` says a remote description was
    /// just applied, whose candidates the agent takes. Fails only where
    /// [`Self::check_remote_ice`] said it would.
    pub(super) fn sync_ice(&mut self, now: Instant, remote: bool) -> Result<(), Error> {
        let state = self.jsep.signaling_state();
        if self.restart_pending {
            let jsep = self.jsep.local_ice_credentials();
            let answered = matches!(
                state,
                SignalingState::Stable | SignalingState::HaveLocalPranswer
            );
            if answered
                && self.credentials.ufrag() == jsep.ufrag
                && self.credentials.pwd() == jsep.pwd
            {
                // Our answer to the peer's restart carried the credentials
                // `restart_ice()` made: that restart is negotiated too.
                self.restart_pending = false;
                self.events.extend(self.held_candidates.drain(..));
            }
        }
        let mut restarted = false;
        if self.local_credentials_lag() {
            let jsep = self.jsep.local_ice_credentials();
            let credentials = Credentials::new(&jsep.ufrag, &jsep.pwd)?;
            if ice_at(&mut self.ice, now).is_some() {
                // What the agent did up to now is of the generation
                // before: it goes out under those credentials.
                self.process_ice();
            }
            if let Some(ice) = self.ice.as_mut() {
                ice.set_relay_only(self.config.ice.relay_only);
                ice.restart_with(now, credentials.clone())?;
                self.remote_generation = self.remote_generations.reserve();
            }
            self.local_generation = self.local_generations.number(credentials.ufrag());
            self.credentials = credentials;
            restarted = true;
        }
        if state == SignalingState::Stable {
            self.restart_answer = None;
        }
        // The remote description belongs to another generation than the
        // agent's while our restart (made or offered) waits for its answer
        // or the peer's restart offer waits for ours.
        let ours = match state {
            _ if self.restart_pending => false,
            SignalingState::HaveLocalOffer => false,
            SignalingState::HaveRemoteOffer => !self.remote_restart_waits(),
            _ => true,
        };
        let unset = self
            .ice
            .as_ref()
            .is_some_and(|a| a.remote_credentials().is_none());
        if ours && (remote || restarted || unset) {
            self.apply_remote_ice(now)?;
        }
        Ok(())
    }

    /// Gives ICE the remote credentials and the candidates of JSEP's remote
    /// description (RFC 8839 §5.1: non-trickle peers such as aiortc put
    /// them there, and trickled ones are kept there too).
    fn apply_remote_ice(&mut self, now: Instant) -> Result<(), Error> {
        let Some(remote) = self.remote_ice() else {
            return Ok(());
        };
        let Some(ice) = ice_at(&mut self.ice, now) else {
            return Ok(());
        };
        if let Some((ufrag, pwd)) = &remote.credentials {
            ice.set_remote_credentials(ufrag, pwd)?;
            self.remote_generation = self.remote_generations.number(ufrag);
        }
        if remote.lite {
            ice.set_remote_lite(true);
        }
        for c in remote.candidates {
            if let Err(e) = ice.add_remote_candidate(c) {
                tracing::debug!("remote SDP candidate ignored: {e}");
            }
        }
        if remote.end {
            ice.end_of_remote_candidates();
        }
        Ok(())
    }

    /// A datagram arrived from `source` on the local address `destination`.
    ///
    /// DTLS records are decrypted in place, inside `datagram` (its contents
    /// are garbage afterwards): the data path copies nothing per record.
    pub fn handle_receive(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        datagram: &mut [u8],
    ) {
        self.receive(
            now,
            ferrtc_ice::Protocol::Udp,
            source,
            destination,
            datagram,
        );
    }

    /// One message arrived on the TCP connection between `source` and the
    /// local candidate address `destination` (ICE-TCP, RFC 6544), its RFC
    /// 4571 length prefix removed: handled as [`Self::handle_receive`]
    /// handles a datagram.
    pub fn handle_receive_tcp(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        message: &mut [u8],
    ) {
        self.receive(now, ferrtc_ice::Protocol::Tcp, source, destination, message);
    }

    /// One TURN message (cut from the stream with
    /// `ferrtc_turn::StreamDecoder`) arrived from the TURN server `source`
    /// on the TCP connection opened for a [`ferrtc_ice::Protocol::TurnTcp`]
    /// transmit from `destination`.
    pub fn handle_receive_turn_tcp(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        message: &mut [u8],
    ) {
        self.receive(
            now,
            ferrtc_ice::Protocol::TurnTcp,
            source,
            destination,
            message,
        );
    }

    /// The ICE-TCP connection between the local candidate address `local`
    /// and `remote` closed or could not be opened (see
    /// [`ferrtc_ice::Agent::handle_tcp_closed`]).
    pub fn handle_tcp_closed(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr) {
        if let Some(ice) = self.ice.as_mut() {
            ice.handle_tcp_closed(now, local, remote);
        }
        self.process(now);
    }

    fn receive(
        &mut self,
        now: Instant,
        protocol: ferrtc_ice::Protocol,
        source: SocketAddr,
        destination: SocketAddr,
        datagram: &mut [u8],
    ) {
        self.stats.datagrams_received += 1;
        let Some(ice) = self.ice.as_mut() else {
            self.stats.dropped_datagrams += 1;
            return;
        };
        // ICE hands direct application data up whole, so what it passes
        // is `datagram` itself; data through a TURN relay comes unwrapped.
        let received = match protocol {
            ferrtc_ice::Protocol::Udp => ice.handle_receive(now, source, destination, datagram),
            ferrtc_ice::Protocol::Tcp => ice.handle_receive_tcp(now, source, destination, datagram),
            ferrtc_ice::Protocol::TurnTcp => {
                ice.handle_receive_turn_tcp(now, source, destination, datagram)
            }
        };
        match received {
            Receive::Data(_) => self.demux(now, datagram),
            Receive::Relayed(mut inner) => self.demux(now, &mut inner),
            Receive::Stun | Receive::Dropped(_) => {}
        }
        self.process(now);
    }

    /// RFC 7983 demultiplexing of application data from ICE.
    fn demux(&mut self, now: Instant, datagram: &mut [u8]) {
        match classify(datagram) {
            Demux::Dtls => self.handle_dtls(now, datagram),
            Demux::Rtp => self.handle_rtp(now, datagram),
            Demux::Stun | Demux::Other => self.stats.dropped_datagrams += 1,
        }
    }

    /// A DTLS datagram: its application records (SCTP packets) go to the
    /// channels straight from the decrypted bytes in `datagram`.
    fn handle_dtls(&mut self, now: Instant, datagram: &mut [u8]) {
        let Some(dtls) = self.dtls.as_mut() else {
            if self.early_dtls.len() < MAX_EARLY_DTLS {
                self.early_dtls.push_back(datagram.to_vec());
            } else {
                self.stats.dropped_datagrams += 1;
            }
            return;
        };
        dtls.handle_receive_in_place(now, datagram);
        while let Some(record) = dtls.poll_application_data() {
            if let Err(e) = self.channels.handle_receive(now, &datagram[record]) {
                tracing::debug!("SCTP packet dropped: {e}");
            }
        }
    }

    /// The engines' outbound order (see "Drive contract": a media pacer
    /// sits after this, between `poll_transmit` and the socket).
    pub(super) fn next_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
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
            // Media (RTP protected as it leaves, RTCP when it was
            // queued): after DTLS's own records, before SCTP (paced when
            // `MediaConfig::pacing`).
            if dtls.state() == TransportState::Connected && self.media.poll_transmit(now, buf) {
                match ice.send(buf) {
                    Ok(t) => return Some(t),
                    Err(e) => {
                        tracing::trace!("SRTP datagram not sent: {e}");
                        continue;
                    }
                }
            }
            self.channels.poll_transmit(now, &mut self.scratch)?;
            // Sealed straight into the datagram buffer.
            buf.clear();
            if let Err(e) = dtls.send_application_data_into(&self.scratch, buf) {
                tracing::debug!("SCTP packet not sent: {e}");
                return None;
            }
            match ice.send(buf) {
                Ok(t) => return Some(t),
                Err(e) => tracing::trace!("SCTP packet not sent: {e}"),
            }
        }
    }

    pub(super) fn process_ice(&mut self) -> bool {
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
                    if self.restart_pending {
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
                        if self.restart_pending {
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
                    // The pair is of the generation of the ufrags it was
                    // selected under (a rollback restores old ones, and
                    // their numbers).
                    let generation = match ice.selected_pair_ufrags() {
                        Some((local, remote)) => (
                            self.local_generations.number(local),
                            self.remote_generations.number(remote),
                        ),
                        None => self.selected_generation,
                    };
                    self.selected_generation = generation;
                }
                ferrtc_ice::Event::CandidateError { server, code, text } => {
                    tracing::warn!("TURN server {server}: no relayed candidate: {code} {text}");
                    self.events.push_back(Event::IceCandidateError {
                        server,
                        error_code: code,
                        error_text: text,
                    });
                }
                _ => {}
            }
        }
        moved
    }

    /// RFC 8842 §5.5: other fingerprints in a later description would mean
    /// a new DTLS association, which a peer connection does not make here.
    /// Once DTLS runs, a remote description must carry exactly the
    /// fingerprints it is pinned to (and so an `a=identity` in it covers the
    /// certificate DTLS accepts).
    pub(super) fn check_remote_fingerprints(&self, desc: &SessionDescription) -> Result<(), Error> {
        let Some(pinned) = self.dtls.as_ref().and_then(Dtls::expected_fingerprints) else {
            return Ok(());
        };
        if desc.kind == SdpType::Rollback {
            return Ok(());
        }
        // SDP that does not parse is JSEP's to refuse, with its line.
        let Ok(sdp) = ferrtc_sdp::parse_bytes(desc.sdp.as_bytes(), &self.config.sdp_limits) else {
            return Ok(());
        };
        // The fingerprints JSEP pins are the transport (BUNDLE-tagged)
        // section's own, or else the session's (RFC 8122 §5, RFC 9143 §7):
        // those must name the pinned set, as must those of every other
        // section that names its own (a section without rides the
        // transport).
        let matches = |listed: &[ferrtc_sdp::Fingerprint]| {
            let offered = dtls_fingerprints(listed);
            offered.iter().all(|f| pinned.contains(f)) && pinned.iter().all(|f| offered.contains(f))
        };
        let tagged = sdp
            .bundle_groups()
            .next()
            .and_then(|g| g.mids.first())
            .and_then(|mid| sdp.media.iter().position(|m| m.mid() == Some(mid.as_str())))
            .or_else(|| sdp.media.iter().position(|m| !m.is_rejected()));
        let mut named: Vec<Vec<ferrtc_sdp::Fingerprint>> = sdp
            .media
            .iter()
            .filter(|m| !m.is_rejected())
            .map(|m| m.fingerprints().cloned().collect::<Vec<_>>())
            .filter(|own| !own.is_empty())
            .collect();
        let tagged_has_own = tagged
            .and_then(|i| sdp.media.get(i))
            .is_some_and(|m| m.fingerprints().next().is_some());
        if !tagged_has_own {
            named.push(sdp.fingerprints().cloned().collect());
        }
        let same = named.iter().all(|listed| matches(listed));
        if same {
            Ok(())
        } else {
            Err(Error::InvalidAccess {
                message: "the remote description changes the DTLS fingerprints of a running DTLS transport".into(),
                source: None,
            })
        }
    }

    /// The DTLS server starts as soon as the roles are known; the client
    /// once ICE has a pair to send its ClientHello on (else the first
    /// flight would be lost and wait a full retransmission timeout).
    pub(super) fn maybe_start_dtls(&mut self, now: Instant) -> bool {
        if self.dtls.is_some() || self.dtls_failed || self.closed {
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
        let fingerprints = dtls_fingerprints(&transport.remote_fingerprints);
        // The DTLS engine draws its randomness from the system unless
        // `config.dtls.rng_seed` asks otherwise: seeding it per connection
        // would make every connection build its own engine configuration.
        match Dtls::new(
            &self.config.dtls,
            &self.certificate,
            role,
            now,
            self.wall_clock(now),
        ) {
            Ok(mut dtls) => {
                dtls.expect_remote_fingerprints(fingerprints);
                while let Some(d) = self.early_dtls.pop_front() {
                    dtls.handle_receive(now, &d);
                }
                self.dtls = Some(dtls);
            }
            Err(e) => {
                // The transport is failed (its certificate expired since
                // the connection was made, say), which makes the
                // connection `failed` (W3C webrtc-pc §4.3.3), not closed:
                // `close()` is the application's to call, and closes
                // every state as it does from any other.
                tracing::warn!("DTLS transport not created: {e}");
                self.dtls_failed = true;
            }
        }
        true
    }

    pub(super) fn process_dtls(&mut self, now: Instant) -> bool {
        let Some(dtls) = self.dtls.as_mut() else {
            return false;
        };
        let mut moved = false;
        let mut peer_closed = false;
        while let Some(ev) = dtls.poll_event() {
            moved = true;
            match ev {
                ferrtc_dtls::Event::Connected { srtp, .. } => {
                    tracing::debug!("DTLS connected as {:?}", dtls.role());
                    self.dtls_connected_once = true;
                    // RFC 5764 §4.2: the exported keys key SRTP both ways.
                    if let Some(keys) = srtp {
                        self.media.start_srtp(now, &keys);
                    }
                    if self.jsep.transport().is_some_and(|t| t.sctp.is_some())
                        && !self.channels.is_started()
                    {
                        let mut config = self.config.sctp.clone();
                        config.local_port = self.jsep.config().sctp_port;
                        config.remote_port = self.sctp_remote_port;
                        config.max_message_size = self.config.max_message_size;
                        // RFC 8841 §5 / RFC 8831 §6.2: both sides send INIT
                        // (simultaneous open works).
                        let sctp = Association::with_rng(config, StdRng::from_rng(&mut self.rng));
                        self.channels.start_with(now, sctp);
                    }
                }
                ferrtc_dtls::Event::ApplicationData(record) => {
                    if let Err(e) = self.channels.handle_receive(now, &record) {
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
            self.channels.handle_transport_close(now);
        }
        moved
    }
}

/// The ICE agent with its clock brought to `now` ("time reached now"), so
/// that what a call starts in it, a STUN transaction to a server (RFC 8489
/// §6.2.1) say, counts its timeouts from the true time: the agent otherwise
/// keeps the time of its last input, which may be long past.
pub(super) fn ice_at(ice: &mut Option<Agent>, now: Instant) -> Option<&mut Agent> {
    let ice = ice.as_mut()?;
    ice.handle_timeout(now);
    Some(ice)
}

/// The SDP fingerprints (RFC 8122) DTLS can pin to; those with a hash
/// function DTLS does not know are left out.
fn dtls_fingerprints(listed: &[ferrtc_sdp::Fingerprint]) -> Vec<ferrtc_dtls::Fingerprint> {
    let mut out = Vec::new();
    for f in listed {
        let hash = f.hash.normalized();
        match HashAlgorithm::from_name(hash.as_str())
            .map(|a| ferrtc_dtls::Fingerprint::new(a, f.digest()))
        {
            Some(Ok(fp)) => {
                if !out.contains(&fp) {
                    out.push(fp);
                }
            }
            _ => tracing::debug!("remote fingerprint {} ignored", hash.as_str()),
        }
    }
    out
}

/// Numbers for the ICE generations one side's ufrags name (RFC 8445 §9:
/// each restart brings new credentials): a ufrag seen before keeps its
/// number, a new one takes the next. Only the few last used are
/// remembered (a ufrag forgotten and seen again takes a new number: its
/// objects get new ids, never the ids of others).
#[derive(Debug, Default)]
pub(super) struct IceGenerations {
    /// Ufrags and their numbers, the last used last.
    known: std::collections::VecDeque<(String, u32)>,
    next: u32,
    reserved: Option<u32>,
}

impl IceGenerations {
    /// Ufrags remembered: the one in use, the selected pair's, and a few
    /// a rollback may restore.
    const KEPT: usize = 8;

    /// A number for credentials not known yet (the peer's, between a
    /// restart of ours and its answer): the first new ufrag
    /// [`Self::number`] sees takes it.
    pub(super) fn reserve(&mut self) -> u32 {
        let n = self.next;
        self.next = self.next.wrapping_add(1);
        self.reserved = Some(n);
        n
    }

    /// The number of the generation of `ufrag`.
    pub(super) fn number(&mut self, ufrag: &str) -> u32 {
        let entry = match self.known.iter().position(|(u, _)| u == ufrag) {
            Some(i) => self.known.remove(i),
            None => None,
        };
        let entry = entry
            .or_else(|| self.reserved.take().map(|n| (ufrag.to_owned(), n)))
            .unwrap_or_else(|| {
                let n = self.next;
                self.next = self.next.wrapping_add(1);
                (ufrag.to_owned(), n)
            });
        let n = entry.1;
        if self.known.len() == Self::KEPT {
            self.known.pop_front();
        }
        self.known.push_back(entry);
        n
    }
}

#[cfg(test)]
mod ice_generation_tests {
    use super::IceGenerations;

    /// RFC 8445 §9: each restart brings new credentials, so a new ufrag is
    /// a new generation; the few last used keep their numbers, and a
    /// ufrag forgotten (the least recently used past 8) takes a new number
    /// when seen again, never one another generation had.
    #[test]
    fn past_eight_ufrags_the_least_recently_used_is_forgotten_and_renumbered() {
        let mut g = IceGenerations::default();
        for i in 0..8 {
            assert_eq!(g.number(&format!("u{i}")), i);
        }
        // Used again: the most recently used now, u1 the least.
        assert_eq!(g.number("u0"), 0);
        assert_eq!(g.number("u8"), 8);
        assert_eq!(g.number("u0"), 0, "kept: used after u1");
        for i in 2..=8 {
            assert_eq!(g.number(&format!("u{i}")), i, "u{i} kept");
        }
        assert_eq!(g.number("u1"), 9, "forgotten: a new number, not 1 again");
        assert_eq!(g.number("u9"), 10);
    }

    /// RFC 8829 §4.1.10.2: a rollback of our restart restores the
    /// credentials before it, and with them their generation's number
    /// (both ours and the peer's); the rolled-back generation's numbers
    /// are not handed out again.
    #[test]
    fn a_rolled_back_restart_keeps_the_old_numbers() {
        let (mut local, mut remote) = (IceGenerations::default(), IceGenerations::default());
        assert_eq!(local.number("mine0"), 0);
        assert_eq!(remote.number("theirs0"), 0);
        // Our restart: new local credentials, the peer's number reserved.
        assert_eq!(local.number("mine1"), 1);
        assert_eq!(remote.reserve(), 1);
        // Rolled back: the old credentials are in use again.
        assert_eq!(local.number("mine0"), 0);
        assert_eq!(remote.number("theirs0"), 0);
        // The next restart is a generation of its own on each side.
        assert_eq!(local.number("mine2"), 2);
        let reserved = remote.reserve();
        assert_eq!(remote.number("theirs2"), reserved);
        assert!(reserved > 0, "not the restored generation's number");
        assert_eq!(remote.number("theirs0"), 0);
    }

    /// Our restart reserves the peer's next number before its answer
    /// brings its new ufrag: until then the old ufrag (the selected pair's,
    /// still in use) keeps its number, and the answer's ufrag takes the
    /// reserved one; the next new ufrag takes the one after.
    #[test]
    fn after_our_restart_the_answers_ufrag_takes_the_reserved_number() {
        let mut remote = IceGenerations::default();
        assert_eq!(remote.number("theirs0"), 0);
        let reserved = remote.reserve();
        assert_eq!(reserved, 1);
        assert_eq!(remote.number("theirs0"), 0, "the old generation's pair");
        assert_eq!(remote.number("theirs1"), reserved);
        assert_eq!(remote.number("theirs1"), reserved);
        assert_eq!(remote.number("theirs2"), 2);
    }
}
