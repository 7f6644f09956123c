//! Differential tests: the same scripted client sessions against Debian's corosync-qnetd
//! 3.0.3 (`/usr/bin/corosync-qnetd -s off`, a real daemon on a loopback port) and against our
//! engine; every client must receive byte-identical frames in the same order, and be
//! disconnected at the same points.
//!
//! Needs the `corosync-qnetd` package (tools/test.sh installs it).

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::client_msg;
use client_msg::{frames, hex, membership, msg, node_list, preinit, quorum, ring};

use qnetd::engine::{ClientId, Engine, EngineConfig, Output};
use qnetd::proto::codec::encode;
use qnetd::proto::framing::FrameReader;
use qnetd::proto::types::{
    Algorithm, Heuristics, Message, MsgType, NodeInfo, NodeListType, RingId, TieBreaker, TlsMode,
};
use qnetd::status::upstream::{list_text, status_text};

const UPSTREAM: &str = "/usr/bin/corosync-qnetd";
/// How long upstream gets to answer (and to process disconnects) after each step.
const SETTLE: Duration = Duration::from_millis(50);

// ---------------------------------------------------------------------------------------------
// Scripts

#[derive(Debug, Clone)]
enum Act {
    Connect(usize),
    Send(usize, Vec<u8>),
    Close(usize),
    Wait(u64),
}

/// What a client observed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    Frame(String),
    Closed,
}

