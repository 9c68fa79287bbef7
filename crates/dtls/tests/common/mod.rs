//! Shared helpers: a uniform peer over ferrtc-dtls or dimpl, and an
//! in-memory pump.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use ferrtc_dtls::{Certificate, Config, Dtls, Error, Event, Role, SrtpKeys};

pub fn wall() -> SystemTime {
    // 2026-01-01T00:00:00Z
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600)
}

/// dimpl 0.9 as an independent DTLS 1.2 peer.
pub struct DimplPeer {
    pub dtls: dimpl::Dtls,
    out: VecDeque<Vec<u8>>,
    pub timeout: Option<Instant>,
    /// Exported keying material and the profile's IANA id.
    pub keys: Option<(Vec<u8>, u16)>,
    pub peer_cert: Option<Vec<u8>>,
    pub connected: bool,
    pub received: Vec<Vec<u8>>,
    pub failed: Option<String>,
    pub closed: bool,
}

impl DimplPeer {
    pub fn new(cert: &Certificate, role: Role, now: Instant, patient: bool, seed: u64) -> Self {
        let mut builder = dimpl::Config::builder()
            .require_client_certificate(true)
            .dangerously_set_rng_seed(seed);
        if patient {
            builder = builder
                .flight_retries(12)
                .handshake_timeout(Duration::from_secs(600));
        }
        let config = Arc::new(builder.build().expect("dimpl config"));
        let certificate = dimpl::DtlsCertificate {
            certificate: cert.der().to_vec(),
            private_key: cert.private_key_der().to_vec(),
        };
        let mut dtls = dimpl::Dtls::new_12(config, certificate, now);
        dtls.set_active(role == Role::Client);
        let mut peer = DimplPeer {
            dtls,
            out: VecDeque::new(),
            timeout: None,
            keys: None,
            peer_cert: None,
            connected: false,
            received: Vec::new(),
            failed: None,
            closed: false,
        };
        if let Err(e) = peer.dtls.handle_timeout(now) {
            peer.failed = Some(e.to_string());
        }
        peer.drain();
        peer
    }

    fn drain(&mut self) {
        let mut buf = vec![0u8; 2048];
        for _ in 0..10_000 {
            match self.dtls.poll_output(&mut buf) {
                dimpl::Output::Packet(p) => self.out.push_back(p.to_vec()),
                dimpl::Output::BufferTooSmall { needed } => buf.resize(needed, 0),
                dimpl::Output::Timeout(t) => {
                    self.timeout = Some(t);
                    return;
                }
                dimpl::Output::Connected => self.connected = true,
                dimpl::Output::PeerCert(c) => self.peer_cert = Some(c.to_vec()),
                dimpl::Output::KeyingMaterial(m, p) => {
                    let id = match p {
                        dimpl::SrtpProfile::AES128_CM_SHA1_80 => 1,
                        dimpl::SrtpProfile::AEAD_AES_128_GCM => 7,
                        _ => 8,
                    };
                    self.keys = Some((m.to_vec(), id));
                }
                dimpl::Output::ApplicationData(d) => self.received.push(d.to_vec()),
                dimpl::Output::CloseNotify => self.closed = true,
                _ => {}
            }
        }
    }

    pub fn handle_receive(&mut self, now: Instant, datagram: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        let r = self
            .dtls
            .handle_timeout(now)
            .and_then(|()| self.dtls.handle_packet(datagram));
        if let Err(e) = r {
            self.failed = Some(e.to_string());
        }
        self.drain();
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.failed.is_some() {
            return;
        }
        if let Err(e) = self.dtls.handle_timeout(now) {
            self.failed = Some(e.to_string());
        }
        self.drain();
    }

    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.out.pop_front()
    }

    pub fn send(&mut self, data: &[u8]) {
        self.dtls.send_application_data(data).expect("dimpl send");
        self.drain();
    }
}

/// Our transport with its events collected.
pub struct Ours {
    pub dtls: Dtls,
    pub events: Vec<Event>,
}

impl Ours {
    pub fn new(config: &Config, cert: &Certificate, role: Role, now: Instant) -> Self {
        Ours {
            dtls: Dtls::new(config, cert, role, now, wall()).expect("dtls"),
            events: Vec::new(),
        }
    }

    pub fn collect(&mut self) {
        while let Some(e) = self.dtls.poll_event() {
            self.events.push(e);
        }
    }

    pub fn srtp(&self) -> Option<&SrtpKeys> {
        self.events.iter().find_map(|e| match e {
            Event::Connected { srtp, .. } => srtp.as_ref(),
            _ => None,
        })
    }

    pub fn connected(&self) -> bool {
        self.events
            .iter()
            .any(|e| matches!(e, Event::Connected { .. }))
    }

    pub fn failure(&self) -> Option<&Error> {
        self.events.iter().find_map(|e| match e {
            Event::Failed(err) => Some(err),
            _ => None,
        })
    }

    pub fn received(&self) -> Vec<Vec<u8>> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::ApplicationData(d) => Some(d.clone()),
                _ => None,
            })
            .collect()
    }
}

/// Moves datagrams between two of our transports until both are quiet;
/// returns every datagram in order of sending, tagged with the sender
/// (true: `a`).
pub fn pump(now: Instant, a: &mut Ours, b: &mut Ours) -> Vec<(bool, Vec<u8>)> {
    let mut log = Vec::new();
    let mut buf = Vec::new();
    for _ in 0..100 {
        let mut moved = false;
        while a.dtls.poll_transmit(now, &mut buf).is_some() {
            log.push((true, buf.clone()));
            b.dtls.handle_receive(now, &buf);
            moved = true;
        }
        while b.dtls.poll_transmit(now, &mut buf).is_some() {
            log.push((false, buf.clone()));
            a.dtls.handle_receive(now, &buf);
            moved = true;
        }
        a.collect();
        b.collect();
        if !moved {
            break;
        }
    }
    log
}

/// A connected pair of our transports with the given configs and certificates.
pub fn connect(
    now: Instant,
    client_config: &Config,
    client_cert: &Certificate,
    server_config: &Config,
    server_cert: &Certificate,
) -> (Ours, Ours) {
    let mut c = Ours::new(client_config, client_cert, Role::Client, now);
    let mut s = Ours::new(server_config, server_cert, Role::Server, now);
    c.dtls
        .expect_remote_fingerprints(server_cert.fingerprints());
    s.dtls
        .expect_remote_fingerprints(client_cert.fingerprints());
    pump(now, &mut c, &mut s);
    (c, s)
}
