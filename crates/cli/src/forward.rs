//! The forwarding core of a broadcast (an SFU's fan-out for one track),
//! without I/O: frames of the publisher's track in, per-viewer decisions
//! out, and the keyframe requests to pass up to the publisher.
//!
//! Nothing is decoded: a forwarded frame is the publisher's encoded frame,
//! written on each viewer's sender (which gives it the viewer's SSRC,
//! sequence numbers and timestamps). What this core decides:
//!
//! - a viewer starts at a keyframe: joining asks the publisher for one;
//! - a viewer whose queue overflowed (it cannot keep up) skips to the next
//!   keyframe, and one is asked for; the others are not held up;
//! - viewers' keyframe requests (PLI/FIR) go up to the publisher, merged and
//!   rate-limited to one per [`KEYFRAME_INTERVAL`] per layer (RFC 4585
//!   §6.3.1 lets a media sender answer PLIs at its own pace; a burst of N
//!   viewers' PLIs must not become N keyframes);
//! - with layers (simulcast, RFC 8853), which layer each viewer gets: its
//!   [`LayerSelector`] picks the highest layer whose measured bitrate fits
//!   the viewer's estimate, switching only at a keyframe of the new layer;
//! - each viewer's RTP timestamps follow the publisher's ([`Timeline`]),
//!   skipped frames included.
//!
//! Drive it like the protocol engines: after every input
//! ([`Forwarder::on_frame`], [`Forwarder::add_viewer`], ...), take
//! [`Forwarder::poll_keyframe_request`] until `None`, and call it again at
//! [`Forwarder::poll_timeout`].

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

/// Shortest time between two keyframe requests to the publisher, per
/// layer.
pub const KEYFRAME_INTERVAL: Duration = Duration::from_millis(500);
/// The window over which a layer's bitrate is measured.
pub const RATE_WINDOW: Duration = Duration::from_secs(1);
/// Going up a layer needs this much headroom over its bitrate; going down
/// happens as soon as the current layer does not fit. The gap between the
/// two is the hysteresis that keeps a viewer from flapping.
pub const UP_HEADROOM: f64 = 1.25;
/// Going down needs the estimate to fall below this fraction of the
/// current layer's bitrate: a send-side estimate hovers around what is
/// sent, and its dips on a path that carries the layer (a decrease is to
/// 0.85 of the acknowledged rate, GCC §5.5) must not move the viewer.
pub const DOWN_MARGIN: f64 = 0.75;

/// How often the viewers' layers are reconsidered besides keyframes and
/// new estimates.
pub const UPDATE_INTERVAL: Duration = Duration::from_millis(500);

/// A viewer of the broadcast, as the forwarder knows it.
pub type ViewerId = u64;

/// What the forwarder needs of one received frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameInfo {
    /// The simulcast layer (encoding) it belongs to, a stable index (from
    /// [`Rids::layer`]); 0 without simulcast. Layers rank by their
    /// measured bitrates, not by their index.
    pub layer: usize,
    /// A frame a decoder can start from (every audio frame is one).
    pub keyframe: bool,
    /// Its size, for the layer's bitrate.
    pub bytes: usize,
    /// The receiver dropped frames right before it (its reader fell
    /// behind): frames of every layer were lost, so the viewers on other
    /// layers than this one (a keyframe, after a gap) miss references.
    pub gap: bool,
}

/// A layer's bitrate as the forwarder measured it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LayerRate {
    /// Bits per second: the last measured rate (0 if never measured).
    pub bps: u64,
    /// Whether it sends now (frames in the last [`RATE_WINDOW`]).
    pub sending: bool,
    /// Whether `bps` was measured now (frames spanning at least
    /// [`MIN_SPAN`]), not kept from before a pause: only measured layers
    /// are moved up to.
    pub measured: bool,
}

/// Picks a viewer's layer from its bandwidth estimate (W3C
/// `availableOutgoingBitrate`) and the layers' measured bitrates.
///
/// A layer is a stable index (the order its stream first appeared in);
/// what ranks layers is their measured bitrate, whatever their rids are
/// called. Without an estimate the target is the highest layer; before
/// the viewer has a layer, the highest that fits the estimate. Then:
///
/// - down, when the estimate is below [`DOWN_MARGIN`] of the current
///   layer's bitrate and just fell (a congestion signal), or stayed below
///   without rising for [`DOWN_HOLD`] (a rising estimate, as after a
///   switch up, is catching up with what is sent): to the highest layer
///   that fits, or the lowest. A decided down target is kept until its
///   keyframe;
/// - up, to the highest measured layer whose bitrate with
///   [`UP_HEADROOM`] fits; but not to the layer whose switch up failed
///   last, nor to one as dear at today's rates, until the next probe is
///   due or a switch up to a layer as dear holds: an estimate that jumps
///   right after (a policer's burst allowance lets a padding probe through
///   at any rate) would repeat the failure, the viewer's video stalling on
///   the loss each time;
/// - a probe one layer up, when the estimate has [`UP_HEADROOM`] over the
///   current layer's bitrate but not over the next one's: a send-side
///   estimate stays near what is sent (GCC grows it to about 1.5 times the
///   acknowledged rate), so a viewer on a low layer would never see room
///   for a higher one. The probe is the higher layer itself: if the path
///   cannot carry it the estimate falls and the viewer goes back down.
///   A probe target is kept until its keyframe (or congestion). Probes are
///   [`PROBE_INTERVAL`] apart, doubled (up to [`MAX_PROBE_INTERVAL`])
///   after each switch up that fell back within [`PROBE_TRIAL`] (or after
///   it, the estimate having stayed under the layer since), and not
///   before the last switch up's trial is over;
/// - otherwise it stays.
///
/// The viewer moves to the target only at a keyframe of the target layer,
/// and keeps getting its current layer meanwhile, so that the decoder
/// never sees a frame it cannot decode, nor two layers interleaved.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LayerSelector {
    current: Option<usize>,
    target: Option<usize>,
    available: Option<u64>,
    /// Whether the estimate just fell (the first one counts as a fall from
    /// unlimited), until the next update.
    falling: bool,
    /// Since when the estimate has been below the current layer's margin.
    below_since: Option<Instant>,
    /// A decided move (down, or a probe up) waiting for its keyframe.
    pending: Option<Move>,
    /// When the last switch up happened (or, until it does, the last
    /// update while it waits for its keyframe), and when the next probe
    /// may be.
    last_up: Option<Instant>,
    probe_at: Option<Instant>,
    /// The wait before the next probe after a failed one.
    backoff: Option<Duration>,
    /// The layer whose switch up failed last, and its bitrate then: until
    /// the next probe is due (`probe_at`), or a switch up to a layer as
    /// dear holds, no layer as dear (at today's rates) is moved up to.
    failed_up: Option<(usize, u64)>,
}

/// A decided layer move waiting for the new layer's keyframe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Move {
    Down(usize),
    Probe(usize),
}

/// The first wait between probes one layer up.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(4);
/// The longest wait between probes.
pub const MAX_PROBE_INTERVAL: Duration = Duration::from_secs(60);
/// A switch up followed by a switch down within this long failed (as does
/// one whose estimate is still under the layer's down margin when the
/// trial ends, and falls later). It holds for every switch up, a probe or
/// a move with headroom alike: an estimate with headroom may be a jump a
/// policer's burst allowance let through. The price: a free viewer whose
/// estimate dips a few seconds after a switch up is held off that layer
/// until the next probe is due, as after a failed probe. Longer
/// than a path that cannot carry the layer takes to show it: a policer's
/// burst allowance passes the new layer for a second or two before it
/// drops, the loss-based controller cuts once per window (0.5 s plus a
/// round trip, GCC §6) and needs two or three cuts to fall under
/// [`DOWN_MARGIN`]. A failure counted as a hold would reset the probes'
/// backoff, and a path that cannot carry the layer would get a probe
/// every few seconds.
pub const PROBE_TRIAL: Duration = Duration::from_secs(8);
/// An estimate below [`DOWN_MARGIN`] of the current layer this long moves
/// the viewer down even if it did not fall. Longer than an estimate takes
/// to follow a layer whose bitrate rose (estimates are reported on a 10 %
/// change, and GCC grows by at most 8 % a second, §5.5): a free viewer's
/// flat estimate under a layer that got dearer for a second is not
/// congestion.
pub const DOWN_HOLD: Duration = Duration::from_secs(3);
/// A layer's frames must span this long for its bitrate to count as
/// measured (one keyframe over a second would look cheap).
pub const MIN_SPAN: Duration = Duration::from_millis(200);

