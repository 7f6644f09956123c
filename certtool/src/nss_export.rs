//! `qnetd cert export-nss`: the way back. Writes, from our store, the NSS database Debian's
//! corosync-qnetd serves from, laid out as `corosync-qnetd-certutil -i` lays it out: the CA as
//! "QNet CA" (trust `CT,,`) with its key, the server certificate as "QNetd Cert" with its key,
//! an empty pwdfile.txt, serial.txt, noise.txt, qnetd-cacert.crt (NSS text dump + PEM, as
//! upstream writes it) and every current cluster-NAME.crt. Upstream's certutil -s can then
//! go on signing, with serials after ours.
//!
//! The database is built in a private temp directory with certutil/pk12util and only then
//! copied in (key4.db and pkcs11.txt first, cert9.db last, since cert9.db is what makes
//! upstream's tools see a database). Files already there are kept: in the store's own
//! directory qnetd-cacert.crt, serial.txt and cluster-NAME.crt are ours and already in a form
//! upstream reads; our pcs marker pkcs11.txt is replaced by NSS's real one.

use std::fs;
use std::path::{Path, PathBuf};

use crate::fsutil;
use crate::nss_import::private_temp_dir;
use crate::nss_tools::{self, fail, Db, MigrateError, CA_NICKNAME, SERVER_NICKNAME};
use crate::p12::{self, Identity};
use crate::registry::Kind;
use crate::store::{self, CertStore, CA_CERT_FILE, CA_KEY_FILE, SERIAL_FILE};

const TRANSFER_PASSWORD: &str = "qnetd-export";

pub struct ExportOptions {
    /// Our store.
    pub store: PathBuf,
    /// The NSS database directory to write.
    pub nssdb: PathBuf,
}

#[derive(Debug)]
pub struct ExportReport {
    pub nssdb: PathBuf,
    /// Files written (empty: the directory already held all of it).
    pub written: Vec<String>,
    /// Cluster certificates now in the directory.
    pub clusters: Vec<String>,
}

/// What the export takes from our store.
struct Source {
    ca_der: Vec<u8>,
    ca_key: Vec<u8>,
    server_der: Vec<u8>,
    server_key: Vec<u8>,
    clusters: Vec<(String, Vec<u8>)>,
    serial: Option<String>,
}

pub fn export(opts: &ExportOptions) -> Result<ExportReport, MigrateError> {
    let src = read_store(&opts.store)?;
    let target = &opts.nssdb;
    let has_db = target.join(nss_tools::CERT_DB).exists();
    if has_db {
        check_existing_db(target, &src)?;
    }
    let mut files = plain_files(&src, target)?;
    let staging = Staging::new()?;
    if !has_db || !target.join(CA_CERT_FILE).exists() {
        build_database(&staging, &src)?;
    }
    if !target.join(CA_CERT_FILE).exists() {
        let text = Db::new(&staging.dir).certificate_text_and_pem(CA_NICKNAME)?;
        files.push((CA_CERT_FILE.to_string(), text, store::CA_EXPORT_MODE));
    }
    if !has_db {
        for f in [
            nss_tools::KEY_DB,
            nss_tools::MODULE_FILE,
            nss_tools::CERT_DB,
        ] {
            let mut data = fsutil::read(&staging.dir.join(f))?;
            if f == nss_tools::MODULE_FILE {
                data = module_file_for(&data, &staging.dir, target);
            }
            files.push((f.to_string(), data, db_file_mode(target)));
        }
    }
    drop(staging);
    let clusters = src.clusters.iter().map(|(f, _)| f.clone()).collect();
    if files.is_empty() {
        return Ok(ExportReport {
            nssdb: target.clone(),
            written: Vec::new(),
            clusters,
        });
    }
    let owner = fsutil::new_store_owner(&store::config_dir(target));
    fsutil::create_dir(target, crate::ownership::DIR_MODE, owner)?;
    // As every writer of a store: refused where another account could change what we write.
    let _lock = fsutil::StoreLock::acquire(target)?;
    let mut written = Vec::new();
    for (file, data, mode) in &files {
        fsutil::write_atomic(&target.join(file), data, *mode, owner)?;
        written.push(file.clone());
    }
    verify(target)?;
    Ok(ExportReport {
        nssdb: target.clone(),
        written,
        clusters,
    })
}

