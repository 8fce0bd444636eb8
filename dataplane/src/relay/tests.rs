//! Relay behaviour over real loopback sockets, with raw-frame clients.

use super::*;
use crate::digest::{self, Challenge, StaticCredentials};
use crate::net::kernel::KernelBackend;
use crate::runtime::{Runtime, RuntimeConfig};
use crate::wire::{ByteRange, Event, Ident, Method, Parser, ParserLimits, RequestWriter, Status};
use std::io::{Read, Write};
use std::net::TcpStream;

/// A relay runtime on loopback.
struct Fixture {
    _rt: Runtime<RelayControl, RelayPeer>,
    addr: SocketAddr,
}

fn start(workers: usize, tweak: impl Fn(&mut RelayConfig)) -> Fixture {
    let mut creds = StaticCredentials::new();
    creds.insert("alice", "relay.test", "alicepw");
    creds.insert("bob", "relay.test", "bobpw");
    let mut cfg = RelayConfig::new("relay.test", Arc::new(creds), [[1; 32], [2; 32]]);
    tweak(&mut cfg);
    // Port 0 is resolved by the runtime; the relay learns its port below, before any traffic.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    cfg.listeners = vec![ListenerRole {
        port: addr.port(),
        tls: false,
    }];
    let cfg = Arc::new(cfg);
    let rt = Runtime::start(
        &RuntimeConfig {
            workers,
            ..RuntimeConfig::default()
        },
        &[addr],
        |_| KernelBackend::new(1024),
        move |ctx| Relay::new(cfg.clone(), ctx),
    )
    .unwrap();
    Fixture { _rt: rt, addr }
}

/// One received frame, flattened.
#[derive(Debug)]
struct Frame {
    head: FrameHead,
    body: Vec<u8>,
    flag: Continuation,
}

impl Frame {
    fn code(&self) -> Option<u16> {
        self.head.status_code()
    }
    fn header(&self, name: &str) -> String {
        String::from_utf8_lossy(self.head.header(name).unwrap_or_default()).into_owned()
    }
    fn to_path(&self) -> String {
        String::from_utf8_lossy(self.head.to_path_raw()).into_owned()
    }
    fn sender_path(&self) -> String {
        String::from_utf8_lossy(self.head.from_path_raw()).into_owned()
    }
}

/// A blocking raw MSRP client.
struct Client {
    s: TcpStream,
    parser: Parser,
    buf: BytesMut,
    uri: String,
    rng: Rng,
}

impl Client {
    fn connect(addr: SocketAddr, uri: &str) -> Client {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Client {
            s,
            parser: Parser::new(ParserLimits::default()),
            buf: BytesMut::new(),
            uri: uri.into(),
            rng: Rng::from_os(),
        }
    }

    fn tid(&mut self) -> Ident {
        Ident::random(&mut self.rng)
    }

    fn write(&mut self, b: &[u8]) {
        self.s.write_all(b).unwrap();
    }

    /// Next frame; `None` when the relay closed the connection.
    fn read(&mut self) -> Option<Frame> {
        let mut head = None;
        let mut body = Vec::new();
        loop {
            match self.parser.poll(&mut self.buf).unwrap() {
                Some(Event::Head(h)) => head = Some(h),
                Some(Event::Body(b)) => body.extend_from_slice(&b),
                Some(Event::End { flag }) => {
                    return Some(Frame {
                        head: head.unwrap(),
                        body,
                        flag,
                    })
                }
                None => {
                    let mut tmp = [0u8; 65536];
                    match self.s.read(&mut tmp) {
                        Ok(0) => return None,
                        Ok(n) => self.buf.extend_from_slice(&tmp[..n]),
                        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return None,
                        Err(e) => panic!("read: {e}"),
                    }
                }
            }
        }
    }

