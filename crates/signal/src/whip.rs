//! WHIP ingest (RFC 9725) and WHEP egress (draft-ietf-wish-whep): the
//! protocol parts, without I/O.
//!
//! The HTTP routes (`POST /whip`, `POST /whep`, `PATCH`, `DELETE` and
//! `OPTIONS` on the session resources) are in the server; what they decide
//! is decided here, so that it can be tested without a socket:
//!
//! - [`media_type_is`]: the request's `Content-Type` (`415` otherwise);
//! - [`authorize`]: the `Authorization: Bearer` token when a secret is set
//!   (`401` with `WWW-Authenticate: Bearer` otherwise);
//! - [`SdpFrag::parse`]: the `application/trickle-ice-sdpfrag` body of a
//!   `PATCH` (RFC 8840 §9), and [`SdpFrag::is_restart`] to tell an ICE
//!   restart from trickled candidates;
//! - [`WhipError::status`]: the HTTP status of every refusal.
//!
//! # Bearer tokens
//!
//! With a secret (`--secret S`), the bearer token is a WHIP/WHEP token of
//! [`crate::token`] ([`crate::token::mint_whip`]), for the role
//! `publisher` to publish ([`SessionKind::Publish`]) or `viewer` to watch
//! ([`SessionKind::View`]); its MAC has a context of its own, so a
//! WebSocket join token is never a bearer token. A viewer's token cannot
//! publish. `PATCH` and `DELETE` need the token of the session's kind too.

use crate::token::{Token, TokenError};

/// `Content-Type` of a WHIP/WHEP offer and answer (RFC 9725 §4.2).
pub const SDP: &str = "application/sdp";
/// `Content-Type` of a `PATCH` body (RFC 8840 §9.1).
pub const SDP_FRAG: &str = "application/trickle-ice-sdpfrag";
/// Most candidates one `PATCH` may carry; more is refused as malformed.
pub const MAX_FRAG_CANDIDATES: usize = 256;

/// What a session does: ingest (WHIP) or egress (WHEP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionKind {
    /// A WHIP publisher (`POST /whip`): sends media to the server.
    Publish,
    /// A WHEP viewer (`POST /whep`): receives the publisher's media.
    View,
}

impl SessionKind {
    /// The path of the endpoint and the prefix of its sessions' resources.
    pub fn path(self) -> &'static str {
        match self {
            SessionKind::Publish => "/whip",
            SessionKind::View => "/whep",
        }
    }

    /// The role a bearer token of this kind is minted for
    /// ([`crate::token::mint_whip`]).
    pub fn token_role(self) -> &'static str {
        match self {
            SessionKind::Publish => "publisher",
            SessionKind::View => "viewer",
        }
    }
}

