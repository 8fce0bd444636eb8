//! `limit`: the physical limit of fan-out over kernel TCP on loopback. A minimal writer (no
//! MSRP work at all) writes frames of the same size as the switch's deliveries (a
//! per-recipient head and end-line around a shared body) to M connections, several frames
//! per connection in one `writev` (header iovec + shared body iovec, the perf-notes method),
//! round-robin; a sink drains all M connections with epoll and counts frames by their
//! end-lines. The writer runs where the switch's worker would (the target core), the sink where
//! the members would (the generator core), in a child process when 2·M descriptors do not fit
//! in one process. The rate is frames counted by the sink over the time from the first write
//! to the last frame drained; the run fails if the sink did not count every frame written.

use std::io::{self, BufRead, BufReader, IoSlice, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use dataplane::net::kernel::KernelBackend;
use dataplane::net::{Backend, ConnId, NetEvent};
use serde_json::{json, Value};

use crate::progress::Progress;
use crate::report::{human_rate, Report};
use crate::sys::{self, CpuTime};
use crate::targets::Pinning;
use crate::CommonArgs;

/// End-line marker the sink counts (MSRP end-lines start with seven dashes).
pub const MARKER: &[u8] = b"-------";

/// `msrp-bench limit`
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Connections (recipients).
    #[arg(long, default_value_t = 1000)]
    pub connections: usize,
    /// Per-recipient bytes of each frame (start line, headers, end-line).
    #[arg(long, default_value_t = 80)]
    pub head_bytes: usize,
    /// Shared body bytes of each frame.
    #[arg(long, default_value_t = 100)]
    pub body_bytes: usize,
    /// Frames per connection per writev; a comma-separated list runs each.
    #[arg(long, default_value = "1,8")]
    pub batch: String,
    /// Seconds of writing per batch size.
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// `msrp-bench limit-sink` (internal: the sink in its own process).
#[derive(clap::Args, Debug, Clone)]
pub struct SinkArgs {
    /// Writer's listener.
    #[arg(long)]
    pub addr: SocketAddr,
    /// Connections to open.
    #[arg(long)]
    pub connections: usize,
    /// Core to pin to.
    #[arg(long)]
    pub core: Option<usize>,
}

/// What to run.
#[derive(Clone, Debug)]
pub struct LimitOpts {
    /// Connections.
    pub connections: usize,
    /// Per-recipient bytes per frame.
    pub head_bytes: usize,
    /// Shared body bytes per frame.
    pub body_bytes: usize,
    /// Frames per connection per writev.
    pub batch: usize,
    /// Writing time.
    pub duration: Duration,
    /// Stop after this many frames (tests).
    pub max_frames: Option<u64>,
    /// Frames the writer pretends to have written on top (tests of the check): the run must
    /// then fail.
    pub inject_phantom: u64,
}

/// What a run measured.
#[derive(Clone, Debug, Default)]
pub struct LimitOutcome {
    /// Frames fully handed to the kernel.
    pub written: u64,
    /// Frames the sink counted.
    pub counted: u64,
    /// First write to last frame drained (s).
    pub secs: f64,
    /// Writer thread CPU.
    pub writer_cpu: CpuTime,
    /// Sink CPU.
    pub sink_cpu: Option<CpuTime>,
    /// writev calls.
    pub writes: u64,
    /// Writes refused (socket buffer full).
    pub blocked: u64,
    /// Whether the sink ran in a child process.
    pub sink_process: bool,
    /// Problems.
    pub errors: Vec<String>,
}

impl LimitOutcome {
    /// Frames per second as drained by the sink.
    pub fn frames_per_s(&self) -> f64 {
        if self.secs > 0.0 {
            self.counted as f64 / self.secs
        } else {
            0.0
        }
    }
}

/// The frame pieces: per-recipient head, shared body, per-recipient end-line (the end-line of
/// one frame and the head of the next are written as one iovec).
struct Frame {
    head: Vec<u8>,
    body: Vec<u8>,
    tail: Vec<u8>,
    tail_head: Vec<u8>,
}

fn frame(head_bytes: usize, body_bytes: usize) -> Frame {
    let tail = b"\r\n-------t0000001$\r\n".to_vec();
    let mut head = b"MSRP t0000001 SEND\r\n".to_vec();
    let want = head_bytes.saturating_sub(tail.len()).max(head.len() + 16);
    let pad = want - head.len() - 12;
    head.extend_from_slice(b"X-Pad: ");
    head.extend(std::iter::repeat_n(b'p', pad.saturating_sub(1)));
    head.extend_from_slice(b"\r\n\r\n\r\n");
    head.truncate(want);
    // Keep the blank line at the end of the head.
    let n = head.len();
    head[n - 4..].copy_from_slice(b"\r\n\r\n");
    let body = vec![b'b'; body_bytes];
    let mut tail_head = tail.clone();
    tail_head.extend_from_slice(&head);
    Frame {
        head,
        body,
        tail,
        tail_head,
    }
}

/// Counts end-line markers in a stream split over reads: `carry` holds the last bytes of the
/// previous read (fewer than a marker, so no marker is counted twice).
pub fn count_markers(carry: &mut Vec<u8>, data: &[u8]) -> u64 {
    let mut joined = std::mem::take(carry);
    joined.extend_from_slice(data);
    let n = memchr::memmem::find_iter(&joined, MARKER).count() as u64;
    let keep = joined.len().min(MARKER.len() - 1);
    *carry = joined[joined.len() - keep..].to_vec();
    n
}

/// The sink: connects `n` sockets to `addr`, reports `Ready` once all are up, drains and
/// counts; when `expect` sends the number written, drains until that many were counted (or
/// 10 s pass) and returns the count and its CPU time.
pub fn sink(
    addr: SocketAddr,
    n: usize,
    ready: &dyn Fn(),
    expect: &Receiver<u64>,
) -> Result<(u64, CpuTime), String> {
    let cpu0 = sys::thread_cpu();
    let mut be = KernelBackend::new(4096).map_err(|e| e.to_string())?;
    let mut carries: Vec<Vec<u8>> = Vec::new();
    let mut slot_of: std::collections::HashMap<ConnId, usize> = std::collections::HashMap::new();
    let mut events = Vec::new();
    let mut opened = 0;
    let mut up = 0;
    let mut connecting = 0;
    let mut buf = BytesMut::with_capacity(256 * 1024);
    let mut counted = 0u64;
    let mut target: Option<u64> = None;
    let mut deadline: Option<Instant> = None;
    let start = Instant::now();
    let mut announced = false;
    loop {
        while opened < n && connecting < 256 {
            let id = be.connect(addr).map_err(|e| format!("sink connect: {e}"))?;
            slot_of.insert(id, carries.len());
            carries.push(Vec::new());
            opened += 1;
            connecting += 1;
        }
        if up == n && !announced {
            announced = true;
            ready();
        }
        if up < n && start.elapsed() > Duration::from_secs(60) {
            return Err(format!("sink: only {up} of {n} connections up after 60 s"));
        }
        if target.is_none() {
            if let Ok(t) = expect.try_recv() {
                target = Some(t);
                deadline = Some(Instant::now() + Duration::from_secs(10));
            }
        }
        if let Some(t) = target {
            if counted >= t || deadline.is_some_and(|d| Instant::now() > d) {
                return Ok((counted, sys::thread_cpu().since(&cpu0)));
            }
        }
        events.clear();
        be.poll(&mut events, Some(Duration::from_millis(2)))
            .map_err(|e| e.to_string())?;
        for ev in &events {
            match *ev {
                NetEvent::Connected { ok, .. } => {
                    if !ok {
                        return Err("sink: connect failed".into());
                    }
                    connecting -= 1;
                    up += 1;
                }
                NetEvent::Readable(c) => {
                    let Some(&i) = slot_of.get(&c) else { continue };
                    loop {
                        buf.clear();
                        match be.recv(c, &mut buf, 256 * 1024) {
                            Ok(0) => break,
                            Ok(_) => counted += count_markers(&mut carries[i], &buf),
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            Err(e) => return Err(format!("sink read: {e}")),
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

/// Entry point of the sink process.
pub fn sink_main(a: &SinkArgs) -> i32 {
    sys::raise_nofile();
    if let Some(c) = a.core {
        sys::pin_current_thread(c);
    }
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if let Some(n) = line
                .strip_prefix("END ")
                .and_then(|v| v.trim().parse().ok())
            {
                let _ = tx.send(n);
                break;
            }
        }
    });
    let ready = || {
        println!("READY");
        let _ = std::io::stdout().flush();
    };
    match sink(a.addr, a.connections, &ready, &rx) {
        Ok((n, cpu)) => {
            println!("COUNT {n} {} {}", cpu.user_us, cpu.sys_us);
            0
        }
        Err(e) => {
            println!("FAIL {e}");
            1
        }
    }
}

enum SinkHandle {
    Thread {
        expect: std::sync::mpsc::Sender<u64>,
        join: std::thread::JoinHandle<Result<(u64, CpuTime), String>>,
    },
    Process {
        child: std::process::Child,
        lines: Receiver<String>,
    },
}

/// Whether the sink needs its own process (descriptors) and can have one (this executable is
/// msrp-bench).
fn sink_in_process(n: usize) -> bool {
    let limit = sys::raise_nofile() as usize;
    let is_bench = std::env::current_exe()
        .ok()
        .and_then(|p| {
            p.file_name()
                .map(|f| f.to_string_lossy().starts_with("msrp-bench"))
        })
        .unwrap_or(false);
    is_bench && 2 * n + 200 > limit
}

fn start_sink(
    addr: SocketAddr,
    n: usize,
    core: Option<usize>,
) -> Result<(SinkHandle, Receiver<()>), String> {
    let (ready_tx, ready_rx) = channel();
    if sink_in_process(n) {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut cmd = Command::new(exe);
        cmd.args([
            "limit-sink",
            "--addr",
            &addr.to_string(),
            "--connections",
            &n.to_string(),
        ]);
        if let Some(c) = core {
            cmd.args(["--core", &c.to_string()]);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("sink process: {e}"))?;
        let out = child.stdout.take().ok_or("sink stdout")?;
        let (ltx, lrx) = channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if l == "READY" {
                    let _ = ready_tx.send(());
                } else if ltx.send(l).is_err() {
                    break;
                }
            }
        });
        Ok((SinkHandle::Process { child, lines: lrx }, ready_rx))
    } else {
        let (etx, erx) = channel();
        let join = std::thread::Builder::new()
            .name("limit-sink".into())
            .spawn(move || {
                if let Some(c) = core {
                    sys::pin_current_thread(c);
                }
                let ready = move || {
                    let _ = ready_tx.send(());
                };
                sink(addr, n, &ready, &erx)
            })
            .map_err(|e| e.to_string())?;
        Ok((SinkHandle::Thread { expect: etx, join }, ready_rx))
    }
}

fn finish_sink(h: SinkHandle, written: u64) -> Result<(u64, Option<CpuTime>), String> {
    match h {
        SinkHandle::Thread { expect, join } => {
            let _ = expect.send(written);
            let (n, cpu) = join
                .join()
                .map_err(|_| "sink thread panicked".to_string())??;
            Ok((n, Some(cpu)))
        }
        SinkHandle::Process { mut child, lines } => {
            if let Some(i) = child.stdin.as_mut() {
                let _ = writeln!(i, "END {written}");
                let _ = i.flush();
            }
            let line = lines
                .recv_timeout(Duration::from_secs(30))
                .map_err(|_| "sink process did not report".to_string())?;
            let _ = child.wait();
            let mut it = line.split_whitespace();
            match it.next() {
                Some("COUNT") => {
                    let n = it.next().and_then(|v| v.parse().ok()).unwrap_or(0);
                    let u: f64 = it.next().and_then(|v| v.parse().ok()).unwrap_or(0.0);
                    let s: f64 = it.next().and_then(|v| v.parse().ok()).unwrap_or(0.0);
                    Ok((
                        n,
                        Some(CpuTime {
                            user_us: u,
                            sys_us: s,
                        }),
                    ))
                }
                _ => Err(format!("sink: {line}")),
            }
        }
    }
}

/// Runs one measurement. The writer runs on the calling thread (pinned by the caller).
pub fn run(opts: &LimitOpts, pin: &Pinning) -> LimitOutcome {
    let mut out = LimitOutcome::default();
    let fail = |mut o: LimitOutcome, e: String| {
        o.errors.push(e);
        o
    };
    let mut be = match KernelBackend::new(4096) {
        Ok(b) => b,
        Err(e) => return fail(out, e.to_string()),
    };
    let addr = match be.listen(SocketAddr::from(([127, 0, 0, 1], 0))) {
        Ok((_, a)) => a,
        Err(e) => return fail(out, e.to_string()),
    };
    out.sink_process = sink_in_process(opts.connections);
    let (sink_h, ready) = match start_sink(addr, opts.connections, pin.generator) {
        Ok(s) => s,
        Err(e) => return fail(out, e),
    };
    let mut conns: Vec<ConnId> = Vec::with_capacity(opts.connections);
    let mut events = Vec::new();
    let t_setup = Instant::now();
    while conns.len() < opts.connections {
        if t_setup.elapsed() > Duration::from_secs(60) {
            return fail(out, format!("only {} connections accepted", conns.len()));
        }
        events.clear();
        if let Err(e) = be.poll(&mut events, Some(Duration::from_millis(10))) {
            return fail(out, e.to_string());
        }
        for ev in &events {
            if let NetEvent::Accepted { conn, .. } = ev {
                conns.push(*conn);
            }
        }
    }
    if ready.recv_timeout(Duration::from_secs(60)).is_err() {
        return fail(out, "sink not ready".into());
    }
    let f = frame(opts.head_bytes, opts.body_bytes);
    let batch = opts.batch.max(1);
    let frame_len = f.head.len() + f.body.len() + f.tail.len();
    let batch_len = frame_len * batch;
    let mut blocked = vec![false; conns.len()];
    let mut pending: Vec<Vec<u8>> = vec![Vec::new(); conns.len()];
    let mut slot_of: std::collections::HashMap<ConnId, usize> =
        conns.iter().enumerate().map(|(i, c)| (*c, i)).collect();
    let mut progress = Progress::new();
    let cpu0 = sys::thread_cpu();
    let t0 = Instant::now();
    let mut iov: Vec<IoSlice<'_>> = Vec::with_capacity(2 * batch + 1);
    iov.push(IoSlice::new(&f.head));
    for k in 0..batch {
        iov.push(IoSlice::new(&f.body));
        iov.push(IoSlice::new(if k + 1 == batch {
            &f.tail
        } else {
            &f.tail_head
        }));
    }
    let full = |o: &LimitOutcome| opts.max_frames.is_some_and(|m| o.written >= m);
    'outer: while t0.elapsed() < opts.duration && !full(&out) {
        for i in 0..conns.len() {
            if blocked[i] {
                continue;
            }
            if !pending[i].is_empty() {
                match be.send(conns[i], &[IoSlice::new(&pending[i])]) {
                    Ok(n) => {
                        out.writes += 1;
                        pending[i].drain(..n);
                        if !pending[i].is_empty() {
                            blocked[i] = true;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        blocked[i] = true;
                        out.blocked += 1;
                    }
                    Err(e) => return fail(out, format!("write: {e}")),
                }
                continue;
            }
            match be.send(conns[i], &iov) {
                Ok(n) => {
                    out.writes += 1;
                    out.written += batch as u64;
                    if n < batch_len {
                        // The rest of the batch goes out before anything else on this socket.
                        let mut rest = Vec::with_capacity(batch_len - n);
                        let mut skip = n;
                        for s in &iov {
                            if skip >= s.len() {
                                skip -= s.len();
                            } else {
                                rest.extend_from_slice(&s[skip..]);
                                skip = 0;
                            }
                        }
                        pending[i] = rest;
                        blocked[i] = true;
                        out.blocked += 1;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    blocked[i] = true;
                    out.blocked += 1;
                }
                Err(e) => return fail(out, format!("write: {e}")),
            }
            if full(&out) {
                break 'outer;
            }
        }
        events.clear();
        let all_blocked = blocked.iter().all(|b| *b);
        let timeout = if all_blocked {
            Duration::from_millis(1)
        } else {
            Duration::ZERO
        };
        if let Err(e) = be.poll(&mut events, Some(timeout)) {
            return fail(out, e.to_string());
        }
        for ev in &events {
            if let NetEvent::Writable(c) = ev {
                if let Some(&i) = slot_of.get(c) {
                    blocked[i] = false;
                }
            }
        }
        progress.tick(|| {
            format!(
                "limit M={} batch {batch}: {} frames written ({})",
                conns.len(),
                out.written,
                human_rate(out.written as f64 / t0.elapsed().as_secs_f64())
            )
        });
    }
    // Whatever is left of partial batches.
    let flush_deadline = Instant::now() + Duration::from_secs(10);
    while pending.iter().any(|p| !p.is_empty()) && Instant::now() < flush_deadline {
        for i in 0..conns.len() {
            if pending[i].is_empty() {
                continue;
            }
            match be.send(conns[i], &[IoSlice::new(&pending[i])]) {
                Ok(n) => {
                    pending[i].drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return fail(out, format!("write: {e}")),
            }
        }
        events.clear();
        let _ = be.poll(&mut events, Some(Duration::from_millis(1)));
    }
    out.writer_cpu = sys::thread_cpu().since(&cpu0);
    progress.done();
    let claimed = out.written + opts.inject_phantom;
    match finish_sink(sink_h, claimed) {
        Ok((n, cpu)) => {
            out.counted = n;
            out.sink_cpu = cpu;
        }
        Err(e) => out.errors.push(e),
    }
    out.secs = t0.elapsed().as_secs_f64();
    if out.counted != claimed {
        out.errors.push(format!(
            "wrote {claimed} frames, the sink counted {}",
            out.counted
        ));
    }
    slot_of.clear();
    for c in conns {
        be.close(c);
    }
    out
}

/// One run as JSON.
pub fn outcome_json(opts: &LimitOpts, o: &LimitOutcome) -> Value {
    let per = |c: Option<CpuTime>| c.map(|c| c.total_us() / o.counted.max(1) as f64);
    json!({
        "batch": opts.batch,
        "frames_per_s": o.frames_per_s(),
        "frames_written": o.written,
        "frames_counted": o.counted,
        "seconds": o.secs,
        "writev_calls": o.writes,
        "writes_refused": o.blocked,
        "writer_us_per_frame": per(Some(o.writer_cpu)),
        "sink_us_per_frame": per(o.sink_cpu),
        "writer_core_share": o.writer_cpu.total_us() / 1e6 / o.secs.max(1e-9),
        "sink_in_child_process": o.sink_process,
        "ok": o.errors.is_empty(),
    })
}

/// Parses the batch list.
pub fn batches(s: &str) -> Vec<usize> {
    let v: Vec<usize> = s
        .split(',')
        .filter_map(|x| x.trim().parse().ok())
        .filter(|b| *b > 0)
        .collect();
    if v.is_empty() {
        vec![8]
    } else {
        v
    }
}

/// Runs the limit for every batch size with the writer pinned on the target core; returns the
/// runs (JSON) and errors. Used by `limit` and by `fanout` (same cores, same frame size).
pub fn measure(base: &LimitOpts, batch_list: &[usize], pin: &Pinning) -> (Vec<Value>, Vec<String>) {
    let mut runs = Vec::new();
    let mut errors = Vec::new();
    let writer_core = pin.target.first().copied();
    for &b in batch_list {
        let opts = LimitOpts {
            batch: b,
            ..base.clone()
        };
        let pin2 = pin.clone();
        let r = std::thread::Builder::new()
            .name("limit-writer".into())
            .spawn(move || {
                if let Some(c) = writer_core {
                    sys::pin_current_thread(c);
                }
                let o = run(&opts, &pin2);
                (outcome_json(&opts, &o), o.errors)
            })
            .map_err(|e| e.to_string())
            .and_then(|h| h.join().map_err(|_| "limit writer panicked".to_string()));
        match r {
            Ok((v, e)) => {
                errors.extend(e.into_iter().map(|e| format!("batch {b}: {e}")));
                runs.push(v);
            }
            Err(e) => errors.push(e),
        }
    }
    (runs, errors)
}

/// Entry point of `msrp-bench limit`.
pub fn main(args: &Args) -> i32 {
    let pin = if args.common.no_pin {
        Pinning::none()
    } else {
        Pinning::auto()
    };
    let base = LimitOpts {
        connections: args.connections.max(1),
        head_bytes: args.head_bytes,
        body_bytes: args.body_bytes,
        batch: 1,
        duration: Duration::from_secs_f64(args.duration.max(0.1)),
        max_frames: None,
        inject_phantom: 0,
    };
    let bl = batches(&args.batch);
    let (runs, errors) = measure(&base, &bl, &pin);
    let mut r = Report::new("limit");
    let f = frame(args.head_bytes, args.body_bytes);
    r.config = json!({
        "connections": base.connections,
        "frame_bytes": f.head.len() + f.body.len() + f.tail.len(),
        "per_recipient_bytes": f.head.len() + f.tail.len(),
        "shared_body_bytes": f.body.len(),
        "batches": bl,
        "duration_s": base.duration.as_secs_f64(),
        "pinning": {"writer_core": pin.target.first(), "sink_core": pin.generator},
        "method": "kernel backend (mio/epoll), writev of [head, body, end+head, body, ..., end] per connection, round-robin; sink drains with epoll and counts end-lines",
    });
    r.cpu = json!({
        "writer_us_per_frame": runs.iter().map(|v| v["writer_us_per_frame"].clone()).collect::<Vec<_>>(),
        "sink_us_per_frame": runs.iter().map(|v| v["sink_us_per_frame"].clone()).collect::<Vec<_>>(),
    });
    r.summary = format!(
        "limit M={} {} B frames: {}",
        base.connections,
        f.head.len() + f.body.len() + f.tail.len(),
        runs.iter()
            .map(|v| format!(
                "batch {} {} frames/s",
                v["batch"],
                human_rate(v["frames_per_s"].as_f64().unwrap_or(0.0)).trim_end_matches("/s")
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    r.results = json!({ "runs": runs });
    r.errors = errors;
    r.emit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_sizes_match_the_request() {
        let f = frame(80, 100);
        assert_eq!(f.head.len() + f.tail.len(), 80);
        assert_eq!(f.body.len(), 100);
        assert!(f.head.ends_with(b"\r\n\r\n"));
        let mut whole = f.head.clone();
        whole.extend_from_slice(&f.body);
        whole.extend_from_slice(&f.tail);
        let mut carry = Vec::new();
        assert_eq!(count_markers(&mut carry, &whole), 1);
    }

    #[test]
    fn markers_split_across_reads_count_once() {
        let s = b"aaa-------x$\r\nbbb-------y$\r\n".repeat(5);
        for cut in 0..s.len() {
            let mut carry = Vec::new();
            let n = count_markers(&mut carry, &s[..cut]) + count_markers(&mut carry, &s[cut..]);
            assert_eq!(n, 10, "cut at {cut}");
        }
    }
}
