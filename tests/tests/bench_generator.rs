//! Tests of the traffic generator itself: a proxy between the generator and msrpd drops,
//! damages or delays one message past the next on its way to a receiver, and the generator must notice and
//! fail the run loudly (it counts what it sent and what arrived, and checks every body).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use msrp_bench::scenarios::relay::run::run;
use msrp_bench::scenarios::relay::{RelayEndpoint, RelayOpts, RelayOutcome};
use msrp_bench::targets::{Pinning, Target, TargetKind};

/// What the proxy does to the `n`-th message it carries towards a client.
#[derive(Clone, Copy, Debug)]
enum Fault {
    Drop,
    Corrupt,
    Reorder,
    Nothing,
}

/// Splits a byte stream into whole MSRP frames (start line to end-line).
fn next_frame(buf: &[u8]) -> Option<usize> {
    let line_end = buf.windows(2).position(|w| w == b"\r\n")?;
    let line = std::str::from_utf8(&buf[..line_end]).ok()?;
    let tid = line.split(' ').nth(1)?;
    let marker = format!("-------{tid}");
    let mut from = line_end;
    loop {
        let at = buf[from..]
            .windows(marker.len())
            .position(|w| w == marker.as_bytes())?
            + from;
        let after = at + marker.len();
        if buf.len() < after + 3 {
            return None;
        }
        if matches!(buf[after], b'$' | b'+' | b'#') && &buf[after + 1..after + 3] == b"\r\n" {
            return Some(after + 3);
        }
        from = after;
    }
}

/// Relays bytes client -> server untouched, and server -> client frame by frame, applying
/// `fault` to the `nth` SEND that carries a body.
fn proxy(server: SocketAddr, fault: Fault, nth: usize) -> (SocketAddr, Arc<AtomicBool>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let sends = Arc::new(AtomicUsize::new(0));
    let applied = done.clone();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(client) = c else { return };
            let Ok(up) = TcpStream::connect(server) else {
                return;
            };
            let (mut c_in, mut c_out) = (client.try_clone().unwrap(), client);
            let (mut u_in, mut u_out) = (up.try_clone().unwrap(), up);
            std::thread::spawn(move || {
                let mut b = [0u8; 65536];
                while let Ok(n) = c_in.read(&mut b) {
                    if n == 0 || u_out.write_all(&b[..n]).is_err() {
                        break;
                    }
                }
            });
            let sends = sends.clone();
            let applied = applied.clone();
            std::thread::spawn(move || {
                let mut b = [0u8; 65536];
                let mut acc: Vec<u8> = Vec::new();
                let mut held: Option<Vec<u8>> = None;
                while let Ok(n) = u_in.read(&mut b) {
                    if n == 0 {
                        break;
                    }
                    acc.extend_from_slice(&b[..n]);
                    while let Some(end) = next_frame(&acc) {
                        let mut frame: Vec<u8> = acc.drain(..end).collect();
                        let is_send = frame.starts_with(b"MSRP ")
                            && frame
                                .split(|&c| c == b'\r')
                                .next()
                                .is_some_and(|l| l.ends_with(b" SEND"))
                            && frame.windows(4).any(|w| w == b"\r\n\r\n");
                        let mut copies = 1;
                        let release = if is_send { held.take() } else { None };
                        if is_send && sends.fetch_add(1, Ordering::SeqCst) + 1 == nth {
                            applied.store(true, Ordering::SeqCst);
                            match fault {
                                Fault::Drop => copies = 0,
                                Fault::Reorder => {
                                    held = Some(std::mem::take(&mut frame));
                                    copies = 0;
                                }
                                Fault::Corrupt => {
                                    let body =
                                        frame.windows(4).position(|w| w == b"\r\n\r\n").unwrap()
                                            + 4;
                                    frame[body + 60] =
                                        if frame[body + 60] == b'x' { b'y' } else { b'x' };
                                }
                                Fault::Nothing => {}
                            }
                        }
                        for _ in 0..copies {
                            if c_out.write_all(&frame).is_err() {
                                return;
                            }
                        }
                        if let Some(h) = release {
                            if c_out.write_all(&h).is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    (addr, done)
}

fn run_with(fault: Fault) -> (RelayOutcome, bool) {
    let t = Target::start(&TargetKind::MsrpdInProcess, &Pinning::none(), 0).unwrap();
    let (addr, applied) = proxy(t.addr, fault, 50);
    let ep = RelayEndpoint {
        addr,
        uri: t.uri.clone(),
        user: t.user.clone(),
        password: t.password.clone(),
        max_chunk: None,
    };
    let opts = RelayOpts {
        sessions: 2,
        window: 2,
        duration: Duration::from_secs(20),
        warmup: Duration::ZERO,
        max_messages: Some(400),
        drain: Duration::from_secs(2),
        ..RelayOpts::default()
    };
    let o = run(&opts, &ep, &|| t.cpu(), "fault-test");
    (o, applied.load(Ordering::SeqCst))
}

#[test]
fn a_clean_path_passes() {
    let (o, _) = run_with(Fault::Nothing);
    assert!(o.errors.is_empty(), "{:?}", o.errors);
    assert_eq!(o.received, o.sent);
}

#[test]
fn a_dropped_message_fails_the_run() {
    let (o, applied) = run_with(Fault::Drop);
    assert!(applied, "the proxy saw 50 SENDs");
    assert_eq!(o.received + 1, o.sent, "exactly one lost: {o:?}");
    assert!(o.out_of_order >= 1, "the gap in the sequence is seen");
    assert!(
        o.errors.iter().any(|e| e.contains("1 missing")),
        "{:?}",
        o.errors
    );
}

#[test]
fn a_damaged_message_fails_the_run() {
    let (o, applied) = run_with(Fault::Corrupt);
    assert!(applied);
    assert_eq!(o.corrupt, 1, "{:?}", o.errors);
    assert!(!o.errors.is_empty());
}

#[test]
fn a_message_overtaken_by_the_next_fails_the_run() {
    let (o, applied) = run_with(Fault::Reorder);
    assert!(applied);
    assert_eq!(o.received, o.sent, "nothing lost");
    assert!(o.out_of_order >= 1, "{:?}", o.errors);
    assert!(!o.errors.is_empty());
}
