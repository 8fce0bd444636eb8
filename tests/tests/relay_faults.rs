//! Faults around an msrpd relay: a sender that dies in the middle of a chunk, a receiver that
//! stops reading, connections that never prove themselves (RFC 4976 §6.1 probation), next hops
//! that never answer (§6.4.1 408 REPORT) or cannot be reached.

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dataplane::wire::Continuation;
use e2e::scenario::{path_to, transfer};
use e2e::{pattern, InProcess, MsrpClient, RelayNode, ALICE, BOB};

fn client(relay: &InProcess, name: &str) -> MsrpClient {
    MsrpClient::connect(
        relay.plain(),
        &format!("msrp://{name}.invalid:2855/{name}-s;tcp"),
    )
    .expect("connect to the relay")
}

/// A and B logged in at `r`; returns them with A's To-Path to B.
fn pair(r: &InProcess, a: &str, b: &str) -> (MsrpClient, MsrpClient, Vec<String>) {
    let mut ca = client(r, a);
    let mut cb = client(r, b);
    let ua = ca.auth(&[&r.uri()], &ALICE).use_path;
    let ub = cb.auth(&[&r.uri()], &BOB).use_path;
    let to = path_to(&ua, &ub, &cb.uri);
    (ca, cb, to)
}

/// The sender writes the head and part of the body of a 100 000-octet chunk, then dies. The
/// relay must end the chunk it forwards with `#` (RFC 4975 §7.1: abandoned) so that the
/// receiver's parser stays in sync, and the receiver's connection stays usable.
fn killed_mid_chunk(reset: bool) {
    let r = RelayNode::new("relay.test").start();
    let (mut a, mut b, to) = pair(&r, "alice", "bob");
    let body = pattern(100_000, 5);
    let (_, mut frame) = a.chunk_bytes(
        &to,
        "cut-1",
        1,
        Some(100_000),
        &body,
        Continuation::Complete,
        &[],
    );
    let head_end = frame.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    frame.truncate(head_end + 5000);
    a.write_raw(&frame).unwrap();
    assert_eq!(a.next("the relay's 200").code(), Some(200));
    // Let the relay forward what it has before the sender disappears.
    let first = Instant::now();
    a.kill(reset);
    let got = b.next("the abandoned chunk");
    assert_eq!(
        got.flag,
        Continuation::Abort,
        "the forwarded chunk must end with #: {got:?}"
    );
    assert_eq!(
        got.body,
        &body[..5000],
        "the bytes before the death arrive intact"
    );
    assert!(got.byte_range().is_some_and(|r| r.start == 1));
    println!(
        "abandoned chunk reached B {:?} after the kill",
        first.elapsed()
    );

    // B's connection is in sync: another sender reaches it.
    let mut a2 = client(&r, "alice2");
    let ua2 = a2.auth(&[&r.uri()], &ALICE).use_path;
    let mut to2 = ua2.clone();
    to2.extend(to[1..].iter().cloned());
    let msg = pattern(50_000, 6);
    transfer(&mut a2, &to2, &mut b, &msg, 20_000, "after-cut");
}

#[test]
fn client_killed_mid_chunk_with_fin() {
    killed_mid_chunk(false);
}

#[test]
fn client_killed_mid_chunk_with_reset() {
    killed_mid_chunk(true);
}

