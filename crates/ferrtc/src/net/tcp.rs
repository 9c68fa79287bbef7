//! ICE-TCP (RFC 6544) sockets of one connection: a listener per local
//! address (the passive candidates), connections opened for the active
//! candidates, and RFC 4571 framing (a 16-bit length before each STUN,
//! DTLS or RTP message).
//!
//! Each connection runs two small tasks: a reader that cuts the stream into
//! messages and hands them to the connection's task, and a writer fed by a
//! bounded queue (a full queue drops the message, as a full UDP socket
//! buffer would: ICE retransmits, SCTP and NACK repair). Nothing here blocks
//! the connection's task. The tasks end when the connection's task drops
//! [`TcpSockets`] (the readers see their channel closed, the writers their
//! queue).

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;

/// Messages queued for one connection's writer.
const WRITE_QUEUE: usize = 256;

/// Messages from every connection waiting for the connection's task.
const READ_QUEUE: usize = 1024;

/// Most TCP connections at once (accepted and opened): past it, new ones
/// are closed at once. A handful is normal (one per candidate pair).
const MAX_CONNECTIONS: usize = 32;

/// How long an active candidate's connect may take (RFC 6544 leaves it to
/// the agent; a check that is not answered fails on its own timers).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What the connection's task hears from the TCP side.
#[derive(Debug)]
pub(crate) enum TcpEvent {
    /// A message (framing removed) on the connection between `local` (the
    /// candidate address: listener, or the active candidate's `IP:9`) and
    /// `remote`.
    Message {
        local: SocketAddr,
        remote: SocketAddr,
        data: Vec<u8>,
    },
    /// A listener accepted a connection; its writer takes messages now.
    Accepted {
        local: SocketAddr,
        remote: SocketAddr,
        writer: mpsc::Sender<Vec<u8>>,
    },
    /// The connection ended (closed by the peer, failed, or refused).
    Closed {
        local: SocketAddr,
        remote: SocketAddr,
    },
}

/// The listeners and connections of one peer connection.
pub(crate) struct TcpSockets {
    /// The listening addresses (passive candidates).
    listeners: Vec<SocketAddr>,
    /// Writers by (local candidate address, remote address).
    writers: HashMap<(SocketAddr, SocketAddr), mpsc::Sender<Vec<u8>>>,
    events_tx: mpsc::Sender<TcpEvent>,
    events: mpsc::Receiver<TcpEvent>,
}

impl TcpSockets {
    /// Listens on an ephemeral TCP port of each address; addresses that fail
    /// are skipped (and logged). Must run inside the runtime.
    pub(crate) fn listen(addrs: &[std::net::IpAddr]) -> TcpSockets {
        let (events_tx, events) = mpsc::channel(READ_QUEUE);
        let mut listeners = Vec::new();
        for ip in addrs {
            let bound = std::net::TcpListener::bind(SocketAddr::new(*ip, 0)).and_then(|l| {
                l.set_nonblocking(true)?;
                let addr = l.local_addr()?;
                Ok((addr, TcpListener::from_std(l)?))
            });
            match bound {
                Ok((addr, listener)) => {
                    listeners.push(addr);
                    tokio::spawn(accept_loop(addr, listener, events_tx.clone()));
                }
                Err(e) => tracing::debug!("no TCP listener on {ip}: {e}"),
            }
        }
        TcpSockets {
            listeners,
            writers: HashMap::new(),
            events_tx,
            events,
        }
    }

    /// The listening addresses: the passive candidates.
    pub(crate) fn listeners(&self) -> &[SocketAddr] {
        &self.listeners
    }

    /// The next event; never ends while `self` lives.
    pub(crate) async fn recv(&mut self) -> TcpEvent {
        match self.events.recv().await {
            Some(e) => e,
            // `self` holds a sender: the channel cannot close.
            None => std::future::pending().await,
        }
    }

    /// Applies an event that concerns the table of connections; returns a
    /// message for the core, if it is one.
    pub(crate) fn handle(&mut self, event: TcpEvent) -> Option<(SocketAddr, SocketAddr, Vec<u8>)> {
        match event {
            TcpEvent::Message {
                local,
                remote,
                data,
            } => Some((local, remote, data)),
            TcpEvent::Accepted {
                local,
                remote,
                writer,
            } => {
                if self.writers.len() >= MAX_CONNECTIONS {
                    tracing::debug!("TCP connection from {remote} refused: {MAX_CONNECTIONS} open");
                } else {
                    self.writers.insert((local, remote), writer);
                }
                None
            }
            TcpEvent::Closed { local, remote } => {
                self.writers.remove(&(local, remote));
                None
            }
        }
    }

