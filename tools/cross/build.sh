#!/usr/bin/env bash
# Build static, stripped qnetd binaries for routers: dist/qnetd-<target>.
#
#   tools/cross/build.sh TARGET...         e.g. tools/cross/build.sh mipsel-unknown-linux-musl
#   tools/cross/build.sh all               the five supported targets
#
# Targets: x86_64-unknown-linux-musl aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf
#          mipsel-unknown-linux-musl mips-unknown-linux-musl (short names: x86_64 aarch64 armv7
#          mipsel mips)
#
# Environment:
#   QNETD_CROSS_FLAVOR   size (default): std rebuilt for size, panics abort without a message
#                                        (see tools/cross/README.md for what that costs)
#                        size-msg:       the same, but a panic still prints its message
#                        plain:          panic=abort with message + location, prebuilt std where
#                                        rustup has it (the reference commands, bigger)
#   QNETD_CROSS_PROFILE  cargo profile, default release
#   QNETD_CROSS_SETUP=0  skip tools/cross/setup.sh (it is idempotent and fast, default runs it)
#   QNETD_CROSS_HOST     1: the host build, every cargo feature (default for x86_64, which
#                        Debian/Proxmox hosts run too); 0: the router build, without the
#                        host-only features (default for the other targets): `nss`
#                        (import-nss/export-nss run NSS's certutil and pk12util, which no router
#                        has) and `probe` (a qdevice node's client side, a diagnostic for hosts)
#   QNETD_CROSS_HOT=0    size flavor: skip the hot-first link (tools/cross/hot.sh; default does it)
#   CARGO_TARGET_DIR     default <repo>/target
#   DIST                 output directory, default <repo>/dist
#   SOURCE_DATE_EPOCH    build time the binary records (`qnetd doctor`'s clock check), default
#                        now; tools/release.sh sets the commit's time
#
# How: cargo-zigbuild (zig cc compiles ring's C and links against zig's musl) with the per-target
# flags from .cargo/config.toml plus the flavor's flags passed with --config (cargo appends
# them); RUSTC_BOOTSTRAP=1 lets stable rustc take -Zbuild-std and the other -Z flags. The
# machine's paths are remapped (--remap-path-prefix) so that the bytes do not depend on where
# the checkout, cargo home, toolchain or target dir are (tools/release.sh). The link
# keeps the symbols, for dist/qnetd-<target>.crates (bytes per crate, tools/cross/budget.sh);
# then llvm-objcopy strips them and drops the MIPS .pdr section (debug records `strip` keeps,
# ~10% of the file) and .comment. The size flavor links twice: the second link puts the functions
# a serving daemon runs first in .text (tools/cross/hot.sh), which is what keeps its memory low.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tools/cross/llvm-tool.sh
. "$ROOT/tools/cross/llvm-tool.sh"
cd "$ROOT"
ALL_TARGETS=(x86_64-unknown-linux-musl aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf
    mipsel-unknown-linux-musl mips-unknown-linux-musl)
FLAVOR=${QNETD_CROSS_FLAVOR:-size}
PROFILE=${QNETD_CROSS_PROFILE:-release}
DIST=${DIST:-$ROOT/dist}
CARGO_TARGET_DIR=$(realpath -m "${CARGO_TARGET_DIR:-$ROOT/target}")
export CARGO_TARGET_DIR

die() {
    echo "build: $*" >&2
    exit 2
}

canonical_target() {
    case $1 in
    x86_64 | x86_64-unknown-linux-musl) echo x86_64-unknown-linux-musl ;;
    aarch64 | arm64 | aarch64-unknown-linux-musl) echo aarch64-unknown-linux-musl ;;
    armv7 | armv7-unknown-linux-musleabihf) echo armv7-unknown-linux-musleabihf ;;
    mipsel | mipsel-unknown-linux-musl) echo mipsel-unknown-linux-musl ;;
    mips | mips-unknown-linux-musl) echo mips-unknown-linux-musl ;;
    *) die "unsupported target '$1' (supported: ${ALL_TARGETS[*]})" ;;
    esac
}

