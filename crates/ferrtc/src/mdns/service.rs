//! The responder's socket and task, shared by every connection that
//! publishes `.local` names: one socket on the mDNS port answers for the
//! names of all of them (a socket per connection would mean one more
//! socket on port 5353 per call, each woken by every query on the link),
//! and each connection registers its names and takes them back when it
//! ends ([`Publisher`](super::Publisher)).

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Instant;

use tokio::net::UdpSocket;

use super::resolver::MDNS_GROUP;
use super::responder::{Destination, MdnsResponderStats, RegisterError, Responder};

/// Largest query read (RFC 6762 §17 allows 9000 bytes).
const RECV_BUF: usize = 9000;

/// How long the task rests after a failed read.
const RECV_ERROR_PAUSE: std::time::Duration = std::time::Duration::from_millis(10);

/// An mDNS responder (RFC 6762 §6) for the `.local` names that stand for
/// our host candidates when
/// [`Configuration::mdns_host_candidates`](crate::Configuration::mdns_host_candidates)
/// is on (draft-ietf-mmusic-mdns-ice-candidates): it answers A and AAAA
/// queries for the names its connections registered, and says goodbye
/// (TTL 0, §10.1) to each name when its connection closes.
///
/// [`MdnsResponder::multicast`] is the one on the mDNS group that
/// connections use by default, shared by the whole process;
/// [`MdnsResponder::bind`] makes one on a unicast address, for tests and
/// for networks where peers are told to query one host directly (their
/// [`Configuration::mdns_server`](crate::Configuration::mdns_server)).
///
/// Cheap to clone; the socket closes when the last clone and the last
/// connection using it are gone.
#[derive(Clone)]
pub struct MdnsResponder {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for MdnsResponder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MdnsResponder")
            .field("local_addr", &self.shared.local)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

struct Shared {
    /// Sends: a std socket writes at once (tokio's `try_send_to` refuses
    /// until a readiness event came), and announcements are sent from
    /// outside the task.
    send: StdUdpSocket,
    local: SocketAddr,
    /// Where multicast answers and goodbyes go.
    group: Option<SocketAddr>,
    state: Mutex<Responder>,
    /// The reading task, stopped with the last handle.
    task: OnceLock<tokio::task::AbortHandle>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Some(task) = self.task.get() {
            task.abort();
        }
    }
}

/// The process's responder on the mDNS group, while anyone holds it.
static MULTICAST: Mutex<Weak<Shared>> = Mutex::new(Weak::new());

impl MdnsResponder {
    /// A responder on `addr`, a unicast address (port 0 picks one): it
    /// answers the queries sent there, by unicast to their source, and
    /// sends goodbyes to `announce` if given (RFC 6762 §10.1 sends them
    /// to the group). Must be called within a tokio runtime.
    pub fn bind(addr: SocketAddr, announce: Option<SocketAddr>) -> io::Result<MdnsResponder> {
        let socket = StdUdpSocket::bind(addr)?;
        Self::start(socket, announce)
    }

    /// The process's responder on the IPv4 mDNS group `224.0.0.251:5353`
    /// (RFC 6762 §3): bound to port 5353 with address reuse (beside the
    /// system's own responder, as browsers do), joined to the group on the
    /// default interface, multicast with IP TTL 255 (§11). Made at the
    /// first call and shared by every caller until the last one drops it.
    /// Must be called within a tokio runtime.
    pub fn multicast() -> io::Result<MdnsResponder> {
        let mut slot = MULTICAST.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(shared) = slot.upgrade()
            && !shared.task.get().is_some_and(|t| t.is_finished())
        {
            return Ok(MdnsResponder { shared });
        }
        let socket = bind_group()?;
        let responder = Self::start(socket, Some(MDNS_GROUP))?;
        *slot = Arc::downgrade(&responder.shared);
        Ok(responder)
    }

