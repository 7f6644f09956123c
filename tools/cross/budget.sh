#!/usr/bin/env bash
# The router binaries' byte budget (tools/cross/budget.txt) and where the bytes went.
#
#   tools/cross/budget.sh check TARGET BINARY    size against the budget; over it: exit 1 and the
#                                                per-crate figures against the last passing build
#   tools/cross/budget.sh crates ELF             per-crate bytes of an unstripped ELF (its symbols)
#   tools/cross/budget.sh record TARGET...       make dist/qnetd-TARGET (passing) the last passing
#                                                build: its size into budget.txt, its per-crate
#                                                figures into budget/TARGET.crates
#
# budget.txt has one line per target: `TARGET BUDGET LAST`, bytes; LAST is the size of the last
# build that passed, whose per-crate figures are budget/TARGET.crates. tools/cross/build.sh
# writes BINARY.crates next to each binary (from the same link, symbols kept), which `check`
# compares with them. Exit status: 0 within budget, 1 over it, 2 for a usage or file error.
#
# Environment (the tests use them): QNETD_BUDGET_FILE (default tools/cross/budget.txt),
# QNETD_BUDGET_DIR (default tools/cross/budget), DIST (default <repo>/dist).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tools/cross/llvm-tool.sh
. "$ROOT/tools/cross/llvm-tool.sh"
BUDGET_FILE=${QNETD_BUDGET_FILE:-$ROOT/tools/cross/budget.txt}
BUDGET_DIR=${QNETD_BUDGET_DIR:-$ROOT/tools/cross/budget}
DIST=${DIST:-$ROOT/dist}

die() {
    echo "budget: $*" >&2
    exit 2
}

# `BUDGET LAST` of a target, from the budget file.
budget_line() {
    [[ -f $BUDGET_FILE ]] || die "no budget file $BUDGET_FILE"
    local line
    line=$(awk -v t="$1" '$1 == t { print $2, ($3 == "" ? "-" : $3); exit }' "$BUDGET_FILE")
    [[ -n $line ]] || die "$1 has no budget in $BUDGET_FILE"
    [[ ${line%% *} =~ ^[0-9]+$ ]] || die "$1's budget in $BUDGET_FILE is not a number: ${line%% *}"
    echo "$line"
}

# Thousands separators, as the README's tables write bytes.
commas() { sed ':a;s/\B[0-9]\{3\}\>/,&/;ta' <<<"$1"; }

# Per crate: the symbols' sizes summed by the crate that defines them (the first path segment of
# the demangled name; `<T as Trait>` impls count for T's crate). Symbols without a Rust path
# (musl, ring's C and assembly) are `[C]`; the file's bytes in no symbol (headers, tables,
# padding, strings the linker merged) are `[other]`, from the stripped size if given.
crates() {
    local elf=$1 stripped_size=${2:-}
    local nm
    nm=$(llvm_tool llvm-nm) || exit 2
    "$nm" --demangle --print-size --defined-only --radix=d "$elf" | awk -v total="$stripped_size" '
        NF >= 4 && $3 !~ /^[aAuUwWvV]$/ {
            size = $2 + 0
            name = $4
            for (i = 5; i <= NF; i++) name = name " " $i
            sub(/^<+/, "", name)
            sub(/^(dyn |&(mut )?)/, "", name)
            crate = "[C]"
            if (match(name, /^[A-Za-z_][A-Za-z0-9_]*::/)) crate = substr(name, 1, RLENGTH - 2)
            bytes[crate] += size
            sum += size
        }
        END {
            if (total != "" && total > sum) bytes["[other]"] = total - sum
            for (c in bytes) printf "%s %d\n", c, bytes[c]
        }' | sort -k2,2nr -k1,1
}

# The per-crate table of a failing binary against the last passing build's, largest growth first.
where_the_bytes_went() {
    local target=$1 now=$2 last=$BUDGET_DIR/$1.crates
    if [[ ! -f $now ]]; then
        echo "budget: no per-crate figures for this build ($now missing: build with tools/cross/build.sh)"
        return
    fi
    [[ -f $last ]] || last=/dev/null
    echo "budget: where the bytes went ($target, symbol bytes per crate: last passing build -> now):"
    printf '  %-24s %12s %12s %12s\n' crate last now change
    awk 'NR == FNR { last[$1] = $2; next } { now[$1] = $2 }
        END {
            for (c in last) seen[c] = 1
            for (c in now) seen[c] = 1
            for (c in seen) printf "%s %d %d %d\n", c, last[c], now[c], now[c] - last[c]
        }' "$last" "$now" | sort -k4,4nr -k1,1 | {
        local same=0 crate l n d
        while read -r crate l n d; do
            if ((d == 0)); then
                same=$((same + 1))
                continue
            fi
            printf '  %-24s %12s %12s %12s\n' "$crate" "$(commas "$l")" "$(commas "$n")" \
                "$( ((d > 0)) && echo +)$(commas "$d")"
        done
        echo "  ($same crates unchanged)"
    }
}

check() {
    local target=$1 bin=$2
    [[ -f $bin ]] || die "no binary $bin"
    local size line budget last
    size=$(stat -c %s "$bin")
    line=$(budget_line "$target") || exit 2
    read -r budget last <<<"$line"
    if ((size <= budget)); then
        printf 'budget: %-32s %12s bytes of %12s: ok, %s to spare\n' "$target" "$(commas "$size")" \
            "$(commas "$budget")" "$(commas $((budget - size)))"
        return 0
    fi
    printf 'budget: %-32s %12s bytes of %12s: OVER by %s bytes\n' "$target" "$(commas "$size")" \
        "$(commas "$budget")" "$(commas $((size - budget)))"
    [[ $last == - ]] || echo "budget: the last passing build was $(commas "$last") bytes ($(commas $((size - last))) since)"
    where_the_bytes_went "$target" "$bin.crates"
    return 1
}

record() {
    local target bin size
    for target in "$@"; do
        bin=$DIST/qnetd-$target
        [[ -f $bin && -f $bin.crates ]] || die "no $bin and $bin.crates to record (build it first)"
        check "$target" "$bin" >/dev/null || die "$bin is over its budget: not recorded"
        size=$(stat -c %s "$bin")
        mkdir -p "$BUDGET_DIR"
        cp "$bin.crates" "$BUDGET_DIR/$target.crates"
        awk -v t="$target" -v s="$size" \
            '$1 == t { printf "%-32s %9s %9s\n", $1, $2, s; next } { print }' \
            "$BUDGET_FILE" >"$BUDGET_FILE.tmp"
        mv "$BUDGET_FILE.tmp" "$BUDGET_FILE"
        echo "budget: recorded $target: $(commas "$size") bytes"
    done
}

case ${1:-} in
check)
    (($# == 3)) || die "usage: $0 check TARGET BINARY"
    check "$2" "$3"
    ;;
crates)
    (($# >= 2 && $# <= 3)) || die "usage: $0 crates ELF [STRIPPED-SIZE]"
    crates "$2" "${3:-}"
    ;;
record)
    (($# >= 2)) || die "usage: $0 record TARGET..."
    shift
    record "$@"
    ;;
*) die "usage: $0 check TARGET BINARY | crates ELF [STRIPPED-SIZE] | record TARGET..." ;;
esac
