//! End-to-end tests: real corosync 3 + real corosync-qdevice (Debian packages) on 2-4 nodes,
//! each in its own network and mount namespace, against our daemon (default; `QNETD_BIN`
//! picks another build) or Debian's corosync-qnetd (`QNETD_E2E_UPSTREAM=1`), with
//! certificates made the way `pvecm qdevice setup` makes them: the daemon's
//! `corosync-qnetd-certutil` on the qnetd host, the real `corosync-qdevice-net-certutil` on
//! the nodes.
//!
//! Lab (tests/e2e/lab.rs): a switch namespace with bridges `ring` (corosync/knet) and `qnet`
//! (qdevice → qnetd); every node has one cable into each, the qnetd host only into `qnet`,
//! so the ring can be cut while every node still reaches qnetd. Addresses (10.213.x) exist only
//! inside the lab. Each host has private /etc/corosync, /var/lib/corosync, /run, /tmp and
//! /dev/shm. Everything is torn down when a test ends, also when it fails (its logs are then
//! printed and kept under target/tmp/e2e/).
//!
//! Needs root and the Debian packages corosync, corosync-qdevice, corosync-qnetd,
//! libnss3-tools, iproute2, procps; `.ci/run` provides them. Run alone and sequentially
//! (`tools/e2e/compare.sh` runs both daemons and prints the figures side by side):
//!
//! ```text
//! cargo test --test e2e -- --test-threads=1 --nocapture
//! QNETD_E2E_UPSTREAM=1 cargo test --test e2e -- --test-threads=1 --nocapture
//! ```
//!
//! Every scenario prints one `E2E-RESULT` line with its measured times and the daemon's
//! memory (VmHWM/VmRSS in kB, read from /proc while it serves). Times are figures, not
//! assertions. `quorate_after` runs from starting corosync-qdevice on every node (corosync
//! membership already formed, daemon listening) until every node's `corosync-quorumtool -s`
//! shows it quorate with the qdevice vote counted; the other `*_after` figures run from the
//! event (crash, cable cut, restart) to the state the scenario waits for.

// Tests report to the harness with std's macros (clippy.toml refuses them in the product).
#![allow(clippy::disallowed_macros)]

#[path = "e2e/cluster.rs"]
mod cluster;
#[path = "e2e/emulation.rs"]
mod emulation;
#[path = "e2e/lab.rs"]
mod lab;
#[path = "e2e/router.rs"]
mod router;
#[path = "support/mod.rs"]
mod support;
use support::router as router_support;

use cluster::{node_id, Bed, DeviceConf, QNETD_HOST};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

const QUORATE_LIMIT: Duration = Duration::from_secs(60);
/// How long a refused client is watched to make sure it never gets connected.
const REFUSAL_WINDOW: Duration = Duration::from_secs(15);

/// One result line per scenario, easy to grep from CI output.
struct Report {
    line: String,
}

impl Report {
    fn new(scenario: &str, bed: &Bed) -> Report {
        Report {
            line: format!(
                "E2E-RESULT scenario={scenario} daemon={}{}",
                bed.daemon.label(),
                bed.emulation
                    .as_ref()
                    .filter(|_| bed.daemon.is_ours())
                    .map(|e| format!(" emulated={}", e.label()))
                    .unwrap_or_default()
            ),
        }
    }
    fn time(&mut self, key: &str, d: Duration) {
        let _ = write!(self.line, " {key}={:.2}s", d.as_secs_f64());
    }
    fn memory(&mut self, bed: &mut Bed) {
        let (hwm, rss) = bed.daemon_memory();
        let show = |v: Option<u64>| v.map_or("?".to_string(), |v| v.to_string());
        let _ = write!(
            self.line,
            " daemon_vmhwm_kb={} daemon_vmrss_kb={}",
            show(hwm),
            show(rss)
        );
    }
    fn print(self) {
        println!("{}", self.line);
    }
}

/// A started, enrolled 2-node ffsplit cluster; returns the time from starting the qdevices to
/// both nodes being quorate with the qdevice vote.
fn two_node_ffsplit(test: &str) -> (Bed, Duration) {
    ffsplit_cluster(test, 2)
}

fn ffsplit_cluster(test: &str, nodes: usize) -> (Bed, Duration) {
    let mut bed = Bed::new(test, nodes);
    bed.enroll_all();
    bed.write_conf_all(&DeviceConf::ffsplit());
    bed.start_daemon(&[]);
    let names = bed.nodes.clone();
    let formed = bed.start_corosync_and_wait(&names);
    println!(
        "    corosync membership of {nodes} nodes formed after {:.2}s",
        formed.as_secs_f64()
    );
    let members: Vec<u32> = (1..=nodes as u32).collect();
    let took = start_qdevices_and_wait(&mut bed, &members);
    (bed, took)
}

fn start_qdevices_and_wait(bed: &mut Bed, members: &[u32]) -> Duration {
    let nodes = bed.nodes.clone();
    let start = Instant::now();
    for n in &nodes {
        bed.start_qdevice(n);
    }
    bed.wait_quorate_with_qdevice(&nodes, members, QUORATE_LIMIT);
    start.elapsed()
}

