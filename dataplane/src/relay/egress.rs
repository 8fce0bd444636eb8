//! Writing forwarded requests onto a connection that many inbound streams share.
//!
//! A TCP connection carries one frame at a time, yet several inbound connections may forward
//! into the same next hop while their chunks are still arriving. Each destination connection
//! therefore has one owner stream at a time; others wait. Complete frames (responses and
//! REPORTs) go out at the next frame boundary, and an interruptible SEND chunk in progress is
//! cut short (`+`) to let them or a waiting stream pass (RFC 4975 §7.1 fairness), then resumed
//! in a new chunk with a new transaction id and Byte-Range. A stream whose source dies
//! mid-chunk is ended with `#`.

use std::collections::{HashMap, VecDeque};

use bytes::{Bytes, BytesMut};

use super::template::Template;
use crate::net::ConnId;
use crate::wire::{Continuation, EndLine, Ident};

/// A stream of forwarded frames: the inbound connection (on some worker) it comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StreamKey {
    /// Worker owning the inbound connection.
    pub worker: u8,
    /// The inbound connection.
    pub conn: ConnId,
}

/// Worker index of the keys given to detached streams (workers are at most 64).
const DETACHED: u8 = u8::MAX;

/// One forwarded request on its way into a destination connection.
#[derive(Debug)]
pub struct OutStream {
    /// The inbound connection the request came from (its transactions answer to it). Equal to
    /// the stream's key unless the stream was detached (see [`Scheduler::start`]).
    pub src: StreamKey,
    /// Destination connection (owned by this worker); `None` while its next hop is being
    /// resolved (everything is buffered until [`Scheduler::attach`]).
    pub dest: Option<ConnId>,
    /// How to write its heads.
    pub tmpl: Template,
    /// Transaction id of the chunk being written (valid while it owns the connection).
    tid: Option<Ident>,
    /// Body bytes already written, over all chunks.
    pub sent: u64,
    /// Body bytes of the current chunk.
    chunk_sent: u64,
    /// Body bytes that arrived while the stream could not write.
    pending: VecDeque<Bytes>,
    /// Their total length.
    pub pending_len: usize,
    /// The source's end-line flag, once seen.
    end: Option<Continuation>,
}

/// Per-destination-connection scheduling state.
#[derive(Debug, Default)]
pub struct Egress {
    owner: Option<StreamKey>,
    waiting: VecDeque<StreamKey>,
    control: VecDeque<Bytes>,
}

/// What the scheduler asks of the network and of the transaction layer.
pub trait EgressIo {
    /// Queues bytes on a connection.
    fn write(&mut self, conn: ConnId, bytes: Bytes);
    /// A new transaction id that cannot end the body bytes it will carry.
    fn new_tid(&mut self) -> Ident;
    /// A chunk of `stream` started with `tid`.
    fn chunk_started(
        &mut self,
        dest: ConnId,
        tid: Ident,
        key: StreamKey,
        tmpl: &Template,
        sent: u64,
    );
    /// The chunk `tid` ended (its last byte is queued); its response timer may start.
    fn chunk_ended(&mut self, dest: ConnId, tid: Ident, body_len: u64, flag: Continuation);
}

/// All streams and destinations of one worker.
#[derive(Debug, Default)]
pub struct Scheduler {
    streams: HashMap<StreamKey, OutStream>,
    dests: HashMap<ConnId, Egress>,
    arena: BytesMut,
    /// Counter naming detached streams.
    detached: u64,
}

impl OutStream {
    /// Whether a chunk of it is being written (it owns its destination).
    pub fn in_chunk(&self) -> bool {
        self.tid.is_some()
    }
}

impl Scheduler {
    /// The stream of `key`, if one is open.
    pub fn stream(&self, key: &StreamKey) -> Option<&OutStream> {
        self.streams.get(key)
    }

    /// Number of open streams.
    pub fn streams(&self) -> usize {
        self.streams.len()
    }

    /// Whether `dest` has nothing written or waiting.
    pub fn idle(&self, dest: ConnId) -> bool {
        self.dests
            .get(&dest)
            .is_none_or(|e| e.owner.is_none() && e.waiting.is_empty() && e.control.is_empty())
    }

