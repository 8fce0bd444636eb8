//! The conference focus of msrpd end to end: participants join rooms by SIP INVITE, talk over
//! MSRP through the chat switch, set nicknames, follow the roster by SUBSCRIBE/NOTIFY, leave by
//! BYE; joins refused by policy; a CEMA join through a TCP middlebox; the management view;
//! and the msrpd binary serving its demo room with no configuration at all.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use controlplane::focus::{JoinPolicy, RoomSettings};
use controlplane::sip::TransportKind;
use dataplane::switch::testkit::ChatClient;
use e2e::focusnode::{msrpd_binary, toml, FocusNode, FocusProcess};
use e2e::procs::TempDir;
use e2e::sipua::{sdp_attr, Call, SipUa};

const ROOM: &str = "sip:chat@example.com";

/// An SDP offer for a participant whose MSRP URI is `msrp://127.0.0.1:{port}/{sid};tcp`.
struct Offer<'a> {
    sid: &'a str,
    port: u16,
    proto: &'a str,
    accept_types: &'a str,
    chatroom: Option<&'a str>,
    setup: &'a str,
    cema: bool,
    /// c=/m= address when it differs from the path (a middlebox).
    anchor: Option<SocketAddr>,
}

impl<'a> Offer<'a> {
    fn new(sid: &'a str) -> Offer<'a> {
        Offer {
            sid,
            port: 9,
            proto: "TCP/MSRP",
            accept_types: "message/cpim text/plain",
            chatroom: Some("nickname private-messages"),
            setup: "actpass",
            cema: false,
            anchor: None,
        }
    }

    fn uri(&self) -> String {
        let scheme = if self.proto.contains("TLS") {
            "msrps"
        } else {
            "msrp"
        };
        format!("{scheme}://127.0.0.1:{}/{};tcp", self.port, self.sid)
    }

    fn sdp(&self) -> String {
        let (c, m) = match self.anchor {
            Some(a) => (a.ip().to_string(), a.port()),
            None => ("127.0.0.1".to_string(), self.port),
        };
        let mut s = format!(
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 {c}\r\nt=0 0\r\n\
m=message {m} {} *\r\na=accept-types:{}\r\na=accept-wrapped-types:text/plain *\r\n\
a=path:{}\r\na=setup:{}\r\n",
            self.proto,
            self.accept_types,
            self.uri(),
            self.setup
        );
        match self.chatroom {
            Some("") => s.push_str("a=chatroom\r\n"),
            Some(t) => s.push_str(&format!("a=chatroom:{t}\r\n")),
            None => {}
        }
        if self.cema {
            s.push_str("a=msrp-cema\r\n");
        }
        s
    }
}

fn room_toml(uri: &str, extra: &str) -> String {
    format!("[[rooms]]\nuri = {uri:?}\nname = \"Test room\"\n{extra}\n")
}

/// Joins `room` with a passive-answered offer and binds the MSRP session; returns the call and
/// the MSRP client.
fn join(ua: &mut SipUa, node_msrp: SocketAddr, room: &str, offer: &Offer) -> (Call, ChatClient) {
    let call = ua.invite(room, &offer.sdp(), "", None);
    assert_eq!(call.code(), 200, "{} joins {room}: {}", ua.user, call.sdp);
    assert_eq!(call.attr("setup").as_deref(), Some("passive"));
    let mut c = ChatClient::connect(node_msrp, &call.path(), &offer.uri());
    let r = c.bind();
    assert_eq!(r.code(), Some(200), "binding SEND");
    (call, c)
}

fn nickname(c: &mut ChatClient, nick: &str) -> u16 {
    let v = format!("\"{nick}\"");
    let tid = c.request("NICKNAME", &[("Use-Nickname", &v)]);
    c.response_to(&tid)
}

/// Waits for a NOTIFY whose body contains `needle`.
fn notify_with(ua: &mut SipUa, needle: &str) -> String {
    for _ in 0..10 {
        let n = ua.request("NOTIFY");
        let body = String::from_utf8_lossy(&n.body()).into_owned();
        if body.contains(needle) {
            return body;
        }
    }
    panic!("{}: no NOTIFY containing {needle:?}", ua.user);
}

#[test]
fn participants_chat_set_nicknames_follow_the_roster_and_leave() {
    // Two workers: sessions are installed on both, connections land on either.
    let node = FocusNode::start(&format!(
        "[dataplane]\nworkers = 2\n{}",
        toml(&[], &room_toml(ROOM, ""))
    ));
    let sip = node.sip(TransportKind::Tcp);
    let mut alice = SipUa::tcp(sip, "alice", "example.com");
    let mut bob = SipUa::tcp(sip, "bob", "example.com");

    // Bob watches the roster first: a full, empty document.
    let (ok, mut bob_sub) = bob.subscribe(ROOM, 600);
    assert_eq!(ok.status(), Some(200));
    let full = notify_with(&mut bob, "state=\"full\"");
    assert!(!full.contains("sip:alice@example.com"), "{full}");

    let a_offer = Offer::new("alicesess1");
    let (a_call, mut a) = join(&mut alice, node.msrp, ROOM, &a_offer);
    let contact = a_call
        .response
        .values_named("Contact")
        .next()
        .unwrap()
        .to_string();
    assert!(contact.contains(";isfocus"), "{contact}");
    assert_eq!(a_call.attr("accept-types").as_deref(), Some("message/cpim"));
    let chatroom = a_call.attr("chatroom").unwrap();
    assert!(chatroom.contains("nickname") && chatroom.contains("private-messages"));
    assert!(a_call.attr("accept-wrapped-types").is_some());
    let joined = notify_with(&mut bob, "sip:alice@example.com");
    // The session-id binds an MSRP session (RFC 4975 §14.1): never published.
    let path = a_call.path();
    let sid = path.rsplit('/').next().unwrap().trim_end_matches(";tcp");
    assert!(sid.len() >= 10, "{path}");
    assert!(!joined.contains(sid), "{joined}");

    let b_offer = Offer::new("bobsess1");
    let (_b_call, mut b) = join(&mut bob, node.msrp, ROOM, &b_offer);

    // Nicknames: 200, the same one (PRECIS-equal) for another user 425, malformed 424.
    assert_eq!(nickname(&mut a, "Alice"), 200);
    let roster = notify_with(&mut bob, "Alice");
    assert!(roster.contains("nickname=\"Alice\""), "{roster}");
    assert_eq!(nickname(&mut b, "alice"), 425);
    assert_eq!(nickname(&mut b, "   "), 424);
    assert_eq!(nickname(&mut b, "Bobby"), 200);
    notify_with(&mut bob, "Bobby");

    // A regular message reaches the other participant, untouched.
    let code = a.say("msg-m1", "sip:alice@example.com", ROOM, "hello room");
    assert_eq!(code, 200);
    let got = b.next_send();
    assert_eq!(got.payload(), b"hello room");
    assert_eq!(got.cpim("From").as_deref(), Some("<sip:alice@example.com>"));
    // A private message.
    let code = b.say(
        "msg-m2",
        "sip:bob@example.com",
        "sip:alice@example.com",
        "psst",
    );
    assert_eq!(code, 200);
    let got = a.next_send();
    assert_eq!(got.payload(), b"psst");
    // Spoofing another participant's From is refused by the switch.
    assert_eq!(b.say("msg-m3", "sip:alice@example.com", ROOM, "fake"), 403);

    let stats = node.daemon().switch_stats();
    assert_eq!((stats.rooms, stats.sessions, stats.bound), (1, 2, 2));
    assert!(stats.messages >= 2 && stats.nicknames >= 4, "{stats:?}");
    assert_eq!(stats.refused.get(&403), Some(&1), "{stats:?}");
    let parts = node.focus().participants(ROOM).unwrap();
    assert_eq!(parts.len(), 2);
    let pa = parts
        .iter()
        .find(|p| p.uri == "sip:alice@example.com")
        .unwrap();
    assert_eq!(pa.nickname.as_deref(), Some("Alice"));
    assert!(pa.sessions[0].bound);
    assert!(pa.sessions[0].worker.is_some());

    // Alice leaves by BYE: she is gone from the room and the roster says so.
    let mut d = a_call.dialog.unwrap();
    let r = alice.in_dialog(&mut d, "BYE", &[], None, "");
    assert_eq!(r.status(), Some(200));
    let gone = notify_with(&mut bob, "state=\"deleted\"");
    assert!(gone.contains("sip:alice@example.com"), "{gone}");
    assert_eq!(node.focus().participants(ROOM).unwrap().len(), 1);
    // Her MSRP session is closed by the switch.
    assert!(a.read().is_none(), "alice's connection closes");
    // Her nickname is free again.
    assert_eq!(nickname(&mut b, "Alice"), 200);

    // Bob's connection drops: the dataplane reports it, the focus sends him a BYE.
    drop(b);
    let bye = bob.request("BYE");
    bob.respond(&bye, 200);
    assert!(node.focus().participants(ROOM).unwrap().is_empty());

    // Unsubscribe: a terminated NOTIFY.
    let r = bob.in_dialog(
        bob_sub.as_mut().unwrap(),
        "SUBSCRIBE",
        &[("Event", "conference"), ("Expires", "0")],
        None,
        "",
    );
    assert_eq!(r.status(), Some(200));
    let terminated = (0..10).any(|_| {
        bob.request("NOTIFY")
            .values_named("Subscription-State")
            .any(|v| v.starts_with("terminated"))
    });
    assert!(terminated, "a terminated NOTIFY ends the subscription");
}

#[test]
fn private_messages_are_refused_when_the_room_or_the_recipient_does_not_take_them() {
    let rooms = format!(
        "{}{}",
        room_toml(ROOM, ""),
        room_toml("sip:quiet@example.com", "private_messages = false")
    );
    let node = FocusNode::start(&toml(&[], &rooms));
    let sip = node.sip(TransportKind::Tcp);

    // In a room without private messages, a=chatroom does not offer them and the switch says 428.
    let mut alice = SipUa::tcp(sip, "alice", "example.com");
    let mut bob = SipUa::tcp(sip, "bob", "example.com");
    let (call, mut a) = join(
        &mut alice,
        node.msrp,
        "sip:quiet@example.com",
        &Offer::new("q-alice"),
    );
    assert!(!call.attr("chatroom").unwrap().contains("private-messages"));
    let (_c, mut b) = join(
        &mut bob,
        node.msrp,
        "sip:quiet@example.com",
        &Offer::new("q-bob"),
    );
    assert_eq!(
        b.say(
            "msg-p1",
            "sip:bob@example.com",
            "sip:alice@example.com",
            "hi"
        ),
        428
    );
    // Regular messages still flow.
    assert_eq!(
        a.say(
            "msg-r1",
            "sip:alice@example.com",
            "sip:quiet@example.com",
            "all"
        ),
        200
    );
    assert_eq!(b.next_send().payload(), b"all");

    // In an open room, a recipient that did not declare private-messages gets none: 428.
    let mut carol = SipUa::tcp(sip, "carol", "example.com");
    let mut dave = SipUa::tcp(sip, "dave", "example.com");
    let mut o = Offer::new("c-carol");
    o.chatroom = Some("nickname");
    let (_c, _carol) = join(&mut carol, node.msrp, ROOM, &o);
    let (_d, mut d) = join(&mut dave, node.msrp, ROOM, &Offer::new("c-dave"));
    assert_eq!(
        d.say(
            "msg-p2",
            "sip:dave@example.com",
            "sip:carol@example.com",
            "hi"
        ),
        428
    );
    // And an unknown recipient is 404.
    assert_eq!(
        d.say(
            "msg-p3",
            "sip:dave@example.com",
            "sip:nobody@example.com",
            "hi"
        ),
        404
    );
}

#[test]
fn joins_refused_by_policy() {
    let rooms = format!(
        "{}{}{}",
        room_toml(ROOM, "max_members = 1"),
        room_toml("sip:secure@example.com", "tls_required = true"),
        room_toml(
            "sip:club@example.com",
            "join = \"allow-list\"\nallow = [\"sip:alice@example.com\"]"
        ),
    );
    let users = [("alice", "alicepw"), ("mallory", "mallorypw")];
    let node = FocusNode::start(&toml(&users, &rooms));
    let sip = node.sip(TransportKind::Tcp);
    let mut ua = SipUa::tcp(sip, "alice", "example.com");

    // No message/cpim in accept-types: 488.
    let mut o = Offer::new("bad1");
    o.accept_types = "text/plain";
    assert_eq!(ua.invite(ROOM, &o.sdp(), "", None).code(), 488);
    // No message stream at all: 488.
    let audio = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP 0\r\n";
    assert_eq!(ua.invite(ROOM, audio, "", None).code(), 488);
    // A TLS-only room refuses TCP/MSRP.
    let r = ua.invite(
        "sip:secure@example.com",
        &Offer::new("bad2").sdp(),
        "",
        None,
    );
    assert_eq!(r.code(), 488);
    // Unknown room.
    // (The registrar side answers for users of our domain that are not rooms: 480 when
    // nobody is registered under that name.)
    let r = ua.invite("sip:nope@example.com", &Offer::new("bad3").sdp(), "", None);
    assert!(matches!(r.code(), 404 | 480), "{}", r.code());

    // Room full: the second member gets 486.
    let (_first, _c) = join(&mut ua, node.msrp, ROOM, &Offer::new("full1"));
    let mut bob = SipUa::tcp(sip, "bob", "example.com");
    let r = bob.invite(ROOM, &Offer::new("full2").sdp(), "", None);
    assert_eq!(r.code(), 486);

    // Allow list: a challenge first, then 403 for an authenticated outsider, 200 for alice.
    let mut mallory = SipUa::tcp(sip, "mallory", "example.com");
    let club = "sip:club@example.com";
    let r = mallory.invite(club, &Offer::new("club-m").sdp(), "", None);
    assert_eq!(r.code(), 401);
    let r = mallory.invite(club, &Offer::new("club-m").sdp(), "", Some("mallorypw"));
    assert_eq!(r.code(), 403);
    let r = ua.invite(club, &Offer::new("club-a").sdp(), "", Some("wrong"));
    assert_eq!(r.code(), 401, "a wrong password is challenged again");
    let r = ua.invite(club, &Offer::new("club-a").sdp(), "", Some("alicepw"));
    assert_eq!(r.code(), 200);
}

/// A TCP proxy on loopback: forwards every connection to `to`, counts connections.
fn middlebox(to: SocketAddr) -> (SocketAddr, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    std::thread::spawn(move || {
        for inbound in l.incoming() {
            let Ok(inbound) = inbound else { break };
            c.fetch_add(1, Ordering::SeqCst);
            let Ok(out) = TcpStream::connect(to) else {
                continue;
            };
            for (mut r, mut w) in [
                (inbound.try_clone().unwrap(), out.try_clone().unwrap()),
                (out, inbound),
            ] {
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16384];
                    while let Ok(n) = r.read(&mut buf) {
                        if n == 0 || w.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = w.shutdown(std::net::Shutdown::Both);
                });
            }
        }
    });
    (addr, count)
}

