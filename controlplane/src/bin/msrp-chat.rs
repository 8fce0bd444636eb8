//! `msrp-chat`: join an RFC 7701 chat room from a terminal (see `controlplane::chat`).

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use controlplane::chat::{run, ChatOptions};

/// Terminal chat client for MSRP chat rooms (RFC 7701): SIP INVITE + MSRP, nicknames, roster.
#[derive(Parser, Debug)]
#[command(name = "msrp-chat", version, about)]
struct Args {
    #[command(flatten)]
    chat: ChatOptions,
}

fn main() -> ExitCode {
    let mut opts = Args::parse().chat;
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        opts.line_mode = true;
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("msrp-chat: cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    let result = rt.block_on(async {
        tokio::select! {
            r = run(opts, tokio::io::stdin(), tokio::io::stdout()) => r,
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    });
    // Reader tasks may still wait on stdin: do not wait for them.
    rt.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("msrp-chat: {e}");
            ExitCode::from(1)
        }
    }
}
