//! The certificate store: one directory (default /etc/corosync/qnetd/nssdb, where pvecm fetches
//! `qnetd-cacert.crt` and `cluster-NAME.crt`), holding upstream's public files plus our keys.
//!
//! | file | content | mode |
//! | --- | --- | --- |
//! | qnetd-cacert.crt | short text preamble + PEM CA certificate (NSS `certutil -A` imports it) | 0644 |
//! | qnetd-ca.key, qnetd-server.key | PKCS#8 PEM private keys | 0640 / 0600 |
//! | qnetd-server.crt | PEM server certificate (CN "Qnetd Server") | 0660 / 0640 |
//! | cluster-NAME.crt | DER cluster certificate (as upstream) | 0660 / 0640 |
//! | serial.txt | last serial handed out (100 base; the CA's slot 101 is skipped, its serial is random; server 102…) | 0660 / 0640 |
//! | registry.txt | every certificate issued, and the revoked ones (see `registry`) | 0660 / 0640 |
//! | pkcs11.txt | a comment only: tells pcs the store is initialised (see `PCS_MARKER_FILE`) | 0660 / 0640 |
//!
//! The group-write bit of the store directory (0770, or 0750 after `-G`) decides 0660 vs 0640.
//! New files take the store directory's group (when root writes them); keys are 0640 when the
//! directory is group-readable, so a daemon running as that group's user (qnetd, coroqnetd)
//! reads them, and 0600 otherwise.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rcgen::{CertificateParams, Issuer, KeyPair};
use time::OffsetDateTime;

use crate::certinfo;
use crate::csr;
use crate::error::StoreError;
use crate::fsutil::{self, Owner, StoreLock};
use crate::profile;
use crate::registry::{self, Entry, Kind, Registry, Revocation};

pub const DEFAULT_DIR: &str = "/etc/corosync/qnetd/nssdb";
pub const CA_CERT_FILE: &str = "qnetd-cacert.crt";
pub const CA_KEY_FILE: &str = "qnetd-ca.key";
pub const SERVER_CERT_FILE: &str = "qnetd-server.crt";
pub const SERVER_KEY_FILE: &str = "qnetd-server.key";
pub const SERIAL_FILE: &str = "serial.txt";
pub const REGISTRY_FILE: &str = "registry.txt";
/// Upstream's first `serial.txt` value; the CA gets the next one (101).
const SERIAL_BASE: u64 = 100;
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

#[cfg_attr(not(feature = "nss"), allow(dead_code))] // only import-nss writes keys by it
pub(crate) const KEY_MODE: u32 = 0o600;
/// Mode bits a private key we use must not have: any access by others, and write by the group.
/// Group read is allowed: Debian's layout is root:coroqnetd 0640, its daemon reading as
/// coroqnetd.
const KEY_MODE_FORBIDDEN: u32 = 0o027;
pub(crate) const CA_EXPORT_MODE: u32 = 0o644;

