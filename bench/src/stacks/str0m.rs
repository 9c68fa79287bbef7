//! str0m: the sans-IO `Rtc`, driven the way str0m's examples drive it: a
//! std `UdpSocket` per peer on 127.0.0.1 (non-blocking), `poll_output`
//! until `Output::Timeout`, datagrams fed as `Input::Receive`, expired
//! timers as `Input::Timeout`, each input followed by `poll_output` until
//! `Output::Timeout`. A loop sleeps in `poll(2)` on its sockets until the
//! earliest str0m timeout. Setup and connections: ONE thread drives both
//! peers of a pair (and every pair); throughput and small messages: after
//! the pair is open, each peer runs on a thread of its own.
//!
//! Candidates: str0m does not gather; each peer adds its one host candidate
//! before the offer, so the candidates travel inside the SDP (which goes
//! through `to_sdp_string`/`from_sdp_string` like real signaling).

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpOffer};
use str0m::channel::ChannelId;
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};

use crate::proc::{cpu_seconds, median, peak_rss_mib, rss_mib};
use crate::workload::{Sample, Workload};

/// The sender waits while more than this is buffered (workload definition).
const BACKPRESSURE: usize = 1 << 20;
/// Pairs opened at the same time in the connections workload.
const BATCH: usize = 64;
/// A connections run that has not finished by then is reported as failed.
const CONNECTIONS_LIMIT: Duration = Duration::from_secs(120);
/// Limit for one pair to open, or one transfer to finish.
const PAIR_LIMIT: Duration = Duration::from_secs(30);
const TRANSFER_LIMIT: Duration = Duration::from_secs(280);

type Res<T> = Result<T, String>;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

pub fn run(w: Workload) -> Res<Sample> {
    str0m::crypto::from_feature_flags().install_process_default();
    let mut sample = match w {
        Workload::Throughput {
            bytes,
            message_size,
        } => {
            let count = bytes.div_ceil(message_size as u64);
            let (secs, cpu) = transfer(count, message_size)?;
            crate::throughput_sample(count * message_size as u64, secs, cpu)
        }
        Workload::Setup { rounds } => setup(rounds)?,
        Workload::Connections { pairs } => connections(pairs)?,
        Workload::SmallMessages {
            count,
            message_size,
        } => {
            let (secs, cpu) = transfer(count, message_size)?;
            Sample {
                secs,
                cpu_s: cpu,
                messages_per_s: Some(count as f64 / secs),
                ..Default::default()
            }
        }
        // `stacks::run` sends it to `crate::rtp`, not here.
        Workload::Rtp { .. } | Workload::Forward { .. } => {
            return Err(super::RTP_ELSEWHERE.into());
        }
    };
    sample.stack = "str0m".into();
    sample.version = crate::crate_version("str0m");
    sample.peak_rss_mib = peak_rss_mib();
    Ok(sample)
}

/// One `Rtc` and its socket.
struct Peer {
    rtc: Rtc,
    socket: Arc<UdpSocket>,
    /// The socket is shared with other peers: the caller reads it and
    /// routes datagrams here with [`Peer::receive`].
    shared: bool,
    addr: SocketAddr,
    /// When the `Rtc` next wants `Input::Timeout`.
    timeout: Instant,
}

impl Peer {
    fn new(now: Instant, shared: Option<&Arc<UdpSocket>>) -> Res<Peer> {
        // str0m's default send buffer is 128 KiB; the workloads apply
        // back-pressure at 1 MiB on every stack, so let a message be
        // accepted while up to 1 MiB is buffered.
        let mut rtc = Rtc::builder()
            .set_sctp_max_buffered_amount(2 * BACKPRESSURE)
            .build(now);
        let socket = match shared {
            Some(s) => Arc::clone(s),
            None => Arc::new(bind()?),
        };
        let addr = socket.local_addr().map_err(err)?;
        let candidate = Candidate::host(addr, "udp").map_err(err)?;
        rtc.add_local_candidate(candidate);
        Ok(Peer {
            rtc,
            socket,
            shared: shared.is_some(),
            addr,
            timeout: now,
        })
    }

    fn pollfd(&self) -> libc::pollfd {
        libc::pollfd {
            // poll(2) ignores a negative fd: a shared socket is polled by
            // whoever reads it.
            fd: if self.shared {
                -1
            } else {
                self.socket.as_raw_fd()
            },
            events: libc::POLLIN,
            revents: 0,
        }
    }

