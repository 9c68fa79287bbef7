//! Permissions of an allocation (RFC 8656 §9): per peer IP, 300 s lifetime,
//! refreshed by the client a minute before expiry while in use.
//!
//! Policy: a permission is usable only once the server installed it. A
//! failed refresh is tried again with back-off ([`crate::REFRESH_RETRY_MIN`]
//! doubling up to [`crate::REFRESH_RETRY_MAX`]) until the lifetime runs
//! out; then the permission is gone (the client reports
//! [`crate::Event::PermissionExpired`]) and sends to that peer fail.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::transaction::Retry;

/// Permission lifetime on the server (RFC 8656 §9: 300 s).
pub const PERMISSION_LIFETIME: Duration = Duration::from_secs(300);
/// When the client refreshes a used permission: 60 s before it expires.
pub const PERMISSION_REFRESH: Duration = Duration::from_secs(240);

/// One permission.
#[derive(Debug, Clone, Default)]
pub(crate) struct Permission {
    /// When the server forgets it; `None` until a CreatePermission or
    /// ChannelBind for the IP succeeded (not installed yet).
    expires: Option<Instant>,
    /// A CreatePermission is outstanding.
    in_flight: bool,
    /// Used (sent to or received from) since the last refresh.
    used: bool,
    /// After a failed refresh: when it is tried again.
    retry: Option<Retry>,
    /// Its installation was reported ([`crate::Event::PermissionCreated`]
    /// after a CreatePermission) or covered by a ChannelBound: later
    /// refreshes are not reported again.
    created: bool,
}

impl Permission {
    /// Whether the server installed it (RFC 8656 §10.3): data may flow.
    pub(crate) fn is_installed(&self) -> bool {
        self.expires.is_some()
    }

    /// When its refresh is due, if it is waiting for one (not in flight).
    fn refresh_due(&self) -> Option<Instant> {
        let expires = self.expires?;
        if self.in_flight {
            return None;
        }
        match self.retry {
            Some(r) => Some(r.at),
            None if self.used => Some(expires - (PERMISSION_LIFETIME - PERMISSION_REFRESH)),
            None => None,
        }
    }
}

/// The permissions by peer IP.
#[derive(Debug, Default)]
pub(crate) struct Permissions {
    map: HashMap<IpAddr, Permission>,
}

/// What the permission timers ask for at some instant.
#[derive(Debug, Default)]
pub(crate) struct PermissionWork {
    /// Send a CreatePermission for these (now marked in flight).
    pub refresh: Vec<IpAddr>,
    /// These lapsed and are forgotten.
    pub expired: Vec<IpAddr>,
}

/// What a failed CreatePermission means.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// It was never installed: forgotten, the request failed for good.
    NeverInstalled,
    /// An installed permission's refresh failed: retried with back-off.
    WillRetry,
    /// Nothing known about the IP (it lapsed meanwhile).
    Unknown,
}

impl Permissions {
    /// The permission for `ip`, if any (installed or asked for).
    pub(crate) fn get(&self, ip: &IpAddr) -> Option<&Permission> {
        self.map.get(ip)
    }

    /// Whether the permission for `ip` is installed.
    pub(crate) fn is_installed(&self, ip: &IpAddr) -> bool {
        self.map.get(ip).is_some_and(Permission::is_installed)
    }

    /// Records a CreatePermission to send for `ip`; false if one is
    /// already in flight.
    pub(crate) fn request(&mut self, ip: IpAddr) -> bool {
        let p = self.map.entry(ip).or_default();
        if p.in_flight {
            return false;
        }
        p.in_flight = true;
        true
    }

    /// A CreatePermission for `ip` succeeded at `now` (RFC 8656 §10.3);
    /// true if it is the first for this permission (even if a ChannelBind
    /// installed it before).
    pub(crate) fn created(&mut self, ip: IpAddr, now: Instant) -> bool {
        let p = self.map.entry(ip).or_default();
        let first = !p.created;
        *p = Permission {
            expires: Some(now + PERMISSION_LIFETIME),
            in_flight: false,
            used: false,
            retry: None,
            created: true,
        };
        first
    }

