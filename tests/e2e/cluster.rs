//! A corosync cluster with a qdevice on every node and one qnetd host, built in a `Lab`:
//! which daemon serves (ours or Debian's), corosync.conf, the `pvecm qdevice setup`
//! certificate sequence, and what the real tools report.

use crate::emulation::{install_native, Emulation};
use crate::lab::{self, Lab, Out, QNETD_ADDR, QNET_NET, RING_NET};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The qnetd host's name in the lab.
pub const QNETD_HOST: &str = "q";

/// Which corosync-qnetd serves the cluster.
#[derive(Clone, Debug)]
pub enum Daemon {
    /// Our multi-call binary, reached through argv[0] symlinks.
    Ours(PathBuf),
    /// Debian's corosync-qnetd package (/usr/bin/corosync-qnetd{,-certutil,-tool}).
    Upstream,
}

impl Daemon {
    /// `QNETD_E2E_UPSTREAM=1` selects Debian's daemon; otherwise ours, from `QNETD_BIN` or the
    /// binary cargo built for this test.
    pub fn from_env() -> Daemon {
        if std::env::var("QNETD_E2E_UPSTREAM").is_ok_and(|v| v == "1") {
            for tool in [
                "corosync-qnetd",
                "corosync-qnetd-certutil",
                "corosync-qnetd-tool",
            ] {
                assert!(
                    Path::new("/usr/bin").join(tool).is_file(),
                    "QNETD_E2E_UPSTREAM=1 needs Debian's corosync-qnetd package; run through .ci/run"
                );
            }
            return Daemon::Upstream;
        }
        Daemon::Ours(Daemon::our_binary())
    }

    /// Our binary: `QNETD_BIN` (the static musl build, in CI) or the one cargo built.
    pub fn our_binary() -> PathBuf {
        let bin = std::env::var_os("QNETD_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_qnetd")));
        assert!(bin.is_file(), "qnetd binary {} not found", bin.display());
        bin
    }

    pub fn label(&self) -> &'static str {
        match self {
            Daemon::Ours(_) => "ours",
            Daemon::Upstream => "upstream",
        }
    }

    pub fn is_ours(&self) -> bool {
        matches!(self, Daemon::Ours(_))
    }
}

/// How the qdevice on the nodes is configured (corosync.conf `quorum.device`).
#[derive(Clone, Debug)]
pub struct DeviceConf {
    pub algorithm: &'static str,
    /// `quorum.device.votes`; pvecm writes it only for ffsplit.
    pub votes: Option<u32>,
    pub tls: &'static str,
}

impl DeviceConf {
    pub fn ffsplit() -> DeviceConf {
        DeviceConf {
            algorithm: "ffsplit",
            votes: Some(1),
            tls: "on",
        }
    }
    pub fn lms() -> DeviceConf {
        DeviceConf {
            algorithm: "lms",
            votes: None,
            tls: "on",
        }
    }
}

/// The whole test bed: lab, daemon choice, cluster name and node names (`n1`, `n2`, ...).
pub struct Bed {
    pub lab: Lab,
    pub daemon: Daemon,
    pub cluster: String,
    pub nodes: Vec<String>,
    /// The lab host the daemon and its certutil run on (QNETD_HOST unless a test moves it).
    pub qnetd: String,
    bin_dir: PathBuf,
    /// Set when our binary is a foreign router build run under qemu-user (`QNETD_QEMU`).
    pub emulation: Option<Emulation>,
}

