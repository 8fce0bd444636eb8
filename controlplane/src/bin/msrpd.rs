//! `msrpd`: the MSRP chat switch and relay daemon.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use controlplane::config::Config;
use controlplane::daemon::Daemon;
use controlplane::mgmt::{self, MgmtState};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// MSRP chat switch and relay (RFC 4975, 4976, 7701).
#[derive(Parser, Debug)]
#[command(name = "msrpd", version, about)]
struct Args {
    /// Configuration file (TOML). Without one, msrpd serves on loopback with defaults.
    #[arg(short, long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Check the configuration, print it with every default filled in, and exit.
    #[arg(long)]
    check: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let cfg = match &args.config {
        Some(p) => Config::load(p),
        None => Ok(Config::default()),
    };
    let cfg = match cfg {
        Ok(c) => c,
        Err(e) => {
            eprintln!("msrpd: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    if args.check {
        for w in cfg.warnings() {
            eprintln!("msrpd: warning: {w}");
        }
        match toml::to_string_pretty(&cfg) {
            Ok(s) => print!("{s}"),
            Err(e) => {
                eprintln!("msrpd: {e}");
                return ExitCode::FAILURE;
            }
        }
        return ExitCode::SUCCESS;
    }
    let log = controlplane::logging::init_reloadable(&cfg.log);
    for w in cfg.warnings() {
        tracing::warn!("{w}");
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("msrpd: cannot start the control plane: {e}");
            return ExitCode::FAILURE;
        }
    };
    let daemon = match Daemon::start(&cfg) {
        Ok(d) => Arc::new(d),
        Err(e) => {
            eprintln!("msrpd: {e}");
            return ExitCode::FAILURE;
        }
    };
    let state = if cfg.mgmt.enabled {
        match start_mgmt(&rt, &daemon, &cfg, args.config.clone(), log) {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!("msrpd: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        None
    };
    for (addr, tls) in &daemon.msrp_addrs {
        let scheme = if *tls { "msrps" } else { "msrp" };
        tracing::info!(%addr, "MSRP listening: {scheme}://{}:{};tcp", cfg.msrp.host, addr.port());
        println!(
            "msrpd: MSRP on {scheme}://{}:{};tcp ({addr})",
            cfg.msrp.host,
            addr.port()
        );
    }
    announce_sip(&daemon);
    let sig = rt.block_on(mgmt::lifecycle::until_stop(state.clone()));
    tracing::info!("{sig}: stopping");
    let timeout = Duration::from_secs(state.as_ref().map_or(cfg.mgmt.drain_timeout_secs, |s| {
        s.config().mgmt.drain_timeout_secs
    }));
    if let Some(s) = &state {
        s.set_draining();
    }
    let d = daemon.clone();
    // The API keeps answering (status shows draining) while the workers drain.
    let _ = rt.block_on(async move {
        tokio::task::spawn_blocking(move || mgmt::lifecycle::drain(&d, timeout)).await
    });
    rt.shutdown_timeout(Duration::from_millis(200));
    if let Some(p) = state.as_ref().and_then(|s| s.bound().unix) {
        let _ = std::fs::remove_file(p);
    }
    drop(state);
    let daemon = match Arc::try_unwrap(daemon) {
        Ok(d) => d,
        // Something still holds it: dropping the last reference stops the workers.
        Err(_) => return ExitCode::SUCCESS,
    };
    match daemon.shutdown() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("msrpd: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Binds the management listeners and starts serving them.
fn start_mgmt(
    rt: &tokio::runtime::Runtime,
    daemon: &Arc<Daemon>,
    cfg: &Config,
    path: Option<PathBuf>,
    log: Option<controlplane::logging::LogHandle>,
) -> Result<Arc<MgmtState>, String> {
    let state = Arc::new(
        MgmtState::new(daemon.clone(), cfg.clone(), path, log).map_err(|e| e.to_string())?,
    );
    let _guard = rt.enter();
    let listeners = mgmt::server::bind(&cfg.mgmt)?;
    let bound = listeners.bound.clone();
    state.set_bound(bound.clone());
    mgmt::server::spawn(listeners, state.clone());
    if let Some(a) = bound.tcp {
        tracing::info!(%a, "management API listening");
        println!("msrpd: management API on http://{a}");
    }
    if let Some(p) = &bound.unix {
        tracing::info!(path = %p.display(), "management API listening");
        println!("msrpd: management API on unix:{}", p.display());
    }
    Ok(state)
}

/// Prints the SIP listeners and the rooms, so that a user knows what to join.
fn announce_sip(daemon: &Daemon) {
    for (t, addr) in &daemon.sip_addrs {
        tracing::info!(%addr, "SIP listening over {}", t.param());
        println!("msrpd: SIP on {} {addr}", t.param());
    }
    let sip = daemon
        .sip_addrs
        .iter()
        .find(|(t, _)| t.param() == "tcp")
        .or_else(|| daemon.sip_addrs.first());
    for r in daemon.focus().rooms() {
        let name = r.settings.name.as_deref().unwrap_or("");
        let how = match sip {
            Some((t, a)) => format!(
                " (INVITE to {};transport={} with an RFC 7701 client: a=accept-types:message/cpim)",
                with_port(&r.settings.uri, a.port()),
                t.param()
            ),
            None => String::new(),
        };
        println!("msrpd: room {} {name:?}{how}", r.settings.uri);
    }
}

/// `sip:user@host` with `:port` added when the URI has none.
fn with_port(uri: &str, port: u16) -> String {
    let host = uri.rsplit('@').next().unwrap_or(uri);
    if host.contains(':') && !host.starts_with('[') || host.contains("]:") {
        uri.to_string()
    } else {
        format!("{uri}:{port}")
    }
}
