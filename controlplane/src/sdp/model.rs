//! The SDP document model (RFC 8866 / RFC 4566) and its serializer.
//!
//! Fields are plain public data. Lines whose text is kept as parsed (`s=`, `i=`, `a=` values, ...)
//! re-emit byte for byte; structured lines (`o=`, `c=`, `b=`, `t=`, `m=`) remember their original
//! text privately and re-emit it while their typed value is unchanged, so a parsed description
//! serializes back to its input (modulo a consistent line ending) unless something was edited.

use std::fmt::{self, Write as _};

/// The line terminator used when serializing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LineEnding {
    /// `\r\n`, what RFC 8866 mandates and what we emit by default.
    #[default]
    CrLf,
    /// `\n`, accepted on input (RFC 8866 §5 allows parsers to accept it) and preserved.
    Lf,
}

impl LineEnding {
    fn as_str(self) -> &'static str {
        match self {
            LineEnding::CrLf => "\r\n",
            LineEnding::Lf => "\n",
        }
    }
}

/// A value that never takes part in comparisons: the original text of a parsed line.
#[derive(Debug, Clone, Default)]
pub(crate) struct Kept<T>(pub(crate) T);

impl<T> PartialEq for Kept<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl<T> Eq for Kept<T> {}

/// `o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>` (RFC 8866 §5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// User name, `-` when none.
    pub username: String,
    /// Numeric session id (kept as digits: values beyond 64 bits occur in the wild).
    pub session_id: String,
    /// Numeric session version (digits).
    pub session_version: String,
    /// Network type, normally `IN`.
    pub net_type: String,
    /// Address type, normally `IP4` or `IP6`.
    pub addr_type: String,
    /// Address or FQDN of the originating host.
    pub address: String,
}

impl Origin {
    /// Returns a copy whose session version is incremented by one (decimal string arithmetic, so
    /// versions of any length work).
    pub fn bumped(&self) -> Origin {
        let version = if !self.session_version.is_empty()
            && self.session_version.bytes().all(|b| b.is_ascii_digit())
        {
            self.session_version.as_str()
        } else {
            "0"
        };
        let mut digits: Vec<u8> = version.bytes().collect();
        let mut carry = true;
        for d in digits.iter_mut().rev() {
            if !carry {
                break;
            }
            if *d == b'9' {
                *d = b'0';
            } else {
                *d += 1;
                carry = false;
            }
        }
        if carry {
            digits.insert(0, b'1');
        }
        Origin {
            session_version: String::from_utf8(digits).unwrap_or_else(|_| "0".into()),
            ..self.clone()
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {} {} {}",
            self.username,
            self.session_id,
            self.session_version,
            self.net_type,
            self.addr_type,
            self.address
        )
    }
}

/// `c=<nettype> <addrtype> <connection-address>` (RFC 8866 §5.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// Network type, normally `IN`.
    pub net_type: String,
    /// Address type, normally `IP4` or `IP6`.
    pub addr_type: String,
    /// The address as written (IP literal, FQDN, or multicast `addr/ttl[/n]`).
    pub address: String,
}

impl fmt::Display for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.net_type, self.addr_type, self.address)
    }
}

/// `b=<bwtype>:<bandwidth>` (RFC 8866 §5.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bandwidth {
    /// Bandwidth type token (`AS`, `CT`, `TIAS`, ...).
    pub bw_type: String,
    /// Value in the type's unit.
    pub value: u64,
}

impl fmt::Display for Bandwidth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.bw_type, self.value)
    }
}

/// `t=<start-time> <stop-time>` (RFC 8866 §5.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timing {
    /// NTP start time, 0 = unbounded.
    pub start: u64,
    /// NTP stop time, 0 = unbounded.
    pub stop: u64,
}

impl fmt::Display for Timing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.start, self.stop)
    }
}

/// One `t=` line with its `r=` lines (kept as text).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TimeDescription {
    /// The `t=` line.
    pub timing: Timing,
    /// The `r=` lines that follow it, verbatim.
    pub repeats: Vec<String>,
    pub(crate) kept: Kept<Option<(Timing, String)>>,
}

impl TimeDescription {
    /// `t=<start> <stop>` with no repeat lines.
    pub fn new(start: u64, stop: u64) -> Self {
        Self {
            timing: Timing { start, stop },
            ..Self::default()
        }
    }
}

/// An `a=` line: `a=<name>` or `a=<name>:<value>` (RFC 8866 §5.13). The value is kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// Attribute name (a token).
    pub name: String,
    /// Value after the first `:`, if any.
    pub value: Option<String>,
}

