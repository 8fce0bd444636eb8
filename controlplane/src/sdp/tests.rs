//! Parser/serializer tests: RFC examples, error cases, byte-exact re-emission, property tests.

use super::*;

/// RFC 7701 §9.1 F1 (offer from Alice), as printed: no `t=` line.
pub(crate) const RFC7701_OFFER: &str = "v=0\r\n\
o=alice 2890844526 2890844526 IN IP4 client.atlanta.example.com\r\n\
s=-\r\n\
c=IN IP4 client.atlanta.example.com\r\n\
m=message 7654 TCP/MSRP *\r\n\
a=accept-types:message/cpim text/plain text/html\r\n\
a=path:msrp://client.atlanta.example.com:7654/jshA7weztas;tcp\r\n\
a=chatroom:nickname private-messages\r\n";

/// RFC 7701 §9.1 F2 (answer from the focus).
pub(crate) const RFC7701_ANSWER: &str = "v=0\r\n\
o=chat 2890844527 2890844527 IN IP4 chat.example.com\r\n\
s=-\r\n\
c=IN IP4 chat.example.com\r\n\
m=message 12763 TCP/MSRP *\r\n\
a=accept-types:message/cpim\r\n\
a=accept-wrapped-types:text/plain text/html *\r\n\
a=path:msrp://chat.example.com:12763/kjhd37s2s20w2a;tcp\r\n\
a=chatroom:nickname private-messages\r\n";

/// An RFC 4975 §8-style offer with relays, TLS, timing and session attributes.
const RICH: &str = "v=0\r\n\
o=- 3724394400 3724394405 IN IP6 2001:db8::10\r\n\
s= \r\n\
i=A chat\r\n\
u=http://example.com/x\r\n\
e=alice@example.com\r\n\
p=+1 555 0100\r\n\
c=IN IP6 2001:db8::10\r\n\
b=AS:64\r\n\
t=0 0\r\n\
r=7d 1h 0 25h\r\n\
t=3724394400 3724398000\r\n\
z=2882844526 -1h\r\n\
k=prompt\r\n\
a=sendrecv\r\n\
m=message 2855 TCP/TLS/MSRP *\r\n\
i=chat\r\n\
c=IN IP6 2001:db8::10\r\n\
b=TIAS:64000\r\n\
a=accept-types:message/cpim text/plain;charset=\"utf 8\"\r\n\
a=accept-wrapped-types:*\r\n\
a=path:msrps://relay.example.net:2855;tcp msrps://[2001:db8::10]:2855/a1b2;tcp\r\n\
a=max-size:65536\r\n\
a=setup:actpass\r\n\
a=msrp-cema\r\n\
a=fingerprint:sha-256 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB\r\n\
a=recvonly\r\n\
m=audio 0 RTP/AVP 0\r\n";

#[test]
fn rfc_7701_examples_parse_and_reemit_byte_exact() {
    for text in [RFC7701_OFFER, RFC7701_ANSWER, RICH] {
        let sdp = parse(text.as_bytes()).unwrap();
        assert_eq!(sdp.to_string(), text);
        let lf = text.replace("\r\n", "\n");
        let sdp_lf = parse(lf.as_bytes()).unwrap();
        assert_eq!(sdp_lf.line_ending, LineEnding::Lf);
        assert_eq!(sdp_lf.to_string(), lf);
        assert_eq!(sdp_lf.media, sdp.media);
    }
}

#[test]
fn typed_view_of_rfc_7701_offer() {
    let sdp = parse(RFC7701_OFFER.as_bytes()).unwrap();
    assert!(sdp.times.is_empty());
    let m = sdp.msrp_media(0).unwrap();
    assert_eq!(m.proto(), Some(MsrpProto::Tcp));
    assert_eq!(m.port(), 7654);
    let path = m.path().unwrap().unwrap();
    assert_eq!(path.len(), 1);
    assert_eq!(path[0].session_id.as_deref(), Some("jshA7weztas"));
    let at = m.accept_types().unwrap().unwrap();
    assert!(at.lists("message", "cpim"));
    assert_eq!(m.accept_wrapped_types().unwrap(), None);
    assert_eq!(m.setup().unwrap(), None);
    assert!(!m.cema());
    let caps = m.chatroom().unwrap().unwrap();
    assert!(caps.nicknames && caps.private_messages);
    assert_eq!(
        m.connection_host(),
        Some(Host::Name("client.atlanta.example.com".into()))
    );
    assert_eq!(m.direction(), Direction::SendRecv);
}

