#!/usr/bin/env bash
# Starts Kamailio as an in-memory outbound registrar on 127.0.0.1:PORT (TCP) in the
# foreground; `msrp-bench register` runs it and stops it by PID.
#   bench/peers/kamailio-registrar.sh PORT WORKDIR
set -euo pipefail
port="${1:?port}"
work="${2:?workdir}"
here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$work"
if [ ! -f /usr/lib/x86_64-linux-gnu/kamailio/modules/outbound.so ]; then
  echo "kamailio-registrar.sh: needs Debian packages kamailio and kamailio-outbound-modules" >&2
  exit 3
fi
exec kamailio -f "$here/kamailio-registrar.cfg" -A "LISTEN=tcp:127.0.0.1:$port" \
  -DD -E -w "$work" -P "$work/kamailio.pid" -m 1024 -M 32
