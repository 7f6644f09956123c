//! `qnetd install` and `qnetd uninstall`: the whole OpenWrt install from the one binary.
//!
//! Each command first looks at the system and makes a [`Plan`]: the [`Step`]s that would
//! change something, and notes on what it leaves alone and why. `--dry-run` prints the plan;
//! otherwise the steps run in order. Looking never changes anything, so a second run finds
//! nothing to do.

pub mod account;
pub mod links;
pub mod luci;
pub mod openwrt;
pub mod service;
pub mod serving;
pub mod state;
mod textfile;
pub mod uninstall;
pub mod version;

use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use certtool::fsutil::write_atomic;
use links::{LinkKind, State};
use openwrt as ow;
pub use uninstall::{plan_uninstall, UninstallOptions};

/// The UCI section our firewall rule lives in: a named section makes the rule findable, so
/// adding it is idempotent and uninstall removes exactly it.
pub const FIREWALL_SECTION: &str = "firewall.qnetd";
const FIREWALL_SCRIPT: &str = "/etc/init.d/firewall";

/// One change to the system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Copy (or update) the running binary to its installed place.
    CopyBinary {
        from: PathBuf,
        to: PathBuf,
    },
    WriteFile {
        path: PathBuf,
        text: &'static str,
        mode: u32,
        what: &'static str,
    },
    WriteKeepList {
        text: String,
    },
    Link {
        path: PathBuf,
        target: PathBuf,
    },
    Remove {
        path: PathBuf,
        what: String,
    },
    RemoveTree {
        path: PathBuf,
        what: String,
    },
    /// `/etc/init.d/qnetd ACTION`.
    Service(&'static str),
    FirewallAdd {
        zone: String,
        port: u16,
    },
    FirewallRemove,
    /// Add user and group `qnetd` (what of them is missing).
    CreateAccount(account::Missing),
    /// Remove user and/or group `qnetd` (uninstall --purge), those install made.
    RemoveAccount {
        user: bool,
        group: bool,
    },
    /// Record what install makes (before making it), for `uninstall --purge`.
    WriteState {
        text: String,
    },
    /// Remove a directory install made, if nothing else is in it.
    RemoveDirIfEmpty {
        path: PathBuf,
    },
    /// The service answers on its status socket within [`serving::BOUND`].
    CheckServing,
    /// Bring the certificate store to the ownership model for the daemon's group.
    ShareStore {
        path: PathBuf,
        gid: u32,
    },
    /// rpcd and LuCI's caches, after their files changed.
    Luci(luci::Action),
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::CopyBinary { from, to } => {
                write!(f, "copy {} to {}", from.display(), to.display())
            }
            Step::WriteFile { path, what, .. } => write!(f, "write {} ({what})", path.display()),
            Step::WriteKeepList { .. } => write!(
                f,
                "write {} (kept across sysupgrade: binary, links, init script, config, store)",
                ow::KEEP_FILE
            ),
            Step::Link { path, target } => {
                write!(f, "link {} to {}", path.display(), target.display())
            }
            Step::Remove { path, what } => write!(f, "remove {} ({what})", path.display()),
            Step::RemoveTree { path, what } => {
                write!(f, "remove {} and everything in it ({what})", path.display())
            }
            Step::Service(action) => write!(f, "run {} {action}", ow::INIT_SCRIPT),
            Step::FirewallAdd { zone, port } => write!(
                f,
                "add firewall rule {FIREWALL_SECTION}: accept TCP {port} from zone {zone}, \
                 then reload the firewall"
            ),
            Step::FirewallRemove => write!(
                f,
                "remove firewall rule {FIREWALL_SECTION}, then reload the firewall"
            ),
            Step::CreateAccount(m) => {
                let name = account::NAME;
                match (m.add_user, m.add_group) {
                    (true, true) => write!(
                        f,
                        "create user {name} (uid {}) and group {name} (gid {}): the daemon runs as it",
                        m.uid, m.gid
                    ),
                    (true, false) => write!(
                        f,
                        "create user {name} (uid {}, group {name}): the daemon runs as it",
                        m.uid
                    ),
                    _ => write!(f, "create group {name} (gid {}) for user {name}", m.gid),
                }
            }
            Step::RemoveAccount { user, group } => write!(
                f,
                "remove {} {} (--purge; install made it)",
                match (user, group) {
                    (true, true) => "user and group",
                    (true, false) => "user",
                    _ => "group",
                },
                account::NAME
            ),
            Step::WriteState { .. } => write!(
                f,
                "record what install makes in {} (for uninstall --purge)",
                state::STATE_FILE
            ),
            Step::RemoveDirIfEmpty { path } => {
                write!(f, "remove {} if empty (install made it)", path.display())
            }
            Step::CheckServing => write!(
                f,
                "check that the service answers on {} (within {} s)",
                serving::SOCKET,
                serving::BOUND.as_secs()
            ),
            Step::ShareStore { path, gid } => write!(
                f,
                "give the certificate store {} to the daemon's group (gid {gid}): root's, 0750, \
                 files 0640 but the CA key, root's alone; the daemon reads it and writes nothing",
                path.display(),
            ),
            Step::Luci(action) => write!(f, "{action}"),
        }
    }
}

