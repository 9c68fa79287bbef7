//! The media seam of WHIP/WHEP: what the HTTP side asks of the peer
//! connections, which live in the application (the `ferrtc` CLI), not here.
//!
//! [`media_port`] makes a pair: a [`MediaPort`] that goes into
//! [`crate::SignalConfig::with_media`], and a [`MediaHandle`] that the
//! media task keeps. For each accepted `POST /whip` or `POST /whep` the
//! task receives [`MediaRequest::Open`] with the session id, the kind and
//! the offer, and answers through its [`MediaReply`] with the answer SDP
//! (which should carry the server's candidates: WHIP has no trickle from
//! the server) or a [`MediaRefusal`]. `PATCH` becomes
//! [`MediaRequest::Trickle`], `DELETE` [`MediaRequest::Close`]. When a
//! session ends on the media side (the connection failed), the task tells
//! the server with [`SessionEnder::ended`], and its resource is gone (404);
//! when one connects, with [`SessionEnder::connected`] (until then it
//! counts against its client's unconnected sessions).
//!
//! ```
//! use ferrtc_signal::{MediaRequest, SignalConfig, media_port};
//!
//! let (port, mut media) = media_port(64);
//! let config = SignalConfig::default().with_media(port);
//! # drop(config);
//! # async fn run(mut media: ferrtc_signal::MediaHandle) {
//! while let Some(request) = media.recv().await {
//!     if let MediaRequest::Open { reply, .. } = request {
//!         // A real media side asks a PeerConnection for the answer.
//!         reply.refuse(ferrtc_signal::MediaRefusal::NoPublisher);
//!     }
//! }
//! # }
//! ```

use tokio::sync::{mpsc, oneshot};

use crate::whip::{FragCandidate, SessionKind};

/// Makes the two ends of the media seam, with a queue of `capacity`
/// requests (at least 1). Ended notices are never dropped (their queue is
/// unbounded: each is one per session, which the requests bound).
pub fn media_port(capacity: usize) -> (MediaPort, MediaHandle) {
    let capacity = capacity.max(1);
    let (requests_tx, requests_rx) = mpsc::channel(capacity);
    let (news_tx, news_rx) = mpsc::unbounded_channel();
    (
        MediaPort {
            requests: requests_tx,
            news: news_rx,
        },
        MediaHandle {
            requests: requests_rx,
            ender: SessionEnder { news: news_tx },
        },
    )
}

/// The server's end of the media seam: hand it to
/// [`crate::SignalConfig::with_media`].
#[derive(Debug)]
pub struct MediaPort {
    pub(crate) requests: mpsc::Sender<MediaRequest>,
    pub(crate) news: mpsc::UnboundedReceiver<SessionNews>,
}

/// What the media side tells the server about a session.
#[derive(Debug)]
pub(crate) enum SessionNews {
    /// Its connection connected.
    Connected(String),
    /// It ended.
    Ended(String),
}

/// The media task's end: requests from the WHIP/WHEP routes.
#[derive(Debug)]
pub struct MediaHandle {
    requests: mpsc::Receiver<MediaRequest>,
    ender: SessionEnder,
}

impl MediaHandle {
    /// The next request; `None` once the server has stopped.
    pub async fn recv(&mut self) -> Option<MediaRequest> {
        self.requests.recv().await
    }

    /// A clonable handle that tells the server a session ended.
    pub fn ender(&self) -> SessionEnder {
        self.ender.clone()
    }
}

/// Tells the server that sessions ended on the media side; clone it freely.
#[derive(Debug, Clone)]
pub struct SessionEnder {
    news: mpsc::UnboundedSender<SessionNews>,
}

impl SessionEnder {
    /// The session `id` ended (its connection failed or closed): the server
    /// forgets it, and its resource answers 404 from now on. Never waits,
    /// and never drops the notice (only a stopped server loses it).
    pub fn ended(&self, id: &str) {
        let _ = self.news.send(SessionNews::Ended(id.to_owned()));
    }

    /// The session `id`'s connection connected: it no longer counts
    /// against its client's unconnected sessions (a client with too many
    /// gets `429` for its next `POST`). Never waits.
    pub fn connected(&self, id: &str) {
        let _ = self.news.send(SessionNews::Connected(id.to_owned()));
    }
}

