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
        let transmit = Transmit {
            destination,
            ecn: None,
            contents: data,
            segment_size: segment.filter(|&s| s < data.len()),
            src_ip: None,
        };
        // Straight to the system call, not through tokio's readiness: until
        // the reactor has reported a new socket writable, `try_io` refuses
        // without trying, and a connection's first datagrams (its first ICE
        // checks) would be lost to a retransmission timeout. Nothing waits
        // for writability here, so the readiness tokio keeps is not needed.
        self.state.try_send(UdpSockRef::from(&self.io), &transmit)
    }

    /// Reads what is waiting without blocking: (len, source, segment). With
    /// receive offload `buf[..len]` may hold several datagrams from one
    /// source, back to back, each `segment` bytes but the last; `buf`
    /// should then hold 64 KiB.
    pub(crate) fn try_recv(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr, usize)> {
        self.io.try_io(Interest::READABLE, || {
            let mut meta = [RecvMeta::default()];
            let n = self.state.recv(
                UdpSockRef::from(&self.io),
                &mut [IoSliceMut::new(buf)],
                &mut meta,
            )?;
            if n == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let [meta] = meta;
            let segment = if meta.stride == 0 || meta.stride > meta.len {
                meta.len
            } else {
                meta.stride
            };
            Ok((meta.len, meta.addr, segment.max(1)))
        })
    }

    /// Waits until a datagram may be waiting.
    pub(crate) fn poll_recv_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.poll_recv_ready(cx)
    }

    /// Waits until a datagram may be waiting.
    pub(crate) async fn readable(&self) -> io::Result<()> {
        self.io.readable().await
    }

    /// Asks the kernel for `bytes` of buffer each way. Linux caps the
    /// request at `net.core.rmem_max` / `wmem_max` (208 KiB on a stock
    /// kernel: raise them for bursts of small datagrams); the BSDs refuse
    /// a request over their limit, so a refused size is halved until one
    /// is taken (down to 256 KiB). A buffer left smaller than asked is
    /// logged; nothing here fails the socket.
    pub(crate) fn grow_buffers(&self, bytes: usize) {
        let sock = || UdpSockRef::from(&self.io);
        let set = |what: &str, size: usize| match what {
            "receive" => self.state.set_recv_buffer_size(sock(), size),
            _ => self.state.set_send_buffer_size(sock(), size),
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
        if let Ok(got) = self.state.recv_buffer_size(sock())
            && got < bytes
        {
            tracing::debug!(
                "UDP receive buffer is {got} B of the {bytes} B asked: bursts of small datagrams \
                 may be lost in the kernel (raise net.core.rmem_max)"
            );
        }
    }

    /// The kernel's receive buffer size (Linux reports twice what was asked:
    /// its bookkeeping is included).
    #[cfg(test)]
    pub(crate) fn recv_buffer_size(&self) -> io::Result<usize> {
        self.state.recv_buffer_size(UdpSockRef::from(&self.io))
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
        let (len, _, _) = loop {
            match receiver.try_recv(&mut buf) {
                Ok(got) => break got,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::future::poll_fn(|cx| receiver.poll_recv_ready(cx))
                        .await
                        .unwrap();
                }
                Err(e) => panic!("receive failed: {e}"),
            }
        };
        assert_eq!(&buf[..len], b"first check");
    }
}
