//! Comparison keys for the URIs in CPIM `From`/`To` headers and the room roster (SIP, tel, im,
//! anonymous URIs): scheme and host compare case-insensitively, the user part exactly, and URI
//! parameters and headers after the host are ignored. That is the part of RFC 3261 §19.1.4 a
//! switch needs to tie a CPIM address to what the focus registered; clients copy these URIs
//! from the conference event package, so exotic equivalences (escaped characters, default
//! ports) are not worth more code.

/// The comparison key of `uri` (surrounding spaces and `<>` removed).
pub fn cpim_uri_key(uri: &[u8]) -> Vec<u8> {
    let mut u = uri;
    while let [b' ' | b'\t' | b'<', rest @ ..] = u {
        u = rest;
    }
    while let [rest @ .., b' ' | b'\t' | b'>'] = u {
        u = rest;
    }
    let mut out = Vec::with_capacity(u.len());
    let Some(colon) = u.iter().position(|&c| c == b':') else {
        out.extend(u.iter().map(u8::to_ascii_lowercase));
        return out;
    };
    out.extend(u[..=colon].iter().map(u8::to_ascii_lowercase));
    let rest = &u[colon + 1..];
    // Host part: after the last '@' (there may be none: tel:, or sip:host).
    let (user, host) = match rest.iter().rposition(|&c| c == b'@') {
        Some(at) => (&rest[..=at], &rest[at + 1..]),
        None => (&[][..], rest),
    };
    let host_end = host
        .iter()
        .position(|&c| c == b';' || c == b'?')
        .unwrap_or(host.len());
    let host = &host[..host_end];
    if user.is_empty() && !host.contains(&b'.') && !host.is_empty() && !host.contains(&b'[') {
        // `tel:+1234`, `im:alice`: no host to fold; keep as is (minus parameters).
        out.extend_from_slice(host);
        return out;
    }
    out.extend_from_slice(user);
    out.extend(host.iter().map(u8::to_ascii_lowercase));
    out
}

#[cfg(test)]
mod tests {
    use super::cpim_uri_key;

    fn same(a: &str, b: &str) -> bool {
        cpim_uri_key(a.as_bytes()) == cpim_uri_key(b.as_bytes())
    }

    #[test]
    fn scheme_and_host_fold_user_does_not() {
        assert!(same("sip:alice@Example.COM", "SIP:alice@example.com"));
        assert!(same("<sip:alice@example.com>", "sip:alice@example.com"));
        assert!(!same("sip:Alice@example.com", "sip:alice@example.com"));
        assert!(same(
            "sip:alice@example.com;transport=tcp",
            "sip:alice@example.com"
        ));
        assert!(!same("sip:alice@example.com", "sips:alice@example.com"));
        assert!(!same("sip:alice@example.com", "sip:bob@example.com"));
        assert!(same("tel:+15551234", "TEL:+15551234"));
        assert!(!same("im:Bob", "im:bob"));
    }
}
