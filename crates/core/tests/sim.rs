//! Two `ferrtc-core` peer connections over the simulated network: JSEP,
//! ICE, DTLS, SCTP and data channels end to end, in virtual time.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime};

use ferrtc_core::{
    ChannelId, Config, DataChannelInit, DataChannelMessage, DataChannelState, Event,
    IceConnectionState, PeerConnection, PeerConnectionState, SignalingState, Stats,
};
use ferrtc_sim::{HostId, LinkConfig, Network};

mod common;
use common::Peer;

struct Pair {
    net: Network,
    a: HostId<Peer>,
    b: HostId<Peer>,
}

fn peer(seed: u8, ip: IpAddr, now: Instant) -> Peer {
    let mut config = Config::default();
    config.rng_seed = Some([seed; 32]);
    let mut pc = PeerConnection::new(config, now, SystemTime::now()).unwrap();
    pc.add_local_host(now, SocketAddr::new(ip, 5000)).unwrap();
    Peer::new(pc)
}

impl Pair {
    fn new(seed: u64, link: LinkConfig) -> Pair {
        let mut net = Network::new(seed);
        let (ip_a, ip_b): (IpAddr, IpAddr) =
            ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let now = net.now();
        let a = net.add_host([ip_a], link, peer(1, ip_a, now)).unwrap();
        let b = net.add_host([ip_b], link, peer(2, ip_b, now)).unwrap();
        Pair { net, a, b }
    }

    fn a(&mut self) -> &mut Peer {
        self.net.endpoint_mut(&self.a)
    }

    fn b(&mut self) -> &mut Peer {
        self.net.endpoint_mut(&self.b)
    }

    /// Offer from a, answer from b, applied on both sides.
    fn negotiate(&mut self) {
        let now = self.net.now();
        let offer = self.a().pc.create_offer().unwrap();
        self.a()
            .pc
            .set_local_description(now, Some(offer.clone()))
            .unwrap();
        self.b().pc.set_remote_description(now, offer).unwrap();
        let answer = self.b().pc.create_answer().unwrap();
        self.b()
            .pc
            .set_local_description(now, Some(answer.clone()))
            .unwrap();
        self.a().pc.set_remote_description(now, answer).unwrap();
    }

    /// Moves events into each peer's log and trickles candidates across,
    /// as a signaling channel would.
    fn signal(&mut self) {
        let now = self.net.now();
        for (from, to) in [(self.a, self.b), (self.b, self.a)] {
            let mut trickled = Vec::new();
            let p = self.net.endpoint_mut(&from);
            while let Some(ev) = p.pc.poll_event() {
                if let Event::IceCandidate(c) = &ev {
                    trickled.push(c.clone());
                }
                p.events.push(ev);
            }
            for c in trickled {
                self.net
                    .endpoint_mut(&to)
                    .pc
                    .add_ice_candidate(now, &c)
                    .unwrap();
            }
        }
    }

    /// Runs the network in 5 ms slices, signalling between slices, until
    /// `done` holds or `limit` of virtual time passed.
    fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&mut Pair) -> bool) -> bool {
        let deadline = self.net.now() + limit;
        while self.net.now() < deadline {
            self.signal();
            if done(self) {
                return true;
            }
            self.net.run_for(Duration::from_millis(5));
        }
        self.signal();
        done(self)
    }
}

/// What `pick` takes from each of `events`, in order.
fn picked<T>(events: &[Event], pick: impl FnMut(&Event) -> Option<T>) -> Vec<T> {
    events.iter().filter_map(pick).collect()
}

fn opened(events: &[Event]) -> Vec<ChannelId> {
    picked(events, |e| match e {
        Event::ChannelOpen(id) => Some(*id),
        _ => None,
    })
}

fn messages(events: &[Event]) -> Vec<DataChannelMessage> {
    picked(events, |e| match e {
        Event::ChannelMessage { message, .. } => Some(message.clone()),
        _ => None,
    })
}

/// Connects a and b with one channel "chat" created by a; returns the
/// channel ids on a and b.
fn connect(pair: &mut Pair) -> (ChannelId, ChannelId) {
    let now = pair.net.now();
    let a_chan = pair
        .a()
        .pc
        .create_data_channel(now, "chat", DataChannelInit::default())
        .unwrap();
    pair.negotiate();
    let up = pair.run_until(Duration::from_secs(10), |p| {
        !opened(&p.a().events).is_empty() && !opened(&p.b().events).is_empty()
    });
    assert!(up, "channel did not open on both sides");
    let b_chan = opened(&pair.b().events)[0];
    (a_chan, b_chan)
}

#[test]
fn two_peers_connect_and_open_a_channel_announced_with_dcep() {
    let mut pair = Pair::new(7, LinkConfig::IDEAL.with_delay(Duration::from_millis(10)));
    let (a_chan, b_chan) = connect(&mut pair);

    let a = &pair.a().events;
    assert_eq!(a.first(), Some(&Event::NegotiationNeeded));
    assert!(a.contains(&Event::SignalingStateChange(SignalingState::HaveLocalOffer)));
    assert!(a.contains(&Event::SignalingStateChange(SignalingState::Stable)));
    assert!(a.contains(&Event::IceConnectionStateChange(
        IceConnectionState::Checking
    )));
    assert!(a.contains(&Event::ConnectionStateChange(
        PeerConnectionState::Connected
    )));
    // End of candidates is signalled as an empty candidate.
    assert!(
        a.iter()
            .any(|e| matches!(e, Event::IceCandidate(c) if c.candidate.is_empty()))
    );

    let b = &pair.b().events;
    assert!(b.contains(&Event::DataChannel(b_chan)));
    assert!(b.contains(&Event::ConnectionStateChange(
        PeerConnectionState::Connected
    )));

    let info_a = pair.a().pc.channel(a_chan).unwrap();
    let info_b = pair.b().pc.channel(b_chan).unwrap();
    assert_eq!(info_b.label, "chat");
    assert_eq!(info_a.ready_state, DataChannelState::Open);
    assert_eq!(info_b.ready_state, DataChannelState::Open);
    // The offerer answers as DTLS server (the answerer is active): odd ids.
    assert_eq!(info_a.id, info_b.id);
    assert_eq!(info_a.id.map(|id| id % 2), Some(1));
}

#[test]
fn text_and_binary_messages_keep_their_type_and_order_both_ways() {
    let mut pair = Pair::new(8, LinkConfig::IDEAL.with_delay(Duration::from_millis(5)));
    let (a_chan, b_chan) = connect(&mut pair);

    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let now = pair.net.now();
    pair.a().pc.send(now, a_chan, b"hello", false).unwrap();
    pair.a().pc.send(now, a_chan, &[1, 2, 3], true).unwrap();
    pair.a().pc.send(now, a_chan, b"", false).unwrap();
    pair.a().pc.send(now, a_chan, b"", true).unwrap();
    pair.a().pc.send(now, a_chan, &big, true).unwrap();
    pair.b()
        .pc
        .send(now, b_chan, "réponse".as_bytes(), false)
        .unwrap();

    let expected_on_b = vec![
        DataChannelMessage::Text("hello".into()),
        DataChannelMessage::Binary(vec![1, 2, 3]),
        DataChannelMessage::Text(String::new()),
        DataChannelMessage::Binary(Vec::new()),
        DataChannelMessage::Binary(big.clone()),
    ];
    let done = pair.run_until(Duration::from_secs(10), |p| {
        messages(&p.b().events).len() == expected_on_b.len() && messages(&p.a().events).len() == 1
    });
    assert!(done, "messages did not all arrive");
    assert_eq!(messages(&pair.b().events), expected_on_b);
    assert_eq!(
        messages(&pair.a().events),
        vec![DataChannelMessage::Text("réponse".into())]
    );
    let stats = pair.b().pc.channel(b_chan).unwrap().stats;
    assert_eq!(stats.messages_received, 5);
    assert_eq!(stats.bytes_received, 5 + 3 + big.len() as u64);
}

#[test]
fn messages_arrive_intact_over_a_lossy_reordering_link() {
    let link = LinkConfig::IDEAL
        .with_delay(Duration::from_millis(20))
        .with_loss(0.05)
        .with_reorder(0.05, Duration::from_millis(5));
    let mut pair = Pair::new(9, link);
    let (a_chan, _) = connect(&mut pair);
    let sent: Vec<Vec<u8>> = (0..50u8)
        .map(|i| vec![i; 1000 + usize::from(i) * 300])
        .collect();
    for m in &sent {
        let now = pair.net.now();
        pair.a().pc.send(now, a_chan, m, true).unwrap();
    }
    let done = pair.run_until(Duration::from_secs(60), |p| {
        messages(&p.b().events).len() == sent.len()
    });
    assert!(
        done,
        "only {} messages arrived",
        messages(&pair.b().events).len()
    );
    let got: Vec<Vec<u8>> = messages(&pair.b().events)
        .into_iter()
        .map(|m| m.as_bytes().to_vec())
        .collect();
    assert_eq!(got, sent);
}

