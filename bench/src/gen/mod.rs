//! The traffic generator's engine: one thread, one epoll instance (the dataplane's kernel
//! backend over mio), many sans-IO [`session::Connection`]s. Everything a connection has
//! queued leaves in one vectored write (up to [`MAX_BATCH`] pieces), because on loopback the
//! cost is per segment, not per byte.
//!
//! [`Net`] owns the sockets and the endpoints; a scenario calls [`Net::poll`] to get the
//! session events of every endpoint, queues messages on the endpoints' connections, and
//! calls [`Net::flush`].

mod body;

pub use body::{checksum, BodyCheck, BodyFactory, Stamp, MIN_BODY};

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use dataplane::net::kernel::KernelBackend;
use dataplane::net::{Backend, ConnId, NetEvent};
use dataplane::session::{Config, Connection, Event, Transmit};
use dataplane::wire::RandomSource;

/// Most pieces handed to one `writev` (each is up to three slices; Linux takes 1024).
pub const MAX_BATCH: usize = 256;
/// Bytes gathered for one `writev` before it is issued.
const MAX_BATCH_BYTES: usize = 512 * 1024;
/// Most bytes read from a socket per call.
const READ_CHUNK: usize = 256 * 1024;

/// xorshift64*: ids and nonces of benchmark traffic (not secrets).
#[derive(Clone)]
pub struct FastRng(u64);

impl FastRng {
    /// Seeded; a zero seed is replaced.
    pub fn new(seed: u64) -> FastRng {
        FastRng(seed | 1)
    }

    /// Seeded from the clock and `salt`.
    pub fn from_clock(salt: u64) -> FastRng {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(7, |d| d.as_nanos() as u64);
        FastRng::new(t ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }
}

impl RandomSource for FastRng {
    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// State of one endpoint's socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// Connecting.
    Connecting,
    /// Connected.
    Up,
    /// Closed by the peer or failed (with the reason logged in [`Net::errors`]).
    Down,
}

/// One generator endpoint: a socket and the MSRP connection on it.
pub struct Endpoint {
    /// Its socket.
    pub conn: ConnId,
    /// The MSRP state.
    pub msrp: Connection,
    /// Socket state.
    pub link: Link,
    /// Local address once connected.
    pub local: Option<SocketAddr>,
    inbuf: BytesMut,
    outq: VecDeque<Transmit>,
    /// Bytes of `outq[0]` already written.
    out_off: usize,
    blocked: bool,
    dirty: bool,
}

/// What [`Net::poll`] reports.
#[derive(Debug)]
// Boxing the event would cost an allocation per message (the session engine makes the same
// choice for its own event type).
#[allow(clippy::large_enum_variant)]
pub enum NetReport {
    /// Endpoint `0` finished connecting.
    Connected(usize),
    /// A session event of endpoint `0`.
    Msrp(usize, Event),
    /// Endpoint `0` lost its connection.
    Closed(usize),
}

/// Counters of the transport.
#[derive(Clone, Copy, Debug, Default)]
pub struct NetStats {
    /// `writev` calls.
    pub writes: u64,
    /// Pieces written.
    pub pieces: u64,
    /// Bytes written.
    pub bytes_out: u64,
    /// Bytes read.
    pub bytes_in: u64,
    /// Writes the kernel refused for lack of buffer space.
    pub blocked: u64,
}

/// The sockets and endpoints of one generator thread.
pub struct Net {
    be: KernelBackend,
    /// The endpoints, in creation order.
    pub eps: Vec<Endpoint>,
    /// Endpoint index by connection slot.
    by_slot: Vec<u32>,
    events: Vec<NetEvent>,
    dirty: Vec<u32>,
    /// Transport errors (each one is also a failed endpoint).
    pub errors: Vec<String>,
    /// Counters.
    pub stats: NetStats,
    last_timers: Instant,
}

const NO_EP: u32 = u32::MAX;

impl Net {
    /// An empty generator.
    pub fn new() -> io::Result<Net> {
        Ok(Net {
            be: KernelBackend::new(4096)?,
            eps: Vec::new(),
            by_slot: Vec::new(),
            events: Vec::with_capacity(4096),
            dirty: Vec::new(),
            errors: Vec::new(),
            stats: NetStats::default(),
            last_timers: Instant::now(),
        })
    }

