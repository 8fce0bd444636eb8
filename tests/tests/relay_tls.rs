//! `msrps` with rustls on both sides (RFC 4976 §9.2): clients to a relay over TLS, relay to
//! relay over mutually authenticated TLS, and the certificate checks that make it mutual.
//! Certificates are made by the test (rcgen) and configured through `[tls]`.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use e2e::pki::TestCa;
use e2e::procs::TempDir;
use e2e::scenario::{failure_report, path_to, transfer};
use e2e::{pattern, Frame, InProcess, MsrpClient, RelayNode, ALICE, BOB};

/// A TLS-only relay named `host` with a certificate from `ca`, trusting `ca` for peers.
fn tls_node(dir: &TempDir, ca: &TestCa, host: &str) -> RelayNode {
    let leaf = ca.leaf(dir.path(), host);
    let mut n = RelayNode::new(host);
    n.plain = false;
    n.tls = true;
    n.cert = Some((leaf.cert_path, leaf.key_path));
    n.ca = vec![ca.pem_path.clone()];
    n
}

fn tls_client(relay: &InProcess, ca: &TestCa, name: &str) -> MsrpClient {
    MsrpClient::connect_tls(
        relay.tls(),
        &relay.host,
        ca.client_config(),
        &format!("msrps://{name}.invalid:2855/{name}-s;tcp"),
    )
    .expect("TLS connection to the relay")
}

#[test]
fn clients_over_tls_through_one_relay() {
    let dir = TempDir::new("tls1");
    let ca = TestCa::new(dir.path(), "msrp");
    let r = tls_node(&dir, &ca, "relay.test").start();
    let mut a = tls_client(&r, &ca, "alice");
    let mut b = tls_client(&r, &ca, "bob");
    let ua = a.auth(&[&r.tls_uri()], &ALICE).use_path;
    let ub = b.auth(&[&r.tls_uri()], &BOB).use_path;
    assert!(
        ua[0].starts_with(&format!("msrps://relay.test:{}/", r.tls().port())),
        "a TLS listener mints msrps URIs: {ua:?}"
    );
    let to = path_to(&ua, &ub, &b.uri);
    let body = pattern(10 * 1024 * 1024, 3);
    let t = transfer(&mut a, &to, &mut b, &body, 512 * 1024, "tls-10mb");
    println!("TLS, one relay: 10 MiB in {:?}", t.elapsed);
    failure_report(&mut a, &to, &mut b, 415, "tls-fail");
}

#[test]
fn a_client_must_verify_the_relay_name() {
    let dir = TempDir::new("tls-name");
    let ca = TestCa::new(dir.path(), "msrp");
    let r = tls_node(&dir, &ca, "relay.test").start();
    let wrong = MsrpClient::connect_tls(
        r.tls(),
        "other.test",
        ca.client_config(),
        "msrps://x:1/y;tcp",
    );
    assert!(
        wrong.is_err(),
        "certificate for relay.test accepted as other.test"
    );
    let other_ca = TestCa::new(dir.path(), "other");
    let untrusted = MsrpClient::connect_tls(
        r.tls(),
        "relay.test",
        other_ca.client_config(),
        "msrps://x:1/y;tcp",
    );
    assert!(
        untrusted.is_err(),
        "certificate from an unknown CA accepted"
    );
}

#[test]
fn relays_talk_over_mutually_authenticated_tls() {
    let dir = TempDir::new("mtls");
    let ca = TestCa::new(dir.path(), "msrp");
    let r1 = tls_node(&dir, &ca, "r1.test").host_alias("r2.test").start();
    let r2 = tls_node(&dir, &ca, "r2.test").host_alias("r1.test").start();
    let mut a = tls_client(&r1, &ca, "alice");
    let mut b = tls_client(&r2, &ca, "bob");
    let ua = a.auth(&[&r1.tls_uri()], &ALICE).use_path;
    let ub = b.auth(&[&r2.tls_uri()], &BOB).use_path;
    let to = path_to(&ua, &ub, &b.uri);
    let body = pattern(10 * 1024 * 1024, 4);
    let t = transfer(&mut a, &to, &mut b, &body, 512 * 1024, "mtls-10mb");
    assert_eq!(t.path_at_b, format!("{} {} {}", ub[0], ua[0], a.uri));
    println!("mutual TLS, two relays: 10 MiB in {:?}", t.elapsed);
    failure_report(&mut a, &to, &mut b, 415, "mtls-fail");
}

