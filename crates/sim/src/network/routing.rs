//! Forwarding: links, routing between segments, NAT translation, delivery.

use super::*;

impl Network {
    /// A host's endpoint handed a datagram to the network, or its TCP stack
    /// a segment.
    pub(super) fn send(&mut self, host: usize, datagram: Datagram) {
        if datagram.tcp.is_none() {
            self.counters.transmitted += 1;
        }
        let Some(h) = self.hosts.get(host) else {
            return self.recycle(datagram.payload);
        };
        if !h.addrs.contains(&datagram.source.ip()) {
            self.counters.invalid_source += 1;
            return self.recycle(datagram.payload);
        }
        if datagram.source.is_ipv4() != datagram.destination.is_ipv4() {
            self.counters.no_route += 1;
            return self.recycle(datagram.payload);
        }
        self.enter_link(
            LinkRef {
                node: Node::Host(host),
                direction: Direction::Up,
            },
            datagram,
        );
    }

    fn link_state(&mut self, link: LinkRef) -> Option<&mut LinkState> {
        let duplex = match link.node {
            Node::Host(i) => &mut self.hosts.get_mut(i)?.link,
            Node::Nat(i) => &mut self.nats.get_mut(i)?.link,
        };
        Some(match link.direction {
            Direction::Up => &mut duplex.up,
            Direction::Down => &mut duplex.down,
        })
    }

    fn enter_link(&mut self, link: LinkRef, datagram: Datagram) {
        let now = self.now;
        let len = datagram.payload.len();
        let Some(admission) = self.link_state(link).map(|s| s.enter(now, len)) else {
            return self.recycle(datagram.payload);
        };
        let [first, second] = admission.exits;
        if let Some(at) = second {
            let mut copy = self.take_buffer();
            copy.extend_from_slice(&datagram.payload);
            let duplicate = Datagram {
                source: datagram.source,
                destination: datagram.destination,
                payload: copy,
                tcp: datagram.tcp,
            };
            self.schedule(at, link, admission.seq, duplicate);
        }
        match first {
            Some(at) => self.schedule(at, link, admission.seq, datagram),
            None => self.recycle(datagram.payload),
        }
    }

    fn schedule(&mut self, at: Instant, link: LinkRef, link_seq: u64, datagram: Datagram) {
        self.push_event(
            at,
            What::Exit {
                link,
                link_seq,
                datagram,
            },
        );
    }

    pub(super) fn push_event(&mut self, at: Instant, what: What) {
        let seq = self.next_event_seq;
        self.next_event_seq += 1;
        self.queue.push(Reverse(Event { at, seq, what }));
    }

    /// An event is due: a packet came out of the far end of a link, or a
    /// TCP timer fired.
    pub(super) fn handle_event(&mut self, event: Event) {
        match event.what {
            What::Exit {
                link,
                link_seq,
                datagram,
            } => self.link_exit(link, link_seq, datagram),
            What::Retransmit(timer) => self.tcp_timer(timer),
        }
    }

    fn link_exit(&mut self, link: LinkRef, link_seq: u64, datagram: Datagram) {
        if let Some(state) = self.link_state(link) {
            state.exit(link_seq);
        }
        match (link.node, link.direction) {
            (Node::Host(h), Direction::Up) => match self.hosts.get(h) {
                Some(host) => self.route(host.segment, datagram, false),
                None => self.recycle(datagram.payload),
            },
            (Node::Nat(n), Direction::Up) => match self.nats.get(n) {
                Some(nat) => self.route(nat.outer, datagram, false),
                None => self.recycle(datagram.payload),
            },
            (Node::Host(h), Direction::Down) => self.deliver(h, datagram),
            (Node::Nat(n), Direction::Down) => self.nat_inbound(n, datagram),
        }
    }

    /// Forwards a datagram that arrived on `segment`. `from_gateway` is set
    /// for datagrams the segment's NAT let in, which must not go back out.
    fn route(&mut self, segment: Segment, datagram: Datagram, from_gateway: bool) {
        let destination = datagram.destination.ip();
        if let Segment::Inside(n) = segment {
            let is_public = self
                .nats
                .get(n)
                .is_some_and(|nat| nat.state.config.public_ip == destination);
            if is_public && !from_gateway {
                return self.hairpin(n, datagram);
            }
        }
        match self.addresses.get(&(segment, destination)).copied() {
            Some(node) => self.enter_link(
                LinkRef {
                    node,
                    direction: Direction::Down,
                },
                datagram,
            ),
            None => match segment {
                Segment::Inside(n) if !from_gateway => self.nat_outbound(n, datagram),
                _ => {
                    self.counters.no_route += 1;
                    self.recycle(datagram.payload);
                }
            },
        }
    }

