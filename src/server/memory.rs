//! The daemon and the machine's memory.
//!
//! How many clients the daemon accepts when `-m` is not given: sized from the machine's
//! memory, so a flood of clients cannot take a small router's memory, while `-m 0` keeps
//! upstream's unlimited. The memory is MemTotal, or the daemon's cgroup limit when lower: in a
//! container (an LXC guest on Proxmox, Docker) /proc/meminfo shows the host's memory. The
//! computation is pure; only [`read_memory_size`] and its helpers read /proc and /sys.
//!
//! And giving memory back after a flood: glibc's malloc keeps the pages of freed
//! connections (2,000 idle connections gone left 13 MB of a 3.5 MB daemon resident), so when
//! the connections drop to a fraction of their peak, [`release_free_memory`] asks it to
//! return them (docs/daemon.md, Memory).

use std::convert::Infallible;

/// The share of the machine's memory the connected clients may take together: 1/8.
pub const MEMORY_SHARE_DIVISOR: u64 = 8;

/// What one connected client is budgeted at, in KiB. The worst client measured (docs/daemon.md,
/// Memory; `loadgen memory`) is a node of a 384-node cluster INIT'd over TLS with three full
/// node lists: 21,599 bytes, 87.9% of 24 KiB (plaintext's worst, 20,466). A message still
/// arriving (up to `max_client_receive_size`) is on top of this.
pub const KIB_PER_CLIENT: u64 = 24;

/// Never fewer than this: a 32 MB router (the smallest OpenWrt still runs on) serves 128
/// two-node clusters, whose clients take about 4 MB.
pub const MIN_DEFAULT_MAX_CLIENTS: usize = 256;

/// Never more than this: past it the number of clients says nothing about memory any more
/// (file descriptors, CPU); tools/bench measured 10,000 TLS clients. `-m N` goes higher.
pub const MAX_DEFAULT_MAX_CLIENTS: usize = 16384;

/// Why the daemon uses the `max_clients` it uses; [`MaxClients::words`] is the startup log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `-m N` or `--max-clients N` (N = 0: unlimited).
    Given,
    /// Computed from the memory size; `clamped` when the floor or the ceiling applied.
    Memory { memory: MemorySize, clamped: bool },
    /// /proc/meminfo could not be read: the floor, and why.
    Unknown(String),
}

/// The `max_clients` in force (0 = unlimited) and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaxClients {
    pub value: usize,
    pub source: Source,
}

/// The default for a machine with `mem_total_kb` KiB of memory: the clients at
/// [`KIB_PER_CLIENT`] each take at most 1/[`MEMORY_SHARE_DIVISOR`] of it, within
/// [`MIN_DEFAULT_MAX_CLIENTS`]..=[`MAX_DEFAULT_MAX_CLIENTS`]. Returns the value and
/// whether a bound applied.
pub fn default_max_clients(mem_total_kb: u64) -> (usize, bool) {
    let fits = mem_total_kb / MEMORY_SHARE_DIVISOR / KIB_PER_CLIENT;
    let fits = usize::try_from(fits).unwrap_or(usize::MAX);
    let value = fits.clamp(MIN_DEFAULT_MAX_CLIENTS, MAX_DEFAULT_MAX_CLIENTS);
    (value, value != fits)
}

/// The memory the daemon may use, in KiB, and whether a cgroup limit (below MemTotal) set it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemorySize {
    pub kb: u64,
    pub cgroup_limited: bool,
}

impl MemorySize {
    /// MemTotal, lowered to the cgroup's limit (bytes) when there is a lower one.
    pub fn of(mem_total_kb: u64, cgroup_limit_bytes: Option<u64>) -> MemorySize {
        match cgroup_limit_bytes.map(|b| b / 1024) {
            Some(limit_kb) if limit_kb < mem_total_kb => MemorySize {
                kb: limit_kb,
                cgroup_limited: true,
            },
            _ => MemorySize {
                kb: mem_total_kb,
                cgroup_limited: false,
            },
        }
    }
}

