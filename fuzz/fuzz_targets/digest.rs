//! Fuzzes the digest header parsers (shared by SIP and MSRP AUTH) and the nonce checker.
#![no_main]

use dataplane::digest::{parse_params, Challenge, Credentials, NonceMinter};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_params(s);
    if let Ok(c) = Challenge::parse(s) {
        // What we render must parse back to the same challenge.
        assert_eq!(Challenge::parse(&c.render()).ok(), Some(c));
    }
    if let Ok(c) = Credentials::parse(s) {
        let _ = c.expected_response("0123456789abcdef0123456789abcdef", "REGISTER");
        assert_eq!(Credentials::parse(&c.render()).ok(), Some(c));
    }
    let _ = NonceMinter::new([1; 32], 60).check(s, "realm", 1000);
});
