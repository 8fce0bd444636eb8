//! `join`: N participants join one chat room of the msrpd binary the way an RFC 7701 client
//! does: SIP INVITE over TCP with an MSRP SDP offer to the room URI, the focus's 200 (its
//! `a=path`), ACK, a TCP connection to the MSRP address of that path and a bodiless SEND that
//! binds the session (RFC 4975 §5.4), answered 200. `--concurrency` threads (one SIP
//! connection each, on the generator core) keep that many joins in flight. Then every
//! participant leaves with a BYE. Measures joins/s, INVITE→200 and INVITE→bound latency,
//! failures by status, and msrpd's CPU per join and per BYE.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use controlplane::sip::dialog::Dialog;
use controlplane::sip::wire::{Frame, Framing, Limits, Message, StreamFramer};
use dataplane::wire::{ByteRange, Continuation, Ident, RequestWriter};
use serde_json::{json, Value};

use crate::latency::Latency;
use crate::report::{human_rate, Report};
use crate::sys::{self, CpuTime};
use crate::targets::{Pinning, Target};
use crate::CommonArgs;

/// The room every participant joins.
pub const ROOM: &str = "sip:bench@127.0.0.1";
/// Longest wait for any single answer before the join counts as failed.
const WAIT: Duration = Duration::from_secs(10);

/// `msrp-bench join`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Participants joining the room.
    #[arg(long, default_value_t = 500)]
    pub participants: usize,
    /// Joins in flight (generator threads, one SIP TCP connection each).
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Keep every MSRP connection open until all BYEs are answered (default: a participant
    /// closes its connection as soon as its BYE is answered, as a client does).
    #[arg(long)]
    pub hold_msrp: bool,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// What one generator thread saw.
#[derive(Default)]
struct ThreadOut {
    to_200: Latency,
    to_bound: Latency,
    invited: u64,
    ok_200: u64,
    bound: u64,
    failures: BTreeMap<String, u64>,
    bye_sent: u64,
    bye_200: u64,
    unexpected_requests: u64,
    /// Requests the focus sent us, by method and phase (`BYE during bye`).
    requests_by_method: BTreeMap<String, u64>,
    /// `join` or `bye`.
    phase: &'static str,
    /// Joins finished (bound) and BYE phase wall times.
    join_end: Option<Instant>,
    bye_secs: f64,
}

/// A joined participant: its dialog and its MSRP connection (held open until the BYE).
struct Joined {
    dialog: Dialog,
    msrp: TcpStream,
}

/// The SIP connection of one generator thread.
struct SipConn {
    s: TcpStream,
    f: StreamFramer,
    local: SocketAddr,
    branch: u64,
}

impl SipConn {
    fn connect(addr: SocketAddr) -> std::io::Result<SipConn> {
        let s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_millis(200)))?;
        let local = s.local_addr()?;
        Ok(SipConn {
            s,
            f: StreamFramer::new(Limits::default()),
            local,
            branch: 0,
        })
    }

    fn via(&mut self, tag: &str) -> String {
        self.branch += 1;
        format!(
            "SIP/2.0/TCP {};branch=z9hG4bK{tag}b{};rport",
            self.local, self.branch
        )
    }

    /// The next final response to the request sent with Via `via`; requests from the focus and
    /// responses to other requests (a 2xx retransmitted before our ACK got there, RFC 3261
    /// §13.3.1.4) are counted and skipped.
    fn final_response(&mut self, out: &mut ThreadOut, via: &str) -> Result<Message, String> {
        let deadline = Instant::now() + WAIT;
        loop {
            match self.f.next_frame() {
                Ok(Some(Frame::Message(b))) => {
                    let m = Message::parse(b, Framing::Datagram, &Limits::default())
                        .map_err(|e| format!("unparsable SIP: {e}"))?;
                    if m.is_request() {
                        out.unexpected_requests += 1;
                        let k = format!("{} during {}", m.method_text(), out.phase);
                        *out.requests_by_method.entry(k).or_default() += 1;
                        continue;
                    }
                    if m.status().unwrap_or(0) < 200 {
                        continue;
                    }
                    let ours = m
                        .values_named("Via")
                        .next()
                        .is_some_and(|v| same_branch(v, via));
                    if !ours {
                        let k = format!(
                            "stray {} {} during {}",
                            m.status().unwrap_or(0),
                            m.cseq().map_or("?", |c| c.method),
                            out.phase
                        );
                        *out.requests_by_method.entry(k).or_default() += 1;
                        continue;
                    }
                    return Ok(m);
                }
                Ok(Some(_)) => continue,
                Ok(None) => {}
                Err(e) => return Err(format!("unframeable SIP: {e}")),
            }
            if Instant::now() >= deadline {
                return Err("timeout".into());
            }
            let mut buf = [0u8; 16384];
            match self.s.read(&mut buf) {
                Ok(0) => return Err("SIP connection closed".into()),
                Ok(n) => self.f.push(&buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return Err(format!("SIP read: {e}")),
            }
        }
    }
}

