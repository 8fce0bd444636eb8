//! Chat switch at scale over loopback: members spread over two workers, a 10 000-member room
//! (clients in a child process: the descriptor limit is 20 000 per process), and a fan-out
//! measurement that prints figures (`--ignored`; the real benchmark tool is `msrp-bench`).
//!
//! The child process is this test binary run again with `SWITCH_CHILD` set: it drives all
//! member connections from one epoll loop (the dataplane's kernel backend) and reports on
//! stdout.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use dataplane::net::kernel::KernelBackend;
use dataplane::net::{Backend, ConnId, NetEvent};
use dataplane::switch::testkit::{cpim, ChatClient, Harness};
use dataplane::switch::{Participant, RateLimit, RoomPolicy, SwitchEvent};
use dataplane::wire::{ByteRange, Continuation, Event, Ident, Parser, RequestWriter};

/// Counts live heap bytes, for the per-member memory figure.
struct Counting;

static LIVE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

// SAFETY: forwards to the system allocator and only counts.
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: std::alloc::Layout) -> *mut u8 {
        LIVE.fetch_add(l.size(), std::sync::atomic::Ordering::Relaxed);
        std::alloc::System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: std::alloc::Layout) {
        LIVE.fetch_sub(l.size(), std::sync::atomic::Ordering::Relaxed);
        std::alloc::System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: std::alloc::Layout, n: usize) -> *mut u8 {
        LIVE.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        LIVE.fetch_sub(l.size(), std::sync::atomic::Ordering::Relaxed);
        std::alloc::System.realloc(p, l, n)
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn live_heap() -> usize {
    LIVE.load(std::sync::atomic::Ordering::Relaxed)
}

const ROOM: u64 = 7;
const ROOM_URI: &str = "sip:big@chat.example.com";

fn member_sid(i: usize) -> String {
    format!("m{i:05}x")
}

fn member_peer(i: usize) -> String {
    format!("msrp://member.invalid:9000/p{i:05};tcp")
}

fn member_uri(i: usize) -> String {
    format!("sip:m{i}@example.com")
}

fn sender_uri(k: usize) -> String {
    format!("sip:sender{k}@example.com")
}

/// Installs `n` members and `senders` senders; returns the senders' clients (connected and
/// bound).
fn populate(h: &Harness, n: usize, senders: usize) -> Vec<ChatClient> {
    for i in 0..n {
        let p = Participant::new(&format!("m{i}"), &[&member_uri(i)]);
        h.add_session(ROOM, &member_sid(i), &member_peer(i), &p, |_| {});
    }
    let mut out = Vec::new();
    for k in 0..senders {
        let p = Participant::new(&format!("sender{k}"), &[&sender_uri(k)]);
        let sid = format!("sender{k}x");
        let peer = format!("msrp://sender.invalid:9000/s{k};tcp");
        h.add_session(ROOM, &sid, &peer, &p, |_| {});
        h.sync();
        let mut c = ChatClient::connect(h.addr, &h.session_uri(&sid), &peer);
        assert_eq!(c.bind().code(), Some(200));
        out.push(c);
    }
    h.sync();
    out
}

fn rss_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = s
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// The descriptor limit, raised to the hard limit first (the member process inherits it).
fn open_files_limit() -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write the struct we pass.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
        if r.rlim_cur < r.rlim_max {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
        }
    }
    r.rlim_cur
}

/// Spawns this binary as the member process.
fn spawn_members(
    addr: SocketAddr,
    n: usize,
    expect: usize,
    senders: usize,
    stalled: Option<usize>,
) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "child_members",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SWITCH_CHILD", "1")
        .env("SWITCH_ADDR", addr.to_string())
        .env("SWITCH_N", n.to_string())
        .env("SWITCH_EXPECT", expect.to_string())
        .env("SWITCH_SENDERS", senders.to_string())
        .env(
            "SWITCH_STALLED",
            stalled.map_or(String::new(), |s| s.to_string()),
        )
        .env(
            "SWITCH_COUNT_ONLY",
            if std::env::var_os("SWITCH_MEASURE").is_some() {
                "1"
            } else {
                ""
            },
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn member process")
}

