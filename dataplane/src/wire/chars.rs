//! Byte classes of the MSRP, URI and CPIM grammars as one lookup table, so every hot-path
//! character test is a single load and mask.

pub(crate) const ALPHA: u16 = 1;
pub(crate) const DIGIT: u16 = 1 << 1;
/// `ALPHANUM / "." / "-" / "+" / "%" / "="` (RFC 4975 ident-char).
pub(crate) const IDENT: u16 = 1 << 2;
/// RFC 4975 `token` characters (also the MIME token set).
pub(crate) const TOKEN: u16 = 1 << 3;
/// RFC 3986 `unreserved`.
pub(crate) const UNRESERVED: u16 = 1 << 4;
/// RFC 3986 `sub-delims`.
pub(crate) const SUB_DELIM: u16 = 1 << 5;
/// RFC 4975 session-id characters: `unreserved / "+" / "=" / "/"`.
pub(crate) const SESSION_ID: u16 = 1 << 6;
pub(crate) const UPALPHA: u16 = 1 << 7;
/// `HTAB / %x20-7E / %x80-FF`: bytes allowed in `utf8text` (UTF-8 sequences checked loosely).
pub(crate) const TEXT: u16 = 1 << 8;
pub(crate) const HEX: u16 = 1 << 9;
/// RFC 3986 `unreserved / sub-delims` without ";" (which separates the MSRP URI transport).
pub(crate) const REG_NAME: u16 = 1 << 10;

const fn build() -> [u16; 256] {
    let mut t = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        let mut m = 0u16;
        let alpha = c.is_ascii_alphabetic();
        let digit = c.is_ascii_digit();
        if alpha {
            m |= ALPHA;
        }
        if digit {
            m |= DIGIT;
        }
        if c.is_ascii_uppercase() {
            m |= UPALPHA;
        }
        if c.is_ascii_hexdigit() {
            m |= HEX;
        }
        if alpha || digit || matches!(c, b'.' | b'-' | b'+' | b'%' | b'=') {
            m |= IDENT;
        }
        // token = 1*(%x21 / %x23-27 / %x2A-2B / %x2D-2E / %x30-39 / %x41-5A / %x5E-7E)
        if c == 0x21
            || (c >= 0x23 && c <= 0x27)
            || (c >= 0x2A && c <= 0x2B)
            || (c >= 0x2D && c <= 0x2E)
            || (c >= 0x30 && c <= 0x39)
            || (c >= 0x41 && c <= 0x5A)
            || (c >= 0x5E && c <= 0x7E)
        {
            m |= TOKEN;
        }
        let unreserved = alpha || digit || matches!(c, b'-' | b'.' | b'_' | b'~');
        if unreserved {
            m |= UNRESERVED;
        }
        let sub_delim = matches!(
            c,
            b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
        );
        if sub_delim {
            m |= SUB_DELIM;
        }
        if (unreserved || sub_delim) && c != b';' {
            m |= REG_NAME;
        }
        if unreserved || matches!(c, b'+' | b'=' | b'/') {
            m |= SESSION_ID;
        }
        if c == b'\t' || (c >= 0x20 && c <= 0x7E) || c >= 0x80 {
            m |= TEXT;
        }
        t[i] = m;
        i += 1;
    }
    t
}

static TABLE: [u16; 256] = build();

#[inline(always)]
pub(crate) fn is(c: u8, class: u16) -> bool {
    TABLE[c as usize] & class != 0
}

#[inline]
pub(crate) fn all(s: &[u8], class: u16) -> bool {
    run_len(s, class) == s.len()
}

/// Parses a non-empty run of ASCII digits into a `u64`, refusing overflow.
#[inline]
pub(crate) fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(v)
}

/// Trims leading and trailing SP / HTAB.
#[inline]
pub(crate) fn trim_ws(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// Length of the longest prefix of `s` whose bytes are all in `class`. Eight table lookups are
/// AND-ed per step, so a long run costs about two instructions per byte.
#[inline]
pub(crate) fn run_len(s: &[u8], class: u16) -> usize {
    let mut i = 0;
    while let Some(w) = s.get(i..i + 8) {
        let m = TABLE[w[0] as usize]
            & TABLE[w[1] as usize]
            & TABLE[w[2] as usize]
            & TABLE[w[3] as usize]
            & TABLE[w[4] as usize]
            & TABLE[w[5] as usize]
            & TABLE[w[6] as usize]
            & TABLE[w[7] as usize];
        if m & class == 0 {
            break;
        }
        i += 8;
    }
    while let Some(&c) = s.get(i) {
        if !is(c, class) {
            break;
        }
        i += 1;
    }
    i
}
