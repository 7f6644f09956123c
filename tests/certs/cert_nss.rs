//! Interoperability with the real NSS tools the cluster nodes run (Debian libnss3-tools and
//! corosync-qdevice 3.0.3): the `pvecm qdevice setup` sequence against our
//! `corosync-qnetd-certutil`, and node enrolment from our `qnetd cert bundle` alone.
//!
//! The node-side script is run from a copy whose `/etc/corosync` prefix is rewritten to a temp
//! directory, so the test never touches the machine's configuration.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::nss_client::{rewrite_prefix, Node};

const QNETD: &str = env!("CARGO_BIN_EXE_qnetd");
// An upstream qnetd's CA export (CN=QNet CA, serial 101), as its nodes have it.
const UPSTREAM_CA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/nss-certutil-3.0.3/qnetd-cacert.crt"
);

struct Env {
    root: PathBuf,
    bin: PathBuf,
}

impl Env {
    fn new(tag: &str) -> Env {
        let root = std::env::temp_dir().join(format!("qnetd-nss-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let bin = root.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::os::unix::fs::symlink(QNETD, bin.join("corosync-qnetd-certutil")).unwrap();
        Env { root, bin }
    }

    fn qnetd_dir(&self) -> PathBuf {
        self.root.join("qnetd/etc/corosync/qnetd/nssdb")
    }

    /// Our multi-call binary under upstream's name, store redirected by QNETD_CERT_DIR.
    fn qnetd_certutil(&self, args: &[&str]) -> Output {
        Command::new(self.bin.join("corosync-qnetd-certutil"))
            .args(args)
            .env("QNETD_CERT_DIR", self.qnetd_dir())
            .output()
            .unwrap()
    }

    fn qnetd_cert(&self, args: &[&str]) -> Output {
        Command::new(QNETD)
            .arg("cert")
            .arg("--dir")
            .arg(self.qnetd_dir())
            .args(args)
            .output()
            .unwrap()
    }

    /// A node: its own copy of corosync-qdevice-net-certutil rooted at `root/<name>`.
    fn node(&self, name: &str) -> Node {
        Node::new(&self.root, name)
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn ok(out: &Output, what: &str) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{what} failed ({:?}): {text}",
        out.status
    );
    text
}

#[test]
fn pvecm_sequence_with_real_node_tools() {
    let env = Env::new("pvecm");
    // pvecm step 2: `corosync-qnetd-certutil -i` (exit status ignored by pvecm).
    let init = ok(&env.qnetd_certutil(&["-i"]), "qnetd -i");
    let ca_file = env.qnetd_dir().join("qnetd-cacert.crt");
    assert!(
        init.contains(&format!(
            "QNetd CA certificate is exported as {}",
            ca_file.display()
        )),
        "{init}"
    );
    // A second -i answers as upstream does.
    let again = env.qnetd_certutil(&["-i"]);
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&again.stderr).trim(),
        format!(
            "Certificate database ({}) already exists. Delete it to initialize new db",
            env.qnetd_dir().display()
        )
    );

    // Steps 4-5: every node imports the CA; the first node makes the request.
    let node1 = env.node("node1");
    let node2 = env.node("node2");
    let ca = ca_file.to_str().unwrap();
    ok(&node1.certutil(&["-i", "-c", ca]), "node1 -i");
    ok(&node2.certutil(&["-i", "-c", ca]), "node2 -i");
    ok(&node1.certutil(&["-r", "-n", "mycluster"]), "node1 -r");

    // Steps 6-7: the request lands in /tmp on the qnetd host and is signed there.
    let tmp = env.root.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let crq = tmp.join("qdevice-net-node.crq");
    std::fs::copy(node1.db.join("qdevice-net-node.crq"), &crq).unwrap();
    let sign = env.qnetd_certutil(&["-s", "-c", crq.to_str().unwrap(), "-n", "mycluster"]);
    let text = ok(&sign, "qnetd -s");
    let crt = env.qnetd_dir().join("cluster-mycluster.crt");
    assert!(
        text.contains(&format!("Certificate stored in {}", crt.display())),
        "{text}"
    );
    assert_eq!(
        std::fs::read_to_string(env.qnetd_dir().join("serial.txt")).unwrap(),
        "103\n"
    );
    // DER, as upstream writes it.
    assert_eq!(std::fs::read(&crt).unwrap()[0], 0x30);

    // Steps 8-9: the first node imports its certificate and exports the p12, the others import it.
    let local_crt = node1.db.join("cluster-mycluster.crt");
    std::fs::copy(&crt, &local_crt).unwrap();
    ok(
        &node1.certutil(&["-M", "-c", local_crt.to_str().unwrap()]),
        "node1 -M",
    );
    let p12 = node1.db.join("qdevice-net-node.p12");
    ok(
        &node2.certutil(&["-m", "-c", p12.to_str().unwrap()]),
        "node2 -m",
    );
    node1.assert_enrolled();
    node2.assert_enrolled();

