//! `relay` scenario: command line, one target or `--compare` (msrpd and Kamailio alternating
//! in one run, saturated and then at the same paced load), JSON report and plot. The traffic
//! itself is in [`run`].

pub mod run;

use std::time::Duration;

use serde_json::{json, Value};

pub use run::{RelayEndpoint, RelayOpts, RelayOutcome};

use crate::latency::Latency;
use crate::report::{get_f64, human_rate, median, ratio, Report};
use crate::targets::{Pinning, Target, TargetKind};
use crate::CommonArgs;

/// `msrp-bench relay`
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Sessions (pairs of connections through the relay).
    #[arg(long, default_value_t = 10)]
    pub sessions: usize,
    /// Message body size in bytes.
    #[arg(long, default_value_t = 100)]
    pub size: usize,
    /// Chunk size (0: whole messages; Kamailio is held to 8 KiB).
    #[arg(long, default_value_t = 0)]
    pub chunk: usize,
    /// Messages in flight per session.
    #[arg(long, default_value_t = 16)]
    pub window: usize,
    /// Ask for success REPORTs.
    #[arg(long)]
    pub success_report: bool,
    /// Measured seconds per run.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Warm-up seconds per run.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// Pace at this many messages per second in total (default: closed loop, saturating).
    #[arg(long)]
    pub rate: Option<f64>,
    /// ours (msrpd binary), ours-inproc, kamailio, or ADDR[,user,password].
    #[arg(long, default_value = "ours")]
    pub target: String,
    /// Run msrpd and Kamailio alternately in this run and print the ratios.
    #[arg(long)]
    pub compare: bool,
    /// Alternations in --compare (each runs both targets).
    #[arg(long, default_value_t = 3)]
    pub alternations: usize,
    /// In --compare, also run both at this fraction of Kamailio's saturated rate to compare
    /// latency at the same load (0 disables).
    #[arg(long, default_value_t = 0.5)]
    pub same_load: f64,
    /// Kamailio tcp_children.
    #[arg(long, default_value_t = 1)]
    pub kamailio_children: usize,
    #[command(flatten)]
    pub common: CommonArgs,
}

impl Args {
    fn opts(&self) -> RelayOpts {
        RelayOpts {
            sessions: self.sessions.max(1),
            size: self.size,
            chunk: self.chunk,
            window: self.window.max(1),
            success_report: self.success_report,
            duration: Duration::from_secs_f64(self.duration.max(0.01)),
            warmup: Duration::from_secs_f64(self.warmup.max(0.0)),
            rate: self.rate,
            max_messages: None,
            drain: Duration::from_secs(10),
        }
    }
}

/// One run against one target, as JSON.
fn run_json(t: &Target, o: &RelayOutcome, opts: &RelayOpts, rate: Option<f64>) -> Value {
    json!({
        "target": t.name,
        "paced_rate": rate,
        "ok": o.errors.is_empty(),
        "errors": o.errors,
        "results": o.results_json(opts.size),
        "cpu": o.cpu_json(),
    })
}

fn endpoint(t: &Target) -> RelayEndpoint {
    RelayEndpoint {
        addr: t.addr,
        uri: t.uri.clone(),
        user: t.user.clone(),
        password: t.password.clone(),
        max_chunk: t.max_chunk,
    }
}

/// Runs once against `t` with the generator pinned as `pin` says.
pub fn run_on(t: &Target, opts: &RelayOpts, pin: &Pinning) -> RelayOutcome {
    if let Some(c) = pin.generator {
        crate::sys::pin_current_thread(c);
    }
    let label = t.name.clone();
    run::run(opts, &endpoint(t), &|| t.cpu(), &label)
}

fn summary_line(name: &str, o: &RelayOutcome) -> String {
    format!(
        "{name}: {} msgs/s, p50 {} p99 {} p999 {} µs, target {} µs/msg, generator {} µs/msg",
        human_rate(o.msgs_per_s()).trim_end_matches("/s"),
        fmt_opt(o.latency.quantile_us(0.5)),
        fmt_opt(o.latency.quantile_us(0.99)),
        fmt_opt(o.latency.quantile_us(0.999)),
        fmt_opt(o.target_us_per_msg()),
        fmt_opt(o.gen_us_per_msg()),
    )
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or_else(|| "?".into(), |v| format!("{v:.1}"))
}

/// Entry point of `msrp-bench relay`.
pub fn main(args: &Args) -> i32 {
    crate::sys::raise_nofile();
    let pin = if args.common.no_pin {
        Pinning::none()
    } else {
        Pinning::auto()
    };
    let opts = args.opts();
    let report = if args.compare {
        compare(args, &opts, &pin)
    } else {
        single(args, &opts, &pin)
    };
    report.emit()
}

