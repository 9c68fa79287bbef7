//! `RTCPeerConnection` handles.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ferrtc_core::{Config as CoreConfig, PeerConnection as Core};
use tokio::sync::{Mutex, oneshot};

pub use ferrtc_core::{
    DtlsTransportState, IceCandidateInit, IceConnectionState, IceGatheringState,
    PeerConnectionState, SdpType, SessionDescription, SignalingState, Stats, StatsReport,
};

use crate::Error;
use crate::config::{Configuration, IceTransportPolicy};
use crate::data_channel::{DataChannel, DataChannelInit};
use crate::driver::{Command, CommandQueue, Descriptions, Driver, StunUpdate};
use crate::events::{Hub, QueueLimit, Subscription, Weight};
use crate::identity::{IdentityCommand, Published};
use crate::mdns::Mdns;
use crate::net::{Sockets, TcpSockets, local_addresses};
use crate::stun::{self, StunServers};
use ferrtc_core::{IdentityAssertion, IdentityOptions, IdentityProvider, PeerIdentityState};

/// An event of a peer connection (W3C `icecandidate`, the state change
/// events, `negotiationneeded`, `datachannel`, `track`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum PeerConnectionEvent {
    /// `icecandidate`; an empty `candidate` means end of candidates.
    IceCandidate(IceCandidateInit),
    /// `icegatheringstatechange`.
    IceGatheringStateChange(IceGatheringState),
    /// `iceconnectionstatechange`.
    IceConnectionStateChange(IceConnectionState),
    /// The send-side bandwidth estimate (W3C `availableOutgoingBitrate`,
    /// in bits per second) moved by 10 % or more since the last such event:
    /// pick layers or encoder bitrates from it. Only when transport-cc is
    /// negotiated (ferrtc and browsers offer it).
    #[doc(alias = "availableOutgoingBitrate")]
    AvailableOutgoingBitrate(u64),
    /// `icecandidateerror` (W3C `RTCPeerConnectionIceErrorEvent`): a TURN
    /// server gave no relayed candidate.
    #[doc(alias = "RTCPeerConnectionIceErrorEvent")]
    IceCandidateError {
        /// The server's address (W3C `url` names it by URL).
        server: std::net::SocketAddr,
        /// `errorCode`: the server's STUN error code (401: wrong
        /// credentials), or 701 when it did not answer.
        error_code: u16,
        /// `errorText`.
        error_text: String,
    },
    /// `connectionstatechange`.
    ConnectionStateChange(PeerConnectionState),
    /// The DTLS transport's `statechange` (W3C `RTCDtlsTransport`):
    /// `Closed` when the peer's close_notify arrived, the peer's `close()`
    /// (the connection state stays `connected` until ICE consent runs out,
    /// W3C webrtc-pc §4.3.3): end the session there.
    #[doc(alias = "RTCDtlsTransport")]
    DtlsStateChange(DtlsTransportState),
    /// `signalingstatechange`.
    SignalingStateChange(SignalingState),
    /// `negotiationneeded`.
    NegotiationNeeded,
    /// `datachannel`: the peer opened a channel.
    DataChannel(DataChannel),
    /// `track` (W3C `RTCTrackEvent`): the peer sends on a transceiver; its
    /// receiver's frames follow. Boxed: every queued event is as large as
    /// the largest variant, and a data-only connection queues many.
    Track(Box<crate::TrackEvent>),
    /// This subscription fell behind: past [`PeerConnectionEvents::MAX_UNREAD`]
    /// unread events its oldest unread ones were dropped, this many, right
    /// before the event that follows (as tokio's broadcast `Lagged`). The
    /// current states are still at hand (`connection_state()`, ...).
    Lagged(u64),
}

/// See [`PeerConnectionEvents::MAX_UNREAD`].
const EVENT_QUEUE_LIMIT: QueueLimit = QueueLimit {
    events: PeerConnectionEvents::MAX_UNREAD,
    bytes: usize::MAX,
    keyframes: false,
};

/// A connection's event as its hub queues it: with the count of events the
/// subscription dropped right before it.
#[derive(Debug, Clone)]
pub(crate) struct QueuedEvent {
    event: PeerConnectionEvent,
    dropped_before: u64,
}

impl From<PeerConnectionEvent> for QueuedEvent {
    fn from(event: PeerConnectionEvent) -> Self {
        QueuedEvent {
            event,
            dropped_before: 0,
        }
    }
}

impl Weight for QueuedEvent {
    /// A connection's events come in short bursts (setup, state changes)
    /// far apart: a drained queue gives all its room back, which a server
    /// holding thousands of idle connections would otherwise pay for each.
    const KEEP_DRAINED: usize = 0;

