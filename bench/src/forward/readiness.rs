//! Waiting on every peer's socket at once, for the forwarders that drive
//! all their peers on one thread (str0m and ferrtc-core alike): `epoll(7)`,
//! level-triggered, so a wait costs what became readable, not a look at
//! each of the process's 2N + 2 sockets, as a server with many connections
//! waits.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Instant;

use super::Res;

/// The sockets waited on, each known by its peer's index.
pub struct Readiness {
    epoll: OwnedFd,
    events: Vec<libc::epoll_event>,
    /// Whether each peer's socket was readable at the last wait.
    ready: Vec<bool>,
    /// The indices set in `ready` (cleared at the next wait).
    set: Vec<usize>,
}

impl Readiness {
    pub fn new() -> Res<Readiness> {
        // SAFETY: a plain system call; the descriptor it returns is owned
        // here and closed on drop.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(format!(
                "epoll_create1: {}",
                std::io::Error::last_os_error()
            ));
        }
        // SAFETY: `fd` is a new descriptor nothing else owns.
        let epoll = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Readiness {
            epoll,
            events: vec![libc::epoll_event { events: 0, u64: 0 }],
            ready: Vec::new(),
            set: Vec::new(),
        })
    }

    /// Waits on `fd`, the socket of peer `index`, for reading.
    pub fn add(&mut self, fd: RawFd, index: usize) -> Res<()> {
        let mut event = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: index as u64,
        };
        // SAFETY: both descriptors are open; `event` lives across the call.
        let r =
            unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut event) };
        if r < 0 {
            return Err(format!("epoll_ctl: {}", std::io::Error::last_os_error()));
        }
        if self.ready.len() <= index {
            self.ready.resize(index + 1, false);
        }
        self.events
            .resize(self.ready.len(), libc::epoll_event { events: 0, u64: 0 });
        Ok(())
    }

    /// Sleeps until a socket is readable or `until` passes (at most 100 ms;
    /// whole milliseconds, rounded up); then [`Self::is_ready`] says which.
    pub fn wait(&mut self, until: Instant) {
        for i in self.set.drain(..) {
            self.ready[i] = false;
        }
        let ms = until
            .saturating_duration_since(Instant::now())
            .as_micros()
            .div_ceil(1000)
            .min(100) as libc::c_int;
        // SAFETY: `events` is a valid, exclusively borrowed buffer of its
        // length for the duration of the call.
        let n = unsafe {
            libc::epoll_wait(
                self.epoll.as_raw_fd(),
                self.events.as_mut_ptr(),
                self.events.len() as libc::c_int,
                ms,
            )
        };
        for e in self.events.iter().take(n.max(0) as usize) {
            let i = e.u64 as usize;
            if let Some(r) = self.ready.get_mut(i) {
                *r = true;
                self.set.push(i);
            }
        }
    }

    /// Whether peer `index`'s socket was readable at the last wait.
    pub fn is_ready(&self, index: usize) -> bool {
        self.ready.get(index).copied().unwrap_or(false)
    }
}
