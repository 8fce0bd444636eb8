//! Typed, borrowed views of the header values the stack interprets: comma lists, name-addr
//! (From/To/Contact/Route/Path), Via, CSeq and `;name=value` parameter lists. Every view keeps
//! the exact text it came from so that re-emission never re-renders what it did not change.

use super::error::ParseError;
use super::message::{is_token, parse_decimal, trim_lws};
use super::uri::Uri;

fn is_lws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

/// Splits a header value at top-level commas (not inside quotes or angle brackets), trimming
/// blanks around each element. Empty elements are kept so that validators can reject them.
pub fn split_list(value: &str) -> impl Iterator<Item = &str> + '_ {
    let b = value.as_bytes();
    let mut pos = 0usize;
    let mut done = value.is_empty();
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        let start = pos;
        let mut in_quote = false;
        let mut in_angle = false;
        let mut i = pos;
        while i < b.len() {
            let c = b[i];
            if in_quote {
                if c == b'\\' {
                    i += 1;
                } else if c == b'"' {
                    in_quote = false;
                }
            } else if c == b'"' {
                in_quote = true;
            } else if c == b'<' {
                in_angle = true;
            } else if c == b'>' {
                in_angle = false;
            } else if c == b',' && !in_angle {
                break;
            }
            i += 1;
        }
        let end = i.min(b.len());
        if end >= b.len() {
            done = true;
        } else {
            pos = end + 1;
        }
        Some(trim_lws(value.get(start..end).unwrap_or("")))
    })
}

/// A `;name[=value]` parameter list as written. Values keep their quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Params<'a> {
    raw: &'a str,
}

/// One parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param<'a> {
    /// Name as written.
    pub name: &'a str,
    /// Value as written (quotes kept), `None` for a flag parameter.
    pub value: Option<&'a str>,
    /// The whole parameter text, without the leading `;`.
    pub raw: &'a str,
}

impl<'a> Params<'a> {
    /// The raw text, starting with `;` (or empty).
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    /// Parses and validates a parameter section that starts with `;` (or is empty).
    /// Returns the params and the remaining text after the last parameter.
    pub fn parse(
        s: &'a str,
        allow_value_chars: &dyn Fn(u8) -> bool,
    ) -> Result<(Params<'a>, &'a str), ParseError> {
        let b = s.as_bytes();
        let mut i = 0;
        skip_lws(b, &mut i);
        let start = i;
        let mut end = i;
        while i < b.len() && b[i] == b';' {
            i += 1;
            skip_lws(b, &mut i);
            let ns = i;
            while i < b.len() && is_token_byte(b[i]) {
                i += 1;
            }
            if i == ns {
                return Err(ParseError::BadHeader("parameter"));
            }
            let mut j = i;
            skip_lws(b, &mut j);
            if j < b.len() && b[j] == b'=' {
                j += 1;
                skip_lws(b, &mut j);
                if j < b.len() && b[j] == b'"' {
                    j = quoted_end(b, j)?;
                } else {
                    let vs = j;
                    while j < b.len() && (is_token_byte(b[j]) || allow_value_chars(b[j])) {
                        j += 1;
                    }
                    if j == vs {
                        return Err(ParseError::BadHeader("parameter value"));
                    }
                }
                i = j;
            }
            end = i;
            skip_lws(b, &mut i);
        }
        Ok((
            Params {
                raw: s.get(start..end).unwrap_or(""),
            },
            s.get(end..).unwrap_or(""),
        ))
    }

    /// Builds a view over text already validated by [`Params::parse`].
    fn from_validated(raw: &'a str) -> Params<'a> {
        Params { raw }
    }

    /// Iterates the parameters.
    pub fn iter(&self) -> impl Iterator<Item = Param<'a>> + 'a {
        let raw = self.raw;
        let b = raw.as_bytes();
        let mut i = 0usize;
        std::iter::from_fn(move || {
            while i < b.len() && (b[i] == b';' || is_lws(b[i])) {
                i += 1;
            }
            if i >= b.len() {
                return None;
            }
            let ps = i;
            while i < b.len() && is_token_byte(b[i]) {
                i += 1;
            }
            let name = raw.get(ps..i).unwrap_or("");
            let mut j = i;
            skip_lws(b, &mut j);
            let mut value = None;
            if j < b.len() && b[j] == b'=' {
                j += 1;
                skip_lws(b, &mut j);
                let vs = j;
                if j < b.len() && b[j] == b'"' {
                    j = quoted_end(b, j).unwrap_or(b.len());
                } else {
                    while j < b.len() && b[j] != b';' && !is_lws(b[j]) {
                        j += 1;
                    }
                }
                value = Some(raw.get(vs..j).unwrap_or(""));
                i = j;
            }
            let whole = raw.get(ps..i).unwrap_or("");
            // Guarantee progress even on text that was not validated.
            if i == ps {
                i += 1;
            }
            Some(Param {
                name,
                value,
                raw: whole,
            })
        })
    }

    /// The first parameter with this name (case-insensitive). `Some(None)` for a flag.
    pub fn get(&self, name: &str) -> Option<Option<&'a str>> {
        self.iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .map(|p| p.value)
    }

