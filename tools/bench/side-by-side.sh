#!/usr/bin/env bash
# Side-by-side benchmark: our qnetd and Debian's corosync-qnetd, same machine, same
# certificates, same load, one table.
#
#   tools/bench/side-by-side.sh [quick|full] [work-dir]
#
# quick: 1 and 100 clusters of 2 nodes, 10 s idle, 10 s churn (about 2 minutes).
# full:  1, 100, 1000 and 5000 clusters of 2 nodes (up to 10,000 TLS clients), 20 s idle,
#        20 s churn (about 15 minutes).
# Environment: BENCH_SIZES="1 100" overrides the sizes, BENCH_IDLE / BENCH_CHURN the phase
# lengths in seconds, BENCH_CHURN_RATE the membership changes per second (default 50),
# BENCH_RAMP_RATE the new connections per second during ramp-up (default 200);
# BENCH_APPEND=1 keeps earlier result lines of the same work directory in the table;
# QNETD_BIN=path measures that qnetd binary instead of a release build of this checkout, e.g.
# the static musl binary routers run: `tools/cross/build.sh x86_64` and
# QNETD_BIN=dist/qnetd-x86_64-unknown-linux-musl (the figures in tools/bench/README.md).
#
# Needs: corosync-qnetd (the daemon compared against), libnss3-tools (certutil, pk12util) and
# openssl (to hand our server key to NSS as PKCS#12), all Debian packages; an open-files hard
# limit above the number of clients plus slack (`ulimit -Hn`; each process needs one socket
# per client).
#
# What is measured (see tools/loadgen): each daemon is started by the load generator, pinned to
# CPU 1 (the load generator runs on CPU 0); clients speak TLS with one client certificate per
# cluster, ffsplit, heartbeat 8000 ms. Phases: ramp-up (200 connections/s), idle (memory and
# heartbeat CPU), churn (membership splits and merges; vote latency), restart (SIGTERM, start
# again, time until every client has re-initialised and holds its vote). Each daemon starts with
# its binary and libraries out of the page cache, as after a boot (drop_from_page_cache below).
set -euo pipefail
cd "$(dirname "$0")/../.."

mode=${1:-quick}
work=${2:-$(mktemp -d /tmp/qnetd-bench.XXXXXX)}
case "$mode" in
quick) sizes=${BENCH_SIZES:-"1 100"} idle=${BENCH_IDLE:-10} churn=${BENCH_CHURN:-10} ;;
full) sizes=${BENCH_SIZES:-"1 100 1000 5000"} idle=${BENCH_IDLE:-20} churn=${BENCH_CHURN:-20} ;;
*)
    echo "usage: $0 [quick|full] [work-dir]" >&2
    exit 2
    ;;
esac
churn_rate=${BENCH_CHURN_RATE:-50}
# 200 new TLS clients per second: corosync-qnetd (NSS, listen backlog 10) keeps up with that;
# at 1000/s its handshakes fall behind the clients' 8 s setup timeout from ~1000 clients on.
ramp_rate=${BENCH_RAMP_RATE:-200}
upstream=/usr/bin/corosync-qnetd
for tool in "$upstream" certutil pk12util openssl; do
    command -v "$tool" >/dev/null || {
        echo "missing $tool (apt-get install corosync-qnetd libnss3-tools openssl)" >&2
        exit 1
    }
done

max=0
for n in $sizes; do [ "$n" -gt "$max" ] && max=$n; done
# Per process: the load generator holds one socket per client, and so does the daemon.
need=$((max * 2 + 100))
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$need" ]; then
    echo "open-files hard limit $(ulimit -Hn) < $need needed for $max clusters" >&2
    exit 1
fi
ulimit -n "$(ulimit -Hn)"

echo "== building (release)"
bin=${CARGO_TARGET_DIR:-target}/release
if [ -n "${QNETD_BIN:-}" ]; then
    cargo build --release -q -p loadgen
    qnetd=$(realpath "$QNETD_BIN")
else
    cargo build --release -q -p qnetd -p loadgen
    qnetd=$(realpath "$bin/qnetd")
fi
loadgen=$(realpath "$bin/loadgen")
echo "== measuring $qnetd ($(file -b "$qnetd" | cut -d, -f1-2))"

