//! RFC 3261 §17 transaction layer as a sans-IO state machine: client and server, INVITE and
//! non-INVITE, with timers A–K (T1/T2/T4), retransmissions over unreliable transports, ACK
//! generation for non-2xx INVITE responses, absorption of retransmitted requests, and 2xx
//! retransmission for INVITE server transactions until the ACK arrives (what RFC 6026 moves into
//! the transaction layer). Inputs are parsed messages and `now`; outputs are sends, events and
//! the next deadline. Generic over the destination type `D` (a flow or a transport address).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::wire::{Builder, HeaderName, Message, Method};

/// RFC 3261 timer base values.
#[derive(Debug, Clone, Copy)]
pub struct TimerConfig {
    /// RTT estimate (default 500 ms).
    pub t1: Duration,
    /// Maximum retransmit interval for non-INVITE requests and INVITE responses (default 4 s).
    pub t2: Duration,
    /// Maximum duration a message remains in the network (default 5 s).
    pub t4: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

/// Transaction key (RFC 3261 §17.1.3 / §17.2.3): branch, sent-by and method (ACK folds into
/// INVITE), or a fallback built from dialog identifiers for pre-RFC 3261 branches.
pub type TxKey = String;

/// Builds the server transaction key of a request.
pub fn server_key(msg: &Message) -> Option<TxKey> {
    let via = msg.top_via().ok()?;
    let method = match msg.method()? {
        Method::Ack => "INVITE",
        _ => msg.method_text(),
    };
    let sent_by = via.host;
    let port = via.port.unwrap_or(0);
    match via.branch() {
        Some(b) if b.starts_with("z9hG4bK") => Some(format!("{b}|{sent_by}:{port}|{method}")),
        _ => {
            let cseq = msg.cseq().ok()?;
            let from_tag = msg.from_hdr().ok()?.tag().unwrap_or("");
            Some(format!(
                "old|{}|{}|{from_tag}|{}|{method}",
                msg.call_id()?,
                cseq.seq,
                via.raw
            ))
        }
    }
}

/// Builds the client transaction key from a branch and the CSeq method.
pub fn client_key(branch: &str, method: &str) -> TxKey {
    let method = if method == "ACK" { "INVITE" } else { method };
    format!("{branch}|{method}")
}

/// The client key a response belongs to.
pub fn response_client_key(msg: &Message) -> Option<TxKey> {
    let via = msg.top_via().ok()?;
    let cseq = msg.cseq().ok()?;
    Some(client_key(via.branch()?, cseq.method))
}

/// What the layer asks its owner to do.
#[derive(Debug)]
pub enum Output<D> {
    /// Send these bytes to this destination.
    Send {
        /// Where.
        dest: D,
        /// What.
        data: Bytes,
    },
    /// A response for a client transaction, to hand to the TU.
    Response {
        /// Client transaction.
        key: TxKey,
        /// The response.
        msg: Message,
    },
    /// Timer B/F fired or the transport failed: the TU treats it as a 408.
    ClientTimeout {
        /// Client transaction.
        key: TxKey,
    },
    /// Timer H fired: no ACK for a final INVITE response.
    ServerAckTimeout {
        /// Server transaction.
        key: TxKey,
    },
}

/// How a received request relates to existing transactions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestDisposition {
    /// A new request: a server transaction now exists under this key; pass it to the TU.
    New(TxKey),
    /// A retransmission: absorbed (the last response, if any, was queued again).
    Retransmission,
    /// An ACK matching an INVITE server transaction's final response: absorbed.
    AckAbsorbed,
    /// An ACK that matches no transaction (ACK for 2xx): the TU routes it.
    AckForTu,
    /// The request cannot be keyed (no Via/branch): reject statelessly.
    Invalid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServerState {
    Proceeding,
    Completed,
    /// 2xx sent to an INVITE; retransmitted until ACK (timer G-like, give up at H).
    Accepted,
    Confirmed,
}

#[derive(Debug)]
struct ServerTx<D> {
    invite: bool,
    reliable: bool,
    state: ServerState,
    dest: D,
    last_response: Option<Bytes>,
    interval: Duration,
    generation: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientState {
    Trying,
    Proceeding,
    Completed,
}

#[derive(Debug)]
struct ClientTx<D> {
    invite: bool,
    reliable: bool,
    state: ClientState,
    dest: D,
    request: Message,
    interval: Duration,
    generation: u32,
    ack: Option<Bytes>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKind {
    /// A/E (client retransmit), G (server response retransmit).
    Retransmit,
    /// B/F (client timeout), H (server wait for ACK).
    Timeout,
    /// D/K (client completed), I/J (server completed/confirmed).
    Linger,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct TimerEntry {
    at: Instant,
    server: bool,
    kind: TimerKind,
    generation: u32,
    key: TxKey,
}

/// The transaction layer state for one shard.
#[derive(Debug)]
pub struct TransactionLayer<D> {
    cfg: TimerConfig,
    server: HashMap<TxKey, ServerTx<D>>,
    client: HashMap<TxKey, ClientTx<D>>,
    timers: BinaryHeap<Reverse<TimerEntry>>,
    out: VecDeque<Output<D>>,
    /// (Call-ID, CSeq) of INVITE server transactions that sent a 2xx, for ACK matching.
    accepted: HashMap<(String, u32), TxKey>,
}

impl<D: Clone> TransactionLayer<D> {
    /// An empty layer.
    pub fn new(cfg: TimerConfig) -> Self {
        TransactionLayer {
            cfg,
            server: HashMap::new(),
            client: HashMap::new(),
            timers: BinaryHeap::new(),
            out: VecDeque::new(),
            accepted: HashMap::new(),
        }
    }

    /// Number of live server and client transactions.
    pub fn len(&self) -> (usize, usize) {
        (self.server.len(), self.client.len())
    }

    fn arm(&mut self, at: Instant, server: bool, kind: TimerKind, generation: u32, key: &str) {
        self.timers.push(Reverse(TimerEntry {
            at,
            server,
            kind,
            generation,
            key: key.to_string(),
        }));
    }

    /// Classifies an incoming request and creates a server transaction for new ones.
    pub fn on_request(
        &mut self,
        msg: &Message,
        dest: D,
        reliable: bool,
        now: Instant,
    ) -> RequestDisposition {
        let Some(key) = server_key(msg) else {
            return RequestDisposition::Invalid;
        };
        let is_ack = msg.method() == Some(Method::Ack);
        if let Some(tx) = self.server.get_mut(&key) {
            if is_ack {
                if tx.invite && matches!(tx.state, ServerState::Completed | ServerState::Accepted) {
                    let was_accepted = tx.state == ServerState::Accepted;
                    tx.state = ServerState::Confirmed;
                    tx.generation += 1;
                    let g = tx.generation;
                    if was_accepted || tx.reliable {
                        self.server.remove(&key);
                    } else {
                        let at = now + self.cfg.t4;
                        self.arm(at, true, TimerKind::Linger, g, &key);
                    }
                    return RequestDisposition::AckAbsorbed;
                }
                return RequestDisposition::AckAbsorbed;
            }
            if let Some(r) = &tx.last_response {
                self.out.push_back(Output::Send {
                    dest: tx.dest.clone(),
                    data: r.clone(),
                });
            }
            return RequestDisposition::Retransmission;
        }
        if is_ack {
            // ACK for a 2xx has its own branch: match it by Call-ID and CSeq to stop the
            // 2xx retransmissions, then hand it to the TU.
            if let (Some(cid), Ok(cseq)) = (msg.call_id(), msg.cseq()) {
                if let Some(k) = self.accepted.remove(&(cid.to_string(), cseq.seq)) {
                    self.server.remove(&k);
                }
            }
            return RequestDisposition::AckForTu;
        }
        let invite = msg.method() == Some(Method::Invite);
        self.server.insert(
            key.clone(),
            ServerTx {
                invite,
                reliable,
                state: ServerState::Proceeding,
                dest,
                last_response: None,
                interval: self.cfg.t1,
                generation: 0,
            },
        );
        RequestDisposition::New(key)
    }

    /// True if a server transaction exists and has not sent a final response.
    pub fn server_pending(&self, key: &str) -> bool {
        self.server
            .get(key)
            .is_some_and(|t| t.state == ServerState::Proceeding)
    }

    /// Sends a response on a server transaction as a UAS (a 2xx to INVITE is retransmitted
    /// until the ACK). Returns false if the transaction no longer exists or already sent a
    /// final response.
    pub fn respond(&mut self, key: &str, code: u16, data: Bytes, now: Instant) -> bool {
        if (200..300).contains(&code) {
            if let Some(tx) = self.server.get(key) {
                if tx.invite && tx.state == ServerState::Proceeding {
                    if let Ok(m) = Message::parse(
                        data.clone(),
                        super::wire::Framing::Datagram,
                        &Default::default(),
                    ) {
                        if let (Some(cid), Ok(cseq)) = (m.call_id(), m.cseq()) {
                            self.accepted
                                .insert((cid.to_string(), cseq.seq), key.to_string());
                        }
                    }
                }
            }
        }
        self.respond_inner(key, code, data, now)
    }

    /// Sends a response on a server transaction as a proxy: a 2xx to INVITE is sent once and
    /// ends the transaction (retransmissions of the 2xx come from the UAS and are forwarded
    /// by the proxy core, RFC 3261 §16.7 step 10 / §17.2.1).
    pub fn forward_response(&mut self, key: &str, code: u16, data: Bytes, now: Instant) -> bool {
        let is_invite = self.server.get(key).is_some_and(|t| t.invite);
        if is_invite && (200..300).contains(&code) {
            let Some(tx) = self.server.remove(key) else {
                return false;
            };
            if tx.state != ServerState::Proceeding {
                return false;
            }
            self.out.push_back(Output::Send {
                dest: tx.dest,
                data,
            });
            return true;
        }
        self.respond_inner(key, code, data, now)
    }

    fn respond_inner(&mut self, key: &str, code: u16, data: Bytes, now: Instant) -> bool {
        let cfg = self.cfg;
        let Some(tx) = self.server.get_mut(key) else {
            return false;
        };
        if tx.state != ServerState::Proceeding {
            return false;
        }
        self.out.push_back(Output::Send {
            dest: tx.dest.clone(),
            data: data.clone(),
        });
        tx.last_response = Some(data);
        if code < 200 {
            return true;
        }
        tx.generation += 1;
        let g = tx.generation;
        if tx.invite {
            tx.state = if code < 300 {
                ServerState::Accepted
            } else {
                ServerState::Completed
            };
            if !tx.reliable || code < 300 {
                // Timer G (for 2xx too: retransmit until ACK, RFC 3261 §13.3.1.4).
                let at = now + cfg.t1;
                tx.interval = cfg.t1;
                self.arm(at, true, TimerKind::Retransmit, g, key);
            }
            let at = now + cfg.t1 * 64;
            self.arm(at, true, TimerKind::Timeout, g, key);
        } else {
            tx.state = ServerState::Completed;
            if tx.reliable {
                self.server.remove(key);
            } else {
                let at = now + cfg.t1 * 64;
                self.arm(at, true, TimerKind::Linger, g, key);
            }
        }
        true
    }

    /// Starts a client transaction for `request` (already carrying its Via with `branch`).
    pub fn send_request(
        &mut self,
        key: TxKey,
        request: Message,
        dest: D,
        reliable: bool,
        now: Instant,
    ) {
        let invite = request.method() == Some(Method::Invite);
        self.out.push_back(Output::Send {
            dest: dest.clone(),
            data: request.as_bytes().clone(),
        });
        let cfg = self.cfg;
        if !reliable {
            self.arm(now + cfg.t1, false, TimerKind::Retransmit, 0, &key);
        }
        self.arm(now + cfg.t1 * 64, false, TimerKind::Timeout, 0, &key);
        self.client.insert(
            key,
            ClientTx {
                invite,
                reliable,
                state: ClientState::Trying,
                dest,
                request,
                interval: cfg.t1,
                generation: 0,
                ack: None,
            },
        );
    }

    /// The transport could not deliver for this client transaction (RFC 3261 §17.1.4).
    pub fn transport_error(&mut self, key: &str) {
        if self.client.remove(key).is_some() {
            self.out
                .push_back(Output::ClientTimeout { key: key.into() });
        }
    }

    /// Feeds a response; returns true if it matched a client transaction (it is then queued
    /// as [`Output::Response`] unless it was a retransmission).
    pub fn on_response(&mut self, msg: Message, now: Instant) -> bool {
        let Some(key) = response_client_key(&msg) else {
            return false;
        };
        let Some(code) = msg.status() else {
            return false;
        };
        let cfg = self.cfg;
        let Some(tx) = self.client.get_mut(&key) else {
            return false;
        };
        match tx.state {
            ClientState::Trying | ClientState::Proceeding => {
                if code < 200 {
                    if tx.state == ClientState::Trying && !tx.invite {
                        // Timer E continues at T2 once a provisional arrived.
                        tx.interval = cfg.t2;
                    }
                    tx.state = ClientState::Proceeding;
                    if tx.invite {
                        // Timer A stops on a provisional.
                        tx.generation += 1;
                        let g = tx.generation;
                        let at = now + cfg.t1 * 64;
                        self.arm(at, false, TimerKind::Timeout, g, &key);
                    }
                    self.out.push_back(Output::Response { key, msg });
                    return true;
                }
                tx.generation += 1;
                let g = tx.generation;
                if tx.invite && code < 300 {
                    // 2xx: the transaction ends; the TU (proxy/UA core) handles ACK.
                    self.client.remove(&key);
                } else {
                    tx.state = ClientState::Completed;
                    if tx.invite {
                        let ack = build_ack(&tx.request, &msg);
                        self.out.push_back(Output::Send {
                            dest: tx.dest.clone(),
                            data: ack.clone(),
                        });
                        tx.ack = Some(ack);
                    }
                    if tx.reliable {
                        self.client.remove(&key);
                    } else {
                        let linger = if tx.invite {
                            Duration::from_secs(32)
                        } else {
                            cfg.t4
                        };
                        self.arm(now + linger, false, TimerKind::Linger, g, &key);
                    }
                }
                self.out.push_back(Output::Response { key, msg });
                true
            }
            ClientState::Completed => {
                // A retransmitted final: resend the ACK (INVITE), absorb.
                if let Some(a) = &tx.ack {
                    self.out.push_back(Output::Send {
                        dest: tx.dest.clone(),
                        data: a.clone(),
                    });
                }
                true
            }
        }
    }

    /// The earliest pending deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse(t)| t.at)
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse(t)) = self.timers.peek() {
            if t.at > now {
                break;
            }
            let Some(Reverse(t)) = self.timers.pop() else {
                break;
            };
            if t.server {
                self.server_timer(t, now);
            } else {
                self.client_timer(t, now);
            }
        }
    }

