//! `fanout` scenario: one chat room of M members and K senders on the chat switch; deliveries
//! per second, latency from send to each delivery and to the last delivery of a message,
//! congestion skips, and the ratio to the physical limit of the kernel path (`limit`, same
//! member count and frame size, same cores) measured in the same invocation.
//!
//! **How members join.** Joining by SIP INVITE (the focus, merged late in this work) is not
//! wired into this scenario yet, so the room and its sessions are
//! installed the way the control plane will install them after an INVITE: straight over the
//! switch's control rings (`dataplane::switch::testkit::Harness`, an in-process relay +
//! switch with one worker pinned to the target core). Every member then binds its session
//! over its own TCP connection with a bodiless SEND (RFC 4975 §5.4), as a real client does
//! after the SDP answer. The JSON says so (`config.members_joined_by`).
//!
//! The members live in a child process (`msrp-bench fanout-members`: M connections plus
//! msrpd's M exceed the 20 000 descriptors of one process at M = 10 000) driven by one epoll
//! loop that counts deliveries by the stamp each payload carries (`STAMP<ns>#<k>:<seq>.`,
//! the CLOCK_MONOTONIC send time, shared by both processes) without parsing MSRP, so that the
//! members cost as little CPU as possible. The K senders run in this process, closed loop with
//! `--window` messages awaiting their 200 per sender.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, IoSlice, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use dataplane::net::kernel::KernelBackend;
use dataplane::net::{Backend, ConnId, NetEvent};
use dataplane::switch::testkit::{cpim, Harness};
use dataplane::switch::{Participant, RateLimit, RoomPolicy, SwitchConfig};
use dataplane::wire::{ByteRange, Continuation, Event, Ident, Parser, RequestWriter};
use serde_json::{json, Value};

use super::limit::{self, LimitOpts};
use crate::latency::Latency;
use crate::report::{human_rate, ratio, Report};
use crate::sys;
use crate::targets::Pinning;
use crate::CommonArgs;

const ROOM: u64 = 1;
const ROOM_URI: &str = "sip:bench-room@bench.invalid";

/// `msrp-bench fanout`
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Members of the room (receivers).
    #[arg(long, default_value_t = 100)]
    pub members: usize,
    /// Senders (members too, but not counted as receivers).
    #[arg(long, default_value_t = 1)]
    pub senders: usize,
    /// Payload bytes of each message (inside the CPIM wrapper).
    #[arg(long, default_value_t = 100)]
    pub size: usize,
    /// Messages awaiting their 200 per sender.
    #[arg(long, default_value_t = 4)]
    pub window: usize,
    /// Sending time (s).
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
    /// Congestion high-water mark per recipient connection (bytes).
    #[arg(long, default_value_t = 256 * 1024)]
    pub high_water: usize,
    /// Skip the `limit` run.
    #[arg(long)]
    pub no_limit: bool,
    /// Batch sizes of the `limit` run.
    #[arg(long, default_value = "1,8")]
    pub limit_batch: String,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// `msrp-bench fanout-members` (the child process).
#[derive(clap::Args, Debug, Clone)]
pub struct MembersArgs {
    /// The switch's MSRP address.
    #[arg(long)]
    pub addr: SocketAddr,
    /// Members.
    #[arg(long)]
    pub members: usize,
    /// Core to pin to.
    #[arg(long)]
    pub core: Option<usize>,
}

/// CLOCK_MONOTONIC in nanoseconds (the same clock in every process of the machine).
pub fn mono_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the struct we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn member_sid(i: usize) -> String {
    format!("m{i:05}x")
}

fn member_peer(i: usize) -> String {
    format!("msrp://member.invalid:9000/p{i:05};tcp")
}

fn sender_sid(k: usize) -> String {
    format!("s{k:03}x")
}

fn sender_peer(k: usize) -> String {
    format!("msrp://sender.invalid:9000/s{k:03};tcp")
}

fn sender_uri(k: usize) -> String {
    format!("sip:sender{k}@bench.invalid")
}

