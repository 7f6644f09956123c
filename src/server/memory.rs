//! The daemon and the machine's memory (issue 15).
//!
//! How many clients the daemon accepts when `-m` is not given: sized from the machine's
//! memory, so a flood of clients cannot take a small router's memory, while `-m 0` keeps
//! upstream's unlimited. The computation is pure; only [`read_mem_total_kb`] touches /proc.
//!
//! And giving memory back after a flood: glibc's malloc keeps the pages of freed
//! connections (2,000 idle connections gone left 13 MB of a 3.5 MB daemon resident), so when
//! the connections drop to a fraction of their peak, [`release_free_memory`] asks it to
//! return them (docs/daemon.md, Memory).

/// The share of the machine's memory the connected clients may take together: 1/8.
pub const MEMORY_SHARE_DIVISOR: u64 = 8;

/// What one connected client is budgeted at, in KiB. Measured (docs/daemon.md, Memory):
/// 15-18 KiB per INIT'd TLS client, less without TLS; the budget adds room for what a busy
/// client holds on top (queued messages, a TLS handshake in progress, allocator slack).
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
    /// Computed from MemTotal (KiB); `clamped` when the floor or the ceiling applied.
    Memory { mem_total_kb: u64, clamped: bool },
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

/// `given` is the command line's `-m` (None = not given); `mem_total_kb` (the daemon passes
/// [`read_mem_total_kb`]) is called only without it.
pub fn resolve(
    given: Option<usize>,
    mem_total_kb: impl FnOnce() -> Result<u64, String>,
) -> MaxClients {
    let Some(value) = given else {
        return from_memory(mem_total_kb());
    };
    MaxClients {
        value,
        source: Source::Given,
    }
}

fn from_memory(mem_total_kb: Result<u64, String>) -> MaxClients {
    match mem_total_kb {
        Ok(kb) => {
            let (value, clamped) = default_max_clients(kb);
            MaxClients {
                value,
                source: Source::Memory {
                    mem_total_kb: kb,
                    clamped,
                },
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
            Source::Memory {
                mem_total_kb,
                clamped,
            } => {
                let bound = match (*clamped, value) {
                    (false, _) => "",
                    (true, MIN_DEFAULT_MAX_CLIENTS) => ", the minimum",
                    (true, _) => ", the maximum",
                };
                format!(
                    "max_clients {value} (from {} MB of memory{bound}; -m 0 for unlimited)",
                    mem_total_kb / 1024
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
pub async fn give_back_after_floods(admission: super::admission::Admission) {
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
            resolve(None, || Ok(64 * MB)).words(),
            "max_clients 341 (from 64 MB of memory; -m 0 for unlimited)"
        );
        assert_eq!(
            resolve(None, || Ok(32 * MB)).words(),
            "max_clients 256 (from 32 MB of memory, the minimum; -m 0 for unlimited)"
        );
        assert_eq!(
            resolve(None, || Ok(64 * 1024 * MB)).words(),
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
    fn mem_total_is_parsed_from_meminfo() {
        let text = "MemTotal:         58212 kB\nMemFree:           9876 kB\n";
        assert_eq!(parse_mem_total(text), Some(58212));
        assert_eq!(parse_mem_total("MemFree: 1 kB\n"), None);
        assert_eq!(parse_mem_total("MemTotal: lots kB\n"), None);
        assert_eq!(parse_mem_total("MemTotal: 12 MB\n"), None);
        assert!(read_mem_total_kb().is_ok());
    }
}