    fn start(socket: StdUdpSocket, group: Option<SocketAddr>) -> io::Result<MdnsResponder> {
        socket.set_nonblocking(true)?;
        let local = socket.local_addr()?;
        let send = socket.try_clone()?;
        let recv = UdpSocket::from_std(socket)?;
        let shared = Arc::new(Shared {
            send,
            local,
            group,
            state: Mutex::new(Responder::default()),
            task: OnceLock::new(),
        });
        // The task holds the state weakly: it ends when the handles do.
        let task = tokio::spawn(serve_on(recv, Arc::downgrade(&shared)));
        let _ = shared.task.set(task.abort_handle());
        Ok(MdnsResponder { shared })
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local
    }

    /// What the responder counted: queries, answers, ignored and
    /// malformed messages, goodbyes.
    pub fn stats(&self) -> MdnsResponderStats {
        self.shared.state().stats()
    }

    /// How many names it answers for now.
    pub fn names(&self) -> usize {
        self.shared.state().len()
    }

    /// Answers for `name` (a `.local` name) with `ip` from now on.
    pub(crate) fn register(&self, name: &str, ip: IpAddr) -> Result<(), RegisterError> {
        self.shared.state().register(name, ip)
    }

    /// Stops answering for `names` and sends their goodbye, if any of them
    /// was registered and the responder has somewhere to announce.
    pub(crate) fn unregister<'a>(&self, names: impl IntoIterator<Item = &'a str>) {
        let mut msg = Vec::new();
        let sent = self.shared.state().unregister(names, &mut msg);
        if let (true, Some(group)) = (sent, self.shared.group)
            && let Err(e) = self.shared.send.send_to(&msg, group)
        {
            tracing::debug!("mDNS goodbye not sent: {e}");
        }
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, Responder> {
        // The table holds plain data; a panic elsewhere leaves it usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Serves until the last handle is gone. A panic while answering (a bug;
/// logged) drops that query, as a lost datagram, and serving goes on: one
/// query must not silence the names of every connection it answers for.
async fn serve_on(socket: UdpSocket, shared: Weak<Shared>) {
    while crate::driver::catch_helper_panic("the mDNS responder", serve(&socket, &shared))
        .await
        .is_none()
    {
        tokio::task::yield_now().await;
    }
}

/// Reads queries and sends the answers until the last handle is gone.
async fn serve(socket: &UdpSocket, shared: &Weak<Shared>) {
    let mut buf = vec![0u8; RECV_BUF];
    let mut out = Vec::new();
    loop {
        let (len, from) = match socket.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(e) => {
                // ICMP errors from earlier sends and the like: not fatal,
                // but an error that repeats must not spin the task.
                tracing::debug!("mDNS responder recv: {e}");
                if shared.strong_count() == 0 {
                    return;
                }
                tokio::time::sleep(RECV_ERROR_PAUSE).await;
                continue;
            }
        };
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let msg = buf.get(..len).unwrap_or_default();
        let to = shared
            .state()
            .handle_datagram(Instant::now(), from, msg, &mut out);
        let to = match to {
            Some(Destination::Unicast(addr)) => addr,
            Some(Destination::Multicast) => match shared.group {
                Some(group) => group,
                // A unicast responder has no group: the querier it is.
                None => from,
            },
            None => continue,
        };
        if let Err(e) = shared.send.send_to(&out, to) {
            tracing::debug!("mDNS answer to {to} not sent: {e}");
        }
    }
}

/// A socket on `0.0.0.0:5353`, shared with other responders on the host
/// (`SO_REUSEADDR`, and `SO_REUSEPORT` where it exists), joined to the
/// IPv4 group, multicast TTL 255 (RFC 6762 §11), loopback on so that
/// peers on this host hear our answers too.
fn bind_group() -> io::Result<StdUdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    #[cfg(any(
        target_os = "linux",
        target_os = "android",
        target_os = "freebsd",
        target_vendor = "apple"
    ))]
    socket.set_reuse_port(true)?;
    socket.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, MDNS_GROUP.port())).into())?;
    let group = match MDNS_GROUP.ip() {
        IpAddr::V4(g) => g,
        IpAddr::V6(_) => return Err(io::Error::other("the mDNS group is IPv4")),
    };
    socket.join_multicast_v4(&group, &Ipv4Addr::UNSPECIFIED)?;
    socket.set_multicast_ttl_v4(255)?;
    socket.set_multicast_loop_v4(true)?;
    Ok(socket.into())
}
