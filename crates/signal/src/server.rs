//! The async driver: axum routes, one task per WebSocket session, one task
//! that owns the [`Hub`], one forwarding task per bot, and in a cluster one
//! task that talks to Redis ([`crate::cluster`]).
//!
//! Sessions and bots talk to the hub task over a bounded command channel;
//! the hub task never waits on a client nor on Redis: it hands each message
//! to the client's bounded queue with `try_send`; a signal that does not fit
//! is refused to its sender, and a client whose queue stays full (nothing
//! taken for [`STALLED`]) is dropped, so one slow or stuck browser cannot
//! hold up the others; it queues cluster operations the same way. Every
//! write to a socket has a deadline (the idle timeout). Each room's user
//! list is published through a `watch` channel, which coalesces a burst of
//! joins into one list per client.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::SinkExt;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, MissedTickBehavior};

use crate::assets;
use crate::bot::BotPort;
use crate::cluster::{self, Event, Op};
use crate::config::SignalConfig;
use crate::error::SignalError;
use crate::gauge::{Gauge, SessionGuard};
use crate::hub::{Claim, ClientId, Hub, Output};
use crate::protocol::{ClientMessage, DEFAULT_ROOM, ServerMessage, Signal, validate_room};
use crate::ratelimit::{RateLimit, TokenBucket, Verdict};
use crate::token::{Token, TokenError, unix_now};

/// Commands queued to the hub task.
enum Command {
    Connect {
        id: ClientId,
        room: String,
        outbox: Outbox,
        /// Where the hub sends the room's user-list channel back.
        users: oneshot::Sender<watch::Receiver<Arc<str>>>,
    },
    Message {
        id: ClientId,
        message: ClientMessage,
    },
    Disconnect {
        id: ClientId,
    },
}

/// Where the hub task puts a client's messages.
struct Outbox {
    tx: mpsc::Sender<ServerMessage>,
    /// Browsers that stop reading are dropped; a busy bot never is (the
    /// demo never loses its bot): what does not fit in its queue is
    /// refused to its sender or held, as for any client.
    drop_client_when_full: bool,
    /// Since when the queue has been seen full, with nothing taken from it
    /// since (see [`STALLED`]).
    full_since: Option<Instant>,
    /// Messages no sender can be asked to send again (a `bye` of a client
    /// that left, a user list, a signal from another node) that did not
    /// fit: they go first when the queue has room, at most [`MAX_HELD`].
    held: VecDeque<ServerMessage>,
}

impl Outbox {
    fn new(tx: mpsc::Sender<ServerMessage>, drop_client_when_full: bool) -> Self {
        Self {
            tx,
            drop_client_when_full,
            full_since: None,
            held: VecDeque::new(),
        }
    }

    /// Moves held messages into the queue while it has room; whether none
    /// is left held.
    fn release_held(&mut self) -> bool {
        while let Some(message) = self.held.pop_front() {
            match self.tx.try_send(message) {
                Ok(()) => self.full_since = None,
                Err(mpsc::error::TrySendError::Full(message)) => {
                    self.held.push_front(message);
                    return false;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    self.held.clear();
                    return true;
                }
            }
        }
        true
    }
}

/// Messages held for one client whose queue is full (see [`Outbox::held`]):
/// past it the client is dropped as too slow.
const MAX_HELD: usize = 64;

/// A client whose queue stays full this long, nothing taken from it, is
/// dropped as too slow. A queue full for a moment is a burst (several users
/// signalling one at once, each within its rate limit), not a slow client:
/// what does not fit is refused to its sender with `rate-limited`.
const STALLED: Duration = Duration::from_secs(2);

/// How often the hub looks for clients stalled past [`STALLED`].
const STALL_CHECK: Duration = Duration::from_millis(500);

/// The `retry_after_ms` told to a sender whose signal did not fit in its
/// target's queue.
const BUSY_RETRY_MS: u64 = 250;

/// What every session needs, shared by the routes.
#[derive(Clone)]
struct AppState {
    hub: mpsc::Sender<Command>,
    stop: watch::Receiver<bool>,
    next_id: Arc<AtomicU64>,
    limits: Arc<Limits>,
    gauge: Gauge,
}

struct Limits {
    max_message_bytes: usize,
    max_frame_bytes: usize,
    max_connections: usize,
    queue_len: usize,
    ping_interval: Duration,
    idle_timeout: Duration,
    secret: Option<Vec<u8>>,
    allowed_origins: Vec<String>,
    rate_limit: RateLimit,
}

/// Serves the demo web app and the signaling WebSocket (`/ws`) on `listener`
/// until the process ends. See the crate docs for the routes and protocol.
pub async fn serve(listener: TcpListener, config: SignalConfig) -> io::Result<()> {
    serve_with_shutdown(listener, config, std::future::pending()).await
}

