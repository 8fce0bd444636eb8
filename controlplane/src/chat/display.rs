//! What the user sees: the output sink (plain lines in line mode; a prompt redrawn after
//! each line in interactive mode) and the wording of statuses the room answers.

use std::io;

use tokio::io::{AsyncWrite, AsyncWriteExt};

/// The output side of a chat session.
pub struct Out<W> {
    w: W,
    line_mode: bool,
    prompt: String,
}

impl<W: AsyncWrite + Unpin> Out<W> {
    /// A sink; `line_mode` disables the prompt and all terminal control codes.
    pub fn new(w: W, line_mode: bool) -> Self {
        Out {
            w,
            line_mode,
            prompt: "> ".into(),
        }
    }

    /// Sets the prompt (interactive mode only).
    pub fn set_prompt(&mut self, p: String) {
        self.prompt = p;
    }

    /// Prints lines, then (interactive) the prompt again.
    pub async fn lines<S: AsRef<str>>(&mut self, lines: &[S]) -> io::Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        let mut buf = String::new();
        for l in lines {
            if !self.line_mode {
                // Carriage return + erase line: the prompt (and any typed text shown) goes.
                buf.push_str("\r\x1b[K");
            }
            buf.push_str(l.as_ref());
            buf.push('\n');
        }
        if !self.line_mode {
            buf.push_str(&self.prompt);
        }
        self.w.write_all(buf.as_bytes()).await?;
        self.w.flush().await
    }

    /// Prints one line.
    pub async fn line(&mut self, l: impl AsRef<str>) -> io::Result<()> {
        self.lines(&[l.as_ref()]).await
    }

    /// Shows the prompt (interactive mode).
    pub async fn show_prompt(&mut self) -> io::Result<()> {
        if self.line_mode {
            return Ok(());
        }
        self.w.write_all(self.prompt.as_bytes()).await?;
        self.w.flush().await
    }

    /// Flushes.
    pub async fn flush(&mut self) -> io::Result<()> {
        self.w.flush().await
    }
}

/// The line for the answer to a NICKNAME request.
pub fn nickname_result(nick: &str, code: u16) -> String {
    match code {
        200 => format!("* you are now known as {nick}"),
        403 => "! the room does not allow nicknames (403)".into(),
        424 => format!(
            "! nickname \"{nick}\" is malformed (424); choose another with /nick NAME"
        ),
        425 => format!(
            "! nickname \"{nick}\" is reserved or already in use (425); choose another with /nick NAME"
        ),
        408 => format!("! no answer to the request for nickname \"{nick}\" (408)"),
        501 => "! the room does not support nicknames (501)".into(),
        c => format!("! nickname \"{nick}\" refused ({c})"),
    }
}

/// The line for a message the room did not accept; `private_to` names the recipient.
pub fn send_failure(private_to: Option<&str>, code: u16) -> String {
    match (private_to, code) {
        (Some(n), 428) => format!("! {n} does not accept private messages (428)"),
        (Some(n), 404) => format!("! the room does not know {n} (404)"),
        (Some(n), 403) => format!("! the room refused the private message to {n} (403)"),
        (Some(n), c) => format!("! private message to {n} not delivered ({c})"),
        (None, 403) => "! the room refused the message (403)".into(),
        (None, 413) => "! message too large for the room (413)".into(),
        (None, 415) => "! the room does not accept this kind of message (415)".into(),
        (None, c) => format!("! message not delivered ({c})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn line_mode_writes_plain_lines_and_interactive_mode_redraws_the_prompt() {
        let mut plain = Vec::new();
        let mut o = Out::new(&mut plain, true);
        o.lines(&["a", "b"]).await.unwrap();
        o.show_prompt().await.unwrap();
        assert_eq!(plain, b"a\nb\n");
        let mut tty = Vec::new();
        let mut o = Out::new(&mut tty, false);
        o.set_prompt("[al]> ".into());
        o.line("hi").await.unwrap();
        assert_eq!(tty, b"\r\x1b[Khi\n[al]> ");
    }

    #[test]
    fn statuses_are_explained() {
        assert!(nickname_result("al", 425).contains("already in use (425)"));
        assert!(nickname_result("al", 424).contains("malformed (424)"));
        assert_eq!(nickname_result("al", 200), "* you are now known as al");
        assert!(send_failure(Some("bob"), 428).contains("bob does not accept private"));
        assert!(send_failure(Some("bob"), 404).contains("(404)"));
        assert!(send_failure(None, 403).contains("refused"));
    }
}
