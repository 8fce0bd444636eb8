//! Offer/answer tests: RFC 7701 §9.1, RFC 6714 procedures, RFC 6135 roles, re-offers.

use super::*;
use crate::sdp::address::{NoResolver, StaticResolver};
use crate::sdp::tests::{RFC7701_ANSWER, RFC7701_OFFER};
use crate::sdp::{parse, Attribute, FormatEntry, SessionDescription, SetupRole, TimeDescription};

fn room_local(host: &str, port: u16, sid: &str) -> LocalMsrp {
    LocalMsrp {
        host: Host::parse(host).unwrap(),
        tcp_port: Some(port),
        tls_port: Some(port + 1),
        session_id: sid.into(),
        fingerprint: Some(Fingerprint::parse("sha-256 AB:CD:EF").unwrap()),
    }
}

fn wrapped() -> FormatList {
    FormatList(vec![
        FormatEntry::media("text", "plain"),
        FormatEntry::media("text", "html"),
        FormatEntry::Any,
    ])
}

fn rfc7701_answerer() -> ChatAnswerer {
    let policy = AnswerPolicy {
        accept_wrapped_types: Some(wrapped()),
        origin_username: "chat".into(),
        ..AnswerPolicy::default()
    };
    ChatAnswerer::new(
        policy,
        room_local("chat.example.com", 12763, "kjhd37s2s20w2a"),
        2890844527,
    )
}

fn sdp(text: &str) -> SessionDescription {
    if text.contains('\r') {
        return parse(text.as_bytes()).unwrap();
    }
    parse(text.replace('\n', "\r\n").as_bytes()).unwrap()
}

fn reject(a: &mut ChatAnswerer, offer: &str) -> Rejection {
    a.answer(&sdp(offer), &NoResolver).unwrap_err()
}

/// An offer template: c= host, m= port, proto, extra media attributes.
fn offer(c: &str, port: u16, proto: &str, attrs: &str) -> String {
    format!(
        "v=0\no=- 1 1 IN IP4 {c}\ns=-\nc=IN IP4 {c}\nt=0 0\nm=message {port} {proto} *\n{attrs}"
    )
}

#[test]
fn rfc_7701_join_answer_matches_f2() {
    let mut a = rfc7701_answerer();
    let ans = a.answer(&sdp(RFC7701_OFFER), &NoResolver).unwrap();
    // F2 plus what RFC 6135 §4.2.1 requires (an explicit a=setup) and RFC 8866 (t=).
    let mut expected = parse(RFC7701_ANSWER.as_bytes()).unwrap();
    expected.times.push(TimeDescription::new(0, 0));
    expected.media[0]
        .attributes
        .insert(3, Attribute::value("setup", "passive"));
    assert_eq!(ans.sdp.origin, expected.origin);
    assert_eq!(ans.sdp.connection, expected.connection);
    assert_eq!(ans.sdp.media, expected.media);
    let s = ans.session.unwrap();
    assert_eq!(s.role, ConnectionRole::Passive);
    assert_eq!(
        s.peer_path[0].to_string(),
        "msrp://client.atlanta.example.com:7654/jshA7weztas;tcp"
    );
    assert_eq!(
        s.local_uri.to_string(),
        "msrp://chat.example.com:12763/kjhd37s2s20w2a;tcp"
    );
    assert!(s.chat_aware() && s.private_messages() && s.nicknames());
    assert!(!s.cema && !s.tls());
    assert!(s.peer_accept_types.lists("text", "html"));
    assert!(ans.changes.is_none());
}

#[test]
fn rfc_7701_client_reads_f2() {
    let cfg = OfferConfig {
        local: LocalMsrp {
            host: Host::parse("client.atlanta.example.com").unwrap(),
            tcp_port: Some(7654),
            tls_port: None,
            session_id: "jshA7weztas".into(),
            fingerprint: None,
        },
        proto: MsrpProto::Tcp,
        setup: SetupRole::ActPass,
        cema: false,
        accept_types: FormatList::parse("message/cpim text/plain text/html", "accept-types")
            .unwrap(),
        accept_wrapped_types: None,
        chatroom: Some(ChatroomCaps {
            nicknames: true,
            private_messages: true,
            extensions: vec![],
        }),
        max_size: None,
        relays: vec![],
    };
    let client = ChatOfferer::new(cfg, 2890844526);
    let res = client
        .process_answer(&parse(RFC7701_ANSWER.as_bytes()).unwrap(), &NoResolver)
        .unwrap();
    let OfferResult::Established(s) = res else {
        panic!("{res:?}")
    };
    // F2 has no a=setup: RFC 4975 default, the offerer connects to the first path URI.
    let ConnectionRole::Active(t) = s.role else {
        panic!("expected active")
    };
    assert_eq!(t.host, Host::Name("chat.example.com".into()));
    assert_eq!(t.port, 12763);
    assert!(!t.via_cema);
    let caps = s.room_chatroom.unwrap();
    assert!(caps.nicknames && caps.private_messages);
    assert!(s.room_accept_wrapped_types.unwrap().has_any());
    assert_eq!(s.to_path, s.peer_path);
}

