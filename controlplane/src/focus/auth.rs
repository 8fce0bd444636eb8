//! SIP digest (RFC 3261 §22, RFC 7616 algorithms) for allow-list rooms: 401 challenges with
//! stateless nonces, and the check of `Authorization` against the configured users.

use std::time::{SystemTime, UNIX_EPOCH};

use dataplane::digest::{
    verify, Algorithm, Challenge, Credentials, NonceMinter, StaticCredentials, Verdict,
};

use crate::sip::wire::{HeaderName, Message};

/// Nonce lifetime (seconds).
const NONCE_SECS: u64 = 300;

/// The digest authenticator of the focus.
pub(crate) struct DigestAuth {
    realm: String,
    users: StaticCredentials,
    nonces: NonceMinter,
}

/// The outcome of checking a request.
pub(crate) enum AuthOutcome {
    /// Authenticated as this user name.
    User(String),
    /// Challenge with this `WWW-Authenticate` value.
    Challenge(String),
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl DigestAuth {
    pub fn new(realm: &str, users: &[(String, String)]) -> DigestAuth {
        let mut s = StaticCredentials::new();
        for (u, p) in users {
            s.insert(u, realm, p);
        }
        let mut key = [0u8; 32];
        rand::Rng::fill(&mut rand::thread_rng(), &mut key[..]);
        DigestAuth {
            realm: realm.to_string(),
            users: s,
            nonces: NonceMinter::new(key, NONCE_SECS),
        }
    }

    fn challenge(&self, stale: bool) -> String {
        Challenge {
            realm: self.realm.clone(),
            nonce: self
                .nonces
                .mint(&self.realm, now_secs(), rand::random::<u64>()),
            opaque: None,
            algorithm: Algorithm::Md5,
            qop_auth: true,
            stale,
        }
        .render()
    }

    /// Checks the request's `Authorization` for our realm.
    pub fn check(&self, msg: &Message) -> AuthOutcome {
        let mut stale = false;
        for v in msg.values(HeaderName::Authorization) {
            let Ok(c) = Credentials::parse(v) else {
                continue;
            };
            if c.realm != self.realm {
                continue;
            }
            match verify(
                &c,
                msg.method_text(),
                &self.realm,
                &self.users,
                &self.nonces,
                now_secs(),
            ) {
                Verdict::Ok => return AuthOutcome::User(c.username),
                Verdict::Stale => stale = true,
                Verdict::Rejected => {}
            }
        }
        AuthOutcome::Challenge(self.challenge(stale))
    }
}
