//! Reading frames off a connection and deciding where they go (RFC 4976 §6.2, §6.4): checks
//! that a request is addressed to us through a token we minted and is allowed in its
//! direction, answers the previous hop, and streams the request to the next hop.

use std::net::{IpAddr, SocketAddr};

use bytes::{Bytes, BytesMut};

use super::egress::StreamKey;
use super::hops::{HopKey, Parked};
use super::peer;
use super::template::Template;
use super::token::TokenInfo;
use super::txn::{self, reason, OutTxn};
use super::{unix_now, InFrame, Relay, RelayControl, RelayPeer};
use crate::net::{Backend, ConnId};
use crate::wire::{
    Continuation, Event, FailureReport, FrameHead, Host, Ident, Method, MsrpUri, ResponseWriter,
    Scheme, StartLine, WireError,
};
use crate::worker::Io;

/// Why a request is refused, as an MSRP status code.
type Refusal = u16;

/// Failed requests without any success after which a connection in probation is closed.
const MAX_PROBATION_FAILURES: u32 = 5;

impl Relay {
    /// Parses what arrived on `conn` and acts on each frame event.
    pub(super) fn read_frames<B: Backend>(
        &mut self,
        io: &mut Io<B>,
        conn: ConnId,
        buf: &mut BytesMut,
    ) {
        loop {
            if !io.is_open(conn) {
                return;
            }
            let Some(c) = self.conns.get_mut(&conn) else {
                return;
            };
            let limits = self.cfg.parser;
            let parser = c
                .parser
                .get_or_insert_with(|| Box::new(crate::wire::Parser::new(limits)));
            let ev = match parser.poll(buf) {
                Ok(Some(ev)) => ev,
                Ok(None) => {
                    if parser.is_idle() && buf.is_empty() {
                        c.parser = None;
                    }
                    return;
                }
                Err(e) => {
                    self.parse_error(io, conn, &e);
                    if e.is_fatal() {
                        return;
                    }
                    continue;
                }
            };
            c.last_active = io.now();
            match ev {
                Event::Head(h) => self.on_head(io, conn, h),
                Event::Body(b) => self.on_body(io, conn, b),
                Event::End { flag } => self.on_end(io, conn, flag),
            }
        }
    }

    fn parse_error<B: Backend>(&mut self, io: &mut Io<B>, conn: ConnId, e: &WireError) {
        self.stats.rejected += 1;
        if e.is_fatal() {
            self.drop_conn(io, conn);
            return;
        }
        let Some(f) = e.rejected_frame() else { return };
        let Some(method) = &f.method else { return };
        if f.failure_report.as_deref() == Some(b"no") || method.as_ref() == b"REPORT" {
            return;
        }
        let (Some(from), Some(tid)) = (&f.from_path, Ident::new(&f.transaction_id)) else {
            return;
        };
        let to: &[u8] = if method.as_ref() == b"SEND" {
            from.split(|&b| b == b' ').next().unwrap_or_default()
        } else {
            from
        };
        let own = self.own_uri(io, conn);
        let mut buf = BytesMut::new();
        ResponseWriter::with_paths(
            &mut buf,
            tid,
            e.status_code(),
            Some(reason(e.status_code())),
            &[to],
            &[own.as_bytes()],
        )
        .end();
        self.write_control(io, conn, buf.freeze());
        self.note_failure(io, conn);
    }

    /// Our bare URI as seen on `conn` (scheme by TLS, host, the port the peer reached).
    pub(super) fn own_uri<B: Backend>(&self, io: &Io<B>, conn: ConnId) -> String {
        let tls = self.conns.get(&conn).is_some_and(|c| c.tls);
        let port = io.addrs(conn).map_or(0, |(l, _)| l.port());
        format!(
            "{}://{}:{};tcp",
            if tls { "msrps" } else { "msrp" },
            self.cfg.hosts[0],
            port
        )
    }

