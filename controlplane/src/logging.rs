//! Logging set-up (`tracing`, text or JSON lines) with a filter that a configuration reload can
//! change, and waiting for the signals that stop the daemon.
//!
//! The filter comes from `MSRPD_LOG`, else `RUST_LOG`, else `[log] level`; it accepts a level
//! and per-module directives (`info,dataplane::relay=debug`).

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Registry};

use crate::config::LogSection;

/// The environment variables that override `[log] level`, in order of precedence.
pub const LOG_ENV: [&str; 2] = ["MSRPD_LOG", "RUST_LOG"];

/// Changes the filter of the installed subscriber.
#[derive(Clone)]
pub struct LogHandle {
    handle: reload::Handle<EnvFilter, Registry>,
    /// The variable that set the filter at start, if any (it keeps winning over the file).
    pub from_env: Option<&'static str>,
}

impl LogHandle {
    /// Installs `directives` as the filter. Refused (with the parser's message) when invalid.
    pub fn set_level(&self, directives: &str) -> Result<(), String> {
        let f = EnvFilter::try_new(directives).map_err(|e| e.to_string())?;
        self.handle.reload(f).map_err(|e| e.to_string())
    }
}

/// The filter text from the environment, if set and not empty.
fn env_filter() -> Option<(&'static str, String)> {
    LOG_ENV.iter().find_map(|k| {
        std::env::var(k)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .map(|v| (*k, v))
    })
}

/// Installs the global subscriber (`MSRPD_LOG` or `RUST_LOG` if set, else `log.level`) and
/// returns the handle that changes its filter; `None` when a subscriber was already installed.
pub fn init_reloadable(cfg: &LogSection) -> Option<LogHandle> {
    let env = env_filter();
    let filter = env
        .as_ref()
        .and_then(|(_, v)| EnvFilter::try_new(v).ok())
        .or_else(|| EnvFilter::try_new(&cfg.level).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let (layer, handle) = reload::Layer::new(filter);
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let registry = tracing_subscriber::registry().with(layer);
    let ok = if cfg.format == "json" {
        registry.with(fmt.json()).try_init().is_ok()
    } else {
        registry.with(fmt).try_init().is_ok()
    };
    ok.then_some(LogHandle {
        handle,
        from_env: env.map(|(k, _)| k),
    })
}

/// Installs the global subscriber without keeping a way to change it.
pub fn init(cfg: &LogSection) {
    let _ = init_reloadable(cfg);
}

/// Resolves when SIGINT or SIGTERM arrives; returns its name.
pub async fn wait_for_stop() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers, wait forever: the process is killed from outside.
        std::future::pending::<()>().await;
        return "exit";
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}
