//! Who owns what in a store, in one place: root's tools write by it ([`file_mode`]), writers
//! refuse a store that breaks it ([`check_writer_store`]), `qnetd doctor` reports what breaks it
//! ([`audit`]), and `qnetd install` gives a store to the daemon's group by it ([`apply`]).
//!
//! The model (docs/security.md, "Ownership of the store"):
//! - root owns the store directory and every file in it: what root's tools write is root's,
//!   with the store directory's group (the daemon's: `qnetd` on OpenWrt, `coroqnetd` on Debian);
//! - the directory is 0750: the daemon's group lists and searches it and writes nothing;
//! - the CA key is 0600: the daemon never reads it (only signing, as root, does);
//! - every other file is 0640 (the server key and the files the daemon opens among them:
//!   CA export, server certificate, registry); dot files (`.lock`, a write's temp file) are
//!   root:root 0600, backup directories root:root 0700;
//! - nothing in the store is writable by its group or by others, nor owned by another user.
//!
//! A user who is not root running the tools on a store of their own gets the same modes, their
//! own uid and group.

use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rustix::fs::{FileType, Gid, Mode, OFlags, Uid};

use crate::error::StoreError;
use crate::fsutil;
use crate::store::{CA_CERT_FILE, CA_KEY_FILE, REGISTRY_FILE, SERVER_CERT_FILE, SERVER_KEY_FILE};

/// The store directory: the group lists and searches it, only root writes.
pub const DIR_MODE: u32 = 0o750;
/// A backup directory `init --force` makes inside the store: root's alone.
pub const BACKUP_DIR_MODE: u32 = 0o700;
/// The CA's private key: root's alone.
pub const CA_KEY_MODE: u32 = 0o600;
/// The daemon's private key: read by the daemon through the group.
pub const SERVER_KEY_MODE: u32 = 0o640;
/// Every other file: the group reads, nobody but root writes.
pub const FILE_MODE: u32 = 0o640;

/// The files of the store the daemon opens (besides listing the directory): what the
/// daemon's account must be able to read, and all it needs.
pub const DAEMON_READS: [&str; 4] = [
    CA_CERT_FILE,
    SERVER_CERT_FILE,
    SERVER_KEY_FILE,
    REGISTRY_FILE,
];

/// The mode a file named `name` has in the model.
pub fn file_mode(name: &str) -> u32 {
    match name {
        CA_KEY_FILE => CA_KEY_MODE,
        _ if name.starts_with('.') => CA_KEY_MODE,
        SERVER_KEY_FILE => SERVER_KEY_MODE,
        _ => FILE_MODE,
    }
}

/// The owner a file named `name` gets from a writer whose files are `owner`'s (root with the
/// store's group): the CA key and dot files keep root's group, so not even a mode change
/// would open them to the daemon's.
pub fn file_owner(name: &str, owner: Option<fsutil::Owner>) -> Option<fsutil::Owner> {
    let private = name == CA_KEY_FILE || name.starts_with('.');
    owner.map(|o| {
        if private {
            fsutil::Owner { gid: 0, ..o }
        } else {
            o
        }
    })
}

/// The accounts other than us that may own what a writer uses: root. (We may be root.)
fn trusted_uid(uid: u32) -> bool {
    uid == 0 || uid == rustix::process::geteuid().as_raw()
}

/// Checks, before a writer (init, sign, bundle, revoke, import) changes anything, that no
/// account but us and root can change the store: its directory must be ours or root's and not
/// writable by all or by a group other than root's, nor may a directory above it be (sticky
/// ones excepted), and no entry in it may belong to another user (a file the daemon
/// owns is one it can rewrite between our check and our use). Returns the directory's
/// descriptor, through which the lock file is opened.
pub fn check_writer_store(dir: &Path) -> Result<OwnedFd, StoreError> {
    let what = || format!("cannot open the store {}", dir.display());
    let fd = rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| StoreError::io(what(), e.into()))?;
    let st = rustix::fs::fstat(&fd).map_err(|e| StoreError::io(what(), e.into()))?;
    if let Some(why) = fsutil::writable_by_others(&st) {
        return Err(StoreError::Refused(format!(
            "the store {} {why}: another account could change what root writes and reads \
             there, so nothing is written; fix: {}",
            dir.display(),
            fix_dir(dir)
        )));
    }
    check_ancestors(dir)?;
    let foreign = foreign_entries(dir)?;
    if !foreign.is_empty() {
        let list = foreign
            .iter()
            .map(|(p, uid)| format!("{} (uid {uid})", p.display()))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(StoreError::Refused(format!(
            "the store {} holds files of another account: {list}; that account could change \
             them while root uses them, so nothing is written; fix: check them, then `chown \
             root {}` (on OpenWrt `qnetd install` does it)",
            dir.display(),
            foreign
                .iter()
                .map(|(p, _)| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" ")
        )));
    }
    Ok(fd)
}

