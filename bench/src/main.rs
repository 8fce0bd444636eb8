//! `msrp-bench`: benchmarks and traffic generator. Each scenario prints one JSON object
//! (with `--json`) and a one-line human summary.

mod alloc_count;
mod parse;

const USAGE: &str = "usage: msrp-bench parse [--json]";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().any(|a| a == "--json");
    match args.first().map(String::as_str) {
        Some("parse") => parse::run(json),
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    }
}
