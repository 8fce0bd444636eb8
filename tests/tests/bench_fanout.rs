//! Smoke run of `msrp-bench fanout` with a tiny room: every message the senders got a 200 for
//! reaches every member exactly once (counts only; timings are never asserted).

use msrp_bench::scenarios::fanout::{run, Args};
use msrp_bench::CommonArgs;

#[test]
fn every_member_gets_every_message_once() {
    let args = Args {
        members: 12,
        senders: 2,
        size: 100,
        window: 2,
        duration: 0.3,
        // Large enough that nobody is skipped for congestion in a smoke run.
        high_water: 64 << 20,
        no_limit: true,
        limit_batch: "8".into(),
        common: CommonArgs {
            no_pin: true,
            ..CommonArgs::default()
        },
    };
    let r = run(&args);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let res = &r.results;
    let sent = res["messages_sent"].as_u64().unwrap();
    assert!(sent > 0, "{res}");
    assert_eq!(res["ok_200"].as_u64(), Some(sent), "{res}");
    assert_eq!(res["congestion_skips"].as_u64(), Some(0), "{res}");
    assert_eq!(res["deliveries"].as_u64(), Some(sent * 12), "{res}");
    assert_eq!(res["messages_complete"].as_u64(), Some(sent), "{res}");
    assert_eq!(res["messages_incomplete"].as_u64(), Some(0), "{res}");
    // The senders are in the room too: each also gets the other sender's messages.
    assert_eq!(
        res["switch_deliveries_counter"].as_u64(),
        Some(sent * (12 + 1)),
        "{res}"
    );
}
