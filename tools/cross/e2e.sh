#!/usr/bin/env bash
# End-to-end scenarios against router builds under qemu-user: real corosync + corosync-qdevice
# in the lab's namespaces (tests/e2e.rs), the daemon and its certutil being the foreign binary
# dist/qnetd-TARGET run by qemu (tests/e2e/emulation.rs: QNETD_QEMU, no binfmt_misc needed).
#
#   tools/cross/e2e.sh [TARGET...]     default: mips (big-endian) and armv7
#
# Needs the binaries (tools/cross/ci.sh builds them), root and the packages tools/test.sh
# installs. Environment:
#   QNETD_CROSS_E2E_TESTS   the tests/e2e.rs scenarios to run (default: the 2-node ffsplit
#                           quorum and the ring cut)
#   QNETD_E2E_TIME_SCALE    factor for the scenarios' bounded waits (default 1: measured under
#                           qemu, the slowest wait took 2.5 s of its 60 s bound)
#
# Prints one line per target with the result and its time, then "cross-e2e: N passed, N failed".
# Exit status 1 if any target failed.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT" || exit 2
(($#)) || set -- mips-unknown-linux-musl armv7-unknown-linux-musleabihf
TESTS=${QNETD_CROSS_E2E_TESTS:-e2e_ffsplit_two_nodes_quorate_with_qdevice_vote e2e_ffsplit_link_cut_lowest_node_id_partition_wins}
export QNETD_E2E_TIME_SCALE=${QNETD_E2E_TIME_SCALE:-1}

qemu_for() {
    case $1 in
    x86_64-*) echo qemu-x86_64-static ;;
    aarch64-*) echo qemu-aarch64-static ;;
    armv7-*) echo qemu-arm-static ;;
    mipsel-*) echo qemu-mipsel-static ;;
    mips-*) echo qemu-mips-static ;;
    *) return 1 ;;
    esac
}

canonical() {
    case $1 in
    x86_64) echo x86_64-unknown-linux-musl ;;
    aarch64) echo aarch64-unknown-linux-musl ;;
    armv7) echo armv7-unknown-linux-musleabihf ;;
    mipsel) echo mipsel-unknown-linux-musl ;;
    mips) echo mips-unknown-linux-musl ;;
    *) echo "$1" ;;
    esac
}

# The test binary is native: build it once, outside the timed runs.
# shellcheck disable=SC2086 # TESTS is a list of names
cargo test --test e2e --no-run -q || {
    echo "cross-e2e: cannot build the e2e test"
    exit 1
}

LOGS=${TMPDIR:-/tmp}/qnetd-cross-e2e
mkdir -p "$LOGS"
passed=0 failed=0 results=()
for t in "$@"; do
    t=$(canonical "$t")
    bin=$ROOT/dist/qnetd-$t
    qemu=$(qemu_for "$t") || {
        results+=("$t: unsupported target")
        failed=$((failed + 1))
        continue
    }
    if [[ ! -x $bin ]]; then
        results+=("$t: FAILED, no binary at $bin (tools/cross/ci.sh $t)")
        failed=$((failed + 1))
        continue
    fi
    log=$LOGS/$t.log
    echo "cross-e2e: $t under $qemu: $TESTS (time scale $QNETD_E2E_TIME_SCALE, log $log)"
    t0=$SECONDS
    # shellcheck disable=SC2086 # TESTS is a list of names
    QNETD_BIN=$bin QNETD_QEMU=$qemu cargo test --test e2e -- --test-threads=1 --nocapture \
        --exact $TESTS 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    took=$((SECONDS - t0))
    summary=$(grep -E '^test result:' "$log" | tail -n1)
    if ((rc == 0)) && grep -q '^test result: ok' "$log"; then
        results+=("$t ($qemu): ok in $took s: ${summary#test result: }")
        while read -r line; do results+=("  $line"); done < <(grep '^E2E-RESULT' "$log")
        passed=$((passed + 1))
    else
        results+=("$t ($qemu): FAILED (exit $rc) after $took s: ${summary:-no test result}")
        failed=$((failed + 1))
    fi
done

printf 'cross-e2e: %s\n' "${results[@]}"
echo "cross-e2e: $passed passed, $failed failed"
((failed == 0))
