#!/usr/bin/env bash
# Structure rules the compiler does not enforce by itself, checked by tools/test.sh:
#  1. The protocol core (core/, qnetd-core) has `log` as its only normal dependency: it stays
#     free of I/O because it cannot reach anything that does I/O.
#  2. No product source file is over 800 lines (a file a reader can hold; split by concern).
#     Product: the crates linked into the binary (src/, core/src/, certtool/src/, sftp/src/).
#     Test code is not counted: a file named *_tests.rs or tests.rs whose `mod` is declared
#     behind #[cfg(test)] (one so named but not gated counts as product).
#  3. No product function is over 80 lines (tools/long-fns.sh) unless it is a flat match, one
#     arm per case, named in FLAT_MATCHES below after a reader checked it.
# Prints what it found; exits 1 when a rule is broken.
set -euo pipefail
cd "$(dirname "$0")/.."

LIMIT=800
status=0

# --- 1. the core's dependencies
deps="$(cargo tree -p qnetd-core --edges normal --prefix none --format '{p}' |
    awk '{print $1}' | sort -u)"
echo "qnetd-core's normal dependency tree: $(echo "$deps" | tr '\n' ' ')"
extra="$(echo "$deps" | grep -vx -e qnetd-core -e log || true)"
if [ -n "$extra" ]; then
    echo "FAIL: qnetd-core may depend on log only; it also pulls in: $(echo "$extra" | tr '\n' ' ')"
    status=1
fi

# --- 2. product file sizes
# True when $1 is test code: named as such, and declared (in its directory or the parent's)
# right after #[cfg(test)] (possibly with a #[path] attribute between).
is_test_only() {
    local file="$1" dir base
    dir="$(dirname "$file")"
    base="$(basename "$file" .rs)"
    case "$base" in
    *_tests | tests) ;;
    *) return 1 ;;
    esac
    grep -h -B2 -E "^[[:space:]]*(pub(\([a-z]+\))? )?mod ${base};|#\[path = \"${base}\.rs\"\]" \
        "$dir"/*.rs "$dir"/../*.rs 2>/dev/null | grep -q 'cfg(test)'
}

dirs=()
for d in src core/src certtool/src sftp/src; do
    [ -d "$d" ] && dirs+=("$d")
done
over=()
sizes=()
while IFS= read -r file; do
    is_test_only "$file" && continue
    lines="$(wc -l <"$file")"
    sizes+=("$lines $file")
    [ "$lines" -gt "$LIMIT" ] && over+=("$lines $file")
done < <(find "${dirs[@]}" -name '*.rs' -type f | sort)
echo "product .rs files in ${dirs[*]}: ${#sizes[@]}; the largest:"
printf '%s\n' "${sizes[@]}" | sort -rn | head -5 | sed 's/^/    /'
if [ "${#over[@]}" -gt 0 ]; then
    echo "FAIL: product files over $LIMIT lines (split them by concern):"
    printf '%s\n' "${over[@]}" | sort -rn | sed 's/^/    /'
    status=1
fi

# --- 3. function lengths
FLAT_MATCHES=(
    "src/tls/words.rs pki_refusal" # one arm per webpki error: the words a refusal is logged with
)
long=()
while IFS= read -r line; do
    # line: FILE:LINE NAME LENGTH
    key="${line%%:*} $(echo "$line" | awk '{print $2}')"
    allowed=0
    for flat in "${FLAT_MATCHES[@]}"; do
        [ "$key" = "$flat" ] && allowed=1
    done
    if [ "$allowed" -eq 1 ]; then
        echo "function over 80 lines, a flat match: $line"
    else
        long+=("$line")
    fi
done < <(sh tools/long-fns.sh -n 80)
if [ "${#long[@]}" -gt 0 ]; then
    echo "FAIL: product functions over 80 lines (split them into named steps, or add a flat match to FLAT_MATCHES):"
    printf '    %s\n' "${long[@]}"
    status=1
fi

[ "$status" -eq 0 ] && echo "structure: ok"
exit "$status"
