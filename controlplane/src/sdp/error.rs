//! Typed errors of the SDP document parser and of the typed MSRP attribute accessors.

use thiserror::Error;

/// Why an SDP document was refused. Line numbers are 1-based.
///
/// Every variant means "not a session description we can work with"; SIP maps all of them to
/// `400 Bad Request` (see [`SdpError::sip_status`]).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SdpError {
    /// The input was empty (or only blank lines).
    #[error("empty session description")]
    Empty,
    /// The input is longer than the configured limit.
    #[error("session description larger than {limit} octets")]
    TooLarge {
        /// The configured limit in octets.
        limit: usize,
    },
    /// More lines than the configured limit.
    #[error("more than {limit} lines")]
    TooManyLines {
        /// The configured limit.
        limit: usize,
    },
    /// More media descriptions than the configured limit.
    #[error("more than {limit} media descriptions")]
    TooManyMedia {
        /// The configured limit.
        limit: usize,
    },
    /// A line is not valid UTF-8.
    #[error("line {line}: not valid UTF-8")]
    InvalidUtf8 {
        /// Line number.
        line: usize,
    },
    /// A line is not `<letter>=<value>` or contains a NUL or a bare CR.
    #[error("line {line}: not of the form <type>=<value>")]
    MalformedLine {
        /// Line number.
        line: usize,
    },
    /// A blank line in the middle of the description.
    #[error("line {line}: blank line inside the description")]
    BlankLine {
        /// Line number.
        line: usize,
    },
    /// A type letter SDP does not define (RFC 8866 §5: the whole description must be ignored).
    #[error("line {line}: unknown line type '{kind}'")]
    UnknownType {
        /// Line number.
        line: usize,
        /// The type letter.
        kind: char,
    },
    /// A line appears where RFC 8866 §5 does not allow it.
    #[error("line {line}: '{kind}=' is out of order")]
    OutOfOrder {
        /// Line number.
        line: usize,
        /// The type letter.
        kind: char,
    },
    /// A line that may appear only once appears again.
    #[error("line {line}: duplicate '{kind}=' line")]
    Duplicate {
        /// Line number.
        line: usize,
        /// The type letter.
        kind: char,
    },
    /// A mandatory line (`v=`, `o=`, `s=`) is missing.
    #[error("missing mandatory '{kind}=' line")]
    Missing {
        /// The type letter.
        kind: char,
    },
    /// The value of a line does not follow its grammar.
    #[error("line {line}: invalid '{kind}=' value: {reason}")]
    InvalidValue {
        /// Line number.
        line: usize,
        /// The type letter.
        kind: char,
        /// What is wrong.
        reason: &'static str,
    },
}

impl SdpError {
    /// The SIP status code for an INVITE/UPDATE whose body failed to parse.
    pub fn sip_status(&self) -> u16 {
        400
    }
}

/// Why a typed MSRP-related attribute value could not be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid a={attribute}: {reason}")]
pub struct AttributeError {
    /// The attribute name (`path`, `accept-types`, ...).
    pub attribute: &'static str,
    /// What is wrong.
    pub reason: &'static str,
}

impl AttributeError {
    pub(crate) fn new(attribute: &'static str, reason: &'static str) -> Self {
        Self { attribute, reason }
    }
}
