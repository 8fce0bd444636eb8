//! A minimal MSRP URI (RFC 4975 §6, §9) for `a=path`: host, port, session-id, transport.
//!
//! The dataplane owns the full wire-level URI type; this one exists so that SDP negotiation can
//! pick connect targets and compare addresses (RFC 6714 §4.4) without depending on it.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use super::error::AttributeError;

/// `msrp` or `msrps`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MsrpScheme {
    /// Plain TCP.
    Msrp,
    /// TLS (RFC 4975 §6: an `msrps` URI means the connection MUST use TLS).
    Msrps,
}

impl MsrpScheme {
    /// The scheme as written in URIs.
    pub fn as_str(self) -> &'static str {
        match self {
            MsrpScheme::Msrp => "msrp",
            MsrpScheme::Msrps => "msrps",
        }
    }

    /// Whether this scheme requires TLS.
    pub fn is_tls(self) -> bool {
        self == MsrpScheme::Msrps
    }
}

/// The host part of an MSRP URI or an SDP address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// An IPv4 or IPv6 literal. Comparing `IpAddr` values is what RFC 5952 normalisation
    /// of IPv6 text achieves (RFC 6714 §4.4).
    Ip(IpAddr),
    /// A domain name as written.
    Name(String),
}

impl Host {
    /// Parses an SDP connection address or URI host: an IPv4 literal, an IPv6 literal with or
    /// without brackets, or a domain name.
    pub fn parse(s: &str) -> Option<Host> {
        let inner = s
            .strip_prefix('[')
            .and_then(|r| r.strip_suffix(']'))
            .unwrap_or(s);
        if let Ok(v6) = Ipv6Addr::from_str(inner) {
            return Some(Host::Ip(IpAddr::V6(v6)));
        }
        if inner.len() != s.len() {
            return None;
        }
        if let Ok(v4) = Ipv4Addr::from_str(s) {
            return Some(Host::Ip(IpAddr::V4(v4)));
        }
        if is_reg_name(s) {
            return Some(Host::Name(s.to_owned()));
        }
        None
    }

    /// The SDP address type (`IP4`/`IP6`); names are announced as `IP4` unless said otherwise.
    pub fn sdp_addr_type(&self) -> &'static str {
        match self {
            Host::Ip(IpAddr::V6(_)) => "IP6",
            _ => "IP4",
        }
    }

    /// The host as written in SDP `c=`/`o=` lines (IPv6 without brackets).
    pub fn to_sdp_string(&self) -> String {
        match self {
            Host::Ip(ip) => ip.to_string(),
            Host::Name(n) => n.clone(),
        }
    }

    /// Case-insensitive name comparison after percent-decoding (RFC 4975 §6.1); IP literals by
    /// value.
    pub fn same_as(&self, other: &Host) -> bool {
        match (self, other) {
            (Host::Ip(a), Host::Ip(b)) => canonical_ip(*a) == canonical_ip(*b),
            (Host::Name(a), Host::Name(b)) => {
                percent_decode(a).eq_ignore_ascii_case(&percent_decode(b))
            }
            _ => false,
        }
    }
}

/// IPv4-mapped IPv6 addresses compare equal to their IPv4 form.
pub(crate) fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Ip(IpAddr::V6(v6)) => write!(f, "[{v6}]"),
            Host::Ip(IpAddr::V4(v4)) => write!(f, "{v4}"),
            Host::Name(n) => f.write_str(n),
        }
    }
}

/// An MSRP URI: `msrp[s]://[userinfo@]host[:port][/session-id];transport[;param[=value]]*`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MsrpUri {
    /// `msrp` or `msrps`.
    pub scheme: MsrpScheme,
    /// Optional userinfo (never a password, RFC 4975 §6); ignored in comparisons.
    pub userinfo: Option<String>,
    /// Host.
    pub host: Host,
    /// Port; URIs in SDP must carry one (RFC 4975 §6).
    pub port: Option<u16>,
    /// Session id; absent for relay URIs.
    pub session_id: Option<String>,
    /// Transport token (`tcp`, or `ws` for RFC 7977 clients).
    pub transport: String,
    /// Other URI parameters.
    pub params: Vec<(String, Option<String>)>,
}

const URI: &str = "path";

impl MsrpUri {
    /// Whether the URI names the TCP transport.
    pub fn is_tcp(&self) -> bool {
        self.transport.eq_ignore_ascii_case("tcp")
    }

