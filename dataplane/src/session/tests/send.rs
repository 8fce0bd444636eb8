//! Sending: transaction timeouts, interruption and resumption, fair interleaving, aborts,
//! the end-line never appearing in a body, failure REPORTs, connection loss.

use super::craft::*;
use super::pair::*;
use crate::session::*;
use crate::wire::{Continuation, FailureReport, Ident, SuccessReport};
use std::time::Duration;

fn failed(side: &Side, id: Ident) -> Option<(u16, FailureSource)> {
    side.events.iter().find_map(|e| match e {
        Event::SendFailed(SendFailure {
            message_id: Some(m),
            code,
            source,
            ..
        }) if *m == id => Some((*code, *source)),
        _ => None,
    })
}

#[test]
fn no_response_within_30_s_gives_408() {
    let mut p = Pair::new(Config::default(), Config::default());
    let (sa, _) = p.connect();
    p.b.mute = true;
    let id =
        p.a.conn
            .send_message(sa, OutgoingMessage::new("text/plain", "anyone?"))
            .unwrap();
    p.drive();
    assert!(p.a.conn.poll_timeout().is_some());
    p.advance(Duration::from_secs(29));
    assert_eq!(failed(&p.a, id), None);
    p.advance(Duration::from_millis(1001));
    assert_eq!(failed(&p.a, id), Some((408, FailureSource::Timeout)));
    assert_eq!(p.a.conn.stats().outgoing_messages, 0);
    assert_eq!(p.a.conn.stats().transactions, 0);
}

#[test]
fn timer_starts_when_the_last_byte_is_handed_over() {
    let cfg = Config {
        chunk_size: usize::MAX,
        transmit_slice: 4096,
        ..Config::default()
    };
    let mut p = Pair::new(cfg, Config::default());
    let (sa, _) = p.connect();
    p.b.mute = true;
    let id =
        p.a.conn
            .send_message(sa, OutgoingMessage::new("text/plain", payload(40_000, 1)))
            .unwrap();
    // Hand the chunk out slowly: one slice every 10 s.
    p.a.budget = 1;
    p.step();
    for _ in 0..9 {
        p.advance_without_drive(Duration::from_secs(10));
        p.step();
    }
    assert_eq!(
        failed(&p.a, id),
        None,
        "no 408 while the chunk is still being written"
    );
    p.advance(Duration::from_secs(29));
    assert_eq!(failed(&p.a, id), None);
    p.advance(Duration::from_secs(2));
    assert_eq!(failed(&p.a, id).map(|f| f.0), Some(408));
}

#[test]
fn failure_report_partial_runs_no_timer() {
    let mut p = Pair::new(Config::default(), Config::default());
    let (sa, _) = p.connect();
    p.b.mute = true;
    let id =
        p.a.conn
            .send_message(
                sa,
                OutgoingMessage::new("text/plain", "x").failure_report(FailureReport::Partial),
            )
            .unwrap();
    p.drive();
    p.advance(Duration::from_secs(60));
    assert_eq!(failed(&p.a, id), None);
    // The message is forgotten after the report timeout without an event.
    p.advance(Duration::from_secs(120));
    assert!(p.a.events.is_empty(), "{:?}", p.a.events);
    assert_eq!(p.a.conn.stats(), ConnectionStats::default());
}

#[test]
fn error_under_partial_is_reported() {
    let cfg_b = Config {
        accept_types: std::sync::Arc::new(AcceptTypes::parse("text/plain").unwrap()),
        ..Config::default()
    };
    let mut p = Pair::new(Config::default(), cfg_b);
    let (sa, _) = p.connect();
    let id =
        p.a.conn
            .send_message(
                sa,
                OutgoingMessage::new("image/gif", "x").failure_report(FailureReport::Partial),
            )
            .unwrap();
    p.drive();
    assert_eq!(failed(&p.a, id), Some((415, FailureSource::Response)));
}

