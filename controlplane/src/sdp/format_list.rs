//! The RFC 4975 §8.6/§9 `format-list` of `a=accept-types` and `a=accept-wrapped-types`.
//!
//! ```text
//! format-list  = format-entry *( SP format-entry )
//! format-entry = ( (type "/" subtype) / (type "/" "*") ) *( ";" type-param ) / "*"
//! type-param   = token "=" (token / quoted-string)
//! ```

use std::fmt;

use super::error::AttributeError;
use super::parse::is_token_char;

/// One entry of a format list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatEntry {
    /// `*`: anything not listed may be tried.
    Any,
    /// `type/subtype` or `type/*`, with parameters.
    Media {
        /// Top-level type, e.g. `message`.
        media_type: String,
        /// Subtype; `None` is the wildcard `type/*`.
        subtype: Option<String>,
        /// Parameters as written; quoted values keep their quotes and escapes.
        params: Vec<(String, String)>,
    },
}

impl FormatEntry {
    /// `type/subtype` without parameters.
    pub fn media(media_type: &str, subtype: &str) -> Self {
        FormatEntry::Media {
            media_type: media_type.to_owned(),
            subtype: Some(subtype.to_owned()),
            params: Vec::new(),
        }
    }
}

impl fmt::Display for FormatEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatEntry::Any => f.write_str("*"),
            FormatEntry::Media {
                media_type,
                subtype,
                params,
            } => {
                write!(f, "{media_type}/{}", subtype.as_deref().unwrap_or("*"))?;
                for (n, v) in params {
                    write!(f, ";{n}={v}")?;
                }
                Ok(())
            }
        }
    }
}

/// A parsed format list (never empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatList(pub Vec<FormatEntry>);

impl FormatList {
    /// Parses a format list; `attribute` names the attribute in errors.
    pub fn parse(s: &str, attribute: &'static str) -> Result<Self, AttributeError> {
        let mut c = Cursor {
            s: s.as_bytes(),
            i: 0,
            attribute,
        };
        let mut entries = Vec::new();
        loop {
            c.skip_spaces();
            if c.done() {
                break;
            }
            entries.push(c.entry()?);
            if !c.done() && !c.at_space() {
                return Err(c.err("entries must be separated by spaces"));
            }
        }
        if entries.is_empty() {
            return Err(AttributeError::new(attribute, "empty format list"));
        }
        Ok(FormatList(entries))
    }

    /// Whether `type/subtype` is listed by name (case-insensitive; parameters ignored, as an
    /// entry with parameters matches the same entry without them, RFC 4975 §8.6).
    pub fn lists(&self, media_type: &str, subtype: &str) -> bool {
        self.0.iter().any(|e| match e {
            FormatEntry::Media {
                media_type: t,
                subtype: Some(s),
                ..
            } => t.eq_ignore_ascii_case(media_type) && s.eq_ignore_ascii_case(subtype),
            _ => false,
        })
    }

    /// Whether `type/subtype` may be sent to whoever declared this list: listed by name, by
    /// `type/*`, or covered by `*`.
    pub fn permits(&self, media_type: &str, subtype: &str) -> bool {
        self.0.iter().any(|e| match e {
            FormatEntry::Any => true,
            FormatEntry::Media {
                media_type: t,
                subtype: s,
                ..
            } => {
                t.eq_ignore_ascii_case(media_type)
                    && s.as_deref().is_none_or(|s| s.eq_ignore_ascii_case(subtype))
            }
        })
    }

    /// Whether the list contains `*`.
    pub fn has_any(&self) -> bool {
        self.0.contains(&FormatEntry::Any)
    }
}

impl fmt::Display for FormatList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
    attribute: &'static str,
}