    /// RFC 4975 §6.1 equivalence: scheme, host (address or case-insensitive name), port (both
    /// absent or equal), session-id (case-sensitive) and transport; userinfo and other
    /// parameters are ignored.
    pub fn equivalent(&self, other: &MsrpUri) -> bool {
        self.scheme == other.scheme
            && self.host.same_as(&other.host)
            && self.port == other.port
            && self.session_id == other.session_id
            && self.transport.eq_ignore_ascii_case(&other.transport)
    }

    /// Parses a list of URIs separated by spaces (the `a=path` value).
    pub fn parse_list(s: &str) -> Result<Vec<MsrpUri>, AttributeError> {
        let uris: Vec<MsrpUri> = s
            .split([' ', '\t'])
            .filter(|x| !x.is_empty())
            .map(MsrpUri::from_str)
            .collect::<Result<_, _>>()?;
        if uris.is_empty() {
            return Err(AttributeError::new(URI, "no URI"));
        }
        Ok(uris)
    }
}

impl FromStr for MsrpUri {
    type Err = AttributeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| AttributeError::new(URI, reason);
        let (scheme, rest) = s.split_once("://").ok_or(err("not an MSRP URI"))?;
        let scheme = if scheme.eq_ignore_ascii_case("msrp") {
            MsrpScheme::Msrp
        } else if scheme.eq_ignore_ascii_case("msrps") {
            MsrpScheme::Msrps
        } else {
            return Err(err("scheme is not msrp or msrps"));
        };
        let auth_end = rest.find(['/', ';']).ok_or(err("missing ;transport"))?;
        let (authority, rest) = rest.split_at(auth_end);
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        if let Some(u) = userinfo {
            if u.contains(':') {
                return Err(err("userinfo must not carry a password"));
            }
            if !u.bytes().all(is_userinfo_char) {
                return Err(err("bad userinfo"));
            }
        }
        let (host, port) = split_host_port(hostport).ok_or(err("bad host or port"))?;
        let (session_id, rest) = match rest.strip_prefix('/') {
            Some(r) => {
                let end = r.find(';').ok_or(err("missing ;transport"))?;
                let (sid, rest) = r.split_at(end);
                if sid.is_empty() || !sid.bytes().all(is_session_id_char) {
                    return Err(err("bad session-id"));
                }
                (Some(sid.to_owned()), rest)
            }
            None => (None, rest),
        };
        let mut parts = rest
            .strip_prefix(';')
            .ok_or(err("missing ;transport"))?
            .split(';');
        let transport = parts.next().unwrap_or_default();
        if transport.is_empty() || !transport.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(err("bad transport"));
        }
        let mut params = Vec::new();
        for p in parts {
            let (name, value) = match p.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (p, None),
            };
            if !super::parse::is_token(name) || value.is_some_and(|v| !super::parse::is_token(v)) {
                return Err(err("bad URI parameter"));
            }
            params.push((name.to_owned(), value.map(str::to_owned)));
        }
        Ok(MsrpUri {
            scheme,
            userinfo: userinfo.map(str::to_owned),
            host,
            port,
            session_id,
            transport: transport.to_owned(),
            params,
        })
    }
}

impl fmt::Display for MsrpUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.scheme.as_str())?;
        if let Some(u) = &self.userinfo {
            write!(f, "{u}@")?;
        }
        write!(f, "{}", self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        if let Some(s) = &self.session_id {
            write!(f, "/{s}")?;
        }
        write!(f, ";{}", self.transport)?;
        for (n, v) in &self.params {
            match v {
                Some(v) => write!(f, ";{n}={v}")?,
                None => write!(f, ";{n}")?,
            }
        }
        Ok(())
    }
}

fn split_host_port(s: &str) -> Option<(Host, Option<u16>)> {
    let (host, port) = if s.starts_with('[') {
        let close = s.find(']')?;
        let (h, rest) = s.split_at(close + 1);
        match rest {
            "" => (h, None),
            r => (h, Some(r.strip_prefix(':')?)),
        }
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let port = match port {
        Some(p) if !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => {
            Some(p.parse().ok()?)
        }
        Some(_) => return None,
        None => None,
    };
    if host.is_empty() {
        return None;
    }
    Some((Host::parse(host)?, port))
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn is_sub_delim(b: u8) -> bool {
    matches!(
        b,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
    )
}

fn is_userinfo_char(b: u8) -> bool {
    is_unreserved(b) || is_sub_delim(b) || b == b'%'
}

fn is_session_id_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'+' | b'=' | b'/')
}

