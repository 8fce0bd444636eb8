//! Distribution of one chunk to the recipients of its message: on this worker straight into
//! the members' send queues, to other workers as one ring message per worker per chunk.
//!
//! A delivered frame is three shared pieces and no per-recipient bytes: the chunk's start line,
//! the member's pre-rendered To-Path and From-Path, and the chunk's header block + body +
//! end-line (rendered once per chunk; a large body stays a shared slice of the read buffer).
//! What costs on the kernel path is the bytes and pieces per frame that are not hot in cache
//! (measured: per-recipient start/end lines in an arena made the kernel's copy from user
//! memory the top cost at 10 000 members).
//!
//! The transaction id is fresh per chunk (64 random bits checked against the body, the origin
//! worker, the message's sequence number) and the same for every recipient connection. RFC
//! 4975 §7.1 forbids collisions with other transactions existing at the same time; responses
//! are matched per connection, so copies on different connections cannot collide. Sessions
//! that share a connection get per-recipient ids (the stem plus their slot), written from a
//! per-worker arena. Either way a recipient's error response names the message (and the
//! recipient) without any per-delivery state.

use std::sync::Arc;
use std::time::Instant;

use bytes::{BufMut, Bytes, BytesMut};

use super::api::{Participant, RoomId};
use super::roster::{Member, Rooms, Sessions, ACCEPTS_ANY, PRIVATE_OK, SHARED_CONN};
use super::SwitchCounters;
use crate::net::Backend;
use crate::wire::{Continuation, RandomSource};
use crate::worker::Io;

/// Length of a chunk's transaction-id stem: 11 random characters (64 bits), the origin worker
/// (1) and the message sequence number (6).
pub(super) const STEM_LEN: usize = 18;
const RANDOM_LEN: usize = 11;
/// Recipient slot characters after the stem.
const SLOT_LEN: usize = 4;
/// Length of a delivery's transaction id.
pub(super) const TID_LEN: usize = STEM_LEN + SLOT_LEN;
/// Message sequence numbers wrap here (6 base-62 digits).
pub(super) const SEQ_WRAP: u64 = 62u64.pow(6);
/// Arena blocks: small, because a queued frame pins its block until it is written (a stalled
/// member's queue would otherwise hold many large blocks).
const ARENA_BLOCK: usize = 16 * 1024;

const B62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn encode62(mut v: u64, out: &mut [u8]) {
    for c in out.iter_mut().rev() {
        *c = B62[(v % 62) as usize];
        v /= 62;
    }
}

fn decode62(s: &[u8]) -> Option<u64> {
    let mut v: u64 = 0;
    for &c in s {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'A'..=b'Z' => c - b'A' + 10,
            b'a'..=b'z' => c - b'a' + 36,
            _ => return None,
        };
        v = v.checked_mul(62)?.checked_add(u64::from(d))?;
    }
    Some(v)
}

/// The key of a message in flight: origin worker and sequence number.
pub(super) fn flight_key(origin: usize, seq: u64) -> u64 {
    ((origin as u64) << 40) | (seq % SEQ_WRAP)
}

/// What a recipient's response names: the flight key, and the recipient's slot when the
/// transaction id was its own (a connection shared by several sessions).
pub(super) fn parse_delivery_tid(tid: &[u8]) -> Option<(u64, Option<u32>)> {
    if tid.len() != TID_LEN && tid.len() != STEM_LEN {
        return None;
    }
    let origin = decode62(&tid[RANDOM_LEN..RANDOM_LEN + 1])?;
    let seq = decode62(&tid[RANDOM_LEN + 1..STEM_LEN])?;
    let slot = match tid.get(STEM_LEN..) {
        Some([]) | None => None,
        Some(s) => Some(u32::try_from(decode62(s)?).ok()?),
    };
    Some((flight_key(origin as usize, seq), slot))
}

