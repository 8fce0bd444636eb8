//! Chat switch (RFC 7701) behaviour over real loopback sockets: every status code and rule,
//! with raw-frame clients (`dataplane::switch::testkit`) and a fake control plane.
//!
//! "Was not forwarded" is shown without timing: after the refused message the sender sends a
//! marker message, and the other members' next frame must be that marker (frames from one
//! sender are distributed in order).

use std::sync::Arc;
use std::time::Duration;

use dataplane::switch::testkit::{cpim, ChatClient, Harness};
use dataplane::switch::{
    AcceptTypes, ActiveSetup, ChatCaps, CloseReason, Participant, RateLimit, RoomPolicy,
    SessionSpec, Setup, SwitchControl, SwitchEvent,
};
use dataplane::wire::{Continuation, Method};

const ROOM: u64 = 1;
const ROOM_URI: &str = "sip:room@chat.example.com";

/// A participant connected to the room.
struct Member {
    c: ChatClient,
    /// Its CPIM URI.
    uri: String,
    sid: String,
}

fn participant(name: &str) -> Arc<Participant> {
    Participant::new(name, &[&format!("sip:{name}@example.com")])
}

/// Installs a session for `who` (a fresh one per call) and connects and binds it.
fn join_as(
    h: &Harness,
    who: &Arc<Participant>,
    tag: &str,
    tweak: impl FnOnce(&mut SessionSpec),
) -> Member {
    let sid = format!("s{tag}{}", who.id);
    let peer = format!("msrp://client.invalid:7000/{sid}c;tcp");
    h.add_session(ROOM, &sid, &peer, who, tweak);
    h.sync();
    let mut c = ChatClient::connect(h.addr, &h.session_uri(&sid), &peer);
    let ok = c.bind();
    assert_eq!(ok.code(), Some(200), "binding SEND: {ok:?}");
    Member {
        c,
        uri: who.uris[0].clone(),
        sid,
    }
}

fn join(h: &Harness, name: &str) -> Member {
    join_as(h, &participant(name), "", |_| {})
}

fn room(policy: RoomPolicy) -> Harness {
    let h = Harness::start(1);
    h.create_room(ROOM, ROOM_URI, policy);
    h
}

impl Member {
    fn say(&mut self, mid: &str, text: &str) -> u16 {
        let uri = self.uri.clone();
        self.c.say(mid, &uri, ROOM_URI, text)
    }

    fn whisper(&mut self, mid: &str, to: &str, text: &str) -> u16 {
        let uri = self.uri.clone();
        self.c.say(mid, &uri, to, text)
    }

    /// The next SEND's payload text.
    fn heard(&mut self) -> String {
        let f = self.c.next_send();
        String::from_utf8_lossy(f.payload()).into_owned()
    }
}

#[test]
fn regular_message_goes_to_everybody_but_the_sender() {
    let h = room(RoomPolicy::default());
    let mut a = join(&h, "alice");
    let mut b = join(&h, "bob");
    let mut c = join(&h, "carol");
    let body = cpim(&a.uri, ROOM_URI, "text/plain", b"hello room");
    let tid = a.c.send_msg("m-hello-1", "message/cpim", &body, &[]);
    assert_eq!(a.c.response_to(&tid), 200);
    for m in [&mut b, &mut c] {
        let f = m.c.next_send();
        assert_eq!(
            f.body, body,
            "content must be byte-identical (RFC 7701 §6.1)"
        );
        assert_eq!(f.header("Message-ID"), "m-hello-1");
        assert_eq!(f.header("Failure-Report"), "partial");
        assert_eq!(f.header("Content-Type"), "message/cpim");
        assert_eq!(
            f.header("Byte-Range"),
            format!("1-{}/{}", body.len(), body.len())
        );
        assert_eq!(String::from_utf8_lossy(f.head.to_path_raw()), m.c.uri);
        assert_eq!(String::from_utf8_lossy(f.head.from_path_raw()), m.c.to);
        assert_eq!(f.flag, Continuation::Complete);
        assert_eq!(
            f.cpim("From").as_deref(),
            Some(format!("<{}>", a.uri).as_str())
        );
    }
    // The sender did not get its own message: its next frame is bob's.
    assert_eq!(b.say("m-b-1", "hi alice"), 200);
    assert_eq!(a.heard(), "hi alice");
    assert_eq!(c.heard(), "hi alice");
    let s = h.stats();
    assert_eq!(s.messages, 2);
    assert_eq!(s.deliveries, 4);
}

