//! NICKNAME requests (RFC 7701 §7) sent by the engine: wire form and how answers come back.

use super::pair::*;
use crate::session::*;
use std::time::Duration;

fn nickname_results(side: &mut Side) -> Vec<u16> {
    side.take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::NicknameResult { code, .. } => Some(code),
            _ => None,
        })
        .collect()
}

#[test]
fn nickname_request_is_quoted_without_reports_and_its_answer_is_an_event() {
    let mut p = Pair::new(Config::default(), Config::default());
    let (sa, _) = p.connect();
    p.a.record = true;
    let tid = p.a.conn.send_nickname(sa, "Al \"the\" ice").unwrap();
    p.drive();
    let f =
        p.a.frames()
            .into_iter()
            .find(|f| f.is_method("NICKNAME"))
            .expect("a NICKNAME went out");
    assert_eq!(f.head.transaction_id(), tid.as_bytes());
    let nick = f.head.use_nickname().unwrap().unwrap();
    assert_eq!(nick, "Al \"the\" ice");
    assert!(f.head.to_path_raw().starts_with(B_URI.as_bytes()));
    assert!(f.head.raw(crate::wire::HeaderName::SuccessReport).is_none());
    assert!(f.head.raw(crate::wire::HeaderName::FailureReport).is_none());
    // The engine on the other side does not do nicknames: 501 comes back as the result.
    assert_eq!(nickname_results(&mut p.a), vec![501]);
}

#[test]
fn unanswered_nickname_times_out_with_408_and_a_lost_connection_fails_it() {
    let mut p = Pair::new(Config::default(), Config::default());
    let (sa, _) = p.connect();
    p.b.mute = true;
    p.a.conn.send_nickname(sa, "bob").unwrap();
    p.drive();
    assert!(nickname_results(&mut p.a).is_empty());
    p.advance(Duration::from_secs(31));
    assert_eq!(nickname_results(&mut p.a), vec![408]);
    p.a.conn.send_nickname(sa, "bob2").unwrap();
    p.drive();
    p.a.conn.connection_lost();
    p.a.events
        .extend(std::iter::from_fn(|| p.a.conn.poll_event()));
    assert_eq!(nickname_results(&mut p.a), vec![408]);
}

#[test]
fn nickname_refuses_line_breaks_long_values_and_unknown_sessions() {
    let mut p = Pair::new(Config::default(), Config::default());
    let (sa, _) = p.connect();
    assert!(matches!(
        p.a.conn.send_nickname(sa, "a\r\nTo-Path: x"),
        Err(SendError::BadHeader(_))
    ));
    let long = "x".repeat(1024);
    assert!(p.a.conn.send_nickname(sa, &long).is_err());
    assert!(p.a.conn.send_nickname(sa, &"y".repeat(1023)).is_ok());
    p.a.conn.remove_session(sa);
    assert_eq!(
        p.a.conn.send_nickname(sa, "z"),
        Err(SendError::UnknownSession)
    );
}
