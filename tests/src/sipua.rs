//! A small blocking SIP user agent over one TCP connection (or a UDP socket) for the focus
//! tests: INVITE with an SDP offer (ACK sent for 2xx), digest retry, BYE, SUBSCRIBE, and
//! incoming requests (NOTIFY, BYE) queued and answered. Messages are parsed with the control
//! plane's own SIP parser; dialogs use its `Dialog`.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use bytes::Bytes;
use controlplane::sip::dialog::Dialog;
use controlplane::sip::wire::{Frame, Framing, HeaderName, Limits, Message, StreamFramer};
use dataplane::digest::{Algorithm, Challenge, Credentials};

/// How long any single wait lasts before the test fails.
pub const WAIT: Duration = Duration::from_secs(10);

type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

enum Link {
    Tcp(TcpStream, StreamFramer),
    Tls(Box<TlsStream>, StreamFramer),
    Udp(UdpSocket, SocketAddr),
}

/// One UA (one user, one connection).
pub struct SipUa {
    link: Link,
    /// Our address.
    pub local: SocketAddr,
    /// `sip:user@domain`.
    pub aor: String,
    /// The user part.
    pub user: String,
    /// Display name.
    pub display: String,
    requests: VecDeque<Message>,
    responses: VecDeque<Message>,
    seq: u32,
    /// Answer incoming NOTIFYs with 200 automatically (they stay queued for inspection).
    pub auto_answer: bool,
}

/// An INVITE's outcome.
pub struct Call {
    /// The final response.
    pub response: Message,
    /// The dialog, when it was 2xx.
    pub dialog: Option<Dialog>,
    /// The answer SDP as text.
    pub sdp: String,
}

impl Call {
    /// The status code.
    pub fn code(&self) -> u16 {
        self.response.status().unwrap_or(0)
    }

    /// An SDP attribute of the answer (`a=name:value` → value; `a=name` → "").
    pub fn attr(&self, name: &str) -> Option<String> {
        sdp_attr(&self.sdp, name)
    }

    /// The answer's `a=path` (our To-Path).
    pub fn path(&self) -> String {
        self.attr("path").expect("a=path in the answer")
    }
}

/// An SDP attribute's value.
pub fn sdp_attr(sdp: &str, name: &str) -> Option<String> {
    sdp.lines().find_map(|l| {
        let l = l.trim_end();
        let rest = l.strip_prefix("a=")?;
        if rest == name {
            return Some(String::new());
        }
        rest.strip_prefix(name)?
            .strip_prefix(':')
            .map(str::to_string)
    })
}

fn parse(b: Bytes) -> Message {
    Message::parse(b, Framing::Datagram, &Limits::default()).expect("parsable SIP")
}

impl SipUa {
    /// Connects over TCP to `server` as `user@domain`.
    pub fn tcp(server: SocketAddr, user: &str, domain: &str) -> SipUa {
        let s = TcpStream::connect(server).expect("SIP TCP connect");
        s.set_read_timeout(Some(Duration::from_millis(100))).ok();
        let local = s.local_addr().expect("local");
        Self::new(
            Link::Tcp(s, StreamFramer::new(Limits::default())),
            local,
            user,
            domain,
        )
    }

    /// Connects over TLS (server name `name`, trusting `tls`'s roots).
    pub fn tls(
        server: SocketAddr,
        name: &str,
        tls: std::sync::Arc<rustls::ClientConfig>,
        user: &str,
        domain: &str,
    ) -> SipUa {
        let s = TcpStream::connect(server).expect("SIP TLS connect");
        let local = s.local_addr().expect("local");
        let sn = rustls::pki_types::ServerName::try_from(name.to_string()).expect("name");
        let conn = rustls::ClientConnection::new(tls, sn).expect("TLS client");
        let mut st = rustls::StreamOwned::new(conn, s);
        while st.conn.is_handshaking() {
            st.conn
                .complete_io(&mut st.sock)
                .expect("SIP TLS handshake");
        }
        st.sock
            .set_read_timeout(Some(Duration::from_millis(100)))
            .ok();
        Self::new(
            Link::Tls(Box::new(st), StreamFramer::new(Limits::default())),
            local,
            user,
            domain,
        )
    }

