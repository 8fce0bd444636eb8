//! Backend comparison on one veth pair (run as root, `--features dpdk`, release build):
//! the `dpdk_echo` server with the kernel backend, DPDK `net_af_packet` and DPDK `net_af_xdp`
//! in one network namespace, pinned to one core, driven by the kernel-socket load generator
//! (`dpdk_echo --mode load`) from another namespace pinned to the other core. Prints one JSON
//! line per run and a Markdown table; compare figures within one run only.
//!
//! ```text
//! cargo build --release --features dpdk -p dataplane --examples
//! target/release/examples/dpdk_bench [--secs 4] [--reps 3] [--quick] [--stack-only]
//! ```
//!
//! Also measures sockets-per-interface against messages/s (1000 connections), and the cost of
//! the copies smoltcp imposes (caller -> socket buffer -> frame) per 100-byte message.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SRV: &str = "198.18.0.2";
const CLI: &str = "198.18.0.1";

fn sh(args: &[&str]) -> Result<(), String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{args:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

struct Topo {
    srv: String,
    cli: String,
    a: String,
    b: String,
}

impl Topo {
    fn new() -> Result<Self, String> {
        let id = std::process::id() % 100_000;
        let t = Topo {
            srv: format!("dpb{id}s"),
            cli: format!("dpb{id}c"),
            a: format!("dpb{id}a"),
            b: format!("dpb{id}b"),
        };
        let (s, c, a, b) = (&t.srv, &t.cli, &t.a, &t.b);
        sh(&["ip", "netns", "add", s])?;
        sh(&["ip", "netns", "add", c])?;
        sh(&[
            "ip", "link", "add", a, "netns", s, "type", "veth", "peer", "name", b, "netns", c,
        ])?;
        for (ns, dev) in [(s, "lo"), (c, "lo"), (s, a.as_str())] {
            sh(&["ip", "-n", ns, "link", "set", dev, "up"])?;
        }
        let v6 = format!("net.ipv6.conf.{a}.disable_ipv6=1");
        sh(&["ip", "netns", "exec", s, "sysctl", "-qw", &v6])?;
        sh(&["ip", "-n", c, "addr", "add", &format!("{CLI}/24"), "dev", b])?;
        sh(&["ip", "-n", c, "link", "set", b, "up"])?;
        sh(&[
            "ip", "netns", "exec", c, "ethtool", "-K", b, "tx", "off", "tso", "off", "gso", "off",
            "gro", "off",
        ])?;
        sh(&[
            "ip", "netns", "exec", s, "ethtool", "-K", a, "tx", "off", "tso", "off", "gso", "off",
            "gro", "off", "rx", "off",
        ])?;
        Ok(t)
    }

    /// The kernel backend needs the address on the kernel's end; DPDK must not share it.
    fn kernel_addr(&self, on: bool) {
        let verb = if on { "add" } else { "del" };
        let _ = sh(&[
            "ip",
            "-n",
            &self.srv,
            "addr",
            verb,
            &format!("{SRV}/24"),
            "dev",
            &self.a,
        ]);
    }
}

impl Drop for Topo {
    fn drop(&mut self) {
        let _ = sh(&["ip", "netns", "del", &self.srv]);
        let _ = sh(&["ip", "netns", "del", &self.cli]);
    }
}

struct Server {
    child: Child,
    lines: Arc<Mutex<Vec<(Instant, String)>>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_server(bin: &Path, topo: &Topo, args: &[String]) -> Result<Server, String> {
    let mut child = Command::new("ip")
        .args(["netns", "exec", &topo.srv])
        .arg(bin)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let out = child.stdout.take().ok_or("no stdout")?;
    let lines = Arc::new(Mutex::new(Vec::new()));
    let l2 = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Ok(mut l) = l2.lock() {
                l.push((Instant::now(), line));
            }
        }
    });
    let s = Server { child, lines };
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if s.lines
            .lock()
            .map(|l| l.iter().any(|(_, x)| x.starts_with("READY")))
            .unwrap_or(false)
        {
            return Ok(s);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err("server not ready".into())
}

