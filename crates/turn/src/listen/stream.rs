//! TCP and TLS client connections (RFC 8656 §3.1): the byte stream cut into
//! STUN messages and ChannelData (padded to 4 bytes, §12.5), replies and
//! relayed data written back in order.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use super::Shared;
use crate::server::{FiveTuple, Transport};

/// Most TCP/TLS connections open at once, on all listeners together; more
/// are closed at accept.
const MAX_CONNECTIONS: usize = 4096;
/// How long a closing connection may take to write what was queued to it
/// (the answer to a Refresh that deleted its allocation, say).
const FLUSH_WITHIN: std::time::Duration = std::time::Duration::from_secs(5);
/// Messages queued to one connection before more are dropped.
const WRITE_QUEUE: usize = 256;
/// Bytes queued to one connection before more are dropped: a client that
/// stops reading cannot make the server buffer without bound.
const WRITE_BUDGET: usize = 256 * 1024;

/// The write queue of one TCP/TLS connection, bounded in messages and bytes.
pub(super) struct Writer {
    tx: mpsc::Sender<Vec<u8>>,
    queued: Arc<AtomicUsize>,
    /// Wakes the connection's reader when its allocation went (expired,
    /// deleted): it may not wait on the client for ever.
    lost: Arc<Notify>,
}

impl Writer {
    /// The connection's allocation went.
    pub(super) fn allocation_gone(&self) {
        self.lost.notify_one();
    }

    /// Queues a copy of `msg`; false (dropped) if the queue is full.
    pub(super) fn try_send(&self, msg: &[u8]) -> bool {
        if self.queued.load(Ordering::Relaxed) + msg.len() > WRITE_BUDGET {
            return false;
        }
        self.queued.fetch_add(msg.len(), Ordering::Relaxed);
        if self.tx.try_send(msg.to_vec()).is_err() {
            self.queued.fetch_sub(msg.len(), Ordering::Relaxed);
            return false;
        }
        true
    }
}
/// Longest message: a ChannelData header and 65535 bytes, padded.
const MAX_FRAME: usize = 4 + 65_535 + 3;

/// How long a connection may stay without an allocation, from its start or
/// from when its allocation went (expired or deleted): one that does not
/// allocate by then is closed (RFC 8656 §3.1 ties the connection to its
/// allocation; it holds a connection slot and a buffer).
const ALLOCATE_WITHIN: std::time::Duration = std::time::Duration::from_secs(30);

/// One connection counted in [`Shared::connections`] while it lives.
struct Counted(Arc<Shared>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A task aborted when this is dropped.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Accepts connections (TLS handshakes when `tls` is set) and serves each,
/// on the 5-tuple of the client's address and the connection's local
/// address. The connections are this task's: they end when it is aborted
/// (the server dropped).
pub(super) async fn accept(
    shared: Arc<Shared>,
    local: SocketAddr,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
) {
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            Some(_) = connections.join_next() => continue,
        };
        let (conn, client) = match accepted {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("accept on {local}: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        if shared.connections.fetch_add(1, Ordering::Relaxed) >= MAX_CONNECTIONS {
            shared.connections.fetch_sub(1, Ordering::Relaxed);
            continue;
        }
        let counted = Counted(shared.clone());
        let _ = conn.set_nodelay(true);
        // RFC 8656 §2: the 5-tuple's server address is the one the client
        // connected to. On a wildcard listener only the accepted socket
        // knows it (the listener's is 0.0.0.0 or ::); if the platform
        // cannot say, the listener's stands in.
        let server = conn.local_addr().unwrap_or(local);
        let (shared, tls) = (shared.clone(), tls.clone());
        connections.spawn(async move {
            let _counted = counted;
            match tls {
                None => {
                    let tuple = FiveTuple {
                        transport: Transport::Tcp,
                        client,
                        server,
                    };
                    serve(shared, tuple, conn).await;
                }
                Some(acceptor) => {
                    let handshake = tokio::time::timeout(
                        std::time::Duration::from_secs(10),
                        acceptor.accept(conn),
                    );
                    if let Ok(Ok(stream)) = handshake.await {
                        let tuple = FiveTuple {
                            transport: Transport::Tls,
                            client,
                            server,
                        };
                        serve(shared, tuple, stream).await;
                    }
                }
            }
        });
    }
}

