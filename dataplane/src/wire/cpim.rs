//! Zero-copy view of the Message/CPIM header blocks at the start of a body (RFC 3862): the
//! message headers (From, To, cc, DateTime, Subject, NS, Require, extensions), the
//! encapsulated MIME headers, and where the payload starts.
//!
//! Header names are case-sensitive (RFC 3862 §2.2): `from:` is an unknown header, not `From`.
//! Liberal where the fact sheet says so: NS with or without a space before `<`, any number of
//! From/DateTime headers (the first is reported).

use std::borrow::Cow;

/// Default cap on the two CPIM header blocks together.
pub const DEFAULT_MAX_CPIM_HEADERS: usize = 16 * 1024;

/// Why a CPIM view could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CpimError {
    /// The header blocks are not complete yet: wait for more body bytes.
    #[error("CPIM headers incomplete")]
    Incomplete,
    /// The header blocks exceed the configured cap.
    #[error("CPIM headers too large")]
    TooLarge,
    /// A line ending is not CRLF.
    #[error("malformed CPIM line ending")]
    LineEnding,
    /// A header line is not `Name:[;params] SP value`.
    #[error("malformed CPIM header")]
    Header,
    /// An address header is not `[Formal-name] "<" URI ">"`.
    #[error("malformed CPIM address")]
    Address,
}

impl CpimError {
    /// MSRP status code for a switch that rejects the SEND (400, or 413 for oversize).
    pub fn status_code(self) -> u16 {
        match self {
            CpimError::TooLarge => 413,
            _ => 400,
        }
    }
}

/// One CPIM message header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpimHeader<'a> {
    /// Name, case preserved (case-sensitive).
    pub name: &'a [u8],
    /// Raw `;param` list between the colon and the space (e.g. `;lang=fr`), possibly empty.
    pub params: &'a [u8],
    /// The value.
    pub value: &'a [u8],
}

impl<'a> CpimHeader<'a> {
    /// The `lang` parameter, if any.
    pub fn lang(&self) -> Option<&'a [u8]> {
        self.params
            .split(|&c| c == b';')
            .find_map(|p| p.strip_prefix(b"lang="))
    }
}

/// `[Formal-name] "<" URI ">"` (From, To, cc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpimAddress<'a> {
    /// The formal name as written (may be a quoted string), if any.
    pub name_raw: Option<&'a [u8]>,
    /// The URI between the angle brackets.
    pub uri: &'a [u8],
}

impl<'a> CpimAddress<'a> {
    /// Parses an address value.
    pub fn parse(v: &'a [u8]) -> Result<CpimAddress<'a>, CpimError> {
        let lt = memchr::memrchr(b'<', v).ok_or(CpimError::Address)?;
        if v.last() != Some(&b'>') || lt + 1 >= v.len() {
            return Err(CpimError::Address);
        }
        let uri = &v[lt + 1..v.len() - 1];
        if uri.is_empty() || uri.iter().any(|&c| c <= b' ' || c == b'<' || c == b'>') {
            return Err(CpimError::Address);
        }
        let name = trim(&v[..lt]);
        Ok(CpimAddress {
            name_raw: (!name.is_empty()).then_some(name),
            uri,
        })
    }

    /// The formal name with quotes and CPIM escapes removed.
    pub fn display_name(&self) -> Option<Cow<'a, str>> {
        let raw = self.name_raw?;
        match raw {
            [b'"', inner @ .., b'"'] if raw.len() >= 2 => Some(unescape(inner)),
            _ => Some(String::from_utf8_lossy(raw)),
        }
    }
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// RFC 3862 §2.3 escapes: `\\ \" \' \b \t \n \r \uXXXX`; an unknown escape gives the next
/// character, a trailing lone backslash is dropped.
fn unescape(s: &[u8]) -> Cow<'_, str> {
    if !s.contains(&b'\\') {
        return String::from_utf8_lossy(s);
    }
    let mut out: Vec<u8> = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] != b'\\' {
            out.push(s[i]);
            i += 1;
            continue;
        }
        let Some(&e) = s.get(i + 1) else { break };
        i += 2;
        match e {
            b'b' => out.push(0x08),
            b't' => out.push(b'\t'),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b'u' => {
                let hex = s.get(i..i + 4).and_then(|h| std::str::from_utf8(h).ok());
                if let Some(cp) = hex
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .and_then(char::from_u32)
                {
                    let mut tmp = [0u8; 4];
                    out.extend_from_slice(cp.encode_utf8(&mut tmp).as_bytes());
                    i += 4;
                } else {
                    out.push(b'u');
                }
            }
            other => out.push(other),
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// A validated view of the CPIM header blocks at the start of `body`.
#[derive(Debug, Clone, Copy)]
pub struct CpimView<'a> {
    body: &'a [u8],
    headers_end: usize,
    mime_start: usize,
    mime_end: usize,
    payload: usize,
}

