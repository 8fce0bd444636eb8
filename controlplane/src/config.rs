//! `msrpd`'s configuration file (TOML). Every key has a default, so no file is needed to run
//! on loopback; every bad value is refused at start-up with a message naming the key.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The whole file.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Workers, cores and the network backend.
    pub dataplane: DataplaneSection,
    /// MSRP listeners and identity.
    pub msrp: MsrpSection,
    /// Certificates for `msrps` (and SIP over TLS).
    pub tls: TlsSection,
    /// The RFC 4976 relay.
    pub relay: RelaySection,
    /// Frame parser limits.
    pub limits: LimitsSection,
    /// Logging.
    pub log: LogSection,
    /// Management API, metrics and graceful stop (`crate::mgmt`).
    pub mgmt: crate::mgmt::config::MgmtSection,
    /// SIP: registrar, outbound edge and the rooms' focus (see `focus::config`).
    pub sip: crate::focus::config::SipSection,
    /// Chat rooms. Absent: one demo room `sip:demo@<first SIP listener address>`; `rooms = []`:
    /// none.
    pub rooms: Option<Vec<crate::focus::config::RoomSection>>,
    /// The DPDK backend (`dataplane.backend = "dpdk"`); see [`DpdkSection`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dpdk: Option<DpdkSection>,
}

/// `[dataplane]`
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DataplaneSection {
    /// `kernel` (sockets and epoll; the default) or `dpdk` (needs the `dpdk` build feature).
    pub backend: String,
    /// Number of dataplane workers (threads), each owning its connections.
    pub workers: usize,
    /// Cores to pin the workers to, one per worker; empty leaves them unpinned.
    pub cores: Vec<usize>,
}

impl Default for DataplaneSection {
    fn default() -> Self {
        DataplaneSection {
            backend: "kernel".into(),
            workers: 1,
            cores: Vec::new(),
        }
    }
}

/// `[msrp]`
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MsrpSection {
    /// Plain TCP (`msrp:`) listen addresses. The default, `127.0.0.1:2855`, moves to the next
    /// free port when 2855 is taken; explicit addresses never move.
    pub listen: Vec<SocketAddr>,
    /// TLS (`msrps:`) listen addresses (need `[tls]`).
    pub listen_tls: Vec<SocketAddr>,
    /// Host name used in the URIs this node hands out (relay tokens, session URIs). RFC 4976
    /// wants a name, not an address; clients must be able to resolve it.
    pub host: String,
    /// Further names this node answers to in To-Path.
    pub aliases: Vec<String>,
}

/// The IANA port of MSRP.
pub const MSRP_PORT: u16 = 2855;

impl Default for MsrpSection {
    fn default() -> Self {
        MsrpSection {
            listen: vec![SocketAddr::from(([127, 0, 0, 1], MSRP_PORT))],
            listen_tls: Vec::new(),
            host: "localhost".into(),
            aliases: Vec::new(),
        }
    }
}

/// `[tls]`
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSection {
    /// PEM certificate chain presented by TLS listeners (and to relays we connect to).
    pub cert: Option<PathBuf>,
    /// PEM private key of `cert`.
    pub key: Option<PathBuf>,
    /// PEM CA certificates trusted for peers (next-hop relays; client certificates of relays).
    /// Empty: the system has no trust store here, so TLS to next hops fails until set.
    pub ca: Vec<PathBuf>,
}

/// `[relay]`
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RelaySection {
    /// Serve as an RFC 4976 relay.
    pub enabled: bool,
    /// Digest realm (default: `msrp.host`).
    pub realm: Option<String>,
    /// Require digest credentials in AUTH. `false` grants tokens to anyone who asks (they are
    /// still needed to forward: never an open relay).
    pub require_auth: bool,
    /// Users allowed to AUTH.
    pub users: Vec<User>,
    /// Smallest Expires accepted (seconds).
    pub min_expires: u32,
    /// Largest Expires accepted (seconds).
    pub max_expires: u32,
    /// Lifetime granted when AUTH has none (seconds).
    pub default_expires: u32,
    /// Refuse AUTH (403) on plain TCP connections: RFC 4976 has clients AUTH over TLS only.
    /// Off by default so that the loopback default (no TLS listener) has a usable relay.
    pub auth_requires_tls: bool,
    /// Check that a client's requests carry the From-Path it authenticated with.
    pub strict_from_path: bool,
    /// Seconds a new connection has to send a successful request.
    pub probation_secs: u64,
    /// Failed AUTHs after which a client connection is closed.
    pub max_auth_failures: u32,
    /// Seconds a next hop has to answer a forwarded request.
    pub transaction_timeout_secs: u64,
    /// Seconds after which an idle connection is closed.
    pub idle_timeout_secs: u64,
    /// Bytes queued towards one connection before its sources are paused.
    pub high_water_bytes: usize,
    /// Connections per worker.
    pub max_connections: usize,
    /// Refuse to forward unknown methods (answered 501).
    pub block_unknown_methods: bool,
    /// Names resolved without DNS: host = address.
    pub hosts: BTreeMap<String, IpAddr>,
}

