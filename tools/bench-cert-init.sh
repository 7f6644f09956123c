#!/usr/bin/env bash
# Benchmark (not a test): time of `qnetd cert init` beside upstream's
# `corosync-qnetd-certutil -i` (bash + NSS certutil, RSA-2048 keys) on this machine.
#
#   tools/bench-cert-init.sh [QNETD_BINARY] [RUNS]
#
# QNETD_BINARY defaults to a release build made here (cargo build --release --bin qnetd).
# RUNS defaults to 5; the median of each side is compared. Upstream's script is run from a copy
# whose /etc/corosync prefix points into a temp directory (needs corosync-qnetd, libnss3-tools).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
UPSTREAM=/usr/bin/corosync-qnetd-certutil
QNETD=${1:-}
RUNS=${2:-5}

if [[ -z $QNETD ]]; then
    (cd "$ROOT" && cargo build --release --bin qnetd --quiet)
    QNETD=${CARGO_TARGET_DIR:-$ROOT/target}/release/qnetd
fi
[[ -x $QNETD ]] || { echo "no qnetd binary at $QNETD" >&2; exit 2; }
[[ -r $UPSTREAM ]] || { echo "$UPSTREAM missing (apt-get install corosync-qnetd)" >&2; exit 2; }
command -v certutil >/dev/null || { echo "certutil missing (apt-get install libnss3-tools)" >&2; exit 2; }

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# Seconds (with fractions) taken by "$@", output discarded.
elapsed() {
    local t0=$EPOCHREALTIME
    "$@" >/dev/null 2>&1
    local t1=$EPOCHREALTIME
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", b - a }'
}

median() {
    sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

ours=()
theirs=()
for ((i = 1; i <= RUNS; i++)); do
    dir=$WORK/ours-$i/nssdb
    ours+=("$(elapsed "$QNETD" cert --store "$dir" init)")
    [[ -s $dir/qnetd-cacert.crt ]] || { echo "qnetd cert init produced no CA" >&2; exit 1; }

    prefix=$WORK/upstream-$i
    mkdir -p "$prefix/etc/corosync/qnetd"
    sed "s#/etc/corosync#$prefix/etc/corosync#g" "$UPSTREAM" >"$WORK/upstream-certutil"
    chmod +x "$WORK/upstream-certutil"
    theirs+=("$(elapsed "$WORK/upstream-certutil" -i)")
    [[ -s $prefix/etc/corosync/qnetd/nssdb/qnetd-cacert.crt ]] || { echo "upstream -i produced no CA" >&2; exit 1; }
done

ours_med=$(printf '%s\n' "${ours[@]}" | median)
theirs_med=$(printf '%s\n' "${theirs[@]}" | median)
echo "machine: $(uname -m), $(nproc) CPUs; $RUNS runs each, median"
printf 'qnetd cert init               %8.4f s   (runs: %s)\n' "$ours_med" "${ours[*]}"
printf 'corosync-qnetd-certutil -i    %8.4f s   (runs: %s)\n' "$theirs_med" "${theirs[*]}"
awk -v a="$theirs_med" -v b="$ours_med" 'BEGIN { printf "ratio upstream/qnetd: %.1fx faster\n", a / b }'
