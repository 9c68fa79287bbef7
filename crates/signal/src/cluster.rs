//! The cluster: several signaling nodes sharing presence and routing through
//! Redis ([`crate::SignalConfig::redis`], `--redis redis://HOST:PORT`).
//!
//! # Keys (prefix `ferrtc:`)
//!
//! | key | type | what |
//! |---|---|---|
//! | `node:ID` | string, TTL 3 s | the node `ID` is alive; refreshed every second |
//! | `nodes` | set | node ids that registered (for the sweep) |
//! | `room:ROOM` | hash | user name -> id of the node the user is connected to |
//! | `noderooms:ID` | set | rooms where node `ID` holds (or held) names |
//! | `inbox:ID` | pub/sub channel | messages for node `ID` |
//!
//! A join claims the name with one Lua script (`HSETNX`-like: refused when
//! another node holds it, or when the room has `max_users` users) that also
//! returns the room's members; the node then sends a `joined` notice to each
//! other node with members in the room. Because scripts run one at a time,
//! of two nodes joining users to one room at once the later sees the earlier,
//! so each learns of the other. Leaving releases the name (only if this node
//! holds it) and sends `left` notices the same way. A signal for a user on
//! another node is published on that node's channel only: one channel per
//! node, no broadcast.
//!
//! Channel messages are JSON objects:
//!
//! ```text
//! {"k":"joined","room":"r","name":"bob","node":"7f3a.."}
//! {"k":"left","room":"r","name":"bob","node":"7f3a.."}
//! {"k":"signal","room":"r","from":"alice","to":"bob","signal":{"type":"offer","sdp":".."}}
//! ```
//!
//! # Failures
//!
//! - A node that dies stops refreshing `node:ID`; within its TTL plus one
//!   sweep period (3.5 s) every node that knows users of it sees the key
//!   gone, drops those users from its lists and sends `bye` to their
//!   partners; the first to notice removes its names from Redis (one Lua
//!   script, idempotent, that does nothing if the node's key is back: a
//!   node that registered again keeps its fresh names).
//! - Redis lost: nodes go on serving their own users (joins are checked
//!   against local names; signals to users of other nodes get
//!   `unavailable`), reconnect with backoff (100 ms doubling to 2 s, each
//!   wait spread over its upper half), and
//!   when Redis is back register again, send the `bye`s (to partners on
//!   other nodes) and releases of the users who left meanwhile (kept in
//!   order, at most 4,096), free the names this node owns in
//!   its rooms but no longer holds (users who left while Redis was away;
//!   one Lua script), claim every local name again (a
//!   name another node took meanwhile is refused to the local user with
//!   `name-taken` and the connection closed) and re-read their rooms. Nodes
//!   do not sweep for dead nodes in the first 3 s after a reconnect, so that
//!   a restarted Redis does not make live nodes look dead.
//! - A node whose own key expired (it stalled) registers and claims again.

use std::collections::{BTreeSet, HashSet, VecDeque};
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Value};
use serde_json::{Map, Value as Json};
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};

use crate::hub::{Claim, ClientId, NodeMessage};
use crate::protocol::Signal;

/// Prefix of every key and channel.
const PREFIX: &str = "ferrtc:";
/// Lifetime of a node's presence key.
pub(crate) const NODE_TTL: Duration = Duration::from_secs(3);
/// How often the presence key is refreshed.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// How often the nodes known are checked for liveness: a dead node is
/// noticed at most `NODE_TTL + SWEEP` after its last heartbeat.
const SWEEP: Duration = Duration::from_millis(500);
/// Reconnect backoff bounds.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// No sweep this long after a reconnect: after a Redis restart the other
/// nodes re-register within their backoff.
const SWEEP_GRACE: Duration = Duration::from_secs(3);
/// Most operations sent to Redis in one pipeline.
const BATCH: usize = 512;
/// Most departures (byes and releases) kept while Redis is unreachable;
/// past it the oldest is dropped (its name is still freed by the
/// reconciliation at reconnect; its partner learns at the next re-read).
const MAX_PENDING: usize = 4096;

