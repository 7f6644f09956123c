//! What `qnetd install` made that was not there before, so `uninstall --purge` removes that and
//! nothing else: a user or group `qnetd` that existed before install, or a store root made
//! with `qnetd cert init` before it, are someone else's and stay.
//!
//! One line per thing made: `user NAME`, `group NAME`, `store PATH` (the service created it
//! at its first start), `dir PATH` (a directory install or that first start made: removed
//! only when empty). Kept across sysupgrade (keep.d) and by a plain `uninstall`, so a later
//! `uninstall --purge` still knows.

use std::fs;
use std::path::{Path, PathBuf};

use certtool::fsutil::{read_bounded, write_atomic, Links};

pub const STATE_DIR: &str = "/etc/qnetd";
pub const STATE_FILE: &str = "/etc/qnetd/installed";
/// More than any record holds: a bigger file is not ours and is read no further.
const MAX_SIZE: u64 = 64 << 10;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Made {
    User(String),
    Group(String),
    Store(PathBuf),
    Dir(PathBuf),
}

impl Made {
    fn line(&self) -> String {
        match self {
            Made::User(n) => format!("user {n}"),
            Made::Group(n) => format!("group {n}"),
            Made::Store(p) => format!("store {}", p.display()),
            Made::Dir(p) => format!("dir {}", p.display()),
        }
    }

    fn parse(line: &str) -> Option<Made> {
        let (kind, rest) = line.split_once(' ')?;
        Some(match kind {
            "user" => Made::User(rest.to_string()),
            "group" => Made::Group(rest.to_string()),
            "store" if rest.starts_with('/') => Made::Store(PathBuf::from(rest)),
            "dir" if rest.starts_with('/') => Made::Dir(PathBuf::from(rest)),
            _ => return None,
        })
    }
}

/// The records, in the order made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record(pub Vec<Made>);

impl Record {
    /// The system's record; empty when there is none (an install older than the record: it
    /// made things we cannot tell from someone else's, so purge keeps them).
    pub fn read() -> Record {
        Record::read_from(Path::new(STATE_FILE))
    }

    /// The record at `path`, read as root reads every file another account might have
    /// planted: a regular file only (never a link, never waiting on a FIFO), at most
    /// `MAX_SIZE` bytes. Anything else is no record, so purge keeps what it cannot prove ours.
    fn read_from(path: &Path) -> Record {
        match read_bounded(path, MAX_SIZE, Links::Refuse) {
            Ok(bytes) => Record::parse(&String::from_utf8_lossy(&bytes)),
            Err(_) => Record::default(),
        }
    }

    pub fn parse(text: &str) -> Record {
        Record(text.lines().filter_map(Made::parse).collect())
    }

    pub fn text(&self) -> String {
        let mut out =
            String::from("# Written by `qnetd install`: what it made, for `uninstall --purge`.\n");
        for m in &self.0 {
            out.push_str(&m.line());
            out.push('\n');
        }
        out
    }

    pub fn has(&self, m: &Made) -> bool {
        self.0.contains(m)
    }

    /// This record with `more` added (each once).
    pub fn with(&self, more: &[Made]) -> Record {
        let mut out = self.clone();
        for m in more {
            if !out.has(m) {
                out.0.push(m.clone());
            }
        }
        out
    }
}

pub fn write(text: &str) -> Result<(), String> {
    fs::create_dir_all(STATE_DIR).map_err(|e| format!("cannot create {STATE_DIR}: {e}"))?;
    write_atomic(Path::new(STATE_FILE), text.as_bytes(), 0o644, None).map_err(|e| e.to_string())
}

/// The directories from the first missing one above `path` down to `path`'s parent: what
/// `create_dir_all` of the parent would make (outermost first).
pub fn missing_parents(path: &Path) -> Vec<PathBuf> {
    let mut missing: Vec<PathBuf> = path
        .ancestors()
        .skip(1)
        .take_while(|p| !p.as_os_str().is_empty() && fs::symlink_metadata(p).is_err())
        .map(Path::to_path_buf)
        .collect();
    missing.reverse();
    missing
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_that_is_a_link_a_fifo_or_too_big_is_no_record() {
        let dir = std::env::temp_dir().join(format!("qnetd-state-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let real = dir.join("real");
        fs::write(&real, "user qnetd\n").unwrap();
        assert_eq!(
            Record::read_from(&real),
            Record(vec![Made::User("qnetd".into())])
        );
        let link = dir.join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert_eq!(Record::read_from(&link), Record::default());
        let fifo = dir.join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        // Read without a writer: it must not wait.
        assert_eq!(Record::read_from(&fifo), Record::default());
        let big = dir.join("big");
        fs::write(&big, "user qnetd\n".repeat(10_000)).unwrap();
        assert_eq!(Record::read_from(&big), Record::default());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn records_round_trip_and_ignore_what_is_not_a_record() {
        let r = Record(vec![
            Made::Group("qnetd".into()),
            Made::User("qnetd".into()),
            Made::Store("/mnt/usb stick/qnetd".into()),
            Made::Dir("/usr/libexec".into()),
        ]);
        assert_eq!(Record::parse(&r.text()), r);
        assert_eq!(
            Record::parse("store relative\nfoo bar\n\nuser qnetd\n").0,
            vec![Made::User("qnetd".into())]
        );
        assert_eq!(r.with(&[Made::User("qnetd".into())]), r);
    }
}
