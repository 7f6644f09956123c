//! Connection limits under load: `--max-clients` under a burst, the caps on connections that
//! have not finished INIT, and what the log says about a flood. Every wait is bounded.

use crate::support::server as server_support;

use qnetd::probe::{self, InitParams, Probe, ProbeError};
use qnetd::proto::types::MsgType;
use rustix::process::Signal;
use server_support::{block_on, plain, Daemon, TempDir};
use std::net::SocketAddr;
use std::sync::{Arc, Barrier};
use std::time::Duration;

/// How one connection fared: answered (still open, kept in the Vec) or closed by the server.
enum Fate {
    Served(Probe),
    Closed,
}

/// PREINIT on an open connection: a reply means the daemon serves it, a close means it was
/// refused. Anything else (a timeout) is a failure of the test.
async fn fate(mut p: Probe) -> Fate {
    match p.preinit("burst").await {
        Ok(reply) if reply.msg_type == MsgType::PreinitReply => Fate::Served(p),
        Err(ProbeError::Closed | ProbeError::Io(_)) => Fate::Closed,
        other => panic!("neither served nor closed: {:?}", other.map(|m| m.msg_type)),
    }
}

fn served(fates: Vec<Fate>) -> (Vec<Probe>, usize) {
    let mut open = Vec::new();
    let mut closed = 0;
    for f in fates {
        match f {
            Fate::Served(p) => open.push(p),
            Fate::Closed => closed += 1,
        }
    }
    (open, closed)
}

/// The whole burst waits in the listen backlog while the daemon is stopped, so the daemon
/// accepts all 50 in one go on SIGCONT, before any client task has run: the case the old
/// count (taken from the tasks' table) let through.
#[test]
fn max_clients_holds_when_a_burst_is_accepted_at_once() {
    let tmp = TempDir::new("burst-stopped");
    let d = Daemon::start(&tmp, &["--tls", "off", "-m", "5"]);
    d.settle();
    d.signal(Signal::STOP);
    let conns: Vec<Probe> = block_on(async {
        let mut conns = Vec::new();
        for _ in 0..50 {
            conns.push(Probe::connect(d.addr).await.unwrap());
        }
        conns
    });
    d.signal(Signal::CONT);
    let (open, closed) = served(block_on(async {
        let mut fates = Vec::new();
        for p in conns {
            fates.push(fate(p).await);
        }
        fates
    }));
    assert_eq!((open.len(), closed), (5, 45), "log:\n{}", d.log());
    assert_eq!(d.connected_clients(), "Connected clients:\t\t5");
    let log = d.wait_log("refused: 5 clients are connected already (max clients, -m)");
    // 45 refusals, rate-limited: the first 5 are logged, the rest counted.
    assert_eq!(log.matches("refused: 5 clients").count(), 5, "log:\n{log}");

    // The places come back when the clients go, and a real session then gets one.
    drop(open);
    block_on(async {
        let until = std::time::Instant::now() + server_support::WAIT;
        loop {
            match probe::session(d.addr, &plain("alpha", 1)).await {
                Ok((_, reply)) if reply.msg_type == MsgType::InitReply => break,
                _ if std::time::Instant::now() < until => {
                    smol::Timer::after(std::time::Duration::from_millis(50)).await;
                }
                other => panic!("no place came back: {:?}", other.map(|(_, m)| m)),
            }
        }
    });
}

/// 8 threads connecting at once, 25 connections each, every served one kept open: exactly
/// 5 are ever served.
#[test]
fn max_clients_holds_under_concurrent_connects() {
    let tmp = TempDir::new("burst-threads");
    let d = Daemon::start(&tmp, &["--tls", "off", "-m", "5"]);
    d.settle();
    let addr: SocketAddr = d.addr;
    let start = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let start = start.clone();
            std::thread::spawn(move || {
                start.wait();
                block_on(async {
                    let mut fates = Vec::new();
                    for _ in 0..25 {
                        match Probe::connect(addr).await {
                            Ok(p) => fates.push(fate(p).await),
                            Err(e) => panic!("connect failed: {e}"),
                        }
                    }
                    fates
                })
            })
        })
        .collect();
    let fates: Vec<Fate> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let (open, closed) = served(fates);
    assert_eq!((open.len(), closed), (5, 195), "log:\n{}", d.log());
    assert_eq!(d.connected_clients(), "Connected clients:\t\t5");
}

