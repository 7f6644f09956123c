#!/usr/bin/env bash
# Smoke-test a cross-built qnetd under qemu-user, the way it would first run on a router:
#
#   tools/cross/smoke.sh TARGET [BINARY]     (BINARY defaults to dist/qnetd-TARGET)
#
#   1. `qnetd --version` (names TARGET and a commit)
#   2. `qnetd cert --store STORE init`                      (CA + server certificate)
#   3. `qnetd cert --store STORE sign --csr … --cluster smoke` (a node request made with openssl)
#   4. `qnetd run` on 127.0.0.1:<free port> with that store, TLS required
#   5. `qnetd probe` with the CA and the signed client certificate: PREINIT → STARTTLS →
#      (mutual TLS) → INIT accepted, then echoes. A router build has no probe (feature
#      `probe`): it must say so (exit 2), and the host's probe talks to the emulated daemon:
#      $QNETD_PROBE_BIN, default dist/qnetd-x86_64-unknown-linux-musl (built first by ci.sh)
#   6. a silent client is dropped after the handshake timeout (shortened to 1 s): timers work
#   7. `qnetd status` over the daemon's local socket answers and reports the port
#   8. `qnetd cert import-nss`: only a build with NSS import/export (x86_64) has it; a router
#      build must say so and exit 2
#   9. SIGTERM: the daemon exits 0 within a bounded time
# Every wait is bounded; temp files and the daemon are cleaned up on any exit.
# Needs: qemu-user-static, openssl, python3 (free port) — tools/cross/setup.sh installs them.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TARGET=${1:?usage: $0 TARGET [BINARY]}
case $TARGET in
x86_64) TARGET=x86_64-unknown-linux-musl ;;
aarch64) TARGET=aarch64-unknown-linux-musl ;;
armv7) TARGET=armv7-unknown-linux-musleabihf ;;
mipsel) TARGET=mipsel-unknown-linux-musl ;;
mips) TARGET=mips-unknown-linux-musl ;;
esac
BIN=${2:-$ROOT/dist/qnetd-$TARGET}
case $TARGET in
x86_64-*) QEMU=qemu-x86_64-static ;;
aarch64-*) QEMU=qemu-aarch64-static ;;
armv7-*) QEMU=qemu-arm-static ;;
mipsel-*) QEMU=qemu-mipsel-static ;;
mips-*) QEMU=qemu-mips-static ;;
*)
    echo "smoke: unsupported target $TARGET" >&2
    exit 2
    ;;
esac
STEP_TIMEOUT=${QNETD_SMOKE_TIMEOUT:-60}