/// utime + stime of a process, in seconds.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = [11usize, 12]
        .iter()
        .filter_map(|&i| f.get(i).and_then(|v| v.parse::<f64>().ok()))
        .sum();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    ticks / hz.max(1.0)
}

fn json_num(line: &str, key: &str) -> Option<f64> {
    let pat = format!("\"{key}\":");
    let at = line.find(&pat)? + pat.len();
    let rest = &line[at..];
    let end = rest
        .find(|c: char| c != '.' && c != '-' && !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

struct Case {
    name: &'static str,
    vdev: Option<&'static str>,
    idle_sleep_us: u64,
}

struct Scenario {
    name: &'static str,
    conns: usize,
    window: usize,
    fanout: usize,
    sink: bool,
}

#[derive(Default)]
struct Row {
    case: String,
    scenario: String,
    msgs_per_s: f64,
    mbit_per_s: f64,
    server_cpu: f64,
    us_per_msg: f64,
    client_cpu: f64,
    total_us_per_msg: f64,
}

#[allow(clippy::too_many_arguments)]
fn run_one(
    bin: &Path,
    topo: &Topo,
    case: &Case,
    sc: &Scenario,
    secs: f64,
    sockets_per_iface: usize,
) -> Result<Row, String> {
    topo.kernel_addr(case.vdev.is_none());
    let mut args: Vec<String> = vec![
        "--core".into(),
        "1".into(),
        "--stats-ms".into(),
        "200".into(),
    ];
    match case.vdev {
        None => {
            args.extend(["--backend", "kernel", "--listen"].map(String::from));
            args.push(format!("{SRV}:7000"));
        }
        Some(v) => {
            args.extend(["--backend", "dpdk", "--vdev"].map(String::from));
            args.push(v.replace("IFACE", &topo.a));
            args.extend([
                "--mbufs".into(),
                "16383".into(),
                "--idle-sleep-us".into(),
                case.idle_sleep_us.to_string(),
                "--sockets-per-iface".into(),
                sockets_per_iface.to_string(),
            ]);
        }
    }
    if sc.sink {
        args.extend(["--mode".into(), "sink".into()]);
    }
    args.extend(["--fanout".into(), sc.fanout.to_string()]);
    let server = spawn_server(bin, topo, &args)?;
    let pid = server.child.id();
    let mode = if sc.sink { "load-sink" } else { "load" };
    let t_start = Instant::now();
    let client = Command::new("ip")
        .args(["netns", "exec", &topo.cli])
        .arg(bin)
        .args([
            "--backend",
            "kernel",
            "--core",
            "0",
            "--mode",
            mode,
            "--connect",
        ])
        .arg(format!("{SRV}:7000"))
        .args(["--conns", &sc.conns.to_string()])
        .args(["--window", &sc.window.to_string()])
        .args(["--fanout", &sc.fanout.to_string()])
        .args(["--secs", &secs.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let cpid = client.id();
    // CPU of both processes inside the steady state: from 1 s after the start (connections
    // are up) to 0.3 s before the generator stops. On a veth much of the kernel's TCP work runs
    // in softirq charged to whichever process sent the packet, so the sum is the fair figure.
    let window = (secs - 1.3).max(0.5);
    let sampler = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1000));
        let a = (cpu_secs(pid), cpu_secs(cpid));
        std::thread::sleep(Duration::from_secs_f64(window));
        (a, (cpu_secs(pid), cpu_secs(cpid)))
    });
    let deadline = Instant::now() + Duration::from_secs_f64(secs + 60.0);
    let mut client = client;
    loop {
        if client.try_wait().map_err(|e| e.to_string())?.is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = client.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = client.wait_with_output().map_err(|e| e.to_string())?;
    let t_end = Instant::now();
    let ((s0, k0), (s1, k1)) = sampler.join().unwrap_or(((0.0, 0.0), (0.0, 0.0)));
    let (c0, c1) = (s0, s1);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let load = stdout
        .lines()
        .find(|l| l.starts_with("LOAD "))
        .ok_or_else(|| format!("load generator: {stdout}"))?;
    let mut msgs_per_s = json_num(load, "msgs_per_s").unwrap_or(0.0);
    let mut bytes_per_s = json_num(load, "bytes_per_s").unwrap_or(0.0);
    if sc.sink {
        // What the server actually received, from its counters inside the measured window.
        let lines = server.lines.lock().map(|l| l.clone()).unwrap_or_default();
        let from = t_start + Duration::from_millis(1500);
        let stats: Vec<(f64, f64)> = lines
            .iter()
            .filter(|(t, l)| *t >= from && *t <= t_end && l.starts_with("STATS"))
            .filter_map(|(_, l)| Some((json_num(l, "t_ms")?, json_num(l, "bytes_in")?)))
            .collect();
        if let (Some(a), Some(b)) = (stats.first(), stats.last()) {
            if b.0 > a.0 {
                bytes_per_s = (b.1 - a.1) / ((b.0 - a.0) / 1000.0);
                msgs_per_s = bytes_per_s / 100.0;
            }
        }
    }
    let server_cpu = (c1 - c0) / window;
    let client_cpu = (k1 - k0) / window;
    drop(server);
    let msgs_total = msgs_per_s * window;
    let row = Row {
        case: case.name.into(),
        scenario: sc.name.into(),
        msgs_per_s,
        mbit_per_s: bytes_per_s * 8.0 / 1e6,
        server_cpu,
        us_per_msg: if msgs_total > 0.0 {
            (c1 - c0) / msgs_total * 1e6
        } else {
            0.0
        },
        total_us_per_msg: if msgs_total > 0.0 {
            (c1 - c0 + k1 - k0) / msgs_total * 1e6
        } else {
            0.0
        },
        client_cpu,
    };
    println!(
        "{{\"case\":\"{}\",\"scenario\":\"{}\",\"sockets_per_iface\":{},\"msgs_per_s\":{:.0},\
         \"mbit_per_s\":{:.1},\"server_cpu\":{:.2},\"server_us_per_msg\":{:.2},\
         \"client_cpu\":{:.2},\"total_us_per_msg\":{:.2}}}",
        row.case,
        row.scenario,
        sockets_per_iface,
        row.msgs_per_s,
        row.mbit_per_s,
        row.server_cpu,
        row.us_per_msg,
        row.client_cpu,
        row.total_us_per_msg
    );
    Ok(row)
}

mod stack {
    //! smoltcp alone, in memory: two interfaces joined by queues, `n` established connections
    //! between them, one of which ping-pongs 100-byte messages. Shows what a socket set of `n`
    //! costs per packet (smoltcp walks the set on every ingress and egress), with no NIC and no
    //! kernel in the way.

    use std::collections::VecDeque;
    use std::time::Instant as StdInstant;

    use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
    use smoltcp::phy::{self, DeviceCapabilities, Medium};
    use smoltcp::socket::tcp;
    use smoltcp::time::Instant;
    use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr};

    struct Mem<'a> {
        rx: &'a mut VecDeque<Vec<u8>>,
        tx: &'a mut VecDeque<Vec<u8>>,
    }
    struct Rx(Vec<u8>);
    struct Tx<'a>(&'a mut VecDeque<Vec<u8>>);

    impl phy::RxToken for Rx {
        fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
            f(&self.0)
        }
    }
    impl phy::TxToken for Tx<'_> {
        fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
            let mut v = vec![0; len];
            let r = f(&mut v);
            self.0.push_back(v);
            r
        }
    }
    impl phy::Device for Mem<'_> {
        type RxToken<'b>
            = Rx
        where
            Self: 'b;
        type TxToken<'b>
            = Tx<'b>
        where
            Self: 'b;
        fn receive(&mut self, _: Instant) -> Option<(Rx, Tx<'_>)> {
            let f = self.rx.pop_front()?;
            Some((Rx(f), Tx(self.tx)))
        }
        fn transmit(&mut self, _: Instant) -> Option<Tx<'_>> {
            Some(Tx(self.tx))
        }
        fn capabilities(&self) -> DeviceCapabilities {
            let mut c = DeviceCapabilities::default();
            c.medium = Medium::Ethernet;
            c.max_transmission_unit = 1514;
            c
        }
    }

    struct Side {
        iface: Interface,
        set: SocketSet<'static>,
    }

    fn side(
        mac: u8,
        ip: [u8; 4],
        now: Instant,
        q: &mut (VecDeque<Vec<u8>>, VecDeque<Vec<u8>>),
    ) -> Side {
        let mut dev = Mem {
            rx: &mut q.0,
            tx: &mut q.1,
        };
        let cfg = Config::new(HardwareAddress::Ethernet(EthernetAddress([
            2, 0, 0, 0, 0, mac,
        ])));
        let mut iface = Interface::new(cfg, &mut dev, now);
        iface.update_ip_addrs(|a| {
            let _ = a.push(IpCidr::new(IpAddress::v4(ip[0], ip[1], ip[2], ip[3]), 24));
        });
        Side {
            iface,
            set: SocketSet::new(Vec::new()),
        }
    }

    fn sock() -> tcp::Socket<'static> {
        let mut s = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; 4096]),
            tcp::SocketBuffer::new(vec![0; 4096]),
        );
        s.set_ack_delay(None);
        s.set_nagle_enabled(false);
        s
    }

    /// Round trips per second of one connection among `n` on each interface.
    pub fn round_trips_per_s(n: usize, trips: usize) -> f64 {
        let t0 = StdInstant::now();
        let now = || Instant::from_micros(t0.elapsed().as_micros() as i64);
        // (client rx, server rx)
        let mut c2s: VecDeque<Vec<u8>> = VecDeque::new();
        let mut s2c: VecDeque<Vec<u8>> = VecDeque::new();
        let mut qa = (VecDeque::new(), VecDeque::new());
        let mut qb = (VecDeque::new(), VecDeque::new());
        let mut cli = side(1, [10, 0, 0, 1], now(), &mut qa);
        let mut srv = side(2, [10, 0, 0, 2], now(), &mut qb);
        let mut srv_h: Vec<SocketHandle> = Vec::new();
        let mut cli_h: Vec<SocketHandle> = Vec::new();
        for i in 0..n {
            let mut l = sock();
            let _ = l.listen(80);
            srv_h.push(srv.set.add(l));
            let mut c = sock();
            let _ = c.connect(
                cli.iface.context(),
                (IpAddress::v4(10, 0, 0, 2), 80),
                10000 + i as u16,
            );
            cli_h.push(cli.set.add(c));
        }
        let step = |cli: &mut Side,
                    srv: &mut Side,
                    c2s: &mut VecDeque<Vec<u8>>,
                    s2c: &mut VecDeque<Vec<u8>>| {
            let t = now();
            cli.iface
                .poll(t, &mut Mem { rx: s2c, tx: c2s }, &mut cli.set);
            srv.iface
                .poll(t, &mut Mem { rx: c2s, tx: s2c }, &mut srv.set);
        };
        for _ in 0..(n * 4 + 100) {
            step(&mut cli, &mut srv, &mut c2s, &mut s2c);
            if srv_h
                .iter()
                .all(|&h| srv.set.get::<tcp::Socket>(h).state() == tcp::State::Established)
            {
                break;
            }
        }
        let (ch, sh) = (cli_h[0], {
            let remote = cli.set.get::<tcp::Socket>(cli_h[0]).local_endpoint();
            srv_h
                .iter()
                .copied()
                .find(|&h| srv.set.get::<tcp::Socket>(h).remote_endpoint() == remote)
                .unwrap_or(srv_h[0])
        });
        let msg = [1u8; 100];
        let mut buf = [0u8; 4096];
        let start = StdInstant::now();
        let mut done = 0;
        for _ in 0..trips {
            let _ = cli.set.get_mut::<tcp::Socket>(ch).send_slice(&msg);
            step(&mut cli, &mut srv, &mut c2s, &mut s2c);
            let s = srv.set.get_mut::<tcp::Socket>(sh);
            if let Ok(k) = s.recv_slice(&mut buf) {
                let _ = s.send_slice(&buf[..k]);
            }
            step(&mut cli, &mut srv, &mut c2s, &mut s2c);
            if let Ok(k) = cli.set.get_mut::<tcp::Socket>(ch).recv_slice(&mut buf) {
                done += usize::from(k > 0);
            }
        }
        done as f64 / start.elapsed().as_secs_f64()
    }
}

