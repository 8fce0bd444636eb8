//! Error responses: 481, 506, 415, 501, 400, 413, and how the sender reacts to them.

use super::craft::*;
use super::pair::*;
use crate::session::*;
use crate::wire::{Continuation, OwnedMsrpUri};
use bytes::BytesMut;
use std::sync::Arc;
use std::time::Instant;

fn codes(side: &Side) -> Vec<u16> {
    side.frames().iter().filter_map(|f| f.code()).collect()
}

#[test]
fn unknown_session_gets_481_and_the_sender_stops_using_it() {
    let mut p = Pair::new(Config::default(), Config::default());
    // b's table does not know the URI a opens.
    let sa =
        p.a.conn
            .open_session(SessionConfig::new(uri(A_URI), vec![uri(B_URI)]))
            .unwrap();
    p.drive();
    let f = p.b.frames();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].code(), Some(481));
    // The 481 answers a SEND: To-Path is the previous hop, From-Path the URI asked for.
    assert_eq!(f[0].head.to_path_raw(), A_URI.as_bytes());
    assert_eq!(f[0].head.from_path_raw(), B_URI.as_bytes());
    assert!(p
        .a
        .events
        .iter()
        .any(|e| matches!(e, Event::SessionRefused { session, code: 481 } if *session == sa)));
    assert_eq!(
        p.a.conn
            .send_message(sa, OutgoingMessage::new("text/plain", "hi")),
        Err(SendError::SessionRefused(481))
    );
}

#[test]
fn to_path_with_more_than_one_uri_gets_481_at_an_endpoint() {
    let mut p = Pair::new(Config::default(), Config::default());
    p.connect();
    p.inject_to_b(&raw(&format!(
        "MSRP tid00481 SEND\nTo-Path: msrp://relay.example:9/r;tcp {B_URI}\nFrom-Path: {A_URI}\nMessage-ID: msg00481\n-------tid00481$\n"
    )));
    assert_eq!(codes(&p.b).last(), Some(&481));
}

#[test]
fn session_bound_to_another_connection_gets_506() {
    let mut table = SessionTable::new();
    table.insert(SessionConfig::new(uri(B_URI), vec![uri(A_URI)]));
    let now = Instant::now();
    let mut first = Connection::new(Config::default(), rng(10));
    let mut second = Connection::new(Config::default(), rng(11));
    let bind = raw(&format!(
        "MSRP tidbind1 SEND\nTo-Path: {B_URI}\nFrom-Path: {A_URI}\nMessage-ID: msgbind1\n-------tidbind1$\n"
    ));
    first
        .handle_input_with(
            now,
            &mut BytesMut::from(&bind[..]),
            &mut table.for_connection(1),
        )
        .unwrap();
    assert!(matches!(
        first.poll_event(),
        Some(Event::SessionBound { .. })
    ));
    second
        .handle_input_with(
            now,
            &mut BytesMut::from(&bind[..]),
            &mut table.for_connection(2),
        )
        .unwrap();
    let mut out = BytesMut::new();
    while let Some(t) = first.poll_transmit(now) {
        t.write_to(&mut out);
    }
    assert_eq!(parse_frames(&out)[0].code(), Some(200));
    out.clear();
    while let Some(t) = second.poll_transmit(now) {
        t.write_to(&mut out);
    }
    assert_eq!(parse_frames(&out)[0].code(), Some(506));
    assert!(second.poll_event().is_none());
    assert_eq!(table.bound_to(&uri(B_URI)), Some(1));
}

#[test]
fn strict_from_path_checks_the_peer_uri() {
    let cfg = Config {
        strict_from_path: true,
        ..Config::default()
    };
    let mut p = Pair::new(Config::default(), cfg);
    p.connect();
    p.inject_to_b(&raw(&format!(
        "MSRP tidstrc1 SEND\nTo-Path: {B_URI}\nFrom-Path: msrp://evil.example:1/x;tcp\nMessage-ID: msgstrc1\n-------tidstrc1$\n"
    )));
    assert_eq!(codes(&p.b).last(), Some(&481));
    p.inject_to_b(&raw(&format!(
        "MSRP tidstrc2 SEND\nTo-Path: {B_URI}\nFrom-Path: msrp://relay.example:1/r;tcp {A_URI}\nMessage-ID: msgstrc2\n-------tidstrc2$\n"
    )));
    assert_eq!(codes(&p.b).last(), Some(&200));
}

