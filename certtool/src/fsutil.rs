//! File-system primitives of the store: atomic writes, owners set through descriptors, the
//! store lock, and the one bounded read every file we read goes through.
//! Only system calls, never an external program (the router may have nothing but BusyBox).

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{FileType, FlockOperation, Gid, Mode, OFlags, Uid};
use rustix::io::Errno;
use rustix::process::Pid;

use crate::error::StoreError;

/// Owner and group to give to a new file or directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

/// The owner of what root writes into the store `dir`: root itself, with the store directory's
/// group (root:qnetd on OpenWrt, root:coroqnetd on Debian), so that group reads what the model
/// lets it read (see [`crate::ownership`]). `None` when we do not run as root: a user's files
/// are theirs.
pub fn store_owner(dir: &Path) -> Option<Owner> {
    if !rustix::process::geteuid().is_root() {
        return None;
    }
    let gid = fs::metadata(dir).map_or(0, |m| m.gid());
    Some(Owner { uid: 0, gid })
}

/// The owner of a store directory root is about to create: root, with the group of the
/// directory above (upstream's `chown --reference=/etc/corosync/qnetd`, whose group is the
/// daemon's on Debian). Never that directory's user: the daemon must not own the store.
pub fn new_store_owner(reference: &Path) -> Option<Owner> {
    if !rustix::process::geteuid().is_root() {
        return None;
    }
    let gid = fs::metadata(reference).map_or(0, |m| m.gid());
    Some(Owner { uid: 0, gid })
}

/// Gives `file` to `owner`, through its descriptor (never by path: a path in a directory
/// another account can write may lead elsewhere by the time it is used). Like upstream, a
/// failure (e.g. a file system without owners) is not fatal: the file is still usable by root.
fn give_to(file: &impl AsFd, owner: Option<Owner>) {
    if let Some(o) = owner {
        let _ = rustix::fs::fchown(file, Some(Uid::from_raw(o.uid)), Some(Gid::from_raw(o.gid)));
    }
}

/// Writes `data` to `path` so that a reader (or a crash) sees either the old file or the
/// whole new one: temp file in the same directory, fsync, rename, fsync of the directory.
/// The temp file is created with O_EXCL|O_NOFOLLOW (a name planted in its place, a symlink
/// included, fails the write instead of being followed), and its mode and owner are set
/// through its descriptor.
pub fn write_atomic(
    path: &Path,
    data: &[u8],
    mode: u32,
    owner: Option<Owner>,
) -> Result<(), StoreError> {
    let tmp = temp_path(path);
    let result = write_then_rename(&tmp, path, data, mode, owner);
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(|e| StoreError::io(format!("cannot write {}", path.display()), e))
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp.{}", std::process::id()))
}

fn write_then_rename(
    tmp: &Path,
    path: &Path,
    data: &[u8],
    mode: u32,
    owner: Option<Owner>,
) -> io::Result<()> {
    // A temp file left by a killed run with our (reused) pid is garbage: replace it (unlink
    // removes a symlink itself, never its target).
    let _ = fs::remove_file(tmp);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(nofollow())
        .mode(mode)
        .open(tmp)?;
    // The umask may have cleared bits we want (0644); set the mode explicitly.
    file.set_permissions(Permissions::from_mode(mode))?;
    give_to(&file, owner);
    file.write_all(data)?;
    file.sync_all()?;
    drop(file);
    fs::rename(tmp, path)?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

fn nofollow() -> i32 {
    // The flag's bit pattern, as std's custom_flags takes it.
    OFlags::NOFOLLOW.bits() as i32
}

/// Makes a rename or unlink in `dir` durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates `dir` (and missing parents) with `mode` and `owner` for the last component.
/// Returns whether it was created. Mode and owner are set through a descriptor of the
/// directory we made, opened with O_NOFOLLOW and checked to be ours.
pub fn create_dir(dir: &Path, mode: u32, owner: Option<Owner>) -> Result<bool, StoreError> {
    if dir.is_dir() {
        return Ok(false);
    }
    let what = || format!("cannot create directory {}", dir.display());
    if let Some(parent) = dir.parent() {
        if !parent.as_os_str().is_empty() {
            fs::create_dir_all(parent).map_err(|e| StoreError::io(what(), e))?;
        }
    }
    // Created with the mode (less the umask) rather than the umask's default: a run killed
    // before the chmod below must not leave a world-readable store directory.
    match fs::DirBuilder::new().mode(mode).create(dir) {
        Ok(()) => {}
        // Another init got there between our check and mkdir: theirs, not ours to chmod.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => return Ok(false),
        Err(e) => return Err(StoreError::io(what(), e)),
    }
    let fd = open_own_dir(dir).map_err(|e| StoreError::io(what(), e))?;
    rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode))
        .map_err(|e| StoreError::io(what(), e.into()))?;
    give_to(&fd, owner);
    Ok(true)
}

