//! The SIP message view: one parse over a `Bytes` buffer that records where the start line,
//! each header field and the body are, without copying. The original bytes stay the source of
//! truth, so an unmodified message re-emits byte for byte.

use bytes::Bytes;
use memchr::memmem;

use super::error::ParseError;
use super::header::{CSeq, NameAddr, Via};

/// A byte range inside a message buffer. `u32` keeps header tables small; messages are bounded
/// by [`Limits::max_message`] well below 4 GiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// First byte.
    pub start: u32,
    /// One past the last byte.
    pub end: u32,
}

impl Span {
    fn new(start: usize, end: usize) -> Span {
        Span {
            start: start as u32,
            end: end as u32,
        }
    }
    /// The range as `usize` indices.
    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
    /// Length in bytes.
    pub fn len(self) -> usize {
        (self.end - self.start) as usize
    }
    /// True when the span is empty.
    pub fn is_empty(self) -> bool {
        self.end == self.start
    }
}

/// Size limits applied while parsing; all of them are configuration.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest accepted message (head + body), in bytes.
    pub max_message: usize,
    /// Largest number of header fields (lines, after unfolding).
    pub max_headers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message: 65_535,
            max_headers: 128,
        }
    }
}

/// How the message was delimited by the transport (RFC 3261 §18.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// UDP: the datagram is the message; missing Content-Length means "to the end", octets
    /// after the body are ignored.
    Datagram,
    /// TCP/TLS: Content-Length is mandatory and the buffer holds exactly one message.
    Stream,
}

/// SIP methods we treat specially; anything else is kept as [`Method::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// REGISTER
    Register,
    /// INVITE
    Invite,
    /// ACK
    Ack,
    /// BYE
    Bye,
    /// CANCEL
    Cancel,
    /// OPTIONS
    Options,
    /// MESSAGE (RFC 3428)
    Message,
    /// SUBSCRIBE (RFC 6665)
    Subscribe,
    /// NOTIFY (RFC 6665)
    Notify,
    /// REFER (RFC 3515)
    Refer,
    /// INFO (RFC 6086)
    Info,
    /// UPDATE (RFC 3311)
    Update,
    /// PRACK (RFC 3262)
    Prack,
    /// PUBLISH (RFC 3903)
    Publish,
    /// Any other token (methods are case-sensitive, RFC 3261 §7.1).
    Other,
}

impl Method {
    /// Classifies a method token (case-sensitive).
    pub fn from_token(t: &str) -> Method {
        match t {
            "REGISTER" => Method::Register,
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "OPTIONS" => Method::Options,
            "MESSAGE" => Method::Message,
            "SUBSCRIBE" => Method::Subscribe,
            "NOTIFY" => Method::Notify,
            "REFER" => Method::Refer,
            "INFO" => Method::Info,
            "UPDATE" => Method::Update,
            "PRACK" => Method::Prack,
            "PUBLISH" => Method::Publish,
            _ => Method::Other,
        }
    }
    /// The canonical token, or `None` for [`Method::Other`].
    pub fn as_str(self) -> Option<&'static str> {
        Some(match self {
            Method::Register => "REGISTER",
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Options => "OPTIONS",
            Method::Message => "MESSAGE",
            Method::Subscribe => "SUBSCRIBE",
            Method::Notify => "NOTIFY",
            Method::Refer => "REFER",
            Method::Info => "INFO",
            Method::Update => "UPDATE",
            Method::Prack => "PRACK",
            Method::Publish => "PUBLISH",
            Method::Other => return None,
        })
    }
}

/// Header fields the stack looks at, recognised in long and compact form (RFC 3261 §7.3.3,
/// plus the compact forms registered later). Everything else is [`HeaderName::Other`] and is
/// carried through untouched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum HeaderName {
    Via,
    From,
    To,
    CallId,
    CSeq,
    Contact,
    MaxForwards,
    ContentLength,
    ContentType,
    Route,
    RecordRoute,
    Path,
    Expires,
    Supported,
    Require,
    ProxyRequire,
    Unsupported,
    Authorization,
    WwwAuthenticate,
    ProxyAuthorization,
    ProxyAuthenticate,
    AuthenticationInfo,
    FlowTimer,
    Event,
    SubscriptionState,
    Allow,
    MinExpires,
    Subject,
    ContentEncoding,
    ReferTo,
    AllowEvents,
    Other,
}

