//! Outgoing flights and their retransmission timer (RFC 6347 §4.2.4).

use std::time::{Duration, Instant};

/// The retransmission timer is capped here (RFC 6347 §4.2.4.1).
pub(crate) const MAX_RTO: Duration = Duration::from_secs(60);

/// One item of a flight.
#[derive(Debug, Clone)]
pub(crate) enum FlightItem {
    /// A whole handshake message (header and body) sent in `epoch`.
    Handshake { epoch: u16, message: Vec<u8> },
    /// ChangeCipherSpec (always epoch 0).
    ChangeCipherSpec,
}

/// The flight we last sent, kept for retransmission.
#[derive(Debug)]
pub(crate) struct Flight {
    pub(crate) items: Vec<FlightItem>,
    timer: Option<Timer>,
    /// Before this instant the peer's retransmissions are not answered
    /// again (RFC 6347 §4.2.4, bounded: at most once per timer period).
    quiet_until: Option<Instant>,
}

#[derive(Debug, Clone, Copy)]
struct Timer {
    rto: Duration,
    deadline: Instant,
    retries_left: usize,
}

/// What the timer says at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimerState {
    /// Nothing due.
    Idle,
    /// Retransmit the flight now (the timer was backed off).
    Retransmit,
    /// Out of retransmissions: the handshake failed.
    GiveUp,
}

impl Flight {
    /// A flight sent at `now`. With `expects_reply` it is retransmitted
    /// from `initial_rto` on, doubling, until `retries` are used up; the
    /// last flight of a handshake waits for the peer's retransmission instead.
    pub(crate) fn new(
        items: Vec<FlightItem>,
        now: Instant,
        expects_reply: Option<(Duration, usize)>,
    ) -> Self {
        Flight {
            items,
            timer: expects_reply.map(|(rto, retries)| Timer {
                rto,
                deadline: later(now, rto),
                retries_left: retries,
            }),
            quiet_until: None,
        }
    }

    /// Whether a retransmission of the peer's last flight, received at
    /// `now`, may be answered by sending this flight again: at most once
    /// per retransmission period (the timer's current one, else `period`),
    /// so that forged retransmissions cannot make us a traffic amplifier.
    /// When it may, the timer restarts from `now` (RFC 6347 §4.2.4: the
    /// retransmission "resets the retransmit timer"), so that it does not
    /// fire just after and send the flight twice in one period.
    pub(crate) fn may_answer_peer(&mut self, now: Instant, period: Duration) -> bool {
        if self.quiet_until.is_some_and(|t| now < t) {
            return false;
        }
        let period = self.timer.map_or(period, |t| t.rto);
        self.quiet_until = Some(later(now, period));
        if let Some(t) = &mut self.timer {
            t.deadline = later(now, t.rto);
        }
        true
    }

    /// When the timer fires next.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.timer.map(|t| t.deadline)
    }

    /// Stops the timer: the peer's reply arrived.
    pub(crate) fn stop_timer(&mut self) {
        self.timer = None;
    }

    /// Runs the timer (RFC 6347 §4.2.4.1: double the timeout per retry,
    /// up to [`MAX_RTO`]).
    pub(crate) fn on_timeout(&mut self, now: Instant) -> TimerState {
        let Some(t) = &mut self.timer else {
            return TimerState::Idle;
        };
        if now < t.deadline {
            return TimerState::Idle;
        }
        if t.retries_left == 0 {
            return TimerState::GiveUp;
        }
        t.retries_left -= 1;
        t.rto = t.rto.saturating_mul(2).min(MAX_RTO);
        t.deadline = later(now, t.rto);
        TimerState::Retransmit
    }
}

/// `now + d`, saturating at `now + MAX_RTO` where an `Instant` cannot hold
/// the sum (config durations are validated; this never panics anyway).
pub(crate) fn later(now: Instant, d: Duration) -> Instant {
    now.checked_add(d)
        .or_else(|| now.checked_add(MAX_RTO))
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timer_doubles_caps_and_gives_up() {
        let t0 = Instant::now();
        let mut f = Flight::new(Vec::new(), t0, Some((Duration::from_secs(20), 3)));
        assert_eq!(f.on_timeout(t0), TimerState::Idle);
        let mut now = t0 + Duration::from_secs(20);
        assert_eq!(f.on_timeout(now), TimerState::Retransmit);
        assert_eq!(f.deadline(), Some(now + Duration::from_secs(40)));
        now += Duration::from_secs(40);
        assert_eq!(f.on_timeout(now), TimerState::Retransmit);
        assert_eq!(f.deadline(), Some(now + MAX_RTO));
        now += MAX_RTO;
        assert_eq!(f.on_timeout(now), TimerState::Retransmit);
        now += MAX_RTO;
        assert_eq!(f.on_timeout(now), TimerState::GiveUp);
    }

    /// RFC 6347 §4.2.4: answering the peer's retransmission resets the
    /// timer (same timeout, no retry used): it does not fire right after.
    #[test]
    fn answering_a_peer_retransmission_restarts_the_timer() {
        let t0 = Instant::now();
        let rto = Duration::from_secs(1);
        let mut f = Flight::new(Vec::new(), t0, Some((rto, 1)));
        let now = t0 + Duration::from_millis(900);
        assert!(f.may_answer_peer(now, rto));
        assert_eq!(f.deadline(), Some(now + rto));
        assert_eq!(f.on_timeout(t0 + rto), TimerState::Idle);
        assert!(!f.may_answer_peer(now + rto / 2, rto), "once per period");
        assert_eq!(f.on_timeout(now + rto), TimerState::Retransmit);
    }
}
