//! `msrp-bench`: benchmarks and traffic generator. Each scenario prints one JSON object.

mod register;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rest = args.get(2..).unwrap_or(&[]);
    let code = match args.get(1).map(String::as_str) {
        Some("register") => register::register(rest),
        Some("sip-flows") => register::flows(rest),
        Some("sip-serve") => register::serve(rest),
        Some("sip-parse") => register::parse_rate(rest),
        _ => {
            eprintln!("usage: msrp-bench register [--calls N] [--limit L] | sip-flows [--flows N] | sip-parse [--iters N]");
            2
        }
    };
    std::process::exit(code);
}
