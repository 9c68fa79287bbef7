//! `ferrtc demo` and `ferrtc signal`: the signaling server of `ferrtc-signal`
//! with its web app and WHIP/WHEP broadcast ([`crate::whip`]), and for the
//! demo the built-in bot peer `ferrtc-bot`.
//!
//! The bot answers every call with a ferrtc [`PeerConnection`] and serves
//! the page's data-channel protocol (documented in `ferrtc-signal`):
//! - `chat`: echoes each line, and answers `/stats` with `get_stats()` as JSON;
//! - `file` (one channel per file): a JSON header, then exactly `size`
//!   bytes in binary messages; answered with
//!   `{"type":"file-received","size":N,"sha256":"<hex>"}`.
//!
//! In a call with audio or video the bot answers each track the caller
//! sends with one of its own on the same transceiver and sends back every
//! frame it receives, as a forwarding server does: the frames are not
//! decoded, only re-packetized under the bot's SSRC, and a keyframe request
//! (PLI) from the caller is passed on to the caller's sender.
//!
//! A caller has one call at a time. It ends at the caller's `bye` (sent by
//! the server too when the caller leaves), its close_notify or a DTLS
//! failure; a call whose ICE failed (consent lost, RFC 7675 §5.1) is kept,
//! as a browser keeps its `failed` connection, for the caller's ICE
//! restart (W3C webrtc-pc `restartIce()`) to bring back, for
//! [`FAILED_CALL_GRACE`]: one still failed then (a caller that vanished,
//! its `bye` lost) is closed, its resources freed, with a `bye` from the
//! bot; an
//! offer of another SDP session than the call's (a new peer connection of
//! the caller) ends it and starts a new one. An offer the bot cannot
//! answer ends the call with a `bye` from the bot.

use std::collections::HashMap;
use std::net::SocketAddr;

use aws_lc_rs::digest;
use std::time::Duration;

use ferrtc::{
    Configuration, DataChannel, DataChannelEvent, DataChannelMessage, DtlsTransportState, Error,
    IceCandidateInit, MediaStream, MediaStreamTrack, PeerConnection, PeerConnectionEvent,
    PeerConnectionState, RtpReceiver, RtpSender, RtpSenderEvent, RtpTransceiverDirection, SdpType,
    SessionDescription, TrackEvent,
};
use ferrtc_signal::{BotHandle, BotSender, ServerMessage, Signal, SignalConfig};
use serde::Deserialize;
use tokio::net::TcpListener;

/// The bot's user name in the room.
pub const BOT_NAME: &str = "ferrtc-bot";
/// Files larger than this are refused (the page refuses them too).
const MAX_FILE: u64 = 256 << 20;
/// How long a call whose connection is `failed` waits for the caller's ICE
/// restart (W3C webrtc-pc `restartIce()`) before the bot ends it: the ICE
/// consent timeout again (RFC 7675 §5.1, 30 s). Nothing else ends the call
/// of a caller that vanished and whose `bye` was lost.
const FAILED_CALL_GRACE: Duration = Duration::from_secs(30);

/// Any error of the demo, reported on stderr.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// `--redis` and `--secret` of `demo` and `signal`.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// `redis://HOST:PORT`: one node of a cluster.
    pub redis: Option<String>,
    /// The join-token secret.
    pub secret: Option<String>,
}

impl ServerOptions {
    fn config(self) -> Result<SignalConfig, BoxError> {
        let mut config = SignalConfig::default();
        if let Some(url) = &self.redis {
            // Refuse a bad URL now rather than retry it forever.
            redis_url_ok(url)?;
        }
        if self.secret.as_deref() == Some("") {
            // An HMAC key everyone knows: anyone could sign join tokens.
            return Err("--secret must not be empty".into());
        }
        config.redis = self.redis;
        config.secret = self.secret.map(String::into_bytes);
        Ok(config)
    }
}

fn redis_url_ok(url: &str) -> Result<(), BoxError> {
    if url.starts_with("redis://") || url.starts_with("unix://") || url.starts_with("redis+unix://")
    {
        Ok(())
    } else {
        Err(format!("--redis {url:?}: expected redis://HOST:PORT").into())
    }
}