impl HeaderName {
    /// Classifies a header field name, case-insensitively, compact forms included.
    pub fn classify(name: &str) -> HeaderName {
        let b = name.as_bytes();
        if b.len() == 1 {
            return match b[0].to_ascii_lowercase() {
                b'v' => HeaderName::Via,
                b'f' => HeaderName::From,
                b't' => HeaderName::To,
                b'i' => HeaderName::CallId,
                b'm' => HeaderName::Contact,
                b'l' => HeaderName::ContentLength,
                b'c' => HeaderName::ContentType,
                b'k' => HeaderName::Supported,
                b's' => HeaderName::Subject,
                b'e' => HeaderName::ContentEncoding,
                b'o' => HeaderName::Event,
                b'r' => HeaderName::ReferTo,
                b'u' => HeaderName::AllowEvents,
                _ => HeaderName::Other,
            };
        }
        const TABLE: &[(&str, HeaderName)] = &[
            ("Via", HeaderName::Via),
            ("From", HeaderName::From),
            ("To", HeaderName::To),
            ("Call-ID", HeaderName::CallId),
            ("CSeq", HeaderName::CSeq),
            ("Contact", HeaderName::Contact),
            ("Max-Forwards", HeaderName::MaxForwards),
            ("Content-Length", HeaderName::ContentLength),
            ("Content-Type", HeaderName::ContentType),
            ("Route", HeaderName::Route),
            ("Record-Route", HeaderName::RecordRoute),
            ("Path", HeaderName::Path),
            ("Expires", HeaderName::Expires),
            ("Supported", HeaderName::Supported),
            ("Require", HeaderName::Require),
            ("Proxy-Require", HeaderName::ProxyRequire),
            ("Unsupported", HeaderName::Unsupported),
            ("Authorization", HeaderName::Authorization),
            ("WWW-Authenticate", HeaderName::WwwAuthenticate),
            ("Proxy-Authorization", HeaderName::ProxyAuthorization),
            ("Proxy-Authenticate", HeaderName::ProxyAuthenticate),
            ("Authentication-Info", HeaderName::AuthenticationInfo),
            ("Flow-Timer", HeaderName::FlowTimer),
            ("Event", HeaderName::Event),
            ("Subscription-State", HeaderName::SubscriptionState),
            ("Allow", HeaderName::Allow),
            ("Min-Expires", HeaderName::MinExpires),
            ("Subject", HeaderName::Subject),
            ("Content-Encoding", HeaderName::ContentEncoding),
            ("Refer-To", HeaderName::ReferTo),
            ("Allow-Events", HeaderName::AllowEvents),
        ];
        for (n, h) in TABLE {
            if n.len() == name.len() && n.eq_ignore_ascii_case(name) {
                return *h;
            }
        }
        HeaderName::Other
    }

