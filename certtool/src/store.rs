//! The certificate store: one directory (default /etc/corosync/qnetd/nssdb, where pvecm fetches
//! `qnetd-cacert.crt` and `cluster-NAME.crt`), holding upstream's public files plus our keys.
//!
//! | file | content | mode (see `ownership`) |
//! | --- | --- | --- |
//! | qnetd-cacert.crt | short text preamble + PEM CA certificate (NSS `certutil -A` imports it) | 0640 |
//! | qnetd-ca.key | PKCS#8 PEM private key of the CA: root's alone | 0600 |
//! | qnetd-server.key | PKCS#8 PEM private key of the server: the daemon's group reads it | 0640 |
//! | qnetd-server.crt | PEM server certificate (CN "Qnetd Server") | 0640 |
//! | cluster-NAME.crt | DER cluster certificate (as upstream) | 0640 |
//! | serial.txt | last serial handed out (100 base; the CA's slot 101 is skipped, its serial is random; server 102…) | 0640 |
//! | registry.txt | every certificate issued, and the revoked ones (see `registry`) | 0640 |
//! | pkcs11.txt | a comment only: tells pcs the store is initialised (see `PCS_MARKER_FILE`) | 0640 |
//!
//! The directory is 0750. Files root writes are root's, with the store directory's group, so a
//! daemon running as that group's user (qnetd, coroqnetd) reads what it opens and writes
//! nothing; the CA key is never readable by it.

use std::fs;
use std::path::{Path, PathBuf};

use rcgen::{CertificateParams, Issuer, KeyPair};
use time::OffsetDateTime;

use crate::certinfo;
use crate::csr;
use crate::error::StoreError;
use crate::fsutil::{self, Owner, StoreLock};
use crate::ownership;
pub use crate::pemfile::check_key_mode;
pub(crate) use crate::pemfile::{read_key_pem, read_pem};
use crate::profile;
use crate::registry::{self, Entry, Kind, Registry, Revocation};
use crate::serial;

pub const DEFAULT_DIR: &str = "/etc/corosync/qnetd/nssdb";
pub const CA_CERT_FILE: &str = "qnetd-cacert.crt";
pub const CA_KEY_FILE: &str = "qnetd-ca.key";
pub const SERVER_CERT_FILE: &str = "qnetd-server.crt";
pub const SERVER_KEY_FILE: &str = "qnetd-server.key";
pub const SERIAL_FILE: &str = "serial.txt";
pub const REGISTRY_FILE: &str = "registry.txt";
/// Upstream's first `serial.txt` value; the CA gets the next one (101).
pub(crate) const SERIAL_BASE: u64 = 100;
/// Files that must all exist for the store to be usable.
const CORE_FILES: [&str; 4] = [CA_CERT_FILE, CA_KEY_FILE, SERVER_CERT_FILE, SERVER_KEY_FILE];
/// pcs decides whether qnetd's certificates are initialised by looking for any NSS database
/// file name in the store (`_nss_certificate_db_initialized` in pcs/lib/corosync/qdevice_net.py)
/// and refuses to sign before it sees one. The smallest of those names, as a text marker.
pub const PCS_MARKER_FILE: &str = "pkcs11.txt";
pub(crate) const PCS_MARKER_TEXT: &str =
    "# Not an NSS database: qnetd keeps its certificates in PEM files here.\n\
# This file exists because pcs looks for an NSS database file name to tell an initialised\n\
# qnetd certificate store from an empty one.\n";
/// Upstream NSS databases: their presence means "a database exists" to upstream's `-i`.
pub const NSS_DB_FILES: [&str; 2] = ["cert9.db", "cert8.db"];

/// Mode of the CA certificate that import-nss and export-nss write beside the store.
#[cfg(feature = "nss")]
pub(crate) const CA_EXPORT_MODE: u32 = ownership::FILE_MODE;

