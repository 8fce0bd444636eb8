//! Shared harness for the end-to-end tests in `tests/tests/` (and `controlplane/tests/`):
//! a blocking raw-frame MSRP client ([`client`]), msrpd instances in-process or as the binary
//! ([`node`]), Kamailio as a peer relay ([`kamailio`]), test certificates ([`pki`]), guarded
//! child processes and `/proc` figures ([`procs`]), and whole exchanges ([`scenario`]).

pub mod client;
pub mod focusnode;
pub mod kamailio;
pub mod node;
pub mod pki;
pub mod procs;
pub mod scenario;
pub mod sipua;

pub use client::{pattern, AuthGrant, Frame, Login, MsrpClient, Received};
pub use node::{Addrs, InProcess, MsrpdProcess, RelayNode};

/// Login of the user `alice` at msrpd test nodes.
pub const ALICE: Login<'static> = Login {
    user: "alice",
    password: "alicepw",
};

/// Login of the user `bob` at msrpd test nodes.
pub const BOB: Login<'static> = Login {
    user: "bob",
    password: "bobpw",
};

/// Prints why a test does not run and returns from it (a visible skip, never a silent pass).
/// Written straight to stderr: the test harness captures only the print macros, so the
/// reason shows in a plain `cargo test` run too.
#[macro_export]
macro_rules! skip {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED {}::{}: {}",
            module_path!(),
            std::thread::current().name().unwrap_or("?"),
            format!($($arg)*)
        );
        return;
    }};
}
