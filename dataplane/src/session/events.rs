//! What the engine tells its user: received messages, send outcomes (200s, REPORTs,
//! failures, timeouts), session binding, authentication results.

use crate::wire::{ByteRange, FrameHead, Ident, OwnedMsrpUri};
use bytes::Bytes;
use std::fmt;

/// A session on one connection, as numbered by that connection.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub(crate) u32);

impl SessionId {
    /// The raw number (unique within its connection, never reused).
    pub fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "S{}", self.0)
    }
}

/// A complete incoming message.
#[derive(Debug, Clone)]
pub struct ReceivedMessage {
    /// The session it arrived on.
    pub session: SessionId,
    /// Its Message-ID.
    pub message_id: Ident,
    /// The Content-Type header value.
    pub content_type: Bytes,
    /// The body: a zero-copy slice of the input when the message came in one piece, else the
    /// reassembly buffer.
    pub body: Bytes,
    /// The head of its first chunk (range-start 1) if seen, else of another chunk: MIME
    /// headers such as Content-Disposition, and the From-Path.
    pub head: FrameHead,
    /// How many chunks carried it.
    pub chunks: u32,
}

/// Why an incoming message was dropped before completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbortReason {
    /// The sender ended a chunk with `#`.
    SenderAborted,
    /// No chunk arrived within the chunk-reception timeout.
    Timeout,
    /// This endpoint refused it with the given code (413 when too large).
    Refused(u16),
    /// The user reported the connection lost.
    ConnectionLost,
}

/// Where a send failure was learned from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureSource {
    /// A transaction response with an error code.
    Response,
    /// A failure REPORT (namespace 000).
    Report,
    /// No response within the transaction timeout (code 408).
    Timeout,
    /// The user reported the connection lost (code 408).
    ConnectionLost,
    /// The engine could not send it (no usable transaction id: a broken random source);
    /// code 0.
    Local,
}

/// A failed outgoing request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendFailure {
    /// The session.
    pub session: SessionId,
    /// The message, or `None` for a bodiless SEND.
    pub message_id: Option<Ident>,
    /// The MSRP status code (408 for timeouts).
    pub code: u16,
    /// Where it came from.
    pub source: FailureSource,
}

/// An event for the user of a [`Connection`](super::Connection).
#[derive(Debug, Clone)]
// Boxing the message would cost an allocation per message; moving ~350 bytes is cheaper.
#[allow(clippy::large_enum_variant)]
pub enum Event {
    /// The session directory bound a session to this connection (first request for it on a
    /// passive connection).
    SessionBound {
        /// The new session.
        session: SessionId,
    },
    /// A complete message arrived.
    Message(ReceivedMessage),
    /// A chunk of an incomplete message arrived (only with `Config::progress_events`).
    Progress {
        /// The session.
        session: SessionId,
        /// The message.
        message_id: Ident,
        /// Distinct bytes received so far.
        received: u64,
        /// Total if known.
        total: Option<u64>,
    },
    /// An incoming message was dropped before completion.
    MessageAborted {
        /// The session.
        session: SessionId,
        /// The message.
        message_id: Ident,
        /// Distinct bytes received.
        received: u64,
        /// Why.
        reason: AbortReason,
    },
    /// Every chunk of an outgoing message got a 200 from the next hop (Failure-Report: yes).
    MessageAccepted {
        /// The session.
        session: SessionId,
        /// The message.
        message_id: Ident,
    },
    /// A success REPORT for an outgoing message.
    SuccessReport {
        /// The session.
        session: SessionId,
        /// The message.
        message_id: Ident,
        /// The bytes it reports on.
        byte_range: Option<ByteRange>,
        /// Success REPORTs so far cover the whole message.
        complete: bool,
    },
    /// An outgoing message (or bodiless SEND) failed; the message is no longer sent.
    SendFailed(SendFailure),
    /// A message that asked for success reports was not fully reported within
    /// `Config::report_timeout`.
    ReportTimeout {
        /// The session.
        session: SessionId,
        /// The message.
        message_id: Ident,
    },
    /// The peer answered 481 or 506 for this session: it is not usable on this connection.
    SessionRefused {
        /// The session.
        session: SessionId,
        /// 481 or 506.
        code: u16,
    },
    /// The answer to a NICKNAME request (RFC 7701 §7): 200, 403 (nicknames off), 424
    /// (malformed), 425 (taken), or 408 when no answer came.
    NicknameResult {
        /// The session.
        session: SessionId,
        /// The request's transaction id (as returned by `send_nickname`).
        transaction_id: Ident,
        /// The status code.
        code: u16,
    },
    /// AUTH succeeded (RFC 4976): later requests go through `use_path`.
    AuthSucceeded {
        /// The relay URIs to put in front of peer paths (and, reversed, in front of the own
        /// URI in SDP).
        use_path: Vec<OwnedMsrpUri>,
        /// Lifetime granted, in seconds.
        expires: Option<u32>,
    },
    /// AUTH failed.
    AuthFailed {
        /// The final status (401 after rejected credentials, 403, 423, 408 on timeout...).
        code: u16,
        /// Min-Expires of a 423.
        min_expires: Option<u32>,
        /// Max-Expires of a 423.
        max_expires: Option<u32>,
    },
}
