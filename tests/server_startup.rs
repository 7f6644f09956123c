//! The daemon's start and stop on disk: what a failed start leaves behind (nothing), and who
//! owns the status socket when two daemons are given the same one.

mod server_support;

use rustix::process::Signal;
use server_support::{bin, free_port, path_arg, Daemon, TempDir};
use std::net::TcpListener;
use std::path::Path;

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

/// Finding 5: the port is taken, so the start fails after the lock file and the status
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
