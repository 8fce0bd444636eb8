//! The SDP parser: bytes in, [`SessionDescription`] or a typed [`SdpError`] out.
//!
//! Follows the line order of RFC 8866 §5 strictly (a misplaced line is an error, not a guess)
//! and is lenient where real peers differ harmlessly: LF or CRLF line ends, blank lines at the
//! end, runs of spaces between the fields of structured lines, a missing `t=` line.

use super::error::SdpError;
use super::model::{
    Attribute, Bandwidth, Connection, Kept, LineEnding, MediaDescription, MediaLine, Origin,
    SessionDescription, SessionKept, TimeDescription, Timing,
};

/// Resource limits applied while parsing (configuration, not protocol).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseLimits {
    /// Maximum input size in octets.
    pub max_bytes: usize,
    /// Maximum number of lines.
    pub max_lines: usize,
    /// Maximum number of media descriptions.
    pub max_media: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        Self {
            max_bytes: 64 * 1024,
            max_lines: 2048,
            max_media: 64,
        }
    }
}

/// Parses a session description with the default [`ParseLimits`].
pub fn parse(input: &[u8]) -> Result<SessionDescription, SdpError> {
    parse_with_limits(input, &ParseLimits::default())
}

/// Parses a session description.
pub fn parse_with_limits(
    input: &[u8],
    limits: &ParseLimits,
) -> Result<SessionDescription, SdpError> {
    if input.len() > limits.max_bytes {
        return Err(SdpError::TooLarge {
            limit: limits.max_bytes,
        });
    }
    let lines = split_lines(input, limits)?;
    let line_ending = lines.first().map(|l| l.ending).unwrap_or_default();
    let unterminated = lines.last().is_some_and(|l| !l.terminated);

    let mut p = Parser::default();
    for l in &lines {
        let text =
            std::str::from_utf8(l.bytes).map_err(|_| SdpError::InvalidUtf8 { line: l.no })?;
        let (kind, value) = split_type(text, l.no)?;
        p.line(kind, value, l.no, limits)?;
    }
    let mut sdp = p.finish()?;
    sdp.line_ending = line_ending;
    sdp.kept.0.unterminated = unterminated;
    Ok(sdp)
}

struct RawLine<'a> {
    no: usize,
    bytes: &'a [u8],
    ending: LineEnding,
    terminated: bool,
}

fn split_lines<'a>(input: &'a [u8], limits: &ParseLimits) -> Result<Vec<RawLine<'a>>, SdpError> {
    let mut lines = Vec::new();
    let mut rest = input;
    let mut no = 0;
    while !rest.is_empty() {
        no += 1;
        if lines.len() >= limits.max_lines {
            return Err(SdpError::TooManyLines {
                limit: limits.max_lines,
            });
        }
        let (line, ending, terminated, next) = match memchr::memchr(b'\n', rest) {
            Some(i) => {
                let (body, ending) = match rest[..i].strip_suffix(b"\r") {
                    Some(b) => (b, LineEnding::CrLf),
                    None => (&rest[..i], LineEnding::Lf),
                };
                (body, ending, true, &rest[i + 1..])
            }
            None => (rest, LineEnding::CrLf, false, &rest[rest.len()..]),
        };
        rest = next;
        lines.push(RawLine {
            no,
            bytes: line,
            ending,
            terminated,
        });
    }
    // Blank lines at the very end are tolerated (some stacks pad bodies); anywhere else they
    // are an error.
    while lines.last().is_some_and(|l| l.bytes.is_empty()) {
        lines.pop();
        if let Some(last) = lines.last_mut() {
            last.terminated = true;
        }
    }
    if lines.is_empty() {
        return Err(SdpError::Empty);
    }
    if let Some(l) = lines.iter().find(|l| l.bytes.is_empty()) {
        return Err(SdpError::BlankLine { line: l.no });
    }
    Ok(lines)
}

fn split_type(text: &str, line: usize) -> Result<(char, &str), SdpError> {
    let b = text.as_bytes();
    if b.len() < 2 || b[1] != b'=' || !b[0].is_ascii_lowercase() {
        return Err(SdpError::MalformedLine { line });
    }
    // RFC 8866 byte-string excludes NUL, CR and LF anywhere in a value.
    if b.iter().any(|&c| c == 0 || c == b'\r') {
        return Err(SdpError::MalformedLine { line });
    }
    Ok((char::from(b[0]), &text[2..]))
}

