//! Frame builders shared by endpoints, the relay and the chat switch: transaction responses
//! (RFC 4975 §7.2, including answers to frames the parser rejected), REPORTs (§7.1.2–§7.1.4),
//! SEND chunk heads and bodiless SENDs. Each writes into a caller-owned scratch `BytesMut` and
//! splits the frame off it, so that the scratch allocation is reused.

use super::transmit::Transmit;
use crate::wire::{
    ByteRange, Continuation, FailureReport, FrameHead, HeaderName, Ident, PathPrefix,
    RejectedFrame, RequestWriter, ResponseWriter, SuccessReport,
};
use bytes::{Bytes, BytesMut};

/// The IANA-registered reason phrase of an MSRP status code (RFC 4975 §15.3, RFC 4976).
pub fn reason_phrase(code: u16) -> &'static str {
    match code {
        200 => "Success",
        400 => "Unintelligible",
        401 => "Unauthorized",
        403 => "Action-not-allowed",
        408 => "Transaction-did-not-complete-in-allotted-time",
        413 => "Stop-sending-message",
        415 => "MIME-not-understood",
        423 => "Parameter-out-of-bounds",
        481 => "Session-does-not-exist",
        501 => "Request-method-not-understood",
        506 => "Session-already-in-use",
        _ => "",
    }
}

fn comment(code: u16) -> Option<&'static str> {
    Some(reason_phrase(code)).filter(|s| !s.is_empty())
}

/// Whether a request carrying this Failure-Report value gets a response with `code`
/// (§7.1.1): `yes` ⇒ always; `partial` ⇒ errors only; `no` ⇒ never.
pub fn should_respond(failure_report: FailureReport, code: u16) -> bool {
    match failure_report {
        FailureReport::Yes => true,
        FailureReport::Partial => code != 200,
        FailureReport::No => false,
    }
}

fn split_off(buf: &mut BytesMut, start: usize) -> Bytes {
    if start == 0 {
        buf.split().freeze()
    } else {
        buf.split_off(start).freeze()
    }
}

/// The response to `req` with `code` (§7.2): same transaction id; To-Path = the first
/// From-Path URI for SEND, the whole From-Path otherwise; From-Path = `own_uri`. `None` if
/// `req` is a response. (The caller checks [`should_respond`] and never answers REPORT.)
pub fn response(buf: &mut BytesMut, req: &FrameHead, code: u16, own_uri: &[u8]) -> Option<Bytes> {
    let start = buf.len();
    ResponseWriter::new(buf, req, code, comment(code), &[own_uri])?.end();
    Some(split_off(buf, start))
}

/// The response to a request the parser rejected (usually 400, or 413 for an oversized
/// chunk), built from what the parser recovered. `None` when it cannot or must not be
/// answered: a response, a REPORT, Failure-Report `no`, or no From-Path recovered.
pub fn response_to_rejected(
    buf: &mut BytesMut,
    rej: &RejectedFrame,
    code: u16,
    own_uri: &[u8],
) -> Option<Bytes> {
    let method = rej.method.as_ref()?;
    if &method[..] == b"REPORT" {
        return None;
    }
    let fr = rej
        .failure_report
        .as_ref()
        .and_then(|v| FailureReport::parse(v).ok())
        .unwrap_or_default();
    if !should_respond(fr, code) {
        return None;
    }
    let tid = Ident::new(&rej.transaction_id)?;
    let from = rej.from_path.as_ref()?;
    let to: &[u8] = if &method[..] == b"SEND" {
        from.split(|&c| c == b' ').next().unwrap_or_default()
    } else {
        from
    };
    let start = buf.len();
    ResponseWriter::with_paths(buf, tid, code, comment(code), &[to], &[own_uri]).end();
    Some(split_off(buf, start))
}

/// What a REPORT says (§7.1.2).
#[derive(Debug, Clone, Copy)]
pub struct ReportParams<'a> {
    /// To-Path: the full From-Path of the SEND reported on (raw header value).
    pub to_path: &'a [u8],
    /// From-Path: the reporter's own URI.
    pub from_path: &'a [u8],
    /// Message-ID of the SEND.
    pub message_id: &'a [u8],
    /// The bytes reported on.
    pub byte_range: ByteRange,
    /// Status code in namespace 000 (200 for success reports).
    pub code: u16,
}

/// A bodiless REPORT with a fresh transaction id `tid`.
pub fn report(buf: &mut BytesMut, tid: Ident, p: &ReportParams<'_>) -> Transmit {
    let start = buf.len();
    let frame = RequestWriter::new(buf, tid, "REPORT", &[p.to_path], &[p.from_path])
        .message_id(p.message_id)
        .byte_range(p.byte_range)
        .status(0, p.code, comment(p.code))
        .out_frame_bodiless(Continuation::Complete);
    debug_assert_eq!(start, 0, "scratch buffer must be empty");
    frame.into()
}

