//! Whole exchanges between two clients, reused by the relay tests: a chunked message from A to
//! B with every hop-by-hop 200 and an end-to-end Success-Report REPORT checked, and a
//! failure REPORT provoked by an error response at the far end.

use std::time::{Duration, Instant};

use dataplane::wire::{ByteRange, Continuation, Method};

use crate::client::{Frame, MsrpClient};

/// What a transfer measured.
#[derive(Debug)]
pub struct Transfer {
    /// Wall time from the first chunk written to the REPORT received.
    pub elapsed: Duration,
    /// Chunks A wrote.
    pub chunks_sent: usize,
    /// Chunks B received (relays may re-chunk).
    pub chunks_received: usize,
    /// The Success-Report REPORT that reached A.
    pub report: Frame,
    /// The From-Path B saw on the first chunk.
    pub path_at_b: String,
}

/// A sends `body` to B along `to_path` in chunks of `chunk` octets with `Success-Report: yes`;
/// B answers every chunk 200 and, once the message is complete, reports success back along the
/// From-Path it saw. Checks that the message arrived intact, that A got a 200 for every chunk
/// and a REPORT covering the whole message. A and B run on threads of their own so that
/// back-pressure in the relays cannot deadlock the test.
pub fn transfer(
    a: &mut MsrpClient,
    to_path: &[String],
    b: &mut MsrpClient,
    body: &[u8],
    chunk: usize,
    message_id: &str,
) -> Transfer {
    let start = Instant::now();
    let total = body.len() as u64;
    let (chunks_sent, report, (received, path_at_b)) = std::thread::scope(|s| {
        let rx = s.spawn(|| {
            let r = b.receive_message(message_id, 200);
            let first = r.chunks.first().expect("at least one chunk");
            let path_at_b = first.from_path();
            let last = r.chunks.last().expect("at least one chunk");
            assert_eq!(last.flag, Continuation::Complete, "message not completed");
            b.report(
                &last.from_path_uris(),
                message_id,
                ByteRange {
                    start: 1,
                    end: Some(total),
                    total: Some(total),
                },
                200,
            );
            (r, path_at_b)
        });
        let tx = s.spawn(|| {
            let tids = a.send_message(
                to_path,
                message_id,
                body,
                chunk,
                &[("Success-Report", "yes")],
            );
            for t in &tids {
                let ok = a.response_to(t);
                assert_eq!(ok.code(), Some(200), "chunk {} refused: {ok:?}", t.as_str());
            }
            let mid = message_id.to_string();
            let report = a.expect("the success REPORT", move |f| {
                f.method() == Some(Method::Report) && f.message_id() == mid
            });
            (tids.len(), report)
        });
        let (n, rep) = tx.join().expect("sender thread");
        (n, rep, rx.join().expect("receiver thread"))
    });
    assert_eq!(received.bytes, total, "octets received");
    assert!(received.body == body, "message corrupted in transit");
    assert_eq!(report.status(), Some((0, 200)), "{report:?}");
    assert_eq!(report.to_path(), a.uri, "REPORT must end at A");
    Transfer {
        elapsed: start.elapsed(),
        chunks_sent,
        chunks_received: received.chunks.len(),
        report,
        path_at_b,
    }
}

/// A sends a small message that B answers with `code`; returns the failure REPORT A gets.
pub fn failure_report(
    a: &mut MsrpClient,
    to_path: &[String],
    b: &mut MsrpClient,
    code: u16,
    message_id: &str,
) -> Frame {
    let body = b"please fail";
    let tid = a.send_chunk(
        to_path,
        message_id,
        1,
        Some(body.len() as u64),
        body,
        Continuation::Complete,
        &[],
    );
    let ok = a.response_to(&tid);
    assert_eq!(ok.code(), Some(200), "first hop answers at once: {ok:?}");
    let r = b.receive_message(message_id, code);
    assert_eq!(r.body, body);
    let mid = message_id.to_string();
    let rep = a.expect("the failure REPORT", move |f| {
        f.method() == Some(Method::Report) && f.message_id() == mid
    });
    assert_eq!(rep.status(), Some((0, code)), "{rep:?}");
    assert_eq!(rep.to_path(), a.uri);
    rep
}

/// The To-Path A uses to reach B: A's Use-Path (client side first), then B's path as B would
/// advertise it in SDP (its relays' Use-Path reversed, then B's own URI) (RFC 4976 §5.1).
pub fn path_to(a_use_path: &[String], b_use_path: &[String], b_uri: &str) -> Vec<String> {
    let mut p: Vec<String> = a_use_path.to_vec();
    p.extend(b_use_path.iter().rev().cloned());
    p.push(b_uri.to_string());
    p
}
