//! The rpcd plugin (`ubus call qnetd …`) and the LuCI page that `qnetd install` writes where
//! the router has them: the plugin wherever rpcd runs, the page where LuCI is installed too.
//! The bytes come from the repository's init.d/ (one source, as the init script), laid out as
//! an OpenWrt package would install them, without their comments and indentation (build.rs,
//! build/minify.rs: a router needs neither, and they cost flash).

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Plan, Step};

/// rpcd's binary, and its init script (reloaded: on SIGHUP rpcd re-reads plugins and ACLs).
pub const RPCD: &str = "/sbin/rpcd";
pub const RPCD_INIT: &str = "/etc/init.d/rpcd";
/// LuCI's static files: present when luci-base is installed.
pub const LUCI_STATIC: &str = "/www/luci-static";
/// Where rpcd looks for "exec" plugins; the file name is the ubus object's name.
pub const PLUGIN: &str = "/usr/libexec/rpcd/qnetd";
/// The directory of our views, removed with them.
pub const VIEW_DIR: &str = "/www/luci-static/resources/view/qnetd";
/// LuCI caches its menu (index) and, in older releases, its Lua modules here; a new menu entry
/// shows only once they are gone.
const TMP: &str = "/tmp";
const CACHE_PREFIXES: [&str; 2] = ["luci-indexcache", "luci-modulecache"];

/// One embedded file: where it goes, its mode, its bytes.
#[derive(Debug, Clone, Copy)]
pub struct Embedded {
    pub path: &'static str,
    pub mode: u32,
    pub text: &'static str,
    pub what: &'static str,
}

/// A file of init.d/luci-app-qnetd/: `htdocs/X` goes to /www/X, `root/X` to /X, as LuCI's
/// package makefiles install them.
macro_rules! luci_file {
    (htdocs $inside:literal, $what:literal) => {
        Embedded {
            path: concat!("/www/", $inside),
            mode: 0o644,
            text: include_str!(concat!(
                env!("OUT_DIR"),
                "/embed/luci-app-qnetd/htdocs/",
                $inside
            )),
            what: $what,
        }
    };
    (root $inside:literal, $what:literal) => {
        Embedded {
            path: concat!("/", $inside),
            mode: 0o644,
            text: include_str!(concat!(
                env!("OUT_DIR"),
                "/embed/luci-app-qnetd/root/",
                $inside
            )),
            what: $what,
        }
    };
}

/// The rpcd plugin.
pub const RPCD_PLUGIN: Embedded = Embedded {
    path: PLUGIN,
    mode: 0o755,
    text: include_str!(concat!(env!("OUT_DIR"), "/embed/rpcd/qnetd")),
    what: "rpcd plugin: ubus object qnetd",
};

/// The LuCI app: views, menu entry, ACL.
pub const LUCI_FILES: [Embedded; 5] = [
    luci_file!(
        htdocs "luci-static/resources/view/qnetd/status.js",
        "LuCI view: status"
    ),
    luci_file!(
        htdocs "luci-static/resources/view/qnetd/certificates.js",
        "LuCI view: certificates"
    ),
    luci_file!(
        htdocs "luci-static/resources/view/qnetd/settings.js",
        "LuCI view: settings"
    ),
    luci_file!(
        root "usr/share/luci/menu.d/luci-app-qnetd.json",
        "LuCI menu: Services, Quorum arbiter"
    ),
    luci_file!(
        root "usr/share/rpcd/acl.d/luci-app-qnetd.json",
        "rpcd ACL: what the page may call"
    ),
];

/// What is on the router.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Present {
    pub rpcd: bool,
    pub luci: bool,
}

impl Present {
    pub fn detect() -> Present {
        let rpcd = Path::new(RPCD).is_file() || Path::new(RPCD_INIT).is_file();
        Present {
            rpcd,
            luci: rpcd && Path::new(LUCI_STATIC).is_dir(),
        }
    }

    /// The files that belong on this router.
    pub fn files(self) -> Vec<Embedded> {
        let mut files = Vec::new();
        if self.rpcd {
            files.push(RPCD_PLUGIN);
        }
        if self.luci {
            files.extend(LUCI_FILES);
        }
        files
    }
}

/// The steps of this module that are not plain file writes or removals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `/etc/init.d/rpcd reload`: rpcd re-executes itself on SIGHUP, reading its plugins and
    /// ACLs again and keeping its sessions (a restart would log every LuCI user out and drop
    /// their unsaved changes).
    ReloadRpcd,
    /// Remove LuCI's menu and module caches.
    ClearCache,
    /// Remove our views' directory once it is empty.
    RemoveViewDir,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::ReloadRpcd => write!(
                f,
                "run {RPCD_INIT} reload (rpcd reads its plugins and ACLs again; LuCI sessions stay)"
            ),
            Action::ClearCache => write!(
                f,
                "remove LuCI's menu cache {TMP}/luci-indexcache* and {TMP}/luci-modulecache"
            ),
            Action::RemoveViewDir => write!(f, "remove {VIEW_DIR}"),
        }
    }
}