    fn auth(&mut self, relay: &str, extra: &[(&str, &str)]) -> Frame {
        let mut b = BytesMut::new();
        let tid = self.tid();
        let mut w = RequestWriter::new(&mut b, tid, "AUTH", &[relay], &[self.uri.as_str()]);
        for (n, v) in extra {
            w = w.header(n, v.as_bytes());
        }
        w.end(Continuation::Complete);
        self.write(&b);
        self.read().expect("AUTH answered")
    }

    /// Full AUTH exchange; returns the Use-Path.
    fn login(&mut self, relay: &str, user: &str, pw: &str) -> String {
        let ch = self.auth(relay, &[]);
        assert_eq!(ch.code(), Some(401));
        let c = Challenge::parse(&ch.header("WWW-Authenticate")).unwrap();
        let creds = digest::Credentials::answer(&c, user, pw, "AUTH", relay, "0a4f113b", 1);
        let ok = self.auth(relay, &[("Authorization", &creds.render())]);
        assert_eq!(ok.code(), Some(200), "{ok:?}");
        ok.header("Use-Path")
    }

    fn send(&mut self, to: &str, mid: &str, body: &[u8], extra: &[(&str, &str)]) -> Ident {
        let mut b = BytesMut::new();
        let tid = Ident::random_for_body(&mut self.rng, body).unwrap();
        let mut w = RequestWriter::new(
            &mut b,
            tid,
            "SEND",
            &to.split(' ').collect::<Vec<_>>(),
            &[self.uri.as_str()],
        )
        .message_id(mid.as_bytes())
        .byte_range(ByteRange {
            start: 1,
            end: Some(body.len() as u64),
            total: Some(body.len() as u64),
        });
        for (n, v) in extra {
            w = w.header(n, v.as_bytes());
        }
        w.content_type(b"text/plain")
            .body(body, Continuation::Complete);
        self.write(&b);
        tid
    }

    fn respond(&mut self, req: &Frame, code: u16) {
        let mut b = BytesMut::new();
        crate::wire::ResponseWriter::new(&mut b, &req.head, code, None, &[self.uri.as_str()])
            .unwrap()
            .end();
        self.write(&b);
    }
}

fn relay_uri(f: &Fixture) -> String {
    format!("msrp://relay.test:{};tcp", f.addr.port())
}

#[test]
fn auth_challenge_success_and_refusals() {
    let f = start(1, |_| {});
    let relay = relay_uri(&f);
    let mut a = Client::connect(f.addr, "msrp://a.invalid:1111/a1;tcp");
    let ch = a.auth(&relay, &[]);
    assert_eq!(ch.code(), Some(401));
    assert_eq!(ch.to_path(), "msrp://a.invalid:1111/a1;tcp");
    assert_eq!(ch.sender_path(), relay);
    let c = Challenge::parse(&ch.header("WWW-Authenticate")).unwrap();
    assert!(c.qop_auth);
    assert_eq!(c.realm, "relay.test");

    // Wrong password: 403.
    let bad = digest::Credentials::answer(&c, "alice", "nope", "AUTH", &relay, "c1", 1);
    assert_eq!(
        a.auth(&relay, &[("Authorization", &bad.render())]).code(),
        Some(403)
    );
    // A digest-uri other than the relay: 403.
    let wrong_uri =
        digest::Credentials::answer(&c, "alice", "alicepw", "AUTH", "msrp://x:1;tcp", "c1", 1);
    assert_eq!(
        a.auth(&relay, &[("Authorization", &wrong_uri.render())])
            .code(),
        Some(403)
    );
    // Expires out of bounds: 423 with the bound.
    let good = digest::Credentials::answer(&c, "alice", "alicepw", "AUTH", &relay, "c1", 1);
    let low = a.auth(
        &relay,
        &[("Authorization", &good.render()), ("Expires", "5")],
    );
    assert_eq!(low.code(), Some(423));
    assert_eq!(low.header("Min-Expires"), "60");
    let high = a.auth(
        &relay,
        &[("Authorization", &good.render()), ("Expires", "999999")],
    );
    assert_eq!(high.code(), Some(423));
    assert_eq!(high.header("Max-Expires"), "86400");
    // Good, with Expires in bounds.
    let ok = a.auth(
        &relay,
        &[("Authorization", &good.render()), ("Expires", "900")],
    );
    assert_eq!(ok.code(), Some(200));
    assert_eq!(ok.header("Expires"), "900");
    let use_path = ok.header("Use-Path");
    assert!(
        use_path.starts_with(&format!("msrp://relay.test:{}/", f.addr.port())),
        "{use_path}"
    );
    assert!(use_path.ends_with(";tcp"));
    let ainfo = ok.header("Authentication-Info");
    assert!(
        ainfo.contains("rspauth=\"") && ainfo.contains("qop=auth") && ainfo.contains("nc=00000001"),
        "{ainfo}"
    );
    // The rspauth proves the relay knows the password (RFC 2617 §3.2.3).
    let ha1 = digest::ha1(digest::Algorithm::Md5, "alice", "relay.test", "alicepw");
    assert!(ainfo.contains(&digest::rspauth(&good, &ha1)));
}