    /// Feeds the timeout (if due) and every waiting datagram, one input at
    /// a time, each followed by [`Peer::flush`] as str0m requires.
    /// Returns whether anything happened.
    fn drive(&mut self, buf: &mut [u8], on_event: &mut impl FnMut(Event)) -> Res<bool> {
        let now = Instant::now();
        let mut progress = false;
        if now >= self.timeout {
            self.rtc.handle_input(Input::Timeout(now)).map_err(err)?;
            progress |= self.flush(on_event)?;
        }
        // Until WouldBlock (nothing waiting); other errors (an ICMP port
        // unreachable after a peer closed) are not data either.
        while !self.shared
            && let Ok((n, source)) = self.socket.recv_from(buf)
        {
            progress = true;
            if let Some(data) = buf.get(..n) {
                self.receive(source, data, on_event)?;
            }
        }
        if !progress {
            // Writes by the application since the last drive.
            progress |= self.flush(on_event)?;
        }
        Ok(progress)
    }

    /// Feeds one datagram from `source`, then [`Peer::flush`].
    fn receive(
        &mut self,
        source: SocketAddr,
        data: &[u8],
        on_event: &mut impl FnMut(Event),
    ) -> Res<()> {
        let Ok(contents) = data.try_into() else {
            return Ok(());
        };
        self.rtc
            .handle_input(Input::Receive(
                Instant::now(),
                Receive {
                    proto: Protocol::Udp,
                    source,
                    destination: self.addr,
                    contents,
                },
            ))
            .map_err(err)?;
        self.flush(on_event)?;
        Ok(())
    }

    /// `poll_output` until `Output::Timeout`: sends every transmit, hands
    /// every event to `on_event`. Returns whether there was any.
    fn flush(&mut self, on_event: &mut impl FnMut(Event)) -> Res<bool> {
        let mut any = false;
        loop {
            match self.rtc.poll_output().map_err(err)? {
                Output::Timeout(t) => {
                    self.timeout = t;
                    return Ok(any);
                }
                Output::Transmit(t) => {
                    any = true;
                    // A full socket buffer is loss; SCTP recovers.
                    let _ = self.socket.send_to(&t.contents, t.destination);
                }
                Output::Event(e) => {
                    any = true;
                    on_event(e);
                }
            }
        }
    }
}

/// Two peers, `l` offering one channel to `r`.
struct Pair {
    l: Peer,
    r: Peer,
    /// The channel as `l` knows it.
    cid: ChannelId,
    l_open: bool,
    /// The channel as `r` knows it, once open there.
    r_cid: Option<ChannelId>,
}

impl Pair {
    /// New pair, one channel, offer/answer through SDP text. With
    /// `shared`, the answerer `r` uses that socket instead of its own.
    fn new(shared: Option<&Arc<UdpSocket>>) -> Res<Pair> {
        let now = Instant::now();
        let mut l = Peer::new(now, None)?;
        let mut r = Peer::new(now, shared)?;
        let mut change = l.rtc.sdp_api();
        let cid = change.add_channel("bench".into());
        let (offer, pending) = change.apply().ok_or("no offer")?;
        let offer = SdpOffer::from_sdp_string(&offer.to_sdp_string()).map_err(err)?;
        let answer = r.rtc.sdp_api().accept_offer(offer).map_err(err)?;
        let answer = SdpAnswer::from_sdp_string(&answer.to_sdp_string()).map_err(err)?;
        l.rtc
            .sdp_api()
            .accept_answer(pending, answer)
            .map_err(err)?;
        Ok(Pair {
            l,
            r,
            cid,
            l_open: false,
            r_cid: None,
        })
    }

    fn is_open(&self) -> bool {
        self.l_open && self.r_cid.is_some()
    }

    /// Drives both peers until neither has anything left to do now; data
    /// received by `r` is counted in `received`.
    fn drive(&mut self, buf: &mut [u8], received: &mut u64) -> Res<bool> {
        let mut any = false;
        loop {
            let cid = self.cid;
            let l_open = &mut self.l_open;
            let mut progress = self.l.drive(buf, &mut |e| {
                if matches!(e, Event::ChannelOpen(id, _) if id == cid) {
                    *l_open = true;
                }
            })?;
            let r_cid = &mut self.r_cid;
            progress |= self.r.drive(buf, &mut |e| match e {
                Event::ChannelOpen(id, _) => *r_cid = Some(id),
                Event::ChannelData(d) => *received += d.data.len() as u64,
                _ => {}
            })?;
            if !progress {
                return Ok(any);
            }
            any = true;
        }
    }

