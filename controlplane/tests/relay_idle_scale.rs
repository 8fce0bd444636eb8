//! Idle authenticated sessions on the `msrpd` binary: how much userspace memory each one costs.
//!
//! A session here is a relay token minted by a successful digest AUTH and bound to its
//! connection. Connections are limited to 20 000 descriptors per process on these machines, so
//! many sessions share a connection (each AUTH on a connection mints another token).
//!
//! The default run is sized for CI (2 000 connections, 10 000 sessions). The full run:
//! `MSRP_IDLE_CONNECTIONS=19000 MSRP_IDLE_SESSIONS=100000 cargo test -p controlplane --profile ci
//! --test relay_idle_scale -- --nocapture`.

use std::path::Path;
use std::time::{Duration, Instant};

use e2e::procs::{cpu_time, memory, open_fds, TempDir};
use e2e::{MsrpClient, RelayNode, ALICE};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn idle_authenticated_sessions_cost_little_memory() {
    // Both processes are limited to 20 000 descriptors; keep some for everything else.
    let conns = env_usize("MSRP_IDLE_CONNECTIONS", 2_000).clamp(1, 19_850);
    let sessions = env_usize("MSRP_IDLE_SESSIONS", 10_000).max(conns);
    // Spread exactly: the first `sessions % conns` connections carry one more.
    let per_conn = |i: usize| sessions / conns + usize::from(i < sessions % conns);

    let dir = TempDir::new("idle");
    let mut n = RelayNode::new("relay.test");
    n.max_connections = 19_900;
    let r = n.spawn(Path::new(env!("CARGO_BIN_EXE_msrpd")), dir.path());
    let pid = r.pid();
    let relay = r.uri();

    // One challenge; the stateless nonce then serves every AUTH (no per-nonce state).
    let mut first = MsrpClient::connect(r.plain(), "msrp://c0.invalid:1/warm;tcp").unwrap();
    let tid = first.send_auth(&[&relay], &[]);
    let ch = first.response_to(&tid);
    assert_eq!(ch.code(), Some(401));
    let creds = first.credentials(&ch, &ALICE, &relay);
    let tid = first.send_auth(&[&relay], &[("Authorization", &creds)]);
    assert_eq!(first.response_to(&tid).code(), Some(200));
    std::thread::sleep(Duration::from_millis(300));
    let base = memory(pid).unwrap();
    let cpu0 = cpu_time(pid).unwrap_or_default();

    let start = Instant::now();
    let mut clients = Vec::with_capacity(conns);
    for i in 0..conns {
        let mut c = MsrpClient::connect(r.plain(), &format!("msrp://c{i}.invalid:1/s;tcp"))
            .unwrap_or_else(|e| panic!("connection {i}: {e}"));
        let mut frames = Vec::with_capacity(per_conn(i) * 200);
        for j in 0..per_conn(i) {
            let t = c.tid();
            let from = format!("msrp://c{i}.invalid:1/s{j};tcp");
            frames.extend_from_slice(
                format!(
                    "MSRP {} AUTH\r\nTo-Path: {relay}\r\nFrom-Path: {from}\r\nAuthorization: {creds}\r\n-------{}$\r\n",
                    t.as_str(),
                    t.as_str()
                )
                .as_bytes(),
            );
        }
        c.write_raw(&frames).unwrap();
        clients.push(c);
    }
    let written = start.elapsed();
    let mut granted = 0usize;
    for (i, c) in clients.iter_mut().enumerate() {
        for _ in 0..per_conn(i) {
            let f = c.next("200 to AUTH");
            assert_eq!(f.code(), Some(200), "{f:?}");
            granted += 1;
        }
    }
    let authed = start.elapsed();
    assert_eq!(granted, sessions);
    std::thread::sleep(Duration::from_secs(1));
    let after = memory(pid).unwrap();
    let cpu = cpu_time(pid).unwrap_or_default().saturating_sub(cpu0);
    let fds = open_fds(pid).unwrap_or(0);
    let per_session =
        (after.rss_kib.saturating_sub(base.rss_kib)) as f64 * 1024.0 / sessions as f64;
    let per_session_anon =
        (after.anon_kib.saturating_sub(base.anon_kib)) as f64 * 1024.0 / sessions as f64;
    println!(
        "idle sessions: {sessions} sessions on {conns} connections ({:.1} per connection); \
         AUTHs written in {written:?}, all granted after {authed:?}; msrpd CPU {cpu:?} \
         ({:.1} us per AUTH); msrpd fds {fds}",
        sessions as f64 / conns as f64,
        cpu.as_secs_f64() * 1e6 / sessions as f64
    );
    println!(
        "idle sessions: msrpd RSS {} KiB -> {} KiB, anon {} KiB -> {} KiB: {per_session:.0} B RSS, \
         {per_session_anon:.0} B anon per session ({:.0} B RSS per connection)",
        base.rss_kib,
        after.rss_kib,
        base.anon_kib,
        after.anon_kib,
        (after.rss_kib.saturating_sub(base.rss_kib)) as f64 * 1024.0 / conns as f64
    );
    assert!(
        per_session <= 4096.0,
        "{per_session:.0} bytes of msrpd RSS per idle session, target 4 KiB"
    );
    // Still serving: a fresh AUTH works with everything in place.
    let tid = first.send_auth(&[&relay], &[("Authorization", &creds)]);
    assert_eq!(first.response_to(&tid).code(), Some(200));
    drop(clients);
}

