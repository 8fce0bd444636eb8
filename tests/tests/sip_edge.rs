//! In-process SIP server driven by scripted Rust clients over real loopback sockets:
//! outbound registration over UDP and TCP, STUN and CRLF keep-alives, flow replacement and two
//! flows per instance, INVITE routed over the flow with Record-Route flow tokens, next-flow
//! retry, 430/403 on dead/tampered tokens, and digest authentication.

mod sip_common;

use std::time::{Duration, Instant};

use controlplane::sip::stun;
use controlplane::sip::wire::{HeaderName, NameAddr};
use controlplane::sip::TransportKind;
use sip_common::*;

const AOR: &str = "sip:alice@example.com";

fn header(m: &controlplane::sip::wire::Message, n: HeaderName) -> Vec<&str> {
    m.list(n).collect()
}

#[tokio::test]
async fn udp_outbound_register_and_stun_keepalive() {
    let srv = start(&[]).await;
    let udp = addr(&srv, TransportKind::Udp);
    let c = udp_client().await;
    let local = c.local_addr().unwrap();
    c.send_to(register("UDP", local, "u1", 1, 1, "").as_bytes(), udp)
        .await
        .unwrap();
    let r = parse(udp_recv(&c).await.into());
    assert_eq!(r.status(), Some(200));
    assert_eq!(header(&r, HeaderName::Require), ["outbound"]);
    assert_eq!(r.value(HeaderName::FlowTimer), Some("120"));
    let path = NameAddr::parse(r.list(HeaderName::Path).next().unwrap()).unwrap();
    assert!(path.uri.params.has("ob") && path.uri.params.has("lr"));
    let flow = srv.core().tokens().decode(path.uri.user.unwrap()).unwrap();
    assert_eq!(
        (flow.transport, flow.remote, flow.local),
        (TransportKind::Udp, local, udp)
    );
    let contact = r.list(HeaderName::Contact).next().unwrap();
    assert!(
        contact.contains(&format!("+sip.instance=\"{INSTANCE}\";reg-id=1")),
        "{contact}"
    );
    let b = srv.location().lookup(AOR, Instant::now());
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].reg_id, Some(1));
    // STUN Binding on the SIP port answers with our address as seen by the server.
    c.send_to(&stun::binding_request([7; 12]), udp)
        .await
        .unwrap();
    let resp = udp_recv(&c).await;
    assert_eq!(stun::parse_xor_mapped(&resp), Some(local));
}

