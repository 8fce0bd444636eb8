//! `msrp-chat` against `msrpd`: two line-mode clients (one over SIP/TCP, one over SIP/UDP)
//! join the demo room, take nicknames, talk in the room and privately, see each other in
//! `/who`, and leave; plus the clear failures of a missing room and an unreachable server.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use controlplane::sip::TransportKind;
use e2e::focusnode::{msrpd_binary, toml, FocusProcess};
use e2e::procs::TempDir;

/// The msrp-chat binary next to the test executable (or `$MSRP_CHAT`).
fn chat_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("MSRP_CHAT") {
        return Some(PathBuf::from(p));
    }
    sibling_binary("msrp-chat")
}

/// A binary of the workspace next to the test executable.
fn sibling_binary(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let d = exe.parent()?;
    [d.join(name), d.parent()?.join(name)]
        .into_iter()
        .find(|p| p.is_file())
}

/// One msrp-chat process with piped stdin/stdout; killed on drop if still running.
struct ChatProc {
    name: &'static str,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    transcript: Vec<String>,
    /// Lines read but not matched yet (the room's lines may come in any order).
    unmatched: Vec<String>,
}

impl ChatProc {
    fn spawn(bin: &Path, name: &'static str, args: &[&str]) -> ChatProc {
        let mut child = Command::new(bin)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("msrp-chat starts");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(stdout).lines() {
                let Ok(l) = l else { break };
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        ChatProc {
            name,
            child,
            stdin,
            lines,
            transcript: Vec::new(),
            unmatched: Vec::new(),
        }
    }

    fn say(&mut self, line: &str) {
        let i = self.stdin.as_mut().expect("stdin open");
        writeln!(i, "{line}").expect("write to msrp-chat");
        i.flush().expect("flush");
    }

    /// The first output line containing `needle` not matched before, waiting for it (20 s
    /// at most).
    fn expect(&mut self, needle: &str) -> String {
        if let Some(i) = self.unmatched.iter().position(|l| l.contains(needle)) {
            return self.unmatched.remove(i);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.transcript.push(l.clone());
                    if l.contains(needle) {
                        return l;
                    }
                    self.unmatched.push(l);
                }
                Err(_) => panic!(
                    "{}: no line with {needle:?}; output so far: {:#?}",
                    self.name, self.transcript
                ),
            }
        }
    }

    /// Closes stdin (Ctrl-D) and waits for the exit; returns status, remaining output, stderr.
    fn finish(mut self) -> (ExitStatus, Vec<String>, String) {
        self.stdin = None;
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                break s;
            }
            assert!(Instant::now() < deadline, "{} did not exit", self.name);
            std::thread::sleep(Duration::from_millis(20));
        };
        let rest: Vec<String> = self.lines.try_iter().collect();
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut err);
        }
        (status, rest, err)
    }
}

impl Drop for ChatProc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[test]
fn two_people_chat_in_the_demo_room() {
    let (Some(msrpd), Some(chat)) = (msrpd_binary(), chat_binary()) else {
        e2e::skip!("msrpd or msrp-chat is not built (cargo build -p controlplane --bins)");
    };
    let dir = TempDir::new("chat-client");
    // Ephemeral ports, no [[rooms]]: the demo room on the first SIP listener.
    let node = FocusProcess::spawn(&msrpd, dir.path(), Some(&toml(&[], "")));
    assert_eq!(node.rooms.len(), 1, "one demo room");
    let room = node.rooms[0].clone();
    let tcp = node.sip(TransportKind::Tcp).to_string();
    let udp = node.sip(TransportKind::Udp).to_string();

    let mut alice = ChatProc::spawn(
        &chat,
        "alice",
        &[&room, "--nick", "alice", "--proxy", &tcp, "--line-mode"],
    );
    alice.expect("* joined");
    alice.expect("you are now known as alice");
    let mut bob = ChatProc::spawn(
        &chat,
        "bob",
        &[
            &room,
            "--nick",
            "bob",
            "--transport",
            "udp",
            "--proxy",
            &udp,
        ],
    );
    bob.expect("* joined");
    bob.expect("you are now known as bob");
    // The roster comes with the conference NOTIFYs: names are known once it is in.
    bob.expect("2 in the room");
    assert_eq!(alice.expect("joined"), "* bob joined");

    // A room message and a private one.
    alice.say("hello bob");
    assert_eq!(bob.expect("hello bob"), "<alice> hello bob");
    bob.say("/msg alice just between us");
    assert_eq!(
        alice.expect("between us"),
        "[private] <bob> just between us"
    );
    bob.say("hi everyone");
    assert_eq!(alice.expect("hi everyone"), "<bob> hi everyone");

    // Nicknames are unique in the room.
    bob.say("/nick Alice");
    assert!(bob.expect("(425)").contains("already in use"));

    // Both see both.
    for p in [&mut alice, &mut bob] {
        p.say("/who");
        assert_eq!(p.expect("* 2 in the room:"), "* 2 in the room:");
        let mut who = [p.expect("<sip:"), p.expect("<sip:")];
        who.sort();
        let me = if p.name == "alice" { 0 } else { 1 };
        for (i, n) in ["alice", "bob"].into_iter().enumerate() {
            assert!(who[i].starts_with(&format!("*   {n} <sip:{n}@")), "{who:?}");
            assert_eq!(who[i].ends_with("(you)"), i == me, "{who:?}");
        }
    }

    bob.say("/quit");
    let (status, _, err) = bob.finish();
    assert!(status.success(), "bob exit {status:?}: {err}");
    assert_eq!(alice.expect("left"), "* bob left");
    let (status, rest, err) = alice.finish(); // Ctrl-D
    assert!(status.success(), "alice exit {status:?}: {err}");
    assert!(rest.iter().any(|l| l.starts_with("* left")), "{rest:?}");
}

#[test]
fn failures_exit_non_zero_with_one_line() {
    let (Some(msrpd), Some(chat)) = (msrpd_binary(), chat_binary()) else {
        e2e::skip!("msrpd or msrp-chat is not built (cargo build -p controlplane --bins)");
    };
    let dir = TempDir::new("chat-client-fail");
    let node = FocusProcess::spawn(&msrpd, dir.path(), Some(&toml(&[], "")));
    let tcp = node.sip(TransportKind::Tcp);
    // A room the server does not have.
    let p = ChatProc::spawn(
        &chat,
        "nobody",
        &[&format!("sip:nobody@{tcp}"), "--nick", "x"],
    );
    let (status, out, err) = p.finish();
    assert_eq!(status.code(), Some(1), "{out:?} {err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("msrp-chat: the room refused to let us in: "),
        "{err}"
    );
    // `msrpctl chat` is the same client.
    if let Some(ctl) = sibling_binary("msrpctl") {
        let p = ChatProc::spawn(
            &ctl,
            "nobody-ctl",
            &["chat", &format!("sip:nobody@{tcp}"), "--nick", "x"],
        );
        let (status, out, err) = p.finish();
        assert_eq!(status.code(), Some(1), "{out:?} {err}");
        assert!(
            err.starts_with("msrpctl chat: the room refused to let us in: "),
            "{err}"
        );
    }
    // Nobody listening.
    drop(node);
    let p = ChatProc::spawn(&chat, "gone", &[&format!("sip:demo@{tcp}")]);
    let (status, _, err) = p.finish();
    assert_eq!(status.code(), Some(1));
    assert!(err.starts_with("msrp-chat: room unreachable"), "{err}");
}