fn session_uri(port: u16, sid: &str) -> String {
    format!("msrp://127.0.0.1:{port}/{sid};tcp")
}

/// The bodiless SEND that binds a session to the connection it arrives on.
fn binding_send(to: &str, from: &str, tag: &str) -> BytesMut {
    let mut b = BytesMut::new();
    let tid = Ident::new(format!("bind{tag}").as_bytes()).expect("valid transaction id");
    RequestWriter::new(&mut b, tid, "SEND", &[to], &[from])
        .message_id(format!("bindmsg{tag}").as_bytes())
        .byte_range(ByteRange {
            start: 1,
            end: Some(0),
            total: Some(0),
        })
        .end(Continuation::Complete);
    b
}

/// The payload: the stamp, then filler up to `size` bytes.
fn payload(k: usize, seq: u64, size: usize) -> Vec<u8> {
    let mut p = format!("STAMP{:020}#{k}:{seq}.", mono_ns()).into_bytes();
    while p.len() < size {
        p.push(b'f');
    }
    p
}

/// Pins the threads of this process whose name starts with `prefix` to `core`.
fn pin_threads(prefix: &str, core: usize) -> usize {
    let mut n = 0;
    let Ok(rd) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    for e in rd.flatten() {
        let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        if !comm.trim().starts_with(prefix) {
            continue;
        }
        let Some(tid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        // SAFETY: sched_setaffinity on a thread of this process with a zero-initialised set.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(core, &mut set);
            if libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0 {
                n += 1;
            }
        }
    }
    n
}

/// What the member process reports.
#[derive(Debug, Default)]
struct MembersResult {
    deliveries: u64,
    bytes: u64,
    last_ns: u64,
    per_delivery: Value,
    last_delivery: Value,
    complete: u64,
    incomplete: u64,
}

/// Entry point of `msrp-bench fanout`.
pub fn main(args: &Args) -> i32 {
    run(args).emit()
}