/// What the TLS server needs, all DER.
#[derive(Clone, Debug)]
pub struct ServerCredentials {
    pub ca_cert_der: Vec<u8>,
    pub server_cert_der: Vec<u8>,
    pub server_key_pkcs8_der: Vec<u8>,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct InitOptions {
    /// Upstream `-G`: no group write bit (dir 0750, files 0640).
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

/// Which certificates `revoke` revokes.
#[derive(Clone, Copy, Debug)]
pub enum RevokeTarget<'a> {
    /// Every certificate issued for this cluster.
    Cluster(&'a str),
    /// The certificate with this serial.
    Serial(u64),
}

/// What `revoke` did.
#[derive(Clone, Debug, Default)]
pub struct RevokeOutcome {
    /// Revoked now; the entry is `None` for a serial the registry does not know.
    pub revoked: Vec<(Option<Entry>, Revocation)>,
    /// Were revoked before: left as they were (time and reason of the first revocation).
    pub already: Vec<(Option<Entry>, Revocation)>,
}

pub struct CertStore {
    dir: PathBuf,
    /// Mode of new non-key files (0660, or 0640 when the directory has no group write bit).
    file_mode: u32,
    /// Mode of new private keys (see `fsutil::key_mode`).
    key_mode: u32,
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
        let owner = fsutil::store_owner(dir, &config_dir(dir));
        let group_write = fs::metadata(dir)
            .map(|m| m.permissions().mode() & 0o020 != 0)
            .unwrap_or(true);
        CertStore {
            dir: dir.to_path_buf(),
            file_mode: if group_write { 0o660 } else { 0o640 },
            key_mode: fsutil::key_mode(dir, owner),
            owner,
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
        let dir_mode = if opts.no_group_write { 0o750 } else { 0o770 };
        let dir_created =
            fsutil::create_dir(dir, dir_mode, fsutil::reference_owner(&config_dir(dir)))?;
        // Inspect under the lock: two concurrent inits must not both create a CA.
        let _lock = StoreLock::acquire(dir, fsutil::reference_owner(&config_dir(dir)))?;
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
        let mut store = CertStore::at(dir);
        store.file_mode = if opts.no_group_write { 0o640 } else { 0o660 };
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
        self.write(
            CA_KEY_FILE,
            ca_key.serialize_pem().as_bytes(),
            self.key_mode,
        )?;
        self.write(
            SERVER_KEY_FILE,
            server_key.serialize_pem().as_bytes(),
            self.key_mode,
        )?;
        let ca_entry = entry_for(ca_cert.der(), Kind::Ca, profile::CA_CN)?;
        let server_entry = entry_for(server_cert.der(), Kind::Server, profile::SERVER_CN)?;
        self.record(&[ca_entry.clone(), server_entry])?;
        self.write(
            SERVER_CERT_FILE,
            server_cert.pem().as_bytes(),
            self.file_mode,
        )?;
        self.write(PCS_MARKER_FILE, PCS_MARKER_TEXT.as_bytes(), self.file_mode)?;
        let export = ca_export_text(&ca_entry, &ca_cert.pem());
        self.write(CA_CERT_FILE, export.as_bytes(), CA_EXPORT_MODE)
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
        fsutil::create_dir(&backup, 0o700, self.owner)?;
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
        let _lock = StoreLock::acquire(&self.dir, self.owner)?;
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
        let _lock = StoreLock::acquire(&self.dir, self.owner)?;
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
        self.write(&file, &der, self.file_mode)?;
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

    /// Revokes `target` with `reason`, recorded in the registry with the time. Only cluster
    /// (client) certificates: the CA and the server certificate are not checked by anyone we
    /// could tell. A serial the registry does not know is accepted if it was handed out
    /// (a certificate signed before `import-nss` whose file is gone), never a future one:
    /// that would revoke a certificate not yet signed.
    pub fn revoke(
        &self,
        target: RevokeTarget<'_>,
        reason: &str,
    ) -> Result<RevokeOutcome, StoreError> {
        let _lock = StoreLock::acquire(&self.dir, self.owner)?;
        let mut reg = self.registry()?;
        let serials = self.revoke_serials(&reg, target)?;
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let mut outcome = RevokeOutcome::default();
        for serial in serials {
            let entry = reg.entry(serial).cloned();
            if let Some(r) = reg.revocation(serial) {
                outcome.already.push((entry, r.clone()));
                continue;
            }
            let r = Revocation {
                serial,
                revoked_at: now,
                reason: registry::clean_reason(reason),
            };
            reg.revocations.push(r.clone());
            outcome.revoked.push((entry, r));
        }
        if !outcome.revoked.is_empty() {
            self.write(
                REGISTRY_FILE,
                registry::render_registry(&reg).as_bytes(),
                self.file_mode,
            )?;
        }
        Ok(outcome)
    }

    fn revoke_serials(
        &self,
        reg: &Registry,
        target: RevokeTarget<'_>,
    ) -> Result<Vec<u64>, StoreError> {
        match target {
            RevokeTarget::Cluster(cluster) => {
                let serials: Vec<u64> = reg
                    .entries
                    .iter()
                    .filter(|e| e.kind == Kind::Cluster && e.name == cluster)
                    .map(|e| e.serial)
                    .collect();
                if serials.is_empty() {
                    return Err(StoreError::Refused(format!(
                        "this store has issued no certificate for cluster {cluster:?} \
                         (`qnetd cert list` shows the ones it has)"
                    )));
                }
                Ok(serials)
            }
            RevokeTarget::Serial(serial) => {
                match reg.entry(serial) {
                    Some(e) if e.kind != Kind::Cluster => {
                        return Err(StoreError::Refused(format!(
                            "serial {serial} is the {} certificate, not a cluster certificate: \
                             only the certificates of cluster nodes can be revoked (to replace \
                             the CA or the server certificate, run `qnetd cert init --force`)",
                            e.kind.as_str()
                        )))
                    }
                    Some(_) => {}
                    // The CA's slot in upstream's numbering: our CAs have a random serial,
                    // upstream's CA (imported with import-nss) has this one.
                    None if serial == SERIAL_BASE + 1 => {
                        return Err(StoreError::Refused(format!(
                            "serial {serial} is the ca certificate's slot (upstream's CA serial), \
                             not a cluster certificate: only the certificates of cluster nodes \
                             can be revoked"
                        )))
                    }
                    None => {
                        let last = self.last_serial()?;
                        if serial > last {
                            return Err(StoreError::Refused(format!(
                                "serial {serial} has not been issued yet (the last one is \
                                 {last}): revoking it would revoke a certificate signed later"
                            )));
                        }
                    }
                }
                Ok(vec![serial])
            }
        }
    }

    /// The last serial handed out (serial.txt), or the base of a store that has none.
    fn last_serial(&self) -> Result<u64, StoreError> {
        let path = self.path(SERIAL_FILE);
        match fs::read_to_string(&path) {
            Ok(text) => text.trim().parse::<u64>().map_err(|_| StoreError::Corrupt {
                path: path.clone(),
                reason: format!("expected a decimal serial, found {:?}", text.trim()),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(SERIAL_BASE),
            Err(e) => Err(StoreError::io(format!("cannot read {}", path.display()), e)),
        }
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
                Kind::Cluster => fs::read(self.path(&file)).ok(),
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
        self.write(SERIAL_FILE, format!("{next}\n").as_bytes(), self.file_mode)?;
        Ok(next)
    }

    /// Adds `new` to the registry; its revocations stay as they are.
    fn record(&self, new: &[Entry]) -> Result<(), StoreError> {
        let mut reg = self.registry()?;
        reg.entries.extend_from_slice(new);
        self.write(
            REGISTRY_FILE,
            registry::render_registry(&reg).as_bytes(),
            self.file_mode,
        )
    }

    fn write(&self, file: &str, data: &[u8], mode: u32) -> Result<(), StoreError> {
        fsutil::write_atomic(&self.path(file), data, mode, self.owner)
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

/// Refuses a private key file whose mode lets other users read or write it, or its group write
/// it: the one rule for every command that uses a key (run, signing, doctor). A missing file
/// is left for the read to report.
pub fn check_key_mode(path: &Path) -> Result<(), StoreError> {
    match fs::metadata(path) {
        Ok(meta) if meta.permissions().mode() & KEY_MODE_FORBIDDEN != 0 => {
            Err(StoreError::KeyMode {
                path: path.to_path_buf(),
                mode: meta.permissions().mode() & 0o7777,
            })
        }
        _ => Ok(()),
    }
}

/// A private key's PKCS#8 DER from its PEM file, once its mode passes [`check_key_mode`].
fn read_key_pem(path: &Path) -> Result<Vec<u8>, StoreError> {
    check_key_mode(path)?;
    read_pem(path, &["PRIVATE KEY"])
}

/// Reads the first PEM block with one of `tags` from `path` (text around it is ignored).
pub(crate) fn read_pem(path: &Path, tags: &[&str]) -> Result<Vec<u8>, StoreError> {
    let data = fsutil::read(path)?;
    let corrupt = |reason: String| StoreError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let blocks = pem::parse_many(&data).map_err(|e| corrupt(format!("bad PEM: {e}")))?;
    blocks
        .into_iter()
        .find(|b| tags.contains(&b.tag()))
        .map(|b| b.into_contents())
        .ok_or_else(|| corrupt(format!("no {} PEM block", tags.join("/"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Tmp(PathBuf);
    impl Drop for Tmp {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn store(tag: &str) -> (Tmp, CertStore) {
        let base = std::env::temp_dir().join(format!("certtool-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        let (store, _) = CertStore::init(&base.join("nssdb"), InitOptions::default()).unwrap();
        (Tmp(base), store)
    }

    fn issue(store: &CertStore, cluster: &str) -> u64 {
        let key = profile::new_key().unwrap();
        store
            .issue_cluster_cert(cluster, &key)
            .unwrap()
            .entry
            .serial
    }

    #[test]
    fn revoking_a_cluster_revokes_all_its_certificates_and_no_later_one() {
        let (_t, s) = store("revoke-cluster");
        let a1 = issue(&s, "alpha");
        let a2 = issue(&s, "alpha");
        let b = issue(&s, "beta");
        let out = s.revoke(RevokeTarget::Cluster("alpha"), "stolen").unwrap();
        let serials: Vec<u64> = out.revoked.iter().map(|(_, r)| r.serial).collect();
        assert_eq!(serials, vec![a1, a2]);
        assert!(out.already.is_empty());
        let reg = s.registry().unwrap();
        assert_eq!(reg.revocation(a1).unwrap().reason, "stolen");
        assert!(reg.revocation(b).is_none());

        // Signing again afterwards works, and the new certificate is not revoked.
        let a3 = issue(&s, "alpha");
        let listed = s.list().unwrap();
        let find = |serial| listed.iter().find(|l| l.entry.serial == serial).unwrap();
        assert!(find(a1).revoked.is_some() && find(a2).revoked.is_some());
        assert!(find(a3).revoked.is_none() && find(a3).current);
        assert!(find(b).revoked.is_none());
        // The new entry was added without losing the revocations.
        assert_eq!(s.registry().unwrap().revocations.len(), 2);
    }

    #[test]
    fn revoking_again_keeps_the_first_time_and_reason() {
        let (_t, s) = store("revoke-again");
        let a = issue(&s, "alpha");
        let first = s.revoke(RevokeTarget::Serial(a), "first").unwrap();
        assert_eq!(first.revoked.len(), 1);
        let again = s.revoke(RevokeTarget::Cluster("alpha"), "second").unwrap();
        assert!(again.revoked.is_empty());
        assert_eq!(again.already[0].1.reason, "first");
        assert_eq!(s.registry().unwrap().revocations.len(), 1);
    }

    #[test]
    fn what_cannot_be_revoked_is_refused_and_changes_nothing() {
        let (_t, s) = store("revoke-refused");
        let a = issue(&s, "alpha");
        let reg = s.registry().unwrap();
        let ca = reg
            .entries
            .iter()
            .find(|e| e.kind == Kind::Ca)
            .unwrap()
            .serial;
        let before = fs::read(s.path(REGISTRY_FILE)).unwrap();
        for (target, words) in [
            (
                RevokeTarget::Cluster("nosuch"),
                "no certificate for cluster",
            ),
            (RevokeTarget::Serial(101), "the ca certificate"),
            (RevokeTarget::Serial(ca), "the ca certificate"),
            (RevokeTarget::Serial(102), "the server certificate"),
            (RevokeTarget::Serial(a + 1), "has not been issued yet"),
        ] {
            let e = s.revoke(target, "r").unwrap_err().to_string();
            assert!(e.contains(words), "{target:?}: {e}");
        }
        assert_eq!(fs::read(s.path(REGISTRY_FILE)).unwrap(), before);
    }

    #[test]
    fn a_serial_the_registry_does_not_know_can_be_revoked_if_it_was_handed_out() {
        let (_t, s) = store("revoke-unknown");
        let a = issue(&s, "alpha");
        // 103 is alpha's; pretend a certificate with serial 104 was signed elsewhere (before
        // an import) and serial.txt moved past it.
        fs::write(s.path(SERIAL_FILE), format!("{}\n", a + 5)).unwrap();
        let out = s.revoke(RevokeTarget::Serial(a + 2), "").unwrap();
        assert!(out.revoked[0].0.is_none());
        assert_eq!(out.revoked[0].1.serial, a + 2);
    }
}
