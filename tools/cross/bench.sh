#!/usr/bin/env bash
# Benchmark (prints figures, asserts nothing): per target, the stripped binary size, its
# xz -9e size (OpenWrt's squashfs is xz-compressed, so that is roughly its flash cost) and the
# wall time of `qnetd cert init` into a fresh store under qemu-user (median of RUNS).
#
#   tools/cross/bench.sh [--build] [TARGET...]      default: every dist/qnetd-* present
#   RUNS=5 tools/cross/bench.sh --build all
#
# Wall times under qemu on a shared 2-core VM say more about emulation than about a router:
# compare targets with each other, not with hardware (tools/cross/README.md has estimates).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
RUNS=${RUNS:-5}
ALL=(x86_64-unknown-linux-musl aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf
    mipsel-unknown-linux-musl mips-unknown-linux-musl)

build=0
if [[ ${1:-} == --build ]]; then
    build=1
    shift
fi
targets=()
for a in "$@"; do
    case $a in
    all) targets+=("${ALL[@]}") ;;
    x86_64 | aarch64 | mipsel | mips) targets+=("$a-unknown-linux-musl") ;;
    armv7) targets+=(armv7-unknown-linux-musleabihf) ;;
    *) targets+=("$a") ;;
    esac
done
if ((${#targets[@]} == 0)); then
    for t in "${ALL[@]}"; do [[ -x dist/qnetd-$t ]] && targets+=("$t"); done
fi
((${#targets[@]})) || {
    echo "bench: no dist/qnetd-* binaries; run with --build" >&2
    exit 2
}
((build)) && tools/cross/build.sh "${targets[@]}"

qemu_for() {
    case $1 in
    x86_64-*) echo qemu-x86_64-static ;;
    aarch64-*) echo qemu-aarch64-static ;;
    armv7-*) echo qemu-arm-static ;;
    mipsel-*) echo qemu-mipsel-static ;;
    mips-*) echo qemu-mips-static ;;
    esac
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/qnetd-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

printf '%-32s %12s %12s %8s %16s %16s\n' target bytes "xz -9e" ratio "cert init ms" "--version ms"
for t in "${targets[@]}"; do
    bin=dist/qnetd-$t
    qemu=$(qemu_for "$t")
    size=$(stat -c %s "$bin")
    xz_size=$(xz -9e -T1 -c "$bin" | wc -c)
    inits=() versions=()
    for ((i = 0; i < RUNS; i++)); do
        rm -rf "$WORK/store"
        t0=${EPOCHREALTIME/./}
        "$qemu" "$bin" cert --store "$WORK/store" init >/dev/null 2>&1
        t1=${EPOCHREALTIME/./}
        "$qemu" "$bin" --version >/dev/null
        t2=${EPOCHREALTIME/./}
        inits+=($(((t1 - t0) / 1000)))
        versions+=($(((t2 - t1) / 1000)))
    done
    printf '%-32s %12d %12d %7.1f%% %16d %16d\n' "$t" "$size" "$xz_size" \
        "$(awk -v a="$xz_size" -v b="$size" 'BEGIN { print 100 * a / b }')" \
        "$(printf '%s\n' "${inits[@]}" | median)" "$(printf '%s\n' "${versions[@]}" | median)"
done
echo "(cert init: median of $RUNS runs, each into an empty store, under qemu-user on $(nproc) cores)"
