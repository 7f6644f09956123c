//! `qnetd cert import-nss`: turns the NSS database of Debian's corosync-qnetd (made by
//! `corosync-qnetd-certutil -i`, signed into by `-s`) into our store, keeping its CA, so that
//! every node enrolled against it keeps working without being touched.
//!
//! What is taken over, and how:
//! - the CA "QNet CA": certificate and private key (via `pk12util -o`, see `p12_read`);
//! - the server certificate "QNetd Cert" with its own key, re-used as it is rather than a new
//!   one signed by the same CA. The nodes would accept either (they trust the CA and check the
//!   CN "Qnetd Server"), but re-using it consumes no serial and changes no upstream file
//!   (serial.txt), and both daemons then present the very same certificate, so moving back and
//!   forth is invisible to the nodes;
//! - every `cluster-NAME.crt` in the directory that the CA signed, into the registry;
//! - the serial counter: the store's serial.txt is upstream's (same meaning: the last serial
//!   used), raised to the highest serial seen if a certificate the CA signed carries a higher
//!   one (not the CA's own: ours is random, see `profile::random_ca_serial`).
//!
//! In place (the default) our files go next to upstream's, whose names we share on purpose:
//! `qnetd-cacert.crt` and `cluster-NAME.crt` are the same certificates in the same formats
//! (our reader skips the NSS text before the PEM block), `serial.txt` has the same meaning.
//! `pkcs11.txt`, which our own store writes as a marker for pcs, is upstream's real NSS module
//! file here and is left alone (cert9.db already tells pcs the store is initialised). The
//! files we add have names upstream never uses (qnetd-ca.key, qnetd-server.key,
//! qnetd-server.crt, registry.txt, .lock), so no upstream file is written and the old daemon
//! can still be started on the directory.
//!
//! Nothing is written until the whole database has been read and checked. The NSS tools run on
//! a private copy of cert9.db and key4.db, so not even SQLite touches the originals.

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use rcgen::{KeyPair, PublicKeyData};

use crate::asn1::oid_string;
use crate::certinfo;
use crate::fsutil::{self, StoreLock};
use crate::nss_tools::{self, fail, Db, MigrateError, CA_NICKNAME, SERVER_NICKNAME};
use crate::ownership;
use crate::registry::{self, Entry, Kind};
use crate::store::{self, CA_CERT_FILE, CA_KEY_FILE, REGISTRY_FILE, SERIAL_FILE};
use crate::store::{SERVER_CERT_FILE, SERVER_KEY_FILE};
use crate::{profile, sha256_hex};

/// Password of the PKCS#12 files that exist for a moment in our private temp directory.
const TRANSFER_PASSWORD: &str = "qnetd-import";

pub struct ImportOptions {
    /// The upstream database directory.
    pub nssdb: PathBuf,
    /// Where our store goes; `None` = in place, into `nssdb`.
    pub out: Option<PathBuf>,
}

/// What an import did.
#[derive(Debug)]
pub struct ImportReport {
    pub store: PathBuf,
    pub in_place: bool,
    pub ca: Entry,
    pub server: Entry,
    /// Every cluster certificate of the upstream directory taken over.
    pub clusters: Vec<Entry>,
    /// Files written into the store (empty: it was already imported, nothing to do).
    pub written: Vec<String>,
    /// Files of the upstream directory that were not taken over, and why.
    pub skipped: Vec<String>,
    /// The store's serial.txt after the import: the next certificate gets this + 1.
    pub last_serial: u64,
}

/// Everything read from the upstream directory.
struct Upstream {
    ca_der: Vec<u8>,
    ca_key: Vec<u8>,
    server_der: Vec<u8>,
    server_key: Vec<u8>,
    ca_export: Vec<u8>,
    clusters: Vec<(String, Vec<u8>, Entry)>,
    skipped: Vec<String>,
    last_serial: u64,
}

