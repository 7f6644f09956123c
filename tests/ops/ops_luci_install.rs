//! `qnetd install` and `uninstall` of the rpcd plugin and the LuCI page in a BusyBox-only
//! OpenWrt root (tests/support/router): with LuCI and rpcd, with rpcd alone, with neither.
//! With LuCI, the installed plugin then answers `call status` for the daemon the install
//! started, from inside the root with the default paths.

use super::json::Json;
use super::ops_luci::embedded;
use crate::support::router::{static_binary, RouterRoot};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PLUGIN: &str = "/usr/libexec/rpcd/qnetd";
/// (installed path, repository file) of every LuCI file.
const LUCI: [(&str, &str); 5] = [
    (
        "/www/luci-static/resources/view/qnetd/status.js",
        "init.d/luci-app-qnetd/htdocs/luci-static/resources/view/qnetd/status.js",
    ),
    (
        "/www/luci-static/resources/view/qnetd/certificates.js",
        "init.d/luci-app-qnetd/htdocs/luci-static/resources/view/qnetd/certificates.js",
    ),
    (
        "/www/luci-static/resources/view/qnetd/settings.js",
        "init.d/luci-app-qnetd/htdocs/luci-static/resources/view/qnetd/settings.js",
    ),
    (
        "/usr/share/luci/menu.d/luci-app-qnetd.json",
        "init.d/luci-app-qnetd/root/usr/share/luci/menu.d/luci-app-qnetd.json",
    ),
    (
        "/usr/share/rpcd/acl.d/luci-app-qnetd.json",
        "init.d/luci-app-qnetd/root/usr/share/rpcd/acl.d/luci-app-qnetd.json",
    ),
];

/// Stand-in for OpenWrt's /etc/init.d/rpcd: records the call, as the other stand-ins do.
const RPCD_STANDIN: &str = "#!/bin/sh\necho \"rpcd $*\" >>/tmp/rc.log\n";

/// The root, with its own network namespace (the daemon install starts listens there only)
/// and mount namespace (its /proc, which the plugin reads).
struct Router {
    root: RouterRoot,
    holder: Child,
}

