#!/usr/bin/env bash
# The memory guard: VmHWM of a qnetd binary serving one 2-node TLS cluster must stay at most a
# tenth of Debian's corosync-qnetd's, both measured in the same short side-by-side run.
#
#   tools/bench/memory-guard.sh run BINARY [work-dir]   measure, then judge
#   tools/bench/memory-guard.sh judge RESULTS           judge a side-by-side results file
#
# `run` runs tools/bench/side-by-side.sh for one cluster (5 s idle, 5 s churn, a restart);
# `judge` reads both daemons' VmHWM from the results and prints them with their ratio. Exit
# status 1 when the ratio is above QNETD_MEMORY_RATIO_MAX (default 0.10) or a daemon's run
# failed, 2 for a usage error. A ratio, not a fixed figure: the kernel decides how much of a binary a page fault maps
# (fault-around, folio sizes), and the same rules apply to both daemons.
set -euo pipefail
cd "$(dirname "$0")/../.."

usage() {
    echo "usage: $0 run BINARY [work-dir] | judge RESULTS" >&2
    exit 2
}
max=${QNETD_MEMORY_RATIO_MAX:-0.10}

# `result name=DAEMON clusters=1 ... hwm_kib=N ... failure=TEXT`, one line per daemon.
hwm() {
    awk -v d="$1" '$1 == "result" && $2 == "name=" d {
        for (i = 3; i <= NF; i++) {
            split($i, kv, "=")
            if (kv[1] == "hwm_kib") hwm = kv[2]
            if (kv[1] == "failure" && kv[2] != "") failed = 1
        }
    } END { if (hwm == "" || hwm == 0 || failed) exit 1; print hwm }' "$2"
}

judge() {
    local results=$1 ours theirs
    [[ -f $results ]] || { echo "memory guard: no results file $results" >&2; exit 2; }
    ours=$(hwm qnetd "$results") || { echo "memory guard: no VmHWM for qnetd in $results" >&2; exit 1; }
    theirs=$(hwm corosync-qnetd "$results") || {
        echo "memory guard: no VmHWM for corosync-qnetd in $results" >&2
        exit 1
    }
    awk -v o="$ours" -v t="$theirs" -v m="$max" 'BEGIN {
        r = o / t
        printf "memory guard: qnetd VmHWM %d kB, corosync-qnetd %d kB: %.3fx (at most %sx): %s\n",
            o, t, r, m, (r <= m + 1e-9 ? "ok" : "OVER")
        exit !(r <= m + 1e-9)
    }'
}

run() {
    local bin work
    bin=$(realpath "$1")
    work=${2:-$(mktemp -d /tmp/qnetd-memory-guard.XXXXXX)}
    echo "memory guard: $bin ($(stat -c %s "$bin") bytes)"
    BENCH_SIZES=1 BENCH_IDLE=5 BENCH_CHURN=5 QNETD_BIN=$bin \
        tools/bench/side-by-side.sh quick "$work" >"$work.log" 2>&1 || {
        tail -n 20 "$work.log" >&2
        echo "memory guard: the side-by-side run failed (log: $work.log)" >&2
        exit 1
    }
    judge "$work/results.txt"
}

case ${1:-} in
run) (($# >= 2)) || usage; run "$2" "${3:-}" ;;
judge) (($# == 2)) || usage; judge "$2" ;;
*) usage ;;
esac
