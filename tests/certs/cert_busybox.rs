//! The whole certificate lifecycle in a chroot holding nothing but BusyBox (Debian
//! busybox-static, as on an OpenWrt router) and our static binary: proves the cert commands
//! need no other program (only `sh` is linked to BusyBox, so any spawned command would fail)
//! and no shared library.
//!
//! The static binary is `QNETD_STATIC_BIN` if set, else built here for x86_64-unknown-linux-musl
//! into this test's own target directory (the first run takes a few minutes).

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use crate::support::nss_client;
use crate::support::router as router_support;
use nss_client::{node_db, nss};
use router_support::{copy_exec, is_static_elf, static_binary};

// Real NSS outputs (corosync-qnetd 3.0.3 tools), copied from the team reference; see its README.
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/nss-certutil-3.0.3");
const BUSYBOX: &str = "/bin/busybox";
/// Group of /etc/corosync/qnetd in the chroot: every new file must take it (its owner, root).
const CFG_GID: u32 = 4322;

const SCRIPT: &str = r#"
set -e
# What pvecm runs over ssh, with upstream's default paths.
corosync-qnetd-certutil -i
if corosync-qnetd-certutil -i 2>/tmp/second-i.err; then echo "second -i must fail"; exit 1; fi
corosync-qnetd-certutil -s -c /tmp/qdevice-net-node.crq -n mycluster
# The native commands.
qnetd cert init > /tmp/init-again.out
qnetd cert bundle --cluster c2 --out /root/bundle > /tmp/bundle.out
qnetd cert list > /tmp/list.out
echo chroot-ok
"#;

#[test]
fn cert_lifecycle_in_a_busybox_only_chroot() {
    let binary = static_binary();
    assert!(
        is_static_elf(&binary),
        "{} is not statically linked",
        binary.display()
    );

    let root = std::env::temp_dir().join(format!("qnetd-chroot-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    for d in ["bin", "usr/sbin", "tmp", "root", "etc/corosync/qnetd"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    copy_exec(Path::new(BUSYBOX), &root.join("bin/busybox"));
    std::os::unix::fs::symlink("busybox", root.join("bin/sh")).unwrap();
    copy_exec(&binary, &root.join("usr/sbin/qnetd"));
    std::os::unix::fs::symlink("qnetd", root.join("usr/sbin/corosync-qnetd-certutil")).unwrap();
    std::fs::copy(
        format!("{FIXTURES}/qdevice-net-node.crq"),
        root.join("tmp/qdevice-net-node.crq"),
    )
    .unwrap();
    let cfg = root.join("etc/corosync/qnetd");
    // The config directory root's with the daemon's group, as Debian has it: its user would be
    // an account that could swap the store below it (root's tools refuse that, see
    // cert_trust::a_store_under_a_directory_another_account_can_write_is_refused).
    std::os::unix::fs::chown(&cfg, Some(0), Some(CFG_GID)).unwrap();

    let out = Command::new("chroot")
        .arg(&root)
        .args(["/bin/sh", "-c", SCRIPT])
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .output()
        .expect("chroot (run the tests as root)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && text.contains("chroot-ok"), "{text}");
    assert!(
        text.contains(
            "QNetd CA certificate is exported as /etc/corosync/qnetd/nssdb/qnetd-cacert.crt"
        ),
        "{text}"
    );
    assert!(
        text.contains("Certificate stored in /etc/corosync/qnetd/nssdb/cluster-mycluster.crt"),
        "{text}"
    );
    let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
    assert!(read("tmp/second-i.err").contains("already exists. Delete it to initialize new db"));
    assert!(read("tmp/init-again.out").contains("nothing changed"));
    let list = read("tmp/list.out");
    for name in ["QNet CA", "Qnetd Server", "mycluster", "c2"] {
        assert!(list.contains(name), "{list}");
    }

    // Files and their owners/modes by the ownership model (certtool::ownership): root's, with
    // the group of the config dir (upstream's `chown --reference` gave its user too); the
    // directory 0750, the CA key 0600, the rest 0640 (the CA export 0644).
    let db = cfg.join("nssdb");
    let meta = |p: &Path| std::fs::metadata(p).unwrap();
    assert_eq!(meta(&db).mode() & 0o7777, 0o750);
    assert_eq!((meta(&db).uid(), meta(&db).gid()), (0, CFG_GID));
    for (f, mode) in [
        ("qnetd-cacert.crt", 0o640),
        ("qnetd-ca.key", 0o600),
        ("qnetd-server.key", 0o640),
        ("qnetd-server.crt", 0o640),
        ("serial.txt", 0o640),
        ("cluster-mycluster.crt", 0o640),
        (".lock", 0o600),
    ] {
        let m = meta(&db.join(f));
        assert_eq!((m.uid(), m.mode() & 0o7777), (0, mode), "{f}");
        if f != ".lock" && f != "qnetd-ca.key" {
            assert_eq!(m.gid(), CFG_GID, "{f}");
        }
    }
    // The bundle's certificate is in the bundle only.
    assert!(!db.join("cluster-c2.crt").exists());
    assert_eq!(
        std::fs::read_to_string(db.join("serial.txt")).unwrap(),
        "104\n"
    );
    assert_eq!(
        std::fs::read(db.join("cluster-mycluster.crt")).unwrap()[0],
        0x30,
        "DER"
    );

    // The bundle made in the chroot imports with the real NSS tools outside it.
    let ca = root.join("root/bundle/qnetd-cacert.crt");
    let nssdb = node_db(&root.join("node-nssdb"), &ca);
    let p12 = root.join("root/bundle/qdevice-net-node.p12");
    nss(&nssdb, "pk12util", &["-i", p12.to_str().unwrap(), "-W", ""]);
    let verify = nss(&nssdb, "certutil", &["-V", "-n", "Cluster Cert", "-u", "C"]);
    assert!(verify.contains("certificate is valid"), "{verify}");

    let _ = std::fs::remove_dir_all(&root);
}
