//! Property tests: frames written by the writer parse back to what was written, in any split
//! of the byte stream; URI round trip and comparison; CPIM round trip.

use super::*;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Kind {
    Request {
        method: String,
        body: Option<(String, Vec<u8>)>,
        flag: Continuation,
    },
    Response {
        code: u16,
        comment: Option<String>,
    },
}

#[derive(Debug, Clone)]
struct Model {
    tid: String,
    kind: Kind,
    to: Vec<String>,
    from: Vec<String>,
    message_id: Option<String>,
    byte_range: Option<ByteRange>,
    success: Option<SuccessReport>,
    failure: Option<FailureReport>,
    ext: Vec<(String, String)>,
}

fn ident() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9.+%=-]{3,31}"
}

fn uri() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just("msrp"), Just("msrps"), Just("MSRP")],
        prop::option::of("[a-z]{1,6}"),
        prop_oneof![
            Just("a.example.com".to_string()),
            Just("10.0.0.1".to_string()),
            Just("[2001:db8::1]".to_string()),
            "[A-Za-z0-9-]{1,10}(\\.[A-Za-z0-9-]{1,8}){0,2}",
        ],
        prop::option::of(any::<u16>()),
        prop::option::of("[A-Za-z0-9+=/_~.-]{1,16}"),
        prop_oneof![Just("tcp"), Just("ws"), Just("TCP")],
        prop::option::of("[a-z]{1,5}(=[a-z0-9]{1,4})?"),
    )
        .prop_map(|(s, ui, h, p, sid, t, param)| {
            let mut u = format!("{s}://");
            if let Some(ui) = ui {
                u += &format!("{ui}@");
            }
            u += &h;
            if let Some(p) = p {
                u += &format!(":{p}");
            }
            if let Some(sid) = sid {
                u += &format!("/{sid}");
            }
            u += &format!(";{t}");
            if let Some(param) = param {
                u += &format!(";{param}");
            }
            u
        })
}

fn flag() -> impl Strategy<Value = Continuation> {
    prop_oneof![
        Just(Continuation::Complete),
        Just(Continuation::More),
        Just(Continuation::Abort)
    ]
}

/// Bodies that mix random bytes with pieces of end-lines (own tid prefixes, other tids).
fn body(tid: String) -> impl Strategy<Value = Vec<u8>> {
    let short = tid[..tid.len() - 1].to_string();
    let seg = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..40),
        Just(b"\r\n".to_vec()),
        Just(b"\r\n-------".to_vec()),
        Just(b"-------".to_vec()),
        Just(format!("\r\n-------{tid}").into_bytes()),
        Just(format!("\r\n-------{short}$\r\n").into_bytes()),
        Just(format!("\r\n-------{tid}x\r\n").into_bytes()),
        Just(format!("-------{tid}$").into_bytes()),
        Just(b"\r\n-------other999$\r\n".to_vec()),
        Just(b"\r".to_vec()),
    ];
    prop::collection::vec(seg, 0..8).prop_map(|v| v.concat())
}

/// Whether the parser would end the body early: `CRLF -------<tid><flag> CRLF` inside
/// `body CRLF`.
fn terminates(body: &[u8], tid: &str) -> bool {
    let mut hay = body.to_vec();
    hay.extend_from_slice(b"\r\n");
    [b'$', b'+', b'#'].iter().any(|f| {
        let mut n = format!("\r\n-------{tid}").into_bytes();
        n.push(*f);
        n.extend_from_slice(b"\r\n");
        hay.windows(n.len()).any(|w| w == &n[..])
    })
}

fn byte_range() -> impl Strategy<Value = ByteRange> {
    (
        1u64..,
        prop::option::of(any::<u64>()),
        prop::option::of(any::<u64>()),
    )
        .prop_map(|(start, end, total)| ByteRange { start, end, total })
}

fn model() -> impl Strategy<Value = Model> {
    ident().prop_flat_map(|tid| {
        let kind = prop_oneof![
            3 => (
                prop_oneof![
                    Just("SEND".to_string()),
                    Just("REPORT".to_string()),
                    Just("AUTH".to_string()),
                    Just("NICKNAME".to_string()),
                    "[A-Z]{1,10}"
                ],
                prop::option::of((
                    prop_oneof![Just("text/plain".to_string()), Just("message/cpim".to_string())],
                    body(tid.clone())
                )),
                flag()
            )
                .prop_map(|(method, body, flag)| Kind::Request { method, body, flag }),
            1 => (100u16..1000, prop::option::of("[ -~]{0,20}"))
                .prop_map(|(code, comment)| Kind::Response { code, comment }),
        ];
        (
            Just(tid),
            kind,
            prop::collection::vec(uri(), 1..4),
            prop::collection::vec(uri(), 1..4),
            prop::option::of(ident()),
            prop::option::of(byte_range()),
            prop::option::of(prop_oneof![
                Just(SuccessReport::Yes),
                Just(SuccessReport::No)
            ]),
            prop::option::of(prop_oneof![
                Just(FailureReport::Yes),
                Just(FailureReport::No),
                Just(FailureReport::Partial)
            ]),
            prop::collection::vec(("X-[A-Za-z0-9-]{1,10}", "[ -~]{0,20}"), 0..3),
        )
            .prop_map(
                |(tid, kind, to, from, message_id, byte_range, success, failure, ext)| Model {
                    tid,
                    kind,
                    to,
                    from,
                    message_id,
                    byte_range,
                    success,
                    failure,
                    ext,
                },
            )
    })
}

