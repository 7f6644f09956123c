//! The daemon's own account on OpenWrt: user and group `qnetd`.
//!
//! OpenWrt's BusyBox has no adduser/addgroup; a package gets its account from base-files'
//! `group_add`/`user_add` (`/lib/functions.sh`), which append one line each to /etc/group,
//! /etc/passwd and /etc/shadow. We write the same lines, each file replaced atomically, so a
//! crash or a full flash leaves the old file or the new one. The text work is pure (below);
//! reading and writing the files is [`apply_create`] and [`apply_remove`].

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use certtool::fsutil::{write_atomic, Owner};

/// The user and group the init script runs the daemon as.
pub const NAME: &str = "qnetd";
pub const PASSWD: &str = "/etc/passwd";
pub const GROUP: &str = "/etc/group";
pub const SHADOW: &str = "/etc/shadow";
/// The id we ask for first (the port number: easy to recognise in `ls -n`), then the next
/// free one. Below 65534 (nobody) and above the ids OpenWrt's packages reserve.
pub const PREFERRED_ID: u32 = 5403;
/// Home and shell as OpenWrt's `user_add` defaults: no home to keep, no login.
const HOME: &str = "/var/run/qnetd";
const SHELL: &str = "/bin/false";

/// The three files as text (a missing one reads as empty).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountFiles {
    pub passwd: String,
    pub group: String,
    pub shadow: String,
}

/// What must be added so that user and group `qnetd` exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Missing {
    /// Add the group (with `gid`); false when it exists with that gid.
    pub add_group: bool,
    pub add_user: bool,
    pub uid: u32,
    pub gid: u32,
}

impl AccountFiles {
    pub fn read() -> AccountFiles {
        let read = |p: &str| super::textfile::read_capped(Path::new(p)).unwrap_or_default();
        AccountFiles {
            passwd: read(PASSWD),
            group: read(GROUP),
            shadow: read(SHADOW),
        }
    }

    /// The uid and primary gid of `name` in the passwd text.
    pub fn user(&self, name: &str) -> Option<(u32, u32)> {
        let f = entry(&self.passwd, name)?;
        Some((f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?))
    }

    /// The gid of group `name`.
    pub fn group_id(&self, name: &str) -> Option<u32> {
        entry(&self.group, name)?.get(2)?.parse().ok()
    }

    /// What is missing for user and group `name`; None when both exist.
    pub fn missing(&self, name: &str) -> Option<Missing> {
        let user = self.user(name);
        let group = self.group_id(name);
        if user.is_some() && group.is_some() {
            return None;
        }
        // An existing group keeps its gid; a lone user keeps its gid for the new group.
        let gid = group
            .or(user.map(|(_, g)| g))
            .unwrap_or_else(|| self.free_id(PREFERRED_ID));
        let uid = user.map_or_else(|| self.free_uid(gid), |(u, _)| u);
        Some(Missing {
            add_group: group.is_none(),
            add_user: user.is_none(),
            uid,
            gid,
        })
    }

    /// The first id from `from` up that is neither a uid nor a gid yet.
    fn free_id(&self, from: u32) -> u32 {
        let taken =
            |id: u32| ids(&self.passwd, 2).any(|u| u == id) || ids(&self.group, 2).any(|g| g == id);
        (from..).find(|&id| !taken(id)).unwrap_or(from)
    }

    /// `gid` as the uid when no user has it (uid = gid, as OpenWrt's packages), else the next
    /// free id.
    fn free_uid(&self, gid: u32) -> u32 {
        if ids(&self.passwd, 2).any(|u| u == gid) {
            self.free_id(gid)
        } else {
            gid
        }
    }

    /// The files with the missing lines appended, in OpenWrt's `user_add` format.
    pub fn with_account(&self, name: &str, m: &Missing) -> AccountFiles {
        let mut out = self.clone();
        if m.add_group {
            out.group = appended(&self.group, &format!("{name}:x:{}:", m.gid));
        }
        if m.add_user {
            out.passwd = appended(
                &self.passwd,
                &format!("{name}:x:{}:{}:{name}:{HOME}:{SHELL}", m.uid, m.gid),
            );
            if entry(&self.shadow, name).is_none() {
                out.shadow = appended(&self.shadow, &format!("{name}:*:0:0:99999:7:::"));
            }
        }
        out
    }