/// What a command will do and what it leaves alone.
#[derive(Debug, Default)]
pub struct Plan {
    pub steps: Vec<Step>,
    /// Things deliberately not done, each with its reason.
    pub notes: Vec<String>,
    /// Conflicts that make the command fail (a foreign file where a link should go).
    pub refusals: Vec<String>,
    /// Things that work but may not be what the user wants (printed to stderr).
    pub warnings: Vec<String>,
}

/// The options of `qnetd install`.
#[derive(Debug, Clone)]
pub struct InstallOptions {
    /// The binary to install (normally the running one), already canonical.
    pub binary: PathBuf,
    /// Where the upstream names go (default /usr/sbin).
    pub link_dir: PathBuf,
    /// Replace foreign files at the link names and a foreign init script.
    pub force: bool,
    /// Add the firewall rule for this zone.
    pub firewall: Option<String>,
    /// False: links only (also forced on a host that is not OpenWrt).
    pub openwrt: bool,
}

/// The plan of `qnetd install`.
pub fn plan_install(opts: &InstallOptions) -> Plan {
    let mut plan = Plan::default();
    if !opts.openwrt {
        plan_links(&mut plan, opts, &opts.binary);
        plan.notes.push(format!(
            "skipped the copy to {}, the init script, {}, the sftp-server link, the sysupgrade \
             list, the service and the firewall: {}",
            ow::BINARY,
            ow::UCI_FILE,
            ow::not_openwrt_reason()
        ));
        return plan;
    }
    let installed = PathBuf::from(ow::BINARY);
    let binary_changes = plan_binary(&mut plan, &opts.binary, &installed, opts.force);
    let mut links = plan_links(&mut plan, opts, &installed);
    let mut made = Vec::new();
    let sftp = plan_sftp_links(&mut plan, &installed);
    if let Some(dir) = sftp.first().and_then(|p| p.parent()) {
        made.extend(
            state::missing_parents(&dir.join("x"))
                .into_iter()
                .map(state::Made::Dir),
        );
    }
    links.extend(sftp);
    let script_changes = plan_init_script(&mut plan, opts.force);
    plan_uci_defaults(&mut plan);
    let uci = ow::UciOptions::read();
    let account_ok = plan_account(&mut plan, &uci.store, &mut made);
    if !uci.store.exists() {
        // The service creates it as root at its first start (init.d/qnetd).
        made.extend(
            state::missing_parents(&uci.store)
                .into_iter()
                .map(state::Made::Dir),
        );
        made.push(state::Made::Store(uci.store.clone()));
    }
    links.extend(luci::plan_install(&mut plan, luci::Present::detect()));
    plan_state(&mut plan, &made);
    plan_keep_list(&mut plan, &links, &uci.store);
    if let Some(zone) = &opts.firewall {
        plan_firewall(&mut plan, zone, uci.port);
    }
    if account_ok {
        plan_service(&mut plan, binary_changes || script_changes);
    } else {
        plan.notes.push(
            "the service is not enabled or started: it has no account to run as (see above)".into(),
        );
    }
    plan
}

/// The record of what this install makes, added to what earlier installs made; written
/// first, so a purge after an interrupted install still finds it.
fn plan_state(plan: &mut Plan, made: &[state::Made]) {
    let old = state::Record::read();
    let new = old.with(made);
    if new != old || !Path::new(state::STATE_FILE).exists() {
        plan.steps.insert(0, Step::WriteState { text: new.text() });
    }
}