/// A receiver that stops reading: the relay pauses that session's sender (bounded memory)
/// while other sessions through the same relay, on the same worker, keep flowing.
#[test]
fn stalled_receiver_does_not_block_other_sessions() {
    let mut n = RelayNode::new("relay.test");
    n.workers = 1;
    n.high_water_bytes = 256 * 1024;
    let r = n.start();
    let (mut a1, b1, to1) = pair(&r, "a1", "b1");
    b1.set_read_timeout(Some(Duration::from_secs(60)));
    let to1_again = to1.clone();
    // B1 never reads; A1 writes as fast as the relay lets it.
    let written = Arc::new(AtomicU64::new(0));
    let w = written.clone();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let st = stop.clone();
    let chunk = pattern(64 * 1024, 7);
    let total: u64 = 1 << 30;
    let writer = std::thread::spawn(move || {
        a1.set_read_timeout(Some(Duration::from_millis(1)));
        let mut at = 1u64;
        while !st.load(Ordering::Relaxed) && at < total {
            let (_, bytes) = a1.chunk_bytes(
                &to1,
                "flood",
                at,
                Some(total),
                &chunk,
                Continuation::More,
                &[],
            );
            // A blocked write is exactly what we want to see; the relay's 200s pile up unread.
            if a1.write_raw(&bytes).is_err() {
                break;
            }
            at += chunk.len() as u64;
            w.store(at - 1, Ordering::Relaxed);
        }
        a1
    });
    // Wait until A1 is stuck: no progress for a second.
    let mut last = 0;
    let mut still_since = Instant::now();
    let start = Instant::now();
    while still_since.elapsed() < Duration::from_secs(1) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the flood never stalled"
        );
        std::thread::sleep(Duration::from_millis(100));
        let now = written.load(Ordering::Relaxed);
        if now != last {
            last = now;
            still_since = Instant::now();
        }
    }
    let stalled_at = written.load(Ordering::Relaxed);
    println!(
        "stalled receiver: the sender stopped after {} KiB (relay high-water 256 KiB, rest in socket buffers)",
        stalled_at / 1024
    );
    assert!(
        stalled_at < 256 * 1024 * 1024,
        "the relay kept reading a sender whose receiver stalled: {stalled_at} bytes"
    );

    // Another session on the same relay (and worker) is unaffected.
    let (mut a2, mut b2, to2) = pair(&r, "a2", "b2");
    let t = transfer(
        &mut a2,
        &to2,
        &mut b2,
        &pattern(2 * 1024 * 1024, 8),
        64 * 1024,
        "unaffected",
    );
    println!(
        "other session: 2 MiB in {:?} while the flood is stalled",
        t.elapsed
    );
    assert_eq!(
        written.load(Ordering::Relaxed),
        stalled_at,
        "the flood stays paused"
    );
    // The receiver goes away: its sender must be released (its further chunks are refused,
    // not left hanging on a paused connection).
    stop.store(true, Ordering::Relaxed);
    drop(b1);
    let t0 = Instant::now();
    while !writer.is_finished() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "the sender is still paused after its receiver went away"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut a1 = writer.join().unwrap();
    a1.set_read_timeout(Some(Duration::from_secs(20)));
    let tid = a1.send_chunk(
        &to1_again,
        "after-flood",
        1,
        Some(1),
        b"x",
        Continuation::Complete,
        &[],
    );
    let resp = a1.response_to(&tid);
    assert_eq!(resp.code(), Some(481), "B1's session is gone: {resp:?}");
}

/// RFC 4976 §6.1: a connection that sends nothing is closed after the probation period.
#[test]
fn silent_connection_is_closed_after_probation() {
    let mut n = RelayNode::new("relay.test");
    n.probation_secs = 1;
    let r = n.start();
    let mut silent = client(&r, "silent");
    let took = silent.expect_closed(Duration::from_secs(15));
    println!("silent connection closed after {took:?} (probation 1 s)");
    assert!(
        took >= Duration::from_millis(900),
        "closed before the probation ended: {took:?}"
    );
}

/// A connection that opens a frame and never finishes it (half-open, or a slowloris).
#[test]
fn half_finished_frame_is_closed_after_probation() {
    let mut n = RelayNode::new("relay.test");
    n.probation_secs = 1;
    let r = n.start();
    let mut s = TcpStream::connect(r.plain()).unwrap();
    s.write_all(b"MSRP abcd1234 AUTH\r\nTo-Path: msrp://relay.test:1;tcp\r\n")
        .unwrap();
    let mut c = MsrpClient::connect(r.plain(), "msrp://x.invalid:1/x;tcp").unwrap();
    c.write_raw(b"MSRP abcd1234 SEND\r\nTo-Path: ").unwrap();
    let took = c.expect_closed(Duration::from_secs(15));
    assert!(took >= Duration::from_millis(900), "{took:?}");
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let mut buf = [0u8; 64];
    let n = std::io::Read::read(&mut s, &mut buf);
    assert!(matches!(n, Ok(0)) || n.is_err(), "still open: {n:?}");
}

/// A connection that proved itself (a successful AUTH) outlives the probation period.
#[test]
fn proven_connection_outlives_probation() {
    let mut n = RelayNode::new("relay.test");
    n.probation_secs = 1;
    let r = n.start();
    let (mut a, mut b, to) = pair(&r, "alice", "bob");
    assert!(a.still_open_after(Duration::from_millis(2500)));
    transfer(&mut a, &to, &mut b, b"still here", 1024, "after-probation");
}