#[test]
fn closing_a_channel_closes_it_on_both_sides() {
    let mut pair = Pair::new(10, LinkConfig::IDEAL.with_delay(Duration::from_millis(5)));
    let (a_chan, b_chan) = connect(&mut pair);
    let now = pair.net.now();
    pair.a().pc.close_channel(now, a_chan).unwrap();
    assert_eq!(
        pair.a().pc.channel(a_chan).unwrap().ready_state,
        DataChannelState::Closing
    );
    let done = pair.run_until(Duration::from_secs(5), |p| {
        p.a().events.contains(&Event::ChannelClose(a_chan))
            && p.b().events.contains(&Event::ChannelClose(b_chan))
    });
    assert!(done, "close did not complete");
    assert!(pair.b().events.contains(&Event::ChannelClosing(b_chan)));
    let now = pair.net.now();
    assert!(pair.a().pc.send(now, a_chan, b"late", false).is_err());
}

#[test]
fn negotiated_channels_with_a_fixed_id_open_without_dcep() {
    let mut pair = Pair::new(11, LinkConfig::IDEAL.with_delay(Duration::from_millis(5)));
    let init = DataChannelInit {
        negotiated: true,
        id: Some(42),
        ordered: false,
        max_retransmits: Some(0),
        ..DataChannelInit::default()
    };
    let now = pair.net.now();
    let a_chan = pair
        .a()
        .pc
        .create_data_channel(now, "fixed", init.clone())
        .unwrap();
    let b_chan = pair.b().pc.create_data_channel(now, "fixed", init).unwrap();
    pair.negotiate();
    let up = pair.run_until(Duration::from_secs(10), |p| {
        opened(&p.a().events) == [a_chan] && opened(&p.b().events) == [b_chan]
    });
    assert!(up);
    assert!(
        !pair
            .b()
            .events
            .iter()
            .any(|e| matches!(e, Event::DataChannel(_)))
    );
    let now = pair.net.now();
    pair.a().pc.send(now, a_chan, b"over 42", false).unwrap();
    assert!(pair.run_until(Duration::from_secs(5), |p| {
        !messages(&p.b().events).is_empty()
    }));
    assert_eq!(pair.b().pc.channel(b_chan).unwrap().id, Some(42));
}

#[test]
fn datagrams_from_unvalidated_addresses_are_dropped() {
    let mut pair = Pair::new(12, LinkConfig::IDEAL);
    connect(&mut pair);
    let before = pair.b().pc.ice_stats().unwrap().dropped_unvalidated;
    let now = pair.net.now();
    let stranger: SocketAddr = "10.9.9.9:4000".parse().unwrap();
    let local: SocketAddr = "10.0.0.2:5000".parse().unwrap();
    // A DTLS-looking record from nowhere.
    pair.b()
        .pc
        .handle_receive(now, stranger, local, &mut [23, 254, 253, 0, 0]);
    assert_eq!(
        pair.b().pc.ice_stats().unwrap().dropped_unvalidated,
        before + 1
    );
}

#[test]
fn send_before_open_and_oversized_messages_are_refused() {
    let mut pair = Pair::new(13, LinkConfig::IDEAL);
    let now = pair.net.now();
    let chan = pair
        .a()
        .pc
        .create_data_channel(now, "early", DataChannelInit::default())
        .unwrap();
    assert!(matches!(
        pair.a().pc.send(now, chan, b"too early", false),
        Err(ferrtc_core::Error::InvalidState { .. })
    ));
    let bad = DataChannelInit {
        max_retransmits: Some(1),
        max_packet_life_time: Some(Duration::from_millis(10)),
        ..DataChannelInit::default()
    };
    let now = pair.net.now();
    assert!(pair.a().pc.create_data_channel(now, "bad", bad).is_err());
    let (a_chan, _) = {
        pair.negotiate();
        assert!(pair.run_until(Duration::from_secs(10), |p| {
            !opened(&p.a().events).is_empty()
        }));
        (chan, ())
    };
    let max = pair.a().pc.max_message_size();
    let now = pair.net.now();
    assert!(matches!(
        pair.a().pc.send(now, a_chan, &vec![0; max + 1], true),
        Err(ferrtc_core::Error::Type { .. })
    ));
}

#[test]
fn get_stats_reports_transport_pair_candidates_certificates_and_channels() {
    let mut pair = Pair::new(14, LinkConfig::IDEAL.with_delay(Duration::from_millis(5)));
    let (a_chan, b_chan) = connect(&mut pair);
    let now = pair.net.now();
    pair.a().pc.send(now, a_chan, b"12345", false).unwrap();
    assert!(pair.run_until(Duration::from_secs(5), |p| {
        !messages(&p.b().events).is_empty()
    }));
    let report = pair
        .a()
        .pc
        .get_stats(SystemTime::UNIX_EPOCH + Duration::from_secs(10));
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    let of_type = |t: &str| -> Vec<&serde_json::Value> {
        json.as_object()
            .unwrap()
            .values()
            .filter(|v| v["type"] == t)
            .collect()
    };
    let transport = of_type("transport")[0];
    assert_eq!(transport["dtlsState"], "connected");
    assert_eq!(transport["iceRole"], "controlling");
    assert_eq!(transport["dtlsRole"], "server");
    assert_eq!(transport["timestamp"], 10_000.0);
    let pair_id = transport["selectedCandidatePairId"].as_str().unwrap();
    // One pair selected, once (W3C webrtc-stats RTCTransportStats).
    assert_eq!(transport["selectedCandidatePairChanges"], 1);
    let cp = &json[pair_id];
    assert_eq!(cp["type"], "candidate-pair");
    assert_eq!(cp["state"], "succeeded");
    // The only pair carried every application datagram of the transport.
    assert!(cp["packetsSent"].as_u64().is_some_and(|n| n >= 1));
    assert!(cp["packetsReceived"].as_u64().is_some_and(|n| n >= 1));
    assert_eq!(cp["bytesSent"], transport["bytesSent"]);
    assert_eq!(cp["bytesReceived"], transport["bytesReceived"]);
    // 5 ms on each host's link each way: a 20 ms STUN round trip.
    assert_eq!(cp["currentRoundTripTime"], 0.02);
    assert!(cp["responsesReceived"].as_u64().is_some_and(|n| n >= 1));
    let total = cp["totalRoundTripTime"].as_f64().unwrap();
    assert!((total - 0.02 * cp["responsesReceived"].as_f64().unwrap()).abs() < 1e-9);
    assert_eq!(
        json[cp["remoteCandidateId"].as_str().unwrap()]["address"],
        "10.0.0.2"
    );
    assert_eq!(
        json[cp["localCandidateId"].as_str().unwrap()]["candidateType"],
        "host"
    );
    assert_eq!(of_type("certificate").len(), 2);
    assert!(
        json[transport["remoteCertificateId"].as_str().unwrap()]["base64Certificate"]
            .as_str()
            .is_some_and(|b| b.starts_with("MII"))
    );
    let dc = of_type("data-channel")[0];
    assert_eq!(dc["label"], "chat");
    assert_eq!(dc["state"], "open");
    assert_eq!(dc["messagesSent"], 1);
    assert_eq!(dc["bytesSent"], 5);
    assert_eq!(of_type("peer-connection")[0]["dataChannelsOpened"], 1);
    let b_report = pair.b().pc.get_stats(SystemTime::now());
    let b_dc = b_report.first_of_type("data-channel").unwrap();
    assert!(matches!(b_dc, ferrtc_core::Stats::DataChannel(s) if s.messages_received == 1));
    let _ = b_chan;
}

