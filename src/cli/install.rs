//! `qnetd install` and `qnetd uninstall`: the command line of [`crate::install`].

use argh::FromArgs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::install::{self, openwrt, InstallOptions, Plan, UninstallOptions};

/// install qnetd: on OpenWrt the binary, procd script, UCI defaults, links (upstream names,
/// sftp-server), sysupgrade list and service; elsewhere the links only
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "install")]
pub struct InstallArgs {
    /// print every step and change nothing
    #[argh(switch)]
    pub dry_run: bool,
    /// add the UCI firewall rule for the qnetd port (zone: --zone, default lan);
    /// `--firewall=ZONE` also works
    #[argh(switch)]
    pub firewall: bool,
    /// firewall zone the Proxmox VE nodes are in (default lan)
    #[argh(option, default = "String::from(\"lan\")")]
    pub zone: String,
    /// directory for the upstream names (default /usr/sbin, on the PATH of ssh sessions on
    /// OpenWrt)
    #[argh(option, default = "PathBuf::from(\"/usr/sbin\")")]
    pub dir: PathBuf,
    /// replace foreign files at those names and a foreign /etc/init.d/qnetd (never a real
    /// sftp-server)
    #[argh(switch)]
    pub force: bool,
    /// the binary to install or link to (default: this one)
    #[argh(option)]
    pub target: Option<PathBuf>,
    /// links only, even on OpenWrt
    #[argh(switch)]
    pub links_only: bool,
}

/// undo `qnetd install`: stop and disable the service, remove what install made; keeps
/// /etc/config/qnetd and the certificate store unless --purge
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "uninstall")]
pub struct UninstallArgs {
    /// print every step and change nothing
    #[argh(switch)]
    pub dry_run: bool,
    /// also remove /etc/config/qnetd and the certificate store (the CA key: enrolled
    /// clusters must be set up again)
    #[argh(switch)]
    pub purge: bool,
    /// directory of the upstream names (default /usr/sbin)
    #[argh(option, default = "PathBuf::from(\"/usr/sbin\")")]
    pub dir: PathBuf,
}

/// argh has no optional option values: `--firewall=ZONE` becomes `--firewall --zone ZONE`.
pub fn expand_firewall_flag(args: &[&str]) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len() + 1);
    for a in args {
        match a.strip_prefix("--firewall=") {
            Some(zone) => {
                out.push("--firewall".to_string());
                out.push("--zone".to_string());
                out.push(zone.to_string());
            }
            None => out.push(a.to_string()),
        }
    }
    out
}

#[inline(never)] // see cli::main
pub fn main(args: InstallArgs) -> ExitCode {
    let Some(binary) = this_binary("install", args.target.as_deref()) else {
        return ExitCode::FAILURE;
    };
    let Some(link_dir) = existing_dir("install", &args.dir, !args.dry_run) else {
        return ExitCode::FAILURE;
    };
    let openwrt = !args.links_only && openwrt::is_openwrt();
    if openwrt && !args.dry_run && !is_root() {
        errln!("qnetd install: run it as root (it writes /usr/sbin, /etc and /lib)");
        return ExitCode::FAILURE;
    }
    let opts = InstallOptions {
        binary,
        link_dir,
        force: args.force,
        firewall: args.firewall.then(|| args.zone.clone()),
        openwrt,
    };
    carry_out("install", &install::plan_install(&opts), args.dry_run)
}

#[inline(never)] // see cli::main
pub fn main_uninstall(args: UninstallArgs) -> ExitCode {
    let Some(binary) = this_binary("uninstall", None) else {
        return ExitCode::FAILURE;
    };
    let Some(link_dir) = existing_dir("uninstall", &args.dir, false) else {
        return ExitCode::FAILURE;
    };
    let openwrt = openwrt::is_openwrt();
    if openwrt && !args.dry_run && !is_root() {
        errln!("qnetd uninstall: run it as root");
        return ExitCode::FAILURE;
    }
    let opts = UninstallOptions {
        link_dir,
        purge: args.purge,
        openwrt,
        binary,
    };
    carry_out("uninstall", &install::plan_uninstall(&opts), args.dry_run)
}

/// Prints the plan (dry run) or carries it out, one line per step. A refusal changes
/// nothing. Install stops at the first failed step, since later ones (starting the service)
/// depend on earlier ones; uninstall goes on, each removal standing alone. Warnings (a
/// firewall that is not running) never stop either.
fn carry_out(cmd: &str, plan: &Plan, dry_run: bool) -> ExitCode {
    for note in &plan.notes {
        outln!("{cmd}: note: {note}");
    }
    for warning in &plan.warnings {
        errln!("{cmd}: warning: {warning}");
    }
    for refusal in &plan.refusals {
        errln!("{cmd}: refused: {refusal}");
    }
    if !plan.refusals.is_empty() {
        errln!("{cmd}: nothing changed");
        return ExitCode::FAILURE;
    }
    if plan.steps.is_empty() {
        outln!("{cmd}: nothing to do");
    }
    let mut ok = true;
    for step in &plan.steps {
        if dry_run {
            outln!("{cmd}: would {step}");
            continue;
        }
        match install::apply(step) {
            Ok(warnings) => {
                outln!("{cmd}: {step}: done");
                for w in warnings {
                    errln!("{cmd}: warning: {w}");
                }
            }
            Err(e) => {
                errln!("{cmd}: {step}: FAILED: {e}");
                ok = false;
                if cmd == "install" {
                    break;
                }
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn this_binary(cmd: &str, given: Option<&Path>) -> Option<PathBuf> {
    let path = match given.map_or_else(std::env::current_exe, |p| Ok(p.to_path_buf())) {
        Ok(p) => p,
        Err(e) => {
            errln!("qnetd {cmd}: cannot find this binary's path: {e}; pass --target");
            return None;
        }
    };
    std::fs::canonicalize(&path)
        .map_err(|e| errln!("qnetd {cmd}: {}: {e}", path.display()))
        .ok()
}

/// The link directory, canonical. A dry run accepts one that does not exist yet.
fn existing_dir(cmd: &str, dir: &Path, must_exist: bool) -> Option<PathBuf> {
    match std::fs::canonicalize(dir) {
        Ok(d) if d.is_dir() => Some(d),
        Ok(d) => {
            errln!("qnetd {cmd}: {} is not a directory", d.display());
            None
        }
        Err(_) if !must_exist => Some(dir.to_path_buf()),
        Err(e) => {
            errln!("qnetd {cmd}: {}: {e}", dir.display());
            None
        }
    }
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}
