//! Every MSRP example of RFC 4975 (§4, §5.1, §11), RFC 4976 (§3, §5.1) and RFC 7701 (§9),
//! re-typed from the RFC text. Artwork line continuations (`\`) are joined; blank lines that
//! the figures split into separate blocks are restored. Each must parse (whole and byte by
//! byte identically) and round-trip through the writer byte for byte.

use super::*;

const BOB_12763: &str = "msrp://biloxi.example.com:12763/kjhd37s2s20w2a;tcp";
const ATL_7654: &str = "msrp://atlanta.example.com:7654/jshA7weztas;tcp";

fn roundtrip(g: &Got, raw: &[u8]) {
    assert_eq!(
        String::from_utf8_lossy(&rewrite(g)),
        String::from_utf8_lossy(raw),
        "writer did not reproduce the frame"
    );
}

fn check_all(text: &str) -> Vec<Got> {
    let raw = crlf(text);
    let frames: Vec<Got> = parse_all(&raw)
        .into_iter()
        .map(|r| r.expect("RFC example must parse"))
        .collect();
    // Each frame on its own must also round-trip exactly.
    let mut rebuilt = Vec::new();
    for g in &frames {
        rebuilt.extend(rewrite(g));
    }
    assert_eq!(
        String::from_utf8_lossy(&rebuilt),
        String::from_utf8_lossy(&raw)
    );
    frames
}

#[test]
fn rfc4975_s4_example_exchange() {
    let f = check_all(&format!(
        "MSRP a786hjs2 SEND
To-Path: {BOB_12763}
From-Path: {ATL_7654}
Message-ID: 87652491
Byte-Range: 1-25/25
Content-Type: text/plain

Hey Bob, are you there?
-------a786hjs2$
MSRP a786hjs2 200 OK
To-Path: {ATL_7654}
From-Path: {BOB_12763}
-------a786hjs2$
"
    ));
    assert_eq!(f.len(), 2);
    let s = &f[0];
    assert_eq!(s.head.method(), Some(Method::Send));
    assert_eq!(s.head.transaction_id(), b"a786hjs2");
    assert_eq!(s.head.message_id(), Some(&b"87652491"[..]));
    assert_eq!(
        s.head.byte_range(),
        Some(ByteRange {
            start: 1,
            end: Some(25),
            total: Some(25)
        })
    );
    assert_eq!(s.body, b"Hey Bob, are you there?");
    assert_eq!(s.flag, Continuation::Complete);
    let to: Vec<_> = s.head.to_path().collect();
    assert_eq!(to.len(), 1);
    assert_eq!(to[0].host(), b"biloxi.example.com");
    assert_eq!(to[0].port(), Some(12763));
    assert_eq!(to[0].session_id(), Some(&b"kjhd37s2s20w2a"[..]));
    let r = &f[1];
    assert_eq!(r.head.status_code(), Some(200));
    assert_eq!(r.head.comment(), Some(&b"OK"[..]));
    assert!(!r.head.has_body());
    assert!(r.body.is_empty());
    roundtrip(s, &crlf(&format!(
        "MSRP a786hjs2 SEND\nTo-Path: {BOB_12763}\nFrom-Path: {ATL_7654}\nMessage-ID: 87652491\nByte-Range: 1-25/25\nContent-Type: text/plain\n\nHey Bob, are you there?\n-------a786hjs2$\n"
    )));
}

