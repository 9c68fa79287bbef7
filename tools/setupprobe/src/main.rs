//! Where a pair's setup spends its time: timestamps of each step and
//! event, `new` to channel open on both sides, over loopback UDP.
use std::time::Instant;

use ferrtc::{Configuration, DataChannelInit, PeerConnection, PeerConnectionEvent};

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

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

fn loopback(seed: u64) -> Configuration {
    Configuration {
        seed: Some([seed as u8; 32]),
        host_addresses: vec![std::net::Ipv4Addr::LOCALHOST.into()],
        ..Default::default()
    }
}

fn cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let rest = stat.rsplit_once(')').unwrap().1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
}

async fn one(seed: u64, verbose: bool) -> f64 {
    one_kept(seed, verbose, &mut None).await
}

async fn one_kept(
    seed: u64,
    verbose: bool,
    keep: &mut Option<Vec<(PeerConnection, PeerConnection, ferrtc::DataChannel)>>,
) -> f64 {
    let t0 = Instant::now();
    let ms = move || t0.elapsed().as_secs_f64() * 1000.0;
    let a = PeerConnection::new(loopback(seed)).unwrap();
    let t_new_a = ms();
    let b = PeerConnection::new(loopback(seed + 1)).unwrap();
    let t_new = ms();
    let send = a
        .create_data_channel("bench", DataChannelInit::default())
        .await
        .unwrap();
    let offer = a.create_offer().await.unwrap();
    a.set_local_description(Some(offer.clone())).await.unwrap();
    b.set_remote_description(offer).await.unwrap();
    let answer = b.create_answer().await.unwrap();
    b.set_local_description(Some(answer.clone())).await.unwrap();
    a.set_remote_description(answer).await.unwrap();
    let t_sdp = ms();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for (name, from, to) in [("a", a.clone(), b.clone()), ("b", b.clone(), a.clone())] {
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Some(ev) = from.next_event().await {
                let label = match &ev {
                    PeerConnectionEvent::IceCandidate(_) => "candidate".to_string(),
                    PeerConnectionEvent::IceConnectionStateChange(s) => format!("ice {s:?}"),
                    PeerConnectionEvent::ConnectionStateChange(s) => format!("pc {s:?}"),
                    PeerConnectionEvent::DataChannel(_) => "datachannel".to_string(),
                    _ => continue,
                };
                let _ = tx.send((name, label, ms()));
                match ev {
                    PeerConnectionEvent::IceCandidate(c) => {
                        let _ = to.add_ice_candidate(c).await;
                    }
                    PeerConnectionEvent::DataChannel(_) => {}
                    _ => {}
                }
            }
        });
    }
    drop(tx);
    let mut log = Vec::new();
    loop {
        let (n, l, t) = rx.recv().await.unwrap();
        let done = l == "datachannel";
        log.push((n, l, t));
        if done {
            break;
        }
    }
    send.wait_open().await.unwrap();
    let total = ms();
    if verbose {
        println!("new a {t_new_a:.3} new b {t_new:.3} sdp {t_sdp:.3}");
        for (n, l, t) in &log {
            println!("  {t:.3} {n} {l}");
        }
        println!("  {total:.3} open");
    }
    match keep {
        Some(k) => k.push((a, b, send)),
        None => {
            a.close().await;
            b.close().await;
        }
    }
    total
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        one(1, false).await;
        let c0 = cpu();
        let mut times = Vec::new();
        for i in 0..50 {
            times.push(one(1000 + 2 * i, i == 0).await);
        }
        let c1 = cpu();
        times.sort_by(f64::total_cmp);
        println!(
            "median {:.3} ms, cpu per setup {:.3} ms",
            times[25],
            (c1 - c0) * 1000.0 / 50.0
        );
        println!(
            "size_of PeerConnectionEvent {} DataChannelEvent {}",
            std::mem::size_of::<PeerConnectionEvent>(),
            std::mem::size_of::<ferrtc::DataChannelEvent>()
        );
        let l = LIVE.load(Ordering::Relaxed);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<PeerConnectionEvent>();
        let _ = tx.send(PeerConnectionEvent::NegotiationNeeded);
        let _ = rx.recv().await;
        println!(
            "one tokio unbounded channel of PeerConnectionEvent: {} B",
            LIVE.load(Ordering::Relaxed) - l
        );
        drop((tx, rx));
        let l = LIVE.load(Ordering::Relaxed);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<ferrtc::DataChannelEvent>();
        let _ = tx.send(ferrtc::DataChannelEvent::Close);
        let _ = rx.recv().await;
        println!(
            "one tokio unbounded channel of DataChannelEvent: {} B",
            LIVE.load(Ordering::Relaxed) - l
        );
        drop((tx, rx));
        const N: isize = 200;
        let mut keep = Some(Vec::new());
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let l0 = LIVE.load(Ordering::Relaxed);
        for i in 0..N {
            one_kept(100_000 + 2 * i as u64, false, &mut keep).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(2000)).await;
        let l1 = LIVE.load(Ordering::Relaxed);
        println!(
            "live heap per peer connection (driver + core): {:.2} KiB",
            (l1 - l0) as f64 / (2 * N) as f64 / 1024.0
        );
    });
}
