//! Fan-out of one stream of events (a connection's or a channel's) to
//! every subscriber.
//!
//! The task publishes each event once; every subscription then receives
//! its own copy (messages are shared, not copied). Events published before
//! anyone subscribed wait in a backlog that the first subscription takes,
//! so that a handle read a little after it was created misses nothing.
//!
//! Received bytes count against the connection's [`ReceiveGate`] once per
//! subscription holding them unread (and once while in the backlog); a
//! subscription releases them as it reads, or all at once when dropped.
//!
//! Each subscription is one small queue that holds only what is unread
//! (a drained queue keeps room for a few KiB of events at most), not a channel: a
//! tokio channel allocates room for 32 events at its first send, and a
//! connection with 10,000 idle peers pays that for every subscription.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use crate::data_channel::ReceiveGate;

/// Room a drained queue keeps: enough for the bursts of a busy channel, so
/// that streaming does not free and regrow the queue at every read; a queue
/// that grew beyond it (a reader that fell behind) gives it all back.
const KEEP_DRAINED_BYTES: usize = 4096;

/// Called when `queue` has just been drained.
pub(crate) fn trim_drained<T>(queue: &mut VecDeque<T>) {
    trim_drained_to(queue, KEEP_DRAINED_BYTES);
}

/// Called when `queue` has just been drained: keeps at most `keep` bytes
/// of room.
fn trim_drained_to<T>(queue: &mut VecDeque<T>, keep: usize) {
    if queue.capacity() * std::mem::size_of::<T>() > keep {
        *queue = VecDeque::new();
    }
}

/// Bytes of the receive gate an event holds while unread, and what a
/// bounded hub needs to know to drop events.
pub(crate) trait Weight {
    /// Room a drained subscription keeps for these events (see
    /// [`KEEP_DRAINED_BYTES`]).
    const KEEP_DRAINED: usize = KEEP_DRAINED_BYTES;

    /// Zero for everything but received messages and frames.
    fn weight(&self) -> usize;

    /// Whether a reader of a [`QueueLimit::keyframes`] stream can start
    /// again at this event after a gap (a video keyframe).
    fn is_keyframe(&self) -> bool {
        false
    }

    /// Events dropped right before this one (see
    /// [`set_dropped_before`](Self::set_dropped_before)).
    fn dropped_before(&self) -> u64 {
        0
    }

    /// Tells the event that `n` events were dropped right before it.
    fn set_dropped_before(&mut self, _n: u64) {}

    /// Whether this event, published while `queued` waits unread as the
    /// last event, adds nothing to it (it is then not queued: keyframe requests merge).
    fn merges_into(&self, _queued: &Self) -> bool {
        false
    }

    /// Whether at most one event for which this holds waits unread in a
    /// queue, wherever it stands: one published while another waits adds
    /// nothing and is not queued (a notice of a state that the reader looks
    /// up when it reads it, as W3C `bufferedamountlow`).
    fn coalesces(&self) -> bool {
        false
    }

    /// Whether this event counts against [`MAX_CAPPED`](Self::MAX_CAPPED).
    fn capped(&self) -> bool {
        false
    }

    /// Capped events (see [`capped`](Self::capped)) one queue holds unread
    /// at most: one published while that many wait is dropped, and counted
    /// on the next event queued (see
    /// [`set_dropped_before`](Self::set_dropped_before)).
    const MAX_CAPPED: usize = usize::MAX;
}

/// What one subscription (and the backlog) of a bounded hub holds unread
/// at most; one event is always kept, however large.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QueueLimit {
    /// Events.
    pub(crate) events: usize,
    /// Bytes (the events' [`Weight`]).
    pub(crate) bytes: usize,
    /// The stream depends on keyframes (video): past the limit it drops
    /// up to the next queued keyframe, or everything until the next one
    /// (and the hub asks for one, see [`Hub::take_keyframe_wanted`]);
    /// otherwise (audio) it drops the oldest events.
    pub(crate) keyframes: bool,
}

