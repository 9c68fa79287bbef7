//! Datagrams in flight and the event queue's ordering.

use std::cmp::Ordering;
use std::net::SocketAddr;
use std::time::Instant;

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

/// A datagram in flight, with its current (possibly translated) addresses.
#[derive(Debug)]
pub(crate) struct Datagram {
    pub(crate) source: SocketAddr,
    pub(crate) destination: SocketAddr,
    pub(crate) payload: Vec<u8>,
}

/// A datagram coming out of the far end of a link at `at`.
#[derive(Debug)]
pub(crate) struct Event {
    pub(crate) at: Instant,
    pub(crate) seq: u64,
    pub(crate) link: LinkRef,
    pub(crate) link_seq: u64,
    pub(crate) datagram: Datagram,
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
            link,
            link_seq: 0,
            datagram: Datagram {
                source: "1.1.1.1:1".parse().unwrap(),
                destination: "1.1.1.1:1".parse().unwrap(),
                payload: Vec::new(),
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
