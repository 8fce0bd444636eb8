//! Helpers shared by the SIP end-to-end tests: an in-process server on ephemeral loopback
//! ports, a tiny scripted SIP client over TCP/UDP, and a sipp runner that cleans up by PID.
#![allow(dead_code)]

pub mod sipp_cases;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use controlplane::sip::wire::{Frame, Framing, HeaderName, Limits, Message, StreamFramer};
use controlplane::sip::{SipConfig, SipServer, TransportKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

pub const DOMAIN: &str = "example.com";
pub const INSTANCE: &str = "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";

/// A config listening on 127.0.0.1 ephemeral ports (UDP + TCP), domain example.com.
pub fn config(users: &[(&str, &str)]) -> SipConfig {
    let mut cfg = SipConfig::default();
    cfg.core.domains = vec![DOMAIN.into()];
    cfg.core.realm = DOMAIN.into();
    cfg.udp = vec!["127.0.0.1:0".parse().unwrap()];
    cfg.tcp = vec!["127.0.0.1:0".parse().unwrap()];
    cfg.users = users
        .iter()
        .map(|(u, p)| (u.to_string(), p.to_string()))
        .collect();
    cfg
}

pub async fn start(users: &[(&str, &str)]) -> SipServer {
    SipServer::start(config(users), None)
        .await
        .expect("server starts")
}

pub fn parse(b: Bytes) -> Message {
    Message::parse(b, Framing::Datagram, &Limits::default()).expect("parsable")
}

/// A SIP client over one TCP connection.
pub struct TcpClient {
    pub sock: TcpStream,
    framer: StreamFramer,
    pub local: SocketAddr,
}

pub enum Got {
    Msg(Message),
    Pong,
}

impl TcpClient {
    pub async fn connect(server: SocketAddr) -> TcpClient {
        let sock = TcpStream::connect(server).await.unwrap();
        let local = sock.local_addr().unwrap();
        TcpClient {
            sock,
            framer: StreamFramer::new(Limits::default()),
            local,
        }
    }
    pub async fn send(&mut self, s: &str) {
        self.sock.write_all(s.as_bytes()).await.unwrap();
    }
    /// Next frame within 5 s.
    pub async fn next(&mut self) -> Got {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match self.framer.next_frame().unwrap() {
                Some(Frame::Message(b)) => return Got::Msg(parse(b)),
                Some(Frame::Pong) => return Got::Pong,
                Some(Frame::Ping) => continue,
                None => {}
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let mut buf = [0u8; 4096];
            let n = tokio::time::timeout(left, self.sock.read(&mut buf))
                .await
                .expect("timed out waiting for a frame")
                .unwrap();
            assert!(n > 0, "connection closed");
            self.framer.push(&buf[..n]);
            // A lone CRLF at the end of the buffer is a pong only once nothing follows.
            if self.framer.pending() == 2 {
                let mut more = [0u8; 1];
                let r = tokio::time::timeout(Duration::from_millis(50), self.sock.read(&mut more))
                    .await;
                match r {
                    Ok(Ok(1)) => self.framer.push(&more),
                    _ => {
                        self.framer = StreamFramer::new(Limits::default());
                        return Got::Pong;
                    }
                }
            }
        }
    }
    pub async fn msg(&mut self) -> Message {
        loop {
            if let Got::Msg(m) = self.next().await {
                return m;
            }
        }
    }
    /// Next message that is not a 100 Trying.
    pub async fn msg_skip_100(&mut self) -> Message {
        loop {
            let m = self.msg().await;
            if m.status() != Some(100) {
                return m;
            }
        }
    }
}

pub fn register(
    transport: &str,
    local: SocketAddr,
    call_id: &str,
    cseq: u32,
    reg_id: u32,
    extra: &str,
) -> String {
    format!(
        "REGISTER sip:{DOMAIN} SIP/2.0\r\n\
Via: SIP/2.0/{transport} {local};branch=z9hG4bK{call_id}{cseq};rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:alice@{DOMAIN}>;tag={call_id}\r\n\
To: <sip:alice@{DOMAIN}>\r\n\
Call-ID: {call_id}\r\n\
CSeq: {cseq} REGISTER\r\n\
Supported: path, outbound\r\n\
Contact: <sip:alice@{local};transport={t};ob>;+sip.instance=\"{INSTANCE}\";reg-id={reg_id}\r\n\
Expires: 600\r\n{extra}\
Content-Length: 0\r\n\r\n",
        t = transport.to_ascii_lowercase()
    )
}

pub fn invite(local: SocketAddr, to_user: &str, call_id: &str, route: Option<&str>) -> String {
    let route = route.map(|r| format!("Route: {r}\r\n")).unwrap_or_default();
    format!(
        "INVITE sip:{to_user}@{DOMAIN} SIP/2.0\r\n\
Via: SIP/2.0/TCP {local};branch=z9hG4bK{call_id}1;rport\r\n{route}\
Max-Forwards: 70\r\n\
From: <sip:bob@{DOMAIN}>;tag=bob{call_id}\r\n\
To: <sip:{to_user}@{DOMAIN}>\r\n\
Call-ID: {call_id}\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:bob@{local};transport=tcp>\r\n\
Content-Length: 0\r\n\r\n"
    )
}

/// A response to `req` with the given code, To tag and Contact (from the callee side).
pub fn answer(req: &Message, code: u16, contact: &str) -> String {
    let mut s = format!("SIP/2.0 {code} X\r\n");
    for h in req.headers() {
        match h.name {
            HeaderName::Via
            | HeaderName::From
            | HeaderName::CallId
            | HeaderName::CSeq
            | HeaderName::RecordRoute => {
                s += req.text(h.line);
                s += "\r\n";
            }
            HeaderName::To => {
                s += req.text(h.line);
                s += ";tag=callee\r\n";
            }
            _ => {}
        }
    }
    s += &format!("Contact: <{contact}>\r\nContent-Length: 0\r\n\r\n");
    s
}

pub async fn udp_client() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").await.unwrap()
}

