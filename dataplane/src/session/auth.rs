//! The client side of RFC 4976 AUTH (§5.1): AUTH without credentials, the 401 Digest
//! challenge, AUTH with an Authorization header, and the 200 with Use-Path and Expires (or a
//! final error). The digest itself comes from an [`AuthResponder`], so that the shared digest
//! module can be plugged in; [`PasswordDigest`] is a small MD5 `qop=auth` implementation.

use super::events::Event;
use super::transmit::Transmit;
use crate::wire::{
    Continuation, FrameHead, HeaderName, Ident, OwnedMsrpUri, PathIter, RequestWriter,
};
use bytes::BytesMut;
use md5::{Digest, Md5};

/// An AUTH to send (RFC 4976 §5.1).
#[derive(Debug, Clone)]
pub struct AuthRequest {
    /// To-Path: the relay URI (or, for an outer relay, the inner relays' Use-Path followed by
    /// the outer relay's URI). The rightmost URI is the digest-uri.
    pub to_path: Vec<OwnedMsrpUri>,
    /// From-Path: this client's URI.
    pub from: OwnedMsrpUri,
    /// Lifetime asked for, in seconds.
    pub expires: Option<u32>,
}

/// A Digest challenge from a 401, with the digest-uri the response must cover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// realm
    pub realm: String,
    /// nonce
    pub nonce: String,
    /// opaque, to be echoed.
    pub opaque: Option<String>,
    /// qop options as sent (e.g. `auth`).
    pub qop: Option<String>,
    /// algorithm (absent means MD5).
    pub algorithm: Option<String>,
    /// stale=true: the credentials were good, the nonce expired.
    pub stale: bool,
    /// The rightmost To-Path URI of the AUTH (RFC 4976 §9.1).
    pub digest_uri: String,
}

/// Produces the Authorization header value answering a challenge (`None` gives up).
pub trait AuthResponder: Send {
    /// The full header value, e.g. `Digest username="alice", realm=..., response="..."`.
    fn authorization(&mut self, challenge: &Challenge) -> Option<String>;
}

impl<F: FnMut(&Challenge) -> Option<String> + Send> AuthResponder for F {
    fn authorization(&mut self, challenge: &Challenge) -> Option<String> {
        self(challenge)
    }
}

fn md5_hex(parts: &[&[u8]]) -> String {
    let mut h = Md5::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            h.update(b":");
        }
        h.update(p);
    }
    let out = h.finalize();
    let mut s = String::with_capacity(32);
    for b in out {
        s.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        s.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    s
}

/// RFC 2617 digest response with MD5: `qop=auth` when `nc_cnonce` is given, else the RFC 2069
/// form. Lowercase hex.
pub fn digest_response(
    username: &str,
    realm: &str,
    password: &str,
    method: &str,
    uri: &str,
    nonce: &str,
    nc_cnonce: Option<(&str, &str)>,
) -> String {
    let ha1 = md5_hex(&[username.as_bytes(), realm.as_bytes(), password.as_bytes()]);
    let ha2 = md5_hex(&[method.as_bytes(), uri.as_bytes()]);
    match nc_cnonce {
        Some((nc, cnonce)) => md5_hex(&[
            ha1.as_bytes(),
            nonce.as_bytes(),
            nc.as_bytes(),
            cnonce.as_bytes(),
            b"auth",
            ha2.as_bytes(),
        ]),
        None => md5_hex(&[ha1.as_bytes(), nonce.as_bytes(), ha2.as_bytes()]),
    }
}