#[test]
fn cema_join_connects_through_the_middlebox_named_in_c_and_m() {
    // The room connects out (a=setup:active), so the participant's c=/m= matter (RFC 6714).
    let node = FocusNode::start(&toml(&[], &room_toml(ROOM, "setup = \"active\"")));
    let sip = node.sip(TransportKind::Tcp);
    let ua_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let ua_port = ua_listener.local_addr().unwrap().port();
    let (anchor, through) = middlebox(ua_listener.local_addr().unwrap());

    let mut o = Offer::new("cemasess");
    o.port = ua_port;
    o.cema = true;
    o.anchor = Some(anchor);
    let mut ua = SipUa::tcp(sip, "alice", "example.com");
    let call = ua.invite(ROOM, &o.sdp(), "", None);
    assert_eq!(call.code(), 200, "{}", call.sdp);
    assert_eq!(call.attr("msrp-cema").as_deref(), Some(""));
    assert_eq!(call.attr("setup").as_deref(), Some("active"));

    // The switch connects to the anchor; the middlebox relays to our listener.
    ua_listener.set_nonblocking(false).expect("blocking accept");
    let (s, _) = ua_listener.accept().unwrap();
    let mut c = ChatClient::from_stream(s, &call.path(), &o.uri());
    let bind = c.next_send();
    assert_eq!(
        bind.header("To-Path"),
        o.uri(),
        "To-Path is our a=path, not c=/m="
    );
    c.respond(&bind, 200);
    assert_eq!(
        through.load(Ordering::SeqCst),
        1,
        "the connection went through the middlebox"
    );

    // The session works: another participant's message arrives over it.
    let mut bob = SipUa::tcp(sip, "bob", "example.com");
    let b_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut bo = Offer::new("bobcema");
    bo.port = b_listener.local_addr().unwrap().port();
    let bcall = bob.invite(ROOM, &bo.sdp(), "", None);
    assert_eq!(bcall.code(), 200);
    let (bs, _) = b_listener.accept().unwrap();
    let mut b = ChatClient::from_stream(bs, &bcall.path(), &bo.uri());
    let bind = b.next_send();
    b.respond(&bind, 200);
    assert_eq!(
        b.say("msg-x1", "sip:bob@example.com", ROOM, "via the anchor"),
        200
    );
    assert_eq!(c.next_send().payload(), b"via the anchor");
}

