#!/usr/bin/env bash
# tools/release.sh is reproducible: two runs from the same commit give identical bytes.
#
#   tests/release_reproducible.sh            x86_64 + mipsel (warm in CI); the second run
#                                            recompiles qnetd and certtool (cargo clean -p),
#                                            so the compile and link are checked, not only the
#                                            packing (a few minutes: two LTO links per target)
#   tests/release_reproducible.sh --fresh    the second run in a fresh clone at another path
#                                            with an empty target dir: every crate and std
#                                            compiled again, other paths (slow: cold builds;
#                                            needs a committed tree)
#
# Targets: QNETD_RELEASE_TARGETS (default "x86_64-unknown-linux-musl mipsel-unknown-linux-musl").
# Prints "release reproducible: ok", or the differing files (both runs are then kept for a
# look) and exits 1.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export QNETD_RELEASE_TARGETS=${QNETD_RELEASE_TARGETS:-x86_64-unknown-linux-musl mipsel-unknown-linux-musl}
CACHE=${QNETD_CROSS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/qnetd-cross}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$CACHE/target}
FRESH=0
[[ ${1:-} == --fresh ]] && FRESH=1

VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/qnetd-repro.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

tools/release.sh --allow-dirty --out "$WORK/a" "$VERSION"

if ((FRESH)); then
    [[ -z $(git status --porcelain --untracked-files=no) ]] ||
        { echo "release reproducible: --fresh needs a committed tree (it clones HEAD)" >&2; exit 2; }
    git clone -q --no-hardlinks "$ROOT" "$WORK/checkout"
    git -C "$WORK/checkout" checkout -q --detach "$(git rev-parse HEAD)"
    (cd "$WORK/checkout" && CARGO_TARGET_DIR=$WORK/target tools/release.sh --out "$WORK/b" "$VERSION")
else
    for t in $QNETD_RELEASE_TARGETS; do
        cargo clean -q --release --target "$t" -p qnetd -p certtool
    done
    tools/release.sh --allow-dirty --out "$WORK/b" "$VERSION"
fi

if cmp -s "$WORK/a/SHA256SUMS" "$WORK/b/SHA256SUMS"; then
    echo "release reproducible: ok ($(wc -l <"$WORK/a/SHA256SUMS") files, identical SHA256SUMS)"
    exit 0
fi
echo "release reproducible: FAILED, these differ:" >&2
diff "$WORK/a/SHA256SUMS" "$WORK/b/SHA256SUMS" >&2 || true
# Kept for a look at the difference (e.g. diffoscope a/FILE b/FILE).
trap - EXIT
echo "release reproducible: both runs kept in $WORK/a and $WORK/b" >&2
exit 1