fn quoted(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push_str("=\"");
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// Username/password Digest credentials (MD5, `qop=auth`). A stand-in for the shared digest
/// module: any [`AuthResponder`] can replace it.
pub struct PasswordDigest {
    username: String,
    password: String,
    cnonce_seed: u64,
    nc: u32,
    last_nonce: String,
}

impl PasswordDigest {
    /// Credentials; `cnonce_seed` should be random (it makes the client nonces).
    pub fn new(username: &str, password: &str, cnonce_seed: u64) -> Self {
        PasswordDigest {
            username: username.into(),
            password: password.into(),
            cnonce_seed,
            nc: 0,
            last_nonce: String::new(),
        }
    }
}

impl AuthResponder for PasswordDigest {
    fn authorization(&mut self, ch: &Challenge) -> Option<String> {
        if ch
            .algorithm
            .as_deref()
            .is_some_and(|a| !a.eq_ignore_ascii_case("MD5"))
        {
            return None;
        }
        if ch.nonce == self.last_nonce {
            self.nc += 1;
        } else {
            self.nc = 1;
            self.last_nonce.clone_from(&ch.nonce);
        }
        let qop_auth = ch
            .qop
            .as_deref()
            .is_some_and(|q| q.split(',').any(|x| x.trim().eq_ignore_ascii_case("auth")));
        self.cnonce_seed = self
            .cnonce_seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let cnonce = format!("{:016x}", self.cnonce_seed);
        let nc = format!("{:08x}", self.nc);
        let response = digest_response(
            &self.username,
            &ch.realm,
            &self.password,
            "AUTH",
            &ch.digest_uri,
            &ch.nonce,
            qop_auth.then_some((nc.as_str(), cnonce.as_str())),
        );
        let mut s = String::from("Digest ");
        quoted(&mut s, "username", &self.username);
        s.push_str(", ");
        quoted(&mut s, "realm", &ch.realm);
        s.push_str(", ");
        quoted(&mut s, "nonce", &ch.nonce);
        s.push_str(", ");
        quoted(&mut s, "uri", &ch.digest_uri);
        s.push_str(", ");
        quoted(&mut s, "response", &response);
        s.push_str(", algorithm=MD5");
        if qop_auth {
            s.push_str(", ");
            quoted(&mut s, "cnonce", &cnonce);
            s.push_str(", qop=auth, nc=");
            s.push_str(&nc);
        }
        if let Some(o) = &ch.opaque {
            s.push_str(", ");
            quoted(&mut s, "opaque", o);
        }
        Some(s)
    }
}

/// What the connection does after an AUTH response.
pub(crate) enum AuthStep {
    /// Send the AUTH again with this Authorization value.
    Retry(String),
    /// Finished: report this event.
    Done(Box<Event>),
}

/// The AUTH exchange in progress on a connection.
pub(crate) struct AuthClient {
    req: AuthRequest,
    responder: Box<dyn AuthResponder>,
    /// Requests sent with credentials.
    attempts: u8,
}

/// Credentials are sent at most this many times (a stale nonce allows one more).
const MAX_ATTEMPTS: u8 = 2;

impl AuthClient {
    pub(crate) fn new(req: AuthRequest, responder: Box<dyn AuthResponder>) -> Self {
        AuthClient {
            req,
            responder,
            attempts: 0,
        }
    }

    /// Writes an AUTH request (with `authorization` when answering a challenge).
    pub(crate) fn request(
        &self,
        buf: &mut BytesMut,
        tid: Ident,
        authorization: Option<&str>,
    ) -> Transmit {
        let mut w = RequestWriter::new(buf, tid, "AUTH", &self.req.to_path, &[&self.req.from]);
        if let Some(a) = authorization {
            w = w.known(HeaderName::Authorization, a.as_bytes());
        }
        if let Some(e) = self.req.expires {
            w = w.expires(e);
        }
        w.out_frame_bodiless(Continuation::Complete).into()
    }

    fn failed(code: u16, head: Option<&FrameHead>) -> AuthStep {
        let get = |f: fn(&FrameHead) -> Option<Result<u32, crate::wire::WireError>>| {
            head.and_then(f).and_then(Result::ok)
        };
        AuthStep::Done(Box::new(Event::AuthFailed {
            code,
            min_expires: get(FrameHead::min_expires),
            max_expires: get(FrameHead::max_expires),
        }))
    }

    /// Handles the response to the last AUTH.
    pub(crate) fn on_response(&mut self, head: &FrameHead) -> AuthStep {
        let code = head.status_code().unwrap_or(0);
        match code {
            200 => {
                let use_path: Option<Vec<OwnedMsrpUri>> = head
                    .use_path()
                    .map(|p| p.map(|u| u.ok().map(|u| u.to_owned_uri())).collect())
                    .unwrap_or(Some(Vec::new()));
                match use_path {
                    Some(use_path) => AuthStep::Done(Box::new(Event::AuthSucceeded {
                        use_path,
                        expires: head.expires().and_then(Result::ok),
                    })),
                    // A malformed Use-Path cannot be used: treat the exchange as failed.
                    None => Self::failed(400, Some(head)),
                }
            }
            401 => {
                let Some(Ok(d)) = head.www_authenticate() else {
                    return Self::failed(401, Some(head));
                };
                let text = |name: &str| {
                    d.get(name)
                        .map(|v| String::from_utf8_lossy(&v).into_owned())
                };
                let stale = text("stale").is_some_and(|s| s.eq_ignore_ascii_case("true"));
                let (Some(realm), Some(nonce)) = (text("realm"), text("nonce")) else {
                    return Self::failed(401, Some(head));
                };
                let limit = if stale {
                    MAX_ATTEMPTS + 1
                } else {
                    MAX_ATTEMPTS
                };
                if !d.is_digest() || self.attempts >= limit {
                    return Self::failed(401, Some(head));
                }
                let digest_uri = self
                    .req
                    .to_path
                    .last()
                    .map(|u| String::from_utf8_lossy(u.as_bytes()).into_owned())
                    .unwrap_or_default();
                let ch = Challenge {
                    realm,
                    nonce,
                    opaque: text("opaque"),
                    qop: text("qop"),
                    algorithm: text("algorithm"),
                    stale,
                    digest_uri,
                };
                match self.responder.authorization(&ch) {
                    Some(a) => {
                        self.attempts += 1;
                        AuthStep::Retry(a)
                    }
                    None => Self::failed(401, Some(head)),
                }
            }
            _ => Self::failed(code, Some(head)),
        }
    }

    /// The AUTH got no response in time.
    pub(crate) fn timed_out() -> Event {
        Event::AuthFailed {
            code: 408,
            min_expires: None,
            max_expires: None,
        }
    }
}

/// Parses the URIs of a Use-Path value (for callers that keep the raw header).
pub fn parse_use_path(value: &[u8]) -> Option<Vec<OwnedMsrpUri>> {
    PathIter::new(value)
        .map(|u| u.ok().map(|u| u.to_owned_uri()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2617_example_vector() {
        // RFC 2617 §3.5 ("Mufasa", "Circle Of Life", GET /dir/index.html, qop=auth).
        let r = digest_response(
            "Mufasa",
            "testrealm@host.com",
            "Circle Of Life",
            "GET",
            "/dir/index.html",
            "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            Some(("00000001", "0a4f113b")),
        );
        assert_eq!(r, "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn password_digest_answers_with_qop_auth_and_counts_nonces() {
        let mut p = PasswordDigest::new("alice", "secret", 7);
        let ch = Challenge {
            realm: "relay.example.com".into(),
            nonce: "8f1e22".into(),
            opaque: Some("op".into()),
            qop: Some("auth".into()),
            algorithm: None,
            stale: false,
            digest_uri: "msrps://relay.example.com;tcp".into(),
        };
        let a = p.authorization(&ch).unwrap();
        assert!(a.starts_with("Digest username=\"alice\", realm=\"relay.example.com\""));
        assert!(a.contains("qop=auth, nc=00000001"));
        assert!(a.contains("uri=\"msrps://relay.example.com;tcp\""));
        assert!(a.contains("opaque=\"op\""));
        // The response is the RFC 2617 formula over method AUTH and the digest-uri.
        let cnonce = a
            .split("cnonce=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let want = digest_response(
            "alice",
            "relay.example.com",
            "secret",
            "AUTH",
            "msrps://relay.example.com;tcp",
            "8f1e22",
            Some(("00000001", cnonce)),
        );
        assert!(a.contains(&format!("response=\"{want}\"")));
        let b = p.authorization(&ch).unwrap();
        assert!(b.contains("nc=00000002"));
        let sha = Challenge {
            algorithm: Some("SHA-256".into()),
            ..ch
        };
        assert!(p.authorization(&sha).is_none());
    }
}
