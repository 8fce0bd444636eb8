//! The MSRP chat switch of RFC 7701 (multi-party chat), living in the same worker service as
//! the relay: one MSRP port serves both. A request whose To-Path is exactly one URI naming a
//! switch session comes here ([`Switch::claims`]); relay tokens go to the relay.
//!
//! The control plane owns membership: it creates rooms and installs each participant session
//! on every worker ([`SwitchControl`], pushed with [`broadcast`]). The worker that sees the
//! session's first request claims its [`BindSlot`] and binds it to that connection (RFC 4975
//! §5.4: 481 unknown, 506 bound elsewhere). Every worker keeps the whole roster, so a private
//! message resolves locally, but delivers only to the sessions bound on it.
//!
//! A SEND is checked in RFC 7701 §6.3 order (endpoint checks, 415, CPIM From 403, one To 403,
//! 404/428 for private messages, then the room's size/rate/in-flight limits), answered, and
//! distributed chunk by chunk as each chunk completes ([`fanout`]); later chunks follow the
//! recipient list fixed by the first one, and a chunk timer abandons a stalled message with a
//! `#` chunk. Recipients get `Failure-Report: partial`: they answer only errors, so no
//! per-delivery transaction state exists; their REPORTs are consumed, never passed back.
//! Congested recipients (send queue above the room's high-water mark) are skipped for new
//! messages and get a notice once their queue drains (RFC 7701 §6.4). NICKNAME is punted to
//! the control plane ([`SwitchEvent::Nickname`]) and answered with its verdict.

mod api;
mod fanout;
mod hash;
mod inbound;
mod roster;
pub mod testkit;
#[cfg(test)]
mod tests;
mod uri;

pub use api::{
    broadcast, push_patiently, AcceptTypes, ActiveSetup, BindSlot, BindState, ChatCaps,
    CloseReason, EventSink, NicknameRequest, Participant, RateLimit, RoomCounters, RoomId,
    RoomPolicy, RoomSpec, SessionSpec, Setup, SpecError, SwitchConfig, SwitchControl, SwitchEvent,
    SwitchStats, MAX_WORKERS,
};
pub use fanout::{ChunkMsg, SwitchPeer};
pub use uri::cpim_uri_key;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes};

use crate::net::{Backend, ConnId};
use crate::relay::{RelayPeer, Rng};
use crate::rings::RingTx;
use crate::wire::{
    ByteRange, Continuation, FrameHead, Ident, Method, PathPrefix, RequestWriter, ResponseWriter,
};
use crate::worker::Io;
use fanout::{new_stem, Arena, Delivery, Fanout};
use hash::FastMap;
use roster::{
    Bound, Member, Room, Rooms, SessionEntry, Sessions, TokenBucket, ACCEPTS_ANY, PRIVATE_OK,
    SHARED_CONN,
};

/// The counters kept while running (gauges are filled in by [`Switch::stats`]).
pub(crate) type SwitchCounters = SwitchStats;

/// A request being received on a switch session.
struct InFrame {
    slot: u32,
    gen: u32,
    head: FrameHead,
    kind: InKind,
    pieces: Vec<Bytes>,
    len: u64,
    /// Body bytes this chunk may carry before the message exceeds the room's size limit.
    limit: u64,
}

enum InKind {
    /// The first chunk of a message.
    First,
    /// A later chunk of the message with this Message-ID.
    Next(Ident),
}

/// The switch's view of one connection.
#[derive(Default)]
struct SwitchConn {
    /// Sessions bound on it.
    sessions: Vec<u32>,
    /// The SEND being received (`None`: nothing, or the rest of a frame is discarded).
    frame: Option<Box<InFrame>>,
    /// An active session waiting for this connection to open.
    connecting: Option<u32>,
}

/// A NICKNAME waiting for the control plane's verdict.
struct PendingNick {
    gen: u32,
    conn: ConnId,
    from: Bytes,
    own: Bytes,
    deadline: Instant,
}

