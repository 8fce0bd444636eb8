//! A scripted chat room on loopback for the client tests: a SIP focus on TCP that answers the
//! INVITE with an SDP answer built from the offer, the SUBSCRIBE with NOTIFYs of a roster kept
//! with [`Roster`], and an MSRP peer on the session engine. NICKNAME requests and SENDs the
//! test wants refused are answered by hand (the engine answers NICKNAME with 501 and every
//! SEND with 200). Everything the client sends is recorded as [`Seen`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use dataplane::session::{Config, Connection, OutgoingMessage, SessionConfig, SessionId};
use dataplane::wire::{
    CpimView, Event as WireEvent, FrameHead, OwnedMsrpUri, Parser, ParserLimits, ResponseWriter,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Notify};

use crate::conference::{
    EndpointStatus, Participant, ParticipantEndpoint, RoomDescription, Roster, RosterChange,
    Subscription,
};
use crate::sip::dialog::Dialog;
use crate::sip::wire::{
    response_to, Frame, Framing, HeaderName, Limits, Message, Method, StreamFramer,
};

/// How the room behaves.
#[derive(Clone)]
pub struct FocusConfig {
    /// Final status for the INVITE (200 joins).
    pub invite_status: u16,
    /// `passive` (the client connects) or `active` (the room connects).
    pub setup: &'static str,
    /// The a=chatroom value of the answer.
    pub chatroom: &'static str,
    /// Require digest (407) with this password.
    pub password: Option<&'static str>,
    /// NICKNAME verdicts by requested nickname (200 when absent).
    pub nicknames: HashMap<String, u16>,
    /// SEND verdicts by CPIM To URI (the engine's 200 when absent).
    pub refuse_to: HashMap<String, u16>,
    /// Other participants already in the room: (AOR, nickname).
    pub others: Vec<(&'static str, Option<&'static str>)>,
    /// Announce this MSRP port instead of the real listener's (a dead port).
    pub answer_port: Option<u16>,
}

impl Default for FocusConfig {
    fn default() -> Self {
        FocusConfig {
            invite_status: 200,
            setup: "passive",
            chatroom: "nickname private-messages",
            password: None,
            nicknames: HashMap::new(),
            refuse_to: HashMap::new(),
            others: Vec::new(),
            answer_port: None,
        }
    }
}

/// Something the client did.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // test records, few of them
pub enum Seen {
    /// A SIP message from the client.
    Sip(Message),
    /// An MSRP frame from the client (head and body).
    Msrp(FrameHead, Bytes),
}

impl Seen {
    /// The SIP request method, if a request.
    pub fn sip_method(&self) -> Option<&str> {
        match self {
            Seen::Sip(m) if m.is_request() => Some(m.method_text()),
            _ => None,
        }
    }

    /// The MSRP method, if a request.
    pub fn msrp_method(&self) -> Option<String> {
        match self {
            Seen::Msrp(h, _) => h
                .method_name()
                .map(|m| String::from_utf8_lossy(m).into_owned()),
            _ => None,
        }
    }
}

/// Test commands to the room.
pub enum Cmd {
    /// A participant joins (AOR, nickname): partial NOTIFY.
    Join(&'static str, Option<&'static str>),
    /// A participant leaves: partial NOTIFY.
    Leave(&'static str),
    /// Send a CPIM message to the client: (from, to, text).
    Say(String, String, String),
    /// End the call with BYE.
    Bye,
    /// Close the MSRP connection.
    DropMsrp,
}

/// The room and what the test sees of it.
pub struct FakeFocus {
    /// The room URI.
    pub room_uri: String,
    history: Arc<Mutex<Vec<Seen>>>,
    changed: Arc<Notify>,
    cmd: mpsc::UnboundedSender<Cmd>,
}

impl FakeFocus {
    /// Starts the room on loopback.
    pub async fn start(cfg: FocusConfig) -> FakeFocus {
        let sip = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sip_addr = sip.local_addr().unwrap();
        let room_uri = format!("sip:room@{sip_addr}");
        let history = Arc::new(Mutex::new(Vec::new()));
        let changed = Arc::new(Notify::new());
        let (cmd, cmd_rx) = mpsc::unbounded_channel();
        let room = Room {
            cfg,
            room_uri: room_uri.clone(),
            history: history.clone(),
            changed: changed.clone(),
            roster: Roster::default(),
            sub: None,
            client_aor: None,
            msrp: None,
            cmd: cmd_rx,
            outbox: Vec::new(),
        };
        tokio::spawn(room.run(sip));
        FakeFocus {
            room_uri,
            history,
            changed,
            cmd,
        }
    }

