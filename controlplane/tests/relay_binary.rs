//! The `msrpd` binary as a relay, in its own process so that its memory can be watched:
//! a sanity exchange, and a receiver that stops reading while its sender floods (the relay
//! must pause the sender and keep its own memory bounded, and other sessions must flow).

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dataplane::wire::Continuation;
use e2e::procs::{memory, TempDir};
use e2e::scenario::{path_to, transfer};
use e2e::{pattern, MsrpClient, MsrpdProcess, RelayNode, ALICE, BOB};

fn msrpd() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_msrpd"))
}

fn pair(r: &MsrpdProcess, a: &str, b: &str) -> (MsrpClient, MsrpClient, Vec<String>) {
    let mut ca =
        MsrpClient::connect(r.plain(), &format!("msrp://{a}.invalid:2855/{a};tcp")).unwrap();
    let mut cb =
        MsrpClient::connect(r.plain(), &format!("msrp://{b}.invalid:2855/{b};tcp")).unwrap();
    let ua = ca.auth(&[&r.uri()], &ALICE).use_path;
    let ub = cb.auth(&[&r.uri()], &BOB).use_path;
    let to = path_to(&ua, &ub, &cb.uri);
    (ca, cb, to)
}

#[test]
fn msrpd_binary_relays_a_message_and_stops_on_sigterm() {
    let dir = TempDir::new("bin");
    let mut r = RelayNode::new("relay.test").spawn(msrpd(), dir.path());
    let (mut a, mut b, to) = pair(&r, "alice", "bob");
    transfer(
        &mut a,
        &to,
        &mut b,
        &pattern(3 * 1024 * 1024, 1),
        128 * 1024,
        "bin-1",
    );
    let status = r.guard.stop(Duration::from_secs(10)).expect("msrpd exited");
    assert!(status.success(), "msrpd exit status on SIGTERM: {status:?}");
    assert!(
        b.read_frame().map_or(true, |f| f.is_none()),
        "connections closed"
    );
}

#[test]
fn stalled_receiver_keeps_msrpd_memory_bounded() {
    let dir = TempDir::new("stall");
    let mut n = RelayNode::new("relay.test");
    n.high_water_bytes = 256 * 1024;
    let r = n.spawn(msrpd(), dir.path());
    let (mut a1, b1, to1) = pair(&r, "a1", "b1");
    let base = memory(r.pid()).expect("msrpd memory");

    let written = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (w, st) = (written.clone(), stop.clone());
    let flood = pattern(64 * 1024, 2);
    let total: u64 = 1 << 40;
    let writer = std::thread::spawn(move || {
        let mut at = 1u64;
        while !st.load(Ordering::Relaxed) {
            let (_, bytes) = a1.chunk_bytes(
                &to1,
                "flood",
                at,
                Some(total),
                &flood,
                Continuation::More,
                &[],
            );
            if a1.write_raw(&bytes).is_err() {
                break;
            }
            at += flood.len() as u64;
            w.store(at - 1, Ordering::Relaxed);
        }
    });
    let mut last = 0;
    let mut since = Instant::now();
    let start = Instant::now();
    let mut peak = base;
    while since.elapsed() < Duration::from_secs(2) {
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "the flood never stalled"
        );
        std::thread::sleep(Duration::from_millis(100));
        if let Some(m) = memory(r.pid()) {
            peak.rss_kib = peak.rss_kib.max(m.rss_kib);
        }
        let now = written.load(Ordering::Relaxed);
        if now != last {
            last = now;
            since = Instant::now();
        }
    }
    let stalled = memory(r.pid()).unwrap();
    println!(
        "stalled receiver: sender paused after {} KiB; msrpd RSS {} KiB -> {} KiB (peak {} KiB, anon {} KiB)",
        last / 1024,
        base.rss_kib,
        stalled.rss_kib,
        peak.rss_kib,
        stalled.anon_kib
    );
    assert!(
        peak.rss_kib < base.rss_kib + 64 * 1024,
        "msrpd grew by {} KiB while a receiver stalled",
        peak.rss_kib - base.rss_kib
    );

    // Meanwhile other sessions flow through the same worker.
    let (mut a2, mut b2, to2) = pair(&r, "a2", "b2");
    let t = transfer(
        &mut a2,
        &to2,
        &mut b2,
        &pattern(4 * 1024 * 1024, 3),
        64 * 1024,
        "beside",
    );
    println!(
        "a second session moved 4 MiB in {:?} beside the stalled one",
        t.elapsed
    );
    stop.store(true, Ordering::Relaxed);
    drop(b1);
    let t0 = Instant::now();
    while !writer.is_finished() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "sender still paused after its receiver left"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    writer.join().unwrap();
}

