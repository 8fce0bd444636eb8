//! What a service may do to the network from inside a worker: queue bytes on a connection, open
//! and close connections, pause reading. Output is queued per connection and leaves in one
//! vectored write per connection and loop pass, because the kernel path's cost is per segment,
//! not per byte (`perf-notes.md`).

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};

use crate::net::{Backend, ConnId, ListenerId};

/// Most slices handed to one `send` call: Linux's `IOV_MAX`. A frame often takes several
/// slices (per-recipient head, shared header and body, end-line: five for a chat fan-out
/// frame), and with TCP_NODELAY every `writev` is at least one segment, whose cost dominates
/// on the kernel path (`perf-notes.md`): the cap must not split what is queued.
const MAX_IOV: usize = 1024;

/// Why a connection went away, as told to the service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseCause {
    /// The peer closed its side.
    PeerClosed,
    /// A read or write failed (reset, timeout in the stack, ...).
    Error(io::ErrorKind),
    /// The service asked for it.
    Local,
}

/// Per-connection output and flow-control state kept by the worker.
#[derive(Default)]
pub(crate) struct ConnIo {
    pub(crate) gen: u32,
    pub(crate) live: bool,
    queue: VecDeque<Bytes>,
    queued: usize,
    pub(crate) dirty: bool,
    /// The service paused reading (backpressure towards this peer).
    pub(crate) read_paused: bool,
    /// Readiness was reported but not fully consumed (budget or pause): revisit.
    pub(crate) read_pending: bool,
    /// Reading was resumed: offer the bytes already buffered to the service again, since it
    /// may have left them there when it paused.
    pub(crate) reoffer: bool,
    /// Close once the queue has drained (graceful close).
    pub(crate) close_after_flush: bool,
    /// The queue went above the service's high-water mark; `on_drained` fires when it empties.
    pub(crate) watch_drain: bool,
    /// An outgoing connection that is not connected yet: output waits.
    pub(crate) connecting: bool,
    /// Size of the next read call (adapts to what the connection sends).
    pub(crate) read_hint: u32,
    /// Read since the last buffer sweep.
    pub(crate) read_recently: bool,
    /// TLS session when the connection is `msrps`: the queue then holds plaintext, which is
    /// encrypted at flush time (one copy, which TLS needs anyway).
    pub(crate) tls: Option<Box<rustls::Connection>>,
}

/// Byte and connection counters of one worker. Plain fields, written only by the worker's
/// thread; the control plane reads copies of them on a stats request and sums them itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoCounters {
    /// Plaintext bytes read from connections.
    pub bytes_in: u64,
    /// Plaintext bytes handed to the network stack (before TLS).
    pub bytes_out: u64,
    /// Connections accepted on the listeners.
    pub accepted: u64,
    /// Connections closed (any cause).
    pub closed: u64,
}

/// What waits in the send queues of one worker.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueDepth {
    /// Bytes queued on all connections.
    pub bytes: usize,
    /// Connections with something queued.
    pub conns: usize,
    /// The largest queue of one connection (bytes).
    pub max_bytes: usize,
}

/// The worker's network facilities, lent to the service on every callback.
pub struct Io<B: Backend> {
    pub(crate) counters: IoCounters,
    pub(crate) backend: B,
    pub(crate) conns: Vec<ConnIo>,
    pub(crate) dirty: Vec<ConnId>,
    pub(crate) to_close: Vec<(ConnId, CloseCause)>,
    pub(crate) resumed: Vec<ConnId>,
    pub(crate) now: Instant,
}

impl ConnIo {
    /// Gives back the send queue's capacity when it is empty (a burst must not leave every
    /// member connection holding a large ring of slots).
    pub(crate) fn trim_queue(&mut self) {
        if self.queue.is_empty() && self.queue.capacity() > 8 {
            self.queue = VecDeque::new();
        }
    }
}

impl<B: Backend> Io<B> {
    pub(crate) fn new(backend: B) -> Self {
        Io {
            counters: IoCounters::default(),
            backend,
            conns: Vec::new(),
            dirty: Vec::new(),
            to_close: Vec::new(),
            resumed: Vec::new(),
            now: Instant::now(),
        }
    }

