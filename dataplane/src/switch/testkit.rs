//! Test and bench support for the chat switch: a loopback [`Harness`] running the combined
//! relay + switch service with a fake control plane (rooms and sessions installed over the
//! rings, events collected), and a blocking raw-frame MSRP [`ChatClient`].
//!
//! Nothing here is used by the product; it is public so that the end-to-end tests and the
//! benchmark tool can install a room with M members without SIP.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::BytesMut;

use super::api::{
    broadcast, push_patiently, Participant, RoomId, RoomPolicy, RoomSpec, SessionSpec,
    SwitchConfig, SwitchControl, SwitchEvent, SwitchStats,
};
use crate::digest::StaticCredentials;
use crate::net::kernel::KernelBackend;
use crate::relay::{ListenerRole, Relay, RelayConfig, RelayControl, RelayPeer, Rng};
use crate::runtime::{Runtime, RuntimeConfig};
use crate::wire::{
    ByteRange, Continuation, Event, FrameHead, Ident, Method, Parser, ParserLimits, RequestWriter,
    ResponseWriter,
};

/// A running relay + switch on loopback with a fake control plane.
pub struct Harness {
    rt: Runtime<RelayControl, RelayPeer>,
    /// The MSRP port's address.
    pub addr: SocketAddr,
    /// Events the workers reported.
    pub events: Receiver<SwitchEvent>,
    events_tx: Arc<Mutex<Sender<SwitchEvent>>>,
}

impl Harness {
    /// Starts `workers` workers with default settings.
    pub fn start(workers: usize) -> Harness {
        Self::start_with(workers, SwitchConfig::default())
    }

    /// Starts `workers` workers with `cfg`.
    pub fn start_with(workers: usize, cfg: SwitchConfig) -> Harness {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        let addr = listener.local_addr().expect("local addr");
        drop(listener);
        let mut rcfg = RelayConfig::new(
            "relay.invalid",
            Arc::new(StaticCredentials::new()),
            [[7; 32], [9; 32]],
        );
        rcfg.listeners = vec![ListenerRole {
            port: addr.port(),
            tls: false,
        }];
        rcfg.max_connections = 20_000;
        let rcfg = Arc::new(rcfg);
        let scfg = Arc::new(cfg);
        let (tx, events) = channel();
        let events_tx = Arc::new(Mutex::new(tx));
        let sink_tx = events_tx.clone();
        let sink: super::EventSink = Arc::new(move |e| {
            if let Ok(t) = sink_tx.lock() {
                let _ = t.send(e);
            }
        });
        let rt = Runtime::start(
            &RuntimeConfig {
                workers,
                ..RuntimeConfig::default()
            },
            &[addr],
            |_| KernelBackend::new(1024),
            move |ctx| Relay::with_switch(rcfg.clone(), scfg.clone(), Some(sink.clone()), ctx),
        )
        .expect("runtime starts");
        Harness {
            rt,
            addr,
            events,
            events_tx,
        }
    }

    /// Number of workers.
    pub fn workers(&self) -> usize {
        self.rt.workers()
    }

    /// The control rings.
    pub fn controls(&self) -> &[crate::rings::RingTx<RelayControl>] {
        self.rt.controls()
    }

    /// Sends `msg` to every worker.
    pub fn broadcast(&self, msg: SwitchControl) {
        let n = broadcast(self.rt.controls(), &msg);
        assert_eq!(n, self.rt.workers(), "a control ring stayed full");
    }

    /// Sends `msg` to worker `w`.
    pub fn send_to(&self, w: usize, msg: SwitchControl) {
        assert!(push_patiently(
            self.rt.control(w),
            RelayControl::Switch(msg)
        ));
    }

    /// Creates a room; returns its spec.
    pub fn create_room(&self, id: RoomId, uri: &str, policy: RoomPolicy) -> Arc<RoomSpec> {
        let spec = RoomSpec::new(id, uri, policy);
        self.broadcast(SwitchControl::CreateRoom(spec.clone()));
        spec
    }

