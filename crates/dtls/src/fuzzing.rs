//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`). Each
//! feeds arbitrary bytes to one input path and must never panic.

use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use crate::{Certificate, Config, Dtls, Fingerprint, Role};

/// Parses bytes as an `a=fingerprint` value.
pub fn fingerprint(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(fp) = Fingerprint::parse(text)
    {
        // What parses must print back to something that parses to the same.
        assert_eq!(Fingerprint::parse(&fp.to_string()).ok(), Some(fp));
    }
}

/// Imports bytes as a PEM certificate and key.
pub fn certificate_pem(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Certificate::from_pem(text, fixed_wall_clock());
    }
}

/// Feeds bytes, split into datagrams at 0xFF 0xFF, to a fresh transport;
/// the first byte picks the role.
pub fn receive(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let role = if first & 1 == 0 {
        Role::Client
    } else {
        Role::Server
    };
    let now = Instant::now();
    let Ok(mut dtls) = Dtls::new(config(), certificate(), role, now, fixed_wall_clock()) else {
        return;
    };
    let mut buf = Vec::new();
    for datagram in rest.split(|&b| b == 0xff) {
        dtls.handle_receive(now, datagram);
        while dtls.poll_transmit(now, &mut buf).is_some() {}
        while let Some(event) = dtls.poll_event() {
            drop(event);
        }
    }
}

fn fixed_wall_clock() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600)
}

/// One configuration for every run.
fn config() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(Config::default)
}

fn certificate() -> &'static Certificate {
    static CERT: OnceLock<Certificate> = OnceLock::new();
    CERT.get_or_init(|| {
        // Generating a certificate cannot fail with valid constant inputs;
        // a fuzz harness may abort if it ever does.
        Certificate::generate(fixed_wall_clock()).expect("certificate generation")
    })
}
