//! `qnetd install`: creates the three upstream names, says so, is harmless to re-run, refuses
//! to clobber a foreign file without --force, and the links really dispatch by argv[0].

use crate::support::ops as ops_common;

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
            out.contains(&format!("install: link {d}/{name} to ")),
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
    assert!(again.contains("install: nothing to do"), "{again}");
    assert!(!again.contains("install: link"), "{again}");

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
    assert!(String::from_utf8_lossy(&out).contains(&format!(
        "replacing {d}/corosync-qnetd: it is a 15-byte file"
    )));
    assert_eq!(
        std::fs::canonicalize(&foreign).unwrap(),
        std::fs::canonicalize(qnetd()).unwrap()
    );
}

// ---- the OpenWrt install, in a BusyBox-only root ------------------------------------------

use super::router::Router;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const REPO_INIT: &str = include_str!("../../init.d/qnetd");
const REPO_UCI: &str = include_str!("../../init.d/qnetd.config");

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn openwrt_install_dry_run_install_again_update_uninstall() {
    let r = Router::new("full", true);

    // --dry-run: every step printed, nothing changed.
    let before = r.state();
    let plan = r.ok(&["/tmp/qnetd", "install", "--dry-run", "--firewall"]);
    for want in [
        "install: would copy /tmp/qnetd to /usr/sbin/qnetd",
        "install: would link /usr/sbin/corosync-qnetd-certutil to /usr/sbin/qnetd",
        "install: would link /usr/libexec/sftp-server to /usr/sbin/qnetd",
        "install: would write /etc/init.d/qnetd (procd script)",
        "install: would write /etc/config/qnetd (UCI defaults)",
        "install: would write /lib/upgrade/keep.d/qnetd",
        "install: would create user qnetd (uid 5403) and group qnetd (gid 5403): the daemon runs as it",
        "install: would record what install makes in /etc/qnetd/installed",
        "install: would add firewall rule firewall.qnetd: accept TCP 5403 from zone lan",
        "install: would run /etc/init.d/qnetd enable",
        "install: would run /etc/init.d/qnetd start",
        "install: would check that the service answers on /var/run/corosync-qnetd/corosync-qnetd.sock",
    ] {
        assert!(plan.contains(want), "missing {want:?} in:\n{plan}");
    }
    assert_eq!(r.state(), before, "--dry-run changed the root");

    // The install itself.
    let out = r.ok(&["/tmp/qnetd", "install", "--firewall"]);
    assert!(!out.contains("FAILED"), "{out}");
    let bin = fs::read(r.root.file("/tmp/qnetd")).unwrap();
    assert_eq!(fs::read(r.root.file("/usr/sbin/qnetd")).unwrap(), bin);
    assert_eq!(r.mode("/usr/sbin/qnetd"), 0o755);
    assert_eq!(r.read("/etc/init.d/qnetd"), REPO_INIT);
    assert_eq!(r.mode("/etc/init.d/qnetd"), 0o755);
    assert_eq!(r.read("/etc/config/qnetd"), REPO_UCI);
    assert_eq!(r.mode("/etc/config/qnetd"), 0o644);
    for name in [
        "corosync-qnetd",
        "corosync-qnetd-certutil",
        "corosync-qnetd-tool",
    ] {
        let link = fs::read_link(r.root.file(&format!("/usr/sbin/{name}"))).unwrap();
        assert_eq!(link, Path::new("qnetd"), "{name}");
    }
    assert_eq!(
        fs::read_link(r.root.file("/usr/libexec/sftp-server")).unwrap(),
        Path::new("/usr/sbin/qnetd")
    );
    let keep = r.read("/lib/upgrade/keep.d/qnetd");
    for want in [
        "/usr/sbin/qnetd",
        "/usr/sbin/corosync-qnetd",
        "/usr/sbin/corosync-qnetd-certutil",
        "/usr/sbin/corosync-qnetd-tool",
        "/usr/libexec/sftp-server",
        "/etc/init.d/qnetd",
        "/etc/rc.d/S99qnetd",
        "/etc/config/qnetd",
        "/etc/corosync/qnetd/nssdb/",
    ] {
        assert!(
            keep.lines().any(|l| l == want),
            "{want} not in keep.d:\n{keep}"
        );
    }
    assert!(r.root.file("/etc/rc.d/S99qnetd").exists(), "not enabled");
    let rc = r.read("/tmp/rc.log");
    assert!(
        rc.contains("started qnetd pid ")
            && rc.contains(": /usr/sbin/qnetd run --port 5403 --tls required --store /etc/corosync/qnetd/nssdb --wait-store"),
        "{rc}"
    );
    r.wait_daemon();
    assert_least_privilege(&r);
    let firewall = r.read("/etc/config/firewall.committed");
    for want in [
        "firewall.qnetd=rule",
        "firewall.qnetd.src=lan",
        "firewall.qnetd.proto=tcp",
        "firewall.qnetd.dest_port=5403",
        "firewall.qnetd.target=ACCEPT",
    ] {
        assert!(firewall.lines().any(|l| l == want), "{want}:\n{firewall}");
    }
    assert!(rc.contains("firewall reload"), "{rc}");
    // The names resolve on an ssh session's PATH.
    let found = r.ok(&["sh", "-c", "command -v corosync-qnetd-certutil"]);
    assert_eq!(found.trim(), "/usr/sbin/corosync-qnetd-certutil");

    // Again: nothing to do, nothing changed, the daemon not restarted.
    let pid = r.daemon_pid().expect("pid");
    let before = r.state();
    let again = r.ok(&["/tmp/qnetd", "install", "--firewall"]);
    assert!(again.contains("install: nothing to do"), "{again}");
    assert_eq!(r.state(), before);
    assert_eq!(r.daemon_pid(), Some(pid));
    let again = r.ok(&["/usr/sbin/qnetd", "install"]);
    assert!(again.contains("install: nothing to do"), "{again}");

    // --firewall=ZONE changes only the rule; the WAN with a warning.
    let (wan, warn, code) = r.sh(&["/usr/sbin/qnetd", "install", "--firewall=wan"]);
    assert_eq!(code, 0, "{wan}{warn}");
    assert!(
        warn.contains("warning: --firewall=wan opens TCP 5403 to the internet"),
        "{warn}"
    );
    assert!(
        wan.contains("add firewall rule firewall.qnetd: accept TCP 5403 from zone wan"),
        "{wan}"
    );
    assert!(!wan.contains("restart"), "{wan}");
    assert!(r
        .read("/etc/config/firewall.committed")
        .contains("firewall.qnetd.src=wan"));

    // An older script of ours is updated and the service restarted with it.
    fs::write(
        r.root.file("/etc/init.d/qnetd"),
        REPO_INIT.replace("STOP=10", "STOP=10\n# older"),
    )
    .unwrap();
    let upd = r.ok(&["/usr/sbin/qnetd", "install"]);
    assert!(
        upd.contains("write /etc/init.d/qnetd (procd script, updated): done"),
        "{upd}"
    );
    assert!(upd.contains("run /etc/init.d/qnetd restart: done"), "{upd}");
    assert_eq!(r.read("/etc/init.d/qnetd"), REPO_INIT);
    assert!(!alive(pid), "the old daemon still runs after the restart");
    r.wait_daemon();

    // A foreign init script is refused without --force and kept.
    fs::write(
        r.root.file("/etc/init.d/qnetd"),
        "#!/bin/sh\necho foreign\n",
    )
    .unwrap();
    let (_, err, code) = r.sh(&["/usr/sbin/qnetd", "install"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("/etc/init.d/qnetd exists and was not written by qnetd"),
        "{err}"
    );
    assert_eq!(r.read("/etc/init.d/qnetd"), "#!/bin/sh\necho foreign\n");
    let forced = r.ok(&["/usr/sbin/qnetd", "install", "--force"]);
    assert!(forced.contains("replacing a foreign one"), "{forced}");
    assert_eq!(r.read("/etc/init.d/qnetd"), REPO_INIT);
    r.wait_daemon();

    // uninstall: stopped, disabled, everything install made is gone; config and store stay.
    let pid = r.daemon_pid().expect("pid");
    let un = r.ok(&["/usr/sbin/qnetd", "uninstall"]);
    assert!(!un.contains("FAILED"), "{un}");
    assert!(!alive(pid), "daemon still running after uninstall");
    for gone in [
        "/usr/sbin/qnetd",
        "/usr/sbin/corosync-qnetd",
        "/usr/sbin/corosync-qnetd-certutil",
        "/usr/sbin/corosync-qnetd-tool",
        "/usr/libexec/sftp-server",
        "/etc/init.d/qnetd",
        "/etc/rc.d/S99qnetd",
        "/lib/upgrade/keep.d/qnetd",
    ] {
        assert!(
            fs::symlink_metadata(r.root.file(gone)).is_err(),
            "{gone} left:\n{un}"
        );
    }
    assert!(!r
        .read("/etc/config/firewall.committed")
        .contains("firewall.qnetd"));
    assert_eq!(r.read("/etc/config/qnetd"), REPO_UCI);
    assert!(r
        .root
        .file("/etc/corosync/qnetd/nssdb/qnetd-cacert.crt")
        .is_file());
    assert!(
        un.contains("kept /etc/config/qnetd, the certificate store")
            && un.contains("run `/tmp/qnetd uninstall --purge`"),
        "{un}"
    );

    assert!(
        r.read("/etc/passwd").contains("\nqnetd:x:5403:5403:"),
        "user removed without --purge"
    );

    // Install again from /tmp, then uninstall --purge takes the config, the store, the user
    // and the directories install (or the service's first start) made.
    r.ok(&["/tmp/qnetd", "install"]);
    r.wait_daemon();
    let un = r.ok(&["/usr/sbin/qnetd", "uninstall", "--purge"]);
    assert!(
        un.contains("remove user and group qnetd (--purge; install made it): done"),
        "{un}"
    );
    for gone in [
        "/etc/config/qnetd",
        "/etc/corosync",
        "/usr/libexec",
        "/etc/qnetd",
    ] {
        assert!(!r.root.file(gone).exists(), "{gone} left:\n{un}");
    }
    for file in ["/etc/passwd", "/etc/group", "/etc/shadow"] {
        assert!(!r.read(file).contains("qnetd"), "{file}:\n{}", r.read(file));
    }
    assert!(r.read("/etc/passwd").starts_with("root:x:0:0:"));
    let un = r.ok(&["/tmp/qnetd", "uninstall"]);
    assert!(un.contains("uninstall: nothing to do"), "{un}");
}

/// The daemon the init script started runs as user qnetd with no_new_privs, the store it
/// made is the group's, and root's corosync-qnetd-certutil (pvecm's sequence) still signs
/// into it, its files readable by the daemon after a restart.
fn assert_least_privilege(r: &Router) {
    for (file, line) in [
        (
            "/etc/passwd",
            "qnetd:x:5403:5403:qnetd:/var/run/qnetd:/bin/false",
        ),
        ("/etc/group", "qnetd:x:5403:"),
        ("/etc/shadow", "qnetd:*:0:0:99999:7:::"),
    ] {
        assert!(
            r.read(file).lines().any(|l| l == line),
            "{file}:\n{}",
            r.read(file)
        );
    }
    let (uid, gid, nnp) = r.daemon_credentials();
    assert_eq!(uid, "5403 5403 5403 5403", "daemon's Uid");
    assert_eq!(gid, "5403 5403 5403 5403", "daemon's Gid");
    // Set by the daemon itself: the stand-in, like procd outside ujail, does not.
    assert_eq!(nnp, "1", "daemon's NoNewPrivs");
    // No capability at all (what a jail's capability set would restrict): none to drop.
    for cap in r.daemon_status_fields(&["CapPrm:", "CapEff:", "CapAmb:"]) {
        assert_eq!(cap, "0000000000000000", "the daemon holds capabilities");
    }
    assert_eq!(r.owner("/var/run/corosync-qnetd"), (5403, 5403));
    let store = "/etc/corosync/qnetd/nssdb";
    let deadline = Instant::now() + Duration::from_secs(60);
    while !r.root.file(&format!("{store}/qnetd-server.crt")).exists() {
        assert!(Instant::now() < deadline, "the daemon made no store");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_store_model(r, store, 5403);
    fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/nss-certutil-3.0.3/qdevice-net-node.crq"),
        r.root.file("/tmp/qdevice-net-node.crq"),
    )
    .unwrap();
    let signed = r.ok(&[
        "corosync-qnetd-certutil",
        "-s",
        "-c",
        "/tmp/qdevice-net-node.crq",
        "-n",
        "mycluster",
    ]);
    assert!(signed.contains("Certificate stored"), "{signed}");
    let cert = format!("{store}/cluster-mycluster.crt");
    assert_eq!(
        r.owner(&cert),
        (0, 5403),
        "root's new file takes the store's group"
    );
    assert_eq!(r.mode(&cert), 0o640, "group-readable, not group-writable");
    r.ok(&["/etc/init.d/qnetd", "restart"]);
    r.wait_daemon();
    assert_eq!(r.daemon_credentials().0, "5403 5403 5403 5403");
}

#[test]
fn a_store_made_by_root_before_install_is_given_to_the_daemons_group() {
    let r = Router::new("rootstore", true);
    r.ok(&["/tmp/qnetd", "cert", "init"]);
    let store = "/etc/corosync/qnetd/nssdb";
    assert_eq!(r.owner(&format!("{store}/qnetd-server.key")), (0, 0));
    let out = r.ok(&["/tmp/qnetd", "install"]);
    assert!(
        out.contains(
            "give the certificate store /etc/corosync/qnetd/nssdb to the daemon's group (gid 5403)"
        ),
        "{out}"
    );
    r.wait_daemon();
    assert_eq!(r.daemon_credentials().0, "5403 5403 5403 5403");
    assert_eq!(r.owner(store), (0, 5403));
    assert_eq!(r.owner(&format!("{store}/qnetd-server.key")), (0, 5403));
    assert_eq!(r.mode(&format!("{store}/qnetd-server.key")), 0o640);
    // The daemon never reads the CA key: it stays root's alone.
    assert_eq!(r.owner(&format!("{store}/qnetd-ca.key")), (0, 0));
    let again = r.ok(&["/usr/sbin/qnetd", "install"]);
    assert!(again.contains("install: nothing to do"), "{again}");
}

/// After install, the store removed and made anew by root (`qnetd cert init`, or pvecm's
/// `corosync-qnetd-certutil -i`) is the daemon's group's, so the daemon, running as `qnetd`,
/// still starts on it. Before, the new store was root:root and the daemon could not read it.
#[test]
fn a_store_root_makes_anew_after_install_is_the_daemons_to_read() {
    let r = Router::new("renew", true);
    r.ok(&["/tmp/qnetd", "install"]);
    r.wait_daemon();
    let store = "/etc/corosync/qnetd/nssdb";
    for init in [
        &["qnetd", "cert", "init"][..],
        &["corosync-qnetd-certutil", "-i"],
    ] {
        r.ok(&["/etc/init.d/qnetd", "stop"]);
        r.ok(&["rm", "-rf", store]);
        let out = r.ok(init);
        assert!(
            out.contains(&format!("created {store} for group qnetd (gid 5403)")),
            "{init:?}: {out}"
        );
        assert_store_model(&r, store, 5403);
        let key = format!("{store}/qnetd-server.key");
        assert_eq!(r.owner(&key), (0, 5403), "{init:?}");
        assert_eq!(r.mode(&key), 0o640, "{init:?}");
        r.ok(&["/etc/init.d/qnetd", "start"]);
        r.wait_daemon();
        assert_eq!(r.daemon_credentials().0, "5403 5403 5403 5403");
    }
    // Re-created in place (--force): the new CA key is root's alone too.
    r.ok(&["qnetd", "cert", "init", "--force"]);
    assert_store_model(&r, store, 5403);
    let doctor = r.ok(&["qnetd", "doctor"]);
    assert!(
        doctor.contains("user qnetd (uid 5403) reads every file it needs"),
        "{doctor}"
    );
    // A key root takes back (root:root 0600): doctor names it, and says how to mend it.
    let key = format!("{store}/qnetd-server.key");
    r.ok(&["chgrp", "root", &key]);
    let (out, err, code) = r.sh(&["qnetd", "doctor"]);
    assert_ne!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!(
            "user qnetd, whom the service runs the daemon as, cannot read {key}"
        )),
        "{out}{err}"
    );
    r.ok(&["qnetd", "install"]);
    let doctor = r.ok(&["qnetd", "doctor"]);
    assert!(doctor.contains("reads every file it needs"), "{doctor}");
    // Anywhere but the configured store, root's new directory stays root's.
    r.ok(&["qnetd", "cert", "--dir", "/root/other", "init"]);
    assert_eq!(r.owner("/root/other"), (0, 0));
}

