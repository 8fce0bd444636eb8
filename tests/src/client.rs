//! A blocking raw-frame MSRP client for end-to-end tests: it writes exactly the frames a test
//! asks for (AUTH with digest, chunked SEND, REPORT, responses, arbitrary methods or bytes)
//! over TCP or TLS, and reads whole frames back with the dataplane's parser. It keeps no
//! session state of its own, so tests see precisely what a relay sent.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use dataplane::digest::{Challenge, Credentials};
use dataplane::wire::{
    ByteRange, Continuation, Event, FrameHead, HeaderName, Ident, Method, Parser, ParserLimits,
    RandomSource, RequestWriter, ResponseWriter, Status,
};

/// How long a read waits before a test fails, unless changed with
/// [`MsrpClient::set_read_timeout`].
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(20);

/// One received frame, body flattened.
#[derive(Clone)]
pub struct Frame {
    /// Start line and headers.
    pub head: FrameHead,
    /// The body (empty when there is none).
    pub body: Vec<u8>,
    /// The end-line flag.
    pub flag: Continuation,
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let head = String::from_utf8_lossy(self.head.as_bytes());
        write!(
            f,
            "Frame {{ {head:?}, body {} bytes, flag {:?} }}",
            self.body.len(),
            self.flag
        )
    }
}

impl Frame {
    /// Status code of a response.
    pub fn code(&self) -> Option<u16> {
        self.head.status_code()
    }

    /// Method of a request.
    pub fn method(&self) -> Option<Method> {
        self.head.method()
    }

    /// Method name of a request as on the wire.
    pub fn method_name(&self) -> String {
        String::from_utf8_lossy(self.head.method_name().unwrap_or_default()).into_owned()
    }

    /// Whether this is a request with method `name`.
    pub fn is_request(&self, name: &str) -> bool {
        self.head.method_name() == Some(name.as_bytes())
    }

    /// A header's value ("" when absent).
    pub fn header(&self, name: &str) -> String {
        String::from_utf8_lossy(self.head.header(name).unwrap_or_default()).into_owned()
    }

    /// Whether a header is present.
    pub fn has_header(&self, name: &str) -> bool {
        self.head.header(name).is_some()
    }

    /// To-Path as received.
    pub fn to_path(&self) -> String {
        String::from_utf8_lossy(self.head.to_path_raw()).into_owned()
    }

    /// From-Path as received.
    pub fn from_path(&self) -> String {
        String::from_utf8_lossy(self.head.from_path_raw()).into_owned()
    }

    /// From-Path URIs.
    pub fn from_path_uris(&self) -> Vec<String> {
        split_path(&self.from_path())
    }

    /// Transaction id.
    pub fn tid(&self) -> String {
        String::from_utf8_lossy(self.head.transaction_id()).into_owned()
    }

    /// Message-ID ("" when absent).
    pub fn message_id(&self) -> String {
        self.header("Message-ID")
    }

    /// `(namespace, code)` of a REPORT's Status header.
    pub fn status(&self) -> Option<(u16, u16)> {
        match self.head.status() {
            Some(Ok(Status {
                namespace, code, ..
            })) => Some((namespace, code)),
            _ => None,
        }
    }

    /// Byte-Range.
    pub fn byte_range(&self) -> Option<ByteRange> {
        self.head.byte_range()
    }

    /// Use-Path URIs of a 200 to AUTH.
    pub fn use_path(&self) -> Vec<String> {
        split_path(&self.header("Use-Path"))
    }
}

/// Splits a path header value into its URIs.
pub fn split_path(v: &str) -> Vec<String> {
    v.split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// TCP or TLS.
enum Transport {
    Tcp(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Transport {
    fn tcp(&self) -> &TcpStream {
        match self {
            Transport::Tcp(s) => s,
            Transport::Tls(s) => s.get_ref(),
        }
    }
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Tcp(s) => s.read(buf),
            Transport::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Tcp(s) => s.write(buf),
            Transport::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Tcp(s) => s.flush(),
            Transport::Tls(s) => s.flush(),
        }
    }
}

/// xorshift64*: transaction ids and cnonces for tests only.
pub struct TestRng(u64);

impl TestRng {
    /// Seeded from the clock and a counter (tests need distinct ids, not secrecy).
    pub fn new() -> TestRng {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(1);
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(7, |d| d.as_nanos() as u64);
        TestRng((t ^ N.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)) | 1)
    }
}

