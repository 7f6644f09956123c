//! A qdevice node's NSS database, made and read with the real NSS tools (certutil, pk12util):
//! shared by tests/certs/cert_tls.rs, tests/certs/cert_busybox.rs and tests/certs/cert_nss.rs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Run NSS tool `prog` on the database `db`; its stdout and stderr. Panics if it fails.
pub fn nss(db: &Path, prog: &str, args: &[&str]) -> String {
    let o = Command::new(prog)
        .arg("-d")
        .arg(format!("sql:{}", db.display()))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{prog}: {e} (install libnss3-tools)"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{prog} {args:?} failed: {text}");
    text
}

/// A new, empty NSS database at `db` that trusts our CA `ca` as the qdevice client's does.
pub fn node_db(db: &Path, ca: &Path) -> PathBuf {
    std::fs::create_dir_all(db).unwrap();
    nss(db, "certutil", &["-N", "--empty-password"]);
    let ca = ca.to_str().unwrap();
    nss(
        db,
        "certutil",
        &["-A", "-n", "QNet CA", "-t", "CT,c,c", "-i", ca],
    );
    db.to_path_buf()
}
