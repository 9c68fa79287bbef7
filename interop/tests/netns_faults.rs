//! Real-kernel fault tests (issue 8, hardening): two `ferrtc::PeerConnection`s
//! in separate Linux network namespaces, joined through a middle namespace
//! where the path is impaired and cut.
//!
//! ```text
//!  ns "…-a"                    ns "…-m" (no IP forwarding)                ns "…-b"
//!  peer A 10.201.1.2 ──veth── 10.201.1.1 [relay] 10.201.2.1 ──veth── 10.201.2.2 peer B
//!                              nft: random UDP drop on input
//! ```
//!
//! What is real kernel and what is userspace:
//! - **Kernel**: the namespaces, the veth links and their routes; the sockets
//!   of both peers and of the relay (bound inside the namespaces by `setns`
//!   on the test thread before `PeerConnection::new`); **loss** is an
//!   nftables rule in the middle namespace (`numgen random mod 100 < N
//!   drop` on the input hook, so every datagram in either direction faces it
//!   once; not seeded, the kernel draws it); the **path cut** is
//!   `ip link set … down` on both veths of the middle namespace.
//! - **Userspace**: `tc netem` is NOT available on this kernel
//!   (`CONFIG_NET_SCH_NETEM` is not set, "Specified qdisc kind is unknown"),
//!   so **delay** and **reordering** come from a relay task in the test
//!   process, bound in the middle namespace: it holds each datagram for a
//!   fixed one-way delay, and a seeded fraction of them for a little longer,
//!   so that later datagrams overtake them. It acts as a static 1:1 NAT:
//!   the test's signaling rewrites each host candidate of a peer to the
//!   relay address facing the other peer, and the relay forwards between
//!   the two. The middle namespace does not forward IP, so the relay is
//!   the only path.
//!
//! Measured here: after `ip link set … up` the kernel delivers nothing for
//! about 0.5 s (link activation), so the first ICE checks of the restart
//! are lost and retransmitted (RTO 500 ms): the restart reconnects in
//! 0.6 or 1.6 s, most of it that wait.
//!
//! The tests need root, `ip` (iproute2) and `nft` (Debian `nftables`). They
//! run only with `FERRTC_INTEROP=1`, and then any of those missing is a
//! failure, not a skip. Namespaces are named `ferrtc-faults-<pid>-<test>-*`,
//! removed on drop, and stale ones (whose pid is gone) are removed at start.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket as StdUdpSocket};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrtc::{
    Configuration, DataChannel, DataChannelEvent, DataChannelInit, DataChannelMessage,
    DataChannelState, IceCandidateInit, IceConnectionState, PeerConnection, PeerConnectionEvent,
    PeerConnectionState,
};
use ferrtc_interop::interop_enabled;
use nix::sched::{CloneFlags, setns};
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use tokio::sync::mpsc;

/// Prefix of every namespace these tests make.
const PREFIX: &str = "ferrtc-faults-";

// ---------------------------------------------------------------- the lab

/// One end of the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    A,
    B,
}

impl Side {
    fn index(self) -> usize {
        match self {
            Side::A => 0,
            Side::B => 1,
        }
    }

    fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }

    /// Third octet of this side's /24.
    fn subnet(self) -> u8 {
        match self {
            Side::A => 1,
            Side::B => 2,
        }
    }

    /// The peer's address on its veth.
    fn peer_ip(self) -> Ipv4Addr {
        Ipv4Addr::new(10, 201, self.subnet(), 2)
    }

    /// The middle namespace's address facing this side.
    fn middle_ip(self) -> Ipv4Addr {
        Ipv4Addr::new(10, 201, self.subnet(), 1)
    }

    /// The middle namespace's veth towards this side.
    fn middle_dev(self) -> &'static str {
        match self {
            Side::A => "to-a",
            Side::B => "to-b",
        }
    }
}

/// Runs a command, panicking (a test failure) with its stderr if it fails.
fn run(program: &str, args: &[&str], stdin: Option<&str>) -> String {
    let mut child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("FERRTC_INTEROP=1 but `{program}` cannot run: {e}"));
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())
            .unwrap_or_else(|e| panic!("writing to `{program}`: {e}"));
    }
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("waiting for `{program}`: {e}"));
    assert!(
        out.status.success(),
        "`{program} {}` failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ip(args: &[&str]) -> String {
    run("ip", args, None)
}

