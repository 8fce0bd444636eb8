//! Harness for the DPDK end-to-end tests: a pair of network namespaces joined by a veth pair
//! (offloads off on the kernel side), a server process with the DPDK backend in one of them
//! (one EAL per process, so one process per test), and client code run on a thread that has
//! entered the other. Everything is torn down by PID and `ip netns del`, even when a test fails.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The server's address on the namespace side; the kernel side is `.1`.
pub const SRV_IP: &str = "198.18.0.2";
/// The kernel (client) side's address.
pub const CLI_IP: &str = "198.18.0.1";
/// IPv6 addresses of the two sides (documentation prefix, inside our namespaces only).
pub const SRV_IP6: &str = "2001:db8:9::2";
/// See [`SRV_IP6`].
pub const CLI_IP6: &str = "2001:db8:9::1";

/// Why these tests cannot run here, if they cannot (probed once per test binary).
pub fn skip_reason() -> Option<String> {
    static REASON: OnceLock<Option<String>> = OnceLock::new();
    REASON.get_or_init(probe).clone()
}

fn probe() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root (network namespaces and AF_PACKET need it)".into());
    }
    for tool in ["ip", "ethtool"] {
        let ok = Command::new(tool)
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        if !ok {
            return Some(format!("`{tool}` is not installed"));
        }
    }
    let probe = format!("dpdkprobe{}", std::process::id());
    if !run(&["ip", "netns", "add", &probe]) {
        return Some("cannot create network namespaces here".into());
    }
    run(&["ip", "netns", "del", &probe]);
    None
}

/// True (after saying why on stderr) when the calling test must return early as a pass.
/// With `DPDK_TESTS_REQUIRED=1` (the DPDK stage of `scripts/test.sh`, which has checked the
/// machine) a reason to skip is a failure instead.
pub fn skip() -> bool {
    match skip_reason() {
        Some(why) if std::env::var("DPDK_TESTS_REQUIRED").is_ok_and(|v| v == "1") => {
            panic!("DPDK tests required but cannot run: {why}")
        }
        Some(why) => {
            eprintln!("SKIPPED: {why}");
            true
        }
        None => false,
    }
}

fn run(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn run_checked(args: &[&str]) -> Result<(), String> {
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

/// The `dpdk_echo` example built with `--features dpdk`: `$DPDK_ECHO_BIN` when set (what
/// `scripts/test.sh` does), else built once into a target dir of its own (cargo holds the lock
/// of the running test's target dir).
pub fn echo_binary() -> Result<PathBuf, String> {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(p) = std::env::var("DPDK_ECHO_BIN") {
            return Ok(PathBuf::from(p));
        }
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        // target/<profile>/deps/<test>
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .ok_or("cannot place the test binary")?;
        let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") => "dev".to_owned(),
            Some(p) => p.to_owned(),
            None => "dev".to_owned(),
        };
        let target = profile_dir
            .parent()
            .ok_or("no target dir")?
            .join("dpdk-e2e");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .ok_or("no workspace")?;
        let st = Command::new(cargo)
            .current_dir(root)
            .args([
                "build",
                "-q",
                "-p",
                "dataplane",
                "--example",
                "dpdk_echo",
                "--features",
                "dpdk",
                "--profile",
                &profile,
                "--target-dir",
            ])
            .arg(&target)
            .status()
            .map_err(|e| format!("cargo build: {e}"))?;
        if !st.success() {
            return Err("building the dpdk_echo example failed".into());
        }
        let dir = if profile == "dev" { "debug" } else { &profile };
        Ok(target.join(dir).join("examples").join("dpdk_echo"))
    })
    .clone()
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// Two namespaces and a veth pair; a server process in the first. Dropping it kills the
/// process (by PID) and deletes the namespaces (which deletes the veth).
pub struct Netns {
    /// Server namespace.
    pub srv: String,
    /// Client namespace.
    pub cli: String,
    /// veth end in the server namespace (owned by DPDK).
    pub srv_if: String,
    /// veth end in the client namespace (kernel stack).
    pub cli_if: String,
    child: Option<Child>,
    lines: Arc<Mutex<Vec<String>>>,
    stderr_path: PathBuf,
}