/// `given` is the command line's `-m` (None = not given); `memory` (the daemon passes
/// [`read_memory_size`]) is called only without it.
pub fn resolve(
    given: Option<usize>,
    memory: impl FnOnce() -> Result<MemorySize, String>,
) -> MaxClients {
    let Some(value) = given else {
        return from_memory(memory());
    };
    MaxClients {
        value,
        source: Source::Given,
    }
}

fn from_memory(memory: Result<MemorySize, String>) -> MaxClients {
    match memory {
        Ok(memory) => {
            let (value, clamped) = default_max_clients(memory.kb);
            MaxClients {
                value,
                source: Source::Memory { memory, clamped },
            }
        }
        Err(why) => MaxClients {
            value: MIN_DEFAULT_MAX_CLIENTS,
            source: Source::Unknown(why),
        },
    }
}

impl MaxClients {
    /// One line for the startup log: the value and why.
    pub fn words(&self) -> String {
        let value = self.value;
        match &self.source {
            Source::Given if value == 0 => "max_clients unlimited (-m 0)".to_string(),
            Source::Given => format!("max_clients {value} (-m {value}; -m 0 for unlimited)"),
            Source::Memory { memory, clamped } => {
                let bound = match (*clamped, value) {
                    (false, _) => "",
                    (true, MIN_DEFAULT_MAX_CLIENTS) => ", the minimum",
                    (true, _) => ", the maximum",
                };
                let whose = if memory.cgroup_limited {
                    " (the cgroup's limit)"
                } else {
                    ""
                };
                format!(
                    "max_clients {value} (from {} MB of memory{whose}{bound}; -m 0 for unlimited)",
                    memory.kb / 1024
                )
            }
            Source::Unknown(why) => {
                format!("max_clients {value} (memory size unknown: {why}; -m 0 for unlimited)")
            }
        }
    }
}

/// Below this peak of connections a drop is ordinary churn, not a flood ending.
pub const FLOOD_MIN_PEAK: usize = 64;

/// Whether the connections have dropped far enough from their `peak` (since the last check)
/// to `now` for freed memory to be worth giving back: to a quarter of a peak of at least
/// [`FLOOD_MIN_PEAK`].
pub fn flood_is_over(peak: usize, now: usize) -> bool {
    peak >= FLOOD_MIN_PEAK && now <= peak / 4
}

/// How often the daemon checks [`flood_is_over`].
pub const FLOOD_CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(2);

/// The edge: every [`FLOOD_CHECK_INTERVAL`], give freed memory back to the system once a
/// flood of connections is over. Runs forever.
pub async fn give_back_after_floods(admission: super::admission::Admission) -> Infallible {
    loop {
        smol::Timer::after(FLOOD_CHECK_INTERVAL).await;
        let peak = admission.take_peak();
        let now = admission.clients();
        if flood_is_over(peak, now) {
            release_free_memory();
            log::debug!("{peak} connections down to {now}: freed memory given back");
        }
    }
}

/// Give the allocator's free pages back to the system. glibc keeps them (its heap only
/// shrinks from the top, and a few live allocations there pin the rest); malloc_trim(0)
/// also releases free pages inside the heap.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)] // an FFI call: glibc has no safe binding for it
pub fn release_free_memory() {
    // SAFETY: malloc_trim only walks glibc's own free lists; it takes the arena locks itself.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The static musl builds' dlmalloc (src/alloc.rs).
#[cfg(target_env = "musl")]
pub fn release_free_memory() {
    crate::alloc::release_free();
}

/// Other allocators: nothing to ask.
#[cfg(not(any(target_env = "musl", all(target_os = "linux", target_env = "gnu"))))]
pub fn release_free_memory() {}

/// MemTotal in KiB from the text of /proc/meminfo.
pub fn parse_mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let mut words = line["MemTotal:".len()..].split_whitespace();
    let kb = words.next()?.parse().ok()?;
    // The kernel always says kB; anything else is not the file we know.
    (words.next() == Some("kB")).then_some(kb)
}

/// The edge: MemTotal of this machine, or why it is not known.
pub fn read_mem_total_kb() -> Result<u64, String> {
    let path = "/proc/meminfo";
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    parse_mem_total(&text).ok_or_else(|| format!("{path} has no MemTotal line in kB"))
}