    /// A UDP UA talking to `server`.
    pub fn udp(server: SocketAddr, user: &str, domain: &str) -> SipUa {
        let s = UdpSocket::bind("127.0.0.1:0").expect("udp bind");
        s.set_read_timeout(Some(Duration::from_millis(100))).ok();
        let local = s.local_addr().expect("local");
        Self::new(Link::Udp(s, server), local, user, domain)
    }

    fn new(link: Link, local: SocketAddr, user: &str, domain: &str) -> SipUa {
        SipUa {
            link,
            local,
            aor: format!("sip:{user}@{domain}"),
            user: user.into(),
            display: user.to_uppercase(),
            requests: VecDeque::new(),
            responses: VecDeque::new(),
            seq: 0,
            auto_answer: true,
        }
    }

    fn transport(&self) -> &'static str {
        match self.link {
            Link::Tcp(..) => "TCP",
            Link::Tls(..) => "TLS",
            Link::Udp(..) => "UDP",
        }
    }

    /// Our Contact.
    pub fn contact(&self) -> String {
        format!(
            "<sip:{}@{};transport={}>",
            self.user,
            self.local,
            self.transport().to_ascii_lowercase()
        )
    }

    fn via(&mut self) -> String {
        self.seq += 1;
        format!(
            "SIP/2.0/{} {};branch=z9hG4bK{}x{};rport",
            self.transport(),
            self.local,
            self.user,
            self.seq + rand_u32()
        )
    }

    /// Sends raw text.
    pub fn send(&mut self, s: &[u8]) {
        match &mut self.link {
            Link::Tcp(t, _) => t.write_all(s).expect("SIP write"),
            Link::Tls(t, _) => {
                t.write_all(s).expect("SIP TLS write");
                t.flush().expect("SIP TLS flush");
            }
            Link::Udp(u, to) => {
                u.send_to(s, *to).expect("SIP send");
            }
        }
    }

    /// Reads one message (or nothing within 100 ms); `Err` when the connection closed.
    fn poll(&mut self) -> Result<Option<Message>, ()> {
        match &mut self.link {
            Link::Tls(t, f) => poll_stream(t.as_mut(), f),
            Link::Tcp(t, f) => poll_stream(t, f),
            Link::Udp(u, _) => {
                let mut buf = vec![0u8; 65536];
                match u.recv_from(&mut buf) {
                    Ok((n, _)) => {
                        buf.truncate(n);
                        Ok(Some(parse(Bytes::from(buf))))
                    }
                    Err(_) => Ok(None),
                }
            }
        }
    }

    /// Reads what is there into the queues (answering NOTIFYs when `auto_answer`).
    fn pump(&mut self) -> Result<bool, ()> {
        let Some(m) = self.poll()? else {
            return Ok(false);
        };
        if m.is_request() {
            if self.auto_answer && m.method_text() == "NOTIFY" {
                self.respond(&m, 200);
            }
            self.requests.push_back(m);
        } else {
            self.responses.push_back(m);
        }
        Ok(true)
    }

    /// The next final response (1xx skipped).
    pub fn final_response(&mut self) -> Message {
        let deadline = Instant::now() + WAIT;
        loop {
            while let Some(r) = self.responses.pop_front() {
                if r.status().unwrap_or(0) >= 200 {
                    return r;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{}: no final response",
                self.user
            );
            self.pump().expect("SIP connection open");
        }
    }

    /// The next request with this method (other requests stay queued).
    pub fn request(&mut self, method: &str) -> Message {
        self.try_request(method, WAIT)
            .unwrap_or_else(|| panic!("{}: no {method} within {WAIT:?}", self.user))
    }

    /// Like [`SipUa::request`], `None` after `within`.
    pub fn try_request(&mut self, method: &str, within: Duration) -> Option<Message> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(i) = self.requests.iter().position(|r| r.method_text() == method) {
                return self.requests.remove(i);
            }
            if Instant::now() >= deadline {
                return None;
            }
            if self.pump().is_err() {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// Answers a request.
    pub fn respond(&mut self, req: &Message, code: u16) {
        let mut s = format!("SIP/2.0 {code} Whatever\r\n");
        for h in req.headers() {
            match h.name {
                HeaderName::Via
                | HeaderName::From
                | HeaderName::To
                | HeaderName::CallId
                | HeaderName::CSeq => {
                    s += req.text(h.line);
                    s += "\r\n";
                }
                _ => {}
            }
        }
        s += "Content-Length: 0\r\n\r\n";
        self.send(s.as_bytes());
    }

    fn request_text(
        &mut self,
        method: &str,
        ruri: &str,
        call_id: &str,
        extra: &str,
        ct: Option<&str>,
        body: &str,
    ) -> String {
        let via = self.via();
        let ct = ct
            .map(|c| format!("Content-Type: {c}\r\n"))
            .unwrap_or_default();
        format!(
            "{method} {ruri} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\n\
From: \"{d}\" <{aor}>;tag={call_id}-t\r\nTo: <{ruri}>\r\nCall-ID: {call_id}\r\n\
CSeq: 1 {method}\r\nContact: {c}\r\n{extra}{ct}Content-Length: {n}\r\n\r\n{body}",
            d = self.display,
            aor = self.aor,
            c = self.contact(),
            n = body.len()
        )
    }

    /// INVITEs `room` with `sdp`; `extra` are whole header lines. Answers one 401 with
    /// `password` when given. Sends the ACK for a 2xx.
    pub fn invite(&mut self, room: &str, sdp: &str, extra: &str, password: Option<&str>) -> Call {
        let call_id = format!("{}-{}", self.user, rand_u32());
        let text = self.request_text(
            "INVITE",
            room,
            &call_id,
            extra,
            Some("application/sdp"),
            sdp,
        );
        self.send(text.as_bytes());
        let mut req = parse(Bytes::from(text));
        let mut resp = self.final_response();
        if resp.status() == Some(401) {
            if let Some(pw) = password {
                self.ack_error(&req, &resp);
                let ch = resp
                    .values_named("WWW-Authenticate")
                    .next()
                    .expect("challenge")
                    .to_string();
                let auth = authorization(&ch, &self.user, pw, "INVITE", room);
                let text = self
                    .request_text(
                        "INVITE",
                        room,
                        &call_id,
                        &format!("{extra}Authorization: {auth}\r\n"),
                        Some("application/sdp"),
                        sdp,
                    )
                    .replace("CSeq: 1 INVITE", "CSeq: 2 INVITE");
                self.send(text.as_bytes());
                req = parse(Bytes::from(text));
                resp = self.final_response();
            }
        }
        let code = resp.status().unwrap_or(0);
        let sdp = String::from_utf8_lossy(&resp.body()).into_owned();
        if (200..300).contains(&code) {
            let mut d = Dialog::uac(&req, &resp).expect("dialog from 2xx");
            let mut b = d.request("ACK");
            let via = self.via();
            b.header("Via", &via);
            let ack = b.finish(None, b"");
            self.send(&ack);
            Call {
                response: resp,
                dialog: Some(d),
                sdp,
            }
        } else {
            self.ack_error(&req, &resp);
            Call {
                response: resp,
                dialog: None,
                sdp,
            }
        }
    }

    /// ACK for a non-2xx final response (same branch as the INVITE, RFC 3261 §17.1.1.3).
    fn ack_error(&mut self, req: &Message, resp: &Message) {
        if !self.is_tcp() {
            // The server transaction over UDP wants it; over TCP it is harmless as well.
        }
        let via = req.list(HeaderName::Via).next().unwrap_or_default();
        let to = resp.value(HeaderName::To).unwrap_or_default();
        let from = req.value(HeaderName::From).unwrap_or_default();
        let cid = req.call_id().unwrap_or_default();
        let seq = req.cseq().map(|c| c.seq).unwrap_or(1);
        let s = format!(
            "ACK {} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\nFrom: {from}\r\nTo: {to}\r\n\
Call-ID: {cid}\r\nCSeq: {seq} ACK\r\nContent-Length: 0\r\n\r\n",
            req.request_uri()
        );
        self.send(s.as_bytes());
    }

    fn is_tcp(&self) -> bool {
        !matches!(self.link, Link::Udp(..))
    }

    /// Sends an in-dialog request and returns its final response.
    pub fn in_dialog(
        &mut self,
        d: &mut Dialog,
        method: &str,
        extra: &[(&str, &str)],
        ct: Option<&str>,
        body: &str,
    ) -> Message {
        let mut b = d.request(method);
        let via = self.via();
        b.header("Via", &via);
        b.header("Contact", &self.contact());
        for (n, v) in extra {
            b.header(n, v);
        }
        let m = b.finish(ct, body.as_bytes());
        self.send(&m);
        let r = self.final_response();
        if method == "INVITE" && r.status().is_some_and(|c| (200..300).contains(&c)) {
            let mut a = d.request("ACK");
            let via = self.via();
            a.header("Via", &via);
            let ack = a.finish(None, b"");
            self.send(&ack);
        }
        r
    }

    /// SUBSCRIBE to the room's conference events; returns the 200 and the dialog.
    pub fn subscribe(&mut self, room: &str, expires: u32) -> (Message, Option<Dialog>) {
        let call_id = format!("{}-sub-{}", self.user, rand_u32());
        let text = self.request_text(
            "SUBSCRIBE",
            room,
            &call_id,
            &format!("Event: conference\r\nExpires: {expires}\r\nAccept: application/conference-info+xml\r\n"),
            None,
            "",
        );
        self.send(text.as_bytes());
        let req = parse(Bytes::from(text));
        let resp = self.final_response();
        let d = (resp.status() == Some(200)).then(|| Dialog::uac(&req, &resp).expect("dialog"));
        (resp, d)
    }

    /// A request outside any dialog (OPTIONS, SUBSCRIBE with odd headers...); returns the final
    /// response.
    pub fn plain_request(&mut self, method: &str, ruri: &str, extra: &str) -> Message {
        let call_id = format!("{}-{}-{}", self.user, method, rand_u32());
        let text = self.request_text(method, ruri, &call_id, extra, None, "");
        self.send(text.as_bytes());
        self.final_response()
    }
}

/// `Authorization` for a `WWW-Authenticate` challenge.
pub fn authorization(
    challenge: &str,
    user: &str,
    password: &str,
    method: &str,
    uri: &str,
) -> String {
    let ch = Challenge::parse(challenge).expect("digest challenge");
    let alg = ch.algorithm;
    let ha1 = dataplane::digest::ha1(alg, user, &ch.realm, password);
    let c = Credentials {
        username: user.into(),
        realm: ch.realm.clone(),
        nonce: ch.nonce.clone(),
        uri: uri.into(),
        response: String::new(),
        algorithm: alg,
        cnonce: ch.qop_auth.then(|| "0a4f113b".to_string()),
        qop_auth: ch.qop_auth,
        nc: ch.qop_auth.then(|| "00000001".to_string()),
        opaque: ch.opaque.clone(),
    };
    let response = c.expected_response(&ha1, method);
    let _ = Algorithm::Md5;
    Credentials { response, ..c }.render()
}

fn rand_u32() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(1);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    t ^ N
        .fetch_add(7919, Ordering::Relaxed)
        .wrapping_mul(2_654_435_761)
}

/// Reads one framed message from a stream (or nothing within its read timeout); `Err` when
/// the connection closed.
fn poll_stream(t: &mut impl Read, f: &mut StreamFramer) -> Result<Option<Message>, ()> {
    loop {
        match f.next_frame() {
            Ok(Some(Frame::Message(b))) => return Ok(Some(parse(b))),
            Ok(Some(_)) => continue,
            Ok(None) => {}
            Err(e) => panic!("unframeable SIP: {e}"),
        }
        let mut buf = [0u8; 8192];
        match t.read(&mut buf) {
            Ok(0) => return Err(()),
            Ok(n) => f.push(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(None)
            }
            Err(_) => return Err(()),
        }
    }
}