    /// The local URI handed out for session `sid`.
    pub fn session_uri(&self, sid: &str) -> String {
        format!("msrp://127.0.0.1:{}/{sid};tcp", self.addr.port())
    }

    /// Installs a passive session `sid` for `participant`, whose client uses `peer_uri`.
    pub fn add_session(
        &self,
        room: RoomId,
        sid: &str,
        peer_uri: &str,
        participant: &Arc<Participant>,
        tweak: impl FnOnce(&mut SessionSpec),
    ) -> Arc<SessionSpec> {
        let mut spec =
            SessionSpec::new(room, &self.session_uri(sid), peer_uri, participant.clone())
                .expect("valid session spec");
        tweak(&mut spec);
        let spec = Arc::new(spec);
        self.broadcast(SwitchControl::AddSession(spec.clone()));
        spec
    }

    /// Waits until every worker has handled everything sent to it so far; returns their
    /// counters.
    pub fn sync(&self) -> Vec<SwitchStats> {
        let mut out = Vec::new();
        for w in 0..self.rt.workers() {
            let (tx, rx) = channel();
            self.send_to(w, SwitchControl::Stats(tx));
            out.push(
                rx.recv_timeout(Duration::from_secs(20))
                    .expect("worker answers Stats"),
            );
        }
        out
    }

    /// Counters summed over the workers.
    pub fn stats(&self) -> SwitchStats {
        let mut t = SwitchStats::default();
        for s in self.sync() {
            t.merge(s);
        }
        t
    }

    /// Waits for an event matching `pred` (others are dropped).
    pub fn wait_event(&self, what: &str, pred: impl Fn(&SwitchEvent) -> bool) -> SwitchEvent {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(e) if pred(&e) => return e,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => panic!("no event: {what}"),
                Err(RecvTimeoutError::Disconnected) => panic!("event sink gone: {what}"),
            }
        }
    }

    /// A sender for extra events (tests that fake parts of the control plane).
    pub fn event_sender(&self) -> Arc<Mutex<Sender<SwitchEvent>>> {
        self.events_tx.clone()
    }

    /// Stops the workers.
    pub fn shutdown(mut self) {
        let _ = self.rt.shutdown();
    }
}

/// One received frame, flattened.
#[derive(Debug)]
pub struct Frame {
    /// Start line and headers.
    pub head: FrameHead,
    /// The body.
    pub body: Vec<u8>,
    /// The end-line flag.
    pub flag: Continuation,
}

impl Frame {
    /// Status code of a response.
    pub fn code(&self) -> Option<u16> {
        self.head.status_code()
    }

    /// The method of a request.
    pub fn method(&self) -> Option<Method> {
        self.head.method()
    }

    /// A header's value as text (empty when absent).
    pub fn header(&self, name: &str) -> String {
        String::from_utf8_lossy(self.head.header(name).unwrap_or_default()).into_owned()
    }

    /// The CPIM payload (after the CPIM and MIME header blocks), or the whole body.
    pub fn payload(&self) -> &[u8] {
        match crate::wire::CpimView::parse(&self.body) {
            Ok(v) => &self.body[v.payload_offset().min(self.body.len())..],
            Err(_) => &self.body,
        }
    }

    /// A CPIM header's value (`From`, `To`...).
    pub fn cpim(&self, name: &str) -> Option<String> {
        let v = crate::wire::CpimView::parse(&self.body).ok()?;
        let h = v.headers().find(|h| h.name == name.as_bytes())?;
        Some(String::from_utf8_lossy(h.value).into_owned())
    }
}

/// A Message/CPIM body: From, To, the payload's Content-Type, and the payload.
pub fn cpim(from: &str, to: &str, content_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut b = format!("From: <{from}>\r\nTo: <{to}>\r\n\r\nContent-Type: {content_type}\r\n\r\n")
        .into_bytes();
    b.extend_from_slice(payload);
    b
}