    /// True if the parameter is present (with or without value).
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// A parameter value with surrounding quotes removed (escapes kept as written).
    pub fn get_unquoted(&self, name: &str) -> Option<&'a str> {
        self.get(name).flatten().map(unquote)
    }
}

/// Removes one pair of surrounding double quotes, if present.
pub fn unquote(s: &str) -> &str {
    if s.len() >= 2 && s.starts_with('"') && s.ends_with('"') {
        &s[1..s.len() - 1]
    } else {
        s
    }
}

fn is_token_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
}

/// Characters beyond `token` allowed in generic-param values (`gen-value = token / host /
/// quoted-string`; host covers IPv6 references).
fn host_chars(c: u8) -> bool {
    matches!(c, b'[' | b']' | b':')
}

/// Extra characters accepted in a header param value on top of token/host: none besides host.
pub fn generic_value_chars(c: u8) -> bool {
    host_chars(c)
}

fn skip_lws(b: &[u8], i: &mut usize) {
    while *i < b.len() && is_lws(b[*i]) {
        *i += 1;
    }
}

/// Given `b[start] == '"'`, returns the index just past the closing quote.
fn quoted_end(b: &[u8], start: usize) -> Result<usize, ParseError> {
    let mut j = start + 1;
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            b'"' => return Ok(j + 1),
            _ => j += 1,
        }
    }
    Err(ParseError::BadHeader("unterminated quoted string"))
}

/// `name-addr` or `addr-spec` followed by header parameters (From, To, Contact, Route,
/// Record-Route, Path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameAddr<'a> {
    /// The whole element as written.
    pub raw: &'a str,
    /// Display name as written (quotes kept), if any.
    pub display: Option<&'a str>,
    /// The URI.
    pub uri: Uri<'a>,
    /// Whether the URI was enclosed in `<>`.
    pub bracketed: bool,
    /// Header parameters after the URI.
    pub params: Params<'a>,
    /// The text from the start of the element up to (excluding) the header parameters.
    pub addr_raw: &'a str,
}

impl<'a> NameAddr<'a> {
    /// Parses one element (already split from a comma list).
    pub fn parse(s: &'a str) -> Result<NameAddr<'a>, ParseError> {
        let raw = trim_lws(s);
        let b = raw.as_bytes();
        let mut display = None;
        let (uri_text, after) = if b.first() == Some(&b'"') {
            let q = quoted_end(b, 0)?;
            display = Some(&raw[..q]);
            let mut i = q;
            skip_lws(b, &mut i);
            if b.get(i) != Some(&b'<') {
                return Err(ParseError::BadHeader("name-addr"));
            }
            angle(raw, i)?
        } else if let Some(lt) = raw.find('<') {
            // Display name made of tokens (LWS before '<' optional, RFC 4475 §3.1.1.6).
            let d = trim_lws(&raw[..lt]);
            if !d.is_empty() {
                for w in d.split([' ', '\t', '\r', '\n']) {
                    if !w.is_empty() && !is_token(w) {
                        return Err(ParseError::BadHeader("display name"));
                    }
                }
                display = Some(d);
            }
            angle(raw, lt)?
        } else {
            // addr-spec: the URI ends at the first ';' (header params follow) or blank.
            let end = raw.find([';', ' ', '\t', '\r', '\n']).unwrap_or(raw.len());
            (&raw[..end], end)
        };
        let bracketed = raw.as_bytes().get(after.wrapping_sub(1)) == Some(&b'>');
        let uri = Uri::parse(uri_text)?;
        let (params, rest) = Params::parse(&raw[after..], &generic_value_chars)?;
        if !trim_lws(rest).is_empty() {
            return Err(ParseError::BadHeader("name-addr trailing text"));
        }
        Ok(NameAddr {
            raw,
            display,
            uri,
            bracketed,
            params,
            addr_raw: trim_lws(&raw[..after]),
        })
    }

    /// The `tag` parameter.
    pub fn tag(&self) -> Option<&'a str> {
        self.params.get("tag").flatten()
    }
}