/// The memory limit in bytes that a cgroup file states: a number, or none for "max" (v2) and
/// v1's "unlimited" (a number near 2^63, which the comparison with MemTotal drops anyway).
pub fn parse_cgroup_limit(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// The limit files that bound this process, from the text of /proc/self/cgroup: for v2 (the
/// `0::PATH` line) `memory.max`, for v1 (the `N:memory:PATH` line, or one naming memory
/// among others) `memory.limit_in_bytes`, in the process's cgroup and every one above it (a
/// parent's limit binds its children). Inside a cgroup namespace the path is `/`.
pub fn cgroup_limit_files(proc_self_cgroup: &str) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for line in proc_self_cgroup.lines() {
        let mut fields = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let (mount, file) = if controllers.is_empty() {
            ("/sys/fs/cgroup", "memory.max")
        } else if controllers.split(',').any(|c| c == "memory") {
            ("/sys/fs/cgroup/memory", "memory.limit_in_bytes")
        } else {
            continue;
        };
        let mut dir = std::path::PathBuf::from(mount).join(path.trim_start_matches('/'));
        loop {
            files.push(dir.join(file));
            if dir == std::path::Path::new(mount) || !dir.pop() {
                break;
            }
        }
    }
    files
}

/// The lowest memory limit of this process's cgroups, in bytes, if any is set.
pub fn read_cgroup_limit_bytes() -> Option<u64> {
    let cgroups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    cgroup_limit_files(&cgroups)
        .iter()
        .filter_map(|f| parse_cgroup_limit(&std::fs::read_to_string(f).ok()?))
        .min()
}