#[test]
fn restart_ice_renegotiates_new_credentials_and_data_keeps_flowing() {
    let mut pair = Pair::new(15, LinkConfig::IDEAL.with_delay(Duration::from_millis(5)));
    let (a_chan, _) = connect(&mut pair);
    let old_offer = pair.a().pc.local_description().unwrap().sdp;
    pair.a().events.clear();
    let now = pair.net.now();
    pair.a().pc.restart_ice(now).unwrap();
    pair.signal();
    assert!(pair.a().events.contains(&Event::NegotiationNeeded));
    pair.negotiate();
    let new_offer = pair.a().pc.local_description().unwrap().sdp;
    let ufrag = |sdp: &str| {
        sdp.lines()
            .find_map(|l| l.strip_prefix("a=ice-ufrag:"))
            .unwrap()
            .to_owned()
    };
    assert_ne!(ufrag(&old_offer), ufrag(&new_offer));
    let b_answer = pair.b().pc.local_description().unwrap().sdp;
    assert_eq!(pair.b().pc.signaling_state(), SignalingState::Stable);
    // Candidates of the new generation carry the new ufrag.
    pair.signal();
    let new_ufrag = ufrag(&new_offer);
    assert!(pair.a().events.iter().any(
        |e| matches!(e, Event::IceCandidate(c) if c.username_fragment.as_deref() == Some(new_ufrag.as_str()))
    ));
    assert!(!b_answer.is_empty());
    let now = pair.net.now();
    pair.a()
        .pc
        .send(now, a_chan, b"after restart", false)
        .unwrap();
    let n = messages(&pair.b().events).len();
    assert!(
        pair.run_until(Duration::from_secs(10), |p| messages(&p.b().events).len()
            > n)
    );
    // And the transport settles on the new generation.
    assert!(pair.run_until(Duration::from_secs(10), |p| {
        p.a().pc.ice_connection_state() == IceConnectionState::Completed
            || p.a().pc.ice_connection_state() == IceConnectionState::Connected
    }));
    assert_eq!(
        pair.a().pc.connection_state(),
        PeerConnectionState::Connected
    );
}

/// W3C webrtc-stats `RTCIceCandidatePairStats`: one object per pair of
/// the ICE agent's check list, not only the selected one, each with its
/// state and whether it was nominated, its local and remote candidates
/// reported with it. B has two sockets on its address: each side's check
/// list holds two pairs.
#[test]
fn get_stats_reports_every_candidate_pair_of_the_check_list_with_its_state() {
    let mut pair = Pair::new(17, LinkConfig::IDEAL.with_delay(Duration::from_millis(5)));
    let now = pair.net.now();
    pair.b()
        .pc
        .add_local_host(now, "10.0.0.2:5001".parse().unwrap())
        .unwrap();
    connect(&mut pair);
    let reports = [
        pair.a().pc.get_stats(SystemTime::now()),
        pair.b().pc.get_stats(SystemTime::now()),
    ];
    for report in reports {
        let Some(Stats::Transport(transport)) = report.first_of_type("transport") else {
            panic!("no transport: {}", report.to_json());
        };
        let selected = transport
            .selected_candidate_pair_id
            .clone()
            .expect("a selected pair");
        let pairs: Vec<_> = report
            .stats
            .values()
            .filter_map(|s| match s {
                Stats::CandidatePair(p) => Some(p),
                _ => None,
            })
            .collect();
        assert_eq!(pairs.len(), 2, "{}", report.to_json());
        for p in &pairs {
            assert!(
                ["frozen", "waiting", "in-progress", "failed", "succeeded"].contains(&p.state),
                "{p:?}"
            );
            assert!(matches!(
                report.stats.get(&p.local_candidate_id),
                Some(Stats::LocalCandidate(_))
            ));
            assert!(matches!(
                report.stats.get(&p.remote_candidate_id),
                Some(Stats::RemoteCandidate(_))
            ));
        }
        let chosen: Vec<_> = pairs.iter().filter(|p| p.id == selected).collect();
        assert_eq!(chosen.len(), 1, "{}", report.to_json());
        assert_eq!(chosen[0].state, "succeeded");
        assert!(chosen[0].nominated);
        assert!(
            pairs
                .iter()
                .filter(|p| p.id != selected)
                .all(|p| !p.nominated),
            "{}",
            report.to_json()
        );
    }
}

/// The ids of the `local-candidate`s, `remote-candidate`s and
/// `candidate-pair`s of `pc`'s report, and its selected pair's id.
fn ice_ids(pc: &PeerConnection) -> (BTreeSet<String>, Option<String>) {
    let report = pc.get_stats(SystemTime::now());
    let ids = report
        .stats
        .values()
        .filter(|s| {
            matches!(
                s,
                Stats::LocalCandidate(_) | Stats::RemoteCandidate(_) | Stats::CandidatePair(_)
            )
        })
        .map(|s| s.id().to_owned())
        .collect();
    let selected = report.stats.values().find_map(|s| match s {
        Stats::Transport(t) => t.selected_candidate_pair_id.clone(),
        _ => None,
    });
    (ids, selected)
}

/// W3C webrtc-stats: an id names one object. An ICE restart makes new
/// candidates and new pairs (RFC 8445 §9: a new generation, new
/// credentials), even on the same addresses: their objects take new ids,
/// while the pair still selected from the old generation keeps its own
/// until the new one takes over. No id names two candidates or two pairs
/// over the connection's life.
#[test]
fn candidates_and_pairs_of_a_new_ice_generation_take_new_ids() {
    let mut pair = Pair::new(16, LinkConfig::IDEAL.with_delay(Duration::from_millis(5)));
    connect(&mut pair);
    let old = [ice_ids(&pair.a().pc), ice_ids(&pair.b().pc)];
    let old_selected = old[0].1.clone().expect("a selected pair");
    assert!(old[0].0.contains(&old_selected), "{old:?}");

    let now = pair.net.now();
    pair.a().pc.restart_ice(now).unwrap();
    assert_eq!(
        ice_ids(&pair.a().pc).1.as_ref(),
        Some(&old_selected),
        "the old pair carries data under its id until a new one is selected"
    );
    pair.signal();
    pair.negotiate();
    // One selection at the connection, one of the new generation.
    let changes =
        |pc: &PeerConnection| match pc.get_stats(SystemTime::now()).first_of_type("transport") {
            Some(Stats::Transport(t)) => t.selected_candidate_pair_changes,
            _ => 0,
        };
    let switched = pair.run_until(Duration::from_secs(10), |p| {
        changes(&p.a().pc) >= 2 && changes(&p.b().pc) >= 2
    });
    assert!(switched, "pairs of the new generation are selected");
    assert_eq!([changes(&pair.a().pc), changes(&pair.b().pc)], [2, 2]);
    let new = [ice_ids(&pair.a().pc), ice_ids(&pair.b().pc)];
    for ((old_ids, _), (new_ids, selected)) in old.iter().zip(&new) {
        assert!(new_ids.contains(selected.as_ref().unwrap()));
        let reused: Vec<_> = new_ids.intersection(old_ids).collect();
        assert!(
            reused.is_empty(),
            "ids of the old generation name new candidates or pairs: {reused:?}"
        );
    }
}

#[test]
fn rollback_and_the_parameterless_set_local_description_follow_jsep() {
    let mut pair = Pair::new(16, LinkConfig::IDEAL);
    let now = pair.net.now();
    pair.a()
        .pc
        .create_data_channel(now, "x", DataChannelInit::default())
        .unwrap();
    // Parameterless: creates and applies an offer.
    pair.a().pc.set_local_description(now, None).unwrap();
    assert_eq!(
        pair.a().pc.signaling_state(),
        SignalingState::HaveLocalOffer
    );
    let offer = pair.a().pc.local_description().unwrap();
    assert_eq!(offer.kind, ferrtc_core::SdpType::Offer);
    // Rollback returns to stable and forgets the pending offer.
    pair.a()
        .pc
        .set_local_description(now, Some(ferrtc_core::SessionDescription::rollback()))
        .unwrap();
    assert_eq!(pair.a().pc.signaling_state(), SignalingState::Stable);
    assert!(pair.a().pc.pending_local_description().is_none());
    // The answerer's parameterless form answers.
    pair.b().pc.set_remote_description(now, offer).unwrap();
    pair.b().pc.set_local_description(now, None).unwrap();
    assert_eq!(pair.b().pc.signaling_state(), SignalingState::Stable);
    assert_eq!(
        pair.b().pc.current_local_description().unwrap().kind,
        ferrtc_core::SdpType::Answer
    );
    // An answer in stable is refused (W3C InvalidStateError).
    let answer = pair.b().pc.local_description().unwrap();
    assert!(pair.a().pc.set_remote_description(now, answer).is_err());
}

#[test]
fn the_whole_stack_connects_and_delivers_under_heavy_loss() {
    // 15% loss each way on every link: ICE, DTLS and SCTP all retransmit.
    let link = LinkConfig::IDEAL
        .with_delay(Duration::from_millis(30))
        .with_loss(0.15);
    let mut pair = Pair::new(17, link);
    let (a_chan, b_chan) = connect(&mut pair);
    let sent: Vec<Vec<u8>> = (0..20u8).map(|i| vec![i; 5000]).collect();
    for m in &sent {
        let now = pair.net.now();
        pair.a().pc.send(now, a_chan, m, true).unwrap();
    }
    let now = pair.net.now();
    pair.b().pc.send(now, b_chan, b"pong", false).unwrap();
    let done = pair.run_until(Duration::from_secs(120), |p| {
        messages(&p.b().events).len() == sent.len() && messages(&p.a().events).len() == 1
    });
    assert!(
        done,
        "{} of {} arrived",
        messages(&pair.b().events).len(),
        sent.len()
    );
    let got: Vec<Vec<u8>> = messages(&pair.b().events)
        .iter()
        .map(|m| m.as_bytes().to_vec())
        .collect();
    assert_eq!(got, sent);
}

