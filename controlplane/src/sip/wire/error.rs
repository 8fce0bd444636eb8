//! Parse errors, typed by cause, each mapping to the SIP status a server answers with.

/// Why a message (or one of its header values) could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The header block is not complete yet (no empty line).
    #[error("incomplete message")]
    Incomplete,
    /// Message or header block larger than the configured limit.
    #[error("message too large")]
    TooLarge,
    /// More header fields than the configured limit.
    #[error("too many header fields")]
    TooManyHeaders,
    /// The header block is not valid UTF-8.
    #[error("header block is not UTF-8")]
    NotUtf8,
    /// Malformed Request-Line or Status-Line.
    #[error("malformed start line")]
    BadStartLine,
    /// A SIP version other than 2.0.
    #[error("unsupported SIP version")]
    BadVersion,
    /// A header line without a colon or with an invalid name.
    #[error("malformed header line")]
    BadHeaderLine,
    /// Content-Length that is not a number, or several that disagree.
    #[error("invalid Content-Length")]
    BadContentLength,
    /// Content-Length larger than the datagram.
    #[error("Content-Length larger than the message")]
    ContentLengthExceedsMessage,
    /// A mandatory header field is missing.
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    /// A header field value that does not follow its grammar.
    #[error("malformed {0} header")]
    BadHeader(&'static str),
    /// A malformed URI.
    #[error("malformed URI")]
    BadUri,
    /// CSeq method differs from the request method.
    #[error("CSeq method does not match the request method")]
    CSeqMethodMismatch,
}

impl ParseError {
    /// The SIP status code a server answers a request failing this way with (RFC 3261 §8.2,
    /// §21.5.14 for the version, §21.4.12 / 513 for size).
    pub fn status(self) -> u16 {
        match self {
            ParseError::BadVersion => 505,
            ParseError::TooLarge => 513,
            _ => 400,
        }
    }
}
