//! `qnetd cert …`: the certificate lifecycle (init, sign, bundle, list, revoke) on the certtool
//! store.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use argh::FromArgs;
use certtool::registry::{Entry, Revocation};
use certtool::{CertStore, InitOptions, InitOutcome, RevokeTarget, StoreError};

/// manage qnetd's certificates: CA and server certificate, cluster certificates, node bundles
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "cert")]
pub struct CertArgs {
    /// certificate store directory (default $QNETD_CERT_DIR, else /etc/corosync/qnetd/nssdb);
    /// --dir is the same
    #[argh(option, default = "crate::settings::default_store_dir()")]
    pub store: PathBuf,
    #[argh(subcommand)]
    pub command: CertCommand,
}

/// `qnetd cert --dir DIR` (the name before 0.2) is `--store DIR`, the name every other
/// command uses; argh has no aliases. Only the words before the cert command are `cert`'s own.
pub fn dir_as_store<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut out = Vec::with_capacity(args.len());
    let mut own = true;
    for (i, a) in args.iter().enumerate() {
        // args[0] is "cert"; a word that is not a flag nor a flag's value is the command.
        let is_value = i > 1 && matches!(args[i - 1], "--dir" | "--store");
        if i > 0 && !a.starts_with('-') && !is_value {
            own = false;
        }
        out.push(if own && !is_value && *a == "--dir" {
            "--store"
        } else {
            a
        });
    }
    out
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum CertCommand {
    Init(InitArgs),
    Sign(SignArgs),
    Bundle(BundleArgs),
    List(ListArgs),
    Revoke(RevokeArgs),
    ImportNss(super::cert_nss::ImportNssArgs),
    ExportNss(super::cert_nss::ExportNssArgs),
}

/// create the CA ("QNet CA") and the server certificate ("Qnetd Server"); does nothing if they exist
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "init")]
pub struct InitArgs {
    /// re-create the CA and server certificate; the old files are moved to a backup directory
    /// (twice, `--force --force`, where the CA came from upstream's NSS database)
    #[argh(switch)]
    pub force: u8,
    /// with --force: also replace a CA taken over from upstream's NSS database, knowing that
    /// every node enrolled with it must then be enrolled again
    #[argh(switch)]
    pub force_orphan_nodes: bool,
    /// upstream -G, accepted as a no-op: the store is always directory 0750, files 0640, the CA key 0600
    #[argh(switch, short = 'G')]
    pub no_group_write: bool,
}

/// sign a node's certificate request (DER or PEM PKCS#10) into cluster-NAME.crt
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "sign")]
pub struct SignArgs {
    /// the request file (corosync-qdevice-net-certutil -r writes qdevice-net-node.crq)
    #[argh(option)]
    pub csr: PathBuf,
    /// the cluster name; must be the request's CN
    #[argh(option)]
    pub cluster: String,
}

/// make a node key, its cluster certificate and qdevice-net-node.p12 for a cluster, with the commands to run on the nodes
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "bundle")]
pub struct BundleArgs {
    /// the cluster name (corosync totem.cluster_name)
    #[argh(option)]
    pub cluster: String,
    /// output directory (default: bundle-NAME in the store directory)
    #[argh(option)]
    pub out: Option<PathBuf>,
}

/// list the CA, the server certificate and every issued cluster certificate
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "list")]
pub struct ListArgs {
    /// print one JSON object instead of the table (schema in docs/openwrt.md)
    #[argh(switch)]
    pub json: bool,
}

/// revoke every certificate issued for a cluster, or one by serial: the daemon refuses it from
/// its next start or reload (`qnetd reload`); sign a new one for the cluster afterwards as usual
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "revoke")]
pub struct RevokeArgs {
    /// the cluster whose certificates to revoke (all of them)
    #[argh(positional)]
    pub cluster: Option<String>,
    /// revoke only the certificate with this serial (see `qnetd cert list`)
    #[argh(option)]
    pub serial: Option<String>,
    /// why, recorded with the revocation and logged when the certificate is refused
    #[argh(option, default = "String::new()")]
    pub reason: String,
}

#[inline(never)] // see cli::main
pub fn main(args: CertArgs) -> ExitCode {
    let result = match args.command {
        CertCommand::Init(a) => init(&args.store, a),
        CertCommand::Sign(a) => sign(&args.store, a),
        CertCommand::Bundle(a) => bundle(&args.store, a),
        CertCommand::List(a) if a.json => return list_json(&args.store),
        CertCommand::List(_) => list(&args.store),
        CertCommand::Revoke(a) => match revoke_target(&a) {
            Ok(target) => revoke(&args.store, target, &a.reason),
            Err(e) => return super::usage_error("cert revoke", e),
        },
        CertCommand::ImportNss(a) => return super::cert_nss::import(&args.store, a),
        CertCommand::ExportNss(a) => return super::cert_nss::export(&args.store, a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            errln!("qnetd cert: {e}");
            ExitCode::FAILURE
        }
    }
}

fn wait_note() {
    if !certtool::random_pool_ready() {
        errln!("waiting for the kernel's random pool to be initialised (getrandom would block)…");
    }
}

