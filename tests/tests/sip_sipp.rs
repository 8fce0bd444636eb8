//! sipp scenarios (tests/sipp/*.xml) run against the SIP server started in-process on
//! ephemeral loopback ports; each test checks sipp's exit code and the registrar state.
//! sipp processes are killed by PID when a test ends (see `sip_common::Sipp`). Skipped with a
//! message when sipp is not installed (scripts/test.sh installs the `sip-tester` package).
//! The same cases run against msrpd in `sip_sipp_msrpd.rs` (`sip_common::sipp_cases`).

mod sip_common;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_register_outbound_udp() {
    need_sipp!();
    cases::register_outbound_udp(&start(&[]).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_register_outbound_tcp_flow_dies_with_connection() {
    need_sipp!();
    cases::register_outbound_tcp_flow_dies_with_connection(&start(&[]).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_reregister_replaces_flow() {
    need_sipp!();
    cases::reregister_replaces_flow(&start(&[]).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_two_flows_for_one_instance() {
    need_sipp!();
    cases::two_flows_for_one_instance(&start(&[]).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_invite_routed_over_the_flow() {
    need_sipp!();
    cases::invite_routed_over_the_flow(&start(&[]).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_430_after_flow_closed() {
    need_sipp!();
    cases::flow_failed_430_after_flow_closed(&start(&[]).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_register_digest_auth() {
    need_sipp!();
    let users = [("alice", "wonderland")];
    cases::register_digest_auth(&start(&users).await, &start(&users).await).await;
}