/// Returns the text inside `<...>` starting at `lt`, and the index after `>`.
fn angle(raw: &str, lt: usize) -> Result<(&str, usize), ParseError> {
    let gt = raw[lt..]
        .find('>')
        .ok_or(ParseError::BadHeader("missing '>'"))?
        + lt;
    Ok((&raw[lt + 1..gt], gt + 1))
}

/// One Via value: `SIP/2.0/transport sent-by *(;param)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Via<'a> {
    /// The whole element as written.
    pub raw: &'a str,
    /// Transport token (UDP, TCP, TLS, SCTP, WS, ...), as written.
    pub transport: &'a str,
    /// Host of sent-by (IPv6 references keep their brackets).
    pub host: &'a str,
    /// Port of sent-by.
    pub port: Option<u16>,
    /// Parameters (branch, received, rport, ...).
    pub params: Params<'a>,
}

impl<'a> Via<'a> {
    /// Parses one Via element.
    pub fn parse(s: &'a str) -> Result<Via<'a>, ParseError> {
        const E: ParseError = ParseError::BadHeader("Via");
        let raw = trim_lws(s);
        let b = raw.as_bytes();
        let mut i = 0;
        let mut parts: [&str; 3] = [""; 3];
        for (k, part) in parts.iter_mut().enumerate() {
            skip_lws(b, &mut i);
            let st = i;
            while i < b.len() && is_token_byte(b[i]) {
                i += 1;
            }
            if i == st {
                return Err(E);
            }
            *part = &raw[st..i];
            skip_lws(b, &mut i);
            if k < 2 {
                if b.get(i) != Some(&b'/') {
                    return Err(E);
                }
                i += 1;
            }
        }
        if !parts[0].eq_ignore_ascii_case("SIP") || parts[1] != "2.0" {
            return Err(E);
        }
        skip_lws(b, &mut i);
        let hs = i;
        if b.get(i) == Some(&b'[') {
            while i < b.len() && b[i] != b']' {
                i += 1;
            }
            if i >= b.len() {
                return Err(E);
            }
            i += 1;
        } else {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.' || b[i] == b'-') {
                i += 1;
            }
        }
        if i == hs {
            return Err(E);
        }
        let host = &raw[hs..i];
        let mut port = None;
        let mut j = i;
        skip_lws(b, &mut j);
        if b.get(j) == Some(&b':') {
            j += 1;
            skip_lws(b, &mut j);
            let ps = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            port = Some(parse_decimal(&raw[ps..j], 65535).ok_or(E)? as u16);
            i = j;
        }
        let (params, rest) = Params::parse(&raw[i..], &generic_value_chars)?;
        if !trim_lws(rest).is_empty() {
            return Err(E);
        }
        Ok(Via {
            raw,
            transport: parts[2],
            host,
            port,
            params,
        })
    }

    /// The branch parameter.
    pub fn branch(&self) -> Option<&'a str> {
        self.params.get("branch").flatten()
    }
}

/// `CSeq: number method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CSeq<'a> {
    /// Sequence number (< 2^32).
    pub seq: u32,
    /// Method token as written.
    pub method: &'a str,
}

impl<'a> CSeq<'a> {
    /// Parses a CSeq value.
    pub fn parse(s: &'a str) -> Result<CSeq<'a>, ParseError> {
        const E: ParseError = ParseError::BadHeader("CSeq");
        let s = trim_lws(s);
        let sp = s.find([' ', '\t', '\r', '\n']).ok_or(E)?;
        let seq = parse_decimal(&s[..sp], u64::from(u32::MAX)).ok_or(E)? as u32;
        let method = trim_lws(&s[sp..]);
        if !is_token(method) {
            return Err(E);
        }
        Ok(CSeq { seq, method })
    }
}

/// Parses an auth-style parameter list `name=value, name="value"` (used by the digest module's
/// callers; kept here because it shares quoting rules).
pub fn validated_params(raw: &str) -> Params<'_> {
    Params::from_validated(raw)
}