#[test]
fn refusals_are_never_forwarded() {
    let policy = RoomPolicy {
        accept_wrapped_types: AcceptTypes::parse("text/plain text/html"),
        ..RoomPolicy::default()
    };
    let h = room(policy);
    let mut a = join(&h, "alice");
    let mut b = join(&h, "bob");

    // 415: not Message/CPIM.
    let tid = a.c.send_msg("m-plain", "text/plain", b"raw text", &[]);
    assert_eq!(a.c.response_to(&tid), 415);
    // 415: a wrapped type the room does not accept.
    let body = cpim(&a.uri, ROOM_URI, "image/png", b"\x89PNG");
    let tid = a.c.send_msg("m-png", "message/cpim", &body, &[]);
    assert_eq!(a.c.response_to(&tid), 415);
    // 403: spoofed From.
    assert_eq!(
        a.c.say("m-spoof", "sip:bob@example.com", ROOM_URI, "I am bob"),
        403
    );
    // 403: From missing.
    let body =
        b"To: <sip:room@chat.example.com>\r\n\r\nContent-Type: text/plain\r\n\r\nnobody".to_vec();
    let tid = a.c.send_msg("m-nofrom", "message/cpim", &body, &[]);
    assert_eq!(a.c.response_to(&tid), 403);
    // 403: two CPIM To.
    let body = format!(
        "From: <{}>\r\nTo: <{ROOM_URI}>\r\nTo: <sip:bob@example.com>\r\n\r\nContent-Type: text/plain\r\n\r\ntwo",
        a.uri
    );
    let tid =
        a.c.send_msg("m-two-to", "message/cpim", body.as_bytes(), &[]);
    assert_eq!(a.c.response_to(&tid), 403);
    // 404: private message to somebody not in the room.
    assert_eq!(a.whisper("m-404", "sip:nobody@example.com", "psst"), 404);
    // 400: CPIM headers never complete in the first chunk.
    let tid = a.c.send_msg(
        "m-broken",
        "message/cpim",
        b"From: <sip:alice@example.com>\r\nTo: <x",
        &[],
    );
    assert_eq!(a.c.response_to(&tid), 400);
    // None of them reached bob.
    assert_eq!(a.say("m-marker", "marker"), 200);
    assert_eq!(b.heard(), "marker");
    let s = h.stats();
    assert_eq!(s.refused.get(&415), Some(&2));
    assert_eq!(s.refused.get(&403), Some(&3));
    assert_eq!(s.refused.get(&404), Some(&1));
    assert_eq!(s.refused.get(&400), Some(&1));
}

#[test]
fn private_messages_and_428() {
    let h = room(RoomPolicy::default());
    let mut a = join(&h, "alice");
    let mut b = join(&h, "bob");
    let mut c = join(&h, "carol");
    // A participant whose UA did not declare private-messages, and one that is not chat-aware.
    let mut d = join_as(&h, &participant("dave"), "", |s| {
        s.caps = ChatCaps {
            chat_aware: true,
            private_messages: false,
            nicknames: false,
        }
    });
    let mut e = join_as(&h, &participant("erin"), "", |s| {
        s.caps = ChatCaps {
            chat_aware: false,
            private_messages: false,
            nicknames: false,
        }
    });
    assert_eq!(a.whisper("m-p1", &b.uri, "for bob only"), 200);
    let f = b.c.next_send();
    assert_eq!(f.payload(), b"for bob only");
    assert_eq!(f.cpim("To").as_deref(), Some("<sip:bob@example.com>"));
    let (du, eu) = (d.uri.clone(), e.uri.clone());
    assert_eq!(a.whisper("m-p2", &du, "dave?"), 428);
    assert_eq!(a.whisper("m-p3", &eu, "erin?"), 428);
    assert_eq!(a.say("m-marker", "marker"), 200);
    for m in [&mut b, &mut c, &mut d, &mut e] {
        assert_eq!(m.heard(), "marker", "private messages reached only bob");
    }
    assert_eq!(h.stats().refused.get(&428), Some(&2));

    // The room forbids private messages: 428 even for a capable recipient.
    let p = RoomPolicy {
        private_messages: false,
        ..RoomPolicy::default()
    };
    h.broadcast(SwitchControl::UpdateRoom(dataplane::switch::RoomSpec::new(
        ROOM, ROOM_URI, p,
    )));
    h.sync();
    let bu = b.uri.clone();
    assert_eq!(a.whisper("m-p4", &bu, "still?"), 428);
    assert_eq!(a.say("m-marker2", "marker2"), 200);
    assert_eq!(b.heard(), "marker2");
}

