//! The signaling server over real WebSockets on loopback: relaying, bad
//! input, disappearing clients, limits, the bot seam, and a bounded load test.

use std::net::SocketAddr;
use std::time::Duration;

use ferrtc_signal::{Gauge, ServerMessage, Signal, SignalConfig, bot, serve, serve_with_shutdown};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A test client: the WebSocket plus the last user list it was sent, since
/// lists may come at any point between other messages.
struct Ws {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    users: Option<Value>,
}

impl Ws {
    async fn send(
        &mut self,
        message: Message,
    ) -> Result<(), tokio_tungstenite::tungstenite::Error> {
        self.ws.send(message).await
    }

    async fn next(&mut self) -> Option<Result<Message, tokio_tungstenite::tungstenite::Error>> {
        let message = self.ws.next().await;
        if let Some(Ok(Message::Text(text))) = &message {
            if let Ok(value) = serde_json::from_str::<Value>(text) {
                if value["type"] == "users" {
                    self.users = Some(value["users"].clone());
                }
            }
        }
        message
    }

    async fn close(&mut self) {
        let _ = self.ws.close(None).await;
    }
}

const WAIT: Duration = Duration::from_secs(10);

async fn start(config: SignalConfig) -> (SocketAddr, Gauge) {
    let gauge = config.gauge.clone();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, config));
    (addr, gauge)
}

async fn connect(addr: SocketAddr) -> Ws {
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .unwrap();
    Ws { ws, users: None }
}

async fn send(ws: &mut Ws, value: Value) {
    ws.send(Message::text(value.to_string())).await.unwrap();
}

/// Reads until a JSON message of type `kind` arrives (skipping others), or
/// panics after [`WAIT`].
async fn expect(ws: &mut Ws, kind: &str) -> Value {
    let read = async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(&text).unwrap();
                    if value["type"] == kind {
                        return value;
                    }
                }
                Some(Ok(_)) => {}
                other => panic!("connection ended while waiting for {kind}: {other:?}"),
            }
        }
    };
    tokio::time::timeout(WAIT, read)
        .await
        .unwrap_or_else(|_| panic!("no {kind} message within {WAIT:?}"))
}

/// Reads until the latest user list satisfies `done`, or panics after [`WAIT`].
async fn expect_users(ws: &mut Ws, done: impl Fn(&Value) -> bool) {
    let read = async {
        while !ws.users.as_ref().is_some_and(&done) {
            if let Some(Err(_)) | None = ws.next().await {
                panic!("connection ended while waiting for a user list");
            }
        }
    };
    tokio::time::timeout(WAIT, read).await.unwrap_or_else(|_| {
        let shown = ws.users.as_ref().map(|u| {
            let text = u.to_string();
            text.chars().take(200).collect::<String>()
        });
        panic!("user list still {shown:?} after {WAIT:?}")
    });
}

async fn join(addr: SocketAddr, name: &str) -> Ws {
    let mut ws = connect(addr).await;
    send(&mut ws, json!({"type":"join","name":name})).await;
    assert_eq!(expect(&mut ws, "joined").await["name"], name);
    ws
}