impl Default for TestRng {
    fn default() -> Self {
        TestRng::new()
    }
}

impl RandomSource for TestRng {
    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// What a successful AUTH returned.
#[derive(Debug, Clone)]
pub struct AuthGrant {
    /// The Use-Path URIs, client side first.
    pub use_path: Vec<String>,
    /// Expires granted.
    pub expires: Option<u32>,
    /// The whole 200.
    pub response: Frame,
}

/// Digest credentials to answer a relay's challenge.
#[derive(Debug, Clone)]
pub struct Login<'a> {
    /// User name.
    pub user: &'a str,
    /// Password.
    pub password: &'a str,
}

/// One message as it arrived in chunks.
#[derive(Debug, Default)]
pub struct Received {
    /// The reassembled body (by Byte-Range).
    pub body: Vec<u8>,
    /// Every SEND chunk in arrival order (bodies stripped to save memory).
    pub chunks: Vec<Frame>,
    /// Body bytes received, over all chunks.
    pub bytes: u64,
    /// The last chunk's flag (`Complete` or `Abort`).
    pub flag: Option<Continuation>,
}

/// A blocking raw MSRP client.
pub struct MsrpClient {
    io: Transport,
    parser: Parser,
    buf: BytesMut,
    /// This client's own URI (From-Path of what it sends, last To-Path URI of what it gets).
    pub uri: String,
    /// Transaction ids and cnonces.
    pub rng: TestRng,
    /// Frames read while looking for another one.
    pending: VecDeque<Frame>,
}

impl MsrpClient {
    /// Connects over TCP.
    pub fn connect(addr: SocketAddr, uri: &str) -> io::Result<MsrpClient> {
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
        s.set_nodelay(true)?;
        Self::over(Transport::Tcp(s), uri)
    }

    /// Connects over TLS, checking the server certificate against `server_name`.
    pub fn connect_tls(
        addr: SocketAddr,
        server_name: &str,
        tls: Arc<rustls::ClientConfig>,
        uri: &str,
    ) -> io::Result<MsrpClient> {
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
        s.set_nodelay(true)?;
        let name = rustls::pki_types::ServerName::try_from(server_name.to_string())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let conn = rustls::ClientConnection::new(tls, name).map_err(io::Error::other)?;
        let mut stream = rustls::StreamOwned::new(conn, s);
        stream
            .get_ref()
            .set_read_timeout(Some(DEFAULT_READ_TIMEOUT))?;
        // Finish the handshake now so that certificate errors show up here.
        while stream.conn.is_handshaking() {
            stream
                .conn
                .complete_io(&mut stream.sock)
                .map_err(|e| io::Error::new(e.kind(), format!("TLS handshake: {e}")))?;
        }
        Self::over(Transport::Tls(Box::new(stream)), uri)
    }

    fn over(io: Transport, uri: &str) -> io::Result<MsrpClient> {
        io.tcp().set_read_timeout(Some(DEFAULT_READ_TIMEOUT))?;
        Ok(MsrpClient {
            io,
            parser: Parser::new(ParserLimits {
                max_chunk_size: 64 * 1024 * 1024,
                ..ParserLimits::default()
            }),
            buf: BytesMut::new(),
            uri: uri.to_string(),
            rng: TestRng::new(),
            pending: VecDeque::new(),
        })
    }

    /// How long reads wait (`None`: forever).
    pub fn set_read_timeout(&self, t: Option<Duration>) {
        let _ = self.io.tcp().set_read_timeout(t);
    }

    /// The local socket address.
    pub fn local_addr(&self) -> SocketAddr {
        self.io.tcp().local_addr().expect("connected socket")
    }