/// A blocking raw-frame MSRP client for one session.
pub struct ChatClient {
    /// The socket.
    pub stream: TcpStream,
    parser: Parser,
    buf: BytesMut,
    /// The switch's URI for the session (To-Path).
    pub to: String,
    /// The client's own URI (From-Path).
    pub uri: String,
    rng: Rng,
}

impl ChatClient {
    /// Connects to `addr`; requests go to `to` from `uri`.
    pub fn connect(addr: SocketAddr, to: &str, uri: &str) -> ChatClient {
        Self::from_stream(TcpStream::connect(addr).expect("connect"), to, uri)
    }

    /// A client over an accepted connection (active sessions: the switch connected).
    pub fn from_stream(stream: TcpStream, to: &str, uri: &str) -> ChatClient {
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        let _ = stream.set_nodelay(true);
        ChatClient {
            stream,
            parser: Parser::new(ParserLimits::default()),
            buf: BytesMut::new(),
            to: to.into(),
            uri: uri.into(),
            rng: Rng::from_os(),
        }
    }

    /// A fresh transaction id.
    pub fn tid(&mut self) -> Ident {
        Ident::random(&mut self.rng)
    }

    /// Writes raw bytes.
    pub fn write(&mut self, b: &[u8]) {
        self.stream.write_all(b).expect("write");
    }

    /// The next frame; `None` when the connection closed.
    pub fn read(&mut self) -> Option<Frame> {
        let mut head = None;
        let mut body = Vec::new();
        loop {
            match self.parser.poll(&mut self.buf) {
                Ok(Some(Event::Head(h))) => head = Some(h),
                Ok(Some(Event::Body(b))) => body.extend_from_slice(&b),
                Ok(Some(Event::End { flag })) => {
                    return Some(Frame {
                        head: head.expect("head before end"),
                        body,
                        flag,
                    })
                }
                Ok(None) => {
                    let mut tmp = [0u8; 65536];
                    match self.stream.read(&mut tmp) {
                        Ok(0) => return None,
                        Ok(n) => self.buf.extend_from_slice(&tmp[..n]),
                        Err(e)
                            if matches!(
                                e.kind(),
                                std::io::ErrorKind::ConnectionReset
                                    | std::io::ErrorKind::ConnectionAborted
                            ) =>
                        {
                            return None
                        }
                        Err(e) => panic!("read: {e}"),
                    }
                }
                Err(e) => panic!("unparsable frame from the switch: {e:?}"),
            }
        }
    }

    /// The next frame, which must exist.
    pub fn frame(&mut self) -> Frame {
        self.read().expect("a frame, not a closed connection")
    }

    /// The next request, answering nothing (recipients get `Failure-Report: partial`).
    pub fn next_send(&mut self) -> Frame {
        loop {
            let f = self.frame();
            if f.method() == Some(Method::Send) {
                return f;
            }
        }
    }

    /// Sends a bodiless SEND (binding) and returns the response.
    pub fn bind(&mut self) -> Frame {
        let (to, uri) = (self.to.clone(), self.uri.clone());
        self.bind_session(&to, &uri)
    }

    /// Binds another session (`to`, from `uri`) on this same connection.
    pub fn bind_session(&mut self, to: &str, uri: &str) -> Frame {
        let tid = self.tid();
        let mid = self.tid();
        let mut b = BytesMut::new();
        RequestWriter::new(&mut b, tid, "SEND", &[to], &[uri])
            .message_id(mid.as_bytes())
            .byte_range(ByteRange {
                start: 1,
                end: Some(0),
                total: Some(0),
            })
            .end(Continuation::Complete);
        self.write(&b);
        self.frame()
    }