    /// Sends one message from the candidate address `local` to `remote`:
    /// on the connection between them, opened now when `local` is an active
    /// candidate (`IP:9`, RFC 6544 §4.5) and there is none. Dropped when
    /// there is no connection to a passive candidate's peer, or its queue is
    /// full.
    pub(crate) fn send(&mut self, local: SocketAddr, remote: SocketAddr, data: &[u8]) {
        let Ok(len) = u16::try_from(data.len()) else {
            tracing::debug!(
                "a {} byte message does not fit RFC 4571 framing",
                data.len()
            );
            return;
        };
        let mut framed = Vec::with_capacity(data.len() + 2);
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(data);
        if let Some(writer) = self.writers.get(&(local, remote)) {
            if writer.try_send(framed).is_err() {
                tracing::trace!("TCP message to {remote} dropped: queue full or closed");
            }
            return;
        }
        if local.port() != 9 || self.writers.len() >= MAX_CONNECTIONS {
            return;
        }
        let (writer, queue) = mpsc::channel(WRITE_QUEUE);
        let _ = writer.try_send(framed);
        self.writers.insert((local, remote), writer);
        tokio::spawn(connect(local, remote, queue, self.events_tx.clone()));
    }
}

/// Accepts connections until the connection's task is gone.
async fn accept_loop(local: SocketAddr, listener: TcpListener, events: mpsc::Sender<TcpEvent>) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = events.closed() => return,
        };
        match accepted {
            Ok((stream, remote)) => {
                let _ = stream.set_nodelay(true);
                let (writer, queue) = mpsc::channel(WRITE_QUEUE);
                if events
                    .send(TcpEvent::Accepted {
                        local,
                        remote,
                        writer,
                    })
                    .await
                    .is_err()
                {
                    return;
                }
                tokio::spawn(run(local, remote, stream, queue, events.clone()));
            }
            Err(e) => {
                tracing::debug!("TCP accept on {local}: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Opens the active candidate's connection from its IP, then runs it.
async fn connect(
    local: SocketAddr,
    remote: SocketAddr,
    queue: mpsc::Receiver<Vec<u8>>,
    events: mpsc::Sender<TcpEvent>,
) {
    let opened = async {
        let socket = if remote.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.bind(SocketAddr::new(local.ip(), 0))?;
        socket.connect(remote).await
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, opened).await {
        Ok(Ok(stream)) => {
            let _ = stream.set_nodelay(true);
            run(local, remote, stream, queue, events).await;
        }
        Ok(Err(e)) => {
            tracing::debug!("TCP connect {local} -> {remote}: {e}");
            let _ = events.send(TcpEvent::Closed { local, remote }).await;
        }
        Err(_) => {
            tracing::debug!("TCP connect {local} -> {remote}: no answer in {CONNECT_TIMEOUT:?}");
            let _ = events.send(TcpEvent::Closed { local, remote }).await;
        }
    }
}

/// Runs one connection: the writer drains `queue`, the reader cuts the
/// stream into messages; either ending ends both.
async fn run(
    local: SocketAddr,
    remote: SocketAddr,
    stream: TcpStream,
    mut queue: mpsc::Receiver<Vec<u8>>,
    events: mpsc::Sender<TcpEvent>,
) {
    let (mut reader, mut writer) = stream.into_split();
    let write = async {
        while let Some(framed) = queue.recv().await {
            writer.write_all(&framed).await?;
        }
        io::Result::Ok(())
    };
    let read = async {
        loop {
            let mut len = [0u8; 2];
            reader.read_exact(&mut len).await?;
            let mut data = vec![0u8; usize::from(u16::from_be_bytes(len))];
            reader.read_exact(&mut data).await?;
            let message = TcpEvent::Message {
                local,
                remote,
                data,
            };
            if events.send(message).await.is_err() {
                return io::Result::Ok(());
            }
        }
    };
    let ended = tokio::select! {
        r = write => r,
        r = read => r,
        () = events.closed() => Ok(()),
    };
    if let Err(e) = ended {
        tracing::debug!("TCP {local} <-> {remote} ended: {e}");
    }
    let _ = events.send(TcpEvent::Closed { local, remote }).await;
}
