//! Two MSRP clients talking through msrpd relays over loopback (RFC 4976): through one relay,
//! through two, AUTH through an inner relay to an outer one (§5.1), non-SEND requests and
//! unknown methods forwarded with their responses routed back hop by hop (§6.4.2, §6.4.3).

use e2e::client::split_path;
use e2e::scenario::{failure_report, path_to, transfer};
use e2e::{pattern, InProcess, MsrpClient, RelayNode, ALICE, BOB};

const TEN_MB: usize = 10 * 1024 * 1024;

fn client(relay: &InProcess, name: &str) -> MsrpClient {
    MsrpClient::connect(
        relay.plain(),
        &format!("msrp://{name}.invalid:2855/{name}-session;tcp"),
    )
    .expect("connect to the relay")
}

/// Two relays that know each other's names (`[relay.hosts]`).
fn two_relays(tweak: impl Fn(&mut RelayNode)) -> (InProcess, InProcess) {
    let mut n1 = RelayNode::new("r1.test").host_alias("r2.test");
    let mut n2 = RelayNode::new("r2.test").host_alias("r1.test");
    tweak(&mut n1);
    tweak(&mut n2);
    (n1.start(), n2.start())
}

#[test]
fn one_relay_ten_megabytes_in_chunks_with_reports() {
    let r = RelayNode::new("relay.test").start();
    let mut a = client(&r, "alice");
    let mut b = client(&r, "bob");
    let ua = a.auth(&[&r.uri()], &ALICE).use_path;
    let ub = b.auth(&[&r.uri()], &BOB).use_path;
    assert_eq!(ua.len(), 1, "one relay, one Use-Path URI: {ua:?}");
    let to = path_to(&ua, &ub, &b.uri);
    let body = pattern(TEN_MB, 1);
    let t = transfer(&mut a, &to, &mut b, &body, 256 * 1024, "one-relay-10mb");
    // B sees the relay's two tokens in front of A (RFC 4976 §6.4 rotation).
    assert_eq!(
        t.path_at_b,
        format!("{} {} {}", ub[0], ua[0], a.uri),
        "From-Path at B"
    );
    println!(
        "one relay: 10 MiB in {} chunks ({} at B) in {:?}",
        t.chunks_sent, t.chunks_received, t.elapsed
    );
    let rep = failure_report(&mut a, &to, &mut b, 415, "one-relay-fail");
    assert_eq!(rep.from_path(), ua[0], "the relay reports as itself");
    let s = r.stats();
    assert!(s.reports >= 1 && s.forwarded > 40, "{s:?}");
}

#[test]
fn two_relays_ten_megabytes_in_chunks_with_reports() {
    let (r1, r2) = two_relays(|_| {});
    let mut a = client(&r1, "alice");
    let mut b = client(&r2, "bob");
    let ua = a.auth(&[&r1.uri()], &ALICE).use_path;
    let ub = b.auth(&[&r2.uri()], &BOB).use_path;
    let to = path_to(&ua, &ub, &b.uri);
    let body = pattern(TEN_MB, 2);
    let t = transfer(&mut a, &to, &mut b, &body, 1024 * 1024, "two-relays-10mb");
    assert_eq!(t.path_at_b, format!("{} {} {}", ub[0], ua[0], a.uri));
    assert_eq!(
        t.report.from_path(),
        format!("{} {} {}", ua[0], ub[0], b.uri),
        "REPORT rotated through both relays"
    );
    println!(
        "two relays: 10 MiB in {} chunks ({} at B) in {:?}",
        t.chunks_sent, t.chunks_received, t.elapsed
    );
    // B's error comes back as a REPORT from B's relay (the one that saw the error).
    let rep = failure_report(&mut a, &to, &mut b, 415, "two-relays-fail");
    assert_eq!(rep.from_path(), format!("{} {}", ua[0], ub[0]));
    assert!(r2.stats().reports >= 1);
}

#[test]
fn both_clients_on_one_relay_with_two_workers() {
    // Tokens minted on one worker and used from a connection on another cross the peer rings.
    let mut n = RelayNode::new("relay.test");
    n.workers = 2;
    let r = n.start();
    for i in 0..6 {
        let mut a = client(&r, &format!("a{i}"));
        let mut b = client(&r, &format!("b{i}"));
        let ua = a.auth(&[&r.uri()], &ALICE).use_path;
        let ub = b.auth(&[&r.uri()], &BOB).use_path;
        let to = path_to(&ua, &ub, &b.uri);
        let body = pattern(300 * 1024, i as u8);
        transfer(&mut a, &to, &mut b, &body, 64 * 1024, &format!("w2-{i}"));
    }
}