    /// The files without `name`'s lines.
    pub fn without_account(&self, name: &str) -> AccountFiles {
        AccountFiles {
            passwd: without(&self.passwd, name),
            group: without(&self.group, name),
            shadow: without(&self.shadow, name),
        }
    }
}

/// How install gets the daemon's account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// User `qnetd` exists and is fit: used as it is. `gid` is its primary group, the one
    /// procd runs the daemon with (getpwnam's pw_gid, then setgid).
    Existing { uid: u32, gid: u32 },
    /// What to add (a missing group, a missing user or both).
    Create(Missing),
    /// Not usable; the reason, in words, says what to do.
    Refused(String),
}

impl AccountFiles {
    /// Whether the account `name` can run the daemon, or what to create, or why not.
    pub fn decide(&self, name: &str) -> Decision {
        if let Some(line) = entry_line(&self.passwd, name) {
            return self.decide_existing(name, line);
        }
        if let Some(line) = entry_line(&self.group, name) {
            if self.group_id(name).is_none() {
                return Decision::Refused(format!(
                    "{GROUP} has a malformed line for group {name} ({line:?}): its gid is not a \
                     number; correct or remove that line, then install again"
                ));
            }
        }
        match self.missing(name) {
            Some(m) => Decision::Create(m),
            None => Decision::Refused(format!("user {name} is missing from {PASSWD}")),
        }
    }

    fn decide_existing(&self, name: &str, line: &str) -> Decision {
        let Some((uid, gid)) = self.user(name) else {
            return Decision::Refused(format!(
                "{PASSWD} has a malformed line for user {name} ({line:?}): its uid or gid is \
                 not a number; correct or remove that line, then install again"
            ));
        };
        if uid == 0 || gid == 0 {
            return Decision::Refused(format!(
                "user {name} exists with uid {uid} and gid {gid}: root's ids; the daemon must \
                 not run as root. Give it ids of its own, or remove it, then install again"
            ));
        }
        // The store becomes readable by the primary group: no other account may be in it.
        let sharers: Vec<&str> = self
            .passwd
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.first() != Some(&name) && f.get(3).and_then(|g| g.parse().ok()) == Some(gid))
                    .then(|| f[0])
            })
            .chain(self.group.lines().filter_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.get(2).and_then(|g| g.parse().ok()) == Some(gid))
                    .then(|| f.get(3).copied().unwrap_or(""))
                    .into_iter()
                    .flat_map(|members| members.split(','))
                    .find(|m| !m.is_empty() && *m != name)
            }))
            .collect();
        if !sharers.is_empty() {
            return Decision::Refused(format!(
                "user {name} exists with primary group {gid}, which {} also {}: the daemon runs \
                 with that group (procd uses the user's primary group) and the store would be \
                 readable by them. Give user {name} a group of its own, or remove it so install \
                 creates one, then install again",
                sharers.join(", "),
                if sharers.len() == 1 { "has" } else { "have" }
            ));
        }
        Decision::Existing { uid, gid }
    }
}

/// The whole line of `name` (first field exactly `name`).
fn entry_line<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines().find(|l| l.split(':').next() == Some(name))
}

/// The `:`-separated fields of `name`'s line.
fn entry<'a>(text: &'a str, name: &str) -> Option<Vec<&'a str>> {
    text.lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.first() == Some(&name))
}

/// The numeric field `index` of every line.
fn ids(text: &str, index: usize) -> impl Iterator<Item = u32> + '_ {
    text.lines()
        .filter_map(move |l| l.split(':').nth(index)?.parse().ok())
}

fn appended(text: &str, line: &str) -> String {
    let mut out = text.to_string();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(line);
    out.push('\n');
    out
}