/// Deletes namespaces of ours whose test process is gone.
fn remove_stale_namespaces() {
    for line in ip(&["netns", "list"]).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or_default();
        if !std::path::Path::new("/proc").join(pid).exists() {
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
    }
}

/// Three namespaces (peer A, the middle, peer B) joined by two veth pairs;
/// deleted on drop.
struct Lab {
    a: String,
    m: String,
    b: String,
    /// The namespaces created so far (deleted on drop).
    made: Vec<String>,
}

impl Lab {
    /// Builds the topology of the module doc. Fails the test if the machine
    /// does not allow it (not root, no `ip`, no veth).
    fn new(tag: &str) -> Lab {
        remove_stale_namespaces();
        let base = format!("{PREFIX}{}-{tag}", std::process::id());
        let mut lab = Lab {
            a: format!("{base}-a"),
            m: format!("{base}-m"),
            b: format!("{base}-b"),
            made: Vec::new(),
        };
        for ns in [lab.a.clone(), lab.m.clone(), lab.b.clone()] {
            let status = Command::new("ip").args(["netns", "add", &ns]).status();
            assert!(
                status.as_ref().is_ok_and(|s| s.success()),
                "FERRTC_INTEROP=1 but `ip netns add {ns}` failed ({status:?}): \
                 these tests need root and network namespaces"
            );
            lab.made.push(ns);
        }
        for side in [Side::A, Side::B] {
            let ns = lab.peer_ns(side).to_owned();
            let dev = side.middle_dev();
            #[rustfmt::skip]
            ip(&["link", "add", "veth0", "netns", &ns, "type", "veth",
                 "peer", "name", dev, "netns", &lab.m]);
            let peer = format!("{}/24", side.peer_ip());
            let middle = format!("{}/24", side.middle_ip());
            let gateway = side.middle_ip().to_string();
            ip(&["-n", &ns, "addr", "add", &peer, "dev", "veth0"]);
            ip(&["-n", &ns, "link", "set", "veth0", "up"]);
            // A default route makes the veth address the one ferrtc finds
            // as "the address of the default route". `lo` stays down, so it
            // is the peer's only address (no loopback candidates).
            ip(&["-n", &ns, "route", "add", "default", "via", &gateway]);
            ip(&["-n", &lab.m, "addr", "add", &middle, "dev", dev]);
            ip(&["-n", &lab.m, "link", "set", dev, "up"]);
        }
        lab
    }

    fn peer_ns(&self, side: Side) -> &str {
        match side {
            Side::A => &self.a,
            Side::B => &self.b,
        }
    }

    /// Runs `f` on this thread inside namespace `ns`: sockets it binds stay
    /// in that namespace for good. The thread returns to its own namespace
    /// afterwards, panic or not.
    fn enter<T>(&self, ns: &str, f: impl FnOnce() -> T) -> T {
        struct Home(File);
        impl Drop for Home {
            fn drop(&mut self) {
                if let Err(e) = setns(&self.0, CloneFlags::CLONE_NEWNET)
                    && !std::thread::panicking()
                {
                    panic!("cannot return to the test's network namespace: {e}");
                }
            }
        }
        let home = Home(File::open("/proc/thread-self/ns/net").expect("open our netns"));
        let target = File::open(format!("/run/netns/{ns}"))
            .unwrap_or_else(|e| panic!("open namespace {ns}: {e}"));
        setns(&target, CloneFlags::CLONE_NEWNET).unwrap_or_else(|e| panic!("setns {ns}: {e}"));
        let out = f();
        drop(home);
        out
    }

    /// Kernel loss: drops `percent` % of the UDP datagrams that reach the
    /// middle namespace, in both directions (nftables `numgen random`).
    fn drop_udp_randomly(&self, percent: u32) {
        let nft = Command::new("nft")
            .arg("--version")
            .stdout(Stdio::null())
            .status();
        assert!(
            nft.is_ok_and(|s| s.success()),
            "FERRTC_INTEROP=1 but `nft` is missing (Debian package nftables)"
        );
        let rules = format!(
            "table inet ferrtc_faults {{\n\
               chain input {{\n\
                 type filter hook input priority 0; policy accept;\n\
                 meta l4proto udp numgen random mod 100 < {percent} counter drop\n\
               }}\n\
             }}\n"
        );
        run(
            "ip",
            &["netns", "exec", &self.m, "nft", "-f", "-"],
            Some(&rules),
        );
    }

