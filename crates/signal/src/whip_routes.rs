//! The WHIP/WHEP routes on axum: HTTP in and out around the decisions of
//! [`crate::whip`], the session table, and the media seam
//! ([`crate::media`]).
//!
//! | route | what |
//! |---|---|
//! | `POST /whip`, `POST /whep` | offer (`application/sdp`) in, `201 Created` with the answer, `Location`, `ETag` out |
//! | `PATCH /whip/{id}`, `/whep/{id}` | trickled candidates (`application/trickle-ice-sdpfrag`): `204`; an ICE restart: `200` with the answer fragment and a new `ETag` |
//! | `DELETE /whip/{id}`, `/whep/{id}` | ends the session: `200` (an `If-Match` is ignored, RFC 9725 §4.3.1) |
//! | `OPTIONS` on all four | CORS preflight: `200` with no body, `Accept-Post` |
//!
//! A `POST` from an address that sent more than [`POST_BURST`] of them
//! lately (refilled at [`POSTS_PER_SECOND`]), or that has
//! [`MAX_UNCONNECTED`] sessions whose connection did not connect yet, is
//! refused with `429 Too Many Requests`: each one makes a peer connection,
//! and holds a seat until it connects or times out. A session whose `POST` is
//! not answered (refused, timed out, or the client went away while the
//! media side was answering) leaves the table and the media side is told to
//! close it. ICE restarts of one session are one at a time (`409` while one
//! is pending); a `PATCH` whose fragment carries ICE credentials the
//! session had before its last restart is stale: it is answered `204` and
//! ignored (RFC 8838 §4.4: candidates of an earlier ICE generation are
//! discarded).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{patch, post};
use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot};

use crate::media::{MediaPort, MediaReply, MediaRequest, SessionNews};
use crate::ratelimit::{RateLimit, TokenBucket, Verdict};
use crate::token::{TokenError, unix_now};
use crate::whip::{
    SDP, SDP_FRAG, SdpFrag, SessionKind, WhipError, authorize, if_match, is_session_id,
    media_type_is, new_etag, new_session_id, sdp_ice_ufrag,
};

/// How long a `POST` (or an ICE restart) waits for the media side's answer
/// (it gathers its candidates first), room in the media queue included; a
/// trickle `PATCH` waits as long at most for room in the queue.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(20);
/// `POST`s one address may send at once.
pub(crate) const POST_BURST: u32 = 20;
/// `POST`s one address may send per second on average.
pub(crate) const POSTS_PER_SECOND: f64 = 2.0;
/// Sessions of one client (address, or IPv6 /64) not connected yet.
pub(crate) const MAX_UNCONNECTED: usize = 8;
/// `Retry-After` when a client has [`MAX_UNCONNECTED`] sessions.
const UNCONNECTED_RETRY_SECS: u64 = 5;
/// How long a session counts as unconnected at most: a media side that
/// never says [`SessionEnder::connected`](crate::SessionEnder::connected)
/// (or is slow to end a session that failed) does not hold its client's
/// seats longer.
const UNCONNECTED_FOR: Duration = Duration::from_secs(35);
/// Addresses with a bucket before the idle (full) ones are forgotten.
const MAX_BUCKETS: usize = 4096;
/// Former ICE usernames a session remembers, to tell stale fragments.
const FORMER_UFRAGS: usize = 8;

/// What the routes share.
#[derive(Clone)]
pub(crate) struct WhipState {
    inner: Arc<Shared>,
}

struct Shared {
    media: Option<mpsc::Sender<MediaRequest>>,
    sessions: Mutex<HashMap<String, Session>>,
    secret: Option<Vec<u8>>,
    max_body: usize,
    allowed_origins: Vec<String>,
    /// Per client address: its `POST` token bucket, and its last `POST`.
    buckets: Mutex<HashMap<IpAddr, (TokenBucket, Instant)>>,
}