/// `ferrtc signal`: the signaling server and web app, without a bot.
pub async fn signal(listen: SocketAddr, options: ServerOptions) -> Result<(), BoxError> {
    let config = options.config()?;
    raise_fd_limit();
    let listener = TcpListener::bind(listen).await?;
    let config = with_broadcast(config);
    // The first line on stdout says where to go (tests read it with --listen :0).
    println!("listening on http://{}", listener.local_addr()?);
    ferrtc_signal::serve_with_shutdown(listener, config, shutdown()).await?;
    Ok(())
}

/// `ferrtc demo`: the signaling server, the web app and the bot.
pub async fn demo(listen: SocketAddr, options: ServerOptions) -> Result<(), BoxError> {
    let config = options.config()?;
    raise_fd_limit();
    let listener = TcpListener::bind(listen).await?;
    let (port, bot) = ferrtc_signal::bot(BOT_NAME, 256)?;
    tokio::spawn(run_bot(bot));
    println!("listening on http://{}", listener.local_addr()?);
    eprintln!("ferrtc demo: open that page in a browser, join, and call {BOT_NAME}");
    let config = with_broadcast(config.with_bot(port));
    ferrtc_signal::serve_with_shutdown(listener, config, shutdown()).await?;
    Ok(())
}

/// WHIP ingest and WHEP egress (`POST /whip`, `POST /whep`): the media
/// side of [`crate::whip`] behind the server's media seam.
fn with_broadcast(config: SignalConfig) -> SignalConfig {
    let (port, media) = ferrtc_signal::media_port(256);
    tokio::spawn(crate::whip::run(media));
    config.with_media(port)
}

/// Each WebSocket client takes a file descriptor: the soft open-file limit
/// goes up to the hard one (a failure only means fewer clients fit).
fn raise_fd_limit() {
    #[cfg(unix)]
    if let Ok((soft, hard)) = rlimit::Resource::NOFILE.get()
        && soft < hard
        && let Err(e) = rlimit::Resource::NOFILE.set(hard, hard)
    {
        tracing::warn!("cannot raise the open-file limit to {hard}: {e}");
    }
}

/// SIGINT or SIGTERM: stop serving (a killed node is what the cluster's
/// expiry is for).
async fn shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// The ICE usernames (`a=ice-ufrag`) of the answers the bot has sent in a
/// call: its candidates of a username wait until an answer with it is out
/// (RFC 8838 §9: a candidate follows the description with its credentials;
/// before it, the caller's `addIceCandidate` fails, W3C webrtc-pc §4.4.1.6).
/// Dropped when the call ends: its task then sends no more candidates.
type Answered = tokio::sync::watch::Sender<Vec<String>>;

/// A call of the bot.
struct Call {
    /// Tells this call from a later one of the same caller.
    id: u64,
    pc: PeerConnection,
    answered: Answered,
    /// The caller's SDP session ([`sdp_session`] of its first offer).
    session: Option<String>,
}

