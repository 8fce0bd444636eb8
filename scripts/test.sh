#!/usr/bin/env bash
# The README test command: installs what the suite needs, then runs every check.
#   scripts/test.sh                   full suite (fmt, clippy, tests, DPDK tests, short fuzz runs)
#   FUZZ_SECONDS=0 scripts/test.sh    skip the fuzz smoke runs (FUZZ_SECONDS=60: run each longer)
# Run as root on a fresh Debian machine; CI runs it through .ci/run with CI=true.
#
# To stay quick on 2 cores the workspace is compiled once with the `dpdk` feature when the
# machine can run the DPDK tests (one build for every test), and the default build (no DPDK,
# no libclang) is proven by a check-only pass.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
FUZZ_SECONDS="${FUZZ_SECONDS:-5}"
START=$SECONDS

step() { printf '\n==> [%4ss] %s\n' "$((SECONDS - START))" "$*"; }

# --- Debian packages the tests and peers need --------------------------------------------
PKGS=(kamailio kamailio-tls-modules kamailio-outbound-modules sip-tester libdpdk-dev dpdk clang
      libclang-dev pkg-config ethtool iproute2 procps)
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

# --- Can this machine run the DPDK backend tests? -------------------------------------------
# They need root (network namespaces, AF_PACKET), libdpdk, ip and ethtool.
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
FEATURES=()
if [ -z "$dpdk_skip" ]; then
  FEATURES=(--features "dataplane/dpdk,e2e/dpdk,controlplane/dpdk")
fi

# --- Static checks ---------------------------------------------------------------------------
step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy -D warnings ${FEATURES[*]:-}"
cargo clippy --workspace --all-targets --locked "${FEATURES[@]}" -- -D warnings
if [ -n "${FEATURES[*]:-}" ]; then
  step "default build needs no DPDK: cargo check without features"
  cargo check --workspace --locked
fi

# --- Tests -----------------------------------------------------------------------------------
if [ -z "$dpdk_skip" ]; then
  step "building the DPDK test server"
  cargo build -p dataplane --example dpdk_echo --features dpdk --locked --profile ci
  export DPDK_ECHO_BIN="${CARGO_TARGET_DIR:-$PWD/target}/ci/examples/dpdk_echo"
  export DPDK_TESTS_REQUIRED=1
else
  echo "SKIPPED: DPDK backend tests: $dpdk_skip"
fi
step "cargo test ${FEATURES[*]:-}"
cargo test --workspace --locked --profile ci "${FEATURES[@]}"

# --- Fuzz smoke runs ---------------------------------------------------------------------------
if [ "$FUZZ_SECONDS" != 0 ]; then
  if ! rustup toolchain list 2>/dev/null | grep -q nightly; then
    echo "SKIPPED: fuzz smoke runs: no nightly toolchain; cargo fuzz needs one (rustup toolchain install nightly)"
  else
    if ! command -v cargo-fuzz >/dev/null 2>&1; then
      step "installing cargo-fuzz"
      cargo install cargo-fuzz --locked -q
    fi
    # One unoptimised build of every target (quick to compile; still AddressSanitizer).
    step "building fuzz targets"
    (cd fuzz && cargo +nightly fuzz build --dev)
    step "fuzz smoke runs (${FUZZ_SECONDS}s each)"
    for t in $(cd fuzz && cargo +nightly fuzz list); do
      echo "fuzz target $t"
      (cd fuzz && cargo +nightly fuzz run --dev "$t" -- -max_total_time="$FUZZ_SECONDS" \
        -rss_limit_mb=2048 2>&1 | tail -n 1)
    done
  fi
fi
step "all checks passed"
