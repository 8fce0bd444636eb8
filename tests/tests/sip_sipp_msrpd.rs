//! The sipp scenarios of `sip_sipp.rs` (REGISTER with outbound over UDP and TCP, keep-alive
//! flows, re-REGISTER replacing a flow, two flows for one instance, INVITE routed over the
//! flow, 430 after the flow closed, digest) against msrpd itself: `Daemon::start` with SIP,
//! the chat switch and the focus (its demo room) mounted, on ephemeral loopback ports. The
//! scenario code is shared (`sip_common::sipp_cases`).

mod sip_common;

use e2e::focusnode::{toml, FocusNode};
use sip_common::sipp_cases as cases;
use sip_common::*;

macro_rules! need_sipp {
    () => {
        if !sipp_available() {
            eprintln!("SKIPPED: sipp not installed");
            return;
        }
    };
}

/// msrpd for domain example.com with these SIP users, started off the test's runtime.
async fn msrpd(users: &[(&str, &str)]) -> FocusNode {
    let t = toml(users, "");
    tokio::task::spawn_blocking(move || FocusNode::start(&t))
        .await
        .expect("msrpd starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msrpd_sipp_register_outbound_udp() {
    need_sipp!();
    let node = msrpd(&[]).await;
    cases::register_outbound_udp(&node).await;
    // The management view shows the binding and its flow.
    let regs = node.focus().registrations();
    assert_eq!(regs.len(), 1, "{regs:?}");
    assert_eq!(regs[0].aor, cases::AOR);
    assert_eq!(regs[0].reg_id, Some(1));
    assert!(regs[0]
        .flow
        .as_deref()
        .is_some_and(|f| f.starts_with("udp:")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msrpd_sipp_register_outbound_tcp_flow_dies_with_connection() {
    need_sipp!();
    cases::register_outbound_tcp_flow_dies_with_connection(&msrpd(&[]).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msrpd_sipp_reregister_replaces_flow() {
    need_sipp!();
    cases::reregister_replaces_flow(&msrpd(&[]).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msrpd_sipp_two_flows_for_one_instance() {
    need_sipp!();
    cases::two_flows_for_one_instance(&msrpd(&[]).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msrpd_sipp_invite_routed_over_the_flow() {
    need_sipp!();
    cases::invite_routed_over_the_flow(&msrpd(&[]).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msrpd_sipp_430_after_flow_closed() {
    need_sipp!();
    cases::flow_failed_430_after_flow_closed(&msrpd(&[]).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msrpd_sipp_register_digest_auth() {
    need_sipp!();
    let users = [("alice", "wonderland")];
    cases::register_digest_auth(&msrpd(&users).await, &msrpd(&users).await).await;
}