    /// Byte and connection counters of this worker so far.
    pub fn counters(&self) -> IoCounters {
        self.counters
    }

    /// The send queues of this worker's live connections, summed (walks every connection:
    /// for stats requests, not for the hot path).
    pub fn queue_depth(&self) -> QueueDepth {
        let mut d = QueueDepth::default();
        for c in self.conns.iter().filter(|c| c.live && c.queued > 0) {
            d.bytes += c.queued;
            d.conns += 1;
            d.max_bytes = d.max_bytes.max(c.queued);
        }
        d
    }

    /// Stops accepting on `listener` (its index in the worker's `listen` order); connections
    /// already accepted stay.
    pub fn close_listener(&mut self, listener: ListenerId) {
        self.backend.close_listener(listener);
    }

    /// The time of the current loop pass (read once per pass: services never read clocks).
    pub fn now(&self) -> Instant {
        self.now
    }

    pub(crate) fn slot(&mut self, id: ConnId) -> Option<&mut ConnIo> {
        match self.conns.get_mut(id.idx as usize) {
            Some(c) if c.live && c.gen == id.gen => Some(c),
            _ => None,
        }
    }

    fn slot_ref(&self, id: ConnId) -> Option<&ConnIo> {
        match self.conns.get(id.idx as usize) {
            Some(c) if c.live && c.gen == id.gen => Some(c),
            _ => None,
        }
    }

    pub(crate) fn open(&mut self, id: ConnId) {
        let i = id.idx as usize;
        if self.conns.len() <= i {
            self.conns.resize_with(i + 1, ConnIo::default);
        }
        self.conns[i] = ConnIo {
            gen: id.gen,
            live: true,
            ..ConnIo::default()
        };
    }

    /// Whether `conn` is still open.
    pub fn is_open(&self, conn: ConnId) -> bool {
        self.slot_ref(conn).is_some()
    }

    /// Queues `bytes` for `conn`. Returns `false` (and drops them) when the connection is gone.
    pub fn send(&mut self, conn: ConnId, bytes: Bytes) -> bool {
        if bytes.is_empty() {
            return self.is_open(conn);
        }
        let Some(c) = self.slot(conn) else {
            return false;
        };
        c.queued += bytes.len();
        c.queue.push_back(bytes);
        if !c.dirty {
            c.dirty = true;
            self.dirty.push(conn);
        }
        true
    }

    /// Queues several pieces (e.g. a per-recipient head, a shared body and an end-line) as one
    /// unit, so that they leave together.
    pub fn send_parts<const N: usize>(&mut self, conn: ConnId, parts: [Bytes; N]) -> bool {
        let Some(c) = self.slot(conn) else {
            return false;
        };
        for p in parts {
            if !p.is_empty() {
                c.queued += p.len();
                c.queue.push_back(p);
            }
        }
        if !c.dirty {
            c.dirty = true;
            self.dirty.push(conn);
        }
        true
    }

    /// Bytes queued on `conn` and not yet taken by the network stack.
    pub fn queued(&self, conn: ConnId) -> usize {
        self.slot_ref(conn).map_or(0, |c| c.queued)
    }

    /// Asks for one `on_drained` callback when the queue of `conn` empties.
    pub fn notify_drained(&mut self, conn: ConnId) {
        if let Some(c) = self.slot(conn) {
            c.watch_drain = true;
        }
    }

    /// Stops reading from `conn` until [`Io::resume_read`] (backpressure: TCP then slows the
    /// peer down).
    pub fn pause_read(&mut self, conn: ConnId) {
        if let Some(c) = self.slot(conn) {
            c.read_paused = true;
        }
    }

    /// Resumes reading from `conn`.
    pub fn resume_read(&mut self, conn: ConnId) {
        if let Some(c) = self.slot(conn) {
            if c.read_paused {
                c.read_paused = false;
                // Readiness may have been reported while paused; look again.
                c.read_pending = true;
                c.reoffer = true;
                self.resumed.push(conn);
            }
        }
    }