#[test]
fn typed_view_of_rich_offer() {
    let sdp = parse(RICH.as_bytes()).unwrap();
    assert_eq!(sdp.times.len(), 2);
    assert_eq!(sdp.times[0].repeats, vec!["7d 1h 0 25h".to_string()]);
    let m = sdp.msrp_media(0).unwrap();
    assert_eq!(m.proto(), Some(MsrpProto::Tls));
    assert_eq!(m.path().unwrap().unwrap().len(), 2);
    assert_eq!(m.max_size().unwrap(), Some(65536));
    assert_eq!(m.setup().unwrap(), Some(SetupRole::ActPass));
    assert!(m.cema());
    assert_eq!(m.fingerprints().unwrap()[0].digest.len(), 20);
    assert_eq!(m.direction(), Direction::RecvOnly);
    assert!(m.accept_wrapped_types().unwrap().unwrap().has_any());
    let audio = sdp.msrp_media(1).unwrap();
    assert_eq!(audio.proto(), None);
    assert_eq!(
        audio.direction(),
        Direction::SendRecv,
        "session-level sendrecv"
    );
}

#[test]
fn edited_line_is_reemitted_canonically_and_others_stay_verbatim() {
    let text = "v=0\r\no=x  1 2 IN IP4 h\r\ns=-\r\nc=IN  IP4 10.0.0.1\r\nt=0 0\r\nm=message 9  TCP/MSRP *\r\na=path:msrp://10.0.0.1:9/s;tcp\r\n";
    let mut sdp = parse(text.as_bytes()).unwrap();
    assert_eq!(
        sdp.to_string(),
        text,
        "unchanged: verbatim, odd spacing included"
    );
    sdp.media[0].line.port = 10;
    sdp.origin = sdp.origin.bumped();
    let out = sdp.to_string();
    assert!(out.contains("m=message 10 TCP/MSRP *\r\n"));
    assert!(out.contains("o=x 1 3 IN IP4 h\r\n"));
    assert!(
        out.contains("c=IN  IP4 10.0.0.1\r\n"),
        "untouched line kept verbatim"
    );
}

#[test]
fn origin_version_bump_carries() {
    let o = Origin {
        username: "-".into(),
        session_id: "1".into(),
        session_version: "1999".into(),
        net_type: "IN".into(),
        addr_type: "IP4".into(),
        address: "h".into(),
    };
    assert_eq!(o.bumped().session_version, "2000");
    let big = Origin {
        session_version: "99999999999999999999999".into(),
        ..o
    };
    assert_eq!(big.bumped().session_version, "100000000000000000000000");
}

#[test]
fn empty_session_name_is_tolerated() {
    let text = "v=0\r\no=- 1 1 IN IP4 h\r\ns=\r\nt=0 0\r\n";
    let sdp = parse(text.as_bytes()).unwrap();
    assert_eq!(sdp.session_name, "");
    assert_eq!(sdp.to_string(), text);
}