#[test]
fn rfc4975_s5_1_chunks_with_paths_restored() {
    // The figure omits the paths ("some lines removed"); they are required, so add them.
    let f = check_all(&format!(
        "MSRP dkei38sd SEND
To-Path: {BOB_12763}
From-Path: {ATL_7654}
Message-ID: 4564dpWd
Byte-Range: 1-*/8
Content-Type: text/plain

abcd
-------dkei38sd+
MSRP dkei38ia SEND
To-Path: {BOB_12763}
From-Path: {ATL_7654}
Message-ID: 4564dpWd
Byte-Range: 5-8/8
Content-Type: text/plain

EFGH
-------dkei38ia$
"
    ));
    assert_eq!(f[0].flag, Continuation::More);
    assert_eq!(f[0].head.byte_range().unwrap().end, None);
    assert_eq!(f[0].body, b"abcd");
    assert_eq!(f[1].head.byte_range().unwrap().start, 5);
    assert_eq!(f[1].body, b"EFGH");
    // As printed (no paths) the chunks are not valid MSRP.
    let e = err_of(&crlf(
        "MSRP dkei38sd SEND\nMessage-ID: 4564dpWd\nByte-Range: 1-*/8\nContent-Type: text/plain\n\nabcd\n-------dkei38sd+\n",
    ));
    assert_eq!(e.kind(), ErrorKind::ToPathNotFirst);
}

const ALICE_7777: &str = "msrp://alicepc.example.com:7777/iau39soe2843z;tcp";
const BOB_8888: &str = "msrp://bob.example.com:8888/9di4eae923wzd;tcp";

#[test]
fn rfc4975_s11_1_basic_im_session() {
    let f = check_all(&format!(
        "MSRP d93kswow SEND
To-Path: {BOB_8888}
From-Path: {ALICE_7777}
Message-ID: 12339sdqwer
Byte-Range: 1-16/16
Content-Type: text/plain

Hi, I'm Alice!
-------d93kswow$
MSRP d93kswow 200 OK
To-Path: {ALICE_7777}
From-Path: {BOB_8888}
-------d93kswow$
MSRP dkei38sd SEND
To-Path: {ALICE_7777}
From-Path: {BOB_8888}
Message-ID: 456s9wlk3
Byte-Range: 1-21/21
Content-Type: text/plain

Hi, Alice!  I'm Bob!
-------dkei38sd$
MSRP dkei38sd 200 OK
To-Path: {BOB_8888}
From-Path: {ALICE_7777}
-------dkei38sd$
"
    ));
    assert_eq!(f.len(), 4);
    assert_eq!(f[0].body, b"Hi, I'm Alice!");
    assert_eq!(f[2].body, b"Hi, Alice!  I'm Bob!");
    assert_eq!(f[0].head.content_type().unwrap().unwrap().subtype, b"plain");
    // The 200 goes back to the first From-Path URI of the SEND.
    let mut buf = BytesMut::new();
    ResponseWriter::new(&mut buf, &f[0].head, 200, Some("OK"), &[BOB_8888])
        .unwrap()
        .end();
    assert_eq!(&buf[..], &rewrite(&f[1])[..]);
}

#[test]
fn rfc4975_s11_2_xhtml() {
    let f = check_all(
        "MSRP dsdfoe38sd SEND
To-Path: msrp://alice.example.com:7777/iau39soe2843z;tcp
From-Path: msrp://bob.example.com:8888/9di4eae923wzd;tcp
Message-ID: 456so39s
Byte-Range: 1-374/374
Content-Type: application/xhtml+xml

<?xml version=\"1.0\" encoding=\"UTF-8\"?>
<!DOCTYPE html
PUBLIC \"-//W3C//DTD XHTML 1.0 Strict//EN\"
\"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd\">
<html xmlns=\"http://www.w3.org/1999/xhtml\" xml:lang=\"en\" lang=\"en\">
  <head>
    <title>FY2005 Results</title>
</head>
  <body>
   <p>See the results at <a
href=\"http://example.org/\">example.org</a>.</p>
  </body>
</html>
-------dsdfoe38sd$
",
    );
    let ct = f[0].head.content_type().unwrap().unwrap();
    assert!(ct.is("application", "XHTML+XML"));
    assert!(f[0].body.starts_with(b"<?xml"));
    assert!(f[0].body.ends_with(b"</html>"));
}