/// Whether `-------<needle>` occurs in the body, also across piece boundaries.
fn body_has_marker(pieces: &[Bytes], needle: &[u8]) -> bool {
    let mut full = [0u8; 7 + STEM_LEN];
    full[..7].copy_from_slice(b"-------");
    full[7..7 + needle.len()].copy_from_slice(needle);
    let full = &full[..7 + needle.len()];
    if let [one] = pieces {
        return memchr::memmem::find(one, full).is_some();
    }
    let finder = memchr::memmem::Finder::new(full);
    let keep = full.len() - 1;
    let mut tail: Vec<u8> = Vec::new();
    for p in pieces {
        if finder.find(p).is_some() {
            return true;
        }
        if !tail.is_empty() {
            let mut j = tail.clone();
            j.extend_from_slice(&p[..p.len().min(keep)]);
            if finder.find(&j).is_some() {
                return true;
            }
        }
        tail.extend_from_slice(&p[p.len().saturating_sub(keep)..]);
        let cut = tail.len().saturating_sub(keep);
        tail.drain(..cut);
    }
    false
}

/// A fresh stem for a chunk of message `key` whose marker does not occur in `body`.
pub(super) fn new_stem(
    rng: &mut impl RandomSource,
    origin: usize,
    seq: u64,
    body: &[Bytes],
) -> [u8; STEM_LEN] {
    let mut stem = [0u8; STEM_LEN];
    encode62(origin as u64, &mut stem[RANDOM_LEN..RANDOM_LEN + 1]);
    encode62(seq % SEQ_WRAP, &mut stem[RANDOM_LEN + 1..]);
    // Bodies rarely hold seven dashes at all: then any stem will do.
    static DASHES: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"-------"));
    let dashes = match body {
        [] => false,
        [one] => DASHES.find(one).is_some(),
        _ => body_has_marker(body, b""),
    };
    for _ in 0..64 {
        encode62(rng.next_u64(), &mut stem[..RANDOM_LEN]);
        if !dashes || !body_has_marker(body, &stem[..RANDOM_LEN]) {
            break;
        }
    }
    stem
}

/// Who a message goes to.
#[derive(Debug)]
pub(super) enum Target {
    /// Everybody in the room but the sender.
    Room,
    /// One participant's sessions (a private message).
    Participant(Arc<Participant>),
}

/// What only the first chunk carries: the recipients are chosen with it.
pub(super) struct FirstInfo {
    pub target: Target,
    pub sender: Arc<Participant>,
    /// The payload's media type (from the CPIM part), for accept-wrapped-types.
    pub payload_type: Bytes,
    /// Message size (total, or the first chunk's length), for congested members.
    pub size: u64,
}

/// One chunk as distributed, shared by every recipient and every worker.
pub struct ChunkMsg {
    /// `MSRP <stem> SEND CRLF`, shared by the recipients on connections of their own.
    pub(super) start: Bytes,
    /// What follows the paths for them: the header block and, for a small body, the body and
    /// the end-line; for a large one only the end-line (the body pieces go in between).
    pub(super) tail: Bytes,
    pub(super) key: u64,
    pub(super) room: RoomId,
    pub(super) first: Option<FirstInfo>,
    /// Message-ID, Byte-Range, Failure-Report, Content-Type and the blank line.
    pub(super) header: Bytes,
    pub(super) body: Vec<Bytes>,
    /// The body is copied into each recipient's frame (it is small).
    pub(super) inline: bool,
    pub(super) flag: Continuation,
    pub(super) stem: [u8; STEM_LEN],
    /// When the chunk completed at the sender's worker (latency accounting in benches).
    pub(super) at: Instant,
}

impl ChunkMsg {
    /// Whether it ends its message (`$` or `#`).
    pub(super) fn last(&self) -> bool {
        self.flag != Continuation::More
    }
}

/// Messages between switch workers.
pub enum SwitchPeer {
    /// A chunk for this worker's members.
    Chunk(Arc<ChunkMsg>),
}

