//! MSRP URIs (RFC 4975 §6, RFC 7977 `ws`): a borrowed view, an owned form for session tables,
//! comparison per §6.1 and a normalized key for hash-map lookups without allocation.

use super::chars::{self, ALPHA, DIGIT, HEX, REG_NAME, SESSION_ID, TOKEN, UNRESERVED};
use super::error::{ErrorKind, WireError};
use super::span::Span;
use bytes::Bytes;
use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::net::{Ipv4Addr, Ipv6Addr};

/// `msrp` or `msrps` (the latter means TLS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `msrp`: plain TCP (or WebSocket with `;ws`).
    Msrp,
    /// `msrps`: TLS.
    Msrps,
}

impl Scheme {
    /// Lower-case scheme name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Msrp => "msrp",
            Scheme::Msrps => "msrps",
        }
    }
}

/// What the host part is. IP literals compare as addresses (§6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Host {
    /// A registered name (DNS name), compared case-insensitively.
    Name,
    /// A dotted IPv4 literal.
    V4(Ipv4Addr),
    /// A bracketed IPv6 literal.
    V6(Ipv6Addr),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Parts {
    scheme: Scheme,
    userinfo: Span,
    host: Span,
    host_kind: Host,
    port: Option<u16>,
    session_id: Span,
    transport: Span,
    params: Span,
}

/// A validated MSRP URI borrowed from a header or SDP line.
#[derive(Clone, Copy)]
pub struct MsrpUri<'a> {
    raw: &'a [u8],
    p: Parts,
}

fn uri_err() -> WireError {
    WireError::value(ErrorKind::Uri)
}

fn is_hex2(raw: &[u8], i: usize) -> bool {
    matches!(raw.get(i..i + 2), Some([a, b]) if chars::is(*a, HEX) && chars::is(*b, HEX))
}

/// One pass over the bytes (this runs for every path URI of every frame).
fn parse_parts(raw: &[u8]) -> Result<Parts, WireError> {
    if raw.len() > u32::MAX as usize {
        return Err(uri_err());
    }
    let (scheme, auth_start) = if raw.len() > 7 && raw[..7].eq_ignore_ascii_case(b"msrp://") {
        (Scheme::Msrp, 7)
    } else if raw.len() > 8 && raw[..8].eq_ignore_ascii_case(b"msrps://") {
        (Scheme::Msrps, 8)
    } else {
        return Err(uri_err());
    };
    let n = raw.len();
    // Authority: [userinfo "@"] host [":" port], up to "/" or ";".
    let mut i = auth_start;
    let mut at: Option<usize> = None;
    let mut colon: Option<usize> = None;
    let mut colons = 0u32;
    let mut bracket = false;
    while i < n {
        // Skip the run of plain characters in one tight loop, then look at the special one.
        i += chars::run_len(&raw[i..], REG_NAME);
        let Some(&c) = raw.get(i) else { break };
        match c {
            b'/' | b';' => break,
            b'%' => {
                if !is_hex2(raw, i + 1) {
                    return Err(uri_err());
                }
                i += 3;
                continue;
            }
            // A ":" before "@" would be a password (not allowed, §6).
            b'@' => {
                if at.is_some() || colon.is_some() || bracket || i == auth_start {
                    return Err(uri_err());
                }
                at = Some(i);
            }
            b':' => {
                colon = Some(i);
                colons += 1;
            }
            b'[' | b']' => bracket = true,
            _ => return Err(uri_err()),
        }
        i += 1;
    }
    let auth_end = i;
    let (userinfo, host_start) = match at {
        Some(a) => (Span::new(auth_start, a), a + 1),
        None => (Span::NONE, auth_start),
    };
    let hostport = &raw[host_start..auth_end];
    let (host_end, host_kind, port_at) = if hostport.first() == Some(&b'[') {
        let close = memchr::memchr(b']', hostport).ok_or_else(uri_err)?;
        let inner = std::str::from_utf8(&hostport[1..close]).map_err(|_| uri_err())?;
        let addr: Ipv6Addr = inner.parse().map_err(|_| uri_err())?;
        let after = host_start + close + 1;
        let port_at = match raw.get(after) {
            _ if after == auth_end => None,
            Some(b':') => Some(after + 1),
            _ => return Err(uri_err()),
        };
        (after, Host::V6(addr), port_at)
    } else {
        if bracket || colons > 1 {
            return Err(uri_err());
        }
        let host_end = colon.unwrap_or(auth_end);
        let h = &raw[host_start..host_end];
        if h.is_empty() {
            return Err(uri_err());
        }
        let kind = if h.iter().all(|&c| c.is_ascii_digit() || c == b'.') {
            std::str::from_utf8(h)
                .ok()
                .and_then(|s| s.parse::<Ipv4Addr>().ok())
                .map_or(Host::Name, Host::V4)
        } else {
            Host::Name
        };
        (host_end, kind, colon.map(|c| c + 1))
    };
    let port = match port_at {
        None => None,
        Some(p) => {
            let digits = &raw[p..auth_end];
            if digits.is_empty() || !chars::all(digits, DIGIT) {
                return Err(uri_err());
            }
            let v = chars::parse_u64(digits).ok_or(ErrorKind::NumberOverflow)?;
            Some(u16::try_from(v).map_err(|_| WireError::value(ErrorKind::NumberOverflow))?)
        }
    };
    let mut i = auth_end;
    let session_id = if raw.get(i) == Some(&b'/') {
        let start = i + 1;
        i = start + chars::run_len(&raw[start..], SESSION_ID);
        if i == start || (i < n && raw[i] != b';') {
            return Err(uri_err());
        }
        Span::new(start, i)
    } else {
        Span::NONE
    };
    // ";" transport is mandatory: 1*ALPHANUM.
    if raw.get(i) != Some(&b';') {
        return Err(uri_err());
    }
    let t_start = i + 1;
    i = t_start + chars::run_len(&raw[t_start..], ALPHA | DIGIT);
    if i == t_start || (i < n && raw[i] != b';') {
        return Err(uri_err());
    }
    let t_end = i;
    // *( ";" token ["=" token] )
    while i < n {
        // raw[i] == ';'
        i += 1;
        let name_start = i;
        while i < n && chars::is(raw[i], TOKEN) {
            i += 1;
        }
        if i == name_start {
            return Err(uri_err());
        }
        if raw.get(i) == Some(&b'=') {
            i += 1;
            let v_start = i;
            while i < n && chars::is(raw[i], TOKEN) {
                i += 1;
            }
            if i == v_start {
                return Err(uri_err());
            }
        }
        if i < n && raw[i] != b';' {
            return Err(uri_err());
        }
    }
    Ok(Parts {
        scheme,
        userinfo,
        host: Span::new(host_start, host_end),
        host_kind,
        port,
        session_id,
        transport: Span::new(t_start, t_end),
        params: Span::new(t_end, n),
    })
}