/// Fails if `node`'s qdevice reports `State: Connected` at any time within `window`
/// (a qdevice that has exited is not connected either; callers check why it is not).
fn assert_never_connected(bed: &Bed, node: &str, window: Duration, why: &str) {
    let start = Instant::now();
    while start.elapsed() < window {
        if let Ok(st) = bed.qdevice_status(node) {
            assert_ne!(
                st.get("State").map(String::as_str),
                Some("Connected"),
                "{node}'s qdevice got connected although {why}: {st:?}"
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The lines of `node`'s qdevice log that contain `needle`.
fn qdevice_log_lines(bed: &mut Bed, node: &str, needle: &str) -> Vec<String> {
    let log = bed.lab.host(node).proc("qdevice").log.clone();
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_string)
        .collect()
}

/// Prints the daemon's log lines about `addr_part` (the refused client), for the report.
fn print_daemon_lines_about(bed: &mut Bed, addr_part: &str) {
    let log = bed.qnetd_host().proc("qnetd").log.clone();
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| l.contains(addr_part)).collect();
    println!(
        "    daemon log lines mentioning {addr_part} ({} total, last 5):",
        lines.len()
    );
    for l in lines.iter().rev().take(5).rev() {
        println!("      {l}");
    }
}

/// Waits until each `(node, members, quorate)` holds: the node sees exactly `members`, is
/// quorate or not as given, and a quorate node counts the qdevice vote. Returns how long.
fn wait_partitions(bed: &Bed, what: &str, expect: &[(&str, &[u32], bool)]) -> Duration {
    let (_, took) = lab::wait_for(what, QUORATE_LIMIT, Duration::from_millis(100), || {
        let mut seen = String::new();
        let mut ok = true;
        for &(n, members, quorate) in expect {
            let q = bed.quorum(n)?;
            let good = q.members == members
                && q.quorate == quorate
                && (!quorate || q.qdevice_vote_counted());
            ok &= good;
            seen.push_str(&format!("{n}:\n{}\n", q.raw));
        }
        if ok {
            Ok(())
        } else {
            Err(seen)
        }
    });
    took
}

#[test]
fn e2e_ffsplit_two_nodes_quorate_with_qdevice_vote() {
    let (mut bed, took) = two_node_ffsplit("ffsplit2");
    for n in ["n1", "n2"] {
        let q = bed.quorum(n).expect("quorumtool");
        // libqb IPC is per network namespace: each node's tool reaches its own corosync.
        assert_eq!(
            q.node_id,
            node_id(n),
            "{n}'s quorumtool talked to another node"
        );
        assert_eq!(q.qdevice_votes, Some(1), "Qdevice votes on {n}:\n{}", q.raw);
        assert_eq!((q.expected_votes, q.total_votes), (3, 3), "{n}:\n{}", q.raw);
        let st = bed.qdevice_status(n).expect("qdevice-tool");
        assert_eq!(st.get("State").map(String::as_str), Some("Connected"));
        assert_eq!(
            st.get("TLS active").map(String::as_str),
            Some("Yes (client certificate sent)"),
            "{n}: {st:?}"
        );
        assert_eq!(
            st.get("Algorithm").map(String::as_str),
            Some("Fifty-Fifty split")
        );
    }
    let list = bed.qnetd_tool(&["-l", "-v"]);
    assert!(
        list.ok(),
        "corosync-qnetd-tool -l -v failed: {}",
        list.text()
    );
    assert!(
        list.stdout.contains("Cluster \"qe2e\":")
            && list.stdout.contains("Node ID 1:")
            && list.stdout.contains("Node ID 2:"),
        "corosync-qnetd-tool -l -v does not list both nodes:\n{}",
        list.stdout
    );
    // The daemon checked both nodes' certificates (upstream's wording; docs/protocol.md, "Status socket: list text").
    let verified = list
        .stdout
        .matches("TLS active:\t\tYes (client certificate verified)")
        .count();
    assert_eq!(verified, 2, "corosync-qnetd-tool -l -v:\n{}", list.stdout);
    assert_eq!(bed.qnetd_connected_clients(), Some(2));
    let mut r = Report::new("ffsplit-2-nodes-quorate", &bed);
    r.time("quorate_after", took);
    r.memory(&mut bed);
    r.print();
}

#[test]
fn e2e_ffsplit_node_lost_survivor_stays_quorate() {
    let (mut bed, took) = two_node_ffsplit("nodelost");
    let start = Instant::now();
    bed.lab.host("n2").crash("qdevice");
    bed.lab.host("n2").crash("corosync");
    let mut lost_quorum = Vec::new();
    let (_, converged) = lab::wait_for(
        "n1 alone, quorate with the qdevice vote",
        QUORATE_LIMIT,
        Duration::from_millis(100),
        || {
            let q = bed.quorum("n1")?;
            if !q.quorate {
                lost_quorum.push(format!(
                    "at {:.2}s:\n{}",
                    start.elapsed().as_secs_f64(),
                    q.raw
                ));
            }
            if q.members == [1] && q.quorate && q.qdevice_vote_counted() {
                Ok(())
            } else {
                Err(q.raw)
            }
        },
    );
    assert!(
        lost_quorum.is_empty(),
        "the survivor lost quorum during the transition:\n{}",
        lost_quorum.join("\n")
    );
    let mut r = Report::new("ffsplit-node-lost", &bed);
    r.time("quorate_after", took);
    r.time("survivor_alone_quorate_after", converged);
    r.memory(&mut bed);
    r.print();
}

#[test]
fn e2e_ffsplit_link_cut_lowest_node_id_partition_wins() {
    let (mut bed, took) = two_node_ffsplit("linkcut");
    bed.lab.set_link("ring", "n2", false);
    let split = wait_partitions(
        &bed,
        "n1 quorate alone and n2 inquorate alone",
        &[("n1", &[1], true), ("n2", &[2], false)],
    );
    // Exactly one partition stays quorate, and it stays that way.
    let hold = Instant::now();
    while hold.elapsed() < Duration::from_secs(5) {
        let q1 = bed.quorum("n1").expect("n1 quorumtool");
        let q2 = bed.quorum("n2").expect("n2 quorumtool");
        assert!(
            q1.quorate && !q2.quorate,
            "split decision flapped:\n{}\n{}",
            q1.raw,
            q2.raw
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    bed.lab.set_link("ring", "n2", true);
    let nodes = bed.nodes.clone();
    let healed = bed.wait_quorate_with_qdevice(&nodes, &[1, 2], QUORATE_LIMIT);
    let mut r = Report::new("ffsplit-link-cut", &bed);
    r.time("quorate_after", took);
    r.time("split_decided_after", split);
    r.time("healed_quorate_after", healed);
    r.memory(&mut bed);
    r.print();
}

#[test]
fn e2e_daemon_restart_votes_come_back() {
    let (mut bed, took) = two_node_ffsplit("restart");
    let (hwm_before, _) = bed.daemon_memory();
    bed.qnetd_host().stop("qnetd", Duration::from_secs(10));
    lab::wait_for(
        "the qdevice vote to go away after the daemon stopped",
        Duration::from_secs(60),
        Duration::from_millis(100),
        || {
            let q = bed.quorum("n1")?;
            if q.qdevice_vote_counted() {
                Err(q.raw)
            } else {
                Ok(())
            }
        },
    );
    let start = Instant::now();
    bed.start_daemon(&[]);
    let nodes = bed.nodes.clone();
    bed.wait_quorate_with_qdevice(&nodes, &[1, 2], QUORATE_LIMIT);
    let back = start.elapsed();
    let mut r = Report::new("daemon-restart", &bed);
    r.time("quorate_after", took);
    r.time("votes_back_after_restart", back);
    let _ = write!(
        r.line,
        " first_run_vmhwm_kb={}",
        hwm_before.map_or("?".into(), |v| v.to_string())
    );
    r.memory(&mut bed);
    r.print();
}

#[test]
fn e2e_lms_three_nodes_last_man_standing() {
    let mut bed = Bed::new("lms3", 3);
    bed.enroll_all();
    bed.write_conf_all(&DeviceConf::lms());
    bed.start_daemon(&[]);
    let nodes = bed.nodes.clone();
    bed.start_corosync_and_wait(&nodes);
    let took = start_qdevices_and_wait(&mut bed, &[1, 2, 3]);
    for n in &nodes {
        let q = bed.quorum(n).expect("quorumtool");
        // votequorum gives an lms device nodes-1 votes when `votes` is not set (pvecm's conf).
        assert_eq!(q.qdevice_votes, Some(2), "{n}:\n{}", q.raw);
        assert_eq!((q.expected_votes, q.total_votes), (5, 5), "{n}:\n{}", q.raw);
        let st = bed.qdevice_status(n).expect("qdevice-tool");
        assert_eq!(st.get("Algorithm").map(String::as_str), Some("LMS"));
    }
    for n in ["n3", "n2"] {
        bed.lab.host(n).crash("qdevice");
        bed.lab.host(n).crash("corosync");
    }
    let (_, alone) = lab::wait_for(
        "n1 as last man standing, quorate with 1 + 2 votes",
        QUORATE_LIMIT,
        Duration::from_millis(100),
        || {
            let q = bed.quorum("n1")?;
            if q.members == [1] && q.quorate && q.qdevice_vote_counted() && q.total_votes == 3 {
                Ok(())
            } else {
                Err(q.raw)
            }
        },
    );
    let mut r = Report::new("lms-3-nodes", &bed);
    r.time("quorate_after", took);
    r.time("last_man_quorate_after", alone);
    r.memory(&mut bed);
    r.print();
}

#[test]
fn e2e_tls_required_refuses_plain_client() {
    let mut bed = Bed::new("tlsreq", 2);
    bed.enroll_all();
    bed.write_conf("n1", &DeviceConf::ffsplit());
    bed.write_conf(
        "n2",
        &DeviceConf {
            tls: "off",
            ..DeviceConf::ffsplit()
        },
    );
    bed.start_daemon(&["-s", "req"]);
    let status = bed.qnetd_tool(&["-s"]);
    let nodes = bed.nodes.clone();
    bed.start_corosync_and_wait(&nodes);
    for n in &nodes {
        bed.start_qdevice(n);
    }
    let (_, connected) = lab::wait_for(
        "n1's qdevice connected over TLS",
        QUORATE_LIMIT,
        Duration::from_millis(100),
        || {
            let st = bed.qdevice_status("n1")?;
            let ok = st.get("State").is_some_and(|v| v == "Connected")
                && st
                    .get("TLS active")
                    .is_some_and(|v| v == "Yes (client certificate sent)");
            if ok {
                Ok(())
            } else {
                Err(format!("{st:?}"))
            }
        },
    );
    assert_never_connected(
        &bed,
        "n2",
        REFUSAL_WINDOW,
        "it has tls: off and the server requires TLS",
    );
    // The real client gives up on its own once PREINIT_REPLY says TLS is required (2).
    let refusal = qdevice_log_lines(
        &mut bed,
        "n2",
        "Incompatible tls configuration (server 2 client 0)",
    );
    assert!(
        !refusal.is_empty(),
        "n2's qdevice did not report the TLS mismatch:\n{}",
        bed.lab.host("n2").proc("qdevice").log_tail(20)
    );
    assert!(
        status
            .stdout
            .contains("Required (client certificate required)"),
        "corosync-qnetd-tool -s should say TLS is required:\n{}",
        status.text()
    );
    print_daemon_lines_about(&mut bed, &format!("{}.12", lab::QNET_NET));
    let mut r = Report::new("tls-required", &bed);
    r.time("tls_client_connected_after", connected);
    r.memory(&mut bed);
    r.print();
}

#[test]
fn e2e_client_certificate_from_another_ca_is_refused() {
    let mut bed = Bed::new("foreignca", 2);
    bed.lab.add_host("x", &[]);
    bed.init_qnetd_ca();
    let foreign = bed.lab.host_ref("x").path("/etc/corosync");
    // Another qnetd installation's CA, made by the same certutil on host x.
    let prog = bed.daemon_program("corosync-qnetd-certutil");
    bed.lab.host_ref("x").run_ok(prog, &["-i"]);
    assert!(foreign.join("qnetd/nssdb/qnetd-cacert.crt").is_file());
    for n in ["n1", "n2"] {
        // Both nodes trust the real CA, so they accept the real server...
        bed.node_init_db(n, QNETD_HOST);
    }
    bed.node_request_and_import("n1", "qe2e", QNETD_HOST);
    // ...but n2 presents a cluster certificate signed by the other CA.
    bed.node_request_and_import("n2", "qe2e", "x");
    expect_n1_connects_n2_refused(
        &mut bed,
        "foreign-ca-refused",
        "its certificate is from another CA",
    );
}

#[test]
fn e2e_client_certificate_of_another_cluster_is_refused() {
    let mut bed = Bed::new("wrongcn", 2);
    bed.init_qnetd_ca();
    for n in ["n1", "n2"] {
        bed.node_init_db(n, QNETD_HOST);
    }
    bed.node_request_and_import("n1", "qe2e", QNETD_HOST);
    // Same CA, but the certificate names cluster "othercluster".
    bed.node_request_and_import("n2", "othercluster", QNETD_HOST);
    expect_n1_connects_n2_refused(
        &mut bed,
        "other-cluster-cn-refused",
        "its certificate CN is another cluster",
    );
}

fn expect_n1_connects_n2_refused(bed: &mut Bed, scenario: &str, why: &str) {
    bed.write_conf_all(&DeviceConf::ffsplit());
    bed.start_daemon(&[]);
    let nodes = bed.nodes.clone();
    bed.start_corosync_and_wait(&nodes);
    for n in &nodes {
        bed.start_qdevice(n);
    }
    let (_, connected) = lab::wait_for(
        "n1's qdevice connected",
        QUORATE_LIMIT,
        Duration::from_millis(100),
        || {
            if bed.qdevice_connected("n1") {
                Ok(())
            } else {
                Err(format!("{:?}", bed.qdevice_status("n1")))
            }
        },
    );
    assert_never_connected(bed, "n2", REFUSAL_WINDOW, why);
    assert!(
        bed.lab.host("n2").proc("qdevice").alive(),
        "n2's qdevice exited instead of retrying"
    );
    // It kept trying and was turned away each time (not merely unable to reach the daemon).
    let attempts = qdevice_log_lines(bed, "n2", "Trying connect to qnetd server").len();
    assert!(
        attempts >= 2,
        "n2's qdevice tried to connect only {attempts} times"
    );
    let replies = qdevice_log_lines(bed, "n2", "Received preinit reply msg").len();
    assert!(
        replies >= 2,
        "the daemon answered n2's PREINIT only {replies} times"
    );
    print_daemon_lines_about(bed, &format!("{}.12", lab::QNET_NET));
    let mut r = Report::new(scenario, bed);
    r.time("good_client_connected_after", connected);
    r.memory(bed);
    r.print();
}

/// Nodes enrolled only with the p12 from our `qnetd cert bundle` (CA + `-m` import, no CSR
/// round trip) join a real cluster through the daemon over TLS.
#[test]
fn e2e_nodes_enrolled_with_cert_bundle_join_over_tls() {
    let mut bed = Bed::new("bundle", 2);
    if !bed.daemon.is_ours() {
        // The bundle comes from our certificate store, which Debian's daemon cannot read.
        println!("E2E-RESULT scenario=cert-bundle daemon=upstream not-applicable");
        return;
    }
    let qnetd = bed.daemon_program("qnetd");
    let q = bed.lab.host_ref(QNETD_HOST);
    q.run_ok(&qnetd, &["cert", "init"]);
    q.run_ok(
        &qnetd,
        &[
            "cert",
            "bundle",
            "--cluster",
            "qe2e",
            "--out",
            "/tmp/bundle",
        ],
    );
    let ca = q.path("/tmp/bundle/qnetd-cacert.crt");
    let p12 = q.path("/tmp/bundle/qdevice-net-node.p12");
    for n in bed.nodes.clone() {
        let host = bed.lab.host_ref(&n);
        std::fs::copy(&ca, host.path("/tmp/qnetd-cacert.crt")).expect("copy CA");
        std::fs::copy(&p12, host.path("/tmp/qdevice-net-node.p12")).expect("copy p12");
        host.run_ok(
            "corosync-qdevice-net-certutil",
            &["-i", "-c", "/tmp/qnetd-cacert.crt"],
        );
        host.run_ok(
            "corosync-qdevice-net-certutil",
            &["-m", "-c", "/tmp/qdevice-net-node.p12"],
        );
    }
    bed.write_conf_all(&DeviceConf::ffsplit());
    bed.start_daemon(&[]);
    let nodes = bed.nodes.clone();
    bed.start_corosync_and_wait(&nodes);
    let took = start_qdevices_and_wait(&mut bed, &[1, 2]);
    for n in &nodes {
        let st = bed.qdevice_status(n).expect("qdevice-tool");
        assert_eq!(
            st.get("TLS active").map(String::as_str),
            Some("Yes (client certificate sent)"),
            "{n}: {st:?}"
        );
    }
    let mut r = Report::new("cert-bundle", &bed);
    r.time("quorate_after", took);
    r.memory(&mut bed);
    r.print();
}

/// Four nodes, ffsplit: the ring splits 2|2 while every node still reaches qnetd; the half
/// holding the lowest node id keeps quorum (2 + the qdevice vote = 3 of 5), the other half
/// does not; after the ring heals all four are quorate again.
#[test]
fn e2e_ffsplit_four_nodes_even_split_lowest_node_id_half_wins() {
    let (mut bed, took) = ffsplit_cluster("split4", 4);
    for n in &bed.nodes {
        let q = bed.quorum(n).expect("quorumtool");
        assert_eq!((q.expected_votes, q.total_votes), (5, 5), "{n}:\n{}", q.raw);
    }
    bed.lab.add_bridge("ring2");
    for n in ["n3", "n4"] {
        bed.lab.replug("ring", n, "ring2");
    }
    let split = wait_partitions(
        &bed,
        "{n1,n2} quorate with the qdevice vote and {n3,n4} inquorate",
        &[
            ("n1", &[1, 2], true),
            ("n2", &[1, 2], true),
            ("n3", &[3, 4], false),
            ("n4", &[3, 4], false),
        ],
    );
    for n in ["n3", "n4"] {
        bed.lab.replug("ring", n, "ring");
    }
    let nodes = bed.nodes.clone();
    let healed = bed.wait_quorate_with_qdevice(&nodes, &[1, 2, 3, 4], QUORATE_LIMIT);
    let mut r = Report::new("ffsplit-4-nodes-2-2-split", &bed);
    r.time("quorate_after", took);
    r.time("split_decided_after", split);
    r.time("healed_quorate_after", healed);
    r.memory(&mut bed);
    r.print();
}

/// The qnetd network cable of n2 is cut while the ring stays up: the daemon's dead-peer
/// detection drops n2's idle connection (1.5 × the 8 s heartbeat), n1 keeps quorum with the
/// qdevice vote all along, and n2 reconnects by itself once the cable is back.
#[test]
fn e2e_qnetd_unreachable_node_dropped_by_dpd_then_reconnects() {
    let (mut bed, took) = two_node_ffsplit("dpd");
    bed.lab.set_link("qnet", "n2", false);
    let mut lost = Vec::new();
    let (_, dropped) = lab::wait_for(
        "the daemon to drop n2's dead connection",
        Duration::from_secs(60),
        Duration::from_millis(250),
        || {
            match bed.quorum("n1") {
                Ok(q) if !(q.quorate && q.qdevice_vote_counted()) => lost.push(q.raw),
                _ => {}
            }
            match bed.qnetd_connected_clients() {
                Some(1) => Ok(()),
                other => Err(format!("connected clients: {other:?}")),
            }
        },
    );
    assert!(
        lost.is_empty(),
        "n1 lost quorum or the qdevice vote while n2 was unreachable from qnetd:\n{}",
        lost.join("\n")
    );
    bed.lab.set_link("qnet", "n2", true);
    let (_, back) = lab::wait_for(
        "n2's qdevice to reconnect",
        Duration::from_secs(90),
        Duration::from_millis(100),
        || {
            if bed.qdevice_connected("n2") && bed.qnetd_connected_clients() == Some(2) {
                Ok(())
            } else {
                Err(format!("{:?}", bed.qdevice_status("n2")))
            }
        },
    );
    let nodes = bed.nodes.clone();
    bed.wait_quorate_with_qdevice(&nodes, &[1, 2], QUORATE_LIMIT);
    let mut r = Report::new("qnet-cable-cut-dpd", &bed);
    r.time("quorate_after", took);
    r.time("dpd_dropped_after", dropped);
    r.time("reconnected_after", back);
    r.memory(&mut bed);
    r.print();
}

/// The router story: a root holding only BusyBox, Dropbear and our static binary;
/// `qnetd install --firewall` there; then pvecm's ssh/scp sequence from a node with the real
/// OpenSSH client (whose scp speaks SFTP: served by our built-in sftp-server through the
/// path Dropbear was compiled with), and a real 2-node cluster quorate through the daemon the
/// init script started. `trixie`: the nodes run Debian 13's corosync, corosync-qdevice, NSS
/// tools and OpenSSH 10.0 (Proxmox VE 9); otherwise this Debian's (OpenSSH 9.2, Proxmox VE 8).
fn router_pvecm_setup(test: &str, trixie: bool) {
    let mut bed = Bed::new(test, 2);
    if trixie {
        let root = router::trixie_root();
        for n in bed.nodes.clone() {
            bed.lab.host(&n).use_root(&root);
        }
    }
    let started = Instant::now();
    let router = router::Router::install(&mut bed);
    let installed = started.elapsed();
    println!("    qnetd install:\n{}", router.install_output);
    // Dropbear execs the sftp-server path compiled into it: install linked exactly that one.
    let dropbear_paths =
        qnetd::install::openwrt::dropbear_sftp_paths(&router.root.file("/usr/sbin/dropbear"));
    assert!(
        !dropbear_paths.is_empty(),
        "no sftp-server path in Debian's dropbear"
    );
    for p in &dropbear_paths {
        assert!(
            router::links_to_qnetd(&router.root, &p.to_string_lossy()),
            "{} is not linked to qnetd",
            p.display()
        );
    }
    assert!(
        !router.root.file("/usr/lib/openssh").exists(),
        "the router must have no openssh"
    );
    let node = bed.nodes[0].clone();
    router.authorise(&bed, &node);
    let ssh_version = router::ssh_version(&bed, &node);
    println!("    node client: {ssh_version}");
    let want = if trixie { "OpenSSH_10." } else { "OpenSSH_9.2" };
    assert!(ssh_version.starts_with(want), "{ssh_version}");
    let pvecm = router::pvecm_qdevice_setup(&bed, &node);
    bed.write_conf_all(&DeviceConf::ffsplit());
    let names = bed.nodes.clone();
    bed.start_corosync_and_wait(&names);
    let start = Instant::now();
    for n in &names {
        bed.start_qdevice(n);
    }
    bed.wait_quorate_with_qdevice(&names, &[1, 2], QUORATE_LIMIT);
    let quorate = start.elapsed();
    // The daemon runs inside the router root: so does its status socket.
    let r = router.root.path.display().to_string();
    let st = bed
        .lab
        .host_ref(cluster::QNETD_HOST)
        .run("chroot", &[&r, "corosync-qnetd-tool", "-l"]);
    assert!(
        st.stdout.contains(&format!("Cluster \"{}\"", bed.cluster)),
        "{}",
        st.text()
    );
    // What served pvecm's sequence and the vote ran as the user install made, not root.
    let pid = std::fs::read_to_string(router.root.file("/var/run/procd-standin/qnetd.pid"))
        .expect("the stand-in procd's pid file");
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid.trim())).unwrap();
    assert!(
        status
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["Uid:", "5403", "5403", "5403", "5403"]),
        "the daemon is not user qnetd:\n{status}"
    );
    println!(
        "E2E-RESULT scenario={test} daemon=router-static client=\"{ssh_version}\" \
         install={:.2}s pvecm_sequence={:.2}s quorate_after={:.2}s",
        installed.as_secs_f64(),
        pvecm.as_secs_f64(),
        quorate.as_secs_f64()
    );
}

#[test]
fn e2e_router_busybox_dropbear_pvecm_setup_openssh_9_2() {
    router_pvecm_setup("router92", false);
}

#[test]
fn e2e_router_busybox_dropbear_pvecm_setup_trixie_openssh_10() {
    router_pvecm_setup("router-trixie", true);
}

// ---- migration from Debian's corosync-qnetd and back ----------------------------------------

const STORE: &str = "/etc/corosync/qnetd/nssdb";

/// SHA-256 of every file in `dir` (a host path), by name.
fn checksums(dir: &std::path::Path) -> std::collections::BTreeMap<String, String> {
    let mut map = std::collections::BTreeMap::new();
    for ent in std::fs::read_dir(dir).expect("list dir").flatten() {
        if ent.path().is_file() {
            let data = std::fs::read(ent.path()).expect("read");
            map.insert(
                ent.file_name().to_string_lossy().into_owned(),
                certtool::sha256_hex(&data),
            );
        }
    }
    map
}

/// The NSS databases of `nodes` (what `pvecm qdevice setup` left there), file by file.
fn node_databases(
    bed: &Bed,
    nodes: &[&str],
) -> Vec<(String, std::collections::BTreeMap<String, String>)> {
    nodes
        .iter()
        .map(|n| {
            let db = bed.lab.host_ref(n).path("/etc/corosync/qdevice/net/nssdb");
            (n.to_string(), checksums(&db))
        })
        .collect()
}

/// A 4-node lab where Debian's corosync-qnetd, with a store made by Debian's
/// corosync-qnetd-certutil, serves cluster "qe2e" (n1, n2), enrolled the pvecm way; n3 and
/// n4 wait for the second cluster. Returns the bed and the time to quorate.
fn upstream_serving(test: &str, router: bool) -> (Bed, Duration) {
    let mut bed = Bed::new(test, 4);
    bed.daemon = cluster::Daemon::Upstream;
    bed.nodes = vec!["n1".into(), "n2".into()];
    if router {
        add_router(&mut bed);
    }
    bed.enroll_all();
    bed.write_conf_all(&DeviceConf::ffsplit());
    bed.start_daemon(&[]);
    let nodes = bed.nodes.clone();
    bed.start_corosync_and_wait(&nodes);
    let took = start_qdevices_and_wait(&mut bed, &[1, 2]);
    assert_client_certificates_verified(&bed, 2);
    (bed, took)
}

/// Host `r`, the router: the qnetd host's address and MAC (so the nodes, untouched, reach it
/// once its cable is plugged instead of q's), and no NSS tools (hidden by /dev/null mounts).
fn add_router(bed: &mut Bed) {
    bed.lab
        .add_host("r", &[("qnet", "eth1", format!("{}/24", lab::QNETD_ADDR))]);
    bed.lab.set_link("qnet", "r", false);
    let link = bed
        .lab
        .host_ref(QNETD_HOST)
        .run_ok("ip", &["-o", "link", "show", "eth1"]);
    let mac = link
        .stdout
        .split_whitespace()
        .skip_while(|w| *w != "link/ether")
        .nth(1)
        .expect("q's MAC address")
        .to_string();
    let r = bed.lab.host_ref("r");
    r.run_ok("ip", &["link", "set", "eth1", "address", &mac]);
    for tool in ["certutil", "pk12util"] {
        let path = lab::find_in_path(tool).expect("NSS tool on this machine");
        r.run_ok("mount", &["--bind", "/dev/null", path.to_str().unwrap()]);
        assert!(
            !r.run(tool, &["-h"]).ok(),
            "{tool} still runs on the router"
        );
    }
}

/// `corosync-qnetd-tool -l -v` counts `n` clients whose certificate the daemon verified.
fn assert_client_certificates_verified(bed: &Bed, n: usize) {
    let list = bed.qnetd_tool(&["-l", "-v"]);
    let verified = list
        .stdout
        .matches("TLS active:\t\tYes (client certificate verified)")
        .count();
    assert_eq!(
        verified,
        n,
        "{} corosync-qnetd-tool -l -v:\n{}",
        bed.daemon.label(),
        list.text()
    );
}

/// pvecm's sequence for cluster "second" (n3, n4) against the current qnetd host's certutil,
/// then corosync and qdevice on both; returns the new certificate's serial and the time to
/// quorate.
fn second_cluster(bed: &mut Bed) -> (u64, Duration) {
    let signer = bed.qnetd.clone();
    let second: Vec<String> = vec!["n3".into(), "n4".into()];
    for n in &second {
        bed.node_init_db(n, &signer);
    }
    let p12 = bed.node_request_and_import("n3", "second", &signer);
    bed.node_import_p12("n4", &p12);
    let crt = bed
        .lab
        .host_ref(&signer)
        .path(&format!("{STORE}/cluster-second.crt"));
    let der = std::fs::read(crt).expect("cluster-second.crt");
    let serial = certtool::certinfo::summary(&der)
        .expect("cluster-second.crt parses")
        .serial;
    for n in &second {
        bed.write_conf_cluster(n, "second", &second, &DeviceConf::ffsplit());
    }
    // corosync-qdevice gives up if corosync's cmap is not there yet.
    bed.start_corosync_and_wait(&second);
    let start = Instant::now();
    for n in &second {
        bed.start_qdevice(n);
    }
    bed.wait_quorate_with_qdevice(&second, &[3, 4], QUORATE_LIMIT);
    (serial, start.elapsed())
}

/// Both clusters quorate with the qdevice vote through the current daemon.
fn both_clusters_quorate(bed: &Bed) -> Duration {
    let start = Instant::now();
    bed.wait_quorate_with_qdevice(&["n1".into(), "n2".into()], &[1, 2], QUORATE_LIMIT);
    bed.wait_quorate_with_qdevice(&["n3".into(), "n4".into()], &[3, 4], QUORATE_LIMIT);
    start.elapsed()
}

fn stop_daemon_and_wait_vote_gone(bed: &mut Bed) {
    bed.qnetd_host().stop("qnetd", Duration::from_secs(10));
    lab::wait_for(
        "the qdevice vote to go away after the daemon stopped",
        Duration::from_secs(60),
        Duration::from_millis(100),
        || {
            let q = bed.quorum("n1")?;
            if q.qdevice_vote_counted() {
                Err(q.raw)
            } else {
                Ok(())
            }
        },
    );
}

/// Debian's corosync-qnetd serves a cluster; it is stopped, `qnetd cert import-nss` takes its
/// store over in place, and our daemon serves the same nodes (their NSS databases unchanged,
/// byte for byte) over TLS with their old client certificates. A second cluster is enrolled
/// with pvecm's sequence against our store (its serial follows upstream's), and the way back:
/// `export-nss` to pvecm's path, Debian's corosync-qnetd serves both clusters.
#[test]
fn e2e_migrate_in_place_upstream_to_ours_and_back() {
    let (mut bed, first) = upstream_serving("migrate-inplace", false);
    let nodes_before = node_databases(&bed, &["n1", "n2"]);
    let q_store = bed.lab.host_ref(QNETD_HOST).path(STORE);
    let upstream_files = checksums(&q_store);
    stop_daemon_and_wait_vote_gone(&mut bed);

    let qnetd = bed.our_program();
    let q = bed.lab.host_ref(QNETD_HOST);
    let out = q.run_ok(&qnetd, &["cert", "import-nss"]);
    assert!(out.stdout.contains("(in place)"), "{}", out.text());
    let after = checksums(&q_store);
    for (f, sum) in &upstream_files {
        assert_eq!(after.get(f), Some(sum), "import-nss changed upstream's {f}");
    }
    let again = q.run_ok(&qnetd, &["cert", "import-nss"]);
    assert!(again.stdout.contains("nothing to do"), "{}", again.text());

    bed.daemon = cluster::Daemon::Ours(cluster::Daemon::our_binary());
    let start = Instant::now();
    bed.start_daemon(&[]);
    bed.wait_quorate_with_qdevice(&["n1".into(), "n2".into()], &[1, 2], QUORATE_LIMIT);
    let ours_quorate = start.elapsed();
    assert_client_certificates_verified(&bed, 2);
    assert_eq!(node_databases(&bed, &["n1", "n2"]), nodes_before);

    // The last upstream serial was 103 (CA 101, server 102, cluster qe2e 103).
    let (serial, second_took) = second_cluster(&mut bed);
    assert_eq!(
        serial, 104,
        "the second cluster's certificate reuses or skips a serial"
    );
    assert_client_certificates_verified(&bed, 4);

    // The way back, to pvecm's path: our store moves aside, export-nss writes a database.
    stop_daemon_and_wait_vote_gone(&mut bed);
    let aside = "/etc/corosync/qnetd/nssdb.qnetd";
    let q = bed.lab.host_ref(QNETD_HOST);
    q.run_ok("mv", &[STORE, aside]);
    let out = q.run_ok(
        &qnetd,
        &["cert", "--dir", aside, "export-nss", "--nssdb", STORE],
    );
    assert!(
        out.stdout.contains("2 cluster certificate(s)"),
        "{}",
        out.text()
    );
    bed.daemon = cluster::Daemon::Upstream;
    let start = Instant::now();
    bed.start_daemon(&[]);
    both_clusters_quorate(&bed);
    let back = start.elapsed();
    assert_client_certificates_verified(&bed, 4);
    assert_eq!(node_databases(&bed, &["n1", "n2"]), nodes_before);

    let mut r = Report::new("migrate-in-place", &bed);
    r.time("upstream_quorate_after", first);
    r.time("ours_quorate_after_import", ours_quorate);
    r.time("second_cluster_quorate_after", second_took);
    r.time("upstream_again_quorate_after", back);
    r.memory(&mut bed);
    r.print();
}

/// The same move to a second host: `import-nss --out` on the old host, the store copied to
/// the "router" (same address, no NSS tools there), our daemon (QNETD_BIN: the static musl
/// build in CI) serving the same untouched nodes and a second cluster enrolled there. The way
/// back: the router's store copied to the old host, `export-nss` onto the old, still intact
/// database (it gains the second cluster's certificate and the serial), Debian's daemon
/// serves both clusters there again.
#[test]
fn e2e_migrate_out_to_router_and_back() {
    let (mut bed, first) = upstream_serving("migrate-router", true);
    let nodes_before = node_databases(&bed, &["n1", "n2"]);
    let q_store = bed.lab.host_ref(QNETD_HOST).path(STORE);
    let upstream_files = checksums(&q_store);
    stop_daemon_and_wait_vote_gone(&mut bed);

    let qnetd = bed.our_program();
    let q = bed.lab.host_ref(QNETD_HOST);
    let out = q.run_ok(
        &qnetd,
        &["cert", "import-nss", "--out", "/tmp/router-store"],
    );
    assert!(out.stdout.contains("Copy"), "{}", out.text());
    assert_eq!(
        checksums(&q_store),
        upstream_files,
        "--out wrote into the old store"
    );
    // scp -r, as the README says.
    let from = q.path("/tmp/router-store");
    let to = bed.lab.host_ref("r").path(STORE);
    copy_dir(&from, &to);

    bed.lab.set_link("qnet", QNETD_HOST, false);
    bed.lab.set_link("qnet", "r", true);
    bed.qnetd = "r".into();
    bed.daemon = cluster::Daemon::Ours(cluster::Daemon::our_binary());
    let start = Instant::now();
    bed.start_daemon(&[]);
    bed.wait_quorate_with_qdevice(&["n1".into(), "n2".into()], &[1, 2], QUORATE_LIMIT);
    let router_quorate = start.elapsed();
    assert_client_certificates_verified(&bed, 2);
    assert_eq!(node_databases(&bed, &["n1", "n2"]), nodes_before);
    let (serial, second_took) = second_cluster(&mut bed);
    assert_eq!(serial, 104);

    // Back to the old host.
    stop_daemon_and_wait_vote_gone(&mut bed);
    let r_store = bed.lab.host_ref("r").path(STORE);
    let q = bed.lab.host_ref(QNETD_HOST);
    copy_dir(&r_store, &q.path("/etc/corosync/qnetd/nssdb.router"));
    let out = q.run_ok(
        &qnetd,
        &[
            "cert",
            "--dir",
            "/etc/corosync/qnetd/nssdb.router",
            "export-nss",
            "--nssdb",
            STORE,
        ],
    );
    assert!(out.stdout.contains("cluster-second.crt"), "{}", out.text());
    let back_files = checksums(&q_store);
    for f in [
        "cert9.db",
        "key4.db",
        "qnetd-cacert.crt",
        "cluster-qe2e.crt",
    ] {
        assert_eq!(
            back_files.get(f),
            upstream_files.get(f),
            "export-nss changed {f}"
        );
    }
    let serial_txt = std::fs::read_to_string(q_store.join("serial.txt")).expect("serial.txt");
    assert_eq!(serial_txt.trim(), "104");
    bed.lab.set_link("qnet", "r", false);
    bed.lab.set_link("qnet", QNETD_HOST, true);
    bed.qnetd = QNETD_HOST.into();
    bed.daemon = cluster::Daemon::Upstream;
    let start = Instant::now();
    bed.start_daemon(&[]);
    both_clusters_quorate(&bed);
    let back = start.elapsed();
    assert_client_certificates_verified(&bed, 4);

    let mut r = Report::new("migrate-out-to-router", &bed);
    r.time("upstream_quorate_after", first);
    r.time("router_quorate_after", router_quorate);
    r.time("second_cluster_quorate_after", second_took);
    r.time("upstream_again_quorate_after", back);
    r.memory(&mut bed);
    r.print();
}

/// Copies the files of `from` into `to` (created), modes kept.
fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for ent in std::fs::read_dir(from).expect("list").flatten() {
        if ent.path().is_file() {
            std::fs::copy(ent.path(), to.join(ent.file_name())).expect("copy");
        }
    }
}