#[test]
fn simultaneous_access_gets_a_copy_on_each_session() {
    let h = room(RoomPolicy::default());
    let mut a = join(&h, "alice");
    let bob = participant("bob");
    let mut b1 = join_as(&h, &bob, "1", |_| {});
    let mut b2 = join_as(&h, &bob, "2", |_| {});
    let mut c = join(&h, "carol");
    assert_eq!(a.say("m-reg", "to all"), 200);
    assert_eq!(b1.heard(), "to all");
    assert_eq!(b2.heard(), "to all");
    assert_eq!(c.heard(), "to all");
    let bu = b1.uri.clone();
    assert_eq!(a.whisper("m-priv", &bu, "to bob"), 200);
    assert_eq!(b1.heard(), "to bob");
    assert_eq!(b2.heard(), "to bob");
    // A regular message from one of bob's sessions skips both (everybody but the sender).
    assert_eq!(b1.say("m-bob", "from bob"), 200);
    assert_eq!(a.heard(), "from bob");
    assert_eq!(c.heard(), "from bob");
    assert_eq!(c.say("m-carol", "from carol"), 200);
    assert_eq!(
        b2.heard(),
        "from carol",
        "bob's other session did not get bob's message"
    );
}

#[test]
fn wrapped_types_filter_recipients() {
    let h = room(RoomPolicy::default());
    let mut a = join(&h, "alice");
    let mut b = join_as(&h, &participant("bob"), "", |s| {
        s.accept_wrapped_types = AcceptTypes::parse("text/plain")
    });
    let mut c = join_as(&h, &participant("carol"), "", |s| {
        s.accept_wrapped_types = AcceptTypes::parse("text/* image/png")
    });
    let body = cpim(&a.uri, ROOM_URI, "image/png", b"\x89PNG....");
    let tid = a.c.send_msg("m-img", "message/cpim", &body, &[]);
    assert_eq!(a.c.response_to(&tid), 200);
    let body = cpim(&a.uri, ROOM_URI, "text/html; charset=utf-8", b"<b>hi</b>");
    let tid = a.c.send_msg("m-html", "message/cpim", &body, &[]);
    assert_eq!(a.c.response_to(&tid), 200);
    assert_eq!(a.say("m-marker", "marker"), 200);
    assert_eq!(
        c.c.next_send().payload(),
        b"\x89PNG....",
        "carol takes images"
    );
    assert_eq!(c.heard(), "<b>hi</b>");
    assert_eq!(c.heard(), "marker");
    assert_eq!(b.heard(), "marker", "bob takes text/plain only");
    assert_eq!(h.stats().type_skips, 2);
}

#[test]
fn recipient_reports_are_consumed_and_success_reports_go_to_the_sender() {
    let h = room(RoomPolicy::default());
    let mut a = join(&h, "alice");
    let mut b = join(&h, "bob");
    let body = cpim(&a.uri, ROOM_URI, "text/plain", b"report me");
    let tid =
        a.c.send_msg("m-sr", "message/cpim", &body, &[("Success-Report", "yes")]);
    assert_eq!(a.c.response_to(&tid), 200);
    let rep = a.c.frame();
    assert_eq!(rep.method(), Some(Method::Report));
    assert_eq!(rep.header("Message-ID"), "m-sr");
    assert_eq!(
        rep.header("Byte-Range"),
        format!("1-{}/{}", body.len(), body.len())
    );
    assert_eq!(rep.header("Status"), "000 200 OK");
    assert_eq!(String::from_utf8_lossy(rep.head.to_path_raw()), a.c.uri);
    assert_eq!(String::from_utf8_lossy(rep.head.from_path_raw()), a.c.to);

    // Bob reports on what it got (as a Success-Report: yes recipient would); it stops at
    // the switch.
    let got = b.c.next_send();
    let tid = b.c.request(
        "REPORT",
        &[
            ("Message-ID", &got.header("Message-ID")),
            ("Byte-Range", &got.header("Byte-Range")),
            ("Status", "000 200 OK"),
        ],
    );
    let _ = tid;
    assert_eq!(b.say("m-bob", "after report"), 200);
    assert_eq!(a.heard(), "after report", "the REPORT was not passed back");
    assert_eq!(h.stats().reports_consumed, 1);

    // A private message's success REPORT carries the CPIM From and To (RFC 7701 §6.2).
    let body = cpim(&a.uri, &b.uri, "text/plain", b"private report");
    let tid =
        a.c.send_msg("m-psr", "message/cpim", &body, &[("Success-Report", "yes")]);
    assert_eq!(a.c.response_to(&tid), 200);
    let rep = a.c.frame();
    assert_eq!(rep.method(), Some(Method::Report));
    assert_eq!(rep.header("Content-Type"), "message/cpim");
    assert_eq!(rep.cpim("From").as_deref(), Some("<sip:alice@example.com>"));
    assert_eq!(rep.cpim("To").as_deref(), Some("<sip:bob@example.com>"));
}