/// Where we are in the RFC 8866 §5 grammar. Session-level lines have increasing ranks.
#[derive(Default)]
struct Parser {
    rank: u8,
    version: Option<u32>,
    origin: Option<(Origin, String)>,
    session_name: Option<String>,
    information: Option<String>,
    uri: Option<String>,
    emails: Vec<String>,
    phones: Vec<String>,
    connection: Option<(Connection, String)>,
    bandwidths: Vec<(Bandwidth, String)>,
    times: Vec<TimeDescription>,
    zone: Option<String>,
    key: Option<String>,
    attributes: Vec<Attribute>,
    media: Vec<MediaState>,
}

struct MediaState {
    rank: u8,
    desc: MediaDescription,
}

fn session_rank(kind: char) -> Option<u8> {
    Some(match kind {
        'v' => 1,
        'o' => 2,
        's' => 3,
        'i' => 4,
        'u' => 5,
        'e' => 6,
        'p' => 7,
        'c' => 8,
        'b' => 9,
        't' | 'r' => 10,
        'z' => 11,
        'k' => 12,
        'a' => 13,
        'm' => 14,
        _ => return None,
    })
}

fn media_rank(kind: char) -> Option<u8> {
    Some(match kind {
        'i' => 1,
        'c' => 2,
        'b' => 3,
        'k' => 4,
        'a' => 5,
        _ => return None,
    })
}

impl Parser {
    fn line(
        &mut self,
        kind: char,
        value: &str,
        line: usize,
        limits: &ParseLimits,
    ) -> Result<(), SdpError> {
        if kind == 'm' {
            return self.media_line(value, line, limits);
        }
        if let Some(m) = self.media.last_mut() {
            return media_field(m, kind, value, line);
        }
        let rank = match session_rank(kind) {
            Some(r) => r,
            None => return Err(SdpError::UnknownType { line, kind }),
        };
        if rank < self.rank {
            return Err(SdpError::OutOfOrder { line, kind });
        }
        let repeats = matches!(kind, 'e' | 'p' | 'b' | 't' | 'r' | 'a');
        if rank == self.rank && !repeats {
            return Err(SdpError::Duplicate { line, kind });
        }
        // v=, o= and s= open the description in this order and nothing may precede them.
        let expected_opening = match (self.version.is_some(), self.origin.is_some()) {
            (false, _) => Some('v'),
            (true, false) => Some('o'),
            (true, true) if self.session_name.is_none() => Some('s'),
            _ => None,
        };
        if let Some(exp) = expected_opening {
            if kind != exp {
                return Err(if rank > session_rank(exp).unwrap_or(0) {
                    SdpError::Missing { kind: exp }
                } else {
                    SdpError::OutOfOrder { line, kind }
                });
            }
        }
        self.rank = rank;
        match kind {
            'v' => {
                if value != "0" {
                    return Err(invalid(line, 'v', "version must be 0"));
                }
                self.version = Some(0);
            }
            'o' => self.origin = Some((parse_origin(value, line)?, value.to_owned())),
            // RFC 8866 forbids an empty s= (use "-"), but enough deployed stacks send one that
            // refusing it would only break calls; it is kept and re-emitted as received.
            's' => self.session_name = Some(value.to_owned()),
            'i' => self.information = Some(text_value(value, line, 'i')?),
            'u' => self.uri = Some(text_value(value, line, 'u')?),
            'e' => self.emails.push(text_value(value, line, 'e')?),
            'p' => self.phones.push(text_value(value, line, 'p')?),
            'c' => self.connection = Some((parse_connection(value, line)?, value.to_owned())),
            'b' => self
                .bandwidths
                .push((parse_bandwidth(value, line)?, value.to_owned())),
            't' => {
                let timing = parse_timing(value, line)?;
                self.times.push(TimeDescription {
                    timing,
                    repeats: Vec::new(),
                    kept: Kept(Some((timing, value.to_owned()))),
                });
            }
            'r' => {
                let t = self
                    .times
                    .last_mut()
                    .ok_or(SdpError::OutOfOrder { line, kind })?;
                t.repeats.push(parse_repeat(value, line)?);
            }
            'z' => self.zone = Some(text_value(value, line, 'z')?),
            'k' => self.key = Some(text_value(value, line, 'k')?),
            'a' => self.attributes.push(parse_attribute(value, line)?),
            _ => return Err(SdpError::UnknownType { line, kind }),
        }
        Ok(())
    }

    fn media_line(
        &mut self,
        value: &str,
        line: usize,
        limits: &ParseLimits,
    ) -> Result<(), SdpError> {
        if self.session_name.is_none() {
            return Err(SdpError::Missing {
                kind: if self.version.is_none() {
                    'v'
                } else if self.origin.is_none() {
                    'o'
                } else {
                    's'
                },
            });
        }
        if self.media.len() >= limits.max_media {
            return Err(SdpError::TooManyMedia {
                limit: limits.max_media,
            });
        }
        let parsed = parse_media_line(value, line)?;
        let mut desc = MediaDescription::new(parsed.clone());
        desc.kept.0.line = Some((parsed, value.to_owned()));
        self.rank = 14;
        self.media.push(MediaState { rank: 0, desc });
        Ok(())
    }