#[test]
fn offers_without_cpim_are_refused_with_488() {
    let mut a = rfc7701_answerer();
    let r = reject(
        &mut a,
        &offer(
            "10.0.0.1",
            7000,
            "TCP/MSRP",
            "a=accept-types:text/plain\na=path:msrp://10.0.0.1:7000/s;tcp\n",
        ),
    );
    assert_eq!(r.reason, RejectReason::NoCpim);
    assert_eq!((r.sip_status(), r.warning_code()), (488, 305));
    let r = reject(
        &mut a,
        &offer(
            "10.0.0.1",
            7000,
            "TCP/MSRP",
            "a=path:msrp://10.0.0.1:7000/s;tcp\n",
        ),
    );
    assert_eq!(r.reason, RejectReason::MissingAcceptTypes);
}

#[test]
fn wildcard_cpim_is_a_policy_choice() {
    let text = offer(
        "10.0.0.1",
        7000,
        "TCP/MSRP",
        "a=accept-types:message/* text/plain\na=path:msrp://10.0.0.1:7000/s;tcp\n",
    );
    let mut strict = rfc7701_answerer();
    assert_eq!(reject(&mut strict, &text).reason, RejectReason::NoCpim);
    let mut lenient = rfc7701_answerer();
    let mut p = lenient.policy().clone();
    p.cpim_via_wildcard = true;
    lenient.set_policy(p);
    assert!(lenient.answer(&sdp(&text), &NoResolver).is_ok());
}

#[test]
fn unusable_media_reasons() {
    let mut a = rfc7701_answerer();
    let r = reject(
        &mut a,
        "v=0\no=- 1 1 IN IP4 h\ns=-\nt=0 0\nm=audio 4000 RTP/AVP 0\n",
    );
    assert_eq!(
        (r.reason.clone(), r.warning_code()),
        (RejectReason::NoMessageStream, 304)
    );
    let r = reject(
        &mut a,
        &offer("h", 1, "TCP/WSS/MSRP", "a=accept-types:message/cpim\n"),
    );
    assert_eq!(
        r.reason,
        RejectReason::UnsupportedProto("TCP/WSS/MSRP".into())
    );
    assert_eq!(r.warning_code(), 302);
    let r = reject(
        &mut a,
        &offer("h", 0, "TCP/MSRP", "a=accept-types:message/cpim\n"),
    );
    assert_eq!(r.reason, RejectReason::StreamDisabled);
    let r = a
        .answer_bytes(b"v=0\r\nbogus\r\n", &NoResolver)
        .unwrap_err();
    assert!(matches!(r.reason, RejectReason::Malformed(_)));
    assert_eq!(r.sip_status(), 400);
}

#[test]
fn path_problems() {
    let mut a = rfc7701_answerer();
    let at = "a=accept-types:message/cpim\n";
    let r = reject(&mut a, &offer("h", 7000, "TCP/MSRP", at));
    assert_eq!(r.reason, RejectReason::MissingPath);
    let r = reject(
        &mut a,
        &offer(
            "h",
            7000,
            "TCP/MSRP",
            &format!("{at}a=path:msrp://h/s;tcp\n"),
        ),
    );
    assert_eq!(r.reason, RejectReason::PathWithoutPort);
    let r = reject(
        &mut a,
        &offer(
            "h",
            7000,
            "TCP/MSRP",
            &format!("{at}a=path:msrps://h:7000/s;tcp\n"),
        ),
    );
    assert_eq!(r.reason, RejectReason::SchemeMismatch);
    let r = reject(
        &mut a,
        &offer(
            "h",
            7000,
            "TCP/MSRP",
            &format!("{at}a=path:http://h:7000/s\n"),
        ),
    );
    assert!(matches!(r.reason, RejectReason::InvalidAttribute(ref e) if e.attribute == "path"));
    assert_eq!(r.warning_code(), 306);
    let r = reject(
        &mut a,
        &offer(
            "h",
            7000,
            "TCP/MSRP",
            &format!("{at}a=path:msrp://h:7000/s;tcp\na=chatroom:bad\"tok\n"),
        ),
    );
    assert!(matches!(r.reason, RejectReason::InvalidAttribute(ref e) if e.attribute == "chatroom"));
}