/// Waits until the server's gauge satisfies `done`, or panics after [`WAIT`].
async fn until(gauge: &Gauge, what: &str, done: impl Fn(ferrtc_signal::GaugeSnapshot) -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !done(gauge.snapshot()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: gauge stuck at {:?}",
            gauge.snapshot()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn offer_answer_and_candidates_are_relayed_with_the_sender_name() {
    let (addr, _) = start(SignalConfig::default()).await;
    let mut alice = join(addr, "alice").await;
    let mut bob = join(addr, "bob").await;

    send(
        &mut alice,
        json!({"type":"offer","target":"bob","sdp":"v=0\r\n","extra":"dropped"}),
    )
    .await;
    assert_eq!(
        expect(&mut bob, "offer").await,
        json!({"type":"offer","from":"alice","sdp":"v=0\r\n"})
    );
    send(
        &mut bob,
        json!({"type":"answer","target":"alice","sdp":"v=0\r\n"}),
    )
    .await;
    assert_eq!(expect(&mut alice, "answer").await["from"], "bob");
    let candidate = json!({"type":"candidate","target":"alice","candidate":"candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host","sdpMid":"0","sdpMLineIndex":0});
    send(&mut bob, candidate).await;
    let got = expect(&mut alice, "candidate").await;
    assert_eq!(got["sdpMid"], "0");
    assert_eq!(got["sdpMLineIndex"], 0);
    assert_eq!(got["from"], "bob");
    send(&mut alice, json!({"type":"bye","target":"bob"})).await;
    assert_eq!(
        expect(&mut bob, "bye").await,
        json!({"type":"bye","from":"alice"})
    );
}

#[tokio::test]
async fn every_client_sees_the_user_list_change() {
    let (addr, _) = start(SignalConfig::default()).await;
    let mut watcher = connect(addr).await;
    expect_users(&mut watcher, |u| *u == json!([])).await;
    let _alice = join(addr, "alice").await;
    expect_users(&mut watcher, |u| *u == json!(["alice"])).await;
}

#[tokio::test]
async fn bad_input_gets_an_error_and_the_connection_stays_usable() {
    let (addr, _) = start(SignalConfig::default()).await;
    let mut ws = connect(addr).await;
    let cases: [(Message, &str); 6] = [
        (Message::text("{not json"), "bad-json"),
        (Message::text("[]"), "bad-message"),
        (Message::text(r#"{"type":"dance"}"#), "unknown-type"),
        (
            Message::text(r#"{"type":"offer","target":"bob","sdp":"x"}"#),
            "not-joined",
        ),
        (Message::binary(vec![1u8, 2, 3]), "binary"),
        (Message::text(r#"{"type":"join","name":"<b>"}"#), "bad-name"),
    ];
    for (message, code) in cases {
        ws.send(message).await.unwrap();
        let error = expect(&mut ws, "error").await;
        assert_eq!(error["code"], code, "{error}");
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    send(&mut ws, json!({"type":"join","name":"alice"})).await;
    assert_eq!(expect(&mut ws, "joined").await["name"], "alice");
}

#[tokio::test]
async fn unknown_targets_self_targets_and_taken_names_are_refused() {
    let (addr, _) = start(SignalConfig::default()).await;
    let mut alice = join(addr, "alice").await;
    send(&mut alice, json!({"type":"offer","target":"zed","sdp":"x"})).await;
    assert_eq!(expect(&mut alice, "error").await["code"], "unknown-target");
    send(
        &mut alice,
        json!({"type":"offer","target":"alice","sdp":"x"}),
    )
    .await;
    assert_eq!(expect(&mut alice, "error").await["code"], "self-target");
    send(&mut alice, json!({"type":"join","name":"alice2"})).await;
    assert_eq!(expect(&mut alice, "error").await["code"], "already-joined");

    let mut other = connect(addr).await;
    send(&mut other, json!({"type":"join","name":"alice"})).await;
    assert_eq!(expect(&mut other, "error").await["code"], "name-taken");
}

#[tokio::test]
async fn a_message_over_the_limit_is_refused_and_a_huge_one_closes_only_that_connection() {
    let (addr, gauge) = start(SignalConfig::default()).await;
    let mut alice = join(addr, "alice").await;
    let mut bob = join(addr, "bob").await;

    // Over max_message_bytes (64 KiB): an error, and the connection goes on.
    let big = json!({"type":"offer","target":"bob","sdp":"a".repeat(100 * 1024)});
    send(&mut alice, big).await;
    assert_eq!(expect(&mut alice, "error").await["code"], "too-large");
    send(
        &mut alice,
        json!({"type":"offer","target":"bob","sdp":"v=0"}),
    )
    .await;
    assert_eq!(expect(&mut bob, "offer").await["from"], "alice");

    // Over max_frame_bytes (1 MiB): the server closes this connection only.
    let huge = "x".repeat(2 * 1024 * 1024);
    let _ = alice.send(Message::text(huge)).await;
    let closed = tokio::time::timeout(WAIT, async {
        loop {
            match alice.next().await {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the huge message did not close the connection"
    );
    assert_eq!(expect(&mut bob, "bye").await["from"], "alice");
    until(&gauge, "alice removed", |g| g.users == 1 && g.sessions == 1).await;
    let _carol = join(addr, "carol").await;
}

#[tokio::test]
async fn a_client_that_disappears_is_removed_and_its_peers_are_told() {
    let (addr, gauge) = start(SignalConfig::default()).await;
    let mut alice = join(addr, "alice").await;
    let mut bob = join(addr, "bob").await;
    let _carol = join(addr, "carol").await;
    send(
        &mut alice,
        json!({"type":"offer","target":"bob","sdp":"v=0"}),
    )
    .await;
    expect(&mut bob, "offer").await;

    drop(alice); // no close frame: the TCP connection just goes away
    assert_eq!(
        expect(&mut bob, "bye").await,
        json!({"type":"bye","from":"alice"})
    );
    expect_users(&mut bob, |u| *u == json!(["bob", "carol"])).await;
    until(&gauge, "alice's session ended", |g| {
        g.sessions == 2 && g.users == 2 && g.room_clients == 2
    })
    .await;
}

#[tokio::test]
async fn a_silent_client_is_dropped_after_the_idle_timeout() {
    let mut config = SignalConfig::default();
    config.ping_interval = Duration::from_millis(50);
    config.idle_timeout = Duration::from_millis(300);
    let (addr, gauge) = start(config).await;
    // A client that never reads never answers the server's pings.
    let _silent = join(addr, "silent").await;
    until(&gauge, "silent client dropped", |g| {
        g.users == 0 && g.sessions == 0
    })
    .await;
}

#[tokio::test]
async fn connections_past_the_limit_get_http_503() {
    let mut config = SignalConfig::default();
    config.max_connections = 2;
    let (addr, gauge) = start(config).await;
    let _a = connect(addr).await;
    let _b = connect(addr).await;
    let third = tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await;
    match third {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 503);
        }
        other => panic!("third connection was not refused: {other:?}"),
    }
    assert_eq!(gauge.snapshot().rejected_total, 1);
}

#[tokio::test]
async fn the_room_refuses_joins_past_max_users() {
    let mut config = SignalConfig::default();
    config.max_users = 1;
    let (addr, _) = start(config).await;
    let _alice = join(addr, "alice").await;
    let mut bob = connect(addr).await;
    send(&mut bob, json!({"type":"join","name":"bob"})).await;
    assert_eq!(expect(&mut bob, "error").await["code"], "room-full");
}

/// Sends one HTTP/1.1 GET and returns the whole response as text.
async fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut response))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&response).into_owned()
}

#[tokio::test]
async fn the_web_app_and_health_are_served() {
    let (addr, _) = start(SignalConfig::default()).await;
    let page = http_get(addr, "/").await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("text/html"));
    assert!(page.contains("<script type=\"module\" src=\"/app.js\">"));
    let script = http_get(addr, "/app.js").await;
    assert!(script.contains("text/javascript"));
    assert!(script.contains("new RTCPeerConnection"));
    assert!(http_get(addr, "/app.css").await.contains("text/css"));
    let health = http_get(addr, "/health").await;
    assert!(health.contains("\"sessions\":0"), "{health}");
    assert!(http_get(addr, "/nope").await.starts_with("HTTP/1.1 404"));
}

/// The demo page cannot be framed by another site, and runs only its own
/// script: it is served with a Content-Security-Policy (W3C CSP Level 3)
/// whose `frame-ancestors 'none'` stops a page elsewhere from framing it
/// and tricking a click on "Broadcast" (camera and microphone to every
/// viewer), and whose `script-src 'self'` runs no inline or foreign script.
/// Every asset has `X-Content-Type-Options: nosniff` (WHATWG Fetch §3.5),
/// so none is read as another type.
#[tokio::test]
async fn the_web_app_is_served_with_a_content_security_policy_and_nosniff() {
    let (addr, _) = start(SignalConfig::default()).await;
    let page = http_get(addr, "/").await.to_ascii_lowercase();
    let csp = page
        .lines()
        .find_map(|line| line.strip_prefix("content-security-policy: "))
        .unwrap_or_else(|| panic!("no Content-Security-Policy: {page}"));
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} missing in {csp}");
    }
    for path in ["/", "/app.js", "/app.css", "/favicon.svg"] {
        let response = http_get(addr, path).await.to_ascii_lowercase();
        assert!(
            response.contains("x-content-type-options: nosniff"),
            "{path}: {response}"
        );
    }
}

#[tokio::test]
async fn shutdown_closes_sessions_with_going_away_and_returns() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_with_shutdown(
        listener,
        SignalConfig::default(),
        async {
            let _ = stopped.await;
        },
    ));
    let mut alice = join(addr, "alice").await;
    stop.send(()).unwrap();
    let close = tokio::time::timeout(WAIT, async {
        loop {
            match alice.next().await {
                Some(Ok(Message::Close(frame))) => return frame,
                Some(Ok(_)) => {}
                other => panic!("no close frame: {other:?}"),
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(close.map(|f| u16::from(f.code)), Some(1001));
    drop(alice);
    let result = tokio::time::timeout(WAIT, server).await.unwrap().unwrap();
    assert!(result.is_ok());
}

#[tokio::test]
async fn a_bot_is_a_user_that_exchanges_signals_through_its_handle() {
    let (port, mut handle) = bot("ferrtc-bot", 64).unwrap();
    let (addr, gauge) = start(SignalConfig::default().with_bot(port)).await;
    let mut alice = connect(addr).await;
    expect_users(&mut alice, |u| *u == json!(["ferrtc-bot"])).await;
    send(&mut alice, json!({"type":"join","name":"alice"})).await;
    expect(&mut alice, "joined").await;

    // Alice calls the bot; the bot answers through its handle.
    send(
        &mut alice,
        json!({"type":"offer","target":"ferrtc-bot","sdp":"v=0 offer"}),
    )
    .await;
    let offer = tokio::time::timeout(WAIT, async {
        loop {
            match handle.recv().await {
                Some(ServerMessage::Signal { from, signal }) => return (from, signal),
                Some(_) => {}
                None => panic!("server gone"),
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(
        offer,
        (
            "alice".to_owned(),
            Signal::Offer {
                sdp: "v=0 offer".into()
            }
        )
    );
    handle
        .sender()
        .send(
            "alice",
            Signal::Answer {
                sdp: "v=0 answer".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        expect(&mut alice, "answer").await,
        json!({"type":"answer","from":"ferrtc-bot","sdp":"v=0 answer"})
    );

    // A send to nobody comes back to the bot as an error.
    handle.send("zed", Signal::Bye {}).await.unwrap();
    let error = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(ServerMessage::Error { code, .. }) = handle.recv().await {
                return code;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(error, ferrtc_signal::ErrorCode::UnknownTarget);

    // Alice disappears: the bot is told.
    drop(alice);
    let bye = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(ServerMessage::Signal {
                from,
                signal: Signal::Bye {},
            }) = handle.recv().await
            {
                return from;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(bye, "alice");

    // Dropping the handle takes the bot out of the room.
    let mut watcher = connect(addr).await;
    drop(handle);
    expect_users(&mut watcher, |u| *u == json!([])).await;
    until(&gauge, "bot removed", |g| {
        g.users == 0 && g.room_clients == 1
    })
    .await;
}

#[tokio::test]
async fn without_a_bot_the_room_starts_empty() {
    let (addr, gauge) = start(SignalConfig::default()).await;
    let mut ws = connect(addr).await;
    expect_users(&mut ws, |u| *u == json!([])).await;
    assert_eq!(gauge.snapshot().users, 0);
}

/// 200 clients on loopback join at once, each waits until it sees all 200 in
/// the user list, then they all leave at once: half with a close frame, half by dropping the
/// TCP connection. The room must end empty with no session task left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_clients_join_and_leave_at_once_without_leaks() {
    const CLIENTS: usize = 200;
    let (addr, gauge) = start(SignalConfig::default()).await;
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(CLIENTS));
    let mut tasks = Vec::new();
    for i in 0..CLIENTS {
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            let mut ws = connect(addr).await;
            barrier.wait().await;
            send(&mut ws, json!({"type":"join","name":format!("user-{i}")})).await;
            expect(&mut ws, "joined").await;
            expect_users(&mut ws, |u| u.as_array().map(Vec::len) == Some(CLIENTS)).await;
            // Lists are coalesced (only the latest is sent), so nobody leaves
            // before everyone has seen the full room.
            barrier.wait().await;
            if i % 2 == 0 {
                ws.close().await;
            }
            drop(ws);
        }));
    }
    let all = tokio::time::timeout(Duration::from_secs(60), async {
        for task in tasks {
            task.await.unwrap();
        }
    })
    .await;
    assert!(
        all.is_ok(),
        "clients did not all finish: {:?}",
        gauge.snapshot()
    );
    let peak = gauge.snapshot();
    assert_eq!(peak.sessions_total, CLIENTS as u64);
    until(&gauge, "room empty after the storm", |g| {
        g.sessions == 0 && g.users == 0 && g.room_clients == 0
    })
    .await;
    assert_eq!(gauge.snapshot().kicked_total, 0);
}

/// A client that stops reading must not hold up the room: once its queue has
/// been full for a while (2 s, nothing taken) it is dropped, and the others
/// go on.
#[tokio::test]
async fn a_client_that_does_not_read_is_dropped_and_the_room_goes_on() {
    let mut config = SignalConfig::default();
    config.queue_len = 4;
    // The sender goes on sending until the stuck client is dropped.
    config.rate_limit = ferrtc_signal::RateLimit::new(100_000.0, 100_000, 50);
    let (addr, gauge) = start(config).await;
    let _stuck = join(addr, "stuck").await; // never read again
    let mut sender = join(addr, "sender").await;
    let offer = json!({"type":"offer","target":"stuck","sdp":"a".repeat(60 * 1024)});
    // Loopback socket buffers take some megabytes first; bounded at 200 MiB.
    for _ in 0..3_500 {
        if gauge.snapshot().kicked_total > 0 {
            break;
        }
        send(&mut sender, offer.clone()).await;
    }
    until(&gauge, "stuck client dropped", |g| {
        g.kicked_total == 1 && g.users == 1
    })
    .await;
    send(
        &mut sender,
        json!({"type":"offer","target":"stuck","sdp":"x"}),
    )
    .await;
    // Before that, offers that did not fit in the stuck client's full queue
    // were refused with `rate-limited`.
    loop {
        let code = expect(&mut sender, "error").await["code"].clone();
        if code != "rate-limited" {
            assert_eq!(code, "unknown-target");
            break;
        }
    }
}

/// A client that stops reading must give back its connection slot: once its
/// socket buffers are full, the server's writes to it block; every write
/// has a deadline (`idle_timeout`), after which the session ends and its
/// `max_connections` slot is free again (crate docs: a client that "does
/// not read its messages ... is removed"; RFC 6455 §7.1.7 lets an endpoint
/// drop a connection it cannot go on with).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_releases_its_connection_slot() {
    let mut config = SignalConfig::default();
    config.max_connections = 2;
    config.ping_interval = Duration::from_millis(100);
    config.idle_timeout = Duration::from_millis(500);
    config.rate_limit = ferrtc_signal::RateLimit::new(100_000.0, 100_000, 50);
    let (addr, gauge) = start(config).await;
    let _stuck = join(addr, "stuck").await; // never read (nor polled) again
    let mut sender = join(addr, "sender").await;
    let offer = json!({"type":"offer","target":"stuck","sdp":"a".repeat(60 * 1024)});
    // Loopback socket buffers take some megabytes first; bounded at 200 MiB.
    for _ in 0..3_500 {
        if gauge.snapshot().users < 2 {
            break;
        }
        sender
            .ws
            .send(Message::text(offer.to_string()))
            .await
            .unwrap();
    }
    // `sender` keeps reading (it answers pings); `stuck` stays silent.
    let drain = tokio::spawn(async move { while let Some(Ok(_)) = sender.next().await {} });
    until(&gauge, "the stuck client's session ends", |g| {
        g.users == 1 && g.sessions == 1
    })
    .await;
    // The slot is usable: a new client is not refused with 503.
    let third = tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await;
    assert!(third.is_ok(), "new client refused: {:?}", third.err());
    drain.abort();
}

/// "Too slow" is judged by progress, not by one burst: ten users each send
/// 90 candidates (within their bursts of 100) to one client that reads all
/// it gets. Its queue may fill for a moment; it is not dropped for that
/// (the senders of what did not fit get `rate-limited`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_reads_is_not_kicked_by_a_burst_of_signals() {
    let (addr, gauge) = start(SignalConfig::default()).await;
    let victim = join(addr, "victim").await;
    let reader = tokio::spawn(async move {
        let (_tx, mut rx) = victim.ws.split();
        let mut n = 0u32;
        loop {
            match rx.next().await {
                Some(Ok(Message::Close(f))) => return (n, format!("closed by the server: {f:?}")),
                Some(Ok(_)) => n += 1,
                other => return (n, format!("ended: {other:?}")),
            }
        }
    });
    let mut senders = Vec::new();
    for i in 0..10 {
        senders.push(join(addr, &format!("s{i}")).await);
    }
    let candidate = Message::text(
        json!({"type":"candidate","target":"victim","candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host","sdpMid":"0","sdpMLineIndex":0})
            .to_string(),
    );
    let mut tasks = Vec::new();
    for mut s in senders {
        let c = candidate.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..90 {
                s.ws.feed(c.clone()).await.unwrap();
            }
            s.ws.flush().await.unwrap();
            tokio::time::sleep(Duration::from_secs(3)).await;
            s
        }));
    }
    let mut senders = Vec::new();
    for t in tasks {
        senders.push(t.await.unwrap());
    }
    let snap = gauge.snapshot();
    let end = if reader.is_finished() {
        Some(reader.await.unwrap())
    } else {
        reader.abort();
        None
    };
    assert_eq!(
        snap.kicked_total, 0,
        "a client that reads was dropped as too slow by 900 small signals from 10 senders: {snap:?}, reader ended: {end:?}"
    );
    assert_eq!(snap.users, 11, "{snap:?}");
}

/// RFC 6455 §5.5.1: "If an endpoint receives a Close frame and did not
/// previously send a Close frame, the endpoint MUST send a Close frame in
/// response" (and §7.1.1: then the server closes the TCP connection).
#[tokio::test]
async fn a_client_close_is_answered_with_a_close_frame() {
    let (addr, gauge) = start(SignalConfig::default()).await;
    let mut alice = join(addr, "alice").await;
    let frame = tokio_tungstenite::tungstenite::protocol::CloseFrame {
        code: 1000u16.into(),
        reason: "bye".into(),
    };
    alice.send(Message::Close(Some(frame))).await.unwrap();
    let answer = tokio::time::timeout(WAIT, async {
        loop {
            match alice.next().await {
                Some(Ok(Message::Close(frame))) => return Ok(frame),
                Some(Ok(_)) => {}
                other => return Err(format!("{other:?}")),
            }
        }
    })
    .await
    .expect("nothing within the wait");
    let code = answer.map(|frame| frame.map(|f| u16::from(f.code)));
    assert_eq!(code, Ok(Some(1000)), "the client's Close was not answered");
    until(&gauge, "alice's session ends", |g| g.sessions == 0).await;
}
/// A connection that sends part of an HTTP request head and then nothing is
/// closed after [`SignalConfig::header_read_timeout`] (slowloris on the
/// upgrade): it would otherwise hold a socket and a task for ever, outside
/// `max_connections`. RFC 9112 §9.8 lets a server close an idle connection.
#[tokio::test]
async fn a_partial_upgrade_request_is_timed_out() {
    let mut config = SignalConfig::default();
    config.header_read_timeout = Duration::from_millis(500);
    let (addr, _) = start(config).await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(WAIT, tcp.read_to_end(&mut buf)).await;
    assert!(
        read.is_ok(),
        "the half-sent upgrade request is still open after {WAIT:?}"
    );
    // A complete request on another connection is still served.
    assert!(http_get(addr, "/health").await.starts_with("HTTP/1.1 200"));
}
