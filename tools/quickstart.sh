#!/bin/sh
# Build qnetd and run it in the foreground, serving TLS on port 5403 (QNETD_PORT to change),
# with a certificate store in ./qnetd-local/nssdb created on first run. No root needed: the
# lock file and status socket live in ./qnetd-local/run too. Ctrl-C stops it.
#
#   tools/quickstart.sh
#   target/release/qnetd status -p qnetd-local/run/qnetd.sock      # in another terminal
set -eu
cd "$(dirname "$0")/.."
command -v cargo >/dev/null 2>&1 || {
    echo "quickstart: cargo not found; install Rust first (https://rustup.rs)" >&2
    exit 1
}
cargo build --release --bin qnetd
bin=target/release/qnetd
state=${QNETD_LOCAL_DIR:-qnetd-local}
mkdir -p "$state/run"
# Idempotent: says "nothing changed" when the CA and server certificate already exist.
"$bin" cert --store "$state/nssdb" init
echo "quickstart: nodes import $state/nssdb/qnetd-cacert.crt; sign their requests with"
echo "            $bin cert --store $state/nssdb sign --csr FILE --cluster NAME"
exec "$bin" run --port "${QNETD_PORT:-5403}" --store "$state/nssdb" \
    --lock-file "$state/run/qnetd.pid" --socket "$state/run/qnetd.sock"
