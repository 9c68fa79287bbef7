//! Channel bindings (RFC 8656 §12): a channel number per peer transport
//! address, 10 minutes' lifetime, rebound by the client a minute before
//! that while in use.
//!
//! Policy: ChannelData is used only once the server confirmed the binding.
//! A failed rebind is tried again with back-off until the lifetime runs
//! out; then the binding is gone ([`crate::Event::ChannelExpired`]) and, for
//! [`CHANNEL_REUSE_DELAY`], its number goes to no other peer and its peer
//! gets no other number: bound again meanwhile, the peer gets its old
//! number back (RFC 8656 §12: the server keeps both reserved that long).
//! A first bind that got no answer may have been made: its number is held
//! for its peer the same way, for a binding's lifetime and 5 minutes; a
//! rebind that got none holds it at least that long after it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::channel_data::{MAX_CHANNEL, MIN_CHANNEL};
use crate::transaction::Retry;

/// Channel binding lifetime on the server (RFC 8656 §12: 10 minutes).
pub const CHANNEL_LIFETIME: Duration = Duration::from_secs(600);
/// When the client rebinds a used channel: a minute before it expires.
pub const CHANNEL_REFRESH: Duration = Duration::from_secs(540);
/// After a binding expires, its number stays unusable for another peer, and
/// its peer is bound to no other number, for 5 minutes (RFC 8656 §12).
pub const CHANNEL_REUSE_DELAY: Duration = Duration::from_secs(300);

/// How many channel numbers there are: 0x4000..=0x4FFF (RFC 8656 §12).
const CHANNEL_COUNT: usize = (MAX_CHANNEL - MIN_CHANNEL) as usize + 1;

/// One binding.
#[derive(Debug, Clone)]
pub(crate) struct Channel {
    pub number: u16,
    /// When the server forgets it; `None` until confirmed (ChannelData may
    /// be used only once it is).
    expires: Option<Instant>,
    /// A ChannelBind is outstanding.
    in_flight: bool,
    /// Used since the last (re)bind.
    used: bool,
    /// After a failed rebind: when it is tried again.
    retry: Option<Retry>,
    /// Taken back from cooling (see [`Channels::bind`]): until when the
    /// server still holds the old binding, so that a bind that fails
    /// leaves the number cooling for its peer as before.
    cooling_until: Option<Instant>,
    /// A rebind got no answer: the server may have made it all the same
    /// (only the responses lost) and then holds the binding until this
    /// instant, past [`Self::expires`].
    held_until: Option<Instant>,
}

impl Channel {
    /// Whether the server confirmed the binding (RFC 8656 §11.3).
    pub(crate) fn is_confirmed(&self) -> bool {
        self.expires.is_some()
    }

    /// When its rebind is due, if it is waiting for one (not in flight).
    /// Whether a ChannelBind for it is outstanding (its success installs
    /// the permission too, RFC 8656 §12.3).
    pub(crate) fn is_binding(&self) -> bool {
        self.in_flight
    }

    fn refresh_due(&self) -> Option<Instant> {
        let expires = self.expires?;
        if self.in_flight {
            return None;
        }
        match self.retry {
            Some(r) => Some(r.at),
            None if self.used => Some(expires - (CHANNEL_LIFETIME - CHANNEL_REFRESH)),
            None => None,
        }
    }
}

/// The channel bindings, by peer and by number.
#[derive(Debug, Default)]
pub(crate) struct Channels {
    by_peer: HashMap<SocketAddr, Channel>,
    by_number: HashMap<u16, SocketAddr>,
    /// Numbers of expired bindings, unusable until the instant given except
    /// for the peer they were bound to.
    cooling: HashMap<u16, (Instant, SocketAddr)>,
    /// Where the search for a free number starts (round robin).
    next: u16,
}

/// What the channel timers ask for at some instant.
#[derive(Debug, Default)]
pub(crate) struct ChannelWork {
    /// Send a ChannelBind for these (peer, number), now in flight.
    pub rebind: Vec<(SocketAddr, u16)>,
    /// These lapsed and are forgotten.
    pub expired: Vec<(SocketAddr, u16)>,
}

