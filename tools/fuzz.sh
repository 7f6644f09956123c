#!/usr/bin/env bash
# Runs the cargo-fuzz targets (fuzz/fuzz_targets/) for a while each, then merges the inputs that
# reached new code into the committed corpus fuzz/corpus/<target>/ (libFuzzer -set_cover_merge=1
# with -use_counters=0 adds only inputs covering new edges, so the corpus stays small).
# Crashes land in fuzz/artifacts/<target>/ and make this script fail.
#
# usage: tools/fuzz.sh [SECONDS] [TARGET...]     (default 60 s, every target)
# needs: rustup nightly toolchain, cargo-fuzz (`cargo install cargo-fuzz`)
# The committed corpus is replayed on stable by `cargo test --test proto fuzz_corpus_replay`.
#
# No sanitizer by default (FUZZ_SANITIZER=address to have one): the fuzzed code is safe Rust
# (the crate's unsafe is the musl allocator and the mips dlsym shim, neither built here), so
# AddressSanitizer finds nothing the Rust checks do not, while its allocation tracking and
# quarantine made the session target 16 times slower and grow to 537 MB (measured on a
# 2-core machine at load 6: 150 exec/s with ASan, 2,473 without, i.e. 5,250 per CPU-second,
# peak RSS 33 MB flat).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${1:-60}"
shift || true
case "$seconds" in
'' | *[!0-9]*)
    echo "usage: $0 [SECONDS] [TARGET...]" >&2
    exit 2
    ;;
esac
if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo +nightly fuzz list)
fi
# Build products stay out of the source tree unless the caller chose a target dir.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
sanitizer="${FUZZ_SANITIZER:-none}"

status=0
for target in "${targets[@]}"; do
    corpus="corpus/$target"
    fresh="$(mktemp -d)"
    mkdir -p "$corpus" "artifacts/$target"
    echo "=== $target: ${seconds}s"
    # New inputs go to $fresh (the first corpus directory); the committed corpus seeds the run.
    if ! cargo +nightly fuzz run -s "$sanitizer" "$target" "$fresh" "$corpus" -- \
        -max_total_time="$seconds" -print_final_stats=1 -max_len=4096 \
        -artifact_prefix="artifacts/$target/"; then
        echo "=== $target: FAILED, reproducer(s) in fuzz/artifacts/$target/" >&2
        status=1
    fi
    before=$(find "$corpus" -type f | wc -l)
    cargo +nightly fuzz run -s "$sanitizer" "$target" "$corpus" "$fresh" -- \
        -set_cover_merge=1 -use_counters=0 -max_len=4096 2>&1 |
        grep -E '^MERGE-OUTER: [0-9]+ new files' || true
    after=$(find "$corpus" -type f | wc -l)
    echo "=== $target: corpus $before -> $after files"
    rm -rf "$fresh"
done
exit "$status"
