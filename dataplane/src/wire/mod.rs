//! Zero-copy MSRP wire codec (RFC 4975 §9 with the errata of the fact sheet, RFC 4976 relay
//! headers, RFC 7701 NICKNAME): frames, URIs, typed header values, writer, and the
//! Message/CPIM header view. No I/O, no clock.
//!
//! Reading: feed a connection's bytes into a `BytesMut` and call [`Parser::poll`] until it
//! returns `Ok(None)`; it yields [`Event::Head`] ([`FrameHead`]), [`Event::Body`] slices as they
//! arrive, and [`Event::End`]. Writing: [`RequestWriter`], [`ResponseWriter`], [`PathPrefix`]
//! and [`OutFrame`] (head + shared body + end-line for vectored writes).

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
