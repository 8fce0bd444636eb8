//! HTTP Digest authentication as used by SIP (RFC 3261 §22, RFC 7616 for SHA-256) and by MSRP
//! relays' AUTH (RFC 4976 §9.1): challenge and credentials parameter parsing and rendering,
//! HA1/HA2/response/rspauth for `qop=auth`, stateless HMAC-protected nonces that carry their
//! minting time (so stale nonces are told apart from forged ones), and a credential store trait.
//! No I/O and no clock: callers pass `now` in seconds.

use std::collections::HashMap;
use std::fmt::Write as _;

use hmac::{Hmac, Mac};
use md5::{Digest as _, Md5};
use sha2::Sha256;

/// Digest hash algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// `MD5` (RFC 2617; the SIP default when absent).
    Md5,
    /// `SHA-256` (RFC 7616).
    Sha256,
}

impl Algorithm {
    /// Parses the `algorithm` parameter value (case-insensitive).
    pub fn parse(s: &str) -> Option<Algorithm> {
        if s.eq_ignore_ascii_case("MD5") {
            Some(Algorithm::Md5)
        } else if s.eq_ignore_ascii_case("SHA-256") {
            Some(Algorithm::Sha256)
        } else {
            None
        }
    }
    /// The token as rendered.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }
    /// Lowercase hex of the hash of `parts` joined by `:`.
    pub fn hex(self, parts: &[&[u8]]) -> String {
        fn feed<D: md5::Digest>(mut d: D, parts: &[&[u8]]) -> Vec<u8> {
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    d.update(b":");
                }
                d.update(p);
            }
            d.finalize().to_vec()
        }
        let out = match self {
            Algorithm::Md5 => feed(Md5::new(), parts),
            Algorithm::Sha256 => feed(Sha256::new(), parts),
        };
        hex::encode(out)
    }
}

/// Errors parsing or checking digest headers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// The scheme is not `Digest`.
    #[error("authentication scheme is not Digest")]
    NotDigest,
    /// Malformed parameter list.
    #[error("malformed digest parameters")]
    Malformed,
    /// A required parameter is missing.
    #[error("missing digest parameter {0}")]
    Missing(&'static str),
    /// Unsupported algorithm or qop.
    #[error("unsupported digest algorithm or qop")]
    Unsupported,
}

/// Parses `Digest k=v, k="v", ...` into (lowercased name, unquoted value) pairs.
pub fn parse_params(value: &str) -> Result<Vec<(String, String)>, DigestError> {
    let v = value.trim_start();
    let rest = v
        .get(..6)
        .filter(|s| s.eq_ignore_ascii_case("digest"))
        .map(|_| &v[6..])
        .ok_or(DigestError::NotDigest)?;
    if !rest.is_empty() && !rest.starts_with([' ', '\t', '\r', '\n']) {
        return Err(DigestError::NotDigest);
    }
    let b = rest.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    let ws = |c: u8| matches!(c, b' ' | b'\t' | b'\r' | b'\n');
    loop {
        while i < b.len() && (ws(b[i]) || b[i] == b',') {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let ns = i;
        while i < b.len() && !ws(b[i]) && b[i] != b'=' && b[i] != b',' {
            i += 1;
        }
        let name = rest[ns..i].to_ascii_lowercase();
        while i < b.len() && ws(b[i]) {
            i += 1;
        }
        if name.is_empty() || i >= b.len() || b[i] != b'=' {
            return Err(DigestError::Malformed);
        }
        i += 1;
        while i < b.len() && ws(b[i]) {
            i += 1;
        }
        let value = if i < b.len() && b[i] == b'"' {
            i += 1;
            let mut s = Vec::new();
            loop {
                match b.get(i) {
                    None => return Err(DigestError::Malformed),
                    Some(b'\\') => {
                        if let Some(&c) = b.get(i + 1) {
                            s.push(c);
                        }
                        i += 2;
                    }
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(&c) => {
                        s.push(c);
                        i += 1;
                    }
                }
            }
            String::from_utf8(s).map_err(|_| DigestError::Malformed)?
        } else {
            let vs = i;
            while i < b.len() && !ws(b[i]) && b[i] != b',' {
                i += 1;
            }
            rest[vs..i].to_string()
        };
        out.push((name, value));
        if out.len() > 32 {
            return Err(DigestError::Malformed);
        }
    }
    Ok(out)
}

fn get<'p>(p: &'p [(String, String)], name: &str) -> Option<&'p str> {
    p.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