/// The directories above the store must not let another account rename the store away and
/// put its own in its place: each one ours or root's, writable by nobody else (a sticky
/// directory such as /tmp excepted: there only an entry's owner may rename it).
/// Both the path as given (each prefix as it resolves: /proc/PID/root/... stays in that
/// process's mount namespace) and, when it resolves, the real path (the directories above a
/// symlink's target).
fn check_ancestors(dir: &Path) -> Result<(), StoreError> {
    let given = std::path::absolute(dir)
        .map_err(|e| StoreError::io(format!("cannot resolve {}", dir.display()), e))?;
    check_ancestors_of(dir, &given)?;
    match fs::canonicalize(dir) {
        Ok(real) if real != given => check_ancestors_of(dir, &real),
        _ => Ok(()),
    }
}

fn check_ancestors_of(dir: &Path, path: &Path) -> Result<(), StoreError> {
    for up in path.ancestors().skip(1) {
        let st = rustix::fs::stat(up)
            .map_err(|e| StoreError::io(format!("cannot stat {}", up.display()), e.into()))?;
        let sticky = st.st_mode & 0o1000 != 0 && trusted_uid(st.st_uid);
        if let Some(why) = fsutil::writable_by_others(&st).filter(|_| !sticky) {
            return Err(StoreError::Refused(format!(
                "{} (above the store {}) {why}: another account could put a store of its own \
                 in place of this one, so nothing is written; fix: keep the store under \
                 directories only root can write",
                up.display(),
                dir.display()
            )));
        }
    }
    Ok(())
}

fn fix_dir(dir: &Path) -> String {
    format!(
        "`chown root {0} && chmod 0750 {0}` (on OpenWrt `qnetd install` applies the whole model)",
        dir.display()
    )
}

