//! `getStats()` (W3C webrtc-stats §5): one stats object per monitored
//! object, under an id that names it and it alone, the same on every call.

use std::time::{Instant, SystemTime};

use ferrtc_core::{Config, DataChannelInit, PeerConnection, Stats};

/// A UDP socket and a TCP listener on the same address and port (a server
/// taking ICE on port 443 both ways, say) give three local candidates: UDP
/// host, passive TCP host on that port, active TCP host. Each is its own
/// `local-candidate` object (webrtc-stats §5: an `RTCIceCandidateStats`
/// per candidate, "id" unique within the report), and the ids stay the
/// same from one `getStats()` to the next.
#[test]
fn udp_and_tcp_candidates_on_one_port_are_distinct_stats_objects_with_stable_ids() {
    let now = Instant::now();
    let mut config = Config::default();
    config.rng_seed = Some([1; 32]);
    let mut pc = PeerConnection::new(config, now, SystemTime::now()).unwrap();
    let addr = "192.0.2.10:443".parse().unwrap();
    pc.add_local_host(now, addr).unwrap();
    pc.add_local_tcp(now, addr).unwrap();
    pc.create_data_channel(now, "x", DataChannelInit::default())
        .unwrap();
    pc.set_local_description(now, None).unwrap();
    let gathered = std::iter::from_fn(|| pc.poll_event())
        .filter(|e| matches!(e, ferrtc_core::Event::IceCandidate(c) if !c.candidate.is_empty()))
        .count();
    assert_eq!(gathered, 3);

    let ids = |pc: &PeerConnection| -> Vec<String> {
        pc.get_stats(SystemTime::now())
            .stats
            .values()
            .filter(|s| matches!(s, Stats::LocalCandidate(_)))
            .map(|s| s.id().to_owned())
            .collect()
    };
    let first = ids(&pc);
    assert_eq!(
        first.len(),
        3,
        "one local-candidate per candidate: {first:?}"
    );
    assert_eq!(ids(&pc), first);
}