/// Per-message cost of smoltcp's copies: caller -> socket ring buffer (`send_slice`), and
/// ring buffer -> frame (dispatch). Measured on smoltcp's own ring buffer type.
fn copy_cost(msg: usize) -> f64 {
    use smoltcp::storage::RingBuffer;
    let mut ring = RingBuffer::new(vec![0u8; 64 * 1024]);
    let src = vec![7u8; msg];
    let mut dst = vec![0u8; msg];
    let n = 5_000_000usize;
    let t = Instant::now();
    for _ in 0..n {
        let a = ring.enqueue_slice(std::hint::black_box(&src));
        let b = ring.dequeue_slice(std::hint::black_box(&mut dst));
        std::hint::black_box((a, b));
    }
    t.elapsed().as_nanos() as f64 / n as f64
}

fn main() {
    let mut secs = 4.0;
    let mut quick = false;
    let mut stack_only = false;
    let mut reps = 3usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--secs" => secs = args.next().and_then(|v| v.parse().ok()).unwrap_or(secs),
            "--quick" => quick = true,
            "--reps" => {
                reps = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(reps)
                    .max(1)
            }
            "--stack-only" => stack_only = true,
            _ => {
                eprintln!("usage: dpdk_bench [--secs N] [--reps N] [--quick] [--stack-only]");
                std::process::exit(2);
            }
        }
    }
    if stack_only {
        println!("| sockets per interface | round trips/s | µs per round trip |");
        println!("|---|---|---|");
        for n in [1usize, 8, 16, 32, 64, 256, 1024, 4096] {
            let rt = stack::round_trips_per_s(n, if n > 1000 { 3000 } else { 20000 });
            println!("| {n} | {rt:.0} | {:.2} |", 1e6 / rt.max(1.0));
        }
        println!("copies per 100-byte message: {:.1} ns", copy_cost(100));
        return;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("dpdk_bench: needs root (network namespaces, AF_PACKET, XDP)");
        std::process::exit(2);
    }
    let bin: PathBuf = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("dpdk_echo")))
        .filter(|p| p.exists())
        .unwrap_or_else(|| {
            eprintln!("dpdk_bench: build the dpdk_echo example next to it (--examples)");
            std::process::exit(2)
        });
    let topo = match Topo::new() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("dpdk_bench: topology: {e}");
            std::process::exit(1);
        }
    };
    let cases = [
        Case {
            name: "kernel",
            vdev: None,
            idle_sleep_us: 0,
        },
        Case {
            name: "dpdk af_packet busy-poll",
            vdev: Some("net_af_packet0,iface=IFACE"),
            idle_sleep_us: 0,
        },
        Case {
            name: "dpdk af_packet idle-sleep 5us",
            vdev: Some("net_af_packet0,iface=IFACE"),
            idle_sleep_us: 5,
        },
        Case {
            name: "dpdk af_xdp busy-poll",
            vdev: Some("net_af_xdp0,iface=IFACE,start_queue=0,queue_count=1"),
            idle_sleep_us: 0,
        },
        Case {
            name: "dpdk af_xdp idle-sleep 5us",
            vdev: Some("net_af_xdp0,iface=IFACE,start_queue=0,queue_count=1"),
            idle_sleep_us: 5,
        },
    ];
    let scenarios = [
        Scenario {
            name: "echo 100 B, 100 conns x 16 in flight",
            conns: 100,
            window: 16,
            fanout: 1,
            sink: false,
        },
        Scenario {
            name: "fan-out x8 100 B, 100 conns x 4 in flight",
            conns: 100,
            window: 4,
            fanout: 8,
            sink: false,
        },
        Scenario {
            name: "sink 100 B writes, 100 conns",
            conns: 100,
            window: 1,
            fanout: 1,
            sink: true,
        },
    ];
    // Interleaved repetitions (the machine is shared: compare medians within this run).
    let mut rows: Vec<Row> = Vec::new();
    for _rep in 0..reps {
        for sc in &scenarios {
            for case in &cases {
                if quick && case.idle_sleep_us > 0 {
                    continue;
                }
                match run_one(&bin, &topo, case, sc, secs, 16) {
                    Ok(r) => rows.push(r),
                    Err(e) => eprintln!("{} / {}: {e}", case.name, sc.name),
                }
            }
        }
    }
    let median = |mut v: Vec<f64>| -> f64 {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    println!();
    println!(
        "| scenario | backend | msgs/s (median of {reps}) | vs kernel | Mbit/s | server CPU | server µs/msg | server+client µs/msg |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for sc in &scenarios {
        let pick = |case: &str, f: &dyn Fn(&Row) -> f64| {
            median(
                rows.iter()
                    .filter(|r| r.case == case && r.scenario == sc.name)
                    .map(f)
                    .collect(),
            )
        };
        let base = pick("kernel", &|r| r.msgs_per_s);
        for case in &cases {
            let m = pick(case.name, &|r| r.msgs_per_s);
            if m == 0.0 {
                continue;
            }
            println!(
                "| {} | {} | {:.0} | {:.2}x | {:.1} | {:.0}% | {:.2} | {:.2} |",
                sc.name,
                case.name,
                m,
                if base > 0.0 { m / base } else { 0.0 },
                pick(case.name, &|r| r.mbit_per_s),
                pick(case.name, &|r| r.server_cpu) * 100.0,
                pick(case.name, &|r| r.us_per_msg),
                pick(case.name, &|r| r.total_us_per_msg)
            );
        }
    }

    // Sockets per interface: 1000 connections, echo, af_packet, busy poll.
    let sweep_case = Case {
        name: "dpdk af_packet busy-poll",
        vdev: Some("net_af_packet0,iface=IFACE"),
        idle_sleep_us: 0,
    };
    let sweep_sc = Scenario {
        name: "echo 100 B, 1000 conns x 2 in flight",
        conns: 1000,
        window: 2,
        fanout: 1,
        sink: false,
    };
    let sizes: &[usize] = if quick {
        &[16, 1024]
    } else {
        &[8, 16, 64, 1024]
    };
    println!();
    println!("| sockets per interface | interfaces for 1000 conns | msgs/s |");
    println!("|---|---|---|");
    let mut sweep = Vec::new();
    for &s in sizes {
        match run_one(&bin, &topo, &sweep_case, &sweep_sc, secs, s) {
            Ok(r) => sweep.push((s, r.msgs_per_s)),
            Err(e) => eprintln!("sweep {s}: {e}"),
        }
    }
    for (s, m) in sweep {
        println!("| {s} | {} | {m:.0} |", 1000usize.div_ceil(s));
    }
    println!();
    println!("smoltcp alone: one connection ping-pongs 100 B among n connections per interface");
    println!("| sockets per interface | round trips/s | µs per round trip |");
    println!("|---|---|---|");
    for n in [1usize, 8, 16, 32, 64, 256, 1024, 4096] {
        let rt = stack::round_trips_per_s(n, if n > 1000 { 3000 } else { 20000 });
        println!("| {n} | {rt:.0} | {:.2} |", 1e6 / rt.max(1.0));
    }
    let ns = copy_cost(100);
    println!();
    println!(
        "smoltcp copies per 100-byte message (into the socket ring and out of it): {ns:.1} ns"
    );
    drop(topo);
}