/// One live WHIP or WHEP session, as the HTTP side knows it.
struct Session {
    kind: SessionKind,
    /// Who posted it (`client_of` its address).
    client: IpAddr,
    /// Its connection connected (the media side said so).
    connected: bool,
    /// When its `POST` came.
    posted: Instant,
    etag: String,
    /// The offer's `a=ice-ufrag`: another one in a `PATCH` is a restart.
    ice_ufrag: Option<String>,
    /// The usernames of earlier ICE generations, newest last.
    former_ufrags: Vec<String>,
    /// An ICE restart is with the media side.
    restarting: bool,
}

impl WhipState {
    pub(crate) fn new(
        media: Option<MediaPort>,
        secret: Option<Vec<u8>>,
        max_body: usize,
        allowed_origins: Vec<String>,
    ) -> Self {
        let (requests, news) = match media {
            Some(port) => (Some(port.requests), Some(port.news)),
            None => (None, None),
        };
        let state = WhipState {
            inner: Arc::new(Shared {
                media: requests,
                sessions: Mutex::new(HashMap::new()),
                secret,
                max_body,
                allowed_origins,
                buckets: Mutex::new(HashMap::new()),
            }),
        };
        if let Some(mut news) = news {
            let state = state.clone();
            tokio::spawn(async move {
                while let Some(news) = news.recv().await {
                    match news {
                        SessionNews::Ended(id) => {
                            state.sessions().remove(&id);
                        }
                        SessionNews::Connected(id) => {
                            if let Some(s) = state.sessions().get_mut(&id) {
                                s.connected = true;
                            }
                        }
                    }
                }
            });
        }
        state
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // The table stays consistent across a panic elsewhere: every
        // update is a single insert or remove.
        self.inner
            .sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes a token of `ip`'s `POST` bucket: `Err` with the seconds to
    /// wait when it is empty.
    fn take_post(&self, ip: IpAddr) -> Result<(), WhipError> {
        let ip = client_of(ip);
        let now = Instant::now();
        let limit = RateLimit::new(POSTS_PER_SECOND, POST_BURST, u32::MAX);
        let mut buckets = self
            .inner
            .buckets
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(&ip) {
            // A bucket idle long enough to be full again is a new one.
            let refill = Duration::from_secs_f64(f64::from(POST_BURST) / POSTS_PER_SECOND);
            buckets.retain(|_, (_, last)| now.saturating_duration_since(*last) < refill);
            if buckets.len() >= MAX_BUCKETS / 2 {
                // Still crowded by clients seen lately (many addresses):
                // the half seen least lately start again with a full
                // bucket. The table stays bounded, and each sweep is paid
                // for by the MAX_BUCKETS / 2 new clients before the next.
                let mut lasts: Vec<Instant> = buckets.values().map(|(_, last)| *last).collect();
                let middle = lasts.len() / 2;
                let median = *lasts.select_nth_unstable(middle).1;
                buckets.retain(|_, (_, last)| *last > median);
            }
        }
        let (bucket, last) = buckets
            .entry(ip)
            .or_insert_with(|| (TokenBucket::new(limit, now), now));
        *last = now;
        match bucket.take(now) {
            Verdict::Allow => Ok(()),
            Verdict::Refuse | Verdict::Disconnect => Err(WhipError::TooManyRequests {
                retry_after_secs: bucket.retry_after().as_secs().saturating_add(1),
            }),
        }
    }

    /// Tells the media side to close `id`, without dropping the request
    /// when its queue is full, and without waiting here.
    fn close_later(&self, id: String) {
        let Some(media) = self.inner.media.clone() else {
            return;
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = media.send(MediaRequest::Close { id }).await;
            });
        }
    }
}

/// A session in the table whose offer is not answered yet. Dropped
/// unanswered (refused, timed out, or its handler dropped because the
/// client went away), it leaves the table; unless the media side refused it
/// (and so knows), the media side is told to close it.
struct Opening {
    state: WhipState,
    id: Option<String>,
    tell_media: bool,
}

impl Opening {
    /// The offer was answered: the session stays.
    fn answered(mut self) {
        self.id = None;
    }
}

