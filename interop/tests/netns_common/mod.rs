#![allow(dead_code)] // each netns_* test uses a part of the lab
//! The lab of the real-kernel tests (`netns_faults`, `netns_media`): two
//! `ferrtc::PeerConnection`s in separate Linux network namespaces, joined
//! through a middle namespace where the path is impaired and cut.
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
//!   drop` on the input hook, so every packet in either direction faces it
//!   once; not seeded, the kernel draws it; a packet is one datagram only
//!   with [`Lab::one_datagram_per_packet`], else a train of datagrams the
//!   peer sent with UDP GSO in one call); a **path cut** is either
//!   `ip link set … down` on both veths of the middle namespace
//!   ([`Lab::cut`]) or a second nftables table dropping every UDP datagram
//!   on input ([`Lab::block_udp`]), which acts at once (a veth coming up
//!   delivers nothing for about 0.5 s).
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
//! The tests need root, `ip` (iproute2) and `nft` (Debian `nftables`). They
//! run only with `FERRTC_INTEROP=1`, and then any of those missing is a
//! failure, not a skip. Namespaces are named `ferrtc-faults-<pid>-<test>-*`,
//! removed on drop, and stale ones (whose pid is gone) are removed at start;
//! processes still running in them are ended first.

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
    Configuration, IceCandidateInit, IceConnectionState, PeerConnection, PeerConnectionEvent,
    PeerConnectionState,
};
use nix::sched::{CloneFlags, setns};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::mpsc;

/// Prefix of every namespace these tests make.
pub const PREFIX: &str = "ferrtc-faults-";

// ---------------------------------------------------------------- the lab

/// One end of the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Peer A's end (subnet 10.201.1.0/24).
    A,
    /// Peer B's end (subnet 10.201.2.0/24).
    B,
}

impl Side {
    /// 0 for A, 1 for B.
    pub fn index(self) -> usize {
        match self {
            Side::A => 0,
            Side::B => 1,
        }
    }

    /// The other end.
    pub fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }

    /// Third octet of this side's /24.
    pub fn subnet(self) -> u8 {
        match self {
            Side::A => 1,
            Side::B => 2,
        }
    }

    /// The peer's address on its veth.
    pub fn peer_ip(self) -> Ipv4Addr {
        Ipv4Addr::new(10, 201, self.subnet(), 2)
    }

    /// The middle namespace's address facing this side.
    pub fn middle_ip(self) -> Ipv4Addr {
        Ipv4Addr::new(10, 201, self.subnet(), 1)
    }

    /// The middle namespace's veth towards this side.
    pub fn middle_dev(self) -> &'static str {
        match self {
            Side::A => "to-a",
            Side::B => "to-b",
        }
    }
}

/// Runs a command, panicking (a test failure) with its stderr if it fails.
pub fn run(program: &str, args: &[&str], stdin: Option<&str>) -> String {
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

/// Runs `ip` with `args`.
pub fn ip(args: &[&str]) -> String {
    run("ip", args, None)
}

/// Ends (SIGKILL) every process running in namespace `ns` but this one:
/// a namespace's name going away does not end what runs in it (browsers a
/// test started there, in process groups of their own).
pub fn kill_processes_in(ns: &str) {
    let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).output() else {
        return;
    };
    let me = std::process::id().to_string();
    for pid in String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter(|p| *p != me)
    {
        let _ = Command::new("kill")
            .args(["-KILL", pid])
            .stderr(Stdio::null())
            .status();
    }
}

/// Deletes namespaces of ours whose test process is gone, and ends what
/// still runs in them.
pub fn remove_stale_namespaces() {
    for line in ip(&["netns", "list"]).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or_default();
        if !std::path::Path::new("/proc").join(pid).exists() {
            kill_processes_in(name);
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
    }
}

/// Three namespaces (peer A, the middle, peer B) joined by two veth pairs;
/// deleted on drop.
pub struct Lab {
    a: String,
    m: String,
    b: String,
    /// The namespaces created so far (deleted on drop).
    made: Vec<String>,
}

