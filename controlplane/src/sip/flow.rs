//! Flows (RFC 5626 §3): a TCP/TLS connection or a UDP 5-tuple, named by transport and both
//! addresses, and the stateless flow tokens (§5.2) that name a flow inside a Path or
//! Record-Route URI: `base64url(HMAC-SHA1-80(K, S) ‖ S)`, S = transport ‖ local ‖ remote.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// Transport of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TransportKind {
    /// UDP.
    Udp,
    /// TCP.
    Tcp,
    /// TLS over TCP.
    Tls,
}

impl TransportKind {
    /// Via / `transport=` token.
    pub fn token(self) -> &'static str {
        match self {
            TransportKind::Udp => "UDP",
            TransportKind::Tcp => "TCP",
            TransportKind::Tls => "TLS",
        }
    }
    /// Lowercase `transport=` parameter value.
    pub fn param(self) -> &'static str {
        match self {
            TransportKind::Udp => "udp",
            TransportKind::Tcp => "tcp",
            TransportKind::Tls => "tls",
        }
    }
    /// True for stream transports.
    pub fn is_reliable(self) -> bool {
        !matches!(self, TransportKind::Udp)
    }
    /// Parses a Via transport or `transport=` value.
    pub fn parse(s: &str) -> Option<TransportKind> {
        if s.eq_ignore_ascii_case("udp") {
            Some(TransportKind::Udp)
        } else if s.eq_ignore_ascii_case("tcp") {
            Some(TransportKind::Tcp)
        } else if s.eq_ignore_ascii_case("tls") {
            Some(TransportKind::Tls)
        } else {
            None
        }
    }
    fn code(self) -> u8 {
        match self {
            TransportKind::Udp => 1,
            TransportKind::Tcp => 2,
            TransportKind::Tls => 3,
        }
    }
    fn from_code(c: u8) -> Option<TransportKind> {
        match c {
            1 => Some(TransportKind::Udp),
            2 => Some(TransportKind::Tcp),
            3 => Some(TransportKind::Tls),
            _ => None,
        }
    }
}

/// A flow: transport plus our address and the peer's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowKey {
    /// Transport.
    pub transport: TransportKind,
    /// Our socket address.
    pub local: SocketAddr,
    /// The peer's socket address.
    pub remote: SocketAddr,
}

impl std::fmt::Display for FlowKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}->{}",
            self.transport.param(),
            self.local,
            self.remote
        )
    }
}

/// Why a flow token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not base64url or wrong length: not one of ours.
    #[error("malformed flow token")]
    Malformed,
    /// The HMAC does not match: forged or altered (RFC 5626 §5.3.1 ⇒ 403).
    #[error("flow token failed its integrity check")]
    Tampered,
}

const MAC_LEN: usize = 10;

/// Mints and checks flow tokens with a boot-time secret.
#[derive(Clone)]
pub struct FlowTokens {
    key: [u8; 20],
}

impl std::fmt::Debug for FlowTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FlowTokens(..)")
    }
}

fn put_addr(out: &mut Vec<u8>, a: SocketAddr) {
    match a.ip() {
        IpAddr::V4(v4) => {
            out.push(4);
            out.extend_from_slice(&v4.octets());
        }
        IpAddr::V6(v6) => {
            out.push(6);
            out.extend_from_slice(&v6.octets());
        }
    }
    out.extend_from_slice(&a.port().to_be_bytes());
}

fn take_addr(b: &[u8], i: &mut usize) -> Option<SocketAddr> {
    let fam = *b.get(*i)?;
    *i += 1;
    let ip = match fam {
        4 => {
            let o: [u8; 4] = b.get(*i..*i + 4)?.try_into().ok()?;
            *i += 4;
            IpAddr::V4(Ipv4Addr::from(o))
        }
        6 => {
            let o: [u8; 16] = b.get(*i..*i + 16)?.try_into().ok()?;
            *i += 16;
            IpAddr::V6(Ipv6Addr::from(o))
        }
        _ => return None,
    };
    let p: [u8; 2] = b.get(*i..*i + 2)?.try_into().ok()?;
    *i += 2;
    Some(SocketAddr::new(ip, u16::from_be_bytes(p)))
}

impl FlowTokens {
    /// Tokens keyed with this secret (20 random octets at boot, RFC 5626 §5.2).
    pub fn new(key: [u8; 20]) -> FlowTokens {
        FlowTokens { key }
    }