#[test]
fn a_channel_opens_within_a_few_round_trips_not_a_pacing_interval() {
    // 1 ms on each host's link, so a 4 ms round trip: ICE check and
    // nomination, DTLS, SCTP and DCEP take about six round trips (~26 ms).
    // A nominating check that waited for the next paced slot (Ta = 50 ms)
    // would take ~72 ms.
    let mut pair = Pair::new(7, LinkConfig::IDEAL.with_delay(Duration::from_millis(1)));
    let start = pair.net.now();
    let now = pair.net.now();
    let _ = pair
        .a()
        .pc
        .create_data_channel(now, "chat", DataChannelInit::default())
        .unwrap();
    pair.negotiate();
    let mut opened_at = None;
    while pair.net.now() < start + Duration::from_secs(1) {
        pair.signal();
        if !opened(&pair.a().events).is_empty() && !opened(&pair.b().events).is_empty() {
            opened_at = Some(pair.net.now() - start);
            break;
        }
        pair.net.run_for(Duration::from_millis(1));
    }
    let opened_at = opened_at.expect("channel did not open");
    assert!(
        opened_at < Duration::from_millis(40),
        "opened after {opened_at:?}"
    );
}

#[test]
fn the_answerer_of_an_ice_restart_trickles_new_candidates_only_after_its_answer_is_set() {
    // JSEP (RFC 9429 §5.10): candidates of a new generation are gathered once
    // the local description that carries its credentials is applied; one
    // trickled earlier would reach the offerer before the answer, whose
    // addIceCandidate must then fail.
    let mut pair = Pair::new(16, LinkConfig::IDEAL.with_delay(Duration::from_millis(5)));
    connect(&mut pair);
    let now = pair.net.now();
    pair.a().pc.restart_ice(now).unwrap();
    let offer = pair.a().pc.create_offer().unwrap();
    pair.a()
        .pc
        .set_local_description(now, Some(offer.clone()))
        .unwrap();
    let b_old_ufrag = pair.b().pc.local_ufrag().to_owned();
    let seen = pair.b().events.len();
    pair.b().pc.set_remote_description(now, offer).unwrap();
    pair.net.run_for(Duration::from_millis(20));
    while let Some(ev) = pair.b().pc.poll_event() {
        pair.b().events.push(ev);
    }
    let early: Vec<_> = pair.b().events[seen..]
        .iter()
        .filter(|e| matches!(e, Event::IceCandidate(c) if c.username_fragment.as_deref() != Some(b_old_ufrag.as_str())))
        .collect();
    assert!(early.is_empty(), "trickled before the answer: {early:?}");

    let answer = pair.b().pc.create_answer().unwrap();
    let now = pair.net.now();
    pair.b()
        .pc
        .set_local_description(now, Some(answer.clone()))
        .unwrap();
    let new_ufrag = pair.b().pc.local_ufrag().to_owned();
    assert_ne!(new_ufrag, b_old_ufrag);
    pair.a().pc.set_remote_description(now, answer).unwrap();
    // Now they come, and the offerer takes them.
    assert!(pair.run_until(Duration::from_secs(2), |p| {
        p.b().events[seen..].iter().any(
            |e| matches!(e, Event::IceCandidate(c) if c.username_fragment.as_deref() == Some(new_ufrag.as_str())),
        )
    }));
}

#[test]
fn a_send_after_an_idle_spell_on_a_short_lifetime_channel_arrives() {
    // PR-SCTP (RFC 3758) stamps a message's lifetime when it is sent; with
    // a clock that stood still since the last input, the first send after
    // an idle spell longer than `maxPacketLifeTime` was abandoned before
    // it ever left.
    let mut pair = Pair::new(18, LinkConfig::IDEAL.with_delay(Duration::from_millis(5)));
    let init = DataChannelInit {
        max_packet_life_time: Some(Duration::from_millis(50)),
        ..DataChannelInit::default()
    };
    let now = pair.net.now();
    let a_chan = pair.a().pc.create_data_channel(now, "timed", init).unwrap();
    pair.negotiate();
    assert!(pair.run_until(Duration::from_secs(10), |p| {
        !opened(&p.a().events).is_empty() && !opened(&p.b().events).is_empty()
    }));
    // Idle: no input for two seconds, far beyond the lifetime.
    pair.net.run_for(Duration::from_secs(2));
    pair.signal();
    let before = messages(&pair.b().events).len();
    let now = pair.net.now();
    pair.a()
        .pc
        .send(now, a_chan, b"after the pause", false)
        .unwrap();
    assert!(
        pair.run_until(Duration::from_secs(1), |p| messages(&p.b().events).len()
            > before),
        "the message was abandoned"
    );
    assert_eq!(
        messages(&pair.b().events).last(),
        Some(&DataChannelMessage::Text("after the pause".into()))
    );
}

/// Drains `peer`'s events into its log, then checks that the pass left
/// nothing behind: no datagram and no event without a further input.
/// Returns the trickled candidates.
fn finish_pass(net: &mut Network, id: HostId<Peer>) -> Vec<ferrtc_core::IceCandidateInit> {
    let now = net.now();
    let p = net.endpoint_mut(&id);
    let mut candidates = Vec::new();
    while let Some(ev) = p.pc.poll_event() {
        if let Event::IceCandidate(c) = &ev {
            candidates.push(c.clone());
        }
        p.events.push(ev);
    }
    let mut buf = Vec::new();
    assert!(
        p.pc.poll_transmit(now, &mut buf).is_none(),
        "a datagram was left after the pass"
    );
    assert!(
        p.pc.poll_event().is_none(),
        "an event was left after the pass"
    );
    candidates
}

#[test]
fn one_pass_of_the_documented_order_leaves_nothing_pending() {
    // The simulator drives each host as `PeerConnection` documents: input,
    // then `poll_transmit` until `None`. Draining `poll_event` must then
    // leave neither a datagram nor an event, every millisecond of a whole
    // life: setup, data, channel close, connection close.
    let mut pair = Pair::new(19, LinkConfig::IDEAL.with_delay(Duration::from_millis(5)));
    let now = pair.net.now();
    let a_chan = pair
        .a()
        .pc
        .create_data_channel(now, "chat", DataChannelInit::default())
        .unwrap();
    pair.negotiate();
    let (a, b) = (pair.a, pair.b);
    let deadline = pair.net.now() + Duration::from_secs(20);
    let mut phase = 0;
    while pair.net.now() < deadline && phase < 4 {
        let to_b = finish_pass(&mut pair.net, a);
        let to_a = finish_pass(&mut pair.net, b);
        let now = pair.net.now();
        for c in to_b {
            pair.b().pc.add_ice_candidate(now, &c).unwrap();
        }
        for c in to_a {
            pair.a().pc.add_ice_candidate(now, &c).unwrap();
        }
        match phase {
            0 if !opened(&pair.b().events).is_empty() => {
                // A large message goes out over several passes, and SCTP
                // reports `bufferedamountlow` from inside `poll_transmit`:
                // the pass must hand that event up too.
                pair.a()
                    .pc
                    .set_buffered_amount_low_threshold(a_chan, 1024)
                    .unwrap();
                pair.a()
                    .pc
                    .send(now, a_chan, &[7; 64 * 1024], true)
                    .unwrap();
                pair.a().pc.send(now, a_chan, b"ping", false).unwrap();
                phase = 1;
            }
            1 if messages(&pair.b().events).len() == 2
                && pair
                    .a()
                    .events
                    .contains(&Event::ChannelBufferedAmountLow(a_chan)) =>
            {
                pair.a().pc.close_channel(now, a_chan).unwrap();
                phase = 2;
            }
            2 if pair
                .b()
                .events
                .iter()
                .any(|e| matches!(e, Event::ChannelClose(_))) =>
            {
                pair.a().pc.close(now);
                phase = 3;
            }
            3 if pair.a().pc.is_closed() => phase = 4,
            _ => {}
        }
        pair.net.run_for(Duration::from_millis(1));
    }
    assert_eq!(phase, 4, "the connection's life stopped in phase {phase}");
}

/// A signaling channel that forwards each candidate the moment it is
/// emitted, and holds it only while the receiver has no remote
/// description (W3C webrtc-pc §4.4.1.6 `addIceCandidate` rejects it with
/// `InvalidStateError` then), as a browser application does.
#[derive(Default)]
struct EagerSignaling {
    held: [Vec<ferrtc_core::IceCandidateInit>; 2],
    /// Drop the candidates one side (0: the offerer's, 1: the answerer's)
    /// sends before the other can add them, instead of holding them, as an
    /// application that ignores `addIceCandidate`'s rejection does (had it
    /// dropped both, neither side would know an address of the other).
    drop_early: Option<usize>,
}

