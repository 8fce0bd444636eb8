//! The management API and msrpctl against the msrpd binary: status, workers, counters,
//! metrics that move with relay traffic, `--json`, relay sessions, errors and exit codes
//! (daemon down, unknown route, focus not running), the bearer token.

mod ops_support;

use std::time::Duration;

use e2e::procs::TempDir;
use e2e::scenario::transfer;
use e2e::{pattern, RelayNode};
use ops_support::{ctl, ctl_ok, metric, msrpd, pair};

#[test]
fn msrpctl_shows_status_workers_and_metrics_that_move_with_traffic() {
    let dir = TempDir::new("ops-api");
    let mut node = RelayNode::new("relay.test");
    node.workers = 2;
    let mut r = node.spawn(msrpd(), dir.path());
    let addr = r.mgmt.expect("management API announced").to_string();

    let status = ctl_ok(&r, &["status"]);
    assert!(status.contains("kernel"), "{status}");
    assert!(status.contains(&r.uri()), "{status}");
    let v: serde_json::Value = serde_json::from_str(&ctl_ok(&r, &["status", "--json"])).unwrap();
    assert_eq!(v["workers"], 2);
    assert_eq!(v["listeners"]["mgmt"]["tcp"], addr.as_str());
    assert_eq!(v["draining"], false);

    let before = ctl_ok(&r, &["metrics"]);
    for series in [
        "msrpd_worker_bytes_total{worker=\"0\",direction=\"in\"}",
        "msrpd_worker_bytes_total{worker=\"1\",direction=\"out\"}",
        "msrpd_worker_requests_forwarded_total{worker=\"0\"}",
        "msrpd_worker_queue_bytes{worker=\"1\"}",
        "msrpd_worker_ring_messages{worker=\"0\",ring=\"control\"}",
        "msrpd_worker_drops_total{worker=\"0\",cause=\"rejected\"}",
        "msrpd_uptime_seconds",
    ] {
        assert!(
            metric(&before, series).is_some(),
            "{series} missing:\n{before}"
        );
    }
    let sum = |text: &str, name: &str| -> f64 {
        (0..2)
            .filter_map(|w| metric(text, &name.replace("W", &w.to_string())))
            .sum()
    };
    let fwd = "msrpd_worker_requests_forwarded_total{worker=\"W\"}";
    let bytes_in = "msrpd_worker_bytes_total{worker=\"W\",direction=\"in\"}";
    let auth_ok = "msrpd_worker_auth_total{worker=\"W\",result=\"ok\"}";
    assert_eq!(sum(&before, fwd), 0.0);

    let (mut a, mut b, to) = pair(&r, "alice", "bob");
    let body = pattern(200 * 1024, 3);
    transfer(&mut a, &to, &mut b, &body, 64 * 1024, "ops-1");

    let after = ctl_ok(&r, &["metrics"]);
    assert!(sum(&after, fwd) >= 4.0, "4 chunks and a REPORT:\n{after}");
    assert!(sum(&after, bytes_in) >= body.len() as f64, "{after}");
    assert_eq!(sum(&after, auth_ok), 2.0, "{after}");

    let workers: serde_json::Value =
        serde_json::from_str(&ctl_ok(&r, &["workers", "--json"])).unwrap();
    let list = workers["workers"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    let conns: u64 = list
        .iter()
        .map(|w| w["connections"].as_u64().unwrap())
        .sum();
    assert_eq!(conns, 2, "{workers}");
    let table = ctl_ok(&r, &["workers"]);
    assert!(table.starts_with("WORKER"), "{table}");
    assert_eq!(table.lines().count(), 3, "{table}");

    let counters: serde_json::Value =
        serde_json::from_str(&ctl_ok(&r, &["counters", "--json"])).unwrap();
    assert_eq!(counters["relay_sessions"], 2);
    assert!(counters["bytes_out"].as_u64().unwrap() >= body.len() as u64);

    let sessions = ctl_ok(&r, &["relay", "sessions"]);
    assert!(sessions.contains("alice.invalid"), "{sessions}");
    assert!(sessions.contains("bob.invalid"), "{sessions}");

    let cfg = ctl_ok(&r, &["config"]);
    assert!(cfg.contains("[relay]"), "{cfg}");
    assert!(!cfg.contains("alicepw"), "password shown: {cfg}");

    // Rooms through the focus: the demo room, then one created, changed and deleted.
    let rooms = ctl_ok(&r, &["rooms", "list"]);
    assert!(rooms.contains("demo"), "{rooms}");
    let made: serde_json::Value = serde_json::from_str(&ctl_ok(
        &r,
        &["rooms", "create", "lobby", "max_members=7", "--json"],
    ))
    .unwrap();
    assert_eq!(made["name"], "lobby", "{made}");
    assert_eq!(made["settings"]["max_members"], 7, "{made}");
    let c = ctl(&["--addr", &addr, "rooms", "create", "lobby"], &[]);
    assert_eq!(c.code, 1, "{}{}", c.out, c.err);
    assert!(c.err.contains("409"), "{}", c.err);
    let c = ctl(
        &["--addr", &addr, "rooms", "set", "lobby", "frobnicate=1"],
        &[],
    );
    assert_eq!(c.code, 1, "{}", c.err);
    assert!(c.err.contains("400"), "{}", c.err);
    ctl_ok(
        &r,
        &["rooms", "set", "lobby", "max_members=9", "subject=hello"],
    );
    let shown: serde_json::Value =
        serde_json::from_str(&ctl_ok(&r, &["rooms", "show", "lobby", "--json"])).unwrap();
    assert_eq!(shown["settings"]["max_members"], 9, "{shown}");
    assert_eq!(shown["settings"]["subject"], "hello", "{shown}");
    let parts = ctl_ok(&r, &["participants", "list", "lobby"]);
    assert_eq!(parts, "(none)\n");
    let c = ctl(
        &[
            "--addr",
            &addr,
            "participants",
            "kick",
            "lobby",
            "sip:nobody@x",
        ],
        &[],
    );
    assert_eq!(c.code, 1, "{}", c.err);
    assert!(c.err.contains("404"), "{}", c.err);
    ctl_ok(&r, &["rooms", "delete", "lobby"]);
    let c = ctl(&["--addr", &addr, "rooms", "show", "lobby"], &[]);
    assert_eq!(c.code, 1, "{}", c.err);
    assert!(c.err.contains("404"), "{}", c.err);
    let regs: serde_json::Value =
        serde_json::from_str(&ctl_ok(&r, &["sip", "registrations", "--json"])).unwrap();
    assert!(regs["registrations"].is_array(), "{regs}");
    ctl_ok(&r, &["sip", "flows"]);
    let m = ctl_ok(&r, &["metrics"]);
    assert!(metric(&m, "msrpd_sip_registrations").is_some(), "{m}");
    assert!(m.contains("msrpd_room_members{room=\"sip:demo@"), "{m}");

    let top = ctl_ok(&r, &["top", "--iterations", "2", "--interval", "0.2"]);
    assert_eq!(top.matches("WORKER").count(), 2, "{top}");

    let st = r.guard.stop(Duration::from_secs(10)).expect("msrpd exited");
    assert!(st.success(), "{st:?}");
    drop((a, b));
    let c = ctl(&["--addr", &addr, "status"], &[]);
    assert_eq!(c.code, 3, "daemon down: {}{}", c.out, c.err);
    assert!(c.err.contains("cannot connect"), "{}", c.err);
}

#[test]
fn token_is_required_off_loopback_and_checked() {
    let dir = TempDir::new("ops-token");
    // --check refuses a public management address without a token.
    let cfg = dir.join("public.toml");
    std::fs::write(&cfg, "[mgmt]\nlisten = \"0.0.0.0:0\"\n").unwrap();
    let out = std::process::Command::new(msrpd())
        .arg("--check")
        .arg("-c")
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("mgmt.token"), "{err}");
    assert!(err.contains("not a loopback"), "{err}");
    std::fs::write(
        &cfg,
        "[mgmt]\nlisten = \"0.0.0.0:0\"\ntoken = \"s3cret-t0ken\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(msrpd())
        .arg("--check")
        .arg("-c")
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");

    // A daemon with a token (on loopback, over TCP and a Unix socket).
    let sock = dir.join("mgmt.sock");
    let mut node = RelayNode::new("relay.test");
    node.mgmt.push("token = \"s3cret-t0ken\"".into());
    node.mgmt
        .push(format!("socket = {:?}", sock.display().to_string()));
    let r = node.spawn(msrpd(), dir.path());
    let addr = r.mgmt.unwrap().to_string();
    let c = ctl(&["--addr", &addr, "status"], &[]);
    assert_eq!(c.code, 1, "{}{}", c.out, c.err);
    assert!(c.err.contains("401"), "{}", c.err);
    let c = ctl(&["--addr", &addr, "--token", "wrong", "metrics"], &[]);
    assert_eq!(c.code, 1, "{}", c.err);
    let c = ctl(
        &["status", "--json"],
        &[("MSRPCTL_ADDR", &addr), ("MSRPCTL_TOKEN", "s3cret-t0ken")],
    );
    assert_eq!(c.code, 0, "{}", c.err);
    let v: serde_json::Value = serde_json::from_str(&c.out).unwrap();
    assert_eq!(v["listeners"]["mgmt"]["unix"], sock.display().to_string());
    let s = sock.display().to_string();
    let c = ctl(
        &["--socket", &s, "--token", "s3cret-t0ken", "counters"],
        &[],
    );
    assert_eq!(c.code, 0, "{}", c.err);
    assert!(c.out.contains("bytes_in"), "{}", c.out);
    // The configuration shown hides the token.
    let c = ctl(
        &[
            "--socket",
            &s,
            "--token",
            "s3cret-t0ken",
            "config",
            "--json",
        ],
        &[],
    );
    assert!(!c.out.contains("s3cret-t0ken"), "{}", c.out);
}

#[test]
fn usage_errors_and_completions() {
    let c = ctl(&["rooms"], &[]);
    assert_eq!(c.code, 2, "{}", c.err);
    let c = ctl(&["completions", "bash"], &[]);
    assert_eq!(c.code, 0);
    assert!(c.out.contains("msrpctl"), "{}", c.out);
    assert!(c.out.contains("relay"), "{}", c.out);
    let c = ctl(&["--addr", "256.1.1.1:1", "status"], &[]);
    assert_eq!(c.code, 3, "{}", c.err);
}
