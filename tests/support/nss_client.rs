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

/// Debian's node-side certificate tool (package corosync-qdevice).
pub const NODE_TOOL: &str = "/usr/sbin/corosync-qdevice-net-certutil";

/// Copies a script with `/etc/corosync` rewritten to `prefix/etc/corosync`, so upstream's
/// tools run on a test's own directories.
pub fn rewrite_prefix(from: &Path, to: &Path, prefix: &Path) {
    let text = std::fs::read_to_string(from).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (install corosync-qnetd/corosync-qdevice)",
            from.display()
        )
    });
    let text = text.replace(
        "/etc/corosync",
        &format!("{}/etc/corosync", prefix.display()),
    );
    std::fs::write(to, text).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A qdevice node rooted at `prefix`: its own copy of corosync-qdevice-net-certutil and its
/// NSS database below `prefix/etc/corosync`.
pub struct Node {
    pub tool: PathBuf,
    pub db: PathBuf,
    pub prefix: PathBuf,
}

impl Node {
    /// Node `name` below `root` (`root/<name>`, its tool at `root/<name>-certutil`).
    pub fn new(root: &Path, name: &str) -> Node {
        let prefix = root.join(name);
        std::fs::create_dir_all(prefix.join("etc/corosync/qdevice/net")).unwrap();
        let tool = root.join(format!("{name}-certutil"));
        rewrite_prefix(Path::new(NODE_TOOL), &tool, &prefix);
        Node {
            tool,
            db: prefix.join("etc/corosync/qdevice/net/nssdb"),
            prefix,
        }
    }

    pub fn certutil(&self, args: &[&str]) -> std::process::Output {
        Command::new(&self.tool).args(args).output().unwrap()
    }

    pub fn nss(&self, prog: &str, args: &[&str]) -> String {
        nss(&self.db, prog, args)
    }

    /// The node's NSS database holds the CA (trusted CT,c,c) and `Cluster Cert` with its key,
    /// and NSS validates the chain for an SSL client.
    pub fn assert_enrolled(&self) {
        let list = self.nss("certutil", &["-L"]);
        let has = |nick: &str, trust: &str| {
            list.lines()
                .any(|l| l.starts_with(nick) && l.split_whitespace().last() == Some(trust))
        };
        assert!(has("QNet CA", "CT,c,c"), "{list}");
        assert!(has("Cluster Cert", "u,u,u"), "{list}");
        let keys = self.nss("certutil", &["-K"]);
        assert!(keys.contains("Cluster Cert"), "{keys}");
        let valid = self.nss("certutil", &["-V", "-n", "Cluster Cert", "-u", "C"]);
        assert!(valid.contains("certificate is valid"), "{valid}");
    }
}
