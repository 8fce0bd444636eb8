//! Splitting an outgoing message into chunks (RFC 4975 §5.1, §7.1): chunk plans with their
//! Byte-Range, the rule that a chunk body above 2048 octets is interruptible (range-end `*`),
//! a cursor that hands a chunk's body out in zero-copy slices so that it can be interrupted
//! between slices, and the choice of a transaction id whose end-line is not in the body.

use crate::wire::{body_contains_end_marker, ByteRange, Ident, RandomSource};
use bytes::Bytes;

/// A chunk body larger than this MUST be interruptible, i.e. sent with range-end `*` (§7.1).
pub const INTERRUPTIBLE_ABOVE: usize = 2048;

/// What the next chunk of a message will carry if it is not interrupted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkPlan {
    /// 0-based offset of the chunk's first body byte in the message.
    pub offset: usize,
    /// Most bytes the chunk carries (fewer if it is interrupted).
    pub max_len: usize,
    /// Range-end is `*`: the body may exceed 2048 octets, so it must be interruptible.
    pub interruptible: bool,
    /// Sent whole, the chunk ends the message (`$`).
    pub last: bool,
}

impl ChunkPlan {
    /// The Byte-Range header of the chunk in a message of `total` bytes: 1-based start, end
    /// `*` when interruptible, the known total. An empty message gives `1-0/0`.
    pub fn byte_range(&self, total: usize) -> ByteRange {
        ByteRange {
            start: self.offset as u64 + 1,
            end: (!self.interruptible).then_some((self.offset + self.max_len) as u64),
            total: Some(total as u64),
        }
    }
}

/// Plans chunks of at most `chunk_size` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunker {
    chunk_size: usize,
}

impl Chunker {
    /// Chunks of at most `chunk_size` bytes (at least 1).
    pub fn new(chunk_size: usize) -> Self {
        Chunker {
            chunk_size: chunk_size.max(1),
        }
    }

    /// The configured chunk size.
    pub fn chunk_size(&self) -> usize {
        self.chunk_size
    }

    /// The chunk that starts at `offset` of a message of `total` bytes.
    pub fn plan(&self, total: usize, offset: usize) -> ChunkPlan {
        let offset = offset.min(total);
        let max_len = self.chunk_size.min(total - offset);
        ChunkPlan {
            offset,
            max_len,
            interruptible: max_len > INTERRUPTIBLE_ABOVE,
            last: offset + max_len == total,
        }
    }

    /// How many chunks a message of `total` bytes takes when none is interrupted (an empty
    /// message still takes one).
    pub fn count(&self, total: usize) -> usize {
        total.div_ceil(self.chunk_size).max(1)
    }
}

/// A random transaction id whose end-line `-------<tid><flag>` does not occur in `body` (the
/// chunk's largest possible extent: any prefix of it is then safe too). `None` only with a
/// broken random source.
pub fn choose_tid(rng: &mut impl RandomSource, body: &[u8]) -> Option<Ident> {
    Ident::random_for_body(rng, body)
}

/// The body of a chunk being written, handed out in slices (each a zero-copy `Bytes` of the
/// message body) so that the chunk can be interrupted between two slices.
#[derive(Debug, Clone)]
pub struct ChunkCursor {
    tid: Ident,
    body: Bytes,
    offset: usize,
    sent: usize,
}

impl ChunkCursor {
    /// A cursor over `body`, the chunk's largest extent, which starts at message `offset`.
    pub fn new(tid: Ident, body: Bytes, offset: usize) -> Self {
        ChunkCursor {
            tid,
            body,
            offset,
            sent: 0,
        }
    }

    /// The chunk's transaction id.
    pub fn tid(&self) -> Ident {
        self.tid
    }

    /// The next slice of at most `max` bytes (at least 1 while bytes remain; empty once the
    /// extent is exhausted), or `None` if sending it under this chunk's transaction id could
    /// put `-------<tid><flag>` into the body: the caller then interrupts the chunk here and
    /// continues in a new one with another id (RFC 4975 §7.1). Scanning slice by slice, with
    /// an overlap as long as the marker, keeps the check linear in the message size however
    /// often chunks are interrupted.
    pub fn next_slice(&mut self, max: usize) -> Option<Bytes> {
        let n = max.max(1).min(self.body.len() - self.sent);
        let window_start = self.sent.saturating_sub(7 + self.tid.as_bytes().len());
        let window = &self.body[window_start..self.sent + n];
        if body_contains_end_marker(window, self.tid.as_bytes()) {
            return None;
        }
        let s = self.body.slice(self.sent..self.sent + n);
        self.sent += n;
        Some(s)
    }

