//! `qnetd install`: creates the three upstream names, says so, is harmless to re-run, refuses
//! to clobber a foreign file without --force, and the links really dispatch by argv[0].

mod ops_common;

use ops_common::*;
use std::path::Path;

fn qnetd() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_qnetd"))
}

#[test]
fn install_is_idempotent_and_links_work() {
    let tmp = TempDir::new("install");
    let dir = tmp.path().join("sbin");
    std::fs::create_dir(&dir).unwrap();
    let d = dir.to_str().unwrap();

    let (out, err, code) = run(qnetd(), &["install", "--dir", d]);
    let out = String::from_utf8(out).unwrap();
    assert_eq!(code, Some(0), "{}", String::from_utf8_lossy(&err));
    for name in [
        "corosync-qnetd",
        "corosync-qnetd-certutil",
        "corosync-qnetd-tool",
    ] {
        assert!(
            out.contains(&format!("created {d}/{name} (symlink to ")),
            "{out}"
        );
    }
    assert!(
        out.contains("is not on the PATH of a non-interactive ssh session"),
        "{out}"
    );

    let (again, _, code) = run(qnetd(), &["install", "--dir", d]);
    let again = String::from_utf8(again).unwrap();
    assert_eq!(code, Some(0));
    assert_eq!(again.matches("unchanged ").count(), 3, "{again}");
    assert!(!again.contains("created"));

    // The links answer as upstream's programs.
    let (out, _, code) = run(&dir.join("corosync-qnetd-tool"), &["-h"]);
    assert_eq!(code, Some(1));
    assert_eq!(
        out,
        b"usage: corosync-qnetd-tool [-Hhlsv] [-c cluster_name] [-p qnetd_ipc_socket_path]\n"
    );

    // A foreign file is kept unless --force.
    let foreign = dir.join("corosync-qnetd");
    std::fs::remove_file(&foreign).unwrap();
    std::fs::write(&foreign, b"upstream daemon").unwrap();
    let (_, err, code) = run(qnetd(), &["install", "--dir", d]);
    assert_eq!(code, Some(1));
    assert!(String::from_utf8_lossy(&err).contains("refused"));
    assert_eq!(std::fs::read(&foreign).unwrap(), b"upstream daemon");
    let (out, _, code) = run(qnetd(), &["install", "--dir", d, "--force"]);
    assert_eq!(code, Some(0));
    assert!(String::from_utf8_lossy(&out)
        .contains(&format!("replaced {d}/corosync-qnetd (was a 15-byte file")));
    assert_eq!(
        std::fs::canonicalize(&foreign).unwrap(),
        std::fs::canonicalize(qnetd()).unwrap()
    );
}
