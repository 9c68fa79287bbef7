//! The signaling channels of `peer`, `send` and `recv`: JSON lines on
//! stdio, one JSON object per line in the browsers' own forms (the README's
//! "The `ferrtc` command"), or a room of a `ferrtc signal`/`ferrtc demo`
//! server over its WebSocket (the protocol documented in `ferrtc-signal`).

use std::collections::BTreeSet;

use ferrtc::{IceCandidateInit, SdpType, SessionDescription};
use ferrtc_signal::{ClientMessage, ErrorCode, ServerMessage, Signal};
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, BufReader, Stdin};
use tokio::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// Longest signaling line accepted (an SDP with many candidates fits well).
pub const MAX_LINE: usize = 1 << 20;

/// How long a caller (`--call NAME`) waits, once joined, for NAME to be in
/// the room and answer.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// A signaling message from the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// `{"type":"offer"|"answer","sdp":"..."}`.
    Description(SessionDescription),
    /// `{"type":"candidate",...}`; an empty `candidate` means end of candidates.
    Candidate(IceCandidateInit),
    /// `{"type":"bye"}`.
    Bye,
}

/// A signaling message to the peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Outgoing {
    /// An offer.
    Offer {
        /// SDP text.
        sdp: String,
    },
    /// An answer.
    Answer {
        /// SDP text.
        sdp: String,
    },
    /// A trickled candidate.
    Candidate {
        /// `candidate:...`, or empty for end of candidates.
        candidate: String,
        /// The m-section's mid.
        #[serde(rename = "sdpMid")]
        sdp_mid: Option<String>,
        /// The m-section's index.
        #[serde(rename = "sdpMLineIndex")]
        sdp_m_line_index: Option<u16>,
    },
}

impl Outgoing {
    /// The message for a local description.
    pub fn description(d: &SessionDescription) -> Option<Outgoing> {
        match d.kind {
            SdpType::Offer => Some(Outgoing::Offer { sdp: d.sdp.clone() }),
            SdpType::Answer => Some(Outgoing::Answer { sdp: d.sdp.clone() }),
            _ => None,
        }
    }

    /// The message for a local candidate.
    pub fn candidate(c: IceCandidateInit) -> Outgoing {
        Outgoing::Candidate {
            candidate: c.candidate,
            sdp_mid: c.sdp_mid,
            sdp_m_line_index: c.sdp_m_line_index,
        }
    }

    /// One JSON line, without the newline.
    pub fn to_line(&self) -> String {
        // Serializing these plain structs cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl Outgoing {
    /// The payload in `ferrtc-signal`'s form.
    fn to_signal(&self) -> Signal {
        match self.clone() {
            Outgoing::Offer { sdp } => Signal::Offer { sdp },
            Outgoing::Answer { sdp } => Signal::Answer { sdp },
            Outgoing::Candidate {
                candidate,
                sdp_mid,
                sdp_m_line_index,
            } => Signal::Candidate {
                candidate,
                sdp_mid,
                sdp_m_line_index,
                username_fragment: None,
            },
        }
    }
}

/// Parses one signaling line (the pure parser is
/// [`ferrtc_signal::Signal::parse`], where the fuzz target reaches it).
pub fn parse(line: &str) -> Result<Incoming, String> {
    Ok(incoming(Signal::parse(line).map_err(|e| e.to_string())?))
}

fn incoming(signal: Signal) -> Incoming {
    match signal {
        Signal::Offer { sdp } => Incoming::Description(SessionDescription::offer(sdp)),
        Signal::Answer { sdp } => Incoming::Description(SessionDescription::answer(sdp)),
        Signal::Candidate {
            candidate,
            sdp_mid,
            sdp_m_line_index,
            username_fragment,
        } => Incoming::Candidate(IceCandidateInit {
            candidate,
            sdp_mid,
            sdp_m_line_index,
            username_fragment,
        }),
        Signal::Bye {} => Incoming::Bye,
    }
}

/// What [`LineReader::next`] read.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A line (without its newline).
    Text(String),
    /// A line over [`MAX_LINE`] bytes or not UTF-8, skipped.
    Invalid(&'static str),
}

/// Reads lines with a length bound: a longer line is skipped whole.
pub struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    discarding: bool,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    /// Wraps a buffered reader.
    pub fn new(inner: R) -> Self {
        LineReader {
            inner,
            buf: Vec::new(),
            discarding: false,
        }
    }

