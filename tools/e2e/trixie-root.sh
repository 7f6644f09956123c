#!/usr/bin/env bash
# Build (once) the Debian 13 "trixie" root in which the e2e tests run a Proxmox VE 9 node's
# client side: corosync 3.1.9, corosync-qdevice 3.0.3, NSS 3.110 tools and OpenSSH 10.0, all
# from Debian's packages. Prints the root's path. Cached: a second call returns at once.
#
#   tools/e2e/trixie-root.sh            # build if missing, print the path
#   QNETD_TRIXIE_ROOT=DIR tools/e2e/trixie-root.sh
#
# The tests read the same path from QNETD_TRIXIE_ROOT (default below).
set -euo pipefail

ROOT=${QNETD_TRIXIE_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/qnetd-trixie/root}
MIRROR=${QNETD_DEBIAN_MIRROR:-http://deb.debian.org/debian}
PACKAGES=corosync,corosync-qdevice,libnss3-tools,openssh-client,iproute2,procps
STAMP=$ROOT/.qnetd-trixie-root

if [[ -f $STAMP && $(cat "$STAMP") == "$PACKAGES" ]]; then
    echo "$ROOT"
    exit 0
fi
command -v debootstrap >/dev/null || {
    echo "trixie-root: debootstrap is missing (apt-get install debootstrap)" >&2
    exit 1
}
partial=$ROOT.partial
rm -rf "$partial"
mkdir -p "$(dirname "$ROOT")"
echo "trixie-root: debootstrap trixie into $ROOT (a few minutes, once)" >&2
# Services must not start inside the root: its packages' postinst would try.
debootstrap --variant=minbase --include="$PACKAGES" trixie "$partial" "$MIRROR" >"$partial.log" 2>&1 || {
    echo "trixie-root: debootstrap failed; last lines of $partial.log:" >&2
    tail -20 "$partial.log" >&2
    exit 1
}
# The tests bind-mount each node's own directories over these.
mkdir -p "$partial"/etc/corosync "$partial"/var/lib/corosync "$partial"/root/.ssh
rm -rf "$ROOT"
mv "$partial" "$ROOT"
echo "$PACKAGES" >"$STAMP"
rm -f "$partial.log"
echo "$ROOT"