    fn finish(self) -> Result<SessionDescription, SdpError> {
        let version = self.version.ok_or(SdpError::Missing { kind: 'v' })?;
        let (origin, origin_raw) = self.origin.ok_or(SdpError::Missing { kind: 'o' })?;
        let session_name = self.session_name.ok_or(SdpError::Missing { kind: 's' })?;
        let mut sdp = SessionDescription::new(origin.clone());
        sdp.version = version;
        sdp.session_name = session_name;
        sdp.information = self.information;
        sdp.uri = self.uri;
        sdp.emails = self.emails;
        sdp.phones = self.phones;
        sdp.connection = self.connection.as_ref().map(|(c, _)| c.clone());
        sdp.bandwidths = self.bandwidths.iter().map(|(b, _)| b.clone()).collect();
        sdp.times = self.times;
        sdp.zone_adjustments = self.zone;
        sdp.key = self.key;
        sdp.attributes = self.attributes;
        sdp.media = self.media.into_iter().map(|m| m.desc).collect();
        sdp.kept = Kept(SessionKept {
            origin: Some((origin, origin_raw)),
            connection: self.connection,
            bandwidths: self.bandwidths,
            unterminated: false,
        });
        Ok(sdp)
    }
}

fn media_field(m: &mut MediaState, kind: char, value: &str, line: usize) -> Result<(), SdpError> {
    let rank = match media_rank(kind) {
        Some(r) => r,
        None if session_rank(kind).is_some() => return Err(SdpError::OutOfOrder { line, kind }),
        None => return Err(SdpError::UnknownType { line, kind }),
    };
    if rank < m.rank {
        return Err(SdpError::OutOfOrder { line, kind });
    }
    if rank == m.rank && !matches!(kind, 'c' | 'b' | 'a') {
        return Err(SdpError::Duplicate { line, kind });
    }
    m.rank = rank;
    let d = &mut m.desc;
    match kind {
        'i' => d.information = Some(text_value(value, line, 'i')?),
        'c' => {
            let c = parse_connection(value, line)?;
            d.kept.0.connections.push((c.clone(), value.to_owned()));
            d.connections.push(c);
        }
        'b' => {
            let b = parse_bandwidth(value, line)?;
            d.kept.0.bandwidths.push((b.clone(), value.to_owned()));
            d.bandwidths.push(b);
        }
        'k' => d.key = Some(text_value(value, line, 'k')?),
        'a' => d.attributes.push(parse_attribute(value, line)?),
        _ => return Err(SdpError::UnknownType { line, kind }),
    }
    Ok(())
}

fn invalid(line: usize, kind: char, reason: &'static str) -> SdpError {
    SdpError::InvalidValue { line, kind, reason }
}

fn text_value(value: &str, line: usize, kind: char) -> Result<String, SdpError> {
    if value.is_empty() {
        return Err(invalid(line, kind, "empty value"));
    }
    Ok(value.to_owned())
}

/// Splits on runs of spaces/tabs; trailing whitespace is tolerated.
fn fields(value: &str) -> impl Iterator<Item = &str> {
    value.split([' ', '\t']).filter(|f| !f.is_empty())
}

pub(crate) fn is_token_char(c: u8) -> bool {
    // RFC 8866 token-char: %x21 / %x23-27 / %x2A-2B / %x2D-2E / %x30-39 / %x41-5A / %x5E-7E
    matches!(c, 0x21 | 0x23..=0x27 | 0x2A..=0x2B | 0x2D..=0x2E | 0x30..=0x39 | 0x41..=0x5A | 0x5E..=0x7E)
}

pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_char)
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_visible(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| !c.is_whitespace() && !c.is_control())
}

fn parse_origin(value: &str, line: usize) -> Result<Origin, SdpError> {
    let f: Vec<&str> = fields(value).collect();
    let [username, session_id, session_version, net_type, addr_type, address] = f[..] else {
        return Err(invalid(line, 'o', "expected 6 fields"));
    };
    if !is_visible(username) {
        return Err(invalid(line, 'o', "bad username"));
    }
    if !is_digits(session_id) || !is_digits(session_version) {
        return Err(invalid(line, 'o', "session id and version must be digits"));
    }
    if !is_token(net_type) || !is_token(addr_type) || !is_visible(address) {
        return Err(invalid(line, 'o', "bad address fields"));
    }
    Ok(Origin {
        username: username.into(),
        session_id: session_id.into(),
        session_version: session_version.into(),
        net_type: net_type.into(),
        addr_type: addr_type.into(),
        address: address.into(),
    })
}