    /// The next line, or `None` at end of input. Cancel-safe: bytes are
    /// moved out of the reader only after its read completed.
    pub async fn next(&mut self) -> std::io::Result<Option<Line>> {
        loop {
            let chunk = self.inner.fill_buf().await?;
            if chunk.is_empty() {
                if self.discarding {
                    self.discarding = false;
                    return Ok(Some(Line::Invalid("line too long")));
                }
                if self.buf.is_empty() {
                    return Ok(None);
                }
                return Ok(Some(self.take()));
            }
            match chunk.iter().position(|b| *b == b'\n') {
                Some(pos) => {
                    let fits = !self.discarding && self.buf.len() + pos <= MAX_LINE;
                    if fits {
                        self.buf.extend_from_slice(&chunk[..pos]);
                    }
                    self.inner.consume(pos + 1);
                    if !fits {
                        self.discarding = false;
                        self.buf.clear();
                        return Ok(Some(Line::Invalid("line too long")));
                    }
                    return Ok(Some(self.take()));
                }
                None => {
                    let n = chunk.len();
                    if !self.discarding {
                        if self.buf.len() + n > MAX_LINE {
                            self.discarding = true;
                            self.buf.clear();
                        } else {
                            self.buf.extend_from_slice(chunk);
                        }
                    }
                    self.inner.consume(n);
                }
            }
        }
    }

    fn take(&mut self) -> Line {
        let bytes = std::mem::take(&mut self.buf);
        match String::from_utf8(bytes) {
            Ok(mut s) => {
                if s.ends_with('\r') {
                    s.pop();
                }
                Line::Text(s)
            }
            Err(_) => Line::Invalid("line is not UTF-8"),
        }
    }
}

/// Where `--signal` points: stdio, or a signaling server's WebSocket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// JSON lines on stdin/stdout.
    Stdio,
    /// A room of a signaling server.
    Server(Room),
}

/// `--signal ws://HOST:PORT/ws --name N [--room R] [--call NAME]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    /// The WebSocket URL as given (it may carry `?token=`).
    pub url: String,
    /// The name to join with.
    pub name: String,
    /// The room (`room=` added to the URL's query), else the URL's or the
    /// server's default room.
    pub room: Option<String>,
    /// The user to call (this side offers); else wait to be called.
    pub call: Option<String>,
}

impl Room {
    /// The URL to open: the given one with `room=` added.
    pub fn connect_url(&self) -> String {
        let Some(room) = &self.room else {
            return self.url.clone();
        };
        let encoded: String = room
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    char::from(b).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        let sep = if self.url.contains('?') { '&' } else { '?' };
        format!("{}{sep}room={encoded}", self.url)
    }
}

/// What [`Signaling::recv`] got.
#[derive(Debug)]
pub enum Received {
    /// A signal of the peer.
    Message(Incoming),
    /// Something to skip, with why (logged on stderr).
    Skip(String),
    /// The channel ended (end of stdin, server closed).
    End,
    /// The call cannot go on (the partner is unknown, oneself or
    /// unavailable, or did not answer in time): the session ends with this
    /// error.
    Failed(String),
}

type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// An open signaling channel.
pub enum Signaling {
    /// Stdio.
    Stdio(LineReader<BufReader<Stdin>>),
    /// A signaling server's room.
    Server(Box<ServerLink>),
}

/// This peer in a room of a signaling server.
pub struct ServerLink {
    ws: WsStream,
    call: Call,
}

/// Where this peer stands with its partner: what the server's messages
/// mean for the call.
#[derive(Debug)]
struct Call {
    /// Who this peer talks to: `--call`, or the first user whose offer came.
    partner: Option<String>,
    /// The partner hung up (no `bye` back), or the call failed.
    partner_gone: bool,
    /// A caller's deadline for the partner's answer; `None` once it came
    /// (or when waiting to be called).
    answer_by: Option<Instant>,
}

