//! Migration between upstream corosync-qnetd's NSS store and ours (`qnetd cert import-nss` /
//! `export-nss`), with the real Debian tools: the store is made by corosync-qnetd-certutil
//! 3.0.3 (a copy whose `/etc/corosync` prefix points into a temp dir), nodes by
//! corosync-qdevice-net-certutil, broken stores by NSS's certutil. Each error case must exit
//! non-zero with its message and write nothing.
//!
//! The end-to-end counterpart (Debian's daemon serving real nodes, then ours on the imported
//! store, and back) is `e2e_migrate_*` in tests/e2e.rs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::nss_client::{self, rewrite_prefix, Node};

const QNETD: &str = env!("CARGO_BIN_EXE_qnetd");
const QNETD_TOOL: &str = "/usr/bin/corosync-qnetd-certutil";

struct Env {
    root: PathBuf,
}

impl Env {
    fn new(tag: &str) -> Env {
        let root = std::env::temp_dir().join(format!("qnetd-migrate-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        Env { root }
    }

    /// upstream's /etc/corosync/qnetd/nssdb, rooted in the temp dir.
    fn nssdb(&self) -> PathBuf {
        self.root.join("qnetd/etc/corosync/qnetd/nssdb")
    }

    /// Debian's corosync-qnetd-certutil, writing to `nssdb()`.
    fn upstream(&self, args: &[&str]) -> Output {
        let tool = self.root.join("qnetd-certutil");
        if !tool.exists() {
            rewrite_prefix(Path::new(QNETD_TOOL), &tool, &self.root.join("qnetd"));
        }
        Command::new(&tool).args(args).output().unwrap()
    }

    /// `qnetd cert --dir DIR ARGS`.
    fn qnetd(&self, dir: &Path, args: &[&str]) -> Output {
        Command::new(QNETD)
            .arg("cert")
            .arg("--dir")
            .arg(dir)
            .args(args)
            .output()
            .unwrap()
    }

    fn node(&self, name: &str) -> Node {
        Node::new(&self.root, name)
    }

    /// An upstream store after `-i` and one cluster enrolled the pvecm way (`-s`), with its
    /// node.
    fn upstream_with_cluster(&self, cluster: &str) -> Node {
        ok(&self.upstream(&["-i"]), "upstream -i");
        let node = self.node("node1");
        self.enroll(&node, &self.nssdb(), cluster, Signer::Upstream);
        node
    }

    /// pvecm's steps on a node: import the CA, make a request, have it signed, import it.
    fn enroll(&self, node: &Node, store: &Path, cluster: &str, signer: Signer) -> Output {
        let ca = store.join("qnetd-cacert.crt");
        ok(
            &node.certutil(&["-i", "-c", ca.to_str().unwrap()]),
            "node -i",
        );
        ok(&node.certutil(&["-r", "-n", cluster]), "node -r");
        let crq = self.root.join("qdevice-net-node.crq");
        std::fs::copy(node.db.join("qdevice-net-node.crq"), &crq).unwrap();
        let crq = crq.to_str().unwrap();
        let signed = match signer {
            Signer::Upstream => self.upstream(&["-s", "-c", crq, "-n", cluster]),
            Signer::Ours => self.qnetd(store, &["sign", "--csr", crq, "--cluster", cluster]),
        };
        ok(&signed, "sign");
        let crt = node.db.join(format!("cluster-{cluster}.crt"));
        std::fs::copy(store.join(format!("cluster-{cluster}.crt")), &crt).unwrap();
        ok(
            &node.certutil(&["-M", "-c", crt.to_str().unwrap()]),
            "node -M",
        );
        node.assert_enrolled();
        signed
    }
}

#[derive(Clone, Copy)]
enum Signer {
    Upstream,
    Ours,
}

impl Drop for Env {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn ok(out: &Output, what: &str) -> String {
    let t = text(out);
    assert!(
        out.status.success(),
        "{what} failed ({:?}): {t}",
        out.status
    );
    t
}

/// Fails unless `out` failed with a message containing every one of `needles`.
fn refused(out: &Output, needles: &[&str]) -> String {
    let t = text(out);
    assert!(
        !out.status.success(),
        "expected a failure, got success: {t}"
    );
    for n in needles {
        assert!(t.contains(n), "message lacks {n:?}: {t}");
    }
    t
}

/// Every file under `dir` (recursively) with its SHA-256 and mode.
fn snapshot(dir: &Path) -> BTreeMap<String, (String, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut map = BTreeMap::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return map;
    };
    for ent in rd.flatten() {
        let p = ent.path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if p.is_dir() {
            for (k, v) in snapshot(&p) {
                map.insert(format!("{name}/{k}"), v);
            }
        } else {
            let data = std::fs::read(&p).unwrap();
            let mode = std::fs::metadata(&p).unwrap().permissions().mode();
            map.insert(name, (certtool::sha256_hex(&data), mode));
        }
    }
    map
}

fn serial(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("serial.txt"))
        .unwrap()
        .trim()
        .to_string()
}

/// `qnetd cert list` as (kind, name, serial) rows.
fn listed(env: &Env, dir: &Path) -> Vec<(String, String, String)> {
    let out = ok(&env.qnetd(dir, &["list"]), "cert list");
    out.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            // NAME may contain a space ("QNet CA"): the serial is the first number after it.
            let pos = f.iter().skip(1).position(|w| w.parse::<u64>().is_ok())? + 1;
            Some((f[0].to_string(), f[1..pos].join(" "), f[pos].to_string()))
        })
        .collect()
}

