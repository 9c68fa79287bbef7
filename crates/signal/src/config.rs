//! Limits and options of the signaling server.

use std::fmt;
use std::time::Duration;

use crate::bot::BotPort;
use crate::gauge::Gauge;

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
    /// Most WebSocket sessions at once; more get HTTP 503. Default 1024.
    pub max_connections: usize,
    /// Most users joined at once, bots included. Default 1024.
    pub max_users: usize,
    /// Messages queued for one client before it is dropped as too slow.
    /// Default 256.
    pub queue_len: usize,
    /// How often the server pings each client. Default 15 s.
    pub ping_interval: Duration,
    /// A client silent (no frame, no pong) this long is dropped as gone.
    /// Default 45 s.
    pub idle_timeout: Duration,
    /// The counters the server keeps; clone it before handing the config over.
    pub gauge: Gauge,
    pub(crate) bots: Vec<BotPort>,
}

impl SignalConfig {
    /// Seats a bot (see [`crate::bot()`]) in the room for as long as its
    /// [`crate::BotHandle`] lives.
    pub fn with_bot(mut self, port: BotPort) -> Self {
        self.bots.push(port);
        self
    }
}

impl Default for SignalConfig {
    fn default() -> Self {
        Self {
            max_message_bytes: 64 * 1024,
            max_frame_bytes: 1024 * 1024,
            max_connections: 1024,
            max_users: 1024,
            queue_len: 256,
            ping_interval: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(45),
            gauge: Gauge::default(),
            bots: Vec::new(),
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
            .field(
                "bots",
                &self.bots.iter().map(BotPort::name).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}