impl Attribute {
    /// A value attribute `a=name:value`.
    pub fn value(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: Some(value.into()),
        }
    }

    /// A property attribute `a=name`.
    pub fn property(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: None,
        }
    }

    /// Whether the attribute has this name (ASCII case-insensitive, as peers vary).
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }
}

impl fmt::Display for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(v) => write!(f, "{}:{}", self.name, v),
            None => f.write_str(&self.name),
        }
    }
}

/// The `m=` line of a media description (RFC 8866 §5.14).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaLine {
    /// Media type (`message`, `audio`, ...).
    pub media: String,
    /// Transport port; 0 rejects or disables the stream (RFC 3264).
    pub port: u16,
    /// Optional `/<number of ports>`.
    pub port_count: Option<u32>,
    /// Transport protocol (`TCP/MSRP`, `TCP/TLS/MSRP`, `RTP/AVP`, ...).
    pub proto: String,
    /// Media formats; MSRP uses the single format `*`.
    pub formats: Vec<String>,
}

impl fmt::Display for MediaLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.media, self.port)?;
        if let Some(n) = self.port_count {
            write!(f, "/{n}")?;
        }
        write!(f, " {}", self.proto)?;
        for fmt_ in &self.formats {
            write!(f, " {fmt_}")?;
        }
        Ok(())
    }
}

/// One media description: the `m=` line and the lines that follow it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    /// The `m=` line.
    pub line: MediaLine,
    /// `i=` media title.
    pub information: Option<String>,
    /// `c=` lines at media level (several are legal for multicast).
    pub connections: Vec<Connection>,
    /// `b=` lines.
    pub bandwidths: Vec<Bandwidth>,
    /// `k=` line (obsolete, kept verbatim).
    pub key: Option<String>,
    /// `a=` lines in order.
    pub attributes: Vec<Attribute>,
    pub(crate) kept: Kept<MediaKept>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct MediaKept {
    pub(crate) line: Option<(MediaLine, String)>,
    pub(crate) connections: Vec<(Connection, String)>,
    pub(crate) bandwidths: Vec<(Bandwidth, String)>,
}

impl MediaDescription {
    /// A media description with only its `m=` line.
    pub fn new(line: MediaLine) -> Self {
        Self {
            line,
            information: None,
            connections: Vec::new(),
            bandwidths: Vec::new(),
            key: None,
            attributes: Vec::new(),
            kept: Kept(MediaKept::default()),
        }
    }

    /// The first attribute with this name.
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.is(name))
    }

    /// All attributes with this name.
    pub fn attributes_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Attribute> {
        self.attributes.iter().filter(move |a| a.is(name))
    }

    /// Whether a property or value attribute with this name is present.
    pub fn has_attribute(&self, name: &str) -> bool {
        self.attribute(name).is_some()
    }
}

/// A whole session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    /// `v=`; always 0.
    pub version: u32,
    /// `o=`.
    pub origin: Origin,
    /// `s=`; `-` when there is nothing to say.
    pub session_name: String,
    /// `i=`.
    pub information: Option<String>,
    /// `u=`.
    pub uri: Option<String>,
    /// `e=` lines.
    pub emails: Vec<String>,
    /// `p=` lines.
    pub phones: Vec<String>,
    /// Session-level `c=`.
    pub connection: Option<Connection>,
    /// Session-level `b=` lines.
    pub bandwidths: Vec<Bandwidth>,
    /// `t=` lines with their `r=` lines. RFC 8866 requires one; some RFC examples (e.g. RFC 7701
    /// §9) omit it, so an empty list is accepted and re-emitted as such.
    pub times: Vec<TimeDescription>,
    /// `z=` line, verbatim.
    pub zone_adjustments: Option<String>,
    /// `k=` line, verbatim.
    pub key: Option<String>,
    /// Session-level `a=` lines.
    pub attributes: Vec<Attribute>,
    /// Media descriptions.
    pub media: Vec<MediaDescription>,
    /// Line terminator used when serializing (taken from the first line on input).
    pub line_ending: LineEnding,
    pub(crate) kept: Kept<SessionKept>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct SessionKept {
    pub(crate) origin: Option<(Origin, String)>,
    pub(crate) connection: Option<(Connection, String)>,
    pub(crate) bandwidths: Vec<(Bandwidth, String)>,
    /// The input's last line had no terminator.
    pub(crate) unterminated: bool,
}

