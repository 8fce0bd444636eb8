//! Fuzzes the Use-Nickname parser, PRECIS preparation and the nickname registry.
#![no_main]

use std::time::{Duration, Instant};

use controlplane::nickname::{
    format_use_nickname, parse_use_nickname, NicknamePolicy, NicknameRegistry, NicknameRequest,
    PreparedNickname,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    let policy = NicknamePolicy::new(true, Duration::from_secs(1), true).with_reserved(["admin"]);
    let mut reg = NicknameRegistry::new();
    let first = reg.handle_use_nickname(&policy, "room", 1, "sip:a@x", data, now);
    if let Ok(NicknameRequest::Set(s)) = parse_use_nickname(data) {
        // Formatting and parsing again gives the same value.
        let again = parse_use_nickname(format_use_nickname(&s).as_bytes());
        assert_eq!(again, Ok(NicknameRequest::Set(s.clone())));
        if let Ok(p) = PreparedNickname::new(&s) {
            // Preparation is idempotent on its own output.
            let q = PreparedNickname::new(p.display()).expect("enforced form is valid");
            assert_eq!(q.key(), p.key());
            if first.is_ok() {
                // Another user can never take the same nickname.
                assert!(reg
                    .request(&policy, "room", 2, "sip:b@x", &NicknameRequest::Set(s), now)
                    .is_err());
            }
        }
    }
    reg.leave(1, policy.quarantine, now);
});
