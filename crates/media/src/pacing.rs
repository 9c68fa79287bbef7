//! A sans-IO file source pacer: frames read from a file (with their
//! timestamps and durations) come out when they are due at the file's
//! rate, and the file loops with timestamps that keep increasing.
//!
//! The pacer reads nothing itself. The owner pushes frames
//! ([`Pacer::push`]) while [`Pacer::wants_frame`] says so, and calls
//! [`Pacer::end_of_file`] when its reader ends; when looping, it then
//! reopens or rewinds the file and pushes the frames again: the pacer
//! shifts the new pass to start where the last one ended.
//! [`Pacer::from_frames`] does that with frames held in memory.
//!
//! Time: the first frame is due at the first [`Pacer::poll_frame`] (the
//! `now` of that call anchors the clock); frame `i` is due at the anchor
//! plus its media timestamp. A caller that polls late gets every overdue
//! frame at once, one per call.
//!
//! Every frame lasts at least [`MIN_FRAME_DURATION`]: a shorter duration,
//! zero included, is raised to it, and a frame is due at least that long
//! after the one before it. A file whose timestamps are all equal cannot
//! make an endless run of frames due at one instant: one frame is due per
//! millisecond at most (a caller that polls late still gets the overdue
//! ones at once, as many as the time it missed allows).
//!
//! Media time is capped at [`MAX_TIMESTAMP`] (about 136 years): a file's
//! times are untrusted, and a pts near 2^64 seconds would overflow a
//! `Duration` sum or an `Instant`. Frames past the cap are due at it.
//!
//! A receiver that lost the picture asks for a keyframe;
//! [`Pacer::skip_to`] jumps a pacer made by [`Pacer::from_frames`] to the
//! clip's next keyframe, due when the skipped frame was: the schedule goes
//! on without a pause and without going back.
//!
//! An IVF file played in a loop (a frame lasts until the next one's pts;
//! the last one as long as the one before):
//!
//! ```
//! use std::time::{Duration, Instant};
//! use ferrtc_media::ivf::{FourCc, IvfHeader, IvfReader, IvfWriter};
//! use ferrtc_media::pacing::{Pacer, SourceFrame};
//!
//! let mut w = IvfWriter::new(Vec::new(), IvfHeader::new(FourCc::VP80, 2, 2, 30, 1)).unwrap();
//! for pts in 0..3 {
//!     w.write_frame(pts, b"frame").unwrap();
//! }
//! let file = w.finish().unwrap();
//!
//! let reader = IvfReader::new(&file[..]).unwrap();
//! let header = *reader.header();
//! let frames: Vec<_> = reader.collect::<Result<_, _>>().unwrap();
//! let pts = |i: usize| header.pts_to_duration(frames[i].pts).unwrap();
//! let clip: Vec<_> = (0..frames.len())
//!     .map(|i| SourceFrame {
//!         pts: pts(i),
//!         duration: if i + 1 < frames.len() { pts(i + 1) - pts(i) } else { pts(i) - pts(i - 1) },
//!         frame: frames[i].data.clone(),
//!     })
//!     .collect();
//!
//! let mut pacer = Pacer::from_frames(clip, true);
//! let start = Instant::now();
//! let mut released = Vec::new();
//! for ms in 0..=200 {
//!     while let Some(f) = pacer.poll_frame(start + Duration::from_millis(ms)) {
//!         released.push(f.timestamp);
//!     }
//! }
//! // 30 fps for 200 ms, across two loops of three frames: seven frames.
//! assert_eq!(released.len(), 7);
//! // The second pass starts where the first ended (3 × 33.333333 ms).
//! assert_eq!(released[3], Duration::from_nanos(99_999_999));
//! assert!(released.windows(2).all(|w| w[0] < w[1]));
//! ```

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The shortest duration of a frame: shorter ones are raised to it.
pub const MIN_FRAME_DURATION: Duration = Duration::from_millis(1);

/// The latest media time the pacer schedules, about 136 years (2^32 s);
/// see [`Pacer::push`].
pub const MAX_TIMESTAMP: Duration = Duration::from_secs(1 << 32);

/// A frame as the pacer takes it: its timestamp in the file and duration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFrame<F> {
    /// Presentation time in the file (from the file's first frame or any origin).
    pub pts: Duration,
    /// How long the frame lasts; ends the pass when it is the last frame.
    /// At least [`MIN_FRAME_DURATION`] once pushed.
    pub duration: Duration,
    /// The frame itself.
    pub frame: F,
}