impl Lab {
    /// Builds the topology of the module doc. Fails the test if the machine
    /// does not allow it (not root, no `ip`, no veth).
    pub fn new(tag: &str) -> Lab {
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

    /// The namespace of peer `side`.
    pub fn peer_ns(&self, side: Side) -> &str {
        match side {
            Side::A => &self.a,
            Side::B => &self.b,
        }
    }

    /// Runs `f` on this thread inside namespace `ns`: sockets it binds stay
    /// in that namespace for good. The thread returns to its own namespace
    /// afterwards, panic or not.
    pub fn enter<T>(&self, ns: &str, f: impl FnOnce() -> T) -> T {
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
    pub fn drop_udp_randomly(&self, percent: u32) {
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
    pub fn dropped_by_kernel(&self) -> u64 {
        self.nft_counter("ferrtc_faults")
    }

    /// The packet count of the first counter in nftables table `table`
    /// of the middle namespace.
    fn nft_counter(&self, table: &str) -> u64 {
        #[rustfmt::skip]
        let out = run("ip", &["netns", "exec", &self.m, "nft", "list", "table", "inet", table], None);
        let mut words = out.split_whitespace();
        while let Some(w) = words.next() {
            if w == "packets" {
                return words.next().and_then(|n| n.parse().ok()).unwrap_or(0);
            }
        }
        0
    }

    /// One datagram per packet on the wire. The peers send with UDP
    /// segmentation offload (`UDP_SEGMENT`): one system call hands the
    /// kernel a train of datagrams, and a veth carries that train as ONE
    /// packet, split only at the receiving socket, after the input hook.
    /// So, by default, the nftables rule draws once per train and drops
    /// whole trains (up to a video frame's packets at once). With at most
    /// one segment per packet on the peers' veths (`gso_max_segs 1`) the
    /// kernel splits each train before the veth, as a NIC would before the
    /// wire, and every datagram faces the rule on its own.
    pub fn one_datagram_per_packet(&self) {
        for side in [Side::A, Side::B] {
            #[rustfmt::skip]
            ip(&["-n", self.peer_ns(side), "link", "set", "veth0", "gso_max_segs", "1"]);
        }
    }

    /// UDP datagrams the kernel dropped for a full receive buffer
    /// (`RcvbufErrors` of `/proc/net/snmp`) in the namespaces of A, the
    /// middle and B: loss the test did not ask for, when a socket is not
    /// read fast enough.
    pub fn udp_receive_buffer_errors(&self) -> [u64; 3] {
        [&self.a, &self.m, &self.b].map(|ns| {
            let snmp = run("ip", &["netns", "exec", ns, "cat", "/proc/net/snmp"], None);
            let mut udp = snmp.lines().filter(|l| l.starts_with("Udp: "));
            let (Some(names), Some(values)) = (udp.next(), udp.next()) else {
                panic!("no Udp lines in /proc/net/snmp of {ns}");
            };
            names
                .split_whitespace()
                .zip(values.split_whitespace())
                .find(|(name, _)| *name == "RcvbufErrors")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or_else(|| panic!("no RcvbufErrors in /proc/net/snmp of {ns}"))
        })
    }

    /// Cuts the path: both veths of the middle namespace go down.
    pub fn cut(&self) {
        for side in [Side::A, Side::B] {
            ip(&["-n", &self.m, "link", "set", side.middle_dev(), "down"]);
        }
    }

    /// Brings both veths of the middle namespace up again.
    pub fn restore(&self) {
        for side in [Side::A, Side::B] {
            ip(&["-n", &self.m, "link", "set", side.middle_dev(), "up"]);
        }
    }

    /// Cuts the path at once, links up: a second nftables table in the
    /// middle namespace drops every UDP datagram on input, in both
    /// directions, until [`unblock_udp`](Self::unblock_udp). The random
    /// drop rule and its counter stay as they are.
    pub fn block_udp(&self) {
        let rules = "table inet ferrtc_block {\n\
                       chain input {\n\
                         type filter hook input priority -10; policy accept;\n\
                         meta l4proto udp counter drop\n\
                       }\n\
                     }\n";
        run(
            "ip",
            &["netns", "exec", &self.m, "nft", "-f", "-"],
            Some(rules),
        );
    }

    /// Ends [`block_udp`](Self::block_udp): its table is deleted.
    /// Returns how many datagrams it dropped.
    pub fn unblock_udp(&self) -> u64 {
        let dropped = self.nft_counter("ferrtc_block");
        #[rustfmt::skip]
        run("ip", &["netns", "exec", &self.m, "nft", "delete", "table", "inet", "ferrtc_block"], None);
        dropped
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in &self.made {
            kill_processes_in(ns);
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

// ---------------------------------------------------------------- the relay

/// What the userspace relay does to each datagram.
#[derive(Debug, Clone, Copy)]
pub struct Impairment {
    /// One-way delay of every datagram.
    pub delay: Duration,
    /// Percentage of datagrams held for `extra` longer than the rest.
    pub reorder_percent: u32,
    /// Up to this much more delay for a reordered datagram (uniform).
    pub extra: Duration,
    /// Seed of the reorder draws.
    pub seed: u64,
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
pub struct RelayStats {
    /// Datagrams sent on.
    pub forwarded: AtomicU64,
    /// Datagrams held longer than the delay.
    pub held_longer: AtomicU64,
    /// Datagrams sent on after one that arrived later than them (in the
    /// same direction): the reordering the peers saw.
    pub overtaken: AtomicU64,
}

/// A userspace static NAT with delay and reordering in the middle namespace.
pub struct Relay {
    mapping: Arc<Mutex<Mapping>>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    impairment: Impairment,
    /// Its counters.
    pub stats: Arc<RelayStats>,
}

impl Relay {
    /// Binds the relay in the middle namespace and starts forwarding.
    pub fn start(lab: &Lab, impairment: Impairment) -> Arc<Relay> {
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
    pub fn rebind(&self, lab: &Lab) {
        let (sockets, facing) = Relay::bind(lab);
        {
            let mut m = self.mapping.lock().expect("relay lock");
            m.facing = facing;
            m.peers = [None, None];
        }
        self.spawn(sockets, self.impairment.seed.wrapping_add(1));
    }

    /// Where `side` sends to reach the relay now.
    pub fn facing(&self, side: Side) -> SocketAddr {
        self.mapping.lock().expect("relay lock").facing[side.index()]
    }

    /// The static NAT in the signaling: a host candidate of `from` on its
    /// veth becomes the relay's address facing the other side (and tells
    /// the relay where `from` is). Candidates on other addresses are
    /// dropped; end-of-candidates passes unchanged.
    pub fn rewrite(&self, from: Side, c: &IceCandidateInit) -> Option<IceCandidateInit> {
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

/// A state change one side reported.
#[derive(Debug, Clone, Copy)]
pub enum Observed {
    /// `iceconnectionstatechange`.
    Ice(IceConnectionState),
    /// `connectionstatechange`.
    Connection(PeerConnectionState),
}

/// A state change, which side reported it, and when.
#[derive(Debug, Clone, Copy)]
pub struct Seen {
    /// The side that reported it.
    pub side: Side,
    /// When the test saw it.
    pub at: Instant,
    /// The change.
    pub what: Observed,
}

/// Every state change both sides reported, in order.
pub struct Timeline {
    rx: mpsc::UnboundedReceiver<Seen>,
    all: Vec<Seen>,
    start: Instant,
}

impl Timeline {
    /// Waits (at most `limit`) until `done` holds for what was seen since
    /// `since`; returns whether it did.
    pub async fn wait_for(
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

    /// Prints every change seen so far, with its time since `start`.
    pub fn print(&self) {
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
pub fn saw(seen: &[Seen], side: Side, what: impl Fn(Observed) -> bool) -> bool {
    seen.iter().any(|s| s.side == side && what(s.what))
}

// ---------------------------------------------------------------- signaling

/// Two peers made in the lab, their signaling running through the relay's
/// rewriting. Not yet negotiated: the test adds its channels or tracks,
/// then calls [`negotiate`].
pub struct Peers {
    /// Peer A, in namespace a.
    pub a: PeerConnection,
    /// Peer B, in namespace b.
    pub b: PeerConnection,
    /// Held while descriptions are exchanged: candidates wait, as a real
    /// signaling app holds them until the remote description is set.
    pub gate: Arc<tokio::sync::Mutex<()>>,
    /// The state changes of both sides.
    pub timeline: Timeline,
    /// A's other events (`datachannel`, `track`, ...), in order.
    pub a_events: mpsc::UnboundedReceiver<PeerConnectionEvent>,
    /// B's other events.
    pub b_events: mpsc::UnboundedReceiver<PeerConnectionEvent>,
}

impl Peers {
    /// Makes A in namespace a and B in namespace b (their sockets are
    /// bound there), and starts their signaling through `relay`.
    pub fn start(lab: &Lab, relay: &Arc<Relay>) -> Peers {
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
        let gate = Arc::new(tokio::sync::Mutex::new(()));
        let (seen_tx, seen_rx) = mpsc::unbounded_channel();
        let (a_tx, a_events) = mpsc::unbounded_channel();
        let (b_tx, b_events) = mpsc::unbounded_channel();
        for (side, from, to, events) in [(Side::A, &a, &b, a_tx), (Side::B, &b, &a, b_tx)] {
            pump(
                side,
                from.clone(),
                to.clone(),
                Arc::clone(relay),
                Arc::clone(&gate),
                seen_tx.clone(),
                events,
            );
        }
        Peers {
            a,
            b,
            gate,
            timeline: Timeline {
                rx: seen_rx,
                all: Vec::new(),
                start,
            },
            a_events,
            b_events,
        }
    }
}

/// Reads `from`'s events: candidates go (through the relay's rewriting,
/// and the gate) to `to`, state changes to the timeline, the rest to
/// `events`.
fn pump(
    side: Side,
    from: PeerConnection,
    to: PeerConnection,
    relay: Arc<Relay>,
    gate: Arc<tokio::sync::Mutex<()>>,
    seen: mpsc::UnboundedSender<Seen>,
    events: mpsc::UnboundedSender<PeerConnectionEvent>,
) {
    let (candidates, mut pending) = mpsc::unbounded_channel::<IceCandidateInit>();
    tokio::spawn(async move {
        while let Some(ev) = from.next_event().await {
            let what = match ev {
                PeerConnectionEvent::IceCandidate(c) => {
                    let _ = candidates.send(c);
                    None
                }
                PeerConnectionEvent::IceConnectionStateChange(s) => Some(Observed::Ice(s)),
                PeerConnectionEvent::ConnectionStateChange(s) => Some(Observed::Connection(s)),
                other => {
                    let _ = events.send(other);
                    None
                }
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
pub async fn negotiate(
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
