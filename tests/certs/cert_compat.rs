//! `corosync-qnetd-certutil` (our binary under upstream's name): flags, messages and exit
//! codes that pvecm, crmsh and pcs depend on, and the refusals where we differ on purpose.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const QNETD: &str = env!("CARGO_BIN_EXE_qnetd");
// Real NSS outputs (corosync-qnetd 3.0.3 tools), copied from the team reference; see its README.
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/nss-certutil-3.0.3");

struct Env {
    root: PathBuf,
}

impl Env {
    fn new(tag: &str) -> Env {
        let root = std::env::temp_dir().join(format!("qnetd-compat-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        std::os::unix::fs::symlink(QNETD, root.join("corosync-qnetd-certutil")).unwrap();
        Env { root }
    }

    fn dir(&self) -> PathBuf {
        self.root.join("nssdb")
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(self.root.join("corosync-qnetd-certutil"))
            .args(args)
            .env("QNETD_CERT_DIR", self.dir())
            .output()
            .unwrap()
    }

    fn serial(&self) -> String {
        std::fs::read_to_string(self.dir().join("serial.txt")).unwrap()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn usage_and_option_errors_match_upstream() {
    let env = Env::new("usage");
    for args in [&[][..], &["-h"][..], &["-G"][..]] {
        let o = env.run(args);
        assert_eq!(o.status.code(), Some(0), "{args:?}");
        assert!(
            stdout(&o).contains("[-i|-s] [-c certificate] [-G] [-n cluster_name]"),
            "{args:?}"
        );
        assert!(
            stdout(&o).contains("QNETD_CERT_DIR"),
            "the store override is documented"
        );
    }
    let o = env.run(&["-x"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o).trim(), "Invalid option: -x");
    let o = env.run(&["-s", "-c"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o).trim(), "Option -c requires an argument.");
    assert!(!env.dir().exists(), "nothing is created by usage or errors");
}

#[test]
fn sign_prechecks_and_exit_codes() {
    let env = Env::new("sign");
    let csr = format!("{FIXTURES}/qdevice-net-node.crq");
    // Missing request file, missing name: exit 2, upstream's words.
    let o = env.run(&["-s", "-c", "/nonexistent/x.crq", "-n", "mycluster"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o).trim(),
        "Can't open certificate file /nonexistent/x.crq"
    );
    let o = env.run(&["-s", "-c", &csr]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(stderr(&o).trim(), "You have to specify cluster name");
    // No store yet.
    let o = env.run(&["-s", "-c", &csr, "-n", "mycluster"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with("Certificate database doesn't exists. Use "),
        "{}",
        stderr(&o)
    );

    let o = env.run(&["-i", "-G"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(env.dir()).unwrap().permissions().mode() & 0o777,
        0o750
    );
    assert_eq!(env.serial(), "102\n");

    // A directory given as the request: exit 2 with the reason, and nothing on stdout (it
    // used to print "Signing cluster certificate" first).
    let o = env.run(&["-s", "-c", env.root.to_str().unwrap(), "-n", "mycluster"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).starts_with("Can't open certificate file "),
        "{}",
        stderr(&o)
    );
    assert_eq!(stdout(&o), "", "nothing is signed, so nothing is said");

    // A corrupted request: non-zero, no file, no serial consumed (upstream: exit 0, 0-byte file).
    let mut bad = std::fs::read(&csr).unwrap();
    let n = bad.len();
    bad[n - 10] ^= 0x40;
    let bad_path = env.root.join("bad.crq");
    std::fs::write(&bad_path, &bad).unwrap();
    let o = env.run(&["-s", "-c", bad_path.to_str().unwrap(), "-n", "mycluster"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("signature"), "{}", stderr(&o));
    assert!(!env.dir().join("cluster-mycluster.crt").exists());
    assert_eq!(env.serial(), "102\n");

    // CN is not the cluster name: refused, and the message says the daemon would refuse it.
    let o = env.run(&["-s", "-c", &csr, "-n", "other"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("'mycluster'") && stderr(&o).contains("refuse"),
        "{}",
        stderr(&o)
    );
    assert!(!env.dir().join("cluster-other.crt").exists());
    assert_eq!(env.serial(), "102\n");

    // The good request: upstream's lines, exit 0, DER file, mode 0640 under -G.
    let o = env.run(&["-s", "-c", &csr, "-n", "mycluster"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let crt = env.dir().join("cluster-mycluster.crt");
    assert_eq!(
        stdout(&o),
        format!(
            "Signing cluster certificate\nCertificate stored in {}\n",
            crt.display()
        )
    );
    assert_eq!(env.serial(), "103\n");
    assert_eq!(
        std::fs::metadata(&crt).unwrap().permissions().mode() & 0o777,
        0o640
    );
    no_temp_files_left(&env.dir());
}

#[test]
fn init_refuses_an_existing_nss_database() {
    let env = Env::new("nssdb");
    std::fs::create_dir_all(env.dir()).unwrap();
    std::fs::write(env.dir().join("cert9.db"), b"").unwrap();
    let o = env.run(&["-i"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("already exists. Delete it to initialize new db"));
}

fn no_temp_files_left(dir: &Path) {
    let leftovers: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp."))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn sign_refuses_a_ca_key_that_is_not_the_cas() {
    let env = Env::new("cakey");
    let csr = format!("{FIXTURES}/qdevice-net-node.crq");
    assert_eq!(env.run(&["-i"]).status.code(), Some(0));
    let dir = env.dir();
    std::fs::copy(dir.join("qnetd-server.key"), dir.join("qnetd-ca.key")).unwrap();
    let o = env.run(&["-s", "-c", &csr, "-n", "mycluster"]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stderr(&o).contains("qnetd-ca.key") && stderr(&o).contains("not the key of the CA"),
        "{}",
        stderr(&o)
    );
    assert!(!stdout(&o).contains("Certificate stored"), "{}", stdout(&o));
    assert!(!dir.join("cluster-mycluster.crt").exists());
    assert_eq!(env.serial(), "102\n", "no serial taken");
    no_temp_files_left(&dir);
}

#[test]
fn sign_refuses_a_ca_key_open_to_other_users() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new("cakeymode");
    let csr = format!("{FIXTURES}/qdevice-net-node.crq");
    assert_eq!(env.run(&["-i"]).status.code(), Some(0));
    let key = env.dir().join("qnetd-ca.key");
    let chmod = |mode| std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode));
    for mode in [0o644, 0o660, 0o604] {
        chmod(mode).unwrap();
        let o = env.run(&["-s", "-c", &csr, "-n", "mycluster"]);
        assert_eq!(o.status.code(), Some(1), "mode {mode:o}: {}", stdout(&o));
        let named = format!("{} is mode {mode:04o}", key.display());
        assert!(stderr(&o).contains(&named), "{}", stderr(&o));
        assert!(
            stderr(&o).contains(&format!("chmod 600 {}", key.display())),
            "{}",
            stderr(&o)
        );
        assert!(!env.dir().join("cluster-mycluster.crt").exists());
    }
    assert_eq!(env.serial(), "102\n", "no serial taken");
    chmod(0o640).unwrap();
    let o = env.run(&["-s", "-c", &csr, "-n", "mycluster"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}
