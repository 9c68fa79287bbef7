//! The WHIP/WHEP routes over real HTTP/1.1 on loopback, with a fake media
//! side: the statuses, headers and the requests that reach the media seam.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use ferrtc_signal::whip::SessionKind;
use ferrtc_signal::{
    MediaHandle, MediaRefusal, MediaRequest, SessionEnder, SignalConfig, media_port, serve,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(10);
const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
    m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdefghijkl\r\n";

/// A response: status, headers (lower-case names), body.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: HashMap<String, String>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// A minimal HTTP/1.1 client: one request per connection.
async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut raw))
        .await
        .expect("a response in time")
        .unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines.next().unwrap()[9..12].parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// What the fake media side saw.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Open(SessionKind),
    Trickle(String, usize, bool),
    Restart(String, String),
    Close(String),
}

/// A fake media side: one publisher at a time (409 for a second), WHEP
/// only while one is live (404 otherwise), answers "answer <kind>".
fn fake_media(mut media: MediaHandle) -> mpsc::UnboundedReceiver<Seen> {
    let (seen_tx, seen) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut publisher: Option<String> = None;
        while let Some(request) = media.recv().await {
            match request {
                MediaRequest::Open {
                    id,
                    kind,
                    offer,
                    reply,
                } => {
                    let _ = seen_tx.send(Seen::Open(kind));
                    match kind {
                        _ if !offer.starts_with("v=0") => {
                            reply.refuse(MediaRefusal::BadOffer("not SDP".into()));
                        }
                        _ if offer.contains("\na=x-fail-here") => {
                            reply.refuse(MediaRefusal::Internal(
                                "set_codec_preferences failed".into(),
                            ));
                        }
                        _ if !offer.contains("\nm=") => {
                            reply.refuse(MediaRefusal::Unacceptable("no media section".into()));
                        }
                        SessionKind::Publish if publisher.is_some() => {
                            reply.refuse(MediaRefusal::PublisherLive);
                        }
                        SessionKind::View if publisher.is_none() => {
                            reply.refuse(MediaRefusal::NoPublisher);
                        }
                        SessionKind::Publish => {
                            publisher = Some(id);
                            reply.answer("v=0\r\nanswer publish\r\n".into());
                        }
                        SessionKind::View => reply.answer("v=0\r\nanswer view\r\n".into()),
                    }
                }
                MediaRequest::Trickle {
                    id,
                    candidates,
                    end_of_candidates,
                } => {
                    let _ = seen_tx.send(Seen::Trickle(id, candidates.len(), end_of_candidates));
                }
                MediaRequest::Restart {
                    id,
                    ice_ufrag,
                    reply,
                    ..
                } => {
                    if ice_ufrag == "nope" {
                        reply.refuse(MediaRefusal::RestartUnsupported);
                    } else if ice_ufrag == "gone" {
                        reply.refuse(MediaRefusal::NoSession);
                    } else if ice_ufrag.starts_with("slow") {
                        // Answered later: another PATCH meanwhile.
                        let seen_tx = seen_tx.clone();
                        tokio::spawn(async move {
                            tokio::time::sleep(Duration::from_millis(300)).await;
                            reply.answer(format!("a=ice-ufrag:srv{ice_ufrag}\r\n"));
                            let _ = seen_tx.send(Seen::Restart(id, ice_ufrag));
                        });
                    } else {
                        reply.answer(
                            "a=ice-ufrag:srv2\r\na=ice-pwd:0123456789abcdefghijkl\r\n".into(),
                        );
                        let _ = seen_tx.send(Seen::Restart(id, ice_ufrag));
                    }
                }
                MediaRequest::Close { id } => {
                    if publisher.as_ref() == Some(&id) {
                        publisher = None;
                    }
                    let _ = seen_tx.send(Seen::Close(id));
                }
                _ => {}
            }
        }
    });
    seen
}

async fn start(secret: Option<&str>) -> (SocketAddr, mpsc::UnboundedReceiver<Seen>) {
    let (port, media) = media_port(16);
    let mut config = SignalConfig::default().with_media(port);
    config.secret = secret.map(|s| s.as_bytes().to_vec());
    config.max_message_bytes = 4096;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, config));
    (addr, fake_media(media))
}

const SDP: (&str, &str) = ("Content-Type", "application/sdp");
const FRAG: (&str, &str) = ("Content-Type", "application/trickle-ice-sdpfrag");

async fn publish(addr: SocketAddr) -> Reply {
    request(addr, "POST", "/whip", &[SDP], OFFER).await
}

#[tokio::test]
async fn a_whip_offer_gets_201_with_the_answer_a_location_and_an_etag() {
    let (addr, mut seen) = start(None).await;
    let reply = publish(addr).await;
    assert_eq!(reply.status, 201, "{reply:?}");
    assert_eq!(reply.body, "v=0\r\nanswer publish\r\n");
    assert_eq!(reply.header("content-type"), Some("application/sdp"));
    let location = reply.header("location").unwrap();
    assert!(
        location.starts_with("/whip/") && location.len() == 6 + 32,
        "{location}"
    );
    assert!(reply.header("etag").is_some_and(|e| e.starts_with('"')));
    assert_eq!(
        reply.header("accept-patch"),
        Some("application/trickle-ice-sdpfrag")
    );
    assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
    assert_eq!(seen.recv().await, Some(Seen::Open(SessionKind::Publish)));
}