#[test]
fn responses_interrupt_a_long_chunk_which_then_resumes() {
    let cfg = Config {
        chunk_size: usize::MAX,
        transmit_slice: 4096,
        ..Config::default()
    };
    let mut p = Pair::new(cfg.clone(), cfg);
    let (sa, sb) = p.connect();
    p.a.budget = 3;
    p.b.budget = 3;
    let big_a = payload(300_000, 1);
    let big_b = payload(300_000, 2);
    p.a.conn
        .send_message(sa, OutgoingMessage::new("text/plain", big_a.clone()))
        .unwrap();
    // b sends many small messages: a must answer each, interrupting its chunk (§7.1).
    for i in 0..20u8 {
        p.b.conn
            .send_message(sb, OutgoingMessage::new("text/plain", vec![i; 10]))
            .unwrap();
    }
    p.b.conn
        .send_message(sb, OutgoingMessage::new("text/plain", big_b.clone()))
        .unwrap();
    p.drive();
    assert_eq!(&p.b.messages()[0].body[..], &big_a[..]);
    assert_eq!(p.a.messages().len(), 21);
    assert_eq!(&p.a.messages()[20].body[..], &big_b[..]);
    // a's message went out in several chunks, interrupted with '+', each chunk starting where
    // the previous one stopped.
    let chunks: Vec<_> =
        p.a.frames()
            .into_iter()
            .filter(|f| f.is_method("SEND") && !f.body.is_empty())
            .collect();
    assert!(chunks.len() > 1, "the long chunk was never interrupted");
    let mut next = 1;
    for c in &chunks {
        let r = c.head.byte_range().unwrap();
        assert_eq!(r.start, next);
        assert_eq!(r.end, None, "interruptible chunks have range-end *");
        assert_eq!(r.total, Some(300_000));
        assert!(c.body.len() >= 2048 || c.flag == Continuation::Complete);
        next += c.body.len() as u64;
    }
    assert_eq!(chunks.last().unwrap().flag, Continuation::Complete);
    assert!(chunks[..chunks.len() - 1]
        .iter()
        .all(|c| c.flag == Continuation::More));
    // Every interruption was followed by a response from a.
    let frames = p.a.frames();
    for (i, f) in frames.iter().enumerate() {
        if f.is_method("SEND") && f.flag == Continuation::More && !f.body.is_empty() {
            assert!(frames[i + 1].code().is_some(), "interrupted for a response");
        }
    }
}

#[test]
fn several_messages_are_interleaved_fairly() {
    let cfg = Config {
        chunk_size: usize::MAX,
        transmit_slice: 4096,
        interleave_after: 8192,
        ..Config::default()
    };
    let mut p = Pair::new(cfg, Config::default());
    let (sa, _) = p.connect();
    // A second session on the same connection.
    let b2 = "msrp://b.example.com:7002/bob2;tcp";
    let a2 = "msrp://a.example.com:7001/alice2;tcp";
    p.table.insert(SessionConfig::new(uri(b2), vec![uri(a2)]));
    let sa2 =
        p.a.conn
            .add_session(SessionConfig::new(uri(a2), vec![uri(b2)]))
            .unwrap();
    let bodies = [payload(100_000, 1), payload(60_000, 2), payload(80_000, 3)];
    let ids: Vec<_> = [sa, sa2, sa]
        .iter()
        .zip(&bodies)
        .map(|(s, b)| {
            p.a.conn
                .send_message(*s, OutgoingMessage::new("text/plain", b.clone()))
                .unwrap()
        })
        .collect();
    p.drive();
    let got = p.b.messages();
    assert_eq!(got.len(), 3);
    for (id, body) in ids.iter().zip(&bodies) {
        let m = got.iter().find(|m| m.message_id == *id).unwrap();
        assert!(m.body == *body);
    }
    // Round robin: the first chunks of the three messages all precede the last chunk of any.
    let order: Vec<Vec<u8>> =
        p.a.frames()
            .into_iter()
            .filter(|f| f.is_method("SEND") && !f.body.is_empty())
            .map(|f| f.head.message_id().unwrap().to_vec())
            .collect();
    let first_of = |id: &Ident| order.iter().position(|m| m == id.as_bytes()).unwrap();
    let last_of = |id: &Ident| order.iter().rposition(|m| m == id.as_bytes()).unwrap();
    let latest_first = ids.iter().map(first_of).max().unwrap();
    let earliest_last = ids.iter().map(last_of).min().unwrap();
    assert!(latest_first < earliest_last, "{order:?}");
    assert!(order.len() >= 240_000 / 8192);
}

#[test]
fn user_abort_mid_chunk_sends_hash() {
    let cfg = Config {
        chunk_size: usize::MAX,
        transmit_slice: 4096,
        ..Config::default()
    };
    let mut p = Pair::new(cfg, Config::default());
    let (sa, sb) = p.connect();
    let id =
        p.a.conn
            .send_message(sa, OutgoingMessage::new("text/plain", payload(100_000, 1)))
            .unwrap();
    p.a.budget = 2;
    p.step();
    assert!(p.a.conn.abort_message(&id));
    p.a.budget = usize::MAX;
    p.drive();
    let sends: Vec<_> =
        p.a.frames()
            .into_iter()
            .filter(|f| f.is_method("SEND"))
            .collect();
    assert_eq!(sends.last().unwrap().flag, Continuation::Abort);
    assert!(p.b.events.iter().any(|e| matches!(
        e,
        Event::MessageAborted { session, reason: AbortReason::SenderAborted, .. } if *session == sb
    )));
    assert_eq!(p.b.conn.stats().incomplete_messages, 0);
    assert!(!p.a.conn.abort_message(&id));
}

