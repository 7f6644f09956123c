//! luci-app-qnetd's own files: the ACL against what the views call, the views parse (node)
//! and behave (under a stand-in for LuCI, tests/luci/harness.js), the menu and ACL are JSON,
//! the settings view knows the daemon's settings and validates as it does; shellcheck on the
//! rpcd plugin.

use super::json::Json;
use super::ops_luci::{embedded_views, root, Plugin, ACL, MENU, PLUGIN, VIEWS};
use crate::support::server::TempDir;
use std::collections::BTreeSet;
use std::process::Command;

fn views() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(root().join(VIEWS))
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&path).unwrap())
        })
        .collect();
    out.sort();
    out
}

/// The quoted word after `key:` or `key(` at `at` in `text` (`object: 'qnetd'`).
fn quoted_after(text: &str, key: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(key) {
        rest = &rest[i + key.len()..];
        let trimmed = rest.trim_start_matches([' ', ':', '(']);
        if let Some(q) = trimmed.chars().next().filter(|c| *c == '\'' || *c == '"') {
            let body = &trimmed[1..];
            found.push(body[..body.find(q).unwrap()].to_string());
        }
    }
    found
}

/// `(object, method)` of every rpc.declare in a view.
fn declared_calls(js: &str) -> BTreeSet<(String, String)> {
    js.split("rpc.declare(")
        .skip(1)
        .map(|block| {
            let block = &block[..block.find("})").expect("rpc.declare({ … })")];
            let object = quoted_after(block, "object");
            let method = quoted_after(block, "method");
            assert_eq!((object.len(), method.len()), (1, 1), "{block}");
            (object[0].clone(), method[0].clone())
        })
        .collect()
}

fn acl_ubus(section: &Json) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    if let Some(Json::Obj(objects)) = section.opt("ubus") {
        for (object, methods) in objects {
            for m in methods.arr() {
                assert!(
                    out.insert((object.clone(), m.str().to_string())),
                    "granted twice"
                );
            }
        }
    }
    out
}

fn acl_uci(section: &Json) -> BTreeSet<String> {
    section
        .opt("uci")
        .map(|u| u.arr().iter().map(|c| c.str().to_string()).collect())
        .unwrap_or_default()
}

#[test]
fn acl_grants_exactly_what_the_views_call() {
    let mut calls = BTreeSet::new();
    let mut configs = BTreeSet::new();
    for (name, js) in views() {
        calls.extend(declared_calls(&js));
        configs.extend(quoted_after(&js, "form.Map"));
        configs.extend(quoted_after(&js, "uci.load"));
        assert!(
            !js.contains("fs.exec") && !js.contains("'require fs'"),
            "{name}"
        );
    }
    let want: BTreeSet<(String, String)> = [
        ("network.interface", "dump"),
        ("qnetd", "certificates"),
        ("qnetd", "health"),
        ("qnetd", "revoke"),
        ("qnetd", "status"),
    ]
    .iter()
    .map(|(o, m)| (o.to_string(), m.to_string()))
    .collect();
    assert_eq!(
        calls, want,
        "the views' calls changed: update the ACL and this list"
    );
    assert_eq!(configs, BTreeSet::from(["qnetd".to_string()]));

    let acl = Json::parse(&std::fs::read_to_string(root().join(ACL)).unwrap()).unwrap();
    assert_eq!(acl.keys(), ["luci-app-qnetd"]);
    let app = acl.get("luci-app-qnetd");
    let (read, write) = (app.get("read"), app.get("write"));
    let (read_ubus, write_ubus) = (acl_ubus(read), acl_ubus(write));
    // Only revoke changes anything: it alone needs write access.
    let writes = BTreeSet::from([("qnetd".to_string(), "revoke".to_string())]);
    assert_eq!(write_ubus, writes);
    let reads: BTreeSet<_> = want.difference(&writes).cloned().collect();
    assert_eq!(read_ubus, reads);
    assert_eq!(acl_uci(read), configs);
    assert_eq!(acl_uci(write), configs);
    for section in [read, write] {
        for key in section.keys() {
            assert!(matches!(key, "ubus" | "uci"), "grants {key} too");
        }
    }
    // Every method granted on object qnetd is one the plugin lists.
    let tmp = TempDir::new("luci-acl");
    let p = Plugin::new(&tmp, tmp.path("s"), tmp.path("p"), tmp.path("st"));
    let (_, list) = p.run(&["list"], "");
    let listed = Json::parse(list.trim_end()).unwrap();
    for (object, method) in read_ubus.union(&write_ubus) {
        if object == "qnetd" {
            listed.get(method);
        }
    }
}

