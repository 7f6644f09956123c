//! Debian's layout, as its corosync-qnetd package sets it up: the store `root:coroqnetd`
//! (upstream's `corosync-qnetd-certutil -i -G`, files given the owner of /etc/corosync/qnetd by
//! `chown --reference`), the daemon run as `coroqnetd` by its systemd unit with `-s required`,
//! and pvecm's sequence run as root over ssh writing into the store while the daemon runs. A
//! user dropping our binary in for Debian's expects exactly that to work.
//!
//! The account is a numeric uid/gid with no passwd entry (setpriv needs none), so the test
//! changes nothing on the host. Runs as root.

use crate::support::ops as ops_common;

use ops_common::*;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// coroqnetd's ids here: high enough not to be anybody's on a build machine.
const UID: u32 = 64_123;
const GID: u32 = 64_123;

fn owner_mode(path: &Path) -> (u32, u32, u32) {
    let m = fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (m.uid(), m.gid(), m.mode() & 0o7777)
}

fn chown(path: &Path, uid: u32, gid: u32, mode: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

struct Layout {
    _tmp: TempDir,
    bin: PathBuf,
    store: PathBuf,
    run: PathBuf,
}

impl Layout {
    /// /etc/corosync/qnetd as Debian ships it (root:root 0755: upstream's script copies its
    /// owner to what it creates), the store root:coroqnetd 0750 (as Debian's postinst leaves
    /// it), /run/corosync-qnetd as the unit's RuntimeDirectory (coroqnetd, 0770), and our
    /// binary under the upstream names.
    fn new() -> Layout {
        let tmp = TempDir::new("debian-layout");
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let bin = tmp.path().join("bin");
        fs::create_dir_all(&bin).unwrap();
        for name in [
            "corosync-qnetd",
            "corosync-qnetd-certutil",
            "corosync-qnetd-tool",
        ] {
            ours_as(&bin, name);
        }
        let config = tmp.path().join("etc/corosync/qnetd");
        fs::create_dir_all(&config).unwrap();
        chown(&config, 0, 0, 0o755);
        let store = config.join("nssdb");
        fs::create_dir_all(&store).unwrap();
        chown(&store, 0, GID, 0o750);
        let run = tmp.path().join("run/corosync-qnetd");
        fs::create_dir_all(&run).unwrap();
        chown(&run, UID, GID, 0o770);
        Layout {
            store,
            _tmp: tmp,
            bin,
            run,
        }
    }

    /// A command as root, with the store moved by `QNETD_CERT_DIR` (upstream's is fixed).
    fn root(&self, name: &str, args: &[&str]) -> Output {
        Command::new(self.bin.join(name))
            .args(args)
            .env("QNETD_CERT_DIR", &self.store)
            .output()
            .unwrap()
    }

    /// The daemon as the unit runs it: as coroqnetd, in the foreground, TLS required.
    fn daemon(&self, port: u16) -> Daemon {
        let settings = format!(
            "nss_db_dir={},lock_file={},local_socket_file={}",
            self.store.display(),
            self.run.join("corosync-qnetd.pid").display(),
            self.socket().display()
        );
        let child = Command::new("setpriv")
            .args([
                &format!("--reuid={UID}"),
                &format!("--regid={GID}"),
                "--clear-groups",
                "--no-new-privs",
            ])
            .arg(self.bin.join("corosync-qnetd"))
            .args([
                "-f",
                "-s",
                "required",
                "-l",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-S",
            ])
            .arg(settings)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("setpriv (util-linux)");
        Daemon(child)
    }

    fn socket(&self) -> PathBuf {
        self.run.join("corosync-qnetd.sock")
    }

    fn file(&self, name: &str) -> PathBuf {
        self.store.join(name)
    }
}

struct Daemon(Child);

impl Daemon {
    fn uid(&self) -> String {
        let status = fs::read_to_string(format!("/proc/{}/status", self.0.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A node's key and certificate request, as corosync-qdevice-net-certutil -r makes them
/// (openssl here: the request is all the arbiter sees).
fn node_request(dir: &Path) -> (PathBuf, PathBuf) {
    let key = dir.join("node.key");
    let csr = dir.join("node.crq");
    let out = Command::new("openssl")
        .args([
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .arg("-keyout")
        .arg(&key)
        .args(["-subj", "/CN=mycluster", "-outform", "DER", "-out"])
        .arg(&csr)
        .output()
        .unwrap();
    assert!(out.status.success(), "openssl req: {}", output_text(&out));
    (key, csr)
}

#[test]
fn debian_layout_root_signs_while_the_daemon_runs_as_coroqnetd() {
    let l = Layout::new();

    // The package's first step: -i -G (no group write), as root, in the store directory
    // the package gave to coroqnetd: every file takes its group.
    let out = l.root("corosync-qnetd-certutil", &["-i", "-G"]);
    assert!(
        out.status.success(),
        "certutil -i -G: {}",
        output_text(&out)
    );
    assert_eq!(owner_mode(&l.store), (0, GID, 0o750), "store directory");
    // The ownership model: coroqnetd reads the server key, never the CA key.
    assert_eq!(owner_mode(&l.file("qnetd-server.key")), (0, GID, 0o640));
    assert_eq!(owner_mode(&l.file("qnetd-ca.key")), (0, 0, 0o600));
    for file in ["qnetd-server.crt", "serial.txt"] {
        assert_eq!(owner_mode(&l.file(file)), (0, GID, 0o640), "{file}");
    }
    assert_eq!(owner_mode(&l.file("qnetd-cacert.crt")).1, GID);

    // The daemon as coroqnetd reads that store and serves.
    let port = free_port();
    let daemon = l.daemon(port);
    wait_for_socket(&l.socket());
    assert_eq!(daemon.uid(), format!("{UID} {UID} {UID} {UID}"));
    let socket = l.socket();
    let status = l.root(
        "corosync-qnetd-tool",
        &["-s", "-p", socket.to_str().unwrap()],
    );
    assert!(
        String::from_utf8_lossy(&status.stdout).contains("QNetd address"),
        "{}",
        output_text(&status)
    );

    // pvecm qdevice setup's arbiter side, as root while the daemon runs: -i again (exit 1,
    // "already exists", which pvecm ignores, as with upstream), then -s with the node's
    // request.
    let before = owner_mode(&l.file("qnetd-ca.key"));
    let out = l.root("corosync-qnetd-certutil", &["-i"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "certutil -i again: {}",
        output_text(&out)
    );
    assert!(
        output_text(&out).contains("already exists"),
        "{}",
        output_text(&out)
    );
    assert_eq!(owner_mode(&l.file("qnetd-ca.key")), before);
    let (key, csr) = node_request(l._tmp.path());
    let out = l.root(
        "corosync-qnetd-certutil",
        &["-s", "-c", csr.to_str().unwrap(), "-n", "mycluster"],
    );
    assert!(out.status.success(), "certutil -s: {}", output_text(&out));
    let cert = l.file("cluster-mycluster.crt");
    assert_eq!(owner_mode(&cert), (0, GID, 0o640), "root's new certificate");

    // A node with that certificate gets in over TLS: the daemon (not root) verified it
    // against the store, and the root-written registry reloads.
    let probe = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_qnetd"))
            .arg("probe")
            .args([
                "--port",
                &port.to_string(),
                "--cluster",
                "mycluster",
                "--ca",
            ])
            .arg(l.file("qnetd-cacert.crt"))
            .arg("--cert")
            .arg(&cert)
            .arg("--key")
            .arg(&key)
            .args(args)
            .output()
            .unwrap()
    };
    let out = probe(&["--echoes", "1"]);
    assert!(
        out.status.success(),
        "probe with the signed certificate: {}",
        output_text(&out)
    );
    let out = Command::new(env!("CARGO_BIN_EXE_qnetd"))
        .args(["reload", "--lock-file"])
        .arg(l.run.join("corosync-qnetd.pid"))
        .output()
        .unwrap();
    assert!(out.status.success(), "reload: {}", output_text(&out));
    let deadline = Instant::now() + Duration::from_secs(5);
    while !probe(&["--echoes", "1"]).status.success() {
        assert!(
            Instant::now() < deadline,
            "the daemon stopped serving after the reload"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(daemon.uid(), format!("{UID} {UID} {UID} {UID}"));
}

#[test]
fn an_upstream_debian_store_imported_in_place_serves_as_coroqnetd() {
    let l = Layout::new();
    // The store as Debian's postinst leaves it: dir root:coroqnetd 0750, the two NSS
    // databases root:coroqnetd 0640, the rest root:root.
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/nss-certutil-3.0.3/qnetd-nssdb");
    for e in fs::read_dir(&fixture).unwrap().flatten() {
        let to = l.file(&e.file_name().to_string_lossy());
        fs::copy(e.path(), &to).unwrap();
        let gid = if ["cert9.db", "key4.db"].contains(&e.file_name().to_str().unwrap()) {
            GID
        } else {
            0
        };
        chown(&to, 0, gid, 0o640);
    }
    // -i exports the CA beside the databases (pvecm fetches it from there).
    let ca = l.file("qnetd-cacert.crt");
    fs::copy(fixture.with_file_name("qnetd-cacert.crt"), &ca).unwrap();
    chown(&ca, 0, 0, 0o644);
    chown(&l.store, 0, GID, 0o750);

    let out = Command::new(env!("CARGO_BIN_EXE_qnetd"))
        .args(["cert", "--dir"])
        .arg(&l.store)
        .arg("import-nss")
        .output()
        .unwrap();
    assert!(out.status.success(), "import-nss: {}", output_text(&out));
    // The ownership model: coroqnetd reads the server key, never the CA key.
    assert_eq!(owner_mode(&l.file("qnetd-server.key")), (0, GID, 0o640));
    assert_eq!(owner_mode(&l.file("qnetd-ca.key")), (0, 0, 0o600));
    assert_eq!(owner_mode(&l.file("qnetd-server.crt")).1, GID);

    let _daemon = l.daemon(free_port());
    wait_for_socket(&l.socket());
    let socket = l.socket();
    let status = l.root(
        "corosync-qnetd-tool",
        &["-s", "-p", socket.to_str().unwrap()],
    );
    assert!(
        String::from_utf8_lossy(&status.stdout).contains("QNetd address"),
        "{}",
        output_text(&status)
    );
}
