//! Helpers shared by the tests/ops/ops_*.rs tests: our IPC server in a thread, Debian's tool and
//! daemon as reference peers, and our binary under its upstream names.
#![allow(dead_code)]

use qnetd::proto::types::{Algorithm, Heuristics, NodeInfo, RingId, TieBreaker, TlsMode, Vote};
use qnetd::server::status_socket;
use qnetd::status::snapshot::{ClusterStatus, NodeStatus, ServerStatus};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const DEBIAN_TOOL: &str = "/usr/bin/corosync-qnetd-tool";
pub const DEBIAN_QNETD: &str = "/usr/bin/corosync-qnetd";

/// A fresh temporary directory under the target dir (removed on drop).
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let base = std::env::temp_dir();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = base.join(format!("qnetd-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Our binary under the name `name` (a symlink in `dir`), so argv[0] dispatch applies.
pub fn ours_as(dir: &Path, name: &str) -> PathBuf {
    let link = dir.join(name);
    if !link.exists() {
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_qnetd"), &link).unwrap();
    }
    link
}

/// Debian's tool and ours, each as `<dir>/{debian,ours}/corosync-qnetd-tool`, so both can be
/// run as `./corosync-qnetd-tool` and see the same argv[0] (getopt prints it in errors).
pub fn tool_pair(dir: &Path) -> (PathBuf, PathBuf) {
    let debian = dir.join("debian");
    let ours = dir.join("ours");
    for d in [&debian, &ours] {
        std::fs::create_dir_all(d).unwrap();
    }
    let link = debian.join("corosync-qnetd-tool");
    if !link.exists() {
        std::os::unix::fs::symlink(DEBIAN_TOOL, &link).unwrap();
    }
    ours_as(&ours, "corosync-qnetd-tool");
    (debian, ours)
}

/// Run `./corosync-qnetd-tool` in `dir`.
pub fn run_tool_in(dir: &Path, args: &[&str]) -> (Vec<u8>, Vec<u8>, Option<i32>) {
    let Output {
        stdout,
        stderr,
        status,
    } = Command::new("./corosync-qnetd-tool")
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    (stdout, stderr, status.code())
}

/// Run Debian's tool and ours (`tools`: the directories holding each as
/// `./corosync-qnetd-tool`) with the same argv, `-p SOCKET FLAGS...`; both must print the same
/// stdout and stderr and exit alike. Returns what Debian's tool gave.
pub fn compare_tools(
    tools: &(PathBuf, PathBuf),
    socket: &Path,
    flags: &[&str],
) -> (Vec<u8>, Vec<u8>, Option<i32>) {
    let sock = socket.to_str().unwrap();
    let mut args = vec!["-p", sock];
    args.extend_from_slice(flags);
    let debian = run_tool_in(&tools.0, &args);
    let mine = run_tool_in(&tools.1, &args);
    assert_eq!(
        String::from_utf8_lossy(&mine.0),
        String::from_utf8_lossy(&debian.0),
        "stdout differs for {flags:?}"
    );
    assert_eq!(
        String::from_utf8_lossy(&mine.1),
        String::from_utf8_lossy(&debian.1),
        "stderr differs for {flags:?}"
    );
    assert_eq!(mine.2, debian.2, "exit code differs for {flags:?}");
    debian
}

/// stdout, stderr and exit code of a finished command.
pub fn run(program: &Path, args: &[&str]) -> (Vec<u8>, Vec<u8>, Option<i32>) {
    let Output {
        stdout,
        stderr,
        status,
    } = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
    (stdout, stderr, status.code())
}

/// Our IPC server on `socket`, in its own thread, serving a fixed snapshot.
pub struct OurServer {
    pub socket: PathBuf,
    pub shut_down: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl OurServer {
    pub fn start(socket: &Path, snapshot: ServerStatus) -> OurServer {
        Self::start_with(socket, status_socket::IpcLimits::default(), snapshot)
    }

    pub fn start_with(
        socket: &Path,
        limits: status_socket::IpcLimits,
        snapshot: ServerStatus,
    ) -> OurServer {
        let listener = status_socket::bind(socket).unwrap();
        let shut_down = Arc::new(AtomicBool::new(false));
        let flag = shut_down.clone();
        let thread = std::thread::spawn(move || {
            let ex = smol::LocalExecutor::new();
            smol::block_on(ex.run(status_socket::serve_with_limits(
                &ex,
                listener,
                limits,
                move || snapshot.clone(),
            )));
            flag.store(true, Ordering::SeqCst);
        });
        OurServer {
            socket: socket.to_path_buf(),
            shut_down,
            thread: Some(thread),
        }
    }

    /// Wait for `serve` to return (after a `shutdown` request).
    pub fn join(mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.thread.as_ref().is_some_and(|t| t.is_finished()) {
                self.thread.take().unwrap().join().unwrap();
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

/// Debian's corosync-qnetd in the foreground, plaintext, on loopback, with its lock file and
/// status socket in `dir`. Killed on drop.
pub struct DebianDaemon {
    pub child: Child,
    pub socket: PathBuf,
    pub port: u16,
}

impl DebianDaemon {
    pub fn start(dir: &Path) -> DebianDaemon {
        let port = free_port();
        let socket = dir.join("debian.sock");
        let settings = format!(
            "local_socket_file={},lock_file={}",
            socket.display(),
            dir.join("debian.pid").display()
        );
        let child = Command::new(DEBIAN_QNETD)
            .args([
                "-f",
                "-s",
                "off",
                "-l",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-S",
                &settings,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{DEBIAN_QNETD}: {e}"));
        wait_for_socket(&socket);
        DebianDaemon {
            child,
            socket,
            port,
        }
    }

    /// What our snapshot must say to match this daemon with no clients.
    pub fn empty_snapshot(&self) -> ServerStatus {
        ServerStatus {
            listen_addr: Some("127.0.0.1".into()),
            port: self.port,
            tls: TlsMode::Unsupported,
            client_cert_required: true,
            connected_clients: 0,
            max_clients: 0,
            max_send_size: 32768,
            max_receive_size: 32768,
            clusters: vec![],
        }
    }

    /// Wait for the process to exit; its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        wait_child_exit(&mut self.child, timeout)
    }
}

impl Drop for DebianDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Wait up to `timeout` for `child` to exit; its exit code (None: still running or killed
/// by a signal).
pub fn wait_child_exit(child: &mut Child, timeout: Duration) -> Option<i32> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn wait_for_socket(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if UnixStream::connect(path).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("no status socket at {}", path.display());
}

/// Send `request` in one write, read until the server closes. A server that closes at once
/// (too many clients) may make the write fail; the reply is then empty.
pub fn raw_exchange(socket: &Path, request: &[u8]) -> Vec<u8> {
    let mut s = UnixStream::connect(socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    if s.write_all(request).is_err() {
        return Vec::new();
    }
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply);
    reply
}

fn node(id: u32, addr: &str) -> NodeStatus {
    NodeStatus {
        node_id: id,
        client_addr: addr.into(),
        heartbeat_interval_ms: 8000,
        config_version: Some(3),
        config_nodes: vec![NodeInfo::new(1), NodeInfo::new(2)],
        ring_id: RingId {
            node_id: 1,
            seq: 0x1c,
        },
        membership_nodes: vec![NodeInfo::new(1), NodeInfo::new(2)],
        quorum_nodes: vec![],
        heuristics: Heuristics::Undefined,
        membership_heuristics: Heuristics::Undefined,
        regular_heuristics: Heuristics::Undefined,
        tls_active: true,
        cert_verified: true,
        last_sent_vote: Some(Vote::Ack),
        last_sent_ack_nack_vote: Some(Vote::Ack),
        ms_since_last_message: 700,
    }
}

/// Two clusters with most conditional lines exercised.
pub fn two_clusters() -> ServerStatus {
    let mut b1 = node(1, "::ffff:192.168.7.21:40112");
    b1.config_version = None;
    b1.config_nodes = vec![
        NodeInfo {
            node_id: 1,
            data_center_id: 10,
            state: None,
        },
        NodeInfo::new(2),
        NodeInfo {
            node_id: 3,
            data_center_id: 30,
            state: None,
        },
    ];
    b1.membership_nodes = vec![NodeInfo::new(1)];
    b1.heuristics = Heuristics::Pass;
    b1.membership_heuristics = Heuristics::Pass;
    b1.regular_heuristics = Heuristics::Fail;
    b1.tls_active = false;
    b1.last_sent_vote = Some(Vote::Nack);
    b1.last_sent_ack_nack_vote = Some(Vote::Nack);
    let mut b3 = node(3, "::ffff:192.168.7.23:40999");
    b3.membership_nodes.clear();
    b3.cert_verified = false;
    b3.last_sent_vote = None;
    b3.last_sent_ack_nack_vote = None;
    let mut a2 = node(2, "10.0.0.12:51234");
    a2.last_sent_vote = Some(Vote::NoChange);
    ServerStatus {
        listen_addr: None,
        port: 5403,
        tls: TlsMode::Supported,
        client_cert_required: true,
        connected_clients: 5,
        max_clients: 64,
        max_send_size: 32768,
        max_receive_size: 32768,
        clusters: vec![
            ClusterStatus {
                name: b"alpha".to_vec(),
                algorithm: Algorithm::Ffsplit,
                tie_breaker: TieBreaker::Lowest,
                kap_tie_breaker: true,
                nodes: vec![node(1, "10.0.0.11:50000"), a2],
            },
            ClusterStatus {
                name: b"beta \"two\"".to_vec(),
                algorithm: Algorithm::Lms,
                tie_breaker: TieBreaker::NodeId(3),
                kap_tie_breaker: false,
                nodes: vec![b1, b3],
            },
        ],
    }
}

/// A finished command's exit code, stdout and stderr, for assertion messages.
pub fn output_text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