impl Default for RelaySection {
    fn default() -> Self {
        RelaySection {
            enabled: true,
            realm: None,
            require_auth: true,
            users: Vec::new(),
            min_expires: 60,
            max_expires: 86_400,
            default_expires: 3_600,
            auth_requires_tls: false,
            strict_from_path: true,
            probation_secs: 30,
            max_auth_failures: 3,
            transaction_timeout_secs: 30,
            idle_timeout_secs: 3_600,
            high_water_bytes: 1 << 20,
            max_connections: 19_000,
            block_unknown_methods: false,
            hosts: BTreeMap::new(),
        }
    }
}

/// A user and its password.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// User name.
    pub name: String,
    /// Password (digest HA1 is derived from it).
    pub password: String,
}

/// `[limits]`
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsSection {
    /// Largest chunk body (octets); bigger ones get 413.
    pub max_chunk_size: u64,
    /// Largest header block (octets).
    pub max_header_bytes: usize,
    /// Most header lines per frame.
    pub max_headers: usize,
}

impl Default for LimitsSection {
    fn default() -> Self {
        let p = dataplane::wire::ParserLimits::default();
        LimitsSection {
            max_chunk_size: p.max_chunk_size,
            max_header_bytes: p.max_header_bytes,
            max_headers: p.max_headers,
        }
    }
}

/// `[log]`
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LogSection {
    /// Filter in `tracing` syntax: a level, or `info,dataplane::relay=debug`. `RUST_LOG` wins.
    pub level: String,
    /// `text` or `json` (one object per line).
    pub format: String,
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection {
            level: "info".into(),
            format: "text".into(),
        }
    }
}

/// A configuration problem, with the key it concerns.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema (unknown key, wrong type, ...).
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message (names the key and the line).
        message: String,
    },
    /// A value is out of range or inconsistent with another.
    #[error("{key}: {message}")]
    Invalid {
        /// The offending key, e.g. `dataplane.workers`.
        key: &'static str,
        /// What is wrong and what is expected.
        message: String,
    },
}

fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        message: message.into(),
    }
}

