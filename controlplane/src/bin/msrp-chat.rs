//! `msrp-chat`: join an RFC 7701 chat room from a terminal (see `controlplane::chat`).

use std::process::ExitCode;

use clap::Parser;
use controlplane::chat::{run_on_terminal, ChatOptions};

/// Terminal chat client for MSRP chat rooms (RFC 7701): SIP INVITE + MSRP, nicknames, roster.
#[derive(Parser, Debug)]
#[command(name = "msrp-chat", version, about)]
struct Args {
    #[command(flatten)]
    chat: ChatOptions,
}

fn main() -> ExitCode {
    ExitCode::from(run_on_terminal("msrp-chat", Args::parse().chat))
}