/// What a failed ChannelBind means.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// It was never confirmed: forgotten, the request failed for good.
    NeverConfirmed,
    /// A confirmed binding's rebind failed: retried with back-off.
    WillRetry,
    /// Nothing known about the peer (it lapsed meanwhile).
    Unknown,
}

impl Channels {
    /// The binding of `peer`, if any.
    pub(crate) fn get(&self, peer: &SocketAddr) -> Option<&Channel> {
        self.by_peer.get(peer)
    }

    /// The peer bound to `number`, if confirmed.
    pub(crate) fn peer(&self, number: u16) -> Option<SocketAddr> {
        let peer = self.by_number.get(&number)?;
        self.by_peer
            .get(peer)
            .filter(|c| c.is_confirmed())
            .map(|_| *peer)
    }

    /// The channel of `peer`, or a number for it (marked in flight): the
    /// one its binding had if that expired less than
    /// [`CHANNEL_REUSE_DELAY`] ago, else a new one, never one bound, being
    /// bound, or expired less than that ago. `None` when all 4096 are
    /// taken. The bool says whether a ChannelBind should be sent now.
    pub(crate) fn bind(&mut self, peer: SocketAddr, now: Instant) -> Option<(u16, bool)> {
        if let Some(c) = self.by_peer.get(&peer) {
            return Some((c.number, false));
        }
        self.cooling.retain(|_, (until, _)| *until > now);
        // RFC 8656 §12: for 5 minutes after a binding expires, neither its
        // number nor its peer may be bound to another (the server still
        // holds both, and answers 400): the peer gets its number back.
        let (number, cooling_until) = match self.cooling.iter().find(|(_, (_, p))| *p == peer) {
            Some((&number, &(until, _))) => {
                self.cooling.remove(&number);
                (number, Some(until))
            }
            None => (self.free_number()?, None),
        };
        self.by_number.insert(number, peer);
        self.by_peer.insert(
            peer,
            Channel {
                number,
                expires: None,
                in_flight: true,
                used: false,
                retry: None,
                cooling_until,
                held_until: None,
            },
        );
        Some((number, true))
    }

    /// A number neither bound, being bound, nor cooling down, taken round
    /// robin; `None` when all 4096 are.
    fn free_number(&mut self) -> Option<u16> {
        if self.by_number.len() + self.cooling.len() >= CHANNEL_COUNT {
            return None;
        }
        let start = self.next.clamp(MIN_CHANNEL, MAX_CHANNEL);
        let number = (MIN_CHANNEL..=MAX_CHANNEL)
            .cycle()
            .skip(usize::from(start - MIN_CHANNEL))
            .take(CHANNEL_COUNT)
            .find(|n| !self.by_number.contains_key(n) && !self.cooling.contains_key(n))?;
        self.next = if number >= MAX_CHANNEL {
            MIN_CHANNEL
        } else {
            number + 1
        };
        Some(number)
    }

    /// The server confirmed (or refreshed) the binding of `peer` at `now`;
    /// true if it is new.
    pub(crate) fn confirmed(&mut self, peer: &SocketAddr, now: Instant) -> bool {
        let Some(c) = self.by_peer.get_mut(peer) else {
            return false;
        };
        let first = !c.is_confirmed();
        c.expires = Some(now + CHANNEL_LIFETIME);
        c.in_flight = false;
        c.used = false;
        c.retry = None;
        c.held_until = None;
        first
    }