impl Drop for Opening {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else { return };
        self.state.sessions().remove(&id);
        if self.tell_media {
            self.state.close_later(id);
        }
    }
}

/// A restart with the media side: when it is over, answered or not (or
/// its handler dropped), the session may restart again.
struct Restarting {
    state: WhipState,
    id: String,
}

impl Drop for Restarting {
    fn drop(&mut self) {
        if let Some(session) = self.state.sessions().get_mut(&self.id) {
            session.restarting = false;
        }
    }
}

/// The routes, with their state applied.
pub(crate) fn routes(state: WhipState) -> Router {
    let mut router = Router::new();
    for kind in [SessionKind::Publish, SessionKind::View] {
        let endpoint = post(
            move |s: State<WhipState>, c: ConnectInfo<SocketAddr>, h: HeaderMap, b: Body| {
                offer(kind, s, c, h, b)
            },
        )
        .options(|s: State<WhipState>, h: HeaderMap| preflight(Target::Endpoint, s, h));
        let resource = patch(
            move |s: State<WhipState>, p: Path<String>, h: HeaderMap, b: Body| {
                trickle(kind, s, p, h, b)
            },
        )
        .delete(move |s: State<WhipState>, p: Path<String>, h: HeaderMap| end(kind, s, p, h))
        .options(|s: State<WhipState>, h: HeaderMap| preflight(Target::Session, s, h));
        router = router
            .route(kind.path(), endpoint)
            .route(&format!("{}/{{id}}", kind.path()), resource);
    }
    router.with_state(state)
}

/// `POST /whip`, `POST /whep` (RFC 9725 §4.2).
async fn offer(
    kind: SessionKind,
    State(state): State<WhipState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let cors = cors(&state, &headers);
    if let Err(error) = state.take_post(peer.ip()) {
        return with_cors(refusal(&error), cors);
    }
    match accept_offer(kind, &state, client_of(peer.ip()), &headers, body).await {
        Ok((id, etag, answer)) => {
            let mut response = (StatusCode::CREATED, answer).into_response();
            let h = response.headers_mut();
            set(h, header::CONTENT_TYPE, SDP);
            set(h, header::LOCATION, &format!("{}/{id}", kind.path()));
            set(h, header::ETAG, &etag);
            set(h, "accept-patch", SDP_FRAG);
            with_cors(response, cors)
        }
        Err(error) => with_cors(refusal(&error), cors),
    }
}

async fn accept_offer(
    kind: SessionKind,
    state: &WhipState,
    client: IpAddr,
    headers: &HeaderMap,
    body: Body,
) -> Result<(String, String, String), WhipError> {
    check_request(state, headers, kind)?;
    if !media_type_is(text(headers, header::CONTENT_TYPE), SDP) {
        return Err(WhipError::UnsupportedMediaType { expected: SDP });
    }
    let offer = read_body(state, headers, body).await?;
    let media = state.inner.media.as_ref().ok_or(WhipError::Unavailable)?;
    let id = new_session_id();
    let etag = new_etag();
    // In the table before the media side hears of it, so that an early
    // notice finds it; counted and put there under one lock.
    {
        let mut sessions = state.sessions();
        let now = Instant::now();
        let unconnected = sessions
            .values()
            .filter(|s| s.client == client && !s.connected)
            .filter(|s| now.saturating_duration_since(s.posted) < UNCONNECTED_FOR)
            .count();
        if unconnected >= MAX_UNCONNECTED {
            return Err(WhipError::TooManyRequests {
                retry_after_secs: UNCONNECTED_RETRY_SECS,
            });
        }
        sessions.insert(
            id.clone(),
            Session {
                kind,
                client,
                connected: false,
                posted: now,
                etag: etag.clone(),
                ice_ufrag: sdp_ice_ufrag(&offer).map(str::to_owned),
                former_ufrags: Vec::new(),
                restarting: false,
            },
        );
    }
    // The media side is told to close it only once it has the offer (a
    // handler dropped while waiting for room in the queue tells nothing).
    let mut opening = Opening {
        state: state.clone(),
        id: Some(id.clone()),
        tell_media: false,
    };
    let (tx, rx) = oneshot::channel();
    let request = MediaRequest::Open {
        id: id.clone(),
        kind,
        offer,
        reply: MediaReply { tx },
    };
    // One deadline for room in the queue and the answer: a media side that
    // stops taking requests does not hold the POST (and its connection).
    let deadline = tokio::time::Instant::now() + ANSWER_TIMEOUT;
    if !matches!(
        tokio::time::timeout_at(deadline, media.send(request)).await,
        Ok(Ok(()))
    ) {
        // The offer never reached the media side: nothing to close there.
        return Err(WhipError::Unavailable);
    }
    opening.tell_media = true;
    match tokio::time::timeout_at(deadline, rx).await {
        Ok(Ok(Ok(answer))) => {
            opening.answered();
            Ok((id, etag, answer))
        }
        Ok(Ok(Err(refusal))) => {
            opening.tell_media = false;
            Err(refusal.into())
        }
        // It may still come up: the media side is told to drop it.
        Ok(Err(_)) | Err(_) => Err(WhipError::Unavailable),
    }
}