/// Opens the directory we just made, refusing anything else found under its name (a symlink
/// or another user's directory put there since our mkdir, in a parent others can write).
fn open_own_dir(dir: &Path) -> io::Result<OwnedFd> {
    let fd = rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let st = rustix::fs::fstat(&fd)?;
    if st.st_uid != rustix::process::geteuid().as_raw() {
        return Err(io::Error::other(
            "replaced by another user's directory after it was made",
        ));
    }
    Ok(fd)
}

/// The output directory of a command that writes files another user must not be able to
/// change (`cert bundle --out`: its enrol-node.sh is run as root on every node), checked once
/// and then written only through its descriptor: renaming or swapping the path afterwards
/// (in a parent another user can write) changes nothing we write.
pub struct OutDir {
    fd: OwnedFd,
    path: PathBuf,
}

/// Opens the directory `dir` (the admin's path: a symlink they made is theirs to use; what
/// it leads to is checked) and says, through that descriptor, whether an account other than
/// us and root could change it ([`writable_by_others`]). `what` prefixes an error.
pub(crate) fn open_dir_checked(
    dir: &Path,
    what: &str,
) -> Result<(OwnedFd, Option<String>), StoreError> {
    let fd = rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| StoreError::io(what, e.into()))?;
    let st = rustix::fs::fstat(&fd).map_err(|e| StoreError::io(what, e.into()))?;
    Ok((fd, writable_by_others(&st)))
}

/// Makes or checks an output directory: a missing one is created 0700; what the path then
/// leads to must be a directory of ours (or root's when we are root) that nobody else can
/// write, or it is refused, with nothing written.
pub fn output_dir(dir: &Path) -> Result<OutDir, StoreError> {
    create_dir(dir, 0o700, None)?;
    let (fd, others) = open_dir_checked(dir, &format!("cannot use {}", dir.display()))?;
    if let Some(why) = others {
        return Err(StoreError::Refused(format!(
            "{} {why}: that account could change the files written there before they are \
             used; give another directory (a missing one is created, mode 0700), or make this \
             one yours and writable by you only",
            dir.display()
        )));
    }
    Ok(OutDir {
        fd,
        path: dir.to_path_buf(),
    })
}

impl OutDir {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `name` atomically (temp file made with O_EXCL|O_NOFOLLOW, fsync, rename, fsync
    /// of the directory), all relative to the directory's descriptor.
    pub fn write(&self, name: &str, data: &[u8], mode: u32) -> Result<(), StoreError> {
        let tmp = format!(".{name}.tmp.{}", std::process::id());
        let result = self.write_then_rename(&tmp, name, data, mode);
        if result.is_err() {
            let _ = rustix::fs::unlinkat(&self.fd, tmp.as_str(), rustix::fs::AtFlags::empty());
        }
        result.map_err(|e| {
            StoreError::io(
                format!("cannot write {}", self.path.join(name).display()),
                e,
            )
        })
    }

    fn write_then_rename(&self, tmp: &str, name: &str, data: &[u8], mode: u32) -> io::Result<()> {
        let _ = rustix::fs::unlinkat(&self.fd, tmp, rustix::fs::AtFlags::empty());
        let fd = rustix::fs::openat(
            &self.fd,
            tmp,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(mode),
        )?;
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode))?;
        let mut file = File::from(fd);
        file.write_all(data)?;
        file.sync_all()?;
        drop(file);
        rustix::fs::renameat(&self.fd, tmp, &self.fd, name)?;
        rustix::fs::fsync(&self.fd)?;
        Ok(())
    }
}

/// Why a directory with this status may be changed by an account other than us and root:
/// another owner, or group/other write. `None` when only we (and root) can write in it.
pub fn writable_by_others(st: &rustix::fs::Stat) -> Option<String> {
    let me = rustix::process::geteuid().as_raw();
    if st.st_uid != me && st.st_uid != 0 {
        return Some(format!("belongs to uid {}, not to us", st.st_uid));
    }
    let mode = st.st_mode & 0o7777;
    // Group write for root's own group (upstream's NSS store is root:root 0770) gives no
    // account but root's a way in.
    let group_write = mode & 0o020 != 0 && st.st_gid != 0;
    if mode & 0o002 != 0 || group_write {
        return Some(format!(
            "is mode {mode:04o}: writable by {}",
            if mode & 0o002 != 0 {
                "every user".to_string()
            } else {
                format!("group {}", st.st_gid)
            }
        ));
    }
    None
}

