//! STUN client transactions of the agent and their retransmission timers
//! (RFC 8489 §6.2.1, RFC 8445 §14.3).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ferrtc_stun::TransactionId;

use crate::agent::Protocol;
use crate::stun_io::RoleAttr;

/// What a transaction is for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum TxnKind {
    /// A connectivity check of a pair (RFC 8445 §7.2.4).
    Check {
        pair: usize,
        use_candidate: bool,
        role: RoleAttr,
    },
    /// A Binding request to a STUN server for a server-reflexive candidate
    /// (RFC 8445 §5.1.1.2).
    Gather { server: SocketAddr },
    /// A consent check on the selected pair (RFC 7675 §5.1).
    Consent,
}

/// One outstanding request.
#[derive(Debug)]
pub(crate) struct Transaction {
    pub id: TransactionId,
    pub kind: TxnKind,
    /// The local base it leaves from.
    pub source: SocketAddr,
    /// Where it goes.
    pub destination: SocketAddr,
    /// Over UDP or over a TCP connection (RFC 6544).
    pub protocol: Protocol,
    /// When it was first sent.
    pub started: Instant,
    /// Transmissions so far.
    pub transmits: u32,
    /// The current retransmission timeout.
    pub rto: Duration,
    /// When to retransmit, or to give up after the last transmission.
    pub deadline: Instant,
    /// Cancelled (RFC 8445 §7.3.1.4): no retransmission and no failure on
    /// timeout, but a response is still used.
    pub cancelled: bool,
}

/// The retransmission schedule: RTO doubling up to a cap, `max_transmits`
/// transmissions, then `final_wait_factor` initial RTOs (RFC 8489 §6.2.1).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Schedule {
    pub rto: Duration,
    pub max_rto: Duration,
    pub max_transmits: u32,
    pub final_wait_factor: u32,
}

/// What a timer expiry asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Expiry {
    Retransmit,
    TimedOut,
}

impl Transaction {
    /// A transaction about to be sent for the first time at `now`.
    pub(crate) fn new(
        id: TransactionId,
        kind: TxnKind,
        (source, destination, protocol): (SocketAddr, SocketAddr, Protocol),
        now: Instant,
        schedule: &Schedule,
    ) -> Self {
        let mut t = Transaction {
            id,
            kind,
            source,
            destination,
            protocol,
            started: now,
            transmits: 0,
            rto: schedule.rto,
            deadline: now,
            cancelled: false,
        };
        t.on_transmit(now, schedule);
        t
    }

    /// Records a transmission at `now` and arms the timer.
    fn on_transmit(&mut self, now: Instant, schedule: &Schedule) {
        self.transmits += 1;
        if self.transmits >= schedule.max_transmits {
            self.deadline = now + schedule.rto * schedule.final_wait_factor;
        } else {
            self.deadline = now + self.rto;
            self.rto = (self.rto * 2).min(schedule.max_rto);
        }
    }

    /// The timer fired at `now`: retransmit, or give up.
    pub(crate) fn expire(&mut self, now: Instant, schedule: &Schedule) -> Expiry {
        if self.cancelled || self.transmits >= schedule.max_transmits {
            return Expiry::TimedOut;
        }
        self.on_transmit(now, schedule);
        Expiry::Retransmit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retransmits_with_doubling_rto_then_waits_rm_times_rto() {
        let s = Schedule {
            rto: Duration::from_millis(500),
            max_rto: Duration::from_secs(60),
            max_transmits: 7,
            final_wait_factor: 16,
        };
        let t0 = Instant::now();
        let a: SocketAddr = "10.0.0.1:1".parse().unwrap();
        let mut t = Transaction::new(
            TransactionId([0; 12]),
            TxnKind::Consent,
            (a, a, Protocol::Udp),
            t0,
            &s,
        );
        let mut sends = vec![Duration::ZERO];
        loop {
            let now = t.deadline;
            match t.expire(now, &s) {
                Expiry::Retransmit => sends.push(now - t0),
                Expiry::TimedOut => {
                    // RFC 8489 §6.2.1: 0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5, timeout at 39.5 s.
                    assert_eq!(now - t0, Duration::from_millis(39_500));
                    break;
                }
            }
        }
        let ms: Vec<u128> = sends.iter().map(|d| d.as_millis()).collect();
        assert_eq!(ms, [0, 500, 1500, 3500, 7500, 15500, 31500]);
    }
}