/// Runs the scenario and returns its report.
pub fn run(args: &Args) -> Report {
    sys::raise_nofile();
    let mut r = Report::new("fanout");
    let pin = if args.common.no_pin {
        Pinning::none()
    } else {
        Pinning::auto()
    };
    let m = args.members.max(1);
    let k_senders = args.senders.max(1);
    let h = Harness::start_with(1, SwitchConfig::default());
    let worker_pinned = pin.target.first().map(|&c| pin_threads("dp-worker", c) > 0);
    let port = h.addr.port();
    h.create_room(
        ROOM,
        ROOM_URI,
        RoomPolicy {
            rate: RateLimit {
                per_second: 0.0,
                burst: 1,
            },
            congestion_high_water: args.high_water,
            ..RoomPolicy::default()
        },
    );
    for i in 0..m {
        let p = Participant::new(&format!("m{i}"), &[&format!("sip:m{i}@bench.invalid")]);
        h.add_session(ROOM, &member_sid(i), &member_peer(i), &p, |_| {});
    }
    for k in 0..k_senders {
        let p = Participant::new(&format!("sender{k}"), &[&sender_uri(k)]);
        h.add_session(ROOM, &sender_sid(k), &sender_peer(k), &p, |_| {});
    }
    h.sync();

    // The members: a child process, or a thread for small rooms (and for tests, whose
    // executable is not msrp-bench).
    let members = match Members::start(h.addr, m, pin.generator) {
        Ok(x) => x,
        Err(e) => {
            r.errors.push(format!("member process: {e}"));
            return r;
        }
    };
    let members_in_thread = members.child.is_none();
    let t_join = Instant::now();
    let bound_line = members.line("BOUND");
    let join_s = t_join.elapsed().as_secs_f64();
    if let Err(e) = bound_line {
        r.errors.push(format!("members: {e}"));
        return r;
    }

    // The senders, on the generator core.
    if let Some(c) = pin.generator {
        sys::pin_current_thread(c);
    }
    let stats0 = h.stats();
    let worker_cpu0 = sys::own_threads_cpu("dp-worker").0;
    let send = send_load(h.addr, port, k_senders, args);
    let worker_cpu = sys::own_threads_cpu("dp-worker").0.since(&worker_cpu0);
    members.say(&format!("END {}", send.sent));
    let result = members.line("RESULT").and_then(|l| parse_result(&l));
    members.finish();
    let stats = h.stats();
    h.shutdown();
    let res = match result {
        Ok(v) => v,
        Err(e) => {
            r.errors.push(format!("members: {e}"));
            MembersResult::default()
        }
    };
    r.errors.extend(send.errors.iter().cloned());
    let skips = stats.congestion_skips - stats0.congestion_skips;
    let expected = send.sent * m as u64;
    if res.deliveries + skips < expected {
        r.errors.push(format!(
            "{} deliveries + {skips} congestion skips < {expected} ({} messages x {m} members)",
            res.deliveries, send.sent
        ));
    }
    if res.deliveries > expected {
        r.errors.push(format!(
            "{} deliveries > {expected}: duplicates",
            res.deliveries
        ));
    }
    let secs = (res.last_ns.saturating_sub(send.first_ns)) as f64 / 1e9;
    let rate = if secs > 0.0 {
        res.deliveries as f64 / secs
    } else {
        0.0
    };
    let body_len = cpim(
        &sender_uri(0),
        ROOM_URI,
        "text/plain",
        &payload(0, 0, args.size),
    )
    .len();
    let per_delivery_bytes = res.bytes.checked_div(res.deliveries.max(1)).unwrap_or(0) as usize;
    let head_bytes = per_delivery_bytes.saturating_sub(body_len);

    // The limit: same member count, same frame sizes, same cores.
    let mut limit_runs = Vec::new();
    if !args.no_limit {
        let base = LimitOpts {
            connections: m,
            head_bytes: head_bytes.max(16),
            body_bytes: body_len,
            batch: 1,
            duration: Duration::from_secs_f64(args.duration.clamp(1.0, 10.0)),
            max_frames: None,
            inject_phantom: 0,
        };
        let (runs, errs) = limit::measure(&base, &limit::batches(&args.limit_batch), &pin);
        r.errors
            .extend(errs.into_iter().map(|e| format!("limit: {e}")));
        limit_runs = runs;
    }
    let best_limit = limit_runs
        .iter()
        .filter_map(|v| v["frames_per_s"].as_f64())
        .fold(None, |a: Option<f64>, v| Some(a.map_or(v, |a| a.max(v))));
    let worker_us = worker_cpu.total_us() / res.deliveries.max(1) as f64;

    r.config = json!({
        "members": m,
        "senders": k_senders,
        "payload_bytes": args.size,
        "cpim_body_bytes": body_len,
        "window_per_sender": args.window,
        "duration_s": args.duration,
        "congestion_high_water": args.high_water,
        "rate_limit": "off",
        "senders_receive": "senders are room members too and get each other's messages (not counted as deliveries)",
        "switch": "in-process relay + chat switch, 1 worker (dataplane::switch::testkit::Harness)",
        "members_joined_by": "switch control rings (AddSession), then a binding SEND per member over TCP; joining by SIP INVITE is not wired into this scenario yet",
        "members_process": if members_in_thread { "a thread of msrp-bench, one epoll loop, deliveries counted by payload stamps" } else { "child process, one epoll loop, deliveries counted by payload stamps" },
        "pinning": {"switch_worker_core": pin.target.first(), "generator_and_members_core": pin.generator, "worker_pinned": worker_pinned},
    });
    r.results = json!({
        "deliveries": res.deliveries,
        "deliveries_per_s": rate,
        "messages_sent": send.sent,
        "messages_per_s": send.sent as f64 / args.duration.max(1e-9),
        "ok_200": send.ok,
        "refused": send.refused,
        "congestion_skips": skips,
        "congestion_notices": stats.notices - stats0.notices,
        "recipient_errors": stats.recipient_errors - stats0.recipient_errors,
        "switch_deliveries_counter": stats.deliveries - stats0.deliveries,
        "seconds_first_send_to_last_delivery": secs,
        "latency_per_delivery": res.per_delivery,
        "latency_send_to_last_delivery": res.last_delivery,
        "messages_complete": res.complete,
        "messages_incomplete": res.incomplete,
        "bytes_per_delivery": per_delivery_bytes,
        "join_s": join_s,
        "limit": limit_runs,
        "limit_best_frames_per_s": best_limit,
        "ratio_to_limit": ratio(Some(rate), best_limit),
    });
    r.cpu = json!({
        "switch_worker_us_per_delivery": worker_us,
        "switch_worker_core_share": worker_cpu.total_us() / 1e6 / secs.max(1e-9),
    });
    r.summary = format!(
        "fanout M={m} K={k_senders} {} B: {} deliveries/s ({:.2} of the limit {}), p50 {} p99 {} µs per delivery, last delivery p99 {} µs, {skips} congestion skips, worker {worker_us:.2} µs/delivery",
        args.size,
        human_rate(rate).trim_end_matches("/s"),
        ratio(Some(rate), best_limit).unwrap_or(0.0),
        best_limit.map_or("?".into(), |v| human_rate(v).trim_end_matches("/s").to_string()),
        res.per_delivery["p50_us"],
        res.per_delivery["p99_us"],
        res.last_delivery["p99_us"],
    );
    r
}