/// One worker's chat switch.
pub struct Switch {
    index: usize,
    workers: usize,
    cfg: Arc<SwitchConfig>,
    sink: Option<EventSink>,
    peers: Vec<Option<RingTx<RelayPeer>>>,
    /// Ring messages waiting for room in a peer's ring, per peer.
    backlog: Vec<VecDeque<RelayPeer>>,
    /// Senders paused until the backlog drains.
    paused: Vec<ConnId>,
    rooms: Rooms,
    sessions: Sessions,
    conns: FastMap<ConnId, SwitchConn>,
    /// Chunked messages being delivered to this worker's sessions.
    deliveries: FastMap<u64, Delivery>,
    /// Sessions with chunked messages in flight (may hold stale entries).
    flying: Vec<u32>,
    nicks: FastMap<(u32, Ident), PendingNick>,
    /// Connections opened for active sessions, for the relay to adopt.
    opened: Vec<(ConnId, bool)>,
    /// Binding SENDs of active sessions waiting for their response.
    bindings: FastMap<ConnId, (u32, Ident)>,
    /// Time origin of the compact per-member timestamps.
    epoch: Instant,
    arena: Arena,
    scratch: Vec<u8>,
    rng: Rng,
    seq: u64,
    bound: usize,
    stats: SwitchCounters,
    next_sweep: Instant,
}

/// How often timers are looked at when nothing is due sooner.
const SWEEP: Duration = Duration::from_secs(1);

/// The reason phrase of a status code (RFC 4975 §15.3 registry, RFC 7701 §10.3 Table 1).
pub(crate) fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        400 => "Unintelligible",
        403 => "Action-not-allowed",
        404 => "Failure to resolve recipient's URI",
        413 => "Stop-sending-message",
        415 => "MIME-not-understood",
        424 => "Malformed nickname",
        425 => "Nickname reserved or already in use",
        428 => "Private messages not supported",
        481 => "Session-does-not-exist",
        501 => "Request-method-not-understood",
        506 => "Session-already-in-use",
        _ => "Error",
    }
}

impl Switch {
    /// The switch of worker `index`; `peers` are the rings into the other workers.
    pub fn new(
        index: usize,
        peers: Vec<Option<RingTx<RelayPeer>>>,
        cfg: Arc<SwitchConfig>,
        sink: Option<EventSink>,
    ) -> Switch {
        let workers = peers.len().max(index + 1);
        Switch {
            index,
            workers,
            cfg,
            sink,
            backlog: (0..peers.len()).map(|_| VecDeque::new()).collect(),
            peers,
            paused: Vec::new(),
            rooms: Rooms::default(),
            sessions: Sessions::default(),
            conns: FastMap::default(),
            deliveries: FastMap::default(),
            flying: Vec::new(),
            nicks: FastMap::default(),
            opened: Vec::new(),
            bindings: FastMap::default(),
            epoch: Instant::now(),
            arena: Arena::new(),
            scratch: Vec::new(),
            rng: Rng::from_os(),
            seq: 0,
            bound: 0,
            stats: SwitchCounters::default(),
            next_sweep: Instant::now(),
        }
    }

    /// Counters and gauges of this worker.
    pub fn stats(&self) -> SwitchStats {
        let mut s = self.stats.clone();
        s.rooms = self.rooms.len();
        s.sessions = self.sessions.len();
        s.bound = self.bound;
        s.inflight = self
            .sessions
            .slots()
            .filter_map(|slot| {
                self.sessions
                    .get(slot)?
                    .bound
                    .as_ref()
                    .map(|b| b.flights.len())
            })
            .sum();
        s.deliveries_in_progress = self.deliveries.len();
        s.per_room = self
            .rooms
            .iter()
            .map(|(id, r)| RoomCounters {
                room: *id,
                bound: r.members.len(),
                ..r.counters.clone()
            })
            .collect();
        s.per_room.sort_by_key(|c| c.room);
        s
    }

    fn emit(&self, ev: SwitchEvent) {
        if let Some(s) = &self.sink {
            s(ev);
        }
    }