/// As [`serve`], and stops when `shutdown` completes: open WebSocket
/// sessions are closed with code 1001 (going away) and the function returns.
pub async fn serve_with_shutdown(
    listener: TcpListener,
    config: SignalConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let SignalConfig {
        max_message_bytes,
        max_frame_bytes,
        max_connections,
        max_users,
        queue_len,
        ping_interval,
        idle_timeout,
        header_read_timeout,
        secret,
        allowed_origins,
        rate_limit,
        redis,
        gauge,
        bots,
        media,
    } = config;
    let whip = crate::whip_routes::WhipState::new(
        media,
        secret.clone(),
        max_message_bytes,
        allowed_origins.clone(),
    );
    let limits = Limits {
        max_message_bytes,
        max_frame_bytes: max_frame_bytes.max(max_message_bytes),
        max_connections,
        queue_len: queue_len.max(1),
        ping_interval: ping_interval.max(Duration::from_millis(10)),
        idle_timeout,
        secret,
        allowed_origins,
        rate_limit,
    };
    let (hub_tx, hub_rx) = mpsc::channel(1024);
    let (stop_tx, stop_rx) = watch::channel(false);
    let next_id = Arc::new(AtomicU64::new(1));

    let (hub, cluster) = match redis {
        None => (Hub::new(max_users), None),
        Some(url) => {
            let client = redis::Client::open(url.as_str()).map_err(|e| {
                io::Error::new(io::ErrorKind::InvalidInput, format!("--redis {url}: {e}"))
            })?;
            let node = cluster::new_node_id();
            tracing::info!(%node, "signaling node of a cluster");
            let (ops_tx, ops_rx) = mpsc::channel(64 * 1024);
            let (events_tx, events_rx) = mpsc::channel(64 * 1024);
            let settings = cluster::Settings { node, max_users };
            tokio::spawn(cluster::run(client, settings, ops_rx, events_tx));
            (Hub::clustered(max_users), Some((ops_tx, events_rx)))
        }
    };
    tokio::spawn(run_hub(hub, hub_rx, cluster, gauge.clone()));
    for port in bots {
        let id = ClientId(next_id.fetch_add(1, Ordering::Relaxed));
        tokio::spawn(run_bot(id, port, hub_tx.clone()));
    }

    let state = AppState {
        hub: hub_tx,
        stop: stop_rx,
        next_id,
        limits: Arc::new(limits),
        gauge,
    };
    let app = Router::new()
        .route("/", get(|| async { page(assets::INDEX_HTML) }))
        .route(
            "/app.js",
            get(|| async { asset(assets::APP_JS, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/app.css",
            get(|| async { asset(assets::APP_CSS, "text/css; charset=utf-8") }),
        )
        .route(
            "/favicon.svg",
            get(|| async { asset(assets::FAVICON_SVG, "image/svg+xml") }),
        )
        .route("/health", get(health))
        .route("/ws", get(upgrade))
        .with_state(state)
        .merge(crate::whip_routes::routes(whip));
    tracing::info!(addr = ?listener.local_addr().ok(), "signaling server listening");
    // Handlers get the client's address (`ConnectInfo`): the WHIP/WHEP
    // `POST` rate limit is per address.
    crate::http::serve(listener, app, header_read_timeout, async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    })
    .await
}

/// One of the web app's files: revalidated on each use (`no-cache`), and
/// never read as another type than the one given (`nosniff`, WHATWG Fetch
/// §3.5).
fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// The policy of the demo page (W3C Content Security Policy Level 3): its
/// own script, styles and icon only; images also from `data:` (the photos
/// it takes); requests (the WebSocket, WHIP and WHEP) to its own origin; no
/// plugins, no `<base>`, no form posts; and no framing by any page
/// (`frame-ancestors 'none'`), so that another site cannot overlay it and
/// trick a click on "Broadcast" or "Video". Media streams are set as
/// `srcObject`, which the policy does not govern.
const PAGE_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
    base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// `GET /`: the page, with [`PAGE_POLICY`].
fn page(body: &'static str) -> Response {
    let mut response = asset(body, "text/html; charset=utf-8");
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static(PAGE_POLICY),
    );
    response
}

async fn health(State(state): State<AppState>) -> Response {
    axum::Json(state.gauge.snapshot()).into_response()
}

/// Read and write buffer of each WebSocket, bytes.
const IO_BUFFER: usize = 8 * 1024;

/// The room and token a connection asked for in `/ws?room=..&token=..`.
struct Admission {
    room: String,
    token: Option<Token>,
}

/// Checks the query of `/ws`: the room name, and the token's shape and
/// expiry when a secret is set (its MAC is checked at `join`, with the name).
fn admit(limits: &Limits, query: Option<&str>) -> Result<Admission, SignalError> {
    let mut room = None;
    let mut token = None;
    for (key, value) in query.map(query_pairs).unwrap_or_default() {
        match key.as_str() {
            "room" => room = Some(value),
            "token" => token = Some(value),
            _ => {}
        }
    }
    let room = room.unwrap_or_else(|| DEFAULT_ROOM.to_owned());
    validate_room(&room)?;
    let token = match (&limits.secret, token) {
        (None, _) => None,
        (Some(_), None) => return Err(TokenError::Missing.into()),
        (Some(_), Some(text)) => {
            let token = Token::parse(&text)?;
            token.check_expiry(unix_now())?;
            Some(token)
        }
    };
    Ok(Admission { room, token })
}

/// `application/x-www-form-urlencoded` pairs (`+` is a space, `%XX` a byte);
/// pairs that do not decode to UTF-8 are skipped.
fn query_pairs(query: &str) -> Vec<(String, String)> {
    fn decode(s: &str) -> Option<String> {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' => {
                    let hex = s.get(i + 1..i + 3)?;
                    out.push(u8::from_str_radix(hex, 16).ok()?);
                    i += 2;
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8(out).ok()
    }
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Some((decode(k)?, decode(v)?))
        })
        .collect()
}

