//! What the `ops_*` tests share: running the `msrpctl` binary against an msrpd and reading
//! metric values out of the exposition text.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output, Stdio};

use e2e::scenario::path_to;
use e2e::{MsrpClient, MsrpdProcess, ALICE, BOB};

/// The msrpd binary.
pub fn msrpd() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_msrpd"))
}

/// The msrpctl binary.
pub fn msrpctl_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_msrpctl"))
}

/// What one msrpctl run gave.
pub struct Ctl {
    /// Exit code.
    pub code: i32,
    /// Standard output.
    pub out: String,
    /// Standard error.
    pub err: String,
}

impl From<Output> for Ctl {
    fn from(o: Output) -> Self {
        Ctl {
            code: o.status.code().unwrap_or(-1),
            out: String::from_utf8_lossy(&o.stdout).into_owned(),
            err: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// Runs msrpctl with `args` (no address or token from the environment unless in `env`).
pub fn ctl(args: &[&str], env: &[(&str, &str)]) -> Ctl {
    let mut c = Command::new(msrpctl_bin());
    c.args(args)
        .env_remove("MSRPCTL_ADDR")
        .env_remove("MSRPCTL_TOKEN")
        .env_remove("MSRPCTL_SOCKET")
        .stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run msrpctl").into()
}

/// Runs msrpctl against `r`'s TCP management address; must succeed.
pub fn ctl_ok(r: &MsrpdProcess, args: &[&str]) -> String {
    let addr = r
        .mgmt
        .expect("msrpd announced its management API")
        .to_string();
    let mut all = vec!["--addr", addr.as_str()];
    all.extend_from_slice(args);
    let c = ctl(&all, &[]);
    assert_eq!(c.code, 0, "msrpctl {args:?} failed: {}{}", c.out, c.err);
    c.out
}

/// The value of the series `name{labels}` (labels exactly as rendered) in exposition text.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (k, v) = l.rsplit_once(' ')?;
        if k == series {
            v.parse().ok()
        } else {
            None
        }
    })
}

/// Two clients authenticated at relay `r` (as alice and bob), and the first one's To-Path to
/// the second.
pub fn pair(r: &MsrpdProcess, a: &str, b: &str) -> (MsrpClient, MsrpClient, Vec<String>) {
    let mut ca =
        MsrpClient::connect(r.plain(), &format!("msrp://{a}.invalid:2855/{a};tcp")).unwrap();
    let mut cb =
        MsrpClient::connect(r.plain(), &format!("msrp://{b}.invalid:2855/{b};tcp")).unwrap();
    let ua = ca.auth(&[&r.uri()], &ALICE).use_path;
    let ub = cb.auth(&[&r.uri()], &BOB).use_path;
    let to = path_to(&ua, &ub, &cb.uri);
    (ca, cb, to)
}