#[test]
fn openwrt_install_never_replaces_a_real_sftp_server_or_the_users_config() {
    let r = Router::new("keep", true);
    let real = "#!/bin/sh\n# openssh-sftp-server\n";
    fs::create_dir_all(r.root.file("/usr/libexec")).unwrap();
    fs::write(r.root.file("/usr/libexec/sftp-server"), real).unwrap();
    fs::set_permissions(
        r.root.file("/usr/libexec/sftp-server"),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    fs::create_dir_all(r.root.file("/etc/config")).unwrap();
    let mine = "config qnetd 'main'\n\toption port '15403'\n\toption store '/srv/qnetd'\n";
    fs::write(r.root.file("/etc/config/qnetd"), mine).unwrap();

    for args in [
        &["/tmp/qnetd", "install", "--firewall"][..],
        &["/usr/sbin/qnetd", "install", "--force"],
    ] {
        let out = r.ok(args);
        assert!(
            out.contains("kept /usr/libexec/sftp-server: a real sftp-server is there"),
            "{out}"
        );
        assert!(
            out.contains("kept /etc/config/qnetd: it is your configuration"),
            "{out}"
        );
        assert_eq!(r.read("/usr/libexec/sftp-server"), real);
        assert_eq!(r.read("/etc/config/qnetd"), mine);
    }
    let keep = r.read("/lib/upgrade/keep.d/qnetd");
    assert!(keep.lines().any(|l| l == "/srv/qnetd/"), "{keep}");
    assert!(!keep.contains("sftp-server"), "{keep}");
    assert!(r
        .read("/etc/config/firewall.committed")
        .contains("firewall.qnetd.dest_port=15403"));
    assert!(r
        .read("/tmp/rc.log")
        .contains("--port 15403 --tls required --store /srv/qnetd"));
    r.ok(&["/usr/sbin/qnetd", "uninstall"]);
    assert_eq!(
        r.read("/usr/libexec/sftp-server"),
        real,
        "uninstall removed a real sftp-server"
    );
}

#[test]
fn install_on_a_host_that_is_not_openwrt_makes_the_links_only() {
    let r = Router::new("plain", false);
    let before = r.state();
    let out = r.ok(&["/tmp/qnetd", "install", "--firewall"]);
    assert!(
        out.contains("this host is not OpenWrt (no /etc/openwrt_release, no /etc/rc.common)"),
        "{out}"
    );
    assert!(
        out.contains("skipped the copy to /usr/sbin/qnetd, the init script"),
        "{out}"
    );
    let mut after = r.state();
    after.retain(|e| !before.contains(e));
    assert_eq!(
        after,
        vec![
            "usr/sbin/corosync-qnetd -> /tmp/qnetd".to_string(),
            "usr/sbin/corosync-qnetd-certutil -> /tmp/qnetd".to_string(),
            "usr/sbin/corosync-qnetd-tool -> /tmp/qnetd".to_string(),
        ]
    );
    let (out, _, code) = r.sh(&["corosync-qnetd-tool", "-h"]);
    assert_eq!(code, 1);
    assert!(out.starts_with("usage: corosync-qnetd-tool"), "{out}");
    let un = r.ok(&["/tmp/qnetd", "uninstall"]);
    assert!(un.contains("removed only the links"), "{un}");
    assert_eq!(r.state(), before);
}

/// Whether the daemon's log says TLS is set up: at once when the store was complete at its
/// start, else ("waiting for root to create it") once the store is there.
fn tls_ready(log: &str) -> bool {
    log.contains("listening on")
        && (!log.contains("waiting for root to create it") || log.contains("TLS is available"))
}

/// Waits (bounded) until no `cert init` runs on the store: the service's first start runs it
/// in the background, and its last step brings the files to the model.
fn wait_for_store_init(r: &Router, store: &str) {
    let root = fs::canonicalize(&r.root.path).unwrap();
    // A process of this root (its /proc root link) running `qnetd cert ... init`.
    let init_running = || {
        fs::read_dir("/proc").unwrap().flatten().any(|p| {
            fs::read_link(p.path().join("root")).ok().as_deref() == Some(root.as_path())
                && fs::read(p.path().join("cmdline"))
                    .is_ok_and(|c| c.split(|&b| b == 0).any(|w| w == b"cert"))
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while init_running() || !r.root.file(&format!("{store}/qnetd-cacert.crt")).exists() {
        assert!(Instant::now() < deadline, "cert init still running");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The store follows the ownership model (docs/openwrt.md): every entry root's, the store
/// 0750 and its files 0640 in the daemon's group, the CA key root:root 0600; and, tried as
/// the daemon's account itself, the CA key cannot be read and no store file can be written,
/// added, removed or replaced.
fn assert_store_model(r: &Router, store: &str, gid: u32) {
    wait_for_store_init(r, store);
    assert_eq!(r.owner(store), (0, gid), "{store}");
    assert_eq!(r.mode(store), 0o750, "{store}");
    let mut names: Vec<String> = fs::read_dir(r.root.file(store))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.iter().any(|n| n == "qnetd-ca.key"), "{names:?}");
    for name in &names {
        let path = format!("{store}/{name}");
        let is_dir = r.root.file(&path).is_dir();
        let want = if is_dir {
            // Backups of an earlier store (old CA keys): root's alone.
            ((0, 0), 0o700)
        } else if name == "qnetd-ca.key" || name.starts_with('.') {
            ((0, 0), 0o600)
        } else {
            ((0, gid), 0o640)
        };
        assert_eq!((r.owner(&path), r.mode(&path)), want, "{path}");
        let as_daemon = |cmd: &str| r.sh(&["su", "-s", "/bin/sh", "-c", cmd, "qnetd"]).2;
        if is_dir {
            assert_ne!(as_daemon(&format!("ls '{path}'")), 0, "daemon lists {path}");
            continue;
        }
        if name == "qnetd-ca.key" {
            assert_ne!(
                as_daemon(&format!("cat '{path}'")),
                0,
                "daemon reads {path}"
            );
        } else if !name.starts_with('.') {
            // The same account reads what it must: the refusals here are not a failing su.
            assert_eq!(
                as_daemon(&format!("cat '{path}' >/dev/null")),
                0,
                "daemon cannot read {path}"
            );
        }
        assert_ne!(
            as_daemon(&format!("echo x >> '{path}'")),
            0,
            "daemon writes {path}"
        );
        assert_ne!(
            as_daemon(&format!("rm -f '{path}' && ! test -e '{path}'")),
            0,
            "daemon removes {path}"
        );
    }
    let (_, _, code) = r.sh(&[
        "su",
        "-s",
        "/bin/sh",
        "-c",
        &format!("touch '{store}/new'"),
        "qnetd",
    ]);
    assert_ne!(code, 0, "the daemon adds a file to the store");
}

/// Item: the daemon's account could write the store (an older install made it 0770 and
/// the daemon's own), and swapped a file for a symlink to /etc/shadow (and hard-linked
/// another): install changes neither target, says it left them alone, and brings the rest
/// of the store to the model. Deterministic: the links are in place before install runs.
#[test]
fn install_never_follows_a_link_the_daemon_planted_in_the_store() {
    let r = Router::new("symlink", true);
    let store = "/etc/corosync/qnetd/nssdb";
    r.ok(&["/tmp/qnetd", "cert", "init"]);
    // The older install's state: user qnetd, the store and its files the daemon's.
    fs::write(
        r.root.file("/etc/passwd"),
        r.read("/etc/passwd") + "qnetd:x:5403:5403:qnetd:/var/run/qnetd:/bin/false\n",
    )
    .unwrap();
    fs::write(
        r.root.file("/etc/group"),
        r.read("/etc/group") + "qnetd:x:5403:\n",
    )
    .unwrap();
    r.ok(&["chown", "-R", "5403:5403", store]);
    r.ok(&["chmod", "0770", store]);
    let before = |p: &str| (r.owner(p), r.mode(p));
    let shadow = before("/etc/shadow");
    let passwd = before("/etc/passwd");
    r.ok(&["rm", &format!("{store}/qnetd-cacert.crt")]);
    r.ok(&[
        "ln",
        "-s",
        "/etc/shadow",
        &format!("{store}/qnetd-cacert.crt"),
    ]);
    r.ok(&["ln", "/etc/passwd", &format!("{store}/extra.crt")]);
    r.ok(&["mkfifo", &format!("{store}/fifo")]);
    let (out, err, _) = r.sh(&["/tmp/qnetd", "install"]);
    assert_eq!(before("/etc/shadow"), shadow, "{out}{err}");
    assert_eq!(before("/etc/passwd"), passwd, "{out}{err}");
    for why in [
        "qnetd-cacert.crt: a symlink: not followed, left alone",
        "extra.crt: has 2 hard links",
        "fifo: not a regular file",
    ] {
        assert!(err.contains(why), "{why}:\n{out}{err}");
    }
    assert_eq!(r.owner(store), (0, 5403));
    assert_eq!(r.mode(store), 0o750);
    assert_eq!(r.owner(&format!("{store}/qnetd-ca.key")), (0, 0));
    assert_eq!(r.mode(&format!("{store}/qnetd-ca.key")), 0o600);
    assert_eq!(r.owner(&format!("{store}/qnetd-server.key")), (0, 5403));
    assert_eq!(r.mode(&format!("{store}/qnetd-server.key")), 0o640);
}

/// A fresh install: the service's first start creates the store as root (never the daemon
/// as its own user), and every file of it follows the ownership model.
#[test]
fn a_fresh_openwrt_install_makes_a_store_root_owns() {
    let r = Router::new("fresh", true);
    r.ok(&["/tmp/qnetd", "install"]);
    r.wait_daemon();
    let store = "/etc/corosync/qnetd/nssdb";
    let deadline = Instant::now() + Duration::from_secs(30);
    while !r.root.file(&format!("{store}/qnetd-cacert.crt")).exists() {
        assert!(Instant::now() < deadline, "no store was made");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_store_model(&r, store, 5403);
    assert_eq!(r.daemon_credentials().0, "5403 5403 5403 5403");
    // The daemon serves TLS from it: its log says so.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !tls_ready(&r.read("/tmp/qnetd.log")) {
        assert!(Instant::now() < deadline, "{}", r.read("/tmp/qnetd.log"));
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `option store '/mnt/usb stick/qnetd'` is one path: install leaves /mnt/usb alone, keep.d
/// names the real store, and --purge removes the store the service made, never /mnt/usb.
#[test]
fn a_store_path_with_a_space_is_one_path() {
    let r = Router::new("space", true);
    fs::create_dir_all(r.root.file("/mnt/usb")).unwrap();
    fs::write(r.root.file("/mnt/usb/photo.jpg"), b"mine").unwrap();
    fs::create_dir_all(r.root.file("/etc/config")).unwrap();
    fs::write(
        r.root.file("/etc/config/qnetd"),
        REPO_UCI.replace(
            "option store '/etc/corosync/qnetd/nssdb'",
            "option store '/mnt/usb stick/qnetd'",
        ),
    )
    .unwrap();
    r.ok(&["/tmp/qnetd", "install"]);
    r.wait_daemon();
    assert_eq!(r.owner("/mnt/usb"), (0, 0));
    assert_eq!(r.mode("/mnt/usb"), 0o755);
    let keep = r.read("/lib/upgrade/keep.d/qnetd");
    assert!(keep.lines().any(|l| l == "/mnt/usb stick/qnetd/"), "{keep}");
    assert!(!keep.lines().any(|l| l == "/mnt/usb/"), "{keep}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !r
        .root
        .file("/mnt/usb stick/qnetd/qnetd-cacert.crt")
        .exists()
    {
        assert!(Instant::now() < deadline, "no store");
        std::thread::sleep(Duration::from_millis(100));
    }
    let un = r.ok(&["/usr/sbin/qnetd", "uninstall", "--purge"]);
    assert_eq!(r.read("/mnt/usb/photo.jpg"), "mine", "{un}");
    assert!(!r.root.file("/mnt/usb stick").exists(), "{un}");
}

/// A user qnetd that existed before install (primary group `users`, and a group qnetd of
/// another gid) is used as procd uses it: the store is given to its primary group and the
/// daemon serves; --purge keeps both, install did not make them. A malformed passwd line is
/// refused, not doubled.
#[test]
fn an_existing_account_is_used_as_procd_does_and_purge_keeps_it() {
    let r = Router::new("account", true);
    let passwd = r.read("/etc/passwd") + "qnetd:x:6000:100:qnetd:/var:/bin/false\n";
    let group = r.read("/etc/group") + "qnetd:x:777:\n";
    fs::write(r.root.file("/etc/passwd"), &passwd).unwrap();
    fs::write(r.root.file("/etc/group"), &group).unwrap();
    let out = r.ok(&["/tmp/qnetd", "install"]);
    r.wait_daemon();
    assert!(
        out.contains("using the existing user qnetd (uid 6000, primary group 100)"),
        "{out}"
    );
    assert_eq!(r.daemon_credentials().0, "6000 6000 6000 6000");
    assert_eq!(r.daemon_credentials().1, "100 100 100 100");
    let store = "/etc/corosync/qnetd/nssdb";
    let deadline = Instant::now() + Duration::from_secs(30);
    while !tls_ready(&r.read("/tmp/qnetd.log")) {
        assert!(Instant::now() < deadline, "{}", r.read("/tmp/qnetd.log"));
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_store_model(&r, store, 100);
    let un = r.ok(&["/usr/sbin/qnetd", "uninstall", "--purge"]);
    assert!(
        un.contains("kept user and group qnetd: install did not create it"),
        "{un}"
    );
    assert_eq!(r.read("/etc/passwd"), passwd);
    assert_eq!(r.read("/etc/group"), group);

    let r = Router::new("badline", true);
    let passwd = r.read("/etc/passwd") + "qnetd:x:abc:xyz::/:/bin/false\n";
    fs::write(r.root.file("/etc/passwd"), &passwd).unwrap();
    let (out, err, code) = r.sh(&["/tmp/qnetd", "install"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("malformed line for user qnetd"), "{err}");
    assert_eq!(r.read("/etc/passwd"), passwd);
}

/// A firewall that is not running: install warns, keeps the rule, and still enables and
/// starts the service; uninstall --purge removes everything all the same.
#[test]
fn a_firewall_that_is_not_running_is_a_warning() {
    let r = Router::new("nofw", true);
    fs::write(r.root.file("/tmp/fw4-not-loaded"), "").unwrap();
    let (out, err, code) = r.sh(&["/tmp/qnetd", "install", "--firewall"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains("warning: the rule is saved in /etc/config/firewall"),
        "{err}"
    );
    assert!(r
        .read("/etc/config/firewall.committed")
        .contains("firewall.qnetd.dest_port=5403"));
    assert!(r.root.file("/etc/rc.d/S99qnetd").exists(), "{out}");
    r.wait_daemon();
    let (out, err, code) = r.sh(&["/usr/sbin/qnetd", "uninstall", "--purge"]);
    assert_eq!(code, 0, "{out}{err}");
    for gone in [
        "/usr/sbin/qnetd",
        "/etc/init.d/qnetd",
        "/etc/config/qnetd",
        "/etc/rc.d/S99qnetd",
    ] {
        assert!(
            fs::symlink_metadata(r.root.file(gone)).is_err(),
            "{gone}: {out}{err}"
        );
    }
    assert!(!r.read("/etc/passwd").contains("qnetd"));
}

/// A daemon that dies at once makes install fail, with its last log lines; an older binary
/// does not replace a newer one without --force.
#[test]
fn install_tells_the_truth_about_the_service_and_versions() {
    let r = Router::new("dies", true);
    fs::create_dir_all(r.root.file("/etc/config")).unwrap();
    fs::write(
        r.root.file("/etc/config/qnetd"),
        REPO_UCI.replace("option tls 'required'", "option tls 'bogus'"),
    )
    .unwrap();
    let (out, err, code) = r.sh(&["/tmp/qnetd", "install"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("did not answer on /var/run/corosync-qnetd/corosync-qnetd.sock within 5 s"),
        "{err}"
    );
    assert!(
        err.contains("qnetd: ") && err.contains("bogus"),
        "no log lines:\n{err}"
    );

    let r = Router::new("newer", true);
    r.ok(&["mkdir", "-p", "/usr/sbin"]);
    let newer = "#!/bin/sh\necho 'qnetd 99.0.0 (x86_64-unknown-linux-musl, commit 0)'\n";
    fs::write(r.root.file("/usr/sbin/qnetd"), newer).unwrap();
    fs::set_permissions(
        r.root.file("/usr/sbin/qnetd"),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let (out, err, code) = r.sh(&["/tmp/qnetd", "install"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("/usr/sbin/qnetd is version 99.0.0, newer than this one"),
        "{err}"
    );
    assert_eq!(r.read("/usr/sbin/qnetd"), newer);
    let out = r.ok(&["/tmp/qnetd", "install", "--force"]);
    assert!(out.contains("with the older"), "{out}");
    r.wait_daemon();
}

/// `/etc/init.d/qnetd reload` under a stand-in that does what procd and rc.common do: with
/// nothing changed the same daemon re-reads the revoked certificates (SIGHUP); a new port
/// restarts it on that port. (With procd's reload_signal and no reload_service, the first
/// sent nothing and the second only a SIGHUP: the daemon kept the old port.) `running` asks
/// procd, not rc.common's default yes.
#[test]
fn reload_rereads_revocations_and_restarts_only_on_a_change() {
    let r = Router::new("reload", true);
    r.ok(&["/tmp/qnetd", "install"]);
    r.wait_daemon();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !tls_ready(&r.read("/tmp/qnetd.log")) {
        assert!(Instant::now() < deadline, "{}", r.read("/tmp/qnetd.log"));
        std::thread::sleep(Duration::from_millis(100));
    }
    // The server certificate procd watches exists now: one restart takes it in.
    r.ok(&["/etc/init.d/qnetd", "restart"]);
    r.wait_daemon();
    let pid = r.daemon_pid().expect("pid");
    r.ok(&["/etc/init.d/qnetd", "reload"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !r.read("/tmp/qnetd.log").contains("received SIGHUP") {
        assert!(
            Instant::now() < deadline,
            "no SIGHUP:\n{}\n{}",
            r.read("/tmp/rc.log"),
            r.read("/tmp/qnetd.log")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(r.daemon_pid(), Some(pid));
    assert!(alive(pid), "an unchanged reload restarted the daemon");

    let uci = r
        .read("/etc/config/qnetd")
        .replace("option port '5403'", "option port '15403'");
    fs::write(r.root.file("/etc/config/qnetd"), uci).unwrap();
    r.ok(&["/etc/init.d/qnetd", "reload"]);
    assert!(!alive(pid), "the daemon kept running with the old port");
    assert!(r.read("/tmp/rc.log").contains("run --port 15403"));
    r.wait_daemon();

    r.ok(&["/etc/init.d/qnetd", "stop"]);
    let (_, _, code) = r.sh(&["/etc/init.d/qnetd", "running"]);
    assert_ne!(code, 0, "`running` says yes for a stopped service");
}

/// The service starts the daemon while root's `cert init` may still be making the store: a
/// store the daemon cannot read yet (here: root's 0700 directory, as a half-made store is for
/// a moment) is waited for, not a reason to exit (`cannot read the revoked certificates:
/// Permission denied` stopped it before); once it is readable, TLS starts.
#[test]
fn wait_store_waits_for_a_store_the_daemon_cannot_read_yet() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = TempDir::new("wait-unreadable");
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let run = tmp.path().join("run");
    fs::create_dir(&run).unwrap();
    fs::set_permissions(&run, fs::Permissions::from_mode(0o777)).unwrap();
    let store = tmp.path().join("store");
    fs::create_dir(&store).unwrap();
    fs::set_permissions(&store, fs::Permissions::from_mode(0o700)).unwrap();
    let log = tmp.path().join("daemon.log");
    let port = free_port().to_string();
    let mut child = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
            env!("CARGO_BIN_EXE_qnetd"),
            "run",
            "--listen",
            "127.0.0.1",
            "--port",
            &port,
            "--tls",
            "required",
            "--wait-store",
        ])
        .arg("--store")
        .arg(&store)
        .arg("--lock-file")
        .arg(run.join("q.pid"))
        .arg("--socket")
        .arg(run.join("q.sock"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(&log).unwrap())
        .spawn()
        .expect("setpriv");
    let read_log = || fs::read_to_string(&log).unwrap_or_default();
    let wait_log = |want: &str| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !read_log().contains(want) {
            assert!(Instant::now() < deadline, "no {want:?} in:\n{}", read_log());
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait_log("waiting for root to create it");
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(
        child.try_wait().unwrap(),
        None,
        "the daemon exited:\n{}",
        read_log()
    );
    let out = Command::new(env!("CARGO_BIN_EXE_qnetd"))
        .arg("cert")
        .arg("--dir")
        .arg(&store)
        .arg("init")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    // Readable by the daemon now (its own, here: keys stay 0600, which the daemon demands).
    Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(&store)
        .status()
        .unwrap();
    wait_log("TLS is available");
    let _ = child.kill();
    let _ = child.wait();
}
