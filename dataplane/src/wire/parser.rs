//! The incremental MSRP frame parser (RFC 4975 §9 with errata E1–E6). The caller owns a
//! `BytesMut` read buffer; [`Parser::poll`] consumes it zero-copy and yields `Head`, `Body`
//! slices as they arrive, and `End`. Any split of the input gives the same frames.

use super::chars::{self, TEXT, TOKEN, UPALPHA};
use super::error::{ErrorKind, RejectedFrame, WireError};
use super::head::{FrameHead, HeadFields, HeaderName, Method, StartLine};
use super::ident::{is_ident, IDENT_MAX};
use super::span::Span;
use super::uri::PathCache;
use super::values::{three_digits, ByteRange, FailureReport, SuccessReport};
use bytes::{Buf, Bytes, BytesMut};
use memchr::memmem::Finder;

/// Largest body of a request other than SEND (RFC 4975 §7.1).
pub const MAX_NON_SEND_BODY: u64 = 10240;

/// Separator CRLF plus the seven dashes that open every end-line.
const END_NEEDLE: &[u8; 9] = b"\r\n-------";

/// Size limits, all configuration. Exceeding one is an error, never unbounded buffering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParserLimits {
    /// Longest start line including CRLF.
    pub max_start_line: usize,
    /// Largest head (start line + header lines + blank line).
    pub max_header_bytes: usize,
    /// Most header lines in one frame.
    pub max_headers: usize,
    /// Largest body of one frame (chunk); larger ones fail with 413.
    pub max_chunk_size: u64,
}

impl Default for ParserLimits {
    fn default() -> Self {
        ParserLimits {
            max_start_line: 1024,
            max_header_bytes: 16 * 1024,
            max_headers: 64,
            max_chunk_size: 16 * 1024 * 1024,
        }
    }
}

/// The continuation flag of an end-line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Continuation {
    /// `$`: this chunk ends the message.
    Complete,
    /// `+`: more chunks follow.
    More,
    /// `#`: the sender abandons the message.
    Abort,
}

impl Continuation {
    /// From the flag byte.
    pub fn from_byte(b: u8) -> Option<Continuation> {
        match b {
            b'$' => Some(Continuation::Complete),
            b'+' => Some(Continuation::More),
            b'#' => Some(Continuation::Abort),
            _ => None,
        }
    }

    /// The flag byte.
    pub fn as_byte(self) -> u8 {
        match self {
            Continuation::Complete => b'$',
            Continuation::More => b'+',
            Continuation::Abort => b'#',
        }
    }
}

/// What [`Parser::poll`] yields. Every frame is `Head`, zero or more `Body`, then `End` — except
/// a frame whose body breaks a limit (413): its `Head` and some `Body` events are followed by a
/// non-fatal error instead of `End`, and the parser skips the rest of that frame. A frame with a
/// bad head yields only the error.
#[derive(Debug, Clone)]
// Boxing the head would cost an allocation per frame; moving ~270 bytes is cheaper.
#[allow(clippy::large_enum_variant)]
pub enum Event {
    /// Start line and headers.
    Head(FrameHead),
    /// A slice of the body, in order (the separator CRLF before the end-line excluded).
    Body(Bytes),
    /// The end-line.
    End {
        /// Its continuation flag.
        flag: Continuation,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Head,
    Body,
    EndPending(Continuation),
    Skip,
    Failed,
}

enum EndLineMatch {
    Ours(Continuation),
    BadFlag,
    NotOurs,
}

enum Scan {
    /// The first `n` bytes are body; the rest may be the start of the end-line.
    Body(usize),
    /// The end-line starts at `at` (its leading CRLF) and is `len` bytes long.
    End { at: usize, len: usize, flag: u8 },
}

/// Incremental parser for one connection's inbound byte stream.
pub struct Parser {
    limits: ParserLimits,
    finder: Finder<'static>,
    state: State,
    // Head scanning: offsets into the caller's buffer, whose byte 0 is the frame start.
    line_start: usize,
    scan_pos: usize,
    line_no: u32,
    fields: HeadFields,
    saw_content_type: bool,
    saw_mime: bool,
    // Body scanning.
    tid: [u8; IDENT_MAX],
    tid_len: u8,
    method: Option<Method>,
    body_scan: usize,
    body_len: u64,
    body_max: u64,
    /// The end-line already found at the start of the buffer: (length, flag).
    end_at_start: Option<(usize, u8)>,
    to_cache: PathCache,
    from_cache: PathCache,
}

impl Default for Parser {
    fn default() -> Self {
        Parser::new(ParserLimits::default())
    }
}

impl std::fmt::Debug for Parser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parser")
            .field("state", &self.state)
            .field("limits", &self.limits)
            .finish()
    }
}

