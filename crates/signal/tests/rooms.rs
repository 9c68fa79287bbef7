//! Rooms, join tokens, the Origin allow-list and the rate limit of one
//! signaling server, over real WebSockets on loopback.

#![cfg(feature = "server")]

use std::net::SocketAddr;
use std::time::Duration;

use ferrtc_signal::token::{mint, unix_now};
use ferrtc_signal::{
    ClientMessage, ErrorCode, RateLimit, ServerMessage, Signal, SignalConfig, serve,
};
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A client and the last user list it was sent (lists may come at any
/// point between other messages, also before `joined`).
struct Ws {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    users: Option<Vec<String>>,
}
const WAIT: Duration = Duration::from_secs(10);

async fn start(config: SignalConfig) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, config));
    addr
}

async fn connect(addr: SocketAddr, query: &str) -> Ws {
    let ws = tokio_tungstenite::connect_async(format!("ws://{addr}/ws{query}"))
        .await
        .unwrap()
        .0;
    Ws { ws, users: None }
}

async fn send(ws: &mut Ws, message: ClientMessage) {
    ws.ws.send(Message::text(message.to_json())).await.unwrap();
}

/// The next message satisfying `want`; `None` when the server closed.
async fn next_matching(
    ws: &mut Ws,
    want: impl Fn(&ServerMessage) -> bool,
) -> Option<ServerMessage> {
    tokio::time::timeout(WAIT, async {
        loop {
            match ws.ws.next().await {
                Some(Ok(Message::Text(text))) => {
                    let message = ServerMessage::parse(&text).unwrap();
                    if let ServerMessage::Users { users } = &message {
                        ws.users = Some(users.clone());
                    }
                    if want(&message) {
                        return Some(message);
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => {}
            }
        }
    })
    .await
    .expect("in time")
}

async fn expect_error(ws: &mut Ws, code: ErrorCode) {
    let got = next_matching(ws, |m| matches!(m, ServerMessage::Error { .. })).await;
    assert!(
        matches!(&got, Some(ServerMessage::Error { code: c, .. }) if *c == code),
        "expected {code:?}, got {got:?}"
    );
}

async fn expect_closed(ws: &mut Ws) {
    assert_eq!(next_matching(ws, |_| false).await, None);
}

async fn join(addr: SocketAddr, query: &str, name: &str) -> Ws {
    let mut ws = connect(addr, query).await;
    send(&mut ws, ClientMessage::Join { name: name.into() }).await;
    let joined = next_matching(&mut ws, |m| {
        matches!(
            m,
            ServerMessage::Joined { .. } | ServerMessage::Error { .. }
        )
    })
    .await;
    assert!(
        matches!(joined, Some(ServerMessage::Joined { .. })),
        "{joined:?}"
    );
    ws
}

async fn users_become(ws: &mut Ws, want: &[&str]) {
    if ws
        .users
        .as_ref()
        .is_some_and(|u| u.iter().map(String::as_str).eq(want.iter().copied()))
    {
        return;
    }
    let got = next_matching(ws, |m| {
        matches!(m, ServerMessage::Users { users } if users.iter().map(String::as_str).eq(want.iter().copied()))
    })
    .await;
    assert!(got.is_some(), "user list never became {want:?}");
}

fn offer(sdp: &str) -> ClientMessage {
    ClientMessage::Signal {
        target: String::new(),
        signal: Signal::Offer { sdp: sdp.into() },
    }
}

fn to(target: &str, message: ClientMessage) -> ClientMessage {
    match message {
        ClientMessage::Signal { signal, .. } => ClientMessage::Signal {
            target: target.into(),
            signal,
        },
        other => other,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_room_has_its_own_names_user_list_and_signals() {
    let addr = start(SignalConfig::default()).await;
    let mut alice = join(addr, "?room=blue", "alice").await;
    let mut bob = join(addr, "?room=blue", "bob").await;
    let mut alice2 = join(addr, "?room=red", "alice").await;
    let mut lobby = join(addr, "", "carol").await;
    users_become(&mut alice, &["alice", "bob"]).await;
    users_become(&mut alice2, &["alice"]).await;
    users_become(&mut lobby, &["carol"]).await;

    send(&mut alice2, to("bob", offer("red"))).await;
    expect_error(&mut alice2, ErrorCode::UnknownTarget).await;
    send(&mut lobby, to("alice", offer("lobby"))).await;
    expect_error(&mut lobby, ErrorCode::UnknownTarget).await;
    send(&mut bob, to("alice", offer("blue"))).await;
    let got = next_matching(&mut alice, |m| matches!(m, ServerMessage::Signal { .. })).await;
    assert_eq!(
        got,
        Some(ServerMessage::Signal {
            from: "bob".into(),
            signal: Signal::Offer { sdp: "blue".into() }
        })
    );
    // `?room=default` is the room of `/ws` without a room.
    let mut dave = join(addr, "?room=default", "dave").await;
    users_become(&mut dave, &["carol", "dave"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_room_name_is_refused_with_bad_room_and_closed() {
    let addr = start(SignalConfig::default()).await;
    let mut ws = connect(addr, "?room=%3Cb%3E").await;
    expect_error(&mut ws, ErrorCode::BadRoom).await;
    expect_closed(&mut ws).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_secret_only_a_valid_unexpired_token_for_the_room_and_name_joins() {
    let mut config = SignalConfig::default();
    config.secret = Some(b"k".to_vec());
    let addr = start(config).await;
    let later = unix_now() + 60;

    let good = mint(b"k", "r", "alice", later);
    join(addr, &format!("?room=r&token={good}"), "alice").await;

    for (query, name) in [
        (String::from("?room=r"), "bob"),
        (
            format!("?room=r&token={}", mint(b"k", "r", "bob", 1)),
            "bob",
        ),
        (
            format!("?room=r&token={}", mint(b"x", "r", "bob", later)),
            "bob",
        ),
        (
            format!("?room=r&token={}", mint(b"k", "other", "bob", later)),
            "bob",
        ),
        (
            format!("?room=r&token={}", mint(b"k", "r", "bob", later)),
            "eve",
        ),
        (String::from("?room=r&token=12.zz"), "bob"),
    ] {
        let mut ws = connect(addr, &query).await;
        // Refused at the upgrade (missing, malformed, expired) or at join.
        let _ = ws
            .ws
            .send(Message::text(
                ClientMessage::Join { name: name.into() }.to_json(),
            ))
            .await;
        expect_error(&mut ws, ErrorCode::BadToken).await;
        expect_closed(&mut ws).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_secret_a_forged_token_learns_nothing_of_the_room_before_its_refusal() {
    let mut config = SignalConfig::default();
    config.secret = Some(b"k".to_vec());
    let addr = start(config).await;
    let later = unix_now() + 60;
    let good = mint(b"k", "r", "alice", later);
    let mut alice = join(addr, &format!("?room=r&token={good}"), "alice").await;
    users_become(&mut alice, &["alice"]).await;

    // Well formed and unexpired, but signed with another key.
    let forged = mint(b"x", "r", "mallory", later);
    let mut ws = connect(addr, &format!("?room=r&token={forged}")).await;
    // Give the server time to send the list it must not send.
    tokio::time::sleep(Duration::from_millis(300)).await;
    send(
        &mut ws,
        ClientMessage::Join {
            name: "mallory".into(),
        },
    )
    .await;
    let mut seen = Vec::new();
    while let Some(message) = next_matching(&mut ws, |_| true).await {
        seen.push(message);
    }
    assert!(
        matches!(
            seen.as_slice(),
            [ServerMessage::Error {
                code: ErrorCode::BadToken,
                ..
            }]
        ),
        "only the refusal, no user list: {seen:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_of_other_origins_are_refused_and_clients_without_origin_are_not() {
    let mut config = SignalConfig::default();
    config.allowed_origins = vec!["https://app.example".into()];
    let addr = start(config).await;
    let with_origin = |origin: &str| {
        let mut request = format!("ws://{addr}/ws").into_client_request().unwrap();
        request
            .headers_mut()
            .insert("Origin", origin.parse().unwrap());
        request
    };
    let refused = tokio_tungstenite::connect_async(with_origin("https://evil.example")).await;
    assert!(
        matches!(&refused, Err(WsError::Http(r)) if r.status() == 403),
        "{refused:?}"
    );
    assert!(
        tokio_tungstenite::connect_async(with_origin("https://app.example"))
            .await
            .is_ok()
    );
    join(addr, "", "cli").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_is_rate_limited_then_disconnected_and_others_are_unaffected() {
    let mut config = SignalConfig::default();
    config.rate_limit = RateLimit::new(5.0, 10, 20);
    let gauge = config.gauge.clone();
    let addr = start(config).await;
    let mut calm = join(addr, "", "calm").await;
    let mut flood = join(addr, "", "flood").await;
    for i in 0..100 {
        if flood
            .ws
            .send(Message::text(to("calm", offer(&format!("{i}"))).to_json()))
            .await
            .is_err()
        {
            break;
        }
    }
    expect_error(&mut flood, ErrorCode::RateLimited).await;
    expect_closed(&mut flood).await;
    // The burst that fit went through; then calm hears the flooder leave.
    let mut offers = 0;
    while let Some(m) =
        next_matching(&mut calm, |m| matches!(m, ServerMessage::Signal { .. })).await
    {
        match m {
            ServerMessage::Signal {
                signal: Signal::Bye {},
                ..
            } => break,
            _ => offers += 1,
        }
    }
    assert!((9..=12).contains(&offers), "{offers} offers got through");
    assert!(gauge.snapshot().rate_limited_total >= 20);
    let mut other = join(addr, "", "other").await;
    send(&mut other, to("calm", offer("fine"))).await;
    assert!(
        next_matching(
            &mut calm,
            |m| matches!(m, ServerMessage::Signal { from, .. } if from == "other")
        )
        .await
        .is_some()
    );
}

/// Many tasks at once on one server, each with its own pair in its own room:
/// nothing crosses rooms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tasks_relay_in_their_own_rooms_at_once() {
    let addr = start(SignalConfig::default()).await;
    let mut tasks = tokio::task::JoinSet::new();
    for k in 0..20 {
        tasks.spawn(async move {
            let room = format!("?room=room{k}");
            let mut a = join(addr, &room, "a").await;
            let mut b = join(addr, &room, "b").await;
            users_become(&mut a, &["a", "b"]).await;
            send(&mut a, to("b", offer(&format!("pair {k}")))).await;
            let got = next_matching(&mut b, |m| matches!(m, ServerMessage::Signal { .. })).await;
            assert_eq!(
                got,
                Some(ServerMessage::Signal {
                    from: "a".into(),
                    signal: Signal::Offer {
                        sdp: format!("pair {k}")
                    }
                })
            );
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
}

/// Tasks sending through clones of one bot's sender at once: each user of
/// the bot's (default) room gets exactly the offer meant for it, and users
/// of another room never see the bot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clones_of_a_bot_sender_reach_their_users_from_many_tasks() {
    let (port, handle) = ferrtc_signal::bot("bot", 64).unwrap();
    let addr = start(SignalConfig::default().with_bot(port)).await;
    let mut elsewhere = join(addr, "?room=side", "u0").await;
    users_become(&mut elsewhere, &["u0"]).await;
    let mut clients = Vec::new();
    for k in 0..10 {
        clients.push(join(addr, "", &format!("u{k}")).await);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for (k, mut ws) in clients.into_iter().enumerate() {
        let sender = handle.sender();
        tasks.spawn(async move {
            let name = format!("u{k}");
            sender
                .send(
                    &name,
                    Signal::Offer {
                        sdp: format!("for {name}"),
                    },
                )
                .await
                .unwrap();
            let got = next_matching(&mut ws, |m| matches!(m, ServerMessage::Signal { .. })).await;
            assert_eq!(
                got,
                Some(ServerMessage::Signal {
                    from: "bot".into(),
                    signal: Signal::Offer {
                        sdp: format!("for {name}")
                    }
                })
            );
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let stray = tokio::time::timeout(
        Duration::from_millis(300),
        next_matching(&mut elsewhere, |m| {
            matches!(m, ServerMessage::Signal { .. })
        }),
    )
    .await;
    assert!(stray.is_err(), "u0 of another room got {stray:?}");
    drop(handle);
}