#[test]
fn tls_policy() {
    let good_tcp = offer(
        "h",
        7000,
        "TCP/MSRP",
        "a=accept-types:message/cpim\na=path:msrp://h:7000/s;tcp\n",
    );
    let good_tls = offer(
        "h",
        7000,
        "TCP/TLS/MSRP",
        "a=accept-types:message/cpim\na=path:msrps://h:7000/s;tcp\n",
    );
    let mut a = rfc7701_answerer();
    let mut p = a.policy().clone();
    p.require_tls = true;
    a.set_policy(p);
    assert_eq!(reject(&mut a, &good_tcp).reason, RejectReason::TlsRequired);
    let ans = a.answer(&sdp(&good_tls), &NoResolver).unwrap();
    let s = ans.session.unwrap();
    assert!(s.tls());
    assert_eq!(
        s.local_uri.to_string(),
        "msrps://chat.example.com:12764/kjhd37s2s20w2a;tcp"
    );
    let m = ans.sdp.msrp_media(0).unwrap();
    assert_eq!(m.proto(), Some(MsrpProto::Tls));
    assert_eq!(m.port(), 12764);
    assert_eq!(m.fingerprints().unwrap()[0].digest, vec![0xab, 0xcd, 0xef]);

    let mut no_tls = ChatAnswerer::new(
        AnswerPolicy::default(),
        LocalMsrp {
            tls_port: None,
            ..room_local("10.1.1.1", 2855, "x")
        },
        1,
    );
    assert_eq!(
        reject(&mut no_tls, &good_tls).reason,
        RejectReason::TransportUnavailable("TLS")
    );
}

/// The msrp-cema.md §10 scenario: an SBC rewrote c=/m= of a CEMA offer.
fn sbc_offer(cema: bool, setup: &str) -> String {
    format!(
        "v=0\no=- 1 1 IN IP4 198.51.100.7\ns=-\nc=IN IP4 198.51.100.7\nt=0 0\nm=message 61000 TCP/MSRP *\n\
a=accept-types:message/cpim\na=path:msrp://192.0.2.10:40001/s1;tcp\n{setup}{}",
        if cema { "a=msrp-cema\n" } else { "" }
    )
}

fn cema_answerer(actpass: ActPassAnswer) -> ChatAnswerer {
    ChatAnswerer::new(
        AnswerPolicy {
            actpass,
            ..AnswerPolicy::default()
        },
        room_local("chat.example.com", 2855, "r9"),
        7,
    )
}

#[test]
fn rfc_6714_non_cema_offer_with_rewritten_cm_is_refused() {
    let mut a = cema_answerer(ActPassAnswer::Passive);
    let r = reject(&mut a, &sbc_offer(false, "a=setup:actpass\n"));
    assert_eq!(r.reason, RejectReason::CemaAddressMismatch);
    assert_eq!(r.sip_status(), 488);
    assert!(a.current().is_none());
}

#[test]
fn rfc_6714_cema_offer_answered_with_cema_passive() {
    let mut a = cema_answerer(ActPassAnswer::Passive);
    let ans = a
        .answer(&sdp(&sbc_offer(true, "a=setup:actpass\n")), &NoResolver)
        .unwrap();
    let m = ans.sdp.msrp_media(0).unwrap();
    assert!(m.cema());
    assert_eq!(m.setup().unwrap(), Some(SetupRole::Passive));
    assert_eq!(
        m.path().unwrap().unwrap()[0].to_string(),
        "msrp://chat.example.com:2855/r9;tcp"
    );
    let s = ans.session.unwrap();
    assert!(s.cema);
    assert_eq!(s.role, ConnectionRole::Passive);
}

#[test]
fn rfc_6714_cema_active_answerer_connects_to_cm() {
    let mut a = cema_answerer(ActPassAnswer::Active);
    let s = a
        .answer(&sdp(&sbc_offer(true, "a=setup:actpass\n")), &NoResolver)
        .unwrap()
        .session
        .unwrap();
    assert_eq!(
        s.role,
        ConnectionRole::Active(ConnectTarget {
            host: Host::parse("198.51.100.7").unwrap(),
            port: 61000,
            tls: false,
            tls_name: Host::parse("192.0.2.10").unwrap(),
            via_cema: true,
        })
    );
    // The To-Path stays the real path (RFC 6714 §4.1): the SBC does not touch MSRP.
    assert_eq!(s.peer_path[0].to_string(), "msrp://192.0.2.10:40001/s1;tcp");
}

