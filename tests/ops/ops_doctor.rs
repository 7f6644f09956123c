//! `qnetd doctor`: every check, failing and passing, with injected paths, port and clock; and
//! the command itself end to end.

use crate::support::ops as ops_common;

use certtool::{CertStore, InitOptions, CA_KEY_FILE, SERVER_KEY_FILE};
use ops_common::*;
use qnetd::cli::doctor::*;
use qnetd::proto::types::TlsMode;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// An environment with a real, fresh store in `dir/store` and nothing else present.
fn env(dir: &Path) -> Env {
    let store = dir.join("store");
    CertStore::init(&store, InitOptions::default()).unwrap();
    Env {
        store,
        port: free_port(),
        listen: None,
        socket: dir.join("none.sock"),
        now: SystemTime::now(),
        built: SystemTime::now() - Duration::from_secs(3600),
        sftp_servers: vec![dir.join("libexec/sftp-server")],
        ssh_path: vec![dir.join("sbin"), dir.join("bin")],
        this_binary: Some(dir.join("qnetd")),
        daemon_account: None,
    }
}

/// notBefore/notAfter (Unix seconds) of the store's CA and server certificate.
fn validity(store: &Path) -> ((i64, i64), (i64, i64)) {
    let creds = CertStore::open(store)
        .unwrap()
        .server_credentials()
        .unwrap();
    let v = |der: &[u8]| {
        let (_, cert) = x509_parser::parse_x509_certificate(der).unwrap();
        let v = cert.validity();
        (v.not_before.timestamp(), v.not_after.timestamp())
    };
    (v(&creds.ca_cert_der), v(&creds.server_cert_der))
}

fn at(secs: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs as u64)
}

#[test]
fn store_check() {
    let tmp = TempDir::new("doctor-store");
    let mut e = env(tmp.path());
    assert_eq!(check_store(&e).level, Level::Pass);

    e.store = tmp.path().join("missing");
    let c = check_store(&e);
    assert_eq!(c.level, Level::Fail);
    assert!(c.fix.unwrap().contains("qnetd cert --store"));
    assert!(c.detail.contains("qnetd cert init"), "{}", c.detail);

    e.store = tmp.path().join("store");
    std::fs::write(e.store.join(SERVER_KEY_FILE), b"garbage").unwrap();
    assert_eq!(check_store(&e).level, Level::Fail);
}

/// Stores that `qnetd run` or signing refuses are not "ready": the server key swapped for the
/// CA key (run fails: the key is not the server certificate's), a CA key that is not PEM, a
/// CA key that is not the CA certificate's (signing refuses it).
#[test]
fn store_check_fails_what_run_or_signing_refuses() {
    let tmp = TempDir::new("doctor-unusable");
    let e = env(tmp.path());
    let (ca_key, server_key) = (e.store.join(CA_KEY_FILE), e.store.join(SERVER_KEY_FILE));
    let original_ca = std::fs::read(&ca_key).unwrap();
    let original_server = std::fs::read(&server_key).unwrap();
    let fails = |what: &str, needle: &str| {
        let c = check_store(&e);
        assert_eq!(c.level, Level::Fail, "{what}: {c:?}");
        assert!(c.detail.contains(needle), "{what}: {}", c.detail);
    };

    std::fs::write(&server_key, &original_ca).unwrap();
    fails("server key = CA key", "the key is not the certificate's");
    std::fs::write(&server_key, &original_server).unwrap();

    std::fs::write(&ca_key, b"not a key\n").unwrap();
    fails("CA key not PEM", CA_KEY_FILE);

    std::fs::write(&ca_key, &original_server).unwrap();
    fails("CA key = server key", "not the key of the CA certificate");

    std::fs::write(&ca_key, &original_ca).unwrap();
    assert_eq!(check_store(&e).level, Level::Pass);
}