/// The next-hop relay dies (SIGKILL) in the middle of a message: the sender gets failure
/// REPORTs (or error responses) from its own relay, which goes on serving, and reaches the
/// restarted relay later.
#[test]
fn next_relay_killed_mid_message() {
    let dir = TempDir::new("kill-r2");
    let r1 = RelayNode::new("r1.test").host_alias("r2.test").start();
    let n2 = RelayNode::new("r2.test").host_alias("r1.test");
    let r2 = n2.spawn(msrpd(), dir.path());
    let mut a = MsrpClient::connect(r1.plain(), "msrp://a.invalid:2855/a;tcp").unwrap();
    let mut b = MsrpClient::connect(r2.plain(), "msrp://b.invalid:2855/b;tcp").unwrap();
    let ua = a.auth(&[&r1.uri()], &ALICE).use_path;
    let ub = b.auth(&[&r2.uri()], &BOB).use_path;
    let to = path_to(&ua, &ub, &b.uri);
    // B reads one chunk and no more, so that much of the message is still on its way (in R1)
    // when R2 dies.
    let body = pattern(32 * 1024 * 1024, 4);
    let to_w = to.clone();
    let writer = std::thread::spawn(move || {
        let tids = a.send_message(&to_w, "doomed", &body, 256 * 1024, &[]);
        (a, tids)
    });
    let first = b.next("a first chunk");
    assert_eq!(first.message_id(), "doomed");
    std::thread::sleep(Duration::from_millis(300));
    r2.guard.kill_hard();
    let t0 = Instant::now();
    while !writer.is_finished() {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the sender never got rid of its message"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (mut a, tids) = writer.join().unwrap();
    let mut failed = 0;
    for t in &tids {
        if a.response_to(t).code() != Some(200) {
            failed += 1;
        }
    }
    if failed == 0 {
        let rep = a.expect("a failure REPORT", |f| f.is_request("REPORT"));
        let (_, code) = rep.status().expect("Status");
        assert_ne!(code, 200);
        println!(
            "next relay killed: A got REPORT {code} for {:?}",
            rep.byte_range()
        );
    } else {
        println!(
            "next relay killed: {failed} of {} chunks refused",
            tids.len()
        );
    }
    // R1 still serves: a session with both ends on R1 works.
    let mut c = MsrpClient::connect(r1.plain(), "msrp://c.invalid:2855/c;tcp").unwrap();
    let mut d = MsrpClient::connect(r1.plain(), "msrp://d.invalid:2855/d;tcp").unwrap();
    let uc = c.auth(&[&r1.uri()], &ALICE).use_path;
    let ud = d.auth(&[&r1.uri()], &BOB).use_path;
    transfer(
        &mut c,
        &path_to(&uc, &ud, &d.uri),
        &mut d,
        b"still here",
        1024,
        "after-kill",
    );
    drop(r2);
    // A restarted R2 (new port, new tokens) is reached through the same R1.
    let r2b = RelayNode::new("r2.test")
        .host_alias("r1.test")
        .spawn(msrpd(), dir.path());
    let mut b2 = MsrpClient::connect(r2b.plain(), "msrp://b.invalid:2855/b2;tcp").unwrap();
    let ub2 = b2.auth(&[&r2b.uri()], &BOB).use_path;
    transfer(
        &mut a,
        &path_to(&ua, &ub2, &b2.uri),
        &mut b2,
        &pattern(200_000, 5),
        64 * 1024,
        "after-restart",
    );
}