fn quote(out: &mut String, name: &str, v: &str) {
    let _ = write!(out, "{name}=\"");
    for c in v.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// A `WWW-Authenticate` / `Proxy-Authenticate` digest challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Protection realm.
    pub realm: String,
    /// Server nonce.
    pub nonce: String,
    /// Opaque value echoed by the client.
    pub opaque: Option<String>,
    /// Hash algorithm.
    pub algorithm: Algorithm,
    /// Offer `qop="auth"`.
    pub qop_auth: bool,
    /// The previous nonce was stale (RFC 2617 §3.2.1): retry without asking the user.
    pub stale: bool,
}

impl Challenge {
    /// Renders the header value.
    pub fn render(&self) -> String {
        let mut s = String::from("Digest ");
        quote(&mut s, "realm", &self.realm);
        s.push_str(", ");
        quote(&mut s, "nonce", &self.nonce);
        if let Some(o) = &self.opaque {
            s.push_str(", ");
            quote(&mut s, "opaque", o);
        }
        let _ = write!(s, ", algorithm={}", self.algorithm.as_str());
        if self.qop_auth {
            s.push_str(", qop=\"auth\"");
        }
        if self.stale {
            s.push_str(", stale=true");
        }
        s
    }

    /// Parses a header value.
    pub fn parse(value: &str) -> Result<Challenge, DigestError> {
        let p = parse_params(value)?;
        let algorithm = match get(&p, "algorithm") {
            None => Algorithm::Md5,
            Some(a) => Algorithm::parse(a).ok_or(DigestError::Unsupported)?,
        };
        Ok(Challenge {
            realm: get(&p, "realm")
                .ok_or(DigestError::Missing("realm"))?
                .into(),
            nonce: get(&p, "nonce")
                .ok_or(DigestError::Missing("nonce"))?
                .into(),
            opaque: get(&p, "opaque").map(Into::into),
            algorithm,
            qop_auth: get(&p, "qop")
                .is_some_and(|q| q.split(',').any(|t| t.trim().eq_ignore_ascii_case("auth"))),
            stale: get(&p, "stale").is_some_and(|s| s.eq_ignore_ascii_case("true")),
        })
    }
}

/// `Authorization` / `Proxy-Authorization` digest credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Realm.
    pub realm: String,
    /// Nonce being answered.
    pub nonce: String,
    /// digest-uri.
    pub uri: String,
    /// Hex response.
    pub response: String,
    /// Algorithm.
    pub algorithm: Algorithm,
    /// Client nonce (qop=auth).
    pub cnonce: Option<String>,
    /// `qop=auth` was used.
    pub qop_auth: bool,
    /// Nonce count, 8 hex digits as sent (qop=auth).
    pub nc: Option<String>,
    /// Opaque echoed.
    pub opaque: Option<String>,
}

impl Credentials {
    /// Parses a header value.
    pub fn parse(value: &str) -> Result<Credentials, DigestError> {
        let p = parse_params(value)?;
        let algorithm = match get(&p, "algorithm") {
            None => Algorithm::Md5,
            Some(a) => Algorithm::parse(a).ok_or(DigestError::Unsupported)?,
        };
        let qop_auth = match get(&p, "qop") {
            None => false,
            Some(q) if q.eq_ignore_ascii_case("auth") => true,
            Some(_) => return Err(DigestError::Unsupported),
        };
        let c = Credentials {
            username: get(&p, "username")
                .ok_or(DigestError::Missing("username"))?
                .into(),
            realm: get(&p, "realm")
                .ok_or(DigestError::Missing("realm"))?
                .into(),
            nonce: get(&p, "nonce")
                .ok_or(DigestError::Missing("nonce"))?
                .into(),
            uri: get(&p, "uri").ok_or(DigestError::Missing("uri"))?.into(),
            response: get(&p, "response")
                .ok_or(DigestError::Missing("response"))?
                .to_ascii_lowercase(),
            algorithm,
            cnonce: get(&p, "cnonce").map(Into::into),
            qop_auth,
            nc: get(&p, "nc").map(Into::into),
            opaque: get(&p, "opaque").map(Into::into),
        };
        if c.qop_auth && (c.cnonce.is_none() || c.nc.is_none()) {
            return Err(DigestError::Missing("cnonce/nc"));
        }
        Ok(c)
    }

