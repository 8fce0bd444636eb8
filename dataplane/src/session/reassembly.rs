//! Reassembly of incoming chunked messages (RFC 4975 §7.3.1): a virtual buffer per
//! Message-ID, filled at each chunk's range-start in any order, overlapping data overwritten by
//! the latest chunk, the `$` chunk fixing the length, `#` aborting, and a chunk-reception
//! timeout. Byte-Range values are sanity-checked before anything is allocated (§14.5), and
//! every allocation is bounded by configuration (limits map to 413).

use super::ranges::RangeSet;
use super::timers::TimedMap;
use crate::wire::{ByteRange, Continuation};
use bytes::{Bytes, BytesMut};
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Bounds on what the reassembler keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReassemblyLimits {
    /// Largest message accepted (bytes); larger ones are refused.
    pub max_message_size: u64,
    /// Most bytes buffered for all incomplete messages together.
    pub max_buffered_bytes: u64,
    /// Most incomplete messages at once.
    pub max_messages: usize,
    /// Most disjoint received ranges per message (out-of-order fragmentation).
    pub max_fragments: usize,
    /// An incomplete message that receives nothing for this long is dropped.
    pub timeout: Duration,
}

impl Default for ReassemblyLimits {
    fn default() -> Self {
        ReassemblyLimits {
            max_message_size: 32 * 1024 * 1024,
            max_buffered_bytes: 64 * 1024 * 1024,
            max_messages: 64,
            max_fragments: 4096,
            timeout: Duration::from_secs(300),
        }
    }
}

/// Why a chunk cannot be taken. Every refusal is answered with 413 (stop sending this
/// message).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The message is (or claims to be) larger than `max_message_size`.
    #[error("message exceeds the maximum message size")]
    TooLarge,
    /// Buffering it would exceed `max_buffered_bytes`.
    #[error("reassembly buffer budget exhausted")]
    BufferFull,
    /// `max_messages` incomplete messages are already buffered.
    #[error("too many incomplete messages")]
    TooManyMessages,
    /// More than `max_fragments` disjoint ranges.
    #[error("message too fragmented")]
    TooFragmented,
}

impl Refusal {
    /// The MSRP status code answering this refusal.
    pub fn status_code(self) -> u16 {
        413
    }
}

struct Partial<M> {
    buf: BytesMut,
    ranges: RangeSet,
    final_len: Option<u64>,
    declared_total: Option<u64>,
    charged: u64,
    last_activity: Instant,
    chunks: u32,
    meta: M,
}

/// Where a message stands after one of its chunks ended.
#[derive(Debug)]
pub enum Progress<M> {
    /// Still incomplete.
    Partial {
        /// Distinct bytes received so far.
        received: u64,
        /// The final length if a `$` chunk fixed it, else the declared total if any.
        total: Option<u64>,
    },
    /// Every byte up to the length fixed by the `$` chunk has arrived.
    Complete {
        /// The message body (the reassembly buffer, frozen without copying).
        body: Bytes,
        /// The caller's data for this message.
        meta: M,
        /// Chunks that contributed.
        chunks: u32,
    },
    /// The sender aborted the message (`#`); the partial data is dropped.
    Aborted {
        /// Distinct bytes received before the abort.
        received: u64,
        /// The caller's data for this message.
        meta: M,
    },
}

/// Buffers of incomplete messages keyed by `K` (e.g. session + Message-ID), each carrying
/// caller data `M` (e.g. the first chunk's head).
pub struct Reassembler<K, M> {
    limits: ReassemblyLimits,
    map: TimedMap<K, Partial<M>>,
    buffered: u64,
}

