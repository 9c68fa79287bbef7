//! Data channel behaviour end to end, two engines back to back: DCEP with
//! the channel open before the ACK, stream ids by DTLS role (also for
//! channels created before the role is known), negotiated channels,
//! reliability settings, buffered amount, closing from either side, limits,
//! dropped input, the receive pause, and 1,000 channels on one association
//! over a lossy `ferrtc-sim` network.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ferrtc_datachannel::{
    ChannelId, Config, DataChannelInit, DataChannelMessage, DataChannelState, DataChannels, Error,
    Event,
};
use ferrtc_dtls::Role;
use ferrtc_sim::{Endpoint, LinkConfig, Network, Transmit};

mod common;
use common::{dcep_open, engine, sctp};

struct Pair {
    a: DataChannels,
    b: DataChannels,
    now: Instant,
    a_events: Vec<Event>,
    b_events: Vec<Event>,
}

impl Pair {
    /// Two engines, `a` the DTLS client, not started.
    fn unstarted(a: DataChannels, b: DataChannels) -> Self {
        Self {
            a,
            b,
            now: Instant::now(),
            a_events: Vec::new(),
            b_events: Vec::new(),
        }
    }

    /// Starts both associations (DTLS is connected) and runs until quiet.
    fn start(&mut self) {
        self.a.start(self.now, sctp(1));
        self.b.start(self.now, sctp(2));
        self.pump();
        assert!(self.a_events.contains(&Event::Connected));
        assert!(self.b_events.contains(&Event::Connected));
    }

    /// A connected pair: `a` is the DTLS client, `b` the server.
    fn new() -> Self {
        let mut p = Self::unstarted(engine(Role::Client), engine(Role::Server));
        p.start();
        p
    }

    /// Moves packets both ways until quiet, letting timers run.
    fn pump(&mut self) {
        self.pump_dropping(0);
    }

    /// Like `pump`, dropping every `n`th packet each way (0: none).
    fn pump_dropping(&mut self, n: usize) {
        let mut count = 0usize;
        self.pump_through(Duration::from_secs(5), |_, _| {
            count += 1;
            n == 0 || count % n != 0
        });
    }

    /// Moves packets both ways until quiet, each through `route` (given
    /// whether it goes from `a` to `b`; `false`: lost), letting timers
    /// due within `horizon` run.
    fn pump_through(
        &mut self,
        horizon: Duration,
        mut route: impl FnMut(bool, &mut Vec<u8>) -> bool,
    ) {
        let mut buf = Vec::new();
        for _ in 0..100_000 {
            let mut moved = false;
            while self.a.poll_transmit(self.now, &mut buf).is_some() {
                if route(true, &mut buf) {
                    let _ = self.b.handle_receive(self.now, &buf);
                }
                moved = true;
            }
            while self.b.poll_transmit(self.now, &mut buf).is_some() {
                if route(false, &mut buf) {
                    let _ = self.a.handle_receive(self.now, &buf);
                }
                moved = true;
            }
            self.drain();
            // Give delayed SACKs and retransmissions their time.
            if !moved && !self.run_next_timer_within(horizon) {
                return;
            }
        }
    }

    /// Moves time to the next timer of either side due within `horizon`
    /// and runs both sides' timers; `false` if none is due by then.
    fn run_next_timer_within(&mut self, horizon: Duration) -> bool {
        let next = [self.a.poll_timeout(), self.b.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        match next {
            Some(t) if t <= self.now + horizon => {
                self.now = t.max(self.now);
                self.a.handle_timeout(self.now);
                self.b.handle_timeout(self.now);
                true
            }
            _ => false,
        }
    }

    fn drain(&mut self) {
        while let Some(e) = self.a.poll_event() {
            self.a_events.push(e);
        }
        while let Some(e) = self.b.poll_event() {
            self.b_events.push(e);
        }
    }

    /// The channel the peer announced on `stream`, as `b` knows it.
    fn b_incoming(&self, stream: u16) -> ChannelId {
        incoming(&self.b_events, &self.b, stream)
    }
}

fn incoming(events: &[Event], dc: &DataChannels, stream: u16) -> ChannelId {
    // The latest: a stream is reused once its channel is closed.
    events
        .iter()
        .rev()
        .find_map(|e| match e {
            Event::Incoming(id) if dc.channel(*id).and_then(|c| c.id) == Some(stream) => Some(*id),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no incoming channel on stream {stream}"))
}

fn messages(events: &[Event]) -> Vec<(ChannelId, DataChannelMessage)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Message { channel, message } => Some((*channel, message.clone())),
            _ => None,
        })
        .collect()
}

fn stream(dc: &DataChannels, id: ChannelId) -> u16 {
    dc.channel(id).and_then(|c| c.id).expect("stream allocated")
}

#[test]
fn in_band_channel_opens_on_both_sides_with_its_settings() {
    let mut p = Pair::new();
    let init = DataChannelInit {
        protocol: "chat-v1".into(),
        ordered: false,
        max_retransmits: Some(2),
        ..DataChannelInit::default()
    };
    let id = p.a.create(p.now, "room", init).unwrap();
    let s = stream(&p.a, id);
    assert_eq!(s % 2, 0, "the DTLS client picks even ids");
    p.pump();
    assert!(p.a_events.contains(&Event::Open(id)));
    let on_b = p.b_incoming(s);
    // W3C: `datachannel` then `open`.
    let at = p.b_events.iter().position(|e| *e == Event::Incoming(on_b));
    assert_eq!(p.b_events.get(at.unwrap() + 1), Some(&Event::Open(on_b)));
    let info = p.b.channel(on_b).unwrap();
    assert_eq!(info.label, "room");
    assert_eq!(info.protocol, "chat-v1");
    assert!(!info.ordered);
    assert_eq!(info.max_retransmits, Some(2));
    assert!(!info.negotiated);
    assert_eq!(info.ready_state, DataChannelState::Open);

    let id_b =
        p.b.create(p.now, "other", DataChannelInit::default())
            .unwrap();
    assert_eq!(stream(&p.b, id_b) % 2, 1, "the DTLS server picks odd ids");
    p.pump();
    let on_a = incoming(&p.a_events, &p.a, stream(&p.b, id_b));
    assert_eq!(p.a.channel(on_a).unwrap().label, "other");
}

#[test]
fn an_in_band_channel_is_open_and_carries_data_before_the_ack() {
    let mut p = Pair::new();
    let id =
        p.a.create(p.now, "eager", DataChannelInit::default())
            .unwrap();
    // RFC 8832 §6: open as soon as DATA_CHANNEL_OPEN is queued, no round trip.
    p.drain();
    assert!(p.a_events.contains(&Event::Open(id)));
    assert_eq!(p.a.channel(id).unwrap().ready_state, DataChannelState::Open);
    p.a.send(p.now, id, b"first", false).unwrap();
    // Only a's packets cross: b never gets to send the ACK back.
    let mut buf = Vec::new();
    while p.a.poll_transmit(p.now, &mut buf).is_some() {
        p.b.handle_receive(p.now, &buf).unwrap();
    }
    p.drain();
    let on_b = p.b_incoming(stream(&p.a, id));
    assert_eq!(
        messages(&p.b_events),
        vec![(on_b, DataChannelMessage::Text("first".into()))]
    );
}

#[test]
fn partially_reliable_unordered_channel_settings_apply_both_ways_under_loss() {
    let mut p = Pair::new();
    let init = DataChannelInit {
        ordered: false,
        max_retransmits: Some(0),
        ..DataChannelInit::default()
    };
    let id = p.a.create(p.now, "lossy", init).unwrap();
    p.pump();
    let on_b = p.b_incoming(stream(&p.a, id));
    assert_eq!(p.b.channel(on_b).unwrap().max_retransmits, Some(0));
    for k in 0..300u32 {
        // One message per packet.
        let mut m = vec![0u8; 1000];
        m[..4].copy_from_slice(&k.to_be_bytes());
        p.a.send(p.now, id, &m, true).unwrap();
        p.b.send(p.now, on_b, &m, true).unwrap();
        if k % 10 == 9 {
            p.pump_dropping(7);
        }
    }
    p.pump();
    let count = |evs: &[Event]| {
        let mut ks: Vec<u32> = messages(evs)
            .iter()
            .map(|(_, m)| u32::from_be_bytes(m.as_bytes()[..4].try_into().unwrap()))
            .collect();
        let n = ks.len();
        ks.sort_unstable();
        ks.dedup();
        assert_eq!(ks.len(), n, "no duplicates");
        n
    };
    let (to_b, to_a) = (count(&p.b_events), count(&p.a_events));
    // One packet in seven is lost and never retransmitted: messages go missing,
    // on the creator's side and on the side that learnt the settings by DCEP.
    assert!((200..300).contains(&to_b), "a -> b delivered {to_b} of 300");
    assert!((200..300).contains(&to_a), "b -> a delivered {to_a} of 300");
    let abandoned = |dc: &DataChannels| dc.association().unwrap().stats().messages_abandoned;
    assert!(abandoned(&p.a) > 0);
    assert!(abandoned(&p.b) > 0);
}

#[test]
fn channels_created_before_the_role_and_the_association_get_streams_of_the_role_parity() {
    for (role, parity) in [(Role::Client, 0), (Role::Server, 1)] {
        let now = Instant::now();
        let mut early = DataChannels::new(Config::default());
        let ids: Vec<ChannelId> = (0..3)
            .map(|i| {
                early
                    .create(now, &format!("early{i}"), DataChannelInit::default())
                    .unwrap()
            })
            .collect();
        for id in &ids {
            let info = early.channel(*id).unwrap();
            assert_eq!(info.id, None, "no stream before the role is known");
            assert_eq!(info.ready_state, DataChannelState::Connecting);
        }
        early.set_role(now, role);
        let peer = engine(match role {
            Role::Client => Role::Server,
            Role::Server => Role::Client,
        });
        let mut p = Pair::unstarted(early, peer);
        p.start();
        let streams: Vec<u16> = ids.iter().map(|id| stream(&p.a, *id)).collect();
        assert_eq!(streams, vec![parity, parity + 2, parity + 4]);
        for (id, s) in ids.iter().zip(&streams) {
            assert!(p.a_events.contains(&Event::Open(*id)));
            let on_peer = p.b_incoming(*s);
            assert_eq!(p.b.channel(on_peer).unwrap().id, Some(*s));
        }
    }
}