    /// Renders the header value (client side).
    pub fn render(&self) -> String {
        let mut s = String::from("Digest ");
        quote(&mut s, "username", &self.username);
        s.push_str(", ");
        quote(&mut s, "realm", &self.realm);
        s.push_str(", ");
        quote(&mut s, "nonce", &self.nonce);
        s.push_str(", ");
        quote(&mut s, "uri", &self.uri);
        s.push_str(", ");
        quote(&mut s, "response", &self.response);
        let _ = write!(s, ", algorithm={}", self.algorithm.as_str());
        if let Some(c) = &self.cnonce {
            s.push_str(", ");
            quote(&mut s, "cnonce", c);
        }
        if self.qop_auth {
            s.push_str(", qop=auth");
        }
        if let Some(nc) = &self.nc {
            let _ = write!(s, ", nc={nc}");
        }
        if let Some(o) = &self.opaque {
            s.push_str(", ");
            quote(&mut s, "opaque", o);
        }
        s
    }

    /// Computes the expected response for these credentials given HA1 and the method.
    pub fn expected_response(&self, ha1: &str, method: &str) -> String {
        let ha2 = ha2(self.algorithm, method, &self.uri);
        response(
            self.algorithm,
            ha1,
            &self.nonce,
            self.qop_auth.then(|| {
                (
                    self.nc.as_deref().unwrap_or(""),
                    self.cnonce.as_deref().unwrap_or(""),
                )
            }),
            &ha2,
        )
    }

    /// Builds client credentials answering `ch` (tests, benchmarks, and the client side).
    pub fn answer(
        ch: &Challenge,
        username: &str,
        password: &str,
        method: &str,
        uri: &str,
        cnonce: &str,
        nc: u32,
    ) -> Credentials {
        let ha1 = ha1(ch.algorithm, username, &ch.realm, password);
        let mut c = Credentials {
            username: username.into(),
            realm: ch.realm.clone(),
            nonce: ch.nonce.clone(),
            uri: uri.into(),
            response: String::new(),
            algorithm: ch.algorithm,
            cnonce: ch.qop_auth.then(|| cnonce.to_string()),
            qop_auth: ch.qop_auth,
            nc: ch.qop_auth.then(|| format!("{nc:08x}")),
            opaque: ch.opaque.clone(),
        };
        c.response = c.expected_response(&ha1, method);
        c
    }
}

/// HA1 = H(username:realm:password).
pub fn ha1(alg: Algorithm, username: &str, realm: &str, password: &str) -> String {
    alg.hex(&[username.as_bytes(), realm.as_bytes(), password.as_bytes()])
}

/// HA2 = H(method:uri) for qop=auth or no qop.
pub fn ha2(alg: Algorithm, method: &str, uri: &str) -> String {
    alg.hex(&[method.as_bytes(), uri.as_bytes()])
}

/// response = H(HA1:nonce:nc:cnonce:qop:HA2) with qop=auth, else H(HA1:nonce:HA2).
pub fn response(
    alg: Algorithm,
    ha1: &str,
    nonce: &str,
    nc_cnonce: Option<(&str, &str)>,
    ha2: &str,
) -> String {
    match nc_cnonce {
        Some((nc, cnonce)) => alg.hex(&[
            ha1.as_bytes(),
            nonce.as_bytes(),
            nc.as_bytes(),
            cnonce.as_bytes(),
            b"auth",
            ha2.as_bytes(),
        ]),
        None => alg.hex(&[ha1.as_bytes(), nonce.as_bytes(), ha2.as_bytes()]),
    }
}

/// `rspauth` for Authentication-Info (RFC 2617 §3.2.3): like the response with an empty method.
pub fn rspauth(c: &Credentials, ha1: &str) -> String {
    c.expected_response(ha1, "")
}

/// Constant-time equality of two strings.
pub fn ct_eq(a: &str, b: &str) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.bytes()
        .zip(b.bytes())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// What a nonce check concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceState {
    /// Minted by us and young enough.
    Fresh,
    /// Minted by us but older than the allowed age: challenge again with `stale=true`.
    Stale,
    /// Not minted by us (or mangled).
    Invalid,
}

/// Mints and checks stateless nonces: `hex(time_be64 ‖ salt_be64 ‖ HMAC-SHA256(key, time ‖ salt
/// ‖ realm)[..16])`. Nothing is stored per nonce; replay within the lifetime is not detected
/// (nonce counts would need state), which is the usual trade-off for a stateless registrar.
#[derive(Clone)]
pub struct NonceMinter {
    key: [u8; 32],
    max_age: u64,
}

impl std::fmt::Debug for NonceMinter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NonceMinter")
            .field("max_age", &self.max_age)
            .finish_non_exhaustive()
    }
}

type HmacSha256 = Hmac<Sha256>;

impl NonceMinter {
    /// A minter with this secret key and nonce lifetime in seconds.
    pub fn new(key: [u8; 32], max_age: u64) -> NonceMinter {
        NonceMinter { key, max_age }
    }