/// An exclusive lock on the store, held while serials are handed out and files replaced,
/// so two concurrent `sign` runs never get the same serial.
pub struct StoreLock {
    _file: OwnedFd,
}

/// The lock file's name in the store directory.
pub const LOCK_FILE: &str = ".lock";

impl StoreLock {
    /// Takes the store's lock, creating `.lock` (mode 0600, ours) if missing. Every writer
    /// takes it, so this is where a store another account can change is refused: the
    /// directory (see [`crate::ownership::check_writer_store`]) and the lock file itself,
    /// which is opened with O_NOFOLLOW and must be a regular file of ours or root's.
    pub fn acquire(dir: &Path) -> Result<StoreLock, StoreError> {
        let path = dir.join(LOCK_FILE);
        let what = || format!("cannot lock {}", path.display());
        let dir_fd = crate::ownership::check_writer_store(dir)?;
        // flock works on a read-only descriptor.
        let fd = rustix::fs::openat(
            &dir_fd,
            LOCK_FILE,
            OFlags::RDONLY | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(|e| StoreError::io(what(), refused_link(e)))?;
        let st = rustix::fs::fstat(&fd).map_err(|e| StoreError::io(what(), e.into()))?;
        let me = rustix::process::geteuid().as_raw();
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile
            || (st.st_uid != me && st.st_uid != 0)
        {
            return Err(StoreError::Refused(format!(
                "{} is not a regular file of ours or root's (uid {}): another account made \
                 it; remove it (rm {0}) and run the command again",
                path.display(),
                st.st_uid
            )));
        }
        // Blocking LOCK_EX: waits for the other writer; a signal (EINTR) only restarts the wait.
        loop {
            match rustix::fs::flock(&fd, FlockOperation::LockExclusive) {
                Ok(()) => {
                    remove_stale_temps(dir);
                    return Ok(StoreLock { _file: fd });
                }
                Err(Errno::INTR) => continue,
                Err(e) => return Err(StoreError::io(what(), e.into())),
            }
        }
    }
}

/// ELOOP from an O_NOFOLLOW open, in words.
fn refused_link(e: Errno) -> io::Error {
    if e == Errno::LOOP {
        io::Error::other("it is a symbolic link, which is never followed here")
    } else {
        e.into()
    }
}

/// Removes the temp files (`.NAME.tmp.PID`, see `temp_path`) of writers that were killed: on
/// a router's small flash they would pile up, and a key's holds a private key. Called with the
/// store lock held; a temp file whose process still runs (a `bundle --out` into the store
/// directory, or a reused pid) is left alone. Best effort: a failure here changes nothing else.
fn remove_stale_temps(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for ent in entries.flatten() {
        let name = ent.file_name();
        let Some(pid) = name.to_str().and_then(temp_file_pid) else {
            continue;
        };
        if writer_gone(pid) {
            let _ = fs::remove_file(ent.path());
        }
    }
}

/// Whether no process `pid` exists: kill(pid, 0) fails with ESRCH. EPERM (it exists, as
/// another user's) or any other answer keeps the temp file.
fn writer_gone(pid: i32) -> bool {
    let Some(pid) = Pid::from_raw(pid) else {
        return false;
    };
    matches!(rustix::process::test_kill_process(pid), Err(Errno::SRCH))
}

/// The writer's pid if `name` is one of our temp file names.
fn temp_file_pid(name: &str) -> Option<i32> {
    let (stem, pid) = name.strip_prefix('.')?.rsplit_once(".tmp.")?;
    if stem.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok().filter(|&p| p > 0)
}

/// Size caps of what we read: every file is read with one, so a wrong path (/dev/zero, a
/// huge file) is refused instead of filling the memory of a router.
pub mod cap {
    /// A certificate request: NSS's is under 1 KiB, an RSA-8192 one under 3 KiB.
    pub const CSR: u64 = 64 * 1024;
    /// A certificate, key, CA export or other small store file.
    pub const PEM: u64 = 64 * 1024;
    /// The registry: about 130 bytes a certificate, so room for tens of thousands.
    pub const REGISTRY: u64 = 8 * 1024 * 1024;
    /// Files of an NSS database and pk12util's output.
    pub const NSS: u64 = 16 * 1024 * 1024;
}

/// Whether the last component of a path we read may be a symbolic link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Links {
    /// A path the user gave (`--csr`): theirs to point where they like.
    Follow,
    /// A file in a store or a directory we manage: a symlink there is refused.
    Refuse,
}

