//! The daemon's start and stop on disk: what a failed start leaves behind (nothing), and who
//! owns the status socket when two daemons are given the same one.

use crate::support::server as server_support;

use rustix::process::Signal;
use server_support::{bin, free_port, path_arg, Daemon, TempDir};
use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

/// `qnetd run --tls off` on `port` with the given lock file and status socket.
fn spawn(tmp: &TempDir, port: u16, lock: &Path, socket: &Path) -> Daemon {
    let args: Vec<String> = [
        "run",
        "-l",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "--tls",
        "off",
        "--lock-file",
        &path_arg(lock),
        "--socket",
        &path_arg(socket),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut d = Daemon::spawn_with(tmp, port, Path::new(bin()), &args);
    d.socket = socket.to_path_buf();
    d.lock = lock.to_path_buf();
    d
}

/// The port is taken, so the start fails after the lock file and the status
/// socket (and their directory) were made: all three must be gone again.
#[test]
fn a_failed_start_removes_the_lock_file_the_socket_and_the_directory_it_made() {
    let tmp = TempDir::new("failed-start");
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let run = tmp.path("run");
    let mut d = spawn(&tmp, port, &run.join("y.pid"), &run.join("y.sock"));
    assert_eq!(d.wait_exit().code(), Some(1), "{}", d.log());
    let log = d.log();
    assert!(
        log.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{log}"
    );
    for left in ["y.pid", "y.sock"] {
        assert!(!run.join(left).exists(), "{left} left behind; log:\n{log}");
    }
    assert!(!run.exists(), "the directory it made was left behind");

    // A directory that was there before stays, and so does what others keep in it.
    std::fs::create_dir(&run).unwrap();
    std::fs::write(run.join("other.pid"), b"1\n").unwrap();
    let mut d = spawn(&tmp, port, &run.join("y.pid"), &run.join("y.sock"));
    assert_eq!(d.wait_exit().code(), Some(1), "{}", d.log());
    assert!(!run.join("y.pid").exists() && !run.join("y.sock").exists());
    assert!(run.join("other.pid").exists());
}

/// A clean stop removes the socket and the lock file as well.
#[test]
fn a_stop_removes_the_lock_file_and_the_socket() {
    let tmp = TempDir::new("stop");
    let run = tmp.path("run");
    let mut d = spawn(&tmp, free_port(), &run.join("q.pid"), &run.join("q.sock"));
    d.wait_listening();
    assert!(run.join("q.pid").exists() && run.join("q.sock").exists());
    d.signal(Signal::TERM);
    assert_eq!(d.wait_exit().code(), Some(0), "{}", d.log());
    assert!(!run.join("q.pid").exists(), "lock file left");
    assert!(!run.join("q.sock").exists(), "socket left");
}

/// A second daemon with its own lock file but the first one's `--socket` must not
/// take that socket over (nor remove it when it stops): it refuses to start, and the first
/// one's status keeps answering.
#[test]
fn a_second_daemon_on_a_served_socket_refuses_to_start() {
    let tmp = TempDir::new("shared-socket");
    let socket = tmp.path("shared.sock");
    let first = spawn(&tmp, free_port(), &tmp.path("a.pid"), &socket);
    first.wait_listening();
    let mut second = spawn(&tmp, free_port(), &tmp.path("b.pid"), &socket);
    // Without the fix the second one runs; stop it so its shutdown shows what it does.
    let exited = (0..200).find_map(|_| {
        std::thread::sleep(std::time::Duration::from_millis(25));
        second.child.try_wait().unwrap()
    });
    if exited.is_none() {
        second.signal(Signal::TERM);
    }
    let status = second.wait_exit();
    let log = second.log();
    assert_eq!(status.code(), Some(1), "the second daemon started:\n{log}");
    assert!(
        log.contains(&format!(
            "another daemon is serving the status socket {}",
            socket.display()
        )),
        "{log}"
    );
    assert!(!tmp.path("b.pid").exists(), "its lock file stayed");
    let out = std::process::Command::new(bin())
        .args(["status", "--socket", &path_arg(&socket)])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "qnetd status: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(first.ipc("status").starts_with("OK\n"));
}

/// A socket file left by a daemon that died is replaced; a socket someone else put at our
/// path while we ran is not removed when we stop.
#[test]
fn a_stale_socket_is_replaced_and_a_foreign_one_is_left_alone() {
    let tmp = TempDir::new("stale-socket");
    let socket = tmp.path("s.sock");
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    assert!(socket.exists());
    let mut d = spawn(&tmp, free_port(), &tmp.path("s.pid"), &socket);
    d.wait_listening();
    assert!(d.ipc("status").starts_with("OK\n"));

    std::fs::remove_file(&socket).unwrap();
    let _theirs = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    d.signal(Signal::TERM);
    assert_eq!(d.wait_exit().code(), Some(0), "{}", d.log());
    assert!(
        socket.exists(),
        "the daemon removed a socket it did not make"
    );
    assert!(
        d.log()
            .contains("no longer the status socket this daemon made"),
        "{}",
        d.log()
    );
}

/// Without `-m` the limit is sized from the machine's memory, and the startup log
/// and the status say which; `-m 0` stays upstream's unlimited.
#[test]
fn max_clients_defaults_to_a_memory_sized_value_and_dash_m_zero_is_unlimited() {
    use qnetd::server::memory;
    let kb = memory::read_memory_size().unwrap().kb;
    let (want, _) = memory::default_max_clients(kb);
    let tmp = TempDir::new("max-clients-default");
    let d = Daemon::start(&tmp, &["--tls", "off"]);
    let log = d.wait_log("max_clients ");
    let line = format!("max_clients {want} (from {} MB of memory", kb / 1024);
    assert!(log.contains(&line), "want {line:?} in:\n{log}");
    assert!(log.contains("-m 0 for unlimited)"), "{log}");
    let status = d.ipc("status verbose");
    assert!(
        status.contains(&format!("Maximum allowed clients:\t{want}\n")),
        "{status}"
    );
    drop(d);

    let tmp = TempDir::new("max-clients-unlimited");
    let d = Daemon::start(&tmp, &["--tls", "off", "-m", "0"]);
    let log = d.wait_log("max_clients ");
    assert!(log.contains("max_clients unlimited (-m 0)"), "{log}");
    let status = d.ipc("status verbose");
    assert!(!status.contains("Maximum allowed clients"), "{status}");
}

/// A memory cgroup of its own with `limit` bytes (v1's memory controller, or v2), removed on
/// drop; `enter` is the shell line that moves the shell running it into the cgroup.
struct MemoryCgroup {
    dir: std::path::PathBuf,
    enter: String,
}

impl MemoryCgroup {
    /// None, said on stderr, where the cgroup file system is read-only (a container that
    /// was not given it): the pure tests in server::memory still cover the rule there.
    fn new(name: &str, limit: u64) -> Option<MemoryCgroup> {
        let v1 = std::path::Path::new("/sys/fs/cgroup/memory");
        let (dir, file) = if v1.is_dir() {
            (v1.join(name), "memory.limit_in_bytes")
        } else {
            (
                std::path::Path::new("/sys/fs/cgroup").join(name),
                "memory.max",
            )
        };
        match std::fs::create_dir(&dir) {
            // EROFS
            Err(e) if e.raw_os_error() == Some(30) => {
                eprintln!(
                    "NOT RUN: cannot make a memory cgroup, {}: {e}",
                    dir.display()
                );
                return None;
            }
            other => other.unwrap_or_else(|e| panic!("mkdir {} (run as root): {e}", dir.display())),
        }
        let cgroup = MemoryCgroup {
            enter: format!("echo $$ > '{}/cgroup.procs'", dir.display()),
            dir,
        };
        std::fs::write(cgroup.dir.join(file), limit.to_string())
            .unwrap_or_else(|e| panic!("{}/{file}: {e}", cgroup.dir.display()));
        Some(cgroup)
    }
}

impl Drop for MemoryCgroup {
    fn drop(&mut self) {
        // The daemon is gone by now (dropped first); a cgroup with no process can go.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::fs::remove_dir(&self.dir).is_err() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// In a container /proc/meminfo shows the host's memory: the daemon's cgroup limit (64 MB
/// here, as an LXC guest might have) sizes the default instead, and the log says so.
#[test]
fn max_clients_default_follows_a_cgroup_memory_limit() {
    let Some(cgroup) = MemoryCgroup::new(
        &format!("qnetd-test-{}", std::process::id()),
        64 * 1024 * 1024,
    ) else {
        return;
    };
    let tmp = TempDir::new("max-clients-cgroup");
    let port = free_port();
    let script = format!(
        "{} && exec '{}' run -l 127.0.0.1 -p {port} --tls off --lock-file '{}' --socket '{}'",
        cgroup.enter,
        bin(),
        tmp.path("qnetd.pid").display(),
        tmp.path("qnetd.sock").display()
    );
    let d = Daemon::spawn_with(
        &tmp,
        port,
        std::path::Path::new("/bin/sh"),
        &["-c".to_string(), script],
    );
    let log = d.wait_log("max_clients ");
    // 64 MB / 8 / KIB_PER_CLIENT.
    let (want, clamped) = qnetd::server::memory::default_max_clients(64 * 1024);
    assert!(
        !clamped,
        "64 MB is between the floor and the ceiling: {want}"
    );
    let line = format!(
        "max_clients {want} (from 64 MB of memory (the cgroup's limit); -m 0 for unlimited)"
    );
    assert!(log.contains(&line), "want {line:?} in:\n{log}");
    // The line is logged before the status socket is bound.
    d.wait_listening();
    let status = d.ipc("status verbose");
    assert!(
        status.contains(&format!("Maximum allowed clients:\t{want}\n")),
        "{status}"
    );
    drop(d);
    drop(cgroup);
}

/// `--version` says what the binary is and where it came from: the version, the target triple
/// (here the host's, as the test builds natively) and the checkout's commit.
#[test]
fn version_names_the_target_and_the_commit() {
    let out = std::process::Command::new(bin())
        .arg("--version")
        .output()
        .expect("run qnetd --version");
    assert!(out.status.success());
    let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let host = command_output("rustc", &["-vV"])
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_string)
        .expect("rustc -vV names the host");
    let commit = command_output("git", &["rev-parse", "--short=12", "HEAD"]);
    let version = env!("CARGO_PKG_VERSION");
    // "-dirty" follows when the compiled sources have uncommitted changes.
    let want = format!("qnetd {version} ({host}, commit {commit}");
    assert!(
        line.starts_with(&want),
        "--version printed {line:?}, want {want:?}..."
    );
    assert!(line.ends_with(')'), "{line:?}");
}

fn command_output(program: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(program)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(out.status.success(), "{program} {args:?} failed");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