impl EagerSignaling {
    fn run(&mut self, pair: &mut Pair) {
        let now = pair.net.now();
        for (i, (from, to)) in [(pair.a, pair.b), (pair.b, pair.a)].into_iter().enumerate() {
            let p = pair.net.endpoint_mut(&from);
            while let Some(ev) = p.pc.poll_event() {
                if let Event::IceCandidate(c) = &ev {
                    self.held[i].push(c.clone());
                }
                p.events.push(ev);
            }
            let to = pair.net.endpoint_mut(&to);
            if to.pc.remote_description().is_some() {
                for c in self.held[i].drain(..) {
                    to.pc.add_ice_candidate(now, &c).unwrap();
                }
            } else if self.drop_early == Some(i) {
                self.held[i].clear();
            }
        }
    }
}

/// Offer/answer with the network running between each step and candidates
/// trickled as early as the API allows: the offerer's reach the answerer
/// right after its `setRemoteDescription`, before its answer; the
/// answerer's are emitted, and its checks and DTLS ClientHello reach the
/// offerer, well before the offerer has the answer. The channel, created
/// by the offerer or by the answerer, must open within a few seconds.
fn early_trickle_opens_the_channel(
    creator_is_offerer: bool,
    seed: u64,
    pause_ms: u32,
    drop_early: Option<usize>,
) {
    let mut pair = Pair::new(
        seed,
        LinkConfig::IDEAL.with_delay(Duration::from_millis(10)),
    );
    let mut signaling = EagerSignaling {
        drop_early,
        ..EagerSignaling::default()
    };
    let now = pair.net.now();
    let init = DataChannelInit::default();
    if creator_is_offerer {
        pair.a().pc.create_data_channel(now, "early", init).unwrap();
    } else {
        // The answerer's channel needs a data m-section: the offerer asks
        // for one with a negotiated channel of its own.
        let negotiated = DataChannelInit {
            negotiated: true,
            id: Some(100),
            ..DataChannelInit::default()
        };
        pair.a()
            .pc
            .create_data_channel(now, "n", negotiated)
            .unwrap();
        pair.b().pc.create_data_channel(now, "early", init).unwrap();
    }
    let offer = pair.a().pc.create_offer().unwrap();
    pair.a()
        .pc
        .set_local_description(now, Some(offer.clone()))
        .unwrap();
    signaling.run(&mut pair);
    pair.net.run_for(Duration::from_millis(30));
    signaling.run(&mut pair);
    let now = pair.net.now();
    pair.b().pc.set_remote_description(now, offer).unwrap();
    // The offerer's candidates, held so far, go in before the answer.
    signaling.run(&mut pair);
    pair.net.run_for(Duration::from_millis(30));
    signaling.run(&mut pair);
    let now = pair.net.now();
    let answer = pair.b().pc.create_answer().unwrap();
    pair.b()
        .pc
        .set_local_description(now, Some(answer.clone()))
        .unwrap();
    // The answerer checks, is answered (a knows its own password), selects
    // a pair and sends its ClientHello, all before a has the answer.
    for _ in 0..pause_ms / 5 {
        signaling.run(&mut pair);
        pair.net.run_for(Duration::from_millis(5));
    }
    let now = pair.net.now();
    pair.a().pc.set_remote_description(now, answer).unwrap();
    let deadline = pair.net.now() + Duration::from_secs(5);
    let label = |p: &mut Peer| {
        opened(&p.events)
            .into_iter()
            .any(|id| p.pc.channel(id).is_some_and(|c| c.label == "early"))
    };
    while pair.net.now() < deadline && !(label(pair.a()) && label(pair.b())) {
        signaling.run(&mut pair);
        pair.net.run_for(Duration::from_millis(5));
    }
    assert!(
        label(pair.a()) && label(pair.b()),
        "channel not open after 5 s: a {:?}/{:?}, b {:?}/{:?}",
        pair.a().pc.connection_state(),
        pair.a().pc.sctp_stats().is_some(),
        pair.b().pc.connection_state(),
        pair.b().pc.sctp_stats().is_some(),
    );
    // And messages flow, both ways.
    let chan = |p: &mut Peer| {
        p.pc.channels()
            .find(|id| p.pc.channel(*id).is_some_and(|c| c.label == "early"))
            .unwrap()
    };
    let (ca, cb) = (chan(pair.a()), chan(pair.b()));
    let now = pair.net.now();
    pair.a().pc.send(now, ca, b"from a", false).unwrap();
    pair.b().pc.send(now, cb, b"from b", false).unwrap();
    assert!(pair.run_until(Duration::from_secs(2), |p| {
        !messages(&p.a().events).is_empty() && !messages(&p.b().events).is_empty()
    }));
}

#[test]
fn candidates_trickled_before_the_answer_still_open_the_offerers_channel() {
    for pause_ms in [0, 300, 3000, 20_000] {
        early_trickle_opens_the_channel(true, 20, pause_ms, None);
    }
}

#[test]
fn candidates_trickled_before_the_answer_still_open_the_answerers_channel() {
    for pause_ms in [0, 300, 3000, 20_000] {
        early_trickle_opens_the_channel(false, 21, pause_ms, None);
    }
}

#[test]
fn candidates_rejected_before_the_remote_description_are_not_needed_to_connect() {
    // An application that drops what addIceCandidate rejects: one side's
    // early candidates never arrive, and the other learns it from its
    // checks (peer-reflexive, RFC 8445 §7.3.1.3).
    for dropped in [0, 1] {
        for creator_is_offerer in [true, false] {
            for pause_ms in [0, 300, 3000] {
                early_trickle_opens_the_channel(creator_is_offerer, 22, pause_ms, Some(dropped));
            }
        }
    }
}

#[test]
fn a_rolled_back_ice_restart_leaves_both_agents_on_the_credentials_they_signal() {
    // RFC 8829 §4.1.10.2: a rollback undoes the restart offer on both
    // sides. b offers next and a answers: each description carries the
    // credentials its agent uses, data keeps flowing, and a later restart
    // goes through.
    let mut pair = Pair::new(19, LinkConfig::IDEAL.with_delay(Duration::from_millis(5)));
    let (a_chan, _) = connect(&mut pair);
    let ufrag = |sdp: &str| {
        sdp.lines()
            .find_map(|l| l.strip_prefix("a=ice-ufrag:"))
            .unwrap()
            .to_owned()
    };
    let (a_ufrag, b_ufrag) = (
        pair.a().pc.local_ufrag().to_owned(),
        pair.b().pc.local_ufrag().to_owned(),
    );
    let now = pair.net.now();
    pair.a().pc.restart_ice(now).unwrap();
    pair.a().pc.set_local_description(now, None).unwrap();
    let offer = pair.a().pc.local_description().unwrap();
    pair.b().pc.set_remote_description(now, offer).unwrap();
    // a's new candidates reach b while its offer is pending.
    pair.net.run_for(Duration::from_millis(20));
    pair.signal();
    let rollback = ferrtc_core::SessionDescription::rollback;
    pair.b().pc.set_remote_description(now, rollback()).unwrap();
    pair.a()
        .pc
        .set_local_description(now, Some(rollback()))
        .unwrap();
    assert_eq!(pair.a().pc.local_ufrag(), a_ufrag);
    assert_eq!(pair.b().pc.local_ufrag(), b_ufrag);
    // b offers, a answers.
    let now = pair.net.now();
    pair.b().pc.set_local_description(now, None).unwrap();
    let offer = pair.b().pc.local_description().unwrap();
    assert_eq!(ufrag(&offer.sdp), b_ufrag);
    pair.a().pc.set_remote_description(now, offer).unwrap();
    pair.a().pc.set_local_description(now, None).unwrap();
    let answer = pair.a().pc.local_description().unwrap();
    assert_eq!(ufrag(&answer.sdp), a_ufrag);
    pair.b().pc.set_remote_description(now, answer).unwrap();
    let n = messages(&pair.b().events).len();
    pair.a()
        .pc
        .send(now, a_chan, b"after the rollback", false)
        .unwrap();
    assert!(
        pair.run_until(Duration::from_secs(5), |p| messages(&p.b().events).len()
            > n)
    );
    // A restart asked for afterwards is negotiated whole.
    let now = pair.net.now();
    pair.a().pc.restart_ice(now).unwrap();
    pair.negotiate();
    let new_a = pair.a().pc.local_ufrag().to_owned();
    let new_b = pair.b().pc.local_ufrag().to_owned();
    assert_ne!(new_a, a_ufrag);
    assert_ne!(new_b, b_ufrag);
    assert_eq!(ufrag(&pair.a().pc.local_description().unwrap().sdp), new_a);
    assert_eq!(ufrag(&pair.b().pc.local_description().unwrap().sdp), new_b);
    let now = pair.net.now();
    pair.a()
        .pc
        .send(now, a_chan, b"after the restart", false)
        .unwrap();
    assert!(
        pair.run_until(Duration::from_secs(5), |p| messages(&p.b().events).len()
            > n + 1)
    );
    assert!(pair.run_until(Duration::from_secs(10), |p| {
        p.a().pc.selected_pair().is_some()
            && matches!(
                p.a().pc.ice_connection_state(),
                IceConnectionState::Connected | IceConnectionState::Completed
            )
            && p.a().pc.ice_stats().is_some()
    }));
}

