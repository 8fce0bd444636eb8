//! Typed header values parsed on demand from the raw bytes of a header: Byte-Range, report
//! headers, Status, Expires, Content-Type, Use-Nickname and the RFC 4976 digest parameter lists.

use super::chars::{self, DIGIT, TOKEN};
use super::error::{ErrorKind, WireError};
use std::borrow::Cow;

/// `Byte-Range: range-start "-" range-end "/" total` (RFC 4975 §7.1.1). Positions are 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ByteRange {
    /// Position of the first body byte in the whole message (>= 1).
    pub start: u64,
    /// Position of the last body byte; `None` is `*` (unknown / interruptible).
    pub end: Option<u64>,
    /// Total message size; `None` is `*` (unknown).
    pub total: Option<u64>,
}

impl ByteRange {
    /// Parses a Byte-Range value. range-start 0 is an error (erratum E4).
    pub fn parse(v: &[u8]) -> Result<ByteRange, WireError> {
        // One pass: three fields separated by '-' and '/'.
        let (start, rest) = leading_number(v)?;
        let rest = rest.strip_prefix(b"-").ok_or(ErrorKind::ByteRange)?;
        let (end, rest) = star_or_number(rest)?;
        let rest = rest.strip_prefix(b"/").ok_or(ErrorKind::ByteRange)?;
        let (total, rest) = star_or_number(rest)?;
        if !rest.is_empty() {
            return Err(ErrorKind::ByteRange.into());
        }
        let start = start.ok_or(ErrorKind::ByteRange)?;
        if start == 0 {
            return Err(ErrorKind::ByteRangeStartZero.into());
        }
        Ok(ByteRange { start, end, total })
    }

    /// Writes the value (no header name) into `out`.
    pub fn write(&self, out: &mut impl Extend<u8>) {
        let mut tmp = itoa::Buffer::new();
        out.extend(tmp.format(self.start).bytes());
        out.extend([b'-']);
        match self.end {
            Some(e) => out.extend(tmp.format(e).bytes()),
            None => out.extend([b'*']),
        }
        out.extend([b'/']);
        match self.total {
            Some(t) => out.extend(tmp.format(t).bytes()),
            None => out.extend([b'*']),
        }
    }
}

/// Parses `1*DIGIT` at the start of `s`; returns it (None if there are no digits) and the rest.
fn leading_number(s: &[u8]) -> Result<(Option<u64>, &[u8]), WireError> {
    let mut v: u64 = 0;
    let mut i = 0;
    while let Some(&c) = s.get(i) {
        if !c.is_ascii_digit() {
            break;
        }
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(c - b'0')))
            .ok_or(ErrorKind::NumberOverflow)?;
        i += 1;
    }
    Ok(((i > 0).then_some(v), &s[i..]))
}

/// `"*"` (None) or `1*DIGIT`, then the rest.
fn star_or_number(s: &[u8]) -> Result<(Option<u64>, &[u8]), WireError> {
    if let Some(rest) = s.strip_prefix(b"*") {
        return Ok((None, rest));
    }
    match leading_number(s)? {
        (Some(n), rest) => Ok((Some(n), rest)),
        (None, _) => Err(ErrorKind::ByteRange.into()),
    }
}

/// `Success-Report` (absent means `No`, RFC 4975 §7.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SuccessReport {
    /// `yes`
    Yes,
    /// `no` (the default)
    #[default]
    No,
}

impl SuccessReport {
    /// Parses `yes` / `no`.
    pub fn parse(v: &[u8]) -> Result<Self, WireError> {
        match v {
            b"yes" => Ok(SuccessReport::Yes),
            b"no" => Ok(SuccessReport::No),
            _ => Err(ErrorKind::ReportValue.into()),
        }
    }

    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            SuccessReport::Yes => "yes",
            SuccessReport::No => "no",
        }
    }
}

/// `Failure-Report` (absent means `Yes`, RFC 4975 §7.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FailureReport {
    /// `yes` (the default): answer every request.
    #[default]
    Yes,
    /// `no`: never answer, never send failure REPORTs.
    No,
    /// `partial`: answer errors only.
    Partial,
}

