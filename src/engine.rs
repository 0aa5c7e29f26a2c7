//! The event queue: one binary min-heap ordered by (time, sequence number), so that
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

/// A heap entry: the order key and the slot of the event's payload. Kept
/// small (24 bytes) because the heap moves entries on every push and pop;
/// payloads stay put in `events`.
#[derive(Clone, Copy)]
struct Entry {
    time: Nanos,
    seq: u64,
    slot: u32,
}

impl Entry {
    /// Fires before `other`. Sequence numbers are unique, so this is a
    /// total order and the firing order does not depend on the heap's shape.
    #[inline(always)]
    fn before(&self, other: &Entry) -> bool {
        (self.time, self.seq) < (other.time, other.seq)
    }
}

pub struct EventQueue<E> {
    /// A binary min-heap of entries, earliest first.
    heap: Vec<Entry>,
    /// Payloads of the scheduled events, by slot; `free` lists the slots
    /// not in use, so the steady state allocates nothing.
    events: Vec<E>,
    free: Vec<u32>,
    seq: u64,
    now: Nanos,
    cancelled: usize,
    processed: u64,
}

impl<E: Copy> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: Copy> EventQueue<E> {
    pub fn new() -> Self {
        EventQueue {
            heap: Vec::with_capacity(1024),
            events: Vec::with_capacity(1024),
            free: Vec::with_capacity(1024),
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
        let slot = match self.free.pop() {
            Some(s) => {
                self.events[s as usize] = event;
                s
            }
            None => {
                self.events.push(event);
                u32::try_from(self.events.len() - 1).expect("fewer than 2^32 pending events")
            }
        };
        self.push(Entry {
            time,
            seq: self.seq,
            slot,
        });
    }

    /// Adds an entry to the heap (sift up, moving the hole, not the entry).
    #[inline]
    fn push(&mut self, e: Entry) {
        self.heap.push(e);
        let h = &mut self.heap[..];
        let mut pos = h.len() - 1;
        while pos > 0 {
            let parent = (pos - 1) / 2;
            if !e.before(&h[parent]) {
                break;
            }
            h[pos] = h[parent];
            pos = parent;
        }
        h[pos] = e;
    }

    /// Removes the earliest entry (the last one sifts down from the root).
    #[inline]
    fn pop_entry(&mut self) -> Option<Entry> {
        let last = self.heap.pop()?;
        let h = &mut self.heap[..];
        if h.is_empty() {
            return Some(last);
        }
        let top = h[0];
        let n = h.len();
        let mut pos = 0;
        loop {
            let mut child = 2 * pos + 1;
            if child >= n {
                break;
            }
            if child + 1 < n && h[child + 1].before(&h[child]) {
                child += 1;
            }
            if !h[child].before(&last) {
                break;
            }
            h[pos] = h[child];
            pos = child;
        }
        h[pos] = last;
        Some(top)
    }

    #[inline]
    pub fn schedule_in(&mut self, delay: Nanos, event: E) {
        self.schedule(self.now.saturating_add(delay), event)
    }

    /// The next event, advancing the clock to it.
    #[inline]
    pub fn pop(&mut self) -> Option<(Nanos, E)> {
        let e = self.pop_entry()?;
        debug_assert!(e.time >= self.now, "time went backwards");
        self.now = e.time;
        self.processed += 1;
        self.free.push(e.slot);
        Some((e.time, self.events[e.slot as usize]))
    }

    #[inline]
    pub fn peek_time(&self) -> Option<Nanos> {
        self.heap.first().map(|e| e.time)
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
        let v = std::mem::take(&mut self.heap);
        let (events, free) = (&self.events, &mut self.free);
        let kept: Vec<Entry> = v
            .into_iter()
            .filter(|e| {
                let keep = live(&events[e.slot as usize]);
                if !keep {
                    free.push(e.slot);
                }
                keep
            })
            .collect();
        self.heap = Vec::with_capacity(kept.len().max(1024));
        for e in kept {
            self.push(e);
        }
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

    /// Payloads follow their entries through compaction and slot reuse.
    #[test]
    fn retain_keeps_payloads_with_their_times() {
        let mut q: EventQueue<u64> = EventQueue::new();
        for i in 0..100u64 {
            q.schedule(1000 - i, i);
        }
        q.retain(|&e| e % 3 != 0);
        for i in 100..150u64 {
            q.schedule(2000 + i, i);
        }
        let mut last = 0;
        let mut n = 0;
        while let Some((t, e)) = q.pop() {
            assert!(t >= last);
            last = t;
            if e < 100 {
                assert_eq!(t, 1000 - e);
                assert_ne!(e % 3, 0);
            } else {
                assert_eq!(t, 2000 + e);
            }
            n += 1;
        }
        assert_eq!(n, 66 + 50);
    }
}
