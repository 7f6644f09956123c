//! The daemon's life: startup errors, limits, timeouts, signals, the upstream command line.

use crate::support::server as server_support;

use qnetd::probe::{self, InitParams, Probe, SessionParams};
use qnetd::proto::types::{Algorithm, MsgType};
use rustix::process::Signal;
use server_support::{bin, block_on, free_port, joined, path_arg, plain, Daemon, Store, TempDir};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

#[test]
fn tls_off_serves_plain_sessions_of_many_clusters() {
    let tmp = TempDir::new("plain");
    let d = Daemon::start(&tmp, &["--tls", "off"]);
    block_on(async {
        let mut kept = Vec::new();
        for (cluster, algorithm) in [
            ("c-test", Algorithm::Test),
            ("c-ffsplit", Algorithm::Ffsplit),
            ("c-2nodelms", Algorithm::TwoNodeLms),
            ("c-lms", Algorithm::Lms),
        ] {
            let mut params = plain(cluster, 1);
            params.init.algorithm = algorithm;
            let (mut p, reply) = probe::session(d.addr, &params).await.unwrap();
            assert_eq!(reply.msg_type, MsgType::InitReply, "{reply:?}");
            assert_eq!(reply.reply_error_code, Some(0), "{cluster}");
            p.echo().await.unwrap();
            kept.push(p);
        }
        let status = d.ipc("status");
        assert!(status.contains("Connected clients:\t\t4"), "{status}");
        assert!(status.contains("Connected clusters:\t\t4"), "{status}");
        assert!(status.contains("TLS:\t\t\t\tUnsupported\n"), "{status}");
    });
}

#[test]
fn starttls_on_a_server_without_tls_drops_the_client() {
    let tmp = TempDir::new("starttls-off");
    let d = Daemon::start(&tmp, &["--tls", "off"]);
    block_on(async {
        let mut p = Probe::connect(d.addr).await.unwrap();
        p.preinit("alpha").await.unwrap();
        p.send_starttls().await.unwrap();
        p.wait_closed().await.unwrap();
    });
    d.wait_log("TLS is disabled on this server");
}

#[test]
fn max_clients_accepts_then_closes_the_extra_client() {
    let tmp = TempDir::new("maxclients");
    let d = Daemon::start(&tmp, &["--tls", "off", "--max-clients", "1"]);
    d.settle();
    block_on(async {
        let (mut first, reply) = probe::session(d.addr, &plain("alpha", 1)).await.unwrap();
        assert_eq!(reply.reply_error_code, Some(0));
        let mut second = Probe::connect(d.addr).await.unwrap();
        second.wait_closed().await.unwrap();
        first.echo().await.unwrap();
    });
    d.wait_log("1 clients are connected already");
}

#[test]
fn silent_client_is_dropped_after_the_handshake_timeout() {
    let tmp = TempDir::new("handshake");
    let d = Daemon::start(&tmp, &["--tls", "off", "-S", "handshake_timeout=1000"]);
    block_on(async {
        let mut p = Probe::connect(d.addr).await.unwrap();
        p.timeout = Duration::from_secs(10);
        p.wait_closed().await.unwrap();
        // A client that did send PREINIT is past the handshake and stays.
        let mut q = Probe::connect(d.addr).await.unwrap();
        q.preinit("alpha").await.unwrap();
        smol::Timer::after(Duration::from_millis(1500)).await;
        let init = q.init(&InitParams::default()).await.unwrap();
        assert_eq!(init.reply_error_code, Some(0));
    });
    d.wait_log("sent no complete message within 1000 ms");
}

#[test]
fn dead_peer_detection_drops_an_idle_client() {
    let tmp = TempDir::new("dpd");
    let d = Daemon::start(&tmp, &["--tls", "off", "-S", "heartbeat_interval_min=100"]);
    block_on(async {
        let mut params = plain("alpha", 1);
        params.init.heartbeat_ms = 200;
        let (mut p, reply) = probe::session(d.addr, &params).await.unwrap();
        assert_eq!(reply.reply_error_code, Some(0));
        // 1.5 × 200 ms without a message: the server closes.
        p.wait_closed().await.unwrap();
    });
    let log = d.wait_log("dead peer detection");
    // The reason names the client itself: the line says so once, not "client A: client A".
    let line = log
        .lines()
        .find(|l| l.contains("dead peer detection"))
        .unwrap();
    assert_eq!(line.matches("client 127.0.0.1:").count(), 1, "{line}");
    assert!(line.contains("sent no message during 300 ms"), "{line}");
}

