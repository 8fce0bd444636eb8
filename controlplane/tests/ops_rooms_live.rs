//! Reloading a room's policy while members are connected: the members stay and keep
//! chatting, the new policy applies to the next join (max_members lowered: a third user is
//! refused), and the API shows the new settings.

mod ops_support;

use std::net::SocketAddr;

use controlplane::sip::TransportKind;
use dataplane::switch::testkit::ChatClient;
use e2e::focusnode::{toml, FocusProcess};
use e2e::procs::TempDir;
use e2e::sipua::{Call, SipUa};
use ops_support::{ctl, msrpd};

const ROOM: &str = "sip:live@example.com";

fn offer(sid: &str) -> (String, String) {
    let uri = format!("msrp://127.0.0.1:9/{sid};tcp");
    let sdp = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=message 9 TCP/MSRP *\r\na=accept-types:message/cpim text/plain\r\n\
a=accept-wrapped-types:text/plain *\r\na=path:{uri}\r\na=setup:actpass\r\n\
a=chatroom:nickname private-messages\r\n"
    );
    (uri, sdp)
}

fn join(ua: &mut SipUa, msrp: SocketAddr, sid: &str) -> (Call, ChatClient) {
    let (uri, sdp) = offer(sid);
    let call = ua.invite(ROOM, &sdp, "", None);
    assert_eq!(call.code(), 200, "{sid} joins: {}", call.sdp);
    let mut c = ChatClient::connect(msrp, &call.path(), &uri);
    assert_eq!(c.bind().code(), Some(200), "binding SEND");
    (call, c)
}

fn config(max_members: usize, subject: &str, sock: &str) -> String {
    toml(
        &[],
        &format!(
            "[[rooms]]\nuri = {ROOM:?}\nmax_members = {max_members}\nsubject = {subject:?}\n\n\
             [mgmt]\nlisten = \"\"\nsocket = {sock:?}\ndrain_timeout_secs = 2\n"
        ),
    )
}

#[test]
fn room_policy_reload_keeps_members_and_applies_to_new_joins() {
    let dir = TempDir::new("ops-rooms-live");
    let sock = dir.join("mgmt.sock").display().to_string();
    let p = FocusProcess::spawn(msrpd(), dir.path(), Some(&config(5, "before", &sock)));
    let sip = p.sip(TransportKind::Tcp);
    let mut alice = SipUa::tcp(sip, "alice", "example.com");
    let mut bob = SipUa::tcp(sip, "bob", "example.com");
    let (_ca, mut a) = join(&mut alice, p.msrp, "live-a");
    let (_cb, mut b) = join(&mut bob, p.msrp, "live-b");
    assert_eq!(
        a.say("msg-live1", "sip:alice@example.com", ROOM, "one"),
        200
    );
    assert_eq!(b.next_send().payload(), b"one");

    // Lower max_members to the two present, change the subject; reload over the socket.
    std::fs::write(dir.join("msrpd-focus.toml"), config(2, "after", &sock)).unwrap();
    let c = ctl(&["--socket", &sock, "reload", "--json"], &[]);
    assert_eq!(c.code, 0, "{}{}", c.out, c.err);
    let rep: serde_json::Value = serde_json::from_str(&c.out).unwrap();
    assert_eq!(rep["applied"], serde_json::json!(["rooms"]), "{rep}");

    // The members stay and keep talking.
    assert_eq!(
        a.say("msg-live2", "sip:alice@example.com", ROOM, "two"),
        200
    );
    assert_eq!(b.next_send().payload(), b"two");
    let c = ctl(&["--socket", &sock, "rooms", "show", "live", "--json"], &[]);
    assert_eq!(c.code, 0, "{}", c.err);
    let v: serde_json::Value = serde_json::from_str(&c.out).unwrap();
    assert_eq!(v["settings"]["subject"], "after", "{v}");
    assert_eq!(v["settings"]["max_members"], 2, "{v}");
    assert_eq!(v["members"], 2, "{v}");
    assert!(v["messages"].as_u64().unwrap() >= 2, "{v}");

    // The room is full under the new policy.
    let mut carol = SipUa::tcp(sip, "carol", "example.com");
    let (_, sdp) = offer("live-c");
    let r = carol.invite(ROOM, &sdp, "", None);
    assert_ne!(r.code(), 200, "a third member joined a room of 2");
}
