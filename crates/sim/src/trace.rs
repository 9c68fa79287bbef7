//! A record of what the network delivered, to compare runs.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// How a packet travelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Protocol {
    /// A UDP datagram.
    #[default]
    Udp,
    /// A TCP segment (data or control: SYN, SYN-ACK, FIN, RST).
    Tcp,
}

/// One datagram handed to an endpoint, or one TCP segment that reached a
/// host's TCP stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceEntry {
    /// Virtual time of the delivery, since the network's start.
    pub at: Duration,
    /// The source address the receiver saw (after any NAT).
    pub source: SocketAddr,
    /// The address it was delivered to.
    pub destination: SocketAddr,
    /// Payload length in bytes.
    pub len: usize,
    /// UDP or TCP.
    pub protocol: Protocol,
}

/// A running FNV-1a hash of every delivery (time, addresses, payload bytes)
/// and, when enabled, a log of them.
#[derive(Debug, Clone)]
pub(crate) struct Trace {
    hash: u64,
    log: Option<Vec<TraceEntry>>,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

impl Trace {
    pub fn new() -> Self {
        Self {
            hash: FNV_OFFSET,
            log: None,
        }
    }

    pub fn hash(&self) -> u64 {
        self.hash
    }

    pub fn log(&self) -> &[TraceEntry] {
        self.log.as_deref().unwrap_or(&[])
    }

    pub fn enable_log(&mut self) {
        self.log.get_or_insert_with(Vec::new);
    }

    /// Records a delivery. `tcp` is the segment's kind and sequence
    /// number, hashed for TCP only (so runs with UDP alone hash as before
    /// TCP existed).
    pub fn record(&mut self, entry: TraceEntry, tcp: Option<(u8, u64)>, payload: &[u8]) {
        if let Some((kind, seq)) = tcp {
            self.write(&[6, kind]);
            self.write(&seq.to_be_bytes());
        }
        self.write(&entry.at.as_nanos().to_be_bytes());
        self.write_addr(entry.source);
        self.write_addr(entry.destination);
        self.write(&(entry.len as u64).to_be_bytes());
        self.write(payload);
        if let Some(log) = &mut self.log {
            log.push(entry);
        }
    }

    fn write_addr(&mut self, addr: SocketAddr) {
        match addr.ip() {
            IpAddr::V4(ip) => self.write(&ip.octets()),
            IpAddr::V6(ip) => self.write(&ip.octets()),
        }
        self.write(&addr.port().to_be_bytes());
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.hash ^= u64::from(*byte);
            self.hash = self.hash.wrapping_mul(FNV_PRIME);
        }
    }
}
