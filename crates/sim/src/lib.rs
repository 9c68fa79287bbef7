//! Deterministic simulated network for testing sans-IO protocol engines.
#![forbid(unsafe_code)]

mod endpoint;

pub use endpoint::{Endpoint, Transmit};