fn read_store(dir: &Path) -> Result<Source, MigrateError> {
    let s = CertStore::open(dir)?;
    let creds = s.server_credentials()?;
    let ca_key = store::read_pem(&s.path(CA_KEY_FILE), &["PRIVATE KEY"])?;
    let mut clusters = Vec::new();
    for l in s.list()? {
        // The store's files only: a bundle's certificate never was one (nor is it upstream's).
        if l.in_store && l.entry.kind == Kind::Cluster {
            let file = store::cluster_cert_file(&l.entry.name);
            clusters.push((file.clone(), fsutil::read(&s.path(&file))?));
        }
    }
    clusters.sort();
    clusters.dedup_by(|a, b| a.0 == b.0);
    let serial = fsutil::read(&s.path(SERIAL_FILE))
        .ok()
        .map(|d| String::from_utf8_lossy(&d).into_owned());
    Ok(Source {
        ca_der: creds.ca_cert_der,
        ca_key,
        server_der: creds.server_cert_der,
        server_key: creds.server_key_pkcs8_der,
        clusters,
        serial,
    })
}

/// A directory that already has an NSS database: fine if it is this CA and server (an
/// in-place import, or an earlier export), refused otherwise.
fn check_existing_db(target: &Path, src: &Source) -> Result<(), MigrateError> {
    let staging = Staging::new()?;
    for f in [nss_tools::CERT_DB, nss_tools::KEY_DB] {
        fsutil::copy_bounded(&target.join(f), &staging.dir.join(f), fsutil::cap::NSS)
            .map_err(|e| MigrateError(format!("cannot copy {}: {e}", target.join(f).display())))?;
    }
    let db = Db::new(&staging.dir);
    let pwdfile = target.join(nss_tools::PWD_FILE);
    let keys = if pwdfile.exists() {
        db.key_nicknames(&pwdfile)?
    } else {
        Vec::new()
    };
    let same = |nick: &str, der: &[u8]| -> bool {
        keys.iter().any(|k| k == nick) && db.certificate_der(nick).is_ok_and(|d| d == der)
    };
    if same(CA_NICKNAME, &src.ca_der) && same(SERVER_NICKNAME, &src.server_der) {
        return Ok(());
    }
    fail(format!(
        "{} already holds an NSS database, and not one with this store's {CA_NICKNAME:?} and \
         {SERVER_NICKNAME:?} and their keys; move it away first (it may be what some nodes \
         were enrolled with)",
        target.display()
    ))
}

/// pwdfile.txt, noise.txt, serial.txt and the cluster certificates the target lacks.
fn plain_files(src: &Source, target: &Path) -> Result<Vec<(String, Vec<u8>, u32)>, MigrateError> {
    let mode = db_file_mode(target);
    let mut files = Vec::new();
    for (file, data) in &src.clusters {
        match fsutil::read_bounded(&target.join(file), fsutil::cap::NSS, fsutil::Links::Refuse) {
            Ok(d) if d == *data => {}
            Ok(_) => {
                return fail(format!(
                    "{} exists and is another certificate than the store's; refusing to \
                     overwrite it",
                    target.join(file).display()
                ))
            }
            Err(_) => files.push((file.clone(), data.clone(), mode)),
        }
    }
    if let Some(serial) = &src.serial {
        let ours: u64 = serial.trim().parse().unwrap_or(0);
        let theirs = fsutil::read_bounded(
            &target.join(SERIAL_FILE),
            fsutil::cap::PEM,
            fsutil::Links::Refuse,
        )
        .map(|d| String::from_utf8_lossy(&d).into_owned())
        .ok()
        .and_then(|t| t.trim().parse::<u64>().ok());
        if theirs.is_none_or(|t| t < ours) {
            files.push((SERIAL_FILE.into(), format!("{ours}\n").into_bytes(), mode));
        }
    }
    if !target.join(nss_tools::PWD_FILE).exists() {
        files.push((nss_tools::PWD_FILE.into(), Vec::new(), mode));
    }
    if !target.join(nss_tools::NOISE_FILE).exists() {
        files.push((nss_tools::NOISE_FILE.into(), noise()?, mode));
    }
    Ok(files)
}

