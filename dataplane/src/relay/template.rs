//! A received request, re-addressed for the next hop (RFC 4976 §6.4): our URI moved from the
//! front of To-Path to the front of From-Path, a new transaction id, and everything else
//! verbatim. The header lines are kept as slices of the received head, so rendering a chunk
//! costs one small start-line-and-paths write; only Byte-Range is re-rendered, for chunks that
//! resume an interrupted one.

use bytes::{BufMut, Bytes, BytesMut};

use crate::wire::{ByteRange, FailureReport, FrameHead, HeaderName, Ident, Method};

/// Body size above which a forwarded SEND chunk is sent interruptible (`range-end = *`), as
/// RFC 4975 §7.1 requires of chunks larger than 2048 octets.
pub const INTERRUPTIBLE_ABOVE: u64 = 2048;

/// What is needed to write (and re-write, after an interruption) a forwarded request.
#[derive(Clone, Debug)]
pub struct Template {
    /// The method name as received.
    pub method_name: Bytes,
    /// The method.
    pub method: Method,
    /// The transaction id the previous hop used.
    pub orig_tid: Ident,
    /// To-Path after our URI was removed (raw URIs separated by spaces).
    pub to_rest: Bytes,
    /// Our URIs that the request was addressed through, in the order it reached them (one,
    /// or two when both ends of a session use this relay); they go in front of From-Path,
    /// last one first.
    pub hops: [Bytes; 2],
    /// From-Path as received.
    pub from: Bytes,
    /// Header lines after From-Path and before Byte-Range (or all of them).
    pub before_range: Bytes,
    /// The received Byte-Range line (empty when there was none).
    pub range_line: Bytes,
    /// Header lines after Byte-Range, with the blank line when a body follows.
    pub after_range: Bytes,
    /// The received Byte-Range.
    pub byte_range: Option<ByteRange>,
    /// Message-ID, for failure REPORTs.
    pub message_id: Option<Bytes>,
    /// The request's Failure-Report (default `yes`).
    pub failure_report: FailureReport,
    /// Whether a body follows the head.
    pub has_body: bool,
}

impl Template {
    /// Builds the template of `head`, which arrived addressed to `hop_uri` (the first To-Path
    /// URI) with `to_rest` the URIs after it.
    pub fn new(head: &FrameHead, hop_uri: Bytes, to_rest: Bytes) -> Option<Template> {
        let bytes = head.as_bytes();
        let from = head.raw_bytes(HeaderName::FromPath)?;
        let from_end = offset_in(bytes, &from)? + from.len() + 2;
        let tail = bytes.slice(from_end.min(bytes.len())..);
        let (before_range, range_line, after_range) = match head.raw(HeaderName::ByteRange) {
            Some(v) => {
                let v_at = offset_in(bytes, v)?;
                // "Byte-Range: " is 12 octets whatever the case of the name.
                let line_start = v_at.checked_sub(12)?.checked_sub(from_end)?;
                let line_end = (v_at + v.len() + 2 - from_end).min(tail.len());
                (
                    tail.slice(..line_start),
                    tail.slice(line_start..line_end),
                    tail.slice(line_end..),
                )
            }
            None => (tail, Bytes::new(), Bytes::new()),
        };
        Some(Template {
            method_name: Bytes::copy_from_slice(head.method_name()?),
            method: head.method()?,
            orig_tid: Ident::new(head.transaction_id())?,
            to_rest,
            hops: [hop_uri, Bytes::new()],
            from,
            before_range,
            range_line,
            after_range,
            byte_range: head.byte_range(),
            message_id: head.raw_bytes(HeaderName::MessageId),
            failure_report: head.failure_report(),
            has_body: head.has_body(),
        })
    }

    /// The URI the request was addressed to here (the first of ours).
    pub fn first_hop(&self) -> Bytes {
        self.hops[0].clone()
    }

    /// The request also passes through `uri`, another of our URIs that came next in To-Path;
    /// `to_rest` is what remains after it. `false` if it already passed through two.
    pub fn rotate(&mut self, uri: Bytes, to_rest: Bytes) -> bool {
        if !self.hops[1].is_empty() {
            return false;
        }
        self.hops[1] = uri;
        self.to_rest = to_rest;
        true
    }

