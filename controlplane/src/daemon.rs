//! Starting the appliance from a [`Config`]: TLS material, the dataplane workers with their
//! MSRP service (relay and chat switch on the same ports), the SIP server with the rooms'
//! focus ([`crate::focus::mount`]), and (as it comes) the management API.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use dataplane::relay::{ListenerRole, Relay, RelayConfig, RelayControl, RelayPeer, RelayStats};
use dataplane::runtime::{Runtime, RuntimeConfig};
use dataplane::switch::SwitchConfig;
use dataplane::wire::ParserLimits;

use crate::config::{Config, MSRP_PORT};
use crate::focus::mount::{event_channel, mount, Mounted};
use crate::focus::Focus;
use crate::sip::TransportKind;

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A certificate or key file is unusable.
    #[error("{key}: {message}")]
    Tls {
        /// The config key naming the file.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
    /// No free port, or a listener could not be opened.
    #[error("{0}")]
    Listen(String),
    /// The dataplane did not start.
    #[error("dataplane: {0}")]
    Dataplane(std::io::Error),
    /// SIP or the rooms did not start.
    #[error("{0}")]
    Sip(#[from] crate::focus::mount::MountError),
}

/// A running daemon.
pub struct Daemon {
    pub(crate) runtime: Runtime<RelayControl, RelayPeer>,
    /// Relay users, replaced on reload (`crate::mgmt::reload`).
    pub(crate) credentials: Arc<crate::mgmt::credentials::SharedCredentials>,
    /// MSRP listeners as bound, plain then TLS.
    pub msrp_addrs: Vec<(SocketAddr, bool)>,
    /// SIP listeners as bound.
    pub sip_addrs: Vec<(TransportKind, SocketAddr)>,
    pub(crate) sip: Option<Box<Mounted>>,
    focus: Focus,
    control: tokio::runtime::Handle,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop_sip();
    }
}

/// Ports tried after 2855 when the default listener is taken.
const PORT_TRIES: u16 = 20;

impl Daemon {
    /// Starts everything the configuration asks for.
    pub fn start(cfg: &Config) -> Result<Daemon, StartError> {
        let tls = load_tls(cfg)?;
        let plain = resolve_listeners(&cfg.msrp.listen, cfg.default_msrp_listen())?;
        let tls_addrs = resolve_listeners(&cfg.msrp.listen_tls, false)?;
        let mut listen: Vec<SocketAddr> = plain.clone();
        listen.extend(&tls_addrs);
        let roles: Vec<ListenerRole> = plain
            .iter()
            .map(|a| ListenerRole {
                port: a.port(),
                tls: false,
            })
            .chain(tls_addrs.iter().map(|a| ListenerRole {
                port: a.port(),
                tls: true,
            }))
            .collect();

        let switch_cfg = Arc::new(SwitchConfig {
            tls_client: tls.client.clone(),
            ..SwitchConfig::default()
        });
        let (sink, events) = event_channel();
        let credentials = Arc::new(crate::mgmt::credentials::SharedCredentials::from_config(
            cfg,
        ));
        let relay_cfg = Arc::new(relay_config(cfg, roles, tls, credentials.clone()));
        let rt_cfg = RuntimeConfig {
            workers: cfg.dataplane.workers,
            cores: (!cfg.dataplane.cores.is_empty()).then(|| cfg.dataplane.cores.clone()),
            ..RuntimeConfig::default()
        };
        let runtime = crate::backend::start_runtime(cfg, &rt_cfg, &listen, move |ctx| {
            Relay::with_switch(
                relay_cfg.clone(),
                switch_cfg.clone(),
                Some(sink.clone()),
                ctx,
            )
        })
        .map_err(StartError::Dataplane)?;
        let msrp_addrs = runtime
            .listen_addrs()
            .iter()
            .enumerate()
            .map(|(i, a)| (*a, i >= plain.len()))
            .collect::<Vec<_>>();
        let port_of = |tls: bool| {
            msrp_addrs
                .iter()
                .find(|(_, t)| *t == tls)
                .map(|(a, _)| a.port())
        };
        let mounted = mount(
            cfg,
            runtime.controls().to_vec(),
            events,
            port_of(false),
            port_of(true),
        );
        let mut runtime = runtime;
        let mounted = match mounted {
            Ok(m) => m,
            Err(e) => {
                let _ = runtime.shutdown();
                return Err(e.into());
            }
        };
        Ok(Daemon {
            runtime,
            credentials,
            msrp_addrs,
            sip_addrs: mounted.sip_addrs.clone(),
            focus: mounted.focus.clone(),
            control: mounted.runtime.handle().clone(),
            sip: Some(Box::new(mounted)),
        })
    }

    /// The rooms' focus: the management API for rooms, participants and registrations (see
    /// [`Focus`]; every method is synchronous and may be called from any thread).
    pub fn focus(&self) -> &Focus {
        &self.focus
    }