async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    ws: WebSocketUpgrade,
) -> Response {
    // Browsers say which page opened the socket; other clients send no Origin.
    if !state.limits.allowed_origins.is_empty()
        && let Some(origin) = headers.get(header::ORIGIN)
        && !state
            .limits
            .allowed_origins
            .iter()
            .any(|allowed| origin.as_bytes() == allowed.as_bytes())
    {
        return (StatusCode::FORBIDDEN, "origin not allowed").into_response();
    }
    let Some(guard) = state.gauge.try_open_session(state.limits.max_connections) else {
        return (StatusCode::SERVICE_UNAVAILABLE, "too many connections").into_response();
    };
    let admission = admit(&state.limits, query.as_deref());
    let max = state.limits.max_frame_bytes;
    // Signaling messages are small: buffers of a few KiB (instead of
    // tungstenite's 128 KiB each way) keep a connected client cheap; larger
    // messages still fit, in more reads.
    ws.max_message_size(max)
        .max_frame_size(max)
        .read_buffer_size(IO_BUFFER)
        .write_buffer_size(IO_BUFFER)
        .max_write_buffer_size(max.saturating_mul(2).max(IO_BUFFER + 1))
        .on_upgrade(move |socket| async move {
            match admission {
                Ok(admission) => session(socket, state, guard, admission).await,
                // A browser cannot read an HTTP refusal of a WebSocket: it
                // gets the protocol's error, then the close.
                Err(error) => refuse(socket, &error, state.limits.idle_timeout).await,
            }
        })
}

/// Sends `error` and closes with 1008 (policy violation); each write waits
/// at most `deadline`.
async fn refuse(mut socket: WebSocket, error: &SignalError, deadline: Duration) {
    if reply(&mut socket, error, deadline).await.is_err() {
        return;
    }
    let frame = CloseFrame {
        code: close_code::POLICY,
        reason: Utf8Bytes::from(error.code_str()),
    };
    close_gracefully(&mut socket, frame, deadline).await;
}

fn users_json(users: &[String]) -> Arc<str> {
    ServerMessage::Users {
        users: users.to_vec(),
    }
    .to_json()
    .into()
}

type Cluster = (mpsc::Sender<Op>, mpsc::Receiver<Event>);

/// The hub task: applies commands and cluster events in order and routes
/// what comes out.
async fn run_hub(
    mut hub: Hub,
    mut commands: mpsc::Receiver<Command>,
    cluster: Option<Cluster>,
    gauge: Gauge,
) {
    let (ops, mut events) = match cluster {
        Some((ops, events)) => (Some(ops), Some(events)),
        None => (None, None),
    };
    let mut outboxes: HashMap<ClientId, Outbox> = HashMap::new();
    let mut lists: HashMap<String, watch::Sender<Arc<str>>> = HashMap::new();
    let mut resync = tokio::time::interval(RESYNC);
    resync.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut stall_check = tokio::time::interval(STALL_CHECK);
    stall_check.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        let event = async {
            match events.as_mut() {
                Some(rx) => rx.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            command = commands.recv() => {
                let Some(command) = command else { break };
                apply(&mut hub, command, &mut outboxes, &mut lists);
                // Take what else is queued, so that one user list goes out
                // for a burst of joins.
                for _ in 0..256 {
                    match commands.try_recv() {
                        Ok(command) => apply(&mut hub, command, &mut outboxes, &mut lists),
                        Err(_) => break,
                    }
                }
            }
            event = event => match event {
                Some(event) => on_event(&mut hub, event, &gauge),
                // The cluster task is gone; go on alone.
                None => events = None,
            },
            _ = resync.tick() => hub.resync(),
            _ = stall_check.tick() => drop_stalled(&mut hub, &mut outboxes, &gauge),
        }
        flush(&mut hub, &mut outboxes, ops.as_ref(), &gauge);
        publish_lists(&mut hub, &mut lists);
        gauge.set_room(
            hub.user_count(),
            hub.client_count(),
            hub.remote_user_count(),
        );
    }
}

/// Publishes the user list of every room that changed; forgets the list of
/// a room that is gone.
fn publish_lists(hub: &mut Hub, lists: &mut HashMap<String, watch::Sender<Arc<str>>>) {
    for room in hub.take_dirty_rooms() {
        if !hub.has_room(&room) {
            lists.remove(&room);
        } else if let Some(list) = lists.get(&room) {
            list.send_replace(users_json(&hub.users(&room)));
        }
    }
}

/// How often a cluster node re-reads its rooms from Redis, whatever the
/// notices said.
const RESYNC: Duration = Duration::from_secs(10);

fn apply(
    hub: &mut Hub,
    command: Command,
    outboxes: &mut HashMap<ClientId, Outbox>,
    lists: &mut HashMap<String, watch::Sender<Arc<str>>>,
) {
    match command {
        Command::Connect {
            id,
            room,
            outbox,
            users,
        } => {
            hub.connect(id, &room);
            outboxes.insert(id, outbox);
            let list = lists
                .entry(room.clone())
                .or_insert_with(|| watch::channel(users_json(&hub.users(&room))).0);
            let _ = users.send(list.subscribe());
        }
        Command::Message { id, message } => {
            if let Err(error) = hub.handle(id, message)
                && let Some(outbox) = outboxes.get(&id)
            {
                // Best effort: a client too busy to take its own error
                // loses it; its next messages show why.
                let _ = outbox.tx.try_send(ServerMessage::from(&error));
            }
        }
        Command::Disconnect { id } => {
            hub.disconnect(id);
            outboxes.remove(&id);
        }
    }
}