    // NSS also accepts our server certificate for the name the qdevice client checks.
    let server = env.qnetd_dir().join("qnetd-server.crt");
    node1.nss(
        "certutil",
        &[
            "-A",
            "-n",
            "qnetd server",
            "-t",
            ",,",
            "-i",
            server.to_str().unwrap(),
        ],
    );
    let v = node1.nss("certutil", &["-V", "-n", "qnetd server", "-u", "V"]);
    assert!(v.contains("certificate is valid"), "{v}");
}

/// `enrol-node.sh` from `dir`, rewritten for `node`, run with `node`'s tool on the PATH.
fn run_enrol_script(env: &Env, dir: &Path, node: &Node, name: &str) -> Output {
    let script = env.root.join(format!("enrol-{name}.sh"));
    rewrite_prefix(&dir.join("enrol-node.sh"), &script, &node.prefix);
    let shim = env.root.join(format!("{name}-path"));
    std::fs::create_dir_all(&shim).unwrap();
    std::os::unix::fs::symlink(&node.tool, shim.join("corosync-qdevice-net-certutil")).unwrap();
    let path = format!(
        "{}:{}",
        shim.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new("sh")
        .arg(&script)
        .env("PATH", path)
        .output()
        .unwrap()
}

/// A node whose qdevice database trusts another "QNet CA" (here upstream's): the script
/// stops before importing anything, says why and what to do, and leaves the database as it
/// was; once the old database is moved away, the same script enrols the node.
#[test]
fn enrol_script_stops_on_a_database_of_another_ca() {
    let env = Env::new("otherca");
    ok(&env.qnetd_cert(&["init"]), "qnetd cert init");
    let out = env.root.join("bundle");
    ok(
        &env.qnetd_cert(&["bundle", "--cluster", "c5", "--out", out.to_str().unwrap()]),
        "qnetd cert bundle",
    );
    let node = env.node("node5");
    ok(
        &node.certutil(&["-i", "-c", UPSTREAM_CA]),
        "node5 -i (upstream CA)",
    );
    let before = node.nss("certutil", &["-L"]);

    let run = run_enrol_script(&env, &out, &node, "node5");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert_ne!(run.status.code(), Some(0), "{text}");
    assert!(text.contains("trusts another"), "{text}");
    assert!(
        text.contains(&format!("mv {} ", node.db.display())),
        "{text}"
    );
    assert!(!text.contains("enrolled:"), "{text}");
    assert_eq!(
        node.nss("certutil", &["-L"]),
        before,
        "the database was changed"
    );

    std::fs::rename(&node.db, node.db.with_extension("old")).unwrap();
    ok(
        &run_enrol_script(&env, &out, &node, "node5b"),
        "enrol-node.sh",
    );
    node.assert_enrolled();
    // Run again: the database now trusts this qnetd's CA, so the script imports into it.
    let again = ok(
        &run_enrol_script(&env, &out, &node, "node5c"),
        "enrol-node.sh again",
    );
    assert!(again.contains("already trusts this qnetd's CA"), "{again}");
    node.assert_enrolled();
}

#[test]
fn bundle_alone_enrols_nodes() {
    let env = Env::new("bundle");
    ok(&env.qnetd_cert(&["init"]), "qnetd cert init");
    let out = env.root.join("bundle");
    let text = ok(
        &env.qnetd_cert(&["bundle", "--cluster", "c2", "--out", out.to_str().unwrap()]),
        "qnetd cert bundle",
    );
    assert!(
        text.contains("corosync-qdevice-net-certutil -m -c qdevice-net-node.p12"),
        "{text}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = |f: &str| std::fs::metadata(out.join(f)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("qdevice-net-node.p12"), 0o600);
    assert_eq!(mode("cluster-c2.key"), 0o600);

    // The commands printed, run by hand on a node.
    let node = env.node("node3");
    ok(
        &node.certutil(&["-i", "-c", out.join("qnetd-cacert.crt").to_str().unwrap()]),
        "node3 -i",
    );
    ok(
        &node.certutil(&[
            "-m",
            "-c",
            out.join("qdevice-net-node.p12").to_str().unwrap(),
        ]),
        "node3 -m",
    );
    node.assert_enrolled();

    // The self-contained script, on another node.
    let node4 = env.node("node4");
    let script = env.root.join("enrol-node4.sh");
    rewrite_prefix(&out.join("enrol-node.sh"), &script, &node4.prefix);
    let shim = env.root.join("node4-path");
    std::fs::create_dir_all(&shim).unwrap();
    std::os::unix::fs::symlink(&node4.tool, shim.join("corosync-qdevice-net-certutil")).unwrap();
    let path = format!(
        "{}:{}",
        shim.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = Command::new("sh")
        .arg(&script)
        .env("PATH", path)
        .output()
        .unwrap();
    ok(&run, "enrol-node.sh");
    node4.assert_enrolled();

    // The key in the p12 is the bundle's key: its certificate is the one the store issued.
    let listed = ok(&env.qnetd_cert(&["list"]), "qnetd cert list");
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("cluster") && l.contains(" c2 ")),
        "{listed}"
    );
}