    /// Applies a reloaded configuration's rooms (`[[rooms]]`, or the demo room when it has
    /// none): creates, updates and deletes rooms to match. Other `[sip]` changes need a
    /// restart.
    pub fn reload_rooms(
        &self,
        cfg: &Config,
    ) -> Result<crate::focus::ReconcileReport, crate::focus::FocusError> {
        let host = self
            .sip_addrs
            .first()
            .map_or_else(|| "127.0.0.1".to_string(), |(_, a)| a.ip().to_string());
        let rooms = crate::focus::mount::configured_rooms(cfg, &host).map_err(|e| {
            crate::focus::FocusError::Invalid {
                key: "rooms".into(),
                message: e.to_string(),
            }
        })?;
        self.focus.reconcile(rooms)
    }

    /// The SIP server (registrar state, flows); `None` with `sip.enabled = false`.
    pub fn sip_server(&self) -> Option<&crate::sip::SipServer> {
        self.sip.as_ref().and_then(|m| m.sip.as_ref())
    }

    /// The control plane's tokio runtime (for tasks such as a management API server).
    pub fn control_runtime(&self) -> &tokio::runtime::Handle {
        &self.control
    }

    /// Chat switch counters summed over the workers (room and session counts are the same on
    /// every worker: the largest is taken).
    pub fn switch_stats(&self) -> dataplane::switch::SwitchStats {
        use dataplane::switch::{SwitchControl, SwitchStats};
        let mut t = SwitchStats::default();
        for ring in self.runtime.controls() {
            let (tx, rx) = std::sync::mpsc::channel();
            if ring
                .push(RelayControl::Switch(SwitchControl::Stats(tx)))
                .is_err()
            {
                continue;
            }
            let Ok(s) = rx.recv_timeout(Duration::from_secs(2)) else {
                continue;
            };
            t.merge(s);
        }
        t
    }

    /// Relay counters summed over the workers.
    pub fn relay_stats(&self) -> RelayStats {
        let mut total = RelayStats::default();
        for ring in self.runtime.controls() {
            let (tx, rx) = std::sync::mpsc::channel();
            if ring.push(RelayControl::Stats(tx)).is_err() {
                continue;
            }
            if let Ok(s) = rx.recv_timeout(Duration::from_secs(2)) {
                total.connections += s.connections;
                total.tokens += s.tokens;
                total.forwarded += s.forwarded;
                total.auth_ok += s.auth_ok;
                total.auth_failed += s.auth_failed;
                total.rejected += s.rejected;
                total.reports += s.reports;
                total.dropped_connections += s.dropped_connections;
                total.pending_transactions += s.pending_transactions;
            }
        }
        total
    }

    /// Stops SIP and the workers.
    pub fn shutdown(mut self) -> std::io::Result<()> {
        self.stop_sip();
        self.runtime.shutdown()
    }

    fn stop_sip(&mut self) {
        if let Some(m) = self.sip.take() {
            drop(m.sip);
            // Never blocks, so a daemon may be stopped from inside another tokio runtime.
            m.runtime.shutdown_background();
        }
    }
}