/// Copies the binary unless the installed one is this very file or has the same bytes, and
/// never an older version over a newer one without `force`. Returns whether the installed
/// binary changes.
fn plan_binary(plan: &mut Plan, from: &Path, to: &Path, force: bool) -> bool {
    if links::is_same_file(from, to) || same_contents(from, to) {
        return false;
    }
    if let Some(refusal) = version::refuse_downgrade(from, to, force, &mut plan.notes) {
        plan.refusals.push(refusal);
        return false;
    }
    plan.steps.push(Step::CopyBinary {
        from: from.to_path_buf(),
        to: to.to_path_buf(),
    });
    true
}

fn same_contents(a: &Path, b: &Path) -> bool {
    match (fs::metadata(a), fs::metadata(b)) {
        (Ok(ma), Ok(mb)) if ma.len() == mb.len() => {
            matches!((fs::read(a), fs::read(b)), (Ok(x), Ok(y)) if x == y)
        }
        _ => false,
    }
}

/// The upstream names in the link directory. Returns the link paths (for keep.d).
fn plan_links(plan: &mut Plan, opts: &InstallOptions, target: &Path) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    for name in links::NAMES {
        let path = opts.link_dir.join(name);
        match links::inspect(&path, target) {
            State::Ours => {}
            State::Absent => plan.steps.push(link_step(&path, target)),
            // A link left by an earlier install to a binary that has moved (e.g. /tmp/qnetd
            // before the copy to /usr/sbin) shows as foreign: relink it without --force.
            State::Foreign(what) if opts.force || points_to_qnetd(&path) => {
                plan.notes
                    .push(format!("replacing {}: it is {what}", path.display()));
                plan.steps.push(link_step(&path, target));
            }
            State::Foreign(what) => plan.refusals.push(format!(
                "{} is {what}, not qnetd; remove it or re-run with --force",
                path.display()
            )),
            State::Unreadable(e) => plan.refusals.push(e),
        }
        paths.push(path);
    }
    if !links::SSH_PATH
        .iter()
        .any(|p| Path::new(p) == opts.link_dir)
    {
        plan.notes.push(format!(
            "{} is not on the PATH of a non-interactive ssh session on OpenWrt ({}); \
             `pvecm qdevice setup` will not find corosync-qnetd-certutil there",
            opts.link_dir.display(),
            links::SSH_PATH.join(":")
        ));
    }
    paths
}

/// A symlink whose text names a `qnetd` file: ours from an earlier install, maybe to a binary
/// that has moved since (e.g. /tmp/qnetd before the copy to /usr/sbin).
pub(crate) fn points_to_qnetd(path: &Path) -> bool {
    fs::read_link(path).is_ok_and(|t| t.file_name().is_some_and(|n| n == "qnetd"))
}

fn link_step(path: &Path, target: &Path) -> Step {
    Step::Link {
        path: path.to_path_buf(),
        target: target.to_path_buf(),
    }
}

/// sftp-server where Dropbear looks for it, only where nothing is: a real sftp-server is
/// never replaced, not even with --force.
fn plan_sftp_links(plan: &mut Plan, target: &Path) -> Vec<PathBuf> {
    let mut ours = Vec::new();
    for path in ow::sftp_server_paths() {
        match links::inspect(&path, target) {
            State::Ours => ours.push(path),
            State::Absent => {
                plan.steps.push(link_step(&path, target));
                ours.push(path);
            }
            State::Foreign(_) if points_to_qnetd(&path) => {
                plan.steps.push(link_step(&path, target));
                ours.push(path);
            }
            State::Foreign(what) => plan.notes.push(format!(
                "kept {}: a real sftp-server is there ({what}); Dropbear uses it, qnetd's \
                 built-in one is not needed",
                path.display()
            )),
            State::Unreadable(e) => plan.notes.push(e),
        }
    }
    ours
}

/// Writes our init script if it is missing or is an older one of ours. Returns whether it
/// changes.
fn plan_init_script(plan: &mut Plan, force: bool) -> bool {
    let path = Path::new(ow::INIT_SCRIPT);
    let current = match fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => {
            plan.refusals
                .push(format!("cannot read {}: {e}", path.display()));
            return false;
        }
    };
    let what = match &current {
        Some(text) if text == ow::INIT_SCRIPT_TEXT => return false,
        Some(text) if text.contains(ow::INIT_SCRIPT_MARKER) => "procd script, updated",
        Some(_) if force => "procd script, replacing a foreign one (--force)",
        Some(_) => {
            plan.refusals.push(format!(
                "{} exists and was not written by qnetd; remove it or re-run with --force",
                path.display()
            ));
            return false;
        }
        None => "procd script",
    };
    plan.steps.push(Step::WriteFile {
        path: path.to_path_buf(),
        text: ow::INIT_SCRIPT_TEXT,
        mode: 0o755,
        what,
    });
    true
}