fn without(text: &str, name: &str) -> String {
    let prefix = format!("{name}:");
    let mut out: String = text
        .lines()
        .filter(|l| !l.starts_with(&prefix))
        .flat_map(|l| [l, "\n"])
        .collect();
    if !text.ends_with('\n') && out.ends_with('\n') && !text.is_empty() {
        out.pop();
    }
    out
}

/// Adds what is missing of user and group `qnetd` to the system's files.
pub fn apply_create(m: &Missing) -> Result<(), String> {
    let files = AccountFiles::read();
    write_changed(&files, &files.with_account(NAME, m))
}

/// Removes user (with its shadow line) and/or group `qnetd` from the system's files.
pub fn apply_remove(user: bool, group: bool) -> Result<(), String> {
    let files = AccountFiles::read();
    let without = files.without_account(NAME);
    let new = AccountFiles {
        passwd: if user {
            without.passwd
        } else {
            files.passwd.clone()
        },
        shadow: if user {
            without.shadow
        } else {
            files.shadow.clone()
        },
        group: if group {
            without.group
        } else {
            files.group.clone()
        },
    };
    write_changed(&files, &new)
}

/// Whether `text` (passwd or group) has a line for `name`, well-formed or not.
pub fn has_line(text: &str, name: &str) -> bool {
    entry_line(text, name).is_some()
}

/// Group first: a passwd line must never name a gid that /etc/group lacks, even after a crash
/// between the two writes.
fn write_changed(old: &AccountFiles, new: &AccountFiles) -> Result<(), String> {
    for (path, before, after, mode) in [
        (GROUP, &old.group, &new.group, 0o644),
        (PASSWD, &old.passwd, &new.passwd, 0o644),
        (SHADOW, &old.shadow, &new.shadow, 0o600),
    ] {
        if before != after {
            replace_keeping_mode(Path::new(path), after, mode)?;
        }
    }
    Ok(())
}

