#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine: installs what the tests need (as root), then
# runs formatting and lint checks, unit and integration tests, the init script tests, the
# end-to-end tests with real corosync nodes in network namespaces, and the router smoke tests.
# .ci/run calls exactly this. QNETD_TEST_QUICK=1 skips the end-to-end and cross-build stages
# (and with them the release reproducibility check).
# The closing lines are tools/cross/e2e.sh's per-target results and its "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== %s\n' "$*"; }

install_deps() {
    local pkgs=(corosync corosync-qdevice corosync-qnetd libnss3-tools shellcheck busybox-static
        qemu-user-static file xz-utils iproute2 python3-venv procps util-linux dash openssl strace
        openssh-client openssh-sftp-server dropbear-bin debootstrap curl prometheus nodejs)
    local missing=()
    for p in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        if [ "$(id -u)" -ne 0 ]; then
            echo "missing packages: ${missing[*]} (run as root, or install them)" >&2
            exit 1
        fi
        step "apt-get install ${missing[*]}"
        apt-get update -qq
        # The corosync packages would start services on a systemd host; policy-rc.d keeps the
        # test machine's own services untouched.
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

install_deps
# The busybox-chroot certificate test needs a static binary (built by the cross stage, or by
# the test itself for this target when the cross stage is skipped).
rustup target list --installed | grep -qx x86_64-unknown-linux-musl ||
    rustup target add x86_64-unknown-linux-musl
# tools/cross/hot.sh reads symbols and sections with llvm-nm and llvm-readobj (tests/cross_hot.rs).
rustup component list --installed | grep -q '^llvm-tools' || rustup component add llvm-tools

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "structure: the core depends on log alone, no product file over 800 lines, no function over 80 that is not a flat match"
tools/check-structure.sh

if [ "${QNETD_TEST_QUICK:-0}" != 1 ]; then
    # Static musl builds for all five router targets, each smoke-tested under qemu-user (cached
    # under ~/.cache/qnetd-cross; cold ~8 min on 2 cores, see tools/cross/README.md). The
    # x86_64 one is also the binary the busybox-chroot certificate test runs (no second musl
    # build); mips and armv7 serve the emulated end-to-end stage below.
    # Each binary must fit its byte budget (tools/cross/budget.txt): ci.sh prints every size
    # against its budget, and for one over it where the bytes went, per crate.
    step "router builds: static musl x86_64, aarch64, armv7, mipsel, mips, each within its byte budget, smoke-tested under qemu-user"
    tools/cross/ci.sh all
    export QNETD_STATIC_BIN="$PWD/dist/qnetd-x86_64-unknown-linux-musl"
    # Two release runs of those two targets (the second recompiles qnetd and certtool) must give
    # identical bytes: tools/release.sh is reproducible.
    step "release: reproducible (tools/release.sh twice, x86_64 + mipsel)"
    tests/release_reproducible.sh
    # The memory budget: the x86_64 router build (the router features, hot code first) serving
    # one 2-node TLS cluster holds at most a tenth of corosync-qnetd's VmHWM in the same run.
    step "memory: x86_64 router build's VmHWM for one TLS cluster <= 0.10x corosync-qnetd's"
    cross_cache=${QNETD_CROSS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/qnetd-cross}
    guard=$cross_cache/memory-guard
    rm -rf "$guard"
    # ci.sh's target dir, and the commit's time as the build time as ci.sh sets it: the shared
    # cache stays warm.
    CARGO_TARGET_DIR=$cross_cache/target DIST=$guard \
        SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)} \
        QNETD_CROSS_HOST=0 QNETD_CROSS_SETUP=0 tools/cross/build.sh x86_64
    tools/bench/memory-guard.sh run "$guard/qnetd-x86_64-unknown-linux-musl" "$guard/run"
fi

step "cargo test (unit + integration, without e2e)"
cargo test --workspace -- --skip e2e_

if [ "${QNETD_TEST_QUICK:-0}" != 1 ]; then
    # The router scenarios run a Proxmox VE 9 node's client side (Debian 13: corosync 3.1.9,
    # corosync-qdevice 3.0.3, OpenSSH 10.0) from a debootstrap root, made once and cached.
    step "Debian 13 root for the Proxmox VE 9 client side"
    tools/e2e/trixie-root.sh
    step "end-to-end: real corosync + corosync-qdevice in network namespaces"
    # Against the static musl binary routers run (built above), not the debug test build.
    QNETD_BIN=$QNETD_STATIC_BIN cargo test --test e2e -- --test-threads=1 --nocapture
    # The same real corosync + corosync-qdevice against the big-endian mips and the armv7
    # builds run by qemu-user, certificates made by their own certutil (2-node ffsplit quorum
    # and the ring cut; one result line per target with its time).
    step "end-to-end under qemu-user: mips and armv7 router builds"
    tools/cross/e2e.sh mips-unknown-linux-musl armv7-unknown-linux-musleabihf
fi
