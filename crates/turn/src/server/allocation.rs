//! One allocation (RFC 8656 §2.2, §5): its relayed address, lifetime,
//! permissions (§9) and channel bindings (§12), and the per-user token
//! bucket that bounds its bandwidth.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::FiveTuple;
use crate::{MAX_CHANNEL, MIN_CHANNEL};

/// Permission lifetime (RFC 8656 §9): 300 s, refreshed by CreatePermission
/// and ChannelBind, not by data.
pub const SERVER_PERMISSION_LIFETIME: Duration = Duration::from_secs(300);
/// Channel binding lifetime (RFC 8656 §12): 600 s.
pub const SERVER_CHANNEL_LIFETIME: Duration = Duration::from_secs(600);
/// After a binding expires, neither its number nor its peer may be bound
/// to something else for 5 more minutes (RFC 8656 §12).
const CHANNEL_QUARANTINE: Duration = Duration::from_secs(300);

/// Identifies an allocation between the sans-IO server and its driver (which
/// keys the relay socket by it). Never reused within one server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AllocationId(pub u64);

/// A channel binding (RFC 8656 §12).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Channel {
    pub(crate) number: u16,
    pub(crate) peer: SocketAddr,
    pub(crate) expires: Instant,
}

/// Why a ChannelBind is refused (RFC 8656 §12.2): all are 400 but the last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BindError {
    /// The number is outside 0x4000..=0x4FFF.
    OutOfRange,
    /// The number is (or was, in quarantine) bound to another peer.
    NumberTaken,
    /// The peer is (or was) bound to another number.
    PeerTaken,
    /// The per-allocation channel limit is reached (508).
    TooMany,
}

/// A token bucket (bytes per second, one second of burst).
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    rate: u64,
    tokens: u64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket of `rate` bytes/s; `rate` 0 means unlimited.
    pub(crate) fn new(rate: u64, now: Instant) -> TokenBucket {
        TokenBucket {
            rate,
            tokens: rate,
            last: now,
        }
    }

    /// Takes `bytes` if the bucket holds them.
    pub(crate) fn take(&mut self, bytes: usize, now: Instant) -> bool {
        if self.rate == 0 {
            return true;
        }
        let elapsed = now.saturating_duration_since(self.last);
        if !elapsed.is_zero() {
            let add = (elapsed.as_nanos().saturating_mul(u128::from(self.rate)) / 1_000_000_000)
                .min(u128::from(self.rate)) as u64;
            if add > 0 {
                self.tokens = self.tokens.saturating_add(add).min(self.rate);
                self.last = now;
            }
        }
        let bytes = bytes as u64;
        if self.tokens >= bytes {
            self.tokens -= bytes;
            true
        } else {
            false
        }
    }
}

/// One allocation on the server (RFC 8656 §5).
#[derive(Debug)]
pub(crate) struct Allocation {
    pub(crate) tuple: FiveTuple,
    pub(crate) user: usize,
    pub(crate) username: String,
    pub(crate) relayed: SocketAddr,
    pub(crate) expires: Instant,
    /// The Allocate's transaction id: a retransmission gets the same answer.
    pub(crate) tid: [u8; 12],
    pub(crate) lifetime: u32,
    /// The token of the port reserved with it (EVEN-PORT with the R bit,
    /// RFC 8656 §7.2): a retransmitted Allocate is answered with it again,
    /// and the reservation goes when the allocation does.
    pub(crate) reservation: Option<u64>,
    /// (peer IP, expiry): a short list scanned linearly, bounded by config.
    permissions: Vec<(IpAddr, Instant)>,
    channels: Vec<Channel>,
}

impl Allocation {
    pub(crate) fn new(
        tuple: FiveTuple,
        user: usize,
        username: String,
        relayed: SocketAddr,
        expires: Instant,
        tid: [u8; 12],
        lifetime: u32,
    ) -> Allocation {
        Allocation {
            tuple,
            user,
            username,
            relayed,
            expires,
            tid,
            lifetime,
            reservation: None,
            permissions: Vec::new(),
            channels: Vec::new(),
        }
    }

    /// Whether a permission for `ip` is installed and unexpired (RFC 8656 §9).
    pub(crate) fn permitted(&self, ip: IpAddr, now: Instant) -> bool {
        self.permissions.iter().any(|(p, e)| *p == ip && *e > now)
    }

    /// Whether installing permissions for `ips` stays within `max`.
    pub(crate) fn permissions_fit(&self, ips: &[IpAddr], max: usize) -> bool {
        let new = ips
            .iter()
            .filter(|ip| !self.permissions.iter().any(|(p, _)| p == *ip))
            .count();
        self.permissions.len() + new <= max
    }

    /// Installs or refreshes a permission for `ip` (RFC 8656 §9).
    pub(crate) fn permit(&mut self, ip: IpAddr, now: Instant) {
        let expires = now + SERVER_PERMISSION_LIFETIME;
        match self.permissions.iter_mut().find(|(p, _)| *p == ip) {
            Some((_, e)) => *e = expires,
            None => self.permissions.push((ip, expires)),
        }
    }

