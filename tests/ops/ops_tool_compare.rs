//! The running daemon (`qnetd run`) with two clusters connected: Debian's
//! `corosync-qnetd-tool` and ours must print the same bytes and exit the same way for every
//! flag; `-H` stops the daemon. A second test runs the same client sessions against Debian's
//! corosync-qnetd and ours and compares the `-l -v` / `-s -v` text (client ports masked).

use crate::support::ops as ops_common;

use ops_common::*;
use qnetd::probe::{self, ClientTls, InitParams, Probe, SessionParams};
use qnetd::proto::types::{
    Algorithm, Heuristics, MsgType, NodeInfo, NodeListType, RingId, TieBreaker,
};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// `qnetd run` on 127.0.0.1 with its lock file and status socket in `dir`; killed on drop.
struct OurDaemon {
    child: Child,
    addr: SocketAddr,
    socket: PathBuf,
    log: PathBuf,
}

impl OurDaemon {
    fn start(dir: &Path, extra: &[&str]) -> OurDaemon {
        let port = free_port();
        let socket = dir.join("qnetd.sock");
        let log = dir.join("qnetd.log");
        let child = Command::new(env!("CARGO_BIN_EXE_qnetd"))
            .args(["run", "-l", "127.0.0.1", "-p", &port.to_string()])
            .arg("--lock-file")
            .arg(dir.join("qnetd.pid"))
            .arg("--socket")
            .arg(&socket)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        wait_for_socket(&socket);
        OurDaemon {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            socket,
            log,
        }
    }

    fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        wait_child_exit(&mut self.child, timeout)
    }
}

impl Drop for OurDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Read whatever the server has sent `p`, answering VOTE_INFO as qdevice does.
async fn drain(p: &mut Probe) {
    let saved = p.timeout;
    p.timeout = Duration::from_millis(300);
    while let Ok(m) = p.recv().await {
        if m.msg_type == MsgType::VoteInfo {
            p.vote_info_reply(&m).await.unwrap();
        }
    }
    p.timeout = saved;
}

async fn drain_all(probes: &mut [Probe]) {
    for p in probes.iter_mut() {
        drain(p).await;
    }
}

async fn lists(
    p: &mut Probe,
    config: &[NodeInfo],
    version: Option<u64>,
    ring: RingId,
    members: &[NodeInfo],
    heuristics: Heuristics,
) {
    for m in p
        .node_list(
            NodeListType::InitialConfig,
            None,
            version,
            config,
            Heuristics::Undefined,
        )
        .await
        .unwrap()
    {
        if m.msg_type == MsgType::VoteInfo {
            p.vote_info_reply(&m).await.unwrap();
        }
    }
    for m in p
        .node_list(
            NodeListType::Membership,
            Some(ring),
            None,
            members,
            heuristics,
        )
        .await
        .unwrap()
    {
        if m.msg_type == MsgType::VoteInfo {
            p.vote_info_reply(&m).await.unwrap();
        }
    }
}

fn dc(node_id: u32, data_center_id: u32) -> NodeInfo {
    NodeInfo {
        node_id,
        data_center_id,
        state: None,
    }
}