/// Reads a whole file of at most `cap` bytes. The file is opened once, with O_NONBLOCK (a
/// FIFO or device never blocks the open) and O_NOFOLLOW when `links` says so, and must be a
/// regular file by fstat of that descriptor; a bigger one is refused without being read past
/// the cap. NotFound stays NotFound, for callers for whom a missing file means something.
pub fn read_capped(path: &Path, cap: u64, links: Links) -> Result<Vec<u8>, StoreError> {
    read_bounded(path, cap, links)
        .map_err(|e| StoreError::io(format!("cannot read {}", path.display()), e))
}

/// [`read_capped`] as an io::Result, for callers outside the store (the installer's UCI and
/// passwd reads).
pub fn read_bounded(path: &Path, cap: u64, links: Links) -> io::Result<Vec<u8>> {
    let mut flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    if links == Links::Refuse {
        flags |= OFlags::NOFOLLOW;
    }
    let fd = rustix::fs::open(path, flags, Mode::empty()).map_err(refused_link)?;
    let st = rustix::fs::fstat(&fd)?;
    let kind = FileType::from_raw_mode(st.st_mode);
    if kind != FileType::RegularFile {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "not a regular file (a {}), which is refused",
                type_name(kind)
            ),
        ));
    }
    let too_big = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "larger than the {} KiB this file may have: refused",
                cap / 1024
            ),
        )
    };
    if u64::try_from(st.st_size).unwrap_or(u64::MAX) > cap {
        return Err(too_big());
    }
    let mut data = Vec::new();
    // The size may grow after fstat: the read stops one byte past the cap either way.
    File::from(fd).take(cap + 1).read_to_end(&mut data)?;
    if data.len() as u64 > cap {
        return Err(too_big());
    }
    Ok(data)
}

fn type_name(kind: FileType) -> &'static str {
    match kind {
        FileType::Directory => "directory",
        FileType::Symlink => "symbolic link",
        FileType::Fifo => "FIFO",
        FileType::Socket => "socket",
        FileType::CharacterDevice => "character device",
        FileType::BlockDevice => "block device",
        _ => "special file",
    }
}

/// Copies `from` (a regular file of at most `cap` bytes, not a symlink: see [`read_bounded`])
/// to a new file `to` (mode 0600, which must not exist): the NSS databases into a private
/// staging directory, where NSS's tools work on the copy.
pub fn copy_bounded(from: &Path, to: &Path, cap: u64) -> io::Result<()> {
    let data = read_bounded(from, cap, Links::Refuse)?;
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(nofollow())
        .mode(0o600)
        .open(to)?;
    file.write_all(&data)
}

