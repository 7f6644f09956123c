#!/usr/bin/env bash
# Memory of the daemon before, during and after a flood of idle connections: does it give
# the memory back once they are gone?
#
#   tools/flood-memory.sh [QNETD_BINARY]
#
# Default binary: $CARGO_TARGET_DIR/release/qnetd (or target/release/qnetd); e.g. for the
# static build: tools/flood-memory.sh target/x86_64-unknown-linux-musl/release/qnetd.
# FLOOD_CLIENTS (default 2000) connections are opened from 127.0.0.1 with bash's /dev/tcp and
# never send anything (with the pre-INIT caps and the handshake timeout lifted, as a flood
# from many hosts would get until the timeout). FLOOD_AFTER (default 10) seconds after they
# are closed, VmRSS is read again. FLOOD_ROUNDS (default 2) floods, one after the other, on
# the same daemon; then `qnetd probe` checks that it still serves a node. Prints one line per
# phase: VmRSS, RssAnon, VmHWM (kB). Needs nothing but bash, and an open-files hard limit
# above FLOOD_CLIENTS + 64. Bounded: the daemon is killed and the work directory removed on
# any exit.
set -euo pipefail

n=${FLOOD_CLIENTS:-2000}
after=${FLOOD_AFTER:-10}
rounds=${FLOOD_ROUNDS:-2}
port=${FLOOD_PORT:-14503}
bin=${1:-${CARGO_TARGET_DIR:-target}/release/qnetd}
[ -x "$bin" ] || { echo "flood-memory: no binary $bin (cargo build --release first)" >&2; exit 1; }

ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((n + 64)) ]; then
    echo "flood-memory: open-files limit $(ulimit -n) is too low for $n connections" >&2
    exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/flood-memory.XXXXXX")
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

"$bin" run -l 127.0.0.1 -p "$port" --tls off -m 0 \
    --lock-file "$work/qnetd.pid" --socket "$work/qnetd.sock" \
    -S max_preinit_clients=0,max_preinit_per_address=0,max_clients_per_address=0,handshake_timeout=0 \
    2>"$work/daemon.log" &
pid=$!

# Listening once the log says so (at most 10 s).
for _ in $(seq 100); do
    grep -q "listening on" "$work/daemon.log" && break
    kill -0 "$pid" 2>/dev/null || { cat "$work/daemon.log" >&2; exit 1; }
    sleep 0.1
done
grep -q "listening on" "$work/daemon.log" || { echo "flood-memory: daemon did not start" >&2; exit 1; }

mem() {
    awk -v phase="$1" '/^VmRSS:/ {r=$2} /^RssAnon:/ {a=$2} /^VmHWM:/ {h=$2}
        END {printf "%-28s VmRSS %6d kB  RssAnon %6d kB  VmHWM %6d kB\n", phase, r, a, h}' \
        "/proc/$pid/status"
}

echo "flood-memory: $bin ($(file -b "$bin" 2>/dev/null | cut -d, -f1-2)), $n connections"
sleep 1
mem "idle, no connection"

for round in $(seq "$rounds"); do
    fds=()
    for _ in $(seq "$n"); do
        exec {fd}<>"/dev/tcp/127.0.0.1/$port"
        fds+=("$fd")
    done
    sleep 2
    mem "round $round: $n connections"

    for fd in "${fds[@]}"; do
        exec {fd}>&-
    done
    sleep 1
    mem "round $round: 1 s after closing"
    sleep $((after > 1 ? after - 1 : 0))
    mem "round $round: $after s after closing"
done

if "$bin" probe --host 127.0.0.1 --port "$port" --echoes 1 >"$work/probe.log" 2>&1; then
    echo "flood-memory: a node's INIT is still accepted (qnetd probe)"
else
    cat "$work/probe.log" >&2
    echo "flood-memory: qnetd probe failed after the floods" >&2
    exit 1
fi
