//! `msrpd`: the MSRP chat switch and relay daemon.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use controlplane::config::Config;
use controlplane::daemon::Daemon;

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
    controlplane::logging::init(&cfg.log);
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
        Ok(d) => d,
        Err(e) => {
            eprintln!("msrpd: {e}");
            return ExitCode::FAILURE;
        }
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
    let sig = rt.block_on(controlplane::logging::wait_for_stop());
    tracing::info!("{sig}: stopping");
    match daemon.shutdown() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("msrpd: {e}");
            ExitCode::FAILURE
        }
    }
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
