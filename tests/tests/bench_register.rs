//! Smoke run of `msrp-bench register`: a short sipp REGISTER load against msrpd's registrar.
//! sipp exits non-zero when any of its REGISTERs does not get its 200, which the scenario
//! turns into an error, so a passing run means every REGISTER was answered. (The bindings
//! themselves end with their outbound flows once sipp closes its connections.)

use e2e::skip;

#[test]
fn sipp_registers_against_msrpd() {
    if std::process::Command::new("sipp")
        .arg("-v")
        .output()
        .is_err()
    {
        skip!("sipp not installed");
    }
    let (rate, bindings) = msrp_bench::scenarios::register::smoke(300, 20).unwrap();
    assert!(rate > 0.0);
    assert!(bindings <= 300, "{bindings} bindings from 300 users");
}
