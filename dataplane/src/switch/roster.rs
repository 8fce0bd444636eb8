//! One worker's view of the rooms: every room's full roster (participants, their URIs and
//! sessions, wherever those are bound) so that a private message's CPIM `To` resolves locally,
//! and the dense member list of the sessions bound on this worker, which fan-out walks.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use super::api::{Participant, RateLimit, RoomId, RoomPresence, RoomSpec, SessionSpec};
use super::hash::FastMap;
use super::uri::cpim_uri_key;
use crate::net::ConnId;
use crate::wire::{Ident, PathPrefix};

/// A participant looked up by its id without keeping a second copy of the string.
#[derive(Clone)]
pub(super) struct PartKey(pub Arc<Participant>);

impl PartialEq for PartKey {
    fn eq(&self, o: &Self) -> bool {
        self.0.id == o.0.id
    }
}
impl Eq for PartKey {}
impl Hash for PartKey {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.0.id.as_str().hash(h)
    }
}
impl Borrow<str> for PartKey {
    fn borrow(&self) -> &str {
        &self.0.id
    }
}

/// A session looked up by its session-id, keyed without a copy of the id.
#[derive(Clone)]
pub(super) struct SidKey(pub Arc<SessionSpec>);

impl PartialEq for SidKey {
    fn eq(&self, o: &Self) -> bool {
        self.0.session_id_bytes() == o.0.session_id_bytes()
    }
}
impl Eq for SidKey {}
impl Hash for SidKey {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.0.session_id_bytes().hash(h)
    }
}
impl Borrow<[u8]> for SidKey {
    fn borrow(&self) -> &[u8] {
        self.0.session_id_bytes()
    }
}

/// One of a participant's URI keys, without a copy of it.
#[derive(Clone)]
pub(super) struct UriRef(pub Arc<Participant>, pub u32);

impl UriRef {
    fn key(&self) -> &[u8] {
        self.0
            .keys
            .get(self.1 as usize)
            .map_or(&[][..], |k| k.as_ref())
    }
}
impl PartialEq for UriRef {
    fn eq(&self, o: &Self) -> bool {
        self.key() == o.key()
    }
}
impl Eq for UriRef {}
impl Hash for UriRef {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.key().hash(h)
    }
}
impl Borrow<[u8]> for UriRef {
    fn borrow(&self) -> &[u8] {
        self.key()
    }
}

/// A participant of a room, on this worker.
pub(super) struct Part {
    pub info: Arc<Participant>,
    /// Its sessions (slots in [`Sessions`]), bound anywhere or not yet.
    pub sessions: Vec<u32>,
}

/// A session bound on this worker, as fan-out sees it: everything needed to write to it.
pub(super) struct Member {
    pub slot: u32,
    pub gen: u32,
    pub conn: ConnId,
    pub part: u32,
    pub flags: u8,
    /// Its To-Path and From-Path lines.
    pub prefix: PathPrefix,
}

/// [`Member::flags`]: it accepts every wrapped type.
pub(super) const ACCEPTS_ANY: u8 = 1;
/// [`Member::flags`]: private messages may go to it (chat-aware and `private-messages`).
pub(super) const PRIVATE_OK: u8 = 2;
/// [`Member::flags`]: its connection carries other sessions too, so its frames need
/// transaction ids of their own (see `fanout`).
pub(super) const SHARED_CONN: u8 = 4;

/// One room on this worker.
pub(super) struct Room {
    pub spec: Arc<RoomSpec>,
    pub uri_key: Bytes,
    pub parts: Vec<Option<Part>>,
    free_parts: Vec<u32>,
    pub part_by_id: FastMap<PartKey, u32>,
    pub part_by_uri: FastMap<UriRef, u32>,
    /// Sessions bound on this worker.
    pub members: Vec<Member>,
    /// Bound sessions per worker, shared by all workers (taken from the first spec, which
    /// the control plane broadcast as one `Arc`).
    pub presence: RoomPresence,
    /// Counters of this room on this worker.
    pub counters: super::api::RoomCounters,
}

impl Room {
    pub fn new(spec: Arc<RoomSpec>) -> Room {
        Room {
            uri_key: Bytes::from(cpim_uri_key(spec.uri.as_bytes())),
            parts: Vec::new(),
            free_parts: Vec::new(),
            part_by_id: FastMap::default(),
            part_by_uri: FastMap::default(),
            members: Vec::new(),
            presence: spec.presence.clone(),
            counters: Default::default(),
            spec,
        }
    }

    pub fn set_spec(&mut self, spec: Arc<RoomSpec>) {
        self.uri_key = Bytes::from(cpim_uri_key(spec.uri.as_bytes()));
        self.spec = spec;
    }

    /// The participant's index, created (with its URIs) if new.
    pub fn part_for(&mut self, info: &Arc<Participant>) -> u32 {
        if let Some(&i) = self.part_by_id.get(info.id.as_str()) {
            return i;
        }
        let part = Part {
            info: info.clone(),
            sessions: Vec::new(),
        };
        let i = match self.free_parts.pop() {
            Some(i) => {
                self.parts[i as usize] = Some(part);
                i
            }
            None => {
                self.parts.push(Some(part));
                (self.parts.len() - 1) as u32
            }
        };
        self.part_by_id.insert(PartKey(info.clone()), i);
        for k in 0..info.keys.len().min(u32::MAX as usize) {
            self.part_by_uri
                .entry(UriRef(info.clone(), k as u32))
                .or_insert(i);
        }
        i
    }

    pub fn part(&self, i: u32) -> Option<&Part> {
        self.parts.get(i as usize).and_then(Option::as_ref)
    }