    fn mac(&self, time: u64, salt: u64, realm: &str) -> [u8; 16] {
        let mut m =
            <HmacSha256 as Mac>::new_from_slice(&self.key).expect("HMAC takes any key size");
        m.update(&time.to_be_bytes());
        m.update(&salt.to_be_bytes());
        m.update(realm.as_bytes());
        let full = m.finalize().into_bytes();
        let mut out = [0u8; 16];
        out.copy_from_slice(&full[..16]);
        out
    }

    /// A new nonce for `realm` at time `now` (seconds); `salt` makes nonces minted in the same
    /// second differ (a counter or random number).
    pub fn mint(&self, realm: &str, now: u64, salt: u64) -> String {
        let mut raw = [0u8; 32];
        raw[..8].copy_from_slice(&now.to_be_bytes());
        raw[8..16].copy_from_slice(&salt.to_be_bytes());
        raw[16..].copy_from_slice(&self.mac(now, salt, realm));
        hex::encode(raw)
    }

    /// Checks a nonce presented for `realm` at time `now`.
    pub fn check(&self, nonce: &str, realm: &str, now: u64) -> NonceState {
        let mut raw = [0u8; 32];
        if nonce.len() != 64 || hex::decode_to_slice(nonce, &mut raw).is_err() {
            return NonceState::Invalid;
        }
        let mut t = [0u8; 8];
        t.copy_from_slice(&raw[..8]);
        let mut s = [0u8; 8];
        s.copy_from_slice(&raw[8..16]);
        let (time, salt) = (u64::from_be_bytes(t), u64::from_be_bytes(s));
        let mac = self.mac(time, salt, realm);
        if mac
            .iter()
            .zip(&raw[16..])
            .fold(0u8, |a, (x, y)| a | (x ^ y))
            != 0
        {
            return NonceState::Invalid;
        }
        if time > now.saturating_add(5) {
            return NonceState::Invalid;
        }
        if now.saturating_sub(time) > self.max_age {
            NonceState::Stale
        } else {
            NonceState::Fresh
        }
    }
}

/// Where user secrets come from. Returns HA1 for the algorithm so that stores may hold
/// pre-hashed secrets instead of passwords.
pub trait CredentialStore: Send + Sync {
    /// HA1 for `username` in `realm`, or `None` if the user is unknown.
    fn ha1(&self, username: &str, realm: &str, alg: Algorithm) -> Option<String>;
}

/// In-memory store of plaintext passwords (from a config file), keyed by (user, realm).
#[derive(Debug, Default, Clone)]
pub struct StaticCredentials {
    users: HashMap<(String, String), String>,
}

impl StaticCredentials {
    /// An empty store.
    pub fn new() -> StaticCredentials {
        StaticCredentials::default()
    }
    /// Adds or replaces a user.
    pub fn insert(&mut self, username: &str, realm: &str, password: &str) {
        self.users
            .insert((username.into(), realm.into()), password.into());
    }
    /// Number of users.
    pub fn len(&self) -> usize {
        self.users.len()
    }
    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

impl CredentialStore for StaticCredentials {
    fn ha1(&self, username: &str, realm: &str, alg: Algorithm) -> Option<String> {
        self.users
            .get(&(username.to_string(), realm.to_string()))
            .map(|p| ha1(alg, username, realm, p))
    }
}

/// Result of checking credentials against a challenge we issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Authenticated as this user.
    Ok,
    /// Correct password, old nonce: challenge again with `stale=true`.
    Stale,
    /// Wrong password, unknown user, foreign realm or forged nonce: challenge again.
    Rejected,
}

