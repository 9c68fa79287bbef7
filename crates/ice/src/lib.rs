//! Sans-IO ICE agent (RFC 8445, RFC 8838 trickle, RFC 7675 consent).
//!
//! - [`Candidate`]: the SDP `candidate` attribute (RFC 8839 §5.1), parsed
//!   and written as browsers do.
//! - [`Agent`]: the ICE agent, full or lite, for one component over UDP,
//!   and over TCP (ICE-TCP, RFC 6544, [`Agent::add_local_tcp`]) when full.
//!   It owns no socket and reads no clock: see its polling order.
//!
//! What the agent does: host, server-reflexive and relayed gathering, pairing and
//! pair priorities (RFC 8445 §6.1.2), the frozen/waiting algorithm with Ta
//! pacing and a triggered-check queue, STUN retransmissions (RFC 8489
//! §6.2.1), short-term credentials with MESSAGE-INTEGRITY and FINGERPRINT,
//! role conflicts (§7.3.1.1), peer-reflexive local and remote candidates,
//! regular nomination when controlling and regular or aggressive
//! nomination from a controlling peer, trickle with end-of-candidates
//! (RFC 8838), consent freshness (RFC 7675) doubling as keepalive, ICE
//! restart, ICE-lite on either side.
//!
//! Deliberate deviations, each commented where it is implemented:
//! - a peer's check on a pair whose own check is in flight does not cancel
//!   and resend it (RFC 8445 §7.3.1.4 says cancel): under loss every
//!   retransmission from the peer would restart our timer;
//! - a check that timed out is retried instead of failing when the peer's
//!   checks reached us on that pair meanwhile, and a valid pair whose
//!   nominating check went unanswered stays valid for two more attempts;
//! - the RTO doubles up to a configurable cap (3 s by default), so an
//!   unanswered check fails after about 20 s instead of RFC 8489's 39.5 s
//!   (set `AgentConfig::max_rto` high for the RFC schedule);
//! - a controlled agent with valid pairs that is never nominated fails
//!   after the consent timeout without checks from the peer.
//!
//! Relayed candidates: [`Agent::add_turn_server`] makes one TURN allocation
//! (RFC 8656, over UDP or TCP; TLS is the caller's to run on the TCP
//! stream) per server; its relayed address is a base like a
//! host, its datagrams wrapped in ChannelData or Send indications on the
//! way out and unwrapped on the way in, so a relayed pair is checked,
//! nominated and kept by consent like any other. [`AgentConfig::relay_only`]
//! is the W3C `iceTransportPolicy: "relay"`.
//!
//! Not implemented: TCP simultaneous-open candidates (refused), mDNS name
//! resolution (`.local` candidates are refused; the `ferrtc` driver
//! resolves them), more than one component, consent checks by a lite agent.
#![forbid(unsafe_code)]

mod agent;
mod candidate;
mod config;
mod event;
mod pair;
mod stun_io;
mod transaction;

pub use agent::{
    Agent, CandidatePairInfo, DropReason, PairTraffic, Protocol, Receive, Stats, Transmit,
};
pub use candidate::{
    Candidate, CandidateAddress, CandidateError, CandidateType, Extension, Foundation, Hostname,
    MAX_CANDIDATE_LEN, MAX_EXTENSIONS, TcpType, Transport,
};
pub use config::{AgentConfig, Credentials};
pub use event::{ConnectionState, Event, FailureReason, GatheringState, RoundTrip, SelectedPair};
/// How the agent reaches a TURN server (RFC 8656 §3.1): UDP, TCP or TLS.
pub use ferrtc_turn::Transport as TurnTransport;
pub use pair::PairState;
pub use stun_io::check_recipient;

use std::net::SocketAddr;

/// Errors of the agent's API (misuse or refused input). Problems with
/// datagrams from the network are never errors: they are dropped and
/// counted (see [`Receive::Dropped`] and [`Stats`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Credentials that break RFC 8839 §5.4.
    #[error("invalid ICE credentials: {0}")]
    InvalidCredentials(&'static str),
    /// A remote candidate the agent cannot use.
    #[error("unsupported remote candidate: {0}")]
    UnsupportedCandidate(&'static str),
    /// A remote candidate carrying a `ufrag` that is not the peer's current one
    /// (a candidate of an earlier ICE generation).
    #[error("candidate ufrag does not match the remote credentials")]
    UfragMismatch,
    /// The peer's credentials changed without [`Agent::restart`] (an ICE
    /// restart by the peer must be answered by one here).
    #[error("remote ICE credentials changed: call restart() first")]
    RemoteCredentialsChanged,
    /// A configured limit on candidates was reached.
    #[error("too many candidates (limit {limit})")]
    TooManyCandidates {
        /// The limit.
        limit: usize,
    },
    /// The same local host address was added twice.
    #[error("local host {0} was already added")]
    DuplicateHost(SocketAddr),
    /// A feature an ICE-lite agent does not have.
    #[error("{0} are not used by an ICE-lite agent")]
    NotInLiteMode(&'static str),
    /// No pair is selected (yet, or consent was lost): data cannot be sent.
    #[error("no selected candidate pair")]
    NotConnected,
    /// The TURN allocation of the selected pair did not take the datagram
    /// (no permission for the peer yet, or the allocation is gone).
    #[error("the TURN relay of the selected pair refused the datagram")]
    RelayRefused,
    /// The agent is closed.
    #[error("the ICE agent is closed")]
    Closed,
}

/// Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`).
#[cfg(feature = "fuzzing")]
pub mod fuzzing {
    /// Parses `data` as a candidate line; when it parses, checks that writing
    /// it and parsing again gives the same candidate. Never panics otherwise.
    pub fn parse_candidate(data: &[u8]) {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        if let Ok(c) = text.parse::<crate::Candidate>() {
            let again: crate::Candidate = c
                .to_string()
                .parse()
                .unwrap_or_else(|e| panic!("written candidate {c} does not parse: {e}"));
            assert_eq!(again, c, "candidate changed on a round trip");
        }
    }
}
