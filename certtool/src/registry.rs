//! The list of every certificate the store has issued, and of the revoked ones. One line per
//! certificate, `serial<TAB>kind<TAB>not-after (Unix seconds)<TAB>SHA-256 (hex)<TAB>name`; one
//! line per revocation, `revoked<TAB>serial<TAB>revoked-at (Unix seconds)<TAB>reason`; `#`
//! comments. Rewritten atomically on each change (temp file, fsync, rename).
//!
//! A registry without revocation lines is exactly the format of earlier versions, which read
//! it unchanged. A revocation line starts with a word where a serial stands, so an earlier
//! version refuses a registry that has one ("line N is not …") rather than ignoring it.

use std::fmt::Write as _;
use std::path::Path;

use crate::error::StoreError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Ca,
    Server,
    Cluster,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Ca => "ca",
            Kind::Server => "server",
            Kind::Cluster => "cluster",
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        match s {
            "ca" => Some(Kind::Ca),
            "server" => Some(Kind::Server),
            "cluster" => Some(Kind::Cluster),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub serial: u64,
    pub kind: Kind,
    /// notAfter as Unix seconds.
    pub not_after: i64,
    /// SHA-256 of the DER certificate, lower-case hex.
    pub sha256: String,
    /// Subject CN for the CA/server, cluster name for cluster certificates.
    pub name: String,
}

impl Entry {
    /// Whole days from now until notAfter (negative once expired).
    pub fn days_left(&self) -> i64 {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        (self.not_after - now).div_euclid(86_400)
    }

    /// Whether it expires within the warning margin from now, or has expired
    /// ([`crate::profile::expires_soon`]).
    pub fn expires_soon(&self) -> bool {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        crate::profile::expires_soon(self.not_after, now)
    }

    /// notAfter as YYYY-MM-DD (UTC).
    pub fn not_after_date(&self) -> String {
        utc_date(self.not_after)
    }
}

/// Unix seconds as YYYY-MM-DD (UTC); "?" outside the years -9999..=9999.
pub fn utc_date(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .map_or_else(|_| "?".into(), |t| t.date().to_string())
}

/// Unix seconds as `YYYY-MM-DD HH:MM` (UTC); "?" outside the years -9999..=9999.
pub fn utc_date_time(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs).map_or_else(
        |_| "?".into(),
        |t| format!("{} {:02}:{:02}", t.date(), t.hour(), t.minute()),
    )
}

/// One revoked certificate: the daemon refuses a client certificate with this serial.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revocation {
    pub serial: u64,
    /// When it was revoked, Unix seconds.
    pub revoked_at: i64,
    /// What the administrator gave as the reason (one line, may be empty).
    pub reason: String,
}

impl Revocation {
    /// The revocation time as `YYYY-MM-DD HH:MM UTC`.
    pub fn revoked_at_text(&self) -> String {
        format!("{} UTC", utc_date_time(self.revoked_at))
    }

    /// The reason, or words saying none was given.
    pub fn reason_text(&self) -> &str {
        if self.reason.is_empty() {
            "no reason given"
        } else {
            &self.reason
        }
    }
}

/// The whole registry file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Registry {
    /// Issued certificates, oldest first.
    pub entries: Vec<Entry>,
    /// Revocations, in the order they were made.
    pub revocations: Vec<Revocation>,
}

impl Registry {
    /// The revocation of `serial`, if it is revoked.
    pub fn revocation(&self, serial: u64) -> Option<&Revocation> {
        self.revocations.iter().find(|r| r.serial == serial)
    }

    /// The issued certificate with `serial`, if recorded.
    pub fn entry(&self, serial: u64) -> Option<&Entry> {
        self.entries.iter().find(|e| e.serial == serial)
    }
}

const HEADER: &str = "# qnetd certificate registry: serial, kind, not-after (unix), sha256, name\n";
const REVOCATION_HEADER: &str =
    "# revoked certificates: revoked, serial, revoked-at (unix), reason\n";
/// First field of a revocation line.
const REVOKED_TAG: &str = "revoked";

/// The issued certificates of the registry at `path` (none if it does not exist).
pub fn load(path: &Path) -> Result<Vec<Entry>, StoreError> {
    read(path).map(|r| r.entries)
}

/// The whole registry at `path`: certificates and revocations (empty if it does not exist).
pub fn read(path: &Path) -> Result<Registry, StoreError> {
    let data = match crate::fsutil::read_bounded(
        path,
        crate::fsutil::cap::REGISTRY,
        crate::fsutil::Links::Refuse,
    ) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Registry::default()),
        Err(e) => return Err(StoreError::io(format!("cannot read {}", path.display()), e)),
    };
    let text = String::from_utf8(data).map_err(|_| StoreError::Corrupt {
        path: path.to_path_buf(),
        reason: "not UTF-8 text".into(),
    })?;
    parse(&text).map_err(|reason| StoreError::Corrupt {
        path: path.to_path_buf(),
        reason,
    })
}

