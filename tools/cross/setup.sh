#!/usr/bin/env bash
# Install everything the static musl cross builds and their qemu smoke tests need.
# Idempotent: a second run only checks and returns within a few seconds.
#
#   tools/cross/setup.sh            # then: source <(tools/cross/setup.sh --env)
#   tools/cross/setup.sh --env      # print the `export PATH=...` line (installs first if needed)
#
# What it installs:
#   apt     qemu-user-static (run foreign binaries), file, xz-utils, python3-venv, openssl
#           (the smoke test makes a node key + request with it)
#   PyPI    ziglang + cargo-zigbuild in a venv under the cache dir (zig is the C compiler for
#           ring and the linker for every target; it ships musl for all five)
#   rustup  rust-std for x86_64/aarch64 musl (prebuilt), rust-src (-Zbuild-std for armv7 and
#           mips*, whose rust-std is not downloadable here), llvm-tools (objcopy to drop .pdr)
#
# Cache dir: $QNETD_CROSS_CACHE, default ~/.cache/qnetd-cross.
set -euo pipefail

ZIGLANG_VERSION=0.17.0
CARGO_ZIGBUILD_VERSION=0.24.0
CACHE=${QNETD_CROSS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/qnetd-cross}
VENV=$CACHE/venv
APT_PACKAGES=(qemu-user-static file xz-utils python3-venv openssl)
PREBUILT_TARGETS=(x86_64-unknown-linux-musl aarch64-unknown-linux-musl)
COMPONENTS=(rust-src llvm-tools)

want_env=0
[[ ${1:-} == --env ]] && want_env=1

log() { echo "setup: $*" >&2; }

install_apt() {
    local missing=()
    for p in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    ((${#missing[@]} == 0)) && return
    log "apt-get install ${missing[*]}"
    local sudo=()
    ((EUID == 0)) || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >&2
}

install_zig() {
    if [[ -x $VENV/bin/cargo-zigbuild ]] && [[ -f $VENV/.versions ]] &&
        [[ $(cat "$VENV/.versions") == "$ZIGLANG_VERSION $CARGO_ZIGBUILD_VERSION" ]]; then
        return
    fi
    log "pip install ziglang==$ZIGLANG_VERSION cargo-zigbuild==$CARGO_ZIGBUILD_VERSION into $VENV"
    mkdir -p "$CACHE"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check \
        "ziglang==$ZIGLANG_VERSION" "cargo-zigbuild==$CARGO_ZIGBUILD_VERSION" >&2
    echo "$ZIGLANG_VERSION $CARGO_ZIGBUILD_VERSION" >"$VENV/.versions"
}

install_rust() {
    local installed
    installed=$(rustup target list --installed)
    local t missing=()
    for t in "${PREBUILT_TARGETS[@]}"; do
        grep -qx "$t" <<<"$installed" || missing+=("$t")
    done
    if ((${#missing[@]})); then
        log "rustup target add ${missing[*]}"
        rustup target add "${missing[@]}" >&2
    fi
    installed=$(rustup component list --installed)
    local c
    for c in "${COMPONENTS[@]}"; do
        grep -q "^$c" <<<"$installed" && continue
        log "rustup component add $c"
        rustup component add "$c" >&2
    done
}

install_apt
install_zig
install_rust

if ((want_env)); then
    echo "export PATH=\"$VENV/bin:\$PATH\""
else
    log "ready; use: export PATH=\"$VENV/bin:\$PATH\""
fi