/// A refused WHIP/WHEP request, each with its HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WhipError {
    /// The body is not of the media type the request needs (415).
    #[error("expected Content-Type {expected}")]
    UnsupportedMediaType {
        /// The media type the request needs.
        expected: &'static str,
    },
    /// The offer is empty (400).
    #[error("the request has no body")]
    EmptyBody,
    /// The body is larger than the limit (413).
    #[error("a body of more than {max} bytes")]
    TooLarge {
        /// The limit, bytes.
        max: usize,
    },
    /// The body did not arrive whole within [`BODY_TIMEOUT`] (408, RFC
    /// 9110 §15.5.9): a client that declares a length and stalls holds no
    /// connection for longer.
    #[error("the body did not arrive within {} s", BODY_TIMEOUT.as_secs())]
    BodyTimeout,
    /// The body could not be read (a malformed chunk), is not UTF-8 text,
    /// or the fragment does not parse (400).
    #[error("malformed body: {0}")]
    Malformed(&'static str),
    /// The bearer token is missing or refused (401, RFC 6750 §3).
    #[error("bearer token refused: {0}")]
    Unauthorized(TokenError),
    /// The page's origin is not in the allow-list (403).
    #[error("origin not allowed")]
    ForbiddenOrigin,
    /// WHEP without a live publisher, or no session with that id (404).
    #[error("{0}")]
    NotFound(&'static str),
    /// A second publisher while one is live (409).
    #[error("a publisher is already live")]
    PublisherLive,
    /// `If-Match` names another entity tag than the session's (412, RFC
    /// 9725 §4.3.1).
    #[error("the entity tag does not match the session's")]
    PreconditionFailed,
    /// The media side found the offer malformed (400, RFC 9725 §4.2).
    #[error("offer refused: {0}")]
    BadOffer(String),
    /// The media side cannot serve a well-formed offer: nothing it can
    /// send or receive in it, no codec in common (422 Unprocessable
    /// Content, RFC 9110 §15.5.21; not 406, which is about the response's
    /// content negotiation, and which the WHEP draft gives to an answer
    /// that is a counter-offer).
    #[error("offer not acceptable: {0}")]
    UnacceptableOffer(String),
    /// An ICE restart fragment the media side cannot serve: 422 (RFC 9725
    /// §4.3.1: a session that trickles but does not restart answers the
    /// restart `PATCH` 422 Unprocessable Content; `PATCH` itself is
    /// implemented, so not 501).
    #[error("ICE restarts are not implemented here; publish again instead")]
    RestartNotImplemented,
    /// The media side failed to answer a request for a reason of its
    /// own, not the request's (500 Internal Server Error, RFC 9110
    /// §15.6.1): which of its steps failed, for the client to report
    /// (the error's detail stays in the server's log).
    #[error("the server failed to answer: {0}")]
    Internal(String),
    /// No media side is configured, or it did not answer in time (503).
    #[error("the media side is not available")]
    Unavailable,
    /// An ICE restart of the session is already pending (409).
    #[error("an ICE restart of this session is pending")]
    RestartPending,
    /// The client sent too many `POST`s lately (429, RFC 6585 §4).
    #[error("too many requests; retry in {retry_after_secs} s")]
    TooManyRequests {
        /// Seconds until the next one is let in (`Retry-After`).
        retry_after_secs: u64,
    },
}

/// How long a request's body may take to arrive.
pub const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl WhipError {
    /// The HTTP status code of this refusal.
    pub fn status(&self) -> u16 {
        match self {
            WhipError::UnsupportedMediaType { .. } => 415,
            WhipError::EmptyBody | WhipError::Malformed(_) | WhipError::BadOffer(_) => 400,
            WhipError::TooLarge { .. } => 413,
            WhipError::BodyTimeout => 408,
            WhipError::Unauthorized(_) => 401,
            WhipError::ForbiddenOrigin => 403,
            WhipError::NotFound(_) => 404,
            WhipError::PublisherLive | WhipError::RestartPending => 409,
            WhipError::TooManyRequests { .. } => 429,
            WhipError::PreconditionFailed => 412,
            WhipError::RestartNotImplemented | WhipError::UnacceptableOffer(_) => 422,
            WhipError::Internal(_) => 500,
            WhipError::Unavailable => 503,
        }
    }
}

/// Whether the `Content-Type` header value names `expected`, parameters
/// (`; charset=..`) and case aside (RFC 9110 §8.3.1).
pub fn media_type_is(header: Option<&str>, expected: &str) -> bool {
    header.is_some_and(|value| {
        let essence = value.split(';').next().unwrap_or("").trim();
        essence.eq_ignore_ascii_case(expected)
    })
}

/// Checks the `Authorization` header of a request for a session of `kind`:
/// without a secret anything passes; with one, `Bearer TOKEN` must carry a
/// WHIP/WHEP token of [`crate::token`] for the kind's role, unexpired at
/// `now` (Unix seconds).
pub fn authorize(
    header: Option<&str>,
    secret: Option<&[u8]>,
    kind: SessionKind,
    now: u64,
) -> Result<(), WhipError> {
    let Some(secret) = secret else {
        return Ok(());
    };
    let header = header.ok_or(WhipError::Unauthorized(TokenError::Missing))?;
    // RFC 6750 §2.1: `Bearer` (case-insensitive scheme), one space, token.
    let (scheme, token) = header
        .trim()
        .split_once(' ')
        .ok_or(WhipError::Unauthorized(TokenError::Missing))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(WhipError::Unauthorized(TokenError::Missing));
    }
    Token::parse(token.trim())
        .and_then(|t| t.verify_whip(secret, kind, now))
        .map_err(WhipError::Unauthorized)
}

/// Checks `If-Match` of a `PATCH` against the session's entity tag: `*`
/// passes (RFC 9110 §13.1.1), otherwise one of the listed tags must be the
/// session's. An absent one passes too: RFC 9725 §4.3.1 has clients send
/// it, but WHIP clients that trickle without it exist, and refusing their
/// candidates (428) would only break their sessions; a tag that is there
/// and stale still fails (412).
pub fn if_match(header: Option<&str>, etag: &str) -> Result<(), WhipError> {
    match header.map(str::trim) {
        None | Some("*") => Ok(()),
        Some(list) if list.split(',').any(|t| t.trim() == etag) => Ok(()),
        Some(_) => Err(WhipError::PreconditionFailed),
    }
}