#[test]
fn rfc_6714_without_cema_support_we_connect_to_path() {
    let mut a = cema_answerer(ActPassAnswer::Active);
    let mut p = a.policy().clone();
    p.cema = false;
    a.set_policy(p);
    let ans = a
        .answer(&sdp(&sbc_offer(true, "a=setup:actpass\n")), &NoResolver)
        .unwrap();
    assert!(!ans.sdp.msrp_media(0).unwrap().cema());
    let ConnectionRole::Active(t) = ans.session.unwrap().role else {
        panic!()
    };
    assert_eq!(
        (t.host, t.port, t.via_cema),
        (Host::parse("192.0.2.10").unwrap(), 40001, false)
    );
}

#[test]
fn rfc_6714_fallback_when_active_offerer_uses_a_relay() {
    // Offerer behind a relay, active: RFC 6714 §4.3 criterion 2 ⇒ answer without msrp-cema.
    let text = "v=0\no=- 1 1 IN IP4 relay.example.net\ns=-\nc=IN IP4 192.0.2.50\nt=0 0\nm=message 2855 TCP/MSRP *\n\
a=accept-types:message/cpim\na=path:msrp://192.0.2.50:2855;tcp msrp://192.0.2.10:40001/s1;tcp\na=setup:active\na=msrp-cema\n";
    let mut a = cema_answerer(ActPassAnswer::Passive);
    let ans = a.answer(&sdp(text), &NoResolver).unwrap();
    assert!(!ans.sdp.msrp_media(0).unwrap().cema());
    assert!(!ans.session.unwrap().cema);
    // The same offer with actpass (as a CEMA offerer behind a relay sends, §4.2 rule 3): we
    // take the active role so that CEMA stays in effect, and connect to c=/m= (§4.5).
    let mut a = cema_answerer(ActPassAnswer::Passive);
    let ans = a
        .answer(
            &sdp(&text.replace("setup:active", "setup:actpass")),
            &NoResolver,
        )
        .unwrap();
    assert!(ans.sdp.msrp_media(0).unwrap().cema());
    let s = ans.session.unwrap();
    assert!(s.cema);
    let ConnectionRole::Active(t) = s.role else {
        panic!()
    };
    assert_eq!(
        (t.host, t.port, t.via_cema),
        (Host::parse("192.0.2.50").unwrap(), 2855, true)
    );
    // Without CEMA support the relay-using actpass offerer gets the configured role.
    let mut a = cema_answerer(ActPassAnswer::Passive);
    let mut p = a.policy().clone();
    p.cema = false;
    a.set_policy(p);
    let ans = a
        .answer(
            &sdp(&text.replace("setup:active", "setup:actpass")),
            &NoResolver,
        )
        .unwrap();
    assert_eq!(ans.session.unwrap().role, ConnectionRole::Passive);
}

#[test]
fn rfc_6714_address_matching_details() {
    // IPv6 text forms are normalised (RFC 5952) before comparing.
    let v6 = "v=0\no=- 1 1 IN IP6 2001:db8::1\ns=-\nc=IN IP6 2001:DB8:0:0:0:0:0:1\nt=0 0\nm=message 7000 TCP/MSRP *\n\
a=accept-types:message/cpim\na=path:msrp://[2001:db8::1]:7000/x;tcp\n";
    assert!(cema_answerer(ActPassAnswer::Passive)
        .answer(&sdp(v6), &NoResolver)
        .is_ok());
    // An active offerer with the discard port: only the address is compared.
    let discard = offer(
        "10.0.0.1",
        9,
        "TCP/MSRP",
        "a=accept-types:message/cpim\na=path:msrp://10.0.0.1:7000/x;tcp\na=setup:active\n",
    );
    assert!(cema_answerer(ActPassAnswer::Passive)
        .answer(&sdp(&discard), &NoResolver)
        .is_ok());
    let moved = discard.replace("c=IN IP4 10.0.0.1", "c=IN IP4 10.9.9.9");
    assert_eq!(
        reject(&mut cema_answerer(ActPassAnswer::Passive), &moved).reason,
        RejectReason::CemaAddressMismatch
    );
    // Names: unknown without DNS (accepted by default), decided with a resolver.
    let named = offer(
        "198.51.100.7",
        7000,
        "TCP/MSRP",
        "a=accept-types:message/cpim\na=path:msrp://ua.example.com:7000/x;tcp\n",
    );
    assert!(cema_answerer(ActPassAnswer::Passive)
        .answer(&sdp(&named), &NoResolver)
        .is_ok());
    let mut strict = cema_answerer(ActPassAnswer::Passive);
    let mut p = strict.policy().clone();
    p.unresolved_address_matches = false;
    strict.set_policy(p);
    assert_eq!(
        reject(&mut strict, &named).reason,
        RejectReason::CemaAddressMismatch
    );
    let mut dns = StaticResolver::default();
    dns.insert("ua.example.com", vec!["198.51.100.7".parse().unwrap()]);
    assert!(strict.answer(&sdp(&named), &dns).is_ok());
    dns.insert("ua.example.com", vec!["192.0.2.1".parse().unwrap()]);
    let mut strict2 = cema_answerer(ActPassAnswer::Passive);
    assert_eq!(
        strict2.answer(&sdp(&named), &dns).unwrap_err().reason,
        RejectReason::CemaAddressMismatch
    );
}