/// `KEYS[1]` room hash, `KEYS[2]` node's room set; `ARGV` name, node, max
/// users, room. Returns `{1, {name, node, ...}}`, `{0}` (taken) or `{-1}`
/// (full).
const CLAIM: &str = r"
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur and cur ~= ARGV[2] then return {0} end
if not cur and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return {-1} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[4])
return {1, redis.call('HGETALL', KEYS[1])}
";

/// `KEYS[1]` room hash, `KEYS[2]` node's room set; `ARGV` name, node,
/// room. Deletes the name if the node holds it, forgets the room for the
/// node when it holds no other name there; returns the members left.
const RELEASE: &str = r"
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then redis.call('HDEL', KEYS[1], ARGV[1]) end
local all = redis.call('HGETALL', KEYS[1])
for i = 2, #all, 2 do
  if all[i] == ARGV[2] then return all end
end
redis.call('SREM', KEYS[2], ARGV[3])
return all
";

/// `KEYS[1]` nodes set, `KEYS[2]` the dead node's room set, `KEYS[3]` its
/// presence key; `ARGV` dead node, key prefix. Removes every name the dead
/// node held and returns the number of its rooms, or -1 (nothing removed)
/// when the presence key exists: the node registered again since it was
/// seen dead, and its names are fresh.
const CLEANUP: &str = r"
if redis.call('EXISTS', KEYS[3]) == 1 then return -1 end
local rooms = redis.call('SMEMBERS', KEYS[2])
for _, room in ipairs(rooms) do
  local key = ARGV[2] .. 'room:' .. room
  local all = redis.call('HGETALL', key)
  for i = 1, #all, 2 do
    if all[i + 1] == ARGV[1] then redis.call('HDEL', key, all[i]) end
  end
end
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[1], ARGV[1])
return #rooms
";

/// `KEYS[1]` this node's room set; `ARGV` node, key prefix, then pairs
/// room, name of the names this node holds. In every room of the set,
/// deletes the names the node owns but does not hold (their releases were
/// lost while Redis was unreachable) and forgets rooms where it owns none.
/// Returns the number of names deleted.
const RECONCILE: &str = r"
local held = {}
for i = 3, #ARGV - 1, 2 do
  held[ARGV[i]] = held[ARGV[i]] or {}
  held[ARGV[i]][ARGV[i + 1]] = true
end
local removed = 0
for _, room in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local key = ARGV[2] .. 'room:' .. room
  local keep = held[room] or {}
  local all = redis.call('HGETALL', key)
  local owns = false
  for i = 1, #all, 2 do
    if all[i + 1] == ARGV[1] then
      if keep[all[i]] then
        owns = true
      else
        redis.call('HDEL', key, all[i])
        removed = removed + 1
      end
    end
  end
  if not owns then redis.call('SREM', KEYS[1], room) end
end
return removed
";

fn node_key(node: &str) -> String {
    format!("{PREFIX}node:{node}")
}
fn nodes_key() -> String {
    format!("{PREFIX}nodes")
}
fn room_key(room: &str) -> String {
    format!("{PREFIX}room:{room}")
}
fn node_rooms_key(node: &str) -> String {
    format!("{PREFIX}noderooms:{node}")
}
fn inbox(node: &str) -> String {
    format!("{PREFIX}inbox:{node}")
}