/// What a `PATCH` answers.
enum Patched {
    /// Trickled candidates: 204.
    Trickled,
    /// An ICE restart: 200 with the answer fragment and the new entity tag.
    Restarted { frag: String, etag: String },
}

/// `PATCH /whip/{id}`: trickle ICE (RFC 9725 §4.3.1, RFC 8840) or an ICE
/// restart (§4.3.2).
async fn trickle(
    kind: SessionKind,
    State(state): State<WhipState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let cors = cors(&state, &headers);
    let result = async {
        check_request(&state, &headers, kind)?;
        session_of(&state.sessions(), &id, kind)?;
        if !media_type_is(text(&headers, header::CONTENT_TYPE), SDP_FRAG) {
            return Err(WhipError::UnsupportedMediaType { expected: SDP_FRAG });
        }
        let body = read_body(&state, &headers, body).await?;
        let frag = SdpFrag::parse(&body)?;
        let media = state.inner.media.as_ref().ok_or(WhipError::Unavailable)?;
        // The checks and what they decide under one lock, with no wait in
        // between: two restarts under one entity tag cannot both pass.
        let restart = {
            let mut sessions = state.sessions();
            let session = session_of_mut(&mut sessions, &id, kind)?;
            check_if_match(&headers, &session.etag)?;
            let stale = frag.ice_ufrag.as_ref().is_some_and(|u| {
                session.ice_ufrag.as_ref() != Some(u) && session.former_ufrags.contains(u)
            });
            if stale {
                // RFC 8838 §4.4: a previous generation's candidates are
                // discarded.
                return Ok(Patched::Trickled);
            }
            if frag.is_restart(session.ice_ufrag.as_deref()) {
                if session.restarting {
                    return Err(WhipError::RestartPending);
                }
                session.restarting = true;
                Some(Restarting {
                    state: state.clone(),
                    id: id.clone(),
                })
            } else {
                None
            }
        };
        let Some(restarting) = restart else {
            let request = MediaRequest::Trickle {
                id,
                candidates: frag.candidates,
                end_of_candidates: frag.end_of_candidates,
            };
            tokio::time::timeout(ANSWER_TIMEOUT, media.send(request))
                .await
                .map_err(|_| WhipError::Unavailable)?
                .map_err(|_| WhipError::Unavailable)?;
            return Ok(Patched::Trickled);
        };
        let (Some(ice_ufrag), Some(ice_pwd)) = (frag.ice_ufrag, frag.ice_pwd) else {
            return Err(WhipError::Malformed(
                "an ICE restart needs a=ice-ufrag and a=ice-pwd",
            ));
        };
        let (tx, rx) = oneshot::channel();
        let request = MediaRequest::Restart {
            id: id.clone(),
            ice_ufrag: ice_ufrag.clone(),
            ice_pwd,
            candidates: frag.candidates,
            end_of_candidates: frag.end_of_candidates,
            reply: MediaReply { tx },
        };
        let deadline = tokio::time::Instant::now() + ANSWER_TIMEOUT;
        tokio::time::timeout_at(deadline, media.send(request))
            .await
            .map_err(|_| WhipError::Unavailable)?
            .map_err(|_| WhipError::Unavailable)?;
        let frag = match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(Ok(frag))) => frag,
            Ok(Ok(Err(refusal))) => return Err(refusal.into()),
            Ok(Err(_)) | Err(_) => return Err(WhipError::Unavailable),
        };
        // The restart's credentials are the session's from now on, under a
        // new entity tag (RFC 9725 §4.3.2).
        let etag = new_etag();
        let mut sessions = state.sessions();
        let session = sessions
            .get_mut(&id)
            .ok_or(WhipError::NotFound("no such session"))?;
        session.etag.clone_from(&etag);
        if let Some(former) = session.ice_ufrag.replace(ice_ufrag) {
            if session.former_ufrags.len() >= FORMER_UFRAGS {
                session.former_ufrags.remove(0);
            }
            session.former_ufrags.push(former);
        }
        session.restarting = false;
        drop(sessions);
        drop(restarting);
        Ok(Patched::Restarted { frag, etag })
    }
    .await;
    let response = match result {
        Ok(Patched::Trickled) => StatusCode::NO_CONTENT.into_response(),
        Ok(Patched::Restarted { frag, etag }) => {
            let mut response = (StatusCode::OK, frag).into_response();
            let h = response.headers_mut();
            set(h, header::CONTENT_TYPE, SDP_FRAG);
            set(h, header::ETAG, &etag);
            response
        }
        Err(error) => refusal(&error),
    };
    with_cors(response, cors)
}

