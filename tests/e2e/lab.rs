//! The lab: one network namespace per host (qnetd host, cluster nodes) plus one "switch"
//! namespace holding the bridges, and one private mount namespace per host in which
//! /etc/corosync, /var/lib/corosync, /run, /tmp and /dev/shm are that host's own.
//!
//! Every host has a *holder* process (`sleep infinity`) that owns its mount namespace;
//! commands enter a host with `nsenter -t <holder> -m -n`. Nothing is created in the
//! host's own network namespace and nothing of the host's /etc/corosync is touched.
//! Dropping the `Lab` kills every process it started (by process group), deletes its
//! namespaces and, unless the test failed, its directory.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// Prefix of every namespace this test creates; the test's PID follows it so leftovers of a
/// killed run can be recognised and removed by the next run.
const NS_PREFIX: &str = "qe2e";

/// Ring (corosync) network and qnetd network; they exist only inside the lab's namespaces.
pub const RING_NET: &str = "10.213.1";
pub const QNET_NET: &str = "10.213.2";
pub const QNETD_ADDR: &str = "10.213.2.2";

/// Tools the lab needs; missing ones make the test fail with a pointer to .ci/run.
const REQUIRED_TOOLS: &[&str] = &[
    "ip",
    "unshare",
    "nsenter",
    "kill",
    "corosync",
    "corosync-quorumtool",
    "corosync-qdevice",
    "corosync-qdevice-tool",
    "corosync-qdevice-net-certutil",
    "certutil",
    "pk12util",
];

/// Fails the test (never skips it) when it cannot run here.
pub fn require_environment() {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(2))
        .unwrap_or("?");
    assert_eq!(
        euid, "0",
        "the e2e tests create network and mount namespaces and must run as root; \
         run them through .ci/run (which installs corosync, corosync-qdevice, \
         corosync-qnetd, libnss3-tools, iproute2)"
    );
    let missing: Vec<&str> = REQUIRED_TOOLS
        .iter()
        .copied()
        .filter(|t| find_in_path(t).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "e2e tests need {missing:?} on PATH; run them through .ci/run, which installs the \
         Debian packages corosync corosync-qdevice corosync-qnetd libnss3-tools iproute2"
    );
    for dir in ["/etc/corosync", "/var/lib/corosync"] {
        assert!(
            Path::new(dir).is_dir(),
            "{dir} must exist as a mount point (package corosync); run through .ci/run"
        );
    }
}

pub fn find_in_path(tool: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"])
        .map(|d| Path::new(d).join(tool))
        .find(|p| p.is_file());
    found
}

/// Output of a finished command.
pub struct Out {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn ok(&self) -> bool {
        self.status.success()
    }
    pub fn text(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Runs a command to completion, killing it after `limit`.
pub fn run_bounded(cmd: &mut Command, limit: Duration) -> Out {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let mut out_pipe = child.stdout.take().expect("piped stdout");
    let mut err_pipe = child.stderr.take().expect("piped stderr");
    let out_reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = out_pipe.read_to_string(&mut s);
        s
    });
    let err_reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = err_pipe.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {limit:?}");
        }
        thread::sleep(Duration::from_millis(10));
    };
    Out {
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    }
}

fn ip(args: &[&str]) -> Out {
    let out = run_bounded(Command::new("ip").args(args), Duration::from_secs(20));
    assert!(out.ok(), "ip {args:?} failed: {}", out.text());
    out
}