/// A fresh random node id (16 hex digits).
pub(crate) fn new_node_id() -> String {
    let mut bytes = [0u8; 8];
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        // No system RNG: fall back on time and process id, still unique
        // enough among a cluster's nodes.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        bytes = ((t as u64) ^ (u64::from(std::process::id()) << 32)).to_be_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl NodeMessage {
    /// The message as channel JSON.
    pub(crate) fn to_json(&self) -> String {
        let mut map = Map::new();
        match self {
            Self::Joined { room, name, node } | Self::Left { room, name, node } => {
                let kind = if matches!(self, Self::Joined { .. }) {
                    "joined"
                } else {
                    "left"
                };
                map.insert("k".into(), kind.into());
                map.insert("room".into(), room.as_str().into());
                map.insert("name".into(), name.as_str().into());
                map.insert("node".into(), node.as_str().into());
            }
            Self::Signal {
                room,
                from,
                to,
                signal,
            } => {
                let mut inner = Map::new();
                signal.write_fields(&mut inner);
                map.insert("k".into(), "signal".into());
                map.insert("room".into(), room.as_str().into());
                map.insert("from".into(), from.as_str().into());
                map.insert("to".into(), to.as_str().into());
                map.insert("signal".into(), Json::Object(inner));
            }
        }
        Json::Object(map).to_string()
    }

    /// Parses channel JSON; `None` for anything else (dropped and counted).
    pub(crate) fn parse(bytes: &[u8]) -> Option<Self> {
        let value: Json = serde_json::from_slice(bytes).ok()?;
        let field = |name: &str| value.get(name)?.as_str().map(str::to_owned);
        match value.get("k")?.as_str()? {
            "joined" => Some(Self::Joined {
                room: field("room")?,
                name: field("name")?,
                node: field("node")?,
            }),
            "left" => Some(Self::Left {
                room: field("room")?,
                name: field("name")?,
                node: field("node")?,
            }),
            "signal" => Some(Self::Signal {
                room: field("room")?,
                from: field("from")?,
                to: field("to")?,
                signal: Signal::from_object(value.get("signal")?.clone()).ok()?,
            }),
            _ => None,
        }
    }
}

/// What the hub asks of the cluster task.
#[derive(Debug)]
pub(crate) enum Op {
    Claim {
        client: ClientId,
        room: String,
        name: String,
    },
    Release {
        room: String,
        name: String,
    },
    Forward {
        node: String,
        message: NodeMessage,
    },
    Sync {
        room: String,
    },
    /// Frees the names of this node the directory has that it no longer
    /// holds (see [`crate::hub::Output::Reconcile`]).
    Reconcile {
        held: Vec<(String, String)>,
    },
}

/// What the cluster task tells the hub.
#[derive(Debug)]
pub(crate) enum Event {
    /// Connected (again) and registered.
    Up,
    /// Redis is unreachable.
    Down,
    /// The answer to [`Op::Claim`].
    Claimed {
        client: ClientId,
        room: String,
        name: String,
        result: Claim,
    },
    /// A message on this node's channel.
    Message(NodeMessage),
    /// The answer to [`Op::Sync`]: the room's users on other nodes.
    Snapshot {
        room: String,
        members: Vec<(String, String)>,
    },
    /// The node died.
    NodeGone(String),
}

/// Settings of the cluster task.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) node: String,
    pub(crate) max_users: usize,
}