#[test]
fn import_in_place_leaves_upstream_files_alone_and_signs_on_with_the_same_ca() {
    let env = Env::new("inplace");
    let node1 = env.upstream_with_cluster("alpha");
    let dir = env.nssdb();
    let upstream_before = snapshot(&dir);
    let node_before = snapshot(&node1.db);

    let out = ok(&env.qnetd(&dir, &["import-nss"]), "import-nss");
    assert!(
        out.contains("(in place)") && out.contains("cluster \"alpha\" serial 103"),
        "{out}"
    );
    // Every upstream file is still there, byte for byte and mode for mode.
    let after = snapshot(&dir);
    for (f, v) in &upstream_before {
        assert_eq!(after.get(f), Some(v), "upstream file {f} changed");
    }
    let added: Vec<&String> = after
        .keys()
        .filter(|k| !upstream_before.contains_key(*k))
        .collect();
    assert_eq!(
        added,
        [
            ".lock",
            "qnetd-ca.key",
            "qnetd-server.crt",
            "qnetd-server.key",
            "registry.txt"
        ],
        "files added in place"
    );
    // As `cert init` in the same directory, by the ownership model: the server key 0640 for
    // the store's group (root:coroqnetd on Debian: the daemon's group), the CA key root's alone.
    assert_eq!(after["qnetd-ca.key"].1 & 0o777, 0o600);
    assert_eq!(after["qnetd-server.key"].1 & 0o777, 0o640);
    assert_eq!(
        listed(&env, &dir),
        [
            ("ca".into(), "QNet CA".into(), "101".into()),
            ("server".into(), "Qnetd Server".into(), "102".into()),
            ("cluster".into(), "alpha".into(), "103".into()),
        ]
    );

    // Idempotent: the second run has nothing to do and changes nothing.
    let again = env.qnetd(&dir, &["import-nss"]);
    assert!(ok(&again, "second import").contains("nothing to do"));
    assert_eq!(snapshot(&dir), after);

    // Our store signs a second cluster with the same CA, the serial after upstream's.
    let node2 = env.node("node2");
    env.enroll(&node2, &dir, "beta", Signer::Ours);
    assert_eq!(serial(&dir), "104");
    assert!(listed(&env, &dir).contains(&("cluster".into(), "beta".into(), "104".into())));
    // The first node was not touched.
    assert_eq!(snapshot(&node1.db), node_before);
    // And the upstream tool still works on the directory, with a serial after ours.
    let node3 = env.node("node3");
    env.enroll(&node3, &dir, "gamma", Signer::Upstream);
    assert_eq!(serial(&dir), "105");
}