/// Two clusters: "alpha" (ffsplit, two nodes with full lists; over TLS with a client
/// certificate when `alpha_tls` is given) and "beta" (test algorithm, tie-breaker node 2,
/// data-center ids, heuristics; node 1 only INITs), plus one client that never INITs.
/// The probes must stay alive while the status is read.
fn connect_clusters(addr: SocketAddr, alpha_tls: Option<ClientTls>) -> Vec<Probe> {
    smol::block_on(async {
        let mut probes = Vec::new();
        let ring = RingId { node_id: 1, seq: 8 };
        let alpha = [NodeInfo::new(1), NodeInfo::new(2)];
        for node_id in [1, 2] {
            let params = SessionParams {
                cluster: "alpha".into(),
                tls: alpha_tls.clone(),
                init: InitParams {
                    node_id,
                    algorithm: Algorithm::Ffsplit,
                    heartbeat_ms: 60_000,
                    tie_breaker: TieBreaker::Lowest,
                    ring_id: ring,
                },
            };
            let (mut p, reply) = probe::session(addr, &params).await.unwrap();
            assert_eq!(reply.msg_type, MsgType::InitReply, "{reply:?}");
            lists(&mut p, &alpha, Some(3), ring, &alpha, Heuristics::Undefined).await;
            probes.push(p);
            drain_all(&mut probes).await;
        }
        let beta_ring = RingId {
            node_id: 2,
            seq: 0x1f,
        };
        for node_id in [2, 1] {
            let params = SessionParams {
                cluster: "beta".into(),
                tls: None,
                init: InitParams {
                    node_id,
                    algorithm: Algorithm::Test,
                    heartbeat_ms: 45_000,
                    tie_breaker: TieBreaker::NodeId(2),
                    ring_id: beta_ring,
                },
            };
            let (mut p, reply) = probe::session(addr, &params).await.unwrap();
            assert_eq!(reply.msg_type, MsgType::InitReply, "{reply:?}");
            if node_id == 2 {
                lists(
                    &mut p,
                    &[dc(1, 10), dc(2, 20)],
                    None,
                    beta_ring,
                    &[dc(2, 20)],
                    Heuristics::Pass,
                )
                .await;
            }
            probes.push(p);
            drain_all(&mut probes).await;
        }
        // Connected, never initialised: counted, not listed.
        let mut idle = Probe::connect(addr).await.unwrap();
        idle.preinit("gamma").await.unwrap();
        probes.push(idle);
        drain_all(&mut probes).await;
        probes
    })
}

const FLAG_SETS: &[&[&str]] = &[
    &["-s"],
    &["-s", "-v"],
    &["-l"],
    &["-l", "-v"],
    &["-l", "-c", "alpha"],
    &["-l", "-v", "-c", "alpha"],
    &["-l", "-c", "beta"],
    &["-l", "-v", "-c", "beta"],
    &["-l", "-c", "gamma"],
];

/// Both tools agree (`compare_tools`) and succeed; their stdout.
fn compare(tools: &(PathBuf, PathBuf), socket: &Path, flags: &[&str]) -> Vec<u8> {
    let debian = compare_tools(tools, socket, flags);
    assert_eq!(debian.2, Some(0), "{flags:?}");
    debian.0
}

