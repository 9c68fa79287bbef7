//! WebSocket signaling server and the demo web app of ferrtc.
//!
//! [`serve`] runs an axum server with these routes:
//!
//! | route | what |
//! |---|---|
//! | `GET /` (`/app.js`, `/app.css`, `/favicon.svg`) | the demo web app, embedded in the binary |
//! | `GET /ws[?room=NAME][&token=T]` | the signaling WebSocket (JSON text frames) in room NAME |
//! | `GET /health` | the [`Gauge`] as JSON: sessions, users, totals |
//! | `POST /whip`, `POST /whep` | WHIP ingest (RFC 9725) and WHEP egress: offer in, `201 Created` with the answer and a `Location` |
//! | `PATCH`, `DELETE` `/whip/{id}`, `/whep/{id}` | trickled candidates (RFC 8840 fragments), end of the session |
//!
//! # Signaling protocol
//!
//! In the spirit of MDN's "Signaling and video calling": users join a room
//! with a name unique in it, see who is there, and send offers, answers,
//! candidates and hang-ups to a user of the room by name. The payloads are the browsers' own JSON
//! forms (`RTCSessionDescriptionInit`, `RTCIceCandidateInit`, `bye`) with one
//! routing field added: `target` on the way in, `from` on the way out. The
//! server only relays: it never reads an SDP.
//!
//! Client to server ([`ClientMessage`]):
//!
//! ```text
//! {"type":"join","name":"alice"}
//! {"type":"offer","target":"bob","sdp":"v=0\r\n..."}
//! {"type":"answer","target":"bob","sdp":"v=0\r\n..."}
//! {"type":"candidate","target":"bob","candidate":"candidate:...","sdpMid":"0","sdpMLineIndex":0}
//! {"type":"bye","target":"bob"}
//! ```
//!
//! Server to client ([`ServerMessage`]):
//!
//! ```text
//! {"type":"users","users":["alice","bob","ferrtc-bot"]}     on connect (with a secret, at the join) and on change
//! {"type":"joined","name":"alice"}                          the join succeeded
//! {"type":"offer","from":"alice","sdp":"..."}               and answer, candidate, bye alike
//! {"type":"bye","from":"alice"}                             also when alice disconnects
//! {"type":"error","code":"unknown-target","message":"no user named \"zed\""}
//! ```
//!
//! Rules (each refusal is an `error` message with an [`ErrorCode`]; the
//! connection stays open unless said otherwise, nothing crashes):
//! - the room is chosen when connecting, `/ws?room=NAME` (percent-encoded;
//!   the same rules as user names, else `bad-room` and the connection is
//!   closed with 1008); without `room` it is [`DEFAULT_ROOM`] (`default`).
//!   User lists, names and relaying stay within a room;
//! - names are 1 to 32 letters, digits, `-`, `_`, `.` or inner spaces, and
//!   unique in the room (`bad-name`, `name-taken`); one join per connection
//!   (`already-joined`); at most `max_users` in a room (`room-full`);
//! - with a secret ([`SignalConfig::secret`], `--secret S`) a connection
//!   needs `?token=` ([`token`]: `EXPIRY.HMAC-SHA256(S, room, name,
//!   expiry)`); a missing, malformed or expired token gets `bad-token` as
//!   soon as the socket opens, a token not made for this room and the name
//!   of the `join` gets it at the join; then the connection is closed (1008).
//!   Until its token is verified at the join, a connection receives nothing
//!   of the room (no `users` list);
//! - each client has a token bucket ([`SignalConfig::rate_limit`], default
//!   bursts of 100, 20 messages a second): a message over it gets
//!   `rate-limited` and is dropped; 50 refusals in a row close the
//!   connection (1008). A signal whose target's queue is full (a burst of
//!   signals for one user) gets `rate-limited` too, and is dropped; what no
//!   sender can be asked to send again (the `bye` of a client that left, a
//!   signal from another node) is held for the target, up to 64 messages;
//! - with [`SignalConfig::allowed_origins`], a browser page of another
//!   origin gets HTTP 403 at the upgrade (clients sending no `Origin`, i.e.
//!   not browsers, are let in);
//! - in a cluster, a signal for a user of another node while Redis is
//!   unreachable gets `unavailable`;
//! - signals need a join first (`not-joined`), a `target` that is in the room
//!   (`unknown-target`) and not oneself (`self-target`); unknown fields are
//!   dropped, not relayed;
//! - text frames over `max_message_bytes` get `too-large`; frames over
//!   `max_frame_bytes` close the connection with code 1009; binary frames get
//!   `binary`; not JSON gets `bad-json`, the wrong shape `bad-message`, an
//!   unknown `type` `unknown-type`;
//! - a client that closes, vanishes (no pong within `idle_timeout`) or does
//!   not read its messages (its `queue_len` queue full for 2 s with nothing
//!   taken, or a write to it not taken within `idle_timeout`) is removed: the user list is
//!   sent again and everyone it exchanged signals with since its last `bye`
//!   gets `{"type":"bye","from":<it>}`.
//!
//! # Cluster
//!
//! With [`SignalConfig::redis`] (`--redis redis://HOST:PORT`) several
//! servers share rooms through Redis: users on different nodes see and call
//! each other, names are unique across the cluster, a dead node's users
//! leave within a few seconds and their partners get `bye`. The wire
//! protocol above does not change. Keys, channels and failure handling:
//! [`cluster`].
//!
//! # The bot seam
//!
//! An in-process peer (the demo's `ferrtc-bot`) joins the default room
//! through [`bot()`]: see the [`bot`](mod@bot) module. No bot is seated unless one is passed with
//! [`SignalConfig::with_bot`].
//!
//! # WHIP and WHEP
//!
//! One publisher pushes a stream with WHIP (`POST /whip`, RFC 9725) and
//! any number of viewers pull it with WHEP (`POST /whep`,
//! draft-ietf-wish-whep). The HTTP side is here ([`whip`]: statuses,
//! bearer tokens, trickle fragments); the peer connections and the
//! forwarding are the application's, behind the media seam
//! ([`media`](mod@media), [`SignalConfig::with_media`]).
//!
//! - `POST` with `Content-Type: application/sdp` and the offer: `201
//!   Created`, the answer (`application/sdp`, with the server's
//!   candidates), `Location: /whip/<id>` (or `/whep/<id>`), `ETag`.
//!   Refusals: another content type 415; an empty body 400; a body over
//!   [`SignalConfig::max_message_bytes`] 413; with a secret, a missing or
//!   wrong bearer token 401 with `WWW-Authenticate: Bearer` (with
//!   `error="invalid_token"` for a token sent and refused); WHEP while
//!   nobody publishes 404; a second publisher while one is live 409; a
//!   malformed offer 400; a well-formed offer the media side cannot serve
//!   (no media, no codec in common) 422; the media side failing for a
//!   reason of its own 500; no media side 503.
//! - `PATCH /whip/<id>` with `application/trickle-ice-sdpfrag` (RFC 8840):
//!   the candidates go to the session's connection, `204`. A fragment with
//!   other ICE credentials than the session's is an ICE restart (RFC 9725
//!   §4.3.2): the media side restarts ICE, and the reply is `200` with the
//!   server's new credentials and candidates as a fragment and a new
//!   `ETag` (`422` from a media side that cannot restart, RFC 9725 §4.3.1). `If-Match`
//!   other than the session's `ETag` or `*`: 412.
//! - `DELETE /whip/<id>`: ends the session, `200`; an unknown id 404; an
//!   `If-Match` is ignored (RFC 9725 §4.3.1: a DELETE needs no ICE
//!   session matching).
//! - `OPTIONS` on each: `200` with no body, `Accept-Post: application/sdp`
//!   and CORS headers (`Access-Control-Allow-*`), for pages of other
//!   origins and clients that ask first (RFC 9725 §4.2).
//! - With [`SignalConfig::secret`], `Authorization: Bearer <token>` where
//!   the token is a WHIP/WHEP bearer token ([`token::mint_whip`]: the
//!   `EXPIRY.MAC` form of a join token with its own MAC context) for the
//!   role `publisher` (publish) or `viewer` (watch), on every request of
//!   the session; a join token is never one. With [`SignalConfig::allowed_origins`], another `Origin` gets
//!   403.
//!
//! # Data channels of the demo page
//!
//! What the page (and so a bot it calls) sends over the peer connection; the
//! caller makes the offer and the first channel:
//! - label `chat`: each text message is one chat line. A bot echoes it, and
//!   answers the line `/stats` with its `get_stats()` as JSON text (the page
//!   pretty-prints a reply that parses as JSON).
//! - label `file`, one channel per file, opened by the sender: first one text
//!   message `{"type":"file","name":"a.bin","size":5242880,"mime":"..."}`,
//!   then exactly `size` bytes as binary messages of at most 16 KiB; the
//!   receiver answers with one text message
//!   `{"type":"file-received","size":5242880,"sha256":"<64 hex digits>"}`,
//!   which the sender compares with its own hash, then closes the channel.
//!   The page refuses files over 256 MiB, and offers a received file for
//!   download as `application/octet-stream` whatever its `mime` says (a
//!   `blob:` URL has the page's origin: a peer's HTML must not run there).
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! ferrtc_signal::serve(listener, ferrtc_signal::SignalConfig::default()).await
//! # }
//! ```

