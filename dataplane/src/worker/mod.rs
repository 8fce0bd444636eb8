//! One dataplane worker: a thread (pinned to a core) that owns a network backend, its
//! connections, their read buffers and send queues, and one protocol [`Service`].
//!
//! The loop is: drain the rings, read what is readable, run due timers, then write everything
//! queued in one vectored write per connection, then sleep in the backend until network events,
//! a ring doorbell or the next deadline. Nothing here locks or allocates per message.

mod io;

pub use io::{CloseCause, Io, IoCounters, QueueDepth};

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;

use crate::net::{Backend, ConnId, ListenerId, NetEvent};
use crate::rings::{Doorbell, RingRx};
use io::FlushOutcome;

/// How often idle connections' buffers are released.
const BUFFER_SWEEP: Duration = Duration::from_secs(1);

/// A protocol running on a worker (relay, switch, test endpoints). All callbacks get the
/// worker's [`Io`]; none may block.
pub trait Service {
    /// Messages from the control plane.
    type Control: Send;
    /// Messages from other workers.
    type Peer: Send;

    /// A listener accepted `conn` from `peer`.
    fn on_accept<B: Backend>(
        &mut self,
        io: &mut Io<B>,
        conn: ConnId,
        listener: ListenerId,
        peer: SocketAddr,
    );
    /// An outgoing connection opened with [`Io::connect`] is up (`ok`) or failed.
    fn on_connected<B: Backend>(&mut self, io: &mut Io<B>, conn: ConnId, ok: bool);
    /// New bytes were appended to `buf`, the connection's read buffer; consume what forms
    /// complete units and leave the rest.
    fn on_data<B: Backend>(&mut self, io: &mut Io<B>, conn: ConnId, buf: &mut BytesMut);
    /// `conn` is gone; its id is stale from now on.
    fn on_closed<B: Backend>(&mut self, io: &mut Io<B>, conn: ConnId, cause: CloseCause);
    /// The send queue of `conn` emptied after [`Io::notify_drained`].
    fn on_drained<B: Backend>(&mut self, _io: &mut Io<B>, _conn: ConnId) {}
    /// A message from the control plane.
    fn on_control<B: Backend>(&mut self, io: &mut Io<B>, msg: Self::Control);
    /// A message from another worker.
    fn on_peer<B: Backend>(&mut self, io: &mut Io<B>, msg: Self::Peer);
    /// Runs what is due at `io.now()`; returns the next deadline, if any.
    fn on_tick<B: Backend>(&mut self, io: &mut Io<B>) -> Option<Instant>;
    /// Called once per loop pass after input was processed and before output is flushed:
    /// the place to move cross-worker batches onto rings.
    fn end_of_pass<B: Backend>(&mut self, _io: &mut Io<B>) {}
}

/// Tunables of the worker loop.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// Most bytes read from one connection per loop pass (fairness between connections).
    pub read_budget: usize,
    /// Largest read call. Read sizes adapt per connection between `read_min` and this.
    pub read_chunk: usize,
    /// Smallest (and first) read call. A connection that only ever gets small reads keeps no
    /// read buffer between reads, so that thousands of listen-only connections (chat room
    /// members) cost no buffer memory.
    pub read_min: usize,
    /// Most ring messages handled per loop pass and ring.
    pub ring_budget: usize,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            read_budget: 256 * 1024,
            read_chunk: 64 * 1024,
            read_min: 4 * 1024,
            ring_budget: 4096,
        }
    }
}

/// A worker: backend, service and inbound rings. Run it on its own thread with [`Worker::run`].
pub struct Worker<B: Backend, S: Service> {
    io: Io<B>,
    service: S,
    rbufs: Vec<BytesMut>,
    tls_scratch: BytesMut,
    pending_reads: Vec<ConnId>,
    events: Vec<NetEvent>,
    control: RingRx<S::Control>,
    peers: Vec<RingRx<S::Peer>>,
    bell: Arc<Doorbell>,
    stop: Arc<AtomicBool>,
    config: WorkerConfig,
    deadline: Option<Instant>,
    /// When idle connections' buffers are next released.
    next_sweep: Instant,
}

impl<B: Backend, S: Service> Worker<B, S> {
    /// A worker over `backend`; `bell` must be the doorbell the rings into this worker ring.
    pub fn new(
        backend: B,
        service: S,
        control: RingRx<S::Control>,
        peers: Vec<RingRx<S::Peer>>,
        bell: Arc<Doorbell>,
        stop: Arc<AtomicBool>,
        config: WorkerConfig,
    ) -> Self {
        Worker {
            io: Io::new(backend),
            service,
            rbufs: Vec::new(),
            tls_scratch: BytesMut::new(),
            pending_reads: Vec::new(),
            events: Vec::with_capacity(1024),
            control,
            peers,
            bell,
            stop,
            config,
            deadline: Some(Instant::now()),
            next_sweep: Instant::now() + BUFFER_SWEEP,
        }
    }

