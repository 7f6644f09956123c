#!/bin/sh
# Test init.d/qnetd without OpenWrt: source it after recording stand-ins for the rc.common,
# UCI (functions.sh) and procd.sh functions it calls, run start_service/service_triggers for
# several UCI files, and compare the recorded calls with what procd must receive.
#
# Usage: sh tests/init.d/run.sh [path/to/init.d/qnetd]   (POSIX sh: dash, BusyBox ash, bash)
# Prints one line per case; exits non-zero on the first difference.

set -u

here=$(cd "$(dirname "$0")" && pwd)
script=${1:-$here/../../init.d/qnetd}
work=$(mktemp -d "${TMPDIR:-/tmp}/qnetd-initd.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
calls=$work/calls
failures=0
cases=0

# --- recording stand-ins --------------------------------------------------------------------

# Each call is one line: the function name, then every argument in [brackets], so word
# boundaries are visible (procd receives the command as an argv array).
record() {
	line=$1
	shift
	for arg in "$@"; do
		line="$line [$arg]"
	done
	echo "$line" >>"$calls"
}

procd_open_instance() { record procd_open_instance "$@"; }
procd_set_param() { record procd_set_param "$@"; }
procd_append_param() { record procd_append_param "$@"; }
procd_close_instance() { record procd_close_instance "$@"; }
procd_add_reload_trigger() { record procd_add_reload_trigger "$@"; }
mkdir() { record mkdir "$@"; }
chmod() { record chmod "$@"; }
chown() { record chown "$@"; }
chgrp() { record chgrp "$@"; }
logger() { record logger "$@"; }

# UCI: config_load parses $UCI_CONFIG_DIR/NAME into the variables OpenWrt's
# /lib/functions.sh keeps (CONFIG_<section>_<option>; lists as CONFIG_<section>_<option>_ITEM<n>
# and _LENGTH); config_get/config_get_bool/config_list_foreach read them with its semantics.
UCI_CONFIG_DIR=$work/config
config_load() {
	record config_load "$@"
	section=''
	while read -r kind key value; do
		value=${value#\'}
		value=${value%\'}
		key=${key#\'}
		key=${key%\'}
		case $kind in
		config) section=$value ;;
		option) eval "CONFIG_${section}_${key}=\$value" ;;
		list)
			eval "n=\${CONFIG_${section}_${key}_LENGTH:-0}"
			n=$((n + 1))
			eval "CONFIG_${section}_${key}_ITEM$n=\$value"
			eval "CONFIG_${section}_${key}_LENGTH=$n"
			;;
		esac
	done <"$UCI_CONFIG_DIR/$1"
}
# As OpenWrt's config_get: an unset OR empty option yields the default.
config_get() {
	eval "$1=\${CONFIG_${2}_${3}:-\${4:-}}"
}
# As OpenWrt's config_get_bool: the usual words, anything else yields the default as given.
config_get_bool() {
	v_=''
	config_get v_ "$2" "$3" "${4:-}"
	case $v_ in
	1 | on | true | yes | enabled) eval "$1=1" ;;
	0 | off | false | no | disabled) eval "$1=0" ;;
	*) eval "$1=\${4:-}" ;;
	esac
}
config_list_foreach() {
	eval "n=\${CONFIG_${1}_${2}_LENGTH:-0}"
	i=1
	item=''
	while [ "$i" -le "$n" ]; do
		eval "item=\$CONFIG_${1}_${2}_ITEM$i"
		"$3" "$item"
		i=$((i + 1))
	done
}

# --- the script under test ------------------------------------------------------------------

# shellcheck source=/dev/null
. "$script"

[ "$PROG" = /usr/sbin/qnetd ] || {
	echo "FAIL: PROG is $PROG, expected /usr/sbin/qnetd"
	exit 1
}
if [ "$USE_PROCD" != 1 ] || [ -z "$START" ] || [ -z "$STOP" ]; then
	echo "FAIL: USE_PROCD/START/STOP not set"
	exit 1
fi
# The certificate step runs the real program; stand in for it with a recording script.
PROG=$work/qnetd
cat >"$PROG" <<EOF
#!/bin/sh
echo "qnetd \$*" >>"$calls"
EOF
command chmod +x "$PROG"
command mkdir -p "$UCI_CONFIG_DIR"
# The passwd file the script reads: no qnetd user until the cases that add one.
PASSWD_FILE=$work/passwd
printf 'root:x:0:0:root:/root:/bin/ash\nnobody:*:65534:65534:nobody:/var:/bin/false\n' >"$PASSWD_FILE"