impl LayerSelector {
    /// The layer the viewer gets now (`None` until its first keyframe).
    pub fn current(&self) -> Option<usize> {
        self.current
    }

    /// The layer it moves to at that layer's next keyframe.
    pub fn target(&self) -> Option<usize> {
        self.target
    }

    /// A new bandwidth estimate, bits per second.
    pub fn set_available(&mut self, bps: u64) {
        self.falling = self.available.is_none_or(|last| bps < last);
        if self.available.is_some_and(|last| bps > last) {
            // Rising: catching up with what is sent, the wait starts again.
            self.below_since = None;
        }
        self.available = Some(bps);
    }

    /// Recomputes the target at `now` from `rates`, by layer index (a
    /// layer that sends nothing now is never picked, unless no layer
    /// sends: then the lowest known one).
    pub fn update(&mut self, now: Instant, rates: &[LayerRate]) {
        // A fall is a signal when it arrives, not a state: a flat estimate
        // under a layer that got dearer waits for DOWN_HOLD.
        let falling = std::mem::take(&mut self.falling);
        // Live layers, lowest bitrate first (ties: by index).
        let mut live: Vec<usize> = (0..rates.len())
            .filter(|&i| rates[i].sending && rates[i].bps > 0)
            .collect();
        live.sort_by_key(|&i| (rates[i].bps, i));
        let Some(&lowest) = live.first() else {
            let known = (0..rates.len())
                .filter(|&i| rates[i].bps > 0)
                .min_by_key(|&i| (rates[i].bps, i));
            self.target = known.or((!rates.is_empty()).then_some(0)).or(self.target);
            return;
        };
        let Some(available) = self.available else {
            self.target = live.last().copied();
            return;
        };
        let bps = |l: usize| rates[l].bps;
        // The dearest live layer that `allowed` lets in and that fits the
        // estimate with `headroom`.
        let fitting = |headroom: f64, allowed: &dyn Fn(usize) -> bool| {
            live.iter()
                .rev()
                .copied()
                .filter(|&l| allowed(l))
                .find(|&l| bps(l) as f64 * headroom <= available as f64)
        };
        let Some(current) = self.current.filter(|c| live.contains(c)) else {
            self.pending = None;
            self.target = Some(fitting(1.0, &|_| true).unwrap_or(lowest));
            return;
        };
        let rate = bps(current);
        let below = (rate as f64 * DOWN_MARGIN) > available as f64;
        // Whether `l` is as dear as the layer whose switch up failed, at
        // today's rate of that layer (rates move with the encoder's), or
        // the rate it had if it sends no more.
        let as_dear_as_failed = |l: usize, (failed, then): (usize, u64)| {
            let failed_rate = rates.get(failed).map_or(0, |r| r.bps);
            l == failed || bps(l) >= if failed_rate > 0 { failed_rate } else { then }
        };
        if self.probe_at.is_some_and(|t| now >= t) {
            // The next probe is due: the failure has been waited out.
            self.failed_up = None;
        }
        // A switch up is on trial from when it happens (at the keyframe of
        // the layer up), not from when it was decided.
        if self.last_up.is_some() && self.target != self.current {
            self.last_up = Some(now);
        }
        let in_trial = self
            .last_up
            .is_some_and(|t| now.saturating_duration_since(t) < PROBE_TRIAL);
        if self.last_up.is_some() && !in_trial && !below {
            // The last switch up held: probing starts afresh.
            self.last_up = None;
            self.backoff = None;
            if self
                .failed_up
                .is_some_and(|f| as_dear_as_failed(current, f))
            {
                self.failed_up = None;
            }
        }
        if !below {
            self.below_since = None;
        } else if self.below_since.is_none() {
            self.below_since = Some(now);
        }
        let held = self
            .below_since
            .is_some_and(|t| now.saturating_duration_since(t) >= DOWN_HOLD);
        let pending = self.pending.filter(|m| match *m {
            Move::Down(l) => live.contains(&l) && bps(l) < rate,
            Move::Probe(l) => live.contains(&l) && bps(l) > rate,
        });
        let target = if below && (falling || held) {
            let failed = self.last_up.take().is_some();
            if failed {
                // The layer tried: the one reached, or still awaited.
                let tried = self
                    .target
                    .filter(|&t| live.contains(&t) && bps(t) > rate)
                    .unwrap_or(current);
                self.failed_up = Some((tried, bps(tried)));
            }
            let backoff = match self.backoff {
                Some(b) if failed => (b * 2).min(MAX_PROBE_INTERVAL),
                Some(b) => b,
                None => PROBE_INTERVAL,
            };
            self.backoff = Some(backoff);
            self.probe_at = Some(now + backoff);
            let mut down = fitting(1.0, &|_| true).unwrap_or(lowest);
            if let Some(Move::Down(before)) = pending
                && bps(before) < bps(down)
            {
                down = before;
            }
            self.pending = (down != current).then_some(Move::Down(down));
            down
        } else if let Some(Move::Down(down)) = pending {
            down
        } else if let Some(up) = fitting(UP_HEADROOM, &|l| {
            rates[l].measured
                && bps(l) > rate
                && !self.failed_up.is_some_and(|f| as_dear_as_failed(l, f))
        }) {
            self.last_up = Some(now);
            self.pending = None;
            up
        } else if let Some(Move::Probe(next)) = pending {
            next
        } else if rate as f64 * UP_HEADROOM <= available as f64
            && self.probe_at.is_none_or(|t| now >= t)
            // Not while the last switch up is on trial.
            && self.last_up.is_none()
            && let Some(&next) = live.iter().find(|&&l| bps(l) > rate)
            && rates[next].measured
        {
            self.last_up = Some(now);
            self.probe_at = Some(now + self.backoff.unwrap_or(PROBE_INTERVAL));
            self.pending = Some(Move::Probe(next));
            next
        } else {
            self.pending = None;
            current
        };
        self.target = Some(target);
    }

    /// Whether a frame of `frame.layer` goes to the viewer: the frames of
    /// its current layer, and the keyframe of the target layer that moves
    /// it there.
    pub fn accept(&mut self, frame: &FrameInfo) -> bool {
        if self.target.is_none() {
            // No rates measured yet: the first layer seen is the target.
            self.target = Some(frame.layer);
        }
        if self.target == Some(frame.layer) && self.current != self.target {
            if frame.keyframe {
                self.current = self.target;
                self.pending = None;
                self.below_since = None;
                return true;
            }
            return false;
        }
        self.current == Some(frame.layer)
    }

    /// The layer to ask a keyframe of, while the viewer waits to switch.
    pub fn wants_keyframe(&self) -> Option<usize> {
        self.target.filter(|t| self.current != Some(*t))
    }
}

/// The simulcast layers of a track by rid (RFC 8852 `rid`, W3C
/// `RTCEncodedVideoFrameMetadata.rid`): each rid gets a stable layer
/// index, in the order its first frame came; frames without a rid are
/// layer 0 (no simulcast).
#[derive(Debug, Default, Clone)]
pub struct Rids {
    rids: Vec<Option<String>>,
}

impl Rids {
    /// The layer of frames with `rid` (a new index for a rid not seen).
    pub fn layer(&mut self, rid: Option<&str>) -> usize {
        if let Some(i) = self.rids.iter().position(|r| r.as_deref() == rid) {
            return i;
        }
        self.rids.push(rid.map(str::to_owned));
        self.rids.len() - 1
    }

    /// The rid of `layer` (`None` without simulcast or for a layer not
    /// seen).
    pub fn rid(&self, layer: usize) -> Option<&str> {
        self.rids.get(layer).and_then(|r| r.as_deref())
    }
}

