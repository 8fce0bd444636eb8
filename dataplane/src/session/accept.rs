//! The media types a session accepts (SDP `a=accept-types`, RFC 4975 §8.6) and the check that
//! answers 415 (§7.3.1). multipart/mixed and multipart/alternative (§7.3.1) and
//! multipart/signed (§14.3) are always accepted at the top level.

use crate::wire::MediaType;
use std::fmt;

#[derive(Clone, PartialEq, Eq)]
enum Entry {
    /// `*`
    Any,
    /// `type/*`
    AnySubtype(String),
    /// `type/subtype`
    Exact(String, String),
}

/// An accept-types list. Parameters on entries are ignored (an entry with parameters matches
/// the same type without them, §8.6); comparison is case-insensitive.
#[derive(Clone, PartialEq, Eq)]
pub struct AcceptTypes {
    entries: Vec<Entry>,
}

/// An entry of an accept-types list that is not `*`, `type/*` or `type/subtype[;params]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed accept-types entry {0:?}")]
pub struct AcceptTypesError(pub String);

impl Default for AcceptTypes {
    fn default() -> Self {
        AcceptTypes::any()
    }
}

impl AcceptTypes {
    /// Accepts everything (`*`).
    pub fn any() -> Self {
        AcceptTypes {
            entries: vec![Entry::Any],
        }
    }

    /// Parses an SDP format list such as `message/cpim text/plain text/*`.
    pub fn parse(list: &str) -> Result<Self, AcceptTypesError> {
        Self::new(list.split_ascii_whitespace())
    }

    /// Builds the list from its entries.
    pub fn new<'a>(entries: impl IntoIterator<Item = &'a str>) -> Result<Self, AcceptTypesError> {
        let mut out = Vec::new();
        for e in entries {
            let bare = e.split(';').next().unwrap_or("").trim();
            if bare == "*" {
                out.push(Entry::Any);
                continue;
            }
            let (t, s) = bare
                .split_once('/')
                .ok_or_else(|| AcceptTypesError(e.to_string()))?;
            let token = |x: &str| {
                !x.is_empty()
                    && x.bytes()
                        .all(|c| c.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&c))
            };
            if !token(t) || !(s == "*" || token(s)) {
                return Err(AcceptTypesError(e.to_string()));
            }
            out.push(if s == "*" {
                Entry::AnySubtype(t.to_ascii_lowercase())
            } else {
                Entry::Exact(t.to_ascii_lowercase(), s.to_ascii_lowercase())
            });
        }
        Ok(AcceptTypes { entries: out })
    }

    /// Whether a body with this Content-Type value may be received. A value that does not
    /// parse as a media type is not accepted.
    pub fn accepts(&self, content_type: &[u8]) -> bool {
        MediaType::parse(content_type).is_ok_and(|mt| self.accepts_media(&mt))
    }

    /// Whether a body of this media type may be received.
    pub fn accepts_media(&self, mt: &MediaType<'_>) -> bool {
        if mt.is("multipart", "mixed")
            || mt.is("multipart", "alternative")
            || mt.is("multipart", "signed")
        {
            return true;
        }
        self.entries.iter().any(|e| match e {
            Entry::Any => true,
            Entry::AnySubtype(t) => mt.type_.eq_ignore_ascii_case(t.as_bytes()),
            Entry::Exact(t, s) => mt.is(t, s),
        })
    }
}

impl fmt::Debug for AcceptTypes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AcceptTypes({self})")
    }
}

impl fmt::Display for AcceptTypes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            match e {
                Entry::Any => f.write_str("*")?,
                Entry::AnySubtype(t) => write!(f, "{t}/*")?,
                Entry::Exact(t, s) => write!(f, "{t}/{s}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_wildcard_and_parameters() {
        let a = AcceptTypes::parse("message/CPIM text/*;charset=utf-8").unwrap();
        assert!(a.accepts(b"message/cpim"));
        assert!(a.accepts(b"Message/Cpim; foo=bar"));
        assert!(a.accepts(b"text/html"));
        assert!(!a.accepts(b"image/png"));
        assert!(!a.accepts(b"message/sip"));
        assert!(!a.accepts(b"not a type"));
        assert_eq!(a.to_string(), "message/cpim text/*");
    }

    #[test]
    fn multipart_is_always_accepted() {
        let a = AcceptTypes::parse("text/plain").unwrap();
        assert!(a.accepts(b"multipart/mixed; boundary=x"));
        assert!(a.accepts(b"multipart/alternative; boundary=x"));
        assert!(a.accepts(b"multipart/signed; boundary=x"));
        assert!(!a.accepts(b"multipart/related; boundary=x"));
    }

    #[test]
    fn star_accepts_anything_and_bad_entries_fail() {
        assert!(AcceptTypes::any().accepts(b"application/octet-stream"));
        assert!(AcceptTypes::parse("text").is_err());
        assert!(AcceptTypes::parse("/plain").is_err());
        assert!(AcceptTypes::parse("te xt/plain").is_err());
        assert!(AcceptTypes::new(["te(xt/plain"]).is_err());
    }
}
