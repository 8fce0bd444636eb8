//! The systems under test and how they are started, stopped and measured: msrpd as the
//! binary (a generated configuration, one worker pinned), msrpd inside this process, Kamailio
//! (started by `scripts/bench-peers.sh` from the configurations in `bench/peers/`), or any
//! relay already listening somewhere on loopback.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::sys::{self, CpuTime};

/// User and password the benchmark configures in msrpd.
pub const MSRPD_USER: (&str, &str) = ("bench", "benchpw");
/// Password every user has at the Kamailio peer (its configuration checks one password).
pub const KAMAILIO_PASSWORD: &str = "kampw";
/// Digest realm of the Kamailio peer.
pub const KAMAILIO_REALM: &str = "kam.bench";
/// Kamailio relays whole frames of at most about 14 KB: chunks are kept at 8 KiB.
pub const KAMAILIO_MAX_CHUNK: usize = 8 * 1024;

/// Which relay to measure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetKind {
    /// The msrpd binary, started with a generated configuration.
    Msrpd,
    /// msrpd started inside this process (its workers are threads of ours).
    MsrpdInProcess,
    /// Kamailio's msrp module, started by `scripts/bench-peers.sh`.
    Kamailio,
    /// An already running relay: address, user, password.
    External(SocketAddr, String, String),
}

impl TargetKind {
    /// Parses `ours`, `ours-inproc`, `kamailio` or `ADDR[,user,password]`.
    pub fn parse(s: &str) -> Result<TargetKind, String> {
        match s {
            "ours" | "msrpd" => Ok(TargetKind::Msrpd),
            "ours-inproc" | "inproc" => Ok(TargetKind::MsrpdInProcess),
            "kamailio" | "theirs" => Ok(TargetKind::Kamailio),
            other => {
                let mut it = other.split(',');
                let addr = it
                    .next()
                    .and_then(|a| a.parse().ok())
                    .ok_or_else(|| format!("unknown target {other:?}"))?;
                let user = it.next().unwrap_or(MSRPD_USER.0).to_string();
                let pass = it.next().unwrap_or(MSRPD_USER.1).to_string();
                Ok(TargetKind::External(addr, user, pass))
            }
        }
    }
}

