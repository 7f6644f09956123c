//! `qnetd status` and `qnetd status --json` against our status socket server, Debian's daemon,
//! and nothing at all; and the JSON keys against docs/status-json.md.

use crate::support::ops as ops_common;

use ops_common::*;
use std::collections::BTreeSet;
use std::path::Path;

fn qnetd() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_qnetd"))
}

#[test]
fn table_and_json_from_our_server() {
    let dir = TempDir::new("status-cli");
    let socket = dir.path().join("s.sock");
    let _server = OurServer::start(&socket, two_clusters());
    let sock = socket.to_str().unwrap();

    let (out, err, code) = run(qnetd(), &["status", "-p", sock]);
    let table = String::from_utf8(out).unwrap();
    assert_eq!(code, Some(0), "{}", String::from_utf8_lossy(&err));
    assert!(table.contains("listening on *:5403, TLS on, client certificate required"));
    assert!(
        table.contains("5 clients connected (max 64), 2 clusters"),
        "{table}"
    );
    let rows: Vec<&str> = table.lines().skip(4).collect();
    assert_eq!(rows.len(), 4, "{table}");
    assert!(rows[0].starts_with("alpha ") && rows[0].contains("ffsplit/lowest+kap"));
    assert!(rows[2].starts_with("beta \"two\"") && rows[2].contains("lms/3"));
    assert!(rows[2].contains("nack"), "{table}");
    assert!(
        rows[3].contains(" - "),
        "node without a vote shows '-': {table}"
    );

    let (out, _, code) = run(qnetd(), &["status", "--json", "-p", sock]);
    assert_eq!(code, Some(0));
    let json = String::from_utf8(out).unwrap();
    assert!(json.starts_with("{\"schema_version\":1,"));
    assert!(json.ends_with("}\n") && json.lines().count() == 1);
    assert!(json.contains("\"name\":\"beta \\\"two\\\"\""), "{json}");
    assert!(json.contains("\"tie_breaker\":\"3\""));
    assert!(json.contains("\"address\":\"::ffff:192.168.7.21:40112\""));
}

#[test]
fn exit_codes_tell_whether_the_daemon_answers() {
    let dir = TempDir::new("status-exit");
    let missing = dir.path().join("none.sock");
    let (out, err, code) = run(qnetd(), &["status", "-p", missing.to_str().unwrap()]);
    assert_eq!(code, Some(3));
    assert!(out.is_empty());
    assert!(String::from_utf8_lossy(&err).contains("qnetd is not running"));

    // Upstream's daemon answers, but does not know our command.
    let debian = DebianDaemon::start(dir.path());
    let (_, err, code) = run(
        qnetd(),
        &["status", "--json", "-p", debian.socket.to_str().unwrap()],
    );
    assert_eq!(code, Some(4));
    assert!(String::from_utf8_lossy(&err).contains("corosync-qnetd-tool -l -v"));
}

/// Every key the JSON has is documented, and every documented key is emitted.
#[test]
fn json_keys_match_the_documented_schema() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/status-json.md"))
        .unwrap();
    let documented: BTreeSet<String> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(String::from)
        .collect();
    let json = qnetd::status::json::to_json(&two_clusters());
    // A key is a string literal followed by ':'.
    let mut emitted = BTreeSet::new();
    let mut chars = json.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '"' {
            continue;
        }
        let mut lit = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => lit.extend(chars.next()),
                '"' => break,
                c => lit.push(c),
            }
        }
        if chars.peek() == Some(&':') {
            emitted.insert(lit);
        }
    }
    // node-info keys are documented in prose.
    let mut documented = documented;
    documented.insert("data_center_id".into());
    assert_eq!(emitted, documented);
}