#[test]
fn unsupported_media_type_gets_415() {
    let cfg_b = Config {
        accept_types: Arc::new(AcceptTypes::parse("text/plain message/cpim").unwrap()),
        ..Config::default()
    };
    let mut p = Pair::new(Config::default(), cfg_b);
    let (sa, _) = p.connect();
    let id =
        p.a.conn
            .send_message(sa, OutgoingMessage::new("image/png", payload(10, 1)))
            .unwrap();
    let ok =
        p.a.conn
            .send_message(
                sa,
                OutgoingMessage::new("multipart/mixed; boundary=x", "--x--"),
            )
            .unwrap();
    p.drive();
    assert!(p.a.events.iter().any(|e| matches!(
        e,
        Event::SendFailed(SendFailure { message_id: Some(m), code: 415, source: FailureSource::Response, .. }) if *m == id
    )));
    assert!(p
        .a
        .events
        .iter()
        .any(|e| matches!(e, Event::MessageAccepted { message_id, .. } if *message_id == ok)));
    assert_eq!(
        p.b.messages().len(),
        1,
        "multipart/mixed is always accepted"
    );
}

#[test]
fn session_accept_types_override_the_default() {
    let mut p = Pair::new(Config::default(), Config::default());
    let mut s = SessionConfig::new(uri(B_URI), vec![uri(A_URI)]);
    s.accept_types = Some(Arc::new(AcceptTypes::parse("message/cpim").unwrap()));
    p.table.insert(s);
    let sa =
        p.a.conn
            .open_session(SessionConfig::new(uri(A_URI), vec![uri(B_URI)]))
            .unwrap();
    p.a.conn
        .send_message(sa, OutgoingMessage::new("text/plain", "x"))
        .unwrap();
    p.drive();
    assert_eq!(codes(&p.b), vec![200, 415]);
}

#[test]
fn unknown_methods_get_501_with_the_full_path() {
    let mut p = Pair::new(Config::default(), Config::default());
    p.connect();
    for m in ["FOO", "NICKNAME", "AUTH"] {
        p.inject_to_b(&raw(&format!(
            "MSRP tid00501 {m}\nTo-Path: {B_URI}\nFrom-Path: msrp://relay.example:1/r;tcp {A_URI}\n-------tid00501$\n"
        )));
        let f = p.b.frames().pop().unwrap();
        assert_eq!(f.code(), Some(501), "{m}");
        assert_eq!(
            f.head.to_path_raw(),
            format!("msrp://relay.example:1/r;tcp {A_URI}").as_bytes()
        );
    }
}

#[test]
fn malformed_requests_get_400() {
    let mut p = Pair::new(Config::default(), Config::default());
    p.connect();
    // Byte-Range that does not parse: rejected by the parser, answered from the session.
    p.inject_to_b(&raw(&format!(
        "MSRP tid00400 SEND\nTo-Path: {B_URI}\nFrom-Path: {A_URI}\nMessage-ID: msg00400\nByte-Range: 1-x/5\nContent-Type: text/plain\n\nhello\n-------tid00400$\n"
    )));
    let f = p.b.frames().pop().unwrap();
    assert_eq!(f.code(), Some(400));
    assert_eq!(f.head.transaction_id(), b"tid00400");
    // A SEND with a body but no Message-ID.
    p.inject_to_b(&raw(&format!(
        "MSRP tid00401 SEND\nTo-Path: {B_URI}\nFrom-Path: {A_URI}\nContent-Type: text/plain\n\nhello\n-------tid00401$\n"
    )));
    assert_eq!(p.b.frames().pop().unwrap().code(), Some(400));
    // Inconsistent Byte-Range (end before start).
    p.inject_to_b(
        &Chunk {
            tid: "tid00402",
            range: Some((10, Some(5), Some(20))),
            body: b"x",
            ..Chunk::default()
        }
        .bytes(),
    );
    assert_eq!(p.b.frames().pop().unwrap().code(), Some(400));
    // The stream goes on: a good message after the bad ones is delivered.
    p.inject_to_b(
        &Chunk {
            tid: "tid00403",
            body: b"fine",
            ..Chunk::default()
        }
        .bytes(),
    );
    assert_eq!(&p.b.messages()[0].body[..], b"fine");
    assert_eq!(p.b.frames().pop().unwrap().code(), Some(200));
}

#[test]
fn garbage_is_a_connection_error() {
    let mut c = Connection::new(Config::default(), rng(3));
    let r = c.handle_input(
        Instant::now(),
        &mut BytesMut::from(&b"HTTP/1.1 200 OK\r\n"[..]),
    );
    assert!(matches!(r, Err(ConnectionError::Wire(_))));
    assert!(c.is_failed());
    assert_eq!(
        c.handle_input(Instant::now(), &mut BytesMut::new()),
        Err(ConnectionError::Failed)
    );
}

