//! The MSRP relay of RFC 4976 as a worker [`Service`]: AUTH with digest, Use-Path tokens,
//! forwarding by To-Path with From-Path rotation, hop-by-hop responses, failure REPORTs, and
//! chunks streamed through as they arrive (never reassembled).
//!
//! A request names its relay token in the first To-Path URI. The worker that minted the token
//! owns it and the client connection it is bound to; a request arriving on another worker is
//! streamed to the owner over the peer rings. Every write onto a connection goes through the
//! [`egress`] scheduler, because many inbound streams may share one outbound connection.

/// Runs a scheduler operation with the worker's I/O, transactions and randomness (disjoint
/// borrows of the relay's fields).
macro_rules! sched {
    ($self:ident, $io:expr, $method:ident ( $($arg:expr),* $(,)? )) => {{
        let mut e = $crate::relay::txn::EgressCtx {
            io: $io,
            txns: &mut $self.txns,
            rng: &mut $self.rng,
            timeout: $self.cfg.transaction_timeout,
        };
        $self.sched.$method(&mut e, $($arg),*)
    }};
}

mod auth;
pub mod config;
pub mod egress;
mod forward;
mod hops;
pub mod peer;
pub mod template;
pub mod token;
mod txn;

pub use config::{ListenerRole, RelayConfig};

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};

use crate::digest::NonceMinter;
use crate::net::{Backend, ConnId, ListenerId};
use crate::rings::RingTx;
use crate::runtime::WorkerContext;
use crate::switch::{EventSink, Switch, SwitchConfig, SwitchControl, SwitchPeer};
use crate::wire::{Continuation, FrameHead, Parser, RandomSource};
use crate::worker::{CloseCause, Io, Service};
use egress::{Scheduler, StreamKey};
use template::Template;
use token::{TokenInfo, TokenSealer};

/// Messages from the control plane (and the worker's helper threads).
pub enum RelayControl {
    /// A next-hop name was resolved (or not).
    Resolved {
        /// Lower-case host name.
        host: String,
        /// Its address, `None` when resolution failed.
        addr: Option<std::net::IpAddr>,
    },
    /// Asks for the relay's counters.
    Stats(std::sync::mpsc::Sender<RelayStats>),
    /// For the chat switch sharing this service (RFC 7701, `crate::switch`).
    Switch(SwitchControl),
    /// Asks for the live tokens (authenticated relay sessions) of the worker.
    Tokens(std::sync::mpsc::Sender<Vec<TokenSummary>>),
    /// Graceful stop, first step: close the listeners (connections already accepted go on);
    /// the control plane then watches [`RelayStats::pending_transactions`] and
    /// [`RelayStats::in_frame`] fall to zero.
    Drain,
    /// Graceful stop, at the drain deadline: fail every transaction still waiting for its
    /// next hop as if its timer had fired (408 REPORT or response to its source, RFC 4976
    /// §6.4.1), so that senders learn the outcome before the connections close.
    Abandon,
}

/// Messages between relay workers.
pub enum RelayPeer {
    /// A stream arrives for a token this worker owns.
    Start {
        /// The inbound stream.
        key: StreamKey,
        /// The token it is addressed to.
        token: TokenInfo,
        /// The request, already rotated for the hops before the token.
        tmpl: Box<Template>,
        /// Certificate names of the source connection when it is a relay (mutual TLS).
        src_relay: Option<peer::PeerNames>,
    },
    /// Body bytes of a stream.
    Body(StreamKey, Bytes),
    /// End-line of a stream.
    End(StreamKey, Continuation),
    /// The source of a stream died.
    Abort(StreamKey),
    /// A complete frame (response, REPORT) to write on one of the receiver's connections.
    Control(ConnId, Bytes),
    /// Stop (`true`) or resume reading from one of the receiver's connections.
    Throttle(ConnId, bool),
    /// For the chat switch sharing this service (RFC 7701, `crate::switch`).
    Switch(SwitchPeer),
}