/// An in-band (not negotiated) channel ignores a requested `id` and takes a
/// stream of its DTLS role's parity, so the peer accepts its
/// DATA_CHANNEL_OPEN: RFC 8832 §6 (the client uses even stream ids, the
/// server odd) and W3C webrtc-pc `createDataChannel` (`id` is only used
/// when `negotiated` is true).
#[test]
fn an_in_band_channel_ignores_a_requested_id_and_takes_a_stream_of_its_role_parity() {
    let mut p = Pair::new();
    let init = DataChannelInit {
        id: Some(3),
        ..DataChannelInit::default()
    };
    let id = p.a.create(p.now, "odd wish", init).unwrap();
    let s = stream(&p.a, id);
    assert_eq!(s % 2, 0, "the DTLS client opens even streams only");
    p.pump();
    assert!(p.a_events.contains(&Event::Open(id)));
    let on_b = p.b_incoming(s);
    assert_eq!(p.b.channel(on_b).unwrap().label, "odd wish");
    assert_eq!(p.b.stats().dcep_dropped, 0);
}

/// A negotiated channel whose `id` is not below the association's outbound
/// stream count cannot carry a message (RFC 8831 §6.2: the stream count is
/// negotiated at association setup). Made before the association came up,
/// it closes then instead of opening (W3C webrtc-pc §6.1, the SCTP
/// transport connects); asked for once it is up, it is refused
/// (`createDataChannel`: an id at or above `[[MaxChannels]]`, an
/// `OperationError`).
#[test]
fn a_negotiated_channel_beyond_the_outbound_streams_closes_instead_of_opening() {
    let mut p = Pair::unstarted(engine(Role::Client), engine(Role::Server));
    let init = DataChannelInit {
        negotiated: true,
        id: Some(6),
        ..DataChannelInit::default()
    };
    let early = p.a.create(p.now, "early", init.clone()).unwrap();
    p.a.start(
        p.now,
        ferrtc_sctp::Config {
            streams: 4,
            ..sctp(1)
        },
    );
    p.b.start(p.now, sctp(2));
    p.pump();
    assert_eq!(p.a.association().unwrap().outbound_streams(), 4);
    let late = p.a.create(
        p.now,
        "late",
        DataChannelInit {
            id: Some(8),
            ..init
        },
    );
    assert_eq!(late, Err(Error::IdOutOfRange { id: 8, streams: 4 }));
    p.drain();
    assert!(!p.a_events.contains(&Event::Open(early)), "opened");
    assert!(p.a_events.contains(&Event::Closed(early)), "not closed");
    assert_eq!(
        p.a.channel(early).unwrap().ready_state,
        DataChannelState::Closed
    );
    assert_eq!(p.a.stats().channels_opened, 0);
    assert_eq!(p.a.channels().count(), 0);
}

/// Stream id 65,535 is reserved (RFC 8831 §6.5) and W3C webrtc-pc
/// `createDataChannel` throws a `TypeError` for it (not the
/// `OperationError` of an id in use): [`Error::InvalidInit`].
#[test]
fn id_65535_is_refused_as_an_invalid_init() {
    let now = Instant::now();
    let mut dc = engine(Role::Client);
    let reserved = DataChannelInit {
        negotiated: true,
        id: Some(u16::MAX),
        ..DataChannelInit::default()
    };
    assert!(matches!(
        dc.create(now, "r", reserved),
        Err(Error::InvalidInit(_))
    ));
    assert_eq!(dc.channels().count(), 0);
}

#[test]
fn a_channel_created_after_the_role_but_before_the_association_opens_when_it_comes_up() {
    let now = Instant::now();
    let mut a = engine(Role::Client);
    let id = a.create(now, "early", DataChannelInit::default()).unwrap();
    assert_eq!(
        a.channel(id).unwrap().id,
        Some(0),
        "the role gives the stream"
    );
    assert_eq!(
        a.channel(id).unwrap().ready_state,
        DataChannelState::Connecting
    );
    assert!(matches!(
        a.send(now, id, b"too early", false),
        Err(Error::NotOpen(_))
    ));
    let mut p = Pair::unstarted(a, engine(Role::Server));
    p.start();
    assert!(p.a_events.contains(&Event::Open(id)));
    p.b_incoming(0);
}

#[test]
fn negotiated_channel_needs_no_dcep_and_carries_messages_both_ways() {
    let mut p = Pair::new();
    let init = DataChannelInit {
        negotiated: true,
        id: Some(7),
        ..DataChannelInit::default()
    };
    let a_id = p.a.create(p.now, "neg", init.clone()).unwrap();
    let b_id = p.b.create(p.now, "neg", init).unwrap();
    assert_eq!(stream(&p.a, a_id), 7);
    assert_eq!(stream(&p.b, b_id), 7);
    p.pump();
    assert!(p.a_events.contains(&Event::Open(a_id)));
    assert!(p.b_events.contains(&Event::Open(b_id)));
    assert!(!p.b_events.iter().any(|e| matches!(e, Event::Incoming(_))));
    assert!(!p.a_events.iter().any(|e| matches!(e, Event::Incoming(_))));
    p.a.send(p.now, a_id, b"hello", false).unwrap();
    p.b.send(p.now, b_id, &[1, 2, 3], true).unwrap();
    p.pump();
    assert_eq!(
        messages(&p.b_events),
        vec![(b_id, DataChannelMessage::Text("hello".into()))]
    );
    assert_eq!(
        messages(&p.a_events),
        vec![(a_id, DataChannelMessage::Binary(vec![1, 2, 3]))]
    );
    let stats = p.a.channel(a_id).unwrap().stats;
    assert_eq!((stats.messages_sent, stats.bytes_sent), (1, 5));
    assert_eq!((stats.messages_received, stats.bytes_received), (1, 3));
}

#[test]
fn empty_string_and_empty_binary_messages_arrive_empty() {
    let mut p = Pair::new();
    let id = p.a.create(p.now, "e", DataChannelInit::default()).unwrap();
    p.pump();
    p.a.send(p.now, id, b"", false).unwrap();
    p.a.send(p.now, id, b"", true).unwrap();
    p.pump();
    let on_b = p.b_incoming(stream(&p.a, id));
    assert_eq!(
        messages(&p.b_events),
        vec![
            (on_b, DataChannelMessage::Text(String::new())),
            (on_b, DataChannelMessage::Binary(Vec::new())),
        ]
    );
}

/// W3C webrtc-pc `send()` adds the byte size of the data to
/// `bufferedAmount`: an empty message adds 0, though it travels as one byte
/// with its "empty" PPID (RFC 8831 §6.6). Its sending takes nothing away
/// either, so it fires no `bufferedamountlow` (the amount never falls).
#[test]
fn an_empty_message_adds_nothing_to_the_buffered_amount() {
    let mut p = Pair::new();
    let id = p.a.create(p.now, "e", DataChannelInit::default()).unwrap();
    p.pump();
    p.a_events.clear();
    p.a.send(p.now, id, b"", false).unwrap();
    p.a.send(p.now, id, b"", true).unwrap();
    assert_eq!(p.a.buffered_amount(id), 0);
    p.a.send(p.now, id, b"abc", true).unwrap();
    assert_eq!(p.a.buffered_amount(id), 3);
    p.pump();
    assert_eq!(p.a.buffered_amount(id), 0);
    let lows = p
        .a_events
        .iter()
        .filter(|e| **e == Event::BufferedAmountLow(id))
        .count();
    assert_eq!(lows, 1, "once, for the three bytes: {:?}", p.a_events);
    p.a_events.clear();
    p.a.send(p.now, id, b"", false).unwrap();
    p.pump();
    assert!(
        !p.a_events.contains(&Event::BufferedAmountLow(id)),
        "no bufferedamountlow for an empty message"
    );
    assert_eq!(messages(&p.b_events).len(), 4);
}

#[test]
fn send_is_refused_on_unknown_channels_and_over_the_max_message_size() {
    let mut p = Pair::new();
    let id = p.a.create(p.now, "x", DataChannelInit::default()).unwrap();
    // Handles belong to their engine: b's second handle names nothing on a,
    // which made one channel.
    p.b.create(p.now, "y", DataChannelInit::default()).unwrap();
    let unknown = p.b.create(p.now, "z", DataChannelInit::default()).unwrap();
    assert!(p.a.channel(unknown).is_none());
    assert!(matches!(
        p.a.send(p.now, unknown, b"nobody", false),
        Err(Error::UnknownChannel(_))
    ));
    p.a.set_max_message_size(10);
    assert!(matches!(
        p.a.send(p.now, id, &[0; 11], true),
        Err(Error::MessageTooLarge { len: 11, max: 10 })
    ));
    p.a.send(p.now, id, &[0; 10], true).unwrap();
}

#[test]
fn invalid_inits_are_refused() {
    let now = Instant::now();
    let mut dc = engine(Role::Client);
    let bad = [
        DataChannelInit {
            max_retransmits: Some(1),
            max_packet_life_time: Some(Duration::from_millis(1)),
            ..DataChannelInit::default()
        },
        DataChannelInit {
            max_packet_life_time: Some(Duration::from_millis(65_536)),
            ..DataChannelInit::default()
        },
        DataChannelInit {
            negotiated: true,
            ..DataChannelInit::default()
        },
    ];
    for init in bad {
        assert!(matches!(
            dc.create(now, "bad", init),
            Err(Error::InvalidInit(_))
        ));
    }
    let taken = DataChannelInit {
        negotiated: true,
        id: Some(4),
        ..DataChannelInit::default()
    };
    dc.create(now, "t", taken.clone()).unwrap();
    assert_eq!(dc.create(now, "t2", taken), Err(Error::IdInUse(4)));
    assert_eq!(dc.channels().count(), 1);
}

/// Closes `id` on `p.a` (or the peer's channel on `p.b`), then checks both
/// sides reach closed and the stream can be used again.
fn close_from(closer_is_a: bool) {
    let mut p = Pair::new();
    let a_id =
        p.a.create(p.now, "bye", DataChannelInit::default())
            .unwrap();
    p.pump();
    let s = stream(&p.a, a_id);
    let b_id = p.b_incoming(s);
    let (closer, closer_id, other_id) = if closer_is_a {
        (&mut p.a, a_id, b_id)
    } else {
        (&mut p.b, b_id, a_id)
    };
    closer.send(p.now, closer_id, b"last", false).unwrap();
    closer.close(p.now, closer_id).unwrap();
    assert_eq!(
        closer.channel(closer_id).unwrap().ready_state,
        DataChannelState::Closing
    );
    p.pump();
    let (closer_events, other_events) = if closer_is_a {
        (&p.a_events, &p.b_events)
    } else {
        (&p.b_events, &p.a_events)
    };
    assert_eq!(
        messages(other_events),
        vec![(other_id, DataChannelMessage::Text("last".into()))],
        "data sent before close arrives"
    );
    // The side that did not call close hears `closing` (RFC 8831 §6.7).
    assert!(other_events.contains(&Event::Closing(other_id)));
    assert!(!closer_events.contains(&Event::Closing(closer_id)));
    assert!(closer_events.contains(&Event::Closed(closer_id)));
    assert!(other_events.contains(&Event::Closed(other_id)));
    for (dc, id) in [(&p.a, a_id), (&p.b, b_id)] {
        assert_eq!(
            dc.channel(id).unwrap().ready_state,
            DataChannelState::Closed
        );
        assert_eq!(dc.channels().count(), 0);
        assert_eq!(dc.stats().channels_opened, 1);
        assert_eq!(dc.stats().channels_closed, 1);
    }
    // The stream is free again: a negotiated channel may take it at once.
    let init = DataChannelInit {
        negotiated: true,
        id: Some(s),
        ..DataChannelInit::default()
    };
    let again = p.a.create(p.now, "again", init.clone()).unwrap();
    let again_b = p.b.create(p.now, "again", init).unwrap();
    assert_ne!(again, a_id, "handles are never reused");
    p.pump();
    p.a.send(p.now, again, b"new life", false).unwrap();
    p.pump();
    assert_eq!(
        messages(&p.b_events).last(),
        Some(&(again_b, DataChannelMessage::Text("new life".into())))
    );
    // In-band channels take the next stream of the parity, round robin: the
    // peer may not have seen its own reset of the old one acknowledged.
    let next =
        p.a.create(p.now, "next", DataChannelInit::default())
            .unwrap();
    assert_eq!(stream(&p.a, next), s + 2);
}