#[test]
fn rfc_6135_roles() {
    let base = offer(
        "10.0.0.1",
        7000,
        "TCP/MSRP",
        "a=accept-types:message/cpim\na=path:msrp://10.0.0.1:7000/x;tcp\n",
    );
    let role_for = |setup: &str, policy: AnswerPolicy| {
        let mut a = ChatAnswerer::new(policy, room_local("10.0.0.2", 2855, "r"), 1);
        a.answer(&sdp(&format!("{base}{setup}")), &NoResolver)
            .map(|ans| {
                let m = ans.sdp.msrp_media(0).unwrap();
                (m.setup().unwrap().unwrap(), ans.session.unwrap().role)
            })
    };
    let passive = (SetupRole::Passive, ConnectionRole::Passive);
    let target = ConnectionRole::Active(ConnectTarget {
        host: Host::parse("10.0.0.1").unwrap(),
        port: 7000,
        tls: false,
        tls_name: Host::parse("10.0.0.1").unwrap(),
        via_cema: false,
    });
    let active = (SetupRole::Active, target);
    let d = AnswerPolicy::default;
    assert_eq!(
        role_for("", d()).unwrap(),
        passive,
        "no a=setup: offerer is active"
    );
    assert_eq!(
        role_for("a=setup:holdconn\n", d()).unwrap(),
        passive,
        "holdconn = absent"
    );
    assert_eq!(role_for("a=setup:active\n", d()).unwrap(), passive);
    assert_eq!(role_for("a=setup:actpass\n", d()).unwrap(), passive);
    let act = AnswerPolicy {
        actpass: ActPassAnswer::Active,
        ..d()
    };
    assert_eq!(role_for("a=setup:actpass\n", act.clone()).unwrap(), active);
    assert_eq!(role_for("a=setup:active\n", act).unwrap(), passive);
    assert_eq!(role_for("a=setup:passive\n", d()).unwrap(), active);
    let refuse = AnswerPolicy {
        passive_offer: PassiveOfferHandling::Reject,
        ..d()
    };
    assert_eq!(
        role_for("a=setup:passive\n", refuse).unwrap_err().reason,
        RejectReason::PassiveOffer
    );
    // The a=connection attribute is ignored (RFC 6135 §4.4).
    assert_eq!(role_for("a=connection:existing\n", d()).unwrap(), passive);
}

#[test]
fn active_answerer_cannot_reach_a_websocket_first_hop() {
    let text = offer("10.0.0.1", 7000, "TCP/TLS/MSRP", "a=accept-types:message/cpim\na=path:msrps://df7jal23ls0d.invalid:7000/98cjs;ws\na=setup:passive\n");
    let mut a = cema_answerer(ActPassAnswer::Passive);
    assert!(matches!(
        reject(&mut a, &text).reason,
        RejectReason::NoConnectTarget(_)
    ));
}

#[test]
fn other_media_lines_are_declined_with_port_zero() {
    let text =
        "v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nc=IN IP4 10.0.0.1\nt=0 0\nm=audio 4000 RTP/AVP 0 8\n\
m=message 7000 TCP/MSRP *\na=accept-types:text/plain\na=path:msrp://10.0.0.1:7000/a;tcp\n\
m=message 7002 TCP/MSRP *\na=accept-types:message/cpim\na=path:msrp://10.0.0.1:7002/b;tcp\n";
    let mut a = cema_answerer(ActPassAnswer::Passive);
    let ans = a.answer(&sdp(text), &NoResolver).unwrap();
    assert_eq!(ans.sdp.media.len(), 3);
    assert_eq!(ans.sdp.media[0].line.to_string(), "audio 0 RTP/AVP 0 8");
    assert_eq!(ans.sdp.media[1].line.to_string(), "message 0 TCP/MSRP *");
    assert_eq!(ans.sdp.media[2].line.port, 2855);
    assert_eq!(ans.session.unwrap().media_index, 2);
}