#[test]
fn too_many_auth_failures_close_the_connection() {
    let f = start(1, |_| {});
    let relay = relay_uri(&f);
    let mut a = Client::connect(f.addr, "msrp://a.invalid:1111/a1;tcp");
    let ch = a.auth(&relay, &[]);
    let c = Challenge::parse(&ch.header("WWW-Authenticate")).unwrap();
    let bad = digest::Credentials::answer(&c, "alice", "nope", "AUTH", &relay, "c1", 1);
    for _ in 0..3 {
        assert_eq!(
            a.auth(&relay, &[("Authorization", &bad.render())]).code(),
            Some(403)
        );
    }
    assert!(
        a.read().is_none(),
        "connection must be closed after 3 failures"
    );
}

/// Two clients of the same relay exchange a message, its 200s and a success REPORT.
fn exchange_through_one_relay(workers: usize, pairs: usize) {
    let f = start(workers, |_| {});
    let relay = relay_uri(&f);
    for p in 0..pairs {
        let mut a = Client::connect(f.addr, &format!("msrp://a.invalid:1111/a{p};tcp"));
        let mut b = Client::connect(f.addr, &format!("msrp://b.invalid:2222/b{p};tcp"));
        let up_a = a.login(&relay, "alice", "alicepw");
        let up_b = b.login(&relay, "bob", "bobpw");
        // SDP would tell A: B's path = reverse(Use-Path(B)) + B's URI.
        let to = format!("{up_a} {up_b} {}", b.uri);
        let body = format!("hello {p}");
        let tid = a.send(
            &to,
            &format!("msg-{p}"),
            body.as_bytes(),
            &[("Success-Report", "yes")],
        );
        let ok = a.read().unwrap();
        assert_eq!(ok.code(), Some(200));
        assert_eq!(ok.head.transaction_id(), tid.as_bytes());
        assert_eq!(ok.to_path(), a.uri);

        let got = b.read().unwrap();
        assert_eq!(got.head.method(), Some(Method::Send));
        assert_eq!(got.body, body.as_bytes());
        assert_eq!(got.to_path(), b.uri);
        assert_eq!(got.sender_path(), format!("{up_b} {up_a} {}", a.uri));
        assert_eq!(got.header("Message-ID"), format!("msg-{p}"));
        assert_eq!(got.header("Success-Report"), "yes");
        b.respond(&got, 200);

        // B reports success end to end, back along the From-Path it saw.
        let mut r = BytesMut::new();
        let rt = b.tid();
        RequestWriter::new(
            &mut r,
            rt,
            "REPORT",
            &got.sender_path().split(' ').collect::<Vec<_>>(),
            &[b.uri.as_str()],
        )
        .message_id(format!("msg-{p}").as_bytes())
        .byte_range(ByteRange {
            start: 1,
            end: Some(body.len() as u64),
            total: Some(body.len() as u64),
        })
        .status(0, 200, Some("OK"))
        .end(Continuation::Complete);
        b.write(&r);
        let rep = a.read().unwrap();
        assert_eq!(rep.head.method(), Some(Method::Report));
        assert_eq!(rep.to_path(), a.uri);
        assert_eq!(rep.sender_path(), format!("{up_a} {up_b} {}", b.uri));
        let st = rep.head.status().unwrap().unwrap();
        assert_eq!((st.namespace, st.code), (0, 200));
    }
}

