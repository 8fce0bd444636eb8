//! What the control plane tells the chat switch and what it hears back: rooms with their policy,
//! sessions (one per participant endpoint, installed on every worker), nickname verdicts, and
//! the events the workers report (session bound or closed, NICKNAME requests).
//!
//! Specs travel as `Arc`s: the control plane builds one [`SessionSpec`] and pushes clones of the
//! same `Arc` to every worker, so the spec's strings exist once per process and the
//! [`BindSlot`] inside it is the one atomic all workers race on when the participant's
//! connection shows up (RFC 4975 §5.4 binding).

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::relay::RelayControl;
use crate::rings::RingTx;
use crate::wire::{Ident, MsrpUri, PathIter, WireError};

use super::uri::cpim_uri_key;

/// A room's identity, chosen by the control plane.
pub type RoomId = u64;

/// Most workers a room's presence counters track (a `u64` worker mask elsewhere).
pub const MAX_WORKERS: usize = 64;

/// Per-sender message rate: a token bucket of `burst` messages refilled at `per_second`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    /// Messages per second; `0.0` disables the limit.
    pub per_second: f64,
    /// Bucket depth (messages that may arrive back to back).
    pub burst: u32,
}

/// One media-type pattern of an `accept-wrapped-types` list (RFC 4975 §8.6).
#[derive(Clone, Debug, PartialEq, Eq)]
enum TypePattern {
    /// `type/*` (lower case)
    AnySubtype(Box<str>),
    /// `type/subtype` (lower case; parameters are ignored when matching)
    Exact(Box<str>, Box<str>),
}

/// A parsed `accept-wrapped-types` (or room) list: `*`, `type/*` and `type/subtype` entries.
/// Parameters on entries and on the payload's type are ignored when matching.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AcceptTypes {
    /// `*` was listed (kept apart: the common case allocates nothing).
    any: bool,
    entries: Vec<TypePattern>,
}

impl AcceptTypes {
    /// Everything (`*`).
    pub fn any() -> AcceptTypes {
        AcceptTypes {
            any: true,
            entries: Vec::new(),
        }
    }

    /// Parses a space-separated format list (`text/plain text/html *`). Malformed entries are
    /// skipped; an empty list accepts nothing.
    pub fn parse(list: &str) -> AcceptTypes {
        let mut entries = Vec::new();
        let mut any = false;
        for e in list.split_ascii_whitespace() {
            let e = e.split(';').next().unwrap_or_default();
            if e == "*" {
                any = true;
                continue;
            }
            let Some((t, s)) = e.split_once('/') else {
                continue;
            };
            if t.is_empty() || s.is_empty() {
                continue;
            }
            let t = t.to_ascii_lowercase().into_boxed_str();
            entries.push(if s == "*" {
                TypePattern::AnySubtype(t)
            } else {
                TypePattern::Exact(t, s.to_ascii_lowercase().into_boxed_str())
            });
        }
        AcceptTypes { any, entries }
    }

    /// Whether the list accepts everything.
    pub fn accepts_any(&self) -> bool {
        self.any
    }

    /// Whether a payload of media type `ty` (e.g. `text/plain; charset=utf-8`) is acceptable.
    pub fn accepts(&self, ty: &[u8]) -> bool {
        if self.any {
            return true;
        }
        let (t, s) = split_media_type(ty);
        if t.is_empty() || s.is_empty() {
            // Not `type/subtype`: only `*` takes it.
            return false;
        }
        self.entries.iter().any(|e| match e {
            TypePattern::AnySubtype(et) => et.as_bytes().eq_ignore_ascii_case(t),
            TypePattern::Exact(et, es) => {
                et.as_bytes().eq_ignore_ascii_case(t) && es.as_bytes().eq_ignore_ascii_case(s)
            }
        })
    }
}