#[test]
fn close_by_the_creator_reaches_closed_on_both_sides_and_frees_the_stream() {
    close_from(true);
}

#[test]
fn close_by_the_peer_reaches_closed_on_both_sides_and_frees_the_stream() {
    close_from(false);
}

#[test]
fn a_channel_closed_before_it_opens_closes_at_once_without_counting() {
    let now = Instant::now();
    let mut dc = DataChannels::new(Config::default());
    let id = dc.create(now, "never", DataChannelInit::default()).unwrap();
    dc.close(now, id).unwrap();
    assert_eq!(dc.poll_event(), Some(Event::Closed(id)));
    assert_eq!(
        dc.channel(id).unwrap().ready_state,
        DataChannelState::Closed
    );
    assert_eq!(dc.stats().channels_closed, 0);
    // Closing twice is a no-op (W3C `close()`).
    assert_eq!(dc.close(now, id), Ok(()));
    assert_eq!(dc.poll_event(), None);
}

/// W3C webrtc-pc: `bufferedAmount` counts the data given to `send()`, so
/// the channel's DATA_CHANNEL_OPEN (RFC 8832 §5.1), queued as the channel
/// is created, is not in it, and its sending fires no
/// `bufferedamountlow`. The application's data drains and fires it once,
/// as the amount crosses the threshold. (The OPEN counted until sent, and
/// its sending fired a `bufferedamountlow` with the threshold at 0.)
#[test]
fn buffered_amount_drains_and_fires_the_low_threshold_event_once() {
    let mut p = Pair::new();
    let id =
        p.a.create(p.now, "bulk", DataChannelInit::default())
            .unwrap();
    assert_eq!(p.a.buffered_amount(id), 0, "the OPEN is not counted");
    p.pump();
    assert!(
        !p.a_events.contains(&Event::BufferedAmountLow(id)),
        "no bufferedamountlow for the OPEN: {:?}",
        p.a_events
    );
    p.a.set_buffered_amount_low_threshold(id, 10_000).unwrap();
    for _ in 0..100 {
        p.a.send(p.now, id, &[0u8; 16 * 1024], true).unwrap();
    }
    assert_eq!(p.a.buffered_amount(id), 100 * 16 * 1024);
    p.pump();
    assert_eq!(p.a.buffered_amount(id), 0);
    let lows = p
        .a_events
        .iter()
        .filter(|e| **e == Event::BufferedAmountLow(id))
        .count();
    assert_eq!(lows, 1, "fires once when crossing the threshold");
    assert_eq!(messages(&p.b_events).len(), 100);
}

#[test]
fn a_threshold_set_before_the_stream_exists_applies_once_it_opens() {
    let mut p = Pair::unstarted(engine(Role::Client), engine(Role::Server));
    let id =
        p.a.create(p.now, "bulk", DataChannelInit::default())
            .unwrap();
    p.a.set_buffered_amount_low_threshold(id, 10_000).unwrap();
    p.start();
    for _ in 0..10 {
        p.a.send(p.now, id, &[0u8; 16 * 1024], true).unwrap();
    }
    p.pump();
    assert!(p.a_events.contains(&Event::BufferedAmountLow(id)));
}

#[test]
fn bad_input_from_the_peer_is_dropped_and_counted() {
    // The far side is a bare association: it sends what it likes.
    let now = Instant::now();
    let mut a = engine(Role::Client);
    a.start(now, sctp(1));
    let mut raw = ferrtc_sctp::Association::new(sctp(2));
    raw.connect(now);
    let mut buf = Vec::new();
    let mut exchange = |a: &mut DataChannels, raw: &mut ferrtc_sctp::Association| {
        for _ in 0..10 {
            while a.poll_transmit(now, &mut buf).is_some() {
                let _ = raw.handle_receive(now, &buf);
            }
            while raw.poll_transmit(now, &mut buf).is_some() {
                a.handle_receive(now, &buf).unwrap();
            }
        }
    };
    exchange(&mut a, &mut raw);
    let init = DataChannelInit {
        negotiated: true,
        id: Some(3),
        ..DataChannelInit::default()
    };
    let id = a.create(now, "n", init).unwrap();
    let opts = ferrtc_sctp::SendOptions::default();
    use ferrtc_sctp::ppid;
    for (stream, ppid, data) in [
        (3, ppid::BINARY_PARTIAL, &b"part"[..]),
        (3, ppid::STRING_PARTIAL, b"part"),
        (3, ppid::STRING, &[0xff, 0xfe]),
        (3, ppid::BINARY, b"whole"),
        (3, 9999, b"unknown ppid"),
        (9, ppid::BINARY, b"no channel"),
        (5, ppid::DCEP, &[0x03, 0x00]),
    ] {
        raw.send(now, stream, ppid, data, opts).unwrap();
    }
    exchange(&mut a, &mut raw);
    let mut got = Vec::new();
    while let Some(e) = a.poll_event() {
        if let Event::Message { channel, message } = e {
            got.push((channel, message));
        }
    }
    assert_eq!(
        got,
        vec![(id, DataChannelMessage::Binary(b"whole".to_vec()))]
    );
    let stats = a.stats();
    assert_eq!(stats.partial_messages_dropped, 2);
    assert_eq!(stats.invalid_utf8_dropped, 1);
    assert_eq!(stats.unknown_ppid_dropped, 1);
    assert_eq!(stats.unknown_stream_dropped, 1);
    assert_eq!(stats.dcep_dropped, 1);
    assert_eq!(stats.messages_dropped(), 6);
}

#[test]
fn by_default_1024_channels_open_and_the_next_is_refused() {
    let mut p = Pair::new();
    for i in 0..1024 {
        p.a.create(p.now, &format!("c{i}"), DataChannelInit::default())
            .unwrap();
    }
    assert_eq!(
        p.a.create(p.now, "over", DataChannelInit::default()),
        Err(Error::TooManyChannels { max: 1024 })
    );
    p.pump();
    assert_eq!(p.a.channels().count(), 1024);
    assert_eq!(p.b.channels().count(), 1024);
    assert_eq!(p.b.stats().dcep_dropped, 0);
}

#[test]
fn channels_past_the_limit_are_refused_ours_with_an_error_the_peers_dropped() {
    let mut p = Pair::unstarted(
        engine(Role::Client),
        DataChannels::new(Config {
            max_channels: 3,
            ..Config::default()
        }),
    );
    p.b.set_role(p.now, Role::Server);
    p.start();
    for i in 0..3 {
        p.b.create(p.now, &format!("b{i}"), DataChannelInit::default())
            .unwrap();
    }
    assert_eq!(
        p.b.create(p.now, "over", DataChannelInit::default()),
        Err(Error::TooManyChannels { max: 3 })
    );
    // Closing one makes room again; the peer's opens count too.
    let first = p.b.channels().next().unwrap();
    p.b.close(p.now, first).unwrap();
    p.pump();
    assert_eq!(p.b.channels().count(), 2);
    for i in 0..5 {
        p.a.create(p.now, &format!("a{i}"), DataChannelInit::default())
            .unwrap();
    }
    p.pump();
    assert_eq!(p.b.channels().count(), 3);
    assert_eq!(p.b.stats().dcep_dropped, 4);
    let accepted = p
        .b_events
        .iter()
        .filter(|e| matches!(e, Event::Incoming(_)))
        .count();
    assert_eq!(accepted, 1);
}

#[test]
fn stream_ids_are_limited_by_the_negotiated_outbound_streams() {
    let mut p = Pair::unstarted(engine(Role::Client), engine(Role::Server));
    p.a.start(
        p.now,
        ferrtc_sctp::Config {
            streams: 4,
            ..sctp(1)
        },
    );
    p.b.start(p.now, sctp(2));
    p.pump();
    assert_eq!(p.a.association().unwrap().outbound_streams(), 4);
    let ids: Vec<ChannelId> = (0..2)
        .map(|i| {
            p.a.create(p.now, &format!("c{i}"), DataChannelInit::default())
                .unwrap()
        })
        .collect();
    assert_eq!(stream(&p.a, ids[0]), 0);
    assert_eq!(stream(&p.a, ids[1]), 2);
    // No even stream below 4 is left: W3C `createDataChannel` throws an
    // OperationError (no available id).
    assert_eq!(
        p.a.create(p.now, "c2", DataChannelInit::default()),
        Err(Error::NoFreeStream)
    );
    assert_eq!(p.a.channels().count(), 2);
}

#[test]
fn the_receive_pause_keeps_messages_in_sctp_until_resumed() {
    let mut p = Pair::new();
    let id =
        p.a.create(p.now, "slow", DataChannelInit::default())
            .unwrap();
    p.pump();
    let on_b = p.b_incoming(stream(&p.a, id));
    p.b.set_receive_paused(p.now, true);
    for i in 0..3u8 {
        p.a.send(p.now, id, &[i], true).unwrap();
    }
    p.pump();
    assert!(messages(&p.b_events).is_empty());
    assert!(p.b.association().unwrap().receive_buffered() > 0);
    p.b.set_receive_paused(p.now, false);
    p.drain();
    let got: Vec<_> = messages(&p.b_events)
        .into_iter()
        .map(|(c, m)| (c, m.as_bytes().to_vec()))
        .collect();
    assert_eq!(got, vec![(on_b, vec![0]), (on_b, vec![1]), (on_b, vec![2])]);
}

