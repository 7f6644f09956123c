//! `qnetd cert list --json`: the store's certificates as one JSON object, for scripts and the
//! rpcd plugin behind LuCI's page (schema in docs/openwrt.md, "ubus").
//!
//! Serials are strings: a CA's serial is a random 64-bit number, beyond what a JavaScript
//! number holds exactly.

use std::fmt::Write as _;
use std::path::Path;

use certtool::registry::{Kind, Revocation};
use certtool::Listed;
use certtool::{CertStore, StoreError};

use crate::status::json::quote;

/// The document for the store at `dir`.
pub fn document(dir: &Path) -> Result<String, StoreError> {
    let store = CertStore::open(dir)?;
    let listed = store.list()?;
    let reg = store.registry()?;
    let current = |kind: Kind| {
        listed
            .iter()
            .find(|l| l.entry.kind == kind && l.current)
            .map_or_else(|| "null".to_string(), certificate)
    };
    let mut out = String::from("{");
    let _ = write!(out, "\"store\":{}", quote(&dir.to_string_lossy()));
    let _ = write!(out, ",\"ca\":{}", current(Kind::Ca));
    let _ = write!(out, ",\"server\":{}", current(Kind::Server));
    let clusters: Vec<String> = listed
        .iter()
        .filter(|l| l.entry.kind == Kind::Cluster)
        .map(certificate)
        .collect();
    let _ = write!(out, ",\"clusters\":[{}]", clusters.join(","));
    // Revoked serials the registry has no certificate for (signed before `import-nss`).
    let unrecorded: Vec<String> = reg
        .revocations
        .iter()
        .filter(|r| reg.entry(r.serial).is_none())
        .map(|r| format!("{{\"serial\":\"{}\",{}}}", r.serial, revocation(Some(r))))
        .collect();
    let _ = write!(
        out,
        ",\"unrecorded_revocations\":[{}]}}",
        unrecorded.join(",")
    );
    Ok(out)
}

/// What the page and scripts need of one certificate.
fn certificate(l: &Listed) -> String {
    let e = &l.entry;
    format!(
        "{{\"name\":{},\"serial\":\"{}\",\"not_after\":{},\"not_after_date\":\"{}\",\
         \"days_left\":{},\"sha256\":\"{}\",\"in_use\":{},{}}}",
        quote(&e.name),
        e.serial,
        e.not_after,
        e.not_after_date(),
        e.days_left(),
        certtool::colon_fingerprint(&e.sha256),
        l.current,
        revocation(l.revoked.as_ref())
    )
}

fn revocation(r: Option<&Revocation>) -> String {
    match r {
        Some(r) => format!(
            "\"revoked\":true,\"revoked_at\":{},\"reason\":{}",
            r.revoked_at,
            quote(&r.reason)
        ),
        None => "\"revoked\":false,\"revoked_at\":null,\"reason\":null".to_string(),
    }
}

/// `{"error": …}` for a store that cannot be listed, so a script reads one JSON answer
/// either way.
pub fn error_document(e: &StoreError) -> String {
    format!("{{\"error\":{}}}", quote(&e.to_string()))
}