# TOML array of extra rustflags for this flavor/target (appended to .cargo/config.toml's).
extra_rustflags() {
    local target=$1 flags=()
    case $FLAVOR in
    size | size-msg)
        # std is rebuilt (below) for every target, so zig must supply musl's crt/libc.
        flags+=(-Clink-self-contained=no)
        # No file:line strings in panic messages, no unwind tables (panics abort anyway).
        flags+=(-Zlocation-detail=none -Cforce-unwind-tables=no "-Clink-arg=-Wl,--no-eh-frame-hdr")
        # A panic is a bug (the daemon must not panic on input): "size" aborts at once, without
        # the message formatting machinery; "size-msg" still prints "panicked: <message>".
        [[ $FLAVOR == size ]] && flags+=(-Zunstable-options -Cpanic=immediate-abort)
        # With nothing that unwinds, zig's musl's unwind tables (.eh_frame, ~16 KB) go too.
        # The script is written per build (link_script): the hot-first link adds to it.
        [[ $FLAVOR == size ]] && flags+=("-Clink-arg=-Wl,-T,$(link_script "$target")")
        ;;
    plain) ;;
    *) die "QNETD_CROSS_FLAVOR must be size, size-msg or plain, not '$FLAVOR'" ;;
    esac
    # Reproducible builds (tools/release.sh): no path of this machine in the binary, whichever
    # checkout, cargo home, toolchain or target dir built it. rustc applies the last matching
    # prefix, so the target dir (which may sit inside the checkout) comes after the checkout.
    local sysroot
    sysroot=$(rustc --print sysroot)
    flags+=("--remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=/cargo"
        "--remap-path-prefix=$sysroot=/rustc-sysroot"
        "--remap-path-prefix=$ROOT=/qnetd"
        "--remap-path-prefix=$CARGO_TARGET_DIR=/target")
    local out="" f
    for f in "${flags[@]}"; do out+="${out:+, }\"$f\""; done
    echo "[$out]"
}

needs_build_std() {
    local target=$1
    [[ $FLAVOR == size* ]] && return 0
    case $target in
    armv7-* | mips*) return 0 ;; # no rust-std downloadable for these here
    *) return 1 ;;
    esac
}

# Strip the symbols (the link keeps them, for the per-crate figures) and drop sections that
# `strip` keeps but nothing loads: MIPS .pdr (procedure descriptors, a debug aid) and the
# toolchain .comment strings.
strip_binary() {
    local objcopy
    objcopy=$(llvm_tool llvm-objcopy) || exit 2
    "$objcopy" --strip-all --remove-section=.pdr --remove-section=.comment "$1"
}

# Cargo feature flags: every router feature; the host-only ones (nss, probe) for the host build.
feature_args() {
    local host=${QNETD_CROSS_HOST:-}
    if [[ -z $host ]]; then
        case $1 in
        x86_64-*) host=1 ;;
        *) host=0 ;;
        esac
    fi
    case $host in
    1) ;;
    0) echo --no-default-features ;;
    *) die "QNETD_CROSS_HOST must be 0 or 1, not '$host'" ;;
    esac
}

# The size flavor's linker script, in the target dir: the first link gets
# tools/cross/no-eh-frame.ld alone, the hot-first link that plus the hot section. (zig keeps only
# the last -T it is given, so there is one script.)
link_script() { echo "$CARGO_TARGET_DIR/$1/qnetd-link.ld"; }

