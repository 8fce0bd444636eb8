//! Keyed state with optional deadlines: a hash map plus a min-heap of deadlines with lazy
//! deletion. The building block of the transaction table, the reassembler's chunk-reception
//! timer and the sent-message tracking. No clock: callers pass `now`.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::Hash;
use std::time::Instant;

struct Slot<V> {
    value: V,
    timer: Option<(Instant, u64)>,
}

/// A map whose entries may carry a deadline. [`pop_expired`](Self::pop_expired) yields the
/// entries whose deadline has passed, earliest first.
///
/// Removing an entry leaves its heap record behind; records whose entry is gone (or was
/// re-armed) are dropped when they reach the top, and the heap is rebuilt when such garbage
/// outnumbers the live entries, so memory stays proportional to the live entries.
pub struct TimedMap<K, V> {
    map: HashMap<K, Slot<V>>,
    heap: BinaryHeap<Reverse<(Instant, u64, K)>>,
    seq: u64,
    armed: usize,
}

impl<K: Hash + Eq + Ord + Clone, V> Default for TimedMap<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Hash + Eq + Ord + Clone, V> TimedMap<K, V> {
    /// An empty map.
    pub fn new() -> Self {
        TimedMap {
            map: HashMap::new(),
            heap: BinaryHeap::new(),
            seq: 0,
            armed: 0,
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// `true` when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &K) -> bool {
        self.map.contains_key(key)
    }

    /// The value for `key`.
    pub fn get(&self, key: &K) -> Option<&V> {
        self.map.get(key).map(|s| &s.value)
    }

    /// The value for `key`, mutably.
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.map.get_mut(key).map(|s| &mut s.value)
    }

    /// The deadline of `key`, if it has one.
    pub fn deadline(&self, key: &K) -> Option<Instant> {
        self.map.get(key).and_then(|s| s.timer).map(|t| t.0)
    }

    /// Inserts or replaces `key`; returns the previous value.
    pub fn insert(&mut self, key: K, value: V, deadline: Option<Instant>) -> Option<V> {
        let timer = deadline.map(|d| self.push(d, key.clone()));
        let old = self.map.insert(key, Slot { value, timer });
        if let Some(o) = &old {
            if o.timer.is_some() {
                self.armed -= 1;
            }
        }
        old.map(|s| s.value)
    }

    /// Sets (or clears) the deadline of an existing entry. Returns `false` if absent.
    pub fn set_deadline(&mut self, key: &K, deadline: Option<Instant>) -> bool {
        let Some(had) = self.map.get(key).map(|s| s.timer.is_some()) else {
            return false;
        };
        let timer = deadline.map(|d| self.push(d, key.clone()));
        if let Some(slot) = self.map.get_mut(key) {
            slot.timer = timer;
        }
        if had {
            self.armed -= 1;
        }
        self.compact();
        true
    }

    /// Removes `key` and returns its value.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        let slot = self.map.remove(key)?;
        if slot.timer.is_some() {
            self.armed -= 1;
        }
        self.prune();
        self.compact();
        Some(slot.value)
    }

    /// The earliest live deadline.
    pub fn next_deadline(&mut self) -> Option<Instant> {
        self.prune();
        self.heap.peek().map(|Reverse((d, _, _))| *d)
    }

    /// Removes and returns one entry whose deadline is at or before `now`, earliest first.
    pub fn pop_expired(&mut self, now: Instant) -> Option<(K, V)> {
        self.prune();
        let Reverse((d, _, _)) = self.heap.peek()?;
        if *d > now {
            return None;
        }
        let Reverse((_, _, key)) = self.heap.pop()?;
        let slot = self.map.remove(&key)?;
        self.armed -= 1;
        Some((key, slot.value))
    }

    /// Iterates over all entries (any order).
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.map.iter().map(|(k, s)| (k, &s.value))
    }

    /// Removes every entry and returns them (any order).
    pub fn drain(&mut self) -> impl Iterator<Item = (K, V)> + '_ {
        self.heap.clear();
        self.armed = 0;
        self.map.drain().map(|(k, s)| (k, s.value))
    }

    /// Keeps only the entries for which `f` returns `true`.
    pub fn retain(&mut self, mut f: impl FnMut(&K, &mut V) -> bool) {
        let mut removed_armed = 0;
        self.map.retain(|k, s| {
            let keep = f(k, &mut s.value);
            if !keep && s.timer.is_some() {
                removed_armed += 1;
            }
            keep
        });
        self.armed -= removed_armed;
        self.prune();
        self.compact();
    }

    fn push(&mut self, deadline: Instant, key: K) -> (Instant, u64) {
        self.seq += 1;
        self.armed += 1;
        self.heap.push(Reverse((deadline, self.seq, key)));
        (deadline, self.seq)
    }

    fn is_live(&self, seq: u64, key: &K) -> bool {
        self.map
            .get(key)
            .and_then(|s| s.timer)
            .is_some_and(|t| t.1 == seq)
    }

    /// Drops stale records from the top of the heap.
    fn prune(&mut self) {
        while let Some(Reverse((_, seq, key))) = self.heap.peek() {
            if self.is_live(*seq, key) {
                break;
            }
            self.heap.pop();
        }
    }

    /// Rebuilds the heap when stale records dominate (entries removed out of deadline order).
    fn compact(&mut self) {
        if self.heap.len() > 64 && self.heap.len() > 2 * self.armed {
            let heap = std::mem::take(&mut self.heap);
            self.heap = heap
                .into_iter()
                .filter(|Reverse((_, seq, key))| self.is_live(*seq, key))
                .collect();
        }
    }
}