fn single(args: &Args, opts: &RelayOpts, pin: &Pinning) -> Report {
    let mut r = Report::new("relay");
    let kind = match TargetKind::parse(&args.target) {
        Ok(k) => k,
        Err(e) => {
            r.errors.push(e);
            r.summary = "relay: bad target".into();
            return r;
        }
    };
    let t = match Target::start(&kind, pin, args.kamailio_children) {
        Ok(t) => t,
        Err(e) => {
            r.errors.push(e);
            r.summary = "relay: target did not start".into();
            return r;
        }
    };
    let o = run_on(&t, opts, pin);
    r.config = json!({
        "scenario": opts_to_json(opts),
        "target": t.config,
        "pinning": pin.to_json(),
        "generator": "one thread, one epoll loop, session engine, batched writev",
    });
    r.results = o.results_json(opts.size);
    r.cpu = o.cpu_json();
    if let Some(v) = &t.version {
        r.versions.insert(t.name.clone(), json!(v));
    }
    r.errors = o.errors.clone();
    r.summary = format!(
        "relay {} sessions x {} B: {}",
        opts.sessions,
        opts.size,
        summary_line(&t.name, &o)
    );
    if let Some(p) = &args.common.plot {
        if let Err(e) = crate::latency::plot(
            p,
            &format!("relay: send-to-arrival latency, {} B messages", opts.size),
            &[(t.name.clone(), o.latency.clone())],
        ) {
            r.errors.push(format!("plot: {e}"));
        }
    }
    r
}

fn opts_to_json(o: &RelayOpts) -> Value {
    run::opts_json(o)
}

fn med(runs: &[Value], name: &str, path: &str) -> Option<f64> {
    median(
        runs.iter()
            .filter(|r| r["target"] == name)
            .filter_map(|r| get_f64(r, path))
            .collect(),
    )
}

