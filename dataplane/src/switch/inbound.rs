//! Requests arriving on switch sessions: binding (RFC 4975 §5.4), the SEND checks of RFC 7701
//! §6.3 in order, chunk bookkeeping (sizes, in-flight messages, success REPORTs), responses
//! from recipients, and NICKNAME requests punted to the control plane.
//!
//! Status codes for the anti-DoS limits (RFC 7701 §11 leaves them to implementers):
//! - message larger than the room allows: 413 ("stop sending this message", RFC 4975 §10.5),
//!   also when a later chunk pushes it over; the recipients then get a `#` chunk;
//! - more chunked messages in progress than the room allows: 413 for the new one: the sender
//!   must stop sending that message but may go on with the others;
//! - over the per-sender rate: 403 ("action not allowed", do not retry this request): the
//!   message is refused outright; a later one goes through once the bucket refills.

use std::sync::Arc;

use bytes::{BufMut, Bytes};

use super::api::{BindState, CloseReason, NicknameRequest, SwitchEvent};
use super::fanout::{flight_key, new_stem, parse_delivery_tid, ChunkMsg, FirstInfo, Target};
use super::roster::Flight;
use super::uri::cpim_uri_key;
use super::{InFrame, InKind, PendingNick, Switch};
use crate::net::{Backend, ConnId};
use crate::wire::cpim::CpimView;
use crate::wire::{
    ByteRange, Continuation, FrameHead, Ident, Method, RequestWriter, ResponseWriter, SuccessReport,
};
use crate::worker::Io;

/// A chunk body above this many octets goes out interruptible (`range-end = *`, RFC 4975
/// §7.1), although the switch always sends whole chunks.
const INTERRUPTIBLE_ABOVE: u64 = 2048;

/// What the first chunk's CPIM headers said, copied out of the body view.
struct CpimFacts {
    from: Option<Vec<u8>>,
    from_raw: Bytes,
    tos: usize,
    to: Option<Vec<u8>>,
    to_raw: Bytes,
    payload_type: Bytes,
}

impl Switch {
    /// A request addressed to a switch session (or arriving on a switch connection).
    pub(crate) fn on_request<B: Backend>(
        &mut self,
        io: &mut Io<B>,
        conn: ConnId,
        head: FrameHead,
        method: Method,
    ) {
        // A frame the parser cut short leaves its state behind: start afresh.
        self.conns.entry(conn).or_default().frame = None;
        let slot = match self.resolve(io, conn, &head) {
            Ok(s) => s,
            Err((code, own)) => {
                self.respond(io, conn, &head, code, &own);
                return;
            }
        };
        let Some(own) = self
            .sessions
            .get(slot)
            .map(|e| e.spec.local_uri_raw().clone())
        else {
            return;
        };
        match method {
            Method::Send => self.send_head(io, conn, slot, head, &own),
            // RFC 7701 §6.3: recipients' reports are never passed back to the sender.
            Method::Report => self.stats.reports_consumed += 1,
            Method::Nickname => self.nickname(io, conn, slot, &head, &own),
            // AUTH is understood on this port (the relay's), but a chat session is no relay:
            // refused as not allowed rather than 501, which would claim we do not know it.
            Method::Auth => self.respond(io, conn, &head, 403, &own),
            Method::Other => self.respond(io, conn, &head, 501, &own),
        }
    }