/// A bounded map of recently seen keys: inserting beyond the capacity forgets the oldest
/// key. Fixed memory, O(1) operations (duplicate detection, refused Message-IDs).
pub struct RecentMap<K, V> {
    order: std::collections::VecDeque<K>,
    map: HashMap<K, V>,
    cap: usize,
}

impl<K: Hash + Eq + Clone, V> RecentMap<K, V> {
    /// A map remembering at most `cap` keys.
    pub fn new(cap: usize) -> Self {
        RecentMap {
            order: std::collections::VecDeque::new(),
            map: HashMap::new(),
            cap,
        }
    }

    /// Remembers `key` with `value` (replacing the value of a known key; a no-op when the
    /// capacity is 0).
    pub fn insert(&mut self, key: K, value: V) {
        if self.cap == 0 {
            return;
        }
        if let Some(v) = self.map.get_mut(&key) {
            *v = value;
            return;
        }
        if self.order.len() >= self.cap {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            }
        }
        self.order.push_back(key.clone());
        self.map.insert(key, value);
    }

    /// The value remembered for `key`.
    pub fn get(&self, key: &K) -> Option<&V> {
        self.map.get(key)
    }

    /// Whether `key` was seen recently.
    pub fn contains(&self, key: &K) -> bool {
        self.map.contains_key(key)
    }

    /// Number of remembered keys.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// `true` when nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn expires_in_deadline_order_and_skips_removed_entries() {
        let t0 = Instant::now();
        let mut m = TimedMap::new();
        m.insert(3u32, "c", Some(t0 + Duration::from_secs(3)));
        m.insert(1, "a", Some(t0 + Duration::from_secs(1)));
        m.insert(2, "b", Some(t0 + Duration::from_secs(2)));
        m.insert(9, "none", None);
        assert_eq!(m.next_deadline(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(m.remove(&1), Some("a"));
        assert_eq!(m.next_deadline(), Some(t0 + Duration::from_secs(2)));
        assert_eq!(m.pop_expired(t0 + Duration::from_millis(1500)), None);
        assert_eq!(m.pop_expired(t0 + Duration::from_secs(5)), Some((2, "b")));
        assert_eq!(m.pop_expired(t0 + Duration::from_secs(5)), Some((3, "c")));
        assert_eq!(m.pop_expired(t0 + Duration::from_secs(5)), None);
        assert_eq!(m.len(), 1);
        assert_eq!(m.next_deadline(), None);
    }

    #[test]
    fn rearming_replaces_the_old_deadline() {
        let t0 = Instant::now();
        let mut m = TimedMap::new();
        m.insert(1u32, (), Some(t0 + Duration::from_secs(1)));
        assert!(m.set_deadline(&1, Some(t0 + Duration::from_secs(10))));
        assert_eq!(m.pop_expired(t0 + Duration::from_secs(2)), None);
        assert_eq!(m.next_deadline(), Some(t0 + Duration::from_secs(10)));
        assert!(m.set_deadline(&1, None));
        assert_eq!(m.next_deadline(), None);
        assert!(!m.set_deadline(&2, None));
    }

    #[test]
    fn heap_garbage_stays_bounded_under_out_of_order_removal() {
        let t0 = Instant::now();
        let mut m = TimedMap::new();
        for i in 0..10_000u32 {
            m.insert(i, (), Some(t0 + Duration::from_millis(u64::from(i))));
            // Remove the newest entry, never the earliest: the top of the heap stays live.
            if i > 0 {
                m.remove(&i);
            }
        }
        assert_eq!(m.len(), 1);
        assert!(m.heap.len() <= 130, "heap kept {} records", m.heap.len());
    }

    #[test]
    fn recent_map_forgets_the_oldest() {
        let mut r = RecentMap::new(2);
        r.insert(1, 'a');
        r.insert(2, 'b');
        r.insert(2, 'c');
        r.insert(3, 'd');
        assert!(!r.contains(&1));
        assert_eq!((r.get(&2), r.get(&3)), (Some(&'c'), Some(&'d')));
        assert_eq!(r.len(), 2);
        let mut none = RecentMap::new(0);
        none.insert(1, ());
        assert!(none.is_empty());
    }
}
