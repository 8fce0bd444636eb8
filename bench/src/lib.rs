//! `msrp-bench`: the traffic generator and benchmark suite of the MSRP appliance. Every
//! scenario prints one JSON object (configuration, results, CPU of the generator and of the
//! target, versions, machine, date) and a one-line summary; see `bench/README.md`.
//!
//! The library holds the scenarios so that the end-to-end smoke tests can run them with tiny
//! sizes; the binary (`src/main.rs`) only dispatches the command line.

pub mod alloc_count;
pub mod gen;
pub mod latency;
pub mod progress;
pub mod report;
pub mod scenarios;
pub mod sys;
pub mod tables;
pub mod targets;

use std::path::PathBuf;

/// Options every scenario takes.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct CommonArgs {
    /// Accepted for compatibility: the JSON object is always printed on stdout.
    #[arg(long)]
    pub json: bool,
    /// Draw the latency distribution into this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Do not pin the generator and the target to separate cores.
    #[arg(long)]
    pub no_pin: bool,
}

/// The repository this binary was built from (`MSRP_BENCH_ROOT` overrides): where
/// `scripts/bench-peers.sh` and `bench/peers/` are.
pub fn repo_root() -> PathBuf {
    if let Some(p) = std::env::var_os("MSRP_BENCH_ROOT") {
        return PathBuf::from(p);
    }
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}
