//! Kamailio (5.6, Debian package) as a second MSRP relay implementation for interop tests. The
//! configuration comes from `tests/kamailio/msrp-relay.cfg`; this module fills it in for a
//! loopback port, starts `kamailio -f cfg -P pidfile -DD -E` in its own process group, and
//! stops it by PID on drop.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::procs::{child_stderr, free_port, wait_listening, ChildGuard, TempDir};

/// The configuration template.
pub const CONFIG_TEMPLATE: &str = include_str!("../kamailio/msrp-relay.cfg");

/// Where Debian installs Kamailio's modules.
pub const MODULES: &str = "/usr/lib/x86_64-linux-gnu/kamailio/modules";

/// Digest realm of the test Kamailio.
pub const REALM: &str = "kam.test";
/// The password every user has at the test Kamailio (its example config checks one password).
pub const PASSWORD: &str = "kampw";

/// Why Kamailio cannot run here, if it cannot (binary or modules missing).
pub fn unavailable() -> Option<String> {
    let bin = kamailio_bin()?;
    if !bin.exists() {
        return Some(format!("{} not found", bin.display()));
    }
    for m in ["msrp.so", "auth.so", "sl.so", "kex.so", "pv.so", "xlog.so"] {
        if !Path::new(MODULES).join(m).exists() {
            return Some(format!("Kamailio module {MODULES}/{m} missing"));
        }
    }
    None
}

fn kamailio_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("KAMAILIO") {
        return Some(PathBuf::from(p));
    }
    for p in ["/usr/sbin/kamailio", "/usr/local/sbin/kamailio"] {
        if Path::new(p).exists() {
            return Some(PathBuf::from(p));
        }
    }
    Some(PathBuf::from("/usr/sbin/kamailio"))
}

/// A running Kamailio relay.
pub struct Kamailio {
    guard: ChildGuard,
    /// Where it listens (plain TCP).
    pub addr: SocketAddr,
    _dir: TempDir,
}

impl Kamailio {
    /// Starts Kamailio on a free loopback port, or returns why it cannot (the caller prints
    /// the reason and skips).
    pub fn start() -> Result<Kamailio, String> {
        if let Some(why) = unavailable() {
            return Err(why);
        }
        let bin = kamailio_bin().expect("checked");
        let mut last = String::new();
        // The port is picked before Kamailio binds it; retry if somebody took it meanwhile.
        for _ in 0..3 {
            let dir = TempDir::new("kamailio");
            let port = free_port();
            let cfg = CONFIG_TEMPLATE
                .replace("@PORT@", &port.to_string())
                .replace("@MPATH@", &format!("{MODULES}/"))
                .replace("@REALM@", REALM)
                .replace("@PASSWORD@", PASSWORD)
                .replace("@CHILDREN@", "2")
                .replace(
                    "@DEBUG@",
                    if std::env::var_os("MSRP_E2E_VERBOSE").is_some() {
                        "3"
                    } else {
                        "1"
                    },
                );
            let cfg_path = dir.join("kamailio.cfg");
            std::fs::write(&cfg_path, cfg).map_err(|e| e.to_string())?;
            let mut cmd = Command::new(&bin);
            cmd.arg("-f")
                .arg(&cfg_path)
                .arg("-P")
                .arg(dir.join("kamailio.pid"))
                .args(["-DD", "-E", "-m", "256", "-M", "16"])
                .arg("-Y")
                .arg(dir.path())
                .arg("-w")
                .arg(dir.path())
                .stdin(Stdio::null())
                .stdout(child_stderr())
                .stderr(child_stderr());
            let mut guard = ChildGuard::spawn(cmd, "kamailio", true)
                .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            if wait_listening(addr, Duration::from_secs(15)) && guard.exited().is_none() {
                return Ok(Kamailio {
                    guard,
                    addr,
                    _dir: dir,
                });
            }
            last = format!(
                "kamailio did not listen on {addr} (exit status {:?}; MSRP_E2E_VERBOSE=1 shows its log)",
                guard.stop(Duration::from_secs(3))
            );
        }
        Err(last)
    }

    /// The URI a client AUTHs to.
    pub fn uri(&self) -> String {
        format!("msrp://127.0.0.1:{};tcp", self.addr.port())
    }

    /// PID of Kamailio's main process.
    pub fn pid(&self) -> u32 {
        self.guard.pid()
    }
}