/// Runs the cluster side of one node until `ops` closes.
pub(crate) async fn run(
    client: redis::Client,
    settings: Settings,
    mut ops: mpsc::Receiver<Op>,
    events: mpsc::Sender<Event>,
) {
    let mut backoff = BACKOFF_MIN;
    let mut known = HashSet::new();
    let mut grace = Duration::ZERO;
    let mut pending = Pending::default();
    loop {
        match connect(&client, &settings.node).await {
            Ok((conn, pubsub)) => {
                backoff = BACKOFF_MIN;
                tracing::info!(node = %settings.node, "cluster: connected to Redis");
                if events.send(Event::Up).await.is_err() {
                    return;
                }
                let mut link = Link {
                    conn,
                    settings: &settings,
                    events: &events,
                    known: &mut known,
                };
                let end = link.serve(pubsub, &mut ops, &mut pending, grace).await;
                grace = SWEEP_GRACE;
                match end {
                    End::Closed => {
                        link.leave().await;
                        return;
                    }
                    End::Lost(why) => {
                        tracing::warn!(node = %settings.node, "cluster: Redis lost: {why}");
                    }
                }
                if events.send(Event::Down).await.is_err() {
                    return;
                }
            }
            Err(e) => tracing::debug!(node = %settings.node, "cluster: cannot reach Redis: {e}"),
        }
        // Until the next try, operations fail fast: claims are answered
        // `Unreachable` (the name is held locally and claimed later).
        let until = Instant::now() + jittered(backoff, random_u16());
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(until) => break,
                op = ops.recv() => match op {
                    None => return,
                    Some(op) => fail(op, &events, &mut pending).await,
                },
            }
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// `backoff` spread over 50 % to 100 % of itself by `random`, so that the
/// nodes a Redis restart disconnected together do not all come back at
/// the same instant.
fn jittered(backoff: Duration, random: u16) -> Duration {
    let half = backoff / 2;
    half + half.mul_f64(f64::from(random) / f64::from(u16::MAX))
}

fn random_u16() -> u16 {
    let mut bytes = [0u8; 2];
    // Without a system RNG the backoff is not spread: still correct.
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    u16::from_be_bytes(bytes)
}

/// Refreshes this node's presence key every [`HEARTBEAT`], in a task of
/// its own so that a slow pipeline or a busy hub cannot let a live node's
/// key expire; returns why it stopped (Redis lost, or the key gone).
async fn heartbeat(mut conn: MultiplexedConnection, node: String) -> String {
    let mut tick = tokio::time::interval(HEARTBEAT);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let refreshed: redis::RedisResult<i64> = redis::cmd("PEXPIRE")
            .arg(node_key(&node))
            .arg(NODE_TTL.as_millis() as u64)
            .query_async(&mut conn)
            .await;
        match refreshed {
            Ok(1) => {}
            Ok(_) => return "this node's presence key expired".into(),
            Err(e) => return e.to_string(),
        }
    }
}

/// Aborts the task when dropped.
struct Abort(tokio::task::JoinHandle<String>);

impl Drop for Abort {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Departures of local users that could not be sent to Redis: the `bye`s
/// for their partners on other nodes and the releases of their names, sent
/// first when Redis is back (before the claims the reconnect makes: a name
/// released, then taken again locally meanwhile, is claimed after its
/// release). Bounded by [`MAX_PENDING`].
#[derive(Debug, Default)]
struct Pending(VecDeque<Op>);

impl Pending {
    /// Keeps `op` when it is a departure (a release, a `bye`); other
    /// operations are dropped: a signal for a remote user was refused with
    /// `unavailable` by the hub, a sync or reconciliation is made again at
    /// reconnect.
    fn keep(&mut self, op: Op) {
        let departure = match &op {
            Op::Release { .. } => true,
            Op::Forward { message, .. } => matches!(
                message,
                NodeMessage::Signal {
                    signal: Signal::Bye {},
                    ..
                }
            ),
            Op::Claim { .. } | Op::Sync { .. } | Op::Reconcile { .. } => false,
        };
        if !departure {
            tracing::debug!(?op, "cluster: Redis unreachable; operation dropped");
            return;
        }
        if self.0.len() >= MAX_PENDING {
            tracing::warn!("cluster: too many departures kept while Redis is away; oldest dropped");
            self.0.pop_front();
        }
        self.0.push_back(op);
    }

