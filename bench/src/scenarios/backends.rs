//! `backends` scenario: the `relay` traffic against the msrpd binary on the kernel backend and
//! on the DPDK backend (`net_af_packet`, and `net_af_xdp` when it starts), on the same veth
//! pair, the same core and in the same run, alternating; per-core figures and the ratios to
//! the kernel backend.
//!
//! Topology (root): two network namespaces joined by a veth pair, checksum offload and
//! TSO/GSO/GRO off on both ends (smoltcp needs whole checksummed segments; the kernel run gets
//! the same veth). msrpd runs in the server namespace, pinned to the target core, as
//! `ip netns exec <srv> msrpd -c <cfg>`; with the kernel backend the veth end carries
//! 198.18.0.2/24, with DPDK the address is removed from the kernel and given to the DPDK port.
//! The generator (one thread, pinned to the generator core) enters the client namespace.
//! Everything is removed by PID and `ip netns del` at the end.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::relay::run::{self as relay_run, RelayEndpoint, RelayOpts, RelayOutcome};
use crate::report::{get_f64, human_rate, median, ratio, Report};
use crate::sys;
use crate::targets::{msrpd_binary, Pinning, MSRPD_USER};

/// The DPDK side's address; the client side is `.1`.
const SRV_IP: &str = "198.18.0.2";
const CLI_IP: &str = "198.18.0.1";
const PORT: u16 = 2855;

/// `msrp-bench backends`
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Backends to compare, in order: kernel, af_packet, af_xdp.
    #[arg(long, value_delimiter = ',', default_value = "kernel,af_packet,af_xdp")]
    pub backends: Vec<String>,
    /// Sessions (pairs of connections through the relay).
    #[arg(long, default_value_t = 10)]
    pub sessions: usize,
    /// Message body size in bytes.
    #[arg(long, default_value_t = 100)]
    pub size: usize,
    /// Messages in flight per session.
    #[arg(long, default_value_t = 16)]
    pub window: usize,
    /// Measured seconds per run.
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
    /// Warm-up seconds per run.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// Rounds (each runs every backend once).
    #[arg(long, default_value_t = 2)]
    pub alternations: usize,
    /// DPDK `idle_sleep_us`: 0 busy-polls the core (a dedicated core); more parks when idle.
    #[arg(long, default_value_t = 0)]
    pub idle_sleep_us: u64,
    /// Core of msrpd's worker (default: the last core).
    #[arg(long)]
    pub target_core: Option<usize>,
    #[command(flatten)]
    pub common: crate::CommonArgs,
}

/// A pair of namespaces and a veth, removed on drop.
struct Topology {
    srv: String,
    cli: String,
    srv_if: String,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Topology {
    fn create() -> Result<Topology, String> {
        let tag = std::process::id() % 100_000;
        let t = Topology {
            srv: format!("mbk{tag}s"),
            cli: format!("mbk{tag}c"),
            srv_if: format!("mbk{tag}a"),
        };
        let cli_if = format!("mbk{tag}b");
        let (s, c, a, b) = (&t.srv, &t.cli, &t.srv_if, &cli_if);
        ip(&["netns", "add", s])?;
        ip(&["netns", "add", c])?;
        ip(&[
            "link", "add", a, "netns", s, "type", "veth", "peer", "name", b, "netns", c,
        ])?;
        ip(&["-n", s, "link", "set", "lo", "up"])?;
        ip(&["-n", c, "link", "set", "lo", "up"])?;
        let v6 = format!("net.ipv6.conf.{a}.disable_ipv6=1");
        ip(&["netns", "exec", s, "sysctl", "-qw", &v6])?;
        ip(&["-n", s, "link", "set", a, "up"])?;
        ip(&["-n", c, "addr", "add", &format!("{CLI_IP}/24"), "dev", b])?;
        ip(&["-n", c, "link", "set", b, "up"])?;
        ip(&[
            "netns", "exec", c, "ethtool", "-K", b, "tx", "off", "tso", "off", "gso", "off", "gro",
            "off",
        ])?;
        ip(&[
            "netns", "exec", s, "ethtool", "-K", a, "tx", "off", "tso", "off", "gso", "off", "gro",
            "off", "rx", "off",
        ])?;
        Ok(t)
    }

    /// Gives the server end's address to the kernel (kernel backend) or takes it away (DPDK).
    fn kernel_address(&self, on: bool) -> Result<(), String> {
        let _ = ip(&["-n", &self.srv, "addr", "flush", "dev", &self.srv_if]);
        let _ = ip(&[
            "-n",
            &self.srv,
            "link",
            "set",
            "dev",
            &self.srv_if,
            "xdp",
            "off",
        ]);
        // Neighbour entries of the previous run point at another MAC (DPDK's is the veth's own,
        // but stale entries cost a retransmission): start clean.
        let _ = ip(&["-n", &self.cli, "neigh", "flush", "all"]);
        if on {
            ip(&[
                "-n",
                &self.srv,
                "addr",
                "add",
                &format!("{SRV_IP}/24"),
                "dev",
                &self.srv_if,
            ])?;
        }
        Ok(())
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.srv]);
        let _ = ip(&["netns", "del", &self.cli]);
    }
}