#[test]
fn the_transport_closing_closes_every_channel() {
    let mut p = Pair::new();
    let id = p.a.create(p.now, "x", DataChannelInit::default()).unwrap();
    p.pump();
    p.a.handle_transport_close(p.now);
    p.drain();
    assert!(p.a_events.contains(&Event::Closed(id)));
    assert_eq!(p.a.channels().count(), 0);
    assert_eq!(p.a.stats().channels_closed, 1);
}

#[test]
fn abort_closes_silently_here_and_with_events_at_the_peer() {
    let mut p = Pair::new();
    let id = p.a.create(p.now, "x", DataChannelInit::default()).unwrap();
    p.pump();
    let on_b = p.b_incoming(stream(&p.a, id));
    let before = p.a_events.len();
    p.a.abort(p.now);
    assert_eq!(
        p.a.channel(id).unwrap().ready_state,
        DataChannelState::Closed
    );
    p.pump();
    assert!(
        !p.a_events[before..]
            .iter()
            .any(|e| matches!(e, Event::Closed(_) | Event::Closing(_))),
        "the closing side fires no channel events (W3C close())"
    );
    assert!(p.b_events.contains(&Event::Closed(on_b)));
    assert!(
        p.b_events
            .iter()
            .any(|e| matches!(e, Event::AssociationClosed(_)))
    );
    assert!(matches!(
        p.a.send(p.now, id, b"late", false),
        Err(Error::NotOpen(_))
    ));
}

#[test]
fn an_open_channel_counts_as_closed_once_it_leaves_open() {
    // W3C webrtc-stats dataChannelsClosed: the channels that left "open"
    // (by either end's close or the transport's), so that opened less
    // closed is the number open now.
    let mut p = Pair::new();
    let id = p.a.create(p.now, "x", DataChannelInit::default()).unwrap();
    p.pump();
    let on_b = p.b_incoming(stream(&p.a, id));
    assert_eq!(p.a.stats().channels_opened, 1);
    p.a.close(p.now, id).unwrap();
    assert_eq!(
        p.a.channel(id).unwrap().ready_state,
        DataChannelState::Closing
    );
    assert_eq!(p.a.stats().channels_closed, 1, "closing is no longer open");
    p.pump();
    p.drain();
    assert!(p.b_events.contains(&Event::Closed(on_b)));
    assert_eq!(p.a.stats().channels_closed, 1, "counted once");
    assert_eq!(p.b.stats().channels_closed, 1, "counted once");
}

#[test]
fn abort_counts_the_open_channels_it_closes() {
    let mut p = Pair::new();
    let id = p.a.create(p.now, "x", DataChannelInit::default()).unwrap();
    p.pump();
    p.b_incoming(stream(&p.a, id));
    p.a.abort(p.now);
    assert_eq!(p.a.stats().channels_opened, 1);
    assert_eq!(p.a.stats().channels_closed, 1);
}

// ---------------------------------------------------------------- over ferrtc-sim

struct Host {
    dc: DataChannels,
    local: SocketAddr,
    remote: SocketAddr,
    events: Vec<Event>,
    /// Channels to open and close, one after another: (next to open, total).
    script: Option<(u32, u32)>,
    current: Option<ChannelId>,
    opened: u32,
    closed: u32,
}

impl Host {
    fn new(role: Role, local: &str, remote: &str) -> Self {
        Self {
            dc: engine(role),
            local: local.parse().unwrap(),
            remote: remote.parse().unwrap(),
            events: Vec::new(),
            script: None,
            current: None,
            opened: 0,
            closed: 0,
        }
    }

    fn step_script(&mut self, now: Instant) {
        while let Some(e) = self.dc.poll_event() {
            match &e {
                Event::Open(id) if Some(*id) == self.current => {
                    self.opened += 1;
                    let text = format!("hello on {}", id.index());
                    self.dc.send(now, *id, text.as_bytes(), false).unwrap();
                    self.dc.close(now, *id).unwrap();
                }
                Event::Closed(id) if Some(*id) == self.current => {
                    self.closed += 1;
                    self.current = None;
                }
                _ => {}
            }
            self.events.push(e);
        }
        if let Some((next, total)) = self.script
            && self.current.is_none()
            && next < total
            && self.events.contains(&Event::Connected)
        {
            let id = self
                .dc
                .create(now, &format!("c{next}"), DataChannelInit::default())
                .unwrap();
            self.current = Some(id);
            self.script = Some((next + 1, total));
        }
    }
}

impl Endpoint for Host {
    fn handle_receive(&mut self, now: Instant, _s: SocketAddr, _d: SocketAddr, p: &[u8]) {
        let _ = self.dc.handle_receive(now, p);
        self.step_script(now);
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        self.step_script(now);
        let out = self.dc.poll_transmit(now, buf).map(|_| Transmit {
            source: self.local,
            destination: self.remote,
        });
        self.step_script(now);
        out
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        self.dc.poll_timeout()
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.dc.handle_timeout(now);
        self.step_script(now);
    }
}

#[test]
fn a_thousand_channels_open_and_close_on_one_association_through_loss() {
    let mut net = Network::new(21);
    let lossy = LinkConfig::IDEAL
        .with_delay(Duration::from_millis(5))
        .with_loss(0.05)
        .with_duplicate(0.02);
    let ideal = LinkConfig::IDEAL.with_delay(Duration::from_millis(5));
    let mut client = Host::new(Role::Client, "10.0.0.1:5000", "10.0.0.2:5000");
    client.script = Some((0, 1000));
    let a = net
        .add_host(["10.0.0.1".parse().unwrap()], lossy, client)
        .unwrap();
    let b = net
        .add_host(
            ["10.0.0.2".parse().unwrap()],
            ideal,
            Host::new(Role::Server, "10.0.0.2:5000", "10.0.0.1:5000"),
        )
        .unwrap();
    let now = net.now();
    net.endpoint_mut(&a).dc.start(now, sctp(1));
    net.endpoint_mut(&b).dc.start(now, sctp(2));
    let done =
        net.run_until_condition(Duration::from_secs(3600), |n| n.endpoint(&a).closed == 1000);
    let (ha, hb) = (net.endpoint(&a), net.endpoint(&b));
    if !done {
        let cur = ha.current.unwrap();
        eprintln!("a current {:?} {:?}", cur, ha.dc.channel(cur));
        eprintln!(
            "a tail {:?}",
            &ha.events[ha.events.len().saturating_sub(8)..]
        );
        eprintln!(
            "b tail {:?}",
            &hb.events[hb.events.len().saturating_sub(8)..]
        );
        for id in hb.dc.channels() {
            eprintln!("b live {:?} {:?}", id, hb.dc.channel(id));
        }
        eprintln!("b stats {:?} a stats {:?}", hb.dc.stats(), ha.dc.stats());
    }
    assert!(done, "opened {} closed {}", ha.opened, ha.closed);
    let count = |h: &Host, f: fn(&Event) -> bool| h.events.iter().filter(|e| f(e)).count();
    assert_eq!(
        count(hb, |e| matches!(e, Event::Incoming(_))),
        1000,
        "the peer saw every channel"
    );
    assert_eq!(
        count(hb, |e| matches!(e, Event::Message { .. })),
        1000,
        "every channel carried its message before closing"
    );
    net.run_for(Duration::from_secs(5));
    let hb = net.endpoint(&b);
    assert_eq!(
        count(hb, |e| matches!(e, Event::Closed(_))),
        1000,
        "the peer reached closed for every channel"
    );
    assert_eq!(net.endpoint(&a).dc.channels().count(), 0);
    assert_eq!(net.endpoint(&b).dc.channels().count(), 0);
    assert_eq!(net.endpoint(&a).dc.stats().channels_closed, 1000);
}

#[test]
fn thirty_two_channels_each_sending_256_kib_at_once_all_deliver() {
    // 8 MiB at once against a 1 MiB receive window: with I-DATA, fragments
    // of every message interleaved filled the window with partial messages
    // and the association stalled (see ferrtc-sctp's `Sender::next_stream`).
    let mut p = Pair::new();
    // As a=max-message-size:262144 negotiates (RFC 8841 §6.1).
    p.a.set_max_message_size(256 * 1024);
    p.b.set_max_message_size(256 * 1024);
    let ids: Vec<ChannelId> = (0..32)
        .map(|i| {
            p.a.create(p.now, &format!("c{i}"), DataChannelInit::default())
                .unwrap()
        })
        .collect();
    p.pump();
    for (i, id) in ids.iter().enumerate() {
        let fill = u8::try_from(i).unwrap();
        p.a.send(p.now, *id, &vec![fill; 256 * 1024], true).unwrap();
    }
    for _ in 0..50 {
        p.pump();
        if messages(&p.b_events).len() == 32 {
            break;
        }
    }
    let got = messages(&p.b_events);
    assert_eq!(got.len(), 32, "{} of 32 messages arrived", got.len());
    for (_, m) in got {
        let data = m.as_bytes();
        assert_eq!(data.len(), 256 * 1024);
        assert!(data.iter().all(|b| *b == data[0]), "one channel's bytes");
    }
}

/// CRC32c (Castagnoli, reflected), as SCTP's checksum (RFC 9260 §6.8).
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Writes the SCTP checksum of a packet (RFC 9260 §6.8).
fn seal(packet: &mut [u8]) {
    packet[8..12].copy_from_slice(&[0; 4]);
    let crc = crc32c(packet);
    packet[8..12].copy_from_slice(&crc.to_le_bytes());
}

/// The chunks of an SCTP packet (RFC 9260 §3.2), each without padding.
fn chunks(packet: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = &packet[12..];
    while rest.len() >= 4 {
        let len = usize::from(u16::from_be_bytes([rest[2], rest[3]])).clamp(4, rest.len());
        out.push(&rest[..len]);
        rest = &rest[((len + 3) & !3).min(rest.len())..];
    }
    out
}

/// The parameters of a RE-CONFIG chunk (RFC 6525 §3.1), each without
/// padding; none for another chunk.
fn reconfig_params(chunk: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    if chunk[0] != 130 {
        return out;
    }
    let mut rest = &chunk[4..];
    while rest.len() >= 8 {
        let len = usize::from(u16::from_be_bytes([rest[2], rest[3]])).clamp(4, rest.len());
        out.push(&rest[..len]);
        rest = &rest[((len + 3) & !3).min(rest.len())..];
    }
    out
}

/// The Outgoing SSN Reset Request sequence numbers (RFC 6525 §4.1) in an
/// SCTP packet.
fn reset_requests(packet: &[u8]) -> Vec<u32> {
    chunks(packet)
        .into_iter()
        .flat_map(reconfig_params)
        .filter(|p| p[..2] == [0, 13] && p.len() >= 16)
        .map(|p| u32::from_be_bytes([p[4], p[5], p[6], p[7]]))
        .collect()
}