#[test]
fn sigterm_and_sigint_exit_cleanly_and_remove_the_socket() {
    for sig in [Signal::TERM, Signal::INT] {
        let tmp = TempDir::new("signal");
        let mut d = Daemon::start(&tmp, &["--tls", "off"]);
        block_on(async {
            let (_p, reply) = probe::session(d.addr, &plain("alpha", 1)).await.unwrap();
            assert_eq!(reply.reply_error_code, Some(0));
            d.signal(sig);
        });
        let status = d.wait_exit();
        assert_eq!(status.code(), Some(0), "{sig:?}: {}", d.log());
        assert!(!d.socket.exists(), "status socket left behind");
        assert!(d.log().contains("shutting down"));
    }
}

#[test]
fn sigpipe_is_ignored() {
    let tmp = TempDir::new("sigpipe");
    let d = Daemon::start(&tmp, &["--tls", "off"]);
    let status = std::fs::read_to_string(format!("/proc/{}/status", d.child.id())).unwrap();
    let ignored = status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .map(|hex| u64::from_str_radix(hex.trim(), 16).unwrap())
        .unwrap();
    assert_ne!(
        ignored & (1 << (13 - 1)),
        0,
        "SIGPIPE not ignored: {ignored:x}"
    );
}

#[test]
fn tls_on_without_a_store_is_one_clear_error() {
    let tmp = TempDir::new("nostore");
    let mut d = Daemon::spawn(&tmp, &["--store", &path_arg(&tmp.path("missing"))]);
    let status = d.wait_exit();
    assert_ne!(status.code(), Some(0));
    let log = d.log();
    assert!(log.contains("qnetd cert init"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
    assert_eq!(
        log.lines().filter(|l| l.contains("ERROR")).count(),
        1,
        "{log}"
    );
}

#[test]
fn a_server_key_open_to_other_users_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = TempDir::new("keymode");
    let store = Store::init(&tmp.path("store"));
    let key = store.dir.join(certtool::SERVER_KEY_FILE);
    let chmod = |mode| std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode));
    let args = ["--store", &path_arg(&store.dir)];
    for mode in [0o644, 0o660, 0o602] {
        chmod(mode).unwrap();
        let mut d = Daemon::spawn(&tmp, &args);
        assert_ne!(d.wait_exit().code(), Some(0), "mode {mode:o}");
        let log = d.log();
        let named = format!("{} is mode {mode:04o}", key.display());
        assert!(log.contains(&named), "{log}");
        assert!(
            log.contains(&format!("chmod 600 {}", key.display())),
            "{log}"
        );
    }
    // Debian's layout: root:coroqnetd 0640, the daemon reading the key as coroqnetd.
    chmod(0o640).unwrap();
    let _d = Daemon::start(&tmp, &args);
}

#[test]
fn second_instance_is_refused() {
    let tmp = TempDir::new("twice");
    let _first = Daemon::start(&tmp, &["--tls", "off"]);
    let mut second = Daemon::spawn(&tmp, &["--tls", "off"]);
    assert_eq!(second.wait_exit().code(), Some(1));
    assert!(
        second.log().contains("Another instance is running"),
        "{}",
        second.log()
    );
}