impl FailureReport {
    /// Parses `yes` / `no` / `partial`.
    pub fn parse(v: &[u8]) -> Result<Self, WireError> {
        match v {
            b"yes" => Ok(FailureReport::Yes),
            b"no" => Ok(FailureReport::No),
            b"partial" => Ok(FailureReport::Partial),
            _ => Err(ErrorKind::ReportValue.into()),
        }
    }

    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReport::Yes => "yes",
            FailureReport::No => "no",
            FailureReport::Partial => "partial",
        }
    }
}

/// `Status: namespace SP status-code [SP comment]` (RFC 4975 §7.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Status<'a> {
    /// Namespace; `000` means MSRP response-code semantics.
    pub namespace: u16,
    /// The status code.
    pub code: u16,
    /// Free text after the code (never parse it).
    pub comment: Option<&'a [u8]>,
}

impl<'a> Status<'a> {
    /// Parses a Status value.
    pub fn parse(v: &'a [u8]) -> Result<Status<'a>, WireError> {
        let err = || WireError::value(ErrorKind::StatusHeader);
        if v.len() < 7 || v[3] != b' ' {
            return Err(err());
        }
        let namespace = three_digits(&v[..3]).ok_or_else(err)?;
        let code = three_digits(&v[4..7]).ok_or_else(err)?;
        let comment = match &v[7..] {
            [] => None,
            [b' ', rest @ ..] => Some(rest),
            _ => return Err(err()),
        };
        Ok(Status {
            namespace,
            code,
            comment,
        })
    }
}

pub(crate) fn three_digits(s: &[u8]) -> Option<u16> {
    match s {
        [a, b, c] if chars::all(s, DIGIT) => {
            Some(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
        }
        _ => None,
    }
}

/// Parses `1*DIGIT` seconds for Expires / Min-Expires / Max-Expires (RFC 4976 §7).
pub fn parse_expires(v: &[u8]) -> Result<u32, WireError> {
    if v.is_empty() || !chars::all(v, DIGIT) {
        return Err(ErrorKind::Expires.into());
    }
    let n = chars::parse_u64(v).ok_or(ErrorKind::NumberOverflow)?;
    u32::try_from(n).map_err(|_| ErrorKind::NumberOverflow.into())
}

/// A parsed `media-type = type "/" subtype *( ";" gen-param )` (RFC 4975 §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaType<'a> {
    /// The type, e.g. `message` (compare case-insensitively).
    pub type_: &'a [u8],
    /// The subtype, e.g. `cpim` (compare case-insensitively).
    pub subtype: &'a [u8],
    params: &'a [u8],
}

impl<'a> MediaType<'a> {
    /// Parses a Content-Type value, validating the parameters too.
    pub fn parse(v: &'a [u8]) -> Result<MediaType<'a>, WireError> {
        let err = || WireError::value(ErrorKind::ContentType);
        let slash = memchr::memchr(b'/', v).ok_or_else(err)?;
        let type_ = &v[..slash];
        let rest = &v[slash + 1..];
        let semi = memchr::memchr(b';', rest).unwrap_or(rest.len());
        let subtype = chars::trim_ws(&rest[..semi]);
        let params = &rest[semi..];
        if type_.is_empty()
            || subtype.is_empty()
            || !chars::all(type_, TOKEN)
            || !chars::all(subtype, TOKEN)
        {
            return Err(err());
        }
        let mt = MediaType {
            type_,
            subtype,
            params,
        };
        for p in mt.params() {
            p.map_err(|_| err())?;
        }
        Ok(mt)
    }

    /// Case-insensitive match of type and subtype, e.g. `is("message", "cpim")`.
    pub fn is(&self, type_: &str, subtype: &str) -> bool {
        self.type_.eq_ignore_ascii_case(type_.as_bytes())
            && self.subtype.eq_ignore_ascii_case(subtype.as_bytes())
    }

    /// The `;name[=value]` parameters; values may be quoted strings (use [`unquote`]).
    pub fn params(&self) -> ParamIter<'a> {
        ParamIter {
            rest: self.params,
            sep: b';',
            first_needs_sep: true,
        }
    }