/// How many bytes the message at the front of `buf` takes, if its header
/// is there: STUN (20 + length, RFC 8489 §5) or ChannelData (4 + length
/// padded to 4, RFC 8656 §12.5). `Err` for anything else: the stream
/// cannot be resynchronised.
fn frame_len(buf: &[u8]) -> Result<Option<usize>, ()> {
    let Some(&[b0, _, l0, l1]) = buf.first_chunk::<4>() else {
        return Ok(None);
    };
    let len = usize::from(u16::from_be_bytes([l0, l1]));
    match b0 >> 6 {
        0 => Ok(Some(20 + len)),
        1 => Ok(Some((4 + len + 3) & !3)),
        _ => Err(()),
    }
}

/// Serves one connection until it closes or breaks framing; its allocation
/// goes with it.
async fn serve<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    shared: Arc<Shared>,
    tuple: FiveTuple,
    stream: S,
) {
    let (mut reader, mut writer) = tokio::io::split(stream);
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(WRITE_QUEUE);
    let queued = Arc::new(AtomicUsize::new(0));
    let lost = Arc::new(Notify::new());
    shared.lock().streams.insert(
        tuple,
        Writer {
            tx,
            queued: queued.clone(),
            lost: lost.clone(),
        },
    );
    let mut write = AbortOnDrop(tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            let written = writer.write_all(&msg).await;
            queued.fetch_sub(msg.len(), Ordering::Relaxed);
            if written.is_err() {
                break;
            }
        }
        let _ = writer.shutdown().await;
    }));
    // Grows with the largest message seen, up to two of the largest.
    let mut buf = vec![0u8; 4096];
    let mut filled = 0;
    // Since when the connection has had no allocation.
    let mut unallocated_since = Some(Instant::now());
    'read: loop {
        if filled == buf.len() {
            let grown = (buf.len() * 2).min(MAX_FRAME * 2);
            if grown == buf.len() {
                break;
            }
            buf.resize(grown, 0);
        }
        if shared.lock().server.has_allocation(tuple) {
            unallocated_since = None;
        } else {
            unallocated_since.get_or_insert_with(Instant::now);
        }
        let read = reader.read(&mut buf[filled..]);
        let read = match unallocated_since {
            // Reading is cancel-safe: woken, the loop looks again.
            None => tokio::select! {
                read = read => read,
                () = lost.notified() => continue,
            },
            Some(since) => match tokio::time::timeout_at(since + ALLOCATE_WITHIN, read).await {
                Ok(r) => r,
                Err(_) => break,
            },
        };
        match read {
            Ok(0) | Err(_) => break,
            Ok(n) => filled += n,
        }
        let mut start = 0;
        loop {
            let len = match frame_len(&buf[start..filled]) {
                Ok(Some(len)) => len,
                Ok(None) => break,
                Err(()) => {
                    shared.lock().server.count_malformed();
                    break 'read;
                }
            };
            if filled - start < len {
                break;
            }
            shared
                .lock()
                .client_message(&shared, tuple, &buf[start..start + len]);
            start += len;
        }
        buf.copy_within(start..filled, 0);
        filled -= start;
    }
    {
        let mut core = shared.lock();
        // The write queue closes: what is queued is written, then the
        // stream is shut down (or aborted, for a client that does not read).
        core.streams.remove(&tuple);
        core.server.close_tuple(tuple);
        core.close_relays();
    }
    let _ = tokio::time::timeout(FLUSH_WITHIN, &mut write.0).await;
}

#[cfg(test)]
mod tests {
    use super::frame_len;

    #[test]
    fn frames_are_cut_by_their_length_fields() {
        assert_eq!(frame_len(&[0, 1, 0]), Ok(None));
        assert_eq!(frame_len(&[0x00, 0x01, 0x00, 0x08]), Ok(Some(28)));
        // ChannelData over a stream is padded to 4 bytes (RFC 8656 §12.5).
        assert_eq!(frame_len(&[0x40, 0x00, 0x00, 0x05]), Ok(Some(12)));
        assert_eq!(frame_len(&[0x40, 0x00, 0x00, 0x04]), Ok(Some(8)));
        assert_eq!(frame_len(&[0x80, 0x00, 0x00, 0x04]), Err(()));
    }
}
