//! The multi-call names as links to the binary, so `corosync-qnetd`, `corosync-qnetd-certutil`
//! (run by `pvecm qdevice setup` over ssh), `corosync-qnetd-tool` (crmsh, pcs) and
//! `sftp-server` (Dropbear's sftp subsystem) find us. Idempotent; never clobbers a different
//! file unless forced.

use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The names the multi-call binary answers to (src/main.rs).
pub const NAMES: [&str; 3] = [
    "corosync-qnetd",
    "corosync-qnetd-certutil",
    "corosync-qnetd-tool",
];

/// What a non-interactive ssh session on OpenWrt has on its PATH (dropbear's DEFAULT_PATH =
/// TARGET_INIT_PATH); pvecm runs `corosync-qnetd-certutil` through such a session.
pub const SSH_PATH: [&str; 4] = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"];

/// What happened to one name.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Already a link to the target; nothing done.
    Unchanged,
    Created {
        how: LinkKind,
    },
    Replaced {
        how: LinkKind,
        was: String,
    },
    /// A different file is there and `--force` was not given.
    Refused {
        what: String,
    },
    Failed(String),
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum LinkKind {
    Symlink,
    /// Used when the file system refuses symlinks.
    HardLink,
}

impl fmt::Display for LinkKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LinkKind::Symlink => "symlink",
            LinkKind::HardLink => "hard link",
        })
    }
}

/// Make `dir/name` a link to `target`. `target` must be an absolute, existing path.
pub fn install_one(dir: &Path, name: &str, target: &Path, force: bool) -> Outcome {
    let link = dir.join(name);
    let existing = match fs::symlink_metadata(&link) {
        Ok(meta) => Some(meta),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Outcome::Failed(format!("cannot inspect {}: {e}", link.display())),
    };
    let Some(meta) = existing else {
        return match make_link(dir, name, target) {
            Ok(how) => Outcome::Created { how },
            Err(e) => Outcome::Failed(e),
        };
    };
    if is_same_file(&link, target) {
        return Outcome::Unchanged;
    }
    let what = describe(&link, &meta);
    if !force {
        return Outcome::Refused { what };
    }
    match make_link(dir, name, target) {
        Ok(how) => Outcome::Replaced { how, was: what },
        Err(e) => Outcome::Failed(e),
    }
}

/// What is at `path` now, compared with `target`.
#[derive(Debug, PartialEq, Eq)]
pub enum State {
    Absent,
    /// Already runs `target` (a symlink to it, possibly through other links, or a hard link).
    Ours,
    /// Something else, in words ("a 12-byte file", "a symlink to /usr/lib/openssh/sftp-server").
    Foreign(String),
    Unreadable(String),
}

/// Looks at `path` without changing anything (for planning and `--dry-run`).
pub fn inspect(path: &Path, target: &Path) -> State {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => State::Absent,
        Err(e) => State::Unreadable(format!("cannot inspect {}: {e}", path.display())),
        Ok(_) if is_same_file(path, target) => State::Ours,
        Ok(meta) => State::Foreign(describe(path, &meta)),
    }
}

/// True if `link` resolves to the same file as `target` (a symlink to it, possibly through
/// other links, or a hard link).
pub fn is_same_file(link: &Path, target: &Path) -> bool {
    match (fs::metadata(link), fs::metadata(target)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

fn describe(path: &Path, meta: &fs::Metadata) -> String {
    if meta.file_type().is_symlink() {
        match fs::read_link(path) {
            Ok(dest) => format!("a symlink to {}", dest.display()),
            Err(_) => "a symlink".to_string(),
        }
    } else if meta.is_dir() {
        "a directory".to_string()
    } else {
        format!("a {}-byte file", meta.len())
    }
}

/// Create the link under a temporary name, then rename it into place, so the name is never
/// missing or half-made (and an existing file is replaced atomically).
pub fn make_link(dir: &Path, name: &str, target: &Path) -> Result<LinkKind, String> {
    let tmp = dir.join(format!(".{name}.qnetd-install"));
    let _ = fs::remove_file(&tmp);
    // A target in the same directory is linked by its bare name, so the links survive the
    // directory being moved or mounted elsewhere (image builds, chroots).
    let link_text = if target.parent() == Some(dir) {
        target.file_name().map(PathBuf::from)
    } else {
        None
    }
    .unwrap_or_else(|| target.to_path_buf());
    let how = match std::os::unix::fs::symlink(&link_text, &tmp) {
        Ok(()) => LinkKind::Symlink,
        Err(sym_err) => match fs::hard_link(target, &tmp) {
            Ok(()) => LinkKind::HardLink,
            Err(hard_err) => {
                return Err(format!(
                    "cannot link {} to {}: symlink: {sym_err}; hard link: {hard_err}",
                    dir.join(name).display(),
                    target.display()
                ))
            }
        },
    };
    fs::rename(&tmp, dir.join(name)).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        format!("cannot put the link at {}: {e}", dir.join(name).display())
    })?;
    Ok(how)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("qnetd-install-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn create_then_unchanged_then_refuse_then_force() {
        let dir = tempdir("unit");
        let bin = dir.join("qnetd");
        fs::write(&bin, b"binary").unwrap();
        assert_eq!(
            install_one(&dir, "corosync-qnetd-tool", &bin, false),
            Outcome::Created {
                how: LinkKind::Symlink
            }
        );
        // Same directory: linked by bare name.
        assert_eq!(
            fs::read_link(dir.join("corosync-qnetd-tool")).unwrap(),
            PathBuf::from("qnetd")
        );
        assert_eq!(
            install_one(&dir, "corosync-qnetd-tool", &bin, false),
            Outcome::Unchanged
        );
        // A hard link to the binary also counts as installed.
        fs::hard_link(&bin, dir.join("corosync-qnetd")).unwrap();
        assert_eq!(
            install_one(&dir, "corosync-qnetd", &bin, false),
            Outcome::Unchanged
        );
        fs::write(dir.join("corosync-qnetd-certutil"), b"#!/bin/bash\n").unwrap();
        assert_eq!(
            install_one(&dir, "corosync-qnetd-certutil", &bin, false),
            Outcome::Refused {
                what: "a 12-byte file".into()
            }
        );
        assert_eq!(
            fs::read(dir.join("corosync-qnetd-certutil")).unwrap(),
            b"#!/bin/bash\n"
        );
        assert_eq!(
            install_one(&dir, "corosync-qnetd-certutil", &bin, true),
            Outcome::Replaced {
                how: LinkKind::Symlink,
                was: "a 12-byte file".into()
            }
        );
        assert_eq!(
            fs::read(dir.join("corosync-qnetd-certutil")).unwrap(),
            b"binary"
        );
        assert!(!dir.join(".corosync-qnetd-certutil.qnetd-install").exists());
        let _ = fs::remove_dir_all(&dir);
    }
}