/// A trickled candidate of a fragment, in the form of W3C
/// `RTCIceCandidateInit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FragCandidate {
    /// `candidate:...` (the attribute without `a=`).
    pub candidate: String,
    /// `a=mid` of its media section, if the fragment has one.
    pub sdp_mid: Option<String>,
    /// Index of its media section in the fragment (0 for candidates before
    /// any `m=` line).
    pub sdp_m_line_index: u16,
    /// The fragment's `a=ice-ufrag`, if any.
    pub username_fragment: Option<String>,
}

/// An `application/trickle-ice-sdpfrag` body (RFC 8840 §9): ICE
/// credentials, candidates by media section, end of candidates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SdpFrag {
    /// `a=ice-ufrag` (session or media level; the last one wins).
    pub ice_ufrag: Option<String>,
    /// `a=ice-pwd`.
    pub ice_pwd: Option<String>,
    /// The candidates, in order.
    pub candidates: Vec<FragCandidate>,
    /// `a=end-of-candidates` was present.
    pub end_of_candidates: bool,
}

impl SdpFrag {
    /// Parses a fragment; never panics. Lines are `x=value` (CRLF or LF);
    /// attributes other than ICE's are ignored.
    pub fn parse(text: &str) -> Result<SdpFrag, WhipError> {
        let mut frag = SdpFrag::default();
        let mut m_line_index: Option<u16> = None;
        let mut mid: Option<String> = None;
        for line in text.lines().map(|l| l.trim_end_matches('\r')) {
            if line.is_empty() {
                continue;
            }
            let (key, value) = line
                .split_once('=')
                .filter(|(k, _)| k.len() == 1)
                .ok_or(WhipError::Malformed("a line that is not x=value"))?;
            match key {
                "m" => {
                    m_line_index = Some(match m_line_index {
                        None => 0,
                        Some(i) => i
                            .checked_add(1)
                            .ok_or(WhipError::Malformed("too many m= lines"))?,
                    });
                    mid = None;
                }
                "a" => {
                    let (name, attr) = value.split_once(':').unwrap_or((value, ""));
                    match name {
                        "ice-ufrag" => frag.ice_ufrag = Some(attr.to_owned()),
                        "ice-pwd" => frag.ice_pwd = Some(attr.to_owned()),
                        "mid" => mid = Some(attr.to_owned()),
                        "end-of-candidates" => frag.end_of_candidates = true,
                        "candidate" => {
                            if attr.is_empty() {
                                return Err(WhipError::Malformed("an empty candidate"));
                            }
                            if frag.candidates.len() >= MAX_FRAG_CANDIDATES {
                                return Err(WhipError::Malformed("too many candidates"));
                            }
                            frag.candidates.push(FragCandidate {
                                candidate: value.to_owned(),
                                sdp_mid: mid.clone(),
                                sdp_m_line_index: m_line_index.unwrap_or(0),
                                username_fragment: None,
                            });
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        for c in &mut frag.candidates {
            c.username_fragment.clone_from(&frag.ice_ufrag);
        }
        Ok(frag)
    }

    /// Whether this fragment asks for an ICE restart (RFC 9725 §4.3.2): it
    /// carries ICE credentials other than the session's (`current_ufrag`,
    /// the offer's `a=ice-ufrag`).
    pub fn is_restart(&self, current_ufrag: Option<&str>) -> bool {
        match (&self.ice_ufrag, current_ufrag) {
            (Some(new), Some(current)) => new != current,
            (Some(_), None) => false,
            (None, _) => false,
        }
    }
}

/// The first `a=ice-ufrag` of an SDP (the offer's ICE credentials; with
/// BUNDLE every section has the same).
pub fn sdp_ice_ufrag(sdp: &str) -> Option<&str> {
    sdp.lines()
        .map(|l| l.trim_end_matches('\r'))
        .find_map(|l| l.strip_prefix("a=ice-ufrag:"))
}

/// A fresh session id: 32 lowercase hex digits from the system's CSPRNG.
pub fn new_session_id() -> String {
    random_hex::<16>()
}

/// A fresh entity tag, quoted (RFC 9110 §8.8.3).
pub fn new_etag() -> String {
    format!("\"{}\"", random_hex::<8>())
}

fn random_hex<const N: usize>() -> String {
    let mut bytes = [0u8; N];
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        // The CSPRNG does not fail on supported systems; the time is a
        // last resort that still gives distinct ids in one process.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        for (b, n) in bytes.iter_mut().zip(nanos.to_le_bytes().iter().cycle()) {
            *b = *n;
        }
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `id` has the shape of a session id (so that a path never
/// reaches the session table with arbitrary text).
pub fn is_session_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::{mint, mint_whip};

    #[test]
    fn content_type_ignores_parameters_and_case() {
        assert!(media_type_is(Some("application/sdp"), SDP));
        assert!(media_type_is(Some("Application/SDP; charset=utf-8"), SDP));
        assert!(!media_type_is(Some("text/plain"), SDP));
        assert!(!media_type_is(Some("application/sdpx"), SDP));
        assert!(!media_type_is(None, SDP));
    }

    #[test]
    fn without_a_secret_any_request_is_authorized() {
        assert_eq!(authorize(None, None, SessionKind::Publish, 0), Ok(()));
        assert_eq!(
            authorize(Some("Bearer junk"), None, SessionKind::View, 0),
            Ok(())
        );
    }

    #[test]
    fn with_a_secret_the_bearer_token_must_be_minted_for_the_kind() {
        let secret = b"s".as_slice();
        let now = 1_000;
        let publish = mint_whip(secret, SessionKind::Publish, now + 60);
        let view = mint_whip(secret, SessionKind::View, now + 60);
        let check = |h: Option<&str>, kind| authorize(h, Some(secret), kind, now);
        assert_eq!(
            check(Some(&format!("Bearer {publish}")), SessionKind::Publish),
            Ok(())
        );
        assert_eq!(
            check(Some(&format!("bearer {view}")), SessionKind::View),
            Ok(())
        );
        assert_eq!(
            check(Some(&format!("Bearer {view}")), SessionKind::Publish),
            Err(WhipError::Unauthorized(TokenError::BadSignature))
        );
        assert_eq!(
            check(None, SessionKind::Publish),
            Err(WhipError::Unauthorized(TokenError::Missing))
        );
        assert_eq!(
            check(Some(&format!("Basic {publish}")), SessionKind::Publish),
            Err(WhipError::Unauthorized(TokenError::Missing))
        );
        let expired = mint_whip(secret, SessionKind::Publish, now - 1);
        assert_eq!(
            check(Some(&format!("Bearer {expired}")), SessionKind::Publish),
            Err(WhipError::Unauthorized(TokenError::Expired))
        );
    }

    #[test]
    fn a_websocket_join_token_is_never_a_bearer_token() {
        let secret = b"s".as_slice();
        let now = 1_000;
        for (room, name, kind) in [
            ("whip", "publisher", SessionKind::Publish),
            ("whep", "viewer", SessionKind::View),
        ] {
            let join = mint(secret, room, name, now + 60);
            assert_eq!(
                authorize(Some(&format!("Bearer {join}")), Some(secret), kind, now),
                Err(WhipError::Unauthorized(TokenError::BadSignature)),
                "a join token for room {room} name {name}"
            );
            // Nor is a bearer token a join token.
            let bearer = Token::parse(&mint_whip(secret, kind, now + 60)).unwrap();
            assert_eq!(
                bearer.verify(secret, room, name, now),
                Err(TokenError::BadSignature)
            );
        }
    }

    #[test]
    fn every_refusal_has_the_status_the_rfc_names() {
        let cases = [
            (WhipError::UnsupportedMediaType { expected: SDP }, 415),
            (WhipError::EmptyBody, 400),
            (WhipError::TooLarge { max: 1 }, 413),
            (WhipError::Unauthorized(TokenError::Missing), 401),
            (WhipError::NotFound("no publisher"), 404),
            (WhipError::PublisherLive, 409),
            (WhipError::RestartPending, 409),
            (
                WhipError::TooManyRequests {
                    retry_after_secs: 1,
                },
                429,
            ),
            (WhipError::PreconditionFailed, 412),
            (WhipError::RestartNotImplemented, 422),
            (WhipError::BadOffer("does not parse".into()), 400),
            (
                WhipError::UnacceptableOffer("no codec in common".into()),
                422,
            ),
            (WhipError::Internal("add_transceiver failed".into()), 500),
            (WhipError::Unavailable, 503),
        ];
        for (error, status) in cases {
            assert_eq!(error.status(), status, "{error}");
        }
    }

    #[test]
    fn if_match_accepts_absent_star_and_the_sessions_tag_only() {
        let etag = "\"abc\"";
        assert_eq!(if_match(None, etag), Ok(()));
        assert_eq!(if_match(Some("*"), etag), Ok(()));
        assert_eq!(if_match(Some("\"x\", \"abc\""), etag), Ok(()));
        assert_eq!(
            if_match(Some("\"x\""), etag),
            Err(WhipError::PreconditionFailed)
        );
    }

    const FRAG: &str = "a=ice-ufrag:EsAw\r\n\
        a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r\n\
        a=group:BUNDLE 0 1\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n\
        a=mid:0\r\n\
        a=candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0\r\n\
        a=candidate:3471623853 1 udp 2122194687 198.51.100.2 61765 typ host generation 0\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 96\r\n\
        a=mid:1\r\n\
        a=candidate:473322822 1 tcp 1518280447 192.0.2.1 9 typ host tcptype active\r\n\
        a=end-of-candidates\r\n";

    #[test]
    fn a_fragment_gives_its_candidates_by_media_section() {
        let frag = SdpFrag::parse(FRAG).unwrap();
        assert_eq!(frag.ice_ufrag.as_deref(), Some("EsAw"));
        assert_eq!(frag.ice_pwd.as_deref(), Some("P2uYro0UCOQ4zxjKXaWCBui1"));
        assert!(frag.end_of_candidates);
        let where_: Vec<_> = frag
            .candidates
            .iter()
            .map(|c| (c.sdp_mid.as_deref(), c.sdp_m_line_index))
            .collect();
        assert_eq!(
            where_,
            [(Some("0"), 0), (Some("0"), 0), (Some("1"), 1)],
            "candidates keep their section"
        );
        assert!(
            frag.candidates[0]
                .candidate
                .starts_with("candidate:1387637174 1 udp")
        );
        assert_eq!(
            frag.candidates[2].username_fragment.as_deref(),
            Some("EsAw")
        );
    }

    #[test]
    fn new_credentials_in_a_fragment_mean_an_ice_restart() {
        let frag = SdpFrag::parse(FRAG).unwrap();
        assert!(!frag.is_restart(Some("EsAw")), "same ufrag: trickle");
        assert!(frag.is_restart(Some("old1")), "other ufrag: restart");
        let bare = SdpFrag::parse("a=candidate:1 1 udp 1 192.0.2.1 9 typ host\n").unwrap();
        assert!(!bare.is_restart(Some("EsAw")), "no ufrag: trickle");
        assert_eq!(bare.candidates[0].sdp_m_line_index, 0);
    }

    #[test]
    fn hostile_fragments_are_refused_not_panicked_on() {
        for bad in [
            "not a line",
            "ab=cd",
            "a=candidate:",
            "\u{0}=x\nx",
            "=novalue",
        ] {
            assert!(SdpFrag::parse(bad).is_err(), "{bad:?}");
        }
        let many = "a=candidate:1 1 udp 1 192.0.2.1 9 typ host\n".repeat(MAX_FRAG_CANDIDATES + 1);
        assert_eq!(
            SdpFrag::parse(&many),
            Err(WhipError::Malformed("too many candidates"))
        );
        assert_eq!(SdpFrag::parse("").unwrap(), SdpFrag::default());
    }

    #[test]
    fn the_offers_ufrag_is_its_first_ice_ufrag_line() {
        let sdp = "v=0\r\nm=audio 9 X 0\r\na=ice-ufrag:abcd\r\na=ice-pwd:p\r\n";
        assert_eq!(sdp_ice_ufrag(sdp), Some("abcd"));
        assert_eq!(sdp_ice_ufrag("v=0\r\n"), None);
    }

    #[test]
    fn session_ids_are_32_hex_digits_and_distinct() {
        let a = new_session_id();
        let b = new_session_id();
        assert!(is_session_id(&a) && is_session_id(&b));
        assert_ne!(a, b);
        assert!(!is_session_id("../etc"));
        let etag = new_etag();
        assert!(etag.starts_with('"') && etag.ends_with('"') && etag.len() == 18);
    }
}
