//! A slab: records in a vector with a free list, so that slots are reused
//! and the steady state allocates nothing.
//!
//! A free slot keeps a record marked vacant ([`Slot::vacate`]) rather than
//! an `Option`: indexing a live record (nearly every access on the hot path)
//! tests no tag. Debug builds assert that an indexed slot is live; callers
//! that may name a freed slot use [`Slab::get`].

/// A record that can mark its slot free.
pub trait Slot {
    /// Marks the record as the content of a free slot.
    fn vacate(&mut self);
    fn vacant(&self) -> bool;
    /// Takes over what a record keeps across the slot's reuse (from the
    /// slot's previous, vacant record).
    #[inline(always)]
    fn carry_over(&mut self, _old: &Self) {}
}

pub struct Slab<T> {
    items: Vec<T>,
    free: Vec<u32>,
    len: usize,
}

impl<T: Slot> Slab<T> {
    pub fn new() -> Self {
        Slab {
            items: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }

    #[inline(always)]
    pub fn insert(&mut self, v: T) -> u32 {
        debug_assert!(!v.vacant(), "inserting a vacant record");
        self.len += 1;
        match self.free.pop() {
            Some(i) => {
                let old = &mut self.items[i as usize];
                debug_assert!(old.vacant());
                let mut v = v;
                v.carry_over(old);
                *old = v;
                i
            }
            None => {
                self.items.push(v);
                (self.items.len() - 1) as u32
            }
        }
    }

    /// Frees slot `i` (its record is marked vacant in place).
    #[inline(always)]
    pub fn remove(&mut self, i: u32) {
        let v = &mut self.items[i as usize];
        assert!(!v.vacant(), "removing a free slab slot");
        v.vacate();
        self.free.push(i);
        self.len -= 1;
    }

    #[inline(always)]
    pub fn get(&self, i: u32) -> Option<&T> {
        self.items.get(i as usize).filter(|x| !x.vacant())
    }

    /// The record in slot `i`, live or vacant (what a vacant one keeps:
    /// [`Slot::carry_over`]).
    #[inline(always)]
    pub fn slot(&self, i: u32) -> &T {
        debug_assert!((i as usize) < self.items.len(), "slab index out of range");
        // SAFETY: as for `index` (below).
        unsafe { self.items.get_unchecked(i as usize) }
    }

    #[inline(always)]
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn iter(&self) -> impl Iterator<Item = (u32, &T)> {
        self.items
            .iter()
            .enumerate()
            .filter(|(_, x)| !x.vacant())
            .map(|(i, v)| (i as u32, v))
    }
}

// Indexing skips the bounds check. Soundness: every index handed out is
// below `items.len()` (`insert` returns a pushed or a freed slot, and
// `items` never shrinks), and the simulator indexes only with ids it got
// from `insert`. Debug builds check both the bound and liveness. Measured
// (callgrind, 200k messages): -4.0% instructions on scenarios/bench/retry.toml
// (614.1M -> 589.8M), -4.2% on mm1.toml (537.2M -> 514.7M).
impl<T: Slot> std::ops::Index<u32> for Slab<T> {
    type Output = T;
    #[inline(always)]
    fn index(&self, i: u32) -> &T {
        debug_assert!((i as usize) < self.items.len(), "slab index out of range");
        // SAFETY: see above; `i` came from `insert`, so it is in bounds.
        let v = unsafe { self.items.get_unchecked(i as usize) };
        debug_assert!(!v.vacant(), "indexing a free slab slot");
        v
    }
}

impl<T: Slot> std::ops::IndexMut<u32> for Slab<T> {
    #[inline(always)]
    fn index_mut(&mut self, i: u32) -> &mut T {
        debug_assert!((i as usize) < self.items.len(), "slab index out of range");
        // SAFETY: as for `index`.
        let v = unsafe { self.items.get_unchecked_mut(i as usize) };
        debug_assert!(!v.vacant(), "indexing a free slab slot");
        v
    }
}