/// The per-chunk headers of a SEND.
#[derive(Debug, Clone, Copy)]
pub struct SendHead<'a> {
    /// Rendered To-Path and From-Path of the session.
    pub prefix: &'a PathPrefix,
    /// Message-ID.
    pub message_id: &'a [u8],
    /// Byte-Range of this chunk.
    pub byte_range: ByteRange,
    /// Success-Report (written only when `yes`, the default being `no`).
    pub success_report: SuccessReport,
    /// Failure-Report (written only when not `yes`, the default).
    pub failure_report: FailureReport,
    /// Extra MIME headers placed before Content-Type (e.g. Content-Disposition).
    pub headers: &'a [(String, Bytes)],
    /// Content-Type.
    pub content_type: &'a [u8],
}

/// The head of a SEND chunk with a body, up to and including the blank line.
pub fn send_head(buf: &mut BytesMut, tid: Ident, h: &SendHead<'_>) -> Bytes {
    let start = buf.len();
    let mut w = RequestWriter::send(buf, tid, h.prefix)
        .message_id(h.message_id)
        .byte_range(h.byte_range);
    if h.success_report == SuccessReport::Yes {
        w = w.success_report(SuccessReport::Yes);
    }
    if h.failure_report != FailureReport::Yes {
        w = w.failure_report(h.failure_report);
    }
    for (name, value) in h.headers {
        w = w.header(name, value);
    }
    // The body and end-line are supplied separately (zero copy): split only the head.
    let _ = w.content_type(h.content_type);
    split_off(buf, start)
}

/// A bodiless SEND (`Byte-Range: 1-0/0`), used by the active endpoint to bind a connection
/// (§5.4) or as a keep-alive.
pub fn bodiless_send(
    buf: &mut BytesMut,
    tid: Ident,
    prefix: &PathPrefix,
    message_id: &[u8],
) -> Transmit {
    let start = buf.len();
    let frame = RequestWriter::send(buf, tid, prefix)
        .message_id(message_id)
        .byte_range(ByteRange {
            start: 1,
            end: Some(0),
            total: Some(0),
        })
        .out_frame_bodiless(Continuation::Complete);
    debug_assert_eq!(start, 0, "scratch buffer must be empty");
    frame.into()
}

