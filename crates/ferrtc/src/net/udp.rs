//! One UDP socket with the platform's batched system calls, through
//! `quinn-udp`: segmentation offload on send (Linux `UDP_SEGMENT`, Windows
//! `UDP_SEND_MSG_SIZE`), receive offload on read on Linux (`UDP_GRO`), and
//! one datagram per call elsewhere. Windows' receive coalescing (URO) stays
//! off, as `quinn-udp` leaves it: it is known to deliver corrupt batches on
//! some Windows versions.

use std::io::{self, IoSliceMut};
use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::task::{Context, Poll};

use quinn_udp::{RecvMeta, Transmit, UdpSockRef, UdpSocketState};
use tokio::io::Interest;
use tokio::net::UdpSocket as TokioUdpSocket;

/// A non-blocking UDP socket registered with tokio, and what the platform
/// lets it batch.
#[derive(Debug)]
pub(crate) struct UdpSocket {
    io: TokioUdpSocket,
    state: UdpSocketState,
    /// Most datagrams this code puts in one send; 1 tests the path of a
    /// platform without segmentation offload on any platform.
    #[cfg(test)]
    pub(crate) segments_cap: usize,
}

/// The smallest buffer [`UdpSocket::grow_buffers`] still asks for after
/// refusals.
const MIN_GROWN: usize = 256 * 1024;

/// Groups of datagrams one [`UdpSocket::try_recv`] may take.
pub(crate) const READ_GROUPS: usize = 2;

/// Room for one group: a coalesced (GRO) read is at most 64 KiB.
pub(crate) const GROUP_BYTES: usize = 65_536;

/// Whether the platform's read fills every group it can (`recvmmsg` with
/// no flags on a non-blocking socket: it stops at the first slot that
/// would block): then a read that filled fewer than asked left nothing
/// waiting. (A pending socket error would also stop it early, but these
/// sockets are unconnected and ask for no `IP_RECVERR`: the kernel queues
/// none for them.)
const READS_ALL_WAITING: bool = cfg!(any(target_os = "linux", target_os = "android"));

/// Datagrams from one source that one read took (several, back to back,
/// with receive offload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Group {
    /// Bytes read.
    pub(crate) len: usize,
    /// The source.
    pub(crate) from: SocketAddr,
    /// Each datagram's length but the last's.
    pub(crate) segment: usize,
}

/// What one [`UdpSocket::try_recv`] took: at least one group.
#[derive(Debug, Default)]
pub(crate) struct Read {
    groups: [Option<Group>; READ_GROUPS],
}

impl Read {
    /// A read of one group.
    pub(crate) fn one(group: Group) -> Self {
        let mut read = Read::default();
        read.groups[0] = Some(group);
        read
    }

    /// Each group with where it starts in the buffer read into.
    pub(crate) fn groups(&self) -> impl Iterator<Item = (usize, Group)> + '_ {
        self.groups
            .iter()
            .enumerate()
            .filter_map(|(i, g)| g.map(|g| (i * GROUP_BYTES, g)))
    }
}

impl UdpSocket {
    /// Binds `addr` (non-blocking, with receive offload where there is one).
    /// Must be called within a tokio runtime.
    pub(crate) fn bind(addr: SocketAddr) -> io::Result<UdpSocket> {
        let std = StdUdpSocket::bind(addr)?;
        // quinn-udp sets non-blocking mode too; tokio needs it before.
        std.set_nonblocking(true)?;
        let state = UdpSocketState::new(UdpSockRef::from(&std))?;
        Ok(UdpSocket {
            io: TokioUdpSocket::from_std(std)?,
            state,
            #[cfg(test)]
            segments_cap: usize::MAX,
        })
    }

    /// The bound address.
    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.local_addr()
    }

    /// Most datagrams one [`Self::try_send`] may carry (1 without
    /// segmentation offload, or after the kernel refused it once).
    pub(crate) fn max_segments(&self) -> usize {
        let n = self.state.max_gso_segments().max(1);
        #[cfg(test)]
        let n = n.min(self.segments_cap.max(1));
        n
    }

    /// Sends `data` to `destination` without waiting: one datagram, or with
    /// `segment` (at most [`Self::max_segments`] pieces), datagrams of
    /// `segment` bytes (the last may be shorter) with one system call.
    /// `WouldBlock` means the socket buffer is full.
    pub(crate) fn try_send(
        &self,
        destination: SocketAddr,
        data: &[u8],
        segment: Option<usize>,
    ) -> io::Result<()> {
        // Straight to the system call, not through tokio's readiness: until
        // the reactor has reported a new socket writable, `try_io` refuses
        // without trying, and a connection's first datagrams (its first ICE
        // checks) would be lost to a retransmission timeout. Nothing waits
        // for writability here, so the readiness tokio keeps is not needed.
        try_send(
            &self.state,
            UdpSockRef::from(&self.io),
            destination,
            data,
            segment,
        )
    }

    /// Reads what is waiting without blocking: up to [`READ_GROUPS`]
    /// groups, group `i` in `buf[i * GROUP_BYTES..]` (so `buf` should hold
    /// `READ_GROUPS * GROUP_BYTES`; a smaller one holds fewer groups). With
    /// receive offload a group may hold several datagrams from one source,
    /// back to back, each `segment` bytes but the last.
    ///
    /// Where the platform reads several at once (`recvmmsg` on Linux and
    /// Android), a read that fills fewer groups than asked found the queue
    /// empty: the readiness is cleared then, not on one more call that
    /// reads nothing (tokio keeps it if a datagram arrived meanwhile).
    pub(crate) fn try_recv(&self, buf: &mut [u8]) -> io::Result<Read> {
        let mut read = Read::default();
        let done = self.io.try_io(Interest::READABLE, || {
            let drained;
            (read, drained) = read_groups(&self.state, UdpSockRef::from(&self.io), buf)?;
            if drained {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            Ok(())
        });
        match done {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(e),
            _ if read.groups[0].is_none() => Err(io::ErrorKind::WouldBlock.into()),
            _ => Ok(read),
        }
    }

    /// Waits until a datagram may be waiting.
    pub(crate) fn poll_recv_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.poll_recv_ready(cx)
    }

    /// Waits until a datagram may be waiting.
    pub(crate) async fn readable(&self) -> io::Result<()> {
        self.io.readable().await
    }

    /// Asks the kernel for `bytes` of buffer each way ([`grow_buffers`]).
    pub(crate) fn grow_buffers(&self, bytes: usize) {
        grow_buffers(&self.state, || UdpSockRef::from(&self.io), bytes);
    }

    /// The kernel's receive buffer size (Linux reports twice what was asked:
    /// its bookkeeping is included).
    #[cfg(test)]
    pub(crate) fn recv_buffer_size(&self) -> io::Result<usize> {
        self.state.recv_buffer_size(UdpSockRef::from(&self.io))
    }
}