    /// Writes one SEND chunk; returns its transaction id. `range` is (start, total).
    pub fn send_chunk(
        &mut self,
        mid: &str,
        content_type: &str,
        body: &[u8],
        range: (u64, Option<u64>),
        flag: Continuation,
        extra: &[(&str, &str)],
    ) -> Ident {
        let tid = Ident::random_for_body(&mut self.rng, body).expect("tid");
        let mut b = BytesMut::new();
        let mut w = RequestWriter::new(
            &mut b,
            tid,
            "SEND",
            &[self.to.as_str()],
            &[self.uri.as_str()],
        )
        .message_id(mid.as_bytes())
        .byte_range(ByteRange {
            start: range.0,
            end: Some(range.0 + body.len() as u64 - 1),
            total: range.1,
        });
        for (n, v) in extra {
            w = w.header(n, v.as_bytes());
        }
        w.content_type(content_type.as_bytes()).body(body, flag);
        self.write(&b);
        tid
    }

    /// Sends a complete single-chunk message; returns its transaction id.
    pub fn send_msg(
        &mut self,
        mid: &str,
        content_type: &str,
        body: &[u8],
        extra: &[(&str, &str)],
    ) -> Ident {
        self.send_chunk(
            mid,
            content_type,
            body,
            (1, Some(body.len() as u64)),
            Continuation::Complete,
            extra,
        )
    }

    /// Sends a CPIM message `from` → `to` with a text payload and returns the response code.
    pub fn say(&mut self, mid: &str, from: &str, to: &str, text: &str) -> u16 {
        let body = cpim(from, to, "text/plain", text.as_bytes());
        let tid = self.send_msg(mid, "message/cpim", &body, &[]);
        self.response_to(&tid)
    }

    /// Reads frames until the response to `tid`; returns its code. Requests read meanwhile
    /// are dropped.
    pub fn response_to(&mut self, tid: &Ident) -> u16 {
        loop {
            let f = self.frame();
            if f.head.transaction_id() == tid.as_bytes() {
                return f.code().expect("a response");
            }
        }
    }

    /// Sends a bodiless request of `method` with `headers`; returns its transaction id.
    pub fn request(&mut self, method: &str, headers: &[(&str, &str)]) -> Ident {
        let tid = self.tid();
        let mut b = BytesMut::new();
        let mut w = RequestWriter::new(
            &mut b,
            tid,
            method,
            &[self.to.as_str()],
            &[self.uri.as_str()],
        );
        for (n, v) in headers {
            w = w.header(n, v.as_bytes());
        }
        w.end(Continuation::Complete);
        self.write(&b);
        tid
    }

    /// Answers a request with `code`.
    pub fn respond(&mut self, req: &Frame, code: u16) {
        let mut b = BytesMut::new();
        if let Some(w) = ResponseWriter::new(&mut b, &req.head, code, None, &[self.uri.as_str()]) {
            w.end();
            self.write(&b);
        }
    }
}

/// An in-memory byte-stream backend: connections are created and fed by the test through a
/// [`MemHandle`], and what the service writes is collected. Drives a real [`Worker`] with no
/// sockets (property tests, fuzzing).
///
/// [`Worker`]: crate::worker::Worker
pub struct MemBackend {
    state: Arc<Mutex<MemState>>,
}

/// The test's side of a [`MemBackend`].
#[derive(Clone)]
pub struct MemHandle {
    state: Arc<Mutex<MemState>>,
}

#[derive(Default)]
struct MemState {
    events: std::collections::VecDeque<crate::net::NetEvent>,
    conns: std::collections::HashMap<crate::net::ConnId, MemConn>,
    next: u32,
}

#[derive(Default)]
struct MemConn {
    input: std::collections::VecDeque<u8>,
    output: Vec<u8>,
    eof: bool,
}

struct NoWake;

impl crate::net::Wake for NoWake {
    fn wake(&self) {}
}

impl MemBackend {
    /// A backend and the handle that drives it.
    pub fn new() -> (MemBackend, MemHandle) {
        let state = Arc::new(Mutex::new(MemState::default()));
        (
            MemBackend {
                state: state.clone(),
            },
            MemHandle { state },
        )
    }
}