#[test]
fn user_abort_between_chunks_sends_an_empty_hash_chunk() {
    let cfg = Config {
        chunk_size: 1000,
        ..Config::default()
    };
    let mut p = Pair::new(cfg, Config::default());
    let (sa, _) = p.connect();
    let id =
        p.a.conn
            .send_message(sa, OutgoingMessage::new("text/plain", payload(10_000, 1)))
            .unwrap();
    p.a.budget = 2;
    p.step();
    assert!(p.a.conn.abort_message(&id));
    p.a.budget = usize::MAX;
    p.drive();
    let sends: Vec<_> =
        p.a.frames()
            .into_iter()
            .filter(|f| f.is_method("SEND"))
            .collect();
    let last = sends.last().unwrap();
    assert_eq!(last.flag, Continuation::Abort);
    assert!(last.body.is_empty());
    assert_eq!(last.head.byte_range().unwrap().start, 2001);
    assert!(p.b.events.iter().any(|e| matches!(
        e,
        Event::MessageAborted {
            received: 2000,
            reason: AbortReason::SenderAborted,
            ..
        }
    )));
}

/// A random source whose first draws are fixed, so the first transaction id is known.
fn rng_with_prefix(prefix: Vec<u64>, seed: u64) -> impl FnMut() -> u64 + Send {
    let mut rest = rng(seed);
    let mut i = 0;
    move || {
        i += 1;
        prefix.get(i - 1).copied().unwrap_or_else(&mut rest)
    }
}

#[test]
fn end_line_never_appears_in_a_body() {
    // The first two draws make the first transaction id; plant its end-line in the body,
    // once inside the first slice (the id must be re-picked) and once in a later slice of
    // a long chunk (the chunk must be interrupted before it).
    let tid0 = Ident::random(&mut || 0u64);
    for at in [100usize, 40_000] {
        let cfg = Config {
            chunk_size: usize::MAX,
            transmit_slice: 8192,
            ..Config::default()
        };
        let mut a = Connection::new(cfg, rng_with_prefix(vec![0, 0, 0, 0], 5));
        let sa = a
            .add_session(SessionConfig::new(uri(A_URI), vec![uri(B_URI)]))
            .unwrap();
        let mut body = payload(100_000, 3).to_vec();
        let marker = format!("-------{tid0}$");
        body[at..at + marker.len()].copy_from_slice(marker.as_bytes());
        let mid = Ident::new(b"msgmarker").unwrap();
        a.send_message(
            sa,
            OutgoingMessage::new("text/plain", body.clone()).message_id(mid),
        )
        .unwrap();
        let now = std::time::Instant::now();
        let mut wire = bytes::BytesMut::new();
        while let Some(t) = a.poll_transmit(now) {
            t.write_to(&mut wire);
        }
        let frames = parse_frames(&wire);
        let mut got = Vec::new();
        for f in &frames {
            assert!(
                !crate::wire::body_contains_end_marker(&f.body, f.head.transaction_id())
                    || f.head.transaction_id() != tid0.as_bytes(),
            );
            got.extend_from_slice(&f.body);
        }
        assert_eq!(got, body, "marker at {at}: body reassembles");
        if at == 40_000 {
            assert_eq!(frames[0].head.transaction_id(), tid0.as_bytes());
            assert!(frames.len() >= 2, "chunk interrupted before the marker");
            assert!(frames[0].body.len() <= at);
        } else {
            assert_ne!(frames[0].head.transaction_id(), tid0.as_bytes());
        }
    }
}

#[test]
fn failure_report_from_downstream_stops_the_message() {
    let cfg = Config {
        chunk_size: 1000,
        ..Config::default()
    };
    let mut p = Pair::new(cfg, Config::default());
    let (sa, _) = p.connect();
    let id =
        p.a.conn
            .send_message(sa, OutgoingMessage::new("text/plain", payload(10_000, 1)))
            .unwrap();
    p.a.budget = 1;
    p.step();
    // A relay downstream says 408 for this message (REPORT from b's side to a).
    let report = raw(&format!(
        "MSRP tidrep99 REPORT\nTo-Path: {A_URI}\nFrom-Path: {B_URI}\nMessage-ID: {id}\nByte-Range: 1-1000/10000\nStatus: 000 408\n-------tidrep99$\n"
    ));
    p.b.pipe.extend_from_slice(&report);
    p.drive();
    assert_eq!(failed(&p.a, id), Some((408, FailureSource::Report)));
    let sent: u64 =
        p.a.frames()
            .iter()
            .filter(|f| f.is_method("SEND"))
            .map(|f| f.body.len() as u64)
            .sum();
    assert!(
        sent < 10_000,
        "stopped after the failure report ({sent} bytes)"
    );
    // The REPORT was not answered.
    assert!(p
        .a
        .frames()
        .iter()
        .all(|f| f.head.transaction_id() != b"tidrep99"));
}

