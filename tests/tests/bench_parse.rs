//! Smoke run of `msrp-bench parse`: each case parses its whole input without an error.

use msrp_bench::scenarios::parse::{main, Args};

#[test]
fn parse_cases_run() {
    std::env::set_var("MSRP_BENCH_SECONDS", "0.05");
    for case in ["send_100b_reads", "send_64kib_parse_only"] {
        let code = main(&Args {
            only: Some(case.into()),
            common: Default::default(),
        });
        assert_eq!(code, 0, "{case}");
    }
    let code = main(&Args {
        only: Some("no_such_case".into()),
        common: Default::default(),
    });
    assert_eq!(code, 1, "an unknown case fails");
}
