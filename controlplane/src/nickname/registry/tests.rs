//! Registry tests: RFC 7701 §7 outcomes, sharing, changes, quarantine, scopes, properties.

use super::*;

const ROOM: &str = "sip:chatroom22@chat.example.com";

fn t0() -> Instant {
    Instant::now()
}

fn set(s: &str) -> NicknameRequest {
    NicknameRequest::Set(s.into())
}

fn granted(r: Result<NicknameGrant, NicknameError>) -> String {
    match r {
        Ok(NicknameGrant::Granted { nickname, .. }) => nickname,
        other => panic!("expected a grant, got {other:?}"),
    }
}

#[test]
fn rfc_7701_outcomes() {
    let now = t0();
    let mut reg = NicknameRegistry::new();
    let policy = NicknamePolicy::default().with_reserved(["Admin", "moderator"]);
    // 200
    assert_eq!(
        granted(reg.handle_use_nickname(
            &policy,
            ROOM,
            1,
            "sip:alice@example.com",
            b"\"Alice the great\"",
            now
        )),
        "Alice the great"
    );
    // 424
    let e = reg
        .handle_use_nickname(&policy, ROOM, 2, "sip:bob@example.com", b"Dopey", now)
        .unwrap_err();
    assert_eq!(e.status_code(), 424);
    // 425: in use by another user, compared by PRECIS key
    let e = reg
        .handle_use_nickname(
            &policy,
            ROOM,
            2,
            "sip:bob@example.com",
            b"\"  ALICE   the GREAT \"",
            now,
        )
        .unwrap_err();
    assert_eq!((e.clone(), e.status_code()), (NicknameError::InUse, 425));
    // 425: reserved, also in another case/width
    let e = reg
        .handle_use_nickname(
            &policy,
            ROOM,
            2,
            "sip:bob@example.com",
            "\"ＡＤＭＩＮ\"".as_bytes(),
            now,
        )
        .unwrap_err();
    assert_eq!((e.clone(), e.status_code()), (NicknameError::Reserved, 425));
    // 403 comes first, even for a malformed value
    let off = NicknamePolicy {
        enabled: false,
        ..NicknamePolicy::default()
    };
    let e = reg
        .handle_use_nickname(&off, ROOM, 2, "sip:bob@example.com", b"garbage", now)
        .unwrap_err();
    assert_eq!(e.status_code(), 403);
    assert_eq!(reg.nickname_of(2), None);
}

/// RFC 7701 §9.2 Figure 4: the first proposal is in use (425), the second is accepted (200).
#[test]
fn rfc_7701_figure_4() {
    let now = t0();
    let mut reg = NicknameRegistry::new();
    let p = NicknamePolicy::default();
    granted(reg.request(
        &p,
        ROOM,
        7,
        "sip:bob@example.com",
        &set("Alice the great"),
        now,
    ));
    let alice = "sip:alice@atlanta.example.com";
    let f2 = reg
        .handle_use_nickname(&p, ROOM, 1, alice, b"\"Alice the great\"", now)
        .unwrap_err();
    assert_eq!(f2.status_code(), 425);
    assert_eq!(f2.comment(), "Nickname reserved or already in use");
    let f4 = reg.handle_use_nickname(&p, ROOM, 1, alice, b"\"Alice in Wonderland\"", now);
    assert_eq!(granted(f4), "Alice in Wonderland");
    assert_eq!(reg.nickname_of(1), Some("Alice in Wonderland"));
}

