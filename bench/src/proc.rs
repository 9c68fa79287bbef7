//! Process figures: CPU time (`getrusage`) and resident memory (Linux
//! `/proc`), plus a
//! median helper. Every stack module uses these so the figures mean the same.

/// User plus system CPU seconds of the whole process, every thread
/// (`getrusage(RUSAGE_SELF)`: microseconds, where `/proc/self/stat` counts
/// 10 ms ticks, too coarse for a short run).
pub fn cpu_seconds() -> f64 {
    // SAFETY: `getrusage` only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return 0.0;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// A `kB` line of `/proc/self/status` (e.g. `VmRSS`), in MiB; 0 if missing.
fn status_mib(key: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Current resident set size (`VmRSS`), MiB.
pub fn rss_mib() -> f64 {
    status_mib("VmRSS")
}

/// Peak resident set size of the process so far (`VmHWM`), MiB.
pub fn peak_rss_mib() -> f64 {
    status_mib("VmHWM")
}

/// Median of `v` (sorts it in place); 0 for an empty slice.
pub fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_lengths() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&mut []), 0.0);
    }

    #[test]
    fn process_figures_are_read() {
        // Spin until the CPU clock moves, for at most 2 s.
        let start = cpu_seconds();
        let t0 = std::time::Instant::now();
        let mut x = 0u64;
        while cpu_seconds() <= start && t0.elapsed().as_secs() < 2 {
            for i in 0..100_000u64 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
            }
        }
        assert!(cpu_seconds() > start);
        assert!(rss_mib() > 0.0);
        assert!(peak_rss_mib() >= rss_mib());
    }
}