#[test]
fn management_view_creates_kicks_and_deletes() {
    let node = FocusNode::start(&format!("rooms = []\n{}", toml(&[], "")));
    let focus = node.focus();
    assert!(focus.rooms().is_empty());
    let info = focus
        .create_room(RoomSettings {
            uri: "sip:ops@example.com".into(),
            name: Some("Ops".into()),
            ..RoomSettings::default()
        })
        .unwrap();
    assert_eq!(info.sessions, 0);
    assert!(focus
        .create_room(RoomSettings {
            uri: "sip:ops@example.com".into(),
            ..RoomSettings::default()
        })
        .is_err());
    assert!(focus
        .create_room(RoomSettings {
            uri: "not a uri".into(),
            ..RoomSettings::default()
        })
        .is_err());
    // A host the SIP server does not serve could never be reached.
    assert!(focus
        .create_room(RoomSettings {
            uri: "sip:ops@elsewhere.org".into(),
            ..RoomSettings::default()
        })
        .is_err());

    let sip = node.sip(TransportKind::Tcp);
    let mut alice = SipUa::tcp(sip, "alice", "example.com");
    let mut bob = SipUa::tcp(sip, "bob", "example.com");
    let (_a, mut a) = join(
        &mut alice,
        node.msrp,
        "sip:ops@example.com",
        &Offer::new("ops-a"),
    );
    let (_b, _bc) = join(
        &mut bob,
        node.msrp,
        "sip:ops@example.com",
        &Offer::new("ops-b"),
    );
    assert_eq!(focus.room("ops").unwrap().sessions, 2);

    // Policy update reaches the switch: private messages now get 428.
    assert_eq!(
        a.say(
            "msg-k0",
            "sip:alice@example.com",
            "sip:bob@example.com",
            "hi"
        ),
        200
    );
    let mut s = focus.room("sip:ops@example.com").unwrap().settings;
    s.private_messages = false;
    focus.update_room("ops", s).unwrap();
    assert_eq!(
        a.say(
            "msg-k1",
            "sip:alice@example.com",
            "sip:bob@example.com",
            "hi"
        ),
        428
    );

    // Kick bob: he gets a BYE.
    assert_eq!(focus.kick("ops", "sip:bob@example.com").unwrap(), 1);
    let bye = bob.request("BYE");
    bob.respond(&bye, 200);
    assert_eq!(focus.participants("ops").unwrap().len(), 1);
    assert!(focus.kick("ops", "sip:bob@example.com").is_err());

    // Delete the room: alice gets a BYE, the room is gone.
    focus.delete_room("ops").unwrap();
    let bye = alice.request("BYE");
    alice.respond(&bye, 200);
    assert!(focus.rooms().is_empty());
    let r = alice.invite("sip:ops@example.com", &Offer::new("ops-c").sdp(), "", None);
    assert!(matches!(r.code(), 404 | 480), "{}", r.code());

    // A closed room through the API.
    focus
        .create_room(RoomSettings {
            uri: "sip:vip@example.com".into(),
            join: JoinPolicy::AllowList(vec!["sip:alice@example.com".into()]),
            ..RoomSettings::default()
        })
        .unwrap();
    assert_eq!(
        bob.invite("sip:vip@example.com", &Offer::new("v").sdp(), "", None)
            .code(),
        401
    );
}

