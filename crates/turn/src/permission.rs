//! Permissions of an allocation (RFC 8656 §9): per peer IP, 300 s lifetime,
//! refreshed by the client every 4 minutes while in use.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Permission lifetime on the server (RFC 8656 §9: 300 s).
pub const PERMISSION_LIFETIME: Duration = Duration::from_secs(300);
/// When the client refreshes a used permission: 60 s before it expires.
pub const PERMISSION_REFRESH: Duration = Duration::from_secs(240);

/// One permission.
#[derive(Debug, Clone)]
pub(crate) struct Permission {
    /// The server confirmed it (a CreatePermission or ChannelBind success).
    pub installed: bool,
    /// A CreatePermission is outstanding.
    pub pending: bool,
    /// When the server forgets it, once installed.
    pub expires: Option<Instant>,
    /// Used (sent to or received from) since the last (re)install.
    pub used: bool,
}

/// The permissions by peer IP.
#[derive(Debug, Default)]
pub(crate) struct Permissions {
    map: HashMap<IpAddr, Permission>,
}

/// What the permission timers ask for at some instant.
#[derive(Debug, Default)]
pub(crate) struct PermissionWork {
    /// Send a CreatePermission for these.
    pub refresh: Vec<IpAddr>,
}

impl Permissions {
    /// The permission for `ip`, if any.
    pub(crate) fn get(&self, ip: &IpAddr) -> Option<&Permission> {
        self.map.get(ip)
    }

    /// Records a CreatePermission sent for `ip`; false if one is pending.
    pub(crate) fn request(&mut self, ip: IpAddr) -> bool {
        let p = self.map.entry(ip).or_insert(Permission {
            installed: false,
            pending: false,
            expires: None,
            used: false,
        });
        if p.pending {
            return false;
        }
        p.pending = true;
        true
    }

    /// The server installed (or refreshed) `ip` at `now`.
    pub(crate) fn installed(&mut self, ip: IpAddr, now: Instant) {
        let p = self.map.entry(ip).or_insert(Permission {
            installed: false,
            pending: false,
            expires: None,
            used: false,
        });
        p.installed = true;
        p.pending = false;
        p.used = false;
        p.expires = Some(now + PERMISSION_LIFETIME);
    }

    /// A CreatePermission for `ip` failed: forget it unless installed.
    pub(crate) fn failed(&mut self, ip: IpAddr) {
        if let Some(p) = self.map.get_mut(&ip) {
            p.pending = false;
            if !p.installed {
                self.map.remove(&ip);
            }
        }
    }

    /// Marks `ip` as used (data sent or received).
    pub(crate) fn touch(&mut self, ip: &IpAddr) {
        if let Some(p) = self.map.get_mut(ip) {
            p.used = true;
        }
    }

    /// The next instant a permission needs attention.
    pub(crate) fn next_timeout(&self) -> Option<Instant> {
        self.map
            .values()
            .filter(|p| !p.pending)
            .filter_map(|p| {
                p.expires.map(|e| {
                    if p.used {
                        e - (PERMISSION_LIFETIME - PERMISSION_REFRESH)
                    } else {
                        e
                    }
                })
            })
            .min()
    }

    /// Timers at `now`: used permissions due for refresh are marked pending
    /// and returned; unused expired ones are forgotten.
    pub(crate) fn handle_timeout(&mut self, now: Instant) -> PermissionWork {
        let mut work = PermissionWork::default();
        self.map.retain(|ip, p| {
            let Some(expires) = p.expires else {
                return true;
            };
            if p.pending {
                return expires > now;
            }
            if p.used && now >= expires - (PERMISSION_LIFETIME - PERMISSION_REFRESH) {
                p.pending = true;
                work.refresh.push(*ip);
                return true;
            }
            expires > now
        });
        work
    }
}
