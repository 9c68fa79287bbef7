//! Client transactions and their timers: retransmission over UDP
//! (RFC 8489 §6.2.1), a single send over TCP or TLS (RFC 8489 §6.2.2), and
//! the back-off of a failed refresh.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// Initial retransmission timeout, RTO (RFC 8489 §6.2.1: 500 ms recommended).
pub const INITIAL_RTO: Duration = Duration::from_millis(500);
/// Rc: transmissions before giving up (RFC 8489 §6.2.1: 7).
pub const MAX_TRANSMITS: u32 = 7;
/// Rm: after the last transmission, wait Rm * RTO (RFC 8489 §6.2.1: 16).
pub const FINAL_WAIT_FACTOR: u32 = 16;
/// Ti: over a reliable transport a request is sent once and fails after
/// 39.5 s without a response (RFC 8489 §6.2.2).
pub const RELIABLE_TIMEOUT: Duration = Duration::from_millis(39_500);
/// First wait before a failed refresh (of the allocation, a permission or a
/// channel) is tried again; it doubles on each failure up to
/// [`REFRESH_RETRY_MAX`], until the lifetime runs out.
pub const REFRESH_RETRY_MIN: Duration = Duration::from_secs(5);
/// Longest wait between two attempts of a failed refresh.
pub const REFRESH_RETRY_MAX: Duration = Duration::from_secs(60);

/// What a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Allocate (RFC 8656 §7.1).
    Allocate,
    /// Refresh with this LIFETIME (RFC 8656 §8.1); 0 deallocates.
    Refresh { lifetime: u32 },
    /// CreatePermission for one IP (RFC 8656 §10.1).
    CreatePermission { peer: IpAddr },
    /// ChannelBind (RFC 8656 §11.1).
    ChannelBind { peer: SocketAddr, channel: u16 },
}

/// One outstanding request, with its bytes kept for retransmission.
#[derive(Debug)]
pub(crate) struct Transaction {
    pub kind: Kind,
    pub bytes: Vec<u8>,
    pub transmits: u32,
    pub rto: Duration,
    pub deadline: Instant,
    /// Sent over TCP or TLS: never retransmitted (RFC 8489 §6.2.2).
    pub reliable: bool,
    /// Whether a 438 Stale Nonce was already retried once (RFC 8656 §7.4).
    pub stale_retried: bool,
    /// Whether the request carried MESSAGE-INTEGRITY(-SHA256): a 401 to it
    /// means the credentials are wrong (RFC 8489 §9.2.5).
    pub signed: bool,
}

/// What a timer expiry asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Expiry {
    Retransmit,
    TimedOut,
}

impl Transaction {
    /// A transaction sent for the first time at `now`.
    pub(crate) fn new(kind: Kind, bytes: Vec<u8>, now: Instant, reliable: bool) -> Self {
        let mut t = Transaction {
            kind,
            bytes,
            transmits: 0,
            rto: INITIAL_RTO,
            deadline: now,
            reliable,
            stale_retried: false,
            signed: false,
        };
        t.on_transmit(now);
        t
    }

    /// Records a transmission at `now` and arms the timer: over UDP the RTO
    /// doubles each time and after the last the client waits Rm * initial
    /// RTO (RFC 8489 §6.2.1); over TCP/TLS it waits Ti once (§6.2.2).
    fn on_transmit(&mut self, now: Instant) {
        self.transmits += 1;
        if self.reliable {
            self.deadline = now + RELIABLE_TIMEOUT;
        } else if self.transmits >= MAX_TRANSMITS {
            self.deadline = now + INITIAL_RTO * FINAL_WAIT_FACTOR;
        } else {
            self.deadline = now + self.rto;
            self.rto *= 2;
        }
    }

    /// The timer fired at `now`: retransmit, or give up.
    pub(crate) fn expire(&mut self, now: Instant) -> Expiry {
        if self.reliable || self.transmits >= MAX_TRANSMITS {
            return Expiry::TimedOut;
        }
        self.on_transmit(now);
        Expiry::Retransmit
    }
}

/// The back-off of a failed refresh: when to try again, and how long the
/// wait was (it doubles on each failure, from [`REFRESH_RETRY_MIN`] up to
/// [`REFRESH_RETRY_MAX`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Retry {
    pub at: Instant,
    pub delay: Duration,
}

impl Retry {
    /// The retry after a failure at `now`, following `previous` (if any).
    pub(crate) fn after(previous: Option<Retry>, now: Instant) -> Retry {
        let delay = previous.map_or(REFRESH_RETRY_MIN, |r| (r.delay * 2).min(REFRESH_RETRY_MAX));
        Retry {
            at: now + delay,
            delay,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_is_rfc8489_section_6_2_1() {
        let t0 = Instant::now();
        let mut t = Transaction::new(Kind::Allocate, Vec::new(), t0, false);
        let mut sends = vec![0u128];
        loop {
            let now = t.deadline;
            match t.expire(now) {
                Expiry::Retransmit => sends.push((now - t0).as_millis()),
                Expiry::TimedOut => {
                    assert_eq!(now - t0, Duration::from_millis(39_500));
                    break;
                }
            }
        }
        assert_eq!(sends, [0, 500, 1500, 3500, 7500, 15500, 31500]);
    }

    #[test]
    fn reliable_transport_sends_once_and_waits_ti() {
        let t0 = Instant::now();
        let mut t = Transaction::new(Kind::Allocate, Vec::new(), t0, true);
        assert_eq!(t.deadline, t0 + RELIABLE_TIMEOUT);
        assert_eq!(t.expire(t.deadline), Expiry::TimedOut);
        assert_eq!(t.transmits, 1);
    }

    #[test]
    fn refresh_retries_double_up_to_the_cap() {
        let t0 = Instant::now();
        let mut r = Retry::after(None, t0);
        let mut delays = vec![r.delay.as_secs()];
        for _ in 0..5 {
            r = Retry::after(Some(r), t0);
            delays.push(r.delay.as_secs());
        }
        assert_eq!(delays, [5, 10, 20, 40, 60, 60]);
    }
}
