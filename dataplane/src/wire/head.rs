//! The frame head view: start line and header block of one request or response, held as one
//! `Bytes` with the known headers recorded as spans in fixed fields (no per-header allocation).
//! Extension headers are found by rescanning the lines on demand.

use super::error::WireError;
use super::span::Span;
use super::uri::{CachedUri, MsrpUri, OwnedMsrpUri, PathIter};
use super::values::{
    parse_expires, parse_nickname, ByteRange, DigestParams, FailureReport, MediaType, Status,
    SuccessReport,
};
use bytes::Bytes;
use std::borrow::Cow;
use std::fmt;

/// A request method. Unknown methods (`1*UPALPHA`) are passed through as `Other`, so that a
/// relay can forward them and an endpoint can answer 501.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `SEND` (RFC 4975).
    Send,
    /// `REPORT` (RFC 4975).
    Report,
    /// `AUTH` (RFC 4976).
    Auth,
    /// `NICKNAME` (RFC 7701).
    Nickname,
    /// Any other `1*UPALPHA` method; read its name with [`FrameHead::method_name`].
    Other,
}

impl Method {
    pub(crate) fn from_name(name: &[u8]) -> Method {
        match name {
            b"SEND" => Method::Send,
            b"REPORT" => Method::Report,
            b"AUTH" => Method::Auth,
            b"NICKNAME" => Method::Nickname,
            _ => Method::Other,
        }
    }

    /// The method name for the known methods (`None` for `Other`).
    pub fn as_str(self) -> Option<&'static str> {
        match self {
            Method::Send => Some("SEND"),
            Method::Report => Some("REPORT"),
            Method::Auth => Some("AUTH"),
            Method::Nickname => Some("NICKNAME"),
            Method::Other => None,
        }
    }
}

/// The headers the codec knows by name. Anything else is an extension header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum HeaderName {
    /// `To-Path`
    ToPath = 0,
    /// `From-Path`
    FromPath,
    /// `Message-ID`
    MessageId,
    /// `Success-Report`
    SuccessReport,
    /// `Failure-Report`
    FailureReport,
    /// `Byte-Range`
    ByteRange,
    /// `Status`
    Status,
    /// `Expires` (RFC 4976)
    Expires,
    /// `Min-Expires` (RFC 4976)
    MinExpires,
    /// `Max-Expires` (RFC 4976)
    MaxExpires,
    /// `Use-Path` (RFC 4976)
    UsePath,
    /// `WWW-Authenticate` (RFC 4976)
    WwwAuthenticate,
    /// `Authorization` (RFC 4976)
    Authorization,
    /// `Authentication-Info` (RFC 4976)
    AuthenticationInfo,
    /// `Use-Nickname` (RFC 7701)
    UseNickname,
    /// `Content-ID` (MIME)
    ContentId,
    /// `Content-Description` (MIME)
    ContentDescription,
    /// `Content-Disposition` (MIME)
    ContentDisposition,
    /// `Content-Type` (MIME; last header when a body follows)
    ContentType,
}

pub(crate) const KNOWN_HEADERS: usize = 19;