#[tokio::test]
async fn wrong_content_type_is_415_and_an_empty_body_400_and_a_huge_one_413() {
    let (addr, _seen) = start(None).await;
    let text = ("Content-Type", "text/plain");
    assert_eq!(
        request(addr, "POST", "/whip", &[text], OFFER).await.status,
        415
    );
    assert_eq!(request(addr, "POST", "/whep", &[], OFFER).await.status, 415);
    assert_eq!(request(addr, "POST", "/whip", &[SDP], "").await.status, 400);
    assert_eq!(
        request(addr, "POST", "/whip", &[SDP], " \r\n").await.status,
        400
    );
    let huge = "a".repeat(5000);
    assert_eq!(
        request(addr, "POST", "/whip", &[SDP], &huge).await.status,
        413
    );
    let refused = request(addr, "POST", "/whip", &[SDP], "hello").await;
    assert_eq!(refused.status, 400, "the media side refused the offer");
    assert!(refused.body.contains("not SDP"), "{}", refused.body);
}

/// A media side that fails to answer for a reason of its own (a call on
/// the session's connection failed), not the offer's, is 500 Internal
/// Server Error (RFC 9110 §15.6.1), not 400: the client's offer was fine.
/// The session leaves no trace.
#[tokio::test]
async fn a_media_side_failure_of_its_own_is_500_not_400() {
    let (addr, _seen) = start(None).await;
    let offer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
                 m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=x-fail-here\r\n";
    for endpoint in ["/whip", "/whep"] {
        let failed = request(addr, "POST", endpoint, &[SDP], offer).await;
        assert_eq!(failed.status, 500, "{endpoint}: {}", failed.body);
        assert!(
            failed.body.contains("set_codec_preferences failed"),
            "{}",
            failed.body
        );
        assert!(failed.header("location").is_none(), "{endpoint}");
    }
    assert_eq!(publish(addr).await.status, 201);
}

/// RFC 9725 §4.2: a malformed offer is refused with a 4xx; ferrtc tells
/// the two kinds apart: SDP that does not parse is 400 Bad Request, a
/// well-formed offer the media side cannot serve (here: no media section)
/// is 422 Unprocessable Content (RFC 9110 §15.5.21), with the reason.
#[tokio::test]
async fn a_malformed_offer_is_400_and_a_well_formed_one_that_cannot_be_served_422() {
    let (addr, _seen) = start(None).await;
    let malformed = request(addr, "POST", "/whip", &[SDP], "hello").await;
    assert_eq!(malformed.status, 400);
    let no_media = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";
    for endpoint in ["/whip", "/whep"] {
        let refused = request(addr, "POST", endpoint, &[SDP], no_media).await;
        assert_eq!(refused.status, 422, "{endpoint}");
        assert!(
            refused.body.contains("no media section"),
            "{}",
            refused.body
        );
        assert!(refused.header("location").is_none(), "{endpoint}");
    }
    // Refused, the sessions left no trace: a publisher can still come.
    assert_eq!(publish(addr).await.status, 201);
}

#[tokio::test]
async fn a_body_that_stalls_short_of_its_declared_length_is_408_after_the_body_timeout() {
    let (addr, _seen) = start(None).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /whep HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/sdp\r\nContent-Length: 1000\r\n\r\nv=0\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = std::time::Instant::now();
    let mut raw = Vec::new();
    tokio::time::timeout(
        ferrtc_signal::whip::BODY_TIMEOUT + WAIT,
        stream.read_to_end(&mut raw),
    )
    .await
    .expect("answered, not held open")
    .unwrap();
    let text = String::from_utf8(raw).unwrap();
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(started.elapsed() >= ferrtc_signal::whip::BODY_TIMEOUT - Duration::from_millis(100));
}

#[tokio::test]
async fn a_second_publisher_is_409_and_a_viewer_without_one_404() {
    let (addr, _seen) = start(None).await;
    assert_eq!(
        request(addr, "POST", "/whep", &[SDP], OFFER).await.status,
        404
    );
    let first = publish(addr).await;
    assert_eq!(first.status, 201);
    assert_eq!(publish(addr).await.status, 409);
    let viewer = request(addr, "POST", "/whep", &[SDP], OFFER).await;
    assert_eq!(viewer.status, 201);
    assert!(viewer.header("location").unwrap().starts_with("/whep/"));
    // Once the publisher leaves, another may publish.
    let location = first.header("location").unwrap();
    assert_eq!(request(addr, "DELETE", location, &[], "").await.status, 200);
    assert_eq!(publish(addr).await.status, 201);
}