/// `type/subtype` of a media type value, parameters and spaces removed.
pub(crate) fn split_media_type(ty: &[u8]) -> (&[u8], &[u8]) {
    let ty = ty.split(|&c| c == b';').next().unwrap_or_default();
    let trim = |s: &'_ [u8]| -> usize { s.iter().take_while(|c| c.is_ascii_whitespace()).count() };
    let ty = &ty[trim(ty)..];
    let end = ty.len()
        - ty.iter()
            .rev()
            .take_while(|c| c.is_ascii_whitespace())
            .count();
    let ty = &ty[..end];
    match ty.iter().position(|&c| c == b'/') {
        Some(i) => (&ty[..i], &ty[i + 1..]),
        None => (ty, &[][..]),
    }
}

/// A room's policy (RFC 7701 §4.1 knobs the switch enforces, plus the anti-DoS limits of
/// §11). Changed with [`SwitchControl::UpdateRoom`].
#[derive(Clone, Debug)]
pub struct RoomPolicy {
    /// Private messages allowed (otherwise 428).
    pub private_messages: bool,
    /// NICKNAME allowed (otherwise 403).
    pub nicknames: bool,
    /// A session must hold a nickname (a NICKNAME answered 200) before it may send (403
    /// otherwise).
    pub nicknames_required: bool,
    /// Sessions must run over TLS (a plain connection's binding request gets 403).
    pub require_tls: bool,
    /// Largest message (all chunks together); larger ones get 413.
    pub max_message_size: u64,
    /// How long a chunked message may wait for its next chunk before it is abandoned for every
    /// recipient (RFC 7701 §6.1 chunk-reception timer).
    pub chunk_timeout: Duration,
    /// Per-sender-session message rate (403 beyond it).
    pub rate: RateLimit,
    /// Chunked messages one session may have in progress at once (413 beyond it).
    pub max_inflight: u32,
    /// Bytes queued towards a recipient's connection above which its sessions are congested
    /// (RFC 7701 §6.4): new messages skip them and they get a notice once the queue drains.
    pub congestion_high_water: usize,
    /// While congested, messages up to this size still go (0: none), until the queue reaches
    /// twice the high-water mark.
    pub congested_max_message_size: u64,
    /// Wrapped (payload) types the room accepts (advertised as `a=accept-wrapped-types`);
    /// others get 415.
    pub accept_wrapped_types: AcceptTypes,
    /// Regular messages are also copied to the sender's other sessions (simultaneous access);
    /// by default "everybody but the sender" (RFC 7701 §6.1) excludes all of them.
    pub copy_to_sender_sessions: bool,
    /// Text of the notice sent to a session whose messages were skipped for congestion.
    pub congestion_notice: String,
}

impl Default for RoomPolicy {
    fn default() -> Self {
        RoomPolicy {
            private_messages: true,
            nicknames: true,
            nicknames_required: false,
            require_tls: false,
            max_message_size: 1 << 20,
            // RFC 7701 §6.1: "on the order of a normal TCP timeout (i.e., around 540 seconds)".
            // State per abandoned message is bounded by `max_inflight`, so a long timer is
            // affordable, and a shorter one would abandon messages from slow mobile senders.
            chunk_timeout: Duration::from_secs(540),
            rate: RateLimit {
                per_second: 20.0,
                burst: 40,
            },
            max_inflight: 4,
            congestion_high_water: 256 * 1024,
            congested_max_message_size: 0,
            accept_wrapped_types: AcceptTypes::any(),
            copy_to_sender_sessions: false,
            congestion_notice: "Some messages of this chat room were not delivered to you \
                                because your connection could not keep up."
                .into(),
        }
    }
}

/// A room: its CPIM URI (the `To` of regular messages) and policy. Push the same `Arc` to every
/// worker: its presence counters are shared.
pub struct RoomSpec {
    /// Identity.
    pub id: RoomId,
    /// The room URI (e.g. `sip:chat@example.com`), the CPIM `To` of regular messages.
    pub uri: String,
    /// Policy.
    pub policy: RoomPolicy,
    /// Sessions of the room bound on each worker: where a message must go.
    pub(crate) presence: RoomPresence,
}