/// A RE-CONFIG chunk (RFC 6525 §3.1) with a Re-configuration Response
/// (§4.4) to request `seq`: `result` 1 is "Performed", 2 "Denied".
fn reconfig_response_chunk(seq: u32, result: u32) -> Vec<u8> {
    let mut c = vec![130, 0, 0, 16, 0, 16, 0, 12];
    c.extend_from_slice(&seq.to_be_bytes());
    c.extend_from_slice(&result.to_be_bytes());
    c
}

/// The packet with the stream lists of its Outgoing SSN Reset Requests
/// (RFC 6525 §4.1) emptied: each asks for every stream to be reset.
fn resetting_every_stream(packet: &[u8]) -> Vec<u8> {
    let mut out = packet[..12].to_vec();
    for chunk in chunks(packet) {
        let start = out.len();
        if chunk[0] == 130 {
            out.extend_from_slice(&chunk[..4]);
            for p in reconfig_params(chunk) {
                let p = if p[..2] == [0, 13] && p.len() >= 16 {
                    &p[..16]
                } else {
                    p
                };
                let at = out.len();
                out.extend_from_slice(p);
                let len = u16::try_from(p.len()).unwrap();
                out[at + 2..at + 4].copy_from_slice(&len.to_be_bytes());
                out.resize((out.len() + 3) & !3, 0);
            }
            let len = u16::try_from(out.len() - start).unwrap();
            out[start + 2..start + 4].copy_from_slice(&len.to_be_bytes());
        } else {
            out.extend_from_slice(chunk);
            out.resize((out.len() + 3) & !3, 0);
        }
    }
    seal(&mut out);
    out
}

impl Pair {
    /// Like `pump`, but `b` never sees `a`'s stream reset requests: each is
    /// answered "Denied" (RFC 6525 §4.4, result 2) in `b`'s name, as by a
    /// peer that refuses to reset its incoming streams.
    fn pump_denying_a_resets(&mut self) {
        self.pump_with(true, false);
    }

    /// Like `pump`, but `b`'s stream reset requests list no stream: they
    /// reset every stream (RFC 6525 §4.1), as some peers do.
    fn pump_b_resetting_every_stream(&mut self) {
        self.pump_with(false, true);
    }

    /// Like `pump`; `a`'s stream reset requests are answered "Denied"
    /// (RFC 6525 §4.4, result 2) in `b`'s name if `deny_a`, and `b`'s list
    /// no stream if `b_resets_all`.
    fn pump_with(&mut self, deny_a: bool, b_resets_all: bool) {
        let mut buf = Vec::new();
        let mut header: Option<[u8; 12]> = None;
        for _ in 0..100_000 {
            let mut moved = false;
            let mut denials = Vec::new();
            while self.a.poll_transmit(self.now, &mut buf).is_some() {
                let seqs = reset_requests(&buf);
                if deny_a && !seqs.is_empty() {
                    denials.extend(seqs);
                } else {
                    let _ = self.b.handle_receive(self.now, &buf);
                }
                moved = true;
            }
            while self.b.poll_transmit(self.now, &mut buf).is_some() {
                header = Some(buf[..12].try_into().unwrap());
                if b_resets_all {
                    buf = resetting_every_stream(&buf);
                }
                let _ = self.a.handle_receive(self.now, &buf);
                moved = true;
            }
            for seq in denials {
                let mut p = header.expect("b sent a packet").to_vec();
                p.extend_from_slice(&reconfig_response_chunk(seq, 2));
                seal(&mut p);
                let _ = self.a.handle_receive(self.now, &p);
            }
            self.drain();
            // Up to RTO.max (10 s by default): the wait before a refused
            // reset is asked again grows to it.
            if !moved && !self.run_next_timer_within(Duration::from_secs(10)) {
                return;
            }
        }
    }
}

/// The settings of a negotiated channel (RFC 8832 §6, no DCEP) on stream
/// `id`.
fn negotiated(id: u16) -> DataChannelInit {
    DataChannelInit {
        negotiated: true,
        id: Some(id),
        ..DataChannelInit::default()
    }
}

/// A negotiated channel (RFC 8832 §6, no DCEP) with stream id `id` made
/// on both sides and run until quiet: (`a`'s, `b`'s).
fn negotiated_on_both_sides(p: &mut Pair, label: &str, id: u16) -> (ChannelId, ChannelId) {
    let init = negotiated(id);
    let a_ch = p.a.create(p.now, label, init.clone()).unwrap();
    let b_ch = p.b.create(p.now, label, init).unwrap();
    p.pump();
    (a_ch, b_ch)
}

impl Pair {
    /// `a` closes `a_ch` while the peer keeps its end `b_ch` open, sends on
    /// it (so that `b`'s header is known when `a`'s request goes), and
    /// refuses every reset `a` asks for (RFC 6525 §4.4 Denied): `a` gives
    /// the channel up in the end.
    fn a_closes_while_the_peer_refuses_the_reset(&mut self, a_ch: ChannelId, b_ch: ChannelId) {
        self.b.send(self.now, b_ch, b"hi", false).unwrap();
        self.a.close(self.now, a_ch).unwrap();
        self.pump_denying_a_resets();
    }
}

/// RFC 6525 §4.1: the peer's reset of every stream (its request lists
/// none) is the reset of each, also of a stream it never sent on. A
/// negotiated channel we close, on which the peer never sent, closes once
/// the peer answers our reset with such a request (RFC 8831 §6.7); it
/// stayed closing for good, told of no reset of its stream.
#[test]
fn a_closing_channel_closes_on_the_peers_reset_of_every_stream() {
    let mut p = Pair::new();
    let (a_ch, b_ch) = negotiated_on_both_sides(&mut p, "quiet peer", 0);
    p.a.send(p.now, a_ch, b"only a speaks", false).unwrap();
    p.pump();
    p.a.close(p.now, a_ch).unwrap();
    p.pump_b_resetting_every_stream();
    assert!(
        p.b_events.contains(&Event::Closed(b_ch)),
        "{:?}",
        p.b_events
    );
    assert_eq!(
        p.a.channel(a_ch).map(|c| c.ready_state),
        Some(DataChannelState::Closed),
        "{:?}",
        p.a_events
    );
    assert!(p.a_events.contains(&Event::Closed(a_ch)));
}

/// RFC 8831 §6.7: a stream is reused only once both of its directions were
/// reset. When the peer keeps refusing our reset (RFC 6525 §4.4 Denied),
/// the channel is given up and closes, but the peer's side of the stream
/// was never reset: the peer still has its channel open on it and sends
/// on it. The stream is not used again on this association: a negotiated
/// channel asking for it is refused (it was made, and got the old
/// channel's messages).
#[test]
fn a_stream_whose_reset_was_refused_is_not_reused_while_the_peer_uses_it() {
    let mut p = Pair::new();
    let (a_old, b_old) = negotiated_on_both_sides(&mut p, "old", 0);
    p.a_closes_while_the_peer_refuses_the_reset(a_old, b_old);
    assert!(
        p.a_events.contains(&Event::Closed(a_old)),
        "given up after the refusals: {:?}",
        p.a_events
    );
    assert_eq!(
        p.b.channel(b_old).map(|c| c.ready_state),
        Some(DataChannelState::Open),
        "the peer never reset its side"
    );
    let new = p.a.create(p.now, "new", negotiated(0));
    p.pump();
    p.b.send(p.now, b_old, b"for the old channel", false)
        .unwrap();
    p.pump();
    let got: Vec<_> = messages(&p.a_events)
        .into_iter()
        .filter(|(c, _)| new.as_ref().is_ok_and(|n| c == n))
        .collect();
    assert!(
        got.is_empty(),
        "the new channel got the peer's old channel's message: {got:?}"
    );
    assert_eq!(new, Err(Error::IdRetired(0)));
}

/// The same for an in-band channel (RFC 8832 §6): a stream whose reset the
/// peer refused for good is not given to a new channel. With one stream
/// of our parity, there is then none free.
#[test]
fn a_stream_whose_reset_was_refused_is_not_given_to_a_new_in_band_channel() {
    let mut p = Pair::unstarted(engine(Role::Client), engine(Role::Server));
    let one_even_stream = ferrtc_sctp::Config {
        streams: 2,
        ..sctp(1)
    };
    p.a.start(p.now, one_even_stream);
    p.b.start(p.now, sctp(2));
    p.pump();
    let a_old =
        p.a.create(p.now, "old", DataChannelInit::default())
            .unwrap();
    p.pump();
    let b_old = p.b_incoming(0);
    p.a_closes_while_the_peer_refuses_the_reset(a_old, b_old);
    assert!(
        p.a_events.contains(&Event::Closed(a_old)),
        "{:?}",
        p.a_events
    );
    assert_eq!(
        p.a.create(p.now, "new", DataChannelInit::default()),
        Err(Error::NoFreeStream)
    );
}

/// The streams listed by the Outgoing SSN Reset Requests (RFC 6525 §4.1)
/// in an SCTP packet.
fn reset_request_streams(packet: &[u8]) -> Vec<u16> {
    chunks(packet)
        .into_iter()
        .flat_map(reconfig_params)
        .filter(|p| p[..2] == [0, 13] && p.len() >= 16)
        .flat_map(|p| {
            p[16..]
                .chunks_exact(2)
                .map(|s| u16::from_be_bytes([s[0], s[1]]))
        })
        .collect()
}

/// RFC 8832 §6: a DATA_CHANNEL_OPEN is taken on an unused stream only; on
/// another the receiver closes the channel by resetting the stream (RFC
/// 8831 §6.7) and sends no DATA_CHANNEL_ACK. A stream of the peer's
/// parity retired because the peer refused our reset for good is not
/// unused: neither direction was reset, and the peer's old channel may
/// still be open there. The peer's DATA_CHANNEL_OPEN on it makes no
/// channel, and our reset of the stream is asked again. (It made a new
/// channel, which got the old channel's messages.)
#[test]
fn a_peer_open_on_a_retired_stream_is_refused_by_resetting_the_stream() {
    let mut p = Pair::new();
    let b_old =
        p.b.create(p.now, "old", DataChannelInit::default())
            .unwrap();
    p.pump();
    let s = stream(&p.b, b_old);
    let a_old = incoming(&p.a_events, &p.a, s);
    p.a_closes_while_the_peer_refuses_the_reset(a_old, b_old);
    assert!(
        p.a_events.contains(&Event::Closed(a_old)),
        "{:?}",
        p.a_events
    );
    let dropped = p.a.stats().dcep_dropped;
    p.a_events.clear();
    p.a.handle_message(p.now, dcep_open(s, "new"));
    let mut buf = Vec::new();
    let mut asked = Vec::new();
    while p.a.poll_transmit(p.now, &mut buf).is_some() {
        asked.extend(reset_request_streams(&buf));
    }
    p.drain();
    assert!(
        !p.a_events.iter().any(|e| matches!(e, Event::Incoming(_))),
        "{:?}",
        p.a_events
    );
    assert_eq!(p.a.stats().dcep_dropped, dropped + 1);
    assert_eq!(asked, [s], "the stream's reset asked again");
}