    fn earliest(&self) -> Instant {
        self.l.timeout.min(self.r.timeout)
    }

    fn fds(&self) -> [libc::pollfd; 2] {
        [self.l.pollfd(), self.r.pollfd()]
    }
}

/// A non-blocking socket on 127.0.0.1.
fn bind() -> Res<UdpSocket> {
    let socket = UdpSocket::bind("127.0.0.1:0").map_err(err)?;
    socket.set_nonblocking(true).map_err(err)?;
    Ok(socket)
}

/// Sleeps until a socket in `fds` is readable or `until` passes.
fn wait(fds: &mut [libc::pollfd], until: Instant) {
    let ms = until
        .saturating_duration_since(Instant::now())
        .as_micros()
        .div_ceil(1000)
        .min(100) as libc::c_int;
    // SAFETY: `fds` is a valid, exclusively borrowed slice of pollfd for
    // the duration of the call and its length is passed with it.
    unsafe {
        libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms);
    }
}

/// Drives `pair` until its channel is open on both sides.
fn open(pair: &mut Pair, buf: &mut [u8]) -> Res<()> {
    let t0 = Instant::now();
    let mut ignored = 0;
    while !pair.is_open() {
        if t0.elapsed() > PAIR_LIMIT {
            return Err("a pair did not open within 30 s".into());
        }
        if !pair.drive(buf, &mut ignored)? {
            wait(&mut pair.fds(), pair.earliest());
        }
    }
    Ok(())
}

/// Sends `count` messages of `size` bytes from `l` to `r`, writing while
/// at most 1 MiB is buffered; returns wall-clock and CPU seconds from the
/// first write to the last byte received.
///
/// The pair is opened on this thread; then each peer gets a thread of its
/// own (the receiver a new one), as an application with one socket loop per
/// peer would run it, so str0m may use both cores as the tokio stacks do.
fn transfer(count: u64, size: usize) -> Res<(f64, f64)> {
    let mut buf = vec![0_u8; 2048];
    let mut pair = Pair::new(None)?;
    open(&mut pair, &mut buf)?;
    let Pair { mut l, r, cid, .. } = pair;
    let want = count * size as u64;
    let done = Arc::new(AtomicBool::new(false));
    let receiver = {
        let done = done.clone();
        std::thread::spawn(move || -> Res<Instant> {
            let mut r = r;
            let mut buf = vec![0_u8; 2048];
            let mut got = 0u64;
            let t0 = Instant::now();
            loop {
                let progress = r.drive(&mut buf, &mut |e| {
                    if let Event::ChannelData(d) = e {
                        got += d.data.len() as u64;
                    }
                })?;
                if got >= want {
                    done.store(true, Ordering::Release);
                    return Ok(Instant::now());
                }
                if !progress {
                    if t0.elapsed() > TRANSFER_LIMIT {
                        done.store(true, Ordering::Release);
                        return Err(format!("{got} of {want} bytes after {TRANSFER_LIMIT:?}"));
                    }
                    wait(&mut [r.pollfd()], r.timeout);
                }
            }
        })
    };
    let message = vec![0x5a_u8; size];
    let mut sent = 0u64;
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    while !done.load(Ordering::Acquire) {
        let mut wrote = false;
        if let Some(mut ch) = l.rtc.channel(cid) {
            while sent < count && ch.buffered_amount() <= BACKPRESSURE {
                if !ch.write(true, &message).map_err(err)? {
                    break;
                }
                sent += 1;
                wrote = true;
            }
        }
        let progress = l.drive(&mut buf, &mut |_| {})?;
        if !progress && !wrote {
            wait(&mut [l.pollfd()], l.timeout);
        }
    }
    let end = receiver.join().map_err(|_| "receiver thread panicked")??;
    Ok(((end - t0).as_secs_f64(), cpu_seconds() - cpu0))
}

fn setup(rounds: usize) -> Res<Sample> {
    let mut buf = vec![0_u8; 2048];
    let mut ms = Vec::with_capacity(rounds);
    let cpu0 = cpu_seconds();
    let t_all = Instant::now();
    for _ in 0..rounds {
        let t0 = Instant::now();
        let mut pair = Pair::new(None)?;
        open(&mut pair, &mut buf)?;
        ms.push(t0.elapsed().as_secs_f64() * 1000.0);
        pair.l.rtc.disconnect();
        pair.r.rtc.disconnect();
    }
    Ok(Sample {
        secs: t_all.elapsed().as_secs_f64(),
        cpu_s: cpu_seconds() - cpu0,
        setup_median_ms: Some(median(&mut ms)),
        ..Default::default()
    })
}

