//! The client against the scripted room: what it sends (INVITE/SDP, ACK, SUBSCRIBE, NICKNAME,
//! CPIM SENDs, BYE) and what it shows of what it receives, plus the failure cases.

use std::collections::HashMap;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream, Lines};
use tokio::task::JoinHandle;

use super::fake_focus::{Cmd, FakeFocus, FocusConfig, Seen};
use crate::chat::{run, ChatError, ChatOptions};
use crate::sdp::SetupRole;
use crate::sip::wire::HeaderName;
use dataplane::wire::CpimView;

struct Client {
    input: Option<DuplexStream>,
    lines: Lines<BufReader<DuplexStream>>,
    transcript: Vec<String>,
    /// Lines read but not matched yet (roster and nickname lines may come in any order).
    unmatched: Vec<String>,
    task: JoinHandle<Result<(), ChatError>>,
}

fn opts(focus: &FakeFocus, nick: Option<&str>) -> ChatOptions {
    let mut o = ChatOptions::new(focus.room_uri.clone());
    o.nick = nick.map(Into::into);
    o.timeout = 5;
    o
}

fn start(o: ChatOptions) -> Client {
    let (input, client_in) = tokio::io::duplex(64 * 1024);
    let (client_out, output) = tokio::io::duplex(1 << 20);
    let task = tokio::spawn(run(o, client_in, client_out));
    Client {
        input: Some(input),
        lines: BufReader::new(output).lines(),
        transcript: Vec::new(),
        unmatched: Vec::new(),
        task,
    }
}

impl Client {
    async fn say(&mut self, line: &str) {
        let i = self.input.as_mut().expect("input open");
        i.write_all(format!("{line}\n").as_bytes()).await.unwrap();
    }

    /// The first output line containing `needle` not matched before, waiting for it.
    async fn expect(&mut self, needle: &str) -> String {
        if let Some(i) = self.unmatched.iter().position(|l| l.contains(needle)) {
            return self.unmatched.remove(i);
        }
        let wait = async {
            loop {
                match self.lines.next_line().await.unwrap() {
                    Some(l) => {
                        self.transcript.push(l.clone());
                        if l.contains(needle) {
                            return l;
                        }
                        self.unmatched.push(l);
                    }
                    None => panic!("output ended before {needle:?}: {:#?}", self.transcript),
                }
            }
        };
        match tokio::time::timeout(Duration::from_secs(10), wait).await {
            Ok(l) => l,
            Err(_) => panic!("no line with {needle:?}; got {:#?}", self.transcript),
        }
    }

    async fn end(mut self) -> Result<(), ChatError> {
        self.input = None; // Ctrl-D
        let r = tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("client ends")
            .expect("client task");
        while let Ok(Ok(Some(l))) =
            tokio::time::timeout(Duration::from_millis(200), self.lines.next_line()).await
        {
            self.transcript.push(l);
        }
        r
    }
}

async fn joined(focus: &FakeFocus, nick: &str) -> Client {
    let mut c = start(opts(focus, Some(nick)));
    c.expect("* joined").await;
    c
}

fn cpim_of(body: &[u8]) -> (String, String, String) {
    let v = CpimView::parse(body).expect("CPIM body");
    (
        String::from_utf8_lossy(v.from().unwrap().unwrap().uri).into_owned(),
        String::from_utf8_lossy(v.to().next().unwrap().unwrap().uri).into_owned(),
        String::from_utf8_lossy(v.payload()).into_owned(),
    )
}

