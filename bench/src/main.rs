//! `msrp-bench`: dispatches the command line to one scenario module (see `bench/README.md`).

use clap::{Parser, Subcommand};
use msrp_bench::scenarios::{backends, fanout, join, limit, parse, register, relay};

#[global_allocator]
static GLOBAL: msrp_bench::alloc_count::Counting = msrp_bench::alloc_count::Counting;

/// Traffic generator and benchmarks of the MSRP switch/relay appliance.
#[derive(Parser)]
#[command(name = "msrp-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Wire-parser throughput on one core.
    Parse(parse::Args),
    /// Pairs of endpoints through a relay (msrpd, Kamailio, or both with --compare).
    Relay(relay::Args),
    /// msrpd's relay on the kernel backend and on DPDK (af_packet, af_xdp) over one veth pair.
    Backends(backends::Args),
    /// One chat room: M members, K senders; deliveries/s, latency, congestion, vs `limit`.
    Fanout(fanout::Args),
    /// The member process of `fanout`.
    #[command(hide = true)]
    FanoutMembers(fanout::MembersArgs),
    /// N participants join one room by SIP INVITE + MSRP bind; joins/s, latency, CPU/join.
    Join(join::Args),
    /// The physical limit of fan-out: the same bytes to M loopback sockets, no MSRP work.
    Limit(limit::Args),
    /// The sink of `limit` in its own process.
    #[command(hide = true)]
    LimitSink(limit::SinkArgs),
    /// sipp REGISTER load against msrpd's registrar (and Kamailio's with --compare).
    Register(register::Args),
    /// Holds N registered SIP Outbound flows and reports the server's memory.
    SipFlows(register::FlowsArgs),
    /// Gathers a bench.sh run's reports into results JSON and markdown tables.
    Table(msrp_bench::tables::Args),
    /// SIP parser throughput.
    SipParse(register::ParseArgs),
    /// The SIP server alone (used by sip-flows).
    #[command(hide = true)]
    SipServe(register::ServeArgs),
}

fn main() {
    let cli = Cli::parse();
    let code = match &cli.cmd {
        Cmd::Parse(a) => parse::main(a),
        Cmd::Relay(a) => relay::main(a),
        Cmd::Backends(a) => backends::main(a),
        Cmd::Fanout(a) => fanout::main(a),
        Cmd::FanoutMembers(a) => fanout::members_main(a),
        Cmd::Join(a) => join::main(a),
        Cmd::Limit(a) => limit::main(a),
        Cmd::LimitSink(a) => limit::sink_main(a),
        Cmd::Register(a) => register::main(a),
        Cmd::SipFlows(a) => register::flows(a),
        Cmd::Table(a) => msrp_bench::tables::main(a),
        Cmd::SipParse(a) => register::parse_rate(a),
        Cmd::SipServe(a) => register::serve(a),
    };
    std::process::exit(code);
}
