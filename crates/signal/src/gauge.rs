//! Live counters of the server, for tests, logs and `GET /health`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use serde::Serialize;

/// Shared counters of a running server: sessions alive, users in the room,
/// and totals. Cheap to clone; all clones see the same numbers.
#[derive(Debug, Clone, Default)]
pub struct Gauge(Arc<Counters>);

#[derive(Debug, Default)]
struct Counters {
    sessions: AtomicUsize,
    users: AtomicUsize,
    room_clients: AtomicUsize,
    sessions_total: AtomicU64,
    rejected_total: AtomicU64,
    kicked_total: AtomicU64,
    remote_users: AtomicUsize,
    cluster_up: AtomicBool,
    rate_limited_total: AtomicU64,
}

/// One reading of a [`Gauge`], served as JSON at `GET /health`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct GaugeSnapshot {
    /// WebSocket session tasks alive now (one per open connection).
    pub sessions: usize,
    /// Users joined now, bots included.
    pub users: usize,
    /// Clients the room tracks now, joined or not, bots included.
    pub room_clients: usize,
    /// Sessions ever opened.
    pub sessions_total: u64,
    /// Upgrades refused because `max_connections` sessions were open.
    pub rejected_total: u64,
    /// Clients dropped because they did not read their messages.
    pub kicked_total: u64,
    /// Users of other nodes in this node's rooms (cluster only).
    pub remote_users: usize,
    /// Whether the cluster's Redis is reachable now (false when alone).
    pub cluster_up: bool,
    /// Messages refused by the rate limit.
    pub rate_limited_total: u64,
}

impl Gauge {
    /// Reads every counter.
    pub fn snapshot(&self) -> GaugeSnapshot {
        let c = &self.0;
        GaugeSnapshot {
            sessions: c.sessions.load(Ordering::Relaxed),
            users: c.users.load(Ordering::Relaxed),
            room_clients: c.room_clients.load(Ordering::Relaxed),
            sessions_total: c.sessions_total.load(Ordering::Relaxed),
            rejected_total: c.rejected_total.load(Ordering::Relaxed),
            kicked_total: c.kicked_total.load(Ordering::Relaxed),
            remote_users: c.remote_users.load(Ordering::Relaxed),
            cluster_up: c.cluster_up.load(Ordering::Relaxed),
            rate_limited_total: c.rate_limited_total.load(Ordering::Relaxed),
        }
    }

    /// Opens a session slot if fewer than `max` are open; the slot closes when
    /// the guard drops, whatever way the session task ends.
    pub(crate) fn try_open_session(&self, max: usize) -> Option<SessionGuard> {
        let opened = self
            .0
            .sessions
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok();
        if opened {
            self.0.sessions_total.fetch_add(1, Ordering::Relaxed);
            Some(SessionGuard(self.clone()))
        } else {
            self.0.rejected_total.fetch_add(1, Ordering::Relaxed);
            None
        }
    }

    pub(crate) fn set_room(&self, users: usize, room_clients: usize, remote_users: usize) {
        self.0.users.store(users, Ordering::Relaxed);
        self.0.room_clients.store(room_clients, Ordering::Relaxed);
        self.0.remote_users.store(remote_users, Ordering::Relaxed);
    }

    pub(crate) fn set_cluster_up(&self, up: bool) {
        self.0.cluster_up.store(up, Ordering::Relaxed);
    }

    pub(crate) fn count_rate_limited(&self) {
        self.0.rate_limited_total.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_kick(&self) {
        self.0.kicked_total.fetch_add(1, Ordering::Relaxed);
    }
}

/// Holds one session slot of a [`Gauge`].
#[derive(Debug)]
pub(crate) struct SessionGuard(Gauge);

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.0.0.sessions.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_slots_are_bounded_and_released_on_drop() {
        let gauge = Gauge::default();
        let a = gauge.try_open_session(2);
        let b = gauge.try_open_session(2);
        assert!(a.is_some() && b.is_some());
        assert!(gauge.try_open_session(2).is_none());
        assert_eq!(gauge.snapshot().rejected_total, 1);
        drop(a);
        assert_eq!(gauge.snapshot().sessions, 1);
        assert!(gauge.try_open_session(2).is_some());
        assert_eq!(gauge.snapshot().sessions_total, 3);
    }
}
