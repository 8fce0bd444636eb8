//! Transports on tokio: UDP (with the STUN Binding responder on the same socket, RFC 5626 §8),
//! TCP and TLS (rustls). Stream connections are framed by Content-Length; CRLFCRLF pings are
//! answered with CRLF (RFC 5626 §4.4.1/§5.4). Each connection is one task that owns both
//! halves of its socket and writes its own responses inline; other tasks reach it through a
//! bounded queue registered in the core's flow table.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

use super::core::{Core, FlowQueue, FlowSender};
use super::flow::{FlowKey, TransportKind};
use super::stun;
use super::wire::{Frame, Framing, Limits, Message, StreamFramer};

/// Limits for stream connections.
#[derive(Debug, Clone)]
pub struct StreamLimits {
    /// Parser limits.
    pub parse: Limits,
    /// Close a connection silent for this long (no message, no keep-alive).
    pub idle_timeout: Duration,
    /// Refuse connections beyond this many.
    pub max_connections: usize,
    /// Queue depth towards one connection; beyond it sends to the flow fail.
    pub queue: usize,
}

impl Default for StreamLimits {
    fn default() -> Self {
        StreamLimits {
            parse: Limits::default(),
            idle_timeout: Duration::from_secs(300),
            max_connections: 200_000,
            queue: 64,
        }
    }
}

/// Serves one UDP socket until it fails. `send` is a clone of the same socket used by the
/// flow table for sending from other tasks.
pub async fn serve_udp(core: Arc<Core>, sock: UdpSocket, limits: Limits) -> io::Result<()> {
    let local = sock.local_addr()?;
    let mut buf = vec![0u8; 65_536];
    loop {
        let (n, peer) = match sock.recv_from(&mut buf).await {
            Ok(x) => x,
            // ICMP errors surface as recv errors on some systems: keep serving.
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => continue,
            Err(e) => return Err(e),
        };
        let d = &buf[..n];
        if stun::is_stun(d) {
            if let Some(r) = stun::binding_response(d, peer) {
                core.counters.stun_keepalive();
                let _ = sock.send_to(&r, peer).await;
            }
            continue;
        }
        if d.iter().all(|&c| c == b'\r' || c == b'\n' || c == 0) {
            continue;
        }
        let flow = FlowKey {
            transport: TransportKind::Udp,
            local,
            remote: peer,
        };
        if let Ok(m) = Message::parse(Bytes::copy_from_slice(d), Framing::Datagram, &limits) {
            let out = core.on_message(m, flow, Instant::now());
            for b in core.deliver(out, Some(&flow)) {
                let _ = sock.send_to(&b, peer).await;
            }
        }
    }
}

/// Binds a UDP socket and returns the tokio socket plus a std clone for sending.
pub fn bind_udp(addr: SocketAddr) -> io::Result<(UdpSocket, std::net::UdpSocket)> {
    let std_sock = std::net::UdpSocket::bind(addr)?;
    std_sock.set_nonblocking(true)?;
    let send = std_sock.try_clone()?;
    Ok((UdpSocket::from_std(std_sock)?, send))
}

/// Accepts TCP connections (optionally wrapping them in TLS) until the listener fails.
pub async fn serve_tcp(
    core: Arc<Core>,
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    limits: StreamLimits,
) -> io::Result<()> {
    let local = listener.local_addr()?;
    let active = Arc::new(AtomicUsize::new(0));
    let transport = if tls.is_some() {
        TransportKind::Tls
    } else {
        TransportKind::Tcp
    };
    loop {
        let (sock, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) if is_transient(&e) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        if active.load(Ordering::Relaxed) >= limits.max_connections {
            drop(sock);
            continue;
        }
        let _ = sock.set_nodelay(true);
        let flow = FlowKey {
            transport,
            local,
            remote: peer,
        };
        let core = core.clone();
        let limits = limits.clone();
        let active = active.clone();
        let tls = tls.clone();
        active.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            match tls {
                None => serve_stream(core, sock, flow, &limits).await,
                Some(acc) => {
                    if let Ok(Ok(s)) =
                        tokio::time::timeout(Duration::from_secs(10), acc.accept(sock)).await
                    {
                        serve_stream(core, s, flow, &limits).await;
                    }
                }
            }
            active.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    ) || e.raw_os_error() == Some(24) // EMFILE: back off and retry
}

/// Runs one stream connection: reads, frames, answers pings, hands messages to the core, and
/// writes both its own responses and what other tasks queue for this flow.
pub async fn serve_stream<S>(core: Arc<Core>, stream: S, flow: FlowKey, limits: &StreamLimits)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let queue = Arc::new(FlowQueue::new(limits.queue));
    core.flows.insert(flow, FlowSender::Stream(queue.clone()));
    let (mut rd, mut wr) = tokio::io::split(stream);
    let mut framer = StreamFramer::new_empty(limits.parse);
    // Buffers are allocated while in use and released when drained, so that an idle flow
    // (the common case for outbound registrations) holds almost no memory.
    let mut wbuf = BytesMut::new();
    'conn: loop {
        tokio::select! {
            r = tokio::time::timeout(limits.idle_timeout, read_some(&mut rd, &mut framer)) => {
                match r {
                    Ok(Ok(n)) if n > 0 => {}
                    _ => break 'conn,
                }
                loop {
                    match framer.next_frame() {
                        Ok(Some(Frame::Ping)) => {
                            core.counters.crlf_keepalive();
                            wbuf.extend_from_slice(b"\r\n");
                        }
                        Ok(Some(Frame::Pong)) => {}
                        // A framed message whose head does not parse is dropped: the
                        // framing itself is intact.
                        Ok(Some(Frame::Message(b))) => {
                            if let Ok(m) = Message::parse(b, Framing::Stream, &limits.parse) {
                                let out = core.on_message(m, flow, Instant::now());
                                for b in core.deliver(out, Some(&flow)) {
                                    wbuf.extend_from_slice(&b);
                                }
                            }
                        }
                        Ok(None) => break,
                        // Framing lost (bad Content-Length, oversize): close (RFC 3261 §18.3).
                        Err(_) => {
                            let _ = wr.write_all(&wbuf).await;
                            break 'conn;
                        }
                    }
                }
                framer.release_if_empty();
                if !wbuf.is_empty() {
                    if wr.write_all(&wbuf).await.is_err() {
                        break 'conn;
                    }
                    wbuf = BytesMut::new();
                }
            }
            _ = queue.wait() => {
                for b in queue.take() {
                    wbuf.extend_from_slice(&b);
                }
                if !wbuf.is_empty() {
                    if wr.write_all(&wbuf).await.is_err() {
                        break 'conn;
                    }
                    wbuf = BytesMut::new();
                }
            }
        }
    }
    let _ = wr.shutdown().await;
    let out = core.flow_closed(&flow, Instant::now());
    core.deliver(out, None);
}

async fn read_some<R: AsyncRead + Unpin>(
    rd: &mut R,
    framer: &mut StreamFramer,
) -> io::Result<usize> {
    let buf = framer.buffer_mut();
    if buf.capacity() - buf.len() < 256 {
        buf.reserve(1024);
    }
    rd.read_buf(buf).await
}