# Link again with the serving daemon's functions first (tools/cross/hot.sh): the same code and
# symbols, laid out so that a running daemon maps ~420 KB of .text instead of all of it. Only
# the qnetd crate is compiled again, by `cargo rustc`. Cargo watches neither the script's
# contents nor which of its two builds last wrote the binary they share, so this link is forced:
# a cfg that nothing reads, different on every run, makes its extra arguments new.
hot_relink() {
    local target=$1 built=$2 strip_var=$3
    shift 3
    local script
    script=$(link_script "$target")
    "$ROOT/tools/cross/hot.sh" script "$built" "$script.hot" >&2
    cat "$script.hot" "$ROOT/tools/cross/no-eh-frame.ld" >"$script"
    local nm before after run
    nm=$(llvm_tool llvm-nm) || exit 2
    before=$("$nm" --defined-only "$built" | awk '{ print $3 }' | sort | md5sum)
    run=$(date +%s%N)
    echo "build: cargo-zigbuild rustc ${*:2} -- --cfg qnetd_hot_link=\"$run\"" >&2
    env "$strip_var=false" RUSTC_BOOTSTRAP=1 cargo-zigbuild rustc "${@:2}" \
        -- --cfg "qnetd_hot_link=\"$run\""
    after=$("$nm" --defined-only "$built" | awk '{ print $3 }' | sort | md5sum)
    [[ $before == "$after" ]] || die "the hot-first link changed the symbols: its script no longer matches"
    "$ROOT/tools/cross/hot.sh" layout "$built" >/dev/null || die "the hot-first link placed nothing ($script)"
}

build_one() {
    local target=$1
    local args=(zigbuild --profile "$PROFILE" --target "$target" --bin qnetd)
    # shellcheck disable=SC2207 # one word or none
    args+=($(feature_args "$target"))
    args+=(--config "target.$target.rustflags=$(extra_rustflags "$target")")
    if needs_build_std "$target"; then
        args+=("-Zbuild-std=std,panic_abort")
        [[ $FLAVOR == size* ]] && args+=(-Zbuild-std-features=optimize_for_size)
    fi
    # Symbols kept at link time (stripped below): where the bytes went, per crate, for the
    # budget check (tools/cross/budget.sh).
    local strip_var=CARGO_PROFILE_${PROFILE^^}_STRIP
    strip_var=${strip_var//-/_}
    if [[ $FLAVOR == size ]]; then
        mkdir -p "$CARGO_TARGET_DIR/$target"
        cp "$ROOT/tools/cross/no-eh-frame.ld" "$(link_script "$target")"
    fi
    echo "build: $strip_var=false RUSTC_BOOTSTRAP=1 cargo ${args[*]}" >&2
    env "$strip_var=false" RUSTC_BOOTSTRAP=1 cargo "${args[@]}"

    local profile_dir=$PROFILE
    [[ $PROFILE == dev ]] && profile_dir=debug
    local built=$CARGO_TARGET_DIR/$target/$profile_dir/qnetd
    [[ $FLAVOR == size && ${QNETD_CROSS_HOT:-1} != 0 ]] &&
        hot_relink "$target" "$built" "$strip_var" "${args[@]}"
    mkdir -p "$DIST"
    local out=$DIST/qnetd-$target
    cp "$built" "$out.tmp"
    strip_binary "$out.tmp"
    "$ROOT/tools/cross/budget.sh" crates "$built" "$(stat -c %s "$out.tmp")" >"$out.crates"
    mv "$out.tmp" "$out"
    local kind
    kind=$(file -b "$out")
    case $kind in
    *"statically linked"*) ;;
    *) die "$out is not statically linked: $kind" ;;
    esac
    printf 'build: %s  %d bytes  %s\n' "$out" "$(stat -c %s "$out")" "$kind" >&2
}

(($#)) || die "usage: $0 TARGET... | all"
targets=()
for a in "$@"; do
    if [[ $a == all ]]; then
        targets+=("${ALL_TARGETS[@]}")
    else
        targets+=("$(canonical_target "$a")")
    fi
done

if [[ ${QNETD_CROSS_SETUP:-1} != 0 ]]; then
    eval "$("$ROOT/tools/cross/setup.sh" --env)"
else
    PATH=${QNETD_CROSS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/qnetd-cross}/venv/bin:$PATH
fi

for t in "${targets[@]}"; do
    build_one "$t"
done