# run_case NAME: UCI file from stdin; expected calls in $work/expected (with @PROG@, @STORE@).
run_case() {
	name=$1
	cat >"$UCI_CONFIG_DIR/qnetd"
	: >"$calls"
	# Fresh UCI state per case.
	for v in $(set | sed -n 's/^\(CONFIG_[A-Za-z0-9_]*\)=.*/\1/p'); do
		unset "$v"
	done
	start_service
	# The store's creation runs in the background (boot must not wait for it): wait for it,
	# and list its calls last, in a fixed order.
	wait
	grep -e '^qnetd cert ' -e '^logger \[-t\] \[qnetd-cert-init\]$' "$calls" | sort >"$calls.bg"
	grep -v -e '^qnetd cert ' -e '^logger \[-t\] \[qnetd-cert-init\]$' "$calls" >"$calls.fg"
	cat "$calls.fg" >"$calls"
	service_triggers
	cat "$calls.bg" >>"$calls"
	sed -e "s|@PROG@|$PROG|g" -e "s|@STORE@|$work/store|g" "$work/expected" >"$work/want"
	cases=$((cases + 1))
	# For tests/ops/ops_init_d.rs, which checks that `qnetd run` accepts the recorded command.
	if [ -n "${QNETD_INITD_OUT:-}" ]; then
		cp "$calls" "$QNETD_INITD_OUT/case$cases.calls"
	fi
	if cmp -s "$work/want" "$calls"; then
		echo "ok: $name"
	else
		echo "FAIL: $name"
		echo "--- expected"
		cat "$work/want"
		echo "--- recorded"
		cat "$calls"
		failures=$((failures + 1))
	fi
}

# 1. The shipped default file, store present: the daemon reads it (--wait-store: it would wait
#    for root to finish a store being made).
command mkdir -p "$work/store"
echo "-----BEGIN CERTIFICATE-----" >"$work/store/qnetd-cacert.crt"
sed "s|/etc/corosync/qnetd/nssdb|$work/store|" "$here/../../init.d/qnetd.config" >"$work/default"
cat >"$work/expected" <<'EOF'
config_load [qnetd]
mkdir [-p] [/var/run/corosync-qnetd]
chmod [0770] [/var/run/corosync-qnetd]
procd_open_instance
procd_set_param [command] [@PROG@] [run] [--port] [5403] [--tls] [required] [--store] [@STORE@] [--wait-store]
procd_append_param [command] [--client-cert-required] [on]
procd_set_param [respawn] [3600] [5] [5]
procd_set_param [no_new_privs] [1]
procd_set_param [stdout] [1]
procd_set_param [stderr] [1]
procd_set_param [file] [/etc/config/qnetd] [@STORE@/qnetd-server.crt]
procd_close_instance
procd_add_reload_trigger [qnetd]
EOF
run_case "default UCI file, first start" <"$work/default"

# 2. Everything set, store present (no certificate step), advanced settings with spaces kept
#    as one argument each.
cat >"$work/expected" <<'EOF'
config_load [qnetd]
mkdir [-p] [/var/run/corosync-qnetd]
chmod [0770] [/var/run/corosync-qnetd]
procd_open_instance
procd_set_param [command] [@PROG@] [run] [--port] [15403] [--tls] [required] [--store] [@STORE@] [--wait-store]
procd_append_param [command] [--listen] [192.168.1.1]
procd_append_param [command] [--client-cert-required] [off]
procd_append_param [command] [--max-clients] [8]
procd_append_param [command] [-d]
procd_append_param [command] [-S] [dpd_enabled=off]
procd_append_param [command] [-S] [heartbeat_interval_max=60000]
procd_set_param [respawn] [3600] [5] [5]
procd_set_param [no_new_privs] [1]
procd_set_param [stdout] [1]
procd_set_param [stderr] [1]
procd_set_param [file] [/etc/config/qnetd] [@STORE@/qnetd-server.crt]
procd_close_instance
procd_add_reload_trigger [qnetd]
EOF
run_case "all options, store present" <<EOF
config qnetd 'main'
	option enabled 'yes'
	option listen_address '192.168.1.1'
	option port '15403'
	option tls 'required'
	option client_cert_required 'off'
	option max_clients '8'
	option debug '1'
	option store '$work/store'
	list setting 'dpd_enabled=off'
	list setting 'heartbeat_interval_max=60000'