    fn weight(&self) -> usize {
        0
    }

    fn dropped_before(&self) -> u64 {
        self.dropped_before
    }

    fn set_dropped_before(&mut self, n: u64) {
        self.dropped_before = n;
    }
}

/// The hub of a connection's events: bounded, so that a subscription
/// nobody reads cannot grow without end.
fn event_hub() -> Arc<Hub<QueuedEvent>> {
    Arc::new(Hub::bounded(&EVENT_QUEUE_LIMIT))
}

/// The four states at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct States {
    pub(crate) signaling: SignalingState,
    pub(crate) ice_connection: IceConnectionState,
    pub(crate) ice_gathering: IceGatheringState,
    pub(crate) connection: PeerConnectionState,
    pub(crate) dtls: Option<DtlsTransportState>,
}

/// A WebRTC peer connection (W3C `RTCPeerConnection`) on tokio.
///
/// One task per connection owns the sans-IO [`ferrtc_core::PeerConnection`]
/// and the UDP sockets; this handle talks to it over channels. Handles are
/// cheap to clone and `Send`; dropping the last one closes the connection.
/// Events come from [`PeerConnection::next_event`], never from callbacks.
///
/// # Events
///
/// Each handle *value* is a subscriber of its own, from its first
/// [`next_event`](Self::next_event): it gets every event from then on,
/// and no other handle (clone or not) takes them from it. A clone starts
/// with no subscription, so clones used only for calls hold nothing. The
/// first subscription of a connection also gets the events that came
/// before any (candidates gathered before anyone listened are not lost).
/// [`subscribe`](Self::subscribe) makes a subscription at a chosen moment.
/// Every subscription gets its own handle of each remote
/// [`DataChannel`](PeerConnectionEvent::DataChannel).
///
/// ```no_run
/// # async fn demo() -> Result<(), ferrtc::Error> {
/// use ferrtc::{Configuration, DataChannelInit, PeerConnection};
/// let pc = PeerConnection::new(Configuration::default())?;
/// let channel = pc.create_data_channel("chat", DataChannelInit::default()).await?;
/// let offer = pc.create_offer().await?;
/// pc.set_local_description(Some(offer.clone())).await?;
/// // ... send `offer` to the peer, apply its answer and candidates ...
/// channel.wait_open().await?;
/// channel.send_text("hello").await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[doc(alias = "RTCPeerConnection")]
pub struct PeerConnection {
    inner: Arc<Inner>,
    /// This handle value's subscription, made by its first `next_event`.
    events: Mutex<Option<PeerConnectionEvents>>,
}

impl Clone for PeerConnection {
    /// Another handle of the connection, without a subscription yet.
    fn clone(&self) -> Self {
        PeerConnection {
            inner: Arc::clone(&self.inner),
            events: Mutex::new(None),
        }
    }
}

/// A subscription to a connection's events, from
/// [`PeerConnection::subscribe`].
#[derive(Debug)]
pub struct PeerConnectionEvents {
    events: Subscription<QueuedEvent>,
    /// The event after a [`PeerConnectionEvent::Lagged`] just returned.
    after_gap: Option<PeerConnectionEvent>,
}

impl PeerConnectionEvents {
    /// Events one subscription of a connection (and the backlog kept for
    /// the first one) holds unread at most; past it the oldest go, and the
    /// reader learns how many from [`PeerConnectionEvent::Lagged`].
    pub const MAX_UNREAD: usize = 1024;

    fn new(events: Subscription<QueuedEvent>) -> Self {
        PeerConnectionEvents {
            events,
            after_gap: None,
        }
    }

    /// The next event; `None` once the connection's task has ended.
    /// [`PeerConnectionEvent::Lagged`] comes where events were dropped.
    ///
    /// Cancel-safe: an event is taken only by the poll that returns it.
    pub async fn recv(&mut self) -> Option<PeerConnectionEvent> {
        if let Some(event) = self.after_gap.take() {
            return Some(event);
        }
        let queued = self.events.recv().await?;
        if queued.dropped_before > 0 {
            self.after_gap = Some(queued.event);
            return Some(PeerConnectionEvent::Lagged(queued.dropped_before));
        }
        Some(queued.event)
    }
}

#[derive(Debug)]
struct Inner {
    commands: Arc<CommandQueue>,
    events: Arc<Hub<QueuedEvent>>,
    /// The configuration of the latest `setConfiguration` the task
    /// applied (stored by the task as it applies it, so that a call whose
    /// future was dropped after sending still counts); also held while a
    /// call takes its generation and sends its command, so that the task
    /// sees configurations in generation order.
    configuration: Arc<std::sync::Mutex<Applied>>,
    /// Counts `setConfiguration` calls: STUN lookups still running for an
    /// earlier configuration do not override a later one.
    stun_generation: AtomicU64,
    /// The peer identity as of the last remote description (W3C
    /// `peerIdentity`), which `peer_identity()` waits on.
    identity: tokio::sync::watch::Sender<Published>,
}