#[test]
fn same_user_on_two_devices_shares_the_nickname() {
    let now = t0();
    let mut reg = NicknameRegistry::new();
    let p = NicknamePolicy::default();
    let alice = "sip:alice@example.com";
    granted(reg.request(&p, ROOM, 1, alice, &set("Alice"), now));
    assert_eq!(
        granted(reg.request(&p, ROOM, 2, alice, &set("alice"), now)),
        "Alice"
    );
    let owner = reg.lookup(ROOM, "ALICE", now).unwrap();
    assert_eq!(owner.holders, vec![1, 2]);
    assert_eq!(owner.aor, alice);
    // One device leaving keeps the nickname for the other.
    reg.leave(1, Duration::ZERO, now);
    assert_eq!(reg.nickname_of(2), Some("Alice"));
    // With sharing off, the second device is refused.
    let strict = NicknamePolicy {
        same_user_sharing: false,
        ..NicknamePolicy::default()
    };
    assert_eq!(
        reg.request(&strict, ROOM, 3, alice, &set("Alice"), now)
            .unwrap_err(),
        NicknameError::InUse
    );
}

#[test]
fn change_keeps_old_until_new_is_granted() {
    let now = t0();
    let mut reg = NicknameRegistry::new();
    let p = NicknamePolicy::default();
    granted(reg.request(&p, ROOM, 1, "sip:alice@example.com", &set("Alice"), now));
    granted(reg.request(&p, ROOM, 2, "sip:bob@example.com", &set("Bob"), now));
    // Alice tries Bob's nickname: refused, she keeps hers.
    assert!(reg
        .request(&p, ROOM, 1, "sip:alice@example.com", &set("bob"), now)
        .is_err());
    assert_eq!(reg.nickname_of(1), Some("Alice"));
    // A successful change releases the old one, which others may then take.
    let r = reg
        .request(&p, ROOM, 1, "sip:alice@example.com", &set("Queen"), now)
        .unwrap();
    assert_eq!(
        r,
        NicknameGrant::Granted {
            nickname: "Queen".into(),
            previous: Some("Alice".into())
        }
    );
    granted(reg.request(&p, ROOM, 2, "sip:bob@example.com", &set("alice"), now));
    // Re-asking for the same nickname reports no previous one; a new spelling is adopted.
    let r = reg
        .request(&p, ROOM, 1, "sip:alice@example.com", &set("QUEEN"), now)
        .unwrap();
    assert_eq!(
        r,
        NicknameGrant::Granted {
            nickname: "QUEEN".into(),
            previous: None
        }
    );
}

#[test]
fn release_and_quarantine() {
    let now = t0();
    let q = Duration::from_secs(300);
    let mut reg = NicknameRegistry::new();
    let p = NicknamePolicy {
        quarantine: q,
        ..NicknamePolicy::default()
    };
    // Explicit release ("") frees at once.
    granted(reg.request(&p, ROOM, 1, "sip:alice@example.com", &set("Alice"), now));
    assert_eq!(
        reg.request(
            &p,
            ROOM,
            1,
            "sip:alice@example.com",
            &NicknameRequest::Release,
            now
        )
        .unwrap(),
        NicknameGrant::Released {
            previous: Some("Alice".into())
        }
    );
    assert!(reg.is_empty());
    granted(reg.request(&p, ROOM, 2, "sip:bob@example.com", &set("Alice"), now));
    reg.leave(2, p.quarantine, now);
    // Leaving quarantines it: others are refused, the owner reclaims it from a new session.
    let later = now + Duration::from_secs(10);
    assert_eq!(
        reg.request(&p, ROOM, 3, "sip:carol@example.com", &set("alice"), later)
            .unwrap_err(),
        NicknameError::InUse
    );
    let owner = reg.lookup(ROOM, "Alice", later).unwrap();
    assert!(owner.holders.is_empty() && owner.quarantined_until == Some(now + q));
    granted(reg.request(&p, ROOM, 4, "sip:bob@example.com", &set("Alice"), later));
    reg.leave(4, p.quarantine, later);
    // After the quarantine anybody may take it; expire() drops stale entries.
    let after = later + q;
    assert!(reg.lookup(ROOM, "Alice", after).is_none());
    reg.expire(after);
    assert!(reg.is_empty());
    granted(reg.request(&p, ROOM, 3, "sip:carol@example.com", &set("alice"), after));
    // Releasing with nothing held is fine.
    assert_eq!(
        reg.request(
            &p,
            ROOM,
            9,
            "sip:x@example.com",
            &NicknameRequest::Release,
            now
        )
        .unwrap(),
        NicknameGrant::Released { previous: None }
    );
}

