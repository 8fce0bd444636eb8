//! A progress line on stderr, rewritten in place (carriage return) about once a second, only
//! when stderr is a terminal.

use std::io::Write;
use std::time::{Duration, Instant};

/// Rewrites one status line while a scenario runs.
pub struct Progress {
    tty: bool,
    last: Instant,
    shown: bool,
}

impl Progress {
    /// A progress line (silent unless stderr is a terminal).
    pub fn new() -> Progress {
        // SAFETY: isatty only inspects the descriptor.
        let tty = unsafe { libc::isatty(2) } == 1;
        Progress {
            tty,
            last: Instant::now(),
            shown: false,
        }
    }

    /// Shows `line()` if a second has passed since the last time.
    pub fn tick(&mut self, line: impl FnOnce() -> String) {
        if !self.tty || self.last.elapsed() < Duration::from_secs(1) {
            return;
        }
        self.last = Instant::now();
        let mut e = std::io::stderr().lock();
        let _ = write!(e, "\r\x1b[2K{}", line());
        let _ = e.flush();
        self.shown = true;
    }

    /// Clears the line.
    pub fn done(&mut self) {
        if self.shown {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
            self.shown = false;
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new()
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.done();
    }
}