    /// Up to [`BATCH`] of the kept operations, oldest first.
    fn take_batch(&mut self) -> Vec<Op> {
        let n = self.0.len().min(BATCH);
        self.0.drain(..n).collect()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// An operation that could not be carried out: a claim is answered
/// `Unreachable` (the name is held locally, claimed again later), a
/// departure is kept for later, the rest is dropped.
async fn fail(op: Op, events: &mpsc::Sender<Event>, pending: &mut Pending) {
    if let Op::Claim { client, room, name } = op {
        let _ = events
            .send(Event::Claimed {
                client,
                room,
                name,
                result: Claim::Unreachable,
            })
            .await;
    } else {
        pending.keep(op);
    }
}

async fn connect(
    client: &redis::Client,
    node: &str,
) -> redis::RedisResult<(MultiplexedConnection, redis::aio::PubSubStream)> {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(2)));
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&config)
        .await?;
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(inbox(node)).await?;
    redis::pipe()
        .cmd("SET")
        .arg(node_key(node))
        .arg(1)
        .arg("PX")
        .arg(NODE_TTL.as_millis() as u64)
        .ignore()
        .cmd("SADD")
        .arg(nodes_key())
        .arg(node)
        .ignore()
        .exec_async(&mut conn)
        .await?;
    let (_sink, stream) = pubsub.split();
    Ok((conn, stream))
}

enum End {
    /// The hub stopped.
    Closed,
    /// Redis is gone (or forgot this node).
    Lost(String),
}

struct Link<'a> {
    conn: MultiplexedConnection,
    settings: &'a Settings,
    events: &'a mpsc::Sender<Event>,
    /// Other nodes this node has heard of, checked by the sweep.
    known: &'a mut HashSet<String>,
}