    /// The live binding of channel `number`.
    pub(crate) fn channel(&self, number: u16, now: Instant) -> Option<&Channel> {
        self.channels
            .iter()
            .find(|c| c.number == number && c.expires > now)
    }

    /// The live binding to `peer`.
    pub(crate) fn channel_to(&self, peer: SocketAddr, now: Instant) -> Option<&Channel> {
        self.channels
            .iter()
            .find(|c| c.peer == peer && c.expires > now)
    }

    /// Binds or refreshes `number` to `peer` (RFC 8656 §12.2), checking that
    /// neither is bound (or in quarantine) otherwise.
    pub(crate) fn bind(
        &mut self,
        number: u16,
        peer: SocketAddr,
        now: Instant,
        max: usize,
    ) -> Result<(), BindError> {
        if !(MIN_CHANNEL..=MAX_CHANNEL).contains(&number) {
            return Err(BindError::OutOfRange);
        }
        let expires = now + SERVER_CHANNEL_LIFETIME;
        if let Some(c) = self.channels.iter_mut().find(|c| c.number == number) {
            if c.peer != peer {
                return Err(BindError::NumberTaken);
            }
            c.expires = expires;
            return Ok(());
        }
        if self.channels.iter().any(|c| c.peer == peer) {
            return Err(BindError::PeerTaken);
        }
        if self.channels.len() >= max {
            return Err(BindError::TooMany);
        }
        self.channels.push(Channel {
            number,
            peer,
            expires,
        });
        Ok(())
    }

    /// Forgets expired permissions and bindings past their quarantine.
    pub(crate) fn expire(&mut self, now: Instant) {
        self.permissions.retain(|(_, e)| *e > now);
        self.channels
            .retain(|c| c.expires + CHANNEL_QUARANTINE > now);
    }

    /// The earliest instant something here expires.
    pub(crate) fn next_expiry(&self) -> Instant {
        let mut t = self.expires;
        for (_, e) in &self.permissions {
            t = t.min(*e);
        }
        for c in &self.channels {
            t = t.min(c.expires + CHANNEL_QUARANTINE);
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alloc(now: Instant) -> Allocation {
        let tuple = FiveTuple {
            transport: super::super::Transport::Udp,
            client: "192.0.2.9:1".parse().unwrap(),
            server: "192.0.2.8:3478".parse().unwrap(),
        };
        Allocation::new(
            tuple,
            0,
            "u".into(),
            "127.0.0.1:5000".parse().unwrap(),
            now + Duration::from_secs(600),
            [0; 12],
            600,
        )
    }

    #[test]
    fn channel_rules_of_rfc8656_section_12() {
        let now = Instant::now();
        let mut a = alloc(now);
        let p1: SocketAddr = "192.0.2.1:1000".parse().unwrap();
        let p2: SocketAddr = "192.0.2.2:1000".parse().unwrap();
        assert_eq!(a.bind(0x3FFF, p1, now, 8), Err(BindError::OutOfRange));
        assert_eq!(a.bind(0x5000, p1, now, 8), Err(BindError::OutOfRange));
        assert_eq!(a.bind(0x4000, p1, now, 8), Ok(()));
        // Refresh of the same binding is fine.
        assert_eq!(a.bind(0x4000, p1, now, 8), Ok(()));
        assert_eq!(a.bind(0x4000, p2, now, 8), Err(BindError::NumberTaken));
        assert_eq!(a.bind(0x4001, p1, now, 8), Err(BindError::PeerTaken));
        assert_eq!(a.bind(0x4001, p2, now, 1), Err(BindError::TooMany));
        // Expired: no data flows, but the number stays reserved 5 minutes.
        let later = now + SERVER_CHANNEL_LIFETIME + Duration::from_secs(1);
        a.expire(later);
        assert!(a.channel(0x4000, later).is_none());
        assert_eq!(a.bind(0x4000, p2, later, 8), Err(BindError::NumberTaken));
        let much_later = later + CHANNEL_QUARANTINE;
        a.expire(much_later);
        assert_eq!(a.bind(0x4000, p2, much_later, 8), Ok(()));
    }

    #[test]
    fn permissions_last_300_seconds_and_are_bounded() {
        let now = Instant::now();
        let mut a = alloc(now);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        a.permit(ip, now);
        assert!(a.permitted(ip, now + Duration::from_secs(299)));
        assert!(!a.permitted(ip, now + Duration::from_secs(300)));
        assert!(a.permissions_fit(&[ip], 1));
        assert!(!a.permissions_fit(&["192.0.2.2".parse().unwrap()], 1));
    }

    #[test]
    fn token_bucket_refills_at_its_rate() {
        let now = Instant::now();
        let mut b = TokenBucket::new(1000, now);
        assert!(b.take(1000, now));
        assert!(!b.take(1, now));
        assert!(b.take(500, now + Duration::from_millis(500)));
        assert!(!b.take(100, now + Duration::from_millis(500)));
        // Never more than one second of burst.
        assert!(!b.take(1001, now + Duration::from_secs(100)));
        assert!(TokenBucket::new(0, now).take(usize::MAX, now));
    }
}