/// `restartIce()` called twice before the offer (W3C webrtc-pc §4.4.1.6:
/// the second call has nothing more to replace) trickles only candidates
/// of the generation the offer carries: each `icecandidate` carries the
/// offer's ufrag (RFC 8838 §4.1, RFC 8445 §9), none of a generation no
/// description ever held (which the peer's `addIceCandidate` must refuse).
#[test]
fn restart_ice_twice_before_the_offer_trickles_only_the_offered_generation() {
    let mut pair = Pair::new(19, LinkConfig::IDEAL.with_delay(Duration::from_millis(5)));
    let (a_chan, _) = connect(&mut pair);
    let now = pair.net.now();
    pair.a().pc.restart_ice(now).unwrap();
    pair.net.run_for(Duration::from_millis(20));
    let now = pair.net.now();
    pair.a().pc.restart_ice(now).unwrap();
    pair.net.run_for(Duration::from_millis(20));
    let seen = pair.a().events.len();
    let now = pair.net.now();
    let offer = pair.a().pc.create_offer().unwrap();
    pair.a()
        .pc
        .set_local_description(now, Some(offer.clone()))
        .unwrap();
    let offered = offer
        .sdp
        .lines()
        .find_map(|l| l.strip_prefix("a=ice-ufrag:"))
        .unwrap()
        .to_owned();
    while let Some(ev) = pair.a().pc.poll_event() {
        pair.a().events.push(ev);
    }
    let ufrags: Vec<Option<String>> = pair.a().events[seen..]
        .iter()
        .filter_map(|e| match e {
            Event::IceCandidate(c) => Some(c.username_fragment.clone()),
            _ => None,
        })
        .collect();
    assert!(!ufrags.is_empty());
    assert!(
        ufrags
            .iter()
            .all(|u| u.as_deref() == Some(offered.as_str())),
        "offer ufrag {offered}, trickled {ufrags:?}"
    );
    pair.b().pc.set_remote_description(now, offer).unwrap();
    let answer = pair.b().pc.create_answer().unwrap();
    pair.b()
        .pc
        .set_local_description(now, Some(answer.clone()))
        .unwrap();
    pair.a().pc.set_remote_description(now, answer).unwrap();
    let n = messages(&pair.b().events).len();
    let now = pair.net.now();
    pair.a().pc.send(now, a_chan, b"after", false).unwrap();
    assert!(
        pair.run_until(Duration::from_secs(10), |p| messages(&p.b().events).len()
            > n)
    );
}

/// The peer's end-of-candidates of the generation before our ICE restart,
/// arriving once our restart offer is applied (RFC 8838 §8, RFC 8445 §9),
/// belongs to that generation: it does not end the new generation's
/// candidates, so once the new pair is selected the ICE connection state
/// stays `connected` (W3C webrtc-pc §5.6: `completed` needs the remote
/// end-of-candidates of the generation in use) until the peer's new
/// end-of-candidates comes.
#[test]
fn a_late_end_of_candidates_of_the_old_generation_does_not_end_the_new_one() {
    let mut pair = Pair::new(21, LinkConfig::IDEAL.with_delay(Duration::from_millis(5)));
    connect(&mut pair);
    let b_old_end = pair
        .b()
        .events
        .iter()
        .find_map(|e| match e {
            Event::IceCandidate(c) if c.candidate.is_empty() => Some(c.clone()),
            _ => None,
        })
        .expect("b signalled end-of-candidates");
    let now = pair.net.now();
    pair.a().pc.restart_ice(now).unwrap();
    let offer = pair.a().pc.create_offer().unwrap();
    pair.a()
        .pc
        .set_local_description(now, Some(offer.clone()))
        .unwrap();
    // B's old end-of-candidates arrives late (it was sent before B heard
    // of the restart): accepted, as its ufrag is the current remote one.
    pair.a().pc.add_ice_candidate(now, &b_old_end).unwrap();
    pair.b().pc.set_remote_description(now, offer).unwrap();
    let answer = pair.b().pc.create_answer().unwrap();
    pair.b()
        .pc
        .set_local_description(now, Some(answer.clone()))
        .unwrap();
    pair.a().pc.set_remote_description(now, answer).unwrap();
    // B's new candidates and end-of-candidates are held back; A's go.
    let mut held = Vec::new();
    let mut states = Vec::new();
    let end = pair.net.now() + Duration::from_secs(3);
    while pair.net.now() < end {
        let now = pair.net.now();
        let mut from_a = Vec::new();
        while let Some(ev) = pair.a().pc.poll_event() {
            match &ev {
                Event::IceCandidate(c) => from_a.push(c.clone()),
                Event::IceConnectionStateChange(s) => states.push(*s),
                _ => {}
            }
            pair.a().events.push(ev);
        }
        for c in from_a {
            pair.b().pc.add_ice_candidate(now, &c).unwrap();
        }
        while let Some(ev) = pair.b().pc.poll_event() {
            if let Event::IceCandidate(c) = &ev {
                held.push(c.clone());
            }
            pair.b().events.push(ev);
        }
        pair.net.run_for(Duration::from_millis(5));
    }
    assert!(held.iter().any(|c| c.candidate.is_empty()));
    eprintln!(
        "states {states:?} now {:?}",
        pair.a().pc.ice_connection_state()
    );
    assert!(
        !states.contains(&IceConnectionState::Completed),
        "completed before the peer's new end-of-candidates: {states:?}"
    );
    let now = pair.net.now();
    for c in held {
        pair.a().pc.add_ice_candidate(now, &c).unwrap();
    }
    assert!(pair.run_until(Duration::from_secs(3), |p| {
        p.a().pc.ice_connection_state() == IceConnectionState::Completed
    }));
}

/// The connection-state changes in `events`, in order.
fn connection_states(events: &[Event]) -> Vec<PeerConnectionState> {
    picked(events, |e| match e {
        Event::ConnectionStateChange(s) => Some(*s),
        _ => None,
    })
}

/// The ICE connection-state changes in `events`, in order.
fn ice_states(events: &[Event]) -> Vec<IceConnectionState> {
    picked(events, |e| match e {
        Event::IceConnectionStateChange(s) => Some(*s),
        _ => None,
    })
}

/// The peer's `close()` (its SCTP ABORT and DTLS close_notify) does not
/// close this side: W3C webrtc-pc §4.3.3 makes `connectionState` and
/// `iceConnectionState` `closed` only when `[[IsClosed]]`, which only the
/// local `close()` sets. The DTLS transport is `closed` (RFC 5246 §7.2.1,
/// W3C §5.5), which counts like `connected` in the derivation, so the
/// connection stays `connected` until ICE consent to the silent peer runs
/// out (RFC 7675 §5.1): `disconnected`, then `failed`, as in a browser;
/// the channel is `closed`.
#[test]
fn the_peers_close_leaves_this_side_disconnected_then_failed_never_closed() {
    let mut pair = Pair::new(31, LinkConfig::IDEAL.with_delay(Duration::from_millis(5)));
    let (a_chan, _) = connect(&mut pair);
    let before = pair.a().events.len();
    let now = pair.net.now();
    pair.b().pc.close(now);
    let closed_channel = pair.run_until(Duration::from_secs(2), |p| {
        p.a().events.contains(&Event::ChannelClose(a_chan))
    });
    assert!(
        closed_channel,
        "the channel did not close on the peer's ABORT"
    );
    assert_eq!(
        pair.a().pc.dtls_state(),
        Some(ferrtc_dtls::TransportState::Closed),
        "close_notify closes the DTLS transport"
    );
    // W3C RTCDtlsTransport `statechange`: how the application learns the
    // peer ended the session while the connection state stays `connected`.
    assert!(
        pair.a().events[before..].contains(&Event::DtlsStateChange(
            ferrtc_core::DtlsTransportState::Closed
        )),
        "the DTLS transport's closing is told"
    );
    assert_eq!(
        pair.a().pc.connection_state(),
        PeerConnectionState::Connected,
        "a DTLS transport closed by the peer counts as connected"
    );
    pair.run_until(Duration::from_secs(60), |p| {
        p.a().pc.connection_state() == PeerConnectionState::Failed
    });
    let after = pair.a().events[before..].to_vec();
    assert_eq!(
        connection_states(&after),
        vec![
            PeerConnectionState::Disconnected,
            PeerConnectionState::Failed
        ]
    );
    assert_eq!(
        ice_states(&after),
        vec![IceConnectionState::Disconnected, IceConnectionState::Failed]
    );
    assert_eq!(
        pair.a().pc.ice_connection_state(),
        IceConnectionState::Failed
    );
    assert_eq!(
        pair.a().pc.channel(a_chan).map(|c| c.ready_state),
        Some(DataChannelState::Closed)
    );
}

