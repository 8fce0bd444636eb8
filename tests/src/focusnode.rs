//! msrpd with SIP and rooms for the focus and sipp tests: a TOML builder, the daemon started
//! in-process (`Daemon::start`, with access to its focus) or as the `msrpd` binary (listeners
//! read from its start-up lines, stopped by PID on drop).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use controlplane::config::Config;
use controlplane::daemon::Daemon;
use controlplane::focus::Focus;
use controlplane::sip::TransportKind;

use crate::procs::{child_stderr, stdout_lines, ChildGuard};

/// The SIP domain of test nodes.
pub const DOMAIN: &str = "example.com";

/// A config for msrpd on ephemeral loopback ports, SIP domain example.com, `users` as SIP
/// users, plus `extra` TOML (e.g. `[[rooms]]` tables). `msrp.host` is 127.0.0.1 so that the
/// a=path we get is directly reachable.
pub fn toml(users: &[(&str, &str)], extra: &str) -> String {
    let mut s = String::from(
        "[msrp]\nhost = \"127.0.0.1\"\nlisten = [\"127.0.0.1:0\"]\n\n[relay]\nrequire_auth = false\n\n\
         [log]\nlevel = \"warn\"\n\n[sip]\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\n\
         domains = [\"example.com\"]\n",
    );
    for (u, p) in users {
        s.push_str(&format!("[[sip.users]]\nname = {u:?}\npassword = {p:?}\n"));
    }
    s.push('\n');
    s.push_str(extra);
    s
}

/// msrpd in this process.
pub struct FocusNode {
    daemon: Option<Daemon>,
    /// The plain MSRP listener.
    pub msrp: SocketAddr,
    /// SIP listeners.
    pub sip: Vec<(TransportKind, SocketAddr)>,
}

impl FocusNode {
    /// Starts msrpd with this TOML.
    pub fn start(toml: &str) -> FocusNode {
        let cfg = Config::parse(toml).unwrap_or_else(|e| panic!("config refused: {e}\n{toml}"));
        let d = Daemon::start(&cfg).unwrap_or_else(|e| panic!("msrpd start: {e}"));
        let msrp = d
            .msrp_addrs
            .iter()
            .find(|(_, t)| !t)
            .map(|(a, _)| *a)
            .expect("plain MSRP listener");
        let sip = d.sip_addrs.clone();
        FocusNode {
            daemon: Some(d),
            msrp,
            sip,
        }
    }

    /// The SIP listener of a transport.
    pub fn sip(&self, t: TransportKind) -> SocketAddr {
        self.sip
            .iter()
            .find(|(k, _)| *k == t)
            .map(|(_, a)| *a)
            .expect("SIP listener")
    }

    /// The daemon.
    pub fn daemon(&self) -> &Daemon {
        self.daemon.as_ref().expect("running")
    }

    /// Its focus.
    pub fn focus(&self) -> &Focus {
        self.daemon().focus()
    }
}

impl Drop for FocusNode {
    fn drop(&mut self) {
        if let Some(d) = self.daemon.take() {
            let _ = d.shutdown();
        }
    }
}

/// The msrpd binary next to the test executable (or `$MSRPD`).
pub fn msrpd_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("MSRPD") {
        return Some(PathBuf::from(p));
    }
    let exe = std::env::current_exe().ok()?;
    let d = exe.parent()?;
    [d.join("msrpd"), d.parent()?.join("msrpd")]
        .into_iter()
        .find(|p| p.is_file())
}

/// The msrpd binary running with a config file; stopped by PID on drop.
pub struct FocusProcess {
    /// The child.
    pub guard: ChildGuard,
    /// The plain MSRP listener.
    pub msrp: SocketAddr,
    /// SIP listeners.
    pub sip: Vec<(TransportKind, SocketAddr)>,
    /// Rooms it announced (`msrpd: room <uri> ...`).
    pub rooms: Vec<String>,
}

impl FocusProcess {
    /// Runs `bin` with `toml` written into `dir` (`None`: no config file at all).
    pub fn spawn(bin: &Path, dir: &Path, toml: Option<&str>) -> FocusProcess {
        let mut cmd = Command::new(bin);
        if let Some(t) = toml {
            let p = dir.join("msrpd-focus.toml");
            std::fs::write(&p, t).expect("write config");
            cmd.arg("-c").arg(p);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(child_stderr());
        let mut guard = ChildGuard::spawn(cmd, "msrpd focus", false).expect("msrpd runs");
        let lines = stdout_lines(guard.child_mut());
        let (mut msrp, mut sip, mut rooms) = (None, Vec::new(), Vec::new());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = lines.recv_timeout(left) else {
                panic!(
                    "msrpd did not announce its rooms (exit {:?})",
                    guard.exited()
                );
            };
            if let Some(rest) = line.strip_prefix("msrpd: MSRP on msrp:") {
                msrp = rest
                    .rsplit_once('(')
                    .and_then(|(_, a)| a.strip_suffix(')'))
                    .and_then(|a| a.parse().ok());
            } else if let Some(rest) = line.strip_prefix("msrpd: SIP on ") {
                let (t, a) = rest.split_once(' ').expect("transport and address");
                let t = TransportKind::parse(t).expect("transport");
                sip.push((t, a.parse().expect("address")));
            } else if let Some(rest) = line.strip_prefix("msrpd: room ") {
                rooms.push(rest.split(' ').next().unwrap_or_default().to_string());
            } else if line.starts_with("msrpd: ") {
                continue;
            }
            // Rooms are printed last; stop once the first has been seen and no more follow.
            if !rooms.is_empty() {
                match lines.recv_timeout(Duration::from_millis(300)) {
                    Ok(l) => {
                        if let Some(rest) = l.strip_prefix("msrpd: room ") {
                            rooms.push(rest.split(' ').next().unwrap_or_default().to_string());
                        }
                    }
                    Err(_) => break,
                }
                break;
            }
        }
        FocusProcess {
            guard,
            msrp: msrp.expect("MSRP listener announced"),
            sip,
            rooms,
        }
    }

    /// The SIP listener of a transport.
    pub fn sip(&self, t: TransportKind) -> SocketAddr {
        self.sip
            .iter()
            .find(|(k, _)| *k == t)
            .map(|(_, a)| *a)
            .expect("SIP listener")
    }
}