impl MemHandle {
    /// A peer connects: the next poll reports it accepted on listener 0.
    pub fn accept(&self) -> crate::net::ConnId {
        let mut s = self.state.lock().expect("mem backend");
        s.next += 1;
        let id = crate::net::ConnId {
            idx: s.next,
            gen: 1,
        };
        s.conns.insert(id, MemConn::default());
        let port = 40000u16.wrapping_add(s.next as u16);
        s.events.push_back(crate::net::NetEvent::Accepted {
            listener: crate::net::ListenerId(0),
            conn: id,
            peer: SocketAddr::from(([127, 0, 0, 2], port)),
        });
        id
    }

    /// The peer sends `bytes` on `conn`.
    pub fn feed(&self, conn: crate::net::ConnId, bytes: &[u8]) {
        let mut s = self.state.lock().expect("mem backend");
        if let Some(c) = s.conns.get_mut(&conn) {
            c.input.extend(bytes);
            s.events.push_back(crate::net::NetEvent::Readable(conn));
        }
    }

    /// The peer closes `conn`.
    pub fn hang_up(&self, conn: crate::net::ConnId) {
        let mut s = self.state.lock().expect("mem backend");
        if let Some(c) = s.conns.get_mut(&conn) {
            c.eof = true;
            s.events.push_back(crate::net::NetEvent::Readable(conn));
        }
    }

    /// What the service wrote on `conn` since the last call.
    pub fn output(&self, conn: crate::net::ConnId) -> Vec<u8> {
        let mut s = self.state.lock().expect("mem backend");
        s.conns
            .get_mut(&conn)
            .map(|c| std::mem::take(&mut c.output))
            .unwrap_or_default()
    }

    /// Whether `conn` is still open (the service did not close it).
    pub fn is_open(&self, conn: crate::net::ConnId) -> bool {
        self.state
            .lock()
            .expect("mem backend")
            .conns
            .contains_key(&conn)
    }
}

impl crate::net::Backend for MemBackend {
    fn listen(
        &mut self,
        addr: SocketAddr,
    ) -> std::io::Result<(crate::net::ListenerId, SocketAddr)> {
        Ok((crate::net::ListenerId(0), addr))
    }

    fn connect(&mut self, _addr: SocketAddr) -> std::io::Result<crate::net::ConnId> {
        let mut s = self.state.lock().expect("mem backend");
        s.next += 1;
        let id = crate::net::ConnId {
            idx: s.next,
            gen: 1,
        };
        s.conns.insert(id, MemConn::default());
        s.events
            .push_back(crate::net::NetEvent::Connected { conn: id, ok: true });
        Ok(id)
    }

    fn recv(
        &mut self,
        conn: crate::net::ConnId,
        buf: &mut BytesMut,
        max: usize,
    ) -> std::io::Result<usize> {
        let mut s = self.state.lock().expect("mem backend");
        let Some(c) = s.conns.get_mut(&conn) else {
            return Err(std::io::ErrorKind::NotConnected.into());
        };
        if c.input.is_empty() {
            return if c.eof {
                Ok(0)
            } else {
                Err(std::io::ErrorKind::WouldBlock.into())
            };
        }
        let n = c.input.len().min(max.max(1));
        buf.extend(c.input.drain(..n));
        Ok(n)
    }

