//! The management side of `msrpd`: an HTTP/1.1 + JSON API under `/v1` and Prometheus
//! `/metrics` on one listener (loopback TCP by default, or a Unix socket), configuration
//! reload on SIGHUP or `POST /v1/reload`, and the graceful drain on SIGTERM/SIGINT.
//! `README.md` beside this file documents the keys, routes, metrics and `msrpctl`.
//!
//! Counters live in the workers as plain fields; a scrape asks every worker over its control
//! ring for a copy ([`daemon_admin`]) and sums them here.

pub mod config;
pub mod credentials;
pub mod daemon_admin;
pub mod focus_routes;
pub mod lifecycle;
pub mod metrics;
pub mod redact;
pub mod reload;
pub mod routes;
pub mod server;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::config::Config;
use crate::daemon::Daemon;
use crate::logging::LogHandle;

pub use server::Bound;

/// What the API handlers share.
pub struct MgmtState {
    /// The running daemon.
    pub daemon: Arc<Daemon>,
    /// The configuration in force (reload replaces the parts it applies).
    in_force: RwLock<Config>,
    /// The file it came from, re-read on reload.
    config_path: Option<PathBuf>,
    started: Instant,
    started_unix: u64,
    token: RwLock<Option<String>>,
    log: Option<LogHandle>,
    bound: RwLock<Bound>,
    draining: AtomicBool,
    /// One reload at a time.
    reload_lock: Mutex<()>,
    /// Reloads that applied (possibly nothing).
    pub reloads: AtomicU64,
    /// Reloads refused (unreadable or invalid file).
    pub reload_failures: AtomicU64,
    /// API requests served, by outcome class.
    pub requests: [AtomicU64; 3],
}

impl MgmtState {
    /// State for `daemon` started from `cfg` (read from `config_path`, if any).
    pub fn new(
        daemon: Arc<Daemon>,
        cfg: Config,
        config_path: Option<PathBuf>,
        log: Option<LogHandle>,
    ) -> Result<MgmtState, crate::config::ConfigError> {
        let token = cfg.mgmt.resolve_token()?;
        Ok(MgmtState {
            daemon,
            in_force: RwLock::new(cfg),
            config_path,
            started: Instant::now(),
            started_unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            token: RwLock::new(token),
            log,
            bound: RwLock::new(Bound::default()),
            draining: AtomicBool::new(false),
            reload_lock: Mutex::new(()),
            reloads: AtomicU64::new(0),
            reload_failures: AtomicU64::new(0),
            requests: Default::default(),
        })
    }

    /// A copy of the configuration in force.
    pub fn config(&self) -> Config {
        read(&self.in_force).clone()
    }

    /// The bearer token in force.
    pub fn token(&self) -> Option<String> {
        read(&self.token).clone()
    }

    /// Records where the API listens (for `/v1/status`).
    pub fn set_bound(&self, b: Bound) {
        *write(&self.bound) = b;
    }

    /// Where the API listens.
    pub fn bound(&self) -> Bound {
        read(&self.bound).clone()
    }

    /// Marks the daemon as draining (shown by `/v1/status`).
    pub fn set_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// Whether a graceful stop is under way.
    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Room URIs by dataplane room id.
    pub fn room_names(&self) -> std::collections::BTreeMap<u64, String> {
        self.daemon
            .focus()
            .rooms()
            .into_iter()
            .map(|r| (r.id, r.settings.uri))
            .collect()
    }

    /// Seconds since start.
    pub fn uptime_secs(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    /// Unix time of the start.
    pub fn started_unix(&self) -> u64 {
        self.started_unix
    }
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}
