//! `relay`: N sessions, each a pair of endpoints (A sends, B receives) authenticated to the
//! same relay (RFC 4976 AUTH with digest), A's To-Path being Use-Path(A) + Use-Path(B) + B's
//! URI as RFC 4976 §5.1 builds it. Closed loop with a window of messages in flight per
//! session (or paced at a fixed total rate), optional Success-Report. Every message is
//! checked on arrival (stream, sequence, filler, checksum), every 200 and REPORT is counted,
//! and the run fails loudly when anything is missing, late past the drain time, or damaged.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dataplane::session::{
    AuthRequest, Config, Event, OutgoingMessage, PasswordDigest, SessionConfig, SessionId,
};
use dataplane::wire::{OwnedMsrpUri, SuccessReport};
use serde_json::{json, Value};

use crate::gen::{checksum, BodyCheck, BodyFactory, Link, Net, NetReport, Stamp};
use crate::latency::Latency;
use crate::progress::Progress;
use crate::sys::{self, CpuTime};

/// What to run.
#[derive(Clone, Debug)]
pub struct RelayOpts {
    /// Sessions (each two connections).
    pub sessions: usize,
    /// Message body size (bytes).
    pub size: usize,
    /// Chunk size; 0 sends each message as one chunk (within the target's limit).
    pub chunk: usize,
    /// Messages in flight per session (sent, not yet arrived).
    pub window: usize,
    /// Ask for success REPORTs.
    pub success_report: bool,
    /// Measured time.
    pub duration: Duration,
    /// Time before measuring.
    pub warmup: Duration,
    /// Total messages per second (paced); `None`: as fast as the window allows.
    pub rate: Option<f64>,
    /// Stop sending after this many messages (tests); `None`: after the duration.
    pub max_messages: Option<u64>,
    /// Longest wait for the last arrivals, 200s and REPORTs after sending stops.
    pub drain: Duration,
}

impl Default for RelayOpts {
    fn default() -> Self {
        RelayOpts {
            sessions: 10,
            size: 100,
            chunk: 0,
            window: 16,
            success_report: false,
            duration: Duration::from_secs(10),
            warmup: Duration::from_secs(1),
            rate: None,
            max_messages: None,
            drain: Duration::from_secs(10),
        }
    }
}

/// Where the relay is and how to log in.
#[derive(Clone, Debug)]
pub struct RelayEndpoint {
    /// Its address.
    pub addr: std::net::SocketAddr,
    /// The URI to AUTH to.
    pub uri: String,
    /// Digest user.
    pub user: String,
    /// Digest password.
    pub password: String,
    /// Largest chunk it takes.
    pub max_chunk: Option<usize>,
}

/// What a run measured and counted.
#[derive(Clone, Debug, Default)]
pub struct RelayOutcome {
    /// Messages handed to the sessions.
    pub sent: u64,
    /// Messages that arrived intact and in order.
    pub received: u64,
    /// 200 responses to the messages (all chunks accepted by the first hop).
    pub accepted: u64,
    /// Success REPORTs covering whole messages.
    pub reports: u64,
    /// Messages that failed (error response, failure REPORT, timeout, connection lost).
    pub failed: u64,
    /// Arrivals whose body was damaged, short, or not of this run.
    pub corrupt: u64,
    /// Arrivals out of sequence (lost, duplicated or reordered before).
    pub out_of_order: u64,
    /// Checksums of what was sent and what arrived.
    pub sum_sent: u64,
    /// Checksum of arrivals.
    pub sum_received: u64,
    /// Messages that arrived within the measured window.
    pub window_msgs: u64,
    /// Length of the measured window (s).
    pub window_secs: f64,
    /// Send-to-arrival latency of messages sent within the window.
    pub latency: Latency,
    /// Generator thread CPU in the window.
    pub gen_cpu: CpuTime,
    /// Target CPU in the window.
    pub target_cpu: Option<CpuTime>,
    /// Chunk size used.
    pub chunk_used: usize,
    /// Setup time (connect + AUTH of every endpoint), s.
    pub setup_secs: f64,
    /// Problems (the run failed if not empty).
    pub errors: Vec<String>,
    /// Transport counters.
    pub writes: u64,
    /// Pieces written.
    pub pieces: u64,
}

impl RelayOutcome {
    /// Messages per second in the window.
    pub fn msgs_per_s(&self) -> f64 {
        if self.window_secs > 0.0 {
            self.window_msgs as f64 / self.window_secs
        } else {
            0.0
        }
    }

