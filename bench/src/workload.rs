//! What each stack is asked to do, and what it reports back.
//!
//! Every (stack, workload) runs in a child process of its own, so that peak
//! RSS belongs to that run alone; the child prints one [`Sample`] as a JSON
//! line on stdout.

use serde::{Deserialize, Serialize};

/// One of the workloads of issue 8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    /// 1. One reliable ordered channel over real UDP on loopback: `bytes` in
    ///    `message_size` messages with back-pressure (the sender waits while
    ///    more than 1 MiB is buffered).
    Throughput { bytes: u64, message_size: usize },
    /// 2. Offer to channel-open latency on loopback, `rounds` pairs one after
    ///    the other; the median is reported.
    Setup { rounds: usize },
    /// 3. `pairs` established pairs of peer connections (2 × `pairs` peer
    ///    connections) in one process, each pair with one open channel.
    Connections { pairs: usize },
    /// 4. `count` small messages of `message_size` bytes on one reliable
    ///    ordered channel.
    SmallMessages { count: u64, message_size: usize },
    /// The media path (`ferrtc-compare rtp`, `src/rtp/`): one VP8 video
    /// track between two peers in one process, without sockets; `frames`
    /// frames of `frame_size` bytes written on one side and read whole on
    /// the other. Only ferrtc (its sans-IO core) and str0m run it.
    Rtp { frames: u64, frame_size: usize },
    /// Media forwarding (`ferrtc-compare forward`, `src/forward/`): one
    /// sender's video and audio through a forwarder to `receivers`
    /// receivers over loopback UDP, `secs` seconds of real time.
    Forward { receivers: usize, secs: u64 },
}

/// What a run measured. Fields that do not apply to a workload are `None`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Sample {
    /// Stack name as shown in the table.
    pub stack: String,
    /// Stack version (crate version).
    pub version: String,
    /// Wall-clock seconds of the measured phase.
    pub secs: f64,
    /// User + system CPU seconds of the whole process during the measured phase.
    pub cpu_s: f64,
    /// Throughput, MiB/s (workload 1).
    pub mib_per_s: Option<f64>,
    /// CPU seconds per GiB moved (workload 1).
    pub cpu_s_per_gib: Option<f64>,
    /// Median offer-to-open milliseconds (workload 2).
    pub setup_median_ms: Option<f64>,
    /// Pairs that opened (workload 3).
    pub pairs_open: Option<usize>,
    /// Milliseconds until every pair was open (workload 3).
    pub establish_ms: Option<f64>,
    /// (Peak RSS − RSS before the first connection) / peer connections, KiB (workload 3).
    pub rss_per_connection_kib: Option<f64>,
    /// Messages per second (workload 4).
    pub messages_per_s: Option<f64>,
    /// RTP packets (media, sender to receiver) in the timed phase (rtp).
    pub rtp_packets: Option<u64>,
    /// Whole frames delivered in the timed phase (rtp).
    pub frames: Option<u64>,
    /// Datagrams the receiver sent back (RTCP feedback, STUN) in the timed
    /// phase (rtp).
    pub feedback_datagrams: Option<u64>,
    /// Mean size of a media datagram, SRTP included, bytes (rtp).
    pub rtp_datagram_bytes: Option<f64>,
    /// Wall-clock seconds inside the sender's calls: writing the frames and
    /// polling their datagrams out (packetize, protect) (rtp).
    pub send_secs: Option<f64>,
    /// Wall-clock seconds inside the receiver's calls: handing it the
    /// datagrams and taking the frames out (unprotect, depacketize) (rtp).
    pub receive_secs: Option<f64>,
    /// Bytes of the whole frames the receivers got, each frame once
    /// (forward).
    pub media_bytes: Option<u64>,
    /// Frames the sender wrote (forward).
    pub frames_sent: Option<u64>,
    /// Receivers connected (forward).
    pub receivers: Option<usize>,
    /// Resident memory added per receiver, KiB (forward).
    pub rss_per_receiver_kib: Option<f64>,
    /// Peak RSS of the process, MiB.
    pub peak_rss_mib: f64,
    /// Set when the stack could not do the workload (the table shows it).
    pub error: Option<String>,
}