impl<'a> MsrpUri<'a> {
    /// Parses and validates one MSRP URI (the whole of `raw`).
    pub fn parse(raw: &'a [u8]) -> Result<MsrpUri<'a>, WireError> {
        if raw.len() > u32::MAX as usize {
            return Err(uri_err());
        }
        Ok(MsrpUri {
            raw,
            p: parse_parts(raw)?,
        })
    }

    /// The URI exactly as received.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.raw
    }
    /// Scheme.
    pub fn scheme(&self) -> Scheme {
        self.p.scheme
    }
    /// userinfo before `@`, if any (ignored in comparisons).
    pub fn userinfo(&self) -> Option<&'a [u8]> {
        self.p.userinfo.opt(self.raw)
    }
    /// Host as written (brackets included for IPv6).
    pub fn host(&self) -> &'a [u8] {
        self.p.host.get(self.raw)
    }
    /// Host kind (name or IP literal).
    pub fn host_kind(&self) -> Host {
        self.p.host_kind
    }
    /// Explicit port.
    pub fn port(&self) -> Option<u16> {
        self.p.port
    }
    /// Session id (absent for relay URIs).
    pub fn session_id(&self) -> Option<&'a [u8]> {
        self.p.session_id.opt(self.raw)
    }
    /// Transport token, e.g. `tcp` or `ws`.
    pub fn transport(&self) -> &'a [u8] {
        self.p.transport.get(self.raw)
    }
    /// Extra `;name[=value]` parameters after the transport, raw (leading `;` included).
    pub fn params(&self) -> &'a [u8] {
        self.p.params.get(self.raw)
    }

    /// RFC 4975 §6.1 equality: scheme and host case-insensitive (IP literals as addresses,
    /// unreserved percent-escapes decoded), userinfo ignored, port presence and value equal,
    /// session-id case-sensitive, transport case-insensitive. Other parameters are ignored.
    pub fn same_as(&self, other: &MsrpUri<'_>) -> bool {
        self.p.scheme == other.p.scheme
            && self.p.port == other.p.port
            && self.session_id() == other.session_id()
            && self.transport().eq_ignore_ascii_case(other.transport())
            && match (self.p.host_kind, other.p.host_kind) {
                (Host::V4(a), Host::V4(b)) => a == b,
                (Host::V6(a), Host::V6(b)) => a == b,
                (Host::Name, Host::Name) => {
                    NormHost::new(self.host()).eq(NormHost::new(other.host()))
                }
                _ => false,
            }
    }

    /// Appends the normalized comparison key to `out`: two URIs are [`same_as`](Self::same_as)
    /// each other iff their keys are equal. Use it with a reusable buffer to look up an
    /// [`OwnedMsrpUri`] (or [`UriKey`]) in a `HashMap` without allocating.
    pub fn write_key(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.p.scheme.as_str().as_bytes());
        out.extend_from_slice(b"://");
        match self.p.host_kind {
            Host::V4(a) => {
                use std::io::Write;
                let _ = write!(out, "{a}");
            }
            Host::V6(a) => {
                use std::io::Write;
                let _ = write!(out, "[{a}]");
            }
            Host::Name => out.extend(NormHost::new(self.host())),
        }
        if let Some(p) = self.p.port {
            out.push(b':');
            out.extend_from_slice(itoa::Buffer::new().format(p).as_bytes());
        }
        if let Some(s) = self.session_id() {
            out.push(b'/');
            out.extend_from_slice(s);
        }
        out.push(b';');
        out.extend(self.transport().iter().map(u8::to_ascii_lowercase));
    }

    /// An owned copy (allocates once) for storage in session tables.
    pub fn to_owned_uri(&self) -> OwnedMsrpUri {
        OwnedMsrpUri::from_parts(Bytes::copy_from_slice(self.raw), self.p)
    }
}

