//! A table: a fixed set of records (the scenario's producers, queues,
//! consumer groups and instances, and the simulator's state for each),
//! indexed by the ids the model builder gave them.
//!
//! The set is fixed when the table is built (no `push` afterwards), and
//! every id the simulator indexes with was minted by the builder for that
//! table and checked then (a group's queue, an instance's group, an
//! event's producer). So indexing skips the bounds check, which the hot
//! path would otherwise pay a few dozen times per message, on the same
//! terms as [`crate::sim`]'s slabs: debug builds, and the `checked`
//! profile that CI runs the simulation tests under, check every index.

use std::ops::{Deref, DerefMut, Index, IndexMut};

#[derive(Clone, Debug, Default, PartialEq)]
///
/// Crate-private: safe code outside the crate could otherwise build a
/// table and index it out of range (`Table::from(vec![1])[5]`), which is
/// undefined behaviour in a release build. Outside the crate, the model's
/// tables are seen as checked slices.
pub(crate) struct Table<T>(Vec<T>);

impl<T> From<Vec<T>> for Table<T> {
    fn from(v: Vec<T>) -> Self {
        Table(v)
    }
}

impl<T> FromIterator<T> for Table<T> {
    fn from_iter<I: IntoIterator<Item = T>>(it: I) -> Self {
        Table(it.into_iter().collect())
    }
}

/// Iteration, length and the rest of the read-only slice API.
impl<T> Deref for Table<T> {
    type Target = [T];
    #[inline(always)]
    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<T> DerefMut for Table<T> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.0
    }
}

impl<'a, T> IntoIterator for &'a Table<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<'a, T> IntoIterator for &'a mut Table<T> {
    type Item = &'a mut T;
    type IntoIter = std::slice::IterMut<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter_mut()
    }
}

impl<T> Index<usize> for Table<T> {
    type Output = T;
    #[inline(always)]
    fn index(&self, i: usize) -> &T {
        debug_assert!(
            i < self.0.len(),
            "table index {i} out of range ({})",
            self.0.len()
        );
        // SAFETY: the table's length is fixed at construction and every id
        // used to index it was minted for it by the model builder (module
        // documentation); debug builds check the bound above.
        unsafe { self.0.get_unchecked(i) }
    }
}

impl<T> IndexMut<usize> for Table<T> {
    #[inline(always)]
    fn index_mut(&mut self, i: usize) -> &mut T {
        debug_assert!(
            i < self.0.len(),
            "table index {i} out of range ({})",
            self.0.len()
        );
        // SAFETY: as for `index`.
        unsafe { self.0.get_unchecked_mut(i) }
    }
}

#[cfg(test)]
mod tests {
    use super::Table;

    #[test]
    fn indexes_and_iterates_like_the_vector_it_was() {
        let mut t: Table<u32> = vec![3, 1, 4].into();
        t[1] += 10;
        assert_eq!(t[1], 11);
        assert_eq!(t.len(), 3);
        assert_eq!(t.iter().sum::<u32>(), 18);
        assert_eq!(t.iter().rev().copied().collect::<Vec<_>>(), vec![4, 11, 3]);
        assert_eq!(t.get(3), None);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "out of range")]
    fn debug_builds_check_the_bound() {
        let t: Table<u32> = vec![1].into();
        let _ = t[1];
    }
}
