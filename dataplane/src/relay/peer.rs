//! Who is at the other end of a TLS connection: a relay presents a certificate (RFC 4976
//! §6.1), a client does not. The DNS names of a relay's certificate are read once per
//! connection; they decide whether an AUTH came through that relay (the name must be the host
//! of the first From-Path URI, §6.3) and which tokens it may use.

use std::sync::Arc;

use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

/// The subjectAltName DNS names of a DER certificate (none when it does not parse).
pub fn dns_names(der: &[u8]) -> Vec<Box<str>> {
    let Ok((_, cert)) = X509Certificate::from_der(der) else {
        return Vec::new();
    };
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    san.value
        .general_names
        .iter()
        .filter_map(|n| match n {
            GeneralName::DNSName(d) => Some(d.to_ascii_lowercase().into_boxed_str()),
            _ => None,
        })
        .collect()
}

/// Whether `host` is one of `names` (case-insensitive; a `*.` wildcard covers one label).
pub fn names_match(names: &[Box<str>], host: &[u8]) -> bool {
    let Ok(host) = std::str::from_utf8(host) else {
        return false;
    };
    let host = host.to_ascii_lowercase();
    names.iter().any(|n| match n.strip_prefix("*.") {
        Some(suffix) => host
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
        None => **n == *host,
    })
}

/// The names of a peer relay, shared by every frame that comes from its connection.
pub type PeerNames = Arc<[Box<str>]>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_san_dns_names_and_matches_hosts() {
        let key = rcgen::generate_simple_self_signed(vec![
            "Relay.Example.com".into(),
            "*.farm.example".into(),
        ])
        .unwrap();
        let names = dns_names(key.cert.der());
        assert_eq!(names.len(), 2);
        assert!(names_match(&names, b"relay.example.COM"));
        assert!(names_match(&names, b"r7.farm.example"));
        assert!(!names_match(&names, b"a.b.farm.example"));
        assert!(!names_match(&names, b"farm.example"));
        assert!(!names_match(&names, b"other.example.com"));
        assert!(dns_names(b"not a certificate").is_empty());
    }
}