/// Answers calls: one peer connection per caller, keyed by the caller's name.
async fn run_bot(mut bot: BotHandle) {
    let mut calls: HashMap<String, Call> = HashMap::new();
    let mut next_id = 0u64;
    // A call that ended on its own (closed by its task) is forgotten.
    let (ended_tx, mut ended) = tokio::sync::mpsc::unbounded_channel::<(String, u64)>();
    loop {
        let message = tokio::select! {
            message = bot.recv() => match message {
                Some(message) => message,
                None => break,
            },
            Some((caller, id)) = ended.recv() => {
                if calls.get(&caller).is_some_and(|c| c.id == id) {
                    calls.remove(&caller);
                }
                continue;
            }
        };
        let ServerMessage::Signal { from, signal } = message else {
            continue;
        };
        match signal {
            Signal::Offer { sdp } => {
                let session = sdp_session(&sdp);
                let mut existing = calls
                    .get(&from)
                    .map(|c| (c.pc.clone(), c.answered.clone(), c.session == session));
                // An offer of another SDP session comes from a new peer
                // connection of the caller: a new call, whatever state the
                // last one is in (still up, or its close_notify not yet
                // seen). A call that is closed, or whose DTLS failed (and
                // is closing itself), starts anew too; one whose ICE alone
                // failed takes the offer: the caller's ICE restart.
                if let Some((pc, _, same_session)) = &existing
                    && (!same_session
                        || pc.connection_state().await == PeerConnectionState::Closed
                        || pc.dtls_state().await == Some(DtlsTransportState::Failed))
                {
                    pc.close().await;
                    calls.remove(&from);
                    existing = None;
                }
                let (pc, answered) = match existing {
                    Some((pc, answered, _)) => (pc, answered),
                    None => match PeerConnection::new(Configuration::default()) {
                        Ok(pc) => {
                            let (answered, ufrags) = tokio::sync::watch::channel(Vec::new());
                            next_id += 1;
                            let id = next_id;
                            let ended = ended_tx.clone();
                            let (call_pc, caller, sender) =
                                (pc.clone(), from.clone(), bot.sender());
                            tokio::spawn(async move {
                                serve_call(call_pc, caller.clone(), sender, ufrags).await;
                                let _ = ended.send((caller, id));
                            });
                            let call = Call {
                                id,
                                pc: pc.clone(),
                                answered: answered.clone(),
                                session,
                            };
                            calls.insert(from.clone(), call);
                            (pc, answered)
                        }
                        Err(e) => {
                            tracing::warn!("bot: cannot create a peer connection: {e}");
                            hang_up(&bot, &from).await;
                            continue;
                        }
                    },
                };
                if let Err(e) = answer(&pc, sdp, &from, &bot.sender(), &answered).await {
                    tracing::warn!("bot: call from {from} failed: {e}");
                    if let Some(call) = calls.remove(&from) {
                        call.pc.close().await;
                    }
                    hang_up(&bot, &from).await;
                }
            }
            Signal::Candidate {
                candidate,
                sdp_mid,
                sdp_m_line_index,
                username_fragment,
            } => {
                if let Some(Call { pc, .. }) = calls.get(&from) {
                    let init = IceCandidateInit {
                        candidate,
                        sdp_mid,
                        sdp_m_line_index,
                        username_fragment,
                    };
                    if let Err(e) = pc.add_ice_candidate(init).await {
                        tracing::info!("bot: candidate from {from} refused: {e}");
                    }
                }
            }
            Signal::Bye {} => {
                if let Some(call) = calls.remove(&from) {
                    call.pc.close().await;
                }
            }
            // The bot never offers, so it expects no answer.
            Signal::Answer { .. } => tracing::info!("bot: unexpected answer from {from}"),
        }
    }
}

/// Tells `caller` that the bot ended the call: an offer it did not answer
/// would leave the caller waiting for an answer forever (nothing in the
/// offer/answer exchange times out).
async fn hang_up(bot: &BotHandle, caller: &str) {
    if bot.send(caller, Signal::Bye {}).await.is_err() {
        tracing::debug!("bot: no bye to {caller}: the signaling server is gone");
    }
}

async fn answer(
    pc: &PeerConnection,
    sdp: String,
    from: &str,
    sender: &BotSender,
    answered: &Answered,
) -> Result<(), BoxError> {
    pc.set_remote_description(SessionDescription {
        kind: SdpType::Offer,
        sdp,
    })
    .await?;
    // Every track the caller sends gets one back on its transceiver: a
    // track added now reuses the offered transceiver (W3C addTrack), so
    // the answer says sendrecv.
    let stream = MediaStream::new();
    for t in pc.get_transceivers().await {
        if t.direction() == RtpTransceiverDirection::RecvOnly && t.sender().track().is_none() {
            let track = MediaStreamTrack::new(t.kind(), "ferrtc-bot echo");
            pc.add_track(&track, &[&stream]).await?;
        }
    }
    let answer = pc.create_answer().await?;
    pc.set_local_description(Some(answer.clone())).await?;
    let ufrags = ice_ufrags(&answer.sdp);
    sender
        .send(from, Signal::Answer { sdp: answer.sdp })
        .await
        .map_err(|_| "the signaling server is gone")?;
    // The answer is queued: the candidates it credentials may follow.
    answered.send_modify(|sent| {
        for u in ufrags {
            if !sent.contains(&u) {
                sent.push(u);
            }
        }
    });
    Ok(())
}

