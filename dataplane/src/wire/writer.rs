//! Building frames: requests and responses into a `BytesMut` (canonical header case,
//! To-Path/From-Path first, Content-Type last), end-lines, pre-rendered per-session path
//! prefixes, and [`OutFrame`] — a per-recipient head + shared body + tail for vectored writes.

use super::head::{FrameHead, HeaderName, Method};
use super::ident::{Ident, IDENT_MAX};
use super::parser::Continuation;
use super::values::{write_quoted, ByteRange, FailureReport, SuccessReport};
use bytes::{BufMut, Bytes, BytesMut};
use std::io::IoSlice;

/// Appends `value`, replacing CR and LF so that no value can break the framing.
fn put_value(buf: &mut BytesMut, value: &[u8]) {
    if memchr::memchr2(b'\r', b'\n', value).is_none() {
        buf.put_slice(value);
    } else {
        buf.extend(
            value
                .iter()
                .map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c }),
        );
    }
}

fn put_header(buf: &mut BytesMut, name: &str, value: &[u8]) {
    buf.put_slice(name.as_bytes());
    buf.put_slice(b": ");
    put_value(buf, value);
    buf.put_slice(b"\r\n");
}

fn put_path<T: AsRef<[u8]>>(buf: &mut BytesMut, name: HeaderName, uris: &[T]) {
    buf.put_slice(name.as_str().as_bytes());
    buf.put_slice(b":");
    for u in uris {
        buf.put_u8(b' ');
        put_value(buf, u.as_ref());
    }
    buf.put_slice(b"\r\n");
}

fn put_u64(buf: &mut BytesMut, n: u64) {
    buf.put_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// The end-line `[CRLF] -------<tid><flag> CRLF`, stored inline.
#[derive(Clone, Copy)]
pub struct EndLine {
    buf: [u8; 2 + 7 + IDENT_MAX + 1 + 2],
    len: u8,
}

impl EndLine {
    /// The end-line for `tid`; `after_body` adds the CRLF that separates a body from it.
    pub fn new(tid: &Ident, flag: Continuation, after_body: bool) -> EndLine {
        let mut buf = [0u8; 2 + 7 + IDENT_MAX + 1 + 2];
        let mut n = 0;
        let mut put = |s: &[u8]| {
            buf[n..n + s.len()].copy_from_slice(s);
            n += s.len();
        };
        if after_body {
            put(b"\r\n");
        }
        put(b"-------");
        put(tid.as_bytes());
        put(&[flag.as_byte()]);
        put(b"\r\n");
        EndLine { buf, len: n as u8 }
    }

    /// The bytes to send.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len as usize]
    }
}

impl std::fmt::Debug for EndLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EndLine({:?})", String::from_utf8_lossy(self.as_bytes()))
    }
}

/// One frame ready to send without copying its body: `head` is per recipient, `body` is the
/// shared (reference-counted) payload, `tail` is the end-line.
#[derive(Clone, Debug)]
pub struct OutFrame {
    /// Start line, headers, and (if there is a body) the blank line.
    pub head: Bytes,
    /// The body, shared between recipients; empty for bodiless frames.
    pub body: Bytes,
    /// The end-line (with its leading CRLF when there is a body).
    pub tail: EndLine,
}

impl OutFrame {
    /// The three slices for `write_vectored` (empty slices are harmless).
    pub fn io_slices(&self) -> [IoSlice<'_>; 3] {
        [
            IoSlice::new(&self.head),
            IoSlice::new(&self.body),
            IoSlice::new(self.tail.as_bytes()),
        ]
    }

    /// Total bytes on the wire.
    pub fn len(&self) -> usize {
        self.head.len() + self.body.len() + self.tail.as_bytes().len()
    }

    /// Never true: a frame has at least a start line.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies the frame into `out` (tests, or backends without vectored I/O).
    pub fn write_to(&self, out: &mut BytesMut) {
        out.reserve(self.len());
        out.put_slice(&self.head);
        out.put_slice(&self.body);
        out.put_slice(self.tail.as_bytes());
    }
}

