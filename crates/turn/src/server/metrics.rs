//! The server's counters, and their Prometheus text exposition (format
//! 0.0.4) for `GET /metrics`.

use std::fmt::Write as _;

/// Why an authenticated request was refused (label `reason` of
/// `ferrtc_turn_auth_failures_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// MESSAGE-INTEGRITY(-SHA256) did not match the user's key (401).
    BadIntegrity,
    /// No such user (401).
    UnknownUser,
    /// A REST username past its expiry (401).
    ExpiredCredential,
    /// A nonce past its expiry (438).
    StaleNonce,
    /// A nonce that is not ours, altered, or issued to another address (438).
    InvalidNonce,
    /// Another user's allocation (441).
    WrongCredentials,
    /// Missing or inconsistent USERNAME, REALM, NONCE or PASSWORD-ALGORITHM(S) (400).
    Malformed,
}

impl AuthFailure {
    const ALL: [AuthFailure; 7] = [
        AuthFailure::BadIntegrity,
        AuthFailure::UnknownUser,
        AuthFailure::ExpiredCredential,
        AuthFailure::StaleNonce,
        AuthFailure::InvalidNonce,
        AuthFailure::WrongCredentials,
        AuthFailure::Malformed,
    ];

    fn label(self) -> &'static str {
        match self {
            AuthFailure::BadIntegrity => "bad_integrity",
            AuthFailure::UnknownUser => "unknown_user",
            AuthFailure::ExpiredCredential => "expired_credential",
            AuthFailure::StaleNonce => "stale_nonce",
            AuthFailure::InvalidNonce => "invalid_nonce",
            AuthFailure::WrongCredentials => "wrong_credentials",
            AuthFailure::Malformed => "malformed",
        }
    }
}

/// Why a datagram was dropped (label `reason` of `ferrtc_turn_drops_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drop {
    /// Neither STUN nor ChannelData, or not parseable.
    Malformed,
    /// Data or an indication on a 5-tuple without an allocation.
    NoAllocation,
    /// To or from a peer without a permission (RFC 8656 §9).
    NoPermission,
    /// ChannelData on a channel that is not bound (RFC 8656 §12.6).
    NoChannel,
    /// Over the user's bandwidth quota.
    Bandwidth,
    /// An indication or response where only requests are served.
    Unexpected,
    /// Relay buffer without room for the header (a driver bug, counted).
    NoHeadroom,
    /// To the server's own relay address on a port that is no relay
    /// socket (its listeners, or any other service on that address).
    OwnAddress,
}

impl Drop {
    const ALL: [Drop; 8] = [
        Drop::Malformed,
        Drop::NoAllocation,
        Drop::NoPermission,
        Drop::NoChannel,
        Drop::Bandwidth,
        Drop::Unexpected,
        Drop::NoHeadroom,
        Drop::OwnAddress,
    ];

    fn label(self) -> &'static str {
        match self {
            Drop::Malformed => "malformed",
            Drop::NoAllocation => "no_allocation",
            Drop::NoPermission => "no_permission",
            Drop::NoChannel => "no_channel",
            Drop::Bandwidth => "bandwidth",
            Drop::Unexpected => "unexpected",
            Drop::NoHeadroom => "no_headroom",
            Drop::OwnAddress => "own_address",
        }
    }
}

/// Counters of a [`crate::server::Server`], all since it started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metrics {
    /// Allocations alive now.
    pub allocations_current: u64,
    /// Allocations ever created.
    pub allocations_total: u64,
    /// Requests answered with an error response, by code.
    pub error_responses: Vec<(u16, u64)>,
    auth_failures: [u64; 7],
    drops: [u64; 8],
    /// Datagrams relayed from clients to peers.
    pub packets_to_peer: u64,
    /// Application bytes relayed from clients to peers.
    pub bytes_to_peer: u64,
    /// Datagrams relayed from peers to clients.
    pub packets_to_client: u64,
    /// Application bytes relayed from peers to clients.
    pub bytes_to_client: u64,
    /// Requests refused because the peer address is forbidden (403).
    pub forbidden_peers: u64,
}

impl Metrics {
    /// Counts an authentication failure.
    pub(crate) fn auth_failure(&mut self, why: AuthFailure) {
        self.auth_failures[why as usize] += 1;
    }

    /// Authentication failures for one reason.
    pub fn auth_failures(&self, why: AuthFailure) -> u64 {
        self.auth_failures[why as usize]
    }

    /// Counts a dropped datagram.
    pub(crate) fn drop(&mut self, why: Drop) {
        self.drops[why as usize] += 1;
    }

