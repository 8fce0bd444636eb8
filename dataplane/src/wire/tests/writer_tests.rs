//! Writer: canonical output, OutFrame vectored form, path prefixes, responses.

use super::*;
use std::io::Write;

fn tid(s: &str) -> Ident {
    Ident::new(s.as_bytes()).unwrap()
}

#[test]
fn request_with_body_exact_bytes() {
    let mut buf = BytesMut::new();
    let n = RequestWriter::new(
        &mut buf,
        tid("a7Kq01xz"),
        "SEND",
        &["msrp://bob.example.net:2855/b7c9q2;tcp"],
        &["msrp://10.0.0.5:40213/a1f3k9;tcp"],
    )
    .message_id(b"m-8f31c2aa")
    .byte_range(ByteRange {
        start: 1,
        end: Some(5),
        total: Some(5),
    })
    .success_report(SuccessReport::Yes)
    .content_type(b"text/plain")
    .body(b"Hello", Continuation::Complete);
    let want = crlf(
        "MSRP a7Kq01xz SEND
To-Path: msrp://bob.example.net:2855/b7c9q2;tcp
From-Path: msrp://10.0.0.5:40213/a1f3k9;tcp
Message-ID: m-8f31c2aa
Byte-Range: 1-5/5
Success-Report: yes
Content-Type: text/plain

Hello
-------a7Kq01xz$
",
    );
    assert_eq!(
        String::from_utf8_lossy(&buf),
        String::from_utf8_lossy(&want)
    );
    assert_eq!(n, want.len());
}

#[test]
fn out_frame_shares_the_body_and_matches_the_copying_writer() {
    let prefix = PathPrefix::new(
        &["msrp://bob.example.net:2855/b7c9q2;tcp"],
        &["msrp://chat.example.com:2855/room1;tcp"],
    );
    let body = bytes::Bytes::from_static(
        b"To: <sip:room@x>\r\nFrom: <sip:a@x>\r\n\r\nContent-Type: text/plain\r\n\r\nhi",
    );
    let mut scratch = BytesMut::with_capacity(4096);
    let mut frames = Vec::new();
    for (i, t) in ["fan00001", "fan00002"].iter().enumerate() {
        let f = RequestWriter::send(&mut scratch, tid(t), &prefix)
            .message_id(format!("msg{i:04}").as_bytes())
            .byte_range(ByteRange {
                start: 1,
                end: Some(body.len() as u64),
                total: Some(body.len() as u64),
            })
            .content_type(b"message/cpim")
            .out_frame(body.clone(), Continuation::Complete);
        // Zero copy: the frame's body is the very same allocation.
        assert_eq!(f.body.as_ptr(), body.as_ptr());
        frames.push(f);
    }
    assert!(
        scratch.is_empty(),
        "heads were split off the scratch buffer"
    );
    for f in &frames {
        let mut vectored = Vec::new();
        let n = vectored.write_vectored(&f.io_slices()).unwrap();
        assert_eq!(n, f.len());
        let g = one(&vectored);
        assert_eq!(g.body, &body[..]);
        assert_eq!(
            g.head.to_path_raw(),
            b"msrp://bob.example.net:2855/b7c9q2;tcp"
        );
        let mut copied = BytesMut::new();
        f.write_to(&mut copied);
        assert_eq!(&copied[..], &vectored[..]);
    }
}

#[test]
fn bodiless_out_frame() {
    let mut scratch = BytesMut::new();
    let f = RequestWriter::new(
        &mut scratch,
        tid("bind0001"),
        "SEND",
        &["msrp://a.b:1/c;tcp"],
        &["msrp://d.e:2/f;tcp"],
    )
    .message_id(b"m-bind-01")
    .out_frame_bodiless(Continuation::Complete);
    let mut out = BytesMut::new();
    f.write_to(&mut out);
    let g = one(&out);
    assert!(!g.head.has_body());
    assert_eq!(g.head.message_id(), Some(&b"m-bind-01"[..]));
}

#[test]
fn report_and_expires_headers() {
    let mut buf = BytesMut::new();
    RequestWriter::new(
        &mut buf,
        tid("Rp0q9w33"),
        "REPORT",
        &["msrp://a.b:1/c;tcp"],
        &["msrp://d.e:2/f;tcp"],
    )
    .message_id(b"m-8f31c2aa")
    .byte_range(ByteRange {
        start: 1,
        end: Some(5),
        total: Some(5),
    })
    .status(0, 200, Some("OK"))
    .failure_report(FailureReport::Partial)
    .expires(900)
    .header_u64(HeaderName::MaxExpires, 3600)
    .header("X-Custom", b"v\r\ninjected: 1")
    .end(Continuation::Complete);
    let g = one(&buf);
    let st = g.head.status().unwrap().unwrap();
    assert_eq!((st.namespace, st.code), (0, 200));
    assert_eq!(g.head.expires(), Some(Ok(900)));
    assert_eq!(g.head.max_expires(), Some(Ok(3600)));
    assert_eq!(g.head.failure_report(), FailureReport::Partial);
    // CR/LF in a value cannot inject a header.
    assert_eq!(g.head.header("X-Custom"), Some(&b"v  injected: 1"[..]));
    assert_eq!(g.head.header("injected"), None);
    assert_eq!(g.head.extension_headers().count(), 1);
}