#[test]
fn daemon_access_check() {
    let tmp = TempDir::new("doctor-access");
    let mut e = env(&tmp.0);
    assert_eq!(
        check_daemon_access(&e).level,
        Level::Skip,
        "no service account"
    );
    // The store as root leaves it (root:root, key 0600): the daemon's user reads nothing.
    e.daemon_account = Some(("qnetd".into(), 5403, 5403));
    let c = check_daemon_access(&e);
    assert_eq!(c.level, Level::Fail, "{c:?}");
    assert!(
        c.detail.contains(&format!("{}", e.store.display())),
        "{c:?}"
    );
    assert!(c.detail.contains(SERVER_KEY_FILE), "{c:?}");
    assert!(
        !c.detail.contains(CA_KEY_FILE),
        "the daemon never reads the CA key: {c:?}"
    );
    assert!(
        c.fix.as_deref().unwrap().starts_with("qnetd install"),
        "{c:?}"
    );
    // Given to its group as install does: passes.
    qnetd::install::service::apply_share_store(&e.store, 5403).unwrap();
    let c = check_daemon_access(&e);
    assert_eq!(c.level, Level::Pass, "{c:?}");
    // One file taken back (root:root 0600): that file is named.
    let key = e.store.join(SERVER_KEY_FILE);
    std::os::unix::fs::chown(&key, Some(0), Some(0)).unwrap();
    let c = check_daemon_access(&e);
    assert_eq!(c.level, Level::Fail, "{c:?}");
    assert!(c.detail.contains(SERVER_KEY_FILE), "{c:?}");
    assert!(!c.detail.contains("qnetd-server.crt"), "{c:?}");
}

#[test]
fn key_modes_check() {
    let tmp = TempDir::new("doctor-keys");
    let mut e = env(tmp.path());
    assert_eq!(check_key_modes(&e).level, Level::Pass);

    let key = e.store.join(CA_KEY_FILE);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let c = check_key_modes(&e);
    assert_eq!(c.level, Level::Fail);
    assert!(c.detail.contains("is mode 0644"), "{}", c.detail);
    assert_eq!(c.fix.unwrap(), format!("chmod 600 {}", key.display()));
    // What run and signing refuse: group-writable too; group-readable is Debian's layout.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o660)).unwrap();
    assert_eq!(check_key_modes(&e).level, Level::Fail);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
    assert_eq!(check_key_modes(&e).level, Level::Pass);

    e.store = tmp.path().join("missing");
    assert_eq!(check_key_modes(&e).level, Level::Skip);
}

/// The ownership model (certtool::ownership): a fresh store passes; a 0777 store (which doctor
/// passed), a group-writable one, files of the daemon's account, and a CA key its account can
/// read each fail, named, with a fix that repairs it.
#[test]
fn ownership_check() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("NOT RUN: needs root to give files to the daemon's account");
        return;
    }
    const DAEMON: u32 = 5403;
    let tmp = TempDir::new("doctor-ownership");
    let mut e = env(tmp.path());
    let store = e.store.clone();
    let chmod =
        |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    let chown = |p: &Path, u: u32, g: u32| std::os::unix::fs::chown(p, Some(u), Some(g)).unwrap();
    let c = check_ownership(&e);
    assert_eq!(c.level, Level::Pass, "{c:?}");

    chmod(&store, 0o777);
    let c = check_ownership(&e);
    assert_eq!(c.level, Level::Fail, "{c:?}");
    assert!(c.detail.contains("is mode 0777"), "{c:?}");
    assert_eq!(
        c.fix.as_deref(),
        Some(&*format!("chmod 0750 {}", store.display()))
    );
    chmod(&store, 0o750);

    chown(&store, 0, DAEMON);
    chmod(&store, 0o770);
    assert_eq!(check_ownership(&e).level, Level::Fail);
    chmod(&store, 0o750);
    assert_eq!(check_ownership(&e).level, Level::Pass);

    // Files of the daemon's account, as the daemon's own --init-store left them.
    let cacert = store.join("qnetd-cacert.crt");
    chown(&cacert, DAEMON, DAEMON);
    let c = check_ownership(&e);
    assert_eq!(c.level, Level::Fail, "{c:?}");
    assert!(
        c.detail.contains(&format!("belongs to uid {DAEMON}")),
        "{c:?}"
    );
    assert_eq!(
        c.fix.as_deref(),
        Some(&*format!("chown root {}", cacert.display()))
    );
    chown(&cacert, 0, DAEMON);

    // The CA key readable through the store's group (the old -G layout: root:GROUP 0640).
    let key = store.join(CA_KEY_FILE);
    chown(&key, 0, DAEMON);
    chmod(&key, 0o640);
    let c = check_ownership(&e);
    assert_eq!(c.level, Level::Fail, "{c:?}");
    assert!(c.detail.contains("can read the CA key"), "{c:?}");
    assert_eq!(
        c.fix.as_deref(),
        Some(&*format!("chmod 600 {}", key.display()))
    );
    // The installed account named (OpenWrt): judged by its own uid and group.
    e.daemon_account = Some(("qnetd".into(), DAEMON, DAEMON));
    assert_eq!(check_ownership(&e).level, Level::Fail);
    assert!(check_ownership(&e).fix.unwrap().contains("qnetd install"));
    chmod(&key, 0o600);
    assert_eq!(
        check_ownership(&e).level,
        Level::Pass,
        "{:?}",
        check_ownership(&e)
    );
}

