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
