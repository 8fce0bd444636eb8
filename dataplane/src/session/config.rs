//! Configuration of a [`Connection`](super::Connection): chunking and fairness, timers,
//! reassembly limits, report policy, accepted media types, session-matching strictness.

use super::accept::AcceptTypes;
use super::reassembly::ReassemblyLimits;
use super::transactions::DEFAULT_TRANSACTION_TIMEOUT;
use crate::wire::ParserLimits;
use std::sync::Arc;
use std::time::Duration;

/// How success REPORTs are generated when a SEND asks for them (RFC 4975 §7.1.3 allows
/// either, as long as the reports together cover every byte received).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SuccessReportMode {
    /// One REPORT for the whole message once its last byte has arrived.
    #[default]
    WholeMessage,
    /// One REPORT per received chunk, covering that chunk's bytes.
    PerChunk,
}

/// Engine configuration. `Default` gives RFC 4975 values (30 s transaction timeout) and
/// generous but bounded limits.
#[derive(Debug, Clone)]
pub struct Config {
    /// Limits of the frame parser. Its `max_chunk_size` is capped at the largest message.
    pub parser: ParserLimits,
    /// Largest chunk body sent (bytes). Chunks above 2048 bytes are sent interruptible
    /// (range-end `*`); `usize::MAX` sends each message as one chunk unless interrupted
    /// (the strategy RFC 4975 §7.1 recommends).
    pub chunk_size: usize,
    /// Largest body slice handed to the transport at once; an interruptible chunk can only be
    /// interrupted between slices. At least 2048 (smaller values are raised).
    pub transmit_slice: usize,
    /// When other messages wait, an interruptible chunk is interrupted (`+`) after this many
    /// body bytes so that messages and sessions share the connection fairly (§7.1).
    pub interleave_after: usize,
    /// No response within this time after the last byte of a request (Failure-Report: yes)
    /// ⇒ 408 to the user (§7.1.1: 30 s).
    pub transaction_timeout: Duration,
    /// How long a fully sent message is remembered to correlate REPORTs (success reports,
    /// late failure reports under Failure-Report: partial).
    pub report_timeout: Duration,
    /// Limits of incoming reassembly; `max_message_size` answers 413, `timeout` is the
    /// chunk-reception timeout of incomplete messages.
    pub reassembly: ReassemblyLimits,
    /// Whole-message or per-chunk success REPORTs.
    pub success_reports: SuccessReportMode,
    /// Media types accepted by sessions that do not set their own (415 otherwise).
    pub accept_types: Arc<AcceptTypes>,
    /// Also require the last From-Path URI of a request to equal the last URI of the
    /// session's peer path (481 otherwise). RFC 4975 checks only To-Path; rewriting ALGs break
    /// this check, so it is off by default.
    pub strict_from_path: bool,
    /// Emit [`Event::Progress`](super::Event::Progress) after each chunk of an incomplete
    /// message.
    pub progress_events: bool,
    /// Send a failure REPORT (408, covering the bytes received) when an incomplete message
    /// times out and its Failure-Report is not `no`.
    pub failure_report_on_timeout: bool,
    /// How many completed Message-IDs per connection are remembered to recognise late or
    /// repeated chunks as duplicates (fixed memory; 0 disables).
    pub remember_completed: usize,
    /// How many refused (413/415) Message-IDs are remembered, so that their further chunks are
    /// refused the same way without buffering.
    pub remember_refused: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            parser: ParserLimits::default(),
            chunk_size: 64 * 1024,
            transmit_slice: 16 * 1024,
            interleave_after: 16 * 1024,
            transaction_timeout: DEFAULT_TRANSACTION_TIMEOUT,
            report_timeout: Duration::from_secs(120),
            reassembly: ReassemblyLimits::default(),
            success_reports: SuccessReportMode::WholeMessage,
            accept_types: Arc::new(AcceptTypes::any()),
            strict_from_path: false,
            progress_events: false,
            failure_report_on_timeout: true,
            remember_completed: 256,
            remember_refused: 64,
        }
    }
}

impl Config {
    /// The parser limits actually used: no chunk may exceed the largest message.
    pub fn effective_parser_limits(&self) -> ParserLimits {
        let mut p = self.parser;
        p.max_chunk_size = p.max_chunk_size.min(self.reassembly.max_message_size);
        p
    }

    /// The transmit slice actually used (at least 2048).
    pub fn effective_transmit_slice(&self) -> usize {
        self.transmit_slice.max(super::chunker::INTERRUPTIBLE_ABOVE)
    }
}