#[test]
fn views_parse_and_menu_and_acl_are_valid_json() {
    let names: Vec<String> = views().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["certificates.js", "settings.js", "status.js"]);
    // What node must parse is what `qnetd install` writes.
    let tmp = TempDir::new("luci-parse");
    let embedded = embedded_views(&tmp);
    for name in &names {
        let path = embedded.join(name);
        let out = Command::new("node")
            .arg("--check")
            .arg(&path)
            .output()
            .expect("node (apt install nodejs)");
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for (name, js) in views() {
        assert!(js.starts_with("'use strict';\n'require view';\n"), "{name}");
    }
    let menu = Json::parse(&std::fs::read_to_string(root().join(MENU)).unwrap()).unwrap();
    let entries = menu.keys();
    assert_eq!(entries[0], "admin/services/qnetd");
    let top = menu.get("admin/services/qnetd");
    assert_eq!(
        top.get("depends").get("acl").arr(),
        [Json::Str("luci-app-qnetd".into())]
    );
    // Each view entry names a view file that exists.
    let mut viewed = Vec::new();
    for entry in &entries[1..] {
        let action = menu.get(entry).get("action");
        assert_eq!(action.get("type").str(), "view");
        let view = action.get("path").str();
        let file = view.strip_prefix("qnetd/").unwrap().to_string() + ".js";
        assert!(names.contains(&file), "{entry}: {view}");
        viewed.push(file);
    }
    viewed.sort();
    assert_eq!(viewed, names, "every view is in the menu");
    Json::parse(&std::fs::read_to_string(root().join(ACL)).unwrap()).unwrap();
}