#[test]
fn expiry_check() {
    let tmp = TempDir::new("doctor-expiry");
    let mut e = env(tmp.path());
    let c = check_expiry(&e);
    assert_eq!(c.level, Level::Pass, "{}", c.detail);
    assert!(c.detail.contains("CA: ") && c.detail.contains("days left"));

    let ((_, ca_end), (_, server_end)) = validity(&e.store);
    // Ten days before the first of them expires: a warning with the count.
    let first = ca_end.min(server_end);
    e.now = at(first - 10 * 86_400 + 60);
    let c = check_expiry(&e);
    assert_eq!(c.level, Level::Warn, "{}", c.detail);
    assert!(c.detail.contains("expires in 9 days") || c.detail.contains("expires in 10 days"));
    // After both are gone: the expired CA fails.
    e.now = at(ca_end.max(server_end) + 86_400);
    let c = check_expiry(&e);
    assert_eq!(c.level, Level::Fail, "{}", c.detail);
    assert!(c.detail.contains("CA expired on"));
    assert!(c.fix.is_some());

    e.store = tmp.path().join("missing");
    assert_eq!(check_expiry(&e).level, Level::Skip);
}

#[test]
fn clock_check() {
    let tmp = TempDir::new("doctor-clock");
    let mut e = env(tmp.path());
    let ca = CertStore::open(&e.store).unwrap().ca_cert_der().unwrap();
    assert_eq!(check_clock(&e, Some(&ca)).level, Level::Pass);

    // A router that booted in 1970.
    e.now = UNIX_EPOCH + Duration::from_secs(3600);
    let c = check_clock(&e, Some(&ca));
    assert_eq!(c.level, Level::Fail);
    assert!(c
        .detail
        .starts_with("the clock says 1970-01-01 01:00 UTC, but this qnetd was built on"));
    assert!(c.fix.unwrap().contains("sysntpd"));

    // Built long ago, but the clock went back to before the CA was made.
    let ((ca_start, _), _) = validity(&e.store);
    e.built = UNIX_EPOCH;
    e.now = at(ca_start - 3 * 86_400);
    let c = check_clock(&e, Some(&ca));
    assert_eq!(c.level, Level::Fail);
    assert!(
        c.detail.contains("but the CA was created on"),
        "{}",
        c.detail
    );
    // Without a store only the build time counts.
    assert_eq!(check_clock(&e, None).level, Level::Pass);
}

#[test]
fn port_check() {
    let tmp = TempDir::new("doctor-port");
    let mut e = env(tmp.path());
    let c = check_port(&e);
    assert_eq!(c.level, Level::Pass, "{}", c.detail);

    let holder = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    e.port = holder.local_addr().unwrap().port();
    let c = check_port(&e);
    assert_eq!(c.level, Level::Fail, "{}", c.detail);
    assert!(c.fix.unwrap().contains(&format!("grep :{}", e.port)));

    // Held by a daemon whose status socket answers: that is the running qnetd.
    e.socket = tmp.path().join("status.sock");
    let _server = OurServer::start(&e.socket, two_clusters());
    let c = check_port(&e);
    assert_eq!(c.level, Level::Pass);
    assert!(c.detail.contains("in use by the running qnetd"));
}