impl HeaderName {
    /// Canonical spelling, as the writer emits it.
    pub fn as_str(self) -> &'static str {
        match self {
            HeaderName::ToPath => "To-Path",
            HeaderName::FromPath => "From-Path",
            HeaderName::MessageId => "Message-ID",
            HeaderName::SuccessReport => "Success-Report",
            HeaderName::FailureReport => "Failure-Report",
            HeaderName::ByteRange => "Byte-Range",
            HeaderName::Status => "Status",
            HeaderName::Expires => "Expires",
            HeaderName::MinExpires => "Min-Expires",
            HeaderName::MaxExpires => "Max-Expires",
            HeaderName::UsePath => "Use-Path",
            HeaderName::WwwAuthenticate => "WWW-Authenticate",
            HeaderName::Authorization => "Authorization",
            HeaderName::AuthenticationInfo => "Authentication-Info",
            HeaderName::UseNickname => "Use-Nickname",
            HeaderName::ContentId => "Content-ID",
            HeaderName::ContentDescription => "Content-Description",
            HeaderName::ContentDisposition => "Content-Disposition",
            HeaderName::ContentType => "Content-Type",
        }
    }

    /// Case-insensitive lookup of a header name (erratum E5).
    pub fn from_bytes(n: &[u8]) -> Option<HeaderName> {
        use HeaderName::*;
        // Length and first letter pick at most one candidate; then one case-insensitive compare.
        let first = n.first()?.to_ascii_lowercase();
        let cand = match (n.len(), first) {
            (6, b's') => Status,
            (7, b't') => ToPath,
            (7, b'e') => Expires,
            (8, b'u') => UsePath,
            (9, b'f') => FromPath,
            (10, b'm') => MessageId,
            (10, b'b') => ByteRange,
            (10, b'c') => ContentId,
            (11, b'm') => match n.get(1).map(u8::to_ascii_lowercase) {
                Some(b'i') => MinExpires,
                _ => MaxExpires,
            },
            (12, b'c') => ContentType,
            (12, b'u') => UseNickname,
            (13, b'a') => Authorization,
            (14, b's') => SuccessReport,
            (14, b'f') => FailureReport,
            (16, b'w') => WwwAuthenticate,
            (19, b'a') => AuthenticationInfo,
            (19, b'c') => match n.get(9).map(u8::to_ascii_lowercase) {
                Some(b'e') => ContentDescription,
                _ => ContentDisposition,
            },
            _ => return None,
        };
        token_eq_ignore_case(cand.as_str().as_bytes(), n).then_some(cand)
    }

    /// MIME headers may only appear in a request with a body.
    pub fn is_mime(self) -> bool {
        matches!(
            self,
            HeaderName::ContentId
                | HeaderName::ContentDescription
                | HeaderName::ContentDisposition
                | HeaderName::ContentType
        )
    }
}

/// Case-insensitive equality of a canonical header name (letters and `-`) with `n`, eight
/// bytes at a time: `| 0x20` lower-cases letters and leaves `-` alone; the only other byte it
/// could confuse with `-` is CR, which never reaches here (lines are split on CR/LF).
fn token_eq_ignore_case(canon: &[u8], n: &[u8]) -> bool {
    if canon.len() != n.len() {
        return false;
    }
    let mut a = canon.chunks_exact(8);
    let mut b = n.chunks_exact(8);
    for (x, y) in (&mut a).zip(&mut b) {
        let x = u64::from_le_bytes(x.try_into().unwrap_or([0; 8]));
        let y = u64::from_le_bytes(y.try_into().unwrap_or([0; 8]));
        if x | 0x2020_2020_2020_2020 != y | 0x2020_2020_2020_2020 {
            return false;
        }
    }
    a.remainder()
        .iter()
        .zip(b.remainder())
        .all(|(x, y)| x | 0x20 == y | 0x20)
}

/// Request or response, from the start line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartLine {
    /// `MSRP tid METHOD`
    Request(Method),
    /// `MSRP tid CODE [comment]`
    Response(u16),
}

/// The parsed fields of a head: spans into the head bytes and a few pre-parsed values.
#[derive(Clone, Debug)]
pub(crate) struct HeadFields {
    pub start: StartLine,
    pub tid: Span,
    /// Method name (requests) or comment (responses, `Span::NONE` if absent).
    pub start_tail: Span,
    pub known: [Span; KNOWN_HEADERS],
    pub byte_range: Option<ByteRange>,
    /// Last To-Path URI (the session URI at the final hop) and first From-Path URI (the
    /// previous hop), parsed once by the parser.
    pub to_last: Option<CachedUri>,
    pub from_first: Option<CachedUri>,
    pub success_report: Option<SuccessReport>,
    pub failure_report: Option<FailureReport>,
    /// Offset of the first header line.
    pub headers_start: u32,
    /// End of the last header line's CRLF.
    pub headers_end: u32,
    pub header_count: u16,
    pub ext_count: u16,
    pub has_body: bool,
}

impl HeadFields {
    pub fn new() -> Self {
        HeadFields {
            start: StartLine::Response(0),
            tid: Span::NONE,
            start_tail: Span::NONE,
            known: [Span::NONE; KNOWN_HEADERS],
            byte_range: None,
            to_last: None,
            from_first: None,
            success_report: None,
            failure_report: None,
            headers_start: 0,
            headers_end: 0,
            header_count: 0,
            ext_count: 0,
            has_body: false,
        }
    }
}

/// The start line and headers of one frame, as a view over `Bytes` (the exact received bytes).
///
/// To-Path, From-Path, the transaction id, Message-ID, Byte-Range and the report headers were
/// validated by the parser; the other typed accessors parse on demand and return errors.
#[derive(Clone)]
pub struct FrameHead {
    bytes: Bytes,
    f: HeadFields,
}

