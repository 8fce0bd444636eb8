//! msrpd chained with Kamailio's `msrp` module (the relay anchor), in both orders: client A
//! behind msrpd and client B behind Kamailio, and the reverse. Kamailio relays whole frames of
//! at most MSRP_MAX_FRAME_SIZE (4096 + 2 + 10240 octets), so messages go in 8 KiB chunks.
//! Kamailio is started from `tests/kamailio/msrp-relay.cfg` on a free loopback port and stopped
//! by PID; without a kamailio binary these tests print why and return.

use dataplane::wire::Continuation;
use e2e::kamailio::{Kamailio, PASSWORD};
use e2e::scenario::{failure_report, path_to, transfer};
use e2e::{pattern, skip, Login, MsrpClient, RelayNode, ALICE, BOB};

/// Kamailio stores one password for every user.
const AT_KAMAILIO: Login<'static> = Login {
    user: "kuser",
    password: PASSWORD,
};

/// Through Kamailio, frames must stay under its 14 KB frame limit.
const KAMAILIO_CHUNK: usize = 8 * 1024;

fn ours() -> e2e::InProcess {
    // Kamailio must resolve our name to reach us (for REPORTs coming back): use a name every
    // resolver knows.
    RelayNode::new("localhost").start()
}

/// A behind msrpd, B behind Kamailio: A -> msrpd -> Kamailio -> B.
#[test]
fn msrpd_then_kamailio() {
    let k = match Kamailio::start() {
        Ok(k) => k,
        Err(why) => skip!("Kamailio interop not run: {why}"),
    };
    let r = ours();
    let mut a = MsrpClient::connect(r.plain(), "msrp://alice.invalid:2855/a1;tcp").unwrap();
    let mut b = MsrpClient::connect(k.addr, "msrp://bob.invalid:2855/b1;tcp").unwrap();
    let ua = a.auth(&[&r.uri()], &ALICE).use_path;
    let kgrant = b.auth(&[&k.uri()], &AT_KAMAILIO);
    let ub = kgrant.use_path.clone();
    println!("Kamailio's 200 to AUTH: {:?}", kgrant.response);
    assert_eq!(ub.len(), 1);
    assert!(
        ub[0].starts_with(&format!("msrp://127.0.0.1:{}/", k.addr.port())),
        "{ub:?}"
    );
    let to = path_to(&ua, &ub, &b.uri);

    let body = pattern(10 * 1024 * 1024, 11);
    let t = transfer(&mut a, &to, &mut b, &body, KAMAILIO_CHUNK, "ours-then-kam");
    assert_eq!(t.path_at_b, format!("{} {} {}", ub[0], ua[0], a.uri));
    println!(
        "msrpd -> Kamailio: 10 MiB in {} chunks of 8 KiB in {:?}",
        t.chunks_sent, t.elapsed
    );

    // Unknown methods pass both relays. B's answer does not come back: Kamailio relays a
    // response by its To-Path on a connection of its own to msrpd's listener, not on the
    // connection the request came by, and msrpd matches responses per connection (RFC 4976
    // §5.4: responses only flow on the connection of their request). Shown, not asserted.
    let tid = a.send_request("FROBNICATE", &to, &[]);
    let req = b.expect("FROBNICATE at B", |f| f.is_request("FROBNICATE"));
    assert_eq!(req.from_path(), format!("{} {} {}", ub[0], ua[0], a.uri));
    b.respond(&req, 200, &[]);
    a.set_read_timeout(Some(std::time::Duration::from_secs(2)));
    let back = a.read_frame();
    println!(
        "response to FROBNICATE {} from behind Kamailio: {back:?}",
        tid.as_str()
    );
    a.set_read_timeout(Some(e2e::client::DEFAULT_READ_TIMEOUT));

    // An error from B: Kamailio, next to B, ends SEND responses at its hop and generates no
    // failure REPORT, so A only ever sees the 200 from its own relay. Not asserted (it is
    // Kamailio's behaviour); shown for the record.
    let tid = a.send_chunk(
        &to,
        "kam-err",
        1,
        Some(1),
        b"x",
        Continuation::Complete,
        &[],
    );
    assert_eq!(a.response_to(&tid).code(), Some(200));
    b.receive_message("kam-err", 415);
    a.set_read_timeout(Some(std::time::Duration::from_secs(2)));
    let back = a.read_frame();
    println!("after an error behind Kamailio, A got: {back:?}");
}

