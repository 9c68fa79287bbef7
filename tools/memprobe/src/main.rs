//! Heap held per `ferrtc-core` peer connection, measured with a counting
//! global allocator, over pairs connected on `ferrtc-sim`:
//!
//! ```text
//! cd tools/memprobe && CARGO_TARGET_DIR=../../target cargo run
//! ```
//!
//! For a breakdown by engine, drop the engines of a connected
//! `PeerConnection` one by one in a local patch and read the live count
//! before and after each.

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use ferrtc_core::{Config, DataChannelInit, Event, PeerConnection};
use ferrtc_sim::{Endpoint, HostId, LinkConfig, Network, Transmit};

struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        LIVE.fetch_add(n as isize - l.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

struct Peer {
    pc: PeerConnection,
    events: Vec<Event>,
}

impl Endpoint for Peer {
    fn handle_receive(&mut self, now: Instant, source: SocketAddr, dest: SocketAddr, data: &[u8]) {
        self.pc.handle_receive(now, source, dest, &mut data.to_vec());
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        let t = self.pc.poll_transmit(now, buf)?;
        Some(Transmit {
            source: t.source,
            destination: t.destination,
        })
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        self.pc.poll_timeout()
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.pc.handle_timeout(now);
    }
}

fn signal(net: &mut Network, a: HostId<Peer>, b: HostId<Peer>) {
    let now = net.now();
    for (from, to) in [(a, b), (b, a)] {
        let mut trickled = Vec::new();
        let p = net.endpoint_mut(&from);
        while let Some(ev) = p.pc.poll_event() {
            if let Event::IceCandidate(c) = &ev {
                trickled.push(c.clone());
            }
            if matches!(ev, Event::ChannelOpen(_)) {
                p.events.push(ev);
            }
        }
        for c in trickled {
            net.endpoint_mut(&to).pc.add_ice_candidate(now, &c).unwrap();
        }
    }
}

fn main() {
    heap_per_connection();
}

fn heap_per_connection() {
    const N: isize = 20;
    let mut stages = [0isize; 4];
    let mut nets = Vec::new();
    for i in 0..N {
        let l0 = live();
        let mut net = Network::new(i as u64);
        let (ip_a, ip_b): (IpAddr, IpAddr) =
            ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let now = net.now();
        let link = LinkConfig::IDEAL.with_delay(Duration::from_millis(1));
        let mk = |seed: u64, ip: IpAddr| {
            let mut config = Config::default();
            config.rng_seed = Some([seed as u8; 32]);
            let mut pc = PeerConnection::new(config, now, SystemTime::now()).unwrap();
            pc.add_local_host(now, SocketAddr::new(ip, 5000)).unwrap();
            Peer {
                pc,
                events: Vec::new(),
            }
        };
        let l_net = live();
        let pa = mk(2 * i as u64 + 1, ip_a);
        let pb = mk(2 * i as u64 + 2, ip_b);
        let a = net.add_host([ip_a], link, pa).unwrap();
        let b = net.add_host([ip_b], link, pb).unwrap();
        let l1 = live();
        net.endpoint_mut(&a)
            .pc
            .create_data_channel(now, "bench", DataChannelInit::default())
            .unwrap();
        let offer = net.endpoint_mut(&a).pc.create_offer().unwrap();
        net.endpoint_mut(&a)
            .pc
            .set_local_description(now, Some(offer.clone()))
            .unwrap();
        if i == 0 {
            let t0 = live();
            let text = offer.sdp.clone();
            let t1 = live();
            let model: ferrtc_sdp::SessionDescription = text.parse().unwrap();
            let t2 = live();
            println!(
                "offer text {} B (len {}), model heap {} B",
                t1 - t0,
                text.len(),
                t2 - t1
            );
            drop(model);
        }
        net.endpoint_mut(&b)
            .pc
            .set_remote_description(now, offer)
            .unwrap();
        let answer = net.endpoint_mut(&b).pc.create_answer().unwrap();
        net.endpoint_mut(&b)
            .pc
            .set_local_description(now, Some(answer.clone()))
            .unwrap();
        net.endpoint_mut(&a)
            .pc
            .set_remote_description(now, answer)
            .unwrap();
        let l2 = live();
        let deadline = net.now() + Duration::from_secs(10);
        while net.now() < deadline {
            signal(&mut net, a, b);
            if !net.endpoint_mut(&a).events.is_empty() && !net.endpoint_mut(&b).events.is_empty() {
                break;
            }
            net.run_for(Duration::from_millis(1));
        }
        assert!(!net.endpoint_mut(&b).events.is_empty(), "not open");
        // Idle a while: handshake retransmission state should go.
        for _ in 0..200 {
            net.run_for(Duration::from_millis(10));
            signal(&mut net, a, b);
        }
        net.endpoint_mut(&a).events = Vec::new();
        net.endpoint_mut(&b).events = Vec::new();
        let l3 = live();
        stages[0] += l_net - l0;
        stages[1] += l1 - l_net;
        stages[2] += l2 - l1;
        stages[3] += l3 - l2;
        if i == N - 1 {
            use std::mem::size_of;
            println!("size_of PeerConnection {} B", size_of::<PeerConnection>());
            println!("size_of Agent {} B", size_of::<ferrtc_ice::Agent>());
            println!("size_of Dtls {} B", size_of::<ferrtc_dtls::Dtls>());
            println!("size_of dimpl::Dtls {} B", size_of::<dimpl::Dtls>());
            println!(
                "size_of Association {} B",
                size_of::<ferrtc_sctp::Association>()
            );
            println!("size_of Jsep {} B", size_of::<ferrtc_jsep::Jsep>());
            println!(
                "size_of Sdp {} B",
                size_of::<ferrtc_sdp::SessionDescription>()
            );
            println!(
                "size_of Certificate {} B",
                size_of::<ferrtc_dtls::Certificate>()
            );
            println!(
                "size_of JsepConfig {} B",
                size_of::<ferrtc_jsep::JsepConfig>()
            );
            println!(
                "size_of NegotiatedTransport {} B",
                size_of::<ferrtc_jsep::NegotiatedTransport>()
            );
            println!(
                "size_of ice Candidate {} B",
                size_of::<ferrtc_ice::Candidate>()
            );
            println!(
                "size_of ice SelectedPair {} B",
                size_of::<ferrtc_ice::SelectedPair>()
            );
            println!(
                "size_of ice AgentConfig {} B",
                size_of::<ferrtc_ice::AgentConfig>()
            );
            println!("size_of sctp Config {} B", size_of::<ferrtc_sctp::Config>());
            println!("size_of core Config {} B", size_of::<Config>());
            println!("size_of core Event {} B", size_of::<Event>());
        }
        nets.push(net);
    }
    let per = |v: isize| v as f64 / (2 * N) as f64 / 1024.0;
    println!("network (per pair, /2): {:.2} KiB", per(stages[0]));
    println!("new (incl. certificate): {:.2} KiB", per(stages[1]));
    println!("negotiate: {:.2} KiB", per(stages[2]));
    println!("connect+idle: {:.2} KiB", per(stages[3]));
    println!(
        "total per pc (excl. network): {:.2} KiB",
        per(stages[1] + stages[2] + stages[3])
    );
}
