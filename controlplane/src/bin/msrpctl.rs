//! `msrpctl`: manage a running msrpd over its management API.

use std::process::ExitCode;

use clap::Parser;
use controlplane::cli::{main_with, Args};

fn main() -> ExitCode {
    ExitCode::from(main_with(Args::parse()))
}
