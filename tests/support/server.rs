//! Shared helpers for tests/server/server_*.rs: a temporary certificate store, the built daemon on
//! 127.0.0.1 with its own lock file and status socket, and its log. Every wait is bounded.
#![allow(dead_code)]

use qnetd::probe::ClientTls;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const WAIT: Duration = Duration::from_secs(15);

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "qnetd-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A certificate store made with the cert helper's API, plus cluster certificates from it.
pub struct Store {
    pub dir: PathBuf,
    pub store: certtool::CertStore,
}

impl Store {
    pub fn init(dir: &Path) -> Store {
        let (store, _) = certtool::CertStore::init(dir, certtool::InitOptions::default()).unwrap();
        Store {
            dir: dir.to_path_buf(),
            store,
        }
    }

    pub fn ca_der(&self) -> Vec<u8> {
        self.store.ca_cert_der().unwrap()
    }

    /// (certificate DER, PKCS#8 key DER) for `cn`, signed by this store's CA.
    pub fn client_cert(&self, cn: &str) -> (Vec<u8>, Vec<u8>) {
        let key = certtool::profile::new_key().unwrap();
        let issued = self.store.issue_cluster_cert(cn, &key).unwrap();
        (issued.der, key.serialize_der())
    }

    /// TLS settings of a qdevice node of cluster `cn` trusting this store's CA.
    pub fn client_tls(&self, cn: &str) -> ClientTls {
        ClientTls::new(
            &self.ca_der(),
            Some(self.client_cert(cn)),
            qnetd::probe::SERVER_NAME,
        )
        .unwrap()
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The daemon under test (the built binary), killed on drop.
pub struct Daemon {
    pub child: Child,
    pub port: u16,
    pub addr: SocketAddr,
    pub log_path: PathBuf,
    pub socket: PathBuf,
    pub lock: PathBuf,
}

pub fn path_arg(p: &Path) -> String {
    p.to_string_lossy().to_string()
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_qnetd")
}

impl Daemon {
    /// `qnetd run -l 127.0.0.1 -p <free port> --lock-file .. --socket .. <extra>` in `tmp`,
    /// waiting until it accepts connections.
    pub fn start(tmp: &TempDir, extra: &[&str]) -> Daemon {
        let d = Daemon::spawn(tmp, extra);
        d.wait_listening();
        d
    }

    /// Like `start` but without waiting (for daemons expected to fail).
    pub fn spawn(tmp: &TempDir, extra: &[&str]) -> Daemon {
        let port = free_port();
        let mut args: Vec<String> = vec!["run".into(), "-l".into(), "127.0.0.1".into()];
        args.extend(["-p".to_string(), port.to_string()]);
        args.extend(["--lock-file".to_string(), path_arg(&tmp.path("qnetd.pid"))]);
        args.extend(["--socket".to_string(), path_arg(&tmp.path("qnetd.sock"))]);
        args.extend(extra.iter().map(|s| s.to_string()));
        Daemon::spawn_with(tmp, port, Path::new(bin()), &args)
    }

    /// Run `program` with exactly `args`; the lock file and status socket are expected at
    /// tmp/qnetd.pid and tmp/qnetd.sock.
    pub fn spawn_with(tmp: &TempDir, port: u16, program: &Path, args: &[String]) -> Daemon {
        let log_path = tmp.path(&format!("daemon-{port}.log"));
        let log = std::fs::File::create(&log_path).unwrap();
        use std::os::unix::process::CommandExt;
        // A group of its own: drop kills the group, so a wrapper's child (the daemon under
        // strace) goes too; killing strace alone detaches its tracee, which lived on.
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap();
        Daemon {
            child,
            port,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            log_path,
            socket: tmp.path("qnetd.sock"),
            lock: tmp.path("qnetd.pid"),
        }
    }

    pub fn wait_listening(&self) {
        let until = Instant::now() + WAIT;
        while Instant::now() < until {
            if TcpStream::connect(self.addr).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "daemon did not listen on {}; log:\n{}",
            self.addr,
            self.log()
        );
    }

    /// Wait until the daemon has accepted and let go of every earlier connection (the one
    /// `wait_listening` makes among them), so that counted limits start from zero: one PREINIT
    /// answered (its connection was accepted after them: the backlog is a FIFO; retried while
    /// a limit refuses it), closed, then the status says 0 clients.
    pub fn settle(&self) {
        let until = Instant::now() + WAIT;
        while !block_on(async {
            let mut p = qnetd::probe::Probe::connect(self.addr).await.unwrap();
            p.preinit("settle").await.is_ok()
        }) {
            assert!(
                Instant::now() < until,
                "never answered; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        while self.connected_clients() != "Connected clients:\t\t0" {
            assert!(
                Instant::now() < until,
                "clients never went; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The status socket's "Connected clients:" line.
    pub fn connected_clients(&self) -> String {
        self.ipc("status")
            .lines()
            .find(|l| l.starts_with("Connected clients:"))
            .unwrap_or_default()
            .to_string()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Wait until the log contains `needle`; panics with the log after WAIT.
    pub fn wait_log(&self, needle: &str) -> String {
        self.wait_log_any(&[needle])
    }

    /// Wait until the log contains one of `needles`; panics with the log after WAIT.
    pub fn wait_log_any(&self, needles: &[&str]) -> String {
        let until = Instant::now() + WAIT;
        loop {
            let log = self.log();
            if needles.iter().any(|n| log.contains(n)) {
                return log;
            }
            if Instant::now() > until {
                panic!("log never said any of {needles:?}; log:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn signal(&self, sig: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).unwrap();
        rustix::process::kill_process(pid, sig).unwrap();
    }

    /// Wait for the process to exit (bounded).
    pub fn wait_exit(&mut self) -> ExitStatus {
        let until = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > until {
                let _ = self.child.kill();
                panic!("daemon did not exit; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// One request on the status socket (upstream's IPC), the whole reply.
    pub fn ipc(&self, request: &str) -> String {
        let mut s = UnixStream::connect(&self.socket).unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        s.write_all(format!("{request}\n").as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(group) = rustix::process::Pid::from_raw(self.child.id() as i32) {
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
        let _ = self.child.wait();
    }
}

/// Run an async probe scenario with an overall bound.
pub fn block_on<T>(fut: impl std::future::Future<Output = T>) -> T {
    use smol::future::FutureExt;
    smol::block_on(fut.or(async {
        smol::Timer::after(Duration::from_secs(30)).await;
        panic!("scenario took longer than 30 s");
    }))
}

/// A plain-TCP session of node `node_id` in `cluster`, INIT's other fields as defaults.
pub fn plain(cluster: &str, node_id: u32) -> qnetd::probe::SessionParams {
    qnetd::probe::SessionParams {
        cluster: cluster.to_string(),
        tls: None,
        init: qnetd::probe::InitParams {
            node_id,
            ..qnetd::probe::InitParams::default()
        },
    }
}

/// Node `id` of cluster `c` (plain TCP) initialised on ring `ring` and told the cluster's
/// configured `nodes`: what a node sends before its first membership.
pub async fn joined(
    addr: SocketAddr,
    id: u32,
    ring: qnetd::proto::types::RingId,
    nodes: &[qnetd::proto::types::NodeInfo],
) -> qnetd::probe::Probe {
    use qnetd::proto::types::{Heuristics, NodeListType};
    let mut params = plain("c", id);
    params.init.ring_id = ring;
    let (mut p, reply) = qnetd::probe::session(addr, &params).await.unwrap();
    assert_eq!(reply.reply_error_code, Some(0), "INIT of node {id}");
    p.node_list(
        NodeListType::InitialConfig,
        None,
        Some(1),
        nodes,
        Heuristics::Undefined,
    )
    .await
    .unwrap();
    p
}

/// A connection to `to` from the source address `from` (any 127.x.y.z is loopback on Linux).
pub fn tcp_from(from: [u8; 4], to: SocketAddr) -> TcpStream {
    use rustix::net::{bind, connect, socket_with, AddressFamily, SocketFlags, SocketType};
    let fd = socket_with(
        AddressFamily::INET,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )
    .unwrap();
    bind(&fd, &SocketAddr::from((from, 0))).unwrap();
    connect(&fd, &to).unwrap();
    TcpStream::from(fd)
}

/// Two nodes of cluster `c` over plain TCP, split (each sees only itself): ffsplit gives
/// node 1, the lower id, the ACK. Returns the connected probes, which keep the votes.
pub async fn split_cluster(addr: SocketAddr) -> Vec<qnetd::probe::Probe> {
    use qnetd::proto::types::{Heuristics, MsgType, NodeInfo, NodeListType, RingId};
    let nodes = [NodeInfo::new(1), NodeInfo::new(2)];
    let mut probes = Vec::new();
    for id in [1u32, 2] {
        let ring = RingId {
            node_id: id,
            seq: 4 + u64::from(id),
        };
        let mut p = joined(addr, id, ring, &nodes).await;
        let got = p
            .node_list(
                NodeListType::Membership,
                Some(ring),
                None,
                &[NodeInfo::new(id)],
                Heuristics::Pass,
            )
            .await
            .unwrap();
        for m in got.iter().filter(|m| m.msg_type == MsgType::VoteInfo) {
            p.vote_info_reply(m).await.unwrap();
        }
        probes.push(p);
    }
    probes
}