    fn server_timer(&mut self, t: TimerEntry, now: Instant) {
        let cfg = self.cfg;
        let Some(tx) = self.server.get_mut(&t.key) else {
            return;
        };
        if tx.generation != t.generation {
            return;
        }
        match t.kind {
            TimerKind::Retransmit => {
                if matches!(tx.state, ServerState::Completed | ServerState::Accepted) {
                    if let Some(r) = &tx.last_response {
                        self.out.push_back(Output::Send {
                            dest: tx.dest.clone(),
                            data: r.clone(),
                        });
                    }
                    tx.interval = (tx.interval * 2).min(cfg.t2);
                    let at = now + tx.interval;
                    let g = tx.generation;
                    self.arm(at, true, TimerKind::Retransmit, g, &t.key);
                }
            }
            TimerKind::Timeout => {
                if matches!(tx.state, ServerState::Completed | ServerState::Accepted) {
                    self.server.remove(&t.key);
                    self.accepted.retain(|_, k| *k != t.key);
                    self.out.push_back(Output::ServerAckTimeout { key: t.key });
                }
            }
            TimerKind::Linger => {
                self.server.remove(&t.key);
            }
        }
    }

    fn client_timer(&mut self, t: TimerEntry, now: Instant) {
        let cfg = self.cfg;
        let Some(tx) = self.client.get_mut(&t.key) else {
            return;
        };
        if tx.generation != t.generation {
            return;
        }
        match t.kind {
            TimerKind::Retransmit => {
                if tx.state == ClientState::Completed {
                    return;
                }
                if tx.invite && tx.state != ClientState::Trying {
                    return;
                }
                self.out.push_back(Output::Send {
                    dest: tx.dest.clone(),
                    data: tx.request.as_bytes().clone(),
                });
                tx.interval = if tx.invite {
                    tx.interval * 2
                } else {
                    (tx.interval * 2).min(cfg.t2)
                };
                let at = now + tx.interval;
                let g = tx.generation;
                self.arm(at, false, TimerKind::Retransmit, g, &t.key);
            }
            TimerKind::Timeout => {
                if tx.state != ClientState::Completed {
                    self.client.remove(&t.key);
                    self.out.push_back(Output::ClientTimeout { key: t.key });
                }
            }
            TimerKind::Linger => {
                self.client.remove(&t.key);
            }
        }
    }