/// A probe on a connection to `to` from the source address `from`.
async fn connect_from(from: [u8; 4], to: SocketAddr) -> Probe {
    Probe::from_stream(smol::Async::new(server_support::tcp_from(from, to)).unwrap())
}

/// PREINIT then INIT on an open connection: a real qdevice node's plaintext session.
async fn init(p: &mut Probe, cluster: &str, node_id: u32) {
    let pre = p.preinit(cluster).await.unwrap();
    assert_eq!(pre.msg_type, MsgType::PreinitReply);
    let params = InitParams {
        node_id,
        ..InitParams::default()
    };
    let reply = p.init(&params).await.unwrap();
    assert_eq!(reply.msg_type, MsgType::InitReply);
    assert_eq!(reply.reply_error_code, Some(0), "{reply:?}");
}

/// `n` connections from `from` that never INIT (they PREINIT, to tell served from closed).
async fn flood(from: [u8; 4], to: SocketAddr, n: usize) -> (Vec<Probe>, usize) {
    let mut conns = Vec::new();
    for _ in 0..n {
        conns.push(connect_from(from, to).await);
    }
    let mut fates = Vec::new();
    for p in conns {
        fates.push(fate(p).await);
    }
    served(fates)
}

/// One host flooding with connections that never INIT gets its share, no more; a node from
/// another address is served meanwhile, and so is the flooder once its connections go.
#[test]
fn a_flooding_host_cannot_starve_other_nodes() {
    let tmp = TempDir::new("preinit-per-address");
    let d = Daemon::start(
        &tmp,
        &[
            "--tls",
            "off",
            "-m",
            "100",
            "-S",
            "max_preinit_per_address=8",
        ],
    );
    d.settle();
    block_on(async {
        let (held, closed) = flood([127, 0, 0, 1], d.addr, 30).await;
        assert_eq!((held.len(), closed), (8, 22), "log:\n{}", d.log());
        let mut node = connect_from([127, 0, 0, 2], d.addr).await;
        init(&mut node, "alpha", 1).await;
        node.echo().await.unwrap();
        drop(held);
        let until = std::time::Instant::now() + server_support::WAIT;
        loop {
            let (again, _) = flood([127, 0, 0, 1], d.addr, 1).await;
            if again.len() == 1 {
                break;
            }
            assert!(std::time::Instant::now() < until, "places never came back");
            smol::Timer::after(std::time::Duration::from_millis(20)).await;
        }
    });
    d.wait_log("refused: 8 connections from 127.0.0.1 have not finished INIT yet (max_preinit_per_address)");
}