    /// Starts listening on `addr` (before or while running); returns the bound address.
    pub fn listen(&mut self, addr: SocketAddr) -> std::io::Result<(ListenerId, SocketAddr)> {
        self.io.backend.listen(addr)
    }

    /// The service, e.g. for inspection in tests.
    pub fn service(&self) -> &S {
        &self.service
    }

    /// The worker's I/O facilities and service together, e.g. to start connections from a test.
    pub fn parts(&mut self) -> (&mut Io<B>, &mut S) {
        (&mut self.io, &mut self.service)
    }

    /// Runs until the stop flag is set.
    pub fn run(&mut self) -> std::io::Result<()> {
        while !self.stop.load(Ordering::Relaxed) {
            self.run_once(None)?;
        }
        Ok(())
    }

    /// One loop pass; sleeps at most `max_sleep` (tests use small values).
    pub fn run_once(&mut self, max_sleep: Option<Duration>) -> std::io::Result<()> {
        self.io.now = Instant::now();
        let mut busy = self.drain_rings();
        self.read_pending();
        if self.deadline.is_some_and(|d| d <= self.io.now) {
            self.deadline = self.service.on_tick(&mut self.io);
        }
        self.service.end_of_pass(&mut self.io);
        self.flush_and_close();
        if self.io.now >= self.next_sweep {
            self.release_idle_buffers();
            self.next_sweep = self.io.now + BUFFER_SWEEP;
        }
        busy |= !self.pending_reads.is_empty() || !self.io.dirty.is_empty();

        let mut timeout = self
            .deadline
            .map(|d| d.saturating_duration_since(Instant::now()));
        if let Some(m) = max_sleep {
            timeout = Some(timeout.map_or(m, |t| t.min(m)));
        }
        if busy {
            timeout = Some(Duration::ZERO);
        } else {
            self.bell.prepare_sleep();
            if !self.control.is_empty() || self.peers.iter().any(|p| !p.is_empty()) {
                timeout = Some(Duration::ZERO);
            }
        }
        self.events.clear();
        let r = self.io.backend.poll(&mut self.events, timeout);
        self.bell.awake();
        r?;
        self.io.now = Instant::now();
        let mut events = std::mem::take(&mut self.events);
        for ev in events.drain(..) {
            self.handle(ev);
        }
        self.events = events;
        Ok(())
    }

    fn drain_rings(&mut self) -> bool {
        let mut any = false;
        for _ in 0..self.config.ring_budget {
            let Some(msg) = self.control.pop() else { break };
            any = true;
            self.service.on_control(&mut self.io, msg);
        }
        for p in &self.peers {
            for _ in 0..self.config.ring_budget {
                let Some(msg) = p.pop() else { break };
                any = true;
                self.service.on_peer(&mut self.io, msg);
            }
        }
        if any {
            // Control messages may have armed timers.
            self.deadline = Some(self.io.now);
        }
        any
    }

    fn handle(&mut self, ev: NetEvent) {
        match ev {
            NetEvent::Accepted {
                listener,
                conn,
                peer,
            } => {
                self.io.open(conn);
                self.io.counters.accepted += 1;
                self.rbuf(conn).clear();
                self.service.on_accept(&mut self.io, conn, listener, peer);
                self.deadline = Some(self.io.now);
                self.read(conn);
            }
            NetEvent::Connected { conn, ok } => {
                if !ok {
                    if let Some(c) = self.io.slot(conn) {
                        c.live = false;
                    }
                } else {
                    self.rbuf(conn).clear();
                    if let Some(c) = self.io.slot(conn) {
                        c.connecting = false;
                        if !c.dirty {
                            c.dirty = true;
                            self.io.dirty.push(conn);
                        }
                    }
                }
                self.service.on_connected(&mut self.io, conn, ok);
                self.deadline = Some(self.io.now);
            }
            NetEvent::Readable(conn) => self.read(conn),
            NetEvent::Writable(conn) => {
                if self.io.slot(conn).is_some_and(|c| !c.dirty) {
                    self.io.dirty.push(conn);
                    if let Some(c) = self.io.slot(conn) {
                        c.dirty = true;
                    }
                }
            }
        }
    }

    fn rbuf(&mut self, conn: ConnId) -> &mut BytesMut {
        let i = conn.idx as usize;
        if self.rbufs.len() <= i {
            self.rbufs.resize_with(i + 1, BytesMut::new);
        }
        &mut self.rbufs[i]
    }

