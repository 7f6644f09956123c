# Sourced by the tools/cross scripts that read or rewrite ELF files (build.sh, budget.sh, hot.sh).
# shellcheck shell=bash

# Path of one of rustup's llvm-tools (llvm-nm, llvm-objcopy, llvm-readobj); with none, says how
# to get them and fails.
llvm_tool() {
    local tool
    tool=$(find "$(rustc --print sysroot)/lib/rustlib" -name "$1" -type f | head -n1)
    if [[ -z $tool ]]; then
        echo "$1 missing: run tools/cross/setup.sh (rustup component add llvm-tools)" >&2
        return 1
    fi
    echo "$tool"
}
