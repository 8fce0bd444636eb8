//! The sipp scenarios as cases over any SIP server under test: the in-process `SipServer`
//! (`sip_sipp.rs`) and msrpd with its focus mounted (`sip_sipp_msrpd.rs`) run the same code.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use controlplane::sip::wire::NameAddr;
use controlplane::sip::{LocationService, SipServer, TransportKind};

use super::Sipp;

pub const AOR: &str = "sip:alice@example.com";
pub const LIMIT: Duration = Duration::from_secs(30);

/// A SIP server under test.
pub trait Under {
    /// Its listener for a transport.
    fn addr(&self, t: TransportKind) -> SocketAddr;
    /// Its registrar state.
    fn location(&self) -> Arc<dyn LocationService>;
}

impl Under for SipServer {
    fn addr(&self, t: TransportKind) -> SocketAddr {
        self.local_addr(t).expect("listener")
    }
    fn location(&self) -> Arc<dyn LocationService> {
        SipServer::location(self)
    }
}

impl Under for e2e::focusnode::FocusNode {
    fn addr(&self, t: TransportKind) -> SocketAddr {
        self.sip(t)
    }
    fn location(&self) -> Arc<dyn LocationService> {
        self.daemon().sip_server().expect("SIP mounted").location()
    }
}

pub async fn wait_bindings(srv: &dyn Under, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while srv.location().lookup(AOR, Instant::now()).len() != n {
        assert!(Instant::now() < deadline, "expected {n} bindings");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn register_outbound_udp(srv: &dyn Under) {
    let s = Sipp::start(
        "register_outbound",
        srv.addr(TransportKind::Udp),
        "u1",
        &["-key", "regid", "1", "-d", "0"],
    );
    assert_eq!(s.wait(LIMIT).await, 0);
    let b = srv.location().lookup(AOR, Instant::now());
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].flow.unwrap().transport, TransportKind::Udp);
    assert_eq!(b[0].reg_id, Some(1));
}

pub async fn register_outbound_tcp_flow_dies_with_connection(srv: &dyn Under) {
    let s = Sipp::start(
        "register_outbound",
        srv.addr(TransportKind::Tcp),
        "t1",
        &["-key", "regid", "1", "-d", "3000"],
    );
    wait_bindings(srv, 1).await;
    let b = srv.location().lookup(AOR, Instant::now());
    assert_eq!(b[0].flow.unwrap().transport, TransportKind::Tcp);
    assert_eq!(s.wait(LIMIT).await, 0);
    // sipp closed its connection: the outbound binding goes with the flow.
    wait_bindings(srv, 0).await;
}

pub async fn reregister_replaces_flow(srv: &dyn Under) {
    let udp = srv.addr(TransportKind::Udp);
    let s = Sipp::start("reregister_replace", udp, "u1", &["-d", "0"]);
    assert_eq!(s.wait(LIMIT).await, 0);
    let b = srv.location().lookup(AOR, Instant::now());
    assert_eq!(b.len(), 1);
    assert!(b[0].uri.contains("alice-new@"), "{}", b[0].uri);
    // And across sockets: a new UDP flow with the same reg-id replaces the old one.
    let old_flow = b[0].flow.unwrap();
    // sipp may get the port it had before (then the flow is the same): try again.
    let mut new_flow = old_flow;
    for _ in 0..3 {
        let s = Sipp::start(
            "register_outbound",
            udp,
            "u1",
            &["-key", "regid", "1", "-d", "0"],
        );
        assert_eq!(s.wait(LIMIT).await, 0);
        let b = srv.location().lookup(AOR, Instant::now());
        assert_eq!(b.len(), 1);
        new_flow = b[0].flow.unwrap();
        if new_flow != old_flow {
            break;
        }
    }
    assert_ne!(new_flow, old_flow);
}

pub async fn two_flows_for_one_instance(srv: &dyn Under) {
    let tcp = srv.addr(TransportKind::Tcp);
    let first = Sipp::start(
        "register_outbound",
        tcp,
        "t1",
        &["-key", "regid", "1", "-d", "15000"],
    );
    wait_bindings(srv, 1).await;
    let second = Sipp::start("two_flows", tcp, "t1", &[]);
    assert_eq!(second.wait(LIMIT).await, 0);
    // The first flow is still up (it holds for 15 s): stop it by PID.
    wait_bindings(srv, 1).await;
    drop(first);
    wait_bindings(srv, 0).await;
}

pub async fn invite_routed_over_the_flow(srv: &dyn Under) {
    let tcp = srv.addr(TransportKind::Tcp);
    let callee = Sipp::start("callee", tcp, "t1", &["-cid_str", "sipp-call-1"]);
    wait_bindings(srv, 1).await;
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

pub async fn flow_failed_430_after_flow_closed(srv: &dyn Under) {
    let tcp = srv.addr(TransportKind::Tcp);
    let reg = Sipp::start(
        "register_outbound",
        tcp,
        "t1",
        &["-key", "regid", "1", "-d", "3000"],
    );
    wait_bindings(srv, 1).await;
    let path = srv.location().lookup(AOR, Instant::now())[0].path[0].clone();
    // Route to that flow (without ;ob, as in a Record-Route).
    let na = NameAddr::parse(&path).unwrap();
    assert!(na.uri.params.has("ob"));
    let route = path.replace(";ob", "");
    assert_eq!(reg.wait(LIMIT).await, 0);
    wait_bindings(srv, 0).await;
    let s = Sipp::start("flow_failed", tcp, "t1", &["-key", "route", &route]);
    assert_eq!(s.wait(LIMIT).await, 0, "430 Flow Failed");
}

/// `good` and `bad` both have the user alice/wonderland.
pub async fn register_digest_auth(good: &dyn Under, bad: &dyn Under) {
    let s = Sipp::start(
        "register_auth",
        good.addr(TransportKind::Udp),
        "u1",
        &["-au", "alice", "-ap", "wonderland"],
    );
    assert_eq!(s.wait(LIMIT).await, 0);
    wait_bindings(good, 1).await;
    // Wrong password: sipp sees a second 401 and fails.
    let s = Sipp::start(
        "register_auth",
        bad.addr(TransportKind::Udp),
        "u1",
        &["-au", "alice", "-ap", "nope"],
    );
    assert_ne!(s.wait(LIMIT).await, 0);
    assert!(bad.location().is_empty());
}