#[test]
fn direction_and_chatroom_policy() {
    let text = offer("10.0.0.1", 7000, "TCP/MSRP", "a=accept-types:message/cpim\na=path:msrp://10.0.0.1:7000/a;tcp\na=sendonly\na=chatroom:nickname private-messages\n");
    let mut a = ChatAnswerer::new(
        AnswerPolicy {
            chatroom: ChatroomCaps {
                nicknames: true,
                private_messages: false,
                extensions: vec!["org.example.x".into()],
            },
            max_size: Some(4096),
            ..AnswerPolicy::default()
        },
        room_local("10.0.0.2", 2855, "r"),
        1,
    );
    let ans = a.answer(&sdp(&text), &NoResolver).unwrap();
    let m = ans.sdp.msrp_media(0).unwrap();
    assert_eq!(m.direction(), Direction::RecvOnly);
    assert_eq!(m.max_size().unwrap(), Some(4096));
    // Unsupported extension tokens are not announced even if the policy lists them.
    assert_eq!(
        m.media.attribute("chatroom").unwrap().to_string(),
        "chatroom:nickname"
    );
    let s = ans.session.unwrap();
    assert!(s.chat_aware() && s.nicknames());
    assert!(!s.private_messages(), "room forbids private messages");

    let unaware = offer(
        "10.0.0.1",
        7000,
        "TCP/MSRP",
        "a=accept-types:message/cpim\na=path:msrp://10.0.0.1:7000/a;tcp\n",
    );
    let s = cema_answerer(ActPassAnswer::Passive)
        .answer(&sdp(&unaware), &NoResolver)
        .unwrap()
        .session
        .unwrap();
    assert!(!s.chat_aware() && !s.private_messages() && !s.nicknames());
}

#[test]
fn reoffers_keep_origin_when_unchanged_and_report_changes() {
    let first = offer(
        "10.0.0.1",
        7000,
        "TCP/MSRP",
        "a=accept-types:message/cpim\na=path:msrp://10.0.0.1:7000/a;tcp\na=chatroom:nickname\n",
    );
    let mut a = cema_answerer(ActPassAnswer::Passive);
    let a1 = a.answer(&sdp(&first), &NoResolver).unwrap();
    let a2 = a.answer(&sdp(&first), &NoResolver).unwrap();
    assert_eq!(
        a1.sdp.to_string(),
        a2.sdp.to_string(),
        "same o= for an unchanged answer"
    );
    assert!(!a2.changes.unwrap().any());

    // Only the declared capabilities change: same answer body, same connection.
    let caps = first.replace("chatroom:nickname", "chatroom:nickname private-messages");
    let a3 = a.answer(&sdp(&caps), &NoResolver).unwrap();
    let ch = a3.changes.unwrap();
    assert!(ch.capabilities && !ch.needs_new_connection());
    assert_eq!(a3.sdp.origin, a1.sdp.origin);

    // A new path (e.g. after a connection failure) needs a new connection.
    let moved = caps.replace("7000/a;tcp", "7000/b;tcp");
    let a4 = a.answer(&sdp(&moved), &NoResolver).unwrap();
    assert!(a4.changes.unwrap().needs_new_connection());

    // Switching to TLS changes our URI and the answer: the o= version goes up.
    let tls = moved
        .replace("TCP/MSRP", "TCP/TLS/MSRP")
        .replace("msrp://", "msrps://");
    let a5 = a.answer(&sdp(&tls), &NoResolver).unwrap();
    let ch = a5.changes.unwrap();
    assert!(ch.tls && ch.local_uri);
    assert_eq!(a5.sdp.origin, a1.sdp.origin.bumped());

    // A refused re-offer leaves everything as it was.
    let before = a.current().cloned();
    let bad = tls.replace("message/cpim", "text/plain");
    assert_eq!(reject(&mut a, &bad).reason, RejectReason::NoCpim);
    assert_eq!(a.current().cloned(), before);
    let a6 = a.answer(&sdp(&tls), &NoResolver).unwrap();
    assert_eq!(a6.sdp.to_string(), a5.sdp.to_string());

    // Port 0 in a re-offer removes the chat stream.
    let gone = tls.replace("m=message 7000", "m=message 0");
    let a7 = a.answer(&sdp(&gone), &NoResolver).unwrap();
    assert!(a7.session.is_none());
    assert_eq!(a7.sdp.media[0].line.port, 0);
    assert!(a.current().is_none());
}