fn on_event(hub: &mut Hub, event: Event, gauge: &Gauge) {
    match event {
        Event::Up => {
            gauge.set_cluster_up(true);
            hub.cluster_up();
        }
        Event::Down => {
            gauge.set_cluster_up(false);
            hub.cluster_down();
        }
        Event::Claimed {
            client,
            room,
            name,
            result,
        } => hub.claimed(client, &room, &name, result),
        Event::Message(message) => hub.node_message(message),
        Event::Snapshot { room, members } => hub.room_snapshot(&room, members),
        Event::NodeGone(node) => hub.node_gone(&node),
    }
}

/// Drops the clients whose queue has been full for [`STALLED`] with
/// nothing taken from it; forgets the fullness of queues that moved.
fn drop_stalled(hub: &mut Hub, outboxes: &mut HashMap<ClientId, Outbox>, gauge: &Gauge) {
    let now = Instant::now();
    let mut stalled = Vec::new();
    for (&id, outbox) in outboxes.iter_mut() {
        if outbox.full_since.is_none() && outbox.held.is_empty() {
            continue;
        }
        // Held messages move first; anything taken clears `full_since`.
        if outbox.release_held() && outbox.tx.capacity() > 0 {
            outbox.full_since = None;
            continue;
        }
        // Still full, or still holding: stalled if nothing moved for long.
        let since = *outbox.full_since.get_or_insert(now);
        if outbox.drop_client_when_full && now.duration_since(since) >= STALLED {
            stalled.push(id);
        }
    }
    for id in stalled {
        tracing::warn!(client = id.0, "client does not read its messages; dropped");
        gauge.count_kick();
        outboxes.remove(&id);
        hub.disconnect(id);
    }
}

