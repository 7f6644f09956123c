//! Who owns what in a store, in one place: one table ([`rule`]) that root's tools write by
//! ([`file_mode`], [`file_owner`]), that writers refuse a store breaking ([`check_writer_store`]),
//! that `qnetd doctor` ([`audit`]) and install's planning ([`violations`]) check, and that
//! `qnetd install` and `cert init` bring a store to ([`enforce`], one fd-based walk).
//!
//! The model (docs/security.md, "Ownership of the store"), `GROUP` being the store directory's
//! group (the daemon's: `qnetd` on OpenWrt, `coroqnetd` on Debian):
//!
//! | what                                   | owner          | mode |
//! |----------------------------------------|----------------|------|
//! | the store directory                    | root:GROUP     | 0750 |
//! | the CA key                             | root:root      | 0600 |
//! | dot files (lock, temp files of a write) | root:root     | 0600 |
//! | subdirectories (backups: old CA keys)  | root:root      | 0700 |
//! | every other file (server key, certificates, registry, serial) | root:GROUP | 0640 |
//!
//! So the daemon's group lists and searches the store, reads what the daemon opens and writes
//! nothing; the daemon never reads the CA key (only signing does, as root). Nothing in the
//! store is writable by its group or by others, nor owned by another user.
//!
//! A user who is not root running the tools on a store of their own gets the same modes, their
//! own uid and group.

use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::StoreError;
use crate::fsutil;
use crate::store::{CA_CERT_FILE, CA_KEY_FILE, REGISTRY_FILE, SERVER_CERT_FILE, SERVER_KEY_FILE};

mod walk;

pub use walk::{enforce, Outcome};

/// The store directory: the group lists and searches it, only root writes.
pub const DIR_MODE: u32 = 0o750;
/// A subdirectory (a backup `init --force` makes inside the store): root's alone.
pub const BACKUP_DIR_MODE: u32 = 0o700;
/// The CA's private key: root's alone.
pub const CA_KEY_MODE: u32 = 0o600;
/// Dot files (the lock, a write's temp file): root's tools' business alone.
pub const PRIVATE_FILE_MODE: u32 = 0o600;
/// Every other file, the server key among them: the group reads, nobody but root writes.
pub const FILE_MODE: u32 = 0o640;

/// The files of the store the daemon opens (besides listing the directory): what the
/// daemon's account must be able to read, and all it needs.
pub const DAEMON_READS: [&str; 4] = [
    CA_CERT_FILE,
    SERVER_CERT_FILE,
    SERVER_KEY_FILE,
    REGISTRY_FILE,
];

/// One row of the model: the owner is always root (or the writer, when not root); the group
/// is root's or the store's (the daemon's), with this mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// The store's group (the daemon's) when true, root's (0) when false.
    pub store_group: bool,
    pub mode: u32,
}

/// The table: the rule for the entry `name` of the store (`is_dir`: a subdirectory).
pub fn rule(name: &str, is_dir: bool) -> Rule {
    let private = |mode| Rule {
        store_group: false,
        mode,
    };
    if is_dir {
        private(BACKUP_DIR_MODE)
    } else if name == CA_KEY_FILE {
        private(CA_KEY_MODE)
    } else if name.starts_with('.') {
        private(PRIVATE_FILE_MODE)
    } else {
        Rule {
            store_group: true,
            mode: FILE_MODE,
        }
    }
}

/// The rule for the store directory itself.
pub const STORE_RULE: Rule = Rule {
    store_group: true,
    mode: DIR_MODE,
};

/// The owner and mode one entry of the store must have, for root with the daemon's group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wanted {
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
}

impl Rule {
    /// This rule for root and the daemon's group `gid`.
    pub fn wanted(self, gid: u32) -> Wanted {
        Wanted {
            uid: 0,
            gid: if self.store_group { gid } else { 0 },
            mode: self.mode,
        }
    }
}

/// What the model says for `name` in the store, `gid` being the daemon's group.
pub fn wanted(name: &str, is_dir: bool, gid: u32) -> Wanted {
    rule(name, is_dir).wanted(gid)
}

/// What the model says for the store directory itself.
pub fn wanted_store(gid: u32) -> Wanted {
    STORE_RULE.wanted(gid)
}

/// The mode a file named `name` has in the model.
pub fn file_mode(name: &str) -> u32 {
    rule(name, false).mode
}

/// Whether the daemon's group gets the file `name` (all but the CA key and dot files).
pub fn shared_with_group(name: &str) -> bool {
    rule(name, false).store_group
}

