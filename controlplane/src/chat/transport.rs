//! The sockets: SIP over TCP or UDP towards the room's server, the MSRP TCP connection, and
//! the reader tasks that turn every input (network bytes, typed lines) into one [`Net`]
//! stream for the client loop. The channel is bounded, so a fast peer is slowed down by TCP
//! rather than buffered without limit.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::mpsc;

use super::options::SipTransportKind;
use crate::sip::wire::{Frame, Framing, Limits, Message, StreamFramer};

/// How many reports may wait for the client loop.
pub const QUEUE: usize = 256;

/// Largest SIP message accepted (conference-info documents of big rooms are the big ones).
pub const SIP_LIMITS: Limits = Limits {
    max_message: 1 << 20,
    max_headers: 128,
};

/// Longest input line taken from the user (longer lines are cut).
pub const MAX_INPUT_LINE: usize = 64 * 1024;

/// Something that happened on one of the inputs.
#[derive(Debug)]
pub enum Net {
    /// A SIP message arrived.
    Sip(Message),
    /// An RFC 5626 CRLFCRLF keep-alive arrived on the SIP stream (answer with CRLF).
    SipPing,
    /// The SIP transport failed or closed.
    SipClosed(String),
    /// Bytes on the MSRP connection.
    Msrp(Bytes),
    /// The MSRP connection closed or failed.
    MsrpClosed(String),
    /// A line typed by the user.
    Input(String),
    /// End of user input.
    InputEnd,
}

/// The SIP side of the link to the room.
pub struct SipLink {
    writer: SipWriter,
    /// Our address on this transport (Via, Contact, SDP).
    pub local: SocketAddr,
    /// The server's address.
    pub remote: SocketAddr,
    /// TCP or UDP.
    pub kind: SipTransportKind,
}

enum SipWriter {
    Tcp(OwnedWriteHalf),
    Udp(Arc<UdpSocket>),
}

impl SipLink {
    /// Connects (TCP) or binds and connects (UDP), and starts the reader task.
    pub async fn connect(
        kind: SipTransportKind,
        remote: SocketAddr,
        events: mpsc::Sender<Net>,
    ) -> io::Result<SipLink> {
        match kind {
            SipTransportKind::Tcp => {
                let s = TcpStream::connect(remote).await?;
                let _ = s.set_nodelay(true);
                let local = s.local_addr()?;
                let (r, w) = s.into_split();
                tokio::spawn(read_sip_stream(r, events));
                Ok(SipLink {
                    writer: SipWriter::Tcp(w),
                    local,
                    remote,
                    kind,
                })
            }
            SipTransportKind::Udp => {
                let bind: SocketAddr = if remote.is_ipv4() {
                    "0.0.0.0:0".parse().map_err(io::Error::other)?
                } else {
                    "[::]:0".parse().map_err(io::Error::other)?
                };
                let s = UdpSocket::bind(bind).await?;
                s.connect(remote).await?;
                let local = s.local_addr()?;
                let s = Arc::new(s);
                tokio::spawn(read_sip_datagrams(s.clone(), events));
                Ok(SipLink {
                    writer: SipWriter::Udp(s),
                    local,
                    remote,
                    kind,
                })
            }
        }
    }

    /// Sends one message (or keep-alive bytes).
    pub async fn send(&mut self, data: &[u8]) -> io::Result<()> {
        match &mut self.writer {
            SipWriter::Tcp(w) => w.write_all(data).await,
            SipWriter::Udp(s) => s.send(data).await.map(|_| ()),
        }
    }

    /// Whether the transport is reliable (no retransmissions).
    pub fn reliable(&self) -> bool {
        self.kind == SipTransportKind::Tcp
    }
}

async fn read_sip_stream(mut r: OwnedReadHalf, events: mpsc::Sender<Net>) {
    let mut framer = StreamFramer::new(SIP_LIMITS);
    loop {
        let n = match r.read_buf(framer.buffer_mut()).await {
            Ok(0) => {
                let _ = events
                    .send(Net::SipClosed("closed by the server".into()))
                    .await;
                return;
            }
            Ok(n) => n,
            Err(e) => {
                let _ = events.send(Net::SipClosed(e.to_string())).await;
                return;
            }
        };
        debug_assert!(n > 0);
        loop {
            match framer.next_frame() {
                Ok(None) => break,
                Ok(Some(Frame::Message(b))) => {
                    // A message that frames but does not parse is dropped, as a UA would.
                    if let Ok(m) = Message::parse(b, Framing::Stream, &SIP_LIMITS) {
                        if events.send(Net::Sip(m)).await.is_err() {
                            return;
                        }
                    }
                }
                Ok(Some(Frame::Ping)) => {
                    if events.send(Net::SipPing).await.is_err() {
                        return;
                    }
                }
                Ok(Some(Frame::Pong)) => {}
                Err(e) => {
                    let _ = events
                        .send(Net::SipClosed(format!("unreadable SIP stream: {e}")))
                        .await;
                    return;
                }
            }
        }
    }
}

async fn read_sip_datagrams(s: Arc<UdpSocket>, events: mpsc::Sender<Net>) {
    let mut buf = vec![0u8; 65_536];
    loop {
        match s.recv(&mut buf).await {
            Ok(n) => {
                let data = Bytes::copy_from_slice(&buf[..n]);
                if data.iter().all(|&c| c == b'\r' || c == b'\n' || c == 0) {
                    continue; // keep-alives
                }
                if let Ok(m) = Message::parse(data, Framing::Datagram, &SIP_LIMITS) {
                    if events.send(Net::Sip(m)).await.is_err() {
                        return;
                    }
                }
            }
            Err(e) => {
                let _ = events.send(Net::SipClosed(e.to_string())).await;
                return;
            }
        }
    }
}

/// Starts the reader of an MSRP connection; returns the write half.
pub fn start_msrp_reader(stream: TcpStream, events: mpsc::Sender<Net>) -> OwnedWriteHalf {
    let _ = stream.set_nodelay(true);
    let (mut r, w) = stream.into_split();
    tokio::spawn(async move {
        let mut buf = BytesMut::with_capacity(16 * 1024);
        loop {
            buf.reserve(16 * 1024);
            match r.read_buf(&mut buf).await {
                Ok(0) => {
                    let _ = events
                        .send(Net::MsrpClosed("closed by the room".into()))
                        .await;
                    return;
                }
                Ok(_) => {
                    if events.send(Net::Msrp(buf.split().freeze())).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = events.send(Net::MsrpClosed(e.to_string())).await;
                    return;
                }
            }
        }
    });
    w
}

/// Starts the reader of user input lines.
pub fn start_input_reader<R>(input: R, events: mpsc::Sender<Net>)
where
    R: AsyncRead + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let mut r = BufReader::new(input);
        let mut line = Vec::new();
        loop {
            line.clear();
            let got = (&mut r)
                .take(MAX_INPUT_LINE as u64)
                .read_until(b'\n', &mut line)
                .await;
            match got {
                Ok(0) | Err(_) => {
                    let _ = events.send(Net::InputEnd).await;
                    return;
                }
                Ok(_) => {
                    while matches!(line.last(), Some(b'\n' | b'\r')) {
                        line.pop();
                    }
                    let text = String::from_utf8_lossy(&line).into_owned();
                    if events.send(Net::Input(text)).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
}