    /// Counts a refused request; a connection that never did anything right is closed.
    fn note_failure<B: Backend>(&mut self, io: &mut Io<B>, conn: ConnId) {
        if let Some(c) = self.conns.get_mut(&conn) {
            if !c.proven {
                c.failures += 1;
                if c.failures >= MAX_PROBATION_FAILURES {
                    self.drop_conn(io, conn);
                }
            }
        }
    }

    fn on_head<B: Backend>(&mut self, io: &mut Io<B>, conn: ConnId, head: FrameHead) {
        self.stats.frames_in += 1;
        let frame = match head.start_line() {
            StartLine::Response(_) => InFrame::Response(Box::new(head)),
            StartLine::Request(method) => self.on_request(io, conn, head, method),
        };
        if let Some(c) = self.conns.get_mut(&conn) {
            c.frame = frame;
        }
    }

    fn on_request<B: Backend>(
        &mut self,
        io: &mut Io<B>,
        conn: ConnId,
        head: FrameHead,
        method: Method,
    ) -> InFrame {
        // Chat switch (RFC 7701): its sessions share this port; connections carrying relay
        // tokens or next hops stay the relay's.
        let relay_free = self
            .conns
            .get(&conn)
            .is_some_and(|c| c.tokens.is_empty() && c.hop.is_none());
        if relay_free && self.switch.claims(conn, &head) {
            self.switch.on_request(io, conn, head, method);
            if self.switch.owns(conn) {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.proven = true;
                }
            }
            return InFrame::Switch;
        }
        let to_raw = head
            .raw_bytes(crate::wire::HeaderName::ToPath)
            .unwrap_or_default();
        let (first_raw, rest_raw) = split_first(&to_raw);
        let Ok(first) = MsrpUri::parse(&first_raw) else {
            self.refuse(io, conn, &head, 400);
            return InFrame::Discard;
        };
        if !self.cfg.is_us(first.host(), first.port()) {
            // RFC 4976 §6.2: not addressed to this relay: drop the connection.
            self.drop_conn(io, conn);
            return InFrame::Discard;
        }
        if method == Method::Auth && rest_raw.is_empty() {
            return InFrame::Local(Box::new(head));
        }
        if method == Method::Other && self.cfg.block_unknown_methods {
            self.refuse(io, conn, &head, 501);
            return InFrame::Discard;
        }
        let token = match first.session_id().and_then(|sid| self.sealer.open(sid)) {
            Some(t) if u64::from(t.expires) > unix_now() && !rest_raw.is_empty() => t,
            _ => {
                self.refuse(io, conn, &head, 481);
                return InFrame::Discard;
            }
        };
        let Some(tmpl) = Template::new(&head, first_raw, rest_raw) else {
            self.refuse(io, conn, &head, 400);
            return InFrame::Discard;
        };
        let key = self.key(conn);
        let remote = if token.worker == self.index {
            let src_relay = self.peer_relay(io, conn);
            match self.route_token(io, key, token, tmpl, src_relay.as_deref()) {
                Ok(w) => w,
                Err(code) => {
                    self.refuse(io, conn, &head, code);
                    return InFrame::Discard;
                }
            }
        } else if self
            .peers
            .get(usize::from(token.worker))
            .is_some_and(Option::is_some)
        {
            let src_relay = self.peer_relay(io, conn);
            self.send_peer(
                io,
                token.worker,
                RelayPeer::Start {
                    key,
                    token,
                    tmpl: Box::new(tmpl),
                    src_relay,
                },
            );
            Some(token.worker)
        } else {
            self.refuse(io, conn, &head, 481);
            return InFrame::Discard;
        };
        self.stats.forwarded += 1;
        if let Some(c) = self.conns.get_mut(&conn) {
            c.proven = true;
        }
        // RFC 4976 §6.4.1: a SEND with Failure-Report yes is answered at once, to this hop only.
        if method == Method::Send && head.failure_report() == FailureReport::Yes {
            self.respond(io, conn, &head, 200);
        }
        InFrame::Forward { key, remote }
    }

    fn on_body<B: Backend>(&mut self, io: &mut Io<B>, conn: ConnId, b: Bytes) {
        if matches!(
            self.conns.get(&conn).map(|c| &c.frame),
            Some(InFrame::Switch)
        ) {
            return self.switch.on_body(io, conn, b);
        }
        let Some(InFrame::Forward { key, remote }) = self.conns.get(&conn).map(|c| &c.frame) else {
            return;
        };
        let (key, remote) = (*key, *remote);
        match remote {
            Some(w) => self.send_peer(io, w, RelayPeer::Body(key, b)),
            None => {
                sched!(self, io, body(key, b));
                self.check_pressure(io, key);
            }
        }
    }

    fn on_end<B: Backend>(&mut self, io: &mut Io<B>, conn: ConnId, flag: Continuation) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        match std::mem::replace(&mut c.frame, InFrame::Idle) {
            InFrame::Forward {
                key,
                remote: Some(w),
            } => self.send_peer(io, w, RelayPeer::End(key, flag)),
            InFrame::Forward { key, remote: None } => {
                sched!(self, io, end(key, flag));
            }
            InFrame::Local(head) => self.handle_auth(io, conn, &head),
            InFrame::Response(head) => self.handle_response(io, conn, &head),
            InFrame::Switch => self.switch.on_end(io, conn, flag),
            InFrame::Idle | InFrame::Discard => {}
        }
    }

    /// Answers `head` on `conn` with `code` (unless its Failure-Report forbids it).
    pub(super) fn respond<B: Backend>(
        &mut self,
        io: &mut Io<B>,
        conn: ConnId,
        head: &FrameHead,
        code: u16,
    ) {
        if head.method() == Some(Method::Report) || head.failure_report() == FailureReport::No {
            return;
        }
        if code != 200 && head.failure_report() == FailureReport::No {
            return;
        }
        if code == 200
            && head.method() == Some(Method::Send)
            && head.failure_report() == FailureReport::Partial
        {
            return;
        }
        let own: Bytes = head.to_path().next().map_or_else(
            || Bytes::from(self.own_uri(io, conn)),
            |u| Bytes::copy_from_slice(u.as_bytes()),
        );
        let mut buf = BytesMut::with_capacity(160 + head.from_path_raw().len());
        if let Some(w) = ResponseWriter::new(&mut buf, head, code, Some(reason(code)), &[own]) {
            w.end();
            self.write_control(io, conn, buf.freeze());
        }
    }

    /// Refuses a request: error response, and a strike against a connection in probation.
    fn refuse<B: Backend>(&mut self, io: &mut Io<B>, conn: ConnId, head: &FrameHead, code: u16) {
        self.stats.rejected += 1;
        self.respond(io, conn, head, code);
        self.note_failure(io, conn);
    }

    /// Routes a stream addressed to a token this worker owns. `Ok(Some(w))`: the stream was
    /// handed to worker `w` (the other end's token lives there), which must get its pieces.
    pub(super) fn route_token<B: Backend>(
        &mut self,
        io: &mut Io<B>,
        key: StreamKey,
        token: TokenInfo,
        tmpl: Template,
        src_relay: Option<&[Box<str>]>,
    ) -> Result<Option<u8>, Refusal> {
        let entry = match self.tokens.get(&token.nonce) {
            Some(e) if e.conn == token.conn && u64::from(e.expires) > unix_now() => e,
            _ => return Err(481),
        };
        if let Some(relay) = &entry.relay {
            // A token of a relay (RFC 4976 §6.3/§6.4): allowed from that relay, on any of its
            // connections, or towards it; either way the next hop is found by address.
            let from_relay =
                src_relay.is_some_and(|names| peer::names_match(names, relay.as_bytes()));
            let (next, _) = split_first(&tmpl.to_rest);
            let to_relay = MsrpUri::parse(&next)
                .is_ok_and(|u| u.host().eq_ignore_ascii_case(relay.as_bytes()));
            if !(from_relay || to_relay) {
                return Err(403);
            }
            // Towards the relay, the connection its AUTH came on is the way back while it
            // lives (its name need not resolve from here); otherwise find it by address.
            let back = entry.conn;
            let from_back = key.worker == self.index && key.conn == back;
            if to_relay && !from_back && io.is_open(back) {
                if self.stalled.contains(&back) {
                    return Err(408);
                }
                sched!(self, io, start(key, Some(back), tmpl));
                return Ok(None);
            }
            return self.route_next_hop(io, key, tmpl, src_relay);
        }
        let from_client = key.worker == self.index && key.conn == entry.conn;
        if from_client {
            if self.cfg.strict_from_path && path_key(&tmpl.from) != entry.client {
                return Err(403);
            }
            return self.route_next_hop(io, key, tmpl, src_relay);
        }
        let dest = entry.conn;
        if !io.is_open(dest) {
            return Err(481);
        }
        if self.stalled.contains(&dest) {
            return Err(408);
        }
        sched!(self, io, start(key, Some(dest), tmpl));
        Ok(None)
    }

    /// Routes a request leaving towards `tmpl.to_rest`'s first URI.
    fn route_next_hop<B: Backend>(
        &mut self,
        io: &mut Io<B>,
        key: StreamKey,
        mut tmpl: Template,
        src_relay: Option<&[Box<str>]>,
    ) -> Result<Option<u8>, Refusal> {
        let (next_raw, rest_raw) = split_first(&tmpl.to_rest);
        let next = MsrpUri::parse(&next_raw).map_err(|_| 400u16)?;
        if self.cfg.is_us(next.host(), next.port()) {
            // Both ends of the session use this relay: go straight through our second token.
            let token = next
                .session_id()
                .and_then(|s| self.sealer.open(s))
                .ok_or(481u16)?;
            if u64::from(token.expires) <= unix_now()
                || rest_raw.is_empty()
                || !tmpl.rotate(next_raw.clone(), rest_raw)
            {
                return Err(481);
            }
            if token.worker == self.index {
                return self.route_token(io, key, token, tmpl, src_relay);
            }
            if self
                .peers
                .get(usize::from(token.worker))
                .is_none_or(Option::is_none)
            {
                return Err(481);
            }
            self.send_peer(
                io,
                token.worker,
                RelayPeer::Start {
                    key,
                    token,
                    tmpl: Box::new(tmpl),
                    src_relay: src_relay.map(peer::PeerNames::from),
                },
            );
            return Ok(Some(token.worker));
        }
        let tls = next.scheme() == Scheme::Msrps;
        // URIs of non-AUTH requests carry ports (RFC 4976 §8); an AUTH to a relay may not.
        let port = next.port().unwrap_or(2855);
        if let Some(conn) = self.hops.get(tls, next.host(), port) {
            if self.stalled.contains(&conn) {
                return Err(408);
            }
            sched!(self, io, start(key, Some(conn), tmpl));
            return Ok(None);
        }
        let hop = HopKey {
            tls,
            host: next.host().to_ascii_lowercase().into(),
            port,
        };
        let addr = match next.host_kind() {
            Host::V4(a) => Some(IpAddr::V4(a)),
            Host::V6(a) => Some(IpAddr::V6(a)),
            Host::Name => self.lookup(next.host(), io.now()),
        };
        match addr {
            Some(ip) => {
                let conn = self.open_hop(io, hop, ip)?;
                sched!(self, io, start(key, Some(conn), tmpl));
            }
            None => {
                let host = next.host().to_vec();
                sched!(self, io, start(key, None, tmpl));
                self.throttle(io, key, true);
                if self.hops.park(&host, Parked { key, hop }) {
                    self.resolve(String::from_utf8_lossy(&host).into_owned());
                }
            }
        }
        Ok(None)
    }

    /// A name we can answer without DNS.
    fn lookup(&self, host: &[u8], now: std::time::Instant) -> Option<IpAddr> {
        let name = std::str::from_utf8(host).ok()?.to_ascii_lowercase();
        if let Some(a) = self.cfg.static_hosts.get(&name) {
            return Some(*a);
        }
        if name == "localhost" {
            return Some(IpAddr::from([127, 0, 0, 1]));
        }
        self.hops.cached(host, now)
    }

    /// Resolves `host` on a helper thread; the answer comes back on our control ring.
    fn resolve(&self, host: String) {
        let Some(tx) = self.own_control.clone() else {
            return;
        };
        let _ = std::thread::Builder::new()
            .name("msrp-resolve".into())
            .spawn(move || {
                use std::net::ToSocketAddrs;
                let addr = (host.as_str(), 0)
                    .to_socket_addrs()
                    .ok()
                    .and_then(|mut a| a.next())
                    .map(|a| a.ip());
                let _ = tx.push(RelayControl::Resolved { host, addr });
            });
    }

    /// A name resolution finished: connect and release the requests parked on it.
    pub(super) fn resolved<B: Backend>(
        &mut self,
        io: &mut Io<B>,
        host: &str,
        addr: Option<IpAddr>,
    ) {
        let parked = self.hops.resolved(host.as_bytes(), addr, io.now());
        for p in parked {
            let conn = match addr {
                Some(ip) => match self.hops.get(p.hop.tls, &p.hop.host, p.hop.port) {
                    Some(c) => Ok(c),
                    None => self.open_hop(io, p.hop.clone(), ip),
                },
                None => Err(481),
            };
            self.throttle(io, p.key, false);
            match conn {
                Ok(c) => {
                    sched!(self, io, attach(p.key, c));
                }
                Err(code) => {
                    if let Some(t) = self.sched.drop_parked(p.key) {
                        self.fail_stream(io, p.key, &t, code);
                    }
                }
            }
        }
    }

    /// Opens a connection to a next hop (TLS for `msrps`).
    fn open_hop<B: Backend>(
        &mut self,
        io: &mut Io<B>,
        hop: HopKey,
        ip: IpAddr,
    ) -> Result<ConnId, Refusal> {
        let conn = io
            .connect(SocketAddr::new(ip, hop.port))
            .map_err(|_| 481u16)?;
        if hop.tls {
            let Some(cfg) = self.cfg.tls_client.clone() else {
                io.close(conn);
                return Err(481);
            };
            let name = match std::str::from_utf8(&hop.host)
                .ok()
                .and_then(|h| rustls::pki_types::ServerName::try_from(h.to_string()).ok())
            {
                Some(n) => n,
                None => {
                    io.close(conn);
                    return Err(400);
                }
            };
            match rustls::ClientConnection::new(cfg, name) {
                Ok(c) => io.start_tls(conn, c.into()),
                Err(_) => {
                    io.close(conn);
                    return Err(481);
                }
            }
        }
        let mut c = self.new_conn(io.now(), hop.tls, false);
        c.hop = Some(hop.clone());
        self.conns.insert(conn, c);
        self.hops.insert(hop, conn);
        Ok(conn)
    }

    /// A response from a next hop: finish the transaction; route it back (non-SEND) or turn an
    /// error into a failure REPORT (SEND).
    fn handle_response<B: Backend>(&mut self, io: &mut Io<B>, conn: ConnId, head: &FrameHead) {
        let Some(t) = self.txns.take(conn, head.transaction_id()) else {
            // Responses to what the chat switch sent.
            self.switch.on_response(io, conn, head);
            return;
        };
        let code = head.status_code().unwrap_or(400);
        if t.method == Method::Send {
            if code != 200 {
                self.transaction_failed(io, t, code);
            }
            return;
        }
        // Responses to other requests travel back hop by hop (RFC 4976 §6.4.3): our URIs
        // move from To-Path to the front of From-Path, which leaves as To-Path the From-Path
        // the request came with. That recorded path is used rather than the response's own
        // To-Path, which may be cut short (Kamailio 5.6 answers every request with only the
        // first From-Path URI as To-Path) and names our URIs once or twice.
        let mut from: Vec<&[u8]> = vec![t.hop_uri.as_ref()];
        if !t.second_hop.is_empty() {
            from.push(t.second_hop.as_ref());
        }
        from.push(head.from_path_raw());
        let mut buf = BytesMut::with_capacity(head.as_bytes().len() + 64);
        let mut w = ResponseWriter::with_paths(
            &mut buf,
            t.orig_tid,
            code,
            head.comment().and_then(|c| std::str::from_utf8(c).ok()),
            &[t.from.as_ref()],
            &from,
        );
        for (name, value) in head.headers().skip(2) {
            if let Ok(n) = std::str::from_utf8(name) {
                w = w.header(n, value);
            }
        }
        w.end();
        self.control_to(io, t.src, buf.freeze());
    }

    /// A forwarded chunk failed downstream (error response, timeout, connection loss).
    pub(super) fn transaction_failed<B: Backend>(&mut self, io: &mut Io<B>, t: OutTxn, code: u16) {
        match t.method {
            Method::Send => {
                // RFC 4976 §6.4.1/§6.4.3: REPORT unless Failure-Report is no; a timeout only
                // when it is yes (partial has no timer).
                let wanted = match t.failure_report {
                    FailureReport::Yes => true,
                    FailureReport::Partial => code != 408,
                    FailureReport::No => false,
                };
                if wanted {
                    if let Some(r) = txn::failure_report(&t, &mut self.rng, code) {
                        self.stats.reports += 1;
                        self.control_to(io, t.src, r);
                    }
                }
            }
            Method::Report => {}
            _ => {
                let mut buf = BytesMut::new();
                ResponseWriter::with_paths(
                    &mut buf,
                    t.orig_tid,
                    code,
                    Some(reason(code)),
                    &[t.from.as_ref()],
                    &[t.hop_uri.as_ref()],
                )
                .end();
                self.control_to(io, t.src, buf.freeze());
            }
        }
    }

    /// Timers that fired.
    pub(super) fn expire_transactions<B: Backend>(
        &mut self,
        io: &mut Io<B>,
        now: std::time::Instant,
    ) {
        for t in self.txns.expired(now) {
            self.transaction_failed(io, t, 408);
        }
    }

    /// A stream could not be delivered (no such session any more, next hop unreachable):
    /// tell its source as a REPORT (SEND) or an error response (other methods).
    pub(super) fn fail_stream<B: Backend>(
        &mut self,
        io: &mut Io<B>,
        key: StreamKey,
        tmpl: &Template,
        code: u16,
    ) {
        let t = OutTxn {
            src: key,
            method: tmpl.method,
            orig_tid: tmpl.orig_tid,
            failure_report: tmpl.failure_report,
            from: tmpl.from.clone(),
            hop_uri: tmpl.first_hop(),
            second_hop: tmpl.hops[1].clone(),
            message_id: tmpl.message_id.clone(),
            range: tmpl.byte_range.unwrap_or(crate::wire::ByteRange {
                start: 1,
                end: None,
                total: None,
            }),
            deadline: None,
        };
        if tmpl.failure_report != FailureReport::No {
            self.transaction_failed(io, t, code);
        }
    }
}

/// Splits a path value at its first space: (first URI, the rest).
pub(super) fn split_first(path: &Bytes) -> (Bytes, Bytes) {
    match memchr::memchr(b' ', path) {
        Some(i) => {
            let mut rest = i + 1;
            while path.get(rest) == Some(&b' ') {
                rest += 1;
            }
            (path.slice(..i), path.slice(rest..))
        }
        None => (path.clone(), Bytes::new()),
    }
}

/// The comparison key of a whole path (RFC 4975 §6.1 per URI), for the strict From-Path check.
pub(super) fn path_key(path: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(path.len());
    for u in path.split(|&b| b == b' ').filter(|u| !u.is_empty()) {
        if !out.is_empty() {
            out.push(b' ');
        }
        match MsrpUri::parse(u) {
            Ok(uri) => uri.write_key(&mut out),
            Err(_) => out.extend_from_slice(u),
        }
    }
    Bytes::from(out)
}