impl Call {
    /// What a message of the server means for the call.
    fn on_message(&mut self, message: ServerMessage) -> Received {
        match message {
            ServerMessage::Signal { from, signal } => {
                if self.partner.is_none() && matches!(signal, Signal::Offer { .. }) {
                    tracing::info!("{from:?} is calling");
                    self.partner = Some(from.clone());
                }
                if self.partner.as_deref() != Some(from.as_str()) {
                    return Received::Skip(format!(
                        "{} from {from:?}, who is not in this call",
                        signal.kind()
                    ));
                }
                match signal {
                    Signal::Bye {} => self.partner_gone = true,
                    Signal::Answer { .. } => self.answer_by = None,
                    _ => {}
                }
                Received::Message(incoming(signal))
            }
            // The signals for the partner cannot reach it: waiting would
            // be forever.
            ServerMessage::Error {
                code: ErrorCode::UnknownTarget | ErrorCode::SelfTarget | ErrorCode::Unavailable,
                message,
            } => {
                self.partner_gone = true;
                Received::Failed(format!("server: {message}"))
            }
            ServerMessage::Error { message, .. } => Received::Skip(format!("server: {message}")),
            _ => Received::Skip(String::new()),
        }
    }

    fn timed_out(&mut self) -> Received {
        self.partner_gone = true;
        self.answer_by = None;
        let who = self.partner.as_deref().unwrap_or_default();
        Received::Failed(format!(
            "{who:?} did not answer within {} s",
            ANSWER_TIMEOUT.as_secs()
        ))
    }
}

impl Signaling {
    /// Opens the channel: for a server, connects, joins and (with `--call`)
    /// waits until the callee is in the room.
    pub async fn open(target: &Target) -> Result<Self, String> {
        match target {
            Target::Stdio => Ok(Signaling::Stdio(LineReader::new(BufReader::new(
                tokio::io::stdin(),
            )))),
            Target::Server(room) => Ok(Signaling::Server(Box::new(ServerLink::open(room).await?))),
        }
    }

    /// The next signal. Cancel-safe.
    pub async fn recv(&mut self) -> Received {
        match self {
            Signaling::Stdio(lines) => {
                let line = match lines.next().await {
                    Ok(Some(Line::Text(l))) => l,
                    Ok(Some(Line::Invalid(why))) => return Received::Skip(why.into()),
                    Ok(None) => {
                        tracing::info!("end of input");
                        return Received::End;
                    }
                    Err(e) => {
                        tracing::warn!("stdin: {e}");
                        return Received::End;
                    }
                };
                if line.trim().is_empty() {
                    return Received::Skip(String::new());
                }
                match parse(&line) {
                    Ok(m) => Received::Message(m),
                    Err(e) => Received::Skip(e),
                }
            }
            Signaling::Server(link) => link.recv().await,
        }
    }

    /// Sends a signal to the peer.
    pub async fn send(&mut self, message: &Outgoing) {
        match self {
            Signaling::Stdio(_) => crate::peer::emit(message),
            Signaling::Server(link) => link.send(message.to_signal()).await,
        }
    }

    /// Ends the session: on a server, hangs up (`bye`) unless the partner
    /// did, and closes the WebSocket.
    pub async fn close(&mut self) {
        if let Signaling::Server(link) = self {
            if !link.call.partner_gone {
                link.send(Signal::Bye {}).await;
            }
            let _ = link.ws.close(None).await;
        }
    }
}