/// msrpd's configuration for `backend` on `core`.
fn msrpd_toml(backend: &str, iface: &str, core: usize, idle_sleep_us: u64) -> String {
    let common = format!(
        "[relay]\nrequire_auth = true\nmax_connections = 19000\nidle_timeout_secs = 3600\n\
         [[relay.users]]\nname = {:?}\npassword = {:?}\n\n[log]\nlevel = \"warn\"\n",
        MSRPD_USER.0, MSRPD_USER.1
    );
    if backend == "kernel" {
        return format!(
            "[dataplane]\nworkers = 1\ncores = [{core}]\n\n[msrp]\nhost = \"{SRV_IP}\"\n\
             listen = [\"{SRV_IP}:{PORT}\"]\n\n{common}"
        );
    }
    let (vdev, port, mbufs) = match backend {
        "af_xdp" => (format!("net_af_xdp0,iface={iface}"), "net_af_xdp0", 16383),
        _ => (
            format!("net_af_packet0,iface={iface}"),
            "net_af_packet0",
            8191,
        ),
    };
    format!(
        "[dataplane]\nbackend = \"dpdk\"\nworkers = 1\n\n[msrp]\nhost = \"{SRV_IP}\"\n\
         listen = [\"0.0.0.0:{PORT}\"]\n\n{common}\n[dpdk]\n\
         eal_args = [\"-l\", \"{core}\", \"--no-huge\", \"-m\", \"512\", \"--no-pci\", \"--no-shconf\", \"--vdev={vdev}\"]\n\
         port = \"{port}\"\ncores = [{core}]\nipv4 = {{ addr = \"{SRV_IP}\", prefix = 24 }}\n\
         mbufs_per_queue = {mbufs}\nidle_sleep_us = {idle_sleep_us}\n\n[dpdk.tcp]\n\
         rx_buffer = 65536\ntx_buffer = 65536\nsockets_per_interface = 16\n"
    )
}

/// msrpd running in the server namespace; stopped by PID on drop.
struct Msrpd {
    child: Child,
}

impl Msrpd {
    fn start(bin: &Path, topo: &Topology, cfg: &Path) -> Result<Msrpd, String> {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &topo.srv])
            .arg(bin)
            .arg("-c")
            .arg(cfg)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("{}: {e}", bin.display()))?;
        let out = child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if line.starts_with("msrpd: MSRP on ") {
                    let _ = tx.send(());
                }
            }
        });
        let mut m = Msrpd { child };
        if rx.recv_timeout(Duration::from_secs(30)).is_err() {
            let status = m.child.try_wait().ok().flatten();
            return Err(format!("msrpd did not start (exit: {status:?})"));
        }
        Ok(m)
    }

    /// `ip netns exec` execs msrpd: this is msrpd's own PID.
    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Msrpd {
    fn drop(&mut self) {
        // SAFETY: kill on the PID of our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `f` on a thread that entered network namespace `ns`, pinned to `core`.
fn in_netns<T: Send + 'static>(
    ns: &str,
    core: Option<usize>,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        use std::os::fd::AsRawFd;
        let file = std::fs::File::open(&path).map_err(|e| format!("{path}: {e}"))?;
        // SAFETY: setns on a valid namespace fd; it changes only this thread.
        if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(format!("setns: {}", std::io::Error::last_os_error()));
        }
        if let Some(c) = core {
            sys::pin_current_thread(c);
        }
        Ok(f())
    })
    .join()
    .map_err(|_| "generator thread panicked".to_string())?
}