/// A request of the WHIP/WHEP routes to the media side.
#[derive(Debug)]
#[non_exhaustive]
pub enum MediaRequest {
    /// `POST /whip` or `POST /whep` with an offer: make a peer connection,
    /// answer through `reply`.
    Open {
        /// The session id (the last segment of its `Location`).
        id: String,
        /// Publish (WHIP) or view (WHEP).
        kind: SessionKind,
        /// The offer SDP.
        offer: String,
        /// Where the answer goes.
        reply: MediaReply,
    },
    /// `PATCH` with trickled candidates (RFC 8840) for session `id`.
    Trickle {
        /// The session id.
        id: String,
        /// The candidates, in order.
        candidates: Vec<FragCandidate>,
        /// The fragment said `a=end-of-candidates`.
        end_of_candidates: bool,
    },
    /// `PATCH` with new ICE credentials: an ICE restart (RFC 9725 §4.3.2,
    /// RFC 8445 §9). Answer through `reply` with the server's new
    /// credentials and candidates as an `application/trickle-ice-sdpfrag`
    /// body; the route replies 200 with it and a new `ETag`.
    Restart {
        /// The session id.
        id: String,
        /// The client's new `a=ice-ufrag`.
        ice_ufrag: String,
        /// The client's new `a=ice-pwd`.
        ice_pwd: String,
        /// The client's candidates sent with the restart.
        candidates: Vec<FragCandidate>,
        /// The fragment said `a=end-of-candidates`.
        end_of_candidates: bool,
        /// Where the answer fragment goes.
        reply: MediaReply,
    },
    /// `DELETE`: end session `id`.
    Close {
        /// The session id.
        id: String,
    },
}

/// The answer to one [`MediaRequest::Open`] or [`MediaRequest::Restart`].
/// Dropping it unanswered makes the request fail with 503.
#[derive(Debug)]
pub struct MediaReply {
    pub(crate) tx: oneshot::Sender<Result<String, MediaRefusal>>,
}

impl MediaReply {
    /// Answers with the answer SDP (an `Open`: the route replies 201
    /// Created) or the answer fragment (a `Restart`: 200).
    pub fn answer(self, sdp: String) {
        let _ = self.tx.send(Ok(sdp));
    }

    /// Refuses the offer.
    pub fn refuse(self, refusal: MediaRefusal) {
        let _ = self.tx.send(Err(refusal));
    }
}

/// Why the media side refused an offer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MediaRefusal {
    /// WHEP while nobody publishes (404).
    #[error("nobody is publishing")]
    NoPublisher,
    /// WHIP while a publisher is live (409).
    #[error("a publisher is already live")]
    PublisherLive,
    /// The offer is malformed: not SDP, or SDP that is not a valid
    /// offer (400, RFC 9725 §4.2).
    #[error("{0}")]
    BadOffer(String),
    /// The offer is well-formed but cannot be served: no audio or video
    /// to ingest, none of the broadcast's media, no codec in common (422
    /// Unprocessable Content, RFC 9110 §15.5.21: the syntax is right, the
    /// content cannot be processed).
    #[error("{0}")]
    Unacceptable(String),
    /// The media side failed for a reason of its own, not the offer's (a
    /// call on the connection it made for the session failed): 500
    /// Internal Server Error (RFC 9110 §15.6.1). Says what failed.
    #[error("{0}")]
    Internal(String),
    /// No room for another session now (503).
    #[error("too many sessions")]
    Busy,
    /// This media side does not restart ICE (422, RFC 9725 §4.3.1).
    #[error("ICE restarts are not implemented")]
    RestartUnsupported,
    /// The session has ended or is not known (404).
    #[error("no such session")]
    NoSession,
}

impl From<MediaRefusal> for crate::whip::WhipError {
    fn from(refusal: MediaRefusal) -> Self {
        match refusal {
            MediaRefusal::NoPublisher => Self::NotFound("nobody is publishing"),
            MediaRefusal::PublisherLive => Self::PublisherLive,
            MediaRefusal::BadOffer(why) => Self::BadOffer(why),
            MediaRefusal::Unacceptable(why) => Self::UnacceptableOffer(why),
            MediaRefusal::Internal(what) => Self::Internal(what),
            MediaRefusal::Busy => Self::Unavailable,
            MediaRefusal::RestartUnsupported => Self::RestartNotImplemented,
            MediaRefusal::NoSession => Self::NotFound("no such session"),
        }
    }
}