/// After the peer closed, this side's own `close()` makes every state
/// `closed`, and nothing follows it: no `failed` when ICE consent would
/// have run out (W3C webrtc-pc §4.4.1 close(): `[[IsClosed]]`).
#[test]
fn close_after_the_peer_closed_is_final_no_failed_follows() {
    let mut pair = Pair::new(32, LinkConfig::IDEAL.with_delay(Duration::from_millis(5)));
    let (a_chan, _) = connect(&mut pair);
    let now = pair.net.now();
    pair.b().pc.close(now);
    pair.run_until(Duration::from_secs(2), |p| {
        p.a().events.contains(&Event::ChannelClose(a_chan))
    });
    let now = pair.net.now();
    pair.a().pc.close(now);
    assert_eq!(pair.a().pc.connection_state(), PeerConnectionState::Closed);
    assert_eq!(
        pair.a().pc.ice_connection_state(),
        IceConnectionState::Closed
    );
    let before = pair.a().events.len();
    pair.run_until(Duration::from_secs(60), |_| false);
    assert_eq!(pair.a().events[before..].to_vec(), vec![]);
    assert_eq!(pair.a().pc.connection_state(), PeerConnectionState::Closed);
    assert_eq!(
        pair.a().pc.ice_connection_state(),
        IceConnectionState::Closed
    );
}

/// The DTLS transport-state changes in `events`, in order.
fn dtls_states(events: &[Event]) -> Vec<ferrtc_core::DtlsTransportState> {
    picked(events, |e| match e {
        Event::DtlsStateChange(s) => Some(*s),
        _ => None,
    })
}

/// A plaintext (epoch 0) DTLS 1.2 warning close_notify record.
fn plaintext_close_notify() -> Vec<u8> {
    vec![
        21, 0xfe, 0xfd, // alert, DTLS 1.2
        0, 0, // epoch 0
        0, 0, 0, 0, 0x03, 0xe8, // sequence number 1000
        0, 2, // length
        1, 0, // warning, close_notify
    ]
}

/// A close_notify during the DTLS handshake (the DTLS client has sent its
/// ClientHello, no keys yet) closes the transport before it was ever
/// connected: no SRTP keys, no SCTP. The connection does not report
/// `connected` for a transport whose handshake never completed: a DTLS
/// transport closed before it connected counts as failed.
#[test]
fn a_close_notify_during_the_handshake_fails_the_connection() {
    let mut pair = Pair::new(41, LinkConfig::IDEAL.with_delay(Duration::from_millis(40)));
    let now = pair.net.now();
    pair.a()
        .pc
        .create_data_channel(now, "chat", DataChannelInit::default())
        .unwrap();
    pair.negotiate();
    // Find the DTLS client while its handshake is under way with ICE up.
    let mut injected = None;
    let found = pair.run_until(Duration::from_secs(10), |p| {
        for (side, name) in [(p.a, "a"), (p.b, "b")] {
            let peer = p.net.endpoint_mut(&side);
            let ice_up = matches!(
                peer.pc.ice_connection_state(),
                IceConnectionState::Connected | IceConnectionState::Completed
            );
            if ice_up && peer.pc.dtls_state() == Some(ferrtc_dtls::TransportState::Connecting) {
                injected = Some(name);
                return true;
            }
        }
        false
    });
    assert!(found, "no side caught mid-handshake with ICE up");
    let name = injected.unwrap();
    let (me, src, dst) = if name == "a" {
        (pair.a, "10.0.0.2:5000", "10.0.0.1:5000")
    } else {
        (pair.b, "10.0.0.1:5000", "10.0.0.2:5000")
    };
    let now = pair.net.now();
    let before = pair.net.endpoint_mut(&me).events.len();
    let peer = pair.net.endpoint_mut(&me);
    peer.pc.handle_receive(
        now,
        src.parse().unwrap(),
        dst.parse().unwrap(),
        &mut plaintext_close_notify(),
    );
    pair.signal();
    let peer = pair.net.endpoint_mut(&me);
    let after = peer.events[before..].to_vec();
    let dtls = peer.pc.dtls_state();
    let state = peer.pc.connection_state();
    assert_eq!(
        dtls,
        Some(ferrtc_dtls::TransportState::Closed),
        "an epoch-0 close_notify during the handshake closes the transport"
    );
    assert_ne!(
        state,
        PeerConnectionState::Connected,
        "a handshake ended by close_notify reports `connected`"
    );
    assert!(
        !connection_states(&after).contains(&PeerConnectionState::Connected),
        "ConnectionStateChange(Connected) without a DTLS connection: {after:?}"
    );
}

/// The DTLS statechange sequence over a connection's life: connecting,
/// connected, closed at the peer's close; once each, each before the
/// connection state change it causes; nothing when ICE consent then runs
/// out.
#[test]
fn dtls_state_changes_fire_once_each_in_order_before_the_state_they_cause() {
    let mut pair = Pair::new(42, LinkConfig::IDEAL.with_delay(Duration::from_millis(5)));
    let (a_chan, _) = connect(&mut pair);
    use ferrtc_core::DtlsTransportState as D;
    for side in ["a", "b"] {
        let events = if side == "a" {
            pair.a().events.clone()
        } else {
            pair.b().events.clone()
        };
        assert_eq!(
            dtls_states(&events),
            vec![D::Connecting, D::Connected],
            "{side}"
        );
        let d = events
            .iter()
            .position(|e| *e == Event::DtlsStateChange(D::Connected))
            .unwrap();
        let c = events
            .iter()
            .position(|e| *e == Event::ConnectionStateChange(PeerConnectionState::Connected))
            .unwrap();
        assert!(d < c, "{side}: DTLS connected told after the connection's");
    }
    let before = pair.a().events.len();
    let now = pair.net.now();
    pair.b().pc.close(now);
    pair.run_until(Duration::from_secs(2), |p| {
        p.a().events.contains(&Event::ChannelClose(a_chan))
    });
    pair.run_until(Duration::from_secs(60), |p| {
        p.a().pc.connection_state() == PeerConnectionState::Failed
    });
    assert_eq!(dtls_states(&pair.a().events[before..]), vec![D::Closed]);
    // b closed itself: nothing after its close().
    let b_events = pair.b().events.clone();
    assert_eq!(dtls_states(&b_events), vec![D::Connecting, D::Connected]);
}

/// Cuts the link of both peers (all loss) until both ICE agents failed on
/// consent (RFC 7675 §5.1), then mends it.
fn fail_both_then_mend(pair: &mut Pair) {
    let cut = LinkConfig::IDEAL.with_loss(1.0);
    pair.net.set_host_link(&pair.a, cut);
    pair.net.set_host_link(&pair.b, cut);
    let failed = pair.run_until(Duration::from_secs(90), |p| {
        p.a().pc.ice_connection_state() == IceConnectionState::Failed
            && p.b().pc.ice_connection_state() == IceConnectionState::Failed
    });
    assert!(failed, "the cut link did not fail ICE on both sides");
    let mended = LinkConfig::IDEAL.with_delay(Duration::from_millis(5));
    pair.net.set_host_link(&pair.a, mended);
    pair.net.set_host_link(&pair.b, mended);
}

