#!/usr/bin/env bash
# Where the bytes go: cargo-bloat on the x86_64 musl build with the same size flags as
# tools/cross/build.sh (flavor "size"), symbols kept. Per crate, then the largest functions.
#
#   tools/cross/bloat.sh [N]        N = lines per table (default 30)
#
# Installs cargo-bloat with `cargo install` if missing. Uses zig cc (from tools/cross/setup.sh)
# as C compiler and linker, through the wrapper cargo-zigbuild writes on its first build.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
N=${1:-30}
T=x86_64-unknown-linux-musl
eval "$(tools/cross/setup.sh --env)"
command -v cargo-bloat >/dev/null || cargo install --locked cargo-bloat
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}/bloat

wrapper() { find "$HOME/.cache/cargo-zigbuild" -name "zigcc-$T-*.sh" 2>/dev/null | head -n1; }
if [[ -z $(wrapper) ]]; then
    # cargo-zigbuild writes its zig cc wrapper on first use; a tiny check build is enough.
    RUSTC_BOOTSTRAP=1 cargo zigbuild -q --target "$T" --bin qnetd >/dev/null
fi
CC_WRAPPER=$(wrapper)
[[ -n $CC_WRAPPER ]] || {
    echo "bloat: no zig cc wrapper found" >&2
    exit 2
}
export "CC_${T//-/_}=$CC_WRAPPER"

# cargo-bloat passes only one --config through to cargo, so the settings go by environment.
U=${T//-/_}
U=${U^^}
export "CARGO_TARGET_${U}_LINKER=$CC_WRAPPER"
export "CARGO_TARGET_${U}_RUSTFLAGS=-Crelocation-model=static -Clink-self-contained=no -Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none -Cforce-unwind-tables=no -Clink-arg=-Wl,--no-eh-frame-hdr"
export CARGO_PROFILE_RELEASE_STRIP=false RUSTC_BOOTSTRAP=1
common=(--release --target "$T" --bin qnetd -Z "build-std=std,panic_abort" -Z build-std-features=optimize_for_size)
cargo bloat "${common[@]}" --crates -n "$N"
echo
cargo bloat "${common[@]}" -n "$N"
