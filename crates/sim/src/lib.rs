//! Deterministic simulated network for testing sans-IO protocol engines.
//!
//! A [`Network`] holds hosts (each with IPv4 and/or IPv6 addresses, an access
//! [`Link`], one [`Endpoint`] and a small TCP stack), NAT boxes
//! ([`NatConfig`], RFC 4787 mapping and filtering behaviours) and a queue of
//! datagrams and TCP segments in flight. It
//! runs in virtual time: nothing sleeps, and the same seed gives the same run,
//! which [`Network::trace_hash`] shows.
//!
//! - Links ([`LinkConfig`]): delay, jitter, loss, duplication, real
//!   reordering, and a rate limit with a bounded tail-drop queue, per
//!   direction of each host's (and each NAT's) access link.
//! - NATs ([`NatConfig`]): endpoint-independent, address-dependent and
//!   address-and-port-dependent mapping and filtering (RFC 4787), presets for
//!   full cone, restricted cone, port-restricted cone and symmetric, seeded
//!   port allocation, mapping timeout refreshed by outbound traffic, optional
//!   hairpinning, NATs behind NATs; TCP mappings apart from UDP ones (RFC
//!   5382: long-lived, refreshed by segments either way, no unsolicited
//!   connection let in); optionally a
//!   firewall that drops all UDP ([`NatConfig::with_udp_blocked`]).
//! - TCP ([`StreamCommand`], [`StreamEvent`]): an endpoint listens, connects
//!   from an ephemeral port, writes and closes through
//!   [`Endpoint::poll_stream`] and hears back through
//!   [`Endpoint::handle_stream`] (both have default bodies: UDP-only
//!   endpoints need not know). Segments cross the same links and NATs as
//!   datagrams. The handshake costs a round trip; a SYN to a port nobody
//!   listens on is refused (reset), one a NAT or a lossy path drops times
//!   out (sent at 0, 1 and 3 s, failed at 7 s). Bytes arrive in order and
//!   exactly once: a segment lost on a link comes again after its
//!   retransmission timeout (RFC 6298 estimator, at least 200 ms, doubled
//!   per attempt) and holds back those behind it; after 8 retransmissions
//!   of one segment the connection is given up. At most min(cwnd, 44)
//!   segments of at most [`MSS`] bytes are in flight (cwnd from 10, +1 per
//!   acknowledgement, 1 after a timeout). A close arrives after the data
//!   before it; the peer's stack then drops its unsent bytes and answers
//!   with its own FIN (no half close), what was in flight to the closed end
//!   is acknowledged and discarded, and both ends are forgotten once both
//!   FINs are acknowledged (also when both close at once). A host cannot
//!   connect to its own addresses ([`ConnectError::InvalidAddress`]).
//!   Acknowledgements are not packets (a segment is acknowledged
//!   when it reaches the peer's stack), so the reverse path carries no ACK
//!   traffic. Not modelled: fast retransmit, congestion avoidance, receive
//!   windows, half close, keepalives, simultaneous open, the 2 MSL wait of
//!   TIME-WAIT, TCP hairpinning, resets for segments to unknown connections
//!   (dropped and counted).
//! - Counters per link ([`LinkCounters`]), per NAT ([`NatCounters`]) and for
//!   the whole network ([`NetworkCounters`], with [`TcpCounters`]): nothing
//!   is dropped silently.
//! - [`Probe`]: a small endpoint (sink, echo, address reflector) for tests.
//!
//! See [`Network`] for the model and the order in which endpoints are driven.
//!
//! ```
//! use std::net::{IpAddr, SocketAddr};
//! use std::time::Duration;
//! use ferrtc_sim::{LinkConfig, NatConfig, Network, Probe};
//!
//! let mut net = Network::new(42);
//! let link = LinkConfig::IDEAL.with_delay(Duration::from_millis(10));
//! let server_ip: IpAddr = "198.51.100.7".parse().unwrap();
//! let server = net.add_host([server_ip], link, Probe::reflect()).unwrap();
//! let nat = net
//!     .add_nat(NatConfig::port_restricted_cone("203.0.113.1".parse().unwrap()))
//!     .unwrap();
//! let client_ip: IpAddr = "10.0.0.2".parse().unwrap();
//! let client = net.add_host_behind(nat, [client_ip], link, Probe::sink()).unwrap();
//!
//! let from = SocketAddr::new(client_ip, 5000);
//! let to = SocketAddr::new(server_ip, 3478);
//! net.endpoint_mut(&client).send(from, to, b"what is my address?");
//! net.run_for(Duration::from_secs(1));
//!
//! // Two links each way, 10 ms each: the answer is back after 40 ms.
//! let answer = &net.endpoint(&client).received()[0];
//! assert_eq!(answer.at - net.start(), Duration::from_millis(40));
//! let mapped = answer.reflected_addr().unwrap();
//! assert_eq!(mapped.ip(), "203.0.113.1".parse::<IpAddr>().unwrap());
//! assert_eq!(net.endpoint(&server).received().len(), 1);
//! ```
#![forbid(unsafe_code)]

mod endpoint;
mod error;
mod link;
mod nat;
mod network;
mod probe;
mod stream;
mod trace;

pub use endpoint::{Endpoint, Transmit};
pub use error::SimError;
pub use link::{DEFAULT_QUEUE_LIMIT, Link, LinkConfig, LinkCounters};
pub use nat::{
    DEFAULT_MAPPING_TIMEOUT, DEFAULT_TCP_MAPPING_TIMEOUT, NatBehavior, NatConfig, NatCounters,
};
pub use network::{
    DEFAULT_INSTANT_BUDGET, DuplexCounters, HostId, NatId, Network, NetworkCounters, TcpCounters,
};
pub use probe::{Probe, Received, Reply};
pub use stream::{CloseReason, ConnId, ConnectError, MSS, StreamCommand, StreamEvent};
pub use trace::{Protocol, TraceEntry};
