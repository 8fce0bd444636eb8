//! Sets of byte positions as sorted, disjoint, non-adjacent half-open intervals: which bytes
//! of a message were received (reassembly) or confirmed by success REPORTs (sender).

/// A set of `u64` positions stored as merged half-open intervals `[start, end)`.
/// Appending in order (the common case) is O(1); other inserts are O(intervals).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RangeSet {
    v: Vec<(u64, u64)>,
}

impl RangeSet {
    /// An empty set.
    pub fn new() -> Self {
        RangeSet::default()
    }

    /// Adds `[start, end)`; empty intervals are ignored.
    pub fn insert(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        // Fast path: extends or follows the last interval.
        match self.v.last_mut() {
            None => {
                self.v.push((start, end));
                return;
            }
            Some(last) if start >= last.0 && start <= last.1 => {
                last.1 = last.1.max(end);
                return;
            }
            Some(last) if start > last.1 => {
                self.v.push((start, end));
                return;
            }
            _ => {}
        }
        // First interval that could touch [start, end): its end >= start.
        let i = self.v.partition_point(|&(_, e)| e < start);
        // One past the last interval that touches: its start <= end.
        let j = self.v.partition_point(|&(s, _)| s <= end);
        if i == j {
            self.v.insert(i, (start, end));
            return;
        }
        let merged = (start.min(self.v[i].0), end.max(self.v[j - 1].1));
        self.v[i] = merged;
        self.v.drain(i + 1..j);
    }

    /// Whether `[start, end)` overlaps or is adjacent to an interval of the set (so that
    /// inserting it would not add an interval).
    pub fn touches(&self, start: u64, end: u64) -> bool {
        let i = self.v.partition_point(|&(_, e)| e < start);
        self.v.get(i).is_some_and(|&(s, _)| s <= end)
    }

    /// Removes every position at or after `end`.
    pub fn truncate(&mut self, end: u64) {
        self.v.retain(|&(s, _)| s < end);
        if let Some(last) = self.v.last_mut() {
            last.1 = last.1.min(end);
        }
    }

    /// Number of positions in the set.
    pub fn covered(&self) -> u64 {
        self.v.iter().map(|&(s, e)| e - s).sum()
    }

    /// Length of the run starting at 0 (0 if position 0 is missing).
    pub fn prefix_len(&self) -> u64 {
        match self.v.first() {
            Some(&(0, e)) => e,
            _ => 0,
        }
    }

    /// Whether every position in `[0, len)` is present (always true for `len == 0`).
    pub fn covers_prefix(&self, len: u64) -> bool {
        len == 0 || self.prefix_len() >= len
    }

    /// Number of intervals (a measure of fragmentation).
    pub fn intervals(&self) -> usize {
        self.v.len()
    }

    /// `true` when empty.
    pub fn is_empty(&self) -> bool {
        self.v.is_empty()
    }

    /// The intervals in order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.v.iter().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn merges_overlapping_and_adjacent() {
        let mut r = RangeSet::new();
        r.insert(10, 20);
        r.insert(30, 40);
        r.insert(0, 5);
        assert_eq!(r.intervals(), 3);
        r.insert(5, 10);
        assert_eq!(r.iter().collect::<Vec<_>>(), vec![(0, 20), (30, 40)]);
        r.insert(15, 35);
        assert_eq!(r.iter().collect::<Vec<_>>(), vec![(0, 40)]);
        assert!(r.covers_prefix(40));
        assert!(!r.covers_prefix(41));
        r.truncate(25);
        assert_eq!(r.iter().collect::<Vec<_>>(), vec![(0, 25)]);
    }

    proptest! {
        #[test]
        fn matches_a_bitmap(ops in proptest::collection::vec((0u64..200, 0u64..40), 0..60)) {
            let mut r = RangeSet::new();
            let mut bits = [false; 240];
            for (s, l) in ops {
                r.insert(s, s + l);
                for b in bits.iter_mut().skip(s as usize).take(l as usize) {
                    *b = true;
                }
            }
            let covered = bits.iter().filter(|b| **b).count() as u64;
            prop_assert_eq!(r.covered(), covered);
            let prefix = bits.iter().take_while(|b| **b).count() as u64;
            prop_assert_eq!(r.prefix_len(), prefix);
            // Disjoint, sorted, non-adjacent.
            let v: Vec<_> = r.iter().collect();
            for w in v.windows(2) {
                prop_assert!(w[0].1 < w[1].0);
            }
            for (s, e) in v {
                prop_assert!(s < e);
                prop_assert!(bits[s as usize..e as usize].iter().all(|b| *b));
            }
        }
    }
}
