//! The certificate store's library API, as the daemon and the CLI use it.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use certtool::{CertStore, InitOptions, InitOutcome, StoreError};

// Real NSS outputs (corosync-qnetd 3.0.3 tools), copied from the team reference; see its README.
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/nss-certutil-3.0.3");

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("qnetd-cert-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn serial(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("serial.txt")).unwrap()
}

#[test]
fn open_missing_store_names_the_init_command() {
    let base = temp_dir("missing");
    let err = CertStore::open(&base.join("nssdb"))
        .err()
        .expect("must fail");
    assert!(matches!(err, StoreError::NotInitialised { .. }));
    let msg = err.to_string();
    assert!(msg.contains("run `qnetd cert init`"), "{msg}");
    assert!(
        msg.contains(&base.join("nssdb").display().to_string()),
        "{msg}"
    );
}

#[test]
fn init_creates_ca_and_server_and_is_idempotent() {
    let base = temp_dir("init");
    let dir = base.join("nssdb");
    let (_, outcome) = CertStore::init(&dir, InitOptions::default()).unwrap();
    assert!(matches!(
        outcome,
        InitOutcome::Created {
            dir_created: true,
            backup: None
        }
    ));
    // The ownership model (certtool::ownership): only the owner writes; the group reads the
    // server key, never the CA key.
    assert_eq!(mode(&dir), 0o750);
    assert_eq!(mode(&dir.join("qnetd-ca.key")), 0o600);
    assert_eq!(mode(&dir.join("qnetd-server.key")), 0o640);
    assert_eq!(mode(&dir.join("qnetd-cacert.crt")), 0o640);
    assert_eq!(mode(&dir.join("serial.txt")), 0o640);
    assert_eq!(serial(&dir), "102\n");
    // pcs tells an initialised store by an NSS file name in it.
    assert!(dir.join("pkcs11.txt").is_file());

    let store = CertStore::open(&dir).unwrap();
    let creds = store.server_credentials().unwrap();
    let (_, ca) = x509_parser::parse_x509_certificate(&creds.ca_cert_der).unwrap();
    let (_, server) = x509_parser::parse_x509_certificate(&creds.server_cert_der).unwrap();
    assert_eq!(ca.subject().to_string(), "CN=QNet CA");
    assert_random_ca_serial(ca.tbs_certificate.raw_serial());
    let bc = ca.basic_constraints().unwrap().unwrap();
    assert!(bc.critical && bc.value.ca && bc.value.path_len_constraint == Some(0));
    assert_eq!(server.subject().to_string(), "CN=Qnetd Server");
    assert_eq!(server.issuer().to_string(), "CN=QNet CA");
    assert_eq!(server.tbs_certificate.raw_serial(), &[102]);
    assert_eq!(server.version(), x509_parser::x509::X509Version::V3);
    server.verify_signature(Some(ca.public_key())).unwrap();
    // Backdated for routers whose clock is behind; about 100 years of life.
    assert_eq!(server.validity().not_before.to_datetime().year(), 2000);
    let years =
        server.validity().not_after.to_datetime().year() - time::OffsetDateTime::now_utc().year();
    assert!((99..=100).contains(&years), "{years}");
    // The key is the server certificate's key.
    let key = ring::signature::EcdsaKeyPair::from_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        &creds.server_key_pkcs8_der,
        &ring::rand::SystemRandom::new(),
    )
    .unwrap();
    use ring::signature::KeyPair;
    assert_eq!(
        key.public_key().as_ref(),
        server.public_key().subject_public_key.data.as_ref()
    );

    let before = std::fs::read(dir.join("qnetd-cacert.crt")).unwrap();
    let (_, again) = CertStore::init(&dir, InitOptions::default()).unwrap();
    assert!(matches!(again, InitOutcome::Unchanged));
    assert_eq!(std::fs::read(dir.join("qnetd-cacert.crt")).unwrap(), before);
    assert_eq!(serial(&dir), "102\n");
}

