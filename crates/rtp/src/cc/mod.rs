//! Congestion control: transport-wide feedback (receive side), a send-side
//! bandwidth estimate after Google Congestion Control
//! (draft-ietf-rmcat-gcc-02) and a pacer that spends it. Sans-IO like the
//! rest of the crate: every input takes the caller's `now`.
//!
//! | module | job |
//! |---|---|
//! | [`feedback`] | receiver: records transport-wide sequence numbers and arrival times, emits transport-cc feedback |
//! | [`ccfb`] | RFC 8888 feedback: the receiver's generator, the sender's index of packets by SSRC and sequence number |
//! | [`estimator`] | sender: the combined estimate (delay-based, loss-based, probes, REMB cap) |
//! | [`history`] | sender: packets sent, matched against feedback |
//! | [`trendline`] | delay gradient over packet groups, trendline filter, overuse detector |
//! | [`aimd`] | the delay-based rate controller (AIMD) |
//! | [`loss`] | the loss-based controller |
//! | [`acked`] | acknowledged bitrate |
//! | [`probe`] | probe clusters and their results |
//! | [`pacer`] | releases packets by priority at the pacing rate, in short bursts |
//!
//! The sender's drive order, per packet and per feedback:
//!
//! 1. [`pacer::Pacer::push`] each media packet; [`pacer::Pacer::poll_packet`]
//!    until `None`, giving each packet the next transport-wide sequence
//!    number and reporting it with [`estimator::SendSideEstimator::on_packet_sent`];
//! 2. on RTCP feedback, [`estimator::SendSideEstimator::on_transport_feedback`]
//!    (or `on_remb`), then read [`estimator::SendSideEstimator::target_bitrate`]
//!    and give the pacer its rates and any probe from
//!    [`estimator::SendSideEstimator::poll_probe`];
//! 3. [`pacer::Pacer::poll_timeout`] says when to come back; the estimator
//!    has no timer of its own: it moves with feedback, and with packets
//!    sent while feedback stays away (a second of silence halves it).
//!
//! The receiver's: [`feedback::FeedbackGenerator::on_packet`] for every
//! packet with the transport-wide sequence extension, then
//! [`feedback::FeedbackGenerator::poll_feedback`] after every packet and at
//! its `poll_timeout` (or [`ccfb::CcfbGenerator`] for RFC 8888 feedback, at
//! its `poll_timeout`).

pub mod acked;
pub mod aimd;
pub mod ccfb;
pub mod estimator;
pub mod feedback;
pub mod history;
pub mod loss;
pub mod pacer;
pub mod probe;
pub mod trendline;

use std::fmt;

/// A bit rate in bits per second (W3C `availableOutgoingBitrate` units).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Bitrate(u64);

impl Bitrate {
    /// Zero bits per second.
    pub const ZERO: Self = Self(0);

    /// `bps` bits per second.
    pub const fn bps(bps: u64) -> Self {
        Self(bps)
    }

    /// `kbps` kilobits (1,000 bits) per second.
    pub const fn kbps(kbps: u64) -> Self {
        Self(kbps * 1_000)
    }

    /// The rate in bits per second.
    pub const fn as_bps(self) -> u64 {
        self.0
    }

    /// The rate as a float, for the estimators' arithmetic.
    pub fn as_f64(self) -> f64 {
        self.0 as f64
    }

    /// From a float in bits per second; negative or NaN becomes zero.
    pub fn from_f64(bps: f64) -> Self {
        if bps.is_nan() || bps <= 0.0 {
            Self(0)
        } else {
            Self(bps.min(u64::MAX as f64) as u64)
        }
    }

    /// Bytes this rate carries in `d`.
    pub fn bytes_in(self, d: std::time::Duration) -> f64 {
        self.0 as f64 * d.as_secs_f64() / 8.0
    }

    /// How long `bytes` take at this rate (`None` at zero).
    pub fn time_for(self, bytes: f64) -> Option<std::time::Duration> {
        // At most an hour, so that `now + time_for(..)` never overflows.
        (self.0 > 0).then(|| {
            std::time::Duration::from_secs_f64((bytes.max(0.0) * 8.0 / self.0 as f64).min(3600.0))
        })
    }
}

impl fmt::Display for Bitrate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.0} kbit/s", self.0 as f64 / 1_000.0)
    }
}