pub fn import(opts: &ImportOptions) -> Result<ImportReport, MigrateError> {
    let up = read_upstream(&opts.nssdb)?;
    let target = opts.out.clone().unwrap_or_else(|| opts.nssdb.clone());
    let in_place = same_dir(&target, &opts.nssdb);
    if !in_place && target.join(nss_tools::CERT_DB).exists() {
        return fail(format!(
            "{} holds an NSS database of its own; --out wants a new directory (or one this \
             command wrote before)",
            target.display()
        ));
    }
    let plan = plan(&up, &target, in_place)?;
    let written = if plan.files.is_empty() {
        Vec::new()
    } else {
        write(&target, &plan)?
    };
    let ca = store::entry_for(&up.ca_der, Kind::Ca, profile::CA_CN)?;
    let server = store::entry_for(&up.server_der, Kind::Server, profile::SERVER_CN)?;
    Ok(ImportReport {
        store: target,
        in_place,
        ca,
        server,
        clusters: up.clusters.iter().map(|(_, _, e)| e.clone()).collect(),
        written,
        skipped: up.skipped,
        last_serial: plan.serial,
    })
}

// ---- reading the upstream directory -----------------------------------------------------

fn read_upstream(dir: &Path) -> Result<Upstream, MigrateError> {
    check_database_files(dir)?;
    let pwdfile = dir.join(nss_tools::PWD_FILE);
    let copy = PrivateCopy::of(dir)?;
    let db = Db::new(&copy.dir);
    let certs = db.certificates()?;
    let keys = db.key_nicknames(&pwdfile)?;
    let has_cert = |nick: &str| certs.iter().any(|c| c.nickname == nick);
    let has_key = |nick: &str| keys.iter().any(|k| k == nick);
    let clusters_note = cluster_files_note(dir);
    if !has_cert(CA_NICKNAME) {
        return fail(half_initialised(
            dir,
            &format!("it has no {CA_NICKNAME:?} certificate (killed right after `certutil -N`?)"),
            &clusters_note,
        ));
    }
    if !has_key(CA_NICKNAME) {
        return fail(format!(
            "the NSS database in {} holds the {CA_NICKNAME:?} certificate but not its private \
             key, so it cannot sign for the clusters: this is not the qnetd host's database \
             (a cluster node's, /etc/corosync/qdevice/net/nssdb, looks like this); run \
             import-nss on the host where `corosync-qnetd-certutil -i` was run",
            dir.display()
        ));
    }
    if !has_cert(SERVER_NICKNAME) || !has_key(SERVER_NICKNAME) {
        return fail(half_initialised(
            dir,
            &format!(
                "it has the CA but no {SERVER_NICKNAME:?} server certificate with its key \
                 (killed before the server certificate was made?)"
            ),
            &clusters_note,
        ));
    }
    let ca_export = read_ca_export(dir, &clusters_note)?;
    let ca_der = db.certificate_der(CA_NICKNAME)?;
    let server_der = db.certificate_der(SERVER_NICKNAME)?;
    let ca_key = export_key(&db, &copy, &pwdfile, CA_NICKNAME, &ca_der)?;
    let server_key = export_key(&db, &copy, &pwdfile, SERVER_NICKNAME, &server_der)?;
    drop(copy);
    check_ca_export(dir, &ca_export, &ca_der)?;
    if !issued_by(&server_der, &ca_der) {
        return fail(format!(
            "the {SERVER_NICKNAME:?} certificate in {} is not signed by its {CA_NICKNAME:?}: \
             the nodes would refuse it",
            dir.display()
        ));
    }
    let (clusters, skipped) = cluster_certificates(dir, &ca_der)?;
    // The counter numbers what the CA signed, not the CA itself: a CA of ours (exported by
    // `export-nss`) has a random 64-bit serial that would leave no room to count on.
    let mut last_serial = read_serial(dir)?;
    last_serial = last_serial.max(store::entry_for(&server_der, Kind::Server, "")?.serial);
    for (_, _, e) in &clusters {
        last_serial = last_serial.max(e.serial);
    }
    Ok(Upstream {
        ca_der,
        ca_key,
        server_der,
        server_key,
        ca_export,
        clusters,
        skipped,
        last_serial,
    })
}

