//! The async driver: axum routes, one task per WebSocket session, one task
//! that owns the [`Room`], one forwarding task per bot.
//!
//! Sessions and bots talk to the room task over a bounded command channel;
//! the room task never waits on a client: it hands each message to the
//! client's bounded queue with `try_send` and drops a client that lets its
//! queue fill up, so one slow or stuck browser cannot hold up the others.
//! The user list is published through a `watch` channel, which coalesces a
//! burst of joins into one list per client.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade, close_code};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior};

use crate::assets;
use crate::bot::BotPort;
use crate::config::SignalConfig;
use crate::error::SignalError;
use crate::gauge::{Gauge, SessionGuard};
use crate::protocol::{ClientMessage, ServerMessage};
use crate::room::{ClientId, Room};

/// Commands queued to the room task.
enum Command {
    Connect {
        id: ClientId,
        outbox: Outbox,
    },
    Message {
        id: ClientId,
        message: ClientMessage,
    },
    Disconnect {
        id: ClientId,
    },
}

/// Where the room task puts a client's messages.
struct Outbox {
    tx: mpsc::Sender<ServerMessage>,
    /// Browsers that stop reading are dropped; a busy bot loses the message
    /// instead, so the demo never loses its bot.
    drop_client_when_full: bool,
}

/// What every session needs, shared by the routes.
#[derive(Clone)]
struct AppState {
    room: mpsc::Sender<Command>,
    users: watch::Receiver<Arc<str>>,
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
        gauge,
        bots,
    } = config;
    let limits = Limits {
        max_message_bytes,
        max_frame_bytes: max_frame_bytes.max(max_message_bytes),
        max_connections,
        queue_len: queue_len.max(1),
        ping_interval: ping_interval.max(Duration::from_millis(10)),
        idle_timeout,
    };
    let (room_tx, room_rx) = mpsc::channel(1024);
    let (users_tx, users_rx) = watch::channel(users_json(&[]));
    let (stop_tx, stop_rx) = watch::channel(false);
    let next_id = Arc::new(AtomicU64::new(1));

    tokio::spawn(run_room(
        Room::new(max_users),
        room_rx,
        users_tx,
        gauge.clone(),
    ));
    for port in bots {
        let id = ClientId(next_id.fetch_add(1, Ordering::Relaxed));
        tokio::spawn(run_bot(id, port, room_tx.clone(), users_rx.clone()));
    }

    let state = AppState {
        room: room_tx,
        users: users_rx,
        stop: stop_rx,
        next_id,
        limits: Arc::new(limits),
        gauge,
    };
    let app = Router::new()
        .route(
            "/",
            get(|| async { asset(assets::INDEX_HTML, "text/html; charset=utf-8") }),
        )
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
        .with_state(state);
    tracing::info!(addr = ?listener.local_addr().ok(), "signaling server listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        })
        .await
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn health(State(state): State<AppState>) -> Response {
    axum::Json(state.gauge.snapshot()).into_response()
}

async fn upgrade(State(state): State<AppState>, ws: WebSocketUpgrade) -> Response {
    let Some(guard) = state.gauge.try_open_session(state.limits.max_connections) else {
        return (StatusCode::SERVICE_UNAVAILABLE, "too many connections").into_response();
    };
    let max = state.limits.max_frame_bytes;
    ws.max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| session(socket, state, guard))
}

fn users_json(users: &[String]) -> Arc<str> {
    ServerMessage::Users {
        users: users.to_vec(),
    }
    .to_json()
    .into()
}

/// The room task: applies commands in order and routes what comes out.
async fn run_room(
    mut room: Room,
    mut commands: mpsc::Receiver<Command>,
    users: watch::Sender<Arc<str>>,
    gauge: Gauge,
) {
    let mut outboxes: HashMap<ClientId, Outbox> = HashMap::new();
    while let Some(command) = commands.recv().await {
        match command {
            Command::Connect { id, outbox } => {
                room.connect(id);
                outboxes.insert(id, outbox);
            }
            Command::Message { id, message } => {
                if let Err(error) = room.handle(id, message) {
                    if let Some(outbox) = outboxes.get(&id) {
                        // Best effort: a client too busy to take its own
                        // error loses it; its next messages show why.
                        let _ = outbox.tx.try_send(ServerMessage::from(&error));
                    }
                }
            }
            Command::Disconnect { id } => {
                room.disconnect(id);
                outboxes.remove(&id);
            }
        }
        while let Some((to, message)) = room.poll_delivery() {
            let Some(outbox) = outboxes.get(&to) else {
                continue;
            };
            match outbox.tx.try_send(message) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) if !outbox.drop_client_when_full => {
                    tracing::warn!(client = to.0, "bot queue full; message dropped");
                }
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::warn!(client = to.0, "client does not read its messages; dropped");
                    gauge.count_kick();
                    outboxes.remove(&to);
                    room.disconnect(to);
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    outboxes.remove(&to);
                    room.disconnect(to);
                }
            }
        }
        if room.take_users_changed() {
            users.send_replace(users_json(&room.users()));
        }
        gauge.set_room(room.user_count(), room.client_count());
    }
}