impl<K: Hash + Eq + Ord + Clone, M> Reassembler<K, M> {
    /// An empty reassembler.
    pub fn new(limits: ReassemblyLimits) -> Self {
        Reassembler {
            limits,
            map: TimedMap::new(),
            buffered: 0,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &ReassemblyLimits {
        &self.limits
    }

    /// Number of incomplete messages.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// `true` when nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Bytes currently reserved for incomplete messages.
    pub fn buffered_bytes(&self) -> u64 {
        self.buffered
    }

    /// Whether a message is being reassembled under `key`.
    pub fn contains(&self, key: &K) -> bool {
        self.map.contains_key(key)
    }

    /// Checks a chunk's Byte-Range against the size limit before any byte is buffered.
    pub fn check_range(&self, r: &ByteRange) -> Result<(), Refusal> {
        let max = self.limits.max_message_size;
        let too_big = r.start.saturating_sub(1) > max
            || r.end.is_some_and(|e| e > max)
            || r.total.is_some_and(|t| t > max);
        if too_big {
            Err(Refusal::TooLarge)
        } else {
            Ok(())
        }
    }

    /// The caller's data of a message being reassembled.
    pub fn meta_mut(&mut self, key: &K) -> Option<&mut M> {
        self.map.get_mut(key).map(|p| &mut p.meta)
    }

    /// Places `data` at 0-based `offset` of the message `key`, creating its buffer (with
    /// `meta()`) if needed; `declared_total` (the Byte-Range total) sizes a new buffer.
    /// On error the caller should [`remove`](Self::remove) the message.
    pub fn write(
        &mut self,
        now: Instant,
        key: &K,
        offset: u64,
        data: &[u8],
        declared_total: Option<u64>,
        meta: impl FnOnce() -> M,
    ) -> Result<(), Refusal> {
        let max = self.limits.max_message_size;
        let end = offset
            .checked_add(data.len() as u64)
            .ok_or(Refusal::TooLarge)?;
        if end > max || declared_total.is_some_and(|t| t > max) {
            return Err(Refusal::TooLarge);
        }
        // `end <= max_message_size`, which must fit memory anyway.
        let (offset_us, end_us) = match (usize::try_from(offset), usize::try_from(end)) {
            (Ok(o), Ok(e)) => (o, e),
            _ => return Err(Refusal::TooLarge),
        };
        if !self.map.contains_key(key) {
            if self.map.len() >= self.limits.max_messages {
                return Err(Refusal::TooManyMessages);
            }
            let reserve = declared_total.unwrap_or(0);
            if self.buffered + reserve > self.limits.max_buffered_bytes {
                return Err(Refusal::BufferFull);
            }
            self.buffered += reserve;
            let p = Partial {
                buf: BytesMut::with_capacity(reserve as usize),
                ranges: RangeSet::new(),
                final_len: None,
                declared_total,
                charged: reserve,
                last_activity: now,
                chunks: 0,
                meta: meta(),
            };
            self.map
                .insert(key.clone(), p, Some(now + self.limits.timeout));
        }
        let budget = self.limits.max_buffered_bytes;
        let max_fragments = self.limits.max_fragments;
        let buffered = &mut self.buffered;
        let Some(p) = self.map.get_mut(key) else {
            return Err(Refusal::TooManyMessages);
        };
        if data.is_empty() {
            p.last_activity = now;
            return Ok(());
        }
        if end > p.charged {
            let growth = end - p.charged;
            if *buffered + growth > budget {
                return Err(Refusal::BufferFull);
            }
            *buffered += growth;
            p.charged = end;
        }
        if p.ranges.intervals() >= max_fragments && !p.ranges.touches(offset, end) {
            return Err(Refusal::TooFragmented);
        }
        p.ranges.insert(offset, end);
        // Latest data wins: overwrite what overlaps, zero-fill a gap, append the rest.
        if offset_us > p.buf.len() {
            p.buf.resize(offset_us, 0);
        }
        let overlap_end = end_us.min(p.buf.len());
        let split = overlap_end.saturating_sub(offset_us);
        if split > 0 {
            p.buf[offset_us..overlap_end].copy_from_slice(&data[..split]);
        }
        p.buf.extend_from_slice(&data[split..]);
        p.last_activity = now;
        if p.declared_total.is_none() {
            p.declared_total = declared_total;
        }
        Ok(())
    }

    /// Records the end of a chunk of `key` whose body ended at 0-based position `chunk_end`
    /// (its range-start - 1 + its actual length) with `flag`. `None` if no such message
    /// exists (write at least an empty slice first).
    pub fn end_chunk(
        &mut self,
        now: Instant,
        key: &K,
        chunk_end: u64,
        flag: Continuation,
    ) -> Option<Progress<M>> {
        let p = self.map.get_mut(key)?;
        p.chunks += 1;
        p.last_activity = now;
        match flag {
            Continuation::Abort => {
                let (meta, received) = self.remove(key)?;
                return Some(Progress::Aborted { received, meta });
            }
            // The `$` chunk fixes the length, even against a declared total (§7.3.1).
            Continuation::Complete => p.final_len = Some(chunk_end),
            Continuation::More => {}
        }
        match p.final_len {
            Some(len) if p.ranges.covers_prefix(len) => {
                let chunks = p.chunks;
                let p = self.take(key)?;
                let mut buf = p.buf;
                buf.truncate(len as usize);
                Some(Progress::Complete {
                    body: buf.freeze(),
                    meta: p.meta,
                    chunks,
                })
            }
            _ => Some(Progress::Partial {
                received: p.ranges.covered(),
                total: p.final_len.or(p.declared_total),
            }),
        }
    }

    /// Drops the message `key`; returns its data and the bytes received.
    pub fn remove(&mut self, key: &K) -> Option<(M, u64)> {
        let p = self.take(key)?;
        Some((p.meta, p.ranges.covered()))
    }

    fn take(&mut self, key: &K) -> Option<Partial<M>> {
        let p = self.map.remove(key)?;
        self.buffered -= p.charged;
        Some(p)
    }

    /// The next time an incomplete message may time out.
    pub fn next_deadline(&mut self) -> Option<Instant> {
        self.map.next_deadline()
    }

    /// One message that received nothing for the configured timeout: key, data, bytes
    /// received.
    pub fn poll_expired(&mut self, now: Instant) -> Option<(K, M, u64)> {
        while let Some((key, p)) = self.map.pop_expired(now) {
            // Activity re-arms lazily: one timer record per message, not one per chunk.
            let due = p.last_activity + self.limits.timeout;
            if due > now {
                self.map.insert(key, p, Some(due));
                continue;
            }
            self.buffered -= p.charged;
            let received = p.ranges.covered();
            return Some((key, p.meta, received));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ReassemblyLimits {
        ReassemblyLimits {
            max_message_size: 1000,
            max_buffered_bytes: 1500,
            max_messages: 2,
            max_fragments: 4,
            timeout: Duration::from_secs(10),
        }
    }

    fn complete(p: Option<Progress<&'static str>>) -> Bytes {
        match p {
            Some(Progress::Complete { body, .. }) => body,
            other => panic!("not complete: {other:?}"),
        }
    }

    #[test]
    fn out_of_order_with_dollar_first() {
        let t = Instant::now();
        let mut r = Reassembler::new(limits());
        r.write(t, &1, 6, b"world", None, || "m").unwrap();
        assert!(matches!(
            r.end_chunk(t, &1, 11, Continuation::Complete),
            Some(Progress::Partial {
                received: 5,
                total: Some(11)
            })
        ));
        r.write(t, &1, 0, b"hello ", None, || "m").unwrap();
        let body = complete(r.end_chunk(t, &1, 6, Continuation::More));
        assert_eq!(&body[..], b"hello world");
        assert!(r.is_empty());
        assert_eq!(r.buffered_bytes(), 0);
    }

    #[test]
    fn overlap_latest_wins() {
        let t = Instant::now();
        let mut r = Reassembler::new(limits());
        r.write(t, &1, 0, &[b'a'; 100], Some(150), || "m").unwrap();
        r.end_chunk(t, &1, 100, Continuation::More);
        r.write(t, &1, 49, &[b'b'; 101], Some(150), || "m").unwrap();
        let body = complete(r.end_chunk(t, &1, 150, Continuation::Complete));
        assert_eq!(&body[..49], &[b'a'; 49][..]);
        assert_eq!(&body[49..], &[b'b'; 101][..]);
    }

    #[test]
    fn unknown_total_grows_and_dollar_truncates() {
        let t = Instant::now();
        let mut r = Reassembler::new(limits());
        r.write(t, &1, 0, b"0123456789", None, || "m").unwrap();
        r.end_chunk(t, &1, 10, Continuation::More);
        // A `$` chunk ending earlier than data already held fixes a shorter length.
        r.write(t, &1, 0, b"0123", None, || "m").unwrap();
        let body = complete(r.end_chunk(t, &1, 4, Continuation::Complete));
        assert_eq!(&body[..], b"0123");
    }

    #[test]
    fn abort_drops_the_buffer() {
        let t = Instant::now();
        let mut r = Reassembler::new(limits());
        r.write(t, &1, 0, b"abc", Some(10), || "m").unwrap();
        assert!(matches!(
            r.end_chunk(t, &1, 3, Continuation::Abort),
            Some(Progress::Aborted {
                received: 3,
                meta: "m"
            })
        ));
        assert!(r.is_empty());
        assert_eq!(r.buffered_bytes(), 0);
    }

    #[test]
    fn limits_refuse_before_allocating() {
        let t = Instant::now();
        let mut r: Reassembler<u32, ()> = Reassembler::new(limits());
        let big = ByteRange {
            start: 1,
            end: None,
            total: Some(1_000_000_000_000),
        };
        assert_eq!(r.check_range(&big), Err(Refusal::TooLarge));
        assert_eq!(
            r.write(t, &1, 0, b"x", Some(1_000_000_000_000), || ()),
            Err(Refusal::TooLarge)
        );
        assert_eq!(
            r.write(t, &1, 999, b"xx", None, || ()),
            Err(Refusal::TooLarge)
        );
        assert_eq!(
            r.write(t, &1, u64::MAX, b"xx", None, || ()),
            Err(Refusal::TooLarge)
        );
        assert!(r.is_empty());
        // Budget: 1000 reserved + 600 > 1500.
        r.write(t, &1, 0, b"x", Some(1000), || ()).unwrap();
        assert_eq!(
            r.write(t, &2, 0, b"x", Some(600), || ()),
            Err(Refusal::BufferFull)
        );
        r.write(t, &2, 0, b"x", None, || ()).unwrap();
        assert_eq!(
            r.write(t, &3, 0, b"x", None, || ()),
            Err(Refusal::TooManyMessages)
        );
        // Fragmentation.
        for i in 1..4 {
            r.write(t, &2, i * 10, b"x", None, || ()).unwrap();
        }
        assert_eq!(
            r.write(t, &2, 100, b"x", None, || ()),
            Err(Refusal::TooFragmented)
        );
        assert_eq!(r.remove(&2).map(|x| x.1), Some(4));
    }

    #[test]
    fn timeout_counts_from_the_last_activity() {
        let t = Instant::now();
        let mut r = Reassembler::new(limits());
        r.write(t, &1, 0, b"a", None, || "m").unwrap();
        r.write(t + Duration::from_secs(8), &1, 1, b"b", None, || "m")
            .unwrap();
        assert!(r.poll_expired(t + Duration::from_secs(11)).is_none());
        assert_eq!(r.next_deadline(), Some(t + Duration::from_secs(18)));
        let (k, m, got) = r.poll_expired(t + Duration::from_secs(18)).unwrap();
        assert_eq!((k, m, got), (1, "m", 2));
        assert_eq!(r.buffered_bytes(), 0);
    }
}
