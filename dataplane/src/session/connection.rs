//! The sans-IO MSRP endpoint for one transport connection (RFC 4975 §5–§7, RFC 4976 §5.1
//! client AUTH), in the style of quinn-proto's `Connection`: bytes received go in through
//! [`Connection::handle_input`], user commands through methods such as
//! [`Connection::send_message`]; bytes to send come out of [`Connection::poll_transmit`],
//! events out of [`Connection::poll_event`], and the next timer out of
//! [`Connection::poll_timeout`] (fire it with [`Connection::handle_timeout`]). No sockets,
//! no clock: every call that needs the time takes `now`.
//!
//! One connection carries any number of sessions, each named by its local URI. It composes
//! the parser, a [`Chunker`] and [`ChunkCursor`]s for sending, a [`Reassembler`] for
//! receiving, a [`TransactionTable`] for responses and timers, and the frame builders.

use super::accept::AcceptTypes;
use super::auth::{AuthClient, AuthRequest, AuthResponder, AuthStep};
use super::builders::{self, ReportParams, SendHead};
use super::chunker::{ChunkCursor, Chunker};
use super::config::{Config, SuccessReportMode};
use super::directory::{Binding, NoDirectory, SessionConfig, SessionDirectory};
use super::events::{AbortReason, Event, FailureSource, ReceivedMessage, SendFailure, SessionId};
use super::ranges::RangeSet;
use super::reassembly::{Progress, Reassembler, Refusal};
use super::timers::{RecentMap, TimedMap};
use super::transactions::TransactionTable;
use super::transmit::Transmit;
use crate::wire::{
    ByteRange, Continuation, EndLine, Event as WireEvent, FailureReport, FrameHead, HeaderName,
    Ident, MediaType, Method, MsrpUri, OwnedMsrpUri, Parser, PathPrefix, RandomSource,
    RequestWriter, StartLine, SuccessReport, UriKey, WireError, NICKNAME_MAX,
};
use bytes::{Bytes, BytesMut};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

/// A message to send (see [`Connection::send_message`]).
#[derive(Debug, Clone)]
pub struct OutgoingMessage {
    /// Content-Type value, e.g. `text/plain` or `message/cpim`.
    pub content_type: Bytes,
    /// The body; chunks are zero-copy slices of it.
    pub body: Bytes,
    /// Message-ID to use (for a resend after a failure, RFC 4975 §5.4); `None` picks a
    /// random one.
    pub message_id: Option<Ident>,
    /// Success-Report (default `no`).
    pub success_report: SuccessReport,
    /// Failure-Report (default `yes`).
    pub failure_report: FailureReport,
    /// Extra MIME headers before Content-Type (e.g. Content-Disposition).
    pub headers: Vec<(String, Bytes)>,
}

impl OutgoingMessage {
    /// A message with default report settings.
    pub fn new(content_type: impl Into<Bytes>, body: impl Into<Bytes>) -> Self {
        OutgoingMessage {
            content_type: content_type.into(),
            body: body.into(),
            message_id: None,
            success_report: SuccessReport::No,
            failure_report: FailureReport::Yes,
            headers: Vec::new(),
        }
    }

    /// Sets Success-Report.
    pub fn success_report(mut self, v: SuccessReport) -> Self {
        self.success_report = v;
        self
    }

    /// Sets Failure-Report.
    pub fn failure_report(mut self, v: FailureReport) -> Self {
        self.failure_report = v;
        self
    }

    /// Sets the Message-ID.
    pub fn message_id(mut self, id: Ident) -> Self {
        self.message_id = Some(id);
        self
    }

    /// Adds a MIME header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<Bytes>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// A session could not be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// A session with the same local URI (RFC 4975 §6.1 comparison) is on this connection.
    #[error("a session with this local URI is already on the connection")]
    DuplicateUri,
    /// The connection has failed.
    #[error("the connection has failed")]
    ConnectionFailed,
}

/// A command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// No such session on this connection.
    #[error("unknown session")]
    UnknownSession,
    /// The peer refused the session (481 or 506).
    #[error("the peer refused the session ({0})")]
    SessionRefused(u16),
    /// The Message-ID is in use by a message still being tracked.
    #[error("Message-ID already in use")]
    DuplicateMessageId,
    /// The Content-Type is not a media type.
    #[error("malformed Content-Type")]
    BadContentType,
    /// An extra header has a reserved or malformed name, or a value with CR/LF.
    #[error("header {0:?} cannot be sent")]
    BadHeader(String),
    /// An AUTH exchange is already running.
    #[error("AUTH already in progress")]
    AuthInProgress,
    /// The connection has failed.
    #[error("the connection has failed")]
    ConnectionFailed,
}

/// The byte stream cannot go on: drop the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionError {
    /// The parser cannot resynchronise (garbage instead of a start line, and so on).
    #[error("unrecoverable framing error: {0}")]
    Wire(WireError),
    /// The connection failed earlier (or was reported lost).
    #[error("the connection has failed")]
    Failed,
}

/// Counters for monitoring and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConnectionStats {
    /// Outstanding transactions.
    pub transactions: usize,
    /// Outgoing messages still tracked (being sent or awaiting responses/reports).
    pub outgoing_messages: usize,
    /// Messages waiting for their next chunk to be started.
    pub queued_messages: usize,
    /// Incomplete incoming messages.
    pub incomplete_messages: usize,
    /// Bytes reserved for them.
    pub buffered_bytes: u64,
    /// Control frames (responses, REPORTs, AUTH, bodiless SENDs) waiting to go out.
    pub queued_control: usize,
}

type MsgKey = (SessionId, Ident);

struct Session {
    config: SessionConfig,
    prefix: PathPrefix,
    accept: Arc<AcceptTypes>,
    refused: Option<u16>,
}

struct Outgoing {
    session: SessionId,
    content_type: Bytes,
    headers: Vec<(String, Bytes)>,
    /// Emptied once every byte is sent, so the user's buffer is released.
    body: Bytes,
    len: usize,
    /// Next byte to put in a chunk.
    next: usize,
    success_report: SuccessReport,
    failure_report: FailureReport,
    all_sent: bool,
    /// User abort: send an empty `#` chunk instead of the rest.
    abort_pending: bool,
    /// Chunk transactions awaiting a 200 (Failure-Report: yes).
    unacked: u32,
    accepted: bool,
    reported: RangeSet,
    report_complete: bool,
}

enum TxInfo {
    Chunk {
        message_id: Ident,
        session: SessionId,
        /// Failure-Report yes: expiry is a 408. Otherwise kept only to correlate errors.
        timed: bool,
    },
    Bodiless {
        session: SessionId,
    },
    Nickname {
        session: SessionId,
    },
    Auth,
}