fn compare(args: &Args, opts: &RelayOpts, pin: &Pinning) -> Report {
    let mut r = Report::new("relay");
    let ours = Target::start(&TargetKind::Msrpd, pin, 0);
    let theirs = Target::start(&TargetKind::Kamailio, pin, args.kamailio_children);
    let (ours, theirs) = match (ours, theirs) {
        (Ok(a), Ok(b)) => (a, b),
        (a, b) => {
            for e in [a.err(), b.err()].into_iter().flatten() {
                r.errors.push(e);
            }
            r.summary = "relay --compare: a target did not start".into();
            return r;
        }
    };
    let mut runs: Vec<Value> = Vec::new();
    let mut hist = [
        Latency::new(),
        Latency::new(),
        Latency::new(),
        Latency::new(),
    ];
    for k in 0..args.alternations.max(1) {
        for (i, t) in [&ours, &theirs].into_iter().enumerate() {
            let o = run_on(t, opts, pin);
            eprintln!(
                "relay alternation {} (saturated): {}",
                k + 1,
                summary_line(&t.name, &o)
            );
            for e in &o.errors {
                r.errors.push(format!("{} run {}: {e}", t.name, k + 1));
            }
            hist[i].add(&o.latency);
            runs.push(run_json(t, &o, opts, None));
        }
    }
    let theirs_rate = med(&runs, "kamailio", "results.msgs_per_s");
    let mut same_runs: Vec<Value> = Vec::new();
    let same_rate = theirs_rate.map(|t| t * args.same_load).filter(|r| *r > 0.0);
    if let Some(rate) = same_rate {
        let paced = RelayOpts {
            rate: Some(rate),
            window: opts.window.max(64),
            ..opts.clone()
        };
        for k in 0..args.alternations.max(1) {
            for (i, t) in [&ours, &theirs].into_iter().enumerate() {
                let o = run_on(t, &paced, pin);
                eprintln!(
                    "relay alternation {} (paced at {}): {}",
                    k + 1,
                    human_rate(rate),
                    summary_line(&t.name, &o)
                );
                for e in &o.errors {
                    r.errors
                        .push(format!("{} paced run {}: {e}", t.name, k + 1));
                }
                hist[2 + i].add(&o.latency);
                same_runs.push(run_json(t, &o, &paced, Some(rate)));
            }
        }
    }
    let m = |runs: &[Value], n: &str, p: &str| med(runs, n, p);
    let ours_rate = m(&runs, "msrpd", "results.msgs_per_s");
    let ours_cpu = m(&runs, "msrpd", "cpu.target_us_per_msg");
    let theirs_cpu = m(&runs, "kamailio", "cpu.target_us_per_msg");
    let ours_p99 = m(&runs, "msrpd", "results.latency.p99_us");
    let theirs_p99 = m(&runs, "kamailio", "results.latency.p99_us");
    let ours_p99_same = m(&same_runs, "msrpd", "results.latency.p99_us");
    let theirs_p99_same = m(&same_runs, "kamailio", "results.latency.p99_us");
    let ours_core = m(&runs, "msrpd", "cpu.target_core_share");
    let theirs_core = m(&runs, "kamailio", "cpu.target_core_share");
    // Per-alternation ratios show the spread.
    let pair_ratios: Vec<Value> = runs
        .chunks(2)
        .map(|p| {
            json!({
                "msgs_per_s": ratio(get_f64(&p[0], "results.msgs_per_s"), p.get(1).and_then(|t| get_f64(t, "results.msgs_per_s"))),
                "target_us_per_msg": ratio(get_f64(&p[0], "cpu.target_us_per_msg"), p.get(1).and_then(|t| get_f64(t, "cpu.target_us_per_msg"))),
            })
        })
        .collect();
    r.config = json!({
        "scenario": opts_to_json(opts),
        "targets": {"msrpd": ours.config, "kamailio": theirs.config},
        "pinning": pin.to_json(),
        "alternations": args.alternations,
        "order": "msrpd, kamailio, msrpd, kamailio, ... (saturated), then the same at the paced rate",
        "same_load_fraction_of_kamailio": args.same_load,
        "same_load_rate": same_rate,
        "generator": "one thread, one epoll loop, session engine, batched writev",
    });
    r.results = json!({
        "msrpd": {
            "msgs_per_s": ours_rate,
            "mb_per_s": ours_rate.map(|v| v * opts.size as f64 / 1e6),
            "target_us_per_msg": ours_cpu,
            "target_core_share": ours_core,
            "p99_us_saturated": ours_p99,
            "p99_us_same_load": ours_p99_same,
            "latency_saturated": hist[0].to_json(),
            "latency_same_load": hist[2].to_json(),
        },
        "kamailio": {
            "msgs_per_s": theirs_rate,
            "mb_per_s": theirs_rate.map(|v| v * opts.size as f64 / 1e6),
            "target_us_per_msg": theirs_cpu,
            "target_core_share": theirs_core,
            "p99_us_saturated": theirs_p99,
            "p99_us_same_load": theirs_p99_same,
            "latency_saturated": hist[1].to_json(),
            "latency_same_load": hist[3].to_json(),
        },
        "ratios": {
            "msgs_per_s_msrpd_over_kamailio": ratio(ours_rate, theirs_rate),
            "target_us_per_msg_msrpd_over_kamailio": ratio(ours_cpu, theirs_cpu),
            "msgs_per_target_cpu_second_msrpd_over_kamailio": ratio(theirs_cpu, ours_cpu),
            "p99_saturated_msrpd_over_kamailio": ratio(ours_p99, theirs_p99),
            "p99_same_load_msrpd_over_kamailio": ratio(ours_p99_same, theirs_p99_same),
            "per_alternation": pair_ratios,
        },
        "targets_from_issues": {
            "cpu_per_msg_at_most_one_fifth_of_kamailio": ratio(ours_cpu, theirs_cpu).map(|x| x <= 0.2),
            "msgs_per_s_at_least_5x_kamailio": ratio(ours_rate, theirs_rate).map(|x| x >= 5.0),
            "p99_same_load_no_worse": ratio(ours_p99_same, theirs_p99_same).map(|x| x <= 1.0),
        },
        "runs": runs,
        "same_load_runs": same_runs,
    });
    r.cpu = json!({
        "msrpd_target_us_per_msg": ours_cpu,
        "kamailio_target_us_per_msg": theirs_cpu,
        "generator_us_per_msg_with_msrpd": m(&runs, "msrpd", "cpu.generator_us_per_msg"),
        "generator_us_per_msg_with_kamailio": m(&runs, "kamailio", "cpu.generator_us_per_msg"),
        "generator_core_share_with_msrpd": m(&runs, "msrpd", "cpu.generator_core_share"),
        "generator_core_share_with_kamailio": m(&runs, "kamailio", "cpu.generator_core_share"),
    });
    for t in [&ours, &theirs] {
        if let Some(v) = &t.version {
            r.versions.insert(t.name.clone(), json!(v));
        }
    }
    r.summary = format!(
        "relay --compare ({} sessions x{}, {} B): msrpd {} msgs, {} µs CPU/msg, p99 {} µs | kamailio {} msgs, {} µs CPU/msg, p99 {} µs | msrpd/kamailio: rate {}x, CPU/msg {}, p99 at {} msgs {}",
        opts.sessions,
        args.alternations,
        opts.size,
        ours_rate.map_or("?".into(), human_rate),
        fmt_opt(ours_cpu),
        fmt_opt(ours_p99),
        theirs_rate.map_or("?".into(), human_rate),
        fmt_opt(theirs_cpu),
        fmt_opt(theirs_p99),
        fmt_ratio(ratio(ours_rate, theirs_rate)),
        fmt_ratio(ratio(ours_cpu, theirs_cpu)),
        same_rate.map_or("?".into(), human_rate),
        fmt_ratio(ratio(ours_p99_same, theirs_p99_same)),
    );
    if let Some(p) = &args.common.plot {
        let series = vec![
            ("msrpd saturated".to_string(), hist[0].clone()),
            ("kamailio saturated".to_string(), hist[1].clone()),
            ("msrpd same load".to_string(), hist[2].clone()),
            ("kamailio same load".to_string(), hist[3].clone()),
        ];
        if let Err(e) = crate::latency::plot(
            p,
            &format!("relay: send-to-arrival latency, {} B messages", opts.size),
            &series,
        ) {
            r.errors.push(format!("plot: {e}"));
        }
    }
    r
}

fn fmt_ratio(v: Option<f64>) -> String {
    v.map_or_else(|| "?".into(), |v| format!("{v:.2}"))
}