    /// Opens a stream into `dest`. A stream still open for `key` whose source finished its
    /// frame only waits for its destination (it was cut short and queued behind others): it
    /// is detached under a key of its own and still goes out whole. Any other stream still
    /// open for `key` is abandoned (its source started a new frame without finishing the old
    /// one, which the parser prevents).
    pub fn start(
        &mut self,
        io: &mut impl EgressIo,
        key: StreamKey,
        dest: Option<ConnId>,
        tmpl: Template,
    ) {
        if let Some(old) = self.streams.get(&key) {
            if old.end.is_some() && old.dest.is_some() {
                self.detach(key);
            } else {
                self.abort(io, key);
            }
        }
        self.streams.insert(
            key,
            OutStream {
                src: key,
                dest: None,
                tmpl,
                tid: None,
                sent: 0,
                chunk_sent: 0,
                pending: VecDeque::new(),
                pending_len: 0,
                end: None,
            },
        );
        if let Some(dest) = dest {
            self.attach(io, key, dest);
        }
    }

    /// Moves the stream of `key`, complete at its source and waiting for its destination, to a
    /// fresh key, so that `key` can carry the source's next frame.
    fn detach(&mut self, key: StreamKey) {
        let Some(s) = self.streams.remove(&key) else {
            return;
        };
        self.detached = self.detached.wrapping_add(1);
        let new = StreamKey {
            worker: DETACHED,
            conn: ConnId {
                idx: self.detached as u32,
                gen: (self.detached >> 32) as u32,
            },
        };
        if let Some(eg) = s.dest.and_then(|d| self.dests.get_mut(&d)) {
            for k in eg.waiting.iter_mut().filter(|k| **k == key) {
                *k = new;
            }
            if eg.owner == Some(key) {
                eg.owner = Some(new);
            }
        }
        self.streams.insert(new, s);
    }

    /// Gives a parked stream its destination.
    pub fn attach(&mut self, io: &mut impl EgressIo, key: StreamKey, dest: ConnId) {
        let Some(s) = self.streams.get_mut(&key) else {
            return;
        };
        if s.dest.is_some() {
            return;
        }
        s.dest = Some(dest);
        let eg = self.dests.entry(dest).or_default();
        eg.waiting.push_back(key);
        self.grant(io, dest);
        self.yield_if_contended(io, dest);
    }

    /// Removes a stream that never got a destination; returns its template.
    pub fn drop_parked(&mut self, key: StreamKey) -> Option<Template> {
        if self.streams.get(&key).is_some_and(|s| s.dest.is_none()) {
            return self.streams.remove(&key).map(|s| s.tmpl);
        }
        None
    }

    /// Body bytes of `key`'s current frame.
    pub fn body(&mut self, io: &mut impl EgressIo, key: StreamKey, bytes: Bytes) {
        let Some(s) = self.streams.get_mut(&key) else {
            return;
        };
        let owns = s
            .dest
            .is_some_and(|d| self.dests.get(&d).is_some_and(|e| e.owner == Some(key)));
        if let (true, Some(dest), Some(_)) = (owns, s.dest, s.tid) {
            s.sent += bytes.len() as u64;
            s.chunk_sent += bytes.len() as u64;
            io.write(dest, bytes);
            self.yield_if_contended(io, dest);
        } else {
            s.pending_len += bytes.len();
            s.pending.push_back(bytes);
        }
    }

    /// The end-line of `key`'s current frame.
    pub fn end(&mut self, io: &mut impl EgressIo, key: StreamKey, flag: Continuation) {
        let Some(s) = self.streams.get_mut(&key) else {
            return;
        };
        s.end = Some(flag);
        let Some(dest) = s.dest else { return };
        if self.dests.get(&dest).is_some_and(|e| e.owner == Some(key)) {
            self.finish(io, key);
            self.grant(io, dest);
        }
    }

    /// The source of `key` died: a chunk in progress is ended with `#` (abandoned), a waiting
    /// one is dropped.
    pub fn abort(&mut self, io: &mut impl EgressIo, key: StreamKey) {
        let Some(s) = self.streams.get_mut(&key) else {
            return;
        };
        let Some(dest) = s.dest else {
            self.streams.remove(&key);
            return;
        };
        if self.dests.get(&dest).is_some_and(|e| e.owner == Some(key)) {
            s.end = Some(Continuation::Abort);
            s.pending.clear();
            s.pending_len = 0;
            self.finish(io, key);
            self.grant(io, dest);
        } else {
            self.streams.remove(&key);
            if let Some(e) = self.dests.get_mut(&dest) {
                e.waiting.retain(|k| *k != key);
            }
        }
    }

    /// A complete frame (response, REPORT) for `dest`, sent at the next frame boundary.
    pub fn control(&mut self, io: &mut impl EgressIo, dest: ConnId, frame: Bytes) {
        let eg = self.dests.entry(dest).or_default();
        if eg.owner.is_none() && eg.control.is_empty() {
            io.write(dest, frame);
            return;
        }
        eg.control.push_back(frame);
        self.yield_if_contended(io, dest);
    }

