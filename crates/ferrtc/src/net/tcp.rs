//! The TCP side of one connection: ICE-TCP (RFC 6544) listeners (the
//! passive candidates) and connections opened for active candidates, with
//! RFC 4571 framing (a 16-bit length before each STUN, DTLS or RTP
//! message); and TURN over TCP (RFC 8656 §3.1) to the servers of
//! `turn:...?transport=tcp`, where messages delimit themselves (cut with
//! `ferrtc_turn::StreamDecoder`), and the same over TLS to the servers of
//! `turns:` (the session opened by [`super::tls`]).
//!
//! Each connection runs one task: a reader that cuts the stream into
//! messages and hands them to the connection's task, and a writer fed by a
//! bounded queue (a full queue drops the message, as a full UDP socket
//! buffer would: ICE retransmits, SCTP and NACK repair). Nothing here blocks
//! the connection's task. A connection ends when the peer closes it, on an
//! error, or when the connection's task drops [`TcpSockets`]: its queue
//! closes, what was queued (a DTLS close_notify, say) is written first.
//! One whose task panics (a bug; logged) ends as a failed one does: the
//! connection's task hears it closed.
//!
//! Hostile peers: connections accepted on the listeners count against their
//! own budget of [`MAX_ACCEPTED`], taken as they are accepted (before they
//! sent anything); with none left, the oldest that has not sent its first
//! message yet makes room (so silent connections cannot keep a real peer,
//! whose check comes at once, out), else the new one is closed. One that
//! does not send a STUN message first, within [`FIRST_MESSAGE_TIMEOUT`], is
//! closed; a frame
//! takes memory as its bytes arrive, not as its length prefix announces; the
//! messages waiting for the connection's task are bounded.

use std::collections::HashMap;
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use super::tls::{Connector, TlsServers};

/// Messages queued for one connection's writer.
const WRITE_QUEUE: usize = 256;

/// Messages from every connection waiting for the connection's task (at
/// most 64 KiB each).
const READ_QUEUE: usize = 256;

/// Most connections accepted on the listeners at once, counted from the
/// accept (a connection that has not sent its first message yet holds a
/// socket and a task too); past it a new one replaces the one silent the
/// longest, and is closed when every one has spoken (see [`admit`]).
const MAX_ACCEPTED: usize = 16;

/// Memory reserved for a frame before its bytes arrive (a frame's length
/// prefix may announce up to 64 KiB; more grows as bytes come in). One
/// datagram's worth: most frames fit.
const FRAME_PREALLOC: usize = 1500;

/// Most connections this side opens at once (active candidates, TURN).
const MAX_OPENED: usize = 16;

/// How long an accepted connection may take to send its first message,
/// which must be a STUN message (a connectivity check).
pub(crate) const FIRST_MESSAGE_TIMEOUT: Duration = Duration::from_secs(5);

/// An ICE-TCP connection silent this long is closed: a pair in use hears
/// consent checks every few seconds (RFC 7675), so only unused or fake
/// connections reach it, and they no longer hold a slot.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Once the connection's task is gone, how long what it queued may take
/// to leave (a peer that stopped reading cannot hold the task forever).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a connect may take (a check that is not answered fails on
/// ICE's own timers).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What a connection carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    /// ICE-TCP: RFC 4571 framing.
    Ice,
    /// TURN over TCP to a TURN server: self-delimiting messages.
    Turn,
}