/// The files an upstream database must have before any tool is run on it.
fn check_database_files(dir: &Path) -> Result<(), MigrateError> {
    if !dir.is_dir() {
        return fail(format!("{} is not a directory", dir.display()));
    }
    if !dir.join(nss_tools::CERT_DB).exists() {
        if dir.join(nss_tools::LEGACY_CERT_DB).exists() {
            return fail(format!(
                "{} holds an old-format NSS database (cert8.db); convert it first, as Debian's \
                 corosync-qnetd package does on upgrade: `certutil -N -d sql:{0} -f \
                 {0}/pwdfile.txt -@ {0}/pwdfile.txt`",
                dir.display()
            ));
        }
        let started = [
            nss_tools::KEY_DB,
            nss_tools::PWD_FILE,
            nss_tools::MODULE_FILE,
        ]
        .iter()
        .any(|f| dir.join(f).exists());
        if started {
            return fail(half_initialised(
                dir,
                "there is no cert9.db (killed before or during `certutil -N`?)",
                &cluster_files_note(dir),
            ));
        }
        return fail(format!(
            "{} holds no NSS database (no cert9.db): nothing to import",
            dir.display()
        ));
    }
    if !dir.join(nss_tools::KEY_DB).exists() {
        return fail(format!(
            "{} has no key database (key4.db), so the CA's private key is not there: run \
             import-nss on the host where `corosync-qnetd-certutil -i` was run",
            dir.display()
        ));
    }
    let pwdfile = dir.join(nss_tools::PWD_FILE);
    if let Err(e) = fs::metadata(&pwdfile) {
        return fail(format!(
            "cannot read {}: {e}. corosync-qnetd-certutil keeps the database's password there \
             (an empty file when the database has none, as it creates it); restore it, or \
             create it with the database's password",
            pwdfile.display()
        ));
    }
    Ok(())
}

fn half_initialised(dir: &Path, what: &str, clusters_note: &str) -> String {
    format!(
        "the NSS database in {} is half-initialised: `corosync-qnetd-certutil -i` did not \
         finish ({what}). {clusters_note}Move the directory away and start afresh with \
         `qnetd cert init` (or run the upstream -i again)",
        dir.display()
    )
}

/// Whether cluster certificates exist, for the half-initialised message.
fn cluster_files_note(dir: &Path) -> String {
    let n = cluster_files(dir).map(|v| v.len()).unwrap_or(0);
    if n == 0 {
        "No cluster certificate was ever signed with it, so no node depends on it. ".into()
    } else {
        format!(
            "{n} cluster certificate file(s) exist, but a CA without its server certificate \
             never served any node. "
        )
    }
}

fn read_ca_export(dir: &Path, clusters_note: &str) -> Result<Vec<u8>, MigrateError> {
    let path = dir.join(CA_CERT_FILE);
    match fsutil::read_bounded(&path, fsutil::cap::NSS, fsutil::Links::Refuse) {
        Ok(data) => Ok(data),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => fail(half_initialised(
            dir,
            &format!("the CA was never exported to {CA_CERT_FILE}"),
            clusters_note,
        )),
        Err(e) => fail(format!("cannot read {}: {e}", path.display())),
    }
}

fn check_ca_export(dir: &Path, export: &[u8], ca_der: &[u8]) -> Result<(), MigrateError> {
    let blocks = pem::parse_many(export).unwrap_or_default();
    let matches = blocks
        .iter()
        .any(|b| b.tag() == "CERTIFICATE" && b.contents() == ca_der);
    if !matches {
        return fail(format!(
            "{} is not the {CA_NICKNAME:?} of the database next to it: the nodes were given \
             another CA than the one that would be imported; find out which one they trust \
             before migrating",
            dir.join(CA_CERT_FILE).display()
        ));
    }
    Ok(())
}