impl Bed {
    /// A qnetd host on the qnet network and `nodes` cluster nodes on both networks.
    pub fn new(test: &str, nodes: usize) -> Bed {
        let daemon = Daemon::from_env();
        let mut lab = Lab::new(test);
        lab.add_host(QNETD_HOST, &[("qnet", "eth1", format!("{QNETD_ADDR}/24"))]);
        let mut names = Vec::new();
        for i in 1..=nodes {
            let name = format!("n{i}");
            lab.add_host(
                &name,
                &[
                    ("ring", "eth0", format!("{RING_NET}.{}/24", 10 + i)),
                    ("qnet", "eth1", format!("{QNET_NET}.{}/24", 10 + i)),
                ],
            );
            names.push(name);
        }
        let bin_dir = lab.dir.join("bin");
        fs::create_dir_all(&bin_dir).expect("bin dir");
        // Ours is always there (the migration scenarios run both daemons, one after the other).
        let bin = match &daemon {
            Daemon::Ours(bin) => bin.clone(),
            Daemon::Upstream => Daemon::our_binary(),
        };
        let mut emulation = Emulation::from_env();
        match emulation.as_mut() {
            None => install_native(&bin, &bin_dir),
            Some(emu) => emu.install(&bin, &bin_dir),
        }
        Bed {
            lab,
            daemon,
            cluster: "qe2e".to_string(),
            nodes: names,
            qnetd: QNETD_HOST.to_string(),
            bin_dir,
            emulation,
        }
    }

    /// Path of one of the daemon-side programs (`corosync-qnetd`, `-certutil`, `-tool`, `qnetd`).
    pub fn daemon_program(&self, name: &str) -> PathBuf {
        match self.daemon {
            Daemon::Ours(_) => self.bin_dir.join(name),
            Daemon::Upstream => Path::new("/usr/bin").join(name),
        }
    }

    /// Our binary inside the lab (whichever daemon serves).
    pub fn our_program(&self) -> PathBuf {
        self.bin_dir.join("qnetd")
    }

    pub fn qnetd_host(&mut self) -> &mut lab::Host {
        let name = self.qnetd.clone();
        self.lab.host(&name)
    }

    /// `corosync-qnetd-certutil ARGS` on the qnetd host.
    pub fn qnetd_certutil(&self, args: &[&str]) -> Out {
        let prog = self.daemon_program("corosync-qnetd-certutil");
        self.lab.host_ref(&self.qnetd).run(prog, args)
    }

    // ---- certificates -------------------------------------------------------------------

    /// The qnetd side of `pvecm qdevice setup` step 2: create the CA and server certificate.
    pub fn init_qnetd_ca(&self) {
        let out = self.qnetd_certutil(&["-i"]);
        assert!(
            out.ok(),
            "corosync-qnetd-certutil -i failed:\n{}",
            out.text()
        );
        assert!(
            self.qnetd_file("/etc/corosync/qnetd/nssdb/qnetd-cacert.crt")
                .is_file(),
            "corosync-qnetd-certutil -i left no qnetd-cacert.crt:\n{}",
            out.text()
        );
    }

    fn qnetd_file(&self, inside: &str) -> PathBuf {
        self.lab.host_ref(&self.qnetd).path(inside)
    }

    /// Node side `corosync-qdevice-net-certutil -i -c <qnetd's CA>` (pvecm step 4), with the
    /// CA file copied the way scp would.
    pub fn node_init_db(&self, node: &str, ca_from: &str) {
        let host = self.lab.host_ref(node);
        let ca = self
            .lab
            .host_ref(ca_from)
            .path("/etc/corosync/qnetd/nssdb/qnetd-cacert.crt");
        fs::copy(&ca, host.path("/tmp/qnetd-cacert.crt")).expect("copy CA to node");
        host.run_ok(
            "corosync-qdevice-net-certutil",
            &["-i", "-c", "/tmp/qnetd-cacert.crt"],
        );
    }

    /// pvecm steps 5-9 for one node: CSR `CN=<cn>` on `node`, signed by the certutil on
    /// `signer` (normally the qnetd host), imported with `-M`. Returns the p12 (host path).
    pub fn node_request_and_import(&self, node: &str, cn: &str, signer: &str) -> PathBuf {
        let host = self.lab.host_ref(node);
        host.run_ok("corosync-qdevice-net-certutil", &["-r", "-n", cn]);
        let signer_host = self.lab.host_ref(signer);
        fs::copy(
            host.path("/etc/corosync/qdevice/net/nssdb/qdevice-net-node.crq"),
            signer_host.path("/tmp/qdevice-net-node.crq"),
        )
        .expect("copy CSR to qnetd host");
        let prog = self.daemon_program("corosync-qnetd-certutil");
        signer_host.run_ok(prog, &["-s", "-c", "/tmp/qdevice-net-node.crq", "-n", cn]);
        let crt = format!("cluster-{cn}.crt");
        fs::copy(
            signer_host.path(&format!("/etc/corosync/qnetd/nssdb/{crt}")),
            host.path(&format!("/etc/corosync/qdevice/net/nssdb/{crt}")),
        )
        .expect("copy cluster certificate to node");
        host.run_ok(
            "corosync-qdevice-net-certutil",
            &[
                "-M",
                "-c",
                &format!("/etc/corosync/qdevice/net/nssdb/{crt}"),
            ],
        );
        host.path("/etc/corosync/qdevice/net/nssdb/qdevice-net-node.p12")
    }

