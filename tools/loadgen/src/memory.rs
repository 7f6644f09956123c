//! `loadgen memory`: what one client costs the daemon, typical and worst case (the 24 KiB per
//! client that sizes `max_clients`, `KIB_PER_CLIENT`, must hold whatever a client sends).
//!
//! For each scenario a fresh daemon is started (the given command, with `-p`, `-m 0`, the
//! pre-INIT caps lifted and the scenario's `--tls`), one warm-up client connects, then N
//! clients do the scenario and stay connected; the RssAnon growth divided by N is printed.
//! Figures only, no assertions (tests/server/server_memory.rs asserts the budget).

use crate::daemon::Daemon;
use crate::wire;
use qnetd::proto::codec::encode;
use qnetd::proto::types::{Message, MsgType, NodeInfo, NodeListType, NodeState, RingId};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

/// One kind of client.
struct Scenario {
    label: &'static str,
    tls: &'static str,
    /// Cluster name length, bytes (TLS clients: the certificate's cluster, whatever this says).
    name_len: usize,
    /// None: PREINIT only (waiting for STARTTLS); Some(n): INIT and three n-node lists.
    lists: Option<usize>,
    /// STARTTLS with the cluster's certificate; all clients are nodes of one cluster.
    over_tls: bool,
}

/// A client connection, plain or TLS.
trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

pub fn run(
    daemon: &[String],
    addr: SocketAddr,
    clients: usize,
    name_len: usize,
    list_len: usize,
    pki: Option<&Path>,
    log: &Path,
) -> Result<(), String> {
    let pki = pki.map(crate::tls::Pki::load).transpose()?;
    let mut scenarios = vec![
        Scenario {
            label: "typical: INIT'd, plaintext, 2-node lists (--tls on)",
            tls: "on",
            name_len: 9,
            lists: Some(2),
            over_tls: false,
        },
        Scenario {
            label: "worst: INIT'd, plaintext, longest name and lists (--tls on)",
            tls: "on",
            name_len,
            lists: Some(list_len),
            over_tls: false,
        },
        Scenario {
            label: "typical: PREINIT, waiting for STARTTLS (--tls required)",
            tls: "required",
            name_len: 9,
            lists: None,
            over_tls: false,
        },
        Scenario {
            label: "worst: PREINIT with the longest name, waiting for STARTTLS (--tls required)",
            tls: "required",
            name_len,
            lists: None,
            over_tls: false,
        },
    ];
    if pki.is_some() {
        scenarios.push(Scenario {
            label: "typical: INIT'd over TLS, 2-node lists (--tls required)",
            tls: "required",
            name_len: 0,
            lists: Some(2),
            over_tls: true,
        });
        scenarios.push(Scenario {
            label: "worst: INIT'd over TLS, fullest lists (--tls required)",
            tls: "required",
            name_len: 0,
            lists: Some(list_len),
            over_tls: true,
        });
    }
    println!("{clients} clients per scenario; name {name_len} bytes, lists {list_len} nodes");
    for s in &scenarios {
        let per_client = measure(daemon, addr, clients, s, pki.as_ref(), log)?;
        println!("{:>8} bytes per client  {}", per_client, s.label);
    }
    Ok(())
}

fn measure(
    daemon: &[String],
    addr: SocketAddr,
    clients: usize,
    s: &Scenario,
    pki: Option<&crate::tls::Pki>,
    log: &Path,
) -> Result<u64, String> {
    let mut argv = daemon.to_vec();
    argv.extend(
        [
            "-p",
            &addr.port().to_string(),
            "-m",
            "0",
            "--tls",
            s.tls,
            "-S",
            "max_preinit_clients=0,max_preinit_per_address=0,max_clients_per_address=0,handshake_timeout=0",
        ]
        .map(String::from),
    );
    let mut d = Daemon::spawn(&argv, log, None)?;
    smol::block_on(d.wait_listening(addr, Duration::from_secs(10)))?;
    let _warm = client(addr, clients, s, pki)?;
    std::thread::sleep(Duration::from_millis(300));
    let before = d.usage()?.rss_anon_kib;
    let held: Vec<Box<dyn Stream>> = (0..clients)
        .map(|i| client(addr, i, s, pki))
        .collect::<Result<_, _>>()?;
    std::thread::sleep(Duration::from_millis(500));
    let after = d.usage()?.rss_anon_kib;
    drop(held);
    smol::block_on(d.stop(Duration::from_secs(5)));
    Ok(after.saturating_sub(before) * 1024 / clients as u64)
}

