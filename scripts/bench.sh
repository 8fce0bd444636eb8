#!/usr/bin/env bash
# Runs msrp-bench's standard set and writes bench/results/<date>.json (every report) and
# bench/results/<date>.md (the tables for the README).
#
#   scripts/bench.sh            # the standard set (about 15 minutes on 2 vCPUs)
#   QUICK=1 scripts/bench.sh    # short runs, to check that everything works
#   NOTE="..." scripts/bench.sh # a note on the conditions, copied into the results
#   PROFILE=ci scripts/bench.sh # measure the ci profile's binaries instead of release
#
# Standard set: parse; relay --compare (msrpd vs Kamailio, 3 alternations, saturated and at
# half of Kamailio's rate); limit at 1 000 and 10 000 connections; fanout with 10, 1 000 and
# 10 000 members (each with its own limit run at the same size); backends (msrpd's relay on
# the kernel backend and on DPDK af_packet/af_xdp over one veth pair: root and libdpdk);
# register --compare (sipp, msrpd vs Kamailio); join (500 participants
# join one room by SIP INVITE + MSRP bind, 8 in flight, then BYE). Needs the
# Debian packages kamailio, kamailio-outbound-modules and sip-tester (sipp); DPDK needs
# libdpdk-dev, clang, libclang-dev (scripts/setup-dpdk.sh packages).
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
# msrpd with the DPDK backend when this machine can build and run it (root, libdpdk).
features=()
dpdk_skip=""
if [ "$(id -u)" != 0 ]; then
  dpdk_skip="not root"
elif ! pkg-config --exists libdpdk 2>/dev/null; then
  dpdk_skip="libdpdk not found (scripts/setup-dpdk.sh packages)"
else
  features=(--features controlplane/dpdk)
fi
# PROFILE=ci measures the test suite's optimised build (no LTO) when a release build is too slow.
profile="${PROFILE:-release}"
cargo build --profile "$profile" --locked -p msrp-bench -p controlplane --bins "${features[@]}" >&2 || exit 1
bin="$CARGO_TARGET_DIR/$profile/msrp-bench"
export MSRPD="$CARGO_TARGET_DIR/$profile/msrpd"

date="$(date -u +%Y-%m-%d)"
out="$root/bench/results"
mkdir -p "$out"
name="$date"
[ -e "$out/$name.json" ] && name="$date-$(date -u +%H%M)"
lines="$(mktemp)"
trap 'rm -f "$lines"' EXIT

if [ -n "${QUICK:-}" ]; then
  d=2; alt=1; calls=5000; lim_d=2; parse_s=0.5
else
  d=10; alt=3; calls=50000; lim_d=5; parse_s=3
fi
status=0
run() {
  echo "== msrp-bench $*" >&2
  if ! "$bin" "$@" >>"$lines"; then
    echo "   (failed)" >&2
    status=1
  fi
}

MSRP_BENCH_SECONDS=$parse_s run parse
run relay --compare --alternations "$alt" --duration "$d" --sessions 10 --size 100 \
  --plot "$out/$name-relay.svg"
for m in 1000 10000; do
  run limit --connections "$m" --duration "$lim_d" --batch 1,8
done
if [ -n "${QUICK:-}" ]; then fan_m="10 1000"; fan_d=2; else fan_m="10 1000 10000"; fan_d=5; fi
for m in $fan_m; do
  run fanout --members "$m" --senders 1 --duration "$fan_d" --limit-batch 1,8
done
if [ -z "$dpdk_skip" ]; then
  run backends --duration "$lim_d" --alternations "$alt" --sessions 10 --size 100
else
  echo "== backends (kernel vs DPDK): skipped: $dpdk_skip" >&2
fi
run register --compare --alternations "$alt" --calls "$calls"
if "$bin" join --help >/dev/null 2>&1; then
  run join --participants "${JOIN_N:-500}" --concurrency 8
else
  echo "== join: not in this build (needs the SIP focus)" >&2
fi

"$bin" table --input "$lines" --json-out "$out/$name.json" --md-out "$out/$name.md" \
  --note "${NOTE:-}" || status=1
echo "wrote $out/$name.json and $out/$name.md" >&2
cat "$out/$name.md"
exit $status