/// Upstream's noise.txt: 40 hex digits and a newline (only its `-i` reads it).
fn noise() -> Result<Vec<u8>, MigrateError> {
    use ring::rand::SecureRandom;
    let mut buf = [0u8; 20];
    ring::rand::SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| MigrateError("the system random source failed".into()))?;
    let mut hex: String = buf.iter().map(|b| format!("{b:02x}")).collect();
    hex.push('\n');
    Ok(hex.into_bytes())
}

/// The database, made in `staging` by NSS's tools.
fn build_database(staging: &Staging, src: &Source) -> Result<(), MigrateError> {
    let pwdfile = staging.dir.join(nss_tools::PWD_FILE);
    fsutil::write_atomic(&pwdfile, b"", 0o600, None)?;
    let db = Db::new(&staging.dir);
    db.create(&pwdfile)?;
    for (key, cert, nick) in [
        (&src.ca_key, &src.ca_der, CA_NICKNAME),
        (&src.server_key, &src.server_der, SERVER_NICKNAME),
    ] {
        let bundle = p12::build(
            &Identity {
                key_pkcs8_der: key,
                cert_der: cert,
                nickname: nick,
                ca_cert_der: &src.ca_der,
                ca_nickname: CA_NICKNAME,
            },
            TRANSFER_PASSWORD,
        )?;
        let file = staging.dir.join("identity.p12");
        fsutil::write_atomic(&file, &bundle, 0o600, None)?;
        db.import_p12(&pwdfile, &file, TRANSFER_PASSWORD)?;
        let _ = fs::remove_file(&file);
    }
    // Upstream's `-t "CT,,"`: the CA is trusted to issue client (and server) certificates.
    db.set_trust(&pwdfile, CA_NICKNAME, "CT,,")?;
    Ok(())
}

/// NSS's pkcs11.txt names the directory it was made in; name the target instead.
fn module_file_for(data: &[u8], staging: &Path, target: &Path) -> Vec<u8> {
    let target = fs::canonicalize(target).unwrap_or_else(|_| target.to_path_buf());
    String::from_utf8_lossy(data)
        .replace(
            &staging.display().to_string(),
            &target.display().to_string(),
        )
        .into_bytes()
}

/// Upstream's modes: 0660 in a group-writable directory, else 0640.
fn db_file_mode(target: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    match fs::metadata(target) {
        Ok(m) if m.permissions().mode() & 0o020 == 0 => 0o640,
        _ => 0o660,
    }
}

/// The written database lists the CA with its trust and the server certificate.
fn verify(target: &Path) -> Result<(), MigrateError> {
    let staging = Staging::new()?;
    for f in [nss_tools::CERT_DB, nss_tools::KEY_DB] {
        fsutil::copy_bounded(&target.join(f), &staging.dir.join(f), fsutil::cap::NSS)
            .map_err(|e| MigrateError(format!("cannot copy {}: {e}", target.join(f).display())))?;
    }
    let db = Db::new(&staging.dir);
    let certs = db.certificates()?;
    let keys = db.key_nicknames(&target.join(nss_tools::PWD_FILE))?;
    let ca_ok = certs
        .iter()
        .any(|c| c.nickname == CA_NICKNAME && c.trust.starts_with("CT"));
    let keys_ok = [CA_NICKNAME, SERVER_NICKNAME]
        .iter()
        .all(|n| keys.iter().any(|k| k == n));
    if ca_ok && keys_ok {
        Ok(())
    } else {
        fail(format!(
            "the NSS database written to {} does not list {CA_NICKNAME:?} (trust CT) and \
             {SERVER_NICKNAME:?} with their keys: certificates {certs:?}, keys {keys:?}",
            target.display()
        ))
    }
}

/// A private temp directory, removed on drop.
struct Staging {
    dir: PathBuf,
}

impl Staging {
    fn new() -> Result<Staging, MigrateError> {
        Ok(Staging {
            dir: private_temp_dir("qnetd-export")?,
        })
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}