#[test]
fn chunks_are_fast_forwarded_to_the_first_chunks_recipients_only() {
    let h = room(RoomPolicy::default());
    let mut a = join(&h, "alice");
    let mut b = join(&h, "bob");
    let whole = cpim(&a.uri, ROOM_URI, "text/plain", &[b'x'; 3000]);
    let (p1, p2) = whole.split_at(1000);
    let total = Some(whole.len() as u64);
    let t1 = a.c.send_chunk(
        "m-big",
        "message/cpim",
        p1,
        (1, total),
        Continuation::More,
        &[],
    );
    assert_eq!(a.c.response_to(&t1), 200);
    // Bob has the first chunk before the second one is even sent.
    let f1 = b.c.next_send();
    assert_eq!(f1.flag, Continuation::More);
    assert_eq!(f1.body, p1);
    assert_eq!(f1.header("Byte-Range"), format!("1-1000/{}", whole.len()));
    // Carol joins after the first chunk: she gets nothing of this message.
    let mut c = join(&h, "carol");
    let t2 = a.c.send_chunk(
        "m-big",
        "message/cpim",
        p2,
        (1001, total),
        Continuation::Complete,
        &[],
    );
    assert_eq!(a.c.response_to(&t2), 200);
    let f2 = b.c.next_send();
    assert_eq!(f2.flag, Continuation::Complete);
    assert_eq!(f2.header("Message-ID"), "m-big");
    assert_eq!(f2.body, p2);
    assert_eq!(
        f2.header("Byte-Range"),
        format!("1001-*/{}", whole.len()),
        "> 2048 octets: interruptible"
    );
    assert_eq!(a.say("m-marker", "marker"), 200);
    assert_eq!(c.heard(), "marker");
    assert_eq!(b.heard(), "marker");
    assert_eq!(h.stats().inflight, 0);
}

#[test]
fn a_recipients_413_stops_the_rest_of_that_message_to_it() {
    let h = room(RoomPolicy::default());
    let mut a = join(&h, "alice");
    let mut b = join(&h, "bob");
    let mut c = join(&h, "carol");
    let whole = cpim(&a.uri, ROOM_URI, "text/plain", &[b'y'; 1500]);
    let (p1, p2) = whole.split_at(800);
    let total = Some(whole.len() as u64);
    let t1 = a.c.send_chunk(
        "m-stop",
        "message/cpim",
        p1,
        (1, total),
        Continuation::More,
        &[],
    );
    assert_eq!(a.c.response_to(&t1), 200);
    let f1 = b.c.next_send();
    b.c.respond(&f1, 413);
    assert_eq!(c.c.next_send().body, p1);
    // Let the 413 land before the next chunk: a message from bob orders it.
    assert_eq!(b.say("m-bob", "sync"), 200);
    assert_eq!(a.heard(), "sync");
    assert_eq!(c.heard(), "sync");
    let t2 = a.c.send_chunk(
        "m-stop",
        "message/cpim",
        p2,
        (801, total),
        Continuation::Complete,
        &[],
    );
    assert_eq!(a.c.response_to(&t2), 200);
    assert_eq!(c.c.next_send().body, p2);
    assert_eq!(a.say("m-marker", "marker"), 200);
    assert_eq!(
        b.heard(),
        "marker",
        "no more chunks of m-stop after its 413"
    );
    assert_eq!(h.stats().recipient_errors, 1);
}

#[test]
fn chunk_timer_abandons_the_message_with_a_hash_chunk() {
    let policy = RoomPolicy {
        chunk_timeout: Duration::from_millis(200),
        ..RoomPolicy::default()
    };
    let h = room(policy);
    let mut a = join(&h, "alice");
    let mut b = join(&h, "bob");
    let whole = cpim(&a.uri, ROOM_URI, "text/plain", &[b'z'; 500]);
    let t1 = a.c.send_chunk(
        "m-stall",
        "message/cpim",
        &whole[..300],
        (1, None),
        Continuation::More,
        &[],
    );
    assert_eq!(a.c.response_to(&t1), 200);
    assert_eq!(b.c.next_send().flag, Continuation::More);
    // Alice never sends the rest.
    let f = b.c.next_send();
    assert_eq!(f.flag, Continuation::Abort);
    assert_eq!(f.header("Message-ID"), "m-stall");
    assert!(f.body.is_empty());
    assert_eq!(f.header("Byte-Range"), "301-*/*");
    let s = h.stats();
    assert_eq!((s.abandoned, s.inflight), (1, 0));
    // A late chunk is refused: the sender must stop.
    let t2 = a.c.send_chunk(
        "m-stall",
        "message/cpim",
        &whole[300..],
        (301, None),
        Continuation::Complete,
        &[],
    );
    assert_eq!(a.c.response_to(&t2), 413);
}