    /// Canonical long name, used when we write headers ourselves.
    pub fn canonical(self) -> &'static str {
        match self {
            HeaderName::Via => "Via",
            HeaderName::From => "From",
            HeaderName::To => "To",
            HeaderName::CallId => "Call-ID",
            HeaderName::CSeq => "CSeq",
            HeaderName::Contact => "Contact",
            HeaderName::MaxForwards => "Max-Forwards",
            HeaderName::ContentLength => "Content-Length",
            HeaderName::ContentType => "Content-Type",
            HeaderName::Route => "Route",
            HeaderName::RecordRoute => "Record-Route",
            HeaderName::Path => "Path",
            HeaderName::Expires => "Expires",
            HeaderName::Supported => "Supported",
            HeaderName::Require => "Require",
            HeaderName::ProxyRequire => "Proxy-Require",
            HeaderName::Unsupported => "Unsupported",
            HeaderName::Authorization => "Authorization",
            HeaderName::WwwAuthenticate => "WWW-Authenticate",
            HeaderName::ProxyAuthorization => "Proxy-Authorization",
            HeaderName::ProxyAuthenticate => "Proxy-Authenticate",
            HeaderName::AuthenticationInfo => "Authentication-Info",
            HeaderName::FlowTimer => "Flow-Timer",
            HeaderName::Event => "Event",
            HeaderName::SubscriptionState => "Subscription-State",
            HeaderName::Allow => "Allow",
            HeaderName::MinExpires => "Min-Expires",
            HeaderName::Subject => "Subject",
            HeaderName::ContentEncoding => "Content-Encoding",
            HeaderName::ReferTo => "Refer-To",
            HeaderName::AllowEvents => "Allow-Events",
            HeaderName::Other => "",
        }
    }

    /// Header fields whose value is a comma-separated list (RFC 3261 §7.3.1) that we split.
    pub fn is_list(self) -> bool {
        matches!(
            self,
            HeaderName::Via
                | HeaderName::Contact
                | HeaderName::Route
                | HeaderName::RecordRoute
                | HeaderName::Path
                | HeaderName::Supported
                | HeaderName::Require
                | HeaderName::ProxyRequire
                | HeaderName::Unsupported
                | HeaderName::Allow
                | HeaderName::AllowEvents
        )
    }
}

/// One header field line (after unfolding), as spans into the message buffer.
#[derive(Debug, Clone, Copy)]
pub struct HeaderField {
    /// Recognised name.
    pub name: HeaderName,
    /// The name exactly as written.
    pub name_span: Span,
    /// The whole line, from the first byte of the name to the end of the last continuation
    /// line, CRLF excluded. Re-emitting this span reproduces the header byte for byte.
    pub line: Span,
    /// The value: from the first non-blank byte after the colon to the end of the last
    /// continuation line. Folds (CRLF + blanks) stay inside; parsers treat them as blanks.
    pub value: Span,
}

/// The start line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartLine {
    /// `Method SP Request-URI SP SIP/2.0`
    Request {
        /// Classified method.
        method: Method,
        /// The method token as written.
        method_span: Span,
        /// The Request-URI as written.
        uri: Span,
    },
    /// `SIP/2.0 SP Status-Code SP Reason-Phrase`
    Response {
        /// Status code (100..=699).
        code: u16,
        /// The reason phrase as written (may be empty).
        reason: Span,
    },
}

/// A parsed SIP message: the original bytes plus an index of where everything is.
#[derive(Debug, Clone)]
pub struct Message {
    buf: Bytes,
    start: StartLine,
    start_line: Span,
    headers: Vec<HeaderField>,
    body: Span,
}

fn is_token_char(c: u8) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
}

/// True when every byte of `s` is a token character (RFC 3261 §25.1) and `s` is non-empty.
pub fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_char)
}

/// Where the header block of a message ends: index just past the empty line (`CRLFCRLF`).
pub fn find_head_end(buf: &[u8]) -> Option<usize> {
    memmem::find(buf, b"\r\n\r\n").map(|i| i + 4)
}

/// Parses a decimal integer with no sign, bounded by `max`.
pub fn parse_decimal(s: &str, max: u64) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut v: u64 = 0;
    for b in s.bytes() {
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    (v <= max).then_some(v)
}

impl Message {
    /// Parses one message. For [`Framing::Stream`] the buffer must hold exactly one message
    /// (see [`super::stream::StreamFramer`]); for datagrams trailing octets are ignored.
    pub fn parse(buf: Bytes, framing: Framing, limits: &Limits) -> Result<Message, ParseError> {
        if buf.len() > limits.max_message && framing == Framing::Stream {
            return Err(ParseError::TooLarge);
        }
        // RFC 3261 §7.5: CRLFs before the start line are ignored.
        let mut pos = 0;
        while buf.len() >= pos + 2 && &buf[pos..pos + 2] == b"\r\n" {
            pos += 2;
        }
        let head_end = match find_head_end(&buf[pos..]) {
            Some(e) => pos + e,
            None => return Err(ParseError::Incomplete),
        };
        if head_end > limits.max_message {
            return Err(ParseError::TooLarge);
        }
        let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| ParseError::NotUtf8)?;