    /// RFC 4787 section 4 (RFC 5382 for TCP): translate the source and
    /// send out of NAT `n`.
    fn nat_outbound(&mut self, n: usize, mut datagram: Datagram) {
        let now = self.now;
        let Some(nat) = self.nats.get_mut(n) else {
            return self.recycle(datagram.payload);
        };
        if nat.state.config.public_ip.is_ipv4() != datagram.destination.is_ipv4() {
            self.counters.no_route += 1;
            return self.recycle(datagram.payload);
        }
        let proto = proto_of(&datagram);
        if proto == Proto::Udp && nat.state.config.udp_blocked {
            nat.state.counters.udp_blocked += 1;
            return self.recycle(datagram.payload);
        }
        match nat
            .state
            .outbound(now, proto, datagram.source, datagram.destination)
        {
            Some(public) => {
                datagram.source = public;
                self.enter_link(
                    LinkRef {
                        node: Node::Nat(n),
                        direction: Direction::Up,
                    },
                    datagram,
                );
            }
            None => self.recycle(datagram.payload),
        }
    }

    /// RFC 4787 section 5: filter and translate the destination into NAT
    /// `n`. A TCP SYN from outside never gets in (RFC 5382 REQ-4: dropped
    /// silently; simultaneous open is not modelled).
    fn nat_inbound(&mut self, n: usize, mut datagram: Datagram) {
        let now = self.now;
        let Some(nat) = self.nats.get_mut(n) else {
            return self.recycle(datagram.payload);
        };
        let proto = proto_of(&datagram);
        if proto == Proto::Udp && nat.state.config.udp_blocked {
            nat.state.counters.udp_blocked += 1;
            return self.recycle(datagram.payload);
        }
        if datagram.tcp.is_some_and(|h| h.kind == SegKind::Syn) {
            nat.state.counters.tcp_unsolicited += 1;
            return self.recycle(datagram.payload);
        }
        match nat
            .state
            .inbound(now, proto, datagram.source, datagram.destination.port())
        {
            Ok(internal) => {
                datagram.destination = internal;
                self.route(Segment::Inside(n), datagram, true);
            }
            Err(_) => self.recycle(datagram.payload),
        }
    }

    /// RFC 4787 section 6: an internal host sent to the NAT's public address.
    fn hairpin(&mut self, n: usize, mut datagram: Datagram) {
        let now = self.now;
        let Some(nat) = self.nats.get_mut(n) else {
            return self.recycle(datagram.payload);
        };
        if datagram.tcp.is_some() {
            nat.state.counters.tcp_hairpin_dropped += 1;
            return self.recycle(datagram.payload);
        }
        if nat.state.config.udp_blocked {
            nat.state.counters.udp_blocked += 1;
            return self.recycle(datagram.payload);
        }
        if !nat.state.config.hairpinning {
            nat.state.counters.hairpin_dropped += 1;
            return self.recycle(datagram.payload);
        }
        let Some(public) =
            nat.state
                .outbound(now, Proto::Udp, datagram.source, datagram.destination)
        else {
            return self.recycle(datagram.payload);
        };
        // REQ-9: the receiver sees the sender's external mapping.
        datagram.source = public;
        match nat.state.inbound(
            now,
            Proto::Udp,
            datagram.source,
            datagram.destination.port(),
        ) {
            Ok(internal) => {
                nat.state.counters.hairpinned += 1;
                datagram.destination = internal;
                self.route(Segment::Inside(n), datagram, true);
            }
            Err(_) => self.recycle(datagram.payload),
        }
    }

    fn deliver(&mut self, host: usize, datagram: Datagram) {
        let now = self.now;
        let entry = TraceEntry {
            at: now - self.start,
            source: datagram.source,
            destination: datagram.destination,
            len: datagram.payload.len(),
            protocol: match datagram.tcp {
                Some(_) => Protocol::Tcp,
                None => Protocol::Udp,
            },
        };
        if let Some(header) = datagram.tcp {
            self.trace.record(
                entry,
                Some((header.kind as u8, header.seq)),
                &datagram.payload,
            );
            return self.tcp_arrive(host, datagram);
        }
        if let Some(h) = self.hosts.get_mut(host) {
            self.counters.delivered += 1;
            self.trace.record(entry, None, &datagram.payload);
            h.endpoint.handle_receive(
                now,
                datagram.source,
                datagram.destination,
                &datagram.payload,
            );
        }
        self.recycle(datagram.payload);
    }

    pub(super) fn take_buffer(&mut self) -> Vec<u8> {
        self.pool.pop().unwrap_or_default()
    }

    pub(super) fn recycle(&mut self, mut buf: Vec<u8>) {
        buf.clear();
        if self.pool.len() < 1024 {
            self.pool.push(buf);
        }
    }
}

fn proto_of(datagram: &Datagram) -> Proto {
    match datagram.tcp {
        Some(_) => Proto::Tcp,
        None => Proto::Udp,
    }
}
