//! The WHIP/WHEP routes on axum: HTTP in and out around the decisions of
//! [`crate::whip`], the session table, and the media seam
//! ([`crate::media`]).
//!
//! | route | what |
//! |---|---|
//! | `POST /whip`, `POST /whep` | offer (`application/sdp`) in, `201 Created` with the answer, `Location`, `ETag` out |
//! | `PATCH /whip/{id}`, `/whep/{id}` | trickled candidates (`application/trickle-ice-sdpfrag`): `204`; an ICE restart: `200` with the answer fragment and a new `ETag` |
//! | `DELETE /whip/{id}`, `/whep/{id}` | ends the session: `200` |
//! | `OPTIONS` on all four | CORS preflight: `204` |

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{patch, post};
use tokio::sync::{mpsc, oneshot};

use crate::media::{MediaPort, MediaReply, MediaRequest};
use crate::token::unix_now;
use crate::whip::{
    SDP, SDP_FRAG, SdpFrag, SessionKind, WhipError, authorize, if_match, is_session_id,
    media_type_is, new_etag, new_session_id, sdp_ice_ufrag,
};

/// How long a `POST` waits for the media side's answer (it gathers its
/// candidates first).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(20);

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
}

/// One live WHIP or WHEP session, as the HTTP side knows it.
struct Session {
    kind: SessionKind,
    etag: String,
    /// The offer's `a=ice-ufrag`: another one in a `PATCH` is a restart.
    ice_ufrag: Option<String>,
}

impl WhipState {
    pub(crate) fn new(
        media: Option<MediaPort>,
        secret: Option<Vec<u8>>,
        max_body: usize,
        allowed_origins: Vec<String>,
    ) -> Self {
        let (requests, ended) = match media {
            Some(port) => (Some(port.requests), Some(port.ended)),
            None => (None, None),
        };
        let state = WhipState {
            inner: Arc::new(Shared {
                media: requests,
                sessions: Mutex::new(HashMap::new()),
                secret,
                max_body,
                allowed_origins,
            }),
        };
        if let Some(mut ended) = ended {
            let state = state.clone();
            tokio::spawn(async move {
                while let Some(id) = ended.recv().await {
                    state.sessions().remove(&id);
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
}

/// The routes, with their state applied.
pub(crate) fn routes(state: WhipState) -> Router {
    let mut router = Router::new();
    for kind in [SessionKind::Publish, SessionKind::View] {
        let endpoint = post(move |s: State<WhipState>, h: HeaderMap, b: Body| offer(kind, s, h, b))
            .options(preflight);
        let resource = patch(
            move |s: State<WhipState>, p: Path<String>, h: HeaderMap, b: Body| {
                trickle(kind, s, p, h, b)
            },
        )
        .delete(move |s: State<WhipState>, p: Path<String>, h: HeaderMap| end(kind, s, p, h))
        .options(preflight);
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
    headers: HeaderMap,
    body: Body,
) -> Response {
    let cors = cors(&state, &headers);
    match accept_offer(kind, &state, &headers, body).await {
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
    // `ended` notice finds it.
    state.sessions().insert(
        id.clone(),
        Session {
            kind,
            etag: etag.clone(),
            ice_ufrag: sdp_ice_ufrag(&offer).map(str::to_owned),
        },
    );
    let (tx, rx) = oneshot::channel();
    let request = MediaRequest::Open {
        id: id.clone(),
        kind,
        offer,
        reply: MediaReply { tx },
    };
    let answer = match media.send(request).await {
        Err(_) => Err(WhipError::Unavailable),
        Ok(()) => match tokio::time::timeout(ANSWER_TIMEOUT, rx).await {
            Ok(Ok(Ok(answer))) => Ok(answer),
            Ok(Ok(Err(refusal))) => Err(refusal.into()),
            Ok(Err(_)) | Err(_) => Err(WhipError::Unavailable),
        },
    };
    match answer {
        Ok(answer) => Ok((id, etag, answer)),
        Err(error) => {
            state.sessions().remove(&id);
            if error == WhipError::Unavailable {
                // It may still come up: let the media side drop it.
                let _ = media.try_send(MediaRequest::Close { id });
            }
            Err(error)
        }
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
        let (etag, ufrag) = {
            let sessions = state.sessions();
            let session = session_of(&sessions, &id, kind)?;
            (session.etag.clone(), session.ice_ufrag.clone())
        };
        if !media_type_is(text(&headers, header::CONTENT_TYPE), SDP_FRAG) {
            return Err(WhipError::UnsupportedMediaType { expected: SDP_FRAG });
        }
        let body = read_body(&state, &headers, body).await?;
        if_match(text(&headers, header::IF_MATCH), &etag)?;
        let frag = SdpFrag::parse(&body)?;
        let media = state.inner.media.as_ref().ok_or(WhipError::Unavailable)?;
        if !frag.is_restart(ufrag.as_deref()) {
            let request = MediaRequest::Trickle {
                id,
                candidates: frag.candidates,
                end_of_candidates: frag.end_of_candidates,
            };
            media
                .send(request)
                .await
                .map_err(|_| WhipError::Unavailable)?;
            return Ok(Patched::Trickled);
        }
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
            reply: MediaReply { tx },
        };
        media
            .send(request)
            .await
            .map_err(|_| WhipError::Unavailable)?;
        let frag = match tokio::time::timeout(ANSWER_TIMEOUT, rx).await {
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
        session.ice_ufrag = Some(ice_ufrag);
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
        session_of(&sessions, &id, kind)?;
        sessions.remove(&id);
        Ok::<_, WhipError>(())
    })();
    let response = match result {
        Ok(()) => {
            if let Some(media) = &state.inner.media {
                // The HTTP resource is gone either way; a full queue only
                // delays the close until the connection times out.
                if media.try_send(MediaRequest::Close { id }).is_err() {
                    tracing::warn!("whip: media queue full; DELETE not passed on");
                }
            }
            StatusCode::OK.into_response()
        }
        Err(error) => refusal(&error),
    };
    with_cors(response, cors)
}

/// `OPTIONS`: the CORS preflight a page of another origin (or a WHIP
/// client such as OBS) sends first.
async fn preflight(State(state): State<WhipState>, headers: HeaderMap) -> Response {
    let cors = cors(&state, &headers);
    let mut response = StatusCode::NO_CONTENT.into_response();
    let h = response.headers_mut();
    set(h, header::ALLOW, "POST, PATCH, DELETE, OPTIONS");
    set(h, "accept-post", SDP);
    set(
        h,
        header::ACCESS_CONTROL_ALLOW_METHODS,
        "POST, PATCH, DELETE, OPTIONS",
    );
    set(
        h,
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        "Authorization, Content-Type, If-Match",
    );
    set(h, header::ACCESS_CONTROL_MAX_AGE, "86400");
    with_cors(response, cors)
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
    let bytes = to_bytes(body, max)
        .await
        .map_err(|_| WhipError::TooLarge { max })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(WhipError::EmptyBody);
    }
    String::from_utf8(bytes.to_vec()).map_err(|_| WhipError::Malformed("the body is not UTF-8"))
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
    if status == StatusCode::UNAUTHORIZED {
        // RFC 6750 §3.
        set(h, header::WWW_AUTHENTICATE, "Bearer");
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