EOF

# 3. Minimal file (defaults from the script), TLS off.
cat >"$work/expected" <<'EOF'
config_load [qnetd]
mkdir [-p] [/var/run/corosync-qnetd]
chmod [0770] [/var/run/corosync-qnetd]
procd_open_instance
procd_set_param [command] [@PROG@] [run] [--port] [5403] [--tls] [off] [--store] [@STORE@] [--wait-store]
procd_append_param [command] [--client-cert-required] [on]
procd_set_param [respawn] [3600] [5] [5]
procd_set_param [no_new_privs] [1]
procd_set_param [stdout] [1]
procd_set_param [stderr] [1]
procd_set_param [file] [/etc/config/qnetd] [@STORE@/qnetd-server.crt]
procd_close_instance
procd_add_reload_trigger [qnetd]
EOF
run_case "minimal file, tls off" <<EOF
config qnetd 'main'
	option tls 'off'
	option store '$work/store'
EOF

# 4. Disabled: no instance at all, only the reload trigger.
cat >"$work/expected" <<'EOF'
config_load [qnetd]
procd_add_reload_trigger [qnetd]
EOF
run_case "disabled" <<EOF
config qnetd 'main'
	option enabled '0'
	option port '1234'
EOF

# 5. Empty and odd values fall back to the defaults, as OpenWrt's config_get does.
cat >"$work/expected" <<'EOF'
config_load [qnetd]
mkdir [-p] [/var/run/corosync-qnetd]
chmod [0770] [/var/run/corosync-qnetd]
procd_open_instance
procd_set_param [command] [@PROG@] [run] [--port] [5403] [--tls] [required] [--store] [@STORE@] [--wait-store]
procd_append_param [command] [--client-cert-required] [on]
procd_append_param [command] [-S] [listen_backlog=20]
procd_set_param [respawn] [3600] [5] [5]
procd_set_param [no_new_privs] [1]
procd_set_param [stdout] [1]
procd_set_param [stderr] [1]
procd_set_param [file] [/etc/config/qnetd] [@STORE@/qnetd-server.crt]
procd_close_instance
procd_add_reload_trigger [qnetd]
EOF
run_case "empty and odd values" <<EOF
config qnetd 'main'
	option enabled 'on'
	option port ''
	option tls ''
	option client_cert_required 'maybe'
	option max_clients ''
	option debug 'sometimes'
	option store '$work/store'
	list setting 'listen_backlog=20'
EOF

# 5a. max_clients '0' (upstream's unlimited, the old shipped default) is passed on: only an
#    unset max_clients leaves the daemon to size it from memory (cases 1 and 5).
cat >"$work/expected" <<'EOF'
config_load [qnetd]
mkdir [-p] [/var/run/corosync-qnetd]
chmod [0770] [/var/run/corosync-qnetd]
procd_open_instance
procd_set_param [command] [@PROG@] [run] [--port] [5403] [--tls] [required] [--store] [@STORE@] [--wait-store]
procd_append_param [command] [--client-cert-required] [on]
procd_append_param [command] [--max-clients] [0]
procd_set_param [respawn] [3600] [5] [5]
procd_set_param [no_new_privs] [1]
procd_set_param [stdout] [1]
procd_set_param [stderr] [1]
procd_set_param [file] [/etc/config/qnetd] [@STORE@/qnetd-server.crt]
procd_close_instance
procd_add_reload_trigger [qnetd]
EOF
run_case "max_clients 0 stays unlimited" <<EOF
config qnetd 'main'
	option max_clients '0'
	option store '$work/store'
EOF

