//! What the benchmarks read from the operating system: CPU time of this process, of one of its
//! threads, of another process and its children (from `/proc`), core pinning, and the
//! description of the machine and software a result was measured with.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// Clock ticks per second of `/proc/*/stat` times.
fn ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// User and system CPU time, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CpuTime {
    /// User time (µs).
    pub user_us: f64,
    /// System time (µs), softirq work done on the process's behalf included.
    pub sys_us: f64,
}

impl CpuTime {
    /// User + system (µs).
    pub fn total_us(&self) -> f64 {
        self.user_us + self.sys_us
    }

    /// What was spent between `earlier` and `self`.
    pub fn since(&self, earlier: &CpuTime) -> CpuTime {
        CpuTime {
            user_us: (self.user_us - earlier.user_us).max(0.0),
            sys_us: (self.sys_us - earlier.sys_us).max(0.0),
        }
    }

    /// Sum of two.
    pub fn plus(&self, o: &CpuTime) -> CpuTime {
        CpuTime {
            user_us: self.user_us + o.user_us,
            sys_us: self.sys_us + o.sys_us,
        }
    }
}

fn rusage(who: libc::c_int) -> CpuTime {
    // SAFETY: getrusage writes into the zeroed struct we pass.
    let mut r: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer, `who` is a constant the kernel knows.
    if unsafe { libc::getrusage(who, &mut r) } != 0 {
        return CpuTime::default();
    }
    let us = |t: libc::timeval| t.tv_sec as f64 * 1e6 + t.tv_usec as f64;
    CpuTime {
        user_us: us(r.ru_utime),
        sys_us: us(r.ru_stime),
    }
}

/// CPU time of this whole process (all threads).
pub fn self_cpu() -> CpuTime {
    rusage(libc::RUSAGE_SELF)
}

/// CPU time of the calling thread.
pub fn thread_cpu() -> CpuTime {
    rusage(libc::RUSAGE_THREAD)
}

/// Fields of a `/proc/.../stat` line after the command name: (state, ppid, utime, stime) in
/// ticks. The command name may contain spaces and parentheses, so parse from the last `)`.
fn parse_stat(text: &str) -> Option<(u32, f64, f64, String)> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_string();
    let rest: Vec<&str> = text.get(close + 2..)?.split_whitespace().collect();
    // rest[0] = state (field 3), rest[1] = ppid (4), utime = field 14, stime = field 15.
    let ppid = rest.get(1)?.parse().ok()?;
    let ut: f64 = rest.get(11)?.parse().ok()?;
    let st: f64 = rest.get(12)?.parse().ok()?;
    Some((ppid, ut, st, comm))
}

fn stat_cpu(path: &Path) -> Option<(u32, CpuTime, String)> {
    let text = std::fs::read_to_string(path).ok()?;
    let (ppid, ut, st, comm) = parse_stat(&text)?;
    let k = 1e6 / ticks_per_sec();
    Some((
        ppid,
        CpuTime {
            user_us: ut * k,
            sys_us: st * k,
        },
        comm,
    ))
}

/// CPU time of process `pid` (all its threads), `None` when it is gone.
pub fn process_cpu(pid: u32) -> Option<CpuTime> {
    stat_cpu(&Path::new("/proc").join(pid.to_string()).join("stat")).map(|(_, c, _)| c)
}

/// Processes whose parent is `pid`, recursively (Kamailio forks its workers).
pub fn descendants(pid: u32) -> Vec<u32> {
    let mut all: Vec<(u32, u32)> = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            if let Some((ppid, _, _)) = stat_cpu(&e.path().join("stat")) {
                all.push((p, ppid));
            }
        }
    }
    let mut out = Vec::new();
    let mut frontier = vec![pid];
    while let Some(parent) = frontier.pop() {
        for &(p, pp) in &all {
            if pp == parent && !out.contains(&p) {
                out.push(p);
                frontier.push(p);
            }
        }
    }
    out
}

/// CPU time of `pid` and all its descendants.
pub fn tree_cpu(pid: u32) -> Option<CpuTime> {
    let mut total = process_cpu(pid)?;
    for d in descendants(pid) {
        if let Some(c) = process_cpu(d) {
            total = total.plus(&c);
        }
    }
    Some(total)
}