#[test]
fn rfc4975_s11_4_chunked_cpim() {
    let f = check_all(
        "MSRP d93kswow SEND
To-Path: msrp://bobpc.example.com:8888/9di4eae923wzd;tcp
From-Path: msrp://alicepc.example.com:7654/iau39soe2843z;tcp
Message-ID: 12339sdqwer
Byte-Range: 1-137/148
Content-Type: message/cpim

To: Bob <sip:bob@example.com>
From: Alice <sip:alice@example.com>
DateTime: 2006-05-15T15:02:31-03:00

Content-Type: text/plain

ABCD
-------d93kswow+
MSRP op2nc9a SEND
To-Path: msrp://bobpc.example.com:8888/9di4eae923wzd;tcp
From-Path: msrp://alicepc.example.com:7654/iau39soe2843z;tcp
Message-ID: 12339sdqwer
Byte-Range: 138-148/148
Content-Type: message/cpim

1234567890
-------op2nc9a$
",
    );
    let v = CpimView::parse(&f[0].body).unwrap();
    let to: Vec<_> = v.to().map(Result::unwrap).collect();
    assert_eq!(to.len(), 1);
    assert_eq!(to[0].uri, b"sip:bob@example.com");
    assert_eq!(to[0].display_name().as_deref(), Some("Bob"));
    assert_eq!(v.from().unwrap().unwrap().uri, b"sip:alice@example.com");
    assert_eq!(v.datetime(), Some(&b"2006-05-15T15:02:31-03:00"[..]));
    assert_eq!(v.content_type(), Some(&b"text/plain"[..]));
    assert_eq!(v.payload(), b"ABCD");
    assert_eq!(f[1].body, b"1234567890");
}

#[test]
fn rfc4975_s11_5_system_message() {
    let f = check_all(
        "MSRP d93kswow SEND
To-Path: msrp://alicepc.example.com:8888/9di4eae923wzd;tcp
From-Path: msrp://example.com:7777/iau39soe2843z;tcp
Message-ID: 12339sdqwer
Byte-Range: 1-38/38
Failure-Report: no
Success-Report: no
Content-Type: text/plain

This conference will end in 5 minutes
-------d93kswow$
",
    );
    assert_eq!(f[0].head.failure_report(), FailureReport::No);
    assert_eq!(f[0].head.success_report_header(), Some(SuccessReport::No));
}

#[test]
fn rfc4975_s11_6_positive_report() {
    let f = check_all(
        "MSRP d93kswow SEND
To-Path: msrp://bob.example.com:8888/9di4eae923wzd;tcp
From-Path: msrp://alicepc.example.com:7777/iau39soe2843z;tcp
Message-ID: 12339sdqwer
Byte-Range: 1-106/106
Success-Report: yes
Failure-Report: no
Content-Type: text/html

<html><body>
<p>Here is that important link...
<a href=\"http://www.example.com/foobar\">foobar</a>
</p>
</body></html>
-------d93kswow$
MSRP dkei38sd REPORT
To-Path: msrp://alicepc.example.com:7777/iau39soe2843z;tcp
From-Path: msrp://bob.example.com:8888/9di4eae923wzd;tcp
Message-ID: 12339sdqwer
Byte-Range: 1-106/106
Status: 000 200 OK
-------dkei38sd$
",
    );
    assert_eq!(f[0].head.success_report(), SuccessReport::Yes);
    let rep = &f[1].head;
    assert_eq!(rep.method(), Some(Method::Report));
    let st = rep.status().unwrap().unwrap();
    assert_eq!(
        (st.namespace, st.code, st.comment),
        (0, 200, Some(&b"OK"[..]))
    );
}