fn hexs(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn init_msg(node_id: u32, algorithm: u16, tb: TieBreaker, hb: u32, r: RingId) -> Message {
    client_msg::init_msg(2, node_id, algorithm, tb, hb, r)
}

fn init(node_id: u32, algorithm: Algorithm, hb: u32) -> Vec<u8> {
    encode(&init_msg(
        node_id,
        algorithm as u16,
        TieBreaker::Lowest,
        hb,
        ring(1, 4),
    ))
}

fn config(seq: u32, ids: &[u32]) -> Vec<u8> {
    let mut m = node_list(seq, NodeListType::InitialConfig, ids);
    m.config_version = Some(3);
    encode(&m)
}

fn simple(t: MsgType, seq: u32) -> Vec<u8> {
    encode(&msg(t, Some(seq)))
}

/// A message of type `t` without SEQ (an ignored NODE_ID keeps the payload non-empty).
fn no_seq(t: MsgType) -> Vec<u8> {
    let mut m = msg(t, None);
    m.node_id = Some(1);
    encode(&m)
}

fn vote_info_reply(seq: u32) -> Vec<u8> {
    simple(MsgType::VoteInfoReply, seq)
}

fn heuristics_change(seq: u32, h: Heuristics) -> Vec<u8> {
    let mut m = msg(MsgType::HeuristicsChange, Some(seq));
    m.heuristics = Some(h);
    encode(&m)
}

fn set_option(seq: u32, hb: Option<u32>, kap: Option<bool>) -> Vec<u8> {
    let mut m = msg(MsgType::SetOption, Some(seq));
    m.heartbeat_interval = hb;
    m.keep_active_partition_tie_breaker = kap;
    encode(&m)
}

/// Connect, PREINIT, INIT.
fn join(c: usize, cluster: &str, init: Vec<u8>) -> Vec<Act> {
    vec![
        Act::Connect(c),
        Act::Send(c, preinit(Some(1), cluster)),
        Act::Send(c, init),
    ]
}

// ---------------------------------------------------------------------------------------------
// Running a script against upstream

struct Upstream {
    child: Child,
    port: u16,
    dir: TempDir,
}

/// Everything a script run produced: per-client events and the final status texts.
struct Observed {
    events: HashMap<usize, Vec<Event>>,
    /// `status verbose` and `list verbose` texts (without the `OK` line).
    status: String,
    list: String,
}

/// Ask upstream's local socket, as corosync-qnetd-tool does.
fn upstream_ipc(up: &Upstream, request: &str) -> String {
    use std::os::unix::net::UnixStream;
    let mut sock = UnixStream::connect(up.dir.0.join("sock")).expect("IPC socket");
    sock.write_all(format!("{request} \n\0").as_bytes())
        .unwrap();
    let mut reply = String::new();
    sock.read_to_string(&mut reply).unwrap();
    reply
        .strip_prefix("OK\n")
        .unwrap_or_else(|| panic!("IPC {request}: {reply}"))
        .to_string()
}

/// Client ports and the listener port differ between the runs.
fn normalize(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("127.0.0.1:") {
        let (head, tail) = rest.split_at(at + "127.0.0.1:".len());
        out.push_str(head);
        out.push('*');
        rest = tail.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    out.push_str(rest);
    out
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_upstream(extra: &[&str]) -> Upstream {
    assert!(
        std::path::Path::new(UPSTREAM).exists(),
        "{UPSTREAM} is missing: apt-get install corosync-qnetd"
    );
    // The free port is found by binding port 0 and letting go of it; should somebody else
    // take it first, upstream exits and we try another one.
    for _ in 0..5 {
        if let Some(up) = try_start_upstream(extra) {
            return up;
        }
    }
    panic!("corosync-qnetd did not start");
}

fn try_start_upstream(extra: &[&str]) -> Option<Upstream> {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = std::env::temp_dir().join(format!("qnetd-diff-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let settings = format!(
        "lock_file={},local_socket_file={}",
        dir.join("lock").display(),
        dir.join("sock").display()
    );
    let child = Command::new(UPSTREAM)
        .args(["-f", "-l", "127.0.0.1", "-p", &port.to_string()])
        .args(["-S", &settings])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start corosync-qnetd");
    let mut up = Upstream {
        child,
        port,
        dir: TempDir(dir),
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    // Ready once its IPC socket exists (created before the TCP listener) and TCP answers.
    while !up.dir.0.join("sock").exists() || TcpStream::connect(("127.0.0.1", port)).is_err() {
        if up.child.try_wait().unwrap().is_some() || Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // Let upstream process the probe's disconnect; it must still be ours and alive.
    std::thread::sleep(SETTLE);
    up.child.try_wait().unwrap().is_none().then_some(up)
}

struct UpClient {
    sock: Option<TcpStream>,
    buf: Vec<u8>,
}

fn run_upstream(script: &[Act], extra: &[&str]) -> Observed {
    let up = start_upstream(extra);
    let mut clients: HashMap<usize, UpClient> = HashMap::new();
    let mut events: HashMap<usize, Vec<Event>> = HashMap::new();
    for act in script {
        match act {
            Act::Connect(c) => {
                let sock = TcpStream::connect(("127.0.0.1", up.port)).unwrap();
                sock.set_nonblocking(true).unwrap();
                clients.insert(
                    *c,
                    UpClient {
                        sock: Some(sock),
                        buf: Vec::new(),
                    },
                );
                events.entry(*c).or_default();
            }
            Act::Send(c, bytes) => {
                if let Some(sock) = clients.get_mut(c).and_then(|cl| cl.sock.as_mut()) {
                    sock.set_nonblocking(false).unwrap();
                    // A peer that was closed may refuse the write: that is an observation
                    // the Closed event already records.
                    let _ = sock.write_all(bytes);
                    sock.set_nonblocking(true).unwrap();
                }
            }
            Act::Close(c) => {
                if let Some(cl) = clients.get_mut(c) {
                    cl.sock = None;
                }
            }
            Act::Wait(ms) => std::thread::sleep(Duration::from_millis(*ms)),
        }
        std::thread::sleep(SETTLE);
        drain(&mut clients, &mut events);
    }
    Observed {
        status: normalize(&upstream_ipc(&up, "status verbose")),
        list: normalize(&upstream_ipc(&up, "list verbose")),
        events,
    }
}

fn drain(clients: &mut HashMap<usize, UpClient>, events: &mut HashMap<usize, Vec<Event>>) {
    for (c, cl) in clients.iter_mut() {
        let Some(sock) = cl.sock.as_mut() else {
            continue;
        };
        let mut chunk = [0u8; 65536];
        let mut closed = false;
        loop {
            match sock.read(&mut chunk) {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Ok(n) => cl.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => {
                    closed = true;
                    break;
                }
            }
        }
        let ev = events.entry(*c).or_default();
        while cl.buf.len() >= 6 {
            let len = u32::from_be_bytes([cl.buf[2], cl.buf[3], cl.buf[4], cl.buf[5]]) as usize;
            if cl.buf.len() < 6 + len {
                break;
            }
            let frame: Vec<u8> = cl.buf.drain(..6 + len).collect();
            ev.push(Event::Frame(hexs(&frame)));
        }
        if closed {
            ev.push(Event::Closed);
            cl.sock = None;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Running a script against the engine

/// The engine under the same script. Time is simulated like upstream's run: every step takes
/// SETTLE, and timers fire at their exact deadlines in between.
fn run_engine(script: &[Act], cfg: EngineConfig) -> Observed {
    let max_receive = cfg.max_client_receive_size as usize;
    let mut engine = Engine::new(cfg);
    let mut now = Instant::now();
    let mut ids: HashMap<usize, ClientId> = HashMap::new();
    let mut readers: HashMap<usize, FrameReader> = HashMap::new();
    let mut events: HashMap<usize, Vec<Event>> = HashMap::new();
    let mut alive: Vec<usize> = Vec::new();
    let record = |out: Vec<Output>,
                  ids: &HashMap<usize, ClientId>,
                  events: &mut HashMap<usize, Vec<Event>>,
                  alive: &mut Vec<usize>| {
        for o in out {
            let (id, ev) = match o {
                Output::Send(id, bytes) => (id, Event::Frame(hexs(&bytes))),
                Output::Disconnect(id, _) => (id, Event::Closed),
                // The handshake is not simulated: the script sends nothing more on it.
                Output::StartTls(_) => continue,
            };
            let c = ids
                .iter()
                .find(|(_, v)| **v == id)
                .map(|(k, _)| *k)
                .unwrap();
            if ev == Event::Closed {
                alive.retain(|&a| a != c);
            }
            events.entry(c).or_default().push(ev);
        }
    };
    for act in script {
        match act {
            Act::Connect(c) => {
                let id = engine.client_connected(format!("127.0.0.1:{c}"), now);
                ids.insert(*c, id);
                readers.insert(*c, FrameReader::new(max_receive));
                events.entry(*c).or_default();
                alive.push(*c);
            }
            Act::Send(c, bytes) => {
                if !alive.contains(c) {
                    continue;
                }
                let id = ids[c];
                let reader = readers.get_mut(c).unwrap();
                for frame in frames(reader, bytes) {
                    let out = engine.frame_received(id, frame, now);
                    record(out, &ids, &mut events, &mut alive);
                }
            }
            Act::Close(c) => {
                if alive.contains(c) {
                    alive.retain(|a| a != c);
                    let out = engine.client_disconnected(ids[c], now);
                    record(out, &ids, &mut events, &mut alive);
                }
            }
            Act::Wait(_) => {}
        }
        let pause = match act {
            Act::Wait(ms) => Duration::from_millis(*ms) + SETTLE,
            _ => SETTLE,
        };
        let until = now + pause;
        // Fire timers in deadline order up to `until`.
        loop {
            let next = alive
                .iter()
                .filter_map(|c| engine.next_deadline(ids[c]).map(|d| (d, *c)))
                .min();
            match next {
                Some((deadline, c)) if deadline <= until => {
                    now = now.max(deadline);
                    let out = engine.timers_due(ids[&c], now);
                    record(out, &ids, &mut events, &mut alive);
                }
                _ => break,
            }
        }
        now = until;
    }
    // The listener's facts, as the daemon adds them to the engine's snapshot.
    let status = qnetd::status::snapshot::ServerStatus {
        listen_addr: Some("127.0.0.1".to_string()),
        port: qnetd::settings::DEFAULT_PORT,
        ..engine.status(now)
    };
    Observed {
        status: normalize(&status_text(&status, true)),
        list: normalize(&String::from_utf8_lossy(&list_text(&status, true, None))),
        events,
    }
}

fn compare(name: &str, script: &[Act]) -> HashMap<usize, Vec<Event>> {
    let cfg = EngineConfig {
        tls: TlsMode::Unsupported,
        ..EngineConfig::default()
    };
    compare_with(name, script, &[], cfg)
}

/// An NSS database with a self-signed "QNetd Cert", enough for upstream to start with TLS.
fn nss_db(dir: &std::path::Path) {
    std::fs::create_dir_all(dir).unwrap();
    let db = format!("sql:{}", dir.display());
    let noise = dir.join("noise");
    std::fs::write(&noise, std::fs::read("/proc/self/stat").unwrap()).unwrap();
    let run = |args: &[&str]| {
        let st = Command::new("certutil")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("certutil (libnss3-tools)");
        assert!(st.success(), "certutil {args:?}");
    };
    run(&["-N", "-d", &db, "--empty-password"]);
    run(&[
        "-S",
        "-x",
        "-n",
        "QNetd Cert",
        "-s",
        "CN=Qnetd Server",
        "-t",
        "CT,,",
        "-k",
        "rsa",
        "-g",
        "2048",
        "-v",
        "12",
        "-d",
        &db,
        "-z",
        noise.to_str().unwrap(),
    ]);
}

/// How many frames of type `t` client `c` received.
fn count(events: &HashMap<usize, Vec<Event>>, c: usize, t: MsgType) -> usize {
    let prefix = format!("{:04x}", t as u16);
    events[&c]
        .iter()
        .filter(|e| matches!(e, Event::Frame(f) if f.starts_with(&prefix)))
        .count()
}

fn compare_with(
    name: &str,
    script: &[Act],
    upstream_args: &[&str],
    cfg: EngineConfig,
) -> HashMap<usize, Vec<Event>> {
    // Upstream's -s / -c from the engine's configuration; TLS needs a certificate database.
    let tls = match cfg.tls {
        TlsMode::Unsupported => "off",
        TlsMode::Supported => "on",
        TlsMode::Required => "req",
    };
    let cert = if cfg.client_cert_required {
        "on"
    } else {
        "off"
    };
    let db =
        TempDir(std::env::temp_dir().join(format!("qnetd-diff-db-{}-{name}", std::process::id())));
    let db_setting = format!("nss_db_dir={}", db.0.display());
    let mut args = vec!["-s", tls, "-c", cert];
    if cfg.tls != TlsMode::Unsupported {
        nss_db(&db.0);
        args.extend(["-S", &db_setting]);
    }
    args.extend(upstream_args);
    let upstream = run_upstream(script, &args);
    let engine = run_engine(script, cfg);
    assert_eq!(upstream.status, engine.status, "{name}: status verbose");
    assert_eq!(upstream.list, engine.list, "{name}: list verbose");
    let (theirs, ours) = (upstream.events, engine.events);
    let mut clients: Vec<_> = theirs.keys().chain(ours.keys()).copied().collect();
    clients.sort_unstable();
    clients.dedup();
    for c in clients {
        let t = theirs.get(&c).cloned().unwrap_or_default();
        let o = ours.get(&c).cloned().unwrap_or_default();
        for (i, (a, b)) in t.iter().zip(o.iter()).enumerate() {
            assert_eq!(
                a, b,
                "{name}: client {c}, event {i}:\nupstream {t:#?}\nours {o:#?}"
            );
        }
        assert_eq!(
            t.len(),
            o.len(),
            "{name}: client {c}:\nupstream {t:#?}\nours {o:#?}"
        );
    }
    theirs
}

// ---------------------------------------------------------------------------------------------
// Scenarios

#[test]
fn errors_and_the_init_cascade() {
    let base = || init_msg(1, 1, TieBreaker::Lowest, 8000, ring(1, 4));
    let edited = |f: fn(&mut Message)| {
        let mut m = base();
        f(&mut m);
        encode(&m)
    };
    let mut big = hex("0008");
    big.extend_from_slice(&(40000u32 - 6).to_be_bytes());
    big.resize(40000, 0);
    let mut s = vec![
        Act::Connect(0),
        Act::Send(0, hex("0063 00000008 0000 0004 00000001")),
        Act::Send(0, hex("0000 00000000")),
        Act::Send(0, hex("0063 00000000")),
        Act::Send(0, big),
        Act::Send(0, hex("0008 00000008 0000 0004 00000009")),
        Act::Send(0, hex("0006 0000000d 0000 0004 00000007 0017 0001 05")),
        Act::Send(0, hex("0006 0000000d 0017 0001 05 0000 0004 00000007")),
        Act::Send(
            0,
            hex("000a 00000010 0000 0004 00000007 0009 0004 00000000"),
        ),
        Act::Send(0, simple(MsgType::StartTls, 2)),
        Act::Send(0, {
            let mut m = msg(MsgType::Init, Some(1));
            m.node_id = Some(1);
            encode(&m)
        }),
        Act::Send(0, encode(&base())),
        Act::Send(0, edited(|m| m.decision_algorithm = Some(9))),
    ];
    for t in [1u16, 4, 5, 7, 9, 11, 13, 14, 17] {
        let t = MsgType::from_u16(t).unwrap();
        s.push(Act::Send(0, simple(t, 3)));
        s.push(Act::Send(0, no_seq(t)));
    }
    for t in [6u16, 10, 12, 15, 16] {
        s.push(Act::Send(0, simple(MsgType::from_u16(t).unwrap(), 4)));
    }
    s.push(Act::Send(0, encode(&msg(MsgType::Preinit, Some(5)))));
    s.push(Act::Send(0, {
        let mut m = msg(MsgType::Preinit, None);
        m.cluster_name = Some(b"mycluster".to_vec());
        encode(&m)
    }));
    s.push(Act::Send(0, preinit(Some(1), "mycluster")));
    for f in [
        |m: &mut Message| m.node_id = None,
        |m: &mut Message| m.ring_id = None,
        |m: &mut Message| m.heartbeat_interval = None,
        |m: &mut Message| m.heartbeat_interval = Some(999),
        |m: &mut Message| m.heartbeat_interval = Some(120_001),
        |m: &mut Message| m.tie_breaker = None,
        |m: &mut Message| m.decision_algorithm = None,
        |m: &mut Message| m.decision_algorithm = Some(4),
        |m: &mut Message| {
            m.node_id = None;
            m.heartbeat_interval = Some(5);
        },
        |m: &mut Message| {
            m.supported_messages = None;
            m.supported_options = None;
            m.seq = None;
            m.tie_breaker = None;
        },
    ] {
        s.push(Act::Send(0, edited(f)));
    }
    s.extend([
        Act::Send(0, encode(&base())),
        // A repeated identical INIT: 17.
        Act::Send(0, encode(&base())),
        Act::Send(0, hex("0008 0000000e 0000 0004 00000002 0063 0002 abcd")),
        Act::Send(0, set_option(3, Some(2000), None)),
        Act::Send(0, set_option(4, Some(500), Some(true))),
        Act::Send(0, set_option(5, None, None)),
        Act::Send(0, no_seq(MsgType::SetOption)),
        Act::Send(0, set_option(6, Some(8000), Some(true))),
        Act::Send(0, {
            let mut m = node_list(7, NodeListType::Membership, &[1]);
            m.node_list_type = None;
            encode(&m)
        }),
        Act::Send(0, {
            let mut m = node_list(7, NodeListType::InitialConfig, &[1]);
            m.seq = None;
            encode(&m)
        }),
        Act::Send(0, encode(&node_list(8, NodeListType::Membership, &[1]))),
        Act::Send(0, encode(&node_list(9, NodeListType::Quorum, &[1]))),
        Act::Send(0, simple(MsgType::AskForVote, 10)),
        Act::Send(0, no_seq(MsgType::AskForVote)),
        Act::Send(0, simple(MsgType::HeuristicsChange, 11)),
        Act::Send(0, no_seq(MsgType::VoteInfoReply)),
        Act::Send(0, config(12, &[2, 3])),
        Act::Send(0, config(13, &[])),
        Act::Send(0, membership(14, ring(1, 5), &[2], None)),
        Act::Send(0, heuristics_change(15, Heuristics::Pass)),
        Act::Send(0, quorum(16, &[1])),
        Act::Send(0, config(17, &[1, 2])),
        Act::Send(0, membership(18, ring(1, 5), &[1], Some(Heuristics::Fail))),
        Act::Send(0, vote_info_reply(1)),
        Act::Send(0, heuristics_change(19, Heuristics::Pass)),
        Act::Send(0, vote_info_reply(2)),
        Act::Send(0, quorum(20, &[1])),
        Act::Send(0, simple(MsgType::EchoRequest, 1)),
    ]);
    let seen = compare("errors_and_the_init_cascade", &s);
    // Every step was answered (a framing slip would silently swallow the rest).
    assert_eq!(count(&seen, 0, MsgType::InitReply), 15);
    assert!(count(&seen, 0, MsgType::ServerError) >= 40);
    assert_eq!(count(&seen, 0, MsgType::EchoReply), 2);
}

#[test]
fn ffsplit_two_nodes_split_heal_and_disconnect() {
    let r0 = ring(1, 4);
    let mut s = join(0, "c", init(1, Algorithm::Ffsplit, 8000));
    s.extend(join(1, "c", init(2, Algorithm::Ffsplit, 8000)));
    s.extend([
        Act::Send(0, set_option(3, None, Some(true))),
        Act::Send(1, set_option(3, None, Some(true))),
        Act::Send(0, config(4, &[1, 2])),
        Act::Send(1, config(4, &[1, 2])),
        Act::Send(0, membership(5, r0, &[1, 2], None)),
        Act::Send(1, membership(5, r0, &[1, 2], None)),
        Act::Send(0, vote_info_reply(1)),
        Act::Send(1, vote_info_reply(1)),
        Act::Send(0, quorum(6, &[1, 2])),
        Act::Send(1, quorum(6, &[1, 2])),
        // Split.
        Act::Send(0, membership(7, ring(1, 8), &[1], None)),
        Act::Send(1, membership(7, ring(2, 8), &[2], None)),
        Act::Send(1, vote_info_reply(1)),
        Act::Send(1, vote_info_reply(2)),
        Act::Send(0, vote_info_reply(2)),
        // Heuristics move the vote, with KAP on both.
        Act::Send(1, heuristics_change(8, Heuristics::Pass)),
        Act::Send(0, vote_info_reply(3)),
        Act::Send(1, vote_info_reply(3)),
        Act::Send(0, heuristics_change(8, Heuristics::Pass)),
        Act::Send(0, vote_info_reply(4)),
        Act::Send(1, vote_info_reply(4)),
        // Heal.
        Act::Send(
            0,
            membership(9, ring(1, 12), &[1, 2], Some(Heuristics::Pass)),
        ),
        Act::Send(
            1,
            membership(9, ring(1, 12), &[1, 2], Some(Heuristics::Pass)),
        ),
        Act::Send(0, vote_info_reply(5)),
        Act::Send(1, vote_info_reply(5)),
        // Node 2 goes away: node 1 re-decided alone.
        Act::Close(1),
        Act::Send(0, vote_info_reply(6)),
        Act::Send(0, membership(10, ring(1, 16), &[1], None)),
        // Node 2 comes back in its own ring.
    ]);
    s.extend(join(2, "c", init(2, Algorithm::Ffsplit, 8000)));
    s.extend([
        Act::Send(2, config(3, &[1, 2])),
        Act::Send(2, membership(4, ring(2, 16), &[2], None)),
        Act::Send(2, vote_info_reply(1)),
        Act::Close(0),
        Act::Send(2, vote_info_reply(2)),
        Act::Send(2, simple(MsgType::EchoRequest, 1)),
    ]);
    let seen = compare("ffsplit_two_nodes", &s);
    assert!(count(&seen, 0, MsgType::VoteInfo) >= 6);
    assert!(count(&seen, 2, MsgType::VoteInfo) >= 2);
}

#[test]
fn ffsplit_three_and_four_nodes() {
    let r0 = ring(1, 4);
    let mut s = Vec::new();
    for (c, node) in [(0, 3), (1, 1), (2, 2)] {
        s.extend(join(c, "odd", init(node, Algorithm::Ffsplit, 8000)));
        s.push(Act::Send(c, config(3, &[1, 2, 3])));
    }
    for c in 0..3 {
        s.push(Act::Send(c, membership(4, r0, &[1, 2, 3], None)));
    }
    s.extend([
        Act::Send(1, membership(5, ring(1, 9), &[1, 2], None)),
        Act::Send(2, membership(5, ring(1, 9), &[1, 2], None)),
        Act::Send(0, membership(5, ring(3, 9), &[3], Some(Heuristics::Pass))),
        Act::Send(0, vote_info_reply(2)),
        Act::Send(0, vote_info_reply(3)),
        Act::Send(1, vote_info_reply(2)),
        Act::Send(2, vote_info_reply(2)),
    ]);
    for (c, node) in [(3, 4), (4, 1), (5, 2), (6, 3)] {
        s.extend(join(c, "even", init(node, Algorithm::Ffsplit, 8000)));
        s.push(Act::Send(c, config(3, &[1, 2, 3, 4])));
    }
    s.extend([
        Act::Send(3, membership(4, ring(4, 9), &[3, 4], None)),
        Act::Send(6, membership(4, ring(4, 9), &[3, 4], None)),
        Act::Send(
            4,
            membership(4, ring(1, 9), &[1, 2], Some(Heuristics::Fail)),
        ),
        Act::Send(5, membership(4, ring(1, 9), &[1, 2], None)),
        Act::Send(4, vote_info_reply(1)),
        Act::Send(5, vote_info_reply(1)),
        Act::Send(4, vote_info_reply(2)),
        Act::Send(5, vote_info_reply(2)),
        Act::Send(3, vote_info_reply(2)),
        Act::Close(3),
        Act::Close(6),
        Act::Send(4, vote_info_reply(3)),
        Act::Send(5, vote_info_reply(3)),
    ]);
    compare("ffsplit_three_and_four_nodes", &s);
}

#[test]
fn two_node_lms_sessions() {
    let r0 = ring(1, 4);
    let mut s = join(0, "c", init(1, Algorithm::TwoNodeLms, 8000));
    s.extend([
        Act::Send(0, config(3, &[1, 2, 3])),
        Act::Send(0, simple(MsgType::AskForVote, 4)),
        Act::Send(0, config(5, &[1, 2])),
        Act::Send(0, membership(6, r0, &[1, 2], None)),
    ]);
    s.extend(join(1, "c", init(2, Algorithm::TwoNodeLms, 8000)));
    s.extend([
        Act::Send(1, config(3, &[1, 2])),
        Act::Send(1, membership(4, ring(2, 6), &[2], None)),
        Act::Send(1, simple(MsgType::AskForVote, 5)),
        Act::Send(1, membership(6, r0, &[1, 2], Some(Heuristics::Pass))),
        Act::Send(0, membership(7, ring(1, 8), &[1], None)),
        Act::Send(1, membership(7, ring(2, 8), &[2], Some(Heuristics::Pass))),
        Act::Send(0, simple(MsgType::AskForVote, 8)),
        Act::Send(1, quorum(8, &[2])),
        Act::Send(1, heuristics_change(9, Heuristics::Fail)),
        Act::Close(1),
        Act::Send(0, simple(MsgType::AskForVote, 9)),
        Act::Send(0, membership(10, ring(1, 9), &[1], None)),
    ]);
    compare("two_node_lms", &s);
}

#[test]
fn lms_sessions_with_the_algorithm_timer() {
    // HB 2000: the algorithm timer runs every 500 ms, dead-peer detection after 3000 ms.
    // Timer deadlines fall inside the long waits, far from any client action.
    let mut s = Vec::new();
    for (c, node) in [(0, 1), (1, 2), (2, 3)] {
        let m = init_msg(
            node,
            Algorithm::Lms as u16,
            TieBreaker::Lowest,
            2000,
            ring(0, 0),
        );
        s.extend(join(c, "c", encode(&m)));
        s.push(Act::Send(c, config(3, &[1, 2, 3])));
    }
    let r = ring(1, 8);
    s.extend([
        // [verified] the first sender waits and gets its ACK from the timer.
        Act::Send(0, membership(4, r, &[1, 2, 3], None)),
        Act::Send(1, membership(4, r, &[1, 2, 3], None)),
        Act::Send(2, membership(4, r, &[1, 2, 3], None)),
        Act::Wait(900),
        // Split {1,2} | {3}: everybody waits for the partners' rings, then the timers
        // decide (score of {3} with PASS beats {1,2} with one FAIL).
        Act::Send(0, membership(5, ring(1, 12), &[1, 2], None)),
        Act::Send(2, membership(5, ring(3, 12), &[3], Some(Heuristics::Pass))),
        Act::Send(
            1,
            membership(5, ring(1, 12), &[1, 2], Some(Heuristics::Fail)),
        ),
        Act::Wait(1000),
        Act::Send(0, quorum(6, &[1, 2])),
        Act::Send(1, quorum(6, &[1, 2])),
        Act::Send(2, quorum(6, &[3])),
        Act::Send(2, simple(MsgType::AskForVote, 7)),
        Act::Send(2, vote_info_reply(1)),
        Act::Send(1, heuristics_change(7, Heuristics::Pass)),
        Act::Close(0),
        Act::Send(1, simple(MsgType::AskForVote, 8)),
        Act::Send(2, heuristics_change(8, Heuristics::Fail)),
        Act::Send(2, quorum(9, &[3])),
    ]);
    let seen = compare("lms", &s);
    // The timers really spoke: node 1's ACK, then the split decisions.
    assert_eq!(count(&seen, 0, MsgType::VoteInfo), 2);
    assert_eq!(count(&seen, 1, MsgType::VoteInfo), 1);
    assert_eq!(count(&seen, 2, MsgType::VoteInfo), 1);
}

#[test]
fn init_conflicts_within_a_cluster() {
    let mut s = join(0, "c", init(2, Algorithm::Ffsplit, 8000));
    s.extend(join(1, "c", init(2, Algorithm::Ffsplit, 8000)));
    s.extend(join(
        2,
        "c",
        encode(&init_msg(3, 1, TieBreaker::Highest, 8000, ring(1, 4))),
    ));
    s.extend(join(3, "c", init(3, Algorithm::Lms, 8000)));
    s.extend(join(
        4,
        "c",
        encode(&init_msg(3, 1, TieBreaker::NodeId(0), 8000, ring(1, 4))),
    ));
    s.extend(join(5, "C", init(2, Algorithm::Lms, 8000)));
    s.extend(join(6, "c", init(1, Algorithm::Ffsplit, 8000)));
    s.extend([
        // (Without a config list on node 1, upstream 3.0.3 crashes when node 2 leaves.)
        Act::Send(6, config(3, &[1, 2])),
        Act::Send(1, init(2, Algorithm::Ffsplit, 8000)),
        Act::Send(6, simple(MsgType::EchoRequest, 1)),
        Act::Close(0),
        Act::Send(1, init(2, Algorithm::Ffsplit, 8000)),
        Act::Send(1, simple(MsgType::EchoRequest, 1)),
    ]);
    compare("init_conflicts", &s);
}

/// An INIT shaped like a node list (no node id, heartbeat or algorithm): what a confused or
/// hostile client may send after it joined. Upstream refuses it (13: the missing heartbeat is
/// checked as 0) but stores the INIT's ring id, zero when absent, in the member's state.
/// It carries the member's tie-breaker `tb`: upstream would also store an absent one as mode
/// 0, a deviation we keep (see `Engine::init_cascade`).
fn init_like_node_list(
    seq: u32,
    t: NodeListType,
    ids: &[u32],
    r: Option<RingId>,
    tb: TieBreaker,
) -> Vec<u8> {
    let mut m = node_list(seq, t, ids);
    m.msg_type = MsgType::Init;
    m.ring_id = r;
    m.tie_breaker = Some(tb);
    if t == NodeListType::Quorum {
        m.quorate = Some(false);
    }
    encode(&m)
}

#[test]
fn refused_second_init_without_a_ring_resets_the_ring_id() {
    let mut s = join(
        0,
        "c",
        encode(&init_msg(7, 0, TieBreaker::Lowest, 8000, ring(7, 1))),
    );
    s.extend([
        Act::Send(0, config(2, &[4, 7])),
        Act::Send(0, membership(3, ring(4, 0x301), &[4, 7], None)),
        Act::Send(
            0,
            init_like_node_list(4, NodeListType::Quorum, &[4, 7], None, TieBreaker::Lowest),
        ),
        Act::Send(0, set_option(5, Some(120_001), None)),
        Act::Send(0, simple(MsgType::AskForVote, 6)),
        Act::Send(0, heuristics_change(7, Heuristics::Pass)),
    ]);
    let seen = compare("refused_second_init_without_a_ring", &s);
    assert_eq!(count(&seen, 0, MsgType::AskForVoteReply), 1);
}

#[test]
fn refused_second_init_with_a_ring_stores_that_ring_id() {
    let mut s = join(
        0,
        "c",
        encode(&init_msg(2, 0, TieBreaker::NodeId(3), 8000, ring(2, 0x3a3))),
    );
    s.extend([
        Act::Send(0, set_option(2, None, Some(true))),
        Act::Send(0, config(3, &[2, 3])),
        Act::Send(
            0,
            init_like_node_list(
                4,
                NodeListType::Membership,
                &[2, 3],
                Some(ring(2, 0x3a4)),
                TieBreaker::NodeId(3),
            ),
        ),
        Act::Send(0, quorum(5, &[2, 3])),
        Act::Send(0, heuristics_change(6, Heuristics::Pass)),
    ]);
    let seen = compare("refused_second_init_with_a_ring", &s);
    assert_eq!(count(&seen, 0, MsgType::NodeListReply), 2);
}

/// The other two cases of the rule: a complete second INIT (17) stores its ring; one with a
/// node id but no ring fails at the ring check itself (7, then 13) and keeps the ring.
#[test]
fn refused_second_init_keeps_the_ring_only_when_the_ring_check_fails() {
    let mut s = join(
        0,
        "c",
        encode(&init_msg(5, 0, TieBreaker::Lowest, 8000, ring(5, 1))),
    );
    let mut no_ring = msg(MsgType::Init, Some(5));
    no_ring.node_id = Some(5);
    no_ring.tie_breaker = Some(TieBreaker::Lowest);
    s.extend([
        Act::Send(
            0,
            encode(&init_msg(5, 0, TieBreaker::Lowest, 8000, ring(5, 0x20))),
        ),
        Act::Send(0, simple(MsgType::AskForVote, 3)),
        Act::Send(0, encode(&no_ring)),
        Act::Send(0, simple(MsgType::AskForVote, 6)),
    ]);
    let seen = compare("refused_second_init_keeps_the_ring", &s);
    assert_eq!(count(&seen, 0, MsgType::AskForVoteReply), 2);
}

#[test]
fn starttls_on_a_server_without_tls_disconnects() {
    let s = vec![
        Act::Connect(0),
        Act::Send(0, preinit(Some(1), "c")),
        Act::Send(0, simple(MsgType::StartTls, 2)),
        Act::Send(0, simple(MsgType::EchoRequest, 3)),
    ];
    compare("starttls", &s);
}

#[test]
fn advanced_settings_limits() {
    let cfg = EngineConfig {
        tls: TlsMode::Unsupported,
        heartbeat_interval_min: 3000,
        heartbeat_interval_max: 9000,
        max_client_receive_size: 20000,
        keep_active_partition_tie_breaker: true,
        ..EngineConfig::default()
    };
    let args = [
        "-S",
        "heartbeat_interval_min=3000,heartbeat_interval_max=9000,\
         max_client_receive_size=20000,keep_active_partition_tie_breaker=on",
    ];
    let mut s = join(0, "c", init(1, Algorithm::Ffsplit, 2999));
    s.extend([
        Act::Send(0, init(1, Algorithm::Ffsplit, 9001)),
        Act::Send(0, init(1, Algorithm::Ffsplit, 3000)),
        Act::Send(0, set_option(3, Some(9000), None)),
        Act::Send(0, set_option(4, Some(9001), Some(false))),
        Act::Send(0, set_option(5, None, None)),
        Act::Send(0, {
            let mut m = node_list(6, NodeListType::InitialConfig, &[1]);
            m.nodes = (1..=2000).map(NodeInfo::new).collect();
            encode(&m)
        }),
    ]);
    compare_with("advanced_settings", &s, &args, cfg);
}

// ---------------------------------------------------------------------------------------------
// Random scripts

/// xorshift64*: deterministic script generation.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// `node` plus a random choice of the other members.
fn ids_with_me(rng: &mut Rng, node: u32, members: u32) -> Vec<u32> {
    let mut ids = vec![node];
    for id in 1..=members {
        if id != node && rng.chance(55) {
            ids.push(id);
        }
    }
    ids
}

/// A random but plausible multi-client script: ffsplit in cluster "r" (NODE_ID tie-breaker,
/// so upstream's empty-config crash cannot trigger) and 2nodelms in cluster "s"; clients come
/// and go; lists, heuristics, VOTE_INFO_REPLYs with guessed sequence numbers.
fn random_script(seed: u64, steps: usize) -> Vec<Act> {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    // Per slot: Some((cluster index, node id, phase, next seq)) while connected.
    let mut slots: Vec<Option<(usize, u32, u8, u32)>> = vec![None; 5];
    let mut next_client = 0;
    let mut slot_client = [0usize; 5];
    let mut s = Vec::new();
    // The network's current partitioning of each cluster; it changes now and then, and a
    // node mostly reports the part it is in (so memberships often become stable).
    let layouts: [&[&[u32]]; 4] = [
        &[&[1, 2, 3, 4]],
        &[&[1, 2], &[3, 4]],
        &[&[1], &[2, 3, 4]],
        &[&[1, 2, 3], &[4]],
    ];
    let mut layout = 0;
    let mut epoch = 10;
    for _ in 0..steps {
        if rng.chance(3) {
            layout = rng.below(layouts.len() as u64) as usize;
            epoch += 1;
        }
        let slot = rng.below(5) as usize;
        match slots[slot] {
            None => {
                next_client += 1;
                slot_client[slot] = next_client;
                let cluster = if rng.chance(70) { 0 } else { 1 };
                let node = 1 + rng.below(if cluster == 0 { 4 } else { 2 }) as u32;
                slots[slot] = Some((cluster, node, 0, 1));
                s.push(Act::Connect(next_client));
            }
            Some((cluster, node, phase, seq)) => {
                let c = slot_client[slot];
                if rng.chance(2) {
                    s.push(Act::Close(c));
                    slots[slot] = None;
                    continue;
                }
                let name = ["r", "s"][cluster];
                let (algorithm, members) = if cluster == 0 {
                    (Algorithm::Ffsplit, 4)
                } else {
                    (Algorithm::TwoNodeLms, 2)
                };
                let bytes = match phase {
                    0 => preinit(Some(seq), name),
                    1 => encode(&init_msg(
                        node,
                        algorithm as u16,
                        TieBreaker::NodeId(2),
                        8000,
                        ring(1, 4),
                    )),
                    2 => config(seq, &(1..=members).collect::<Vec<u32>>()),
                    _ => match rng.below(10) {
                        0 => {
                            let all: Vec<u32> = (1..=members).collect();
                            config(seq, &all)
                        }
                        1..=5 => {
                            let ids: Vec<u32> = if rng.chance(80) {
                                layouts[layout]
                                    .iter()
                                    .find(|part| part.contains(&node))
                                    .map(|part| {
                                        part.iter().copied().filter(|&id| id <= members).collect()
                                    })
                                    .unwrap_or_else(|| vec![node])
                            } else {
                                ids_with_me(&mut rng, node, members)
                            };
                            let r = ring(ids.iter().copied().min().unwrap_or(node), epoch);
                            let h = match rng.below(3) {
                                0 => None,
                                1 => Some(Heuristics::Pass),
                                _ => Some(Heuristics::Fail),
                            };
                            membership(seq, r, &ids, h)
                        }
                        6 => quorum(seq, &ids_with_me(&mut rng, node, members)),
                        7 => vote_info_reply(1 + rng.below(6) as u32),
                        8 => heuristics_change(
                            seq,
                            if rng.chance(50) {
                                Heuristics::Pass
                            } else {
                                Heuristics::Fail
                            },
                        ),
                        _ => {
                            if rng.chance(50) {
                                set_option(seq, None, Some(rng.chance(50)))
                            } else {
                                simple(MsgType::EchoRequest, seq)
                            }
                        }
                    },
                };
                s.push(Act::Send(c, bytes));
                slots[slot] = Some((cluster, node, phase.saturating_add(1).min(3), seq + 1));
            }
        }
    }
    s
}

fn random_ffsplit_and_2nodelms_script(seed: u64) {
    let script = random_script(seed, 150);
    let seen = compare(&format!("random seed {seed}"), &script);
    let vote_infos: usize = seen
        .keys()
        .map(|&c| count(&seen, c, MsgType::VoteInfo))
        .sum();
    assert!(
        vote_infos >= 10,
        "seed {seed}: only {vote_infos} VOTE_INFOs"
    );
}

#[test]
fn random_ffsplit_and_2nodelms_script_1() {
    random_ffsplit_and_2nodelms_script(1);
}

#[test]
fn random_ffsplit_and_2nodelms_script_2() {
    random_ffsplit_and_2nodelms_script(2);
}

#[test]
fn tls_modes_before_the_handshake() {
    for (tls, cert_required) in [
        (TlsMode::Required, true),
        (TlsMode::Required, false),
        (TlsMode::Supported, true),
        (TlsMode::Supported, false),
    ] {
        let mut s = vec![
            Act::Connect(0),
            Act::Send(0, simple(MsgType::StartTls, 1)),
            Act::Send(0, preinit(Some(1), "c")),
            Act::Send(0, init(1, Algorithm::Ffsplit, 8000)),
            Act::Send(0, simple(MsgType::EchoRequest, 1)),
            Act::Send(0, config(3, &[1, 2])),
            Act::Send(0, simple(MsgType::AskForVote, 4)),
            Act::Send(0, vote_info_reply(1)),
            Act::Send(0, set_option(5, None, Some(true))),
            Act::Send(0, simple(MsgType::InitReply, 6)),
        ];
        // STARTTLS: no reply; the client then goes away instead of shaking hands.
        s.extend(join(1, "c", simple(MsgType::StartTls, 2)));
        s.push(Act::Close(1));
        s.push(Act::Send(0, simple(MsgType::EchoRequest, 2)));
        let cfg = EngineConfig {
            tls,
            client_cert_required: cert_required,
            ..EngineConfig::default()
        };
        let name = format!("tls-{tls:?}-{cert_required}");
        let seen = compare_with(&name, &s, &[], cfg);
        assert_eq!(count(&seen, 1, MsgType::PreinitReply), 1, "{name}");
        assert_eq!(seen[&1].len(), 1, "{name}: nothing after STARTTLS");
    }
}

#[test]
fn dead_peer_detection() {
    // HB 1000: dropped 1500 ms after the last complete message; skipped messages do not count.
    let hb1 = || init(1, Algorithm::Test, 1000);
    let mut s = join(0, "c", hb1());
    s.extend(join(1, "c", init(2, Algorithm::Test, 1000)));
    s.extend(join(2, "c", init(3, Algorithm::Test, 1000)));
    let skipped = hex("0063 00000002 0000");
    s.extend([
        Act::Wait(300),
        Act::Send(1, simple(MsgType::EchoRequest, 1)),
        Act::Send(2, skipped.clone()),
        Act::Wait(300),
        Act::Send(1, simple(MsgType::EchoRequest, 2)),
        Act::Wait(600),
        Act::Send(2, skipped),
        Act::Send(1, simple(MsgType::EchoRequest, 3)),
        Act::Wait(1000),
        Act::Send(1, simple(MsgType::EchoRequest, 4)),
    ]);
    let cfg = EngineConfig {
        tls: TlsMode::Unsupported,
        ..EngineConfig::default()
    };
    let seen = compare_with("dpd", &s, &[], cfg);
    assert_eq!(seen[&0].last(), Some(&Event::Closed));
    assert_eq!(seen[&2].last(), Some(&Event::Closed));
    assert_eq!(count(&seen, 1, MsgType::EchoReply), 4);

    // dpd_enabled=off: nobody is dropped.
    let mut s = join(0, "c", hb1());
    s.extend([
        Act::Wait(2000),
        Act::Send(0, simple(MsgType::EchoRequest, 1)),
    ]);
    let cfg = EngineConfig {
        tls: TlsMode::Unsupported,
        dpd_enabled: false,
        ..EngineConfig::default()
    };
    let seen = compare_with("dpd off", &s, &["-S", "dpd_enabled=off"], cfg);
    assert_eq!(count(&seen, 0, MsgType::EchoReply), 1);
}

#[test]
fn cluster_names_are_bytes() {
    let mut s = join(0, "", init(1, Algorithm::Ffsplit, 8000));
    s.extend(join(1, "x", init(1, Algorithm::Ffsplit, 8000)));
    s.extend(join(2, "a\0b", init(1, Algorithm::Lms, 8000)));
    s.extend(join(3, "a", init(1, Algorithm::TwoNodeLms, 8000)));
    s.extend(join(4, "X", init(1, Algorithm::Test, 8000)));
    s.extend([
        // A second PREINIT renames nothing: the client stays in its cluster.
        Act::Send(0, preinit(Some(5), "x")),
        Act::Send(0, config(6, &[1, 2])),
        Act::Send(0, membership(7, ring(1, 5), &[1], None)),
        Act::Send(0, vote_info_reply(1)),
    ]);
    s.extend(join(5, "x", init(1, Algorithm::Ffsplit, 8000)));
    s.extend(join(6, "x", init(2, Algorithm::Ffsplit, 8000)));
    s.extend([
        // (Node 2 needs a config list before node 1 leaves: upstream crashes otherwise.)
        Act::Send(6, config(3, &[1, 2])),
        Act::Close(1),
        Act::Send(6, simple(MsgType::EchoRequest, 1)),
    ]);
    compare("cluster_names", &s);
}

/// The one place we differ on purpose: in 3.0.3 the ffsplit tie-breaker dereferences the first
/// entry of an empty config list when another client of the cluster leaves, and the daemon
/// dies (docs/protocol.md, "Algorithm ffsplit", and "Deviations from upstream"). We treat "no preferred node" as not preferred.
#[test]
fn upstream_crash_on_empty_config_list_is_survived() {
    let mut s = join(0, "c", init(1, Algorithm::Ffsplit, 8000));
    s.extend([
        Act::Send(0, config(3, &[1, 2])),
        Act::Send(0, membership(4, ring(1, 4), &[1, 2], None)),
    ]);
    s.extend(join(1, "c", init(2, Algorithm::Ffsplit, 8000)));
    s.push(Act::Close(0));

    let mut up = start_upstream(&["-s", "off"]);
    let mut socks = Vec::new();
    for act in &s {
        match act {
            Act::Connect(_) => {
                socks.push(TcpStream::connect(("127.0.0.1", up.port)).unwrap());
            }
            Act::Send(c, bytes) => socks[*c].write_all(bytes).unwrap(),
            Act::Close(c) => socks[*c].shutdown(std::net::Shutdown::Both).unwrap(),
            Act::Wait(_) => {}
        }
        std::thread::sleep(SETTLE);
    }
    std::thread::sleep(SETTLE);
    let status = up.child.try_wait().unwrap();
    assert!(
        status.is_some_and(|st| !st.success()),
        "corosync-qnetd 3.0.3 was expected to die here: {status:?}"
    );

    let ours = run_engine(
        &s,
        EngineConfig {
            tls: TlsMode::Unsupported,
            ..EngineConfig::default()
        },
    );
    // Node 2 has reported nothing yet: it is NACKed with its INIT ring, and lives on.
    assert_eq!(
        ours.events[&1].last(),
        Some(&Event::Frame(
            "000e0000001d00000004000000010013000102000d000c000000010000000000000004".into()
        ))
    );
    assert!(ours.list.contains("Node ID 2:"), "{}", ours.list);
}

/// LMS rounds with random partitions, heuristics and send order; each round waits for the
/// algorithm timers (HB 2000: every 500 ms) to settle before the quorum lists, so timer
/// VOTE_INFOs never race with client messages.
fn lms_rounds_script(seed: u64, tie_breaker: TieBreaker) -> Vec<Act> {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let layouts: [&[&[u32]]; 5] = [
        &[&[1, 2, 3, 4]],
        &[&[1, 2], &[3, 4]],
        &[&[1], &[2, 3, 4]],
        &[&[1, 3], &[2], &[4]],
        &[&[1, 2, 3], &[4]],
    ];
    let mut s = Vec::new();
    for node in 1..=4u32 {
        let c = node as usize - 1;
        let m = init_msg(node, Algorithm::Lms as u16, tie_breaker, 2000, ring(0, 0));
        s.extend(join(c, "lms", encode(&m)));
        s.push(Act::Send(c, config(3, &[1, 2, 3, 4])));
    }
    let mut seq = [4u32; 4];
    for round in 0..4u64 {
        let layout = layouts[rng.below(layouts.len() as u64) as usize];
        let mut order: Vec<usize> = (0..4).collect();
        for i in (1..4).rev() {
            order.swap(i, rng.below(i as u64 + 1) as usize);
        }
        for &c in &order {
            let node = c as u32 + 1;
            let part = layout.iter().find(|p| p.contains(&node)).unwrap();
            let h = match rng.below(3) {
                0 => None,
                1 => Some(Heuristics::Pass),
                _ => Some(Heuristics::Fail),
            };
            s.push(Act::Send(
                c,
                membership(seq[c], ring(part[0], 10 + round), part, h),
            ));
            seq[c] += 1;
        }
        s.push(Act::Wait(900));
        for &c in order.iter().rev() {
            let node = c as u32 + 1;
            let part = layout.iter().find(|p| p.contains(&node)).unwrap();
            s.push(Act::Send(c, quorum(seq[c], part)));
            seq[c] += 1;
            if rng.chance(30) {
                s.push(Act::Send(c, simple(MsgType::AskForVote, seq[c])));
                seq[c] += 1;
            }
        }
    }
    s
}

fn lms_random_rounds(seed: u64, tb: TieBreaker) {
    let s = lms_rounds_script(seed, tb);
    let seen = compare(&format!("lms rounds {seed}"), &s);
    let vote_infos: usize = (0..4).map(|c| count(&seen, c, MsgType::VoteInfo)).sum();
    assert!(
        vote_infos >= 3,
        "seed {seed}: {vote_infos} timer VOTE_INFOs"
    );
}

#[test]
fn lms_random_rounds_lowest() {
    lms_random_rounds(1, TieBreaker::Lowest);
}

#[test]
fn lms_random_rounds_highest() {
    lms_random_rounds(2, TieBreaker::Highest);
}

#[test]
fn lms_random_rounds_node_id() {
    lms_random_rounds(3, TieBreaker::NodeId(3));
}