    /// A ChannelBind to a transport address of `ip` succeeded at `now`: it
    /// installs or refreshes the permission too (RFC 8656 §12.3). A
    /// CreatePermission in flight stays in flight, and its success is
    /// still reported; otherwise the ChannelBound stands for it.
    pub(crate) fn bound(&mut self, ip: IpAddr, now: Instant) {
        let p = self.map.entry(ip).or_default();
        if !p.in_flight {
            p.created = true;
        }
        let expires = now + PERMISSION_LIFETIME;
        p.expires = Some(p.expires.map_or(expires, |e| e.max(expires)));
        p.used = false;
        p.retry = None;
    }

    /// A CreatePermission for `ip` failed at `now`.
    pub(crate) fn failed(&mut self, ip: IpAddr, now: Instant) -> Failure {
        let Some(p) = self.map.get_mut(&ip) else {
            return Failure::Unknown;
        };
        p.in_flight = false;
        if !p.is_installed() {
            self.map.remove(&ip);
            return Failure::NeverInstalled;
        }
        p.retry = Some(Retry::after(p.retry, now));
        Failure::WillRetry
    }

    /// Marks `ip` as used (data sent or received).
    pub(crate) fn touch(&mut self, ip: &IpAddr) {
        if let Some(p) = self.map.get_mut(ip) {
            p.used = true;
        }
    }

    /// The next instant a permission needs attention: its refresh (or retry)
    /// or its expiry.
    pub(crate) fn next_timeout(&self) -> Option<Instant> {
        self.map
            .values()
            .flat_map(|p| [p.expires, p.refresh_due()])
            .flatten()
            .min()
    }

    /// Timers at `now`: lapsed permissions are forgotten and returned in
    /// `expired` (even with a refresh in flight: the server forgot them);
    /// those due for a refresh or a retry are marked in flight and returned
    /// in `refresh`.
    pub(crate) fn handle_timeout(&mut self, now: Instant) -> PermissionWork {
        let mut work = PermissionWork::default();
        self.map.retain(|ip, p| {
            let Some(expires) = p.expires else {
                return true;
            };
            if now >= expires {
                work.expired.push(*ip);
                return false;
            }
            if p.refresh_due().is_some_and(|due| now >= due) {
                p.in_flight = true;
                work.refresh.push(*ip);
            }
            true
        });
        work
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 9));

    #[test]
    fn a_failed_refresh_waits_before_trying_again_and_lapses_at_expiry() {
        let t0 = Instant::now();
        let mut p = Permissions::default();
        assert!(p.request(IP));
        assert!(p.created(IP, t0));
        p.touch(&IP);
        let due = t0 + PERMISSION_REFRESH;
        assert_eq!(p.next_timeout(), Some(due));
        assert_eq!(p.handle_timeout(due).refresh, [IP]);
        assert_eq!(p.failed(IP, due), Failure::WillRetry);
        // Not resent at once: the next attempt is 5 s later.
        assert!(p.handle_timeout(due).refresh.is_empty());
        assert_eq!(p.next_timeout(), Some(due + Duration::from_secs(5)));
        let work = p.handle_timeout(t0 + PERMISSION_LIFETIME);
        assert_eq!(work.expired, [IP]);
        assert!(p.get(&IP).is_none());
    }

    #[test]
    fn a_channel_bind_success_keeps_a_create_permission_in_flight() {
        let t0 = Instant::now();
        let mut p = Permissions::default();
        assert!(p.request(IP));
        p.bound(IP, t0);
        assert!(p.is_installed(&IP));
        assert!(!p.request(IP), "the CreatePermission is still outstanding");
        assert!(p.created(IP, t0), "its success is still the first");
    }
}