#[tokio::test]
async fn with_a_secret_a_missing_or_wrong_bearer_is_401_with_www_authenticate() {
    let secret = "s3cret";
    let (addr, _seen) = start(Some(secret)).await;
    let expiry = ferrtc_signal::token::unix_now() + 60;
    let mint = |kind| ferrtc_signal::token::mint_whip(secret.as_bytes(), kind, expiry);
    let publish_token = mint(SessionKind::Publish);
    let view_token = mint(SessionKind::View);

    let missing = publish(addr).await;
    assert_eq!(missing.status, 401);
    assert_eq!(missing.header("www-authenticate"), Some("Bearer"));
    let viewer_bearer = format!("Bearer {view_token}");
    let wrong = request(
        addr,
        "POST",
        "/whip",
        &[SDP, ("Authorization", &viewer_bearer)],
        OFFER,
    )
    .await;
    assert_eq!(wrong.status, 401, "a viewer's token does not publish");

    let bearer = format!("Bearer {publish_token}");
    let auth = ("Authorization", bearer.as_str());
    let ok = request(addr, "POST", "/whip", &[SDP, auth], OFFER).await;
    assert_eq!(ok.status, 201);
    let location = ok.header("location").unwrap();
    assert_eq!(request(addr, "DELETE", location, &[], "").await.status, 401);
    assert_eq!(
        request(addr, "DELETE", location, &[auth], "").await.status,
        200
    );
}

#[tokio::test]
async fn patch_passes_trickled_candidates_on_and_restarts_ice_with_a_new_etag() {
    let (addr, mut seen) = start(None).await;
    let created = publish(addr).await;
    let location = created.header("location").unwrap().to_owned();
    let etag = created.header("etag").unwrap().to_owned();
    let id = location.rsplit('/').next().unwrap().to_owned();
    assert_eq!(seen.recv().await, Some(Seen::Open(SessionKind::Publish)));

    let frag = "a=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdefghijkl\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\n\
        a=candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host\r\na=end-of-candidates\r\n";
    let ok = request(addr, "PATCH", &location, &[FRAG, ("If-Match", &etag)], frag).await;
    assert_eq!(ok.status, 204, "{ok:?}");
    assert_eq!(seen.recv().await, Some(Seen::Trickle(id.clone(), 1, true)));

    let stale = request(
        addr,
        "PATCH",
        &location,
        &[FRAG, ("If-Match", "\"x\"")],
        frag,
    )
    .await;
    assert_eq!(stale.status, 412);
    let sdp = request(addr, "PATCH", &location, &[SDP], frag).await;
    assert_eq!(sdp.status, 415);
    let junk = request(addr, "PATCH", &location, &[FRAG], "junk").await;
    assert_eq!(junk.status, 400);
    let elsewhere = format!("/whep/{id}");
    assert_eq!(
        request(addr, "PATCH", &elsewhere, &[FRAG], frag)
            .await
            .status,
        404,
        "a WHIP session is not a WHEP resource"
    );

    // New credentials: an ICE restart, answered with the server's new ones
    // under a new entity tag.
    let restart = frag.replace("ice-ufrag:abcd", "ice-ufrag:wxyz");
    let restarted = request(
        addr,
        "PATCH",
        &location,
        &[FRAG, ("If-Match", "*")],
        &restart,
    )
    .await;
    assert_eq!(restarted.status, 200, "{restarted:?}");
    assert_eq!(
        restarted.header("content-type"),
        Some("application/trickle-ice-sdpfrag")
    );
    assert!(restarted.body.starts_with("a=ice-ufrag:srv2"));
    let new_etag = restarted.header("etag").unwrap().to_owned();
    assert_ne!(new_etag, etag);
    assert_eq!(
        seen.recv().await,
        Some(Seen::Restart(id.clone(), "wxyz".into()))
    );
    let old = request(
        addr,
        "PATCH",
        &location,
        &[FRAG, ("If-Match", &etag)],
        &restart,
    )
    .await;
    assert_eq!(old.status, 412, "the old entity tag is stale");
    let trickle = request(
        addr,
        "PATCH",
        &location,
        &[FRAG, ("If-Match", &new_etag)],
        &restart,
    )
    .await;
    assert_eq!(
        trickle.status, 204,
        "the restart's credentials are the session's now"
    );
    assert_eq!(seen.recv().await, Some(Seen::Trickle(id.clone(), 1, true)));
    // A late fragment of the first ICE generation is stale: ignored.
    let late = request(
        addr,
        "PATCH",
        &location,
        &[FRAG, ("If-Match", &new_etag)],
        frag,
    )
    .await;
    assert_eq!(late.status, 204, "{late:?}");
    let trickled = frag
        .replace("ice-ufrag:abcd", "ice-ufrag:wxyz")
        .replace("a=end-of-candidates\r\n", "");
    assert_eq!(
        request(addr, "PATCH", &location, &[FRAG], &trickled)
            .await
            .status,
        204
    );
    assert_eq!(
        seen.recv().await,
        Some(Seen::Trickle(id.clone(), 1, false)),
        "the stale fragment did not reach the media side, this one did"
    );
    assert!(seen.try_recv().is_err());
    let no_pwd = "a=ice-ufrag:qqqq\r\n";
    assert_eq!(
        request(addr, "PATCH", &location, &[FRAG], no_pwd)
            .await
            .status,
        400
    );
    let unsupported = frag.replace("ice-ufrag:abcd", "ice-ufrag:nope");
    assert_eq!(
        request(addr, "PATCH", &location, &[FRAG], &unsupported)
            .await
            .status,
        422,
        "a media side that cannot restart (RFC 9725 §4.3.1)"
    );
    let ended = frag.replace("ice-ufrag:abcd", "ice-ufrag:gone");
    assert_eq!(
        request(addr, "PATCH", &location, &[FRAG], &ended)
            .await
            .status,
        404,
        "a restart of a session the media side no longer has"
    );
}

