//! What the simulated-network tests of ferrtc-core share.

use std::net::SocketAddr;
use std::time::Instant;

use ferrtc_core::{Event, PeerConnection};
use ferrtc_sim::{Endpoint, Transmit};

/// A peer connection as a simulator endpoint, keeping the events it emits.
pub struct Peer {
    pub pc: PeerConnection,
    pub events: Vec<Event>,
}

impl Peer {
    pub fn new(pc: PeerConnection) -> Peer {
        Peer {
            pc,
            events: Vec::new(),
        }
    }
}

impl Endpoint for Peer {
    fn handle_receive(&mut self, now: Instant, source: SocketAddr, dest: SocketAddr, data: &[u8]) {
        self.pc
            .handle_receive(now, source, dest, &mut data.to_vec());
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        let t = self.pc.poll_transmit(now, buf)?;
        Some(Transmit {
            source: t.source,
            destination: t.destination,
        })
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.pc.poll_timeout()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.pc.handle_timeout(now);
    }
}