/// `qnetd status` with `args` against a listener that does `serve` with each connection;
/// (exit code, stderr) and how long it took.
fn status_against(
    serve: fn(std::os::unix::net::UnixStream),
    args: &[&str],
) -> (Option<i32>, String, std::time::Duration) {
    let dir = TempDir::new("status-fake");
    let socket = dir.path().join("fake.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    std::thread::spawn(move || {
        for s in listener.incoming().flatten() {
            std::thread::spawn(move || serve(s));
        }
    });
    let mut all = vec!["status", "-p", socket.to_str().unwrap()];
    all.extend_from_slice(args);
    let start = std::time::Instant::now();
    let (_, err, code) = run(qnetd(), &all);
    (
        code,
        String::from_utf8_lossy(&err).into_owned(),
        start.elapsed(),
    )
}

/// The documented exit codes (--help, docs/daemon.md): 1 when no answer comes (timeout,
/// closed without answering, permission denied), 2 for a bad command line, 3 only when no
/// daemon is there (no file, or a file nothing listens on).
#[test]
fn exit_codes_for_no_answer_bad_flags_and_a_stale_socket() {
    // Accepts, never answers: --timeout bounds the wait.
    let (code, err, took) = status_against(
        |s| {
            std::thread::sleep(std::time::Duration::from_secs(10));
            drop(s)
        },
        &["--timeout", "1"],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("did not answer within 1 s"), "{err}");
    assert!(took < std::time::Duration::from_secs(5), "{took:?}");

    // Closes without answering (a full daemon, before it made room for new clients).
    let (code, err, _) = status_against(drop, &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("closed the connection without answering"),
        "{err}"
    );

    // A socket file left behind, nothing listening: not running.
    let dir = TempDir::new("status-stale");
    let stale = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    let (_, err, code) = run(qnetd(), &["status", "-p", stale.to_str().unwrap()]);
    assert_eq!(code, Some(3), "{}", String::from_utf8_lossy(&err));

    // Bad command lines, unknown flag or bad value alike.
    for args in [
        &["status", "--bogus"][..],
        &["status", "--timeout", "0"],
        &["status", "--timeout", "x"],
    ] {
        let (out, err, code) = run(qnetd(), args);
        assert_eq!(code, Some(2), "{args:?}: {}", String::from_utf8_lossy(&err));
        assert!(out.is_empty());
    }
}

/// A user who may not open the socket is told so (exit 1), not that qnetd is not running.
#[test]
fn permission_denied_is_not_not_running() {
    use std::os::unix::process::CommandExt;
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: needs root to run as nobody");
        return;
    }
    let dir = TempDir::new("status-perm");
    let socket = dir.path().join("s.sock");
    let _server = OurServer::start(&socket, two_clusters());
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = std::process::Command::new(qnetd())
        .args(["status", "-p", socket.to_str().unwrap()])
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cannot connect to") && err.contains("Permission denied"),
        "{err}"
    );
}

/// The exit codes in `qnetd status --help` are the ones docs/daemon.md lists, word for word.
#[test]
fn help_and_docs_list_the_same_exit_codes() {
    let (out, _, code) = run(qnetd(), &["status", "--help"]);
    assert_eq!(code, Some(0));
    let help = String::from_utf8(out).unwrap();
    let codes: Vec<(String, String)> = help
        .split("Error codes:\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no exit codes in --help:\n{help}"))
        .lines()
        .filter_map(|l| l.trim().split_once(' '))
        .map(|(c, text)| (c.to_string(), text.to_string()))
        .collect();
    assert_eq!(codes.len(), 5, "{help}");
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/daemon.md")).unwrap();
    let json_doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/status-json.md"))
            .unwrap();
    let json_exit = json_doc
        .split("Exit status")
        .nth(1)
        .and_then(|t| t.split("\n\n").next())
        .unwrap_or_else(|| panic!("no exit status in docs/status-json.md"));
    for (code, text) in codes {
        let row = format!("| {code} | {text} |");
        assert!(doc.contains(&row), "docs/daemon.md lacks {row:?}");
        // docs/status-json.md says each code with the same meaning (its first words).
        let first = text.split([':', ' ']).next().unwrap_or_default();
        let said = format!("`{code}` {first}");
        assert!(
            json_exit.contains(&said),
            "docs/status-json.md lacks {said:?}:\n{json_exit}"
        );
    }
    assert!(!json_exit.contains("any other failure"), "{json_exit}");
}