    /// Whether this client runs TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self.io, Transport::Tls(_))
    }

    /// A fresh transaction id.
    pub fn tid(&mut self) -> Ident {
        Ident::random(&mut self.rng)
    }

    /// Writes raw bytes.
    pub fn write_raw(&mut self, b: &[u8]) -> io::Result<()> {
        self.io.write_all(b)?;
        self.io.flush()
    }

    /// Closes the connection abruptly: a TCP reset (as when the kernel reaps a killed process
    /// holding unread data) when `reset`, else an orderly FIN.
    pub fn kill(self, reset: bool) {
        let s = self.io.tcp();
        if reset {
            let _ = socket_linger_zero(s);
        } else {
            let _ = s.shutdown(Shutdown::Both);
        }
        drop(self);
    }

    /// Reads the next frame from the wire (ignoring frames set aside by [`Self::expect`]).
    /// `Ok(None)`: the peer closed the connection.
    fn read_wire(&mut self) -> io::Result<Option<Frame>> {
        let mut head = None;
        let mut body = Vec::new();
        loop {
            match self.parser.poll(&mut self.buf) {
                Ok(Some(Event::Head(h))) => {
                    head = Some(h);
                    continue;
                }
                Ok(Some(Event::Body(b))) => {
                    body.extend_from_slice(&b);
                    continue;
                }
                Ok(Some(Event::End { flag })) => {
                    let head = head.ok_or_else(|| io::Error::other("end-line without head"))?;
                    return Ok(Some(Frame { head, body, flag }));
                }
                Ok(None) => {}
                Err(e) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("unparsable frame from the relay: {e:?}"),
                    ))
                }
            }
            let mut tmp = [0u8; 64 * 1024];
            match self.io.read(&mut tmp) {
                Ok(0) => return Ok(None),
                Ok(n) => self.buf.extend_from_slice(&tmp[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
                    ) =>
                {
                    return Ok(None)
                }
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }

    /// The next frame (set-aside ones first). `Ok(None)`: the peer closed the connection.
    pub fn read_frame(&mut self) -> io::Result<Option<Frame>> {
        if let Some(f) = self.pending.pop_front() {
            return Ok(Some(f));
        }
        self.read_wire()
    }

    /// The next frame; panics (naming `what`) on close, timeout or garbage.
    pub fn next(&mut self, what: &str) -> Frame {
        match self.read_frame() {
            Ok(Some(f)) => f,
            Ok(None) => panic!("{}: connection closed while waiting for {what}", self.uri),
            Err(e) => panic!("{}: {e} while waiting for {what}", self.uri),
        }
    }

    /// The first frame matching `pred`; others are kept for later reads, in order.
    pub fn expect(&mut self, what: &str, pred: impl Fn(&Frame) -> bool) -> Frame {
        if let Some(i) = self.pending.iter().position(&pred) {
            return self.pending.remove(i).expect("index from position");
        }
        loop {
            let f = match self.read_wire() {
                Ok(Some(f)) => f,
                Ok(None) => panic!(
                    "{}: connection closed while waiting for {what}; set aside: {:?}",
                    self.uri, self.pending
                ),
                Err(e) => panic!(
                    "{}: {e} while waiting for {what}; set aside: {:?}",
                    self.uri, self.pending
                ),
            };
            if pred(&f) {
                return f;
            }
            self.pending.push_back(f);
        }
    }

    /// The response to transaction `tid`.
    pub fn response_to(&mut self, tid: &Ident) -> Frame {
        let t = tid.as_bytes().to_vec();
        self.expect(&format!("response to {}", tid.as_str()), move |f| {
            f.code().is_some() && f.head.transaction_id() == t.as_slice()
        })
    }

    /// Waits until the peer closes the connection, failing on any frame or after `within`.
    /// Returns how long it took.
    pub fn expect_closed(&mut self, within: Duration) -> Duration {
        let start = Instant::now();
        self.set_read_timeout(Some(within));
        match self.read_frame() {
            Ok(None) => start.elapsed(),
            Ok(Some(f)) => panic!("{}: expected a close, got {f:?}", self.uri),
            Err(e) => panic!(
                "{}: expected the relay to close the connection within {within:?}: {e}",
                self.uri
            ),
        }
    }

    /// Whether the connection is still open after `wait` (no frame may arrive meanwhile).
    pub fn still_open_after(&mut self, wait: Duration) -> bool {
        self.set_read_timeout(Some(wait));
        let r = match self.read_frame() {
            Ok(None) => false,
            Ok(Some(f)) => panic!("{}: unexpected frame {f:?}", self.uri),
            Err(e) => matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ),
        };
        self.set_read_timeout(Some(DEFAULT_READ_TIMEOUT));
        r
    }

    /// Writes an AUTH to `to_path` with extra headers; returns its transaction id.
    pub fn send_auth(&mut self, to_path: &[&str], extra: &[(&str, &str)]) -> Ident {
        let tid = self.tid();
        let mut b = BytesMut::new();
        let mut w = RequestWriter::new(&mut b, tid, "AUTH", to_path, &[self.uri.as_str()]);
        for (n, v) in extra {
            w = w.header(n, v.as_bytes());
        }
        w.end(Continuation::Complete);
        self.write_raw(&b).expect("write AUTH");
        tid
    }

    /// Authorization value answering the challenge in a 401, for an AUTH whose rightmost
    /// To-Path URI is `digest_uri` (RFC 4976 §9.1).
    pub fn credentials(&mut self, challenge: &Frame, login: &Login, digest_uri: &str) -> String {
        let ch = Challenge::parse(&challenge.header("WWW-Authenticate"))
            .unwrap_or_else(|e| panic!("bad challenge {challenge:?}: {e:?}"));
        let cnonce = format!("{:016x}", self.rng.next_u64());
        Credentials::answer(
            &ch,
            login.user,
            login.password,
            "AUTH",
            digest_uri,
            &cnonce,
            1,
        )
        .render()
    }

    /// The whole AUTH exchange (challenge, credentials) through `to_path`, whose last URI is
    /// the relay authenticated to. Returns the 200's Use-Path, or the final non-200 response.
    pub fn try_auth(
        &mut self,
        to_path: &[&str],
        login: &Login,
        expires: Option<u32>,
    ) -> Result<AuthGrant, Box<Frame>> {
        let exp = expires.map(|e| e.to_string());
        let mut extra: Vec<(&str, &str)> = Vec::new();
        if let Some(e) = &exp {
            extra.push(("Expires", e));
        }
        let tid = self.send_auth(to_path, &extra);
        let ch = self.response_to(&tid);
        let ok = if ch.code() == Some(401) {
            let digest_uri = to_path.last().copied().unwrap_or_default();
            let creds = self.credentials(&ch, login, digest_uri);
            let mut with_creds = extra.clone();
            with_creds.push(("Authorization", &creds));
            let tid = self.send_auth(to_path, &with_creds);
            self.response_to(&tid)
        } else {
            ch
        };
        if ok.code() != Some(200) {
            return Err(Box::new(ok));
        }
        Ok(AuthGrant {
            use_path: ok.use_path(),
            expires: ok.header("Expires").parse().ok(),
            response: ok,
        })
    }

    /// [`Self::try_auth`] that must succeed.
    pub fn auth(&mut self, to_path: &[&str], login: &Login) -> AuthGrant {
        self.try_auth(to_path, login, None)
            .unwrap_or_else(|f| panic!("{}: AUTH to {to_path:?} refused: {f:?}", self.uri))
    }

    /// Writes one SEND chunk. `range` is (start, total) with the end computed from `body`.
    /// Returns the transaction id.
    #[allow(clippy::too_many_arguments)]
    pub fn send_chunk(
        &mut self,
        to_path: &[String],
        message_id: &str,
        start: u64,
        total: Option<u64>,
        body: &[u8],
        flag: Continuation,
        extra: &[(&str, &str)],
    ) -> Ident {
        let b = self.chunk_bytes(to_path, message_id, start, total, body, flag, extra);
        self.write_raw(&b.1).expect("write SEND");
        b.0
    }

    /// The bytes of one SEND chunk (see [`Self::send_chunk`]).
    #[allow(clippy::too_many_arguments)]
    pub fn chunk_bytes(
        &mut self,
        to_path: &[String],
        message_id: &str,
        start: u64,
        total: Option<u64>,
        body: &[u8],
        flag: Continuation,
        extra: &[(&str, &str)],
    ) -> (Ident, BytesMut) {
        let tid = Ident::random_for_body(&mut self.rng, body).expect("an id absent from the body");
        let mut b = BytesMut::with_capacity(body.len() + 512);
        let mut w = RequestWriter::new(&mut b, tid, "SEND", to_path, &[self.uri.as_str()])
            .message_id(message_id.as_bytes())
            .byte_range(ByteRange {
                start,
                end: Some(start + body.len() as u64 - u64::from(!body.is_empty())),
                total,
            });
        for (n, v) in extra {
            w = w.header(n, v.as_bytes());
        }
        w.content_type(b"application/octet-stream").body(body, flag);
        (tid, b)
    }

    /// Writes a whole message in chunks of `chunk` octets; returns their transaction ids.
    pub fn send_message(
        &mut self,
        to_path: &[String],
        message_id: &str,
        body: &[u8],
        chunk: usize,
        extra: &[(&str, &str)],
    ) -> Vec<Ident> {
        let total = body.len() as u64;
        let mut tids = Vec::new();
        let mut at = 0usize;
        loop {
            let end = (at + chunk).min(body.len());
            let flag = if end == body.len() {
                Continuation::Complete
            } else {
                Continuation::More
            };
            tids.push(self.send_chunk(
                to_path,
                message_id,
                at as u64 + 1,
                Some(total),
                &body[at..end],
                flag,
                extra,
            ));
            at = end;
            if at >= body.len() {
                return tids;
            }
        }
    }

    /// Writes a request of any method (bodiless); returns its transaction id.
    pub fn send_request(
        &mut self,
        method: &str,
        to_path: &[String],
        extra: &[(&str, &str)],
    ) -> Ident {
        let tid = self.tid();
        let mut b = BytesMut::new();
        let mut w = RequestWriter::new(&mut b, tid, method, to_path, &[self.uri.as_str()]);
        for (n, v) in extra {
            w = w.header(n, v.as_bytes());
        }
        w.end(Continuation::Complete);
        self.write_raw(&b).expect("write request");
        tid
    }

    /// Answers a request with `code` (To-Path per RFC 4975 §7.2), adding `extra` headers.
    pub fn respond(&mut self, req: &Frame, code: u16, extra: &[(&str, &str)]) {
        self.try_respond(req, code, extra).expect("write response");
    }

    /// [`Self::respond`] that returns the write error instead of panicking (the peer may be
    /// gone, e.g. a relay that stopped).
    pub fn try_respond(
        &mut self,
        req: &Frame,
        code: u16,
        extra: &[(&str, &str)],
    ) -> io::Result<()> {
        let mut b = BytesMut::new();
        let mut w = ResponseWriter::new(&mut b, &req.head, code, None, &[self.uri.as_str()])
            .expect("a request");
        for (n, v) in extra {
            w = w.header(n, v.as_bytes());
        }
        w.end();
        self.write_raw(&b)
    }

    /// Sends a REPORT for `message_id` back along `to_path` (the From-Path a SEND arrived
    /// with) with `Status: 000 <code>` and the given byte range.
    pub fn report(&mut self, to_path: &[String], message_id: &str, range: ByteRange, code: u16) {
        let tid = self.tid();
        let mut b = BytesMut::new();
        RequestWriter::new(&mut b, tid, "REPORT", to_path, &[self.uri.as_str()])
            .message_id(message_id.as_bytes())
            .byte_range(range)
            .status(0, code, None)
            .end(Continuation::Complete);
        self.write_raw(&b).expect("write REPORT");
    }

    /// Receives the chunks of one message (SEND frames with `message_id`), answering each
    /// with `code` (unless the chunk asked for no response). Frames of other kinds are set
    /// aside. Stops at a `$` or `#` chunk.
    pub fn receive_message(&mut self, message_id: &str, code: u16) -> Received {
        let mut r = Received::default();
        let mid = message_id.to_string();
        loop {
            let m = mid.clone();
            let mut f = self.expect(&format!("a chunk of {mid}"), move |f| {
                f.method() == Some(Method::Send) && f.message_id() == m
            });
            let range = f.byte_range().unwrap_or(ByteRange {
                start: 1,
                end: None,
                total: None,
            });
            let at = (range.start.max(1) - 1) as usize;
            if r.body.len() < at + f.body.len() {
                r.body.resize(at + f.body.len(), 0);
            }
            r.body[at..at + f.body.len()].copy_from_slice(&f.body);
            r.bytes += f.body.len() as u64;
            if f.header("Failure-Report") != "no" {
                self.respond(&f, code, &[]);
            }
            f.body = Vec::new();
            let flag = f.flag;
            r.chunks.push(f);
            if flag != Continuation::More {
                r.flag = Some(flag);
                return r;
            }
        }
    }
}

/// SO_LINGER with a zero timeout: `close` then sends RST.
fn socket_linger_zero(s: &TcpStream) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let l = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt reads `size_of::<linger>()` bytes from a valid, live struct.
    let r = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&l as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The known header name `n` as text (for building requests with [`MsrpClient::send_auth`]).
pub fn header_name(n: HeaderName) -> &'static str {
    n.as_str()
}

/// Deterministic test content: `len` bytes that differ at every offset modulo 251 and
/// between seeds, so that lost, duplicated or reordered bytes show.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i % 251) as u8).wrapping_add(seed.wrapping_mul(31)) ^ ((i >> 16) as u8))
        .collect()
}