[[ -x $BIN ]] || {
    echo "smoke: no binary at $BIN (tools/cross/build.sh $TARGET)" >&2
    exit 2
}
command -v "$QEMU" >/dev/null || {
    echo "smoke: $QEMU missing (tools/cross/setup.sh)" >&2
    exit 2
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/qnetd-smoke.XXXXXX")
DAEMON_PID=
cleanup() {
    if [[ -n $DAEMON_PID ]] && kill -0 "$DAEMON_PID" 2>/dev/null; then
        kill -KILL "$DAEMON_PID" 2>/dev/null || true
        wait "$DAEMON_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

STORE=$WORK/store
q() { timeout "$STEP_TIMEOUT" "$QEMU" "$BIN" "$@"; }
say() { printf 'smoke %s: %s\n' "$TARGET" "$*"; }
fail() {
    say "FAILED: $*"
    if [[ -s $WORK/run.log ]]; then
        echo "--- daemon log ---"
        tail -n 40 "$WORK/run.log"
    fi
    exit 1
}
now_ms() { echo $((${EPOCHREALTIME/./} / 1000)); }

# 1. version
version=$(q --version) || fail "--version exited $?"
# "qnetd 0.1.0 (mipsel-unknown-linux-musl, commit 0123456789ab)": the binary names its target
[[ $version =~ ^qnetd\ [^\ ]+\ \($TARGET,\ commit\ [^\ ]+\)$ ]] ||
    fail "--version printed '$version', want 'qnetd VERSION ($TARGET, commit COMMIT)'"
say "--version: $version"

# 2. cert init into an empty store
t0=$(now_ms)
q cert --store "$STORE" init >"$WORK/init.out" 2>&1 || fail "cert init: $(cat "$WORK/init.out")"
t1=$(now_ms)
for f in qnetd-cacert.crt qnetd-server.crt qnetd-server.key; do
    [[ -s $STORE/$f ]] || fail "cert init left no $f"
done
[[ $(stat -c %a "$STORE/qnetd-server.key") == 6?0 ]] || fail "server key mode $(stat -c %a "$STORE/qnetd-server.key")"
say "cert init: $((t1 - t0)) ms"

# 3. a node's request (as corosync-qdevice-net-certutil -r would send), signed by our CA
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$WORK/node.key" 2>/dev/null
openssl req -new -key "$WORK/node.key" -subj /CN=smoke -outform DER -out "$WORK/node.crq"
q cert --store "$STORE" sign --csr "$WORK/node.crq" --cluster smoke >"$WORK/sign.out" 2>&1 ||
    fail "cert sign: $(cat "$WORK/sign.out")"
[[ -s $STORE/cluster-smoke.crt ]] || fail "cert sign left no cluster-smoke.crt"
say "cert sign: ok"

# 4. the daemon
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$QEMU" "$BIN" run --listen 127.0.0.1 --port "$PORT" --tls required --store "$STORE" \
    -S handshake_timeout=1000 --lock-file "$WORK/qnetd.pid" --socket "$WORK/qnetd.sock" >"$WORK/run.log" 2>&1 &
DAEMON_PID=$!
t0=$(now_ms)
deadline=$((SECONDS + STEP_TIMEOUT))
until (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do
    kill -0 "$DAEMON_PID" 2>/dev/null || fail "daemon exited before listening"
    ((SECONDS < deadline)) || fail "daemon not listening on $PORT after ${STEP_TIMEOUT}s"
    sleep 0.1
done
say "run: listening on 127.0.0.1:$PORT after $(($(now_ms) - t0)) ms"

# 5. our client: PREINIT → STARTTLS → mutual TLS → INIT, then echoes; from the host if this
#    build has no probe (router builds), after checking that it says so
probe=(q)
rc=0
q probe --port 1 >"$WORK/probe.out" 2>&1 || rc=$?
if grep -q 'this build has no probe' "$WORK/probe.out"; then
    ((rc == 2)) || fail "probe without the probe feature exited $rc, not 2"
    PROBE_BIN=${QNETD_PROBE_BIN:-$ROOT/dist/qnetd-x86_64-unknown-linux-musl}
    [[ -x $PROBE_BIN ]] || fail "this build has no probe and there is no host probe at $PROBE_BIN (build x86_64 first, or set QNETD_PROBE_BIN)"
    probe=(timeout "$STEP_TIMEOUT" "$PROBE_BIN")
    say "probe: not in this build (exit 2, as it should); probing from the host with $PROBE_BIN"
fi
"${probe[@]}" probe --host 127.0.0.1 --port "$PORT" --cluster smoke --node-id 1 \
    --ca "$STORE/qnetd-cacert.crt" --cert "$STORE/cluster-smoke.crt" --key "$WORK/node.key" \
    --echoes 2 >"$WORK/probe.out" 2>&1 || fail "probe: $(cat "$WORK/probe.out")"
grep -q '^INIT accepted' "$WORK/probe.out" || fail "probe did not report INIT: $(cat "$WORK/probe.out")"
[[ $(grep -c '^echo reply' "$WORK/probe.out") == 2 ]] || fail "probe echoes: $(cat "$WORK/probe.out")"
say "probe: $(head -n1 "$WORK/probe.out")"

# 6. the daemon's own timers fire: a client that connects and says nothing is dropped after
#    the (shortened) handshake timeout. Catches timers that are never armed (see the mips note
#    in .cargo/config.toml).
t0=$(now_ms)
exec 3<>"/dev/tcp/127.0.0.1/$PORT"
timeout "$STEP_TIMEOUT" cat <&3 >/dev/null || fail "a silent client was not dropped within ${STEP_TIMEOUT}s"
exec 3<&-
say "handshake timeout: silent client dropped after $(($(now_ms) - t0)) ms"

# 7. the local status socket answers
q status --socket "$WORK/qnetd.sock" >"$WORK/status.out" 2>&1 || fail "status: $(cat "$WORK/status.out")"
grep -q "$PORT" "$WORK/status.out" || fail "status does not show port $PORT: $(cat "$WORK/status.out")"
say "status: ok"

# 8. NSS import/export: on a router build a clear refusal, exit 2 (the x86_64 build has it)
rc=0
q cert --store "$WORK/empty" import-nss >"$WORK/nss.out" 2>&1 || rc=$?
if [[ $TARGET == x86_64-* && ${QNETD_CROSS_HOST:-1} == 1 ]]; then
    ! grep -q 'this build has no NSS' "$WORK/nss.out" || fail "the x86_64 build has no import-nss"
    say "import-nss: in this build"
else
    if ((rc != 2)) || ! grep -q 'this build has no NSS import/export' "$WORK/nss.out"; then
        fail "import-nss on a router build: exit $rc, $(cat "$WORK/nss.out")"
    fi
    say "import-nss: not in this build (exit 2, as it should)"
fi

# 9. clean shutdown
kill -TERM "$DAEMON_PID"
deadline=$((SECONDS + STEP_TIMEOUT))
while kill -0 "$DAEMON_PID" 2>/dev/null; do
    ((SECONDS < deadline)) || fail "daemon still running ${STEP_TIMEOUT}s after SIGTERM"
    sleep 0.1
done
rc=0
wait "$DAEMON_PID" || rc=$?
DAEMON_PID=
((rc == 0)) || fail "daemon exited $rc after SIGTERM"
say "PASSED"
