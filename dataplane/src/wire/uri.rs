//! MSRP URIs (RFC 4975 §6, RFC 7977 `ws`): a borrowed view, an owned form for session tables,
//! comparison per §6.1 and a normalized key for hash-map lookups without allocation.

use super::chars::{self, ALPHA, DIGIT, HEX, SESSION_ID, SUB_DELIM, TOKEN, UNRESERVED};
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

fn pct_ok(s: &[u8], class: u16) -> bool {
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c == b'%' {
            match s.get(i + 1..i + 3) {
                Some([a, b]) if chars::is(*a, HEX) && chars::is(*b, HEX) => i += 3,
                _ => return false,
            }
        } else if chars::is(c, class) {
            i += 1;
        } else {
            return false;
        }
    }
    true
}

fn parse_parts(raw: &[u8]) -> Result<Parts, WireError> {
    let sep = memchr::memmem::find(raw, b"://").ok_or_else(uri_err)?;
    let scheme = match &raw[..sep] {
        s if s.eq_ignore_ascii_case(b"msrp") => Scheme::Msrp,
        s if s.eq_ignore_ascii_case(b"msrps") => Scheme::Msrps,
        _ => return Err(uri_err()),
    };
    let auth_start = sep + 3;
    let auth_end = raw[auth_start..]
        .iter()
        .position(|&c| c == b'/' || c == b';')
        .map_or(raw.len(), |i| auth_start + i);
    let authority = &raw[auth_start..auth_end];
    let (userinfo, host_start) = match memchr::memrchr(b'@', authority) {
        Some(at) => {
            let ui = &authority[..at];
            // userinfo without ":" (no password, §6); sub-delims minus ";" (our separator).
            if ui.is_empty() || !pct_ok(ui, UNRESERVED | SUB_DELIM) {
                return Err(uri_err());
            }
            (Span::new(auth_start, auth_start + at), auth_start + at + 1)
        }
        None => (Span::NONE, auth_start),
    };
    let hostport = &raw[host_start..auth_end];
    let (host, host_kind, port_str) = if hostport.first() == Some(&b'[') {
        let close = memchr::memchr(b']', hostport).ok_or_else(uri_err)?;
        let inner = std::str::from_utf8(&hostport[1..close]).map_err(|_| uri_err())?;
        let addr: Ipv6Addr = inner.parse().map_err(|_| uri_err())?;
        let after = &hostport[close + 1..];
        let port = match after {
            [] => None,
            [b':', p @ ..] => Some(p),
            _ => return Err(uri_err()),
        };
        (
            Span::new(host_start, host_start + close + 1),
            Host::V6(addr),
            port,
        )
    } else {
        let (h, port) = match memchr::memrchr(b':', hostport) {
            Some(c) => (&hostport[..c], Some(&hostport[c + 1..])),
            None => (hostport, None),
        };
        if h.is_empty() || !pct_ok(h, UNRESERVED | SUB_DELIM) || h.contains(&b';') {
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
        (Span::new(host_start, host_start + h.len()), kind, port)
    };
    let port = match port_str {
        None => None,
        Some(p) => {
            if p.is_empty() || !chars::all(p, DIGIT) {
                return Err(uri_err());
            }
            let n = chars::parse_u64(p).ok_or(ErrorKind::NumberOverflow)?;
            Some(u16::try_from(n).map_err(|_| WireError::value(ErrorKind::NumberOverflow))?)
        }
    };
    let mut pos = auth_end;
    let session_id = if raw.get(pos) == Some(&b'/') {
        let start = pos + 1;
        let end = memchr::memchr(b';', &raw[start..]).map_or(raw.len(), |i| start + i);
        let sid = &raw[start..end];
        if sid.is_empty() || !chars::all(sid, SESSION_ID) {
            return Err(uri_err());
        }
        pos = end;
        Span::new(start, end)
    } else {
        Span::NONE
    };
    // ";" transport is mandatory.
    if raw.get(pos) != Some(&b';') {
        return Err(uri_err());
    }
    let t_start = pos + 1;
    let t_end = memchr::memchr(b';', &raw[t_start..]).map_or(raw.len(), |i| t_start + i);
    let transport = &raw[t_start..t_end];
    if transport.is_empty() || !chars::all(transport, ALPHA | DIGIT) {
        return Err(uri_err());
    }
    // *( ";" URI-parameter ), URI-parameter = token ["=" token]
    let params = &raw[t_end..];
    for p in params.split(|&c| c == b';').skip(1) {
        let (name, value) = match memchr::memchr(b'=', p) {
            Some(eq) => (&p[..eq], Some(&p[eq + 1..])),
            None => (p, None),
        };
        if name.is_empty() || !chars::all(name, TOKEN) {
            return Err(uri_err());
        }
        if let Some(v) = value {
            if v.is_empty() || !chars::all(v, TOKEN) {
                return Err(uri_err());
            }
        }
    }
    Ok(Parts {
        scheme,
        userinfo,
        host,
        host_kind,
        port,
        session_id,
        transport: Span::new(t_start, t_end),
        params: Span::new(t_end, raw.len()),
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

/// Validates a whole path value: `MSRP-URI *(SP MSRP-URI)`; returns the number of URIs.
pub(crate) fn validate_path(value: &[u8]) -> Result<usize, WireError> {
    if value.is_empty() || value.ends_with(b" ") {
        return Err(uri_err());
    }
    let mut n = 0;
    for u in PathIter::new(value) {
        u?;
        n += 1;
    }
    Ok(n)
}