/// A frame released by the pacer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacedFrame<F> {
    /// Media time since the start of the first pass; never decreases,
    /// across loops too.
    pub timestamp: Duration,
    /// How long the frame lasts, at least [`MIN_FRAME_DURATION`].
    pub duration: Duration,
    /// When it was due.
    pub due: Instant,
    /// How many times the file had looped before this frame (0 in the first pass).
    pub pass: u64,
    /// The frame.
    pub frame: F,
}

#[derive(Debug)]
struct Queued<F> {
    timestamp: Duration,
    duration: Duration,
    pass: u64,
    /// Its index in the clip of a pacer made by [`Pacer::from_frames`].
    index: Option<usize>,
    frame: F,
}

/// Releases a file's frames at the file's rate (the module documentation
/// tells how).
#[derive(Debug)]
pub struct Pacer<F> {
    queue: VecDeque<Queued<F>>,
    /// `now` of the first release minus the first timestamp.
    anchor: Option<Instant>,
    looping: bool,
    /// Media time where the current pass starts.
    pass_base: Duration,
    /// The pts of the current pass's first frame.
    pass_origin: Option<Duration>,
    /// End (timestamp + duration) of the latest frame pushed.
    end: Duration,
    /// Latest timestamp pushed, to keep them monotonic.
    last_timestamp: Option<Duration>,
    pass: u64,
    eof: bool,
    lookahead: usize,
    /// For [`Pacer::from_frames`]: the frames to push again on each pass,
    /// the next one's index, and how to copy one (`F: Clone` there).
    clip: Option<Clip<F>>,
}

#[derive(Debug)]
struct Clip<F> {
    frames: Vec<SourceFrame<F>>,
    next: usize,
    copy: fn(&SourceFrame<F>) -> SourceFrame<F>,
}

impl<F> Pacer<F> {
    /// An empty pacer; with `looping`, each [`Pacer::end_of_file`] starts a
    /// new pass instead of ending.
    pub fn new(looping: bool) -> Self {
        Self {
            queue: VecDeque::new(),
            anchor: None,
            looping,
            pass_base: Duration::ZERO,
            pass_origin: None,
            end: Duration::ZERO,
            last_timestamp: None,
            pass: 0,
            eof: false,
            lookahead: 2,
            clip: None,
        }
    }

    /// Whether the pacer loops.
    pub fn is_looping(&self) -> bool {
        self.looping
    }

    /// Stops or starts looping.
    pub fn set_looping(&mut self, looping: bool) {
        self.looping = looping;
    }

    /// Whether the owner should push another frame: fewer than two are queued
    /// and the file has not ended for good.
    pub fn wants_frame(&self) -> bool {
        self.queue.len() < self.lookahead && (!self.eof || self.looping)
    }

    /// Adds the next frame of the file. Media time is capped at
    /// [`MAX_TIMESTAMP`]: a frame whose time or duration would take it
    /// further (a corrupt file's pts) is due at the cap, never in practice,
    /// rather than overflowing.
    pub fn push(&mut self, frame: SourceFrame<F>) {
        self.push_indexed(frame, None);
    }

    fn push_indexed(&mut self, frame: SourceFrame<F>, index: Option<usize>) {
        // A file's times are untrusted: capped at MAX_TIMESTAMP, every sum
        // below fits a Duration and `anchor + timestamp` an Instant.
        let duration = frame.duration.clamp(MIN_FRAME_DURATION, MAX_TIMESTAMP);
        if self.eof && self.looping {
            // The first frame after the end: a new pass.
            self.eof = false;
            self.pass += 1;
            self.pass_base = self.end;
            self.pass_origin = None;
        }
        let origin = *self.pass_origin.get_or_insert(frame.pts);
        let relative = frame.pts.saturating_sub(origin);
        let mut timestamp = self.pass_base.saturating_add(relative);
        if let Some(last) = self.last_timestamp {
            timestamp = timestamp.max(last + MIN_FRAME_DURATION);
        }
        let timestamp = timestamp.min(MAX_TIMESTAMP);
        self.last_timestamp = Some(timestamp);
        self.end = self.end.max(timestamp + duration).min(MAX_TIMESTAMP);
        self.queue.push_back(Queued {
            timestamp,
            duration,
            pass: self.pass,
            index,
            frame: frame.frame,
        });
    }

