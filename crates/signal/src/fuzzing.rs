//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`).

use crate::{ClientMessage, ServerMessage, Signal};

/// Parses `data` with every JSON parser of the signaling protocol: a
/// client's WebSocket frame ([`ClientMessage::parse`]), a server's
/// ([`ServerMessage::parse`]) and a bare payload line as `ferrtc peer` reads
/// it ([`Signal::parse`]). None may panic; whatever parses must write back
/// to JSON that parses to the same message. Returns how many parsed.
pub fn parse_json(data: &[u8]) -> usize {
    let Ok(text) = std::str::from_utf8(data) else {
        return 0;
    };
    let mut parsed = 0;
    if let Ok(m) = ClientMessage::parse(text) {
        assert_eq!(ClientMessage::parse(&m.to_json()).as_ref(), Ok(&m));
        parsed += 1;
    }
    if let Ok(m) = ServerMessage::parse(text) {
        assert_eq!(ServerMessage::parse(&m.to_json()).as_ref(), Ok(&m));
        parsed += 1;
    }
    if let Ok(s) = Signal::parse(text) {
        assert_eq!(Signal::parse(&s.to_json()).as_ref(), Ok(&s));
        parsed += 1;
    }
    parsed
}

/// Parses `data` as a WHIP/WHEP `PATCH` body
/// ([`crate::whip::SdpFrag::parse`]) and its bearer check
/// ([`crate::whip::authorize`]) as an `Authorization` header. Neither may
/// panic; a parsed fragment keeps at most
/// [`crate::whip::MAX_FRAG_CANDIDATES`] candidates, each `candidate:...`.
/// Returns the number of candidates parsed.
pub fn parse_whip(data: &[u8]) -> usize {
    use crate::whip::{MAX_FRAG_CANDIDATES, SdpFrag, SessionKind, authorize};
    let Ok(text) = std::str::from_utf8(data) else {
        return 0;
    };
    let _ = authorize(Some(text), Some(b"s"), SessionKind::Publish, 0);
    let Ok(frag) = SdpFrag::parse(text) else {
        return 0;
    };
    assert!(frag.candidates.len() <= MAX_FRAG_CANDIDATES);
    assert!(
        frag.candidates
            .iter()
            .all(|c| c.candidate.starts_with("candidate:"))
    );
    let _ = frag.is_restart(Some("x"));
    frag.candidates.len()
}

#[cfg(test)]
mod tests {
    use super::{parse_json, parse_whip};

    #[test]
    fn the_whip_fragment_parser_counts_candidates_and_survives_junk() {
        assert_eq!(
            parse_whip(b"a=candidate:1 1 udp 1 192.0.2.1 9 typ host\r\n"),
            1
        );
        assert_eq!(parse_whip(b"\xff\xfe"), 0);
        assert_eq!(parse_whip(b"m=\nm=\na=candidate:x\na=mid:\n"), 1);
        assert_eq!(parse_whip(&[b'='; 10_000]), 0);
    }

    #[test]
    fn every_parser_round_trips_what_it_accepts() {
        // A signal with `target` and `from` is all three messages at once.
        let both = br#"{"type":"candidate","target":"b","from":"a","candidate":"candidate:1 1 udp 1 ::1 9 typ host","sdpMid":"0","sdpMLineIndex":0}"#;
        assert_eq!(parse_json(both), 3);
        assert_eq!(parse_json(br#"{"type":"join","name":"alice"}"#), 1);
        assert_eq!(parse_json(br#"{"type":"error","code":7,"message":"m"}"#), 1);
        assert_eq!(parse_json(br#"{"type":"bye"}"#), 1);
        assert_eq!(parse_json(b"{\"type\":\xff}"), 0);
        assert_eq!(parse_json(&[b'['; 100_000]), 0);
    }
}
