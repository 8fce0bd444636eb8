//! RFC 4475 torture messages relevant to a registrar and a focus, re-typed from the RFC
//! (indentation of the RFC's figures removed; `<allOneLine>` joined; `<hex>` as escapes).

use bytes::Bytes;

use super::*;

/// Head lines written with `\n`, sent with CRLF; then the empty line and the body.
fn msg(head: &str, body: &str) -> Bytes {
    let mut s = head.trim_start_matches('\n').replace('\n', "\r\n");
    s.push_str("\r\n");
    s.push_str(&body.replace('\n', "\r\n"));
    Bytes::from(s)
}

fn sdp(o: &str, c: &str) -> String {
    format!(
        "v=0\no=mhandley 29739 7272939 IN IP4 {o}\ns=-\nc=IN IP4 {c}\nt=0 0\nm=audio 49217 RTP/AVP 0 12\nm=video 3227 RTP/AVP 31\na=rtpmap:31 LPC\n"
    )
}

fn parse(b: &Bytes) -> Result<Message, ParseError> {
    let m = Message::parse(b.clone(), Framing::Datagram, &Limits::default())?;
    m.validate()?;
    Ok(m)
}

// 3.1.1.1 wsinv
const WSINV: &str = r#"
INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0
TO :
 sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n
from   : "J Rosenberg \\\""       <sip:jdrosen@example.com>
  ;
  tag = 98asjd8
MaX-fOrWaRdS: 0068
Call-ID: wsinv.ndaksdj@192.0.2.1
Content-Length   : 150
cseq: 0009
  INVITE
Via  : SIP  /   2.0
 /UDP
    192.0.2.2;branch=390skdjuw
s :
NewFangledHeader:   newfangled value
 continued newfangled value
UnknownHeaderWithUnusualValue: ;;,,;;,;
Content-Type: application/sdp
Route:
 <sip:services.example.com;lr;unknownwith=value;unknown-no-value>
v:  SIP  / 2.0  / TCP     spindle.example.com   ;
  branch  =   z9hG4bK9ikj8  ,
 SIP  /    2.0   / UDP  192.168.255.111   ; branch=
 z9hG4bK30239
m:"Quoted string \"\"" <sip:jdrosen@example.com> ; newparam =
      newvalue ;
  secondparam ; q = 0.33
"#;