    /// A ChannelBind for `peer` failed at `now`; `timed_out`: no answer
    /// came (the server may have made the binding all the same).
    pub(crate) fn failed(&mut self, peer: &SocketAddr, now: Instant, timed_out: bool) -> Failure {
        let Some(c) = self.by_peer.get_mut(peer) else {
            return Failure::Unknown;
        };
        c.in_flight = false;
        if c.is_confirmed() {
            // RFC 8656 §12: a rebind with no answer may have been made, and
            // then the server holds the binding a lifetime from now.
            if timed_out {
                c.held_until = Some(now + CHANNEL_LIFETIME);
            }
            c.retry = Some(Retry::after(c.retry, now));
            return Failure::WillRetry;
        }
        let (number, cooling_until) = (c.number, c.cooling_until);
        self.by_peer.remove(peer);
        self.by_number.remove(&number);
        // RFC 8656 §12: a server that made the binding holds the number and
        // the peer for its lifetime and 5 minutes more. A bind with no
        // answer may have been made (only the response lost): held for
        // that long from now. A number given back from cooling stays held
        // for its peer at least as long as it was.
        let held = timed_out.then_some(now + CHANNEL_LIFETIME + CHANNEL_REUSE_DELAY);
        if let Some(until) = held.max(cooling_until).filter(|&until| until > now) {
            self.cooling.insert(number, (until, *peer));
        }
        Failure::NeverConfirmed
    }

    /// Marks the binding of `peer` as used.
    pub(crate) fn touch(&mut self, peer: &SocketAddr) {
        if let Some(c) = self.by_peer.get_mut(peer) {
            c.used = true;
        }
    }

    /// The next instant a binding needs attention: its rebind (or retry) or
    /// its expiry.
    pub(crate) fn next_timeout(&self) -> Option<Instant> {
        self.by_peer
            .values()
            .flat_map(|c| [c.expires, c.refresh_due()])
            .flatten()
            .min()
    }