#[test]
fn sftp_server_check() {
    let tmp = TempDir::new("doctor-sftp");
    let e = env(tmp.path());
    let c = check_sftp_server(&e);
    assert_eq!(c.level, Level::Fail);
    let fix = c.fix.unwrap();
    assert!(
        fix.contains("`qnetd install` links qnetd's built-in sftp-server"),
        "{fix}"
    );
    assert!(!fix.contains("openssh-sftp-server"), "{fix}");

    let sftp = &e.sftp_servers[0];
    std::fs::create_dir_all(sftp.parent().unwrap()).unwrap();
    std::fs::write(sftp, b"").unwrap();
    // Present but not executable still fails.
    assert_eq!(check_sftp_server(&e).level, Level::Fail);
    std::fs::set_permissions(sftp, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(check_sftp_server(&e).level, Level::Pass);

    // A link to this qnetd is ours; a dangling one (Dropbear's path does not resolve) fails.
    let me = e.this_binary.clone().unwrap();
    std::fs::write(&me, b"qnetd").unwrap();
    std::fs::set_permissions(&me, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::remove_file(sftp).unwrap();
    std::os::unix::fs::symlink(&me, sftp).unwrap();
    let c = check_sftp_server(&e);
    assert_eq!(c.level, Level::Pass);
    assert!(
        c.detail.contains("qnetd's built-in sftp-server"),
        "{}",
        c.detail
    );
    std::fs::remove_file(&me).unwrap();
    assert_eq!(check_sftp_server(&e).level, Level::Fail);
}

#[test]
fn certutil_on_path_check() {
    let tmp = TempDir::new("doctor-certutil");
    let e = env(tmp.path());
    let c = check_certutil_on_path(&e);
    assert_eq!(c.level, Level::Fail);
    assert!(c.fix.unwrap().contains("qnetd install"));

    // Upstream's script in /bin: found, but not ours.
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = bin.join("corosync-qnetd-certutil");
    std::fs::write(&script, b"#!/bin/bash\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(check_certutil_on_path(&e).level, Level::Warn);

    // Our link in /sbin comes first on the PATH.
    let me = e.this_binary.clone().unwrap();
    std::fs::write(&me, b"qnetd").unwrap();
    std::fs::set_permissions(&me, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&me, std::fs::Permissions::from_mode(0o755)).unwrap();
    let sbin = tmp.path().join("sbin");
    std::fs::create_dir_all(&sbin).unwrap();
    std::os::unix::fs::symlink(&me, sbin.join("corosync-qnetd-certutil")).unwrap();
    let c = check_certutil_on_path(&e);
    assert_eq!(c.level, Level::Pass, "{}", c.detail);
}

#[test]
fn daemon_check() {
    let tmp = TempDir::new("doctor-daemon");
    let mut e = env(tmp.path());
    let c = check_daemon(&e);
    assert_eq!(c.level, Level::Warn);
    assert!(c.fix.unwrap().contains("/etc/init.d/qnetd start"));
    // The daemon's TLS setting, from its status: only required TLS with client certificates
    // passes; anything a LAN host can get past is a warning that says how.
    for (i, (tls, cert_required, expect)) in [
        (TlsMode::Required, true, None),
        (TlsMode::Supported, true, Some("TLS is on but not required")),
        (TlsMode::Unsupported, true, Some("TLS is off")),
        (
            TlsMode::Required,
            false,
            Some("client certificates are not required"),
        ),
    ]
    .into_iter()
    .enumerate()
    {
        e.socket = tmp.path().join(format!("status{i}.sock"));
        let mut st = two_clusters();
        st.tls = tls;
        st.client_cert_required = cert_required;
        let _server = OurServer::start(&e.socket, st);
        let c = check_daemon(&e);
        match expect {
            None => assert_eq!(c.level, Level::Pass, "{tls:?}: {}", c.detail),
            Some(words) => {
                assert_eq!(c.level, Level::Warn, "{tls:?}: {}", c.detail);
                assert!(c.detail.contains(words), "{tls:?}: {}", c.detail);
                assert!(c.fix.unwrap().contains("tls=required"));
            }
        }
    }
}

#[test]
fn all_checks_in_order() {
    let tmp = TempDir::new("doctor-all");
    let e = env(tmp.path());
    let names: Vec<&str> = run_checks(&e).iter().map(|c| c.name).collect();
    assert_eq!(
        names,
        [
            "certificate store",
            "key file modes",
            "store ownership",
            "store readable by the daemon",
            "certificate expiry",
            "clock",
            "port",
            "sftp-server",
            "corosync-qnetd-certutil",
            "daemon"
        ]
    );
}

#[test]
fn doctor_command_prints_fixes_and_the_setup_line() {
    let tmp = TempDir::new("doctor-cli");
    let store = tmp.path().join("nostore");
    let (out, _, code) = run(
        Path::new(env!("CARGO_BIN_EXE_qnetd")),
        &[
            "doctor",
            "--store",
            store.to_str().unwrap(),
            "--port",
            &free_port().to_string(),
            "--address",
            "192.168.1.1",
        ],
    );
    let out = String::from_utf8(out).unwrap();
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("FAIL  certificate store"), "{out}");
    assert!(
        out.contains("fix: create it with `qnetd cert --store"),
        "{out}"
    );
    assert!(out.contains("PASS  port"), "{out}");
    assert!(
        out.contains("\n  pvecm qdevice setup 192.168.1.1\n"),
        "{out}"
    );
}