fn init(dir: &Path, a: InitArgs) -> Result<(), StoreError> {
    if a.force > 0 {
        super::cert_nss::refuse_orphaning(dir, a.force > 1 || a.force_orphan_nodes)?;
    }
    wait_note();
    let opts = InitOptions {
        no_group_write: a.no_group_write,
        force: a.force > 0,
    };
    share_new_store(dir)?;
    let (store, outcome) = CertStore::init(dir, opts)?;
    finish_shared_store(dir)?;
    if matches!(outcome, InitOutcome::Created { .. }) && certtool::has_nss_database(dir) {
        errln!(
            "note: {} also holds an NSS database from upstream corosync-qnetd; its CA is not \
             used: nodes enrolled with it must be enrolled again with the new CA",
            dir.display()
        );
    }
    match outcome {
        InitOutcome::Unchanged => {
            outln!(
                "certificate store {} is already initialised: nothing changed (use --force to re-create it)",
                dir.display()
            );
        }
        InitOutcome::Created { backup, .. } => {
            if let Some(b) = backup {
                outln!("previous certificates moved to {}", b.display());
            }
            for l in store.list()?.iter().filter(|l| l.current) {
                outln!(
                    "created {:?} serial {} (SHA-256 {})",
                    l.entry.name,
                    l.entry.serial,
                    certtool::colon_fingerprint(&l.entry.sha256)
                );
            }
            outln!(
                "CA certificate exported as {}",
                store.path(certtool::CA_CERT_FILE).display()
            );
        }
    }
    Ok(())
}

/// On an OpenWrt install, a store root creates anew is made the daemon's group's first, so the
/// daemon (user `qnetd`) can read what init writes (shared with `corosync-qnetd-certutil -i`).
pub(super) fn share_new_store(dir: &Path) -> Result<(), StoreError> {
    let mode = certtool::ownership::DIR_MODE;
    let shared = crate::install::service::create_store_for_daemon(dir, mode).map_err(|source| {
        StoreError::Io {
            what: format!("cannot create {} for the daemon's group", dir.display()),
            source,
        }
    })?;
    if let Some(gid) = shared {
        outln!(
            "created {} for group {} (gid {gid}), the daemon's",
            dir.display(),
            crate::install::account::NAME
        );
    }
    Ok(())
}

/// After init into the installed OpenWrt service's store (new, or re-created with --force):
/// root's files, readable by the daemon's group, the CA key root's alone (docs/openwrt.md).
pub(super) fn finish_shared_store(dir: &Path) -> Result<(), StoreError> {
    let Some(gid) = crate::install::service::daemon_group_for_store(dir) else {
        return Ok(());
    };
    let out = certtool::ownership::enforce(dir, gid)?;
    for skipped in out.warnings() {
        errln!("warning: {skipped}");
    }
    Ok(())
}

fn sign(dir: &Path, a: SignArgs) -> Result<(), StoreError> {
    let store = CertStore::open(dir)?;
    // The admin's own path: a symlink is followed, but it must lead to a regular file.
    let request = read_request(&a.csr)?;
    wait_note(); // ECDSA signatures need fresh randomness too
    let issued = store.sign_request(&request, &a.cluster)?;
    outln!(
        "signed the certificate of cluster {:?} (serial {}), stored in {}",
        a.cluster,
        issued.entry.serial,
        issued.path.display()
    );
    Ok(())
}

/// A certificate request file, read with the CSR cap: never a FIFO, a device or a huge file.
pub(super) fn read_request(path: &Path) -> Result<Vec<u8>, StoreError> {
    certtool::fsutil::read_capped(
        path,
        certtool::fsutil::cap::CSR,
        certtool::fsutil::Links::Follow,
    )
}

fn bundle(dir: &Path, a: BundleArgs) -> Result<(), StoreError> {
    let store = CertStore::open(dir)?;
    wait_note();
    let out = a
        .out
        .unwrap_or_else(|| dir.join(format!("bundle-{}", a.cluster)));
    let b = certtool::bundle::make(&store, &a.cluster, &out)?;
    outln!(
        "issued the node certificate of cluster {:?} (serial {}) into the bundle only ({}); \
         the store's {} is left as it is",
        a.cluster,
        b.issued.entry.serial,
        b.cert_path.display(),
        certtool::cluster_cert_file(&a.cluster)
    );
    outln!("bundle written to {}:", b.dir.display());
    outln!(
        "  {}  (key + certificate, nickname {:?}, empty password)",
        certtool::bundle::P12_FILE,
        certtool::bundle::NODE_NICKNAME
    );
    outln!("  {}  (the CA)", certtool::CA_CERT_FILE);
    outln!(
        "  {}  (one self-contained script doing the commands below)",
        certtool::bundle::SCRIPT_FILE
    );
    outln!();
    out!("{}", b.commands);
    Ok(())
}

