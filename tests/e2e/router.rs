//! The router story end to end: the lab's qnetd host becomes an "OpenWrt router" (a root of
//! BusyBox, Dropbear and our static binary only: tests/support/router), `qnetd install`
//! runs there, and a node drives it with `pvecm qdevice setup`'s exact ssh/scp commands,
//! through the real OpenSSH client of this Debian (9.2, Proxmox VE 8) or of a Debian 13 root
//! (10.0, Proxmox VE 9).

use crate::cluster::{Bed, QNETD_HOST};
use crate::lab::{self, Out, QNETD_ADDR};
use crate::router_support::{self, RouterRoot};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The options pvecm passes to every ssh and scp (`src/PVE/CLI/pvecm.pm`).
const BATCH: [&str; 2] = ["-o", "BatchMode=yes"];

/// The Debian 13 root made by tools/e2e/trixie-root.sh, found the way that script places it
/// (QNETD_TRIXIE_ROOT, else $XDG_CACHE_HOME or ~/.cache, then qnetd-trixie/root).
pub fn trixie_root() -> PathBuf {
    let root = std::env::var_os("QNETD_TRIXIE_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
                    PathBuf::from(home).join(".cache")
                });
            cache.join("qnetd-trixie/root")
        });
    assert!(
        root.join(".qnetd-trixie-root").is_file(),
        "no Debian 13 root at {}: run tools/e2e/trixie-root.sh (tools/test.sh does)",
        root.display()
    );
    root
}

pub struct Router {
    pub root: RouterRoot,
    /// The output of `qnetd install --firewall` on the router.
    pub install_output: String,
}

impl Router {
    /// Builds the router root on the qnetd host, runs `/tmp/qnetd install --firewall` in it
    /// (which starts the daemon through the init script) and starts Dropbear.
    pub fn install(bed: &mut Bed) -> Router {
        let binary = router_support::static_binary();
        assert!(
            router_support::is_static_elf(&binary),
            "{} is not a static binary",
            binary.display()
        );
        let root = RouterRoot::build(&bed.lab.dir.join("router-root"), &binary, true);
        let host_key = root.add_dropbear();
        fs::write(root.file("/etc/host-key.pub"), &host_key).unwrap();
        let r = root.path.display().to_string();
        let q = bed.lab.host(QNETD_HOST);
        // The router's /dev and /proc, in the qnetd host's own mount namespace.
        let mounts = format!("mount --bind /dev '{r}/dev' && mount -t proc proc '{r}/proc'");
        q.run_ok("sh", &["-c", &mounts]);
        let out = q.run("chroot", &[&r, "/tmp/qnetd", "install", "--firewall"]);
        assert!(
            out.ok(),
            "qnetd install on the router failed:\n{}",
            out.text()
        );
        q.spawn(
            "dropbear",
            "chroot",
            &[
                &r,
                "/usr/sbin/dropbear",
                "-F",
                "-E",
                "-p",
                "22",
                "-r",
                "/etc/dropbear/dropbear_ed25519_host_key",
            ],
        );
        wait_listening(bed, 22, "dropbear");
        wait_listening(bed, 5403, "qnetd started by the init script");
        Router {
            root,
            install_output: out.stdout,
        }
    }