#[test]
fn size_inflight_and_rate_limits() {
    let policy = RoomPolicy {
        max_message_size: 1000,
        max_inflight: 1,
        rate: RateLimit {
            per_second: 0.001,
            burst: 5,
        },
        ..RoomPolicy::default()
    };
    let h = room(policy);
    let mut a = join(&h, "alice");
    let mut b = join(&h, "bob");
    // 413 from the Byte-Range total.
    let big = cpim(&a.uri, ROOM_URI, "text/plain", &[b'b'; 1200]);
    let t = a.c.send_msg("m-big", "message/cpim", &big, &[]);
    assert_eq!(a.c.response_to(&t), 413);
    // 413 from the running count: the recipients get `#`.
    let t = a.c.send_chunk(
        "m-grow",
        "message/cpim",
        &big[..600],
        (1, None),
        Continuation::More,
        &[],
    );
    assert_eq!(a.c.response_to(&t), 200);
    assert_eq!(b.c.next_send().flag, Continuation::More);
    let t = a.c.send_chunk(
        "m-grow",
        "message/cpim",
        &big[600..],
        (601, None),
        Continuation::Complete,
        &[],
    );
    assert_eq!(a.c.response_to(&t), 413);
    let f = b.c.next_send();
    assert_eq!(
        (f.flag, f.header("Message-ID").as_str()),
        (Continuation::Abort, "m-grow")
    );
    // In flight: one chunked message at a time.
    let small = cpim(&a.uri, ROOM_URI, "text/plain", &[b's'; 200]);
    let t = a.c.send_chunk(
        "m-one",
        "message/cpim",
        &small[..100],
        (1, None),
        Continuation::More,
        &[],
    );
    assert_eq!(a.c.response_to(&t), 200);
    let t = a.c.send_chunk(
        "m-two",
        "message/cpim",
        &small[..100],
        (1, None),
        Continuation::More,
        &[],
    );
    assert_eq!(a.c.response_to(&t), 413);
    let t = a.c.send_chunk(
        "m-one",
        "message/cpim",
        &small[100..],
        (101, None),
        Continuation::Complete,
        &[],
    );
    assert_eq!(a.c.response_to(&t), 200);
    // Rate: a burst of 5; m-grow, m-one and m-two took one each (m-big was refused by its
    // size first), so two more pass.
    assert_eq!(a.say("m-r1", "r1"), 200);
    assert_eq!(a.say("m-r2", "r2"), 200);
    assert_eq!(a.say("m-r3", "r3"), 403);
    let s = h.stats();
    assert_eq!(s.refused.get(&413), Some(&3));
    assert_eq!(s.refused.get(&403), Some(&1));
    assert_eq!(s.abandoned, 1);
}

#[test]
fn endpoint_checks_481_506_501_and_auth() {
    let h = room(RoomPolicy::default());
    let mut a = join(&h, "alice");
    // 481: a session-id nobody installed.
    let mut x = ChatClient::connect(
        h.addr,
        &h.session_uri("nosuchsession"),
        "msrp://x.invalid:1/x;tcp",
    );
    assert_eq!(x.bind().code(), Some(481));
    // 481: a known session-id under another authority (RFC 4975 §6.1 comparison).
    let mut y = ChatClient::connect(
        h.addr,
        &format!("msrp://127.0.0.2:{}/{};tcp", h.addr.port(), a.sid),
        "msrp://y.invalid:1/y;tcp",
    );
    assert_eq!(y.bind().code(), Some(481));
    // 506: alice's session is bound to her connection.
    let mut z = ChatClient::connect(h.addr, &a.c.to.clone(), "msrp://z.invalid:1/z;tcp");
    assert_eq!(z.bind().code(), Some(506));
    // 501: unknown method; 403: AUTH to a session.
    let t = a.c.request("FROBNICATE", &[]);
    assert_eq!(a.c.response_to(&t), 501);
    let t = a.c.request("AUTH", &[]);
    assert_eq!(a.c.response_to(&t), 403);
    // The session still works.
    let mut b = join(&h, "bob");
    assert_eq!(a.say("m-ok", "still here"), 200);
    assert_eq!(b.heard(), "still here");
    let s = h.stats();
    assert_eq!(s.refused.get(&506), Some(&1));
    assert_eq!(s.refused.get(&501), Some(&1));
    assert_eq!(s.bound, 2);
}

