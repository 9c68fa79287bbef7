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

/// Runs a seeded handshake between two transports and corrupts one
/// datagram in flight with the input: byte 0 picks the datagram (even:
/// from the client, odd: from the server; which one by its value), byte 1
/// how (overwrite, XOR, truncate, or replace), the rest is the material.
/// This reaches every handshake state of both roles with hostile input.
pub fn handshake(data: &[u8]) {
    let [pick, how, material @ ..] = data else {
        return;
    };
    let now = Instant::now();
    let config = Config {
        rng_seed: Some(1),
        ..Config::default()
    };
    let Ok(mut client) = Dtls::new(
        &config,
        certificate(),
        Role::Client,
        now,
        fixed_wall_clock(),
    ) else {
        return;
    };
    let Ok(mut server) = Dtls::new(
        &config,
        certificate(),
        Role::Server,
        now,
        fixed_wall_clock(),
    ) else {
        return;
    };
    client.expect_remote_fingerprints(certificate().fingerprints());
    server.expect_remote_fingerprints(certificate().fingerprints());
    let target = usize::from(pick >> 1);
    let from_client = pick & 1 == 0;
    let mut counts = [0usize; 2];
    let mut buf = Vec::new();
    for _ in 0..16 {
        let mut moved = false;
        for side in [true, false] {
            let (from, to) = if side {
                (&mut client, &mut server)
            } else {
                (&mut server, &mut client)
            };
            while from.poll_transmit(now, &mut buf).is_some() {
                moved = true;
                let index = &mut counts[usize::from(!side)];
                if side == from_client && *index == target {
                    corrupt(&mut buf, *how, material);
                }
                *index += 1;
                to.handle_receive(now, &buf);
                if side == from_client && *index == target + 1 {
                    // Also the in-place path with the same bytes.
                    let mut copy = buf.clone();
                    to.handle_receive_in_place(now, &mut copy);
                    while to.poll_application_data().is_some() {}
                }
            }
            while from.poll_event().is_some() {}
        }
        if !moved {
            break;
        }
    }
    let later = now + Duration::from_secs(120);
    client.handle_timeout(later);
    server.handle_timeout(later);
}

fn corrupt(buf: &mut Vec<u8>, how: u8, material: &[u8]) {
    match how % 4 {
        0 => {
            for (b, m) in buf.iter_mut().zip(material) {
                *b = *m;
            }
        }
        1 => {
            for (b, m) in buf.iter_mut().zip(material) {
                *b ^= *m;
            }
        }
        2 => {
            let keep = material.first().map_or(0, |&n| usize::from(n));
            buf.truncate(keep.min(buf.len()));
        }
        _ => {
            buf.clear();
            buf.extend_from_slice(material);
        }
    }
}

/// Connects two transports, then feeds the input (split into datagrams at
/// 0xFF 0xFF) to both as records after the handshake, through the copying
/// and the in-place paths; data must still flow afterwards.
pub fn records(data: &[u8]) {
    let now = Instant::now();
    let config = Config {
        rng_seed: Some(2),
        ..Config::default()
    };
    let Ok(mut client) = Dtls::new(
        &config,
        certificate(),
        Role::Client,
        now,
        fixed_wall_clock(),
    ) else {
        return;
    };
    let Ok(mut server) = Dtls::new(
        &config,
        certificate(),
        Role::Server,
        now,
        fixed_wall_clock(),
    ) else {
        return;
    };
    client.expect_remote_fingerprints(certificate().fingerprints());
    server.expect_remote_fingerprints(certificate().fingerprints());
    let mut buf = Vec::new();
    for _ in 0..8 {
        while client.poll_transmit(now, &mut buf).is_some() {
            server.handle_receive(now, &buf);
        }
        while server.poll_transmit(now, &mut buf).is_some() {
            client.handle_receive(now, &buf);
        }
    }
    for datagram in data.split(|&b| b == 0xff) {
        client.handle_receive(now, datagram);
        let mut copy = datagram.to_vec();
        server.handle_receive_in_place(now, &mut copy);
        while let Some(range) = server.poll_application_data() {
            assert!(range.end <= copy.len());
        }
        while client.poll_transmit(now, &mut buf).is_some() {}
        while server.poll_transmit(now, &mut buf).is_some() {}
    }
    while client.poll_event().is_some() {}
    while server.poll_event().is_some() {}
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

#[cfg(test)]
mod tests {
    #[test]
    fn entry_points_run_on_sample_inputs() {
        for pick in 0..12u8 {
            for how in 0..4u8 {
                super::handshake(&[pick, how, 22, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 9, 0, 3]);
            }
        }
        super::records(&[23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 9, 0, 2, 1, 2, 0xff, 21]);
        super::receive(&[1, 22, 0xfe, 0xfd, 0, 0]);
    }
}
