//! Outstanding requests of one connection, keyed by transaction id, each with a deadline
//! counted from the moment its last byte was handed to the transport (RFC 4975 §7.1.1: 30 s
//! by default). What an expiry means (a 408 for the user, or silently forgetting an entry kept
//! only to correlate error responses under Failure-Report: partial) is the caller's choice,
//! carried in the entry's data `T`.

use super::timers::TimedMap;
use crate::wire::{Ident, RandomSource};
use std::time::{Duration, Instant};

/// RFC 4975 §7.1.1: no 200 within 30 s of the last byte ⇒ the request probably failed.
pub const DEFAULT_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(30);

/// Outstanding transactions with their timers.
pub struct TransactionTable<T> {
    map: TimedMap<Ident, T>,
    timeout: Duration,
}

impl<T> TransactionTable<T> {
    /// A table whose entries expire `timeout` after they start.
    pub fn new(timeout: Duration) -> Self {
        TransactionTable {
            map: TimedMap::new(),
            timeout,
        }
    }

    /// The default timeout of [`start`](Self::start).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Number of outstanding transactions.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// `true` when nothing is outstanding.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Whether `tid` is outstanding.
    pub fn contains(&self, tid: &Ident) -> bool {
        self.map.contains_key(tid)
    }

    /// The data of an outstanding transaction.
    pub fn get(&self, tid: &Ident) -> Option<&T> {
        self.map.get(tid)
    }

    /// A fresh random transaction id that is not outstanding and whose end-line does not occur
    /// in `body` (RFC 4975 §7.1).
    pub fn new_tid(&self, rng: &mut impl RandomSource, body: &[u8]) -> Option<Ident> {
        (0..8)
            .filter_map(|_| Ident::random_for_body(rng, body))
            .find(|t| !self.map.contains_key(t))
    }

    /// Records a request whose last byte was handed to the transport at `now`; it expires
    /// after the table's timeout.
    pub fn start(&mut self, now: Instant, tid: Ident, data: T) {
        self.start_with_timeout(now, tid, data, self.timeout);
    }

    /// Like [`start`](Self::start) with an explicit timeout.
    pub fn start_with_timeout(&mut self, now: Instant, tid: Ident, data: T, timeout: Duration) {
        self.map.insert(tid, data, Some(now + timeout));
    }

    /// A response arrived: removes and returns the transaction (`None` if unknown: a late or
    /// foreign response, to be ignored).
    pub fn complete(&mut self, tid: &Ident) -> Option<T> {
        self.map.remove(tid)
    }

    /// The earliest deadline.
    pub fn next_deadline(&mut self) -> Option<Instant> {
        self.map.next_deadline()
    }

    /// One transaction whose deadline has passed, earliest first.
    pub fn poll_expired(&mut self, now: Instant) -> Option<(Ident, T)> {
        self.map.pop_expired(now)
    }

    /// Removes every transaction for which `f` returns `false`.
    pub fn retain(&mut self, mut f: impl FnMut(&Ident, &mut T) -> bool) {
        self.map.retain(|k, v| f(k, v));
    }

    /// Removes and returns every outstanding transaction (connection lost).
    pub fn drain(&mut self) -> impl Iterator<Item = (Ident, T)> + '_ {
        self.map.drain()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tid(s: &str) -> Ident {
        Ident::new(s.as_bytes()).unwrap()
    }

    #[test]
    fn response_completes_and_timeout_expires() {
        let t0 = Instant::now();
        let mut tt = TransactionTable::new(DEFAULT_TRANSACTION_TIMEOUT);
        tt.start(t0, tid("aaaa"), 1);
        tt.start(t0 + Duration::from_secs(1), tid("bbbb"), 2);
        assert_eq!(tt.complete(&tid("aaaa")), Some(1));
        assert_eq!(tt.complete(&tid("aaaa")), None);
        assert_eq!(tt.next_deadline(), Some(t0 + Duration::from_secs(31)));
        assert!(tt.poll_expired(t0 + Duration::from_secs(30)).is_none());
        assert_eq!(
            tt.poll_expired(t0 + Duration::from_secs(31)),
            Some((tid("bbbb"), 2))
        );
        assert!(tt.is_empty());
    }

    #[test]
    fn new_tid_avoids_live_ids() {
        let mut tt = TransactionTable::new(DEFAULT_TRANSACTION_TIMEOUT);
        let first = Ident::random(&mut || 5u64);
        tt.start(Instant::now(), first, ());
        // A source that repeats the live id first, then changes.
        let mut calls = 0u64;
        let mut rng = move || {
            calls += 1;
            if calls <= 2 {
                5
            } else {
                calls
            }
        };
        let t = tt.new_tid(&mut rng, b"").unwrap();
        assert_ne!(t, first);
    }
}