/// The SDP session an offer belongs to: its `o=` line but the version.
/// RFC 3264 §8: every later offer of a session (a renegotiation, an ICE
/// restart) repeats the origin with only `<sess-version>` changed, so
/// another origin is a new session: the caller's new peer connection.
fn sdp_session(sdp: &str) -> Option<String> {
    let origin = sdp.lines().find_map(|l| l.trim_end().strip_prefix("o="))?;
    let mut fields = origin.split_ascii_whitespace();
    let (user, id, _version) = (fields.next()?, fields.next()?, fields.next()?);
    let rest: Vec<&str> = fields.collect();
    Some(format!("{user} {id} {}", rest.join(" ")))
}

/// The `a=ice-ufrag` values of an SDP.
fn ice_ufrags(sdp: &str) -> Vec<String> {
    sdp.lines()
        .filter_map(|l| l.trim_end().strip_prefix("a=ice-ufrag:"))
        .map(str::to_owned)
        .collect()
}

/// Waits until an answer with the ICE username `ufrag` (any, for a
/// candidate without one) is sent in the call; false if the call ended
/// first (its [`Answered`] dropped: its answer failed, a bye, a new call).
async fn answered_for(
    answered: &mut tokio::sync::watch::Receiver<Vec<String>>,
    ufrag: Option<&str>,
) -> bool {
    answered
        .wait_for(|sent| match ufrag {
            Some(u) => sent.iter().any(|s| s == u),
            None => !sent.is_empty(),
        })
        .await
        .is_ok()
        // `wait_for` is Ok for a ufrag answered before the call ended,
        // even once the sender is gone: a closed call sends nothing more.
        && answered.has_changed().is_ok()
}

/// Trickles the bot's candidates to the caller, each once an answer with
/// its ICE username is sent (`answered`), and serves its channels. Ends
/// the call, with a `bye`, once it has been `failed` for
/// [`FAILED_CALL_GRACE`] without an ICE restart.
async fn serve_call(
    pc: PeerConnection,
    caller: String,
    sender: BotSender,
    mut answered: tokio::sync::watch::Receiver<Vec<String>>,
) {
    // When a `failed` call is given up, unless the caller restarts ICE.
    let mut give_up: Option<tokio::time::Instant> = None;
    let mut answering = true;
    loop {
        let event = tokio::select! {
            event = pc.next_event() => match event {
                Some(event) => event,
                None => break,
            },
            // An answer sent since (the caller's ICE restart, RFC 8445
            // §9) starts the wait anew: its checks may take a while.
            changed = answered.changed(), if answering => {
                match changed {
                    Ok(()) if give_up.is_some() => {
                        give_up = Some(tokio::time::Instant::now() + FAILED_CALL_GRACE);
                    }
                    Ok(()) => {}
                    Err(_) => answering = false,
                }
                continue;
            }
            () = sleep_until_some(give_up) => {
                tracing::info!(
                    "bot: call from {caller} failed and was not restarted within {} s: ended",
                    FAILED_CALL_GRACE.as_secs()
                );
                pc.close().await;
                if sender.send(&caller, Signal::Bye {}).await.is_err() {
                    tracing::debug!("bot: no bye to {caller}: the signaling server is gone");
                }
                break;
            }
        };
        match event {
            PeerConnectionEvent::IceCandidate(c) => {
                if !answered_for(&mut answered, c.username_fragment.as_deref()).await {
                    break;
                }
                let signal = Signal::Candidate {
                    candidate: c.candidate,
                    sdp_mid: c.sdp_mid,
                    sdp_m_line_index: c.sdp_m_line_index,
                    username_fragment: c.username_fragment,
                };
                if sender.send(&caller, signal).await.is_err() {
                    break;
                }
            }
            PeerConnectionEvent::DataChannel(channel) => {
                tokio::spawn(serve_channel(pc.clone(), channel));
            }
            PeerConnectionEvent::Track(track) => {
                let TrackEvent {
                    receiver,
                    transceiver,
                    ..
                } = *track;
                tokio::spawn(echo_media(receiver, transceiver.sender()));
            }
            // A caller that closed (its close_notify) or whose DTLS failed
            // is closed here (its echo tasks end with it); a later offer
            // from the caller finds it closed and starts anew. A failed
            // ICE is not the end at once: the caller may restart it (W3C
            // webrtc-pc `restartIce()`) within FAILED_CALL_GRACE, or end
            // the call with its bye or departure.
            PeerConnectionEvent::DtlsStateChange(
                DtlsTransportState::Closed | DtlsTransportState::Failed,
            ) => {
                pc.close().await;
                break;
            }
            PeerConnectionEvent::ConnectionStateChange(PeerConnectionState::Closed) => break,
            PeerConnectionEvent::ConnectionStateChange(PeerConnectionState::Failed) => {
                give_up = Some(tokio::time::Instant::now() + FAILED_CALL_GRACE);
            }
            PeerConnectionEvent::ConnectionStateChange(_) => give_up = None,
            _ => {}
        }
    }
}