    /// The value of parameter `name` (case-insensitive name), unquoted.
    pub fn param(&self, name: &str) -> Option<Cow<'a, [u8]>> {
        self.params()
            .filter_map(Result::ok)
            .find(|p| p.name.eq_ignore_ascii_case(name.as_bytes()))
            .and_then(|p| p.value)
            .and_then(|v| unquote(v).ok())
    }
}

/// One `name[=value]` parameter. The value is raw: quoted strings keep their quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param<'a> {
    /// Parameter name (a token).
    pub name: &'a [u8],
    /// Raw value, if any.
    pub value: Option<&'a [u8]>,
}

impl<'a> Param<'a> {
    /// The value with quotes and `\"`/`\\` escapes removed.
    pub fn unquoted(&self) -> Option<Cow<'a, [u8]>> {
        self.value.and_then(|v| unquote(v).ok())
    }
}

/// Iterator over `sep`-separated parameters with quoted-string handling (a separator inside
/// quotes does not split). Yields an error for a malformed item and then stops.
#[derive(Debug, Clone)]
pub struct ParamIter<'a> {
    rest: &'a [u8],
    sep: u8,
    first_needs_sep: bool,
}

impl<'a> ParamIter<'a> {
    /// Parameters separated by `sep`, starting directly with the first item.
    pub fn new(s: &'a [u8], sep: u8) -> Self {
        ParamIter {
            rest: s,
            sep,
            first_needs_sep: false,
        }
    }
}

impl<'a> Iterator for ParamIter<'a> {
    type Item = Result<Param<'a>, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut s = chars::trim_ws(self.rest);
        if s.is_empty() {
            return None;
        }
        if self.first_needs_sep {
            match s.split_first() {
                Some((&c, rest)) if c == self.sep => s = chars::trim_ws(rest),
                _ => return self.fail(),
            }
        }
        self.first_needs_sep = true;
        // The item ends at the first separator outside a quoted string.
        let mut i = 0;
        let mut in_quotes = false;
        while i < s.len() {
            let c = s[i];
            if in_quotes {
                if c == b'\\' {
                    i += 1;
                } else if c == b'"' {
                    in_quotes = false;
                }
            } else if c == b'"' {
                in_quotes = true;
            } else if c == self.sep {
                break;
            }
            i += 1;
        }
        if in_quotes {
            return self.fail();
        }
        let end = i.min(s.len());
        let item = chars::trim_ws(&s[..end]);
        self.rest = &s[end..];
        let (name, value) = match memchr::memchr(b'=', item) {
            Some(eq) => (
                chars::trim_ws(&item[..eq]),
                Some(chars::trim_ws(&item[eq + 1..])),
            ),
            None => (item, None),
        };
        if name.is_empty() || !chars::all(name, TOKEN) {
            return self.fail();
        }
        if let Some(v) = value {
            let ok = if v.first() == Some(&b'"') {
                unquote(v).is_ok()
            } else {
                !v.is_empty() && chars::all(v, TOKEN)
            };
            if !ok {
                return self.fail();
            }
        }
        Some(Ok(Param { name, value }))
    }
}

impl<'a> ParamIter<'a> {
    fn fail(&mut self) -> Option<Result<Param<'a>, WireError>> {
        self.rest = &[];
        Some(Err(ErrorKind::AuthParams.into()))
    }
}

/// Removes the quotes of an RFC 4975 `quoted-string` and its `\\` / `\"` escapes. A value
/// without quotes is returned as is. Borrows unless an escape had to be removed.
pub fn unquote(v: &[u8]) -> Result<Cow<'_, [u8]>, WireError> {
    let err = || WireError::value(ErrorKind::HeaderSyntax);
    let inner = match v {
        [b'"', inner @ .., b'"'] if v.len() >= 2 => inner,
        [b'"', ..] => return Err(err()),
        _ => return Ok(Cow::Borrowed(v)),
    };
    let mut owned: Option<Vec<u8>> = None;
    let mut i = 0;
    while i < inner.len() {
        let c = inner[i];
        match c {
            b'\\' => {
                let next = *inner.get(i + 1).ok_or_else(err)?;
                if next != b'\\' && next != b'"' {
                    return Err(err());
                }
                owned.get_or_insert_with(|| inner[..i].to_vec()).push(next);
                i += 2;
                continue;
            }
            b'"' => return Err(err()),
            // qdtext = SP / HTAB / %x21 / %x23-5B / %x5D-7E / UTF8-NONASCII
            0x00..=0x08 | 0x0A..=0x1F | 0x7F => return Err(err()),
            _ => {}
        }
        if let Some(o) = owned.as_mut() {
            o.push(c);
        }
        i += 1;
    }
    Ok(match owned {
        Some(o) => Cow::Owned(o),
        None => Cow::Borrowed(inner),
    })
}