/// Only failures during probation: the connection is closed without waiting.
#[test]
fn repeated_failures_in_probation_close_the_connection() {
    let r = RelayNode::new("relay.test").start();
    let mut c = client(&r, "prober");
    let fake = format!(
        "msrp://relay.test:{}/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA;tcp",
        r.plain().port()
    );
    let to = vec![fake, "msrp://b.invalid:1/b;tcp".to_string()];
    let mut codes = Vec::new();
    loop {
        let tid = c.send_chunk(&to, "probe", 1, Some(1), b"x", Continuation::Complete, &[]);
        match c.read_frame() {
            Ok(Some(f)) => {
                assert_eq!(f.head.transaction_id(), tid.as_bytes());
                codes.push(f.code());
            }
            Ok(None) | Err(_) => break,
        }
        assert!(codes.len() < 20, "never closed: {codes:?}");
    }
    assert!(codes.iter().all(|c| *c == Some(481)), "{codes:?}");
    assert!(!codes.is_empty());
}

/// RFC 4976 §6.4.1: a next hop that never answers a chunk earns the sender a 408 REPORT.
#[test]
fn unanswered_chunk_gets_a_408_report() {
    let mut n = RelayNode::new("relay.test");
    n.transaction_timeout_secs = 1;
    let r = n.start();
    let (mut a, mut b, to) = pair(&r, "alice", "bob");
    let tid = a.send_chunk(
        &to,
        "never-answered",
        1,
        Some(3),
        b"abc",
        Continuation::Complete,
        &[],
    );
    assert_eq!(a.response_to(&tid).code(), Some(200));
    let got = b.next("the chunk");
    assert_eq!(got.body, b"abc");
    let rep = a.expect("the 408 REPORT", |f| f.is_request("REPORT"));
    assert_eq!(rep.status(), Some((0, 408)));
    assert_eq!(rep.message_id(), "never-answered");
    assert_eq!(
        rep.byte_range().map(|r| (r.start, r.end)),
        Some((1, Some(3)))
    );
    // Failure-Report: no asks for silence.
    let tid = a.send_chunk(
        &to,
        "quiet",
        1,
        Some(3),
        b"def",
        Continuation::Complete,
        &[("Failure-Report", "no")],
    );
    let _ = tid;
    let got = b.next("the quiet chunk");
    assert_eq!(got.body, b"def");
    assert!(
        a.still_open_after(Duration::from_millis(2500)),
        "no REPORT, no response"
    );
}

/// A next-hop relay that cannot be reached: the sender gets a failure REPORT.
#[test]
fn unreachable_next_hop_gets_a_failure_report() {
    let dead = e2e::procs::free_port();
    let r = RelayNode::new("relay.test").host_alias("gone.test").start();
    let mut a = client(&r, "alice");
    let ua = a.auth(&[&r.uri()], &ALICE).use_path;
    let to = vec![
        ua[0].clone(),
        format!("msrp://gone.test:{dead}/tok;tcp"),
        "msrp://b.invalid:1/b;tcp".to_string(),
    ];
    let tid = a.send_chunk(
        &to,
        "to-nowhere",
        1,
        Some(3),
        b"abc",
        Continuation::Complete,
        &[],
    );
    assert_eq!(a.response_to(&tid).code(), Some(200));
    let rep = a.expect("failure REPORT", |f| f.is_request("REPORT"));
    let (_, code) = rep.status().unwrap();
    assert_ne!(code, 200);
    println!("unreachable next hop reported as {code}");
}

/// The sender half of `sender_process_killed_mid_chunk`: runs only in the child process that
/// test starts (this test binary again, with `MSRP_E2E_CHILD_SENDER` set); a no-op otherwise.
#[test]
fn child_sender_process() {
    let Ok(spec) = std::env::var("MSRP_E2E_CHILD_SENDER") else {
        return;
    };
    let p: Vec<&str> = spec.split('|').collect();
    let mut a =
        MsrpClient::connect(p[0].parse().unwrap(), "msrp://child.invalid:2855/c;tcp").unwrap();
    let ua = a.auth(&[p[1]], &ALICE).use_path;
    let to = vec![ua[0].clone(), p[2].to_string(), p[3].to_string()];
    let body = pattern(100_000, 5);
    let (_, mut frame) = a.chunk_bytes(
        &to,
        "killed",
        1,
        Some(100_000),
        &body,
        Continuation::Complete,
        &[],
    );
    let head_end = frame.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    frame.truncate(head_end + 5000);
    a.write_raw(&frame).unwrap();
    assert_eq!(a.next("the relay's 200").code(), Some(200));
    println!("CHILD-READY");
    std::thread::sleep(Duration::from_secs(120));
}

