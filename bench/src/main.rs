//! `msrp-bench`: benchmarks and traffic generator. Each scenario prints one JSON object
//! (with `--json`) and a one-line human summary.

mod alloc_count;
mod parse;
mod register;

const USAGE: &str = "usage: msrp-bench parse [--json] | register [--calls N] [--limit L] | sip-flows [--flows N] | sip-parse [--iters N]";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rest = args.get(2..).unwrap_or(&[]);
    let code = match args.get(1).map(String::as_str) {
        Some("parse") => {
            parse::run(rest.iter().any(|a| a == "--json"));
            0
        }
        Some("register") => register::register(rest),
        Some("sip-flows") => register::flows(rest),
        Some("sip-serve") => register::serve(rest),
        Some("sip-parse") => register::parse_rate(rest),
        _ => {
            eprintln!("{USAGE}");
            2
        }
    };
    std::process::exit(code);
}
