//! The life of relay tokens (RFC 4976 §6.3, §9.4): bound to the connection that authenticated,
//! void once it closes (even if the client reconnects), void after Expires, and gone with a
//! connection closed for being idle.

use std::time::Duration;

use dataplane::wire::Continuation;
use e2e::scenario::{path_to, transfer};
use e2e::{InProcess, MsrpClient, RelayNode, ALICE, BOB};

fn client(relay: &InProcess, name: &str) -> MsrpClient {
    MsrpClient::connect(
        relay.plain(),
        &format!("msrp://{name}.invalid:2855/{name}-s;tcp"),
    )
    .expect("connect to the relay")
}

fn send_code(c: &mut MsrpClient, to: &[String], mid: &str) -> Option<u16> {
    let tid = c.send_chunk(to, mid, 1, Some(2), b"hi", Continuation::Complete, &[]);
    c.response_to(&tid).code()
}

#[test]
fn a_token_dies_with_its_connection_even_if_the_client_comes_back() {
    let r = RelayNode::new("relay.test").start();
    let mut a = client(&r, "alice");
    let mut b = client(&r, "bob");
    let ua = a.auth(&[&r.uri()], &ALICE).use_path;
    let ub = b.auth(&[&r.uri()], &BOB).use_path;
    let to_b = path_to(&ua, &ub, &b.uri);
    transfer(&mut a, &to_b, &mut b, b"before", 1024, "before");
    let a_uri = a.uri.clone();
    drop(a);
    // Wait until the relay has seen the close (only B's connection left).
    let t0 = std::time::Instant::now();
    while r.stats().connections > 1 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "close never noticed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Same client URI, new connection, old token: refused.
    let mut again = MsrpClient::connect(r.plain(), &a_uri).unwrap();
    assert_eq!(send_code(&mut again, &to_b, "stale-1"), Some(481));
    // Towards the gone client too.
    let to_a = path_to(&ub, &ua, &a_uri);
    assert_eq!(send_code(&mut b, &to_a, "stale-2"), Some(481));
    // A fresh AUTH gives a working token again.
    let ua2 = again.auth(&[&r.uri()], &ALICE).use_path;
    assert_ne!(ua2, ua);
    transfer(
        &mut again,
        &path_to(&ua2, &ub, &b.uri),
        &mut b,
        b"after",
        1024,
        "after",
    );
}

#[test]
fn a_token_expires() {
    let mut n = RelayNode::new("relay.test");
    n.min_expires = 1;
    let r = n.start();
    let mut a = client(&r, "alice");
    let mut b = client(&r, "bob");
    let g = a
        .try_auth(&[&r.uri()], &ALICE, Some(1))
        .expect("AUTH with Expires: 1");
    assert_eq!(g.expires, Some(1));
    let ub = b.auth(&[&r.uri()], &BOB).use_path;
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        send_code(&mut a, &path_to(&g.use_path, &ub, &b.uri), "expired"),
        Some(481)
    );
}

#[test]
fn an_idle_connection_is_closed_and_its_tokens_revoked() {
    let mut n = RelayNode::new("relay.test");
    n.idle_timeout_secs = 1;
    let r = n.start();
    let mut a = client(&r, "alice");
    let ua = a.auth(&[&r.uri()], &ALICE).use_path;
    let took = a.expect_closed(Duration::from_secs(15));
    println!("idle authenticated connection closed after {took:?} (idle timeout 1 s)");
    // A's token went with its connection.
    let mut b = client(&r, "bob");
    let ub = b.auth(&[&r.uri()], &BOB).use_path;
    let to_a = path_to(&ub, &ua, &a.uri);
    assert_eq!(send_code(&mut b, &to_a, "to-gone"), Some(481));
}