#![forbid(unsafe_code)]
// Without the server, the gauge's session bookkeeping has no caller.
#![cfg_attr(not(feature = "server"), allow(dead_code))]

pub mod assets;
#[cfg(feature = "server")]
pub mod bot;
#[cfg(feature = "server")]
pub mod cluster;
#[cfg(feature = "server")]
mod config;
mod error;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
mod gauge;
#[cfg(feature = "server")]
mod http;
#[cfg(feature = "server")]
mod hub;
#[cfg(feature = "server")]
pub mod media;
mod protocol;
pub mod ratelimit;
#[cfg(feature = "server")]
mod server;
pub mod token;
pub mod whip;
#[cfg(feature = "server")]
mod whip_routes;

#[cfg(feature = "server")]
pub use bot::{BotHandle, BotPort, BotSender, ServerGone, bot};
#[cfg(feature = "server")]
pub use config::SignalConfig;
pub use error::{ErrorCode, SignalError};
pub use gauge::{Gauge, GaugeSnapshot};
#[cfg(feature = "server")]
pub use media::{
    MediaHandle, MediaPort, MediaRefusal, MediaReply, MediaRequest, SessionEnder, media_port,
};
pub use protocol::{
    ClientMessage, DEFAULT_ROOM, MAX_NAME_CHARS, ServerMessage, Signal, validate_name,
    validate_room,
};
pub use ratelimit::RateLimit;
#[cfg(feature = "server")]
pub use server::{serve, serve_with_shutdown};