pub fn apply(action: &Action) -> Result<(), String> {
    match action {
        Action::ReloadRpcd => super::run(Command::new(RPCD_INIT).arg("reload")),
        Action::ClearCache => clear_cache(Path::new(TMP)),
        Action::RemoveViewDir => match fs::remove_dir(VIEW_DIR) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(format!("cannot remove {VIEW_DIR}: {e}"))
            }
            _ => Ok(()),
        },
    }
}

fn clear_cache(tmp: &Path) -> Result<(), String> {
    let entries = match fs::read_dir(tmp) {
        Ok(e) => e,
        Err(e) => return Err(format!("cannot read {}: {e}", tmp.display())),
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !CACHE_PREFIXES.iter().any(|p| name.starts_with(p)) {
            continue;
        }
        let path = entry.path();
        let removed = if entry.file_type().is_ok_and(|t| t.is_dir()) {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
        removed.map_err(|e| format!("cannot remove {}: {e}", path.display()))?;
    }
    Ok(())
}

/// Install: each file that is missing or differs, then the cache and rpcd when one changed.
/// Returns the paths for the sysupgrade list.
pub fn plan_install(plan: &mut Plan, present: Present) -> Vec<PathBuf> {
    let files = present.files();
    let mut changed = false;
    for f in &files {
        match fs::read(f.path) {
            Ok(bytes) if bytes == f.text.as_bytes() => continue,
            Ok(_) => changed_step(plan, f, true),
            Err(_) => changed_step(plan, f, false),
        }
        changed = true;
    }
    if !present.rpcd {
        plan.notes.push(format!(
            "skipped the rpcd plugin and the LuCI page: no rpcd here ({RPCD})"
        ));
    } else if !present.luci {
        plan.notes.push(format!(
            "skipped the LuCI page: LuCI is not installed (no {LUCI_STATIC}); \
             `ubus call qnetd status` works without it"
        ));
    }
    if changed {
        push_refresh(plan, present.luci);
    }
    files.iter().map(|f| PathBuf::from(f.path)).collect()
}

fn changed_step(plan: &mut Plan, f: &Embedded, exists: bool) {
    plan.steps.push(Step::WriteFile {
        path: PathBuf::from(f.path),
        text: f.text,
        mode: f.mode,
        what: if exists {
            // Install owns these paths (the package names are ours): an older copy is updated.
            "LuCI/rpcd file, updated"
        } else {
            f.what
        },
    });
}

fn push_refresh(plan: &mut Plan, luci: bool) {
    if luci {
        plan.steps.push(Step::Luci(Action::ClearCache));
    }
    if Path::new(RPCD_INIT).is_file() {
        plan.steps.push(Step::Luci(Action::ReloadRpcd));
    }
}

/// Uninstall: every one of our files that is there, whatever LuCI's state now.
pub fn plan_uninstall(plan: &mut Plan) {
    let mut removed = false;
    for f in std::iter::once(&RPCD_PLUGIN).chain(LUCI_FILES.iter()) {
        if fs::symlink_metadata(f.path).is_ok() {
            plan.steps.push(Step::Remove {
                path: PathBuf::from(f.path),
                what: f.what.to_string(),
            });
            removed = true;
        }
    }
    if Path::new(VIEW_DIR).is_dir() {
        plan.steps.push(Step::Luci(Action::RemoveViewDir));
    }
    if removed {
        push_refresh(plan, Path::new(LUCI_STATIC).is_dir());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_where_a_package_puts_them() {
        for f in LUCI_FILES {
            assert!(
                f.path.starts_with("/www/luci-static/resources/view/qnetd/")
                    || f.path.starts_with("/usr/share/"),
                "{}",
                f.path
            );
            assert!(!f.text.is_empty());
        }
        assert!(RPCD_PLUGIN.text.starts_with("#!/bin/sh\n"));
        assert_eq!(RPCD_PLUGIN.mode, 0o755);
    }

    #[test]
    fn cache_clearing_takes_only_luci_caches() {
        let dir = std::env::temp_dir().join(format!("qnetd-luci-cache-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("luci-modulecache/sub")).unwrap();
        fs::write(dir.join("luci-indexcache.1a2b.json"), "{}").unwrap();
        fs::write(dir.join("luci-indexcache"), "x").unwrap();
        fs::write(dir.join("other"), "keep").unwrap();
        clear_cache(&dir).unwrap();
        let left: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(left, ["other"]);
        let _ = fs::remove_dir_all(&dir);
    }
}