    /// RFC 4975 §7.3 session matching, binding the session on its first request (§5.4).
    fn resolve<B: Backend>(
        &mut self,
        io: &mut Io<B>,
        conn: ConnId,
        head: &FrameHead,
    ) -> Result<u32, (u16, Bytes)> {
        // The usual case: a session bound here, its URI echoed byte for byte (no parsing).
        if let Some(c) = self.conns.get(&conn) {
            let raw = head.to_path_raw();
            for &slot in &c.sessions {
                if self
                    .sessions
                    .get(slot)
                    .is_some_and(|e| e.spec.local_uri_raw().as_ref() == raw)
                {
                    return Ok(slot);
                }
            }
        }
        let mut it = head.to_path();
        let (Some(uri), None) = (it.next(), it.next()) else {
            let own = head
                .to_path()
                .last()
                .map(|u| u.as_bytes())
                .unwrap_or_default();
            return Err((481, Bytes::copy_from_slice(own)));
        };
        let own = Bytes::copy_from_slice(uri.as_bytes());
        let Some(slot) = uri.session_id().and_then(|s| self.sessions.by_sid(s)) else {
            return Err((481, own));
        };
        let Some(e) = self.sessions.get(slot) else {
            return Err((481, own));
        };
        if !e.spec.local_uri().is_some_and(|l| uri.same_as(&l)) {
            return Err((481, own));
        }
        if let Some(b) = &e.bound {
            return if b.conn == conn {
                Ok(slot)
            } else {
                Err((506, own))
            };
        }
        let spec = e.spec.clone();
        let tls_required = self
            .rooms
            .get(&spec.room)
            .is_some_and(|r| r.spec.policy.require_tls);
        match spec.bind.state() {
            BindState::Bound(_) => return Err((506, own)),
            BindState::Closed => return Err((481, own)),
            BindState::Free => {}
        }
        if tls_required && !io.is_tls(conn) {
            return Err((403, own));
        }
        match spec.bind.claim(self.index) {
            Ok(()) => {}
            Err(BindState::Closed) => return Err((481, own)),
            Err(_) => return Err((506, own)),
        }
        if self.bind(conn, slot) {
            Ok(slot)
        } else {
            Err((481, own))
        }
    }

    fn send_head<B: Backend>(
        &mut self,
        io: &mut Io<B>,
        conn: ConnId,
        slot: u32,
        head: FrameHead,
        own: &Bytes,
    ) {
        let gen = self.sessions.gen(slot);
        let Some(e) = self.sessions.get(slot) else {
            return;
        };
        let Some(rs) = self.rooms.get(&e.spec.room).map(|r| r.spec.clone()) else {
            return;
        };
        let policy = &rs.policy;
        if !head.has_body() {
            // A binding or keep-alive SEND: nothing to distribute.
            self.respond(io, conn, &head, 200, own);
            if head.success_report() == SuccessReport::Yes {
                if let Some(mid) = head.message_id() {
                    let mid = Bytes::copy_from_slice(mid);
                    self.success_report(io, conn, &head, own, &mid, 0, None);
                }
            }
            return;
        }
        let Some(mid) = head.message_id().and_then(Ident::new) else {
            return self.respond(io, conn, &head, 400, own);
        };
        let range = head.byte_range();
        let start = range.map_or(1, |r| r.start);
        let now = io.now();
        let Some(b) = self.sessions.bound_mut(slot) else {
            return;
        };
        let existing = b.flights.iter().position(|f| f.mid == mid);
        if range
            .and_then(|r| r.total)
            .is_some_and(|t| t > policy.max_message_size)
        {
            if let Some(i) = existing {
                let f = b.flights.swap_remove(i);
                self.abandon(io, rs.id, f, Some(slot));
            }
            return self.respond(io, conn, &head, 413, own);
        }
        let (kind, limit) = if start > 1 {
            match existing {
                Some(i) => (
                    InKind::Next(mid),
                    policy
                        .max_message_size
                        .saturating_sub(b.flights[i].received),
                ),
                // Not a message we are distributing (refused, abandoned, or its first chunk
                // never came): the sender must stop sending it.
                None => return self.respond(io, conn, &head, 413, own),
            }
        } else {
            if let Some(i) = existing {
                // The sender starts the message over: the old copy is abandoned.
                let f = b.flights.swap_remove(i);
                self.abandon(io, rs.id, f, Some(slot));
            }
            let cpim = head
                .content_type()
                .and_then(Result::ok)
                .is_some_and(|t| t.is("message", "cpim"));
            if !cpim {
                return self.respond(io, conn, &head, 415, own);
            }
            let Some(b) = self.sessions.bound_mut(slot) else {
                return;
            };
            if !b.bucket.take(now, self.epoch, policy.rate) {
                return self.respond(io, conn, &head, 403, own);
            }
            (InKind::First, policy.max_message_size)
        };
        if let Some(c) = self.conns.get_mut(&conn) {
            c.frame = Some(Box::new(InFrame {
                slot,
                gen,
                head,
                kind,
                pieces: Vec::new(),
                len: 0,
                limit,
            }));
        }
    }