/// A behind Kamailio, B behind msrpd: A -> Kamailio -> msrpd -> B. B's error becomes a failure
/// REPORT at msrpd and travels back through Kamailio.
#[test]
fn kamailio_then_msrpd() {
    let k = match Kamailio::start() {
        Ok(k) => k,
        Err(why) => skip!("Kamailio interop not run: {why}"),
    };
    let r = ours();
    let mut a = MsrpClient::connect(k.addr, "msrp://alice.invalid:2855/a2;tcp").unwrap();
    let mut b = MsrpClient::connect(r.plain(), "msrp://bob.invalid:2855/b2;tcp").unwrap();
    let ua = a.auth(&[&k.uri()], &AT_KAMAILIO).use_path;
    let ub = b.auth(&[&r.uri()], &BOB).use_path;
    let to = path_to(&ua, &ub, &b.uri);

    let body = pattern(10 * 1024 * 1024, 12);
    let t = transfer(&mut a, &to, &mut b, &body, KAMAILIO_CHUNK, "kam-then-ours");
    assert_eq!(t.path_at_b, format!("{} {} {}", ub[0], ua[0], a.uri));
    println!(
        "Kamailio -> msrpd: 10 MiB in {} chunks of 8 KiB in {:?}",
        t.chunks_sent, t.elapsed
    );
    let rep = failure_report(&mut a, &to, &mut b, 415, "kam-then-ours-fail");
    assert_eq!(rep.from_path(), format!("{} {}", ua[0], ub[0]));

    // A NICKNAME (non-SEND) and its error answer go back through msrpd and Kamailio.
    let tid = a.send_request("NICKNAME", &to, &[("Use-Nickname", "\"al\"")]);
    let req = b.expect("NICKNAME at B", |f| f.is_request("NICKNAME"));
    b.respond(&req, 425, &[]);
    assert_eq!(a.response_to(&tid).code(), Some(425));
}

/// RFC 4976 §5.1 with msrpd as the inner relay and Kamailio as the outer one: the AUTH for
/// Kamailio goes through msrpd, whose routing of the 401 and 200 back to the client is what is
/// tested. Kamailio's Use-Path lists only its own URI (RFC 4976 §5.1 wants the inner relay's
/// URI in front), so the client puts msrpd's token in front itself.
#[test]
fn auth_to_kamailio_through_msrpd() {
    let k = match Kamailio::start() {
        Ok(k) => k,
        Err(why) => skip!("Kamailio interop not run: {why}"),
    };
    let r = ours();
    let mut a = MsrpClient::connect(r.plain(), "msrp://alice.invalid:2855/a3;tcp").unwrap();
    let inner = a.auth(&[&r.uri()], &ALICE).use_path;
    let kuri = k.uri();
    let grant = a.auth(&[&inner[0], &kuri], &AT_KAMAILIO);
    println!("Kamailio's Use-Path through msrpd: {:?}", grant.use_path);
    assert_eq!(grant.response.to_path(), a.uri);
    let mut ua = grant.use_path.clone();
    if ua.first() != Some(&inner[0]) {
        ua.insert(0, inner[0].clone());
    }
    // B is a direct client of Kamailio.
    let mut b = MsrpClient::connect(k.addr, "msrp://bob.invalid:2855/b3;tcp").unwrap();
    let ub = b.auth(&[&kuri], &AT_KAMAILIO).use_path;
    let to = path_to(&ua, &ub, &b.uri);
    let body = pattern(100 * 1024, 13);
    transfer(
        &mut a,
        &to,
        &mut b,
        &body,
        KAMAILIO_CHUNK,
        "inner-ours-outer-kam",
    );
}

/// A chunk larger than Kamailio takes (it closes the connection above about 16 KB): msrpd, as
/// the previous hop, reports the failure to the sender and reaches Kamailio again afterwards.
#[test]
fn oversized_chunk_towards_kamailio_is_reported() {
    let k = match Kamailio::start() {
        Ok(k) => k,
        Err(why) => skip!("Kamailio interop not run: {why}"),
    };
    let mut n = RelayNode::new("localhost");
    n.transaction_timeout_secs = 2;
    let r = n.start();
    let mut a = MsrpClient::connect(r.plain(), "msrp://alice.invalid:2855/a4;tcp").unwrap();
    let mut b = MsrpClient::connect(k.addr, "msrp://bob.invalid:2855/b4;tcp").unwrap();
    let ua = a.auth(&[&r.uri()], &ALICE).use_path;
    let ub = b.auth(&[&k.uri()], &AT_KAMAILIO).use_path;
    let to = path_to(&ua, &ub, &b.uri);
    let big = pattern(64 * 1024, 14);
    let tid = a.send_chunk(
        &to,
        "too-big",
        1,
        Some(big.len() as u64),
        &big,
        Continuation::Complete,
        &[],
    );
    assert_eq!(a.response_to(&tid).code(), Some(200));
    let rep = a.expect("a failure REPORT", |f| {
        f.is_request("REPORT") && f.message_id() == "too-big"
    });
    let (_, code) = rep.status().expect("Status");
    assert_ne!(code, 200, "{rep:?}");
    println!("64 KiB chunk towards Kamailio: REPORT {code}");
    // Small chunks still go through.
    transfer(
        &mut a,
        &to,
        &mut b,
        &pattern(40 * 1024, 15),
        KAMAILIO_CHUNK,
        "small-again",
    );
}
