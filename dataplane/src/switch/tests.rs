//! Unit tests of the switch's pure parts: accept-type matching, the bind slot race, the rate
//! bucket, session spec validation, and the CPIM URI keys (property tests).

use std::sync::Arc;
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::api::{
    AcceptTypes, BindSlot, BindState, Participant, RateLimit, SessionSpec, SpecError,
};
use super::roster::TokenBucket;
use super::uri::cpim_uri_key;

#[test]
fn accept_types_match_like_rfc_4975_section_8_6() {
    let t = AcceptTypes::parse("text/plain image/* application/json;charset=utf-8");
    assert!(t.accepts(b"text/plain"));
    assert!(
        t.accepts(b"TEXT/Plain; charset=UTF-8"),
        "case and parameters ignored"
    );
    assert!(t.accepts(b"image/png"));
    assert!(
        t.accepts(b"application/json"),
        "an entry with parameters matches without"
    );
    assert!(!t.accepts(b"text/html"));
    assert!(!t.accepts(b"image"));
    assert!(!t.accepts_any());
    assert!(AcceptTypes::parse("text/html *").accepts(b"video/mp4"));
    assert!(AcceptTypes::any().accepts(b"anything/at-all"));
    let none = AcceptTypes::parse("");
    assert!(
        !none.accepts(b"text/plain"),
        "no default wrapped type (RFC 7701 §5.2)"
    );
    assert!(!AcceptTypes::parse("bogus /x").accepts(b"bogus/x"));
}

