//! Transactions this relay opened towards next hops (RFC 4976 §6.4): which inbound request
//! each forwarded chunk came from, so that its response can be routed back (non-SEND) or turned
//! into a failure REPORT (SEND), and a 30 s timer per chunk (408 REPORT when it fires).
//!
//! Timers cost no heap beyond the outstanding transactions: the timeout is the same for all,
//! so each connection's transactions expire in the order they were sent, and a per-connection
//! queue in send order is enough (answered ones are skipped when they reach its front).

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::egress::{EgressIo, StreamKey};
use super::template::Template;
use super::Rng;
use crate::net::{Backend, ConnId};
use crate::wire::{ByteRange, Continuation, FailureReport, Ident, Method, RequestWriter};
use crate::worker::Io;

/// A chunk forwarded and not answered yet.
#[derive(Debug)]
pub struct OutTxn {
    /// Where the request came from.
    pub src: StreamKey,
    /// The request's method.
    pub method: Method,
    /// The transaction id the previous hop used (responses to non-SEND go back with it).
    pub orig_tid: Ident,
    /// The request's Failure-Report.
    pub failure_report: FailureReport,
    /// From-Path as received: the REPORT's To-Path.
    pub from: Bytes,
    /// Our URI on the path: the REPORT's From-Path, and the URI responses are addressed to.
    pub hop_uri: Bytes,
    /// Our second URI on the path when both ends of the session use this relay (else empty):
    /// a response passes it too on its way back.
    pub second_hop: Bytes,
    /// Message-ID of a SEND.
    pub message_id: Option<Bytes>,
    /// Byte-Range of the chunk as sent (its end filled in when the chunk ends).
    pub range: ByteRange,
    /// Set when the chunk's last byte is queued.
    pub(super) deadline: Option<Instant>,
}

#[derive(Default, Debug)]
struct ConnTxns {
    map: HashMap<Ident, OutTxn>,
    order: VecDeque<(Instant, Ident)>,
}

/// All outstanding transactions of a worker, by the connection they were sent on.
#[derive(Default, Debug)]
pub struct Transactions {
    conns: HashMap<ConnId, ConnTxns>,
    /// Connections with timers running.
    timed: HashSet<ConnId>,
}

impl Transactions {
    /// Removes and returns the transaction a response on `conn` answers.
    pub fn take(&mut self, conn: ConnId, tid: &[u8]) -> Option<OutTxn> {
        let tid = Ident::new(tid)?;
        let c = self.conns.get_mut(&conn)?;
        let t = c.map.remove(&tid)?;
        while let Some((_, front)) = c.order.front() {
            if c.map.contains_key(front) {
                break;
            }
            c.order.pop_front();
        }
        Some(t)
    }

    /// Transactions whose timer fired by `now`.
    pub fn expired(&mut self, now: Instant) -> Vec<OutTxn> {
        let mut out = Vec::new();
        let mut idle = Vec::new();
        for conn in &self.timed {
            let Some(c) = self.conns.get_mut(conn) else {
                idle.push(*conn);
                continue;
            };
            while let Some(&(deadline, tid)) = c.order.front() {
                if deadline > now {
                    break;
                }
                c.order.pop_front();
                if let Some(t) = c.map.remove(&tid) {
                    out.push(t);
                }
            }
            if c.order.is_empty() {
                idle.push(*conn);
            }
        }
        for conn in idle {
            self.timed.remove(&conn);
            if self.conns.get(&conn).is_some_and(|c| c.map.is_empty()) {
                self.conns.remove(&conn);
            }
        }
        out
    }

    /// The connection is gone: every transaction on it failed.
    pub fn conn_closed(&mut self, conn: ConnId) -> Vec<OutTxn> {
        self.timed.remove(&conn);
        self.conns
            .remove(&conn)
            .map(|c| c.map.into_values().collect())
            .unwrap_or_default()
    }

    /// Number of outstanding transactions.
    pub(crate) fn len(&self) -> usize {
        self.conns.values().map(|c| c.map.len()).sum()
    }

