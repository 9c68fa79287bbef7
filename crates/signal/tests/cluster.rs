//! Two signaling nodes of one cluster and a `redis-server` (Debian's,
//! started by each test on a free loopback port with `--save ''
//! --appendonly no` in a temporary directory, killed at the end), one node
//! reaching Redis through a TCP proxy whose links the test cuts.
//!
//! Needs `redis-server`: without it the tests say "skipped" and pass, as
//! the interop tests do without FERRTC_INTEROP=1; with FERRTC_INTEROP=1
//! (set by scripts/test, which installs it) a missing `redis-server` fails.

#![cfg(feature = "server")]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrtc_signal::{Gauge, GaugeSnapshot, SignalConfig, serve};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const WAIT: Duration = Duration::from_secs(10);

/// Whether `redis-server` runs here; a missing one fails under
/// FERRTC_INTEROP=1 and skips the test otherwise.
fn redis_available() -> bool {
    let found = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var("FERRTC_INTEROP").as_deref() != Ok("1"),
            "redis-server is missing: apt-get install redis-server"
        );
        println!("skipped: redis-server is missing (apt-get install redis-server)");
    }
    found
}

fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A `redis-server` on a loopback port, in a temporary directory, nothing
/// persisted; killed when dropped.
struct Redis {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Redis {
    fn start() -> Redis {
        let port = free_tcp_port();
        let dir =
            std::env::temp_dir().join(format!("ferrtc-signal-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let spawned = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                panic!("redis-server runs (apt-get install redis-server): {e:?}");
            }
        };
        // Made before the wait: a server that does not start is killed and
        // its directory removed all the same.
        let redis = Redis { child, port, dir };
        let deadline = Instant::now() + WAIT;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        redis
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A TCP proxy in front of Redis whose links can be cut and restored.
struct Proxy {
    port: u16,
    upstream: u16,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(upstream: u16) -> Proxy {
        let proxy = Proxy {
            port: free_tcp_port(),
            upstream,
            tasks: Arc::default(),
        };
        proxy.restore().await;
        proxy
    }

    /// Listens again and relays each connection to Redis.
    async fn restore(&self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        let upstream = self.upstream;
        let tasks = self.tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let link = tokio::spawn(async move {
                    if let Ok(mut out) = TcpStream::connect(("127.0.0.1", upstream)).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                    }
                });
                tasks.lock().unwrap().push(link);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }

    /// Stops listening and drops every link: Redis is unreachable.
    fn cut(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
    }
}

async fn start_node(redis_url: String) -> (SocketAddr, Gauge) {
    let mut config = SignalConfig::default();
    config.redis = Some(redis_url);
    let gauge = config.gauge.clone();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, config));
    (addr, gauge)
}

async fn until(gauge: &Gauge, what: &str, done: impl Fn(GaugeSnapshot) -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !done(gauge.snapshot()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: {:?}",
            gauge.snapshot()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The next JSON message satisfying `want` within `wait`; `None` on timeout.
async fn next_where(
    ws: &mut Ws,
    wait: Duration,
    mut want: impl FnMut(&Value) -> bool,
) -> Option<Value> {
    let read = async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(&text).unwrap();
                    if want(&value) {
                        return value;
                    }
                }
                Some(Ok(_)) => {}
                other => panic!("connection ended: {other:?}"),
            }
        }
    };
    tokio::time::timeout(wait, read).await.ok()
}

async fn send(ws: &mut Ws, value: Value) {
    ws.send(Message::text(value.to_string())).await.unwrap();
}

async fn join(addr: SocketAddr, name: &str) -> Ws {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .unwrap();
    send(&mut ws, json!({"type":"join","name":name})).await;
    next_where(&mut ws, WAIT, |v| v["type"] == "joined")
        .await
        .expect("joined");
    ws
}

/// Crate docs: a client that closes "is removed: ... everyone it exchanged
/// signals with since its last `bye` gets `{"type":"bye","from":<it>}`";
/// cluster docs: a node that lost Redis goes on serving and, when Redis is
/// back, catches up. Bob (node B) is in a call with alice (node A); B loses
/// Redis for a moment and bob leaves meanwhile: his `bye` for alice is kept
/// and sent once B reaches Redis again, and his name is released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bye_for_a_remote_partner_survives_a_short_redis_outage() {
    if !redis_available() {
        return;
    }
    let redis = Redis::start();
    let proxy = Proxy::start(redis.port).await;
    let (a, node_a) = start_node(format!("redis://127.0.0.1:{}", redis.port)).await;
    let (b, node_b) = start_node(format!("redis://127.0.0.1:{}", proxy.port)).await;
    until(&node_a, "A reaches Redis", |g| g.cluster_up).await;
    until(&node_b, "B reaches Redis", |g| g.cluster_up).await;

    let mut alice = join(a, "alice").await;
    let mut bob = join(b, "bob").await;
    next_where(&mut alice, WAIT, |v| {
        v["type"] == "users" && v["users"] == json!(["alice", "bob"])
    })
    .await
    .expect("alice sees bob");
    send(
        &mut alice,
        json!({"type":"offer","target":"bob","sdp":"v=0"}),
    )
    .await;
    next_where(&mut bob, WAIT, |v| v["type"] == "offer")
        .await
        .expect("bob gets the offer");
    send(
        &mut bob,
        json!({"type":"answer","target":"alice","sdp":"v=0"}),
    )
    .await;
    next_where(&mut alice, WAIT, |v| v["type"] == "answer")
        .await
        .expect("alice gets the answer");

    // B loses Redis; bob's browser goes away meanwhile.
    proxy.cut();
    until(&node_b, "B sees Redis down", |g| !g.cluster_up).await;
    drop(bob);
    until(&node_b, "bob removed on B", |g| g.users == 0).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    proxy.restore().await;
    until(&node_b, "B reaches Redis again", |g| g.cluster_up).await;

    // The bye, and the list without bob (the release went too), in either
    // order: the list and the signals reach a session on separate paths.
    let mut bye = None;
    let mut users = None;
    let _ = next_where(&mut alice, Duration::from_secs(15), |v| {
        match v["type"].as_str() {
            Some("bye") => bye = Some(v.clone()),
            Some("users") => users = Some(v["users"].clone()),
            _ => {}
        }
        bye.is_some() && users == Some(json!(["alice"]))
    })
    .await;
    assert_eq!(
        bye,
        Some(json!({"type":"bye","from":"bob"})),
        "alice was never told that bob hung up"
    );
    assert_eq!(
        users,
        Some(json!(["alice"])),
        "bob is still in alice's list"
    );
}
