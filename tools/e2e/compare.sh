#!/usr/bin/env bash
# Runs the end-to-end scenarios (tests/e2e.rs) against our daemon and against Debian's
# corosync-qnetd, then prints their E2E-RESULT lines side by side.
# Needs root and the packages .ci/run installs. QNETD_BIN=<path> picks another build of ours
# (e.g. target/release/qnetd for release-build memory figures).
set -euo pipefail
cd "$(dirname "$0")/../.."

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

run() { # label, env...
    local label=$1
    shift
    echo "=== e2e against $label" >&2
    if ! env "$@" cargo test --test e2e -- --test-threads=1 --nocapture >"$out/$label.log" 2>&1; then
        echo "e2e against $label FAILED; log tail:" >&2
        tail -n 40 "$out/$label.log" >&2
    fi
    grep '^E2E-RESULT' "$out/$label.log" | sort >"$out/$label.txt" || true
}

run ours QNETD_E2E_UPSTREAM=0
run upstream QNETD_E2E_UPSTREAM=1

# One line per scenario: the figures of ours, then upstream's.
awk '
    { sc = ""; figs = ""
      for (i = 2; i <= NF; i++) {
          if ($i ~ /^scenario=/) sc = substr($i, 10)
          else if ($i ~ /^daemon=/) d = substr($i, 8)
          else figs = figs " " $i
      }
      row[sc, d] = figs; seen[sc] = 1 }
    END { for (s in seen) { printf "%s\n  ours:    %s\n  upstream:%s\n", s, row[s, "ours"], row[s, "upstream"] } }
' "$out/ours.txt" "$out/upstream.txt"