    /// Target CPU µs per message in the window.
    pub fn target_us_per_msg(&self) -> Option<f64> {
        let c = self.target_cpu?;
        (self.window_msgs > 0).then(|| c.total_us() / self.window_msgs as f64)
    }

    /// Generator CPU µs per message in the window.
    pub fn gen_us_per_msg(&self) -> Option<f64> {
        (self.window_msgs > 0).then(|| self.gen_cpu.total_us() / self.window_msgs as f64)
    }

    /// Results as JSON.
    pub fn results_json(&self, size: usize) -> Value {
        let r = self.msgs_per_s();
        json!({
            "msgs_per_s": r,
            "mb_per_s": r * size as f64 / 1e6,
            "latency": self.latency.to_json(),
            "counts": {
                "sent": self.sent,
                "received": self.received,
                "ok_200": self.accepted,
                "success_reports": self.reports,
                "failed": self.failed,
                "corrupt": self.corrupt,
                "out_of_order": self.out_of_order,
                "checksum_match": self.sum_sent == self.sum_received,
                "in_window": self.window_msgs,
            },
            "window_s": self.window_secs,
            "setup_s": self.setup_secs,
            "chunk_size_used": self.chunk_used,
            "errors": self.errors.len(),
            "writev_calls": self.writes,
            "pieces_per_writev": if self.writes > 0 { self.pieces as f64 / self.writes as f64 } else { 0.0 },
        })
    }