#[tokio::test]
async fn delete_ends_the_session_once_and_unknown_ids_are_404() {
    let (addr, mut seen) = start(None).await;
    let created = publish(addr).await;
    let location = created.header("location").unwrap().to_owned();
    let id = location.rsplit('/').next().unwrap().to_owned();
    assert_eq!(seen.recv().await, Some(Seen::Open(SessionKind::Publish)));
    assert_eq!(
        request(addr, "DELETE", &location, &[], "").await.status,
        200
    );
    assert_eq!(seen.recv().await, Some(Seen::Close(id)));
    assert_eq!(
        request(addr, "DELETE", &location, &[], "").await.status,
        404
    );
    let unknown = format!("/whip/{}", "0".repeat(32));
    assert_eq!(request(addr, "DELETE", &unknown, &[], "").await.status, 404);
    assert_eq!(
        request(addr, "DELETE", "/whip/..%2F", &[], "").await.status,
        404
    );
    assert_eq!(
        request(addr, "PATCH", &unknown, &[FRAG], "a=end-of-candidates\r\n")
            .await
            .status,
        404
    );
}

/// `OPTIONS` is answered `200 OK` with no body and `Accept-Post:
/// application/sdp` (RFC 9725 §4.2: "The 200 OK response to any OPTIONS
/// request SHOULD include an Accept-Post header"), with the CORS headers
/// a preflight needs (WHATWG Fetch).
#[tokio::test]
async fn options_is_a_200_cors_preflight_with_accept_post_on_endpoints_and_resources() {
    let (addr, _seen) = start(None).await;
    for path in ["/whip", "/whep", &format!("/whip/{}", "a".repeat(32))] {
        let reply = request(
            addr,
            "OPTIONS",
            path,
            &[
                ("Origin", "https://studio.example"),
                ("Access-Control-Request-Method", "POST"),
            ],
            "",
        )
        .await;
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(reply.header("content-length"), Some("0"), "{path}");
        assert!(reply.body.is_empty(), "{path}");
        assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
        let methods = reply.header("access-control-allow-methods").unwrap();
        let method = if path.len() > 5 { "PATCH" } else { "POST" };
        assert!(methods.contains(method), "{path}: {methods}");
        let allowed = reply.header("access-control-allow-headers").unwrap();
        assert!(allowed.contains("Authorization") && allowed.contains("Content-Type"));
        assert_eq!(reply.header("accept-post"), Some("application/sdp"));
    }
}

#[tokio::test]
async fn without_a_media_side_whip_is_503() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, SignalConfig::default()));
    assert_eq!(publish(addr).await.status, 503);
}

#[tokio::test]
async fn many_publish_attempts_at_once_seat_exactly_one_publisher() {
    let (addr, _seen) = start(None).await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        tasks.spawn(async move { publish(addr).await.status });
    }
    let mut statuses = Vec::new();
    while let Some(status) = tasks.join_next().await {
        statuses.push(status.unwrap());
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409, 409, 409, 409, 409, 409, 409]);
}

/// A server whose media side answers every offer, publisher or viewer:
/// its address, the media side's ender, and the ids of the sessions
/// answered, in order.
async fn answering_server() -> (SocketAddr, SessionEnder, mpsc::UnboundedReceiver<String>) {
    let (port, mut media) = media_port(16);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, SignalConfig::default().with_media(port)));
    let ender = media.ender();
    let (ids_tx, ids) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(request) = media.recv().await {
            if let MediaRequest::Open { id, reply, .. } = request {
                reply.answer("v=0\r\n".into());
                let _ = ids_tx.send(id);
            }
        }
    });
    (addr, ender, ids)
}

#[tokio::test]
async fn sessions_the_media_side_ends_from_several_tasks_are_gone_with_404() {
    let (addr, ender, mut ids) = answering_server().await;
    let mut locations = Vec::new();
    for _ in 0..4 {
        let reply = request(addr, "POST", "/whep", &[SDP], OFFER).await;
        assert_eq!(reply.status, 201);
        locations.push(reply.header("location").unwrap().to_owned());
    }
    // Each session's connection "fails" in a task of its own, on a clone
    // of one ender.
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let id = ids.recv().await.unwrap();
        let ender = ender.clone();
        tasks.spawn(async move { ender.ended(&id) });
    }
    while tasks.join_next().await.is_some() {}
    for location in &locations {
        let mut status = 0;
        for _ in 0..100 {
            // A PATCH leaves a live session as it is (204), unlike DELETE.
            status = request(addr, "PATCH", location, &[FRAG], "a=end-of-candidates\r\n")
                .await
                .status;
            if status == 404 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(status, 404, "{location} is gone");
    }
}