impl Netns {
    /// Creates the topology of `shared/perf-notes.md` under unique names.
    pub fn create() -> Result<Self, String> {
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let tag = format!("{}x{n}", std::process::id() % 100_000);
        let ns = Netns {
            srv: format!("dpe{tag}s"),
            cli: format!("dpe{tag}c"),
            srv_if: format!("dpe{tag}a"),
            cli_if: format!("dpe{tag}b"),
            child: None,
            lines: Arc::new(Mutex::new(Vec::new())),
            stderr_path: std::env::temp_dir().join(format!("dpdk-e2e-{tag}.stderr")),
        };
        let (srv, cli, a, b) = (&ns.srv, &ns.cli, &ns.srv_if, &ns.cli_if);
        run_checked(&["ip", "netns", "add", srv])?;
        run_checked(&["ip", "netns", "add", cli])?;
        run_checked(&[
            "ip", "link", "add", a, "netns", srv, "type", "veth", "peer", "name", b, "netns", cli,
        ])?;
        run_checked(&["ip", "-n", srv, "link", "set", "lo", "up"])?;
        run_checked(&["ip", "-n", cli, "link", "set", "lo", "up"])?;
        // The DPDK side owns its end: no kernel IPv6 (no DAD, no NDP answers of its own).
        let sysctl = format!("net.ipv6.conf.{a}.disable_ipv6=1");
        run_checked(&["ip", "netns", "exec", srv, "sysctl", "-qw", &sysctl])?;
        run_checked(&["ip", "-n", srv, "link", "set", a, "up"])?;
        run_checked(&[
            "ip",
            "-n",
            cli,
            "addr",
            "add",
            &format!("{CLI_IP}/24"),
            "dev",
            b,
        ])?;
        run_checked(&[
            "ip",
            "-n",
            cli,
            "addr",
            "add",
            &format!("{CLI_IP6}/64"),
            "dev",
            b,
            "nodad",
        ])?;
        run_checked(&["ip", "-n", cli, "link", "set", b, "up"])?;
        // smoltcp checks checksums and does not do TSO/GSO: the kernel side must send whole,
        // checksummed segments.
        run_checked(&[
            "ip", "netns", "exec", cli, "ethtool", "-K", b, "tx", "off", "tso", "off", "gso",
            "off", "gro", "off",
        ])?;
        run_checked(&[
            "ip", "netns", "exec", srv, "ethtool", "-K", a, "tx", "off", "tso", "off", "gso",
            "off", "gro", "off", "rx", "off",
        ])?;
        Ok(ns)
    }

    /// Starts `bin args...` in the server namespace and waits for its `READY` line.
    pub fn spawn_server(&mut self, bin: &Path, args: &[String]) -> Result<String, String> {
        self.spawn_server_until(bin, args, "READY")
    }

    /// Starts `bin args...` in the server namespace and waits for a stdout line starting with
    /// `ready` (msrpd says `msrpd: MSRP on ...`).
    pub fn spawn_server_until(
        &mut self,
        bin: &Path,
        args: &[String],
        ready: &str,
    ) -> Result<String, String> {
        let stderr = std::fs::File::create(&self.stderr_path).map_err(|e| e.to_string())?;
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.srv])
            .arg(bin)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("spawn: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        self.child = Some(child);
        let (tx, rx) = mpsc::channel();
        let lines = self.lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Ok(mut l) = lines.lock() {
                    l.push(line.clone());
                }
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(l) if l.starts_with(ready) => return Ok(l),
                Ok(_) => continue,
                Err(_) => return Err(format!("server did not get ready: {}", self.diagnostics())),
            }
        }
    }

    /// Waits for the server process to exit by itself; its status and output lines.
    pub fn wait_server(&mut self, limit: Duration) -> Result<(bool, Vec<String>), String> {
        let child = self.child.as_mut().ok_or("no server")?;
        let deadline = Instant::now() + limit;
        loop {
            if let Some(st) = child.try_wait().map_err(|e| e.to_string())? {
                self.child = None;
                // Let the reader thread catch the last lines.
                std::thread::sleep(Duration::from_millis(100));
                let lines = self.lines.lock().map(|l| l.clone()).unwrap_or_default();
                return Ok((st.success(), lines));
            }
            if Instant::now() > deadline {
                return Err(format!("server still running: {}", self.diagnostics()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the server process is still alive.
    pub fn server_alive(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// Server output so far, for failure messages.
    pub fn diagnostics(&self) -> String {
        let out = self.lines.lock().map(|l| l.join("\n")).unwrap_or_default();
        let err = std::fs::read_to_string(&self.stderr_path).unwrap_or_default();
        format!("stdout:\n{out}\nstderr:\n{err}")
    }

    /// Runs `f` on a thread that has entered the client namespace (sockets it opens live there).
    pub fn in_client<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, String> {
        let path = format!("/run/netns/{}", self.cli);
        std::thread::spawn(move || {
            let file = std::fs::File::open(&path).map_err(|e| format!("{path}: {e}"))?;
            use std::os::fd::AsRawFd;
            // SAFETY: setns on a valid namespace fd; it only affects this thread.
            if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(format!("setns: {}", std::io::Error::last_os_error()));
            }
            Ok(f())
        })
        .join()
        .map_err(|_| "client thread panicked".to_owned())?
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // `ip netns exec` execs the binary, so this PID is the server itself.
            let _ = c.kill();
            let _ = c.wait();
        }
        run(&["ip", "netns", "del", &self.srv]);
        run(&["ip", "netns", "del", &self.cli]);
        let _ = std::fs::remove_file(&self.stderr_path);
    }
}

/// The byte at offset `i` of connection `k`'s stream (same as the example's client).
pub fn pattern(k: usize, i: usize) -> u8 {
    (i.wrapping_mul(31) ^ k.wrapping_mul(131) ^ (i >> 8)) as u8
}