    /// Sends a command to the room.
    pub fn cmd(&self, c: Cmd) {
        let _ = self.cmd.send(c);
    }

    /// Everything seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.history.lock().unwrap().clone()
    }

    /// Waits until `n` items match `pred` (10 s at most) and returns them.
    pub async fn wait_n(&self, n: usize, pred: impl Fn(&Seen) -> bool) -> Vec<Seen> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let notified = self.changed.notified();
            let got: Vec<Seen> = self.seen().into_iter().filter(|s| pred(s)).collect();
            if got.len() >= n {
                return got;
            }
            if tokio::time::timeout_at(deadline.into(), notified)
                .await
                .is_err()
            {
                panic!(
                    "the room did not see {n} matching items; saw {:#?}",
                    self.seen()
                );
            }
        }
    }

    /// Waits for the first SIP request with this method.
    pub async fn sip(&self, method: &str) -> Message {
        match self
            .wait_n(1, |s| s.sip_method() == Some(method))
            .await
            .remove(0)
        {
            Seen::Sip(m) => m,
            Seen::Msrp(..) => unreachable!(),
        }
    }

    /// Waits for the `n`th (1-based) MSRP request with this method (SENDs with a body only).
    pub async fn msrp(&self, method: &str, n: usize) -> (FrameHead, Bytes) {
        match self
            .wait_n(n, |s| {
                s.msrp_method().as_deref() == Some(method)
                    && (method != "SEND" || matches!(s, Seen::Msrp(_, b) if !b.is_empty()))
            })
            .await
            .remove(n - 1)
        {
            Seen::Msrp(h, b) => (h, b),
            Seen::Sip(_) => unreachable!(),
        }
    }
}

struct MsrpSide {
    conn: Connection,
    session: SessionId,
    write: OwnedWriteHalf,
    local: String,
}

struct Room {
    cfg: FocusConfig,
    room_uri: String,
    history: Arc<Mutex<Vec<Seen>>>,
    changed: Arc<Notify>,
    roster: Roster,
    sub: Option<(Dialog, Subscription)>,
    client_aor: Option<String>,
    msrp: Option<MsrpSide>,
    cmd: mpsc::UnboundedReceiver<Cmd>,
    outbox: Vec<Bytes>,
}

fn participant(aor: &str, nick: Option<&str>) -> Participant {
    Participant {
        aor: aor.into(),
        anonymous_uri: None,
        display_name: None,
        nickname: nick.map(Into::into),
        roles: vec!["participant".into()],
        endpoints: vec![ParticipantEndpoint {
            entity: aor.into(),
            status: EndpointStatus::Connected,
            joining_method: None,
            media_id: "1".into(),
            media_status: None,
        }],
    }
}

fn parse_sip(b: Bytes) -> Message {
    Message::parse(b, Framing::Stream, &Limits::default()).unwrap()
}

/// Splits an MSRP byte stream into whole frames (test peers never put an end-line in a body).
fn split_frame(buf: &mut BytesMut) -> Option<Bytes> {
    let line_end = buf.windows(2).position(|w| w == b"\r\n")?;
    let first = std::str::from_utf8(&buf[..line_end]).ok()?;
    let tid = first.split(' ').nth(1)?;
    let marker = format!("-------{tid}");
    let text = &buf[..];
    let mut from = 0;
    while let Some(p) = text[from..]
        .windows(marker.len())
        .position(|w| w == marker.as_bytes())
    {
        let at = from + p;
        let end = at + marker.len() + 3;
        if text.len() >= end && matches!(text[end - 3], b'$' | b'#' | b'+') {
            return Some(buf.split_to(end).freeze());
        }
        if text.len() < end {
            return None;
        }
        from = at + 1;
    }
    None
}

fn parse_frame(raw: &Bytes) -> Option<(FrameHead, Bytes)> {
    let mut p = Parser::new(ParserLimits::default());
    let mut b = BytesMut::from(&raw[..]);
    let mut head = None;
    let mut body = BytesMut::new();
    loop {
        match p.poll(&mut b) {
            Ok(Some(WireEvent::Head(h))) => head = Some(h),
            Ok(Some(WireEvent::Body(x))) => body.extend_from_slice(&x),
            Ok(Some(WireEvent::End { .. })) => return Some((head?, body.freeze())),
            _ => return None,
        }
    }
}

