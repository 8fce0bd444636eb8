//! `msrp-bench`: benchmarks and traffic generator. Each scenario prints one JSON object.
fn main() {
    eprintln!("msrp-bench: no scenario yet");
    std::process::exit(2);
}