/// Host bytes lower-cased with unreserved percent-escapes decoded (and the others upper-cased).
struct NormHost<'a> {
    s: &'a [u8],
    pending: [u8; 2],
    npending: u8,
}

impl<'a> NormHost<'a> {
    fn new(s: &'a [u8]) -> Self {
        NormHost {
            s,
            pending: [0; 2],
            npending: 0,
        }
    }
}

fn hexval(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0,
    }
}

impl Iterator for NormHost<'_> {
    type Item = u8;
    fn next(&mut self) -> Option<u8> {
        if self.npending > 0 {
            let c = self.pending[2 - self.npending as usize];
            self.npending -= 1;
            return Some(c);
        }
        let (&c, rest) = self.s.split_first()?;
        if c == b'%' {
            if let [a, b, tail @ ..] = rest {
                let v = hexval(*a) << 4 | hexval(*b);
                self.s = tail;
                if chars::is(v, UNRESERVED) {
                    return Some(v.to_ascii_lowercase());
                }
                self.pending = [a.to_ascii_uppercase(), b.to_ascii_uppercase()];
                self.npending = 2;
                return Some(b'%');
            }
        }
        self.s = rest;
        Some(c.to_ascii_lowercase())
    }
}

impl PartialEq for MsrpUri<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.same_as(other)
    }
}
impl Eq for MsrpUri<'_> {}

impl fmt::Debug for MsrpUri<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MsrpUri({})", String::from_utf8_lossy(self.raw))
    }
}

impl fmt::Display for MsrpUri<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(self.raw))
    }
}

/// The normalized comparison key of a URI (see [`MsrpUri::write_key`]). Borrows as `[u8]`, so
/// `HashMap<UriKey, _>::get(key_bytes)` works.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UriKey(Bytes);

impl UriKey {
    /// The key bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl Borrow<[u8]> for UriKey {
    fn borrow(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for UriKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UriKey({})", String::from_utf8_lossy(&self.0))
    }
}

/// An owned MSRP URI: the original bytes plus its normalized key. `Eq` and `Hash` follow
/// RFC 4975 §6.1 (via the key), and it borrows as the key's `[u8]`, so a
/// `HashMap<OwnedMsrpUri, _>` can be probed with [`MsrpUri::write_key`] output.
#[derive(Clone)]
pub struct OwnedMsrpUri {
    raw: Bytes,
    key: UriKey,
    p: Parts,
}

impl OwnedMsrpUri {
    /// Parses `raw` (kept without copying).
    pub fn parse(raw: Bytes) -> Result<OwnedMsrpUri, WireError> {
        let p = MsrpUri::parse(&raw)?.p;
        Ok(OwnedMsrpUri::from_parts(raw, p))
    }

    fn from_parts(raw: Bytes, p: Parts) -> OwnedMsrpUri {
        let mut key = Vec::with_capacity(raw.len());
        MsrpUri { raw: &raw, p }.write_key(&mut key);
        OwnedMsrpUri {
            raw,
            key: UriKey(Bytes::from(key)),
            p,
        }
    }

    /// The borrowed view.
    pub fn view(&self) -> MsrpUri<'_> {
        MsrpUri {
            raw: &self.raw,
            p: self.p,
        }
    }

    /// The original bytes.
    pub fn as_bytes(&self) -> &Bytes {
        &self.raw
    }

    /// The normalized key.
    pub fn key(&self) -> &UriKey {
        &self.key
    }
}