    /// Timers at `now`: lapsed bindings are forgotten (their numbers cool
    /// down) and returned in `expired`; those due for a rebind or a retry
    /// are marked in flight and returned in `rebind`.
    pub(crate) fn handle_timeout(&mut self, now: Instant) -> ChannelWork {
        let mut work = ChannelWork::default();
        for (peer, c) in &mut self.by_peer {
            let Some(expires) = c.expires else { continue };
            if now >= expires {
                work.expired.push((*peer, c.number));
            } else if c.refresh_due().is_some_and(|due| now >= due) {
                c.in_flight = true;
                work.rebind.push((*peer, c.number));
            }
        }
        for (peer, number) in &work.expired {
            // Held by the server as long as a rebind with no answer may
            // have made it, if longer.
            let expires = self.by_peer.remove(peer).and_then(|c| {
                // A rebind still in flight may have been made too, by
                // any of its retransmissions (RFC 8489 §6.2.1), the last
                // of them just now: the transaction ends with the binding.
                c.expires
                    .max(c.held_until)
                    .max(c.in_flight.then_some(now + CHANNEL_LIFETIME))
            });
            self.by_number.remove(number);
            let until = expires.unwrap_or(now) + CHANNEL_REUSE_DELAY;
            self.cooling.insert(*number, (until, *peer));
        }
        work
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(i: u16) -> SocketAddr {
        SocketAddr::from(([203, 0, 113, 9], i))
    }

    #[test]
    fn an_expired_number_cools_down_before_reuse() {
        let t0 = Instant::now();
        let mut c = Channels::default();
        assert_eq!(c.bind(peer(0), t0), Some((MIN_CHANNEL, true)));
        assert!(c.confirmed(&peer(0), t0));
        let t1 = t0 + CHANNEL_LIFETIME;
        assert_eq!(c.handle_timeout(t1).expired, [(peer(0), MIN_CHANNEL)]);
        for i in 1..CHANNEL_COUNT {
            let (n, send) = c.bind(peer(i as u16), t1).unwrap();
            assert!(send);
            assert_ne!(n, MIN_CHANNEL);
        }
        assert_eq!(c.bind(peer(9999), t1), None, "every number is taken");
        let t2 = t1 + CHANNEL_REUSE_DELAY;
        assert_eq!(c.bind(peer(9999), t2), Some((MIN_CHANNEL, true)));
    }

    #[test]
    fn a_failed_rebind_waits_then_lapses() {
        let t0 = Instant::now();
        let mut c = Channels::default();
        c.bind(peer(1), t0).unwrap();
        c.confirmed(&peer(1), t0);
        c.touch(&peer(1));
        let due = t0 + CHANNEL_REFRESH;
        assert_eq!(c.next_timeout(), Some(due));
        assert_eq!(c.handle_timeout(due).rebind.len(), 1);
        assert_eq!(c.failed(&peer(1), due, false), Failure::WillRetry);
        assert!(c.handle_timeout(due).rebind.is_empty());
        assert_eq!(c.next_timeout(), Some(due + Duration::from_secs(5)));
        assert_eq!(c.handle_timeout(t0 + CHANNEL_LIFETIME).expired.len(), 1);
        assert!(c.get(&peer(1)).is_none());
    }

    /// A peer given its cooling number back whose ChannelBind then fails (a
    /// lost transaction, say) keeps it cooling: bound again within the 5
    /// minutes in which the server still holds the old binding, it gets the
    /// same number (RFC 8656 §12; a server answers another with 400).
    #[test]
    fn a_failed_bind_of_a_cooling_number_keeps_it_cooling() {
        let t0 = Instant::now();
        let mut c = Channels::default();
        assert_eq!(c.bind(peer(0), t0), Some((MIN_CHANNEL, true)));
        assert!(c.confirmed(&peer(0), t0));
        let t1 = t0 + CHANNEL_LIFETIME;
        assert_eq!(c.handle_timeout(t1).expired, [(peer(0), MIN_CHANNEL)]);
        let t2 = t1 + Duration::from_secs(60);
        assert_eq!(c.bind(peer(0), t2), Some((MIN_CHANNEL, true)));
        assert_eq!(c.failed(&peer(0), t2, false), Failure::NeverConfirmed);
        assert_eq!(
            c.bind(peer(0), t2).map(|(n, _)| n),
            Some(MIN_CHANNEL),
            "the peer got another number while the server holds the old one"
        );
    }

    /// The same, seen from other peers: the number goes to none of them.
    #[test]
    fn a_failed_bind_of_a_cooling_number_does_not_free_it_for_others() {
        let t0 = Instant::now();
        let mut c = Channels::default();
        c.bind(peer(0), t0).unwrap();
        c.confirmed(&peer(0), t0);
        let t1 = t0 + CHANNEL_LIFETIME;
        c.handle_timeout(t1);
        let t2 = t1 + Duration::from_secs(60);
        c.bind(peer(0), t2).unwrap();
        c.failed(&peer(0), t2, false);
        assert_min_channel_goes_to_no_other_peer(&mut c, t2);
    }

    /// Binds every peer but `peer(0)` at `at`: none gets [`MIN_CHANNEL`],
    /// which the server may still hold for `peer(0)`.
    fn assert_min_channel_goes_to_no_other_peer(c: &mut Channels, at: Instant) {
        for i in 1..=CHANNEL_COUNT {
            if let Some((n, _)) = c.bind(peer(i as u16), at) {
                assert_ne!(
                    n, MIN_CHANNEL,
                    "a number the server may hold went to peer {i}"
                );
            }
        }
    }

    /// A binding of `peer(0)` to [`MIN_CHANNEL`], confirmed at `t0` and
    /// used, whose rebind (due at `t0` + [`CHANNEL_REFRESH`]) got no answer
    /// to any transmission (RFC 8489 §6.2.1: 39.5 s) and will be retried:
    /// the bindings, `t0`, and when the rebind timed out.
    fn with_a_timed_out_rebind() -> (Channels, Instant, Instant) {
        let t0 = Instant::now();
        let mut c = Channels::default();
        c.bind(peer(0), t0).unwrap();
        c.confirmed(&peer(0), t0);
        c.touch(&peer(0));
        let due = t0 + CHANNEL_REFRESH;
        assert_eq!(c.handle_timeout(due).rebind, [(peer(0), MIN_CHANNEL)]);
        let timed_out = due + Duration::from_millis(39_500);
        assert_eq!(c.failed(&peer(0), timed_out, true), Failure::WillRetry);
        (c, t0, timed_out)
    }

    /// A binding of `peer(0)` to [`MIN_CHANNEL`] whose rebind got no
    /// answer, then lapsed; and an instant past the client's expiry and 5
    /// minutes, but within the lifetime and 5 minutes that the server may
    /// hold it from the rebind on.
    fn lapsed_after_a_timed_out_rebind() -> (Channels, Instant) {
        let (mut c, t0, timed_out) = with_a_timed_out_rebind();
        let expired = c.handle_timeout(t0 + CHANNEL_LIFETIME).expired;
        assert_eq!(expired, [(peer(0), MIN_CHANNEL)]);
        let later = t0 + CHANNEL_LIFETIME + CHANNEL_REUSE_DELAY + Duration::from_secs(60);
        assert!(later < timed_out + CHANNEL_LIFETIME + CHANNEL_REUSE_DELAY);
        (c, later)
    }

    /// A rebind that got no answer may have been made (only its responses
    /// lost): the server then holds the binding a lifetime from then, and
    /// 5 minutes more (RFC 8656 §12), past the client's own expiry. Bound
    /// again in that time, the peer gets its old number back (the server
    /// answers another with 400, RFC 8656 §11.2)...
    #[test]
    fn a_timed_out_rebind_keeps_the_number_for_its_peer_as_long_as_the_server_may() {
        let (mut c, later) = lapsed_after_a_timed_out_rebind();
        assert_eq!(c.bind(peer(0), later), Some((MIN_CHANNEL, true)));
    }

    /// ...and no other peer gets it.
    #[test]
    fn a_timed_out_rebind_keeps_the_number_from_other_peers_as_long_as_the_server_may() {
        let (mut c, later) = lapsed_after_a_timed_out_rebind();
        assert_min_channel_goes_to_no_other_peer(&mut c, later);
    }

    /// With no answer at all, the rebind's retry after the first
    /// timeout (5 s later) is still in flight when the binding lapses; the
    /// server may have made that one too, and then holds the number until
    /// a lifetime after it, and 5 minutes more (RFC 8656 §12): no other
    /// peer gets the number before then.
    #[test]
    fn a_rebind_in_flight_at_expiry_keeps_the_number_as_long_as_the_server_may() {
        let (mut c, t0, timed_out) = with_a_timed_out_rebind();
        // The retry goes out 5 s later and is still unanswered at expiry.
        let retry = c.next_timeout().unwrap();
        assert!(retry < t0 + CHANNEL_LIFETIME);
        assert_eq!(c.handle_timeout(retry).rebind, [(peer(0), MIN_CHANNEL)]);
        let expired = c.handle_timeout(t0 + CHANNEL_LIFETIME).expired;
        assert_eq!(expired, [(peer(0), MIN_CHANNEL)]);
        // Past what the first timed-out rebind holds, within what the retry may.
        let later = timed_out + CHANNEL_LIFETIME + CHANNEL_REUSE_DELAY + Duration::from_secs(1);
        assert!(later < retry + CHANNEL_LIFETIME + CHANNEL_REUSE_DELAY);
        assert_min_channel_goes_to_no_other_peer(&mut c, later);
    }

    /// RFC 8489 §6.2.1: that retry is sent again 0.5, 1.5, 3.5, 7.5 s...
    /// later, until the binding lapses and the client gives it up; the
    /// server may have made the binding from its last retransmission, and
    /// holds the number a lifetime (and 5 minutes) from that one.
    #[test]
    fn a_rebind_in_flight_at_expiry_holds_the_number_from_its_last_retransmission() {
        let (mut c, t0, _) = with_a_timed_out_rebind();
        let retry = c.next_timeout().unwrap();
        assert_eq!(c.handle_timeout(retry).rebind, [(peer(0), MIN_CHANNEL)]);
        let retransmitted = retry + Duration::from_millis(7_500);
        let lapse = t0 + CHANNEL_LIFETIME;
        assert!(retransmitted < lapse);
        assert_eq!(c.handle_timeout(lapse).expired, [(peer(0), MIN_CHANNEL)]);
        let later = retry + CHANNEL_LIFETIME + CHANNEL_REUSE_DELAY + Duration::from_secs(1);
        assert!(later < retransmitted + CHANNEL_LIFETIME + CHANNEL_REUSE_DELAY);
        assert_min_channel_goes_to_no_other_peer(&mut c, later);
    }
}