/// One host that INITs session after session (plaintext, under `--tls on`) gets its share
/// of sessions (max_clients_per_address, 64 by default), not every place: a node from
/// another address with a valid certificate still joins. The INITs past the share are
/// answered error 10 and their connections closed.
#[test]
fn a_host_filling_its_share_of_sessions_cannot_keep_a_node_out() {
    let tmp = TempDir::new("init-per-address");
    let store = server_support::Store::init(&tmp.path("store"));
    let store_dir = store.dir.to_string_lossy().to_string();
    let d = Daemon::start(&tmp, &["--tls", "on", "--store", &store_dir, "-m", "100"]);
    d.settle();
    block_on(async {
        // As many sessions as there are places.
        let mut hog = Vec::new();
        let mut refused = 0;
        for node_id in 1..=100 {
            let mut p = connect_from([127, 0, 0, 1], d.addr).await;
            p.preinit("hog").await.unwrap();
            let params = InitParams {
                node_id,
                ..InitParams::default()
            };
            let reply = p.init(&params).await.unwrap();
            assert_eq!(reply.msg_type, MsgType::InitReply);
            match reply.reply_error_code {
                Some(0) => hog.push(p),
                Some(10) => {
                    p.wait_closed().await.unwrap();
                    refused += 1;
                }
                other => panic!("INIT answered {other:?}"),
            }
        }
        let mut node = connect_from([127, 0, 0, 2], d.addr).await;
        node.preinit("pve").await.unwrap();
        node.starttls(&store.client_tls("pve")).await.unwrap();
        let reply = node.init(&InitParams::default()).await.unwrap();
        assert_eq!(reply.reply_error_code, Some(0), "{reply:?}");
        node.echo().await.unwrap();
        assert_eq!((hog.len(), refused), (64, 36));
        hog[0].echo().await.unwrap();
    });
    let log = d.wait_log(
        "refused (error 10): 64 sessions from 127.0.0.1 have finished INIT already \
         (max_clients_per_address)",
    );
    // 36 refusals and 65 joins, rate-limited: a few lines each, then a count.
    assert!(
        log.matches("refused (error 10)").count() <= 5,
        "log:\n{log}"
    );
    assert!(log.matches(" joined (").count() <= 5, "log:\n{log}");
}

/// Many hosts flooding fill at most max_preinit_clients places: nodes that finished INIT
/// keep being served, and a connection that INITs frees its pre-INIT place.
#[test]
fn the_global_preinit_cap_bounds_a_flood_from_many_hosts() {
    let tmp = TempDir::new("preinit-global");
    let d = Daemon::start(
        &tmp,
        &[
            "--tls",
            "off",
            "-S",
            "max_preinit_clients=10,max_preinit_per_address=0",
        ],
    );
    d.settle();
    block_on(async {
        let mut node = connect_from([127, 0, 0, 2], d.addr).await;
        init(&mut node, "alpha", 1).await;
        let (mut held, closed) = flood([127, 0, 1, 1], d.addr, 15).await;
        let (more, closed_more) = flood([127, 0, 1, 2], d.addr, 15).await;
        assert_eq!(
            (held.len() + more.len(), closed + closed_more),
            (10, 20),
            "log:\n{}",
            d.log()
        );
        node.echo().await.unwrap();
        // One of the held connections finishes INIT (it had PREINITed already).
        let params = InitParams {
            node_id: 2,
            ..InitParams::default()
        };
        let reply = held[0].init(&params).await.unwrap();
        assert_eq!(reply.reply_error_code, Some(0), "{reply:?}");
        let (freed, _) = flood([127, 0, 1, 3], d.addr, 2).await;
        assert_eq!(freed.len(), 1, "exactly the freed place; log:\n{}", d.log());
        drop(more);
    });
    d.wait_log("refused: 10 connections have not finished INIT yet (max_preinit_clients)");
}

/// The number in the first "N similar messages suppressed (kind)" line of `log`.
fn suppressed(log: &str, kind: &str) -> Option<u64> {
    let tail = format!(" similar messages suppressed ({kind})");
    log.lines().find_map(|l| {
        let head = &l[..l.find(&tail)?];
        head.rsplit(' ').next()?.parse().ok()
    })
}

/// 40 connections that say nothing until the handshake timeout: 5 lines, then one line with
/// the count of the others (it used to be one line each).
#[test]
fn a_flood_of_handshake_timeouts_is_logged_as_a_few_lines_and_a_count() {
    let tmp = TempDir::new("ratelog");
    let d = Daemon::start(&tmp, &["--tls", "off", "-S", "handshake_timeout=200"]);
    d.settle();
    let idle: Vec<std::net::TcpStream> = (0..40)
        .map(|_| std::net::TcpStream::connect(d.addr).unwrap())
        .collect();
    let log = d.wait_log(" similar messages suppressed (handshake_timeout)");
    drop(idle);
    let lines = log
        .lines()
        .filter(|l| l.contains("dropped: sent no complete message"))
        .count();
    assert_eq!(lines, 5, "log:\n{log}");
    assert_eq!(
        suppressed(&log, "handshake_timeout"),
        Some(35),
        "log:\n{log}"
    );
}