#[test]
fn import_out_writes_a_whole_store_elsewhere_and_the_way_back_serves_upstream() {
    let env = Env::new("out");
    env.upstream_with_cluster("alpha");
    let dir = env.nssdb();
    let upstream_before = snapshot(&dir);
    let out_dir = env.root.join("router-store");
    let out = ok(
        &env.qnetd(&dir, &["import-nss", "--out", out_dir.to_str().unwrap()]),
        "import-nss --out",
    );
    assert!(out.contains("Copy"), "{out}");
    assert_eq!(
        snapshot(&dir),
        upstream_before,
        "--out must not write into the NSS directory"
    );
    let files = snapshot(&out_dir);
    for f in [
        "qnetd-cacert.crt",
        "qnetd-ca.key",
        "qnetd-server.crt",
        "qnetd-server.key",
        "cluster-alpha.crt",
        "serial.txt",
        "registry.txt",
        "pkcs11.txt",
    ] {
        assert!(files.contains_key(f), "{f} missing from --out: {files:?}");
    }
    // pvecm's files are upstream's, byte for byte.
    for f in ["qnetd-cacert.crt", "cluster-alpha.crt"] {
        assert_eq!(files[f].0, upstream_before[f].0, "{f}");
    }
    assert!(
        !files.keys().any(|f| f.ends_with(".db")),
        "no NSS database in the store"
    );
    assert_eq!(serial(&out_dir), "103");
    // A second run into the same directory has nothing to do.
    let again = env.qnetd(&dir, &["import-nss", "--out", out_dir.to_str().unwrap()]);
    assert!(ok(&again, "second import").contains("nothing to do"));

    // On the "router": a new cluster, then the way back to an NSS database.
    let node2 = env.node("node2");
    env.enroll(&node2, &out_dir, "beta", Signer::Ours);
    let back = env.root.join("back/etc/corosync/qnetd/nssdb");
    let out = ok(
        &env.qnetd(&out_dir, &["export-nss", "--nssdb", back.to_str().unwrap()]),
        "export-nss",
    );
    assert!(out.contains("2 cluster certificate(s)"), "{out}");
    let list = nss_client::nss(&back, "certutil", &["-L"]);
    let trust = |nick: &str| {
        list.lines()
            .find(|l| l.starts_with(nick) && l[nick.len()..].starts_with("  "))
            .and_then(|l| l.split_whitespace().last())
            .map(str::to_string)
    };
    assert_eq!(trust("QNet CA").as_deref(), Some("CTu,u,u"), "{list}");
    assert_eq!(trust("QNetd Cert").as_deref(), Some("u,u,u"), "{list}");
    let keys = nss_client::nss(
        &back,
        "certutil",
        &["-K", "-f", back.join("pwdfile.txt").to_str().unwrap()],
    );
    assert!(
        keys.contains("QNet CA") && keys.contains("QNetd Cert"),
        "{keys}"
    );
    assert_eq!(std::fs::read(back.join("pwdfile.txt")).unwrap(), b"");
    assert_eq!(serial(&back), "104");
    // Upstream's certutil, pointed at the exported database, signs on with the same CA.
    let upstream_back = Env {
        root: env.root.join("back-env"),
    };
    std::fs::create_dir_all(upstream_back.root.join("qnetd/etc/corosync/qnetd")).unwrap();
    std::os::unix::fs::symlink(&back, upstream_back.nssdb()).unwrap();
    let node3 = upstream_back.node("node3");
    upstream_back.enroll(&node3, &back, "gamma", Signer::Upstream);
    assert_eq!(serial(&back), "105");
    // Exporting again finds everything in place.
    let again = env.qnetd(&out_dir, &["export-nss", "--nssdb", back.to_str().unwrap()]);
    assert!(ok(&again, "second export").contains("nothing to do"));
}

