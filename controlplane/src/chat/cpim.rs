//! Message/CPIM (RFC 3862) as RFC 7701 wants it: building what we send (From = our URI, To =
//! the room or one participant, a text/plain payload) and reading what the switch forwards.

use std::time::{SystemTime, UNIX_EPOCH};

use dataplane::wire::CpimView;

/// The MSRP Content-Type of every chat message.
pub const CPIM: &str = "message/cpim";

/// Builds a CPIM document carrying `text` as UTF-8 text/plain.
pub fn build(from: &str, to: &str, text: &str, now: SystemTime) -> String {
    format!(
        "From: <{from}>\r\nTo: <{to}>\r\nDateTime: {}\r\n\r\nContent-Type: text/plain;charset=UTF-8\r\n\r\n{text}",
        rfc3339_utc(now)
    )
}

/// `YYYY-MM-DDTHH:MM:SSZ` for a system time (UTC, seconds).
pub fn rfc3339_utc(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// What a received chat message says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    /// CPIM From URI (empty when the message was not CPIM).
    pub from: String,
    /// CPIM From formal name, if any.
    pub from_name: Option<String>,
    /// CPIM To URIs.
    pub to: Vec<String>,
    /// The text to show (a placeholder for non-text payloads).
    pub text: String,
}

/// Reads an MSRP message body with its MSRP Content-Type.
pub fn read(content_type: &[u8], body: &[u8]) -> Incoming {
    if !starts_with_ignore_case(content_type, CPIM.as_bytes()) {
        return Incoming {
            from: String::new(),
            from_name: None,
            to: Vec::new(),
            text: payload_text(content_type, body),
        };
    }
    let Ok(view) = CpimView::parse(body) else {
        return Incoming {
            from: String::new(),
            from_name: None,
            to: Vec::new(),
            text: "[malformed Message/CPIM]".into(),
        };
    };
    let from = view.from().and_then(Result::ok);
    Incoming {
        from: from
            .map(|a| String::from_utf8_lossy(a.uri).into_owned())
            .unwrap_or_default(),
        from_name: from.and_then(|a| a.display_name().map(|n| n.into_owned())),
        to: view
            .to()
            .filter_map(Result::ok)
            .map(|a| String::from_utf8_lossy(a.uri).into_owned())
            .collect(),
        text: payload_text(view.content_type().unwrap_or(b"text/plain"), view.payload()),
    }
}

fn starts_with_ignore_case(s: &[u8], prefix: &[u8]) -> bool {
    s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

fn payload_text(content_type: &[u8], payload: &[u8]) -> String {
    if starts_with_ignore_case(content_type, b"text/") {
        String::from_utf8_lossy(payload).into_owned()
    } else {
        format!(
            "[{} message, {} bytes]",
            String::from_utf8_lossy(content_type),
            payload.len()
        )
    }
}

/// Makes received text safe for a terminal: control characters (escape sequences included)
/// become U+FFFD; tabs become spaces. Line breaks are kept for the caller to split on.
pub fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\n' => '\n',
            '\t' => ' ',
            c if c.is_control() => '\u{FFFD}',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn built_documents_parse_back() {
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let doc = build(
            "sip:alice@example.com",
            "sip:room@example.com",
            "héllo\nthere",
            t,
        );
        let v = CpimView::parse(doc.as_bytes()).unwrap();
        assert_eq!(v.from().unwrap().unwrap().uri, b"sip:alice@example.com");
        assert_eq!(v.to().count(), 1);
        assert_eq!(v.datetime(), Some(&b"2023-11-14T22:13:20Z"[..]));
        assert_eq!(v.content_type(), Some(&b"text/plain;charset=UTF-8"[..]));
        let got = read(b"Message/CPIM", doc.as_bytes());
        assert_eq!(got.from, "sip:alice@example.com");
        assert_eq!(got.to, vec!["sip:room@example.com".to_string()]);
        assert_eq!(got.text, "héllo\nthere");
    }

    #[test]
    fn dates_across_leap_years() {
        assert_eq!(rfc3339_utc(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc3339_utc(t), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn odd_bodies_still_show_something() {
        assert_eq!(read(b"text/plain", b"plain").text, "plain");
        assert_eq!(
            read(b"message/cpim", b"garbage").text,
            "[malformed Message/CPIM]"
        );
        let doc =
            "From: \"Al\" <sip:a@x>\r\nTo: <sip:r@x>\r\n\r\nContent-Type: image/png\r\n\r\nPNG!";
        let got = read(b"message/cpim", doc.as_bytes());
        assert_eq!(got.from_name.as_deref(), Some("Al"));
        assert_eq!(got.text, "[image/png message, 4 bytes]");
    }

    #[test]
    fn sanitize_removes_terminal_escapes() {
        assert_eq!(sanitize("a\x1b[2Jb\tc\nd"), "a\u{FFFD}[2Jb c\nd");
    }
}
