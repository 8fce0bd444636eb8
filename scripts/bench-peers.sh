#!/usr/bin/env bash
# Starts and stops the peers msrp-bench compares msrpd with, from the Debian packages and the
# configurations in bench/peers/, on loopback only, with pidfiles.
#
#   scripts/bench-peers.sh start|stop|status kamailio-relay|kamailio-registrar
#
# Environment:
#   BENCH_PEERS_DIR  pidfiles, generated configs and logs (default /tmp/msrp-bench-peers)
#   PEER_PORT        TCP port on 127.0.0.1 (default 15080 relay, 15070 registrar)
#   PEER_CORES       CPU list for taskset (e.g. "1"); every Kamailio process is pinned there
#   PEER_CHILDREN    Kamailio tcp_children (default 1 relay, 2 registrar)
# Packages: kamailio (msrp, auth, sl, kex, pv modules), and for the registrar also
# kamailio-outbound-modules (outbound.so).
set -euo pipefail

action="${1:-}"
peer="${2:-}"
here="$(cd "$(dirname "$0")/.." && pwd)"
dir="${BENCH_PEERS_DIR:-/tmp/msrp-bench-peers}"
modules=/usr/lib/x86_64-linux-gnu/kamailio/modules

usage() {
  echo "usage: $0 start|stop|status kamailio-relay|kamailio-registrar" >&2
  exit 2
}

case "$peer" in
  kamailio-relay) default_port=15080; default_children=1; need="msrp.so auth.so sl.so kex.so pv.so" ;;
  kamailio-registrar) default_port=15070; default_children=2; need="registrar.so usrloc.so outbound.so path.so tm.so" ;;
  *) usage ;;
esac
port="${PEER_PORT:-$default_port}"
children="${PEER_CHILDREN:-$default_children}"
pidfile="$dir/$peer.pid"
log="$dir/$peer.log"

alive() {
  [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

listening() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start() {
  command -v kamailio >/dev/null || { echo "$0: kamailio not installed (apt-get install kamailio)" >&2; exit 3; }
  for m in $need; do
    [ -f "$modules/$m" ] || { echo "$0: Kamailio module $m missing (kamailio, kamailio-outbound-modules)" >&2; exit 3; }
  done
  mkdir -p "$dir"
  if alive; then
    echo "$0: $peer already running (pid $(cat "$pidfile"))" >&2
    exit 1
  fi
  local cfg="$dir/$peer.cfg"
  local args=()
  case "$peer" in
    kamailio-relay)
      sed -e "s|@PORT@|$port|g" -e "s|@MPATH@|$modules/|g" -e "s|@CHILDREN@|$children|g" \
          -e "s|@REALM@|kam.bench|g" -e "s|@PASSWORD@|kampw|g" \
          "$here/bench/peers/kamailio-relay.cfg" > "$cfg"
      ;;
    kamailio-registrar)
      cp "$here/bench/peers/kamailio-registrar.cfg" "$cfg"
      args=(-A "LISTEN=tcp:127.0.0.1:$port" -A "TCP_CHILDREN=$children")
      ;;
  esac
  local pin=()
  if [ -n "${PEER_CORES:-}" ]; then
    pin=(taskset -c "$PEER_CORES")
  fi
  # Its own session (and process group), so that `stop` can reach the processes it forks.
  setsid "${pin[@]}" kamailio -f "$cfg" "${args[@]}" -P "$dir/$peer.kpid" -DD -E \
    -m 512 -M 32 -Y "$dir" -w "$dir" </dev/null >"$log" 2>&1 &
  echo $! > "$pidfile"
  for _ in $(seq 1 150); do
    if listening "$port"; then
      echo "$peer pid=$(cat "$pidfile") port=$port children=$children cores=${PEER_CORES:-any}"
      return 0
    fi
    if ! alive; then break; fi
    sleep 0.1
  done
  echo "$0: $peer did not start on port $port; log:" >&2
  tail -n 20 "$log" >&2 || true
  stop >/dev/null 2>&1 || true
  exit 1
}

stop() {
  if [ ! -f "$pidfile" ]; then
    echo "$peer not running"
    return 0
  fi
  local pid
  pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile" "$dir/$peer.kpid"
  echo "$peer stopped"
}

case "$action" in
  start) start ;;
  stop) stop ;;
  status) if alive; then echo "$peer running (pid $(cat "$pidfile"))"; else echo "$peer not running"; exit 1; fi ;;
  *) usage ;;
esac
