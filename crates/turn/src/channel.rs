//! Channel bindings (RFC 8656 §12): a channel number per peer transport
//! address, 10 minutes' lifetime, rebound by the client before that.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::channel_data::{MAX_CHANNEL, MIN_CHANNEL};

/// Channel binding lifetime on the server (RFC 8656 §12: 10 minutes).
pub const CHANNEL_LIFETIME: Duration = Duration::from_secs(600);
/// When the client rebinds a used channel: a minute before it expires.
pub const CHANNEL_REFRESH: Duration = Duration::from_secs(540);

/// One binding.
#[derive(Debug, Clone)]
pub(crate) struct Channel {
    pub number: u16,
    /// The server confirmed it; ChannelData may be used.
    pub confirmed: bool,
    /// A ChannelBind is outstanding.
    pub pending: bool,
    /// When the server forgets it, once confirmed.
    pub expires: Option<Instant>,
    /// Used since the last (re)bind.
    pub used: bool,
}

/// The channel bindings, by peer and by number.
#[derive(Debug)]
pub(crate) struct Channels {
    by_peer: HashMap<SocketAddr, Channel>,
    by_number: HashMap<u16, SocketAddr>,
    next: u16,
}

impl Default for Channels {
    fn default() -> Self {
        Channels {
            by_peer: HashMap::new(),
            by_number: HashMap::new(),
            next: MIN_CHANNEL,
        }
    }
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
            .filter(|c| c.confirmed)
            .map(|_| *peer)
    }

    /// The channel of `peer`, or a new unused number for it (marked
    /// pending); `None` when all 4096 numbers are taken. The bool says
    /// whether a ChannelBind should be sent now.
    pub(crate) fn bind(&mut self, peer: SocketAddr) -> Option<(u16, bool)> {
        if let Some(c) = self.by_peer.get_mut(&peer) {
            if c.pending || c.confirmed {
                return Some((c.number, false));
            }
            c.pending = true;
            return Some((c.number, true));
        }
        let count = usize::from(MAX_CHANNEL - MIN_CHANNEL) + 1;
        if self.by_number.len() >= count {
            return None;
        }
        let mut number = self.next;
        while self.by_number.contains_key(&number) {
            number = if number >= MAX_CHANNEL {
                MIN_CHANNEL
            } else {
                number + 1
            };
        }
        self.next = if number >= MAX_CHANNEL {
            MIN_CHANNEL
        } else {
            number + 1
        };
        self.by_number.insert(number, peer);
        self.by_peer.insert(
            peer,
            Channel {
                number,
                confirmed: false,
                pending: true,
                expires: None,
                used: false,
            },
        );
        Some((number, true))
    }

    /// The server confirmed (or refreshed) the binding of `peer` at `now`.
    pub(crate) fn confirmed(&mut self, peer: &SocketAddr, now: Instant) {
        if let Some(c) = self.by_peer.get_mut(peer) {
            c.confirmed = true;
            c.pending = false;
            c.used = false;
            c.expires = Some(now + CHANNEL_LIFETIME);
        }
    }

    /// A ChannelBind for `peer` failed: forget it unless confirmed.
    pub(crate) fn failed(&mut self, peer: &SocketAddr) {
        if let Some(c) = self.by_peer.get_mut(peer) {
            c.pending = false;
            if !c.confirmed {
                let number = c.number;
                self.by_peer.remove(peer);
                self.by_number.remove(&number);
            }
        }
    }

    /// Marks the binding of `peer` as used.
    pub(crate) fn touch(&mut self, peer: &SocketAddr) {
        if let Some(c) = self.by_peer.get_mut(peer) {
            c.used = true;
        }
    }

    /// The next instant a binding needs attention.
    pub(crate) fn next_timeout(&self) -> Option<Instant> {
        self.by_peer
            .values()
            .filter(|c| !c.pending)
            .filter_map(|c| {
                c.expires.map(|e| {
                    if c.used {
                        e - (CHANNEL_LIFETIME - CHANNEL_REFRESH)
                    } else {
                        e
                    }
                })
            })
            .min()
    }

    /// Timers at `now`: used bindings due for refresh are marked pending
    /// and returned as (peer, number); unused expired ones are forgotten.
    pub(crate) fn handle_timeout(&mut self, now: Instant) -> Vec<(SocketAddr, u16)> {
        let mut rebind = Vec::new();
        let mut gone = Vec::new();
        for (peer, c) in &mut self.by_peer {
            let Some(expires) = c.expires else { continue };
            if !c.pending && c.used && now >= expires - (CHANNEL_LIFETIME - CHANNEL_REFRESH) {
                c.pending = true;
                rebind.push((*peer, c.number));
            } else if now >= expires && !c.pending {
                gone.push((*peer, c.number));
            }
        }
        for (peer, number) in gone {
            // RFC 8656 §12: the number stays reserved for 5 more minutes on
            // the server; reusing it for another peer sooner would fail, so
            // it is simply never reused before the counter wraps.
            self.by_peer.remove(&peer);
            self.by_number.remove(&number);
        }
        rebind
    }
}
