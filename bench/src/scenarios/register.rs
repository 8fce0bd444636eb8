//! SIP registrar benchmarks.
//!
//! `register`: sipp drives a REGISTER load (SIP Outbound over TCP, `bench/peers/
//! register_load.xml`) against msrpd's registrar (in this process, 2 tokio workers named
//! `sip-bench`, pinned to the target core) or Kamailio's (registrar + usrloc in memory + path +
//! outbound, `bench/peers/kamailio-registrar.cfg`, started by `scripts/bench-peers.sh`);
//! `--compare` alternates both in one run and prints the ratios. sipp (the generator) runs on
//! the generator core; its CPU comes from `getrusage(RUSAGE_CHILDREN)` around its run.
//!
//! `sip-flows`: holds N registered outbound TCP flows against a separate `sip-serve` process,
//! pings each with CRLFCRLF, and reports that process's resident memory.
//!
//! `sip-serve`: runs the SIP server alone (used by `sip-flows`).

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use controlplane::sip::{SipConfig, SipServer, TransportKind};
use serde_json::{json, Value};

use crate::report::{get_f64, median, ratio, Report};
use crate::sys::{self, CpuTime};
use crate::targets::{free_port, run_peers, wait_port, Pinning};
use crate::CommonArgs;

fn peers_dir() -> PathBuf {
    crate::repo_root().join("bench").join("peers")
}

/// Kills a child by PID when dropped.
struct Reaped(Child);
impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn children_cpu() -> CpuTime {
    // SAFETY: getrusage writes into the zeroed struct.
    let mut r: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer and constant.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut r) };
    let us = |t: libc::timeval| t.tv_sec as f64 * 1e6 + t.tv_usec as f64;
    CpuTime {
        user_us: us(r.ru_utime),
        sys_us: us(r.ru_stime),
    }
}

/// One sipp run: REGISTERs per second, sipp's CPU, and the target's CPU over the run.
struct SippRun {
    per_s: f64,
    secs: f64,
    sipp_cpu: CpuTime,
    target_cpu: Option<CpuTime>,
}