/// Counters of one relay worker.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RelayStats {
    /// Live connections.
    pub connections: usize,
    /// Live tokens (authenticated sessions).
    pub tokens: usize,
    /// Requests forwarded.
    pub forwarded: u64,
    /// AUTH requests that succeeded.
    pub auth_ok: u64,
    /// AUTH requests refused (401 with bad credentials, 403, 423).
    pub auth_failed: u64,
    /// Requests refused with an error response or dropped.
    pub rejected: u64,
    /// Failure REPORTs generated.
    pub reports: u64,
    /// Forwarded chunks waiting for their response.
    pub pending_transactions: usize,
    /// Connections closed for protocol violations or timeouts.
    pub dropped_connections: u64,
    /// Frames (requests and responses) whose header block was parsed.
    pub frames_in: u64,
    /// Connections in the middle of a frame (streaming one through).
    pub in_frame: usize,
    /// Worker byte and connection counters.
    pub io: crate::worker::IoCounters,
    /// Worker send queues.
    pub queue: crate::worker::QueueDepth,
    /// Messages waiting in this worker's rings towards the other workers.
    pub peer_ring: usize,
    /// [`RelayControl::Drain`] was received: the listeners are closed.
    pub draining: bool,
}

/// A live relay token as the management API shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenSummary {
    /// The worker that owns it.
    pub worker: usize,
    /// The client URI that authenticated (normalised).
    pub client: String,
    /// Unix time it expires.
    pub expires: u32,
    /// Remote address of the connection it is bound to.
    pub peer: Option<SocketAddr>,
    /// Whether that connection is TLS.
    pub tls: bool,
}

/// What a relay token stands for on its owner worker.
#[derive(Debug)]
pub(crate) struct TokenEntry {
    /// The connection it is bound to.
    pub conn: ConnId,
    /// Normalised key of the client URI that authenticated (strict From-Path check).
    pub client: Bytes,
    /// Unix expiry.
    pub expires: u32,
    /// Set when the AUTH came through another relay (authenticated by its certificate): the
    /// token then belongs to that relay, on any connection to it (RFC 4976 §6.3), not to one
    /// connection.
    pub relay: Option<Box<str>>,
}

/// Inbound frame state of one connection.
enum InFrame {
    /// Between frames.
    Idle,
    /// Streaming a request to its next hop.
    Forward { key: StreamKey, remote: Option<u8> },
    /// A request handled here (AUTH), answered at its end-line.
    Local(Box<FrameHead>),
    /// A response from a next hop, handled at its end-line.
    Response(Box<FrameHead>),
    /// The rest of a rejected frame.
    Discard,
    /// A request for the chat switch, which keeps its own frame state.
    Switch,
}

/// Per-connection relay state.
pub(crate) struct RelayConn {
    /// Boxed and dropped between frames: most connections of a chat room only listen, and a
    /// parser is 640 bytes (memory per member, RFC 7701 switch).
    parser: Option<Box<Parser>>,
    frame: InFrame,
    /// TLS (`msrps`) connection.
    tls: bool,
    /// A request succeeded on it (ends the probation period).
    proven: bool,
    /// AUTH failures (closes the connection after `max_auth_failures`).
    auth_failures: u32,
    /// Refused requests while in probation.
    failures: u32,
    opened: Instant,
    last_active: Instant,
    /// Tokens bound to it (nonces), revoked when it closes.
    tokens: Vec<u64>,
    /// Next-hop pool key, for connections we opened.
    hop: Option<hops::HopKey>,
    /// The peer's certificate names, once looked at: `Some(None)` for a peer without a
    /// certificate (a client), `Some(Some(names))` for a relay.
    peer: Option<Option<peer::PeerNames>>,
}

/// A relay worker.
pub struct Relay {
    index: u8,
    cfg: Arc<RelayConfig>,
    peers: Vec<Option<RingTx<RelayPeer>>>,
    own_control: Option<RingTx<RelayControl>>,
    sealer: TokenSealer,
    nonces: NonceMinter,
    conns: HashMap<ConnId, RelayConn>,
    tokens: HashMap<u64, TokenEntry>,
    sched: Scheduler,
    txns: txn::Transactions,
    hops: hops::Hops,
    /// Streams of other workers that this worker passes on to a third one (both ends of the
    /// session use this relay and their tokens live on different workers).
    relayed: HashMap<StreamKey, u8>,
    /// Sources paused because a destination is over its high-water mark: dest -> (since when,
    /// sources).
    throttled: HashMap<ConnId, (Instant, Vec<StreamKey>)>,
    /// Destinations that stayed over their high-water mark for a whole transaction timeout:
    /// streams into them are dropped (with a 408 REPORT) instead of pausing their sources,
    /// until they drain. A source may be a relay link shared by many sessions, which a stalled
    /// receiver must not hold up for longer than that.
    stalled: HashSet<ConnId>,
    rng: Rng,
    stats: RelayStats,
    draining: bool,
    next_sweep: Instant,
    /// The RFC 7701 chat switch: its sessions share the relay's port and connections.
    pub(crate) switch: Switch,
}