/// A command line `qnetd` cannot use exits 2 with the reason and a pointer to the right
/// --help, whether the flag is unknown or its value is bad (a bad value used to exit 1).
#[test]
fn bad_command_lines_exit_2_with_a_message() {
    for (args, needle) in [
        (
            vec!["run", "-S", "no_such_key=1"],
            "qnetd run: unknown option 'no_such_key'",
        ),
        (
            vec!["run", "--tls", "sometimes"],
            "qnetd run: tls must be one of on, off, required (or req)",
        ),
        (
            vec!["run", "--port", "70000"],
            "qnetd run: port must be a number from 1 to 65535 (got '70000')",
        ),
        (
            vec!["run", "-S", "dpd_enabled=perhaps"],
            "invalid value 'perhaps'",
        ),
        (
            vec!["run", "--bogus"],
            "qnetd run: Unrecognized argument: --bogus",
        ),
        (
            vec!["run", "--port"],
            "No value provided for option '--port'",
        ),
        (
            vec!["probe", "--algorithm", "best"],
            "not one of test, ffsplit, 2nodelms, lms",
        ),
        (vec!["probe", "--key", "k"], "--cert and --key go together"),
        (vec!["status", "--timeout", "0"], "at least 1 second"),
        (
            vec!["reload", "--bogus"],
            "qnetd reload: Unrecognized argument",
        ),
        (
            vec!["cert", "sign", "--bogus"],
            "qnetd cert sign: Unrecognized",
        ),
        (vec!["--bogus"], "qnetd: Unrecognized argument: --bogus"),
    ] {
        let out = Command::new(bin()).args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        let cmd = args.iter().take_while(|a| !a.starts_with('-')).take(2);
        let help = format!(
            "Run `{}` for the flags.",
            ["qnetd"]
                .into_iter()
                .chain(cmd.copied())
                .chain(["--help"])
                .collect::<Vec<_>>()
                .join(" ")
        );
        assert!(err.contains(&help), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

/// `-S =` and `-S ,` (an empty key) are refused with the reason: upstream silently ends
/// the list there, which dropped every setting after a stray comma unnoticed. `qnetd run`
/// exits 2 as for any bad command line; `corosync-qnetd` exits 1, as for its other bad
/// options (upstream's errx).
#[test]
fn an_empty_setting_key_is_refused_by_both_front_ends() {
    let tmp = TempDir::new("empty-key");
    let link = tmp.path("corosync-qnetd");
    std::os::unix::fs::symlink(bin(), &link).unwrap();
    // Without the refusal the daemon would stop at once anyway: its store does not exist.
    let store = path_arg(&tmp.path("no-store"));
    let nss_db_dir = format!("nss_db_dir={store}");
    for list in ["=", ",", "listen_backlog=20,", "=1"] {
        let run = ["run", "--tls", "on", "--store", &store];
        let out = Command::new(bin())
            .args(run)
            .args(["-S", list])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{list:?}: {err}");
        assert!(
            err.contains("qnetd run: empty option name in -S"),
            "{list:?}: {err}"
        );
        let compat = ["-f", "-s", "on", "-S", &nss_db_dir, "-S", list];
        let out = Command::new(&link).args(compat).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{list:?}: {err}");
        assert!(
            err.contains("corosync-qnetd: empty option name in -S"),
            "{list:?}: {err}"
        );
    }
}

/// The same binary called `corosync-qnetd` takes upstream's command line.
#[test]
fn corosync_qnetd_name_runs_the_same_daemon() {
    let tmp = TempDir::new("argv0");
    let store = Store::init(&tmp.path("store"));
    let link = tmp.path("corosync-qnetd");
    std::os::unix::fs::symlink(bin(), &link).unwrap();
    let port = free_port();
    let settings = format!(
        "lock_file={},local_socket_file={},nss_db_dir={}",
        path_arg(&tmp.path("qnetd.pid")),
        path_arg(&tmp.path("qnetd.sock")),
        path_arg(&store.dir)
    );
    let args: Vec<String> = [
        "-f",
        "-l",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-s",
        "req",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(["-S".to_string(), settings])
    .collect();
    let mut d = Daemon::spawn_with(&tmp, port, Path::new(&link), &args);
    d.wait_listening();
    let params = SessionParams {
        cluster: "alpha".into(),
        tls: Some(store.client_tls("alpha")),
        init: InitParams::default(),
    };
    block_on(async {
        let (_p, reply) = probe::session(d.addr, &params).await.unwrap();
        assert_eq!(reply.reply_error_code, Some(0), "{reply:?}");
    });
    let status = d.ipc("status");
    assert!(status.contains(&format!("127.0.0.1:{port}")), "{status}");
    assert!(
        status.contains("Required (client certificate required)"),
        "{status}"
    );
    assert_eq!(d.ipc("shutdown"), "OK\n");
    assert_eq!(d.wait_exit().code(), Some(0));

    let v = Command::new(&link).arg("-v").output().unwrap();
    assert_eq!(v.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&v.stdout).contains("Supported algorithms: Test (0)"));
}

/// Default listening socket: dual-stack `::`; an IPv4 client is shown unmapped.
#[test]
fn dual_stack_default_shows_ipv4_clients_unmapped() {
    let tmp = TempDir::new("dualstack");
    let port = free_port();
    let args: Vec<String> = [
        "run",
        "--tls",
        "off",
        "-p",
        &port.to_string(),
        "--lock-file",
        &path_arg(&tmp.path("qnetd.pid")),
        "--socket",
        &path_arg(&tmp.path("qnetd.sock")),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let d = Daemon::spawn_with(&tmp, port, Path::new(bin()), &args);
    d.wait_listening();
    block_on(async {
        let (_p, reply) = probe::session(d.addr, &plain("alpha", 1)).await.unwrap();
        assert_eq!(reply.reply_error_code, Some(0));
        let list = d.ipc("list");
        assert!(list.contains("Client address:\t\t127.0.0.1:"), "{list}");
        assert!(!list.contains("::ffff:"), "{list}");
    });
    let log = d.log();
    assert!(
        log.contains(&format!("listening on [::]:{port}"))
            || log.contains(&format!("listening on 0.0.0.0:{port}")),
        "{log}"
    );
}

#[test]
fn probe_failure_is_reported() {
    // Nothing listens on this port: the probe subcommand fails with a message, not a panic.
    let port = free_port();
    let out = Command::new(bin())
        .args(["probe", "--port", &port.to_string()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("qnetd probe:"), "{err}");
}

#[test]
fn init_refusals_are_logged_in_words_with_the_client_address() {
    let tmp = TempDir::new("refusals");
    let d = Daemon::start(
        &tmp,
        &["--tls", "off", "-S", "heartbeat_interval_max=10000"],
    );
    block_on(async {
        let mut params = plain("alpha", 1);
        params.init.heartbeat_ms = 20000;
        let (_p, reply) = probe::session(d.addr, &params).await.unwrap();
        assert_eq!(reply.msg_type, MsgType::InitReply);
        assert_eq!(reply.reply_error_code, Some(13));
        let mut params = plain("beta", 1);
        params.init.algorithm = Algorithm::Lms;
        let (_q, ok) = probe::session(d.addr, &params).await.unwrap();
        assert_eq!(ok.reply_error_code, Some(0));
        params.init.node_id = 2;
        params.init.algorithm = Algorithm::Ffsplit;
        let (_r, differs) = probe::session(d.addr, &params).await.unwrap();
        assert_eq!(differs.reply_error_code, Some(16));
    });
    let log = d.wait_log("heartbeat interval is outside");
    assert!(log.contains("1000..10000 ms"), "{log}");
    let log = d.wait_log("decision algorithm differs from the other nodes");
    assert!(log.contains("client 127.0.0.1:"), "{log}");
}

#[test]
fn stalled_tls_handshake_is_dropped_after_the_handshake_timeout() {
    let tmp = TempDir::new("tls-stall");
    let store = Store::init(&tmp.path("store"));
    let d = Daemon::start(
        &tmp,
        &[
            "--store",
            &path_arg(&store.dir),
            "-S",
            "handshake_timeout=300",
        ],
    );
    block_on(async {
        let mut p = Probe::connect(d.addr).await.unwrap();
        p.preinit("alpha").await.unwrap();
        p.send_starttls().await.unwrap();
        // No ClientHello follows.
        p.wait_closed().await.unwrap();
    });
    d.wait_log("TLS handshake not completed within 300 ms");
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let tmp = TempDir::new("pipeline");
    let d = Daemon::start(&tmp, &["--tls", "off"]);
    block_on(async {
        let (mut p, reply) = probe::session(d.addr, &plain("alpha", 1)).await.unwrap();
        assert_eq!(reply.reply_error_code, Some(0));
        let mut burst = Vec::new();
        let first = p.next_seq();
        for i in 0..200 {
            let mut echo = qnetd::proto::types::Message::new(MsgType::EchoRequest);
            echo.seq = Some(first + i);
            burst.extend(qnetd::proto::codec::encode(&echo));
        }
        p.send_raw(&burst).await.unwrap();
        for i in 0..200 {
            let r = p.recv().await.unwrap();
            assert_eq!((r.msg_type, r.seq), (MsgType::EchoReply, Some(first + i)));
        }
    });
}

/// ffsplit: when the winning node goes away, the server re-decides and sends the other
/// client a VOTE_INFO ACK: an output routed to another client's FIFO.
#[test]
fn ffsplit_redecision_reaches_the_other_client() {
    use qnetd::proto::types::{Heuristics, NodeInfo, NodeListType, RingId, Vote};
    let tmp = TempDir::new("redecide");
    let d = Daemon::start(&tmp, &["--tls", "off"]);
    let nodes = [NodeInfo::new(1), NodeInfo::new(2)];
    block_on(async {
        let mut clients = Vec::new();
        for id in [1u32, 2] {
            let ring = RingId {
                node_id: id,
                seq: 4 + u64::from(id),
            };
            let p = joined(d.addr, id, ring, &nodes).await;
            clients.push((p, ring));
        }
        // Split: each node sees only itself. The lowest node id wins the tie: node 2 is
        // told NACK.
        let mut votes = Vec::new();
        for (i, (p, ring)) in clients.iter_mut().enumerate() {
            let me = [NodeInfo::new(i as u32 + 1)];
            let got = p
                .node_list(
                    NodeListType::Membership,
                    Some(*ring),
                    None,
                    &me,
                    Heuristics::Pass,
                )
                .await
                .unwrap();
            for m in got.iter().filter(|m| m.msg_type == MsgType::VoteInfo) {
                p.vote_info_reply(m).await.unwrap();
            }
            votes.push(got.iter().filter_map(|m| m.vote).collect::<Vec<_>>());
        }
        assert!(votes[1].contains(&Vote::Nack), "{votes:?}");
        assert!(!votes[1].contains(&Vote::Ack), "{votes:?}");
        let (first, _) = clients.remove(0);
        drop(first);
        let (mut second, _) = clients.remove(0);
        loop {
            let m = second.recv().await.unwrap();
            if m.msg_type == MsgType::VoteInfo {
                second.vote_info_reply(&m).await.unwrap();
                if m.vote == Some(Vote::Ack) {
                    break;
                }
            }
        }
    });
}