#[test]
fn export_of_a_native_store_holds_its_ecdsa_keys() {
    let env = Env::new("native");
    let store = env.root.join("store");
    ok(&env.qnetd(&store, &["init"]), "cert init");
    let node = env.node("node1");
    env.enroll(&node, &store, "alpha", Signer::Ours);
    // In place, as pvecm's paths want it: our pcs marker pkcs11.txt becomes NSS's.
    ok(
        &env.qnetd(&store, &["export-nss", "--nssdb", store.to_str().unwrap()]),
        "export-nss",
    );
    let keys = nss_client::nss(
        &store,
        "certutil",
        &["-K", "-f", store.join("pwdfile.txt").to_str().unwrap()],
    );
    assert!(
        keys.contains("ec ") && keys.contains("QNet CA") && keys.contains("QNetd Cert"),
        "{keys}"
    );
    let v = nss_client::nss(&store, "certutil", &["-V", "-n", "QNetd Cert", "-u", "V"]);
    assert!(v.contains("certificate is valid"), "{v}");
    // Our store still opens (its files were kept) and the re-import finds nothing to do.
    ok(&env.qnetd(&store, &["list"]), "cert list");
    let again = env.qnetd(&store, &["import-nss"]);
    assert!(ok(&again, "import after export").contains("nothing to do"));
}

/// `import-nss` on `dir` fails with `needles` and writes nothing, neither into `dir` nor to
/// an --out directory.
fn import_refused(env: &Env, dir: &Path, needles: &[&str]) {
    let before = snapshot(dir);
    let out = env.qnetd(dir, &["import-nss"]);
    let msg = refused(&out, needles);
    assert!(msg.contains("nothing was written"), "{msg}");
    assert_eq!(
        snapshot(dir),
        before,
        "import-nss wrote into {}",
        dir.display()
    );
    let elsewhere = env.root.join("out-of-refused");
    let out = env.qnetd(dir, &["import-nss", "--out", elsewhere.to_str().unwrap()]);
    refused(&out, needles);
    assert!(
        !elsewhere.exists(),
        "import-nss --out created {}",
        elsewhere.display()
    );
}

#[test]
fn missing_password_file_is_refused() {
    let env = Env::new("nopwd");
    env.upstream_with_cluster("alpha");
    std::fs::remove_file(env.nssdb().join("pwdfile.txt")).unwrap();
    import_refused(&env, &env.nssdb(), &["pwdfile.txt", "password"]);
}

#[test]
fn wrong_password_is_refused() {
    let env = Env::new("badpwd");
    env.upstream_with_cluster("alpha");
    let dir = env.nssdb();
    // The database gets a password; pwdfile.txt keeps saying something else.
    let newpw = env.root.join("newpw");
    std::fs::write(&newpw, "secret\n").unwrap();
    // (certutil -W wants a line, even an empty one, as the old password.)
    let oldpw = env.root.join("oldpw");
    std::fs::write(&oldpw, "\n").unwrap();
    nss_client::nss(
        &dir,
        "certutil",
        &[
            "-W",
            "-f",
            oldpw.to_str().unwrap(),
            "-@",
            newpw.to_str().unwrap(),
        ],
    );
    std::fs::write(dir.join("pwdfile.txt"), "wrong\n").unwrap();
    import_refused(
        &env,
        &dir,
        &["password in", "does not open the key database"],
    );
    // With the right password it imports.
    std::fs::write(dir.join("pwdfile.txt"), "secret\n").unwrap();
    ok(
        &env.qnetd(&dir, &["import-nss"]),
        "import with the right password",
    );
}

#[test]
fn database_without_the_ca_key_is_refused() {
    let env = Env::new("nokey");
    env.upstream_with_cluster("alpha");
    // A node's database: the CA certificate, no CA key (what pvecm puts on every node).
    let node_db = env.node("node1").db;
    std::fs::write(node_db.join("pwdfile.txt"), "").unwrap_or(());
    std::fs::copy(
        env.nssdb().join("qnetd-cacert.crt"),
        node_db.join("qnetd-cacert.crt"),
    )
    .unwrap();
    import_refused(
        &env,
        &node_db,
        &["not its private key", "not the qnetd host's database"],
    );
}