    /// pvecm step 9 on the other nodes: import the p12 with `-m`.
    pub fn node_import_p12(&self, node: &str, p12: &Path) {
        let host = self.lab.host_ref(node);
        fs::copy(p12, host.path("/tmp/qdevice-net-node.p12")).expect("copy p12");
        host.run_ok(
            "corosync-qdevice-net-certutil",
            &["-m", "-c", "/tmp/qdevice-net-node.p12"],
        );
    }

    /// The whole `pvecm qdevice setup` certificate sequence for every node.
    pub fn enroll_all(&self) {
        self.init_qnetd_ca();
        for n in &self.nodes {
            self.node_init_db(n, &self.qnetd);
        }
        let first = &self.nodes[0];
        let p12 = self.node_request_and_import(first, &self.cluster, &self.qnetd);
        for n in &self.nodes[1..] {
            self.node_import_p12(n, &p12);
        }
        if let (Some(emu), Daemon::Ours(_)) = (&self.emulation, &self.daemon) {
            let calls = emu.check_certutil_calls();
            println!(
                "    CA and node certificate made by the emulated certutil ({calls} calls under {})",
                emu.label()
            );
        }
    }

    // ---- configuration and processes ----------------------------------------------------

    /// Writes corosync.conf on `node` (all nodes share the node list).
    pub fn write_conf(&self, node: &str, dev: &DeviceConf) {
        self.write_conf_cluster(node, &self.cluster, &self.nodes, dev);
    }

    /// Writes corosync.conf on `node` for cluster `cluster` of `members` (`nN` has node id N
    /// and ring address .1N): a second cluster in the same lab uses other nodes.
    pub fn write_conf_cluster(
        &self,
        node: &str,
        cluster: &str,
        members: &[String],
        dev: &DeviceConf,
    ) {
        let mut nodelist = String::new();
        for m in members {
            let id = node_id(m) as usize;
            nodelist.push_str(&format!(
                "  node {{\n    nodeid: {id}\n    name: node{id}\n    ring0_addr: {RING_NET}.{}\n  }}\n",
                10 + id
            ));
        }
        let votes = dev
            .votes
            .map(|v| format!("    votes: {v}\n"))
            .unwrap_or_default();
        let conf = format!(
            "totem {{\n  version: 2\n  cluster_name: {cluster}\n  transport: knet\n  \
             crypto_cipher: none\n  crypto_hash: none\n  token: 1000\n}}\n\
             nodelist {{\n{nodelist}}}\n\
             quorum {{\n  provider: corosync_votequorum\n  device {{\n    model: net\n{votes}    \
             net {{\n      host: {QNETD_ADDR}\n      algorithm: {algo}\n      tls: {tls}\n    }}\n  }}\n}}\n\
             logging {{\n  to_stderr: yes\n  to_syslog: no\n  to_logfile: no\n  timestamp: hires\n}}\n",
            algo = dev.algorithm,
            tls = dev.tls,
        );
        let path = self.lab.host_ref(node).path("/etc/corosync/corosync.conf");
        fs::write(path, conf).expect("write corosync.conf");
    }

    pub fn write_conf_all(&self, dev: &DeviceConf) {
        for n in &self.nodes {
            self.write_conf(n, dev);
        }
    }