impl SessionDescription {
    /// A minimal description: `v=0`, the origin, `s=-`, `t=0 0`.
    pub fn new(origin: Origin) -> Self {
        Self {
            version: 0,
            origin,
            session_name: "-".into(),
            information: None,
            uri: None,
            emails: Vec::new(),
            phones: Vec::new(),
            connection: None,
            bandwidths: Vec::new(),
            times: vec![TimeDescription::new(0, 0)],
            zone_adjustments: None,
            key: None,
            attributes: Vec::new(),
            media: Vec::new(),
            line_ending: LineEnding::CrLf,
            kept: Kept(SessionKept::default()),
        }
    }

    /// The first session-level attribute with this name.
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.is(name))
    }

    /// Serializes to bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }

    /// The description without its `o=` line, used to tell whether an SDP "changed" (RFC 3264
    /// §8 / RFC 4975 §8.4: an unchanged description keeps the same `o=` line).
    pub fn body_without_origin(&self) -> String {
        let mut out = String::new();
        let _ = self.write_to(&mut out, false);
        out
    }

    fn write_to(&self, out: &mut String, with_origin: bool) -> fmt::Result {
        let eol = self.line_ending.as_str();
        let mut w = LineWriter { out, eol };
        w.line('v', &self.version.to_string())?;
        if with_origin {
            w.kept('o', &self.origin, self.kept.0.origin.as_ref())?;
        }
        w.line('s', &self.session_name)?;
        w.opt('i', self.information.as_deref())?;
        w.opt('u', self.uri.as_deref())?;
        for e in &self.emails {
            w.line('e', e)?;
        }
        for p in &self.phones {
            w.line('p', p)?;
        }
        if let Some(c) = &self.connection {
            w.kept('c', c, self.kept.0.connection.as_ref())?;
        }
        for (i, b) in self.bandwidths.iter().enumerate() {
            w.kept('b', b, self.kept.0.bandwidths.get(i))?;
        }
        for t in &self.times {
            w.kept('t', &t.timing, t.kept.0.as_ref())?;
            for r in &t.repeats {
                w.line('r', r)?;
            }
        }
        w.opt('z', self.zone_adjustments.as_deref())?;
        w.opt('k', self.key.as_deref())?;
        for a in &self.attributes {
            w.display('a', a)?;
        }
        for m in &self.media {
            w.kept('m', &m.line, m.kept.0.line.as_ref())?;
            w.opt('i', m.information.as_deref())?;
            for (i, c) in m.connections.iter().enumerate() {
                w.kept('c', c, m.kept.0.connections.get(i))?;
            }
            for (i, b) in m.bandwidths.iter().enumerate() {
                w.kept('b', b, m.kept.0.bandwidths.get(i))?;
            }
            w.opt('k', m.key.as_deref())?;
            for a in &m.attributes {
                w.display('a', a)?;
            }
        }
        if self.kept.0.unterminated && with_origin {
            let new_len = w.out.len().saturating_sub(eol.len());
            w.out.truncate(new_len);
        }
        Ok(())
    }
}

impl fmt::Display for SessionDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        self.write_to(&mut out, true)?;
        f.write_str(&out)
    }
}

struct LineWriter<'a> {
    out: &'a mut String,
    eol: &'static str,
}

impl LineWriter<'_> {
    /// Writes `<kind>=<value><eol>`, dropping CR, LF and NUL so that no value can forge lines.
    fn line(&mut self, kind: char, value: &str) -> fmt::Result {
        self.out.push(kind);
        self.out.push('=');
        self.out
            .extend(value.chars().filter(|c| !matches!(c, '\r' | '\n' | '\0')));
        self.out.push_str(self.eol);
        Ok(())
    }

    fn opt(&mut self, kind: char, value: Option<&str>) -> fmt::Result {
        match value {
            Some(v) => self.line(kind, v),
            None => Ok(()),
        }
    }

    fn display(&mut self, kind: char, value: &dyn fmt::Display) -> fmt::Result {
        let mut s = String::new();
        write!(s, "{value}")?;
        self.line(kind, &s)
    }

    /// Re-emits the original text while the typed value still equals what was parsed from it.
    fn kept<T: PartialEq + fmt::Display>(
        &mut self,
        kind: char,
        value: &T,
        kept: Option<&(T, String)>,
    ) -> fmt::Result {
        match kept {
            Some((parsed, raw)) if parsed == value => self.line(kind, raw),
            _ => self.display(kind, value),
        }
    }
}