    /// Authorises `node`'s root key on the router and trusts the router's host key there, as
    /// `ssh-copy-id` (pvecm's interactive first step) leaves them.
    pub fn authorise(&self, bed: &Bed, node: &str) {
        let host = bed.lab.host_ref(node);
        let home = host.private_home();
        fs::create_dir_all(home.join(".ssh")).unwrap();
        let _ = fs::remove_file(home.join(".ssh/id_rsa"));
        host.run_ok(
            "ssh-keygen",
            &["-q", "-t", "rsa", "-N", "", "-f", "/root/.ssh/id_rsa"],
        );
        let key = fs::read_to_string(home.join(".ssh/id_rsa.pub")).unwrap();
        let auth = self.root.file("/root/.ssh");
        fs::create_dir_all(&auth).unwrap();
        fs::set_permissions(&auth, fs::Permissions::from_mode(0o700)).unwrap();
        let mut keys = fs::read_to_string(auth.join("authorized_keys")).unwrap_or_default();
        keys.push_str(&key);
        fs::write(auth.join("authorized_keys"), keys).unwrap();
        fs::set_permissions(
            auth.join("authorized_keys"),
            fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        let host_key = fs::read_to_string(self.root.file("/etc/host-key.pub")).unwrap();
        fs::write(
            home.join(".ssh/known_hosts"),
            format!("{QNETD_ADDR} {host_key}\n"),
        )
        .unwrap();
    }
}

fn wait_listening(bed: &mut Bed, port: u16, what: &str) {
    lab::wait_for(
        &format!("{what} listening on port {port}"),
        Duration::from_secs(30),
        Duration::from_millis(50),
        || {
            if crate::cluster::listening_on(bed.lab.host_ref(QNETD_HOST), port) {
                Ok(())
            } else {
                Err(format!(
                    "not listening; router logs:\n{}",
                    lab::log_tail(&bed.lab.dir.join("router-root/tmp/qnetd.log"), 20)
                ))
            }
        },
    );
}

/// `pvecm qdevice setup`'s commands for the qnetd side, from `node` (the node pvecm runs on):
/// ssh and scp exactly as pvecm gives them, and the node-side certutil steps. The CA and p12
/// go through `/tmp/pve` where pvecm uses the cluster file system /etc/pve. Returns the time
/// the sequence took.
pub fn pvecm_qdevice_setup(bed: &Bed, node: &str) -> Duration {
    let started = Instant::now();
    let cluster = bed.cluster.clone();
    let host = bed.lab.host_ref(node);
    let remote = format!("root@[{QNETD_ADDR}]");
    // Step 2: its exit code is ignored by pvecm (the store may exist already).
    let init = ssh(bed, node, "corosync-qnetd-certutil -i");
    println!(
        "    pvecm step 2 (ssh certutil -i) exit {}: {}",
        init.status,
        init.text().trim()
    );
    host.run_ok("mkdir", &["-p", "/tmp/pve"]);
    scp(
        bed,
        node,
        &format!("{remote}:/etc/corosync/qnetd/nssdb/qnetd-cacert.crt"),
        "/tmp/pve/qnetd-cacert.crt",
    );
    for n in &bed.nodes {
        if n != node {
            fs::create_dir_all(bed.lab.host_ref(n).path("/tmp/pve")).unwrap();
            fs::copy(
                host.path("/tmp/pve/qnetd-cacert.crt"),
                bed.lab.host_ref(n).path("/tmp/pve/qnetd-cacert.crt"),
            )
            .unwrap();
        }
        bed.lab.host_ref(n).run_ok(
            "corosync-qdevice-net-certutil",
            &["-i", "-c", "/tmp/pve/qnetd-cacert.crt"],
        );
    }
    host.run_ok("corosync-qdevice-net-certutil", &["-r", "-n", &cluster]);
    scp(
        bed,
        node,
        "/etc/corosync/qdevice/net/nssdb/qdevice-net-node.crq",
        &format!("{remote}:/tmp"),
    );
    let sign = ssh(
        bed,
        node,
        &format!("corosync-qnetd-certutil -s -c /tmp/qdevice-net-node.crq -n {cluster}"),
    );
    assert!(
        sign.ok(),
        "pvecm step 7 (ssh certutil -s) failed:\n{}",
        sign.text()
    );
    scp(
        bed,
        node,
        &format!("{remote}:/etc/corosync/qnetd/nssdb/cluster-{cluster}.crt"),
        "/etc/corosync/qdevice/net/nssdb",
    );
    host.run_ok(
        "corosync-qdevice-net-certutil",
        &[
            "-M",
            "-c",
            &format!("/etc/corosync/qdevice/net/nssdb/cluster-{cluster}.crt"),
        ],
    );
    let p12 = host.path("/etc/corosync/qdevice/net/nssdb/qdevice-net-node.p12");
    for n in &bed.nodes {
        if n != node {
            bed.node_import_p12(n, &p12);
        }
    }
    started.elapsed()
}

fn ssh(bed: &Bed, node: &str, command: &str) -> Out {
    let mut args: Vec<&str> = BATCH.to_vec();
    args.extend(["-lroot", QNETD_ADDR, command]);
    bed.lab.host_ref(node).run("ssh", &args)
}

fn scp(bed: &Bed, node: &str, from: &str, to: &str) {
    let mut args: Vec<&str> = BATCH.to_vec();
    args.extend([from, to]);
    let out = bed.lab.host_ref(node).run("scp", &args);
    assert!(
        out.ok(),
        "on {node}: scp {from} {to} failed ({}):\n{}\nrouter's dropbear:\n{}",
        out.status,
        out.text(),
        lab::log_tail(&bed.lab.host_ref(QNETD_HOST).dir.join("dropbear.log"), 20)
    );
}

/// The node's OpenSSH version line (`ssh -V`).
pub fn ssh_version(bed: &Bed, node: &str) -> String {
    bed.lab
        .host_ref(node)
        .run("ssh", &["-V"])
        .text()
        .trim()
        .to_string()
}

/// True if `path` inside the router is a link that resolves to the installed binary.
pub fn links_to_qnetd(root: &RouterRoot, path: &str) -> bool {
    let link = root.file(path);
    let Ok(text) = fs::read_link(&link) else {
        return false;
    };
    let resolved = if text.is_absolute() {
        root.file(&text.to_string_lossy())
    } else {
        link.parent().unwrap_or(Path::new("/")).join(text)
    };
    fs::canonicalize(resolved).ok() == fs::canonicalize(root.file("/usr/sbin/qnetd")).ok()
}