        // Start line.
        let sl_end = pos + head[pos..].find("\r\n").ok_or(ParseError::BadStartLine)?;
        let start = parse_start_line(head, pos, sl_end)?;
        let start_line = Span::new(pos, sl_end);

        // Header lines, unfolding continuations (a line starting with SP or HT).
        let mut headers: Vec<HeaderField> = Vec::with_capacity(16);
        let mut line_start = sl_end + 2;
        let block_end = head_end - 2; // position of the final empty line's CRLF
        while line_start < block_end {
            let rel = head[line_start..block_end]
                .find("\r\n")
                .unwrap_or(block_end - line_start);
            let line_end = line_start + rel;
            let first = head.as_bytes()[line_start];
            if first == b' ' || first == b'\t' {
                let last = headers.last_mut().ok_or(ParseError::BadHeaderLine)?;
                last.line.end = line_end as u32;
                if last.value.is_empty() {
                    // The value starts on a continuation line ("TO :\r\n sip:...").
                    let line = &head[line_start..line_end];
                    let skip = line.len() - line.trim_start_matches([' ', '\t']).len();
                    last.value.start = (line_start + skip) as u32;
                }
                last.value.end = line_end as u32;
            } else {
                if headers.len() >= limits.max_headers {
                    return Err(ParseError::TooManyHeaders);
                }
                let line = &head[line_start..line_end];
                let colon = line.find(':').ok_or(ParseError::BadHeaderLine)?;
                let name = line[..colon].trim_end_matches([' ', '\t']);
                if !is_token(name) {
                    return Err(ParseError::BadHeaderLine);
                }
                let after = &line[colon + 1..];
                let skip = after.len() - after.trim_start_matches([' ', '\t']).len();
                let vstart = line_start + colon + 1 + skip;
                headers.push(HeaderField {
                    name: HeaderName::classify(name),
                    name_span: Span::new(line_start, line_start + name.len()),
                    line: Span::new(line_start, line_end),
                    value: Span::new(vstart, line_end),
                });
            }
            line_start = line_end + 2;
        }