#[test]
fn anonymous_participants_appear_only_under_an_anonymous_uri() {
    let node = FocusNode::start(&toml(&[], &room_toml(ROOM, "")));
    let sip = node.sip(TransportKind::Tcp);
    let mut watcher = SipUa::tcp(sip, "watcher", "example.com");
    let (_ok, _d) = watcher.subscribe(ROOM, 600);
    notify_with(&mut watcher, "state=\"full\"");
    let mut alice = SipUa::tcp(sip, "alice", "example.com");
    let call = alice.invite(ROOM, &Offer::new("anon1").sdp(), "Privacy: id\r\n", None);
    assert_eq!(call.code(), 200);
    let body = notify_with(&mut watcher, "anonymous.invalid");
    assert!(!body.contains("alice"), "{body}");
    let p = node.focus().participants(ROOM).unwrap();
    assert!(p[0].anonymous && p[0].uri.ends_with("@anonymous.invalid"));
}

#[test]
fn the_msrpd_binary_serves_a_demo_room_without_configuration() {
    let Some(bin) = msrpd_binary() else {
        e2e::skip!("the msrpd binary is not built (cargo build -p controlplane --bin msrpd)");
    };
    let dir = TempDir::new("focus-demo");
    let p = FocusProcess::spawn(&bin, dir.path(), None);
    assert_eq!(p.rooms.len(), 1, "one demo room");
    let room = p.rooms[0].clone();
    assert!(room.starts_with("sip:demo@"), "{room}");
    // Join over UDP and over TCP, and talk.
    let mut alice = SipUa::udp(p.sip(TransportKind::Udp), "alice", "127.0.0.1");
    let mut bob = SipUa::tcp(p.sip(TransportKind::Tcp), "bob", "127.0.0.1");
    let (_a, mut a) = join(&mut alice, p.msrp, &room, &Offer::new("demo-a"));
    let (_b, mut b) = join(&mut bob, p.msrp, &room, &Offer::new("demo-b"));
    assert_eq!(nickname(&mut b, "bob"), 200);
    assert_eq!(
        a.say("msg-d1", "sip:alice@127.0.0.1", &room, "hi demo"),
        200
    );
    let got = b.next_send();
    assert_eq!(got.payload(), b"hi demo");
}

