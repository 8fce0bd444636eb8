//! The `[mgmt]` section: where the management API listens, its bearer token, and how long a
//! graceful stop may take.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;

/// The default management port (TCP, loopback).
pub const MGMT_PORT: u16 = 2880;

/// `[mgmt]`
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MgmtSection {
    /// Serve the management API (and `/metrics`).
    pub enabled: bool,
    /// TCP address of the API; `""` serves on no TCP address (only `socket`). The default,
    /// `127.0.0.1:2880`, moves to the next free port when 2880 is taken; an explicit address
    /// never moves.
    pub listen: String,
    /// Unix socket path of the API (created mode 0600, replaced at start), in addition to
    /// `listen`.
    pub socket: Option<PathBuf>,
    /// Bearer token every request must carry (`Authorization: Bearer ...`). Required when
    /// `listen` is not a loopback address.
    pub token: Option<String>,
    /// File whose first line is the token (instead of `token`).
    pub token_file: Option<PathBuf>,
    /// Seconds a graceful stop (SIGTERM, SIGINT) waits for transactions in flight before it
    /// fails them and exits.
    pub drain_timeout_secs: u64,
}

/// The default TCP address text.
pub const DEFAULT_MGMT_LISTEN: &str = "127.0.0.1:2880";

impl Default for MgmtSection {
    fn default() -> Self {
        MgmtSection {
            enabled: true,
            listen: DEFAULT_MGMT_LISTEN.into(),
            socket: None,
            token: None,
            token_file: None,
            drain_timeout_secs: 10,
        }
    }
}

fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        message: message.into(),
    }
}

impl MgmtSection {
    /// The TCP address, if any (validated by [`MgmtSection::validate`]).
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        let l = self.listen.trim();
        if l.is_empty() {
            None
        } else {
            l.parse().ok()
        }
    }

    /// Whether `listen` is the default (which may move to a free port).
    pub fn default_listen(&self) -> bool {
        self.listen.trim() == DEFAULT_MGMT_LISTEN
    }

    /// The token in force: `token`, else the first line of `token_file`.
    pub fn resolve_token(&self) -> Result<Option<String>, ConfigError> {
        if let Some(t) = &self.token {
            return Ok(Some(t.clone()));
        }
        let Some(p) = &self.token_file else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(p)
            .map_err(|e| invalid("mgmt.token_file", format!("{}: {e}", p.display())))?;
        let t = text.lines().next().unwrap_or("").trim().to_string();
        if t.is_empty() {
            return Err(invalid(
                "mgmt.token_file",
                format!("{}: the first line is empty", p.display()),
            ));
        }
        Ok(Some(t))
    }

    /// Checks the section.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let l = self.listen.trim();
        let addr = if l.is_empty() {
            None
        } else {
            Some(l.parse::<SocketAddr>().map_err(|_| {
                invalid(
                    "mgmt.listen",
                    format!("\"{l}\" is not an address:port (e.g. \"127.0.0.1:2880\"), or \"\" for none"),
                )
            })?)
        };
        if self.enabled && addr.is_none() && self.socket.is_none() {
            return Err(invalid(
                "mgmt.listen",
                "no management listener: set listen or socket, or mgmt.enabled = false",
            ));
        }
        if self.token.is_some() && self.token_file.is_some() {
            return Err(invalid("mgmt.token", "give token or token_file, not both"));
        }
        if let Some(t) = &self.token {
            if t.trim().is_empty() || t.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(invalid(
                    "mgmt.token",
                    "must be non-empty printable text without spaces",
                ));
            }
        }
        let token = self.resolve_token()?;
        if let Some(a) = addr {
            if self.enabled && !a.ip().is_loopback() && token.is_none() {
                return Err(invalid(
                    "mgmt.token",
                    format!(
                        "the management API listens on {a}, which is not a loopback address: \
                         set mgmt.token or mgmt.token_file (anyone who can reach it could \
                         otherwise stop rooms and read the configuration)"
                    ),
                ));
            }
        }
        if self.drain_timeout_secs > 3600 {
            return Err(invalid("mgmt.drain_timeout_secs", "at most 3600 seconds"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_loopback_without_token() {
        let m = MgmtSection::default();
        m.validate().unwrap();
        assert_eq!(
            m.listen_addr(),
            Some(SocketAddr::from(([127, 0, 0, 1], MGMT_PORT)))
        );
        assert!(m.default_listen());
    }

    #[test]
    fn public_address_needs_a_token() {
        let mut m = MgmtSection {
            listen: "0.0.0.0:2880".into(),
            ..MgmtSection::default()
        };
        let e = m.validate().unwrap_err().to_string();
        assert!(e.starts_with("mgmt.token"), "{e}");
        assert!(e.contains("not a loopback"), "{e}");
        m.token = Some("s3cret".into());
        m.validate().unwrap();
        m.listen = "[::1]:2880".into();
        m.token = None;
        m.validate().unwrap();
    }

    #[test]
    fn token_file_is_read_and_checked() {
        let dir = std::env::temp_dir().join(format!("mgmt-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("tok");
        std::fs::write(&p, "abc123\nignored\n").unwrap();
        let m = MgmtSection {
            listen: "0.0.0.0:0".into(),
            token_file: Some(p.clone()),
            ..MgmtSection::default()
        };
        m.validate().unwrap();
        assert_eq!(m.resolve_token().unwrap().as_deref(), Some("abc123"));
        std::fs::write(&p, "\n").unwrap();
        assert!(m
            .validate()
            .unwrap_err()
            .to_string()
            .starts_with("mgmt.token_file"));
        let missing = MgmtSection {
            token_file: Some(dir.join("nope")),
            ..MgmtSection::default()
        };
        assert!(missing.validate().is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn bad_listen_and_no_listener_are_refused() {
        let m = MgmtSection {
            listen: "localhost".into(),
            ..MgmtSection::default()
        };
        assert!(m
            .validate()
            .unwrap_err()
            .to_string()
            .starts_with("mgmt.listen"));
        let m = MgmtSection {
            listen: String::new(),
            ..MgmtSection::default()
        };
        assert!(m.validate().is_err());
        let m = MgmtSection {
            listen: String::new(),
            socket: Some("/tmp/x.sock".into()),
            ..MgmtSection::default()
        };
        m.validate().unwrap();
    }
}
