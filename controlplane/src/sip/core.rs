//! The SIP core: everything between "a message arrived on a flow" and "send these bytes on
//! these flows". Registrar (with digest auth), first-hop edge proxy (flow tokens in Path and
//! Record-Route, 403/430), authoritative proxy to registered users (one target per instance,
//! next flow on 430/408/transport failure), stateless ACK routing, CANCEL, and the application
//! hook. Synchronous and socket-free: transports call [`Core::on_message`], [`Core::tick`] and
//! [`Core::flow_closed`] and deliver what comes back. Transaction state is sharded by
//! branch so that unrelated requests never share a lock.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, SocketAddr, UdpSocket as StdUdp};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use dataplane::digest::{self, Challenge, CredentialStore, Credentials, NonceMinter, Verdict};
use tokio::sync::oneshot;

use super::app::{IncomingRequest, SipApp, SipHandle};
use super::flow::{host_port, FlowKey, FlowTokens, TokenError, TransportKind};
use super::location::{instance_key, Binding, LocationService};
use super::registrar::{register, RegisterInput, RegistrarPolicy};
use super::transaction::{
    client_key, response_client_key, server_key, Output, RequestDisposition, TimerConfig,
    TransactionLayer, TxKey,
};
use super::wire::{
    response_to, rewrite, Builder, Edit, Framing, HeaderName, Limits, Message, Method, NameAddr,
    Uri,
};

/// Core settings.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Domains we are registrar and proxy for.
    pub domains: Vec<String>,
    /// Digest realm.
    pub realm: String,
    /// Challenge REGISTER (401) when a credential store is configured.
    pub auth_register: bool,
    /// Challenge dialog-forming requests from our users (407).
    pub auth_invite: bool,
    /// Registrar rules.
    pub policy: RegistrarPolicy,
    /// Transaction timers.
    pub timers: TimerConfig,
    /// Parser limits.
    pub limits: Limits,
    /// Nonce lifetime.
    pub nonce_lifetime: Duration,
    /// Number of transaction shards.
    pub shards: usize,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            domains: vec!["localhost".into()],
            realm: "localhost".into(),
            auth_register: true,
            auth_invite: false,
            policy: RegistrarPolicy::default(),
            timers: TimerConfig::default(),
            limits: Limits::default(),
            nonce_lifetime: Duration::from_secs(300),
            shards: 16,
        }
    }
}

/// The outgoing queue of one stream connection: other tasks push, the connection's task
/// drains. Allocates nothing while empty (a registered, idle flow costs a few words), unlike a
/// channel whose first block is allocated up front.
#[derive(Debug, Default)]
pub struct FlowQueue {
    q: Mutex<VecDeque<Bytes>>,
    notify: tokio::sync::Notify,
    limit: usize,
}

impl FlowQueue {
    /// A queue refusing pushes beyond `limit` messages.
    pub fn new(limit: usize) -> FlowQueue {
        FlowQueue {
            q: Mutex::new(VecDeque::new()),
            notify: tokio::sync::Notify::new(),
            limit: limit.max(1),
        }
    }
    /// Queues bytes; false when full.
    pub fn push(&self, b: Bytes) -> bool {
        let mut q = lock(&self.q);
        if q.len() >= self.limit {
            return false;
        }
        q.push_back(b);
        drop(q);
        self.notify.notify_one();
        true
    }
    /// Takes everything queued (and frees the queue's memory).
    pub fn take(&self) -> VecDeque<Bytes> {
        std::mem::take(&mut *lock(&self.q))
    }
    /// Resolves when something was pushed since the last call.
    pub async fn wait(&self) {
        self.notify.notified().await
    }
}

/// How bytes reach a flow.
#[derive(Debug, Clone)]
pub enum FlowSender {
    /// A connection task's queue.
    Stream(Arc<FlowQueue>),
}

/// The live flows: stream connections by flow key, UDP sockets by local address.
#[derive(Debug, Default)]
pub struct FlowTable {
    streams: Vec<Mutex<HashMap<FlowKey, FlowSender>>>,
    /// (transport, remote) → flow, to reuse a connection to a URI's address (RFC 5626 §4.3).
    by_remote: Vec<Mutex<HashMap<(TransportKind, SocketAddr), FlowKey>>>,
    udp: Mutex<HashMap<SocketAddr, Arc<StdUdp>>>,
}