    /// Body bytes handed out so far.
    pub fn sent(&self) -> usize {
        self.sent
    }

    /// Whether the whole extent has been handed out.
    pub fn is_done(&self) -> bool {
        self.sent == self.body.len()
    }

    /// Message offset of the first byte not yet handed out (where a continuation starts).
    pub fn next_offset(&self) -> usize {
        self.offset + self.sent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_cover_the_message_with_correct_ranges() {
        let c = Chunker::new(3000);
        let total = 7000;
        let mut off = 0;
        let mut ranges = Vec::new();
        loop {
            let p = c.plan(total, off);
            ranges.push((p.byte_range(total), p.last));
            off += p.max_len;
            if p.last {
                break;
            }
        }
        let r = |s, e| ByteRange {
            start: s,
            end: e,
            total: Some(7000),
        };
        assert_eq!(
            ranges,
            vec![
                (r(1, None), false),
                (r(3001, None), false),
                (r(6001, Some(7000)), true)
            ]
        );
        assert_eq!(c.count(total), 3);
    }

    #[test]
    fn small_chunks_have_explicit_ends_and_empty_messages_one_chunk() {
        let c = Chunker::new(2048);
        let p = c.plan(5000, 2048);
        assert!(!p.interruptible);
        assert_eq!(p.byte_range(5000).end, Some(4096));
        let e = c.plan(0, 0);
        assert_eq!(
            e.byte_range(0),
            ByteRange {
                start: 1,
                end: Some(0),
                total: Some(0)
            }
        );
        assert!(e.last);
        assert_eq!(c.count(0), 1);
        assert!(Chunker::new(2049).plan(5000, 0).interruptible);
    }

    #[test]
    fn cursor_slices_share_the_body() {
        let body = Bytes::from(vec![7u8; 10]);
        let mut cur = ChunkCursor::new(Ident::new(b"abcd").unwrap(), body.slice(2..10), 2);
        let a = cur.next_slice(3).unwrap();
        assert_eq!(a.len(), 3);
        assert_eq!(a.as_ptr(), body[2..].as_ptr(), "slice must not copy");
        assert_eq!(cur.next_offset(), 5);
        let b = cur.next_slice(100).unwrap();
        assert_eq!(b.len(), 5);
        assert!(cur.is_done());
        assert_eq!(cur.next_slice(100).map(|b| b.len()), Some(0));
    }

    #[test]
    fn cursor_refuses_a_slice_that_completes_the_end_marker() {
        let tid = Ident::new(b"abcd").unwrap();
        // The marker straddles the boundary between the first and second slice.
        let body = Bytes::from_static(b"0123456789-------abcd+tail");
        let mut cur = ChunkCursor::new(tid, body.clone(), 0);
        assert_eq!(cur.next_slice(14).unwrap(), &body[..14]);
        assert!(
            cur.next_slice(100).is_none(),
            "second slice completes the marker"
        );
        assert_eq!(cur.next_offset(), 14);
        // A new chunk with another id carries the rest safely.
        let mut next = ChunkCursor::new(Ident::new(b"wxyz").unwrap(), body.slice(14..), 14);
        assert_eq!(next.next_slice(100).unwrap(), &body[14..]);
    }

    #[test]
    fn chosen_tid_never_appears_as_end_marker() {
        // A source that first returns ids whose marker is planted in the body.
        let mut n = 0u64;
        let mut rng = move || {
            n += 1;
            if n <= 4 {
                0
            } else {
                n.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            }
        };
        let bad = Ident::random(&mut || 0u64);
        let mut body = b"xx-------".to_vec();
        body.extend_from_slice(bad.as_bytes());
        body.extend_from_slice(b"$yy");
        let tid = choose_tid(&mut rng, &body).unwrap();
        assert_ne!(tid, bad);
        assert!(!body_contains_end_marker(&body, tid.as_bytes()));
    }
}