/// A host that connects and hangs up without sending anything (a port scan, or a node that
/// gave up) leaves a line in the log, and a flood of them only a few.
#[test]
fn a_client_that_hangs_up_before_init_is_logged_and_rate_limited() {
    let tmp = TempDir::new("hangup");
    let d = Daemon::start(&tmp, &["--tls", "off"]);
    d.settle();
    for _ in 0..20 {
        drop(std::net::TcpStream::connect(d.addr).unwrap());
    }
    let log = d.wait_log(" similar messages suppressed (closed before INIT)");
    let lines = log
        .lines()
        .filter(|l| l.contains("closed the connection before finishing INIT"))
        .count();
    assert_eq!(lines, 5, "log:\n{log}");
    // Our 20, less the 5 shown; `settle` hangs up before INIT too, so there may be more.
    let count = suppressed(&log, "closed before INIT").unwrap_or(0);
    assert!((15..=20).contains(&count), "log:\n{log}");
}

/// Run `program` with `args`; (exit code, stdout, stderr), or a panic if it takes more than
/// `limit` (the child is killed).
pub(crate) fn run_bounded(
    program: &std::path::Path,
    args: &[&str],
    limit: Duration,
) -> (Option<i32>, String, String) {
    let child = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => {
            let out = out.unwrap();
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        }
        Err(_) => {
            let pid = rustix::process::Pid::from_raw(pid as i32).unwrap();
            let _ = rustix::process::kill_process(pid, Signal::KILL);
            panic!("{} {args:?} took longer than {limit:?}", program.display());
        }
    }
}

/// Twelve connections to the status socket that send nothing (more than ipc_max_clients, 10)
/// do not lock out a status query: `qnetd status`, our `corosync-qnetd-tool -s` and Debian's
/// are answered at once, because the connection idle longest is closed to make room.
#[test]
fn idle_status_connections_do_not_lock_out_a_status_query() {
    let tmp = TempDir::new("ipc-idle");
    let d = Daemon::start(&tmp, &["--tls", "off"]);
    let idle: Vec<std::os::unix::net::UnixStream> = (0..12)
        .map(|_| std::os::unix::net::UnixStream::connect(&d.socket).unwrap())
        .collect();
    // Let the daemon accept them and find them idle.
    std::thread::sleep(Duration::from_millis(300));
    let tool = tmp.path("corosync-qnetd-tool");
    std::os::unix::fs::symlink(server_support::bin(), &tool).unwrap();
    let socket = d.socket.to_str().unwrap();
    let debian = std::path::Path::new("/usr/bin/corosync-qnetd-tool");
    let mut queries = vec![
        (
            std::path::PathBuf::from(server_support::bin()),
            vec!["status", "-p", socket],
        ),
        (tool, vec!["-s", "-p", socket]),
    ];
    if debian.exists() {
        queries.push((debian.to_path_buf(), vec!["-s", "-p", socket]));
    }
    for (program, args) in &queries {
        let (code, out, err) = run_bounded(program, args, Duration::from_secs(5));
        assert_eq!(code, Some(0), "{} {args:?}: {err}", program.display());
        assert!(
            out.contains("Connected clients") || out.contains("listening on"),
            "{out}"
        );
    }
    let log = d.wait_log("closed the connection idle longest");
    assert!(!log.contains("maximum IPC clients"), "log:\n{log}");
    drop(idle);
}