/// The settings view checks `list setting` entries against the keys `qnetd run -S` accepts:
/// the same keys, so an entry the form accepts is one the daemon accepts.
#[test]
fn settings_view_knows_every_setting_of_the_daemon() {
    let js = std::fs::read_to_string(root().join(VIEWS).join("settings.js")).unwrap();
    let start = js.find("var SETTINGS = {").unwrap();
    let body = &js[start..start + js[start..].find("\n};").unwrap()];
    // The table's own lines are indented once: `\tkey: rule,`.
    let keys: Vec<&str> = body
        .lines()
        .skip(1)
        .filter_map(|l| l.strip_prefix('\t')?.split_once(':').map(|(k, _)| k))
        .filter(|k| k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        .collect();
    let daemon: Vec<&str> = qnetd::settings::setting_keys().collect();
    assert_eq!(keys, daemon);
    // Every option of the shipped UCI file is a form field.
    let uci = std::fs::read_to_string(root().join("init.d/qnetd.config")).unwrap();
    for line in uci.lines() {
        let words: Vec<&str> = line
            .trim_start_matches(['\t', '#'])
            .split_whitespace()
            .collect();
        if let ["option" | "list", name, ..] = words.as_slice() {
            assert!(
                js.contains(&format!("'{name}'")),
                "option {name} has no field"
            );
        }
    }
}

#[test]
fn shellcheck_the_plugin() {
    let out = Command::new("shellcheck")
        .args(["-s", "sh"])
        .arg(root().join(PLUGIN))
        .output()
        .expect("shellcheck (apt install shellcheck)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

// ---- the views' behaviour, under a stand-in for LuCI (tests/luci/harness.js) --------------

/// A JSON string (the test's inputs are plain text).
fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A cluster name as a client may send it: HTML, which the page must show as text.
const HOSTILE: &str = "<img src=x onerror=alert(1)>";

const STATUS_FIXTURE: &str = r#"{"running":true,"pid":4242,"uptime_s":3725,"schema_version":1,
 "qnetd_version":"0.1.0","listen_address":null,"port":5403,"tls":"required",
 "client_cert_required":true,"connected_clients":3,"max_clients":304,"max_send_size":32768,
 "max_receive_size":32768,"clusters":[
 {"name":"pve","algorithm":"ffsplit","tie_breaker":"lowest","kap_tie_breaker":false,"nodes":[
  {"node_id":1,"address":"::ffff:192.168.1.11:41216","heartbeat_interval_ms":8000,
   "tls_active":true,"cert_verified":true,"vote":"ack","ack_nack_vote":"ack","ms_since_last_message":812},
  {"node_id":2,"address":"::ffff:192.168.1.12:41000","heartbeat_interval_ms":8000,
   "tls_active":true,"cert_verified":true,"vote":"nack","ack_nack_vote":"nack","ms_since_last_message":100},
  {"node_id":3,"address":"::ffff:192.168.1.13:41001","heartbeat_interval_ms":8000,
   "tls_active":true,"cert_verified":true,"vote":"no_change","ack_nack_vote":"ack","ms_since_last_message":100}]},
 {"name":"HOSTILE","algorithm":"ffsplit","tie_breaker":"lowest","kap_tie_breaker":false,"nodes":[
  {"node_id":7,"address":"::ffff:10.0.0.7:40000","heartbeat_interval_ms":8000,
   "tls_active":false,"cert_verified":false,"vote":"wait_for_reply","ack_nack_vote":"nack",
   "ms_since_last_message":5}]}]}"#;

const INTERFACES_FIXTURE: &str = r#"{"interface":[
 {"interface":"lan","up":true,"ipv4-address":[{"address":"192.168.1.1","mask":24}],
  "ipv6-address":[{"address":"fd00::1","mask":64}],"ipv6-prefix-assignment":[]},
 {"interface":"wan","up":true,"ipv4-address":[{"address":"203.0.113.5","mask":24}]},
 {"interface":"loopback","up":true,"ipv4-address":[{"address":"127.0.0.1","mask":8}]},
 {"interface":"guest","up":false,"ipv4-address":[{"address":"10.9.9.1","mask":24}]}]}"#;

const CERTS_FIXTURE: &str = r#"{"store":"/etc/corosync/qnetd/nssdb",
 "ca":{"name":"QNet CA","serial":"9899199997814314352","not_after":4952213248,"not_after_date":"2126-12-06","days_left":36524,"sha256":"E7:31","in_use":true,"revoked":false,"revoked_at":null,"reason":null},
 "server":{"name":"Qnetd Server","serial":"102","not_after":4952213248,"not_after_date":"2126-12-06","days_left":-3,"sha256":"6E:B5","in_use":true,"revoked":false,"revoked_at":null,"reason":null},
 "clusters":[
 {"name":"HOSTILE","serial":"105","not_after":4952213248,"not_after_date":"2126-12-06","days_left":36524,"sha256":"E0:33","in_use":true,"revoked":false,"revoked_at":null,"reason":null},
 {"name":"old","serial":"103","not_after":4952213248,"not_after_date":"2126-12-06","days_left":36524,"sha256":"E0:34","in_use":false,"revoked":false,"revoked_at":null,"reason":null},
 {"name":"gone","serial":"104","not_after":4952213248,"not_after_date":"2126-12-06","days_left":36524,"sha256":"E0:35","in_use":true,"revoked":true,"revoked_at":1765000000,"reason":"revoked from LuCI"}],
 "unrecorded_revocations":[]}"#;

