//! The daemon under test: started by us (so we know its PID), pinned to one core, measured
//! through /proc, stopped with SIGTERM.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Daemon {
    child: Child,
    argv: Vec<String>,
}

/// Memory and CPU of a process, from /proc/PID/status and /proc/PID/stat.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    pub vm_rss_kib: u64,
    pub vm_hwm_kib: u64,
    /// Private anonymous memory (heap, stacks): VmRSS without shared libraries and the binary.
    pub rss_anon_kib: u64,
    /// utime + stime, in clock ticks.
    pub cpu_ticks: u64,
}

/// Raises the soft open-files limit to the hard one; children inherit it.
pub fn raise_fd_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read/write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
    lim.rlim_cur
}

/// Pins the calling process (or the child, from pre_exec) to one CPU.
pub fn pin_to_cpu(cpu: usize) -> std::io::Result<()> {
    // SAFETY: a zeroed cpu_set_t is valid; CPU_SET/sched_setaffinity touch only it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

pub fn clock_ticks_per_sec() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

impl Daemon {
    /// Starts `argv` with stdout/stderr appended to `log`, on `cpu` if given.
    pub fn spawn(
        argv: &[String],
        log: &std::path::Path,
        cpu: Option<usize>,
    ) -> Result<Daemon, String> {
        let (prog, args) = argv.split_first().ok_or("empty daemon command")?;
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let mut cmd = Command::new(prog);
        cmd.args(args).stdin(Stdio::null()).stdout(out).stderr(err);
        if let Some(cpu) = cpu {
            // SAFETY: pin_to_cpu only calls sched_setaffinity, which is async-signal-safe.
            unsafe {
                cmd.pre_exec(move || pin_to_cpu(cpu));
            }
        }
        let child = cmd.spawn().map_err(|e| format!("{prog}: {e}"))?;
        Ok(Daemon {
            child,
            argv: argv.to_vec(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn command_line(&self) -> String {
        self.argv.join(" ")
    }

    /// Waits until `addr` accepts connections; fails if the daemon exits first.
    pub async fn wait_listening(
        &mut self,
        addr: std::net::SocketAddr,
        limit: Duration,
    ) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("daemon exited at start: {status}"));
            }
            if smol::net::TcpStream::connect(addr).await.is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("daemon not listening on {addr} after {limit:?}"));
            }
            smol::Timer::after(Duration::from_millis(20)).await;
        }
    }

    pub fn usage(&self) -> Result<Usage, String> {
        let pid = self.pid();
        let status =
            std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| e.to_string())?;
        let field = |name: &str| -> u64 {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        let stat =
            std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| e.to_string())?;
        // Fields after the ")" that closes the command name: state is field 3, utime 14, stime 15.
        let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let f: Vec<&str> = after.split_whitespace().collect();
        let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        Ok(Usage {
            vm_rss_kib: field("VmRSS:"),
            vm_hwm_kib: field("VmHWM:"),
            rss_anon_kib: field("RssAnon:"),
            cpu_ticks: num(11) + num(12),
        })
    }

    /// How the process ended, if it has (e.g. "signal: 11 (SIGSEGV) (core dumped)").
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            _ => None,
        }
    }

    /// Whether the process is still running (not exited, e.g. not crashed).
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM, then SIGKILL after `grace`; returns how it ended.
    pub async fn stop(mut self, grace: Duration) -> String {
        let pid = self.pid() as libc::pid_t;
        // SAFETY: kill on our own child's PID.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let deadline = Instant::now() + grace;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return status.to_string(),
                Ok(None) if Instant::now() < deadline => {
                    smol::Timer::after(Duration::from_millis(10)).await;
                }
                _ => break,
            }
        }
        let _ = self.child.kill();
        match self.child.wait() {
            Ok(s) => format!("{s} (SIGKILL after {grace:?})"),
            Err(e) => e.to_string(),
        }
    }
}