#[test]
fn one_worker_wins_the_bind_slot() {
    let slot = Arc::new(BindSlot::default());
    assert_eq!(slot.state(), BindState::Free);
    let winners: Vec<bool> = (0..8)
        .map(|w| {
            let s = slot.clone();
            std::thread::spawn(move || s.claim(w).is_ok())
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    assert_eq!(winners.iter().filter(|w| **w).count(), 1);
    let BindState::Bound(w) = slot.state() else {
        panic!("bound")
    };
    assert!(winners[w]);
    assert_eq!(slot.claim(99), Err(BindState::Bound(w)));
    slot.close();
    assert_eq!(slot.claim(0), Err(BindState::Closed));
    assert_eq!(slot.state(), BindState::Closed);
}

#[test]
fn token_bucket_allows_a_burst_then_the_rate() {
    let epoch = Instant::now();
    let rate = RateLimit {
        per_second: 2.0,
        burst: 3,
    };
    let mut b = TokenBucket::default();
    let t0 = epoch + Duration::from_secs(10);
    assert!((0..3).all(|_| b.take(t0, epoch, rate)), "the burst");
    assert!(!b.take(t0, epoch, rate), "then nothing at once");
    assert!(
        b.take(t0 + Duration::from_millis(600), epoch, rate),
        "2/s refills one in 0.5 s"
    );
    assert!(!b.take(t0 + Duration::from_millis(700), epoch, rate));
    // Long idle: capped at the burst.
    let later = t0 + Duration::from_secs(3600);
    assert!((0..3).all(|_| b.take(later, epoch, rate)));
    assert!(!b.take(later, epoch, rate));
    // Unlimited.
    let off = RateLimit {
        per_second: 0.0,
        burst: 0,
    };
    assert!((0..1000).all(|_| b.take(later, epoch, off)));
}

#[test]
fn session_specs_are_validated() {
    let p = Participant::new("alice", &["sip:alice@example.com"]);
    let s = SessionSpec::new(
        1,
        "msrp://127.0.0.1:2855/abc123;tcp",
        "msrp://relay.example:2855/r1;tcp msrp://10.0.0.1:9/peer;tcp",
        p.clone(),
    )
    .unwrap();
    assert_eq!(s.session_id(), "abc123");
    assert_eq!(
        s.peer_path(),
        b"msrp://relay.example:2855/r1;tcp msrp://10.0.0.1:9/peer;tcp"
    );
    assert!(s.local_uri().is_some());
    let bad = |l: &str, r: &str| SessionSpec::new(1, l, r, p.clone()).unwrap_err();
    assert_eq!(
        bad("msrp://127.0.0.1:2855;tcp", "msrp://x:1/a;tcp"),
        SpecError::NoSessionId
    );
    assert!(matches!(
        bad("http://x/", "msrp://x:1/a;tcp"),
        SpecError::LocalUri(_)
    ));
    assert_eq!(bad("msrp://127.0.0.1:2855/s;tcp", ""), SpecError::PeerPath);
    assert_eq!(
        bad("msrp://127.0.0.1:2855/s;tcp", "msrp://x:1/a;tcp "),
        SpecError::PeerPath
    );
    assert_eq!(
        bad("msrp://127.0.0.1:2855/s;tcp", "not a uri"),
        SpecError::PeerPath
    );
}

proptest! {
    /// Keys never panic, and folding the case of scheme and host never changes them.
    #[test]
    fn cpim_keys_fold_scheme_and_host(user in "[a-zA-Z0-9._+-]{1,16}", host in "[a-z0-9.-]{1,20}",
                                      junk in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = cpim_uri_key(&junk);
        let a = format!("sip:{user}@{host}");
        let b = format!("SIP:{user}@{}", host.to_ascii_uppercase());
        prop_assert_eq!(cpim_uri_key(a.as_bytes()), cpim_uri_key(b.as_bytes()));
        let c = format!("<sip:{user}@{host};transport=tcp>");
        prop_assert_eq!(cpim_uri_key(a.as_bytes()), cpim_uri_key(c.as_bytes()));
    }

    /// The user part is compared exactly.
    #[test]
    fn cpim_keys_keep_the_user_part(user in "[a-z]{1,12}", host in "[a-z]{1,10}\\.[a-z]{2,3}") {
        let a = format!("sip:{user}@{host}");
        let b = format!("sip:{}@{host}", user.to_ascii_uppercase());
        prop_assert_ne!(cpim_uri_key(a.as_bytes()), cpim_uri_key(b.as_bytes()));
    }
}

mod in_memory {
    //! The whole relay + switch service on an in-memory backend.
    use super::super::api::RoomPolicy;
    use super::super::testkit::{cpim, MemSwitch};
    use crate::wire::{ByteRange, Continuation, Ident, RequestWriter};
    use bytes::BytesMut;
    use proptest::prelude::*;

    fn to(i: usize) -> String {
        format!("msrp://127.0.0.1:2855/s{i};tcp")
    }

    fn from(i: usize) -> String {
        format!("msrp://client.invalid:9/c{i};tcp")
    }

    fn bind(i: usize) -> Vec<u8> {
        let mut b = BytesMut::new();
        RequestWriter::new(
            &mut b,
            Ident::new(b"bind0001").unwrap(),
            "SEND",
            &[to(i)],
            &[from(i)],
        )
        .message_id(b"bindmsg1")
        .end(Continuation::Complete);
        b.to_vec()
    }

    fn message(i: usize, cpim_to: &str, mid: &str, flag: Continuation, start: u64) -> Vec<u8> {
        let body = cpim(
            &format!("sip:p{i}@example.com"),
            cpim_to,
            "text/plain",
            b"hi there",
        );
        let mut b = BytesMut::new();
        RequestWriter::new(
            &mut b,
            Ident::new(b"abcd1234").unwrap(),
            "SEND",
            &[to(i)],
            &[from(i)],
        )
        .message_id(mid.as_bytes())
        .byte_range(ByteRange {
            start,
            end: Some(start + body.len() as u64 - 1),
            total: None,
        })
        .content_type(b"message/cpim")
        .body(&body, flag);
        b.to_vec()
    }

    #[test]
    fn harness_delivers_a_message() {
        let mut m = MemSwitch::new(RoomPolicy::default());
        let a = m.net.accept();
        let b = m.net.accept();
        m.step();
        m.net.feed(a, &bind(1));
        m.net.feed(b, &bind(2));
        m.step();
        assert!(String::from_utf8_lossy(&m.net.output(a)).contains(" 200 "));
        assert!(String::from_utf8_lossy(&m.net.output(b)).contains(" 200 "));
        m.net.feed(
            a,
            &message(
                1,
                "sip:room@example.com",
                "mid-0001",
                Continuation::Complete,
                1,
            ),
        );
        m.step();
        let got = String::from_utf8_lossy(&m.net.output(b)).into_owned();
        assert!(
            got.starts_with("MSRP ") && got.contains("hi there"),
            "{got}"
        );
        assert!(got.contains(&format!("To-Path: {}\r\n", from(2))));
        assert_eq!(m.stats().deliveries, 1);
        let rooms = m.stats().per_room;
        assert_eq!(rooms.len(), 1, "{rooms:?}");
        assert_eq!(
            (rooms[0].bound, rooms[0].messages, rooms[0].deliveries),
            (2, 1, 1),
            "{rooms:?}"
        );
        m.net.hang_up(a);
        m.step();
        assert_eq!(m.stats().bound, 1);
    }

    fn piece() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            (1..=4usize).prop_map(bind),
            (1..=4usize, 1..=4usize, 0..3u8, 1..40u64).prop_map(|(i, j, f, start)| {
                let flag = [Continuation::More, Continuation::Complete, Continuation::Abort]
                    [f as usize % 3];
                let to = if j == i {
                    "sip:room@example.com".to_string()
                } else {
                    format!("sip:p{j}@example.com")
                };
                message(i, &to, "mid-fuzz", flag, start)
            }),
            (1..=4usize).prop_map(|i| {
                format!(
                    "MSRP nick0001 NICKNAME\r\nTo-Path: {}\r\nFrom-Path: {}\r\nUse-Nickname: \"x\"\r\n-------nick0001$\r\n",
                    to(i),
                    from(i)
                )
                .into_bytes()
            }),
            proptest::collection::vec(any::<u8>(), 0..200),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
        /// Any mix of requests, garbage and cuts on three connections: no panic, and the
        /// bookkeeping stays consistent.
        #[test]
        fn arbitrary_traffic_never_breaks_the_switch(
            ops in proptest::collection::vec((0..3usize, piece(), 1..64usize), 0..40)
        ) {
            let policy = RoomPolicy { chunk_timeout: std::time::Duration::ZERO, ..RoomPolicy::default() };
            let mut m = MemSwitch::new(policy);
            let conns: Vec<_> = (0..3).map(|_| m.net.accept()).collect();
            m.step();
            for (c, bytes, cut) in ops {
                for part in bytes.chunks(cut) {
                    m.net.feed(conns[c], part);
                    m.step();
                }
            }
            let s = m.stats();
            // Several sessions may bind on one connection.
            prop_assert!(s.bound <= 4);
            prop_assert!(s.sessions == 4);
            for c in conns {
                m.net.hang_up(c);
            }
            m.step();
            m.step();
            let s = m.stats();
            prop_assert_eq!((s.bound, s.inflight), (0, 0));
        }
    }
}