/// Writes `text` over `path` atomically with the file's current mode and owner (`default_mode`
/// for a new file).
fn replace_keeping_mode(path: &Path, text: &str, default_mode: u32) -> Result<(), String> {
    let meta = fs::metadata(path).ok();
    let mode = meta
        .as_ref()
        .map_or(default_mode, |m| m.permissions().mode() & 0o7777);
    let owner = meta.map(|m| Owner {
        uid: m.uid(),
        gid: m.gid(),
    });
    write_atomic(path, text.as_bytes(), mode, owner).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(passwd: &str, group: &str) -> AccountFiles {
        AccountFiles {
            passwd: passwd.into(),
            group: group.into(),
            shadow: "root:x:0:0:99999:7:::\n".into(),
        }
    }

    const OPENWRT_PASSWD: &str = "root:x:0:0:root:/root:/bin/ash\n\
        daemon:*:1:1:daemon:/var:/bin/false\n\
        nobody:*:65534:65534:nobody:/var:/bin/false\n";
    const OPENWRT_GROUP: &str = "root:x:0:\ndaemon:x:1:\nnogroup:x:65534:\n";

    #[test]
    fn a_fresh_system_gets_both_with_the_preferred_id() {
        let f = files(OPENWRT_PASSWD, OPENWRT_GROUP);
        let m = f.missing(NAME).expect("missing");
        assert_eq!(
            m,
            Missing {
                add_group: true,
                add_user: true,
                uid: 5403,
                gid: 5403
            }
        );
        let new = f.with_account(NAME, &m);
        assert!(new
            .passwd
            .ends_with("nobody:*:65534:65534:nobody:/var:/bin/false\nqnetd:x:5403:5403:qnetd:/var/run/qnetd:/bin/false\n"));
        assert!(new.group.ends_with("nogroup:x:65534:\nqnetd:x:5403:\n"));
        assert!(new
            .shadow
            .ends_with("root:x:0:0:99999:7:::\nqnetd:*:0:0:99999:7:::\n"));
        // Done: nothing missing any more, and removing gives the files back.
        assert_eq!(new.missing(NAME), None);
        assert_eq!(new.without_account(NAME), f);
    }

    #[test]
    fn taken_ids_are_skipped_and_existing_parts_kept() {
        let f = files(
            &format!("{OPENWRT_PASSWD}other:x:5403:100::/:/bin/false\n"),
            &format!("{OPENWRT_GROUP}other:x:5404:\n"),
        );
        let m = f.missing(NAME).unwrap();
        assert_eq!((m.uid, m.gid), (5405, 5405));
        // A group of that name already: its gid is used, only the user is added.
        let f = files(OPENWRT_PASSWD, &format!("{OPENWRT_GROUP}qnetd:x:777:\n"));
        let m = f.missing(NAME).unwrap();
        assert_eq!(
            m,
            Missing {
                add_group: false,
                add_user: true,
                uid: 777,
                gid: 777
            }
        );
        assert_eq!(f.with_account(NAME, &m).group, f.group);
    }

    #[test]
    fn a_file_without_a_final_newline_stays_well_formed() {
        let f = files("root:x:0:0:root:/root:/bin/ash", "root:x:0:");
        let m = f.missing(NAME).unwrap();
        let new = f.with_account(NAME, &m);
        assert_eq!(new.group, "root:x:0:\nqnetd:x:5403:\n");
        assert_eq!(new.without_account(NAME).group, "root:x:0:\n");
        // A line that only starts like ours is not ours.
        let f = files("qnetdx:x:9:9::/:/bin/false\n", "");
        assert_eq!(f.user(NAME), None);
        assert_eq!(f.without_account(NAME).passwd, f.passwd);
    }

    #[test]
    fn an_existing_account_is_used_as_procd_uses_it_or_refused() {
        // Primary group 100 (users), a group qnetd of gid 777: procd runs it with gid 100.
        let f = files(
            &format!("{OPENWRT_PASSWD}qnetd:x:6000:100::/:/bin/false\n"),
            &format!("{OPENWRT_GROUP}qnetd:x:777:\n"),
        );
        assert_eq!(
            f.decide(NAME),
            Decision::Existing {
                uid: 6000,
                gid: 100
            }
        );
        // The same group shared with another account: refused, saying why.
        let f = files(
            &format!(
                "{OPENWRT_PASSWD}alice:x:1000:100::/:/bin/ash\nqnetd:x:6000:100::/:/bin/false\n"
            ),
            OPENWRT_GROUP,
        );
        assert!(
            matches!(f.decide(NAME), Decision::Refused(r) if r.contains("alice also has")),
            "{:?}",
            f.decide(NAME)
        );
        let f = files(OPENWRT_PASSWD, &format!("{OPENWRT_GROUP}users:x:100:bob\n"));
        let f = files(
            &format!("{}qnetd:x:6000:100::/:/bin/false\n", f.passwd),
            &f.group,
        );
        assert!(matches!(f.decide(NAME), Decision::Refused(r) if r.contains("bob")));
        // A malformed line is refused, never a second entry appended.
        let f = files(
            &format!("{OPENWRT_PASSWD}qnetd:x:abc:xyz::/:/bin/false\n"),
            OPENWRT_GROUP,
        );
        assert!(matches!(f.decide(NAME), Decision::Refused(r) if r.contains("malformed")));
        let f = files(OPENWRT_PASSWD, &format!("{OPENWRT_GROUP}qnetd:x:zz:\n"));
        assert!(matches!(f.decide(NAME), Decision::Refused(r) if r.contains("malformed")));
        // Root's ids: refused.
        let f = files(
            &format!("{OPENWRT_PASSWD}qnetd:x:0:0::/:/bin/false\n"),
            OPENWRT_GROUP,
        );
        assert!(matches!(f.decide(NAME), Decision::Refused(_)));
        // Nothing there: both created.
        let f = files(OPENWRT_PASSWD, OPENWRT_GROUP);
        assert!(matches!(f.decide(NAME), Decision::Create(m) if m.add_user && m.add_group));
    }
}
