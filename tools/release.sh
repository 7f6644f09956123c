#!/usr/bin/env bash
# Build a release: static router binaries for the five targets, packed, summed and described.
#
#   tools/release.sh [--targets "TARGET..."] [--out DIR] [--allow-dirty] VERSION
#
# VERSION must be Cargo.toml's version (the binaries print that one in --version). Writes
# dist/VERSION/ (or DIR), after emptying it:
#   qnetd-VERSION-TARGET          the static, stripped binary (tools/cross/build.sh: x86_64 is
#                                 the host build with every feature, the others router builds
#                                 without nss, probe and tls12)
#   qnetd-VERSION-TARGET.tar.gz   qnetd-VERSION-TARGET/{qnetd, init.d/, README.md, licence file}
#   RELEASE-NOTES.md              commit, toolchain, each binary's size and SHA-256
#   SHA256SUMS                    over all of the above (check: sha256sum -c SHA256SUMS)
#
# Options / environment:
#   --targets "T..."  or QNETD_RELEASE_TARGETS   a subset (default: the five targets)
#   --out DIR                                    output directory (default dist/VERSION)
#   --allow-dirty                                build a tree with uncommitted changes (the
#                                                binaries then say "commit <hash>-dirty")
#   CARGO_TARGET_DIR   default the cross cache's (as tools/cross/ci.sh: warm after CI)
#
# Reproducible: two runs from the same commit, with the same toolchain (rustc, zig, GNU tar,
# gzip), give identical bytes whatever the checkout, cargo home or target dir paths are
# (tests/release_reproducible.sh checks it). What it takes: SOURCE_DATE_EPOCH = the commit's
# time (build.rs embeds it as the build time, which was otherwise "now"); build.sh's
# --remap-path-prefix for the checkout, cargo home, sysroot and target dir; tar with sorted
# names, one mtime, owner 0/0 and fixed modes; gzip -n (no name or time in the header).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
ALL_TARGETS="x86_64-unknown-linux-musl aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf
    mipsel-unknown-linux-musl mips-unknown-linux-musl"
CACHE=${QNETD_CROSS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/qnetd-cross}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$CACHE/target}
# Files come out 0644/0755 whatever the caller's umask (the modes are in the tarballs).
umask 022

die() {
    echo "release: $*" >&2
    exit 2
}

TARGETS=${QNETD_RELEASE_TARGETS:-$ALL_TARGETS}
OUT='' ALLOW_DIRTY=0 VERSION=''
while (($#)); do
    case $1 in
    --targets) TARGETS=${2:?--targets needs a list}; shift 2 ;;
    --out) OUT=${2:?--out needs a directory}; shift 2 ;;
    --allow-dirty) ALLOW_DIRTY=1; shift ;;
    -*) die "unknown option $1 (usage: $0 [--targets \"T...\"] [--out DIR] [--allow-dirty] VERSION)" ;;
    *) [[ -z $VERSION ]] || die "one VERSION only"; VERSION=$1; shift ;;
    esac
