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

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::mpsc;

use crate::data_channel::ReceiveGate;

/// Bytes of the receive gate an event holds while unread.
pub(crate) trait Weight {
    /// Zero for everything but received messages.
    fn weight(&self) -> usize;
}

/// The subscribers of one stream of events.
#[derive(Debug)]
pub(crate) struct Hub<E> {
    state: Mutex<HubState<E>>,
    /// Where unread messages count; `None` for streams without messages.
    gate: Option<Arc<ReceiveGate>>,
}

#[derive(Debug)]
struct HubState<E> {
    subscribers: Vec<mpsc::UnboundedSender<E>>,
    /// Events published before the first subscription (`None` after it).
    backlog: Option<VecDeque<E>>,
    /// No event will be published any more.
    closed: bool,
}

impl<E: Clone + Weight> Hub<E> {
    /// A hub whose messages count against `gate`.
    pub(crate) fn new(gate: Option<Arc<ReceiveGate>>) -> Self {
        Hub {
            state: Mutex::new(HubState {
                subscribers: Vec::new(),
                backlog: Some(VecDeque::new()),
                closed: false,
            }),
            gate,
        }
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

    /// Gives `event` to every live subscription (or to the backlog while
    /// there is none yet); returns whether anyone may still read it.
    pub(crate) fn publish(&self, event: E) -> bool {
        let weight = event.weight();
        let mut state = self.lock();
        if state.closed {
            return false;
        }
        if let Some(backlog) = &mut state.backlog {
            self.add(weight);
            backlog.push_back(event);
            return true;
        }
        state.subscribers.retain(|tx| !tx.is_closed());
        let Some((last, rest)) = state.subscribers.split_last() else {
            return false;
        };
        // Counted before the send: a subscription dropped meanwhile
        // releases what it held, never more.
        for tx in rest {
            self.add(weight);
            if tx.send(event.clone()).is_err() {
                self.read(weight);
            }
        }
        self.add(weight);
        if last.send(event).is_err() {
            self.read(weight);
        }
        true
    }

    /// A new subscription: every event from now on, and the backlog if it
    /// is the first.
    pub(crate) fn subscribe(self: &Arc<Self>) -> Subscription<E> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut state = self.lock();
        if let Some(backlog) = state.backlog.take() {
            // Already counted against the gate; the subscription now holds them.
            for event in backlog {
                let _ = tx.send(event);
            }
        }
        if !state.closed {
            state.subscribers.push(tx);
        }
        Subscription {
            rx,
            hub: Arc::clone(self),
        }
    }

    /// Ends the stream: subscriptions get what they hold, then `None`.
    pub(crate) fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        state.subscribers.clear();
    }

    /// Drops the backlog and keeps none from now on: nobody can subscribe
    /// any more (every handle is gone). The subscriptions already made go
    /// on until [`close`](Self::close).
    pub(crate) fn drop_backlog(&self) {
        let backlog = self.lock().backlog.take();
        for event in backlog.into_iter().flatten() {
            self.read(event.weight());
        }
    }
}

/// One subscriber's events.
#[derive(Debug)]
pub(crate) struct Subscription<E: Clone + Weight> {
    rx: mpsc::UnboundedReceiver<E>,
    hub: Arc<Hub<E>>,
}

impl<E: Clone + Weight> Subscription<E> {
    /// The next event; `None` once the stream has ended and is drained.
    pub(crate) async fn recv(&mut self) -> Option<E> {
        let event = self.rx.recv().await?;
        self.hub.read(event.weight());
        Some(event)
    }
}

impl<E: Clone + Weight> Drop for Subscription<E> {
    fn drop(&mut self) {
        // No more sends can land; what is left no longer counts as unread.
        self.rx.close();
        loop {
            match self.rx.try_recv() {
                Ok(event) => self.hub.read(event.weight()),
                // A send that began before `close` is still landing (on
                // another thread): it is counted, so wait for it.
                Err(mpsc::error::TryRecvError::Empty) => std::thread::yield_now(),
                Err(mpsc::error::TryRecvError::Disconnected) => break,
            }
        }
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
}
