//! Codec tests: RFC examples, malformed inputs, values, URIs, CPIM, writer, and properties.

mod cpim_tests;
mod malformed;
mod props;
mod rfc_examples;
mod uri_tests;
mod values_tests;
mod writer_tests;

use super::*;
use bytes::BytesMut;

/// Turns the RFC's line breaks into CRLF.
pub(crate) fn crlf(s: &str) -> Vec<u8> {
    s.replace('\n', "\r\n").into_bytes()
}

/// A completed frame: head, body (concatenated slices), flag.
#[derive(Debug, Clone)]
pub(crate) struct Got {
    pub head: FrameHead,
    pub body: Vec<u8>,
    pub flag: Continuation,
}

/// Feeds `data` in pieces of the sizes `next` returns; collects frames and errors. Stops
/// after a fatal error.
pub(crate) fn feed(
    data: &[u8],
    limits: ParserLimits,
    mut next: impl FnMut() -> usize,
) -> Vec<Result<Got, WireError>> {
    let mut p = Parser::new(limits);
    let mut buf = BytesMut::new();
    let mut pos = 0;
    let mut out = Vec::new();
    let mut cur: Option<(FrameHead, Vec<u8>)> = None;
    loop {
        loop {
            match p.poll(&mut buf) {
                Ok(None) => break,
                Ok(Some(Event::Head(h))) => {
                    assert!(cur.is_none(), "head inside a frame");
                    cur = Some((h, Vec::new()));
                }
                Ok(Some(Event::Body(b))) => {
                    assert!(!b.is_empty(), "empty body event");
                    cur.as_mut()
                        .expect("body outside a frame")
                        .1
                        .extend_from_slice(&b);
                }
                Ok(Some(Event::End { flag })) => {
                    let (head, body) = cur.take().expect("end outside a frame");
                    out.push(Ok(Got { head, body, flag }));
                }
                Err(e) => {
                    cur = None;
                    let fatal = e.is_fatal();
                    out.push(Err(e));
                    if fatal {
                        return out;
                    }
                }
            }
        }
        if pos == data.len() {
            return out;
        }
        let n = next().clamp(1, data.len() - pos);
        buf.extend_from_slice(&data[pos..pos + n]);
        pos += n;
    }
}

/// Parses `data` whole and byte by byte, asserts both agree, returns the frames.
pub(crate) fn parse_all(data: &[u8]) -> Vec<Result<Got, WireError>> {
    parse_all_with(data, ParserLimits::default())
}

pub(crate) fn parse_all_with(data: &[u8], limits: ParserLimits) -> Vec<Result<Got, WireError>> {
    let whole = feed(data, limits, || usize::MAX);
    let bytewise = feed(data, limits, || 1);
    assert_eq!(
        summary(&whole),
        summary(&bytewise),
        "split feeding changed the result"
    );
    whole
}

/// A comparable summary: frames as raw head + body + flag, errors as kind + fatality.
pub(crate) fn summary(r: &[Result<Got, WireError>]) -> Vec<String> {
    r.iter()
        .map(|x| match x {
            Ok(g) => format!(
                "frame {:?} body {:?} {:?}",
                g.head.as_bytes(),
                g.body,
                g.flag
            ),
            Err(e) => format!("error {:?} fatal {}", e.kind(), e.is_fatal()),
        })
        .collect()
}

/// Exactly one good frame.
pub(crate) fn one(data: &[u8]) -> Got {
    let mut v = parse_all(data);
    assert_eq!(v.len(), 1, "expected one frame: {:?}", summary(&v));
    v.pop().unwrap().expect("frame parses")
}

/// The error of a single bad frame.
pub(crate) fn err_of(data: &[u8]) -> WireError {
    let v = parse_all(data);
    v.into_iter()
        .find_map(Result::err)
        .expect("an error was expected")
}

/// Re-emits a parsed frame with the writer (headers in received order).
pub(crate) fn rewrite(g: &Got) -> Vec<u8> {
    let h = &g.head;
    let mut buf = BytesMut::new();
    let tid = Ident::new(h.transaction_id()).unwrap();
    let skip = |n: &[u8]| {
        matches!(
            HeaderName::from_bytes(n),
            Some(HeaderName::ToPath | HeaderName::FromPath | HeaderName::ContentType)
        )
    };
    match h.start_line() {
        StartLine::Request(_) => {
            let method = std::str::from_utf8(h.method_name().unwrap()).unwrap();
            let mut w = RequestWriter::new(
                &mut buf,
                tid,
                method,
                &[h.to_path_raw()],
                &[h.from_path_raw()],
            );
            for (n, v) in h.headers().filter(|(n, _)| !skip(n)) {
                w = w.header(std::str::from_utf8(n).unwrap(), v);
            }
            match h.raw(HeaderName::ContentType) {
                Some(ct) => {
                    w.content_type(ct).body(&g.body, g.flag);
                }
                None => {
                    w.end(g.flag);
                }
            }
        }
        StartLine::Response(code) => {
            let comment = h.comment().map(|c| std::str::from_utf8(c).unwrap());
            let mut w = ResponseWriter::with_paths(
                &mut buf,
                tid,
                code,
                comment,
                &[h.to_path_raw()],
                &[h.from_path_raw()],
            );
            for (n, v) in h.headers().filter(|(n, _)| !skip(n)) {
                w = w.header(std::str::from_utf8(n).unwrap(), v);
            }
            w.end();
        }
    }
    buf.to_vec()
}
