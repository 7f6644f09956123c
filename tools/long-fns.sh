#!/bin/sh
# Lists Rust functions longer than a limit, longest first: FILE:LINE NAME LINES.
#
# Usage: tools/long-fns.sh [-n LIMIT] [-t] [PATH...]
#   -n LIMIT  report functions over LIMIT lines (default 80)
#   -t        include test code (functions after a file's `#[cfg(test)]`, and tests/)
#   PATH      files or directories to scan (default: every crate's src/)
#
# Good enough, not a parser: a function runs from its `fn` line to the brace that closes the
# one it opens, counted after blanking comments, strings and char literals. It does not tell
# a flat `match` (one arm per case, fine at any length) from a function that needs splitting:
# a reader looks at each line it prints.
set -eu
limit=80
tests=0
while getopts n:t opt; do
	case $opt in
	n) limit=$OPTARG ;;
	t) tests=1 ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || set -- src core/src certtool/src sftp/src
find "$@" -name '*.rs' -not -path '*/target/*' -not -path '*/vendor/*' | sort |
	LIMIT=$limit TESTS=$tests python3 -c '
import os, re, sys

limit, with_tests = int(os.environ["LIMIT"]), os.environ["TESTS"] == "1"
# Comments, strings (raw ones too), byte strings and char literals, replaced by blanks of the
# same shape so that braces inside them do not count and line numbers stay.
token = re.compile(
    r"//[^\n]*|/\*.*?\*/|b?r(#*)\".*?\"\1|b?\"(?:\\.|[^\"\\])*\"|b?\x27(?:\\.|[^\\\x27])\x27",
    re.S,
)
fn_re = re.compile(r"\bfn\s+([A-Za-z_][A-Za-z0-9_]*)")
found = []
for path in sys.stdin.read().split():
    if not with_tests and "/tests/" in "/" + path:
        continue
    text = token.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), open(path).read())
    cut = text.find("#[cfg(test)]")
    if not with_tests and cut >= 0:
        text = text[:cut]
    for m in fn_re.finditer(text):
        # The body is the first `{` after the signature, unless a `;` ends a declaration first.
        i = m.end()
        depth = 0
        while i < len(text) and text[i] not in "{;":
            # generic and closure-type parens/brackets hold no braces that matter here
            i += 1
        if i >= len(text) or text[i] == ";":
            continue
        start = text.count("\n", 0, m.start()) + 1
        for j in range(i, len(text)):
            c = text[j]
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    break
        end = text.count("\n", 0, j) + 1
        lines = end - start + 1
        if lines > limit:
            found.append((lines, path, start, m.group(1)))
for lines, path, start, name in sorted(found, key=lambda f: (-f[0], f[1], f[2])):
    print(f"{path}:{start} {name} {lines}")
'