    fn send(
        &mut self,
        conn: crate::net::ConnId,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::io::Result<usize> {
        let mut s = self.state.lock().expect("mem backend");
        let Some(c) = s.conns.get_mut(&conn) else {
            return Err(std::io::ErrorKind::NotConnected.into());
        };
        let mut n = 0;
        for b in bufs {
            c.output.extend_from_slice(b);
            n += b.len();
        }
        Ok(n)
    }

    fn close(&mut self, conn: crate::net::ConnId) {
        self.state.lock().expect("mem backend").conns.remove(&conn);
    }

    fn close_listener(&mut self, _listener: crate::net::ListenerId) {}

    fn addrs(&self, conn: crate::net::ConnId) -> Option<(SocketAddr, SocketAddr)> {
        let s = self.state.lock().ok()?;
        s.conns.contains_key(&conn).then(|| {
            (
                SocketAddr::from(([127, 0, 0, 1], 2855)),
                SocketAddr::from(([127, 0, 0, 2], 40000)),
            )
        })
    }

    fn poll(
        &mut self,
        events: &mut Vec<crate::net::NetEvent>,
        _timeout: Option<Duration>,
    ) -> std::io::Result<()> {
        let mut s = self.state.lock().expect("mem backend");
        events.extend(s.events.drain(..));
        Ok(())
    }

    fn waker(&self) -> Arc<dyn crate::net::Wake> {
        Arc::new(NoWake)
    }
}

/// A single worker running the relay + switch over a [`MemBackend`], with one room (id 1,
/// `sip:room@example.com`) and sessions `s1`..`s4` for participants `p1`..`p4`
/// (`sip:pN@example.com`), local URIs `msrp://127.0.0.1:2855/sN;tcp`.
pub struct MemSwitch {
    worker: crate::worker::Worker<MemBackend, Relay>,
    ctl: crate::rings::RingTx<RelayControl>,
    /// Drives the connections.
    pub net: MemHandle,
}

impl MemSwitch {
    /// The worker with its room and sessions installed, under `policy`.
    pub fn new(policy: RoomPolicy) -> MemSwitch {
        let (backend, net) = MemBackend::new();
        let bell = crate::rings::Doorbell::new(Arc::new(NoWake));
        let (ctl, ctl_rx) = crate::rings::ring(1024, bell.clone());
        let mut rcfg = RelayConfig::new(
            "relay.invalid",
            Arc::new(StaticCredentials::new()),
            [[3; 32], [4; 32]],
        );
        rcfg.listeners = vec![ListenerRole {
            port: 2855,
            tls: false,
        }];
        let ctx = crate::runtime::WorkerContext {
            index: 0,
            peers: vec![None],
            own_control: ctl.clone(),
        };
        let sink: super::EventSink = Arc::new(|_| {});
        let relay = Relay::with_switch(
            Arc::new(rcfg),
            Arc::new(SwitchConfig::default()),
            Some(sink),
            ctx,
        );
        let worker = crate::worker::Worker::new(
            backend,
            relay,
            ctl_rx,
            Vec::new(),
            bell,
            Arc::new(std::sync::atomic::AtomicBool::new(false)),
            crate::worker::WorkerConfig::default(),
        );
        let mut m = MemSwitch { worker, ctl, net };
        m.control(SwitchControl::CreateRoom(RoomSpec::new(
            1,
            "sip:room@example.com",
            policy,
        )));
        for i in 1..=4 {
            let p = Participant::new(&format!("p{i}"), &[&format!("sip:p{i}@example.com")]);
            if let Ok(spec) = SessionSpec::new(
                1,
                &format!("msrp://127.0.0.1:2855/s{i};tcp"),
                &format!("msrp://client.invalid:9/c{i};tcp"),
                p,
            ) {
                m.control(SwitchControl::AddSession(Arc::new(spec)));
            }
        }
        m.step();
        m
    }

    /// Sends a control message and lets the worker take it.
    pub fn control(&mut self, msg: SwitchControl) {
        let _ = self.ctl.push(RelayControl::Switch(msg));
        self.step();
    }

    /// Lets the worker take what was fed and write what it has to (input is read at the end
    /// of one loop pass and answered in the next).
    pub fn step(&mut self) {
        for _ in 0..2 {
            let _ = self.worker.run_once(Some(Duration::ZERO));
        }
    }

    /// The switch's counters.
    pub fn stats(&self) -> SwitchStats {
        self.worker.service().switch().stats()
    }
}
