//! Root's certificate tools never trust what the daemon's account or another user can change
//! (docs/security.md, "Ownership of the store"): the ownership model of a fresh store, stores
//! and lock files another account could swap, output directories of other users, inputs that
//! are not bounded regular files, serials that repeat. Each race is made deterministic: what
//! the attacker plants is in place before root's command starts. Runs as root; the daemon's
//! account is a numeric uid/gid with no passwd entry (chown and setpriv need none).

use crate::support::ops::{output_text, wait_child_exit};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const QNETD: &str = env!("CARGO_BIN_EXE_qnetd");
/// The daemon's account, as `qnetd install` makes it on OpenWrt.
const DAEMON: u32 = 5403;

struct Env {
    root: PathBuf,
}

impl Env {
    fn new(tag: &str) -> Option<Env> {
        if !rustix::process::geteuid().is_root() {
            eprintln!("NOT RUN: needs root to play root and the daemon's account");
            return None;
        }
        let root = std::env::temp_dir().join(format!("qnetd-trust-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).unwrap();
        std::os::unix::fs::symlink(QNETD, root.join("corosync-qnetd-certutil")).unwrap();
        Some(Env { root })
    }

    fn store(&self) -> PathBuf {
        self.root.join("nssdb")
    }

    fn file(&self, name: &str) -> PathBuf {
        self.store().join(name)
    }

    /// `qnetd cert --dir STORE ARGS`, as root, in at most 20 s and 1 GiB of address space (a
    /// read without a cap fails fast instead of taking the machine's memory).
    fn cert(&self, args: &[&str]) -> Output {
        let mut cmd = limited(QNETD);
        cmd.args(["cert", "--dir"]).arg(self.store()).args(args);
        run(cmd)
    }

    /// `corosync-qnetd-certutil ARGS` on the store, as root (pvecm's way), limited as `cert`.
    fn certutil(&self, args: &[&str]) -> Output {
        let mut cmd = limited(self.root.join("corosync-qnetd-certutil").to_str().unwrap());
        cmd.args(args).env("QNETD_CERT_DIR", self.store());
        run(cmd)
    }

    fn init(&self) {
        let out = self.cert(&["init"]);
        assert!(out.status.success(), "init: {}", output_text(&out));
    }

    /// A node's certificate request for `cn` (ECDSA P-256, DER, as NSS writes it).
    fn csr(&self, cn: &str) -> PathBuf {
        self.csr_with(
            cn,
            &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
            "DER",
        )
    }

    fn csr_with(&self, cn: &str, key: &[&str], form: &str) -> PathBuf {
        let out = self.root.join(format!("{cn}.csr"));
        let st = Command::new("openssl")
            .args(["req", "-new", "-nodes", "-subj"])
            .arg(format!("/CN={cn}"))
            .args(key)
            .arg("-keyout")
            .arg(self.root.join(format!("{cn}.key")))
            .args(["-outform", form, "-out"])
            .arg(&out)
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "openssl req");
        out
    }

    fn serial(&self) -> String {
        fs::read_to_string(self.file("serial.txt")).unwrap()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

fn limited(program: &str) -> Command {
    let mut cmd = Command::new("prlimit");
    cmd.args(["--as=1073741824", "--"]).arg(program);
    cmd
}

/// Runs `cmd`, killing it after 20 s: a command blocked on a FIFO fails the test instead of
/// hanging it.
fn run(mut cmd: Command) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    if wait_child_exit(&mut child, Duration::from_secs(20)).is_none() {
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        panic!(
            "still running after {:?}, killed: {}",
            start.elapsed(),
            output_text(&out)
        );
    }
    child.wait_with_output().unwrap()
}

fn chown(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid)).unwrap();
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn owner_mode(path: &Path) -> (u32, u32, u32) {
    let m = fs::symlink_metadata(path).unwrap();
    (m.uid(), m.gid(), m.mode() & 0o7777)
}

/// The store as the old install left it: directory root:qnetd 0770, so the daemon's account
/// can add, remove and replace entries in it.
fn old_shared_store(env: &Env) {
    chown(&env.store(), 0, DAEMON);
    chmod(&env.store(), 0o770);
}

#[test]
fn a_fresh_store_follows_the_model_and_the_daemons_account_reads_only_what_it_opens() {
    let Some(env) = Env::new("model") else { return };
    // The store directory made for the daemon's group first, as `qnetd install` and Debian's
    // package do; then root's init.
    fs::create_dir(env.store()).unwrap();
    chown(&env.store(), 0, DAEMON);
    chmod(&env.store(), 0o750);
    env.init();
    let out = env.cert(&[
        "sign",
        "--csr",
        env.csr("alpha").to_str().unwrap(),
        "--cluster",
        "alpha",
    ]);
    assert!(out.status.success(), "sign: {}", output_text(&out));

    assert_eq!(
        owner_mode(&env.store()),
        (0, DAEMON, 0o750),
        "store directory"
    );
    assert_eq!(owner_mode(&env.file("qnetd-ca.key")), (0, 0, 0o600));
    for (file, mode) in [
        ("qnetd-server.key", 0o640),
        ("qnetd-cacert.crt", 0o640),
        ("qnetd-server.crt", 0o640),
        ("registry.txt", 0o640),
        ("serial.txt", 0o640),
        ("pkcs11.txt", 0o640),
        ("cluster-alpha.crt", 0o640),
    ] {
        assert_eq!(owner_mode(&env.file(file)), (0, DAEMON, mode), "{file}");
    }
    assert_eq!(owner_mode(&env.file(".lock")), (0, 0, 0o600));

    // As the daemon's account: it reads what the daemon opens, not the CA key, and can
    // write nothing, neither a file nor a new entry.
    let as_daemon = |script: &str| {
        Command::new("setpriv")
            .args([
                "--reuid",
                "5403",
                "--regid",
                "5403",
                "--clear-groups",
                "sh",
                "-c",
                script,
            ])
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success()
    };
    for file in certtool::ownership::DAEMON_READS {
        let path = env.file(file);
        assert!(
            as_daemon(&format!("cat {} >/dev/null", path.display())),
            "{file} unreadable"
        );
    }
    let ca_key = env.file("qnetd-ca.key");
    assert!(
        !as_daemon(&format!("cat {} >/dev/null", ca_key.display())),
        "CA key readable"
    );
    for ent in fs::read_dir(env.store()).unwrap().flatten() {
        let p = ent.path();
        assert!(
            !as_daemon(&format!(": >> {}", p.display())),
            "{} writable",
            p.display()
        );
    }
    let new = env.file("planted");
    assert!(
        !as_daemon(&format!(": > {}", new.display())),
        "store writable"
    );
    assert!(!as_daemon(&format!("rm {}", env.file(".lock").display())));
    assert!(
        env.file(".lock").exists(),
        "the daemon's account removed .lock"
    );
}

/// Issue: as the daemon's account, `rm .lock; ln -s /etc/created_by_root .lock`, then root's
/// `corosync-qnetd-certutil -s` created /etc/created_by_root. Now the store is refused while
/// another account can change it, and `.lock` is never followed even where only root could
/// have put the symlink.
#[test]
fn a_lock_symlink_is_never_followed_and_nothing_is_created_at_its_target() {
    let Some(env) = Env::new("lock") else { return };
    env.init();
    let csr = env.csr("clusterA");
    let target = env.root.join("created_by_root");
    let lock = env.file(".lock");

    // The daemon's plant in the store the old install shared with it.
    old_shared_store(&env);
    fs::remove_file(&lock).unwrap();
    std::os::unix::fs::symlink(&target, &lock).unwrap();
    chown(&lock, DAEMON, DAEMON);
    let before = env.serial();
    let out = env.certutil(&["-s", "-c", csr.to_str().unwrap(), "-n", "clusterA"]);
    assert!(
        !target.exists(),
        "root created the lock's target: {}",
        output_text(&out)
    );
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    assert!(
        output_text(&out).contains("chmod 0750"),
        "{}",
        output_text(&out)
    );
    assert_eq!(env.serial(), before);
    assert!(!env.file("cluster-clusterA.crt").exists());

    // The directory made root's again, the daemon's symlink still there: its entry is refused.
    chmod(&env.store(), 0o750);
    let out = env.certutil(&["-s", "-c", csr.to_str().unwrap(), "-n", "clusterA"]);
    assert!(!target.exists(), "{}", output_text(&out));
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    assert!(
        output_text(&out).contains(&format!("{} (uid {DAEMON})", lock.display())),
        "{}",
        output_text(&out)
    );

    // Even a symlink of root's own is not followed (O_NOFOLLOW), nor a FIFO used.
    chown(&lock, 0, 0);
    let out = env.certutil(&["-s", "-c", csr.to_str().unwrap(), "-n", "clusterA"]);
    assert!(!target.exists(), "{}", output_text(&out));
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    assert!(
        output_text(&out).contains("symbolic link"),
        "{}",
        output_text(&out)
    );
    fs::remove_file(&lock).unwrap();
    assert!(Command::new("mkfifo")
        .arg(&lock)
        .status()
        .unwrap()
        .success());
    let out = env.certutil(&["-s", "-c", csr.to_str().unwrap(), "-n", "clusterA"]);
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    assert!(
        output_text(&out).contains("not a regular file"),
        "{}",
        output_text(&out)
    );

    // A lock file of root's: signing works.
    fs::remove_file(&lock).unwrap();
    let out = env.certutil(&["-s", "-c", csr.to_str().unwrap(), "-n", "clusterA"]);
    assert!(out.status.success(), "{}", output_text(&out));
}

/// Issue: `qnetd doctor` passed a 0777 store; root's tools wrote into it. Any store another
/// account can write, and any store file another account owns, is refused with nothing
/// written.
#[test]
fn a_store_another_account_can_change_is_refused_with_nothing_written() {
    let Some(env) = Env::new("writable") else {
        return;
    };
    env.init();
    let csr = env.csr("alpha");
    let sign = || env.cert(&["sign", "--csr", csr.to_str().unwrap(), "--cluster", "alpha"]);
    let registry = fs::read(env.file("registry.txt")).unwrap();
    for (uid, gid, mode, words) in [
        (0, 0, 0o777, "writable by every user"),
        (0, DAEMON, 0o770, &*format!("writable by group {DAEMON}")),
        (DAEMON, DAEMON, 0o750, &*format!("belongs to uid {DAEMON}")),
    ] {
        chown(&env.store(), uid, gid);
        chmod(&env.store(), mode);
        let out = sign();
        assert_eq!(
            out.status.code(),
            Some(1),
            "{mode:o}: {}",
            output_text(&out)
        );
        assert!(
            output_text(&out).contains(words),
            "{mode:o}: {}",
            output_text(&out)
        );
        assert_eq!(env.serial(), "102\n");
        assert_eq!(fs::read(env.file("registry.txt")).unwrap(), registry);
    }
    // Root's group writing is root writing: upstream's own root:root 0770 store is used.
    chown(&env.store(), 0, 0);
    chmod(&env.store(), 0o770);
    // A file the daemon's account owns, in a store of root's: refused, named.
    chown(&env.file("registry.txt"), DAEMON, DAEMON);
    let out = sign();
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    let named = format!("{} (uid {DAEMON})", env.file("registry.txt").display());
    assert!(output_text(&out).contains(&named), "{}", output_text(&out));
    chown(&env.file("registry.txt"), 0, 0);
    let out = sign();
    assert!(out.status.success(), "{}", output_text(&out));
}

/// A store under a directory another account can write: that account could rename the store
/// away and put its own (its CA key, its registry) in its place, so writers refuse it.
#[test]
fn a_store_under_a_directory_another_account_can_write_is_refused() {
    let Some(env) = Env::new("ancestor") else {
        return;
    };
    env.init();
    let csr = env.csr("alpha");
    let sign = || env.cert(&["sign", "--csr", csr.to_str().unwrap(), "--cluster", "alpha"]);
    chown(&env.root, DAEMON, DAEMON);
    let out = sign();
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    assert!(
        output_text(&out).contains("above the store"),
        "{}",
        output_text(&out)
    );
    assert_eq!(env.serial(), "102\n");
    chown(&env.root, 0, 0);
    let out = sign();
    assert!(out.status.success(), "{}", output_text(&out));
}

/// Issue: `mkdir /tmp/mycluster; chown nobody /tmp/mycluster`, then `qnetd cert bundle --out
/// /tmp/mycluster` exited 0, and that user could swap enrol-node.sh.
#[test]
fn bundle_output_is_made_fresh_0700_or_refused_when_another_account_could_change_it() {
    let Some(env) = Env::new("bundle") else {
        return;
    };
    env.init();
    let out_dir = env.root.join("mycluster");
    for (uid, gid, mode) in [(65534, 65534, 0o755), (0, DAEMON, 0o770), (0, 0, 0o777)] {
        let _ = fs::remove_dir_all(&out_dir);
        fs::create_dir(&out_dir).unwrap();
        chown(&out_dir, uid, gid);
        chmod(&out_dir, mode);
        let out = env.cert(&[
            "bundle",
            "--cluster",
            "c1",
            "--out",
            out_dir.to_str().unwrap(),
        ]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{uid} {mode:o}: {}",
            output_text(&out)
        );
        assert!(
            fs::read_dir(&out_dir).unwrap().next().is_none(),
            "written into it"
        );
        assert_eq!(env.serial(), "102\n", "a serial was taken");
    }
    fs::remove_dir_all(&out_dir).unwrap();
    let out = env.cert(&[
        "bundle",
        "--cluster",
        "c1",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", output_text(&out));
    assert_eq!(owner_mode(&out_dir), (0, 0, 0o700));
    assert_eq!(owner_mode(&out_dir.join("enrol-node.sh")).0, 0);
}

/// Issue: `corosync-qnetd-certutil -s -c /dev/zero` reached 10 GB, `qnetd cert sign --csr
/// /dev/zero` 4.6 GB, and a FIFO hung forever. Every request read is a regular file of at most
/// 64 KiB, refused at once otherwise (the commands run in 1 GiB of address space and 20 s).
#[test]
fn request_reads_are_bounded_regular_files_and_never_block() {
    let Some(env) = Env::new("bounded") else {
        return;
    };
    env.init();
    let fifo = env.root.join("fifo.csr");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let big = env.root.join("big.csr");
    fs::write(&big, vec![b'A'; 64 * 1024 + 1]).unwrap();
    for (path, words) in [
        (
            Path::new("/dev/zero"),
            "not a regular file (a character device)",
        ),
        (&fifo, "not a regular file (a FIFO)"),
        (&big, "larger than the 64 KiB"),
    ] {
        let p = path.to_str().unwrap();
        let out = env.cert(&["sign", "--csr", p, "--cluster", "x"]);
        assert_eq!(out.status.code(), Some(1), "{p}: {}", output_text(&out));
        assert!(
            output_text(&out).contains(words),
            "{p}: {}",
            output_text(&out)
        );
        let out = env.certutil(&["-s", "-c", p, "-n", "x"]);
        assert_eq!(out.status.code(), Some(2), "{p}: {}", output_text(&out));
        assert!(
            output_text(&out).contains(words),
            "{p}: {}",
            output_text(&out)
        );
    }
    assert_eq!(env.serial(), "102\n");
    // The admin's own symlink to a request is followed.
    let link = env.root.join("link.csr");
    std::os::unix::fs::symlink(env.csr("x"), &link).unwrap();
    let out = env.cert(&["sign", "--csr", link.to_str().unwrap(), "--cluster", "x"]);
    assert!(out.status.success(), "{}", output_text(&out));
}

/// Issue: sign clusterB (104), `echo 103 > serial.txt` (a restore from an older backup), sign
/// clusterA: it also got 104, and `revoke --serial 104` revoked both.
#[test]
fn serials_never_repeat_when_serial_txt_is_set_back() {
    let Some(env) = Env::new("serial") else {
        return;
    };
    env.init();
    let sign = |cn: &str| {
        let csr = env.csr(cn);
        let out = env.cert(&["sign", "--csr", csr.to_str().unwrap(), "--cluster", cn]);
        assert!(out.status.success(), "{}", output_text(&out));
        let der = fs::read(env.file(&format!("cluster-{cn}.crt"))).unwrap();
        certtool::certinfo::summary(&der).unwrap().serial
    };
    assert_eq!(sign("clusterC"), 103);
    assert_eq!(sign("clusterB"), 104);
    fs::write(env.file("serial.txt"), "103\n").unwrap();
    assert_eq!(sign("clusterA"), 105);
    // Set back below every cluster certificate, and the registry gone too: the store's
    // certificate files still say which serials exist.
    fs::write(env.file("serial.txt"), "100\n").unwrap();
    fs::remove_file(env.file("registry.txt")).unwrap();
    assert_eq!(sign("clusterD"), 106);
}

/// A registry with one serial given twice (made by an older version): `revoke --serial`
/// refuses it, names both, and changes nothing.
#[test]
fn revoking_a_serial_two_certificates_share_is_refused_naming_both() {
    let Some(env) = Env::new("ambiguous") else {
        return;
    };
    env.init();
    for cn in ["clusterA", "clusterB"] {
        let csr = env.csr(cn);
        let out = env.cert(&["sign", "--csr", csr.to_str().unwrap(), "--cluster", cn]);
        assert!(out.status.success(), "{}", output_text(&out));
    }
    // What the old serial bug left: clusterB's entry carries clusterA's serial 103.
    let reg = fs::read_to_string(env.file("registry.txt")).unwrap();
    let reg = reg.replace("104\tcluster", "103\tcluster");
    fs::write(env.file("registry.txt"), &reg).unwrap();
    let out = env.cert(&["revoke", "--serial", "103"]);
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    let t = output_text(&out);
    assert!(t.contains("given to 2 certificates"), "{t}");
    assert!(
        t.contains("\"clusterA\"") && t.contains("\"clusterB\""),
        "{t}"
    );
    assert_eq!(fs::read_to_string(env.file("registry.txt")).unwrap(), reg);
}

/// An RSA-1024 request was refused as "its signature does not verify"; a PEM request with
/// `openssl req -text`'s text before the block got a DER error.
#[test]
fn requests_say_the_rsa_size_rule_and_text_before_a_pem_block_is_skipped() {
    let Some(env) = Env::new("csr") else { return };
    env.init();
    let small = env.csr_with("small", &["-newkey", "rsa:1024"], "DER");
    let out = env.cert(&[
        "sign",
        "--csr",
        small.to_str().unwrap(),
        "--cluster",
        "small",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    assert!(
        output_text(&out).contains("RSA key has 1024 bits"),
        "{}",
        output_text(&out)
    );
    assert!(output_text(&out).contains("2048"), "{}", output_text(&out));
    assert!(
        !output_text(&out).contains("does not verify"),
        "{}",
        output_text(&out)
    );

    let pem = env.csr_with("withtext", &["-newkey", "rsa:2048"], "PEM");
    let texted = env.root.join("texted.csr");
    let st = Command::new("openssl")
        .args(["req", "-text", "-in"])
        .arg(&pem)
        .arg("-out")
        .arg(&texted)
        .status()
        .unwrap();
    assert!(st.success());
    assert!(fs::read_to_string(&texted)
        .unwrap()
        .starts_with("Certificate Request:"));
    let out = env.cert(&[
        "sign",
        "--csr",
        texted.to_str().unwrap(),
        "--cluster",
        "withtext",
    ]);
    assert!(out.status.success(), "{}", output_text(&out));
}

/// `ownership::enforce` (what `qnetd install` and `cert init` give the store with): the model
/// on every regular file, through descriptors; a symlink or a hard link the daemon's account
/// planted is left alone, and what it points to is untouched.
#[test]
fn applying_the_model_changes_files_through_descriptors_and_leaves_links_alone() {
    let Some(env) = Env::new("apply") else { return };
    env.init();
    // The old install's store: everything the daemon's, directory 0770.
    for ent in fs::read_dir(env.store()).unwrap().flatten() {
        chown(&ent.path(), DAEMON, DAEMON);
        chmod(&ent.path(), 0o660);
    }
    chown(&env.store(), DAEMON, DAEMON);
    chmod(&env.store(), 0o770);
    let victim = env.root.join("shadow");
    fs::write(&victim, "root:secret\n").unwrap();
    chmod(&victim, 0o600);
    let link = env.file("cluster-evil.crt");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    chown(&link, DAEMON, DAEMON);
    let hard = env.file("cluster-hard.crt");
    fs::hard_link(&victim, &hard).unwrap();

    let applied = certtool::ownership::enforce(&env.store(), DAEMON).unwrap();
    let refused: Vec<&Path> = applied.skipped.iter().map(|(p, _)| p.as_path()).collect();
    assert_eq!(refused, [link.as_path(), hard.as_path()], "{applied:?}");
    assert_eq!(
        owner_mode(&victim),
        (0, 0, 0o600),
        "the link's target was changed"
    );
    assert_eq!(owner_mode(&env.store()), (0, DAEMON, 0o750));
    assert_eq!(owner_mode(&env.file("qnetd-ca.key")), (0, 0, 0o600));
    assert_eq!(
        owner_mode(&env.file("qnetd-server.key")),
        (0, DAEMON, 0o640)
    );
    assert_eq!(
        owner_mode(&env.file("qnetd-cacert.crt")),
        (0, DAEMON, 0o640)
    );
    assert_eq!(owner_mode(&env.file("registry.txt")), (0, DAEMON, 0o640));
    // Once the planted links are removed, doctor's audit finds nothing to say.
    fs::remove_file(&link).unwrap();
    fs::remove_file(&hard).unwrap();
    let breaches = certtool::ownership::audit(&env.store(), Some((DAEMON, DAEMON)));
    assert!(breaches.is_empty(), "{breaches:?}");
}