/// RFC 8831 §6.7: the side whose incoming stream the peer resets answers
/// with the reset of its outgoing stream. A stream retired when the peer
/// refused our reset for good has no channel of ours; when the peer later
/// closes its channel there (resets its side), we still answer with our
/// reset of the stream, so that the peer's channel can close.
#[test]
fn the_peers_later_reset_of_a_retired_stream_is_answered() {
    let mut p = Pair::new();
    let (a_old, b_old) = negotiated_on_both_sides(&mut p, "old", 0);
    p.a_closes_while_the_peer_refuses_the_reset(a_old, b_old);
    assert!(p.a_events.contains(&Event::Closed(a_old)));
    assert_eq!(
        p.a.create(p.now, "new", negotiated(0)),
        Err(Error::IdRetired(0))
    );
    // The peer now closes its side of stream 0.
    p.b.close(p.now, b_old).unwrap();
    let mut buf = Vec::new();
    let mut answered = Vec::new();
    for _ in 0..10 {
        while p.b.poll_transmit(p.now, &mut buf).is_some() {
            let _ = p.a.handle_receive(p.now, &buf);
        }
        while p.a.poll_transmit(p.now, &mut buf).is_some() {
            answered.extend(reset_request_streams(&buf));
            let _ = p.b.handle_receive(p.now, &buf);
        }
        p.drain();
    }
    assert_eq!(
        p.b.channel(b_old).map(|c| c.ready_state),
        Some(DataChannelState::Closing)
    );
    assert_eq!(answered, [0], "our answering reset of stream 0");
}

/// The peer's reset of every stream (RFC 6525 §4.1, an Outgoing SSN Reset
/// Request listing none) closes the channels the peer had when it sent it
/// (RFC 8831 §6.7), not one we open at the same time: our
/// DATA_CHANNEL_OPEN (RFC 8832 §5.1) had not reached the peer, which
/// resets nothing of a stream it never used. Here the peer closes its
/// channel x with such a request while we open y: y stays open.
#[test]
fn the_peers_reset_of_every_stream_spares_a_channel_it_did_not_know() {
    let mut p = Pair::new();
    let x = p.b.create(p.now, "x", DataChannelInit::default()).unwrap();
    p.pump();
    p.b.close(p.now, x).unwrap();
    let y = p.a.create(p.now, "y", DataChannelInit::default()).unwrap();
    // The peer's reset of every stream crosses our DATA_CHANNEL_OPEN.
    let mut buf = Vec::new();
    while p.b.poll_transmit(p.now, &mut buf).is_some() {
        let _ = p.a.handle_receive(p.now, &resetting_every_stream(&buf));
    }
    p.pump_b_resetting_every_stream();
    assert!(p.b_events.contains(&Event::Closed(x)), "{:?}", p.b_events);
    assert!(
        !p.a_events.contains(&Event::Closing(y)) && !p.a_events.contains(&Event::Closed(y)),
        "y was closed by a reset sent before the peer knew it: {:?}",
        p.a_events
    );
    assert_eq!(
        p.a.channel(y).map(|c| c.ready_state),
        Some(DataChannelState::Open)
    );
}

/// An Incoming SSN Reset Request listing no stream (RFC 6525 §4.2) has
/// SCTP reset every outgoing stream in use with a request of its own, and
/// SCTP takes no message on a stream until its reset completes. As for a
/// request listing the stream (RFC 8831 §6.7: the peer takes our reset
/// for the channel closing), the channels on those streams are closing:
/// `send()` is refused, not held to go after the reset. A message sent
/// before the request is delivered, ahead of the reset, and the channel
/// closes on both sides: the peer's on our reset, ours once the peer
/// resets its side in turn. (Only `send()` returning `Ok` was checked.)
/// The request is played by hand in `b`'s name with `b`'s next request
/// sequence number, so `b`'s own requests are numbered one further on the
/// way to `a` (`pump_after_a_request_in_bs_name`).
#[test]
fn the_peers_incoming_reset_of_every_stream_closes_the_open_channels() {
    let mut p = Pair::new();
    let (id, peer) = open_channel_with_raw_peer(&mut p);
    let b_ch = p.b_incoming(stream(&p.a, id));
    assert_eq!(p.a.send(p.now, id, b"before the request", false), Ok(()));
    // The peer's first request: its sequence number is its initial TSN,
    // that of its first DATA chunk (the ACK). No stream listed: every one.
    p.a_receives_from_raw_peer(&peer, &[incoming_reset_chunk(peer.isn, &[])]);
    assert_eq!(
        p.a.channel(id).map(|c| c.ready_state),
        Some(DataChannelState::Closing)
    );
    assert_eq!(
        p.a.send(p.now, id, b"after the request", false),
        Err(Error::NotOpen(id))
    );
    p.pump_after_a_request_in_bs_name();
    let got: Vec<_> = messages(&p.b_events)
        .into_iter()
        .filter(|(c, _)| *c == b_ch)
        .map(|(_, m)| m)
        .collect();
    assert_eq!(
        got,
        [DataChannelMessage::Text("before the request".into())],
        "delivered, and nothing after the request"
    );
    assert!(
        p.b_events.contains(&Event::Closed(b_ch)),
        "{:?}",
        p.b_events
    );
    assert_eq!(
        p.a.channel(id).map(|c| c.ready_state),
        Some(DataChannelState::Closed),
        "a's events: {:?}",
        p.a_events
    );
}

/// A RE-CONFIG chunk (RFC 6525 §3.1) with an Incoming SSN Reset Request
/// (§4.2) of `streams`, sequence number `seq`.
fn incoming_reset_chunk(seq: u32, streams: &[u16]) -> Vec<u8> {
    let param_len = 8 + 2 * streams.len();
    let mut c = vec![130, 0];
    c.extend_from_slice(&u16::try_from(4 + param_len).unwrap().to_be_bytes());
    c.extend_from_slice(&[0, 14]);
    c.extend_from_slice(&u16::try_from(param_len).unwrap().to_be_bytes());
    c.extend_from_slice(&seq.to_be_bytes());
    for s in streams {
        c.extend_from_slice(&s.to_be_bytes());
    }
    c.resize((c.len() + 3) & !3, 0);
    c
}

/// The peer `b`, played by hand in its name: its packet header and initial
/// TSN (its first RE-CONFIG request sequence number, RFC 6525 §5.1.1).
struct RawPeer {
    header: Vec<u8>,
    isn: u32,
}

impl Pair {
    /// `a` receives one packet of `chunks` from the raw peer, and takes it.
    fn a_receives_from_raw_peer(&mut self, peer: &RawPeer, chunks: &[Vec<u8>]) {
        let mut packet = peer.header.clone();
        for c in chunks {
            packet.extend_from_slice(c);
        }
        seal(&mut packet);
        self.a.handle_receive(self.now, &packet).unwrap();
    }

    /// The packets `a` sends now (the peer does not get them).
    fn a_sends(&mut self) -> Vec<Vec<u8>> {
        let mut buf = Vec::new();
        let mut sent = Vec::new();
        while self.a.poll_transmit(self.now, &mut buf).is_some() {
            sent.push(buf.clone());
        }
        sent
    }
}

/// The Outgoing SSN Reset Request sequence numbers (RFC 6525 §4.1) in
/// `packets`.
fn reset_requests_in(packets: &[Vec<u8>]) -> Vec<u32> {
    packets.iter().flat_map(|p| reset_requests(p)).collect()
}

/// Whether `packets` carry a DATA or I-DATA chunk (RFC 9260 §3.3.1, RFC
/// 8260 §2.1).
fn carry_data(packets: &[Vec<u8>]) -> bool {
    packets
        .iter()
        .any(|p| chunks(p).into_iter().any(|c| c[0] == 0 || c[0] == 64))
}

/// Whether `packets` carry a DATA or I-DATA chunk whose payload ends with
/// `tail`.
fn carry_data_ending_with(packets: &[Vec<u8>], tail: &[u8]) -> bool {
    packets.iter().any(|p| {
        chunks(p)
            .into_iter()
            .any(|c| (c[0] == 0 || c[0] == 64) && c.ends_with(tail))
    })
}

/// Opens channel `c` from `a`, returns it with the peer `b` to be played
/// by hand from then on.
fn open_channel_with_raw_peer(p: &mut Pair) -> (ChannelId, RawPeer) {
    let id = p.a.create(p.now, "c", DataChannelInit::default()).unwrap();
    let mut buf = Vec::new();
    let (mut b_isn, mut header) = (None, None);
    for _ in 0..10 {
        while p.a.poll_transmit(p.now, &mut buf).is_some() {
            let _ = p.b.handle_receive(p.now, &buf);
        }
        while p.b.poll_transmit(p.now, &mut buf).is_some() {
            header = Some(buf[..12].to_vec());
            for c in chunks(&buf) {
                if (c[0] == 0 || c[0] == 64) && b_isn.is_none() {
                    b_isn = Some(u32::from_be_bytes([c[4], c[5], c[6], c[7]]));
                }
            }
            let _ = p.a.handle_receive(p.now, &buf);
        }
        p.drain();
    }
    let peer = RawPeer {
        header: header.expect("b sent a packet"),
        isn: b_isn.expect("b sent DATA"),
    };
    (id, peer)
}

/// A RE-CONFIG chunk (RFC 6525 §3.1) with an Outgoing SSN Reset Request
/// (§4.1) of `streams`, sequence number `seq`, last TSN `last_tsn`.
fn outgoing_reset_chunk(seq: u32, last_tsn: u32, streams: &[u16]) -> Vec<u8> {
    let param_len = 16 + 2 * streams.len();
    let mut c = vec![130, 0];
    c.extend_from_slice(&u16::try_from(4 + param_len).unwrap().to_be_bytes());
    c.extend_from_slice(&[0, 13]);
    c.extend_from_slice(&u16::try_from(param_len).unwrap().to_be_bytes());
    c.extend_from_slice(&seq.to_be_bytes());
    c.extend_from_slice(&0u32.to_be_bytes());
    c.extend_from_slice(&last_tsn.to_be_bytes());
    for s in streams {
        c.extend_from_slice(&s.to_be_bytes());
    }
    c.resize((c.len() + 3) & !3, 0);
    c
}

