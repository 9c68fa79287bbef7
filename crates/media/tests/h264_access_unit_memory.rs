//! The access unit bound counts the memory an access unit holds, not only
//! its NAL units' bytes: an access unit of one-byte NAL units stays within
//! a small multiple of the limit. A test binary of its own (a counting
//! global allocator).
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};

use ferrtc_media::h264::AnnexBReader;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to `System` with the same arguments.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            let live = LIVE.fetch_add(new_size, Ordering::Relaxed) + new_size;
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// An IDR slice, then `00 00 01 0C` (a one-byte filler NAL unit, which
/// never starts a new access unit) forever, made as read.
struct Fillers {
    head: Vec<u8>,
    at: usize,
}

impl Read for Fillers {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        for b in buf.iter_mut() {
            *b = if self.at < self.head.len() {
                self.head[self.at]
            } else {
                [0, 0, 1, 0x0c][(self.at - self.head.len()) % 4]
            };
            self.at += 1;
        }
        Ok(buf.len())
    }
}

/// An access unit is bounded at the limit (32 MiB by default); with
/// one-byte NAL units each costs a `Vec` (24 bytes) in the access unit
/// plus its own allocation, which the bound counts: counting the bytes
/// alone, the memory held before `AccessUnitTooLarge` was tens of times the
/// limit (at the default, over 1 GiB of `Vec` headers from 128 MiB of input).
#[test]
fn an_access_unit_of_tiny_nal_units_holds_memory_within_a_small_multiple_of_the_limit() {
    const LIMIT: usize = 1 << 20;
    let input = Fillers {
        head: vec![0, 0, 0, 1, 0x65, 0x88, 0x84],
        at: 0,
    };
    let mut r = AnnexBReader::new(input);
    r.set_max_access_unit_size(LIMIT);
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    assert!(r.next_access_unit().is_err(), "the access unit never ends");
    let peak = PEAK.load(Ordering::Relaxed) - before;
    // The reader's own 64 KiB chunk aside, a bound "on the access unit"
    // should keep it within a few times the limit.
    assert!(
        peak < 4 * LIMIT,
        "{peak} bytes held ({}x the {LIMIT}-byte limit)",
        peak / LIMIT
    );
}