#[test]
fn message_and_report_through_one_relay() {
    exchange_through_one_relay(1, 1);
}

#[test]
fn message_and_report_across_workers() {
    // With several workers the kernel spreads the connections; over 6 pairs some tokens live on
    // another worker than the connection that uses them.
    exchange_through_one_relay(2, 6);
}

#[test]
fn downstream_error_becomes_a_failure_report() {
    let f = start(1, |_| {});
    let relay = relay_uri(&f);
    let mut a = Client::connect(f.addr, "msrp://a.invalid:1111/a1;tcp");
    let mut b = Client::connect(f.addr, "msrp://b.invalid:2222/b1;tcp");
    let up_a = a.login(&relay, "alice", "alicepw");
    let up_b = b.login(&relay, "bob", "bobpw");
    a.send(&format!("{up_a} {up_b} {}", b.uri), "msg-err", b"x", &[]);
    assert_eq!(a.read().unwrap().code(), Some(200));
    let got = b.read().unwrap();
    b.respond(&got, 415);
    let rep = a.read().unwrap();
    assert_eq!(rep.head.method(), Some(Method::Report));
    assert_eq!(rep.header("Message-ID"), "msg-err");
    let st: Status = rep.head.status().unwrap().unwrap();
    assert_eq!(st.code, 415);
    assert_eq!(
        rep.head.byte_range(),
        Some(ByteRange {
            start: 1,
            end: Some(1),
            total: Some(1)
        })
    );
}

#[test]
fn unknown_token_spoofed_from_and_foreign_address() {
    let f = start(1, |_| {});
    let relay = relay_uri(&f);
    let mut a = Client::connect(f.addr, "msrp://a.invalid:1111/a1;tcp");
    let up_a = a.login(&relay, "alice", "alicepw");

    // A token we never minted: 481.
    let fake = format!(
        "msrp://relay.test:{}/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA;tcp",
        f.addr.port()
    );
    a.send(
        &format!("{fake} msrp://b.invalid:2222/b;tcp"),
        "m1xx",
        b"x",
        &[],
    );
    assert_eq!(a.read().unwrap().code(), Some(481));
    // No next hop after our token: 481.
    a.send(&up_a, "m2xx", b"x", &[]);
    assert_eq!(a.read().unwrap().code(), Some(481));
    // A From-Path other than the one that authenticated: 403.
    let real_uri = std::mem::replace(&mut a.uri, "msrp://evil.invalid:1/x;tcp".into());
    a.send(
        &format!("{up_a} msrp://127.0.0.1:9/b;tcp"),
        "m3xx",
        b"x",
        &[],
    );
    assert_eq!(a.read().unwrap().code(), Some(403));
    a.uri = real_uri;
    // Not addressed to this relay at all: the connection is dropped (RFC 4976 §6.2).
    a.send(
        "msrp://other.example:2855/t;tcp msrp://b.invalid:2222/b;tcp",
        "m4xx",
        b"x",
        &[],
    );
    assert!(a.read().is_none());
}