#[tokio::test]
async fn with_an_origin_allow_list_other_pages_get_403_and_allowed_ones_their_origin_back() {
    let (port, media) = media_port(16);
    let mut config = SignalConfig::default().with_media(port);
    config.allowed_origins = vec!["https://studio.example".into()];
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, config));
    let _seen = fake_media(media);
    let foreign = ("Origin", "https://evil.example");
    assert_eq!(
        request(addr, "POST", "/whip", &[SDP, foreign], OFFER)
            .await
            .status,
        403
    );
    let allowed = request(
        addr,
        "POST",
        "/whip",
        &[SDP, ("Origin", "https://studio.example")],
        OFFER,
    )
    .await;
    assert_eq!(allowed.status, 201);
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("https://studio.example")
    );
    assert_eq!(allowed.header("vary"), Some("Origin"));
    assert_eq!(
        publish(addr).await.status,
        409,
        "no Origin (not a browser): let in, and one publisher is live"
    );
}

#[tokio::test]
async fn two_restarts_at_once_under_one_etag_one_is_served_the_other_409() {
    let (addr, mut seen) = start(None).await;
    let created = publish(addr).await;
    let location = created.header("location").unwrap().to_owned();
    let etag = created.header("etag").unwrap().to_owned();
    assert_eq!(seen.recv().await, Some(Seen::Open(SessionKind::Publish)));
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..2 {
        let (location, etag) = (location.clone(), etag.clone());
        tasks.spawn(async move {
            let frag = format!("a=ice-ufrag:slow{n}\r\na=ice-pwd:0123456789abcdefghijkl\r\n");
            let reply = request(
                addr,
                "PATCH",
                &location,
                &[FRAG, ("If-Match", &etag)],
                &frag,
            )
            .await;
            reply.status
        });
    }
    let mut statuses = Vec::new();
    while let Some(status) = tasks.join_next().await {
        statuses.push(status.unwrap());
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409]);
    // Once it is over, the session restarts again (with its new tag).
    let frag = "a=ice-ufrag:slow9\r\na=ice-pwd:0123456789abcdefghijkl\r\n";
    assert_eq!(
        request(addr, "PATCH", &location, &[FRAG, ("If-Match", "*")], frag)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn a_client_gone_before_the_answer_leaves_no_session_and_the_media_side_closes_it() {
    let (port, mut media) = media_port(16);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, SignalConfig::default().with_media(port)));
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Some(request) = media.recv().await {
            match request {
                // Never answered while the client waits.
                MediaRequest::Open { id, reply, .. } => {
                    let _ = seen_tx.send(Seen::Open(SessionKind::Publish));
                    held.push((id, reply));
                }
                MediaRequest::Close { id } => {
                    assert!(held.iter().any(|(h, _)| *h == id));
                    let _ = seen_tx.send(Seen::Close(id));
                }
                _ => {}
            }
        }
    });
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /whip HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{OFFER}",
        OFFER.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    assert_eq!(seen.recv().await, Some(Seen::Open(SessionKind::Publish)));
    drop(stream);
    let closed = tokio::time::timeout(WAIT, seen.recv()).await;
    assert!(
        matches!(closed, Ok(Some(Seen::Close(_)))),
        "the media side is told: {closed:?}"
    );
}

#[tokio::test]
async fn many_ended_notices_at_once_are_all_delivered_even_with_a_small_queue() {
    let (port, mut media) = media_port(1);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, SignalConfig::default().with_media(port)));
    let ender = media.ender();
    let (ids_tx, mut ids) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(request) = media.recv().await {
            if let MediaRequest::Open { id, reply, .. } = request {
                reply.answer("v=0\r\n".into());
                let _ = ids_tx.send(id);
            }
        }
    });
    let mut locations = Vec::new();
    for _ in 0..8 {
        let reply = request(addr, "POST", "/whep", &[SDP], OFFER).await;
        assert_eq!(reply.status, 201);
        locations.push(reply.header("location").unwrap().to_owned());
    }
    // All at once, as when a publisher leaves with its viewers.
    for _ in 0..8 {
        ender.ended(&ids.recv().await.unwrap());
    }
    for location in &locations {
        let mut status = 0;
        for _ in 0..100 {
            status = request(addr, "PATCH", location, &[FRAG], "a=end-of-candidates\r\n")
                .await
                .status;
            if status == 404 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(status, 404, "{location} is gone");
    }
}

#[tokio::test]
async fn a_burst_of_posts_from_one_address_is_cut_off_with_429_and_retry_after() {
    let (addr, _seen) = start(None).await;
    let mut statuses = Vec::new();
    let mut limited = None;
    for _ in 0..30 {
        let reply = request(addr, "POST", "/whep", &[SDP], OFFER).await;
        statuses.push(reply.status);
        if reply.status == 429 {
            limited.get_or_insert(reply);
        }
    }
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert!((5..=10).contains(&refused), "{statuses:?}");
    assert!(statuses[..20].iter().all(|s| *s == 404), "{statuses:?}");
    let limited = limited.unwrap();
    let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
}