    /// Drops for one reason.
    pub fn drops(&self, why: Drop) -> u64 {
        self.drops[why as usize]
    }

    /// Counts an error response.
    pub(crate) fn error_response(&mut self, code: u16) {
        match self.error_responses.iter_mut().find(|(c, _)| *c == code) {
            Some((_, n)) => *n += 1,
            None => {
                self.error_responses.push((code, 1));
                self.error_responses.sort_unstable();
            }
        }
    }

    /// Error responses sent with `code`.
    pub fn errors(&self, code: u16) -> u64 {
        self.error_responses
            .iter()
            .find(|(c, _)| *c == code)
            .map_or(0, |(_, n)| *n)
    }

    /// The Prometheus text exposition of every counter.
    pub fn render(&self) -> String {
        let mut s = String::with_capacity(2048);
        let w = &mut s;
        header(
            w,
            "ferrtc_turn_allocations",
            "gauge",
            "Allocations alive now.",
        );
        let _ = writeln!(w, "ferrtc_turn_allocations {}", self.allocations_current);
        header(
            w,
            "ferrtc_turn_allocations_total",
            "counter",
            "Allocations created.",
        );
        let _ = writeln!(
            w,
            "ferrtc_turn_allocations_total {}",
            self.allocations_total
        );
        header(
            w,
            "ferrtc_turn_auth_failures_total",
            "counter",
            "Refused credentials, by reason.",
        );
        for why in AuthFailure::ALL {
            let _ = writeln!(
                w,
                "ferrtc_turn_auth_failures_total{{reason=\"{}\"}} {}",
                why.label(),
                self.auth_failures(why)
            );
        }
        header(
            w,
            "ferrtc_turn_error_responses_total",
            "counter",
            "Error responses, by code.",
        );
        for (code, n) in &self.error_responses {
            let _ = writeln!(
                w,
                "ferrtc_turn_error_responses_total{{code=\"{code}\"}} {n}"
            );
        }
        header(
            w,
            "ferrtc_turn_forbidden_peers_total",
            "counter",
            "Requests refused for a forbidden peer address.",
        );
        let _ = writeln!(
            w,
            "ferrtc_turn_forbidden_peers_total {}",
            self.forbidden_peers
        );
        header(
            w,
            "ferrtc_turn_relayed_packets_total",
            "counter",
            "Datagrams relayed, by direction.",
        );
        let _ = writeln!(
            w,
            "ferrtc_turn_relayed_packets_total{{direction=\"to_peer\"}} {}",
            self.packets_to_peer
        );
        let _ = writeln!(
            w,
            "ferrtc_turn_relayed_packets_total{{direction=\"to_client\"}} {}",
            self.packets_to_client
        );
        header(
            w,
            "ferrtc_turn_relayed_bytes_total",
            "counter",
            "Application bytes relayed, by direction.",
        );
        let _ = writeln!(
            w,
            "ferrtc_turn_relayed_bytes_total{{direction=\"to_peer\"}} {}",
            self.bytes_to_peer
        );
        let _ = writeln!(
            w,
            "ferrtc_turn_relayed_bytes_total{{direction=\"to_client\"}} {}",
            self.bytes_to_client
        );
        header(
            w,
            "ferrtc_turn_drops_total",
            "counter",
            "Datagrams dropped, by reason.",
        );
        for why in Drop::ALL {
            let _ = writeln!(
                w,
                "ferrtc_turn_drops_total{{reason=\"{}\"}} {}",
                why.label(),
                self.drops(why)
            );
        }
        s
    }
}

fn header(w: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(w, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family_with_help_type_and_labels() {
        let mut m = Metrics::default();
        m.auth_failure(AuthFailure::StaleNonce);
        m.drop(Drop::Bandwidth);
        m.error_response(438);
        m.error_response(401);
        m.error_response(438);
        m.packets_to_peer = 3;
        let text = m.render();
        assert!(text.contains("# TYPE ferrtc_turn_allocations gauge\n"));
        assert!(text.contains("ferrtc_turn_auth_failures_total{reason=\"stale_nonce\"} 1\n"));
        assert!(text.contains("ferrtc_turn_drops_total{reason=\"bandwidth\"} 1\n"));
        assert!(text.contains("ferrtc_turn_error_responses_total{code=\"438\"} 2\n"));
        assert!(text.contains("ferrtc_turn_relayed_packets_total{direction=\"to_peer\"} 3\n"));
        assert_eq!(m.errors(401), 1);
        assert!(!text.contains("# HELP  "));
    }
}