#[test]
fn nickname_requests_are_punted_and_answered_with_the_verdict() {
    let h = room(RoomPolicy::default());
    let mut a = join(&h, "alice");
    let ask = |a: &mut Member, nick: &str| a.c.request("NICKNAME", &[("Use-Nickname", nick)]);
    let cases = [
        ("\"alice\"", 200),
        ("\"taken\"", 425),
        ("\"weird\"", 424),
        ("\"nope\"", 403),
    ];
    for (nick, code) in cases {
        let t = ask(&mut a, nick);
        let ev = h.wait_event("nickname", |e| matches!(e, SwitchEvent::Nickname(_)));
        let SwitchEvent::Nickname(req) = ev else {
            unreachable!()
        };
        assert_eq!(req.session_id, a.sid);
        assert_eq!(req.transaction_id.as_bytes(), t.as_bytes());
        assert_eq!(req.participant.id, "alice");
        assert_eq!(format!("\"{}\"", req.nickname), nick);
        h.send_to(
            req.worker,
            SwitchControl::NicknameVerdict {
                session_id: req.session_id.clone(),
                transaction_id: req.transaction_id,
                code,
            },
        );
        let f = a.c.frame();
        assert_eq!(f.head.transaction_id(), t.as_bytes());
        assert_eq!(f.code(), Some(code), "{nick}");
        // Responses to non-SEND requests go back along the whole From-Path (RFC 4975 §7.2).
        assert_eq!(String::from_utf8_lossy(f.head.to_path_raw()), a.c.uri);
    }
    // Malformed Use-Nickname: 424 at once, never punted.
    let t = ask(&mut a, "alice-unquoted");
    assert_eq!(a.c.response_to(&t), 424);
    let t = a.c.request("NICKNAME", &[]);
    assert_eq!(a.c.response_to(&t), 424);
    // Nicknames off: 403 at once.
    let p = RoomPolicy {
        nicknames: false,
        ..RoomPolicy::default()
    };
    h.broadcast(SwitchControl::UpdateRoom(dataplane::switch::RoomSpec::new(
        ROOM, ROOM_URI, p,
    )));
    h.sync();
    let t = ask(&mut a, "\"alice\"");
    assert_eq!(a.c.response_to(&t), 403);
    assert_eq!(h.stats().nicknames, 4);
    assert!(h.events.try_recv().is_err(), "no further punts");
}

#[test]
fn a_room_requiring_nicknames_takes_messages_only_from_sessions_holding_one() {
    let h = room(RoomPolicy {
        nicknames_required: true,
        ..RoomPolicy::default()
    });
    let mut a = join(&h, "alice");
    let mut b = join(&h, "bob");
    assert_eq!(a.say("m-nonick", "who am I?"), 403);
    // A refused nickname does not count.
    let verdict = |a: &mut Member, nick: &str, code: u16| {
        let t = a.c.request("NICKNAME", &[("Use-Nickname", nick)]);
        let ev = h.wait_event("nickname", |e| matches!(e, SwitchEvent::Nickname(_)));
        let SwitchEvent::Nickname(req) = ev else {
            unreachable!()
        };
        h.send_to(
            req.worker,
            SwitchControl::NicknameVerdict {
                session_id: req.session_id.clone(),
                transaction_id: req.transaction_id,
                code,
            },
        );
        assert_eq!(a.c.response_to(&t), code);
    };
    verdict(&mut a, "\"bob\"", 425);
    assert_eq!(a.say("m-taken", "still nobody"), 403);
    verdict(&mut a, "\"alice\"", 200);
    assert_eq!(a.say("m-named", "hello, I am alice"), 200);
    assert_eq!(b.heard(), "hello, I am alice");
    assert_eq!(h.stats().refused.get(&403), Some(&2));
}

#[test]
fn remove_session_and_delete_room_end_sessions() {
    let h = room(RoomPolicy::default());
    let mut a = join(&h, "alice");
    let mut b = join(&h, "bob");
    let mut c = join(&h, "carol");
    h.broadcast(SwitchControl::RemoveSession {
        session_id: b.sid.clone(),
    });
    let ev = h.wait_event("bob closed", |e| {
        matches!(e, SwitchEvent::SessionClosed { .. })
    });
    assert!(
        matches!(ev, SwitchEvent::SessionClosed { reason: CloseReason::Removed, ref session_id, .. } if *session_id == b.sid)
    );
    assert!(
        b.c.read().is_none(),
        "its last session gone, the connection closes"
    );
    assert_eq!(a.say("m-one1", "without bob"), 200);
    assert_eq!(c.heard(), "without bob");
    // Bob's URI is no longer a participant.
    assert_eq!(a.whisper("m-two2", "sip:bob@example.com", "bob?"), 404);
    // A removed session cannot be bound again.
    let mut b2 = ChatClient::connect(h.addr, &h.session_uri(&b.sid), "msrp://b2.invalid:1/b;tcp");
    assert_eq!(b2.bind().code(), Some(481));

    h.broadcast(SwitchControl::DeleteRoom(ROOM));
    let mut closed = Vec::new();
    for _ in 0..2 {
        match h.wait_event("room closed", |e| {
            matches!(e, SwitchEvent::SessionClosed { .. })
        }) {
            SwitchEvent::SessionClosed {
                session_id, reason, ..
            } => {
                assert_eq!(reason, CloseReason::RoomDeleted);
                closed.push(session_id);
            }
            _ => unreachable!(),
        }
    }
    closed.sort();
    let mut want = vec![a.sid.clone(), c.sid.clone()];
    want.sort();
    assert_eq!(closed, want);
    assert!(a.c.read().is_none());
    assert!(c.c.read().is_none());
    let s = h.stats();
    assert_eq!((s.rooms, s.sessions, s.bound), (0, 0, 0));
}