/// One run of the relay traffic against `backend`.
fn one_run(
    bin: &Path,
    topo: &Topology,
    dir: &Path,
    backend: &str,
    args: &Args,
    pin: &Pinning,
    opts: &RelayOpts,
) -> Result<RelayOutcome, String> {
    let core = pin.target.first().copied().unwrap_or(0);
    topo.kernel_address(backend == "kernel")?;
    let cfg = dir.join(format!("msrpd-{backend}.toml"));
    std::fs::write(
        &cfg,
        msrpd_toml(backend, &topo.srv_if, core, args.idle_sleep_us),
    )
    .map_err(|e| e.to_string())?;
    let m = Msrpd::start(bin, topo, &cfg)?;
    if !pin.target.is_empty() {
        sys::pin_process(m.pid(), &pin.target);
    }
    let pid = m.pid();
    let ep = RelayEndpoint {
        addr: SocketAddr::new(SRV_IP.parse().map_err(|_| "address")?, PORT),
        uri: format!("msrp://{SRV_IP}:{PORT};tcp"),
        user: MSRPD_USER.0.into(),
        password: MSRPD_USER.1.into(),
        max_chunk: None,
    };
    let opts = opts.clone();
    let label = format!("msrpd-{backend}");
    let out = in_netns(&topo.cli, pin.generator, move || {
        relay_run::run(&opts, &ep, &|| sys::tree_cpu(pid), &label)
    })?;
    drop(m);
    let _ = ip(&[
        "-n",
        &topo.srv,
        "link",
        "set",
        "dev",
        &topo.srv_if,
        "xdp",
        "off",
    ]);
    Ok(out)
}

/// Entry point of `msrp-bench backends`.
pub fn main(args: &Args) -> i32 {
    run(args).emit()
}

