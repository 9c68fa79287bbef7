//! Local addresses and the UDP sockets of a connection.

mod batch;
mod tcp;
mod tls;
mod udp;

use std::future::poll_fn;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket as StdUdpSocket};
use std::task::Poll;

pub use batch::BatchUdpSocket;
pub(crate) use tcp::{Kind as TcpKind, TcpEvent, TcpSockets};
pub(crate) use tls::TlsServers;
pub(crate) use udp::UdpSocket;
use udp::{Group, Read};

/// Room for one read of [`Sockets::try_recv`].
pub(crate) const READ_BYTES: usize = udp::READ_GROUPS * udp::GROUP_BYTES;

use crate::mux::MuxPort;

/// The machine's addresses to gather host candidates on: loopback (IPv4
/// and IPv6) and the addresses of the default routes, found by
/// "connecting" a UDP socket (no packet is sent).
pub(crate) fn local_addresses() -> Vec<IpAddr> {
    let mut addrs = vec![IpAddr::V4(Ipv4Addr::LOCALHOST)];
    for (bind, probe) in [("0.0.0.0:0", "192.0.2.1:9"), ("[::]:0", "[2001:db8::1]:9")] {
        if let Ok(s) = StdUdpSocket::bind(bind)
            && s.connect(probe).is_ok()
            && let Ok(local) = s.local_addr()
            && !local.ip().is_unspecified()
            && !addrs.contains(&local.ip())
        {
            addrs.push(local.ip());
        }
    }
    if StdUdpSocket::bind((Ipv6Addr::LOCALHOST, 0)).is_ok() {
        addrs.push(IpAddr::V6(Ipv6Addr::LOCALHOST));
    }
    addrs
}

/// Most datagrams sent with one system call (Linux UDP GSO allows 64;
/// each socket may allow fewer, see [`UdpSocket::max_segments`]).
const MAX_SEGMENTS: usize = 64;

/// Most bytes in one GSO send (the UDP length limit, less headers).
const MAX_BATCH_BYTES: usize = 65_000;

