//! Errors in building a simulated network.

use std::fmt;
use std::net::IpAddr;

/// A mistake in the network's set-up (not a network event: those are counted).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SimError {
    /// A host was given no address.
    NoAddress,
    /// The address is already used by a host or NAT in the same network segment.
    AddressInUse {
        /// The address in question.
        addr: IpAddr,
    },
    /// The NAT id does not belong to this network.
    UnknownNat,
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoAddress => f.write_str("a host needs at least one address"),
            Self::AddressInUse { addr } => {
                write!(
                    f,
                    "address {addr} is already in use in this network segment"
                )
            }
            Self::UnknownNat => f.write_str("the NAT id does not belong to this network"),
        }
    }
}

impl std::error::Error for SimError {}
