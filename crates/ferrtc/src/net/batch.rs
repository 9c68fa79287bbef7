//! [`BatchUdpSocket`]: the batched UDP of ferrtc's own connections, for
//! an application that drives sans-IO connections on a loop of its own.

use std::io;
use std::net::{SocketAddr, UdpSocket as StdUdpSocket};

use quinn_udp::{UdpSockRef, UdpSocketState};

use super::udp::{self, GROUP_BYTES, READ_GROUPS};
use super::{Batch, SOCKET_BUF, send_batch};

/// Reads one [`BatchUdpSocket::recv`] makes at most, so that a flooded
/// socket cannot hold its caller's loop.
const MAX_READS: usize = 32;

/// A non-blocking UDP socket with the system calls ferrtc's own
/// connections make: consecutive datagrams to one destination leave with
/// one call (segmentation offload: Linux `UDP_SEGMENT`, Windows
/// `UDP_SEND_MSG_SIZE`), and a read takes several datagrams at once
/// (`recvmmsg`, and receive offload on Linux, `UDP_GRO`). Elsewhere it
/// sends and reads one datagram per call.
///
/// For an application that drives sans-IO connections
/// (`ferrtc_core::PeerConnection`) itself, many of them on one thread, as
/// a media forwarder does: hand every datagram a connection polls out
/// (`poll_transmit`) to [`send`](Self::send), [`flush`](Self::flush) at the
/// end of the round, and feed what [`recv`](Self::recv) reads to
/// `handle_receive`. Wait for readability with the platform's `poll`,
/// `epoll` or `kqueue` on its descriptor (`AsFd` / `AsSocket`); with an
/// edge-triggered wait (`EPOLLET`, `EV_CLEAR`, mio, tokio's `AsyncFd`),
/// call `recv` until it returns 0 before waiting again, as one call reads
/// a bounded amount. A
/// `PeerConnection` of this crate makes and drives its own sockets and
/// does not need one.
///
/// Sends never wait: a datagram the kernel has no room for is dropped, as
/// the network may drop it (the protocols above recover).
#[derive(Debug)]
pub struct BatchUdpSocket {
    socket: StdUdpSocket,
    state: UdpSocketState,
    local: SocketAddr,
    /// Datagrams waiting to leave together.
    batch: Batch,
}

impl BatchUdpSocket {
    /// Room one read may fill: a buffer for [`Self::recv`] should hold
    /// this many bytes. One of at least [`Self::MIN_RECV_BUFFER`] reads
    /// fewer datagrams a call; a smaller one is refused.
    pub const RECV_BUFFER: usize = READ_GROUPS * GROUP_BYTES;

    /// The smallest buffer [`Self::recv`] takes: one coalesced read (64 KiB,
    /// the most receive offload hands over at once), which a smaller buffer
    /// would cut without the cut being seen.
    pub const MIN_RECV_BUFFER: usize = GROUP_BYTES;

    /// Binds `addr`, non-blocking, with receive offload where there is
    /// one and kernel buffers of 2 MiB each way (as far as the system
    /// allows: Linux caps them at `net.core.rmem_max` / `wmem_max`).
    pub fn bind(addr: SocketAddr) -> io::Result<BatchUdpSocket> {
        let socket = StdUdpSocket::bind(addr)?;
        socket.set_nonblocking(true)?;
        let state = UdpSocketState::new(UdpSockRef::from(&socket))?;
        udp::grow_buffers(&state, || UdpSockRef::from(&socket), SOCKET_BUF);
        let local = socket.local_addr()?;
        Ok(BatchUdpSocket {
            socket,
            state,
            local,
            batch: Batch::default(),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Most datagrams one system call sends (1 without segmentation
    /// offload, or after the kernel refused it once).
    pub fn max_segments(&self) -> usize {
        self.state.max_gso_segments().max(1)
    }

    /// Queues a datagram to `destination`. It joins the datagrams queued
    /// before it when they can leave with one system call (the same
    /// destination, each the size of the first but the last, at most
    /// [`Self::max_segments`] and 65,000 bytes); otherwise those are sent
    /// first. [`Self::flush`] sends what is queued: call it at the end of
    /// each round of output (flushing one socket before queueing on the
    /// next lets the sockets of a thread share one batch buffer).
    pub fn send(&mut self, destination: SocketAddr, datagram: &[u8]) {
        if !self
            .batch
            .takes(self.local, destination, datagram.len(), self.max_segments())
        {
            self.flush();
        }
        self.batch.push(self.local, destination, datagram);
    }

    /// Sends the queued datagrams, with one system call where the platform
    /// can.
    pub fn flush(&mut self) {
        if self.batch.count == 0 {
            return;
        }
        if let Some(destination) = self.batch.destination {
            let (state, socket) = (&self.state, &self.socket);
            send_batch(
                |data, segment| {
                    udp::try_send(state, UdpSockRef::from(socket), destination, data, segment)
                },
                destination,
                &self.batch,
            );
        }
        self.batch.clear();
    }

    /// Reads the datagrams waiting, without blocking, and hands each to
    /// `each` with its source, in arrival order (each datagram is a slice
    /// of `buf`, which should hold [`Self::RECV_BUFFER`] bytes; one under
    /// [`Self::MIN_RECV_BUFFER`] is refused with `InvalidInput`). Returns
    /// how many it read: 0 when none was waiting. It reads at most 32
    /// times (up to 64 datagrams, more with receive offload), so that a
    /// flooded socket cannot hold the caller's loop: the socket is still
    /// readable when datagrams are left. An error of the system call ends
    /// the reading (the datagrams handed before it were read); on Windows
    /// that includes `ConnectionReset` after a send to a closed port,
    /// which ends nothing: read again.
    pub fn recv(
        &self,
        buf: &mut [u8],
        mut each: impl FnMut(SocketAddr, &mut [u8]),
    ) -> io::Result<usize> {
        if buf.len() < Self::MIN_RECV_BUFFER {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a receive buffer under 64 KiB could cut a coalesced read",
            ));
        }
        let mut count = 0;
        for _ in 0..MAX_READS {
            let (read, drained) =
                match udp::read_groups(&self.state, UdpSockRef::from(&self.socket), buf) {
                    Ok(r) => r,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                };
            for (at, group) in read.groups() {
                if group.len == 0 {
                    // An empty datagram (`chunks_mut` yields nothing for it).
                    each(group.from, &mut []);
                    count += 1;
                }
                for datagram in buf[at..at + group.len].chunks_mut(group.segment) {
                    each(group.from, datagram);
                    count += 1;
                }
            }
            if drained {
                break;
            }
        }
        Ok(count)
    }
}

impl Drop for BatchUdpSocket {
    /// Sends what is still queued.
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(unix)]
impl std::os::fd::AsFd for BatchUdpSocket {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(&self.socket)
    }
}

#[cfg(unix)]
impl std::os::fd::AsRawFd for BatchUdpSocket {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&self.socket)
    }
}

