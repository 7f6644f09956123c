//! Result lines (one per run, `key=value` words, appended to a file) and the side-by-side table.

use std::collections::BTreeMap;
use std::fmt::Write as _;

#[derive(Debug, Clone, Default)]
pub struct ResultLine {
    pub name: String,
    pub clusters: usize,
    pub clients: usize,
    pub tls: bool,
    pub rss_base_kib: u64,
    pub rss_idle_kib: u64,
    pub anon_base_kib: u64,
    pub anon_idle_kib: u64,
    pub hwm_kib: u64,
    pub bytes_per_client: u64,
    pub cpu_s: f64,
    pub idle_cpu_s: f64,
    pub vote_samples: usize,
    pub vote_p50_ms: f64,
    pub vote_p99_ms: f64,
    pub ramp_s: f64,
    pub restart_s: f64,
    pub refused: u64,
    pub dropped: u64,
    pub vote_timeouts: u64,
    /// Empty, or the phase and reason the run stopped early (figures after it are missing).
    pub failure: String,
}

/// The value at percentile `p` (nearest rank) of unsorted samples; 0 when there are none.
pub fn percentile(samples: &[u64], p: f64) -> u64 {
    if samples.is_empty() {
        return 0;
    }
    let mut v = samples.to_vec();
    v.sort_unstable();
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

impl ResultLine {
    pub fn to_line(&self) -> String {
        format!(
            "result name={} clusters={} clients={} tls={} rss_base_kib={} rss_idle_kib={} \
             anon_base_kib={} anon_idle_kib={} hwm_kib={} bytes_per_client={} cpu_s={:.2} \
             idle_cpu_s={:.2} vote_samples={} \
             vote_p50_ms={:.3} vote_p99_ms={:.3} ramp_s={:.2} restart_s={:.2} refused={} \
             dropped={} vote_timeouts={} failure={}",
            self.name,
            self.clusters,
            self.clients,
            self.tls,
            self.rss_base_kib,
            self.rss_idle_kib,
            self.anon_base_kib,
            self.anon_idle_kib,
            self.hwm_kib,
            self.bytes_per_client,
            self.cpu_s,
            self.idle_cpu_s,
            self.vote_samples,
            self.vote_p50_ms,
            self.vote_p99_ms,
            self.ramp_s,
            self.restart_s,
            self.refused,
            self.dropped,
            self.vote_timeouts,
            self.failure.replace(' ', "_")
        )
    }

    pub fn parse(line: &str) -> Option<ResultLine> {
        let rest = line.strip_prefix("result ")?;
        let kv: BTreeMap<&str, &str> = rest
            .split_whitespace()
            .filter_map(|w| w.split_once('='))
            .collect();
        let n = |k: &str| kv.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        let f = |k: &str| kv.get(k).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        Some(ResultLine {
            name: kv.get("name")?.to_string(),
            clusters: n("clusters") as usize,
            clients: n("clients") as usize,
            tls: kv.get("tls") == Some(&"true"),
            rss_base_kib: n("rss_base_kib"),
            rss_idle_kib: n("rss_idle_kib"),
            anon_base_kib: n("anon_base_kib"),
            anon_idle_kib: n("anon_idle_kib"),
            hwm_kib: n("hwm_kib"),
            bytes_per_client: n("bytes_per_client"),
            cpu_s: f("cpu_s"),
            idle_cpu_s: f("idle_cpu_s"),
            vote_samples: n("vote_samples") as usize,
            vote_p50_ms: f("vote_p50_ms"),
            vote_p99_ms: f("vote_p99_ms"),
            ramp_s: f("ramp_s"),
            restart_s: f("restart_s"),
            refused: n("refused"),
            dropped: n("dropped"),
            vote_timeouts: n("vote_timeouts"),
            failure: kv.get("failure").unwrap_or(&"").replace('_', " "),
        })
    }
}

/// One row per size and daemon, in the order sizes first appear; the last result of a
/// (size, daemon) pair wins.
pub fn table(results: &[ResultLine]) -> String {
    let mut rows: Vec<&ResultLine> = Vec::new();
    for r in results {
        if let Some(slot) = rows
            .iter_mut()
            .find(|x| x.clusters == r.clusters && x.name == r.name)
        {
            *slot = r;
        } else {
            rows.push(r);
        }
    }
    // By size, then daemons in the order they first appear.
    let mut names: Vec<&str> = Vec::new();
    for r in results {
        if !names.contains(&r.name.as_str()) {
            names.push(&r.name);
        }
    }
    rows.sort_by_key(|r| (r.clusters, names.iter().position(|n| *n == r.name)));
    let header = [
        "clusters",
        "clients",
        "daemon",
        "VmHWM",
        "RSS idle",
        "anon idle",
        "B/client",
        "B/extra client",
        "CPU s",
        "vote p50",
        "vote p99",
        "votes",
        "restart",
        "refused",
        "dropped",
        "note",
    ];
    let mut cells: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
    for r in &rows {
        // A run that stopped early did not measure the later figures: "-", not 0.
        let fig = |measured: bool, text: String| {
            if measured || r.failure.is_empty() {
                text
            } else {
                "-".to_string()
            }
        };
        cells.push(vec![
            r.clusters.to_string(),
            r.clients.to_string(),
            r.name.clone(),
            fig(r.hwm_kib > 0, mib(r.hwm_kib)),
            fig(r.rss_idle_kib > 0, mib(r.rss_idle_kib)),
            fig(r.anon_idle_kib > 0, mib(r.anon_idle_kib)),
            fig(r.rss_idle_kib > 0, r.bytes_per_client.to_string()),
            fig(r.rss_idle_kib > 0, bytes_per_extra_client(r, &rows)),
            fig(r.cpu_s > 0.0, format!("{:.2}", r.cpu_s)),
            fig(r.vote_samples > 0, format!("{:.2} ms", r.vote_p50_ms)),
            fig(r.vote_samples > 0, format!("{:.2} ms", r.vote_p99_ms)),
            r.vote_samples.to_string(),
            fig(r.restart_s > 0.0, format!("{:.2} s", r.restart_s)),
            r.refused.to_string(),
            r.dropped.to_string(),
            r.failure.clone(),
        ]);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|i| cells.iter().map(|row| row[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for (k, row) in cells.iter().enumerate() {
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i == 2 || i == header.len() - 1 {
                    format!("{c:<w$}", w = widths[i])
                } else {
                    format!("{c:>w$}", w = widths[i])
                }
            })
            .collect();
        let _ = writeln!(out, "| {} |", line.join(" | "));
        if k == 0 {
            let sep: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            let _ = writeln!(out, "|-{}-|", sep.join("-|-"));
        }
    }
    out
}

/// Idle RSS growth per client from the same daemon's smallest run to this one: what one more
/// idle client costs, without the fixed cost of the first ones.
fn bytes_per_extra_client(r: &ResultLine, rows: &[&ResultLine]) -> String {
    let Some(small) = rows
        .iter()
        .filter(|x| x.name == r.name && x.clients < r.clients && x.rss_idle_kib > 0)
        .min_by_key(|x| x.clients)
    else {
        return "-".to_string();
    };
    let grown = r.rss_idle_kib.saturating_sub(small.rss_idle_kib) * 1024;
    (grown / (r.clients - small.clients) as u64).to_string()
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&[7], 99.0), 7);
        assert_eq!(percentile(&[], 50.0), 0);
    }

    #[test]
    fn result_line_round_trips() {
        let r = ResultLine {
            name: "qnetd".into(),
            clusters: 100,
            clients: 200,
            tls: true,
            hwm_kib: 1234,
            vote_p99_ms: 1.5,
            refused: 3,
            ..Default::default()
        };
        let back = ResultLine::parse(&r.to_line()).expect("parses");
        assert_eq!(back.to_line(), r.to_line());
        assert!(table(&[r.clone(), back]).contains("1.2 MiB"));
        let bigger = ResultLine {
            clusters: 1100,
            clients: 2200,
            rss_idle_kib: 2000 + 1000,
            ..r.clone()
        };
        let small = ResultLine {
            rss_idle_kib: 2000,
            ..r
        };
        // 1000 KiB more for 2000 more clients: 512 bytes each.
        assert!(table(&[small, bigger]).contains(" 512 |"));
    }
}