/// Where the relay's CPU time comes from.
enum CpuSource {
    /// A process and its descendants.
    Tree(u32),
    /// Threads of this process with this name prefix.
    Threads(&'static str),
    /// Unknown (external relay).
    None,
}

enum Running {
    Child(Child),
    InProcess(Option<controlplane::daemon::Daemon>),
    Peer(String),
    Nothing,
}

/// A started relay.
pub struct Target {
    /// `msrpd` or `kamailio` (or `external`).
    pub name: String,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The URI clients AUTH to.
    pub uri: String,
    /// Digest login.
    pub user: String,
    /// Digest password.
    pub password: String,
    /// Largest chunk it relays, if it has a limit.
    pub max_chunk: Option<usize>,
    /// How it was set up (workers, cores, pinning).
    pub config: Value,
    /// Its version string.
    pub version: Option<String>,
    /// msrpd's SIP listener over TCP, when its configuration serves SIP.
    pub sip_tcp: Option<SocketAddr>,
    cpu: CpuSource,
    running: Running,
    _dir: Option<TempDir>,
}

/// A directory removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates `<tmp>/msrp-bench-<pid>-<tag>`.
    pub fn new(tag: &str) -> std::io::Result<TempDir> {
        let p = std::env::temp_dir().join(format!("msrp-bench-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p)?;
        Ok(TempDir(p))
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A free loopback TCP port (racy, as all such helpers).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// Waits until something accepts on `a`.
pub fn wait_port(a: SocketAddr, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if std::net::TcpStream::connect_timeout(&a, Duration::from_millis(200)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Where the msrpd binary is: `MSRPD`, else next to this executable, else in the target dir
/// this crate was built into.
pub fn msrpd_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("MSRPD") {
        return Some(PathBuf::from(p));
    }
    let exe = std::env::current_exe().ok()?;
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(d) = exe.parent() {
        dirs.push(d.to_path_buf());
        if let Some(up) = d.parent() {
            // Test binaries live in target/<profile>/deps.
            dirs.push(up.to_path_buf());
        }
    }
    dirs.into_iter()
        .map(|d| d.join("msrpd"))
        .find(|p| p.is_file())
}

/// The cores the target and the generator run on, when the machine allows pinning.
#[derive(Clone, Debug)]
pub struct Pinning {
    /// The target's cores.
    pub target: Vec<usize>,
    /// The generator's core.
    pub generator: Option<usize>,
}

impl Pinning {
    /// Target on the last core, generator on core 0 (nothing pinned on a single core).
    pub fn auto() -> Pinning {
        let n = sys::nproc();
        if n >= 2 {
            Pinning {
                target: vec![n - 1],
                generator: Some(0),
            }
        } else {
            Pinning {
                target: Vec::new(),
                generator: None,
            }
        }
    }

    /// Nothing pinned.
    pub fn none() -> Pinning {
        Pinning {
            target: Vec::new(),
            generator: None,
        }
    }

    /// As JSON.
    pub fn to_json(&self) -> Value {
        json!({"target_cores": self.target, "generator_core": self.generator})
    }
}

fn msrpd_toml(pin: &Pinning, workers: usize) -> String {
    let cores = if pin.target.len() >= workers {
        format!("cores = {:?}\n", &pin.target[..workers])
    } else {
        String::new()
    };
    format!(
        "[dataplane]\nworkers = {workers}\n{cores}\n[msrp]\nlisten = [\"127.0.0.1:0\"]\nhost = \"localhost\"\n\n\
         [relay]\nrequire_auth = true\nmax_connections = 19000\nidle_timeout_secs = 3600\n\
         [[relay.users]]\nname = {:?}\npassword = {:?}\n\n[log]\nlevel = \"warn\"\n",
        MSRPD_USER.0, MSRPD_USER.1
    )
}

/// The repository's `scripts/bench-peers.sh`.
pub fn peers_script() -> PathBuf {
    crate::repo_root().join("scripts").join("bench-peers.sh")
}

/// Runs `scripts/bench-peers.sh ARGS` with `env`; returns its stdout.
pub fn run_peers(args: &[&str], env: &[(&str, String)]) -> Result<String, String> {
    let mut cmd = Command::new("bash");
    cmd.arg(peers_script()).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("bench-peers.sh: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "bench-peers.sh {}: {} {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Directory for peers' pidfiles and logs.
pub fn peers_dir() -> PathBuf {
    std::env::var_os("BENCH_PEERS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::temp_dir().join(format!("msrp-bench-peers-{}", std::process::id()))
        })
}

/// `kamailio -v`, first line.
pub fn kamailio_version() -> Option<String> {
    sys::command_line("kamailio", &["-v"])
}

impl Target {
    /// Starts (or names) the target.
    pub fn start(
        kind: &TargetKind,
        pin: &Pinning,
        kamailio_children: usize,
    ) -> Result<Target, String> {
        match kind {
            TargetKind::Msrpd => Self::start_msrpd(pin, None),
            TargetKind::MsrpdInProcess => Self::start_inproc(pin),
            TargetKind::Kamailio => Self::start_kamailio(pin, kamailio_children),
            TargetKind::External(addr, user, pass) => Ok(Target {
                name: "external".into(),
                addr: *addr,
                uri: format!("msrp://{}:{};tcp", addr.ip(), addr.port()),
                user: user.clone(),
                password: pass.clone(),
                max_chunk: None,
                config: json!({"kind": "external", "addr": addr.to_string()}),
                version: None,
                sip_tcp: None,
                cpu: CpuSource::None,
                running: Running::Nothing,
                _dir: None,
            }),
        }
    }

    /// Starts the msrpd binary (one worker, pinned as `pin` says); with `sip_toml`, that text
    /// (`[sip]`, `[[rooms]]`) is appended to the generated configuration and the SIP TCP
    /// listener msrpd announces is waited for too.
    pub fn start_msrpd(pin: &Pinning, sip_toml: Option<&str>) -> Result<Target, String> {
        let bin = msrpd_binary().ok_or(
            "msrpd binary not found: build it (cargo build --release -p controlplane) or set MSRPD",
        )?;
        let dir = TempDir::new("msrpd").map_err(|e| e.to_string())?;
        let cfg = dir.path().join("msrpd.toml");
        let mut text = msrpd_toml(pin, 1);
        if let Some(t) = sip_toml {
            text.push_str(t);
        }
        std::fs::write(&cfg, text).map_err(|e| e.to_string())?;
        let mut child = Command::new(&bin)
            .arg("-c")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("{}: {e}", bin.display()))?;
        let pid = child.id();
        // "msrpd: MSRP on msrp://host:port;tcp (127.0.0.1:port)", "msrpd: SIP on tcp ADDR"
        let out = child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if line.starts_with("msrpd: ") {
                    let _ = tx.send(line);
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut msrp_line = None;
        let mut sip_tcp: Option<SocketAddr> = None;
        while msrp_line.is_none() || (sip_toml.is_some() && sip_tcp.is_none()) {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(l) => {
                    if let Some(rest) = l.strip_prefix("msrpd: MSRP on ") {
                        msrp_line.get_or_insert_with(|| rest.to_string());
                    } else if let Some(a) = l.strip_prefix("msrpd: SIP on tcp ") {
                        sip_tcp = sip_tcp.or_else(|| a.trim().parse().ok());
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err("msrpd did not announce its listeners".into());
                }
            }
        }
        let line = msrp_line.unwrap_or_default();
        let addr: SocketAddr = line
            .rsplit_once('(')
            .and_then(|(_, a)| a.strip_suffix(')'))
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| format!("unexpected msrpd line {line:?}"))?;
        let pinned = !pin.target.is_empty() && sys::pin_process(pid, &pin.target);
        let version = sys::command_line(&bin.display().to_string(), &["--version"]);
        Ok(Target {
            name: "msrpd".into(),
            addr,
            uri: format!("msrp://localhost:{};tcp", addr.port()),
            user: MSRPD_USER.0.into(),
            password: MSRPD_USER.1.into(),
            max_chunk: None,
            config: json!({
                "kind": "msrpd binary",
                "binary": bin.display().to_string(),
                "workers": 1,
                "worker_cores": pin.target,
                "process_pinned_to": if pinned { Some(&pin.target) } else { None },
            }),
            version,
            sip_tcp,
            cpu: CpuSource::Tree(pid),
            running: Running::Child(child),
            _dir: Some(dir),
        })
    }

    fn start_inproc(pin: &Pinning) -> Result<Target, String> {
        let cfg = controlplane::config::Config::parse(&msrpd_toml(pin, 1))
            .map_err(|e| format!("msrpd config: {e}"))?;
        let daemon = controlplane::daemon::Daemon::start(&cfg).map_err(|e| e.to_string())?;
        let addr = daemon
            .msrp_addrs
            .first()
            .map(|(a, _)| *a)
            .ok_or("msrpd has no listener")?;
        Ok(Target {
            name: "msrpd".into(),
            addr,
            uri: format!("msrp://localhost:{};tcp", addr.port()),
            user: MSRPD_USER.0.into(),
            password: MSRPD_USER.1.into(),
            max_chunk: None,
            config: json!({
                "kind": "msrpd in process (CPU of its dp-worker threads)",
                "workers": 1,
                "worker_cores": pin.target,
            }),
            version: Some(format!("msrpd {} (in process)", env!("CARGO_PKG_VERSION"))),
            sip_tcp: None,
            cpu: CpuSource::Threads("dp-worker"),
            running: Running::InProcess(Some(daemon)),
            _dir: None,
        })
    }

    fn start_kamailio(pin: &Pinning, children: usize) -> Result<Target, String> {
        let port = free_port();
        let dir = peers_dir();
        let cores = pin
            .target
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let env = [
            ("BENCH_PEERS_DIR", dir.display().to_string()),
            ("PEER_PORT", port.to_string()),
            ("PEER_CORES", cores),
            ("PEER_CHILDREN", children.to_string()),
        ];
        run_peers(&["start", "kamailio-relay"], &env)?;
        let pid: u32 = std::fs::read_to_string(dir.join("kamailio-relay.pid"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or("kamailio-relay.pid missing")?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        Ok(Target {
            name: "kamailio".into(),
            addr,
            uri: format!("msrp://127.0.0.1:{port};tcp"),
            user: "bench".into(),
            password: KAMAILIO_PASSWORD.into(),
            max_chunk: Some(KAMAILIO_MAX_CHUNK),
            config: json!({
                "kind": "kamailio msrp module (bench/peers/kamailio-relay.cfg)",
                "tcp_children": children,
                "cores": pin.target,
                "all_processes_pinned": !pin.target.is_empty(),
            }),
            version: kamailio_version(),
            sip_tcp: None,
            cpu: CpuSource::Tree(pid),
            running: Running::Peer("kamailio-relay".into()),
            _dir: None,
        })
    }

    /// The target's CPU time so far (`None` when it cannot be measured).
    pub fn cpu(&self) -> Option<CpuTime> {
        match self.cpu {
            CpuSource::Tree(pid) => sys::tree_cpu(pid),
            CpuSource::Threads(prefix) => {
                let (c, n) = sys::own_threads_cpu(prefix);
                (n > 0).then_some(c)
            }
            CpuSource::None => None,
        }
    }

    /// Its main process, when it is one of ours.
    pub fn pid(&self) -> Option<u32> {
        match self.cpu {
            CpuSource::Tree(pid) => Some(pid),
            _ => None,
        }
    }

    /// Relay counters of an in-process msrpd.
    pub fn relay_stats(&self) -> Option<dataplane::relay::RelayStats> {
        match &self.running {
            Running::InProcess(Some(d)) => Some(d.relay_stats()),
            _ => None,
        }
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        match &mut self.running {
            Running::Child(c) => {
                // SIGTERM first so that msrpd shuts down cleanly, then make sure.
                // SAFETY: kill on the PID of our own child.
                unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
                let deadline = Instant::now() + Duration::from_secs(3);
                while Instant::now() < deadline {
                    if let Ok(Some(_)) = c.try_wait() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                let _ = c.kill();
                let _ = c.wait();
            }
            Running::InProcess(d) => {
                if let Some(d) = d.take() {
                    let _ = d.shutdown();
                }
            }
            Running::Peer(name) => {
                let env = [("BENCH_PEERS_DIR", peers_dir().display().to_string())];
                if let Err(e) = run_peers(&["stop", name], &env) {
                    eprintln!("msrp-bench: {e}");
                }
            }
            Running::Nothing => {}
        }
    }
}