#[tokio::test]
async fn joins_chats_and_leaves_like_a_participant() {
    let focus = FakeFocus::start(FocusConfig {
        others: vec![("sip:bob@example.com", Some("bob"))],
        ..FocusConfig::default()
    })
    .await;
    let mut c = joined(&focus, "alice").await;
    c.expect("you are now known as alice").await;

    // INVITE: the room URI, an SDP offer for a chat-aware MSRP stream.
    let inv = focus.sip("INVITE").await;
    assert_eq!(inv.request_uri(), focus.room_uri);
    assert_eq!(inv.value(HeaderName::ContentType), Some("application/sdp"));
    assert_eq!(
        inv.from_hdr().unwrap().uri.raw,
        "sip:alice@127.0.0.1",
        "default AOR: nick at the room's host"
    );
    let sdp_text = String::from_utf8(inv.body().to_vec()).unwrap();
    let sdp = crate::sdp::parse(sdp_text.as_bytes()).unwrap();
    let media = sdp.msrp_media(0).unwrap();
    assert_eq!(media.setup().unwrap(), Some(SetupRole::ActPass));
    let path = media.path().unwrap().unwrap();
    assert_eq!(path.len(), 1);
    assert_eq!(path[0].port, Some(media.port()));
    let caps = media.chatroom().unwrap().unwrap();
    assert!(caps.nicknames && caps.private_messages);
    for line in [
        "TCP/MSRP *",
        "a=accept-types:message/cpim\r\n",
        "a=accept-wrapped-types:text/plain *\r\n",
        "a=chatroom:nickname private-messages\r\n",
    ] {
        assert!(sdp_text.contains(line), "{line:?} in {sdp_text}");
    }
    // ACK for the 2xx: same CSeq number, the room's tag.
    let ack = focus.sip("ACK").await;
    assert_eq!(ack.cseq().unwrap().seq, inv.cseq().unwrap().seq);
    assert_eq!(ack.to_hdr().unwrap().tag(), Some("f1"));
    // SUBSCRIBE to the conference event package of the room.
    let sub = focus.sip("SUBSCRIBE").await;
    assert_eq!(sub.request_uri(), focus.room_uri);
    assert_eq!(sub.value(HeaderName::Event), Some("conference"));
    assert_ne!(sub.call_id(), inv.call_id());
    // NICKNAME with the nick.
    let (nick, _) = focus.msrp("NICKNAME", 1).await;
    assert_eq!(nick.use_nickname().unwrap().unwrap(), "alice");
    c.expect("2 in the room").await;

    // Received messages: regular and private, named from the roster.
    focus.cmd(Cmd::Say(
        "sip:bob@example.com".into(),
        focus.room_uri.clone(),
        "hi alice\nhow are you?".into(),
    ));
    assert_eq!(c.expect("hi alice").await, "<bob> hi alice");
    assert_eq!(c.expect("how are you").await, "<bob> how are you?");
    focus.cmd(Cmd::Say(
        "sip:bob@example.com".into(),
        "sip:alice@127.0.0.1".into(),
        "psst \x1b[2J".into(),
    ));
    assert_eq!(c.expect("psst").await, "[private] <bob> psst \u{FFFD}[2J");
    focus.cmd(Cmd::Say(
        "sip:zed@example.com".into(),
        focus.room_uri.clone(),
        "who am I".into(),
    ));
    assert_eq!(
        c.expect("who am I").await,
        "<sip:zed@example.com> who am I",
        "unknown senders show as their CPIM From"
    );

    // What we send: CPIM with From = our AOR, To = the room or the recipient.
    c.say("hello room").await;
    let (send, body) = focus.msrp("SEND", 1).await;
    assert_eq!(
        send.raw(dataplane::wire::HeaderName::ContentType),
        Some(&b"message/cpim"[..])
    );
    let (from, to, text) = cpim_of(&body);
    assert_eq!(
        (from.as_str(), to.as_str(), text.as_str()),
        ("sip:alice@127.0.0.1", focus.room_uri.as_str(), "hello room")
    );
    c.say("/msg bob just for you").await;
    let (_, body) = focus.msrp("SEND", 2).await;
    let (_, to, text) = cpim_of(&body);
    assert_eq!(
        (to.as_str(), text.as_str()),
        ("sip:bob@example.com", "just for you")
    );

    // Roster changes.
    focus.cmd(Cmd::Join("sip:carol@example.com", Some("carol")));
    assert_eq!(c.expect("joined").await, "* carol joined");
    focus.cmd(Cmd::Leave("sip:bob@example.com"));
    assert_eq!(c.expect("left").await, "* bob left");
    c.say("/who").await;
    assert_eq!(c.expect("in the room:").await, "* 2 in the room:");
    let a = c.expect("<sip:").await;
    let b = c.expect("<sip:").await;
    let mut who = [a, b];
    who.sort();
    assert_eq!(
        who,
        [
            "*   alice <sip:alice@127.0.0.1> (you)".to_string(),
            "*   carol <sip:carol@example.com>".to_string()
        ]
    );

    c.say("/quit").await;
    c.expect("* left").await;
    let r = c.end().await;
    assert!(r.is_ok(), "{r:?}");
    let bye = focus.sip("BYE").await;
    assert_eq!(bye.call_id(), inv.call_id());
    let subs = focus
        .wait_n(2, |s| s.sip_method() == Some("SUBSCRIBE"))
        .await;
    let Seen::Sip(unsub) = &subs[1] else {
        unreachable!()
    };
    assert_eq!(unsub.expires(), Some(0), "unsubscribe on the way out");
    assert_eq!(unsub.call_id(), sub.call_id());
}