#[tokio::test]
async fn a_delete_while_the_media_queue_is_full_still_reaches_the_media_side() {
    let (port, mut media) = media_port(1);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, SignalConfig::default().with_media(port)));
    let gate = std::sync::Arc::new(tokio::sync::Notify::new());
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    {
        let gate = gate.clone();
        tokio::spawn(async move {
            let mut first = true;
            while let Some(request) = media.recv().await {
                match request {
                    MediaRequest::Open { id, reply, .. } => {
                        reply.answer("v=0\r\n".into());
                        let _ = seen_tx.send(Seen::Open(SessionKind::Publish));
                        let _ = seen_tx.send(Seen::Close(id));
                    }
                    MediaRequest::Trickle { id, .. } => {
                        let _ = seen_tx.send(Seen::Trickle(id, 0, false));
                    }
                    MediaRequest::Close { id } => {
                        let _ = seen_tx.send(Seen::Close(id));
                    }
                    _ => {}
                }
                if first {
                    // Busy for a while after the first request: the
                    // queue (one request) fills up.
                    first = false;
                    gate.notified().await;
                }
            }
        });
    }
    let created = publish(addr).await;
    assert_eq!(created.status, 201);
    let location = created.header("location").unwrap().to_owned();
    assert_eq!(seen.recv().await, Some(Seen::Open(SessionKind::Publish)));
    let Some(Seen::Close(id)) = seen.recv().await else {
        panic!("the id")
    };
    // The queue's one place taken by a trickle, then the DELETE.
    let trickle = request(addr, "PATCH", &location, &[FRAG], "a=end-of-candidates\r\n").await;
    assert_eq!(trickle.status, 204);
    assert_eq!(
        request(addr, "DELETE", &location, &[], "").await.status,
        200
    );
    gate.notify_one();
    assert_eq!(seen.recv().await, Some(Seen::Trickle(id.clone(), 0, false)));
    let closed = tokio::time::timeout(WAIT, seen.recv()).await;
    assert_eq!(closed, Ok(Some(Seen::Close(id))), "the DELETE was not lost");
}

/// Each session holds a seat on the media side until its connection
/// connects or times out: one address may have 8 unconnected at once, the
/// next `POST` is 429 until one connects (or ends).
#[tokio::test]
async fn an_address_with_eight_unconnected_sessions_gets_429_until_one_connects() {
    let (addr, ender, mut ids) = answering_server().await;
    for _ in 0..8 {
        let reply = request(addr, "POST", "/whep", &[SDP], OFFER).await;
        assert_eq!(reply.status, 201);
    }
    let refused = request(addr, "POST", "/whep", &[SDP], OFFER).await;
    assert_eq!(refused.status, 429);
    assert!(refused.header("retry-after").is_some());
    // Two connect, from tasks of their own on clones of one ender: two
    // more may come.
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..2 {
        let id = ids.recv().await.unwrap();
        let ender = ender.clone();
        tasks.spawn(async move { ender.connected(&id) });
    }
    while tasks.join_next().await.is_some() {}
    let mut statuses = Vec::new();
    for _ in 0..100 {
        let status = request(addr, "POST", "/whep", &[SDP], OFFER).await.status;
        if status == 201 {
            statuses.push(status);
            if statuses.len() == 2 {
                break;
            }
        } else {
            assert_eq!(status, 429);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    assert_eq!(statuses, [201, 201]);
    assert_eq!(
        request(addr, "POST", "/whep", &[SDP], OFFER).await.status,
        429
    );
}

/// A chunked body (RFC 9112 §7.1) that breaks off with a malformed chunk,
/// far under the size limit, is a bad request (400, RFC 9110 §15.5.1), not
/// "a body of more than N bytes" (413): only a body over the limit is too
/// large.
#[tokio::test]
async fn a_malformed_chunked_body_under_the_limit_is_400_not_413() {
    let (addr, _seen) = start(None).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /whip HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/sdp\r\nTransfer-Encoding: chunked\r\n\r\n\
         5\r\nv=0\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut raw))
        .await
        .expect("a response in time")
        .unwrap();
    let text = String::from_utf8(raw).unwrap();
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    // A well-formed chunked offer is read whole.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /whip HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/sdp\r\nTransfer-Encoding: chunked\r\n\r\n\
         {:x}\r\n{OFFER}\r\n0\r\n\r\n",
        OFFER.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut raw))
        .await
        .expect("a response in time")
        .unwrap();
    let text = String::from_utf8(raw).unwrap();
    assert!(text.starts_with("HTTP/1.1 201"), "{text}");
}