/// What the connection's task hears from the TCP side.
#[derive(Debug)]
pub(crate) enum TcpEvent {
    /// A message on the connection between `local` (the candidate
    /// address: a listener, an active candidate's `IP:9`, or the host a
    /// TURN connection was opened for) and `remote`.
    Message {
        kind: Kind,
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
    /// The connection ended (closed by the peer, failed, or never opened).
    Closed {
        kind: Kind,
        local: SocketAddr,
        remote: SocketAddr,
    },
}

/// One open (or opening) connection.
struct Conn {
    writer: mpsc::Sender<Vec<u8>>,
    accepted: bool,
}

/// The listeners and connections of one peer connection.
pub(crate) struct TcpSockets {
    /// The listening addresses (passive candidates).
    listeners: Vec<SocketAddr>,
    /// Connections by (kind, local address, remote address).
    conns: HashMap<(Kind, SocketAddr, SocketAddr), Conn>,
    events_tx: mpsc::Sender<TcpEvent>,
    events: mpsc::Receiver<TcpEvent>,
    /// An event taken while polling for readiness.
    pending: Option<TcpEvent>,
    /// The TURN servers reached over TLS.
    tls: TlsServers,
}

impl TcpSockets {
    /// No listener: for TURN over TCP and active candidates only.
    pub(crate) fn new() -> TcpSockets {
        let (events_tx, events) = mpsc::channel(READ_QUEUE);
        TcpSockets {
            listeners: Vec::new(),
            conns: HashMap::new(),
            events_tx,
            events,
            pending: None,
            tls: TlsServers::default(),
        }
    }

    /// Adds the TURN servers of a new configuration reached over TLS (see
    /// [`TlsServers::merge`]: none is ever dropped).
    pub(crate) fn set_tls_servers(&mut self, tls: TlsServers) {
        self.tls.merge(tls);
    }

    /// Listens on an ephemeral TCP port of each address; addresses that fail
    /// are skipped (and logged). Must run inside the runtime.
    pub(crate) fn listen(addrs: &[std::net::IpAddr]) -> TcpSockets {
        let mut sockets = TcpSockets::new();
        // One budget for all listeners (RFC 6544 §8, RFC 8445 §19: a
        // listener is open to anyone; what it accepts must stay bounded).
        let admission = Arc::new(Admission::default());
        for ip in addrs {
            let bound = std::net::TcpListener::bind(SocketAddr::new(*ip, 0)).and_then(|l| {
                l.set_nonblocking(true)?;
                let addr = l.local_addr()?;
                Ok((addr, TcpListener::from_std(l)?))
            });
            match bound {
                Ok((addr, listener)) => {
                    sockets.listeners.push(addr);
                    let accepting = accept_loop(
                        addr,
                        listener,
                        Arc::clone(&admission),
                        sockets.events_tx.clone(),
                    );
                    // A listener whose task panicked (logged) accepts no
                    // more: its passive candidate fails, as an unreachable
                    // one would, and the others are kept.
                    tokio::spawn(crate::driver::catch_helper_panic(
                        "an ICE-TCP listener",
                        accepting,
                    ));
                }
                Err(e) => tracing::warn!("no ICE-TCP listener on {ip}: {e}"),
            }
        }
        sockets
    }

    /// The listening addresses: the passive candidates.
    pub(crate) fn listeners(&self) -> &[SocketAddr] {
        &self.listeners
    }

    /// Whether an event is waiting ([`Self::try_recv`] takes it); else
    /// `cx` is woken when one comes.
    pub(crate) fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> bool {
        if self.pending.is_none()
            && let std::task::Poll::Ready(Some(event)) = self.events.poll_recv(cx)
        {
            self.pending = Some(event);
        }
        self.pending.is_some()
    }

    /// The next event, if one is waiting.
    pub(crate) fn try_recv(&mut self) -> Option<TcpEvent> {
        self.pending.take().or_else(|| self.events.try_recv().ok())
    }