/// Entries of `dir` (by lstat: a symlink is judged as itself) whose owner is neither us nor
/// root.
fn foreign_entries(dir: &Path) -> Result<Vec<(PathBuf, u32)>, StoreError> {
    let rd = fs::read_dir(dir)
        .map_err(|e| StoreError::io(format!("cannot list {}", dir.display()), e))?;
    let mut out = Vec::new();
    for ent in rd.flatten() {
        if let Ok(meta) = fs::symlink_metadata(ent.path()) {
            if !trusted_uid(meta.uid()) {
                out.push((ent.path(), meta.uid()));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// One way a store breaks the model, with the command that repairs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Breach {
    pub path: PathBuf,
    pub what: String,
    pub fix: String,
}

/// Everything in the store `dir` that breaks the model, for `qnetd doctor`. `daemon` is the
/// daemon's account (uid, gid) when known (an OpenWrt install); without it, the store
/// directory's group stands for the daemon's.
pub fn audit(dir: &Path, daemon: Option<(u32, u32)>) -> Vec<Breach> {
    let mut out = Vec::new();
    let Ok(dmeta) = fs::metadata(dir) else {
        return out;
    };
    let d = dir.display();
    if !trusted_uid(dmeta.uid()) || daemon.is_some_and(|(uid, _)| uid == dmeta.uid()) {
        out.push(Breach {
            path: dir.to_path_buf(),
            what: format!("belongs to uid {}, not to root", dmeta.uid()),
            fix: format!("chown root {d}"),
        });
    }
    if writable_by_group_or_all(&dmeta) {
        out.push(Breach {
            path: dir.to_path_buf(),
            what: format!(
                "is mode {:04o}: its group or every user can add, remove and replace its files",
                dmeta.mode() & 0o7777
            ),
            fix: format!("chmod 0750 {d}"),
        });
    }
    let Ok(rd) = fs::read_dir(dir) else {
        return out;
    };
    let mut entries: Vec<_> = rd.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        audit_entry(&path, daemon, dmeta.gid(), &mut out);
    }
    out
}

fn audit_entry(path: &Path, daemon: Option<(u32, u32)>, dir_gid: u32, out: &mut Vec<Breach>) {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return;
    };
    let p = path.display();
    let mode = meta.mode() & 0o7777;
    let push = |out: &mut Vec<Breach>, what: String, fix: String| {
        out.push(Breach {
            path: path.to_path_buf(),
            what,
            fix,
        })
    };
    if !trusted_uid(meta.uid()) || daemon.is_some_and(|(uid, _)| uid == meta.uid()) {
        push(
            out,
            format!(
                "belongs to uid {}, not to root: that account can rewrite it",
                meta.uid()
            ),
            format!("chown root {p}"),
        );
    }
    if meta.file_type().is_symlink() {
        return;
    }
    if writable_by_group_or_all(&meta) {
        push(
            out,
            format!("is mode {mode:04o}: writable by its group or by every user"),
            format!("chmod go-w {p}"),
        );
    }
    let is_ca_key = path.file_name().is_some_and(|n| n == CA_KEY_FILE);
    if is_ca_key {
        let readable = match daemon {
            Some((uid, gid)) => crate::ownership::permits(&meta, uid, gid, 0o4),
            None => mode & 0o004 != 0 || (mode & 0o040 != 0 && meta.gid() == dir_gid),
        };
        if readable || mode & 0o077 != 0 {
            push(
                out,
                format!(
                    "is mode {mode:04o}, group {}: the daemon's account (or another) can read the \
                     CA key, which only root's signing needs",
                    meta.gid()
                ),
                format!("chmod 600 {p}"),
            );
        }
    }
}

/// World-writable, or writable by a group other than root's.
fn writable_by_group_or_all(meta: &fs::Metadata) -> bool {
    meta.mode() & 0o002 != 0 || (meta.mode() & 0o020 != 0 && meta.gid() != 0)
}

/// Whether `uid`/`gid` (no supplementary groups: the daemon's account has none) may `want`
/// (4 read, 2 write, 1 search) on a file with this owner and mode, the way the kernel picks
/// one class.
pub fn permits(meta: &fs::Metadata, uid: u32, gid: u32, want: u32) -> bool {
    if uid == 0 {
        return true;
    }
    let bits = if meta.uid() == uid {
        meta.mode() >> 6
    } else if meta.gid() == gid {
        meta.mode() >> 3
    } else {
        meta.mode()
    };
    bits & want == want
}

/// What [`apply`] did not change, and why.
#[derive(Clone, Debug, Default)]
pub struct Applied {
    /// Entries left as they were: a symlink, a hard link, or a special file.
    pub refused: Vec<(PathBuf, String)>,
}

/// Gives the store `dir` to root and the daemon's group `gid` by the model, for `qnetd
/// install`. The directory is changed first (through a descriptor opened with O_NOFOLLOW, so
/// from then on only root can add or swap entries), then each entry is opened with
/// O_NOFOLLOW|O_NONBLOCK and changed through that descriptor with fchown/fchmod: a symlink,
/// a file with other hard links, or a special file is never changed and is reported.
pub fn apply(dir: &Path, gid: u32) -> Result<Applied, StoreError> {
    let what = || format!("cannot give {} to root and group {gid}", dir.display());
    let fd = rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| StoreError::io(what(), e.into()))?;
    set_owner_mode(&fd, 0, gid, DIR_MODE).map_err(|e| StoreError::io(what(), e))?;
    let mut applied = Applied::default();
    let rd = fs::read_dir(dir).map_err(|e| StoreError::io(what(), e))?;
    for ent in rd.flatten() {
        let name = ent.file_name();
        let path = ent.path();
        match apply_entry(&fd, &name, gid) {
            Ok(()) => {}
            Err(why) => applied.refused.push((path, why)),
        }
    }
    applied.refused.sort();
    Ok(applied)
}

fn apply_entry(dir: &OwnedFd, name: &std::ffi::OsStr, gid: u32) -> Result<(), String> {
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| match e {
        rustix::io::Errno::LOOP => "a symbolic link: left alone".to_string(),
        e => e.to_string(),
    })?;
    let st = rustix::fs::fstat(&fd).map_err(|e| e.to_string())?;
    let name = name.to_string_lossy();
    match FileType::from_raw_mode(st.st_mode) {
        FileType::Directory => set_owner_mode(&fd, 0, 0, BACKUP_DIR_MODE),
        FileType::RegularFile if st.st_nlink == 1 => {
            let group = if name == CA_KEY_FILE || name.starts_with('.') {
                0
            } else {
                gid
            };
            set_owner_mode(&fd, 0, group, file_mode(&name))
        }
        FileType::RegularFile => {
            return Err(format!(
                "has {} hard links (one may be a file elsewhere): left alone",
                st.st_nlink
            ))
        }
        _ => return Err("not a regular file: left alone".into()),
    }
    .map_err(|e| e.to_string())
}

fn set_owner_mode(fd: &OwnedFd, uid: u32, gid: u32, mode: u32) -> std::io::Result<()> {
    rustix::fs::fchown(fd, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))?;
    rustix::fs::fchmod(fd, Mode::from_raw_mode(mode))?;
    Ok(())
}