    /// The file's reader reached its end: with looping, the next push
    /// starts a new pass; without, the pacer finishes once its queue drains.
    pub fn end_of_file(&mut self) {
        self.eof = true;
    }

    /// Whether every frame has been released and no more will come.
    pub fn is_finished(&self) -> bool {
        self.eof && !self.looping && self.queue.is_empty()
    }

    /// When the next queued frame is due; `None` when none is queued (or,
    /// which [`MAX_TIMESTAMP`] rules out on the usual platforms, when its
    /// time is past what an [`Instant`] holds). Before the first release,
    /// the first frame is due `now`.
    pub fn next_due(&self, now: Instant) -> Option<Instant> {
        let head = self.queue.front()?;
        match self.anchor {
            Some(a) => a.checked_add(head.timestamp),
            None => Some(now),
        }
    }

    /// The next frame if it is due at `now`.
    pub fn poll_frame(&mut self, now: Instant) -> Option<PacedFrame<F>> {
        let head = self.queue.front()?;
        let anchor = *self
            .anchor
            .get_or_insert_with(|| now.checked_sub(head.timestamp).unwrap_or(now));
        let due = anchor.checked_add(head.timestamp)?;
        if due > now {
            return None;
        }
        let q = self.queue.pop_front()?;
        self.refill();
        Some(PacedFrame {
            timestamp: q.timestamp,
            duration: q.duration,
            due,
            pass: q.pass,
            frame: q.frame,
        })
    }
}

impl<F: Clone> Pacer<F> {
    /// A pacer over frames held in memory: it pushes them itself, again on
    /// each pass when looping, so only [`Pacer::poll_frame`] and
    /// [`Pacer::next_due`] are left to call.
    pub fn from_frames(frames: Vec<SourceFrame<F>>, looping: bool) -> Self {
        let mut p = Self::new(looping);
        if frames.is_empty() {
            p.eof = true;
            p.looping = false;
            return p;
        }
        p.clip = Some(Clip {
            frames,
            next: 0,
            copy: SourceFrame::clone,
        });
        p.refill();
        p
    }
}

impl<F> Pacer<F> {
    /// For a pacer made by [`Pacer::from_frames`]: pushes frames while
    /// [`Pacer::wants_frame`]. [`Pacer::poll_frame`] calls it; it does
    /// nothing for other pacers.
    pub fn refill(&mut self) {
        while self.wants_frame() {
            let Some(clip) = &mut self.clip else {
                return;
            };
            if clip.next == clip.frames.len() {
                clip.next = 0;
                self.end_of_file();
                continue;
            }
            let index = clip.next;
            let f = (clip.copy)(&clip.frames[index]);
            clip.next += 1;
            self.push_indexed(f, Some(index));
        }
    }

    /// For a pacer made by [`Pacer::from_frames`]: goes on from the next
    /// frame of the clip for which `wanted` holds, the next one to be
    /// released included (when looping, from the clip's first such frame
    /// once none is left in this pass). That frame takes the place of the
    /// next one to be released: it is due when that one was, and the
    /// frames after it follow at the clip's rate. Returns whether a frame
    /// was found; nothing changes when none was, or for other pacers.
    pub fn skip_to(&mut self, wanted: impl Fn(&F) -> bool) -> bool {
        let Some(head) = self.queue.front() else {
            return false;
        };
        let (Some(clip), Some(start)) = (&self.clip, head.index) else {
            return false;
        };
        let (base, pass) = (head.timestamp, head.pass);
        let len = clip.frames.len();
        let later = (start..len).find(|&i| wanted(&clip.frames[i].frame));
        let (index, pass) = match later {
            Some(i) => (i, pass),
            None if self.looping => match (0..start).find(|&i| wanted(&clip.frames[i].frame)) {
                Some(i) => (i, pass + 1),
                None => return false,
            },
            None => return false,
        };
        if index == start && pass == head.pass {
            return true;
        }
        // A new stretch of the schedule: the frame found at the head's
        // time, the clip's timing after it.
        self.queue.clear();
        self.pass = pass;
        self.pass_base = base;
        self.pass_origin = None;
        self.end = base;
        // The frames released so far are due before `base`.
        self.last_timestamp = None;
        self.eof = false;
        if let Some(clip) = &mut self.clip {
            clip.next = index;
        }
        self.refill();
        true
    }
}
