//! tools/bench/memory-guard.sh, which tools/test.sh runs on the router build: its judgement of a
//! side-by-side results file, one kilobyte either side of a tenth of corosync-qnetd's VmHWM.

// Tests report to the harness with std's macros (clippy.toml refuses them in the product).
#![allow(clippy::disallowed_macros)]

use std::fs;
use std::path::PathBuf;
use std::process::Output;

fn judge(name: &str, results: &str) -> Output {
    let file = std::env::temp_dir().join(format!("qnetd-guard-{name}-{}", std::process::id()));
    fs::write(&file, results).unwrap();
    let out = std::process::Command::new(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tools/bench/memory-guard.sh"),
    )
    .args(["judge"])
    .arg(&file)
    .output()
    .expect("run tools/bench/memory-guard.sh");
    let _ = fs::remove_file(&file);
    out
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn results(ours: &str, theirs: &str) -> String {
    format!(
        "result name=qnetd clusters=1 clients=2 tls=true {ours}\n\
         result name=corosync-qnetd clusters=1 clients=2 tls=true {theirs}\n"
    )
}

#[test]
fn a_tenth_passes_and_one_kilobyte_more_fails() {
    let at = judge(
        "at",
        &results("hwm_kib=1000 failure=", "hwm_kib=10000 failure="),
    );
    assert!(at.status.success(), "{}", text(&at));
    assert!(
        text(&at).contains("1000 kB, corosync-qnetd 10000 kB: 0.100x"),
        "{}",
        text(&at)
    );

    let over = judge(
        "over",
        &results("hwm_kib=1001 failure=", "hwm_kib=10000 failure="),
    );
    assert_eq!(over.status.code(), Some(1), "{}", text(&over));
    assert!(text(&over).contains("OVER"), "{}", text(&over));
}

#[test]
fn a_failed_or_missing_run_is_a_failure_not_a_pass() {
    let failed = judge(
        "failed",
        &results(
            "hwm_kib=900 failure=ramp-up:_timed_out",
            "hwm_kib=10000 failure=",
        ),
    );
    assert_eq!(failed.status.code(), Some(1), "{}", text(&failed));

    // corosync-qnetd died before it was measured: no ratio can be had.
    let died = judge(
        "died",
        &results("hwm_kib=900 failure=", "hwm_kib=0 failure=exited"),
    );
    assert_eq!(died.status.code(), Some(1), "{}", text(&died));
    assert!(
        text(&died).contains("no VmHWM for corosync-qnetd"),
        "{}",
        text(&died)
    );

    let missing = judge(
        "missing",
        "result name=qnetd clusters=1 hwm_kib=900 failure=\n",
    );
    assert_eq!(missing.status.code(), Some(1), "{}", text(&missing));
}