/// To-Path and From-Path lines rendered once per session, so that each request (and each
/// fan-out copy) only writes its start line and per-message headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathPrefix {
    bytes: Bytes,
}

impl PathPrefix {
    /// Renders `To-Path: ...CRLF From-Path: ...CRLF`.
    pub fn new<T: AsRef<[u8]>, F: AsRef<[u8]>>(to_path: &[T], from_path: &[F]) -> PathPrefix {
        let mut b = BytesMut::with_capacity(64);
        put_path(&mut b, HeaderName::ToPath, to_path);
        put_path(&mut b, HeaderName::FromPath, from_path);
        PathPrefix { bytes: b.freeze() }
    }

    /// The rendered lines.
    pub fn as_bytes(&self) -> &Bytes {
        &self.bytes
    }
}

/// Writes one request into a `BytesMut`: start line and paths first, then headers in call
/// order; [`content_type`](Self::content_type) must come last and leads to the body.
#[must_use = "finish the frame with end(), body() or out_frame()"]
pub struct RequestWriter<'b> {
    buf: &'b mut BytesMut,
    start: usize,
    tid: Ident,
}

fn start_request(buf: &mut BytesMut, tid: &Ident, method: &[u8]) -> usize {
    let start = buf.len();
    buf.reserve(256);
    buf.put_slice(b"MSRP ");
    buf.put_slice(tid.as_bytes());
    buf.put_u8(b' ');
    buf.put_slice(method);
    buf.put_slice(b"\r\n");
    start
}

impl<'b> RequestWriter<'b> {
    /// Starts a request with explicit paths. `method` must be `1*UPALPHA` (use
    /// [`Method::as_str`] for the known ones).
    pub fn new<T: AsRef<[u8]>, F: AsRef<[u8]>>(
        buf: &'b mut BytesMut,
        tid: Ident,
        method: &str,
        to_path: &[T],
        from_path: &[F],
    ) -> Self {
        let start = start_request(buf, &tid, method.as_bytes());
        put_path(buf, HeaderName::ToPath, to_path);
        put_path(buf, HeaderName::FromPath, from_path);
        RequestWriter { buf, start, tid }
    }

    /// Starts a request using a pre-rendered path prefix.
    pub fn with_prefix(
        buf: &'b mut BytesMut,
        tid: Ident,
        method: &str,
        prefix: &PathPrefix,
    ) -> Self {
        let start = start_request(buf, &tid, method.as_bytes());
        buf.put_slice(prefix.as_bytes());
        RequestWriter { buf, start, tid }
    }

    /// Starts a SEND.
    pub fn send(buf: &'b mut BytesMut, tid: Ident, prefix: &PathPrefix) -> Self {
        Self::with_prefix(buf, tid, "SEND", prefix)
    }

    /// `Message-ID`.
    pub fn message_id(self, id: &[u8]) -> Self {
        put_header(self.buf, HeaderName::MessageId.as_str(), id);
        self
    }

    /// `Byte-Range`.
    pub fn byte_range(self, r: ByteRange) -> Self {
        self.buf.put_slice(b"Byte-Range: ");
        r.write(self.buf);
        self.buf.put_slice(b"\r\n");
        self
    }

    /// `Success-Report`.
    pub fn success_report(self, v: SuccessReport) -> Self {
        put_header(
            self.buf,
            HeaderName::SuccessReport.as_str(),
            v.as_str().as_bytes(),
        );
        self
    }

    /// `Failure-Report`.
    pub fn failure_report(self, v: FailureReport) -> Self {
        put_header(
            self.buf,
            HeaderName::FailureReport.as_str(),
            v.as_str().as_bytes(),
        );
        self
    }