/// Sleeps until `deadline`; forever without one.
async fn sleep_until_some(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

async fn serve_channel(pc: PeerConnection, channel: DataChannel) {
    let result = match channel.label() {
        "file" => receive_file(&channel).await,
        _ => chat(&pc, &channel).await,
    };
    if let Err(e) = result {
        tracing::info!("bot: channel {:?} ended: {e}", channel.label());
        channel.close();
    }
}

/// Echoes chat lines; `/stats` gets the bot's `get_stats()` as JSON.
async fn chat(pc: &PeerConnection, channel: &DataChannel) -> Result<(), BoxError> {
    while let Some(event) = channel.recv().await {
        match event {
            DataChannelEvent::Message(message) => match &*message {
                DataChannelMessage::Text(line) if line.trim() == "/stats" => {
                    let report = pc.get_stats().await?;
                    channel.send_text(&report.to_json()).await?;
                }
                DataChannelMessage::Text(line) => channel.send_text(line).await?,
                DataChannelMessage::Binary(data) => channel.send_binary(data).await?,
            },
            DataChannelEvent::Close => break,
            _ => {}
        }
    }
    Ok(())
}

/// Sends every frame `receiver` gets back on `sender`, and passes the
/// caller's keyframe requests on to the caller's sender.
async fn echo_media(receiver: RtpReceiver, sender: RtpSender) {
    let requests = {
        let (receiver, sender) = (receiver.clone(), sender.clone());
        tokio::spawn(async move {
            while let Some(event) = sender.next_event().await {
                match event {
                    RtpSenderEvent::KeyframeRequest => {
                        if let Err(e) = receiver.request_keyframe().await {
                            tracing::debug!("bot: keyframe request not passed on: {e}");
                        }
                    }
                    other => tracing::debug!("bot: sender event {other:?}"),
                }
            }
        })
    };
    let mut frames = receiver.subscribe();
    let mut last: Option<u32> = None;
    // A frame's duration (how far the next one's RTP timestamp moves) is
    // known when the next one arrives; the last interval stands in for it.
    let mut duration = Duration::from_millis(20);
    while let Some(frame) = frames.recv().await {
        let clock = receiver
            .get_parameters()
            .codecs
            .first()
            .map_or(90_000, |c| c.clock_rate.max(1));
        if let Some(previous) = last {
            let ticks = frame.rtp_timestamp.wrapping_sub(previous);
            if ticks > 0 && ticks < clock {
                duration = Duration::from_secs_f64(f64::from(ticks) / f64::from(clock));
            }
        }
        last = Some(frame.rtp_timestamp);
        match sender.write_frame(&frame.data, duration) {
            Ok(()) => {}
            Err(Error::Closed) => break,
            // Not sending yet (before DTLS, say): this frame is skipped.
            Err(e) => tracing::debug!("bot: frame not echoed: {e}"),
        }
    }
    requests.abort();
}

#[derive(Deserialize)]
struct FileHeader {
    #[serde(rename = "type")]
    kind: String,
    size: u64,
}

/// Receives one file and answers with its size and SHA-256.
async fn receive_file(channel: &DataChannel) -> Result<(), BoxError> {
    let mut expected: Option<u64> = None;
    let mut received = 0u64;
    let mut hash = digest::Context::new(&digest::SHA256);
    while let Some(event) = channel.recv().await {
        match event {
            DataChannelEvent::Message(message) => match (&*message, expected) {
                (DataChannelMessage::Text(text), None) => {
                    let header: FileHeader = serde_json::from_str(text)?;
                    if header.kind != "file" {
                        return Err(
                            format!("expected a file header, got type {:?}", header.kind).into(),
                        );
                    }
                    if header.size > MAX_FILE {
                        return Err(format!(
                            "file of {} bytes is over the {MAX_FILE}-byte limit",
                            header.size
                        )
                        .into());
                    }
                    expected = Some(header.size);
                }
                (DataChannelMessage::Binary(data), expected) => {
                    let Some(size) = expected else {
                        return Err("file data before the header".into());
                    };
                    received += data.len() as u64;
                    if received > size {
                        return Err(format!("more than the announced {size} bytes").into());
                    }
                    hash.update(data);
                }
                (DataChannelMessage::Text(_), Some(_)) => {
                    return Err("unexpected text during a file".into());
                }
            },
            DataChannelEvent::Close => return Err("closed before the whole file arrived".into()),
            _ => {}
        }
        if expected == Some(received) {
            let sha256 = hex(hash.finish().as_ref());
            let reply =
                serde_json::json!({"type": "file-received", "size": received, "sha256": sha256});
            channel.send_text(&reply.to_string()).await?;
            return Ok(());
        }
    }
    Err("the connection ended before the whole file arrived".into())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::{ServerOptions, answered_for, hex, sdp_session};

    /// A call that ended (its answer sender dropped: the caller called
    /// anew, or said bye) sends no more candidates, not even those of
    /// ICE credentials it had answered: the caller has moved on, and its
    /// `addIceCandidate` would refuse them.
    #[tokio::test]
    async fn a_closed_call_sends_no_candidate_even_of_an_answered_ufrag() {
        let (answered, mut ufrags) = tokio::sync::watch::channel(Vec::new());
        answered.send_modify(|sent| sent.push("abcd".to_owned()));
        assert!(answered_for(&mut ufrags, Some("abcd")).await, "a live call");
        drop(answered);
        assert!(!answered_for(&mut ufrags, Some("abcd")).await);
        assert!(!answered_for(&mut ufrags, None).await);
        assert!(!answered_for(&mut ufrags, Some("efgh")).await);
    }

    #[test]
    fn hex_is_lower_case_two_digits_per_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xab, 0xff]), "000fabff");
    }

    #[test]
    fn an_sdp_session_is_its_origin_but_the_version() {
        let offer = |origin: &str| format!("v=0\r\no={origin}\r\ns=-\r\nt=0 0\r\n");
        let first = sdp_session(&offer("- 4611731400430051336 2 IN IP4 127.0.0.1"));
        let later = sdp_session(&offer("- 4611731400430051336 3 IN IP4 127.0.0.1"));
        let other = sdp_session(&offer("- 4611731400430051337 2 IN IP4 127.0.0.1"));
        assert!(first.is_some());
        assert_eq!(first, later, "a renegotiation keeps the session");
        assert_ne!(first, other, "another session id is a new session");
        assert_eq!(sdp_session("v=0\r\no=- 1\r\n"), None);
    }

    #[test]
    fn an_empty_secret_or_a_redis_url_of_another_scheme_is_refused() {
        let options = |redis: Option<&str>, secret: Option<&str>| ServerOptions {
            redis: redis.map(str::to_owned),
            secret: secret.map(str::to_owned),
        };
        let empty = options(None, Some("")).config().unwrap_err();
        assert_eq!(empty.to_string(), "--secret must not be empty");
        assert!(options(Some("http://x"), None).config().is_err());
        let ok = options(Some("redis://127.0.0.1:6379"), Some("s")).config();
        assert_eq!(ok.unwrap().secret.as_deref(), Some(&b"s"[..]));
    }
}