/// Finds the next CRLF-terminated line at `pos`; `Ok(None)` if it is not complete yet.
fn next_line(body: &[u8], pos: usize) -> Result<Option<(usize, usize)>, CpimError> {
    match memchr::memchr(b'\n', &body[pos..]) {
        None => Ok(None),
        Some(rel) => {
            let nl = pos + rel;
            if nl == pos || body[nl - 1] != b'\r' {
                return Err(CpimError::LineEnding);
            }
            Ok(Some((nl - 1, nl + 1)))
        }
    }
}

fn parse_cpim_line(line: &[u8]) -> Result<CpimHeader<'_>, CpimError> {
    let colon = memchr::memchr(b':', line).ok_or(CpimError::Header)?;
    let name = &line[..colon];
    if name.is_empty()
        || name
            .iter()
            .any(|&c| c <= b' ' || c >= 0x7F || b"()<>@,;:\\\"/[]?={}".contains(&c))
    {
        return Err(CpimError::Header);
    }
    let rest = &line[colon + 1..];
    let sp = memchr::memchr(b' ', rest).ok_or(CpimError::Header)?;
    let params = &rest[..sp];
    if !params.is_empty() && params[0] != b';' {
        return Err(CpimError::Header);
    }
    Ok(CpimHeader {
        name,
        params,
        value: &rest[sp + 1..],
    })
}

fn parse_mime_line(line: &[u8]) -> Result<(&[u8], &[u8]), CpimError> {
    let colon = memchr::memchr(b':', line).ok_or(CpimError::Header)?;
    let name = &line[..colon];
    if name.is_empty() || name.iter().any(|&c| c <= b' ' || c >= 0x7F) {
        return Err(CpimError::Header);
    }
    Ok((name, trim(&line[colon + 1..])))
}

impl<'a> CpimView<'a> {
    /// Parses the header blocks at the start of `body` (the first chunk of a message/cpim
    /// message may hold only part of them: then `Incomplete`).
    pub fn parse(body: &'a [u8]) -> Result<CpimView<'a>, CpimError> {
        Self::parse_with_limit(body, DEFAULT_MAX_CPIM_HEADERS)
    }

    /// As [`parse`](Self::parse) with a cap on the header blocks' size.
    pub fn parse_with_limit(body: &'a [u8], max: usize) -> Result<CpimView<'a>, CpimError> {
        let incomplete = |len: usize| {
            if len > max {
                CpimError::TooLarge
            } else {
                CpimError::Incomplete
            }
        };
        let mut pos = 0;
        // Message headers up to the blank line.
        let headers_end = loop {
            let Some((le, next)) = next_line(body, pos)? else {
                return Err(incomplete(body.len()));
            };
            if next > max {
                return Err(CpimError::TooLarge);
            }
            if le == pos {
                break pos;
            }
            parse_cpim_line(&body[pos..le])?;
            pos = next;
        };
        pos = headers_end + 2;
        let mime_start = pos;
        let mime_end = loop {
            let Some((le, next)) = next_line(body, pos)? else {
                return Err(incomplete(body.len()));
            };
            if next > max {
                return Err(CpimError::TooLarge);
            }
            if le == pos {
                break pos;
            }
            parse_mime_line(&body[pos..le])?;
            pos = next;
        };
        Ok(CpimView {
            body,
            headers_end,
            mime_start,
            mime_end,
            payload: mime_end + 2,
        })
    }

    /// The CPIM message headers in order.
    pub fn headers(&self) -> impl Iterator<Item = CpimHeader<'a>> + 'a {
        let block = &self.body[..self.headers_end];
        lines(block).filter_map(|l| parse_cpim_line(l).ok())
    }

    fn first(&self, name: &[u8]) -> Option<CpimHeader<'a>> {
        self.headers().find(|h| h.name == name)
    }

    /// The first `From` address.
    pub fn from(&self) -> Option<Result<CpimAddress<'a>, CpimError>> {
        self.first(b"From").map(|h| CpimAddress::parse(h.value))
    }

