//! `qnetd cert import-nss` / `export-nss`: moving between upstream corosync-qnetd's NSS
//! database and our store without touching a node (see certtool's nss_import/nss_export), and
//! the guard that keeps `cert init --force` from silently throwing such a CA away.
//!
//! Both commands run NSS's certutil and pk12util, which a router never has: a build without
//! the `nss` feature (every router build) still knows them, but only to say where they are.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use argh::FromArgs;
#[cfg(feature = "nss")]
use certtool::nss_export::{self, ExportOptions};
#[cfg(feature = "nss")]
use certtool::nss_import::{self, ImportOptions};
use certtool::StoreError;

/// What a build without the `nss` feature answers to import-nss/export-nss (and what doctor's
/// hint says): the commands need a host with NSS's tools and a build that has them.
pub const NO_NSS_BUILD: &str = "this build has no NSS import/export (router builds leave it \
     out: a router has no NSS certutil or pk12util); run it on the host that has them \
     (libnss3-tools) with the x86_64 host build, qnetd-VERSION-x86_64-unknown-linux-musl of \
     the release";

/// Whether this build has import-nss/export-nss.
pub const HAS_NSS: bool = cfg!(feature = "nss");

#[cfg(not(feature = "nss"))]
fn not_in_this_build(cmd: &str) -> ExitCode {
    errln!("qnetd cert {cmd}: {NO_NSS_BUILD}");
    ExitCode::from(super::EXIT_USAGE)
}

/// take over upstream corosync-qnetd's NSS database (its CA, server certificate, cluster certificates and serials) into a qnetd store; needs NSS's certutil and pk12util
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "import-nss")]
pub struct ImportNssArgs {
    /// the upstream database directory (default: the store directory, `qnetd cert --store`)
    #[argh(option)]
    pub nssdb: Option<PathBuf>,
    /// write the store to this directory instead of next to the upstream files (to copy it
    /// to a router)
    #[argh(option)]
    pub out: Option<PathBuf>,
    /// the same as --out
    #[argh(option)]
    pub store: Option<PathBuf>,
}

/// write an NSS database that upstream corosync-qnetd serves from, from this store (the way back); needs NSS's certutil and pk12util
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "export-nss")]
pub struct ExportNssArgs {
    /// the directory to write the NSS database to (upstream's is /etc/corosync/qnetd/nssdb)
    #[argh(option)]
    pub nssdb: PathBuf,
}

#[cfg(not(feature = "nss"))]
pub fn import(_dir: &Path, _a: ImportNssArgs) -> ExitCode {
    not_in_this_build("import-nss")
}

#[cfg(not(feature = "nss"))]
pub fn export(_dir: &Path, _a: ExportNssArgs) -> ExitCode {
    not_in_this_build("export-nss")
}

#[cfg(feature = "nss")]
#[inline(never)]
pub fn import(dir: &Path, a: ImportNssArgs) -> ExitCode {
    let out = match (a.out, a.store) {
        (Some(_), Some(_)) => {
            return super::usage_error("cert import-nss", "give --out or --store, not both");
        }
        (o, s) => o.or(s),
    };
    let nssdb = a.nssdb.unwrap_or_else(|| dir.to_path_buf());
    let report = match nss_import::import(&ImportOptions {
        nssdb: nssdb.clone(),
        out,
    }) {
        Ok(r) => r,
        Err(e) => {
            errln!("qnetd cert import-nss: {e}");
            errln!("qnetd cert import-nss: nothing was written");
            return ExitCode::FAILURE;
        }
    };
    for s in &report.skipped {
        errln!("warning: not taken over: {s}");
    }
    let store = report.store.display();
    if report.written.is_empty() {
        outln!(
            "{store} already holds this CA ({:?}, serial {}) and every certificate of {}: \
             nothing to do",
            report.ca.name,
            report.ca.serial,
            nssdb.display()
        );
        return ExitCode::SUCCESS;
    }
    outln!(
        "imported {} into {store}{}:",
        nssdb.display(),
        if report.in_place { " (in place)" } else { "" }
    );
    outln!(
        "  CA {:?} serial {} (SHA-256 {}) with its key",
        report.ca.name,
        report.ca.serial,
        certtool::colon_fingerprint(&report.ca.sha256)
    );
    outln!(
        "  server certificate {:?} serial {} with its key (upstream's own, re-used)",
        report.server.name,
        report.server.serial
    );
    for c in &report.clusters {
        outln!("  cluster {:?} serial {}", c.name, c.serial);
    }
    outln!(
        "  serial.txt: {} (the next certificate gets {})",
        report.last_serial,
        report.last_serial + 1
    );
    outln!("  written: {}", report.written.join(", "));
    if report.in_place {
        outln!(
            "The upstream files are unchanged: stop corosync-qnetd and start qnetd on {store} \
             (the nodes need nothing)."
        );
    } else {
        outln!(
            "Copy {store} to the router as {} (e.g. `scp -r {store}/. root@ROUTER:{}/`), stop \
             corosync-qnetd here, give the router this host's address, start qnetd there.",
            certtool::DEFAULT_DIR,
            certtool::DEFAULT_DIR
        );
    }
    ExitCode::SUCCESS
}

#[cfg(feature = "nss")]
#[inline(never)]
pub fn export(dir: &Path, a: ExportNssArgs) -> ExitCode {
    let opts = ExportOptions {
        store: dir.to_path_buf(),
        nssdb: a.nssdb,
    };
    match nss_export::export(&opts) {
        Ok(r) if r.written.is_empty() => {
            outln!(
                "{} already holds this store's CA, server certificate and cluster \
                 certificates as an NSS database: nothing to do",
                r.nssdb.display()
            );
            ExitCode::SUCCESS
        }
        Ok(r) => {
            outln!(
                "wrote an NSS database for upstream corosync-qnetd to {}: {}",
                r.nssdb.display(),
                r.written.join(", ")
            );
            outln!(
                "  \"QNet CA\" (trust CT,,) and \"QNetd Cert\" with their keys, empty \
                 pwdfile.txt, {} cluster certificate(s)",
                r.clusters.len()
            );
            outln!("Stop qnetd and start corosync-qnetd on it; the nodes need nothing.");
            ExitCode::SUCCESS
        }
        Err(e) => {
            errln!("qnetd cert export-nss: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `cert init --force` on a directory whose CA came from upstream (still upstream's store, or
/// imported from it in place): every enrolled node trusts that CA, so a new one orphans them
/// all. Refused unless the user said so twice.
pub fn refuse_orphaning(dir: &Path, told_twice: bool) -> Result<(), StoreError> {
    let upstream_ca = certtool::has_nss_database(dir) && dir.join(certtool::CA_CERT_FILE).exists();
    if !upstream_ca || told_twice {
        return Ok(());
    }
    let clusters = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| {
                    let n = e.file_name();
                    let n = n.to_string_lossy();
                    n.starts_with("cluster-") && n.ends_with(".crt")
                })
                .count()
        })
        .unwrap_or(0);
    Err(StoreError::Refused(format!(
        "{} holds a CA from upstream corosync-qnetd's NSS database, with {clusters} cluster \
         certificate(s) signed by it: a new CA orphans every node enrolled with it (each \
         cluster must then run `pvecm qdevice remove` and `pvecm qdevice setup` again). To keep \
         them, run `qnetd cert --store {0} import-nss` instead. To replace the CA anyway, repeat \
         the flag: `qnetd cert --store {0} init --force --force` (or --force-orphan-nodes)",
        dir.display()
    )))
}