    pub fn part_mut(&mut self, i: u32) -> Option<&mut Part> {
        self.parts.get_mut(i as usize).and_then(Option::as_mut)
    }

    /// Drops `slot` from its participant; the participant goes when it has no session left.
    pub fn forget_session(&mut self, part: u32, slot: u32) {
        let Some(p) = self.part_mut(part) else { return };
        p.sessions.retain(|&s| s != slot);
        if !p.sessions.is_empty() {
            return;
        }
        let Some(p) = self.parts.get_mut(part as usize).and_then(Option::take) else {
            return;
        };
        self.part_by_id.remove(p.info.id.as_str());
        for k in &p.info.keys {
            if self.part_by_uri.get(k.as_ref()) == Some(&part) {
                self.part_by_uri.remove(k.as_ref());
            }
        }
        self.free_parts.push(part);
    }
}

/// Per-sender message rate limiter. Times are milliseconds since the worker's epoch (8 bytes
/// per member instead of 24).
#[derive(Debug, Default)]
pub(super) struct TokenBucket {
    tokens: f32,
    /// Last refill in ms since the epoch, plus one (0: never).
    last: u32,
}

impl TokenBucket {
    /// Takes one token; `false` when the sender is over its rate.
    pub fn take(&mut self, now: Instant, epoch: Instant, rate: RateLimit) -> bool {
        if rate.per_second <= 0.0 {
            return true;
        }
        let cap = rate.burst.max(1) as f32;
        let ms = now
            .saturating_duration_since(epoch)
            .as_millis()
            .min(u128::from(u32::MAX - 1)) as u32
            + 1;
        self.tokens = if self.last == 0 {
            cap
        } else {
            let secs = ms.saturating_sub(self.last) as f32 / 1000.0;
            (self.tokens + secs * rate.per_second as f32).min(cap)
        };
        self.last = ms;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// A chunked message a bound session is sending (its first chunk went out, its last did not).
pub(super) struct Flight {
    pub key: u64,
    pub mid: Ident,
    /// Body bytes received so far.
    pub received: u64,
    /// Next byte position (1-based) after the chunks seen so far.
    pub next: u64,
    pub total: Option<u64>,
    pub deadline: Instant,
    /// Other workers that got its first chunk.
    pub workers: u64,
    /// Success-Report: yes, with the CPIM wrapper of a private message's REPORTs.
    pub success: Option<Option<Bytes>>,
}

/// State of a session bound on this worker.
pub(super) struct Bound {
    pub conn: ConnId,
    /// Its index in the room's member list.
    pub pos: u32,
    pub bucket: TokenBucket,
    pub flights: Vec<Flight>,
    /// Messages skipped for congestion since the last notice.
    pub skipped: u32,
    pub notice_due: bool,
    pub pending_nicks: u8,
    /// A NICKNAME of this session was accepted.
    pub has_nickname: bool,
}

/// A session installed on this worker.
pub(super) struct SessionEntry {
    pub spec: Arc<SessionSpec>,
    pub part: u32,
    pub bound: Option<Box<Bound>>,
}

struct Slot {
    gen: u32,
    entry: Option<SessionEntry>,
}

/// All sessions installed on this worker, by slot and by session-id.
#[derive(Default)]
pub(super) struct Sessions {
    slots: Vec<Slot>,
    free: Vec<u32>,
    by_sid: FastMap<SidKey, u32>,
}

impl Sessions {
    pub fn insert(&mut self, entry: SessionEntry) -> Option<u32> {
        if self.by_sid.contains_key(entry.spec.session_id_bytes()) {
            return None;
        }
        let sid = SidKey(entry.spec.clone());
        let slot = match self.free.pop() {
            Some(s) => {
                let sl = &mut self.slots[s as usize];
                sl.entry = Some(entry);
                s
            }
            None => {
                self.slots.push(Slot {
                    gen: 0,
                    entry: Some(entry),
                });
                (self.slots.len() - 1) as u32
            }
        };
        self.by_sid.insert(sid, slot);
        Some(slot)
    }

    pub fn remove(&mut self, slot: u32) -> Option<SessionEntry> {
        let sl = self.slots.get_mut(slot as usize)?;
        let e = sl.entry.take()?;
        sl.gen = sl.gen.wrapping_add(1);
        self.by_sid.remove(e.spec.session_id_bytes());
        self.free.push(slot);
        Some(e)
    }

    pub fn by_sid(&self, sid: &[u8]) -> Option<u32> {
        self.by_sid.get(sid).copied()
    }

    pub fn get(&self, slot: u32) -> Option<&SessionEntry> {
        self.slots.get(slot as usize)?.entry.as_ref()
    }

    pub fn get_mut(&mut self, slot: u32) -> Option<&mut SessionEntry> {
        self.slots.get_mut(slot as usize)?.entry.as_mut()
    }

    /// The entry if `gen` still names it.
    pub fn get_gen(&self, slot: u32, gen: u32) -> Option<&SessionEntry> {
        let sl = self.slots.get(slot as usize)?;
        (sl.gen == gen).then_some(())?;
        sl.entry.as_ref()
    }

    pub fn gen(&self, slot: u32) -> u32 {
        self.slots.get(slot as usize).map_or(0, |s| s.gen)
    }

    pub fn bound_mut(&mut self, slot: u32) -> Option<&mut Bound> {
        self.get_mut(slot)?.bound.as_deref_mut()
    }

    pub fn len(&self) -> usize {
        self.by_sid.len()
    }

    /// Slots of every installed session (for room deletion and sweeps).
    pub fn slots(&self) -> impl Iterator<Item = u32> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.entry.is_some())
            .map(|(i, _)| i as u32)
    }
}

/// Rooms by id.
pub(super) type Rooms = FastMap<RoomId, Room>;