#[cfg(windows)]
impl std::os::windows::io::AsSocket for BatchUdpSocket {
    fn as_socket(&self) -> std::os::windows::io::BorrowedSocket<'_> {
        std::os::windows::io::AsSocket::as_socket(&self.socket)
    }
}

#[cfg(windows)]
impl std::os::windows::io::AsRawSocket for BatchUdpSocket {
    fn as_raw_socket(&self) -> std::os::windows::io::RawSocket {
        std::os::windows::io::AsRawSocket::as_raw_socket(&self.socket)
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::time::{Duration, Instant};

    use super::*;

    fn bound() -> BatchUdpSocket {
        BatchUdpSocket::bind((Ipv4Addr::LOCALHOST, 0).into()).unwrap()
    }

    /// Reads from `socket` until `n` datagrams came (or 5 s passed).
    fn receive(socket: &BatchUdpSocket, n: usize) -> Vec<(SocketAddr, Vec<u8>)> {
        let mut buf = vec![0; BatchUdpSocket::RECV_BUFFER];
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        while got.len() < n && Instant::now() < deadline {
            let read = socket
                .recv(&mut buf, |from, d| got.push((from, d.to_vec())))
                .unwrap();
            if read == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        got
    }

    #[test]
    fn a_flight_to_one_peer_and_a_short_last_datagram_arrive_as_sent() {
        let mut a = bound();
        let b = bound();
        let sent: Vec<Vec<u8>> = (0..5u8)
            .map(|i| vec![i; 1200])
            .chain([vec![9; 300]])
            .collect();
        for d in &sent {
            a.send(b.local_addr(), d);
        }
        a.flush();
        let got = receive(&b, sent.len());
        assert!(got.iter().all(|(from, _)| *from == a.local_addr()));
        let got: Vec<Vec<u8>> = got.into_iter().map(|(_, d)| d).collect();
        assert_eq!(got, sent);
    }

    #[test]
    fn datagrams_to_two_peers_in_turn_all_arrive_in_order() {
        let mut a = bound();
        let (b, c) = (bound(), bound());
        for i in 0..4u8 {
            a.send(b.local_addr(), &[i; 100]);
            a.send(c.local_addr(), &[i + 10; 100]);
        }
        a.flush();
        let at_b: Vec<u8> = receive(&b, 4).into_iter().map(|(_, d)| d[0]).collect();
        let at_c: Vec<u8> = receive(&c, 4).into_iter().map(|(_, d)| d[0]).collect();
        assert_eq!(at_b, [0, 1, 2, 3]);
        assert_eq!(at_c, [10, 11, 12, 13]);
    }

    #[test]
    fn a_longer_datagram_after_a_flight_is_not_cut_to_the_flights_size() {
        let mut a = bound();
        let b = bound();
        a.send(b.local_addr(), &[1; 500]);
        a.send(b.local_addr(), &[2; 500]);
        a.send(b.local_addr(), &[3; 900]);
        a.flush();
        let sizes: Vec<(u8, usize)> = receive(&b, 3)
            .into_iter()
            .map(|(_, d)| (d[0], d.len()))
            .collect();
        assert_eq!(sizes, [(1, 500), (2, 500), (3, 900)]);
    }

    #[test]
    fn reading_an_empty_socket_returns_at_once_with_nothing() {
        let b = bound();
        let mut buf = vec![0; BatchUdpSocket::RECV_BUFFER];
        assert_eq!(
            b.recv(&mut buf, |_, _| panic!("nothing was sent")).unwrap(),
            0
        );
    }

    #[test]
    fn what_is_still_queued_leaves_when_the_socket_is_dropped() {
        let b = bound();
        let mut a = bound();
        a.send(b.local_addr(), b"last words");
        drop(a);
        let got = receive(&b, 1);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].1, b"last words");
    }

