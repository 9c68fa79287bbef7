//! What the agent reports to the layer above (W3C `RTCIceGatheringState`,
//! `RTCIceConnectionState`, `icecandidate`, `selectedcandidatepairchange`).

use std::net::SocketAddr;
use std::time::Duration;

use crate::Candidate;

/// The gathering state (W3C `RTCIceGatheringState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[doc(alias = "RTCIceGatheringState")]
pub enum GatheringState {
    /// No candidate yet.
    New,
    /// Host candidates are known; server-reflexive ones are being gathered.
    Gathering,
    /// Every STUN server answered or timed out.
    Complete,
}

/// The connection state (W3C `RTCIceConnectionState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[doc(alias = "RTCIceConnectionState")]
pub enum ConnectionState {
    /// Waiting for remote credentials and candidates.
    New,
    /// Checking candidate pairs.
    Checking,
    /// A pair is selected; checks may go on (trickle not finished).
    Connected,
    /// A pair is selected and both sides finished their candidates.
    Completed,
    /// Consent checks on the selected pair went unanswered for a while.
    Disconnected,
    /// Every pair failed, or consent was lost; see [`FailureReason`].
    /// (Consent lost on the pair of the generation before an ICE restart
    /// that is still in progress does not fail the agent: that pair is
    /// dropped and the state is [`Self::Checking`], with the reason.)
    Failed,
    /// [`crate::Agent::close`] was called.
    Closed,
}

/// Why the connection failed or disconnected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureReason {
    /// Every candidate pair failed its checks after both sides signalled
    /// the end of their candidates (RFC 8445 §7.2.5.3.3, RFC 8838 §8).
    AllPairsFailed {
        /// How many pairs were checked.
        pairs: usize,
    },
    /// Both sides finished their candidates and no pair could be formed
    /// (no remote candidate of a usable address family).
    NoCandidatePairs,
    /// Controlled, with valid pairs, but the controlling peer neither
    /// nominated one nor sent a check for the consent timeout.
    NoNomination,
    /// No consent response on the selected pair for the disconnected
    /// timeout (RFC 7675 §5.1, early warning).
    ConsentMissing,
    /// No consent response for the consent timeout: consent expired
    /// (RFC 7675 §5.1); the agent stopped sending.
    ConsentExpired,
    /// The TCP connection of the selected pair closed (ICE-TCP, RFC 6544).
    ConnectionClosed,
}

impl std::fmt::Display for FailureReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FailureReason::AllPairsFailed { pairs } => {
                write!(
                    f,
                    "all {pairs} candidate pairs failed their connectivity checks"
                )
            }
            FailureReason::NoCandidatePairs => f.write_str("no candidate pair could be formed"),
            FailureReason::NoNomination => {
                f.write_str("the controlling peer stopped checking without nominating a pair")
            }
            FailureReason::ConnectionClosed => {
                f.write_str("the TCP connection of the selected pair closed")
            }
            FailureReason::ConsentMissing => {
                f.write_str("consent checks on the selected pair are unanswered")
            }
            FailureReason::ConsentExpired => f.write_str("consent to send expired (RFC 7675)"),
        }
    }
}

/// The candidate pair data flows on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[doc(alias = "RTCIceCandidatePair")]
pub struct SelectedPair {
    /// The local candidate (host, or the server/peer-reflexive address
    /// the peer sees).
    pub local: Candidate,
    /// The remote candidate.
    pub remote: Candidate,
    /// The local socket address datagrams leave from (the local base).
    pub source: SocketAddr,
    /// The remote address datagrams go to.
    pub destination: SocketAddr,
}

/// An event for the layer above, from [`crate::Agent::poll_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A new local candidate to signal to the peer (W3C `icecandidate`).
    LocalCandidate(Candidate),
    /// The gathering state changed; `Complete` means "signal end of candidates".
    GatheringStateChange(GatheringState),
    /// The connection state changed; `reason` says why for `Failed` and
    /// `Disconnected`.
    ConnectionStateChange {
        /// The new state.
        state: ConnectionState,
        /// Why, for `Failed` and `Disconnected`.
        reason: Option<FailureReason>,
    },
    /// A (new) pair was selected (W3C `selectedcandidatepairchange`).
    SelectedPairChange(Box<SelectedPair>),
    /// A TURN server gave no relayed candidate (W3C `icecandidateerror`,
    /// `RTCPeerConnectionIceErrorEvent`).
    CandidateError {
        /// The server.
        server: SocketAddr,
        /// The STUN error code of its answer (e.g. 401), or 701 when it
        /// did not answer (W3C).
        code: u16,
        /// Why, in words.
        text: String,
    },
    /// A role conflict switched the agent's role (RFC 8445 §7.3.1.1).
    RoleChange {
        /// Whether the agent is now controlling.
        controlling: bool,
    },
}

/// Round-trip figures of the selected candidate pair, from Binding
/// responses to its connectivity and consent checks (W3C
/// `RTCIceCandidatePairStats` `currentRoundTripTime`, `totalRoundTripTime`,
/// `responsesReceived`). Only responses to requests sent once are measured
/// (Karn's rule): a retransmitted request's response is ambiguous.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoundTrip {
    /// The latest measured round trip.
    pub current: Option<Duration>,
    /// The sum of every measured round trip.
    pub total: Duration,
    /// Measured responses (the divisor of `total` for a mean).
    pub responses_received: u64,
}

impl RoundTrip {
    /// Adds one measurement.
    pub(crate) fn record(&mut self, rtt: Duration) {
        self.current = Some(rtt);
        self.total += rtt;
        self.responses_received += 1;
    }
}
