//! Relay users that a configuration reload can replace while the workers run: the relay asks
//! this store for a user's HA1 on every AUTH (rare next to messages), so a read lock there
//! costs nothing on the forwarding path.

use std::sync::RwLock;

use dataplane::digest::{Algorithm, CredentialStore, StaticCredentials};

use crate::config::Config;

/// A [`CredentialStore`] whose users can be swapped.
#[derive(Debug, Default)]
pub struct SharedCredentials {
    inner: RwLock<StaticCredentials>,
}

impl SharedCredentials {
    /// The users of `cfg.relay`, in the realm the relay announces.
    pub fn from_config(cfg: &Config) -> SharedCredentials {
        SharedCredentials {
            inner: RwLock::new(build(cfg)),
        }
    }

    /// Replaces every user with those of `cfg.relay`.
    pub fn replace(&self, cfg: &Config) {
        let fresh = build(cfg);
        match self.inner.write() {
            Ok(mut g) => *g = fresh,
            Err(poisoned) => *poisoned.into_inner() = fresh,
        }
    }
}

/// The realm the relay challenges with.
pub fn realm(cfg: &Config) -> String {
    cfg.relay
        .realm
        .clone()
        .unwrap_or_else(|| cfg.msrp.host.clone())
}

fn build(cfg: &Config) -> StaticCredentials {
    let realm = realm(cfg);
    let mut creds = StaticCredentials::new();
    for u in &cfg.relay.users {
        creds.insert(&u.name, &realm, &u.password);
    }
    creds
}

impl CredentialStore for SharedCredentials {
    fn ha1(&self, username: &str, realm: &str, alg: Algorithm) -> Option<String> {
        match self.inner.read() {
            Ok(g) => g.ha1(username, realm, alg),
            Err(poisoned) => poisoned.into_inner().ha1(username, realm, alg),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_swaps_users() {
        let mut cfg = Config::parse("[[relay.users]]\nname = \"a\"\npassword = \"1\"\n").unwrap();
        let s = SharedCredentials::from_config(&cfg);
        let before = s.ha1("a", "localhost", Algorithm::Md5);
        assert!(before.is_some());
        assert!(s.ha1("b", "localhost", Algorithm::Md5).is_none());
        cfg.relay.users[0].name = "b".into();
        s.replace(&cfg);
        assert!(s.ha1("a", "localhost", Algorithm::Md5).is_none());
        assert!(s.ha1("b", "localhost", Algorithm::Md5).is_some());
    }
}