/// `list setting` entries and `http` values to ask both the form and the daemon about.
fn setting_cases() -> Vec<String> {
    let values = [
        "",
        "0",
        "1",
        "2",
        "15",
        "16",
        "+5",
        " 5",
        "5 ",
        "1023",
        "1024",
        "777",
        "1000",
        "2147483647",
        "2147483648",
        "4294967295",
        "4294967296",
        "-1",
        "abc",
        "on",
        "OFF",
        "yes",
        "1.5",
        "0.5",
        ".5",
        "3.",
        "1e2",
        "1000.1",
        "0x10",
        "/path",
    ];
    let mut cases = Vec::new();
    for key in qnetd::settings::setting_keys() {
        for v in values {
            // The form cannot see the router's /etc/group: a group name is the daemon's to
            // check (numbers, empty and -1 are compared).
            if key == "local_socket_gid" && v.parse::<i64>().is_err() && !v.is_empty() {
                continue;
            }
            cases.push(format!("{key}={v}"));
        }
    }
    cases.extend(
        [
            "unknown=1",
            "HEARTBEAT_INTERVAL_MAX=60000",
            "listen_backlog=5,ipc_max_clients=3",
            "listen_backlog=5,max_client_send_size=1",
            "listen_backlog=5,,anything",
        ]
        .map(String::from),
    );
    cases
}

fn http_cases() -> Vec<String> {
    [
        "",
        "192.168.1.1:5404",
        "1.2.3.4",
        "[::1]:5404",
        "[::]:0",
        "01.2.3.4:5",
        "1.2.3.4:0",
        "1.2.3.4:65535",
        "1.2.3.4:65536",
        "1.2.3.4:080",
        "[::ffff:1.2.3.4]:80",
        "host:80",
        ":80",
        "[::1]",
        "256.1.1.1:80",
        "[fe80::1%2]:80",
        "::1:80",
    ]
    .map(String::from)
    .to_vec()
}

fn run_harness() -> (Json, Vec<String>, Vec<String>) {
    let settings = setting_cases();
    let http = http_cases();
    let list = |v: &[String]| {
        let items: Vec<String> = v.iter().map(|s| quote(s)).collect();
        format!("[{}]", items.join(","))
    };
    let input = format!(
        r#"{{"fixtures":{{"qnetd.status":{},"network.interface.dump":{},"qnetd.certificates":{},
        "qnetd.health":{{"running":true,"status":"fail","reason":"the server certificate expired 3 days ago"}},
        "qnetd.revoke":{{"ok":true,"cluster":"x","revoked":1,"already_revoked":0,"reloaded":true}}}},
        "poll_status":{{"running":false}},"settings":{},"http":{}}}"#,
        STATUS_FIXTURE.replace("HOSTILE", HOSTILE),
        INTERFACES_FIXTURE,
        CERTS_FIXTURE.replace("HOSTILE", HOSTILE),
        list(&settings),
        list(&http)
    );
    Json::parse(&input).expect("the harness input is JSON");
    // The views as `qnetd install` embeds them.
    let tmp = TempDir::new("luci-harness");
    let out = Command::new("node")
        .arg(root().join("tests/luci/harness.js"))
        .arg(embedded_views(&tmp))
        .arg(&input)
        .output()
        .expect("node (apt install nodejs)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = Json::parse(&String::from_utf8(out.stdout).unwrap()).unwrap();
    (doc, settings, http)
}

fn calls_of(doc: &Json, key: &str) -> Vec<(String, String)> {
    doc.get(key)
        .arr()
        .iter()
        .map(|c| {
            (
                c.get("object").str().to_string(),
                c.get("method").str().to_string(),
            )
        })
        .collect()
}