    /// Whether reading from `conn` is paused.
    pub fn read_paused(&self, conn: ConnId) -> bool {
        self.slot_ref(conn).is_some_and(|c| c.read_paused)
    }

    /// Opens a connection; `on_connected` reports the outcome.
    pub fn connect(&mut self, addr: SocketAddr) -> io::Result<ConnId> {
        let id = self.backend.connect(addr)?;
        self.open(id);
        if let Some(c) = self.slot(id) {
            c.connecting = true;
        }
        Ok(id)
    }

    /// Closes `conn` now, dropping anything still queued. The service gets `on_closed` with
    /// [`CloseCause::Local`] at the end of the current pass.
    pub fn close(&mut self, conn: ConnId) {
        if self.is_open(conn) {
            self.to_close.push((conn, CloseCause::Local));
        }
    }

    /// Closes `conn` once everything queued has been handed to the network.
    pub fn close_after_flush(&mut self, conn: ConnId) {
        if let Some(c) = self.slot(conn) {
            c.close_after_flush = true;
            c.read_paused = true;
            if !c.dirty {
                c.dirty = true;
                self.dirty.push(conn);
            }
        }
    }

    /// Runs TLS on `conn` from now on (server side after accept, client side after connect).
    pub fn start_tls(&mut self, conn: ConnId, tls: rustls::Connection) {
        if let Some(c) = self.slot(conn) {
            c.tls = Some(Box::new(tls));
            // A client must speak first (ClientHello).
            if !c.dirty {
                c.dirty = true;
                self.dirty.push(conn);
            }
        }
    }

    /// Whether `conn` runs TLS.
    pub fn is_tls(&self, conn: ConnId) -> bool {
        self.slot_ref(conn).is_some_and(|c| c.tls.is_some())
    }

    /// The certificate chain the TLS peer presented, if any (mutual TLS between relays).
    pub fn peer_certificates(
        &self,
        conn: ConnId,
    ) -> Option<&[rustls::pki_types::CertificateDer<'static>]> {
        self.slot_ref(conn)?.tls.as_ref()?.peer_certificates()
    }

    /// Whether the TLS handshake of `conn` is still under way.
    pub fn tls_handshaking(&self, conn: ConnId) -> bool {
        self.slot_ref(conn)
            .and_then(|c| c.tls.as_ref())
            .is_some_and(|t| t.is_handshaking())
    }

    /// (local, peer) addresses of `conn`.
    pub fn addrs(&self, conn: ConnId) -> Option<(SocketAddr, SocketAddr)> {
        self.backend.addrs(conn)
    }

