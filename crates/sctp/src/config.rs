//! Configuration of an association: limits with safe defaults and timers.

use std::time::Duration;

/// Default SCTP port for WebRTC data channels (RFC 8841 `a=sctp-port`).
pub const DEFAULT_PORT: u16 = 5000;

/// Configuration of an [`Association`](crate::Association).
///
/// Defaults are sized for WebRTC: 1,200 bytes of SCTP packet (fits a DTLS
/// record in a 1,280-byte IPv6 path), 256 KiB `max-message-size` (RFC 8841),
/// a 1 MiB receive window, 65,535 streams each way like Chrome.
#[derive(Debug, Clone)]
pub struct Config {
    /// Seed of the RNG of [`Association::new`](crate::Association::new)
    /// (verification tag, initial TSN, cookie key). `None`, the default,
    /// draws from the operating system's CSPRNG (RFC 9260 §5.1: the tag
    /// is random, §5.1.3: the cookie key secret). `Some` gives reproducible
    /// runs for tests: 64 bits are too few for secrets. A connection passes
    /// its own generator to
    /// [`Association::with_rng`](crate::Association::with_rng).
    pub seed: Option<u64>,
    /// Local SCTP port.
    pub local_port: u16,
    /// Remote SCTP port.
    pub remote_port: u16,
    /// Largest SCTP packet written (bytes, common header included).
    pub mtu: usize,
    /// Largest message accepted for sending and for receiving (RFC 8841
    /// `max-message-size`). A peer that sends a larger one is aborted.
    pub max_message_size: usize,
    /// Receive buffer (bytes) advertised as a_rwnd; also the hard limit of
    /// memory held for reassembly and undelivered messages.
    pub max_receive_buffer: usize,
    /// Send buffer limit (bytes queued and in flight) across all streams.
    pub max_send_buffer: usize,
    /// Number of outbound / inbound streams asked for in INIT.
    pub streams: u16,
    /// Initial retransmission timeout (RFC 9260 §15: RTO.Initial).
    pub rto_initial: Duration,
    /// Lower bound of the retransmission timeout.
    pub rto_min: Duration,
    /// Upper bound of the retransmission timeout.
    pub rto_max: Duration,
    /// Retransmissions of INIT / COOKIE-ECHO before giving up.
    pub max_init_retransmits: u32,
    /// Consecutive timeouts (T3, heartbeat, reset) before the association
    /// is considered failed (Association.Max.Retrans). Probes of a closed
    /// receive window that the peer keeps answering with SACKs do not count
    /// (RFC 9260 §6.1 rule A). Also the refusals of a stream's reset in a
    /// row after which it is given up
    /// ([`Event::OutgoingStreamResetFailed`](crate::Event::OutgoingStreamResetFailed)).
    pub max_retransmits: u32,
    /// How long a SACK may be delayed (RFC 9260 §6.2: at most 500 ms).
    pub delayed_ack: Duration,
    /// Heartbeat interval on an idle association; `None` disables heartbeats.
    pub heartbeat_interval: Option<Duration>,
    /// How long a state cookie stays valid.
    pub cookie_lifetime: Duration,
    /// Initial congestion window, in MTUs (RFC 9260 says about 3; WebRTC
    /// stacks start with 10 on their low-latency paths).
    pub initial_cwnd_mtus: usize,
    /// Offer and accept the zero checksum alternative (RFC 9653) with the
    /// DTLS error detection method; only safe when SCTP runs over DTLS.
    pub zero_checksum: bool,
    /// Offer I-DATA (RFC 8260, message interleaving); used when the peer offers it too.
    pub i_data: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            seed: None,
            local_port: DEFAULT_PORT,
            remote_port: DEFAULT_PORT,
            mtu: 1200,
            max_message_size: 256 * 1024,
            max_receive_buffer: 1024 * 1024,
            max_send_buffer: 16 * 1024 * 1024,
            streams: 65_535,
            rto_initial: Duration::from_millis(1000),
            rto_min: Duration::from_millis(200),
            rto_max: Duration::from_secs(10),
            max_init_retransmits: 8,
            max_retransmits: 10,
            delayed_ack: Duration::from_millis(50),
            heartbeat_interval: Some(Duration::from_secs(30)),
            cookie_lifetime: Duration::from_secs(60),
            initial_cwnd_mtus: 10,
            zero_checksum: false,
            i_data: true,
        }
    }
}