impl RoomSpec {
    /// A room spec.
    pub fn new(id: RoomId, uri: &str, policy: RoomPolicy) -> Arc<RoomSpec> {
        Arc::new(RoomSpec {
            id,
            uri: uri.to_string(),
            policy,
            presence: RoomPresence::default(),
        })
    }

    /// The same room with another policy, sharing the presence counters (for
    /// [`SwitchControl::UpdateRoom`]).
    pub fn with_policy(self: &Arc<Self>, policy: RoomPolicy) -> Arc<RoomSpec> {
        Arc::new(RoomSpec {
            id: self.id,
            uri: self.uri.clone(),
            policy,
            presence: self.presence.clone(),
        })
    }
}

impl fmt::Debug for RoomSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoomSpec")
            .field("id", &self.id)
            .field("uri", &self.uri)
            .field("policy", &self.policy)
            .finish()
    }
}

/// Bound sessions of one room per worker, written on bind/unbind only and read per message.
#[derive(Clone)]
pub(crate) struct RoomPresence(Arc<[AtomicU32; MAX_WORKERS]>);

impl Default for RoomPresence {
    fn default() -> Self {
        RoomPresence(Arc::new(std::array::from_fn(|_| AtomicU32::new(0))))
    }
}

impl RoomPresence {
    pub(crate) fn add(&self, worker: usize, delta: i32) {
        if let Some(c) = self.0.get(worker) {
            if delta >= 0 {
                c.fetch_add(delta as u32, Ordering::Relaxed);
            } else {
                c.fetch_sub(delta.unsigned_abs(), Ordering::Relaxed);
            }
        }
    }

    /// Workers other than `me` with bound sessions, as a bit mask.
    pub(crate) fn others(&self, me: usize, workers: usize) -> u64 {
        let mut mask = 0;
        for (w, c) in self.0.iter().enumerate().take(workers.min(MAX_WORKERS)) {
            if w != me && c.load(Ordering::Relaxed) > 0 {
                mask |= 1 << w;
            }
        }
        mask
    }
}

/// A participant: its identity and the URIs it is known by in the room (SIP AoR, tel, im, or
/// only its anonymous URI when it asked for privacy). The CPIM `From` of what it sends must be
/// one of them; private messages address it by any of them.
#[derive(Debug)]
pub struct Participant {
    /// Control-plane identity (unique in the room).
    pub id: String,
    /// Its URIs as registered.
    pub uris: Vec<String>,
    /// Comparison keys of `uris`.
    pub(crate) keys: Vec<Bytes>,
}

impl Participant {
    /// A participant with its URIs.
    pub fn new(id: &str, uris: &[&str]) -> Arc<Participant> {
        Arc::new(Participant {
            id: id.to_string(),
            uris: uris.iter().map(|u| u.to_string()).collect(),
            keys: uris
                .iter()
                .map(|u| Bytes::from(cpim_uri_key(u.as_bytes())))
                .collect(),
        })
    }
}

/// Chat-room capabilities the participant declared in `a=chatroom` (RFC 7701 §8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChatCaps {
    /// `a=chatroom` present: it understands private messages as such. Private messages are
    /// never sent to sessions without it.
    pub chat_aware: bool,
    /// The `private-messages` token.
    pub private_messages: bool,
    /// The `nickname` token.
    pub nicknames: bool,
}

impl Default for ChatCaps {
    fn default() -> Self {
        ChatCaps {
            chat_aware: true,
            private_messages: true,
            nicknames: true,
        }
    }
}

