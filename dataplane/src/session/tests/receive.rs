//! Receiving: reassembly in any order, overlaps, unknown totals, aborts, timeouts,
//! duplicates, and the responses and reports it produces.

use super::craft::*;
use super::pair::*;
use crate::session::*;
use crate::wire::{Continuation, FailureReport, SuccessReport};
use std::time::Duration;

fn setup(cfg: Config) -> (Pair, SessionId) {
    let mut p = Pair::new(Config::default(), cfg);
    let (_, sb) = p.connect();
    (p, sb)
}

fn responses(p: &Pair) -> Vec<(String, u16)> {
    p.b.frames()
        .iter()
        .filter_map(|f| {
            f.code().map(|c| {
                (
                    String::from_utf8_lossy(f.head.transaction_id()).into_owned(),
                    c,
                )
            })
        })
        .collect()
}

#[test]
fn out_of_order_chunks_with_dollar_first() {
    let (mut p, sb) = setup(Config::default());
    let msg = b"The quick brown fox jumps over the lazy dog";
    let parts = [(31usize, 43usize), (11, 31), (0, 11)];
    for (i, (s, e)) in parts.into_iter().enumerate() {
        let flag = if e == msg.len() {
            Continuation::Complete
        } else {
            Continuation::More
        };
        let tid = format!("tid0000{i}");
        p.inject_to_b(
            &Chunk {
                tid: &tid,
                range: Some((s as u64 + 1, Some(e as u64), Some(43))),
                body: &msg[s..e],
                flag,
                ..Chunk::default()
            }
            .bytes(),
        );
        if i < 2 {
            assert!(p.b.messages().is_empty(), "complete too early");
        }
    }
    let m = p.b.messages();
    assert_eq!(m.len(), 1);
    assert_eq!(&m[0].body[..], msg);
    assert_eq!(m[0].session, sb);
    assert_eq!(m[0].chunks, 3);
    // The head kept is the first chunk's (range-start 1).
    assert_eq!(m[0].head.transaction_id(), b"tid00002");
    let r = responses(&p);
    for i in 0..3 {
        assert!(r.contains(&(format!("tid0000{i}"), 200)));
    }
}

#[test]
fn overlapping_chunks_latest_wins_and_unknown_total() {
    let (mut p, _) = setup(Config::default());
    // Bytes 1-100 as 'a', then 50-150 as 'b', total unknown; '$' fixes the length at 150.
    p.inject_to_b(
        &Chunk {
            tid: "tidaaaa1",
            range: Some((1, Some(100), None)),
            body: &[b'a'; 100],
            flag: Continuation::More,
            ..Chunk::default()
        }
        .bytes(),
    );
    p.inject_to_b(
        &Chunk {
            tid: "tidaaaa2",
            range: Some((50, None, None)),
            body: &[b'b'; 101],
            flag: Continuation::Complete,
            ..Chunk::default()
        }
        .bytes(),
    );
    let m = p.b.messages();
    assert_eq!(m.len(), 1);
    let mut want = vec![b'a'; 49];
    want.extend_from_slice(&[b'b'; 101]);
    assert_eq!(&m[0].body[..], &want[..]);
}

#[test]
fn chunk_shorter_than_its_range_end_uses_the_actual_length() {
    let (mut p, _) = setup(Config::default());
    p.inject_to_b(
        &Chunk {
            tid: "tidaaaa1",
            range: Some((1, Some(10), Some(10))),
            body: b"abc",
            flag: Continuation::More,
            ..Chunk::default()
        }
        .bytes(),
    );
    p.inject_to_b(
        &Chunk {
            tid: "tidaaaa2",
            range: Some((4, Some(10), Some(10))),
            body: b"defghij",
            flag: Continuation::Complete,
            ..Chunk::default()
        }
        .bytes(),
    );
    assert_eq!(&p.b.messages()[0].body[..], b"abcdefghij");
}