/// Whether a header name may be passed in [`SendHead::headers`] (a token that is not one of
/// the headers the engine writes itself).
pub fn is_allowed_extra_header(name: &str) -> bool {
    !name.is_empty()
        && name.as_bytes()[0].is_ascii_alphabetic()
        && name
            .bytes()
            .all(|c| c.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&c))
        && !matches!(
            HeaderName::from_bytes(name.as_bytes()),
            Some(
                HeaderName::ToPath
                    | HeaderName::FromPath
                    | HeaderName::MessageId
                    | HeaderName::ByteRange
                    | HeaderName::SuccessReport
                    | HeaderName::FailureReport
                    | HeaderName::ContentType
                    | HeaderName::Status
            )
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Event, Parser};

    fn parse_one(bytes: &[u8]) -> FrameHead {
        let mut p = Parser::default();
        let mut b = BytesMut::from(bytes);
        match p.poll(&mut b) {
            Ok(Some(Event::Head(h))) => h,
            other => panic!("{other:?}"),
        }
    }

    const SEND: &[u8] = b"MSRP a7Kq01xz SEND\r\nTo-Path: msrp://b.example:2855/b7c9q2;tcp\r\nFrom-Path: msrp://r.example:1/rel;tcp msrp://10.0.0.5:40213/a1f3k9;tcp\r\nMessage-ID: m1xx\r\n-------a7Kq01xz$\r\n";

    #[test]
    fn send_response_goes_to_the_previous_hop_only() {
        let mut buf = BytesMut::new();
        let head = parse_one(SEND);
        let r = response(&mut buf, &head, 200, b"msrp://b.example:2855/b7c9q2;tcp").unwrap();
        let want = "MSRP a7Kq01xz 200 Success\r\nTo-Path: msrp://r.example:1/rel;tcp\r\nFrom-Path: msrp://b.example:2855/b7c9q2;tcp\r\n-------a7Kq01xz$\r\n";
        assert_eq!(std::str::from_utf8(&r).unwrap(), want);
        assert!(buf.is_empty());
    }

    #[test]
    fn non_send_response_carries_the_full_path() {
        let mut buf = BytesMut::new();
        let raw = std::str::from_utf8(SEND)
            .unwrap()
            .replace("SEND", "NICKNAME");
        let head = parse_one(raw.as_bytes());
        let r = response(&mut buf, &head, 501, b"msrp://b.example:2855/b7c9q2;tcp").unwrap();
        let s = std::str::from_utf8(&r).unwrap();
        assert!(s.starts_with("MSRP a7Kq01xz 501 Request-method-not-understood\r\n"));
        assert!(
            s.contains("To-Path: msrp://r.example:1/rel;tcp msrp://10.0.0.5:40213/a1f3k9;tcp\r\n")
        );
    }

    #[test]
    fn rejected_frames_are_answered_unless_report_or_no() {
        let mut rej = RejectedFrame {
            transaction_id: Bytes::from_static(b"tid1"),
            method: Some(Bytes::from_static(b"SEND")),
            from_path: Some(Bytes::from_static(b"msrp://a:1/x;tcp msrp://b:2/y;tcp")),
            failure_report: None,
        };
        let mut buf = BytesMut::new();
        let r = response_to_rejected(&mut buf, &rej, 400, b"msrp://me:3/z;tcp").unwrap();
        let s = std::str::from_utf8(&r).unwrap();
        assert!(s.starts_with("MSRP tid1 400 Unintelligible\r\nTo-Path: msrp://a:1/x;tcp\r\n"));
        rej.failure_report = Some(Bytes::from_static(b"partial"));
        assert!(response_to_rejected(&mut buf, &rej, 400, b"msrp://me:3/z;tcp").is_some());
        rej.failure_report = Some(Bytes::from_static(b"no"));
        assert!(response_to_rejected(&mut buf, &rej, 400, b"msrp://me:3/z;tcp").is_none());
        rej.failure_report = None;
        rej.method = Some(Bytes::from_static(b"REPORT"));
        assert!(response_to_rejected(&mut buf, &rej, 400, b"msrp://me:3/z;tcp").is_none());
        rej.method = None;
        assert!(response_to_rejected(&mut buf, &rej, 400, b"msrp://me:3/z;tcp").is_none());
    }

    #[test]
    fn report_and_send_head_parse_back() {
        let mut buf = BytesMut::new();
        let tid = Ident::new(b"rep1").unwrap();
        let t = report(
            &mut buf,
            tid,
            &ReportParams {
                to_path: b"msrp://r:1/rel;tcp msrp://a:2/x;tcp",
                from_path: b"msrp://b:3/y;tcp",
                message_id: b"m-01",
                byte_range: ByteRange {
                    start: 1,
                    end: Some(10),
                    total: Some(10),
                },
                code: 200,
            },
        );
        let mut out = BytesMut::new();
        t.write_to(&mut out);
        let h = parse_one(&out);
        assert_eq!(h.message_id(), Some(&b"m-01"[..]));
        assert_eq!(h.to_path().count(), 2);
        let st = h.status().unwrap().unwrap();
        assert_eq!((st.namespace, st.code), (0, 200));
        assert_eq!(h.byte_range().unwrap().end, Some(10));

        let prefix = PathPrefix::new(&["msrp://b:3/y;tcp"], &["msrp://a:2/x;tcp"]);
        let head = send_head(
            &mut buf,
            Ident::new(b"snd1").unwrap(),
            &SendHead {
                prefix: &prefix,
                message_id: b"m-02",
                byte_range: ByteRange {
                    start: 1,
                    end: None,
                    total: Some(3),
                },
                success_report: SuccessReport::Yes,
                failure_report: FailureReport::Partial,
                headers: &[("Content-Disposition".into(), Bytes::from_static(b"inline"))],
                content_type: b"text/plain",
            },
        );
        let mut full = BytesMut::from(&head[..]);
        full.extend_from_slice(b"abc\r\n-------snd1$\r\n");
        let h = parse_one(&full);
        assert_eq!(h.success_report(), SuccessReport::Yes);
        assert_eq!(h.failure_report(), FailureReport::Partial);
        assert_eq!(h.header("Content-Disposition"), Some(&b"inline"[..]));
        assert!(h.has_body());
    }

    #[test]
    fn extra_header_names_are_checked() {
        assert!(is_allowed_extra_header("Content-Disposition"));
        assert!(is_allowed_extra_header("X-Foo"));
        assert!(!is_allowed_extra_header("Byte-Range"));
        assert!(!is_allowed_extra_header("content-type"));
        assert!(!is_allowed_extra_header("Bad Name"));
        assert!(!is_allowed_extra_header(""));
    }
}