/// Who opens the MSRP connection (RFC 4975 §5.4, RFC 6135 `a=setup`, RFC 6714 CEMA).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Setup {
    /// The participant connects and binds with its first request.
    Passive,
    /// The switch connects and sends a bodiless binding SEND at once (boxed: rare, and every
    /// session carries a `Setup`).
    Active(Box<ActiveSetup>),
}

/// Where and how the switch connects for an active session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActiveSetup {
    /// The worker that opens the connection (the others only keep the roster).
    pub worker: usize,
    /// Where to connect (CEMA `c=`/`m=`, or the first `a=path` URI resolved).
    pub addr: SocketAddr,
    /// TLS with this server name (`msrps`), checked against the certificate.
    pub tls_server_name: Option<String>,
}

/// What binds a session to a connection, shared by all workers: the first worker that sees a
/// request for the session claims it with one compare-exchange.
#[derive(Debug, Default)]
pub struct BindSlot(AtomicU64);

const SLOT_FREE: u64 = 0;
const SLOT_CLOSED: u64 = u64::MAX;

/// The state of a [`BindSlot`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindState {
    /// Nobody bound it yet.
    Free,
    /// Bound on this worker.
    Bound(usize),
    /// Its connection is gone or it was removed: it cannot be bound again (RFC 4975 §5.4:
    /// recovery needs a new SDP exchange).
    Closed,
}

impl BindSlot {
    /// Claims the slot for `worker`: `Err` tells who holds it.
    pub fn claim(&self, worker: usize) -> Result<(), BindState> {
        match self.0.compare_exchange(
            SLOT_FREE,
            worker as u64 + 1,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => Ok(()),
            Err(v) => Err(Self::decode(v)),
        }
    }

    /// Current state.
    pub fn state(&self) -> BindState {
        Self::decode(self.0.load(Ordering::Acquire))
    }

    /// Marks the session dead.
    pub fn close(&self) {
        self.0.store(SLOT_CLOSED, Ordering::Release);
    }

    fn decode(v: u64) -> BindState {
        match v {
            SLOT_FREE => BindState::Free,
            SLOT_CLOSED => BindState::Closed,
            w => BindState::Bound(w as usize - 1),
        }
    }
}

/// One participant endpoint's MSRP session with the room, installed on every worker.
#[derive(Debug)]
pub struct SessionSpec {
    /// The room.
    pub room: RoomId,
    /// Our URI for it (the `a=path` we answered): To-Path of its requests, From-Path of ours;
    /// validated by [`SessionSpec::new`].
    local_uri: Bytes,
    /// The participant's path (To-Path of what we send), first hop first, as validated by
    /// [`SessionSpec::new`].
    peer_path: Bytes,
    /// Who it is.
    pub participant: Arc<Participant>,
    /// The payload types it takes inside Message/CPIM: its `a=accept-wrapped-types` plus its
    /// `a=accept-types` (RFC 4975 §8.6: those may be wrapped too), as the focus parsed them.
    pub accept_wrapped_types: AcceptTypes,
    /// Its `a=chatroom` capabilities.
    pub caps: ChatCaps,
    /// Who connects.
    pub setup: Setup,
    /// The binding shared by all workers.
    pub bind: BindSlot,
    /// Where the session-id sits in `local_uri`.
    sid: (u16, u16),
}

/// Why a [`SessionSpec`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// The local URI is not an MSRP URI.
    #[error("local URI: {0}")]
    LocalUri(WireError),
    /// The local URI has no session-id.
    #[error("local URI has no session-id")]
    NoSessionId,
    /// The peer path is empty or malformed.
    #[error("peer path: malformed or empty")]
    PeerPath,
}