#[test]
fn reoffers_move_the_session_or_take_the_participant_out() {
    let node = FocusNode::start(&toml(&[], &room_toml(ROOM, "")));
    let sip = node.sip(TransportKind::Tcp);
    let mut alice = SipUa::tcp(sip, "alice", "example.com");
    let mut bob = SipUa::tcp(sip, "bob", "example.com");
    let (call, a) = join(&mut alice, node.msrp, ROOM, &Offer::new("re-alice-1"));
    let (_b, mut b) = join(&mut bob, node.msrp, ROOM, &Offer::new("re-bob"));
    let mut d = call.dialog.clone().unwrap();

    // A re-INVITE with a new path (new connection): the old binding ends, the new one works.
    let moved = Offer::new("re-alice-2");
    let r = alice.in_dialog(&mut d, "INVITE", &[], Some("application/sdp"), &moved.sdp());
    assert_eq!(r.status(), Some(200));
    let path = sdp_attr(&String::from_utf8_lossy(&r.body()), "path").unwrap();
    assert_eq!(path, call.path(), "our URI stays");
    drop(a);
    let mut a2 = ChatClient::connect(node.msrp, &path, &moved.uri());
    assert_eq!(a2.bind().code(), Some(200));
    assert_eq!(
        b.say("msg-re1", "sip:bob@example.com", ROOM, "still here?"),
        200
    );
    assert_eq!(a2.next_send().payload(), b"still here?");

    // UPDATE with the same offer changes nothing.
    let r = alice.in_dialog(&mut d, "UPDATE", &[], Some("application/sdp"), &moved.sdp());
    assert_eq!(r.status(), Some(200));
    assert_eq!(node.focus().participants(ROOM).unwrap().len(), 2);

    // A re-INVITE taking the stream away (port 0) takes alice out of the room.
    let off = moved.sdp().replace("m=message 9 ", "m=message 0 ");
    let r = alice.in_dialog(&mut d, "INVITE", &[], Some("application/sdp"), &off);
    assert_eq!(r.status(), Some(200));
    let left = node.focus().participants(ROOM).unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].uri, "sip:bob@example.com");
    assert!(a2.read().is_none(), "her MSRP session is closed");

    // A request in a dialog that does not exist: 481.
    let r = alice.in_dialog(&mut d, "BYE", &[], None, "");
    assert_eq!(r.status(), Some(481));
    // OPTIONS to the room tells what it supports; an unknown event package is 489.
    let r = bob.plain_request("OPTIONS", ROOM, "");
    assert_eq!(r.status(), Some(200));
    assert!(r.values_named("Allow").any(|v| v.contains("SUBSCRIBE")));
    let r = bob.plain_request("SUBSCRIBE", ROOM, "Event: presence\r\n");
    assert_eq!(r.status(), Some(489));
}