/// Revocation with the real qdevice: `qnetd cert revoke` + `qnetd reload` drop both nodes of
/// the cluster (the vote goes), their reconnects are refused with the reason in the daemon's
/// log; re-signed and re-imported as `pvecm qdevice setup` does, the vote is back.
#[test]
fn e2e_revoke() {
    let (mut bed, took) = two_node_ffsplit("revoke");
    if !bed.daemon.is_ours() {
        println!("E2E-RESULT scenario=revoke daemon=upstream not-applicable");
        return;
    }
    let qnetd = bed.our_program();
    let q = bed.lab.host_ref(QNETD_HOST);
    let out = q.run_ok(
        &qnetd,
        &["cert", "revoke", "qe2e", "--reason", "e2e: node key leaked"],
    );
    assert!(
        out.stdout
            .contains("revoked the certificate of cluster \"qe2e\""),
        "{}",
        out.text()
    );
    q.run_ok(&qnetd, &["reload"]);
    let nodes = bed.nodes.clone();
    let (_, vote_gone) = lab::wait_for(
        "both nodes to lose the qdevice vote",
        QUORATE_LIMIT,
        Duration::from_millis(100),
        || {
            for n in &nodes {
                let q = bed.quorum(n)?;
                if q.qdevice_vote_counted() {
                    return Err(format!("{n}:\n{}", q.raw));
                }
            }
            Ok(())
        },
    );
    assert_never_connected(&bed, "n1", REFUSAL_WINDOW, "its certificate is revoked");
    assert_never_connected(
        &bed,
        "n2",
        Duration::from_secs(2),
        "its certificate is revoked",
    );
    let log_path = bed.qnetd_host().proc("qnetd").log.clone();
    let log = std::fs::read_to_string(log_path).unwrap_or_default();
    let dropped = log
        .lines()
        .filter(|l| l.contains("dropped on reload: client certificate serial"))
        .count();
    assert_eq!(dropped, 2, "daemon log:\n{log}");
    let refused = log
        .lines()
        .filter(|l| {
            !l.contains("dropped on reload")
                && l.contains("of cluster qe2e was revoked on")
                && l.contains("e2e: node key leaked")
        })
        .count();
    assert!(
        refused >= 1,
        "no refused reconnect in the daemon log:\n{log}"
    );
    for n in &nodes {
        assert!(
            bed.lab.host(n).proc("qdevice").alive(),
            "{n}'s qdevice exited instead of retrying"
        );
    }
    print_daemon_lines_about(&mut bed, "revoked");

    // Re-enrol: new requests signed by the same store, imported on the nodes.
    for n in &nodes {
        bed.lab.host(n).stop("qdevice", Duration::from_secs(10));
        let db = bed.lab.host_ref(n).path("/etc/corosync/qdevice/net/nssdb");
        std::fs::remove_dir_all(&db).expect("remove the node's NSS database");
    }
    let reenrolled = Instant::now();
    for n in &nodes {
        bed.node_init_db(n, QNETD_HOST);
    }
    let p12 = bed.node_request_and_import("n1", "qe2e", QNETD_HOST);
    bed.node_import_p12("n2", &p12);
    let back = start_qdevices_and_wait(&mut bed, &[1, 2]);
    let list = bed
        .lab
        .host_ref(QNETD_HOST)
        .run_ok(&qnetd, &["cert", "list"]);
    let rows: Vec<&str> = list.stdout.lines().filter(|l| l.contains("qe2e")).collect();
    assert!(
        rows.len() >= 2 && !rows.last().unwrap().contains("revoked"),
        "{}",
        list.stdout
    );
    let mut r = Report::new("revoke", &bed);
    r.time("quorate_after", took);
    r.time("vote_gone_after_reload", vote_gone);
    r.time("vote_back_after_reenrol", reenrolled.elapsed());
    r.time("vote_back_after_qdevice_start", back);
    r.memory(&mut bed);
    r.print();
}