impl Link<'_> {
    async fn serve(
        &mut self,
        mut pubsub: redis::aio::PubSubStream,
        ops: &mut mpsc::Receiver<Op>,
        pending: &mut Pending,
        grace: Duration,
    ) -> End {
        let mut heart = Abort(tokio::spawn(heartbeat(
            self.conn.clone(),
            self.settings.node.clone(),
        )));
        // Departures kept while Redis was away go first, before what the
        // hub asks for on `Up`.
        while !pending.is_empty() {
            let mut batch = pending.take_batch();
            if let Err(e) = self.execute(&mut batch).await {
                for op in batch.drain(..) {
                    fail(op, self.events, pending).await;
                }
                return End::Lost(e.to_string());
            }
        }
        let mut sweep = tokio::time::interval_at(Instant::now() + grace, SWEEP);
        sweep.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            tokio::select! {
                op = ops.recv() => {
                    let Some(op) = op else { return End::Closed };
                    batch.push(op);
                    while batch.len() < BATCH {
                        match ops.try_recv() {
                            Ok(op) => batch.push(op),
                            Err(_) => break,
                        }
                    }
                    if let Err(e) = self.execute(&mut batch).await {
                        for op in batch.drain(..) {
                            fail(op, self.events, pending).await;
                        }
                        return End::Lost(e.to_string());
                    }
                }
                message = pubsub.next() => {
                    let Some(message) = message else { return End::Lost("subscription closed".into()) };
                    match NodeMessage::parse(message.get_payload_bytes()) {
                        Some(message) => {
                            if let NodeMessage::Joined { node, .. } = &message {
                                self.learn(node);
                            }
                            if self.events.send(Event::Message(message)).await.is_err() {
                                return End::Closed;
                            }
                        }
                        None => tracing::warn!("cluster: malformed message on the node channel; dropped"),
                    }
                }
                stopped = &mut heart.0 => {
                    return End::Lost(stopped.unwrap_or_else(|e| format!("heartbeat task: {e}")));
                }
                _ = sweep.tick() => {
                    if let Err(e) = self.sweep().await {
                        return End::Lost(e.to_string());
                    }
                }
            }
        }
    }

    fn learn(&mut self, node: &str) {
        if node != self.settings.node && !self.known.contains(node) {
            self.known.insert(node.to_owned());
        }
    }

    /// Sends a batch of operations in one pipeline, then the notices their
    /// results call for in a second one.
    async fn execute(&mut self, batch: &mut Vec<Op>) -> redis::RedisResult<()> {
        let me = self.settings.node.clone();
        let mut pipe = redis::pipe();
        for op in batch.iter() {
            match op {
                Op::Claim { room, name, .. } => {
                    pipe.cmd("EVAL")
                        .arg(CLAIM)
                        .arg(2)
                        .arg(room_key(room))
                        .arg(node_rooms_key(&me))
                        .arg(name)
                        .arg(&me)
                        .arg(self.settings.max_users)
                        .arg(room);
                }
                Op::Release { room, name } => {
                    pipe.cmd("EVAL")
                        .arg(RELEASE)
                        .arg(2)
                        .arg(room_key(room))
                        .arg(node_rooms_key(&me))
                        .arg(name)
                        .arg(&me)
                        .arg(room);
                }
                Op::Forward { node, message } => {
                    pipe.cmd("PUBLISH").arg(inbox(node)).arg(message.to_json());
                }
                Op::Sync { room } => {
                    pipe.cmd("HGETALL").arg(room_key(room));
                }
                Op::Reconcile { held } => {
                    pipe.cmd("EVAL")
                        .arg(RECONCILE)
                        .arg(1)
                        .arg(node_rooms_key(&me))
                        .arg(&me)
                        .arg(PREFIX);
                    for (room, name) in held {
                        pipe.arg(room).arg(name);
                    }
                }
            }
        }
        let replies: Vec<Value> = pipe.query_async(&mut self.conn).await?;
        let mut notices = redis::pipe();
        let mut any_notice = false;
        for (op, reply) in batch.drain(..).zip(replies) {
            match op {
                Op::Claim { client, room, name } => {
                    let result = claim_result(&reply, &me);
                    if let Claim::Claimed { members } = &result {
                        let nodes: BTreeSet<&String> = members.iter().map(|(_, n)| n).collect();
                        let notice = NodeMessage::Joined {
                            room: room.clone(),
                            name: name.clone(),
                            node: me.clone(),
                        }
                        .to_json();
                        for node in nodes {
                            notices
                                .cmd("PUBLISH")
                                .arg(inbox(node))
                                .arg(&notice)
                                .ignore();
                            any_notice = true;
                        }
                        for (_, node) in members {
                            self.learn(node);
                        }
                    }
                    let event = Event::Claimed {
                        client,
                        room,
                        name,
                        result,
                    };
                    if self.events.send(event).await.is_err() {
                        return Ok(());
                    }
                }
                Op::Release { room, name } => {
                    let members = others(&reply, &me);
                    let nodes: BTreeSet<&String> = members.iter().map(|(_, n)| n).collect();
                    let notice = NodeMessage::Left {
                        room: room.clone(),
                        name: name.clone(),
                        node: me.clone(),
                    }
                    .to_json();
                    for node in nodes {
                        notices
                            .cmd("PUBLISH")
                            .arg(inbox(node))
                            .arg(&notice)
                            .ignore();
                        any_notice = true;
                    }
                }
                Op::Forward { .. } => {}
                Op::Reconcile { .. } => {
                    if let Value::Int(n) = reply
                        && n > 0
                    {
                        // The other nodes' lists catch up at their next
                        // re-read of the room.
                        tracing::info!(
                            names = n,
                            "cluster: freed names released while Redis was away"
                        );
                    }
                }
                Op::Sync { room } => {
                    let members = others(&reply, &me);
                    for (_, node) in &members {
                        self.learn(node);
                    }
                    if self
                        .events
                        .send(Event::Snapshot { room, members })
                        .await
                        .is_err()
                    {
                        return Ok(());
                    }
                }
            }
        }
        if any_notice {
            notices.exec_async(&mut self.conn).await?;
        }
        Ok(())
    }

    /// Checks every other node heard of; a dead one is reported once and its
    /// names are removed from Redis.
    async fn sweep(&mut self) -> redis::RedisResult<()> {
        let registered: Vec<String> = redis::cmd("SMEMBERS")
            .arg(nodes_key())
            .query_async(&mut self.conn)
            .await?;
        for node in &registered {
            self.learn(node);
        }
        let nodes: Vec<String> = self.known.iter().cloned().collect();
        if nodes.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for node in &nodes {
            pipe.cmd("EXISTS").arg(node_key(node));
        }
        let alive: Vec<i64> = pipe.query_async(&mut self.conn).await?;
        for (node, alive) in nodes.into_iter().zip(alive) {
            if alive != 0 {
                continue;
            }
            // The key may be back by now: the script checks it again, in
            // the same atomic step as the cleanup.
            if !remove_dead_node(&mut self.conn, &node).await? {
                continue;
            }
            tracing::info!(dead = %node, "cluster: node gone");
            self.known.remove(&node);
            if self.events.send(Event::NodeGone(node)).await.is_err() {
                return Ok(());
            }
        }
        Ok(())
    }

    /// A clean stop: this node's presence goes at once, so the others sweep
    /// its users now rather than at the key's expiry.
    async fn leave(&mut self) {
        let _: redis::RedisResult<()> = redis::cmd("DEL")
            .arg(node_key(&self.settings.node))
            .exec_async(&mut self.conn)
            .await;
    }
}