impl FrameHead {
    pub(crate) fn new(bytes: Bytes, f: HeadFields) -> Self {
        FrameHead { bytes, f }
    }

    /// The raw head: start line and header lines (each with CRLF); for a request with a body
    /// also the blank line. Never includes the body or end-line.
    pub fn as_bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// Request (with method) or response (with code).
    pub fn start_line(&self) -> StartLine {
        self.f.start
    }

    /// `true` for requests.
    pub fn is_request(&self) -> bool {
        matches!(self.f.start, StartLine::Request(_))
    }

    /// The method of a request.
    pub fn method(&self) -> Option<Method> {
        match self.f.start {
            StartLine::Request(m) => Some(m),
            StartLine::Response(_) => None,
        }
    }

    /// The method name of a request as on the wire (useful for `Method::Other`).
    pub fn method_name(&self) -> Option<&[u8]> {
        match self.f.start {
            StartLine::Request(_) => Some(self.f.start_tail.get(&self.bytes)),
            StartLine::Response(_) => None,
        }
    }

    /// The status code of a response.
    pub fn status_code(&self) -> Option<u16> {
        match self.f.start {
            StartLine::Response(c) => Some(c),
            StartLine::Request(_) => None,
        }
    }

    /// The comment after a response code.
    pub fn comment(&self) -> Option<&[u8]> {
        match self.f.start {
            StartLine::Response(_) => self.f.start_tail.opt(&self.bytes),
            StartLine::Request(_) => None,
        }
    }

    /// The transaction id (a valid ident).
    pub fn transaction_id(&self) -> &[u8] {
        self.f.tid.get(&self.bytes)
    }

    /// The transaction id as a zero-copy `Bytes`.
    pub fn transaction_id_bytes(&self) -> Bytes {
        self.bytes.slice(self.f.tid.range())
    }

    /// Whether a body (possibly empty) follows the head.
    pub fn has_body(&self) -> bool {
        self.f.has_body
    }

    /// Raw value of a known header.
    pub fn raw(&self, name: HeaderName) -> Option<&[u8]> {
        self.f.known[name as usize].opt(&self.bytes)
    }

    /// A known header's value as a zero-copy `Bytes`.
    pub fn raw_bytes(&self, name: HeaderName) -> Option<Bytes> {
        let s = self.f.known[name as usize];
        (!s.is_none()).then(|| self.bytes.slice(s.range()))
    }