# 6. After `qnetd install` made the user: the daemon runs as qnetd, owns the run directory,
#    and a store that does not exist yet is created by root (`qnetd cert init`, in the
#    background), never by the daemon.
echo 'qnetd:x:5403:5403:qnetd:/var/run/qnetd:/bin/false' >>"$PASSWD_FILE"
cat >"$work/expected" <<EOF
config_load [qnetd]
mkdir [-p] [/var/run/corosync-qnetd]
chmod [0770] [/var/run/corosync-qnetd]
chown [5403:5403] [/var/run/corosync-qnetd]
procd_open_instance
procd_set_param [command] [@PROG@] [run] [--port] [5403] [--tls] [required] [--store] [$work/new-store] [--wait-store]
procd_append_param [command] [--client-cert-required] [on]
procd_set_param [respawn] [3600] [5] [5]
procd_set_param [no_new_privs] [1]
procd_set_param [user] [qnetd]
procd_set_param [stdout] [1]
procd_set_param [stderr] [1]
procd_set_param [file] [/etc/config/qnetd] [$work/new-store/qnetd-server.crt]
procd_close_instance
procd_add_reload_trigger [qnetd]
logger [-t] [qnetd-cert-init]
qnetd cert --dir $work/new-store init
EOF
run_case "user qnetd exists, new store" <<EOF
config qnetd 'main'
	option store '$work/new-store'
EOF

# 7. The user exists but the port is below 1024: root, with a line in the log saying why.
cat >"$work/expected" <<'EOF'
config_load [qnetd]
logger [-t] [qnetd] [port 443 is below 1024: running as root, not qnetd]
mkdir [-p] [/var/run/corosync-qnetd]
chmod [0770] [/var/run/corosync-qnetd]
procd_open_instance
procd_set_param [command] [@PROG@] [run] [--port] [443] [--tls] [required] [--store] [@STORE@] [--wait-store]
procd_append_param [command] [--client-cert-required] [on]
procd_set_param [respawn] [3600] [5] [5]
procd_set_param [no_new_privs] [1]
procd_set_param [stdout] [1]
procd_set_param [stderr] [1]
procd_set_param [file] [/etc/config/qnetd] [@STORE@/qnetd-server.crt]
procd_close_instance
procd_add_reload_trigger [qnetd]
EOF
run_case "user qnetd exists, port 443" <<EOF
config qnetd 'main'
	option port '443'
	option store '$work/store'
EOF

# 8. `option user 'root'`, and a user that does not exist: both root, silently.
sed -e '/logger/d' -e 's/\[443\]/[5403]/' "$work/expected" >"$work/expected.root"
cp "$work/expected.root" "$work/expected"
run_case "option user root" <<EOF
config qnetd 'main'
	option user 'root'
	option store '$work/store'
EOF
run_case "option user names nobody known" <<EOF
config qnetd 'main'
	option user 'ghost'
	option store '$work/store'
EOF

# 9. `option http`: the health and metrics responder, passed on as one --http argument.
sed 's|^procd_append_param \[command\] \[--client-cert-required\] \[on\]$|&\
procd_append_param [command] [--http] [[::]:5404]|' "$work/expected.root" >"$work/expected"
run_case "option http" <<EOF
config qnetd 'main'
	option user 'root'
	option http '[::]:5404'
	option store '$work/store'
EOF

# 10. `reload` (procd's trigger after `uci commit qnetd`, LuCI's Save & Apply): the instance
#     goes to procd again (`start`: procd restarts the daemon only if it changed), then SIGHUP
#     through `qnetd reload`, at the lock file a `list setting` moved (commas split entries).
start() {
	record start "$@"
	config_load qnetd
}
run_reload_case() {
	name=$1
	cat >"$UCI_CONFIG_DIR/qnetd"
	: >"$calls"
	for v in $(set | sed -n 's/^\(CONFIG_[A-Za-z0-9_]*\)=.*/\1/p'); do
		unset "$v"
	done
	reload_service
	cases=$((cases + 1))
	if cmp -s "$work/expected" "$calls"; then
		echo "ok: $name"
	else
		echo "FAIL: $name"
		echo "--- expected"
		cat "$work/expected"
		echo "--- recorded"
		cat "$calls"
		failures=$((failures + 1))
	fi
}
printf 'start\nconfig_load [qnetd]\nqnetd reload\n' >"$work/expected"
run_reload_case "reload: start, then SIGHUP" <<EOF
config qnetd 'main'
	option debug '1'
EOF
printf 'start\nconfig_load [qnetd]\nqnetd reload --lock-file /tmp/q.pid\n' >"$work/expected"
run_reload_case "reload: SIGHUP at a moved lock file" <<EOF
config qnetd 'main'
	list setting 'dpd_enabled=on'
	list setting 'heartbeat_interval_max=60000,lock_file=/tmp/q.pid'
EOF

if [ "$failures" -ne 0 ]; then
	echo "$failures case(s) failed"
	exit 1
fi
echo "all init.d cases passed"