/// xorshift128+ seeded from the OS: transaction ids and token nonces need unpredictability,
/// not cryptographic strength per value (tokens are also MAC-sealed).
pub(crate) struct Rng(u64, u64);

impl Rng {
    pub(crate) fn from_os() -> Rng {
        let mut b = [0u8; 16];
        let ok = getrandom(&mut b);
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let a = u64::from_le_bytes(b[..8].try_into().unwrap_or_default()) ^ if ok { 0 } else { t };
        let c = u64::from_le_bytes(b[8..].try_into().unwrap_or_default()) ^ t.rotate_left(17);
        Rng(a | 1, c | 2)
    }
}

impl RandomSource for Rng {
    fn next_u64(&mut self) -> u64 {
        let (mut s1, s0) = (self.0, self.1);
        self.0 = s0;
        s1 ^= s1 << 23;
        self.1 = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
        self.1.wrapping_add(s0)
    }
}

/// Fills `buf` from the OS random source.
pub(crate) fn getrandom(buf: &mut [u8]) -> bool {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(buf))
        .is_ok()
}

/// Seconds since the epoch.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Relay {
    /// A relay worker built by the runtime (its chat switch has default settings and reports
    /// no events).
    pub fn new(cfg: Arc<RelayConfig>, ctx: WorkerContext<RelayControl, RelayPeer>) -> Self {
        Self::with_switch(cfg, Arc::new(SwitchConfig::default()), None, ctx)
    }

    /// A relay worker with its chat switch configured and reporting to `events`.
    pub fn with_switch(
        cfg: Arc<RelayConfig>,
        switch_cfg: Arc<SwitchConfig>,
        events: Option<EventSink>,
        ctx: WorkerContext<RelayControl, RelayPeer>,
    ) -> Self {
        let sealer = TokenSealer::new(cfg.token_key);
        let nonces = NonceMinter::new(cfg.nonce_key, cfg.nonce_lifetime);
        let switch = Switch::new(ctx.index, ctx.peers.clone(), switch_cfg, events);
        Relay {
            switch,
            index: ctx.index as u8,
            peers: ctx.peers,
            own_control: Some(ctx.own_control),
            sealer,
            nonces,
            conns: HashMap::new(),
            tokens: HashMap::new(),
            sched: Scheduler::default(),
            txns: txn::Transactions::default(),
            hops: hops::Hops::default(),
            throttled: HashMap::new(),
            stalled: HashSet::new(),
            relayed: HashMap::new(),
            rng: Rng::from_os(),
            stats: RelayStats::default(),
            draining: false,
            next_sweep: Instant::now(),
            cfg,
        }
    }

    /// The chat switch of this worker.
    pub fn switch(&self) -> &Switch {
        &self.switch
    }

    /// Counters of this worker (without the worker's I/O counters: see [`Relay::stats_with`]).
    pub fn stats(&self) -> RelayStats {
        RelayStats {
            connections: self.conns.len(),
            tokens: self.tokens.len(),
            pending_transactions: self.txns.len(),
            in_frame: self
                .conns
                .values()
                .filter(|c| !matches!(c.frame, InFrame::Idle))
                .count(),
            peer_ring: self.peers.iter().flatten().map(RingTx::len).sum(),
            draining: self.draining,
            ..self.stats.clone()
        }
    }

    /// Counters of this worker with its I/O counters and send queues.
    pub fn stats_with<B: Backend>(&self, io: &Io<B>) -> RelayStats {
        RelayStats {
            io: io.counters(),
            queue: io.queue_depth(),
            ..self.stats()
        }
    }

    fn new_conn(&self, now: Instant, tls: bool, inbound: bool) -> RelayConn {
        RelayConn {
            parser: None,
            frame: InFrame::Idle,
            tls,
            proven: !inbound,
            auth_failures: 0,
            failures: 0,
            opened: now,
            last_active: now,
            tokens: Vec::new(),
            hop: None,
            peer: None,
        }
    }

    /// The certificate names of the peer of `conn` when it presented one (a relay), read once.
    pub(crate) fn peer_relay<B: Backend>(
        &mut self,
        io: &Io<B>,
        conn: ConnId,
    ) -> Option<peer::PeerNames> {
        let c = self.conns.get_mut(&conn)?;
        if let Some(p) = &c.peer {
            return p.clone();
        }
        if !c.tls || io.tls_handshaking(conn) {
            return None;
        }
        let names = io
            .peer_certificates(conn)
            .and_then(|chain| chain.first())
            .map(|leaf| peer::dns_names(leaf))
            .filter(|n| !n.is_empty())
            .map(peer::PeerNames::from);
        c.peer = Some(names.clone());
        names
    }

    fn key(&self, conn: ConnId) -> StreamKey {
        StreamKey {
            worker: self.index,
            conn,
        }
    }

    /// Drops a connection for a protocol violation (RFC 4976 §6.2 and friends).
    fn drop_conn<B: Backend>(&mut self, io: &mut Io<B>, conn: ConnId) {
        self.stats.dropped_connections += 1;
        io.close(conn);
    }

    fn revoke_tokens(&mut self, c: &RelayConn) {
        for n in &c.tokens {
            self.tokens.remove(n);
        }
    }
}

