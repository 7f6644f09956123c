//! The files the daemon makes at start (its runtime directory and the status socket) as
//! guards that remove them again when dropped: a start that fails half-way, and a daemon
//! that stops, leave nothing behind. The lock file is the same kind of guard
//! ([`super::lockfile`]).

use std::fs::DirBuilder;
use std::os::unix::fs::DirBuilderExt;
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

/// The status socket file this daemon bound; dropping it removes the file.
#[derive(Debug)]
pub struct SocketFile {
    path: PathBuf,
    _dirs: CreatedDirs,
}

impl SocketFile {
    /// Records the socket just bound at `path`.
    pub fn bound(path: &Path, dirs: CreatedDirs) -> SocketFile {
        SocketFile {
            path: path.to_path_buf(),
            _dirs: dirs,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.path) {
            log::debug!("cannot remove {}: {e}", self.path.display());
        }
        // _dirs drops after this: the directory goes only once the socket is gone.
    }
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
}
