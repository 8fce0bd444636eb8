//! What a service may do to the network from inside a worker: queue bytes on a connection, open
//! and close connections, pause reading. Output is queued per connection and leaves in one
//! vectored write per connection and loop pass, because the kernel path's cost is per segment,
//! not per byte (`perf-notes.md`).

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::time::Instant;

use bytes::{Buf, Bytes};

use crate::net::{Backend, ConnId};

/// Most slices handed to one `send` call (well under `IOV_MAX`).
const MAX_IOV: usize = 64;

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
}

/// The worker's network facilities, lent to the service on every callback.
pub struct Io<B: Backend> {
    pub(crate) backend: B,
    pub(crate) conns: Vec<ConnIo>,
    pub(crate) dirty: Vec<ConnId>,
    pub(crate) to_close: Vec<(ConnId, CloseCause)>,
    pub(crate) resumed: Vec<ConnId>,
    pub(crate) now: Instant,
}

impl<B: Backend> Io<B> {
    pub(crate) fn new(backend: B) -> Self {
        Io {
            backend,
            conns: Vec::new(),
            dirty: Vec::new(),
            to_close: Vec::new(),
            resumed: Vec::new(),
            now: Instant::now(),
        }
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
        while !c.queue.is_empty() {
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

pub(crate) enum FlushOutcome {
    Empty,
    Drained,
    Blocked,
    CloseNow,
    Gone,
}
