//! The kernel-socket backend: non-blocking TCP sockets on one epoll instance per worker (mio),
//! edge-triggered, with reads straight into the worker's `BytesMut` and `writev` for output.

use std::io::{self, IoSlice, Write};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

use super::{Backend, ConnId, ListenerId, NetEvent, Wake};

/// Tokens at or above this mark listeners; the top one is the waker.
const LISTENER_BASE: u64 = 1 << 62;
const WAKER_TOKEN: Token = Token(usize::MAX);
/// Accepts per listener and poll pass, so a connection storm cannot starve established peers.
const ACCEPT_BATCH: usize = 256;

struct Slot {
    gen: u32,
    conn: Option<Conn>,
}

struct Conn {
    stream: TcpStream,
    connecting: bool,
    local: SocketAddr,
    peer: SocketAddr,
}

struct Listener {
    socket: TcpListener,
    /// Set when an accept batch stopped before `WouldBlock`: edge-triggered readiness will not
    /// be reported again, so the next poll must resume by itself.
    backlog: bool,
}

/// Kernel TCP sockets driven by epoll. Owned by one worker thread.
pub struct KernelBackend {
    poll: Poll,
    events: Events,
    slots: Vec<Slot>,
    free: Vec<u32>,
    listeners: Vec<Option<Listener>>,
    accept_scratch: Vec<usize>,
    waker: Arc<MioWake>,
}

struct MioWake(mio::Waker);

impl Wake for MioWake {
    fn wake(&self) {
        // A failed eventfd write means the counter is saturated, i.e. a wake-up is pending anyway.
        let _ = self.0.wake();
    }
}

impl KernelBackend {
    /// A backend with room for `events_per_poll` readiness events per `poll` call.
    pub fn new(events_per_poll: usize) -> io::Result<Self> {
        let poll = Poll::new()?;
        let waker = mio::Waker::new(poll.registry(), WAKER_TOKEN)?;
        Ok(KernelBackend {
            poll,
            events: Events::with_capacity(events_per_poll.max(16)),
            slots: Vec::new(),
            free: Vec::new(),
            listeners: Vec::new(),
            accept_scratch: Vec::new(),
            waker: Arc::new(MioWake(waker)),
        })
    }

    /// Number of live connections.
    pub fn connections(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    fn insert(
        &mut self,
        stream: TcpStream,
        connecting: bool,
        local: SocketAddr,
        peer: SocketAddr,
    ) -> io::Result<ConnId> {
        let idx = match self.free.pop() {
            Some(i) => i,
            None => {
                let i = u32::try_from(self.slots.len())
                    .map_err(|_| io::Error::other("connection table full"))?;
                self.slots.push(Slot { gen: 0, conn: None });
                i
            }
        };
        let slot = &mut self.slots[idx as usize];
        slot.gen = slot.gen.wrapping_add(1);
        let id = ConnId { idx, gen: slot.gen };
        let mut conn = Conn {
            stream,
            connecting,
            local,
            peer,
        };
        if let Err(e) = self.poll.registry().register(
            &mut conn.stream,
            Token(id.to_u64() as usize),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            self.free.push(idx);
            return Err(e);
        }
        slot.conn = Some(conn);
        Ok(id)
    }

    fn get(&mut self, id: ConnId) -> io::Result<&mut Conn> {
        match self.slots.get_mut(id.idx as usize) {
            Some(Slot { gen, conn: Some(c) }) if *gen == id.gen => Ok(c),
            _ => Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "stale connection id",
            )),
        }
    }

    fn accept_batch(&mut self, li: usize, out: &mut Vec<NetEvent>) {
        for _ in 0..ACCEPT_BATCH {
            let Some(Some(l)) = self.listeners.get_mut(li) else {
                return;
            };
            match l.socket.accept() {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let local = stream.local_addr().unwrap_or(peer);
                    match self.insert(stream, false, local, peer) {
                        Ok(conn) => out.push(NetEvent::Accepted {
                            listener: ListenerId(li as u32),
                            conn,
                            peer,
                        }),
                        Err(_) => continue,
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    l.backlog = false;
                    return;
                }
                // Out of descriptors, aborted handshakes, ...: the listener stays armed and the
                // next pass retries; nothing here is worth stopping the worker for.
                Err(_) => {
                    l.backlog = true;
                    return;
                }
            }
        }
        if let Some(Some(l)) = self.listeners.get_mut(li) {
            l.backlog = true;
        }
    }
}

