//! [`Probe`]: a tiny endpoint for testing the simulator itself and for
//! standing in as a simple peer (an echo server, a STUN-like reflector).

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use crate::endpoint::{Endpoint, Transmit};

/// What a [`Probe`] sends back when it receives a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reply {
    /// Nothing: the probe only records what it receives.
    None,
    /// The same payload, back to the source, from the address it arrived on.
    Echo,
    /// The source address as seen by the probe, written as text
    /// (`"203.0.113.1:50000"`): a STUN binding response in miniature, which
    /// shows what a NAT did to the sender.
    Reflect,
}

/// A datagram a [`Probe`] received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// Virtual time of arrival.
    pub at: Instant,
    /// Source address as seen by the receiver.
    pub source: SocketAddr,
    /// The receiver's address it arrived on.
    pub destination: SocketAddr,
    /// The bytes.
    pub payload: Vec<u8>,
}

impl Received {
    /// The address in a [`Reply::Reflect`] answer, if the payload is one.
    pub fn reflected_addr(&self) -> Option<SocketAddr> {
        std::str::from_utf8(&self.payload).ok()?.parse().ok()
    }
}

/// A minimal [`Endpoint`]: sends what it is told to (now or at a given
/// virtual instant), answers per its [`Reply`] mode and records everything
/// it receives.
#[derive(Debug, Clone)]
pub struct Probe {
    reply: Reply,
    outbox: VecDeque<(Transmit, Vec<u8>)>,
    scheduled: BTreeMap<(Instant, u64), (Transmit, Vec<u8>)>,
    next_id: u64,
    received: Vec<Received>,
}

impl Probe {
    /// A probe that answers with `reply`.
    pub fn new(reply: Reply) -> Self {
        Self {
            reply,
            outbox: VecDeque::new(),
            scheduled: BTreeMap::new(),
            next_id: 0,
            received: Vec::new(),
        }
    }

    /// A probe that only records.
    pub fn sink() -> Self {
        Self::new(Reply::None)
    }

    /// A probe that echoes every datagram.
    pub fn echo() -> Self {
        Self::new(Reply::Echo)
    }

    /// A probe that answers with the source address it saw.
    pub fn reflect() -> Self {
        Self::new(Reply::Reflect)
    }

    /// Queues a datagram to send at the next poll.
    pub fn send(&mut self, source: SocketAddr, destination: SocketAddr, payload: &[u8]) {
        self.outbox.push_back((
            Transmit {
                source,
                destination,
            },
            payload.to_vec(),
        ));
    }

    /// Schedules a datagram to send at virtual time `at`.
    pub fn send_at(
        &mut self,
        at: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        payload: &[u8],
    ) {
        let id = self.next_id;
        self.next_id += 1;
        self.scheduled.insert(
            (at, id),
            (
                Transmit {
                    source,
                    destination,
                },
                payload.to_vec(),
            ),
        );
    }

    /// Everything received so far, in arrival order.
    pub fn received(&self) -> &[Received] {
        &self.received
    }

    /// Forgets what was received so far.
    pub fn clear_received(&mut self) {
        self.received.clear();
    }
}

impl Endpoint for Probe {
    fn handle_receive(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        payload: &[u8],
    ) {
        self.received.push(Received {
            at: now,
            source,
            destination,
            payload: payload.to_vec(),
        });
        let answer = match self.reply {
            Reply::None => return,
            Reply::Echo => payload.to_vec(),
            Reply::Reflect => source.to_string().into_bytes(),
        };
        self.outbox.push_back((
            Transmit {
                source: destination,
                destination: source,
            },
            answer,
        ));
    }

    fn poll_transmit(&mut self, _now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        let (transmit, payload) = self.outbox.pop_front()?;
        buf.clear();
        buf.extend_from_slice(&payload);
        Some(transmit)
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.scheduled.keys().next().map(|(at, _)| *at)
    }

    fn handle_timeout(&mut self, now: Instant) {
        while let Some(entry) = self.scheduled.first_entry() {
            if entry.key().0 > now {
                break;
            }
            self.outbox.push_back(entry.remove());
        }
    }
}
