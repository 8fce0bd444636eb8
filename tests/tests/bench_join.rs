//! Smoke run of `msrp-bench join` against the msrpd binary with a tiny room: every participant
//! gets its 200, binds its MSRP session, and every BYE is answered 200 (counts only; timings are
//! never asserted).

use e2e::skip;
use msrp_bench::scenarios::join::{run, Args};
use msrp_bench::targets::msrpd_binary;
use msrp_bench::CommonArgs;

#[test]
fn every_participant_joins_binds_and_leaves() {
    if msrpd_binary().is_none() {
        skip!("msrpd binary not built (cargo build -p controlplane --bin msrpd)");
    }
    let args = Args {
        participants: 20,
        concurrency: 3,
        hold_msrp: false,
        common: CommonArgs {
            no_pin: true,
            ..CommonArgs::default()
        },
    };
    let r = run(&args);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let c = &r.results["counts"];
    assert_eq!(c["invited"].as_u64(), Some(20), "{c}");
    assert_eq!(c["ok_200"].as_u64(), Some(20), "{c}");
    assert_eq!(c["bound"].as_u64(), Some(20), "{c}");
    assert_eq!(c["failed"].as_u64(), Some(0), "{c}");
    assert_eq!(c["bye_200"].as_u64(), Some(20), "{c}");
    assert_eq!(
        r.results["latency"]["invite_to_bound"]["count"].as_u64(),
        Some(20)
    );
}