/// The edge: the memory this daemon may use (MemTotal, or its cgroup's lower limit).
pub fn read_memory_size() -> Result<MemorySize, String> {
    Ok(MemorySize::of(
        read_mem_total_kb()?,
        read_cgroup_limit_bytes(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: u64 = 1024;

    #[test]
    fn default_grows_with_memory_between_floor_and_ceiling() {
        // A 64 MB router: the kernel reports ~57 MB.
        assert_eq!(default_max_clients(57 * MB), (304, false));
        assert_eq!(default_max_clients(64 * MB), (341, false));
        assert_eq!(default_max_clients(128 * MB), (682, false));
        assert_eq!(default_max_clients(256 * MB), (1365, false));
        assert_eq!(default_max_clients(1024 * MB), (5461, false));
        // 32 MB: 1/8 would be 170 clients; the floor keeps 256.
        assert_eq!(default_max_clients(32 * MB), (256, true));
        assert_eq!(default_max_clients(0), (256, true));
        // 16 GB and up: the ceiling.
        assert_eq!(default_max_clients(16 * 1024 * MB), (16384, true));
        assert_eq!(default_max_clients(u64::MAX), (16384, true));
    }

    #[test]
    fn clients_at_the_default_take_at_most_an_eighth() {
        for mb in [48, 57, 64, 100, 128, 512, 2048, 3072] {
            let (n, clamped) = default_max_clients(mb * MB);
            assert!(!clamped, "{mb} MB");
            assert!(n as u64 * KIB_PER_CLIENT <= mb * MB / 8, "{mb} MB: {n}");
        }
    }

    #[test]
    fn given_value_wins_and_zero_stays_unlimited() {
        let unlimited = resolve(Some(0), || panic!("not read with -m"));
        assert_eq!(unlimited.value, 0);
        assert_eq!(unlimited.words(), "max_clients unlimited (-m 0)");
        let given = resolve(Some(8), || panic!("not read with -m"));
        assert_eq!(given.value, 8);
        assert_eq!(given.words(), "max_clients 8 (-m 8; -m 0 for unlimited)");
    }

    #[test]
    fn startup_words_say_value_and_why() {
        assert_eq!(
            resolve(None, || Ok(MemorySize::of(64 * MB, None))).words(),
            "max_clients 341 (from 64 MB of memory; -m 0 for unlimited)"
        );
        assert_eq!(
            resolve(None, || Ok(MemorySize::of(32 * MB, None))).words(),
            "max_clients 256 (from 32 MB of memory, the minimum; -m 0 for unlimited)"
        );
        assert_eq!(
            resolve(None, || Ok(MemorySize::of(64 * 1024 * MB, None))).words(),
            "max_clients 16384 (from 65536 MB of memory, the maximum; -m 0 for unlimited)"
        );
        let unknown = resolve(None, || Err("/proc/meminfo: not found".into()));
        assert_eq!(unknown.value, MIN_DEFAULT_MAX_CLIENTS);
        assert_eq!(
            unknown.words(),
            "max_clients 256 (memory size unknown: /proc/meminfo: not found; -m 0 for unlimited)"
        );
    }

    #[test]
    fn a_flood_is_over_at_a_quarter_of_a_peak_of_64_or_more() {
        assert!(flood_is_over(2000, 0));
        assert!(flood_is_over(2000, 500));
        assert!(!flood_is_over(2000, 501));
        assert!(flood_is_over(64, 16));
        assert!(!flood_is_over(64, 17));
        // Ordinary churn of a few nodes is no flood.
        assert!(!flood_is_over(63, 0));
        assert!(!flood_is_over(0, 0));
        // Calling it with nothing to give back is harmless.
        release_free_memory();
    }

    #[test]
    fn a_cgroup_limit_below_mem_total_sizes_the_default() {
        // An LXC guest with 512 MB on a 64 GB host: /proc/meminfo shows the host.
        let guest = MemorySize::of(64 * 1024 * MB, Some(512 * 1024 * 1024));
        assert_eq!(
            guest,
            MemorySize {
                kb: 512 * MB,
                cgroup_limited: true
            }
        );
        assert_eq!(
            resolve(None, || Ok(guest)).words(),
            "max_clients 2730 (from 512 MB of memory (the cgroup's limit); -m 0 for unlimited)"
        );
        // No limit, or one above MemTotal (v1's "unlimited"): MemTotal.
        for limit in [
            None,
            Some(9_223_372_036_854_771_712),
            Some(128 * 1024 * 1024 * 1024),
        ] {
            assert_eq!(MemorySize::of(64 * MB, limit).kb, 64 * MB);
            assert!(!MemorySize::of(64 * MB, limit).cgroup_limited);
        }
        assert_eq!(parse_cgroup_limit("max\n"), None);
        assert_eq!(parse_cgroup_limit("536870912\n"), Some(536_870_912));
    }

    #[test]
    fn cgroup_limit_files_cover_v1_v2_and_every_level_above() {
        let v2 = cgroup_limit_files("0::/lxc/101/ns\n");
        let want: Vec<std::path::PathBuf> = [
            "/sys/fs/cgroup/lxc/101/ns/memory.max",
            "/sys/fs/cgroup/lxc/101/memory.max",
            "/sys/fs/cgroup/lxc/memory.max",
            "/sys/fs/cgroup/memory.max",
        ]
        .iter()
        .map(Into::into)
        .collect();
        assert_eq!(v2, want);
        let v1 = cgroup_limit_files("5:devices:/\n4:memory:/a/b\n1:cpu,cpuacct:/a\n");
        let want: Vec<std::path::PathBuf> = [
            "/sys/fs/cgroup/memory/a/b/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/a/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
        ]
        .iter()
        .map(Into::into)
        .collect();
        assert_eq!(v1, want);
        assert_eq!(
            cgroup_limit_files("0::/\n"),
            vec![std::path::PathBuf::from("/sys/fs/cgroup/memory.max")]
        );
    }

    #[test]
    fn mem_total_is_parsed_from_meminfo() {
        let text = "MemTotal:         58212 kB\nMemFree:           9876 kB\n";
        assert_eq!(parse_mem_total(text), Some(58212));
        assert_eq!(parse_mem_total("MemFree: 1 kB\n"), None);
        assert_eq!(parse_mem_total("MemTotal: lots kB\n"), None);
        assert_eq!(parse_mem_total("MemTotal: 12 MB\n"), None);
        assert!(read_mem_total_kb().is_ok());
    }
}