/// Longest nickname in octets (RFC 7701 §7.1).
pub const NICKNAME_MAX: usize = 1023;

/// Parses a Use-Nickname value: a quoted string of at most 1023 octets once unescaped.
/// `""` (nickname removal, RFC 7701 §7.3) gives an empty value. Errors map to 424.
pub fn parse_nickname(v: &[u8]) -> Result<Cow<'_, str>, WireError> {
    let err = || WireError::value(ErrorKind::Nickname);
    if v.len() < 2 || v[0] != b'"' {
        return Err(err());
    }
    let raw = unquote(v).map_err(|_| err())?;
    if raw.len() > NICKNAME_MAX {
        return Err(err());
    }
    match raw {
        Cow::Borrowed(b) => std::str::from_utf8(b).map(Cow::Borrowed).map_err(|_| err()),
        Cow::Owned(o) => String::from_utf8(o).map(Cow::Owned).map_err(|_| err()),
    }
}

/// Quotes `s` as an RFC 4975 quoted-string (escaping `\` and `"`) into `out`.
pub fn write_quoted(s: &[u8], out: &mut impl Extend<u8>) {
    out.extend([b'"']);
    for &c in s {
        if c == b'\\' || c == b'"' {
            out.extend([b'\\']);
        }
        out.extend([c]);
    }
    out.extend([b'"']);
}

/// An RFC 4976 authentication header: `Digest SP param *("," param)` for WWW-Authenticate and
/// Authorization, or a bare param list for Authentication-Info.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigestParams<'a> {
    /// `Digest` for challenges / credentials; `None` for Authentication-Info.
    pub scheme: Option<&'a [u8]>,
    list: &'a [u8],
}

impl<'a> DigestParams<'a> {
    /// Parses `scheme SP params` (WWW-Authenticate, Authorization) and validates every param.
    pub fn parse_with_scheme(v: &'a [u8]) -> Result<Self, WireError> {
        let sp = memchr::memchr(b' ', v).ok_or(ErrorKind::AuthParams)?;
        let scheme = &v[..sp];
        if scheme.is_empty() || !chars::all(scheme, TOKEN) {
            return Err(ErrorKind::AuthParams.into());
        }
        let d = DigestParams {
            scheme: Some(scheme),
            list: &v[sp + 1..],
        };
        d.validate()
    }

    /// Parses a bare param list (Authentication-Info) and validates every param.
    pub fn parse_list(v: &'a [u8]) -> Result<Self, WireError> {
        DigestParams {
            scheme: None,
            list: v,
        }
        .validate()
    }

    fn validate(self) -> Result<Self, WireError> {
        let mut n = 0;
        for p in self.params() {
            p?;
            n += 1;
        }
        if n == 0 {
            return Err(ErrorKind::AuthParams.into());
        }
        Ok(self)
    }

    /// Whether the scheme is `Digest` (case-insensitive).
    pub fn is_digest(&self) -> bool {
        self.scheme
            .is_some_and(|s| s.eq_ignore_ascii_case(b"Digest"))
    }

    /// The comma-separated params (spaces after commas tolerated).
    pub fn params(&self) -> ParamIter<'a> {
        ParamIter::new(self.list, b',')
    }

    /// Unquoted value of param `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<Cow<'a, [u8]>> {
        self.params()
            .filter_map(Result::ok)
            .find(|p| p.name.eq_ignore_ascii_case(name.as_bytes()))
            .and_then(|p| p.unquoted())
    }
}