/// The owner a file named `name` gets from a writer whose files are `owner`'s (root with the
/// store's group): the CA key and dot files keep root's group, so not even a mode change
/// would open them to the daemon's.
pub fn file_owner(name: &str, owner: Option<fsutil::Owner>) -> Option<fsutil::Owner> {
    owner.map(|o| {
        if shared_with_group(name) {
            o
        } else {
            fsutil::Owner { gid: 0, ..o }
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
    let what = format!("cannot open the store {}", dir.display());
    let (fd, others) = fsutil::open_dir_checked(dir, &what)?;
    if let Some(why) = others {
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
    if writable_beyond(&dmeta, STORE_RULE) {
        out.push(Breach {
            path: dir.to_path_buf(),
            what: format!(
                "is mode {:04o}: its group or every user can add, remove and replace its files",
                dmeta.mode() & 0o7777
            ),
            fix: format!("chmod {:04o} {d}", STORE_RULE.mode),
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
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let rule = rule(&name, meta.is_dir());
    if writable_beyond(&meta, rule) {
        push(
            out,
            format!("is mode {mode:04o}: writable by its group or by every user"),
            format!("chmod go-w {p}"),
        );
    }
    if name == CA_KEY_FILE {
        let readable = match daemon {
            Some((uid, gid)) => permits(&meta, uid, gid, 0o4),
            None => mode & 0o004 != 0 || (mode & 0o040 != 0 && meta.gid() == dir_gid),
        };
        if readable || mode & !rule.mode & 0o077 != 0 {
            push(
                out,
                format!(
                    "is mode {mode:04o}, group {}: the daemon's account (or another) can read the \
                     CA key, which only root's signing needs",
                    meta.gid()
                ),
                format!("chmod {:o} {p}", rule.mode),
            );
        }
    }
}

/// Writable by every user, or by a group other than root's, where `rule` does not grant it.
fn writable_beyond(meta: &fs::Metadata, rule: Rule) -> bool {
    let extra = meta.mode() & !rule.mode;
    extra & 0o002 != 0 || (extra & 0o020 != 0 && meta.gid() != 0)
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

/// The entries of `store` that differ from the table for the daemon's group `gid`, in words
/// (read only: for install's planning). Empty when the store is missing.
pub fn violations(store: &Path, gid: u32) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(meta) = fs::symlink_metadata(store) else {
        return found;
    };
    if !meta.is_dir() {
        found.push(format!("{} is not a directory", store.display()));
        return found;
    }
    differs(store, &meta, wanted_store(gid), &mut found);
    let Ok(entries) = fs::read_dir(store) else {
        return found;
    };
    for e in entries.flatten() {
        let path = e.path();
        let Ok(m) = fs::symlink_metadata(&path) else {
            continue;
        };
        let name = e.file_name().to_string_lossy().into_owned();
        if m.is_file() || m.is_dir() {
            differs(&path, &m, wanted(&name, m.is_dir(), gid), &mut found);
        } else {
            found.push(format!("{} is not a regular file", path.display()));
        }
    }
    found
}

fn differs(path: &Path, m: &fs::Metadata, want: Wanted, found: &mut Vec<String>) {
    if m.uid() != want.uid || m.gid() != want.gid || m.mode() & 0o7777 != want.mode {
        found.push(format!(
            "{} is {}:{} {:04o}, not {}:{} {:04o}",
            path.display(),
            m.uid(),
            m.gid(),
            m.mode() & 0o7777,
            want.uid,
            want.gid,
            want.mode
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_in_one_table() {
        let g = 5403;
        assert_eq!(wanted_store(g).mode, 0o750);
        assert_eq!(wanted_store(g).gid, g);
        assert_eq!(
            wanted(CA_KEY_FILE, false, g),
            Wanted {
                uid: 0,
                gid: 0,
                mode: 0o600
            }
        );
        assert_eq!(
            wanted(SERVER_KEY_FILE, false, g),
            Wanted {
                uid: 0,
                gid: g,
                mode: 0o640
            }
        );
        assert_eq!(wanted(".lock", false, g).gid, 0);
        assert_eq!(wanted(".lock", false, g).mode, 0o600);
        assert_eq!(wanted("backup-1", true, g).mode, 0o700);
        assert_eq!(wanted("backup-1", true, g).gid, 0);
        // What writers use is the same table.
        assert_eq!(file_mode(CA_KEY_FILE), 0o600);
        assert_eq!(file_mode(REGISTRY_FILE), 0o640);
        for name in DAEMON_READS {
            assert!(shared_with_group(name), "{name}");
        }
        assert!(!shared_with_group(CA_KEY_FILE));
    }
}