    /// Keeps the table of connections up to date with `event`; gives the
    /// event back when the core has to hear of it (a message, a close).
    pub(crate) fn handle(&mut self, event: TcpEvent) -> Option<TcpEvent> {
        match event {
            TcpEvent::Accepted {
                local,
                remote,
                writer,
            } => {
                let accepted = self.conns.values().filter(|c| c.accepted).count();
                if accepted >= MAX_ACCEPTED {
                    // Not reached while the listeners' places bound the
                    // accepted connections (`accept_loop`); kept as a guard.
                    // Dropping the writer closes the connection.
                    tracing::debug!("TCP connection from {remote} refused: {accepted} open");
                } else {
                    let conn = Conn {
                        writer,
                        accepted: true,
                    };
                    self.conns.insert((Kind::Ice, local, remote), conn);
                }
                None
            }
            TcpEvent::Closed {
                kind,
                local,
                remote,
            } => {
                self.conns.remove(&(kind, local, remote));
                Some(event)
            }
            TcpEvent::Message { .. } => Some(event),
        }
    }

    /// Sends one ICE-TCP message from the candidate address `local` to
    /// `remote`: on the connection between them, opened now when `local`
    /// is an active candidate (`IP:9`, RFC 6544 §4.5), the message is a
    /// STUN message (a check: data alone never opens one) and there is
    /// none. Dropped otherwise, or when the connection's queue is full.
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
        let opens = local.port() == 9 && looks_like_stun(data);
        self.write(Kind::Ice, local, remote, framed, opens);
    }

    /// Sends one TURN message from host `local` to the TURN server
    /// `remote`, on the connection to it (opened now if there is none; over
    /// TLS when `remote` is a `turns:` server).
    pub(crate) fn send_turn(&mut self, local: SocketAddr, remote: SocketAddr, data: &[u8]) {
        self.write(Kind::Turn, local, remote, data.to_vec(), true);
    }

    fn write(
        &mut self,
        kind: Kind,
        local: SocketAddr,
        remote: SocketAddr,
        bytes: Vec<u8>,
        may_open: bool,
    ) {
        if let Some(conn) = self.conns.get(&(kind, local, remote)) {
            if conn.writer.try_send(bytes).is_err() {
                tracing::trace!("TCP message to {remote} dropped: queue full or closed");
            }
            return;
        }
        let opened = self.conns.values().filter(|c| !c.accepted).count();
        if !may_open || opened >= MAX_OPENED {
            return;
        }
        let (writer, queue) = mpsc::channel(WRITE_QUEUE);
        let _ = writer.try_send(bytes);
        let conn = Conn {
            writer,
            accepted: false,
        };
        self.conns.insert((kind, local, remote), conn);
        let tls = match kind {
            Kind::Turn => self.tls.connector(remote),
            Kind::Ice => None,
        };
        let events = self.events_tx.clone();
        tokio::spawn(async move {
            let connection = connect(kind, local, remote, tls, queue, events.clone());
            if crate::driver::catch_helper_panic("a TCP connection", connection)
                .await
                .is_none()
            {
                // Panicked (logged): closed, as a failed connection is.
                closed(&events, kind, local, remote).await;
            }
        });
    }
}

/// A STUN message's fixed header (RFC 8489 §5): two zero bits, the magic
/// cookie.
fn looks_like_stun(data: &[u8]) -> bool {
    data.len() >= 20 && data[0] & 0xc0 == 0 && data[4..8] == [0x21, 0x12, 0xa4, 0x42]
}

/// The places of the connections accepted on one connection's listeners
/// ([`MAX_ACCEPTED`] for all of them), and which of those have not sent
/// their first message yet, oldest first.
#[derive(Default)]
struct Admission {
    state: Mutex<AdmissionState>,
}

#[derive(Default)]
struct AdmissionState {
    open: usize,
    next_id: u64,
    /// The silent ones, oldest first, each with its task once spawned.
    silent: VecDeque<(u64, Option<AbortHandle>)>,
}