/// `list --json`: one JSON object on stdout, an `{"error": …}` one (and exit 1) when the store
/// cannot be listed.
fn list_json(dir: &Path) -> ExitCode {
    match super::cert_json::document(dir) {
        Ok(doc) => {
            outln!("{doc}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            outln!("{}", super::cert_json::error_document(&e));
            errln!("qnetd cert: {e}");
            ExitCode::FAILURE
        }
    }
}

fn list(dir: &Path) -> Result<(), StoreError> {
    let store = CertStore::open(dir)?;
    let listed = store.list()?;
    // A CA's serial is a random 64-bit number (up to 20 digits): the column takes the width
    // of the longest serial so every row stays aligned under its header.
    let width = listed
        .iter()
        .map(|l| l.entry.serial.to_string().len())
        .max()
        .unwrap_or(0)
        .max("SERIAL".len());
    outln!(
        "{:<8} {:<24} {:>width$}  {:<10} {:>9}  SHA-256",
        "KIND",
        "NAME",
        "SERIAL",
        "NOT-AFTER",
        "DAYS-LEFT"
    );
    let mut warnings = Vec::new();
    for l in listed {
        let e = &l.entry;
        let days = e.days_left();
        let date = e.not_after_date();
        let kind = e.kind.as_str();
        let note = match (&l.revoked, l.current) {
            (Some(r), _) => format!(" (revoked {}: {})", r.revoked_at_text(), r.reason_text()),
            (None, true) => String::new(),
            (None, false) => " (replaced)".to_string(),
        };
        outln!(
            "{:<8} {:<24} {:>width$}  {:<10} {:>9}  {}{}",
            kind,
            e.name,
            e.serial,
            date,
            days,
            certtool::colon_fingerprint(&e.sha256),
            note
        );
        if l.current && l.revoked.is_none() && e.expires_soon() {
            warnings.push(format!(
                "warning: {kind} certificate {:?} (serial {}) {}",
                e.name,
                e.serial,
                if days < 0 {
                    "has expired".to_string()
                } else {
                    format!("expires in {days} days")
                }
            ));
        }
    }
    list_unrecorded_revocations(&store)?;
    for w in warnings {
        errln!("{w}");
    }
    Ok(())
}

/// Revoked serials the registry has no certificate for (signed before `import-nss`).
fn list_unrecorded_revocations(store: &CertStore) -> Result<(), StoreError> {
    let reg = store.registry()?;
    for r in reg
        .revocations
        .iter()
        .filter(|r| reg.entry(r.serial).is_none())
    {
        outln!(
            "{:<8} {:<24} {:>6}  (not in the registry; revoked {}: {})",
            "cluster",
            "?",
            r.serial,
            r.revoked_at_text(),
            r.reason_text()
        );
    }
    Ok(())
}

/// What `revoke`'s command line names; a message for a command line that names nothing or
/// too much.
fn revoke_target(a: &RevokeArgs) -> Result<RevokeTarget<'_>, String> {
    let serial = match &a.serial {
        Some(text) => Some(
            text.trim()
                .parse::<u64>()
                .map_err(|_| format!("--serial must be a decimal number, not {text:?}"))?,
        ),
        None => None,
    };
    match (&a.cluster, serial) {
        (Some(cluster), None) => Ok(RevokeTarget::Cluster(cluster)),
        (None, Some(serial)) => Ok(RevokeTarget::Serial(serial)),
        _ => Err(
            "give either a cluster name (all its certificates) or --serial N (one \
                  certificate), not both"
                .into(),
        ),
    }
}

fn revoke(dir: &Path, target: RevokeTarget<'_>, reason: &str) -> Result<(), StoreError> {
    let store = CertStore::open(dir)?;
    let outcome = store.revoke(target, reason)?;
    for (entry, r) in &outcome.revoked {
        outln!("revoked {}", describe(entry.as_ref(), r));
    }
    for (entry, r) in &outcome.already {
        outln!(
            "already revoked {} (revoked {}: {})",
            describe(entry.as_ref(), r),
            r.revoked_at_text(),
            r.reason_text()
        );
    }
    if !outcome.revoked.is_empty() {
        outln!(
            "a running daemon refuses it after `qnetd reload` (or SIGHUP), which also drops the \
             nodes connected with it"
        );
    }
    Ok(())
}

fn describe(entry: Option<&Entry>, r: &Revocation) -> String {
    match entry {
        Some(e) => format!(
            "the certificate of cluster {:?} (serial {})",
            e.name, r.serial
        ),
        None => format!("serial {} (not in the registry)", r.serial),
    }
}

#[cfg(test)]
mod tests {
    use super::dir_as_store;

    #[test]
    fn dir_before_the_command_is_store_and_nothing_else_changes() {
        assert_eq!(
            dir_as_store(&["cert", "--dir", "/s", "list"]),
            ["cert", "--store", "/s", "list"]
        );
        assert_eq!(
            dir_as_store(&["cert", "import-nss", "--dir", "x"]),
            ["cert", "import-nss", "--dir", "x"]
        );
        // "--dir" as the value of --store is a directory name, not a flag.
        assert_eq!(
            dir_as_store(&["cert", "--store", "--dir", "init"]),
            ["cert", "--store", "--dir", "init"]
        );
    }
}
