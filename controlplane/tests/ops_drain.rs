//! Graceful stop of the msrpd binary: SIGTERM while messages flow through the relay. The
//! listeners close at once, msrpd reports `draining`, transactions in flight finish, one that
//! cannot (its receiver never answers) is failed with a 408 REPORT at the drain deadline, and
//! every message the relay accepted with a 200 was either delivered or reported failed.

mod ops_support;

use std::collections::{HashMap, HashSet};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dataplane::wire::{Continuation, Method};
use e2e::procs::TempDir;
use e2e::scenario::path_to;
use e2e::{pattern, Login, MsrpClient, RelayNode};
use ops_support::{ctl, msrpd, pair};

const CAROL: Login<'static> = Login {
    user: "carol",
    password: "carolpw",
};
const DAVE: Login<'static> = Login {
    user: "dave",
    password: "davepw",
};

/// What the sender saw for one message.
#[derive(Debug, Default, Clone, Copy)]
struct Outcome {
    ok: bool,
    failure_report: Option<u16>,
}

#[test]
fn sigterm_drains_what_is_in_flight_and_reports_what_cannot_finish() {
    let dir = TempDir::new("ops-drain");
    let mut node = RelayNode::new("relay.test");
    node.users.push(("carol".into(), "carolpw".into()));
    node.users.push(("dave".into(), "davepw".into()));
    node.mgmt = vec![
        "listen = \"127.0.0.1:0\"".into(),
        "drain_timeout_secs = 3".into(),
    ];
    let mut r = node.spawn(msrpd(), dir.path());
    let mgmt = r.mgmt.unwrap().to_string();

    // A stalled session: dave never answers carol's chunk, so it stays in flight.
    let mut carol = MsrpClient::connect(r.plain(), "msrp://carol.invalid:2855/carol;tcp").unwrap();
    let mut dave = MsrpClient::connect(r.plain(), "msrp://dave.invalid:2855/dave;tcp").unwrap();
    let uc = carol.auth(&[&r.uri()], &CAROL).use_path;
    let ud = dave.auth(&[&r.uri()], &DAVE).use_path;
    let to_dave = path_to(&uc, &ud, &dave.uri);
    let tid = carol.send_chunk(
        &to_dave,
        "stuck-1",
        1,
        Some(5),
        b"hello",
        Continuation::Complete,
        &[],
    );
    assert_eq!(
        carol.response_to(&tid).code(),
        Some(200),
        "first hop accepts"
    );
    let got = dave.expect("the stuck chunk", |f| f.method() == Some(Method::Send));
    assert_eq!(got.message_id(), "stuck-1");

    // A flowing session: alice sends message after message, bob answers every chunk.
    let (mut alice, mut bob, to_bob) = pair(&r, "alice", "bob");
    alice.set_read_timeout(Some(Duration::from_secs(15)));
    bob.set_read_timeout(Some(Duration::from_secs(15)));
    let sent = Arc::new(AtomicU64::new(0));
    let sent_w = sent.clone();
    let sender = std::thread::spawn(move || {
        let body = pattern(8 * 1024, 9);
        let mut outcomes: HashMap<String, Outcome> = HashMap::new();
        let mut tids: HashMap<String, String> = HashMap::new();
        for i in 0..100_000u64 {
            let mid = format!("m{i}");
            let (tid, bytes) = alice.chunk_bytes(
                &to_bob,
                &mid,
                1,
                Some(body.len() as u64),
                &body,
                Continuation::Complete,
                &[],
            );
            if alice.write_raw(&bytes).is_err() {
                break;
            }
            tids.insert(tid.as_str().to_string(), mid.clone());
            outcomes.insert(mid, Outcome::default());
            sent_w.fetch_add(1, Ordering::Relaxed);
            // Read until this chunk's response (REPORTs of earlier ones may come first).
            let mut closed = false;
            loop {
                match alice.read_frame() {
                    Ok(Some(f)) => {
                        if let Some(code) = f.code() {
                            if let Some(m) = tids.get(&f.tid()) {
                                if let Some(o) = outcomes.get_mut(m) {
                                    o.ok = code == 200;
                                }
                                if f.tid() == tid.as_str() {
                                    break;
                                }
                            }
                        } else if f.method() == Some(Method::Report) {
                            if let Some(o) = outcomes.get_mut(&f.message_id()) {
                                o.failure_report = f.status().map(|(_, c)| c);
                            }
                        }
                    }
                    _ => {
                        closed = true;
                        break;
                    }
                }
            }
            if closed {
                break;
            }
        }
        outcomes
    });
    let receiver = std::thread::spawn(move || {
        let mut got = HashSet::new();
        while let Ok(Some(f)) = bob.read_frame() {
            if f.method() == Some(Method::Send) {
                got.insert(f.message_id());
                if f.header("Failure-Report") != "no" && bob.try_respond(&f, 200, &[]).is_err() {
                    break;
                }
            }
        }
        got
    });

    let until = Instant::now() + Duration::from_secs(20);
    while sent.load(Ordering::Relaxed) < 50 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        sent.load(Ordering::Relaxed) >= 50,
        "traffic flows before the stop"
    );
    r.guard.signal(15); // SIGTERM

    // While it drains (the stuck chunk holds it up to the deadline): no new connections,
    // and the API says so.
    let plain = r.plain();
    let mut refused = false;
    let mut draining = false;
    let until = Instant::now() + Duration::from_millis(2500);
    while Instant::now() < until && !(refused && draining) {
        refused |= TcpStream::connect(plain).is_err();
        if !draining {
            let c = ctl(&["--addr", &mgmt, "status", "--json"], &[]);
            draining = c.out.contains("\"draining\": true");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(refused, "the MSRP listener still accepts during the drain");
    assert!(draining, "status does not show the drain");

    // At the deadline, carol learns that her chunk failed (RFC 4976 §6.4.1: 408).
    carol.set_read_timeout(Some(Duration::from_secs(10)));
    let rep = carol.expect("the failure REPORT of the stuck chunk", |f| {
        f.method() == Some(Method::Report)
    });
    assert_eq!(rep.message_id(), "stuck-1");
    assert_eq!(rep.status(), Some((0, 408)), "{rep:?}");

    let st = r.guard.stop(Duration::from_secs(10)).expect("msrpd exited");
    assert!(st.success(), "exit status after the drain: {st:?}");
    let outcomes = sender.join().expect("sender");
    let delivered = receiver.join().expect("receiver");
    let accepted: Vec<&String> = outcomes
        .iter()
        .filter(|(_, o)| o.ok)
        .map(|(m, _)| m)
        .collect();
    assert!(accepted.len() >= 50, "{} accepted", accepted.len());
    for m in accepted {
        let o = outcomes[m];
        assert!(
            delivered.contains(m) || o.failure_report.is_some_and(|c| c != 200),
            "{m} was accepted with a 200 but neither delivered nor reported failed"
        );
    }
    drop(dave);
}
