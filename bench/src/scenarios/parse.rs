//! `msrp-bench parse`: wire-parser throughput on one core. The input is fed the way a socket
//! delivers it: 64 KiB reads copied into a `BytesMut`, then `Parser::poll` until it needs more.
//!
//! Scenarios: (a) a stream of SEND frames with 100-byte bodies (frames/s, GB/s), (b) SENDs with
//! 64 KiB bodies (GB/s), both with heap allocations per parsed frame on the steady path. Each
//! runs twice: `_reads` includes copying every 64 KiB read into the buffer (what a socket read
//! costs anyway), `_parse_only` times the parser alone over input already in memory.

use crate::alloc_count::allocations;
use crate::report::Report;
use crate::CommonArgs;
use bytes::{Bytes, BytesMut};
use dataplane::wire::{
    ByteRange, Continuation, Event, Ident, Parser, ParserLimits, PathPrefix, RequestWriter,
};
use serde_json::{json, Value};
use std::hint::black_box;
use std::time::{Duration, Instant};

const READ_SIZE: usize = 64 * 1024;
/// How long each scenario runs (`MSRP_BENCH_SECONDS` overrides, e.g. under valgrind).
fn run_for() -> Duration {
    std::env::var("MSRP_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .map_or(Duration::from_secs(3), Duration::from_secs_f64)
}

/// A stream of `count` SEND frames with `body_len`-byte bodies, as a relay or switch sees them.
fn stream(count: usize, body_len: usize) -> Vec<u8> {
    let prefix = PathPrefix::new(
        &["msrp://switch.example.com:2855/s3ss10nAbCdEfGhIj;tcp"],
        &["msrp://client-17.example.net:40213/cl1entXyZ0987;tcp"],
    );
    let body: Vec<u8> = (0..body_len)
        .map(|i| b"abcdefghij klmnop\r\n"[i % 19])
        .collect();
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut rng = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut out = BytesMut::with_capacity(count * (body_len + 260));
    for i in 0..count {
        let tid = Ident::random_for_body(&mut rng, &body).expect("random tid");
        let total = body_len as u64;
        RequestWriter::send(&mut out, tid, &prefix)
            .message_id(format!("msg{i:08}").as_bytes())
            .byte_range(ByteRange {
                start: 1,
                end: Some(total),
                total: Some(total),
            })
            .content_type(b"text/plain")
            .body(&body, Continuation::Complete);
    }
    out.to_vec()
}

struct Outcome {
    frames: u64,
    bytes: u64,
    /// Wall-clock seconds.
    secs: f64,
    /// CPU seconds of this thread: the machine is shared, so rates are per CPU-second.
    cpu_secs: f64,
    allocs: u64,
}

/// CPU time consumed by the calling thread.
fn thread_cpu_secs() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant Linux supports.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0.0;
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// What a session reads from each event.
fn consume(ev: Event, frames: &mut u64) {
    match ev {
        Event::Head(h) => {
            black_box(h.to_path_last().and_then(|u| u.session_id()));
            black_box(h.message_id());
            black_box(h.byte_range());
        }
        Event::Body(b) => {
            black_box::<&Bytes>(&b);
        }
        Event::End { flag } => {
            black_box(flag);
            *frames += 1;
        }
    }
}

/// Parser alone: the whole input already sits in one `BytesMut` (copied there untimed).
fn run_in_memory(input: &[u8], limits: ParserLimits) -> Outcome {
    let mut parser = Parser::new(limits);
    let (mut frames, mut bytes, mut secs, mut cpu_secs, mut allocs) =
        (0u64, 0u64, 0f64, 0f64, 0u64);
    let mut pass = 0;
    while secs < run_for().as_secs_f64() {
        let mut buf = BytesMut::from(input);
        let a0 = allocations();
        let c0 = thread_cpu_secs();
        let t0 = Instant::now();
        let mut n = 0;
        while let Some(ev) = parser.poll(&mut buf).expect("benchmark input parses") {
            consume(ev, &mut n);
        }
        let dt = t0.elapsed().as_secs_f64();
        let dc = thread_cpu_secs() - c0;
        let da = allocations() - a0;
        // The first pass warms up and is not counted.
        if pass > 0 {
            secs += dt;
            cpu_secs += dc;
            allocs += da;
            frames += n;
            bytes += input.len() as u64;
        }
        pass += 1;
    }
    Outcome {
        frames,
        bytes,
        secs,
        cpu_secs,
        allocs,
    }
}

/// Parses `input` repeatedly for `RUN_FOR`, touching what a session would read from each
/// frame (To-Path session URI, Message-ID, Byte-Range, body length).
fn run_stream(input: &[u8], limits: ParserLimits) -> Outcome {
    let mut parser = Parser::new(limits);
    let mut buf = BytesMut::with_capacity(2 * READ_SIZE);
    let mut frames = 0u64;
    let mut bytes = 0u64;
    let mut pass = |frames: &mut u64, bytes: &mut u64| {
        for read in input.chunks(READ_SIZE) {
            buf.reserve(read.len());
            buf.extend_from_slice(read);
            while let Some(ev) = parser.poll(&mut buf).expect("benchmark input parses") {
                consume(ev, frames);
            }
        }
        *bytes += input.len() as u64;
    };
    // Warm up (first-touch page faults, buffer growth) outside the measurement.
    pass(&mut frames, &mut bytes);
    frames = 0;
    bytes = 0;
    let a0 = allocations();
    let c0 = thread_cpu_secs();
    let t0 = Instant::now();
    while t0.elapsed() < run_for() {
        pass(&mut frames, &mut bytes);
    }
    let secs = t0.elapsed().as_secs_f64();
    Outcome {
        frames,
        bytes,
        secs,
        cpu_secs: thread_cpu_secs() - c0,
        allocs: allocations() - a0,
    }
}

fn report(scenario: &str, body_len: usize, o: &Outcome) -> (Value, String) {
    let cpu = if o.cpu_secs > 0.0 { o.cpu_secs } else { o.secs };
    let fps = o.frames as f64 / cpu;
    let gbps = o.bytes as f64 / cpu / 1e9;
    let apf = o.allocs as f64 / o.frames.max(1) as f64;
    let v = json!({
        "case": scenario,
        "body_bytes": body_len,
        "read_size": READ_SIZE,
        "frames": o.frames,
        "bytes": o.bytes,
        "wall_seconds": o.secs,
        "cpu_seconds": o.cpu_secs,
        "frames_per_cpu_sec": fps,
        "gb_per_cpu_sec": gbps,
        "frames_per_wall_sec": o.frames as f64 / o.secs,
        "ns_per_frame": cpu * 1e9 / o.frames.max(1) as f64,
        "allocations": o.allocs,
        "allocations_per_frame": apf,
    });
    let line = format!(
        "{scenario}: {:.2}M frames/s, {gbps:.2} GB/s per CPU-second ({:.0} ns/frame), {apf:.4} allocations/frame",
        fps / 1e6,
        cpu * 1e9 / o.frames.max(1) as f64,
    );
    (v, line)
}

/// `msrp-bench parse`
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Run only this case (send_100b_reads, send_100b_parse_only, send_64kib_reads,
    /// send_64kib_parse_only); `MSRP_BENCH_ONLY` does the same.
    #[arg(long)]
    pub only: Option<String>,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Entry point of `msrp-bench parse`.
pub fn main(args: &Args) -> i32 {
    let only = args
        .only
        .clone()
        .or_else(|| std::env::var("MSRP_BENCH_ONLY").ok());
    let want = |name: &str| only.as_deref().is_none_or(|o| o == name);
    let limits = ParserLimits::default();
    let small = stream(100_000, 100);
    let big = stream(256, 64 * 1024);
    let mut cases = Vec::new();
    let mut lines = Vec::new();
    let mut cpu_ns = serde_json::Map::new();
    let mut run = |name: &str, len: usize, o: Outcome| {
        let (v, l) = report(name, len, &o);
        eprintln!("parse {l}");
        cpu_ns.insert(
            format!("{name}_ns_per_frame"),
            json!(o.cpu_secs.max(1e-12) * 1e9 / o.frames.max(1) as f64),
        );
        cases.push(v);
        lines.push(l);
    };
    if want("send_100b_reads") {
        run("send_100b_reads", 100, run_stream(&small, limits));
    }
    if want("send_100b_parse_only") {
        run("send_100b_parse_only", 100, run_in_memory(&small, limits));
    }
    if want("send_64kib_reads") {
        run("send_64kib_reads", 64 * 1024, run_stream(&big, limits));
    }
    if want("send_64kib_parse_only") {
        run(
            "send_64kib_parse_only",
            64 * 1024,
            run_in_memory(&big, limits),
        );
    }
    let mut r = Report::new("parse");
    r.config = json!({
        "seconds_per_case": run_for().as_secs_f64(),
        "read_size": READ_SIZE,
        "threads": 1,
        "input": "SEND frames as a relay sees them, 64 KiB reads",
    });
    r.results = json!({ "cases": cases });
    r.cpu = Value::Object(cpu_ns);
    if lines.is_empty() {
        r.errors.push(format!("no such case {only:?}"));
    }
    r.summary = format!("parse: {}", lines.join("; "));
    r.emit()
}