impl SessionSpec {
    /// A passive, chat-aware session accepting every wrapped type; adjust the public fields
    /// before wrapping it in an `Arc`.
    pub fn new(
        room: RoomId,
        local_uri: &str,
        peer_path: &str,
        participant: Arc<Participant>,
    ) -> Result<SessionSpec, SpecError> {
        let view = MsrpUri::parse(local_uri.as_bytes()).map_err(SpecError::LocalUri)?;
        let sid = view.session_id().ok_or(SpecError::NoSessionId)?;
        let at = sid.as_ptr() as usize - local_uri.as_ptr() as usize;
        let sid = (
            u16::try_from(at).map_err(|_| SpecError::NoSessionId)?,
            u16::try_from(at + sid.len()).map_err(|_| SpecError::NoSessionId)?,
        );
        let mut n = 0;
        for u in PathIter::new(peer_path.as_bytes()) {
            let _: MsrpUri<'_> = u.map_err(|_| SpecError::PeerPath)?;
            n += 1;
        }
        if n == 0 || peer_path.ends_with(' ') {
            return Err(SpecError::PeerPath);
        }
        Ok(SessionSpec {
            room,
            local_uri: Bytes::copy_from_slice(local_uri.as_bytes()),
            peer_path: Bytes::copy_from_slice(peer_path.as_bytes()),
            participant,
            accept_wrapped_types: AcceptTypes::any(),
            caps: ChatCaps::default(),
            setup: Setup::Passive,
            bind: BindSlot::default(),
            sid,
        })
    }

    /// The participant's path (To-Path of what we send), URIs separated by spaces.
    pub fn peer_path(&self) -> &[u8] {
        &self.peer_path
    }

    /// Our URI for the session (validated when the spec was built).
    pub fn local_uri(&self) -> Option<MsrpUri<'_>> {
        MsrpUri::parse(&self.local_uri).ok()
    }

    /// Our URI for the session as text.
    pub fn local_uri_raw(&self) -> &Bytes {
        &self.local_uri
    }

    /// The session-id of the local URI.
    pub fn session_id(&self) -> &str {
        std::str::from_utf8(self.session_id_bytes()).unwrap_or_default()
    }

    pub(crate) fn session_id_bytes(&self) -> &[u8] {
        self.local_uri
            .get(self.sid.0 as usize..self.sid.1 as usize)
            .unwrap_or_default()
    }
}

/// Messages from the control plane to a worker (wrapped in [`RelayControl::Switch`]). Room
/// and session messages go to every worker ([`broadcast`]); a verdict goes to the worker that
/// asked.
#[derive(Clone)]
pub enum SwitchControl {
    /// Creates a room (or replaces its URI and policy).
    CreateRoom(Arc<RoomSpec>),
    /// New policy or URI for an existing room (its presence counters stay those of the
    /// spec it was created with).
    UpdateRoom(Arc<RoomSpec>),
    /// Deletes a room and ends all its sessions (RFC 7701 §5.3).
    DeleteRoom(RoomId),
    /// Installs a session.
    AddSession(Arc<SessionSpec>),
    /// Removes a session (its connection closes once its last session is gone).
    RemoveSession {
        /// The session-id of its local URI.
        session_id: String,
    },
    /// The answer to a [`SwitchEvent::Nickname`].
    NicknameVerdict {
        /// The session that asked.
        session_id: String,
        /// The NICKNAME's transaction id.
        transaction_id: Ident,
        /// 200, 403, 424 or 425.
        code: u16,
    },
    /// Asks for the worker's counters.
    Stats(std::sync::mpsc::Sender<SwitchStats>),
}

impl fmt::Debug for SwitchControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SwitchControl::CreateRoom(r) => write!(f, "CreateRoom({})", r.id),
            SwitchControl::UpdateRoom(r) => write!(f, "UpdateRoom({})", r.id),
            SwitchControl::DeleteRoom(r) => write!(f, "DeleteRoom({r})"),
            SwitchControl::AddSession(s) => write!(f, "AddSession({})", s.session_id()),
            SwitchControl::RemoveSession { session_id } => {
                write!(f, "RemoveSession({session_id})")
            }
            SwitchControl::NicknameVerdict { code, .. } => write!(f, "NicknameVerdict({code})"),
            SwitchControl::Stats(_) => f.write_str("Stats"),
        }
    }
}