/// One viewer's state.
#[derive(Debug, Default)]
struct Viewer {
    selector: LayerSelector,
    /// After a drop: nothing until a keyframe of the current layer.
    resync: bool,
}

/// Each layer's bytes over the last [`RATE_WINDOW`] (a sliding window of
/// frame sizes).
#[derive(Debug, Default)]
struct LayerRates {
    layers: Vec<Window>,
}

/// One layer's frames in the window.
#[derive(Debug, Default)]
struct Window {
    /// Arrival, bytes, keyframe.
    frames: VecDeque<(Instant, usize, bool)>,
    /// Bytes of its delta frames, and their count.
    delta_bytes: u64,
    deltas: usize,
    /// Bytes of all its frames.
    bytes: u64,
    /// Its last measured bitrate.
    last_rate: u64,
}

impl LayerRates {
    fn add(&mut self, now: Instant, frame: &FrameInfo) {
        if self.layers.len() <= frame.layer {
            self.layers.resize_with(frame.layer + 1, Default::default);
        }
        let w = &mut self.layers[frame.layer];
        w.frames.push_back((now, frame.bytes, frame.keyframe));
        w.bytes += frame.bytes as u64;
        if !frame.keyframe {
            w.delta_bytes += frame.bytes as u64;
            w.deltas += 1;
        }
        self.expire(now);
    }

    fn expire(&mut self, now: Instant) {
        for w in &mut self.layers {
            while let Some(&(at, bytes, key)) = w.frames.front() {
                if now.saturating_duration_since(at) < RATE_WINDOW {
                    break;
                }
                w.frames.pop_front();
                w.bytes -= bytes as u64;
                if !key {
                    w.delta_bytes -= bytes as u64;
                    w.deltas -= 1;
                }
            }
        }
    }

    /// Each layer's bitrate over the window. The steady rate: its delta
    /// frames' mean size at its frame rate, so that a keyframe (tens of
    /// delta frames' worth, sent only when asked) does not make the layer
    /// look twice as dear for a second; a layer of keyframes alone counts
    /// them all. Over the time its frames span (n frames span n - 1
    /// intervals). A layer whose frames span less than [`MIN_SPAN`] (it
    /// just started or resumed: a publisher turns its top layer off while
    /// its own estimate is low, and resumes it with a keyframe) is not
    /// measured: it keeps its last measured rate.
    fn rates(&mut self, now: Instant) -> Vec<LayerRate> {
        self.expire(now);
        self.layers
            .iter_mut()
            .map(|w| {
                let n = w.frames.len();
                let span = match (w.frames.front(), w.frames.back()) {
                    (Some(first), Some(last)) if n >= 2 => {
                        Some(last.0.saturating_duration_since(first.0))
                    }
                    _ => None,
                };
                if let Some(span) = span.filter(|s| *s >= MIN_SPAN) {
                    let bytes = if w.deltas > 0 {
                        w.delta_bytes as f64 * n as f64 / w.deltas as f64
                    } else {
                        w.bytes as f64
                    };
                    let secs = (span.as_secs_f64() * n as f64 / (n - 1) as f64)
                        .min(RATE_WINDOW.as_secs_f64());
                    w.last_rate = (bytes * 8.0 / secs) as u64;
                    LayerRate {
                        bps: w.last_rate,
                        sending: true,
                        measured: true,
                    }
                } else {
                    LayerRate {
                        bps: w.last_rate,
                        sending: n > 0,
                        measured: false,
                    }
                }
            })
            .collect()
    }
}

/// The fan-out of one published track to its viewers.
#[derive(Debug, Default)]
pub struct Forwarder {
    viewers: BTreeMap<ViewerId, Viewer>,
    rates: LayerRates,
    /// When the viewers' targets were last recomputed.
    last_update: Option<Instant>,
    /// Per layer: when a keyframe was last asked for, and whether one is
    /// wanted now.
    keyframes: BTreeMap<usize, (Option<Instant>, bool)>,
}

impl Forwarder {
    /// An empty forwarder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Viewers now.
    pub fn viewer_count(&self) -> usize {
        self.viewers.len()
    }

    /// A viewer joins: it gets frames from the next keyframe on, and one is
    /// asked for.
    pub fn add_viewer(&mut self, now: Instant, id: ViewerId) {
        let mut viewer = Viewer::default();
        viewer.selector.update(now, &self.rates.rates(now));
        let layer = viewer.selector.target().unwrap_or(0);
        self.viewers.insert(id, viewer);
        self.want_keyframe(layer);
    }

    /// A viewer leaves.
    pub fn remove_viewer(&mut self, id: ViewerId) {
        self.viewers.remove(&id);
    }

    /// The viewer's bandwidth estimate changed (bits per second): its
    /// target layer follows, and a keyframe of a new target is asked for.
    pub fn set_available_bitrate(&mut self, now: Instant, id: ViewerId, bps: u64) {
        let rates = self.rates.rates(now);
        if let Some(v) = self.viewers.get_mut(&id) {
            v.selector.set_available(bps);
            v.selector.update(now, &rates);
            if let Some(layer) = v.selector.wants_keyframe() {
                self.want_keyframe(layer);
            }
        }
    }

    /// The viewer asked for a keyframe (its decoder lost track): passed up,
    /// rate-limited.
    pub fn on_keyframe_request(&mut self, id: ViewerId) {
        if let Some(v) = self.viewers.get(&id) {
            let layer = v.selector.current().or(v.selector.target()).unwrap_or(0);
            self.want_keyframe(layer);
        }
    }

    /// A frame for the viewer was lost (its queue was full, or its sender
    /// refused it): it gets nothing more until a keyframe.
    pub fn on_dropped(&mut self, id: ViewerId) {
        if let Some(v) = self.viewers.get_mut(&id) {
            v.resync = true;
            let layer = v.selector.current().or(v.selector.target()).unwrap_or(0);
            self.want_keyframe(layer);
        }
    }

    /// A frame of the publisher: `out` is filled with the viewers it goes
    /// to (cleared first).
    pub fn on_frame(&mut self, now: Instant, frame: FrameInfo, out: &mut Vec<ViewerId>) {
        out.clear();
        if frame.gap {
            // Frames of any layer may be gone: every viewer on another
            // layer waits for a keyframe of its own.
            let mut layers = Vec::new();
            for v in self.viewers.values_mut() {
                let Some(layer) = v.selector.current() else {
                    continue;
                };
                if layer != frame.layer {
                    v.resync = true;
                    if !layers.contains(&layer) {
                        layers.push(layer);
                    }
                }
            }
            for layer in layers {
                self.want_keyframe(layer);
            }
        }
        self.rates.add(now, &frame);
        // Targets follow the rates at each keyframe (of any layer) and
        // every UPDATE_INTERVAL.
        let due = self
            .last_update
            .is_none_or(|t| now.saturating_duration_since(t) >= UPDATE_INTERVAL);
        let rates = (frame.keyframe || due).then(|| self.rates.rates(now));
        if due {
            self.last_update = Some(now);
        }
        let mut wanted = Vec::new();
        for (&id, v) in &mut self.viewers {
            if let Some(rates) = &rates {
                v.selector.update(now, rates);
            }
            let accepted = v.selector.accept(&frame);
            if let Some(layer) = v.selector.wants_keyframe()
                && !wanted.contains(&layer)
            {
                wanted.push(layer);
            }
            if !accepted {
                continue;
            }
            if v.resync {
                if !frame.keyframe {
                    continue;
                }
                v.resync = false;
            }
            out.push(id);
        }
        if frame.keyframe {
            // This keyframe answers what was asked of its layer.
            if let Some((_, wanted)) = self.keyframes.get_mut(&frame.layer) {
                *wanted = false;
            }
        }
        // Viewers waiting to switch wait for their target's keyframe.
        for layer in wanted {
            self.want_keyframe(layer);
        }
    }