/// One client of scenario `s` (number `i`; over TLS node `i + 1` of cluster 0), its replies
/// read (refusals are not fatal: a daemon with caps refuses what is beyond them).
fn client(
    addr: SocketAddr,
    i: usize,
    s: &Scenario,
    pki: Option<&crate::tls::Pki>,
) -> Result<Box<dyn Stream>, String> {
    let mut tcp = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let cluster = crate::certs::cluster_name(0);
    let name = if s.over_tls {
        cluster.clone()
    } else {
        let mut name = format!("bench-{i:05}-");
        let len = s.name_len.max(name.len());
        name.extend(std::iter::repeat_n('x', len - name.len()));
        name
    };
    exchange(&mut tcp, &wire::preinit(1, &name), MsgType::Preinit)?;
    let mut c: Box<dyn Stream> = match (s.over_tls, pki) {
        (true, Some(pki)) => {
            tcp.write_all(&wire::starttls(2))
                .map_err(|e| e.to_string())?;
            let host = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
            let conn = rustls::ClientConnection::new(pki.client_config(&cluster)?, host)
                .map_err(|e| e.to_string())?;
            Box::new(rustls::StreamOwned::new(conn, tcp))
        }
        _ => Box::new(tcp),
    };
    let Some(n) = s.lists else {
        return Ok(c);
    };
    let node_id = if s.over_tls { i as u32 + 1 } else { 1 };
    // Heartbeat 120 s, so none is dropped while the others connect.
    let ring = RingId { node_id: 1, seq: 4 };
    exchange(
        &mut c,
        &wire::init(3, node_id, 120_000, ring),
        MsgType::Init,
    )?;
    // The client's own node first (the algorithm wants it listed), then the longest ids.
    let nodes: Vec<NodeInfo> = std::iter::once(node_id)
        .chain((1..n as u32).map(|k| u32::MAX - k))
        .map(|id| NodeInfo {
            node_id: id,
            data_center_id: u32::MAX,
            state: Some(NodeState::Member),
        })
        .collect();
    for (seq, kind) in [
        (4, NodeListType::InitialConfig),
        (5, NodeListType::Membership),
        (6, NodeListType::Quorum),
    ] {
        let mut m = Message::new(MsgType::NodeList);
        m.seq = Some(seq);
        m.node_list_type = Some(kind);
        m.nodes = nodes.clone();
        m.config_version = Some(u64::MAX);
        m.ring_id = Some(RingId {
            node_id: u32::MAX,
            seq: u64::MAX,
        });
        m.quorate = Some(true);
        exchange(&mut c, &encode(&m), MsgType::NodeList)?;
    }
    Ok(c)
}

/// Send `m`, read one reply (any).
fn exchange(c: &mut dyn Stream, frame: &[u8], kind: MsgType) -> Result<(), String> {
    c.write_all(frame).map_err(|e| format!("send: {e}"))?;
    let mut header = [0u8; 6];
    c.read_exact(&mut header)
        .map_err(|e| format!("no reply to {kind:?}: {e}"))?;
    let len = u32::from_be_bytes([header[2], header[3], header[4], header[5]]) as usize;
    let mut body = vec![0u8; len];
    c.read_exact(&mut body).map_err(|e| e.to_string())?;
    Ok(())
}
