#!/usr/bin/env bash
# The README test command: installs what the suite needs, then runs every check.
#   scripts/test.sh            full suite (fmt, clippy, tests, short fuzz runs)
#   FUZZ_SECONDS=0 scripts/test.sh   skip the fuzz smoke runs
# Run as root on a fresh Debian machine; CI runs it through .ci/run with CI=true.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
FUZZ_SECONDS="${FUZZ_SECONDS:-5}"

step() { printf '\n==> %s\n' "$*"; }

# --- Debian packages the tests and peers need --------------------------------------------
PKGS=(kamailio kamailio-tls-modules kamailio-outbound-modules sip-tester libdpdk-dev dpdk clang libclang-dev
      pkg-config ethtool iproute2)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  step "installing Debian packages: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "scripts/test.sh: need root to install ${missing[*]} (or install them yourself)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- Static checks ---------------------------------------------------------------------------
step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

# --- Tests -----------------------------------------------------------------------------------
step "cargo test"
cargo test --workspace --locked --profile ci

# --- Fuzz smoke runs ---------------------------------------------------------------------------
if [ "$FUZZ_SECONDS" != 0 ]; then
  step "fuzz smoke runs (${FUZZ_SECONDS}s each)"
  if ! rustup toolchain list 2>/dev/null | grep -q nightly; then
    echo "SKIPPED: no nightly toolchain; cargo fuzz needs one (rustup toolchain install nightly)"
  else
    if ! command -v cargo-fuzz >/dev/null 2>&1; then
      cargo install cargo-fuzz --locked -q
    fi
    for t in $(cd fuzz && cargo +nightly fuzz list); do
      echo "fuzz target $t"
      (cd fuzz && cargo +nightly fuzz run "$t" -- -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 2>&1 | tail -n 3)
    done
  fi
fi
# --- DPDK backend (issue 9) -------------------------------------------------------------------
# Builds with `--features dpdk` (bindgen + libdpdk) and runs the end-to-end tests that put the
# DPDK backend in a network namespace behind a veth pair. Skipped, saying why, when the machine
# cannot run them (not root, no libdpdk, no ip/ethtool, no network namespaces).
step "DPDK backend: clippy and tests with --features dpdk"
dpdk_skip=""
if [ "$(id -u)" -ne 0 ]; then
  dpdk_skip="not root (network namespaces and AF_PACKET need it)"
elif ! pkg-config --exists libdpdk 2>/dev/null; then
  dpdk_skip="libdpdk not found by pkg-config (apt-get install libdpdk-dev)"
elif ! command -v ip >/dev/null 2>&1 || ! command -v ethtool >/dev/null 2>&1; then
  dpdk_skip="ip or ethtool missing"
elif ! ip netns add "msrp_dpdk_probe_$$" >/dev/null 2>&1; then
  dpdk_skip="cannot create network namespaces here"
else
  ip netns del "msrp_dpdk_probe_$$" >/dev/null 2>&1 || true
fi
if [ -n "$dpdk_skip" ]; then
  echo "SKIPPED: DPDK stage: $dpdk_skip"
else
  cargo clippy -p dataplane -p e2e --all-targets --features dataplane/dpdk,e2e/dpdk --locked -- -D warnings
  cargo build -p dataplane --example dpdk_echo --features dpdk --locked --profile ci
  export DPDK_ECHO_BIN="${CARGO_TARGET_DIR:-$PWD/target}/ci/examples/dpdk_echo"
  cargo test -p dataplane --features dpdk --locked --profile ci --lib net::dpdk
  DPDK_TESTS_REQUIRED=1 cargo test -p e2e --features dpdk --locked --profile ci --test 'dpdk_*'
  unset DPDK_ECHO_BIN
fi
# --- end of DPDK stage -------------------------------------------------------------------------

step "all checks passed"