/// A store file, read with the cap of small files and no symlink followed.
pub fn read(path: &Path) -> Result<Vec<u8>, StoreError> {
    read_capped(path, cap::PEM, Links::Refuse)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_recognised() {
        let tmp = temp_path(Path::new("/s/qnetd-ca.key"));
        let name = tmp.file_name().unwrap().to_str().unwrap();
        assert_eq!(temp_file_pid(name), Some(std::process::id() as i32));
        assert_eq!(temp_file_pid(".cluster-a.tmp.b.crt.tmp.12"), Some(12));
        for other in [
            "qnetd-ca.key",
            ".lock",
            ".x.tmp.",
            ".x.tmp.12a",
            ".tmp.5",
            ".x.tmp.0",
        ] {
            assert_eq!(temp_file_pid(other), None, "{other}");
        }
    }

    /// A fresh empty directory under the system temp dir, removed by the caller.
    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("certtool-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn the_store_lock_excludes_a_second_holder_until_dropped() {
        let dir = scratch("lock");
        let first = StoreLock::acquire(&dir).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let d = dir.clone();
        let waiter = std::thread::spawn(move || {
            let _second = StoreLock::acquire(&d).unwrap();
            tx.send(()).unwrap();
        });
        let wait = std::time::Duration::from_millis(300);
        assert!(
            rx.recv_timeout(wait).is_err(),
            "second lock taken while the first is held"
        );
        drop(first);
        assert!(
            rx.recv_timeout(wait * 10).is_ok(),
            "second lock not taken after release"
        );
        waiter.join().unwrap();
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn only_the_temp_files_of_dead_writers_are_removed() {
        let dir = scratch("temps");
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let alive = dir.join(format!(".a.crt.tmp.{}", std::process::id()));
        let stale = dir.join(format!(".b.crt.tmp.{dead}"));
        let init = dir.join(".c.crt.tmp.1"); // pid 1 exists (and is not ours: EPERM if not root)
        for f in [&alive, &stale, &init] {
            fs::write(f, b"x").unwrap();
        }
        drop(StoreLock::acquire(&dir).unwrap());
        assert!(
            alive.exists() && init.exists(),
            "a live writer's temp file was removed"
        );
        assert!(!stale.exists(), "a dead writer's temp file was kept");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn euid_and_the_random_pool_are_read() {
        // The test machine booted long ago: its pool is ready.
        assert!(crate::random_pool_ready());
        let dir = scratch("ids");
        let out = std::process::Command::new("id").arg("-u").output().unwrap();
        let as_root = out.stdout == b"0\n";
        assert_eq!(store_owner(&dir).is_some(), as_root, "geteuid");
        if as_root {
            let gid = fs::metadata(&dir).unwrap().gid();
            assert_eq!(store_owner(&dir), Some(Owner { uid: 0, gid }));
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_output_directory_is_written_through_its_descriptor_even_if_its_path_is_swapped() {
        let dir = scratch("outdir");
        let out = output_dir(&dir.join("out")).unwrap();
        assert_eq!(fs::metadata(dir.join("out")).unwrap().mode() & 0o777, 0o700);
        // Another user renames it away and puts a symlink to a directory of theirs there.
        fs::rename(dir.join("out"), dir.join("moved")).unwrap();
        fs::create_dir(dir.join("theirs")).unwrap();
        std::os::unix::fs::symlink(dir.join("theirs"), dir.join("out")).unwrap();
        out.write("enrol-node.sh", b"#!/bin/sh\n", 0o700).unwrap();
        assert!(dir.join("moved/enrol-node.sh").is_file());
        assert!(!dir.join("theirs/enrol-node.sh").exists());
        assert_eq!(
            fs::metadata(dir.join("moved/enrol-node.sh"))
                .unwrap()
                .mode()
                & 0o777,
            0o700
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bounded_reads_refuse_special_files_big_files_and_links_where_asked() {
        let dir = scratch("bounded");
        let file = dir.join("f");
        fs::write(&file, vec![b'x'; 100]).unwrap();
        assert_eq!(read_bounded(&file, 100, Links::Refuse).unwrap().len(), 100);
        let e = read_bounded(&file, 99, Links::Refuse)
            .unwrap_err()
            .to_string();
        assert!(e.contains("larger than"), "{e}");
        let e = read_bounded(Path::new("/dev/zero"), cap::CSR, Links::Follow)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a regular file (a character device)"), "{e}");
        let e = read_bounded(&dir, cap::CSR, Links::Follow)
            .unwrap_err()
            .to_string();
        assert!(e.contains("(a directory)"), "{e}");
        let link = dir.join("l");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert!(read_bounded(&link, 100, Links::Follow).is_ok());
        let e = read_bounded(&link, 100, Links::Refuse)
            .unwrap_err()
            .to_string();
        assert!(e.contains("symbolic link"), "{e}");
        assert_eq!(
            read_bounded(&dir.join("missing"), 1, Links::Refuse)
                .unwrap_err()
                .kind(),
            io::ErrorKind::NotFound
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}

/// Every read of a file in this crate goes through the bounded read above: a plain `fs::read`,
/// `read_to_string`, `fs::copy` or `File::open` elsewhere would read a FIFO, a device or a huge
/// file without a cap. (Tests may; product code may not.)
#[cfg(test)]
mod one_bounded_read {
    #[test]
    fn no_other_file_read_in_the_crate() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        // The sources, submodules' directories (src/ownership/) included.
        let (mut dirs, mut files) = (vec![src.clone()], Vec::new());
        while let Some(dir) = dirs.pop() {
            for ent in std::fs::read_dir(&dir).unwrap().flatten() {
                let path = ent.path();
                if path.is_dir() {
                    dirs.push(path)
                } else {
                    files.push(path)
                }
            }
        }
        let mut found = Vec::new();
        for path in files {
            let name = path.strip_prefix(&src).unwrap().display().to_string();
            let text = std::fs::read_to_string(&path).unwrap();
            // Product code only: up to the first test module.
            let product = text.split("#[cfg(test)]").next().unwrap_or("");
            for (i, line) in product.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                let read = ["fs::read(", "read_to_string(", "fs::copy(", "File::open("]
                    .iter()
                    .any(|p| code.contains(p));
                // sync_dir opens a directory to fsync it, and reads nothing.
                if read && !code.contains("File::open(dir)?.sync_all()") {
                    found.push(format!("{name}:{}: {}", i + 1, line.trim()));
                }
            }
        }
        assert!(found.is_empty(), "unbounded reads: {found:#?}");
    }
}