/// `DELETE /whip/{id}` (RFC 9725 §4.2): ends the session.
async fn end(
    kind: SessionKind,
    State(state): State<WhipState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let cors = cors(&state, &headers);
    let result = (|| {
        check_request(&state, &headers, kind)?;
        let mut sessions = state.sessions();
        // RFC 9725 §4.3.1: a session ignores the entity tag of a DELETE,
        // which needs no ICE session matching: a client whose tag went
        // stale (it lost an ICE restart's 200) can still end its session.
        session_of(&sessions, &id, kind)?;
        sessions.remove(&id);
        Ok::<_, WhipError>(())
    })();
    let response = match result {
        Ok(()) => {
            // The HTTP resource is gone now; the close waits for room in
            // the media queue if it must, never lost.
            state.close_later(id);
            StatusCode::OK.into_response()
        }
        Err(error) => refusal(&error),
    };
    with_cors(response, cors)
}

/// What an `OPTIONS` is about.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// `/whip`, `/whep`: takes `POST`.
    Endpoint,
    /// `/whip/{id}`, `/whep/{id}`: takes `PATCH` and `DELETE`.
    Session,
}

/// `OPTIONS`: the CORS preflight a page of another origin (or a WHIP
/// client such as OBS) sends first. `Allow` names the methods of this
/// resource only (RFC 9110 §9.3.7, §10.2.1), as its `405` does (RFC 9725
/// §4.2: other methods are 405 on endpoints and sessions). The status is
/// `200 OK` with an empty body: RFC 9725 §4.2 (and the WHEP draft) name
/// the `200 OK` response to an `OPTIONS` as the one carrying `Accept-Post`,
/// and a CORS preflight passes on any 2xx (WHATWG Fetch, "ok status").
async fn preflight(target: Target, State(state): State<WhipState>, headers: HeaderMap) -> Response {
    let cors = cors(&state, &headers);
    let mut response = StatusCode::OK.into_response();
    let h = response.headers_mut();
    let methods = match target {
        Target::Endpoint => "POST, OPTIONS",
        Target::Session => "PATCH, DELETE, OPTIONS",
    };
    set(h, header::ALLOW, methods);
    // RFC 9725 §4.2: Accept-Post on any OPTIONS response.
    set(h, "accept-post", SDP);
    if let Target::Session = target {
        // RFC 5789 §3.1.
        set(h, "accept-patch", SDP_FRAG);
    }
    set(h, header::ACCESS_CONTROL_ALLOW_METHODS, methods);
    set(
        h,
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        "Authorization, Content-Type, If-Match",
    );
    set(h, header::ACCESS_CONTROL_MAX_AGE, "86400");
    with_cors(response, cors)
}