        // Body per Content-Length.
        let mut content_length: Option<u64> = None;
        for h in headers
            .iter()
            .filter(|h| h.name == HeaderName::ContentLength)
        {
            let v = trim_lws(&head[h.value.range()]);
            let n = parse_decimal(v, u64::from(u32::MAX)).ok_or(ParseError::BadContentLength)?;
            if content_length.is_some_and(|c| c != n) {
                return Err(ParseError::BadContentLength);
            }
            content_length = Some(n);
        }
        let available = buf.len() - head_end;
        let body_len = match (content_length, framing) {
            (Some(n), _) => {
                let n = n as usize;
                if n > available {
                    return Err(ParseError::ContentLengthExceedsMessage);
                }
                if head_end + n > limits.max_message {
                    return Err(ParseError::TooLarge);
                }
                n
            }
            (None, Framing::Datagram) => available,
            (None, Framing::Stream) => return Err(ParseError::MissingHeader("Content-Length")),
        };
        let body = Span::new(head_end, head_end + body_len);
        let buf = if head_end + body_len < buf.len() {
            buf.slice(..head_end + body_len)
        } else {
            buf
        };
        Ok(Message {
            buf,
            start,
            start_line,
            headers,
            body,
        })
    }

    /// The message's bytes exactly as received (minus ignored trailing datagram octets).
    pub fn as_bytes(&self) -> &Bytes {
        &self.buf
    }

    /// The header block as text (start line through the empty line).
    fn head(&self) -> &str {
        let head = &self.buf[..self.body.start as usize];
        // SAFETY: `parse` checked exactly this prefix with `std::str::from_utf8` before
        // constructing the message, `buf` is an immutable `Bytes`, and `body.start` never
        // changes after construction. Re-validating here would cost O(message) per header
        // access, which dominated parse + validate.
        unsafe { std::str::from_utf8_unchecked(head) }
    }

    /// Text of a span inside the header block.
    pub fn text(&self, s: Span) -> &str {
        self.head().get(s.range()).unwrap_or("")
    }

    /// The start line.
    pub fn start(&self) -> StartLine {
        self.start
    }

    /// The start line as written.
    pub fn start_line_text(&self) -> &str {
        self.text(self.start_line)
    }

    /// True for requests.
    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    /// The request method, if this is a request.
    pub fn method(&self) -> Option<Method> {
        match self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The method token as written (requests only).
    pub fn method_text(&self) -> &str {
        match self.start {
            StartLine::Request { method_span, .. } => self.text(method_span),
            StartLine::Response { .. } => "",
        }
    }

    /// The Request-URI as written (requests only).
    pub fn request_uri(&self) -> &str {
        match self.start {
            StartLine::Request { uri, .. } => self.text(uri),
            StartLine::Response { .. } => "",
        }
    }

    /// The status code (responses only).
    pub fn status(&self) -> Option<u16> {
        match self.start {
            StartLine::Response { code, .. } => Some(code),
            StartLine::Request { .. } => None,
        }
    }

    /// The reason phrase (responses only).
    pub fn reason(&self) -> &str {
        match self.start {
            StartLine::Response { reason, .. } => self.text(reason),
            StartLine::Request { .. } => "",
        }
    }

    /// All header fields in order.
    pub fn headers(&self) -> &[HeaderField] {
        &self.headers
    }

    /// Raw (trimmed) values of every header field with this name, in order.
    pub fn values(&self, name: HeaderName) -> impl Iterator<Item = &str> + '_ {
        self.headers
            .iter()
            .filter(move |h| h.name == name)
            .map(move |h| trim_lws(self.text(h.value)))
    }

    /// Values of an extension header by name (case-insensitive).
    pub fn values_named<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s str> + 's {
        self.headers
            .iter()
            .filter(move |h| self.text(h.name_span).eq_ignore_ascii_case(name))
            .map(move |h| trim_lws(self.text(h.value)))
    }

    /// The first value of a single-valued header.
    pub fn value(&self, name: HeaderName) -> Option<&str> {
        self.values(name).next()
    }

    /// Every comma-separated element of every header field with this name, in order.
    pub fn list(&self, name: HeaderName) -> impl Iterator<Item = &str> + '_ {
        self.values(name).flat_map(super::header::split_list)
    }

    /// Offset of the body (just past the empty line).
    pub fn headers_end(&self) -> usize {
        self.body.start as usize
    }

    /// The body.
    pub fn body(&self) -> Bytes {
        self.buf.slice(self.body.range())
    }

    /// The Call-ID value.
    pub fn call_id(&self) -> Option<&str> {
        self.value(HeaderName::CallId)
    }

    /// The parsed CSeq.
    pub fn cseq(&self) -> Result<CSeq<'_>, ParseError> {
        CSeq::parse(
            self.value(HeaderName::CSeq)
                .ok_or(ParseError::MissingHeader("CSeq"))?,
        )
    }

    /// The topmost Via.
    pub fn top_via(&self) -> Result<Via<'_>, ParseError> {
        Via::parse(
            self.list(HeaderName::Via)
                .next()
                .ok_or(ParseError::MissingHeader("Via"))?,
        )
    }

    /// All Via values, top first.
    pub fn vias(&self) -> impl Iterator<Item = Result<Via<'_>, ParseError>> + '_ {
        self.list(HeaderName::Via).map(Via::parse)
    }

    /// The From header.
    pub fn from_hdr(&self) -> Result<NameAddr<'_>, ParseError> {
        NameAddr::parse(
            self.value(HeaderName::From)
                .ok_or(ParseError::MissingHeader("From"))?,
        )
    }

    /// The To header.
    pub fn to_hdr(&self) -> Result<NameAddr<'_>, ParseError> {
        NameAddr::parse(
            self.value(HeaderName::To)
                .ok_or(ParseError::MissingHeader("To"))?,
        )
    }

    /// Max-Forwards, if present and valid (0..=255).
    pub fn max_forwards(&self) -> Option<u8> {
        self.value(HeaderName::MaxForwards)
            .and_then(|v| parse_decimal(v, 255))
            .map(|v| v as u8)
    }

    /// The Expires header as seconds, if present and valid.
    pub fn expires(&self) -> Option<u32> {
        self.value(HeaderName::Expires)
            .and_then(|v| parse_decimal(v, u64::from(u32::MAX)))
            .map(|v| v as u32)
    }

    /// True if an option tag appears in the given header (Supported, Require, ...).
    pub fn has_option(&self, name: HeaderName, tag: &str) -> bool {
        self.list(name).any(|t| t.eq_ignore_ascii_case(tag))
    }

    /// Structural checks every request must pass before a transaction is created
    /// (RFC 3261 §8.2: mandatory headers, CSeq method, parseable Via/From/To).
    pub fn validate(&self) -> Result<(), ParseError> {
        let cseq = self.cseq()?;
        if self.call_id().is_none_or(|c| c.is_empty()) {
            return Err(ParseError::MissingHeader("Call-ID"));
        }
        self.from_hdr()?;
        self.to_hdr()?;
        for v in self.vias() {
            v?;
        }
        self.top_via()?;
        if let StartLine::Request { method_span, .. } = self.start {
            if cseq.method != self.text(method_span) {
                return Err(ParseError::CSeqMethodMismatch);
            }
            if let Some(mf) = self.value(HeaderName::MaxForwards) {
                if parse_decimal(mf, 255).is_none() {
                    return Err(ParseError::BadHeader("Max-Forwards"));
                }
            }
            super::uri::Uri::parse(self.request_uri())?;
        }
        if let Some(e) = self.value(HeaderName::Expires) {
            if parse_decimal(e, u64::from(u32::MAX)).is_none() {
                return Err(ParseError::BadHeader("Expires"));
            }
        }
        for c in self.list(HeaderName::Contact) {
            if c != "*" {
                NameAddr::parse(c)?;
            }
        }
        Ok(())
    }
}