/// A configuration and the generation it was applied as.
#[derive(Debug)]
pub(crate) struct Applied {
    pub(crate) generation: u64,
    pub(crate) configuration: Configuration,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The last handle is gone: the task ends after what is queued.
        self.commands.hang_up();
        // Nobody can subscribe any more: drop what waited for a first one.
        // The task, ending with the last handle, ends the subscriptions.
        self.events.drop_backlog();
    }
}

impl PeerConnection {
    /// Creates a connection: binds one UDP socket per local address
    /// (loopback included) and spawns its task. Must be called inside a
    /// tokio runtime. Returns at once: STUN servers given by name are
    /// looked up in the background and used once found (see
    /// [`IceServer`](crate::IceServer)).
    pub fn new(configuration: Configuration) -> Result<Self, Error> {
        let mut stun = StunServers::of(&configuration)?;
        if configuration.udp_mux.is_some() && configuration.host_addresses.is_empty() {
            // Every connection on a mux would allocate from the same
            // 5-tuple (the server answers 437), and the mux routes the
            // server's datagrams to one of them.
            stun.drop_turn("a UdpMux without host_addresses of its own");
        }
        let mut config = CoreConfig::default();
        config.rng_seed = configuration.seed;
        config.certificate = configuration.certificates.first().cloned();
        config.bundle_policy = configuration.bundle_policy;
        config.stun_servers = stun.ready.clone();
        config.turn_servers = stun.turn_ready.clone();
        config.ice.relay_only = configuration.ice_transport_policy == IceTransportPolicy::Relay;
        config.peer_identity = configuration.peer_identity.clone();
        config.media.pacing = !configuration.unpaced_media;
        let mut core = Core::new(
            config,
            std::time::Instant::now(),
            std::time::SystemTime::now(),
        )?;
        let mux = configuration.udp_mux.as_ref().map(crate::UdpMux::port);
        let addresses = if !configuration.host_addresses.is_empty() {
            configuration.host_addresses.clone()
        } else if mux.is_some() {
            Vec::new()
        } else {
            local_addresses()
        };
        let mut sockets = Sockets::bind(&addresses, mux)?;
        // With the relay policy the sockets still reach the TURN servers;
        // the agent keeps their host candidates to itself. UDP before TCP:
        // the peer gets (and pairs) the better candidates first, so a valid
        // TCP pair cannot be nominated before a UDP pair could form (RFC
        // 6544 §4.2 ranks TCP below UDP), and TCP alone meets the agent's
        // limit of host candidates.
        for addr in sockets.local_addrs() {
            core.add_local_host(std::time::Instant::now(), addr)?;
        }
        // Under the relay policy host candidates are never used: no listener.
        let relay_only = configuration.ice_transport_policy == IceTransportPolicy::Relay;
        let tcp = (configuration.tcp_candidates && !relay_only).then(|| {
            let tcp = TcpSockets::listen(&addresses);
            for listener in tcp.listeners() {
                if let Err(e) = core.add_local_tcp(std::time::Instant::now(), *listener) {
                    tracing::debug!("TCP candidate on {listener} not used: {e}");
                }
            }
            Box::new(tcp)
        });
        let (tx, rx) = CommandQueue::new_pair();
        let events = event_hub();
        let mdns = Mdns::new(&configuration)?;
        let identity = tokio::sync::watch::Sender::new(Published::default());
        let applied = Arc::new(std::sync::Mutex::new(Applied {
            generation: 0,
            configuration,
        }));
        sockets.tcp = tcp;
        sockets.set_tls_servers(stun.tls_ready());
        if stun.lookups_pending() {
            core.hold_gathering(std::time::Instant::now(), true);
        }
        let driver = Driver::new(
            core,
            sockets,
            mdns,
            rx,
            Arc::clone(&events),
            identity.clone(),
            Arc::clone(&applied),
        );
        // Boxed: the task then holds a pointer, not a second copy of the
        // ~13 KB core that an async fn keeps for its by-value argument.
        tokio::spawn(crate::driver::run_task(Box::new(driver)));
        stun::spawn_lookups(stun, 0, Arc::downgrade(&tx));
        Ok(PeerConnection {
            inner: Arc::new(Inner {
                commands: tx,
                events,
                configuration: applied,
                stun_generation: AtomicU64::new(0),
                identity,
            }),
            events: Mutex::new(None),
        })
    }