/// One send without waiting: `data` as one datagram, or with `segment`,
/// as datagrams of `segment` bytes (the last may be shorter) in one
/// system call. `WouldBlock` means the socket buffer is full.
pub(crate) fn try_send(
    state: &UdpSocketState,
    socket: UdpSockRef<'_>,
    destination: SocketAddr,
    data: &[u8],
    segment: Option<usize>,
) -> io::Result<()> {
    let transmit = Transmit {
        destination,
        ecn: None,
        contents: data,
        segment_size: segment.filter(|&s| s < data.len()),
        src_ip: None,
    };
    state.try_send(socket, &transmit)
}

/// One read without blocking (`recvmmsg` where the platform has it) into
/// up to [`READ_GROUPS`] groups of `buf`, group `i` at `i * GROUP_BYTES`,
/// and whether it left the queue empty (a read that filled fewer groups
/// than asked, where the platform reads all waiting: [`READS_ALL_WAITING`];
/// a read of nothing). `WouldBlock` when nothing was waiting.
pub(crate) fn read_groups(
    state: &UdpSocketState,
    socket: UdpSockRef<'_>,
    buf: &mut [u8],
) -> io::Result<(Read, bool)> {
    let mut read = Read::default();
    // Whole groups only (a short slot would cut a coalesced read).
    let asked = (buf.len() / GROUP_BYTES).clamp(1, READ_GROUPS);
    let mut parts = buf.chunks_mut(GROUP_BYTES);
    let mut slots: [IoSliceMut<'_>; READ_GROUPS] =
        std::array::from_fn(|_| IoSliceMut::new(parts.next().unwrap_or_default()));
    let mut meta = [RecvMeta::default(); READ_GROUPS];
    let n = state.recv(socket, &mut slots[..asked], &mut meta[..asked])?;
    for (group, meta) in read.groups.iter_mut().zip(&meta[..n]) {
        let segment = if meta.stride == 0 || meta.stride > meta.len {
            meta.len
        } else {
            meta.stride
        };
        *group = Some(Group {
            len: meta.len,
            from: meta.addr,
            segment: segment.max(1),
        });
    }
    Ok((read, n == 0 || (READS_ALL_WAITING && n < asked)))
}

/// Asks the kernel for `bytes` of buffer each way. Linux caps the request
/// at `net.core.rmem_max` / `wmem_max` (208 KiB on a stock kernel: raise
/// them for bursts of small datagrams); the BSDs refuse a request over
/// their limit, so a refused size is halved until one is taken (down to
/// 256 KiB). A buffer left smaller than asked is logged; nothing here
/// fails the socket.
pub(crate) fn grow_buffers<'s>(
    state: &UdpSocketState,
    socket: impl Fn() -> UdpSockRef<'s>,
    bytes: usize,
) {
    let set = |what: &str, size: usize| match what {
        "receive" => state.set_recv_buffer_size(socket(), size),
        _ => state.set_send_buffer_size(socket(), size),
    };
    for what in ["receive", "send"] {
        let mut size = bytes;
        loop {
            match set(what, size) {
                Ok(()) => break,
                Err(e) if size / 2 < MIN_GROWN => {
                    tracing::debug!("UDP {what} buffer stays at the default: {e}");
                    break;
                }
                Err(_) => size /= 2,
            }
        }
    }
    // Linux reports twice the size it grants (its bookkeeping).
    if let Ok(got) = state.recv_buffer_size(socket())
        && got < bytes
    {
        tracing::debug!(
            "UDP receive buffer is {got} B of the {bytes} B asked: bursts of small datagrams \
             may be lost in the kernel (raise net.core.rmem_max)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn a_datagram_sent_at_once_on_a_new_socket_leaves() {
        let sender = UdpSocket::bind((std::net::Ipv4Addr::LOCALHOST, 0).into()).unwrap();
        let receiver = UdpSocket::bind((std::net::Ipv4Addr::LOCALHOST, 0).into()).unwrap();
        // No await between binding and sending: the reactor has not run.
        sender
            .try_send(receiver.local_addr().unwrap(), b"first check", None)
            .expect("the first datagram of a new socket is sent");
        let mut buf = [0; 64];
        let group = loop {
            match receiver.try_recv(&mut buf) {
                Ok(read) => break read.groups().next().unwrap().1,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::future::poll_fn(|cx| receiver.poll_recv_ready(cx))
                        .await
                        .unwrap();
                }
                Err(e) => panic!("receive failed: {e}"),
            }
        };
        assert_eq!(&buf[..group.len], b"first check");
    }
}
