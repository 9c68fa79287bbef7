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

#[cfg(test)]
mod tests {
    use std::net::UdpSocket;
    use std::time::Duration;

    use super::*;

    fn socket() -> UdpSocket {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_nonblocking(true).unwrap();
        s
    }

    #[test]
    fn a_socket_is_ready_while_it_holds_a_datagram_and_not_once_read_empty() {
        let (a, b) = (socket(), socket());
        let mut r = Readiness::new().unwrap();
        r.add(a.as_raw_fd(), 0).unwrap();
        r.add(b.as_raw_fd(), 1).unwrap();
        b.send_to(b"one", a.local_addr().unwrap()).unwrap();
        b.send_to(b"two", a.local_addr().unwrap()).unwrap();
        let soon = Instant::now() + Duration::from_secs(5);
        r.wait(soon);
        assert!(r.is_ready(0) && !r.is_ready(1));
        // Level-triggered: what is left is reported again.
        let mut buf = [0; 16];
        a.recv_from(&mut buf).unwrap();
        r.wait(soon);
        assert!(r.is_ready(0));
        a.recv_from(&mut buf).unwrap();
        r.wait(Instant::now() + Duration::from_millis(20));
        assert!(!r.is_ready(0), "an empty socket was reported ready");
    }

    #[test]
    fn a_wait_with_nothing_to_read_ends_at_its_deadline() {
        let a = socket();
        let mut r = Readiness::new().unwrap();
        r.add(a.as_raw_fd(), 0).unwrap();
        let start = Instant::now();
        r.wait(start + Duration::from_millis(30));
        assert!(start.elapsed() >= Duration::from_millis(30));
        assert!(!r.is_ready(0) && !r.is_ready(7));
    }
}