    /// The next keyframe request to send to the publisher (the layer), if
    /// one is wanted and the layer's last request is [`KEYFRAME_INTERVAL`]
    /// old. The keyframe stays wanted until one of that layer arrives: a
    /// lost request (PLI over UDP, RFC 4585 §6.3.1) is sent again every
    /// [`KEYFRAME_INTERVAL`].
    pub fn poll_keyframe_request(&mut self, now: Instant) -> Option<usize> {
        let (&layer, (last, _)) = self.keyframes.iter_mut().find(|(_, (last, wanted))| {
            *wanted && last.is_none_or(|t| now.saturating_duration_since(t) >= KEYFRAME_INTERVAL)
        })?;
        *last = Some(now);
        Some(layer)
    }

    /// When a wanted keyframe request may next be sent.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.keyframes
            .values()
            .filter(|(_, wanted)| *wanted)
            .filter_map(|(last, _)| last.map(|t| t + KEYFRAME_INTERVAL))
            .min()
    }

    fn want_keyframe(&mut self, layer: usize) {
        self.keyframes.entry(layer).or_insert((None, false)).1 = true;
    }
}

/// Keeps a viewer's RTP timestamps in step with the publisher's.
///
/// A sender numbers a frame's timestamp by the durations written before
/// it; the duration of a forwarded frame is only an estimate (the last
/// interval), and a viewer that skipped frames would fall behind for
/// good. So each duration is chosen to bring the viewer's timeline to
/// where the source's is after this frame: the first frame after a gap is
/// early by the gap once, and the next one is back in step (RFC 3550
/// §5.1: the timestamp reflects the sampling instant). Estimation errors
/// do not add up: every frame is measured from the first.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timeline {
    /// The source timestamp of the last frame.
    last: Option<u32>,
    /// Source time from the first frame to the last one.
    source: Duration,
    /// The durations written so far (where the next frame's timestamp is).
    written: Duration,
}

/// A step of the source's clock larger than this is a jump (a new
/// stream, a wrap), not a gap: the timeline starts again from it.
const MAX_STEP: Duration = Duration::from_secs(5);

impl Timeline {
    /// The next frame comes from another source stream (another simulcast
    /// layer, whose RTP clock has its own random start, RFC 3550 §5.1): it
    /// follows the last frame written, one estimated duration later, and
    /// the timeline goes on from it.
    pub fn switch_source(&mut self) {
        self.last = None;
        self.source = self.written;
    }