/// Seats one bot: joins it, forwards its signals, and removes it when its
/// handle is dropped.
async fn run_bot(
    id: ClientId,
    port: BotPort,
    room: mpsc::Sender<Command>,
    mut users: watch::Receiver<Arc<str>>,
) {
    let BotPort {
        name,
        to_bot,
        mut from_bot,
    } = port;
    let outbox = Outbox {
        tx: to_bot.clone(),
        drop_client_when_full: false,
    };
    let join = ClientMessage::Join { name: name.clone() };
    if room.send(Command::Connect { id, outbox }).await.is_err()
        || room
            .send(Command::Message { id, message: join })
            .await
            .is_err()
    {
        return;
    }
    users.mark_changed();
    loop {
        tokio::select! {
            command = from_bot.recv() => {
                let Some(command) = command else { break };
                let message = ClientMessage::Signal { target: command.target, signal: command.signal };
                if room.send(Command::Message { id, message }).await.is_err() {
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
    let _ = room.send(Command::Disconnect { id }).await;
}

/// One WebSocket client, from upgrade to close.
async fn session(mut socket: WebSocket, state: AppState, guard: SessionGuard) {
    let id = ClientId(state.next_id.fetch_add(1, Ordering::Relaxed));
    let (tx, mut outbox) = mpsc::channel(state.limits.queue_len);
    let connect = Command::Connect {
        id,
        outbox: Outbox {
            tx,
            drop_client_when_full: true,
        },
    };
    if state.room.send(connect).await.is_err() {
        return;
    }
    let mut users = state.users.clone();
    users.mark_changed();
    let mut stop = state.stop.clone();
    let limits = &state.limits;
    let mut ping = tokio::time::interval(limits.ping_interval);
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_seen = Instant::now();

    let close: Option<CloseFrame> = loop {
        tokio::select! {
            frame = socket.recv() => {
                last_seen = Instant::now();
                let text = match frame {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Binary(_))) => {
                        if reply(&mut socket, &SignalError::Binary).await.is_err() { break None; }
                        continue;
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_))) | None => break None,
                    Some(Err(error)) => {
                        tracing::debug!(client = id.0, %error, "websocket read failed");
                        break Some(CloseFrame { code: close_code::SIZE, reason: Utf8Bytes::from_static("read failed or message too big") });
                    }
                };
                if text.len() > limits.max_message_bytes {
                    let error = SignalError::TooLarge { len: text.len(), max: limits.max_message_bytes };
                    if reply(&mut socket, &error).await.is_err() { break None; }
                    continue;
                }
                match ClientMessage::parse(text.as_str()) {
                    Ok(message) => {
                        if state.room.send(Command::Message { id, message }).await.is_err() {
                            break Some(going_away());
                        }
                    }
                    Err(error) => {
                        if reply(&mut socket, &error).await.is_err() { break None; }
                    }
                }
            }
            message = outbox.recv() => {
                // `None`: the room dropped this client (too slow) or stopped.
                let Some(message) = message else {
                    break Some(CloseFrame { code: close_code::POLICY, reason: Utf8Bytes::from_static("dropped: messages not read in time") });
                };
                if socket.send(Message::Text(message.to_json().into())).await.is_err() { break None; }
            }
            changed = users.changed() => {
                if changed.is_err() { break Some(going_away()); }
                let list = users.borrow_and_update().clone();
                if socket.send(Message::Text(list.as_ref().into())).await.is_err() { break None; }
            }
            _ = ping.tick() => {
                if last_seen.elapsed() > limits.idle_timeout {
                    tracing::debug!(client = id.0, "client silent past the idle timeout");
                    break None;
                }
                if socket.send(Message::Ping(Default::default())).await.is_err() { break None; }
            }
            _ = stop.changed() => break Some(going_away()),
        }
    };
    let _ = state.room.send(Command::Disconnect { id }).await;
    if let Some(frame) = close {
        let _ = socket.send(Message::Close(Some(frame))).await;
    }
    drop(guard);
}

fn going_away() -> CloseFrame {
    CloseFrame {
        code: close_code::AWAY,
        reason: Utf8Bytes::from_static("server going away"),
    }
}

async fn reply(socket: &mut WebSocket, error: &SignalError) -> Result<(), axum::Error> {
    let text = ServerMessage::from(error).to_json();
    socket.send(Message::Text(text.into())).await
}
