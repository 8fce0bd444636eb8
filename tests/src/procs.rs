//! Processes and files that tests create and must clean up even when they fail: temporary
//! directories, child processes stopped by PID from a `Drop` guard, free loopback ports, and
//! memory figures read from `/proc`.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates `<tmp>/msrp-e2e-<pid>-<n>-<tag>`.
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "msrp-e2e-{}-{}-{tag}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// A path inside it.
    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process stopped on drop: SIGTERM to its PID, then SIGKILL if it lingers. With
/// `group`, the child leads a process group of its own and stragglers of that group (worker
/// processes it forked) are killed too.
pub struct ChildGuard {
    child: Option<Child>,
    name: String,
    group: bool,
}

impl ChildGuard {
    /// Spawns `cmd` as a guarded child. `group`: put it in a new process group.
    pub fn spawn(mut cmd: Command, name: &str, group: bool) -> std::io::Result<ChildGuard> {
        if group {
            use std::os::unix::process::CommandExt;
            cmd.process_group(0);
        }
        let child = cmd.spawn()?;
        Ok(ChildGuard {
            child: Some(child),
            name: name.to_string(),
            group,
        })
    }

    /// The child's PID.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// The child itself (its pipes).
    pub fn child_mut(&mut self) -> &mut Child {
        self.child.as_mut().expect("child present until drop")
    }

    /// Whether it has exited (and its status).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Sends `sig` to the child's PID.
    pub fn signal(&self, sig: i32) {
        let pid = self.pid();
        if pid != 0 {
            // SAFETY: kill(2) on the PID of a child we spawned and have not reaped.
            unsafe {
                libc::kill(pid as libc::pid_t, sig);
            }
        }
    }

    /// Kills the child outright (SIGKILL), as a crash would.
    pub fn kill_hard(&self) {
        self.signal(libc::SIGKILL);
    }

    /// Stops the child (SIGTERM, then SIGKILL after `grace`) and reaps it.
    pub fn stop(&mut self, grace: Duration) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let pid = child.id() as libc::pid_t;
        if let Ok(Some(st)) = child.try_wait() {
            self.kill_group(pid);
            return Some(st);
        }
        // SAFETY: kill(2) on our own unreaped child.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let start = Instant::now();
        let status = loop {
            if let Ok(Some(st)) = child.try_wait() {
                break Some(st);
            }
            if start.elapsed() > grace {
                eprintln!("{}: did not stop on SIGTERM, killing PID {pid}", self.name);
                let _ = child.kill();
                break child.wait().ok();
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        self.kill_group(pid);
        status
    }

    /// Kills what is left of the process group we created for the child (its forked workers
    /// when the leader died without stopping them).
    fn kill_group(&self, pgid: libc::pid_t) {
        if self.group && pgid > 1 {
            // SAFETY: signals only the process group whose id is our child's PID, which we
            // created with process_group(0).
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(5));
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Waits until something accepts TCP connections on `addr`.
pub fn wait_listening(addr: SocketAddr, within: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < within {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Memory of a process from `/proc/<pid>/status`, in KiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    /// Resident set.
    pub rss_kib: u64,
    /// Resident anonymous memory (heap and stacks: the process's own data).
    pub anon_kib: u64,
    /// Peak resident set.
    pub hwm_kib: u64,
}

/// Reads the memory figures of `pid`.
pub fn memory(pid: u32) -> Option<Memory> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some(Memory {
        rss_kib: field("VmRSS:")?,
        anon_kib: field("RssAnon:").unwrap_or(0),
        hwm_kib: field("VmHWM:").unwrap_or(0),
    })
}

/// CPU time (user + system) of `pid` so far.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &text[text.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Some(Duration::from_millis(ticks * 1000 / hz))
}

/// Number of open file descriptors of `pid`.
pub fn open_fds(pid: u32) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

/// Reads lines from a child's stdout on a thread, returning them through a channel (so that a
/// test can wait for a start-up line with a timeout while the pipe never fills).
pub fn stdout_lines(child: &mut Child) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    if let Some(out) = child.stdout.take() {
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    // Nobody listens any more: keep draining so the child never blocks.
                    continue;
                }
            }
        });
    }
    rx
}

/// Stdio for a child whose output should reach the test log only when asked
/// (`MSRP_E2E_VERBOSE=1`).
pub fn child_stderr() -> Stdio {
    if std::env::var_os("MSRP_E2E_VERBOSE").is_some() {
        Stdio::inherit()
    } else {
        Stdio::null()
    }
}