#[test]
fn whole_message_without_byte_range_is_delivered_zero_copy() {
    let (mut p, _) = setup(Config::default());
    let bytes = Chunk {
        body: b"hello",
        ..Chunk::default()
    }
    .bytes();
    p.inject_to_b(&bytes);
    let m = p.b.messages();
    assert_eq!(&m[0].body[..], b"hello");
    assert_eq!(m[0].chunks, 1);
}

#[test]
fn sender_abort_drops_the_partial_message() {
    let (mut p, sb) = setup(Config::default());
    p.inject_to_b(
        &Chunk {
            tid: "tidaaaa1",
            range: Some((1, None, Some(100))),
            body: &[1; 40],
            flag: Continuation::More,
            ..Chunk::default()
        }
        .bytes(),
    );
    p.inject_to_b(
        &Chunk {
            tid: "tidaaaa2",
            range: Some((41, None, Some(100))),
            body: &[2; 10],
            flag: Continuation::Abort,
            ..Chunk::default()
        }
        .bytes(),
    );
    assert!(p.b.messages().is_empty());
    assert!(p.b.events.iter().any(|e| matches!(
        e,
        Event::MessageAborted { session, received: 50, reason: AbortReason::SenderAborted, .. } if *session == sb
    )));
    assert_eq!(p.b.conn.stats().incomplete_messages, 0);
    assert_eq!(p.b.conn.stats().buffered_bytes, 0);
}

#[test]
fn chunk_reception_timeout_aborts_and_sends_a_failure_report() {
    let mut cfg = Config::default();
    cfg.reassembly.timeout = Duration::from_secs(60);
    let (mut p, _) = setup(cfg);
    p.inject_to_b(
        &Chunk {
            tid: "tidaaaa1",
            range: Some((1, None, Some(100))),
            body: &[1; 40],
            flag: Continuation::More,
            ..Chunk::default()
        }
        .bytes(),
    );
    p.advance(Duration::from_secs(59));
    assert!(p
        .b
        .events
        .iter()
        .all(|e| !matches!(e, Event::MessageAborted { .. })));
    p.advance(Duration::from_secs(2));
    assert!(p.b.events.iter().any(|e| matches!(
        e,
        Event::MessageAborted {
            received: 40,
            reason: AbortReason::Timeout,
            ..
        }
    )));
    let reports: Vec<_> =
        p.b.frames()
            .into_iter()
            .filter(|f| f.is_method("REPORT"))
            .collect();
    assert_eq!(reports.len(), 1);
    let st = reports[0].head.status().unwrap().unwrap();
    assert_eq!((st.namespace, st.code), (0, 408));
    assert_eq!(reports[0].head.byte_range().unwrap().end, Some(40));
    assert_eq!(reports[0].head.to_path_raw(), A_URI.as_bytes());
    // A late chunk of the expired message is refused.
    p.inject_to_b(
        &Chunk {
            tid: "tidaaaa2",
            range: Some((41, None, Some(100))),
            body: &[2; 60],
            ..Chunk::default()
        }
        .bytes(),
    );
    assert!(responses(&p).contains(&("tidaaaa2".into(), 413)));
    assert!(p.b.messages().is_empty());
}

#[test]
fn duplicates_are_answered_but_not_delivered_twice() {
    let (mut p, _) = setup(Config::default());
    let c = Chunk {
        body: b"once",
        success_report: Some(SuccessReport::Yes),
        ..Chunk::default()
    };
    p.inject_to_b(&c.bytes());
    p.inject_to_b(
        &Chunk {
            tid: "tid00002",
            ..c
        }
        .bytes(),
    );
    assert_eq!(p.b.messages().len(), 1);
    let r = responses(&p);
    assert!(r.contains(&("tid00001".into(), 200)) && r.contains(&("tid00002".into(), 200)));
    // A success report for each copy.
    let reports =
        p.b.frames()
            .iter()
            .filter(|f| f.is_method("REPORT"))
            .count();
    assert_eq!(reports, 2);
}

