//! The installed OpenWrt service: whom init.d/qnetd runs the daemon as, and the store it
//! shares with that account through the group (root's files, readable by the daemon's group,
//! the CA key root's alone: [`certtool::ownership`]).
//!
//! Above [`account`] (the passwd and group files) and [`openwrt`] (UCI, the init script):
//! both are read here, neither reads the other's side.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;

use super::{account, openwrt};

/// Whether the service runs the daemon as root rather than as UCI's `option user`: when that
/// option says `root`, or for a port below 1024, which only root may bind. init.d/qnetd makes
/// the same decision in shell (it runs before any binary could be asked, under procd);
/// tests/ops/ops_init_d.rs runs the script over a grid of users and ports and checks that it
/// agrees with this function. (A user missing from /etc/passwd means root too, in both.)
pub fn runs_as_root(user: &str, port: u16) -> bool {
    user == "root" || port < 1024
}

/// True when the store breaks the ownership model ([`certtool::ownership`]) for group `gid`.
pub fn store_needs_group(store: &Path, gid: u32) -> bool {
    !certtool::ownership::violations(store, gid).is_empty()
}

/// The group a store root is about to create must get so that the installed daemon reads it
/// ([`daemon_group_for_store`]); None when `dir` exists already.
pub fn daemon_group_for_new_store(dir: &Path) -> Option<u32> {
    if dir.exists() {
        return None;
    }
    daemon_group_for_store(dir)
}

/// The daemon's group for the store `dir`: the primary group of the service's user (UCI
/// `option user`, default `qnetd`; the group procd gives it), when we run as root on OpenWrt,
/// `dir` is the store /etc/config/qnetd names and that user exists. Without it, `rm -r` of the
/// store and `cert init` as root would leave files root:root that the daemon, running as
/// `qnetd`, cannot open. None anywhere else: Debian's package makes its store itself; other
/// directories are the user's.
pub fn daemon_group_for_store(dir: &Path) -> Option<u32> {
    if !rustix::process::geteuid().is_root() || !openwrt::is_openwrt() {
        return None;
    }
    let uci = openwrt::UciOptions::read();
    let absolute = |p: &Path| std::path::absolute(p).ok();
    if !Path::new(openwrt::UCI_FILE).is_file() || absolute(dir)? != absolute(&uci.store)? {
        return None;
    }
    if uci.user == "root" {
        return None;
    }
    account::AccountFiles::read()
        .user(&uci.user)
        .map(|(_, gid)| gid)
}

/// The account the installed OpenWrt service runs the daemon as, as the init script decides
/// it: (name, uid, gid) of UCI's `option user` (default `qnetd`), when our init script is
/// installed, that user exists, and neither `root` nor a port below 1024 makes it root.
pub fn installed_daemon_account() -> Option<(String, u32, u32)> {
    let script = fs::read_to_string(openwrt::INIT_SCRIPT).ok()?;
    if !openwrt::is_openwrt() || !script.contains(openwrt::INIT_SCRIPT_MARKER) {
        return None;
    }
    let uci = openwrt::UciOptions::read();
    if runs_as_root(&uci.user, uci.port) {
        return None;
    }
    let (uid, gid) = account::AccountFiles::read().user(&uci.user)?;
    Some((uci.user, uid, gid))
}

/// The store's paths the daemon opens, with what it needs on each: the directory (list and
/// search) and every file in it but the CA key, backups and dot files ([`store_files`]).
pub fn daemon_store_paths(store: &Path) -> Vec<(std::path::PathBuf, u32)> {
    let mut paths = vec![(store.to_path_buf(), 0o5)];
    paths.extend(store_files(store).into_iter().map(|(p, _, _)| (p, 0o4)));
    paths
}

/// Brings the store to the ownership model for group `gid`: root's, readable by the daemon's
/// group, the CA key root's alone ([`certtool::ownership::enforce`]). Entries it leaves alone
/// (a symlink, a hard link, a FIFO) are returned as warnings.
pub fn apply_share_store(store: &Path, gid: u32) -> Result<Vec<String>, String> {
    let out = certtool::ownership::enforce(store, gid).map_err(|e| e.to_string())?;
    Ok(out.warnings())
}

/// The store directory, made as group `gid`'s with `mode` under a temporary name and renamed
/// into place: a daemon waiting for it (--wait-store) never sees it root:root half made. Only
/// for a directory root has just found missing below root's own directories.
fn group_store_dir(store: &Path, gid: u32, mode: u32) -> std::io::Result<()> {
    let context = |what: &'static str| {
        move |e: std::io::Error| std::io::Error::new(e.kind(), format!("cannot {what}: {e}"))
    };
    let (Some(parent), Some(name)) = (store.parent(), store.file_name()) else {
        return Err(std::io::Error::other(format!(
            "{} has no directory above it",
            store.display()
        )));
    };
    // Parents as mkdir -p makes them (0755 by the umask): the daemon must pass through.
    fs::create_dir_all(parent).map_err(context("create the directory above"))?;
    let tmp = parent.join(format!(".{}.qnetd-new", name.to_string_lossy()));
    let _ = fs::remove_dir(&tmp);
    fs::DirBuilder::new()
        .mode(mode)
        .create(&tmp)
        .map_err(context("create"))?;
    let made = std::os::unix::fs::chown(&tmp, None, Some(gid))
        .map_err(context("chgrp"))
        .and_then(|()| {
            fs::set_permissions(&tmp, fs::Permissions::from_mode(mode)).map_err(context("chmod"))
        })
        .and_then(|()| fs::rename(&tmp, store).map_err(context("rename into place")));
    if made.is_err() {
        let _ = fs::remove_dir(&tmp);
    }
    made
}

/// Makes the store directory root is about to initialise as the installed daemon's group's
/// when [`daemon_group_for_new_store`] says so: what init writes into it then takes that group
/// (keys 0640). `mode`: the model's [`certtool::ownership::DIR_MODE`]. The group id given to
/// it, if any.
pub fn create_store_for_daemon(dir: &Path, mode: u32) -> std::io::Result<Option<u32>> {
    let Some(gid) = daemon_group_for_new_store(dir) else {
        return Ok(None);
    };
    group_store_dir(dir, gid, mode)?;
    Ok(Some(gid))
}

/// The regular files directly in the store the model gives the daemon's group
/// ([`certtool::ownership::shared_with_group`]: not the CA key, which only signing reads, nor
/// dot files, the lock and temp files of a write), with group and mode. Backups in
/// subdirectories hold old CA keys: they stay root's.
fn store_files(store: &Path) -> Vec<(std::path::PathBuf, u32, u32)> {
    let Ok(entries) = fs::read_dir(store) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| certtool::ownership::shared_with_group(&e.file_name().to_string_lossy()))
        .filter_map(|e| {
            let meta = fs::symlink_metadata(e.path()).ok()?;
            meta.is_file()
                .then(|| (e.path(), meta.gid(), meta.mode() & 0o7777))
        })
        .collect()
}