/// A stand-in next-hop relay: a TLS server that demands a client certificate from the test
/// CA, reads one request and answers it 200. Returns the client certificate it saw and the
/// request's head.
fn fake_next_hop(
    listener: TcpListener,
    server: Arc<rustls::ServerConfig>,
) -> std::thread::JoinHandle<Result<(Vec<u8>, String), String>> {
    std::thread::spawn(move || {
        let (sock, _) = listener.accept().map_err(|e| e.to_string())?;
        sock.set_read_timeout(Some(Duration::from_secs(10))).ok();
        let conn = rustls::ServerConnection::new(server).map_err(|e| e.to_string())?;
        let mut tls = rustls::StreamOwned::new(conn, sock);
        let mut got = Vec::new();
        let mut buf = [0u8; 16384];
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = tls
                .read(&mut buf)
                .map_err(|e| format!("fake relay read: {e}"))?;
            if n == 0 {
                return Err("closed before a request arrived".into());
            }
            got.extend_from_slice(&buf[..n]);
        }
        let cert = tls
            .conn
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.to_vec())
            .ok_or("no client certificate")?;
        let head = String::from_utf8_lossy(&got).into_owned();
        let tid = head
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_string();
        let from = head
            .lines()
            .find_map(|l| l.strip_prefix("From-Path: "))
            .and_then(|f| f.split(' ').next())
            .unwrap_or_default()
            .to_string();
        let to = head
            .lines()
            .find_map(|l| l.strip_prefix("To-Path: "))
            .and_then(|f| f.split(' ').next())
            .unwrap_or_default()
            .to_string();
        let resp =
            format!("MSRP {tid} 200 OK\r\nTo-Path: {from}\r\nFrom-Path: {to}\r\n-------{tid}$\r\n");
        tls.write_all(resp.as_bytes()).map_err(|e| e.to_string())?;
        std::thread::sleep(Duration::from_millis(300));
        Ok((cert, head))
    })
}

