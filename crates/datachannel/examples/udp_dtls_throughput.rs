//! Throughput of one reliable ordered SCTP stream over DTLS over real UDP on
//! loopback, 16 KiB messages: the data-channel path without ICE or the async
//! driver. Two peers in one thread, each a UDP socket + `ferrtc-dtls` +
//! `ferrtc-sctp`, so the figure is the stack's per-packet cost plus the
//! kernel's loopback.
//!
//! `cargo run --release -p ferrtc-datachannel --example udp_dtls_throughput [MiB]`
//!
//! Prints MiB/s of payload and CPU seconds per MiB (user + system time of the
//! process, from /proc/self/stat; Linux only for the CPU figure).

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime};

use ferrtc_dtls::{
    Certificate, Config as DtlsConfig, Dtls, Event as DtlsEvent, HashAlgorithm, Role,
};
use ferrtc_sctp::{Association, Config as SctpConfig, Event as SctpEvent, SendOptions, ppid};

const MESSAGE: usize = 16 * 1024;
/// Bytes queued in SCTP before the sender waits (back-pressure, as a data
/// channel's `bufferedAmount` would be used).
const HIGH_WATER: usize = 1 << 20;
const STREAM: u16 = 0;

struct Peer {
    socket: UdpSocket,
    remote: SocketAddr,
    dtls: Dtls,
    sctp: Association,
    dtls_up: bool,
    sctp_up: bool,
    received: usize,
}

impl Peer {
    fn new(
        role: Role,
        cert: &Certificate,
        peer_cert: &Certificate,
        seed: u64,
    ) -> Result<Peer, Box<dyn std::error::Error>> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        socket.set_nonblocking(true)?;
        let mut dtls = Dtls::new(
            &DtlsConfig::default(),
            cert,
            role,
            Instant::now(),
            SystemTime::now(),
        )?;
        dtls.expect_remote_fingerprints(vec![peer_cert.fingerprint(HashAlgorithm::Sha256)]);
        let sctp = Association::new(SctpConfig {
            seed: Some(seed),
            ..SctpConfig::default()
        });
        Ok(Peer {
            remote: socket.local_addr()?, // replaced once both sockets exist
            socket,
            dtls,
            sctp,
            dtls_up: false,
            sctp_up: false,
            received: 0,
        })
    }

    /// One turn of the sans-IO loop: input, timers, events, output.
    fn turn(&mut self, buf: &mut Vec<u8>, rx: &mut [u8]) -> Result<(), Box<dyn std::error::Error>> {
        let now = Instant::now();
        loop {
            match self.socket.recv_from(rx) {
                Ok((n, _)) => self.dtls.handle_receive(now, &rx[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => return Err(e.into()),
            }
        }
        if self.dtls.poll_timeout().is_some_and(|t| t <= now) {
            self.dtls.handle_timeout(now);
        }
        if self.sctp.poll_timeout().is_some_and(|t| t <= now) {
            self.sctp.handle_timeout(now);
        }
        while let Some(event) = self.dtls.poll_event() {
            match event {
                DtlsEvent::Connected { .. } => {
                    self.dtls_up = true;
                    if self.dtls.role() == Role::Client {
                        self.sctp.connect(now);
                    }
                }
                DtlsEvent::ApplicationData(record) => {
                    // A malformed SCTP packet is dropped and counted by the association.
                    let _ = self.sctp.handle_receive(now, &record);
                }
                DtlsEvent::Failed(e) => return Err(e.into()),
                _ => {}
            }
        }
        while let Some(event) = self.sctp.poll_event() {
            match event {
                SctpEvent::Connected => self.sctp_up = true,
                SctpEvent::Message(m) => self.received += m.data.len(),
                SctpEvent::Closed(reason) => {
                    return Err(format!("association closed: {reason:?}").into());
                }
                _ => {}
            }
        }
        if self.dtls_up {
            while let Some(n) = self.sctp.poll_transmit(now, buf) {
                self.dtls.send_application_data(&buf[..n])?;
            }
        }
        while let Some(n) = self.dtls.poll_transmit(now, buf) {
            // Loopback can refuse a burst (ENOBUFS/EAGAIN): SCTP retransmits.
            let _ = self.socket.send_to(&buf[..n], self.remote);
        }
        Ok(())
    }
}

fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start at ") ".
    let rest = stat.rsplit_once(") ")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0) // USER_HZ is 100 on Linux
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mib: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(256);
    let total = mib << 20;
    let ca = Certificate::generate(SystemTime::now())?;
    let cb = Certificate::generate(SystemTime::now())?;
    let mut a = Peer::new(Role::Client, &ca, &cb, 1)?;
    let mut b = Peer::new(Role::Server, &cb, &ca, 2)?;
    a.remote = b.socket.local_addr()?;
    b.remote = a.socket.local_addr()?;

    let mut buf = Vec::with_capacity(2048);
    let mut rx = vec![0u8; 2048];
    let payload = vec![0x42u8; MESSAGE];
    let start = Instant::now();
    let mut setup = None;
    let mut sent = 0usize;
    let mut transfer_start = (start, 0.0);
    while b.received < total {
        if start.elapsed() > Duration::from_secs(300) {
            return Err(format!("gave up: {} of {total} bytes after 300 s", b.received).into());
        }
        if a.sctp_up && setup.is_none() {
            setup = Some(start.elapsed());
            a.sctp.open_stream(STREAM)?;
            transfer_start = (Instant::now(), cpu_seconds().unwrap_or(0.0));
        }
        if setup.is_some() {
            let now = Instant::now();
            while sent < total && a.sctp.buffered_amount(STREAM) < HIGH_WATER {
                a.sctp.send(
                    now,
                    STREAM,
                    ppid::BINARY,
                    &payload,
                    SendOptions::RELIABLE_ORDERED,
                )?;
                sent += MESSAGE;
            }
        }
        a.turn(&mut buf, &mut rx)?;
        b.turn(&mut buf, &mut rx)?;
    }
    let secs = transfer_start.0.elapsed().as_secs_f64();
    let cpu = cpu_seconds().map(|c| c - transfer_start.1);
    let rate = total as f64 / (1 << 20) as f64 / secs;
    println!(
        "setup (DTLS + SCTP)  {:.1} ms",
        setup.unwrap_or_default().as_secs_f64() * 1e3
    );
    println!("moved                {mib} MiB in {MESSAGE}-byte messages in {secs:.2} s");
    println!("throughput           {rate:.1} MiB/s");
    if let Some(cpu) = cpu {
        println!(
            "CPU                  {cpu:.2} s, {:.2} ms per MiB",
            cpu * 1e3 / mib as f64
        );
    }
    println!("sender stats         {:?}", a.sctp.stats());
    Ok(())
}