    /// Datagrams the nftables rule dropped so far.
    fn dropped_by_kernel(&self) -> u64 {
        let out = run(
            "ip",
            &[
                "netns",
                "exec",
                &self.m,
                "nft",
                "list",
                "table",
                "inet",
                "ferrtc_faults",
            ],
            None,
        );
        let mut words = out.split_whitespace();
        while let Some(w) = words.next() {
            if w == "packets" {
                return words.next().and_then(|n| n.parse().ok()).unwrap_or(0);
            }
        }
        0
    }

    /// Cuts the path: both veths of the middle namespace go down.
    fn cut(&self) {
        for side in [Side::A, Side::B] {
            ip(&["-n", &self.m, "link", "set", side.middle_dev(), "down"]);
        }
    }

    /// Brings both veths of the middle namespace up again.
    fn restore(&self) {
        for side in [Side::A, Side::B] {
            ip(&["-n", &self.m, "link", "set", side.middle_dev(), "up"]);
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in &self.made {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

// ---------------------------------------------------------------- the relay

/// What the userspace relay does to each datagram.
#[derive(Debug, Clone, Copy)]
struct Impairment {
    /// One-way delay of every datagram.
    delay: Duration,
    /// Percentage of datagrams held for `extra` longer than the rest.
    reorder_percent: u32,
    /// Up to this much more delay for a reordered datagram (uniform).
    extra: Duration,
    /// Seed of the reorder draws.
    seed: u64,
}

/// The relay's address book: where each side reaches it, and each side's
/// real address (learned from its signaled candidate).
#[derive(Debug)]
struct Mapping {
    facing: [SocketAddr; 2],
    peers: [Option<SocketAddr>; 2],
}

/// Counters of the relay.
#[derive(Debug, Default)]
struct RelayStats {
    /// Datagrams sent on.
    forwarded: AtomicU64,
    /// Datagrams held longer than the delay.
    held_longer: AtomicU64,
    /// Datagrams sent on after one that arrived later than them (in the
    /// same direction): the reordering the peers saw.
    overtaken: AtomicU64,
}

/// A userspace static NAT with delay and reordering in the middle namespace.
struct Relay {
    mapping: Arc<Mutex<Mapping>>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    impairment: Impairment,
    stats: Arc<RelayStats>,
}

impl Relay {
    fn start(lab: &Lab, impairment: Impairment) -> Arc<Relay> {
        let (sockets, facing) = Relay::bind(lab);
        let relay = Arc::new(Relay {
            mapping: Arc::new(Mutex::new(Mapping {
                facing,
                peers: [None, None],
            })),
            task: Mutex::new(None),
            impairment,
            stats: Arc::default(),
        });
        relay.spawn(sockets, impairment.seed);
        relay
    }

    /// Binds one socket per side, on the middle namespace's address there.
    fn bind(lab: &Lab) -> ([StdUdpSocket; 2], [SocketAddr; 2]) {
        lab.enter(&lab.m, || {
            let bind = |side: Side| {
                let s = StdUdpSocket::bind(SocketAddrV4::new(side.middle_ip(), 0))
                    .expect("bind the relay in the middle namespace");
                s.set_nonblocking(true).expect("nonblocking relay socket");
                let addr = s.local_addr().expect("relay address");
                (s, addr)
            };
            let (a, a_addr) = bind(Side::A);
            let (b, b_addr) = bind(Side::B);
            ([a, b], [a_addr, b_addr])
        })
    }

    fn spawn(&self, sockets: [StdUdpSocket; 2], seed: u64) {
        let [a, b] = sockets;
        let sockets = [
            tokio::net::UdpSocket::from_std(a).expect("tokio socket"),
            tokio::net::UdpSocket::from_std(b).expect("tokio socket"),
        ];
        let task = tokio::spawn(relay_loop(
            sockets,
            Arc::clone(&self.mapping),
            Impairment {
                seed,
                ..self.impairment
            },
            Arc::clone(&self.stats),
        ));
        let old = self.task.lock().expect("relay lock").replace(task);
        if let Some(old) = old {
            old.abort();
        }
    }

    /// A new mapping, as a NAT gives after an outage: new relay sockets
    /// (bound before the old ones close, so the ports differ), the old
    /// ones closed, the peers' addresses forgotten until signaled again.
    fn rebind(&self, lab: &Lab) {
        let (sockets, facing) = Relay::bind(lab);
        {
            let mut m = self.mapping.lock().expect("relay lock");
            m.facing = facing;
            m.peers = [None, None];
        }
        self.spawn(sockets, self.impairment.seed.wrapping_add(1));
    }

    /// Where `side` sends to reach the relay now.
    fn facing(&self, side: Side) -> SocketAddr {
        self.mapping.lock().expect("relay lock").facing[side.index()]
    }

    /// The static NAT in the signaling: a host candidate of `from` on its
    /// veth becomes the relay's address facing the other side (and tells
    /// the relay where `from` is). Candidates on other addresses are
    /// dropped; end-of-candidates passes unchanged.
    fn rewrite(&self, from: Side, c: &IceCandidateInit) -> Option<IceCandidateInit> {
        if c.candidate.is_empty() {
            return Some(c.clone());
        }
        // candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type> ...
        let mut fields: Vec<String> = c.candidate.split(' ').map(str::to_owned).collect();
        let ip: Ipv4Addr = fields.get(4)?.parse().ok()?;
        let port: u16 = fields.get(5)?.parse().ok()?;
        if ip != from.peer_ip() {
            return None;
        }
        let mut m = self.mapping.lock().expect("relay lock");
        m.peers[from.index()] = Some(SocketAddr::from((ip, port)));
        let seen_as = m.facing[from.other().index()];
        fields[4] = seen_as.ip().to_string();
        fields[5] = seen_as.port().to_string();
        Some(IceCandidateInit {
            candidate: fields.join(" "),
            ..c.clone()
        })
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Ok(mut t) = self.task.lock()
            && let Some(t) = t.take()
        {
            t.abort();
        }
    }
}

/// A datagram waiting out its delay.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Held {
    due: tokio::time::Instant,
    seq: u64,
    out: usize,
    data: Vec<u8>,
}

/// Forwards what arrives on `sockets[i]` out of `sockets[1 - i]` to peer
/// `1 - i`, after the impairment's delay.
async fn relay_loop(
    sockets: [tokio::net::UdpSocket; 2],
    mapping: Arc<Mutex<Mapping>>,
    imp: Impairment,
    stats: Arc<RelayStats>,
) {
    let mut rng = StdRng::seed_from_u64(imp.seed);
    let mut queue: BinaryHeap<Reverse<Held>> = BinaryHeap::new();
    let mut seq = 0u64;
    // Per direction, the arrival number of the latest datagram sent on.
    let mut latest = [0u64; 2];
    let (mut buf0, mut buf1) = (vec![0u8; 2048], vec![0u8; 2048]);
    loop {
        let next = queue.peek().map(|Reverse(h)| h.due);
        let far = tokio::time::Instant::now() + Duration::from_secs(3600);
        let arrived = tokio::select! {
            r = sockets[0].recv_from(&mut buf0) => r.ok().and_then(|(n, _)| Some((1, buf0.get(..n)?.to_vec()))),
            r = sockets[1].recv_from(&mut buf1) => r.ok().and_then(|(n, _)| Some((0, buf1.get(..n)?.to_vec()))),
            () = tokio::time::sleep_until(next.unwrap_or(far)), if next.is_some() => None,
        };
        let now = tokio::time::Instant::now();
        if let Some((out, data)) = arrived {
            let mut due = now + imp.delay;
            if rng.random_range(0..100) < imp.reorder_percent {
                due += imp.extra.mul_f64(rng.random_range(0.2..1.0));
                stats.held_longer.fetch_add(1, Ordering::Relaxed);
            }
            seq += 1;
            queue.push(Reverse(Held {
                due,
                seq,
                out,
                data,
            }));
        }
        while queue.peek().is_some_and(|Reverse(h)| h.due <= now) {
            let Some(Reverse(h)) = queue.pop() else { break };
            if h.seq < latest[h.out] {
                stats.overtaken.fetch_add(1, Ordering::Relaxed);
            }
            latest[h.out] = latest[h.out].max(h.seq);
            let dest = mapping.lock().map(|m| m.peers[h.out]).ok().flatten();
            if let Some(dest) = dest
                && sockets[h.out].try_send_to(&h.data, dest).is_ok()
            {
                stats.forwarded.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

// ---------------------------------------------------------------- the peers

/// A state change one side reported, and when.
#[derive(Debug, Clone, Copy)]
enum Observed {
    Ice(IceConnectionState),
    Connection(PeerConnectionState),
}

#[derive(Debug, Clone, Copy)]
struct Seen {
    side: Side,
    at: Instant,
    what: Observed,
}

/// Every state change both sides reported, in order.
struct Timeline {
    rx: mpsc::UnboundedReceiver<Seen>,
    all: Vec<Seen>,
    start: Instant,
}

impl Timeline {
    /// Waits (at most `limit`) until `done` holds for what was seen since
    /// `since`; returns whether it did.
    async fn wait_for(
        &mut self,
        since: Instant,
        limit: Duration,
        done: impl Fn(&[Seen]) -> bool,
    ) -> bool {
        let end = tokio::time::Instant::now() + limit;
        loop {
            let recent: Vec<Seen> = self.all.iter().copied().filter(|s| s.at >= since).collect();
            if done(&recent) {
                return true;
            }
            match tokio::time::timeout_at(end, self.rx.recv()).await {
                Ok(Some(s)) => self.all.push(s),
                _ => return false,
            }
        }
    }

    fn print(&self) {
        for s in &self.all {
            println!(
                "  {:>8.3} s  {:?}  {:?}",
                s.at.duration_since(self.start).as_secs_f64(),
                s.side,
                s.what
            );
        }
    }
}

/// Whether `side` reported `what` in `seen`.
fn saw(seen: &[Seen], side: Side, what: impl Fn(Observed) -> bool) -> bool {
    seen.iter().any(|s| s.side == side && what(s.what))
}

/// Two connected peers in the lab with one open channel.
struct Pair {
    a: PeerConnection,
    b: PeerConnection,
    /// A's end of the channel (A created it).
    a_channel: DataChannel,
    /// B's end.
    b_channel: DataChannel,
    /// Held while descriptions are exchanged: candidates wait, as a real
    /// signaling app holds them until the remote description is set.
    gate: Arc<tokio::sync::Mutex<()>>,
    timeline: Timeline,
}

/// Reads `from`'s events: candidates go (through the relay's rewriting,
/// and the gate) to `to`, state changes to the timeline, channels the peer
/// opened to `channels`.
fn pump(
    side: Side,
    from: PeerConnection,
    to: PeerConnection,
    relay: Arc<Relay>,
    gate: Arc<tokio::sync::Mutex<()>>,
    seen: mpsc::UnboundedSender<Seen>,
    channels: mpsc::UnboundedSender<DataChannel>,
) {
    let (candidates, mut pending) = mpsc::unbounded_channel::<IceCandidateInit>();
    tokio::spawn(async move {
        while let Some(ev) = from.next_event().await {
            let what = match ev {
                PeerConnectionEvent::IceCandidate(c) => {
                    let _ = candidates.send(c);
                    None
                }
                PeerConnectionEvent::DataChannel(dc) => {
                    let _ = channels.send(dc);
                    None
                }
                PeerConnectionEvent::IceConnectionStateChange(s) => Some(Observed::Ice(s)),
                PeerConnectionEvent::ConnectionStateChange(s) => Some(Observed::Connection(s)),
                _ => None,
            };
            if let Some(what) = what {
                let _ = seen.send(Seen {
                    side,
                    at: Instant::now(),
                    what,
                });
            }
        }
    });
    tokio::spawn(async move {
        while let Some(c) = pending.recv().await {
            let _hold = gate.lock().await;
            if let Some(c) = relay.rewrite(side, &c)
                && let Err(e) = to.add_ice_candidate(c.clone()).await
            {
                eprintln!(
                    "{side:?} -> {:?}: candidate {c:?} refused: {e}",
                    side.other()
                );
            }
        }
    });
}

/// Offer from `offerer`, answer from `answerer`, with the gate held.
async fn negotiate(
    offerer: &PeerConnection,
    answerer: &PeerConnection,
    gate: &tokio::sync::Mutex<()>,
) {
    let _hold = gate.lock().await;
    let offer = offerer.create_offer().await.expect("createOffer");
    offerer
        .set_local_description(Some(offer.clone()))
        .await
        .expect("offerer setLocalDescription");
    answerer
        .set_remote_description(offer)
        .await
        .expect("answerer setRemoteDescription");
    let answer = answerer.create_answer().await.expect("createAnswer");
    answerer
        .set_local_description(Some(answer.clone()))
        .await
        .expect("answerer setLocalDescription");
    offerer
        .set_remote_description(answer)
        .await
        .expect("offerer setRemoteDescription");
}

/// Makes A in namespace a and B in namespace b, connects them through the
/// relay and opens one reliable ordered channel from A.
async fn connect(lab: &Lab, relay: &Arc<Relay>, limit: Duration) -> Pair {
    let start = Instant::now();
    let make = |side: Side, seed: u8| {
        lab.enter(lab.peer_ns(side), || {
            PeerConnection::new(Configuration {
                seed: Some([seed; 32]),
                ..Default::default()
            })
        })
        .unwrap_or_else(|e| panic!("PeerConnection in namespace {side:?}: {e}"))
    };
    let a = make(Side::A, 0xA);
    let b = make(Side::B, 0xB);
    let a_channel = a
        .create_data_channel("faults", DataChannelInit::default())
        .await
        .expect("createDataChannel");
    let gate = Arc::new(tokio::sync::Mutex::new(()));
    let (seen_tx, seen_rx) = mpsc::unbounded_channel();
    let (channels_tx, mut channels_rx) = mpsc::unbounded_channel();
    for (side, from, to) in [(Side::A, &a, &b), (Side::B, &b, &a)] {
        pump(
            side,
            from.clone(),
            to.clone(),
            Arc::clone(relay),
            Arc::clone(&gate),
            seen_tx.clone(),
            channels_tx.clone(),
        );
    }
    negotiate(&a, &b, &gate).await;
    let b_channel = tokio::time::timeout(limit, channels_rx.recv())
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("no datachannel event on B within {limit:?}"));
    tokio::time::timeout(limit, a_channel.wait_open())
        .await
        .unwrap_or_else(|_| panic!("the channel did not open within {limit:?}"))
        .expect("the channel closed before it opened");
    println!(
        "connected and open in {:.2} s",
        start.elapsed().as_secs_f64()
    );
    Pair {
        a,
        b,
        a_channel,
        b_channel,
        gate,
        timeline: Timeline {
            rx: seen_rx,
            all: Vec::new(),
            start,
        },
    }
}

/// The next message on `dc`, waiting at most `limit`.
async fn next_message(dc: &DataChannel, limit: Duration) -> DataChannelMessage {
    let end = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(end, dc.recv()).await {
            Ok(Some(DataChannelEvent::Message(m))) => return std::sync::Arc::unwrap_or_clone(m),
            Ok(Some(_)) => continue,
            Ok(None) => panic!("channel {} closed while waiting", dc.label()),
            Err(_) => panic!("no message on {} within {limit:?}", dc.label()),
        }
    }
}

// ---------------------------------------------------------------- messages

/// Size of each message of the transfer.
const MESSAGE_SIZE: usize = 16 * 1024;

/// Message `seq`: its number (4 bytes, big-endian), bytes drawn from a
/// generator seeded by it, and a CRC-32 of everything before.
fn numbered_message(seq: u32) -> Vec<u8> {
    let mut m = vec![0u8; MESSAGE_SIZE];
    m[..4].copy_from_slice(&seq.to_be_bytes());
    StdRng::seed_from_u64(u64::from(seq)).fill_bytes(&mut m[4..MESSAGE_SIZE - 4]);
    let crc = crc32fast::hash(&m[..MESSAGE_SIZE - 4]);
    m[MESSAGE_SIZE - 4..].copy_from_slice(&crc.to_be_bytes());
    m
}

/// Checks that `got` is message number `expected`, intact.
fn check_message(got: &DataChannelMessage, expected: u32) {
    let DataChannelMessage::Binary(bytes) = got else {
        panic!("message {expected} arrived as text");
    };
    assert_eq!(bytes.len(), MESSAGE_SIZE, "message {expected}: length");
    let seq = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    assert_eq!(seq, expected, "messages out of order");
    let crc = crc32fast::hash(&bytes[..MESSAGE_SIZE - 4]);
    assert_eq!(
        bytes[MESSAGE_SIZE - 4..],
        crc.to_be_bytes(),
        "message {expected}: checksum"
    );
    assert!(
        *bytes == numbered_message(expected),
        "message {expected}: content differs"
    );
}

// ---------------------------------------------------------------- tests

/// 10 % kernel loss each way, 100 ms one-way delay and 5 % of datagrams
/// held up to 30 ms more (so later ones overtake them): every message of
/// the transfer arrives, in order, byte for byte.
#[tokio::test(flavor = "current_thread")]
async fn data_channel_keeps_order_and_integrity_through_loss_and_delay() {
    if !interop_enabled() {
        return;
    }
    // 10 % loss at 200 ms RTT holds any TCP-friendly sender near
    // MSS * 1.22 / (RTT * sqrt(p)), about 23 KiB/s (measured: 22.9): 2 MiB
    // would take 90 s, so the transfer is 512 KiB (25 to 35 s measured).
    const COUNT: u32 = 32;
    let lab = Lab::new("order");
    lab.drop_udp_randomly(10);
    let relay = Relay::start(
        &lab,
        Impairment {
            delay: Duration::from_millis(100),
            reorder_percent: 5,
            extra: Duration::from_millis(30),
            seed: 8,
        },
    );
    let pair = connect(&lab, &relay, Duration::from_secs(30)).await;
    let start = Instant::now();
    let sender = pair.a_channel.clone();
    let writer = tokio::spawn(async move {
        for seq in 0..COUNT {
            sender
                .send_binary(&numbered_message(seq))
                .await
                .expect("send");
        }
    });
    for seq in 0..COUNT {
        let m = next_message(&pair.b_channel, Duration::from_secs(60)).await;
        check_message(&m, seq);
    }
    writer.await.expect("writer");
    let secs = start.elapsed().as_secs_f64();
    let dropped = lab.dropped_by_kernel();
    let forwarded = relay.stats.forwarded.load(Ordering::Relaxed);
    let held = relay.stats.held_longer.load(Ordering::Relaxed);
    let overtaken = relay.stats.overtaken.load(Ordering::Relaxed);
    println!(
        "{} KiB in {COUNT} messages in {secs:.1} s ({:.1} KiB/s); kernel dropped {dropped} \
         datagrams, relay forwarded {forwarded}, held {held} longer, {overtaken} overtaken",
        COUNT as usize * MESSAGE_SIZE / 1024,
        (COUNT as usize * MESSAGE_SIZE) as f64 / 1024.0 / secs
    );
    assert!(
        dropped > 0,
        "the kernel dropped nothing: no loss was tested"
    );
    assert!(
        overtaken > 0,
        "no datagram was overtaken: no reordering was tested"
    );
    assert_eq!(pair.b_channel.ready_state(), DataChannelState::Open);
    pair.a.close().await;
    pair.b.close().await;
}

/// The path goes down (both veths of the middle namespace): both sides go
/// `disconnected` through consent freshness (RFC 7675). The path comes back
/// with a new mapping (new relay ports, as a NAT gives after an outage), so
/// the old pair stays dead; `restart_ice()` and a new offer/answer find the
/// new one, and the same channel carries messages again, including one
/// sent while the path was down.
#[tokio::test(flavor = "current_thread")]
async fn ice_restart_recovers_after_the_path_is_cut_and_restored() {
    if !interop_enabled() {
        return;
    }
    let lab = Lab::new("restart");
    let relay = Relay::start(
        &lab,
        Impairment {
            delay: Duration::from_millis(10),
            reorder_percent: 0,
            extra: Duration::ZERO,
            seed: 9,
        },
    );
    let mut pair = connect(&lab, &relay, Duration::from_secs(20)).await;
    let label_id = pair.a_channel.id();
    pair.a_channel
        .send_text("before the cut")
        .await
        .expect("send");
    assert_eq!(
        next_message(&pair.b_channel, Duration::from_secs(10)).await,
        DataChannelMessage::Text("before the cut".into())
    );

    let cut_at = Instant::now();
    lab.cut();
    pair.a_channel
        .send_text("sent while the path is down")
        .await
        .expect("send");
    let disconnected = |side| {
        move |s: &[Seen]| {
            saw(s, side, |w| {
                matches!(w, Observed::Ice(IceConnectionState::Disconnected))
            }) && saw(s, side, |w| {
                matches!(w, Observed::Connection(PeerConnectionState::Disconnected))
            })
        }
    };
    let both_down = pair
        .timeline
        .wait_for(cut_at, Duration::from_secs(25), |s| {
            disconnected(Side::A)(s) && disconnected(Side::B)(s)
        })
        .await;
    let down_after = cut_at.elapsed();
    if !both_down {
        pair.timeline.print();
    }
    assert!(
        both_down,
        "both sides should report ICE and connection state disconnected after the cut"
    );
    assert_ne!(
        pair.a.connection_state().await,
        PeerConnectionState::Connected
    );

    // The new mapping is in place before the links come up, so that no
    // consent check can revive the old pair: only the restart can recover.
    let old_facing = relay.facing(Side::A);
    relay.rebind(&lab);
    assert_ne!(relay.facing(Side::A), old_facing, "the mapping is new");
    lab.restore();
    let restart_at = Instant::now();
    pair.a.restart_ice().await.expect("restartIce");
    negotiate(&pair.a, &pair.b, &pair.gate).await;
    let connected = |side| {
        move |s: &[Seen]| {
            saw(s, side, |w| {
                matches!(
                    w,
                    Observed::Ice(IceConnectionState::Connected | IceConnectionState::Completed)
                )
            }) && saw(s, side, |w| {
                matches!(w, Observed::Connection(PeerConnectionState::Connected))
            })
        }
    };
    let both_up = pair
        .timeline
        .wait_for(restart_at, Duration::from_secs(20), |s| {
            connected(Side::A)(s) && connected(Side::B)(s)
        })
        .await;
    let up_after = restart_at.elapsed();
    if !both_up {
        pair.timeline.print();
    }
    assert!(
        both_up,
        "both sides should be connected again after the ICE restart"
    );

    pair.a_channel
        .send_text("after the restart")
        .await
        .expect("send");
    let during = next_message(&pair.b_channel, Duration::from_secs(30)).await;
    let during_at = restart_at.elapsed();
    assert_eq!(
        during,
        DataChannelMessage::Text("sent while the path is down".into())
    );
    assert_eq!(
        next_message(&pair.b_channel, Duration::from_secs(10)).await,
        DataChannelMessage::Text("after the restart".into())
    );
    pair.b_channel
        .send_text("reply after the restart")
        .await
        .expect("send");
    assert_eq!(
        next_message(&pair.a_channel, Duration::from_secs(10)).await,
        DataChannelMessage::Text("reply after the restart".into())
    );
    assert_eq!(pair.a_channel.id(), label_id, "the same channel");
    assert_eq!(pair.b_channel.ready_state(), DataChannelState::Open);
    assert_eq!(
        pair.b.connection_state().await,
        PeerConnectionState::Connected
    );

    // Drain what is left for the record.
    let _ = pair
        .timeline
        .wait_for(restart_at, Duration::from_millis(100), |_| false)
        .await;
    println!(
        "disconnected on both sides {:.2} s after the cut; connected again {:.2} s after \
         restartIce; the message sent during the cut arrived {:.2} s after restartIce",
        down_after.as_secs_f64(),
        up_after.as_secs_f64(),
        during_at.as_secs_f64()
    );
    println!("state changes (time since the pair was created):");
    pair.timeline.print();
    pair.a.close().await;
    pair.b.close().await;
}