fn hash_of<T: Hash>(t: &T) -> u64 {
    let mut h = DefaultHasher::new();
    t.hash(&mut h);
    h.finish()
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl FlowTable {
    fn new() -> FlowTable {
        FlowTable {
            streams: (0..32).map(|_| Mutex::new(HashMap::new())).collect(),
            by_remote: (0..32).map(|_| Mutex::new(HashMap::new())).collect(),
            udp: Mutex::new(HashMap::new()),
        }
    }
    fn shard(&self, k: &FlowKey) -> &Mutex<HashMap<FlowKey, FlowSender>> {
        &self.streams[(hash_of(k) as usize) % self.streams.len()]
    }
    /// Registers a stream flow.
    pub fn insert(&self, k: FlowKey, s: FlowSender) {
        lock(self.shard(&k)).insert(k, s);
        lock(self.remote_shard(k.transport, k.remote)).insert((k.transport, k.remote), k);
    }
    /// Forgets a stream flow.
    pub fn remove(&self, k: &FlowKey) {
        lock(self.shard(k)).remove(k);
        let mut r = lock(self.remote_shard(k.transport, k.remote));
        if r.get(&(k.transport, k.remote)) == Some(k) {
            r.remove(&(k.transport, k.remote));
        }
    }
    fn remote_shard(
        &self,
        t: TransportKind,
        remote: SocketAddr,
    ) -> &Mutex<HashMap<(TransportKind, SocketAddr), FlowKey>> {
        &self.by_remote[(hash_of(&(t, remote)) as usize) % self.by_remote.len()]
    }
    /// Registers a UDP socket (a std socket clone used for sending).
    pub fn add_udp(&self, local: SocketAddr, s: Arc<StdUdp>) {
        lock(&self.udp).insert(local, s);
    }
    /// True if the flow can carry bytes now.
    pub fn alive(&self, k: &FlowKey) -> bool {
        match k.transport {
            TransportKind::Udp => lock(&self.udp).contains_key(&k.local),
            _ => lock(self.shard(k)).contains_key(k),
        }
    }
    /// Number of stream flows.
    pub fn stream_count(&self) -> usize {
        self.streams.iter().map(|s| lock(s).len()).sum()
    }
    /// An existing stream flow to this remote address, or a UDP flow from a socket of ours.
    pub fn find(&self, transport: TransportKind, remote: SocketAddr) -> Option<FlowKey> {
        match transport {
            TransportKind::Udp => {
                let u = lock(&self.udp);
                u.keys()
                    .find(|l| l.is_ipv4() == remote.is_ipv4())
                    .map(|l| FlowKey {
                        transport,
                        local: *l,
                        remote,
                    })
            }
            _ => lock(self.remote_shard(transport, remote))
                .get(&(transport, remote))
                .copied(),
        }
    }
    /// Sends bytes on a flow; false if it is gone or congested.
    pub fn send(&self, k: &FlowKey, data: Bytes) -> bool {
        match k.transport {
            TransportKind::Udp => {
                let s = lock(&self.udp).get(&k.local).cloned();
                match s {
                    Some(s) => s.send_to(&data, k.remote).is_ok(),
                    None => false,
                }
            }
            _ => {
                let s = lock(self.shard(k)).get(k).cloned();
                match s {
                    Some(FlowSender::Stream(q)) => q.push(data),
                    None => false,
                }
            }
        }
    }
}

/// One hop a proxied request may take.
#[derive(Debug, Clone)]
struct Hop {
    flow: FlowKey,
    ruri: Option<String>,
    routes: Vec<String>,
}

#[derive(Debug)]
struct ProxyCtx {
    src: FlowKey,
    req: Message,
    pops: usize,
    dialog_forming: bool,
    groups: VecDeque<VecDeque<Hop>>,
    current: Option<(TxKey, FlowKey)>,
    best: Option<(u16, Option<Message>)>,
    cancelled: bool,
    finished: bool,
    /// When a final response went upstream (the context lingers for 2xx retransmissions).
    done_at: Option<Instant>,
}

#[derive(Debug)]
struct TxShard {
    layer: TransactionLayer<FlowKey>,
    proxies: HashMap<TxKey, ProxyCtx>,
    by_branch: HashMap<TxKey, TxKey>,
    app_waiters: HashMap<TxKey, oneshot::Sender<Option<Message>>>,
    /// INVITEs handed to the application and not yet answered finally (for CANCEL).
    app_invites: HashMap<TxKey, (Message, FlowKey)>,
}

type Out = Vec<(FlowKey, Bytes)>;

/// The core. Shared (`Arc`) by every transport task.
pub struct Core {
    cfg: CoreConfig,
    tokens: FlowTokens,
    location: Arc<dyn LocationService>,
    creds: Option<Arc<dyn CredentialStore>>,
    nonces: NonceMinter,
    /// Live flows.
    pub flows: FlowTable,
    /// Requests, responses and keepalives, for the management API.
    pub counters: super::counters::SipCounters,
    shards: Vec<Mutex<TxShard>>,
    app: Mutex<Option<Arc<dyn SipApp>>>,
    seq: AtomicU64,
    entropy: u64,
    mono_base: Instant,
    wall_base: u64,
    local_ips: Mutex<Vec<IpAddr>>,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

fn first_sip_uri_host_is(uri: &Uri<'_>, local: &dyn Fn(&str, Option<u16>) -> bool) -> bool {
    uri.is_sip() && local(uri.host, uri.port)
}

impl Core {
    /// A core with secrets from `rand`.
    pub fn new(
        cfg: CoreConfig,
        location: Arc<dyn LocationService>,
        creds: Option<Arc<dyn CredentialStore>>,
    ) -> Arc<Core> {
        let token_key: [u8; 20] = rand::random();
        let nonce_key: [u8; 32] = rand::random();
        let shards = cfg.shards.max(1);
        Arc::new(Core {
            tokens: FlowTokens::new(token_key),
            nonces: NonceMinter::new(nonce_key, cfg.nonce_lifetime.as_secs()),
            location,
            creds,
            flows: FlowTable::new(),
            counters: Default::default(),
            shards: (0..shards)
                .map(|_| {
                    Mutex::new(TxShard {
                        layer: TransactionLayer::new(cfg.timers),
                        proxies: HashMap::new(),
                        by_branch: HashMap::new(),
                        app_waiters: HashMap::new(),
                        app_invites: HashMap::new(),
                    })
                })
                .collect(),
            cfg,
            app: Mutex::new(None),
            seq: AtomicU64::new(1),
            entropy: rand::random::<u64>() & 0xffff_ffff,
            mono_base: Instant::now(),
            wall_base: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            local_ips: Mutex::new(Vec::new()),
        })
    }

    /// Installs the application hook.
    pub fn set_app(&self, app: Arc<dyn SipApp>) {
        *lock(&self.app) = Some(app);
    }

    /// Records one of our listening IPs (requests for it are local).
    pub fn add_local_ip(&self, ip: IpAddr) {
        let mut l = lock(&self.local_ips);
        if !l.contains(&ip) {
            l.push(ip);
        }
    }

    /// The location service.
    pub fn location(&self) -> &Arc<dyn LocationService> {
        &self.location
    }

    /// The flow token codec.
    pub fn tokens(&self) -> &FlowTokens {
        &self.tokens
    }

    /// A new unique tag.
    pub fn new_tag(&self) -> String {
        format!(
            "{:x}{:x}",
            self.entropy,
            self.seq.fetch_add(1, Ordering::Relaxed)
        )
    }

    fn new_branch(&self, shard: usize) -> String {
        format!(
            "z9hG4bK-{shard:x}-{:x}{:x}",
            self.entropy,
            self.seq.fetch_add(1, Ordering::Relaxed)
        )
    }

    fn wall(&self, now: Instant) -> u64 {
        self.wall_base + now.saturating_duration_since(self.mono_base).as_secs()
    }

    fn is_local_host(&self, host: &str, _port: Option<u16>) -> bool {
        if self
            .cfg
            .domains
            .iter()
            .any(|d| d.eq_ignore_ascii_case(host))
        {
            return true;
        }
        let h = host.trim_start_matches('[').trim_end_matches(']');
        match h.parse::<IpAddr>() {
            Ok(ip) => lock(&self.local_ips).contains(&ip),
            Err(_) => false,
        }
    }

    /// Server transactions are sharded by Call-ID: an INVITE, its retransmissions, its CANCEL
    /// and the ACK of its 2xx (which has a branch of its own, RFC 3261 §17.1.1.3) all land on
    /// the shard holding its transaction.
    fn shard_for_request(&self, msg: &Message) -> usize {
        let n = self.shards.len();
        msg.call_id().map_or(0, |cid| (hash_of(&cid) as usize) % n)
    }

    fn shard_for_branch(&self, branch: &str) -> Option<usize> {
        let rest = branch.strip_prefix("z9hG4bK-")?;
        let idx = rest.split('-').next()?;
        usize::from_str_radix(idx, 16)
            .ok()
            .filter(|i| *i < self.shards.len())
    }

    fn our_via(&self, flow: &FlowKey, branch: &str) -> String {
        format!(
            "SIP/2.0/{} {};branch={branch};rport",
            flow.transport.token(),
            host_port(flow.local)
        )
    }

    /// Our URI carrying the flow token of `flow` (Path or Record-Route).
    pub fn token_uri(&self, flow: &FlowKey, ob: bool) -> String {
        format!(
            "<sip:{}@{};transport={};lr{}>",
            self.tokens.encode(flow),
            host_port(flow.local),
            flow.transport.param(),
            if ob { ";ob" } else { "" }
        )
    }

    fn local_response(
        &self,
        req: &Message,
        code: u16,
        headers: &[(&str, String)],
        src: &FlowKey,
    ) -> Bytes {
        let tag = (code > 100).then(|| self.new_tag());
        let mut b = response_to(req, code, None, tag.as_deref(), Some(src.remote));
        for (n, v) in headers {
            b.header(n, v);
        }
        b.finish(None, b"")
    }

    // ---------------------------------------------------------------- entry points

    /// A parsed message arrived on `src`. Returns what to send where.
    pub fn on_message(self: &Arc<Self>, msg: Message, src: FlowKey, now: Instant) -> Out {
        let mut out = Vec::new();
        if msg.is_request() {
            self.counters.request_in(msg.method());
            self.on_request(msg, src, now, &mut out);
        } else {
            if let Some(code) = msg.status() {
                self.counters.response_in(code);
            }
            self.on_response(msg, now, &mut out);
        }
        out
    }

    /// Drives timers; call every few milliseconds.
    pub fn tick(self: &Arc<Self>, now: Instant) -> Out {
        let mut out = Vec::new();
        for i in 0..self.shards.len() {
            let mut sh = lock(&self.shards[i]);
            if sh.layer.poll_timeout().is_some_and(|t| t <= now) {
                sh.layer.handle_timeout(now);
                self.drain(&mut sh, i, now, &mut out);
            }
            // Forget proxy contexts long finished (kept for 2xx retransmissions).
            let linger = self.cfg.timers.t1 * 64;
            let dead: Vec<TxKey> = sh
                .proxies
                .iter()
                .filter(|(_, c)| {
                    c.done_at
                        .is_some_and(|d| now.saturating_duration_since(d) > linger)
                })
                .map(|(k, _)| k.clone())
                .collect();
            for k in dead {
                sh.proxies.remove(&k);
                sh.by_branch.retain(|_, v| *v != k);
            }
        }
        out
    }

    /// Removes expired bindings.
    pub fn purge(&self, now: Instant) -> usize {
        self.location.purge_expired(now)
    }

    /// A stream flow ended: forget it, invalidate bindings using it (RFC 5626 §7), and fail
    /// over pending client transactions that used it.
    pub fn flow_closed(self: &Arc<Self>, flow: &FlowKey, now: Instant) -> Out {
        self.flows.remove(flow);
        self.location.remove_flow(flow);
        let mut out = Vec::new();
        for i in 0..self.shards.len() {
            let mut sh = lock(&self.shards[i]);
            let keys: Vec<TxKey> = sh
                .proxies
                .values()
                .filter_map(|c| {
                    c.current
                        .as_ref()
                        .filter(|(_, f)| f == flow)
                        .map(|(k, _)| k.clone())
                })
                .collect();
            if keys.is_empty() {
                continue;
            }
            for k in keys {
                sh.layer.transport_error(&k);
            }
            self.drain(&mut sh, i, now, &mut out);
        }
        out
    }

    /// Sends what a core call returned; returns the bytes meant for `own` (the caller's own
    /// connection, written inline by it).
    pub fn deliver(&self, out: Out, own: Option<&FlowKey>) -> Vec<Bytes> {
        let mut mine = Vec::new();
        for (k, d) in out {
            self.counters.sent(&d);
            if Some(&k) == own {
                mine.push(d);
            } else {
                self.flows.send(&k, d);
            }
        }
        mine
    }

    // ---------------------------------------------------------------- requests

    fn on_request(self: &Arc<Self>, msg: Message, src: FlowKey, now: Instant, out: &mut Out) {
        let method = msg.method().unwrap_or(Method::Other);
        if let Err(e) = msg.validate() {
            if method != Method::Ack {
                let r =
                    response_to(&msg, e.status(), None, None, Some(src.remote)).finish(None, b"");
                out.push((src, r));
            }
            return;
        }
        // REGISTER over a stream needs no transaction state (Timer J = 0, no retransmissions).
        if method == Method::Register && src.transport.is_reliable() {
            let (code, r) = self.handle_register(&msg, &src, now);
            let _ = code;
            out.push((src, r));
            return;
        }
        let shard = self.shard_for_request(&msg);
        let disp = {
            let mut sh = lock(&self.shards[shard]);
            let d = sh
                .layer
                .on_request(&msg, src, src.transport.is_reliable(), now);
            self.drain(&mut sh, shard, now, out);
            d
        };
        let key = match disp {
            RequestDisposition::New(k) => k,
            RequestDisposition::Retransmission | RequestDisposition::AckAbsorbed => return,
            RequestDisposition::AckForTu => {
                self.route_ack(msg, src, now, out);
                return;
            }
            RequestDisposition::Invalid => {
                let r = response_to(&msg, 400, None, None, Some(src.remote)).finish(None, b"");
                out.push((src, r));
                return;
            }
        };
        self.dispatch(msg, key, shard, src, now, out);
    }

    fn respond(
        &self,
        shard: usize,
        key: &str,
        code: u16,
        data: Bytes,
        now: Instant,
        out: &mut Out,
    ) {
        let mut sh = lock(&self.shards[shard]);
        sh.layer.respond(key, code, data, now);
        self.drain(&mut sh, shard, now, out);
    }

    #[allow(clippy::too_many_arguments)]
    fn reply(
        &self,
        msg: &Message,
        shard: usize,
        key: &str,
        code: u16,
        headers: &[(&str, String)],
        src: &FlowKey,
        now: Instant,
        out: &mut Out,
    ) {
        let r = self.local_response(msg, code, headers, src);
        self.respond(shard, key, code, r, now, out);
    }

    fn dispatch(
        self: &Arc<Self>,
        msg: Message,
        key: TxKey,
        shard: usize,
        src: FlowKey,
        now: Instant,
        out: &mut Out,
    ) {
        let method = msg.method().unwrap_or(Method::Other);
        if msg.max_forwards() == Some(0) {
            self.reply(&msg, shard, &key, 483, &[], &src, now, out);
            return;
        }
        if method == Method::Cancel {
            self.handle_cancel(&msg, &key, shard, &src, now, out);
            return;
        }
        if method == Method::Invite {
            // Quench retransmissions while we look for the target.
            self.reply(&msg, shard, &key, 100, &[], &src, now, out);
        }

        // Route: pop our own entries; a flow token that is not the source's flow means the
        // request goes to that flow (RFC 5626 §5.3).
        let routes: Vec<String> = msg.list(HeaderName::Route).map(str::to_string).collect();
        let mut pops = 0;
        let is_local = |h: &str, p: Option<u16>| self.is_local_host(h, p);
        for r in &routes {
            let Ok(na) = NameAddr::parse(r) else { break };
            if !first_sip_uri_host_is(&na.uri, &is_local) {
                break;
            }
            pops += 1;
            let Some(user) = na.uri.user else { continue };
            match self.tokens.decode(user) {
                Ok(flow) if flow == src => continue,
                Ok(flow) => {
                    if !self.flows.alive(&flow) {
                        self.reply(&msg, shard, &key, 430, &[], &src, now, out);
                        return;
                    }
                    let hop = Hop {
                        flow,
                        ruri: None,
                        routes: Vec::new(),
                    };
                    self.start_proxy(msg, key, shard, src, pops, vec![vec![hop]], now, out);
                    return;
                }
                Err(TokenError::Tampered) => {
                    self.reply(&msg, shard, &key, 403, &[], &src, now, out);
                    return;
                }
                Err(TokenError::Malformed) => continue,
            }
        }
        if pops < routes.len() {
            // A foreign next hop: we only reach it over an existing flow or UDP.
            match NameAddr::parse(&routes[pops])
                .ok()
                .and_then(|na| self.resolve(&na.uri))
            {
                Some(flow) => {
                    let hop = Hop {
                        flow,
                        ruri: None,
                        routes: Vec::new(),
                    };
                    self.start_proxy(msg, key, shard, src, pops, vec![vec![hop]], now, out);
                }
                None => self.reply(&msg, shard, &key, 404, &[], &src, now, out),
            }
            return;
        }

        let ruri_text = msg.request_uri().to_string();
        let Ok(ruri) = Uri::parse(&ruri_text) else {
            self.reply(&msg, shard, &key, 416, &[], &src, now, out);
            return;
        };
        if !(ruri.is_sip() && self.is_local_host(ruri.host, ruri.port)) {
            match self.resolve(&ruri) {
                Some(flow) => {
                    let hop = Hop {
                        flow,
                        ruri: None,
                        routes: Vec::new(),
                    };
                    self.start_proxy(msg, key, shard, src, pops, vec![vec![hop]], now, out);
                }
                None => self.reply(&msg, shard, &key, 404, &[], &src, now, out),
            }
            return;
        }
        if method == Method::Register {
            let (code, r) = self.handle_register(&msg, &src, now);
            self.respond(shard, &key, code, r, now, out);
            return;
        }
        if ruri.user.is_none() {
            let code = if method == Method::Options { 200 } else { 404 };
            let hdrs = [
                (
                    "Allow",
                    "INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE, SUBSCRIBE, NOTIFY, REGISTER"
                        .to_string(),
                ),
                ("Supported", "outbound, path".to_string()),
            ];
            self.reply(&msg, shard, &key, code, &hdrs, &src, now, out);
            return;
        }
        let app = lock(&self.app).clone();
        if let Some(app) = app {
            if app.is_local_target(&ruri) {
                if method == Method::Invite {
                    lock(&self.shards[shard])
                        .app_invites
                        .insert(key.clone(), (msg.clone(), src));
                }
                let req = IncomingRequest {
                    msg,
                    tx: Some(key),
                    source: src,
                };
                app.on_request(req, SipHandle { core: self.clone() });
                return;
            }
        }
        if self.cfg.auth_invite && self.creds.is_some() && method == Method::Invite {
            if let Some((code, hdr)) = self.check_proxy_auth(&msg, now) {
                self.reply(&msg, shard, &key, code, &[hdr], &src, now, out);
                return;
            }
        }
        let aor = ruri.aor();
        let bindings = self.location.lookup(&aor, now);
        let groups = self.target_groups(bindings);
        if groups.is_empty() {
            self.reply(&msg, shard, &key, 480, &[], &src, now, out);
            return;
        }
        self.start_proxy(msg, key, shard, src, pops, groups, now, out);
    }

    /// Turns bindings into target groups: one group per instance (its flows newest first),
    /// and one group per binding without instance (RFC 5626 §7).
    fn target_groups(&self, mut bindings: Vec<Binding>) -> Vec<Vec<Hop>> {
        bindings.sort_by_key(|b| std::cmp::Reverse(b.updated));
        let mut order: Vec<Option<String>> = Vec::new();
        let mut groups: HashMap<Option<String>, Vec<Hop>> = HashMap::new();
        for (i, b) in bindings.iter().enumerate() {
            let gk = match &b.instance {
                Some(inst) => Some(instance_key(inst)),
                None => Some(format!("#{i}")),
            };
            let Some(hop) = self.hop_for_binding(b) else {
                continue;
            };
            if !groups.contains_key(&gk) {
                order.push(gk.clone());
            }
            groups.entry(gk).or_default().push(hop);
        }
        order
            .into_iter()
            .filter_map(|k| groups.remove(&k))
            .collect()
    }

    fn hop_for_binding(&self, b: &Binding) -> Option<Hop> {
        let mut routes = b.path.clone();
        // Our own Path entry names the flow: use it and drop it from the Route set.
        if let Some(first) = routes.first() {
            if let Ok(na) = NameAddr::parse(first) {
                if first_sip_uri_host_is(&na.uri, &|h, p| self.is_local_host(h, p)) {
                    if let Some(Ok(flow)) = na.uri.user.map(|u| self.tokens.decode(u)) {
                        routes.remove(0);
                        return Some(Hop {
                            flow,
                            ruri: Some(b.uri.clone()),
                            routes,
                        });
                    }
                }
            }
        }
        let flow = match (routes.first(), b.flow) {
            (None, Some(f)) if self.flows.alive(&f) => f,
            (Some(r), _) => self.resolve(&NameAddr::parse(r).ok()?.uri)?,
            (None, _) => self.resolve(&Uri::parse(&b.uri).ok()?)?,
        };
        Some(Hop {
            flow,
            ruri: Some(b.uri.clone()),
            routes,
        })
    }

    /// Finds a flow for a URI with an IP literal host: an existing stream flow to it, or UDP.
    fn resolve(&self, uri: &Uri<'_>) -> Option<FlowKey> {
        if !uri.is_sip() {
            return None;
        }
        let ip: IpAddr = uri
            .host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .ok()?;
        let sips = uri.scheme.eq_ignore_ascii_case("sips");
        let transport = match uri.transport().and_then(TransportKind::parse) {
            Some(t) => t,
            None if sips => TransportKind::Tls,
            None => TransportKind::Udp,
        };
        let port = uri.port.unwrap_or(if transport == TransportKind::Tls {
            5061
        } else {
            5060
        });
        self.flows.find(transport, SocketAddr::new(ip, port))
    }

    #[allow(clippy::too_many_arguments)]
    fn start_proxy(
        self: &Arc<Self>,
        msg: Message,
        key: TxKey,
        shard: usize,
        src: FlowKey,
        pops: usize,
        groups: Vec<Vec<Hop>>,
        now: Instant,
        out: &mut Out,
    ) {
        let method = msg.method().unwrap_or(Method::Other);
        let dialog_forming = matches!(method, Method::Invite | Method::Subscribe | Method::Refer)
            && msg.to_hdr().map(|t| t.tag().is_none()).unwrap_or(false);
        let ctx = ProxyCtx {
            src,
            req: msg,
            pops,
            dialog_forming,
            groups: groups.into_iter().map(VecDeque::from).collect(),
            current: None,
            best: None,
            cancelled: false,
            finished: false,
            done_at: None,
        };
        let mut sh = lock(&self.shards[shard]);
        sh.proxies.insert(key.clone(), ctx);
        self.next_hop(&mut sh, shard, &key, now, out);
        self.drain(&mut sh, shard, now, out);
    }

    /// Sends the proxied request to the next usable hop, or answers upstream when none is
    /// left. `same_group` keeps to the current instance (after a 430/408).
    fn next_hop(&self, sh: &mut TxShard, shard: usize, key: &str, now: Instant, out: &mut Out) {
        loop {
            let Some(ctx) = sh.proxies.get_mut(key) else {
                return;
            };
            if ctx.finished {
                return;
            }
            if ctx.cancelled {
                // Whatever the cancelled branch answered (normally 487) goes upstream.
                self.finish_best(sh, shard, key, now, out);
                return;
            }
            let hop = loop {
                match ctx.groups.front_mut() {
                    None => break None,
                    Some(g) => match g.pop_front() {
                        Some(h) => break Some(h),
                        None => {
                            ctx.groups.pop_front();
                        }
                    },
                }
            };
            let Some(hop) = hop else {
                self.finish_best(sh, shard, key, now, out);
                return;
            };
            if !self.flows.alive(&hop.flow) {
                if ctx.best.is_none() {
                    ctx.best = Some((430, None));
                }
                continue;
            }
            let branch = self.new_branch(shard);
            let mut prepend: Vec<(&str, String)> = vec![("Via", self.our_via(&hop.flow, &branch))];
            if ctx.dialog_forming {
                // Double Record-Route: the callee-side entry names the callee's flow, the
                // caller-side one the caller's, so in-dialog requests find both flows.
                prepend.push((
                    "Record-Route",
                    format!(
                        "{}, {}",
                        self.token_uri(&hop.flow, false),
                        self.token_uri(&ctx.src, false)
                    ),
                ));
            }
            for r in &hop.routes {
                prepend.push(("Route", r.clone()));
            }
            let edit = Edit {
                request_uri: hop.ruri.as_deref(),
                prepend,
                pop_routes: ctx.pops,
                decrement_max_forwards: true,
                ..Edit::default()
            };
            let bytes = rewrite(&ctx.req, &edit);
            let Ok(fwd) = Message::parse(bytes, Framing::Datagram, &self.cfg.limits) else {
                self.finish_with(sh, shard, key, 500, now, out);
                return;
            };
            let method = ctx.req.method_text().to_string();
            let ck = client_key(&branch, &method);
            ctx.current = Some((ck.clone(), hop.flow));
            sh.by_branch.insert(ck.clone(), key.to_string());
            sh.layer
                .send_request(ck, fwd, hop.flow, hop.flow.transport.is_reliable(), now);
            return;
        }
    }

    fn finish_with(
        &self,
        sh: &mut TxShard,
        _shard: usize,
        key: &str,
        code: u16,
        now: Instant,
        _out: &mut Out,
    ) {
        let Some(ctx) = sh.proxies.get_mut(key) else {
            return;
        };
        ctx.finished = true;
        ctx.done_at = Some(now);
        let tag = self.new_tag();
        let r =
            response_to(&ctx.req, code, None, Some(&tag), Some(ctx.src.remote)).finish(None, b"");
        sh.layer.forward_response(key, code, r, now);
    }

    fn finish_best(&self, sh: &mut TxShard, shard: usize, key: &str, now: Instant, out: &mut Out) {
        let Some(ctx) = sh.proxies.get_mut(key) else {
            return;
        };
        match ctx.best.take() {
            Some((code, Some(m))) if code != 430 && code != 408 => {
                ctx.finished = true;
                ctx.done_at = Some(now);
                let r = rewrite(
                    &m,
                    &Edit {
                        pop_via: true,
                        ..Edit::default()
                    },
                );
                sh.layer.forward_response(key, code, r, now);
            }
            // Our choice (fact sheet §6): a 430 is not passed upstream; 480 instead.
            Some((408, _)) => self.finish_with(sh, shard, key, 408, now, out),
            _ => self.finish_with(sh, shard, key, 480, now, out),
        }
    }

    fn handle_cancel(
        self: &Arc<Self>,
        msg: &Message,
        key: &str,
        shard: usize,
        src: &FlowKey,
        now: Instant,
        out: &mut Out,
    ) {
        let Some(invite_key) = server_key(msg).map(|k| {
            let base = k.rsplit_once('|').map(|(b, _)| b.to_string()).unwrap_or(k);
            format!("{base}|INVITE")
        }) else {
            return;
        };
        let mut sh = lock(&self.shards[shard]);
        let pending = sh
            .proxies
            .get(&invite_key)
            .and_then(|c| (!c.finished).then(|| c.current.clone()));
        let Some(current) = pending else {
            // An INVITE the application is still handling: answer CANCEL 200 and the INVITE
            // 487 here, and tell the application (its later answer finds no transaction).
            if let Some((invite, isrc)) = sh.app_invites.remove(&invite_key) {
                let ok = self.local_response(msg, 200, &[], src);
                sh.layer.respond(key, 200, ok, now);
                let tag = self.new_tag();
                let r487 = response_to(&invite, 487, None, Some(&tag), Some(isrc.remote))
                    .finish(None, b"");
                sh.layer.respond(&invite_key, 487, r487, now);
                self.drain(&mut sh, shard, now, out);
                drop(sh);
                if let Some(app) = lock(&self.app).clone() {
                    let req = IncomingRequest {
                        msg: msg.clone(),
                        tx: None,
                        source: *src,
                    };
                    app.on_request(req, SipHandle { core: self.clone() });
                }
                return;
            }
            drop(sh);
            self.reply(msg, shard, key, 481, &[], src, now, out);
            return;
        };
        let r = self.local_response(msg, 200, &[], src);
        sh.layer.respond(key, 200, r, now);
        if let Some(ctx) = sh.proxies.get_mut(&invite_key) {
            ctx.cancelled = true;
        }
        if let Some((ck, flow)) = current {
            if let Some((req, _)) = sh.layer.client_request(&ck) {
                let cancel = build_cancel(req);
                if let Ok(m) = Message::parse(cancel, Framing::Datagram, &self.cfg.limits) {
                    let branch = m
                        .top_via()
                        .ok()
                        .and_then(|v| v.branch())
                        .unwrap_or("")
                        .to_string();
                    let cck = client_key(&branch, "CANCEL");
                    sh.layer
                        .send_request(cck, m, flow, flow.transport.is_reliable(), now);
                }
            }
        }
        self.drain(&mut sh, shard, now, out);
    }

    fn route_ack(self: &Arc<Self>, msg: Message, src: FlowKey, now: Instant, out: &mut Out) {
        let _ = now;
        // ACK for a 2xx: stateless, by Route (our tokens) or Request-URI.
        let routes: Vec<String> = msg.list(HeaderName::Route).map(str::to_string).collect();
        let mut pops = 0;
        let mut target = None;
        for r in &routes {
            let Ok(na) = NameAddr::parse(r) else { break };
            if !first_sip_uri_host_is(&na.uri, &|h, p| self.is_local_host(h, p)) {
                target = self.resolve(&na.uri);
                break;
            }
            pops += 1;
            if let Some(Ok(flow)) = na.uri.user.map(|u| self.tokens.decode(u)) {
                if flow != src {
                    target = Some(flow);
                    break;
                }
            }
        }
        if target.is_none() && pops == routes.len() {
            let app = lock(&self.app).clone();
            let ruri_text = msg.request_uri().to_string();
            if let Ok(ruri) = Uri::parse(&ruri_text) {
                if self.is_local_host(ruri.host, ruri.port) {
                    if let Some(app) = app {
                        if app.is_local_target(&ruri) {
                            // The app sees the ACK for its 2xx (it has no transaction).
                            let req = IncomingRequest {
                                msg,
                                tx: None,
                                source: src,
                            };
                            app.on_request(req, SipHandle { core: self.clone() });
                        }
                    }
                    return;
                }
                target = self.resolve(&ruri);
            }
        }
        let Some(flow) = target else { return };
        let branch = self.new_branch(0);
        let edit = Edit {
            prepend: vec![("Via", self.our_via(&flow, &branch))],
            pop_routes: pops,
            decrement_max_forwards: true,
            ..Edit::default()
        };
        out.push((flow, rewrite(&msg, &edit)));
    }

    // ---------------------------------------------------------------- responses

    fn on_response(&self, msg: Message, now: Instant, out: &mut Out) {
        let Ok(via) = msg.top_via() else { return };
        let Some(branch) = via.branch() else { return };
        let Some(shard) = self.shard_for_branch(branch) else {
            return;
        };
        let mut sh = lock(&self.shards[shard]);
        let ck = response_client_key(&msg);
        if sh.layer.on_response(msg.clone(), now) {
            self.drain(&mut sh, shard, now, out);
            return;
        }
        // A 2xx retransmission after the INVITE client transaction ended: forward upstream.
        if let (Some(ck), Some(code)) = (ck, msg.status()) {
            if (200..300).contains(&code) {
                if let Some(sk) = sh.by_branch.get(&ck) {
                    if let Some(ctx) = sh.proxies.get(sk) {
                        let r = rewrite(
                            &msg,
                            &Edit {
                                pop_via: true,
                                ..Edit::default()
                            },
                        );
                        out.push((ctx.src, r));
                    }
                }
            }
        }
    }

    /// Processes layer outputs (sends, responses for proxied requests, timeouts).
    fn drain(&self, sh: &mut TxShard, shard: usize, now: Instant, out: &mut Out) {
        while let Some(o) = sh.layer.poll_output() {
            match o {
                Output::Send { dest, data } => out.push((dest, data)),
                Output::Response { key, msg } => {
                    self.proxy_response(sh, shard, &key, Some(msg), now, out)
                }
                Output::ClientTimeout { key } => {
                    self.proxy_response(sh, shard, &key, None, now, out)
                }
                Output::ServerAckTimeout { .. } => {}
            }
        }
    }

    fn proxy_response(
        &self,
        sh: &mut TxShard,
        shard: usize,
        ck: &str,
        msg: Option<Message>,
        now: Instant,
        out: &mut Out,
    ) {
        if let Some(w) = sh.app_waiters.remove(ck) {
            match &msg {
                Some(m) if m.status().is_some_and(|c| c < 200) => {
                    sh.app_waiters.insert(ck.to_string(), w);
                }
                _ => {
                    let _ = w.send(msg);
                }
            }
            return;
        }
        let Some(sk) = sh.by_branch.get(ck).cloned() else {
            return;
        };
        let Some(ctx) = sh.proxies.get_mut(&sk) else {
            return;
        };
        if ctx.current.as_ref().map(|(k, _)| k.as_str()) != Some(ck) {
            // A late response from an abandoned branch (e.g. CANCEL's 200).
            return;
        }
        let code = msg.as_ref().and_then(|m| m.status()).unwrap_or(408);
        if code == 100 {
            return;
        }
        if code < 300 {
            if code >= 200 {
                ctx.finished = true;
                ctx.done_at = Some(now);
            }
            if let Some(m) = msg {
                let r = rewrite(
                    &m,
                    &Edit {
                        pop_via: true,
                        ..Edit::default()
                    },
                );
                sh.layer.forward_response(&sk, code, r, now);
            }
            return;
        }
        ctx.current = None;
        if (code == 430 || code == 408) && !ctx.cancelled {
            // Same instance, next flow (RFC 5626 §7).
            if ctx.best.is_none() {
                ctx.best = Some((code, None));
            }
            self.next_hop(sh, shard, &sk, now, out);
            return;
        }
        // Any other final response: no other flow of this instance; next instance.
        let better = match &ctx.best {
            None => true,
            Some((b, _)) => *b == 430 || *b == 408 || code >= 600 || (*b < 600 && code < *b),
        };
        if better {
            ctx.best = Some((code, msg));
        }
        if code >= 600 || ctx.cancelled {
            ctx.groups.clear();
        } else {
            ctx.groups.pop_front();
        }
        self.next_hop(sh, shard, &sk, now, out);
    }

    // ---------------------------------------------------------------- registrar and auth

    fn handle_register(&self, msg: &Message, src: &FlowKey, now: Instant) -> (u16, Bytes) {
        let Ok(to) = msg.to_hdr() else {
            return (400, self.local_response(msg, 400, &[], src));
        };
        if !to.uri.is_sip()
            || to.uri.user.is_none()
            || !self.is_local_host(to.uri.host, to.uri.port)
        {
            return (404, self.local_response(msg, 404, &[], src));
        }
        let aor = to.uri.aor();
        if self.cfg.auth_register {
            if let Some(store) = &self.creds {
                let user = super::wire::uri::unescape(to.uri.user.unwrap_or("")).into_owned();
                if let Some((code, hdr)) =
                    self.check_auth(msg, store.as_ref(), &user, HeaderName::Authorization, now)
                {
                    return (code, self.local_response(msg, code, &[hdr], src));
                }
            }
        }
        let edge_path = || self.token_uri(src, true);
        let input = RegisterInput {
            aor: &aor,
            source: *src,
            edge_path: &edge_path,
            now,
        };
        let reply = register(msg, &input, &self.cfg.policy, self.location.as_ref());
        let hdrs: Vec<(&str, String)> =
            reply.headers.iter().map(|(n, v)| (*n, v.clone())).collect();
        (reply.code, self.local_response(msg, reply.code, &hdrs, src))
    }

    fn challenge(&self, stale: bool, now: Instant) -> String {
        Challenge {
            realm: self.cfg.realm.clone(),
            nonce: self.nonces.mint(
                &self.cfg.realm,
                self.wall(now),
                self.seq.fetch_add(1, Ordering::Relaxed),
            ),
            opaque: None,
            algorithm: digest::Algorithm::Md5,
            qop_auth: true,
            stale,
        }
        .render()
    }

    /// `None` when authorised; otherwise the status and the challenge header.
    fn check_auth(
        &self,
        msg: &Message,
        store: &dyn CredentialStore,
        user: &str,
        header: HeaderName,
        now: Instant,
    ) -> Option<(u16, (&'static str, String))> {
        let (code, hname) = if header == HeaderName::Authorization {
            (401, "WWW-Authenticate")
        } else {
            (407, "Proxy-Authenticate")
        };
        let mut stale = false;
        for v in msg.values(header) {
            let Ok(c) = Credentials::parse(v) else {
                continue;
            };
            if c.realm != self.cfg.realm {
                continue;
            }
            match digest::verify(
                &c,
                msg.method_text(),
                &self.cfg.realm,
                store,
                &self.nonces,
                self.wall(now),
            ) {
                Verdict::Ok if c.username == user => return None,
                Verdict::Ok => {
                    return Some((403, ("Warning", "399 - \"user does not match\"".into())))
                }
                Verdict::Stale => stale = true,
                Verdict::Rejected => {}
            }
        }
        Some((code, (hname, self.challenge(stale, now))))
    }

    fn check_proxy_auth(
        &self,
        msg: &Message,
        now: Instant,
    ) -> Option<(u16, (&'static str, String))> {
        let from = msg.from_hdr().ok()?;
        if !self.is_local_host(from.uri.host, from.uri.port) || msg.to_hdr().ok()?.tag().is_some() {
            return None;
        }
        let user = super::wire::uri::unescape(from.uri.user.unwrap_or("")).into_owned();
        let store = self.creds.as_ref()?;
        self.check_auth(
            msg,
            store.as_ref(),
            &user,
            HeaderName::ProxyAuthorization,
            now,
        )
    }

    // ---------------------------------------------------------------- application side

    pub(crate) fn app_respond(&self, req: &IncomingRequest, code: u16, response: Bytes) {
        let Some(key) = &req.tx else { return };
        let shard = self.shard_for_request(&req.msg);
        let mut out = Vec::new();
        if code >= 200 {
            lock(&self.shards[shard]).app_invites.remove(key);
        }
        self.respond(shard, key, code, response, Instant::now(), &mut out);
        self.deliver(out, None);
    }

    pub(crate) fn app_send_request(
        &self,
        request: Bytes,
        flow: FlowKey,
    ) -> oneshot::Receiver<Option<Message>> {
        let (tx, rx) = oneshot::channel();
        let Ok(m) = Message::parse(request, Framing::Datagram, &self.cfg.limits) else {
            let _ = tx.send(None);
            return rx;
        };
        let shard = (self.seq.load(Ordering::Relaxed) as usize) % self.shards.len();
        let branch = self.new_branch(shard);
        let bytes = rewrite(
            &m,
            &Edit {
                prepend: vec![("Via", self.our_via(&flow, &branch))],
                ..Edit::default()
            },
        );
        let Ok(m) = Message::parse(bytes, Framing::Datagram, &self.cfg.limits) else {
            let _ = tx.send(None);
            return rx;
        };
        let ck = client_key(&branch, m.method_text());
        let now = Instant::now();
        let mut out = Vec::new();
        {
            let mut sh = lock(&self.shards[shard]);
            sh.app_waiters.insert(ck.clone(), tx);
            if !self.flows.alive(&flow) {
                if let Some(w) = sh.app_waiters.remove(&ck) {
                    let _ = w.send(None);
                }
                return rx;
            }
            sh.layer
                .send_request(ck, m, flow, flow.transport.is_reliable(), now);
            self.drain(&mut sh, shard, now, &mut out);
        }
        self.deliver(out, None);
        rx
    }
}

/// CANCEL for a pending INVITE (RFC 3261 §9.1): same Request-URI, top Via, From, To, Call-ID,
/// CSeq number and Route.
pub fn build_cancel(invite: &Message) -> Bytes {
    let mut b = Builder::request("CANCEL", invite.request_uri());
    if let Some(v) = invite.list(HeaderName::Via).next() {
        b.header("Via", v);
    }
    for h in invite.headers() {
        if matches!(
            h.name,
            HeaderName::From | HeaderName::To | HeaderName::CallId | HeaderName::Route
        ) {
            b.raw_line(invite.text(h.line));
        }
    }
    let seq = invite.cseq().map(|c| c.seq).unwrap_or(0);
    b.header_fmt("CSeq", format_args!("{seq} CANCEL"));
    b.header("Max-Forwards", "70");
    b.finish(None, b"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fk(t: TransportKind, remote: &str) -> FlowKey {
        FlowKey {
            transport: t,
            local: "127.0.0.1:5060".parse().unwrap(),
            remote: remote.parse().unwrap(),
        }
    }

    #[test]
    fn flow_table_finds_by_remote_and_forgets() {
        let t = FlowTable::new();
        let a = fk(TransportKind::Tcp, "192.0.2.1:4000");
        let q = Arc::new(FlowQueue::new(2));
        t.insert(a, FlowSender::Stream(q.clone()));
        assert!(t.alive(&a));
        assert_eq!(t.find(TransportKind::Tcp, a.remote), Some(a));
        assert_eq!(t.find(TransportKind::Tls, a.remote), None);
        assert!(t.send(&a, Bytes::from_static(b"1")));
        assert!(t.send(&a, Bytes::from_static(b"2")));
        assert!(!t.send(&a, Bytes::from_static(b"3")), "queue limit");
        assert_eq!(q.take().len(), 2);
        t.remove(&a);
        assert!(!t.alive(&a));
        assert_eq!(t.find(TransportKind::Tcp, a.remote), None);
        assert!(!t.send(&a, Bytes::from_static(b"x")));
        // No UDP socket registered: UDP flows are not alive.
        assert!(!t.alive(&fk(TransportKind::Udp, "192.0.2.1:4000")));
    }

    #[test]
    fn cancel_is_built_from_the_invite() {
        let inv = Message::parse(
            Bytes::from_static(
                b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP 1.2.3.4;branch=z9hG4bKx\r\n\
Route: <sip:r@1.2.3.5;lr>\r\nFrom: <sip:c@d>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: k\r\n\
CSeq: 7 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            ),
            Framing::Stream,
            &Limits::default(),
        )
        .unwrap();
        let c = Message::parse(build_cancel(&inv), Framing::Stream, &Limits::default()).unwrap();
        c.validate().unwrap();
        assert_eq!(c.method(), Some(Method::Cancel));
        assert_eq!(c.request_uri(), "sip:a@b");
        assert_eq!(c.top_via().unwrap().branch(), Some("z9hG4bKx"));
        assert_eq!(c.cseq().unwrap().seq, 7);
        assert_eq!(c.list(HeaderName::Route).count(), 1);
    }
}