/// Trims blanks and folds (SP, HT, CR, LF) at both ends.
pub fn trim_lws(s: &str) -> &str {
    s.trim_matches([' ', '\t', '\r', '\n'])
}

fn parse_start_line(head: &str, start: usize, end: usize) -> Result<StartLine, ParseError> {
    let line = &head[start..end];
    if let Some(rest) = line.strip_prefix("SIP/") {
        // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
        if !rest.starts_with("2.0 ") {
            return Err(ParseError::BadVersion);
        }
        let rest = &rest[4..];
        let code_str = rest.get(..3).ok_or(ParseError::BadStartLine)?;
        let code = parse_decimal(code_str, 699).ok_or(ParseError::BadStartLine)? as u16;
        if code < 100 {
            return Err(ParseError::BadStartLine);
        }
        let after = &rest[3..];
        // The SP after the code is required; be liberal and accept it missing when the line ends.
        let reason_start = if after.is_empty() {
            end
        } else if let Some(r) = after.strip_prefix(' ') {
            end - r.len()
        } else {
            return Err(ParseError::BadStartLine);
        };
        return Ok(StartLine::Response {
            code,
            reason: Span::new(reason_start, end),
        });
    }
    // Request-Line = Method SP Request-URI SP SIP-Version; exactly two single spaces.
    let sp1 = line.find(' ').ok_or(ParseError::BadStartLine)?;
    let method = &line[..sp1];
    if !is_token(method) {
        return Err(ParseError::BadStartLine);
    }
    let rest = &line[sp1 + 1..];
    let sp2 = rest.find(' ').ok_or(ParseError::BadStartLine)?;
    let uri = &rest[..sp2];
    let version = &rest[sp2 + 1..];
    if uri.is_empty() || uri.starts_with('<') || version.contains(' ') || version.is_empty() {
        return Err(ParseError::BadStartLine);
    }
    if !version.starts_with("SIP/") {
        return Err(ParseError::BadStartLine);
    }
    if version != "SIP/2.0" {
        return Err(ParseError::BadVersion);
    }
    let uri_start = start + sp1 + 1;
    Ok(StartLine::Request {
        method: Method::from_token(method),
        method_span: Span::new(start, start + sp1),
        uri: Span::new(uri_start, uri_start + uri.len()),
    })
}