// ---------------------------------------------------------------------------------------------
// A hostile LAN host

/// The flood's limits, low enough that the flood below exceeds each of them many times over.
const FLOOD_MAX_CLIENTS: u32 = 100;
const FLOOD_MAX_PREINIT: u32 = 64;
const FLOOD_MAX_PREINIT_PER_ADDRESS: u32 = 16;
/// The daemon's RSS bound while it is flooded (kB), and how far above its idle RSS it may stay
/// once the flood is gone.
const FLOOD_RSS_BOUND_KB: u64 = 16 * 1024;
const FLOOD_RSS_SETTLED_MARGIN_KB: u64 = 2 * 1024;

/// Starts the flood script on `host` (see tests/e2e/flood.py).
fn spawn_flood(bed: &mut Bed, host: &str, target: &str, sources: &[String], per: u32, secs: u32) {
    let args = [
        "-c",
        include_str!("e2e/flood.py"),
        target,
        "5403",
        &sources.join(","),
        &per.to_string(),
        &secs.to_string(),
    ];
    bed.lab.host(host).spawn("flood", "python3", &args);
}

/// The `FLOOD attempts=...` figures of a finished flood on `host`.
fn flood_figures(bed: &mut Bed, host: &str) -> std::collections::BTreeMap<String, u64> {
    let log = bed.lab.host(host).proc("flood").log.clone();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let line = text
        .lines()
        .find(|l| l.starts_with("FLOOD "))
        .unwrap_or_else(|| panic!("flood on {host} printed no figures:\n{text}"));
    line.split_whitespace()
        .skip(1)
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.parse().expect("flood figure")))
        .collect()
}