#[test]
fn rfc4976_s3_relayed_send_and_reports() {
    let f = check_all(
        "MSRP 6aef SEND
To-Path: msrps://a.example.org:9000/kjfjan;tcp msrps://b.example.net:9000/aeiug;tcp msrps://bob.example.net:8145/foo;tcp
From-Path: msrps://alice.example.org:7965/bar;tcp
Success-Report: yes
Byte-Range: 1-*/*
Message-ID: 87652
Content-Type: text/plain

Hi Bob, I'm about to send you file.mpeg
-------6aef$
MSRP 6aef 200 OK
To-Path: msrps://alice.example.org:7965/bar;tcp
From-Path: msrps://a.example.org:9000/kjfjan;tcp
Message-ID: 87652
-------6aef$
MSRP juh76 SEND
To-Path: msrps://b.example.net:9000/aeiug;tcp msrps://bob.example.net:8145/foo;tcp
From-Path: msrps://a.example.org:9000/kjfjan;tcp msrps://alice.example.org:7965/bar;tcp
Success-Report: yes
Message-ID: 87652
Byte-Range: 1-*/*
Content-Type: text/plain

Hi Bob, I'm about to send you file.mpeg
-------juh76$
MSRP juh76 200 OK
To-Path: msrps://a.example.org:9000/kjfjan;tcp
From-Path: msrps://b.example.net:9000/aeiug;tcp
Message-ID: 87652
-------juh76$
MSRP xght6 SEND
To-Path: msrps://bob.example.net:8145/foo;tcp
From-Path: msrps://b.example.net:9000/aeiug;tcp msrps://a.example.org:9000/kjfjan;tcp msrps://alice.example.org:7965/bar;tcp
Success-Report: yes
Message-ID: 87652
Byte-Range: 1-*/*
Content-Type: text/plain

Hi Bob, I'm about to send you file.mpeg
-------xght6$
MSRP xght6 200 OK
To-Path: msrps://b.example.net:9000/aeiug;tcp
From-Path: msrps://bob.example.net:8145/foo;tcp
Message-ID: 87652
-------xght6$
MSRP yh67 REPORT
To-Path: msrps://b.example.net:9000/aeiug;tcp msrps://a.example.org:9000/kjfjan;tcp msrps://alice.example.org:7965/bar;tcp
From-Path: msrps://bob.example.net:8145/foo;tcp
Message-ID: 87652
Byte-Range: 1-39/39
Status: 000 200 OK
-------yh67$
MSRP yh67 REPORT
To-Path: msrps://a.example.org:9000/kjfjan;tcp msrps://alice.example.org:7965/bar;tcp
From-Path: msrps://b.example.net:9000/aeiug;tcp msrps://bob.example.net:8145/foo;tcp
Message-ID: 87652
Byte-Range: 1-39/39
Status: 000 200 OK
-------yh67$
MSRP yh67 REPORT
To-Path: msrps://alice.example.org:7965/bar;tcp
From-Path: msrps://a.example.org:9000/kjfjan;tcp msrps://b.example.net:9000/aeiug;tcp msrps://bob.example.net:8145/foo;tcp
Message-ID: 87652
Byte-Range: 1-39/39
Status: 000 200 OK
-------yh67$
",
    );
    assert_eq!(f.len(), 9);
    let first = &f[0].head;
    assert_eq!(first.to_path().count(), 3);
    assert_eq!(first.to_path().next().unwrap().scheme(), Scheme::Msrps);
    assert_eq!(
        first.byte_range(),
        Some(ByteRange {
            start: 1,
            end: None,
            total: None
        })
    );
    assert_eq!(f[8].head.from_path().count(), 3);
    // A SEND response goes to the previous hop only (RFC 4975 §7.2).
    let mut buf = BytesMut::new();
    ResponseWriter::new(
        &mut buf,
        &f[4].head,
        200,
        Some("OK"),
        &["msrps://bob.example.net:8145/foo;tcp"],
    )
    .unwrap()
    .end();
    let resp = one(&buf);
    assert_eq!(
        resp.head.to_path_raw(),
        b"msrps://b.example.net:9000/aeiug;tcp"
    );
}

const INTRA: &str = "msrps://alice@intra.example.com;tcp";
const ALICE_9892: &str = "msrps://alice.example.com:9892/98cjs;tcp";

#[test]
fn rfc4976_s5_1_auth_one_relay() {
    let f = check_all(&format!(
        "MSRP 49fh AUTH
To-Path: {INTRA}
From-Path: {ALICE_9892}
-------49fh$
MSRP 49fh 401 Unauthorized
To-Path: {ALICE_9892}
From-Path: {INTRA}
WWW-Authenticate: Digest realm=\"intra.example.com\", qop=\"auth\", nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\"
-------49fh$
MSRP 49fi AUTH
To-Path: {INTRA}
From-Path: {ALICE_9892}
Authorization: Digest username=\"Alice\", realm=\"intra.example.com\", nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", qop=auth, nc=00000001, cnonce=\"0a4f113b\", response=\"6629fae49393a05397450978507c4ef1\"
-------49fi$
MSRP 49fi 200 OK
To-Path: {ALICE_9892}
From-Path: {INTRA}
Use-Path: msrps://intra.example.com:9000/jui787s2f;tcp
Authentication-Info: nextnonce=\"40f2e879449675f288476d772627370a\",rspauth=\"7327570c586207eca2afae94fc20903d\", cnonce=\"0a4f113b\", nc=00000001, qop=auth
Expires: 900
-------49fi$
"
    ));
    let auth = &f[0].head;
    assert_eq!(auth.method(), Some(Method::Auth));
    let relay = auth.to_path().next().unwrap();
    assert_eq!(relay.userinfo(), Some(&b"alice"[..]));
    assert_eq!(relay.port(), None);
    assert_eq!(relay.session_id(), None);
    let ch = f[1].head.www_authenticate().unwrap().unwrap();
    assert!(ch.is_digest());
    assert_eq!(ch.get("realm").as_deref(), Some(&b"intra.example.com"[..]));
    assert_eq!(ch.get("QOP").as_deref(), Some(&b"auth"[..]));
    let cred = f[2].head.authorization().unwrap().unwrap();
    assert_eq!(cred.get("username").as_deref(), Some(&b"Alice"[..]));
    assert_eq!(cred.get("nc").as_deref(), Some(&b"00000001"[..]));
    assert_eq!(
        cred.get("response").as_deref(),
        Some(&b"6629fae49393a05397450978507c4ef1"[..])
    );
    assert_eq!(cred.params().count(), 7);
    let ok = &f[3].head;
    let use_path: Vec<_> = ok.use_path().unwrap().map(Result::unwrap).collect();
    assert_eq!(use_path[0].port(), Some(9000));
    assert_eq!(ok.expires(), Some(Ok(900)));
    let info = ok.authentication_info().unwrap().unwrap();
    assert_eq!(info.scheme, None);
    assert_eq!(
        info.get("rspauth").as_deref(),
        Some(&b"7327570c586207eca2afae94fc20903d"[..])
    );
    assert_eq!(info.params().count(), 5);
    // A non-SEND response carries the request's whole From-Path.
    let mut buf = BytesMut::new();
    ResponseWriter::new(&mut buf, auth, 401, Some("Unauthorized"), &[INTRA])
        .unwrap()
        .known(
            HeaderName::WwwAuthenticate,
            f[1].head.raw(HeaderName::WwwAuthenticate).unwrap(),
        )
        .end();
    assert_eq!(&buf[..], &rewrite(&f[1])[..]);
}

#[test]
fn rfc4976_s5_1_auth_through_two_relays() {
    let extra = "msrps://extra.example.com;tcp";
    let tok = "msrps://intra.example.com:9000/jui787s2f;tcp";
    let f = check_all(&format!(
        "MSRP mnbvw AUTH
To-Path: {tok} {extra}
From-Path: {ALICE_9892}
-------mnbvw$
MSRP m2nbvw AUTH
To-Path: {extra}
From-Path: {tok} {ALICE_9892}
-------m2nbvw$
MSRP m2nbvw 401 Unauthorized
To-Path: {tok} {ALICE_9892}
From-Path: {extra}
WWW-Authenticate: Digest realm=\"extra.example.com\", qop=\"auth\", nonce=\"Uumu8cAV38FGsEF31VLevIbNXj9HWO\"
-------m2nbvw$
MSRP mnbvw 401 Unauthorized
To-Path: {ALICE_9892}
From-Path: {tok} {extra}
WWW-Authenticate: Digest realm=\"extra.example.com\", qop=\"auth\", nonce=\"Uumu8cAV38FGsEF31VLevIbNXj9HWO\"
-------mnbvw$
MSRP m3nbvx AUTH
To-Path: {tok} {extra}
From-Path: {ALICE_9892}
Authorization: Digest username=\"Alice\", realm=\"extra.example.com\", nonce=\"Uumu8cAV38FGsEF31VLevIbNXj9HWO\", qop=auth, nc=00000001, cnonce=\"85a0dca8\", response=\"cb06c4a77cd90918cd7914432032e0e6\"
-------m3nbvx$
MSRP m4nbvx AUTH
To-Path: {extra}
From-Path: {tok} {ALICE_9892}
Authorization: Digest username=\"Alice\", realm=\"extra.example.com\", nonce=\"Uumu8cAV38FGsEF31VLevIbNXj9HWO\", qop=auth, nc=00000001, cnonce=\"85a0dca8\", response=\"cb06c4a77cd90918cd7914432032e0e6\"
-------m4nbvx$
MSRP m4nbvx 200 OK
To-Path: {tok} {ALICE_9892}
From-Path: {extra}
Use-Path: {tok} msrps://extra.example.com:9000/mywdEe1233;tcp
Authentication-Info: nextnonce=\"bz8V080GEA2sLyEDpITF2AZCq7gIkc\", rspauth=\"72f109ed2755d7ed0d0a213ec653b3f2\", cnonce=\"85a0dca8\", nc=00000001, qop=auth
Expires: 1800
-------m4nbvx$
MSRP m3nbvx 200 OK
To-Path: {ALICE_9892}
From-Path: {tok} {extra}
Use-Path: msrps://extra.example.com:9000/mywdEe1233;tcp msrps://extra.example.com:9000/mywdEe1233;tcp
Authentication-Info: nextnonce=\"bz8V080GEA2sLyEDpITF2AZCq7gIkc\", rspauth=\"72f109ed2755d7ed0d0a213ec653b3f2\", cnonce=\"85a0dca8\", nc=00000001, qop=auth
Expires: 1800
-------m3nbvx$
"
    ));
    assert_eq!(f.len(), 8);
    // The digest-uri is the rightmost To-Path URI (RFC 4976 §9.1).
    let last = f[4].head.to_path().last().unwrap();
    assert_eq!(last.as_bytes(), extra.as_bytes());
    assert_eq!(f[6].head.use_path().unwrap().count(), 2);
    assert_eq!(f[6].head.expires(), Some(Ok(1800)));
}

const CHAT: &str = "msrp://chat.example.com:12763/kjhd37s2s20w2a;tcp";
const ATL_CLIENT: &str = "msrp://client.atlanta.example.com:7654/jshA7weztas;tcp";

#[test]
fn rfc7701_s9_2_nickname() {
    let f = check_all(&format!(
        "MSRP d93kswow NICKNAME
To-Path: {CHAT}
From-Path: {ATL_CLIENT}
Use-Nickname: \"Alice the great\"
-------d93kswow$
MSRP d93kswow 425 Nickname reserved or already in use
To-Path: {ATL_CLIENT}
From-Path: {CHAT}
-------d93kswow$
MSRP 09swk2d NICKNAME
To-Path: {CHAT}
From-Path: {ATL_CLIENT}
Use-Nickname: \"Alice in Wonderland\"
-------09swk2d$
MSRP 09swk2d 200 OK
To-Path: {ATL_CLIENT}
From-Path: {CHAT}
-------09swk2d$
"
    ));
    assert_eq!(f[0].head.method(), Some(Method::Nickname));
    assert_eq!(
        f[0].head.use_nickname().unwrap().unwrap(),
        "Alice the great"
    );
    assert_eq!(f[1].head.status_code(), Some(425));
    assert_eq!(
        f[1].head.comment(),
        Some(&b"Nickname reserved or already in use"[..])
    );
    assert_eq!(
        f[2].head.use_nickname().unwrap().unwrap(),
        "Alice in Wonderland"
    );
    // The writer quotes and escapes.
    let mut buf = BytesMut::new();
    RequestWriter::new(
        &mut buf,
        Ident::new(b"09swk2d").unwrap(),
        "NICKNAME",
        &[CHAT],
        &[ATL_CLIENT],
    )
    .use_nickname("Alice in Wonderland")
    .end(Continuation::Complete);
    assert_eq!(&buf[..], &rewrite(&f[2])[..]);
}

#[test]
fn rfc7701_s9_3_and_9_4_cpim_messages() {
    let f = check_all(&format!(
        "MSRP 3490visdm SEND
To-Path: {CHAT}
From-Path: {ATL_CLIENT}
Message-ID: 99s9s2
Byte-Range: 1-*/*
Content-Type: message/cpim

To: <sip:chatroom22@chat.example.com;transport=tcp>
From: <sip:alice@atlanta.example.com>
DateTime: 2009-03-02T15:02:31-03:00

Content-Type: text/plain

Hello guys, how are you today?
-------3490visdm$
MSRP 3490visdm 200 OK
To-Path: {ATL_CLIENT}
From-Path: {CHAT}
Message-ID: 99s9s2
-------3490visdm$
MSRP 6959ssdf SEND
To-Path: {CHAT}
From-Path: {ATL_CLIENT}
Message-ID: okj3kw
Byte-Range: 1-*/*
Content-Type: message/cpim

To: <sip:bob@example.com>
From: <sip:alice@example.com>
DateTime: 2009-03-02T15:02:31-03:00

Content-Type: text/plain

Hello Bob.
-------6959ssdf$
"
    ));
    let v = CpimView::parse(&f[0].body).unwrap();
    let to = v.to().next().unwrap().unwrap();
    assert_eq!(to.uri, b"sip:chatroom22@chat.example.com;transport=tcp");
    assert_eq!(to.name_raw, None);
    assert_eq!(v.payload(), b"Hello guys, how are you today?");
    assert_eq!(f[1].head.message_id(), Some(&b"99s9s2"[..]));
    let p = CpimView::parse(&f[2].body).unwrap();
    assert_eq!(p.to().count(), 1);
}

#[test]
fn rfc7701_s9_5_cpim_split_over_chunks_is_incomplete() {
    // The first chunk ends inside the CPIM headers (the RFC figure uses `$` on both chunks).
    let g = one(&crlf(&format!(
        "MSRP 7443ruls SEND
To-Path: {CHAT}
From-Path: {ATL_CLIENT}
Message-ID: aft4to
Byte-Range: 1-*/174
Content-Type: message/cpim

To: <sip:bob@example.com>
From: <sip:alice@example.com>
-------7443ruls+
"
    )));
    assert_eq!(CpimView::parse(&g.body).unwrap_err(), CpimError::Incomplete);
    // (the CRLF that ended the first chunk's body is the separator, not data)
    let whole = [
        &g.body[..],
        &crlf("\nDateTime: 2009-03-02T15:02:31-03:00\n\nContent-Type: text/plain\n\nHello Bob")[..],
    ]
    .concat();
    let v = CpimView::parse(&whole).unwrap();
    assert_eq!(v.payload(), b"Hello Bob");
}
