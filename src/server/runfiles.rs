//! The files the daemon makes at start (its runtime directory and the status socket) as
//! guards that remove them again when dropped: a start that fails half-way, and a daemon
//! that stops, leave nothing behind. The lock file is the same kind of guard
//! ([`super::lockfile`]).

use std::fs::DirBuilder;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

/// The directories this daemon created, innermost first; each is removed when this is dropped
/// if it is empty by then (anything someone else put there keeps it).
#[derive(Debug, Default)]
pub struct CreatedDirs(Vec<PathBuf>);

impl Drop for CreatedDirs {
    fn drop(&mut self) {
        for dir in &self.0 {
            if let Err(e) = std::fs::remove_dir(dir) {
                log::debug!("kept directory {}: {e}", dir.display());
                return;
            }
        }
    }
}

/// Makes the directory `file` lives in if it is missing, with the upstream unit's
/// RuntimeDirectory mode 0770, and remembers each level it made.
pub fn make_parent_dir(file: &Path) -> Result<CreatedDirs, String> {
    let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return Ok(CreatedDirs::default());
    };
    let missing: Vec<PathBuf> = dir
        .ancestors()
        .take_while(|d| !d.as_os_str().is_empty() && !d.exists())
        .map(Path::to_path_buf)
        .collect();
    if !missing.is_empty() {
        DirBuilder::new()
            .recursive(true)
            .mode(0o770)
            .create(dir)
            .map_err(|e| format!("cannot create directory {}: {e}", dir.display()))?;
    }
    Ok(CreatedDirs(missing))
}

impl CreatedDirs {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The status socket file this daemon bound. Dropping it removes the file, but only while it
/// is still the socket we bound (same device and inode): if another process has put its own
/// socket at that path since, that one stays.
#[derive(Debug)]
pub struct SocketFile {
    path: PathBuf,
    id: (u64, u64),
    _dirs: CreatedDirs,
}

impl SocketFile {
    /// Records the socket just bound at `path`.
    pub fn bound(path: &Path, dirs: CreatedDirs) -> Result<SocketFile, String> {
        let meta = std::fs::symlink_metadata(path)
            .map_err(|e| format!("cannot read status socket {}: {e}", path.display()))?;
        Ok(SocketFile {
            path: path.to_path_buf(),
            id: (meta.dev(), meta.ino()),
            _dirs: dirs,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        let still_ours =
            std::fs::symlink_metadata(&self.path).is_ok_and(|m| (m.dev(), m.ino()) == self.id);
        if !still_ours {
            log::info!(
                "left {} alone: it is no longer the status socket this daemon made",
                self.path.display()
            );
            return;
        }
        if let Err(e) = std::fs::remove_file(&self.path) {
            log::debug!("cannot remove {}: {e}", self.path.display());
        }
        // _dirs drops after this: the directory goes only once the socket is gone.
    }
}

/// Before binding the status socket at `path`: a socket file there that a process answers
/// on belongs to a running daemon, and taking it over would leave that daemon without its
/// status socket (and remove it when we stop). A file nobody answers on is stale: a daemon
/// that died without cleaning up; the caller may replace it.
pub fn refuse_live_socket(path: &Path) -> Result<(), String> {
    match UnixStream::connect(path) {
        Ok(_) => Err(format!(
            "another daemon is serving the status socket {}; refusing to start (give this \
             one its own with --socket, or stop the other first)",
            path.display()
        )),
        Err(e) if is_stale(&e) => Ok(()),
        Err(e) => Err(format!(
            "cannot check whether a daemon is serving {}: {e}",
            path.display()
        )),
    }
}

/// Errors of connect() that mean no daemon is there: no file, or a socket file with no
/// listener behind it.
fn is_stale(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("qnetd-runfiles-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn created_directories_go_when_empty_existing_ones_stay() {
        let base = tmp("dirs");
        std::fs::create_dir_all(&base).unwrap();
        let dirs = make_parent_dir(&base.join("a/b/file")).unwrap();
        assert!(base.join("a/b").is_dir());
        assert!(make_parent_dir(&base.join("a/b/other")).unwrap().is_empty());
        drop(dirs);
        assert!(!base.join("a").exists());
        assert!(base.is_dir());

        let dirs = make_parent_dir(&base.join("c/file")).unwrap();
        std::fs::write(base.join("c/someone-elses"), b"x").unwrap();
        drop(dirs);
        assert!(base.join("c/someone-elses").exists());
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn a_socket_replaced_by_another_is_not_removed() {
        let base = tmp("sock");
        std::fs::create_dir_all(&base).unwrap();
        let path = base.join("s.sock");
        let dead = std::os::unix::net::UnixListener::bind(&path).unwrap();
        drop(dead);
        assert!(refuse_live_socket(&path).is_ok(), "a dead socket is stale");
        std::fs::remove_file(&path).unwrap();

        // Ours stays bound (as the daemon's listener is) while another takes the path.
        let ours = std::os::unix::net::UnixListener::bind(&path).unwrap();
        assert!(refuse_live_socket(&path)
            .unwrap_err()
            .contains("another daemon"));
        let guard = SocketFile::bound(&path, CreatedDirs::default()).unwrap();
        std::fs::remove_file(&path).unwrap();
        let _theirs = std::os::unix::net::UnixListener::bind(&path).unwrap();
        drop(guard);
        drop(ours);
        assert!(path.exists(), "removed another process's socket");
        std::fs::remove_dir_all(&base).unwrap();
    }
}