#[test]
fn both_tools_agree_on_the_running_daemon() {
    let dir = TempDir::new("tool-compare");
    let store = dir.path().join("store");
    let (certs, _) = certtool::CertStore::init(&store, certtool::InitOptions::default()).unwrap();
    let key = certtool::profile::new_key().unwrap();
    let issued = certs.issue_cluster_cert("alpha", &key).unwrap();
    let tls = ClientTls::new(
        &certs.ca_cert_der().unwrap(),
        Some((issued.der, key.serialize_der())),
        probe::SERVER_NAME,
    )
    .unwrap();
    let mut daemon = OurDaemon::start(dir.path(), &["--store", store.to_str().unwrap()]);
    let _probes = connect_clusters(daemon.addr, Some(tls));
    let tools = tool_pair(dir.path());

    let mut outputs = Vec::new();
    for flags in FLAG_SETS {
        outputs.push(String::from_utf8(compare(&tools, &daemon.socket, flags)).unwrap());
    }
    // What the text says: two clusters, five clients, TLS verified for alpha only.
    let (status_v, list_v) = (&outputs[1], &outputs[3]);
    assert!(
        status_v.contains("TLS:\t\t\t\tSupported (client certificate required)\n"),
        "{status_v}"
    );
    assert!(
        status_v.contains("Connected clients:\t\t5\nConnected clusters:\t\t2\n"),
        "{status_v}"
    );
    assert!(
        list_v.starts_with("Cluster \"alpha\":\n    Algorithm:\t\tFifty-Fifty split\n"),
        "{list_v}"
    );
    assert_eq!(
        list_v
            .matches("TLS active:\t\tYes (client certificate verified)\n")
            .count(),
        2,
        "{list_v}"
    );
    assert!(
        list_v.contains(
            "Cluster \"beta\":\n    Algorithm:\t\tTest\n    Tie-breaker:\tNode with node ID 2\n"
        ),
        "{list_v}"
    );
    assert!(
        list_v.contains("Configured node list:\t1 (10), 2 (20)\n"),
        "{list_v}"
    );
    assert!(
        list_v.contains("Heuristics:\t\tPass (membership: Pass, regular: Undefined)\n"),
        "{list_v}"
    );
    assert!(!list_v.contains("gamma"));
    assert!(outputs[4].starts_with("Cluster \"alpha\"") && !outputs[4].contains("beta"));
    assert!(outputs[8].is_empty());

    // Our own view of the same daemon.
    let (json, _, code) = run(
        Path::new(env!("CARGO_BIN_EXE_qnetd")),
        &["status", "--json", "-p", daemon.socket.to_str().unwrap()],
    );
    assert_eq!(code, Some(0));
    let json = String::from_utf8(json).unwrap();
    assert!(
        json.contains("\"connected_clients\":5") && json.contains("\"name\":\"beta\""),
        "{json}"
    );

    // -H from Debian's tool stops the daemon cleanly and removes the socket.
    let sock = daemon.socket.to_str().unwrap().to_string();
    let (out, err, code) = run_tool_in(&tools.0, &["-p", &sock, "-H"]);
    assert_eq!((out, err, code), (vec![], vec![], Some(0)));
    let log = daemon.log.clone();
    assert_eq!(
        daemon.wait_exit(Duration::from_secs(10)),
        Some(0),
        "{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
    assert!(!daemon.socket.exists());
}

#[test]
fn our_tool_shuts_down_the_running_daemon() {
    let dir = TempDir::new("tool-compare-h");
    let mut daemon = OurDaemon::start(dir.path(), &["--tls", "off"]);
    let tools = tool_pair(dir.path());
    let sock = daemon.socket.to_str().unwrap().to_string();
    let (out, err, code) = run_tool_in(&tools.1, &["-p", &sock, "-H"]);
    assert_eq!((out, err, code), (vec![], vec![], Some(0)));
    assert_eq!(daemon.wait_exit(Duration::from_secs(10)), Some(0));
    // And now both tools report the daemon gone, identically.
    let debian = run_tool_in(&tools.0, &["-p", &sock, "-s"]);
    assert_eq!(run_tool_in(&tools.1, &["-p", &sock, "-s"]), debian);
    assert_eq!(debian.2, Some(3));
}

/// Mask the client ports (and the server port) so two daemons' texts can be compared.
fn mask_ports(text: &str) -> String {
    text.lines()
        .map(|l| match l.rfind("127.0.0.1:") {
            Some(i) => format!("{}127.0.0.1:PORT", &l[..i]),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn same_status_text_as_debian_daemon_for_the_same_sessions() {
    let dir = TempDir::new("daemon-compare");
    let debian = DebianDaemon::start(dir.path());
    let ours_dir = dir.path().join("ours");
    std::fs::create_dir_all(&ours_dir).unwrap();
    // Upstream's unlimited -m: our default is sized from memory and shows in `-s -v`, where
    // Debian's unlimited default shows no line (docs/daemon.md, "Memory").
    let ours = OurDaemon::start(&ours_dir, &["--tls", "off", "-m", "0"]);
    let _debian_probes = connect_clusters(SocketAddr::from(([127, 0, 0, 1], debian.port)), None);
    let _our_probes = connect_clusters(ours.addr, None);
    let tool = Path::new(DEBIAN_TOOL);
    for flags in [&["-s", "-v"][..], &["-l", "-v"], &["-l"]] {
        let mut a = vec!["-p", debian.socket.to_str().unwrap()];
        a.extend_from_slice(flags);
        let want = run(tool, &a);
        let mut b = vec!["-p", ours.socket.to_str().unwrap()];
        b.extend_from_slice(flags);
        let got = run(tool, &b);
        let text = String::from_utf8_lossy(&want.0);
        assert!(
            text.contains("Connected clusters:\t\t2") || text.contains("Cluster \"beta\":\n"),
            "{text}"
        );
        assert_eq!(
            mask_ports(&String::from_utf8_lossy(&got.0)),
            mask_ports(&String::from_utf8_lossy(&want.0)),
            "{flags:?}"
        );
        assert_eq!(got.2, want.2);
    }
}