/// W3C webrtc-pc §4.4.1.6 `restartIce()`: a connection whose ICE failed
/// comes back with an ICE restart offered by `restarter` (new
/// credentials, checks from scratch: checking, then connected) and
/// carries data again.
fn restart_after_failure_reconnects(restarter_is_a: bool) {
    let mut pair = Pair::new(41, LinkConfig::IDEAL.with_delay(Duration::from_millis(5)));
    let (a_chan, _) = connect(&mut pair);
    fail_both_then_mend(&mut pair);
    assert_eq!(pair.a().pc.connection_state(), PeerConnectionState::Failed);
    let before_a = pair.a().events.len();
    let before_b = pair.b().events.len();
    let now = pair.net.now();
    if restarter_is_a {
        pair.a().pc.restart_ice(now).unwrap();
        pair.signal();
        pair.negotiate();
    } else {
        pair.b().pc.restart_ice(now).unwrap();
        pair.signal();
        let offer = pair.b().pc.create_offer().unwrap();
        pair.b()
            .pc
            .set_local_description(now, Some(offer.clone()))
            .unwrap();
        pair.a().pc.set_remote_description(now, offer).unwrap();
        let answer = pair.a().pc.create_answer().unwrap();
        pair.a()
            .pc
            .set_local_description(now, Some(answer.clone()))
            .unwrap();
        pair.b().pc.set_remote_description(now, answer).unwrap();
    }
    let connected = |s: IceConnectionState| {
        matches!(
            s,
            IceConnectionState::Connected | IceConnectionState::Completed
        )
    };
    let up = pair.run_until(Duration::from_secs(20), |p| {
        connected(p.a().pc.ice_connection_state()) && connected(p.b().pc.ice_connection_state())
    });
    assert!(
        up,
        "after the restart: a {:?}, b {:?}",
        pair.a().pc.ice_connection_state(),
        pair.b().pc.ice_connection_state()
    );
    let a_events = pair.a().events[before_a..].to_vec();
    let b_events = pair.b().events[before_b..].to_vec();
    for events in [a_events, b_events] {
        let states = ice_states(&events);
        assert_eq!(
            states.first(),
            Some(&IceConnectionState::Checking),
            "{states:?}"
        );
        assert!(connected(*states.last().unwrap()), "{states:?}");
    }
    let now = pair.net.now();
    pair.a().pc.send(now, a_chan, b"back again", false).unwrap();
    let n = messages(&pair.b().events).len();
    assert!(
        pair.run_until(Duration::from_secs(10), |p| messages(&p.b().events).len()
            > n)
    );
}

#[test]
fn restart_ice_as_offerer_after_failed_brings_the_connection_back() {
    restart_after_failure_reconnects(true);
}

#[test]
fn restart_ice_as_answerer_of_the_restart_after_failed_brings_the_connection_back() {
    restart_after_failure_reconnects(false);
}

/// `selectedCandidatePairChanges` of `pc`'s transport.
fn pair_changes(pc: &PeerConnection) -> u64 {
    match pc.get_stats(SystemTime::now()).first_of_type("transport") {
        Some(Stats::Transport(t)) => t.selected_candidate_pair_changes,
        _ => 0,
    }
}

/// W3C webrtc-stats `selectedCandidatePairChanges`: each ICE restart on
/// the same addresses changes the selected pair exactly once (the old
/// generation's pair for the new one's), on both sides; never twice.
#[test]
fn selected_candidate_pair_changes_is_exactly_one_per_restart() {
    let mut pair = Pair::new(16, LinkConfig::IDEAL.with_delay(Duration::from_millis(5)));
    connect(&mut pair);
    assert_eq!(pair_changes(&pair.a().pc), 1);
    assert_eq!(pair_changes(&pair.b().pc), 1);
    for round in 2..=3u64 {
        let now = pair.net.now();
        let before = ice_ids(&pair.a().pc).1;
        pair.a().pc.restart_ice(now).unwrap();
        pair.signal();
        pair.negotiate();
        pair.run_until(Duration::from_secs(5), |_| false);
        assert_ne!(ice_ids(&pair.a().pc).1, before, "round {round}");
        assert_eq!(pair_changes(&pair.a().pc), round, "a, round {round}");
        assert_eq!(pair_changes(&pair.b().pc), round, "b, round {round}");
    }
}

/// A restart offer rolled back (RFC 8829 §4.1.10.2) goes back to the
/// credentials, hence the candidates, in use: the peer saw no restart
/// and keeps its pair; the selected pair's id and the count stay.
#[test]
fn a_rolled_back_restart_offer_changes_no_pair() {
    let mut pair = Pair::new(16, LinkConfig::IDEAL.with_delay(Duration::from_millis(5)));
    connect(&mut pair);
    let before = ice_ids(&pair.a().pc).1;
    let now = pair.net.now();
    pair.a().pc.restart_ice(now).unwrap();
    let offer = pair.a().pc.create_offer().unwrap();
    pair.a().pc.set_local_description(now, Some(offer)).unwrap();
    pair.a()
        .pc
        .set_local_description(now, Some(ferrtc_core::SessionDescription::rollback()))
        .unwrap();
    // No trickling: the rolled-back generation's candidates go nowhere.
    pair.net.run_for(Duration::from_secs(5));
    assert_eq!(ice_ids(&pair.a().pc).1, before);
    assert_eq!(pair_changes(&pair.a().pc), 1);
    assert_eq!(pair_changes(&pair.b().pc), 1);
}

/// The `candidate-pair`s of `pc`'s report.
fn candidate_pairs_of(pc: &PeerConnection) -> Vec<ferrtc_core::CandidatePairStats> {
    pc.get_stats(SystemTime::now())
        .stats
        .values()
        .filter_map(|s| match s {
            Stats::CandidatePair(p) => Some(p.clone()),
            _ => None,
        })
        .collect()
}

/// W3C webrtc-stats: an object keeps its id over repeated `getStats()`
/// calls. After a restart of ours, the peer's checks of the new
/// generation reach us before its answer does (it checks as soon as it
/// has our offer): they form pairs with peer-reflexive remotes (RFC 8445
/// §7.3.1.3). Applying the answer gives the agent the peer's ufrag; the
/// pairs stay the same pairs (no remote candidate is added: the peer
/// trickles late), so their ids must not change.
#[test]
fn check_list_pairs_keep_their_ids_when_the_restart_answer_arrives() {
    let mut pair = Pair::new(16, LinkConfig::IDEAL.with_delay(Duration::from_millis(5)));
    connect(&mut pair);
    let now = pair.net.now();
    pair.a().pc.restart_ice(now).unwrap();
    let offer = pair.a().pc.create_offer().unwrap();
    pair.a()
        .pc
        .set_local_description(now, Some(offer.clone()))
        .unwrap();
    pair.b().pc.set_remote_description(now, offer).unwrap();
    let answer = pair.b().pc.create_answer().unwrap();
    pair.b()
        .pc
        .set_local_description(now, Some(answer.clone()))
        .unwrap();
    // A's candidates reach B; B's answer and candidates are late.
    for _ in 0..20 {
        let now = pair.net.now();
        let mut trickled = Vec::new();
        while let Some(ev) = pair.a().pc.poll_event() {
            if let Event::IceCandidate(c) = ev {
                trickled.push(c);
            }
        }
        for c in trickled {
            pair.b().pc.add_ice_candidate(now, &c).unwrap();
        }
        while pair.b().pc.poll_event().is_some() {}
        pair.net.run_for(Duration::from_millis(5));
    }
    let selected = ice_ids(&pair.a().pc).1;
    let before: BTreeSet<String> = candidate_pairs_of(&pair.a().pc)
        .into_iter()
        .map(|p| p.id)
        .filter(|id| Some(id) != selected.as_ref())
        .collect();
    assert!(!before.is_empty(), "B's checks formed pairs on A");
    let mut answer = answer;
    answer.sdp = answer
        .sdp
        .split_inclusive("\r\n")
        .filter(|l| !l.starts_with("a=candidate") && !l.starts_with("a=end-of-candidates"))
        .collect();
    let now = pair.net.now();
    pair.a().pc.set_remote_description(now, answer).unwrap();
    let after: BTreeSet<String> = candidate_pairs_of(&pair.a().pc)
        .into_iter()
        .map(|p| p.id)
        .filter(|id| Some(id) != selected.as_ref())
        .collect();
    assert_eq!(before, after, "the same pairs changed ids");
}
/// W3C webrtc-stats `RTCIceCandidatePairStats.packetsSent`: the packets
/// sent on this pair. After a restart, the new generation's pair on the
/// selected pair's addresses is a new object (new id) that has carried
/// nothing yet; the packets are the old pair's, reported under its id,
/// and must not be reported a second time under the new pair's.
#[test]
fn a_new_generations_pair_reports_none_of_the_old_pairs_traffic() {
    let mut pair = Pair::new(16, LinkConfig::IDEAL.with_delay(Duration::from_millis(5)));
    connect(&mut pair);
    let now = pair.net.now();
    pair.a().pc.restart_ice(now).unwrap();
    pair.signal();
    pair.negotiate();
    // B's new candidates reach A; the network does not run, so no check
    // of the new generation has been answered yet.
    pair.signal();
    let selected = ice_ids(&pair.a().pc)
        .1
        .expect("the old pair still selected");
    let pairs = candidate_pairs_of(&pair.a().pc);
    let old = pairs.iter().find(|p| p.id == selected).unwrap();
    assert!(old.packets_sent > 0, "{old:?}");
    let new: Vec<_> = pairs.iter().filter(|p| p.id != selected).collect();
    assert!(!new.is_empty(), "{pairs:?}");
    for p in new {
        assert_eq!(
            (p.packets_sent, p.bytes_sent, p.packets_received),
            (0, 0, 0),
            "a pair of the new generation ({}) reports the old pair's traffic: {p:?}",
            p.state
        );
    }
}
