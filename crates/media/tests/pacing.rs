//! The file source pacer over virtual time.

use std::time::{Duration, Instant};

use ferrtc_media::pacing::{MAX_TIMESTAMP, Pacer, SourceFrame};

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
    // Frame 2's pts went back: it comes 1 ms (the shortest frame) after
    // the previous one.
    assert_eq!(burst, [(1, ms(20)), (2, ms(21)), (3, ms(40))]);
    assert!(p.is_finished());
}

#[test]
fn an_empty_clip_finishes_at_once() {
    let mut p: Pacer<u32> = Pacer::from_frames(Vec::new(), true);
    assert!(p.is_finished());
    assert!(p.poll_frame(Instant::now()).is_none());
}

/// A looped clip whose frames all have pts 0 and duration 0 (an IVF with
/// a zero frame rate read naively): each frame still lasts 1 ms, so at one
/// instant at most one pass is due, and time moves on between passes.
#[test]
fn zero_durations_never_release_an_endless_burst() {
    let start = Instant::now();
    let frames: Vec<_> = (0..3u32)
        .map(|i| SourceFrame {
            pts: Duration::ZERO,
            duration: Duration::ZERO,
            frame: i,
        })
        .collect();
    let mut p = Pacer::from_frames(frames, true);
    let mut burst = 0;
    while p.poll_frame(start).is_some() {
        burst += 1;
        assert!(burst <= 3, "an endless burst at one instant");
    }
    assert_eq!(burst, 1, "frames sharing a pts come 1 ms apart");
    let later = p.next_due(start).expect("looping");
    assert!(later > start);
    // Over a second: about one frame per millisecond, never more.
    let out = run(&mut p, start, ms(1000));
    assert!(out.len() <= 1001, "{} frames in a second", out.len());
    assert!(out.windows(2).all(|w| w[0].2 < w[1].2));
    assert!(out.iter().all(|f| f.0 >= f.2));
}

/// A keyframe request: the pacer jumps to the clip's next frame that
/// qualifies, due when the frame it replaces was; time never goes back.
#[test]
fn skip_to_jumps_to_the_next_keyframe_on_schedule() {
    let start = Instant::now();
    let key = |f: &u32| f % 5 == 0;
    let mut p = Pacer::from_frames(clip(12), true);
    let out = run(&mut p, start, ms(40));
    // Frames 0 and 1 released (0 ms and 33 ms); frame 2 is next, at 66 ms.
    assert_eq!(out.iter().map(|f| f.1).collect::<Vec<_>>(), [0, 1]);
    assert!(p.skip_to(key));
    let due = p.next_due(start).unwrap();
    assert_eq!(due, start + Duration::from_micros(2 * 33_333));
    let f = p.poll_frame(due).unwrap();
    assert_eq!((f.frame, f.pass), (5, 0));
    assert_eq!(f.timestamp, Duration::from_micros(2 * 33_333));
    // The clip's rate after it.
    let g = p.poll_frame(due + Duration::from_micros(33_333)).unwrap();
    assert_eq!(g.frame, 6);
    assert_eq!(g.timestamp, Duration::from_micros(3 * 33_333));

    // No keyframe left in this pass (10 is the last): wraps to frame 0 of
    // the next pass.
    let mut t = due + Duration::from_micros(33_333);
    let mut last = g.timestamp;
    loop {
        t += ms(1);
        if let Some(f) = p.poll_frame(t) {
            assert!(f.timestamp > last);
            last = f.timestamp;
            if f.frame == 10 {
                break;
            }
        }
    }
    assert!(p.skip_to(key));
    let f = p.poll_frame(t + ms(100)).unwrap();
    assert_eq!((f.frame, f.pass), (0, 1));
    assert_eq!(f.timestamp, last + Duration::from_micros(33_333));
    // The next pass starts where this shortened one ends.
    let rest = run(&mut p, start, t - start + ms(1000));
    let mut prev = f.timestamp;
    for r in &rest {
        assert!(r.2 > prev, "timestamps go back at frame {}", r.1);
        prev = r.2;
    }
    // Already at a keyframe: nothing changes. None at all: false.
    let mut q = Pacer::from_frames(clip(3), false);
    assert!(q.skip_to(|f| *f == 0));
    assert_eq!(q.poll_frame(start).unwrap().frame, 0);
    assert!(!q.skip_to(|f| *f == 0), "not looping: no keyframe left");
    assert_eq!(q.poll_frame(start + ms(34)).unwrap().frame, 1);
}

/// A file's times are untrusted: an IVF pts near 2^64 in a 1/1 timebase
/// converts to a `Duration` of about 2^64 seconds, past what an `Instant`
/// (or a sum of two such durations) holds. The pacer caps media time at
/// [`MAX_TIMESTAMP`] (about 136 years) instead of panicking on overflow
/// in `push`, `poll_frame` or `next_due`: the frames before the jump keep
/// their schedule, the ones after it are due at the cap (never, in
/// practice), and a looped clip goes on without a panic.
#[test]
fn timestamps_past_any_instant_are_capped_not_a_panic() {
    let start = Instant::now();
    let huge = Duration::from_secs(u64::MAX);
    let frames = vec![
        SourceFrame {
            pts: Duration::ZERO,
            duration: ms(20),
            frame: 0u32,
        },
        SourceFrame {
            pts: ms(20),
            duration: huge,
            frame: 1,
        },
        SourceFrame {
            pts: huge,
            duration: huge,
            frame: 2,
        },
    ];
    // Owner-driven, looping: the second pass starts at the end of the
    // first, beyond any Duration sum.
    let mut p = Pacer::new(true);
    for f in frames.iter().cloned() {
        p.push(f);
    }
    p.end_of_file();
    assert_eq!(p.poll_frame(start).map(|f| f.frame), Some(0));
    let f = p.poll_frame(start + ms(20)).expect("frame 1 on time");
    assert_eq!(
        (f.frame, f.timestamp, f.duration),
        (1, ms(20), MAX_TIMESTAMP)
    );
    let due = p.next_due(start + ms(20)).expect("frame 2 queued");
    assert_eq!(due, start + MAX_TIMESTAMP);
    assert!(p.poll_frame(start + ms(1_000_000)).is_none());
    p.push(frames[0].clone());
    assert!(p.poll_frame(start + ms(2_000_000)).is_none());

    // The same clip held in memory and looped.
    let mut q = Pacer::from_frames(frames, true);
    assert_eq!(q.poll_frame(start).map(|f| f.frame), Some(0));
    assert_eq!(q.poll_frame(start + ms(20)).map(|f| f.frame), Some(1));
    assert_eq!(q.next_due(start + ms(20)), Some(start + MAX_TIMESTAMP));
    assert!(q.skip_to(|&f| f == 0));
    assert_eq!(q.next_due(start + ms(20)), Some(start + MAX_TIMESTAMP));
}
