//! Logging set-up (`tracing`, text or JSON lines) and waiting for the signals that stop the
//! daemon.

use crate::config::LogSection;

/// Installs the global subscriber: `RUST_LOG` if set, else `log.level`.
pub fn init(cfg: &LogSection) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&cfg.level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if cfg.format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
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