/// Listen addresses with port 0 resolved; the default one moves up from 2855 when taken.
fn resolve_listeners(addrs: &[SocketAddr], may_move: bool) -> Result<Vec<SocketAddr>, StartError> {
    let mut out = Vec::new();
    for a in addrs {
        let tries = if may_move && a.port() == MSRP_PORT {
            PORT_TRIES
        } else {
            1
        };
        let mut found = None;
        let mut last = None;
        for i in 0..tries {
            let cand = SocketAddr::new(a.ip(), a.port() + i);
            // A plain bind fails on any port in use, also by SO_REUSEPORT sockets.
            match TcpListener::bind(cand) {
                Ok(l) => {
                    found = Some(
                        l.local_addr()
                            .map_err(|e| StartError::Listen(e.to_string()))?,
                    );
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        match found {
            Some(f) => out.push(f),
            None => {
                let e = last.map_or_else(String::new, |e| e.to_string());
                return Err(StartError::Listen(if tries > 1 {
                    format!(
                        "msrp.listen: ports {}..{} on {} are all taken ({e})",
                        a.port(),
                        a.port() + tries - 1,
                        a.ip()
                    )
                } else {
                    format!("cannot listen on {a}: {e}")
                }));
            }
        }
    }
    Ok(out)
}

/// TLS configuration for both directions.
struct Tls {
    server: Option<Arc<rustls::ServerConfig>>,
    client: Option<Arc<rustls::ClientConfig>>,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls_err(key: &'static str, message: impl Into<String>) -> StartError {
    StartError::Tls {
        key,
        message: message.into(),
    }
}

fn read_pem(key: &'static str, path: &Path) -> Result<Vec<u8>, StartError> {
    std::fs::read(path).map_err(|e| tls_err(key, format!("{}: {e}", path.display())))
}

fn load_tls(cfg: &Config) -> Result<Tls, StartError> {
    use rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    for p in &cfg.tls.ca {
        let pem = read_pem("tls.ca", p)?;
        let certs: Vec<CertificateDer> = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<_, _>>()
            .map_err(|e| tls_err("tls.ca", format!("{}: {e}", p.display())))?;
        if certs.is_empty() {
            return Err(tls_err(
                "tls.ca",
                format!("{}: no certificate in it", p.display()),
            ));
        }
        for c in certs {
            roots
                .add(c)
                .map_err(|e| tls_err("tls.ca", format!("{}: {e}", p.display())))?;
        }
    }
    let roots = Arc::new(roots);
    let identity = match (&cfg.tls.cert, &cfg.tls.key) {
        (Some(c), Some(k)) => {
            let cpem = read_pem("tls.cert", c)?;
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cpem)
                .collect::<Result<_, _>>()
                .map_err(|e| tls_err("tls.cert", format!("{}: {e}", c.display())))?;
            if chain.is_empty() {
                return Err(tls_err(
                    "tls.cert",
                    format!("{}: no certificate in it", c.display()),
                ));
            }
            let kpem = read_pem("tls.key", k)?;
            let key = PrivateKeyDer::from_pem_slice(&kpem)
                .map_err(|e| tls_err("tls.key", format!("{}: {e}", k.display())))?;
            Some((chain, key))
        }
        _ => None,
    };
    let server = match &identity {
        Some((chain, key)) => {
            let builder = rustls::ServerConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .map_err(|e| tls_err("tls.cert", e.to_string()))?;
            // RFC 4976 §6.1: ask for a client certificate; relays present one, clients do not.
            let builder = if roots.is_empty() {
                builder.with_no_client_auth()
            } else {
                let v = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    roots.clone(),
                    provider(),
                )
                .allow_unauthenticated()
                .build()
                .map_err(|e| tls_err("tls.ca", e.to_string()))?;
                builder.with_client_cert_verifier(v)
            };
            let sc = builder
                .with_single_cert(chain.clone(), key.clone_key())
                .map_err(|e| tls_err("tls.key", format!("does not match tls.cert: {e}")))?;
            Some(Arc::new(sc))
        }
        None => None,
    };
    let client = {
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_err("tls.ca", e.to_string()))?
            .with_root_certificates(roots);
        let cc = match &identity {
            // Relay-to-relay links are mutually authenticated (RFC 4976 §9.2).
            Some((chain, key)) => builder
                .with_client_auth_cert(chain.clone(), key.clone_key())
                .map_err(|e| tls_err("tls.key", e.to_string()))?,
            None => builder.with_no_client_auth(),
        };
        Some(Arc::new(cc))
    };
    Ok(Tls { server, client })
}

fn relay_config(
    cfg: &Config,
    listeners: Vec<ListenerRole>,
    tls: Tls,
    creds: Arc<crate::mgmt::credentials::SharedCredentials>,
) -> RelayConfig {
    let r = &cfg.relay;
    let realm = crate::mgmt::credentials::realm(cfg);
    let mut keys = [[0u8; 32]; 2];
    for k in &mut keys {
        fill_random(k);
    }
    let mut rc = RelayConfig::new(&cfg.msrp.host, creds, keys);
    rc.hosts.extend(cfg.msrp.aliases.iter().cloned());
    rc.listeners = listeners;
    rc.realm = realm;
    rc.require_auth = r.require_auth;
    rc.min_expires = r.min_expires;
    rc.max_expires = r.max_expires;
    rc.default_expires = r.default_expires;
    rc.strict_from_path = r.strict_from_path;
    rc.auth_requires_tls = r.auth_requires_tls;
    rc.probation = Duration::from_secs(r.probation_secs);
    rc.max_auth_failures = r.max_auth_failures;
    rc.transaction_timeout = Duration::from_secs(r.transaction_timeout_secs);
    rc.idle_timeout = Duration::from_secs(r.idle_timeout_secs);
    rc.high_water = r.high_water_bytes;
    rc.max_connections = r.max_connections;
    rc.block_unknown_methods = r.block_unknown_methods;
    rc.static_hosts = r
        .hosts
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), *v))
        .collect();
    rc.parser = ParserLimits {
        max_chunk_size: cfg.limits.max_chunk_size,
        max_header_bytes: cfg.limits.max_header_bytes,
        max_headers: cfg.limits.max_headers,
        ..ParserLimits::default()
    };
    rc.tls_server = tls.server;
    rc.tls_client = tls.client;
    rc
}

/// Secret keys come from the OS random source.
fn fill_random(buf: &mut [u8]) {
    use std::io::Read;
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        if f.read_exact(buf).is_ok() {
            return;
        }
    }
    // No /dev/urandom: mix the clock and addresses; weak, but tokens are also per-process.
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    for (i, b) in buf.iter_mut().enumerate() {
        *b = (t >> ((i % 16) * 8)) as u8 ^ (i as u8).wrapping_mul(151);
    }
}