impl Admission {
    fn lock(&self) -> std::sync::MutexGuard<'_, AdmissionState> {
        // Only counters and a queue: consistent whatever panicked.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One accepted connection's place, given back when its task ends (or is
/// aborted to make room).
struct Place {
    admission: Arc<Admission>,
    id: u64,
}

impl Place {
    /// Its first message came: it is no longer one that makes room. False
    /// when it was chosen to make room first (its task is being aborted and
    /// must go no further).
    fn spoke(&self) -> bool {
        let mut state = self.admission.lock();
        let listed = state.silent.iter().position(|(id, _)| *id == self.id);
        listed.map(|i| state.silent.remove(i)).is_some()
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut state = self.admission.lock();
        state.silent.retain(|(id, _)| *id != self.id);
        state.open -= 1;
    }
}

/// Accepts connections until the connection's task is gone. Each takes a
/// place ([`MAX_ACCEPTED`] for all listeners) for its whole life, from the
/// accept on (RFC 6544 §8: a passive candidate is open to anyone, so silent
/// connections must not pile up until the process runs out of sockets).
/// With none left, the oldest connection still silent is closed to make
/// room; with none silent, the new one is closed at once.
async fn accept_loop(
    local: SocketAddr,
    listener: TcpListener,
    admission: Arc<Admission>,
    events: mpsc::Sender<TcpEvent>,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = events.closed() => return,
        };
        match accepted {
            Ok((stream, remote)) => {
                let Some((place, evicted)) = admit(&admission) else {
                    // Dropping the stream closes it.
                    tracing::debug!(
                        "TCP connection from {remote} refused: {MAX_ACCEPTED} accepted already"
                    );
                    continue;
                };
                if let Some(oldest) = evicted {
                    // Its place comes back when its task is dropped; if it
                    // speaks first, `spoke` tells it to go.
                    oldest.abort();
                    tracing::debug!("TCP connection closed for {remote}: silent the longest");
                }
                let id = place.id;
                let _ = stream.set_nodelay(true);
                // Not under the lock: a task spawned while the runtime
                // shuts down is dropped at once, and its `Place` takes it.
                let events = events.clone();
                let task = tokio::spawn(async move {
                    let connection = serve_accepted(local, remote, stream, place, events.clone());
                    if crate::driver::catch_helper_panic("an ICE-TCP connection", connection)
                        .await
                        .is_none()
                    {
                        // Panicked (logged): closed, as a failed one is.
                        closed(&events, Kind::Ice, local, remote).await;
                    }
                });
                let mut state = admission.lock();
                if let Some(entry) = state.silent.iter_mut().find(|(i, _)| *i == id) {
                    entry.1 = Some(task.abort_handle());
                }
            }
            Err(e) => {
                tracing::debug!("TCP accept on {local}: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// A place for a connection just accepted, listed as silent, and the task
/// of the connection silent the longest that makes room for it (to abort);
/// `None` with every place taken by connections that spoke.
fn admit(admission: &Arc<Admission>) -> Option<(Place, Option<AbortHandle>)> {
    let mut state = admission.lock();
    let mut evicted = None;
    if state.open >= MAX_ACCEPTED {
        // The oldest whose task is known (one spawned a moment ago is not
        // yet, and is not the oldest anyway).
        let i = state.silent.iter().position(|(_, task)| task.is_some())?;
        evicted = state.silent.remove(i).and_then(|(_, task)| task);
    }
    state.open += 1;
    state.next_id += 1;
    let id = state.next_id;
    state.silent.push_back((id, None));
    let place = Place {
        admission: Arc::clone(admission),
        id,
    };
    Some((place, evicted))
}

/// An accepted connection: its first message must be a STUN message and
/// come in time; only then does the connection's task hear of it. `place`
/// is its place among the [`MAX_ACCEPTED`], given back when it ends.
async fn serve_accepted(
    local: SocketAddr,
    remote: SocketAddr,
    stream: TcpStream,
    place: Place,
    events: mpsc::Sender<TcpEvent>,
) {
    let (mut reader, writer) = stream.into_split();
    let first = tokio::time::timeout(FIRST_MESSAGE_TIMEOUT, read_framed(&mut reader)).await;
    let first = match first {
        Ok(Ok(m)) if looks_like_stun(&m) => m,
        _ => {
            tracing::debug!("TCP connection from {remote}: no connectivity check first, closed");
            return;
        }
    };
    if !place.spoke() {
        // Chosen to make room while its first message came.
        return;
    }
    let (tx, queue) = mpsc::channel(WRITE_QUEUE);
    let accepted = TcpEvent::Accepted {
        local,
        remote,
        writer: tx,
    };
    let message = TcpEvent::Message {
        kind: Kind::Ice,
        local,
        remote,
        data: first,
    };
    if events.send(accepted).await.is_err() || events.send(message).await.is_err() {
        return;
    }
    run(Kind::Ice, local, remote, reader, writer, queue, events).await;
}

/// Opens a connection from `local`'s IP to `remote` (and a TLS session on
/// it with `tls`), then runs it.
async fn connect(
    kind: Kind,
    local: SocketAddr,
    remote: SocketAddr,
    tls: Option<Connector>,
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
    let stream = match tokio::time::timeout(CONNECT_TIMEOUT, opened).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            tracing::debug!("TCP connect {local} -> {remote}: {e}");
            return closed(&events, kind, local, remote).await;
        }
        Err(_) => {
            tracing::debug!("TCP connect {local} -> {remote}: no answer in {CONNECT_TIMEOUT:?}");
            return closed(&events, kind, local, remote).await;
        }
    };
    let _ = stream.set_nodelay(true);
    let Some(tls) = tls else {
        let (reader, writer) = stream.into_split();
        return run(kind, local, remote, reader, writer, queue, events).await;
    };
    // The handshake counts against the same budget as the connect: a
    // server that accepts but never answers is a failed connection.
    match tokio::time::timeout(CONNECT_TIMEOUT, tls.connect(stream)).await {
        Ok(Ok(session)) => {
            let (reader, writer) = tokio::io::split(session);
            run(kind, local, remote, reader, writer, queue, events).await;
        }
        Ok(Err(e)) => {
            tracing::warn!("TURN server {remote}: {e}");
            closed(&events, kind, local, remote).await;
        }
        Err(_) => {
            tracing::debug!("TLS to {remote}: no handshake in {CONNECT_TIMEOUT:?}");
            closed(&events, kind, local, remote).await;
        }
    }
}

/// Tells the connection's task that a connection ended.
async fn closed(
    events: &mpsc::Sender<TcpEvent>,
    kind: Kind,
    local: SocketAddr,
    remote: SocketAddr,
) {
    let _ = events
        .send(TcpEvent::Closed {
            kind,
            local,
            remote,
        })
        .await;
}

/// One RFC 4571 frame. The memory follows the bytes that arrive: a length
/// prefix alone (up to 65535) reserves at most [`FRAME_PREALLOC`].
async fn read_framed(reader: &mut (impl AsyncRead + Unpin)) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 2];
    reader.read_exact(&mut len).await?;
    let announced = u16::from_be_bytes(len);
    let len = usize::from(announced);
    let mut data = Vec::with_capacity(len.min(FRAME_PREALLOC));
    let read = (&mut *reader)
        .take(u64::from(announced))
        .read_to_end(&mut data)
        .await?;
    if read < len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(data)
}