impl Config {
    /// Reads and validates a file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        let c = Config::parse(&text).map_err(|e| match e {
            ConfigError::Parse { message, .. } => ConfigError::Parse {
                path: path.into(),
                message,
            },
            other => other,
        })?;
        Ok(c)
    }

    /// Parses and validates TOML text.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let c: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: PathBuf::new(),
            message: e.to_string(),
        })?;
        c.validate()?;
        Ok(c)
    }

    /// Checks every value that the types alone do not.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let d = &self.dataplane;
        match d.backend.as_str() {
            "kernel" => {}
            "dpdk" => {
                if !cfg!(feature = "dpdk") {
                    return Err(invalid("dataplane.backend", BUILT_WITHOUT_DPDK));
                }
            }
            other => {
                return Err(invalid(
                    "dataplane.backend",
                    format!("\"{other}\" is not a backend; use \"kernel\" or \"dpdk\""),
                ))
            }
        }
        if d.workers == 0 || d.workers > 64 {
            return Err(invalid(
                "dataplane.workers",
                format!("{} workers: use 1 to 64", d.workers),
            ));
        }
        if !d.cores.is_empty() && d.cores.len() != d.workers {
            return Err(invalid(
                "dataplane.cores",
                format!(
                    "{} cores listed for {} workers: list one core per worker, or none",
                    d.cores.len(),
                    d.workers
                ),
            ));
        }
        let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get());
        if let Some(c) = d.cores.iter().find(|c| **c >= ncpu) {
            return Err(invalid(
                "dataplane.cores",
                format!("core {c} does not exist (this machine has {ncpu})"),
            ));
        }
        let m = &self.msrp;
        if m.listen.is_empty() && m.listen_tls.is_empty() {
            return Err(invalid(
                "msrp.listen",
                "no MSRP listener: give at least one address in listen or listen_tls",
            ));
        }
        if m.host.is_empty()
            || m.host
                .contains(|c: char| c.is_whitespace() || c == '/' || c == ';')
        {
            return Err(invalid(
                "msrp.host",
                format!("\"{}\" is not a host name", m.host),
            ));
        }
        if !m.listen_tls.is_empty() && (self.tls.cert.is_none() || self.tls.key.is_none()) {
            return Err(invalid(
                "tls.cert",
                "msrp.listen_tls needs tls.cert and tls.key",
            ));
        }
        if self.tls.cert.is_some() != self.tls.key.is_some() {
            return Err(invalid("tls.key", "tls.cert and tls.key go together"));
        }
        let r = &self.relay;
        if r.min_expires == 0 || r.min_expires > r.max_expires {
            return Err(invalid(
                "relay.min_expires",
                format!(
                    "min_expires {} must be at least 1 and at most max_expires {}",
                    r.min_expires, r.max_expires
                ),
            ));
        }
        if !(r.min_expires..=r.max_expires).contains(&r.default_expires) {
            return Err(invalid(
                "relay.default_expires",
                format!(
                    "{} is outside min_expires..max_expires ({}..{})",
                    r.default_expires, r.min_expires, r.max_expires
                ),
            ));
        }
        for (key, v) in [
            ("relay.probation_secs", r.probation_secs),
            ("relay.transaction_timeout_secs", r.transaction_timeout_secs),
            ("relay.idle_timeout_secs", r.idle_timeout_secs),
        ] {
            if v == 0 {
                return Err(invalid(key, "must be at least 1 second"));
            }
        }
        if r.max_connections == 0 {
            return Err(invalid("relay.max_connections", "must be at least 1"));
        }
        if r.high_water_bytes < 64 * 1024 {
            return Err(invalid("relay.high_water_bytes", "must be at least 65536"));
        }
        if r.users.iter().any(|u| u.name.is_empty()) {
            return Err(invalid("relay.users", "a user has an empty name"));
        }
        let l = &self.limits;
        if l.max_chunk_size < 2048 {
            return Err(invalid(
                "limits.max_chunk_size",
                "must be at least 2048 (RFC 4975 §7.1 chunks are at least that big)",
            ));
        }
        if l.max_header_bytes < 1024 {
            return Err(invalid("limits.max_header_bytes", "must be at least 1024"));
        }
        if l.max_headers < 8 {
            return Err(invalid("limits.max_headers", "must be at least 8"));
        }
        self.sip
            .validate(self.tls.cert.is_some() && self.tls.key.is_some())?;
        if let Some(rooms) = &self.rooms {
            crate::focus::config::validate_rooms(rooms)?;
        }
        validate_dpdk(self)?;
        match self.log.format.as_str() {
            "text" | "json" => {}
            other => {
                return Err(invalid(
                    "log.format",
                    format!("\"{other}\": use \"text\" or \"json\""),
                ))
            }
        }
        self.mgmt.validate()?;
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            return Err(invalid(
                "log.level",
                format!(
                    "\"{}\" is not a log filter (e.g. \"info\" or \"info,dataplane=debug\")",
                    self.log.level
                ),
            ));
        }
        Ok(())
    }

    /// Things that work but are probably not meant.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        let r = &self.relay;
        if r.enabled && r.require_auth && r.users.is_empty() {
            w.push(
                "relay.users: the relay requires authentication but has no users, so every AUTH is refused; add [[relay.users]] or set relay.require_auth = false".into(),
            );
        }
        if r.auth_requires_tls && self.msrp.listen_tls.is_empty() && r.enabled {
            w.push(
                "relay.auth_requires_tls: no msrp.listen_tls listener, so every AUTH is refused"
                    .into(),
            );
        }
        if !r.require_auth && r.enabled {
            w.push("relay.require_auth = false: anybody who can connect gets relay tokens".into());
        }
        w
    }

    /// Whether the MSRP listeners are the default ones (which may move to a free port).
    pub fn default_msrp_listen(&self) -> bool {
        self.msrp.listen == MsrpSection::default().listen
    }
}

// ---- [dpdk] (issue #9) ---------------------------------------------------------------------
// Kept in one block: the section is the dataplane's own `DpdkConfig` (same keys as
// dataplane/src/net/dpdk/README.md), checked here against the rest of the file.

/// `[dpdk]`: with the `dpdk` feature, the dataplane's `DpdkConfig` (EAL arguments with the
/// `--vdev`/`-a` of the port, `port`, `cores`, `ipv4 = { addr, prefix }`, `ipv4_gateway`,
/// `ipv6`, `mtu`, `mbufs_per_queue`, descriptor and burst sizes, `idle_sleep_us`, and
/// `[dpdk.tcp]` buffer/window sizes and limits).
#[cfg(feature = "dpdk")]
pub type DpdkSection = dataplane::net::dpdk::DpdkConfig;