/// Recipients of a chunked message on this worker, remembered from its first chunk.
pub(super) struct Delivery {
    pub room: RoomId,
    pub recipients: Vec<(u32, u32)>,
    /// Safety net in case the origin never ends it.
    pub expires: Instant,
}

/// The per-worker buffer the per-recipient pieces are cut from.
pub(super) struct Arena {
    buf: BytesMut,
}

impl Arena {
    pub fn new() -> Arena {
        Arena {
            buf: BytesMut::new(),
        }
    }

    /// A writable buffer with room for `n` bytes; split what you wrote off with
    /// [`take`](Self::take).
    pub fn room_for(&mut self, n: usize) -> &mut BytesMut {
        if self.buf.capacity() - self.buf.len() < n {
            self.buf = BytesMut::with_capacity(ARENA_BLOCK.max(n));
        }
        &mut self.buf
    }

    pub fn take(&mut self) -> Bytes {
        self.buf.split().freeze()
    }
}

impl ChunkMsg {
    /// Renders the shared pieces of a chunk. Small bodies (up to `copy_below`) are copied
    /// once, next to the header, so that a frame is three pieces.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        arena: &mut Arena,
        key: u64,
        room: RoomId,
        first: Option<FirstInfo>,
        header: Bytes,
        body: Vec<Bytes>,
        flag: Continuation,
        stem: [u8; STEM_LEN],
        at: Instant,
        copy_below: usize,
    ) -> ChunkMsg {
        let body_len: usize = body.iter().map(|b| b.len()).sum();
        let inline = body_len <= copy_below;
        let b = arena.room_for(STEM_LEN + 12);
        b.put_slice(b"MSRP ");
        b.put_slice(&stem);
        b.put_slice(b" SEND\r\n");
        let start = arena.take();
        let extra = if inline { header.len() + body_len } else { 0 };
        let b = arena.room_for(STEM_LEN + 12 + extra);
        if inline {
            b.put_slice(&header);
            for p in &body {
                b.put_slice(p);
            }
        }
        b.put_slice(b"\r\n-------");
        b.put_slice(&stem);
        b.put_u8(flag.as_byte());
        b.put_slice(b"\r\n");
        let tail = arena.take();
        ChunkMsg {
            start,
            tail,
            key,
            room,
            first,
            header,
            body,
            inline,
            flag,
            stem,
            at,
        }
    }
}

/// Queues one chunk frame to one recipient: three shared pieces, or (recipients sharing a
/// connection) a start line and end-line of its own around the shared header and body.
pub(super) fn write_chunk<B: Backend>(
    io: &mut Io<B>,
    arena: &mut Arena,
    m: &Member,
    msg: &ChunkMsg,
) {
    let prefix = m.prefix.as_bytes();
    if m.flags & SHARED_CONN == 0 {
        if msg.inline {
            io.send_parts(
                m.conn,
                [msg.start.clone(), prefix.clone(), msg.tail.clone()],
            );
        } else {
            io.send_parts(
                m.conn,
                [msg.start.clone(), prefix.clone(), msg.header.clone()],
            );
            for p in &msg.body {
                io.send(m.conn, p.clone());
            }
            io.send(m.conn, msg.tail.clone());
        }
        return;
    }
    let mut tid = [0u8; TID_LEN];
    tid[..STEM_LEN].copy_from_slice(&msg.stem);
    encode62(u64::from(m.slot), &mut tid[STEM_LEN..]);
    let b = arena.room_for(2 * TID_LEN + 24);
    b.put_slice(b"MSRP ");
    b.put_slice(&tid);
    b.put_slice(b" SEND\r\n");
    let start = arena.take();
    let b = arena.room_for(TID_LEN + 12);
    b.put_slice(b"\r\n-------");
    b.put_slice(&tid);
    b.put_u8(msg.flag.as_byte());
    b.put_slice(b"\r\n");
    let end = arena.take();
    io.send_parts(m.conn, [start, prefix.clone(), msg.header.clone()]);
    for p in &msg.body {
        io.send(m.conn, p.clone());
    }
    io.send(m.conn, end);
}