/// Why a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// Its connection closed or failed.
    ConnectionLost,
    /// [`SwitchControl::RemoveSession`].
    Removed,
    /// [`SwitchControl::DeleteRoom`].
    RoomDeleted,
    /// An active session could not connect.
    ConnectFailed,
    /// The peer refused our binding SEND with this code.
    BindRefused(u16),
}

/// A NICKNAME request punted to the control plane (RFC 7701 §7.1); answer it with
/// [`SwitchControl::NicknameVerdict`] to `worker`.
#[derive(Clone, Debug)]
pub struct NicknameRequest {
    /// The worker waiting for the verdict.
    pub worker: usize,
    /// The room.
    pub room: RoomId,
    /// The session that asked.
    pub session_id: String,
    /// Its participant.
    pub participant: Arc<Participant>,
    /// The request's transaction id.
    pub transaction_id: Ident,
    /// The unescaped nickname; empty means "remove my nickname" (RFC 7701 §7.3).
    pub nickname: String,
    /// The Use-Nickname value as received.
    pub raw: Bytes,
}

/// What workers report to the control plane. Rare (never per message).
#[derive(Clone, Debug)]
pub enum SwitchEvent {
    /// A session was bound to a connection on `worker`.
    SessionBound {
        /// Its session-id.
        session_id: String,
        /// Its room.
        room: RoomId,
        /// The worker owning the connection.
        worker: usize,
    },
    /// A bound session ended.
    SessionClosed {
        /// Its session-id.
        session_id: String,
        /// Its room.
        room: RoomId,
        /// The worker that owned it.
        worker: usize,
        /// Why.
        reason: CloseReason,
    },
    /// A NICKNAME request to decide.
    Nickname(NicknameRequest),
}

/// Where workers deliver [`SwitchEvent`]s.
pub type EventSink = Arc<dyn Fn(SwitchEvent) + Send + Sync>;

/// Worker-wide switch settings (room policies come per room).
#[derive(Clone)]
pub struct SwitchConfig {
    /// Most CPIM header bytes buffered from a first chunk before giving up with 400.
    pub max_cpim_headers: usize,
    /// Chunk bodies up to this size are copied into each recipient's frame, which then leaves
    /// as one contiguous piece; larger bodies are shared by all recipients (reference
    /// counted) and never copied per recipient. Sharing pays for large bodies; for small ones
    /// the extra pieces per frame (refcounts, queue slots, iovecs) cost more than the copy.
    pub copy_body_below: usize,
    /// Chunk bodies up to this size are copied once (per chunk, not per recipient) into a
    /// compact buffer, so that queued frames do not pin whole read buffers.
    pub compact_body_below: usize,
    /// NICKNAME requests a session may have waiting for the control plane (more get 403).
    pub max_pending_nicknames: u8,
    /// How long a NICKNAME waits for its verdict before it is dropped unanswered.
    pub nickname_timeout: Duration,
    /// TLS for active `msrps` sessions.
    pub tls_client: Option<Arc<rustls::ClientConfig>>,
    /// Ring messages queued per peer worker when its ring is full, before senders are paused.
    pub max_ring_backlog: usize,
}

impl Default for SwitchConfig {
    fn default() -> Self {
        SwitchConfig {
            max_cpim_headers: 8 * 1024,
            copy_body_below: 512,
            compact_body_below: 8 * 1024,
            max_pending_nicknames: 4,
            nickname_timeout: Duration::from_secs(30),
            tls_client: None,
            max_ring_backlog: 4096,
        }
    }
}

