//! Client transactions over UDP and their retransmission timer
//! (RFC 8489 §6.2.1).

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// Initial retransmission timeout, RTO (RFC 8489 §6.2.1: 500 ms recommended).
pub const INITIAL_RTO: Duration = Duration::from_millis(500);
/// Rc: transmissions before giving up (RFC 8489 §6.2.1: 7).
pub const MAX_TRANSMITS: u32 = 7;
/// Rm: after the last transmission, wait Rm * RTO (RFC 8489 §6.2.1: 16).
pub const FINAL_WAIT_FACTOR: u32 = 16;

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
    /// Whether a 438 Stale Nonce was already retried once (RFC 8656 §7.4).
    pub stale_retried: bool,
}

/// What a timer expiry asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Expiry {
    Retransmit,
    TimedOut,
}

impl Transaction {
    /// A transaction sent for the first time at `now`.
    pub(crate) fn new(kind: Kind, bytes: Vec<u8>, now: Instant) -> Self {
        let mut t = Transaction {
            kind,
            bytes,
            transmits: 0,
            rto: INITIAL_RTO,
            deadline: now,
            stale_retried: false,
        };
        t.on_transmit(now);
        t
    }

    /// Records a transmission at `now` and arms the timer: RTO doubles each
    /// time; after the last, wait Rm * initial RTO.
    fn on_transmit(&mut self, now: Instant) {
        self.transmits += 1;
        if self.transmits >= MAX_TRANSMITS {
            self.deadline = now + INITIAL_RTO * FINAL_WAIT_FACTOR;
        } else {
            self.deadline = now + self.rto;
            self.rto *= 2;
        }
    }

    /// The timer fired at `now`: retransmit, or give up.
    pub(crate) fn expire(&mut self, now: Instant) -> Expiry {
        if self.transmits >= MAX_TRANSMITS {
            return Expiry::TimedOut;
        }
        self.on_transmit(now);
        Expiry::Retransmit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_is_rfc8489_section_6_2_1() {
        let t0 = Instant::now();
        let mut t = Transaction::new(Kind::Allocate, Vec::new(), t0);
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
}
