//! ferrtc-ice gathers a server-reflexive candidate from coturn
//! (`turnserver --stun-only`) on 127.0.0.1. With no NAT in between, the
//! reflexive address is the socket's own, related to it by raddr/rport.
//!
//! Runs only with FERRTC_INTEROP=1; then a missing `turnserver` fails.
#![allow(missing_docs)]

use std::time::Duration;

use ferrtc_ice::{AgentConfig, CandidateType, Event, GatheringState};
use ferrtc_interop::{Coturn, IceSocket, interop_enabled};

#[test]
fn gathers_a_server_reflexive_candidate_from_coturn() {
    if !interop_enabled() {
        return;
    }
    let coturn = Coturn::start_stun_only();
    let mut ice = IceSocket::bind(AgentConfig {
        seed: Some(3),
        ..Default::default()
    })
    .expect("bind 127.0.0.1");
    ice.agent.add_stun_server(coturn.addr).expect("stun server");
    let done = ice.run_until(Duration::from_secs(20), |s| {
        s.agent.gathering_state() == GatheringState::Complete
    });
    assert!(done, "gathering did not complete: {:?}", ice.events);
    let srflx: Vec<_> = ice
        .events
        .iter()
        .filter_map(|e| match e {
            Event::LocalCandidate(c) if c.kind() == CandidateType::ServerReflexive => Some(c),
            _ => None,
        })
        .collect();
    assert_eq!(srflx.len(), 1, "events: {:?}", ice.events);
    let c = srflx[0];
    assert_eq!(c.socket_addr(), Some(ice.local));
    let (raddr, rport) = c.related_address().expect("raddr/rport");
    assert_eq!(raddr.ip(), Some(ice.local.ip()));
    assert_eq!(rport, ice.local.port());
    let line = c.to_string();
    assert!(
        line.contains(&format!(
            " typ srflx raddr 127.0.0.1 rport {}",
            ice.local.port()
        )),
        "{line}"
    );
    drop(coturn);
}