    /// Whether chunks of this request may be cut short and resumed: only SENDs may, and only
    /// when their body may exceed 2048 octets.
    pub fn interruptible(&self) -> bool {
        self.method == Method::Send
            && self.has_body
            && match self.byte_range {
                Some(ByteRange {
                    start,
                    end: Some(end),
                    ..
                }) => end.saturating_sub(start).saturating_add(1) > INTERRUPTIBLE_ABOVE,
                _ => true,
            }
    }

    /// The Byte-Range of the outgoing chunk that starts `sent` body bytes into this request.
    fn out_range(&self, sent: u64) -> Option<ByteRange> {
        let r = self.byte_range;
        if sent == 0 && !self.interruptible() {
            return r;
        }
        let (start, total) = r.map_or((1, None), |r| (r.start, r.total));
        if sent == 0 && r.is_none() {
            return None;
        }
        Some(ByteRange {
            start: start.saturating_add(sent),
            end: None,
            total,
        })
    }

    /// Renders the head of the outgoing chunk with transaction id `tid` that starts `sent` body
    /// bytes into the request. The pieces go out back to back.
    pub fn render(&self, arena: &mut BytesMut, tid: &Ident, sent: u64) -> [Bytes; 4] {
        arena.reserve(
            96 + self.method_name.len()
                + self.to_rest.len()
                + self.hops[0].len()
                + self.hops[1].len()
                + self.from.len(),
        );
        arena.put_slice(b"MSRP ");
        arena.put_slice(tid.as_bytes());
        arena.put_u8(b' ');
        arena.put_slice(&self.method_name);
        arena.put_slice(b"\r\nTo-Path: ");
        arena.put_slice(&self.to_rest);
        arena.put_slice(b"\r\nFrom-Path: ");
        for h in self.hops.iter().rev().filter(|h| !h.is_empty()) {
            arena.put_slice(h);
            arena.put_u8(b' ');
        }
        arena.put_slice(&self.from);
        arena.put_slice(b"\r\n");
        let paths = arena.split().freeze();
        let range = match self.out_range(sent) {
            r if r == self.byte_range => self.range_line.clone(),
            None => Bytes::new(),
            Some(r) => {
                arena.put_slice(b"Byte-Range: ");
                r.write(arena);
                arena.put_slice(b"\r\n");
                arena.split().freeze()
            }
        };
        [
            paths,
            self.before_range.clone(),
            range,
            self.after_range.clone(),
        ]
    }
}

