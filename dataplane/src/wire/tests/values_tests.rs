//! Typed header values: numbers, reports, Status, Content-Type, nickname, digest params.

use super::*;

#[test]
fn byte_range_write_parse() {
    for r in [
        ByteRange {
            start: 1,
            end: Some(0),
            total: Some(0),
        },
        ByteRange {
            start: 3001,
            end: None,
            total: Some(5000),
        },
        ByteRange {
            start: 7,
            end: None,
            total: None,
        },
    ] {
        let mut v = Vec::new();
        r.write(&mut v);
        assert_eq!(ByteRange::parse(&v).unwrap(), r);
    }
}

#[test]
fn status_header() {
    let s = Status::parse(b"000 413 Stop sending").unwrap();
    assert_eq!((s.namespace, s.code), (0, 413));
    assert_eq!(s.comment, Some(&b"Stop sending"[..]));
    assert_eq!(Status::parse(b"000 200").unwrap().comment, None);
    for bad in [
        &b"00 200"[..],
        b"000 20",
        b"000200",
        b"000 2000",
        b"abc 200",
    ] {
        assert_eq!(
            Status::parse(bad).unwrap_err().kind(),
            ErrorKind::StatusHeader
        );
    }
}

#[test]
fn expires_overflow() {
    assert_eq!(parse_expires(b"900"), Ok(900));
    assert_eq!(parse_expires(b"4294967295"), Ok(u32::MAX));
    assert_eq!(
        parse_expires(b"4294967296").unwrap_err().kind(),
        ErrorKind::NumberOverflow
    );
    assert_eq!(
        parse_expires(b"99999999999999999999999")
            .unwrap_err()
            .kind(),
        ErrorKind::NumberOverflow
    );
    assert_eq!(parse_expires(b"").unwrap_err().kind(), ErrorKind::Expires);
    assert_eq!(parse_expires(b"-1").unwrap_err().kind(), ErrorKind::Expires);
}

#[test]
fn content_type_params() {
    let ct = MediaType::parse(b"text/plain; charset=\"utf-8\";format=flowed").unwrap();
    assert!(ct.is("TEXT", "Plain"));
    assert_eq!(ct.param("CHARSET").as_deref(), Some(&b"utf-8"[..]));
    assert_eq!(ct.param("format").as_deref(), Some(&b"flowed"[..]));
    assert_eq!(ct.params().count(), 2);
    for bad in [
        &b"text"[..],
        b"/plain",
        b"text/",
        b"te xt/plain",
        b"text/plain;",
        b"text/plain;a=\"x",
    ] {
        assert!(
            MediaType::parse(bad).is_err(),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn nickname_values() {
    assert_eq!(parse_nickname(b"\"Alice\"").unwrap(), "Alice");
    assert_eq!(parse_nickname(b"\"\"").unwrap(), "");
    let n = parse_nickname(br#""a \"b\" \\ c""#).unwrap();
    assert_eq!(n, r#"a "b" \ c"#);
    assert!(matches!(n, std::borrow::Cow::Owned(_)));
    let max = format!("\"{}\"", "x".repeat(1023));
    assert_eq!(parse_nickname(max.as_bytes()).unwrap().len(), 1023);
    let over = format!("\"{}\"", "x".repeat(1024));
    for bad in [
        over.as_bytes(),
        b"Alice",
        b"\"Alice",
        b"\"a\"b\"",
        b"\"a\\x\"",
        b"\"\x01\"",
    ] {
        let e = parse_nickname(bad).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Nickname);
        assert_eq!(e.status_code(), 424);
    }
    // Writer escapes, parser unescapes.
    let mut q = Vec::new();
    write_quoted(br#"we"ird\"#, &mut q);
    assert_eq!(parse_nickname(&q).unwrap(), r#"we"ird\"#);
}

#[test]
fn digest_params_quoted_commas() {
    let d = DigestParams::parse_with_scheme(
        br#"Digest realm="a, b", qop="auth,auth-int",nonce="x\"y""#,
    )
    .unwrap();
    let names: Vec<_> = d.params().map(|p| p.unwrap().name).collect();
    assert_eq!(names, vec![&b"realm"[..], b"qop", b"nonce"]);
    assert_eq!(d.get("realm").as_deref(), Some(&b"a, b"[..]));
    assert_eq!(d.get("nonce").as_deref(), Some(&b"x\"y"[..]));
    assert!(DigestParams::parse_with_scheme(b"Digest").is_err());
    assert!(DigestParams::parse_with_scheme(b"Digest realm=\"x").is_err());
    assert!(DigestParams::parse_with_scheme(b"Digest =x").is_err());
    assert!(DigestParams::parse_list(b"").is_err());
}

#[test]
fn ident_rules_and_generation() {
    assert!(is_ident(b"abcd"));
    assert!(is_ident(b"a.-+%=bc"));
    assert!(!is_ident(b".abc"));
    assert!(!is_ident(&[b'a'; 33]));
    assert!(is_ident(&[b'a'; 32]));
    let mut n = 0u64;
    let mut rng = move || {
        n = n
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        n
    };
    let a = Ident::random(&mut rng);
    let b = Ident::random(&mut rng);
    assert_ne!(a, b);
    assert!(is_ident(a.as_bytes()));
    assert_eq!(a.as_bytes().len(), GENERATED_IDENT_LEN);
    // A body that contains the first candidate's marker forces another draw.
    let mut rng2 = {
        let mut n = 0u64;
        move || {
            n = n
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            n
        }
    };
    let first = Ident::random(&mut rng2.clone());
    let body = format!("xx-------{}$yy", first);
    assert!(body_contains_end_marker(body.as_bytes(), first.as_bytes()));
    let picked = Ident::random_for_body(&mut rng2, body.as_bytes()).unwrap();
    assert_ne!(picked, first);
    assert!(!body_contains_end_marker(
        body.as_bytes(),
        picked.as_bytes()
    ));
    assert!(!body_contains_end_marker(
        format!("-------{first}x").as_bytes(),
        first.as_bytes()
    ));
}

#[test]
fn header_names_case_insensitive_lookup() {
    for h in [
        HeaderName::ToPath,
        HeaderName::FromPath,
        HeaderName::MessageId,
        HeaderName::SuccessReport,
        HeaderName::FailureReport,
        HeaderName::ByteRange,
        HeaderName::Status,
        HeaderName::Expires,
        HeaderName::MinExpires,
        HeaderName::MaxExpires,
        HeaderName::UsePath,
        HeaderName::WwwAuthenticate,
        HeaderName::Authorization,
        HeaderName::AuthenticationInfo,
        HeaderName::UseNickname,
        HeaderName::ContentId,
        HeaderName::ContentDescription,
        HeaderName::ContentDisposition,
        HeaderName::ContentType,
    ] {
        let s = h.as_str();
        assert_eq!(HeaderName::from_bytes(s.as_bytes()), Some(h));
        assert_eq!(HeaderName::from_bytes(s.to_lowercase().as_bytes()), Some(h));
        assert_eq!(HeaderName::from_bytes(s.to_uppercase().as_bytes()), Some(h));
        let mut wrong = s.as_bytes().to_vec();
        *wrong.last_mut().unwrap() = b'#';
        assert_eq!(HeaderName::from_bytes(&wrong), None);
    }
    assert_eq!(HeaderName::from_bytes(b""), None);
    assert_eq!(HeaderName::from_bytes(b"X-Path"), None);
}