#[test]
fn reloaded_rooms_are_reconciled() {
    let node = FocusNode::start(&toml(&[], &room_toml(ROOM, "")));
    let sip = node.sip(TransportKind::Tcp);
    let mut alice = SipUa::tcp(sip, "alice", "example.com");
    let (_c, _a) = join(&mut alice, node.msrp, ROOM, &Offer::new("rl-alice"));

    // The new file drops `chat`, adds `news` and keeps nothing else.
    let new = toml(
        &[],
        &room_toml("sip:news@example.com", "private_messages = false"),
    );
    let cfg = controlplane::config::Config::parse(&new).unwrap();
    let report = node.daemon().reload_rooms(&cfg).unwrap();
    assert_eq!(report.deleted, vec![ROOM.to_string()]);
    assert_eq!(report.created, vec!["sip:news@example.com".to_string()]);
    let bye = alice.request("BYE");
    alice.respond(&bye, 200);
    // Same file again: nothing to do; a changed setting is an update.
    assert_eq!(
        node.daemon().reload_rooms(&cfg).unwrap(),
        Default::default()
    );
    let changed = toml(&[], &room_toml("sip:news@example.com", "max_members = 5"));
    let cfg = controlplane::config::Config::parse(&changed).unwrap();
    let report = node.daemon().reload_rooms(&cfg).unwrap();
    assert_eq!(report.updated, vec!["sip:news@example.com".to_string()]);
    assert_eq!(node.focus().room("news").unwrap().settings.max_members, 5);
    // No [[rooms]] at all: the demo room.
    let cfg = controlplane::config::Config::parse(&toml(&[], "")).unwrap();
    node.daemon().reload_rooms(&cfg).unwrap();
    let rooms = node.focus().rooms();
    assert_eq!(rooms.len(), 1);
    assert!(rooms[0].settings.uri.starts_with("sip:demo@"));
}