    /// The To-Path URIs (validated by the parser), first hop first.
    pub fn to_path(&self) -> impl Iterator<Item = MsrpUri<'_>> + Clone {
        PathIter::new(self.raw(HeaderName::ToPath).unwrap_or_default()).filter_map(Result::ok)
    }

    /// The From-Path URIs (validated by the parser), previous hop first.
    pub fn from_path(&self) -> impl Iterator<Item = MsrpUri<'_>> + Clone {
        PathIter::new(self.raw(HeaderName::FromPath).unwrap_or_default()).filter_map(Result::ok)
    }

    /// Raw To-Path value.
    pub fn to_path_raw(&self) -> &[u8] {
        self.raw(HeaderName::ToPath).unwrap_or_default()
    }

    /// Raw From-Path value.
    pub fn from_path_raw(&self) -> &[u8] {
        self.raw(HeaderName::FromPath).unwrap_or_default()
    }

    /// The last To-Path URI: the session URI at the final recipient (RFC 4975 §7.3). Parsed
    /// once by the parser; free to call.
    pub fn to_path_last(&self) -> Option<MsrpUri<'_>> {
        self.f.to_last.and_then(|c| c.view(&self.bytes))
    }

    /// The first From-Path URI: the previous hop, where a SEND response goes (§7.2). Parsed
    /// once by the parser; free to call.
    pub fn from_path_first(&self) -> Option<MsrpUri<'_>> {
        self.f.from_first.and_then(|c| c.view(&self.bytes))
    }

    /// The last To-Path URI as an owned value (allocates; for session tables).
    pub fn to_path_last_owned(&self) -> Option<OwnedMsrpUri> {
        self.to_path_last().map(|u| u.to_owned_uri())
    }

    /// Use-Path URIs (RFC 4976), not validated by the parser.
    pub fn use_path(&self) -> Option<PathIter<'_>> {
        self.raw(HeaderName::UsePath).map(PathIter::new)
    }

    /// Message-ID (a valid ident).
    pub fn message_id(&self) -> Option<&[u8]> {
        self.raw(HeaderName::MessageId)
    }

    /// Byte-Range (validated by the parser).
    pub fn byte_range(&self) -> Option<ByteRange> {
        self.f.byte_range
    }

    /// Success-Report as sent (absent: `None`).
    pub fn success_report_header(&self) -> Option<SuccessReport> {
        self.f.success_report
    }

    /// Effective Success-Report (default `No`).
    pub fn success_report(&self) -> SuccessReport {
        self.f.success_report.unwrap_or_default()
    }

    /// Failure-Report as sent (absent: `None`).
    pub fn failure_report_header(&self) -> Option<FailureReport> {
        self.f.failure_report
    }

    /// Effective Failure-Report (default `Yes`).
    pub fn failure_report(&self) -> FailureReport {
        self.f.failure_report.unwrap_or_default()
    }

    /// The Status header of a REPORT.
    pub fn status(&self) -> Option<Result<Status<'_>, WireError>> {
        self.raw(HeaderName::Status).map(Status::parse)
    }

    /// Expires in seconds (RFC 4976).
    pub fn expires(&self) -> Option<Result<u32, WireError>> {
        self.raw(HeaderName::Expires).map(parse_expires)
    }

    /// Min-Expires in seconds (RFC 4976).
    pub fn min_expires(&self) -> Option<Result<u32, WireError>> {
        self.raw(HeaderName::MinExpires).map(parse_expires)
    }

    /// Max-Expires in seconds (RFC 4976).
    pub fn max_expires(&self) -> Option<Result<u32, WireError>> {
        self.raw(HeaderName::MaxExpires).map(parse_expires)
    }

    /// Content-Type as a media type.
    pub fn content_type(&self) -> Option<Result<MediaType<'_>, WireError>> {
        self.raw(HeaderName::ContentType).map(MediaType::parse)
    }

    /// The Use-Nickname value unescaped; `""` gives an empty string (removal). Errors map to
    /// 424 (RFC 7701 §7.1).
    pub fn use_nickname(&self) -> Option<Result<Cow<'_, str>, WireError>> {
        self.raw(HeaderName::UseNickname).map(parse_nickname)
    }

    /// WWW-Authenticate challenge params.
    pub fn www_authenticate(&self) -> Option<Result<DigestParams<'_>, WireError>> {
        self.raw(HeaderName::WwwAuthenticate)
            .map(DigestParams::parse_with_scheme)
    }

    /// Authorization credential params.
    pub fn authorization(&self) -> Option<Result<DigestParams<'_>, WireError>> {
        self.raw(HeaderName::Authorization)
            .map(DigestParams::parse_with_scheme)
    }

    /// Authentication-Info params.
    pub fn authentication_info(&self) -> Option<Result<DigestParams<'_>, WireError>> {
        self.raw(HeaderName::AuthenticationInfo)
            .map(DigestParams::parse_list)
    }

    /// Number of header lines.
    pub fn header_count(&self) -> usize {
        self.f.header_count as usize
    }

    /// All header lines in order as `(name, value)`.
    pub fn headers(&self) -> HeaderIter<'_> {
        HeaderIter {
            rest: self
                .bytes
                .get(self.f.headers_start as usize..self.f.headers_end as usize)
                .unwrap_or_default(),
        }
    }

    /// Headers the codec does not know, in order, verbatim.
    pub fn extension_headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        let any = self.f.ext_count > 0;
        self.headers()
            .filter(move |(n, _)| any && HeaderName::from_bytes(n).is_none())
    }

    /// The first header called `name` (case-insensitive), known or not.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        if let Some(h) = HeaderName::from_bytes(name.as_bytes()) {
            return self.raw(h);
        }
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }
}

impl fmt::Debug for FrameHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameHead")
            .field("raw", &String::from_utf8_lossy(&self.bytes))
            .finish()
    }
}

/// Iterator over `(name, value)` header lines of a validated head.
#[derive(Clone, Debug)]
pub struct HeaderIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for HeaderIter<'a> {
    type Item = (&'a [u8], &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        let nl = memchr::memchr(b'\n', self.rest)?;
        let line = self.rest[..nl]
            .strip_suffix(b"\r")
            .unwrap_or(&self.rest[..nl]);
        self.rest = &self.rest[nl + 1..];
        let colon = memchr::memchr(b':', line)?;
        let value = line.get(colon + 2..).unwrap_or_default();
        Some((&line[..colon], value))
    }
}