/// The `If-Match` of a `PATCH` against the session's entity tag: its
/// field lines are one list (RFC 9110 §5.3, §13.1.1); a line that is not
/// visible ASCII names none of our tags, so it fails the precondition
/// rather than counting as no `If-Match`.
fn check_if_match(headers: &HeaderMap, etag: &str) -> Result<(), WhipError> {
    let mut list: Option<String> = None;
    for line in headers.get_all(header::IF_MATCH) {
        let line = line.to_str().map_err(|_| WhipError::PreconditionFailed)?;
        match &mut list {
            None => list = Some(line.to_owned()),
            Some(list) => {
                list.push_str(", ");
                list.push_str(line);
            }
        }
    }
    if_match(list.as_deref(), etag)
}

/// The origin check and the bearer token, common to every request.
fn check_request(
    state: &WhipState,
    headers: &HeaderMap,
    kind: SessionKind,
) -> Result<(), WhipError> {
    if cors(state, headers) == Cors::Refused {
        return Err(WhipError::ForbiddenOrigin);
    }
    authorize(
        text(headers, header::AUTHORIZATION),
        state.inner.secret.as_deref(),
        kind,
        unix_now(),
    )
}

fn session_of<'a>(
    sessions: &'a HashMap<String, Session>,
    id: &str,
    kind: SessionKind,
) -> Result<&'a Session, WhipError> {
    if !is_session_id(id) {
        return Err(WhipError::NotFound("no such session"));
    }
    sessions
        .get(id)
        .filter(|s| s.kind == kind)
        .ok_or(WhipError::NotFound("no such session"))
}

fn session_of_mut<'a>(
    sessions: &'a mut HashMap<String, Session>,
    id: &str,
    kind: SessionKind,
) -> Result<&'a mut Session, WhipError> {
    sessions
        .get_mut(id)
        .filter(|s| s.kind == kind)
        .ok_or(WhipError::NotFound("no such session"))
}

/// The client an address stands for in the `POST` limit: an IPv6 address
/// by its /64 (RFC 7421: one host or one link holds a whole /64, so
/// counting each address would give a client billions of buckets); an
/// IPv4 address (or an IPv4-mapped one) as it is.
fn client_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from_bits(
                v6.to_bits() & !((1u128 << 64) - 1),
            )),
        },
        v4 => v4,
    }
}

/// Reads a body of at most the configured size, as UTF-8 text.
async fn read_body(
    state: &WhipState,
    headers: &HeaderMap,
    body: Body,
) -> Result<String, WhipError> {
    let max = state.inner.max_body;
    let declared = text(headers, header::CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max as u64) {
        return Err(WhipError::TooLarge { max });
    }
    let bytes = tokio::time::timeout(crate::whip::BODY_TIMEOUT, collect_body(body, max))
        .await
        .map_err(|_| WhipError::BodyTimeout)??;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(WhipError::EmptyBody);
    }
    String::from_utf8(bytes).map_err(|_| WhipError::Malformed("the body is not UTF-8"))
}