    /// The duration to write with a frame of source timestamp `timestamp`
    /// (clock `clock` Hz), whose duration is estimated at `estimate`.
    pub fn duration(&mut self, timestamp: u32, clock: u32, estimate: Duration) -> Duration {
        if let Some(previous) = self.last {
            let ticks = timestamp.wrapping_sub(previous);
            let step = Duration::from_secs_f64(f64::from(ticks) / f64::from(clock.max(1)));
            self.source = if step < MAX_STEP {
                self.source + step
            } else {
                self.written
            };
        }
        self.last = Some(timestamp);
        let duration = (self.source + estimate).saturating_sub(self.written);
        self.written += duration;
        duration
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_viewers_timestamps_catch_up_one_frame_after_a_gap() {
        let ms = Duration::from_millis;
        let close = |a: Duration, b: Duration| a.abs_diff(b) < Duration::from_micros(2);
        let mut t = Timeline::default();
        // 30 fps at 90 kHz: 3000 ticks a frame, estimated at 33 ms.
        let d0 = t.duration(0, 90_000, ms(33));
        let d1 = t.duration(3000, 90_000, ms(33));
        // Frames 2 to 9 skipped: frame 10 is early by the gap once, and its
        // duration takes the viewer to where the source's frame 11 is (up
        // to frame 10's own estimate).
        let d10 = t.duration(30_000, 90_000, ms(33));
        let at_11 = d0 + d1 + d10;
        let source_10 = Duration::from_secs_f64(30_000.0 / 90_000.0);
        assert!(close(at_11, source_10 + ms(33)), "{at_11:?}");
        assert!(close(d0 + d1, ms(33) + Duration::from_secs_f64(1.0 / 30.0)));
        // Estimation errors do not add up over many frames.
        for n in 11..1000u32 {
            t.duration(n * 3000, 90_000, ms(33));
        }
        let at_1000 = t.written;
        let expected = Duration::from_secs_f64(999.0 * 3000.0 / 90_000.0) + ms(33);
        assert!(close(at_1000, expected), "{at_1000:?} vs {expected:?}");
        // A jump of the source clock is not followed.
        assert_eq!(t.duration(999 * 3000 + 90_000 * 60, 90_000, ms(33)), ms(33));
    }

    fn key(layer: usize) -> FrameInfo {
        FrameInfo {
            layer,
            keyframe: true,
            bytes: 1000,
            gap: false,
        }
    }

    fn delta(layer: usize) -> FrameInfo {
        FrameInfo {
            layer,
            keyframe: false,
            bytes: 100,
            gap: false,
        }
    }

    fn sent(f: &mut Forwarder, now: Instant, frame: FrameInfo) -> Vec<ViewerId> {
        let mut out = Vec::new();
        f.on_frame(now, frame, &mut out);
        out
    }

    #[test]
    fn a_new_viewer_starts_at_a_keyframe_and_one_is_asked_for() {
        let now = Instant::now();
        let mut f = Forwarder::new();
        f.add_viewer(now, 1);
        assert_eq!(f.poll_keyframe_request(now), Some(0));
        assert_eq!(f.poll_keyframe_request(now), None);
        assert_eq!(sent(&mut f, now, delta(0)), Vec::<ViewerId>::new());
        assert_eq!(sent(&mut f, now, key(0)), [1]);
        assert_eq!(sent(&mut f, now, delta(0)), [1]);
    }

    #[test]
    fn a_late_viewer_waits_for_a_keyframe_while_the_others_go_on() {
        let now = Instant::now();
        let mut f = Forwarder::new();
        f.add_viewer(now, 1);
        sent(&mut f, now, key(0));
        f.add_viewer(now, 2);
        assert_eq!(sent(&mut f, now, delta(0)), [1]);
        assert_eq!(sent(&mut f, now, key(0)), [1, 2]);
    }

    #[test]
    fn a_viewer_that_dropped_a_frame_skips_to_the_next_keyframe_alone() {
        let now = Instant::now();
        let mut f = Forwarder::new();
        f.add_viewer(now, 1);
        f.add_viewer(now, 2);
        let _ = f.poll_keyframe_request(now);
        sent(&mut f, now, key(0));
        f.on_dropped(2);
        assert_eq!(sent(&mut f, now, delta(0)), [1], "viewer 2 waits");
        let later = now + KEYFRAME_INTERVAL;
        assert_eq!(f.poll_keyframe_request(later), Some(0), "asked for");
        assert_eq!(sent(&mut f, later, key(0)), [1, 2]);
        assert_eq!(sent(&mut f, later, delta(0)), [1, 2]);
    }

    #[test]
    fn keyframe_requests_of_many_viewers_merge_into_one_per_500_ms() {
        let start = Instant::now();
        let mut f = Forwarder::new();
        for id in 0..10 {
            f.add_viewer(start, id);
        }
        sent(&mut f, start, key(0));
        assert_eq!(
            f.poll_keyframe_request(start),
            None,
            "the keyframe answered them"
        );
        for id in 0..10 {
            f.on_keyframe_request(id);
        }
        assert_eq!(f.poll_keyframe_request(start), Some(0));
        for id in 0..10 {
            f.on_keyframe_request(id);
        }
        let soon = start + Duration::from_millis(100);
        assert_eq!(f.poll_keyframe_request(soon), None, "rate-limited");
        assert_eq!(f.poll_timeout(), Some(start + KEYFRAME_INTERVAL));
        assert_eq!(f.poll_keyframe_request(start + KEYFRAME_INTERVAL), Some(0));
        sent(&mut f, start + KEYFRAME_INTERVAL, key(0));
        assert_eq!(f.poll_timeout(), None, "answered: nothing more to ask");
    }

    #[test]
    fn a_keyframe_request_is_repeated_every_interval_until_a_keyframe_arrives() {
        let start = Instant::now();
        let mut f = Forwarder::new();
        f.add_viewer(start, 1);
        assert_eq!(f.poll_keyframe_request(start), Some(0));
        // The request (or the keyframe) was lost: only delta frames come.
        sent(&mut f, start, delta(0));
        assert_eq!(f.poll_timeout(), Some(start + KEYFRAME_INTERVAL));
        let again = start + KEYFRAME_INTERVAL;
        assert_eq!(f.poll_keyframe_request(again), Some(0), "asked again");
        assert_eq!(f.poll_keyframe_request(again), None, "once per interval");
        let third = again + KEYFRAME_INTERVAL;
        assert_eq!(f.poll_keyframe_request(third), Some(0), "and again");
        assert_eq!(sent(&mut f, third, key(0)), [1]);
        assert_eq!(f.poll_keyframe_request(third + 4 * KEYFRAME_INTERVAL), None);
        assert_eq!(f.poll_timeout(), None);
    }

    #[test]
    fn a_removed_viewer_gets_nothing_more() {
        let now = Instant::now();
        let mut f = Forwarder::new();
        f.add_viewer(now, 1);
        f.add_viewer(now, 2);
        f.remove_viewer(1);
        assert_eq!(sent(&mut f, now, key(0)), [2]);
        assert_eq!(f.viewer_count(), 1);
    }

    /// Three layers at 150 kbit/s, 500 kbit/s, 1.5 Mbit/s.
    const RATES: [u64; 3] = [150_000, 500_000, 1_500_000];

    fn measured(rates: &[u64]) -> Vec<LayerRate> {
        rates
            .iter()
            .map(|&bps| LayerRate {
                bps,
                sending: bps > 0,
                measured: bps > 0,
            })
            .collect()
    }

    #[test]
    fn the_selector_picks_the_highest_layer_that_fits_the_estimate() {
        let now = Instant::now();
        let mut s = LayerSelector::default();
        s.update(now, &measured(&RATES));
        assert_eq!(s.target(), Some(2), "no estimate: the top layer");
        s.set_available(700_000);
        s.update(now, &measured(&RATES));
        assert_eq!(s.target(), Some(1));
        s.set_available(100_000);
        s.update(now, &measured(&RATES));
        assert_eq!(s.target(), Some(0), "none fits: the lowest");
        s.set_available(10_000_000);
        s.update(now, &measured(&[0, 500_000, 0]));
        assert_eq!(s.target(), Some(1), "a layer sending nothing is skipped");
    }

    #[test]
    fn the_selector_switches_only_at_a_keyframe_of_the_target_layer() {
        let now = Instant::now();
        let mut s = LayerSelector::default();
        s.set_available(700_000);
        s.update(now, &measured(&RATES));
        assert!(!s.accept(&delta(1)));
        assert!(s.accept(&key(1)));
        assert_eq!(s.current(), Some(1));
        assert!(!s.accept(&key(0)), "other layers are not forwarded");
        // The estimate drops: layer 0 is the target, layer 1 goes on until
        // layer 0's keyframe.
        s.set_available(200_000);
        s.update(now, &measured(&RATES));
        assert_eq!(s.wants_keyframe(), Some(0));
        assert!(s.accept(&delta(1)));
        assert!(!s.accept(&delta(0)));
        assert!(s.accept(&key(0)));
        assert!(!s.accept(&delta(1)));
        assert!(s.accept(&delta(0)));
        assert_eq!(s.wants_keyframe(), None);
    }

    #[test]
    fn the_selector_needs_headroom_to_go_up_but_not_to_stay() {
        let now = Instant::now();
        let mut s = LayerSelector::default();
        s.set_available(520_000);
        s.update(now, &measured(&RATES));
        assert!(s.accept(&key(1)), "from nothing, layer 1 fits as is");
        s.set_available(160_000);
        s.update(now, &measured(&RATES));
        assert!(s.accept(&key(0)));
        // 520 kbit/s fits layer 1's 500 kbit/s, but not with the headroom.
        s.set_available(520_000);
        s.update(now, &measured(&RATES));
        assert_eq!(s.target(), Some(0), "no flapping up at the edge");
        s.set_available(700_000);
        s.update(now, &measured(&RATES));
        assert_eq!(s.target(), Some(1));
    }

    #[test]
    fn the_forwarder_gives_each_viewer_its_own_layer() {
        let start = Instant::now();
        let mut f = Forwarder::new();
        // A second of all three layers measures their rates.
        let mut t = start;
        for _ in 0..30 {
            for (layer, rate) in RATES.iter().enumerate() {
                let bytes = (rate / 8 / 30) as usize;
                let mut out = Vec::new();
                f.on_frame(
                    t,
                    FrameInfo {
                        layer,
                        keyframe: false,
                        bytes,
                        gap: false,
                    },
                    &mut out,
                );
            }
            t += Duration::from_millis(34);
        }
        f.add_viewer(t, 1);
        f.add_viewer(t, 2);
        f.set_available_bitrate(t, 1, 5_000_000);
        f.set_available_bitrate(t, 2, 300_000);
        let key_of = |layer| FrameInfo {
            layer,
            keyframe: true,
            bytes: 1,
            gap: false,
        };
        assert_eq!(
            sent(&mut f, t, key_of(2)),
            [1],
            "the fast viewer gets the top layer"
        );
        assert_eq!(sent(&mut f, t, key_of(1)), Vec::<ViewerId>::new());
        assert_eq!(sent(&mut f, t, key_of(0)), [2], "the slow one the lowest");
    }

    /// A second of frames of each layer at its bitrate, `layers[i]` being
    /// layer `i`'s rid; each layer's first frame a keyframe. Returns when
    /// it ended.
    fn measure(
        f: &mut Forwarder,
        rids: &mut Rids,
        start: Instant,
        layers: &[(&str, u64)],
    ) -> Instant {
        let mut t = start;
        for n in 0..30 {
            for (rid, rate) in layers {
                let frame = FrameInfo {
                    layer: rids.layer(Some(rid)),
                    keyframe: n == 0,
                    bytes: (rate / 8 / 30) as usize,
                    gap: false,
                };
                sent(f, t, frame);
            }
            t += Duration::from_millis(34);
        }
        t
    }

    #[test]
    fn layers_rank_by_their_measured_bitrate_whatever_their_rids() {
        let mut rids = Rids::default();
        let mut f = Forwarder::new();
        // The top layer's rid comes first and is called "a".
        let layers = [("a", 1_500_000), ("zz", 150_000), ("m", 500_000)];
        let t = measure(&mut f, &mut rids, Instant::now(), &layers);
        assert_eq!(rids.layer(Some("a")), 0);
        assert_eq!(rids.rid(2), Some("m"));
        f.add_viewer(t, 1);
        f.set_available_bitrate(t, 1, 700_000);
        let m = rids.layer(Some("m"));
        // Joining without an estimate aimed at the top layer; the
        // estimate moves the target to the middle one.
        assert_eq!(f.poll_keyframe_request(t), Some(0));
        assert_eq!(
            f.poll_keyframe_request(t),
            Some(m),
            "the middle layer's keyframe asked"
        );
        let key_of = |layer| FrameInfo {
            layer,
            keyframe: true,
            bytes: 2000,
            gap: false,
        };
        assert_eq!(sent(&mut f, t, key_of(0)), Vec::<ViewerId>::new());
        assert_eq!(sent(&mut f, t, key_of(1)), Vec::<ViewerId>::new());
        assert_eq!(
            sent(&mut f, t, key_of(m)),
            [1],
            "the layer that fits 700 kbit/s"
        );
    }

    #[test]
    fn a_viewer_switching_layers_gets_one_layer_at_a_time_from_the_new_layers_keyframe() {
        let mut rids = Rids::default();
        let mut f = Forwarder::new();
        let layers = [("q", 150_000), ("h", 500_000), ("f", 1_500_000)];
        let mut t = measure(&mut f, &mut rids, Instant::now(), &layers);
        f.add_viewer(t, 1);
        f.set_available_bitrate(t, 1, 5_000_000);
        let (q, fl) = (rids.layer(Some("q")), rids.layer(Some("f")));
        assert_eq!(f.poll_keyframe_request(t), Some(fl));
        // Interleaved frames of the three layers, as a simulcast receiver
        // gives them; the top layer's keyframe at round 2, the estimate
        // drops at round 5, the low layer's keyframe at round 8.
        let mut got = Vec::new();
        for round in 0..12 {
            if round == 5 {
                f.set_available_bitrate(t, 1, 200_000);
                assert_eq!(
                    f.poll_keyframe_request(t),
                    Some(q),
                    "the low layer is asked"
                );
            }
            for (rid, rate) in layers {
                let layer = rids.layer(Some(rid));
                let keyframe = (round == 2 && layer == fl) || (round == 8 && layer == q);
                let frame = FrameInfo {
                    layer,
                    keyframe,
                    bytes: (rate / 8 / 30) as usize,
                    gap: false,
                };
                if sent(&mut f, t, frame) == [1] {
                    got.push((round, rid, keyframe));
                }
            }
            t += Duration::from_millis(34);
        }
        let expected: Vec<_> = (2..8)
            .map(|r| (r, "f", r == 2))
            .chain((8..12).map(|r| (r, "q", r == 8)))
            .collect();
        assert_eq!(
            got, expected,
            "one layer per frame time, switching at keyframes"
        );
    }

    #[test]
    fn a_layer_switch_keeps_the_viewers_timestamps_continuous() {
        let ms = Duration::from_millis;
        let mut t = Timeline::default();
        // Layer A's clock starts at 1000, layer B's at 4_000_000_000.
        let mut at = Duration::ZERO;
        for n in 0..3u32 {
            at += t.duration(1000 + n * 3000, 90_000, ms(33));
        }
        t.switch_source();
        let d = t.duration(4_000_000_000, 90_000, ms(33));
        assert_eq!(d, ms(33), "the switch frame lasts its estimate");
        let d = t.duration(4_000_003_000, 90_000, ms(33));
        let step = Duration::from_secs_f64(3000.0 / 90_000.0);
        assert!(
            d.abs_diff(step) < Duration::from_micros(2),
            "then the new clock: {d:?}"
        );
    }

    /// A viewer with room for every layer, on the top one.
    fn on_the_top_layer(start: Instant) -> LayerSelector {
        let mut s = LayerSelector::default();
        s.set_available(5_000_000);
        s.update(start, &measured(&RATES));
        assert!(s.accept(&key(2)));
        s
    }

    /// The estimate falls under the layer a probe reached at `failed`:
    /// back down, and the next probe waits twice as long.
    fn fails_and_backs_off(s: &mut LayerSelector, failed: Instant) {
        s.set_available(180_000);
        s.update(failed, &measured(&RATES));
        assert_eq!(s.target(), Some(0));
        assert!(s.accept(&key(0)));
        s.set_available(210_000);
        s.update(failed + PROBE_INTERVAL, &measured(&RATES));
        assert_eq!(s.target(), Some(0), "backed off");
        s.update(failed + 2 * PROBE_INTERVAL, &measured(&RATES));
        assert_eq!(s.target(), Some(1), "probed again");
    }

    #[test]
    fn a_viewer_on_a_low_layer_probes_one_layer_up_and_backs_off_when_it_fails() {
        let start = Instant::now();
        let mut s = on_the_top_layer(start);
        // Congestion: down to the layer that fits.
        s.set_available(170_000);
        s.update(start, &measured(&RATES));
        assert_eq!(s.target(), Some(0));
        assert!(s.accept(&key(0)));
        // The estimate grows with what is sent, to 1.4 times the low layer:
        // never the headroom of the middle one.
        s.set_available(210_000);
        let probe = start + PROBE_INTERVAL;
        s.update(probe - Duration::from_millis(1), &measured(&RATES));
        assert_eq!(s.target(), Some(0), "not before the probe interval");
        s.update(probe, &measured(&RATES));
        assert_eq!(s.target(), Some(1), "a probe one layer up");
        assert!(s.accept(&key(1)));
        // Rising after the switch up is not congestion: it stays.
        s.set_available(300_000);
        s.update(probe + Duration::from_millis(500), &measured(&RATES));
        assert_eq!(s.target(), Some(1));
        // The path cannot carry it: the estimate falls; back down.
        fails_and_backs_off(&mut s, probe + Duration::from_secs(1));
    }

    /// Sets the estimate to `bps` at `at`: the viewer's target is `layer`,
    /// and that layer's keyframe moves it there.
    fn moves_to(s: &mut LayerSelector, at: Instant, bps: u64, layer: usize) {
        s.set_available(bps);
        s.update(at, &measured(&RATES));
        assert_eq!(s.target(), Some(layer));
        assert!(s.accept(&key(layer)));
    }

    /// On the low layer after a probe to the middle one failed at
    /// `failed` (the next probe due at `failed + 2 * PROBE_INTERVAL`).
    fn after_a_failed_probe(start: Instant) -> (LayerSelector, Instant) {
        let mut s = on_the_top_layer(start);
        moves_to(&mut s, start, 170_000, 0);
        // A probe one layer up; the path cannot carry it: back down.
        let probe = start + PROBE_INTERVAL;
        moves_to(&mut s, probe, 210_000, 1);
        let failed = probe + Duration::from_secs(1);
        moves_to(&mut s, failed, 180_000, 0);
        (s, failed)
    }

    /// From the low layer, an estimate leaping at `leap` moves the viewer
    /// straight to the top layer, which fails a second later (returned):
    /// back to the lowest.
    fn leaps_to_the_top_and_fails(s: &mut LayerSelector, leap: Instant) -> Instant {
        moves_to(s, leap, 2_000_000, 2);
        let failed = leap + Duration::from_secs(1);
        moves_to(s, failed, 180_000, 0);
        failed
    }

    #[test]
    fn after_a_failed_probe_a_jump_of_the_estimate_waits_for_the_next_probe() {
        let (mut s, failed) = after_a_failed_probe(Instant::now());
        // A burst the path let through makes the estimate jump to where
        // the middle layer fits with headroom: not yet.
        s.set_available(700_000);
        s.update(failed + Duration::from_secs(1), &measured(&RATES));
        assert_eq!(s.target(), Some(0), "not up to the layer that just failed");
        s.update(
            failed + 2 * PROBE_INTERVAL - Duration::from_millis(1),
            &measured(&RATES),
        );
        assert_eq!(s.target(), Some(0));
        // Once the next probe is due, the estimate counts again.
        s.update(failed + 2 * PROBE_INTERVAL, &measured(&RATES));
        assert_eq!(s.target(), Some(1));
    }

    #[test]
    fn the_layer_that_failed_stays_held_back_when_its_measured_rate_moves() {
        let (mut s, failed) = after_a_failed_probe(Instant::now());
        s.set_available(700_000);
        // The encoder's rate moves: the layer measures a little less.
        let cheaper = measured(&[150_000, 490_000, 1_500_000]);
        s.update(failed + Duration::from_secs(1), &cheaper);
        assert_eq!(s.target(), Some(0), "the same layer, cheaper by 2 %");
        s.update(failed + 2 * PROBE_INTERVAL, &cheaper);
        assert_eq!(s.target(), Some(1));
    }

    #[test]
    fn a_failure_is_forgotten_once_the_next_probe_was_due() {
        let (mut s, failed) = after_a_failed_probe(Instant::now());
        // The estimate stays under the probe headroom past the next probe.
        let due = failed + 2 * PROBE_INTERVAL;
        s.update(due, &measured(&RATES));
        assert_eq!(s.target(), Some(0));
        // Much later a dip (the next probe waits again), then a jump:
        // nothing is held back for the old failure.
        let later = due + Duration::from_secs(60);
        s.set_available(100_000);
        s.update(later, &measured(&RATES));
        assert_eq!(s.target(), Some(0));
        s.set_available(700_000);
        s.update(later + Duration::from_secs(1), &measured(&RATES));
        assert_eq!(s.target(), Some(1));
    }

    #[test]
    fn a_cheaper_layer_holding_does_not_end_the_wait_for_the_one_that_failed() {
        let start = Instant::now();
        let mut s = LayerSelector::default();
        moves_to(&mut s, start, 170_000, 0);
        // Leaps to the top layer fail at once, three times: the third time
        // the next probe waits 16 s, longer than a trial.
        leaps_to_the_top_and_fails(&mut s, start + Duration::from_secs(1));
        leaps_to_the_top_and_fails(&mut s, start + Duration::from_secs(10));
        let failed = leaps_to_the_top_and_fails(&mut s, start + Duration::from_secs(20));
        // The middle layer fits, is moved up to and holds past its trial,
        // before the next probe is due.
        let up = failed + Duration::from_millis(100);
        moves_to(&mut s, up, 700_000, 1);
        s.set_available(720_000);
        s.update(up + PROBE_TRIAL, &measured(&RATES));
        assert_eq!(s.target(), Some(1));
        // A jump that fits the top layer: still held back, until the
        // next probe is due.
        s.set_available(2_000_000);
        s.update(
            up + PROBE_TRIAL + Duration::from_millis(1),
            &measured(&RATES),
        );
        assert_eq!(s.target(), Some(1), "the top layer failed: not yet");
        s.update(failed + 4 * PROBE_INTERVAL, &measured(&RATES));
        assert_eq!(s.target(), Some(2));
    }

    #[test]
    fn after_a_failed_switch_to_the_top_a_lower_layer_that_fits_is_still_moved_up_to() {
        let start = Instant::now();
        let mut s = LayerSelector::default();
        moves_to(&mut s, start, 170_000, 0);
        let failed = leaps_to_the_top_and_fails(&mut s, start + Duration::from_secs(1));
        // Room for the middle layer (not the top): the middle one is not
        // the layer that failed.
        s.set_available(700_000);
        s.update(failed + Duration::from_secs(1), &measured(&RATES));
        assert_eq!(s.target(), Some(1));
    }

    #[test]
    fn a_probe_that_falls_back_seconds_after_its_switch_failed_and_the_next_one_waits_longer() {
        let start = Instant::now();
        let mut s = on_the_top_layer(start);
        moves_to(&mut s, start, 170_000, 0);
        let probe = start + PROBE_INTERVAL;
        moves_to(&mut s, probe, 210_000, 1);
        // A policer's burst allowance carries the layer for a while: the
        // estimate holds, then loss cuts it under the layer, 5 s after the
        // switch (a 4 s trial would have called this a hold).
        s.set_available(480_000);
        for ms in (500..5_000).step_by(500) {
            s.update(probe + Duration::from_millis(ms), &measured(&RATES));
            assert_eq!(s.target(), Some(1));
        }
        fails_and_backs_off(&mut s, probe + Duration::from_secs(5));
    }

    #[test]
    fn a_dip_within_the_trial_of_a_switch_up_with_headroom_holds_the_layer_back_until_the_next_probe()
     {
        let start = Instant::now();
        let mut s = on_the_top_layer(start);
        moves_to(&mut s, start, 1_000_000, 1);
        let up = start + Duration::from_secs(1);
        moves_to(&mut s, up, 5_000_000, 2);
        // The top layer holds for 6 s, then the estimate dips under it.
        let mut t = up;
        while t < up + Duration::from_secs(6) {
            t += Duration::from_millis(500);
            s.update(t, &measured(&RATES));
            assert_eq!(s.target(), Some(2));
        }
        moves_to(&mut s, t, 1_000_000, 1);
        // Back at three times the top layer a second later: a failed
        // switch up all the same, held back until the next probe (8 s:
        // the congestion before the switch up set the first wait).
        s.set_available(5_000_000);
        s.update(t + Duration::from_secs(1), &measured(&RATES));
        assert_eq!(s.target(), Some(1), "held back");
        let due = t + 2 * PROBE_INTERVAL;
        s.update(due - Duration::from_millis(1), &measured(&RATES));
        assert_eq!(s.target(), Some(1), "held back");
        s.update(due, &measured(&RATES));
        assert_eq!(s.target(), Some(2), "once the next probe is due");
    }

    #[test]
    fn a_probe_whose_keyframe_comes_late_is_still_on_trial_when_it_fails() {
        let start = Instant::now();
        let mut s = on_the_top_layer(start);
        s.set_available(170_000);
        s.update(start, &measured(&RATES));
        assert!(s.accept(&key(0)));
        s.set_available(210_000);
        let probe = start + PROBE_INTERVAL;
        s.update(probe, &measured(&RATES));
        assert_eq!(s.target(), Some(1), "a probe one layer up");
        // Its keyframe takes longer than a trial; meanwhile the estimate
        // is fine for the layer the viewer is still on.
        let switched = probe + PROBE_TRIAL + Duration::from_secs(1);
        s.update(switched - Duration::from_millis(500), &measured(&RATES));
        assert!(s.accept(&delta(0)), "still on the low layer");
        assert!(!s.accept(&delta(1)), "not up before the keyframe");
        assert!(s.accept(&key(1)));
        // Right after the switch the path shows it cannot carry it.
        fails_and_backs_off(&mut s, switched + Duration::from_secs(1));
    }

    #[test]
    fn a_probe_that_holds_leads_on_to_the_top_layer() {
        let start = Instant::now();
        let mut s = LayerSelector::default();
        s.set_available(170_000);
        s.update(start, &measured(&RATES));
        assert!(s.accept(&key(0)));
        s.set_available(210_000);
        // Never congested: no wait for the first probe.
        s.update(start, &measured(&RATES));
        assert_eq!(s.target(), Some(1));
        assert!(s.accept(&key(1)));
        // The estimate follows the middle layer up, with room to probe
        // once the switch has held through its trial.
        s.set_available(700_000);
        s.update(start + PROBE_TRIAL / 2, &measured(&RATES));
        assert_eq!(s.target(), Some(1), "still on trial");
        let later = start + PROBE_TRIAL;
        s.update(later, &measured(&RATES));
        assert_eq!(s.target(), Some(2));
    }

    #[test]
    fn a_dip_of_the_estimate_just_below_the_layer_does_not_move_the_viewer() {
        let now = Instant::now();
        let mut s = LayerSelector::default();
        s.set_available(2_000_000);
        s.update(now, &measured(&RATES));
        assert!(s.accept(&key(2)));
        // GCC's decrease: 0.85 of the 1.5 Mbit/s acknowledged.
        s.set_available(1_275_000);
        s.update(now, &measured(&RATES));
        assert_eq!(s.target(), Some(2), "a dip, not congestion");
        s.set_available(1_000_000);
        s.update(now, &measured(&RATES));
        assert_eq!(s.target(), Some(1), "below the margin: down");
    }

    #[test]
    fn a_keyframe_does_not_raise_its_layers_measured_rate() {
        let start = Instant::now();
        let mut rates = LayerRates::default();
        for n in 0..30u32 {
            let frame = FrameInfo {
                layer: 0,
                keyframe: n == 10,
                bytes: if n == 10 { 60_000 } else { 2_000 },
                gap: false,
            };
            rates.add(start + Duration::from_millis(33) * n, &frame);
        }
        // 2000 bytes every 33 ms: 485 kbit/s.
        let rate = rates.rates(start + Duration::from_millis(33) * 29)[0].bps;
        assert!(rate.abs_diff(484_848) < 1_000, "{rate}");
    }

    #[test]
    fn a_layer_that_just_resumed_is_measured_at_its_own_rate() {
        let start = Instant::now();
        let mut rates = LayerRates::default();
        // Layer 0 throughout; layer 1 (ten times dearer) only for the last
        // 300 ms of the window.
        for n in 0..30u32 {
            let at = start + Duration::from_millis(33) * n;
            let delta = |layer, bytes| FrameInfo {
                layer,
                keyframe: false,
                bytes,
                gap: false,
            };
            rates.add(at, &delta(0, 200));
            if n >= 21 {
                rates.add(at, &delta(1, 2000));
            }
        }
        let r = rates.rates(start + Duration::from_millis(33) * 29);
        assert!(r[1].measured, "{r:?}");
        assert!(
            r[1].bps.abs_diff(484_848) < 1_000,
            "not a third of it: {r:?}"
        );
    }

    /// A publisher of simulcast layers at fixed bitrates, 30 frames a
    /// second, answering keyframe requests at the layer's next frame.
    struct Publisher {
        f: Forwarder,
        t: Instant,
        rates: Vec<u64>,
        asked: Vec<bool>,
        /// What viewer 1 got: (when, layer, keyframe).
        got: Vec<(Instant, usize, bool)>,
    }

    impl Publisher {
        fn new(rates: &[u64]) -> Self {
            Self {
                f: Forwarder::new(),
                t: Instant::now(),
                rates: rates.to_vec(),
                asked: vec![true; rates.len()],
                got: Vec::new(),
            }
        }

        /// Frames for `secs` seconds.
        fn play(&mut self, secs: f64) {
            let end = self.t + Duration::from_secs_f64(secs);
            while self.t < end {
                for layer in 0..self.rates.len() {
                    if self.rates[layer] == 0 {
                        continue;
                    }
                    let keyframe = std::mem::take(&mut self.asked[layer]);
                    let bytes = (self.rates[layer] / 8 / 30) as usize;
                    let frame = FrameInfo {
                        layer,
                        keyframe,
                        bytes: if keyframe { bytes * 10 } else { bytes },
                        gap: false,
                    };
                    if sent(&mut self.f, self.t, frame).contains(&1) {
                        self.got.push((self.t, layer, keyframe));
                    }
                }
                while let Some(layer) = self.f.poll_keyframe_request(self.t) {
                    self.asked[layer] = true;
                }
                self.t += Duration::from_millis(33);
            }
        }

        fn estimate(&mut self, bps: u64) {
            self.f.set_available_bitrate(self.t, 1, bps);
        }

        /// The layers viewer 1 switched to since `from` (keyframes of a new
        /// layer).
        fn switches(&self, from: Instant) -> Vec<usize> {
            let mut last = None;
            let mut out = Vec::new();
            for &(at, layer, _) in &self.got {
                if last.is_some_and(|l| l != layer) && at >= from {
                    out.push(layer);
                }
                last = Some(layer);
            }
            out
        }

        fn last_layer(&self) -> Option<usize> {
            self.got.last().map(|g| g.1)
        }
    }

    #[test]
    fn a_probe_up_reaches_the_higher_layers_keyframe() {
        let mut p = Publisher::new(&RATES);
        p.play(1.0);
        p.f.add_viewer(p.t, 1);
        p.estimate(5_000_000);
        p.play(1.0);
        assert_eq!(p.last_layer(), Some(2));
        p.estimate(170_000);
        p.play(1.0);
        assert_eq!(p.last_layer(), Some(0), "down on congestion");
        let flat = p.t;
        p.estimate(210_000);
        p.play(30.0);
        let switches = p.switches(flat);
        assert!(
            switches.contains(&1),
            "the probe took the viewer up to layer 1: {switches:?}"
        );
        // Each probe failed (the estimate stayed flat): backed off, so
        // only a few in 30 s.
        assert!(switches.len() <= 8, "{switches:?}");
    }

    #[test]
    fn a_layer_resuming_with_a_keyframe_does_not_look_cheap() {
        let mut p = Publisher::new(&[150_000, 1_500_000]);
        p.play(1.0);
        // The top layer pauses for two seconds.
        p.rates[1] = 0;
        p.f.add_viewer(p.t, 1);
        p.estimate(450_000);
        p.play(2.0);
        assert_eq!(p.last_layer(), Some(0));
        // It resumes with a 40 KB keyframe: 320 kbit/s over a second.
        let resumed = p.t;
        let frame = FrameInfo {
            layer: 1,
            keyframe: true,
            bytes: 40_000,
            gap: false,
        };
        assert_eq!(sent(&mut p.f, p.t, frame), Vec::<ViewerId>::new());
        p.rates[1] = 1_500_000;
        p.play(0.3);
        assert_eq!(p.switches(resumed), Vec::<usize>::new());
    }

    #[test]
    fn a_first_estimate_below_the_layer_moves_the_viewer_down() {
        let mut p = Publisher::new(&RATES);
        p.play(1.0);
        p.f.add_viewer(p.t, 1);
        p.play(1.0);
        assert_eq!(p.last_layer(), Some(2), "no estimate: the top layer");
        p.estimate(300_000);
        p.play(2.0);
        assert_eq!(p.last_layer(), Some(0));
    }

    #[test]
    fn an_estimate_flat_below_the_layer_moves_the_viewer_down_after_a_while() {
        let mut p = Publisher::new(&RATES);
        p.play(1.0);
        p.f.add_viewer(p.t, 1);
        p.estimate(1_600_000);
        p.play(1.0);
        assert_eq!(p.last_layer(), Some(2));
        // The top layer gets dearer; the estimate does not move.
        p.rates[2] = 2_500_000;
        p.play(2.0);
        assert_eq!(p.last_layer(), Some(2), "not at once");
        p.play(3.0);
        assert_eq!(p.last_layer(), Some(1));
    }

    #[test]
    fn a_decided_down_switch_waits_for_its_keyframe_even_if_the_estimate_rises() {
        let mut p = Publisher::new(&RATES);
        p.play(1.0);
        p.f.add_viewer(p.t, 1);
        p.estimate(5_000_000);
        p.play(1.0);
        assert_eq!(p.last_layer(), Some(2));
        p.estimate(1_000_000);
        // Before layer 1's keyframe, the estimate rises a little.
        p.estimate(1_100_000);
        let key = FrameInfo {
            layer: 1,
            keyframe: true,
            bytes: 20_000,
            gap: false,
        };
        assert_eq!(sent(&mut p.f, p.t, key), [1], "the down switch holds");
    }

    #[test]
    fn after_a_receiver_gap_viewers_on_other_layers_wait_for_their_keyframe() {
        let mut p = Publisher::new(&RATES);
        p.play(1.0);
        p.f.add_viewer(p.t, 1);
        p.f.add_viewer(p.t, 2);
        p.f.set_available_bitrate(p.t, 1, 600_000);
        p.f.set_available_bitrate(p.t, 2, 5_000_000);
        p.play(1.0);
        assert_eq!(p.last_layer(), Some(1));
        // The receiver dropped frames; the next is a keyframe of layer 2.
        let t = p.t;
        let gap = FrameInfo {
            layer: 2,
            keyframe: true,
            bytes: 20_000,
            gap: true,
        };
        assert_eq!(sent(&mut p.f, t, gap), [2], "viewer 2 goes on from it");
        let delta1 = FrameInfo {
            layer: 1,
            keyframe: false,
            bytes: 2_000,
            gap: false,
        };
        assert_eq!(
            sent(&mut p.f, t, delta1),
            Vec::<ViewerId>::new(),
            "viewer 1's references may be gone"
        );
        let later = t + KEYFRAME_INTERVAL;
        let asked: Vec<_> = std::iter::from_fn(|| p.f.poll_keyframe_request(later)).collect();
        assert!(asked.contains(&1), "layer 1 is asked: {asked:?}");
        let key1 = FrameInfo {
            keyframe: true,
            ..delta1
        };
        assert_eq!(sent(&mut p.f, t, key1), [1]);
    }

    #[test]
    fn with_no_layer_sending_a_new_viewer_waits_for_the_lowest_known_layer() {
        // The top layer first, at index 0.
        let mut p = Publisher::new(&[1_500_000, 150_000]);
        p.play(1.0);
        // Everything pauses for longer than the window.
        let t = p.t + RATE_WINDOW * 2;
        p.f.add_viewer(t, 1);
        assert_eq!(p.f.poll_keyframe_request(t), Some(1));
    }

    #[test]
    fn a_probe_whose_estimate_keeps_rising_stays_up() {
        let mut p = Publisher::new(&RATES);
        p.play(1.0);
        p.f.add_viewer(p.t, 1);
        p.estimate(170_000);
        p.play(1.0);
        assert_eq!(p.last_layer(), Some(0));
        p.estimate(210_000);
        p.play(1.0);
        assert_eq!(p.last_layer(), Some(1), "probed up");
        // The estimate follows what is sent, 10 % a second.
        let mut bps = 210_000.0;
        for _ in 0..8 {
            bps *= 1.1;
            p.estimate(bps as u64);
            p.play(1.0);
            assert_eq!(p.last_layer(), Some(1), "at {bps}");
        }
    }
}