struct OpenChunk {
    cursor: ChunkCursor,
    message_id: Ident,
    session: SessionId,
    /// Reaching the end of the cursor ends the message (`$`).
    last_if_done: bool,
    failure_report: FailureReport,
    /// Interrupt with `#` at the next opportunity.
    abort: bool,
    /// A response for this transaction arrived before its end-line was sent.
    responded: bool,
}

struct Control {
    transmit: Transmit,
    tx: Option<(Ident, TxInfo)>,
}

struct RxMeta {
    head: FrameHead,
    has_first: bool,
}

struct ChunkRx {
    key: MsgKey,
    /// 0-based position of the chunk's first byte.
    start: u64,
    /// Body bytes received so far.
    len: u64,
    /// The body while it is one slice of a possible whole message (zero-copy delivery).
    first: Option<Bytes>,
    /// The bytes go to the reassembler.
    in_reasm: bool,
    total: Option<u64>,
}

enum InBody {
    Ignore,
    Chunk(ChunkRx),
    Duplicate { start: u64, len: u64 },
}

struct InFrame {
    head: FrameHead,
    session: Option<SessionId>,
    /// A response to this request has been queued.
    responded: bool,
    /// Answer 200 when the request ends.
    ok_at_end: bool,
    body: InBody,
}

/// The buffer frames are written into before being split off as `Bytes`. A refill while
/// earlier frames are still queued cannot reuse the old allocation, so bursts grow the refill
/// size (up to 64 KiB); once the queued frames are gone the buffer is reused in place.
struct Scratch {
    buf: BytesMut,
    refill: usize,
}

impl Scratch {
    const LOW: usize = 512;
    const MIN: usize = 4096;
    const MAX: usize = 64 * 1024;

    fn new() -> Self {
        Scratch {
            buf: BytesMut::new(),
            refill: Self::MIN,
        }
    }

    /// The buffer, with room for a frame head; `busy`: frames written earlier still queue.
    fn get(&mut self, busy: bool) -> &mut BytesMut {
        if self.buf.capacity() < Self::LOW {
            if busy {
                self.refill = (self.refill * 2).min(Self::MAX);
            }
            self.buf.reserve(self.refill);
        }
        &mut self.buf
    }
}

/// A random source behind a box, usable where `impl RandomSource` is expected.
struct DynRng(Box<dyn RandomSource + Send>);

impl RandomSource for DynRng {
    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
}

/// The MSRP endpoint state of one transport connection (see the [`session`](super) module).
pub struct Connection {
    config: Arc<Config>,
    rng: DynRng,
    parser: Parser,
    failed: bool,
    chunker: Chunker,
    slice: usize,

    sessions: HashMap<SessionId, Session>,
    by_uri: HashMap<UriKey, SessionId>,
    next_session: u32,
    key_buf: Vec<u8>,
    use_path: Vec<OwnedMsrpUri>,
    auth: Option<AuthClient>,

    scratch: Scratch,
    control: VecDeque<Control>,
    outbox: TimedMap<Ident, Outgoing>,
    send_queue: VecDeque<Ident>,
    open: Option<OpenChunk>,
    tx: TransactionTable<TxInfo>,

    in_frame: Option<InFrame>,
    reasm: Reassembler<MsgKey, RxMeta>,
    completed: RecentMap<MsgKey, ()>,
    refused: RecentMap<MsgKey, u16>,

    events: VecDeque<Event>,
}

impl Connection {
    /// A connection with `config`; `rng` makes transaction ids, Message-IDs and session
    /// numbers unpredictable (give it a cryptographic source in production, e.g.
    /// `move || rng.next_u64()`).
    pub fn new(config: Config, rng: impl RandomSource + Send + 'static) -> Self {
        Self::with_shared_config(Arc::new(config), rng)
    }