/// Runs the comparison and returns its report.
pub fn run(args: &Args) -> Report {
    let mut r = Report::new("backends");
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        r.errors
            .push("needs root (network namespaces, AF_PACKET/AF_XDP)".into());
        r.summary = "backends: not root".into();
        return r;
    }
    let Some(bin) = msrpd_binary() else {
        r.errors.push(
            "msrpd binary not found: cargo build --release -p controlplane --features dpdk, or set MSRPD".into(),
        );
        r.summary = "backends: no msrpd".into();
        return r;
    };
    let mut pin = if args.common.no_pin {
        Pinning::none()
    } else {
        Pinning::auto()
    };
    if let Some(c) = args.target_core {
        pin.target = vec![c];
    }
    let topo = match Topology::create() {
        Ok(t) => t,
        Err(e) => {
            r.errors.push(e);
            r.summary = "backends: cannot build the veth topology".into();
            return r;
        }
    };
    let dir = match crate::targets::TempDir::new("backends") {
        Ok(d) => d,
        Err(e) => {
            r.errors.push(e.to_string());
            return r;
        }
    };
    let opts = RelayOpts {
        sessions: args.sessions.max(1),
        size: args.size,
        window: args.window.max(1),
        duration: Duration::from_secs_f64(args.duration.max(0.1)),
        warmup: Duration::from_secs_f64(args.warmup.max(0.0)),
        ..RelayOpts::default()
    };
    let mut runs: Vec<Value> = Vec::new();
    let mut unavailable: Vec<String> = Vec::new();
    let mut why_unavailable: Vec<String> = Vec::new();
    for round in 0..args.alternations.max(1) {
        for b in &args.backends {
            if unavailable.contains(b) {
                continue;
            }
            match one_run(&bin, &topo, dir.path(), b, args, &pin, &opts) {
                Ok(o) => {
                    eprintln!(
                        "backends round {} {b}: {} msgs/s, target {} µs/msg (core share {}), p99 {} µs",
                        round + 1,
                        human_rate(o.msgs_per_s()).trim_end_matches("/s"),
                        o.target_us_per_msg().map_or("?".into(), |v| format!("{v:.2}")),
                        o.target_cpu.map_or("?".into(), |c| format!(
                            "{:.2}",
                            c.total_us() / 1e6 / o.window_secs.max(1e-9)
                        )),
                        o.latency
                            .quantile_us(0.99)
                            .map_or("?".into(), |v| format!("{v:.0}")),
                    );
                    for e in &o.errors {
                        r.errors.push(format!("{b} round {}: {e}", round + 1));
                    }
                    runs.push(json!({
                        "backend": b,
                        "round": round + 1,
                        "ok": o.errors.is_empty(),
                        "results": o.results_json(opts.size),
                        "cpu": o.cpu_json(),
                    }));
                }
                Err(e) if b == "af_xdp" => {
                    // af_xdp needs a kernel and driver that take the XDP program: optional.
                    eprintln!("backends: af_xdp unavailable here: {e}");
                    why_unavailable.push(format!("{b}: {e}"));
                    unavailable.push(b.clone());
                }
                Err(e) => r.errors.push(format!("{b} round {}: {e}", round + 1)),
            }
        }
    }
    let med = |b: &str, path: &str| {
        median(
            runs.iter()
                .filter(|v| v["backend"] == b)
                .filter_map(|v| get_f64(v, path))
                .collect(),
        )
    };
    let k_rate = med("kernel", "results.msgs_per_s");
    let k_cpu = med("kernel", "cpu.target_us_per_msg");
    let mut per = serde_json::Map::new();
    let mut line = Vec::new();
    for b in &args.backends {
        let rate = med(b, "results.msgs_per_s");
        if rate.is_none() {
            continue;
        }
        let cpu = med(b, "cpu.target_us_per_msg");
        let share = med(b, "cpu.target_core_share");
        // Messages per second one fully used core would relay at this CPU cost.
        let per_core = cpu.filter(|c| *c > 0.0).map(|c| 1e6 / c);
        per.insert(
            b.clone(),
            json!({
                "msgs_per_s": rate,
                "target_us_per_msg": cpu,
                "target_core_share": share,
                "msgs_per_core_second": per_core,
                "p50_us": med(b, "results.latency.p50_us"),
                "p99_us": med(b, "results.latency.p99_us"),
                "generator_us_per_msg": med(b, "cpu.generator_us_per_msg"),
                "msgs_per_s_over_kernel": ratio(rate, k_rate),
                "target_us_per_msg_over_kernel": ratio(cpu, k_cpu),
            }),
        );
        line.push(format!(
            "{b} {} msgs/s ({}x kernel), {} µs/msg",
            human_rate(rate.unwrap_or(0.0)).trim_end_matches("/s"),
            ratio(rate, k_rate).map_or("?".into(), |v| format!("{v:.2}")),
            cpu.map_or("?".into(), |v| format!("{v:.2}")),
        ));
    }
    r.config = json!({
        "scenario": relay_run::opts_json(&opts),
        "backends": args.backends,
        "alternations": args.alternations,
        "order": "every backend once per round, in the order given",
        "idle_sleep_us": args.idle_sleep_us,
        "pinning": pin.to_json(),
        "topology": "two network namespaces, one veth pair (offloads off on both ends); msrpd in one, the generator in the other",
        "msrpd": bin.display().to_string(),
        "unavailable": why_unavailable,
    });
    r.results = json!({ "per_backend": per, "runs": runs });
    r.summary = format!(
        "backends relay {} sessions x {} B over a veth: {}",
        opts.sessions,
        opts.size,
        line.join("; ")
    );
    r
}