fn write(m: &Model, buf: &mut BytesMut) {
    let tid = Ident::new(m.tid.as_bytes()).unwrap();
    match &m.kind {
        Kind::Request { method, body, flag } => {
            let mut w = RequestWriter::new(buf, tid, method, &m.to, &m.from);
            if let Some(id) = &m.message_id {
                w = w.message_id(id.as_bytes());
            }
            if let Some(r) = m.byte_range {
                w = w.byte_range(r);
            }
            if let Some(s) = m.success {
                w = w.success_report(s);
            }
            if let Some(f) = m.failure {
                w = w.failure_report(f);
            }
            for (n, v) in &m.ext {
                w = w.header(n, v.as_bytes());
            }
            match body {
                Some((ct, b)) => {
                    w.content_type(ct.as_bytes()).body(b, *flag);
                }
                None => {
                    w.end(*flag);
                }
            }
        }
        Kind::Response { code, comment } => {
            let mut w =
                ResponseWriter::with_paths(buf, tid, *code, comment.as_deref(), &m.to, &m.from);
            if let Some(id) = &m.message_id {
                w = w.header("Message-ID", id.as_bytes());
            }
            for (n, v) in &m.ext {
                w = w.header(n, v.as_bytes());
            }
            w.end();
        }
    }
}

fn check(m: &Model, g: &Got) -> Result<(), TestCaseError> {
    let h = &g.head;
    prop_assert_eq!(h.transaction_id(), m.tid.as_bytes());
    let (to, from) = (m.to.join(" "), m.from.join(" "));
    prop_assert_eq!(h.to_path_raw(), to.as_bytes());
    prop_assert_eq!(h.from_path_raw(), from.as_bytes());
    prop_assert_eq!(h.to_path().count(), m.to.len());
    prop_assert_eq!(h.message_id(), m.message_id.as_deref().map(str::as_bytes));
    let ext: Vec<(Vec<u8>, Vec<u8>)> = h
        .extension_headers()
        .map(|(n, v)| (n.to_vec(), v.to_vec()))
        .collect();
    let want: Vec<(Vec<u8>, Vec<u8>)> = m
        .ext
        .iter()
        .map(|(n, v)| (n.clone().into_bytes(), v.clone().into_bytes()))
        .collect();
    prop_assert_eq!(ext, want);
    match &m.kind {
        Kind::Request { method, body, flag } => {
            prop_assert_eq!(h.method_name(), Some(method.as_bytes()));
            prop_assert_eq!(h.byte_range(), m.byte_range);
            prop_assert_eq!(h.success_report_header(), m.success);
            prop_assert_eq!(h.failure_report_header(), m.failure);
            prop_assert_eq!(g.flag, *flag);
            match body {
                Some((ct, b)) => {
                    prop_assert!(h.has_body());
                    prop_assert_eq!(h.raw(HeaderName::ContentType), Some(ct.as_bytes()));
                    prop_assert_eq!(&g.body, b);
                }
                None => {
                    prop_assert!(!h.has_body());
                    prop_assert!(g.body.is_empty());
                }
            }
        }
        Kind::Response { code, comment } => {
            prop_assert_eq!(h.status_code(), Some(*code));
            prop_assert_eq!(h.comment(), comment.as_deref().map(str::as_bytes));
            prop_assert_eq!(g.flag, Continuation::Complete);
        }
    }
    Ok(())
}