    /// The connection's command queue.
    pub(crate) fn commands(&self) -> &Arc<CommandQueue> {
        &self.inner.commands
    }

    pub(crate) async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, Error>>) -> Command,
    ) -> Result<T, Error> {
        let (tx, rx) = oneshot::channel();
        self.inner
            .commands
            .send(make(tx))
            .map_err(|_| self.ended_error())?;
        rx.await.map_err(|_| self.ended_error())?
    }

    /// The error of a call the connection's task did not answer.
    fn ended_error(&self) -> Error {
        self.inner.commands.ended_error()
    }

    async fn get<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T, Error> {
        let (tx, rx) = oneshot::channel();
        self.inner
            .commands
            .send(make(tx))
            .map_err(|_| self.ended_error())?;
        rx.await.map_err(|_| self.ended_error())
    }

    /// `createOffer()`.
    pub async fn create_offer(&self) -> Result<SessionDescription, Error> {
        self.ask(Command::CreateOffer).await
    }

    /// `createAnswer()`.
    pub async fn create_answer(&self) -> Result<SessionDescription, Error> {
        self.ask(Command::CreateAnswer).await
    }

    /// `setLocalDescription()`; `None` is the parameterless form.
    pub async fn set_local_description(
        &self,
        desc: Option<SessionDescription>,
    ) -> Result<(), Error> {
        self.ask(|r| Command::SetLocal(desc.map(Box::new), r)).await
    }

    /// `setRemoteDescription()`. Its `a=identity`, if any, is validated
    /// first (W3C webrtc-identity §9.5): with
    /// [`Configuration::peer_identity`] set, a description without one that
    /// validates to that identity is refused with an `OperationError`;
    /// [`peer_identity`](Self::peer_identity) then resolves or fails.
    pub async fn set_remote_description(&self, desc: SessionDescription) -> Result<(), Error> {
        self.ask(|r| Command::SetRemote(Box::new(desc), r)).await
    }

    /// W3C `setIdentityProvider(provider, options)` (webrtc-identity §9.6):
    /// the identity provider (IdP) that asserts our identity in the offers
    /// and answers created from now on (`a=identity`, RFC 8827 §7.4) and
    /// validates the peer's. The IdP runs on the connection's task, inside
    /// the calls that need it: it must not block for long (see
    /// [`IdentityProvider`]).
    #[doc(alias = "setIdentityProvider")]
    pub async fn set_identity_provider(
        &self,
        provider: Arc<dyn IdentityProvider>,
        options: IdentityOptions,
    ) -> Result<(), Error> {
        self.ask(|r| {
            Command::Identity(Box::new(IdentityCommand::SetProvider(provider, options, r)))
        })
        .await
    }

    /// W3C `getIdentityAssertion()` (webrtc-identity §9.6): our identity
    /// assertion as `a=identity` carries it (the base64 JSON of RFC 8827
    /// §7.4), made by the IdP over our certificate's fingerprints. Fails
    /// with an `OperationError` when no IdP is set or the IdP fails
    /// ([`ferrtc_core::Error::identity_error`] gives why).
    #[doc(alias = "getIdentityAssertion")]
    pub async fn get_identity_assertion(&self) -> Result<String, Error> {
        self.ask(|r| Command::Identity(Box::new(IdentityCommand::GetAssertion(r))))
            .await
    }

    /// W3C `peerIdentity` (webrtc-identity §9.6): resolves with the peer's
    /// identity once a remote description's `a=identity` validated and its
    /// contents cover the peer's DTLS fingerprints; at once if that
    /// happened already. Any number of handles (clones) may wait at once;
    /// all resolve.
    ///
    /// Fails when the validation it waits for fails (an `OperationError`
    /// whose [`identity_error`](ferrtc_core::Error::identity_error) says
    /// why; as the W3C promise is then replaced by a new one, a later call
    /// waits for the next description) and with [`Error::Closed`] when the
    /// connection is closed ([`Error::TaskPanicked`] if its task panicked).
    #[doc(alias = "peerIdentity")]
    pub async fn peer_identity(&self) -> Result<IdentityAssertion, Error> {
        let mut published = self.inner.identity.subscribe();
        let mut waited = false;
        loop {
            {
                let now = published.borrow_and_update();
                if let PeerIdentityState::Validated(a) = &now.state {
                    return Ok(a.clone());
                }
                if now.closed {
                    return Err(self.ended_error());
                }
                if let (PeerIdentityState::Failed(e), true) = (&now.state, waited) {
                    return Err(ferrtc_core::Error::from(e.clone()).into());
                }
            }
            waited = true;
            if published.changed().await.is_err() {
                return Err(self.ended_error());
            }
        }
    }

    /// `addIceCandidate()`; an empty `candidate` means end of candidates.
    pub async fn add_ice_candidate(&self, candidate: IceCandidateInit) -> Result<(), Error> {
        self.ask(|r| Command::AddIceCandidate(Box::new(candidate), r))
            .await
    }

    /// `createDataChannel()`.
    pub async fn create_data_channel(
        &self,
        label: &str,
        init: DataChannelInit,
    ) -> Result<DataChannel, Error> {
        let label = label.to_owned();
        self.ask(|r| Command::CreateDataChannel(Box::new((label, init)), r))
            .await
    }

    /// `restartIce()`: new ICE credentials for the next offer, which
    /// `negotiationneeded` asks for.
    pub async fn restart_ice(&self) -> Result<(), Error> {
        self.ask(Command::RestartIce).await
    }

    /// The next event of this handle value's subscription (made by the
    /// first call; see [Events](Self#events)); `None` once the
    /// connection's task has ended.
    pub async fn next_event(&self) -> Option<PeerConnectionEvent> {
        let mut events = self.events.lock().await;
        events.get_or_insert_with(|| self.subscribe()).recv().await
    }

    /// A new subscription: every event of the connection from now on (and
    /// those that came before any subscription, if it is the first).
    ///
    /// A subscription holds at most [`PeerConnectionEvents::MAX_UNREAD`] unread
    /// events (so does the backlog before the first): past it the oldest
    /// unread ones are dropped and the reader gets a
    /// [`PeerConnectionEvent::Lagged`] with their count before the next
    /// one. Read it, or drop it when no longer wanted.
    pub fn subscribe(&self) -> PeerConnectionEvents {
        PeerConnectionEvents::new(self.inner.events.subscribe())
    }

    async fn descriptions(&self) -> Result<Descriptions, Error> {
        self.get(Command::Descriptions).await
    }

    /// `localDescription`.
    pub async fn local_description(&self) -> Option<SessionDescription> {
        self.descriptions().await.ok()?.local
    }

    /// `remoteDescription`.
    pub async fn remote_description(&self) -> Option<SessionDescription> {
        self.descriptions().await.ok()?.remote
    }

    /// `currentLocalDescription`.
    pub async fn current_local_description(&self) -> Option<SessionDescription> {
        self.descriptions().await.ok()?.current_local
    }

    /// `pendingLocalDescription`.
    pub async fn pending_local_description(&self) -> Option<SessionDescription> {
        self.descriptions().await.ok()?.pending_local
    }

    /// `currentRemoteDescription`.
    pub async fn current_remote_description(&self) -> Option<SessionDescription> {
        self.descriptions().await.ok()?.current_remote
    }

    /// `pendingRemoteDescription`.
    pub async fn pending_remote_description(&self) -> Option<SessionDescription> {
        self.descriptions().await.ok()?.pending_remote
    }

    async fn states(&self) -> Option<States> {
        self.get(Command::States).await.ok()
    }

    /// `signalingState` (`Closed` once the task has ended).
    pub async fn signaling_state(&self) -> SignalingState {
        self.states()
            .await
            .map_or(SignalingState::Closed, |s| s.signaling)
    }

    /// `iceConnectionState`.
    pub async fn ice_connection_state(&self) -> IceConnectionState {
        self.states()
            .await
            .map_or(IceConnectionState::Closed, |s| s.ice_connection)
    }

    /// `iceGatheringState`.
    pub async fn ice_gathering_state(&self) -> IceGatheringState {
        self.states()
            .await
            .map_or(IceGatheringState::Complete, |s| s.ice_gathering)
    }

    /// `connectionState`.
    pub async fn connection_state(&self) -> PeerConnectionState {
        self.states()
            .await
            .map_or(PeerConnectionState::Closed, |s| s.connection)
    }

    /// The DTLS transport's `state` (W3C webrtc-pc §5.5
    /// `RTCDtlsTransport.state`, the one transport every sender, receiver
    /// and the SCTP transport share under BUNDLE); `None` while it is
    /// `new` (no description has made it yet). `Closed` after the peer's
    /// `close_notify` while [`connection_state`](Self::connection_state)
    /// stays `connected`, and once this side is closed.
    pub async fn dtls_state(&self) -> Option<DtlsTransportState> {
        match self.states().await {
            Some(s) => s.dtls,
            None => Some(DtlsTransportState::Closed),
        }
    }

    /// `getStats()`: W3C webrtc-stats objects by id; `to_json()` gives the
    /// JSON a browser gives for `Object.fromEntries(await pc.getStats())`.
    /// Once the connection is closed, the report it ended with (W3C
    /// webrtc-pc §8.2: `getStats()` is the one method a closed connection
    /// still answers).
    pub async fn get_stats(&self) -> Result<StatsReport, Error> {
        match self.get(Command::GetStats).await {
            Err(Error::Closed) => self.inner.commands.final_stats().ok_or(Error::Closed),
            // No report: the core that panicked cannot give one.
            r => r,
        }
    }

    /// `getConfiguration()`.
    pub fn get_configuration(&self) -> Configuration {
        self.lock_configuration().configuration.clone()
    }

    fn lock_configuration(&self) -> std::sync::MutexGuard<'_, Applied> {
        // Only plain stores happen under the lock: a panic leaves it whole.
        self.inner
            .configuration
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// `setConfiguration()` (W3C webrtc-pc §4.4.1.7): the ICE servers may
    /// change (new STUN servers are queried at once; those given by name
    /// once looked up, in the background); the bundle policy, the RTCP mux
    /// policy, the certificates, the seed, the peer identity,
    /// `mdns_host_candidates`, `tcp_candidates` and `unpaced_media` may not
    /// ([`Error::InvalidModification`]). A new `iceTransportPolicy`
    /// applies from the next gathering, an ICE restart (`restart_ice`; RFC
    /// 8829 §3.5.3), not to the candidates already gathered.
    pub async fn set_configuration(&self, configuration: Configuration) -> Result<(), Error> {
        let current = self.get_configuration();
        if configuration.bundle_policy != current.bundle_policy {
            return Err(Error::InvalidModification("bundlePolicy"));
        }
        if configuration.rtcp_mux_policy != current.rtcp_mux_policy {
            return Err(Error::InvalidModification("rtcpMuxPolicy"));
        }
        let same_certs = configuration.certificates.len() == current.certificates.len()
            && configuration
                .certificates
                .iter()
                .zip(&current.certificates)
                .all(|(a, b)| a.der() == b.der());
        if !same_certs {
            return Err(Error::InvalidModification("certificates"));
        }
        if configuration.seed.is_some() && configuration.seed != current.seed {
            return Err(Error::InvalidModification("the seed"));
        }
        // W3C webrtc-identity §9.6: the target peer identity cannot change.
        if configuration.peer_identity != current.peer_identity {
            return Err(Error::InvalidModification("peerIdentity"));
        }
        if configuration.mdns_host_candidates != current.mdns_host_candidates {
            return Err(Error::InvalidModification("mdnsHostCandidates"));
        }
        if configuration.tcp_candidates != current.tcp_candidates {
            return Err(Error::InvalidModification("tcpCandidates"));
        }
        if configuration.unpaced_media != current.unpaced_media {
            return Err(Error::InvalidModification("unpacedMedia"));
        }
        let mut stun = StunServers::of(&configuration)?;
        if configuration.udp_mux.is_some() && configuration.host_addresses.is_empty() {
            stun.drop_turn("a UdpMux without host_addresses of its own");
        }
        let servers = stun.ready.clone();
        let turn = stun.turn_ready.clone();
        let tls = stun.tls_ready();
        let (tx, rx) = oneshot::channel();
        let generation = {
            // The generation and the command together: the task gets
            // concurrent calls' servers in generation order.
            let _order = self.lock_configuration();
            let generation = self.inner.stun_generation.fetch_add(1, Ordering::SeqCst) + 1;
            self.inner
                .commands
                .send(Command::SetStunServers(Box::new(StunUpdate {
                    servers,
                    turn,
                    tls,
                    relay_only: Some(
                        configuration.ice_transport_policy == IceTransportPolicy::Relay,
                    ),
                    lookups_pending: stun.lookups_pending(),
                    generation,
                    configuration: Some(configuration),
                    reply: Some(tx),
                })))
                .map_err(|_| self.ended_error())?;
            generation
        };
        // The lookups start before the answer is awaited: a caller that
        // drops this future must not leave gathering held open for names
        // nobody looks up. Their update follows the command on the same
        // queue; if the task refused this configuration (it is closed),
        // the update finds nothing to apply to.
        stun::spawn_lookups(stun, generation, Arc::downgrade(&self.inner.commands));
        // The task stored the configuration as it applied it.
        rx.await.map_err(|_| self.ended_error())?
    }

    /// `close()`: closes every channel and the transports.
    pub async fn close(&self) {
        let _ = self.get(Command::Close).await;
        // W3C: a pending `peerIdentity` fails once the connection closes.
        self.inner.identity.send_modify(|p| p.closed = true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn calls_after_the_task_panicked_say_it_panicked_not_closed() {
        let pc = PeerConnection::new(Configuration {
            host_addresses: vec![std::net::Ipv4Addr::LOCALHOST.into()],
            ..Default::default()
        })
        .expect("a connection");
        assert!(pc.inner.commands.send(Command::Panic).is_ok());
        let err = pc
            .get_stats()
            .await
            .expect_err("no stats from a panicked task");
        assert!(
            matches!(&err, Error::TaskPanicked(m) if m.contains("test hook")),
            "{err:?}"
        );
        assert_eq!(err.name(), "OperationError");
        assert!(matches!(
            pc.create_offer().await,
            Err(Error::TaskPanicked(_))
        ));
        // The task's end still ends the event streams.
        assert!(pc.next_event().await.is_none());
        // A call that waits on what the task publishes, not on a reply.
        assert!(matches!(
            pc.peer_identity().await,
            Err(Error::TaskPanicked(_))
        ));
    }

    /// A media sender's `write_frame`, which asks the task nothing (it
    /// queues the frame), says it too once the task panicked.
    #[tokio::test(flavor = "current_thread")]
    async fn a_frame_written_after_the_task_panicked_is_refused_as_panicked() {
        let pc = PeerConnection::new(Configuration {
            host_addresses: vec![std::net::Ipv4Addr::LOCALHOST.into()],
            ..Default::default()
        })
        .expect("a connection");
        let track = crate::MediaStreamTrack::new(crate::MediaKind::Audio, "mic");
        let sender = pc.add_track(&track, &[]).await.expect("a sender");
        assert!(pc.inner.commands.send(Command::Panic).is_ok());
        // The task ends, and with it the event stream.
        while pc.next_event().await.is_some() {}
        let written = sender.write_frame(&[0u8; 10][..], std::time::Duration::from_millis(20));
        assert!(
            matches!(&written, Err(Error::TaskPanicked(m)) if m.contains("test hook")),
            "{written:?}"
        );
    }

    /// Whether `r` is the test hook's panic told as such.
    fn says_it_panicked<T: std::fmt::Debug>(r: &Result<T, Error>) -> bool {
        matches!(r, Err(Error::TaskPanicked(m)) if m.contains("test hook"))
    }

    /// A data channel's calls after its connection's task panicked say so,
    /// on every clone of its handle, as the connection's calls do: those
    /// racing the panic too, never `Closed` or `InvalidStateError` once
    /// the task is gone.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn data_channel_calls_on_every_clone_after_the_task_panicked_say_it_panicked() {
        const WRITERS: usize = 4;
        let (a, _b, dc, _theirs) = crate::testing::connected().await;
        dc.send_text("before").await.expect("sent before the panic");
        // Writers on clones, sending until the connection is gone.
        let writers: Vec<_> = (0..WRITERS)
            .map(|_| {
                let dc = dc.clone();
                tokio::spawn(async move {
                    loop {
                        if let Err(e) = dc.send_binary(&[0; 64]).await {
                            break Err::<(), _>(e);
                        }
                        tokio::task::yield_now().await;
                    }
                })
            })
            .collect();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(a.inner.commands.send(Command::Panic).is_ok());
        for writer in writers {
            let last = writer.await.expect("the writer ran");
            assert!(
                says_it_panicked(&last),
                "a writer racing the panic: {last:?}"
            );
        }
        // The task has ended: every call, on every clone, says it panicked.
        let callers: Vec<_> = (0..WRITERS)
            .map(|_| {
                let dc = dc.clone();
                tokio::spawn(async move {
                    dc.close();
                    dc.set_buffered_amount_low_threshold(10);
                    [
                        dc.send_text("after").await,
                        dc.send_binary(b"after").await,
                        dc.send(b"after".to_vec(), true).await,
                        dc.wait_open().await,
                    ]
                })
            })
            .collect();
        for caller in callers {
            for r in caller.await.expect("the caller ran") {
                assert!(says_it_panicked(&r), "{r:?}");
            }
        }
        assert_eq!(dc.ready_state(), crate::DataChannelState::Closed);
        assert_eq!(dc.buffered_amount(), 0);
    }

    /// W3C webrtc-pc §6.2 `send()` step 1: the channel's state is checked
    /// before the message, by `send` as by `send_text` and `send_binary`:
    /// text that is not UTF-8 is refused as such only on an open channel;
    /// on one closing it is an `InvalidStateError`, and after the
    /// connection's task panicked, `TaskPanicked`.
    #[tokio::test(flavor = "current_thread")]
    async fn text_that_is_not_utf8_is_refused_for_the_channel_state_first() {
        let (a, _b, dc, _theirs) = crate::testing::connected().await;
        let not_utf8 = || vec![b'a', 0xff, 0xfe];
        let open = dc.send(not_utf8(), false).await;
        assert!(matches!(open, Err(Error::NotUtf8)), "{open:?}");
        dc.close();
        let closing = dc.send(not_utf8(), false).await;
        assert_eq!(
            closing.as_ref().map_err(Error::name),
            Err("InvalidStateError"),
            "{closing:?}"
        );
        assert!(a.inner.commands.send(Command::Panic).is_ok());
        while a.next_event().await.is_some() {}
        let panicked = dc.send(not_utf8(), false).await;
        assert!(says_it_panicked(&panicked), "{panicked:?}");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_subscription_that_never_reads_stays_bounded_and_is_told_what_it_lost() {
        let hub = event_hub();
        let mut events = PeerConnectionEvents::new(hub.subscribe());
        const PUBLISHED: usize = 100_000;
        for n in 0..PUBLISHED {
            let event = PeerConnectionEvent::AvailableOutgoingBitrate(n as u64);
            assert!(hub.publish(event.into()));
        }
        let unread = events.events.unread_len();
        assert_eq!(unread, PeerConnectionEvents::MAX_UNREAD, "held unread");
        // The reader learns the gap, then gets the newest events in order.
        let lost = (PUBLISHED - PeerConnectionEvents::MAX_UNREAD) as u64;
        assert!(matches!(
            events.recv().await,
            Some(PeerConnectionEvent::Lagged(n)) if n == lost
        ));
        for n in lost..PUBLISHED as u64 {
            assert!(matches!(
                events.recv().await,
                Some(PeerConnectionEvent::AvailableOutgoingBitrate(b)) if b == n
            ));
        }
        hub.close();
        assert!(events.recv().await.is_none());
    }
}

#[cfg(test)]
mod panic_tests {
    use super::*;
    use std::future::Future;
    use std::sync::Mutex as StdMutex;
    use std::task::{Context, Wake, Waker};

    /// A waker that, when woken, looks at what a caller woken on another
    /// thread would see right then.
    struct Observer {
        commands: Arc<CommandQueue>,
        seen: StdMutex<Vec<String>>,
    }

    impl Wake for Observer {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            let err = self.commands.ended_error();
            self.seen.lock().unwrap().push(format!("{err:?}"));
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_caller_woken_by_the_panicking_task_already_sees_task_panicked() {
        let pc = PeerConnection::new(Configuration {
            host_addresses: vec![std::net::Ipv4Addr::LOCALHOST.into()],
            ..Default::default()
        })
        .expect("a connection");
        let observer = Arc::new(Observer {
            commands: Arc::clone(&pc.inner.commands),
            seen: StdMutex::new(Vec::new()),
        });
        let waker = Waker::from(Arc::clone(&observer));
        let mut cx = Context::from_waker(&waker);
        assert!(pc.inner.commands.send(Command::Panic).is_ok());
        // A call in flight: its command waits behind the panic.
        let mut call = Box::pin(pc.create_offer());
        assert!(call.as_mut().poll(&mut cx).is_pending());
        // The task runs, panics, ends.
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        let seen = observer.seen.lock().unwrap().clone();
        assert!(!seen.is_empty(), "the caller was woken");
        // The first wake is when a caller on another worker thread would
        // run and read the error.
        assert!(
            seen[0].starts_with("TaskPanicked"),
            "seen at the wake: {seen:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_call_in_flight_on_another_thread_when_the_task_panics_says_it_panicked() {
        let mut closed = 0;
        const RUNS: usize = 200;
        for _ in 0..RUNS {
            let pc = PeerConnection::new(Configuration {
                host_addresses: vec![std::net::Ipv4Addr::LOCALHOST.into()],
                ..Default::default()
            })
            .expect("a connection");
            // The caller waits on its own thread, as on another worker.
            let caller = {
                let pc = pc.clone();
                std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .build()
                        .expect("a runtime");
                    rt.block_on(pc.create_offer())
                })
            };
            std::thread::sleep(std::time::Duration::from_millis(1));
            assert!(pc.inner.commands.send(Command::Panic).is_ok());
            match tokio::task::spawn_blocking(move || caller.join())
                .await
                .expect("joined")
                .expect("the caller ran")
            {
                Err(Error::TaskPanicked(_)) => {}
                Err(Error::Closed) => closed += 1,
                _ => {} // answered before the panic
            }
        }
        assert_eq!(
            closed, 0,
            "{closed} of {RUNS} calls said Closed after a panic"
        );
    }
}
