//! Writing messages: a small builder for messages we originate, responses derived from a
//! request (RFC 3261 §8.2.6), and an editor that rewrites a received message for forwarding
//! (Via push/pop, Route pop, Record-Route/Path insertion, Max-Forwards) while copying every
//! untouched header field byte for byte.

use std::fmt::Write as _;
use std::net::SocketAddr;

use bytes::{BufMut, Bytes, BytesMut};

use super::header::{split_list, Via};
use super::message::{trim_lws, HeaderField, HeaderName, Message};

/// Builds a message line by line.
#[derive(Debug)]
pub struct Builder {
    buf: BytesMut,
}

impl Builder {
    /// Starts a request.
    pub fn request(method: &str, uri: &str) -> Builder {
        let mut buf = BytesMut::with_capacity(512);
        buf.put_slice(method.as_bytes());
        buf.put_u8(b' ');
        buf.put_slice(uri.as_bytes());
        buf.put_slice(b" SIP/2.0\r\n");
        Builder { buf }
    }

    /// Starts a response.
    pub fn response(code: u16, reason: &str) -> Builder {
        let mut buf = BytesMut::with_capacity(512);
        let _ = write!(Fmt(&mut buf), "SIP/2.0 {code} {reason}\r\n");
        Builder { buf }
    }

    /// Appends `name: value`.
    pub fn header(&mut self, name: &str, value: &str) -> &mut Builder {
        self.buf.reserve(name.len() + value.len() + 4);
        self.buf.put_slice(name.as_bytes());
        self.buf.put_slice(b": ");
        self.buf.put_slice(value.as_bytes());
        self.buf.put_slice(b"\r\n");
        self
    }

    /// Appends `name: value` with a formatted value.
    pub fn header_fmt(&mut self, name: &str, value: std::fmt::Arguments<'_>) -> &mut Builder {
        self.buf.put_slice(name.as_bytes());
        self.buf.put_slice(b": ");
        let _ = Fmt(&mut self.buf).write_fmt(value);
        self.buf.put_slice(b"\r\n");
        self
    }

    /// Appends a header line exactly as given (no CRLF in `line`).
    pub fn raw_line(&mut self, line: &str) -> &mut Builder {
        self.buf.put_slice(line.as_bytes());
        self.buf.put_slice(b"\r\n");
        self
    }

    /// Adds Content-Type (if a body is given) and Content-Length, the empty line and the body.
    pub fn finish(mut self, content_type: Option<&str>, body: &[u8]) -> Bytes {
        if let (Some(ct), false) = (content_type, body.is_empty()) {
            self.header("Content-Type", ct);
        }
        let _ = write!(Fmt(&mut self.buf), "Content-Length: {}\r\n\r\n", body.len());
        self.buf.put_slice(body);
        self.buf.freeze()
    }
}

struct Fmt<'a>(&'a mut BytesMut);
impl std::fmt::Write for Fmt<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.put_slice(s.as_bytes());
        Ok(())
    }
}

/// The standard reason phrase for the codes this stack sends.
pub fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        420 => "Bad Extension",
        421 => "Extension Required",
        423 => "Interval Too Brief",
        430 => "Flow Failed",
        439 => "First Hop Lacks Outbound Support",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        486 => "Busy Here",
        487 => "Request Terminated",
        489 => "Bad Event",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        _ => "Unknown",
    }
}

/// Renders the top Via of a received request with `received` (and `rport` filled in when the
/// client asked for it, RFC 3581), as RFC 3261 §18.2.1 requires of the server transport.
pub fn via_with_received(via: &Via<'_>, source: SocketAddr) -> String {
    let mut out = String::with_capacity(via.raw.len() + 40);
    // Keep everything up to the parameters as written, then re-emit params, filling rport.
    let head_len = via.raw.len() - via.params.raw().len() - trailing_len(via);
    out.push_str(&via.raw[..head_len]);
    let ip = source.ip().to_string();
    let mut have_received = false;
    for p in via.params.iter() {
        if p.name.eq_ignore_ascii_case("rport") && p.value.is_none() {
            let _ = write!(out, ";rport={}", source.port());
        } else if p.name.eq_ignore_ascii_case("received") {
            have_received = true;
            let _ = write!(out, ";received={ip}");
        } else {
            out.push(';');
            out.push_str(p.raw);
        }
    }
    if !have_received {
        let _ = write!(out, ";received={ip}");
    }
    out
}

fn trailing_len(via: &Via<'_>) -> usize {
    // Params are the tail of the raw text; any trailing blank was trimmed already.
    let praw = via.params.raw();
    if praw.is_empty() {
        return 0;
    }
    let pos = via.raw.rfind(praw).unwrap_or(via.raw.len() - praw.len());
    via.raw.len() - pos - praw.len()
}

