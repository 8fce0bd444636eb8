//! RFC 4975 `ident` (transaction ids and Message-IDs): validation, an inline copyable form,
//! and generation from a caller-supplied random source (so tests stay deterministic).

use super::chars::{self, IDENT};
use memchr::memmem;
use std::fmt;

/// Shortest legal ident.
pub const IDENT_MIN: usize = 4;
/// Longest legal ident.
pub const IDENT_MAX: usize = 32;

/// `ident = ALPHANUM 3*31ident-char` (RFC 4975 §9).
#[inline]
pub fn is_ident(s: &[u8]) -> bool {
    (IDENT_MIN..=IDENT_MAX).contains(&s.len())
        && s[0].is_ascii_alphanumeric()
        && chars::all(&s[1..], IDENT)
}

/// A source of randomness for ids. Implemented for any `FnMut() -> u64`, so a caller can pass
/// `|| rng.next_u64()` or a counter in tests.
pub trait RandomSource {
    /// Next 64 random bits.
    fn next_u64(&mut self) -> u64;
}

impl<F: FnMut() -> u64> RandomSource for F {
    fn next_u64(&mut self) -> u64 {
        self()
    }
}

/// A validated ident stored inline (no allocation, `Copy`): a transaction id or Message-ID.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ident {
    len: u8,
    buf: [u8; IDENT_MAX],
}

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Length of generated idents: 16 base-62 characters carry 95 bits.
pub const GENERATED_IDENT_LEN: usize = 16;

impl Ident {
    /// Validates and copies `s`.
    pub fn new(s: &[u8]) -> Option<Ident> {
        if !is_ident(s) {
            return None;
        }
        let mut buf = [0u8; IDENT_MAX];
        buf[..s.len()].copy_from_slice(s);
        Some(Ident {
            len: s.len() as u8,
            buf,
        })
    }

    /// A fresh random ident of [`GENERATED_IDENT_LEN`] alphanumeric characters (>= 64 bits of
    /// randomness, RFC 4975 §7.1).
    pub fn random(rng: &mut impl RandomSource) -> Ident {
        let mut buf = [0u8; IDENT_MAX];
        let (mut a, mut b) = (rng.next_u64(), rng.next_u64());
        for (i, slot) in buf.iter_mut().take(GENERATED_IDENT_LEN).enumerate() {
            let src = if i < 8 { &mut a } else { &mut b };
            *slot = ALPHABET[(*src % 62) as usize];
            *src /= 62;
        }
        Ident {
            len: GENERATED_IDENT_LEN as u8,
            buf,
        }
    }

    /// A random transaction id whose end-line marker `-------<tid>` does not occur in `body`
    /// (RFC 4975 §7.1: pick a new id if it would). `None` only if 64 draws all collide, which
    /// cannot happen with a working random source.
    pub fn random_for_body(rng: &mut impl RandomSource, body: &[u8]) -> Option<Ident> {
        (0..64)
            .map(|_| Ident::random(rng))
            .find(|tid| !body_contains_end_marker(body, tid.as_bytes()))
    }

    /// The ident's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len as usize]
    }

    /// The ident as text (idents are ASCII).
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).unwrap_or("")
    }
}

impl AsRef<[u8]> for Ident {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl fmt::Debug for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ident({})", self.as_str())
    }
}

impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether `body` contains `-------<tid>` followed by a continuation flag, i.e. whether a
/// receiver could mistake part of the body for this transaction's end-line.
pub fn body_contains_end_marker(body: &[u8], tid: &[u8]) -> bool {
    let mut needle = [0u8; 7 + IDENT_MAX];
    if tid.len() > IDENT_MAX {
        return false;
    }
    needle[..7].copy_from_slice(b"-------");
    needle[7..7 + tid.len()].copy_from_slice(tid);
    let needle = &needle[..7 + tid.len()];
    let mut from = 0;
    while let Some(i) = memmem::find(&body[from..], needle) {
        let after = from + i + needle.len();
        match body.get(after) {
            Some(b'+' | b'$' | b'#') => return true,
            // A marker cut at the end of the body could be completed by the flag the writer adds.
            None => return true,
            _ => from += i + 1,
        }
    }
    false
}
