//! The file source pacer over virtual time.

use std::time::{Duration, Instant};

use ferrtc_media::pacing::{Pacer, SourceFrame};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A 30 fps clip of `n` frames whose pts start at 1000 ms.
fn clip(n: u32) -> Vec<SourceFrame<u32>> {
    (0..n)
        .map(|i| SourceFrame {
            pts: Duration::from_micros(1_000_000 + u64::from(i) * 33_333),
            duration: Duration::from_micros(33_333),
            frame: i,
        })
        .collect()
}

/// Steps virtual time by 1 ms for `span`, collecting (release time, frame).
fn run(p: &mut Pacer<u32>, start: Instant, span: Duration) -> Vec<(Duration, u32, Duration, u64)> {
    let mut out = Vec::new();
    let mut t = Duration::ZERO;
    while t <= span {
        while let Some(f) = p.poll_frame(start + t) {
            assert!(f.due <= start + t);
            out.push((t, f.frame, f.timestamp, f.pass));
        }
        t += ms(1);
    }
    out
}

#[test]
fn releases_frames_at_the_file_rate() {
    let start = Instant::now();
    let mut p = Pacer::from_frames(clip(10), false);
    assert_eq!(p.next_due(start), Some(start));
    let out = run(&mut p, start, ms(1000));
    assert_eq!(out.len(), 10);
    for (i, (t, frame, ts, pass)) in out.iter().enumerate() {
        assert_eq!(*frame, i as u32);
        assert_eq!(*pass, 0);
        // Timestamps start at 0 whatever the file's first pts.
        assert_eq!(*ts, Duration::from_micros(i as u64 * 33_333));
        // Released on the first 1 ms step at or after the due time.
        let due = Duration::from_micros(i as u64 * 33_333);
        assert!(
            *t >= due && *t < due + ms(1),
            "frame {i} at {t:?}, due {due:?}"
        );
    }
    assert!(p.is_finished());
    assert!(p.poll_frame(start + ms(5000)).is_none());
}

#[test]
fn nothing_comes_early() {
    let start = Instant::now();
    let mut p = Pacer::from_frames(clip(3), false);
    assert_eq!(p.poll_frame(start).unwrap().frame, 0);
    assert_eq!(
        p.next_due(start),
        Some(start + Duration::from_micros(33_333))
    );
    assert!(p.poll_frame(start + ms(33)).is_none());
    assert_eq!(p.poll_frame(start + ms(34)).unwrap().frame, 1);
}

#[test]
fn loops_with_monotonic_timestamps() {
    let start = Instant::now();
    let mut p = Pacer::from_frames(clip(3), true);
    let out = run(&mut p, start, ms(400));
    // 3 frames of 33.333 ms: a pass lasts 99.999 ms; 400 ms holds 13 frames.
    assert_eq!(out.len(), 13);
    let frames: Vec<u32> = out.iter().map(|o| o.1).collect();
    assert_eq!(frames, [0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0]);
    let passes: Vec<u64> = out.iter().map(|o| o.3).collect();
    assert_eq!(passes, [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4]);
    for (i, o) in out.iter().enumerate() {
        assert_eq!(o.2, Duration::from_micros(i as u64 * 33_333), "frame {i}");
    }
    assert!(!p.is_finished());
}

#[test]
fn owner_driven_loop_continues_after_the_last_duration() {
    let start = Instant::now();
    let mut p = Pacer::new(true);
    assert!(p.wants_frame());
    // A pass of two frames with pts 500 and 540, the last lasting 60 ms.
    let pass = |p: &mut Pacer<&str>| {
        p.push(SourceFrame {
            pts: ms(500),
            duration: ms(40),
            frame: "a",
        });
        p.push(SourceFrame {
            pts: ms(540),
            duration: ms(60),
            frame: "b",
        });
        p.end_of_file();
    };
    pass(&mut p);
    assert!(!p.wants_frame());
    let a = p.poll_frame(start).unwrap();
    let b = p.poll_frame(start + ms(40)).unwrap();
    assert_eq!((a.timestamp, b.timestamp), (ms(0), ms(40)));
    assert!(p.wants_frame());
    pass(&mut p);
    assert_eq!(p.next_due(start + ms(40)), Some(start + ms(100)));
    let a2 = p.poll_frame(start + ms(100)).unwrap();
    assert_eq!((a2.timestamp, a2.pass, a2.frame), (ms(100), 1, "a"));
    // Stop looping: the pacer finishes when its queue drains.
    p.set_looping(false);
    assert!(!p.wants_frame());
    assert!(!p.is_finished());
    let b2 = p.poll_frame(start + ms(140)).unwrap();
    assert_eq!(b2.timestamp, ms(140));
    assert!(p.is_finished());
}

#[test]
fn late_polls_release_overdue_frames_in_a_burst_and_timestamps_never_go_back() {
    let start = Instant::now();
    let mut p = Pacer::new(false);
    for (pts, f) in [(0, 0u32), (20, 1), (10, 2), (40, 3)] {
        p.push(SourceFrame {
            pts: ms(pts),
            duration: ms(20),
            frame: f,
        });
    }
    p.end_of_file();
    assert_eq!(p.poll_frame(start).unwrap().frame, 0);
    let mut burst = Vec::new();
    while let Some(f) = p.poll_frame(start + ms(100)) {
        burst.push((f.frame, f.timestamp));
    }
    // Frame 2's pts went back: it is clamped to the previous timestamp.
    assert_eq!(burst, [(1, ms(20)), (2, ms(20)), (3, ms(40))]);
    assert!(p.is_finished());
}

#[test]
fn an_empty_clip_finishes_at_once() {
    let mut p: Pacer<u32> = Pacer::from_frames(Vec::new(), true);
    assert!(p.is_finished());
    assert!(p.poll_frame(Instant::now()).is_none());
}