/// Whether two Via values carry the same branch parameter.
fn same_branch(a: &str, b: &str) -> bool {
    let branch = |v: &str| {
        v.split(';')
            .find_map(|p| p.trim().strip_prefix("branch="))
            .map(str::to_owned)
    };
    branch(a).is_some() && branch(a) == branch(b)
}

fn offer(uri: &str) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=message 9 TCP/MSRP *\r\na=accept-types:message/cpim text/plain\r\n\
a=accept-wrapped-types:text/plain *\r\na=path:{uri}\r\na=setup:actpass\r\n\
a=chatroom:nickname private-messages\r\n"
    )
}

fn sdp_path(sdp: &str) -> Option<String> {
    sdp.lines()
        .find_map(|l| l.trim_end().strip_prefix("a=path:").map(str::to_string))
}

/// The address of the first URI of an MSRP path (`localhost` is msrpd's MSRP listener).
fn path_addr(path: &str, msrp: SocketAddr) -> Option<SocketAddr> {
    let first = path.split_whitespace().next()?;
    let rest = first
        .strip_prefix("msrp://")
        .or_else(|| first.strip_prefix("msrps://"))?;
    let authority = rest.split(['/', ';']).next()?;
    if let Some(port) = authority.strip_prefix("localhost:") {
        return port.parse().ok().map(|p| SocketAddr::new(msrp.ip(), p));
    }
    authority.parse().ok()
}

fn binding_send(to: &str, from: &str, tag: &str) -> Option<BytesMut> {
    let mut b = BytesMut::new();
    let tid = Ident::new(format!("bind{tag}").as_bytes())?;
    RequestWriter::new(&mut b, tid, "SEND", &[to], &[from])
        .message_id(format!("joinmsg{tag}").as_bytes())
        .byte_range(ByteRange {
            start: 1,
            end: Some(0),
            total: Some(0),
        })
        .end(Continuation::Complete);
    Some(b)
}

/// Sends the binding SEND and waits for its response; returns its status.
fn bind(s: &mut TcpStream, send: &[u8], tag: &str) -> Result<u16, String> {
    s.write_all(send).map_err(|e| format!("msrp write: {e}"))?;
    s.set_read_timeout(Some(Duration::from_millis(200))).ok();
    let start_line = format!("MSRP bind{tag} ");
    let end_line = format!("-------bind{tag}$");
    let deadline = Instant::now() + WAIT;
    let mut got: Vec<u8> = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&got);
        if let Some(i) = text.find(&start_line) {
            if text[i..].contains(&end_line) {
                let code = text[i + start_line.len()..]
                    .get(..3)
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0);
                return Ok(code);
            }
        }
        if Instant::now() >= deadline || got.len() > 1 << 20 {
            return Err("timeout".into());
        }
        match s.read(&mut buf) {
            Ok(0) => return Err("closed".into()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(format!("read: {e}")),
        }
    }
}

