//! Framing of SIP over a byte stream (TCP/TLS, RFC 3261 §18.3): messages are delimited by
//! the empty line and Content-Length; between messages a double CRLF is an RFC 5626 keep-alive
//! ping (answered with one CRLF) and a single CRLF is a pong.

use bytes::{Buf, Bytes, BytesMut};

use super::error::ParseError;
use super::message::{find_head_end, parse_decimal, trim_lws, Limits};

/// What the framer found at the front of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A complete message (head + body), to be parsed with `Framing::Stream`.
    Message(Bytes),
    /// `CRLF CRLF` between messages: answer with a single CRLF.
    Ping,
    /// A lone `CRLF` between messages.
    Pong,
}

/// Accumulates stream bytes and cuts them into frames. No limit is exceeded: a header block
/// or message larger than `limits.max_message` is an error (the connection must be closed).
#[derive(Debug, Default)]
pub struct StreamFramer {
    buf: BytesMut,
    limits: Limits,
}

impl StreamFramer {
    /// A framer with these limits.
    pub fn new(limits: Limits) -> StreamFramer {
        StreamFramer {
            buf: BytesMut::with_capacity(4096),
            limits,
        }
    }

    /// A framer that allocates nothing until bytes arrive.
    pub fn new_empty(limits: Limits) -> StreamFramer {
        StreamFramer {
            buf: BytesMut::new(),
            limits,
        }
    }

    /// Frees the buffer's memory when no partial frame is pending (idle connections).
    pub fn release_if_empty(&mut self) {
        if self.buf.is_empty() && self.buf.capacity() > 0 {
            self.buf = BytesMut::new();
        }
    }

    /// The read buffer, to receive into.
    pub fn buffer_mut(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Appends received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Bytes buffered and not yet framed.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// The next frame, `Ok(None)` when more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, ParseError> {
        if self.buf.starts_with(b"\r\n") {
            if self.buf.starts_with(b"\r\n\r\n") {
                self.buf.advance(4);
                return Ok(Some(Frame::Ping));
            }
            if self.buf.len() >= 3 && self.buf[2] != b'\r' {
                self.buf.advance(2);
                return Ok(Some(Frame::Pong));
            }
            if self.buf.len() == 2 {
                // Could be the first half of a ping; a lone pong is only reported once more
                // bytes show it is not.
                return Ok(None);
            }
            if self.buf.len() == 3 {
                return Ok(None);
            }
        }
        let head_end = match find_head_end(&self.buf) {
            Some(e) => e,
            None => {
                if self.buf.len() > self.limits.max_message {
                    return Err(ParseError::TooLarge);
                }
                return Ok(None);
            }
        };
        if head_end > self.limits.max_message {
            return Err(ParseError::TooLarge);
        }
        let cl = content_length(&self.buf[..head_end])?;
        let total = head_end
            .checked_add(cl)
            .filter(|t| *t <= self.limits.max_message)
            .ok_or(ParseError::TooLarge)?;
        if self.buf.len() < total {
            self.buf.reserve(total - self.buf.len());
            return Ok(None);
        }
        Ok(Some(Frame::Message(self.buf.split_to(total).freeze())))
    }
}

/// Finds Content-Length (or `l`) in a header block; mandatory on streams.
fn content_length(head: &[u8]) -> Result<usize, ParseError> {
    let mut found: Option<usize> = None;
    for line in head.split(|&c| c == b'\n').skip(1) {
        if matches!(line.first(), Some(b' ' | b'\t')) {
            continue;
        }
        let Some(colon) = line.iter().position(|&c| c == b':') else {
            continue;
        };
        let name = trim_ascii(&line[..colon]);
        if name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l") {
            let v = std::str::from_utf8(&line[colon + 1..]).map_err(|_| ParseError::NotUtf8)?;
            let n = parse_decimal(trim_lws(v), u64::from(u32::MAX))
                .ok_or(ParseError::BadContentLength)? as usize;
            if found.is_some_and(|f| f != n) {
                return Err(ParseError::BadContentLength);
            }
            found = Some(n);
        }
    }
    found.ok_or(ParseError::MissingHeader("Content-Length"))
}

fn trim_ascii(s: &[u8]) -> &[u8] {
    let mut a = 0;
    let mut b = s.len();
    while a < b && matches!(s[a], b' ' | b'\t' | b'\r') {
        a += 1;
    }
    while b > a && matches!(s[b - 1], b' ' | b'\t' | b'\r') {
        b -= 1;
    }
    &s[a..b]
}