/// A session that trickles but does not restart ICE answers a restart
/// `PATCH` 422 Unprocessable Content (RFC 9725 §4.3.1: "supports either
/// Trickle ICE or ICE restarts, but not both" MUST be 422, RFC 9110
/// §15.5.21), not 501: `PATCH` itself is implemented. The session and its
/// entity tag stay as they were (§4.3.2: a restart that cannot be served
/// does not end the session).
#[tokio::test]
async fn a_restart_the_media_side_cannot_serve_is_422_and_the_session_stays() {
    let (addr, mut seen) = start(None).await;
    let created = publish(addr).await;
    let location = created.header("location").unwrap().to_owned();
    let etag = created.header("etag").unwrap().to_owned();
    let id = location.rsplit('/').next().unwrap().to_owned();
    assert_eq!(seen.recv().await, Some(Seen::Open(SessionKind::Publish)));
    let unsupported = "a=ice-ufrag:nope\r\na=ice-pwd:0123456789abcdefghijkl\r\n";
    let refused = request(
        addr,
        "PATCH",
        &location,
        &[FRAG, ("If-Match", "*")],
        unsupported,
    )
    .await;
    assert_eq!(refused.status, 422, "{refused:?}");
    assert!(refused.header("etag").is_none());
    let trickle = "a=ice-ufrag:abcd\r\na=candidate:1 1 udp 1 192.0.2.1 9 typ host\r\n";
    let still = request(
        addr,
        "PATCH",
        &location,
        &[FRAG, ("If-Match", &etag)],
        trickle,
    )
    .await;
    assert_eq!(still.status, 204, "the session and its tag are unchanged");
    assert_eq!(seen.recv().await, Some(Seen::Trickle(id, 1, false)));
}

/// `OPTIONS` names the methods of the resource it is asked about (RFC 9110
/// §9.3.7, §10.2.1 `Allow`), the same ones its `405` names: `POST` on the
/// endpoints, `PATCH` and `DELETE` on the sessions (RFC 9725 §4.2: every
/// other method is 405 there), with `Accept-Patch` on the sessions (RFC
/// 5789 §3.1).
#[tokio::test]
async fn options_names_the_methods_each_resource_takes_as_its_405_does() {
    let (addr, _seen) = start(None).await;
    let session = format!("/whip/{}", "a".repeat(32));
    let methods = |list: &str| {
        let mut m: Vec<String> = list.split(',').map(|m| m.trim().to_owned()).collect();
        m.sort();
        m
    };
    for (path, expected) in [
        ("/whip", vec!["OPTIONS", "POST"]),
        ("/whep", vec!["OPTIONS", "POST"]),
        (session.as_str(), vec!["DELETE", "OPTIONS", "PATCH"]),
    ] {
        let options = request(addr, "OPTIONS", path, &[], "").await;
        assert_eq!(options.status, 200, "{path}");
        assert_eq!(
            methods(options.header("allow").unwrap()),
            expected,
            "{path}"
        );
        assert_eq!(
            methods(options.header("access-control-allow-methods").unwrap()),
            expected,
            "{path}"
        );
        let refused = request(addr, "PUT", path, &[], "").await;
        assert_eq!(refused.status, 405, "{path}");
        assert_eq!(
            methods(refused.header("allow").unwrap()),
            expected,
            "{path}"
        );
    }
    let options = request(addr, "OPTIONS", &session, &[], "").await;
    assert_eq!(
        options.header("accept-patch"),
        Some("application/trickle-ice-sdpfrag")
    );
}

/// `If-Match` is a list field (RFC 9110 §13.1.1): several field lines are
/// one list (§5.3), so the session's tag on a second line matches; and a
/// value that is not visible ASCII names no tag of the session's, so the
/// precondition fails (412) rather than being taken as no `If-Match` at
/// all.
#[tokio::test]
async fn if_match_on_several_lines_is_one_list_and_a_non_ascii_one_fails() {
    let (addr, mut seen) = start(None).await;
    let created = publish(addr).await;
    let location = created.header("location").unwrap().to_owned();
    let etag = created.header("etag").unwrap().to_owned();
    assert_eq!(seen.recv().await, Some(Seen::Open(SessionKind::Publish)));
    let frag = "a=ice-ufrag:abcd\r\na=candidate:1 1 udp 1 192.0.2.1 9 typ host\r\n";
    let two_lines = request(
        addr,
        "PATCH",
        &location,
        &[FRAG, ("If-Match", "\"other\""), ("If-Match", &etag)],
        frag,
    )
    .await;
    assert_eq!(two_lines.status, 204, "{two_lines:?}");
    let non_ascii = request(
        addr,
        "PATCH",
        &location,
        &[FRAG, ("If-Match", "\"caf\u{e9}\"")],
        frag,
    )
    .await;
    assert_eq!(non_ascii.status, 412, "{non_ascii:?}");
}

/// A media side that stops taking requests (its queue full) does not hold
/// `POST`s for ever: each is 503 once the answer timeout (20 s) is over,
/// whether its offer reached the queue or still waited for room, so that
/// the connections it holds are let go.
#[tokio::test]
async fn posts_to_a_media_side_whose_queue_stays_full_are_503_in_time() {
    let (port, media) = media_port(1);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, SignalConfig::default().with_media(port)));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..2 {
        tasks.spawn(async move {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            let head = format!(
                "POST /whip HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
                 Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{OFFER}",
                OFFER.len()
            );
            stream.write_all(head.as_bytes()).await.unwrap();
            let mut raw = Vec::new();
            tokio::time::timeout(Duration::from_secs(20) + WAIT, stream.read_to_end(&mut raw))
                .await
                .expect("answered, not held for ever")
                .unwrap();
            String::from_utf8(raw).unwrap()
        });
    }
    while let Some(reply) = tasks.join_next().await {
        let reply = reply.unwrap();
        assert!(reply.starts_with("HTTP/1.1 503"), "{reply}");
    }
    drop(media);
}