#[test]
fn connection_loss_unbinds_and_abandons_the_senders_messages() {
    let h = room(RoomPolicy::default());
    let mut a = join(&h, "alice");
    let mut b = join(&h, "bob");
    let whole = cpim(&a.uri, ROOM_URI, "text/plain", &[b'q'; 400]);
    let t = a.c.send_chunk(
        "m-cut",
        "message/cpim",
        &whole[..200],
        (1, None),
        Continuation::More,
        &[],
    );
    assert_eq!(a.c.response_to(&t), 200);
    assert_eq!(b.c.next_send().flag, Continuation::More);
    let a_sid = a.sid.clone();
    drop(a);
    let f = b.c.next_send();
    assert_eq!(
        (f.flag, f.header("Message-ID").as_str()),
        (Continuation::Abort, "m-cut")
    );
    let ev = h.wait_event("alice lost", |e| {
        matches!(e, SwitchEvent::SessionClosed { .. })
    });
    assert!(
        matches!(ev, SwitchEvent::SessionClosed { reason: CloseReason::ConnectionLost, ref session_id, .. } if *session_id == a_sid)
    );
    // RFC 4975 §5.4: recovery needs new SDP; the old session-id is dead.
    let mut again = ChatClient::connect(h.addr, &h.session_uri(&a_sid), "msrp://a.invalid:1/a;tcp");
    assert_eq!(again.bind().code(), Some(481));
    assert_eq!(h.stats().bound, 1);
}

#[test]
fn active_session_connects_and_sends_the_binding_send() {
    let h = room(RoomPolicy::default());
    let mut a = join(&h, "alice");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = format!("msrp://127.0.0.1:{}/activepeer;tcp", addr.port());
    let spec = h.add_session(ROOM, "sactive", &peer, &participant("bob"), |s| {
        s.setup = Setup::Active(Box::new(ActiveSetup {
            worker: 0,
            addr,
            tls_server_name: None,
        }))
    });
    let (s, _) = listener.accept().unwrap();
    let mut b = ChatClient::from_stream(s, &String::from_utf8_lossy(spec.local_uri_raw()), &peer);
    let bind = b.frame();
    assert_eq!(bind.method(), Some(Method::Send));
    assert!(
        bind.body.is_empty() && !bind.head.has_body(),
        "bodiless binding SEND"
    );
    assert_eq!(String::from_utf8_lossy(bind.head.to_path_raw()), peer);
    b.respond(&bind, 200);
    let ev = h.wait_event(
        "bound",
        |e| matches!(e, SwitchEvent::SessionBound { session_id, .. } if session_id == "sactive"),
    );
    assert!(matches!(ev, SwitchEvent::SessionBound { worker: 0, .. }));
    assert_eq!(a.say("m-act", "to the active one"), 200);
    assert_eq!(
        String::from_utf8_lossy(b.next_send().payload()),
        "to the active one"
    );
}

/// A connection to the switch whose receive window is tiny, so that what it does not read
/// piles up in the switch quickly.
fn slow_stream(addr: std::net::SocketAddr) -> std::net::TcpStream {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    s.set_recv_buffer_size(4096).unwrap();
    s.connect(&addr.into()).unwrap();
    s.into()
}