/// A long-running process started in a host, in its own process group.
pub struct Proc {
    pub child: Child,
    pub log: PathBuf,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` to the whole process group (daemons may have helper children).
    pub fn signal(&self, signal: &str) {
        let _ = run_bounded(
            Command::new("kill").args(["-s", signal, "--", &format!("-{}", self.pid())]),
            Duration::from_secs(5),
        );
    }

    /// Still running?
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM, wait up to `grace`, then SIGKILL; always reaps.
    pub fn stop(mut self, grace: Duration) {
        if self.alive() {
            self.signal("TERM");
            let deadline = Instant::now() + grace;
            while self.alive() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(20));
            }
        }
        self.kill();
    }

    /// SIGKILL to the group and reap.
    pub fn kill(&mut self) {
        if self.alive() {
            self.signal("KILL");
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The last `n` lines of its log (for failure messages).
    pub fn log_tail(&self, n: usize) -> String {
        log_tail(&self.log, n)
    }
}

pub fn log_tail(path: &Path, n: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// One lab host: a network namespace plus a private mount namespace.
pub struct Host {
    pub name: String,
    /// Host-visible directory whose subdirectories are bind-mounted inside.
    pub dir: PathBuf,
    holder: Child,
    procs: BTreeMap<String, Proc>,
    /// Set by `use_root`: the host's commands run chrooted into this directory.
    root: Option<PathBuf>,
}

impl Host {
    /// From now on the host's commands run chrooted into `root` (another distribution's tree,
    /// e.g. Debian 13 for a Proxmox VE 9 node), with the host's private directories, /root,
    /// /proc, /dev and a /dev/shm of its own mounted inside it. The mounts are made in the
    /// host's mount namespace, so hosts sharing one `root` still each see their own files.
    pub fn use_root(&mut self, root: &Path) {
        let root = &self.seen_inside(root);
        let home = self.dir.join("root-home");
        fs::create_dir_all(&home).expect("create root home");
        let mut script = String::from("set -e; ");
        for (sub, mount) in MOUNTS {
            script.push_str(&format!(
                "mount --bind '{}' '{}{mount}'; ",
                self.dir.join(sub).display(),
                root.display()
            ));
        }
        let r = root.display();
        script.push_str(&format!(
            "mount --bind '{}' '{r}/root'; mount --bind /dev '{r}/dev'; \
             mount -t tmpfs -o mode=1777 tmpfs '{r}/dev/shm'; mount -t proc proc '{r}/proc'",
            home.display()
        ));
        let out = self.run("sh", &["-c", &script]);
        assert!(
            out.ok(),
            "{}: cannot mount into {r}: {}",
            self.name,
            out.text()
        );
        self.root = Some(root.to_path_buf());
    }

    /// Where the host sees the machine's `path`: a path below a mount point the host replaces
    /// (a cache in /tmp) is reached through the holder's bind of the original ([`OUTER`]).
    fn seen_inside(&self, path: &Path) -> PathBuf {
        MOUNTS
            .iter()
            .find_map(|(sub, mount)| {
                let rest = path.strip_prefix(mount).ok()?;
                Some(self.dir.join(OUTER).join(sub).join(rest))
            })
            .unwrap_or_else(|| path.to_path_buf())
    }

    /// Gives the host a /root of its own (ssh keys, known_hosts), as `use_root` does.
    pub fn private_home(&self) -> PathBuf {
        let home = self.dir.join("root-home");
        fs::create_dir_all(&home).expect("create root home");
        if self.root.is_none() {
            let home_s = home.display().to_string();
            let out = self.run("mount", &["--bind", &home_s, "/root"]);
            assert!(
                out.ok(),
                "{}: cannot mount a private /root: {}",
                self.name,
                out.text()
            );
        }
        home
    }

    /// Host path of a directory seen as `inside` within the host (/etc/corosync, /tmp, ...).
    pub fn path(&self, inside: &str) -> PathBuf {
        for (sub, mount) in MOUNTS {
            if let Some(rest) = inside.strip_prefix(mount) {
                return self.dir.join(sub).join(rest.trim_start_matches('/'));
            }
        }
        panic!(
            "{inside} is not inside one of the private mounts of {}",
            self.name
        );
    }

    /// A command that runs inside this host's namespaces.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg("-t")
            .arg(self.holder.id().to_string())
            .args(["-m", "-n", "--"]);
        if let Some(root) = &self.root {
            cmd.arg("chroot").arg(root);
        }
        cmd.arg(program)
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
        cmd
    }

    /// Runs a command inside the host, bounded to 60 s (times `time_scale()`).
    pub fn run(&self, program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Out {
        run_bounded(
            self.command(program).args(args),
            scaled(Duration::from_secs(60)),
        )
    }

    /// Runs a command inside the host and fails the test if it fails.
    pub fn run_ok(&self, program: impl AsRef<std::ffi::OsStr> + Clone, args: &[&str]) -> Out {
        let out = self.run(program.clone(), args);
        assert!(
            out.ok(),
            "on {}: {:?} {args:?} failed ({}):\n{}",
            self.name,
            program.as_ref(),
            out.status,
            out.text()
        );
        out
    }

    /// Starts a long-running process under `key` (one per key), logging to <dir>/<key>.log.
    pub fn spawn(&mut self, key: &str, program: impl AsRef<std::ffi::OsStr>, args: &[&str]) {
        use std::os::unix::process::CommandExt;
        assert!(
            !self.procs.contains_key(key),
            "{key} already runs on {}",
            self.name
        );
        let log = self.dir.join(format!("{key}.log"));
        let file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("open log");
        let mut cmd = self.command(program);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("dup log"))
            .stderr(file)
            .process_group(0);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {key} on {}: {e}", self.name));
        self.procs.insert(key.to_string(), Proc { child, log });
    }

    pub fn proc(&mut self, key: &str) -> &mut Proc {
        let name = self.name.clone();
        self.procs
            .get_mut(key)
            .unwrap_or_else(|| panic!("{key} is not running on {name}"))
    }

    /// Removes the process from the host and stops it (TERM, then KILL after `grace`).
    pub fn stop(&mut self, key: &str, grace: Duration) {
        if let Some(p) = self.procs.remove(key) {
            p.stop(grace);
        }
    }

    /// Kills the process group with SIGKILL (a crash, as seen by its peers).
    pub fn crash(&mut self, key: &str) {
        if let Some(mut p) = self.procs.remove(key) {
            p.kill();
        }
    }

    fn shutdown(&mut self) {
        let keys: Vec<String> = self.procs.keys().cloned().collect();
        for k in keys.iter().rev() {
            if let Some(mut p) = self.procs.remove(k) {
                p.kill();
            }
        }
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }

    pub fn logs(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = fs::read_dir(&self.dir)
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        v.retain(|p| p.extension().is_some_and(|e| e == "log"));
        v.sort();
        v
    }
}

/// (subdirectory of the host dir, mount point inside the host)
const MOUNTS: &[(&str, &str)] = &[
    ("etc-corosync", "/etc/corosync"),
    ("var-lib-corosync", "/var/lib/corosync"),
    ("run", "/run"),
    ("tmp", "/tmp"),
];

/// Subdirectory of the host dir where the holder keeps the machine's own directories that
/// [`MOUNTS`] hide inside the host, bound there before they are covered.
const OUTER: &str = "outer";

static LAB_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A set of hosts wired through one switch namespace; torn down on drop.
pub struct Lab {
    pub id: String,
    pub dir: PathBuf,
    switch_ns: String,
    namespaces: Vec<String>,
    hosts: Vec<Host>,
}

impl Lab {
    /// A switch namespace with two bridges: `ring` (corosync traffic) and `qnet` (qdevice→qnetd).
    pub fn new(test: &str) -> Lab {
        require_environment();
        remove_stale_labs();
        let n = LAB_COUNTER.fetch_add(1, Ordering::SeqCst);
        let id = format!("{NS_PREFIX}{}x{n}", std::process::id());
        let dir = labs_root().join(format!("{id}-{test}"));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create lab dir");
        let switch_ns = format!("{id}-sw");
        let mut lab = Lab {
            id,
            dir,
            switch_ns: switch_ns.clone(),
            namespaces: Vec::new(),
            hosts: Vec::new(),
        };
        lab.add_netns(&switch_ns);
        for br in ["ring", "qnet"] {
            ip(&["-n", &switch_ns, "link", "add", br, "type", "bridge"]);
            ip(&["-n", &switch_ns, "link", "set", br, "up"]);
        }
        lab
    }

    fn add_netns(&mut self, ns: &str) {
        ip(&["netns", "add", ns]);
        self.namespaces.push(ns.to_string());
        ip(&["-n", ns, "link", "set", "lo", "up"]);
    }

    /// Adds a host with an interface on each listed bridge: (bridge, ifname, address/prefix).
    /// Its bridge port in the switch is named `<bridge-initial><host>` (e.g. `rn1`).
    pub fn add_host(&mut self, name: &str, links: &[(&str, &str, String)]) -> usize {
        let netns = format!("{}-{name}", self.id);
        self.add_netns(&netns);
        for (bridge, ifname, addr) in links {
            let port = port_name(bridge, name);
            ip(&[
                "-n",
                &self.switch_ns,
                "link",
                "add",
                &port,
                "type",
                "veth",
                "peer",
                "name",
                ifname,
                "netns",
                &netns,
            ]);
            ip(&[
                "-n",
                &self.switch_ns,
                "link",
                "set",
                &port,
                "master",
                bridge,
            ]);
            ip(&["-n", &self.switch_ns, "link", "set", &port, "up"]);
            ip(&["-n", &netns, "addr", "add", addr, "dev", ifname]);
            ip(&["-n", &netns, "link", "set", ifname, "up"]);
        }
        let dir = self.dir.join(name);
        for (sub, _) in MOUNTS {
            fs::create_dir_all(dir.join(sub)).expect("create host dir");
        }
        let holder = spawn_holder(&netns, &dir);
        self.hosts.push(Host {
            name: name.to_string(),
            dir,
            holder,
            procs: BTreeMap::new(),
            root: None,
        });
        self.hosts.len() - 1
    }

    /// Takes the bridge port of `host` on `bridge` down (`up == false`) or up again: a cut cable.
    pub fn set_link(&self, bridge: &str, host: &str, up: bool) {
        let port = port_name(bridge, host);
        let state = if up { "up" } else { "down" };
        ip(&["-n", &self.switch_ns, "link", "set", &port, state]);
    }

    /// Adds another bridge to the switch (an isolated network segment).
    pub fn add_bridge(&self, name: &str) {
        ip(&["-n", &self.switch_ns, "link", "add", name, "type", "bridge"]);
        ip(&["-n", &self.switch_ns, "link", "set", name, "up"]);
    }

    /// Re-plugs `host`'s cable from network `bridge` into bridge `to`: hosts plugged into the
    /// same bridge still see each other, but no longer those left behind.
    pub fn replug(&self, bridge: &str, host: &str, to: &str) {
        let port = port_name(bridge, host);
        ip(&["-n", &self.switch_ns, "link", "set", &port, "master", to]);
    }

    pub fn host(&mut self, name: &str) -> &mut Host {
        let id = self.id.clone();
        self.hosts
            .iter_mut()
            .find(|h| h.name == name)
            .unwrap_or_else(|| panic!("no host {name} in lab {id}"))
    }

    pub fn host_ref(&self, name: &str) -> &Host {
        self.hosts
            .iter()
            .find(|h| h.name == name)
            .unwrap_or_else(|| panic!("no host {name}"))
    }

    fn dump_logs(&self) {
        eprintln!(
            "==== e2e lab {} failed; logs kept in {}",
            self.id,
            self.dir.display()
        );
        for h in &self.hosts {
            for log in h.logs() {
                eprintln!("---- {} (last 25 lines)", log.display());
                eprintln!("{}", log_tail(&log, 25));
            }
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let failed = thread::panicking();
        if failed {
            self.dump_logs();
        }
        for h in self.hosts.iter_mut().rev() {
            h.shutdown();
        }
        for ns in self.namespaces.iter().rev() {
            delete_netns(ns);
        }
        if !failed {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Where lab directories live: cargo's test scratch dir, unless that lies below one of the
/// mount points a host replaces (a target dir in /tmp would be hidden inside the host).
fn labs_root() -> PathBuf {
    let target_tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let hidden = MOUNTS
        .iter()
        .any(|(_, mount)| target_tmp.starts_with(mount));
    if hidden {
        PathBuf::from("/var/tmp/qnetd-e2e")
    } else {
        target_tmp.join("e2e")
    }
}

fn port_name(bridge: &str, host: &str) -> String {
    let initial = bridge.chars().next().unwrap_or('x');
    let name = format!("{initial}{host}");
    assert!(name.len() <= 15, "interface name {name} too long");
    name
}

/// Starts the process that owns the host's mount namespace and waits until its private
/// mounts are in place.
fn spawn_holder(netns: &str, dir: &Path) -> Child {
    use std::os::unix::process::CommandExt;
    let ready = dir.join("ready");
    let mut script = String::from("set -e; mount --make-rprivate /; ");
    for (sub, mount) in MOUNTS {
        let outer = dir.join(OUTER).join(sub);
        fs::create_dir_all(&outer).expect("create the host's outer dir");
        script.push_str(&format!("mount --bind {mount} '{}'; ", outer.display()));
    }
    for (sub, mount) in MOUNTS {
        script.push_str(&format!(
            "mount --bind '{}' {mount}; ",
            dir.join(sub).display()
        ));
    }
    script.push_str("mount -t tmpfs -o mode=1777 tmpfs /dev/shm; ");
    script.push_str(&format!("touch '{}'; exec sleep infinity", ready.display()));
    let child = Command::new("ip")
        .args(["netns", "exec", netns, "unshare", "-m", "sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .process_group(0)
        .spawn()
        .expect("start namespace holder");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ready.exists() {
        assert!(
            Instant::now() < deadline,
            "namespace holder for {netns} not ready in 10 s"
        );
        thread::sleep(Duration::from_millis(10));
    }
    child
}

fn delete_netns(ns: &str) {
    // Processes still inside (e.g. orphaned helpers) would keep the namespace alive.
    let pids = run_bounded(
        Command::new("ip").args(["netns", "pids", ns]),
        Duration::from_secs(10),
    );
    for pid in pids.stdout.split_whitespace() {
        let _ = run_bounded(
            Command::new("kill").args(["-s", "KILL", pid]),
            Duration::from_secs(5),
        );
    }
    let _ = run_bounded(
        Command::new("ip").args(["netns", "del", ns]),
        Duration::from_secs(10),
    );
}

/// Deletes namespaces left behind by an e2e run whose process no longer exists.
fn remove_stale_labs() {
    let list = run_bounded(
        Command::new("ip").args(["netns", "list"]),
        Duration::from_secs(10),
    );
    for ns in list
        .stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
    {
        let Some(rest) = ns.strip_prefix(NS_PREFIX) else {
            continue;
        };
        let Some(pid) = rest.split('x').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            eprintln!("removing stale e2e namespace {ns}");
            delete_netns(ns);
        }
    }
}

/// `QNETD_E2E_TIME_SCALE` (default 1): a factor for the scenario's bounded waits, for a
/// daemon that runs slower than natively (qemu-user). Never below 1.
pub fn time_scale() -> f64 {
    std::env::var("QNETD_E2E_TIME_SCALE")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|f| f.is_finite() && *f >= 1.0)
        .unwrap_or(1.0)
}

/// `limit` stretched by `time_scale()`.
pub fn scaled(limit: Duration) -> Duration {
    limit.mul_f64(time_scale())
}

/// Polls `probe` every `every` until it returns Some, or fails the test after `limit`
/// (times `time_scale()`)
/// with the last observation and `context`.
pub fn wait_for<T>(
    what: &str,
    limit: Duration,
    every: Duration,
    mut probe: impl FnMut() -> Result<T, String>,
) -> (T, Duration) {
    let limit = scaled(limit);
    let start = Instant::now();
    loop {
        let last = match probe() {
            Ok(v) => return (v, start.elapsed()),
            Err(e) => e,
        };
        if start.elapsed() > limit {
            panic!("timed out after {limit:?} waiting for {what}; last observation:\n{last}");
        }
        thread::sleep(every);
    }
}

/// VmHWM / VmRSS of a process in kB.
pub fn memory_kb(pid: u32) -> (Option<u64>, Option<u64>) {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    };
    (field("VmHWM:"), field("VmRSS:"))
}