fn fail(out: &mut ThreadOut, what: String) {
    *out.failures.entry(what).or_default() += 1;
}

/// One participant's join; `Some` when bound.
fn join_one(
    sip: &mut SipConn,
    msrp: SocketAddr,
    i: usize,
    out: &mut ThreadOut,
) -> Result<Option<Joined>, String> {
    let tag = format!("{}x{i}", std::process::id());
    let own_uri = format!("msrp://127.0.0.1:9/j{tag};tcp");
    let sdp = offer(&own_uri);
    let via = sip.via(&tag);
    let text = format!(
        "INVITE {ROOM} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\n\
From: <sip:p{i}@bench.invalid>;tag=f{tag}\r\nTo: <{ROOM}>\r\nCall-ID: join-{tag}@bench.invalid\r\n\
CSeq: 1 INVITE\r\nContact: <sip:p{i}@{l};transport=tcp>\r\nContent-Type: application/sdp\r\n\
Content-Length: {n}\r\n\r\n{sdp}",
        l = sip.local,
        n = sdp.len()
    );
    let t0 = Instant::now();
    sip.s
        .write_all(text.as_bytes())
        .map_err(|e| format!("SIP write: {e}"))?;
    out.invited += 1;
    let resp = match sip.final_response(out, &via) {
        Ok(r) => r,
        Err(e) if e == "timeout" => {
            fail(out, "invite timeout".into());
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let code = resp.status().unwrap_or(0);
    let req = Message::parse(Bytes::from(text), Framing::Datagram, &Limits::default())
        .map_err(|e| format!("our INVITE does not parse: {e}"))?;
    if code != 200 {
        fail(out, format!("invite {code}"));
        // ACK for a non-2xx final response: same Via branch as the INVITE.
        let to = resp
            .value(controlplane::sip::wire::HeaderName::To)
            .unwrap_or_default();
        let ack = format!(
            "ACK {ROOM} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\n\
From: <sip:p{i}@bench.invalid>;tag=f{tag}\r\nTo: {to}\r\nCall-ID: join-{tag}@bench.invalid\r\n\
CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
        );
        sip.s
            .write_all(ack.as_bytes())
            .map_err(|e| format!("SIP write: {e}"))?;
        return Ok(None);
    }
    out.ok_200 += 1;
    out.to_200.record_ns(t0.elapsed().as_nanos() as u64);
    let mut dialog = match Dialog::uac(&req, &resp) {
        Ok(d) => d,
        Err(e) => {
            fail(out, format!("dialog: {e}"));
            return Ok(None);
        }
    };
    let mut ack = dialog.request("ACK");
    let v = sip.via(&tag);
    ack.header("Via", &v);
    sip.s
        .write_all(&ack.finish(None, b""))
        .map_err(|e| format!("SIP write: {e}"))?;
    let body = String::from_utf8_lossy(&resp.body()).into_owned();
    let Some(path) = sdp_path(&body) else {
        fail(out, "200 without a=path".into());
        return Ok(None);
    };
    let Some(addr) = path_addr(&path, msrp) else {
        fail(out, format!("unusable a=path {path}"));
        return Ok(None);
    };
    let mut m = match TcpStream::connect(addr) {
        Ok(m) => m,
        Err(e) => {
            fail(out, format!("msrp connect: {}", e.kind()));
            return Ok(None);
        }
    };
    m.set_nodelay(true).ok();
    let Some(send) = binding_send(&path, &own_uri, &tag) else {
        fail(out, "bad transaction id".into());
        return Ok(None);
    };
    match bind(&mut m, &send, &tag) {
        Ok(200) => {}
        Ok(c) => {
            fail(out, format!("bind {c}"));
            return Ok(None);
        }
        Err(e) => {
            fail(out, format!("bind {e}"));
            return Ok(None);
        }
    }
    out.bound += 1;
    out.to_bound.record_ns(t0.elapsed().as_nanos() as u64);
    Ok(Some(Joined { dialog, msrp: m }))
}

fn bye_all(
    sip: &mut SipConn,
    joined: Vec<Joined>,
    hold_msrp: bool,
    out: &mut ThreadOut,
) -> Result<(), String> {
    let mut held = Vec::new();
    for (k, mut j) in joined.into_iter().enumerate() {
        let mut b = j.dialog.request("BYE");
        let v = sip.via(&format!("bye{k}"));
        b.header("Via", &v);
        sip.s
            .write_all(&b.finish(None, b""))
            .map_err(|e| format!("SIP write: {e}"))?;
        out.bye_sent += 1;
        match sip.final_response(out, &v) {
            Ok(r) if r.status() == Some(200) => out.bye_200 += 1,
            Ok(r) => fail(out, format!("bye {}", r.status().unwrap_or(0))),
            Err(e) => fail(out, format!("bye {e}")),
        }
        if hold_msrp {
            held.push(j.msrp);
        }
    }
    Ok(())
}

/// The `[sip]` and `[[rooms]]` sections of the generated msrpd configuration.
pub fn sip_toml(participants: usize) -> String {
    format!(
        "\n[sip]\nudp = []\ntcp = [\"127.0.0.1:0\"]\ndomains = [\"bench.invalid\"]\n\
         max_connections = 20000\n\n[[rooms]]\nuri = {ROOM:?}\nname = \"msrp-bench join\"\n\
         max_members = {}\n",
        participants + 16
    )
}

/// Runs the scenario and prints its report; returns the exit status.
pub fn main(args: &Args) -> i32 {
    run(args).emit()
}

/// Runs the scenario.
pub fn run(args: &Args) -> Report {
    let mut report = Report::new("join");
    let pin = if args.common.no_pin {
        Pinning::none()
    } else {
        Pinning::auto()
    };
    let n = args.participants.max(1);
    let c = args.concurrency.clamp(1, n);
    report.config = json!({
        "participants": n,
        "concurrency": c,
        "room": ROOM,
        "transport": "SIP over TCP (one connection per generator thread), MSRP over TCP (one per participant)",
        "offer": "a=setup:actpass (the focus answers passive; the participant connects)",
        "pinning": pin.to_json(),
        "msrp_closed": if args.hold_msrp { "after every BYE was answered (--hold-msrp)" } else { "by each participant as soon as its BYE was answered" },
    });
    let nofile = sys::raise_nofile();
    let target = match Target::start_msrpd(&pin, Some(&sip_toml(n))) {
        Ok(t) => t,
        Err(e) => {
            report.errors.push(e);
            report.summary = "join: msrpd did not start".into();
            return report;
        }
    };
    let Some(sip_addr) = target.sip_tcp else {
        report
            .errors
            .push("msrpd announced no SIP TCP listener".into());
        report.summary = "join: no SIP listener".into();
        return report;
    };
    if let Some(v) = &target.version {
        report
            .versions
            .insert("msrpd".into(), Value::String(v.clone()));
    }
    report.config["target"] = target.config.clone();
    report.config["nofile"] = json!(nofile);
    let msrp = target.addr;
    let gen_core = pin.generator;
    let hold_msrp = args.hold_msrp;

    let cpu0 = target.cpu();
    let gen0 = sys::self_cpu();
    let start = Instant::now();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(c + 1));
    let (tx, rx) = std::sync::mpsc::channel::<Result<ThreadOut, String>>();
    let mut handles = Vec::new();
    for t in 0..c {
        let tx = tx.clone();
        let barrier = barrier.clone();
        handles.push(std::thread::spawn(move || {
            if let Some(core) = gen_core {
                sys::pin_current_thread(core);
            }
            let mut out = ThreadOut {
                phase: "join",
                ..ThreadOut::default()
            };
            let res = (|| -> Result<(), String> {
                let mut sip =
                    SipConn::connect(sip_addr).map_err(|e| format!("SIP connect: {e}"))?;
                let mut joined = Vec::new();
                let mut i = t;
                while i < n {
                    if let Some(j) = join_one(&mut sip, msrp, i, &mut out)? {
                        joined.push(j);
                    }
                    i += c;
                }
                out.join_end = Some(Instant::now());
                // Everyone is in the room before anyone leaves.
                barrier.wait();
                barrier.wait();
                out.phase = "bye";
                let b0 = Instant::now();
                let r = bye_all(&mut sip, joined, hold_msrp, &mut out);
                out.bye_secs = b0.elapsed().as_secs_f64();
                r
            })();
            let _ = tx.send(res.map(|()| out));
        }));
    }
    drop(tx);
    // The join phase ends when every thread reaches the first barrier (or died).
    let mut joins_done = false;
    let wait_joins = {
        let b = barrier.clone();
        std::thread::spawn(move || {
            b.wait();
        })
    };
    let mut cpu_join = None;
    let mut gen_join = None;
    let mut join_secs = 0.0;
    let mut results: Vec<Result<ThreadOut, String>> = Vec::new();
    // Poll: either all threads reached the barrier, or some ended early (error).
    loop {
        if !joins_done && wait_joins.is_finished() {
            joins_done = true;
            join_secs = start.elapsed().as_secs_f64();
            cpu_join = target.cpu();
            gen_join = Some(sys::self_cpu());
            // Release the BYE phase.
            let b = barrier.clone();
            std::thread::spawn(move || {
                b.wait();
            });
        }
        match rx.recv_timeout(Duration::from_millis(5)) {
            Ok(r) => results.push(r),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            Err(_) => {}
        }
        if !joins_done && results.iter().any(|r| r.is_err()) {
            report
                .errors
                .push("a generator thread failed during the joins".into());
            break;
        }
    }
    if !joins_done {
        // A thread died before the barrier: the others are stuck in it; give up.
        for r in &results {
            if let Err(e) = r {
                report.errors.push(e.clone());
            }
        }
        report.summary = "join: generator thread failed".into();
        return report;
    }
    for h in handles {
        let _ = h.join();
    }
    let cpu_bye_end = target.cpu();
    let gen_end = sys::self_cpu();

    let mut to_200 = Latency::new();
    let mut to_bound = Latency::new();
    let mut tot = ThreadOut::default();
    for r in results {
        match r {
            Ok(o) => {
                to_200.add(&o.to_200);
                to_bound.add(&o.to_bound);
                tot.invited += o.invited;
                tot.ok_200 += o.ok_200;
                tot.bound += o.bound;
                tot.bye_sent += o.bye_sent;
                tot.bye_200 += o.bye_200;
                tot.unexpected_requests += o.unexpected_requests;
                tot.bye_secs = tot.bye_secs.max(o.bye_secs);
                for (k, v) in o.requests_by_method {
                    *tot.requests_by_method.entry(k).or_default() += v;
                }
                for (k, v) in o.failures {
                    *tot.failures.entry(k).or_default() += v;
                }
            }
            Err(e) => report.errors.push(e),
        }
    }
    let n64 = n as u64;
    if tot.invited != n64 {
        report
            .errors
            .push(format!("{} of {n} INVITEs sent", tot.invited));
    }
    if tot.bound != n64 {
        report.errors.push(format!(
            "{} of {n} participants joined and bound (200 to the INVITE: {}); failures {:?}",
            tot.bound, tot.ok_200, tot.failures
        ));
    }
    if tot.bye_200 != tot.bound {
        report.errors.push(format!(
            "{} BYEs answered 200 for {} joined participants",
            tot.bye_200, tot.bound
        ));
    }
    let joins_per_s = tot.bound as f64 / join_secs.max(1e-9);
    let byes_per_s = tot.bye_200 as f64 / tot.bye_secs.max(1e-9);
    let join_cpu = match (cpu0, cpu_join) {
        (Some(a), Some(b)) => Some(b.since(&a)),
        _ => None,
    };
    let bye_cpu = match (cpu_join, cpu_bye_end) {
        (Some(a), Some(b)) => Some(b.since(&a)),
        _ => None,
    };
    let gen_join_cpu = gen_join.map(|g| g.since(&gen0)).unwrap_or_default();
    let per = |c: &CpuTime, k: u64| (k > 0).then(|| c.total_us() / k as f64);
    let target_us_per_join = join_cpu.as_ref().and_then(|c| per(c, tot.bound));
    let target_us_per_bye = bye_cpu.as_ref().and_then(|c| per(c, tot.bye_200));
    report.results = json!({
        "joins_per_s": joins_per_s,
        "join_secs": join_secs,
        "byes_per_s": byes_per_s,
        "bye_secs": tot.bye_secs,
        "latency": {
            "invite_to_200": to_200.to_json(),
            "invite_to_bound": to_bound.to_json(),
        },
        "counts": {
            "participants": n,
            "invited": tot.invited,
            "ok_200": tot.ok_200,
            "bound": tot.bound,
            "failed": tot.failures.values().sum::<u64>(),
            "failures_by_status": tot.failures,
            "bye_sent": tot.bye_sent,
            "bye_200": tot.bye_200,
            "requests_from_focus": tot.unexpected_requests,
            "requests_from_focus_by_method": tot.requests_by_method,
        },
    });
    report.cpu = json!({
        "target_us_per_join": target_us_per_join,
        "target_us_per_bye": target_us_per_bye,
        "target_user_s": join_cpu.as_ref().map(|c| c.user_us / 1e6),
        "target_sys_s": join_cpu.as_ref().map(|c| c.sys_us / 1e6),
        "target_core_share": join_cpu.as_ref().map(|c| c.total_us() / 1e6 / join_secs.max(1e-9)),
        "generator_us_per_join": per(&gen_join_cpu, tot.bound),
        "generator_process_s": gen_end.since(&gen0).total_us() / 1e6,
    });
    if let Some(p) = &args.common.plot {
        let series = vec![
            ("INVITE → 200".to_string(), to_200.clone()),
            ("INVITE → MSRP bound".to_string(), to_bound.clone()),
        ];
        if let Err(e) = crate::latency::plot(p, "join latency", &series) {
            eprintln!("msrp-bench: plot: {e}");
        }
    }
    let q = |l: &Latency, x: f64| l.quantile_us(x).map_or("-".into(), |v| format!("{v:.0}"));
    report.summary = format!(
        "join: {}/{n} participants bound at {} (C={c}), INVITE→200 p50/p99/p99.9 {}/{}/{} µs, \
         INVITE→bound {}/{}/{} µs, msrpd {} µs CPU/join, BYE 200s {}/{}",
        tot.bound,
        human_rate(joins_per_s),
        q(&to_200, 0.5),
        q(&to_200, 0.99),
        q(&to_200, 0.999),
        q(&to_bound, 0.5),
        q(&to_bound, 0.99),
        q(&to_bound, 0.999),
        target_us_per_join.map_or("-".into(), |v| format!("{v:.0}")),
        tot.bye_200,
        tot.bound,
    );
    drop(target);
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_addresses() {
        let m: SocketAddr = "127.0.0.1:2855".parse().unwrap();
        assert_eq!(
            path_addr("msrp://localhost:4000/abc;tcp", m),
            Some("127.0.0.1:4000".parse().unwrap())
        );
        assert_eq!(
            path_addr("msrp://10.0.0.1:5/x;tcp msrp://b:1/y;tcp", m),
            Some("10.0.0.1:5".parse().unwrap())
        );
        assert_eq!(path_addr("sip:x", m), None);
        assert_eq!(
            sdp_path("v=0\r\na=path:msrp://h:1/s;tcp\r\n").as_deref(),
            Some("msrp://h:1/s;tcp")
        );
    }
}