/// The same over TLS (`msrps`), where each connection also carries a rustls session. Sized by
/// `MSRP_IDLE_TLS_CONNECTIONS` (default 300, two sessions each).
#[test]
fn idle_tls_sessions_memory() {
    use e2e::pki::TestCa;
    let conns = env_usize("MSRP_IDLE_TLS_CONNECTIONS", 300).clamp(1, 19_850);
    let dir = TempDir::new("idle-tls");
    let ca = TestCa::new(dir.path(), "msrp");
    let leaf = ca.leaf(dir.path(), "relay.test");
    let mut n = RelayNode::new("relay.test");
    n.plain = false;
    n.tls = true;
    n.cert = Some((leaf.cert_path.clone(), leaf.key_path.clone()));
    n.ca = vec![ca.pem_path.clone()];
    n.max_connections = 19_900;
    let r = n.spawn(Path::new(env!("CARGO_BIN_EXE_msrpd")), dir.path());
    let pid = r.pid();
    let relay = r.tls_uri();
    let tls = ca.client_config();

    let mut first = MsrpClient::connect_tls(
        r.tls(),
        "relay.test",
        tls.clone(),
        "msrps://c0.invalid:1/w;tcp",
    )
    .unwrap();
    let tid = first.send_auth(&[&relay], &[]);
    let ch = first.response_to(&tid);
    let creds = first.credentials(&ch, &ALICE, &relay);
    let tid = first.send_auth(&[&relay], &[("Authorization", &creds)]);
    assert_eq!(first.response_to(&tid).code(), Some(200));
    std::thread::sleep(Duration::from_millis(300));
    let base = memory(pid).unwrap();

    let start = Instant::now();
    let mut clients = Vec::with_capacity(conns);
    for i in 0..conns {
        let mut c = MsrpClient::connect_tls(
            r.tls(),
            "relay.test",
            tls.clone(),
            &format!("msrps://c{i}.invalid:1/s;tcp"),
        )
        .unwrap_or_else(|e| panic!("TLS connection {i}: {e}"));
        for _ in 0..2 {
            let tid = c.send_auth(&[&relay], &[("Authorization", &creds)]);
            assert_eq!(c.response_to(&tid).code(), Some(200));
        }
        clients.push(c);
    }
    let took = start.elapsed();
    std::thread::sleep(Duration::from_secs(1));
    let after = memory(pid).unwrap();
    let per_conn = (after.rss_kib.saturating_sub(base.rss_kib)) as f64 * 1024.0 / conns as f64;
    println!(
        "idle TLS: {conns} connections, {} sessions in {took:?}; msrpd RSS {} KiB -> {} KiB: \
         {per_conn:.0} B per TLS connection ({:.0} B per session)",
        2 * conns,
        base.rss_kib,
        after.rss_kib,
        per_conn / 2.0
    );
    assert!(
        per_conn < 64.0 * 1024.0,
        "{per_conn:.0} bytes of msrpd RSS per idle TLS connection"
    );
}
