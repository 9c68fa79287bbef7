//! ferrtc-ice against aioice (Python, the ICE of aiortc) over real UDP on
//! loopback, in both roles: connectivity checks, nomination, and datagrams
//! both ways on the selected pair. Signaling is JSON lines over the child's
//! stdin/stdout (scripts/ice_aioice.py).
//!
//! Runs only with FERRTC_INTEROP=1; then a missing Python or aioice fails.
#![allow(missing_docs)]

use std::time::Duration;

use ferrtc_ice::{AgentConfig, Candidate, ConnectionState, Event, GatheringState};
use ferrtc_interop::{IceSocket, LinePeer, interop_enabled, python, script};
use serde_json::{Value, json};

const LIMIT: Duration = Duration::from_secs(20);

fn field<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("no {key} in {v}"))
}

fn connects_to_aioice(we_control: bool) {
    if !interop_enabled() {
        return;
    }
    let role = if we_control {
        "controlled"
    } else {
        "controlling"
    };
    let script = script("ice_aioice.py");
    let mut peer = LinePeer::spawn(&python(), &[script.to_str().unwrap(), role]);
    let mut ice = IceSocket::bind(AgentConfig {
        controlling: we_control,
        seed: Some(7),
        ..Default::default()
    })
    .expect("bind 127.0.0.1");

    // aioice's credentials and candidates.
    let mut remote_candidates = 0;
    loop {
        let line = peer
            .recv_line(LIMIT)
            .expect("aioice did not signal (is aioice installed in the venv?)");
        let msg: Value = serde_json::from_str(&line).expect("JSON line");
        match field(&msg, "type") {
            "credentials" => ice
                .agent
                .set_remote_credentials(field(&msg, "ufrag"), field(&msg, "pwd"))
                .expect("aioice credentials"),
            "candidate" => {
                let c: Candidate = field(&msg, "candidate").parse().expect("aioice candidate");
                ice.agent.add_remote_candidate(c).expect("usable candidate");
                remote_candidates += 1;
            }
            "end-of-candidates" => {
                ice.agent.end_of_remote_candidates();
                break;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(remote_candidates > 0);

    // Ours: credentials, then candidates as they are gathered, then the end.
    let creds = ice.agent.local_credentials().clone();
    peer.send_line(
        &json!({"type": "credentials", "ufrag": creds.ufrag(), "pwd": creds.pwd()}).to_string(),
    );
    let gathered = ice.run_until(LIMIT, |s| {
        s.agent.gathering_state() == GatheringState::Complete
    });
    assert!(gathered);
    for e in &ice.events {
        if let Event::LocalCandidate(c) = e {
            peer.send_line(&json!({"type": "candidate", "candidate": c.to_string()}).to_string());
        }
    }
    peer.send_line(&json!({"type": "end-of-candidates"}).to_string());

    // Checks and nomination.
    let mut lines = Vec::new();
    let connected = ice.run_until(LIMIT, |s| {
        while let Some(l) = peer.try_recv_line() {
            lines.push(l);
        }
        matches!(
            s.agent.connection_state(),
            ConnectionState::Connected | ConnectionState::Completed
        ) && lines.iter().any(|l| l.contains("\"connected\""))
    });
    assert!(
        connected,
        "not connected: {:?} {:?}; aioice said {lines:?}",
        ice.events,
        ice.agent.stats()
    );
    let selected = ice.agent.selected_pair().expect("selected pair").clone();
    assert_eq!(selected.source, ice.local);
    assert_eq!(ice.agent.is_controlling(), we_control);

    // Data both ways on the selected pair.
    ice.send(b"ping from ferrtc").expect("send");
    let got = ice.run_until(LIMIT, |s| {
        while let Some(l) = peer.try_recv_line() {
            lines.push(l);
        }
        let texts: Vec<&[u8]> = s.received.iter().map(Vec::as_slice).collect();
        texts.contains(&&b"hello from aioice"[..])
            && texts.contains(&&b"echo:ping from ferrtc"[..])
            && lines.iter().any(|l| l.contains("ping from ferrtc"))
    });
    assert!(got, "received {:?}; aioice said {lines:?}", ice.received);
    assert_eq!(ice.agent.stats().dropped_unvalidated, 0);
    peer.send_line(&json!({"type": "bye"}).to_string());
}

#[test]
fn ferrtc_controlling_connects_to_aioice_and_exchanges_datagrams() {
    connects_to_aioice(true);
}

#[test]
fn ferrtc_controlled_connects_to_aioice_and_exchanges_datagrams() {
    connects_to_aioice(false);
}
