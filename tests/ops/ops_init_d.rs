//! init.d/qnetd: the procd command line built from UCI files (tests/init.d/run.sh, run under
//! dash and BusyBox ash, the shell OpenWrt has), and `shellcheck -s sh` on the script.

use argh::FromArgs;
use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn harness(shell: &[&str]) {
    let out = Command::new(shell[0])
        .args(&shell[1..])
        .arg(root().join("tests/init.d/run.sh"))
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", shell[0]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{shell:?}:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.matches("ok: ").count(), 13, "{stdout}");
}

#[test]
fn command_line_from_uci_under_dash() {
    harness(&["dash"]);
}

#[test]
fn command_line_from_uci_under_busybox_ash() {
    harness(&["busybox", "ash"]);
}

#[test]
fn shellcheck_posix_sh() {
    for file in ["init.d/qnetd", "tests/init.d/run.sh"] {
        let out = Command::new("shellcheck")
            .args(["-s", "sh"])
            .arg(root().join(file))
            .output()
            .expect("shellcheck (apt install shellcheck)");
        assert!(
            out.status.success(),
            "{file}:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

/// The command lines the script hands to procd are ones `qnetd run` accepts and validates.
#[test]
fn recorded_command_lines_are_valid_qnetd_run_arguments() {
    let out_dir = std::env::temp_dir().join(format!("qnetd-initd-out-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out_dir);
    std::fs::create_dir_all(&out_dir).unwrap();
    let status = Command::new("dash")
        .arg(root().join("tests/init.d/run.sh"))
        .env("QNETD_INITD_OUT", &out_dir)
        .output()
        .unwrap()
        .status;
    assert!(status.success());
    let mut checked = 0;
    // The memory-sized default (unset max_clients) for the shipped file, unlimited for '0'.
    let max_clients = [None, Some(8), None, None, None, Some(0)];
    for case in 1..=6 {
        let calls = std::fs::read_to_string(out_dir.join(format!("case{case}.calls"))).unwrap();
        let mut argv: Vec<String> = Vec::new();
        for line in calls.lines() {
            let Some(rest) = line
                .strip_prefix("procd_set_param [command] ")
                .or_else(|| line.strip_prefix("procd_append_param [command] "))
            else {
                continue;
            };
            let words = rest.trim_start_matches('[').trim_end_matches(']');
            argv.extend(words.split("] [").map(String::from));
        }
        if argv.is_empty() {
            continue; // the disabled case starts nothing
        }
        // argv[0] is the program, argv[1] the `run` subcommand.
        assert_eq!(argv[1], "run", "{calls}");
        let rest: Vec<&str> = argv[2..].iter().map(String::as_str).collect();
        let args = qnetd::cli::run::RunArgs::from_args(&["run"], &rest)
            .unwrap_or_else(|e| panic!("case {case}: {:?} rejected: {}", rest, e.output));
        let cfg = args
            .to_config()
            .unwrap_or_else(|e| panic!("case {case}: {rest:?} invalid: {e:?}"));
        assert_eq!(cfg.max_clients, max_clients[case - 1], "case {case}");
        checked += 1;
    }
    assert_eq!(checked, 5);
    let _ = std::fs::remove_dir_all(&out_dir);
}

/// Sources init.d/qnetd with stand-ins for UCI (`option user` and `option port` from the
/// environment) and procd, runs start_service and prints whom procd is told to run the
/// daemon as (`user=NAME`), nothing for root.
const RUN_AS_PROBE: &str = r#"
set -u
procd_open_instance() { :; }
procd_close_instance() { :; }
procd_append_param() { :; }
procd_set_param() { if [ "$1" = user ]; then echo "user=$2"; fi; }
mkdir() { :; }
chmod() { :; }
chown() { :; }
logger() { :; }
config_load() { :; }
config_list_foreach() { :; }
config_get() {
	case $3 in
	user) eval "$1=\$QNETD_USER" ;;
	port) eval "$1=\$QNETD_PORT" ;;
	store) eval "$1=\$QNETD_STORE" ;;
	*) eval "$1=\${4:-}" ;;
	esac
}
config_get_bool() { eval "$1=\${4:-}"; }
. "$QNETD_INIT"
PASSWD_FILE=$QNETD_PASSWD
start_service
"#;

/// The rule "root when `option user` is root, the user is missing, or the port is below
/// 1024" lives in two languages: init.d/qnetd (shell, what procd runs) and
/// qnetd::install::service::runs_as_root (what install and doctor assume). Both, over a grid
/// of users and ports around the boundary, give the same answer.
#[test]
fn init_script_runs_the_daemon_as_the_installers_rule_says() {
    let dir = std::env::temp_dir().join(format!("qnetd-initd-runas-{}", std::process::id()));
    let store = dir.join("store");
    std::fs::create_dir_all(&store).unwrap();
    // A complete store: the script starts no `cert init` in the background.
    std::fs::write(store.join("qnetd-cacert.crt"), "").unwrap();
    let passwd = dir.join("passwd");
    std::fs::write(
        &passwd,
        "root:x:0:0:root:/root:/bin/ash\nqnetd:x:5403:5403:qnetd:/var/run/qnetd:/bin/false\n\
         nobody:*:65534:65534:nobody:/var:/bin/false\n",
    )
    .unwrap();
    let mut checked = 0;
    for user in ["root", "qnetd", "nobody", "ghost"] {
        for port in [0u16, 1, 80, 443, 1023, 1024, 1025, 5403, 65535] {
            let out = Command::new("dash")
                .args(["-c", RUN_AS_PROBE])
                .env("QNETD_INIT", root().join("init.d/qnetd"))
                .env("QNETD_PASSWD", &passwd)
                .env("QNETD_STORE", &store)
                .env("QNETD_USER", user)
                .env("QNETD_PORT", port.to_string())
                .output()
                .unwrap();
            assert!(out.status.success(), "{user} {port}: {out:?}");
            let stdout = String::from_utf8_lossy(&out.stdout);
            let script = stdout.trim().strip_prefix("user=");
            let exists = user != "ghost";
            let rust =
                (exists && !qnetd::install::service::runs_as_root(user, port)).then_some(user);
            assert_eq!(script, rust, "option user {user}, port {port}");
            checked += 1;
        }
    }
    assert_eq!(checked, 36);
    let _ = std::fs::remove_dir_all(&dir);
}