thread_local! {
    /// The buffer of the batch being filled, one per thread: a batch is
    /// sent at the end of each round of output ([`Sockets::flush`]), so
    /// the connections of a thread take turns with it. A connection keeps
    /// no buffer between flights, and none regrows one for each flight.
    static BATCH_BUFFER: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// The sockets of one connection, one per local address, and its end of a
/// shared [`crate::UdpMux`] if it has one.
pub(crate) struct Sockets {
    sockets: Vec<(SocketAddr, UdpSocket)>,
    /// ICE-TCP listeners and connections, and TURN over TCP, when used
    /// ([`crate::Configuration::tcp_candidates`], `turn:...?transport=tcp`);
    /// boxed, as most connections have none. Its messages make
    /// [`Self::readable`] ready too.
    pub(crate) tcp: Option<Box<TcpSockets>>,
    mux: Option<MuxPort>,
    /// Which socket to poll first next time (fairness).
    next: usize,
    /// Datagrams waiting to leave together.
    batch: Batch,
    /// A datagram taken from the mux while waiting for readiness.
    mux_pending: Option<(SocketAddr, Vec<u8>)>,
}

impl Sockets {
    /// The TURN servers to reach over TLS (the TCP side is made for them
    /// when there are any).
    pub(crate) fn set_tls_servers(&mut self, tls: TlsServers) {
        match &mut self.tcp {
            Some(tcp) => tcp.set_tls_servers(tls),
            None if tls.is_empty() => {}
            None => {
                let mut tcp = Box::new(TcpSockets::new());
                tcp.set_tls_servers(tls);
                self.tcp = Some(tcp);
            }
        }
    }
}

/// Consecutive datagrams from one socket to one destination, all of one
/// size but the last: what UDP segmentation offload (Linux `UDP_SEGMENT`,
/// Windows `UDP_SEND_MSG_SIZE`) sends with one system call and the kernel
/// cuts apart.
#[derive(Debug, Default)]
struct Batch {
    source: Option<SocketAddr>,
    destination: Option<SocketAddr>,
    segment: usize,
    count: usize,
    /// A shorter datagram ended the batch.
    closed: bool,
    data: Vec<u8>,
}

impl Batch {
    /// Whether a datagram of `len` bytes can join, in a batch of at most
    /// `max_segments` datagrams.
    fn takes(
        &self,
        source: SocketAddr,
        destination: SocketAddr,
        len: usize,
        max_segments: usize,
    ) -> bool {
        self.count > 0
            && len > 0
            && self.segment > 0
            && !self.closed
            && self.source == Some(source)
            && self.destination == Some(destination)
            && len <= self.segment
            && self.count < max_segments.min(MAX_SEGMENTS)
            && self.data.len() + len <= MAX_BATCH_BYTES
    }

    fn push(&mut self, source: SocketAddr, destination: SocketAddr, data: &[u8]) {
        if self.count == 0 {
            if self.data.capacity() == 0 {
                // The thread's buffer, unless another batch of this
                // thread holds it (then this one grows its own).
                self.data = BATCH_BUFFER
                    .try_with(std::cell::Cell::take)
                    .unwrap_or_default();
                self.data.reserve(MAX_BATCH_BYTES);
            }
            self.source = Some(source);
            self.destination = Some(destination);
            self.segment = data.len();
        } else if data.len() < self.segment {
            self.closed = true;
        }
        self.count += 1;
        self.data.extend_from_slice(data);
    }

    fn clear(&mut self) {
        self.count = 0;
        self.closed = false;
        self.data.clear();
        // Back to the thread for the next batch: an idle connection keeps
        // no buffer.
        let data = std::mem::take(&mut self.data);
        let _ = BATCH_BUFFER.try_with(|spare| {
            let other = spare.take();
            spare.set(if other.capacity() >= data.capacity() {
                other
            } else {
                data
            });
        });
    }
}

/// Kernel buffer asked for each direction of a connection's own socket.
/// The SCTP receive window is 1 MiB of messages; in small datagrams the
/// kernel's accounting (about 2 KiB per datagram on loopback) needs about
/// twice that, or a full window overflows the default 208 KiB and is lost.
pub(crate) const SOCKET_BUF: usize = 2 << 20;

/// Kernel buffer asked for each direction of a shared [`crate::UdpMux`]
/// socket, where every connection's bursts meet.
pub(crate) const SHARED_SOCKET_BUF: usize = 4 << 20;

impl Sockets {
    /// Binds an ephemeral port on each address; addresses that fail are
    /// skipped. With a mux, no address of its own is needed.
    pub(crate) fn bind(addrs: &[IpAddr], mux: Option<MuxPort>) -> io::Result<Sockets> {
        let mut sockets = Vec::new();
        let mut last_err = None;
        for ip in addrs {
            match UdpSocket::bind(SocketAddr::new(*ip, 0)).and_then(|s| Ok((s.local_addr()?, s))) {
                Ok((addr, socket)) => {
                    socket.grow_buffers(SOCKET_BUF);
                    sockets.push((addr, socket));
                }
                Err(e) => {
                    tracing::debug!("no socket on {ip}: {e}");
                    last_err = Some(e);
                }
            }
        }
        if sockets.is_empty() && mux.is_none() {
            return Err(last_err.unwrap_or_else(|| io::Error::other("no local address")));
        }
        Ok(Sockets {
            sockets,
            tcp: None,
            mux,
            next: 0,
            batch: Batch::default(),
            mux_pending: None,
        })
    }

    /// The bound local addresses.
    pub(crate) fn local_addrs(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        let mux = self.mux.as_ref().map(MuxPort::local_addr);
        self.sockets.iter().map(|(a, _)| *a).chain(mux)
    }

    /// Tells the mux which username fragment checks to this connection carry.
    pub(crate) fn set_ufrag(&mut self, ufrag: &str) {
        if let Some(mux) = &mut self.mux {
            mux.set_ufrag(ufrag);
        }
    }

    /// Sends `data` from the socket bound to `source`: queued with the
    /// datagrams before it when they can leave together, else after them.
    /// [`Self::flush`] sends what is queued.
    pub(crate) fn send(&mut self, source: SocketAddr, destination: SocketAddr, data: &[u8]) {
        if let Some(mux) = &mut self.mux
            && mux.local_addr() == source
        {
            mux.send(destination, data);
            return;
        }
        let max_segments = self.socket(source).map_or(1, UdpSocket::max_segments);
        if !self
            .batch
            .takes(source, destination, data.len(), max_segments)
        {
            self.flush();
        }
        self.batch.push(source, destination, data);
    }

    /// The own socket bound to `local`.
    fn socket(&self, local: SocketAddr) -> Option<&UdpSocket> {
        self.sockets
            .iter()
            .find_map(|(a, s)| (*a == local).then_some(s))
    }

    /// Sends the queued datagrams: one system call for the whole batch.
    pub(crate) fn flush(&mut self) {
        if self.batch.count == 0 {
            return;
        }
        if let (Some(source), Some(destination)) = (self.batch.source, self.batch.destination)
            && let Some(socket) = self.socket(source)
        {
            send_batch(
                |data, segment| socket.try_send(destination, data, segment),
                destination,
                &self.batch,
            );
        }
        self.batch.clear();
    }

    /// Waits until a socket (or the mux) has something to read; then
    /// [`Self::try_recv`] reads it.
    pub(crate) async fn readable(&mut self) {
        poll_fn(|cx| {
            let mut ready = false;
            for (_, socket) in &self.sockets {
                if let Poll::Ready(r) = socket.poll_recv_ready(cx) {
                    if let Err(e) = r {
                        tracing::debug!("socket: {e}");
                    }
                    ready = true;
                }
            }
            if let Some(tcp) = &mut self.tcp
                && tcp.poll_ready(cx)
            {
                ready = true;
            }
            if self.mux_pending.is_none()
                && let Some(mux) = &mut self.mux
                && let Poll::Ready(Some(d)) = mux.poll_recv(cx)
            {
                self.mux_pending = Some(d);
            }
            if ready || self.mux_pending.is_some() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }

    /// Datagrams that are already waiting, without blocking: the local
    /// address they came to and one read of them (see
    /// [`UdpSocket::try_recv`]: `buf` should hold [`READ_BYTES`]).
    pub(crate) fn try_recv(&mut self, buf: &mut [u8]) -> Option<(SocketAddr, Read)> {
        let n = self.sockets.len();
        for k in 0..n {
            let i = (self.next + k) % n;
            let (local, socket) = &self.sockets[i];
            if let Ok(read) = socket.try_recv(buf) {
                self.next = (i + 1) % n;
                return Some((*local, read));
            }
        }
        if let Some(mux) = self.mux.as_mut() {
            let (from, data) = self.mux_pending.take().or_else(|| mux.try_recv())?;
            let len = data.len().min(buf.len());
            buf[..len].copy_from_slice(&data[..len]);
            let group = Group {
                len,
                from,
                segment: len.max(1),
            };
            return Some((mux.local_addr(), Read::one(group)));
        }
        None
    }
}

/// Sends `batch` with one system call where the socket can, else (or when
/// the kernel refuses the segmented send) one datagram per call. Losses to
/// a full socket buffer are left to the protocols above, which recover.
fn send_batch(
    try_send: impl Fn(&[u8], Option<usize>) -> io::Result<()>,
    destination: SocketAddr,
    batch: &Batch,
) {
    if batch.count > 1 {
        match try_send(&batch.data, Some(batch.segment)) {
            Ok(()) => return,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            // quinn-udp stops offering segmentation (max_segments() is 1
            // from now on) when the kernel refused it.
            Err(e) => tracing::debug!(
                "segmented send to {destination} failed ({e}): one datagram at a time"
            ),
        }
    }
    if batch.count == 1 {
        if let Err(e) = try_send(&batch.data, None) {
            tracing::trace!("send to {destination} failed: {e}");
        }
        return;
    }
    for datagram in batch.data.chunks(batch.segment.max(1)) {
        if let Err(e) = try_send(datagram, None) {
            tracing::trace!("send to {destination} failed: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use tokio::net::UdpSocket as PlainSocket;

    /// A full SCTP window of 100-byte messages arrives in about a thousand
    /// datagrams at once; the default 208 KiB receive buffer held about a
    /// hundred and the rest were lost in the kernel (seen as
    /// `RcvbufErrors`), halving the small-message rate.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn own_sockets_ask_for_a_receive_buffer_that_holds_a_window() {
        let sockets = Sockets::bind(&[Ipv4Addr::LOCALHOST.into()], None).unwrap();
        let Some(cap) = std::fs::read_to_string("/proc/sys/net/core/rmem_max")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
        else {
            eprintln!("skipped: /proc/sys/net/core/rmem_max unreadable");
            return;
        };
        let got = sockets.sockets[0].1.recv_buffer_size().unwrap();
        // Linux doubles the request for its bookkeeping, capped at rmem_max.
        assert!(
            got >= 2 * SOCKET_BUF.min(cap),
            "receive buffer {got} B, asked {SOCKET_BUF} B (rmem_max {cap} B)"
        );
    }

    /// Sends a flight of full datagrams and a short one to a plain socket,
    /// with at most `segments_cap` datagrams per system call, flushes, and
    /// returns what arrived.
    async fn flight(segments_cap: usize) -> Vec<Vec<u8>> {
        let mut sockets = Sockets::bind(&[Ipv4Addr::LOCALHOST.into()], None).unwrap();
        sockets.sockets[0].1.segments_cap = segments_cap;
        let source = sockets.local_addrs().next().unwrap();
        let receiver = PlainSocket::bind("127.0.0.1:0").await.unwrap();
        let destination = receiver.local_addr().unwrap();
        // Sends are non-blocking tries: let the reactor learn the new
        // socket is writable first (the driver's first await does that).
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        for i in 0..5u8 {
            sockets.send(source, destination, &[i; 1200]);
        }
        sockets.send(source, destination, &[9; 300]);
        // A different destination ends the batch.
        let other = PlainSocket::bind("127.0.0.1:0").await.unwrap();
        sockets.send(source, other.local_addr().unwrap(), &[7; 1200]);
        sockets.flush();
        if cfg!(target_os = "linux") && segments_cap > 1 {
            // This kernel (Linux >= 4.18) segments: the fallback was not needed.
            assert!(sockets.sockets[0].1.max_segments() > 1, "GSO was refused");
        }
        let got = receive(&receiver, 6).await;
        assert!(got.iter().all(|(from, _)| *from == source));
        assert_eq!(receive(&other, 1).await, [(source, vec![7; 1200])]);
        got.into_iter().map(|(_, d)| d).collect()
    }

    /// The next `n` datagrams `receiver` gets (5 s each at most), with
    /// their sources.
    async fn receive(receiver: &PlainSocket, n: usize) -> Vec<(SocketAddr, Vec<u8>)> {
        let mut got = Vec::new();
        let mut buf = [0u8; 2048];
        while got.len() < n {
            let (len, from) = tokio::time::timeout(
                std::time::Duration::from_secs(5),
                receiver.recv_from(&mut buf),
            )
            .await
            .expect("datagram lost on loopback")
            .unwrap();
            got.push((from, buf[..len].to_vec()));
        }
        got
    }

    fn expected() -> Vec<Vec<u8>> {
        let mut v: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; 1200]).collect();
        v.push(vec![9; 300]);
        v
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_flight_sent_in_one_segmented_call_arrives_as_separate_datagrams() {
        assert_eq!(flight(usize::MAX).await, expected());
    }

    /// The path of platforms without segmentation offload (macOS, the
    /// BSDs, or a kernel that refused it), taken on any platform.
    #[tokio::test(flavor = "current_thread")]
    async fn without_segmentation_offload_the_flight_goes_one_datagram_at_a_time() {
        assert_eq!(flight(1).await, expected());
    }

    #[test]
    fn a_socket_limited_to_one_segment_batches_nothing() {
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:2".parse().unwrap();
        let mut batch = Batch::default();
        batch.push(a, b, &[0; 100]);
        assert!(!batch.takes(a, b, 100, 1));
        assert!(batch.takes(a, b, 100, 2));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_flight_read_with_receive_offload_splits_back_into_its_datagrams() {
        let lo = [Ipv4Addr::LOCALHOST.into()];
        let (mut tx, mut rx) = (
            Sockets::bind(&lo, None).unwrap(),
            Sockets::bind(&lo, None).unwrap(),
        );
        let (from, to) = (
            tx.local_addrs().next().unwrap(),
            rx.local_addrs().next().unwrap(),
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let sent: Vec<Vec<u8>> = (0..10u8)
            .map(|i| vec![i; 1200])
            .chain([vec![99; 77]])
            .collect();
        for d in &sent {
            tx.send(from, to, d);
        }
        tx.flush();
        let mut got = Vec::new();
        let mut coalesced = false;
        let mut buf = vec![0; READ_BYTES];
        while got.len() < sent.len() {
            tokio::time::timeout(std::time::Duration::from_secs(5), rx.readable())
                .await
                .expect("nothing to read");
            while let Some((local, read)) = rx.try_recv(&mut buf) {
                for (at, g) in read.groups() {
                    assert_eq!((local, g.from), (to, from));
                    coalesced |= g.len > g.segment;
                    got.extend(buf[at..at + g.len].chunks(g.segment).map(<[u8]>::to_vec));
                }
            }
        }
        assert_eq!(got, sent);
        if cfg!(target_os = "linux") {
            // This kernel (Linux >= 5.0) hands the GSO flight over in one read.
            assert!(coalesced, "no read carried more than one datagram");
        }
    }

    /// One read takes what two sources sent; a read that empties the socket
    /// ends its readiness at once (Linux: no further call that reads
    /// nothing), and a datagram arriving after it still wakes the reader.
    #[tokio::test(flavor = "current_thread")]
    async fn a_read_takes_two_sources_flights_and_emptying_the_socket_still_wakes_for_the_next() {
        let lo = [Ipv4Addr::LOCALHOST.into()];
        let (mut a, mut b, mut rx) = (
            Sockets::bind(&lo, None).unwrap(),
            Sockets::bind(&lo, None).unwrap(),
            Sockets::bind(&lo, None).unwrap(),
        );
        let (from_a, from_b, to) = (
            a.local_addrs().next().unwrap(),
            b.local_addrs().next().unwrap(),
            rx.local_addrs().next().unwrap(),
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        a.send(from_a, to, b"from a");
        a.flush();
        b.send(from_b, to, b"from b");
        b.flush();
        let mut buf = vec![0; READ_BYTES];
        let mut got = Vec::new();
        while got.len() < 2 {
            tokio::time::timeout(std::time::Duration::from_secs(5), rx.readable())
                .await
                .expect("nothing to read");
            let Some((_, read)) = rx.try_recv(&mut buf) else {
                continue;
            };
            for (at, g) in read.groups() {
                got.push((g.from, buf[at..at + g.len].to_vec()));
            }
            if cfg!(target_os = "linux") {
                assert_eq!(got.len(), 2, "both were waiting: one read takes both");
            }
        }
        assert_eq!(
            got,
            [(from_a, b"from a".to_vec()), (from_b, b"from b".to_vec())]
        );
        assert!(rx.try_recv(&mut buf).is_none());
        // One datagram: the read that takes it leaves the socket empty.
        a.send(from_a, to, b"alone");
        a.flush();
        tokio::time::timeout(std::time::Duration::from_secs(5), rx.readable())
            .await
            .expect("nothing to read");
        let (_, read) = rx.try_recv(&mut buf).expect("the datagram");
        assert_eq!(read.groups().count(), 1);
        if cfg!(target_os = "linux") {
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            let mut readable = std::pin::pin!(rx.readable());
            assert!(
                readable.as_mut().poll(&mut cx).is_pending(),
                "a read that emptied the socket left it marked readable"
            );
        }
        a.send(from_a, to, b"later");
        a.flush();
        tokio::time::timeout(std::time::Duration::from_secs(5), rx.readable())
            .await
            .expect("the datagram after the emptying read did not wake the reader");
        let (_, read) = rx.try_recv(&mut buf).expect("the later datagram");
        let (at, g) = read.groups().next().unwrap();
        assert_eq!((g.from, &buf[at..at + g.len]), (from_a, &b"later"[..]));
    }

    /// The connections of a thread take turns with one batch buffer: after
    /// a flush none keeps it, and the next flight (of another connection,
    /// shorter than the last) leaves with its own bytes only.
    #[tokio::test(flavor = "current_thread")]
    async fn connections_taking_turns_with_the_threads_batch_buffer_send_their_own_bytes() {
        let lo = [Ipv4Addr::LOCALHOST.into()];
        let mut a = Sockets::bind(&lo, None).unwrap();
        let mut b = Sockets::bind(&lo, None).unwrap();
        let receiver = PlainSocket::bind("127.0.0.1:0").await.unwrap();
        let to = receiver.local_addr().unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let (from_a, from_b) = (
            a.local_addrs().next().unwrap(),
            b.local_addrs().next().unwrap(),
        );
        let mut sent = Vec::new();
        for round in 0..3u8 {
            for (sockets, from, count) in [(&mut a, from_a, 6u8), (&mut b, from_b, 2u8)] {
                for i in 0..count {
                    let d = vec![round * 16 + i; 1000 - usize::from(round) * 100];
                    sockets.send(from, to, &d);
                    sent.push((from, d));
                }
                sockets.flush();
                assert_eq!(
                    sockets.batch.data.capacity(),
                    0,
                    "a flushed batch keeps a buffer"
                );
            }
        }
        assert_eq!(receive(&receiver, sent.len()).await, sent);
    }

    #[test]
    fn a_batch_takes_equal_datagrams_to_one_destination_and_ends_after_a_shorter_one() {
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:2".parse().unwrap();
        let mut batch = Batch::default();
        let n = MAX_SEGMENTS;
        assert!(
            !batch.takes(a, b, 100, n),
            "an empty batch is started, not joined"
        );
        batch.push(a, b, &[0; 100]);
        assert!(batch.takes(a, b, 100, n));
        assert!(!batch.takes(a, a, 100, n), "another destination");
        assert!(!batch.takes(b, b, 100, n), "another source");
        assert!(!batch.takes(a, b, 101, n), "larger than the segment");
        batch.push(a, b, &[0; 40]);
        assert!(!batch.takes(a, b, 40, n), "a shorter datagram was the last");
        assert_eq!((batch.count, batch.data.len()), (2, 140));
    }
}
