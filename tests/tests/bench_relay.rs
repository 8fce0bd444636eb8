//! Smoke runs of `msrp-bench relay` (the library) with tiny sizes against msrpd in this
//! process, the msrpd binary when it is built, and Kamailio when it is installed. Only counts
//! are asserted (every message sent arrived intact, every 200 and REPORT came back), never
//! timings.

use std::time::Duration;

use e2e::skip;
use msrp_bench::scenarios::relay::{run_on, RelayOpts};
use msrp_bench::targets::{msrpd_binary, Pinning, Target, TargetKind};

fn tiny(messages: u64) -> RelayOpts {
    RelayOpts {
        sessions: 3,
        size: 100,
        chunk: 0,
        window: 4,
        success_report: false,
        duration: Duration::from_secs(20),
        warmup: Duration::ZERO,
        rate: None,
        max_messages: Some(messages),
        drain: Duration::from_secs(10),
    }
}

fn assert_counts(o: &msrp_bench::scenarios::relay::RelayOutcome, reports: bool) {
    assert!(
        o.errors.is_empty(),
        "generator found problems: {:?}",
        o.errors
    );
    assert!(o.sent > 0, "nothing sent");
    assert_eq!(o.received, o.sent, "arrivals");
    assert_eq!(o.accepted, o.sent, "200 responses");
    assert_eq!(o.sum_received, o.sum_sent, "checksums");
    assert_eq!((o.corrupt, o.out_of_order, o.failed), (0, 0, 0));
    if reports {
        assert_eq!(o.reports, o.sent, "success REPORTs");
    }
}

#[test]
fn relay_through_msrpd_in_process_counts_everything() {
    let t = Target::start(&TargetKind::MsrpdInProcess, &Pinning::none(), 0).unwrap();
    let o = run_on(&t, &tiny(3_000), &Pinning::none());
    assert_counts(&o, false);
    assert!(o.sent >= 3_000);
    // The relay forwarded every message (and nothing else needed forwarding).
    let s = t.relay_stats().unwrap();
    assert!(s.forwarded >= o.sent, "{s:?}");
}

#[test]
fn relay_with_success_reports_and_chunks() {
    let t = Target::start(&TargetKind::MsrpdInProcess, &Pinning::none(), 0).unwrap();
    let opts = RelayOpts {
        size: 20_000,
        chunk: 4096,
        success_report: true,
        window: 2,
        ..tiny(200)
    };
    let o = run_on(&t, &opts, &Pinning::none());
    assert_counts(&o, true);
    assert_eq!(o.chunk_used, 4096);
}

#[test]
fn relay_paced_run_counts_everything() {
    let t = Target::start(&TargetKind::MsrpdInProcess, &Pinning::none(), 0).unwrap();
    let opts = RelayOpts {
        rate: Some(2_000.0),
        duration: Duration::from_millis(500),
        max_messages: None,
        ..tiny(0)
    };
    let o = run_on(&t, &opts, &Pinning::none());
    assert_counts(&o, false);
    assert!(o.sent > 100 && o.sent < 10_000, "paced: {}", o.sent);
}

#[test]
fn relay_through_the_msrpd_binary() {
    if msrpd_binary().is_none() {
        skip!("msrpd binary not built (cargo build -p controlplane --bin msrpd)");
    }
    let t = Target::start(&TargetKind::Msrpd, &Pinning::none(), 0).unwrap();
    let o = run_on(&t, &tiny(2_000), &Pinning::none());
    assert_counts(&o, false);
    assert!(t.cpu().is_some(), "the binary's CPU time is readable");
}

#[test]
fn relay_through_kamailio() {
    if let Some(why) = e2e::kamailio::unavailable() {
        skip!("Kamailio not available: {why}");
    }
    let t = match Target::start(&TargetKind::Kamailio, &Pinning::none(), 1) {
        Ok(t) => t,
        Err(e) => skip!("Kamailio did not start: {e}"),
    };
    let opts = RelayOpts {
        success_report: true,
        ..tiny(1_000)
    };
    let o = run_on(&t, &opts, &Pinning::none());
    assert_counts(&o, true);
    assert!(t.cpu().is_some());
}
