//! The event queue: one heap ordered by (time, sequence number), so that
//! events at the same instant fire in the order they were scheduled and no
//! float ever decides an order.
//!
//! Cancellation is lazy: a component that no longer wants an event bumps a
//! generation counter it owns, and the stale event is skipped when it fires.
//! Stale events would otherwise pile up (every acked delivery leaves an ack
//! deadline behind), so the owner reports each cancellation and the queue is
//! compacted when stale entries outnumber live ones: its size stays within
//! twice the number of live events, whatever the length of the run.

use crate::time::Nanos;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

struct Entry<E> {
    time: Nanos,
    seq: u64,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        self.time == other.time && self.seq == other.seq
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Entry<E> {
    /// Reversed: `BinaryHeap` is a max-heap and we want the earliest first.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .time
            .cmp(&self.time)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

pub struct EventQueue<E> {
    heap: BinaryHeap<Entry<E>>,
    seq: u64,
    now: Nanos,
    cancelled: usize,
    processed: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> EventQueue<E> {
    pub fn new() -> Self {
        EventQueue {
            heap: BinaryHeap::with_capacity(1024),
            seq: 0,
            now: 0,
            cancelled: 0,
            processed: 0,
        }
    }

    #[inline]
    pub fn now(&self) -> Nanos {
        self.now
    }

    /// Schedules `event` at `time` (not earlier than now).
    #[inline]
    pub fn schedule(&mut self, time: Nanos, event: E) {
        debug_assert!(time >= self.now, "an event was scheduled in the past");
        let time = time.max(self.now);
        self.seq += 1;
        self.heap.push(Entry {
            time,
            seq: self.seq,
            event,
        });
    }

    #[inline]
    pub fn schedule_in(&mut self, delay: Nanos, event: E) {
        self.schedule(self.now.saturating_add(delay), event)
    }

    /// The next event, advancing the clock to it.
    #[inline]
    pub fn pop(&mut self) -> Option<(Nanos, E)> {
        let e = self.heap.pop()?;
        debug_assert!(e.time >= self.now, "time went backwards");
        self.now = e.time;
        self.processed += 1;
        Some((e.time, e.event))
    }

    #[inline]
    pub fn peek_time(&self) -> Option<Nanos> {
        self.heap.peek().map(|e| e.time)
    }

    /// Notes that one scheduled event has become stale. Returns true when
    /// the queue should be compacted with [`EventQueue::retain`].
    #[inline]
    pub fn note_cancelled(&mut self) -> bool {
        self.cancelled += 1;
        self.cancelled > 4096 && self.cancelled * 2 > self.heap.len()
    }

    /// Drops every event for which `live` is false, keeping the order of
    /// the rest (their sequence numbers are kept).
    pub fn retain(&mut self, mut live: impl FnMut(&E) -> bool) {
        let v = std::mem::take(&mut self.heap).into_vec();
        self.heap = v.into_iter().filter(|e| live(&e.event)).collect();
        self.cancelled = 0;
    }

    /// Advances the clock without an event (to the end of a run).
    pub fn advance_to(&mut self, t: Nanos) {
        if t > self.now {
            self.now = t;
        }
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    pub fn processed(&self) -> u64 {
        self.processed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_time_fires_in_schedule_order() {
        let mut q = EventQueue::new();
        q.schedule(10, 'b');
        q.schedule(5, 'a');
        q.schedule(10, 'c');
        q.schedule(10, 'd');
        let order: Vec<char> = std::iter::from_fn(|| q.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, vec!['a', 'b', 'c', 'd']);
    }

    /// Scheduling and cancelling a timer a million times keeps the heap small.
    #[test]
    fn cancellation_keeps_the_queue_bounded() {
        let mut q: EventQueue<(u32, u32)> = EventQueue::new();
        let mut max_len = 0;
        for (i, generation) in (0..1_000_000u64).zip(0u32..) {
            // A far-future timer, rescheduled each step: the old one is stale.
            q.schedule(i + 1_000_000_000, (0, generation));
            if q.note_cancelled() {
                let g = generation + 1;
                q.retain(|e| e.1 + 1 >= g);
            }
            max_len = max_len.max(q.len());
        }
        assert!(max_len < 20_000, "heap grew to {max_len}");
    }
}
