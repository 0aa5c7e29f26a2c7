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

use std::ptr;

use crate::time::Nanos;

/// A scheduled event: its order key and its payload. The payload lives in
/// the entry itself: heaps here are small (a handful of entries in most
/// runs, thousands at most), and moving an entry (48 bytes for the
/// simulator's events) up or down a few levels costs fewer instructions
/// than keeping payloads in a side table with a free list, which costs an
/// indirection and free-list traffic on every schedule and pop.
#[derive(Clone, Copy)]
struct Entry<E> {
    time: Nanos,
    seq: u64,
    event: E,
}

impl<E> Entry<E> {
    /// The order key: time, then sequence number. Sequence numbers are
    /// unique, so this is a total order and the firing order does not
    /// depend on the heap's shape. Compared as one `u128` (a compare and a
    /// subtract-with-borrow) rather than field by field with a branch.
    #[inline(always)]
    fn key(&self) -> u128 {
        (u128::from(self.time) << 64) | u128::from(self.seq)
    }
}

pub struct EventQueue<E> {
    /// A binary min-heap of entries, earliest first.
    heap: Vec<Entry<E>>,
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
        self.push(Entry {
            time,
            seq: self.seq,
            event,
        });
    }

    /// Adds an entry to the heap: sift up, moving the hole rather than the
    /// entry, which is written once where it belongs.
    #[inline]
    fn push(&mut self, e: Entry<E>) {
        if self.heap.len() == self.heap.capacity() {
            self.grow();
        }
        let key = e.key();
        let mut pos = self.heap.len();
        let h = self.heap.as_mut_ptr();
        // SAFETY: `pos` starts at `len`, which is below the capacity (just
        // reserved), and only moves to parents, which are below `len`: every
        // access is within the allocation. Entries are `Copy` (no drop), and
        // slots `0..=len` are all initialised when `len` is set.
        unsafe {
            while pos > 0 {
                let parent = (pos - 1) / 2;
                debug_assert!(parent < self.heap.len());
                if key >= (*h.add(parent)).key() {
                    break;
                }
                ptr::copy_nonoverlapping(h.add(parent), h.add(pos), 1);
                pos = parent;
            }
            ptr::write(h.add(pos), e);
            self.heap.set_len(self.heap.len() + 1);
        }
    }

    /// Out of line: the heap rarely grows after its first thousand entries.
    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        self.heap.reserve(self.heap.len().max(1024));
    }

    /// Removes the earliest entry: the last entry sifts down from the root,
    /// moving the hole as in `push`. The last entry is not moved out while
    /// it sifts (only its key is), but copied once, from where it lies
    /// past the new end, to the place it ends up in. Positions are byte
    /// offsets into the heap (a child's is twice its parent's plus one
    /// entry), which saves an index-to-address multiplication per access.
    /// A left child below the new end always has a right sibling to
    /// compare with: at worst it is the last entry itself, past the new
    /// end, and if that one is chosen the sift stops there (its key is not
    /// above itself), so the loop needs no check for a lone child. Two
    /// entries left (the commonest case under light load) take one
    /// comparison, with no loop.
    #[inline]
    fn pop_entry(&mut self) -> Option<Entry<E>> {
        let n = self.heap.len().checked_sub(1)?;
        let h = self.heap.as_mut_ptr();
        let size = std::mem::size_of::<Entry<E>>();
        let at = |offset: usize| h.cast::<u8>().wrapping_add(offset).cast::<Entry<E>>();
        // SAFETY: `n` is the new length and slots `0..=n` are initialised.
        // Offsets are multiples of the entry size: `end` is slot `n`'s,
        // `pos` starts at 0 and only moves to a child whose offset is
        // below `end` (checked), and the right sibling read is at most
        // `end`. So every access is to an initialised slot, and each slot
        // written is below `end`: slot `n` (the last entry) is intact when
        // copied to `pos`. Entries are `Copy`: copying over the hole (whose
        // entry was read out as `top`) leaks nothing.
        unsafe {
            let top = ptr::read(h);
            if n > 0 {
                let end = n * size;
                let key = (*at(end)).key();
                let mut pos = 0;
                if n == 2 {
                    // Two entries remain, the last one (slot 2) and slot 1:
                    // the earlier goes to the root.
                    if key > (*h.add(1)).key() {
                        ptr::copy_nonoverlapping(h.add(1), h, 1);
                        pos = size;
                    }
                } else {
                    loop {
                        let mut child = 2 * pos + size;
                        if child >= end {
                            break;
                        }
                        let right = child + size;
                        debug_assert!(right <= end);
                        if (*at(right)).key() < (*at(child)).key() {
                            child = right;
                        }
                        if key <= (*at(child)).key() {
                            break;
                        }
                        ptr::copy_nonoverlapping(at(child), at(pos), 1);
                        pos = child;
                    }
                }
                ptr::copy_nonoverlapping(at(end), at(pos), 1);
            }
            self.heap.set_len(n);
            Some(top)
        }
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
        Some((e.time, e.event))
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
    /// the rest (their sequence numbers are kept, and the heap is rebuilt
    /// from them).
    pub fn retain(&mut self, mut live: impl FnMut(&E) -> bool) {
        let kept: Vec<Entry<E>> = std::mem::take(&mut self.heap)
            .into_iter()
            .filter(|e| live(&e.event))
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

    /// Random schedules, pops and compactions, with small and large heaps
    /// and with many or few ties, fire in the order of a reference ordered
    /// map keyed by (time, sequence number).
    #[test]
    fn matches_a_reference_ordering() {
        use std::collections::BTreeMap;
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut rnd = move |m: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % m
        };
        for round in 0..24 {
            let mut q: EventQueue<u64> = EventQueue::new();
            let mut reference = BTreeMap::new();
            let mut seq = 0u64;
            let spread = [1, 3, 1000, 1 << 40][round % 4];
            // Out of 10 steps, this many schedule (the heap stays tiny,
            // hovers, or grows to thousands).
            let schedules = [4, 5, 6][round / 4 % 3];
            for step in 0..20_000u64 {
                let r = rnd(10);
                if r < schedules {
                    let t = q.now() + rnd(spread);
                    seq += 1;
                    q.schedule(t, step);
                    reference.insert((t, seq), step);
                } else if r < 9 {
                    let want = reference.pop_first().map(|((t, _), e)| (t, e));
                    assert_eq!(q.pop(), want);
                } else if rnd(100) == 0 {
                    let m = rnd(3) + 2;
                    q.retain(|e| e % m != 0);
                    reference.retain(|_, e| *e % m != 0);
                }
                assert_eq!(q.len(), reference.len());
                assert_eq!(q.peek_time(), reference.keys().next().map(|k| k.0));
            }
            while let Some(got) = q.pop() {
                let want = reference.pop_first().map(|((t, _), e)| (t, e));
                assert_eq!(Some(got), want);
            }
            assert!(reference.is_empty());
        }
    }

    /// Every order of up to seven entries (with and without ties) pops in
    /// order: the boundaries of the sift (two entries left, a lone left
    /// child, the last entry as the right sibling) at every small size.
    #[test]
    fn small_heaps_pop_in_order_whatever_the_push_order() {
        fn permutations(items: &mut Vec<u64>, k: usize, out: &mut Vec<Vec<u64>>) {
            if k == items.len() {
                out.push(items.clone());
                return;
            }
            for i in k..items.len() {
                items.swap(k, i);
                permutations(items, k + 1, out);
                items.swap(k, i);
            }
        }
        for len in 1..=7u64 {
            for ties in [1, 2] {
                let mut all = Vec::new();
                permutations(&mut (0..len).map(|t| t / ties).collect(), 0, &mut all);
                for times in all {
                    let mut q: EventQueue<usize> = EventQueue::new();
                    for (i, &t) in times.iter().enumerate() {
                        q.schedule(t, i);
                    }
                    let mut want: Vec<(u64, usize)> =
                        times.iter().enumerate().map(|(i, &t)| (t, i)).collect();
                    want.sort();
                    let got: Vec<(u64, usize)> = std::iter::from_fn(|| q.pop()).collect();
                    assert_eq!(got, want, "pushed in the order {times:?}");
                }
            }
        }
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