#[test]
fn large_chunked_message_streams_through_intact() {
    let f = start(1, |_| {});
    let relay = relay_uri(&f);
    let mut a = Client::connect(f.addr, "msrp://a.invalid:1111/a1;tcp");
    let mut b = Client::connect(f.addr, "msrp://b.invalid:2222/b1;tcp");
    let up_a = a.login(&relay, "alice", "alicepw");
    let up_b = b.login(&relay, "bob", "bobpw");
    let to = format!("{up_a} {up_b} {}", b.uri);
    let total = 10 * 1024 * 1024usize;
    let msg: Vec<u8> = (0..total).map(|i| (i * 31 % 251) as u8).collect();
    let chunk = 1024 * 1024;
    let writer_to = to.clone();
    let a_uri = a.uri.clone();
    let mut a_stream = a.s.try_clone().unwrap();
    let msg2 = msg.clone();
    let w = std::thread::spawn(move || {
        let mut rng = Rng::from_os();
        for (i, part) in msg2.chunks(chunk).enumerate() {
            let mut b = BytesMut::new();
            let start = (i * chunk + 1) as u64;
            let tid = Ident::random_for_body(&mut rng, part).unwrap();
            let flag = if start as usize + part.len() > total {
                Continuation::Complete
            } else {
                Continuation::More
            };
            RequestWriter::new(
                &mut b,
                tid,
                "SEND",
                &writer_to.split(' ').collect::<Vec<_>>(),
                &[a_uri.as_str()],
            )
            .message_id(b"big-1")
            .byte_range(ByteRange {
                start,
                end: Some(start + part.len() as u64 - 1),
                total: Some(total as u64),
            })
            .content_type(b"application/octet-stream")
            .body(part, flag);
            a_stream.write_all(&b).unwrap();
        }
    });
    let mut got = vec![0u8; total];
    let mut received = 0;
    let mut last_flag = Continuation::More;
    while last_flag != Continuation::Complete {
        let fr = b.read().unwrap();
        let r = fr.head.byte_range().unwrap();
        let at = (r.start - 1) as usize;
        got[at..at + fr.body.len()].copy_from_slice(&fr.body);
        received += fr.body.len();
        last_flag = fr.flag;
        b.respond(&fr, 200);
    }
    w.join().unwrap();
    assert_eq!(received, total);
    assert!(got == msg, "message corrupted in transit");
    let mut oks = 0;
    while oks < total / chunk {
        assert_eq!(a.read().unwrap().code(), Some(200));
        oks += 1;
    }
}

#[test]
fn client_killed_mid_chunk_aborts_the_forwarded_chunk() {
    let f = start(1, |_| {});
    let relay = relay_uri(&f);
    let mut a = Client::connect(f.addr, "msrp://a.invalid:1111/a1;tcp");
    let mut b = Client::connect(f.addr, "msrp://b.invalid:2222/b1;tcp");
    let up_a = a.login(&relay, "alice", "alicepw");
    let up_b = b.login(&relay, "bob", "bobpw");
    let mut buf = BytesMut::new();
    let tid = a.tid();
    RequestWriter::new(
        &mut buf,
        tid,
        "SEND",
        &[up_a.as_str(), up_b.as_str(), b.uri.as_str()],
        &[a.uri.as_str()],
    )
    .message_id(b"cut-1")
    .byte_range(ByteRange {
        start: 1,
        end: Some(100_000),
        total: Some(100_000),
    })
    .content_type(b"text/plain")
    .body(&[], Continuation::More);
    // Drop what body() wrote after the blank line: only the head and a partial body go out.
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    buf.truncate(head_end);
    buf.extend_from_slice(&[b'z'; 5000]);
    a.write(&buf);
    assert_eq!(a.read().unwrap().code(), Some(200));
    drop(a);
    let fr = b.read().unwrap();
    assert_eq!(
        fr.flag,
        Continuation::Abort,
        "the relay must end the chunk with #"
    );
    assert_eq!(fr.body.len(), 5000);
    assert_eq!(
        fr.head.byte_range().unwrap().end,
        None,
        "large chunks go out interruptible"
    );
}