/// The daemon's account (made, or an existing one used as procd will use it), and the store
/// it must read through its primary group. False when there is no usable account.
fn plan_account(plan: &mut Plan, store: &Path, made: &mut Vec<state::Made>) -> bool {
    let files = account::AccountFiles::read();
    let gid = match files.decide(account::NAME) {
        account::Decision::Existing { uid, gid } => {
            let ours = state::Record::read().has(&state::Made::User(account::NAME.into()));
            if !ours {
                plan.notes.push(format!(
                    "using the existing user {} (uid {uid}, primary group {gid}): the daemon \
                     runs with that group, as procd sets it",
                    account::NAME
                ));
            }
            gid
        }
        account::Decision::Create(m) => {
            if m.add_group {
                made.push(state::Made::Group(account::NAME.into()));
            }
            if m.add_user {
                made.push(state::Made::User(account::NAME.into()));
            }
            plan.steps.push(Step::CreateAccount(m));
            m.gid
        }
        account::Decision::Refused(why) => {
            plan.refusals.push(why);
            return false;
        }
    };
    if service::store_needs_group(store, gid) {
        plan.steps.push(Step::ShareStore {
            path: store.to_path_buf(),
            gid,
        });
    }
    true
}

/// The UCI file is the user's configuration: written only when absent.
fn plan_uci_defaults(plan: &mut Plan) {
    let path = Path::new(ow::UCI_FILE);
    if path.exists() {
        plan.notes
            .push(format!("kept {}: it is your configuration", path.display()));
        return;
    }
    plan.steps.push(Step::WriteFile {
        path: path.to_path_buf(),
        text: ow::UCI_DEFAULTS_TEXT,
        mode: 0o644,
        what: "UCI defaults",
    });
}

fn plan_keep_list(plan: &mut Plan, links: &[PathBuf], store: &Path) {
    let text = ow::keep_list(links, store);
    if fs::read_to_string(ow::KEEP_FILE).is_ok_and(|t| t == text) {
        return;
    }
    plan.steps.push(Step::WriteKeepList { text });
}

fn plan_firewall(plan: &mut Plan, zone: &str, port: u16) {
    if zone == "wan" {
        plan.warnings.push(format!(
            "--firewall=wan opens TCP {port} to the internet (zone wan): only TLS with client \
             certificates stands between qnetd and anyone; prefer the zone the Proxmox VE nodes \
             are in (default lan)"
        ));
    }
    let current = |opt: &str| uci_get(&format!("{FIREWALL_SECTION}.{opt}"));
    let port_text = port.to_string();
    let present = current("src").as_deref() == Some(zone)
        && current("dest_port").as_deref() == Some(port_text.as_str())
        && current("target").as_deref() == Some("ACCEPT");
    if !present {
        plan.steps.push(Step::FirewallAdd {
            zone: zone.to_string(),
            port,
        });
    }
}

/// Enabled at boot, and running the installed binary and script: restarted if either changed;
/// then checked to answer.
fn plan_service(plan: &mut Plan, changed: bool) {
    let script_exists = Path::new(ow::INIT_SCRIPT).exists();
    if !script_exists || !service_check("enabled") {
        plan.steps.push(Step::Service("enable"));
    }
    let running = script_exists && service_check("running");
    if running && changed {
        plan.steps.push(Step::Service("restart"));
    } else if !running {
        plan.steps.push(Step::Service("start"));
    } else {
        return;
    }
    plan.steps.push(Step::CheckServing);
}

// ---- carrying out a step -------------------------------------------------------------------