    /// Body bytes of the request in progress on `conn`.
    pub(crate) fn on_body<B: Backend>(&mut self, io: &mut Io<B>, conn: ConnId, bytes: Bytes) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let Some(f) = c.frame.as_mut() else {
            return;
        };
        f.len += bytes.len() as u64;
        if f.len <= f.limit {
            f.pieces.push(bytes);
            return;
        }
        let Some(f) = c.frame.take() else { return };
        let own = self
            .sessions
            .get(f.slot)
            .map(|e| e.spec.local_uri_raw().clone())
            .unwrap_or_default();
        self.respond(io, conn, &f.head, 413, &own);
        if let InKind::Next(mid) = f.kind {
            self.abandon_mid(io, f.slot, mid);
        }
    }

    fn abandon_mid<B: Backend>(&mut self, io: &mut Io<B>, slot: u32, mid: Ident) {
        let Some(e) = self.sessions.get_mut(slot) else {
            return;
        };
        let room = e.spec.room;
        let Some(b) = e.bound.as_deref_mut() else {
            return;
        };
        if let Some(i) = b.flights.iter().position(|f| f.mid == mid) {
            let f = b.flights.swap_remove(i);
            self.abandon(io, room, f, Some(slot));
        }
    }

    /// The end-line of the request in progress on `conn`.
    pub(crate) fn on_end<B: Backend>(&mut self, io: &mut Io<B>, conn: ConnId, flag: Continuation) {
        let Some(f) = self.conns.get_mut(&conn).and_then(|c| c.frame.take()) else {
            return;
        };
        let live = self
            .sessions
            .get_gen(f.slot, f.gen)
            .and_then(|e| e.bound.as_ref())
            .is_some_and(|b| b.conn == conn);
        if !live {
            return;
        }
        let f = *f;
        match f.kind {
            InKind::First => self.finish_first(io, conn, f, flag),
            InKind::Next(mid) => self.finish_next(io, conn, f, mid, flag),
        }
    }

    /// Small bodies are copied once into a compact buffer (see `SwitchConfig`).
    fn compact(&mut self, pieces: Vec<Bytes>, len: u64) -> Vec<Bytes> {
        if len as usize > self.cfg.compact_body_below || pieces.is_empty() {
            return pieces;
        }
        let b = self.arena.room_for(len as usize);
        for p in &pieces {
            b.put_slice(p);
        }
        vec![self.arena.take()]
    }

    fn cpim_facts(&mut self, body: &[Bytes]) -> Result<CpimFacts, u16> {
        let max = self.cfg.max_cpim_headers;
        let mut scratch = std::mem::take(&mut self.scratch);
        let src: &[u8] = match body {
            [one] => one,
            many => {
                scratch.clear();
                for p in many {
                    let room = max + 4 - scratch.len().min(max + 4);
                    scratch.extend_from_slice(&p[..p.len().min(room)]);
                }
                &scratch
            }
        };
        let facts = match CpimView::parse_with_limit(src, max) {
            // Headers that do not fit in the first chunk (or the cap) cannot be checked.
            Err(_) => Err(400),
            Ok(v) => {
                let from = v.from().and_then(Result::ok);
                let mut tos = 0;
                let mut to = None;
                let mut to_raw = Bytes::new();
                for t in v.to() {
                    tos += 1;
                    if let Ok(a) = t {
                        to = Some(cpim_uri_key(a.uri));
                        to_raw = Bytes::copy_from_slice(a.uri);
                    }
                }
                Ok(CpimFacts {
                    from: from.map(|a| cpim_uri_key(a.uri)),
                    from_raw: from.map_or_else(Bytes::new, |a| Bytes::copy_from_slice(a.uri)),
                    tos,
                    to,
                    to_raw,
                    payload_type: Bytes::copy_from_slice(v.content_type().unwrap_or(b"text/plain")),
                })
            }
        };
        self.scratch = scratch;
        facts
    }

    fn finish_first<B: Backend>(
        &mut self,
        io: &mut Io<B>,
        conn: ConnId,
        f: InFrame,
        flag: Continuation,
    ) {
        let slot = f.slot;
        let Some(e) = self.sessions.get(slot) else {
            return;
        };
        let spec = e.spec.clone();
        let own = spec.local_uri_raw().clone();
        let Some(room) = self.rooms.get(&spec.room) else {
            return;
        };
        let rs = room.spec.clone();
        let policy = &rs.policy;
        if flag == Continuation::Abort {
            // The sender gave up on its own first chunk: nothing went anywhere yet.
            return self.respond(io, conn, &f.head, 200, &own);
        }
        let len = f.len;
        let body = self.compact(f.pieces, len);
        let facts = match self.cpim_facts(&body) {
            Ok(x) => x,
            Err(code) => return self.respond(io, conn, &f.head, code, &own),
        };
        // RFC 7701 §6.3: From must be a URI this participant is known by (no spoofing).
        let from_ok = facts.from.as_ref().is_some_and(|k| {
            spec.participant
                .keys
                .iter()
                .any(|p| p.as_ref() == k.as_slice())
        });
        if !from_ok {
            return self.respond(io, conn, &f.head, 403, &own);
        }
        // §6.1/§6.2: exactly one To.
        if facts.tos != 1 {
            return self.respond(io, conn, &f.head, 403, &own);
        }
        // A room that requires nicknames takes messages only from sessions holding one.
        if policy.nicknames_required
            && !self
                .sessions
                .get(slot)
                .and_then(|e| e.bound.as_ref())
                .is_some_and(|b| b.has_nickname)
        {
            return self.respond(io, conn, &f.head, 403, &own);
        }
        let Some(room) = self.rooms.get(&spec.room) else {
            return;
        };
        let to = facts.to.as_deref().unwrap_or_default();
        let target = if to == room.uri_key.as_ref() {
            Target::Room
        } else {
            let Some(pi) = room.part_by_uri.get(to).copied() else {
                return self.respond(io, conn, &f.head, 404, &own);
            };
            let Some(part) = room.part(pi) else {
                return self.respond(io, conn, &f.head, 404, &own);
            };
            // §6.2: 428 when private messages are off or the recipient cannot take them.
            let capable = part.sessions.iter().any(|&s| {
                self.sessions
                    .get(s)
                    .is_some_and(|e| e.spec.caps.chat_aware && e.spec.caps.private_messages)
            });
            if !policy.private_messages || !capable {
                return self.respond(io, conn, &f.head, 428, &own);
            }
            Target::Participant(part.info.clone())
        };
        if !policy.accept_wrapped_types.accepts(&facts.payload_type) {
            return self.respond(io, conn, &f.head, 415, &own);
        }
        let inflight = self
            .sessions
            .get(slot)
            .and_then(|e| e.bound.as_ref())
            .map_or(0, |b| b.flights.len());
        if flag == Continuation::More && inflight >= policy.max_inflight as usize {
            return self.respond(io, conn, &f.head, 413, &own);
        }
        // Other workers with recipients.
        let workers = match &target {
            Target::Room => room.presence.others(self.index, self.workers),
            Target::Participant(p) => {
                let mut mask = 0u64;
                if let Some(part) = room
                    .part_by_id
                    .get(p.id.as_str())
                    .and_then(|&i| room.part(i))
                {
                    for &s in &part.sessions {
                        if let Some(BindState::Bound(w)) =
                            self.sessions.get(s).map(|e| e.spec.bind.state())
                        {
                            if w != self.index && w < 64 {
                                mask |= 1 << w;
                            }
                        }
                    }
                }
                mask
            }
        };
        self.respond(io, conn, &f.head, 200, &own);
        self.stats.messages += 1;
        self.stats.chunks += 1;
        if let Some(r) = self.rooms.get_mut(&spec.room) {
            r.counters.messages += 1;
        }
        let range = f.head.byte_range();
        let total = range.and_then(|r| r.total);
        let mid = f
            .head
            .message_id()
            .map(Bytes::copy_from_slice)
            .unwrap_or_default();
        self.seq = (self.seq + 1) % super::fanout::SEQ_WRAP;
        let seq = self.seq;
        let key = flight_key(self.index, seq);
        let header = self.chunk_header(&mid, out_range(1, len, total, flag));
        let private = matches!(target, Target::Participant(_));
        let stem = new_stem(&mut self.rng, self.index, seq, &body);
        let first = FirstInfo {
            target,
            sender: spec.participant.clone(),
            payload_type: facts.payload_type.clone(),
            size: total.unwrap_or(len),
        };
        let msg = Arc::new(ChunkMsg::new(
            &mut self.arena,
            key,
            spec.room,
            Some(first),
            header,
            body,
            flag,
            stem,
            io.now(),
            self.cfg.copy_body_below,
        ));
        self.distribute(io, Some(conn), &msg, Some(slot), workers);
        let wants_report = f.head.success_report() == SuccessReport::Yes;
        // §6.2: REPORTs about a private message carry its CPIM From and To.
        let wrapper = (wants_report && private).then(|| {
            Bytes::from(format!(
                "From: <{}>\r\nTo: <{}>\r\n\r\n\r\n",
                String::from_utf8_lossy(&facts.from_raw),
                String::from_utf8_lossy(&facts.to_raw)
            ))
        });
        match flag {
            Continuation::More => {
                let deadline = io.now() + policy.chunk_timeout;
                if let Some(b) = self.sessions.bound_mut(slot) {
                    b.flights.push(Flight {
                        key,
                        mid: Ident::new(&mid).unwrap_or_else(|| Ident::random(&mut self.rng)),
                        received: len,
                        next: 1 + len,
                        total,
                        deadline,
                        workers,
                        success: wants_report.then_some(wrapper),
                    });
                }
                self.flying.push(slot);
                self.next_sweep = self.next_sweep.min(deadline);
            }
            Continuation::Complete if wants_report => {
                self.success_report(io, conn, &f.head, &own, &mid, len, wrapper);
            }
            _ => {}
        }
    }

    fn finish_next<B: Backend>(
        &mut self,
        io: &mut Io<B>,
        conn: ConnId,
        f: InFrame,
        mid: Ident,
        flag: Continuation,
    ) {
        let slot = f.slot;
        let Some(e) = self.sessions.get(slot) else {
            return;
        };
        let spec = e.spec.clone();
        let own = spec.local_uri_raw().clone();
        let Some(timeout) = self
            .rooms
            .get(&spec.room)
            .map(|r| r.spec.policy.chunk_timeout)
        else {
            return;
        };
        let Some(b) = self.sessions.bound_mut(slot) else {
            return;
        };
        let Some(i) = b.flights.iter().position(|x| x.mid == mid) else {
            return self.respond(io, conn, &f.head, 413, &own);
        };
        let start = f.head.byte_range().map_or(1, |r| r.start);
        let now = io.now();
        let fl = &mut b.flights[i];
        fl.received += f.len;
        fl.next = fl.next.max(start.saturating_add(f.len));
        fl.deadline = now + timeout;
        let (key, workers, total) = (
            fl.key,
            fl.workers,
            fl.total.or(f.head.byte_range().and_then(|r| r.total)),
        );
        let received = fl.received;
        let done = flag != Continuation::More;
        let flight = if done {
            Some(b.flights.swap_remove(i))
        } else {
            None
        };
        self.respond(io, conn, &f.head, 200, &own);
        self.stats.chunks += 1;
        let body = self.compact(f.pieces, f.len);
        let header = self.chunk_header(mid.as_bytes(), out_range(start, f.len, total, flag));
        let seq = key & ((1 << 40) - 1);
        let stem = new_stem(&mut self.rng, self.index, seq, &body);
        let msg = Arc::new(ChunkMsg::new(
            &mut self.arena,
            key,
            spec.room,
            None,
            header,
            body,
            flag,
            stem,
            now,
            self.cfg.copy_body_below,
        ));
        self.distribute(io, Some(conn), &msg, Some(slot), workers);
        if let Some(fl) = flight {
            if flag == Continuation::Complete {
                if let Some(wrapper) = fl.success {
                    let mid = Bytes::copy_from_slice(mid.as_bytes());
                    self.success_report(io, conn, &f.head, &own, &mid, received, wrapper);
                }
            }
        }
    }

    /// RFC 4975 §7.1.3: a success REPORT covering the `n` bytes received, end to end back
    /// along the SEND's From-Path.
    #[allow(clippy::too_many_arguments)]
    fn success_report<B: Backend>(
        &mut self,
        io: &mut Io<B>,
        conn: ConnId,
        head: &FrameHead,
        own: &[u8],
        mid: &[u8],
        n: u64,
        wrapper: Option<Bytes>,
    ) {
        let tid = Ident::random(&mut self.rng);
        let from = head.from_path_raw();
        let extra = wrapper.as_ref().map_or(0, |w| w.len());
        let b = self
            .arena
            .room_for(256 + from.len() + own.len() + mid.len() + extra);
        let w = RequestWriter::new(b, tid, "REPORT", &[from], &[own])
            .message_id(mid)
            .byte_range(ByteRange {
                start: 1,
                end: Some(n),
                total: Some(n),
            })
            .status(0, 200, Some("OK"));
        match wrapper {
            Some(body) => {
                w.content_type(b"message/cpim")
                    .body(&body, Continuation::Complete);
            }
            None => {
                w.end(Continuation::Complete);
            }
        }
        let out = self.arena.take();
        io.send(conn, out);
    }

    /// A response on a switch connection: to our binding SEND, or an error from a recipient.
    pub(crate) fn on_response<B: Backend>(
        &mut self,
        io: &mut Io<B>,
        conn: ConnId,
        head: &FrameHead,
    ) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let code = head.status_code().unwrap_or(400);
        let tid = head.transaction_id();
        let binding = self
            .bindings
            .get(&conn)
            .filter(|(_, t)| t.as_bytes() == tid)
            .map(|(s, _)| *s);
        if let Some(slot) = binding {
            self.bindings.remove(&conn);
            if code != 200 {
                self.unbind(io, slot, CloseReason::BindRefused(code));
                if self.conns.get(&conn).is_none_or(|c| c.sessions.is_empty()) {
                    io.close_after_flush(conn);
                }
            }
            return;
        }
        if code == 200 {
            return;
        }
        self.stats.recipient_errors += 1;
        // Any error (413 most of all) stops the rest of that message to this recipient.
        if let Some((key, rslot)) = parse_delivery_tid(tid) {
            // A transaction id of its own names the recipient; a shared one is only used on
            // a connection with a single session.
            let rslot = match (rslot, c.sessions.as_slice()) {
                (Some(s), _) => Some(s),
                (None, [only]) => Some(*only),
                _ => None,
            };
            if let Some(rslot) = rslot.filter(|s| c.sessions.contains(s)) {
                if let Some(d) = self.deliveries.get_mut(&key) {
                    d.recipients.retain(|&(s, _)| s != rslot);
                }
            }
        }
    }

    fn nickname<B: Backend>(
        &mut self,
        io: &mut Io<B>,
        conn: ConnId,
        slot: u32,
        head: &FrameHead,
        own: &Bytes,
    ) {
        let Some(e) = self.sessions.get(slot) else {
            return;
        };
        let spec = e.spec.clone();
        let allowed = self
            .rooms
            .get(&spec.room)
            .is_some_and(|r| r.spec.policy.nicknames);
        if !allowed || self.sink.is_none() {
            return self.respond(io, conn, head, 403, own);
        }
        let nick = match head.use_nickname() {
            Some(Ok(n)) => n.into_owned(),
            _ => return self.respond(io, conn, head, 424, own),
        };
        let Some(tid) = Ident::new(head.transaction_id()) else {
            return;
        };
        let gen = self.sessions.gen(slot);
        let max = self.cfg.max_pending_nicknames;
        let Some(b) = self.sessions.bound_mut(slot) else {
            return;
        };
        if b.pending_nicks >= max || self.nicks.contains_key(&(slot, tid)) {
            return self.respond(io, conn, head, 403, own);
        }
        b.pending_nicks += 1;
        self.nicks.insert(
            (slot, tid),
            PendingNick {
                gen,
                conn,
                from: Bytes::copy_from_slice(head.from_path_raw()),
                own: own.clone(),
                deadline: io.now() + self.cfg.nickname_timeout,
            },
        );
        self.stats.nicknames += 1;
        self.emit(SwitchEvent::Nickname(NicknameRequest {
            worker: self.index,
            room: spec.room,
            session_id: spec.session_id().to_string(),
            participant: spec.participant.clone(),
            transaction_id: tid,
            nickname: nick,
            raw: head
                .raw_bytes(crate::wire::HeaderName::UseNickname)
                .unwrap_or_default(),
        }));
    }

    /// Writes the control plane's answer to a NICKNAME (To-Path: the full From-Path, RFC 4975
    /// §7.2).
    pub(super) fn nickname_verdict<B: Backend>(
        &mut self,
        io: &mut Io<B>,
        session_id: &str,
        tid: Ident,
        code: u16,
    ) {
        let Some(slot) = self.sessions.by_sid(session_id.as_bytes()) else {
            return;
        };
        let Some(p) = self.nicks.remove(&(slot, tid)) else {
            return;
        };
        if self.sessions.gen(slot) != p.gen {
            return;
        }
        if let Some(b) = self.sessions.bound_mut(slot) {
            b.pending_nicks = b.pending_nicks.saturating_sub(1);
            b.has_nickname |= code == 200;
        }
        if !io.is_open(p.conn) {
            return;
        }
        if code != 200 {
            *self.stats.refused.entry(code).or_default() += 1;
        }
        let b = self.arena.room_for(128 + p.from.len() + p.own.len());
        ResponseWriter::with_paths(
            b,
            tid,
            code,
            Some(super::reason(code)),
            &[&p.from],
            &[&p.own],
        )
        .end();
        let out = self.arena.take();
        io.send(p.conn, out);
    }
}

/// The Byte-Range of a chunk of `len` bytes at `start` as sent to recipients.
fn out_range(start: u64, len: u64, total: Option<u64>, flag: Continuation) -> ByteRange {
    let last = start.saturating_add(len).saturating_sub(1);
    ByteRange {
        start,
        end: (len <= INTERRUPTIBLE_ABOVE).then_some(last),
        total: total.or((flag == Continuation::Complete).then_some(last)),
    }
}