impl Cursor<'_> {
    fn err(&self, reason: &'static str) -> AttributeError {
        AttributeError::new(self.attribute, reason)
    }

    fn done(&self) -> bool {
        self.i >= self.s.len()
    }

    fn at_space(&self) -> bool {
        matches!(self.s.get(self.i), Some(b' ' | b'\t'))
    }

    fn skip_spaces(&mut self) {
        while self.at_space() {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    /// Consumes a token (RFC 4975 token characters).
    fn token(&mut self) -> Result<String, AttributeError> {
        let start = self.i;
        while self.peek().is_some_and(is_token_char) {
            self.i += 1;
        }
        if start == self.i {
            return Err(self.err("expected a token"));
        }
        Ok(String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }

    fn quoted(&mut self) -> Result<String, AttributeError> {
        let start = self.i;
        self.i += 1; // opening quote
        loop {
            match self.peek() {
                None => return Err(self.err("unterminated quoted-string")),
                Some(b'"') => {
                    self.i += 1;
                    break;
                }
                Some(b'\\') => match self.s.get(self.i + 1) {
                    Some(b'\\' | b'"') => self.i += 2,
                    _ => return Err(self.err("bad escape in quoted-string")),
                },
                Some(b) if b == b' ' || b == b'\t' || b == 0x21 || (0x23..=0x7E).contains(&b) => {
                    self.i += 1
                }
                Some(b) if b >= 0x80 => self.i += 1,
                Some(_) => return Err(self.err("bad character in quoted-string")),
            }
        }
        let raw = std::str::from_utf8(&self.s[start..self.i])
            .map_err(|_| self.err("quoted-string is not UTF-8"))?;
        Ok(raw.to_owned())
    }

    fn entry(&mut self) -> Result<FormatEntry, AttributeError> {
        if self.peek() == Some(b'*') {
            self.i += 1;
            if self.done() || self.at_space() {
                return Ok(FormatEntry::Any);
            }
            return Err(self.err("'*' must stand alone"));
        }
        let media_type = self.token()?;
        if self.peek() != Some(b'/') {
            return Err(self.err("expected type/subtype"));
        }
        self.i += 1;
        let subtype = if self.peek() == Some(b'*') {
            self.i += 1;
            None
        } else {
            Some(self.token()?)
        };
        if media_type == "*" {
            return Err(self.err("wildcard type"));
        }
        let mut params = Vec::new();
        while self.peek() == Some(b';') {
            self.i += 1;
            let name = self.token()?;
            if self.peek() != Some(b'=') {
                return Err(self.err("type-param needs a value"));
            }
            self.i += 1;
            let value = if self.peek() == Some(b'"') {
                self.quoted()?
            } else {
                self.token()?
            };
            params.push((name, value));
        }
        Ok(FormatEntry::Media {
            media_type,
            subtype,
            params,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<FormatList, AttributeError> {
        FormatList::parse(s, "accept-types")
    }

    #[test]
    fn parses_rfc_examples() {
        let l = parse("message/cpim text/plain text/html").unwrap();
        assert_eq!(l.0.len(), 3);
        assert!(l.lists("Message", "CPIM"));
        let w = parse("text/plain text/html *").unwrap();
        assert!(w.has_any());
        assert!(w.permits("image", "png"));
        assert!(!w.lists("image", "png"));
    }

    #[test]
    fn parses_wildcards_and_params() {
        let l = parse("text/* application/vnd.x;charset=utf-8;q=\"a \\\" b\"").unwrap();
        assert!(l.permits("text", "enriched"));
        assert!(!l.permits("image", "png"));
        assert!(l.permits("application", "vnd.x"));
        assert_eq!(
            l.to_string(),
            "text/* application/vnd.x;charset=utf-8;q=\"a \\\" b\""
        );
    }

    #[test]
    fn rejects_malformed_lists() {
        for bad in [
            "",
            "   ",
            "text",
            "text/",
            "*/plain",
            "text/plain;charset",
            "text/plain;q=\"open",
            "text/plain;q=\"bad\\x\"",
            "**",
            "text/plain/x",
            "text/plain,text/html",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