#[test]
fn trailing_blank_lines_and_missing_final_newline() {
    let sdp = parse(b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\n\r\n\r\n").unwrap();
    assert_eq!(
        sdp.to_string(),
        "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\n"
    );
    let sdp = parse(b"v=0\no=- 1 1 IN IP4 h\ns=-\nt=0 0").unwrap();
    assert_eq!(sdp.to_string(), "v=0\no=- 1 1 IN IP4 h\ns=-\nt=0 0");
}

#[test]
fn errors_are_typed() {
    let base = "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\n";
    let cases: Vec<(String, SdpError)> = vec![
        (String::new(), SdpError::Empty),
        ("\r\n\r\n".into(), SdpError::Empty),
        (
            "o=- 1 1 IN IP4 h\r\n".into(),
            SdpError::Missing { kind: 'v' },
        ),
        ("v=0\r\ns=-\r\n".into(), SdpError::Missing { kind: 'o' }),
        (
            "v=0\r\no=- 1 1 IN IP4 h\r\nt=0 0\r\n".into(),
            SdpError::Missing { kind: 's' },
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 h\r\n".into(),
            SdpError::Missing { kind: 's' },
        ),
        (
            "v=1\r\n".into(),
            SdpError::InvalidValue {
                line: 1,
                kind: 'v',
                reason: "version must be 0",
            },
        ),
        (
            "v=0\r\nv=0\r\n".into(),
            SdpError::Duplicate { line: 2, kind: 'v' },
        ),
        (
            format!("{base}x=1\r\n"),
            SdpError::UnknownType { line: 4, kind: 'x' },
        ),
        (
            format!("{base}V=1\r\n"),
            SdpError::MalformedLine { line: 4 },
        ),
        (format!("{base}a\r\n"), SdpError::MalformedLine { line: 4 }),
        (
            format!("{base}a =b\r\n"),
            SdpError::MalformedLine { line: 4 },
        ),
        (
            format!("{base}a=b\rc\r\n"),
            SdpError::MalformedLine { line: 4 },
        ),
        (
            format!("{base}\r\nt=0 0\r\n"),
            SdpError::BlankLine { line: 4 },
        ),
        (
            format!("{base}a=x\r\nc=IN IP4 h\r\n"),
            SdpError::OutOfOrder { line: 5, kind: 'c' },
        ),
        (
            format!("{base}c=IN IP4 h\r\nc=IN IP4 h\r\n"),
            SdpError::Duplicate { line: 5, kind: 'c' },
        ),
        (
            format!("{base}r=1 1 1\r\n"),
            SdpError::OutOfOrder { line: 4, kind: 'r' },
        ),
        (
            format!("{base}m=message 1 TCP/MSRP *\r\nb=AS:1\r\ni=x\r\n"),
            SdpError::OutOfOrder { line: 6, kind: 'i' },
        ),
        (
            format!("{base}m=message 1 TCP/MSRP *\r\nt=0 0\r\n"),
            SdpError::OutOfOrder { line: 5, kind: 't' },
        ),
        (
            format!("{base}m=message 1 TCP/MSRP *\r\ni=a\r\ni=b\r\n"),
            SdpError::Duplicate { line: 6, kind: 'i' },
        ),
        (
            format!("{base}m=message 70000 TCP/MSRP *\r\n"),
            SdpError::InvalidValue {
                line: 4,
                kind: 'm',
                reason: "port out of range",
            },
        ),
        (
            format!("{base}m=message 1 TCP/MSRP\r\n"),
            SdpError::InvalidValue {
                line: 4,
                kind: 'm',
                reason: "no media format",
            },
        ),
        (
            format!("{base}c=IN IP4\r\n"),
            SdpError::InvalidValue {
                line: 4,
                kind: 'c',
                reason: "expected 3 fields",
            },
        ),
        (
            format!("{base}b=AS\r\n"),
            SdpError::InvalidValue {
                line: 4,
                kind: 'b',
                reason: "expected <type>:<value>",
            },
        ),
        (
            format!("{base}t=a 0\r\n"),
            SdpError::InvalidValue {
                line: 4,
                kind: 't',
                reason: "times must be digits",
            },
        ),
        (
            format!("{base}a=:x\r\n"),
            SdpError::InvalidValue {
                line: 4,
                kind: 'a',
                reason: "bad attribute name",
            },
        ),
        (
            "v=0\r\no=- x 1 IN IP4 h\r\n".into(),
            SdpError::InvalidValue {
                line: 2,
                kind: 'o',
                reason: "session id and version must be digits",
            },
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(
            parse(input.as_bytes()).unwrap_err(),
            expected,
            "input {input:?}"
        );
    }
    assert_eq!(
        parse(&[b'v', b'=', 0xff]).unwrap_err(),
        SdpError::InvalidUtf8 { line: 1 }
    );
}

#[test]
fn limits_are_enforced() {
    let limits = ParseLimits {
        max_bytes: 100,
        max_lines: 5,
        max_media: 1,
    };
    let big = "v=0\r\n".repeat(30);
    assert_eq!(
        parse_with_limits(big.as_bytes(), &limits).unwrap_err(),
        SdpError::TooLarge { limit: 100 }
    );
    let many = "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\na=a\r\na=b\r\na=c\r\n";
    assert_eq!(
        parse_with_limits(many.as_bytes(), &limits).unwrap_err(),
        SdpError::TooManyLines { limit: 5 }
    );
    let media = "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nm=a 1 x *\r\nm=b 1 x *\r\n";
    assert_eq!(
        parse_with_limits(media.as_bytes(), &limits).unwrap_err(),
        SdpError::TooManyMedia { limit: 1 }
    );
}

#[test]
fn duplicate_msrp_attributes_are_attribute_errors() {
    let text = "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nm=message 1 TCP/MSRP *\r\na=path:msrp://h:1/a;tcp\r\na=path:msrp://h:1/b;tcp\r\na=max-size:x\r\na=setup:sideways\r\n";
    let sdp = parse(text.as_bytes()).unwrap();
    let m = sdp.msrp_media(0).unwrap();
    assert_eq!(m.path().unwrap_err().attribute, "path");
    assert_eq!(m.max_size().unwrap_err().attribute, "max-size");
    assert_eq!(m.setup().unwrap_err().attribute, "setup");
}

#[test]
fn setup_holdconn_and_session_level_fallback() {
    let text = "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\na=setup:active\r\nm=message 1 TCP/MSRP *\r\nm=message 2 TCP/MSRP *\r\na=setup:holdconn\r\n";
    let sdp = parse(text.as_bytes()).unwrap();
    assert_eq!(
        sdp.msrp_media(0).unwrap().setup().unwrap(),
        Some(SetupRole::Active)
    );
    assert_eq!(sdp.msrp_media(1).unwrap().setup().unwrap(), None);
}

#[test]
fn set_attribute_replaces_all_occurrences() {
    let mut m = MediaDescription::new(MediaLine {
        media: "message".into(),
        port: 1,
        port_count: None,
        proto: "TCP/MSRP".into(),
        formats: vec!["*".into()],
    });
    m.attributes.push(Attribute::value("setup", "active"));
    m.attributes.push(Attribute::property("x"));
    m.attributes.push(Attribute::value("SETUP", "passive"));
    m.set_attribute(SetupRole::ActPass.to_attribute());
    assert_eq!(
        m.attributes,
        vec![
            Attribute::value("setup", "actpass"),
            Attribute::property("x")
        ]
    );
    m.remove_attribute("x");
    assert_eq!(m.attributes.len(), 1);
}

#[test]
fn serializer_cannot_be_made_to_forge_lines() {
    let mut sdp = SessionDescription::new(Origin {
        username: "-".into(),
        session_id: "1".into(),
        session_version: "1".into(),
        net_type: "IN".into(),
        addr_type: "IP4".into(),
        address: "h".into(),
    });
    sdp.attributes
        .push(Attribute::value("x", "a\r\nm=audio 1 RTP/AVP 0"));
    let out = sdp.to_string();
    let reparsed = parse(out.as_bytes()).unwrap();
    assert!(reparsed.media.is_empty());
    assert_eq!(
        reparsed.attributes[0].value.as_deref(),
        Some("am=audio 1 RTP/AVP 0")
    );
}

mod props {
    use super::*;
    use proptest::prelude::*;

    fn token() -> impl Strategy<Value = String> {
        "[A-Za-z0-9][A-Za-z0-9.!#$%&'*+^_`{|}~-]{0,8}"
    }

    fn text() -> impl Strategy<Value = String> {
        // byte-string: anything but NUL/CR/LF; keep it printable and non-empty.
        "[!-~][ -~]{0,20}"
    }

    fn attribute() -> impl Strategy<Value = Attribute> {
        (token(), proptest::option::of("[ -~]{0,20}"))
            .prop_map(|(name, value)| Attribute { name, value })
    }

    fn connection() -> impl Strategy<Value = Connection> {
        (prop_oneof!["IP4", "IP6"], "[a-z0-9.:]{1,15}").prop_map(|(t, a)| Connection {
            net_type: "IN".into(),
            addr_type: t,
            address: a,
        })
    }

    fn bandwidth() -> impl Strategy<Value = Bandwidth> {
        (prop_oneof!["AS", "CT", "TIAS"], any::<u64>()).prop_map(|(t, v)| Bandwidth {
            bw_type: t,
            value: v,
        })
    }

    fn media() -> impl Strategy<Value = MediaDescription> {
        (
            token(),
            any::<u16>(),
            proptest::option::of(1u32..8),
            prop_oneof!["TCP/MSRP", "TCP/TLS/MSRP", "RTP/AVP"],
            proptest::collection::vec(token(), 1..3),
            proptest::option::of(text()),
            proptest::collection::vec(connection(), 0..2),
            proptest::collection::vec(bandwidth(), 0..2),
            proptest::collection::vec(attribute(), 0..5),
        )
            .prop_map(
                |(m, port, count, proto, formats, info, conns, bws, attrs)| {
                    let mut d = MediaDescription::new(MediaLine {
                        media: m,
                        port,
                        port_count: count,
                        proto,
                        formats,
                    });
                    d.information = info;
                    d.connections = conns;
                    d.bandwidths = bws;
                    d.attributes = attrs;
                    d
                },
            )
    }

    prop_compose! {
        fn description()(
            user in token(),
            sid in "[0-9]{1,20}",
            ver in "[0-9]{1,20}",
            name in text(),
            info in proptest::option::of(text()),
            conn in proptest::option::of(connection()),
            bws in proptest::collection::vec(bandwidth(), 0..2),
            times in proptest::collection::vec((any::<u64>(), any::<u64>()), 0..3),
            attrs in proptest::collection::vec(attribute(), 0..4),
            media in proptest::collection::vec(media(), 0..4),
            lf in any::<bool>(),
        ) -> SessionDescription {
            let mut s = SessionDescription::new(Origin {
                username: user,
                session_id: sid,
                session_version: ver,
                net_type: "IN".into(),
                addr_type: "IP4".into(),
                address: "host.example".into(),
            });
            s.session_name = name;
            s.information = info;
            s.connection = conn;
            s.bandwidths = bws;
            s.times = times.into_iter().map(|(a, b)| TimeDescription::new(a, b)).collect();
            s.attributes = attrs;
            s.media = media;
            s.line_ending = if lf { LineEnding::Lf } else { LineEnding::CrLf };
            s
        }
    }

    proptest! {
        #[test]
        fn serialize_then_parse_is_identity(sdp in description()) {
            let text = sdp.to_string();
            let back = parse(text.as_bytes()).unwrap();
            prop_assert_eq!(&back, &sdp);
            prop_assert_eq!(back.to_string(), text);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(sdp) = parse(&bytes) {
                // Whatever parses re-serializes to something that parses to the same value.
                let again = parse(sdp.to_string().as_bytes()).unwrap();
                prop_assert_eq!(again, sdp);
            }
        }

        #[test]
        fn line_soup_never_panics(lines in proptest::collection::vec("[vosiuepcbtrzkam]=[ -~]{0,30}", 0..20)) {
            let text = lines.join("\r\n");
            if let Ok(sdp) = parse(text.as_bytes()) {
                for i in 0..sdp.media.len() {
                    let m = sdp.msrp_media(i).unwrap();
                    let _ = (m.path(), m.accept_types(), m.accept_wrapped_types(), m.max_size(),
                             m.setup(), m.chatroom(), m.fingerprints(), m.connection_host());
                }
                let again = parse(sdp.to_string().as_bytes()).unwrap();
                prop_assert_eq!(again, sdp);
            }
        }

        #[test]
        fn format_lists_roundtrip(entries in proptest::collection::vec(
            prop_oneof![
                Just("*".to_string()),
                ("[a-z]{1,8}", proptest::option::of("[a-z0-9.+-]{1,8}"), proptest::option::of(("[a-z]{1,5}", "[a-z0-9]{1,5}")))
                    .prop_map(|(t, s, p)| {
                        let mut e = format!("{t}/{}", s.unwrap_or_else(|| "*".into()));
                        if let Some((n, v)) = p { e.push_str(&format!(";{n}={v}")); }
                        e
                    }),
            ], 1..6)) {
            let text = entries.join(" ");
            let l = FormatList::parse(&text, "accept-types").unwrap();
            prop_assert_eq!(l.to_string(), text);
            prop_assert_eq!(l.0.len(), entries.len());
        }

        #[test]
        fn msrp_uri_roundtrip(
            tls in any::<bool>(),
            host in prop_oneof![
                "[a-z][a-z0-9-]{0,10}(\\.[a-z]{2,5}){0,2}",
                any::<[u8; 4]>().prop_map(|o| std::net::Ipv4Addr::from(o).to_string()),
                any::<[u16; 8]>().prop_map(|s| format!("[{}]", std::net::Ipv6Addr::from(s))),
            ],
            port in proptest::option::of(any::<u16>()),
            sid in proptest::option::of("[A-Za-z0-9+=/._~-]{1,20}"),
        ) {
            let mut s = format!("{}://{host}", if tls { "msrps" } else { "msrp" });
            if let Some(p) = port { s.push_str(&format!(":{p}")); }
            if let Some(sid) = &sid { s.push('/'); s.push_str(sid); }
            s.push_str(";tcp");
            let u: MsrpUri = s.parse().unwrap();
            prop_assert_eq!(u.to_string(), s.clone());
            prop_assert_eq!(u.port, port);
            prop_assert_eq!(&u.session_id, &sid);
            let shouted: MsrpUri = s.replacen("msrp", "MSRP", 1).replace(";tcp", ";TCP").parse().unwrap();
            prop_assert!(u.equivalent(&shouted));
        }
    }
}