#[test]
fn message_larger_than_the_limit_gets_413_and_the_sender_stops_mid_chunk() {
    let mut cfg_b = Config::default();
    cfg_b.reassembly.max_message_size = 100_000;
    let cfg_a = Config {
        chunk_size: usize::MAX,
        transmit_slice: 4096,
        ..Config::default()
    };
    let mut p = Pair::new(cfg_a, cfg_b);
    let (sa, _) = p.connect();
    // Let the 413 come back while the (single, interruptible) chunk is being written.
    p.a.budget = 2;
    p.b.budget = 2;
    let len = 4 * 1024 * 1024;
    let id =
        p.a.conn
            .send_message(
                sa,
                OutgoingMessage::new("application/octet-stream", payload(len, 2)),
            )
            .unwrap();
    p.drive();
    assert!(p.a.events.iter().any(|e| matches!(
        e,
        Event::SendFailed(SendFailure { message_id: Some(m), code: 413, .. }) if *m == id
    )));
    let sends: Vec<_> =
        p.a.frames()
            .into_iter()
            .filter(|f| f.is_method("SEND"))
            .collect();
    let last = sends.last().unwrap();
    assert_eq!(
        last.flag,
        Continuation::Abort,
        "the chunk in progress ends with #"
    );
    assert!(
        p.a.sent < 64 * 1024,
        "sender stopped early: {} bytes of {len}",
        p.a.sent
    );
    assert!(p.b.messages().is_empty());
    assert_eq!(codes(&p.b).last(), Some(&413));
    assert_eq!(p.a.conn.stats().outgoing_messages, 0);
}

#[test]
fn unknown_total_exceeding_the_limit_is_stopped_during_the_body() {
    let mut cfg_b = Config::default();
    cfg_b.reassembly.max_message_size = 1000;
    let mut p = Pair::new(Config::default(), cfg_b);
    let (_, sb) = p.connect();
    p.inject_to_b(
        &Chunk {
            tid: "tid00413",
            range: Some((1, None, None)),
            body: &[7; 600],
            flag: Continuation::More,
            ..Chunk::default()
        }
        .bytes(),
    );
    p.inject_to_b(
        &Chunk {
            tid: "tid00414",
            range: Some((601, None, None)),
            body: &[7; 600],
            flag: Continuation::More,
            ..Chunk::default()
        }
        .bytes(),
    );
    assert_eq!(codes(&p.b)[1..], [200, 413]);
    assert!(p.b.events.iter().any(|e| matches!(
        e,
        Event::MessageAborted { session, reason: AbortReason::Refused(413), .. } if *session == sb
    )));
    assert_eq!(p.b.conn.stats().buffered_bytes, 0);
    // Further chunks of that message are refused without buffering.
    p.inject_to_b(
        &Chunk {
            tid: "tid00415",
            range: Some((1201, None, None)),
            body: &[7; 10],
            ..Chunk::default()
        }
        .bytes(),
    );
    assert_eq!(codes(&p.b).last(), Some(&413));
    assert_eq!(p.b.conn.stats().incomplete_messages, 0);
}

#[test]
fn chunk_larger_than_the_parser_limit_gets_413() {
    let mut cfg_b = Config::default();
    cfg_b.reassembly.max_message_size = 500;
    let mut p = Pair::new(Config::default(), cfg_b);
    p.connect();
    p.inject_to_b(
        &Chunk {
            tid: "tidbig01",
            body: &[1; 600],
            ..Chunk::default()
        }
        .bytes(),
    );
    assert_eq!(codes(&p.b).last(), Some(&413));
    p.inject_to_b(
        &Chunk {
            tid: "tidbig02",
            message_id: "msgsmall",
            body: b"ok",
            ..Chunk::default()
        }
        .bytes(),
    );
    assert_eq!(&p.b.messages()[0].body[..], b"ok");
}

#[test]
fn reports_are_never_answered_and_unknown_ones_ignored() {
    let mut p = Pair::new(Config::default(), Config::default());
    p.connect();
    let before = p.b.frames().len();
    p.inject_to_b(&raw(&format!(
        "MSRP tidrep01 REPORT\nTo-Path: {B_URI}\nFrom-Path: {A_URI}\nMessage-ID: nosuchmsg\nByte-Range: 1-5/5\nStatus: 000 200 OK\n-------tidrep01$\n"
    )));
    p.inject_to_b(&raw(&format!(
        "MSRP tidrep02 REPORT\nTo-Path: msrp://b.example.com:7002/unknown;tcp\nFrom-Path: {A_URI}\nMessage-ID: nosuchmsg\nStatus: 000 481\n-------tidrep02$\n"
    )));
    assert_eq!(p.b.frames().len(), before, "no response, no REPORT");
    assert!(p.b.events.is_empty());
}

#[test]
fn own_uri_is_unique_per_connection() {
    let mut c = Connection::new(Config::default(), rng(3));
    let s = SessionConfig::new(uri(A_URI), vec![uri(B_URI)]);
    c.add_session(s.clone()).unwrap();
    let same: OwnedMsrpUri = uri("MSRP://A.EXAMPLE.COM:7001/alice1;TCP");
    assert_eq!(
        c.add_session(SessionConfig::new(same, vec![])),
        Err(SessionError::DuplicateUri)
    );
}