/// The private key of `nickname`, checked to belong to `cert_der` and to be usable by us.
fn export_key(
    db: &Db,
    copy: &PrivateCopy,
    pwdfile: &Path,
    nickname: &str,
    cert_der: &[u8],
) -> Result<Vec<u8>, MigrateError> {
    let p12 = copy.dir.join("key.p12");
    let _ = fs::remove_file(&p12);
    db.export_p12(pwdfile, nickname, &p12, TRANSFER_PASSWORD)?;
    let data = fsutil::read(&p12)?;
    let _ = fs::remove_file(&p12);
    let keys = crate::p12_read::private_keys(&data, TRANSFER_PASSWORD)
        .map_err(|e| MigrateError(format!("the key of {nickname:?}: {e}")))?;
    let [key] = keys.as_slice() else {
        return fail(format!(
            "pk12util exported {} keys for {nickname:?}, expected one",
            keys.len()
        ));
    };
    let pair = KeyPair::try_from(key.as_slice()).map_err(|e| {
        MigrateError(format!(
            "the private key of {nickname:?} is of a kind qnetd cannot sign with: {e}"
        ))
    })?;
    if certinfo::public_key(cert_der).ok().as_deref() != Some(pair.der_bytes()) {
        return fail(format!(
            "the private key NSS holds under {nickname:?} does not belong to its certificate"
        ));
    }
    Ok(key.clone())
}

/// The cluster-NAME.crt files the CA signed, and notes on the others.
#[allow(clippy::type_complexity)]
fn cluster_certificates(
    dir: &Path,
    ca_der: &[u8],
) -> Result<(Vec<(String, Vec<u8>, Entry)>, Vec<String>), MigrateError> {
    let mut taken = Vec::new();
    let mut skipped = Vec::new();
    for (file, name) in cluster_files(dir)? {
        let data = fsutil::read(&dir.join(&file))?;
        let der = der_or_pem(&data);
        let why = if data.is_empty() {
            Some("empty (left by an upstream -s that failed)".to_string())
        } else if store::check_cluster_name(&name).is_err() {
            Some("its name cannot be a cluster name".to_string())
        } else if der.as_deref().is_none_or(|d| certinfo::summary(d).is_err()) {
            Some("not a certificate".to_string())
        } else if !der.as_deref().is_some_and(|d| issued_by(d, ca_der)) {
            Some(format!("not signed by this {CA_NICKNAME:?}"))
        } else {
            None
        };
        match (why, der) {
            (None, Some(der)) => {
                let entry = store::entry_for(&der, Kind::Cluster, &name)?;
                taken.push((file, data, entry));
            }
            (why, _) => skipped.push(format!(
                "{file}: {}",
                why.unwrap_or_else(|| "unreadable".into())
            )),
        }
    }
    taken.sort_by_key(|(_, _, e)| e.serial);
    Ok((taken, skipped))
}

/// `(file name, cluster name)` of every cluster-NAME.crt in `dir`, sorted.
fn cluster_files(dir: &Path) -> Result<Vec<(String, String)>, MigrateError> {
    let rd = fs::read_dir(dir)
        .map_err(|e| MigrateError(format!("cannot list {}: {e}", dir.display())))?;
    let mut files: Vec<(String, String)> = rd
        .flatten()
        .filter_map(|ent| {
            let file = ent.file_name().to_str()?.to_string();
            let name = file
                .strip_prefix("cluster-")?
                .strip_suffix(".crt")?
                .to_string();
            Some((file, name))
        })
        .collect();
    files.sort();
    Ok(files)
}

fn der_or_pem(data: &[u8]) -> Option<Vec<u8>> {
    if data.first() == Some(&0x30) {
        return Some(data.to_vec());
    }
    pem::parse_many(data)
        .ok()?
        .into_iter()
        .find(|b| b.tag() == "CERTIFICATE")
        .map(|b| b.into_contents())
}

