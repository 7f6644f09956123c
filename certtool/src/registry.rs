//! The list of every certificate the store has issued: one line per certificate,
//! `serial<TAB>kind<TAB>not-after (Unix seconds)<TAB>SHA-256 (hex)<TAB>name`, `#` comments.
//! Rewritten atomically on each change.

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

    /// notAfter as YYYY-MM-DD (UTC).
    pub fn not_after_date(&self) -> String {
        time::OffsetDateTime::from_unix_timestamp(self.not_after)
            .map(|t| t.date().to_string())
            .unwrap_or_else(|_| "?".into())
    }
}

const HEADER: &str = "# qnetd certificate registry: serial, kind, not-after (unix), sha256, name\n";

pub fn load(path: &Path) -> Result<Vec<Entry>, StoreError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::io(format!("cannot read {}", path.display()), e)),
    };
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
        .map(|(i, l)| {
            parse_line(l).ok_or_else(|| StoreError::Corrupt {
                path: path.to_path_buf(),
                reason: format!("line {} is not `serial kind not-after sha256 name`", i + 1),
            })
        })
        .collect()
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

pub fn render(entries: &[Entry]) -> String {
    let mut out = String::from(HEADER);
    for e in entries {
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
    out
}