/// Carries out what the hub asked for.
fn flush(
    hub: &mut Hub,
    outboxes: &mut HashMap<ClientId, Outbox>,
    ops: Option<&mpsc::Sender<Op>>,
    gauge: &Gauge,
) {
    while let Some(output) = hub.poll_output() {
        let op = match output {
            Output::Deliver { to, message } => {
                let Some(outbox) = outboxes.get_mut(&to) else {
                    continue;
                };
                // Held messages go first: a new one waits behind them.
                let sent = if outbox.release_held() {
                    outbox.tx.try_send(message)
                } else {
                    Err(mpsc::error::TrySendError::Full(message))
                };
                match sent {
                    Ok(()) => outbox.full_since = None,
                    Err(mpsc::error::TrySendError::Full(message)) => {
                        let now = Instant::now();
                        let since = *outbox.full_since.get_or_insert(now);
                        // A busy bot is never dropped (see `Outbox`).
                        let kick = outbox.drop_client_when_full;
                        if kick && now.duration_since(since) >= STALLED {
                            tracing::warn!(
                                client = to.0,
                                "client does not read its messages; dropped"
                            );
                            gauge.count_kick();
                            outboxes.remove(&to);
                            hub.disconnect(to);
                        } else if !refuse_sender(hub, outboxes, to, &message, gauge) {
                            // Nobody to ask again: held, or the client
                            // is too slow.
                            let held = outboxes.get_mut(&to).map(|o| &mut o.held);
                            if let Some(held) = held.filter(|h| h.len() < MAX_HELD) {
                                held.push_back(message);
                            } else if !kick {
                                tracing::warn!(
                                    client = to.0,
                                    "bot too far behind; message dropped"
                                );
                            } else {
                                tracing::warn!(client = to.0, "client too far behind; dropped");
                                gauge.count_kick();
                                outboxes.remove(&to);
                                hub.disconnect(to);
                            }
                        }
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => {
                        outboxes.remove(&to);
                        hub.disconnect(to);
                    }
                }
                continue;
            }
            Output::Kick { client, error } => {
                // The error is queued before the queue closes: the session
                // sends it, then closes the connection.
                if let Some(outbox) = outboxes.remove(&client) {
                    let _ = outbox.tx.try_send(ServerMessage::from(&error));
                }
                hub.disconnect(client);
                continue;
            }
            Output::Claim { client, room, name } => Op::Claim { client, room, name },
            Output::Release { room, name } => Op::Release { room, name },
            Output::Forward { node, message } => Op::Forward { node, message },
            Output::Sync { room } => Op::Sync { room },
            Output::Reconcile { held } => Op::Reconcile { held },
        };
        let sent = match ops {
            Some(ops) => ops.try_send(op).map_err(|e| e.into_inner()),
            None => Err(op),
        };
        if let Err(op) = sent {
            match op {
                // Held locally; claimed again when the cluster catches up.
                Op::Claim { client, room, name } => {
                    hub.claimed(client, &room, &name, Claim::Unreachable);
                }
                other => tracing::warn!(?other, "cluster queue full; operation dropped"),
            }
        }
    }
}

/// A signal for `to` did not fit in its full queue: its sender, when it is a
/// local client, gets `rate-limited` (it may send again shortly). Whether
/// it was refused so (else the caller holds it).
fn refuse_sender(
    hub: &Hub,
    outboxes: &HashMap<ClientId, Outbox>,
    to: ClientId,
    message: &ServerMessage,
    gauge: &Gauge,
) -> bool {
    let ServerMessage::Signal { from, signal } = message else {
        return false;
    };
    if matches!(signal, Signal::Bye {}) {
        // The hang-up of a client that may be gone: never refused.
        return false;
    }
    let Some(outbox) = hub
        .local_client_near(to, from)
        .and_then(|sender| outboxes.get(&sender))
    else {
        return false;
    };
    tracing::debug!(client = to.0, "client's queue full; signal refused");
    gauge.count_rate_limited();
    let error = SignalError::RateLimited {
        retry_after_ms: BUSY_RETRY_MS,
    };
    // Best effort, as the other errors.
    let _ = outbox.tx.try_send(ServerMessage::from(&error));
    true
}

/// Seats one bot in the default room: joins it, forwards its signals, and
/// removes it when its handle is dropped.
async fn run_bot(id: ClientId, port: BotPort, hub: mpsc::Sender<Command>) {
    let BotPort {
        name,
        to_bot,
        mut from_bot,
    } = port;
    let outbox = Outbox::new(to_bot.clone(), false);
    let (users_tx, users_rx) = oneshot::channel();
    let connect = Command::Connect {
        id,
        room: DEFAULT_ROOM.to_owned(),
        outbox,
        users: users_tx,
    };
    let join = ClientMessage::Join { name: name.clone() };
    if hub.send(connect).await.is_err()
        || hub
            .send(Command::Message { id, message: join })
            .await
            .is_err()
    {
        return;
    }
    let Ok(mut users) = users_rx.await else {
        return;
    };
    users.mark_changed();
    loop {
        tokio::select! {
            command = from_bot.recv() => {
                let Some(command) = command else { break };
                let message = ClientMessage::Signal { target: command.target, signal: command.signal };
                if hub.send(Command::Message { id, message }).await.is_err() {
                    return;
                }
            }
            changed = users.changed() => {
                if changed.is_err() {
                    return;
                }
                let list = users.borrow_and_update().clone();
                if let Ok(message) = ServerMessage::parse(&list) {
                    let _ = to_bot.try_send(message);
                }
            }
            () = to_bot.closed() => break,
        }
    }
    tracing::info!(bot = %name, "bot left the room");
    let _ = hub.send(Command::Disconnect { id }).await;
}

/// One WebSocket client, from upgrade to close.
async fn session(
    mut socket: WebSocket,
    state: AppState,
    guard: SessionGuard,
    admission: Admission,
) {
    let id = ClientId(state.next_id.fetch_add(1, Ordering::Relaxed));
    let Admission { room, token } = admission;
    let (tx, mut outbox) = mpsc::channel(state.limits.queue_len);
    let (users_tx, users_rx) = oneshot::channel();
    let connect = Command::Connect {
        id,
        room: room.clone(),
        outbox: Outbox::new(tx, true),
        users: users_tx,
    };
    if state.hub.send(connect).await.is_err() {
        return;
    }
    let Ok(mut users) = users_rx.await else {
        return;
    };
    users.mark_changed();
    let mut stop = state.stop.clone();
    let limits = &state.limits;
    // With a secret, a token's MAC is checked at `join`: until then the
    // connection learns nothing of the room, not even who is in it.
    let mut admitted = limits.secret.is_none();
    let mut ping = tokio::time::interval(limits.ping_interval);
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_seen = Instant::now();
    let mut bucket = TokenBucket::new(limits.rate_limit, std::time::Instant::now());
    // Every write waits at most this long: a client that stops reading
    // fills its socket buffers, and its writes would block for ever.
    let deadline = limits.idle_timeout;

    let ending = loop {
        tokio::select! {
            frame = socket.recv() => {
                last_seen = Instant::now();
                let frame = match frame {
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_))) => break Ending::Answer,
                    None => break Ending::Drop,
                    Some(Err(error)) => {
                        tracing::debug!(client = id.0, %error, "websocket read failed");
                        break Ending::Close(CloseFrame { code: close_code::SIZE, reason: Utf8Bytes::from_static("read failed or message too big") });
                    }
                    Some(Ok(frame)) => frame,
                };
                match bucket.take(std::time::Instant::now()) {
                    Verdict::Allow => {}
                    verdict => {
                        state.gauge.count_rate_limited();
                        let error = SignalError::RateLimited { retry_after_ms: bucket.retry_after().as_millis().min(u128::from(u64::MAX)) as u64 };
                        if let Err(failed) = reply(&mut socket, &error, deadline).await { break failed.ending(); }
                        if verdict == Verdict::Disconnect {
                            tracing::info!(client = id.0, "client over its rate limit; disconnected");
                            break Ending::Close(CloseFrame { code: close_code::POLICY, reason: Utf8Bytes::from_static("rate-limited") });
                        }
                        continue;
                    }
                }
                let text = match frame {
                    Message::Text(text) => text,
                    _ => {
                        if let Err(failed) = reply(&mut socket, &SignalError::Binary, deadline).await { break failed.ending(); }
                        continue;
                    }
                };
                if text.len() > limits.max_message_bytes {
                    let error = SignalError::TooLarge { len: text.len(), max: limits.max_message_bytes };
                    if let Err(failed) = reply(&mut socket, &error, deadline).await { break failed.ending(); }
                    continue;
                }
                let message = match ClientMessage::parse(text.as_str()) {
                    Ok(message) => message,
                    Err(error) => {
                        if let Err(failed) = reply(&mut socket, &error, deadline).await { break failed.ending(); }
                        continue;
                    }
                };
                // With a secret, the token must be for this room and name.
                if let (ClientMessage::Join { name }, Some(secret)) = (&message, &limits.secret) {
                    let checked = token
                        .as_ref()
                        .ok_or(TokenError::Missing)
                        .and_then(|t| t.verify(secret, &room, name, unix_now()));
                    if let Err(e) = checked {
                        let error = SignalError::from(e);
                        if let Err(failed) = reply(&mut socket, &error, deadline).await { break failed.ending(); }
                        break Ending::Close(CloseFrame { code: close_code::POLICY, reason: Utf8Bytes::from(error.code_str()) });
                    }
                    admitted = true;
                }
                if state.hub.send(Command::Message { id, message }).await.is_err() {
                    break Ending::Close(going_away());
                }
            }
            message = outbox.recv() => {
                // `None`: the hub removed this client (too slow, or kicked
                // after the error it was just sent) or stopped.
                let Some(message) = message else {
                    break Ending::Close(CloseFrame { code: close_code::POLICY, reason: Utf8Bytes::from_static("removed by the server") });
                };
                if let Err(failed) = write(&mut socket, Message::Text(message.to_json().into()), deadline).await { break failed.ending(); }
            }
            changed = users.changed(), if admitted => {
                if changed.is_err() { break Ending::Close(going_away()); }
                let list = users.borrow_and_update().clone();
                if let Err(failed) = write(&mut socket, Message::Text(list.as_ref().into()), deadline).await { break failed.ending(); }
            }
            _ = ping.tick() => {
                if last_seen.elapsed() > limits.idle_timeout {
                    tracing::debug!(client = id.0, "client silent past the idle timeout");
                    break Ending::Drop;
                }
                if let Err(failed) = write(&mut socket, Message::Ping(Default::default()), deadline).await { break failed.ending(); }
            }
            _ = stop.changed() => break Ending::Close(going_away()),
        }
    };
    if let Ending::Stuck = ending {
        tracing::warn!(client = id.0, "client does not read its messages; dropped");
        // Counted once: not when the hub dropped it already (its queue is
        // closed then).
        if !outbox.is_closed() {
            state.gauge.count_kick();
        }
    }
    let _ = state.hub.send(Command::Disconnect { id }).await;
    match ending {
        Ending::Close(frame) => close_gracefully(&mut socket, frame, deadline).await,
        Ending::Answer => answer_close(&mut socket, deadline).await,
        Ending::Drop | Ending::Stuck => {}
    }
    drop(guard);
}