    /// Writes what is queued on `conn` in vectored writes until the queue is empty or the
    /// stack pushes back. Returns `Err` when the connection failed.
    pub(crate) fn flush(&mut self, id: ConnId) -> Result<FlushOutcome, io::ErrorKind> {
        let Some(c) = self.conns.get_mut(id.idx as usize) else {
            return Ok(FlushOutcome::Gone);
        };
        if !(c.live && c.gen == id.gen) {
            return Ok(FlushOutcome::Gone);
        }
        c.dirty = false;
        if c.connecting {
            // `Connected` marks it dirty again.
            return Ok(FlushOutcome::Blocked);
        }
        if let Some(tls) = c.tls.as_deref_mut() {
            loop {
                while tls.wants_write() {
                    let mut w = StreamWriter {
                        backend: &mut self.backend,
                        id,
                    };
                    match tls.write_tls(&mut w) {
                        Ok(_) => {}
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            return Ok(FlushOutcome::Blocked)
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e.kind()),
                    }
                }
                // Plaintext waits until the handshake is done, so nothing leaves unprotected
                // before the peer is known.
                if tls.is_handshaking() {
                    break;
                }
                let Some(front) = c.queue.pop_front() else {
                    break;
                };
                c.queued -= front.len();
                if let Err(e) = io::Write::write_all(&mut tls.writer(), &front) {
                    return Err(e.kind());
                }
                self.counters.bytes_out += front.len() as u64;
            }
        }
        while !c.queue.is_empty() && c.tls.is_none() {
            let mut iov: [IoSlice<'_>; MAX_IOV] = [IoSlice::new(&[]); MAX_IOV];
            let mut n = 0;
            for b in c.queue.iter().take(MAX_IOV) {
                iov[n] = IoSlice::new(b);
                n += 1;
            }
            match self.backend.send(id, &iov[..n]) {
                Ok(0) => return Ok(FlushOutcome::Blocked),
                Ok(mut sent) => {
                    c.queued -= sent;
                    self.counters.bytes_out += sent as u64;
                    while sent > 0 {
                        let Some(front) = c.queue.front_mut() else {
                            break;
                        };
                        if front.len() <= sent {
                            sent -= front.len();
                            c.queue.pop_front();
                        } else {
                            front.advance(sent);
                            sent = 0;
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Ok(FlushOutcome::Blocked)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.kind()),
            }
        }
        if !c.queue.is_empty() {
            // TLS handshake in progress: reads will complete it and mark the connection dirty.
            return Ok(FlushOutcome::Blocked);
        }
        if c.close_after_flush {
            return Ok(FlushOutcome::CloseNow);
        }
        if c.watch_drain {
            c.watch_drain = false;
            return Ok(FlushOutcome::Drained);
        }
        Ok(FlushOutcome::Empty)
    }
}

/// Lets rustls write ciphertext straight into the backend.
struct StreamWriter<'a, B: Backend> {
    backend: &'a mut B,
    id: ConnId,
}

impl<B: Backend> io::Write for StreamWriter<'_, B> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.backend.send(self.id, &[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.backend.send(self.id, bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What one read attempt produced.
pub(crate) enum Received {
    /// Plaintext bytes appended to the buffer.
    Data(usize),
    /// Bytes arrived but none for the service yet (TLS records in progress, handshake).
    Progress,
    /// End of stream.
    Eof,
}

impl<B: Backend> Io<B> {
    /// Reads once from `conn` into `buf`, through TLS when the connection has it.
    pub(crate) fn receive(
        &mut self,
        id: ConnId,
        buf: &mut BytesMut,
        chunk: usize,
        scratch: &mut BytesMut,
    ) -> io::Result<Received> {
        let Some(c) = self.conns.get_mut(id.idx as usize) else {
            return Err(io::ErrorKind::NotConnected.into());
        };
        let Some(tls) = c.tls.as_deref_mut() else {
            return match self.backend.recv(id, buf, chunk)? {
                0 => Ok(Received::Eof),
                n => {
                    self.counters.bytes_in += n as u64;
                    Ok(Received::Data(n))
                }
            };
        };
        scratch.clear();
        let n = self.backend.recv(id, scratch, chunk.min(TLS_READ_CHUNK))?;
        if n == 0 {
            return Ok(Received::Eof);
        }
        let mut input = &scratch[..];
        let before = buf.len();
        let mut eof = false;
        while !input.is_empty() {
            // rustls takes at most what its buffer holds; draining plaintext below makes room.
            let taken = tls.read_tls(&mut input)?;
            let state = tls
                .process_new_packets()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            let mut left = state.plaintext_bytes_to_read();
            while left > 0 {
                let start = buf.len();
                buf.resize(start + left, 0);
                let got = io::Read::read(&mut tls.reader(), &mut buf[start..])?;
                buf.truncate(start + got);
                if got == 0 {
                    break;
                }
                left -= got;
            }
            if state.peer_has_closed() {
                eof = true;
                break;
            }
            if taken == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "TLS record buffer full",
                ));
            }
        }
        if tls.wants_write() && !c.dirty {
            c.dirty = true;
            self.dirty.push(id);
        }
        if buf.len() > before {
            self.counters.bytes_in += (buf.len() - before) as u64;
            Ok(Received::Data(buf.len() - before))
        } else if eof {
            Ok(Received::Eof)
        } else {
            Ok(Received::Progress)
        }
    }
}

/// Ciphertext read per call: one TLS record and a bit.
const TLS_READ_CHUNK: usize = 17 * 1024;

pub(crate) enum FlushOutcome {
    Empty,
    Drained,
    Blocked,
    CloseNow,
    Gone,
}