fn client(cema: bool, setup: SetupRole, relays: Vec<MsrpUri>, tls: bool) -> ChatOfferer {
    ChatOfferer::new(
        OfferConfig {
            local: LocalMsrp {
                host: Host::parse("192.0.2.10").unwrap(),
                tcp_port: Some(40001),
                tls_port: Some(40002),
                session_id: "s1".into(),
                fingerprint: None,
            },
            proto: if tls { MsrpProto::Tls } else { MsrpProto::Tcp },
            setup,
            cema,
            accept_types: FormatList::parse("message/cpim", "accept-types").unwrap(),
            accept_wrapped_types: Some(FormatList::parse("text/plain", "x").unwrap()),
            chatroom: Some(ChatroomCaps {
                nicknames: true,
                private_messages: true,
                extensions: vec![],
            }),
            max_size: None,
            relays,
        },
        99,
    )
}

fn answer_text(c: &str, port: u16, path: &str, setup: &str, cema: bool) -> SessionDescription {
    sdp(&format!(
        "v=0\no=- 5 5 IN IP4 {c}\ns=-\nc=IN IP4 {c}\nt=0 0\nm=message {port} TCP/MSRP *\n\
a=accept-types:message/cpim\na=path:{path}\na=setup:{setup}\n{}a=chatroom:nickname\n",
        if cema { "a=msrp-cema\n" } else { "" }
    ))
}

#[test]
fn rfc_6714_offerer_fallback_criteria() {
    let c = client(true, SetupRole::ActPass, vec![], false);
    // (1) mismatch and we would be passive.
    let a = answer_text(
        "198.51.100.7",
        61002,
        "msrp://chat.example.com:2855/r9;tcp",
        "active",
        false,
    );
    assert_eq!(
        c.process_answer(&a, &NoResolver).unwrap(),
        OfferResult::Reoffer(FallbackReason::MismatchWhilePassive)
    );
    // (3) the answerer uses a relay, mismatch, we would be active.
    let a = answer_text(
        "198.51.100.7",
        61002,
        "msrp://198.51.100.9:2855;tcp msrp://10.0.0.2:2855/r9;tcp",
        "passive",
        false,
    );
    assert_eq!(
        c.process_answer(&a, &NoResolver).unwrap(),
        OfferResult::Reoffer(FallbackReason::MismatchWithTheirRelay)
    );
    // Answerer relay whose c=/m= match a path URI: no middlebox, RFC 4975 behaviour.
    let a = answer_text(
        "198.51.100.9",
        2855,
        "msrp://198.51.100.9:2855;tcp msrp://10.0.0.2:2855/r9;tcp",
        "passive",
        false,
    );
    let OfferResult::Established(s) = c.process_answer(&a, &NoResolver).unwrap() else {
        panic!()
    };
    assert!(!s.cema);
    assert!(matches!(s.role, ConnectionRole::Active(ref t) if t.port == 2855 && !t.via_cema));
    // (2) we use a relay, mismatch, we would be active.
    let relay: MsrpUri = "msrp://192.0.2.1:2855;tcp".parse().unwrap();
    let c2 = client(true, SetupRole::ActPass, vec![relay.clone()], false);
    let a = answer_text(
        "198.51.100.7",
        61002,
        "msrp://10.0.0.2:2855/r9;tcp",
        "passive",
        false,
    );
    assert_eq!(
        c2.process_answer(&a, &NoResolver).unwrap(),
        OfferResult::Reoffer(FallbackReason::MismatchWithOurRelay)
    );
    // After disabling CEMA the new offer has no msrp-cema and the same answer is accepted;
    // behind a relay we always connect to the relay (RFC 6135 §4.5).
    let mut c2 = c2;
    c2.disable_cema();
    assert!(!c2.offer().msrp_media(0).unwrap().cema());
    let OfferResult::Established(s) = c2.process_answer(&a, &NoResolver).unwrap() else {
        panic!()
    };
    assert!(matches!(s.role, ConnectionRole::Active(ref t) if t.host == relay.host));
    assert_eq!(s.to_path.len(), 2);
    // CEMA answer and we are active: connect to c=/m=.
    let a = answer_text(
        "198.51.100.7",
        61002,
        "msrp://chat.example.com:2855/r9;tcp",
        "passive",
        true,
    );
    let OfferResult::Established(s) = c.process_answer(&a, &NoResolver).unwrap() else {
        panic!()
    };
    assert_eq!(
        s.role,
        ConnectionRole::Active(ConnectTarget {
            host: Host::parse("198.51.100.7").unwrap(),
            port: 61002,
            tls: false,
            tls_name: Host::Name("chat.example.com".into()),
            via_cema: true,
        })
    );
    // Answers that cannot be used.
    let bad = answer_text(
        "198.51.100.7",
        61002,
        "msrp://chat.example.com:2855/r9;tcp",
        "actpass",
        true,
    );
    assert_eq!(
        c.process_answer(&bad, &NoResolver).unwrap_err(),
        AnswerError::InvalidSetup
    );
    let refused = answer_text(
        "198.51.100.7",
        0,
        "msrp://chat.example.com:2855/r9;tcp",
        "passive",
        true,
    );
    assert_eq!(
        c.process_answer(&refused, &NoResolver).unwrap(),
        OfferResult::Rejected
    );
}