/// How a session ends.
enum Ending {
    /// The connection is gone or failed: nothing more is sent.
    Drop,
    /// A write to the client did not complete within the write deadline:
    /// it stopped reading. Dropped without a close handshake, which would
    /// wait on the same full buffers.
    Stuck,
    /// Send this close frame, then wait a moment for the client's.
    Close(CloseFrame),
    /// The client sent a close frame: answer it.
    Answer,
}

/// A write to a client that did not go through.
#[derive(Debug)]
enum WriteFailed {
    /// The connection failed or is closed.
    Socket,
    /// The client did not take the bytes within the deadline.
    Deadline,
}

impl WriteFailed {
    fn ending(self) -> Ending {
        match self {
            Self::Socket => Ending::Drop,
            Self::Deadline => Ending::Stuck,
        }
    }
}

/// Sends `message`, waiting at most `deadline` for the client to take it: a
/// client that stops reading must not hold its session (and its connection
/// slot) for ever (RFC 6455 §7.1.7: an endpoint may drop a connection it
/// cannot go on with).
async fn write(
    socket: &mut WebSocket,
    message: Message,
    deadline: Duration,
) -> Result<(), WriteFailed> {
    match tokio::time::timeout(deadline, socket.send(message)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(WriteFailed::Socket),
        Err(_) => Err(WriteFailed::Deadline),
    }
}

