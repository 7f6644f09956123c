#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine: installs what the tests need (as root), then
# runs formatting and lint checks, unit and integration tests, the init script tests, the
# end-to-end tests with real corosync nodes in network namespaces, and the router smoke tests.
# .ci/run calls exactly this. QNETD_TEST_QUICK=1 skips the end-to-end and cross-build stages.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== %s\n' "$*"; }

install_deps() {
    local pkgs=(corosync corosync-qdevice corosync-qnetd libnss3-tools shellcheck busybox-static
        qemu-user-static file xz-utils iproute2 nftables python3-venv procps)
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

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo test (unit + integration, without e2e)"
cargo test --workspace -- --skip e2e_

if [ "${QNETD_TEST_QUICK:-0}" != 1 ]; then
    step "end-to-end: real corosync + corosync-qdevice in network namespaces"
    cargo test --test e2e -- --test-threads=1 --nocapture
fi
