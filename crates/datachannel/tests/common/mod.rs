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

/// DATA_CHANNEL_OPEN as RFC 8832 §5.1 lays it out: reliable, ordered.
pub fn open_bytes(label: &str) -> Vec<u8> {
    let mut b = vec![0x03, 0x00, 0x01, 0x00, 0, 0, 0, 0];
    b.extend_from_slice(&(label.len() as u16).to_be_bytes());
    b.extend_from_slice(&0u16.to_be_bytes());
    b.extend_from_slice(label.as_bytes());
    b
}

/// The peer's DATA_CHANNEL_OPEN on `stream`, as the association hands it up.
pub fn dcep_open(stream: u16, label: &str) -> ferrtc_sctp::Message {
    ferrtc_sctp::Message {
        stream,
        ppid: ferrtc_sctp::ppid::DCEP,
        unordered: false,
        data: open_bytes(label),
    }
}
