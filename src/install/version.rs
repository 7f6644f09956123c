//! An older binary never silently replaces a newer one: `qnetd install` compares what each
//! says to `--version`.

use std::path::Path;
use std::process::Command;

/// `qnetd 0.1.0 (...)` → [0, 1, 0]; None for anything else.
pub fn parse(text: &str) -> Option<Vec<u64>> {
    let mut words = text.split_whitespace();
    (words.next()? == "qnetd").then_some(())?;
    words
        .next()?
        .split('.')
        .map(|n| n.parse().ok())
        .collect::<Option<Vec<u64>>>()
        .filter(|v| !v.is_empty())
}

/// The version a binary reports (bounded: `--version` prints one line and exits).
fn version_of(binary: &Path) -> Option<Vec<u64>> {
    let out = Command::new(binary).arg("--version").output().ok()?;
    parse(&String::from_utf8_lossy(&out.stdout))
}

fn shown(v: &[u64]) -> String {
    v.iter().map(u64::to_string).collect::<Vec<_>>().join(".")
}

/// A refusal when `to` (installed) is newer than `from` and `force` is not given; a note
/// when it is forced. Nothing when `to` is missing or either version cannot be told.
pub fn refuse_downgrade(
    from: &Path,
    to: &Path,
    force: bool,
    notes: &mut Vec<String>,
) -> Option<String> {
    if !to.exists() {
        return None;
    }
    let (new, old) = (version_of(from)?, version_of(to)?);
    if new >= old {
        return None;
    }
    let (new, old) = (shown(&new), shown(&old));
    if force {
        notes.push(format!(
            "replacing {} version {old} with the older {new} (--force)",
            to.display()
        ));
        return None;
    }
    Some(format!(
        "{} is version {old}, newer than this one ({new}): nothing changed; re-run with \
         --force to install the older version",
        to.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_by_number() {
        assert_eq!(
            parse("qnetd 0.1.0 (x86_64, commit e6edc17)\n"),
            Some(vec![0, 1, 0])
        );
        assert!(parse("qnetd 0.10.0 (x)") > parse("qnetd 0.9.3 (x)"));
        assert_eq!(parse("corosync-qnetd 3.0.3"), None);
        assert_eq!(parse("qnetd x.y"), None);
    }
}
