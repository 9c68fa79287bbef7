//! What the data-channel tests share: engines and SCTP settings.

use std::time::Instant;

use ferrtc_datachannel::{Config, DataChannels};
use ferrtc_dtls::Role;

/// SCTP settings with a fixed seed, for reproducible runs.
pub fn sctp(seed: u64) -> ferrtc_sctp::Config {
    ferrtc_sctp::Config {
        seed: Some(seed),
        ..ferrtc_sctp::Config::default()
    }
}

/// An engine with the default configuration whose DTLS role is settled.
pub fn engine(role: Role) -> DataChannels {
    let mut dc = DataChannels::new(Config::default());
    dc.set_role(Instant::now(), role);
    dc
}