    /// CPU figures as JSON.
    pub fn cpu_json(&self) -> Value {
        json!({
            "generator_us_per_msg": self.gen_us_per_msg(),
            "generator_user_s": self.gen_cpu.user_us / 1e6,
            "generator_sys_s": self.gen_cpu.sys_us / 1e6,
            "generator_core_share": if self.window_secs > 0.0 { self.gen_cpu.total_us() / 1e6 / self.window_secs } else { 0.0 },
            "target_us_per_msg": self.target_us_per_msg(),
            "target_user_s": self.target_cpu.map(|c| c.user_us / 1e6),
            "target_sys_s": self.target_cpu.map(|c| c.sys_us / 1e6),
            "target_core_share": self.target_cpu.map(|c| if self.window_secs > 0.0 { c.total_us() / 1e6 / self.window_secs } else { 0.0 }),
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Setup,
    Warmup,
    Measure,
    Drain,
}

struct Pair {
    a_uri: Option<OwnedMsrpUri>,
    b_uri: Option<OwnedMsrpUri>,
    a_use: Option<Vec<OwnedMsrpUri>>,
    b_use: Option<Vec<OwnedMsrpUri>>,
    a_sid: Option<SessionId>,
    next_seq: u64,
    expect_seq: u64,
    inflight: usize,
}

fn random_sid(rng: &mut crate::gen::FastRng) -> String {
    use dataplane::wire::RandomSource;
    const A: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..16)
        .map(|_| char::from(A[(rng.next_u64() % A.len() as u64) as usize]))
        .collect()
}

fn uri(s: &str) -> Option<OwnedMsrpUri> {
    OwnedMsrpUri::parse(bytes::Bytes::copy_from_slice(s.as_bytes())).ok()
}

/// Runs the scenario against `target`; `target_cpu` reads the target's CPU time.
pub fn run(
    opts: &RelayOpts,
    target: &RelayEndpoint,
    target_cpu: &dyn Fn() -> Option<CpuTime>,
    label: &str,
) -> RelayOutcome {
    let mut out = RelayOutcome::default();
    let chunk = match (opts.chunk, target.max_chunk) {
        (0, Some(m)) => m,
        (0, None) => usize::MAX,
        (c, Some(m)) => c.min(m),
        (c, None) => c,
    };
    out.chunk_used = if chunk == usize::MAX {
        opts.size
    } else {
        chunk
    };
    let mut cfg = Config {
        chunk_size: chunk,
        ..Config::default()
    };
    cfg.transmit_slice = chunk.clamp(2048, 64 * 1024);
    let cfg = Arc::new(cfg);
    let factory = BodyFactory::new(opts.size);
    let relay_uri = match uri(&target.uri) {
        Some(u) => u,
        None => {
            out.errors.push(format!("bad relay URI {}", target.uri));
            return out;
        }
    };
    let mut net = match Net::new() {
        Ok(n) => n,
        Err(e) => {
            out.errors.push(format!("epoll: {e}"));
            return out;
        }
    };
    let mut rng = crate::gen::FastRng::from_clock(0x5eed);
    for i in 0..2 * opts.sessions {
        if let Err(e) = net.connect(target.addr, &cfg, i as u64) {
            out.errors.push(format!("connect {}: {e}", target.addr));
            return out;
        }
    }
    let mut pairs: Vec<Pair> = (0..opts.sessions)
        .map(|_| Pair {
            a_uri: None,
            b_uri: None,
            a_use: None,
            b_use: None,
            a_sid: None,
            next_seq: 0,
            expect_seq: 0,
            inflight: 0,
        })
        .collect();
    let epoch = Instant::now();
    let ns = |t: Instant| t.duration_since(epoch).as_nanos() as u64;
    let mut phase = Phase::Setup;
    let mut ready = 0usize;
    let mut phase_start = Instant::now();
    let mut measure_start_ns = u64::MAX;
    let mut send_start = Instant::now();
    let mut cpu0 = (CpuTime::default(), None);
    let mut recv0 = 0u64;
    let mut reports = Vec::with_capacity(4096);
    let mut progress = Progress::new();
    let mut last_progress_recv = 0u64;
    let mut paced_sent = 0u64;
    let mut next_rr = 0usize;
    let window = opts.window.max(1);

    // Queues a message on session `p` (pair index).
    let send =
        |net: &mut Net, pairs: &mut [Pair], p: usize, out: &mut RelayOutcome, now_ns: u64| {
            let pair = &mut pairs[p];
            let Some(sid) = pair.a_sid else { return false };
            let body = factory.make(Stamp {
                stream: p as u32,
                seq: pair.next_seq,
                sent_ns: now_ns,
            });
            let sum = checksum(&body);
            let mut m = OutgoingMessage::new("text/plain", body);
            if opts.success_report {
                m = m.success_report(SuccessReport::Yes);
            }
            match net.eps[2 * p].msrp.send_message(sid, m) {
                Ok(_) => {
                    pair.next_seq += 1;
                    pair.inflight += 1;
                    out.sent += 1;
                    out.sum_sent = out.sum_sent.wrapping_add(sum);
                    net.touch(2 * p);
                    true
                }
                Err(e) => {
                    out.errors.push(format!("send on session {p}: {e:?}"));
                    false
                }
            }
        };

    loop {
        let now = Instant::now();
        // Phase changes.
        match phase {
            Phase::Setup => {
                if now.duration_since(phase_start) > Duration::from_secs(30) {
                    out.errors.push(format!(
                        "setup: only {ready} of {} sessions authenticated in 30 s",
                        opts.sessions
                    ));
                    break;
                }
                if ready == opts.sessions {
                    out.setup_secs = now.duration_since(phase_start).as_secs_f64();
                    phase = Phase::Warmup;
                    phase_start = now;
                    send_start = now;
                    for p in 0..opts.sessions {
                        if opts.rate.is_none() {
                            for _ in 0..window {
                                send(&mut net, &mut pairs, p, &mut out, ns(now));
                            }
                        }
                    }
                }
            }
            Phase::Warmup => {
                if now.duration_since(phase_start) >= opts.warmup {
                    phase = Phase::Measure;
                    phase_start = now;
                    measure_start_ns = ns(now);
                    out.latency.reset();
                    cpu0 = (sys::thread_cpu(), target_cpu());
                    recv0 = out.received;
                }
            }
            Phase::Measure => {
                let done = now.duration_since(phase_start) >= opts.duration
                    || opts.max_messages.is_some_and(|m| out.sent >= m);
                if done {
                    let gen = sys::thread_cpu();
                    let tgt = target_cpu();
                    out.window_secs = now.duration_since(phase_start).as_secs_f64();
                    out.window_msgs = out.received - recv0;
                    out.gen_cpu = gen.since(&cpu0.0);
                    out.target_cpu = match (tgt, cpu0.1) {
                        (Some(b), Some(a)) => Some(b.since(&a)),
                        _ => None,
                    };
                    phase = Phase::Drain;
                    phase_start = now;
                }
            }
            Phase::Drain => {
                let complete = out.received + out.failed >= out.sent
                    && out.accepted + out.failed >= out.sent
                    && (!opts.success_report || out.reports + out.failed >= out.sent);
                if complete || now.duration_since(phase_start) > opts.drain {
                    break;
                }
            }
        }
        // Paced sending.
        let sending = matches!(phase, Phase::Warmup | Phase::Measure)
            && opts.max_messages.is_none_or(|m| out.sent < m);
        if let (Some(rate), true) = (opts.rate, sending) {
            let due = (now.duration_since(send_start).as_secs_f64() * rate) as u64;
            let mut tries = 0;
            while paced_sent < due && tries < opts.sessions {
                let p = next_rr % opts.sessions;
                next_rr += 1;
                if pairs[p].inflight < window {
                    if send(&mut net, &mut pairs, p, &mut out, ns(now)) {
                        paced_sent += 1;
                    }
                    tries = 0;
                } else {
                    tries += 1;
                }
            }
        }
        net.flush(&mut reports);
        let timeout = if opts.rate.is_some() && sending {
            Duration::from_micros(200)
        } else {
            Duration::from_millis(5)
        };
        net.poll(Some(timeout), &mut reports);
        let now = Instant::now();
        let now_ns = ns(now);
        for r in reports.drain(..) {
            match r {
                NetReport::Connected(i) => {
                    let e = &mut net.eps[i];
                    let port = e.local.map_or(0, |a| a.port());
                    let me = uri(&format!(
                        "msrp://127.0.0.1:{port}/{};tcp",
                        random_sid(&mut rng)
                    ));
                    let Some(me) = me else { continue };
                    let p = &mut pairs[i / 2];
                    if i % 2 == 0 {
                        p.a_uri = Some(me.clone());
                    } else {
                        p.b_uri = Some(me.clone());
                    }
                    let req = AuthRequest {
                        to_path: vec![relay_uri.clone()],
                        from: me,
                        expires: None,
                    };
                    use dataplane::wire::RandomSource;
                    let digest =
                        PasswordDigest::new(&target.user, &target.password, rng.next_u64());
                    if let Err(err) = e.msrp.authenticate(req, digest) {
                        out.errors.push(format!("AUTH on endpoint {i}: {err:?}"));
                    }
                    net.touch(i);
                }
                NetReport::Closed(i) => {
                    if phase != Phase::Drain || out.received < out.sent {
                        out.errors.push(format!("endpoint {i} lost its connection"));
                    }
                }
                NetReport::Msrp(i, ev) => {
                    let p = i / 2;
                    let is_a = i % 2 == 0;
                    match ev {
                        Event::AuthSucceeded { use_path, .. } => {
                            let pair = &mut pairs[p];
                            if is_a {
                                pair.a_use = Some(use_path);
                            } else {
                                pair.b_use = Some(use_path);
                            }
                            if let (Some(au), Some(bu), Some(a), Some(b)) =
                                (&pair.a_use, &pair.b_use, &pair.a_uri, &pair.b_uri)
                            {
                                // B answers on its own session (REPORTs go back through both
                                // tokens); A sends along B's Use-Path to B.
                                let mut to_a = au.clone();
                                to_a.push(a.clone());
                                let mut to_b = bu.clone();
                                to_b.push(b.clone());
                                let rb = net.eps[2 * p + 1]
                                    .msrp
                                    .add_session(SessionConfig::new(b.clone(), to_a));
                                let ra = net.eps[2 * p]
                                    .msrp
                                    .add_session(SessionConfig::new(a.clone(), to_b));
                                match (ra, rb) {
                                    (Ok(sa), Ok(_)) => {
                                        pair.a_sid = Some(sa);
                                        ready += 1;
                                    }
                                    (a, b) => out.errors.push(format!("session {p}: {a:?} {b:?}")),
                                }
                            }
                        }
                        Event::AuthFailed { code, .. } => {
                            out.errors
                                .push(format!("AUTH of endpoint {i} failed: {code}"));
                        }
                        Event::Message(m) if !is_a => {
                            let pair = &mut pairs[p];
                            match factory.check(&m.body) {
                                BodyCheck::Ok(s) if s.stream as usize == p => {
                                    if s.seq != pair.expect_seq {
                                        out.out_of_order += 1;
                                        if out.out_of_order <= 3 {
                                            out.errors.push(format!(
                                                "session {p}: message {} arrived, {} expected",
                                                s.seq, pair.expect_seq
                                            ));
                                        }
                                    }
                                    pair.expect_seq = s.seq + 1;
                                    out.received += 1;
                                    out.sum_received =
                                        out.sum_received.wrapping_add(checksum(&m.body));
                                    if s.sent_ns >= measure_start_ns && phase == Phase::Measure {
                                        out.latency.record_ns(now_ns.saturating_sub(s.sent_ns));
                                    }
                                    pair.inflight = pair.inflight.saturating_sub(1);
                                    let more = opts.rate.is_none()
                                        && matches!(phase, Phase::Warmup | Phase::Measure)
                                        && opts.max_messages.is_none_or(|mm| out.sent < mm);
                                    if more {
                                        send(&mut net, &mut pairs, p, &mut out, now_ns);
                                    }
                                }
                                other => {
                                    out.corrupt += 1;
                                    if out.corrupt <= 3 {
                                        out.errors.push(format!(
                                            "session {p}: damaged message ({other:?}, {} bytes)",
                                            m.body.len()
                                        ));
                                    }
                                }
                            }
                        }
                        Event::Message(_) => {
                            out.corrupt += 1;
                            out.errors.push(format!("sender {p} received a message"));
                        }
                        Event::MessageAccepted { .. } => out.accepted += 1,
                        Event::SuccessReport { complete, .. } => {
                            if complete {
                                out.reports += 1;
                            }
                        }
                        Event::SendFailed(f) => {
                            out.failed += 1;
                            if out.failed <= 3 {
                                out.errors.push(format!("session {p}: send failed: {f:?}"));
                            }
                        }
                        Event::MessageAborted { reason, .. } => {
                            out.errors
                                .push(format!("session {p}: incoming message aborted: {reason:?}"));
                        }
                        Event::SessionRefused { code, .. } => {
                            out.errors.push(format!("session {p}: refused with {code}"));
                        }
                        Event::ReportTimeout { .. } => {
                            out.errors
                                .push(format!("session {p}: success REPORT timed out"));
                        }
                        Event::SessionBound { .. }
                        | Event::Progress { .. }
                        | Event::NicknameResult { .. } => {}
                    }
                }
            }
        }
        if out.errors.len() > 50 {
            break;
        }
        if net.eps.iter().all(|e| e.link == Link::Down) && phase != Phase::Setup {
            break;
        }
        progress.tick(|| {
            let r = out.received - last_progress_recv;
            last_progress_recv = out.received;
            format!(
                "{label} {:?}: sent {} received {} ({}), 200s {}, errors {}",
                phase,
                out.sent,
                out.received,
                crate::report::human_rate(r as f64),
                out.accepted,
                out.errors.len()
            )
        });
    }
    progress.done();
    if phase != Phase::Drain && out.errors.is_empty() {
        out.errors.push(format!("stopped in phase {phase:?}"));
    }
    out.errors.extend(net.errors.iter().take(5).cloned());
    // The generator's own checks.
    if out.received + out.failed != out.sent {
        out.errors.push(format!(
            "sent {} messages, {} arrived intact, {} failed: {} missing",
            out.sent,
            out.received,
            out.failed,
            out.sent as i64 - out.received as i64 - out.failed as i64
        ));
    }
    if out.accepted + out.failed != out.sent {
        out.errors.push(format!(
            "{} of {} messages got no 200",
            out.sent as i64 - out.accepted as i64 - out.failed as i64,
            out.sent
        ));
    }
    if opts.success_report && out.reports + out.failed != out.sent {
        out.errors.push(format!(
            "{} of {} success REPORTs missing",
            out.sent as i64 - out.reports as i64 - out.failed as i64,
            out.sent
        ));
    }
    if out.sum_sent != out.sum_received && out.received == out.sent {
        out.errors
            .push("checksum of arrivals differs from what was sent".into());
    }
    if out.failed > 0 {
        out.errors.push(format!("{} messages failed", out.failed));
    }
    out.writes = net.stats.writes;
    out.pieces = net.stats.pieces;
    out
}

/// The configuration as JSON.
pub fn opts_json(o: &RelayOpts) -> Value {
    json!({
        "sessions": o.sessions,
        "connections": 2 * o.sessions,
        "message_size": o.size,
        "chunk_size": if o.chunk == 0 { Value::from("whole message (target limit applies)") } else { Value::from(o.chunk) },
        "window_per_session": o.window,
        "success_report": o.success_report,
        "duration_s": o.duration.as_secs_f64(),
        "warmup_s": o.warmup.as_secs_f64(),
        "rate_limit_msgs_per_s": o.rate,
        "max_messages": o.max_messages,
        "path": "A -> relay -> B; To-Path = Use-Path(A) Use-Path(B) B (RFC 4976 §5.1), AUTH with digest first",
    })
}