done
[[ -n $VERSION ]] || die "usage: $0 [--targets \"T...\"] [--out DIR] [--allow-dirty] VERSION"
read -r -a targets <<<"${TARGETS//$'\n'/ }"
((${#targets[@]})) || die "no targets"

cargo_version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
[[ $VERSION == "$cargo_version" ]] ||
    die "VERSION $VERSION is not Cargo.toml's version $cargo_version (the binaries print that one): bump Cargo.toml first"

git rev-parse --git-dir >/dev/null 2>&1 || die "not a git checkout: the release records its commit"
COMMIT=$(git rev-parse HEAD)
SHORT=$(git rev-parse --short=12 HEAD)
if [[ -n $(git status --porcelain --untracked-files=no) ]]; then
    ((ALLOW_DIRTY)) || die "the tree has uncommitted changes (commit them, or --allow-dirty)"
    SHORT=$SHORT-dirty
fi
# The build time every binary records is the commit's: the same for every run from it.
SOURCE_DATE_EPOCH=$(git log -1 --format=%ct HEAD)
export SOURCE_DATE_EPOCH
# Release binaries are the default size flavor with the release profile, whatever the caller's
# environment says.
export QNETD_CROSS_FLAVOR=size QNETD_CROSS_PROFILE=release
# ...and each target's own feature set (build.sh: the host build for x86_64, router builds).
unset QNETD_CROSS_HOST

OUT=$(realpath -m "${OUT:-$ROOT/dist/$VERSION}")
STAGE=$(mktemp -d "${TMPDIR:-/tmp}/qnetd-release.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT

echo "release: $VERSION from $SHORT (SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH) for ${targets[*]}" >&2
DIST=$STAGE/bin tools/cross/build.sh "${targets[@]}"
eval "$(tools/cross/setup.sh --env)"

rm -rf "$OUT"
mkdir -p "$OUT"

# The licence text the tarball must carry, if the repository has one.
licence_files() {
    local f
    for f in LICENSE* LICENCE* COPYING*; do
        [[ -f $f ]] && echo "$f"
    done
    return 0
}
mapfile -t LICENCES < <(licence_files)
((${#LICENCES[@]})) ||
    echo "release: WARNING: no licence file in the repository (Cargo.toml says $(sed -n 's/^license = //p' Cargo.toml)); the tarballs carry none" >&2

# qnetd-VERSION-TARGET.tar.gz: one top directory, fixed modes, mtimes, owners and order.
pack() {
    local target=$1 name=qnetd-$VERSION-$1
    local dir=$STAGE/pkg/$name
    mkdir -p "$dir/init.d"
    install -m 0755 "$STAGE/bin/qnetd-$target" "$dir/qnetd"
    install -m 0755 init.d/qnetd "$dir/init.d/qnetd"
    install -m 0644 init.d/qnetd.config "$dir/init.d/qnetd.config"
    install -m 0644 README.md "${LICENCES[@]}" "$dir/"
    chmod 0755 "$dir" "$dir/init.d"
    tar --sort=name --format=gnu --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 \
        --numeric-owner -C "$STAGE/pkg" -cf - "$name" | gzip -9 -n >"$OUT/$name.tar.gz"
}

# What OpenWrt calls the architecture each binary runs on (README "Releases" has the details).
openwrt_arch() {
    case $1 in
    x86_64-*) echo "x86_64" ;;
    aarch64-*) echo "aarch64_* (e.g. aarch64_cortex-a53)" ;;
    armv7-*) echo "arm_cortex-a7/a9/a15 with a VFP/neon suffix (hard-float armv7)" ;;
    mipsel-*) echo "mipsel_24kc (ramips)" ;;
    mips-*) echo "mips_24kc (ath79)" ;;
    esac
}

notes() {
    local zig cz
    zig=$(python3 -m ziglang version 2>/dev/null || echo unknown)
    cz=$(cargo-zigbuild --version 2>/dev/null || echo unknown)
    echo "# qnetd $VERSION"
    echo
    echo "Built from commit $COMMIT (\`$SHORT\`), committed $(date -u -d "@$SOURCE_DATE_EPOCH" '+%Y-%m-%d %H:%M:%S UTC')."
    echo "Toolchain: $(rustc -V), $cz, zig $zig; tools/cross/build.sh, flavor size."
    echo "Each binary is static and stripped; \`qnetd --version\` prints its target and commit."
    echo "The x86_64 binary is the host build (every feature: also \`cert import-nss\`/\`export-nss\`,"
    echo "\`probe\` and TLS 1.2), for Debian/Proxmox VE hosts and x86 routers; the others are router"
    echo "builds without those (see the README's \"Releases\")."
    echo "Verify the downloads with \`sha256sum -c SHA256SUMS --ignore-missing\`."
    echo
    echo "| binary | bytes | OpenWrt architecture | SHA-256 |"
    echo "| --- | ---: | --- | --- |"
    local t f
    for t in "${targets[@]}"; do
        f=qnetd-$VERSION-$t
        printf '| %s | %s | %s | %s |\n' "$f" "$(stat -c %s "$OUT/$f")" "$(openwrt_arch "$t")" \
            "$(sha256sum "$OUT/$f" | cut -d' ' -f1)"
    done
    echo
    echo "Each \`qnetd-$VERSION-TARGET.tar.gz\` holds that binary as \`qnetd\`, \`init.d/qnetd\`,"
    echo "\`init.d/qnetd.config\`, \`README.md\`${LICENCES[*]:+ and ${LICENCES[*]}}."
}

for t in "${targets[@]}"; do
    install -m 0755 "$STAGE/bin/qnetd-$t" "$OUT/qnetd-$VERSION-$t"
    pack "$t"
done
notes >"$OUT/RELEASE-NOTES.md"
(cd "$OUT" && find . -maxdepth 1 -type f -printf '%f\n' | LC_ALL=C sort | xargs sha256sum --) \
    >"$STAGE/SHA256SUMS"
mv "$STAGE/SHA256SUMS" "$OUT/SHA256SUMS"
echo "release: wrote $OUT:" >&2
for f in "$OUT"/*; do printf 'release:   %10d  %s\n' "$(stat -c %s "$f")" "${f##*/}" >&2; done