/// Starts a response to `req`: copies Via (top one with `received`), From, To (adding
/// `to_tag` if To has none), Call-ID and CSeq, exactly as received otherwise.
pub fn response_to(
    req: &Message,
    code: u16,
    reason: Option<&str>,
    to_tag: Option<&str>,
    source: Option<SocketAddr>,
) -> Builder {
    let mut b = Builder::response(code, reason.unwrap_or_else(|| reason_phrase(code)));
    let mut first_via = true;
    for h in req.headers() {
        match h.name {
            HeaderName::Via => {
                if first_via {
                    first_via = false;
                    let value = trim_lws(req.text(h.value));
                    let mut items = split_list(value);
                    let top = items.next().unwrap_or("");
                    let top_rendered = match (source, Via::parse(top)) {
                        (Some(src), Ok(v)) => via_with_received(&v, src),
                        _ => top.to_string(),
                    };
                    let rest: Vec<&str> = items.collect();
                    if rest.is_empty() {
                        b.header("Via", &top_rendered);
                    } else {
                        b.header_fmt("Via", format_args!("{top_rendered}, {}", rest.join(", ")));
                    }
                } else {
                    b.raw_line(req.text(h.line));
                }
            }
            HeaderName::From | HeaderName::CallId | HeaderName::CSeq => {
                b.raw_line(req.text(h.line));
            }
            HeaderName::To => {
                let has_tag = req.to_hdr().map(|t| t.tag().is_some()).unwrap_or(true);
                match to_tag {
                    Some(tag) if !has_tag => {
                        let line = req.text(h.line);
                        b.buf.put_slice(trim_lws(line).as_bytes());
                        b.buf.put_slice(b";tag=");
                        b.buf.put_slice(tag.as_bytes());
                        b.buf.put_slice(b"\r\n");
                    }
                    _ => {
                        b.raw_line(req.text(h.line));
                    }
                }
            }
            _ => {}
        }
    }
    b
}

/// Edits applied when forwarding a message.
#[derive(Debug, Default)]
pub struct Edit<'e> {
    /// Replace the Request-URI.
    pub request_uri: Option<&'e str>,
    /// Header lines inserted before the first header field, in order (e.g. our Via,
    /// Record-Route, Path).
    pub prepend: Vec<(&'e str, String)>,
    /// Header lines appended after the last header field.
    pub append: Vec<(&'e str, String)>,
    /// Remove the topmost Via value (responses going back).
    pub pop_via: bool,
    /// Remove this many topmost Route values.
    pub pop_routes: usize,
    /// Decrement Max-Forwards (add `Max-Forwards: 70` if absent), for requests.
    pub decrement_max_forwards: bool,
    /// Remove every header field with these names.
    pub remove: Vec<HeaderName>,
}

/// Writes `msg` with `edit` applied; untouched header fields and the body are copied as is.
pub fn rewrite(msg: &Message, edit: &Edit<'_>) -> Bytes {
    let src = msg.as_bytes();
    let mut out = BytesMut::with_capacity(src.len() + 256);
    match (edit.request_uri, msg.method()) {
        (Some(uri), Some(_)) => {
            out.put_slice(msg.method_text().as_bytes());
            out.put_u8(b' ');
            out.put_slice(uri.as_bytes());
            out.put_slice(b" SIP/2.0\r\n");
        }
        _ => {
            out.put_slice(msg.start_line_text().as_bytes());
            out.put_slice(b"\r\n");
        }
    }
    for (n, v) in &edit.prepend {
        put_header(&mut out, n, v);
    }
    let mut via_popped = !edit.pop_via;
    let mut routes_to_pop = edit.pop_routes;
    let mut saw_mf = false;
    for h in msg.headers() {
        if edit.remove.contains(&h.name) {
            continue;
        }
        match h.name {
            HeaderName::Via if !via_popped => {
                via_popped = true;
                pop_first(&mut out, msg, h, "Via");
            }
            HeaderName::Route if routes_to_pop > 0 => {
                let items: Vec<&str> = split_list(trim_lws(msg.text(h.value))).collect();
                let n = routes_to_pop.min(items.len());
                routes_to_pop -= n;
                if n < items.len() {
                    put_header(&mut out, "Route", &items[n..].join(", "));
                }
            }
            HeaderName::MaxForwards if edit.decrement_max_forwards && !saw_mf => {
                saw_mf = true;
                let n = msg.max_forwards().unwrap_or(70).saturating_sub(1);
                put_header(&mut out, "Max-Forwards", &n.to_string());
            }
            _ => {
                out.put_slice(msg.text(h.line).as_bytes());
                out.put_slice(b"\r\n");
            }
        }
    }
    if edit.decrement_max_forwards && !saw_mf && msg.is_request() {
        put_header(&mut out, "Max-Forwards", "70");
    }
    for (n, v) in &edit.append {
        put_header(&mut out, n, v);
    }
    out.put_slice(b"\r\n");
    out.put_slice(&src[msg.headers_end()..]);
    out.freeze()
}

fn put_header(out: &mut BytesMut, n: &str, v: &str) {
    out.put_slice(n.as_bytes());
    out.put_slice(b": ");
    out.put_slice(v.as_bytes());
    out.put_slice(b"\r\n");
}

fn pop_first(out: &mut BytesMut, msg: &Message, h: &HeaderField, name: &str) {
    let rest: Vec<&str> = split_list(trim_lws(msg.text(h.value))).skip(1).collect();
    if !rest.is_empty() {
        put_header(out, name, &rest.join(", "));
    }
}
