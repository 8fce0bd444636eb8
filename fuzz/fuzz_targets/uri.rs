//! Parses arbitrary bytes as an MSRP URI; for valid ones checks that the normalized key is
//! itself a valid URI, equal under §6.1 comparison, and a fixed point.
#![no_main]

use dataplane::wire::MsrpUri;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(u) = MsrpUri::parse(data) else { return };
    assert!(u.same_as(&u));
    let _ = (u.userinfo(), u.host(), u.port(), u.session_id(), u.transport(), u.params());
    let mut key = Vec::new();
    u.write_key(&mut key);
    let k = MsrpUri::parse(&key).expect("normalized key must parse");
    assert!(u.same_as(&k) && k.same_as(&u), "key not equal to its URI");
    let mut key2 = Vec::new();
    k.write_key(&mut key2);
    assert_eq!(key, key2, "key not a fixed point");
    let owned = u.to_owned_uri();
    assert_eq!(owned.key().as_bytes(), &key[..]);
    assert!(owned.view().same_as(&u));
});