/// Opens `n` pairs, `BATCH` at a time, on one thread; pairs already open
/// keep being driven whenever their timers fire (keepalives, consent).
///
/// When two sockets per pair would pass the open-file hard limit, the
/// answering peers share one socket, as str0m's own `chat` example serves
/// every client from one: a datagram from a new source goes to the `Rtc`
/// of the batch being opened that `accepts` it (its ICE ufrag), and later
/// ones from that source to the same `Rtc`.
fn connections(n: usize) -> Res<Sample> {
    let mut buf = vec![0_u8; 2048];
    let shared = if 2 * n as u64 + 256 > crate::nofile_hard_limit() {
        eprintln!("str0m: {n} pairs: answering peers share one socket");
        let socket = bind()?;
        // Every answerer's traffic meets in this one socket: 4 MiB buffers,
        // as ferrtc's UdpMux asks for (the kernel caps at rmem/wmem_max).
        for opt in [libc::SO_RCVBUF, libc::SO_SNDBUF] {
            let size: libc::c_int = 4 << 20;
            // SAFETY: setsockopt reads `size_of::<c_int>()` bytes from a
            // live c_int on an fd that `socket` owns.
            unsafe {
                libc::setsockopt(
                    socket.as_raw_fd(),
                    libc::SOL_SOCKET,
                    opt,
                    (&size as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                );
            }
        }
        Some(Arc::new(socket))
    } else {
        None
    };
    let shared_addr = match &shared {
        Some(s) => Some(s.local_addr().map_err(err)?),
        None => None,
    };
    let mut routes: HashMap<SocketAddr, usize> = HashMap::new();
    let rss0 = rss_mib();
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let mut pairs: Vec<Pair> = Vec::with_capacity(n);
    let mut ignored = 0;
    while pairs.len() < n {
        let first = pairs.len();
        for _ in 0..BATCH.min(n - first) {
            pairs.push(
                Pair::new(shared.as_ref())
                    .map_err(|e| format!("{first} of {n} pairs open, then: {e}"))?,
            );
        }
        loop {
            let now = Instant::now();
            if now - t0 > CONNECTIONS_LIMIT {
                return Err(format!(
                    "{first} of {n} pairs open after {} s",
                    CONNECTIONS_LIMIT.as_secs()
                ));
            }
            let mut progress = false;
            if let (Some(sock), Some(local)) = (&shared, shared_addr) {
                while let Ok((len, source)) = sock.recv_from(&mut buf) {
                    progress = true;
                    let Some(data) = buf.get(..len) else { continue };
                    let index = match routes.get(&source) {
                        Some(&i) => Some(i),
                        None => {
                            let Ok(contents) = data.try_into() else {
                                continue;
                            };
                            let input = Input::Receive(
                                now,
                                Receive {
                                    proto: Protocol::Udp,
                                    source,
                                    destination: local,
                                    contents,
                                },
                            );
                            let found = pairs
                                .iter()
                                .enumerate()
                                .skip(first)
                                .find(|(_, p)| p.r.rtc.accepts(&input))
                                .map(|(i, _)| i);
                            if let Some(i) = found {
                                routes.insert(source, i);
                            }
                            found
                        }
                    };
                    let Some(p) = index.and_then(|i| pairs.get_mut(i)) else {
                        continue;
                    };
                    let r_cid = &mut p.r_cid;
                    p.r.receive(source, data, &mut |e| {
                        if let Event::ChannelOpen(id, _) = e {
                            *r_cid = Some(id);
                        }
                    })?;
                }
            }
            let mut earliest = now + Duration::from_secs(1);
            for (i, p) in pairs.iter_mut().enumerate() {
                if i >= first || p.earliest() <= now {
                    progress |= p.drive(&mut buf, &mut ignored)?;
                }
                earliest = earliest.min(p.earliest());
            }
            let Some(batch) = pairs.get(first..) else {
                break;
            };
            if batch.iter().all(Pair::is_open) {
                break;
            }
            if !progress {
                let mut fds: Vec<libc::pollfd> = batch.iter().flat_map(Pair::fds).collect();
                if let Some(sock) = &shared {
                    fds.push(libc::pollfd {
                        fd: sock.as_raw_fd(),
                        events: libc::POLLIN,
                        revents: 0,
                    });
                }
                wait(&mut fds, earliest);
            }
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    Ok(crate::connections_sample(
        n,
        secs,
        cpu_seconds() - cpu0,
        rss0,
    ))
}