    /// Starts the daemon on the qnetd host (foreground, debug) and waits until it listens.
    pub fn start_daemon(&mut self, extra: &[&str]) {
        let prog = self.daemon_program("corosync-qnetd");
        let mut args = vec!["-f", "-d"];
        args.extend_from_slice(extra);
        self.qnetd_host().spawn("qnetd", prog, &args);
        let label = self.daemon.label();
        let qnetd = self.qnetd.clone();
        let (_, took) = lab::wait_for(
            &format!("{label} corosync-qnetd to listen on port 5403"),
            Duration::from_secs(30),
            Duration::from_millis(50),
            || {
                let host = self.lab.host(&qnetd);
                if !host.proc("qnetd").alive() {
                    return Err(format!(
                        "corosync-qnetd exited:\n{}",
                        host.proc("qnetd").log_tail(30)
                    ));
                }
                if listening_on(host, 5403) {
                    Ok(())
                } else {
                    Err("not listening yet".into())
                }
            },
        );
        println!(
            "    [{label}] daemon listening after {:.2}s",
            took.as_secs_f64()
        );
        if self.emulation.is_some() && self.daemon.is_ours() {
            let pid = self.daemon_pid();
            if let Some(emu) = &self.emulation {
                println!(
                    "    [{label} under {}] {}",
                    emu.label(),
                    emu.check_daemon(pid)
                );
            }
        }
    }

    pub fn daemon_pid(&mut self) -> u32 {
        self.qnetd_host().proc("qnetd").pid()
    }

    /// The daemon's peak and current RSS (kB).
    pub fn daemon_memory(&mut self) -> (Option<u64>, Option<u64>) {
        let pid = self.daemon_pid();
        lab::memory_kb(pid)
    }

    pub fn start_corosync(&mut self, node: &str) {
        self.lab.host(node).spawn("corosync", "corosync", &["-f"]);
    }

    pub fn start_qdevice(&mut self, node: &str) {
        self.lab
            .host(node)
            .spawn("qdevice", "corosync-qdevice", &["-f", "-d"]);
    }

    /// Starts corosync on `nodes` and waits until each sees all of them as members.
    pub fn start_corosync_and_wait(&mut self, nodes: &[String]) -> Duration {
        for n in nodes {
            self.start_corosync(n);
        }
        let want: Vec<u32> = nodes.iter().map(|n| node_id(n)).collect();
        let (_, took) = lab::wait_for(
            "corosync membership of all nodes",
            Duration::from_secs(60),
            Duration::from_millis(100),
            || {
                for n in nodes {
                    let q = self.quorum(n)?;
                    if q.members != want {
                        return Err(format!("{n}: members {:?}, want {want:?}", q.members));
                    }
                }
                Ok(())
            },
        );
        took
    }

    // ---- observation --------------------------------------------------------------------

    /// `corosync-quorumtool -s` on `node`, parsed.
    pub fn quorum(&self, node: &str) -> Result<QuorumView, String> {
        let out = self.lab.host_ref(node).run("corosync-quorumtool", &["-s"]);
        QuorumView::parse(&out.stdout).ok_or_else(|| format!("{node}: {}", out.text()))
    }

    /// `corosync-qdevice-tool -s -v` on `node` as key → value.
    pub fn qdevice_status(&self, node: &str) -> Result<BTreeMap<String, String>, String> {
        let out = self
            .lab
            .host_ref(node)
            .run("corosync-qdevice-tool", &["-s", "-v"]);
        if !out.ok() {
            return Err(format!("{node}: corosync-qdevice-tool: {}", out.text()));
        }
        Ok(parse_colon_pairs(&out.stdout))
    }

    /// Is the qdevice on `node` connected to qnetd?
    pub fn qdevice_connected(&self, node: &str) -> bool {
        self.qdevice_status(node)
            .map(|s| s.get("State").is_some_and(|v| v == "Connected"))
            .unwrap_or(false)
    }

    /// `corosync-qnetd-tool ARGS` on the qnetd host.
    pub fn qnetd_tool(&self, args: &[&str]) -> Out {
        let prog = self.daemon_program("corosync-qnetd-tool");
        self.lab.host_ref(&self.qnetd).run(prog, args)
    }