/// RFC 8831 §6.7: a channel is closed by the reset of its outgoing
/// stream, and the side whose incoming stream is reset takes it for the
/// channel closing (and may reuse the stream once both are reset). The
/// peer's Incoming SSN Reset Request for an open channel's stream (RFC
/// 6525 §4.2) has SCTP reset our side of it (§5.2.3): that is the peer
/// closing the channel. The channel is closing at once and takes no more
/// `send()`; a message sent before the request goes before the reset,
/// and the channel closes once the peer has reset its side too. (The
/// channel stayed open and held its messages, sending them after the
/// reset, on a stream the peer held for closed.) The peer is played by
/// hand.
#[test]
fn the_peers_incoming_reset_request_closes_the_channel_after_its_queued_messages() {
    let mut p = Pair::new();
    let (id, peer) = open_channel_with_raw_peer(&mut p);
    let s = stream(&p.a, id);
    assert_eq!(p.a.send(p.now, id, b"before", false), Ok(()));
    p.a_receives_from_raw_peer(&peer, &[incoming_reset_chunk(peer.isn, &[s])]);
    p.drain();
    assert_eq!(
        p.a.channel(id).map(|c| c.ready_state),
        Some(DataChannelState::Closing)
    );
    assert!(p.a_events.contains(&Event::Closing(id)), "{:?}", p.a_events);
    assert_eq!(
        p.a.send(p.now, id, b"after", false),
        Err(Error::NotOpen(id))
    );
    let mut buf = Vec::new();
    let (mut sent, mut seqs) = (Vec::new(), Vec::new());
    while p.a.poll_transmit(p.now, &mut buf).is_some() {
        for c in chunks(&buf) {
            if c[0] == 0 || c[0] == 64 {
                sent.push(if c.ends_with(b"before") {
                    "before"
                } else {
                    "other data"
                });
            }
        }
        let requests = reset_requests(&buf);
        sent.extend(requests.iter().map(|_| "reset"));
        seqs.extend(requests);
    }
    assert_eq!(sent, ["before", "reset"]);
    // The peer performs our reset, and resets its side in turn: its last
    // TSN is that of its only DATA chunk, the ACK.
    p.a_receives_from_raw_peer(
        &peer,
        &[
            reconfig_response_chunk(seqs[0], 1),
            outgoing_reset_chunk(peer.isn.wrapping_add(1), peer.isn, &[s]),
        ],
    );
    p.drain();
    assert!(p.a_events.contains(&Event::Closed(id)), "{:?}", p.a_events);
}

/// RFC 8831 §6.7, RFC 6525 §4.2: the peer's Incoming SSN Reset Request
/// for an open channel's stream is the peer closing the channel, and SCTP
/// takes no message on the stream from then on. While receiving is paused
/// the request waits in SCTP and the channel is still open, but `send()`
/// is refused all the same (`NotOpen`), and the channel closes once both
/// sides are reset. (The message was taken, `Ok`, held, and dropped
/// without a word when the channel closed.)
#[test]
fn a_message_sent_while_the_peers_reset_request_waits_unseen_is_refused_not_lost() {
    let mut p = Pair::new();
    let (id, peer) = open_channel_with_raw_peer(&mut p);
    let s = stream(&p.a, id);
    p.a.set_receive_paused(p.now, true);
    p.a_receives_from_raw_peer(&peer, &[incoming_reset_chunk(peer.isn, &[s])]);
    assert_eq!(
        p.a.channel(id).map(|c| c.ready_state),
        Some(DataChannelState::Open),
        "the request is not handed up yet"
    );
    assert_eq!(
        p.a.send(p.now, id, b"unsendable", false),
        Err(Error::NotOpen(id))
    );
    p.a.set_receive_paused(p.now, false);
    p.drain();
    let sent = p.a_sends();
    let data_sent = carry_data(&sent);
    let seqs = reset_requests_in(&sent);
    assert!(!data_sent, "nothing goes on the stream being reset");
    assert_eq!(seqs.len(), 1, "our reset, at the peer's request");
    // The peer performs it and resets its side in turn (RFC 8831 §6.7).
    p.a_receives_from_raw_peer(
        &peer,
        &[
            reconfig_response_chunk(seqs[0], 1),
            outgoing_reset_chunk(peer.isn.wrapping_add(1), peer.isn, &[s]),
        ],
    );
    p.drain();
    assert!(p.a_events.contains(&Event::Closed(id)), "{:?}", p.a_events);
    assert_eq!(p.a.stats().held_messages_dropped, 0);
}

/// A negotiated channel put on a stream after the raw peer asked for that
/// stream's reset (RFC 6525 §4.2) when no channel used it: `a` has sent
/// its own reset of the stream, which holds the channel's messages until
/// it completes (§5.2.3).
struct LateChannel {
    peer: RawPeer,
    /// The stream, 8.
    s: u16,
    id: ChannelId,
    /// The sequence number of `a`'s reset of `s`, at the peer's request.
    our_reset: u32,
}

/// A connected pair whose `b` is played by hand from then on, with a
/// [`LateChannel`] "late" on `a`.
fn channel_on_a_stream_the_peer_asked_to_reset() -> (Pair, LateChannel) {
    let mut p = Pair::new();
    let (_, peer) = open_channel_with_raw_peer(&mut p);
    // A stream no channel uses yet; the peer asks for its reset.
    let s = 8;
    p.a_receives_from_raw_peer(&peer, &[incoming_reset_chunk(peer.isn, &[s])]);
    p.drain();
    let seqs = reset_requests_in(&p.a_sends());
    assert_eq!(
        seqs.len(),
        1,
        "our reset of stream {s}, at the peer's request"
    );
    let id = p.a.create(p.now, "late", negotiated(s)).unwrap();
    p.drain();
    let late = LateChannel {
        peer,
        s,
        id,
        our_reset: seqs[0],
    };
    (p, late)
}

/// A channel put on a stream whose reset the peer asked for before the
/// channel was there (RFC 6525 §4.2, §5.2.3) holds its messages until
/// that reset completes. If the peer asks for the stream's reset again
/// meanwhile, now the channel's closing (RFC 8831 §6.7), while receiving
/// is paused, the held messages can no longer go: they are dropped and
/// counted (`Stats::held_messages_dropped`), not held again and lost
/// without a word when the channel closes.
#[test]
fn a_held_message_the_peers_second_reset_request_makes_unsendable_is_counted() {
    let (mut p, late) = channel_on_a_stream_the_peer_asked_to_reset();
    let (peer, s, id) = (&late.peer, late.s, late.id);
    assert_eq!(
        p.a.channel(id).map(|c| c.ready_state),
        Some(DataChannelState::Open)
    );
    assert_eq!(
        p.a.send(p.now, id, b"held", false),
        Ok(()),
        "held until the reset asked before the channel completes"
    );
    // The peer performs our reset, then asks for the stream's reset again.
    p.a.set_receive_paused(p.now, true);
    p.a_receives_from_raw_peer(
        peer,
        &[
            reconfig_response_chunk(late.our_reset, 1),
            incoming_reset_chunk(peer.isn.wrapping_add(1), &[s]),
        ],
    );
    p.a.set_receive_paused(p.now, false);
    p.drain();
    assert_eq!(
        p.a.channel(id).map(|c| c.ready_state),
        Some(DataChannelState::Closing),
        "{:?}",
        p.a_events
    );
    let sent = p.a_sends();
    assert!(
        !carry_data_ending_with(&sent, b"held"),
        "nothing goes after the reset the peer asked for"
    );
    assert_eq!(p.a.stats().held_messages_dropped, 1);
    let seqs = reset_requests_in(&sent);
    assert_eq!(seqs.len(), 1, "our reset, at the peer's second request");
    p.a_receives_from_raw_peer(
        peer,
        &[
            reconfig_response_chunk(seqs[0], 1),
            outgoing_reset_chunk(peer.isn.wrapping_add(2), peer.isn, &[s]),
        ],
    );
    p.drain();
    assert!(p.a_events.contains(&Event::Closed(id)), "{:?}", p.a_events);
}

/// Adds `by` to the sequence numbers of the Outgoing SSN Reset Requests
/// (RFC 6525 §4.1) and of the Re-configuration Responses (§4.4) in the
/// RE-CONFIG chunks of an SCTP packet, and reseals it.
fn shift_reconfig_seqs(packet: &mut [u8], request_by: u32, response_by: u32) {
    let mut at = 12;
    while at + 4 <= packet.len() {
        let len = usize::from(u16::from_be_bytes([packet[at + 2], packet[at + 3]]));
        if len < 4 {
            break;
        }
        if packet[at] == 130 {
            let end = (at + len).min(packet.len());
            let mut q = at + 4;
            while q + 8 <= end {
                let plen = usize::from(u16::from_be_bytes([packet[q + 2], packet[q + 3]]));
                let by = match u16::from_be_bytes([packet[q], packet[q + 1]]) {
                    13 => request_by,
                    16 => response_by,
                    _ => 0,
                };
                let seq = u32::from_be_bytes([
                    packet[q + 4],
                    packet[q + 5],
                    packet[q + 6],
                    packet[q + 7],
                ]);
                packet[q + 4..q + 8].copy_from_slice(&seq.wrapping_add(by).to_be_bytes());
                q += (plen.max(4) + 3) & !3;
            }
        }
        at += (len + 3) & !3;
    }
    seal(packet);
}

impl Pair {
    /// Like `pump`, after one request `a` got in `b`'s name, numbered as
    /// `b`'s next (RFC 6525 §5.1.1): `b`'s own requests reach `a` numbered
    /// one further, and `a`'s answers to them reach `b` numbered back, so
    /// that `a` takes none for a retransmission of the injected one
    /// (§5.2.1).
    fn pump_after_a_request_in_bs_name(&mut self) {
        self.pump_through(Duration::from_secs(10), |a_to_b, buf| {
            if a_to_b {
                shift_reconfig_seqs(buf, 0, 1u32.wrapping_neg());
            } else {
                shift_reconfig_seqs(buf, 1, 0);
            }
            true
        });
    }
}

/// the peer asks for the reset of a stream no channel uses; a
/// negotiated channel put there holds its message until that reset
/// completes. While receiving is paused, the reset completes, the peer
/// asks for the stream's reset again (closing the channel, RFC 8831 §6.7)
/// and that second reset completes too. The held message must not go on
/// the stream after the peer's second reset: the peer holds the stream
/// for closed (and may reuse it for its next channel).
#[test]
fn a_held_message_does_not_go_after_the_peers_second_reset_performed_unseen() {
    let (mut p, late) = channel_on_a_stream_the_peer_asked_to_reset();
    let (peer, s, id) = (&late.peer, late.s, late.id);
    assert_eq!(p.a.send(p.now, id, b"held", false), Ok(()));
    p.a.set_receive_paused(p.now, true);
    // The peer performs our first reset and asks for a second one.
    p.a_receives_from_raw_peer(
        peer,
        &[
            reconfig_response_chunk(late.our_reset, 1),
            incoming_reset_chunk(peer.isn.wrapping_add(1), &[s]),
        ],
    );
    let second = reset_requests_in(&p.a_sends());
    assert_eq!(second.len(), 1, "our second reset, at the peer's request");
    // ... and performs the second one too, still unseen by the engine.
    p.a_receives_from_raw_peer(peer, &[reconfig_response_chunk(second[0], 1)]);
    p.a.set_receive_paused(p.now, false);
    p.drain();
    let held_sent = carry_data_ending_with(&p.a_sends(), b"held");
    assert!(
        !held_sent,
        "the held message went on stream {s} after the peer's second reset; events {:?}",
        p.a_events
    );
    assert_eq!(p.a.stats().held_messages_dropped, 1);
}

