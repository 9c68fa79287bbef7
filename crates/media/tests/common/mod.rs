//! Fixtures shared by the media integration tests. Each file under
//! `tests/` is a crate of its own and takes this module with `mod common;`.

use std::fmt::Display;
use std::io::{ErrorKind, Read, Result};

/// `data` a few bytes a read after its first `from` bytes, with a
/// `WouldBlock` before every read that gives bytes there: a non-blocking
/// pipe or socket whose writer is slow.
pub struct Stalling {
    data: Vec<u8>,
    at: usize,
    from: usize,
    piece: usize,
    stalled: bool,
}

impl Stalling {
    /// `data` at most `piece` bytes a read, with a `WouldBlock` before
    /// every read that gives bytes, from its first byte on.
    pub fn new(data: Vec<u8>, piece: usize) -> Self {
        Self {
            data,
            at: 0,
            from: 0,
            piece,
            stalled: false,
        }
    }

    /// The same input, but its first `from` bytes come in reads that never
    /// block (a header already there), the stalling starting after them.
    #[allow(dead_code)] // not every test crate that takes `common` uses it
    pub fn after(self, from: usize) -> Self {
        Self { from, ..self }
    }
}

impl Read for Stalling {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize> {
        if self.at >= self.from {
            self.stalled = !self.stalled;
            if self.stalled && self.at < self.data.len() {
                return Err(ErrorKind::WouldBlock.into());
            }
        }
        let end = if self.at < self.from {
            self.from
        } else {
            self.data.len().min(self.at + self.piece)
        };
        let n = buf.len().min(end - self.at);
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// What a reader over a [`Stalling`] input gives when its caller retries
/// every error that `would_block` says is a `WouldBlock`, as a caller on a
/// non-blocking input does: the items read until `next` gives `None`, and
/// how many times it blocked on the way.
///
/// Panics on any other error, and when it blocks more than `2 * len` times
/// (`len` the input's length: the reader makes no progress). `piece` names
/// the run in the panic messages.
pub fn read_retrying<T, E: Display>(
    mut next: impl FnMut() -> std::result::Result<Option<T>, E>,
    would_block: impl Fn(&E) -> bool,
    len: usize,
    piece: usize,
) -> (Vec<T>, usize) {
    let mut read = Vec::new();
    let mut blocked = 0;
    loop {
        match next() {
            Ok(Some(item)) => read.push(item),
            Ok(None) => return (read, blocked),
            Err(e) if would_block(&e) => {
                blocked += 1;
                assert!(blocked <= 2 * len, "piece {piece}: no progress");
            }
            Err(e) => panic!("piece {piece}: {e}"),
        }
    }
}