/// Removes the names of the node `node` from the directory if its presence
/// key is absent, in one atomic script; returns whether it did (`false`: the
/// node is alive, nothing changed).
async fn remove_dead_node(
    conn: &mut MultiplexedConnection,
    node: &str,
) -> redis::RedisResult<bool> {
    let removed: i64 = redis::cmd("EVAL")
        .arg(CLEANUP)
        .arg(3)
        .arg(nodes_key())
        .arg(node_rooms_key(node))
        .arg(node_key(node))
        .arg(node)
        .arg(PREFIX)
        .query_async(conn)
        .await?;
    Ok(removed >= 0)
}

/// What the sweep does to a node it found dead, for tests against a
/// `redis-server`: connects to `redis_url` and removes the names of `node`
/// from the cluster's directory unless its presence key exists. Returns
/// whether the names were removed.
pub async fn sweep_node(redis_url: &str, node: &str) -> redis::RedisResult<bool> {
    let client = redis::Client::open(redis_url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    remove_dead_node(&mut conn, node).await
}

/// The claim script's reply.
fn claim_result(reply: &Value, me: &str) -> Claim {
    let Value::Array(items) = reply else {
        return Claim::Unreachable;
    };
    match items.first() {
        Some(Value::Int(1)) => Claim::Claimed {
            members: items.get(1).map(|m| others(m, me)).unwrap_or_default(),
        },
        Some(Value::Int(0)) => Claim::Taken,
        Some(Value::Int(-1)) => Claim::Full,
        _ => Claim::Unreachable,
    }
}

/// A flat `HGETALL` reply (name, node, ...) without this node's entries.
fn others(reply: &Value, me: &str) -> Vec<(String, String)> {
    let text = |v: &Value| match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    };
    let pairs: Vec<(String, String)> = match reply {
        Value::Array(items) => items
            .chunks_exact(2)
            .filter_map(|kv| Some((text(&kv[0])?, text(&kv[1])?)))
            .collect(),
        Value::Map(items) => items
            .iter()
            .filter_map(|(k, v)| Some((text(k)?, text(v)?)))
            .collect(),
        _ => Vec::new(),
    };
    pairs.into_iter().filter(|(_, node)| node != me).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn node_messages_round_trip_through_json() {
        for message in [
            NodeMessage::Joined {
                room: "r".into(),
                name: "bob".into(),
                node: "n2".into(),
            },
            NodeMessage::Left {
                room: "r".into(),
                name: "bob".into(),
                node: "n2".into(),
            },
            NodeMessage::Signal {
                room: "r".into(),
                from: "alice".into(),
                to: "bob".into(),
                signal: Signal::Candidate {
                    candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host".into(),
                    sdp_mid: Some("0".into()),
                    sdp_m_line_index: Some(0),
                    username_fragment: None,
                },
            },
        ] {
            let json = message.to_json();
            assert_eq!(NodeMessage::parse(json.as_bytes()), Some(message), "{json}");
        }
    }

    #[test]
    fn malformed_node_messages_are_none() {
        for bad in [
            &b"not json"[..],
            br#"{"k":"joined","room":"r"}"#,
            br#"{"k":"signal","room":"r","from":"a","to":"b","signal":{"type":"nope"}}"#,
            br#"{"k":"other"}"#,
            br#"[]"#,
        ] {
            assert_eq!(NodeMessage::parse(bad), None);
        }
    }

    #[test]
    fn claim_replies_map_to_results_without_this_nodes_entries() {
        let claimed = Value::Array(vec![
            Value::Int(1),
            Value::Array(vec![bulk("alice"), bulk("me"), bulk("bob"), bulk("n2")]),
        ]);
        assert_eq!(
            claim_result(&claimed, "me"),
            Claim::Claimed {
                members: vec![("bob".into(), "n2".into())]
            }
        );
        assert_eq!(
            claim_result(&Value::Array(vec![Value::Int(0)]), "me"),
            Claim::Taken
        );
        assert_eq!(
            claim_result(&Value::Array(vec![Value::Int(-1)]), "me"),
            Claim::Full
        );
        assert_eq!(claim_result(&Value::Nil, "me"), Claim::Unreachable);
    }

    #[test]
    fn the_reconnect_backoff_is_spread_over_its_upper_half() {
        let b = Duration::from_millis(800);
        assert_eq!(jittered(b, 0), Duration::from_millis(400));
        assert_eq!(jittered(b, u16::MAX), b);
        let mid = jittered(b, u16::MAX / 2);
        assert!(mid > Duration::from_millis(590) && mid < Duration::from_millis(610));
    }

    fn bye(to: &str) -> Op {
        Op::Forward {
            node: "n2".into(),
            message: NodeMessage::Signal {
                room: "r".into(),
                from: "bob".into(),
                to: to.into(),
                signal: Signal::Bye {},
            },
        }
    }

    /// While Redis is away, the departures of local users (their `bye`s to
    /// partners on other nodes, the releases of their names) are kept, in
    /// order and at most `MAX_PENDING`; other operations are not.
    #[test]
    fn departures_are_kept_while_redis_is_away_and_bounded() {
        let mut pending = Pending::default();
        pending.keep(Op::Sync { room: "r".into() });
        pending.keep(Op::Forward {
            node: "n2".into(),
            message: NodeMessage::Signal {
                room: "r".into(),
                from: "bob".into(),
                to: "alice".into(),
                signal: Signal::Offer { sdp: "v=0".into() },
            },
        });
        assert!(pending.is_empty());
        pending.keep(bye("alice"));
        pending.keep(Op::Release {
            room: "r".into(),
            name: "bob".into(),
        });
        let batch = pending.take_batch();
        assert!(matches!(
            &batch[..],
            [Op::Forward { .. }, Op::Release { .. }]
        ));
        for i in 0..MAX_PENDING + 10 {
            pending.keep(bye(&format!("u{i}")));
        }
        assert_eq!(pending.0.len(), MAX_PENDING);
        let Some(Op::Forward {
            message: NodeMessage::Signal { to, .. },
            ..
        }) = pending.0.front()
        else {
            panic!("not a bye");
        };
        assert_eq!(to, "u10", "the oldest are dropped");
        assert_eq!(pending.take_batch().len(), BATCH);
    }

    #[test]
    fn node_ids_are_16_hex_digits_and_differ() {
        let a = new_node_id();
        assert_eq!(a.len(), 16);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, new_node_id());
    }
}