    /// The next output, if any.
    pub fn poll_output(&mut self) -> Option<Output<D>> {
        self.out.pop_front()
    }

    /// The original request of a live client transaction (to build a CANCEL).
    pub fn client_request(&self, key: &str) -> Option<(&Message, &D)> {
        self.client.get(key).map(|t| (&t.request, &t.dest))
    }

    /// True if a client transaction is still waiting for a final response.
    pub fn client_pending(&self, key: &str) -> bool {
        self.client
            .get(key)
            .is_some_and(|t| t.state != ClientState::Completed)
    }
}

/// ACK for a non-2xx final response (RFC 3261 §17.1.1.3): same Request-URI, top Via, From,
/// Call-ID, CSeq number and Route as the INVITE; To from the response.
pub fn build_ack(invite: &Message, response: &Message) -> Bytes {
    let mut b = Builder::request("ACK", invite.request_uri());
    if let Some(v) = invite.list(HeaderName::Via).next() {
        b.header("Via", v);
    }
    for h in invite.headers() {
        match h.name {
            HeaderName::From | HeaderName::CallId | HeaderName::Route => {
                b.raw_line(invite.text(h.line));
            }
            _ => {}
        }
    }
    if let Some(to) = response.value(HeaderName::To) {
        b.header("To", to);
    }
    let seq = invite.cseq().map(|c| c.seq).unwrap_or(0);
    b.header_fmt("CSeq", format_args!("{seq} ACK"));
    b.header("Max-Forwards", "70");
    b.finish(None, b"")
}

/// A new RFC 3261 branch parameter value: magic cookie plus `n` rendered in hex plus entropy.
pub fn new_branch(n: u64, entropy: u64) -> String {
    format!("z9hG4bK{n:x}.{entropy:x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::wire::{response_to, Framing, Limits};

    fn parse(b: Bytes) -> Message {
        Message::parse(b, Framing::Datagram, &Limits::default()).unwrap()
    }

    fn request(method: &str, branch: &str) -> Message {
        let s = format!(
            "{method} sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch={branch}\r\n\
From: <sip:alice@example.com>;tag=a\r\nTo: <sip:bob@example.com>\r\nCall-ID: c1\r\n\
CSeq: 1 {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        );
        parse(Bytes::from(s))
    }

    fn sends<D: Clone>(l: &mut TransactionLayer<D>) -> Vec<Bytes> {
        let mut v = Vec::new();
        while let Some(o) = l.poll_output() {
            if let Output::Send { data, .. } = o {
                v.push(data);
            }
        }
        v
    }

    fn drain<D: Clone>(l: &mut TransactionLayer<D>) -> Vec<Output<D>> {
        std::iter::from_fn(|| l.poll_output()).collect()
    }

    #[test]
    fn non_invite_server_absorbs_retransmissions_over_udp_then_times_out() {
        let mut l = TransactionLayer::<u8>::new(TimerConfig::default());
        let t0 = Instant::now();
        let req = request("OPTIONS", "z9hG4bK1");
        let RequestDisposition::New(key) = l.on_request(&req, 1, false, t0) else {
            panic!("new expected")
        };
        assert_eq!(
            l.on_request(&req, 1, false, t0),
            RequestDisposition::Retransmission
        );
        assert!(
            sends(&mut l).is_empty(),
            "nothing to resend before a response"
        );
        let resp = response_to(&req, 200, None, Some("b"), None).finish(None, b"");
        assert!(l.respond(&key, 200, resp.clone(), t0));
        assert_eq!(sends(&mut l), vec![resp.clone()]);
        assert_eq!(
            l.on_request(&req, 1, false, t0),
            RequestDisposition::Retransmission
        );
        assert_eq!(sends(&mut l), vec![resp]);
        // Timer J = 64*T1.
        l.handle_timeout(t0 + Duration::from_secs(31));
        assert_eq!(l.len().0, 1);
        l.handle_timeout(t0 + Duration::from_secs(33));
        assert_eq!(l.len().0, 0);
        assert!(matches!(
            l.on_request(&req, 1, false, t0),
            RequestDisposition::New(_)
        ));
    }

    #[test]
    fn reliable_non_invite_server_ends_at_final_response() {
        let mut l = TransactionLayer::<u8>::new(TimerConfig::default());
        let t0 = Instant::now();
        let req = request("REGISTER", "z9hG4bK2");
        let RequestDisposition::New(key) = l.on_request(&req, 1, true, t0) else {
            panic!()
        };
        assert!(l.respond(&key, 200, Bytes::from_static(b"x"), t0));
        assert_eq!(l.len(), (0, 0));
        assert!(!l.respond(&key, 200, Bytes::from_static(b"x"), t0));
    }

    #[test]
    fn invite_server_retransmits_non_2xx_until_ack_then_absorbs() {
        let mut l = TransactionLayer::<u8>::new(TimerConfig::default());
        let t0 = Instant::now();
        let inv = request("INVITE", "z9hG4bK3");
        let RequestDisposition::New(key) = l.on_request(&inv, 1, false, t0) else {
            panic!()
        };
        let resp = Bytes::from_static(b"486");
        l.respond(&key, 486, resp.clone(), t0);
        assert_eq!(sends(&mut l).len(), 1);
        // Timer G: T1, then 2*T1, capped at T2.
        l.handle_timeout(t0 + Duration::from_millis(500));
        assert_eq!(sends(&mut l), vec![resp.clone()]);
        l.handle_timeout(t0 + Duration::from_millis(1500));
        assert_eq!(sends(&mut l).len(), 1);
        let ack = request("ACK", "z9hG4bK3");
        assert_eq!(
            l.on_request(&ack, 1, false, t0),
            RequestDisposition::AckAbsorbed
        );
        l.handle_timeout(t0 + Duration::from_secs(10));
        assert!(sends(&mut l).is_empty(), "no retransmission after ACK");
        assert_eq!(l.len().0, 0, "timer I removed the transaction");
    }

    #[test]
    fn invite_server_gives_up_at_timer_h() {
        let mut l = TransactionLayer::<u8>::new(TimerConfig::default());
        let t0 = Instant::now();
        let inv = request("INVITE", "z9hG4bK4");
        let RequestDisposition::New(key) = l.on_request(&inv, 1, true, t0) else {
            panic!()
        };
        l.respond(&key, 200, Bytes::from_static(b"200"), t0);
        drain(&mut l);
        l.handle_timeout(t0 + Duration::from_secs(33));
        let out = drain(&mut l);
        assert!(out
            .iter()
            .any(|o| matches!(o, Output::ServerAckTimeout { key: k } if *k == key)));
        assert_eq!(l.len().0, 0);
    }

    #[test]
    fn uas_2xx_retransmitted_until_ack_with_new_branch() {
        let mut l = TransactionLayer::<u8>::new(TimerConfig::default());
        let t0 = Instant::now();
        let inv = request("INVITE", "z9hG4bK40");
        let RequestDisposition::New(key) = l.on_request(&inv, 1, false, t0) else {
            panic!()
        };
        let ok = response_to(&inv, 200, None, Some("t"), None).finish(None, b"");
        l.respond(&key, 200, ok.clone(), t0);
        assert_eq!(sends(&mut l), vec![ok.clone()]);
        l.handle_timeout(t0 + Duration::from_millis(500));
        assert_eq!(sends(&mut l), vec![ok]);
        let ack = request("ACK", "z9hG4bK41");
        assert_eq!(
            l.on_request(&ack, 1, false, t0),
            RequestDisposition::AckForTu
        );
        l.handle_timeout(t0 + Duration::from_secs(5));
        assert!(sends(&mut l).is_empty());
        assert_eq!(l.len().0, 0);
    }

    #[test]
    fn proxy_forwards_2xx_once() {
        let mut l = TransactionLayer::<u8>::new(TimerConfig::default());
        let t0 = Instant::now();
        let inv = request("INVITE", "z9hG4bK42");
        let RequestDisposition::New(key) = l.on_request(&inv, 1, false, t0) else {
            panic!()
        };
        assert!(l.forward_response(&key, 200, Bytes::from_static(b"ok"), t0));
        assert_eq!(sends(&mut l).len(), 1);
        l.handle_timeout(t0 + Duration::from_secs(1));
        assert!(sends(&mut l).is_empty());
        assert_eq!(l.len().0, 0);
    }

    #[test]
    fn ack_for_2xx_is_not_absorbed_without_transaction() {
        let mut l = TransactionLayer::<u8>::new(TimerConfig::default());
        let ack = request("ACK", "z9hG4bK99");
        assert_eq!(
            l.on_request(&ack, 1, false, Instant::now()),
            RequestDisposition::AckForTu
        );
    }

    #[test]
    fn non_invite_client_retransmits_and_times_out() {
        let mut l = TransactionLayer::<u8>::new(TimerConfig::default());
        let t0 = Instant::now();
        let req = request("MESSAGE", "z9hG4bK5");
        let key = client_key("z9hG4bK5", "MESSAGE");
        l.send_request(key.clone(), req.clone(), 7, false, t0);
        assert_eq!(sends(&mut l).len(), 1);
        // E: 0.5, 1.5, 3.5, 7.5 (interval capped at 4 s) ...
        let mut count = 0;
        let mut t = t0;
        let mut timeouts = 0;
        while t < t0 + Duration::from_secs(40) {
            t += Duration::from_millis(100);
            l.handle_timeout(t);
            for o in drain(&mut l) {
                match o {
                    Output::Send { .. } => count += 1,
                    Output::ClientTimeout { .. } => timeouts += 1,
                    _ => {}
                }
            }
        }
        // 64*T1 = 32 s: retransmits at 0.5,1.5,3.5,7.5,11.5,...,31.5 => 4 + 6 = 10.
        assert_eq!(count, 10);
        assert_eq!(timeouts, 1);
        assert_eq!(l.len().1, 0);
    }

    #[test]
    fn invite_client_acks_non_2xx_and_reacks_retransmissions() {
        let mut l = TransactionLayer::<u8>::new(TimerConfig::default());
        let t0 = Instant::now();
        let inv = request("INVITE", "z9hG4bK6");
        let key = client_key("z9hG4bK6", "INVITE");
        l.send_request(key.clone(), inv.clone(), 7, false, t0);
        drain(&mut l);
        let ringing = parse(response_to(&inv, 180, None, Some("x"), None).finish(None, b""));
        assert!(l.on_response(ringing, t0));
        let out = drain(&mut l);
        assert!(matches!(&out[..], [Output::Response { .. }]));
        // Timer A stopped after the provisional.
        l.handle_timeout(t0 + Duration::from_secs(2));
        assert!(drain(&mut l).is_empty());
        let busy = parse(response_to(&inv, 486, None, Some("x"), None).finish(None, b""));
        assert!(l.on_response(busy.clone(), t0));
        let out = drain(&mut l);
        let ack = out
            .iter()
            .find_map(|o| match o {
                Output::Send { data, .. } => Some(data.clone()),
                _ => None,
            })
            .expect("ACK sent");
        let ack = parse(ack);
        assert_eq!(ack.method(), Some(Method::Ack));
        assert_eq!(ack.cseq().unwrap().method, "ACK");
        assert_eq!(ack.top_via().unwrap().branch(), Some("z9hG4bK6"));
        assert_eq!(ack.to_hdr().unwrap().tag(), Some("x"));
        assert!(out.iter().any(|o| matches!(o, Output::Response { .. })));
        // Retransmitted 486: ACK again, not passed up.
        assert!(l.on_response(busy, t0));
        let out = drain(&mut l);
        assert_eq!(out.len(), 1);
        assert!(matches!(out[0], Output::Send { .. }));
        l.handle_timeout(t0 + Duration::from_secs(33));
        assert_eq!(l.len().1, 0, "timer D ended it");
    }

    #[test]
    fn invite_client_2xx_ends_transaction_and_passes_up() {
        let mut l = TransactionLayer::<u8>::new(TimerConfig::default());
        let t0 = Instant::now();
        let inv = request("INVITE", "z9hG4bK7");
        l.send_request(client_key("z9hG4bK7", "INVITE"), inv.clone(), 7, true, t0);
        drain(&mut l);
        let ok = parse(response_to(&inv, 200, None, Some("x"), None).finish(None, b""));
        assert!(l.on_response(ok, t0));
        let out = drain(&mut l);
        assert_eq!(out.len(), 1, "no ACK from the transaction for a 2xx");
        assert!(matches!(out[0], Output::Response { .. }));
        assert_eq!(l.len().1, 0);
    }

    #[test]
    fn invite_client_timer_b() {
        let mut l = TransactionLayer::<u8>::new(TimerConfig::default());
        let t0 = Instant::now();
        let inv = request("INVITE", "z9hG4bK8");
        l.send_request(client_key("z9hG4bK8", "INVITE"), inv, 7, false, t0);
        let mut sent = 0;
        let mut timeout = false;
        let mut t = t0;
        while t < t0 + Duration::from_secs(40) {
            t += Duration::from_millis(250);
            l.handle_timeout(t);
            for o in drain(&mut l) {
                match o {
                    Output::Send { .. } => sent += 1,
                    Output::ClientTimeout { .. } => timeout = true,
                    _ => {}
                }
            }
        }
        // Initial + A at 0.5,1.5,3.5,7.5,15.5,31.5 = 7 sends.
        assert_eq!(sent, 7);
        assert!(timeout);
    }

    #[test]
    fn transport_error_reports_timeout() {
        let mut l = TransactionLayer::<u8>::new(TimerConfig::default());
        let inv = request("INVITE", "z9hG4bK9");
        let key = client_key("z9hG4bK9", "INVITE");
        l.send_request(key.clone(), inv, 7, true, Instant::now());
        drain(&mut l);
        l.transport_error(&key);
        assert!(matches!(drain(&mut l)[..], [Output::ClientTimeout { .. }]));
    }
}