fn wait_flood_done(bed: &mut Bed, host: &str) {
    lab::wait_for(
        &format!("the flood on {host} to end by itself"),
        Duration::from_secs(90),
        Duration::from_millis(200),
        || {
            if bed.lab.host(host).proc("flood").alive() {
                Err("still flooding".into())
            } else {
                Ok(())
            }
        },
    );
}

#[test]
fn e2e_flood_of_idle_connections_leaves_the_cluster_its_vote() {
    let mut bed = Bed::new("flood", 2);
    if !bed.daemon.is_ours() {
        println!("E2E-RESULT scenario=flood daemon=upstream skipped=no-connection-caps");
        return;
    }
    // A LAN host with eight addresses, every one of them flooding.
    bed.lab.add_host(
        "x",
        &[("qnet", "eth1", format!("{}.100/24", lab::QNET_NET))],
    );
    let sources: Vec<String> = (100..108)
        .map(|i| format!("{}.{i}", lab::QNET_NET))
        .collect();
    for addr in &sources[1..] {
        bed.lab
            .host("x")
            .run_ok("ip", &["addr", "add", &format!("{addr}/24"), "dev", "eth1"]);
    }
    bed.enroll_all();
    bed.write_conf_all(&DeviceConf::ffsplit());
    let (m, p, pa) = (
        format!("{FLOOD_MAX_CLIENTS}"),
        format!("max_preinit_clients={FLOOD_MAX_PREINIT}"),
        format!("max_preinit_per_address={FLOOD_MAX_PREINIT_PER_ADDRESS}"),
    );
    bed.start_daemon(&["-m", &m, "-S", &p, "-S", &pa]);
    let names = bed.nodes.clone();
    bed.start_corosync_and_wait(&names);
    start_qdevices_and_wait(&mut bed, &[1, 2]);
    std::thread::sleep(Duration::from_secs(2));
    let (_, idle_kb) = bed.daemon_memory();
    let idle_kb = idle_kb.expect("daemon VmRSS");

    // 8 x 400 connections from the LAN host and 1,000 at once on the arbiter's loopback, each
    // far above every cap, for 45 and 30 seconds; none of them ever sends a byte.
    spawn_flood(&mut bed, "x", lab::QNETD_ADDR, &sources, 400, 45);
    spawn_flood(
        &mut bed,
        QNETD_HOST,
        "127.0.0.1",
        &["127.0.0.1".into()],
        1000,
        30,
    );
    let limit = 2 + FLOOD_MAX_PREINIT;
    let (mut most_clients, mut peak_kb) = (0, 0);
    let watch = Instant::now();
    while watch.elapsed() < Duration::from_secs(15) {
        for n in ["n1", "n2"] {
            let q = bed.quorum(n).expect("quorumtool");
            assert!(
                q.quorate && q.qdevice_vote_counted(),
                "{n} lost quorum or the qdevice vote under the flood:\n{}",
                q.raw
            );
        }
        if let Some(c) = bed.qnetd_connected_clients() {
            most_clients = most_clients.max(c);
            assert!(
                c <= limit,
                "{c} clients connected: above 2 nodes + {FLOOD_MAX_PREINIT} unfinished"
            );
        }
        let (_, rss) = bed.daemon_memory();
        peak_kb = peak_kb.max(rss.unwrap_or(0));
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        most_clients > 2,
        "the flood never reached the daemon (at most {most_clients} clients seen)"
    );

    // A node that reconnects in the middle of the flood is served.
    let restart = Instant::now();
    bed.lab.host("n2").stop("qdevice", Duration::from_secs(10));
    bed.start_qdevice("n2");
    bed.wait_quorate_with_qdevice(&names, &[1, 2], QUORATE_LIMIT);
    let reconnected = restart.elapsed();
    assert!(
        bed.lab.host("x").proc("flood").alive(),
        "the flood ended before n2 reconnected: the reconnect proves nothing"
    );

    wait_flood_done(&mut bed, "x");
    wait_flood_done(&mut bed, QNETD_HOST);
    let lan = flood_figures(&mut bed, "x");
    let local = flood_figures(&mut bed, QNETD_HOST);
    let attempts = lan["attempts"] + local["attempts"];
    assert!(
        attempts >= 3000,
        "only {attempts} connections were attempted"
    );
    lab::wait_for(
        "the flood's connections to be gone",
        Duration::from_secs(40),
        Duration::from_millis(250),
        || match bed.qnetd_connected_clients() {
            Some(2) => Ok(()),
            other => Err(format!("connected clients: {other:?}")),
        },
    );
    std::thread::sleep(Duration::from_secs(2));
    let (_, after_kb) = bed.daemon_memory();
    let after_kb = after_kb.expect("daemon VmRSS");
    let mut r = Report::new("flood", &bed);
    let _ = write!(
        r.line,
        " attempts={attempts} lan_closed_by_server={} local_closed_by_server={} \
         most_clients={most_clients} idle_rss_kb={idle_kb} flood_peak_rss_kb={peak_kb} \
         after_rss_kb={after_kb}",
        lan["closed_by_server"], local["closed_by_server"]
    );
    r.time("reconnected_under_flood_after", reconnected);
    r.print();
    assert!(
        peak_kb <= FLOOD_RSS_BOUND_KB,
        "RSS {peak_kb} kB under the flood, bound {FLOOD_RSS_BOUND_KB} kB"
    );
    assert!(
        after_kb <= idle_kb + FLOOD_RSS_SETTLED_MARGIN_KB,
        "RSS {after_kb} kB after the flood, {idle_kb} kB before"
    );
}