impl Room {
    fn record(&self, s: Seen) {
        self.history.lock().unwrap().push(s);
        self.changed.notify_waiters();
    }

    async fn run(mut self, sip: TcpListener) {
        for (aor, nick) in self.cfg.others.clone() {
            self.roster.upsert(participant(aor, nick));
        }
        self.roster = {
            let mut r = Roster::new(RoomDescription {
                entity: self.room_uri.clone(),
                ..RoomDescription::default()
            });
            for p in self.roster.participants() {
                r.upsert(p.clone());
            }
            r
        };
        let Ok((stream, _)) = sip.accept().await else {
            return;
        };
        let (mut sip_r, mut sip_w) = stream.into_split();
        let mut framer = StreamFramer::new(Limits::default());
        let msrp_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (msrp_tx, mut msrp_rx) = mpsc::unbounded_channel::<Option<Bytes>>();
        let mut msrp_buf = BytesMut::new();
        let mut pending_stream: Option<TcpStream> = None;
        let mut client_path: Option<String> = None;
        loop {
            let mut tmp = [0u8; 8192];
            tokio::select! {
                n = sip_r.read(&mut tmp) => {
                    let n = n.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    framer.push(&tmp[..n]);
                    while let Ok(Some(f)) = framer.next_frame() {
                        let Frame::Message(b) = f else { continue };
                        let m = parse_sip(b);
                        self.record(Seen::Sip(m.clone()));
                        if m.is_request() {
                            let out = self.on_sip(&m, &msrp_listener, &mut client_path).await;
                            for o in out {
                                sip_w.write_all(&o).await.unwrap();
                            }
                        }
                    }
                }
                acc = msrp_listener.accept(), if self.msrp.is_none() && pending_stream.is_none() && self.cfg.setup == "passive" && client_path.is_some() => {
                    if let Ok((s, _)) = acc {
                        pending_stream = Some(s);
                    }
                }
                c = self.cmd.recv() => {
                    let Some(c) = c else { return };
                    for o in self.on_cmd(c).await {
                        sip_w.write_all(&o).await.unwrap();
                    }
                }
                d = msrp_rx.recv() => {
                    match d {
                        Some(Some(data)) => {
                            msrp_buf.extend_from_slice(&data);
                            self.on_msrp(&mut msrp_buf).await;
                        }
                        _ => {
                            self.msrp = None;
                        }
                    }
                }
            }
            for o in std::mem::take(&mut self.outbox) {
                sip_w.write_all(&o).await.unwrap();
            }
            // The active side: connect once the ACK came.
            if self.msrp.is_none() && pending_stream.is_none() && self.cfg.setup == "active" {
                if let Some(p) = client_path.clone() {
                    if self.seen().iter().any(|s| s.sip_method() == Some("ACK")) {
                        let addr = p
                            .trim_start_matches("msrp://")
                            .split('/')
                            .next()
                            .unwrap()
                            .to_string();
                        pending_stream = Some(TcpStream::connect(addr).await.unwrap());
                    }
                }
            }
            if let Some(s) = pending_stream.take() {
                let (mut r, w) = s.into_split();
                let tx = msrp_tx.clone();
                tokio::spawn(async move {
                    let mut b = vec![0u8; 16384];
                    loop {
                        match r.read(&mut b).await {
                            Ok(0) | Err(_) => {
                                let _ = tx.send(None);
                                return;
                            }
                            Ok(n) => {
                                let _ = tx.send(Some(Bytes::copy_from_slice(&b[..n])));
                            }
                        }
                    }
                });
                let port = msrp_listener.local_addr().unwrap().port();
                let local = format!("msrp://127.0.0.1:{port}/focus1;tcp");
                let uri = |s: &str| OwnedMsrpUri::parse(Bytes::from(s.to_string())).unwrap();
                let mut seed = 7u64;
                let mut conn = Connection::new(Config::default(), move || {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    seed
                });
                let cfg =
                    SessionConfig::new(uri(&local), vec![uri(client_path.as_deref().unwrap())]);
                let session = if self.cfg.setup == "active" {
                    conn.open_session(cfg).unwrap()
                } else {
                    conn.add_session(cfg).unwrap()
                };
                self.msrp = Some(MsrpSide {
                    conn,
                    session,
                    write: w,
                    local,
                });
                self.flush_msrp().await;
            }
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.history.lock().unwrap().clone()
    }

    async fn on_sip(
        &mut self,
        m: &Message,
        msrp_listener: &TcpListener,
        client_path: &mut Option<String>,
    ) -> Vec<Bytes> {
        let contact = format!("<{};transport=tcp>;isfocus", self.room_uri);
        match m.method() {
            Some(Method::Invite) => {
                if let Some(pw) = self.cfg.password {
                    match m.value(HeaderName::ProxyAuthorization) {
                        None => {
                            let mut r = response_to(m, 407, None, Some("f1"), None);
                            r.header(
                                "Proxy-Authenticate",
                                "Digest realm=\"chat\", nonce=\"n0nce\", qop=\"auth\"",
                            );
                            return vec![r.finish(None, b"")];
                        }
                        Some(v) => {
                            let c = dataplane::digest::Credentials::parse(v).unwrap();
                            let ha1 =
                                dataplane::digest::ha1(c.algorithm, &c.username, &c.realm, pw);
                            if c.expected_response(&ha1, "INVITE") != c.response {
                                return vec![
                                    response_to(m, 403, None, Some("f1"), None).finish(None, b"")
                                ];
                            }
                        }
                    }
                }
                if self.cfg.invite_status != 200 {
                    return vec![
                        response_to(m, self.cfg.invite_status, None, Some("f1"), None)
                            .finish(None, b""),
                    ];
                }
                let offer = crate::sdp::parse(&m.body()).unwrap();
                let path = offer.msrp_media(0).unwrap().path().unwrap().unwrap();
                *client_path = Some(path[0].to_string());
                let aor = m.from_hdr().unwrap().uri.raw.to_string();
                self.client_aor = Some(aor.clone());
                let port = self
                    .cfg
                    .answer_port
                    .unwrap_or(msrp_listener.local_addr().unwrap().port());
                let answer = format!(
                    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                     m=message {port} TCP/MSRP *\r\na=accept-types:message/cpim\r\n\
                     a=accept-wrapped-types:text/plain *\r\n\
                     a=path:msrp://127.0.0.1:{port}/focus1;tcp\r\na=chatroom:{}\r\na=setup:{}\r\n",
                    self.cfg.chatroom, self.cfg.setup
                );
                let mut r = response_to(m, 200, None, Some("f1"), None);
                r.header("Contact", &contact);
                vec![r.finish(Some("application/sdp"), answer.as_bytes())]
            }
            Some(Method::Ack) => {
                if let Some(aor) = self.client_aor.clone() {
                    let ch = self.roster.upsert(participant(&aor, None));
                    return self.notify(&ch, false);
                }
                vec![]
            }
            Some(Method::Subscribe) => {
                let expires = m.expires().unwrap_or(600);
                let mut r = response_to(m, 200, None, Some("s1"), None);
                r.header("Contact", &contact);
                r.header_fmt("Expires", format_args!("{expires}"));
                let ok = r.finish(None, b"");
                if self.sub.is_none() {
                    self.sub = Some((Dialog::uas(m, "s1").unwrap(), Subscription::new()));
                }
                let mut out = vec![ok];
                out.extend(self.notify(&[], expires == 0));
                if expires == 0 {
                    self.sub = None;
                }
                out
            }
            Some(Method::Bye) => vec![response_to(m, 200, None, None, None).finish(None, b"")],
            _ => vec![response_to(m, 405, None, None, None).finish(None, b"")],
        }
    }

    /// A NOTIFY: full when `changes` is empty, else partial.
    fn notify(&mut self, changes: &[RosterChange], terminated: bool) -> Vec<Bytes> {
        let Some((d, sub)) = self.sub.as_mut() else {
            return vec![];
        };
        let body = if changes.is_empty() {
            sub.full(&self.roster)
        } else {
            sub.partial(&self.roster, changes)
        };
        let mut b = d.request("NOTIFY");
        b.header(
            "Via",
            &format!("SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKn{}", sub.version()),
        );
        b.header("Contact", &format!("<{}>", self.room_uri));
        b.header(
            "Subscription-State",
            if terminated {
                "terminated;reason=timeout"
            } else {
                "active;expires=600"
            },
        );
        vec![b.finish(Some("application/conference-info+xml"), body.as_bytes())]
    }

    async fn on_cmd(&mut self, c: Cmd) -> Vec<Bytes> {
        match c {
            Cmd::Join(aor, nick) => {
                let ch = self.roster.upsert(participant(aor, nick));
                self.notify(&ch, false)
            }
            Cmd::Leave(aor) => {
                let ch: Vec<_> = self.roster.remove(aor).into_iter().collect();
                self.notify(&ch, false)
            }
            Cmd::Say(from, to, text) => {
                if let Some(m) = self.msrp.as_mut() {
                    let body = format!(
                        "From: <{from}>\r\nTo: <{to}>\r\n\r\nContent-Type: text/plain\r\n\r\n{text}"
                    );
                    m.conn
                        .send_message(m.session, OutgoingMessage::new("message/cpim", body))
                        .unwrap();
                }
                self.flush_msrp().await;
                vec![]
            }
            Cmd::Bye => {
                let Some(Seen::Sip(inv)) = self
                    .seen()
                    .into_iter()
                    .find(|s| s.sip_method() == Some("INVITE") && matches!(s, Seen::Sip(m) if m.value(HeaderName::ProxyAuthorization).is_some() || self.cfg.password.is_none()))
                else {
                    return vec![];
                };
                let mut d = Dialog::uas(&inv, "f1").unwrap();
                let mut b = d.request("BYE");
                b.header("Via", "SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKbye");
                vec![b.finish(None, b"")]
            }
            Cmd::DropMsrp => {
                if let Some(mut m) = self.msrp.take() {
                    let _ = m.write.shutdown().await;
                }
                vec![]
            }
        }
    }

    async fn on_msrp(&mut self, buf: &mut BytesMut) {
        while let Some(raw) = split_frame(buf) {
            let Some((head, body)) = parse_frame(&raw) else {
                continue;
            };
            if head.is_request() {
                self.record(Seen::Msrp(head.clone(), body.clone()));
            }
            let by_hand = match head.method_name() {
                Some(b"NICKNAME") => {
                    let nick = head
                        .use_nickname()
                        .and_then(Result::ok)
                        .map(|n| n.into_owned())
                        .unwrap_or_default();
                    let code = self.cfg.nicknames.get(&nick).copied().unwrap_or(200);
                    if code == 200 {
                        if let Some(aor) = self.client_aor.clone() {
                            if let Some(ch) = self.roster.set_nickname(&aor, Some(nick)) {
                                let n = self.notify(&[ch], false);
                                // NOTIFYs go out on the SIP side; keep them for the loop.
                                self.pending_sip(n);
                            }
                        }
                    }
                    Some(code)
                }
                Some(b"SEND") => CpimView::parse(&body)
                    .ok()
                    .and_then(|v| v.to().next().and_then(Result::ok).map(|a| a.uri.to_vec()))
                    .and_then(|to| {
                        self.cfg
                            .refuse_to
                            .get(&*String::from_utf8_lossy(&to))
                            .copied()
                    }),
                _ => None,
            };
            let Some(m) = self.msrp.as_mut() else { return };
            match by_hand {
                Some(code) => {
                    let mut out = BytesMut::new();
                    let local = m.local.clone();
                    if let Some(w) =
                        ResponseWriter::new(&mut out, &head, code, None, &[local.as_bytes()])
                    {
                        w.end();
                    }
                    m.write.write_all(&out).await.unwrap();
                }
                None => {
                    let mut b = BytesMut::from(&raw[..]);
                    m.conn.handle_input(Instant::now(), &mut b).unwrap();
                    while m.conn.poll_event().is_some() {}
                }
            }
            self.flush_msrp().await;
        }
    }

    fn pending_sip(&mut self, n: Vec<Bytes>) {
        self.outbox.extend(n);
    }

    async fn flush_msrp(&mut self) {
        let Some(m) = self.msrp.as_mut() else { return };
        let mut out = BytesMut::new();
        while let Some(t) = m.conn.poll_transmit(Instant::now()) {
            t.write_to(&mut out);
        }
        if !out.is_empty() {
            let _ = m.write.write_all(&out).await;
        }
    }
}
