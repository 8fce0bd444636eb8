//! The `Use-Nickname` header value (RFC 7701 §7.1):
//!
//! ```text
//! Use-Nickname = "Use-Nickname:" SP nickname
//! nickname     = DQUOTE 1*1023(qdtext / qd-esc) DQUOTE
//! qdtext       = SP / HTAB / %x21 / %x23-5B / %x5D-7E / UTF8-NONASCII
//! qd-esc       = (BACKSLASH BACKSLASH) / (BACKSLASH DQUOTE)
//! ```
//!
//! The ABNF demands at least one character, yet §7.3 removes a nickname with an empty quoted
//! string; `""` is therefore read as [`NicknameRequest::Release`]. The prose limit "1023 octets"
//! is applied to the unescaped value.

use super::error::NicknameError;

/// Longest nickname in octets (RFC 7701 §7.1).
pub const MAX_NICKNAME_OCTETS: usize = 1023;

/// What a NICKNAME request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NicknameRequest {
    /// Reserve and use this nickname (unescaped, not yet PRECIS-prepared).
    Set(String),
    /// Stop using any nickname (`Use-Nickname: ""`).
    Release,
}

/// Parses the header value (the bytes after `Use-Nickname: `). Failures are 424.
pub fn parse_use_nickname(value: &[u8]) -> Result<NicknameRequest, NicknameError> {
    let inner = value
        .strip_prefix(b"\"")
        .and_then(|v| v.strip_suffix(b"\""))
        .ok_or(NicknameError::Malformed("not a quoted string"))?;
    if value.len() < 2 {
        return Err(NicknameError::Malformed("not a quoted string"));
    }
    let mut out = Vec::with_capacity(inner.len());
    let mut i = 0;
    while i < inner.len() {
        match inner[i] {
            b'\\' => match inner.get(i + 1) {
                Some(&c @ (b'\\' | b'"')) => {
                    out.push(c);
                    i += 2;
                }
                _ => return Err(NicknameError::Malformed("bad escape")),
            },
            b'"' => return Err(NicknameError::Malformed("unescaped quote")),
            c @ (b' ' | b'\t' | 0x21..=0x7E | 0x80..=0xFF) => {
                out.push(c);
                i += 1;
            }
            _ => return Err(NicknameError::Malformed("control character")),
        }
        if out.len() > MAX_NICKNAME_OCTETS {
            return Err(NicknameError::Malformed("longer than 1023 octets"));
        }
    }
    if out.is_empty() {
        return Ok(NicknameRequest::Release);
    }
    let s = String::from_utf8(out).map_err(|_| NicknameError::Malformed("not UTF-8"))?;
    Ok(NicknameRequest::Set(s))
}

/// Formats a nickname as a Use-Nickname value (for clients): quotes and escapes.
pub fn format_use_nickname(nickname: &str) -> String {
    let mut s = String::with_capacity(nickname.len() + 2);
    s.push('"');
    for c in nickname.chars() {
        if c == '"' || c == '\\' {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('"');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_values() {
        assert_eq!(
            parse_use_nickname(b"\"Alice the great\"").unwrap(),
            NicknameRequest::Set("Alice the great".into())
        );
        assert_eq!(
            parse_use_nickname(b"\"a \\\"q\\\" \\\\ b\"").unwrap(),
            NicknameRequest::Set("a \"q\" \\ b".into())
        );
        assert_eq!(
            parse_use_nickname(b"\"\"").unwrap(),
            NicknameRequest::Release
        );
        assert_eq!(
            parse_use_nickname("\"Dopey Donkey ü\"".as_bytes()).unwrap(),
            NicknameRequest::Set("Dopey Donkey ü".into())
        );
    }

    #[test]
    fn rejects_malformed_values_with_424() {
        let long = format!("\"{}\"", "a".repeat(1024));
        let max = format!("\"{}\"", "a".repeat(1023));
        assert!(parse_use_nickname(max.as_bytes()).is_ok());
        for bad in [
            &b"alice"[..],
            b"\"alice",
            b"\"",
            b"\"a\"b\"",
            b"\"a\\xb\"",
            b"\"a\\\"",
            b"\"a\x01b\"",
            b"\"a\x7fb\"",
            b"\"\xff\xfe\"",
            b" \"alice\"",
            long.as_bytes(),
        ] {
            let e = parse_use_nickname(bad).unwrap_err();
            assert_eq!(e.status_code(), 424, "{bad:?}");
        }
    }

    #[test]
    fn format_roundtrips() {
        for s in ["plain", "with \"quotes\"", "back\\slash", "ünï"] {
            assert_eq!(
                parse_use_nickname(format_use_nickname(s).as_bytes()).unwrap(),
                NicknameRequest::Set(s.into())
            );
        }
    }
}