    /// All `To` addresses (a chat switch rejects more than one with 403).
    pub fn to(&self) -> impl Iterator<Item = Result<CpimAddress<'a>, CpimError>> + 'a {
        self.headers()
            .filter(|h| h.name == b"To")
            .map(|h| CpimAddress::parse(h.value))
    }

    /// All `cc` addresses.
    pub fn cc(&self) -> impl Iterator<Item = Result<CpimAddress<'a>, CpimError>> + 'a {
        self.headers()
            .filter(|h| h.name == b"cc")
            .map(|h| CpimAddress::parse(h.value))
    }

    /// The first `DateTime` value (RFC 3339 text, not validated).
    pub fn datetime(&self) -> Option<&'a [u8]> {
        self.first(b"DateTime").map(|h| h.value)
    }

    /// All `Subject` headers (use [`CpimHeader::lang`]).
    pub fn subjects(&self) -> impl Iterator<Item = CpimHeader<'a>> + 'a {
        self.headers().filter(|h| h.name == b"Subject")
    }

    /// `NS` declarations as `(prefix, namespace-URI)`; the prefix is empty for the default.
    pub fn namespaces(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        self.headers().filter(|h| h.name == b"NS").filter_map(|h| {
            let v = h.value;
            let lt = memchr::memchr(b'<', v)?;
            if v.last() != Some(&b'>') {
                return None;
            }
            Some((trim(&v[..lt]), &v[lt + 1..v.len() - 1]))
        })
    }

    /// `Require` header names (comma separated, trimmed).
    pub fn require(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.headers()
            .filter(|h| h.name == b"Require")
            .flat_map(|h| h.value.split(|&c| c == b','))
            .map(trim)
            .filter(|s| !s.is_empty())
    }

    /// Headers RFC 3862 does not define (extensions, e.g. `imdn.Message-ID`).
    pub fn extension_headers(&self) -> impl Iterator<Item = CpimHeader<'a>> + 'a {
        const KNOWN: [&[u8]; 7] = [
            b"From",
            b"To",
            b"cc",
            b"DateTime",
            b"Subject",
            b"NS",
            b"Require",
        ];
        self.headers().filter(|h| !KNOWN.contains(&h.name))
    }

    /// The encapsulated MIME headers as `(name, value)`.
    pub fn mime_headers(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        lines(&self.body[self.mime_start..self.mime_end]).filter_map(|l| parse_mime_line(l).ok())
    }

    /// The payload's Content-Type (MIME names are case-insensitive).
    pub fn content_type(&self) -> Option<&'a [u8]> {
        self.mime_headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(b"Content-Type"))
            .map(|(_, v)| v)
    }

    /// Offset of the payload in the body.
    pub fn payload_offset(&self) -> usize {
        self.payload
    }

    /// The payload bytes present in the parsed slice.
    pub fn payload(&self) -> &'a [u8] {
        self.body.get(self.payload..).unwrap_or_default()
    }

    /// The message header block (without its blank line).
    pub fn header_block(&self) -> &'a [u8] {
        &self.body[..self.headers_end]
    }
}

fn lines(block: &[u8]) -> impl Iterator<Item = &[u8]> {
    block
        .split(|&c| c == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.is_empty())
}