impl Parser {
    /// A parser with the given limits.
    pub fn new(limits: ParserLimits) -> Parser {
        Parser {
            limits,
            finder: Finder::new(END_NEEDLE),
            state: State::Head,
            line_start: 0,
            scan_pos: 0,
            line_no: 0,
            fields: HeadFields::new(),
            saw_content_type: false,
            saw_mime: false,
            tid: [0; IDENT_MAX],
            tid_len: 0,
            method: None,
            body_scan: 0,
            body_len: 0,
            body_max: 0,
            end_at_start: None,
            to_cache: PathCache::new(),
            from_cache: PathCache::new(),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &ParserLimits {
        &self.limits
    }

    /// `true` when no frame is in progress (a clean place for the peer to close).
    pub fn is_idle(&self) -> bool {
        self.state == State::Head && self.line_no == 0 && self.scan_pos == 0
    }

    /// `true` after a fatal error: the connection must be dropped.
    pub fn has_failed(&self) -> bool {
        self.state == State::Failed
    }

    /// Consumes what it can from `buf` and returns the next event, or `Ok(None)` when more
    /// bytes are needed. Call it until it returns `Ok(None)`, then read more into `buf`.
    ///
    /// On an error that is not [`fatal`](WireError::is_fatal) the parser has dropped the bad
    /// frame (or will skip the rest of it) and the next call continues with the stream.
    pub fn poll(&mut self, buf: &mut BytesMut) -> Result<Option<Event>, WireError> {
        loop {
            match self.state {
                State::Head => return self.poll_head(buf),
                State::EndPending(flag) => {
                    self.reset_frame();
                    return Ok(Some(Event::End { flag }));
                }
                State::Body => return self.poll_body(buf),
                State::Skip => match self.scan(buf) {
                    Scan::Body(n) => {
                        buf.advance(n);
                        self.body_scan = 0;
                        return Ok(None);
                    }
                    Scan::End { at, len, .. } => {
                        buf.advance(at + len);
                        self.reset_frame();
                    }
                },
                State::Failed => return Err(WireError::fatal(ErrorKind::Failed)),
            }
        }
    }

    fn reset_frame(&mut self) {
        self.state = State::Head;
        self.line_start = 0;
        self.scan_pos = 0;
        self.line_no = 0;
        self.fields = HeadFields::new();
        self.saw_content_type = false;
        self.saw_mime = false;
        self.body_scan = 0;
        self.body_len = 0;
        self.method = None;
        self.end_at_start = None;
    }

    fn fail(&mut self, kind: ErrorKind) -> WireError {
        self.state = State::Failed;
        WireError::fatal(kind)
    }

    /// Rejects the frame whose head is being parsed and skips to its end-line.
    fn reject_head(&mut self, kind: ErrorKind, buf: &mut BytesMut) -> WireError {
        // Keep the CRLF that ended the previous line: a bodiless frame's end-line follows it.
        let keep_from = self.line_start.saturating_sub(2).min(buf.len());
        if self.line_no == 0 || keep_from == 0 {
            return self.fail(kind);
        }
        let head = buf.split_to(keep_from).freeze();
        let slice = |s: Span| {
            (!s.is_none() && (s.end as usize) <= head.len()).then(|| head.slice(s.range()))
        };
        let frame = RejectedFrame {
            transaction_id: slice(self.fields.tid).unwrap_or_default(),
            method: match self.fields.start {
                StartLine::Request(_) => Some(slice(self.fields.start_tail).unwrap_or_default()),
                StartLine::Response(_) => None,
            },
            from_path: slice(self.fields.known[HeaderName::FromPath as usize]),
            failure_report: slice(self.fields.known[HeaderName::FailureReport as usize]),
        };
        self.state = State::Skip;
        self.body_scan = 0;
        WireError::skipped(kind, frame)
    }

    fn poll_head(&mut self, buf: &mut BytesMut) -> Result<Option<Event>, WireError> {
        // Garbage is fatal as soon as it shows: do not wait for a CRLF that may never come.
        if self.line_no == 0 {
            let n = buf.len().min(5);
            if buf[..n] != b"MSRP "[..n] {
                return Err(self.fail(ErrorKind::StartLine));
            }
        }
        loop {
            // One scan for CR or LF per line: a CR must be followed by LF, a bare LF is an error.
            // Every decision is taken at the first CR/LF, with the size limit checked first, so
            // that the outcome does not depend on how the input was split.
            let Some(rel) = memchr::memchr2(b'\r', b'\n', &buf[self.scan_pos..]) else {
                self.scan_pos = buf.len();
                if self.line_no == 0 {
                    if buf.len() >= self.limits.max_start_line {
                        return Err(self.fail(ErrorKind::StartLineTooLong));
                    }
                } else if buf.len() > self.limits.max_header_bytes {
                    return Err(self.reject_head(ErrorKind::HeaderBlockTooLarge, buf));
                }
                return Ok(None);
            };
            let at = self.scan_pos + rel;
            let bare_lf = buf[at] == b'\n';
            // Where the line would end: after LF, or after the LF that must follow the CR.
            let line_end = if bare_lf { at + 1 } else { at + 2 };
            if self.line_no == 0 && line_end > self.limits.max_start_line {
                return Err(self.fail(ErrorKind::StartLineTooLong));
            }
            if self.line_no > 0 && line_end > self.limits.max_header_bytes {
                return Err(self.reject_head(ErrorKind::HeaderBlockTooLarge, buf));
            }
            if bare_lf {
                return Err(self.reject_head(ErrorKind::LineEnding, buf));
            }
            match buf.get(at + 1) {
                None => {
                    self.scan_pos = at;
                    return Ok(None);
                }
                Some(b'\n') => {}
                Some(_) => return Err(self.reject_head(ErrorKind::LineEnding, buf)),
            }
            self.scan_pos = line_end;
            let (ls, le) = (self.line_start, at);
            if self.line_no == 0 {
                if let Err(kind) = self.start_line(&buf[..le]) {
                    if matches!(kind, ErrorKind::StartLine | ErrorKind::TransactionId) {
                        return Err(self.fail(kind));
                    }
                    self.line_start = line_end;
                    self.line_no = 1;
                    return Err(self.reject_head(kind, buf));
                }
                self.line_no = 1;
                self.line_start = line_end;
                self.fields.headers_start = line_end as u32;
                continue;
            }
            if ls == le {
                // Blank line: a body follows.
                if let Err(kind) = self.check_head_complete(true) {
                    return Err(self.reject_head(kind, buf));
                }
                self.fields.headers_end = ls as u32;
                self.fields.has_body = true;
                let f = std::mem::replace(&mut self.fields, HeadFields::new());
                let head = buf.split_to(line_end).freeze();
                self.body_max = match self.method {
                    Some(Method::Send) => self.limits.max_chunk_size,
                    _ => self.limits.max_chunk_size.min(MAX_NON_SEND_BODY),
                };
                self.state = State::Body;
                self.body_scan = 0;
                self.body_len = 0;
                return Ok(Some(Event::Head(FrameHead::new(head, f))));
            }
            if buf[ls..le].starts_with(b"-------") {
                match self.end_line_in_head(&buf[ls + 7..le]) {
                    EndLineMatch::Ours(flag) => {
                        if let Err(kind) = self.check_head_complete(false) {
                            return Err(self.reject_head(kind, buf));
                        }
                        self.fields.headers_end = ls as u32;
                        let f = std::mem::replace(&mut self.fields, HeadFields::new());
                        let head = buf.split_to(ls).freeze();
                        buf.advance(line_end - ls);
                        self.state = State::EndPending(flag);
                        return Ok(Some(Event::Head(FrameHead::new(head, f))));
                    }
                    EndLineMatch::BadFlag => {
                        // This transaction's end-line with a missing or bad flag: drop the frame.
                        let keep_from = ls.saturating_sub(2);
                        let err = self.reject_head(ErrorKind::EndLine, buf);
                        buf.advance((line_end - keep_from).min(buf.len()));
                        self.reset_frame();
                        return Err(err);
                    }
                    EndLineMatch::NotOurs => {
                        return Err(self.reject_head(ErrorKind::HeaderSyntax, buf));
                    }
                }
            }
            if let Err(kind) = self.header_line(&buf[..], ls, le) {
                return Err(self.reject_head(kind, buf));
            }
            self.line_no += 1;
            self.line_start = line_end;
        }
    }

    fn end_line_in_head(&self, rest: &[u8]) -> EndLineMatch {
        let tid = &self.tid[..self.tid_len as usize];
        if !rest.starts_with(tid) {
            return EndLineMatch::NotOurs;
        }
        match &rest[tid.len()..] {
            [f] => Continuation::from_byte(*f).map_or(EndLineMatch::BadFlag, EndLineMatch::Ours),
            _ => EndLineMatch::BadFlag,
        }
    }

    fn start_line(&mut self, line: &[u8]) -> Result<(), ErrorKind> {
        // "MSRP " checked by the caller.
        let rest = &line[5..];
        let sp = memchr::memchr(b' ', rest).ok_or(ErrorKind::StartLine)?;
        let tid = &rest[..sp];
        if !is_ident(tid) {
            return Err(ErrorKind::TransactionId);
        }
        self.tid[..tid.len()].copy_from_slice(tid);
        self.tid_len = tid.len() as u8;
        self.fields.tid = Span::new(5, 5 + sp);
        let tail_start = 5 + sp + 1;
        let tail = &rest[sp + 1..];
        if tail.first().is_some_and(|c| c.is_ascii_digit()) {
            self.fields.start = StartLine::Response(0);
            let code = tail
                .get(..3)
                .and_then(three_digits)
                .ok_or(ErrorKind::ResponseStatus)?;
            match &tail[3..] {
                [] => {}
                [b' ', comment @ ..] => {
                    if !chars::all(comment, TEXT) {
                        return Err(ErrorKind::ResponseStatus);
                    }
                    self.fields.start_tail = Span::new(tail_start + 4, line.len());
                }
                _ => return Err(ErrorKind::ResponseStatus),
            }
            self.fields.start = StartLine::Response(code);
        } else {
            self.fields.start = StartLine::Request(Method::Other);
            self.fields.start_tail = Span::new(tail_start, line.len());
            if tail.is_empty() || !chars::all(tail, UPALPHA) {
                return Err(ErrorKind::Method);
            }
            let m = Method::from_name(tail);
            self.method = Some(m);
            self.fields.start = StartLine::Request(m);
        }
        Ok(())
    }

    fn header_line(&mut self, buf: &[u8], ls: usize, le: usize) -> Result<(), ErrorKind> {
        let line = &buf[ls..le];
        if self.saw_content_type {
            return Err(ErrorKind::ContentTypeNotLast);
        }
        self.fields.header_count += 1;
        if self.fields.header_count as usize > self.limits.max_headers {
            return Err(ErrorKind::TooManyHeaders);
        }
        // hname = ALPHA *token, then ":". One short loop validates the name and finds the
        // colon (which is not a token character).
        let colon = chars::run_len(line, TOKEN);
        let name = &line[..colon];
        if line.get(colon) != Some(&b':') || name.is_empty() || !name[0].is_ascii_alphabetic() {
            return Err(ErrorKind::HeaderSyntax);
        }
        if line.get(colon + 1) != Some(&b' ') {
            return Err(ErrorKind::HeaderSyntax);
        }
        let vs = ls + colon + 2;
        let value = &buf[vs..le];
        let span = Span::new(vs, le);
        let known = HeaderName::from_bytes(name);
        match (self.line_no, known) {
            (1, Some(HeaderName::ToPath)) | (2, Some(HeaderName::FromPath)) => {}
            (1, _) => return Err(ErrorKind::ToPathNotFirst),
            (2, _) => return Err(ErrorKind::FromPathNotSecond),
            _ => {}
        }
        let Some(h) = known else {
            self.fields.ext_count += 1;
            if name.len() > 8 && name[..8].eq_ignore_ascii_case(b"Content-") {
                self.saw_mime = true;
            }
            return Ok(());
        };
        let slot = &mut self.fields.known[h as usize];
        if !slot.is_none() {
            return Err(ErrorKind::DuplicateHeader);
        }
        *slot = span;
        match h {
            HeaderName::ToPath => {
                let (_, last) = self.to_cache.validate(value, vs).map_err(|e| e.kind())?;
                self.fields.to_last = Some(last);
            }
            HeaderName::FromPath => {
                let (first, _) = self.from_cache.validate(value, vs).map_err(|e| e.kind())?;
                self.fields.from_first = Some(first);
            }
            HeaderName::MessageId if !is_ident(value) => {
                return Err(ErrorKind::MessageId);
            }
            HeaderName::ByteRange => {
                self.fields.byte_range = Some(ByteRange::parse(value).map_err(|e| e.kind())?);
            }
            HeaderName::SuccessReport => {
                self.fields.success_report =
                    Some(SuccessReport::parse(value).map_err(|e| e.kind())?);
            }
            HeaderName::FailureReport => {
                self.fields.failure_report =
                    Some(FailureReport::parse(value).map_err(|e| e.kind())?);
            }
            HeaderName::ContentType => {
                self.saw_content_type = true;
                self.saw_mime = true;
            }
            HeaderName::ContentId
            | HeaderName::ContentDescription
            | HeaderName::ContentDisposition => {
                self.saw_mime = true;
            }
            _ => {}
        }
        Ok(())
    }

    fn check_head_complete(&self, body: bool) -> Result<(), ErrorKind> {
        if self.fields.known[HeaderName::ToPath as usize].is_none() {
            return Err(ErrorKind::ToPathNotFirst);
        }
        if self.fields.known[HeaderName::FromPath as usize].is_none() {
            return Err(ErrorKind::FromPathNotSecond);
        }
        if body {
            if matches!(self.fields.start, StartLine::Response(_)) {
                return Err(ErrorKind::ResponseWithBody);
            }
            if !self.saw_content_type {
                return Err(ErrorKind::BodyWithoutContentType);
            }
        } else if self.saw_mime {
            return Err(ErrorKind::MimeWithoutBody);
        }
        Ok(())
    }

    fn poll_body(&mut self, buf: &mut BytesMut) -> Result<Option<Event>, WireError> {
        let scan = match self.end_at_start.take() {
            Some((len, flag)) => Scan::End { at: 0, len, flag },
            None => self.scan(buf),
        };
        match scan {
            Scan::Body(0) => Ok(None),
            Scan::Body(n) => self.emit_body(buf, n),
            Scan::End { at: 0, len, flag } => {
                buf.advance(len);
                self.reset_frame();
                Ok(Some(Event::End {
                    flag: Continuation::from_byte(flag).unwrap_or(Continuation::Complete),
                }))
            }
            // The end-line is at `at`: deliver the body before it, then the end.
            Scan::End { at, len, flag } => {
                let r = self.emit_body(buf, at);
                if r.is_ok() {
                    self.end_at_start = Some((len, flag));
                }
                r
            }
        }
    }

    fn emit_body(&mut self, buf: &mut BytesMut, n: usize) -> Result<Option<Event>, WireError> {
        let len = self.body_len + n as u64;
        if len > self.body_max {
            let kind = if self.method == Some(Method::Send) {
                ErrorKind::ChunkTooLarge
            } else {
                ErrorKind::NonSendBodyTooLarge
            };
            let frame = RejectedFrame {
                transaction_id: Bytes::copy_from_slice(&self.tid[..self.tid_len as usize]),
                method: self
                    .method
                    .map(|m| Bytes::from_static(m.as_str().unwrap_or("").as_bytes())),
                from_path: None,
                failure_report: None,
            };
            // Keep scanning (and discarding) from where the body scan stopped.
            self.state = State::Skip;
            return Err(WireError::skipped(kind, frame));
        }
        self.body_len = len;
        self.body_scan = 0;
        Ok(Some(Event::Body(buf.split_to(n).freeze())))
    }

    /// Looks for `CRLF -------<tid><flag> CRLF` in `buf` from where the last scan stopped.
    fn scan(&mut self, buf: &[u8]) -> Scan {
        let tid = &self.tid[..self.tid_len as usize];
        let total = END_NEEDLE.len() + tid.len() + 3;
        let mut from = self.body_scan.min(buf.len());
        loop {
            let Some(rel) = self.finder.find(&buf[from..]) else {
                // A proper prefix of the needle may sit at the tail: hold it back.
                let mut keep = 0;
                for k in (1..END_NEEDLE.len()).rev() {
                    if buf.len() >= from + k && buf.ends_with(&END_NEEDLE[..k]) {
                        keep = k;
                        break;
                    }
                }
                self.body_scan = buf.len() - keep;
                return Scan::Body(buf.len() - keep);
            };
            let at = from + rel;
            let after = &buf[at + END_NEEDLE.len()..];
            if after.len() < total - END_NEEDLE.len() {
                // Not enough bytes to decide: rule it out early if we can.
                let k = after.len().min(tid.len());
                let could_be = after[..k] == tid[..k]
                    && (after.len() <= tid.len()
                        || Continuation::from_byte(after[tid.len()]).is_some())
                    && (after.len() <= tid.len() + 1 || after[tid.len() + 1] == b'\r');
                if could_be {
                    self.body_scan = at;
                    return Scan::Body(at);
                }
                from = at + 1;
                continue;
            }
            let flag = after[tid.len()];
            if &after[..tid.len()] == tid
                && Continuation::from_byte(flag).is_some()
                && &after[tid.len() + 1..tid.len() + 3] == b"\r\n"
            {
                return Scan::End {
                    at,
                    len: total,
                    flag,
                };
            }
            from = at + 1;
        }
    }
}