/// The member side, in a child process or a thread: lines out (`BOUND`, `RESULT`, `FAIL`),
/// commands in (`END <n>`, `BYE`).
struct Members {
    lines: Receiver<String>,
    cmds: Sender<String>,
    child: Option<Child>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Rooms up to this size keep their members in a thread of this process (two descriptors per
/// member here, one in the switch and one in the member).
const MEMBERS_IN_PROCESS: usize = 2000;

impl Members {
    fn start(addr: SocketAddr, m: usize, core: Option<usize>) -> Result<Members, String> {
        let (line_tx, lines) = channel::<String>();
        let (cmds, cmd_rx) = channel::<String>();
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let is_bench = exe
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("msrp-bench"));
        if m <= MEMBERS_IN_PROCESS || !is_bench {
            let a = MembersArgs {
                addr,
                members: m,
                core,
            };
            let thread = std::thread::Builder::new()
                .name("fanout-members".into())
                .spawn(move || {
                    let out = line_tx.clone();
                    let say = move |l: String| {
                        let _ = out.send(l);
                    };
                    if let Err(e) = members(&a, &cmd_rx, &say) {
                        let _ = line_tx.send(format!("FAIL {e}"));
                    }
                })
                .map_err(|e| e.to_string())?;
            return Ok(Members {
                lines,
                cmds,
                child: None,
                thread: Some(thread),
            });
        }
        let mut cmd = Command::new(exe);
        cmd.args([
            "fanout-members",
            "--addr",
            &addr.to_string(),
            "--members",
            &m.to_string(),
        ]);
        if let Some(c) = core {
            cmd.args(["--core", &c.to_string()]);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| e.to_string())?;
        let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err("member process pipes".into());
        };
        std::thread::spawn(move || {
            for l in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line_tx.send(l).is_err() {
                    break;
                }
            }
        });
        std::thread::spawn(move || {
            for c in cmd_rx {
                if writeln!(stdin, "{c}").is_err() {
                    break;
                }
            }
        });
        Ok(Members {
            lines,
            cmds,
            child: Some(child),
            thread: None,
        })
    }

    /// The next line starting with `prefix` (a `FAIL` line is an error).
    fn line(&self, prefix: &str) -> Result<String, String> {
        loop {
            let l = self
                .lines
                .recv_timeout(Duration::from_secs(180))
                .map_err(|_| format!("members ended or hung before {prefix}"))?;
            if let Some(rest) = l.trim().strip_prefix("FAIL ") {
                return Err(rest.to_string());
            }
            if l.starts_with(prefix) {
                return Ok(l.trim().to_string());
            }
        }
    }

    fn say(&self, c: &str) {
        let _ = self.cmds.send(c.to_string());
    }

    fn finish(mut self) {
        self.say("BYE");
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.wait();
        }
    }
}

