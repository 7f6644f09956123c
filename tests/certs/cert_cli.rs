//! `qnetd cert …`: the native commands, their messages and exit codes, and the certificates
//! they make compared with what upstream's NSS script made (fixtures/nss-certutil-3.0.3).

use std::path::PathBuf;
use std::process::{Command, Output};

use x509_parser::prelude::*;

const QNETD: &str = env!("CARGO_BIN_EXE_qnetd");
// Real NSS outputs (corosync-qnetd 3.0.3 tools), copied from the team reference; see its README.
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/nss-certutil-3.0.3");

struct Store {
    dir: PathBuf,
}

impl Store {
    fn new(tag: &str) -> Store {
        let base = std::env::temp_dir().join(format!("qnetd-cli-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        Store {
            dir: base.join("nssdb"),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(QNETD)
            .arg("cert")
            .arg("--dir")
            .arg(&self.dir)
            .args(args)
            .output()
            .unwrap()
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Some(base) = self.dir.parent() {
            let _ = std::fs::remove_dir_all(base);
        }
    }
}

fn out(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn commands_before_init_say_how_to_init() {
    let s = Store::new("noinit");
    for args in [
        &["list"][..],
        &["sign", "--csr", "/dev/null", "--cluster", "x"][..],
    ] {
        let o = s.run(args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(
            out(&o).contains("run `qnetd cert init` to create it"),
            "{}",
            out(&o)
        );
    }
}

#[test]
fn init_is_idempotent_and_force_keeps_a_backup() {
    let s = Store::new("init");
    let first = s.run(&["init"]);
    assert!(first.status.success(), "{}", out(&first));
    let ca_serial = |text: &str| -> u64 {
        let rest = text.split("\"QNet CA\" serial ").nth(1).expect("CA line");
        rest.split(' ').next().unwrap().parse().unwrap()
    };
    assert!(ca_serial(&out(&first)) >= 1 << 63, "{}", out(&first));
    assert!(
        out(&first).contains("\"Qnetd Server\" serial 102"),
        "{}",
        out(&first)
    );
    let ca = std::fs::read(s.dir.join("qnetd-cacert.crt")).unwrap();

    let second = s.run(&["init"]);
    assert!(second.status.success());
    assert!(out(&second).contains("nothing changed"), "{}", out(&second));
    assert_eq!(std::fs::read(s.dir.join("qnetd-cacert.crt")).unwrap(), ca);

    let forced = s.run(&["init", "--force"]);
    assert!(forced.status.success(), "{}", out(&forced));
    let text = out(&forced);
    let backup = text
        .lines()
        .find_map(|l| l.strip_prefix("previous certificates moved to "))
        .expect("backup line");
    assert_eq!(
        std::fs::read(PathBuf::from(backup).join("qnetd-cacert.crt")).unwrap(),
        ca
    );
    assert!(text.contains("\"Qnetd Server\" serial 104"), "{text}");
    assert_ne!(ca_serial(&text), ca_serial(&out(&first)), "{text}");
}

#[test]
fn signed_certificate_matches_upstreams_profile() {
    let s = Store::new("profile");
    assert!(s.run(&["init"]).status.success());
    let csr = format!("{FIXTURES}/qdevice-net-node.crq");
    let wrong = s.run(&["sign", "--csr", &csr, "--cluster", "other"]);
    assert_eq!(wrong.status.code(), Some(1));
    assert!(out(&wrong).contains("would refuse"), "{}", out(&wrong));
    let o = s.run(&["sign", "--csr", &csr, "--cluster", "mycluster"]);
    assert!(o.status.success(), "{}", out(&o));

    let ours = std::fs::read(s.dir.join("cluster-mycluster.crt")).unwrap();
    let theirs = std::fs::read(format!("{FIXTURES}/cluster-mycluster.crt")).unwrap();
    let (_, ours) = parse_x509_certificate(&ours).unwrap();
    let (_, theirs) = parse_x509_certificate(&theirs).unwrap();
    // Same request, so same subject encoding and key; same shape otherwise.
    assert_eq!(ours.subject().as_raw(), theirs.subject().as_raw());
    assert_eq!(ours.public_key().raw, theirs.public_key().raw);
    assert_eq!(ours.version(), theirs.version());
    assert_eq!(ours.issuer().to_string(), theirs.issuer().to_string());
    assert!(ours.extensions().is_empty() && theirs.extensions().is_empty());
    assert_eq!(ours.tbs_certificate.raw_serial(), &[103]);
    assert!(ours.validity().not_after.to_datetime() >= theirs.validity().not_after.to_datetime());

    // Upstream's CA has exactly one extension, critical CA:TRUE pathlen 0; ours has that too.
    let ca_pem = std::fs::read(s.dir.join("qnetd-cacert.crt")).unwrap();
    let up_pem = std::fs::read(format!("{FIXTURES}/qnetd-cacert.crt")).unwrap();
    for pem_file in [ca_pem, up_pem] {
        let (_, pem) = x509_parser::pem::parse_x509_pem(&pem_file[find_pem(&pem_file)..]).unwrap();
        let ca = pem.parse_x509().unwrap();
        let bc = ca.basic_constraints().unwrap().unwrap();
        assert!(bc.critical && bc.value.ca && bc.value.path_len_constraint == Some(0));
        assert_eq!(ca.subject().to_string(), "CN=QNet CA");
    }
}

fn find_pem(data: &[u8]) -> usize {
    data.windows(10).position(|w| w == b"-----BEGIN").unwrap()
}

#[test]
fn list_shows_every_certificate_and_warns_before_expiry() {
    let s = Store::new("list");
    assert!(s.run(&["init"]).status.success());
    let csr = format!("{FIXTURES}/qdevice-net-node.crq");
    assert!(s
        .run(&["sign", "--csr", &csr, "--cluster", "mycluster"])
        .status
        .success());
    assert!(s
        .run(&["sign", "--csr", &csr, "--cluster", "mycluster"])
        .status
        .success());
    let o = s.run(&["list"]);
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let rows: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(rows.len(), 4, "{text}");
    assert!(rows[0].starts_with("ca") && rows[0].contains("QNet CA"));
    // The CA's serial is random and 64-bit: the NOT-AFTER column still starts at the same
    // place in the header and in every row.
    let header = text.lines().next().unwrap();
    let column = header.find("NOT-AFTER").unwrap();
    for row in &rows {
        let date = &row[column..column + 10];
        assert!(
            date.len() == 10 && date.as_bytes()[4] == b'-' && date.as_bytes()[7] == b'-',
            "misaligned row {row:?} in\n{text}"
        );
    }
    assert!(rows[1].starts_with("server") && rows[1].contains("Qnetd Server"));
    assert!(
        rows[2].contains("mycluster") && rows[2].ends_with("(replaced)"),
        "{text}"
    );
    assert!(
        rows[3].contains("mycluster") && rows[3].contains(" 104 ") && !rows[3].contains("replaced")
    );
    // The SHA-256 fingerprint shown is that of the file.
    let der = std::fs::read(s.dir.join("cluster-mycluster.crt")).unwrap();
    let fp: Vec<String> = ring::digest::digest(&ring::digest::SHA256, &der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    assert!(rows[3].contains(&fp.join(":")), "{text}");
    assert!(o.stderr.is_empty(), "no warning for 100-year certificates");

    // Make the registry say the current cluster certificate ends in 10 days.
    let reg_path = s.dir.join("registry.txt");
    let reg = std::fs::read_to_string(&reg_path).unwrap();
    let soon = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 10 * 86_400
        + 3_600;
    let reg: String = reg
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            if f.first() == Some(&"104") {
                format!("{}\t{}\t{soon}\t{}\t{}\n", f[0], f[1], f[3], f[4])
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(&reg_path, reg).unwrap();
    let o = s.run(&["list"]);
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("warning: cluster certificate \"mycluster\" (serial 104) expires in 10 days"),
        "{err}"
    );
}

/// The store's `cluster-NAME.crt` is what pvecm fetched for the cluster's nodes (signed from
/// their request): a bundle made later for the same cluster leaves it alone, writes its own
/// certificate into the bundle, and records it in the registry; `list` shows both in use.
#[test]
fn bundle_keeps_the_stores_cluster_certificate_signed_from_the_request() {
    let s = Store::new("bundle-keeps");
    assert!(s.run(&["init"]).status.success());
    let csr = format!("{FIXTURES}/qdevice-net-node.crq");
    assert!(s
        .run(&["sign", "--csr", &csr, "--cluster", "mycluster"])
        .status
        .success());
    let stored = s.dir.join("cluster-mycluster.crt");
    let signed = std::fs::read(&stored).unwrap();
    let bundle_dir = s.dir.parent().unwrap().join("bundle");
    let o = s.run(&[
        "bundle",
        "--cluster",
        "mycluster",
        "--out",
        bundle_dir.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", out(&o));
    assert!(
        std::fs::read(&stored).unwrap() == signed,
        "the bundle replaced the store's cluster certificate"
    );
    assert!(out(&o).contains("into the bundle only"), "{}", out(&o));
    let bundled = std::fs::read(bundle_dir.join("cluster-mycluster.crt")).unwrap();
    assert_ne!(bundled, signed);
    let (_, cert) = X509Certificate::from_der(&bundled).unwrap();
    assert_eq!(cert.tbs_certificate.raw_serial(), [104]);
    // Both are in the registry, neither shown as replaced.
    let o = s.run(&["list"]);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let clusters: Vec<&str> = text.lines().filter(|l| l.starts_with("cluster")).collect();
    assert_eq!(clusters.len(), 2, "{text}");
    assert!(
        clusters[0].contains(" 103 ") && clusters[1].contains(" 104 "),
        "{text}"
    );
    assert!(!text.contains("replaced"), "{text}");
}

#[test]
fn revoke_a_cluster_then_sign_again_and_list_shows_which_is_revoked() {
    let s = Store::new("revoke");
    assert!(s.run(&["init"]).status.success());
    let csr = format!("{FIXTURES}/qdevice-net-node.crq");
    for _ in 0..2 {
        assert!(s
            .run(&["sign", "--csr", &csr, "--cluster", "mycluster"])
            .status
            .success());
    }
    let o = s.run(&["revoke", "mycluster", "--reason", "node laptop stolen"]);
    assert!(o.status.success(), "{}", out(&o));
    let text = out(&o);
    assert!(
        text.contains("revoked the certificate of cluster \"mycluster\" (serial 103)")
            && text.contains("(serial 104)")
            && text.contains("qnetd reload"),
        "{text}"
    );
    let reg = std::fs::read_to_string(s.dir.join("registry.txt")).unwrap();
    assert!(reg.contains("revoked\t104\t"), "{reg}");
    assert!(reg.contains("\tnode laptop stolen\n"), "{reg}");

    // A new certificate for the cluster is signed as before and is not revoked.
    let o = s.run(&["sign", "--csr", &csr, "--cluster", "mycluster"]);
    assert!(o.status.success(), "{}", out(&o));
    assert!(out(&o).contains("serial 105"), "{}", out(&o));
    let o = s.run(&["list"]);
    assert!(o.status.success(), "{}", out(&o));
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let row = |serial: &str| {
        text.lines()
            .find(|l| l.contains(&format!(" {serial} ")))
            .unwrap_or_else(|| panic!("no row for {serial}: {text}"))
            .to_string()
    };
    for serial in ["103", "104"] {
        assert!(
            row(serial).contains("(revoked 20") && row(serial).ends_with(": node laptop stolen)"),
            "{text}"
        );
    }
    assert!(!row("105").contains("revoked") && !row("105").contains("replaced"));

    // Again: nothing changes, the first reason stays.
    let o = s.run(&["revoke", "--serial", "104", "--reason", "other"]);
    assert!(o.status.success(), "{}", out(&o));
    assert!(
        out(&o).contains("already revoked") && out(&o).contains("node laptop stolen"),
        "{}",
        out(&o)
    );
}

#[test]
fn revoke_refuses_what_it_cannot_revoke_in_words() {
    let s = Store::new("revoke-bad");
    assert!(s.run(&["init"]).status.success());
    // A command line that names nothing, or too much, is a usage error (2).
    for (args, words) in [
        (&["revoke"][..], "either a cluster name"),
        (&["revoke", "a", "--serial", "103"][..], "not both"),
        (&["revoke", "--serial", "x"][..], "decimal number"),
    ] {
        let o = s.run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", out(&o));
        assert!(out(&o).contains(words), "{args:?}: {}", out(&o));
        assert!(
            out(&o).contains("`qnetd cert revoke --help`"),
            "{}",
            out(&o)
        );
    }
    for (args, words) in [
        (
            &["revoke", "nosuch"][..],
            "no certificate for cluster \"nosuch\"",
        ),
        (&["revoke", "--serial", "101"][..], "the ca certificate"),
        (
            &["revoke", "--serial", "200"][..],
            "has not been issued yet",
        ),
    ] {
        let o = s.run(args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", out(&o));
        assert!(out(&o).contains(words), "{args:?}: {}", out(&o));
    }
}

/// Runs `qnetd args` with its stdout a pipe nobody reads any more (as `qnetd … | true` once
/// `true` has exited): the reader is gone before qnetd starts, so the outcome is certain.
fn run_into_closed_pipe(args: &[&str]) -> Output {
    let mut reader = Command::new("true")
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pipe = reader.stdin.take().unwrap();
    reader.wait().unwrap();
    Command::new(QNETD)
        .args(args)
        .stdout(pipe)
        .output()
        .unwrap()
}

#[test]
fn closed_stdout_ends_commands_quietly() {
    let s = Store::new("epipe");
    assert!(s.run(&["init"]).status.success());
    let dir = s.dir.to_str().unwrap();
    for args in [
        &["cert", "--dir", dir, "list"][..],
        &["--help"][..],
        &["--version"][..],
        &["doctor", "--store", dir][..],
    ] {
        let o = run_into_closed_pipe(args);
        // 141 = 128 + SIGPIPE, what a shell reports for a tool that SIGPIPE ended.
        assert_eq!(o.status.code(), Some(141), "{args:?}: {}", out(&o));
        assert!(o.stderr.is_empty(), "{args:?}: {}", out(&o));
    }
}

/// One name for the store everywhere (`--store`, `--dir` kept for `qnetd cert`), and
/// `QNETD_CERT_DIR` honoured by every command that has a store, not only by
/// corosync-qnetd-certutil: corosync-qnetd too.
#[test]
fn store_flag_and_environment_are_the_same_for_every_command() {
    let s = Store::new("storeflag");
    let dir = s.dir.to_str().unwrap();
    let ran = |env: Option<&str>, args: &[&str]| {
        let mut c = Command::new(QNETD);
        c.args(args).env_remove("QNETD_CERT_DIR");
        if let Some(d) = env {
            c.env("QNETD_CERT_DIR", d);
        }
        c.output().unwrap()
    };
    let o = ran(None, &["cert", "--store", dir, "init"]);
    assert!(o.status.success(), "cert --store init: {}", out(&o));
    assert!(s.dir.join("qnetd-ca.key").is_file());
    let listed = |o: &Output| out(o).contains("Qnetd Server");
    assert!(listed(&ran(None, &["cert", "--dir", dir, "list"])), "--dir");
    assert!(
        listed(&ran(Some(dir), &["cert", "list"])),
        "QNETD_CERT_DIR for cert"
    );
    // doctor reads the store the environment names (its store check passes there).
    let o = ran(Some(dir), &["doctor", "--port", "1"]);
    let passed = out(&o)
        .lines()
        .any(|l| l.starts_with("PASS") && l.contains("certificate store") && l.contains(dir));
    assert!(passed, "QNETD_CERT_DIR for doctor: {}", out(&o));
    // run refuses a missing store by its path: the environment's, or --store's over it.
    let missing = s.dir.with_file_name("missing");
    let missing = missing.to_str().unwrap();
    let o = ran(
        Some(missing),
        &["run", "-l", "127.0.0.1", "-p", "1", "--tls", "on"],
    );
    assert!(
        out(&o).contains(missing),
        "QNETD_CERT_DIR for run: {}",
        out(&o)
    );
    let o = ran(
        Some(dir),
        &[
            "run",
            "-l",
            "127.0.0.1",
            "-p",
            "1",
            "--tls",
            "on",
            "--store",
            missing,
        ],
    );
    assert!(
        out(&o).contains(missing),
        "--store over the environment: {}",
        out(&o)
    );
    // Upstream's command line starts from the same default store as `qnetd run`.
    let o = {
        use std::os::unix::process::CommandExt;
        let mut c = Command::new(QNETD);
        c.arg0("corosync-qnetd")
            .args(["-f", "-l", "127.0.0.1", "-p", "1", "-s", "on"])
            .env("QNETD_CERT_DIR", missing);
        c.output().unwrap()
    };
    assert!(
        out(&o).contains(missing),
        "QNETD_CERT_DIR for corosync-qnetd: {}",
        out(&o)
    );
}
