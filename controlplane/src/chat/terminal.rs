//! Running the chat client on this process's terminal (stdin/stdout): what `msrp-chat` and
//! `msrpctl chat` both do.

use std::io::IsTerminal;

use super::{run, ChatOptions};

/// Joins the room with `opts` on stdin/stdout and returns the exit status: 0 after `/quit`,
/// Ctrl-D or Ctrl-C, 1 with a one-line message on stderr (prefixed `prog: `) otherwise.
pub fn run_on_terminal(prog: &str, mut opts: ChatOptions) -> u8 {
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        opts.line_mode = true;
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{prog}: cannot start: {e}");
            return 1;
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
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{prog}: {e}");
            1
        }
    }
}