/// The relay presents its own certificate when it connects to a next-hop relay (mutual TLS,
/// RFC 4976 §9.2), and checks the next hop's certificate against the URI's host name.
#[test]
fn a_relay_presents_its_certificate_and_checks_the_next_hop() {
    let dir = TempDir::new("mtls-fake");
    let ca = TestCa::new(dir.path(), "msrp");
    let r1_leaf = ca.leaf(dir.path(), "r1.test");
    let mut n1 = RelayNode::new("r1.test")
        .host_alias("r2.test")
        .host_alias("wrong.test");
    n1.plain = false;
    n1.tls = true;
    n1.cert = Some((r1_leaf.cert_path.clone(), r1_leaf.key_path.clone()));
    n1.ca = vec![ca.pem_path.clone()];
    let r1 = n1.start();
    let mut a = tls_client(&r1, &ca, "alice");
    let ua = a.auth(&[&r1.tls_uri()], &ALICE).use_path;

    let fake_leaf = ca.leaf(dir.path(), "r2.test");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let fake = fake_next_hop(listener, ca.server_config_requiring_client_cert(&fake_leaf));
    let to = vec![
        ua[0].clone(),
        format!("msrps://r2.test:{port}/fake-session;tcp"),
        "msrps://bob.invalid:2855/b;tcp".to_string(),
    ];
    let tid = a.send_chunk(
        &to,
        "to-fake",
        1,
        Some(5),
        b"hello",
        dataplane::wire::Continuation::Complete,
        &[],
    );
    assert_eq!(a.response_to(&tid).code(), Some(200));
    let (cert, head) = fake
        .join()
        .unwrap()
        .expect("the fake next hop got a request");
    assert_eq!(
        cert,
        r1_leaf.der.to_vec(),
        "the relay presented its own certificate"
    );
    assert!(
        head.contains(&format!("From-Path: {} {}", ua[0], a.uri)),
        "{head}"
    );

    // A next hop whose certificate does not name it: the relay refuses the connection and
    // the sender gets a failure REPORT.
    let wrong_leaf = ca.leaf(dir.path(), "someone-else.test");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let fake = fake_next_hop(
        listener,
        ca.server_config_requiring_client_cert(&wrong_leaf),
    );
    let to = vec![
        ua[0].clone(),
        format!("msrps://wrong.test:{port}/fake-session;tcp"),
        "msrps://bob.invalid:2855/b;tcp".to_string(),
    ];
    let tid = a.send_chunk(
        &to,
        "to-wrong",
        1,
        Some(5),
        b"hello",
        dataplane::wire::Continuation::Complete,
        &[],
    );
    assert_eq!(a.response_to(&tid).code(), Some(200));
    let rep: Frame = a.expect("failure REPORT for the unverifiable hop", |f| {
        f.is_request("REPORT") && f.message_id() == "to-wrong"
    });
    let (_, code) = rep.status().expect("Status");
    assert_ne!(code, 200, "{rep:?}");
    assert!(
        fake.join().unwrap().is_err(),
        "no plaintext reached the impostor"
    );
}

/// A relay asks for client certificates: one from an unknown CA is refused in the handshake,
/// none at all is fine (that is a client, RFC 4976 §6.1).
#[test]
fn a_client_certificate_from_an_unknown_ca_is_refused() {
    let dir = TempDir::new("mtls-bad");
    let ca = TestCa::new(dir.path(), "msrp");
    let r = tls_node(&dir, &ca, "relay.test").start();
    let rogue_ca = TestCa::new(dir.path(), "rogue");
    let rogue = rogue_ca.leaf(dir.path(), "rogue.test");
    // Trusts the relay's CA, presents a certificate the relay cannot verify.
    let cfg = Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(ca.roots())
        .with_client_auth_cert(vec![rogue.der.clone()], rogue.key())
        .unwrap(),
    );
    let refused =
        match MsrpClient::connect_tls(r.tls(), "relay.test", cfg, "msrps://x.invalid:1/x;tcp") {
            Err(_) => true,
            // TLS 1.3: the server judges the client certificate after the client finished.
            Ok(mut c) => {
                let auth = format!(
                    "MSRP t1 AUTH\r\nTo-Path: {}\r\nFrom-Path: {}\r\n-------t1$\r\n",
                    r.tls_uri(),
                    c.uri
                );
                c.write_raw(auth.as_bytes()).is_err() || matches!(c.read_frame(), Err(_) | Ok(None))
            }
        };
    assert!(refused, "a certificate from an unknown CA was accepted");
    // A certificate-less client still gets in.
    let mut ok = tls_client(&r, &ca, "carol");
    ok.auth(&[&r.tls_uri()], &ALICE);
}

/// RFC 4976 §5.1 over TLS: the AUTH for the outer relay tunnelled through the inner one, which
/// reaches the outer relay over mutually authenticated TLS.
#[test]
fn auth_through_inner_relay_over_mutual_tls() {
    let dir = TempDir::new("mtls-chain");
    let ca = TestCa::new(dir.path(), "msrp");
    let inner = tls_node(&dir, &ca, "inner.test")
        .host_alias("outer.test")
        .start();
    let outer = tls_node(&dir, &ca, "outer.test").start();
    let mut a = tls_client(&inner, &ca, "alice");
    let ui = a.auth(&[&inner.tls_uri()], &ALICE).use_path;
    let outer_uri = outer.tls_uri();
    let grant = a.auth(&[&ui[0], &outer_uri], &ALICE);
    assert_eq!(grant.use_path.len(), 2);
    assert_eq!(grant.use_path[0], ui[0]);
    assert!(grant.use_path[1].starts_with("msrps://outer.test:"));
    let mut b = tls_client(&outer, &ca, "bob");
    let ub = b.auth(&[&outer_uri], &BOB).use_path;
    let to = path_to(&grant.use_path, &ub, &b.uri);
    transfer(
        &mut a,
        &to,
        &mut b,
        &pattern(1024 * 1024, 5),
        64 * 1024,
        "mtls-chain",
    );
}

