//! Configuration reload of the msrpd binary (`msrpctl reload` and SIGHUP) while sessions run:
//! relay users change without dropping authenticated sessions, a log level change applies,
//! changes that need a restart are named, and an invalid file changes nothing.

mod ops_support;

use std::time::{Duration, Instant};

use e2e::procs::TempDir;
use e2e::scenario::transfer;
use e2e::{pattern, Login, MsrpClient, MsrpdProcess, RelayNode};
use ops_support::{ctl, ctl_ok, msrpd, pair};

const CAROL: Login<'static> = Login {
    user: "carol",
    password: "carolpw",
};

/// Whether carol can authenticate now (on a fresh connection).
fn carol_auths(r: &MsrpdProcess) -> bool {
    let mut c = MsrpClient::connect(r.plain(), "msrp://carol.invalid:2855/carol;tcp").unwrap();
    c.try_auth(&[&r.uri()], &CAROL, None).is_ok()
}

#[test]
fn reload_changes_relay_users_without_dropping_sessions() {
    let dir = TempDir::new("ops-reload");
    let mut node = RelayNode::new("relay.test");
    let r = node.spawn(msrpd(), dir.path());
    let file = dir.join("relay.test-msrpd.toml");
    assert!(file.exists(), "the harness wrote {}", file.display());
    let addr = r.mgmt.unwrap().to_string();

    let (mut a, mut b, to) = pair(&r, "alice", "bob");
    transfer(&mut a, &to, &mut b, &pattern(4096, 1), 2048, "before");
    assert!(!carol_auths(&r), "carol is not a user yet");

    // Add carol, change the log level and the worker count (restart only).
    node.users.push(("carol".into(), "carolpw".into()));
    node.workers = 2;
    let text = node
        .toml()
        .replace("level = \"warn\"", "level = \"info,dataplane=warn\"");
    std::fs::write(&file, text).unwrap();
    let rep: serde_json::Value = serde_json::from_str(&ctl_ok(&r, &["reload", "--json"])).unwrap();
    let applied: Vec<&str> = rep["applied"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(applied.contains(&"relay.users"), "{rep}");
    assert!(applied.contains(&"log.level"), "{rep}");
    assert_eq!(
        rep["restart_required"],
        serde_json::json!(["dataplane.workers"])
    );
    assert!(carol_auths(&r), "carol was added by the reload");
    // The sessions authenticated before go on.
    transfer(&mut a, &to, &mut b, &pattern(4096, 2), 2048, "after-reload");
    // The configuration in force shows the applied change, not the one needing a restart.
    let cfg: serde_json::Value = serde_json::from_str(&ctl_ok(&r, &["config", "--json"])).unwrap();
    assert_eq!(cfg["log"]["level"], "info,dataplane=warn");
    assert_eq!(cfg["dataplane"]["workers"], 1);
    assert_eq!(cfg["relay"]["users"].as_array().unwrap().len(), 3);

    // An invalid file: refused, exit code 1, nothing changes.
    std::fs::write(&file, "[dataplane]\nworkers = 0\n").unwrap();
    let c = ctl(&["--addr", &addr, "reload"], &[]);
    assert_eq!(c.code, 1, "{}{}", c.out, c.err);
    assert!(c.err.contains("dataplane.workers"), "{}", c.err);
    assert!(carol_auths(&r), "a refused reload keeps the users");

    // SIGHUP: carol removed again.
    node.users.retain(|(n, _)| n != "carol");
    std::fs::write(&file, node.toml()).unwrap();
    r.guard.signal(1); // SIGHUP
    let until = Instant::now() + Duration::from_secs(10);
    let mut gone = false;
    while Instant::now() < until {
        if !carol_auths(&r) {
            gone = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(gone, "SIGHUP did not remove carol");
    let counters: serde_json::Value =
        serde_json::from_str(&ctl_ok(&r, &["counters", "--json"])).unwrap();
    assert_eq!(counters["reloads"], 2, "{counters}");
    assert_eq!(counters["reload_failures"], 1, "{counters}");
    transfer(&mut a, &to, &mut b, &pattern(4096, 3), 2048, "after-sighup");
}

#[test]
fn reload_creates_changes_and_deletes_configured_rooms() {
    let dir = TempDir::new("ops-reload-rooms");
    let mut node = RelayNode::new("relay.test");
    node.extra = "[[rooms]]\nuri = \"sip:alpha@localhost\"\nmax_members = 5\n\
                  [[rooms]]\nuri = \"sip:beta@localhost\"\n"
        .into();
    let r = node.spawn(msrpd(), dir.path());
    let file = dir.join("relay.test-msrpd.toml");
    let names = |r: &MsrpdProcess| -> Vec<String> {
        let v: serde_json::Value =
            serde_json::from_str(&ctl_ok(r, &["rooms", "list", "--json"])).unwrap();
        v["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&r), vec!["alpha", "beta"]);
    // A room made over the API is not the configuration's business.
    ctl_ok(&r, &["rooms", "create", "adhoc"]);

    node.extra = "[[rooms]]\nuri = \"sip:alpha@localhost\"\nmax_members = 8\n\
                  [[rooms]]\nuri = \"sip:gamma@localhost\"\n"
        .into();
    std::fs::write(&file, node.toml()).unwrap();
    let rep: serde_json::Value = serde_json::from_str(&ctl_ok(&r, &["reload", "--json"])).unwrap();
    assert_eq!(rep["applied"], serde_json::json!(["rooms"]), "{rep}");
    assert_eq!(rep["warnings"], serde_json::json!([]), "{rep}");
    assert_eq!(names(&r), vec!["adhoc", "alpha", "gamma"]);
    let alpha: serde_json::Value =
        serde_json::from_str(&ctl_ok(&r, &["rooms", "show", "alpha", "--json"])).unwrap();
    assert_eq!(alpha["settings"]["max_members"], 8, "{alpha}");
}