#[test]
fn congested_member_is_skipped_and_notified_without_slowing_the_room() {
    let policy = RoomPolicy {
        congestion_high_water: 64 * 1024,
        rate: RateLimit {
            per_second: 0.0,
            burst: 1,
        },
        ..RoomPolicy::default()
    };
    let h = room(policy);
    let mut a = join(&h, "alice");
    let mut b = join(&h, "bob");
    let slow = participant("mallory");
    let sid = "sslow";
    let peer = "msrp://client.invalid:7000/slowc;tcp";
    h.add_session(ROOM, sid, peer, &slow, |_| {});
    h.sync();
    let mut m = ChatClient::from_stream(slow_stream(h.addr), &h.session_uri(sid), peer);
    assert_eq!(m.bind().code(), Some(200));

    // Bob reads everything as it comes; mallory reads nothing for now.
    let bob = std::thread::spawn(move || {
        let mut texts = Vec::new();
        loop {
            let t = b.heard();
            let done = t == "last";
            texts.push(t);
            if done {
                return texts;
            }
        }
    });
    let filler = "f".repeat(60 * 1024);
    let mut sent = 0;
    while h.stats().congestion_skips == 0 {
        assert!(sent < 1000, "mallory never became congested");
        for _ in 0..10 {
            assert_eq!(a.say(&format!("m-fill-{sent}"), &filler), 200);
            sent += 1;
        }
    }
    assert_eq!(a.say("m-last", "last"), 200);
    let texts = bob.join().unwrap();
    assert_eq!(
        texts.len(),
        sent + 1,
        "bob got every message while mallory stalled"
    );

    // Mallory catches up: fewer messages than were sent, then the notice.
    let mut got = 0;
    let notice = loop {
        let f = m.next_send();
        if f.cpim("From").as_deref() == Some(&format!("<{ROOM_URI}>")) {
            break f;
        }
        got += 1;
    };
    assert!(
        got < sent + 1,
        "some messages were skipped ({got} of {})",
        sent + 1
    );
    assert_eq!(
        notice.cpim("To").as_deref(),
        Some("<sip:mallory@example.com>")
    );
    assert!(String::from_utf8_lossy(notice.payload()).contains("not delivered"));
    assert_eq!(notice.header("Failure-Report"), "no");
    let s = h.stats();
    assert_eq!(s.notices, 1);
    assert!(s.congestion_skips >= 1);
}

#[test]
fn sessions_sharing_a_connection_get_transaction_ids_of_their_own() {
    let h = room(RoomPolicy::default());
    let mut a = join(&h, "alice");
    let mut c = join(&h, "carol");
    // Bob and dave reach the switch over one connection (as through a relay).
    let (bob, dave) = (participant("bob"), participant("dave"));
    let (pb, pd) = (
        "msrp://relay.invalid:7000/bobc;tcp",
        "msrp://relay.invalid:7000/davec;tcp",
    );
    h.add_session(ROOM, "sbob", pb, &bob, |_| {});
    h.add_session(ROOM, "sdave", pd, &dave, |_| {});
    h.sync();
    let mut shared = ChatClient::connect(h.addr, &h.session_uri("sbob"), pb);
    assert_eq!(shared.bind().code(), Some(200));
    assert_eq!(
        shared.bind_session(&h.session_uri("sdave"), pd).code(),
        Some(200)
    );
    let whole = cpim(&a.uri, ROOM_URI, "text/plain", &[b'w'; 900]);
    let total = Some(whole.len() as u64);
    let t = a.c.send_chunk(
        "m-share",
        "message/cpim",
        &whole[..500],
        (1, total),
        Continuation::More,
        &[],
    );
    assert_eq!(a.c.response_to(&t), 200);
    let f1 = shared.next_send();
    let f2 = shared.next_send();
    let mut to: Vec<String> = [&f1, &f2]
        .iter()
        .map(|f| String::from_utf8_lossy(f.head.to_path_raw()).into_owned())
        .collect();
    to.sort();
    assert_eq!(to, vec![pb.to_string(), pd.to_string()]);
    assert_ne!(
        f1.head.transaction_id(),
        f2.head.transaction_id(),
        "two live transactions on one connection need distinct ids (RFC 4975 §7.1)"
    );
    // Carol, alone on her connection, gets the chunk too.
    assert_eq!(c.c.next_send().body, &whole[..500]);
    // Bob's copy refuses the message: only bob stops getting it.
    let bobs = if to_of(&f1) == pb { &f1 } else { &f2 };
    shared.respond(bobs, 413);
    assert_eq!(c.say("m-csync", "sync"), 200);
    assert_eq!(a.heard(), "sync");
    let t = a.c.send_chunk(
        "m-share",
        "message/cpim",
        &whole[500..],
        (501, total),
        Continuation::Complete,
        &[],
    );
    assert_eq!(a.c.response_to(&t), 200);
    assert_eq!(a.say("m-marker", "marker"), 200);
    let mut rest = Vec::new();
    loop {
        let f = shared.next_send();
        let text = String::from_utf8_lossy(f.payload()).into_owned();
        if text == "sync" {
            continue;
        }
        if f.header("Message-ID") == "m-share" {
            rest.push(to_of(&f));
            continue;
        }
        assert_eq!(text, "marker");
        break;
    }
    assert_eq!(rest, vec![pd.to_string()], "only dave got the last chunk");
}

fn to_of(f: &dataplane::switch::testkit::Frame) -> String {
    String::from_utf8_lossy(f.head.to_path_raw()).into_owned()
}
