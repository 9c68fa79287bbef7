//! Datagrams in flight and the event queue's ordering.

use std::cmp::Ordering;
use std::net::SocketAddr;
use std::time::Instant;

use crate::stream::ConnId;

/// Where a node lives: the public network, or the private side of a NAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Segment {
    Public,
    Inside(usize),
}

/// A thing with an access link: a host or the public side of a NAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Node {
    Host(usize),
    Nat(usize),
}

/// Which half of an access link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Up,
    Down,
}

/// One direction of one node's access link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LinkRef {
    pub(crate) node: Node,
    pub(crate) direction: Direction,
}

/// A packet in flight, with its current (possibly translated) addresses:
/// a UDP datagram, or a TCP segment when `tcp` is set.
#[derive(Debug)]
pub(crate) struct Datagram {
    pub(crate) source: SocketAddr,
    pub(crate) destination: SocketAddr,
    pub(crate) payload: Vec<u8>,
    pub(crate) tcp: Option<TcpHeader>,
}

/// Which end of a TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Side {
    /// The end that connected (active open).
    Opener = 0,
    /// The end a listener accepted (passive open).
    Acceptor = 1,
}

impl Side {
    pub(crate) fn other(self) -> Side {
        match self {
            Side::Opener => Side::Acceptor,
            Side::Acceptor => Side::Opener,
        }
    }
}

/// What a TCP segment carries (RFC 9293 §3.1 control bits, reduced to the
/// ones the model needs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SegKind {
    Syn = 1,
    SynAck = 2,
    Data = 3,
    Fin = 4,
    Rst = 5,
}

/// The header of a simulated TCP segment. `conn` and `from` let the sender
/// learn that the segment arrived (acknowledgements are not packets); the
/// receiver finds its connection by the segment's addresses, as TCP does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TcpHeader {
    pub(crate) conn: ConnId,
    pub(crate) from: Side,
    pub(crate) kind: SegKind,
    /// Segment number in its direction (SYN or SYN-ACK is 0); 0 for RST.
    pub(crate) seq: u64,
}

/// A TCP retransmission timer: the segment `seq` of `side`'s direction of
/// `conn`, transmitted for the `attempt`-th time (0 first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timer {
    pub(crate) conn: ConnId,
    pub(crate) side: Side,
    pub(crate) seq: u64,
    pub(crate) attempt: u32,
}

/// What happens at an event's instant.
#[derive(Debug)]
pub(crate) enum What {
    /// A packet comes out of the far end of a link.
    Exit {
        link: LinkRef,
        link_seq: u64,
        datagram: Datagram,
    },
    /// A TCP retransmission timer fires.
    Retransmit(Timer),
}

/// Something due at `at`; ties broken by `seq`, the order of scheduling.
#[derive(Debug)]
pub(crate) struct Event {
    pub(crate) at: Instant,
    pub(crate) seq: u64,
    pub(crate) what: What,
}

impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Event {}

impl PartialOrd for Event {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Event {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    use std::time::Duration;

    #[test]
    fn events_are_ordered_by_time_then_sequence() {
        let now = Instant::now();
        let link = LinkRef {
            node: Node::Host(0),
            direction: Direction::Up,
        };
        let event = |at, seq| Event {
            at,
            seq,
            what: What::Exit {
                link,
                link_seq: 0,
                datagram: Datagram {
                    source: "1.1.1.1:1".parse().unwrap(),
                    destination: "1.1.1.1:1".parse().unwrap(),
                    payload: Vec::new(),
                    tcp: None,
                },
            },
        };
        let mut heap = BinaryHeap::new();
        heap.push(Reverse(event(now + Duration::from_millis(1), 0)));
        heap.push(Reverse(event(now, 2)));
        heap.push(Reverse(event(now, 1)));
        let order: Vec<u64> = std::iter::from_fn(|| heap.pop().map(|Reverse(e)| e.seq)).collect();
        assert_eq!(order, vec![1, 2, 0]);
    }
}
