//! MSRP URI parsing and RFC 4975 §6.1 comparison.

use super::*;
use std::collections::HashMap;

fn u(s: &str) -> MsrpUri<'_> {
    MsrpUri::parse(s.as_bytes()).unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[test]
fn parts() {
    let x = u("msrps://alice@intra.example.com;tcp");
    assert_eq!(x.scheme(), Scheme::Msrps);
    assert_eq!(x.userinfo(), Some(&b"alice"[..]));
    assert_eq!(x.host(), b"intra.example.com");
    assert_eq!((x.port(), x.session_id()), (None, None));
    let y = u("msrp://[2001:db8::1]:2855/ab/c+d=;ws;foo=bar;baz");
    assert_eq!(y.host_kind(), Host::V6("2001:db8::1".parse().unwrap()));
    assert_eq!(y.port(), Some(2855));
    assert_eq!(y.session_id(), Some(&b"ab/c+d="[..]));
    assert_eq!(y.transport(), b"ws");
    assert_eq!(y.params(), b";foo=bar;baz");
    assert_eq!(
        u("msrp://10.0.0.5:40213/a1;tcp").host_kind(),
        Host::V4("10.0.0.5".parse().unwrap())
    );
}

#[test]
fn rejects() {
    for s in [
        "msrp://h:1/s",
        "msrp:/h:1/s;tcp",
        "sip://h:1/s;tcp",
        "msrp://h:1/;tcp",
        "msrp://h:1/s;",
        "msrp://h:1/s;t-cp",
        "msrp://h:/s;tcp",
        "msrp://h:65536/s;tcp",
        "msrp://u:p@h:1/s;tcp",
        "msrp://[::1/s;tcp",
        "msrp://[zz]:1/s;tcp",
        "msrp://h%4:1/s;tcp",
        "msrp://h:1/s;tcp;=x",
        "msrp://h:1/s s;tcp",
        "msrp://@h:1/s;tcp",
    ] {
        assert!(MsrpUri::parse(s.as_bytes()).is_err(), "{s}");
    }
}

#[test]
fn comparison_rules() {
    let base = u("msrp://Host.Example.com:2855/AbC;tcp");
    assert_eq!(base, u("MSRP://host.example.COM:2855/AbC;TCP"));
    assert_eq!(
        base,
        u("msrp://bob@host.example.com:2855/AbC;tcp"),
        "userinfo ignored"
    );
    assert_eq!(
        base,
        u("msrp://h%6Fst.example.com:2855/AbC;tcp"),
        "unreserved escape"
    );
    assert_eq!(
        base,
        u("msrp://host.example.com:2855/AbC;tcp;x=y"),
        "params ignored"
    );
    assert_ne!(
        base,
        u("msrp://host.example.com:2855/abc;tcp"),
        "session-id case-sensitive"
    );
    assert_ne!(base, u("msrp://host.example.com/AbC;tcp"), "port presence");
    assert_ne!(base, u("msrp://host.example.com:2856/AbC;tcp"));
    assert_ne!(base, u("msrps://host.example.com:2855/AbC;tcp"));
    assert_ne!(base, u("msrp://host.example.com:2855/AbC;ws"));
    assert_ne!(
        base,
        u("msrp://host.example.com:2855;tcp"),
        "session-id presence"
    );
    assert_eq!(
        u("msrp://[2001:DB8:0::1]:1/s;tcp"),
        u("msrp://[2001:db8::1]:1/s;tcp")
    );
    assert_ne!(u("msrp://10.0.0.1:1/s;tcp"), u("msrp://10.0.0.2:1/s;tcp"));
}

#[test]
fn owned_keys_in_a_hash_map() {
    let mut m: HashMap<OwnedMsrpUri, u32> = HashMap::new();
    m.insert(
        u("msrp://Chat.Example.com:12763/kjhd37s2s20w2a;tcp").to_owned_uri(),
        7,
    );
    let probe = u("msrp://alice@chat.example.COM:12763/kjhd37s2s20w2a;TCP");
    let mut key = Vec::new();
    probe.write_key(&mut key);
    assert_eq!(m.get(key.as_slice()), Some(&7));
    key.clear();
    u("msrp://chat.example.com:12763/KJHD37s2s20w2a;tcp").write_key(&mut key);
    assert_eq!(m.get(key.as_slice()), None);
    let o = OwnedMsrpUri::parse(bytes::Bytes::from_static(b"msrp://x.y:1/z;tcp")).unwrap();
    assert_eq!(o.view().session_id(), Some(&b"z"[..]));
}
