//! AUTH as a client (RFC 4976 §5.1) against a scripted relay.

use super::pair::*;
use crate::session::*;
use crate::wire::{FrameHead, HeaderName, Ident, ResponseWriter};
use bytes::BytesMut;
use std::time::{Duration, Instant};

const RELAY: &str = "msrps://relay.example.com;tcp";
const CLIENT: &str = "msrps://client.invalid:40001/c0ffee11;tcp";
const USE_PATH: &str = "msrps://relay.example.com:2855/Zx81kQ0pP2mT;tcp";

fn out(c: &mut Connection, now: Instant) -> Vec<Frame> {
    let mut w = BytesMut::new();
    while let Some(t) = c.poll_transmit(now) {
        t.write_to(&mut w);
    }
    parse_frames(&w)
}

fn answer(req: &FrameHead, code: u16, headers: &[(HeaderName, &str)]) -> BytesMut {
    let mut b = BytesMut::new();
    let mut w = ResponseWriter::new(&mut b, req, code, None, &[RELAY]).unwrap();
    for (h, v) in headers {
        w = w.known(*h, v.as_bytes());
    }
    w.end();
    b
}

fn start(responder: impl AuthResponder + 'static) -> (Connection, Instant, Frame) {
    let mut c = Connection::new(Config::default(), rng(21));
    let now = Instant::now();
    c.authenticate(
        AuthRequest {
            to_path: vec![uri(RELAY)],
            from: uri(CLIENT),
            expires: Some(1800),
        },
        responder,
    )
    .unwrap();
    let f = out(&mut c, now).remove(0);
    (c, now, f)
}

const CHALLENGE: &str = "Digest realm=\"relay.example.com\", qop=\"auth\", nonce=\"8f1e22\"";

#[test]
fn challenge_response_then_use_path() {
    let (mut c, now, first) = start(PasswordDigest::new("alice", "secret", 99));
    assert!(first.is_method("AUTH"));
    assert_eq!(first.head.to_path_raw(), RELAY.as_bytes());
    assert_eq!(first.head.from_path_raw(), CLIENT.as_bytes());
    assert_eq!(first.head.expires().unwrap().unwrap(), 1800);
    assert!(first.head.authorization().is_none());
    assert_eq!(
        c.authenticate(
            AuthRequest {
                to_path: vec![uri(RELAY)],
                from: uri(CLIENT),
                expires: None
            },
            PasswordDigest::new("x", "y", 1)
        ),
        Err(SendError::AuthInProgress)
    );

    let mut r = answer(
        &first.head,
        401,
        &[(HeaderName::WwwAuthenticate, CHALLENGE)],
    );
    c.handle_input(now, &mut r).unwrap();
    let second = out(&mut c, now).remove(0);
    assert!(second.is_method("AUTH"));
    assert_ne!(second.head.transaction_id(), first.head.transaction_id());
    let auth = second.head.authorization().unwrap().unwrap();
    assert!(auth.is_digest());
    let get = |n: &str| String::from_utf8(auth.get(n).unwrap().into_owned()).unwrap();
    assert_eq!(get("username"), "alice");
    assert_eq!(get("uri"), RELAY, "digest-uri = rightmost To-Path URI");
    assert_eq!(get("qop"), "auth");
    assert_eq!(get("nc"), "00000001");
    let want = digest_response(
        "alice",
        "relay.example.com",
        "secret",
        "AUTH",
        RELAY,
        "8f1e22",
        Some(("00000001", &get("cnonce"))),
    );
    assert_eq!(get("response"), want);

    let mut ok = answer(
        &second.head,
        200,
        &[
            (HeaderName::UsePath, USE_PATH),
            (HeaderName::Expires, "900"),
        ],
    );
    c.handle_input(now, &mut ok).unwrap();
    match c.poll_event() {
        Some(Event::AuthSucceeded { use_path, expires }) => {
            assert_eq!(use_path, vec![uri(USE_PATH)]);
            assert_eq!(expires, Some(900));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.use_path(), &[uri(USE_PATH)]);

    // Later requests: To-Path = Use-Path + the peer's path.
    let s = c
        .add_session(SessionConfig::new(uri(CLIENT), vec![uri(B_URI)]))
        .unwrap();
    c.send_message(s, OutgoingMessage::new("text/plain", "via relay"))
        .unwrap();
    let send = out(&mut c, now).remove(0);
    assert_eq!(
        send.head.to_path_raw(),
        format!("{USE_PATH} {B_URI}").as_bytes()
    );
    assert_eq!(send.head.from_path_raw(), CLIENT.as_bytes());
}

#[test]
fn rejected_credentials_end_with_401() {
    let (mut c, now, first) = start(PasswordDigest::new("alice", "wrong", 1));
    let mut f = first;
    for _ in 0..2 {
        let mut r = answer(&f.head, 401, &[(HeaderName::WwwAuthenticate, CHALLENGE)]);
        c.handle_input(now, &mut r).unwrap();
        assert!(c.poll_event().is_none());
        f = out(&mut c, now).remove(0);
        assert!(f.head.authorization().is_some());
    }
    let mut r = answer(&f.head, 401, &[(HeaderName::WwwAuthenticate, CHALLENGE)]);
    c.handle_input(now, &mut r).unwrap();
    assert!(matches!(
        c.poll_event(),
        Some(Event::AuthFailed { code: 401, .. })
    ));
    assert!(out(&mut c, now).is_empty());
}

#[test]
fn expires_out_of_bounds_and_timeout() {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    // Any closure can answer the challenge (the shared digest module plugs in here).
    let (mut c, now, first) = start(move |ch: &Challenge| {
        log.lock().unwrap().push(ch.clone());
        Some("Digest username=\"u\", realm=\"r\", nonce=\"n\", response=\"00\"".to_string())
    });
    let mut r = answer(
        &first.head,
        401,
        &[(HeaderName::WwwAuthenticate, CHALLENGE)],
    );
    c.handle_input(now, &mut r).unwrap();
    assert_eq!(seen.lock().unwrap()[0].nonce, "8f1e22");
    assert_eq!(seen.lock().unwrap()[0].digest_uri, RELAY);
    let second = out(&mut c, now).remove(0);
    let mut r = answer(&second.head, 423, &[(HeaderName::MinExpires, "3600")]);
    c.handle_input(now, &mut r).unwrap();
    assert!(matches!(
        c.poll_event(),
        Some(Event::AuthFailed {
            code: 423,
            min_expires: Some(3600),
            max_expires: None
        })
    ));

    // No answer at all: 408 after the transaction timeout.
    c.authenticate(
        AuthRequest {
            to_path: vec![uri(RELAY)],
            from: uri(CLIENT),
            expires: None,
        },
        PasswordDigest::new("a", "b", 1),
    )
    .unwrap();
    assert_eq!(out(&mut c, now).len(), 1);
    c.handle_timeout(now + Duration::from_secs(31));
    assert!(matches!(
        c.poll_event(),
        Some(Event::AuthFailed { code: 408, .. })
    ));
    // Unknown responses are ignored.
    let tid = Ident::new(b"nosuchtid").unwrap();
    let mut b = BytesMut::new();
    ResponseWriter::with_paths(&mut b, tid, 200, None, &[CLIENT], &[RELAY]).end();
    c.handle_input(now, &mut b).unwrap();
    assert!(c.poll_event().is_none());
}