#[test]
fn client_offer_shape() {
    let relay: MsrpUri = "msrp://192.0.2.1:2855;tcp".parse().unwrap();
    let mut c = client(true, SetupRole::Active, vec![relay], false);
    let o1 = c.offer();
    let m = o1.msrp_media(0).unwrap();
    // RFC 6714 §4.2 rule 3: relay address in c=/m=, setup actpass.
    assert_eq!(m.connection_host(), Some(Host::parse("192.0.2.1").unwrap()));
    assert_eq!(m.port(), 2855);
    assert_eq!(m.setup().unwrap(), Some(SetupRole::ActPass));
    assert_eq!(m.path().unwrap().unwrap().len(), 2);
    let o2 = c.offer();
    assert_eq!(o1.origin, o2.origin, "unchanged offer keeps o=");
    c.disable_cema();
    let o3 = c.offer();
    assert_eq!(o3.origin, o1.origin.bumped());
    assert_eq!(
        o3.msrp_media(0).unwrap().setup().unwrap(),
        Some(SetupRole::Active)
    );
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Without middleboxes, client and focus always agree: exactly one side connects, and it
        /// connects to where the other listens, using the other's path as To-Path.
        #[test]
        fn client_and_focus_agree(
            cema_client in any::<bool>(),
            cema_room in any::<bool>(),
            actpass in any::<bool>(),
            room_active in any::<bool>(),
            tls in any::<bool>(),
        ) {
            let setup = if actpass { SetupRole::ActPass } else { SetupRole::Active };
            let mut cl = client(cema_client, setup, vec![], tls);
            let mut room = ChatAnswerer::new(
                AnswerPolicy {
                    cema: cema_room,
                    actpass: if room_active { ActPassAnswer::Active } else { ActPassAnswer::Passive },
                    ..AnswerPolicy::default()
                },
                room_local("203.0.113.5", 2855, "room1"),
                1,
            );
            let offer = cl.offer();
            let offer = parse(offer.to_string().as_bytes()).unwrap();
            let ans = room.answer(&offer, &NoResolver).unwrap();
            let wire = parse(ans.sdp.to_string().as_bytes()).unwrap();
            let focus = ans.session.unwrap();
            let OfferResult::Established(cs) = cl.process_answer(&wire, &NoResolver).unwrap() else {
                panic!("no fallback expected without middleboxes");
            };
            prop_assert_eq!(focus.cema, cema_client && cema_room);
            prop_assert_eq!(cs.cema, focus.cema);
            prop_assert_ne!(focus.role.is_active(), cs.role.is_active());
            let client_uri = cl.local_uri().unwrap();
            prop_assert_eq!(&focus.peer_path, &vec![client_uri.clone()]);
            prop_assert_eq!(&cs.peer_path, &vec![focus.local_uri.clone()]);
            match (&focus.role, &cs.role) {
                (ConnectionRole::Active(t), _) => {
                    prop_assert_eq!(&t.host, &client_uri.host);
                    prop_assert_eq!(Some(t.port), client_uri.port);
                    prop_assert_eq!(t.tls, tls);
                }
                (_, ConnectionRole::Active(t)) => {
                    prop_assert_eq!(&t.host, &focus.local_uri.host);
                    prop_assert_eq!(Some(t.port), focus.local_uri.port);
                }
                _ => unreachable!(),
            }
            prop_assert!(focus.chat_aware() && focus.private_messages() && focus.nicknames());
        }
    }
}