#[test]
fn success_report_timeout_is_reported() {
    let mut a = Connection::new(Config::default(), rng(8));
    let sa = a
        .add_session(SessionConfig::new(uri(A_URI), vec![uri(B_URI)]))
        .unwrap();
    let id = a
        .send_message(
            sa,
            OutgoingMessage::new("text/plain", "x").success_report(SuccessReport::Yes),
        )
        .unwrap();
    let t0 = std::time::Instant::now();
    let mut wire = bytes::BytesMut::new();
    while let Some(t) = a.poll_transmit(t0) {
        t.write_to(&mut wire);
    }
    // The next hop answers 200, but no success REPORT ever comes.
    let send = &parse_frames(&wire)[0];
    let mut scratch = bytes::BytesMut::new();
    let ok = builders::response(&mut scratch, &send.head, 200, B_URI.as_bytes()).unwrap();
    a.handle_input(t0, &mut bytes::BytesMut::from(&ok[..]))
        .unwrap();
    assert!(matches!(
        a.poll_event(),
        Some(Event::MessageAccepted { .. })
    ));
    assert_eq!(
        a.stats().outgoing_messages,
        1,
        "still waiting for the report"
    );
    let due = a.poll_timeout().unwrap();
    assert_eq!(due, t0 + Config::default().report_timeout);
    a.handle_timeout(due - Duration::from_millis(1));
    assert!(a.poll_event().is_none());
    a.handle_timeout(due);
    assert!(matches!(
        a.poll_event(),
        Some(Event::ReportTimeout { message_id, .. }) if message_id == id
    ));
    assert_eq!(a.stats(), ConnectionStats::default());
}

#[test]
fn connection_lost_fails_everything_in_flight() {
    let cfg = Config {
        chunk_size: 1000,
        ..Config::default()
    };
    let mut p = Pair::new(cfg, Config::default());
    let (sa, _) = p.connect();
    let id =
        p.a.conn
            .send_message(sa, OutgoingMessage::new("text/plain", payload(10_000, 1)))
            .unwrap();
    p.a.budget = 2;
    p.step();
    p.step();
    p.a.conn.connection_lost();
    p.b.conn.connection_lost();
    p.step();
    assert_eq!(failed(&p.a, id), Some((408, FailureSource::ConnectionLost)));
    assert!(p.b.events.iter().any(|e| matches!(
        e,
        Event::MessageAborted {
            reason: AbortReason::ConnectionLost,
            ..
        }
    )));
    assert!(p.a.conn.poll_transmit(p.now).is_none());
    assert_eq!(
        p.a.conn
            .send_message(sa, OutgoingMessage::new("text/plain", "x")),
        Err(SendError::ConnectionFailed)
    );
}

#[test]
fn duplicate_message_ids_and_bad_headers_are_refused() {
    let mut p = Pair::new(Config::default(), Config::default());
    let (sa, _) = p.connect();
    let id = Ident::new(b"fixed-id-1").unwrap();
    p.a.conn
        .send_message(sa, OutgoingMessage::new("text/plain", "a").message_id(id))
        .unwrap();
    assert_eq!(
        p.a.conn
            .send_message(sa, OutgoingMessage::new("text/plain", "b").message_id(id)),
        Err(SendError::DuplicateMessageId)
    );
    assert_eq!(
        p.a.conn
            .send_message(sa, OutgoingMessage::new("no slash", "b")),
        Err(SendError::BadContentType)
    );
    assert!(matches!(
        p.a.conn.send_message(
            sa,
            OutgoingMessage::new("text/plain", "b").header("Byte-Range", "1-1/1")
        ),
        Err(SendError::BadHeader(_))
    ));
    assert!(matches!(
        p.a.conn.send_message(
            sa,
            OutgoingMessage::new("text/plain", "b").header("X-Ok", "a\r\nInjected: 1")
        ),
        Err(SendError::BadHeader(_))
    ));
    let ok =
        p.a.conn
            .send_message(
                sa,
                OutgoingMessage::new("text/plain", "b").header("Content-Disposition", "inline"),
            )
            .unwrap();
    p.drive();
    let m = p.b.messages();
    let m = m.iter().find(|m| m.message_id == ok).unwrap();
    assert_eq!(m.head.header("Content-Disposition"), Some(&b"inline"[..]));
}

