//! msrpd instances for tests: a configuration builder that renders msrpd's TOML, and two ways to
//! run it — in-process ([`InProcess`], `Daemon::start`) or as the `msrpd` binary
//! ([`MsrpdProcess`], stopped by PID on drop). Both listen on loopback ports picked at start.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use controlplane::config::Config;
use controlplane::daemon::Daemon;

use crate::procs::{child_stderr, stdout_lines, ChildGuard};

/// What an msrpd under test is configured with. Rendered to TOML by [`RelayNode::toml`].
#[derive(Clone, Debug)]
pub struct RelayNode {
    /// `msrp.host`: the name in the URIs it mints.
    pub host: String,
    /// Listen on plain TCP (`msrp:`).
    pub plain: bool,
    /// Listen on TLS (`msrps:`).
    pub tls: bool,
    /// `[tls]` cert, key and CA files.
    pub cert: Option<(PathBuf, PathBuf)>,
    /// CA files trusted for peers.
    pub ca: Vec<PathBuf>,
    /// Users (name, password).
    pub users: Vec<(String, String)>,
    /// `relay.require_auth`.
    pub require_auth: bool,
    /// `[relay.hosts]`.
    pub hosts: Vec<(String, IpAddr)>,
    /// Dataplane workers.
    pub workers: usize,
    /// `relay.probation_secs`.
    pub probation_secs: u64,
    /// `relay.idle_timeout_secs`.
    pub idle_timeout_secs: u64,
    /// `relay.transaction_timeout_secs`.
    pub transaction_timeout_secs: u64,
    /// `relay.high_water_bytes`.
    pub high_water_bytes: usize,
    /// `relay.max_connections`.
    pub max_connections: usize,
    /// `relay.block_unknown_methods`.
    pub block_unknown_methods: bool,
    /// `relay.min_expires`.
    pub min_expires: u32,
    /// `relay.max_expires`.
    pub max_expires: u32,
    /// Lines of the `[mgmt]` section (management API). The default serves it on a loopback
    /// port picked at start, with a short drain on SIGTERM.
    pub mgmt: Vec<String>,
    /// Anything else, appended verbatim (whole sections).
    pub extra: String,
    /// `relay.auth_requires_tls`.
    pub auth_requires_tls: bool,
}

impl RelayNode {
    /// A relay named `host` on plain TCP, with users alice/alicepw and bob/bobpw.
    pub fn new(host: &str) -> RelayNode {
        RelayNode {
            host: host.to_string(),
            plain: true,
            tls: false,
            cert: None,
            ca: Vec::new(),
            users: vec![
                ("alice".into(), "alicepw".into()),
                ("bob".into(), "bobpw".into()),
            ],
            require_auth: true,
            hosts: Vec::new(),
            workers: 1,
            probation_secs: 30,
            idle_timeout_secs: 3_600,
            transaction_timeout_secs: 30,
            high_water_bytes: 1 << 20,
            max_connections: 19_000,
            block_unknown_methods: false,
            min_expires: 60,
            max_expires: 86_400,
            mgmt: vec![
                "listen = \"127.0.0.1:0\"".into(),
                "drain_timeout_secs = 2".into(),
            ],
            extra: String::new(),
            auth_requires_tls: false,
        }
    }

    /// Adds a `[relay.hosts]` entry mapping `name` to loopback.
    pub fn host_alias(mut self, name: &str) -> RelayNode {
        self.hosts
            .push((name.to_string(), IpAddr::from([127, 0, 0, 1])));
        self
    }

    /// The TOML msrpd reads.
    pub fn toml(&self) -> String {
        let q = |p: &Path| format!("{:?}", p.display().to_string());
        let mut s = String::new();
        s.push_str(&format!(
            "[dataplane]\nworkers = {}\n\n[msrp]\nhost = {:?}\n",
            self.workers, self.host
        ));
        s.push_str(&format!(
            "listen = [{}]\n",
            if self.plain { "\"127.0.0.1:0\"" } else { "" }
        ));
        if self.tls {
            s.push_str("listen_tls = [\"127.0.0.1:0\"]\n");
        }
        s.push_str("\n[tls]\n");
        if let Some((c, k)) = &self.cert {
            s.push_str(&format!("cert = {}\nkey = {}\n", q(c), q(k)));
        }
        if !self.ca.is_empty() {
            let list: Vec<String> = self.ca.iter().map(|p| q(p)).collect();
            s.push_str(&format!("ca = [{}]\n", list.join(", ")));
        }
        s.push_str(&format!(
            "\n[relay]\nrequire_auth = {}\nprobation_secs = {}\nidle_timeout_secs = {}\n\
             transaction_timeout_secs = {}\nhigh_water_bytes = {}\nmax_connections = {}\n\
             block_unknown_methods = {}\nmin_expires = {}\nmax_expires = {}\n\
             auth_requires_tls = {}\n",
            self.require_auth,
            self.probation_secs,
            self.idle_timeout_secs,
            self.transaction_timeout_secs,
            self.high_water_bytes,
            self.max_connections,
            self.block_unknown_methods,
            self.min_expires,
            self.max_expires,
            self.auth_requires_tls,
        ));
        for (n, p) in &self.users {
            s.push_str(&format!(
                "[[relay.users]]\nname = {n:?}\npassword = {p:?}\n"
            ));
        }
        if !self.hosts.is_empty() {
            s.push_str("[relay.hosts]\n");
            for (n, a) in &self.hosts {
                s.push_str(&format!("{n:?} = \"{a}\"\n"));
            }
        }
        s.push_str("\n[log]\nlevel = \"warn\"\n");
        s.push_str("\n[mgmt]\n");
        for l in &self.mgmt {
            s.push_str(l);
            s.push('\n');
        }
        // SIP (with the demo room) comes up too; on ephemeral ports, never 5060.
        s.push_str("\n[sip]\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\n");
        s.push_str(&self.extra);
        s
    }

