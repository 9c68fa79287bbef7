//! The H.264 Annex B reader's memory on hostile streams: leading zeros
//! before the first start code, and an access unit that never ends. A test
//! binary of its own: it counts every allocation of the process through a
//! counting global allocator (one measurement at a time, see [`peak_of`]).
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Read;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use ferrtc_media::h264::AnnexBReader;

/// The system allocator, keeping the bytes live now and the most at once.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to `System` with the same arguments;
// only counters are updated besides.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is passed on.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract for `dealloc` is passed on.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract for `realloc` is passed on.
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

/// The most bytes held at once while `f` runs, beyond those held before;
/// one measurement at a time (tests run on parallel threads).
fn peak_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    static ONE: Mutex<()> = Mutex::new(());
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let out = f();
    (out, PEAK.load(Ordering::Relaxed).saturating_sub(before))
}

/// `zeros` zero bytes, then a start code and a one-byte NAL unit, made as
/// they are read (the input itself takes no memory).
struct LeadingZeros {
    zeros: usize,
    tail: &'static [u8],
}

impl Read for LeadingZeros {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.zeros > 0 {
            let n = buf.len().min(self.zeros);
            buf[..n].fill(0);
            self.zeros -= n;
            return Ok(n);
        }
        let n = buf.len().min(self.tail.len());
        buf[..n].copy_from_slice(&self.tail[..n]);
        self.tail = &self.tail[n..];
        Ok(n)
    }
}

/// H.264 Annex B (§B.2) lets a byte stream start with any number of
/// `leading_zero_8bits` before its first start code. The reader drops
/// them as it goes: looking for the first start code through 16 MiB of
/// zeros holds about one read chunk, not the zeros read so far (which
/// also made every read rescan all of them, quadratic in their number).
#[test]
fn leading_zeros_before_the_first_start_code_take_bounded_memory() {
    let input = LeadingZeros {
        zeros: 16 << 20,
        tail: &[0, 0, 1, 0x41],
    };
    let mut reader = AnnexBReader::new(input);
    let (_, peak) = peak_of(|| {
        let nal = reader.next_nal().expect("a valid stream");
        assert_eq!(nal.as_deref(), Some(&[0x41][..]));
        assert!(reader.next_nal().expect("the end").is_none());
    });
    assert!(peak < 1 << 20, "{peak} bytes held while skipping zeros");
}

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
    let (result, peak) = peak_of(|| r.next_access_unit().map(|_| ()));
    assert!(result.is_err(), "the access unit never ends");
    // The reader's own 64 KiB chunk aside, a bound "on the access unit"
    // should keep it within a few times the limit.
    assert!(
        peak < 4 * LIMIT,
        "{peak} bytes held ({}x the {LIMIT}-byte limit)",
        peak / LIMIT
    );
}