#[test]
fn response_paths_follow_rfc4975_7_2() {
    let req = crlf(
        "MSRP abcd1234 NICKNAME
To-Path: msrp://relay.example.com:9000/tok;tcp msrp://chat.example.com:1/room;tcp
From-Path: msrp://relay2.example.com:9000/t2;tcp msrp://alice.example.com:1/a;tcp
Use-Nickname: \"al\"
-------abcd1234$
",
    );
    let g = one(&req);
    let mut buf = BytesMut::new();
    ResponseWriter::new(
        &mut buf,
        &g.head,
        424,
        None,
        &["msrp://chat.example.com:1/room;tcp"],
    )
    .unwrap()
    .end();
    let r = one(&buf);
    assert_eq!(r.head.status_code(), Some(424));
    assert_eq!(r.head.comment(), None);
    assert_eq!(r.head.to_path().count(), 2, "non-SEND: the whole From-Path");
    // A response to a response is refused.
    assert!(ResponseWriter::new(&mut buf, &r.head, 200, None, &["msrp://x.y:1/z;tcp"]).is_none());
}

#[test]
fn end_line_helper() {
    let t = tid("abcd1234");
    assert_eq!(
        EndLine::new(&t, Continuation::More, true).as_bytes(),
        b"\r\n-------abcd1234+\r\n"
    );
    assert_eq!(
        EndLine::new(&t, Continuation::Abort, false).as_bytes(),
        b"-------abcd1234#\r\n"
    );
    let long = tid("a1234567890123456789012345678901");
    assert_eq!(
        EndLine::new(&long, Continuation::Complete, true)
            .as_bytes()
            .len(),
        44
    );
}

#[test]
fn cached_path_ends() {
    let g = one(&crlf(
        "MSRP abcd1234 SEND
To-Path: msrp://relay.example.com:9000/tok;tcp msrp://chat.example.com:1/room;tcp
From-Path: msrp://relay2.example.com:9000/t2;tcp msrp://alice.example.com:1/a;tcp
-------abcd1234$
",
    ));
    let last = g.head.to_path_last().unwrap();
    assert_eq!(last.as_bytes(), b"msrp://chat.example.com:1/room;tcp");
    assert_eq!(last.session_id(), Some(&b"room"[..]));
    assert_eq!(last, g.head.to_path().last().unwrap());
    let first = g.head.from_path_first().unwrap();
    assert_eq!(first.as_bytes(), b"msrp://relay2.example.com:9000/t2;tcp");
    assert_eq!(first.port(), Some(9000));
}

#[test]
fn repeated_paths_reuse_the_parse_but_stay_correct() {
    // Same To-Path at different offsets (tids of different lengths), then a different one,
    // then an invalid one: the per-parser path cache must not leak a stale result.
    let data = crlf(
        "MSRP abcd SEND
To-Path: msrp://chat.example.com:1/room;tcp
From-Path: msrp://alice.example.com:1/a;tcp
-------abcd$
MSRP abcdefghijkl SEND
To-Path: msrp://chat.example.com:1/room;tcp
From-Path: msrp://alice.example.com:1/a;tcp
-------abcdefghijkl$
MSRP efgh SEND
To-Path: msrp://chat.example.com:1/other;tcp
From-Path: msrp://alice.example.com:1/a;tcp
-------efgh$
MSRP ijkl SEND
To-Path: msrp://chat.example.com:1/room;tc p
From-Path: msrp://alice.example.com:1/a;tcp
-------ijkl$
",
    );
    let v = parse_all(&data);
    let sid = |i: usize| {
        v[i].as_ref()
            .unwrap()
            .head
            .to_path_last()
            .unwrap()
            .session_id()
            .unwrap()
            .to_vec()
    };
    assert_eq!(sid(0), b"room");
    assert_eq!(sid(1), b"room");
    assert_eq!(
        v[1].as_ref()
            .unwrap()
            .head
            .from_path_first()
            .unwrap()
            .as_bytes(),
        b"msrp://alice.example.com:1/a;tcp"
    );
    assert_eq!(sid(2), b"other");
    assert_eq!(v[3].as_ref().unwrap_err().kind(), ErrorKind::Uri);
}