/// A body of another media type is 415 with the type the resource takes:
/// `Accept-Patch` on a `PATCH` (RFC 5789 §2.2: "the Accept-Patch response
/// header field SHOULD be used to inform the client which patch document
/// media types are supported"), `Accept-Post` on a `POST` (W3C LDP §7.1).
#[tokio::test]
async fn a_415_names_the_media_type_the_resource_takes() {
    let (addr, mut seen) = start(None).await;
    let text = ("Content-Type", "text/plain");
    let post = request(addr, "POST", "/whip", &[text], OFFER).await;
    assert_eq!(post.status, 415);
    assert_eq!(post.header("accept-post"), Some("application/sdp"));
    let created = publish(addr).await;
    let location = created.header("location").unwrap().to_owned();
    assert_eq!(seen.recv().await, Some(Seen::Open(SessionKind::Publish)));
    let patch = request(addr, "PATCH", &location, &[SDP], "a=end-of-candidates\r\n").await;
    assert_eq!(patch.status, 415);
    assert_eq!(
        patch.header("accept-patch"),
        Some("application/trickle-ice-sdpfrag")
    );
}

/// A request whose bearer token was refused (malformed, expired, or not a
/// token of this kind) is told so: `WWW-Authenticate: Bearer
/// error="invalid_token"` (RFC 6750 §3, §3.1: a request that "included an
/// access token and failed authentication" SHOULD carry the error); one
/// without a token gets the bare challenge (§3.1: no error code then).
#[tokio::test]
async fn a_refused_bearer_token_is_named_invalid_token_and_a_missing_one_is_not() {
    let secret = "s3cret";
    let (addr, _seen) = start(Some(secret)).await;
    let missing = publish(addr).await;
    assert_eq!(missing.status, 401);
    assert_eq!(missing.header("www-authenticate"), Some("Bearer"));
    let expired = ferrtc_signal::token::mint_whip(secret.as_bytes(), SessionKind::Publish, 1);
    for token in ["junk", expired.as_str()] {
        let bearer = format!("Bearer {token}");
        let refused = request(
            addr,
            "POST",
            "/whip",
            &[SDP, ("Authorization", &bearer)],
            OFFER,
        )
        .await;
        assert_eq!(refused.status, 401, "{token}");
        assert_eq!(
            refused.header("www-authenticate"),
            Some("Bearer error=\"invalid_token\""),
            "{token}"
        );
    }
}

/// A POST whose client goes away while it waits for room in the media
/// queue never reached the media side, so the media side is not asked to
/// close it: every `Close` names a session it opened.
#[tokio::test]
async fn a_post_dropped_while_waiting_for_room_sends_no_close_for_an_unseen_id() {
    let (port, mut media) = media_port(1);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, SignalConfig::default().with_media(port)));
    let head = format!(
        "POST /whip HTTP/1.1\r\nHost: {addr}\r\n\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{OFFER}",
        OFFER.len()
    );
    // The first offer fills the queue (capacity 1); the second waits for room.
    let mut first = TcpStream::connect(addr).await.unwrap();
    first.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut second = TcpStream::connect(addr).await.unwrap();
    second.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Both clients go away before any answer.
    drop(second);
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(first);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The media side wakes up: every Close must name a session it opened.
    let mut opened = Vec::new();
    let mut closed = Vec::new();
    while let Ok(Some(request)) = tokio::time::timeout(Duration::from_secs(1), media.recv()).await {
        match request {
            MediaRequest::Open { id, .. } => opened.push(id),
            MediaRequest::Close { id } => closed.push(id),
            _ => {}
        }
    }
    assert_eq!(opened.len(), 1, "only the first offer reached the queue");
    assert!(
        closed.iter().all(|id| opened.contains(id)),
        "a Close for a session never opened: opened {opened:?}, closed {closed:?}"
    );
}

/// RFC 9725 §4.3.1: a DELETE needs no ICE session matching, so the
/// session ignores any entity tag it carries: a stale `If-Match` (say,
/// from before an ICE restart whose answer the client lost) still ends
/// the session, and the media side closes it.
#[tokio::test]
async fn a_delete_ignores_its_if_match_and_ends_the_session() {
    let (addr, mut seen) = start(None).await;
    let created = publish(addr).await;
    let location = created.header("location").unwrap().to_owned();
    let id = location.rsplit('/').next().unwrap().to_owned();
    assert_eq!(seen.recv().await, Some(Seen::Open(SessionKind::Publish)));
    let stale = request(addr, "DELETE", &location, &[("If-Match", "\"stale\"")], "").await;
    assert_eq!(stale.status, 200, "{stale:?}");
    assert_eq!(seen.recv().await, Some(Seen::Close(id)));
    let gone = request(addr, "DELETE", &location, &[], "").await;
    assert_eq!(gone.status, 404, "{gone:?}");
}