#[test]
fn wsinv_short_tortuous_invite() {
    let body = sdp("192.0.2.3", "192.0.2.4");
    assert_eq!(body.replace('\n', "\r\n").len(), 150);
    let b = msg(WSINV, &body);
    let m = parse(&b).expect("wsinv is well formed");
    assert_eq!(m.as_bytes(), &b, "unmodified message re-emits byte-exact");
    assert_eq!(m.method(), Some(Method::Invite));
    let ruri = Uri::parse(m.request_uri()).unwrap();
    assert_eq!(ruri.user, Some("vivekg"));
    assert!(ruri.params.has("unknownparam"));
    let to = m.to_hdr().unwrap();
    assert_eq!(to.tag(), Some("1918181833n"));
    assert!(!to.bracketed);
    let from = m.from_hdr().unwrap();
    assert_eq!(from.display, Some(r#""J Rosenberg \\\"""#));
    assert_eq!(from.tag(), Some("98asjd8"));
    assert_eq!(m.max_forwards(), Some(68));
    let cseq = m.cseq().unwrap();
    assert_eq!((cseq.seq, cseq.method), (9, "INVITE"));
    let vias: Vec<_> = m.vias().map(|v| v.unwrap()).collect();
    assert_eq!(vias.len(), 3);
    assert_eq!((vias[0].transport, vias[0].host), ("UDP", "192.0.2.2"));
    assert_eq!(vias[0].branch(), Some("390skdjuw"));
    assert_eq!(vias[1].transport, "TCP");
    assert_eq!(vias[1].branch(), Some("z9hG4bK9ikj8"));
    assert_eq!(vias[2].host, "192.168.255.111");
    assert_eq!(vias[2].branch(), Some("z9hG4bK30239"));
    assert_eq!(m.value(HeaderName::Subject), Some(""));
    let nf = m.values_named("newfangledheader").next().unwrap();
    assert!(nf.starts_with("newfangled value") && nf.ends_with("continued newfangled value"));
    assert_eq!(
        m.values_named("UnknownHeaderWithUnusualValue").next(),
        Some(";;,,;;,;")
    );
    let contacts: Vec<_> = m.list(HeaderName::Contact).collect();
    assert_eq!(contacts.len(), 1);
    let c = NameAddr::parse(contacts[0]).unwrap();
    assert_eq!(c.params.get("newparam"), Some(Some("newvalue")));
    assert_eq!(c.params.get("secondparam"), Some(None));
    assert_eq!(c.params.get("q"), Some(Some("0.33")));
    let route = NameAddr::parse(m.list(HeaderName::Route).next().unwrap()).unwrap();
    assert!(route.uri.params.has("lr"));
    assert_eq!(route.uri.param("unknownwith"), Some(Some("value")));
    assert_eq!(m.body().len(), 150);
}

// 3.1.1.2 intmeth
#[test]
fn intmeth_wide_range_of_valid_characters() {
    let uri = "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com";
    let head = format!(
        "!interesting-Method0123456789_*+`.%indeed'~ {uri} SIP/2.0\n\
Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~\n\
To: \"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7F\" <sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com>\n\
From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!.-%=\"работающий\";tag=_token~1'+`*%!-.\n\
Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}}{{\n\
CSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~\n\
Max-Forwards: 255\n\
extensionHeader-!.%*+_`'~:\u{FEFF}大停電\n\
Content-Length: 0\n"
    );
    let b = msg(&head, "");
    let m = parse(&b).expect("intmeth is well formed");
    assert_eq!(m.as_bytes(), &b);
    assert_eq!(m.method(), Some(Method::Other));
    assert_eq!(
        m.method_text(),
        "!interesting-Method0123456789_*+`.%indeed'~"
    );
    let u = Uri::parse(m.request_uri()).unwrap();
    assert_eq!(
        u.user,
        Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
    );
    assert_eq!(
        u.password,
        Some("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)")
    );
    assert_eq!(u.host, "example.com");
    let via = m.top_via().unwrap();
    assert_eq!(via.branch(), Some("z9hG4bK-.!%66*_+`'~"));
    let to = m.to_hdr().unwrap();
    assert!(to.display.unwrap().contains('\0'));
    let from = m.from_hdr().unwrap();
    assert_eq!(from.display, Some("token1~` token2'+_ token3*%!.-"));
    assert_eq!(from.tag(), Some("_token~1'+`*%!-."));
    assert_eq!(
        from.params.get_unquoted("fromParam''~+*_!.-%"),
        Some("работающий")
    );
    assert_eq!(
        m.call_id(),
        Some("intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{")
    );
    assert_eq!(
        m.values_named("extensionHeader-!.%*+_`'~").next(),
        Some("\u{FEFF}大停電")
    );
}

// 3.1.1.3 esc01
#[test]
fn esc01_valid_escaping() {
    let head = r#"
INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0
To: sip:%75se%72@example.com
From: <sip:I%20have%20spaces@example.net>;tag=938
Max-Forwards: 87
i: esc01.239409asdfakjkn23onasd0-3234
CSeq: 234234 INVITE
Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw
C: application/sdp
Contact:
  <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>
Content-Length: 150
"#;
    let b = msg(head, &sdp("192.0.2.1", "192.0.2.1"));
    let m = parse(&b).expect("esc01 is well formed");
    assert_eq!(m.as_bytes(), &b);
    let ruri = Uri::parse(m.request_uri()).unwrap();
    assert_eq!(ruri.aor(), "sip:sips:user@example.com@example.net");
    assert_eq!(m.to_hdr().unwrap().uri.aor(), "sip:user@example.com");
    assert_eq!(
        m.from_hdr().unwrap().uri.aor(),
        "sip:I have spaces@example.net"
    );
    assert_eq!(m.call_id(), Some("esc01.239409asdfakjkn23onasd0-3234"));
    assert_eq!(m.value(HeaderName::ContentType), Some("application/sdp"));
    let c = NameAddr::parse(m.list(HeaderName::Contact).next().unwrap()).unwrap();
    assert_eq!(c.uri.param("n%61me"), Some(Some("v%61lue%25%34%31")));
    assert_eq!(super::uri::unescape("v%61lue%25%34%31"), "value%41");
}

// 3.1.1.4 escnull
#[test]
fn escnull_escaped_nulls() {
    let head = r#"
REGISTER sip:example.com SIP/2.0
To: sip:null-%00-null@example.com
From: sip:null-%00-null@example.com;tag=839923423
Max-Forwards: 70
Call-ID: escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd
CSeq: 14398234 REGISTER
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw
Contact: <sip:%00@host5.example.com>
Contact: <sip:%00%00@host5.example.com>
L:0
"#;
    let b = msg(head, "");
    let m = parse(&b).expect("escnull is well formed");
    assert_eq!(
        m.to_hdr().unwrap().uri.aor(),
        "sip:null-\0-null@example.com"
    );
    let aors: Vec<String> = m
        .list(HeaderName::Contact)
        .map(|c| NameAddr::parse(c).unwrap().uri.aor())
        .collect();
    assert_eq!(
        aors,
        vec!["sip:\0@host5.example.com", "sip:\0\0@host5.example.com"]
    );
}

// 3.1.1.5 esc02
#[test]
fn esc02_percent_not_an_escape() {
    let head = r#"
RE%47IST%45R sip:registrar.example.com SIP/2.0
To: "%Z%45" <sip:resource@example.com>
From: "%Z%45" <sip:resource@example.com>;tag=f232jadfj23
Call-ID: esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf
Via: SIP/2.0/TCP host.example.com;branch=z9hG4bK209%fzsnel234
CSeq: 29344 RE%47IST%45R
Max-Forwards: 70
Contact: <sip:alias1@host1.example.com>
C%6Fntact: <sip:alias2@host2.example.com>
Contact: <sip:alias3@host3.example.com>
l: 0
"#;
    let b = msg(head, "");
    let m = parse(&b).expect("esc02 is well formed");
    assert_eq!(
        m.method(),
        Some(Method::Other),
        "RE%47IST%45R is not REGISTER"
    );
    assert_eq!(m.list(HeaderName::Contact).count(), 2);
    assert_eq!(m.to_hdr().unwrap().display, Some("\"%Z%45\""));
}

// 3.1.1.6 lwsdisp
#[test]
fn lwsdisp_no_lws_before_angle() {
    let head = r#"
OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: caller<sip:caller@example.com>;tag=323
Max-Forwards: 70
Call-ID: lwsdisp.1234abcd@funky.example.com
CSeq: 60 OPTIONS
Via: SIP/2.0/UDP funky.example.com;branch=z9hG4bKkdjuw
l: 0
"#;
    let m = parse(&msg(head, "")).expect("lwsdisp accepted");
    let f = m.from_hdr().unwrap();
    assert_eq!(f.display, Some("caller"));
    assert_eq!(f.uri.user, Some("caller"));
    assert_eq!(f.tag(), Some("323"));
}

// 3.1.1.7 longreq
#[test]
fn longreq_long_values() {
    let r = |s: &str, n| s.repeat(n);
    let mut head = String::from("INVITE sip:user@example.com SIP/2.0\n");
    head += &format!(
        "To: \"I have a user name of {} proportion\" <sip:user@example.com:6000;unknownparam1=very{}value;longparam{}=shortvalue;very{}ParameterNameWithNoValue>\n",
        r("extreme", 10), r("long", 20), r("name", 25), r("long", 25)
    );
    head += &format!(
        "F: sip:{}@example.net;tag=12{}424;unknownheaderparam{}=unknowheaderparam{};unknownValueless{}\n",
        r("amazinglylongcallername", 5), r("982", 50), r("name", 20), r("value", 15), r("paramname", 10)
    );
    head += &format!("Call-ID: longreq.one{}longcallid\n", r("really", 20));
    head += "CSeq: 3882340 INVITE\n";
    head += &format!(
        "Unknown-{}-Name: unknown-{}-value; unknown-{}-parameter-name = unknown-{}-parameter-value\n",
        r("Long", 20), r("long", 20), r("long", 20), r("long", 20)
    );
    let prefixes = [
        "Via: ", "v: ", "V: ", "Via: ", "ViA: ", "VIa: ", "VIA: ", "via: ", "viA: ", "vIa: ",
        "vIA: ", "V :  ", "v :  ", "V  : ", "v  : ", "Via : ", "Via  : ",
    ];
    let mut n = 33;
    for p in prefixes {
        head += &format!("{p}SIP/2.0/TCP sip{n}.example.com\n");
        n -= 1;
    }
    while n >= 1 {
        head += &format!("Via: SIP/2.0/TCP sip{n}.example.com\n");
        n -= 1;
    }
    head += &format!(
        "Via: SIP/2.0/TCP host.example.com;received=192.0.2.5;branch=very{}branchvalue\n",
        r("long", 50)
    );
    head += "Max-Forwards: 70\n";
    head += &format!(
        "Contact: <sip:{}@host5.example.net>\n",
        r("amazinglylongcallername", 5)
    );
    head += "Content-Type: application/sdp\nl: 150\n";
    let b = msg(&head, &sdp("192.0.2.1", "192.0.2.1"));
    let m = parse(&b).expect("longreq is well formed");
    assert_eq!(m.as_bytes(), &b);
    assert_eq!(m.vias().count(), 34);
    assert_eq!(m.top_via().unwrap().host, "sip33.example.com");
    assert_eq!(m.from_hdr().unwrap().tag().unwrap().len(), 2 + 150 + 3);
    let to = m.to_hdr().unwrap();
    assert_eq!(to.uri.port, Some(6000));
    assert!(to
        .uri
        .params
        .has(&format!("very{}ParameterNameWithNoValue", r("long", 25))));
}

// 3.1.1.8 dblreq
#[test]
fn dblreq_trailing_octets_in_datagram_ignored() {
    let reg = r#"
REGISTER sip:example.com SIP/2.0
To: sip:j.user@example.com
From: sip:j.user@example.com;tag=43251j3j324
Max-Forwards: 8
I: dblreq.0ha0isndaksdj99sdfafnl3lk233412
Contact: sip:j.user@host.example.com
CSeq: 8 REGISTER
Via: SIP/2.0/UDP 192.0.2.125;branch=z9hG4bKkdjuw23492
Content-Length: 0
"#;
    let inv = r#"
INVITE sip:joe@example.com SIP/2.0
t: sip:joe@example.com
From: sip:caller@example.net;tag=141334
Max-Forwards: 8
Call-ID: dblreq.0ha0isnda977644900765@192.0.2.15
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw380234
Content-Type: application/sdp
Content-Length: 150
"#;
    let first = msg(reg, "");
    let mut all = first.to_vec();
    all.extend_from_slice(&msg(inv, &sdp("192.0.2.15", "192.0.2.15")));
    let m = parse(&Bytes::from(all)).expect("register accepted");
    assert_eq!(m.method(), Some(Method::Register));
    assert_eq!(
        m.as_bytes(),
        &first,
        "the INVITE octets are not part of the message"
    );
    assert!(m.body().is_empty());
}

// 3.1.1.9 semiuri
#[test]
fn semiuri_params_in_user_part() {
    let head = r#"
OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0
To: sip:j_user@example.com
From: sip:caller@example.org;tag=33242
Max-Forwards: 3
Call-ID: semiuri.0ha0isndaksdj
CSeq: 8 OPTIONS
Accept: application/sdp, application/pkcs7-mime,
        multipart/mixed, multipart/signed,
        message/sip, message/sipfrag
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw
l: 0
"#;
    let m = parse(&msg(head, "")).expect("semiuri accepted");
    let u = Uri::parse(m.request_uri()).unwrap();
    assert_eq!(u.user, Some("user;par=u%40example.net"));
    assert_eq!(u.host, "example.com");
    assert_eq!(
        super::uri::unescape(u.user.unwrap()),
        "user;par=u@example.net"
    );
    let accept: Vec<_> = m.values_named("Accept").flat_map(split_list).collect();
    assert_eq!(accept.len(), 6);
    assert_eq!(accept[5], "message/sipfrag");
}

// 3.1.1.10 transports
#[test]
fn transports_varied_and_unknown() {
    let head = r#"
OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: <sip:caller@example.com>;tag=323
Max-Forwards: 70
Call-ID:  transports.kijh4akdnaqjkwendsasfdj
Accept: application/sdp
CSeq: 60 OPTIONS
Via: SIP/2.0/UDP t1.example.com;branch=z9hG4bKkdjuw
Via: SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf
Via: SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj
Via: SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en
Via: SIP/2.0/TCP t5.example.com;branch=z9hG4bK0a9idfnee
l: 0
"#;
    let m = parse(&msg(head, "")).expect("transports accepted");
    let t: Vec<_> = m.vias().map(|v| v.unwrap().transport).collect();
    assert_eq!(t, ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]);
    assert_eq!(m.call_id(), Some("transports.kijh4akdnaqjkwendsasfdj"));
}

// 3.1.1.12 unreason
#[test]
fn unreason_unusual_reason_phrase() {
    let head = "SIP/2.0 200 = 2**3 * 5**2 но сто девяносто девять - простое
Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923
Call-ID: unreason.1234ksdfak3j2erwedfsASdf
CSeq: 35 INVITE
From: sip:user@example.com;tag=11141343
To: sip:user@example.edu;tag=2229
Content-Length: 154
Content-Type: application/sdp
Contact: <sip:user@host198.example.com>
";
    let b = msg(head, &sdp("192.0.2.198", "192.0.2.198"));
    let m = parse(&b).expect("unreason accepted");
    assert_eq!(m.status(), Some(200));
    assert_eq!(
        m.reason(),
        "= 2**3 * 5**2 но сто девяносто девять - простое"
    );
    assert_eq!(m.body().len(), 154);
}

// 3.1.1.13 noreason
#[test]
fn noreason_empty_reason_phrase() {
    let head = "SIP/2.0 100 
Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe
Call-ID: noreason.asndj203insdf99223ndf
CSeq: 35 INVITE
From: <sip:user@example.com>;tag=39ansfi3
To: <sip:user@example.edu>;tag=902jndnke3
Content-Length: 0
Contact: <sip:user@host105.example.com>
";
    let m = parse(&msg(head, "")).expect("noreason accepted");
    assert_eq!(m.status(), Some(100));
    assert_eq!(m.reason(), "");
}

// 3.1.2.1 badinv01
#[test]
fn badinv01_extraneous_separators_rejected() {
    let head = r#"
INVITE sip:user@example.com SIP/2.0
To: sip:j.user@example.com
From: sip:caller@example.net;tag=134161461246
Max-Forwards: 7
Call-ID: badinv01.0ha0isndaksdjasdf3234nas
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.15;;,;,,
Contact: "Joe" <sip:joe@example.org>;;;;
Content-Length: 152
Content-Type: application/sdp
"#;
    let b = msg(head, &sdp("192.0.2.15", "192.0.2.15"));
    let e = parse(&b).unwrap_err();
    assert_eq!(e.status(), 400);
    // The Contact alone is also invalid.
    assert!(NameAddr::parse(r#""Joe" <sip:joe@example.org>;;;;"#).is_err());
}

// 3.1.2.2 clerr
#[test]
fn clerr_content_length_larger_than_datagram() {
    let head = r#"
INVITE sip:user@example.com SIP/2.0
Max-Forwards: 80
To: sip:j.user@example.com
From: sip:caller@example.net;tag=93942939o2
Contact: <sip:caller@hungry.example.net>
Call-ID: clerr.0ha0isndaksdjweiafasdk3
CSeq: 8 INVITE
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bK-39234-23523
Content-Type: application/sdp
Content-Length: 9999
"#;
    let b = msg(head, &sdp("192.0.2.155", "192.0.2.155"));
    assert_eq!(
        parse(&b).unwrap_err(),
        ParseError::ContentLengthExceedsMessage
    );
    // On a stream the framer waits for more bytes instead.
    let mut f = StreamFramer::new(Limits::default());
    f.push(&b);
    assert_eq!(f.next_frame(), Ok(None));
}

// 3.1.2.3 ncl
#[test]
fn ncl_negative_content_length() {
    let head = r#"
INVITE sip:user@example.com SIP/2.0
Max-Forwards: 254
To: sip:j.user@example.com
From: sip:caller@example.net;tag=32394234
Call-ID: ncl.0ha0isndaksdj2193423r542w35
CSeq: 0 INVITE
Via: SIP/2.0/UDP 192.0.2.53;branch=z9hG4bKkdjuw
Contact: <sip:caller@example53.example.net>
Content-Type: application/sdp
Content-Length: -999
"#;
    let b = msg(head, &sdp("192.0.2.53", "192.0.2.53"));
    assert_eq!(parse(&b).unwrap_err(), ParseError::BadContentLength);
    let mut f = StreamFramer::new(Limits::default());
    f.push(&b);
    assert_eq!(f.next_frame(), Err(ParseError::BadContentLength));
    let five = msg(&head.replace("-999", "five"), "");
    assert_eq!(parse(&five).unwrap_err(), ParseError::BadContentLength);
}

// 3.1.2.4 scalar02
#[test]
fn scalar02_overlarge_request_scalars() {
    let head = format!(
        "REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bK342sdfoi3
To: <sip:user@example.com>
From: <sip:user@example.com>;tag=239232jh3
CSeq: 36893488147419103232 REGISTER
Call-ID: scalar02.23o0pd9vanlq3wnrlnewofjas9ui32
Max-Forwards: 300
Expires: 1{}
Contact: <sip:user@host129.example.com>
  ;expires=280297596632815
Content-Length: 0
",
        "0".repeat(100)
    );
    let e = parse(&msg(&head, "")).unwrap_err();
    assert_eq!(e, ParseError::BadHeader("CSeq"));
    assert_eq!(e.status(), 400);
}

// 3.1.2.5 scalarlg
#[test]
fn scalarlg_overlarge_response_scalars() {
    let head = r#"
SIP/2.0 503 Service Unavailable
Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bKzzxdiwo34sw;received=192.0.2.129
To: <sip:user@example.com>
From: <sip:other@example.net>;tag=2easdjfejw
CSeq: 9292394834772304023312 OPTIONS
Call-ID: scalarlg.noase0of0234hn2qofoaf0232aewf2394r
Retry-After: 949302838503028349304023988
Warning: 1812 overture "In Progress"
Content-Length: 0
"#;
    assert!(
        parse(&msg(head, "")).is_err(),
        "response with CSeq >= 2^32 is discarded"
    );
}

// 3.1.2.6 quotbal
#[test]
fn quotbal_unterminated_quote() {
    let head = r#"
INVITE sip:user@example.com SIP/2.0
To: "Mr. J. User <sip:j.user@example.com>
From: sip:caller@example.net;tag=93334
Max-Forwards: 10
Call-ID: quotbal.aksdj
Contact: <sip:caller@host59.example.net>
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.59:5050;branch=z9hG4bKkdjuw39234
Content-Type: application/sdp
Content-Length: 150
"#;
    let e = parse(&msg(head, &sdp("192.0.2.15", "192.0.2.15"))).unwrap_err();
    assert_eq!(e.status(), 400);
}

fn start_line_rejected(first: &str) {
    let head = format!(
        "{first}
To: sip:user@example.com
From: sip:caller@example.net;tag=39291
Max-Forwards: 23
Call-ID: sl.1@192.0.2.5
CSeq: 1 INVITE
Via: SIP/2.0/UDP 192.0.2.5;branch=z9hG4bK1
Content-Length: 0
"
    );
    let e = parse(&msg(&head, "")).unwrap_err();
    assert!(
        matches!(e, ParseError::BadStartLine | ParseError::BadVersion),
        "{first:?} gave {e:?}"
    );
}

// 3.1.2.7 ltgtruri, 3.1.2.8 lwsruri, 3.1.2.9 lwsstart, 3.1.2.10 trws (start lines only)
#[test]
fn malformed_request_lines_rejected() {
    start_line_rejected("INVITE <sip:user@example.com> SIP/2.0");
    start_line_rejected("INVITE sip:user@example.com; lr SIP/2.0");
    start_line_rejected("INVITE  sip:user@example.com  SIP/2.0");
    start_line_rejected("INVITE sip:remote-target@example.com SIP/2.0  ");
}

// 3.1.2.16 badvers (start line), 3.1.2.19 bigcode
#[test]
fn unknown_version_and_overlarge_code() {
    let head = "OPTIONS sip:t.watson@example.org SIP/7.0\nVia: SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw\nMax-Forwards: 70\nFrom: A. Bell <sip:a.g.bell@example.com>;tag=qweoiqpe\nTo: T. Watson <sip:t.watson@example.org>\nCall-ID: badvers.31417@c.example.com\nCSeq: 1 OPTIONS\nl: 0\n";
    let e = Message::parse(msg(head, ""), Framing::Datagram, &Limits::default()).unwrap_err();
    assert_eq!(e, ParseError::BadVersion);
    assert_eq!(e.status(), 505);
    let resp = "SIP/2.0 4294967301 better not break the receiver\nVia: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe\nCall-ID: bigcode.asdof3uj203asdnf3429uasdhfas3ehjasdfas9i\nCSeq: 353494 INVITE\nFrom: <sip:user@example.com>;tag=39ansfi3\nTo: <sip:user@example.edu>;tag=902jndnke3\nContent-Length: 0\n";
    assert_eq!(
        Message::parse(msg(resp, ""), Framing::Datagram, &Limits::default()).unwrap_err(),
        ParseError::BadStartLine
    );
}

// 3.1.2.17 mismatch01
#[test]
fn cseq_method_mismatch_rejected() {
    let head = "OPTIONS sip:user@example.com SIP/2.0\nTo: sip:j.user@example.com\nFrom: sip:caller@example.net;tag=34525\nMax-Forwards: 6\nCall-ID: mismatch01.dj0234sxdfl3\nCSeq: 8 INVITE\nVia: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw\nl: 0\n";
    assert_eq!(
        parse(&msg(head, "")).unwrap_err(),
        ParseError::CSeqMethodMismatch
    );
}
