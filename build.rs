//! Build facts the binary reports:
//! - `QNETD_BUILD_EPOCH` (Unix seconds) for `qnetd doctor`'s clock check: a router without a
//!   real-time clock boots "in the past", and any time before this binary was built is
//!   certainly wrong. `SOURCE_DATE_EPOCH` wins, for reproducible builds.
//! - `QNETD_TARGET` (the target triple) and `QNETD_COMMIT` (the git commit, "-dirty" if the
//!   compiled sources differ from it) for `qnetd --version`, so that a binary found on a router
//!   says what it is and where it came from.
//! - `$OUT_DIR/embed/`: the rpcd plugin and the LuCI files that `qnetd install` writes (from
//!   init.d/, the one source), without comments and indentation (build/minify.rs).

// A build script talks to cargo with println! (clippy.toml refuses them in the product).
#![allow(clippy::disallowed_macros)]

#[path = "build/minify.rs"]
mod minify;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

/// What is compiled into the binary: "-dirty" looks only at these, so that editing a test or
/// a document neither marks the binary dirty nor re-runs this script (and recompiles the crate).
const SOURCES: &[&str] = &[
    "src",
    "certtool/src",
    "certtool/Cargo.toml",
    "build.rs",
    "build",
    "init.d",
    "Cargo.toml",
    "Cargo.lock",
];

fn main() {
    let epoch = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        });
    println!("cargo:rustc-env=QNETD_BUILD_EPOCH={epoch}");
    // The epoch is a lower bound, it need not track every build: re-run only when asked.
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");

    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".to_string());
    println!("cargo:rustc-env=QNETD_TARGET={target}");
    println!("cargo:rustc-env=QNETD_COMMIT={}", commit());
    println!("cargo:rerun-if-env-changed=QNETD_COMMIT");
    embed();
}

/// The files `qnetd install` embeds (src/install/luci.rs), as build/minify.rs makes them, under
/// `$OUT_DIR/embed/` with their paths below init.d/.
const EMBEDDED: &[&str] = &[
    "rpcd/qnetd",
    "luci-app-qnetd/htdocs/luci-static/resources/view/qnetd/status.js",
    "luci-app-qnetd/htdocs/luci-static/resources/view/qnetd/certificates.js",
    "luci-app-qnetd/htdocs/luci-static/resources/view/qnetd/settings.js",
    "luci-app-qnetd/root/usr/share/luci/menu.d/luci-app-qnetd.json",
    "luci-app-qnetd/root/usr/share/rpcd/acl.d/luci-app-qnetd.json",
];

fn embed() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("embed");
    println!("cargo:rerun-if-changed=build/minify.rs");
    for file in EMBEDDED {
        let from = Path::new("init.d").join(file);
        println!("cargo:rerun-if-changed={}", from.display());
        let text =
            std::fs::read_to_string(&from).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
        let small = minify::embedded(file, &text).unwrap_or_else(|e| panic!("{e}"));
        let to = out.join(file);
        std::fs::create_dir_all(to.parent().expect("a file under embed/"))
            .unwrap_or_else(|e| panic!("{}: {e}", out.display()));
        std::fs::write(&to, small).unwrap_or_else(|e| panic!("{}: {e}", to.display()));
    }
}

/// The checkout's commit (12 hex digits, "-dirty" with uncommitted changes to [`SOURCES`]);
/// without git or a repository (a source tarball) `QNETD_COMMIT`, else "unknown".
fn commit() -> String {
    let from_env = || {
        std::env::var("QNETD_COMMIT")
            .ok()
            .filter(|c| !c.trim().is_empty())
    };
    let Some(head) = own_repository()
        .then(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .flatten()
    else {
        return from_env().unwrap_or_else(|| "unknown".to_string());
    };
    watch_git_head();
    for s in SOURCES {
        println!("cargo:rerun-if-changed={s}");
    }
    let mut status = vec!["status", "--porcelain", "--untracked-files=no", "--"];
    status.extend_from_slice(SOURCES);
    match git(&status) {
        Some(changes) if !changes.is_empty() => format!("{head}-dirty"),
        _ => head,
    }
}

/// Whether the crate is the top of a git checkout: a source tarball unpacked inside some other
/// repository must not report that repository's commit.
fn own_repository() -> bool {
    let top = git(&["rev-parse", "--show-toplevel"]).map(PathBuf::from);
    let dir = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
    match (top, dir) {
        (Some(top), Some(dir)) => top.canonicalize().ok() == dir.canonicalize().ok(),
        _ => false,
    }
}

/// Re-run when HEAD moves: HEAD itself (a checkout), the branch it points to (a commit), and
/// packed-refs (where the branch lives after `git pack-refs`). `--git-path` resolves these for
/// linked worktrees too, whose HEAD and refs live in different directories.
fn watch_git_head() {
    let mut paths = vec!["HEAD".to_string(), "packed-refs".to_string()];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        paths.push(branch);
    }
    for p in paths {
        if let Some(file) = git(&["rev-parse", "--git-path", &p]) {
            let file = absolute(Path::new(&file));
            if file.exists() {
                println!("cargo:rerun-if-changed={}", file.display());
            }
        }
    }
}

fn absolute(p: &Path) -> PathBuf {
    let dir = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
    match dir {
        Some(dir) if p.is_relative() => dir.join(p),
        _ => p.to_path_buf(),
    }
}

/// One git command's trimmed output in the crate's directory; None if git is missing, this is
/// not a repository, or the command failed. GIT_OPTIONAL_LOCKS=0: `git status` must not
/// rewrite the index (a build must not change the checkout, nor race a user's git command).
fn git(args: &[&str]) -> Option<String> {
    let dir = std::env::var_os("CARGO_MANIFEST_DIR")?;
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_OPTIONAL_LOCKS", "0")
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}