fn valid(m: &Model) -> bool {
    match &m.kind {
        Kind::Request { method, body, .. } => match body {
            Some((_, b)) => !terminates(b, &m.tid) && (method == "SEND" || b.len() <= 10240),
            None => true,
        },
        Kind::Response { .. } => true,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn frames_roundtrip_in_any_split(
        models in prop::collection::vec(model(), 1..4),
        splits in prop::collection::vec(1usize..64, 1..16),
    ) {
        prop_assume!(models.iter().all(valid));
        let mut buf = BytesMut::new();
        for m in &models {
            write(m, &mut buf);
        }
        let whole = feed(&buf, ParserLimits::default(), || usize::MAX);
        let mut i = 0;
        let split = feed(&buf, ParserLimits::default(), || { i += 1; splits[i % splits.len()] });
        let bytewise = feed(&buf, ParserLimits::default(), || 1);
        prop_assert_eq!(summary(&whole), summary(&split));
        prop_assert_eq!(summary(&whole), summary(&bytewise));
        prop_assert_eq!(whole.len(), models.len());
        for (m, g) in models.iter().zip(&whole) {
            match g {
                Ok(g) => check(m, g)?,
                Err(e) => prop_assert!(false, "unexpected error {:?}", e),
            }
        }
    }

    #[test]
    fn uri_roundtrip_and_key(s in uri()) {
        let u = MsrpUri::parse(s.as_bytes());
        // Ports are u16 and hosts valid, so every generated URI parses.
        let u = u.map_err(|e| TestCaseError::fail(format!("{s}: {e}")))?;
        prop_assert_eq!(u.as_bytes(), s.as_bytes());
        let mut key = Vec::new();
        u.write_key(&mut key);
        let k = MsrpUri::parse(&key).unwrap();
        prop_assert!(k.same_as(&u));
        // Changing the case of scheme, host and transport does not change identity...
        let upper = {
            let sid_start = s.find("://").unwrap() + 3;
            let host_end = s[sid_start..].find(['/', ';']).map_or(s.len(), |i| sid_start + i);
            let (a, rest) = s.split_at(host_end);
            let transport_at = rest.find(';').unwrap();
            let (sid, tail) = rest.split_at(transport_at);
            format!("{}{}{}", a.to_uppercase(), sid, tail.to_uppercase())
        };
        let up = MsrpUri::parse(upper.as_bytes()).unwrap();
        prop_assert!(up.same_as(&u), "{} vs {}", upper, s);
        // ...but the session-id's case does.
        if let Some(sid) = u.session_id() {
            if sid.iter().any(u8::is_ascii_lowercase) {
                let sid = std::str::from_utf8(sid).unwrap();
                let swapped = s.replacen(&format!("/{sid};"), &format!("/{};", sid.to_uppercase()), 1);
                let other = MsrpUri::parse(swapped.as_bytes()).unwrap();
                prop_assert!(!other.same_as(&u));
            }
        }
    }

    #[test]
    fn uri_key_equality_matches_same_as(a in uri(), b in uri()) {
        let (ua, ub) = (MsrpUri::parse(a.as_bytes()).unwrap(), MsrpUri::parse(b.as_bytes()).unwrap());
        let (mut ka, mut kb) = (Vec::new(), Vec::new());
        ua.write_key(&mut ka);
        ub.write_key(&mut kb);
        prop_assert_eq!(ka == kb, ua.same_as(&ub));
        prop_assert_eq!(ua.to_owned_uri() == ub.to_owned_uri(), ua.same_as(&ub));
    }

    #[test]
    fn cpim_roundtrip(
        from in ("[A-Za-z]{0,8}", "sip:[a-z]{1,8}@[a-z]{1,8}\\.com"),
        to in prop::collection::vec("sip:[a-z]{1,8}@[a-z]{1,8}\\.com", 1..4),
        subject in prop::option::of("[ -~]{0,30}"),
        ext in prop::collection::vec(("x\\.[A-Za-z]{1,8}", "[ -~]{0,20}"), 0..3),
        payload in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut doc = String::new();
        if from.0.is_empty() {
            doc += &format!("From: <{}>\r\n", from.1);
        } else {
            doc += &format!("From: {} <{}>\r\n", from.0, from.1);
        }
        for t in &to {
            doc += &format!("To: <{t}>\r\n");
        }
        doc += "DateTime: 2025-05-01T10:00:00Z\r\n";
        if let Some(s) = &subject {
            doc += &format!("Subject:;lang=en {s}\r\n");
        }
        for (n, v) in &ext {
            doc += &format!("{n}: {v}\r\n");
        }
        doc += "\r\nContent-Type: text/plain\r\n\r\n";
        let mut body = doc.into_bytes();
        let off = body.len();
        body.extend_from_slice(&payload);
        let v = CpimView::parse(&body).unwrap();
        let f = v.from().unwrap().unwrap();
        prop_assert_eq!(f.uri, from.1.as_bytes());
        prop_assert_eq!(f.display_name().map(|c| c.into_owned()), (!from.0.is_empty()).then(|| from.0.clone()));
        let got: Vec<Vec<u8>> = v.to().map(|a| a.unwrap().uri.to_vec()).collect();
        let want: Vec<Vec<u8>> = to.iter().map(|t| t.clone().into_bytes()).collect();
        prop_assert_eq!(got, want);
        prop_assert_eq!(v.subjects().next().map(|s| s.value.to_vec()), subject.map(String::into_bytes));
        prop_assert_eq!(v.extension_headers().count(), ext.len());
        prop_assert_eq!(v.payload_offset(), off);
        prop_assert_eq!(v.payload(), &payload[..]);
        prop_assert_eq!(v.content_type(), Some(&b"text/plain"[..]));
        for cut in 0..off {
            prop_assert_eq!(CpimView::parse(&body[..cut]).unwrap_err(), CpimError::Incomplete);
        }
    }
}
