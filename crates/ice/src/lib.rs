//! Sans-IO ICE agent (RFC 8445, RFC 8838 trickle, RFC 7675 consent)
#![forbid(unsafe_code)]