/// Runs one connection: the writer drains `queue` (to its end once the
/// connection's task is gone), the reader cuts the stream into messages;
/// either ending ends both.
async fn run(
    kind: Kind,
    local: SocketAddr,
    remote: SocketAddr,
    mut reader: impl AsyncRead + Unpin,
    mut writer: impl AsyncWrite + Unpin,
    mut queue: mpsc::Receiver<Vec<u8>>,
    events: mpsc::Sender<TcpEvent>,
) {
    let write = async {
        while let Some(bytes) = queue.recv().await {
            writer.write_all(&bytes).await?;
        }
        writer.shutdown().await
    };
    let read = async {
        let mut decoder = ferrtc_turn::StreamDecoder::new();
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            let mut messages = Vec::new();
            match kind {
                Kind::Ice => {
                    match tokio::time::timeout(IDLE_TIMEOUT, read_framed(&mut reader)).await {
                        Ok(frame) => messages.push(frame?),
                        Err(_) => return Err(io::ErrorKind::TimedOut.into()),
                    }
                }
                Kind::Turn => {
                    let n = reader.read(&mut chunk).await?;
                    if n == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                    decoder
                        .push(&chunk[..n])
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                    while let Some(frame) = decoder
                        .next_frame()
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
                    {
                        messages.push(frame.to_vec());
                    }
                }
            }
            for data in messages {
                let message = TcpEvent::Message {
                    kind,
                    local,
                    remote,
                    data,
                };
                if events.send(message).await.is_err() {
                    return io::Result::Ok(());
                }
            }
        }
    };
    let gone = async {
        events.closed().await;
        tokio::time::sleep(DRAIN_TIMEOUT).await;
    };
    let ended = tokio::select! {
        r = write => r,
        r = read => r,
        () = gone => Ok(()),
    };
    if let Err(e) = ended {
        tracing::debug!("TCP {local} <-> {remote} ended: {e}");
    }
    closed(&events, kind, local, remote).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Places: the oldest silent connection makes room; one that spoke is
    /// never chosen, and one chosen cannot speak after; every place comes
    /// back when dropped.
    #[tokio::test]
    async fn the_oldest_silent_place_makes_room_and_a_chosen_one_cannot_speak() {
        let admission = Arc::new(Admission::default());
        let mut places = Vec::new();
        let mut tasks = Vec::new();
        for _ in 0..MAX_ACCEPTED {
            let (place, evicted) = admit(&admission).unwrap();
            assert!(evicted.is_none());
            let task = tokio::spawn(std::future::pending::<()>());
            admission.lock().silent.back_mut().unwrap().1 = Some(task.abort_handle());
            tasks.push(task);
            places.push(place);
        }
        assert!(places[0].spoke(), "the first spoke: no longer silent");
        let (newest, evicted) = admit(&admission).unwrap();
        assert!(
            evicted.is_some(),
            "the second, silent the longest, makes room"
        );
        assert!(!places[1].spoke(), "chosen to make room, it may not go on");
        assert!(places[2].spoke());
        drop(newest);
        drop(places);
        assert_eq!(admission.lock().open, 0);
        assert!(admission.lock().silent.is_empty());
        for t in tasks {
            t.abort();
        }
    }

    /// With every place taken by connections that spoke, a new one is refused.
    #[tokio::test]
    async fn with_every_place_taken_by_connections_that_spoke_a_new_one_is_refused() {
        let admission = Arc::new(Admission::default());
        let places: Vec<Place> = (0..MAX_ACCEPTED)
            .map(|_| admit(&admission).unwrap().0)
            .collect();
        for p in &places {
            assert!(p.spoke());
        }
        assert!(admit(&admission).is_none());
        drop(places);
        assert!(admit(&admission).is_some());
    }

    /// RFC 4571 §2: a frame is its 16-bit length and that many bytes; one
    /// cut short by the end of the stream is an error, not a short frame.
    #[tokio::test]
    async fn frames_are_read_whole_and_a_truncated_one_is_an_error() {
        let mut stream: &[u8] = &[0, 3, b'a', b'b', b'c', 0, 0, 0xff, 0xff, b'x'];
        assert_eq!(read_framed(&mut stream).await.unwrap(), b"abc");
        assert_eq!(read_framed(&mut stream).await.unwrap(), b"");
        let truncated = read_framed(&mut stream).await.unwrap_err();
        assert_eq!(truncated.kind(), io::ErrorKind::UnexpectedEof);
    }
}
