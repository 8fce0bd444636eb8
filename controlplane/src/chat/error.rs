//! Why a chat session ends badly: each variant prints as one line a person can act on.

use thiserror::Error;

/// A chat session failed.
#[derive(Debug, Error)]
pub enum ChatError {
    /// Bad command-line input.
    #[error("{0}")]
    Usage(String),
    /// The room's host name does not resolve.
    #[error("cannot resolve {host}: {reason}")]
    Resolve {
        /// What was looked up.
        host: String,
        /// Why it failed.
        reason: String,
    },
    /// No SIP connection to the room's server.
    #[error("room unreachable: cannot connect to {addr} over {transport}: {reason}")]
    Unreachable {
        /// Where.
        addr: String,
        /// TCP or UDP.
        transport: &'static str,
        /// Why.
        reason: String,
    },
    /// No answer to a SIP request in time.
    #[error("room unreachable: no answer to {method} from {addr}")]
    NoAnswer {
        /// The request.
        method: &'static str,
        /// Where it went.
        addr: String,
    },
    /// The room refused to let us in.
    #[error("the room refused to let us in: {code} {reason}{hint}")]
    Rejected {
        /// SIP status.
        code: u16,
        /// Reason phrase as received.
        reason: String,
        /// A hint for the usual codes.
        hint: &'static str,
    },
    /// Authentication is needed or failed.
    #[error("{0}")]
    Auth(String),
    /// The SDP answer is unusable.
    #[error("the room's SDP answer is unusable: {0}")]
    BadAnswer(String),
    /// The MSRP connection could not be set up.
    #[error("cannot open the MSRP connection: {0}")]
    MsrpSetup(String),
    /// The MSRP connection broke.
    #[error("MSRP connection lost: {0}")]
    MsrpLost(String),
    /// The SIP connection broke.
    #[error("SIP connection to the room lost: {0}")]
    SipLost(String),
    /// The room ended our session.
    #[error("the room ended the session ({0})")]
    Ended(String),
    /// Local input/output failed.
    #[error("local I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// A short explanation for the usual refusals of an INVITE to a room.
pub fn rejection_hint(code: u16) -> &'static str {
    match code {
        403 => " (not allowed in this room)",
        404 => " (no such room: check the room URI)",
        480 => " (the room is not available now)",
        486 | 600 => " (the room is full or busy)",
        488 | 606 => " (the room does not accept our media: message/cpim over TCP/MSRP)",
        _ => "",
    }
}
