//! SIP wire format: a zero-copy message view over `bytes::Bytes`, typed header views,
//! URIs, stream framing (with RFC 5626 CRLF keep-alives) and writers that copy untouched
//! header fields byte for byte. No I/O, no clock. See `../PARSER_CHOICE.md` for why this is
//! our own code rather than a crate.

pub mod build;
pub mod error;
pub mod header;
pub mod message;
pub mod stream;
pub mod uri;

pub use build::{response_to, rewrite, Builder, Edit};
pub use error::ParseError;
pub use header::{split_list, CSeq, NameAddr, Param, Params, Via};
pub use message::{Framing, HeaderField, HeaderName, Limits, Message, Method, Span, StartLine};
pub use stream::{Frame, StreamFramer};
pub use uri::Uri;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod torture;