#[test]
fn per_chunk_success_reports_cover_each_chunk() {
    let cfg_b = Config {
        success_reports: SuccessReportMode::PerChunk,
        ..Config::default()
    };
    let cfg_a = Config {
        chunk_size: 1000,
        ..Config::default()
    };
    let mut p = Pair::new(cfg_a, cfg_b);
    let (sa, _) = p.connect();
    let id = p
        .a
        .conn
        .send_message(
            sa,
            OutgoingMessage::new("text/plain", payload(2500, 9)).success_report(SuccessReport::Yes),
        )
        .unwrap();
    p.drive();
    let ranges: Vec<_> =
        p.b.frames()
            .into_iter()
            .filter(|f| f.is_method("REPORT"))
            .map(|f| {
                let r = f.head.byte_range().unwrap();
                (r.start, r.end)
            })
            .collect();
    assert_eq!(
        ranges,
        vec![(1, Some(1000)), (1001, Some(2000)), (2001, Some(2500))]
    );
    let reports: Vec<bool> =
        p.a.events
            .iter()
            .filter_map(|e| match e {
                Event::SuccessReport {
                    message_id,
                    complete,
                    ..
                } if *message_id == id => Some(*complete),
                _ => None,
            })
            .collect();
    assert_eq!(reports, vec![false, false, true]);
}

#[test]
fn failure_report_partial_answers_errors_only_and_no_answers_nothing() {
    let (mut p, _) = setup(Config {
        accept_types: std::sync::Arc::new(AcceptTypes::parse("text/plain").unwrap()),
        ..Config::default()
    });
    let fr = Some(FailureReport::Partial);
    p.inject_to_b(
        &Chunk {
            tid: "tidpart1",
            message_id: "msgpart1",
            body: b"ok",
            failure_report: fr,
            ..Chunk::default()
        }
        .bytes(),
    );
    p.inject_to_b(
        &Chunk {
            tid: "tidpart2",
            message_id: "msgpart2",
            body: b"x",
            content_type: "image/png",
            failure_report: fr,
            ..Chunk::default()
        }
        .bytes(),
    );
    let no = Some(FailureReport::No);
    p.inject_to_b(
        &Chunk {
            tid: "tidnooo1",
            message_id: "msgnooo1",
            body: b"ok",
            failure_report: no,
            ..Chunk::default()
        }
        .bytes(),
    );
    p.inject_to_b(
        &Chunk {
            tid: "tidnooo2",
            message_id: "msgnooo2",
            body: b"x",
            content_type: "image/png",
            failure_report: no,
            ..Chunk::default()
        }
        .bytes(),
    );
    p.inject_to_b(
        &Chunk {
            tid: "tidnooo3",
            to: "msrp://b.example.com:7002/nosuch;tcp",
            body: b"x",
            failure_report: no,
            ..Chunk::default()
        }
        .bytes(),
    );
    let r = responses(&p);
    assert!(r.contains(&("tidpart2".into(), 415)));
    assert!(
        !r.iter().any(|(t, _)| t == "tidpart1"),
        "no 200 under partial"
    );
    assert!(
        !r.iter().any(|(t, _)| t.starts_with("tidnooo")),
        "nothing under no: {r:?}"
    );
    assert_eq!(p.b.messages().len(), 2);
}

#[test]
fn progress_events_follow_each_chunk() {
    let cfg_a = Config {
        chunk_size: 1000,
        ..Config::default()
    };
    let cfg_b = Config {
        progress_events: true,
        ..Config::default()
    };
    let mut p = Pair::new(cfg_a, cfg_b);
    let (sa, _) = p.connect();
    let id =
        p.a.conn
            .send_message(sa, OutgoingMessage::new("text/plain", payload(3500, 1)))
            .unwrap();
    p.drive();
    let progress: Vec<(u64, Option<u64>)> =
        p.b.events
            .iter()
            .filter_map(|e| match e {
                Event::Progress {
                    message_id,
                    received,
                    total,
                    ..
                } if *message_id == id => Some((*received, *total)),
                _ => None,
            })
            .collect();
    assert_eq!(
        progress,
        vec![(1000, Some(3500)), (2000, Some(3500)), (3000, Some(3500))]
    );
    assert!(matches!(p.b.events.last(), Some(Event::Message(_))));
}