#[test]
fn scopes_per_room_or_shared() {
    let now = t0();
    let p = NicknamePolicy::default();
    let mut reg = NicknameRegistry::new();
    granted(reg.request(&p, "room-a", 1, "sip:alice@example.com", &set("Alice"), now));
    // A separate room has its own scope.
    granted(reg.request(&p, "room-b", 2, "sip:bob@example.com", &set("Alice"), now));
    // Two rooms sharing the scope "example.com" collide.
    granted(reg.request(
        &p,
        "example.com",
        3,
        "sip:carol@example.com",
        &set("Carol"),
        now,
    ));
    assert_eq!(
        reg.request(
            &p,
            "example.com",
            4,
            "sip:dave@example.com",
            &set("carol"),
            now
        )
        .unwrap_err(),
        NicknameError::InUse
    );
    assert_eq!(reg.len("room-a"), 1);
    assert_eq!(reg.len("example.com"), 1);
}

mod props {
    use super::*;
    use proptest::prelude::*;

    fn fullwidth(s: &str) -> String {
        s.chars()
            .map(|c| match c {
                '!'..='~' => char::from_u32(c as u32 - 0x21 + 0xFF01).unwrap_or(c),
                c => c,
            })
            .collect()
    }

    proptest! {
        #[test]
        fn case_width_and_space_variants_collide(word in "[A-Za-z0-9][A-Za-z0-9 ]{0,15}[A-Za-z0-9]") {
            let now = Instant::now();
            let p = NicknamePolicy::default();
            let mut reg = NicknameRegistry::new();
            granted(reg.request(&p, ROOM, 1, "sip:a@x", &set(&word), now));
            for variant in [word.to_uppercase(), word.to_lowercase(), fullwidth(&word),
                            format!("  {}  ", word.replace(' ', "\u{3000}"))] {
                prop_assert_eq!(
                    reg.request(&p, ROOM, 2, "sip:b@x", &set(&variant), now).unwrap_err(),
                    NicknameError::InUse
                );
                // The owner's other device gets it.
                prop_assert!(reg.request(&p, ROOM, 3, "sip:a@x", &set(&variant), now).is_ok());
            }
            prop_assert!(reg.lookup(ROOM, &fullwidth(&word.to_uppercase()), now).is_some());
        }

        /// Random operations never let two users hold colliding nicknames, and every holder's
        /// nickname is findable.
        #[test]
        fn invariants_hold(ops in proptest::collection::vec(
            (0u64..6, 0usize..3, 0usize..5, 0u8..4, 0u64..20), 1..60)) {
            let names = ["Alice", "ALICE", "bob", "Ｂｏｂ", "carol"];
            let aors = ["sip:a@x", "sip:b@x", "sip:c@x"];
            let p = NicknamePolicy { quarantine: Duration::from_secs(5), ..NicknamePolicy::default() };
            let start = Instant::now();
            let mut reg = NicknameRegistry::new();
            // A holder always belongs to one user.
            let aor_of = |h: u64| aors[(h % 3) as usize];
            for (holder, _aor, name, op, t) in ops {
                let now = start + Duration::from_secs(t);
                match op {
                    0 | 1 => { let _ = reg.request(&p, ROOM, holder, aor_of(holder), &set(names[name]), now); }
                    2 => { let _ = reg.request(&p, ROOM, holder, aor_of(holder), &NicknameRequest::Release, now); }
                    _ => { reg.leave(holder, p.quarantine, now); }
                }
                for h in 0..6u64 {
                    if let Some(n) = reg.nickname_of(h) {
                        let owner = reg.lookup(ROOM, n, start + Duration::from_secs(t)).unwrap();
                        prop_assert!(owner.holders.contains(&h));
                        prop_assert_eq!(owner.aor.as_str(), aor_of(h));
                    }
                }
            }
        }
    }
}