#[test]
fn sending_does_not_copy_the_body() {
    let cfg = Config {
        chunk_size: 10_000,
        transmit_slice: 4096,
        ..Config::default()
    };
    let mut c = Connection::new(cfg, rng(4));
    let s = c
        .add_session(SessionConfig::new(uri(A_URI), vec![uri(B_URI)]))
        .unwrap();
    let body = payload(50_000, 1);
    c.send_message(s, OutgoingMessage::new("text/plain", body.clone()))
        .unwrap();
    let range = body.as_ptr() as usize..body.as_ptr() as usize + body.len();
    let now = std::time::Instant::now();
    let mut total = 0;
    while let Some(t) = c.poll_transmit(now) {
        if !t.body.is_empty() {
            assert!(
                range.contains(&(t.body.as_ptr() as usize)),
                "body slice was copied"
            );
            total += t.body.len();
        }
        assert!(t.body.len() <= 4096);
    }
    assert_eq!(total, 50_000);
}

#[test]
fn a_single_chunk_message_is_delivered_without_copying() {
    let mut b = Connection::new(Config::default(), rng(4));
    b.add_session(SessionConfig::new(uri(B_URI), vec![uri(A_URI)]))
        .unwrap();
    let bytes = Chunk {
        body: &[5; 3000],
        ..Chunk::default()
    }
    .bytes();
    let mut buf = bytes::BytesMut::from(&bytes[..]);
    let range = buf.as_ptr() as usize..buf.as_ptr() as usize + buf.len();
    b.handle_input(std::time::Instant::now(), &mut buf).unwrap();
    let Some(Event::Message(m)) = b.poll_event() else {
        panic!("no message")
    };
    assert_eq!(m.body.len(), 3000);
    assert!(
        range.contains(&(m.body.as_ptr() as usize)),
        "body was copied"
    );
}

#[test]
fn removing_a_session_aborts_its_chunk_in_progress_silently() {
    let cfg = Config {
        chunk_size: usize::MAX,
        transmit_slice: 4096,
        ..Config::default()
    };
    let mut p = Pair::new(cfg, Config::default());
    let (sa, _) = p.connect();
    p.a.conn
        .send_message(sa, OutgoingMessage::new("text/plain", payload(100_000, 1)))
        .unwrap();
    p.a.conn
        .send_message(sa, OutgoingMessage::new("text/plain", "queued"))
        .unwrap();
    p.a.budget = 1;
    p.step();
    assert!(p.a.conn.remove_session(sa).is_some());
    p.a.budget = usize::MAX;
    p.drive();
    let sends: Vec<_> =
        p.a.frames()
            .into_iter()
            .filter(|f| f.is_method("SEND"))
            .collect();
    assert_eq!(sends.last().unwrap().flag, Continuation::Abort);
    assert!(
        p.b.messages().is_empty(),
        "the queued message is dropped too"
    );
    assert!(p.a.events.is_empty());
    assert_eq!(p.a.conn.stats(), ConnectionStats::default());
    assert_eq!(
        p.a.conn
            .send_message(sa, OutgoingMessage::new("text/plain", "x")),
        Err(SendError::UnknownSession)
    );
}

#[test]
fn a_481_fails_every_message_of_the_session() {
    let cfg = Config {
        chunk_size: 1000,
        ..Config::default()
    };
    let mut p = Pair::new(cfg, Config::default());
    let (sa, sb) = p.connect();
    let ids: Vec<_> = (0..3)
        .map(|i| {
            p.a.conn
                .send_message(sa, OutgoingMessage::new("text/plain", payload(5000, i)))
                .unwrap()
        })
        .collect();
    // b forgets the session: its next requests get 481.
    p.b.conn.remove_session(sb);
    p.table.remove(&uri(B_URI));
    p.a.budget = 1;
    p.drive();
    for id in &ids {
        assert_eq!(failed(&p.a, *id).map(|f| f.0), Some(481));
    }
    let refused =
        p.a.events
            .iter()
            .filter(|e| matches!(e, Event::SessionRefused { code: 481, .. }))
            .count();
    assert_eq!(refused, 1);
    assert_eq!(p.a.conn.stats().outgoing_messages, 0);
    // Far fewer than the 15 000 bytes queued went out.
    let sent: usize = p.a.frames().iter().map(|f| f.body.len()).sum();
    assert!(sent < 15_000, "{sent}");
}