    /// Opens a connection to `addr`; returns the endpoint's index.
    pub fn connect(
        &mut self,
        addr: SocketAddr,
        cfg: &std::sync::Arc<Config>,
        seed: u64,
    ) -> io::Result<usize> {
        let conn = self.be.connect(addr)?;
        let idx = self.eps.len();
        let slot = conn.idx as usize;
        if self.by_slot.len() <= slot {
            self.by_slot.resize(slot + 1, NO_EP);
        }
        self.by_slot[slot] = idx as u32;
        self.eps.push(Endpoint {
            conn,
            msrp: Connection::with_shared_config(
                cfg.clone(),
                FastRng::from_clock(seed ^ idx as u64),
            ),
            link: Link::Connecting,
            local: None,
            inbuf: BytesMut::with_capacity(16 * 1024),
            outq: VecDeque::new(),
            out_off: 0,
            blocked: false,
            dirty: false,
        });
        Ok(idx)
    }

    fn ep_of(&self, conn: ConnId) -> Option<usize> {
        let i = *self.by_slot.get(conn.idx as usize)?;
        if i == NO_EP {
            return None;
        }
        let e = self.eps.get(i as usize)?;
        (e.conn == conn).then_some(i as usize)
    }

    /// Marks endpoint `i` as having something to send (after `send_message` and friends).
    pub fn touch(&mut self, i: usize) {
        if let Some(e) = self.eps.get_mut(i) {
            if !e.dirty {
                e.dirty = true;
                self.dirty.push(i as u32);
            }
        }
    }

    /// Waits up to `timeout` for network activity and appends what happened to `out`.
    pub fn poll(&mut self, timeout: Option<Duration>, out: &mut Vec<NetReport>) {
        self.events.clear();
        if let Err(e) = self.be.poll(&mut self.events, timeout) {
            if e.kind() != io::ErrorKind::Interrupted {
                self.errors.push(format!("epoll: {e}"));
            }
            return;
        }
        let now = Instant::now();
        let events = std::mem::take(&mut self.events);
        for ev in &events {
            match *ev {
                NetEvent::Connected { conn, ok } => {
                    let Some(i) = self.ep_of(conn) else { continue };
                    if ok {
                        let e = &mut self.eps[i];
                        e.link = Link::Up;
                        e.local = self.be.addrs(conn).map(|(l, _)| l);
                        out.push(NetReport::Connected(i));
                        self.touch(i);
                    } else {
                        self.fail(i, "connect failed", out);
                    }
                }
                NetEvent::Readable(conn) => {
                    if let Some(i) = self.ep_of(conn) {
                        self.read(i, now, out);
                    }
                }
                NetEvent::Writable(conn) => {
                    if let Some(i) = self.ep_of(conn) {
                        self.eps[i].blocked = false;
                        self.touch(i);
                    }
                }
                NetEvent::Accepted { .. } => {}
            }
        }
        self.events = events;
        if now.duration_since(self.last_timers) >= Duration::from_millis(100) {
            self.last_timers = now;
            for i in 0..self.eps.len() {
                let e = &mut self.eps[i];
                if e.link != Link::Up {
                    continue;
                }
                if e.msrp.poll_timeout().is_some_and(|t| t <= now) {
                    e.msrp.handle_timeout(now);
                    while let Some(ev) = e.msrp.poll_event() {
                        out.push(NetReport::Msrp(i, ev));
                    }
                    self.touch(i);
                }
            }
        }
    }

    fn fail(&mut self, i: usize, why: &str, out: &mut Vec<NetReport>) {
        let e = &mut self.eps[i];
        if e.link == Link::Down {
            return;
        }
        self.errors.push(format!("endpoint {i}: {why}"));
        e.link = Link::Down;
        self.be.close(e.conn);
        e.msrp.connection_lost();
        while let Some(ev) = e.msrp.poll_event() {
            out.push(NetReport::Msrp(i, ev));
        }
        out.push(NetReport::Closed(i));
    }