    /// Whether the request on `conn` is the switch's: the connection carries switch sessions,
    /// or its To-Path is a single URI with a session-id. A relay is never the last hop of a
    /// path, so such a request is for an endpoint, and unknown sessions get the endpoint's 481
    /// (RFC 4975 §7.3).
    pub(crate) fn claims(&self, conn: ConnId, head: &FrameHead) -> bool {
        if self.owns(conn) {
            return true;
        }
        let mut it = head.to_path();
        matches!((it.next(), it.next()), (Some(u), None) if u.session_id().is_some())
    }

    /// Whether sessions are bound (or being connected) on `conn`.
    pub(crate) fn owns(&self, conn: ConnId) -> bool {
        self.conns
            .get(&conn)
            .is_some_and(|c| !c.sessions.is_empty() || c.connecting.is_some())
    }

    /// Connections opened for active sessions since the last call (the relay keeps per
    /// connection state for them); `true` when they run TLS.
    pub(crate) fn take_opened(&mut self) -> Vec<(ConnId, bool)> {
        std::mem::take(&mut self.opened)
    }

    fn fanout(&mut self) -> Fanout<'_> {
        Fanout {
            rooms: &mut self.rooms,
            sessions: &mut self.sessions,
            deliveries: &mut self.deliveries,
            arena: &mut self.arena,
            stats: &mut self.stats,
        }
    }

    /// Answers a request (RFC 4975 §7.2), within what its Failure-Report allows.
    fn respond<B: Backend>(
        &mut self,
        io: &mut Io<B>,
        conn: ConnId,
        head: &FrameHead,
        code: u16,
        own: &[u8],
    ) {
        if code != 200 {
            *self.stats.refused.entry(code).or_default() += 1;
        }
        let method = head.method();
        if method == Some(Method::Report) {
            return;
        }
        if method == Some(Method::Send) {
            let fr = head.failure_report();
            if fr == crate::wire::FailureReport::No
                || (code == 200 && fr == crate::wire::FailureReport::Partial)
            {
                return;
            }
        }
        let b = self
            .arena
            .room_for(96 + head.from_path_raw().len() + own.len());
        if let Some(w) = ResponseWriter::new(b, head, code, Some(reason(code)), &[own]) {
            w.end();
            let out = self.arena.take();
            io.send(conn, out);
        }
    }

    /// Binds `slot` (already claimed in its [`BindSlot`]) to `conn`.
    fn bind(&mut self, conn: ConnId, slot: u32) -> bool {
        let gen = self.sessions.gen(slot);
        let Some(e) = self.sessions.get_mut(slot) else {
            return false;
        };
        let Some(room) = self.rooms.get_mut(&e.spec.room) else {
            e.spec.bind.close();
            return false;
        };
        let spec = e.spec.clone();
        let mut flags = 0;
        if spec.accept_wrapped_types.accepts_any() {
            flags |= ACCEPTS_ANY;
        }
        if spec.caps.chat_aware && spec.caps.private_messages {
            flags |= PRIVATE_OK;
        }
        let others: Vec<u32> = self
            .conns
            .get(&conn)
            .map_or_else(Vec::new, |c| c.sessions.clone());
        if !others.is_empty() {
            flags |= SHARED_CONN;
        }
        let pos = room.members.len() as u32;
        room.members.push(Member {
            slot,
            gen,
            conn,
            part: e.part,
            flags,
            prefix: PathPrefix::new(&[spec.peer_path()], &[spec.local_uri_raw()]),
        });
        room.presence.add(self.index, 1);
        e.bound = Some(Box::new(Bound {
            conn,
            pos,
            bucket: TokenBucket::default(),
            flights: Vec::new(),
            skipped: 0,
            notice_due: false,
            pending_nicks: 0,
            has_nickname: false,
        }));
        self.bound += 1;
        self.conns.entry(conn).or_default().sessions.push(slot);
        // The sessions already on this connection now share it: their frames need
        // transaction ids of their own.
        for o in others {
            let Some(e) = self.sessions.get(o) else {
                continue;
            };
            let (room, pos) = (e.spec.room, e.bound.as_ref().map(|b| b.pos));
            if let (Some(r), Some(pos)) = (self.rooms.get_mut(&room), pos) {
                if let Some(m) = r.members.get_mut(pos as usize) {
                    m.flags |= SHARED_CONN;
                }
            }
        }
        self.emit(SwitchEvent::SessionBound {
            session_id: spec.session_id().to_string(),
            room: spec.room,
            worker: self.index,
        });
        true
    }

    /// Unbinds a session bound here: out of the member list, its messages in flight abandoned,
    /// its slot closed for good. Returns its connection.
    fn unbind<B: Backend>(
        &mut self,
        io: &mut Io<B>,
        slot: u32,
        reason: CloseReason,
    ) -> Option<ConnId> {
        let e = self.sessions.get_mut(slot)?;
        let b = e.bound.take()?;
        let spec = e.spec.clone();
        spec.bind.close();
        self.bound = self.bound.saturating_sub(1);
        if let Some(room) = self.rooms.get_mut(&spec.room) {
            let pos = b.pos as usize;
            if pos < room.members.len() {
                room.members.swap_remove(pos);
                if let Some(moved) = room.members.get(pos) {
                    let ms = moved.slot;
                    if let Some(mb) = self.sessions.bound_mut(ms) {
                        mb.pos = pos as u32;
                    }
                }
            }
            room.presence.add(self.index, -1);
        }
        if let Some(c) = self.conns.get_mut(&b.conn) {
            c.sessions.retain(|&s| s != slot);
            if c.frame.as_ref().is_some_and(|f| f.slot == slot) {
                c.frame = None;
            }
        }
        for f in b.flights {
            self.abandon(io, spec.room, f, Some(slot));
        }
        self.emit(SwitchEvent::SessionClosed {
            session_id: spec.session_id().to_string(),
            room: spec.room,
            worker: self.index,
            reason,
        });
        Some(b.conn)
    }

    /// Removes a session from this worker altogether.
    fn remove_session<B: Backend>(&mut self, io: &mut Io<B>, slot: u32, reason: CloseReason) {
        if let Some(conn) = self.unbind(io, slot, reason) {
            if self.conns.get(&conn).is_none_or(|c| c.sessions.is_empty()) {
                io.close_after_flush(conn);
            }
        }
        // An active session still connecting.
        let connecting: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.connecting == Some(slot))
            .map(|(id, _)| *id)
            .collect();
        for c in connecting {
            self.conns.remove(&c);
            io.close(c);
        }
        let Some(e) = self.sessions.remove(slot) else {
            return;
        };
        e.spec.bind.close();
        if let Some(room) = self.rooms.get_mut(&e.spec.room) {
            room.forget_session(e.part, slot);
        }
    }

    /// Abandons a message in flight: every recipient that got its earlier chunks gets an
    /// empty `#` chunk (RFC 7701 §6.1).
    fn abandon<B: Backend>(
        &mut self,
        io: &mut Io<B>,
        room: RoomId,
        f: roster::Flight,
        sender: Option<u32>,
    ) {
        self.stats.abandoned += 1;
        let range = ByteRange {
            start: f.next.max(1),
            end: None,
            total: f.total,
        };
        let header = self.chunk_header(f.mid.as_bytes(), range);
        let seq = f.key & ((1 << 40) - 1);
        let stem = new_stem(&mut self.rng, self.index, seq, &[]);
        let msg = Arc::new(ChunkMsg::new(
            &mut self.arena,
            f.key,
            room,
            None,
            header,
            Vec::new(),
            Continuation::Abort,
            stem,
            io.now(),
            self.cfg.copy_body_below,
        ));
        self.distribute(io, None, &msg, sender, f.workers);
    }

    /// The per-chunk header block towards recipients.
    fn chunk_header(&mut self, mid: &[u8], range: ByteRange) -> Bytes {
        let b = self.arena.room_for(160 + mid.len());
        b.put_slice(b"Message-ID: ");
        b.put_slice(mid);
        b.put_slice(b"\r\nByte-Range: ");
        range.write(b);
        // Recipients answer errors only (413 stops a message to them); no 200s, no state.
        b.put_slice(b"\r\nFailure-Report: partial\r\nContent-Type: message/cpim\r\n\r\n");
        self.arena.take()
    }

    /// Delivers a chunk here and hands it to the other workers in `workers`.
    fn distribute<B: Backend>(
        &mut self,
        io: &mut Io<B>,
        src: Option<ConnId>,
        msg: &Arc<ChunkMsg>,
        sender: Option<u32>,
        workers: u64,
    ) {
        self.fanout().deliver(io, msg, sender);
        let mut mask = workers & !(1u64 << self.index.min(63));
        while mask != 0 {
            let w = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            self.push_peer(
                io,
                w,
                RelayPeer::Switch(SwitchPeer::Chunk(msg.clone())),
                src,
            );
        }
    }

    fn push_peer<B: Backend>(
        &mut self,
        io: &mut Io<B>,
        w: usize,
        mut msg: RelayPeer,
        src: Option<ConnId>,
    ) {
        let Some(Some(tx)) = self.peers.get(w) else {
            return;
        };
        if self.backlog[w].is_empty() {
            match tx.push(msg) {
                Ok(()) => return,
                Err(m) => msg = m,
            }
        }
        // The peer is far behind: keep order, and slow the sender down until it catches up.
        self.backlog[w].push_back(msg);
        self.stats.ring_backlog += 1;
        if let Some(c) = src {
            if self.backlog[w].len() > self.cfg.max_ring_backlog / 2 && !self.paused.contains(&c) {
                io.pause_read(c);
                self.paused.push(c);
            }
        }
    }

    /// Moves waiting ring messages on; resumes paused senders once everything went.
    pub(crate) fn end_of_pass<B: Backend>(&mut self, io: &mut Io<B>) {
        let mut all_empty = true;
        for (w, q) in self.backlog.iter_mut().enumerate() {
            let Some(Some(tx)) = self.peers.get(w) else {
                q.clear();
                continue;
            };
            while let Some(m) = q.pop_front() {
                if let Err(m) = tx.push(m) {
                    q.push_front(m);
                    break;
                }
            }
            all_empty &= q.is_empty();
        }
        if all_empty && !self.paused.is_empty() {
            for c in self.paused.drain(..) {
                io.resume_read(c);
            }
        }
    }

    /// A message from another worker.
    pub(crate) fn on_peer<B: Backend>(&mut self, io: &mut Io<B>, msg: SwitchPeer) {
        match msg {
            SwitchPeer::Chunk(m) => self.fanout().deliver(io, &m, None),
        }
    }

    /// A message from the control plane.
    pub(crate) fn on_control<B: Backend>(&mut self, io: &mut Io<B>, msg: SwitchControl) {
        match msg {
            SwitchControl::CreateRoom(spec) | SwitchControl::UpdateRoom(spec) => {
                match self.rooms.get_mut(&spec.id) {
                    Some(r) => r.set_spec(spec),
                    None => {
                        self.rooms.insert(spec.id, Room::new(spec));
                    }
                }
            }
            SwitchControl::DeleteRoom(id) => {
                let slots: Vec<u32> = self
                    .rooms
                    .get(&id)
                    .map(|r| {
                        r.parts
                            .iter()
                            .flatten()
                            .flat_map(|p| p.sessions.iter().copied())
                            .collect()
                    })
                    .unwrap_or_default();
                for s in slots {
                    self.remove_session(io, s, CloseReason::RoomDeleted);
                }
                self.rooms.remove(&id);
                self.deliveries.retain(|_, d| d.room != id);
            }
            SwitchControl::AddSession(spec) => self.add_session(io, spec),
            SwitchControl::RemoveSession { session_id } => {
                if let Some(slot) = self.sessions.by_sid(session_id.as_bytes()) {
                    self.remove_session(io, slot, CloseReason::Removed);
                }
            }
            SwitchControl::NicknameVerdict {
                session_id,
                transaction_id,
                code,
            } => self.nickname_verdict(io, &session_id, transaction_id, code),
            SwitchControl::Stats(tx) => {
                let _ = tx.send(self.stats());
            }
        }
    }

    fn add_session<B: Backend>(&mut self, io: &mut Io<B>, spec: Arc<SessionSpec>) {
        let Some(room) = self.rooms.get_mut(&spec.room) else {
            return;
        };
        if self.sessions.by_sid(spec.session_id_bytes()).is_some() {
            return;
        }
        let part = room.part_for(&spec.participant);
        let Some(slot) = self.sessions.insert(SessionEntry {
            spec: spec.clone(),
            part,
            bound: None,
        }) else {
            return;
        };
        if let Some(p) = room.part_mut(part) {
            p.sessions.push(slot);
        }
        if let Setup::Active(a) = &spec.setup {
            if a.worker == self.index && spec.bind.claim(self.index).is_ok() {
                self.connect_active(io, slot, &spec, a.addr, a.tls_server_name.as_deref());
            }
        }
    }

    /// Opens the connection of an active session (RFC 6135 `a=setup:active`, CEMA).
    fn connect_active<B: Backend>(
        &mut self,
        io: &mut Io<B>,
        slot: u32,
        spec: &Arc<SessionSpec>,
        addr: std::net::SocketAddr,
        tls_name: Option<&str>,
    ) {
        let fail = |this: &mut Switch| {
            spec.bind.close();
            this.emit(SwitchEvent::SessionClosed {
                session_id: spec.session_id().to_string(),
                room: spec.room,
                worker: this.index,
                reason: CloseReason::ConnectFailed,
            });
        };
        let Ok(conn) = io.connect(addr) else {
            return fail(self);
        };
        if let Some(name) = tls_name {
            let tls = self.cfg.tls_client.clone().and_then(|cfg| {
                let sn = rustls::pki_types::ServerName::try_from(name.to_string()).ok()?;
                rustls::ClientConnection::new(cfg, sn).ok()
            });
            match tls {
                Some(t) => io.start_tls(conn, t.into()),
                None => {
                    io.close(conn);
                    return fail(self);
                }
            }
        }
        self.conns.insert(
            conn,
            SwitchConn {
                connecting: Some(slot),
                ..SwitchConn::default()
            },
        );
        self.opened.push((conn, tls_name.is_some()));
    }

    /// An outgoing connection is up or failed. `true` if it was the switch's.
    pub(crate) fn on_connected<B: Backend>(
        &mut self,
        io: &mut Io<B>,
        conn: ConnId,
        ok: bool,
    ) -> bool {
        let Some(slot) = self.conns.get_mut(&conn).and_then(|c| c.connecting.take()) else {
            return false;
        };
        let spec = match self.sessions.get(slot) {
            Some(e) => e.spec.clone(),
            None => {
                io.close(conn);
                return true;
            }
        };
        if !ok || !self.bind(conn, slot) {
            self.conns.remove(&conn);
            spec.bind.close();
            self.emit(SwitchEvent::SessionClosed {
                session_id: spec.session_id().to_string(),
                room: spec.room,
                worker: self.index,
                reason: CloseReason::ConnectFailed,
            });
            if ok {
                io.close(conn);
            }
            return true;
        }
        // RFC 4975 §5.4: the active side sends a SEND at once to bind the connection.
        let tid = Ident::random(&mut self.rng);
        let mid = Ident::random(&mut self.rng);
        let prefix = PathPrefix::new(&[spec.peer_path()], &[spec.local_uri_raw()]);
        let b = self.arena.room_for(256 + prefix.as_bytes().len());
        RequestWriter::with_prefix(b, tid, "SEND", &prefix)
            .message_id(mid.as_bytes())
            .byte_range(ByteRange {
                start: 1,
                end: Some(0),
                total: Some(0),
            })
            .end(Continuation::Complete);
        let out = self.arena.take();
        io.send(conn, out);
        self.bindings.insert(conn, (slot, tid));
        true
    }

    /// The connection is gone: every session on it has failed (RFC 4975 §5.4).
    pub(crate) fn conn_closed<B: Backend>(&mut self, io: &mut Io<B>, conn: ConnId) {
        self.bindings.remove(&conn);
        let Some(c) = self.conns.remove(&conn) else {
            return;
        };
        self.paused.retain(|&p| p != conn);
        if let Some(slot) = c.connecting {
            if let Some(e) = self.sessions.get(slot) {
                let spec = e.spec.clone();
                spec.bind.close();
                self.emit(SwitchEvent::SessionClosed {
                    session_id: spec.session_id().to_string(),
                    room: spec.room,
                    worker: self.index,
                    reason: CloseReason::ConnectFailed,
                });
            }
        }
        for slot in c.sessions {
            self.unbind(io, slot, CloseReason::ConnectionLost);
        }
    }

    /// The send queue of `conn` drained: congestion notices that were due go out now.
    pub(crate) fn on_drained<B: Backend>(&mut self, io: &mut Io<B>, conn: ConnId) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        for slot in c.sessions.clone() {
            let Some(e) = self.sessions.get_mut(slot) else {
                continue;
            };
            let Some(b) = e.bound.as_deref_mut() else {
                continue;
            };
            if !b.notice_due {
                continue;
            }
            b.notice_due = false;
            let skipped = std::mem::take(&mut b.skipped);
            let spec = e.spec.clone();
            let Some(room) = self.rooms.get(&spec.room) else {
                continue;
            };
            let text = format!(
                "{} ({skipped} message{} skipped)",
                room.spec.policy.congestion_notice,
                if skipped == 1 { "" } else { "s" }
            );
            let to = spec.participant.uris.first().cloned().unwrap_or_default();
            let body = format!(
                "From: <{}>\r\nTo: <{to}>\r\n\r\nContent-Type: text/plain;charset=UTF-8\r\n\r\n{text}",
                room.spec.uri
            );
            self.send_notice(io, conn, &spec, body.as_bytes());
        }
    }

    fn send_notice<B: Backend>(
        &mut self,
        io: &mut Io<B>,
        conn: ConnId,
        spec: &SessionSpec,
        body: &[u8],
    ) {
        let Some(tid) = Ident::random_for_body(&mut self.rng, body) else {
            return;
        };
        let mid = Ident::random(&mut self.rng);
        let prefix = PathPrefix::new(&[spec.peer_path()], &[spec.local_uri_raw()]);
        let b = self
            .arena
            .room_for(320 + body.len() + prefix.as_bytes().len());
        RequestWriter::with_prefix(b, tid, "SEND", &prefix)
            .message_id(mid.as_bytes())
            .byte_range(ByteRange {
                start: 1,
                end: Some(body.len() as u64),
                total: Some(body.len() as u64),
            })
            .failure_report(crate::wire::FailureReport::No)
            .content_type(b"message/cpim")
            .body(body, Continuation::Complete);
        let out = self.arena.take();
        io.send(conn, out);
        self.stats.notices += 1;
    }

    /// Runs the chunk timers, the delivery safety net and NICKNAME timeouts; returns when to
    /// look again.
    pub(crate) fn on_tick<B: Backend>(&mut self, io: &mut Io<B>) -> Instant {
        let now = io.now();
        if now < self.next_sweep {
            return self.next_sweep;
        }
        let mut next = now + SWEEP;
        let mut flying = std::mem::take(&mut self.flying);
        flying.sort_unstable();
        flying.dedup();
        let mut expired = Vec::new();
        flying.retain(|&slot| {
            let Some(e) = self.sessions.get_mut(slot) else {
                return false;
            };
            let room = e.spec.room;
            let Some(b) = e.bound.as_deref_mut() else {
                return false;
            };
            let mut i = 0;
            while i < b.flights.len() {
                if b.flights[i].deadline <= now {
                    expired.push((slot, room, b.flights.swap_remove(i)));
                } else {
                    next = next.min(b.flights[i].deadline);
                    i += 1;
                }
            }
            !b.flights.is_empty()
        });
        self.flying = flying;
        for (slot, room, f) in expired {
            self.abandon(io, room, f, Some(slot));
        }
        self.deliveries.retain(|_, d| d.expires > now);
        let sessions = &mut self.sessions;
        self.nicks.retain(|(slot, _), p| {
            if p.deadline > now {
                return true;
            }
            if let Some(b) = sessions.bound_mut(*slot) {
                b.pending_nicks = b.pending_nicks.saturating_sub(1);
            }
            false
        });
        self.next_sweep = next;
        next
    }
}