#[tokio::test]
async fn accepts_the_rooms_connection_when_it_answers_active() {
    let focus = FakeFocus::start(FocusConfig {
        setup: "active",
        ..FocusConfig::default()
    })
    .await;
    let mut c = joined(&focus, "dana").await;
    c.expect("you are now known as dana").await;
    c.say("over the room's connection").await;
    let (_, body) = focus.msrp("SEND", 1).await;
    assert_eq!(cpim_of(&body).2, "over the room's connection");
    // The passive client never sent a bodiless binding SEND of its own.
    assert!(focus.seen().iter().all(
        |s| !matches!(s, Seen::Msrp(h, b) if h.method_name() == Some(b"SEND") && b.is_empty())
    ));
    assert!(c.end().await.is_ok());
}

#[tokio::test]
async fn nickname_refusals_are_explained_and_another_can_be_chosen() {
    let mut nicknames = HashMap::new();
    nicknames.insert("alice".to_string(), 425);
    nicknames.insert("bad nick".to_string(), 424);
    let focus = FakeFocus::start(FocusConfig {
        nicknames,
        ..FocusConfig::default()
    })
    .await;
    let mut c = joined(&focus, "alice").await;
    let l = c.expect("alice").await;
    assert!(
        l.contains("\"alice\" is reserved or already in use (425)"),
        "{l}"
    );
    assert!(l.contains("/nick NAME"));
    c.say("/nick bad nick").await;
    assert!(c
        .expect("(424)")
        .await
        .contains("\"bad nick\" is malformed"));
    c.say("/nick alice2").await;
    c.expect("you are now known as alice2").await;
    let (n3, _) = focus.msrp("NICKNAME", 3).await;
    assert_eq!(n3.use_nickname().unwrap().unwrap(), "alice2");
    assert!(c.end().await.is_ok());
}

#[tokio::test]
async fn private_message_errors_name_the_recipient() {
    let mut refuse_to = HashMap::new();
    refuse_to.insert("sip:bob@example.com".to_string(), 428);
    refuse_to.insert("sip:carol@example.com".to_string(), 404);
    let focus = FakeFocus::start(FocusConfig {
        refuse_to,
        others: vec![
            ("sip:bob@example.com", Some("bob")),
            ("sip:carol@example.com", Some("carol")),
        ],
        ..FocusConfig::default()
    })
    .await;
    let mut c = joined(&focus, "erin").await;
    c.expect("3 in the room").await;
    c.say("/msg bob hi").await;
    assert_eq!(
        c.expect("(428)").await,
        "! bob does not accept private messages (428)"
    );
    c.say("/msg carol hi").await;
    assert_eq!(
        c.expect("(404)").await,
        "! the room does not know carol (404)"
    );
    c.say("/msg nobody hi").await;
    assert_eq!(
        c.expect("nobody").await,
        "! nobody called nobody in the room (see /who)"
    );
    c.say("/dance").await;
    assert!(c.expect("unknown command").await.contains("/dance"));
    assert!(c.end().await.is_ok());
}

#[tokio::test]
async fn refused_invites_fail_with_the_status() {
    for (code, hint) in [
        (488, "does not accept our media"),
        (403, "not allowed"),
        (404, "no such room"),
    ] {
        let focus = FakeFocus::start(FocusConfig {
            invite_status: code,
            ..FocusConfig::default()
        })
        .await;
        let c = start(opts(&focus, Some("al")));
        let err = c.end().await.unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, ChatError::Rejected { code: c, .. } if c == code),
            "{text}"
        );
        assert!(
            text.contains(&code.to_string()) && text.contains(hint),
            "{text}"
        );
        assert!(!text.contains('\n'));
        // The transaction layer acknowledged the failure.
        focus.sip("ACK").await;
    }
}

#[tokio::test]
async fn unreachable_room_is_a_clear_error() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    let c = start(ChatOptions::new(format!("sip:room@{addr}")));
    let err = c.end().await.unwrap_err();
    assert!(matches!(err, ChatError::Unreachable { .. }), "{err}");
    assert!(err.to_string().starts_with("room unreachable"), "{err}");
}