/// What the TLS server needs, all DER.
#[derive(Clone, Debug)]
pub struct ServerCredentials {
    pub ca_cert_der: Vec<u8>,
    pub server_cert_der: Vec<u8>,
    pub server_key_pkcs8_der: Vec<u8>,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct InitOptions {
    /// Upstream `-G`: no group write bit (dir 0750, files 0640). Accepted for upstream's
    /// command line; the ownership model never gives the group write, with or without it.
    pub no_group_write: bool,
    /// Re-create even if the store exists; the old files go to a backup directory.
    pub force: bool,
}

#[derive(Debug)]
pub enum InitOutcome {
    /// A new CA and server certificate were made.
    Created {
        dir_created: bool,
        /// Where the previous files were moved (with `force`).
        backup: Option<PathBuf>,
    },
    /// The store was already complete; nothing was touched.
    Unchanged,
}

/// One issued certificate.
#[derive(Clone, Debug)]
pub struct Issued {
    pub path: PathBuf,
    pub der: Vec<u8>,
    pub entry: Entry,
}

/// A cluster certificate issued and recorded in the registry but not written into the store:
/// the caller hands it out (a node bundle).
pub struct Recorded {
    pub der: Vec<u8>,
    pub entry: Entry,
}

/// A certificate as `list` shows it.
#[derive(Clone, Debug)]
pub struct Listed {
    pub entry: Entry,
    /// Whether it is in use as far as the store knows: what the store holds under that name,
    /// or the newest certificate of its cluster (a bundle's, which only the bundle holds).
    /// A cluster certificate signed again replaces the file: the older entry is historical.
    pub current: bool,
    /// Whether the store's file under that name is this certificate.
    pub in_store: bool,
    /// Its revocation, if it is revoked.
    pub revoked: Option<Revocation>,
}

pub struct CertStore {
    pub(crate) dir: PathBuf,
    /// Owner of what we write (root, with the store's group), when we run as root.
    owner: Option<Owner>,
}

impl CertStore {
    /// Opens an initialised store; a missing or empty one is `NotInitialised` (whose message
    /// names `qnetd cert init`).
    pub fn open(dir: &Path) -> Result<CertStore, StoreError> {
        let state = inspect(dir)?;
        if !matches!(state, State::Complete) && is_upstream_store(dir) {
            return Err(StoreError::UpstreamNss {
                dir: dir.to_path_buf(),
            });
        }
        match state {
            State::Complete => Ok(CertStore::at(dir)),
            State::Empty => Err(StoreError::NotInitialised {
                dir: dir.to_path_buf(),
            }),
            State::Partial(missing) => Err(StoreError::Incomplete {
                dir: dir.to_path_buf(),
                missing,
            }),
        }
    }