#[test]
fn tls_only_room_over_sip_tls_and_msrps() {
    let dir = TempDir::new("focus-tls");
    let ca = e2e::pki::TestCa::new(dir.path(), "focus");
    let leaf = ca.leaf(dir.path(), "localhost");
    let cfg = format!(
        "[msrp]\nhost = \"localhost\"\nlisten = [\"127.0.0.1:0\"]\nlisten_tls = [\"127.0.0.1:0\"]\n\
         [tls]\ncert = {:?}\nkey = {:?}\n[relay]\nrequire_auth = false\n[log]\nlevel = \"warn\"\n\
         [sip]\nudp = []\ntcp = [\"127.0.0.1:0\"]\ntls = [\"127.0.0.1:0\"]\ndomains = [\"example.com\"]\n\
         {}",
        leaf.cert_path.display().to_string(),
        leaf.key_path.display().to_string(),
        room_toml("sip:vault@example.com", "tls_required = true"),
    );
    let node = FocusNode::start(&cfg);
    let msrps = node
        .daemon()
        .msrp_addrs
        .iter()
        .find(|(_, t)| *t)
        .map(|(a, _)| *a)
        .unwrap();
    let mut ua = SipUa::tls(
        node.sip(TransportKind::Tls),
        "localhost",
        ca.client_config(),
        "alice",
        "example.com",
    );
    let mut o = Offer::new("tls-alice");
    o.proto = "TCP/TLS/MSRP";
    let call = ua.invite("sip:vault@example.com", &o.sdp(), "", None);
    assert_eq!(call.code(), 200, "{}", call.sdp);
    let path = call.path();
    assert!(path.starts_with("msrps://localhost:"), "{path}");
    let contact = call
        .response
        .values_named("Contact")
        .next()
        .unwrap()
        .to_string();
    assert!(contact.contains("transport=tls"), "{contact}");
    let mut c = e2e::MsrpClient::connect_tls(msrps, "localhost", ca.client_config(), &o.uri())
        .expect("msrps connect");
    let tid = c.send_request("SEND", &[path], &[]);
    assert_eq!(c.response_to(&tid).code(), Some(200), "binding over TLS");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !node.focus().participants("vault").unwrap()[0].sessions[0].bound {
        assert!(std::time::Instant::now() < deadline, "session bound");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_quarantined_nickname_waits_for_its_owner() {
    let node = FocusNode::start(&toml(&[], &room_toml(ROOM, "quarantine_secs = 600")));
    let sip = node.sip(TransportKind::Tcp);
    let mut alice = SipUa::tcp(sip, "alice", "example.com");
    let mut bob = SipUa::tcp(sip, "bob", "example.com");
    let (call, mut a) = join(&mut alice, node.msrp, ROOM, &Offer::new("q-alice-1"));
    let (_b, mut b) = join(&mut bob, node.msrp, ROOM, &Offer::new("q-bob-1"));
    assert_eq!(nickname(&mut a, "Wonder"), 200);
    // Alice's second device may share it (same AoR); bob may not.
    let mut alice2 = SipUa::tcp(sip, "alice", "example.com");
    let (_c2, mut a2) = join(&mut alice2, node.msrp, ROOM, &Offer::new("q-alice-2"));
    assert_eq!(nickname(&mut a2, "wonder"), 200);
    assert_eq!(nickname(&mut b, "WONDER"), 425);
    // Both of alice's sessions leave: the nickname stays reserved for her.
    let mut d = call.dialog.clone().unwrap();
    assert_eq!(
        alice.in_dialog(&mut d, "BYE", &[], None, "").status(),
        Some(200)
    );
    drop(a2);
    let bye = alice2.request("BYE");
    alice2.respond(&bye, 200);
    assert_eq!(nickname(&mut b, "Wonder"), 425, "quarantined for its owner");
    // Alice comes back and reclaims it.
    let (_c3, mut a3) = join(&mut alice, node.msrp, ROOM, &Offer::new("q-alice-3"));
    assert_eq!(nickname(&mut a3, "Wonder"), 200);
    drop(a);
}

/// Applies every NOTIFY to `roster` (each must apply: versions in sequence) until `done`.
fn follow(
    ua: &mut SipUa,
    roster: &mut controlplane::conference::ClientRoster,
    what: &str,
    done: impl Fn(&controlplane::conference::ClientRoster) -> bool,
) {
    for _ in 0..20 {
        if done(roster) {
            return;
        }
        let n = ua.request("NOTIFY");
        let doc = controlplane::conference::parse_conference_info(&n.body())
            .unwrap_or_else(|e| panic!("NOTIFY body does not parse: {e}"));
        roster
            .apply(&doc)
            .unwrap_or_else(|e| panic!("roster cannot follow ({what}): {e}"));
    }
    assert!(done(roster), "roster never showed: {what}");
}

#[test]
fn a_subscriber_roster_follows_every_change_in_order() {
    use controlplane::conference::{ClientRoster, EndpointStatus};
    let node = FocusNode::start(&toml(&[], &room_toml(ROOM, "")));
    let sip = node.sip(TransportKind::Tcp);
    let mut w = SipUa::tcp(sip, "watcher", "example.com");
    let (ok, _d) = w.subscribe(ROOM, 600);
    assert_eq!(ok.status(), Some(200));
    let mut roster = ClientRoster::new();
    follow(&mut w, &mut roster, "the full state", |r| {
        r.version().is_some()
    });
    assert_eq!(roster.users().count(), 0);
    assert_eq!(
        roster
            .description()
            .and_then(|d| d.display_text.clone())
            .as_deref(),
        Some("Test room")
    );

    let mut alice = SipUa::tcp(sip, "alice", "example.com");
    let (call, mut a) = join(&mut alice, node.msrp, ROOM, &Offer::new("ro-alice"));
    let alice_uri = "sip:alice@example.com";
    follow(&mut w, &mut roster, "alice connected", |r| {
        r.user(alice_uri).is_some_and(|u| {
            u.endpoints
                .iter()
                .any(|e| e.status == Some(EndpointStatus::Connected))
        })
    });
    assert_eq!(
        roster.user(alice_uri).unwrap().display_text.as_deref(),
        Some("ALICE")
    );
    assert_eq!(nickname(&mut a, "Queen of Hearts"), 200);
    follow(&mut w, &mut roster, "alice's nickname", |r| {
        r.find_by_nickname("queen of hearts").is_some()
    });
    assert_eq!(
        roster.find_by_nickname("Queen of Hearts").unwrap().entity,
        alice_uri
    );
    assert_eq!(
        roster.conference_state().and_then(|s| s.user_count),
        Some(1)
    );
    let mut d = call.dialog.clone().unwrap();
    assert_eq!(
        alice.in_dialog(&mut d, "BYE", &[], None, "").status(),
        Some(200)
    );
    follow(&mut w, &mut roster, "alice gone", |r| {
        r.user(alice_uri).is_none()
    });
    assert_eq!(roster.users().count(), 0);
    drop(a);
}
