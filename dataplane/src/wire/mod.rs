//! Zero-copy MSRP wire codec (RFC 4975 §9 with the errata of the fact sheet, RFC 4976 relay
//! headers, RFC 7701 NICKNAME): frames, URIs, typed header values, writer, and the
//! Message/CPIM header view. No I/O, no clock.
//!
//! Reading: append a connection's bytes to a `BytesMut` and call [`Parser::poll`] until it
//! returns `Ok(None)`; it yields [`Event::Head`] ([`FrameHead`]), [`Event::Body`] slices as they
//! arrive, and [`Event::End`]. Errors say which MSRP status answers them and whether the parser
//! skipped the bad frame ([`WireError::is_fatal`] is `false`) or the connection must go.
//!
//! Writing: [`RequestWriter`] / [`ResponseWriter`] into a `BytesMut`; [`PathPrefix`] renders a
//! session's To-Path/From-Path once; [`OutFrame`] is head + shared body + end-line for
//! vectored writes.
//!
//! ```
//! use bytes::BytesMut;
//! use dataplane::wire::*;
//!
//! // Write a SEND and its 200.
//! let mut out = BytesMut::new();
//! let prefix = PathPrefix::new(&["msrp://bob.example.com:2855/b0b;tcp"], &["msrp://a.example.com:7/a1;tcp"]);
//! let tid = Ident::new(b"a786hjs2").unwrap();
//! RequestWriter::send(&mut out, tid, &prefix)
//!     .message_id(b"87652491")
//!     .byte_range(ByteRange { start: 1, end: Some(5), total: Some(5) })
//!     .content_type(b"text/plain")
//!     .body(b"Hello", Continuation::Complete);
//!
//! // Read it back, fed in two pieces.
//! let mut parser = Parser::new(ParserLimits::default());
//! let mut buf = BytesMut::from(&out[..20]);
//! assert!(matches!(parser.poll(&mut buf), Ok(None)));
//! buf.extend_from_slice(&out[20..]);
//! let Ok(Some(Event::Head(head))) = parser.poll(&mut buf) else { panic!() };
//! assert_eq!(head.method(), Some(Method::Send));
//! assert_eq!(head.to_path_last().unwrap().session_id(), Some(&b"b0b"[..]));
//! let Ok(Some(Event::Body(body))) = parser.poll(&mut buf) else { panic!() };
//! assert_eq!(&body[..], b"Hello");
//! let Ok(Some(Event::End { flag: Continuation::Complete })) = parser.poll(&mut buf) else { panic!() };
//!
//! // Answer it: To-Path is the first From-Path URI (RFC 4975 §7.2).
//! let mut resp = BytesMut::new();
//! ResponseWriter::new(&mut resp, &head, 200, Some("OK"), &["msrp://bob.example.com:2855/b0b;tcp"])
//!     .unwrap()
//!     .end();
//! assert!(resp.starts_with(b"MSRP a786hjs2 200 OK\r\nTo-Path: msrp://a.example.com:7/a1;tcp\r\n"));
//! ```

mod chars;
pub mod cpim;
mod error;
mod head;
mod ident;
mod parser;
mod span;
mod uri;
mod values;
mod writer;

pub use cpim::{CpimAddress, CpimError, CpimHeader, CpimView};
pub use error::{ErrorKind, RejectedFrame, WireError};
pub use head::{FrameHead, HeaderIter, HeaderName, Method, StartLine};
pub use ident::{
    body_contains_end_marker, is_ident, Ident, RandomSource, GENERATED_IDENT_LEN, IDENT_MAX,
    IDENT_MIN,
};
pub use parser::{Continuation, Event, Parser, ParserLimits, MAX_NON_SEND_BODY};
pub use uri::{Host, MsrpUri, OwnedMsrpUri, PathIter, Scheme, UriKey};
pub use values::{
    parse_expires, parse_nickname, unquote, write_quoted, ByteRange, DigestParams, FailureReport,
    MediaType, Param, ParamIter, Status, SuccessReport, NICKNAME_MAX,
};
pub use writer::{BodyWriter, EndLine, OutFrame, PathPrefix, RequestWriter, ResponseWriter};

#[cfg(test)]
mod tests;