#[test]
fn force_recreates_and_keeps_a_backup() {
    let base = temp_dir("force");
    let dir = base.join("nssdb");
    CertStore::init(&dir, InitOptions::default()).unwrap();
    let old_ca = std::fs::read(dir.join("qnetd-cacert.crt")).unwrap();
    let opts = InitOptions {
        force: true,
        ..Default::default()
    };
    let (_, outcome) = CertStore::init(&dir, opts).unwrap();
    let InitOutcome::Created {
        backup: Some(backup),
        ..
    } = outcome
    else {
        panic!("expected a backup: {outcome:?}")
    };
    assert_eq!(
        std::fs::read(backup.join("qnetd-cacert.crt")).unwrap(),
        old_ca
    );
    assert!(backup.join("qnetd-ca.key").exists());
    assert_ne!(std::fs::read(dir.join("qnetd-cacert.crt")).unwrap(), old_ca);
    // Serials continue: never reused under the new CA.
    assert_eq!(serial(&dir), "104\n");
}

#[test]
fn no_group_write_option_gives_0750_and_0640() {
    let base = temp_dir("g");
    let dir = base.join("nssdb");
    let opts = InitOptions {
        no_group_write: true,
        ..Default::default()
    };
    CertStore::init(&dir, opts).unwrap();
    assert_eq!(mode(&dir), 0o750);
    assert_eq!(mode(&dir.join("serial.txt")), 0o640);
    assert_eq!(mode(&dir.join("qnetd-server.crt")), 0o640);
    assert_eq!(mode(&dir.join("qnetd-server.key")), 0o640);
}

/// A store directory made beforehand for a service user (root:GROUP 0750, as `qnetd install`
/// and Debian's root:coroqnetd): what root adds is root's with that group, the server key 0640
/// (the daemon reads it through the group), the CA key 0600 (root's alone), whatever the
/// directory's mode.
#[test]
fn new_files_are_roots_with_the_store_directorys_group_and_the_ca_key_is_never_the_groups() {
    use std::os::unix::fs::MetadataExt;
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: needs root to give the store another group");
        return;
    }
    const GROUP: u32 = 4242;
    for dir_mode in [0o750, 0o700] {
        let base = temp_dir(&format!("group-{dir_mode:o}"));
        let dir = base.join("nssdb");
        std::fs::create_dir_all(&dir).unwrap();
        std::os::unix::fs::chown(&dir, Some(0), Some(GROUP)).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(dir_mode)).unwrap();
        CertStore::init(&dir, InitOptions::default()).unwrap();
        for (key, gid, key_mode) in [
            ("qnetd-ca.key", 0, 0o600),
            ("qnetd-server.key", GROUP, 0o640),
        ] {
            let m = std::fs::metadata(dir.join(key)).unwrap();
            assert_eq!(m.mode() & 0o777, key_mode, "{key} in a {dir_mode:o} store");
            assert_eq!((m.uid(), m.gid()), (0, gid), "{key}");
        }
        let cert = std::fs::metadata(dir.join("qnetd-server.crt")).unwrap();
        assert_eq!((cert.uid(), cert.gid()), (0, GROUP));
    }
}

