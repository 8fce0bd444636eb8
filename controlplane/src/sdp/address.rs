//! RFC 6714 §4.4 address information matching between an SDP `c=`/`m=` pair and MSRP URIs.
//!
//! Names need DNS, which a sans-IO core cannot do; the caller hands in a [`Resolver`] holding
//! whatever it resolved beforehand. When a name cannot be resolved the answer is
//! [`AddressMatch::Unknown`] and policy decides.

use std::collections::HashMap;
use std::net::IpAddr;

use super::msrp_uri::{canonical_ip, Host, MsrpUri};

/// The result of comparing address information.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressMatch {
    /// Same address and port.
    Match,
    /// Definitely different.
    NoMatch,
    /// A name could not be resolved, so equality is unknown.
    Unknown,
}

/// Pre-resolved names (the sans-IO stand-in for DNS).
pub trait Resolver {
    /// Addresses of `name`, or `None` when it was not resolved.
    fn resolve(&self, name: &str) -> Option<Vec<IpAddr>>;
}

/// Resolves nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoResolver;

impl Resolver for NoResolver {
    fn resolve(&self, _: &str) -> Option<Vec<IpAddr>> {
        None
    }
}

/// A fixed table of names (case-insensitive) to addresses.
#[derive(Debug, Clone, Default)]
pub struct StaticResolver(HashMap<String, Vec<IpAddr>>);

impl StaticResolver {
    /// Adds or replaces a name.
    pub fn insert(&mut self, name: &str, addrs: Vec<IpAddr>) {
        self.0.insert(name.to_ascii_lowercase(), addrs);
    }
}

impl Resolver for StaticResolver {
    fn resolve(&self, name: &str) -> Option<Vec<IpAddr>> {
        self.0.get(&name.to_ascii_lowercase()).cloned()
    }
}

fn addrs_of(h: &Host, r: &dyn Resolver) -> Option<Vec<IpAddr>> {
    match h {
        Host::Ip(ip) => Some(vec![canonical_ip(*ip)]),
        Host::Name(n) => r
            .resolve(n)
            .map(|v| v.into_iter().map(canonical_ip).collect()),
    }
}

/// Compares two hosts: addresses by value (RFC 5952 normal form is implied), equal names
/// match without DNS, otherwise any common resolved address matches (RFC 6714 §4.4 NOTE).
pub fn hosts_match(a: &Host, b: &Host, resolver: &dyn Resolver) -> AddressMatch {
    if a.same_as(b) {
        return AddressMatch::Match;
    }
    match (addrs_of(a, resolver), addrs_of(b, resolver)) {
        (Some(x), Some(y)) => {
            if x.iter().any(|ip| y.contains(ip)) {
                AddressMatch::Match
            } else {
                AddressMatch::NoMatch
            }
        }
        _ => AddressMatch::Unknown,
    }
}

/// Compares `c=` host + `m=` port with one MSRP URI.
pub fn matches_uri(
    c_host: &Host,
    m_port: u16,
    uri: &MsrpUri,
    resolver: &dyn Resolver,
) -> AddressMatch {
    if uri.port != Some(m_port) {
        return AddressMatch::NoMatch;
    }
    hosts_match(c_host, &uri.host, resolver)
}

/// Compares `c=`/`m=` with a path: a match with any URI is a match; all definite mismatches
/// are a mismatch; otherwise unknown.
pub fn matches_any(
    c_host: &Host,
    m_port: u16,
    path: &[MsrpUri],
    resolver: &dyn Resolver,
) -> AddressMatch {
    let mut unknown = false;
    for uri in path {
        match matches_uri(c_host, m_port, uri, resolver) {
            AddressMatch::Match => return AddressMatch::Match,
            AddressMatch::Unknown => unknown = true,
            AddressMatch::NoMatch => {}
        }
    }
    if unknown {
        AddressMatch::Unknown
    } else {
        AddressMatch::NoMatch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> MsrpUri {
        s.parse().unwrap()
    }

    #[test]
    fn ipv6_text_forms_match() {
        let c = Host::parse("2001:DB8:0:0:0:0:0:1").unwrap();
        let u = uri("msrp://[2001:db8::1]:7654/abc;tcp");
        assert_eq!(matches_uri(&c, 7654, &u, &NoResolver), AddressMatch::Match);
        assert_eq!(
            matches_uri(&c, 7655, &u, &NoResolver),
            AddressMatch::NoMatch
        );
    }

    #[test]
    fn names_need_resolution() {
        let c = Host::parse("198.51.100.7").unwrap();
        let u = uri("msrp://client.example.com:7654/abc;tcp");
        assert_eq!(
            matches_uri(&c, 7654, &u, &NoResolver),
            AddressMatch::Unknown
        );
        let mut r = StaticResolver::default();
        r.insert(
            "CLIENT.example.com",
            vec![
                "192.0.2.1".parse().unwrap(),
                "198.51.100.7".parse().unwrap(),
            ],
        );
        assert_eq!(matches_uri(&c, 7654, &u, &r), AddressMatch::Match);
        r.insert("client.example.com", vec!["192.0.2.1".parse().unwrap()]);
        assert_eq!(matches_uri(&c, 7654, &u, &r), AddressMatch::NoMatch);
        // The same name matches without DNS.
        let n = Host::parse("Client.Example.com").unwrap();
        assert_eq!(matches_uri(&n, 7654, &u, &NoResolver), AddressMatch::Match);
    }

    #[test]
    fn any_uri_of_a_path() {
        let c = Host::parse("192.0.2.9").unwrap();
        let path = [
            uri("msrps://relay.example.net:2855;tcp"),
            uri("msrp://192.0.2.9:4000/s;tcp"),
        ];
        assert_eq!(
            matches_any(&c, 4000, &path, &NoResolver),
            AddressMatch::Match
        );
        assert_eq!(
            matches_any(&c, 4001, &path, &NoResolver),
            AddressMatch::NoMatch
        );
        assert_eq!(
            matches_any(&c, 2855, &path, &NoResolver),
            AddressMatch::Unknown
        );
    }
}
