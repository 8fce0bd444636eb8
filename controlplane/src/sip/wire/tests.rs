//! Unit and property tests of the wire module beyond the RFC 4475 corpus: the RFC 5626
//! Contact, byte-exact re-emission through edits, stream framing, and no-panic properties.

use bytes::Bytes;
use proptest::prelude::*;

use super::*;

const INSTANCE: &str = r#"+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>""#;

fn register() -> Bytes {
    Bytes::from(format!(
        "REGISTER sip:example.com SIP/2.0\r\n\
Via: SIP/2.0/TCP 10.0.0.5:50001;branch=z9hG4bK1;rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:alice@example.com>;tag=1\r\n\
To: <sip:alice@example.com>\r\n\
Call-ID: abc\r\n\
CSeq: 1 REGISTER\r\n\
Supported: path, outbound\r\n\
Contact: <sip:alice@10.0.0.5:50001;transport=tcp;ob>;{INSTANCE};reg-id=1, <sip:alice@10.0.0.6>;expires=0\r\n\
Content-Length: 0\r\n\r\n"
    ))
}

#[test]
fn outbound_contact_parameters() {
    let m = Message::parse(register(), Framing::Stream, &Limits::default()).unwrap();
    m.validate().unwrap();
    let contacts: Vec<_> = m
        .list(HeaderName::Contact)
        .map(|c| NameAddr::parse(c).unwrap())
        .collect();
    assert_eq!(contacts.len(), 2);
    let c = &contacts[0];
    assert_eq!(
        c.params.get("+sip.instance"),
        Some(Some(r#""<urn:uuid:00000000-0000-1000-8000-000A95A0E128>""#))
    );
    assert_eq!(
        c.params.get_unquoted("+sip.instance"),
        Some("<urn:uuid:00000000-0000-1000-8000-000A95A0E128>")
    );
    assert_eq!(c.params.get("reg-id"), Some(Some("1")));
    assert!(c.uri.params.has("ob"));
    assert_eq!(c.uri.transport(), Some("tcp"));
    // The element text is exactly what was sent, quotes and all.
    assert_eq!(
        c.raw,
        format!("<sip:alice@10.0.0.5:50001;transport=tcp;ob>;{INSTANCE};reg-id=1")
    );
    let rendered: Vec<&str> = c.params.iter().map(|p| p.raw).collect();
    assert_eq!(rendered, [INSTANCE, "reg-id=1"]);
    assert!(m.has_option(HeaderName::Supported, "outbound"));
    assert!(m.has_option(HeaderName::Supported, "PATH"));
}

#[test]
fn rewrite_keeps_untouched_headers_byte_exact() {
    let m = Message::parse(register(), Framing::Stream, &Limits::default()).unwrap();
    let edit = Edit {
        prepend: vec![
            (
                "Via",
                "SIP/2.0/TCP edge.example.com;branch=z9hG4bKedge".into(),
            ),
            ("Path", "<sip:tok@edge.example.com;lr;ob>".into()),
        ],
        decrement_max_forwards: true,
        ..Edit::default()
    };
    let out = rewrite(&m, &edit);
    let f = Message::parse(out.clone(), Framing::Stream, &Limits::default()).unwrap();
    f.validate().unwrap();
    assert_eq!(f.top_via().unwrap().host, "edge.example.com");
    assert_eq!(f.vias().count(), 2);
    assert_eq!(f.max_forwards(), Some(69));
    let orig_contact = m
        .headers()
        .iter()
        .find(|h| h.name == HeaderName::Contact)
        .unwrap();
    let new_contact = f
        .headers()
        .iter()
        .find(|h| h.name == HeaderName::Contact)
        .unwrap();
    assert_eq!(m.text(orig_contact.line), f.text(new_contact.line));
    // Popping our Via again restores the original Via header line.
    let back = rewrite(
        &f,
        &Edit {
            pop_via: true,
            remove: vec![HeaderName::Path],
            ..Edit::default()
        },
    );
    let b = Message::parse(back, Framing::Stream, &Limits::default()).unwrap();
    assert_eq!(b.top_via().unwrap().raw, m.top_via().unwrap().raw);
}

#[test]
fn response_to_copies_dialog_headers_and_fills_received() {
    let m = Message::parse(register(), Framing::Stream, &Limits::default()).unwrap();
    let src: std::net::SocketAddr = "192.0.2.7:40000".parse().unwrap();
    let mut b = response_to(&m, 200, None, Some("srv"), Some(src));
    b.header("Require", "outbound");
    let r = Message::parse(b.finish(None, b""), Framing::Stream, &Limits::default()).unwrap();
    r.validate().unwrap();
    assert_eq!(r.status(), Some(200));
    assert_eq!(r.reason(), "OK");
    let via = r.top_via().unwrap();
    assert_eq!(via.params.get("received"), Some(Some("192.0.2.7")));
    assert_eq!(via.params.get("rport"), Some(Some("40000")));
    assert_eq!(via.branch(), Some("z9hG4bK1"));
    assert_eq!(r.to_hdr().unwrap().tag(), Some("srv"));
    assert_eq!(r.from_hdr().unwrap().tag(), Some("1"));
    assert_eq!(r.call_id(), Some("abc"));
    assert_eq!(r.cseq().unwrap().seq, 1);
}

#[test]
fn framer_splits_messages_pings_and_pongs() {
    let mut f = StreamFramer::new(Limits::default());
    let reg = register();
    let mut data = b"\r\n\r\n".to_vec();
    data.extend_from_slice(&reg);
    data.extend_from_slice(b"\r\n\r\n");
    data.extend_from_slice(&reg);
    data.extend_from_slice(b"\r\nREG");
    // Feed byte by byte: frames come out only once complete.
    let mut frames = Vec::new();
    for b in data {
        f.push(&[b]);
        while let Some(fr) = f.next_frame().unwrap() {
            frames.push(fr);
        }
    }
    assert_eq!(
        frames,
        vec![
            Frame::Ping,
            Frame::Message(reg.clone()),
            Frame::Ping,
            Frame::Message(reg.clone()),
            Frame::Pong
        ]
    );
    assert_eq!(f.pending(), 3);
}

#[test]
fn framer_enforces_limits() {
    let mut f = StreamFramer::new(Limits {
        max_message: 100,
        max_headers: 10,
    });
    f.push(&[b'a'; 101]);
    assert_eq!(f.next_frame(), Err(ParseError::TooLarge));
    let mut f = StreamFramer::new(Limits {
        max_message: 200,
        max_headers: 10,
    });
    f.push(b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 4294967295\r\n\r\n");
    assert_eq!(f.next_frame(), Err(ParseError::TooLarge));
    let mut f = StreamFramer::new(Limits::default());
    f.push(b"MESSAGE sip:a@b SIP/2.0\r\nVia: x\r\n\r\n");
    assert_eq!(
        f.next_frame(),
        Err(ParseError::MissingHeader("Content-Length"))
    );
}

#[test]
fn header_count_limit() {
    let mut s = String::from("OPTIONS sip:a@b SIP/2.0\r\n");
    for i in 0..20 {
        s += &format!("X-{i}: y\r\n");
    }
    s += "\r\n";
    let e = Message::parse(
        Bytes::from(s),
        Framing::Datagram,
        &Limits {
            max_message: 65535,
            max_headers: 10,
        },
    )
    .unwrap_err();
    assert_eq!(e, ParseError::TooManyHeaders);
}

#[test]
fn ipv6_hosts() {
    let u = Uri::parse("sip:alice@[2001:db8::1]:5070;transport=tcp").unwrap();
    assert_eq!(u.host, "[2001:db8::1]");
    assert_eq!(u.port, Some(5070));
    let v = Via::parse("SIP/2.0/UDP [2001:db8::9]:5060;branch=z9hG4bKx;received=[2001:db8::2]")
        .unwrap();
    assert_eq!(v.host, "[2001:db8::9]");
    assert_eq!(v.params.get("received"), Some(Some("[2001:db8::2]")));
}

fn arb_message() -> impl Strategy<Value = Vec<u8>> {
    let base = register().to_vec();
    (
        proptest::collection::vec(any::<u8>(), 0..64),
        0..base.len(),
        0usize..4,
    )
        .prop_map(move |(noise, at, mode)| {
            let mut m = base.clone();
            match mode {
                0 => m.splice(at..at, noise),
                1 => m.splice(at..(at + noise.len()).min(m.len()), noise),
                2 => {
                    m.truncate(at);
                    m.splice(at.., noise)
                }
                _ => m.splice(0..0, noise),
            };
            m
        })
}

proptest! {
    #[test]
    fn parse_never_panics(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        let b = Bytes::from(data);
        if let Ok(m) = Message::parse(b.clone(), Framing::Datagram, &Limits::default()) {
            let _ = m.validate();
            let _ = m.list(HeaderName::Contact).map(NameAddr::parse).count();
        }
        let mut f = StreamFramer::new(Limits::default());
        f.push(&b);
        for _ in 0..64 {
            match f.next_frame() { Ok(Some(_)) => {}, _ => break }
        }
    }

    #[test]
    fn mutated_register_never_panics_and_roundtrips(data in arb_message()) {
        let b = Bytes::from(data);
        if let Ok(m) = Message::parse(b.clone(), Framing::Datagram, &Limits::default()) {
            if m.validate().is_ok() {
                // Re-emission of an unmodified message is byte-exact, and an edit that
                // changes nothing reproduces an equivalent message.
                prop_assert!(b.starts_with(m.as_bytes()));
                let out = rewrite(&m, &Edit::default());
                let again = Message::parse(out, Framing::Datagram, &Limits::default()).unwrap();
                prop_assert_eq!(again.headers().len(), m.headers().len());
                prop_assert_eq!(again.body(), m.body());
            }
        }
    }

    #[test]
    fn contact_params_roundtrip(
        user in "[a-z]{1,8}",
        reg_id in 1u32..100000,
        uuid in "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        extra in proptest::collection::vec(("[a-z][a-z0-9-]{0,6}", proptest::option::of("[a-z0-9.]{1,6}")), 0..4),
    ) {
        let mut c = format!("<sip:{user}@192.0.2.1;ob>;+sip.instance=\"<urn:uuid:{uuid}>\";reg-id={reg_id}");
        for (n, v) in &extra {
            c.push(';');
            c.push_str(n);
            if let Some(v) = v { c.push('='); c.push_str(v); }
        }
        let na = NameAddr::parse(&c).unwrap();
        let inst = format!("<urn:uuid:{uuid}>");
        prop_assert_eq!(na.params.get_unquoted("+sip.instance"), Some(inst.as_str()));
        let rid = reg_id.to_string();
        prop_assert_eq!(na.params.get("reg-id"), Some(Some(rid.as_str())));
        let rebuilt: String = std::iter::once(na.addr_raw.to_string())
            .chain(na.params.iter().map(|p| format!(";{}", p.raw)))
            .collect();
        prop_assert_eq!(rebuilt, c);
    }
}