/// `[dpdk]` in a build without the `dpdk` feature: kept as raw TOML only so that its presence
/// can be refused with a clear message.
#[cfg(not(feature = "dpdk"))]
pub type DpdkSection = toml::Table;

/// What the message says when the build cannot run DPDK.
pub const BUILT_WITHOUT_DPDK: &str =
    "msrpd was built without dpdk (rebuild with `cargo build --release --features controlplane/dpdk`)";

fn validate_dpdk(c: &Config) -> Result<(), ConfigError> {
    let wants = c.dataplane.backend == "dpdk";
    if !cfg!(feature = "dpdk") {
        if wants {
            return Err(invalid("dataplane.backend", BUILT_WITHOUT_DPDK));
        }
        if c.dpdk.is_some() {
            return Err(invalid("dpdk", BUILT_WITHOUT_DPDK));
        }
        return Ok(());
    }
    #[cfg(feature = "dpdk")]
    {
        let Some(d) = &c.dpdk else {
            if wants {
                return Err(invalid(
                    "dpdk",
                    "dataplane.backend = \"dpdk\" needs a [dpdk] section (eal_args with the port's --vdev or -a, port, cores, ipv4)",
                ));
            }
            return Ok(());
        };
        if !wants {
            return Ok(());
        }
        d.validate().map_err(|m| invalid("dpdk", m))?;
        if d.cores.len() != c.dataplane.workers {
            return Err(invalid(
                "dpdk.cores",
                format!(
                    "{} DPDK cores for {} dataplane workers: one queue pair per worker, so list one core per worker",
                    d.cores.len(),
                    c.dataplane.workers
                ),
            ));
        }
        if !c.dataplane.cores.is_empty() && c.dataplane.cores != d.cores {
            return Err(invalid(
                "dataplane.cores",
                "with the dpdk backend the workers run on dpdk.cores: leave dataplane.cores empty or equal",
            ));
        }
        let own = |ip: IpAddr| match ip {
            IpAddr::V4(a) => d.ipv4.is_some_and(|n| n.addr == a),
            IpAddr::V6(a) => d.ipv6.is_some_and(|n| n.addr == a),
        };
        if let Some(a) = c.msrp.listen.iter().find(|a| !a.ip().is_unspecified()) {
            let why = if own(a.ip()) {
                "the daemon checks its listen ports on the kernel side first"
            } else {
                "it is not an address of the DPDK port"
            };
            return Err(invalid(
                "msrp.listen",
                format!(
                    "{a}: with the dpdk backend listen on 0.0.0.0:PORT or [::]:PORT (the port's addresses are dpdk.ipv4/ipv6; {why})"
                ),
            ));
        }
        if !c.msrp.listen_tls.is_empty()
            && c.msrp.listen_tls.iter().any(|a| !a.ip().is_unspecified())
        {
            return Err(invalid(
                "msrp.listen_tls",
                "with the dpdk backend listen on 0.0.0.0:PORT or [::]:PORT",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        Config::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn empty_file_is_the_default() {
        let c = Config::parse("").unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.msrp.listen, vec!["127.0.0.1:2855".parse().unwrap()]);
        assert_eq!(c.dataplane.workers, 1);
        assert!(c.default_msrp_listen());
        // A relay without users works but refuses everybody: say so.
        assert!(c.warnings().iter().any(|w| w.starts_with("relay.users")));
    }

    #[test]
    fn every_bad_value_names_its_key() {
        let users = "[[relay.users]]\nname = \"a\"\npassword = \"b\"\n";
        for (text, key) in [
            ("[dataplane]\nworkers = 0\n", "dataplane.workers"),
            ("[dataplane]\nbackend = \"magic\"\n", "dataplane.backend"),
            ("[dataplane]\nworkers = 2\ncores = [0]\n", "dataplane.cores"),
            ("[dataplane]\ncores = [4096]\n", "dataplane.cores"),
            ("[msrp]\nlisten = []\n", "msrp.listen"),
            ("[msrp]\nhost = \"a b\"\n", "msrp.host"),
            ("[msrp]\nlisten_tls = [\"127.0.0.1:2856\"]\n", "tls.cert"),
            (
                "[relay]\nmin_expires = 100\nmax_expires = 10\n",
                "relay.min_expires",
            ),
            ("[relay]\ndefault_expires = 5\n", "relay.default_expires"),
            ("[relay]\nprobation_secs = 0\n", "relay.probation_secs"),
            ("[limits]\nmax_chunk_size = 10\n", "limits.max_chunk_size"),
            ("[log]\nformat = \"xml\"\n", "log.format"),
            ("[log]\nlevel = \"=[\"\n", "log.level"),
        ] {
            let e = err(&format!("{users}{text}"));
            assert!(e.starts_with(key), "{text:?} gave {e}");
        }
    }

    #[test]
    fn unknown_keys_and_wrong_types_are_refused_with_their_name() {
        let e = err("[relay]\nrequire_auth = false\nfrobnicate = 1\n");
        assert!(e.contains("frobnicate"), "{e}");
        let e = err("[dataplane]\nworkers = \"two\"\n");
        assert!(e.contains("workers"), "{e}");
        let e = err("[msrp]\nlisten = [\"nonsense\"]\n");
        assert!(e.contains("listen"), "{e}");
    }

    #[test]
    fn users_and_hosts_parse() {
        let c = Config::parse(
            "[relay]\nrealm = \"r.example\"\n[[relay.users]]\nname = \"alice\"\npassword = \"pw\"\n[relay.hosts]\n\"relay2.example\" = \"127.0.0.2\"\n",
        )
        .unwrap();
        assert_eq!(c.relay.users[0].name, "alice");
        assert_eq!(
            c.relay.hosts["relay2.example"],
            "127.0.0.2".parse::<IpAddr>().unwrap()
        );
    }
}

#[cfg(test)]
mod dpdk_tests {
    use super::*;

    const USERS: &str = "[[relay.users]]\nname = \"a\"\npassword = \"b\"\n";

    fn err(text: &str) -> String {
        Config::parse(&format!("{USERS}{text}"))
            .unwrap_err()
            .to_string()
    }

    #[cfg(not(feature = "dpdk"))]
    #[test]
    fn without_the_feature_dpdk_is_refused_clearly() {
        let e = err("[dataplane]\nbackend = \"dpdk\"\n");
        assert!(
            e.starts_with("dataplane.backend") && e.contains("built without dpdk"),
            "{e}"
        );
        let e = err("[dpdk]\nport = \"net_af_packet0\"\n");
        assert!(
            e.starts_with("dpdk:") && e.contains("built without dpdk"),
            "{e}"
        );
    }

    #[cfg(feature = "dpdk")]
    const GOOD: &str = "[dataplane]\nbackend = \"dpdk\"\n[msrp]\nlisten = [\"0.0.0.0:2855\"]\n\
        [dpdk]\neal_args = [\"-l\", \"0\", \"--no-huge\", \"--vdev=net_af_packet0,iface=vd0\"]\n\
        port = \"net_af_packet0\"\ncores = [0]\nipv4 = { addr = \"198.18.0.2\", prefix = 24 }\n\
        ipv4_gateway = \"198.18.0.1\"\nmbufs_per_queue = 4095\n[dpdk.tcp]\nrx_buffer = 65536\n";

    #[cfg(feature = "dpdk")]
    #[test]
    fn a_dpdk_section_maps_to_the_dataplane_config() {
        let c = Config::parse(&format!("{USERS}{GOOD}")).unwrap();
        let d = c.dpdk.expect("section");
        assert_eq!(d.port, "net_af_packet0");
        assert_eq!(d.ipv4.map(|n| n.prefix), Some(24));
        assert_eq!(d.ipv4_gateway, Some("198.18.0.1".parse().unwrap()));
        assert_eq!(d.mbufs_per_queue, 4095);
        assert_eq!(d.tcp.rx_buffer, 65536);
        // Unset keys keep the dataplane's defaults.
        assert_eq!(
            d.tcp.tx_buffer,
            dataplane::net::dpdk::TcpConfig::default().tx_buffer
        );
    }

    #[cfg(feature = "dpdk")]
    #[test]
    fn bad_dpdk_settings_name_their_key() {
        let e = err("[dataplane]\nbackend = \"dpdk\"\n[msrp]\nlisten = [\"0.0.0.0:2855\"]\n");
        assert!(
            e.starts_with("dpdk:") && e.contains("[dpdk] section"),
            "{e}"
        );
        let e = err(&GOOD.replace("0.0.0.0:2855", "127.0.0.1:2855"));
        assert!(e.starts_with("msrp.listen"), "{e}");
        let e = err(&GOOD.replace("cores = [0]", "cores = [0, 1]"));
        assert!(e.starts_with("dpdk.cores"), "{e}");
        let e = err(&GOOD.replace("prefix = 24", "prefix = 40"));
        assert!(e.starts_with("dpdk:") && e.contains("ipv4"), "{e}");
        let e = err(&GOOD.replace("port = ", "frobnicate = 1\nport = "));
        assert!(e.contains("frobnicate"), "{e}");
    }
}