impl Service for Relay {
    type Control = RelayControl;
    type Peer = RelayPeer;

    fn on_accept<B: Backend>(
        &mut self,
        io: &mut Io<B>,
        conn: ConnId,
        listener: ListenerId,
        _peer: SocketAddr,
    ) {
        if self.conns.len() >= self.cfg.max_connections {
            io.close(conn);
            return;
        }
        let tls = self
            .cfg
            .listeners
            .get(listener.0 as usize)
            .is_some_and(|l| l.tls);
        if tls {
            let Some(server) = self.cfg.tls_server.clone() else {
                io.close(conn);
                return;
            };
            match rustls::ServerConnection::new(server) {
                Ok(s) => io.start_tls(conn, s.into()),
                Err(_) => {
                    io.close(conn);
                    return;
                }
            }
        }
        let c = self.new_conn(io.now(), tls, true);
        self.conns.insert(conn, c);
    }

    fn on_connected<B: Backend>(&mut self, io: &mut Io<B>, conn: ConnId, ok: bool) {
        // Chat switch: connections of active sessions.
        self.switch.on_connected(io, conn, ok);
        if !ok {
            self.connection_gone(io, conn);
        }
    }

    fn on_data<B: Backend>(&mut self, io: &mut Io<B>, conn: ConnId, buf: &mut BytesMut) {
        self.read_frames(io, conn, buf);
    }

    fn on_closed<B: Backend>(&mut self, io: &mut Io<B>, conn: ConnId, _cause: CloseCause) {
        self.connection_gone(io, conn);
    }

    fn on_drained<B: Backend>(&mut self, io: &mut Io<B>, conn: ConnId) {
        // Chat switch: congestion notices (RFC 7701 §6.4).
        self.switch.on_drained(io, conn);
        self.stalled.remove(&conn);
        if let Some((_, srcs)) = self.throttled.remove(&conn) {
            for k in srcs {
                self.throttle(io, k, false);
            }
        }
    }

    fn on_control<B: Backend>(&mut self, io: &mut Io<B>, msg: RelayControl) {
        match msg {
            RelayControl::Resolved { host, addr } => self.resolved(io, &host, addr),
            RelayControl::Stats(tx) => {
                let _ = tx.send(self.stats_with(io));
            }
            RelayControl::Tokens(tx) => {
                let list = self
                    .tokens
                    .values()
                    .map(|e| TokenSummary {
                        worker: self.index as usize,
                        client: String::from_utf8_lossy(&e.client).into_owned(),
                        expires: e.expires,
                        peer: io.addrs(e.conn).map(|(_, p)| p),
                        tls: self.conns.get(&e.conn).is_some_and(|c| c.tls),
                    })
                    .collect();
                let _ = tx.send(list);
            }
            RelayControl::Drain => {
                self.draining = true;
                for i in 0..self.cfg.listeners.len() {
                    io.close_listener(ListenerId(i as u32));
                }
            }
            RelayControl::Abandon => {
                // Far enough ahead that every transaction's timer has fired.
                let later = io.now() + Duration::from_secs(365 * 86_400);
                self.expire_transactions(io, later);
            }
            RelayControl::Switch(m) => {
                self.switch.on_control(io, m);
                self.adopt_switch_conns(io);
            }
        }
    }