/// A request the relay does not know travels like any non-SEND request, and its response
/// comes back hop by hop with the transaction id the sender used (RFC 4976 §6.4.2).
#[test]
fn unknown_method_is_forwarded_and_its_response_routed_back() {
    let (r1, r2) = two_relays(|_| {});
    let mut a = client(&r1, "alice");
    let mut b = client(&r2, "bob");
    let ua = a.auth(&[&r1.uri()], &ALICE).use_path;
    let ub = b.auth(&[&r2.uri()], &BOB).use_path;
    let to = path_to(&ua, &ub, &b.uri);

    let tid = a.send_request("FROBNICATE", &to, &[("X-Test", "kept verbatim")]);
    let req = b.expect("FROBNICATE at B", |f| f.is_request("FROBNICATE"));
    assert_eq!(req.to_path(), b.uri);
    assert_eq!(req.from_path(), format!("{} {} {}", ub[0], ua[0], a.uri));
    assert_eq!(req.header("X-Test"), "kept verbatim");
    assert_ne!(
        req.tid(),
        tid.as_str(),
        "each hop uses its own transaction id"
    );
    b.respond(&req, 200, &[("X-Answer", "42")]);
    let resp = a.response_to(&tid);
    assert_eq!(resp.code(), Some(200));
    assert_eq!(resp.to_path(), a.uri);
    assert_eq!(resp.from_path(), format!("{} {} {}", ua[0], ub[0], b.uri));
    assert_eq!(
        resp.header("X-Answer"),
        "42",
        "response headers pass through"
    );

    // An error answer travels back the same way.
    let tid = a.send_request("FROBNICATE", &to, &[]);
    let req = b.expect("second FROBNICATE", |f| f.is_request("FROBNICATE"));
    b.respond(&req, 501, &[]);
    assert_eq!(a.response_to(&tid).code(), Some(501));
}

#[test]
fn unknown_methods_can_be_blocked() {
    let mut n = RelayNode::new("relay.test");
    n.block_unknown_methods = true;
    let r = n.start();
    let mut a = client(&r, "alice");
    let mut b = client(&r, "bob");
    let ua = a.auth(&[&r.uri()], &ALICE).use_path;
    let ub = b.auth(&[&r.uri()], &BOB).use_path;
    let to = path_to(&ua, &ub, &b.uri);
    let tid = a.send_request("FROBNICATE", &to, &[]);
    assert_eq!(a.response_to(&tid).code(), Some(501));
    // Known methods still pass.
    let tid = a.send_request("NICKNAME", &to, &[("Use-Nickname", "\"al\"")]);
    let req = b.expect("NICKNAME", |f| f.is_request("NICKNAME"));
    b.respond(&req, 200, &[]);
    assert_eq!(a.response_to(&tid).code(), Some(200));
}

/// RFC 7701 NICKNAME through two relays: the focus's answers (200, 425) reach the sender with
/// its own transaction id, after rotation at each relay.
#[test]
fn nickname_responses_are_routed_back_hop_by_hop() {
    let (r1, r2) = two_relays(|_| {});
    let mut a = client(&r1, "alice");
    let mut focus = client(&r2, "focus");
    let ua = a.auth(&[&r1.uri()], &ALICE).use_path;
    let uf = focus.auth(&[&r2.uri()], &BOB).use_path;
    let to = path_to(&ua, &uf, &focus.uri);
    for (nick, code) in [("taken", 425u16), ("free", 200)] {
        let tid = a.send_request("NICKNAME", &to, &[("Use-Nickname", &format!("\"{nick}\""))]);
        let req = focus.expect("NICKNAME at the focus", |f| f.is_request("NICKNAME"));
        assert_eq!(req.header("Use-Nickname"), format!("\"{nick}\""));
        focus.respond(&req, code, &[]);
        let resp = a.response_to(&tid);
        assert_eq!(resp.code(), Some(code));
        assert_eq!(resp.to_path(), a.uri);
        assert_eq!(
            split_path(&resp.from_path()),
            vec![ua[0].clone(), uf[0].clone(), focus.uri.clone()]
        );
    }
}

/// Both ends on one relay: the request passes two of its tokens, and the response must come
/// back with both rotated (To-Path the sender alone, From-Path both tokens then the answerer).
#[test]
fn non_send_response_through_two_tokens_of_one_relay() {
    let r = RelayNode::new("relay.test").start();
    let mut a = client(&r, "alice");
    let mut focus = client(&r, "focus");
    let ua = a.auth(&[&r.uri()], &ALICE).use_path;
    let uf = focus.auth(&[&r.uri()], &BOB).use_path;
    let to = path_to(&ua, &uf, &focus.uri);
    let tid = a.send_request("NICKNAME", &to, &[("Use-Nickname", "\"al\"")]);
    let req = focus.expect("NICKNAME at the focus", |f| f.is_request("NICKNAME"));
    assert_eq!(req.from_path(), format!("{} {} {}", uf[0], ua[0], a.uri));
    focus.respond(&req, 425, &[]);
    let resp = a.response_to(&tid);
    assert_eq!(resp.code(), Some(425));
    assert_eq!(resp.to_path(), a.uri);
    assert_eq!(
        resp.from_path(),
        format!("{} {} {}", ua[0], uf[0], focus.uri)
    );
}

