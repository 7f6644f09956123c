//! `qnetd status` and `qnetd status --json` against our status socket server, Debian's daemon,
//! and nothing at all; and the JSON keys against docs/status-json.md.

mod ops_common;

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