    fn on_peer<B: Backend>(&mut self, io: &mut Io<B>, msg: RelayPeer) {
        match msg {
            RelayPeer::Start {
                key,
                token,
                tmpl,
                src_relay,
            } => {
                let t = (*tmpl).clone();
                match self.route_token(io, key, token, *tmpl, src_relay.as_deref()) {
                    Ok(None) => {}
                    Ok(Some(w)) => {
                        self.relayed.insert(key, w);
                    }
                    Err(code) => self.fail_stream(io, key, &t, code),
                }
            }
            RelayPeer::Body(key, b) => {
                if let Some(&w) = self.relayed.get(&key) {
                    return self.send_peer(io, w, RelayPeer::Body(key, b));
                }
                sched!(self, io, body(key, b));
                self.check_pressure(io, key);
            }
            RelayPeer::End(key, flag) => {
                if let Some(w) = self.relayed.remove(&key) {
                    return self.send_peer(io, w, RelayPeer::End(key, flag));
                }
                sched!(self, io, end(key, flag));
            }
            RelayPeer::Abort(key) => {
                if let Some(w) = self.relayed.remove(&key) {
                    return self.send_peer(io, w, RelayPeer::Abort(key));
                }
                self.hops.unpark(key);
                sched!(self, io, abort(key));
            }
            RelayPeer::Control(conn, frame) => self.write_control(io, conn, frame),
            RelayPeer::Throttle(conn, on) => {
                if on {
                    io.pause_read(conn);
                } else {
                    io.resume_read(conn);
                }
            }
            RelayPeer::Switch(m) => self.switch.on_peer(io, m),
        }
    }

    fn on_tick<B: Backend>(&mut self, io: &mut Io<B>) -> Option<Instant> {
        let now = io.now();
        self.expire_transactions(io, now);
        if now >= self.next_sweep {
            self.sweep(io, now);
            self.next_sweep = now + Duration::from_secs(1);
        }
        let next = self.txns.next_deadline();
        // Chat switch timers (chunk reception, NICKNAME verdicts).
        let sw = self.switch.on_tick(io);
        let next = next.map_or(self.next_sweep, |d| d.min(self.next_sweep));
        Some(next.min(sw))
    }

    fn end_of_pass<B: Backend>(&mut self, io: &mut Io<B>) {
        // Chat switch: chunks waiting for room in another worker's ring.
        self.switch.end_of_pass(io);
    }
}