/// A listening socket that several workers can bind to the same address (`SO_REUSEPORT`): the
/// kernel then spreads incoming connections over them.
fn reuseport_listener(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(4096)?;
    Ok(socket.into())
}

impl Backend for KernelBackend {
    fn listen(&mut self, addr: SocketAddr) -> io::Result<(ListenerId, SocketAddr)> {
        let mut socket = TcpListener::from_std(reuseport_listener(addr)?);
        let bound = socket.local_addr()?;
        let idx = self.listeners.len();
        self.poll.registry().register(
            &mut socket,
            Token((LISTENER_BASE + idx as u64) as usize),
            Interest::READABLE,
        )?;
        self.listeners.push(Some(Listener {
            socket,
            backlog: false,
        }));
        Ok((ListenerId(idx as u32), bound))
    }

    fn connect(&mut self, addr: SocketAddr) -> io::Result<ConnId> {
        let stream = TcpStream::connect(addr)?;
        let _ = stream.set_nodelay(true);
        let local = stream.local_addr()?;
        self.insert(stream, true, local, addr)
    }

    fn recv(&mut self, id: ConnId, buf: &mut BytesMut, max: usize) -> io::Result<usize> {
        let conn = self.get(id)?;
        if buf.capacity() - buf.len() < max {
            buf.reserve(max);
        }
        let spare = buf.chunk_mut();
        let want = spare.len().min(max);
        // SAFETY: `recv` writes at most `want` bytes into the spare capacity it is given and
        // reports how many; only those are exposed with `advance_mut`.
        let n = unsafe { libc::recv(conn.stream.as_raw_fd(), spare.as_mut_ptr().cast(), want, 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        // SAFETY: the kernel initialised exactly `n <= want` bytes.
        unsafe { buf.advance_mut(n) };
        Ok(n)
    }

    fn send(&mut self, id: ConnId, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.get(id)?.stream.write_vectored(bufs)
    }

    fn close(&mut self, id: ConnId) {
        if let Some(slot) = self.slots.get_mut(id.idx as usize) {
            if slot.gen == id.gen {
                if let Some(mut c) = slot.conn.take() {
                    let _ = self.poll.registry().deregister(&mut c.stream);
                    self.free.push(id.idx);
                }
            }
        }
    }

    fn close_listener(&mut self, listener: ListenerId) {
        if let Some(slot) = self.listeners.get_mut(listener.0 as usize) {
            if let Some(mut l) = slot.take() {
                let _ = self.poll.registry().deregister(&mut l.socket);
            }
        }
    }

    fn addrs(&self, id: ConnId) -> Option<(SocketAddr, SocketAddr)> {
        match self.slots.get(id.idx as usize) {
            Some(Slot { gen, conn: Some(c) }) if *gen == id.gen => Some((c.local, c.peer)),
            _ => None,
        }
    }

    fn poll(&mut self, out: &mut Vec<NetEvent>, timeout: Option<Duration>) -> io::Result<()> {
        let backlog = self
            .listeners
            .iter()
            .any(|l| matches!(l, Some(l) if l.backlog));
        let timeout = if backlog {
            Some(Duration::ZERO)
        } else {
            timeout
        };
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        let mut accept_from = std::mem::take(&mut self.accept_scratch);
        accept_from.clear();
        let events = std::mem::replace(&mut self.events, Events::with_capacity(0));
        for ev in events.iter() {
            let token = ev.token();
            if token == WAKER_TOKEN {
                continue;
            }
            let t = token.0 as u64;
            if t >= LISTENER_BASE {
                accept_from.push((t - LISTENER_BASE) as usize);
                continue;
            }
            let id = ConnId::from_u64(t);
            let Ok(conn) = self.get(id) else { continue };
            if conn.connecting {
                if ev.is_writable() || ev.is_error() || ev.is_write_closed() {
                    let ok = matches!(conn.stream.take_error(), Ok(None))
                        && conn.stream.peer_addr().is_ok();
                    conn.connecting = false;
                    if let Ok(local) = conn.stream.local_addr() {
                        conn.local = local;
                    }
                    out.push(NetEvent::Connected { conn: id, ok });
                    if !ok {
                        self.close(id);
                        continue;
                    }
                } else {
                    continue;
                }
            }
            if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                out.push(NetEvent::Readable(id));
            }
            if ev.is_writable() {
                out.push(NetEvent::Writable(id));
            }
        }
        self.events = events;
        for (i, l) in self.listeners.iter().enumerate() {
            if matches!(l, Some(l) if l.backlog) && !accept_from.contains(&i) {
                accept_from.push(i);
            }
        }
        for &li in &accept_from {
            self.accept_batch(li, out);
        }
        self.accept_scratch = accept_from;
        Ok(())
    }

    fn waker(&self) -> Arc<dyn Wake> {
        self.waker.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// Polls until `pred` holds on the collected events, or fails after a few seconds.
    fn poll_until(
        b: &mut KernelBackend,
        seen: &mut Vec<NetEvent>,
        pred: impl Fn(&[NetEvent]) -> bool,
    ) {
        let start = Instant::now();
        while !pred(seen) {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "events so far: {seen:?}"
            );
            b.poll(seen, Some(Duration::from_millis(50))).unwrap();
        }
    }

    #[test]
    fn connect_accept_and_exchange_vectored() {
        let mut b = KernelBackend::new(64).unwrap();
        let (_l, addr) = b.listen("127.0.0.1:0".parse().unwrap()).unwrap();
        let client = b.connect(addr).unwrap();
        let mut ev = Vec::new();
        poll_until(&mut b, &mut ev, |e| {
            e.iter().any(|e| matches!(e, NetEvent::Accepted { .. }))
                && e.contains(&NetEvent::Connected {
                    conn: client,
                    ok: true,
                })
        });
        let server = ev
            .iter()
            .find_map(|e| match e {
                NetEvent::Accepted { conn, .. } => Some(*conn),
                _ => None,
            })
            .unwrap();
        let (local, peer) = b.addrs(server).unwrap();
        assert_eq!(local, addr);
        assert_eq!(b.addrs(client).unwrap().0, peer);

        let n = b
            .send(client, &[IoSlice::new(b"head|"), IoSlice::new(b"body")])
            .unwrap();
        assert_eq!(n, 9);
        let mut buf = BytesMut::new();
        let start = Instant::now();
        while buf.len() < 9 {
            assert!(start.elapsed() < Duration::from_secs(5));
            match b.recv(server, &mut buf, 4096) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    b.poll(&mut ev, Some(Duration::from_millis(20))).unwrap()
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(&buf[..], b"head|body");

        b.close(client);
        assert!(b.addrs(client).is_none());
        assert!(
            b.send(client, &[IoSlice::new(b"x")]).is_err(),
            "stale id must not resolve"
        );
        let start = Instant::now();
        loop {
            assert!(start.elapsed() < Duration::from_secs(5));
            match b.recv(server, &mut buf, 4096) {
                Ok(0) => break,
                Ok(_) => panic!("unexpected bytes"),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    b.poll(&mut ev, Some(Duration::from_millis(20))).unwrap()
                }
                Err(e) => panic!("{e}"),
            }
        }
        // The slot is reused with a new generation.
        let again = b.connect(addr).unwrap();
        assert_eq!(again.idx, client.idx);
        assert_ne!(again.gen, client.gen);
    }

    #[test]
    fn failed_connect_is_reported() {
        // A port that was just free: bind, learn it, drop.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let mut b = KernelBackend::new(16).unwrap();
        let c = b.connect(addr).unwrap();
        let mut ev = Vec::new();
        poll_until(&mut b, &mut ev, |e| {
            e.iter().any(|e| matches!(e, NetEvent::Connected { .. }))
        });
        assert!(ev.contains(&NetEvent::Connected { conn: c, ok: false }));
        assert!(b.addrs(c).is_none());
    }

    #[test]
    fn waker_interrupts_poll() {
        let mut b = KernelBackend::new(16).unwrap();
        let w = b.waker();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            w.wake();
        });
        let start = Instant::now();
        let mut ev = Vec::new();
        b.poll(&mut ev, Some(Duration::from_secs(10))).unwrap();
        assert!(start.elapsed() < Duration::from_secs(5));
        t.join().unwrap();
    }
}