/// RFC 4976 §5.1: AUTH to the outer relay goes through the inner one with
/// `To-Path: <inner token> <outer relay>`; the outer relay's Use-Path lists both tokens, and the
/// chain then carries messages both ways.
#[test]
fn auth_through_an_inner_relay_to_an_outer_relay() {
    let (inner, outer) = two_relays(|_| {});
    let mut a = client(&inner, "alice");
    let u_inner = a.auth(&[&inner.uri()], &ALICE).use_path;
    assert_eq!(u_inner.len(), 1);

    let outer_uri = outer.uri();
    let through = [u_inner[0].as_str(), outer_uri.as_str()];
    // The challenge comes from the outer relay, rotated by the inner one.
    let tid = a.send_auth(&through, &[]);
    let ch = a.response_to(&tid);
    assert_eq!(ch.code(), Some(401), "{ch:?}");
    assert_eq!(ch.to_path(), a.uri);
    assert_eq!(ch.from_path(), format!("{} {}", u_inner[0], outer_uri));
    assert!(ch.header("WWW-Authenticate").contains("realm=\"r2.test\""));
    let grant = a.auth(&through, &ALICE);
    assert_eq!(grant.use_path.len(), 2, "{:?}", grant.response);
    assert_eq!(grant.use_path[0], u_inner[0], "inner token first");
    assert!(
        grant.use_path[1].starts_with("msrp://r2.test:"),
        "{:?}",
        grant.use_path
    );
    assert!(grant.response.has_header("Authentication-Info"));

    // B is a direct client of the outer relay.
    let mut b = client(&outer, "bob");
    let ub = b.auth(&[&outer_uri], &BOB).use_path;
    let to = path_to(&grant.use_path, &ub, &b.uri);
    assert_eq!(to.len(), 4);
    let body = pattern(200 * 1024, 9);
    let t = transfer(&mut a, &to, &mut b, &body, 32 * 1024, "via-inner-outer");
    assert_eq!(
        t.path_at_b,
        format!(
            "{} {} {} {}",
            ub[0], grant.use_path[1], grant.use_path[0], a.uri
        )
    );
    failure_report(&mut a, &to, &mut b, 403, "via-inner-outer-fail");
}

/// Several 10 MiB messages at once between two relays: they share the relay-to-relay
/// connection, so the first relay interleaves them by cutting chunks short and resuming them
/// (RFC 4975 §7.1, RFC 4976 §6.4.1 re-chunking). Every message must still arrive intact.
#[test]
fn concurrent_messages_share_the_relay_link_intact() {
    concurrent_messages(1, 3, 1024 * 1024);
}

/// The same with two workers per relay: streams also cross the workers' peer rings.
#[test]
fn concurrent_messages_across_workers_intact() {
    concurrent_messages(2, 4, 64 * 1024);
}

fn concurrent_messages(workers: usize, pairs: usize, chunk: usize) {
    let (r1, r2) = two_relays(|n| n.workers = workers);
    let mut sessions = Vec::new();
    for i in 0..pairs {
        let mut a = client(&r1, &format!("a{i}"));
        let mut b = client(&r2, &format!("b{i}"));
        let ua = a.auth(&[&r1.uri()], &ALICE).use_path;
        let ub = b.auth(&[&r2.uri()], &BOB).use_path;
        let to = path_to(&ua, &ub, &b.uri);
        sessions.push((a, b, to, pattern(TEN_MB, 20 + i as u8)));
    }
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = sessions
            .iter_mut()
            .enumerate()
            .map(|(i, (a, b, to, body))| {
                s.spawn(move || transfer(a, to, b, body, chunk, &format!("shared-{i}")))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let sent: usize = results.iter().map(|t| t.chunks_sent).sum();
    let got: usize = results.iter().map(|t| t.chunks_received).sum();
    let slowest = results.iter().map(|t| t.elapsed).max().unwrap();
    println!(
        "{pairs} concurrent 10 MiB messages over one relay link ({workers} workers): \
         {sent} chunks sent, {got} received, slowest {slowest:?}"
    );
    assert!(got >= sent);
}