    /// "Connected clients" from `corosync-qnetd-tool -s` (None if the tool fails).
    pub fn qnetd_connected_clients(&self) -> Option<u32> {
        let out = self.qnetd_tool(&["-s"]);
        if !out.ok() {
            return None;
        }
        parse_colon_pairs(&out.stdout)
            .get("Connected clients")
            .and_then(|v| v.parse().ok())
    }

    /// Waits until every node in `nodes` is quorate with `members` and counts the qdevice vote.
    pub fn wait_quorate_with_qdevice(
        &self,
        nodes: &[String],
        members: &[u32],
        limit: Duration,
    ) -> Duration {
        let (_, took) = lab::wait_for(
            &format!("{nodes:?} quorate with members {members:?} and the qdevice vote"),
            limit,
            Duration::from_millis(100),
            || {
                for n in nodes {
                    let q = self.quorum(n)?;
                    if !(q.quorate && q.qdevice_vote_counted() && q.members == members) {
                        return Err(format!("{n}:\n{}", q.raw));
                    }
                }
                Ok(())
            },
        );
        took
    }
}

/// Node id of `nN`.
pub fn node_id(node: &str) -> u32 {
    node.trim_start_matches('n').parse().expect("node name nN")
}

/// Whether something in `host`'s network namespace listens on TCP `port` (v4 or v6).
pub fn listening_on(host: &lab::Host, port: u16) -> bool {
    let out = host.run("cat", &["/proc/net/tcp", "/proc/net/tcp6"]);
    let want = format!(":{port:04X}");
    out.stdout.lines().skip(1).any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() > 3 && f[1].ends_with(&want) && f[3] == "0A"
    })
}

fn parse_colon_pairs(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// What `corosync-quorumtool -s` says.
#[derive(Debug, Clone)]
pub struct QuorumView {
    pub node_id: u32,
    pub quorate: bool,
    pub total_votes: u32,
    pub expected_votes: u32,
    /// Node ids in the membership table (without the Qdevice row), in table order, sorted.
    pub members: Vec<u32>,
    /// Votes of the Qdevice row, if the device is registered.
    pub qdevice_votes: Option<u32>,
    /// Qdevice flags of the local node, e.g. ["A", "V", "NMW"].
    pub local_qdevice_flags: Vec<String>,
    pub raw: String,
}

impl QuorumView {
    pub fn parse(text: &str) -> Option<QuorumView> {
        let kv = parse_colon_pairs(text);
        let num = |k: &str| {
            kv.get(k)
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        };
        let mut members = Vec::new();
        let mut qdevice_votes = None;
        let mut local_flags = Vec::new();
        let mut in_table = false;
        for line in text.lines() {
            if line.trim_start().starts_with("Nodeid") {
                in_table = true;
                continue;
            }
            if !in_table {
                continue;
            }
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 3 {
                continue;
            }
            let (Ok(id), Ok(votes)) = (f[0].parse::<u32>(), f[1].parse::<u32>()) else {
                continue;
            };
            // "0  1  Qdevice", or "0  0  Qdevice (votes 1)" while the device casts no vote.
            if id == 0 && f.contains(&"Qdevice") {
                qdevice_votes = Some(votes);
                continue;
            }
            members.push(id);
            if line.contains("(local)") && f[2].contains(',') {
                local_flags = f[2].split(',').map(str::to_string).collect();
            }
        }
        members.sort_unstable();
        Some(QuorumView {
            node_id: num("Node ID")?,
            quorate: kv.get("Quorate")? == "Yes",
            total_votes: num("Total votes")?,
            expected_votes: num("Expected votes")?,
            members,
            qdevice_votes,
            local_qdevice_flags: local_flags,
            raw: text.to_string(),
        })
    }

    /// The local qdevice casts its vote and votequorum counts it.
    pub fn qdevice_vote_counted(&self) -> bool {
        let cast = self.local_qdevice_flags.iter().any(|f| f == "V");
        let votes = self.qdevice_votes.unwrap_or(0);
        cast && votes > 0 && self.total_votes == self.members.len() as u32 + votes
    }
}