/// Collects a body of at most `max` bytes. Only a body over the limit is
/// [`WhipError::TooLarge`]; one that cannot be read (a malformed chunk,
/// RFC 9112 §7.1, or a connection that broke off) is malformed (400, RFC
/// 9110 §15.5.1).
async fn collect_body(body: Body, max: usize) -> Result<Vec<u8>, WhipError> {
    let mut stream = body.into_data_stream();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| WhipError::Malformed("the body could not be read"))?;
        if chunk.len() > max.saturating_sub(bytes.len()) {
            return Err(WhipError::TooLarge { max });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// What a request's `Origin` allows.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Cors {
    /// No `Origin` (not a browser), or no allow-list: `*`.
    Any,
    /// An allowed origin, echoed.
    Origin(HeaderValue),
    /// An origin not in the allow-list.
    Refused,
}

fn cors(state: &WhipState, headers: &HeaderMap) -> Cors {
    let allowed = &state.inner.allowed_origins;
    match headers.get(header::ORIGIN) {
        _ if allowed.is_empty() => Cors::Any,
        None => Cors::Any,
        Some(origin) if allowed.iter().any(|a| origin.as_bytes() == a.as_bytes()) => {
            Cors::Origin(origin.clone())
        }
        Some(_) => Cors::Refused,
    }
}

fn with_cors(mut response: Response, cors: Cors) -> Response {
    let h = response.headers_mut();
    match cors {
        Cors::Any => set(h, header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        Cors::Origin(origin) => {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            set(h, header::VARY, "Origin");
        }
        Cors::Refused => {}
    }
    set(
        h,
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        "Location, ETag, Accept-Patch, Link",
    );
    response
}

fn refusal(error: &WhipError) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, format!("{error}\n")).into_response();
    let h = response.headers_mut();
    set(h, header::CONTENT_TYPE, "text/plain; charset=utf-8");
    if let WhipError::Unauthorized(why) = error {
        // RFC 6750 §3, §3.1: no error code without a token; a token that
        // was presented and refused is "invalid_token".
        let challenge = match why {
            TokenError::Missing => "Bearer",
            _ => "Bearer error=\"invalid_token\"",
        };
        set(h, header::WWW_AUTHENTICATE, challenge);
    }
    match error {
        // RFC 5789 §2.2: a 415 to a PATCH names the patch types taken;
        // W3C LDP §7.1 likewise for POST.
        WhipError::UnsupportedMediaType { expected: SDP_FRAG } => {
            set(h, "accept-patch", SDP_FRAG);
        }
        WhipError::UnsupportedMediaType { expected } => set(h, "accept-post", expected),
        _ => {}
    }
    if let WhipError::TooManyRequests { retry_after_secs } = error {
        // RFC 6585 §4, RFC 9110 §10.2.3.
        set(h, header::RETRY_AFTER, &retry_after_secs.to_string());
    }
    response
}

fn text(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn set(headers: &mut HeaderMap, name: impl header::IntoHeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::{IpAddr, MAX_BUCKETS, WhipState, client_of};

    #[test]
    fn many_client_addresses_keep_the_post_table_bounded_and_the_latest_limited() {
        let state = WhipState::new(None, None, 1 << 16, Vec::new());
        let busy: IpAddr = "198.51.100.1".parse().unwrap();
        for n in 0..3 * MAX_BUCKETS as u32 {
            let _ = state.take_post(IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + n)));
            if n == 3 * MAX_BUCKETS as u32 - 10 {
                while state.take_post(busy).is_ok() {}
            }
            assert!(state.inner.buckets.lock().unwrap().len() <= MAX_BUCKETS);
        }
        // Among the latest: its bucket was kept, still empty.
        assert!(state.take_post(busy).is_err());
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64_and_ipv4_ones_by_address() {
        let a = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        assert_eq!(client_of(a("2001:db8:1:2:aaaa::1")), a("2001:db8:1:2::"));
        assert_eq!(
            client_of(a("2001:db8:1:2:ffff:ffff:ffff:ffff")),
            client_of(a("2001:db8:1:2::9"))
        );
        assert_ne!(client_of(a("2001:db8:1:3::1")), a("2001:db8:1:2::"));
        assert_eq!(client_of(a("::ffff:192.0.2.7")), a("192.0.2.7"));
        assert_eq!(client_of(a("192.0.2.7")), a("192.0.2.7"));
    }
}