/// RssAnon of the daemon, in kB.
pub(crate) fn rss_anon_kb(d: &Daemon) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", d.child.id())).unwrap();
    let line = status.lines().find(|l| l.starts_with("RssAnon:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Wait (bounded) until `ok` holds for the daemon's RssAnon; returns the last value read.
pub(crate) fn wait_rss(d: &Daemon, ok: impl Fn(u64) -> bool) -> u64 {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let kb = rss_anon_kb(d);
        if ok(kb) || std::time::Instant::now() > until {
            return kb;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// The memory 2,000 idle connections took was kept after they were gone
/// (3.5 MB -> 13 MB, for good). Once the connections drop to a quarter of their peak the
/// daemon gives the allocator's free pages back.
#[test]
fn the_memory_of_a_flood_of_connections_is_given_back_when_it_ends() {
    let tmp = TempDir::new("flood-memory");
    let d = Daemon::start(
        &tmp,
        &[
            "--tls",
            "off",
            "-m",
            "0",
            "-S",
            "max_preinit_clients=0,max_preinit_per_address=0,handshake_timeout=0",
        ],
    );
    d.settle();
    let before = rss_anon_kb(&d);
    let flood: Vec<std::net::TcpStream> = (0..2000)
        .map(|_| std::net::TcpStream::connect(d.addr).unwrap())
        .collect();
    // Every connection accepted: its task and buffers exist.
    let peak = wait_rss(&d, |kb| kb > before + 6000);
    assert!(
        peak > before + 6000,
        "the flood took only {} kB",
        peak - before
    );
    drop(flood);
    let after = wait_rss(&d, |kb| kb < before + (peak - before) / 4);
    assert!(
        after < before + (peak - before) / 4,
        "RssAnon {before} kB before, {peak} kB with the flood, still {after} kB after it; log:\n{}",
        d.log()
    );
}

/// 30 nodes joining at once: 5 "joined" lines, then one line with the count of the others
/// (a 4,000-client load used to write 4,007 lines).
#[test]
fn a_burst_of_joins_is_logged_as_a_few_lines_and_a_count() {
    let tmp = TempDir::new("ratelog-joined");
    let d = Daemon::start(&tmp, &["--tls", "off"]);
    d.settle();
    let sessions = block_on(async {
        let mut held = Vec::new();
        for node_id in 1..=30 {
            let mut p = connect_from([127, 0, 2, node_id as u8], d.addr).await;
            init(&mut p, "big", node_id).await;
            held.push(p);
        }
        held
    });
    let log = d.wait_log(" similar messages suppressed (joined)");
    drop(sessions);
    let lines = log.lines().filter(|l| l.contains(" joined (")).count();
    assert_eq!(lines, 5, "log:\n{log}");
    assert_eq!(suppressed(&log, "joined"), Some(25), "log:\n{log}");
}

/// A cluster name made of terminal controls reaches neither the daemon's log nor the
/// status outputs raw: `qnetd status` and `corosync-qnetd-tool -l` show it escaped.
#[test]
fn client_text_is_escaped_in_the_log_and_the_status_outputs() {
    const HOSTILE: &str = "\x1b[31mRED\x1b[0m\x1b]0;pwned\x07\rERROR fake line";
    const SHOWN: &str = "\\x1b[31mRED\\x1b[0m\\x1b]0;pwned\\x07\\x0dERROR fake line";
    let raw = |text: &str| text.contains(['\x1b', '\x07', '\r']);
    let tmp = TempDir::new("escape");
    let d = Daemon::start(&tmp, &["--tls", "off"]);
    d.settle();
    let _session = block_on(async {
        let mut p = connect_from([127, 0, 0, 1], d.addr).await;
        init(&mut p, HOSTILE, 1).await;
        p
    });
    let log = d.wait_log(&format!("node 1 of cluster '{SHOWN}' joined"));
    assert!(!raw(&log), "log:\n{log:?}");
    let tool = tmp.path("corosync-qnetd-tool");
    std::os::unix::fs::symlink(server_support::bin(), &tool).unwrap();
    let socket = d.socket.to_str().unwrap();
    let queries = [
        (
            std::path::PathBuf::from(server_support::bin()),
            vec!["status", "-p", socket],
        ),
        (tool, vec!["-l", "-p", socket]),
    ];
    for (program, args) in &queries {
        let (code, out, err) = run_bounded(program, args, Duration::from_secs(5));
        assert_eq!(code, Some(0), "{} {args:?}: {err}", program.display());
        assert!(!raw(&out), "{args:?}: {out:?}");
        assert!(out.contains(SHOWN), "{args:?}: {out}");
    }
}
