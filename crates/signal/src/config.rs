//! Limits and options of the signaling server.

use std::fmt;
use std::time::Duration;

use crate::bot::BotPort;
use crate::gauge::Gauge;
use crate::media::MediaPort;
use crate::ratelimit::RateLimit;

/// Configuration of [`crate::serve`]: limits with safe defaults, the bots to
/// seat in the room, and the [`Gauge`] the server reports into.
///
/// ```
/// let mut config = ferrtc_signal::SignalConfig::default();
/// config.max_users = 50;
/// let gauge = config.gauge.clone(); // read it while the server runs
/// assert_eq!(gauge.snapshot().sessions, 0);
/// ```
#[non_exhaustive]
pub struct SignalConfig {
    /// Largest text message handled; a larger one (up to
    /// [`Self::max_frame_bytes`]) gets a `too-large` error and is dropped.
    /// Default 64 KiB, room for any browser SDP.
    pub max_message_bytes: usize,
    /// Largest WebSocket message read at all; past it the connection is
    /// closed (code 1009). Default 1 MiB.
    pub max_frame_bytes: usize,
    /// Most WebSocket sessions at once; more get HTTP 503. Default 16384
    /// (each takes a file descriptor: the process's open-file limit must be
    /// higher; `ferrtc signal` raises its soft limit to the hard one).
    pub max_connections: usize,
    /// Most users joined in one room, bots included (across the cluster
    /// with [`Self::redis`]). Default 1024.
    pub max_users: usize,
    /// Messages queued for one client. A client whose queue stays full for
    /// 2 s with nothing taken from it is dropped as too slow; while it is
    /// full, a signal that does not fit is refused to its sender with
    /// `rate-limited` (a burst from several users is not a slow client).
    /// Default 256.
    pub queue_len: usize,
    /// How often the server pings each client. Default 15 s.
    pub ping_interval: Duration,
    /// A client silent (no frame, no pong) this long is dropped as gone.
    /// Also the deadline of every write to a client: one that does not take
    /// a message (or the close frame) within it stopped reading, and is
    /// dropped, its connection slot freed. Default 45 s.
    pub idle_timeout: Duration,
    /// An HTTP request head (the WebSocket upgrade, a page, a WHIP `POST`)
    /// not fully received this long after the connection opened, or after
    /// the previous response on a kept-alive connection, closes the
    /// connection: half-sent requests cannot hold sockets for ever. At most
    /// 1024 HTTP connections that are not WebSockets are open at once;
    /// more wait to be accepted. Default 10 s.
    pub header_read_timeout: Duration,
    /// Join tokens: with a secret, a connection must carry
    /// `?token=` minted for its room and the name it joins with (see
    /// [`crate::token`]); others get `bad-token` and are closed. Default none.
    pub secret: Option<Vec<u8>>,
    /// Origins (`scheme://host[:port]`) whose pages may open the WebSocket.
    /// Empty (the default): any. A request with another `Origin` header gets
    /// HTTP 403; clients that send no `Origin` (not browsers) are let in.
    pub allowed_origins: Vec<String>,
    /// Per-client message rate limit.
    pub rate_limit: RateLimit,
    /// `redis://HOST:PORT`: run as one node of a cluster sharing presence
    /// and routing through that Redis (see [`crate::cluster`]). Default none:
    /// one process, in memory.
    pub redis: Option<String>,
    /// The counters the server keeps; clone it before handing the config over.
    pub gauge: Gauge,
    pub(crate) bots: Vec<BotPort>,
    pub(crate) media: Option<MediaPort>,
}

impl SignalConfig {
    /// Seats a bot (see [`crate::bot()`]) in the room for as long as its
    /// [`crate::BotHandle`] lives.
    pub fn with_bot(mut self, port: BotPort) -> Self {
        self.bots.push(port);
        self
    }

    /// Serves WHIP (`POST /whip`) and WHEP (`POST /whep`) with the media
    /// side at the other end of `port` (see [`crate::media_port()`]).
    /// Without one those routes answer 503. Offers and fragments are read
    /// up to [`Self::max_message_bytes`] (413 past it).
    pub fn with_media(mut self, port: MediaPort) -> Self {
        self.media = Some(port);
        self
    }
}

impl Default for SignalConfig {
    fn default() -> Self {
        Self {
            max_message_bytes: 64 * 1024,
            max_frame_bytes: 1024 * 1024,
            max_connections: 16 * 1024,
            max_users: 1024,
            queue_len: 256,
            ping_interval: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(45),
            header_read_timeout: Duration::from_secs(10),
            secret: None,
            allowed_origins: Vec::new(),
            rate_limit: RateLimit::default(),
            redis: None,
            gauge: Gauge::default(),
            bots: Vec::new(),
            media: None,
        }
    }
}

impl fmt::Debug for SignalConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignalConfig")
            .field("max_message_bytes", &self.max_message_bytes)
            .field("max_frame_bytes", &self.max_frame_bytes)
            .field("max_connections", &self.max_connections)
            .field("max_users", &self.max_users)
            .field("queue_len", &self.queue_len)
            .field("ping_interval", &self.ping_interval)
            .field("idle_timeout", &self.idle_timeout)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("secret", &self.secret.as_ref().map(|_| "<set>"))
            .field("allowed_origins", &self.allowed_origins)
            .field("rate_limit", &self.rate_limit)
            .field("redis", &self.redis)
            .field(
                "bots",
                &self.bots.iter().map(BotPort::name).collect::<Vec<_>>(),
            )
            .field("media", &self.media.is_some())
            .finish_non_exhaustive()
    }
}