    fn mac(&self, s: &[u8]) -> [u8; MAC_LEN] {
        let mut m =
            <Hmac<Sha1> as Mac>::new_from_slice(&self.key).expect("HMAC takes any key size");
        m.update(s);
        let full = m.finalize().into_bytes();
        let mut out = [0u8; MAC_LEN];
        out.copy_from_slice(&full[..MAC_LEN]);
        out
    }

    /// The token for a flow (URI-safe: base64url without padding).
    pub fn encode(&self, flow: &FlowKey) -> String {
        let mut s = Vec::with_capacity(40);
        s.push(flow.transport.code());
        put_addr(&mut s, flow.local);
        put_addr(&mut s, flow.remote);
        let mut all = self.mac(&s).to_vec();
        all.extend_from_slice(&s);
        URL_SAFE_NO_PAD.encode(all)
    }

    /// Recovers the flow from a token, checking its integrity.
    pub fn decode(&self, token: &str) -> Result<FlowKey, TokenError> {
        if token.len() > 128 {
            return Err(TokenError::Malformed);
        }
        let raw = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| TokenError::Malformed)?;
        if raw.len() < MAC_LEN + 1 {
            return Err(TokenError::Malformed);
        }
        let (mac, s) = raw.split_at(MAC_LEN);
        let want = self.mac(s);
        if want.iter().zip(mac).fold(0u8, |a, (x, y)| a | (x ^ y)) != 0 {
            return Err(TokenError::Tampered);
        }
        let transport = TransportKind::from_code(s[0]).ok_or(TokenError::Malformed)?;
        let mut i = 1;
        let local = take_addr(s, &mut i).ok_or(TokenError::Malformed)?;
        let remote = take_addr(s, &mut i).ok_or(TokenError::Malformed)?;
        if i != s.len() {
            return Err(TokenError::Malformed);
        }
        Ok(FlowKey {
            transport,
            local,
            remote,
        })
    }
}

/// Renders a SIP URI host for an address (IPv6 in brackets).
pub fn host_port(a: SocketAddr) -> String {
    match a {
        SocketAddr::V4(v) => format!("{}:{}", v.ip(), v.port()),
        SocketAddr::V6(v) => format!("[{}]:{}", v.ip(), v.port()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn flow(t: TransportKind, l: &str, r: &str) -> FlowKey {
        FlowKey {
            transport: t,
            local: l.parse().unwrap(),
            remote: r.parse().unwrap(),
        }
    }

    #[test]
    fn token_roundtrip_v4_v6() {
        let t = FlowTokens::new([3; 20]);
        for f in [
            flow(TransportKind::Tcp, "192.0.2.1:5060", "198.51.100.7:40123"),
            flow(
                TransportKind::Udp,
                "[2001:db8::1]:5060",
                "[2001:db8::2]:5062",
            ),
            flow(TransportKind::Tls, "192.0.2.1:5061", "[2001:db8::2]:5062"),
        ] {
            let tok = t.encode(&f);
            assert!(tok
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
            assert_eq!(t.decode(&tok), Ok(f));
        }
        // IPv4 token size matches the RFC's 32 octets plus our family bytes (34), base64url.
        let tok = t.encode(&flow(
            TransportKind::Tcp,
            "192.0.2.1:5060",
            "198.51.100.7:1",
        ));
        assert_eq!(URL_SAFE_NO_PAD.decode(&tok).unwrap().len(), 10 + 1 + 7 + 7);
    }

    #[test]
    fn tampered_and_foreign_tokens_rejected() {
        let t = FlowTokens::new([3; 20]);
        let f = flow(TransportKind::Tcp, "192.0.2.1:5060", "198.51.100.7:40123");
        let tok = t.encode(&f);
        let mut raw = URL_SAFE_NO_PAD.decode(&tok).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1; // change the remote port
        assert_eq!(
            t.decode(&URL_SAFE_NO_PAD.encode(&raw)),
            Err(TokenError::Tampered)
        );
        assert_eq!(
            FlowTokens::new([4; 20]).decode(&tok),
            Err(TokenError::Tampered)
        );
        assert_eq!(t.decode("alice"), Err(TokenError::Malformed));
        assert_eq!(t.decode("!!"), Err(TokenError::Malformed));
    }

    proptest! {
        #[test]
        fn decode_never_panics(s in "[A-Za-z0-9_-]{0,80}") {
            let _ = FlowTokens::new([1; 20]).decode(&s);
        }
    }
}
