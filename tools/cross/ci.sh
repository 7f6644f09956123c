#!/usr/bin/env bash
# CI fragment: install the cross toolchain, build the static router binaries and smoke-test
# each under qemu-user (tools/cross/smoke.sh). Called by .ci/run.
#
#   tools/cross/ci.sh                  x86_64-musl and mipsel-musl (the CI default)
#   tools/cross/ci.sh all              all five targets
#   tools/cross/ci.sh TARGET...        those targets
#
# Each binary must fit its byte budget (tools/cross/budget.txt, checked by
# tools/cross/budget.sh: over it, the target fails and the per-crate figures against the last
# passing build say where the bytes went). Prints one line per target with its size against its
# budget and its result, and a closing "cross: N passed, N failed" line. Exit status 1 if any
# target failed to build, fit or pass.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT" || exit 2
if (($# == 0)); then
    set -- x86_64-unknown-linux-musl mipsel-unknown-linux-musl
elif [[ $1 == all ]]; then
    set -- x86_64-unknown-linux-musl aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf \
        mipsel-unknown-linux-musl mips-unknown-linux-musl
fi

# The cross builds share nothing with native ones (other targets, std rebuilt): keep them in the
# cache dir so that CI on the same machine builds warm (cold: ~8 min for both targets; warm
# without source changes: seconds).
CACHE=${QNETD_CROSS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/qnetd-cross}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$CACHE/target}
# The commit's time as the build time, as tools/release.sh does: CI's binaries are then the
# release's bytes, and the release check that follows in tools/test.sh finds the cache warm
# (ring's build script, through cc, re-runs whenever SOURCE_DATE_EPOCH changes).
if [[ -z ${SOURCE_DATE_EPOCH:-} ]] && epoch=$(git log -1 --format=%ct 2>/dev/null); then
    export SOURCE_DATE_EPOCH=$epoch
fi

started=$SECONDS
tools/cross/setup.sh || {
    echo "cross: setup failed"
    exit 1
}
echo "cross: setup took $((SECONDS - started)) s"

passed=0 failed=0 over=0 results=() budgets=()
for t in "$@"; do
    t0=$SECONDS
    if ! QNETD_CROSS_SETUP=0 tools/cross/build.sh "$t"; then
        results+=("$t: BUILD FAILED")
        failed=$((failed + 1))
        continue
    fi
    t1=$SECONDS
    bin=$ROOT/dist/qnetd-$t
    fits=$(tools/cross/budget.sh check "$t" "$bin") || over=1
    echo "$fits"
    budgets+=("$(head -n1 <<<"$fits")")
    if ((${over:-0})); then
        results+=("$t: $(stat -c %s "$bin") bytes, OVER BUDGET")
        failed=$((failed + 1))
    elif tools/cross/smoke.sh "$t" "$bin"; then
        results+=("$t: $(stat -c %s "$bin") bytes, $(tools/cross/hot.sh layout "$bin"), build $((t1 - t0)) s, smoke $((SECONDS - t1)) s: ok")
        passed=$((passed + 1))
    else
        results+=("$t: $(stat -c %s "$bin") bytes, SMOKE FAILED")
        failed=$((failed + 1))
    fi
    over=0
done

# Every binary against its budget (tools/cross/budget.txt), then the results.
printf '%s\n' "${budgets[@]}"
printf 'cross: %s\n' "${results[@]}"
echo "cross: total $((SECONDS - started)) s"
echo "cross: $passed passed, $failed failed"
((failed == 0))