/// Upstream's serial.txt (the last serial used); 100 (its base) if it is missing.
fn read_serial(dir: &Path) -> Result<u64, MigrateError> {
    let path = dir.join(SERIAL_FILE);
    match fsutil::read_bounded(&path, fsutil::cap::PEM, fsutil::Links::Refuse)
        .map(|d| String::from_utf8_lossy(&d).into_owned())
    {
        Ok(text) => text.trim().parse().map_err(|_| {
            MigrateError(format!(
                "{}: expected the last serial as a decimal number, found {:?}",
                path.display(),
                text.trim()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(100),
        Err(e) => fail(format!("cannot read {}: {e}", path.display())),
    }
}

/// Whether `cert_der` names `ca_der` as issuer and carries a valid signature by its key.
pub(crate) fn issued_by(cert_der: &[u8], ca_der: &[u8]) -> bool {
    let (Ok(cert), Ok(ca_subject), Ok(ca_key)) = (
        certinfo::signed(cert_der),
        certinfo::subject(ca_der),
        certinfo::public_key(ca_der),
    ) else {
        return false;
    };
    if cert.issuer != ca_subject {
        return false;
    }
    use ring::signature as sig;
    let alg: &dyn sig::VerificationAlgorithm = match oid_string(cert.algorithm).as_str() {
        "1.2.840.113549.1.1.11" => &sig::RSA_PKCS1_2048_8192_SHA256,
        "1.2.840.113549.1.1.12" => &sig::RSA_PKCS1_2048_8192_SHA384,
        "1.2.840.113549.1.1.13" => &sig::RSA_PKCS1_2048_8192_SHA512,
        "1.2.840.10045.4.3.2" => &sig::ECDSA_P256_SHA256_ASN1,
        "1.2.840.10045.4.3.3" => &sig::ECDSA_P384_SHA384_ASN1,
        _ => return false,
    };
    sig::UnparsedPublicKey::new(alg, ca_key)
        .verify(cert.tbs, cert.signature)
        .is_ok()
}

/// cert9.db and key4.db copied into a fresh 0700 directory (removed on drop), where the NSS
/// tools may write what they like.
struct PrivateCopy {
    dir: PathBuf,
}

impl PrivateCopy {
    fn of(src: &Path) -> Result<PrivateCopy, MigrateError> {
        let dir = private_temp_dir("qnetd-import")?;
        let copy = PrivateCopy { dir };
        for f in [nss_tools::CERT_DB, nss_tools::KEY_DB] {
            fsutil::copy_bounded(&src.join(f), &copy.dir.join(f), fsutil::cap::NSS).map_err(
                |e| {
                    MigrateError(format!(
                        "cannot copy {} to read it: {e}",
                        src.join(f).display()
                    ))
                },
            )?;
        }
        Ok(copy)
    }
}

impl Drop for PrivateCopy {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A new directory only we can enter (keys pass through it).
pub(crate) fn private_temp_dir(prefix: &str) -> Result<PathBuf, MigrateError> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    static COUNT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("{prefix}-{}-{nanos}-{n}", std::process::id()));
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(|e| MigrateError(format!("cannot create {}: {e}", dir.display())))?;
    Ok(dir)
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

// ---- writing our store ------------------------------------------------------------------

/// What the store lacks: file name → content and mode, in the order they are written.
struct Plan {
    files: Vec<PlannedFile>,
    serial: u64,
}

/// One file the plan writes: name, content, mode.
type PlannedFile = (String, Vec<u8>, u32);

/// Compares the target with what the import would write; refuses a target that holds
/// something else. A store already imported gets an empty plan ("nothing to do").
fn plan(up: &Upstream, target: &Path, in_place: bool) -> Result<Plan, MigrateError> {
    // The CA export: in place it is upstream's own file (checked above).
    let ca_export = existing(target, CA_CERT_FILE)?;
    if let Some(data) = &ca_export {
        check_ca_export(target, data, &up.ca_der).map_err(|_| {
            MigrateError(format!(
                "{} already holds a qnetd store with another CA; refusing to mix two CAs (move \
                 it away, or choose another --out)",
                target.display()
            ))
        })?;
    }
    let mut files = key_and_server_files(up, target)?;
    let (registry_file, cluster_files) = registry_and_cluster_files(up, target, in_place)?;
    files.extend(cluster_files);
    // Before the key and certificate files: a certificate never exists unrecorded.
    if let Some(f) = registry_file {
        files.insert(0, f);
    }
    let (serial, serial_file) = serial_file(up, target)?;
    if let Some(f) = serial_file {
        files.insert(0, f);
    }
    if in_place {
        // In place the CA export exists already; the server certificate completes the store.
        if let Some(pos) = files.iter().position(|(f, _, _)| f == SERVER_CERT_FILE) {
            let last = files.remove(pos);
            files.push(last);
        }
    } else {
        files.extend(completing_files(up, target, ca_export.is_none())?);
    }
    Ok(Plan { files, serial })
}

/// The target's file `f`, None when it does not exist.
fn existing(target: &Path, f: &str) -> Result<Option<Vec<u8>>, MigrateError> {
    match fsutil::read_bounded(&target.join(f), fsutil::cap::NSS, fsutil::Links::Refuse) {
        Ok(d) => Ok(Some(d)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => fail(format!("cannot read {}: {e}", target.join(f).display())),
    }
}

/// The two keys and the server certificate the target lacks; another key or certificate
/// already there is refused.
fn key_and_server_files(up: &Upstream, target: &Path) -> Result<Vec<PlannedFile>, MigrateError> {
    let mut files = Vec::new();
    for (file, key, what) in [
        (CA_KEY_FILE, &up.ca_key, "CA key"),
        (SERVER_KEY_FILE, &up.server_key, "server key"),
    ] {
        match existing(target, file)? {
            None => files.push((file.to_string(), key_pem(key), ownership::file_mode(file))),
            Some(pem_data) if same_key(&pem_data, key) => {}
            Some(_) => {
                return fail(format!(
                    "{} is another {what} than the NSS database's; refusing to overwrite it",
                    target.join(file).display()
                ))
            }
        }
    }
    match existing(target, SERVER_CERT_FILE)? {
        None => files.push((
            SERVER_CERT_FILE.to_string(),
            pem::encode(&pem::Pem::new("CERTIFICATE", up.server_der.clone())).into_bytes(),
            ownership::FILE_MODE,
        )),
        Some(d) if der_or_pem(&d).as_deref() == Some(up.server_der.as_slice()) => {}
        Some(_) => {
            return fail(format!(
                "{} is another server certificate than the NSS database's {SERVER_NICKNAME:?}",
                target.join(SERVER_CERT_FILE).display()
            ))
        }
    }
    Ok(files)
}

/// The registry with the CA, server and cluster certificates added (None when it lists them
/// all already; revocations made before a repeated import stay as they are), and the cluster
/// certificate files the target lacks (none in place: they are upstream's own files there).
fn registry_and_cluster_files(
    up: &Upstream,
    target: &Path,
    in_place: bool,
) -> Result<(Option<PlannedFile>, Vec<PlannedFile>), MigrateError> {
    let mut existing_registry = registry::read(&target.join(REGISTRY_FILE))?;
    let mut entries = std::mem::take(&mut existing_registry.entries);
    let known = |e: &Entry, list: &[Entry]| list.iter().any(|x| x.sha256 == e.sha256);
    let before = entries.len();
    let ca = store::entry_for(&up.ca_der, Kind::Ca, profile::CA_CN)?;
    let server = store::entry_for(&up.server_der, Kind::Server, profile::SERVER_CN)?;
    for e in [ca, server] {
        if !known(&e, &entries) {
            entries.push(e);
        }
    }
    let mut files = Vec::new();
    for (file, data, entry) in &up.clusters {
        if !known(entry, &entries) {
            entries.push(entry.clone());
        }
        if in_place {
            continue;
        }
        match existing(target, file)? {
            None => files.push((file.clone(), data.clone(), ownership::FILE_MODE)),
            Some(d) if d == *data => {}
            // Signed later by this store (the registry knows it): the newer one stays.
            Some(d) if entries.iter().any(|e| e.sha256 == sha256_hex(&d)) => {}
            Some(_) => {
                return fail(format!(
                    "{} exists and is not the certificate of the same name in the NSS \
                     database's directory; refusing to overwrite it",
                    target.join(file).display()
                ))
            }
        }
    }
    let registry_file = (entries.len() != before).then(|| {
        let text = registry::render_registry(&registry::Registry {
            entries,
            revocations: existing_registry.revocations,
        });
        (
            REGISTRY_FILE.to_string(),
            text.into_bytes(),
            ownership::FILE_MODE,
        )
    });
    Ok((registry_file, files))
}

/// The serial the store continues from (the larger of the target's and the NSS database's),
/// and the serial file when the target's does not say it already.
fn serial_file(up: &Upstream, target: &Path) -> Result<(u64, Option<PlannedFile>), MigrateError> {
    let current_serial = match existing(target, SERIAL_FILE)? {
        Some(d) => String::from_utf8_lossy(&d).trim().parse::<u64>().ok(),
        None => None,
    };
    let serial = current_serial.unwrap_or(0).max(up.last_serial);
    let file = (current_serial != Some(serial)).then(|| {
        let text = format!("{serial}\n");
        (
            SERIAL_FILE.to_string(),
            text.into_bytes(),
            ownership::FILE_MODE,
        )
    });
    Ok((serial, file))
}

/// For a store beside the NSS database: the file that tells pcs the store is initialised,
/// then, last, the CA export that completes the store (upstream's file, byte for byte: what
/// pvecm gave the nodes).
fn completing_files(
    up: &Upstream,
    target: &Path,
    lacks_ca_export: bool,
) -> Result<Vec<PlannedFile>, MigrateError> {
    let mut files = Vec::new();
    if existing(target, store::PCS_MARKER_FILE)?.is_none() {
        files.push((
            store::PCS_MARKER_FILE.to_string(),
            store::PCS_MARKER_TEXT.as_bytes().to_vec(),
            ownership::FILE_MODE,
        ));
    }
    if lacks_ca_export {
        files.push((
            CA_CERT_FILE.to_string(),
            up.ca_export.clone(),
            store::CA_EXPORT_MODE,
        ));
    }
    Ok(files)
}

fn write(target: &Path, plan: &Plan) -> Result<Vec<String>, MigrateError> {
    let config = store::config_dir(target);
    fsutil::create_dir(
        target,
        ownership::DIR_MODE,
        fsutil::new_store_owner(&config),
    )?;
    // As every other write into a store: root's files with the store directory's group, in
    // the modes of the ownership model (the CA key root's alone).
    let owner = fsutil::store_owner(target);
    let _lock = StoreLock::acquire(target)?;
    let mut written = Vec::new();
    for (file, data, _) in &plan.files {
        let mode = ownership::file_mode(file);
        fsutil::write_atomic(
            &target.join(file),
            data,
            mode,
            ownership::file_owner(file, owner),
        )?;
        written.push(file.clone());
    }
    // What the daemon will load, loaded once now.
    let s = store::CertStore::open(target)?;
    s.server_credentials()?;
    Ok(written)
}

fn key_pem(pkcs8: &[u8]) -> Vec<u8> {
    pem::encode(&pem::Pem::new("PRIVATE KEY", pkcs8.to_vec())).into_bytes()
}

/// Whether a PEM key file holds the same key pair (compared by public key: NSS may encode
/// the same private key differently from one export to the next).
fn same_key(pem_data: &[u8], pkcs8: &[u8]) -> bool {
    let public = |der: &[u8]| KeyPair::try_from(der).ok().map(|k| k.der_bytes().to_vec());
    let stored = pem::parse_many(pem_data)
        .ok()
        .and_then(|b| b.into_iter().find(|b| b.tag() == "PRIVATE KEY"))
        .and_then(|b| public(b.contents()));
    stored.is_some() && stored == public(pkcs8)
}
