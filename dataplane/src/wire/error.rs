//! Typed codec errors: what went wrong, which MSRP status code answers it, and whether the
//! byte stream can go on (the parser skipped the bad frame) or the connection must be dropped.

use bytes::Bytes;
use std::fmt;

/// What was wrong with the input. Each kind maps to one MSRP status code
/// ([`ErrorKind::status_code`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The start line is not `MSRP SP transact-id SP (method / status)`.
    #[error("malformed start line")]
    StartLine,
    /// No CRLF within `ParserLimits::max_start_line`.
    #[error("start line too long")]
    StartLineTooLong,
    /// The transaction id is not an RFC 4975 `ident` (4..32 chars).
    #[error("malformed transaction id")]
    TransactionId,
    /// The method is not `1*UPALPHA` (e.g. lowercase).
    #[error("malformed method")]
    Method,
    /// The response status code is not 3 digits, or the comment has control characters.
    #[error("malformed response status")]
    ResponseStatus,
    /// A line does not end in CRLF, or holds a stray CR or control character.
    #[error("malformed line ending")]
    LineEnding,
    /// A header line is not `hname ":" SP hval`.
    #[error("malformed header line")]
    HeaderSyntax,
    /// The first header is not To-Path.
    #[error("To-Path is not the first header")]
    ToPathNotFirst,
    /// The second header is not From-Path.
    #[error("From-Path is not the second header")]
    FromPathNotSecond,
    /// A header that may appear once appears twice.
    #[error("duplicate header")]
    DuplicateHeader,
    /// A To-Path, From-Path or Use-Path URI does not parse.
    #[error("malformed MSRP URI")]
    Uri,
    /// Message-ID is not an `ident`.
    #[error("malformed Message-ID")]
    MessageId,
    /// Byte-Range does not match `range-start "-" range-end "/" total`.
    #[error("malformed Byte-Range")]
    ByteRange,
    /// Byte-Range range-start is 0 (positions are 1-based).
    #[error("Byte-Range range-start is 0")]
    ByteRangeStartZero,
    /// A number does not fit its type.
    #[error("number out of range")]
    NumberOverflow,
    /// Success-Report / Failure-Report has a value outside the grammar.
    #[error("malformed report header value")]
    ReportValue,
    /// The Status header is not `3DIGIT SP 3DIGIT [SP comment]`.
    #[error("malformed Status header")]
    StatusHeader,
    /// Expires / Min-Expires / Max-Expires is not `1*DIGIT`.
    #[error("malformed Expires value")]
    Expires,
    /// Content-Type is not `type "/" subtype *(";" param)`.
    #[error("malformed Content-Type")]
    ContentType,
    /// A header follows Content-Type.
    #[error("Content-Type is not the last header")]
    ContentTypeNotLast,
    /// A bodiless request carries Content-Type or another MIME header.
    #[error("MIME header without a body")]
    MimeWithoutBody,
    /// A body follows a header block without Content-Type.
    #[error("body without Content-Type")]
    BodyWithoutContentType,
    /// A response has a body.
    #[error("response with a body")]
    ResponseWithBody,
    /// An end-line for this transaction has no valid continuation flag.
    #[error("malformed end-line")]
    EndLine,
    /// The header block exceeds `ParserLimits::max_header_bytes`.
    #[error("header block too large")]
    HeaderBlockTooLarge,
    /// More header lines than `ParserLimits::max_headers`.
    #[error("too many headers")]
    TooManyHeaders,
    /// The body exceeds `ParserLimits::max_chunk_size`.
    #[error("chunk too large")]
    ChunkTooLarge,
    /// A non-SEND request body exceeds 10240 octets (RFC 4975 §7.1).
    #[error("non-SEND body larger than 10240 octets")]
    NonSendBodyTooLarge,
    /// Use-Nickname is not a quoted string of 0..1023 octets (RFC 7701 §7.1).
    #[error("malformed Use-Nickname")]
    Nickname,
    /// WWW-Authenticate / Authorization / Authentication-Info does not parse.
    #[error("malformed authentication header")]
    AuthParams,
    /// The parser already failed on this connection.
    #[error("parser failed earlier on this connection")]
    Failed,
}

impl ErrorKind {
    /// The MSRP response code that answers a request failing this way.
    pub fn status_code(self) -> u16 {
        match self {
            ErrorKind::ChunkTooLarge | ErrorKind::NonSendBodyTooLarge => 413,
            ErrorKind::Nickname => 424,
            _ => 400,
        }
    }
}

/// The start of a frame that the parser rejected and skipped, so that the session can answer
/// it (RFC 4975 §7.2 needs the transaction id and the From-Path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedFrame {
    /// Transaction id of the start line.
    pub transaction_id: Bytes,
    /// Method name for requests, `None` for responses.
    pub method: Option<Bytes>,
    /// Raw From-Path value, when it was parsed before the error.
    pub from_path: Option<Bytes>,
    /// Raw Failure-Report value, when it was parsed before the error ("no" means: do not answer).
    pub failure_report: Option<Bytes>,
}

/// A codec error. See [`WireError::kind`], [`WireError::status_code`] and
/// [`WireError::is_fatal`].
#[derive(Clone, PartialEq, Eq)]
pub struct WireError {
    kind: ErrorKind,
    fatal: bool,
    frame: Option<Box<RejectedFrame>>,
}

impl WireError {
    /// An error about a value (accessors, URI, CPIM): not tied to framing.
    pub(crate) fn value(kind: ErrorKind) -> Self {
        WireError {
            kind,
            fatal: false,
            frame: None,
        }
    }

    pub(crate) fn fatal(kind: ErrorKind) -> Self {
        WireError {
            kind,
            fatal: true,
            frame: None,
        }
    }

    pub(crate) fn skipped(kind: ErrorKind, frame: RejectedFrame) -> Self {
        WireError {
            kind,
            fatal: false,
            frame: Some(Box::new(frame)),
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The MSRP status code to answer with (400, 413, 424).
    pub fn status_code(&self) -> u16 {
        self.kind.status_code()
    }

    /// `true`: the stream cannot be resynchronised; drop the connection. `false`: for parser
    /// errors, the parser skips the rest of the bad frame and keeps going.
    pub fn is_fatal(&self) -> bool {
        self.fatal
    }

    /// The rejected frame's start (parser errors that skip a frame only).
    pub fn rejected_frame(&self) -> Option<&RejectedFrame> {
        self.frame.as_deref()
    }
}

impl fmt::Debug for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WireError")
            .field("kind", &self.kind)
            .field("fatal", &self.fatal)
            .field("frame", &self.frame)
            .finish()
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (MSRP {})", self.kind, self.status_code())?;
        if self.fatal {
            f.write_str(", connection must be dropped")?;
        }
        Ok(())
    }
}

impl std::error::Error for WireError {}

impl From<ErrorKind> for WireError {
    fn from(kind: ErrorKind) -> Self {
        WireError::value(kind)
    }
}
