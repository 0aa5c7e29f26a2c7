//! A set of ids remembered for a window of time: the consumer-side
//! idempotency store and the broker's publish deduplication window are both
//! this. Ids are kept in a map (for lookups) and in time order (so that
//! expired ids are dropped in O(1) each): memory follows the number of ids
//! recorded within one window, not the length of the run.

use crate::time::Nanos;
use std::collections::{HashMap, VecDeque};

#[derive(Clone, Debug)]
pub struct WindowedIds {
    window_ns: Nanos,
    /// id -> when it was last recorded. Only looked up, never iterated, so
    /// the hasher's randomness cannot reach the results.
    seen: HashMap<u64, Nanos>,
    order: VecDeque<(Nanos, u64)>,
}

impl WindowedIds {
    pub fn new(window_ns: Nanos) -> WindowedIds {
        WindowedIds {
            window_ns,
            seen: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    fn prune(&mut self, now: Nanos) {
        while let Some(&(t, id)) = self.order.front() {
            if now.saturating_sub(t) <= self.window_ns {
                break;
            }
            self.order.pop_front();
            // A later record of the same id keeps it.
            if self.seen.get(&id) == Some(&t) {
                self.seen.remove(&id);
            }
        }
    }

    /// Whether `id` was recorded within the window before `now`.
    pub fn contains(&mut self, now: Nanos, id: u64) -> bool {
        self.prune(now);
        self.seen.contains_key(&id)
    }

    pub fn insert(&mut self, now: Nanos, id: u64) {
        self.prune(now);
        self.seen.insert(id, now);
        self.order.push_back((now, id));
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgets_after_the_window_and_stays_bounded() {
        let mut w = WindowedIds::new(10);
        w.insert(0, 1);
        assert!(w.contains(10, 1));
        assert!(!w.contains(11, 1));
        // A re-recorded id lives from its last record.
        w.insert(20, 2);
        w.insert(25, 2);
        assert!(w.contains(33, 2));
        for t in 0..100_000u64 {
            w.insert(100 + t, t);
        }
        assert!(w.len() <= 11);
    }
}