#[test]
fn signs_the_real_nss_request_and_refuses_bad_ones_without_consuming_a_serial() {
    let base = temp_dir("sign");
    let dir = base.join("nssdb");
    let (store, _) = CertStore::init(&dir, InitOptions::default()).unwrap();
    let csr = std::fs::read(format!("{FIXTURES}/qdevice-net-node.crq")).unwrap();

    // Wrong cluster name: refused, says why.
    let err = store
        .sign_request(&csr, "othercluster")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("'mycluster'") && err.contains("refuse"),
        "{err}"
    );
    // Flipped signature byte.
    let mut bad = csr.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    let err = store
        .sign_request(&bad, "mycluster")
        .unwrap_err()
        .to_string();
    assert!(err.contains("signature"), "{err}");
    // Garbage and empty input.
    assert!(store.sign_request(b"not a csr", "mycluster").is_err());
    assert!(store.sign_request(b"", "mycluster").is_err());
    assert!(store.sign_request(&csr, "../evil").is_err());
    assert!(!dir.join("cluster-mycluster.crt").exists());
    assert!(!dir.join("cluster-othercluster.crt").exists());
    assert_eq!(serial(&dir), "102\n");

    let issued = store.sign_request(&csr, "mycluster").unwrap();
    assert_eq!(issued.path, dir.join("cluster-mycluster.crt"));
    assert_eq!(serial(&dir), "103\n");
    let der = std::fs::read(&issued.path).unwrap();
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    assert_eq!(cert.subject().to_string(), "CN=mycluster");
    assert_eq!(cert.tbs_certificate.raw_serial(), &[103]);
    assert_eq!(cert.version(), x509_parser::x509::X509Version::V3);
    let ca = store.ca_cert_der().unwrap();
    let (_, ca) = x509_parser::parse_x509_certificate(&ca).unwrap();
    cert.verify_signature(Some(ca.public_key())).unwrap();
    // The node's RSA key from the request is the certified key.
    let (_, req) =
        x509_parser::certification_request::X509CertificationRequest::from_der(&csr).unwrap();
    assert_eq!(
        req.certification_request_info.subject_pki.raw,
        cert.public_key().raw
    );
    // PEM input works too.
    let pem = pem::encode(&pem::Pem::new("NEW CERTIFICATE REQUEST", csr.clone()));
    store.sign_request(pem.as_bytes(), "mycluster").unwrap();
    assert_eq!(serial(&dir), "104\n");

    let listed = store.list().unwrap();
    assert!(listed[0].entry.serial >= 1 << 63, "{:?}", listed[0]);
    let names: Vec<_> = listed
        .iter()
        .map(|l| (l.entry.serial, l.entry.name.as_str(), l.current))
        .collect();
    assert_eq!(
        names,
        vec![
            (listed[0].entry.serial, "QNet CA", true),
            (102, "Qnetd Server", true),
            (103, "mycluster", false),
            (104, "mycluster", true)
        ]
    );
}

use x509_parser::prelude::FromDer;

#[test]
fn concurrent_inits_and_signs_never_share_a_ca_or_a_serial() {
    let base = temp_dir("concurrent");
    let dir = base.join("nssdb");
    let created: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| CertStore::init(&dir, InitOptions::default()).unwrap().1))
            .collect();
        handles
            .into_iter()
            .map(|h| matches!(h.join().unwrap(), InitOutcome::Created { .. }) as usize)
            .sum()
    });
    assert_eq!(created, 1, "exactly one init creates the CA");
    assert_eq!(serial(&dir), "102\n");

    let csr = std::fs::read(format!("{FIXTURES}/qdevice-net-node.crq")).unwrap();
    let mut serials: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|_| {
                s.spawn(|| {
                    let store = CertStore::open(&dir).unwrap();
                    store.sign_request(&csr, "mycluster").unwrap().entry.serial
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    serials.sort_unstable();
    assert_eq!(serials, (103..=108).collect::<Vec<_>>());
    assert_eq!(serial(&dir), "108\n");
    let listed = CertStore::open(&dir).unwrap().list().unwrap();
    assert_eq!(listed.len(), 8);
    assert_eq!(listed.iter().filter(|l| l.current).count(), 3);
}

/// A CA serial that can never be one of upstream's (CA 101, counters from 100): 64 bits with
/// the top bit set, so 9 DER bytes, the first 0x00 to keep it positive.
fn assert_random_ca_serial(raw: &[u8]) {
    assert_eq!(raw.len(), 9, "{raw:02x?}");
    assert!(raw[0] == 0 && raw[1] & 0x80 != 0, "{raw:02x?}");
}

/// Two CAs of the same name never share a serial: NSS refuses a second certificate with the
/// same issuer and serial (SEC_ERROR_REUSED_ISSUER_AND_SERIAL), which is what a node with
/// upstream's CA (also "CN=QNet CA", serial 101) met when it was enrolled with ours.
#[test]
fn every_new_ca_has_its_own_random_serial() {
    let base = temp_dir("caserial");
    let mut serials = Vec::new();
    for n in 0..2 {
        let dir = base.join(format!("nssdb{n}"));
        let (store, _) = CertStore::init(&dir, InitOptions::default()).unwrap();
        let der = store.ca_cert_der().unwrap();
        let (_, ca) = x509_parser::parse_x509_certificate(&der).unwrap();
        assert_random_ca_serial(ca.tbs_certificate.raw_serial());
        serials.push(ca.tbs_certificate.raw_serial().to_vec());
        // The store's own numbering goes on as upstream's: server 102.
        assert_eq!(serial(&dir), "102\n");
    }
    assert_ne!(serials[0], serials[1]);
    let _ = std::fs::remove_dir_all(&base);
}
