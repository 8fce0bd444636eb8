//! Byte-stream network backends: the one seam between the dataplane's protocol code and the
//! network.
//!
//! MSRP runs over TCP, so the seam sits at the byte-stream level: a backend accepts and opens
//! connections, reads bytes into the worker's buffers and writes vectored slices out of them.
//! The kernel backend ([`kernel`]) uses non-blocking sockets and epoll; the DPDK backend brings
//! its own userspace TCP stack. Workers are generic over [`Backend`] (static dispatch), and no
//! protocol code ever sees a socket.

pub mod kernel;

use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;

/// A connection owned by one backend. The generation makes ids of closed connections stale
/// instead of silently naming their successor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId {
    /// Slot in the backend's connection table.
    pub idx: u32,
    /// Incremented every time the slot is reused.
    pub gen: u32,
}

impl ConnId {
    pub(crate) fn to_u64(self) -> u64 {
        (u64::from(self.gen) << 32) | u64::from(self.idx)
    }

    pub(crate) fn from_u64(v: u64) -> Self {
        ConnId {
            idx: v as u32,
            gen: (v >> 32) as u32,
        }
    }
}

/// A listening socket owned by one backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ListenerId(pub u32);

/// What [`Backend::poll`] reports. Readiness is edge-triggered: after `Readable` the worker
/// reads until [`io::ErrorKind::WouldBlock`] (or remembers that it stopped early), after
/// `Writable` it writes until the backend pushes back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetEvent {
    /// A listener accepted a connection.
    Accepted {
        listener: ListenerId,
        conn: ConnId,
        peer: SocketAddr,
    },
    /// An outgoing connection finished connecting; `ok == false` means it failed and the id is
    /// already released.
    Connected { conn: ConnId, ok: bool },
    /// Bytes (or end of stream, or an error) can be read.
    Readable(ConnId),
    /// The connection can take more bytes.
    Writable(ConnId),
}

/// Wakes a worker that sleeps in [`Backend::poll`] from another thread.
pub trait Wake: Send + Sync {
    /// Makes the current or next `poll` return promptly.
    fn wake(&self);
}

/// A byte-stream network backend owned by exactly one worker thread.
pub trait Backend {
    /// Starts listening; returns the id and the bound address (port 0 picks a free port).
    fn listen(&mut self, addr: SocketAddr) -> io::Result<(ListenerId, SocketAddr)>;

    /// Starts a non-blocking connect; completion is reported by [`NetEvent::Connected`].
    fn connect(&mut self, addr: SocketAddr) -> io::Result<ConnId>;

    /// Appends what can be read now to `buf`, at most `max` bytes. `Ok(0)` is end of stream;
    /// `WouldBlock` means nothing is available.
    fn recv(&mut self, conn: ConnId, buf: &mut BytesMut, max: usize) -> io::Result<usize>;

    /// Writes as much of `bufs` as the connection takes now; returns the number of bytes taken.
    /// `WouldBlock` means none, and a `Writable` event follows when there is room.
    fn send(&mut self, conn: ConnId, bufs: &[IoSlice<'_>]) -> io::Result<usize>;

    /// Closes the connection (pending outgoing bytes already handed over are still sent by the
    /// stack where it can) and releases its id.
    fn close(&mut self, conn: ConnId);

    /// Stops accepting on a listener and releases it.
    fn close_listener(&mut self, listener: ListenerId);

    /// Addresses of a live connection: (local, peer).
    fn addrs(&self, conn: ConnId) -> Option<(SocketAddr, SocketAddr)>;

    /// Waits for network events for at most `timeout` (`None`: until something happens),
    /// appending them to `events`. Busy-polling backends return after one pass.
    fn poll(&mut self, events: &mut Vec<NetEvent>, timeout: Option<Duration>) -> io::Result<()>;

    /// A handle other threads use to interrupt [`Backend::poll`].
    fn waker(&self) -> Arc<dyn Wake>;
}