fn parse_connection(value: &str, line: usize) -> Result<Connection, SdpError> {
    let f: Vec<&str> = fields(value).collect();
    let [net_type, addr_type, address] = f[..] else {
        return Err(invalid(line, 'c', "expected 3 fields"));
    };
    if !is_token(net_type) || !is_token(addr_type) || !is_visible(address) {
        return Err(invalid(line, 'c', "bad field"));
    }
    Ok(Connection {
        net_type: net_type.into(),
        addr_type: addr_type.into(),
        address: address.into(),
    })
}

fn parse_bandwidth(value: &str, line: usize) -> Result<Bandwidth, SdpError> {
    let (t, v) = value
        .split_once(':')
        .ok_or(invalid(line, 'b', "expected <type>:<value>"))?;
    if !is_token(t) || !is_digits(v) {
        return Err(invalid(line, 'b', "bad type or value"));
    }
    let value = v
        .parse()
        .map_err(|_| invalid(line, 'b', "value out of range"))?;
    Ok(Bandwidth {
        bw_type: t.into(),
        value,
    })
}

fn parse_timing(value: &str, line: usize) -> Result<Timing, SdpError> {
    let f: Vec<&str> = fields(value).collect();
    let [start, stop] = f[..] else {
        return Err(invalid(line, 't', "expected 2 fields"));
    };
    let num = |s: &str| -> Result<u64, SdpError> {
        if !is_digits(s) {
            return Err(invalid(line, 't', "times must be digits"));
        }
        s.parse()
            .map_err(|_| invalid(line, 't', "time out of range"))
    };
    Ok(Timing {
        start: num(start)?,
        stop: num(stop)?,
    })
}

fn parse_repeat(value: &str, line: usize) -> Result<String, SdpError> {
    // r=<repeat interval> <active duration> <offsets...>, each 1*DIGIT with an optional d/h/m/s.
    let f: Vec<&str> = fields(value).collect();
    if f.len() < 3 {
        return Err(invalid(line, 'r', "expected at least 3 fields"));
    }
    let ok = f.iter().all(|x| {
        let digits = x.strip_suffix(['d', 'h', 'm', 's']).unwrap_or(x);
        is_digits(digits)
    });
    if !ok {
        return Err(invalid(line, 'r', "bad typed time"));
    }
    Ok(value.to_owned())
}

fn parse_media_line(value: &str, line: usize) -> Result<MediaLine, SdpError> {
    let mut f = fields(value);
    let (Some(media), Some(port), Some(proto)) = (f.next(), f.next(), f.next()) else {
        return Err(invalid(
            line,
            'm',
            "expected <media> <port> <proto> <fmt>...",
        ));
    };
    let formats: Vec<String> = f.map(str::to_owned).collect();
    if formats.is_empty() {
        return Err(invalid(line, 'm', "no media format"));
    }
    if !is_token(media) {
        return Err(invalid(line, 'm', "bad media type"));
    }
    // proto = token *("/" token)
    if proto.split('/').any(|p| !is_token(p)) {
        return Err(invalid(line, 'm', "bad proto"));
    }
    if formats.iter().any(|x| !is_token(x)) {
        return Err(invalid(line, 'm', "bad format"));
    }
    let (port, port_count) = match port.split_once('/') {
        Some((p, n)) => (p, Some(n)),
        None => (port, None),
    };
    if !is_digits(port) || port_count.is_some_and(|n| !is_digits(n)) {
        return Err(invalid(line, 'm', "bad port"));
    }
    let port = port
        .parse()
        .map_err(|_| invalid(line, 'm', "port out of range"))?;
    let port_count = match port_count {
        Some(n) => Some(
            n.parse()
                .map_err(|_| invalid(line, 'm', "port count out of range"))?,
        ),
        None => None,
    };
    Ok(MediaLine {
        media: media.into(),
        port,
        port_count,
        proto: proto.into(),
        formats,
    })
}

fn parse_attribute(value: &str, line: usize) -> Result<Attribute, SdpError> {
    let (name, val) = match value.split_once(':') {
        Some((n, v)) => (n, Some(v.to_owned())),
        None => (value, None),
    };
    if !is_token(name) {
        return Err(invalid(line, 'a', "bad attribute name"));
    }
    Ok(Attribute {
        name: name.into(),
        value: val,
    })
}