impl AsRef<[u8]> for OwnedMsrpUri {
    fn as_ref(&self) -> &[u8] {
        &self.raw
    }
}

impl PartialEq for OwnedMsrpUri {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl Eq for OwnedMsrpUri {}

impl Hash for OwnedMsrpUri {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Must hash exactly like the borrowed `[u8]` key.
        self.key.as_bytes().hash(state)
    }
}

impl Borrow<[u8]> for OwnedMsrpUri {
    fn borrow(&self) -> &[u8] {
        self.key.as_bytes()
    }
}

impl fmt::Debug for OwnedMsrpUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OwnedMsrpUri({})", String::from_utf8_lossy(&self.raw))
    }
}

impl fmt::Display for OwnedMsrpUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.raw))
    }
}

/// Iterator over the space-separated URIs of a To-Path / From-Path / Use-Path value.
/// Yields an error for a malformed URI (the parser has already validated To-Path and
/// From-Path, so for those every item is `Ok`).
#[derive(Clone, Debug)]
pub struct PathIter<'a> {
    rest: &'a [u8],
}

impl<'a> PathIter<'a> {
    /// Iterates the URIs of a path header value.
    pub fn new(value: &'a [u8]) -> Self {
        PathIter { rest: value }
    }
}

impl<'a> Iterator for PathIter<'a> {
    type Item = Result<MsrpUri<'a>, WireError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let (item, rest) = match memchr::memchr(b' ', self.rest) {
            Some(i) => (&self.rest[..i], &self.rest[i + 1..]),
            None => (self.rest, &[][..]),
        };
        self.rest = rest;
        let r = MsrpUri::parse(item);
        if r.is_err() {
            self.rest = &[];
        }
        Some(r)
    }
}

/// A parsed URI remembered by offset, so a head can hand out a view without re-parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CachedUri {
    start: u32,
    end: u32,
    p: Parts,
}

impl CachedUri {
    /// The same URI for a value found `base` bytes further on.
    pub(crate) fn rebased(mut self, base: usize) -> CachedUri {
        self.start += base as u32;
        self.end += base as u32;
        self
    }

    /// The view over `src`, which must be the bytes the offsets were taken from (the parser's
    /// head); if they do not fit, the result is `None` rather than a panic.
    pub(crate) fn view<'a>(&self, src: &'a [u8]) -> Option<MsrpUri<'a>> {
        let raw = src.get(self.start as usize..self.end as usize)?;
        Some(MsrpUri { raw, p: self.p })
    }
}

/// Remembers the last path value a parser validated: frames of one session repeat the same
/// To-Path and From-Path, so an identical value (one short compare) need not be parsed again.
#[derive(Clone)]
pub(crate) struct PathCache {
    len: u16,
    buf: [u8; PathCache::CAP],
    ends: Option<(CachedUri, CachedUri)>,
}

impl PathCache {
    const CAP: usize = 256;

    pub(crate) fn new() -> Self {
        PathCache {
            len: 0,
            buf: [0; Self::CAP],
            ends: None,
        }
    }

    /// First and last URI of `value` (offsets from `base`), parsing only if `value` differs
    /// from the previous one.
    pub(crate) fn validate(
        &mut self,
        value: &[u8],
        base: usize,
    ) -> Result<(CachedUri, CachedUri), WireError> {
        if let Some((f, l)) = self.ends {
            if value == &self.buf[..self.len as usize] {
                return Ok((f.rebased(base), l.rebased(base)));
            }
        }
        let (f, l) = validate_path(value, 0)?;
        if value.len() <= Self::CAP {
            self.buf[..value.len()].copy_from_slice(value);
            self.len = value.len() as u16;
            self.ends = Some((f, l));
        }
        Ok((f.rebased(base), l.rebased(base)))
    }
}

/// Validates a whole path value `MSRP-URI *(SP MSRP-URI)` that starts at offset `base` of the
/// head; returns its first and last URIs.
pub(crate) fn validate_path(
    value: &[u8],
    base: usize,
) -> Result<(CachedUri, CachedUri), WireError> {
    if value.is_empty() || value.ends_with(b" ") {
        return Err(uri_err());
    }
    let mut pos = 0;
    let mut first: Option<CachedUri> = None;
    loop {
        let end = memchr::memchr(b' ', &value[pos..]).map_or(value.len(), |i| pos + i);
        let c = CachedUri {
            start: (base + pos) as u32,
            end: (base + end) as u32,
            p: parse_parts(&value[pos..end])?,
        };
        if end == value.len() {
            return Ok((first.unwrap_or(c), c));
        }
        first.get_or_insert(c);
        pos = end + 1;
    }
}