#[tokio::test]
async fn tcp_register_ping_pong_and_flow_death() {
    let srv = start(&[]).await;
    let tcp = addr(&srv, TransportKind::Tcp);
    let mut c = TcpClient::connect(tcp).await;
    let l = c.local;
    c.send(&register("TCP", l, "t1", 1, 1, "")).await;
    let r = c.msg().await;
    assert_eq!(r.status(), Some(200));
    assert_eq!(header(&r, HeaderName::Require), ["outbound"]);
    c.send("\r\n\r\n").await;
    assert!(
        matches!(c.next().await, Got::Pong),
        "CRLFCRLF answered by CRLF"
    );
    assert_eq!(srv.location().lookup(AOR, Instant::now()).len(), 1);
    drop(c);
    // The binding disappears with its flow.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !srv.location().lookup(AOR, Instant::now()).is_empty() {
        assert!(Instant::now() < deadline, "binding not invalidated");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn reregister_replaces_flow_and_two_reg_ids_coexist() {
    let srv = start(&[]).await;
    let tcp = addr(&srv, TransportKind::Tcp);
    let mut a = TcpClient::connect(tcp).await;
    let la = a.local;
    a.send(&register("TCP", la, "a", 1, 1, "")).await;
    assert_eq!(a.msg().await.status(), Some(200));
    // Same reg-id over a new connection replaces the flow.
    let mut b = TcpClient::connect(tcp).await;
    let lb = b.local;
    b.send(&register("TCP", lb, "b", 1, 1, "")).await;
    assert_eq!(b.msg().await.status(), Some(200));
    let binds = srv.location().lookup(AOR, Instant::now());
    assert_eq!(binds.len(), 1);
    assert_eq!(binds[0].flow.unwrap().remote, lb);
    // A second reg-id adds a second flow for the same instance.
    a.send(&register("TCP", la, "a", 2, 2, "")).await;
    let r = a.msg().await;
    assert_eq!(r.status(), Some(200));
    assert_eq!(r.list(HeaderName::Contact).count(), 2);
    assert_eq!(srv.location().lookup(AOR, Instant::now()).len(), 2);
}

#[tokio::test]
async fn invite_routed_over_flow_then_next_flow_then_480() {
    let srv = start(&[]).await;
    let tcp = addr(&srv, TransportKind::Tcp);
    let mut f1 = TcpClient::connect(tcp).await;
    let l1 = f1.local;
    f1.send(&register("TCP", l1, "f1", 1, 1, "")).await;
    assert_eq!(f1.msg().await.status(), Some(200));
    let mut f2 = TcpClient::connect(tcp).await;
    let l2 = f2.local;
    f2.send(&register("TCP", l2, "f2", 1, 2, "")).await;
    assert_eq!(f2.msg().await.status(), Some(200));

    let mut caller = TcpClient::connect(tcp).await;
    let lc = caller.local;
    caller.send(&invite(lc, "alice", "call1", None)).await;
    // Newest flow first.
    let inv = f2.msg().await;
    assert_eq!(inv.method_text(), "INVITE");
    assert!(
        inv.request_uri().contains(&l2.to_string()),
        "R-URI is the contact: {}",
        inv.request_uri()
    );
    let rr: Vec<&str> = inv.list(HeaderName::RecordRoute).collect();
    assert_eq!(rr.len(), 2, "double Record-Route with flow tokens");
    f2.send(&answer(
        &inv,
        200,
        &format!("sip:alice@{l2};transport=tcp;ob"),
    ))
    .await;
    let ok = caller.msg_skip_100().await;
    assert_eq!(ok.status(), Some(200));
    assert_eq!(ok.list(HeaderName::Via).count(), 1, "our Via popped");
    // ACK with the route set (reversed Record-Route) reaches the callee's flow.
    let mut routes: Vec<&str> = ok.list(HeaderName::RecordRoute).collect();
    routes.reverse();
    let ack = format!(
        "ACK sip:alice@{l2};transport=tcp;ob SIP/2.0\r\nVia: SIP/2.0/TCP {lc};branch=z9hG4bKack1\r\nRoute: {}\r\n\
Max-Forwards: 70\r\nFrom: <sip:bob@example.com>;tag=bobcall1\r\nTo: <sip:alice@example.com>;tag=callee\r\n\
Call-ID: call1\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
        routes.join(", ")
    );
    caller.send(&ack).await;
    let got = f2.msg().await;
    assert_eq!(got.method_text(), "ACK");
    assert_eq!(
        got.list(HeaderName::Route).count(),
        0,
        "both of our routes popped"
    );

    // f2 closes: the next INVITE goes to f1.
    drop(f2);
    tokio::time::sleep(Duration::from_millis(200)).await;
    caller.send(&invite(lc, "alice", "call2", None)).await;
    let inv = f1.msg().await;
    assert_eq!(inv.call_id(), Some("call2"));
    f1.send(&answer(&inv, 486, "sip:x@127.0.0.1")).await;
    let busy = caller.msg_skip_100().await;
    assert_eq!(busy.status(), Some(486));

    // No flows left: 480 (a 430 is never passed upstream).
    drop(f1);
    tokio::time::sleep(Duration::from_millis(200)).await;
    caller.send(&invite(lc, "alice", "call3", None)).await;
    assert_eq!(caller.msg_skip_100().await.status(), Some(480));
}

#[tokio::test]
async fn route_to_dead_flow_gets_430_and_forged_token_403() {
    let srv = start(&[]).await;
    let tcp = addr(&srv, TransportKind::Tcp);
    let mut f = TcpClient::connect(tcp).await;
    let lf = f.local;
    f.send(&register("TCP", lf, "d", 1, 1, "")).await;
    let r = f.msg().await;
    let path = r.list(HeaderName::Path).next().unwrap().to_string();
    let route = path.replace(";ob", "");
    drop(f);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut caller = TcpClient::connect(tcp).await;
    let lc = caller.local;
    caller
        .send(&invite(lc, "alice", "dead", Some(&route)))
        .await;
    assert_eq!(caller.msg_skip_100().await.status(), Some(430));
    // Flip one character of the token: integrity check fails.
    let na = NameAddr::parse(&route).unwrap();
    let tok = na.uri.user.unwrap();
    let mut forged: Vec<char> = tok.chars().collect();
    forged[3] = if forged[3] == 'A' { 'B' } else { 'A' };
    let forged: String = forged.into_iter().collect();
    caller
        .send(&invite(
            lc,
            "alice",
            "forged",
            Some(&route.replace(tok, &forged)),
        ))
        .await;
    assert_eq!(caller.msg_skip_100().await.status(), Some(403));
}

#[tokio::test]
async fn digest_challenge_and_answer() {
    use dataplane::digest::{Challenge, Credentials};
    let srv = start(&[("alice", "wonderland")]).await;
    let tcp = addr(&srv, TransportKind::Tcp);
    let mut c = TcpClient::connect(tcp).await;
    let l = c.local;
    c.send(&register("TCP", l, "auth", 1, 1, "")).await;
    let r = c.msg().await;
    assert_eq!(r.status(), Some(401));
    let ch = Challenge::parse(r.value(HeaderName::WwwAuthenticate).unwrap()).unwrap();
    assert!(ch.qop_auth);
    assert!(srv.location().is_empty());
    let wrong = Credentials::answer(&ch, "alice", "nope", "REGISTER", "sip:example.com", "cn", 1);
    c.send(&register(
        "TCP",
        l,
        "auth",
        2,
        1,
        &format!("Authorization: {}\r\n", wrong.render()),
    ))
    .await;
    assert_eq!(c.msg().await.status(), Some(401));
    let good = Credentials::answer(
        &ch,
        "alice",
        "wonderland",
        "REGISTER",
        "sip:example.com",
        "cn",
        2,
    );
    c.send(&register(
        "TCP",
        l,
        "auth",
        3,
        1,
        &format!("Authorization: {}\r\n", good.render()),
    ))
    .await;
    assert_eq!(c.msg().await.status(), Some(200));
    assert_eq!(srv.location().len(), 1);
}

#[tokio::test]
async fn cancel_reaches_the_callee_and_487_comes_back() {
    let srv = start(&[]).await;
    let tcp = addr(&srv, TransportKind::Tcp);
    let mut callee = TcpClient::connect(tcp).await;
    let l = callee.local;
    callee.send(&register("TCP", l, "cc", 1, 1, "")).await;
    assert_eq!(callee.msg().await.status(), Some(200));
    let mut caller = TcpClient::connect(tcp).await;
    let lc = caller.local;
    caller.send(&invite(lc, "alice", "cancel1", None)).await;
    let inv = callee.msg().await;
    callee
        .send(&answer(&inv, 180, &format!("sip:alice@{l}")))
        .await;
    assert_eq!(caller.msg_skip_100().await.status(), Some(180));
    let cancel = format!(
        "CANCEL sip:alice@example.com SIP/2.0\r\nVia: SIP/2.0/TCP {lc};branch=z9hG4bKcancel11;rport\r\n\
Max-Forwards: 70\r\nFrom: <sip:bob@example.com>;tag=bobcancel1\r\nTo: <sip:alice@example.com>\r\n\
Call-ID: cancel1\r\nCSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n"
    );
    caller.send(&cancel).await;
    let c200 = caller.msg().await;
    assert_eq!(
        (c200.status(), c200.cseq().unwrap().method),
        (Some(200), "CANCEL")
    );
    let down = callee.msg().await;
    assert_eq!(down.method_text(), "CANCEL");
    assert_eq!(
        down.top_via().unwrap().branch(),
        inv.top_via().unwrap().branch()
    );
    callee.send(&answer(&down, 200, "sip:x@127.0.0.1")).await;
    callee.send(&answer(&inv, 487, "sip:x@127.0.0.1")).await;
    let r = caller.msg().await;
    assert_eq!(r.status(), Some(487));
    // The proxy ACKs the 487 downstream itself.
    let ack = callee.msg().await;
    assert_eq!(ack.method_text(), "ACK");
}

#[tokio::test]
async fn invite_from_our_user_challenged_with_407_when_configured() {
    use dataplane::digest::{Challenge, Credentials};
    let mut cfg = config(&[("bob", "builder")]);
    cfg.core.auth_invite = true;
    cfg.core.auth_register = false;
    let srv = controlplane::sip::SipServer::start(cfg, None)
        .await
        .unwrap();
    let tcp = addr(&srv, TransportKind::Tcp);
    let mut callee = TcpClient::connect(tcp).await;
    let l = callee.local;
    callee.send(&register("TCP", l, "a407", 1, 1, "")).await;
    assert_eq!(callee.msg().await.status(), Some(200));
    let mut caller = TcpClient::connect(tcp).await;
    let lc = caller.local;
    caller.send(&invite(lc, "alice", "c407", None)).await;
    let r = caller.msg_skip_100().await;
    assert_eq!(r.status(), Some(407));
    let ch = Challenge::parse(r.value(HeaderName::ProxyAuthenticate).unwrap()).unwrap();
    let creds = Credentials::answer(
        &ch,
        "bob",
        "builder",
        "INVITE",
        "sip:alice@example.com",
        "x",
        1,
    );
    let inv = invite(lc, "alice", "c407b", None).replace(
        "Content-Length: 0\r\n",
        &format!(
            "Proxy-Authorization: {}\r\nContent-Length: 0\r\n",
            creds.render()
        ),
    );
    caller.send(&inv).await;
    let got = callee.msg().await;
    assert_eq!(
        got.call_id(),
        Some("c407b"),
        "authenticated INVITE routed to the callee"
    );
}

#[tokio::test]
async fn udp_retransmission_gets_the_same_response() {
    let srv = start(&[]).await;
    let udp = addr(&srv, TransportKind::Udp);
    let c = udp_client().await;
    let local = c.local_addr().unwrap();
    let reg = register("UDP", local, "rtx", 1, 1, "");
    c.send_to(reg.as_bytes(), udp).await.unwrap();
    let first = udp_recv(&c).await;
    // The retransmission is absorbed by the server transaction: same bytes, same To tag,
    // and the registrar does not see a stale CSeq (which would give 500).
    c.send_to(reg.as_bytes(), udp).await.unwrap();
    let second = udp_recv(&c).await;
    assert_eq!(first, second);
    assert_eq!(parse(second.into()).status(), Some(200));
}
