//! A BusyBox-only OpenWrt root (tests/support/router) entered through namespaces of its own:
//! a network namespace with only loopback, so the daemon the init script starts listens on
//! 5403 there and nowhere else, and a mount namespace with the root's /proc and /dev (a
//! router has them; the rpcd plugin reads /proc). Used by the install tests, with and
//! without rpcd and LuCI. Dropping it kills every process still running in the root.

use crate::support::router::{static_binary, RouterRoot};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Stand-in for OpenWrt's /etc/init.d/rpcd: records the call, as the other stand-ins do.
const RPCD_STANDIN: &str = "#!/bin/sh\necho \"rpcd $*\" >>/tmp/rc.log\n";

pub struct Router {
    pub root: RouterRoot,
    /// Holds the namespaces (`sleep`); commands enter them through its pid.
    holder: Child,
}

impl Router {
    /// An OpenWrt root (procd, UCI and firewall stand-ins) when `openwrt`, else a plain
    /// BusyBox one; neither has rpcd.
    pub fn new(tag: &str, openwrt: bool) -> Router {
        let dir = std::env::temp_dir().join(format!("qnetd-router-{tag}-{}", std::process::id()));
        Router::enter(RouterRoot::build(&dir, &static_binary(), openwrt))
    }

    /// An OpenWrt root with rpcd (its binary and init script), and LuCI's view directory
    /// when `luci`.
    pub fn with_rpcd(tag: &str, luci: bool) -> Router {
        let dir = std::env::temp_dir().join(format!("qnetd-router-{tag}-{}", std::process::id()));
        let root = RouterRoot::build(&dir, &static_binary(), true);
        for (path, text) in [
            ("/sbin/rpcd", "#!/bin/sh\n"),
            ("/etc/init.d/rpcd", RPCD_STANDIN),
        ] {
            let p = root.file(path);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, text).unwrap();
            fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        }
        if luci {
            fs::create_dir_all(root.file("/www/luci-static/resources/view")).unwrap();
        }
        Router::enter(root)
    }

    fn enter(root: RouterRoot) -> Router {
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
        // The mount is in the namespace only: look through the holder's root.
        let through = format!(
            "/proc/{}/root{}/proc/self",
            holder.id(),
            root.path.display()
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while !Path::new(&through).exists() {
            assert!(
                Instant::now() < deadline,
                "the router's /proc was not mounted"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Router { root, holder }
    }

    /// Runs `args` in the root, in its namespaces, with the PATH of an OpenWrt shell.
    /// A program this test process just wrote (/tmp/qnetd) may still be open for writing in a
    /// child another test thread forked meanwhile: exec then fails with ETXTBSY until that
    /// child execs. That is the test harness, not the router: try again, briefly.
    pub fn sh(&self, args: &[&str]) -> (String, String, i32) {
        for _ in 0..50 {
            let (out, err, code) = self.sh_once(args);
            if !(code == 126 && err.contains("Text file busy")) {
                return (out, err, code);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.sh_once(args)
    }

    fn sh_once(&self, args: &[&str]) -> (String, String, i32) {
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

    /// `sh`, which must exit 0; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let (out, err, code) = self.sh(args);
        assert_eq!(code, 0, "{args:?} failed:\n{out}\n{err}");
        out
    }

    /// A file in the root, or "" if there is none.
    pub fn read(&self, inside: &str) -> String {
        fs::read_to_string(self.root.file(inside)).unwrap_or_default()
    }

    /// Whether anything (a dangling symlink too) is at `inside`.
    pub fn exists(&self, inside: &str) -> bool {
        fs::symlink_metadata(self.root.file(inside)).is_ok()
    }

    pub fn mode(&self, inside: &str) -> u32 {
        fs::metadata(self.root.file(inside))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    }

    pub fn owner(&self, inside: &str) -> (u32, u32) {
        use std::os::unix::fs::MetadataExt;
        let m = fs::metadata(self.root.file(inside)).unwrap();
        (m.uid(), m.gid())
    }

    /// What install may change, ignoring the stand-ins' own call logs and pid files.
    pub fn state(&self) -> Vec<String> {
        let mut l = self.root.listing();
        l.retain(|e| {
            !(e.starts_with("tmp/rc.log")
                || e.starts_with("tmp/uci.log")
                || e.starts_with("tmp/qnetd.log")
                || e.starts_with("var/run/")
                || e.starts_with("etc/corosync/qnetd/nssdb"))
        });
        l
    }

    /// Waits (bounded) until the daemon the init script started answers its status socket.
    pub fn wait_daemon(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (out, err, code) = self.sh(&["corosync-qnetd-tool", "-s"]);
            if code == 0 && out.contains("QNetd address") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "daemon not answering: {out}{err}\nlog:\n{}",
                self.read("/tmp/qnetd.log")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The pid the stand-in procd recorded for the daemon it started.
    pub fn daemon_pid(&self) -> Option<u32> {
        self.read("/var/run/procd-standin/qnetd.pid")
            .trim()
            .parse()
            .ok()
    }

    /// `Uid:`, `Gid:` and `NoNewPrivs:` of the daemon, from its /proc status (one pid
    /// namespace: the host sees it).
    pub fn daemon_credentials(&self) -> (String, String, String) {
        let f = self.daemon_status_fields(&["Uid:", "Gid:", "NoNewPrivs:"]);
        (f[0].clone(), f[1].clone(), f[2].clone())
    }

    /// Fields of the daemon's /proc status, whitespace-normalised, in the order asked.
    pub fn daemon_status_fields(&self, names: &[&str]) -> Vec<String> {
        let pid = self.daemon_pid().expect("daemon pid");
        let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
                .unwrap_or_default()
        };
        names.iter().map(|n| field(n)).collect()
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