/// A TCP connection to the TLS port that never starts its handshake is closed after the
/// probation period like any other silent connection (RFC 4976 §6.1).
#[test]
fn a_tls_connection_that_never_handshakes_is_closed() {
    let dir = TempDir::new("tls-silent");
    let ca = TestCa::new(dir.path(), "msrp");
    let mut n = tls_node(&dir, &ca, "relay.test");
    n.probation_secs = 1;
    let r = n.start();
    let mut s = std::net::TcpStream::connect(r.tls()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let start = std::time::Instant::now();
    let mut buf = [0u8; 64];
    let got = s.read(&mut buf);
    assert!(matches!(got, Ok(0)) || got.is_err(), "{got:?}");
    assert!(
        start.elapsed() >= Duration::from_millis(900),
        "{:?}",
        start.elapsed()
    );
    println!("silent TLS connection closed after {:?}", start.elapsed());
}

/// RFC 4976 §6.3: when the previous hop presents a certificate it is a relay, and its
/// certificate must name the host of the first From-Path URI; a relay calling itself
/// something else is refused.
#[test]
fn a_relay_certificate_must_name_the_first_from_path_host() {
    let dir = TempDir::new("mtls-liar");
    let ca = TestCa::new(dir.path(), "msrp");
    // The inner relay mints URIs for "liar.test" but holds a certificate for "inner.test".
    let leaf = ca.leaf(dir.path(), "inner.test");
    let mut n = RelayNode::new("liar.test").host_alias("outer.test");
    n.plain = false;
    n.tls = true;
    n.cert = Some((leaf.cert_path, leaf.key_path));
    n.ca = vec![ca.pem_path.clone()];
    let inner = n.start();
    let outer = tls_node(&dir, &ca, "outer.test").start();
    let mut a = MsrpClient::connect_tls(
        inner.tls(),
        "inner.test",
        ca.client_config(),
        "msrps://alice.invalid:2855/alice-s;tcp",
    )
    .expect("TLS to the inner relay");
    let ui = a.auth(&[&inner.tls_uri()], &ALICE).use_path;
    assert!(ui[0].starts_with("msrps://liar.test:"), "{ui:?}");
    let refused = a
        .try_auth(&[&ui[0], &outer.tls_uri()], &ALICE, None)
        .expect_err("outer relay accepted a relay whose certificate names another host");
    assert_eq!(refused.code(), Some(403));
}

/// With `relay.auth_requires_tls`, AUTH over a plain TCP connection is refused (RFC 4976: AUTH
/// goes over TLS only).
#[test]
fn auth_over_plain_tcp_is_refused_when_tls_is_required() {
    let dir = TempDir::new("auth-tls-only");
    let ca = TestCa::new(dir.path(), "msrp");
    let mut n = tls_node(&dir, &ca, "relay.test");
    n.plain = true;
    n.auth_requires_tls = true;
    let r = n.start();
    let mut plain = MsrpClient::connect(r.plain(), "msrp://p.invalid:2855/p-s;tcp").expect("TCP");
    let refused = plain
        .try_auth(&[&r.uri()], &ALICE, None)
        .expect_err("AUTH over plain TCP accepted");
    assert_eq!(refused.code(), Some(403));
    let mut secure = tls_client(&r, &ca, "alice");
    assert!(!secure.auth(&[&r.tls_uri()], &ALICE).use_path.is_empty());
}