    fn read(&mut self, i: usize, now: Instant, out: &mut Vec<NetReport>) {
        loop {
            let e = &mut self.eps[i];
            if e.link != Link::Up {
                return;
            }
            match self.be.recv(e.conn, &mut e.inbuf, READ_CHUNK) {
                Ok(0) => return self.fail(i, "closed by the peer", out),
                Ok(n) => {
                    self.stats.bytes_in += n as u64;
                    if let Err(err) = e.msrp.handle_input(now, &mut e.inbuf) {
                        let why = format!("unparseable input: {err}");
                        return self.fail(i, &why, out);
                    }
                    while let Some(ev) = e.msrp.poll_event() {
                        out.push(NetReport::Msrp(i, ev));
                    }
                    // Responses and REPORTs may now be queued.
                    if e.msrp.has_transmit() {
                        self.touch(i);
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    let why = format!("read: {err}");
                    return self.fail(i, &why, out);
                }
            }
        }
    }

    /// Writes what the endpoints touched since the last call have queued.
    pub fn flush(&mut self, out: &mut Vec<NetReport>) {
        let now = Instant::now();
        let dirty = std::mem::take(&mut self.dirty);
        for &i in &dirty {
            let i = i as usize;
            self.eps[i].dirty = false;
            if let Err(why) = self.write(i, now) {
                self.fail(i, &why, out);
            }
        }
        let mut d = dirty;
        d.clear();
        if self.dirty.is_empty() {
            self.dirty = d;
        }
    }

    fn write(&mut self, i: usize, now: Instant) -> Result<(), String> {
        let e = &mut self.eps[i];
        if e.link != Link::Up || e.blocked {
            return Ok(());
        }
        loop {
            // Top up the batch.
            let mut bytes: usize = e.outq.iter().map(Transmit::len).sum::<usize>() - e.out_off;
            while e.outq.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
                match e.msrp.poll_transmit(now) {
                    Some(t) => {
                        bytes += t.len();
                        e.outq.push_back(t);
                    }
                    None => break,
                }
            }
            if e.outq.is_empty() {
                return Ok(());
            }
            let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(3 * e.outq.len());
            let mut skip = e.out_off;
            for t in &e.outq {
                let tail: &[u8] = t.tail.as_ref().map_or(&[][..], |e| e.as_bytes());
                for p in [&t.head[..], &t.body[..], tail] {
                    if p.is_empty() {
                        continue;
                    }
                    if skip >= p.len() {
                        skip -= p.len();
                        continue;
                    }
                    slices.push(IoSlice::new(&p[skip..]));
                    skip = 0;
                }
            }
            let r = self.be.send(e.conn, &slices);
            drop(slices);
            match r {
                Ok(n) => {
                    self.stats.writes += 1;
                    self.stats.bytes_out += n as u64;
                    let mut left = n + e.out_off;
                    while let Some(front) = e.outq.front() {
                        let l = front.len();
                        if left >= l {
                            left -= l;
                            e.outq.pop_front();
                            self.stats.pieces += 1;
                        } else {
                            break;
                        }
                    }
                    e.out_off = left;
                    if n < bytes {
                        // Short write: the socket buffer is full.
                        e.blocked = true;
                        self.stats.blocked += 1;
                        return Ok(());
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    e.blocked = true;
                    self.stats.blocked += 1;
                    return Ok(());
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(format!("write: {err}")),
            }
        }
    }

    /// Closes every endpoint.
    pub fn close_all(&mut self) {
        for e in &mut self.eps {
            if e.link != Link::Down {
                self.be.close(e.conn);
                e.link = Link::Down;
            }
        }
    }

    /// Bytes still queued for writing, over all endpoints.
    pub fn queued(&self) -> usize {
        self.eps
            .iter()
            .map(|e| e.outq.iter().map(Transmit::len).sum::<usize>() - e.out_off)
            .sum()
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        self.close_all();
    }
}
