//! SIP/SIPS URI view (RFC 3261 §19.1) and the canonical address-of-record form used as a
//! registrar key. Other schemes (tel, im, urn, ...) are kept opaque.

use std::borrow::Cow;

use super::error::ParseError;
use super::header::Params;
use super::message::parse_decimal;

/// A borrowed URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Uri<'a> {
    /// The URI as written.
    pub raw: &'a str,
    /// Scheme, as written.
    pub scheme: &'a str,
    /// User part (escapes kept), for sip/sips.
    pub user: Option<&'a str>,
    /// Password, if any.
    pub password: Option<&'a str>,
    /// Host (IPv6 references keep brackets); for other schemes the whole opaque part.
    pub host: &'a str,
    /// Port.
    pub port: Option<u16>,
    /// URI parameters, starting with `;`.
    pub params: Params<'a>,
    /// Headers after `?`.
    pub headers: Option<&'a str>,
}

fn uri_param_chars(c: u8) -> bool {
    // paramchar = param-unreserved / unreserved / escaped ; beyond token: [ ] / : & $ ( ) and '
    matches!(
        c,
        b'[' | b']' | b'/' | b':' | b'&' | b'$' | b'(' | b')' | b'='
    )
}

impl<'a> Uri<'a> {
    /// Parses a URI. SIP and SIPS URIs are structured; others only need `scheme:rest`.
    pub fn parse(raw: &'a str) -> Result<Uri<'a>, ParseError> {
        const E: ParseError = ParseError::BadUri;
        if raw.is_empty()
            || raw
                .bytes()
                .any(|c| c <= b' ' || c == 0x7f || c == b'<' || c == b'>')
        {
            return Err(E);
        }
        let colon = raw.find(':').ok_or(E)?;
        let scheme = &raw[..colon];
        if scheme.is_empty()
            || !scheme.as_bytes()[0].is_ascii_alphabetic()
            || !scheme
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
        {
            return Err(E);
        }
        let rest = &raw[colon + 1..];
        if !(scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips")) {
            if rest.is_empty() {
                return Err(E);
            }
            return Ok(Uri {
                raw,
                scheme,
                user: None,
                password: None,
                host: rest,
                port: None,
                params: Params::default(),
                headers: None,
            });
        }
        // userinfo ends at the last '@' (the user part may contain '?', ';' and escapes).
        let (user, password, hostpart) = match rest.rfind('@') {
            Some(at) => {
                let ui = &rest[..at];
                let (u, p) = match ui.find(':') {
                    Some(c) => (&ui[..c], Some(&ui[c + 1..])),
                    None => (ui, None),
                };
                (Some(u), p, &rest[at + 1..])
            }
            None => (None, None, rest),
        };
        let hb = hostpart.as_bytes();
        let mut i = 0;
        if hb.first() == Some(&b'[') {
            while i < hb.len() && hb[i] != b']' {
                i += 1;
            }
            if i >= hb.len() {
                return Err(E);
            }
            i += 1;
        } else {
            while i < hb.len() && (hb[i].is_ascii_alphanumeric() || hb[i] == b'.' || hb[i] == b'-')
            {
                i += 1;
            }
        }
        if i == 0 {
            return Err(E);
        }
        let host = &hostpart[..i];
        let mut port = None;
        if hb.get(i) == Some(&b':') {
            let ps = i + 1;
            let mut j = ps;
            while j < hb.len() && hb[j].is_ascii_digit() {
                j += 1;
            }
            port = Some(parse_decimal(&hostpart[ps..j], 65535).ok_or(E)? as u16);
            i = j;
        }
        let tail = &hostpart[i..];
        let (ptext, headers) = match tail.find('?') {
            Some(q) => (&tail[..q], Some(&tail[q + 1..])),
            None => (tail, None),
        };
        let (params, rest) = Params::parse(ptext, &uri_param_chars).map_err(|_| E)?;
        if !rest.is_empty() {
            return Err(E);
        }
        Ok(Uri {
            raw,
            scheme,
            user,
            password,
            host,
            port,
            params,
            headers,
        })
    }

    /// True for sip: and sips:.
    pub fn is_sip(&self) -> bool {
        self.scheme.eq_ignore_ascii_case("sip") || self.scheme.eq_ignore_ascii_case("sips")
    }

    /// A URI parameter (case-insensitive name).
    pub fn param(&self, name: &str) -> Option<Option<&'a str>> {
        self.params.get(name)
    }

    /// The `transport` URI parameter, lowercased comparison left to callers.
    pub fn transport(&self) -> Option<&'a str> {
        self.param("transport").flatten()
    }

    /// Canonical address-of-record: `sip:user@host` with the user unescaped and the host
    /// lowercased, no port, params or headers (RFC 3261 §10.3 step 5).
    pub fn aor(&self) -> String {
        let mut s = String::with_capacity(self.raw.len());
        if self.scheme.eq_ignore_ascii_case("sips") {
            s.push_str("sips:");
        } else {
            s.push_str("sip:");
        }
        if let Some(u) = self.user {
            s.push_str(&unescape(u));
            s.push('@');
        }
        for c in self.host.chars() {
            s.push(c.to_ascii_lowercase());
        }
        s
    }
}

/// Decodes `%HH` escapes; invalid escapes are left as written.
pub fn unescape(s: &str) -> Cow<'_, str> {
    if !s.contains('%') {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let h = (b[i + 1] as char).to_digit(16);
            let l = (b[i + 2] as char).to_digit(16);
            if let (Some(h), Some(l)) = (h, l) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}