    /// Timers run on a one-second sweep; nothing finer is needed for 30 s timeouts.
    pub fn next_deadline(&self) -> Option<Instant> {
        None
    }
}

/// The scheduler's view of the worker: the network, the transaction table and randomness.
pub struct EgressCtx<'a, B: Backend> {
    pub io: &'a mut Io<B>,
    pub txns: &'a mut Transactions,
    pub rng: &'a mut Rng,
    pub timeout: Duration,
}

impl<B: Backend> EgressIo for EgressCtx<'_, B> {
    fn write(&mut self, conn: ConnId, bytes: Bytes) {
        self.io.send(conn, bytes);
    }

    fn new_tid(&mut self) -> Ident {
        // 16 random characters: the chance that a streamed body holds "-------<tid>" is
        // 62^-16 per position; bodies are not buffered to check (they stream through).
        Ident::random(self.rng)
    }

    fn chunk_started(
        &mut self,
        dest: ConnId,
        tid: Ident,
        key: StreamKey,
        tmpl: &Template,
        sent: u64,
    ) {
        // No response ever comes for REPORT, nor for requests that ask for none.
        if tmpl.method == Method::Report || tmpl.failure_report == FailureReport::No {
            return;
        }
        let start = tmpl.byte_range.map_or(1, |r| r.start).saturating_add(sent);
        let range = ByteRange {
            start,
            end: None,
            total: tmpl.byte_range.and_then(|r| r.total),
        };
        self.txns.conns.entry(dest).or_default().map.insert(
            tid,
            OutTxn {
                src: key,
                method: tmpl.method,
                orig_tid: tmpl.orig_tid,
                failure_report: tmpl.failure_report,
                from: tmpl.from.clone(),
                hop_uri: tmpl.first_hop(),
                second_hop: tmpl.hops[1].clone(),
                message_id: tmpl.message_id.clone(),
                range,
                deadline: None,
            },
        );
    }

    fn chunk_ended(&mut self, dest: ConnId, tid: Ident, body_len: u64, _flag: Continuation) {
        let Some(c) = self.txns.conns.get_mut(&dest) else {
            return;
        };
        let Some(t) = c.map.get_mut(&tid) else { return };
        t.range.end = Some(t.range.start.saturating_add(body_len).saturating_sub(1));
        let deadline = self.io.now() + self.timeout;
        t.deadline = Some(deadline);
        c.order.push_back((deadline, tid));
        self.txns.timed.insert(dest);
    }
}

/// A failure REPORT for a forwarded SEND chunk (RFC 4976 §6.4.1, RFC 4975 §7.1.4): back to
/// the original sender, with the chunk's Byte-Range and `Status: 000 <code>`.
pub fn failure_report(t: &OutTxn, rng: &mut Rng, code: u16) -> Option<Bytes> {
    let mid = t.message_id.as_ref()?;
    let mut buf = BytesMut::with_capacity(256 + t.from.len());
    let tid = Ident::random(rng);
    RequestWriter::new(&mut buf, tid, "REPORT", &[&t.from], &[&t.hop_uri])
        .message_id(mid)
        .byte_range(t.range)
        .status(0, code, Some(reason(code)))
        .end(Continuation::Complete);
    Some(buf.freeze())
}

/// The IANA reason phrase of an MSRP status code (RFC 4975 §15.3, RFC 4976, RFC 7701).
pub fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        400 => "Unintelligible",
        401 => "Unauthorized",
        403 => "Action-not-allowed",
        404 => "Failure to resolve recipient's URI",
        408 => "Transaction-did-not-complete-in-allotted-time",
        413 => "Stop-sending-message",
        415 => "MIME-not-understood",
        423 => "Parameter-out-of-bounds",
        424 => "Malformed nickname",
        425 => "Nickname reserved or already in use",
        428 => "Private messages not supported",
        481 => "Session-does-not-exist",
        501 => "Request-method-not-understood",
        506 => "Session-already-in-use",
        _ => "Error",
    }
}