/// Carries out one step; the error says what failed, in words. `Ok` carries warnings: what
/// the step left undone that does not stop the others (a symlink in the store, a firewall
/// that is not running).
pub fn apply(step: &Step) -> Result<Vec<String>, String> {
    let done = |r: Result<(), String>| r.map(|()| Vec::new());
    match step {
        Step::CopyBinary { from, to } => done(copy_binary(from, to)),
        Step::WriteFile {
            path, text, mode, ..
        } => done(write_file(path, text.as_bytes(), *mode)),
        Step::WriteKeepList { text } => {
            done(write_file(Path::new(ow::KEEP_FILE), text.as_bytes(), 0o644))
        }
        Step::Link { path, target } => done(link(path, target)),
        Step::Remove { path, .. } => done(remove(path)),
        Step::RemoveTree { path, .. } => done(
            fs::remove_dir_all(path).map_err(|e| format!("cannot remove {}: {e}", path.display())),
        ),
        Step::Service(action) => done(run(Command::new(ow::INIT_SCRIPT).arg(action))),
        Step::FirewallAdd { zone, port } => firewall_add(zone, *port),
        Step::FirewallRemove => {
            run(Command::new("uci").args(["delete", FIREWALL_SECTION]))?;
            firewall_commit()
        }
        Step::CreateAccount(m) => done(account::apply_create(m)),
        Step::RemoveAccount { user, group } => done(account::apply_remove(*user, *group)),
        Step::ShareStore { path, gid } => service::apply_share_store(path, *gid),
        Step::WriteState { text } => done(state::write(text)),
        Step::RemoveDirIfEmpty { path } => done(remove_dir_if_empty(path)),
        Step::CheckServing => done(serving::check()),
        Step::Luci(action) => done(luci::apply(action)),
    }
}

/// rmdir: a directory with something in it (not ours) stays, and that is fine.
fn remove_dir_if_empty(path: &Path) -> Result<(), String> {
    match fs::remove_dir(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::DirectoryNotEmpty => Ok(()),
        Err(e) => Err(format!("cannot remove {}: {e}", path.display())),
    }
}

fn remove(path: &Path) -> Result<(), String> {
    fs::remove_file(path).map_err(|e| format!("cannot remove {}: {e}", path.display()))
}

fn copy_binary(from: &Path, to: &Path) -> Result<(), String> {
    let data = fs::read(from).map_err(|e| format!("cannot read {}: {e}", from.display()))?;
    // Written beside and renamed over: a running daemon keeps its old file, the next start
    // gets the whole new one, never a half-copied binary.
    write_file(to, &data, 0o755)
}

fn write_file(path: &Path, data: &[u8], mode: u32) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    write_atomic(path, data, mode, None).map_err(|e| e.to_string())?;
    // write_atomic sets the mode on its temp file; make sure the umask did not narrow it.
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| format!("cannot chmod {}: {e}", path.display()))
}

fn link(path: &Path, target: &Path) -> Result<(), String> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(format!("{} has no directory part", path.display()));
    };
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    links::make_link(dir, &name.to_string_lossy(), target).map(|_: LinkKind| ())
}

fn firewall_add(zone: &str, port: u16) -> Result<Vec<String>, String> {
    let s = FIREWALL_SECTION;
    let sets = [
        format!("{s}=rule"),
        format!("{s}.name=Allow-qnetd"),
        format!("{s}.src={zone}"),
        format!("{s}.proto=tcp"),
        format!("{s}.dest_port={port}"),
        format!("{s}.target=ACCEPT"),
    ];
    for set in &sets {
        run(Command::new("uci").args(["set", set]))?;
    }
    firewall_commit()
}

/// Commits the rule change, then reloads the firewall. The rule in /etc/config/firewall is
/// what counts: a firewall that is not running (a dumb access point, or stopped) applies it
/// when it starts, so a failed reload is a warning and the other steps go on.
fn firewall_commit() -> Result<Vec<String>, String> {
    run(Command::new("uci").args(["commit", "firewall"]))?;
    match run(Command::new(FIREWALL_SCRIPT).arg("reload")) {
        Ok(()) => Ok(Vec::new()),
        Err(e) => Ok(vec![format!(
            "the rule is saved in /etc/config/firewall but the firewall did not reload ({e}): \
             it applies when the firewall starts (`{FIREWALL_SCRIPT} start`)"
        )]),
    }
}

/// Runs a command; a failure carries its output.
fn run(cmd: &mut Command) -> Result<(), String> {
    let shown = format!("{cmd:?}").replace('"', "");
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if text.is_empty() {
        text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    }
    Err(format!("{shown} failed ({}): {text}", out.status))
}

/// `/etc/init.d/qnetd enabled|running`: true when it says yes (exit 0).
pub(crate) fn service_check(what: &str) -> bool {
    Command::new(ow::INIT_SCRIPT)
        .arg(what)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `uci -q get KEY`, None when unset or when uci is missing.
pub(crate) fn uci_get(key: &str) -> Option<String> {
    let out = Command::new("uci").args(["-q", "get", key]).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}