/// Runs the sipp load against `target`.
fn sipp_run(
    target: SocketAddr,
    calls: u64,
    limit: u64,
    core: Option<usize>,
    target_cpu: &dyn Fn() -> Option<CpuTime>,
) -> Result<SippRun, String> {
    let scenario = peers_dir().join("register_load.xml");
    let sipp_port = free_port().to_string();
    let mut cmd = match core {
        Some(c) => {
            let mut t = Command::new("taskset");
            t.args(["-c", &c.to_string(), "sipp"]);
            t
        }
        None => Command::new("sipp"),
    };
    cmd.arg(target.to_string())
        .arg("-sf")
        .arg(&scenario)
        .args(["-t", "t1", "-i", "127.0.0.1", "-p", &sipp_port])
        .args(["-m", &calls.to_string(), "-l", &limit.to_string()])
        .args([
            "-r",
            "1000000",
            "-rp",
            "1000",
            "-nostdin",
            "-timeout",
            "300s",
            "-timeout_error",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let c0 = children_cpu();
    let t0 = target_cpu();
    let start = Instant::now();
    let mut child = cmd.spawn().map_err(|e| format!("sipp: {e}"))?;
    let status = child.wait().map_err(|e| e.to_string())?;
    let secs = start.elapsed().as_secs_f64();
    let t1 = target_cpu();
    let sipp_cpu = children_cpu().since(&c0);
    if !status.success() {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            use std::io::Read;
            let _ = e.read_to_string(&mut err);
        }
        return Err(format!("sipp exited {status}: {}", err.trim()));
    }
    Ok(SippRun {
        per_s: calls as f64 / secs,
        secs,
        sipp_cpu,
        target_cpu: match (t0, t1) {
            (Some(a), Some(b)) => Some(b.since(&a)),
            _ => None,
        },
    })
}

fn server_config(tcp: SocketAddr) -> SipConfig {
    let mut cfg = SipConfig::default();
    cfg.core.domains = vec!["example.com".into()];
    cfg.core.realm = "example.com".into();
    cfg.udp = vec![];
    cfg.tcp = vec![tcp];
    cfg
}

/// `msrp-bench register`
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// REGISTERs per run.
    #[arg(long, default_value_t = 50_000)]
    pub calls: u64,
    /// Concurrent transactions (sipp -l).
    #[arg(long, default_value_t = 200)]
    pub limit: u64,
    /// ours (msrpd's registrar in this process) or kamailio.
    #[arg(long, default_value = "ours")]
    pub target: String,
    /// Alternate ours and Kamailio in this run and print the ratio.
    #[arg(long)]
    pub compare: bool,
    /// Alternations in --compare.
    #[arg(long, default_value_t = 3)]
    pub alternations: usize,
    /// Kamailio tcp_children (all pinned to the target core).
    #[arg(long, default_value_t = 2)]
    pub kamailio_children: usize,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// A registrar under test.
struct Registrar {
    name: &'static str,
    addr: SocketAddr,
    cpu: Box<dyn Fn() -> Option<CpuTime>>,
    bindings: Box<dyn Fn() -> Option<usize>>,
    _keep: Box<dyn std::any::Any>,
}

fn start_ours(pin: &Pinning) -> Result<Registrar, String> {
    let core = pin.target.first().copied();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("sip-bench")
        .on_thread_start(move || {
            if let Some(c) = core {
                crate::sys::pin_current_thread(c);
            }
        })
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    let srv = rt
        .block_on(SipServer::start(
            server_config("127.0.0.1:0".parse().expect("literal")),
            None,
        ))
        .map_err(|e| format!("msrpd sip server: {e}"))?;
    let addr = srv
        .local_addr(TransportKind::Tcp)
        .ok_or("no TCP listener")?;
    let srv = std::sync::Arc::new(srv);
    let s2 = srv.clone();
    Ok(Registrar {
        name: "msrpd",
        addr,
        cpu: Box::new(|| {
            let (c, n) = crate::sys::own_threads_cpu("sip-bench");
            (n > 0).then_some(c)
        }),
        bindings: Box::new(move || Some(s2.location().len())),
        _keep: Box::new((srv, rt)),
    })
}

struct Peer;
impl Drop for Peer {
    fn drop(&mut self) {
        let env = [("BENCH_PEERS_DIR", peers_run_dir().display().to_string())];
        if let Err(e) = run_peers(&["stop", "kamailio-registrar"], &env) {
            eprintln!("msrp-bench: {e}");
        }
    }
}

fn peers_run_dir() -> PathBuf {
    crate::targets::peers_dir()
}

fn start_kamailio(pin: &Pinning, children: usize) -> Result<Registrar, String> {
    let port = free_port();
    let cores = pin
        .target
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let env = [
        ("BENCH_PEERS_DIR", peers_run_dir().display().to_string()),
        ("PEER_PORT", port.to_string()),
        ("PEER_CORES", cores),
        ("PEER_CHILDREN", children.to_string()),
    ];
    run_peers(&["start", "kamailio-registrar"], &env)?;
    let guard = Peer;
    let pid: u32 = std::fs::read_to_string(peers_run_dir().join("kamailio-registrar.pid"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or("kamailio-registrar.pid missing")?;
    let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
    if !wait_port(addr, Duration::from_secs(10)) {
        return Err("kamailio did not start".into());
    }
    Ok(Registrar {
        name: "kamailio",
        addr,
        cpu: Box::new(move || crate::sys::tree_cpu(pid)),
        bindings: Box::new(|| None),
        _keep: Box::new(guard),
    })
}

fn run_json(reg: &Registrar, r: &Result<SippRun, String>, calls: u64) -> Value {
    match r {
        Ok(s) => json!({
            "target": reg.name,
            "ok": true,
            "results": {"registers_per_s": s.per_s, "seconds": s.secs, "calls": calls, "bindings_after": (reg.bindings)()},
            "cpu": {
                "target_us_per_register": s.target_cpu.map(|c| c.total_us() / calls as f64),
                "target_user_s": s.target_cpu.map(|c| c.user_us / 1e6),
                "target_sys_s": s.target_cpu.map(|c| c.sys_us / 1e6),
                "generator_sipp_us_per_register": s.sipp_cpu.total_us() / calls as f64,
            },
        }),
        Err(e) => json!({"target": reg.name, "ok": false, "error": e}),
    }
}

/// A short sipp run against msrpd's registrar in this process (smoke tests): REGISTERs per
/// second and the bindings the registrar holds afterwards.
pub fn smoke(calls: u64, limit: u64) -> Result<(f64, usize), String> {
    let reg = start_ours(&Pinning::none())?;
    let r = sipp_run(reg.addr, calls, limit, None, &*reg.cpu)?;
    Ok((r.per_s, (reg.bindings)().unwrap_or(0)))
}

/// `msrp-bench register`
pub fn main(args: &Args) -> i32 {
    let pin = if args.common.no_pin {
        Pinning::none()
    } else {
        Pinning::auto()
    };
    let mut rep = Report::new("register");
    let mut regs: Vec<Registrar> = Vec::new();
    let wanted: Vec<&str> = if args.compare {
        vec!["ours", "kamailio"]
    } else {
        vec![args.target.as_str()]
    };
    for w in wanted {
        let r = match w {
            "ours" | "msrpd" => start_ours(&pin),
            "kamailio" | "theirs" => start_kamailio(&pin, args.kamailio_children),
            other => Err(format!("unknown target {other:?}")),
        };
        match r {
            Ok(r) => regs.push(r),
            Err(e) => rep.errors.push(e),
        }
    }
    let mut runs = Vec::new();
    if rep.errors.is_empty() {
        let n = if args.compare {
            args.alternations.max(1)
        } else {
            1
        };
        for k in 0..n {
            for reg in &regs {
                let r = sipp_run(reg.addr, args.calls, args.limit, pin.generator, &*reg.cpu);
                match &r {
                    Ok(s) => eprintln!(
                        "register run {}: {} {:.0} REGISTER/s",
                        k + 1,
                        reg.name,
                        s.per_s
                    ),
                    Err(e) => rep.errors.push(format!("{} run {}: {e}", reg.name, k + 1)),
                }
                runs.push(run_json(reg, &r, args.calls));
            }
        }
    }
    let med = |name: &str, path: &str| {
        median(
            runs.iter()
                .filter(|r| r["target"] == name)
                .filter_map(|r| get_f64(r, path))
                .collect(),
        )
    };
    let ours = med("msrpd", "results.registers_per_s");
    let theirs = med("kamailio", "results.registers_per_s");
    let ours_cpu = med("msrpd", "cpu.target_us_per_register");
    let theirs_cpu = med("kamailio", "cpu.target_us_per_register");
    rep.config = json!({
        "transport": "tcp",
        "outbound": true,
        "calls": args.calls,
        "concurrency": args.limit,
        "generator": "sipp (bench/peers/register_load.xml)",
        "msrpd": "SIP registrar in this process, tokio with 2 worker threads",
        "kamailio": format!("registrar+usrloc(db_mode 0)+path+outbound, tcp_children={}", args.kamailio_children),
        "pinning": pin.to_json(),
        "alternations": if args.compare { args.alternations } else { 1 },
    });
    rep.results = json!({
        "msrpd_per_s": ours,
        "kamailio_per_s": theirs,
        "ratio_msrpd_over_kamailio": ratio(ours, theirs),
        "runs": runs,
    });
    rep.cpu = json!({
        "msrpd_us_per_register": ours_cpu,
        "kamailio_us_per_register": theirs_cpu,
        "ratio_msrpd_over_kamailio": ratio(ours_cpu, theirs_cpu),
        "generator_sipp_us_per_register": median(runs.iter().filter_map(|r| get_f64(r, "cpu.generator_sipp_us_per_register")).collect()),
    });
    if let Some(v) = sys::command_line("sipp", &["-v"]) {
        rep.versions.insert("sipp".into(), json!(v));
    }
    if regs.iter().any(|r| r.name == "kamailio") {
        if let Some(v) = crate::targets::kamailio_version() {
            rep.versions.insert("kamailio".into(), json!(v));
        }
    }
    let f = |v: Option<f64>| v.map_or("?".into(), |v| format!("{v:.0}"));
    rep.summary = format!(
        "register: msrpd {} REGISTER/s ({} µs CPU each), kamailio {} REGISTER/s ({} µs each), ratio {}",
        f(ours),
        f(ours_cpu),
        f(theirs),
        f(theirs_cpu),
        ratio(ours, theirs).map_or("?".into(), |r| format!("{r:.2}")),
    );
    drop(regs);
    rep.emit()
}

/// `msrp-bench sip-parse`
#[derive(clap::Args, Debug, Clone)]
pub struct ParseArgs {
    /// Iterations.
    #[arg(long, default_value_t = 1_000_000)]
    pub iters: u64,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// `msrp-bench sip-serve`
#[derive(clap::Args, Debug, Clone)]
pub struct ServeArgs {
    /// TCP port on 127.0.0.1.
    #[arg(long, default_value_t = 15060)]
    pub port: u16,
}

/// `msrp-bench sip-flows`
#[derive(clap::Args, Debug, Clone)]
pub struct FlowsArgs {
    /// Flows to hold.
    #[arg(long, default_value_t = 100_000)]
    pub flows: u64,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// `msrp-bench sip-parse [--iters N]`: parser throughput on an outbound REGISTER
/// (parse + validate + Contact params), single core.
pub fn parse_rate(args: &ParseArgs) -> i32 {
    use controlplane::sip::wire::{Framing, HeaderName, Limits, Message, NameAddr};
    let iters = args.iters;
    let msg = bytes::Bytes::from_static(
        b"REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/TCP 10.0.0.5:50001;branch=z9hG4bK1;rport\r\n\
Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=1\r\nTo: <sip:alice@example.com>\r\n\
Call-ID: abc\r\nCSeq: 1 REGISTER\r\nSupported: path, outbound\r\n\
Contact: <sip:alice@10.0.0.5:50001;transport=tcp;ob>;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\";reg-id=1\r\n\
Expires: 600\r\nContent-Length: 0\r\n\r\n",
    );
    let limits = Limits::default();
    let t0 = Instant::now();
    let mut ok = 0u64;
    for _ in 0..iters {
        if let Ok(m) = Message::parse(msg.clone(), Framing::Stream, &limits) {
            if m.validate().is_ok() {
                let c = m
                    .list(HeaderName::Contact)
                    .next()
                    .and_then(|c| NameAddr::parse(c).ok());
                if c.and_then(|c| c.params.get("reg-id")).is_some() {
                    ok += 1;
                }
            }
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let mut r = Report::new("sip-parse");
    r.config = json!({"iters": iters, "message": "outbound REGISTER over TCP", "threads": 1});
    r.results = json!({"ok": ok, "per_s": iters as f64 / secs, "ns_per_msg": secs * 1e9 / iters.max(1) as f64});
    if ok != iters {
        r.errors
            .push(format!("{} of {iters} parses failed", iters - ok));
    }
    r.summary = format!(
        "sip-parse: {:.2}M REGISTER/s ({:.0} ns each)",
        iters as f64 / secs / 1e6,
        secs * 1e9 / iters.max(1) as f64
    );
    r.emit()
}

/// `msrp-bench sip-serve --port P`: the SIP server alone on 127.0.0.1:P (TCP), until killed.
pub fn serve(args: &ServeArgs) -> i32 {
    let port = args.port;
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("runtime: {e}");
            return 1;
        }
    };
    rt.block_on(async move {
        let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
        let mut cfg = server_config(addr);
        cfg.streams.idle_timeout = Duration::from_secs(3600);
        match SipServer::start(cfg, None).await {
            Ok(_srv) => {
                println!("ready");
                let _ = std::io::stdout().flush();
                loop {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                }
            }
            Err(e) => {
                eprintln!("sip-serve: {e}");
                1
            }
        }
    })
}

fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Raises RLIMIT_NOFILE towards `n`; returns the soft limit in force afterwards.
fn raise_nofile(n: u64) -> u64 {
    // SAFETY: plain libc calls on a local struct.
    unsafe {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 {
            let want = n.max(r.rlim_cur);
            r.rlim_cur = want;
            if r.rlim_max < want {
                r.rlim_max = want;
            }
            if libc::setrlimit(libc::RLIMIT_NOFILE, &r) != 0 {
                // Not allowed to raise the hard limit: take what it allows.
                libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
                r.rlim_cur = r.rlim_max;
                libc::setrlimit(libc::RLIMIT_NOFILE, &r);
            }
        }
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
        r.rlim_cur
    }
}

/// `msrp-bench sip-flows [--flows N]`: N outbound TCP registrations held open (from many
/// 127.0.0.x source addresses), one CRLFCRLF ping each, then the server's RSS.
pub fn flows(args: &FlowsArgs) -> i32 {
    let wanted = args.flows;
    // Server and client each hold one descriptor per flow.
    let nofile = raise_nofile(wanted + 1024);
    let n = wanted.min(nofile.saturating_sub(1024));
    if n < wanted {
        eprintln!("sip-flows: open-file limit {nofile} allows {n} flows, not {wanted}");
    }
    let port = free_port();
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let child = Command::new(exe)
        .args(["sip-serve", "--port", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn();
    let mut child = match child {
        Ok(c) => Reaped(c),
        Err(e) => {
            eprintln!("sip-serve: {e}");
            return 1;
        }
    };
    let pid = child.0.id();
    if let Some(out) = child.0.stdout.take() {
        let mut line = String::new();
        let _ = BufReader::new(out).read_line(&mut line);
    }
    let server = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
    let rss_idle = rss_kib(pid).unwrap_or(0);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let t0 = Instant::now();
    let (held, failed, pongs) = rt.block_on(hold_flows(server, n));
    let secs = t0.elapsed().as_secs_f64();
    let rss = rss_kib(pid).unwrap_or(0);
    let per_flow = if held > 0 {
        (rss.saturating_sub(rss_idle) * 1024) / held as u64
    } else {
        0
    };
    let mut r = Report::new("sip-flows");
    r.config = json!({"flows_requested": wanted, "nofile_limit": nofile, "server": "msrp-bench sip-serve (a child process)"});
    r.results = json!({
        "flows_attempted": n,
        "flows_registered": held,
        "failed": failed,
        "pongs": pongs,
        "setup_s": secs,
        "server_rss_idle_kib": rss_idle,
        "server_rss_kib": rss,
        "server_rss_per_flow_bytes": per_flow,
        "server_rss_projected_100k_kib": per_flow * 100_000 / 1024 + rss_idle,
        "target_rss_kib": 1024 * 1024,
    });
    drop(child);
    if held < n as usize {
        r.errors.push(format!("{held} of {n} flows registered"));
    }
    if per_flow * 100_000 / 1024 + rss_idle > 1024 * 1024 {
        r.errors
            .push("projected memory for 100k flows above 1 GiB".into());
    }
    r.summary =
        format!("sip-flows: {held} flows held, {per_flow} B of server RSS per flow, {pongs} pongs");
    r.emit()
}

async fn hold_flows(server: SocketAddr, n: u64) -> (usize, usize, usize) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpSocket;
    let mut conns = Vec::with_capacity(n as usize);
    let mut failed = 0;
    let per_ip = 25_000u64;
    let mut buf = vec![0u8; 2048];
    for i in 0..n {
        let src = Ipv4Addr::new(127, 0, 1 + (i / per_ip) as u8, 1);
        let sock = match TcpSocket::new_v4() {
            Ok(s) => s,
            Err(_) => {
                failed += 1;
                continue;
            }
        };
        if sock.bind(SocketAddr::new(IpAddr::V4(src), 0)).is_err() {
            failed += 1;
            continue;
        }
        let Ok(mut s) = sock.connect(server).await else {
            failed += 1;
            continue;
        };
        let local = s.local_addr().map(|a| a.to_string()).unwrap_or_default();
        let reg = format!(
            "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/TCP {local};branch=z9hG4bKf{i};rport\r\n\
Max-Forwards: 70\r\nFrom: <sip:u{i}@example.com>;tag=t{i}\r\nTo: <sip:u{i}@example.com>\r\n\
Call-ID: flow{i}\r\nCSeq: 1 REGISTER\r\nSupported: path, outbound\r\n\
Contact: <sip:u{i}@{local};transport=tcp;ob>;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-{i:012}>\";reg-id=1\r\n\
Expires: 3600\r\nContent-Length: 0\r\n\r\n"
        );
        if s.write_all(reg.as_bytes()).await.is_err() {
            failed += 1;
            continue;
        }
        match tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf)).await {
            Ok(Ok(m)) if m > 12 && buf[..m].starts_with(b"SIP/2.0 200") => conns.push(s),
            _ => failed += 1,
        }
        if failed > 50 {
            break;
        }
    }
    // One keep-alive round: CRLFCRLF ping, CRLF pong.
    let mut pongs = 0;
    for s in &mut conns {
        if s.write_all(b"\r\n\r\n").await.is_ok() {
            if let Ok(Ok(2)) = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await
            {
                if &buf[..2] == b"\r\n" {
                    pongs += 1;
                }
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    (conns.len(), failed, pongs)
}