echo "== certificates in $work"
mkdir -p "$work"
[ -f "$work/store/qnetd-ca.key" ] || "$qnetd" cert --store "$work/store" init >/dev/null
"$loadgen" certs --dir "$work/pki" --clusters "$max" --store "$work/store"
# Upstream gets the same CA and the same server key and certificate, in an NSS database.
if [ ! -f "$work/nss/cert9.db" ]; then
    mkdir -p "$work/nss"
    certutil -N -d "sql:$work/nss" --empty-password
    : >"$work/nss/pwdfile.txt"
    certutil -A -d "sql:$work/nss" -n "QNet CA" -t "CT,," -a -i "$work/pki/ca.crt"
    openssl pkcs12 -export -inkey "$work/pki/server.key" -in "$work/pki/server.crt" \
        -name "QNetd Cert" -passout pass: -out "$work/server.p12"
    pk12util -i "$work/server.p12" -d "sql:$work/nss" -W "" >/dev/null
fi

# Each daemon starts as after a boot, its code read from disk at exec: its binary and libraries
# (for corosync-qnetd also the NSS modules it loads) leave the page cache first. How a file came
# into the page cache decides how much of it one page fault maps (a file just written sits in
# large folios, mapped whole), so without this VmHWM would depend on whether the binary was just
# built or copied. Pages another process maps stay cached, for both daemons alike.
# Usage: drop_from_page_cache EXECUTABLE [FILE...]: those files and the executable's libraries.
drop_from_page_cache() {
    local file
    for file in "$@" $(ldd "$1" 2>/dev/null | awk '$3 ~ /^\// { print $3 }'); do
        dd if="$file" iflag=nocache count=0 status=none
    done
}
nss_modules=$(ls /usr/lib/*/libsoftokn3.so /usr/lib/*/libfreeblpriv3.so /usr/lib/*/libsqlite3.so.0 \
    /usr/lib/*/libnssckbi.so 2>/dev/null || true)

# Ports below the ephemeral range (32768-60999 here): a port in it can still be held by one of
# the previous run's client sockets, and the next daemon could not listen.
results=$work/results.txt
[ "${BENCH_APPEND:-0}" = 1 ] || : >"$results"
for n in $sizes; do
    for daemon in qnetd corosync-qnetd; do
        run=$work/run-$daemon-$n
        rm -rf "$run"
        mkdir -p "$run"
        if [ "$daemon" = qnetd ]; then
            port=14404
            # Every simulated node connects from 127.0.0.1 and upstream has no such caps:
            # lift the pre-INIT ones and max clients (upstream's defaults, unlimited).
            # shellcheck disable=SC2054 # the commas are inside -S's one argument
            cmd=("$qnetd" run -l 127.0.0.1 -p "$port" --store "$work/store"
                --lock-file "$run/qnetd.pid" --socket "$run/qnetd.sock" -m 0
                -S max_preinit_clients=0,max_preinit_per_address=0,max_clients_per_address=0)
        else
            port=14403
            cmd=("$upstream" -f -l 127.0.0.1 -p "$port"
                -S "nss_db_dir=$work/nss,lock_file=$run/qnetd.pid,local_socket_file=$run/qnetd.sock")
        fi
        echo "== $daemon, $n clusters x 2 nodes"
        if [ "$daemon" = qnetd ]; then
            drop_from_page_cache "${cmd[0]}"
        else
            # shellcheck disable=SC2086 # one word per module
            drop_from_page_cache "${cmd[0]}" $nss_modules
        fi
        # A daemon that dies is reported in the table (note column); the next run goes on.
        "$loadgen" run --name "$daemon" --addr "127.0.0.1:$port" --clusters "$n" --nodes 2 \
            --pki "$work/pki" --idle-secs "$idle" --churn-secs "$churn" --churn-rate "$churn_rate" \
            --ramp-rate "$ramp_rate" \
            --log "$run/daemon.log" --out "$results" -- "${cmd[@]}" ||
            echo "== $daemon, $n clusters: run failed (see above)"
    done
done

echo
echo "== $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(uname -r)"
"$loadgen" table "$results"
