//! SIP over TLS (rustls, certificates made by rcgen) and over IPv6 loopback: outbound
//! registration and the CRLF keep-alive inside TLS.

mod sip_common;

use std::sync::Arc;
use std::time::Instant;

use controlplane::sip::wire::{Frame, Framing, HeaderName, Limits, Message, StreamFramer};
use controlplane::sip::{SipServer, TransportKind};
use sip_common::*;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

async fn read_frame<S: AsyncRead + Unpin>(s: &mut S, f: &mut StreamFramer) -> Frame {
    loop {
        if let Some(fr) = f.next_frame().unwrap() {
            return fr;
        }
        let mut buf = [0u8; 4096];
        let n = tokio::time::timeout(std::time::Duration::from_secs(5), s.read(&mut buf))
            .await
            .expect("timeout")
            .unwrap();
        assert!(n > 0, "closed");
        f.push(&buf[..n]);
        if f.pending() == 2 {
            // A lone CRLF: the pong.
            return Frame::Pong;
        }
    }
}

fn msg(fr: Frame) -> Message {
    match fr {
        Frame::Message(b) => Message::parse(b, Framing::Stream, &Limits::default()).unwrap(),
        other => panic!("expected a message, got {other:?}"),
    }
}

#[tokio::test]
async fn tls_outbound_register_and_keepalive() {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let dir = std::env::temp_dir().join(format!("sip-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, ck.cert.pem()).unwrap();
    std::fs::write(&key_path, ck.key_pair.serialize_pem()).unwrap();

    let mut cfg = config(&[]);
    cfg.tls = vec!["127.0.0.1:0".parse().unwrap()];
    cfg.tls_cert = Some(cert_path);
    cfg.tls_key = Some(key_path);
    let srv = SipServer::start(cfg, None).await.unwrap();
    let tls_addr = srv.local_addr(TransportKind::Tls).unwrap();

    let mut roots = rustls::RootCertStore::empty();
    roots.add(ck.cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let ccfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(ccfg));
    let tcp = tokio::net::TcpStream::connect(tls_addr).await.unwrap();
    let local = tcp.local_addr().unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut s = connector.connect(name, tcp).await.unwrap();
    let mut f = StreamFramer::new(Limits::default());

    s.write_all(register("TLS", local, "tls1", 1, 1, "").as_bytes())
        .await
        .unwrap();
    let r = msg(read_frame(&mut s, &mut f).await);
    assert_eq!(r.status(), Some(200));
    assert_eq!(r.value(HeaderName::Require), Some("outbound"));
    assert!(r.value(HeaderName::Path).unwrap().contains("transport=tls"));
    let b = srv
        .location()
        .lookup("sip:alice@example.com", Instant::now());
    assert_eq!(b[0].flow.unwrap().transport, TransportKind::Tls);

    s.write_all(b"\r\n\r\n").await.unwrap();
    assert!(matches!(read_frame(&mut s, &mut f).await, Frame::Pong));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn ipv6_udp_and_tcp_registration() {
    let mut cfg = config(&[]);
    cfg.udp = vec!["[::1]:0".parse().unwrap()];
    cfg.tcp = vec!["[::1]:0".parse().unwrap()];
    let srv = match SipServer::start(cfg, None).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("SKIPPED: no IPv6 loopback ({e})");
            return;
        }
    };
    let tcp = srv.local_addr(TransportKind::Tcp).unwrap();
    let mut c = TcpClient::connect(tcp).await;
    let l = c.local;
    c.send(&register("TCP", l, "v6", 1, 1, "")).await;
    let r = c.msg().await;
    assert_eq!(r.status(), Some(200));
    assert!(r.value(HeaderName::Path).unwrap().contains("@[::1]:"));
    let via = r.top_via().unwrap();
    assert_eq!(via.params.get("received"), Some(Some("::1")));

    let udp = srv.local_addr(TransportKind::Udp).unwrap();
    let u = tokio::net::UdpSocket::bind("[::1]:0").await.unwrap();
    let ul = u.local_addr().unwrap();
    u.send_to(register("UDP", ul, "v6u", 1, 2, "").as_bytes(), udp)
        .await
        .unwrap();
    let r = parse(udp_recv(&u).await.into());
    assert_eq!(r.status(), Some(200));
    assert_eq!(
        srv.location()
            .lookup("sip:alice@example.com", Instant::now())
            .len(),
        2
    );
    // STUN over IPv6.
    u.send_to(&controlplane::sip::stun::binding_request([3; 12]), udp)
        .await
        .unwrap();
    assert_eq!(
        controlplane::sip::stun::parse_xor_mapped(&udp_recv(&u).await),
        Some(ul)
    );
}