pub async fn udp_recv(s: &UdpSocket) -> Vec<u8> {
    let mut buf = vec![0u8; 65536];
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), s.recv_from(&mut buf))
        .await
        .expect("udp timeout")
        .unwrap();
    buf.truncate(n);
    buf
}

pub fn addr(s: &SipServer, t: TransportKind) -> SocketAddr {
    s.local_addr(t).unwrap()
}

pub fn server_arc(s: SipServer) -> Arc<SipServer> {
    Arc::new(s)
}

// ------------------------------------------------------------------ sipp

/// Directory holding the sipp scenarios.
pub fn sipp_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sipp")
}

pub fn sipp_available() -> bool {
    Command::new("sipp")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// A loopback port free for both TCP and UDP right now (sipp binds both in TCP mode).
fn free_udp_tcp_port() -> u16 {
    for _ in 0..50 {
        let Ok(l) = std::net::TcpListener::bind("127.0.0.1:0") else {
            continue;
        };
        let Ok(port) = l.local_addr().map(|a| a.port()) else {
            continue;
        };
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    0
}

/// A running sipp process, killed by PID on drop.
pub struct Sipp {
    pub child: Child,
    pub name: String,
    pub log_dir: PathBuf,
}

impl Drop for Sipp {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Sipp {
    /// Starts sipp with `scenario` against `target` over `transport` ("u1" or "t1").
    pub fn start(scenario: &str, target: SocketAddr, transport: &str, extra: &[&str]) -> Sipp {
        // sipp exits with 254 when it cannot bind its port (another test took it between our
        // probe and sipp's bind): try again with another port.
        for _ in 0..5 {
            let mut s = Sipp::start_once(scenario, target, transport, extra);
            std::thread::sleep(std::time::Duration::from_millis(200));
            match s.child.try_wait() {
                Ok(Some(st)) if st.code() == Some(254) => continue,
                _ => return s,
            }
        }
        Sipp::start_once(scenario, target, transport, extra)
    }

    fn start_once(scenario: &str, target: SocketAddr, transport: &str, extra: &[&str]) -> Sipp {
        let log_dir = std::env::temp_dir().join(format!(
            "sipp-{}-{}-{}",
            scenario,
            std::process::id(),
            target.port()
        ));
        let _ = std::fs::create_dir_all(&log_dir);
        // A free local port for sipp's own socket (sipp's default 5060 would make runs collide).
        let port = free_udp_tcp_port().to_string();
        let mut cmd = Command::new("sipp");
        cmd.arg(target.to_string())
            .arg("-sf")
            .arg(sipp_dir().join(format!("{scenario}.xml")))
            .args([
                "-t",
                transport,
                "-i",
                "127.0.0.1",
                "-p",
                &port,
                "-m",
                "1",
                "-l",
                "1",
            ])
            .args([
                "-timeout",
                "20s",
                "-timeout_error",
                "-nostdin",
                "-trace_err",
                "-trace_msg",
            ])
            .arg("-error_file")
            .arg(log_dir.join("errors.log"))
            .arg("-message_file")
            .arg(log_dir.join("messages.log"))
            .args(["-s", "alice"])
            .args(extra)
            .current_dir(&log_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let child = cmd.spawn().expect("sipp starts");
        Sipp {
            child,
            name: scenario.into(),
            log_dir,
        }
    }

    /// Waits up to `limit` for sipp to exit; returns its exit code (99 = killed on timeout).
    pub async fn wait(mut self, limit: Duration) -> i32 {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                let code = st.code().unwrap_or(-1);
                if code != 0 {
                    let errs = std::fs::read_to_string(self.log_dir.join("errors.log"))
                        .unwrap_or_default();
                    let mut stderr = String::new();
                    if let Some(mut e) = self.child.stderr.take() {
                        use std::io::Read;
                        let _ = e.read_to_string(&mut stderr);
                    }
                    eprintln!(
                        "sipp {} exit {code}\nstderr: {stderr}\nerrors: {errs}",
                        self.name
                    );
                }
                return code;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                eprintln!("sipp {} killed after {limit:?}", self.name);
                return 99;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