impl ServerLink {
    async fn open(room: &Room) -> Result<Self, String> {
        let url = room.connect_url();
        let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        let join = ClientMessage::Join {
            name: room.name.clone(),
        };
        ws.send(Message::text(join.to_json()))
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        let mut users = BTreeSet::new();
        let mut joined = false;
        // A caller waits for the callee (to join, then to answer) from its
        // own join on, at most `ANSWER_TIMEOUT`.
        let mut deadline: Option<Instant> = None;
        loop {
            if joined {
                match &room.call {
                    None => break,
                    Some(callee) if users.contains(callee) => break,
                    Some(_) => {}
                }
            }
            let next = match deadline {
                Some(at) => match tokio::time::timeout_at(at, ws.next()).await {
                    Ok(next) => next,
                    Err(_) => {
                        let callee = room.call.as_deref().unwrap_or_default();
                        return Err(format!(
                            "{url}: {callee:?} did not join the room within {} s",
                            ANSWER_TIMEOUT.as_secs()
                        ));
                    }
                },
                None => ws.next().await,
            };
            let text = match next {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Close(frame))) => {
                    let why = frame.map(|f| f.reason.to_string()).unwrap_or_default();
                    return Err(format!("{url}: the server closed the connection {why}"));
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(format!("{url}: {e}")),
                None => return Err(format!("{url}: the server closed the connection")),
            };
            match ServerMessage::parse(text.as_str()) {
                Ok(ServerMessage::Joined { name }) => {
                    tracing::info!("joined as {name:?}");
                    joined = true;
                    if room.call.is_some() {
                        deadline = Some(Instant::now() + ANSWER_TIMEOUT);
                    }
                    if let Some(callee) = &room.call
                        && !users.contains(callee)
                    {
                        tracing::info!("waiting for {callee:?} to join");
                    }
                }
                Ok(ServerMessage::Users { users: list }) => users = list.into_iter().collect(),
                Ok(ServerMessage::Error { message, .. }) if !joined => {
                    return Err(format!("{url}: the server refused the join: {message}"));
                }
                Ok(ServerMessage::Error { message, .. }) => {
                    tracing::warn!("server: {message}");
                }
                // A call before ours is placed: keep nothing; the caller
                // sends its offer again only if it retries.
                Ok(ServerMessage::Signal { from, .. }) => {
                    tracing::warn!("signal from {from:?} before the session started; skipped");
                }
                Err(e) => tracing::warn!("server sent a message that does not parse: {e}"),
            }
        }
        Ok(Self {
            ws,
            call: Call {
                partner: room.call.clone(),
                partner_gone: false,
                answer_by: deadline,
            },
        })
    }

    async fn recv(&mut self) -> Received {
        let next = match self.call.answer_by {
            Some(at) => match tokio::time::timeout_at(at, self.ws.next()).await {
                Ok(next) => next,
                Err(_) => return self.call.timed_out(),
            },
            None => self.ws.next().await,
        };
        let text = match next {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(_))) | None => {
                tracing::info!("the signaling server closed the connection");
                return Received::End;
            }
            Some(Ok(_)) => return Received::Skip(String::new()),
            Some(Err(e)) => {
                tracing::warn!("signaling server: {e}");
                return Received::End;
            }
        };
        match ServerMessage::parse(text.as_str()) {
            Ok(message) => self.call.on_message(message),
            Err(e) => Received::Skip(format!("server sent a message that does not parse: {e}")),
        }
    }

    async fn send(&mut self, signal: Signal) {
        let Some(target) = self.call.partner.clone() else {
            tracing::debug!("no partner yet; {} not sent", signal.kind());
            return;
        };
        let message = ClientMessage::Signal { target, signal };
        if let Err(e) = self.ws.send(Message::text(message.to_json())).await {
            tracing::warn!("signaling server: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browser_json_forms_parse() {
        assert_eq!(
            parse(r#"{"type":"offer","sdp":"v=0\r\n"}"#).unwrap(),
            Incoming::Description(SessionDescription::offer("v=0\r\n"))
        );
        let Incoming::Candidate(c) = parse(
            r#"{"type":"candidate","candidate":"candidate:1 1 udp 1 1.2.3.4 5 typ host","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"abcd"}"#,
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(c.sdp_mid.as_deref(), Some("0"));
        assert_eq!(c.username_fragment.as_deref(), Some("abcd"));
        let Incoming::Candidate(end) =
            parse(r#"{"type":"candidate","candidate":"","sdpMid":"0","sdpMLineIndex":0}"#).unwrap()
        else {
            panic!()
        };
        assert!(end.is_end_of_candidates());
        assert_eq!(parse(r#"{"type":"bye"}"#).unwrap(), Incoming::Bye);
    }

    #[test]
    fn bad_lines_are_errors() {
        for bad in [
            "",
            "nonsense",
            "[]",
            r#"{"sdp":"x"}"#,
            r#"{"type":"hello"}"#,
            r#"{"type":"offer"}"#,
            r#"{"type":"offer","sdp":5}"#,
            r#"{"type":"candidate","candidate":"x","sdpMLineIndex":-1}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn outgoing_messages_use_the_browser_forms() {
        assert_eq!(
            Outgoing::Offer {
                sdp: "v=0\r\n".into()
            }
            .to_line(),
            r#"{"type":"offer","sdp":"v=0\r\n"}"#
        );
        assert_eq!(
            Outgoing::Candidate {
                candidate: String::new(),
                sdp_mid: Some("0".into()),
                sdp_m_line_index: Some(0)
            }
            .to_line(),
            r#"{"type":"candidate","candidate":"","sdpMid":"0","sdpMLineIndex":0}"#
        );
    }

    #[test]
    fn the_room_is_added_to_the_url_query_percent_encoded() {
        let room = |url: &str, r: Option<&str>| Room {
            url: url.into(),
            name: "a".into(),
            room: r.map(Into::into),
            call: None,
        };
        assert_eq!(room("ws://h:1/ws", None).connect_url(), "ws://h:1/ws");
        assert_eq!(
            room("ws://h:1/ws", Some("team one")).connect_url(),
            "ws://h:1/ws?room=team%20one"
        );
        assert_eq!(
            room("ws://h:1/ws?token=1.ab", Some("r")).connect_url(),
            "ws://h:1/ws?token=1.ab&room=r"
        );
    }

    fn caller() -> Call {
        Call {
            partner: Some("bob".into()),
            partner_gone: false,
            answer_by: Some(Instant::now() + ANSWER_TIMEOUT),
        }
    }

    fn error(code: ErrorCode) -> ServerMessage {
        ServerMessage::Error {
            code,
            message: format!("{code:?}"),
        }
    }

    #[test]
    fn errors_about_the_partner_end_the_call_and_others_are_skipped() {
        for code in [
            ErrorCode::UnknownTarget,
            ErrorCode::SelfTarget,
            ErrorCode::Unavailable,
        ] {
            let mut call = caller();
            assert!(
                matches!(call.on_message(error(code)), Received::Failed(_)),
                "{code:?}"
            );
            assert!(call.partner_gone, "no bye to a partner that is not there");
        }
        let mut call = caller();
        assert!(matches!(
            call.on_message(error(ErrorCode::BadJson)),
            Received::Skip(_)
        ));
        assert!(!call.partner_gone);
    }

    #[test]
    fn the_partners_answer_stops_the_callers_clock_and_others_signals_do_not() {
        let mut call = caller();
        let answer = |from: &str| ServerMessage::Signal {
            from: from.into(),
            signal: Signal::Answer { sdp: "v=0".into() },
        };
        assert!(matches!(call.on_message(answer("eve")), Received::Skip(_)));
        assert!(call.answer_by.is_some());
        assert!(matches!(
            call.on_message(answer("bob")),
            Received::Message(Incoming::Description(_))
        ));
        assert!(call.answer_by.is_none());
        assert!(matches!(call.timed_out(), Received::Failed(m) if m.contains("bob")));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn long_lines_are_skipped_whole_and_reading_goes_on() {
        let mut input = vec![b'x'; MAX_LINE + 10];
        input.extend_from_slice(b"\n{\"type\":\"bye\"}\r\nlast");
        let mut r = LineReader::new(tokio::io::BufReader::with_capacity(4096, &input[..]));
        assert_eq!(
            r.next().await.unwrap(),
            Some(Line::Invalid("line too long"))
        );
        assert_eq!(
            r.next().await.unwrap(),
            Some(Line::Text("{\"type\":\"bye\"}".into()))
        );
        assert_eq!(r.next().await.unwrap(), Some(Line::Text("last".into())));
        assert_eq!(r.next().await.unwrap(), None);
    }
}
