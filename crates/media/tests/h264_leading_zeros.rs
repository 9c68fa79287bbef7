//! H.264 Annex B leading zeros: the reader's memory while it looks for the
//! first start code. A test binary of its own: it counts every allocation
//! of the process through a counting global allocator.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Read;
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
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let nal = reader.next_nal().expect("a valid stream");
    assert_eq!(nal.as_deref(), Some(&[0x41][..]));
    assert!(reader.next_nal().expect("the end").is_none());
    let peak = PEAK.load(Ordering::Relaxed) - before;
    assert!(peak < 1 << 20, "{peak} bytes held while skipping zeros");
}
