//! Signals while the daemon runs: SIGHUP reloads the configuration, SIGTERM and SIGINT start
//! the graceful drain (listeners closed, transactions in flight finish or fail with their
//! REPORTs within `mgmt.drain_timeout_secs`).

use std::sync::Arc;
use std::time::Duration;

use super::MgmtState;

/// Serves signals until a stop signal arrives; returns its name. Reloads happen in between.
pub async fn until_stop(state: Option<Arc<MgmtState>>) -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        return crate::logging::wait_for_stop().await;
    };
    loop {
        tokio::select! {
            _ = term.recv() => return "SIGTERM",
            _ = int.recv() => return "SIGINT",
            _ = hup.recv() => {
                let Some(st) = state.clone() else {
                    tracing::warn!("SIGHUP: no management state, nothing to reload");
                    continue;
                };
                let r = tokio::task::spawn_blocking(move || super::reload::reload(&st)).await;
                match r {
                    Ok(Ok(rep)) => tracing::info!(
                        applied = ?rep.applied,
                        restart_required = ?rep.restart_required,
                        "SIGHUP: configuration reloaded"
                    ),
                    Ok(Err(e)) => tracing::error!("SIGHUP: reload refused: {e}"),
                    Err(e) => tracing::error!("SIGHUP: reload failed: {e}"),
                }
            }
        }
    }
}

/// Runs the graceful drain of `daemon` (blocking; call it from a blocking context). Returns
/// whether everything in flight finished before the deadline.
pub fn drain(daemon: &crate::daemon::Daemon, timeout: Duration) -> bool {
    tracing::info!(
        timeout_secs = timeout.as_secs(),
        "draining: listeners closed, waiting for transactions in flight"
    );
    let idle = daemon.drain(timeout);
    if idle {
        tracing::info!("drained: nothing in flight");
    } else {
        tracing::warn!("drain deadline reached: transactions still in flight were failed");
    }
    idle
}