/// CPU time of this process's threads whose name starts with `prefix` (e.g. `dp-worker` for
/// an in-process msrpd), and how many there are.
pub fn own_threads_cpu(prefix: &str) -> (CpuTime, usize) {
    let mut total = CpuTime::default();
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir("/proc/self/task") {
        for e in rd.flatten() {
            if let Some((_, c, comm)) = stat_cpu(&e.path().join("stat")) {
                if comm.starts_with(prefix) {
                    total = total.plus(&c);
                    n += 1;
                }
            }
        }
    }
    (total, n)
}

/// Pins the calling thread to `core`; `false` when the machine does not allow it.
pub fn pin_current_thread(core: usize) -> bool {
    // SAFETY: the set is zeroed then filled with CPU_SET; pid 0 is the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(core, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
    }
}

/// Pins every thread of process `pid` (and its descendants) to `cores`.
pub fn pin_process(pid: u32, cores: &[usize]) -> bool {
    let mut ok = true;
    let mut pids = vec![pid];
    pids.extend(descendants(pid));
    for p in pids {
        let Ok(rd) = std::fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for e in rd.flatten() {
            let Some(tid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            // SAFETY: as in `pin_current_thread`, for another thread id.
            unsafe {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                for &c in cores {
                    libc::CPU_SET(c, &mut set);
                }
                ok &=
                    libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0;
            }
        }
    }
    ok
}

/// Online CPUs of the machine (not of this thread's affinity mask).
pub fn nproc() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    usize::try_from(n).unwrap_or(1).max(1)
}

/// The open-file soft limit, raised to the hard limit.
pub fn raise_nofile() -> u64 {
    // SAFETY: plain libc calls on a local struct.
    unsafe {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 && r.rlim_cur < r.rlim_max {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
        r.rlim_cur
    }
}

/// Resident memory of `pid` in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The machine a result was measured on.
pub fn machine() -> serde_json::Value {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<f64> = load
        .split_whitespace()
        .take(3)
        .filter_map(|v| v.parse().ok())
        .collect();
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_default();
    let mem_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .unwrap_or(0);
    let hyper = std::fs::read_to_string("/proc/cpuinfo")
        .map(|c| c.contains(" hypervisor"))
        .unwrap_or(false);
    serde_json::json!({
        "nproc": nproc(),
        "cpu": model,
        "virtualised": hyper,
        "mem_mib": mem_kib / 1024,
        "kernel": kernel(),
        "loadavg_at_start": load,
        "nofile": raise_nofile(),
    })
}

fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// First line of `cmd args` output (stdout or stderr), or `None`.
pub fn command_line(cmd: &str, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(cmd).args(args).output().ok()?;
    let text = if out.stdout.is_empty() {
        out.stderr
    } else {
        out.stdout
    };
    String::from_utf8_lossy(&text)
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_string)
}

/// `git describe` of the source tree this binary was built from.
pub fn bench_version() -> String {
    let root = crate::repo_root();
    command_line(
        "git",
        &[
            "-C",
            &root.display().to_string(),
            "describe",
            "--always",
            "--dirty",
            "--tags",
        ],
    )
    .unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_string())
}

/// Current UTC time as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format_utc(secs)
}

/// Formats seconds since the epoch as an ISO 8601 UTC timestamp.
pub fn format_utc(secs: u64) -> String {
    controlplane::chat::cpim::rfc3339_utc(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_utc(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn stat_line_with_odd_command_name() {
        let line = "1234 (dp worker) 1) S 77 1 1 0 -1 4194560 100 0 0 0 250 40 0 0 20 0 3 0";
        let (ppid, ut, st, comm) = parse_stat(line).unwrap();
        assert_eq!((ppid, ut, st), (77, 250.0, 40.0));
        assert_eq!(comm, "dp worker) 1");
    }

    #[test]
    fn own_process_cpu_is_readable_and_grows() {
        let a = process_cpu(std::process::id()).unwrap();
        let mut x = 0u64;
        let t = std::time::Instant::now();
        while t.elapsed() < std::time::Duration::from_millis(50) {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        let b = process_cpu(std::process::id()).unwrap();
        assert!(b.total_us() >= a.total_us());
        assert!(x > 0);
    }
}