    /// `dest` is gone: its streams are dropped and their keys returned, so that the caller can
    /// fail them towards their sources.
    pub fn dest_closed(&mut self, dest: ConnId) -> Vec<(StreamKey, Template)> {
        let Some(eg) = self.dests.remove(&dest) else {
            return Vec::new();
        };
        let mut keys: Vec<StreamKey> = eg.owner.into_iter().chain(eg.waiting).collect();
        keys.dedup();
        keys.into_iter()
            .filter_map(|k| self.streams.remove(&k).map(|s| (s.src, s.tmpl)))
            .collect()
    }

    /// Cuts the owner's chunk short when an interruptible chunk blocks others.
    fn yield_if_contended(&mut self, io: &mut impl EgressIo, dest: ConnId) {
        let Some(eg) = self.dests.get_mut(&dest) else {
            return;
        };
        let Some(owner) = eg.owner else { return };
        if eg.waiting.is_empty() && eg.control.is_empty() {
            return;
        }
        let Some(s) = self.streams.get_mut(&owner) else {
            return;
        };
        // RFC 4975 §7.1: no chunk shorter than 2048 octets but the last.
        if !s.tmpl.interruptible() || s.tid.is_none() || s.end.is_some() || s.chunk_sent < 2048 {
            return;
        }
        let tid = s.tid.take().expect("checked");
        io.write(
            dest,
            Bytes::copy_from_slice(EndLine::new(&tid, Continuation::More, true).as_bytes()),
        );
        io.chunk_ended(dest, tid, s.chunk_sent, Continuation::More);
        s.chunk_sent = 0;
        eg.owner = None;
        // Control frames first (grant), then the others in turn; we queue at the back.
        eg.waiting.push_back(owner);
        self.grant(io, dest);
    }

    /// Writes the end-line of the owner's frame and releases the connection.
    fn finish(&mut self, io: &mut impl EgressIo, key: StreamKey) {
        let Some(mut s) = self.streams.remove(&key) else {
            return;
        };
        let flag = s.end.unwrap_or(Continuation::Abort);
        if s.tid.is_none() {
            // Granted but never started a chunk (cannot happen: grant starts one).
            self.start_chunk(io, &mut s);
        }
        let Some(dest) = s.dest else { return };
        for b in s.pending.drain(..) {
            s.chunk_sent += b.len() as u64;
            io.write(dest, b);
        }
        if let Some(tid) = s.tid.take() {
            io.write(
                dest,
                Bytes::copy_from_slice(EndLine::new(&tid, flag, s.tmpl.has_body).as_bytes()),
            );
            io.chunk_ended(dest, tid, s.chunk_sent, flag);
        }
        if let Some(eg) = self.dests.get_mut(&dest) {
            if eg.owner == Some(key) {
                eg.owner = None;
            }
        }
    }

    fn start_chunk(&mut self, io: &mut impl EgressIo, s: &mut OutStream) {
        let Some(dest) = s.dest else { return };
        let tid = io.new_tid();
        for piece in s.tmpl.render(&mut self.arena, &tid, s.sent) {
            if !piece.is_empty() {
                io.write(dest, piece);
            }
        }
        io.chunk_started(dest, tid, s.src, &s.tmpl, s.sent);
        s.tid = Some(tid);
        s.chunk_sent = 0;
    }

    /// Gives `dest` to whoever is next: queued control frames first, then waiting streams.
    fn grant(&mut self, io: &mut impl EgressIo, dest: ConnId) {
        loop {
            let Some(eg) = self.dests.get_mut(&dest) else {
                return;
            };
            if eg.owner.is_some() {
                return;
            }
            while let Some(f) = eg.control.pop_front() {
                io.write(dest, f);
            }
            let Some(key) = eg.waiting.pop_front() else {
                self.dests.remove(&dest);
                return;
            };
            eg.owner = Some(key);
            let Some(mut s) = self.streams.remove(&key) else {
                eg.owner = None;
                continue;
            };
            self.start_chunk(io, &mut s);
            s.pending_len = 0;
            while let Some(b) = s.pending.pop_front() {
                s.sent += b.len() as u64;
                s.chunk_sent += b.len() as u64;
                io.write(dest, b);
            }
            let done = s.end.is_some();
            self.streams.insert(key, s);
            if done {
                self.finish(io, key);
                continue;
            }
            return;
        }
    }
}