    /// `Status: <namespace> <code>[ <comment>]` (REPORT).
    pub fn status(self, namespace: u16, code: u16, comment: Option<&str>) -> Self {
        self.buf.put_slice(b"Status: ");
        write_3digits(self.buf, namespace);
        self.buf.put_u8(b' ');
        write_3digits(self.buf, code);
        if let Some(c) = comment {
            self.buf.put_u8(b' ');
            put_value(self.buf, c.as_bytes());
        }
        self.buf.put_slice(b"\r\n");
        self
    }

    /// `Expires` (or Min-/Max-Expires with [`header_u64`](Self::header_u64)).
    pub fn expires(self, secs: u32) -> Self {
        self.header_u64(HeaderName::Expires, u64::from(secs))
    }

    /// A known header with a numeric value.
    pub fn header_u64(self, name: HeaderName, v: u64) -> Self {
        self.buf.put_slice(name.as_str().as_bytes());
        self.buf.put_slice(b": ");
        put_u64(self.buf, v);
        self.buf.put_slice(b"\r\n");
        self
    }

    /// `Use-Path`.
    pub fn use_path<T: AsRef<[u8]>>(self, uris: &[T]) -> Self {
        put_path(self.buf, HeaderName::UsePath, uris);
        self
    }

    /// `Use-Nickname` with quoting and escaping (RFC 7701).
    pub fn use_nickname(self, nickname: &str) -> Self {
        self.buf.put_slice(b"Use-Nickname: ");
        let mut tmp = Vec::with_capacity(nickname.len() + 2);
        write_quoted(nickname.as_bytes(), &mut tmp);
        put_value(self.buf, &tmp);
        self.buf.put_slice(b"\r\n");
        self
    }

    /// A known header with a raw value (e.g. Authorization).
    pub fn known(self, name: HeaderName, value: &[u8]) -> Self {
        put_header(self.buf, name.as_str(), value);
        self
    }

    /// Any header, verbatim (extension headers, MIME headers before Content-Type).
    pub fn header(self, name: &str, value: &[u8]) -> Self {
        put_header(self.buf, name, value);
        self
    }

    /// Ends a bodiless request. Returns the frame's length.
    pub fn end(self, flag: Continuation) -> usize {
        self.buf
            .put_slice(EndLine::new(&self.tid, flag, false).as_bytes());
        self.buf.len() - self.start
    }

    /// Ends a bodiless request and splits it off `buf` as an [`OutFrame`] (zero copy).
    pub fn out_frame_bodiless(self, flag: Continuation) -> OutFrame {
        let head = take_frame(self.buf, self.start);
        OutFrame {
            head,
            body: Bytes::new(),
            tail: EndLine::new(&self.tid, flag, false),
        }
    }

    /// Writes `Content-Type` (always the last header) and the blank line.
    pub fn content_type(self, media_type: &[u8]) -> BodyWriter<'b> {
        put_header(self.buf, HeaderName::ContentType.as_str(), media_type);
        self.buf.put_slice(b"\r\n");
        BodyWriter {
            buf: self.buf,
            start: self.start,
            tid: self.tid,
        }
    }
}

/// Splits `buf[start..]` off as `Bytes`. With `start == 0` (a scratch buffer per connection)
/// the spare capacity stays in `buf`, so the next frame reuses the same allocation.
fn take_frame(buf: &mut BytesMut, start: usize) -> Bytes {
    if start == 0 {
        buf.split().freeze()
    } else {
        buf.split_off(start).split().freeze()
    }
}

fn write_3digits(buf: &mut BytesMut, n: u16) {
    let n = n.min(999);
    buf.put_slice(&[
        b'0' + (n / 100) as u8,
        b'0' + (n / 10 % 10) as u8,
        b'0' + (n % 10) as u8,
    ]);
}

/// The body part of a request, after Content-Type.
#[must_use = "finish the frame with body() or out_frame()"]
pub struct BodyWriter<'b> {
    buf: &'b mut BytesMut,
    start: usize,
    tid: Ident,
}