/// Reads child stdout lines until one starts with `prefix`.
fn wait_line(r: &mut impl BufRead, prefix: &str) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        let n = r.read_line(&mut line).expect("child output");
        assert!(n > 0, "member process ended before {prefix}");
        // libtest prints "test child_members ... " without a newline before the test runs.
        if let Some(at) = line.find(prefix) {
            return line[at..].trim().to_string();
        }
        if let Some(at) = line.find("FAIL") {
            panic!("member process: {}", line[at..].trim());
        }
    }
}

/// A 100-octet-payload message from sender `k`, number `n`.
fn payload(k: usize, n: usize) -> String {
    let tag = format!("s{k}-{n}-");
    format!("{tag}{}", "p".repeat(100 - tag.len()))
}

#[test]
fn members_spread_over_two_workers_get_everything_in_order() {
    let h = Harness::start(2);
    h.create_room(ROOM, ROOM_URI, RoomPolicy::default());
    let n = 24;
    let mut clients = populate(&h, n, 0);
    for i in 0..n {
        let mut c = ChatClient::connect(h.addr, &h.session_uri(&member_sid(i)), &member_peer(i));
        assert_eq!(c.bind().code(), Some(200));
        clients.push(c);
    }
    let mut workers = [0usize; 2];
    while let Ok(e) = h.events.try_recv() {
        if let SwitchEvent::SessionBound { worker, .. } = e {
            workers[worker] += 1;
        }
    }
    assert_eq!(workers[0] + workers[1], n);
    // The kernel spreads connections by hash; with 24 both workers practically always get some.
    assert!(workers[0] > 0 && workers[1] > 0, "{workers:?}");
    let per = 3;
    let threads: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, mut c)| {
            std::thread::spawn(move || {
                let uri = member_uri(i);
                let mut tids = Vec::new();
                for k in 0..per {
                    let body = cpim(&uri, ROOM_URI, "text/plain", format!("{i}:{k}").as_bytes());
                    tids.push(c.send_msg(&format!("m-{i}-{k}"), "message/cpim", &body, &[]));
                }
                // Private message to the next member.
                let next = member_uri((i + 1) % n);
                let body = cpim(&uri, &next, "text/plain", format!("{i}:private").as_bytes());
                tids.push(c.send_msg(&format!("m-{i}-p"), "message/cpim", &body, &[]));
                let mut next_from: HashMap<usize, usize> = HashMap::new();
                let mut private = None;
                let mut oks = 0;
                let want = (n - 1) * per;
                let mut got = 0;
                while got < want || oks < tids.len() || private.is_none() {
                    let f = c.frame();
                    if let Some(code) = f.code() {
                        assert_eq!(code, 200);
                        oks += 1;
                        continue;
                    }
                    let text = String::from_utf8_lossy(f.payload()).into_owned();
                    let (from, what) = text.split_once(':').unwrap();
                    let from: usize = from.parse().unwrap();
                    if what == "private" {
                        assert_eq!((from + 1) % n, i, "private message for somebody else");
                        assert!(private.replace(from).is_none(), "private message twice");
                        continue;
                    }
                    let k: usize = what.parse().unwrap();
                    let e = next_from.entry(from).or_default();
                    assert_eq!(k, *e, "member {i}: from {from} out of order or twice");
                    *e += 1;
                    got += 1;
                }
                assert!(!next_from.contains_key(&i), "own message came back");
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let s = h.stats();
    assert_eq!(s.messages, (n * (per + 1)) as u64);
    assert_eq!(s.deliveries, (n * per * (n - 1) + n) as u64);
}

/// The member process (runs only as the child of the tests below).
#[test]
fn child_members() {
    if std::env::var_os("SWITCH_CHILD").is_none() {
        return;
    }
    let env = |k: &str| std::env::var(k).unwrap_or_default();
    let addr: SocketAddr = env("SWITCH_ADDR").parse().unwrap();
    let n: usize = env("SWITCH_N").parse().unwrap();
    let expect: usize = env("SWITCH_EXPECT").parse().unwrap();
    let senders: usize = env("SWITCH_SENDERS").parse().unwrap();
    let stalled: Option<usize> = env("SWITCH_STALLED").parse().ok();
    if let Err(e) = run_members(addr, n, expect, senders, stalled) {
        println!("FAIL {e}");
        std::process::exit(1);
    }
}

struct MemberConn {
    idx: usize,
    parser: Parser,
    buf: BytesMut,
    bound: bool,
    next: Vec<usize>,
    got: usize,
    /// The frame being read (a frame may span reads): its status code (responses) and body.
    cur: Option<(Option<u16>, Vec<u8>)>,
}

fn binding_send(i: usize) -> BytesMut {
    let mut b = BytesMut::new();
    let tid = Ident::new(format!("bind{i:05}").as_bytes()).unwrap();
    let to = format!("msrp://{}/{};tcp", "127.0.0.1:PORT", member_sid(i));
    RequestWriter::new(
        &mut b,
        tid,
        "SEND",
        &[to.as_str()],
        &[member_peer(i).as_str()],
    )
    .message_id(format!("bindmsg{i:05}").as_bytes())
    .byte_range(ByteRange {
        start: 1,
        end: Some(0),
        total: Some(0),
    })
    .end(Continuation::Complete);
    b
}

fn run_members(
    addr: SocketAddr,
    n: usize,
    expect: usize,
    senders: usize,
    stalled: Option<usize>,
) -> Result<(), String> {
    let mut be = KernelBackend::new(4096).map_err(|e| e.to_string())?;
    let mut conns: HashMap<ConnId, MemberConn> = HashMap::new();
    let mut next_to_open = 0;
    let mut connecting = 0;
    let mut bound = 0;
    let mut done = 0;
    let mut deliveries = 0u64;
    let mut events = Vec::new();
    let mut stalled_sock = None;
    let active = n - usize::from(stalled.is_some());
    let count_only = std::env::var("SWITCH_COUNT_ONLY").is_ok_and(|v| !v.is_empty());
    let port = addr.port().to_string();
    let start = Instant::now();
    let mut bound_at = None;
    let mut reported = false;
    while done < active {
        if start.elapsed() > Duration::from_secs(120) {
            return Err(format!("timeout: bound {bound}, done {done} of {active}"));
        }
        // Open connections in waves so that the listen queues never overflow.
        while next_to_open < n && connecting < 512 {
            let i = next_to_open;
            next_to_open += 1;
            if Some(i) == stalled {
                // Tiny receive window, never read after binding.
                use socket2::{Domain, Socket, Type};
                let s = Socket::new(Domain::IPV4, Type::STREAM, None).map_err(|e| e.to_string())?;
                s.set_recv_buffer_size(4096).map_err(|e| e.to_string())?;
                s.connect(&addr.into()).map_err(|e| e.to_string())?;
                let mut s: std::net::TcpStream = s.into();
                let b = binding_send(i);
                let text = String::from_utf8_lossy(&b)
                    .replace("127.0.0.1:PORT", &format!("127.0.0.1:{port}"));
                s.write_all(text.as_bytes()).map_err(|e| e.to_string())?;
                let mut c = ChatClient::from_stream(s, "", "");
                if c.frame().code() != Some(200) {
                    return Err("stalled member not bound".into());
                }
                stalled_sock = Some(c);
                bound += 1;
                continue;
            }
            let id = be.connect(addr).map_err(|e| e.to_string())?;
            connecting += 1;
            conns.insert(
                id,
                MemberConn {
                    idx: i,
                    parser: Parser::default(),
                    buf: BytesMut::new(),
                    bound: false,
                    next: vec![0; senders],
                    got: 0,
                    cur: None,
                },
            );
        }
        if bound == n && !reported {
            reported = true;
            bound_at = Some(Instant::now());
            println!("BOUND {:.3}", start.elapsed().as_secs_f64());
            std::io::stdout().flush().ok();
        }
        events.clear();
        be.poll(&mut events, Some(Duration::from_millis(50)))
            .map_err(|e| e.to_string())?;
        for ev in events.drain(..) {
            match ev {
                NetEvent::Connected { conn, ok } => {
                    if !ok {
                        return Err("connect failed".into());
                    }
                    let Some(m) = conns.get(&conn) else { continue };
                    let b = binding_send(m.idx);
                    let text = String::from_utf8_lossy(&b)
                        .replace("127.0.0.1:PORT", &format!("127.0.0.1:{port}"));
                    let sent = be
                        .send(conn, &[std::io::IoSlice::new(text.as_bytes())])
                        .map_err(|e| e.to_string())?;
                    if sent != text.len() {
                        return Err("short write of a binding SEND".into());
                    }
                }
                NetEvent::Readable(conn) => {
                    while let Some(m) = conns.get_mut(&conn) {
                        match be.recv(conn, &mut m.buf, 64 * 1024) {
                            Ok(0) => return Err(format!("member {} closed by the switch", m.idx)),
                            Ok(_) => {}
                            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                            Err(e) => return Err(e.to_string()),
                        }
                        if count_only && m.bound {
                            // Measurements: frames are counted by their end-lines, not
                            // parsed, so that this process costs as little CPU as it can.
                            let ends = memchr::memmem::find_iter(&m.buf, b"-------").count();
                            let keep = m.buf.len().saturating_sub(6);
                            let _ = m.buf.split_to(keep);
                            m.got += ends;
                            deliveries += ends as u64;
                            if m.got >= expect && m.got - ends < expect {
                                done += 1;
                            }
                            continue;
                        }
                        loop {
                            match m.parser.poll(&mut m.buf) {
                                Ok(Some(Event::Head(h))) => {
                                    m.cur = Some((h.status_code(), Vec::new()))
                                }
                                Ok(Some(Event::Body(b))) => {
                                    if let Some((_, body)) = m.cur.as_mut() {
                                        body.extend_from_slice(&b);
                                    }
                                }
                                Ok(Some(Event::End { .. })) => match m.cur.take() {
                                    Some((Some(200), _)) if !m.bound => {
                                        m.bound = true;
                                        bound += 1;
                                        connecting -= 1;
                                    }
                                    Some((Some(code), _)) => {
                                        return Err(format!("member {}: response {code}", m.idx));
                                    }
                                    Some((None, body)) => {
                                        let text = String::from_utf8_lossy(&body);
                                        let Some(p) = text.split("\r\n\r\n").nth(2) else {
                                            return Err(format!("member {}: body {text:?}", m.idx));
                                        };
                                        let mut it = p.split('-');
                                        let k: usize = it
                                            .next()
                                            .and_then(|s| s.strip_prefix('s'))
                                            .and_then(|s| s.parse().ok())
                                            .ok_or_else(|| format!("bad payload {p:?}"))?;
                                        let num: usize = it
                                            .next()
                                            .and_then(|s| s.parse().ok())
                                            .ok_or_else(|| format!("bad payload {p:?}"))?;
                                        if k >= senders || m.next[k] != num {
                                            return Err(format!(
                                                "member {} got s{k}-{num}, expected s{k}-{}",
                                                m.idx,
                                                m.next.get(k).copied().unwrap_or(usize::MAX)
                                            ));
                                        }
                                        m.next[k] += 1;
                                        m.got += 1;
                                        deliveries += 1;
                                        if m.got == expect {
                                            done += 1;
                                        }
                                        if m.got > expect {
                                            return Err(format!("member {} got too much", m.idx));
                                        }
                                    }
                                    None => {}
                                },
                                Ok(None) => break,
                                Err(e) => return Err(format!("parse: {e:?}")),
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }
    let spent = bound_at.map_or(0.0, |t| t.elapsed().as_secs_f64());
    println!("OK {deliveries} {spent:.3}");
    std::io::stdout().flush().ok();
    // Keep the sockets (the stalled one too) until the parent says so.
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    drop(stalled_sock);
    Ok(())
}

#[test]
fn ten_thousand_members_each_get_every_message_once_in_order() {
    if std::env::var_os("SWITCH_CHILD").is_some() {
        return;
    }
    let n: usize = std::env::var("SWITCH_TEST_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let limit = open_files_limit();
    assert!(
        limit >= (n + 100) as u64,
        "need {} descriptors, have {limit}",
        n + 100
    );
    let h = Harness::start(2);
    h.create_room(
        ROOM,
        ROOM_URI,
        RoomPolicy {
            rate: RateLimit {
                per_second: 0.0,
                burst: 1,
            },
            ..RoomPolicy::default()
        },
    );
    let rss0 = rss_bytes();
    let heap0 = live_heap();
    let senders = 2;
    let mut snd = populate(&h, n, senders);
    while h.events.try_recv().is_ok() {}
    let heap_installed = live_heap();
    let stalled = n * 43 / 100;
    let per_sender = 20;
    let mut child = spawn_members(h.addr, n, per_sender * senders, senders, Some(stalled));
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let line = wait_line(&mut out, "BOUND");
    let s = h.stats();
    assert_eq!(s.bound, n + senders, "{line}");
    // The fake control plane's unread events are not switch state.
    while h.events.try_recv().is_ok() {}
    let rss_bound = rss_bytes();
    let heap_bound = live_heap();

    // Stall the stalled member: private messages it never reads pile up past its high-water
    // mark, so the regular messages below skip it.
    let big = "b".repeat(60 * 1024);
    let s0 = sender_uri(0);
    for j in 0..100 {
        assert_eq!(
            snd[0].say(&format!("m-flood-{j}"), &s0, &member_uri(stalled), &big),
            200
        );
    }
    // Two senders, interleaved, pipelined.
    let t0 = Instant::now();
    let mut tids = Vec::new();
    for n_ in 0..per_sender {
        for (k, c) in snd.iter_mut().enumerate() {
            let body = cpim(
                &sender_uri(k),
                ROOM_URI,
                "text/plain",
                payload(k, n_).as_bytes(),
            );
            tids.push((
                k,
                c.send_msg(&format!("m-{k}-{n_}"), "message/cpim", &body, &[]),
            ));
        }
    }
    for (k, t) in tids {
        assert_eq!(snd[k].response_to(&t), 200);
    }
    let line = wait_line(&mut out, "OK");
    let elapsed = t0.elapsed();
    let rss_after = rss_bytes();
    let heap_after = live_heap();
    let s = h.stats();
    let _ = writeln!(child.stdin.as_mut().unwrap(), "bye");
    let status = child.wait().unwrap();
    assert!(status.success());
    let delivered: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert_eq!(delivered, ((n - 1) * per_sender * senders) as u64);
    assert!(
        s.congestion_skips >= 1,
        "the stalled member was skipped: {s:?}"
    );
    let per = |a: usize, b: usize| a.saturating_sub(b) as f64 / n as f64;
    println!(
        "installed sessions: {:.0} B per member (spec + rosters on {} workers)",
        per(heap_installed, heap0),
        h.workers()
    );
    println!(
        "{n}-member room: {} deliveries in {:.3}s ({:.0}/s, one member stalled); per member: \
         heap {:.0} B after binding, {:.0} B after the messages; RSS {:.0} B / {:.0} B",
        delivered,
        elapsed.as_secs_f64(),
        delivered as f64 / elapsed.as_secs_f64(),
        per(heap_bound, heap0),
        per(heap_after, heap0),
        per(rss_bound as usize, rss0 as usize),
        per(rss_after as usize, rss0 as usize),
    );
    let _ = Arc::new(());
    h.shutdown();
}

/// The "limit" service: the same frames to the same sockets with no MSRP work. Every
/// connection's first end-line is its binding (answered with a canned 200); each later one
/// from any connection is a message, answered by writing the next pre-rendered frame to every
/// other bound connection.
struct Limit {
    frames: Vec<bytes::Bytes>,
    bound: Vec<ConnId>,
    seen: HashMap<ConnId, bool>,
    carry: HashMap<ConnId, Vec<u8>>,
    next: usize,
}

impl dataplane::worker::Service for Limit {
    type Control = ();
    type Peer = ();
    fn on_accept<B: Backend>(
        &mut self,
        _io: &mut dataplane::worker::Io<B>,
        conn: ConnId,
        _l: dataplane::net::ListenerId,
        _p: SocketAddr,
    ) {
        self.seen.insert(conn, false);
    }
    fn on_connected<B: Backend>(&mut self, _: &mut dataplane::worker::Io<B>, _: ConnId, _: bool) {}
    fn on_data<B: Backend>(
        &mut self,
        io: &mut dataplane::worker::Io<B>,
        conn: ConnId,
        buf: &mut BytesMut,
    ) {
        // End-lines may straddle reads: scan with the previous read's last 6 bytes.
        let carry = self.carry.entry(conn).or_default();
        carry.extend_from_slice(&buf.split());
        let ends = memchr::memmem::find_iter(carry, b"-------").count();
        let keep = carry.len().saturating_sub(6);
        // A 7-byte marker cannot fit in the 6 kept bytes: nothing is counted twice.
        carry.drain(..keep);
        for _ in 0..ends {
            let bound = self.seen.get_mut(&conn).unwrap();
            if !*bound {
                *bound = true;
                self.bound.push(conn);
                io.send(
                    conn,
                    bytes::Bytes::from_static(
                        b"MSRP ok00 200 OK\r\nTo-Path: msrp://a.invalid:1/a;tcp\r\nFrom-Path: msrp://b.invalid:1/b;tcp\r\n-------ok00$\r\n",
                    ),
                );
                continue;
            }
            let Some(f) = self.frames.get(self.next).cloned() else {
                continue;
            };
            self.next += 1;
            for &c in &self.bound {
                if c != conn {
                    io.send(c, f.clone());
                }
            }
        }
    }
    fn on_closed<B: Backend>(
        &mut self,
        _: &mut dataplane::worker::Io<B>,
        conn: ConnId,
        _: dataplane::worker::CloseCause,
    ) {
        self.bound.retain(|&c| c != conn);
    }
    fn on_control<B: Backend>(&mut self, _: &mut dataplane::worker::Io<B>, _: ()) {}
    fn on_peer<B: Backend>(&mut self, _: &mut dataplane::worker::Io<B>, _: ()) {}
    fn on_tick<B: Backend>(&mut self, _: &mut dataplane::worker::Io<B>) -> Option<Instant> {
        None
    }
}

/// The frames a member of the switch gets for sender 0's message `n` (for the limit run).
fn member_frame(n: usize, port: u16) -> bytes::Bytes {
    let body = cpim(
        &sender_uri(0),
        ROOM_URI,
        "text/plain",
        payload(0, n).as_bytes(),
    );
    let mut b = BytesMut::new();
    let tid = Ident::new(format!("AbCdEfGhIjK0{n:06}0001").as_bytes()).unwrap();
    let from = format!("msrp://127.0.0.1:{port}/{};tcp", member_sid(0));
    RequestWriter::new(
        &mut b,
        tid,
        "SEND",
        &[member_peer(0).as_str()],
        &[from.as_str()],
    )
    .message_id(format!("m-0-{n}").as_bytes())
    .byte_range(ByteRange {
        start: 1,
        end: Some(body.len() as u64),
        total: Some(body.len() as u64),
    })
    .failure_report(dataplane::wire::FailureReport::Partial)
    .content_type(b"message/cpim")
    .body(&body, Continuation::Complete);
    b.freeze()
}

/// The sender's K messages, pre-rendered (Failure-Report: no: nothing comes back).
fn sender_batch(to: &str, k: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for n in 0..k {
        let body = cpim(
            &sender_uri(0),
            ROOM_URI,
            "text/plain",
            payload(0, n).as_bytes(),
        );
        let mut b = BytesMut::new();
        let tid = Ident::new(format!("snd{n:08}").as_bytes()).unwrap();
        RequestWriter::new(
            &mut b,
            tid,
            "SEND",
            &[to],
            &["msrp://sender.invalid:9000/s0;tcp"],
        )
        .message_id(format!("m-0-{n}").as_bytes())
        .byte_range(ByteRange {
            start: 1,
            end: Some(body.len() as u64),
            total: Some(body.len() as u64),
        })
        .failure_report(dataplane::wire::FailureReport::No)
        .content_type(b"message/cpim")
        .body(&body, Continuation::Complete);
        out.extend_from_slice(&b);
    }
    out
}

/// Runs the member process against `addr`, sends `k` messages from one sender connection
/// (bound with `bind_to`), and returns (deliveries, seconds from first send to last delivery).
fn timed_run(addr: SocketAddr, m: usize, k: usize, bind_to: &str) -> Run {
    let mut child = spawn_members(addr, m, k, 1, None);
    let mut out = BufReader::new(child.stdout.take().unwrap());
    wait_line(&mut out, "BOUND");
    let heap = live_heap();
    let mut s = ChatClient::connect(addr, bind_to, "msrp://sender.invalid:9000/s0;tcp");
    assert_eq!(s.bind().code(), Some(200));
    let batch = sender_batch(bind_to, k);
    let cpu0 = worker_cpu();
    let t0 = Instant::now();
    s.write(&batch);
    let line = wait_line(&mut out, "OK");
    let secs = t0.elapsed().as_secs_f64();
    let cpu = worker_cpu() - cpu0;
    let _ = writeln!(child.stdin.as_mut().unwrap(), "bye");
    assert!(child.wait().unwrap().success());
    let delivered: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(delivered >= (m * k) as u64, "{delivered} < {}", m * k);
    Run {
        deliveries: (m * k) as u64,
        secs,
        cpu,
        heap,
    }
}

/// What one timed run measured.
struct Run {
    deliveries: u64,
    secs: f64,
    /// CPU seconds of the worker thread.
    cpu: f64,
    /// Live heap when every member was bound.
    heap: usize,
}

impl Run {
    fn rate(&self) -> f64 {
        self.deliveries as f64 / self.secs
    }
    fn cpu_ns(&self) -> f64 {
        self.cpu * 1e9 / self.deliveries as f64
    }
}

/// CPU seconds (user + system) of the thread named `dp-worker-0` in this process.
fn worker_cpu() -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    for t in dir.flatten() {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        if comm.trim() != "dp-worker-0" {
            continue;
        }
        let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
        // After the ")" ending the command name, utime and stime are the 12th and 13th fields.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        return (ticks(11) + ticks(12)) / hz.max(1.0);
    }
    0.0
}

/// Prints fan-out figures on one worker (a measurement: it asserts nothing about them, so it
/// only runs when asked): `SWITCH_FIGURES=1 cargo test -p e2e --profile ci --test
/// switch_scale fanout_figures -- --nocapture`. `msrp-bench fanout` is the full benchmark.
#[test]
fn fanout_figures() {
    if std::env::var_os("SWITCH_CHILD").is_some() {
        return;
    }
    if std::env::var_os("SWITCH_FIGURES").is_none() {
        eprintln!("SKIPPED fanout_figures: a measurement; set SWITCH_FIGURES=1 to run it");
        return;
    }
    // SAFETY: set before any member process is spawned (the children only read it).
    unsafe { std::env::set_var("SWITCH_MEASURE", "1") };
    assert!(
        open_files_limit() >= 10_100,
        "10 000 members need 10 000 descriptors"
    );
    let only: Option<usize> = std::env::var("SWITCH_FIG_ONLY")
        .ok()
        .and_then(|v| v.parse().ok());
    let scale: usize = std::env::var("SWITCH_FIG_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    for (m, k) in [(10usize, 20_000usize), (1_000, 400), (10_000, 40)] {
        let k = k * scale;
        if only.is_some_and(|o| o != m) {
            continue;
        }
        // The switch.
        let h = Harness::start(1);
        // Saturation: no rate limit, and queues may grow (the member process drains them).
        h.create_room(
            ROOM,
            ROOM_URI,
            RoomPolicy {
                rate: RateLimit {
                    per_second: 0.0,
                    burst: 1,
                },
                congestion_high_water: 1 << 30,
                ..RoomPolicy::default()
            },
        );
        let heap0 = live_heap();
        populate(&h, m, 1);
        while h.events.try_recv().is_ok() {}
        let sender_sid = "sender0x";
        // `populate` bound the sender with a testkit client; drop that binding by using a
        // second sender session for the timed run.
        let p = Participant::new("sender0", &[&sender_uri(0)]);
        h.add_session(
            ROOM,
            "timedsender",
            "msrp://sender.invalid:9000/s0;tcp",
            &p,
            |_| {},
        );
        h.sync();
        let _ = sender_sid;
        let sw = timed_run(h.addr, m, k, &h.session_uri("timedsender"));
        let heap = sw.heap.saturating_sub(heap0) as f64 / m as f64;
        h.shutdown();

        if std::env::var_os("SWITCH_FIG_NOLIMIT").is_some() {
            println!(
                "fan-out, 1 worker, {m:>5} members x {k:>5} messages: switch {:>8.0} deliveries/s \
                 ({:>4.0} ns worker CPU each)",
                sw.rate(),
                sw.cpu_ns()
            );
            continue;
        }
        // The limit: the same frames, no MSRP work.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let frames: Vec<bytes::Bytes> = (0..k).map(|n| member_frame(n, port)).collect();
        let mut rt: dataplane::runtime::Runtime<(), ()> = dataplane::runtime::Runtime::start(
            &dataplane::runtime::RuntimeConfig::default(),
            &[SocketAddr::from(([127, 0, 0, 1], port))],
            |_| KernelBackend::new(1024),
            move |_| Limit {
                frames: frames.clone(),
                bound: Vec::new(),
                seen: HashMap::new(),
                carry: HashMap::new(),
                next: 0,
            },
        )
        .unwrap();
        let lim = timed_run(rt.listen_addrs()[0], m, k, "msrp://127.0.0.1:1/x;tcp");
        let _ = rt.shutdown();
        println!(
            "fan-out, 1 worker, {m:>5} members x {k:>5} messages of 100 B: switch {:>8.0} deliveries/s \
             ({:>4.0} ns worker CPU each), limit {:>8.0}/s ({:>4.0} ns), ratio {:.2} ({:.2} by CPU); \
             heap per member {heap:.0} B",
            sw.rate(),
            sw.cpu_ns(),
            lim.rate(),
            lim.cpu_ns(),
            sw.rate() / lim.rate(),
            lim.cpu_ns() / sw.cpu_ns().max(1.0),
        );
    }
}