#[test]
fn views_render_what_the_daemon_says_and_escape_what_clients_send() {
    let (doc, settings, http) = run_harness();

    // Status: one status call (and the interfaces once) though LuCI runs the poll at once
    // after render; then one status call per poll.
    let status = doc.get("status_html").str();
    assert_eq!(
        calls_of(&doc, "status_calls"),
        [
            ("qnetd".to_string(), "status".to_string()),
            ("network.interface".to_string(), "dump".to_string())
        ]
    );
    assert_eq!(
        calls_of(&doc, "poll_calls"),
        [("qnetd".to_string(), "status".to_string())]
    );
    let every = doc.get("poll_every").arr();
    assert_eq!(every.len(), 1);
    assert!((2.0..=10.0).contains(&every[0].num()));
    for want in [
        "4242",
        "0.1.0",
        "1h 2m 5s",
        "all addresses port 5403",
        "required, client certificate required",
        "Cluster pve",
        "has its third vote",
        "has no third vote",
        "ACK",
        "NACK",
        "WAIT FOR REPLY (NACK)",
        "NO CHANGE (ACK)",
        "::ffff:192.168.1.11:41216",
        "every 8.0 s, last message 0.8 s ago",
        "pvecm qdevice setup 192.168.1.1",
        "pvecm qdevice setup fd00::1",
        "qnetd cert bundle --cluster CLUSTER-NAME",
    ] {
        assert!(status.contains(want), "{want:?} not in:\n{status}");
    }
    assert_eq!(status.matches("has its third vote").count(), 1, "{status}");
    for never in [
        "203.0.113.5",
        "127.0.0.1",
        "10.9.9.1",
        "<img",
        "port 5403; this",
    ] {
        assert!(!status.contains(never), "{never:?} in:\n{status}");
    }
    assert!(
        status.contains("&#60;img src=x onerror=alert(1)&#62;"),
        "{status}"
    );
    let after = doc.get("status_after_poll_html").str();
    assert!(after.contains("The arbiter is not running."), "{after}");
    assert!(!after.contains("Cluster pve"), "{after}");

    // Certificates: health, expiry, and revoke only where it means something.
    let certs = doc.get("certificates_html").str();
    assert_eq!(
        calls_of(&doc, "certificates_calls"),
        [
            ("qnetd".to_string(), "certificates".to_string()),
            ("qnetd".to_string(), "health".to_string())
        ]
    );
    for want in [
        "Health: the server certificate expired 3 days ago",
        "2126-12-06 (36524 days left)",
        "expired 3 days ago",
        "9899199997814314352",
        "no (replaced)",
        "yes, ",
    ] {
        assert!(certs.contains(want), "{want:?} not in:\n{certs}");
    }
    assert!(!certs.contains("<img"), "{certs}");
    assert_eq!(
        doc.get("revoke_buttons").num(),
        1.0,
        "only the in-use, unrevoked certificate: {certs}"
    );
    let modal = doc.get("modal_html").str();
    assert!(modal.contains("&#60;img src=x"), "{modal}");
    assert!(!modal.contains("<img"), "{modal}");
    // The revoke names the cluster as the daemon knows it, unescaped, after confirmation.
    let revoke = doc.get("revoke_calls").arr();
    assert_eq!(revoke[0].get("method").str(), "revoke");
    assert_eq!(revoke[0].get("args").arr(), [Json::Str(HOSTILE.into())]);
    assert_eq!(revoke[0].get("params").arr(), [Json::Str("cluster".into())]);
    // Then the page reloads its data.
    let reload: Vec<&str> = revoke[1..].iter().map(|c| c.get("method").str()).collect();
    assert_eq!(reload, ["certificates", "health"]);

    // Settings: every UCI option is a field, and the form accepts what the daemon accepts.
    let fields: Vec<&str> = doc
        .get("settings_options")
        .arr()
        .iter()
        .map(|o| o.str())
        .collect();
    assert_eq!(
        fields,
        [
            "enabled",
            "listen_address",
            "port",
            "tls",
            "client_cert_required",
            "max_clients",
            "debug",
            "http",
            "user",
            "store",
            "setting"
        ]
    );
    assert_eq!(
        doc.get("tls_values").arr(),
        ["required", "on", "off"].map(|v| Json::Str(v.into()))
    );
    let mut cfg = qnetd::settings::Config::default();
    for v in ["required", "on", "off"] {
        cfg.set_tls(v).unwrap();
    }
    let verdicts = doc.get("setting_verdicts").arr();
    let mut differ = Vec::new();
    for (entry, verdict) in settings.iter().zip(verdicts) {
        let daemon = qnetd::settings::AdvancedSettings::default()
            .apply_list(entry)
            .is_ok();
        let form = verdict == &Json::Bool(true);
        if daemon != form {
            differ.push(format!("{entry:?}: daemon {daemon}, form {verdict:?}"));
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
    let verdicts = doc.get("http_verdicts").arr();
    for (value, verdict) in http.iter().zip(verdicts) {
        let daemon = qnetd::settings::parse_http_listen(value).is_some();
        assert_eq!(
            daemon,
            verdict == &Json::Bool(true),
            "http {value:?}: form says {verdict:?}"
        );
    }
}