impl BodyWriter<'_> {
    /// Copies `body` and the end-line into the buffer. Returns the frame's length. The caller
    /// must have checked [`body_contains_end_marker`](super::ident::body_contains_end_marker)
    /// (or generated the tid with [`Ident::random_for_body`]).
    pub fn body(self, body: &[u8], flag: Continuation) -> usize {
        self.buf.reserve(body.len() + 48);
        self.buf.put_slice(body);
        self.buf
            .put_slice(EndLine::new(&self.tid, flag, true).as_bytes());
        self.buf.len() - self.start
    }

    /// Splits the head off the buffer and returns it with the shared `body` and the end-line.
    /// The body is never copied.
    pub fn out_frame(self, body: Bytes, flag: Continuation) -> OutFrame {
        let head = take_frame(self.buf, self.start);
        OutFrame {
            head,
            body,
            tail: EndLine::new(&self.tid, flag, true),
        }
    }
}

/// Writes a response to `req` (RFC 4975 §7.2): same transaction id; To-Path is the first
/// From-Path URI of a SEND, or the whole From-Path for any other method; From-Path is
/// `own_path`.
#[must_use = "finish the response with end()"]
pub struct ResponseWriter<'b> {
    buf: &'b mut BytesMut,
    start: usize,
    tid: Ident,
}

impl<'b> ResponseWriter<'b> {
    /// Starts the response. Returns `None` if `req` is itself a response.
    pub fn new<F: AsRef<[u8]>>(
        buf: &'b mut BytesMut,
        req: &FrameHead,
        code: u16,
        comment: Option<&str>,
        own_path: &[F],
    ) -> Option<Self> {
        let method = req.method()?;
        let tid = Ident::new(req.transaction_id())?;
        let to_path: &[u8] = if method == Method::Send {
            req.from_path_first()?.as_bytes()
        } else {
            req.from_path_raw()
        };
        Some(Self::with_paths(
            buf,
            tid,
            code,
            comment,
            &[to_path],
            own_path,
        ))
    }

    /// Starts a response with explicit paths (relays re-addressing a response).
    pub fn with_paths<T: AsRef<[u8]>, F: AsRef<[u8]>>(
        buf: &'b mut BytesMut,
        tid: Ident,
        code: u16,
        comment: Option<&str>,
        to_path: &[T],
        from_path: &[F],
    ) -> Self {
        let start = buf.len();
        buf.reserve(192);
        buf.put_slice(b"MSRP ");
        buf.put_slice(tid.as_bytes());
        buf.put_u8(b' ');
        write_3digits(buf, code);
        if let Some(c) = comment {
            buf.put_u8(b' ');
            put_value(buf, c.as_bytes());
        }
        buf.put_slice(b"\r\n");
        put_path(buf, HeaderName::ToPath, to_path);
        put_path(buf, HeaderName::FromPath, from_path);
        ResponseWriter { buf, start, tid }
    }

    /// Any header, verbatim.
    pub fn header(self, name: &str, value: &[u8]) -> Self {
        put_header(self.buf, name, value);
        self
    }

    /// A known header with a raw value (e.g. WWW-Authenticate, Authentication-Info).
    pub fn known(self, name: HeaderName, value: &[u8]) -> Self {
        put_header(self.buf, name.as_str(), value);
        self
    }

    /// A known header with a numeric value (Expires, Min-Expires, Max-Expires).
    pub fn header_u64(self, name: HeaderName, v: u64) -> Self {
        self.buf.put_slice(name.as_str().as_bytes());
        self.buf.put_slice(b": ");
        put_u64(self.buf, v);
        self.buf.put_slice(b"\r\n");
        self
    }

    /// `Use-Path` (200 to AUTH).
    pub fn use_path<T: AsRef<[u8]>>(self, uris: &[T]) -> Self {
        put_path(self.buf, HeaderName::UsePath, uris);
        self
    }

    /// Writes the end-line (`$`). Returns the frame's length.
    pub fn end(self) -> usize {
        self.buf
            .put_slice(EndLine::new(&self.tid, Continuation::Complete, false).as_bytes());
        self.buf.len() - self.start
    }
}
