//! init.d/qnetd: the procd command line built from UCI files (tests/init.d/run.sh, run under
//! dash and BusyBox ash, the shell OpenWrt has), and `shellcheck -s sh` on the script.

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
    assert_eq!(stdout.matches("ok: ").count(), 5, "{stdout}");
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
