//! `qnetd doctor`'s checks of the certificate store: it loads, its keys' modes, the ownership
//! model (docs/security.md), and the daemon's account reading what it opens.

use super::doctor::{Check, Env, Level};
use certtool::{CertStore, CA_KEY_FILE, SERVER_KEY_FILE};
use std::path::Path;

/// The store is one `qnetd run` accepts, judged by the very function it loads the store with
/// (a store it would refuse is not ready, whatever its files look like), and its CA key is the
/// CA certificate's, which signing for `pvecm qdevice setup` needs.
pub fn check_store(env: &Env) -> Check {
    const NAME: &str = "certificate store";
    let dir = env.store.display();
    let store = match CertStore::open(&env.store) {
        Ok(store) => store,
        Err(certtool::StoreError::UpstreamNss { .. }) => {
            return upstream_store_check(NAME, &env.store)
        }
        Err(e) => {
            return Check::bad(
                NAME,
                Level::Fail,
                e.to_string(),
                format!(
                    "create it with `qnetd cert --store {dir} init` (or let /etc/init.d/qnetd \
                     start do it); if it exists, run doctor as root"
                ),
            )
        }
    };
    let repair = format!(
        "put back the files from a backup (a backup-* directory in {dir}, or your own copy); \
         failing that, `qnetd cert --store {dir} init --force` makes a new CA, and every cluster \
         must then be enrolled again"
    );
    if let Err(e) = crate::server::tls::server_config(&env.store, true, Default::default()) {
        return Check::bad(
            NAME,
            Level::Fail,
            format!("`qnetd run` would refuse it: {e}"),
            repair,
        );
    }
    if let Err(e) = store.check_ca() {
        return Check::bad(
            NAME,
            Level::Fail,
            format!("signing would fail: {e}"),
            repair,
        );
    }
    Check::pass(
        NAME,
        format!("{dir}: the server certificate and key load as `qnetd run` loads them, and the CA key is the CA certificate's"),
    )
}

/// An NSS store of upstream corosync-qnetd: what it holds (from its file names alone, so no
/// NSS tool is needed here) and the command that takes it over.
fn upstream_store_check(name: &'static str, dir: &Path) -> Check {
    let mut clusters: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let f = e.file_name().to_str()?.to_string();
                    Some(
                        f.strip_prefix("cluster-")?
                            .strip_suffix(".crt")?
                            .to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    clusters.sort();
    let serial = certtool::fsutil::read(&dir.join(certtool::SERIAL_FILE))
        .map(|s| String::from_utf8_lossy(&s).trim().to_string())
        .unwrap_or_else(|_| "?".into());
    let shown = if clusters.is_empty() {
        "no cluster certificates".to_string()
    } else {
        format!(
            "{} cluster certificate(s): {}",
            clusters.len(),
            clusters.join(", ")
        )
    };
    let d = dir.display();
    Check::bad(
        name,
        Level::Fail,
        format!(
            "{d} is the NSS database of upstream corosync-qnetd (cert9.db, key4.db, CA exported \
             as qnetd-cacert.crt, {shown}, last serial {serial}), not yet a qnetd store"
        ),
        format!(
            "take it over with its CA, so no node needs anything: `qnetd cert --store {d} \
             import-nss` on the host that has NSS's certutil and pk12util (libnss3-tools), or \
             `qnetd cert --store {d} import-nss --out DIR` to copy the store to a router; do not \
             run `qnetd cert init --force`, which makes a new CA and orphans every enrolled \
             node{}",
            if super::cert_nss::HAS_NSS {
                String::new()
            } else {
                format!(" ({})", super::cert_nss::NO_NSS_BUILD)
            }
        ),
    )
}

/// Private key modes, by the rule `qnetd run` and signing apply ([`certtool::check_key_mode`]):
/// no access for others, no group write (0600, or 0640 for a group that reads them).
pub fn check_key_modes(env: &Env) -> Check {
    const NAME: &str = "key file modes";
    let mut loose = Vec::new();
    let mut found = 0;
    for file in [CA_KEY_FILE, SERVER_KEY_FILE] {
        let path = env.store.join(file);
        if !path.exists() {
            continue;
        }
        found += 1;
        if let Err(certtool::StoreError::KeyMode { path, mode }) = certtool::check_key_mode(&path) {
            loose.push((path, mode));
        }
    }
    if found == 0 {
        return Check::skip(NAME, "no key files in the store");
    }
    if loose.is_empty() {
        return Check::pass(
            NAME,
            "private keys are not open to other users nor group-writable",
        );
    }
    let detail = loose
        .iter()
        .map(|(p, m)| format!("{} is mode {m:04o}", p.display()))
        .collect::<Vec<_>>()
        .join("; ");
    let files = loose
        .iter()
        .map(|(p, _)| p.display().to_string())
        .collect::<Vec<_>>()
        .join(" ");
    Check::bad(
        NAME,
        Level::Fail,
        format!("{detail}: `qnetd run` and signing refuse such keys"),
        format!("chmod 600 {files}"),
    )
}

/// The daemon's account (OpenWrt: user `qnetd`) can read the store: a store root made or
/// changed after install may be root's alone, and the daemon would not start on it.
pub fn check_daemon_access(env: &Env) -> Check {
    const NAME: &str = "store readable by the daemon";
    use crate::install::service;
    let Some((user, uid, gid)) = &env.daemon_account else {
        return Check::skip(
            NAME,
            "the daemon runs as root (no service account installed)",
        );
    };
    if !env.store.is_dir() {
        return Check::skip(NAME, "no certificate store");
    }
    let denied: Vec<String> = service::daemon_store_paths(&env.store)
        .into_iter()
        .filter(|(path, want)| {
            std::fs::metadata(path).map_or(true, |m| {
                !certtool::ownership::permits(&m, *uid, *gid, *want)
            })
        })
        .map(|(path, _)| path.display().to_string())
        .collect();
    if denied.is_empty() {
        return Check::pass(
            NAME,
            format!("user {user} (uid {uid}) reads every file it needs"),
        );
    }
    Check::bad(
        NAME,
        Level::Fail,
        format!(
            "user {user}, whom the service runs the daemon as, cannot read {}: the daemon \
             will not start",
            denied.join(", ")
        ),
        "qnetd install (gives the store to the daemon's group again)".to_string(),
    )
}

/// The ownership model of the store (`certtool::ownership`): root owns the directory and every
/// file, nothing is writable by the group or others, the daemon's account cannot read the CA
/// key. Each breach is named with its own fix.
pub fn check_ownership(env: &Env) -> Check {
    const NAME: &str = "store ownership";
    if !env.store.is_dir() {
        return Check::skip(NAME, "no certificate store");
    }
    let daemon = env
        .daemon_account
        .as_ref()
        .map(|(_, uid, gid)| (*uid, *gid));
    let breaches = certtool::ownership::audit(&env.store, daemon);
    if breaches.is_empty() {
        return Check::pass(
            NAME,
            format!(
                "{}: root's, writable by root only; the CA key readable by root only",
                env.store.display()
            ),
        );
    }
    let detail = breaches
        .iter()
        .map(|b| format!("{} {}", b.path.display(), b.what))
        .collect::<Vec<_>>()
        .join("; ");
    let mut fixes: Vec<String> = breaches.iter().map(|b| b.fix.clone()).collect();
    fixes.dedup();
    let mut fix = fixes.join(" && ");
    if env.daemon_account.is_some() {
        fix.push_str(" (or `qnetd install`, which applies the whole model)");
    }
    Check::bad(NAME, Level::Fail, detail, fix)
}
