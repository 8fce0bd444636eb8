//! sipp scenarios (tests/sipp/*.xml) run against the SIP server started in-process on
//! ephemeral loopback ports; each test checks sipp's exit code and the registrar state.
//! sipp processes are killed by PID when a test ends (see `sip_common::Sipp`). Skipped with a
//! message when sipp is not installed (scripts/test.sh installs the `sip-tester` package).

mod sip_common;

use std::time::{Duration, Instant};

use controlplane::sip::wire::NameAddr;
use controlplane::sip::{SipServer, TransportKind};
use sip_common::*;

const AOR: &str = "sip:alice@example.com";
const LIMIT: Duration = Duration::from_secs(30);

macro_rules! need_sipp {
    () => {
        if !sipp_available() {
            eprintln!("SKIPPED: sipp not installed");
            return;
        }
    };
}

async fn wait_bindings(srv: &SipServer, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while srv.location().lookup(AOR, Instant::now()).len() != n {
        assert!(Instant::now() < deadline, "expected {n} bindings");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_register_outbound_udp() {
    need_sipp!();
    let srv = start(&[]).await;
    let s = Sipp::start(
        "register_outbound",
        addr(&srv, TransportKind::Udp),
        "u1",
        &["-key", "regid", "1", "-d", "0"],
    );
    assert_eq!(s.wait(LIMIT).await, 0);
    let b = srv.location().lookup(AOR, Instant::now());
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].flow.unwrap().transport, TransportKind::Udp);
    assert_eq!(b[0].reg_id, Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_register_outbound_tcp_flow_dies_with_connection() {
    need_sipp!();
    let srv = start(&[]).await;
    let s = Sipp::start(
        "register_outbound",
        addr(&srv, TransportKind::Tcp),
        "t1",
        &["-key", "regid", "1", "-d", "3000"],
    );
    wait_bindings(&srv, 1).await;
    let b = srv.location().lookup(AOR, Instant::now());
    assert_eq!(b[0].flow.unwrap().transport, TransportKind::Tcp);
    assert_eq!(s.wait(LIMIT).await, 0);
    // sipp closed its connection: the outbound binding goes with the flow.
    wait_bindings(&srv, 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_reregister_replaces_flow() {
    need_sipp!();
    let srv = start(&[]).await;
    let s = Sipp::start(
        "reregister_replace",
        addr(&srv, TransportKind::Udp),
        "u1",
        &["-d", "0"],
    );
    assert_eq!(s.wait(LIMIT).await, 0);
    let b = srv.location().lookup(AOR, Instant::now());
    assert_eq!(b.len(), 1);
    assert!(b[0].uri.contains("alice-new@"), "{}", b[0].uri);
    // And across sockets: a new UDP flow with the same reg-id replaces the old one.
    let old_flow = b[0].flow.unwrap();
    let s = Sipp::start(
        "register_outbound",
        addr(&srv, TransportKind::Udp),
        "u1",
        &["-key", "regid", "1", "-d", "0"],
    );
    assert_eq!(s.wait(LIMIT).await, 0);
    let b = srv.location().lookup(AOR, Instant::now());
    assert_eq!(b.len(), 1);
    assert_ne!(b[0].flow.unwrap(), old_flow);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_two_flows_for_one_instance() {
    need_sipp!();
    let srv = start(&[]).await;
    let tcp = addr(&srv, TransportKind::Tcp);
    let first = Sipp::start(
        "register_outbound",
        tcp,
        "t1",
        &["-key", "regid", "1", "-d", "15000"],
    );
    wait_bindings(&srv, 1).await;
    let second = Sipp::start("two_flows", tcp, "t1", &[]);
    assert_eq!(second.wait(LIMIT).await, 0);
    // The first flow is still up (it holds for 15 s): stop it by PID.
    wait_bindings(&srv, 1).await;
    drop(first);
    wait_bindings(&srv, 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_invite_routed_over_the_flow() {
    need_sipp!();
    let srv = start(&[]).await;
    let tcp = addr(&srv, TransportKind::Tcp);
    let callee = Sipp::start("callee", tcp, "t1", &["-cid_str", "sipp-call-1"]);
    wait_bindings(&srv, 1).await;
    let caller = Sipp::start("caller", tcp, "t1", &["-cid_str", "sipp-call-1"]);
    assert_eq!(
        caller.wait(LIMIT).await,
        0,
        "caller completed INVITE/ACK/BYE"
    );
    assert_eq!(
        callee.wait(LIMIT).await,
        0,
        "callee got INVITE, ACK and BYE over its flow"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_430_after_flow_closed() {
    need_sipp!();
    let srv = start(&[]).await;
    let tcp = addr(&srv, TransportKind::Tcp);
    let reg = Sipp::start(
        "register_outbound",
        tcp,
        "t1",
        &["-key", "regid", "1", "-d", "3000"],
    );
    wait_bindings(&srv, 1).await;
    let path = srv.location().lookup(AOR, Instant::now())[0].path[0].clone();
    // Route to that flow (without ;ob, as in a Record-Route).
    let na = NameAddr::parse(&path).unwrap();
    assert!(na.uri.params.has("ob"));
    let route = path.replace(";ob", "");
    assert_eq!(reg.wait(LIMIT).await, 0);
    wait_bindings(&srv, 0).await;
    let s = Sipp::start("flow_failed", tcp, "t1", &["-key", "route", &route]);
    assert_eq!(s.wait(LIMIT).await, 0, "430 Flow Failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_register_digest_auth() {
    need_sipp!();
    let srv = start(&[("alice", "wonderland")]).await;
    let s = Sipp::start(
        "register_auth",
        addr(&srv, TransportKind::Udp),
        "u1",
        &["-au", "alice", "-ap", "wonderland"],
    );
    assert_eq!(s.wait(LIMIT).await, 0);
    wait_bindings(&srv, 1).await;
    // Wrong password: sipp sees a second 401 and fails.
    let srv = start(&[("alice", "wonderland")]).await;
    let s = Sipp::start(
        "register_auth",
        addr(&srv, TransportKind::Udp),
        "u1",
        &["-au", "alice", "-ap", "nope"],
    );
    assert_ne!(s.wait(LIMIT).await, 0);
    assert!(srv.location().is_empty());
}
