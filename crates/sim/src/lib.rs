//! Deterministic simulated network for testing sans-IO protocol engines.
//!
//! A [`Network`] holds hosts (each with IPv4 and/or IPv6 addresses, an access
//! [`Link`] and one [`Endpoint`]), NAT boxes ([`NatConfig`], RFC 4787
//! mapping and filtering behaviours) and a queue of datagrams in flight. It
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
//!   hairpinning, NATs behind NATs.
//! - Counters per link ([`LinkCounters`]), per NAT ([`NatCounters`]) and for
//!   the whole network ([`NetworkCounters`]): nothing is dropped silently.
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