/// Verifies credentials for `method` in `realm` against the store and our nonces.
pub fn verify(
    c: &Credentials,
    method: &str,
    realm: &str,
    store: &dyn CredentialStore,
    nonces: &NonceMinter,
    now: u64,
) -> Verdict {
    if c.realm != realm {
        return Verdict::Rejected;
    }
    let state = nonces.check(&c.nonce, realm, now);
    if state == NonceState::Invalid {
        return Verdict::Rejected;
    }
    let Some(ha1) = store.ha1(&c.username, realm, c.algorithm) else {
        return Verdict::Rejected;
    };
    if !ct_eq(&c.expected_response(&ha1, method), &c.response) {
        return Verdict::Rejected;
    }
    match state {
        NonceState::Fresh => Verdict::Ok,
        _ => Verdict::Stale,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // RFC 2617 §3.5 example (qop=auth, MD5).
    #[test]
    fn rfc2617_example_response() {
        let ha1 = ha1(
            Algorithm::Md5,
            "Mufasa",
            "testrealm@host.com",
            "Circle Of Life",
        );
        let ha2 = ha2(Algorithm::Md5, "GET", "/dir/index.html");
        let r = response(
            Algorithm::Md5,
            &ha1,
            "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            Some(("00000001", "0a4f113b")),
            &ha2,
        );
        assert_eq!(r, "6629fae49393a05397450978507c4ef1");
    }

    // RFC 7616 §3.9.1 example, SHA-256.
    #[test]
    fn rfc7616_sha256_example_response() {
        let ha1 = ha1(
            Algorithm::Sha256,
            "Mufasa",
            "http-auth@example.org",
            "Circle of Life",
        );
        let ha2 = ha2(Algorithm::Sha256, "GET", "/dir/index.html");
        let r = response(
            Algorithm::Sha256,
            &ha1,
            "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
            Some(("00000001", "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ")),
            &ha2,
        );
        assert_eq!(
            r,
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    #[test]
    fn challenge_and_credentials_roundtrip_and_verify() {
        let minter = NonceMinter::new([7; 32], 300);
        let mut store = StaticCredentials::new();
        store.insert("alice", "example.com", "s3cr\"et");
        let ch = Challenge {
            realm: "example.com".into(),
            nonce: minter.mint("example.com", 1000, 1),
            opaque: Some("op".into()),
            algorithm: Algorithm::Md5,
            qop_auth: true,
            stale: false,
        };
        let parsed = Challenge::parse(&ch.render()).unwrap();
        assert_eq!(parsed, ch);
        let c = Credentials::answer(
            &parsed,
            "alice",
            "s3cr\"et",
            "REGISTER",
            "sip:example.com",
            "abc",
            1,
        );
        let pc = Credentials::parse(&c.render()).unwrap();
        assert_eq!(pc, c);
        assert_eq!(
            verify(&pc, "REGISTER", "example.com", &store, &minter, 1010),
            Verdict::Ok
        );
        assert_eq!(
            verify(&pc, "INVITE", "example.com", &store, &minter, 1010),
            Verdict::Rejected
        );
        assert_eq!(
            verify(&pc, "REGISTER", "example.com", &store, &minter, 2000),
            Verdict::Stale
        );
        let wrong = Credentials::answer(
            &parsed,
            "alice",
            "nope",
            "REGISTER",
            "sip:example.com",
            "abc",
            1,
        );
        assert_eq!(
            verify(&wrong, "REGISTER", "example.com", &store, &minter, 1010),
            Verdict::Rejected
        );
        let other_minter = NonceMinter::new([8; 32], 300);
        assert_eq!(
            verify(&pc, "REGISTER", "example.com", &store, &other_minter, 1010),
            Verdict::Rejected
        );
        let ha1 = store.ha1("alice", "example.com", Algorithm::Md5).unwrap();
        assert_eq!(rspauth(&pc, &ha1).len(), 32);
        assert_ne!(rspauth(&pc, &ha1), pc.response);
    }

    #[test]
    fn nonce_states() {
        let m = NonceMinter::new([1; 32], 60);
        let n = m.mint("r", 100, 42);
        assert_eq!(m.check(&n, "r", 100), NonceState::Fresh);
        assert_eq!(m.check(&n, "r", 161), NonceState::Stale);
        assert_eq!(m.check(&n, "other", 100), NonceState::Invalid);
        let mut t = n.clone().into_bytes();
        t[63] = if t[63] == b'0' { b'1' } else { b'0' };
        assert_eq!(
            m.check(std::str::from_utf8(&t).unwrap(), "r", 100),
            NonceState::Invalid
        );
        assert_eq!(m.check("zz", "r", 100), NonceState::Invalid);
        assert_ne!(m.mint("r", 100, 1), m.mint("r", 100, 2));
    }

    #[test]
    fn parse_rejects_non_digest_and_garbage() {
        assert_eq!(Credentials::parse("Basic abc"), Err(DigestError::NotDigest));
        assert_eq!(
            parse_params("Digest realm=\"x"),
            Err(DigestError::Malformed)
        );
        assert!(Credentials::parse("Digest realm=\"x\"").is_err());
        assert_eq!(
            Credentials::parse(
                "Digest username=a, realm=b, nonce=c, uri=d, response=e, qop=auth-int"
            ),
            Err(DigestError::Unsupported)
        );
    }

    proptest! {
        #[test]
        fn parse_params_never_panics(s in ".{0,200}") {
            let _ = parse_params(&s);
            let _ = Credentials::parse(&s);
            let _ = Challenge::parse(&s);
        }
    }
}