/// Everything delivery needs from the switch, borrowed field by field.
pub(super) struct Fanout<'a> {
    pub rooms: &'a mut Rooms,
    pub sessions: &'a mut Sessions,
    pub deliveries: &'a mut super::hash::FastMap<u64, Delivery>,
    pub arena: &'a mut Arena,
    pub stats: &'a mut SwitchCounters,
}

impl Fanout<'_> {
    /// Delivers `msg` to this worker's recipients; `sender` is the sending session when it is
    /// bound here (it never gets its own message).
    pub fn deliver<B: Backend>(&mut self, io: &mut Io<B>, msg: &ChunkMsg, sender: Option<u32>) {
        let (d0, c0) = (self.stats.deliveries, self.stats.congestion_skips);
        match &msg.first {
            Some(first) => self.deliver_first(io, msg, first, sender),
            None => self.deliver_next(io, msg),
        }
        // Per-room counters from the worker's totals (one map lookup per chunk, not per
        // recipient).
        let d = self.stats.deliveries - d0;
        let c = self.stats.congestion_skips - c0;
        if d + c > 0 {
            if let Some(r) = self.rooms.get_mut(&msg.room) {
                r.counters.deliveries += d;
                r.counters.congestion_skips += c;
            }
        }
    }

    fn deliver_first<B: Backend>(
        &mut self,
        io: &mut Io<B>,
        msg: &ChunkMsg,
        first: &FirstInfo,
        sender: Option<u32>,
    ) {
        let Some(room) = self.rooms.get(&msg.room) else {
            return;
        };
        let policy = &room.spec.policy;
        let hw = policy.congestion_high_water;
        let small = first.size <= policy.congested_max_message_size;
        let keep = !msg.last();
        let mut recipients = Vec::new();
        let sender_part = room.part_by_id.get(first.sender.id.as_str()).copied();
        let skip_part = if policy.copy_to_sender_sessions {
            None
        } else {
            sender_part
        };
        let mut write =
            |io: &mut Io<B>, m: &Member, sessions: &mut Sessions, stats: &mut SwitchCounters| {
                if m.flags & ACCEPTS_ANY == 0 {
                    let ok = sessions
                        .get(m.slot)
                        .is_some_and(|e| e.spec.accept_wrapped_types.accepts(&first.payload_type));
                    if !ok {
                        stats.type_skips += 1;
                        return;
                    }
                }
                let q = io.queued(m.conn);
                if q > hw && (!small || q > 2 * hw) {
                    stats.congestion_skips += 1;
                    if let Some(b) = sessions.bound_mut(m.slot) {
                        b.skipped = b.skipped.saturating_add(1);
                        if !b.notice_due {
                            b.notice_due = true;
                            io.notify_drained(m.conn);
                        }
                    }
                    return;
                }
                write_chunk(io, self.arena, m, msg);
                stats.deliveries += 1;
                if keep {
                    recipients.push((m.slot, m.gen));
                }
            };
        match &first.target {
            Target::Room => {
                for m in &room.members {
                    if Some(m.slot) == sender || (skip_part.is_some() && Some(m.part) == skip_part)
                    {
                        continue;
                    }
                    write(io, m, self.sessions, self.stats);
                }
            }
            Target::Participant(p) => {
                let Some(pi) = room.part_by_id.get(p.id.as_str()).copied() else {
                    return;
                };
                let Some(part) = room.part(pi) else { return };
                for &slot in &part.sessions {
                    if Some(slot) == sender {
                        continue;
                    }
                    let Some(pos) = self
                        .sessions
                        .get(slot)
                        .and_then(|e| e.bound.as_ref())
                        .map(|b| b.pos)
                    else {
                        continue;
                    };
                    let Some(m) = room.members.get(pos as usize) else {
                        continue;
                    };
                    if m.flags & PRIVATE_OK == 0 {
                        continue;
                    }
                    write(io, m, self.sessions, self.stats);
                }
            }
        }
        if keep && !recipients.is_empty() {
            self.deliveries.insert(
                msg.key,
                Delivery {
                    room: msg.room,
                    recipients,
                    expires: msg.at + policy.chunk_timeout * 2,
                },
            );
        }
    }

    fn deliver_next<B: Backend>(&mut self, io: &mut Io<B>, msg: &ChunkMsg) {
        let Some(d) = self.deliveries.get_mut(&msg.key) else {
            return;
        };
        let room_id = d.room;
        let list = std::mem::take(&mut d.recipients);
        if let Some(room) = self.rooms.get(&room_id) {
            d.expires = msg.at + room.spec.policy.chunk_timeout * 2;
        }
        self.write_list(io, room_id, &list, msg);
        if msg.last() {
            self.deliveries.remove(&msg.key);
        } else if let Some(d) = self.deliveries.get_mut(&msg.key) {
            d.recipients = list;
        }
    }

    fn write_list<B: Backend>(
        &mut self,
        io: &mut Io<B>,
        room: RoomId,
        list: &[(u32, u32)],
        msg: &ChunkMsg,
    ) {
        let Some(room) = self.rooms.get(&room) else {
            return;
        };
        for &(slot, gen) in list {
            let Some(pos) = self
                .sessions
                .get_gen(slot, gen)
                .and_then(|e| e.bound.as_ref())
                .map(|b| b.pos)
            else {
                continue;
            };
            let Some(m) = room.members.get(pos as usize) else {
                continue;
            };
            write_chunk(io, self.arena, m, msg);
            self.stats.deliveries += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tid_round_trip() {
        let mut n = 7u64;
        let mut rng = move || {
            n = n.wrapping_mul(6364136223846793005).wrapping_add(1);
            n
        };
        let stem = new_stem(&mut rng, 3, 123_456_789, &[Bytes::from_static(b"hello")]);
        let mut tid = [0u8; TID_LEN];
        tid[..STEM_LEN].copy_from_slice(&stem);
        encode62(9876, &mut tid[STEM_LEN..]);
        assert!(crate::wire::is_ident(&tid));
        assert_eq!(
            parse_delivery_tid(&tid),
            Some((flight_key(3, 123_456_789), Some(9876)))
        );
        assert_eq!(
            parse_delivery_tid(&stem),
            Some((flight_key(3, 123_456_789), None))
        );
        assert_eq!(parse_delivery_tid(b"short"), None);
    }

    #[test]
    fn marker_found_across_pieces() {
        let needle = b"abcdefghijk";
        let body = [
            Bytes::from_static(b"xx----"),
            Bytes::from_static(b"---abcde"),
            Bytes::from_static(b"fghijk+yy"),
        ];
        assert!(body_has_marker(&body, needle));
        assert!(!body_has_marker(&body[..2], needle));
        assert!(body_has_marker(
            &[Bytes::from_static(b"-------abcdefghijk")],
            needle
        ));
        assert!(!body_has_marker(
            &[Bytes::from_static(b"------abcdefghijk")],
            needle
        ));
    }

    #[test]
    fn stem_avoids_the_body() {
        // A "random" source that first returns a value whose marker is in the body.
        let mut first = [0u8; RANDOM_LEN];
        encode62(42, &mut first);
        let mut body = b"-------".to_vec();
        body.extend_from_slice(&first);
        let mut seq = [42u64, 43].into_iter();
        let mut rng = move || seq.next().unwrap_or(44);
        let stem = new_stem(&mut rng, 0, 1, &[Bytes::from(body)]);
        let mut second = [0u8; RANDOM_LEN];
        encode62(43, &mut second);
        assert_eq!(&stem[..RANDOM_LEN], &second);
    }
}