    #[test]
    fn a_buffer_too_small_for_a_coalesced_read_is_refused_and_nothing_is_lost() {
        let mut a = bound();
        let b = bound();
        for i in 0..10u8 {
            a.send(b.local_addr(), &[i; 1200]);
        }
        a.flush();
        let mut small = vec![0; 1500];
        let refused = b.recv(&mut small, |_, _| panic!("handed a datagram"));
        assert_eq!(refused.unwrap_err().kind(), io::ErrorKind::InvalidInput);
        let got = receive(&b, 10);
        assert!(got.iter().all(|(_, d)| d.len() == 1200));
        assert_eq!(got.len(), 10);
    }

    #[test]
    fn a_buffer_of_one_coalesced_read_takes_a_whole_flight() {
        let mut a = bound();
        let b = bound();
        for i in 0..10u8 {
            a.send(b.local_addr(), &[i; 1200]);
        }
        a.flush();
        let mut buf = vec![0; BatchUdpSocket::MIN_RECV_BUFFER];
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        while got.len() < 10 && Instant::now() < deadline {
            b.recv(&mut buf, |_, d| got.push(d.to_vec())).unwrap();
        }
        let want: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i; 1200]).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn empty_datagrams_are_sent_and_handed_on_one_by_one() {
        let mut a = bound();
        let b = bound();
        a.send(b.local_addr(), &[]);
        a.send(b.local_addr(), &[]);
        a.send(b.local_addr(), b"then this");
        a.flush();
        let got: Vec<Vec<u8>> = receive(&b, 3).into_iter().map(|(_, d)| d).collect();
        assert_eq!(got, [vec![], vec![], b"then this".to_vec()]);
    }

    #[test]
    fn two_sockets_batching_at_once_on_one_thread_keep_their_own_bytes() {
        let (mut a, mut c) = (bound(), bound());
        let b = bound();
        // Both batches pending together: the second cannot have the
        // thread's buffer the first took.
        for i in 0..3u8 {
            a.send(b.local_addr(), &[i; 700]);
            c.send(b.local_addr(), &[100 + i; 700]);
        }
        c.flush();
        a.send(b.local_addr(), &[50; 100]);
        a.flush();
        let mut got: Vec<Vec<u8>> = receive(&b, 7).into_iter().map(|(_, d)| d).collect();
        got.sort();
        let mut want: Vec<Vec<u8>> = (0..3u8)
            .flat_map(|i| [vec![i; 700], vec![100 + i; 700]])
            .chain([vec![50; 100]])
            .collect();
        want.sort();
        assert_eq!(got, want);
    }

    thread_local! {
        static KEPT: std::cell::RefCell<Option<BatchUdpSocket>> =
            const { std::cell::RefCell::new(None) };
    }

    /// Dropping a socket flushes it, which uses the thread's batch buffer:
    /// from a thread-local's destructor, after that buffer is gone, a panic
    /// would abort the process. Runs in a child process, so that an abort
    /// fails this test only.
    #[test]
    fn a_socket_kept_in_a_thread_local_is_dropped_at_thread_exit_without_aborting() {
        const CHILD: &str = "FERRTC_TEST_TLS_CHILD";
        if std::env::var_os(CHILD).is_some() {
            let to = bound().local_addr();
            std::thread::spawn(move || {
                let mut a = bound();
                KEPT.with_borrow_mut(|k| {
                    a.send(to, b"queued at exit");
                    *k = Some(a);
                });
            })
            .join()
            .unwrap();
            return;
        }
        let name = "net::batch::tests::\
                    a_socket_kept_in_a_thread_local_is_dropped_at_thread_exit_without_aborting";
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", name, "--nocapture"])
            .env(CHILD, "1")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "child: {:?}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("1 passed"),
            "the child ran no test: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }

    #[test]
    fn one_call_reads_a_bounded_number_of_times_and_leaves_the_rest_waiting() {
        let mut a = bound();
        let b = bound();
        // More datagrams than one call's reads take (from distinct sizes,
        // so that no two coalesce into one read).
        let n = 2 * MAX_READS * READ_GROUPS + 10;
        for i in 0..n {
            a.send(b.local_addr(), &vec![0; 100 + i]);
            a.flush();
        }
        let mut buf = vec![0; BatchUdpSocket::RECV_BUFFER];
        let first = b.recv(&mut buf, |_, _| {}).unwrap();
        assert!(first > 0 && first <= MAX_READS * READ_GROUPS, "{first}");
        let rest = receive(&b, n - first);
        assert_eq!(first + rest.len(), n);
    }
}