/// Counters of one worker's switch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SwitchStats {
    /// Rooms known.
    pub rooms: usize,
    /// Sessions installed (all rooms).
    pub sessions: usize,
    /// Sessions bound on this worker.
    pub bound: usize,
    /// Messages (first chunks) accepted for distribution.
    pub messages: u64,
    /// Chunks accepted (all chunks).
    pub chunks: u64,
    /// Frames queued to recipients.
    pub deliveries: u64,
    /// Requests refused, by status code.
    pub refused: std::collections::BTreeMap<u16, u64>,
    /// Recipients skipped because they were congested.
    pub congestion_skips: u64,
    /// Congestion notices sent.
    pub notices: u64,
    /// Recipients skipped because they do not accept the payload type.
    pub type_skips: u64,
    /// Messages abandoned (chunk timer, sender gone, size exceeded).
    pub abandoned: u64,
    /// Error responses from recipients.
    pub recipient_errors: u64,
    /// REPORTs from recipients, consumed.
    pub reports_consumed: u64,
    /// NICKNAME requests punted to the control plane.
    pub nicknames: u64,
    /// Chunked messages in progress (sent from this worker's sessions).
    pub inflight: usize,
    /// Chunked messages being delivered to this worker's sessions.
    pub deliveries_in_progress: usize,
    /// Ring messages that had to wait because a peer's ring was full.
    pub ring_backlog: u64,
    /// Per-room counters of this worker (filled in by stats requests).
    pub per_room: Vec<RoomCounters>,
}

/// Counters of one room on one worker.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoomCounters {
    /// The room.
    pub room: RoomId,
    /// Sessions of the room bound on this worker.
    pub bound: usize,
    /// Messages (first chunks) accepted from senders on this worker.
    pub messages: u64,
    /// Frames queued to this worker's recipients.
    pub deliveries: u64,
    /// Recipients on this worker skipped because they were congested.
    pub congestion_skips: u64,
}

impl SwitchStats {
    /// Adds another worker's counters. Room and session counts are the same on every worker
    /// (specs are installed everywhere): the largest is kept rather than the sum.
    pub fn merge(&mut self, s: SwitchStats) {
        self.rooms = self.rooms.max(s.rooms);
        self.sessions = self.sessions.max(s.sessions);
        self.bound += s.bound;
        self.messages += s.messages;
        self.chunks += s.chunks;
        self.deliveries += s.deliveries;
        for (k, v) in s.refused {
            *self.refused.entry(k).or_default() += v;
        }
        self.congestion_skips += s.congestion_skips;
        self.notices += s.notices;
        self.type_skips += s.type_skips;
        self.abandoned += s.abandoned;
        self.recipient_errors += s.recipient_errors;
        self.reports_consumed += s.reports_consumed;
        self.nicknames += s.nicknames;
        self.inflight += s.inflight;
        self.deliveries_in_progress += s.deliveries_in_progress;
        self.ring_backlog += s.ring_backlog;
        for r in s.per_room {
            match self.per_room.iter_mut().find(|c| c.room == r.room) {
                Some(c) => {
                    c.bound += r.bound;
                    c.messages += r.messages;
                    c.deliveries += r.deliveries;
                    c.congestion_skips += r.congestion_skips;
                }
                None => self.per_room.push(r),
            }
        }
    }
}

/// Pushes `msg` to every worker's control ring, retrying for up to a second per ring while it
/// is full. Returns how many workers got it.
pub fn broadcast(rings: &[RingTx<RelayControl>], msg: &SwitchControl) -> usize {
    let mut n = 0;
    for r in rings {
        if push_patiently(r, RelayControl::Switch(msg.clone())) {
            n += 1;
        }
    }
    n
}

/// Pushes to one ring, retrying while it is full (up to about a second).
pub fn push_patiently(ring: &RingTx<RelayControl>, mut msg: RelayControl) -> bool {
    for i in 0..1000 {
        match ring.push(msg) {
            Ok(()) => return true,
            Err(m) => {
                msg = m;
                std::thread::sleep(Duration::from_micros(if i < 10 { 50 } else { 1000 }));
            }
        }
    }
    false
}
