//! Every candidate line captured from real browsers and stacks parses and is
//! written back byte for byte (fixtures copied from Chromium 156 and aiortc 1.16).

use ferrtc_ice::{Candidate, CandidateType, Transport};
use proptest::prelude::*;

const SDP_LINES: &str = include_str!("fixtures/sdp-candidate-lines.txt");
const CHROMIUM_TRICKLE: &str = include_str!("fixtures/chromium-156-candidates.jsonl");

/// The `"candidate": "..."` string of one RTCIceCandidateInit JSON line.
/// (The fixture strings contain no escapes, which the test checks.)
fn candidate_field(json: &str) -> &str {
    let key = "\"candidate\": \"";
    let start = json.find(key).expect("candidate key") + key.len();
    let len = json[start..].find('"').expect("closing quote");
    let value = &json[start..start + len];
    assert!(!value.contains('\\'), "unexpected escape in {json}");
    value
}

#[test]
fn every_sdp_candidate_line_round_trips_byte_identical() {
    let mut count = 0;
    for line in SDP_LINES.lines() {
        let value = line.strip_prefix("a=").expect("a= line");
        let c: Candidate = value.parse().unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(format!("a={c}"), line);
        count += 1;
    }
    assert_eq!(count, 36);
}

#[test]
fn every_trickled_chromium_candidate_round_trips_byte_identical() {
    let mut kinds = Vec::new();
    for json in CHROMIUM_TRICKLE.lines() {
        let value = candidate_field(json);
        let c: Candidate = value.parse().unwrap_or_else(|e| panic!("{value}: {e}"));
        assert_eq!(c.to_string(), value);
        assert_eq!(c.ufrag(), Some("YmP6"));
        kinds.push((c.kind(), c.transport()));
    }
    assert_eq!(kinds.len(), 4);
    assert!(kinds.iter().all(|(k, _)| *k == CandidateType::Host));
    assert_eq!(
        kinds
            .iter()
            .filter(|(_, t)| matches!(t, Transport::Tcp(_)))
            .count(),
        2
    );
}

#[test]
fn lines_without_the_prefix_parse_to_the_same_candidate() {
    for line in SDP_LINES.lines() {
        let with: Candidate = line["a=".len()..].parse().unwrap();
        let without: Candidate = line["a=candidate:".len()..].parse().unwrap();
        assert_eq!(with, without);
    }
}

proptest! {
    #[test]
    fn parsing_arbitrary_text_never_panics(s in "\\PC{0,200}") {
        let _ = s.parse::<Candidate>();
    }

    #[test]
    fn whatever_parses_is_written_back_to_the_same_candidate(
        s in "(candidate:)?[a-z0-9+/]{1,4}  ?[0-9]{1,3} (udp|UDP|tcp|Tcp) [0-9]{1,11} \
              ([0-9.]{7,15}|[a-f0-9:]{2,20}|[a-zA-Z0-9._-]{1,20}) [0-9]{1,6} typ (host|srflx|prflx|relay)\
              ( (raddr|rport|tcptype|generation|ufrag|network-id|network-cost|x-ext) [!-~]{1,8}){0,5}"
    ) {
        if let Ok(c) = s.parse::<Candidate>() {
            let written = c.to_string();
            let again: Candidate = written.parse().unwrap();
            prop_assert_eq!(again, c);
        }
    }

    #[test]
    fn parsed_candidates_survive_write_and_parse(
        foundation in "[a-zA-Z0-9+/]{1,32}",
        component in 1u16..=256,
        priority: u32,
        ip: std::net::IpAddr,
        port: u16,
        kind in 0usize..4,
        related: Option<(std::net::Ipv4Addr, u16)>,
        generation: Option<u32>,
        ext in proptest::collection::vec(("[a-z][a-z-]{0,8}x", "[!-~]{1,8}"), 0..4),
    ) {
        let typ = ["host", "srflx", "prflx", "relay"][kind];
        let mut line = format!("candidate:{foundation} {component} udp {priority} {ip} {port} typ {typ}");
        if let Some((a, p)) = related {
            line += &format!(" raddr {a} rport {p}");
        }
        if let Some(g) = generation {
            line += &format!(" generation {g}");
        }
        for (n, v) in &ext {
            line += &format!(" {n} {v}");
        }
        let c: Candidate = line.parse().unwrap();
        prop_assert_eq!(c.to_string(), line);
    }
}
