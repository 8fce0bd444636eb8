//! Message/CPIM header view (RFC 3862).

use super::*;

const DOC: &str = "From: \"Alice \\\"A\\\" \\u00e9\" <sip:alice@example.com>
To: <sip:room@chat.example.com>
To: Bob Smith <sip:bob@example.com>
cc: <sip:carol@example.com>
DateTime: 2025-05-01T10:00:00Z
Subject: hello
Subject:;lang=fr bonjour
NS: MyFeatures <mid:MessageFeatures@id.foo.com>
NS: imdn<urn:ietf:params:imdn>
Require: MyFeatures.VitalMessageOption, imdn.Message-ID
MyFeatures.VitalMessageOption: Confirmation-requested
from: <sip:not-the-from@example.com>

Content-Type: text/plain;charset=UTF-8
Content-ID: <1234@example.com>

hello room";

#[test]
fn full_document() {
    let body = crlf(DOC);
    let v = CpimView::parse(&body).unwrap();
    let from = v.from().unwrap().unwrap();
    assert_eq!(from.uri, b"sip:alice@example.com");
    assert_eq!(from.display_name().as_deref(), Some("Alice \"A\" \u{e9}"));
    let to: Vec<_> = v.to().map(Result::unwrap).collect();
    assert_eq!(to.len(), 2);
    assert_eq!(to[1].display_name().as_deref(), Some("Bob Smith"));
    assert_eq!(v.cc().count(), 1);
    assert_eq!(v.datetime(), Some(&b"2025-05-01T10:00:00Z"[..]));
    let subjects: Vec<_> = v.subjects().map(|s| (s.lang(), s.value)).collect();
    assert_eq!(
        subjects,
        vec![(None, &b"hello"[..]), (Some(&b"fr"[..]), &b"bonjour"[..])]
    );
    let ns: Vec<_> = v.namespaces().collect();
    assert_eq!(
        ns[0],
        (&b"MyFeatures"[..], &b"mid:MessageFeatures@id.foo.com"[..])
    );
    assert_eq!(
        ns[1],
        (&b"imdn"[..], &b"urn:ietf:params:imdn"[..]),
        "NS without space"
    );
    assert_eq!(v.require().count(), 2);
    // Names are case-sensitive: `from:` is an extension header, not a second From.
    let ext: Vec<_> = v.extension_headers().map(|h| h.name).collect();
    assert_eq!(ext, vec![&b"MyFeatures.VitalMessageOption"[..], b"from"]);
    assert_eq!(v.content_type(), Some(&b"text/plain;charset=UTF-8"[..]));
    assert_eq!(v.mime_headers().count(), 2);
    assert_eq!(v.payload(), b"hello room");
    assert_eq!(&body[v.payload_offset()..], b"hello room");
}

#[test]
fn every_prefix_is_incomplete() {
    let body = crlf(DOC);
    let off = CpimView::parse(&body).unwrap().payload_offset();
    for cut in 0..off {
        assert_eq!(
            CpimView::parse(&body[..cut]).unwrap_err(),
            CpimError::Incomplete,
            "cut at {cut}"
        );
    }
    assert!(CpimView::parse(&body[..off]).is_ok());
}

#[test]
fn errors() {
    assert_eq!(
        CpimView::parse(b"From <sip:a@b>\r\n\r\n\r\n").unwrap_err(),
        CpimError::Header
    );
    assert_eq!(
        CpimView::parse(b"From:<sip:a@b>\r\n\r\n\r\n").unwrap_err(),
        CpimError::Header
    );
    assert_eq!(
        CpimView::parse(b"From: <sip:a@b>\n\n\n").unwrap_err(),
        CpimError::LineEnding
    );
    let big = format!("X: {}\r\n", "y".repeat(100));
    assert_eq!(
        CpimView::parse_with_limit(big.as_bytes(), 50).unwrap_err(),
        CpimError::TooLarge
    );
    assert_eq!(
        CpimView::parse_with_limit(&big.as_bytes()[..80], 50).unwrap_err(),
        CpimError::TooLarge
    );
    let v = CpimView::parse(b"From: Alice sip:a@b\r\nTo: <>\r\n\r\n\r\n").unwrap();
    assert_eq!(v.from().unwrap().unwrap_err(), CpimError::Address);
    assert_eq!(v.to().next().unwrap().unwrap_err(), CpimError::Address);
}