    /// Starts it in this process.
    pub fn start(&self) -> InProcess {
        let cfg = Config::parse(&self.toml())
            .unwrap_or_else(|e| panic!("test config refused: {e}\n{}", self.toml()));
        let daemon = Daemon::start(&cfg).unwrap_or_else(|e| panic!("msrpd start: {e}"));
        let plain = daemon.msrp_addrs.iter().find(|(_, t)| !t).map(|(a, _)| *a);
        let tls = daemon.msrp_addrs.iter().find(|(_, t)| *t).map(|(a, _)| *a);
        InProcess {
            daemon: Some(daemon),
            addrs: Addrs {
                host: self.host.clone(),
                plain,
                tls,
                mgmt: None,
            },
        }
    }

    /// Starts the `msrpd` binary at `bin` with this configuration written into `dir`.
    pub fn spawn(&self, bin: &Path, dir: &Path) -> MsrpdProcess {
        let cfg_path = dir.join(format!("{}-msrpd.toml", self.host));
        std::fs::write(&cfg_path, self.toml()).expect("write msrpd config");
        let mut cmd = Command::new(bin);
        cmd.arg("-c")
            .arg(&cfg_path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(child_stderr());
        let mut guard = ChildGuard::spawn(cmd, &format!("msrpd {}", self.host), false)
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
        let lines = stdout_lines(guard.child_mut());
        let want = usize::from(self.plain) + usize::from(self.tls);
        let mut addrs = Addrs {
            host: self.host.clone(),
            plain: None,
            tls: None,
            mgmt: None,
        };
        let mut seen = 0;
        let deadline = Instant::now() + Duration::from_secs(20);
        while seen < want {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match lines.recv_timeout(left) {
                Ok(l) => l,
                Err(_) => panic!(
                    "msrpd did not announce its listeners (exit: {:?})",
                    guard.exited()
                ),
            };
            // Announced before the MSRP listeners.
            if let Some(a) = line.strip_prefix("msrpd: management API on http://") {
                addrs.mgmt = a.trim().parse().ok();
                continue;
            }
            // "msrpd: MSRP on msrps://host:port;tcp (127.0.0.1:port)"
            let Some(rest) = line.strip_prefix("msrpd: MSRP on ") else {
                continue;
            };
            let addr: SocketAddr = rest
                .rsplit_once('(')
                .and_then(|(_, a)| a.strip_suffix(')'))
                .and_then(|a| a.parse().ok())
                .unwrap_or_else(|| panic!("unexpected start-up line {line:?}"));
            if rest.starts_with("msrps:") {
                addrs.tls = Some(addr);
            } else {
                addrs.plain = Some(addr);
            }
            seen += 1;
        }
        MsrpdProcess { guard, addrs }
    }
}

/// Where a running msrpd listens.
#[derive(Clone, Debug)]
pub struct Addrs {
    /// Its host name.
    pub host: String,
    /// Plain TCP listener.
    pub plain: Option<SocketAddr>,
    /// TLS listener.
    pub tls: Option<SocketAddr>,
    /// Management API (TCP), when the binary announced one.
    pub mgmt: Option<SocketAddr>,
}

impl Addrs {
    /// The plain listener (panics when there is none).
    pub fn plain(&self) -> SocketAddr {
        self.plain.expect("a plain listener")
    }

    /// The TLS listener (panics when there is none).
    pub fn tls(&self) -> SocketAddr {
        self.tls.expect("a TLS listener")
    }

    /// `msrp://host:port;tcp`, the URI a client AUTHs to over plain TCP.
    pub fn uri(&self) -> String {
        format!("msrp://{}:{};tcp", self.host, self.plain().port())
    }

    /// `msrps://host:port;tcp`, the URI a client AUTHs to over TLS.
    pub fn tls_uri(&self) -> String {
        format!("msrps://{}:{};tcp", self.host, self.tls().port())
    }
}

/// msrpd running inside the test process; shut down on drop.
pub struct InProcess {
    daemon: Option<Daemon>,
    /// Its listeners.
    pub addrs: Addrs,
}

impl InProcess {
    /// Relay counters.
    pub fn stats(&self) -> dataplane::relay::RelayStats {
        self.daemon
            .as_ref()
            .map(Daemon::relay_stats)
            .unwrap_or_default()
    }
}

impl std::ops::Deref for InProcess {
    type Target = Addrs;
    fn deref(&self) -> &Addrs {
        &self.addrs
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        if let Some(d) = self.daemon.take() {
            let _ = d.shutdown();
        }
    }
}

/// The msrpd binary running as a child; stopped by PID on drop.
pub struct MsrpdProcess {
    /// The child.
    pub guard: ChildGuard,
    /// Its listeners.
    pub addrs: Addrs,
}

impl MsrpdProcess {
    /// Its PID.
    pub fn pid(&self) -> u32 {
        self.guard.pid()
    }
}

impl std::ops::Deref for MsrpdProcess {
    type Target = Addrs;
    fn deref(&self) -> &Addrs {
        &self.addrs
    }
}
