//! Local addresses and the UDP sockets of a connection.

use std::future::poll_fn;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket as StdUdpSocket};
use std::task::Poll;

use tokio::io::ReadBuf;
use tokio::net::UdpSocket;

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

/// The sockets of one connection, one per local address, and its end of a
/// shared [`crate::UdpMux`] if it has one.
pub(crate) struct Sockets {
    sockets: Vec<(SocketAddr, UdpSocket)>,
    mux: Option<MuxPort>,
    /// Which socket to poll first next time (fairness).
    next: usize,
}

impl Sockets {
    /// Binds an ephemeral port on each address; addresses that fail are
    /// skipped. With a mux, no address of its own is needed.
    pub(crate) fn bind(addrs: &[IpAddr], mux: Option<MuxPort>) -> io::Result<Sockets> {
        let mut sockets = Vec::new();
        let mut last_err = None;
        for ip in addrs {
            match StdUdpSocket::bind((*ip, 0)).and_then(|s| {
                s.set_nonblocking(true)?;
                let local = s.local_addr()?;
                Ok((local, UdpSocket::from_std(s)?))
            }) {
                Ok(pair) => sockets.push(pair),
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
            mux,
            next: 0,
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

    /// Sends `data` from the socket bound to `source`.
    pub(crate) fn send(&mut self, source: SocketAddr, destination: SocketAddr, data: &[u8]) {
        if let Some(mux) = &mut self.mux
            && mux.local_addr() == source
        {
            mux.send(destination, data);
            return;
        }
        let Some((_, socket)) = self.sockets.iter().find(|(a, _)| *a == source) else {
            return;
        };
        match socket.try_send_to(data, destination) {
            Ok(_) => {}
            // A full socket buffer is loss, which the protocols above recover from.
            Err(e) => tracing::trace!("send to {destination} failed: {e}"),
        }
    }

    /// Waits for a datagram on any socket; returns (local, remote, len).
    pub(crate) async fn recv(
        &mut self,
        buf: &mut [u8],
    ) -> io::Result<(SocketAddr, SocketAddr, usize)> {
        poll_fn(|cx| {
            let n = self.sockets.len();
            for k in 0..n {
                let i = (self.next + k) % n;
                let (local, socket) = &self.sockets[i];
                let mut rb = ReadBuf::new(buf);
                if let Poll::Ready(r) = socket.poll_recv_from(cx, &mut rb) {
                    self.next = (i + 1) % n;
                    return Poll::Ready(r.map(|from| (*local, from, rb.filled().len())));
                }
            }
            if let Some(mux) = &mut self.mux
                && let Poll::Ready(Some((from, data))) = mux.poll_recv(cx)
            {
                return Poll::Ready(Ok(copy_in(mux.local_addr(), from, &data, buf)));
            }
            Poll::Pending
        })
        .await
    }

    /// A datagram that is already waiting, without blocking.
    pub(crate) fn try_recv(&mut self, buf: &mut [u8]) -> Option<(SocketAddr, SocketAddr, usize)> {
        let n = self.sockets.len();
        for k in 0..n {
            let i = (self.next + k) % n;
            let (local, socket) = &self.sockets[i];
            if let Ok((len, from)) = socket.try_recv_from(buf) {
                self.next = (i + 1) % n;
                return Some((*local, from, len));
            }
        }
        let mux = self.mux.as_mut()?;
        let (from, data) = mux.try_recv()?;
        Some(copy_in(mux.local_addr(), from, &data, buf))
    }
}

/// A datagram from the mux, copied into the caller's buffer (truncated to
/// it, as a socket read would be).
fn copy_in(
    local: SocketAddr,
    from: SocketAddr,
    data: &[u8],
    buf: &mut [u8],
) -> (SocketAddr, SocketAddr, usize) {
    let len = data.len().min(buf.len());
    buf[..len].copy_from_slice(&data[..len]);
    (local, from, len)
}