impl Relay {
    /// Closes connections past probation or idle for too long, forgets expired tokens, and
    /// declares destinations stalled that stayed over their high-water mark for a whole
    /// transaction timeout (RFC 4976 §6.4.1: a hop has that long to take a chunk).
    fn sweep<B: Backend>(&mut self, io: &mut Io<B>, now: Instant) {
        let limit = self.cfg.transaction_timeout;
        let over: Vec<ConnId> = self
            .throttled
            .iter()
            .filter(|(_, (since, _))| now.duration_since(*since) >= limit)
            .map(|(d, _)| *d)
            .collect();
        for dest in over {
            let Some((_, srcs)) = self.throttled.remove(&dest) else {
                continue;
            };
            self.stalled.insert(dest);
            for key in srcs {
                self.drop_stalled_stream(io, key, dest);
                self.throttle(io, key, false);
            }
        }
        let probation = self.cfg.probation;
        let idle = self.cfg.idle_timeout;
        let doomed: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| {
                (!c.proven && now.duration_since(c.opened) >= probation)
                    || (now.duration_since(c.last_active) >= idle
                        && matches!(c.frame, InFrame::Idle))
            })
            // Chat switch members may only listen for hours.
            .filter(|(id, _)| !self.switch.owns(**id))
            .map(|(id, _)| *id)
            .collect();
        for id in doomed {
            self.drop_conn(io, id);
        }
        let t = unix_now() as u32;
        self.tokens.retain(|_, e| e.expires > t);
    }

    /// A connection went away: revoke its tokens, end what it was sending, fail what was
    /// being sent to it.
    fn connection_gone<B: Backend>(&mut self, io: &mut Io<B>, conn: ConnId) {
        // Chat switch: its sessions on the connection have failed.
        self.switch.conn_closed(io, conn);
        let Some(c) = self.conns.remove(&conn) else {
            return;
        };
        self.revoke_tokens(&c);
        if let Some(h) = &c.hop {
            self.hops.forget(h, conn);
        }
        if let InFrame::Forward { key, remote } = c.frame {
            match remote {
                Some(w) => self.send_peer(io, w, RelayPeer::Abort(key)),
                None => {
                    self.hops.unpark(key);
                    sched!(self, io, abort(key));
                }
            }
        }
        // Sources paused for this destination would otherwise stay paused for good.
        self.stalled.remove(&conn);
        if let Some((_, srcs)) = self.throttled.remove(&conn) {
            for k in srcs {
                self.throttle(io, k, false);
            }
        }
        for (key, tmpl) in self.sched.dest_closed(conn) {
            self.fail_stream(io, key, &tmpl, 481);
        }
        for t in self.txns.conn_closed(conn) {
            self.transaction_failed(io, t, 408);
        }
    }

    fn send_peer<B: Backend>(&mut self, io: &mut Io<B>, worker: u8, msg: RelayPeer) {
        let Some(Some(tx)) = self.peers.get(worker as usize) else {
            return;
        };
        // A full ring means the peer is far behind. Losing a stream piece would corrupt a
        // frame, so the source is failed instead.
        if let Err(
            RelayPeer::Body(key, _) | RelayPeer::End(key, _) | RelayPeer::Start { key, .. },
        ) = tx.push(msg)
        {
            if key.worker == self.index {
                self.drop_conn(io, key.conn);
            }
        }
    }

    /// Writes a complete frame on `conn` (which may belong to another worker).
    fn control_to<B: Backend>(&mut self, io: &mut Io<B>, key: StreamKey, frame: Bytes) {
        if key.worker == self.index {
            self.write_control(io, key.conn, frame);
        } else {
            self.send_peer(io, key.worker, RelayPeer::Control(key.conn, frame));
        }
    }

    fn write_control<B: Backend>(&mut self, io: &mut Io<B>, conn: ConnId, frame: Bytes) {
        if io.is_open(conn) {
            sched!(self, io, control(conn, frame));
        }
    }

    /// Pauses or resumes the source of a stream.
    fn throttle<B: Backend>(&mut self, io: &mut Io<B>, key: StreamKey, on: bool) {
        if key.worker == self.index {
            if on {
                io.pause_read(key.conn);
            } else {
                io.resume_read(key.conn);
            }
        } else {
            self.send_peer(io, key.worker, RelayPeer::Throttle(key.conn, on));
        }
    }

    /// Drops the stream of `key` into the stalled `dest`: a chunk in progress is ended with `#`
    /// (its transaction then times out into a 408 REPORT), a stream that never got going is
    /// reported at once. Later body bytes of the frame are discarded.
    fn drop_stalled_stream<B: Backend>(&mut self, io: &mut Io<B>, key: StreamKey, dest: ConnId) {
        let Some(s) = self.sched.stream(&key) else {
            return;
        };
        if s.dest != Some(dest) {
            return;
        }
        let report = (!s.in_chunk()).then(|| s.tmpl.clone());
        self.stats.rejected += 1;
        sched!(self, io, abort(key));
        if let Some(tmpl) = report {
            self.fail_stream(io, key, &tmpl, 408);
        }
    }

    /// Keeps per-connection state for connections the chat switch opened (active sessions).
    fn adopt_switch_conns<B: Backend>(&mut self, io: &mut Io<B>) {
        for (conn, tls) in self.switch.take_opened() {
            let c = self.new_conn(io.now(), tls, false);
            self.conns.insert(conn, c);
        }
    }

    /// Applies backpressure when the destination of `key`'s stream has too much queued, or the
    /// stream itself has too much waiting.
    fn check_pressure<B: Backend>(&mut self, io: &mut Io<B>, key: StreamKey) {
        let Some(s) = self.sched.stream(&key) else {
            return;
        };
        let Some(dest) = s.dest else { return };
        if io.queued(dest) + s.pending_len > self.cfg.high_water {
            if self.stalled.contains(&dest) {
                self.drop_stalled_stream(io, key, dest);
                return;
            }
            let now = io.now();
            let (_, list) = self.throttled.entry(dest).or_insert((now, Vec::new()));
            if !list.contains(&key) {
                list.push(key);
                io.notify_drained(dest);
                self.throttle(io, key, true);
            }
        }
    }
}

#[cfg(test)]
mod tests;
