//! SIP registrar benchmarks.
//!
//! `register`: the same sipp REGISTER load (SIP Outbound over TCP, `bench/peers/
//! register_load.xml`) against msrpd's registrar (in this process, 2 tokio workers) and against
//! Kamailio (registrar + usrloc in memory + path + outbound, `bench/peers/`), one after the
//! other in the same run, on the same cores; prints both rates and the ratio as JSON.
//!
//! `sip-flows`: holds N registered outbound TCP flows against a separate `sip-serve` process,
//! pings each with CRLFCRLF, and reports that process's resident memory.
//!
//! `sip-serve`: runs the SIP server alone (used by `sip-flows`).

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream as StdTcp};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use controlplane::sip::{SipConfig, SipServer, TransportKind};

fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("peers")
}

fn arg(args: &[String], name: &str, default: u64) -> u64 {
    args.windows(2)
        .find(|w| w[0] == name)
        .and_then(|w| w[1].parse().ok())
        .unwrap_or(default)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// Kills a child by PID when dropped.
struct Reaped(Child);
impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the sipp load against `target`; returns REGISTERs per second.
fn sipp_rate(target: SocketAddr, calls: u64, limit: u64) -> Result<f64, String> {
    let scenario = peers_dir().join("register_load.xml");
    let sipp_port = free_port().to_string();
    let t0 = Instant::now();
    let mut child = Command::new("sipp")
        .arg(target.to_string())
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
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("sipp: {e}"))?;
    let status = child.wait().map_err(|e| e.to_string())?;
    let secs = t0.elapsed().as_secs_f64();
    if !status.success() {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            use std::io::Read;
            let _ = e.read_to_string(&mut err);
        }
        return Err(format!("sipp exited {status}: {}", err.trim()));
    }
    Ok(calls as f64 / secs)
}

fn wait_port(a: SocketAddr, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if StdTcp::connect_timeout(&a, Duration::from_millis(200)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

fn server_config(tcp: SocketAddr) -> SipConfig {
    let mut cfg = SipConfig::default();
    cfg.core.domains = vec!["example.com".into()];
    cfg.core.realm = "example.com".into();
    cfg.udp = vec![];
    cfg.tcp = vec![tcp];
    cfg
}

/// `msrp-bench register [--calls N] [--limit L]`
pub fn register(args: &[String]) -> i32 {
    let calls = arg(args, "--calls", 50_000);
    let limit = arg(args, "--limit", 200);
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
    let srv = match rt.block_on(SipServer::start(
        server_config("127.0.0.1:0".parse().expect("literal")),
        None,
    )) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("msrpd sip server: {e}");
            return 1;
        }
    };
    let ours_addr = srv.local_addr(TransportKind::Tcp).expect("tcp listener");
    let ours = sipp_rate(ours_addr, calls, limit);
    let bindings = srv.location().len();
    drop(srv);
    drop(rt);

    let kport = free_port();
    let work = std::env::temp_dir().join(format!("msrp-bench-kamailio-{}", std::process::id()));
    let kam = Command::new(peers_dir().join("kamailio-registrar.sh"))
        .arg(kport.to_string())
        .arg(&work)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(Reaped);
    let kaddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), kport);
    let theirs = match kam {
        Ok(_) if !wait_port(kaddr, Duration::from_secs(10)) => {
            Err("kamailio did not start".to_string())
        }
        Ok(k) => {
            let r = sipp_rate(kaddr, calls, limit);
            drop(k);
            r
        }
        Err(e) => Err(format!("kamailio: {e}")),
    };
    let _ = std::fs::remove_dir_all(&work);

    let json = serde_json::json!({
        "scenario": "register",
        "transport": "tcp",
        "outbound": true,
        "calls": calls,
        "concurrency": limit,
        "msrpd_per_s": ours.as_ref().ok(),
        "msrpd_bindings_after": bindings,
        "kamailio_per_s": theirs.as_ref().ok(),
        "ratio_msrpd_over_kamailio": match (&ours, &theirs) {
            (Ok(a), Ok(b)) if *b > 0.0 => Some(a / b),
            _ => None,
        },
        "errors": [ours.as_ref().err(), theirs.as_ref().err()],
    });
    println!("{json}");
    i32::from(ours.is_err() || theirs.is_err())
}

/// `msrp-bench sip-parse [--iters N]`: parser throughput on an outbound REGISTER
/// (parse + validate + Contact params), single core.
pub fn parse_rate(args: &[String]) -> i32 {
    use controlplane::sip::wire::{Framing, HeaderName, Limits, Message, NameAddr};
    let iters = arg(args, "--iters", 1_000_000);
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
    println!(
        "{}",
        serde_json::json!({"scenario": "sip-parse", "iters": iters, "ok": ok, "per_s": iters as f64 / secs, "ns_per_msg": secs * 1e9 / iters as f64})
    );
    i32::from(ok != iters)
}

/// `msrp-bench sip-serve --port P`: the SIP server alone on 127.0.0.1:P (TCP), until killed.
pub fn serve(args: &[String]) -> i32 {
    let port = arg(args, "--port", 15060) as u16;
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
pub fn flows(args: &[String]) -> i32 {
    let wanted = arg(args, "--flows", 100_000);
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
    let json = serde_json::json!({
        "scenario": "sip-flows",
        "flows_requested": wanted,
        "flows_attempted": n,
        "nofile_limit": nofile,
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
    println!("{json}");
    drop(child);
    i32::from(held < n as usize || per_flow * 100_000 / 1024 + rss_idle > 1024 * 1024)
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