/// Unread events of one subscription or of the backlog.
#[derive(Debug)]
struct Unread<E> {
    events: VecDeque<E>,
    /// Their weight.
    bytes: usize,
    /// Events dropped and not yet told to a later one.
    lost: u64,
    /// A keyframe stream was dropped to nothing: events are dropped until
    /// a keyframe.
    skip_until_keyframe: bool,
    /// Of `events`, those that [coalesce](Weight::coalesces) (0 or 1).
    coalescing: usize,
    /// Of `events`, those [capped](Weight::capped).
    capped: usize,
}

/// What [`Unread::push`] did.
#[derive(Debug, Default)]
struct Pushed {
    /// The event was queued (and may have been dropped again since,
    /// counted in `released`).
    queued: bool,
    /// Weight of the queued events dropped to stay within the limit.
    released: usize,
    /// A keyframe stream lost its every keyframe: ask for one.
    keyframe_wanted: bool,
}

impl<E: Weight> Unread<E> {
    fn new() -> Self {
        Unread {
            events: VecDeque::new(),
            bytes: 0,
            lost: 0,
            skip_until_keyframe: false,
            coalescing: 0,
            capped: 0,
        }
    }

    /// Counts `event` in (`queued`) or out of the coalescing and capped
    /// events, and its weight in or out of `bytes`.
    fn count(&mut self, event: &E, queued: bool) {
        let step = |n: &mut usize, counts: bool| {
            if counts {
                *n = if queued { *n + 1 } else { *n - 1 };
            }
        };
        step(&mut self.coalescing, event.coalesces());
        step(&mut self.capped, event.capped());
        if queued {
            self.bytes += event.weight();
        } else {
            self.bytes -= event.weight();
        }
    }

    /// Queues `event` unless it merges into a queued one, then drops what
    /// `limit` requires.
    fn push(&mut self, mut event: E, limit: Option<&QueueLimit>) -> Pushed {
        let mut out = Pushed::default();
        if self.events.back().is_some_and(|q| event.merges_into(q))
            || (self.coalescing > 0 && event.coalesces())
        {
            return out;
        }
        if self.capped >= E::MAX_CAPPED && event.capped() {
            self.lost += 1;
            return out;
        }
        if let Some(limit) = limit
            && limit.keyframes
            && self.skip_until_keyframe
        {
            if !event.is_keyframe() {
                self.lost += 1;
                return out;
            }
            self.skip_until_keyframe = false;
        }
        if self.lost > 0 {
            event.set_dropped_before(std::mem::take(&mut self.lost));
        }
        self.count(&event, true);
        self.events.push_back(event);
        out.queued = true;
        let Some(limit) = limit else {
            return out;
        };
        while self.events.len() > 1
            && (self.events.len() > limit.events || self.bytes > limit.bytes)
        {
            let n = if limit.keyframes {
                // Through to the next keyframe, or all of them.
                self.events
                    .iter()
                    .skip(1)
                    .position(E::is_keyframe)
                    .map_or(self.events.len(), |i| i + 1)
            } else {
                1
            };
            // Gaps add up on the first event after them: the dropped
            // events' own gaps, and the dropped events.
            let mut gap = 0;
            for _ in 0..n {
                let Some(e) = self.events.pop_front() else {
                    break;
                };
                self.count(&e, false);
                out.released += e.weight();
                gap += 1 + e.dropped_before();
            }
            match self.events.front_mut() {
                Some(front) => front.set_dropped_before(front.dropped_before() + gap),
                None => {
                    self.lost += gap;
                    self.skip_until_keyframe = true;
                    out.keyframe_wanted = true;
                }
            }
        }
        out
    }

    fn pop(&mut self) -> Option<E> {
        let event = self.events.pop_front()?;
        self.count(&event, false);
        if self.events.is_empty() {
            trim_drained_to(&mut self.events, E::KEEP_DRAINED);
        }
        Some(event)
    }
}

/// The subscribers of one stream of events.
#[derive(Debug)]
pub(crate) struct Hub<E> {
    state: Mutex<HubState<E>>,
    /// Where unread messages count; `None` for streams without messages.
    gate: Option<Arc<ReceiveGate>>,
    /// What each subscription and the backlog hold at most (media
    /// frames); `None`: no bound.
    limit: Option<&'static QueueLimit>,
}

