//! AUTH addressed to this relay (RFC 4976 §5.1, §6.3, §9.1): a digest challenge (401), then
//! credentials checked against the store (403 when they are wrong, 401 `stale=true` when only
//! the nonce aged), Expires within bounds (423 with Min-/Max-Expires), and on success a token
//! URI bound to this connection, returned in Use-Path with Expires and Authentication-Info.

use bytes::{Bytes, BytesMut};

use super::forward::path_key;
use super::peer;
use super::token::TokenInfo;
use super::txn::reason;
use super::{unix_now, Relay, TokenEntry};
use crate::digest::{self, Algorithm, Challenge, Credentials, Verdict};
use crate::net::{Backend, ConnId};
use crate::wire::{FrameHead, HeaderName, RandomSource, ResponseWriter};
use crate::worker::Io;

/// What an AUTH gets.
enum Outcome {
    Challenge { stale: bool },
    Refused(u16),
    Bounds { min: Option<u32>, max: Option<u32> },
    Granted { expires: u32, ainfo: Option<String> },
}

impl Relay {
    pub(super) fn handle_auth<B: Backend>(
        &mut self,
        io: &mut Io<B>,
        conn: ConnId,
        head: &FrameHead,
    ) {
        // RFC 4976 §6.3: a previous hop with a certificate is a relay; its certificate must
        // name the host of the first From-Path URI.
        let via_relay = self.peer_relay(io, conn);
        let outcome = match &via_relay {
            Some(names) if !first_from_host(head).is_some_and(|h| peer::names_match(names, &h)) => {
                Outcome::Refused(403)
            }
            _ if self.cfg.auth_requires_tls && !self.conns.get(&conn).is_some_and(|c| c.tls) => {
                Outcome::Refused(403)
            }
            _ => self.judge_auth(head),
        };
        let own = head.raw_bytes(HeaderName::ToPath).unwrap_or_default();
        let mut buf = BytesMut::with_capacity(512);
        let code = match &outcome {
            Outcome::Challenge { .. } => 401,
            Outcome::Refused(c) => *c,
            Outcome::Bounds { .. } => 423,
            Outcome::Granted { .. } => 200,
        };
        let Some(w) =
            ResponseWriter::new(&mut buf, head, code, Some(reason(code)), &[own.as_ref()])
        else {
            return;
        };
        match outcome {
            Outcome::Challenge { stale } => {
                let ch = Challenge {
                    realm: self.cfg.realm.clone(),
                    nonce: self
                        .nonces
                        .mint(&self.cfg.realm, unix_now(), self.rng.next_u64()),
                    opaque: None,
                    algorithm: Algorithm::Md5,
                    qop_auth: true,
                    stale,
                };
                w.known(HeaderName::WwwAuthenticate, ch.render().as_bytes())
                    .end();
            }
            Outcome::Refused(_) => {
                w.end();
                self.stats.auth_failed += 1;
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.auth_failures += 1;
                    // RFC 4976 §6.3: several failures from a client: close its connection.
                    if c.auth_failures >= self.cfg.max_auth_failures {
                        self.write_control(io, conn, buf.freeze());
                        io.close_after_flush(conn);
                        self.stats.dropped_connections += 1;
                        return;
                    }
                }
            }
            Outcome::Bounds { min, max } => {
                let w = match min {
                    Some(m) => w.header_u64(HeaderName::MinExpires, u64::from(m)),
                    None => w,
                };
                let w = match max {
                    Some(m) => w.header_u64(HeaderName::MaxExpires, u64::from(m)),
                    None => w,
                };
                w.end();
                self.stats.auth_failed += 1;
            }
            Outcome::Granted { expires, ainfo } => {
                let relay = via_relay.is_some().then(|| first_from_host(head)).flatten();
                let uri = self.mint(io, conn, head, expires, relay);
                // Use-Path: the relays between the client and us (the From-Path without its
                // last, client, entry), then our new URI (RFC 4976 §5.1 example).
                let from: Vec<&[u8]> = head
                    .from_path_raw()
                    .split(|&b| b == b' ')
                    .filter(|u| !u.is_empty())
                    .collect();
                let mut use_path: Vec<&[u8]> = from[..from.len().saturating_sub(1)].to_vec();
                use_path.push(uri.as_ref());
                let w = w
                    .use_path(&use_path)
                    .header_u64(HeaderName::Expires, u64::from(expires));
                match ainfo {
                    Some(a) => w.known(HeaderName::AuthenticationInfo, a.as_bytes()).end(),
                    None => w.end(),
                };
                self.stats.auth_ok += 1;
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.proven = true;
                    c.auth_failures = 0;
                }
            }
        }
        self.write_control(io, conn, buf.freeze());
    }

    fn judge_auth(&mut self, head: &FrameHead) -> Outcome {
        if head.has_body() {
            return Outcome::Refused(400);
        }
        let mut ainfo = None;
        if self.cfg.require_auth {
            let Some(value) = head.raw(HeaderName::Authorization) else {
                return Outcome::Challenge { stale: false };
            };
            let Ok(value) = std::str::from_utf8(value) else {
                return Outcome::Refused(400);
            };
            // RFC 4976 §9.1: the digest-uri is the rightmost To-Path URI; `uri=` may be absent.
            let digest_uri = head
                .to_path()
                .last()
                .map(|u| String::from_utf8_lossy(u.as_bytes()).into_owned())
                .unwrap_or_default();
            let creds = match msrp_credentials(value, &digest_uri) {
                Ok(c) => c,
                Err(code) => return Outcome::Refused(code),
            };
            match digest::verify(
                &creds,
                "AUTH",
                &self.cfg.realm,
                self.cfg.credentials.as_ref(),
                &self.nonces,
                unix_now(),
            ) {
                Verdict::Ok => {}
                Verdict::Stale => return Outcome::Challenge { stale: true },
                Verdict::Rejected => return Outcome::Refused(403),
            }
            if let Some(ha1) =
                self.cfg
                    .credentials
                    .ha1(&creds.username, &self.cfg.realm, creds.algorithm)
            {
                let next = self
                    .nonces
                    .mint(&self.cfg.realm, unix_now(), self.rng.next_u64());
                ainfo = Some(format!(
                    "nextnonce=\"{next}\", qop=auth, rspauth=\"{}\", cnonce=\"{}\", nc={}",
                    digest::rspauth(&creds, &ha1),
                    creds.cnonce.as_deref().unwrap_or_default(),
                    creds.nc.as_deref().unwrap_or_default()
                ));
            }
        }
        let expires = match head.expires() {
            None => self
                .cfg
                .default_expires
                .clamp(self.cfg.min_expires, self.cfg.max_expires),
            Some(Err(_)) => return Outcome::Refused(400),
            Some(Ok(e)) if e < self.cfg.min_expires => {
                return Outcome::Bounds {
                    min: Some(self.cfg.min_expires),
                    max: None,
                }
            }
            Some(Ok(e)) if e > self.cfg.max_expires => {
                return Outcome::Bounds {
                    min: None,
                    max: Some(self.cfg.max_expires),
                }
            }
            Some(Ok(e)) => e,
        };
        Outcome::Granted { expires, ainfo }
    }

    /// Mints a token URI bound to `conn`, or, when the AUTH came through the relay named
    /// `relay`, to that relay.
    fn mint<B: Backend>(
        &mut self,
        io: &mut Io<B>,
        conn: ConnId,
        head: &FrameHead,
        expires: u32,
        relay: Option<Vec<u8>>,
    ) -> Bytes {
        let nonce = self.rng.next_u64();
        let until = unix_now()
            .saturating_add(u64::from(expires))
            .min(u64::from(u32::MAX)) as u32;
        let info = TokenInfo {
            worker: self.index,
            conn,
            expires: until,
            nonce,
        };
        let uri = format!(
            "{}/{};tcp",
            self.own_uri(io, conn).trim_end_matches(";tcp"),
            self.sealer.seal(&info)
        );
        let uri = Bytes::from(uri);
        self.tokens.insert(
            nonce,
            TokenEntry {
                conn,
                client: path_key(head.from_path_raw()),
                expires: until,
                relay: relay.as_deref().map(|r| {
                    String::from_utf8_lossy(r)
                        .to_ascii_lowercase()
                        .into_boxed_str()
                }),
            },
        );
        // A client's token dies with its connection; a relay's lives until it expires.
        if relay.is_none() {
            if let Some(c) = self.conns.get_mut(&conn) {
                c.tokens.push(nonce);
            }
        }
        uri
    }
}

/// The host of the first From-Path URI (the previous hop).
fn first_from_host(head: &FrameHead) -> Option<Vec<u8>> {
    head.from_path().next().map(|u| u.host().to_vec())
}

/// Digest credentials of an MSRP AUTH: `uri=` is optional and, when present, must be the
/// digest-uri; qop must be `auth` (RFC 4976 §9.1).
fn msrp_credentials(value: &str, digest_uri: &str) -> Result<Credentials, u16> {
    let params = digest::parse_params(value).map_err(|_| 400u16)?;
    let get = |n: &str| {
        params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.as_str())
    };
    if get("uri").is_some_and(|u| u != digest_uri) {
        return Err(403);
    }
    let mut with_uri = value.to_string();
    if get("uri").is_none() {
        with_uri.push_str(", uri=\"");
        with_uri.push_str(&digest_uri.replace('\\', "\\\\").replace('"', "\\\""));
        with_uri.push('"');
    }
    let c = Credentials::parse(&with_uri).map_err(|_| 400u16)?;
    if !c.qop_auth {
        return Err(400);
    }
    Ok(c)
}