    /// Like [`new`](Self::new), sharing one configuration between connections.
    pub fn with_shared_config(
        config: Arc<Config>,
        rng: impl RandomSource + Send + 'static,
    ) -> Self {
        Connection {
            parser: Parser::new(config.effective_parser_limits()),
            chunker: Chunker::new(config.chunk_size),
            slice: config.effective_transmit_slice(),
            tx: TransactionTable::new(config.transaction_timeout),
            reasm: Reassembler::new(config.reassembly),
            completed: RecentMap::new(config.remember_completed),
            refused: RecentMap::new(config.remember_refused),
            config,
            rng: DynRng(Box::new(rng)),
            failed: false,
            sessions: HashMap::new(),
            by_uri: HashMap::new(),
            next_session: 0,
            key_buf: Vec::with_capacity(128),
            use_path: Vec::new(),
            auth: None,
            scratch: Scratch::new(),
            control: VecDeque::new(),
            outbox: TimedMap::new(),
            send_queue: VecDeque::new(),
            open: None,
            in_frame: None,
            events: VecDeque::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// `true` once the byte stream failed or the connection was reported lost.
    pub fn is_failed(&self) -> bool {
        self.failed
    }

    /// Counters.
    pub fn stats(&self) -> ConnectionStats {
        ConnectionStats {
            transactions: self.tx.len(),
            outgoing_messages: self.outbox.len(),
            queued_messages: self.send_queue.len(),
            incomplete_messages: self.reasm.len(),
            buffered_bytes: self.reasm.buffered_bytes(),
            queued_control: self.control.len(),
        }
    }

    // ---------------------------------------------------------------------------------------
    // Sessions

    /// Attaches a session to this connection (it is bound: requests naming its local URI are
    /// accepted). Use on the passive side when the session is known in advance, or before
    /// [`send_message`](Self::send_message) on either side.
    pub fn add_session(&mut self, config: SessionConfig) -> Result<SessionId, SessionError> {
        if self.failed {
            return Err(SessionError::ConnectionFailed);
        }
        if self.by_uri.contains_key(config.local_uri.key()) {
            return Err(SessionError::DuplicateUri);
        }
        Ok(self.insert_session(config))
    }

    /// Attaches a session and immediately sends a bodiless SEND to bind the connection to it
    /// (the active endpoint's duty, RFC 4975 §5.4, RFC 6135). A 481/506 answer arrives as
    /// [`Event::SessionRefused`].
    pub fn open_session(&mut self, config: SessionConfig) -> Result<SessionId, SessionError> {
        let id = self.add_session(config)?;
        // The session exists, so this cannot fail.
        let _ = self.send_bodiless(id);
        Ok(id)
    }

    fn insert_session(&mut self, config: SessionConfig) -> SessionId {
        self.next_session = self.next_session.wrapping_add(1).max(1);
        let id = SessionId(self.next_session);
        let accept = config
            .accept_types
            .clone()
            .unwrap_or_else(|| self.config.accept_types.clone());
        let prefix = render_prefix(&self.use_path, &config);
        self.by_uri.insert(config.local_uri.key().clone(), id);
        self.sessions.insert(
            id,
            Session {
                config,
                prefix,
                accept,
                refused: None,
            },
        );
        id
    }

    /// Detaches a session; its queued messages are dropped without events.
    pub fn remove_session(&mut self, id: SessionId) -> Option<SessionConfig> {
        let s = self.sessions.remove(&id)?;
        self.by_uri.remove(s.config.local_uri.key());
        self.outbox.retain(|_, m| m.session != id);
        let outbox = &self.outbox;
        self.send_queue.retain(|m| outbox.contains_key(m));
        if let Some(o) = self.open.as_mut() {
            if o.session == id {
                o.abort = true;
            }
        }
        Some(s.config)
    }

    /// A session's configuration.
    pub fn session(&self, id: SessionId) -> Option<&SessionConfig> {
        self.sessions.get(&id).map(|s| &s.config)
    }

    /// The session whose local URI equals `uri` (RFC 4975 §6.1).
    pub fn session_by_uri(&self, uri: &MsrpUri<'_>) -> Option<SessionId> {
        let mut k = Vec::with_capacity(64);
        uri.write_key(&mut k);
        self.by_uri.get(&k[..]).copied()
    }

    /// The sessions on this connection.
    pub fn sessions(&self) -> impl Iterator<Item = SessionId> + '_ {
        self.sessions.keys().copied()
    }

    /// The Use-Path learned from AUTH (empty without AUTH).
    pub fn use_path(&self) -> &[OwnedMsrpUri] {
        &self.use_path
    }

    // ---------------------------------------------------------------------------------------
    // Commands

    /// Queues a message. It is sent in chunks of `Config::chunk_size` (interruptible above
    /// 2048 bytes), interleaved fairly with other messages; the body is never copied. Returns
    /// its Message-ID.
    pub fn send_message(
        &mut self,
        session: SessionId,
        msg: OutgoingMessage,
    ) -> Result<Ident, SendError> {
        if self.failed {
            return Err(SendError::ConnectionFailed);
        }
        let s = self
            .sessions
            .get(&session)
            .ok_or(SendError::UnknownSession)?;
        if let Some(code) = s.refused {
            return Err(SendError::SessionRefused(code));
        }
        if MediaType::parse(&msg.content_type).is_err()
            || memchr::memchr2(b'\r', b'\n', &msg.content_type).is_some()
        {
            return Err(SendError::BadContentType);
        }
        for (name, value) in &msg.headers {
            if !builders::is_allowed_extra_header(name)
                || memchr::memchr2(b'\r', b'\n', value).is_some()
            {
                return Err(SendError::BadHeader(name.clone()));
            }
        }
        let id = match msg.message_id {
            Some(id) if self.outbox.contains_key(&id) => return Err(SendError::DuplicateMessageId),
            Some(id) => id,
            None => (0..64)
                .map(|_| Ident::random(&mut self.rng))
                .find(|id| !self.outbox.contains_key(id))
                .ok_or(SendError::DuplicateMessageId)?,
        };
        let len = msg.body.len();
        self.outbox.insert(
            id,
            Outgoing {
                session,
                content_type: msg.content_type,
                headers: msg.headers,
                body: msg.body,
                len,
                next: 0,
                success_report: msg.success_report,
                failure_report: msg.failure_report,
                all_sent: false,
                abort_pending: false,
                unacked: 0,
                accepted: false,
                reported: RangeSet::new(),
                report_complete: false,
            },
            None,
        );
        self.send_queue.push_back(id);
        Ok(id)
    }

    /// Sends a bodiless SEND on `session` (binding, keep-alive).
    pub fn send_bodiless(&mut self, session: SessionId) -> Result<(), SendError> {
        if self.failed {
            return Err(SendError::ConnectionFailed);
        }
        if !self.sessions.contains_key(&session) {
            return Err(SendError::UnknownSession);
        }
        let tid = self.new_tid();
        let mid = Ident::random(&mut self.rng);
        let s = self
            .sessions
            .get(&session)
            .ok_or(SendError::UnknownSession)?;
        let t = builders::bodiless_send(
            self.scratch.get(!self.control.is_empty()),
            tid,
            &s.prefix,
            mid.as_bytes(),
        );
        self.control.push_back(Control {
            transmit: t,
            tx: Some((tid, TxInfo::Bodiless { session })),
        });
        Ok(())
    }

    /// Sends an RFC 7701 §7 NICKNAME request on `session` asking for `nickname` (`""` removes
    /// the nickname, §7.3). It carries no report headers, so the peer always answers; the
    /// status comes back as [`Event::NicknameResult`] (408 on timeout or connection loss).
    /// Returns the transaction id.
    pub fn send_nickname(
        &mut self,
        session: SessionId,
        nickname: &str,
    ) -> Result<Ident, SendError> {
        if self.failed {
            return Err(SendError::ConnectionFailed);
        }
        if nickname.len() > NICKNAME_MAX || nickname.bytes().any(|c| c == b'\r' || c == b'\n') {
            return Err(SendError::BadHeader("Use-Nickname".into()));
        }
        if !self.sessions.contains_key(&session) {
            return Err(SendError::UnknownSession);
        }
        let tid = self.new_tid();
        let s = self
            .sessions
            .get(&session)
            .ok_or(SendError::UnknownSession)?;
        let frame = RequestWriter::with_prefix(
            self.scratch.get(!self.control.is_empty()),
            tid,
            "NICKNAME",
            &s.prefix,
        )
        .use_nickname(nickname)
        .out_frame_bodiless(Continuation::Complete);
        self.control.push_back(Control {
            transmit: frame.into(),
            tx: Some((tid, TxInfo::Nickname { session })),
        });
        Ok(tid)
    }

    /// Stops sending a message: a chunk in progress ends with `#`; if part of the message
    /// was sent already, an empty `#` chunk tells the receiver. Returns `false` for an
    /// unknown or fully sent message.
    pub fn abort_message(&mut self, message_id: &Ident) -> bool {
        if let Some(o) = self.open.as_mut() {
            if o.message_id == *message_id {
                o.abort = true;
                self.outbox.remove(message_id);
                return true;
            }
        }
        let Some(m) = self.outbox.get_mut(message_id) else {
            return false;
        };
        if m.all_sent {
            return false;
        }
        if m.next > 0 {
            m.abort_pending = true;
        } else {
            self.outbox.remove(message_id);
            self.send_queue.retain(|x| x != message_id);
        }
        true
    }

    /// Starts an AUTH exchange with a relay (RFC 4976 §5.1). The outcome arrives as
    /// [`Event::AuthSucceeded`] (whose Use-Path then prefixes the To-Path of every session
    /// on this connection) or [`Event::AuthFailed`].
    pub fn authenticate(
        &mut self,
        req: AuthRequest,
        responder: impl AuthResponder + 'static,
    ) -> Result<(), SendError> {
        if self.failed {
            return Err(SendError::ConnectionFailed);
        }
        if self.auth.is_some() {
            return Err(SendError::AuthInProgress);
        }
        let client = AuthClient::new(req, Box::new(responder));
        let tid = self.new_tid();
        let t = client.request(self.scratch.get(!self.control.is_empty()), tid, None);
        self.control.push_back(Control {
            transmit: t,
            tx: Some((tid, TxInfo::Auth)),
        });
        self.auth = Some(client);
        Ok(())
    }

    /// The transport is gone: everything in flight fails (RFC 4975 §5.4: the sessions on it
    /// have failed). Unresolved outgoing messages get [`Event::SendFailed`] with 408 and
    /// [`FailureSource::ConnectionLost`]; incomplete incoming ones [`Event::MessageAborted`].
    pub fn connection_lost(&mut self) {
        self.failed = true;
        self.open = None;
        self.control.clear();
        self.send_queue.clear();
        let mut failed: Vec<(Ident, SessionId)> = self
            .outbox
            .drain()
            .filter(|(_, m)| {
                !m.all_sent
                    || (m.failure_report == FailureReport::Yes && !m.accepted)
                    || (m.success_report == SuccessReport::Yes && !m.report_complete)
            })
            .map(|(id, m)| (id, m.session))
            .collect();
        failed.sort();
        for (id, session) in failed {
            self.events.push_back(Event::SendFailed(SendFailure {
                session,
                message_id: Some(id),
                code: 408,
                source: FailureSource::ConnectionLost,
            }));
        }
        let mut pending: Vec<(Ident, TxInfo)> = self.tx.drain().collect();
        pending.sort_by_key(|(t, _)| *t);
        for (tid, info) in pending {
            match info {
                TxInfo::Bodiless { session } => {
                    self.events.push_back(Event::SendFailed(SendFailure {
                        session,
                        message_id: None,
                        code: 408,
                        source: FailureSource::ConnectionLost,
                    }))
                }
                TxInfo::Nickname { session } => self.events.push_back(Event::NicknameResult {
                    session,
                    transaction_id: tid,
                    code: 408,
                }),
                TxInfo::Auth => self.events.push_back(AuthClient::timed_out()),
                TxInfo::Chunk { .. } => {}
            }
        }
        self.auth = None;
        let far_future = Instant::now() + std::time::Duration::from_secs(1 << 40);
        while let Some(((session, message_id), _, received)) = self.reasm.poll_expired(far_future) {
            self.events.push_back(Event::MessageAborted {
                session,
                message_id,
                received,
                reason: AbortReason::ConnectionLost,
            });
        }
        self.in_frame = None;
    }

    // ---------------------------------------------------------------------------------------
    // Output

    /// The next bytes to hand to the transport, or `None` when there is nothing to send.
    /// Call it when the transport can take more, and write every piece completely and in
    /// order (a long chunk comes out as several pieces). The 30 s transaction timer of a
    /// request starts when its last piece is returned here (at `now`).
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        if self.failed {
            return None;
        }
        if let Some(o) = &self.open {
            // §7.1: interrupt for pending responses/REPORTs, for an abort, or to let other
            // messages through once this chunk had its fair share.
            let interrupt = o.abort
                || !self.control.is_empty()
                || (!self.send_queue.is_empty() && o.cursor.sent() >= self.config.interleave_after);
            return if interrupt {
                let flag = if o.abort {
                    Continuation::Abort
                } else {
                    Continuation::More
                };
                let front = !self.control.is_empty();
                self.close_open(now, flag, front)
            } else {
                self.continue_open(now)
            };
        }
        if let Some(c) = self.control.pop_front() {
            if let Some((tid, info)) = c.tx {
                self.tx.start(now, tid, info);
            }
            return Some(c.transmit);
        }
        while let Some(id) = self.send_queue.pop_front() {
            if let Some(t) = self.start_chunk(now, id) {
                return Some(t);
            }
        }
        None
    }

