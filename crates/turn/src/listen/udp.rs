//! A UDP listener that answers from the address each datagram was sent to.
//!
//! Over UDP a response goes back from the transport address the request
//! arrived on (RFC 8489 §6.3), and the server address is part of the
//! client's 5-tuple (RFC 8656 §2): everything the server later sends on the
//! allocation (responses, Data indications, ChannelData) leaves from it. A
//! listener bound to one address has nothing to choose. A listener on a
//! wildcard address (`0.0.0.0`, `::`: the default of `ferrtc turn`)
//! receives on every address of the host, so it reads each datagram's
//! destination (`IP_PKTINFO`, `IPV6_RECVPKTINFO`, `IP_RECVDSTADDR` through
//! `quinn-udp`) and names it as the source of what it sends; otherwise the
//! kernel would pick the source by routing, and a client that reached a
//! secondary address would drop the answers as coming from a stranger.

use std::io::{self, IoSliceMut};
use std::net::SocketAddr;

use quinn_udp::{RecvMeta, Transmit, UdpSockRef, UdpSocketState};
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// One UDP listener socket.
pub(super) struct Listener {
    io: UdpSocket,
    /// The bound address.
    local: SocketAddr,
    /// On a wildcard address: the platform's per-datagram addressing.
    ///
    /// Only there, as `quinn-udp` also asks for the don't-fragment bit on
    /// what the socket sends (a datagram over the MTU is refused rather
    /// than fragmented): on Linux over IPv4 the kernel's path-MTU mode is
    /// put back ([`keep_fragmentation`]); over IPv6 and on other platforms
    /// it stays. A listener on one address keeps the kernel's defaults.
    pktinfo: Option<UdpSocketState>,
}

/// Datagrams from one source that one read took (with receive offload,
/// several of one size back to back).
#[derive(Debug, Clone, Copy)]
pub(super) struct Received {
    /// Bytes read.
    pub(super) len: usize,
    /// The client.
    pub(super) from: SocketAddr,
    /// The server address they were sent to: the 5-tuple's.
    pub(super) to: SocketAddr,
    /// Each datagram's length (the last may be shorter).
    pub(super) segment: usize,
}

impl Listener {
    /// Takes a bound non-blocking socket; on a wildcard address, asks the
    /// platform for each datagram's destination.
    pub(super) fn new(io: UdpSocket) -> io::Result<Listener> {
        let local = io.local_addr()?;
        let pktinfo = if local.ip().is_unspecified() {
            let restore = keep_fragmentation(&io);
            let state = UdpSocketState::new(UdpSockRef::from(&io))?;
            restore(&io);
            Some(state)
        } else {
            None
        };
        Ok(Listener { io, local, pktinfo })
    }

    /// The bound address.
    pub(super) fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Waits until a datagram may be waiting.
    pub(super) async fn readable(&self) -> io::Result<()> {
        self.io.readable().await
    }

    /// Reads what is waiting, without blocking, into `buf` (64 KiB holds
    /// any read, coalesced or not). `WouldBlock` when nothing is.
    pub(super) fn try_recv(&self, buf: &mut [u8]) -> io::Result<Received> {
        let Some(state) = &self.pktinfo else {
            let (len, from) = self.io.try_recv_from(buf)?;
            return Ok(Received {
                len,
                from,
                to: self.local,
                segment: len,
            });
        };
        self.io.try_io(Interest::READABLE, || {
            let mut slot = [IoSliceMut::new(buf)];
            let mut meta = [RecvMeta::default()];
            if state.recv(UdpSockRef::from(&self.io), &mut slot, &mut meta)? == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let [meta] = meta;
            // A platform that did not say keeps the wildcard: what is sent
            // back then names no source, as before.
            let to = SocketAddr::new(meta.dst_ip.unwrap_or(self.local.ip()), self.local.port());
            let segment = match meta.stride {
                0 => meta.len,
                s => s.min(meta.len),
            };
            Ok(Received {
                len: meta.len,
                from: meta.addr,
                to,
                segment: segment.max(1),
            })
        })
    }

    /// Sends `bytes` to `to` from `from`, the server address of the
    /// client's 5-tuple (one of this listener's), without waiting.
    /// `WouldBlock` means the socket buffer is full.
    pub(super) fn try_send(
        &self,
        from: SocketAddr,
        to: SocketAddr,
        bytes: &[u8],
    ) -> io::Result<()> {
        match &self.pktinfo {
            Some(state) if !from.ip().is_unspecified() => {
                let transmit = Transmit {
                    destination: to,
                    ecn: None,
                    contents: bytes,
                    segment_size: None,
                    src_ip: Some(from.ip()),
                };
                state.try_send(UdpSockRef::from(&self.io), &transmit)
            }
            _ => self.io.try_send_to(bytes, to).map(|_| ()),
        }
    }
}

/// Reads the socket's IPv4 path-MTU mode (Linux: `IP_MTU_DISCOVER`, by
/// default "want": fragment what is over the path MTU) and returns what
/// sets it again after `quinn-udp` made it "probe" (don't fragment, refuse
/// what is over the interface MTU). A client behind a smaller MTU then
/// gets a large Data indication in fragments, as from a listener on one
/// address. IPv6's `IPV6_DONTFRAG` has no safe setter: it stays.
#[cfg(target_os = "linux")]
fn keep_fragmentation(io: &UdpSocket) -> impl FnOnce(&UdpSocket) {
    use rustix::net::sockopt::{ip_mtu_discover, set_ip_mtu_discover};
    let is_ipv4 = io.local_addr().is_ok_and(|a| a.is_ipv4());
    let mode = if is_ipv4 {
        ip_mtu_discover(io).ok()
    } else {
        None
    };
    move |io| {
        if let Some(mode) = mode
            && let Err(e) = set_ip_mtu_discover(io, mode)
        {
            tracing::debug!("UDP listener keeps quinn-udp's don't-fragment setting: {e}");
        }
    }
}

/// Elsewhere `quinn-udp`'s don't-fragment setting stays.
#[cfg(not(target_os = "linux"))]
fn keep_fragmentation(_: &UdpSocket) -> impl FnOnce(&UdpSocket) {
    |_| {}
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// A wildcard IPv4 listener fragments what is over the path MTU as any
    /// socket does ("want"), not "probe" as quinn-udp leaves it.
    #[tokio::test]
    async fn a_wildcard_ipv4_listener_keeps_the_kernels_path_mtu_mode() {
        use rustix::net::sockopt::{Ipv4PathMtuDiscovery, ip_mtu_discover};
        let plain = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let default = ip_mtu_discover(&plain).unwrap();
        assert_ne!(default, Ipv4PathMtuDiscovery::PROBE);
        let io = UdpSocket::bind("0.0.0.0:0").await.unwrap();
        let listener = Listener::new(io).unwrap();
        assert!(listener.pktinfo.is_some());
        assert_eq!(ip_mtu_discover(&listener.io).unwrap(), default);
    }
}