    fn at(dir: &Path) -> CertStore {
        CertStore {
            dir: dir.to_path_buf(),
            owner: fsutil::store_owner(dir),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// The CA certificate, server certificate and server key, read afresh from disk.
    pub fn server_credentials(&self) -> Result<ServerCredentials, StoreError> {
        Ok(ServerCredentials {
            ca_cert_der: read_pem(&self.path(CA_CERT_FILE), &["CERTIFICATE"])?,
            server_cert_der: read_pem(&self.path(SERVER_CERT_FILE), &["CERTIFICATE"])?,
            server_key_pkcs8_der: read_key_pem(&self.path(SERVER_KEY_FILE))?,
        })
    }

    /// The CA certificate (DER).
    pub fn ca_cert_der(&self) -> Result<Vec<u8>, StoreError> {
        read_pem(&self.path(CA_CERT_FILE), &["CERTIFICATE"])
    }

    /// The server certificate (DER), without its key: for expiry checks (`qnetd run --http`).
    pub fn server_cert_der(&self) -> Result<Vec<u8>, StoreError> {
        read_pem(&self.path(SERVER_CERT_FILE), &["CERTIFICATE"])
    }

    /// Creates the store: CA ("QNet CA", a random serial: see `profile::random_ca_serial`) and
    /// server certificate ("Qnetd Server", 102 on a new store). Idempotent unless `force`.
    pub fn init(dir: &Path, opts: InitOptions) -> Result<(CertStore, InitOutcome), StoreError> {
        // Its CA is what the enrolled nodes trust: `import-nss` keeps it, init would not.
        if !opts.force && is_upstream_store(dir) {
            return Err(StoreError::UpstreamNss {
                dir: dir.to_path_buf(),
            });
        }
        let dir_created = fsutil::create_dir(
            dir,
            ownership::DIR_MODE,
            fsutil::new_store_owner(&config_dir(dir)),
        )?;
        // Inspect under the lock: two concurrent inits must not both create a CA.
        let _lock = StoreLock::acquire(dir)?;
        let state = inspect(dir)?;
        match (&state, opts.force) {
            (State::Complete, false) => return Ok((CertStore::at(dir), InitOutcome::Unchanged)),
            // An init that was killed or ran out of space: finish it (its files go to a backup
            // like with `force`) instead of asking for `--force`.
            (State::Partial(missing), false) if !interrupted_init(dir, missing)? => {
                return Err(StoreError::Incomplete {
                    dir: dir.to_path_buf(),
                    missing: missing.clone(),
                })
            }
            _ => {}
        }
        let store = CertStore::at(dir);
        let backup = match state {
            State::Empty => None,
            _ => Some(store.move_to_backup()?),
        };
        store.create_ca_and_server()?;
        Ok((
            store,
            InitOutcome::Created {
                dir_created,
                backup,
            },
        ))
    }

    fn create_ca_and_server(&self) -> Result<(), StoreError> {
        let ca_key = profile::new_key()?;
        // serial.txt still advances for the CA, so the server and cluster certificates keep
        // upstream's numbers (server 102, clusters from 103) that users see in `cert list`.
        self.next_serial()?;
        let ca_params = profile::ca(profile::random_ca_serial()?);
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let server_key = profile::new_key()?;
        let server_serial = self.next_serial()?;
        let issuer = Issuer::from_params(&ca_params, &ca_key);
        let server_cert =
            profile::leaf(profile::SERVER_CN, server_serial).signed_by(&server_key, &issuer)?;

        // Keys first, then the registry (a certificate file never exists unrecorded), the CA
        // export last: it is what makes the store complete, so a store interrupted half-way
        // is "incomplete" (see `interrupted_init`), never a CA file without its key, registry
        // or pcs marker.
        self.write(CA_KEY_FILE, ca_key.serialize_pem().as_bytes())?;
        self.write(SERVER_KEY_FILE, server_key.serialize_pem().as_bytes())?;
        let ca_entry = entry_for(ca_cert.der(), Kind::Ca, profile::CA_CN)?;
        let server_entry = entry_for(server_cert.der(), Kind::Server, profile::SERVER_CN)?;
        self.record(&[ca_entry.clone(), server_entry])?;
        self.write(SERVER_CERT_FILE, server_cert.pem().as_bytes())?;
        self.write(PCS_MARKER_FILE, PCS_MARKER_TEXT.as_bytes())?;
        let export = ca_export_text(&ca_entry, &ca_cert.pem());
        self.write(CA_CERT_FILE, export.as_bytes())
    }

    /// Moves the CA, server and cluster files and the registry into a fresh `backup-*`
    /// directory. serial.txt stays, so serials are never reused under the new CA either.
    fn move_to_backup(&self) -> Result<PathBuf, StoreError> {
        let stamp = OffsetDateTime::now_utc().unix_timestamp();
        let mut backup = self.dir.join(format!("backup-{stamp}"));
        let mut n = 1;
        while backup.exists() {
            backup = self.dir.join(format!("backup-{stamp}-{n}"));
            n += 1;
        }
        // Old CA keys go there: root:root, as the ownership model says.
        let root_only = self.owner.map(|o| Owner { gid: 0, ..o });
        fsutil::create_dir(&backup, ownership::BACKUP_DIR_MODE, root_only)?;
        for name in self.files_to_back_up()? {
            let from = self.dir.join(&name);
            fs::rename(&from, backup.join(&name)).map_err(|e| {
                StoreError::io(
                    format!("cannot move {} to {}", from.display(), backup.display()),
                    e,
                )
            })?;
        }
        fsutil::sync_dir(&self.dir)
            .map_err(|e| StoreError::io(format!("cannot sync {}", self.dir.display()), e))?;
        Ok(backup)
    }

    fn files_to_back_up(&self) -> Result<Vec<String>, StoreError> {
        let rd = fs::read_dir(&self.dir)
            .map_err(|e| StoreError::io(format!("cannot list {}", self.dir.display()), e))?;
        let mut names = Vec::new();
        for ent in rd.flatten() {
            let name = ent.file_name().to_string_lossy().into_owned();
            let ours = CORE_FILES.contains(&name.as_str())
                || name == REGISTRY_FILE
                || (name.starts_with("cluster-") && name.ends_with(".crt"));
            if ours {
                names.push(name);
            }
        }
        Ok(names)
    }

    /// Signs a node's request for cluster `cluster` into `cluster-NAME.crt` (DER).
    ///
    /// Everything that can be refused is checked before a serial is taken: a bad request
    /// leaves no file and consumes no serial.
    pub fn sign_request(&self, request: &[u8], cluster: &str) -> Result<Issued, StoreError> {
        check_cluster_name(cluster)?;
        let req = csr::parse(request)?;
        match &req.common_name {
            Some(cn) if cn.eq_ignore_ascii_case(cluster) => {}
            Some(cn) => {
                return Err(StoreError::BadRequest(format!(
                    "its subject CN is '{cn}' but the cluster is '{cluster}': the daemon only \
                     accepts a node whose certificate CN is its cluster name, so it would refuse \
                     this cluster (make the request with `corosync-qdevice-net-certutil -r -n {cluster}`)"
                )))
            }
            None => {
                return Err(StoreError::BadRequest(format!(
                    "its subject has no CN; the daemon requires CN={cluster}"
                )))
            }
        }
        let _lock = StoreLock::acquire(&self.dir)?;
        let ca = self.load_ca()?;
        let issuer = ca.issuer()?;
        let mut params = req.params;
        let serial = self.next_serial()?;
        params.serial_number = Some(serial.into());
        params.not_before = profile::not_before();
        params.not_after = profile::not_after(OffsetDateTime::now_utc());
        let cert = params.signed_by(&req.public_key, &issuer)?;
        self.store_cluster_cert(cluster, cert.der())
    }

    /// Issues a cluster certificate for a key we hold (for `bundle`): recorded in the registry
    /// and returned, but not written as the store's `cluster-NAME.crt`. That file is the
    /// certificate signed from the cluster's own request, which pvecm (or the admin, after
    /// `corosync-qnetd-certutil -s`) fetches from here for the nodes that made the request: a
    /// bundle made later for the same cluster must not swap it for a certificate of a key only
    /// the bundle holds. Both certificates are valid; `list` shows both as in use.
    pub fn issue_cluster_cert(&self, cluster: &str, key: &KeyPair) -> Result<Recorded, StoreError> {
        check_cluster_name(cluster)?;
        let _lock = StoreLock::acquire(&self.dir)?;
        let ca = self.load_ca()?;
        let issuer = ca.issuer()?;
        let serial = self.next_serial()?;
        let cert = profile::leaf(cluster, serial).signed_by(key, &issuer)?;
        self.record_cluster_cert(cluster, cert.der())
    }

    fn record_cluster_cert(&self, cluster: &str, der: &[u8]) -> Result<Recorded, StoreError> {
        let entry = entry_for(der, Kind::Cluster, cluster)?;
        self.record(std::slice::from_ref(&entry))?;
        Ok(Recorded {
            der: der.to_vec(),
            entry,
        })
    }

    fn store_cluster_cert(&self, cluster: &str, der: &[u8]) -> Result<Issued, StoreError> {
        let file = cluster_cert_file(cluster);
        // Recorded before the file appears: a run killed in between leaves a registry entry
        // for a certificate nobody received, never a certificate missing from the registry.
        let Recorded { der, entry } = self.record_cluster_cert(cluster, der)?;
        self.write(&file, &der)?;
        Ok(Issued {
            path: self.path(&file),
            der,
            entry,
        })
    }

    /// The registry: issued certificates and revocations.
    pub fn registry(&self) -> Result<Registry, StoreError> {
        registry::read(&self.path(REGISTRY_FILE))
    }

    /// The last serial handed out: the highest of serial.txt, the registry and the store's
    /// certificates (see [`serial::last`]).
    pub(crate) fn last_serial(&self) -> Result<u64, StoreError> {
        serial::last(&self.dir)
    }

    /// Every certificate in the registry, oldest first.
    pub fn list(&self) -> Result<Vec<Listed>, StoreError> {
        let reg = self.registry()?;
        let revoked = |e: &Entry| reg.revocation(e.serial).cloned();
        let entries = reg.entries.clone();
        // The newest certificate of each cluster (the registry is oldest first).
        let mut newest = std::collections::HashMap::new();
        for e in entries.iter().filter(|e| e.kind == Kind::Cluster) {
            newest.insert(e.name.clone(), e.serial);
        }
        let in_store = |e: &Entry| -> bool {
            let file = match e.kind {
                Kind::Ca => CA_CERT_FILE.to_string(),
                Kind::Server => SERVER_CERT_FILE.to_string(),
                Kind::Cluster => cluster_cert_file(&e.name),
            };
            let der = match e.kind {
                Kind::Cluster => fsutil::read(&self.path(&file)).ok(),
                _ => read_pem(&self.path(&file), &["CERTIFICATE"]).ok(),
            };
            der.is_some_and(|d| sha256_hex(&d) == e.sha256)
        };
        Ok(entries
            .into_iter()
            .map(|entry| {
                let in_store = in_store(&entry);
                let newest =
                    entry.kind == Kind::Cluster && newest.get(&entry.name) == Some(&entry.serial);
                Listed {
                    current: in_store || newest,
                    in_store,
                    revoked: revoked(&entry),
                    entry,
                }
            })
            .collect())
    }

    fn load_ca(&self) -> Result<LoadedCa, StoreError> {
        let key_path = self.path(CA_KEY_FILE);
        check_key_mode(&key_path)?;
        let key_pem =
            String::from_utf8(fsutil::read(&key_path)?).map_err(|_| StoreError::Corrupt {
                path: key_path.clone(),
                reason: "not a PEM file".into(),
            })?;
        let key = KeyPair::from_pem(&key_pem).map_err(|e| StoreError::Corrupt {
            path: key_path.clone(),
            reason: format!("not a usable private key: {e}"),
        })?;
        let cert_der = self.ca_cert_der()?;
        check_key_matches(&key, &cert_der, &key_path, CA_CERT_FILE)?;
        Ok(LoadedCa { cert_der, key })
    }

    /// Whether the CA key loads and belongs to the CA certificate: what signing needs. Reads
    /// only; for `doctor`.
    pub fn check_ca(&self) -> Result<(), StoreError> {
        self.load_ca().map(|_| ())
    }

    /// Takes the next serial and makes it durable before it is used: a crash after this
    /// point skips a serial, never reuses one. Caller holds the store lock.
    fn next_serial(&self) -> Result<u64, StoreError> {
        let next = self.last_serial()? + 1;
        self.write(SERIAL_FILE, format!("{next}\n").as_bytes())?;
        Ok(next)
    }

    /// Adds `new` to the registry; its revocations stay as they are.
    fn record(&self, new: &[Entry]) -> Result<(), StoreError> {
        let mut reg = self.registry()?;
        reg.entries.extend_from_slice(new);
        self.write(REGISTRY_FILE, registry::render_registry(&reg).as_bytes())
    }

    /// Writes a store file atomically with the model's mode for it.
    pub(crate) fn write(&self, file: &str, data: &[u8]) -> Result<(), StoreError> {
        fsutil::write_atomic(
            &self.path(file),
            data,
            ownership::file_mode(file),
            ownership::file_owner(file, self.owner),
        )
    }
}

/// Refuses `key` (read from `key_path`) unless its public key is the one in `cert_der` (the
/// store's `cert_file`): a certificate signed with another key would be useless, and nothing
/// short of this comparison notices before the nodes refuse it.
fn check_key_matches(
    key: &KeyPair,
    cert_der: &[u8],
    key_path: &Path,
    cert_file: &str,
) -> Result<(), StoreError> {
    let cert_key = certinfo::public_key(cert_der).map_err(|e| StoreError::Corrupt {
        path: key_path.with_file_name(cert_file),
        reason: format!("not a readable certificate: {e}"),
    })?;
    if cert_key == key.public_key_raw() {
        return Ok(());
    }
    Err(StoreError::Corrupt {
        path: key_path.to_path_buf(),
        reason: format!(
            "this is not the key of the CA certificate {cert_file} (their public keys differ), \
             so nothing it signs would be trusted: put the CA's own key back (from a backup-* \
             directory or the copy you took), or re-create the CA with `qnetd cert init \
             --force` and enrol every cluster again"
        ),
    })
}

struct LoadedCa {
    cert_der: Vec<u8>,
    key: KeyPair,
}

impl LoadedCa {
    /// The CA as rcgen's issuer. Only its name matters: it becomes the issued certificates'
    /// issuer, byte for byte as the CA's subject (we write no authority key identifier).
    fn issuer(&self) -> Result<Issuer<'_, &KeyPair>, StoreError> {
        let unusable =
            |e: String| StoreError::Crypto(format!("the stored CA certificate is not usable: {e}"));
        let subject = certinfo::subject(&self.cert_der).map_err(|e| unusable(e.to_string()))?;
        let mut params = CertificateParams::default();
        params.distinguished_name = csr::rcgen_name(&subject).map_err(unusable)?;
        Ok(Issuer::new(params, &self.key))
    }
}

enum State {
    Empty,
    Complete,
    Partial(Vec<&'static str>),
}

/// Which core files exist. A file we may not look at is an error, not "missing": a daemon
/// running as a user without access must say so, not ask for `init`.
fn inspect(dir: &Path) -> Result<State, StoreError> {
    let mut missing = Vec::new();
    for f in CORE_FILES {
        let path = dir.join(f);
        match fs::metadata(&path) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => missing.push(f),
            Err(e) => {
                return Err(StoreError::io(
                    format!("cannot access {}", path.display()),
                    e,
                ))
            }
        }
    }
    Ok(match missing.len() {
        0 => State::Complete,
        n if n == CORE_FILES.len() => State::Empty,
        _ => State::Partial(missing),
    })
}

/// Whether a partial store is what an interrupted `init` leaves: the CA export (written last)
/// is missing and no cluster certificate is recorded or stored, so nothing was ever signed
/// with these files and nobody depends on them.
fn interrupted_init(dir: &Path, missing: &[&str]) -> Result<bool, StoreError> {
    if !missing.contains(&CA_CERT_FILE) {
        return Ok(false);
    }
    let entries = registry::load(&dir.join(REGISTRY_FILE))?;
    let rd = fs::read_dir(dir)
        .map_err(|e| StoreError::io(format!("cannot list {}", dir.display()), e))?;
    let cluster_file = rd.flatten().any(|ent| {
        let name = ent.file_name();
        let name = name.to_string_lossy();
        name.starts_with("cluster-") && name.ends_with(".crt")
    });
    Ok(!cluster_file && entries.iter().all(|e| e.kind != Kind::Cluster))
}

/// Whether upstream's `-i` would say "already exists": our store, or an NSS database.
pub fn store_exists(dir: &Path) -> bool {
    let ours = match inspect(dir) {
        Ok(State::Empty) => false,
        // Not a store yet: `-i` finishes it, as `CertStore::init` does (pvecm ignores `-i`
        // failing with "already exists", then cannot fetch the CA export that is missing).
        Ok(State::Partial(missing)) => !matches!(interrupted_init(dir, &missing), Ok(true)),
        _ => true,
    };
    ours || has_nss_database(dir)
}

/// Whether `dir` holds an NSS database made by upstream's corosync-qnetd-certutil (its keys
/// are not migrated: a store created next to it has a new CA).
pub fn has_nss_database(dir: &Path) -> bool {
    NSS_DB_FILES.iter().any(|f| dir.join(f).exists())
}

/// Whether `dir` is upstream's NSS store that nodes may be enrolled with and that we have not
/// taken over: an NSS database, its CA export, and none of our keys.
pub fn is_upstream_store(dir: &Path) -> bool {
    has_nss_database(dir) && dir.join(CA_CERT_FILE).exists() && !dir.join(CA_KEY_FILE).exists()
}

/// The directory whose owner new files take: the parent of the store (/etc/corosync/qnetd).
pub(crate) fn config_dir(dir: &Path) -> PathBuf {
    match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

pub fn cluster_cert_file(cluster: &str) -> String {
    format!("cluster-{cluster}.crt")
}

/// Upstream uses the name verbatim in a file name; we refuse what would escape the store or
/// break the line-based registry.
pub fn check_cluster_name(name: &str) -> Result<(), StoreError> {
    if name.is_empty() {
        return Err(StoreError::BadName("the name is empty".into()));
    }
    if name.contains('/') || name.chars().any(char::is_control) {
        return Err(StoreError::BadName(format!(
            "{name:?} contains '/' or a control character"
        )));
    }
    if name.len() > 200 {
        return Err(StoreError::BadName("longer than 200 bytes".into()));
    }
    Ok(())
}

pub(crate) fn entry_for(der: &[u8], kind: Kind, name: &str) -> Result<Entry, StoreError> {
    let cert = certinfo::summary(der)
        .map_err(|e| StoreError::Crypto(format!("issued certificate does not parse: {e}")))?;
    Ok(Entry {
        serial: cert.serial,
        kind,
        not_after: cert.not_after,
        sha256: sha256_hex(der),
        name: name.to_string(),
    })
}

pub fn sha256_hex(data: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, data)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `AB:CD:…` form of a hex fingerprint, as NSS and OpenSSL print it.
pub fn colon_fingerprint(hex: &str) -> String {
    hex.as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).to_uppercase())
        .collect::<Vec<_>>()
        .join(":")
}

/// The exported CA: a few lines of text (NSS skips text before the PEM block, as it does in
/// upstream's file, which starts with a `certutil -L` dump) and the PEM certificate.
fn ca_export_text(entry: &Entry, pem: &str) -> String {
    format!(
        "QNet CA certificate of qnetd (ECDSA P-256), serial {}\n\
         SHA-256 fingerprint: {}\n\
         Import on each cluster node: corosync-qdevice-net-certutil -i -c qnetd-cacert.crt\n\n{}",
        entry.serial,
        colon_fingerprint(&entry.sha256),
        pem
    )
}