/// Parses the registry text; the error names the first bad line.
pub fn parse(text: &str) -> Result<Registry, String> {
    let mut registry = Registry::default();
    for (i, line) in text.lines().enumerate() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line
            .strip_prefix(REVOKED_TAG)
            .and_then(|r| r.strip_prefix('\t'))
        {
            let r = parse_revocation(rest).ok_or_else(|| {
                format!("line {} is not `revoked serial revoked-at reason`", i + 1)
            })?;
            registry.revocations.push(r);
            continue;
        }
        let e = parse_line(line)
            .ok_or_else(|| format!("line {} is not `serial kind not-after sha256 name`", i + 1))?;
        registry.entries.push(e);
    }
    Ok(registry)
}

fn parse_revocation(rest: &str) -> Option<Revocation> {
    let mut f = rest.splitn(3, '\t');
    Some(Revocation {
        serial: f.next()?.parse().ok()?,
        revoked_at: f.next()?.parse().ok()?,
        reason: f.next()?.to_string(),
    })
}

/// `reason` as it can stand in one registry field: control characters (tabs, line breaks)
/// become spaces, surrounding blanks go.
pub fn clean_reason(reason: &str) -> String {
    reason
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

fn parse_line(line: &str) -> Option<Entry> {
    let mut f = line.splitn(5, '\t');
    Some(Entry {
        serial: f.next()?.parse().ok()?,
        kind: Kind::parse(f.next()?)?,
        not_after: f.next()?.parse().ok()?,
        sha256: f.next()?.to_string(),
        name: f.next()?.to_string(),
    })
}

/// The registry file's text for `entries` alone (no revocations).
pub fn render(entries: &[Entry]) -> String {
    render_registry(&Registry {
        entries: entries.to_vec(),
        revocations: Vec::new(),
    })
}

/// The registry file's text. Without revocations it is byte for byte the earlier format.
pub fn render_registry(registry: &Registry) -> String {
    let mut out = String::from(HEADER);
    for e in &registry.entries {
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}",
            e.serial,
            e.kind.as_str(),
            e.not_after,
            e.sha256,
            e.name
        );
    }
    if !registry.revocations.is_empty() {
        out.push_str(REVOCATION_HEADER);
    }
    for r in &registry.revocations {
        let _ = writeln!(
            out,
            "{REVOKED_TAG}\t{}\t{}\t{}",
            r.serial,
            r.revoked_at,
            clean_reason(&r.reason)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A registry as the previous version wrote it (no revocation lines).
    const OLD: &str =
        "# qnetd certificate registry: serial, kind, not-after (unix), sha256, name\n\
                       101\tca\t4102444800\taa\tQNet CA\n\
                       102\tserver\t4102444800\tbb\tQnetd Server\n\
                       103\tcluster\t4102444800\tcc\talpha\n";

    #[test]
    fn a_registry_of_the_previous_version_reads_and_renders_unchanged() {
        let reg = parse(OLD).unwrap();
        assert_eq!(reg.entries.len(), 3);
        assert!(reg.revocations.is_empty());
        assert_eq!(reg.entries[2].name, "alpha");
        assert_eq!(render_registry(&reg), OLD);
        assert_eq!(render(&reg.entries), OLD);
    }

    #[test]
    fn revocations_round_trip_and_are_found_by_serial() {
        let mut reg = parse(OLD).unwrap();
        reg.revocations.push(Revocation {
            serial: 103,
            revoked_at: 1_700_000_000,
            reason: "laptop\tstolen\nat the station ".into(),
        });
        let text = render_registry(&reg);
        assert!(
            text.contains("revoked\t103\t1700000000\tlaptop stolen at the station\n"),
            "{text}"
        );
        let back = parse(&text).unwrap();
        assert_eq!(back.entries, reg.entries);
        let r = back.revocation(103).unwrap();
        assert_eq!(r.reason, "laptop stolen at the station");
        assert_eq!(r.revoked_at_text(), "2023-11-14 22:13 UTC");
        assert!(back.revocation(102).is_none());
        assert_eq!(back.entry(103).unwrap().name, "alpha");
    }

    #[test]
    fn an_empty_reason_survives_and_reads_as_none_given() {
        let reg = parse("revoked\t7\t0\t\n").unwrap();
        let r = reg.revocation(7).unwrap();
        assert_eq!(r.reason, "");
        assert_eq!(r.reason_text(), "no reason given");
    }

    #[test]
    fn a_bad_revocation_line_is_named() {
        for bad in [
            "revoked\tx\t0\tr\n",
            "revoked\t7\n",
            "revoked\t7\tsoon\tr\n",
        ] {
            let e = parse(&format!("{OLD}{bad}")).unwrap_err();
            assert!(
                e.contains("line 5") && e.contains("revoked"),
                "{bad:?}: {e}"
            );
        }
    }
}