/// `-S http_listen=` on upstream's command line: `/health?cluster=` follows the vote of a
/// real cluster, `/metrics` shows both nodes with an ACK.
#[test]
fn e2e_http_health_follows_the_vote() {
    let mut bed = Bed::new("http", 2);
    if !bed.daemon.is_ours() {
        println!("E2E-RESULT scenario=http daemon=upstream not-applicable");
        return;
    }
    bed.enroll_all();
    bed.write_conf_all(&DeviceConf::ffsplit());
    bed.start_daemon(&["-S", "http_listen=127.0.0.1:5404"]);
    let names = bed.nodes.clone();
    bed.start_corosync_and_wait(&names);
    let took = start_qdevices_and_wait(&mut bed, &[1, 2]);
    let curl = |bed: &Bed, path: &str| {
        let out = bed.lab.host_ref(QNETD_HOST).run(
            "curl",
            &[
                "-s",
                "--max-time",
                "5",
                "-w",
                "\n%{http_code}",
                &format!("http://127.0.0.1:5404{path}"),
            ],
        );
        out.stdout
    };
    let health = curl(&bed, "/health?cluster=qe2e");
    assert!(health.ends_with("\n200"), "{health}");
    let metrics = curl(&bed, "/metrics");
    assert!(
        metrics.contains("qnetd_cluster_votes{cluster=\"qe2e\",vote=\"ack\"} 2"),
        "{metrics}"
    );
    // The same numbers as the status tool's list: nodes, and the last ACK/NACK vote each
    // holds (the tool's "Vote: LAST (LAST ACK/NACK)").
    let list = bed.qnetd_tool(&["-l", "-v"]);
    assert!(list.ok(), "corosync-qnetd-tool -l -v: {}", list.text());
    let tool_nodes = list.stdout.matches("Node ID ").count();
    let tool_acks = list
        .stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("Vote:") && l.ends_with("(ACK)"))
        .count();
    let metric = |name: &str| -> usize {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in:\n{metrics}"))
    };
    assert_eq!(
        metric("qnetd_cluster_nodes{cluster=\"qe2e\"}"),
        tool_nodes,
        "{}",
        list.stdout
    );
    assert_eq!(
        metric("qnetd_cluster_votes{cluster=\"qe2e\",vote=\"ack\"}"),
        tool_acks,
        "{}",
        list.stdout
    );
    assert_eq!(metric("qnetd_connected_clients"), tool_nodes);
    // Both qdevices stop: the cluster has no vote from qnetd any more.
    for n in &names {
        bed.lab.host(n).crash("qdevice");
    }
    let (_, gone) = lab::wait_for(
        "/health?cluster=qe2e to say 503",
        QUORATE_LIMIT,
        Duration::from_millis(200),
        || {
            let health = curl(&bed, "/health?cluster=qe2e");
            if health.ends_with("\n503") {
                Ok(())
            } else {
                Err(health)
            }
        },
    );
    let mut report = Report::new("http", &bed);
    report.time("quorate_after", took);
    report.time("health_503_after", gone);
    report.print();
}