    /// Whether [`poll_transmit`](Self::poll_transmit) has something to return.
    pub fn has_transmit(&self) -> bool {
        !self.failed
            && (self.open.is_some() || !self.control.is_empty() || !self.send_queue.is_empty())
    }

    /// The next event for the user.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        [
            self.tx.next_deadline(),
            self.reasm.next_deadline(),
            self.outbox.next_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Fires the timers due at `now`: transaction timeouts (408), chunk-reception timeouts,
    /// report tracking.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((tid, info)) = self.tx.poll_expired(now) {
            match info {
                TxInfo::Nickname { session } => self.events.push_back(Event::NicknameResult {
                    session,
                    transaction_id: tid,
                    code: 408,
                }),
                TxInfo::Chunk {
                    message_id,
                    session,
                    timed: true,
                } => self.fail_message(message_id, session, 408, FailureSource::Timeout),
                TxInfo::Chunk { timed: false, .. } => {}
                TxInfo::Bodiless { session } => {
                    self.events.push_back(Event::SendFailed(SendFailure {
                        session,
                        message_id: None,
                        code: 408,
                        source: FailureSource::Timeout,
                    }))
                }
                TxInfo::Auth => {
                    if self.auth.take().is_some() {
                        self.events.push_back(AuthClient::timed_out());
                    }
                }
            }
        }
        while let Some((key, meta, received)) = self.reasm.poll_expired(now) {
            self.refused.insert(key, 413);
            self.events.push_back(Event::MessageAborted {
                session: key.0,
                message_id: key.1,
                received,
                reason: AbortReason::Timeout,
            });
            let fr = meta.head.failure_report();
            if self.config.failure_report_on_timeout && fr != FailureReport::No {
                let total = meta.head.byte_range().and_then(|r| r.total);
                self.queue_report(
                    key.0,
                    &meta.head,
                    key.1,
                    ByteRange {
                        start: 1,
                        end: Some(received),
                        total,
                    },
                    408,
                );
            }
        }
        while let Some((id, m)) = self.outbox.pop_expired(now) {
            if m.failure_report == FailureReport::Yes && !m.accepted && m.unacked > 0 {
                // Transaction timers decide; check again after they must have fired.
                let again = now + self.config.transaction_timeout;
                self.outbox.insert(id, m, Some(again));
                continue;
            }
            if m.success_report == SuccessReport::Yes && !m.report_complete {
                self.events.push_back(Event::ReportTimeout {
                    session: m.session,
                    message_id: id,
                });
            }
        }
    }

    // ---------------------------------------------------------------------------------------
    // Sending internals

    fn new_tid(&mut self) -> Ident {
        // Bounded, so that a broken random source cannot hang the engine.
        let mut t = Ident::random(&mut self.rng);
        for _ in 0..64 {
            if !self.tx.contains(&t) {
                break;
            }
            t = Ident::random(&mut self.rng);
        }
        t
    }

    fn start_chunk(&mut self, now: Instant, id: Ident) -> Option<Transmit> {
        let m = self.outbox.get(&id)?;
        if m.all_sent {
            return None;
        }
        let Some(session) = self.sessions.get(&m.session) else {
            self.outbox.remove(&id);
            return None;
        };
        let sid = m.session;
        if m.abort_pending {
            let tid = self.new_tid();
            let m = self.outbox.get(&id)?;
            let session = self.sessions.get(&sid)?;
            let head = builders::send_head(
                self.scratch.get(!self.control.is_empty()),
                tid,
                &SendHead {
                    prefix: &session.prefix,
                    message_id: id.as_bytes(),
                    byte_range: ByteRange {
                        start: m.next as u64 + 1,
                        end: None,
                        total: Some(m.len as u64),
                    },
                    success_report: m.success_report,
                    failure_report: m.failure_report,
                    headers: &m.headers,
                    content_type: &m.content_type,
                },
            );
            self.outbox.remove(&id);
            return Some(Transmit {
                head,
                body: Bytes::new(),
                tail: Some(EndLine::new(&tid, Continuation::Abort, true)),
            });
        }
        let plan = self.chunker.plan(m.len, m.next);
        let extent = m.body.slice(plan.offset..plan.offset + plan.max_len);
        let first_max = if plan.interruptible {
            self.slice
        } else {
            plan.max_len
        };
        // A transaction id whose end-line is not in the first slice (later slices are
        // checked as they go).
        let mut picked = None;
        for _ in 0..64 {
            let t = Ident::random(&mut self.rng);
            if self.tx.contains(&t) {
                continue;
            }
            let mut cursor = ChunkCursor::new(t, extent.clone(), plan.offset);
            if let Some(first) = cursor.next_slice(first_max) {
                picked = Some((cursor, first));
                break;
            }
        }
        let Some((cursor, first)) = picked else {
            self.fail_message(id, sid, 0, FailureSource::Local);
            return None;
        };
        let tid = cursor.tid();
        let head = builders::send_head(
            self.scratch.get(!self.control.is_empty()),
            tid,
            &SendHead {
                prefix: &session.prefix,
                message_id: id.as_bytes(),
                byte_range: plan.byte_range(m.len),
                success_report: m.success_report,
                failure_report: m.failure_report,
                headers: &m.headers,
                content_type: &m.content_type,
            },
        );
        let open = OpenChunk {
            cursor,
            message_id: id,
            session: sid,
            last_if_done: plan.last,
            failure_report: m.failure_report,
            abort: false,
            responded: false,
        };
        if open.cursor.is_done() {
            let flag = if plan.last {
                Continuation::Complete
            } else {
                Continuation::More
            };
            self.finish_chunk(now, open, flag, false);
            return Some(Transmit {
                head,
                body: first,
                tail: Some(EndLine::new(&tid, flag, true)),
            });
        }
        self.open = Some(open);
        Some(Transmit {
            head,
            body: first,
            tail: None,
        })
    }

    fn continue_open(&mut self, now: Instant) -> Option<Transmit> {
        let o = self.open.as_mut()?;
        let Some(body) = o.cursor.next_slice(self.slice) else {
            // The next slice would contain this transaction's end-line: interrupt here and
            // go on in a new chunk with a new id (§7.1).
            return self.close_open(now, Continuation::More, true);
        };
        if !o.cursor.is_done() {
            return Some(Transmit {
                head: Bytes::new(),
                body,
                tail: None,
            });
        }
        let flag = if o.last_if_done {
            Continuation::Complete
        } else {
            Continuation::More
        };
        let tid = o.cursor.tid();
        let o = self.open.take()?;
        self.finish_chunk(now, o, flag, false);
        Some(Transmit {
            head: Bytes::new(),
            body,
            tail: Some(EndLine::new(&tid, flag, true)),
        })
    }

    fn close_open(&mut self, now: Instant, flag: Continuation, front: bool) -> Option<Transmit> {
        let o = self.open.take()?;
        let tid = o.cursor.tid();
        self.finish_chunk(now, o, flag, front);
        Some(Transmit {
            head: Bytes::new(),
            body: Bytes::new(),
            tail: Some(EndLine::new(&tid, flag, true)),
        })
    }

    /// The end-line of a chunk was handed out: start its transaction, advance the message.
    fn finish_chunk(&mut self, now: Instant, o: OpenChunk, flag: Continuation, front: bool) {
        let id = o.message_id;
        if flag == Continuation::Abort {
            // Aborted messages are gone already; their answers are ignored.
            return;
        }
        let timed = o.failure_report == FailureReport::Yes;
        if !o.responded && o.failure_report != FailureReport::No {
            self.tx.start(
                now,
                o.cursor.tid(),
                TxInfo::Chunk {
                    message_id: id,
                    session: o.session,
                    timed,
                },
            );
        }
        let report_timeout = self.config.report_timeout;
        let Some(m) = self.outbox.get_mut(&id) else {
            return;
        };
        if timed && !o.responded {
            m.unacked += 1;
        }
        m.next = o.cursor.next_offset();
        if flag == Continuation::Complete {
            m.all_sent = true;
            m.body = Bytes::new();
            m.headers = Vec::new();
            self.outbox.set_deadline(&id, Some(now + report_timeout));
            self.maybe_resolve(id);
        } else if front {
            self.send_queue.push_front(id);
        } else {
            self.send_queue.push_back(id);
        }
    }

    /// Emits MessageAccepted and forgets the message once nothing more is expected for it.
    fn maybe_resolve(&mut self, id: Ident) {
        let Some(m) = self.outbox.get_mut(&id) else {
            return;
        };
        if !m.all_sent {
            return;
        }
        if m.failure_report == FailureReport::Yes && !m.accepted && m.unacked == 0 {
            m.accepted = true;
            self.events.push_back(Event::MessageAccepted {
                session: m.session,
                message_id: id,
            });
        }
        let sr_done = m.success_report == SuccessReport::No || m.report_complete;
        let fr_done = match m.failure_report {
            FailureReport::Yes => m.accepted,
            FailureReport::No => true,
            // Errors may come at any time: wait for the report timeout unless success
            // reports already covered everything.
            FailureReport::Partial => m.success_report == SuccessReport::Yes && m.report_complete,
        };
        if sr_done && fr_done {
            self.outbox.remove(&id);
        }
    }

    fn fail_message(&mut self, id: Ident, session: SessionId, code: u16, source: FailureSource) {
        if let Some(m) = self.outbox.remove(&id) {
            self.send_queue.retain(|x| *x != id);
            self.events.push_back(Event::SendFailed(SendFailure {
                session: m.session,
                message_id: Some(id),
                code,
                source,
            }));
        }
        if let Some(o) = self.open.as_mut() {
            if o.message_id == id {
                o.abort = true;
            }
        }
        if code == 481 || code == 506 {
            self.session_refused(session, code);
        }
    }

    /// The peer refused the session (481/506): it is unusable on this connection, so every
    /// message still tracked for it fails with the same code.
    fn session_refused(&mut self, session: SessionId, code: u16) {
        let Some(s) = self.sessions.get_mut(&session) else {
            return;
        };
        if s.refused.is_some() {
            return;
        }
        s.refused = Some(code);
        self.events
            .push_back(Event::SessionRefused { session, code });
        let mut ids: Vec<Ident> = self
            .outbox
            .iter()
            .filter(|(_, m)| m.session == session)
            .map(|(id, _)| *id)
            .collect();
        ids.sort();
        for id in ids {
            self.fail_message(id, session, code, FailureSource::Response);
        }
    }

    fn queue_response(&mut self, head: &FrameHead, code: u16, own_uri: &[u8]) {
        if let Some(b) = builders::response(
            self.scratch.get(!self.control.is_empty()),
            head,
            code,
            own_uri,
        ) {
            self.control.push_back(Control {
                transmit: Transmit::from_bytes(b),
                tx: None,
            });
        }
    }

    fn queue_report(
        &mut self,
        session: SessionId,
        head: &FrameHead,
        message_id: Ident,
        byte_range: ByteRange,
        code: u16,
    ) {
        let Some(s) = self.sessions.get(&session) else {
            return;
        };
        let tid = Ident::random(&mut self.rng);
        let t = builders::report(
            self.scratch.get(!self.control.is_empty()),
            tid,
            &ReportParams {
                to_path: head.from_path_raw(),
                from_path: s.config.local_uri.as_bytes(),
                message_id: message_id.as_bytes(),
                byte_range,
                code,
            },
        );
        self.control.push_back(Control {
            transmit: t,
            tx: None,
        });
    }

    // ---------------------------------------------------------------------------------------
    // Input

    /// Consumes received bytes from `buf` (frames may be split anywhere). Requests for
    /// sessions not on this connection are answered 481. An error means the stream is
    /// broken: close the connection.
    pub fn handle_input(
        &mut self,
        now: Instant,
        buf: &mut BytesMut,
    ) -> Result<(), ConnectionError> {
        self.handle_input_with(now, buf, &mut NoDirectory)
    }

    /// Like [`handle_input`](Self::handle_input), asking `dir` about session URIs this
    /// connection does not know (binding on a passive connection, 481/506).
    pub fn handle_input_with<D: SessionDirectory + ?Sized>(
        &mut self,
        now: Instant,
        buf: &mut BytesMut,
        dir: &mut D,
    ) -> Result<(), ConnectionError> {
        if self.failed {
            return Err(ConnectionError::Failed);
        }
        loop {
            match self.parser.poll(buf) {
                Ok(None) => return Ok(()),
                Ok(Some(WireEvent::Head(h))) => self.on_head(now, h, dir),
                Ok(Some(WireEvent::Body(b))) => self.on_body(now, b),
                Ok(Some(WireEvent::End { flag })) => self.on_end(now, flag),
                Err(e) if e.is_fatal() => {
                    self.failed = true;
                    return Err(ConnectionError::Wire(e));
                }
                Err(e) => self.on_rejected(now, &e),
            }
        }
    }

    fn on_head<D: SessionDirectory + ?Sized>(
        &mut self,
        now: Instant,
        head: FrameHead,
        dir: &mut D,
    ) {
        match head.start_line() {
            StartLine::Response(code) => {
                self.on_response(&head, code);
                self.in_frame = Some(InFrame::ignore(head, None));
            }
            StartLine::Request(Method::Report) => {
                self.on_report(&head);
                self.in_frame = Some(InFrame::ignore(head, None));
            }
            StartLine::Request(method) => {
                let sid = match self.match_session(&head, dir) {
                    Ok(sid) => sid,
                    Err(code) => return self.reject(head, None, code),
                };
                if method != Method::Send {
                    return self.reject(head, Some(sid), 501);
                }
                self.on_send_head(now, head, sid);
            }
        }
    }

    /// §7.3: the single To-Path URI must name a session bound to this connection.
    fn match_session<D: SessionDirectory + ?Sized>(
        &mut self,
        head: &FrameHead,
        dir: &mut D,
    ) -> Result<SessionId, u16> {
        let mut it = head.to_path();
        let (Some(uri), None) = (it.next(), it.next()) else {
            return Err(481);
        };
        self.key_buf.clear();
        uri.write_key(&mut self.key_buf);
        let sid = match self.by_uri.get(&self.key_buf[..]) {
            Some(&sid) => sid,
            None => match dir.bind(&uri) {
                Binding::Bind(cfg) if cfg.local_uri.key().as_bytes() == &self.key_buf[..] => {
                    let sid = self.insert_session(cfg);
                    self.events.push_back(Event::SessionBound { session: sid });
                    sid
                }
                Binding::Bind(_) | Binding::Unknown => return Err(481),
                Binding::BoundElsewhere => return Err(506),
            },
        };
        if self.config.strict_from_path {
            let peer = self
                .sessions
                .get(&sid)
                .and_then(|s| s.config.peer_path.last());
            let from = head.from_path().last();
            let same = match (peer, from) {
                (Some(p), Some(f)) => p.view().same_as(&f),
                _ => false,
            };
            if !same {
                return Err(481);
            }
        }
        Ok(sid)
    }

    /// Answers `head` with an error (if its Failure-Report allows) and ignores its body.
    fn reject(&mut self, head: FrameHead, session: Option<SessionId>, code: u16) {
        let mut responded = false;
        if builders::should_respond(head.failure_report(), code) {
            let own: Option<Bytes> = match session.and_then(|s| self.sessions.get(&s)) {
                Some(s) => Some(s.config.local_uri.as_bytes().clone()),
                // No session: answer from the URI the request named.
                None => head
                    .to_path()
                    .last()
                    .map(|u| Bytes::copy_from_slice(u.as_bytes())),
            };
            if let Some(own) = own {
                self.queue_response(&head, code, &own);
                responded = true;
            }
        }
        let mut f = InFrame::ignore(head, session);
        f.responded = responded;
        self.in_frame = Some(f);
    }

    fn on_send_head(&mut self, now: Instant, head: FrameHead, sid: SessionId) {
        let fr = head.failure_report();
        let ok_at_end = fr == FailureReport::Yes;
        if !head.has_body() {
            // A bodiless SEND (binding, keep-alive) carries no content.
            let mut f = InFrame::ignore(head, Some(sid));
            f.ok_at_end = ok_at_end;
            self.in_frame = Some(f);
            return;
        }
        let Some(mid) = head.message_id().and_then(Ident::new) else {
            return self.reject(head, Some(sid), 400);
        };
        let key = (sid, mid);
        if let Some(&code) = self.refused.get(&key) {
            return self.reject(head, Some(sid), code);
        }
        let accepted = self.sessions.get(&sid).is_some_and(|s| {
            s.accept
                .accepts(head.raw(HeaderName::ContentType).unwrap_or_default())
        });
        if !accepted {
            self.refuse_message(key, 415);
            return self.reject(head, Some(sid), 415);
        }
        let range = head.byte_range().unwrap_or(ByteRange {
            start: 1,
            end: None,
            total: None,
        });
        let start = range.start.saturating_sub(1);
        let inconsistent = range.end.is_some_and(|e| e < start)
            || range.total.is_some_and(|t| start > t)
            || matches!((range.end, range.total), (Some(e), Some(t)) if e > t);
        if inconsistent {
            return self.reject(head, Some(sid), 400);
        }
        if self.reasm.check_range(&range).is_err() {
            self.refuse_message(key, 413);
            return self.reject(head, Some(sid), 413);
        }
        let body = if self.completed.contains(&key) {
            InBody::Duplicate { start, len: 0 }
        } else {
            InBody::Chunk(ChunkRx {
                key,
                start,
                len: 0,
                first: None,
                in_reasm: start != 0 || self.reasm.contains(&key),
                total: range.total,
            })
        };
        let _ = now;
        self.in_frame = Some(InFrame {
            head,
            session: Some(sid),
            responded: false,
            ok_at_end,
            body,
        });
    }

    /// Remembers that a message is refused and drops what was buffered for it.
    fn refuse_message(&mut self, key: MsgKey, code: u16) {
        self.refused.insert(key, code);
        if let Some((_, received)) = self.reasm.remove(&key) {
            self.events.push_back(Event::MessageAborted {
                session: key.0,
                message_id: key.1,
                received,
                reason: AbortReason::Refused(code),
            });
        }
    }

    fn on_body(&mut self, now: Instant, b: Bytes) {
        let Some(f) = self.in_frame.as_mut() else {
            return;
        };
        let refusal = match &mut f.body {
            InBody::Ignore => return,
            InBody::Duplicate { len, .. } => {
                *len += b.len() as u64;
                return;
            }
            InBody::Chunk(c) => {
                if !c.in_reasm && c.len == 0 && c.first.is_none() {
                    c.len = b.len() as u64;
                    c.first = Some(b);
                    return;
                }
                let head = &f.head;
                let has_first = c.start == 0;
                let meta = || RxMeta {
                    head: head.clone(),
                    has_first,
                };
                let mut r = Ok(());
                if let Some(first) = c.first.take() {
                    r = self
                        .reasm
                        .write(now, &c.key, c.start, &first, c.total, meta);
                }
                if r.is_ok() {
                    let pos = c.start + c.len;
                    r = self.reasm.write(now, &c.key, pos, &b, c.total, meta);
                }
                c.in_reasm = true;
                c.len += b.len() as u64;
                r
            }
        };
        if let Err(r) = refusal {
            self.refuse_in_flight(r);
        }
    }

    /// The message of the request being received is refused (413) while its body arrives:
    /// answer now (the sender interrupts, §7.1), and ignore the rest.
    fn refuse_in_flight(&mut self, r: Refusal) {
        let Some(mut f) = self.in_frame.take() else {
            return;
        };
        let code = r.status_code();
        if let InBody::Chunk(c) = &f.body {
            let key = c.key;
            let received = c.len;
            let was_buffered = self.reasm.contains(&key);
            self.refuse_message(key, code);
            if !was_buffered {
                self.events.push_back(Event::MessageAborted {
                    session: key.0,
                    message_id: key.1,
                    received,
                    reason: AbortReason::Refused(code),
                });
            }
        }
        if !f.responded && builders::should_respond(f.head.failure_report(), code) {
            if let Some(own) = f
                .session
                .and_then(|s| self.sessions.get(&s))
                .map(|s| s.config.local_uri.as_bytes().clone())
            {
                self.queue_response(&f.head, code, &own);
                f.responded = true;
            }
        }
        f.body = InBody::Ignore;
        f.ok_at_end = false;
        self.in_frame = Some(f);
    }

    fn on_end(&mut self, now: Instant, flag: Continuation) {
        let Some(f) = self.in_frame.take() else {
            return;
        };
        let own = f
            .session
            .and_then(|s| self.sessions.get(&s))
            .map(|s| s.config.local_uri.as_bytes().clone());
        if f.ok_at_end && !f.responded {
            if let Some(own) = &own {
                self.queue_response(&f.head, 200, own);
            }
        }
        let Some(sid) = f.session else {
            return;
        };
        match f.body {
            InBody::Ignore => {}
            InBody::Duplicate { start, len } => {
                // Reports are owed for duplicates too (§5.4); the content is not delivered again.
                if f.head.success_report() == SuccessReport::Yes && flag != Continuation::Abort {
                    if let Some(mid) = f.head.message_id().and_then(Ident::new) {
                        let total = f.head.byte_range().and_then(|r| r.total);
                        let range = ByteRange {
                            start: start + 1,
                            end: Some(start + len),
                            total,
                        };
                        self.queue_report(sid, &f.head, mid, range, 200);
                    }
                }
            }
            InBody::Chunk(c) => self.end_chunk(now, f.head, sid, c, flag),
        }
    }

    fn end_chunk(
        &mut self,
        now: Instant,
        head: FrameHead,
        sid: SessionId,
        c: ChunkRx,
        flag: Continuation,
    ) {
        let key = c.key;
        let chunk_end = c.start + c.len;
        let progress = if !c.in_reasm && flag == Continuation::Complete {
            // The whole message in one request (§7.3.1): deliver without copying.
            Progress::Complete {
                body: c.first.unwrap_or_default(),
                meta: RxMeta {
                    head: head.clone(),
                    has_first: true,
                },
                chunks: 1,
            }
        } else {
            let meta = || RxMeta {
                head: head.clone(),
                has_first: c.start == 0,
            };
            let mut r = Ok(());
            if let Some(first) = &c.first {
                r = self.reasm.write(now, &key, c.start, first, c.total, meta);
            } else if !self.reasm.contains(&key) {
                r = self.reasm.write(now, &key, c.start, &[], c.total, meta);
            }
            if let Err(e) = r {
                // Answered 200 already (the request itself was fine); later chunks get 413.
                self.refuse_message(key, e.status_code());
                return;
            }
            if c.start == 0 {
                if let Some(m) = self.reasm.meta_mut(&key) {
                    m.head = head.clone();
                    m.has_first = true;
                }
            }
            match self.reasm.end_chunk(now, &key, chunk_end, flag) {
                Some(p) => p,
                None => return,
            }
        };
        let sr = head.success_report() == SuccessReport::Yes;
        let per_chunk = self.config.success_reports == SuccessReportMode::PerChunk;
        if sr && per_chunk && flag != Continuation::Abort && (c.len > 0 || c.start == 0) {
            let total = match &progress {
                Progress::Complete { body, .. } => Some(body.len() as u64),
                Progress::Partial { total, .. } => *total,
                Progress::Aborted { .. } => None,
            };
            let range = ByteRange {
                start: c.start + 1,
                end: Some(chunk_end),
                total,
            };
            self.queue_report(sid, &head, key.1, range, 200);
        }
        match progress {
            Progress::Complete { body, meta, chunks } => {
                self.completed.insert(key, ());
                let len = body.len() as u64;
                if sr && !per_chunk {
                    let range = ByteRange {
                        start: 1,
                        end: Some(len),
                        total: Some(len),
                    };
                    self.queue_report(sid, &head, key.1, range, 200);
                }
                let _ = meta.has_first;
                self.events.push_back(Event::Message(ReceivedMessage {
                    session: sid,
                    message_id: key.1,
                    content_type: meta
                        .head
                        .raw_bytes(HeaderName::ContentType)
                        .unwrap_or_default(),
                    body,
                    head: meta.head,
                    chunks,
                }));
            }
            Progress::Partial { received, total } => {
                if self.config.progress_events {
                    self.events.push_back(Event::Progress {
                        session: sid,
                        message_id: key.1,
                        received,
                        total,
                    });
                }
            }
            Progress::Aborted { received, .. } => {
                self.events.push_back(Event::MessageAborted {
                    session: sid,
                    message_id: key.1,
                    received,
                    reason: AbortReason::SenderAborted,
                });
            }
        }
    }

    /// A frame the parser rejected (400, or 413 for an oversized chunk).
    fn on_rejected(&mut self, _now: Instant, e: &WireError) {
        let code = e.status_code();
        if let Some(f) = self.in_frame.take() {
            // The error is in the body of a request whose head we have (chunk too large).
            if f.head.is_request() && f.head.method() != Some(Method::Report) {
                self.in_frame = Some(f);
                self.refuse_in_flight(Refusal::TooLarge);
                self.in_frame = None;
            }
            return;
        }
        let Some(rej) = e.rejected_frame() else {
            return;
        };
        // The parser does not recover the To-Path: answer from the only session, if there is
        // exactly one (otherwise the From-Path of the answer would be a guess).
        let mut it = self.sessions.values();
        let own = match (it.next(), it.next()) {
            (Some(s), None) => s.config.local_uri.as_bytes().clone(),
            _ => return,
        };
        if let Some(b) = builders::response_to_rejected(
            self.scratch.get(!self.control.is_empty()),
            rej,
            code,
            &own,
        ) {
            self.control.push_back(Control {
                transmit: Transmit::from_bytes(b),
                tx: None,
            });
        }
    }

    fn on_response(&mut self, head: &FrameHead, code: u16) {
        let Some(tid) = Ident::new(head.transaction_id()) else {
            return;
        };
        if let Some(o) = self.open.as_mut() {
            if o.cursor.tid() == tid {
                // Answered before its end-line went out (e.g. 413 to stop it).
                o.responded = true;
                let (id, session) = (o.message_id, o.session);
                if code != 200 {
                    self.fail_message(id, session, code, FailureSource::Response);
                }
                return;
            }
        }
        let Some(info) = self.tx.complete(&tid) else {
            return;
        };
        match info {
            TxInfo::Chunk {
                message_id,
                session,
                timed,
            } => {
                if code == 200 {
                    if timed {
                        if let Some(m) = self.outbox.get_mut(&message_id) {
                            m.unacked = m.unacked.saturating_sub(1);
                        }
                        self.maybe_resolve(message_id);
                    }
                } else {
                    self.fail_message(message_id, session, code, FailureSource::Response);
                }
            }
            TxInfo::Bodiless { session } => {
                if code == 481 || code == 506 {
                    self.session_refused(session, code);
                } else if code != 200 {
                    self.events.push_back(Event::SendFailed(SendFailure {
                        session,
                        message_id: None,
                        code,
                        source: FailureSource::Response,
                    }));
                }
            }
            TxInfo::Nickname { session } => self.events.push_back(Event::NicknameResult {
                session,
                transaction_id: tid,
                code,
            }),
            TxInfo::Auth => self.on_auth_response(head),
        }
    }

    fn on_auth_response(&mut self, head: &FrameHead) {
        let Some(client) = self.auth.as_mut() else {
            return;
        };
        match client.on_response(head) {
            AuthStep::Retry(authorization) => {
                let tid = self.new_tid();
                if let Some(client) = self.auth.as_ref() {
                    let t = client.request(
                        self.scratch.get(!self.control.is_empty()),
                        tid,
                        Some(&authorization),
                    );
                    self.control.push_back(Control {
                        transmit: t,
                        tx: Some((tid, TxInfo::Auth)),
                    });
                }
            }
            AuthStep::Done(ev) => {
                let ev = *ev;
                self.auth = None;
                if let Event::AuthSucceeded { use_path, .. } = &ev {
                    self.use_path.clone_from(use_path);
                    for s in self.sessions.values_mut() {
                        s.prefix = render_prefix(&self.use_path, &s.config);
                    }
                }
                self.events.push_back(ev);
            }
        }
    }

    /// §7.3.2: correlate by Message-ID, ignore unknown ones, never answer.
    fn on_report(&mut self, head: &FrameHead) {
        let Some(id) = head.message_id().and_then(Ident::new) else {
            return;
        };
        let mut to = head.to_path();
        let sid = match (to.next(), to.next()) {
            (Some(u), None) => {
                self.key_buf.clear();
                u.write_key(&mut self.key_buf);
                self.by_uri.get(&self.key_buf[..]).copied()
            }
            _ => None,
        };
        let Some(sid) = sid else {
            return;
        };
        let Some(Ok(status)) = head.status() else {
            return;
        };
        if status.namespace != 0 {
            return;
        }
        let Some(m) = self.outbox.get_mut(&id).filter(|m| m.session == sid) else {
            return;
        };
        if status.code != 200 {
            return self.fail_message(id, sid, status.code, FailureSource::Report);
        }
        let len = m.len as u64;
        let range = head.byte_range();
        match range {
            Some(r) => {
                let end = r.end.or(r.total).unwrap_or(len).min(len);
                m.reported.insert(r.start - 1, end);
            }
            None => m.reported.insert(0, len),
        }
        let complete = m.reported.covers_prefix(len);
        let newly = complete && !m.report_complete;
        m.report_complete = complete;
        self.events.push_back(Event::SuccessReport {
            session: sid,
            message_id: id,
            byte_range: range,
            complete,
        });
        if newly {
            self.maybe_resolve(id);
        }
    }
}

impl InFrame {
    fn ignore(head: FrameHead, session: Option<SessionId>) -> Self {
        InFrame {
            head,
            session,
            responded: false,
            ok_at_end: false,
            body: InBody::Ignore,
        }
    }
}

/// To-Path = Use-Path + the peer's path; From-Path = the local URI.
fn render_prefix(use_path: &[OwnedMsrpUri], s: &SessionConfig) -> PathPrefix {
    let to: Vec<&OwnedMsrpUri> = use_path.iter().chain(s.peer_path.iter()).collect();
    PathPrefix::new(&to, &[&s.local_uri])
}