/// A sender process SIGKILLed in the middle of a chunk (the kernel closes its socket): the
/// relay ends the forwarded chunk with `#`.
#[test]
fn sender_process_killed_mid_chunk() {
    use e2e::procs::{child_stderr, stdout_lines, ChildGuard};
    let r = RelayNode::new("relay.test").start();
    let mut b = client(&r, "bob");
    let ub = b.auth(&[&r.uri()], &BOB).use_path;
    let spec = format!("{}|{}|{}|{}", r.plain(), r.uri(), ub[0], b.uri);
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "child_sender_process",
        "--nocapture",
        "--test-threads",
        "1",
    ])
    .env("MSRP_E2E_CHILD_SENDER", spec)
    .stdout(std::process::Stdio::piped())
    .stderr(child_stderr());
    let mut child = ChildGuard::spawn(cmd, "child sender", false).unwrap();
    let lines = stdout_lines(child.child_mut());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(l) if l.contains("CHILD-READY") => break,
            Ok(_) => {}
            Err(_) => panic!(
                "the child sender never got going (exit: {:?})",
                child.exited()
            ),
        }
    }
    child.signal(libc::SIGKILL);
    let got = b.next("the abandoned chunk");
    assert_eq!(got.flag, Continuation::Abort, "{got:?}");
    assert_eq!(got.body, &pattern(100_000, 5)[..5000]);
    assert_eq!(
        got.from_path(),
        format!(
            "{} {} msrp://child.invalid:2855/c;tcp",
            ub[0],
            got.from_path_uris()[1]
        )
    );
}

/// A stalled receiver behind a relay-to-relay link: A1 -> R1 -> R2 -> B1 with B1 not reading,
/// while A2 -> R1 -> R2 -> B2 shares the R1-R2 connection.
#[test]
fn stalled_receiver_behind_a_relay_link_does_not_block_the_link() {
    let mut n1 = RelayNode::new("r1.test").host_alias("r2.test");
    let mut n2 = RelayNode::new("r2.test").host_alias("r1.test");
    n1.high_water_bytes = 256 * 1024;
    n2.high_water_bytes = 256 * 1024;
    // R2, next to the stalled receiver, gives up on it after 2 s (RFC 4976 §6.4.1 allows a hop
    // 30 s); R1 waits longer, so that it does not give up on the link first.
    n2.transaction_timeout_secs = 2;
    n1.transaction_timeout_secs = 10;
    let (r1, r2) = (n1.start(), n2.start());
    let login = |r: &InProcess, name: &str, who| {
        let mut c = client(r, name);
        let u = c.auth(&[&r.uri()], who).use_path;
        (c, u)
    };
    let (mut a1, ua1) = login(&r1, "a1", &ALICE);
    let (b1, ub1) = login(&r2, "b1", &BOB);
    let (mut a2, ua2) = login(&r1, "a2", &ALICE);
    let (mut b2, ub2) = login(&r2, "b2", &BOB);
    let to1 = path_to(&ua1, &ub1, &b1.uri);
    let to2 = path_to(&ua2, &ub2, &b2.uri);
    // Open the link with a message of A2's first, so that both sessions share it.
    transfer(&mut a2, &to2, &mut b2, b"hello", 1024, "link-up");

    let written = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (w, st) = (written.clone(), stop.clone());
    let flood = pattern(64 * 1024, 9);
    let writer = std::thread::spawn(move || {
        let mut at = 1u64;
        while !st.load(Ordering::Relaxed) {
            let (_, bytes) = a1.chunk_bytes(
                &to1,
                "flood",
                at,
                Some(1 << 40),
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
    while since.elapsed() < Duration::from_secs(1) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the flood never stalled"
        );
        std::thread::sleep(Duration::from_millis(100));
        let now = written.load(Ordering::Relaxed);
        if now != last {
            last = now;
            since = Instant::now();
        }
    }
    println!("relay link: the flood stalled after {} KiB", last / 1024);
    // A2's session through the same link must still flow.
    a2.set_read_timeout(Some(Duration::from_secs(10)));
    b2.set_read_timeout(Some(Duration::from_secs(10)));
    let t = transfer(
        &mut a2,
        &to2,
        &mut b2,
        &pattern(256 * 1024, 10),
        64 * 1024,
        "beside-link",
    );
    println!(
        "relay link: a second session moved 256 KiB in {:?}",
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
}