#[tokio::test]
async fn digest_challenge_is_answered_with_the_password() {
    let focus = FakeFocus::start(FocusConfig {
        password: Some("s3cret"),
        ..FocusConfig::default()
    })
    .await;
    let mut o = opts(&focus, Some("gus"));
    o.password = Some("s3cret".into());
    let mut c = start(o);
    c.expect("* joined").await;
    let invites = focus.wait_n(2, |s| s.sip_method() == Some("INVITE")).await;
    let Seen::Sip(second) = &invites[1] else {
        unreachable!()
    };
    let creds = dataplane::digest::Credentials::parse(
        second.value(HeaderName::ProxyAuthorization).unwrap(),
    )
    .unwrap();
    assert_eq!(creds.username, "gus");
    assert_eq!(second.cseq().unwrap().seq, 2);
    assert!(c.end().await.is_ok());

    // No password: a clear error; a wrong one: refused.
    let focus = FakeFocus::start(FocusConfig {
        password: Some("s3cret"),
        ..FocusConfig::default()
    })
    .await;
    let err = start(opts(&focus, Some("gus"))).end().await.unwrap_err();
    assert!(err.to_string().contains("--password"), "{err}");
    let focus = FakeFocus::start(FocusConfig {
        password: Some("s3cret"),
        ..FocusConfig::default()
    })
    .await;
    let mut o = opts(&focus, Some("gus"));
    o.password = Some("wrong".into());
    let err = start(o).end().await.unwrap_err();
    assert!(
        matches!(err, ChatError::Rejected { code: 403, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn losing_the_msrp_connection_ends_with_an_error() {
    let focus = FakeFocus::start(FocusConfig::default()).await;
    let mut c = joined(&focus, "hal").await;
    c.expect("now known as").await;
    focus.cmd(Cmd::DropMsrp);
    let r = tokio::time::timeout(Duration::from_secs(10), &mut c.task)
        .await
        .unwrap()
        .unwrap();
    let err = r.unwrap_err();
    assert!(matches!(err, ChatError::MsrpLost(_)), "{err}");
    assert!(err.to_string().starts_with("MSRP connection lost"));
}

#[tokio::test]
async fn bye_from_the_room_ends_the_session() {
    let focus = FakeFocus::start(FocusConfig::default()).await;
    let mut c = joined(&focus, "ivy").await;
    c.expect("now known as").await;
    focus.cmd(Cmd::Bye);
    let r = tokio::time::timeout(Duration::from_secs(10), &mut c.task)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(r, Err(ChatError::Ended(_))), "{r:?}");
    // The client answered the BYE.
    focus
        .wait_n(1, |s| matches!(s, Seen::Sip(m) if m.status() == Some(200) && m.cseq().is_ok_and(|c| c.method == "BYE")))
        .await;
}

#[tokio::test]
async fn a_script_typing_before_the_join_completes_is_served_in_order() {
    let focus = FakeFocus::start(FocusConfig {
        others: vec![("sip:bob@example.com", Some("bob"))],
        ..FocusConfig::default()
    })
    .await;
    let mut c = start(opts(&focus, Some("sam")));
    // Everything typed at once, before the room even answered.
    c.say("first line").await;
    c.say("/msg bob second, privately").await;
    c.say("/quit").await;
    c.expect("* left").await;
    assert!(c.end().await.is_ok());
    let (_, first) = focus.msrp("SEND", 1).await;
    let (_, second) = focus.msrp("SEND", 2).await;
    assert_eq!(cpim_of(&first).2, "first line");
    let (_, to, text) = cpim_of(&second);
    assert_eq!(
        (to.as_str(), text.as_str()),
        ("sip:bob@example.com", "second, privately"),
        "the roster was in before the queued /msg ran"
    );
    // The messages went out before the BYE.
    let seen = focus.seen();
    let pos = |pred: &dyn Fn(&Seen) -> bool| seen.iter().position(pred).unwrap();
    let second_at = pos(&|s| matches!(s, Seen::Msrp(_, b) if b.windows(6).any(|w| w == b"second")));
    let bye_at = pos(&|s| s.sip_method() == Some("BYE"));
    assert!(second_at < bye_at);
}

#[tokio::test]
async fn an_unreachable_msrp_path_fails_the_join_and_hangs_up() {
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = dead.local_addr().unwrap().port();
    drop(dead);
    let focus = FakeFocus::start(FocusConfig {
        answer_port: Some(port),
        ..FocusConfig::default()
    })
    .await;
    let err = start(opts(&focus, Some("kim"))).end().await.unwrap_err();
    assert!(matches!(err, ChatError::MsrpSetup(_)), "{err}");
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
    let bye = focus.sip("BYE").await;
    assert_eq!(bye.call_id(), focus.sip("INVITE").await.call_id());
}
