//! `qnetd uninstall`: undoes what install made, keeping the user's data unless `--purge`, and
//! of the store, the account and the directories only what install recorded making
//! ([`super::state`]).

use std::fs;
use std::path::{Path, PathBuf};

use super::links::{self, State};
use super::openwrt as ow;
use super::{account, points_to_qnetd, state, uci_get, Plan, Step, FIREWALL_SECTION};

/// The options of `qnetd uninstall`.
#[derive(Debug, Clone)]
pub struct UninstallOptions {
    pub link_dir: PathBuf,
    /// Also remove /etc/config/qnetd and the certificate store.
    pub purge: bool,
    pub openwrt: bool,
    /// What the links must point to, to be ours.
    pub binary: PathBuf,
}

/// The plan of `qnetd uninstall`: undoes what install made, keeping the user's data unless
/// `purge`.
pub fn plan_uninstall(opts: &UninstallOptions) -> Plan {
    let mut plan = Plan::default();
    let target = if opts.openwrt {
        PathBuf::from(ow::BINARY)
    } else {
        opts.binary.clone()
    };
    let mut link_paths: Vec<PathBuf> = links::NAMES.iter().map(|n| opts.link_dir.join(n)).collect();
    if !opts.openwrt {
        remove_our_links(&mut plan, &link_paths, &target);
        plan.notes.push(format!(
            "removed only the links: {}, so install made nothing else",
            ow::not_openwrt_reason()
        ));
        return plan;
    }
    let script = Path::new(ow::INIT_SCRIPT);
    let script_is_ours =
        fs::read_to_string(script).is_ok_and(|t| t.contains(ow::INIT_SCRIPT_MARKER));
    if script_is_ours {
        plan.steps.push(Step::Service("stop"));
        plan.steps.push(Step::Service("disable"));
    }
    if uci_get(FIREWALL_SECTION).is_some() {
        plan.steps.push(Step::FirewallRemove);
    }
    link_paths.extend(ow::sftp_server_paths());
    remove_our_links(&mut plan, &link_paths, &target);
    if script_is_ours {
        plan.steps.push(Step::Remove {
            path: script.to_path_buf(),
            what: "procd script".into(),
        });
    }
    super::luci::plan_uninstall(&mut plan);
    remove_if_present(&mut plan, Path::new(ow::KEEP_FILE), "sysupgrade list");
    remove_if_present(&mut plan, Path::new(ow::BINARY), "the qnetd binary");
    let record = state::Record::read();
    // Directories install made for a link (/usr/libexec): gone when nothing else is in them.
    for made in record.0.iter().rev() {
        if let state::Made::Dir(dir) = made {
            if !is_store_parent(&record, dir) {
                plan.steps
                    .push(Step::RemoveDirIfEmpty { path: dir.clone() });
            }
        }
    }
    let store = ow::UciOptions::read().store;
    if opts.purge {
        plan_purge(&mut plan, &record, &store);
    } else {
        plan.notes.push(format!(
            "kept {}, the certificate store {} and what {} records (the account); to remove \
             them too, run `/tmp/qnetd uninstall --purge` with a qnetd binary copied to the \
             router again ({} is gone now)",
            ow::UCI_FILE,
            store.display(),
            state::STATE_FILE,
            ow::BINARY
        ));
    }
    plan
}

/// A directory made for the store (/etc/corosync/qnetd): removed by --purge only.
fn is_store_parent(record: &state::Record, dir: &Path) -> bool {
    record
        .0
        .iter()
        .any(|m| matches!(m, state::Made::Store(s) if s.starts_with(dir)))
}

/// --purge: the configuration, and of the store and account only what install made.
fn plan_purge(plan: &mut Plan, record: &state::Record, store: &Path) {
    remove_if_present(
        plan,
        Path::new(ow::UCI_FILE),
        "your configuration (--purge)",
    );
    let made_store = record.has(&state::Made::Store(store.to_path_buf()));
    if made_store && store.exists() {
        plan.steps.push(Step::RemoveTree {
            path: store.to_path_buf(),
            what: "the certificate store the service created, CA key included (--purge)".into(),
        });
        for made in record.0.iter().rev() {
            if let state::Made::Dir(dir) = made {
                if is_store_parent(record, dir) {
                    plan.steps
                        .push(Step::RemoveDirIfEmpty { path: dir.clone() });
                }
            }
        }
    } else if store.exists() {
        plan.notes.push(format!(
            "kept the certificate store {}: install did not create it (it was there before); \
             remove it yourself if you mean to (`rm -r '{}'`: the CA key goes with it)",
            store.display(),
            store.display()
        ));
    }
    let name = account::NAME.to_string();
    let files = account::AccountFiles::read();
    let user =
        record.has(&state::Made::User(name.clone())) && account::has_line(&files.passwd, &name);
    let group =
        record.has(&state::Made::Group(name.clone())) && account::has_line(&files.group, &name);
    if user || group {
        // Last but the record: nothing of ours that the account owns is left.
        plan.steps.push(Step::RemoveAccount { user, group });
    }
    let kept: Vec<&str> = [
        (!user && account::has_line(&files.passwd, &name)).then_some("user"),
        (!group && account::has_line(&files.group, &name)).then_some("group"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !kept.is_empty() {
        plan.notes.push(format!(
            "kept {} {name}: install did not create it (it was there before)",
            kept.join(" and ")
        ));
    }
    remove_if_present(
        plan,
        Path::new(state::STATE_FILE),
        "install's record (--purge)",
    );
    plan.steps.push(Step::RemoveDirIfEmpty {
        path: PathBuf::from(state::STATE_DIR),
    });
}

/// Removes the links that run `target`; anything else at those names stays.
fn remove_our_links(plan: &mut Plan, paths: &[PathBuf], target: &Path) {
    for path in paths {
        let ours = matches!(links::inspect(path, target), State::Ours) || points_to_qnetd(path);
        if ours {
            plan.steps.push(Step::Remove {
                path: path.clone(),
                what: "link to qnetd".into(),
            });
        }
    }
}

fn remove_if_present(plan: &mut Plan, path: &Path, what: &str) {
    if fs::symlink_metadata(path).is_ok() {
        plan.steps.push(Step::Remove {
            path: path.to_path_buf(),
            what: what.into(),
        });
    }
}