fn is_reg_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| is_unreserved(b) || is_sub_delim(b) || b == b'%')
        && percent_encoding_ok(s)
}

fn percent_encoding_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            match (b.get(i + 1), b.get(i + 2)) {
                (Some(h), Some(l)) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => i += 3,
                _ => return false,
            }
        } else {
            i += 1;
        }
    }
    true
}

/// Decodes percent-encoded unreserved characters (RFC 3986 §6.2.2.2); others stay encoded.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if let (Some(&h), Some(&l)) = (b.get(i + 1), b.get(i + 2)) {
                let hex = |c: u8| (c as char).to_digit(16);
                if let (Some(h), Some(l)) = (hex(h), hex(l)) {
                    let v = (h * 16 + l) as u8;
                    if is_unreserved(v) {
                        out.push(char::from(v));
                        i += 3;
                        continue;
                    }
                }
            }
        }
        out.push(char::from(b[i]));
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc_7701_path() {
        let u: MsrpUri = "msrp://chat.example.com:12763/kjhd37s2s20w2a;tcp"
            .parse()
            .unwrap();
        assert_eq!(u.scheme, MsrpScheme::Msrp);
        assert_eq!(u.host, Host::Name("chat.example.com".into()));
        assert_eq!(u.port, Some(12763));
        assert_eq!(u.session_id.as_deref(), Some("kjhd37s2s20w2a"));
        assert!(u.is_tcp());
        assert_eq!(
            u.to_string(),
            "msrp://chat.example.com:12763/kjhd37s2s20w2a;tcp"
        );
    }

    #[test]
    fn parses_ipv6_relay_without_session() {
        let u: MsrpUri = "MSRPS://[2001:DB8::1]:2855;tcp;foo=bar".parse().unwrap();
        assert_eq!(u.scheme, MsrpScheme::Msrps);
        assert_eq!(u.host, Host::Ip("2001:db8::1".parse().unwrap()));
        assert_eq!(u.session_id, None);
        assert_eq!(u.params, vec![("foo".into(), Some("bar".into()))]);
        assert_eq!(u.to_string(), "msrps://[2001:db8::1]:2855;tcp;foo=bar");
    }

    #[test]
    fn rejects_bad_uris() {
        for bad in [
            "msrp://host:1/abc",
            "sip:alice@example.com",
            "msrp://host:99999/abc;tcp",
            "msrp://user:pw@host:1/abc;tcp",
            "msrp://:1/abc;tcp",
            "msrp://host:1/;tcp",
            "msrp://host:1/a b;tcp",
            "msrp://[::1:1/abc;tcp",
            "msrp://host:1/abc;",
            "msrp://ho%zzst:1/a;tcp",
            "msrp://ho%2:1/a;tcp",
        ] {
            assert!(bad.parse::<MsrpUri>().is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn equivalence_follows_rfc_4975_6_1() {
        let a: MsrpUri = "msrp://Alice@EXAMPLE.com:7394/2s93i9ek2a;tcp"
            .parse()
            .unwrap();
        let b: MsrpUri = "MSRP://example.%63om:7394/2s93i9ek2a;TCP".parse().unwrap();
        assert!(a.equivalent(&b));
        let c: MsrpUri = "msrp://example.com:7394/2S93i9ek2a;tcp".parse().unwrap();
        assert!(!a.equivalent(&c), "session-id is case-sensitive");
        let d: MsrpUri = "msrp://example.com/2s93i9ek2a;tcp".parse().unwrap();
        assert!(!a.equivalent(&d), "explicit port differs from no port");
        let e: MsrpUri = "msrp://[::ffff:192.0.2.1]:1/x;tcp".parse().unwrap();
        let f: MsrpUri = "msrp://192.0.2.1:1/x;tcp".parse().unwrap();
        assert!(e.equivalent(&f));
    }

    #[test]
    fn host_parse_variants() {
        assert_eq!(
            Host::parse("192.0.2.1"),
            Some(Host::Ip("192.0.2.1".parse().unwrap()))
        );
        assert_eq!(
            Host::parse("2001:db8:0:0::1"),
            Some(Host::Ip("2001:db8::1".parse().unwrap()))
        );
        assert_eq!(
            Host::parse("[2001:db8::1]"),
            Some(Host::Ip("2001:db8::1".parse().unwrap()))
        );
        assert_eq!(
            Host::parse("a.example"),
            Some(Host::Name("a.example".into()))
        );
        assert_eq!(Host::parse("[a.example]"), None);
        assert_eq!(Host::parse("bad host"), None);
    }
}