impl Router {
    fn new(tag: &str, rpcd: bool, luci: bool) -> Router {
        let dir = std::env::temp_dir().join(format!("qnetd-luci-{tag}-{}", std::process::id()));
        let root = RouterRoot::build(&dir, &static_binary(), true);
        if rpcd {
            for (path, text) in [
                ("/sbin/rpcd", "#!/bin/sh\n"),
                ("/etc/init.d/rpcd", RPCD_STANDIN),
            ] {
                let p = root.file(path);
                fs::create_dir_all(p.parent().unwrap()).unwrap();
                fs::write(&p, text).unwrap();
                fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
            }
        }
        if luci {
            fs::create_dir_all(root.file("/www/luci-static/resources/view")).unwrap();
        }
        let setup = format!(
            "mount --make-rprivate / && mount -t proc proc '{r}/proc' && \
             mount --bind /dev '{r}/dev' && ip link set lo up && exec sleep 600",
            r = root.path.display()
        );
        let holder = Command::new("unshare")
            .args(["-n", "-m", "sh", "-c", &setup])
            .stdin(Stdio::null())
            .spawn()
            .expect("unshare -n -m (run as root)");
        let through = format!(
            "/proc/{}/root{}/proc/self",
            holder.id(),
            root.path.display()
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while !Path::new(&through).exists() {
            assert!(
                Instant::now() < deadline,
                "the root's /proc was not mounted"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Router { root, holder }
    }

    fn sh(&self, args: &[&str]) -> (String, String, i32) {
        let out = Command::new("nsenter")
            .args([
                "-t",
                &self.holder.id().to_string(),
                "-n",
                "-m",
                "--",
                "chroot",
            ])
            .arg(&self.root.path)
            .args(args)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .stdin(Stdio::null())
            .output()
            .expect("nsenter");
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
            out.status.code().unwrap_or(-1),
        )
    }

    fn ok(&self, args: &[&str]) -> String {
        let (out, err, code) = self.sh(args);
        assert_eq!(code, 0, "{args:?} failed:\n{out}\n{err}");
        out
    }

    fn read(&self, inside: &str) -> String {
        fs::read_to_string(self.root.file(inside)).unwrap_or_default()
    }

    fn exists(&self, inside: &str) -> bool {
        fs::symlink_metadata(self.root.file(inside)).is_ok()
    }

    fn mode(&self, inside: &str) -> u32 {
        fs::metadata(self.root.file(inside))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    }

    /// `call status` of the installed plugin, until the daemon the install started answers.
    fn status_when_running(&self) -> Json {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let out = self.ok(&[PLUGIN, "call", "status"]);
            let doc = Json::parse(out.trim_end()).unwrap_or_else(|e| panic!("{e}: {out}"));
            if doc.get("running") == &Json::Bool(true) {
                return doc;
            }
            assert!(
                Instant::now() < deadline,
                "{out}\nlog:\n{}",
                self.read("/tmp/qnetd.log")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        // Every process whose root is this directory: the daemon the stand-in procd started.
        let root = fs::canonicalize(&self.root.path).unwrap_or_default();
        if let Ok(procs) = fs::read_dir("/proc") {
            for p in procs.flatten() {
                if fs::read_link(p.path().join("root")).ok().as_deref() == Some(root.as_path()) {
                    let _ = Command::new("kill").arg("-9").arg(p.file_name()).status();
                }
            }
        }
        let _ = self.holder.kill();
        let _ = self.holder.wait();
        if !std::thread::panicking() {
            let _ = fs::remove_dir_all(&self.root.path);
        }
    }
}

#[test]
fn with_luci_install_writes_the_page_and_plugin_and_uninstall_removes_them() {
    let r = Router::new("with", true, true);
    fs::write(r.root.file("/tmp/luci-indexcache.0123abcd.json"), "{}").unwrap();
    fs::create_dir_all(r.root.file("/tmp/luci-modulecache/luci")).unwrap();

    let plan = r.ok(&["/tmp/qnetd", "install", "--dry-run"]);
    for want in [
        "install: would write /usr/libexec/rpcd/qnetd (rpcd plugin: ubus object qnetd)",
        "install: would write /www/luci-static/resources/view/qnetd/status.js (LuCI view: status)",
        "install: would write /usr/share/luci/menu.d/luci-app-qnetd.json (LuCI menu",
        "install: would write /usr/share/rpcd/acl.d/luci-app-qnetd.json (rpcd ACL",
        "install: would remove LuCI's menu cache /tmp/luci-indexcache* and /tmp/luci-modulecache",
        "install: would run /etc/init.d/rpcd reload",
    ] {
        assert!(plan.contains(want), "missing {want:?} in:\n{plan}");
    }
    assert!(!r.exists(PLUGIN), "--dry-run wrote the plugin");
    assert!(r.exists("/tmp/luci-indexcache.0123abcd.json"));

    let out = r.ok(&["/tmp/qnetd", "install"]);
    assert!(!out.contains("FAILED"), "{out}");
    assert_eq!(
        fs::read(r.root.file(PLUGIN)).unwrap(),
        embedded("init.d/rpcd/qnetd").as_bytes()
    );
    assert_eq!(r.mode(PLUGIN), 0o755);
    for (path, file) in LUCI {
        assert_eq!(
            fs::read(r.root.file(path)).unwrap(),
            embedded(file).as_bytes(),
            "{path}"
        );
        assert_eq!(r.mode(path), 0o644, "{path}");
    }
    assert!(
        !r.exists("/tmp/luci-indexcache.0123abcd.json"),
        "index cache left"
    );
    assert!(!r.exists("/tmp/luci-modulecache"), "module cache left");
    assert!(r.read("/tmp/rc.log").contains("rpcd reload"));
    let keep = r.read("/lib/upgrade/keep.d/qnetd");
    for path in std::iter::once(PLUGIN).chain(LUCI.iter().map(|(p, _)| *p)) {
        assert!(
            keep.lines().any(|l| l == path),
            "{path} not in keep.d:\n{keep}"
        );
    }

    // The installed plugin, under the root's BusyBox, finds the daemon by the default paths.
    let list = Json::parse(r.ok(&[PLUGIN, "list"]).trim_end()).unwrap();
    assert_eq!(list.keys(), ["status", "certificates", "health", "revoke"]);
    let st = r.status_when_running();
    let pid: u32 = r
        .read("/var/run/procd-standin/qnetd.pid")
        .trim()
        .parse()
        .unwrap();
    assert_eq!(st.get("pid").num() as u32, pid);
    assert_eq!(st.get("port").num(), 5403.0);
    assert_eq!(st.get("tls").str(), "required");
    // Root makes the store in the background on a first start (the init script runs `qnetd cert
    // init`; the daemon waits for it): until it is complete the answer is an error.
    let deadline = Instant::now() + Duration::from_secs(60);
    let certs = loop {
        let doc = Json::parse(r.ok(&[PLUGIN, "call", "certificates"]).trim_end()).unwrap();
        match doc.opt("error") {
            None => break doc,
            Some(e) => assert!(!e.str().is_empty()),
        }
        assert!(Instant::now() < deadline, "{doc:?}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(certs.get("store").str(), "/etc/corosync/qnetd/nssdb");
    assert_eq!(certs.get("ca").get("name").str(), "QNet CA");

    // Again: nothing to do, rpcd left alone.
    let reloads = || r.read("/tmp/rc.log").matches("rpcd reload").count();
    assert_eq!(reloads(), 1);
    let again = r.ok(&["/usr/sbin/qnetd", "install"]);
    assert!(again.contains("install: nothing to do"), "{again}");
    assert_eq!(reloads(), 1);

    // An older copy of a view is updated.
    let status_js = LUCI[0].0;
    fs::write(r.root.file(status_js), "'use strict';\n// older\n").unwrap();
    let upd = r.ok(&["/usr/sbin/qnetd", "install"]);
    assert!(
        upd.contains(&format!(
            "write {status_js} (LuCI/rpcd file, updated): done"
        )),
        "{upd}"
    );
    assert!(upd.contains("run /etc/init.d/rpcd reload"), "{upd}");
    assert_eq!(
        fs::read(r.root.file(status_js)).unwrap(),
        embedded(LUCI[0].1).as_bytes()
    );

    let un = r.ok(&["/usr/sbin/qnetd", "uninstall"]);
    assert!(!un.contains("FAILED"), "{un}");
    assert!(!r.exists(PLUGIN), "{un}");
    for (path, _) in LUCI {
        assert!(!r.exists(path), "{path} left:\n{un}");
    }
    assert!(!r.exists("/www/luci-static/resources/view/qnetd"), "{un}");
    assert!(
        r.exists("/www/luci-static/resources/view"),
        "LuCI's own directory went"
    );
    assert!(un.contains("run /etc/init.d/rpcd reload"), "{un}");
}

#[test]
fn without_luci_only_what_the_router_can_use() {
    // rpcd without LuCI: the plugin only (`ubus call qnetd status` works without the page).
    let r = Router::new("rpcd", true, false);
    let out = r.ok(&["/tmp/qnetd", "install"]);
    assert!(
        out.contains("skipped the LuCI page: LuCI is not installed"),
        "{out}"
    );
    assert!(r.exists(PLUGIN));
    for (path, _) in LUCI {
        assert!(!r.exists(path), "{path} written without LuCI");
    }
    assert!(!r.read("/lib/upgrade/keep.d/qnetd").contains("luci"));
    assert!(r.read("/tmp/rc.log").contains("rpcd reload"));
    let un = r.ok(&["/usr/sbin/qnetd", "uninstall"]);
    assert!(!r.exists(PLUGIN), "{un}");
    drop(r);

    // Neither: nothing of either, and the install says why.
    let r = Router::new("none", false, false);
    let plan = r.ok(&["/tmp/qnetd", "install", "--dry-run"]);
    assert!(
        plan.contains("skipped the rpcd plugin and the LuCI page: no rpcd here"),
        "{plan}"
    );
    let out = r.ok(&["/tmp/qnetd", "install"]);
    assert!(!out.contains("FAILED"), "{out}");
    assert!(!r.exists(PLUGIN));
    assert!(!r.exists("/usr/share/rpcd"));
    assert!(!r.read("/tmp/rc.log").contains("rpcd"));
    let un = r.ok(&["/usr/sbin/qnetd", "uninstall"]);
    assert!(!un.contains("rpcd"), "{un}");
}