/// Sends the close frame (waiting at most `deadline`) and reads (dropping)
/// what the client still sends until its own close (RFC 6455 section
/// 7.1.1), for at most a second: a socket closed with unread data is reset,
/// and the reset can destroy the error message sent just before.
async fn close_gracefully(socket: &mut WebSocket, frame: CloseFrame, deadline: Duration) {
    if write(socket, Message::Close(Some(frame)), deadline)
        .await
        .is_err()
    {
        return;
    }
    let drain = async {
        while let Some(Ok(message)) = socket.recv().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
}

/// Answers the client's close frame (RFC 6455 §5.5.1: an endpoint that
/// receives a Close frame and did not send one "MUST send a Close frame in
/// response"; §7.1.1: then the server closes the TCP connection, which
/// dropping the socket does). The WebSocket queued the answer, echoing the
/// client's status code, when it read the client's frame; flushing sends
/// it, within `deadline`.
async fn answer_close(socket: &mut WebSocket, deadline: Duration) {
    // The flush ends with "connection closed" once the handshake is done.
    let _ = tokio::time::timeout(deadline, socket.flush()).await;
}

fn going_away() -> CloseFrame {
    CloseFrame {
        code: close_code::AWAY,
        reason: Utf8Bytes::from_static("server going away"),
    }
}

/// Sends `error` as the protocol's error message, within `deadline`.
async fn reply(
    socket: &mut WebSocket,
    error: &SignalError,
    deadline: Duration,
) -> Result<(), WriteFailed> {
    let text = ServerMessage::from(error).to_json();
    write(socket, Message::Text(text.into()), deadline).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(secret: Option<&[u8]>) -> Limits {
        Limits {
            max_message_bytes: 1,
            max_frame_bytes: 1,
            max_connections: 1,
            queue_len: 1,
            ping_interval: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(1),
            secret: secret.map(<[u8]>::to_vec),
            allowed_origins: Vec::new(),
            rate_limit: RateLimit::default(),
        }
    }

    #[test]
    fn lists_of_rooms_nobody_joined_are_forgotten_after_connect_close_cycles() {
        let mut hub = Hub::new(10);
        let mut outboxes = HashMap::new();
        let mut lists = HashMap::new();
        for i in 0..50u64 {
            let (tx, _rx) = mpsc::channel(1);
            let (users, _users_rx) = oneshot::channel();
            let connect = Command::Connect {
                id: ClientId(i),
                room: format!("room-{i}"),
                outbox: Outbox::new(tx, true),
                users,
            };
            apply(&mut hub, connect, &mut outboxes, &mut lists);
            publish_lists(&mut hub, &mut lists);
            assert_eq!(lists.len(), 1);
            apply(
                &mut hub,
                Command::Disconnect { id: ClientId(i) },
                &mut outboxes,
                &mut lists,
            );
            publish_lists(&mut hub, &mut lists);
        }
        assert!(lists.is_empty(), "{} lists left", lists.len());
        assert!(outboxes.is_empty());
    }

    #[test]
    fn the_query_names_the_room_percent_decoded_and_the_default_room_otherwise() {
        let l = limits(None);
        assert_eq!(admit(&l, None).unwrap().room, DEFAULT_ROOM);
        assert_eq!(
            admit(&l, Some("room=team%20one&x=1")).unwrap().room,
            "team one"
        );
        assert_eq!(admit(&l, Some("room=a+b")).unwrap().room, "a b");
        let bad = admit(&l, Some("room=%3Cscript%3E")).map(|_| ());
        assert_eq!(bad.map_err(|e| e.code()), Err(crate::ErrorCode::BadRoom));
        let broken = admit(&l, Some("room=%zz")).unwrap();
        assert_eq!(broken.room, DEFAULT_ROOM, "an undecodable pair is skipped");
    }

    #[test]
    fn with_a_secret_a_token_is_required_well_formed_and_unexpired() {
        let l = limits(Some(b"s"));
        let code = |q: Option<&str>| admit(&l, q).map(|_| ()).map_err(|e| e.code());
        assert_eq!(code(None), Err(crate::ErrorCode::BadToken));
        assert_eq!(code(Some("token=junk")), Err(crate::ErrorCode::BadToken));
        let expired = crate::token::mint(b"s", DEFAULT_ROOM, "a", 1);
        assert_eq!(
            code(Some(&format!("token={expired}"))),
            Err(crate::ErrorCode::BadToken)
        );
        let fine = crate::token::mint(b"s", DEFAULT_ROOM, "a", unix_now() + 60);
        assert_eq!(code(Some(&format!("token={fine}"))), Ok(()));
    }

    /// A hub with its outboxes, as the hub task drives it, for tests that
    /// step through deliveries.
    struct Room {
        hub: Hub,
        outboxes: HashMap<ClientId, Outbox>,
        lists: HashMap<String, watch::Sender<Arc<str>>>,
        gauge: Gauge,
    }

    impl Room {
        fn new() -> Room {
            Room {
                hub: Hub::new(10),
                outboxes: HashMap::new(),
                lists: HashMap::new(),
                gauge: Gauge::default(),
            }
        }

        /// Client `id` joins as `name`, with a queue of `room` messages.
        fn join(&mut self, id: u64, name: &str, room: usize) -> mpsc::Receiver<ServerMessage> {
            let (tx, rx) = mpsc::channel(room);
            let (users, _users) = oneshot::channel();
            let connect = Command::Connect {
                id: ClientId(id),
                room: "r".into(),
                outbox: Outbox::new(tx, true),
                users,
            };
            apply(&mut self.hub, connect, &mut self.outboxes, &mut self.lists);
            self.send(id, &format!(r#"{{"type":"join","name":"{name}"}}"#));
            rx
        }

        /// The bot `id` joins as `name`, with a queue of `room` messages.
        fn join_bot(&mut self, id: u64, name: &str, room: usize) -> mpsc::Receiver<ServerMessage> {
            let (tx, rx) = mpsc::channel(room);
            let (users, _users) = oneshot::channel();
            let connect = Command::Connect {
                id: ClientId(id),
                room: "r".into(),
                outbox: Outbox::new(tx, false),
                users,
            };
            apply(&mut self.hub, connect, &mut self.outboxes, &mut self.lists);
            self.send(id, &format!(r#"{{"type":"join","name":"{name}"}}"#));
            rx
        }

        /// Client `id` sends `json`; what it causes is delivered.
        fn send(&mut self, id: u64, json: &str) {
            let message = Command::Message {
                id: ClientId(id),
                message: ClientMessage::parse(json).unwrap(),
            };
            self.apply(message);
        }

        fn leave(&mut self, id: u64) {
            self.apply(Command::Disconnect { id: ClientId(id) });
        }

        fn apply(&mut self, command: Command) {
            apply(&mut self.hub, command, &mut self.outboxes, &mut self.lists);
            flush(&mut self.hub, &mut self.outboxes, None, &self.gauge);
        }

        fn drop_stalled(&mut self) {
            drop_stalled(&mut self.hub, &mut self.outboxes, &self.gauge);
        }
    }

    const OFFER_TO_BOB: &str = r#"{"type":"offer","target":"bob","sdp":"v=0"}"#;

    /// A `bye` (or any message no sender can be asked to send again) that
    /// meets a briefly full queue is held and delivered once there is
    /// room, in order; the client is not dropped for it.
    #[test]
    fn a_departures_bye_to_a_briefly_full_queue_is_held_and_delivered() {
        let mut room = Room::new();
        let _alice = room.join(1, "alice", 64);
        let mut bob = room.join(2, "bob", 2);
        while bob.try_recv().is_ok() {}
        for _ in 0..3 {
            room.send(1, OFFER_TO_BOB);
        }
        room.leave(1);
        assert!(
            room.outboxes.contains_key(&ClientId(2)),
            "bob is still connected"
        );
        let mut got = Vec::new();
        for _ in 0..4 {
            while let Ok(m) = bob.try_recv() {
                got.push(m.to_json());
            }
            room.drop_stalled();
        }
        // The offers that fit, then the bye, held until there was room.
        assert!(
            got.last().is_some_and(|j| j.contains(r#""type":"bye""#)),
            "{got:?}"
        );
        assert!(got[..got.len() - 1].iter().all(|j| j.contains("offer")));
    }

    /// Bob's queue (room for 2) full of alice's offers, and carol paired
    /// with him by an offer refused: then both leave, and their two byes
    /// are held for bob.
    fn two_byes_held_for_bob() -> (Room, mpsc::Receiver<ServerMessage>) {
        let mut room = Room::new();
        let _alice = room.join(1, "alice", 64);
        let mut bob = room.join(2, "bob", 2);
        let _carol = room.join(3, "carol", 64);
        while bob.try_recv().is_ok() {}
        for from in [1, 1, 3] {
            room.send(from, OFFER_TO_BOB);
        }
        room.leave(1);
        room.leave(3);
        assert_eq!(room.outboxes[&ClientId(2)].held.len(), 2, "two byes held");
        (room, bob)
    }

    /// Held messages keep moving as the client reads, with nothing new
    /// for it (a quiet room): every held bye arrives.
    #[test]
    fn held_byes_all_reach_a_client_that_reads_in_a_quiet_room() {
        let (mut room, mut bob) = two_byes_held_for_bob();
        let mut got = vec![bob.try_recv().unwrap().to_json()];
        for _ in 0..10 {
            room.drop_stalled();
            while let Ok(m) = bob.try_recv() {
                got.push(m.to_json());
            }
        }
        let byes = got.iter().filter(|j| j.contains(r#""type":"bye""#)).count();
        assert_eq!(byes, 2, "{got:?}");
    }

    /// A bot busy with other callers (its queue full) is never dropped,
    /// and loses nothing silently: an offer that does not fit is refused
    /// to its sender with `rate-limited` (who may send it again), and a
    /// departing caller's `bye` is held and delivered once the bot reads.
    #[test]
    fn a_busy_bot_refuses_signals_to_their_senders_and_holds_byes() {
        let mut room = Room::new();
        let mut bot = room.join_bot(1, "bot", 1);
        let mut alice = room.join(2, "alice", 64);
        while bot.try_recv().is_ok() {}
        while alice.try_recv().is_ok() {}
        let offer = r#"{"type":"offer","target":"bot","sdp":"v=0"}"#;
        room.send(2, offer);
        room.send(2, offer);
        let refused = alice.try_recv().map(|m| m.to_json());
        assert!(
            refused
                .as_ref()
                .is_ok_and(|j| j.contains(r#""code":"rate-limited""#)),
            "the second offer is refused to alice: {refused:?}"
        );
        room.leave(2);
        let long_ago = Instant::now().checked_sub(STALLED + Duration::from_millis(100));
        room.outboxes.get_mut(&ClientId(1)).unwrap().full_since = long_ago;
        room.drop_stalled();
        assert!(room.outboxes.contains_key(&ClientId(1)), "the bot stays");
        let mut got = Vec::new();
        for _ in 0..3 {
            while let Ok(m) = bot.try_recv() {
                got.push(m.to_json());
            }
            room.drop_stalled();
        }
        assert_eq!(got.len(), 2, "the first offer, then the bye: {got:?}");
        assert!(got[0].contains(r#""type":"offer""#), "{got:?}");
        assert!(got[1].contains(r#""type":"bye""#), "{got:?}");
        assert!(room.outboxes.contains_key(&ClientId(1)), "the bot stays");
    }

    /// A client whose queue was full for long but that just took a
    /// message is not dropped as stalled.
    #[test]
    fn a_client_that_just_read_is_not_dropped_as_stalled() {
        let (mut room, mut bob) = two_byes_held_for_bob();
        let long_ago = Instant::now().checked_sub(STALLED + Duration::from_millis(100));
        room.outboxes.get_mut(&ClientId(2)).unwrap().full_since = long_ago;
        bob.try_recv().unwrap();
        room.drop_stalled();
        assert!(room.outboxes.contains_key(&ClientId(2)));
    }
}