    fn read(&mut self, conn: ConnId) {
        let Some(c) = self.io.slot(conn) else { return };
        if c.read_paused {
            c.read_pending = true;
            return;
        }
        c.read_pending = false;
        c.read_recently = true;
        let reoffer = std::mem::take(&mut c.reoffer);
        let max = self.config.read_chunk.max(1);
        let min = self.config.read_min.clamp(1, max);
        let mut chunk = (c.read_hint as usize).clamp(min, max);
        let mut budget = self.config.read_budget;
        let mut buf = std::mem::take(self.rbuf(conn));
        let mut cause = None;
        if reoffer && !buf.is_empty() {
            self.service.on_data(&mut self.io, conn, &mut buf);
        }
        loop {
            if self.io.slot(conn).is_none_or(|c| c.read_paused) {
                if let Some(c) = self.io.slot(conn) {
                    c.read_pending = true;
                }
                break;
            }
            match self
                .io
                .receive(conn, &mut buf, chunk, &mut self.tls_scratch)
            {
                Ok(io::Received::Eof) => {
                    cause = Some(CloseCause::PeerClosed);
                    break;
                }
                Ok(io::Received::Progress) => {}
                Ok(io::Received::Data(n)) => {
                    // Adaptive read size: grow while reads fill it, shrink when they do not.
                    if n >= chunk {
                        chunk = (chunk * 2).min(max);
                    } else if n < chunk / 4 {
                        chunk = (chunk / 2).max(min);
                    }
                    self.service.on_data(&mut self.io, conn, &mut buf);
                    budget = budget.saturating_sub(n);
                    let Some(c) = self.io.slot(conn) else { break };
                    if c.read_paused || budget == 0 {
                        c.read_pending = true;
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    cause = Some(CloseCause::Error(e.kind()));
                    break;
                }
            }
        }
        if let Some(c) = self.io.slot(conn) {
            c.read_hint = u32::try_from(chunk).unwrap_or(u32::MAX);
            // A connection that reads little keeps no buffer between reads.
            if buf.is_empty() && chunk <= min {
                buf = BytesMut::new();
            }
        }
        if self.io.is_open(conn) {
            *self.rbuf(conn) = buf;
            if self
                .io
                .slot(conn)
                .is_some_and(|c| c.read_pending && !c.read_paused)
            {
                self.pending_reads.push(conn);
            }
        }
        if let Some(cause) = cause {
            self.io.to_close.push((conn, cause));
        }
    }

    fn read_pending(&mut self) {
        let mut pending = std::mem::take(&mut self.pending_reads);
        // Connections whose reads the service resumed since the last pass.
        for id in self.io.resumed.drain(..) {
            if !pending.contains(&id) {
                pending.push(id);
            }
        }
        for conn in pending.drain(..) {
            self.read(conn);
        }
        if self.pending_reads.is_empty() {
            self.pending_reads = pending;
        }
    }

    /// Releases the empty read buffers and send-queue capacity of connections that were not
    /// read since the last sweep.
    fn release_idle_buffers(&mut self) {
        for (i, c) in self.io.conns.iter_mut().enumerate() {
            if !c.live {
                continue;
            }
            if !std::mem::take(&mut c.read_recently) {
                if let Some(b) = self.rbufs.get_mut(i) {
                    *b = shrink_kept(std::mem::take(b));
                }
                c.read_hint = 0;
            }
            c.trim_queue();
        }
    }

    fn flush_and_close(&mut self) {
        let mut dirty = std::mem::take(&mut self.io.dirty);
        for conn in dirty.drain(..) {
            match self.io.flush(conn) {
                Ok(FlushOutcome::Drained) => self.service.on_drained(&mut self.io, conn),
                Ok(FlushOutcome::CloseNow) => self.io.to_close.push((conn, CloseCause::Local)),
                Ok(_) => {}
                Err(kind) => self.io.to_close.push((conn, CloseCause::Error(kind))),
            }
        }
        // Callbacks above may have queued more; keep them for the next pass.
        dirty.append(&mut self.io.dirty);
        self.io.dirty = dirty;
        while let Some((conn, cause)) = self.io.to_close.pop() {
            if let Some(c) = self.io.slot(conn) {
                c.live = false;
                self.io.counters.closed += 1;
                self.io.backend.close(conn);
                if let Some(b) = self.rbufs.get_mut(conn.idx as usize) {
                    *b = BytesMut::new();
                }
                self.service.on_closed(&mut self.io, conn, cause);
            }
        }
    }
}

/// The read buffer an idle connection keeps. A read may have reserved a whole read chunk
/// (64 KiB); an idle connection (thousands of them on a relay) must not hold that: an empty
/// buffer is dropped, and a small unparsed remainder (a frame head in progress) is moved into a
/// buffer of its own size. Busy connections keep theirs (no copy on the busy path).
fn shrink_kept(buf: BytesMut) -> BytesMut {
    if buf.is_empty() {
        BytesMut::new()
    } else if buf.capacity() > 4 * buf.len() + 4096 {
        BytesMut::from(&buf[..])
    } else {
        buf
    }
}

#[cfg(test)]
mod tests;
