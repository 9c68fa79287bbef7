//! mDNS (RFC 6762) resolution of the `.local` names browsers put in their
//! host candidates to hide local addresses
//! (draft-ietf-mmusic-mdns-ice-candidates): the wire codec and the
//! per-connection resolver the driver runs.

mod resolver;
mod wire;

pub(crate) use resolver::{MDNS_GROUP, Resolver};
