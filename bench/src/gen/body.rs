//! Message bodies that check themselves: each starts with a stamp (stream, sequence number,
//! send time) followed by filler that depends on the stamp, so the receiver can tell a lost,
//! duplicated, reordered or corrupted message from a good one with a compare, no lookup.

use bytes::Bytes;

/// Length of the stamp at the start of every body.
pub const STAMP_LEN: usize = 8 + 16 + 16;

/// Smallest body the factory makes (stamp plus a little filler).
pub const MIN_BODY: usize = STAMP_LEN + 8;

/// What a body carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// The stream (session, sender) it belongs to.
    pub stream: u32,
    /// Its number in the stream, from 0.
    pub seq: u64,
    /// Send time, nanoseconds since the run's epoch.
    pub sent_ns: u64,
}

/// What is wrong with a received body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BodyCheck {
    /// Intact.
    Ok(Stamp),
    /// Not the length sent.
    Length(usize),
    /// The stamp does not parse.
    Stamp,
    /// The filler differs from what the stamp implies.
    Corrupt(Stamp),
}

/// Makes and checks bodies of one size.
pub struct BodyFactory {
    len: usize,
    /// Filler twice as long as needed, so any rotation is one slice.
    fill: Vec<u8>,
}

const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

fn hex(out: &mut [u8], v: u64) {
    let n = out.len();
    for (i, b) in out.iter_mut().enumerate() {
        let shift = 4 * (n - 1 - i);
        *b = b"0123456789abcdef"[((v >> shift) & 15) as usize];
    }
}

fn unhex(s: &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for &c in s {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => return None,
        };
        v = (v << 4) | u64::from(d);
    }
    Some(v)
}

impl BodyFactory {
    /// Bodies of `len` bytes (at least [`MIN_BODY`]).
    pub fn new(len: usize) -> BodyFactory {
        let len = len.max(MIN_BODY);
        let n = 2 * (len - STAMP_LEN) + 251;
        let mut x = 0x243f_6a88_85a3_08d3u64;
        let fill = (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                ALPHABET[(x % 62) as usize]
            })
            .collect();
        BodyFactory { len, fill }
    }

    /// Body length.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false (bodies are at least [`MIN_BODY`] long).
    pub fn is_empty(&self) -> bool {
        false
    }

    fn filler(&self, s: &Stamp) -> &[u8] {
        let off = ((u64::from(s.stream).wrapping_mul(31) + s.seq) % 251) as usize;
        &self.fill[off..off + self.len - STAMP_LEN]
    }

    /// The body for `s`.
    pub fn make(&self, s: Stamp) -> Bytes {
        let mut v = vec![0u8; self.len];
        hex(&mut v[0..8], u64::from(s.stream));
        hex(&mut v[8..24], s.seq);
        hex(&mut v[24..40], s.sent_ns);
        v[STAMP_LEN..].copy_from_slice(self.filler(&s));
        Bytes::from(v)
    }

    /// Reads the stamp without checking the rest.
    pub fn stamp(body: &[u8]) -> Option<Stamp> {
        if body.len() < STAMP_LEN {
            return None;
        }
        Some(Stamp {
            stream: u32::try_from(unhex(&body[0..8])?).ok()?,
            seq: unhex(&body[8..24])?,
            sent_ns: unhex(&body[24..40])?,
        })
    }

    /// Checks a received body.
    pub fn check(&self, body: &[u8]) -> BodyCheck {
        if body.len() != self.len {
            return BodyCheck::Length(body.len());
        }
        let Some(s) = Self::stamp(body) else {
            return BodyCheck::Stamp;
        };
        if &body[STAMP_LEN..] == self.filler(&s) {
            BodyCheck::Ok(s)
        } else {
            BodyCheck::Corrupt(s)
        }
    }
}

/// A cheap order-independent checksum of bodies (sum of 64-bit words), to compare what was
/// sent with what arrived in total.
pub fn checksum(body: &[u8]) -> u64 {
    let mut s = 0u64;
    let mut it = body.chunks_exact(8);
    for w in &mut it {
        s = s.wrapping_add(u64::from_le_bytes(w.try_into().unwrap_or([0; 8])));
    }
    for (i, &b) in it.remainder().iter().enumerate() {
        s = s.wrapping_add(u64::from(b) << (8 * i));
    }
    s.rotate_left(7) ^ body.len() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_check_and_detect_damage() {
        let f = BodyFactory::new(100);
        let s = Stamp {
            stream: 3,
            seq: 77,
            sent_ns: 123_456_789,
        };
        let b = f.make(s);
        assert_eq!(b.len(), 100);
        assert_eq!(f.check(&b), BodyCheck::Ok(s));
        let mut bad = b.to_vec();
        bad[70] ^= 1;
        assert_eq!(f.check(&bad), BodyCheck::Corrupt(s));
        assert_eq!(f.check(&b[..99]), BodyCheck::Length(99));
        let mut bad = b.to_vec();
        bad[10] = b'z';
        assert_eq!(f.check(&bad), BodyCheck::Stamp);
        // A body re-labelled with another sequence number no longer matches its filler.
        let other = f.make(Stamp { seq: 78, ..s });
        let mut swapped = other.to_vec();
        swapped[..STAMP_LEN].copy_from_slice(&b[..STAMP_LEN]);
        assert_eq!(f.check(&swapped), BodyCheck::Corrupt(s));
        assert_ne!(checksum(&b), checksum(&other));
    }

    #[test]
    fn body_is_text_without_end_line_markers() {
        let f = BodyFactory::new(4096);
        let b = f.make(Stamp {
            stream: 1,
            seq: 2,
            sent_ns: 3,
        });
        assert!(b.iter().all(u8::is_ascii_alphanumeric));
        assert!(memchr::memmem::find(&b, b"-------").is_none());
    }
}
