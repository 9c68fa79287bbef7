//! mDNS (RFC 6762) for the `.local` names that hide host addresses in ICE
//! candidates (draft-ietf-mmusic-mdns-ice-candidates): the wire codec, the
//! per-connection resolver of the peer's names, and, when a connection
//! asks for it ([`Configuration::mdns_host_candidates`]), the publisher of
//! its own names and the process-wide responder that answers for them.
//!
//! [`Configuration::mdns_host_candidates`]: crate::Configuration::mdns_host_candidates

mod publish;
mod resolver;
mod responder;
mod service;
mod wire;

pub(crate) use publish::Publisher;
pub(crate) use resolver::{MDNS_GROUP, Resolver};
pub use responder::MdnsResponderStats;
pub use service::MdnsResponder;

use crate::{Configuration, Error};

/// A connection's mDNS parts: the resolver of remote names, and the
/// publisher of its own when the configuration asks for them.
pub(crate) struct Mdns {
    pub(crate) resolver: Resolver,
    pub(crate) publisher: Option<Publisher>,
}

impl Mdns {
    /// The parts `configuration` asks for; the process's multicast
    /// responder is made (or joined) here when names are to be published
    /// without a responder of the application's.
    pub(crate) fn new(configuration: &Configuration) -> Result<Mdns, Error> {
        let publisher = if configuration.mdns_host_candidates {
            let responder = match &configuration.mdns_responder {
                Some(r) => r.clone(),
                None => MdnsResponder::multicast()?,
            };
            Some(Publisher::new(responder))
        } else {
            None
        };
        Ok(Mdns {
            resolver: Resolver::new(configuration.mdns_server.unwrap_or(MDNS_GROUP)),
            publisher,
        })
    }
}