/// the peer asks for the reset of a stream no channel uses; a
/// negotiated channel goes there. While receiving is paused that reset
/// completes, then the peer asks for the stream's reset again (its
/// closing of the channel, RFC 8831 §6.7, RFC 6525 §4.2). A `send()` now
/// must be refused (`NotOpen`), as it is for a channel that was open
/// before the peer's first request: the engine's `peer_resets` entry is
/// for the first request, which SCTP has performed already.
#[test]
fn a_send_is_refused_while_a_second_peer_reset_request_waits_unseen() {
    let (mut p, late) = channel_on_a_stream_the_peer_asked_to_reset();
    let (peer, s, id) = (&late.peer, late.s, late.id);
    p.a.set_receive_paused(p.now, true);
    p.a_receives_from_raw_peer(peer, &[reconfig_response_chunk(late.our_reset, 1)]);
    assert_eq!(
        p.a.send(p.now, id, b"first", false),
        Ok(()),
        "the first reset is done: the stream takes messages"
    );
    p.a_receives_from_raw_peer(
        peer,
        &[incoming_reset_chunk(peer.isn.wrapping_add(1), &[s])],
    );
    assert_eq!(
        p.a.send(p.now, id, b"after the second request", false),
        Err(Error::NotOpen(id))
    );
}

/// the peer asks for the reset of a stream no channel uses (RFC
/// 6525 §4.2) while receiving is paused; a new in-band channel put on
/// that stream must open, its DATA_CHANNEL_OPEN held until the reset
/// completes, as it is once the request was handed up (`peer_resets`),
/// not be closed at once because its OPEN was refused `NotOpen`.
#[test]
fn an_in_band_channel_on_a_stream_with_an_unseen_peer_reset_opens() {
    let mut p = Pair::new();
    let (first, peer) = open_channel_with_raw_peer(&mut p);
    // The next stream `a` gives an in-band channel (round robin, RFC 8832
    // §6 parity).
    let s = stream(&p.a, first) + 2;
    p.a.set_receive_paused(p.now, true);
    p.a_receives_from_raw_peer(&peer, &[incoming_reset_chunk(peer.isn, &[s])]);
    let id =
        p.a.create(p.now, "next", DataChannelInit::default())
            .unwrap();
    assert_eq!(stream(&p.a, id), s);
    assert_eq!(
        p.a.channel(id).map(|c| c.ready_state),
        Some(DataChannelState::Open),
        "events {:?}",
        p.a.poll_event()
    );
}

/// As above, with a message already held when the peer's first reset
/// completes and its second request arrives, both unseen: the next
/// `send()` is refused too (`NotOpen`), not held behind the first one to
/// be dropped when the held messages are released (RFC 6525 §4.2, RFC
/// 8831 §6.7: the second request is the peer closing the channel).
#[test]
fn a_send_behind_a_held_message_is_refused_while_a_second_peer_reset_request_waits_unseen() {
    let (mut p, late) = channel_on_a_stream_the_peer_asked_to_reset();
    let (peer, s, id) = (&late.peer, late.s, late.id);
    assert_eq!(p.a.send(p.now, id, b"held", false), Ok(()));
    p.a.set_receive_paused(p.now, true);
    p.a_receives_from_raw_peer(
        peer,
        &[
            reconfig_response_chunk(late.our_reset, 1),
            incoming_reset_chunk(peer.isn.wrapping_add(1), &[s]),
        ],
    );
    assert_eq!(
        p.a.send(p.now, id, b"after the second request", false),
        Err(Error::NotOpen(id))
    );
}

/// A message `send()` took (`Ok`) and held, its stream's reset at the
/// peer's request still pending (RFC 6525 §5.2.3), that is dropped unsent
/// because the transport closes is counted in
/// `Stats::held_messages_dropped`, as one dropped at release is.
#[test]
fn a_held_message_dropped_when_the_transport_closes_is_counted() {
    let (mut p, late) = channel_on_a_stream_the_peer_asked_to_reset();
    let id = late.id;
    assert_eq!(p.a.send(p.now, id, b"held", false), Ok(()));
    assert_eq!(p.a.buffered_amount(id), 4, "held, not sent");
    p.a.handle_transport_close(p.now);
    p.drain();
    assert_eq!(
        p.a.channel(id).map(|c| c.ready_state),
        Some(DataChannelState::Closed)
    );
    assert_eq!(p.a.stats().held_messages_dropped, 1);
}

/// The peer opens an in-band channel (RFC 8832 §6) and then asks
/// for the reset of its stream (RFC 6525 §4.2, its closing of the
/// channel, RFC 8831 §6.7), both while receiving is paused. Handed up in
/// that order, the request came after the channel was put on the stream:
/// the channel must be closing and refuse `send()`, as it does when the
/// two arrive with receiving not paused.
#[test]
fn a_peer_reset_request_after_the_peers_open_closes_its_channel() {
    let mut p = Pair::new();
    let (_, peer) = open_channel_with_raw_peer(&mut p);
    p.a.set_receive_paused(p.now, true);
    let theirs =
        p.b.create(p.now, "theirs", DataChannelInit::default())
            .unwrap();
    let s = stream(&p.b, theirs);
    let mut buf = Vec::new();
    while p.b.poll_transmit(p.now, &mut buf).is_some() {
        let _ = p.a.handle_receive(p.now, &buf);
    }
    p.a_receives_from_raw_peer(&peer, &[incoming_reset_chunk(peer.isn, &[s])]);
    p.a.set_receive_paused(p.now, false);
    p.drain();
    let id = incoming(&p.a_events, &p.a, s);
    assert_closed_by_the_peer(&mut p, id);
}

/// Channel `id` of `a`'s is closing, the peer's closing of it, and
/// refuses `send()` (RFC 8831 §6.7).
fn assert_closed_by_the_peer(p: &mut Pair, id: ChannelId) {
    assert_eq!(
        p.a.channel(id).map(|c| c.ready_state),
        Some(DataChannelState::Closing),
        "events {:?}",
        p.a_events
    );
    assert_eq!(
        p.a.send(p.now, id, b"after", false),
        Err(Error::NotOpen(id))
    );
}

/// As above, the peer's OPEN and its request for the stream's
/// reset in one packet, receiving not paused.
#[test]
fn a_peer_reset_request_bundled_with_the_peers_open_closes_its_channel() {
    let mut p = Pair::new();
    let (_, peer) = open_channel_with_raw_peer(&mut p);
    let theirs =
        p.b.create(p.now, "theirs", DataChannelInit::default())
            .unwrap();
    let s = stream(&p.b, theirs);
    let mut buf = Vec::new();
    assert!(p.b.poll_transmit(p.now, &mut buf).is_some());
    assert!(p.b.poll_transmit(p.now, &mut Vec::new()).is_none());
    let mut packet = buf.clone();
    assert_eq!(packet[..8], peer.header[..8]);
    packet.extend_from_slice(&incoming_reset_chunk(peer.isn, &[s]));
    seal(&mut packet);
    p.a.handle_receive(p.now, &packet).unwrap();
    p.drain();
    let id = incoming(&p.a_events, &p.a, s);
    assert_closed_by_the_peer(&mut p, id);
}

/// (The re-record in `open_pending`.) An in-band channel given its
/// stream before the association came up; the association comes up with
/// receiving paused, and the peer asks for the reset of that stream
/// (RFC 6525 §4.2) before our DATA_CHANNEL_OPEN, when it cannot know the
/// channel. The channel opens and its OPEN waits for that reset, then
/// goes: the request is not the peer closing it.
#[test]
fn a_peer_reset_request_before_our_open_does_not_close_a_channel_made_before_connecting() {
    let mut p = Pair::unstarted(engine(Role::Client), engine(Role::Server));
    let id =
        p.a.create(p.now, "early", DataChannelInit::default())
            .unwrap();
    let s = stream(&p.a, id);
    p.a.set_receive_paused(p.now, true);
    p.a.start(p.now, sctp(1));
    p.b.start(p.now, sctp(2));
    let mut buf = Vec::new();
    let (mut header, mut b_isn) = (None, None);
    for _ in 0..10 {
        while p.a.poll_transmit(p.now, &mut buf).is_some() {
            let _ = p.b.handle_receive(p.now, &buf);
        }
        while p.b.poll_transmit(p.now, &mut buf).is_some() {
            if buf[4..8] != [0; 4] {
                header = Some(buf[..12].to_vec());
            }
            for c in chunks(&buf) {
                if c[0] == 1 || c[0] == 2 {
                    b_isn = Some(u32::from_be_bytes([c[16], c[17], c[18], c[19]]));
                }
            }
            let _ = p.a.handle_receive(p.now, &buf);
        }
    }
    let peer = RawPeer {
        header: header.unwrap(),
        isn: b_isn.unwrap(),
    };
    assert_eq!(
        p.a.association().map(|a| a.state()),
        Some(ferrtc_sctp::AssociationState::Established)
    );
    assert_eq!(
        p.a.channel(id).map(|c| c.ready_state),
        Some(DataChannelState::Connecting)
    );
    p.a_receives_from_raw_peer(&peer, &[incoming_reset_chunk(peer.isn, &[s])]);
    p.a.set_receive_paused(p.now, false);
    p.drain();
    assert_eq!(
        p.a.channel(id).map(|c| c.ready_state),
        Some(DataChannelState::Open),
        "events {:?}",
        p.a_events
    );
    let sent = p.a_sends();
    let data_sent = carry_data(&sent);
    let seqs = reset_requests_in(&sent);
    assert!(!data_sent, "the OPEN waits for the reset");
    assert_eq!(seqs.len(), 1);
    p.a_receives_from_raw_peer(&peer, &[reconfig_response_chunk(seqs[0], 1)]);
    p.drain();
    let open_sent = carry_data_ending_with(&p.a_sends(), b"early");
    assert!(open_sent, "events {:?}", p.a_events);
    assert_eq!(
        p.a.channel(id).map(|c| c.ready_state),
        Some(DataChannelState::Open)
    );
}