#[derive(Debug)]
struct HubState<E> {
    subscribers: Vec<Arc<Queue<E>>>,
    /// Events published before the first subscription (`None` after it).
    backlog: Option<Unread<E>>,
    /// No event will be published any more.
    closed: bool,
    /// A queue of a keyframe stream dropped every keyframe it had.
    keyframe_wanted: bool,
}

/// One subscription's unread events, shared by the hub (which pushes) and
/// the subscription (which pops).
#[derive(Debug)]
struct Queue<E> {
    state: Mutex<QueueState<E>>,
}

#[derive(Debug)]
struct QueueState<E> {
    unread: Unread<E>,
    /// The stream has ended: nothing more will be pushed.
    ended: bool,
    /// The subscription is gone: nothing more may be pushed (the gate
    /// would never be released).
    dropped: bool,
    /// Events were pushed quietly and the reader not yet woken for them.
    unwoken: bool,
    /// The reader's task, waiting for a push or the end: left under this
    /// lock when the queue is empty and taken by the next push under it,
    /// so no wake-up is lost between the reader's look and its sleep.
    waiting: Option<Waker>,
}

impl<E> Queue<E> {
    fn new(unread: Unread<E>, ended: bool) -> Self {
        Queue {
            state: Mutex::new(QueueState {
                unread,
                ended,
                dropped: false,
                unwoken: false,
                waiting: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, QueueState<E>> {
        // Critical sections only push, pop and set flags: a panic leaves
        // consistent state.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<E: Clone + Weight> Hub<E> {
    /// A hub whose messages count against `gate`.
    pub(crate) fn new(gate: Option<Arc<ReceiveGate>>) -> Self {
        Hub {
            state: Mutex::new(HubState {
                subscribers: Vec::new(),
                backlog: Some(Unread::new()),
                closed: false,
                keyframe_wanted: false,
            }),
            gate,
            limit: None,
        }
    }

    /// A hub whose every subscription, and the backlog (events before the
    /// first subscription), hold at most `limit` unread.
    pub(crate) fn bounded(limit: &'static QueueLimit) -> Self {
        Hub {
            limit: Some(limit),
            ..Hub::new(None)
        }
    }

    /// Whether a queue dropped every keyframe it had since the last call
    /// (the publisher then asks the peer for one).
    pub(crate) fn take_keyframe_wanted(&self) -> bool {
        std::mem::take(&mut self.lock().keyframe_wanted)
    }

    fn lock(&self) -> MutexGuard<'_, HubState<E>> {
        // A panic while holding the lock leaves consistent state: the
        // critical sections only push, pop and send.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn add(&self, weight: usize) {
        if let Some(gate) = &self.gate {
            gate.add(weight);
        }
    }

    fn read(&self, weight: usize) {
        if let Some(gate) = &self.gate {
            gate.read(weight);
        }
    }

    /// Pushes `event` to `queue` unless its subscription is gone (within
    /// the hub's limit); returns whether a keyframe is wanted. Wakes the
    /// reader at once, or (`quiet`) at the next [`wake`](Self::wake).
    fn push(&self, queue: &Queue<E>, event: E, weight: usize, quiet: bool) -> bool {
        let mut q = queue.lock();
        if q.dropped {
            return false;
        }
        let pushed = q.unread.push(event, self.limit);
        if !pushed.queued {
            return pushed.keyframe_wanted;
        }
        // Counted under the queue's lock: a subscription dropped
        // meanwhile releases what it held, never more.
        self.add(weight);
        self.read(pushed.released);
        q.unwoken = quiet;
        let reader = if quiet { None } else { q.waiting.take() };
        drop(q);
        if let Some(reader) = reader {
            reader.wake();
        }
        pushed.keyframe_wanted
    }

    /// Gives `event` to every live subscription (or to the backlog while
    /// there is none yet), waking their readers; returns whether anyone may
    /// still read it.
    pub(crate) fn publish(&self, event: E) -> bool {
        self.publish_with(event, false)
    }

    /// [`publish`](Self::publish) without waking the readers until the
    /// next [`wake`](Self::wake): the task publishes a burst of messages,
    /// then wakes each reader once, not once per message (a wake-up of a
    /// reader on another thread costs more than reading a message).
    pub(crate) fn publish_quietly(&self, event: E) -> bool {
        self.publish_with(event, true)
    }

    fn publish_with(&self, event: E, quiet: bool) -> bool {
        let weight = event.weight();
        let mut state = self.lock();
        if state.closed {
            return false;
        }
        if let Some(backlog) = &mut state.backlog {
            let pushed = backlog.push(event, self.limit);
            if pushed.queued {
                self.add(weight);
                self.read(pushed.released);
            }
            state.keyframe_wanted |= pushed.keyframe_wanted;
            return true;
        }
        // A subscription gone holds no other reference to its queue.
        state.subscribers.retain(|q| Arc::strong_count(q) > 1);
        let Some((last, rest)) = state.subscribers.split_last() else {
            return false;
        };
        let mut wanted = false;
        for queue in rest {
            wanted |= self.push(queue, event.clone(), weight, quiet);
        }
        wanted |= self.push(last, event, weight, quiet);
        state.keyframe_wanted |= wanted;
        true
    }

    /// Wakes the readers of events published quietly.
    pub(crate) fn wake(&self) {
        let state = self.lock();
        for queue in &state.subscribers {
            let mut q = queue.lock();
            if std::mem::take(&mut q.unwoken)
                && let Some(reader) = q.waiting.take()
            {
                drop(q);
                reader.wake();
            }
        }
    }

    /// A new subscription: every event from now on, and the backlog if it
    /// is the first.
    pub(crate) fn subscribe(self: &Arc<Self>) -> Subscription<E> {
        let mut state = self.lock();
        // Already counted against the gate; the subscription now holds them.
        let backlog = state.backlog.take().unwrap_or_else(Unread::new);
        let queue = Arc::new(Queue::new(backlog, state.closed));
        if !state.closed {
            // Subscriptions dropped since the last publish go now: a hub
            // that rarely publishes (tones) is bounded by the live handles.
            state.subscribers.retain(|q| Arc::strong_count(q) > 1);
            state.subscribers.push(Arc::clone(&queue));
        }
        Subscription {
            queue,
            hub: Arc::clone(self),
        }
    }

    /// Ends the stream: subscriptions get what they hold, then `None`.
    pub(crate) fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        for queue in state.subscribers.drain(..) {
            let mut q = queue.lock();
            q.ended = true;
            let reader = q.waiting.take();
            drop(q);
            if let Some(reader) = reader {
                reader.wake();
            }
        }
    }

    /// Drops the backlog and keeps none from now on: nobody can subscribe
    /// any more (every handle is gone). The subscriptions already made go
    /// on until [`close`](Self::close).
    pub(crate) fn drop_backlog(&self) {
        let backlog = self.lock().backlog.take();
        if let Some(backlog) = backlog {
            self.read(backlog.bytes);
        }
    }
}

/// One subscriber's events.
#[derive(Debug)]
pub(crate) struct Subscription<E: Clone + Weight> {
    queue: Arc<Queue<E>>,
    hub: Arc<Hub<E>>,
}

impl<E: Clone + Weight> Subscription<E> {
    /// The next event; `None` once the stream has ended and is drained.
    ///
    /// Cancel-safe: an event leaves the queue only in the same poll that
    /// returns it.
    pub(crate) async fn recv(&mut self) -> Option<E> {
        std::future::poll_fn(|cx| self.poll_recv(Some(cx))).await
    }

    /// The next event or the end, or `Pending` with the reader's waker
    /// (`cx`) left in the queue, under the lock a push takes.
    fn poll_recv(&self, cx: Option<&Context<'_>>) -> Poll<Option<E>> {
        let mut q = self.queue.lock();
        match q.unread.pop() {
            Some(event) => {
                drop(q);
                self.hub.read(event.weight());
                Poll::Ready(Some(event))
            }
            None if q.ended => Poll::Ready(None),
            None => {
                if let Some(cx) = cx {
                    crate::driver::register(&mut q.waiting, cx);
                }
                Poll::Pending
            }
        }
    }

    /// Events this subscription holds unread.
    #[cfg(test)]
    pub(crate) fn unread_len(&self) -> usize {
        self.queue.lock().unread.events.len()
    }

    /// `Some(next)` when an event or the end is there, `None` when the
    /// reader must wait.
    #[cfg(test)]
    fn try_recv(&self) -> Option<Option<E>> {
        match self.poll_recv(None) {
            Poll::Ready(next) => Some(next),
            Poll::Pending => None,
        }
    }
}

impl<E: Clone + Weight> Drop for Subscription<E> {
    fn drop(&mut self) {
        // No more pushes can land; what is left no longer counts as unread.
        let bytes = {
            let mut q = self.queue.lock();
            q.dropped = true;
            // The reader's task is not kept alive by a queue it left.
            q.waiting = None;
            let bytes = q.unread.bytes;
            q.unread = Unread::new();
            bytes
        };
        self.hub.read(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq)]
    struct Bytes(usize);

    impl Weight for Bytes {
        fn weight(&self) -> usize {
            self.0
        }
    }

    fn hub() -> (Arc<Hub<Bytes>>, Arc<ReceiveGate>) {
        let gate = Arc::new(ReceiveGate::default());
        (Arc::new(Hub::new(Some(Arc::clone(&gate)))), gate)
    }

    /// A frame: number, keyframe, size, and the gap before it.
    #[derive(Debug, Clone, PartialEq)]
    struct Frame(u64, bool, usize, u64);

    impl Weight for Frame {
        fn weight(&self) -> usize {
            self.2
        }
        fn is_keyframe(&self) -> bool {
            self.1
        }
        fn dropped_before(&self) -> u64 {
            self.3
        }
        fn set_dropped_before(&mut self, n: u64) {
            self.3 = n;
        }
    }

    fn frames(hub: &Arc<Hub<Frame>>, range: std::ops::Range<u64>, key: impl Fn(u64) -> bool) {
        for n in range {
            assert!(hub.publish(Frame(n, key(n), 10, 0)));
        }
    }

    fn drain(s: &Subscription<Frame>) -> Vec<Frame> {
        std::iter::from_fn(|| s.try_recv().flatten()).collect()
    }

    const AUDIO: QueueLimit = QueueLimit {
        events: 8,
        bytes: 1000,
        keyframes: false,
    };
    const VIDEO: QueueLimit = QueueLimit {
        keyframes: true,
        ..AUDIO
    };

    #[test]
    fn an_unread_audio_backlog_keeps_the_latest_frames_and_tells_the_gap() {
        let hub = Arc::new(Hub::bounded(&AUDIO));
        frames(&hub, 0..20, |_| false);
        let s = hub.subscribe();
        let got = drain(&s);
        assert_eq!(got.len(), 8);
        assert_eq!(got[0], Frame(12, false, 10, 12));
        assert!(got[1..].iter().all(|f| f.3 == 0));
        // A live subscription is bounded too, and by bytes.
        for n in 20..30 {
            hub.publish(Frame(n, false, 300, 0));
        }
        let got = drain(&s);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], Frame(27, false, 300, 7));
    }

    #[test]
    fn subscribing_forgets_dropped_subscriptions_of_a_quiet_hub() {
        let hub: Arc<Hub<Frame>> = Arc::new(Hub::bounded(&AUDIO));
        for _ in 0..1000 {
            drop(hub.subscribe());
        }
        let _live = hub.subscribe();
        assert_eq!(hub.lock().subscribers.len(), 1);
    }

    #[test]
    fn a_video_queue_drops_through_to_its_next_keyframe() {
        let hub = Arc::new(Hub::bounded(&VIDEO));
        let s = hub.subscribe();
        // Keyframes 0 and 4: the ninth frame drops 0..4.
        frames(&hub, 0..9, |n| n % 4 == 0);
        let got = drain(&s);
        assert_eq!(got.len(), 5);
        assert_eq!(got[0], Frame(4, true, 10, 4));
        assert!(!hub.take_keyframe_wanted());
    }

    #[test]
    fn a_video_queue_without_a_later_keyframe_skips_until_one_and_wants_it() {
        let hub = Arc::new(Hub::bounded(&VIDEO));
        // The backlog first, then a subscription: the same rule.
        frames(&hub, 0..9, |n| n == 0);
        assert!(hub.take_keyframe_wanted());
        assert!(!hub.take_keyframe_wanted(), "one flag, taken once");
        frames(&hub, 9..12, |_| false);
        let s = hub.subscribe();
        assert!(drain(&s).is_empty());
        frames(&hub, 12..14, |n| n == 12);
        // 0..9 cleared, 9..12 skipped: 12 frames before the keyframe.
        assert_eq!(
            drain(&s),
            [Frame(12, true, 10, 12), Frame(13, false, 10, 0)]
        );
    }

    #[derive(Debug, Clone, PartialEq)]
    struct Request;

    impl Weight for Request {
        fn weight(&self) -> usize {
            0
        }
        fn merges_into(&self, queued: &Self) -> bool {
            self == queued
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn unread_requests_merge_into_one_in_the_backlog_and_in_a_queue() {
        let hub = Arc::new(Hub::new(None));
        for _ in 0..5 {
            hub.publish(Request);
        }
        let mut s = hub.subscribe();
        for _ in 0..5 {
            hub.publish(Request);
        }
        assert_eq!(s.recv().await, Some(Request));
        assert_eq!(s.try_recv(), None, "a replay of merged requests");
        hub.publish(Request);
        assert_eq!(s.recv().await, Some(Request));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_first_subscription_gets_the_backlog_and_later_ones_start_from_now() {
        let (hub, gate) = hub();
        hub.publish(Bytes(1));
        let mut first = hub.subscribe();
        let mut second = hub.subscribe();
        hub.publish(Bytes(2));
        assert_eq!(first.recv().await, Some(Bytes(1)));
        assert_eq!(first.recv().await, Some(Bytes(2)));
        assert_eq!(second.recv().await, Some(Bytes(2)));
        assert_eq!(gate.queued(), 0);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn unread_bytes_count_once_per_subscription_until_read_or_dropped() {
        let (hub, gate) = hub();
        let mut reader = hub.subscribe();
        let idle = hub.subscribe();
        hub.publish(Bytes(10));
        assert_eq!(gate.queued(), 20);
        reader.recv().await;
        assert_eq!(gate.queued(), 10);
        drop(idle);
        assert_eq!(gate.queued(), 0);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_dropped_backlog_releases_its_bytes_and_keeps_nothing_more() {
        let (hub, gate) = hub();
        hub.publish(Bytes(7));
        assert_eq!(gate.queued(), 7);
        hub.drop_backlog();
        assert_eq!(gate.queued(), 0);
        assert!(!hub.publish(Bytes(7)));
        assert_eq!(gate.queued(), 0);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn dropping_the_backlog_leaves_subscriptions_running_until_close() {
        let (hub, gate) = hub();
        let mut s = hub.subscribe();
        hub.drop_backlog();
        assert!(hub.publish(Bytes(3)));
        assert_eq!(s.recv().await, Some(Bytes(3)));
        hub.close();
        assert_eq!(s.recv().await, None);
        assert_eq!(gate.queued(), 0);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_closed_hub_ends_every_subscription_after_what_it_holds() {
        let (hub, _gate) = hub();
        let mut s = hub.subscribe();
        hub.publish(Bytes(0));
        hub.close();
        assert_eq!(s.recv().await, Some(Bytes(0)));
        assert_eq!(s.recv().await, None);
        assert_eq!(hub.subscribe().recv().await, None);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn events_published_quietly_wake_a_waiting_reader_only_at_the_wake() {
        let (hub, _gate) = hub();
        let mut s = hub.subscribe();
        let reader = tokio::spawn(async move {
            let first = s.recv().await;
            let second = s.recv().await;
            (first, second)
        });
        tokio::task::yield_now().await; // The reader now waits.
        hub.publish_quietly(Bytes(1));
        hub.publish_quietly(Bytes(2));
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(!reader.is_finished(), "woken before the wake");
        hub.wake();
        let (first, second) = reader.await.unwrap();
        assert_eq!((first, second), (Some(Bytes(1)), Some(Bytes(2))));
    }

    #[test]
    fn a_waiting_reader_is_woken_by_a_push_by_the_wake_after_quiet_ones_and_by_the_end() {
        let wakes = Arc::new(crate::testing::Wakes::default());
        let waker = Waker::from(Arc::clone(&wakes));
        let cx = Context::from_waker(&waker);
        let woken = || wakes.count();
        let (hub, _gate) = hub();
        let s = hub.subscribe();

        assert!(s.poll_recv(Some(&cx)).is_pending());
        assert!(hub.publish(Bytes(1)));
        assert_eq!(woken(), 1, "a push wakes the waiting reader");
        assert!(hub.publish(Bytes(2)));
        assert_eq!(woken(), 1, "already woken: not again");
        assert_eq!(s.poll_recv(Some(&cx)), Poll::Ready(Some(Bytes(1))));
        assert_eq!(s.poll_recv(Some(&cx)), Poll::Ready(Some(Bytes(2))));

        assert!(s.poll_recv(Some(&cx)).is_pending());
        assert!(hub.publish_quietly(Bytes(3)));
        assert_eq!(woken(), 1, "a quiet push waits for the wake");
        hub.wake();
        assert_eq!(woken(), 2, "the wake after quiet pushes");
        hub.wake();
        assert_eq!(woken(), 2, "nothing new: no wake-up");
        assert_eq!(s.poll_recv(Some(&cx)), Poll::Ready(Some(Bytes(3))));

        assert!(s.poll_recv(Some(&cx)).is_pending());
        hub.close();
        assert_eq!(woken(), 3, "the end wakes the waiting reader");
        assert_eq!(s.poll_recv(Some(&cx)), Poll::Ready(None));

        // A subscription gone lets go of its reader's waker.
        let s = hub_with_waiting_reader(&cx);
        let held = Arc::strong_count(&wakes);
        drop(s);
        assert_eq!(Arc::strong_count(&wakes), held - 1);
    }

    fn hub_with_waiting_reader(cx: &Context<'_>) -> Subscription<Bytes> {
        let (hub, _gate) = hub();
        let s = hub.subscribe();
        assert!(s.poll_recv(Some(cx)).is_pending());
        s
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_events_to_slow_readers_on_other_tasks_arrive_whole_and_in_order() {
        const N: usize = 20_000;
        let (hub, gate) = hub();
        let readers: Vec<_> = (0..3)
            .map(|r| {
                let mut s = hub.subscribe();
                tokio::spawn(async move {
                    let mut next = 1;
                    while let Some(Bytes(n)) = s.recv().await {
                        assert_eq!(n, next, "reader {r}");
                        next += 1;
                        if r == 0 && n % 64 == 0 {
                            // The slow one.
                            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                        } else if n % 16 == 0 {
                            tokio::task::yield_now().await;
                        }
                    }
                    next - 1
                })
            })
            .collect();
        // A reader whose `recv` futures are dropped before they finish
        // (cancel-safety): it must still see every event.
        let mut cancelled = hub.subscribe();
        let canceller = tokio::spawn(async move {
            let mut next = 1;
            loop {
                tokio::select! {
                    ev = cancelled.recv() => match ev {
                        Some(Bytes(n)) => {
                            assert_eq!(n, next);
                            next += 1;
                        }
                        None => return next - 1,
                    },
                    () = tokio::task::yield_now() => {}
                }
            }
        });
        let publisher = {
            let hub = Arc::clone(&hub);
            tokio::spawn(async move {
                for n in 1..=N {
                    // Bursts published quietly, each ended by one wake, as
                    // the task publishes messages; the rest one by one.
                    if n % 1000 < 500 {
                        assert!(hub.publish_quietly(Bytes(n)));
                        if n % 10 == 0 {
                            hub.wake();
                        }
                    } else {
                        assert!(hub.publish(Bytes(n)));
                    }
                    if n % 100 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
                hub.close();
            })
        };
        publisher.await.unwrap();
        for reader in readers {
            assert_eq!(reader.await.unwrap(), N);
        }
        assert_eq!(canceller.await.unwrap(), N);
        assert_eq!(gate.queued(), 0);
    }
}