#[test]
fn half_initialised_stores_are_refused() {
    let env = Env::new("half");
    let dir = env.nssdb();
    std::fs::create_dir_all(&dir).unwrap();
    let pwd = dir.join("pwdfile.txt");
    std::fs::write(&pwd, "").unwrap();
    // Killed before `certutil -N`: pwdfile.txt, no database.
    import_refused(&env, &dir, &["half-initialised", "no cert9.db"]);
    // Killed right after `certutil -N`.
    nss_client::nss(&dir, "certutil", &["-N", "-f", pwd.to_str().unwrap()]);
    std::fs::write(dir.join("serial.txt"), "100\n").unwrap();
    import_refused(
        &env,
        &dir,
        &[
            "half-initialised",
            "no \"QNet CA\" certificate",
            "No cluster certificate",
        ],
    );
    // Killed after the CA and its export, before the server certificate (upstream's own
    // commands, run by hand up to that point).
    let noise = dir.join("noise.txt");
    std::fs::write(&noise, "0123456789abcdef0123456789abcdef01234567\n").unwrap();
    let make_ca = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "printf 'y\\n0\\ny\\n' | certutil -S -n 'QNet CA' -s 'CN=QNet CA' -x -t 'CT,,' -m 101 \
             -v 1200 -d sql:{d} -z {n} -f {p} -2 && certutil -L -d sql:{d} -n 'QNet CA' -a > {d}/qnetd-cacert.crt",
            d = dir.display(),
            n = noise.display(),
            p = pwd.display()
        ))
        .output()
        .unwrap();
    ok(&make_ca, "certutil -S (CA)");
    import_refused(
        &env,
        &dir,
        &["half-initialised", "no \"QNetd Cert\" server certificate"],
    );
}

#[test]
fn not_an_nss_database_is_refused() {
    let env = Env::new("empty");
    let dir = env.root.join("nothing");
    std::fs::create_dir_all(&dir).unwrap();
    import_refused(&env, &dir, &["holds no NSS database"]);
}

#[test]
fn init_doctor_and_daemon_on_an_upstream_store_point_to_the_import() {
    let env = Env::new("guard");
    env.upstream_with_cluster("alpha");
    let dir = env.nssdb();
    let before = snapshot(&dir);
    let d = dir.to_str().unwrap();
    refused(&env.qnetd(&dir, &["init"]), &["import-nss"]);
    refused(
        &env.qnetd(&dir, &["init", "--force"]),
        &[
            "orphans every node",
            "1 cluster certificate",
            "--force --force",
            "import-nss",
        ],
    );
    assert_eq!(snapshot(&dir), before, "a refused init wrote something");
    // Signing for a new cluster with our certutil names the import too.
    let crq = env.root.join("none.crq");
    std::fs::write(&crq, b"x").unwrap();
    refused(
        &env.qnetd(
            &dir,
            &["sign", "--csr", crq.to_str().unwrap(), "--cluster", "x"],
        ),
        &["import-nss"],
    );
    let doctor = Command::new(QNETD)
        .args(["doctor", "--store", d])
        .output()
        .unwrap();
    let t = text(&doctor);
    assert!(!doctor.status.success());
    assert!(
        t.contains("is the NSS database of upstream corosync-qnetd")
            && t.contains("1 cluster certificate(s): alpha")
            && t.contains(&format!("qnetd cert --store {d} import-nss")),
        "{t}"
    );
    assert_eq!(snapshot(&dir), before, "doctor or sign wrote something");
    // After the import, init --force is still guarded (the CA is upstream's), --force --force
    // is not.
    ok(&env.qnetd(&dir, &["import-nss"]), "import-nss");
    refused(&env.qnetd(&dir, &["init", "--force"]), &["--force --force"]);
    let t = ok(
        &env.qnetd(&dir, &["init", "--force", "--force"]),
        "init --force --force",
    );
    assert!(t.contains("previous certificates moved to"), "{t}");
}

#[test]
fn export_onto_another_nss_database_is_refused() {
    let env = Env::new("clash");
    env.upstream_with_cluster("alpha");
    let store = env.root.join("store");
    ok(&env.qnetd(&store, &["init"]), "cert init");
    let before = snapshot(&env.nssdb());
    let out = env.qnetd(
        &store,
        &["export-nss", "--nssdb", env.nssdb().to_str().unwrap()],
    );
    refused(&out, &["already holds an NSS database", "move it away"]);
    assert_eq!(snapshot(&env.nssdb()), before);
}
