//! `SipServer`: binds the configured UDP/TCP/TLS listeners, runs the core's timers and
//! housekeeping, and exposes the registrar state and the application hook. Tests start it
//! in-process on ephemeral loopback ports; `msrpd` mounts it the same way.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dataplane::digest::{CredentialStore, StaticCredentials};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::app::{SipApp, SipHandle};
use super::core::{Core, CoreConfig};
use super::flow::TransportKind;
use super::location::{LocationService, MemoryLocation};
use super::transport::{bind_udp, serve_tcp, serve_udp, StreamLimits};

/// Everything the SIP server needs.
#[derive(Debug, Clone)]
pub struct SipConfig {
    /// Core settings (domains, realm, registrar policy, timers, limits).
    pub core: CoreConfig,
    /// UDP listen addresses (port 0 = ephemeral).
    pub udp: Vec<SocketAddr>,
    /// TCP listen addresses.
    pub tcp: Vec<SocketAddr>,
    /// TLS listen addresses (need `tls_cert` and `tls_key`).
    pub tls: Vec<SocketAddr>,
    /// PEM certificate chain for TLS.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for TLS.
    pub tls_key: Option<PathBuf>,
    /// Users as (name, password) in `core.realm`; empty = no authentication.
    pub users: Vec<(String, String)>,
    /// Stream connection limits.
    pub streams: StreamLimits,
}

impl Default for SipConfig {
    fn default() -> Self {
        SipConfig {
            core: CoreConfig::default(),
            udp: vec!["127.0.0.1:5060".parse().expect("literal")],
            tcp: vec!["127.0.0.1:5060".parse().expect("literal")],
            tls: Vec::new(),
            tls_cert: None,
            tls_key: None,
            users: Vec::new(),
            streams: StreamLimits::default(),
        }
    }
}

/// Reads a credentials file: one `user:password` per line; `#` starts a comment.
pub fn load_users(path: &Path) -> io::Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path)?;
    let mut users = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (u, p) = line.split_once(':').ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("line {}: expected user:password", n + 1),
            )
        })?;
        users.push((u.trim().to_string(), p.to_string()));
    }
    Ok(users)
}

fn tls_acceptor(cert: &Path, key: &Path) -> io::Result<tokio_rustls::TlsAcceptor> {
    let bad = |e: String| io::Error::new(io::ErrorKind::InvalidData, e);
    let certs = rustls_pemfile::certs(&mut io::BufReader::new(std::fs::File::open(cert)?))
        .collect::<Result<Vec<_>, _>>()?;
    let key = rustls_pemfile::private_key(&mut io::BufReader::new(std::fs::File::open(key)?))?
        .ok_or_else(|| bad("no private key found".into()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| bad(e.to_string()))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
}

/// A running SIP server.
pub struct SipServer {
    core: Arc<Core>,
    addrs: Vec<(TransportKind, SocketAddr)>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for SipServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SipServer")
            .field("addrs", &self.addrs)
            .finish()
    }
}

impl SipServer {
    /// Binds every listener and starts serving with the in-memory location service.
    pub async fn start(cfg: SipConfig, app: Option<Arc<dyn SipApp>>) -> io::Result<SipServer> {
        SipServer::start_with(cfg, app, Arc::new(MemoryLocation::default())).await
    }

    /// Same as [`SipServer::start`] with a given location service.
    pub async fn start_with(
        cfg: SipConfig,
        app: Option<Arc<dyn SipApp>>,
        location: Arc<dyn LocationService>,
    ) -> io::Result<SipServer> {
        let creds: Option<Arc<dyn CredentialStore>> = if cfg.users.is_empty() {
            None
        } else {
            let mut s = StaticCredentials::new();
            for (u, p) in &cfg.users {
                s.insert(u, &cfg.core.realm, p);
            }
            Some(Arc::new(s))
        };
        let core = Core::new(cfg.core.clone(), location, creds);
        if let Some(a) = app {
            core.set_app(a);
        }
        let mut addrs = Vec::new();
        let mut tasks = Vec::new();
        for a in &cfg.udp {
            let (sock, send) = bind_udp(*a)?;
            let local = sock.local_addr()?;
            core.flows.add_udp(local, Arc::new(send));
            core.add_local_ip(local.ip());
            addrs.push((TransportKind::Udp, local));
            let c = core.clone();
            let limits = cfg.core.limits;
            tasks.push(tokio::spawn(async move {
                if let Err(e) = serve_udp(c, sock, limits).await {
                    tracing::error!("sip udp {local}: {e}");
                }
            }));
        }
        let acceptor = match (&cfg.tls_cert, &cfg.tls_key, cfg.tls.is_empty()) {
            (_, _, true) => None,
            (Some(c), Some(k), false) => Some(tls_acceptor(c, k)?),
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "TLS listeners need tls_cert and tls_key",
                ))
            }
        };
        let listeners = cfg
            .tcp
            .iter()
            .map(|a| (*a, None))
            .chain(cfg.tls.iter().map(|a| (*a, acceptor.clone())));
        for (a, tls) in listeners {
            let l = TcpListener::bind(a).await?;
            let local = l.local_addr()?;
            core.add_local_ip(local.ip());
            let kind = if tls.is_some() {
                TransportKind::Tls
            } else {
                TransportKind::Tcp
            };
            addrs.push((kind, local));
            let c = core.clone();
            let limits = cfg.streams.clone();
            tasks.push(tokio::spawn(async move {
                if let Err(e) = serve_tcp(c, l, tls, limits).await {
                    tracing::error!("sip {} {local}: {e}", kind.param());
                }
            }));
        }
        // Timers and housekeeping.
        let c = core.clone();
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let mut last_purge = Instant::now();
            loop {
                tick.tick().await;
                let now = Instant::now();
                let out = c.tick(now);
                c.deliver(out, None);
                if now.duration_since(last_purge) >= Duration::from_secs(1) {
                    last_purge = now;
                    c.purge(now);
                }
            }
        }));
        Ok(SipServer { core, addrs, tasks })
    }

    /// The bound address of the first listener of this transport.
    pub fn local_addr(&self, t: TransportKind) -> Option<SocketAddr> {
        self.addrs.iter().find(|(k, _)| *k == t).map(|(_, a)| *a)
    }

    /// Every bound listener.
    pub fn local_addrs(&self) -> &[(TransportKind, SocketAddr)] {
        &self.addrs
    }

    /// The location service (registrar state).
    pub fn location(&self) -> Arc<dyn LocationService> {
        self.core.location().clone()
    }

    /// The core (flow table, tokens).
    pub fn core(&self) -> &Arc<Core> {
        &self.core
    }

    /// A handle for applications.
    pub fn handle(&self) -> SipHandle {
        SipHandle {
            core: self.core.clone(),
        }
    }

    /// Stops every listener and timer task (open connections end when their peers go).
    pub fn shutdown(self) {
        drop(self);
    }
}

impl Drop for SipServer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}
