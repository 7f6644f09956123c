//! The one error type of the certificate store. Every variant says what to do next.

use std::fmt;
use std::io;
use std::path::PathBuf;

#[derive(Debug)]
pub enum StoreError {
    /// The store directory has no CA/server certificate yet.
    NotInitialised { dir: PathBuf },
    /// Some of the store's files exist, others are missing.
    Incomplete {
        dir: PathBuf,
        missing: Vec<&'static str>,
    },
    /// A file operation failed; `what` says which file and what we were doing.
    Io { what: String, source: io::Error },
    /// A stored file exists but cannot be understood.
    Corrupt { path: PathBuf, reason: String },
    /// A certificate request was refused (bad encoding, bad signature, wrong name…).
    BadRequest(String),
    /// A cluster name that cannot be used as part of a file name.
    BadName(String),
    /// Key generation, signing or encoding failed.
    Crypto(String),
    /// The directory holds upstream corosync-qnetd's NSS database and none of our keys yet.
    UpstreamNss { dir: PathBuf },
    /// An operation refused because of what it would break; the text says what and why.
    Refused(String),
    /// A private key file other users may read or write, or its group may write.
    KeyMode { path: PathBuf, mode: u32 },
}

impl StoreError {
    pub(crate) fn io(what: impl Into<String>, source: io::Error) -> Self {
        StoreError::Io {
            what: what.into(),
            source,
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::NotInitialised { dir } => write!(
                f,
                "no certificate store at {}: run `qnetd cert init` to create it",
                dir.display()
            ),
            StoreError::Incomplete { dir, missing } => write!(
                f,
                "certificate store at {} is incomplete (missing {}): run `qnetd cert init --force` \
                 to re-create it (the old files are kept in a backup directory)",
                dir.display(),
                missing.join(", ")
            ),
            StoreError::Io { what, source } => write!(f, "{what}: {source}"),
            StoreError::Corrupt { path, reason } => {
                write!(f, "{}: {reason}", path.display())
            }
            StoreError::BadRequest(msg) => write!(f, "certificate request refused: {msg}"),
            StoreError::BadName(msg) => write!(f, "invalid cluster name: {msg}"),
            StoreError::Crypto(msg) => write!(f, "{msg}"),
            StoreError::UpstreamNss { dir } => write!(
                f,
                "{0} holds the NSS database of upstream corosync-qnetd (made by \
                 corosync-qnetd-certutil), not yet a qnetd store: take it over with \
                 `qnetd cert --store {0} import-nss`, which keeps its CA, so every node enrolled \
                 with it keeps working (the upstream files stay as they are)",
                dir.display()
            ),
            StoreError::Refused(msg) => write!(f, "{msg}"),
            StoreError::KeyMode { path, mode } => write!(
                f,
                "{0} is mode {mode:04o}: a private key must not be open to other users nor \
                 writable by its group, so qnetd does not use it; run `chmod 600 {0}` (or \
                 `chmod 640 {0}` where a group, such as Debian's coroqnetd, must read it)",
                path.display()
            ),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<rcgen::Error> for StoreError {
    fn from(e: rcgen::Error) -> Self {
        StoreError::Crypto(format!("certificate generation failed: {e}"))
    }
}