/// Offset of `part` inside `whole` when `part` is a sub-slice of it.
fn offset_in(whole: &[u8], part: &[u8]) -> Option<usize> {
    let w = whole.as_ptr() as usize;
    let p = part.as_ptr() as usize;
    (p >= w && p + part.len() <= w + whole.len()).then(|| p - w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Event, Parser, ParserLimits};

    fn head(raw: &[u8]) -> FrameHead {
        let mut p = Parser::new(ParserLimits::default());
        let mut b = BytesMut::from(raw);
        match p.poll(&mut b).unwrap() {
            Some(Event::Head(h)) => h,
            other => panic!("{other:?}"),
        }
    }

    fn render(t: &Template, sent: u64) -> Vec<u8> {
        let mut arena = BytesMut::new();
        let tid = Ident::new(b"newtid01").unwrap();
        t.render(&mut arena, &tid, sent)
            .iter()
            .flat_map(|b| b.iter().copied())
            .collect()
    }

    #[test]
    fn rotates_paths_and_keeps_headers_in_order() {
        let h = head(b"MSRP abcd SEND\r\nTo-Path: msrp://r.example:2855/tok;tcp msrp://b.example:9/s;tcp\r\nFrom-Path: msrp://a.example:7/x;tcp\r\nMessage-ID: m123\r\nByte-Range: 1-5/5\r\nX-Ext: keep me\r\nContent-Type: text/plain\r\n\r\nhello\r\n-------abcd$\r\n");
        let t = Template::new(
            &h,
            Bytes::from_static(b"msrp://r.example:2855/tok;tcp"),
            Bytes::from_static(b"msrp://b.example:9/s;tcp"),
        )
        .unwrap();
        assert!(!t.interruptible());
        assert_eq!(
            String::from_utf8(render(&t, 0)).unwrap(),
            "MSRP newtid01 SEND\r\nTo-Path: msrp://b.example:9/s;tcp\r\nFrom-Path: msrp://r.example:2855/tok;tcp msrp://a.example:7/x;tcp\r\nMessage-ID: m123\r\nByte-Range: 1-5/5\r\nX-Ext: keep me\r\nContent-Type: text/plain\r\n\r\n"
        );
        assert_eq!(t.message_id.as_deref(), Some(&b"m123"[..]));
    }

    #[test]
    fn two_local_hops_are_both_prepended() {
        let h = head(b"MSRP abcd SEND\r\nTo-Path: msrp://r:1/t1;tcp msrp://r:1/t2;tcp msrp://b:2/s;tcp\r\nFrom-Path: msrp://a:3/x;tcp\r\nMessage-ID: msg1\r\n-------abcd$\r\n");
        let mut t = Template::new(
            &h,
            Bytes::from_static(b"msrp://r:1/t1;tcp"),
            Bytes::from_static(b"x"),
        )
        .unwrap();
        assert!(t.rotate(
            Bytes::from_static(b"msrp://r:1/t2;tcp"),
            Bytes::from_static(b"msrp://b:2/s;tcp")
        ));
        assert!(!t.rotate(Bytes::from_static(b"msrp://r:1/t3;tcp"), Bytes::new()));
        assert_eq!(
            String::from_utf8(render(&t, 0)).unwrap(),
            "MSRP newtid01 SEND\r\nTo-Path: msrp://b:2/s;tcp\r\nFrom-Path: msrp://r:1/t2;tcp msrp://r:1/t1;tcp msrp://a:3/x;tcp\r\nMessage-ID: msg1\r\n"
        );
    }

    #[test]
    fn large_chunks_become_interruptible_and_resume() {
        let h = head(b"MSRP abcd SEND\r\nTo-Path: msrp://r:1/t;tcp msrp://b:2/s;tcp\r\nFrom-Path: msrp://a:3/x;tcp\r\nMessage-ID: msg1\r\nByte-Range: 101-5100/9000\r\nContent-Type: text/plain\r\n\r\n");
        let t = Template::new(
            &h,
            Bytes::from_static(b"msrp://r:1/t;tcp"),
            Bytes::from_static(b"msrp://b:2/s;tcp"),
        )
        .unwrap();
        assert!(t.interruptible());
        let first = String::from_utf8(render(&t, 0)).unwrap();
        assert!(
            first.contains("\r\nMessage-ID: msg1\r\nByte-Range: 101-*/9000\r\nContent-Type"),
            "{first}"
        );
        let resumed = String::from_utf8(render(&t, 3000)).unwrap();
        assert!(
            resumed.contains("\r\nMessage-ID: msg1\r\nByte-Range: 3101-*/9000\r\nContent-Type"),
            "{resumed}"
        );
    }

    #[test]
    fn bodiless_non_send_without_range() {
        let h = head(b"MSRP abcd NICKNAME\r\nTo-Path: msrp://r:1/t;tcp msrp://b:2/s;tcp\r\nFrom-Path: msrp://a:3/x;tcp\r\nUse-Nickname: \"bob\"\r\n-------abcd$\r\n");
        let t = Template::new(
            &h,
            Bytes::from_static(b"msrp://r:1/t;tcp"),
            Bytes::from_static(b"msrp://b:2/s;tcp"),
        )
        .unwrap();
        assert!(!t.interruptible());
        assert_eq!(
            String::from_utf8(render(&t, 0)).unwrap(),
            "MSRP newtid01 NICKNAME\r\nTo-Path: msrp://b:2/s;tcp\r\nFrom-Path: msrp://r:1/t;tcp msrp://a:3/x;tcp\r\nUse-Nickname: \"bob\"\r\n"
        );
    }
}