impl Drop for Members {
    fn drop(&mut self) {
        let _ = self.cmds.send("BYE".into());
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn parse_result(line: &str) -> Result<MembersResult, String> {
    let v: Value = serde_json::from_str(line.trim_start_matches("RESULT").trim())
        .map_err(|e| format!("bad RESULT line: {e}"))?;
    let n = |k: &str| v[k].as_u64().unwrap_or(0);
    Ok(MembersResult {
        deliveries: n("deliveries"),
        bytes: n("bytes"),
        last_ns: n("last_ns"),
        per_delivery: v["per_delivery"].clone(),
        last_delivery: v["last_delivery"].clone(),
        complete: n("complete"),
        incomplete: n("incomplete"),
    })
}

/// What the senders did.
struct SendOutcome {
    sent: u64,
    ok: u64,
    refused: u64,
    first_ns: u64,
    errors: Vec<String>,
}

struct SenderConn {
    k: usize,
    conn: ConnId,
    buf: BytesMut,
    parser: Parser,
    bound: bool,
    inflight: usize,
    seq: u64,
    out: BytesMut,
}

/// K sender sessions, closed loop: bind, then keep `window` SENDs awaiting their 200 each.
fn send_load(addr: SocketAddr, port: u16, k: usize, args: &Args) -> SendOutcome {
    let mut out = SendOutcome {
        sent: 0,
        ok: 0,
        refused: 0,
        first_ns: 0,
        errors: Vec::new(),
    };
    let mut be = match KernelBackend::new(256) {
        Ok(b) => b,
        Err(e) => {
            out.errors.push(e.to_string());
            return out;
        }
    };
    let mut senders: HashMap<ConnId, SenderConn> = HashMap::new();
    for i in 0..k {
        match be.connect(addr) {
            Ok(c) => {
                senders.insert(
                    c,
                    SenderConn {
                        k: i,
                        conn: c,
                        buf: BytesMut::new(),
                        parser: Parser::default(),
                        bound: false,
                        inflight: 0,
                        seq: 0,
                        out: BytesMut::new(),
                    },
                );
            }
            Err(e) => {
                out.errors.push(format!("sender connect: {e}"));
                return out;
            }
        }
    }
    let mut events = Vec::new();
    let mut bound = 0;
    let setup = Instant::now();
    let mut start: Option<Instant> = None;
    let duration = Duration::from_secs_f64(args.duration.max(0.05));
    let mut stopping_since: Option<Instant> = None;
    loop {
        let now = Instant::now();
        if start.is_none() && setup.elapsed() > Duration::from_secs(20) {
            out.errors.push("senders not bound within 20 s".into());
            return out;
        }
        let sending = start.is_some_and(|s| now.duration_since(s) < duration);
        if start.is_some() && !sending && stopping_since.is_none() {
            stopping_since = Some(now);
        }
        if let Some(t) = stopping_since {
            let inflight: usize = senders.values().map(|s| s.inflight).sum();
            if inflight == 0 {
                break;
            }
            if t.elapsed() > Duration::from_secs(10) {
                out.errors
                    .push(format!("{inflight} SENDs never answered within 10 s"));
                break;
            }
        }
        if sending {
            for s in senders.values_mut() {
                while s.inflight < args.window.max(1) {
                    let body = cpim(
                        &sender_uri(s.k),
                        ROOM_URI,
                        "text/plain",
                        &payload(s.k, s.seq, args.size),
                    );
                    let to = session_uri(port, &sender_sid(s.k));
                    let from = sender_peer(s.k);
                    let tid = Ident::new(format!("k{}n{:010}", s.k, s.seq).as_bytes())
                        .expect("valid transaction id");
                    RequestWriter::new(&mut s.out, tid, "SEND", &[to.as_str()], &[from.as_str()])
                        .message_id(format!("m{}-{}", s.k, s.seq).as_bytes())
                        .byte_range(ByteRange {
                            start: 1,
                            end: Some(body.len() as u64),
                            total: Some(body.len() as u64),
                        })
                        .content_type(b"message/cpim")
                        .body(&body, Continuation::Complete);
                    if out.first_ns == 0 {
                        out.first_ns = mono_ns();
                    }
                    s.seq += 1;
                    s.inflight += 1;
                    out.sent += 1;
                }
            }
        }
        for s in senders.values_mut() {
            flush(&mut be, s, &mut out.errors);
        }
        events.clear();
        let timeout = if sending || stopping_since.is_some() {
            Duration::from_millis(1)
        } else {
            Duration::from_millis(20)
        };
        if let Err(e) = be.poll(&mut events, Some(timeout)) {
            out.errors.push(e.to_string());
            return out;
        }
        for ev in events.drain(..) {
            match ev {
                NetEvent::Connected { conn, ok } => {
                    let Some(s) = senders.get_mut(&conn) else {
                        continue;
                    };
                    if !ok {
                        out.errors.push("sender connect failed".into());
                        return out;
                    }
                    let b = binding_send(
                        &session_uri(port, &sender_sid(s.k)),
                        &sender_peer(s.k),
                        &format!("s{:05}", s.k),
                    );
                    s.out.extend_from_slice(&b);
                    flush(&mut be, s, &mut out.errors);
                }
                NetEvent::Readable(conn) => {
                    let Some(s) = senders.get_mut(&conn) else {
                        continue;
                    };
                    loop {
                        match be.recv(conn, &mut s.buf, 64 * 1024) {
                            Ok(0) => {
                                out.errors.push("the switch closed a sender".into());
                                return out;
                            }
                            Ok(_) => {}
                            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                            Err(e) => {
                                out.errors.push(e.to_string());
                                return out;
                            }
                        }
                    }
                    loop {
                        match s.parser.poll(&mut s.buf) {
                            Ok(Some(Event::Head(head))) => match head.status_code() {
                                Some(200) if !s.bound => {
                                    s.bound = true;
                                    bound += 1;
                                    if bound == k {
                                        start = Some(Instant::now());
                                    }
                                }
                                Some(200) => {
                                    out.ok += 1;
                                    s.inflight = s.inflight.saturating_sub(1);
                                }
                                Some(code) => {
                                    if !s.bound {
                                        out.errors.push(format!("sender binding refused: {code}"));
                                        return out;
                                    }
                                    out.refused += 1;
                                    s.inflight = s.inflight.saturating_sub(1);
                                }
                                None => {}
                            },
                            Ok(Some(_)) => {}
                            Ok(None) => break,
                            Err(e) => {
                                out.errors.push(format!("sender parse: {e:?}"));
                                return out;
                            }
                        }
                    }
                }
                NetEvent::Writable(conn) => {
                    if let Some(s) = senders.get_mut(&conn) {
                        flush(&mut be, s, &mut out.errors);
                    }
                }
                _ => {}
            }
        }
    }
    if out.refused > 0 {
        out.errors
            .push(format!("{} SENDs refused by the switch", out.refused));
    }
    out
}

fn flush(be: &mut KernelBackend, s: &mut SenderConn, errors: &mut Vec<String>) {
    while !s.out.is_empty() {
        match be.send(s.conn, &[IoSlice::new(&s.out)]) {
            Ok(0) => break,
            Ok(n) => {
                let _ = s.out.split_to(n);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => {
                errors.push(format!("sender write: {e}"));
                s.out.clear();
                break;
            }
        }
    }
}

/// Per-connection state of a member.
struct Member {
    buf: BytesMut,
    bound: bool,
}

/// Entry point of `msrp-bench fanout-members`: binds M sessions, prints `BOUND`, counts and
/// times deliveries until the parent writes `END <messages>` and deliveries stop, then prints
/// `RESULT {json}` and waits for `BYE` (keeping the connections open until then).
pub fn members_main(a: &MembersArgs) -> i32 {
    sys::raise_nofile();
    let (tx, rx) = channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let say = |l: String| {
        println!("{l}");
        let _ = std::io::stdout().flush();
    };
    match members(a, &rx, &say) {
        Ok(()) => 0,
        Err(e) => {
            say(format!("FAIL {e}"));
            1
        }
    }
}

fn members(a: &MembersArgs, rx: &Receiver<String>, say: &dyn Fn(String)) -> Result<(), String> {
    if let Some(c) = a.core {
        sys::pin_current_thread(c);
    }
    let mut be = KernelBackend::new(4096).map_err(|e| e.to_string())?;
    let port = a.addr.port();
    let mut conns: HashMap<ConnId, Member> = HashMap::new();
    let mut idx: HashMap<ConnId, usize> = HashMap::new();
    let mut next = 0;
    let mut connecting = 0;
    let mut bound = 0;
    let mut events = Vec::new();
    let start = Instant::now();
    let mut per_delivery = Latency::new();
    let mut last_delivery = Latency::new();
    let mut pending: HashMap<(u32, u64), (u32, u64)> = HashMap::new();
    let mut deliveries = 0u64;
    let mut bytes = 0u64;
    let mut last_ns = 0u64;
    let mut complete = 0u64;
    let mut end_at: Option<(u64, Instant)> = None;
    let mut last_progress = Instant::now();
    let mut announced = false;
    let m32 = a.members as u32;
    loop {
        while next < a.members && connecting < 512 {
            let id = be.connect(a.addr).map_err(|e| e.to_string())?;
            conns.insert(
                id,
                Member {
                    buf: BytesMut::new(),
                    bound: false,
                },
            );
            idx.insert(id, next);
            next += 1;
            connecting += 1;
        }
        if !announced && bound == a.members {
            say(format!("BOUND {:.3}", start.elapsed().as_secs_f64()));
            announced = true;
        } else if !announced && start.elapsed() > Duration::from_secs(120) {
            return Err(format!("only {bound} of {} members bound", a.members));
        }
        if let Ok(line) = rx.try_recv() {
            if let Some(n) = line.strip_prefix("END ") {
                let sent: u64 = n.trim().parse().unwrap_or(0);
                end_at = Some((sent * a.members as u64, Instant::now()));
            }
        }
        if let Some((expect, t)) = end_at {
            let quiet = last_progress.elapsed() > Duration::from_millis(500);
            if deliveries >= expect || (quiet && t.elapsed() > Duration::from_millis(500)) {
                break;
            }
        }
        events.clear();
        be.poll(&mut events, Some(Duration::from_millis(5)))
            .map_err(|e| e.to_string())?;
        for ev in events.drain(..) {
            match ev {
                NetEvent::Connected { conn, ok } => {
                    if !ok {
                        return Err("member connect failed".into());
                    }
                    let i = idx.get(&conn).copied().unwrap_or(0);
                    let b = binding_send(
                        &session_uri(port, &member_sid(i)),
                        &member_peer(i),
                        &format!("m{i:05}"),
                    );
                    let n = be
                        .send(conn, &[IoSlice::new(&b)])
                        .map_err(|e| e.to_string())?;
                    if n != b.len() {
                        return Err("short write of a binding SEND".into());
                    }
                }
                NetEvent::Readable(conn) => {
                    let Some(mbr) = conns.get_mut(&conn) else {
                        continue;
                    };
                    loop {
                        match be.recv(conn, &mut mbr.buf, 64 * 1024) {
                            Ok(0) => return Err("the switch closed a member".into()),
                            Ok(n) => {
                                if mbr.bound {
                                    bytes += n as u64;
                                }
                            }
                            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                            Err(e) => return Err(e.to_string()),
                        }
                    }
                    if !mbr.bound {
                        let Some(at) = memchr::memmem::find(&mbr.buf, b"-------") else {
                            continue;
                        };
                        let head = String::from_utf8_lossy(&mbr.buf[..at]).to_string();
                        if !head.lines().next().is_some_and(|l| l.contains(" 200")) {
                            return Err(format!("binding refused: {head:?}"));
                        }
                        let Some(eol) = memchr::memchr(b'\n', &mbr.buf[at..]) else {
                            continue;
                        };
                        let _ = mbr.buf.split_to(at + eol + 1);
                        mbr.bound = true;
                        bound += 1;
                        connecting -= 1;
                        bytes += mbr.buf.len() as u64;
                    }
                    let now = mono_ns();
                    let (found, keep_from) = scan_stamps(&mbr.buf, |stamp, k, seq| {
                        per_delivery.record_ns(now.saturating_sub(stamp));
                        let e = pending.entry((k, seq)).or_insert((0, stamp));
                        e.0 += 1;
                        if e.0 == m32 {
                            last_delivery.record_ns(now.saturating_sub(stamp));
                            pending.remove(&(k, seq));
                            complete += 1;
                        }
                    });
                    if found > 0 {
                        deliveries += found;
                        last_ns = now;
                        last_progress = Instant::now();
                    }
                    let _ = mbr.buf.split_to(keep_from);
                }
                _ => {}
            }
        }
    }
    let v = json!({
        "deliveries": deliveries,
        "bytes": bytes,
        "last_ns": last_ns,
        "per_delivery": per_delivery.to_json(),
        "last_delivery": last_delivery.to_json(),
        "complete": complete,
        "incomplete": pending.len(),
    });
    say(format!("RESULT {v}"));
    // Keep the connections until the parent is done with the switch.
    let _ = rx.recv_timeout(Duration::from_secs(60));
    Ok(())
}

/// Finds every complete `STAMP<20 digits>#<k>:<seq>.` in `buf`, calls `f(stamp, k, seq)` for
/// each, and returns how many it found and the offset from which the buffer must be kept (an
/// incomplete stamp at the end, or the last 4 bytes, which may hold the start of one).
pub fn scan_stamps(buf: &[u8], mut f: impl FnMut(u64, u32, u64)) -> (u64, usize) {
    let mut found = 0;
    let mut pos = 0;
    while let Some(rel) = memchr::memmem::find(&buf[pos..], b"STAMP") {
        let at = pos + rel;
        let rest = &buf[at + 5..];
        let Some(dot) = memchr::memchr(b'.', &rest[..rest.len().min(64)]) else {
            if rest.len() >= 64 {
                // Not a stamp (damaged): skip it.
                pos = at + 5;
                continue;
            }
            return (found, at);
        };
        let field = &rest[..dot];
        let parsed = std::str::from_utf8(field).ok().and_then(|s| {
            let (stamp, ks) = s.split_once('#')?;
            let (k, seq) = ks.split_once(':')?;
            Some((stamp.parse().ok()?, k.parse().ok()?, seq.parse().ok()?))
        });
        if let Some((stamp, k, seq)) = parsed {
            f(stamp, k, seq);
            found += 1;
        }
        pos = at + 5 + dot + 1;
    }
    (found, buf.len().saturating_sub(4).max(pos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_found_across_split_reads() {
        let mut all = Vec::new();
        for seq in 0..5u64 {
            all.extend_from_slice(b"MSRP x SEND\r\n\r\nFrom: <a>\r\n\r\n");
            all.extend_from_slice(&payload(2, seq, 80));
            all.extend_from_slice(b"\r\n-------x$\r\n");
        }
        for split in 1..all.len() {
            let mut seen = Vec::new();
            let mut buf = all[..split].to_vec();
            let (_, keep) = scan_stamps(&buf, |_, k, s| seen.push((k, s)));
            buf.drain(..keep);
            buf.extend_from_slice(&all[split..]);
            let (_, _) = scan_stamps(&buf, |_, k, s| seen.push((k, s)));
            let want: Vec<(u32, u64)> = (0..5).map(|s| (2, s)).collect();
            assert_eq!(seen, want, "split at {split}");
        }
    }
}
