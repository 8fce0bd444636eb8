//! `msrp-bench table`: gathers the JSON objects of a `scripts/bench.sh` run (one per line)
//! into `bench/results/<date>.json` and renders the markdown tables of `<date>.md`.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde_json::{json, Value};

use crate::report::get_f64;

/// `msrp-bench table`
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Reports, one JSON object per line.
    #[arg(long)]
    pub input: PathBuf,
    /// Where to write the gathered JSON.
    #[arg(long)]
    pub json_out: Option<PathBuf>,
    /// Where to write the markdown (stdout if absent).
    #[arg(long)]
    pub md_out: Option<PathBuf>,
    /// A note on the conditions (load, other work on the machine), copied into both.
    #[arg(long, default_value = "")]
    pub note: String,
}

fn f(v: Option<f64>, digits: usize) -> String {
    match v {
        Some(x) if x.abs() >= 1e6 => format!("{:.2}M", x / 1e6),
        Some(x) if x.abs() >= 1e4 => format!("{:.1}k", x / 1e3),
        Some(x) => format!("{x:.digits$}"),
        None => "–".into(),
    }
}

fn g(v: &Value, p: &str) -> Option<f64> {
    get_f64(v, p)
}

/// Renders the markdown for a list of reports.
pub fn markdown(reports: &[Value], note: &str) -> String {
    let mut md = String::new();
    let first = reports.first().cloned().unwrap_or(json!({}));
    let m = &first["machine"];
    let _ = writeln!(
        md,
        "Measured {} on {} vCPU ({}{}), Linux {}, load average at start {}; msrp-bench {}.",
        first["date"].as_str().unwrap_or("?"),
        m["nproc"],
        m["cpu"].as_str().unwrap_or("?"),
        if m["virtualised"] == true {
            ", virtualised"
        } else {
            ""
        },
        m["kernel"].as_str().unwrap_or("?"),
        m["loadavg_at_start"],
        first["versions"]["msrp-bench"].as_str().unwrap_or("?"),
    );
    if !note.is_empty() {
        let _ = writeln!(md, "\n{note}");
    }
    for r in reports {
        if r["ok"] == false {
            let _ = writeln!(
                md,
                "\n**{} FAILED**: {}",
                r["scenario"].as_str().unwrap_or("?"),
                r["errors"]
            );
        }
    }
    for r in reports
        .iter()
        .filter(|r| r["scenario"] == "relay" && r["results"]["ratios"].is_object())
    {
        let res = &r["results"];
        let sc = &r["config"]["scenario"];
        let _ = writeln!(md, "\n### Relay: msrpd vs Kamailio ({} sessions, {} B messages, window {}, {} alternations, medians)\n",
            sc["sessions"], sc["message_size"], sc["window_per_session"], r["config"]["alternations"]);
        let _ = writeln!(md, "| relay | msgs/s | relay CPU µs/msg | relay core share | p50 µs | p99 µs | p99.9 µs | p99 µs at {} msgs/s | generator µs/msg |", f(g(r, "config.same_load_rate"), 0));
        let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|");
        for (name, gen) in [
            ("msrpd", "cpu.generator_us_per_msg_with_msrpd"),
            ("kamailio", "cpu.generator_us_per_msg_with_kamailio"),
        ] {
            let t = &res[name];
            let _ = writeln!(
                md,
                "| {name} | {} | {} | {} | {} | {} | {} | {} | {} |",
                f(g(t, "msgs_per_s"), 0),
                f(g(t, "target_us_per_msg"), 1),
                f(g(t, "target_core_share"), 2),
                f(g(t, "latency_saturated.p50_us"), 0),
                f(g(t, "p99_us_saturated"), 0),
                f(g(t, "latency_saturated.p999_us"), 0),
                f(g(t, "p99_us_same_load"), 0),
                f(g(r, gen), 1)
            );
        }
        let ra = &res["ratios"];
        let _ = writeln!(
            md,
            "| **msrpd / kamailio** | **{}x** | **{}** | | | {} | | {} | |",
            f(g(ra, "msgs_per_s_msrpd_over_kamailio"), 2),
            f(g(ra, "target_us_per_msg_msrpd_over_kamailio"), 3),
            f(g(ra, "p99_saturated_msrpd_over_kamailio"), 2),
            f(g(ra, "p99_same_load_msrpd_over_kamailio"), 2)
        );
        let per: Vec<String> = ra["per_alternation"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|p| {
                        format!(
                            "{}x / {}",
                            f(g(p, "msgs_per_s"), 2),
                            f(g(p, "target_us_per_msg"), 3)
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let _ = writeln!(
            md,
            "\nPer alternation (msgs/s ratio / CPU-per-message ratio): {}.",
            per.join(", ")
        );
    }
    for r in reports
        .iter()
        .filter(|r| r["scenario"] == "relay" && !r["results"]["ratios"].is_object())
    {
        let _ = writeln!(
            md,
            "\nRelay ({}): {}",
            r["config"]["target"]["kind"].as_str().unwrap_or("?"),
            r["summary"].as_str().unwrap_or("")
        );
    }
    let limits: Vec<&Value> = reports
        .iter()
        .filter(|r| r["scenario"] == "limit")
        .collect();
    let fanouts: Vec<&Value> = reports
        .iter()
        .filter(|r| r["scenario"] == "fanout")
        .collect();
    if !limits.is_empty() || !fanouts.is_empty() {
        let _ = writeln!(
            md,
            "\n### Fan-out vs the physical limit (kernel TCP on loopback)\n"
        );
        let _ = writeln!(md, "| M connections | frame bytes | limit, 1 frame/writev | limit, 8 frames/writev | writer µs/frame (batch 8) | fan-out deliveries/s | fan-out / limit |");
        let _ = writeln!(md, "|---|---|---|---|---|---|---|");
        for l in &limits {
            let runs = l["results"]["runs"].as_array().cloned().unwrap_or_default();
            let by = |b: u64| runs.iter().find(|v| v["batch"] == b).cloned();
            let m_ = l["config"]["connections"].clone();
            let fo = fanouts.iter().find(|fr| fr["config"]["members"] == m_);
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} |",
                m_,
                l["config"]["frame_bytes"],
                f(by(1).and_then(|v| g(&v, "frames_per_s")), 0),
                f(by(8).and_then(|v| g(&v, "frames_per_s")), 0),
                f(by(8).and_then(|v| g(&v, "writer_us_per_frame")), 2),
                fo.map_or("–".into(), |fr| f(g(fr, "results.deliveries_per_s"), 0)),
                fo.map_or("–".into(), |fr| f(g(fr, "results.ratio_to_limit"), 2))
            );
        }
    }
    if !fanouts.is_empty() {
        let _ = writeln!(
            md,
            "\n### Fan-out: one room, M members (in-process switch, 1 worker; {})\n",
            fanouts[0]["config"]["members_joined_by"]
                .as_str()
                .unwrap_or("?")
        );
        let _ = writeln!(md, "| M | K senders | payload B | deliveries/s | limit (same M, same frame) | fan-out / limit | µs per delivery p50 / p99 | send → last delivery p50 / p99 µs | congestion skips | worker µs/delivery |");
        let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|");
        for fr in &fanouts {
            let res = &fr["results"];
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} / {} | {} / {} | {} | {} |",
                fr["config"]["members"],
                fr["config"]["senders"],
                fr["config"]["payload_bytes"],
                f(g(res, "deliveries_per_s"), 0),
                f(g(res, "limit_best_frames_per_s"), 0),
                f(g(res, "ratio_to_limit"), 2),
                f(g(res, "latency_per_delivery.p50_us"), 0),
                f(g(res, "latency_per_delivery.p99_us"), 0),
                f(g(res, "latency_send_to_last_delivery.p50_us"), 0),
                f(g(res, "latency_send_to_last_delivery.p99_us"), 0),
                res["congestion_skips"],
                f(g(fr, "cpu.switch_worker_us_per_delivery"), 2),
            );
        }
    }
    for r in reports.iter().filter(|r| r["scenario"] == "backends") {
        let sc = &r["config"]["scenario"];
        let _ = writeln!(
            md,
            "\n### Relay per core: kernel vs DPDK backend (msrpd binary, one worker, same veth pair and core, {} sessions, {} B, {} rounds, medians; DPDK idle_sleep_us = {})\n",
            sc["sessions"], sc["message_size"], r["config"]["alternations"], r["config"]["idle_sleep_us"]
        );
        let _ = writeln!(md, "| backend | msgs/s | vs kernel | msrpd CPU µs/msg | msgs per core-second | core share | p50 µs | p99 µs | generator µs/msg |");
        let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|");
        if let Some(per) = r["results"]["per_backend"].as_object() {
            for (name, b) in per {
                let _ = writeln!(
                    md,
                    "| {name} | {} | {}x | {} | {} | {} | {} | {} | {} |",
                    f(g(b, "msgs_per_s"), 0),
                    f(g(b, "msgs_per_s_over_kernel"), 2),
                    f(g(b, "target_us_per_msg"), 2),
                    f(g(b, "msgs_per_core_second"), 0),
                    f(g(b, "target_core_share"), 2),
                    f(g(b, "p50_us"), 0),
                    f(g(b, "p99_us"), 0),
                    f(g(b, "generator_us_per_msg"), 2),
                );
            }
        }
        if let Some(u) = r["config"]["unavailable"]
            .as_array()
            .filter(|u| !u.is_empty())
        {
            let _ = writeln!(
                md,
                "\nNot measured: {}.",
                u.iter()
                    .filter_map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            );
        }
    }
    for r in reports.iter().filter(|r| r["scenario"] == "register") {
        let res = &r["results"];
        let _ = writeln!(
            md,
            "\n### SIP REGISTER (sipp, outbound over TCP, {} alternations, medians)\n",
            r["config"]["alternations"]
        );
        let _ = writeln!(
            md,
            "| registrar | REGISTER/s | CPU µs per REGISTER |\n|---|---|---|"
        );
        let _ = writeln!(
            md,
            "| msrpd | {} | {} |",
            f(g(res, "msrpd_per_s"), 0),
            f(g(r, "cpu.msrpd_us_per_register"), 1)
        );
        let _ = writeln!(
            md,
            "| kamailio | {} | {} |",
            f(g(res, "kamailio_per_s"), 0),
            f(g(r, "cpu.kamailio_us_per_register"), 1)
        );
        let _ = writeln!(
            md,
            "| **msrpd / kamailio** | **{}x** | **{}** |",
            f(g(res, "ratio_msrpd_over_kamailio"), 2),
            f(g(r, "cpu.ratio_msrpd_over_kamailio"), 2)
        );
    }
    let joins: Vec<&Value> = reports.iter().filter(|r| r["scenario"] == "join").collect();
    if !joins.is_empty() {
        let _ = writeln!(
            md,
            "\n### Join: participants enter one room (SIP INVITE over TCP, 200, ACK, MSRP connect, binding SEND, 200; msrpd binary, one worker)\n\n\
             | N | in flight | joins/s | INVITE→200 p50 / p99 / p99.9 µs | INVITE→bound p50 / p99 / p99.9 µs | msrpd CPU µs/join | msrpd core share | BYE 200s | failed |\n\
             |---|---|---|---|---|---|---|---|---|"
        );
    }
    for r in joins {
        let res = &r["results"];
        let lat = |k: &str| {
            format!(
                "{} / {} / {}",
                f(g(res, &format!("latency.{k}.p50_us")), 0),
                f(g(res, &format!("latency.{k}.p99_us")), 0),
                f(g(res, &format!("latency.{k}.p999_us")), 0)
            )
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r["config"]["participants"],
            r["config"]["concurrency"],
            f(g(res, "joins_per_s"), 0),
            lat("invite_to_200"),
            lat("invite_to_bound"),
            f(g(r, "cpu.target_us_per_join"), 0),
            f(g(r, "cpu.target_core_share"), 2),
            res["counts"]["bye_200"],
            res["counts"]["failed"]
        );
    }
    for r in reports.iter().filter(|r| r["scenario"] == "parse") {
        let _ = writeln!(md, "\n### MSRP parser (one core)\n\n| case | frames per CPU-second | GB per CPU-second | ns/frame | allocations/frame |\n|---|---|---|---|---|");
        for c in r["results"]["cases"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} |",
                c["case"].as_str().unwrap_or("?"),
                f(g(&c, "frames_per_cpu_sec"), 0),
                f(g(&c, "gb_per_cpu_sec"), 2),
                f(g(&c, "ns_per_frame"), 0),
                f(g(&c, "allocations_per_frame"), 4)
            );
        }
    }
    for r in reports.iter().filter(|r| {
        ![
            "relay", "limit", "fanout", "backends", "register", "parse", "join",
        ]
        .contains(&r["scenario"].as_str().unwrap_or(""))
    }) {
        let _ = writeln!(
            md,
            "\n{}: {}",
            r["scenario"].as_str().unwrap_or("?"),
            r["summary"].as_str().unwrap_or("")
        );
    }
    md
}

/// Entry point.
pub fn main(a: &Args) -> i32 {
    let text = match std::fs::read_to_string(&a.input) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{}: {e}", a.input.display());
            return 1;
        }
    };
    let reports: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l.trim()).ok())
        .filter(|v: &Value| v.get("scenario").is_some())
        .collect();
    let md = markdown(&reports, &a.note);
    let all_ok = reports.iter().all(|r| r["ok"] == true);
    if let Some(p) = &a.json_out {
        let j = json!({
            "date": crate::sys::utc_now(),
            "note": a.note,
            "all_ok": all_ok,
            "machine": crate::sys::machine(),
            "reports": reports,
        });
        if let Err(e) = std::fs::write(p, serde_json::to_string_pretty(&j).unwrap_or_default()) {
            eprintln!("{}: {e}", p.display());
            return 1;
        }
    }
    match &a.md_out {
        Some(p) => {
            if let Err(e) = std::fs::write(p, &md) {
                eprintln!("{}: {e}", p.display());
                return 1;
            }
        }
        None => print!("{md}"),
    }
    i32::from(!all_ok)
}
